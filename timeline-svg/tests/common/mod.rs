//! Helpers shared by the tests: a tiny reader of the `<rect>` elements of an SVG and a well-formedness
//! check (no XML crate: the workspace takes no new dependency for tests).
#![allow(dead_code)]

use std::collections::BTreeMap;

/// One `<rect …>` with its attributes (values as written, still escaped) and its `<title>` text.
#[derive(Debug, Clone)]
pub struct Rect {
    pub attrs: BTreeMap<String, String>,
    pub title: Option<String>,
}

impl Rect {
    pub fn get(&self, k: &str) -> &str {
        self.attrs.get(k).map(String::as_str).unwrap_or("")
    }
    pub fn f(&self, k: &str) -> f64 {
        self.get(k).parse().unwrap_or(f64::NAN)
    }
    pub fn i(&self, k: &str) -> i64 {
        self.get(k).parse().unwrap()
    }
}

/// Parses `k="v"` pairs of a start tag's inside.
fn attrs(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].rsplit(' ').next().unwrap().trim().to_string();
        let after = &rest[eq + 2..];
        let end = after.find('"').unwrap();
        out.insert(key, after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

/// All `<rect>` elements of the given class, in document order.
pub fn rects(svg: &str, class: &str) -> Vec<Rect> {
    let needle = format!("<rect class=\"{class}\"");
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find(&needle) {
        let tail = &rest[i..];
        let end = tail.find('>').unwrap();
        let tag = &tail[..end];
        let title = if tag.ends_with('/') {
            None
        } else {
            let t = &tail[end + 1..];
            t.strip_prefix("<title>")
                .and_then(|t| t.find("</title>").map(|e| t[..e].to_string()))
        };
        out.push(Rect {
            attrs: attrs(tag),
            title,
        });
        rest = &tail[end..];
    }
    out
}

/// A small XML well-formedness check of what this crate writes: tags balance, every `&` starts one of the
/// five predefined entities, no `<` or `>` inside attribute values or text, one root `<svg>`.
pub fn check_well_formed(svg: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    let mut roots = 0;
    let check_text = |t: &str| -> Result<(), String> {
        if t.contains('>') {
            return Err(format!("raw '>' in text {t:?}"));
        }
        let mut r = t;
        while let Some(i) = r.find('&') {
            let after = &r[i..];
            if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| after.starts_with(e))
            {
                return Err(format!("bare '&' in {t:?}"));
            }
            r = &after[1..];
        }
        if t.chars()
            .any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
        {
            return Err(format!("control character in {t:?}"));
        }
        Ok(())
    };
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        check_text(text)?;
        let tail = &rest[lt + 1..];
        // A tag ends at the first '>' outside quotes.
        let mut in_quote = false;
        let mut end = None;
        for (k, c) in tail.char_indices() {
            match c {
                '"' => in_quote = !in_quote,
                '<' if in_quote => return Err("'<' in an attribute value".into()),
                '>' if !in_quote => {
                    end = Some(k);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or("unterminated tag")?;
        let tag = &tail[..end];
        for (k, part) in tag.split('"').enumerate() {
            if k % 2 == 1 {
                check_text(part)?;
            }
        }
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else {
            let name: String = tag
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            if stack.is_empty() {
                roots += 1;
                if name != "svg" {
                    return Err(format!("root is <{name}>"));
                }
            }
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &tail[end + 1..];
    }
    if !rest.trim().is_empty() {
        return Err(format!("text after the root: {rest:?}"));
    }
    match (stack.is_empty(), roots) {
        (true, 1) => Ok(()),
        _ => Err(format!("unclosed {stack:?}, {roots} roots")),
    }
}

//! The console's HTML: server-rendered pages, one small stylesheet, a few lines of script on the review page
//! (timeline clicks seek the player; waveforms drawn from peaks). Every outside text is escaped ([`esc`]).

use catalog::{Page, RecordingEntry};

use super::{esc, url_enc, Caller};
use crate::{AuditEntry, ConsoleError, Role, Verdict};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}\
header{background:#1f2a44;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}\
header a{color:#fff}header form{margin-left:auto}main{padding:16px;max-width:1100px}\
table{border-collapse:collapse;width:100%;background:#fff}td,th{border-bottom:1px solid #e3e6ea;padding:4px 8px;text-align:left}\
.ok{background:#e6f4ea;border:1px solid #34a853;padding:8px}.bad{background:#fdecea;border:1px solid #d93025;padding:8px}\
.warn{background:#fff8e1;border:1px solid #f9a825;padding:8px}form.search{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:12px}\
label{display:flex;flex-direction:column;font-size:12px}.err{color:#d93025}video{width:100%;max-height:480px;background:#000}\
#timeline svg{width:100%;height:auto;cursor:pointer}.wave svg{width:100%;height:auto;display:block;background:#fff}.wave span{position:absolute;padding:2px 6px;font-size:12px}";

/// A page for a signed-in user outside the session's forms (the live page).
pub(crate) fn framed(title: &str, user: &crate::User, body: &str) -> String {
    let c = Caller {
        user: user.clone(),
        session: None,
    };
    frame(title, Some(&c), body)
}

fn frame(title: &str, c: Option<&Caller>, body: &str) -> String {
    let nav = match c {
        Some(c) => {
            let csrf = c.session.as_ref().map_or("", |(_, t)| t.as_str());
            let audit = if c.user.role >= Role::Admin {
                r#"<a href="/audit">Audit log</a>"#
            } else {
                ""
            };
            format!(
                r#"<a href="/">Search</a>{audit}<form method="post" action="/logout"><input type="hidden" name="csrf" value="{}"><span>{} ({})</span> <button>Sign out</button></form>"#,
                esc(csrf),
                esc(&c.user.name),
                c.user.role.name()
            )
        }
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · Verbatim</title><style>{STYLE}</style></head>\
         <body><header><strong>Verbatim console</strong>{nav}</header><main>{body}</main></body></html>",
        esc(title)
    )
}

/// The login form (`token`: the login CSRF token, also in the `vb_login` cookie).
pub(crate) fn login(token: &str, message: &str) -> String {
    let msg = if message.is_empty() {
        String::new()
    } else {
        format!("<p class=\"err\" id=\"login-error\">{}</p>", esc(message))
    };
    frame(
        "Sign in",
        None,
        &format!(
            r#"<h1>Sign in</h1>{msg}<form method="post" action="/login" id="login">
<input type="hidden" name="csrf" value="{}">
<label>User <input name="user" id="user" autocomplete="username" required></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
<p><button id="signin">Sign in</button></p></form>"#,
            esc(token)
        ),
    )
}

fn seconds(us: i64) -> String {
    let s = us / 1_000_000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn names(e: &RecordingEntry) -> String {
    e.participants
        .iter()
        .map(|p| {
            if p.display_name.is_empty() {
                p.name.clone()
            } else {
                p.display_name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The search page.
pub(crate) fn search(
    c: &Caller,
    pairs: &[(String, String)],
    page: Option<&Page>,
    error: Option<&str>,
) -> String {
    let v = |k: &str| {
        esc(pairs
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str()))
    };
    let sel = |k: &str, opts: &[(&str, &str)]| {
        let cur = pairs
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str());
        opts.iter()
            .map(|(val, label)| {
                format!(
                    "<option value=\"{val}\"{}>{label}</option>",
                    if cur == *val { " selected" } else { "" }
                )
            })
            .collect::<String>()
    };
    let mut body = format!(
        r#"<h1>Recordings</h1><form class="search" method="get" action="/" id="search">
<label>Participant (name or id)<input name="participant" id="q-participant" value="{}"></label>
<label>From<input name="from" type="date" value="{}"></label><label>To<input name="to" type="date" value="{}"></label>
<label>Direction<select name="direction">{}</select></label>
<label>Number<input name="number" value="{}"></label><label>Custom data (key=value)<input name="custom" value="{}"></label>
<label>Status<select name="status">{}</select></label><label>Missing audio<select name="has_gaps">{}</select></label>
<label>&nbsp;<button id="q-go">Search</button></label></form>"#,
        v("participant"),
        v("from"),
        v("to"),
        sel(
            "direction",
            &[
                ("", "any"),
                ("incoming", "incoming"),
                ("outgoing", "outgoing")
            ]
        ),
        v("number"),
        v("custom"),
        sel(
            "status",
            &[
                ("", "any"),
                ("completed", "completed"),
                ("failed", "failed"),
                ("interrupted", "interrupted")
            ]
        ),
        sel("has_gaps", &[("", "any"), ("true", "yes"), ("false", "no")]),
    );
    if let Some(e) = error {
        body.push_str(&format!("<p class=\"err\">{}</p>", esc(e)));
    }
    if let Some(p) = page {
        body.push_str("<table id=\"results\"><tr><th>Started (UTC)</th><th>Length</th><th>Participants</th><th>Direction</th><th>Status</th><th>Missing audio</th></tr>");
        for e in &p.recordings {
            body.push_str(&format!(
                "<tr class=\"result\"><td><a href=\"/recording?id={}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url_enc(&e.id),
                esc(&e.started_utc),
                seconds(e.duration_us),
                esc(&names(e)),
                esc(&e.direction),
                esc(&e.status),
                if e.has_gaps() { format!("{:.1} s", e.missing_us as f64 / 1e6) } else { "none".into() }
            ));
        }
        body.push_str("</table>");
        if p.recordings.is_empty() {
            body.push_str("<p id=\"no-results\">No recording matches.</p>");
        }
        if let Some(n) = p.next {
            let mut q: Vec<String> = pairs
                .iter()
                .filter(|(k, _)| k != "after")
                .map(|(k, v)| format!("{}={}", url_enc(k), url_enc(v)))
                .collect();
            q.push(format!("after={n}"));
            body.push_str(&format!(
                "<p><a href=\"/?{}\">Next page</a></p>",
                q.join("&")
            ));
        }
    }
    let _ = c;
    frame("Search", Some(c), &body)
}

/// The review page.
/// What the recording page says about integrity: the verdict, and where a copy can be verified when this
/// host could not (the WORM bucket's copy of the same call).
pub(crate) struct Integrity<'a> {
    pub verdict: &'a Verdict,
    pub copy_in_bucket: Option<&'a str>,
}

pub(crate) fn recording(
    c: &Caller,
    e: &RecordingEntry,
    integrity: Integrity<'_>,
    may_play: bool,
    readable: bool,
    timeline: Option<&str>,
    waves: &[(String, String)], // (stem, waveform SVG)
) -> String {
    let Integrity {
        verdict: v,
        copy_in_bucket,
    } = integrity;
    let csrf = c.session.as_ref().map_or("", |(_, t)| t.as_str());
    let id = esc(&e.id);
    let mut rows = vec![
        ("Call id", e.call_id.clone()),
        ("Leg", e.leg.clone()),
        ("Started (UTC)", e.started_utc.clone()),
        ("Length", seconds(e.duration_us)),
        ("Status", e.status.clone()),
        ("Participants", names(e)),
        ("Direction", e.direction.clone()),
        (
            "Dialed / caller number",
            format!("{} / {}", e.dialed_number, e.origin_number),
        ),
        (
            "Missing audio",
            if e.has_gaps() {
                format!(
                    "{:.2} s (lost on the way or dropped)",
                    e.missing_us as f64 / 1e6
                )
            } else {
                "none".into()
            },
        ),
        ("Groups", e.groups.join(", ")),
    ];
    for (k, val) in &e.custom_data {
        rows.push(("Custom data", format!("{k} = {val}")));
    }
    let meta: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v)))
        .collect();
    let (class, headline) = if v.intact && v.signer_trusted {
        ("ok", "Intact: every byte is as signed")
    } else if v.intact {
        ("warn", "Intact: every byte is as signed")
    } else if !v.checked {
        ("warn", "NOT VERIFIED on this host")
    } else {
        ("bad", "NOT INTACT")
    };
    let copy = match copy_in_bucket {
        Some(other) => format!(
            "<p id=\"bucket-copy\">The WORM bucket holds this call: <a href=\"/recording?id={}\">open its copy              ({})</a>.</p>",
            url_enc(other),
            esc(other)
        ),
        None => String::new(),
    };
    let verdict = format!(
        "<div class=\"{class}\" id=\"verdict\"><strong>{headline}</strong><br>{}<br>{}</div>{copy}",
        esc(&v.summary),
        esc(&v.signing)
    );
    let player = if !readable {
        "<p class=\"warn\">This recording is encrypted and the console holds no identity for it (serve \
         --identity FILE), or it could not be decrypted: `verbatim decrypt` makes a plaintext copy.</p>"
            .to_string()
    } else if may_play {
        format!(
            "<video id=\"player\" controls preload=\"metadata\" src=\"/media?id={}&amp;file=recording.mp4\"></video>",
            url_enc(&e.id)
        )
    } else {
        format!(
            r#"<form method="post" action="/play" id="reason-form"><input type="hidden" name="csrf" value="{}">
<input type="hidden" name="id" value="{id}"><label>Reason for playing this recording (kept in the audit log)
<input name="reason" id="reason" required minlength="4" size="60"></label> <button id="play">Play</button></form>"#,
            esc(csrf)
        )
    };
    let timeline = timeline.map_or_else(
        || "<p>No speaker timeline (metadata.json is missing or unreadable).</p>".to_string(),
        |svg| format!("<div id=\"timeline\">{svg}</div>"),
    );
    let waves: String = waves
        .iter()
        .map(|(name, svg)| format!("<div class=\"wave\"><span>{}</span>{svg}</div>", esc(name)))
        .collect();
    let body = format!(
        r#"<h1>{}</h1>{verdict}<h2>Player</h2><div id="player-box">{player}</div>
<h2>Who spoke when</h2>{timeline}<h2>Waveforms</h2>{waves}
<h2>Details</h2><table id="meta">{meta}</table>
<h2>Evidence</h2><form method="post" action="/export" id="export-form"><input type="hidden" name="csrf" value="{}">
<input type="hidden" name="id" value="{id}"><button id="export">Download the evidence bundle (zip)</button></form>
<script>
const player = document.getElementById('player');
document.querySelectorAll('#timeline [data-start-us]').forEach(el => el.addEventListener('click', () => {{
  if (player) {{ player.currentTime = Number(el.dataset.startUs) / 1e6; player.play(); }}
}}));
</script>"#,
        esc(&e.call_id),
        esc(csrf)
    );
    frame(&e.call_id, Some(c), &body)
}

/// The audit log page.
pub(crate) fn audit(
    c: &Caller,
    recent: &[AuditEntry],
    chain: &Result<u64, ConsoleError>,
) -> String {
    let status = match chain {
        Ok(n) => format!("<p class=\"ok\" id=\"chain\">The chain holds: {n} entries, each hashing the one before.</p>"),
        Err(e) => format!("<p class=\"bad\" id=\"chain\">{}</p>", esc(&e.to_string())),
    };
    let rows: String = recent
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                a.seq,
                esc(&a.at_utc),
                esc(&a.user),
                esc(&a.action),
                esc(&a.target),
                esc(&a.detail),
                esc(a.hash.get(..16).unwrap_or(""))
            )
        })
        .collect();
    frame(
        "Audit log",
        Some(c),
        &format!(
            "<h1>Audit log</h1>{status}<table><tr><th>#</th><th>UTC</th><th>User</th><th>Action</th><th>On</th><th>Detail</th><th>Hash</th></tr>{rows}</table>"
        ),
    )
}

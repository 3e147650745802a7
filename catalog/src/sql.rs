//! What the SQL back-ends share: the search query builder, the keys a recording is indexed under and how a
//! page is made from result rows. Both [`crate::SqliteCatalog`] and [`crate::PostgresCatalog`] use these, so a
//! search answers alike on both; only the placeholders differ (`?` for SQLite, `$1, $2…` for PostgreSQL).

use crate::{CatalogError, Cursor, Page, Query, RecordingEntry};

/// Which SQL the builder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `?` placeholders.
    Sqlite,
    /// `$1, $2…` placeholders.
    Postgres,
}

/// A value bound into the search's SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// An integer (µs, a row, a limit).
    I(i64),
    /// A text.
    T(String),
}

/// Collects arguments and writes the placeholder of each in the dialect.
struct Binder {
    dialect: Dialect,
    args: Vec<Arg>,
}

impl Binder {
    fn bind(&mut self, a: Arg) -> String {
        self.args.push(a);
        match self.dialect {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${}", self.args.len()),
        }
    }
}

/// The search's SQL and its arguments. The statement selects `row, started_us, entry`, newest first, one
/// more than the page size (to know whether there is a next page).
///
/// With a participant the search walks `participant_keys (key, started_us, row)` backwards from the end of the
/// time range and stops after the page: its cost does not grow with the catalogue. Without one it walks
/// `recordings (started_us, row)`.
pub(crate) fn search_sql(q: &Query, dialect: Dialect) -> (String, Vec<Arg>) {
    let mut b = Binder {
        dialect,
        args: Vec::new(),
    };
    let mut conds: Vec<String> = Vec::new();
    let (from, t) = match &q.participant {
        Some(p) => {
            conds.push(format!(
                "k.key = {}",
                b.bind(Arg::T(p.trim().to_lowercase()))
            ));
            ("participant_keys k JOIN recordings r ON r.row = k.row", "k")
        }
        None => ("recordings r", "r"),
    };
    if let Some(f) = q.from_us {
        conds.push(format!("{t}.started_us >= {}", b.bind(Arg::I(f))));
    }
    if let Some(to) = q.to_us {
        conds.push(format!("{t}.started_us < {}", b.bind(Arg::I(to))));
    }
    if let Some(c) = q.after {
        let (s1, s2, r) = (
            b.bind(Arg::I(c.started_us)),
            b.bind(Arg::I(c.started_us)),
            b.bind(Arg::I(c.row)),
        );
        conds.push(format!(
            "({t}.started_us < {s1} OR ({t}.started_us = {s2} AND {t}.row < {r}))"
        ));
    }
    if let Some(d) = &q.direction {
        conds.push(format!("r.direction = {}", b.bind(Arg::T(d.clone()))));
    }
    if let Some(n) = &q.number {
        let (a, o) = (b.bind(Arg::T(n.clone())), b.bind(Arg::T(n.clone())));
        conds.push(format!("(r.dialed = {a} OR r.origin = {o})"));
    }
    for (k, v) in &q.custom {
        let (k, v) = (b.bind(Arg::T(k.clone())), b.bind(Arg::T(v.clone())));
        conds.push(format!(
            "EXISTS (SELECT 1 FROM custom c WHERE c.row = r.row AND c.key = {k} AND c.value = {v})"
        ));
    }
    if let Some(s) = &q.status {
        conds.push(format!("r.status = {}", b.bind(Arg::T(s.clone()))));
    }
    match q.has_gaps {
        Some(true) => conds.push("r.missing_us > 0".into()),
        Some(false) => conds.push("r.missing_us = 0".into()),
        None => {}
    }
    if let Some(m) = q.min_duration_us {
        conds.push(format!("r.duration_us >= {}", b.bind(Arg::I(m))));
    }
    if let Some(m) = q.max_duration_us {
        conds.push(format!("r.duration_us <= {}", b.bind(Arg::I(m))));
    }
    if let Some(c) = &q.call_id {
        conds.push(format!("r.call_id = {}", b.bind(Arg::T(c.clone()))));
    }
    if let Some(groups) = &q.groups {
        if groups.is_empty() {
            conds.push("1 = 0".into());
        } else {
            let marks: Vec<String> = groups.iter().map(|g| b.bind(Arg::T(g.clone()))).collect();
            conds.push(format!(
                "EXISTS (SELECT 1 FROM recording_groups g WHERE g.row = r.row AND g.grp IN ({}))",
                marks.join(", ")
            ));
        }
    }
    let cond = if conds.is_empty() {
        "1 = 1".to_string()
    } else {
        conds.join(" AND ")
    };
    let limit = b.bind(Arg::I(i64::from(page_size(q)) + 1));
    let sql = format!(
        "SELECT r.row, r.started_us, r.entry FROM {from} WHERE {cond} \
         ORDER BY {t}.started_us DESC, {t}.row DESC LIMIT {limit}"
    );
    (sql, b.args)
}

/// The page size asked, within 1..=[`crate::MAX_PAGE`].
pub(crate) fn page_size(q: &Query) -> u32 {
    q.limit.clamp(1, crate::MAX_PAGE)
}

/// The keys a recording is found by in `participant_keys`: every participant's [search
/// keys](crate::ParticipantEntry::search_keys) and the recorded user's id, sorted, without repeats.
pub(crate) fn participant_keys(e: &RecordingEntry) -> Vec<String> {
    let mut keys: Vec<String> = e
        .participants
        .iter()
        .flat_map(|p| p.search_keys())
        .collect();
    let observed = e.observed_participant_id.trim().to_lowercase();
    if !observed.is_empty() {
        keys.push(observed);
    }
    keys.sort();
    keys.dedup();
    keys
}

/// A page from the rows a [`search_sql`] statement returned (`row, started_us, entry`).
pub(crate) fn page_of(rows: Vec<(i64, i64, String)>, q: &Query) -> Result<Page, CatalogError> {
    let limit = page_size(q) as usize;
    let next = if rows.len() > limit {
        rows.get(limit - 1).map(|(row, started_us, _)| Cursor {
            started_us: *started_us,
            row: *row,
        })
    } else {
        None
    };
    let recordings = rows
        .iter()
        .take(limit)
        .map(|(_, _, j)| crate::entry_from_json(j))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { recordings, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_written_per_dialect_and_bound_in_order() {
        let q = Query::from_pairs([
            ("participant", "Alice"),
            ("from", "2026-03-01"),
            ("custom", "desk=rates"),
            ("limit", "10"),
        ])
        .unwrap();
        let (lite, a1) = search_sql(&q, Dialect::Sqlite);
        let (pg, a2) = search_sql(&q, Dialect::Postgres);
        assert_eq!(a1, a2);
        assert_eq!(
            a1,
            vec![
                Arg::T("alice".into()),
                Arg::I(1_772_323_200_000_000),
                Arg::T("desk".into()),
                Arg::T("rates".into()),
                Arg::I(11)
            ]
        );
        assert_eq!(lite.matches('?').count(), 5);
        assert!(
            pg.contains("k.key = $1") && pg.contains("c.value = $4") && pg.ends_with("LIMIT $5")
        );
        // Apart from the placeholders, the two statements are the same.
        let mut unnumbered = String::new();
        let mut it = pg.chars().peekable();
        while let Some(c) = it.next() {
            if c == '$' {
                while it.next_if(char::is_ascii_digit).is_some() {}
                unnumbered.push('?');
            } else {
                unnumbered.push(c);
            }
        }
        assert_eq!(unnumbered, lite);
    }
}

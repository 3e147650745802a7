//! The shared back-end: a PostgreSQL database (`--catalog postgres://…`), for several nodes that index their
//! recordings into one catalogue and answer the same searches.
//!
//! The layout is the SQLite one (`recordings`, `participant_keys`, `recording_groups`, `custom`, same keys
//! and indexes) and the search is the same SQL, built by the shared builder, so both back-ends give the same
//! results in the same order. Every node may call [`PostgresCatalog::connect`] at once: the schema is created
//! under an advisory lock. Two nodes may index the same folder at once: an upsert that loses the race to
//! insert the id retries, so one row remains.
//!
//! **Not done yet:** TLS to the database. The connection is plain TCP (or a Unix socket); keep the database on
//! a trusted network or loopback. A URL asking for TLS (`sslmode=require`) is refused rather than downgraded.

use std::collections::HashMap;
use std::io::Write;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Statement, Transaction};

use crate::sql::{page_of, participant_keys, search_sql, Arg, Dialect};
use crate::{normalize_number, CatalogError, CatalogStore, Page, Query, RecordingEntry};

/// Serialises schema creation between nodes (`pg_advisory_xact_lock`): "verbatim" in ASCII.
const SCHEMA_LOCK: i64 = 0x7665_7262_6174_696d;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS recordings (
    row BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    stamp TEXT NOT NULL,
    call_id TEXT NOT NULL,
    started_us BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    status TEXT NOT NULL,
    direction TEXT NOT NULL,
    dialed TEXT NOT NULL,
    origin TEXT NOT NULL,
    missing_us BIGINT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recordings_started ON recordings (started_us, row);
CREATE INDEX IF NOT EXISTS recordings_call ON recordings (call_id);
CREATE TABLE IF NOT EXISTS participant_keys (
    key TEXT NOT NULL, started_us BIGINT NOT NULL, row BIGINT NOT NULL,
    PRIMARY KEY (key, started_us, row));
CREATE INDEX IF NOT EXISTS participant_keys_row ON participant_keys (row);
CREATE TABLE IF NOT EXISTS recording_groups (
    row BIGINT NOT NULL, grp TEXT NOT NULL, PRIMARY KEY (row, grp));
CREATE TABLE IF NOT EXISTS custom (
    row BIGINT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (row, key, value));
";

/// Entries written per round of `COPY` in [`PostgresCatalog::upsert_many`].
const CHUNK: usize = 5_000;
/// Times an upsert is tried when another node inserted the same id meanwhile.
const TRIES: usize = 5;
/// Search statements kept prepared per connection (the shapes a console asks are few).
const PREPARED: usize = 256;

/// The PostgreSQL catalogue: one connection (a node holds one per catalogue user, as with SQLite).
///
/// ```no_run
/// use catalog::{CatalogStore, PostgresCatalog, Query, RecordingEntry};
/// let mut c = PostgresCatalog::connect("postgres://verbatim@db.internal:5432/verbatim").unwrap();
/// let meta = br#"{"call":{"id":"c1"},"recording":{"started_utc":"2026-03-02T09:30:00Z","duration_us":1000000},
///                 "participants":[{"name":"alice","display_name":"Alice"}]}"#;
/// c.upsert(&RecordingEntry::from_files("c1", Some(meta), None, &[]).unwrap(), "s1").unwrap();
/// let page = c.search(&Query::from_pairs([("participant", "ALICE")]).unwrap()).unwrap();
/// assert_eq!(page.recordings[0].call_id, "c1");
/// ```
pub struct PostgresCatalog {
    client: Client,
    prepared: HashMap<String, Statement>,
}

fn db(e: postgres::Error) -> CatalogError {
    CatalogError::Database(describe(&e))
}

/// The server's message (the client's own `Display` says only "db error"), or the cause of an I/O failure;
/// never the connection URL. Also what the console reports of its own PostgreSQL errors.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(d) = e.as_db_error() {
        let mut s = format!("{} ({}): {}", d.severity(), d.code().code(), d.message());
        if let Some(detail) = d.detail() {
            s.push_str(&format!(" ({detail})"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !s.contains(&c_text) {
            s.push_str(&format!(": {c_text}"));
        }
        cause = c.source();
    }
    s
}

/// Why a write failed: losing the race to insert an id (worth another try) or anything else.
enum WriteError {
    Raced(postgres::Error),
    Failed(CatalogError),
}

impl From<postgres::Error> for WriteError {
    fn from(e: postgres::Error) -> WriteError {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            WriteError::Raced(e)
        } else {
            WriteError::Failed(db(e))
        }
    }
}

impl PostgresCatalog {
    /// Connects (`postgres://user[:password]@host[:port]/database[?sslmode=verify-full&sslrootcert=ca.pem]`,
    /// TLS as [`crate::connect_postgres`]; or the key=value form) and creates the tables when they are not
    /// there.
    ///
    /// # Errors
    /// [`CatalogError::Database`] when the server cannot be reached, refuses the user, or the schema cannot be
    /// created. The message never repeats the URL (it may hold a password).
    pub fn connect(url: &str) -> Result<PostgresCatalog, CatalogError> {
        let mut client = crate::connect_postgres(url)?;
        let mut tx = client.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map_err(db)?;
        tx.batch_execute(SCHEMA).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(PostgresCatalog {
            client,
            prepared: HashMap::new(),
        })
    }

    /// Adds or replaces many entries in one transaction (bulk loads: benchmarks, a first scan of a large
    /// root). Rows are written with `COPY`, a few thousand at a time; when an id comes twice the last entry
    /// wins, as if upserted one by one.
    ///
    /// # Errors
    /// [`CatalogError::Database`]; nothing is written then.
    pub fn upsert_many<'a, I>(&mut self, entries: I) -> Result<(), CatalogError>
    where
        I: IntoIterator<Item = (&'a RecordingEntry, &'a str)>,
    {
        let all: Vec<(&RecordingEntry, &str)> = entries.into_iter().collect();
        // The last entry of each id, in the order they came.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, (e, _)) in all.iter().enumerate() {
            last.insert(e.id.as_str(), i);
        }
        let kept: Vec<(&RecordingEntry, &str)> = all
            .iter()
            .enumerate()
            .filter(|(i, (e, _))| last.get(e.id.as_str()) == Some(i))
            .map(|(_, x)| *x)
            .collect();
        let mut tries = 0;
        loop {
            tries += 1;
            let mut tx = self.client.transaction().map_err(db)?;
            let written = kept
                .chunks(CHUNK)
                .try_for_each(|chunk| write_chunk(&mut tx, chunk));
            match written.and_then(|()| tx.commit().map_err(WriteError::from)) {
                Ok(()) => return Ok(()),
                // Another node inserted one of these ids after we deleted it: again, now that it is visible.
                Err(WriteError::Raced(_)) if tries < TRIES => continue,
                Err(WriteError::Raced(e)) => return Err(db(e)),
                Err(WriteError::Failed(e)) => return Err(e),
            }
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, CatalogError> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        if self.prepared.len() >= PREPARED {
            self.prepared.clear();
        }
        let s = self.client.prepare(sql).map_err(db)?;
        self.prepared.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// Replaces one chunk's entries: deletes the old rows of these ids and their index rows, takes new rows from
/// the sequence (so a replaced recording sorts as the newest insert, as in SQLite) and copies the rows in.
fn write_chunk(
    tx: &mut Transaction<'_>,
    chunk: &[(&RecordingEntry, &str)],
) -> Result<(), WriteError> {
    let ids: Vec<&str> = chunk.iter().map(|(e, _)| e.id.as_str()).collect();
    let old: Vec<i64> = tx
        .query(
            "DELETE FROM recordings WHERE id = ANY($1) RETURNING row",
            &[&ids],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !old.is_empty() {
        for sql in [
            "DELETE FROM participant_keys WHERE row = ANY($1)",
            "DELETE FROM recording_groups WHERE row = ANY($1)",
            "DELETE FROM custom WHERE row = ANY($1)",
        ] {
            tx.execute(sql, &[&old])?;
        }
    }
    let n = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
    let mut rows: Vec<i64> = tx
        .query(
            "SELECT nextval(pg_get_serial_sequence('recordings', 'row')) FROM generate_series(1, $1::bigint)",
            &[&n],
        )
        ?
        .iter()
        .map(|r| r.get(0))
        .collect();
    rows.sort_unstable();
    if rows.len() != chunk.len() {
        return Err(WriteError::Failed(CatalogError::Database(
            "the row sequence gave too few values".into(),
        )));
    }
    let (mut recs, mut keys, mut groups, mut custom) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((e, stamp), row) in chunk.iter().zip(&rows) {
        let json = serde_json::to_string(e)
            .map_err(|x| WriteError::Failed(CatalogError::Database(x.to_string())))?;
        copy_line(
            &mut recs,
            &[
                &row.to_string(),
                &e.id,
                stamp,
                &e.call_id,
                &e.started_us.to_string(),
                &e.duration_us.to_string(),
                &e.status,
                &e.direction,
                &normalize_number(&e.dialed_number),
                &normalize_number(&e.origin_number),
                &e.missing_us.to_string(),
                &json,
            ],
        );
        for k in participant_keys(e) {
            copy_line(
                &mut keys,
                &[&k, &e.started_us.to_string(), &row.to_string()],
            );
        }
        let mut gs: Vec<&String> = e.groups.iter().collect();
        gs.sort();
        gs.dedup();
        for g in gs {
            copy_line(&mut groups, &[&row.to_string(), g]);
        }
        for (k, v) in &e.custom_data {
            copy_line(&mut custom, &[&row.to_string(), k, v]);
        }
    }
    for (sql, data) in [
        ("COPY recordings (row, id, stamp, call_id, started_us, duration_us, status, direction, dialed, origin, \
          missing_us, entry) FROM STDIN", &recs),
        ("COPY participant_keys (key, started_us, row) FROM STDIN", &keys),
        ("COPY recording_groups (row, grp) FROM STDIN", &groups),
        ("COPY custom (row, key, value) FROM STDIN", &custom),
    ] {
        if data.is_empty() {
            continue;
        }
        let mut w = tx.copy_in(sql)?;
        w.write_all(data)
            .map_err(|e| WriteError::Failed(CatalogError::Database(format!("COPY: {e}"))))?;
        w.finish()?;
    }
    Ok(())
}

/// One line of `COPY … FROM STDIN` text format: tab-separated, backslash escapes.
fn copy_line(out: &mut Vec<u8>, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        for b in f.bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(b),
            }
        }
    }
    out.push(b'\n');
}

impl CatalogStore for PostgresCatalog {
    fn upsert(&mut self, e: &RecordingEntry, stamp: &str) -> Result<(), CatalogError> {
        self.upsert_many([(e, stamp)])
    }

    fn stamp(&mut self, id: &str) -> Result<Option<String>, CatalogError> {
        let st = self.statement("SELECT stamp FROM recordings WHERE id = $1")?;
        let row = self.client.query_opt(&st, &[&id]).map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn remove(&mut self, id: &str) -> Result<bool, CatalogError> {
        let mut tx = self.client.transaction().map_err(db)?;
        let old: Vec<i64> = tx
            .query("DELETE FROM recordings WHERE id = $1 RETURNING row", &[&id])
            .map_err(db)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for sql in [
            "DELETE FROM participant_keys WHERE row = ANY($1)",
            "DELETE FROM recording_groups WHERE row = ANY($1)",
            "DELETE FROM custom WHERE row = ANY($1)",
        ] {
            tx.execute(sql, &[&old]).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(!old.is_empty())
    }

    fn ids(&mut self) -> Result<Vec<String>, CatalogError> {
        // Byte order, as SQLite's: not the database's collation.
        let rows = self
            .client
            .query("SELECT id FROM recordings ORDER BY id COLLATE \"C\"", &[])
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn get(&mut self, id: &str) -> Result<Option<RecordingEntry>, CatalogError> {
        let st = self.statement("SELECT entry FROM recordings WHERE id = $1")?;
        let row = self.client.query_opt(&st, &[&id]).map_err(db)?;
        row.map(|r| crate::entry_from_json(r.get(0))).transpose()
    }

    fn count(&mut self) -> Result<u64, CatalogError> {
        let row = self
            .client
            .query_one("SELECT count(*) FROM recordings", &[])
            .map_err(db)?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    fn search(&mut self, q: &Query) -> Result<Page, CatalogError> {
        let (sql, args) = search_sql(q, Dialect::Postgres);
        let st = self.statement(&sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| match a {
                Arg::I(i) => i as &(dyn ToSql + Sync),
                Arg::T(t) => t as &(dyn ToSql + Sync),
            })
            .collect();
        let rows = self
            .client
            .query(&st, &params)
            .map_err(db)?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, i64>(0)?,
                    r.try_get::<_, i64>(1)?,
                    r.try_get::<_, String>(2)?,
                ))
            })
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(db)?;
        page_of(rows, q)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_lines_escape_what_the_text_format_gives_meaning_to() {
        let mut out = Vec::new();
        super::copy_line(&mut out, &["a\tb", "c\\d\ne\r", ""]);
        assert_eq!(out, b"a\\tb\tc\\\\d\\ne\\r\t\n");
    }
}

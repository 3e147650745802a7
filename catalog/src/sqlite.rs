//! The embedded back-end: one SQLite file (by default `ROOT/.console/catalog.sqlite`), no server.
//!
//! Layout: `recordings` (one row per folder, the whole entry as JSON beside the searchable columns) and three
//! narrow index tables that lead with what is searched: `participant_keys (key, started_us, row)`,
//! `recording_groups (row, grp)` and `custom (row, key, value)`. A participant + time-range search walks one
//! range of `participant_keys`' primary key, newest first, and stops at the page size: its cost does not grow
//! with the catalogue (measured at 1,000,000 recordings, `docs/console.md`).

use std::path::Path;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use crate::sql::{page_of, participant_keys, search_sql, Arg, Dialect};
use crate::{normalize_number, CatalogError, CatalogStore, Page, Query, RecordingEntry};

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -65536;
CREATE TABLE IF NOT EXISTS recordings (
    row INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    stamp TEXT NOT NULL,
    call_id TEXT NOT NULL,
    started_us INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    status TEXT NOT NULL,
    direction TEXT NOT NULL,
    dialed TEXT NOT NULL,
    origin TEXT NOT NULL,
    missing_us INTEGER NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recordings_started ON recordings (started_us, row);
CREATE INDEX IF NOT EXISTS recordings_call ON recordings (call_id);
CREATE TABLE IF NOT EXISTS participant_keys (
    key TEXT NOT NULL, started_us INTEGER NOT NULL, row INTEGER NOT NULL,
    PRIMARY KEY (key, started_us, row)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS participant_keys_row ON participant_keys (row);
CREATE TABLE IF NOT EXISTS recording_groups (
    row INTEGER NOT NULL, grp TEXT NOT NULL, PRIMARY KEY (row, grp)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS custom (
    row INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (row, key, value)) WITHOUT ROWID;
";

/// The SQLite catalogue.
///
/// ```
/// use catalog::{CatalogStore, Query, RecordingEntry, SqliteCatalog};
/// let mut c = SqliteCatalog::open_in_memory().unwrap();
/// let meta = br#"{"call":{"id":"c1"},"recording":{"started_utc":"2026-03-02T09:30:00Z","duration_us":1000000},
///                 "participants":[{"name":"alice","display_name":"Alice"}]}"#;
/// c.upsert(&RecordingEntry::from_files("c1", Some(meta), None, &[]).unwrap(), "s1").unwrap();
/// let page = c.search(&Query::from_pairs([("participant", "ALICE")]).unwrap()).unwrap();
/// assert_eq!(page.recordings[0].call_id, "c1");
/// ```
pub struct SqliteCatalog {
    conn: Connection,
}

fn db(e: rusqlite::Error) -> CatalogError {
    CatalogError::Database(e.to_string())
}

impl SqliteCatalog {
    /// Opens (creating when needed) the catalogue file.
    ///
    /// # Errors
    /// [`CatalogError::Database`] when the file cannot be opened or is not a catalogue.
    pub fn open(path: &Path) -> Result<SqliteCatalog, CatalogError> {
        let conn = Connection::open(path)
            .map_err(|e| CatalogError::Database(format!("{}: {e}", path.display())))?;
        Self::init(conn)
    }

    /// A catalogue in memory (tests, examples).
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    pub fn open_in_memory() -> Result<SqliteCatalog, CatalogError> {
        Self::init(Connection::open_in_memory().map_err(db)?)
    }

    fn init(conn: Connection) -> Result<SqliteCatalog, CatalogError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(SqliteCatalog { conn })
    }

    /// Adds many entries in one transaction (bulk loads: benchmarks, a first scan of a large root).
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    pub fn upsert_many<'a, I>(&mut self, entries: I) -> Result<(), CatalogError>
    where
        I: IntoIterator<Item = (&'a RecordingEntry, &'a str)>,
    {
        let tx = self.conn.transaction().map_err(db)?;
        for (e, stamp) in entries {
            upsert_in(&tx, e, stamp)?;
        }
        tx.commit().map_err(db)
    }
}

fn upsert_in(conn: &Connection, e: &RecordingEntry, stamp: &str) -> Result<(), CatalogError> {
    let json = serde_json::to_string(e).map_err(|x| CatalogError::Database(x.to_string()))?;
    let old: Option<i64> = conn
        .prepare_cached("SELECT row FROM recordings WHERE id = ?1")
        .map_err(db)?
        .query_row([&e.id], |r| r.get(0))
        .optional()
        .map_err(db)?;
    if let Some(row) = old {
        delete_row(conn, row)?;
    }
    conn.prepare_cached(
        "INSERT INTO recordings (id, stamp, call_id, started_us, duration_us, status, direction, dialed, origin,
                                 missing_us, entry)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .map_err(db)?
    .execute(params![
            e.id,
            stamp,
            e.call_id,
            e.started_us,
            e.duration_us,
            e.status,
            e.direction,
            normalize_number(&e.dialed_number),
            normalize_number(&e.origin_number),
            e.missing_us,
            json
        ])
    .map_err(db)?;
    let row = conn.last_insert_rowid();
    for k in participant_keys(e) {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO participant_keys (key, started_us, row) VALUES (?1, ?2, ?3)",
        )
        .map_err(db)?
        .execute(params![k, e.started_us, row])
        .map_err(db)?;
    }
    for g in &e.groups {
        conn.prepare_cached("INSERT OR IGNORE INTO recording_groups (row, grp) VALUES (?1, ?2)")
            .map_err(db)?
            .execute(params![row, g])
            .map_err(db)?;
    }
    for (k, v) in &e.custom_data {
        conn.prepare_cached("INSERT OR IGNORE INTO custom (row, key, value) VALUES (?1, ?2, ?3)")
            .map_err(db)?
            .execute(params![row, k, v])
            .map_err(db)?;
    }
    Ok(())
}

fn delete_row(conn: &Connection, row: i64) -> Result<(), CatalogError> {
    for sql in [
        "DELETE FROM participant_keys WHERE row = ?1",
        "DELETE FROM recording_groups WHERE row = ?1",
        "DELETE FROM custom WHERE row = ?1",
        "DELETE FROM recordings WHERE row = ?1",
    ] {
        conn.prepare_cached(sql)
            .map_err(db)?
            .execute([row])
            .map_err(db)?;
    }
    Ok(())
}

struct SqlArg<'a>(&'a Arg);

impl rusqlite::ToSql for SqlArg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self.0 {
            Arg::I(i) => i.to_sql(),
            Arg::T(t) => t.to_sql(),
        }
    }
}

impl CatalogStore for SqliteCatalog {
    fn upsert(&mut self, e: &RecordingEntry, stamp: &str) -> Result<(), CatalogError> {
        self.upsert_many([(e, stamp)])
    }

    fn stamp(&mut self, id: &str) -> Result<Option<String>, CatalogError> {
        self.conn
            .query_row("SELECT stamp FROM recordings WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
    }

    fn remove(&mut self, id: &str) -> Result<bool, CatalogError> {
        let row: Option<i64> = self
            .conn
            .query_row("SELECT row FROM recordings WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)?;
        match row {
            Some(row) => delete_row(&self.conn, row).map(|()| true),
            None => Ok(false),
        }
    }

    fn ids(&mut self) -> Result<Vec<String>, CatalogError> {
        let mut st = self
            .conn
            .prepare("SELECT id FROM recordings ORDER BY id")
            .map_err(db)?;
        let ids = st
            .query_map([], |r| r.get(0))
            .map_err(db)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(db)?;
        Ok(ids)
    }

    fn ids_range(&mut self, from: &str, to: Option<&str>) -> Result<Vec<String>, CatalogError> {
        // BINARY collation: byte order, on the primary key's index.
        let mut st = self
            .conn
            .prepare(
                "SELECT id FROM recordings WHERE id >= ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id",
            )
            .map_err(db)?;
        let ids = st
            .query_map(rusqlite::params![from, to], |r| r.get(0))
            .map_err(db)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(db)?;
        Ok(ids)
    }

    fn get(&mut self, id: &str) -> Result<Option<RecordingEntry>, CatalogError> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT entry FROM recordings WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)?;
        json.map(|j| crate::entry_from_json(&j)).transpose()
    }

    fn count(&mut self) -> Result<u64, CatalogError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM recordings", [], |r| r.get(0))
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn search(&mut self, q: &Query) -> Result<Page, CatalogError> {
        let (sql, args) = search_sql(q, Dialect::Sqlite);
        let mut st = self.conn.prepare_cached(&sql).map_err(db)?;
        let rows = st
            .query_map(params_from_iter(args.iter().map(SqlArg)), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        page_of(rows, q)
    }
}

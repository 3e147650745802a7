//! Where the console keeps its own state (users, tokens, sessions, play grants and the audit log): an SQLite
//! file in the state folder by default, or the shared PostgreSQL database when the catalogue is one
//! (`--catalog postgres://…`), so that every review host of a shared catalogue knows the same users and writes
//! one audit chain.
//!
//! The SQL is written once, with SQLite's numbered parameters (`?1`), and given to PostgreSQL with them
//! renumbered (`$1`); both sides use `TEXT` and 64-bit integers only. Identifiers that PostgreSQL reserves
//! (`user`) are quoted in the SQL. A transaction ([`StateDb::transaction`]) is `BEGIN IMMEDIATE` on SQLite and
//! on PostgreSQL a transaction holding an advisory lock, so two hosts appending to the audit log at once are
//! serialised rather than forking its chain.

use std::path::Path;

use postgres::types::ToSql;

use crate::ConsoleError;

/// A parameter of a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Text(&'a str),
    Int(i64),
}

/// A cell of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Text(String),
    Int(i64),
    Null,
}

impl Cell {
    /// The text of a text cell (an integer as its digits; NULL as "").
    pub(crate) fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Null => String::new(),
        }
    }

    /// The value of an integer cell (0 for anything else).
    pub(crate) fn int(&self) -> i64 {
        match self {
            Cell::Int(i) => *i,
            Cell::Text(s) => s.parse().unwrap_or(0),
            Cell::Null => 0,
        }
    }
}

/// The schema of one user of the state database, for each back-end.
pub(crate) struct Schema {
    pub(crate) sqlite: &'static str,
    pub(crate) postgres: &'static str,
}

/// A connection to the console's state: SQLite or PostgreSQL.
pub(crate) enum StateDb {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// Serialises schema creation between hosts: "vbconsol" in ASCII.
const SCHEMA_LOCK: i64 = 0x7662_636f_6e73_6f6c;
/// Serialises writers of the state (the audit chain) between hosts: "vbaudit!" in ASCII.
const WRITE_LOCK: i64 = 0x7662_6175_6469_7421;

fn sqlite_err(e: rusqlite::Error) -> ConsoleError {
    ConsoleError::Database(e.to_string())
}

fn pg_err(e: postgres::Error) -> ConsoleError {
    ConsoleError::Database(catalog::describe_postgres_error(&e))
}

/// `?1` → `$1` (the SQL given here has no `?` inside string literals).
fn renumber(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// The catalogue spec names the shared PostgreSQL database.
pub(crate) fn is_postgres(spec: Option<&str>) -> bool {
    spec.map(str::trim)
        .is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

impl StateDb {
    /// Opens the state database: PostgreSQL when `spec` is a `postgres://` URL, else the SQLite file at
    /// `sqlite_path`; creates `schema`'s tables when they are missing.
    pub(crate) fn open(
        spec: Option<&str>,
        sqlite_path: &Path,
        schema: &Schema,
    ) -> Result<StateDb, ConsoleError> {
        match spec.map(str::trim) {
            Some(url) if is_postgres(Some(url)) => {
                let ddl = schema.postgres;
                off_runtime(move || {
                    let mut client = catalog::connect_postgres(url)
                        .map_err(|e| ConsoleError::Database(e.to_string()))?;
                    let mut tx = client.transaction().map_err(pg_err)?;
                    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                        .map_err(pg_err)?;
                    tx.batch_execute(ddl).map_err(pg_err)?;
                    tx.commit().map_err(pg_err)?;
                    Ok(StateDb::Postgres(Box::new(client)))
                })
            }
            _ => {
                let conn = rusqlite::Connection::open(sqlite_path).map_err(|e| {
                    ConsoleError::Database(format!("{}: {e}", sqlite_path.display()))
                })?;
                conn.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(sqlite_err)?;
                conn.execute_batch(schema.sqlite).map_err(sqlite_err)?;
                Ok(StateDb::Sqlite(conn))
            }
        }
    }

    /// `sqlite` or `postgres`.
    pub(crate) fn backend(&self) -> &'static str {
        match self {
            StateDb::Sqlite(_) => "sqlite",
            StateDb::Postgres(_) => "postgres",
        }
    }

    /// Runs a statement; the rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, params: &[Val<'_>]) -> Result<u64, ConsoleError> {
        match self {
            StateDb::Sqlite(c) => {
                let p = sqlite_params(params);
                c.execute(sql, rusqlite::params_from_iter(p.iter()))
                    .map(|n| n as u64)
                    .map_err(sqlite_err)
            }
            StateDb::Postgres(c) => off_runtime(|| {
                let p = pg_params(params);
                let refs: Vec<&(dyn ToSql + Sync)> = p.iter().map(|b| b.as_ref()).collect();
                c.execute(renumber(sql).as_str(), &refs).map_err(pg_err)
            }),
        }
    }

    /// Runs a query; every row, as cells.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
    ) -> Result<Vec<Vec<Cell>>, ConsoleError> {
        match self {
            StateDb::Sqlite(c) => {
                let p = sqlite_params(params);
                let mut st = c.prepare(sql).map_err(sqlite_err)?;
                let n = st.column_count();
                let rows = st
                    .query_map(rusqlite::params_from_iter(p.iter()), |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Integer(v) => Cell::Int(v),
                                    rusqlite::types::ValueRef::Text(t) => {
                                        Cell::Text(String::from_utf8_lossy(t).into_owned())
                                    }
                                    rusqlite::types::ValueRef::Real(f) => Cell::Int(f as i64),
                                    rusqlite::types::ValueRef::Blob(b) => {
                                        Cell::Text(String::from_utf8_lossy(b).into_owned())
                                    }
                                    rusqlite::types::ValueRef::Null => Cell::Null,
                                })
                            })
                            .collect::<Result<Vec<Cell>, rusqlite::Error>>()
                    })
                    .map_err(sqlite_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sqlite_err)?;
                Ok(rows)
            }
            StateDb::Postgres(c) => off_runtime(|| {
                let p = pg_params(params);
                let refs: Vec<&(dyn ToSql + Sync)> = p.iter().map(|b| b.as_ref()).collect();
                let rows = c.query(renumber(sql).as_str(), &refs).map_err(pg_err)?;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| pg_cell(r, i))
                            .collect::<Result<Vec<Cell>, ConsoleError>>()
                    })
                    .collect()
            }),
        }
    }

    /// The first row of a query, if any.
    pub(crate) fn query_row(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
    ) -> Result<Option<Vec<Cell>>, ConsoleError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs `f` in a transaction that no other writer of this state (on any host) interleaves with:
    /// committed when `f` succeeds, rolled back when it fails.
    pub(crate) fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut StateDb) -> Result<T, ConsoleError>,
    ) -> Result<T, ConsoleError> {
        match self {
            StateDb::Sqlite(c) => c.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_err)?,
            StateDb::Postgres(c) => off_runtime(|| {
                c.batch_execute("BEGIN").map_err(pg_err)?;
                if let Err(e) = c.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]) {
                    let _ = c.batch_execute("ROLLBACK");
                    return Err(pg_err(e));
                }
                Ok(())
            })?,
        }
        match f(self) {
            Ok(v) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), ConsoleError> {
        match self {
            StateDb::Sqlite(c) => c.execute_batch(sql).map_err(sqlite_err),
            StateDb::Postgres(c) => off_runtime(|| c.batch_execute(sql).map_err(pg_err)),
        }
    }
}

/// Runs a call of the synchronous PostgreSQL client from wherever the console calls it. That client drives a
/// runtime of its own (`block_on`), which panics inside an async worker of another runtime. The web handlers
/// do their database work on blocking threads, but a caller on an async worker (the listen-in's audit entry,
/// an embedding program) must not crash the console: there the call leaves the runtime for its duration —
/// `block_in_place` on a multi-threaded runtime, a scoped thread on a current-thread one; elsewhere it runs as
/// it is.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => f(),
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

fn sqlite_params(params: &[Val<'_>]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|v| match v {
            Val::Text(s) => rusqlite::types::Value::Text((*s).to_string()),
            Val::Int(i) => rusqlite::types::Value::Integer(*i),
        })
        .collect()
}

fn pg_params(params: &[Val<'_>]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn ToSql + Sync> {
            match v {
                Val::Text(s) => Box::new((*s).to_string()),
                Val::Int(i) => Box::new(*i),
            }
        })
        .collect()
}

fn pg_cell(r: &postgres::Row, i: usize) -> Result<Cell, ConsoleError> {
    use postgres::types::Type;
    let ty = r.columns()[i].type_().clone();
    let cell = if ty == Type::INT8 {
        r.try_get::<_, Option<i64>>(i)
            .map(|v| v.map_or(Cell::Null, Cell::Int))
    } else if ty == Type::INT4 {
        r.try_get::<_, Option<i32>>(i)
            .map(|v| v.map_or(Cell::Null, |v| Cell::Int(i64::from(v))))
    } else {
        r.try_get::<_, Option<String>>(i)
            .map(|v| v.map_or(Cell::Null, Cell::Text))
    };
    cell.map_err(pg_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbers_parameters_for_postgres() {
        assert_eq!(
            renumber("SELECT a FROM t WHERE b = ?1 AND c = ?12 OR d = '?'"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 OR d = '?'"
        );
    }

    #[test]
    fn only_postgres_urls_are_postgres() {
        assert!(is_postgres(Some(" postgres://u@h/db")));
        assert!(is_postgres(Some("postgresql://u@h/db")));
        assert!(!is_postgres(Some("/var/lib/verbatim/catalog.sqlite")));
        assert!(!is_postgres(None));
    }

    /// What the PostgreSQL client does on every call: `block_on` on a runtime of its own.
    fn nested_block_on() -> u32 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { 7 })
    }

    #[test]
    fn a_blocking_client_may_be_called_from_async_workers_of_either_flavor() {
        assert_eq!(off_runtime(nested_block_on), 7);
        for multi in [true, false] {
            let rt = if multi {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
            } else {
                tokio::runtime::Builder::new_current_thread().build()
            }
            .unwrap();
            let got = rt.block_on(async { off_runtime(nested_block_on) });
            assert_eq!(got, 7, "multi-thread: {multi}");
        }
    }

    #[test]
    fn sqlite_round_trip_and_rollback() {
        let dir = std::env::temp_dir().join(format!("vb-statedb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let schema = Schema {
            sqlite: "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, n INTEGER NOT NULL);",
            postgres: "",
        };
        let mut db = StateDb::open(None, &dir.join("s.sqlite"), &schema).unwrap();
        assert_eq!(db.backend(), "sqlite");
        db.execute(
            "INSERT INTO t (k, n) VALUES (?1, ?2)",
            &[Val::Text("a"), Val::Int(7)],
        )
        .unwrap();
        let failed: Result<(), ConsoleError> = db.transaction(|db| {
            db.execute(
                "INSERT INTO t (k, n) VALUES (?1, ?2)",
                &[Val::Text("b"), Val::Int(8)],
            )?;
            Err(ConsoleError::BadInput("no".into()))
        });
        assert!(failed.is_err());
        let rows = db.query("SELECT k, n FROM t ORDER BY k", &[]).unwrap();
        assert_eq!(rows, vec![vec![Cell::Text("a".into()), Cell::Int(7)]]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

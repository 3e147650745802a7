//! The console's audit log: every login, search, play (with its reason), listen-in and export, append-only and
//! hash-chained.
//!
//! Each entry's `hash` is SHA-256 over the previous entry's hash and the entry's own fields; the first entry
//! chains from 64 zeros. Triggers refuse to change or delete an entry (and, on PostgreSQL, to truncate the
//! log), and [`AuditLog::verify`] recomputes the chain, so an entry edited behind the console's back (with the
//! triggers dropped) breaks every hash after it.
//!
//! The log lives beside the accounts: in the state folder's SQLite file, or in the shared PostgreSQL database
//! when the catalogue is one, where every review host appends to the same chain (an append holds a
//! transaction-scoped advisory lock, so two hosts cannot both take the same last entry as their `prev`).

use std::path::Path;

use crate::state_db::{Cell, Schema, StateDb, Val};
use crate::{sha256_hex, ConsoleError};

const SCHEMA: Schema = Schema {
    sqlite: "
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at_utc TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
",
    postgres: "
CREATE TABLE IF NOT EXISTS audit (
    seq BIGINT PRIMARY KEY, at_utc TEXT NOT NULL, \"user\" TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE OR REPLACE FUNCTION verbatim_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
    'BEGIN RAISE EXCEPTION ''the audit log is append-only''; END';
CREATE OR REPLACE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION verbatim_audit_append_only();
CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION verbatim_audit_append_only();
",
};

/// The chain's start.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Position (from 1).
    pub seq: i64,
    /// When (UTC).
    pub at_utc: String,
    /// Who (a user name, or `-` before login).
    pub user: String,
    /// What: `login`, `login_failed`, `search`, `play`, `export`, `listen_in`, `logout`, …
    pub action: String,
    /// On what (a recording id, a query).
    pub target: String,
    /// Anything else (the reason given, the client address).
    pub detail: String,
    /// The previous entry's hash.
    pub prev: String,
    /// This entry's hash.
    pub hash: String,
}

fn entry_hash(
    prev: &str,
    seq: i64,
    at: &str,
    user: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> String {
    let body = serde_json::json!([prev, seq, at, user, action, target, detail]).to_string();
    sha256_hex(body.as_bytes())
}

/// The audit log.
pub struct AuditLog {
    db: StateDb,
}

fn entry_of(r: &[Cell]) -> AuditEntry {
    AuditEntry {
        seq: r[0].int(),
        at_utc: r[1].text(),
        user: r[2].text(),
        action: r[3].text(),
        target: r[4].text(),
        detail: r[5].text(),
        prev: r[6].text(),
        hash: r[7].text(),
    }
}

const COLUMNS: &str = "seq, at_utc, \"user\", action, target, detail, prev, hash";

impl AuditLog {
    /// Opens (creating) the log in the SQLite file `path`.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("vb-audit-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut log = console::AuditLog::open(&dir.join("console.sqlite")).unwrap();
    /// let first = log.append("vera", "search", "participant=alice", "").unwrap();
    /// assert_eq!(first.prev, console::GENESIS);
    /// log.append("vera", "play", "2026/03/c1", "reason: complaint 17").unwrap();
    /// assert_eq!(log.verify().unwrap(), 2);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn open(path: &Path) -> Result<AuditLog, ConsoleError> {
        AuditLog::open_for(None, path)
    }

    /// Opens the log where the console's catalogue `spec` says: the shared PostgreSQL database for a
    /// `postgres://…` URL, else the SQLite file `sqlite_path`.
    ///
    /// # Errors
    /// [`ConsoleError::Database`] when the database cannot be reached or its table made.
    pub fn open_for(spec: Option<&str>, sqlite_path: &Path) -> Result<AuditLog, ConsoleError> {
        Ok(AuditLog {
            db: StateDb::open(spec, sqlite_path, &SCHEMA)?,
        })
    }

    /// Appends an entry, chained to the last one (in one transaction that no other writer, on any host,
    /// interleaves with, so the chain cannot fork).
    ///
    /// # Errors
    /// [`ConsoleError::Database`]: the caller must then refuse what it was about to do.
    pub fn append(
        &mut self,
        user: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<AuditEntry, ConsoleError> {
        self.db.transaction(|db| {
            let (seq, prev) = db
                .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?
                .map_or((0, GENESIS.to_string()), |r| (r[0].int(), r[1].text()));
            let seq = seq + 1;
            let at = catalog::format_utc(crate::now_us());
            let hash = entry_hash(&prev, seq, &at, user, action, target, detail);
            db.execute(
                &format!("INSERT INTO audit ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"),
                &[
                    Val::Int(seq),
                    Val::Text(&at),
                    Val::Text(user),
                    Val::Text(action),
                    Val::Text(target),
                    Val::Text(detail),
                    Val::Text(&prev),
                    Val::Text(&hash),
                ],
            )?;
            Ok(AuditEntry {
                seq,
                at_utc: at,
                user: user.into(),
                action: action.into(),
                target: target.into(),
                detail: detail.into(),
                prev,
                hash,
            })
        })
    }

    /// The newest `limit` entries, newest first.
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn recent(&mut self, limit: u32) -> Result<Vec<AuditEntry>, ConsoleError> {
        let rows = self.db.query(
            &format!("SELECT {COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?1"),
            &[Val::Int(i64::from(limit))],
        )?;
        Ok(rows.iter().map(|r| entry_of(r)).collect())
    }

    /// Recomputes the whole chain: the number of entries when every hash and link holds.
    ///
    /// # Errors
    /// [`ConsoleError::AuditBroken`] at the first entry that does not chain; [`ConsoleError::Database`].
    pub fn verify(&mut self) -> Result<u64, ConsoleError> {
        let mut prev = GENESIS.to_string();
        let mut expect_seq = 1i64;
        // In pages, so a long log is not held in memory at once; the first page starts below any seq, so an
        // entry slipped in before the first one is seen too.
        let mut after = i64::MIN;
        loop {
            let rows = self.db.query(
                &format!("SELECT {COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT 10000"),
                &[Val::Int(after)],
            )?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let e = entry_of(r);
                let hash = entry_hash(
                    &prev, e.seq, &e.at_utc, &e.user, &e.action, &e.target, &e.detail,
                );
                if e.seq != expect_seq || e.prev != prev || e.hash != hash {
                    return Err(ConsoleError::AuditBroken(e.seq));
                }
                prev = hash;
                after = e.seq;
                expect_seq += 1;
            }
        }
        Ok(u64::try_from(expect_seq - 1).unwrap_or(0))
    }
}

//! The console's audit log: every login, search, play (with its reason), listen-in and export, append-only and
//! hash-chained.
//!
//! Each entry's `hash` is SHA-256 over the previous entry's hash and the entry's own fields; the first entry
//! chains from 64 zeros. SQLite triggers refuse to change or delete an entry, and [`AuditLog::verify`]
//! recomputes the chain, so an entry edited behind the console's back (with the triggers dropped) breaks
//! every hash after it.

use std::path::Path;

use rusqlite::{params, Connection};

use crate::{sha256_hex, ConsoleError};

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at_utc TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

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
    conn: Connection,
}

fn db(e: rusqlite::Error) -> ConsoleError {
    ConsoleError::Database(e.to_string())
}

impl AuditLog {
    /// Opens (creating) the log in `path`.
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn open(path: &Path) -> Result<AuditLog, ConsoleError> {
        let conn = Connection::open(path)
            .map_err(|e| ConsoleError::Database(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(AuditLog { conn })
    }

    /// Appends an entry, chained to the last one (in one transaction, so two writers cannot fork the chain).
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
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let (seq, prev): (i64, String) = tx
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or((0, GENESIS.to_string()));
        let seq = seq + 1;
        let at = catalog::format_utc(crate::now_us());
        let hash = entry_hash(&prev, seq, &at, user, action, target, detail);
        tx.execute(
            "INSERT INTO audit (seq, at_utc, user, action, target, detail, prev, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
            params![seq, at, user, action, target, detail, prev, hash],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
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
    }

    /// The newest `limit` entries, newest first.
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn recent(&self, limit: u32) -> Result<Vec<AuditEntry>, ConsoleError> {
        let mut st = self
            .conn
            .prepare("SELECT seq, at_utc, user, action, target, detail, prev, hash FROM audit ORDER BY seq DESC LIMIT ?1")
            .map_err(db)?;
        let rows = st
            .query_map([limit], |r| {
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    at_utc: r.get(1)?,
                    user: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                    prev: r.get(6)?,
                    hash: r.get(7)?,
                })
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows)
    }

    /// Recomputes the whole chain: the number of entries when every hash and link holds.
    ///
    /// # Errors
    /// [`ConsoleError::AuditBroken`] at the first entry that does not chain; [`ConsoleError::Database`].
    pub fn verify(&self) -> Result<u64, ConsoleError> {
        let mut st = self
            .conn
            .prepare("SELECT seq, at_utc, user, action, target, detail, prev, hash FROM audit ORDER BY seq")
            .map_err(db)?;
        let mut rows = st.query([]).map_err(db)?;
        let mut prev = GENESIS.to_string();
        let mut expect_seq = 1i64;
        while let Some(r) = rows.next().map_err(db)? {
            let seq: i64 = r.get(0).map_err(db)?;
            let f: Vec<String> = (1..8)
                .map(|i| r.get::<_, String>(i))
                .collect::<Result<_, _>>()
                .map_err(db)?;
            let hash = entry_hash(&prev, seq, &f[0], &f[1], &f[2], &f[3], &f[4]);
            if seq != expect_seq || f[5] != prev || f[6] != hash {
                return Err(ConsoleError::AuditBroken(seq));
            }
            prev = hash;
            expect_seq += 1;
        }
        Ok(u64::try_from(expect_seq - 1).unwrap_or(0))
    }
}

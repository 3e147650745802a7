//! Who may use the console: local users with Argon2id password hashes, roles, group grants, API tokens and
//! browser sessions, in the console's SQLite file (`ROOT/.console/console.sqlite`), or in the shared
//! PostgreSQL database when the catalogue is one (`--catalog postgres://…`), so that every review host of that
//! catalogue knows the same users.
//!
//! Secrets are never stored: a token or session id is 32 random bytes shown once; the database keeps its
//! SHA-256. The design leaves room for OIDC: a session names a user and where the user came from is the
//! login route's business.

use std::path::Path;

use crate::state_db::{Schema, StateDb, Val};
use crate::{hex, sha256_hex, ConsoleError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// What a user may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Search, review (play with a reason), verify, export.
    Viewer,
    /// Also listens in to live calls.
    Supervisor,
    /// Also reads the audit log and manages users.
    Admin,
}

impl Role {
    /// `viewer`, `supervisor` or `admin`.
    ///
    /// ```
    /// use console::Role;
    /// assert_eq!(Role::parse("Supervisor"), Some(Role::Supervisor));
    /// assert!(Role::Admin > Role::Viewer);
    /// assert_eq!(Role::parse("root"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

/// A signed-in user (by session or token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Groups granted (`desk:rates`, `tenant:…`); `*` sees every recording.
    pub groups: Vec<String>,
}

impl User {
    /// The groups a search is limited to: `None` for a user granted `*`.
    pub fn scope(&self) -> Option<Vec<String>> {
        if self.groups.iter().any(|g| g == "*") {
            None
        } else {
            Some(self.groups.clone())
        }
    }

    /// The user may see a recording of these groups.
    ///
    /// ```
    /// use console::{Role, User};
    /// let u = User { name: "v".into(), role: Role::Viewer, groups: vec!["desk:fx".into()] };
    /// assert!(u.may_see(&["desk:fx".to_string(), "tenant:t".to_string()]));
    /// assert!(!u.may_see(&["desk:rates".to_string()]));
    /// assert!(!u.may_see(&[]));
    /// ```
    pub fn may_see(&self, recording_groups: &[String]) -> bool {
        self.groups
            .iter()
            .any(|g| g == "*" || recording_groups.contains(g))
    }
}

/// A browser session as the login made it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie value (shown once).
    pub cookie: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

const SCHEMA: Schema = Schema {
    sqlite: "
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL, groups TEXT NOT NULL, created_utc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, user TEXT NOT NULL, created_utc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, expires_unix INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS grants (
    session TEXT NOT NULL, recording TEXT NOT NULL, PRIMARY KEY (session, recording)) WITHOUT ROWID;
",
    postgres: "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL, groups TEXT NOT NULL, created_utc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, \"user\" TEXT NOT NULL, created_utc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY, \"user\" TEXT NOT NULL, csrf TEXT NOT NULL, expires_unix BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS grants (
    session TEXT NOT NULL, recording TEXT NOT NULL, PRIMARY KEY (session, recording));
",
};

/// How long a browser session lasts without a new login.
pub const SESSION_SECONDS: i64 = 8 * 3600;

/// The accounts database: the SQLite file in the state folder, or the shared PostgreSQL database
/// ([`Accounts::open_for`]).
pub struct Accounts {
    db: StateDb,
    /// A hash of a random password, checked when the user is unknown so that costs as long as a wrong password.
    dummy: String,
}

impl Accounts {
    /// Opens (creating) the accounts tables in the SQLite file `path`.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("vb-accounts-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut a = console::Accounts::open(&dir.join("console.sqlite")).unwrap();
    /// a.add_user("vera", "correct horse", console::Role::Viewer, &["desk:fx".into()]).unwrap();
    /// assert!(a.check_password("vera", "correct horse").unwrap().is_some());
    /// assert!(a.check_password("vera", "wrong").unwrap().is_none());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn open(path: &Path) -> Result<Accounts, ConsoleError> {
        Accounts::open_for(None, path)
    }

    /// Opens the accounts where the console's catalogue `spec` says: the shared PostgreSQL database for a
    /// `postgres://…` URL (every review host of that catalogue then knows the same users, tokens and
    /// sessions), else the SQLite file `sqlite_path`.
    ///
    /// # Errors
    /// [`ConsoleError::Database`] when the database cannot be reached or its tables made.
    pub fn open_for(spec: Option<&str>, sqlite_path: &Path) -> Result<Accounts, ConsoleError> {
        let db = StateDb::open(spec, sqlite_path, &SCHEMA)?;
        let dummy = hash_password(&secret_hex()?)?;
        Ok(Accounts { db, dummy })
    }

    /// Where the accounts are kept: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.db.backend()
    }

    /// Adds a user, or replaces their password, role and groups.
    ///
    /// # Errors
    /// [`ConsoleError::BadInput`] for an empty name or a password under 8 characters; [`ConsoleError::Database`].
    pub fn add_user(
        &mut self,
        name: &str,
        password: &str,
        role: Role,
        groups: &[String],
    ) -> Result<(), ConsoleError> {
        let name = name.trim();
        if name.is_empty()
            || name.len() > 64
            || name.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(ConsoleError::BadInput(format!(
                "user name {name:?}: 1 to 64 characters, no spaces"
            )));
        }
        if password.chars().count() < 8 {
            return Err(ConsoleError::BadInput(
                "the password must have at least 8 characters".into(),
            ));
        }
        let hash = hash_password(password)?;
        let groups = groups.join(",");
        let now = catalog::format_utc(crate::now_us());
        self.db.execute(
            "INSERT INTO users (name, hash, role, groups, created_utc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, role = excluded.role, groups = excluded.groups",
            &[
                Val::Text(name),
                Val::Text(&hash),
                Val::Text(role.name()),
                Val::Text(&groups),
                Val::Text(&now),
            ],
        )?;
        Ok(())
    }

    /// The user, when known.
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn user(&mut self, name: &str) -> Result<Option<User>, ConsoleError> {
        let row = self.db.query_row(
            "SELECT name, role, groups FROM users WHERE name = ?1",
            &[Val::Text(name)],
        )?;
        Ok(row.map(|r| User {
            name: r[0].text(),
            role: Role::parse(&r[1].text()).unwrap_or(Role::Viewer),
            groups: r[2]
                .text()
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(String::from)
                .collect(),
        }))
    }

    /// Every user (name, role, groups).
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn users(&mut self) -> Result<Vec<User>, ConsoleError> {
        let names = self.db.query("SELECT name FROM users ORDER BY name", &[])?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(u) = self.user(&n[0].text())? {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Checks a password (Argon2id, constant-time compare); `None` when the user or password is wrong. A
    /// wrong user name costs a hash too, so timing does not tell which was wrong.
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn check_password(
        &mut self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, ConsoleError> {
        let stored = self
            .db
            .query_row("SELECT hash FROM users WHERE name = ?1", &[Val::Text(name)])?
            .map(|r| r[0].text());
        let phc = stored.as_deref().unwrap_or(&self.dummy);
        let ok = PasswordHash::new(phc)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        if ok && stored.is_some() {
            self.user(name)
        } else {
            Ok(None)
        }
    }

    /// Makes an API token for a user: the returned text is shown once (`vbt_…`), the database keeps its hash.
    ///
    /// # Errors
    /// [`ConsoleError::BadInput`] for an unknown user; [`ConsoleError::Database`].
    pub fn new_token(&mut self, user: &str) -> Result<String, ConsoleError> {
        if self.user(user)?.is_none() {
            return Err(ConsoleError::BadInput(format!(
                "no user {user:?} (add it with `verbatim users add`)"
            )));
        }
        let token = format!("vbt_{}", secret_hex()?);
        let hash = sha256_hex(token.as_bytes());
        let now = catalog::format_utc(crate::now_us());
        self.db.execute(
            "INSERT INTO tokens (hash, \"user\", created_utc) VALUES (?1, ?2, ?3)",
            &[Val::Text(&hash), Val::Text(user), Val::Text(&now)],
        )?;
        Ok(token)
    }

    /// The user a bearer token belongs to.
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn token_user(&mut self, token: &str) -> Result<Option<User>, ConsoleError> {
        let hash = sha256_hex(token.as_bytes());
        let user = self
            .db
            .query_row(
                "SELECT \"user\" FROM tokens WHERE hash = ?1",
                &[Val::Text(&hash)],
            )?
            .map(|r| r[0].text());
        match user {
            Some(u) => self.user(&u),
            None => Ok(None),
        }
    }

    /// Starts a browser session for a user who just logged in.
    ///
    /// # Errors
    /// [`ConsoleError::Database`], or no randomness.
    pub fn new_session(&mut self, user: &str) -> Result<Session, ConsoleError> {
        let cookie = secret_hex()?;
        let csrf = secret_hex()?;
        let now = crate::now_us() / 1_000_000;
        let expires = now + SESSION_SECONDS;
        self.db.execute(
            "DELETE FROM sessions WHERE expires_unix < ?1",
            &[Val::Int(now)],
        )?;
        let hash = sha256_hex(cookie.as_bytes());
        self.db.execute(
            "INSERT INTO sessions (hash, \"user\", csrf, expires_unix) VALUES (?1, ?2, ?3, ?4)",
            &[
                Val::Text(&hash),
                Val::Text(user),
                Val::Text(&csrf),
                Val::Int(expires),
            ],
        )?;
        Ok(Session { cookie, csrf })
    }

    /// The user and CSRF token of a live session cookie.
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn session(&mut self, cookie: &str) -> Result<Option<(User, String)>, ConsoleError> {
        let hash = sha256_hex(cookie.as_bytes());
        let row = self.db.query_row(
            "SELECT \"user\", csrf, expires_unix FROM sessions WHERE hash = ?1",
            &[Val::Text(&hash)],
        )?;
        match row {
            Some(r) if r[2].int() > crate::now_us() / 1_000_000 => {
                let csrf = r[1].text();
                Ok(self.user(&r[0].text())?.map(|u| (u, csrf)))
            }
            _ => Ok(None),
        }
    }

    /// Ends a session.
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn end_session(&mut self, cookie: &str) -> Result<(), ConsoleError> {
        let h = sha256_hex(cookie.as_bytes());
        self.db
            .execute("DELETE FROM grants WHERE session = ?1", &[Val::Text(&h)])?;
        self.db
            .execute("DELETE FROM sessions WHERE hash = ?1", &[Val::Text(&h)])?;
        Ok(())
    }

    /// Lets a session play a recording (after a reason was given and audited).
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn grant_play(&mut self, cookie: &str, recording: &str) -> Result<(), ConsoleError> {
        let h = sha256_hex(cookie.as_bytes());
        self.db.execute(
            "INSERT INTO grants (session, recording) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            &[Val::Text(&h), Val::Text(recording)],
        )?;
        Ok(())
    }

    /// A reason was given in this session for playing this recording.
    ///
    /// # Errors
    /// [`ConsoleError::Database`].
    pub fn may_play(&mut self, cookie: &str, recording: &str) -> Result<bool, ConsoleError> {
        let h = sha256_hex(cookie.as_bytes());
        let n = self
            .db
            .query_row(
                "SELECT count(*) FROM grants WHERE session = ?1 AND recording = ?2",
                &[Val::Text(&h), Val::Text(recording)],
            )?
            .map_or(0, |r| r[0].int());
        Ok(n > 0)
    }
}

/// Argon2id (the crate's default parameters: 19 MiB, 2 passes) with a random salt, as a PHC string.
fn hash_password(password: &str) -> Result<String, ConsoleError> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| ConsoleError::BadInput(e.to_string()))?
        .to_string())
}

fn random_bytes(buf: &mut [u8]) -> Result<(), ConsoleError> {
    getrandom::fill(buf).map_err(|e| ConsoleError::Database(format!("no randomness: {e}")))
}

/// 32 random bytes as hex.
pub(crate) fn secret_hex() -> Result<String, ConsoleError> {
    let mut b = [0u8; 32];
    random_bytes(&mut b)?;
    Ok(hex(&b))
}

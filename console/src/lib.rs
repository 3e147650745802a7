//! The compliance console: `verbatim serve` — find, review, verify and export recordings in a browser.
//!
//! Where it sits: on the read side, on a review host, after the pipeline. Recorder nodes write recording
//! folders (bot-adapter → recorder → muxer); the console indexes them into the [`catalog`], and a compliance
//! officer searches, plays (after giving a reason), sees who spoke when ([`timeline_svg`]) and whether the
//! folder verifies ([`muxer::verify`]), and exports an evidence bundle. It never writes into a recording
//! folder; its own state (catalogue, users, audit log) lives in `ROOT/.console/`.
//!
//! ```no_run
//! use console::{Console, ConsoleConfig, Role};
//! let c = Console::open(ConsoleConfig::new("/srv/recordings".into())).unwrap();
//! c.accounts().unwrap().add_user("olivia", "a long password", Role::Viewer, &["desk:rates".into()]).unwrap();
//! c.rescan().unwrap();
//! ```
//!
//! Access: every page and API answer needs a session (browser, with CSRF tokens on every form) or a bearer
//! token (API); roles [`Role`]; scoping by groups ([`User::may_see`]); every search, play, export and login
//! lands in the hash-chained [`AuditLog`] before it is answered.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod accounts;
mod audit;
mod bucket;
mod export;
pub mod live;
mod node;
mod review;
mod sealed;
mod state_db;
pub mod web;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub use accounts::{Accounts, Role, Session, User, SESSION_SECONDS};
pub use audit::{AuditEntry, AuditLog, GENESIS};
pub use export::{export_zip, ExportReport};
pub use node::this_host;
pub use review::{verdict_of, Verdict};

use catalog::CatalogStore;

/// Why the console refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The console's database failed.
    #[error("console database: {0}")]
    Database(String),
    /// The catalogue failed.
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    /// Input that cannot be used (names, passwords, ids).
    #[error("{0}")]
    BadInput(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The catalogue lists the recording but its folder is not under this console's root: with a shared
    /// catalogue, another node holds it.
    #[error("{0}: catalogued, but its folder is not under this console's root; with a shared catalogue another node holds it: review it on that node's console")]
    NotOnThisHost(String),
    /// The audit log's chain breaks at this entry.
    #[error("the audit log is broken at entry {0}: an entry was changed or removed")]
    AuditBroken(i64),
    /// A state lock was poisoned by a panic elsewhere.
    #[error("console state unavailable after an internal failure")]
    Poisoned,
}

/// Where the console works.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The recordings' root folder.
    pub root: PathBuf,
    /// The console's state folder (default `ROOT/.console`).
    pub state_dir: PathBuf,
    /// Trusted signing keys (`verbatim keygen` keyring); without one, verdicts say the signer is not
    /// authenticated.
    pub keyring: Option<PathBuf>,
    /// An age identity file (`verbatim keygen --encryption`): encrypted recordings are then catalogued from
    /// their decrypted `metadata.json` and played from a decrypted copy under `.console/plain/`.
    pub identity: Option<PathBuf>,
    /// The catalogue (`--catalog`): `None` for SQLite in the state folder; a `postgres://…` URL for one
    /// catalogue several nodes share (then a scan never removes entries: they may be another node's, and the
    /// users, tokens, sessions and the audit log are kept in that database too, shared by every review host);
    /// or another SQLite file (users and the audit log then stay in the state folder).
    pub catalog: Option<String>,
    /// This node's name, stamped on every recording this console indexes (default: the host name); with a
    /// shared catalogue, other nodes' consoles name it for recordings they do not hold.
    pub node: String,
    /// An object store prefix (`serve --store s3://BUCKET/PREFIX`) whose recordings are catalogued too and
    /// played from a local copy replayed from the bucket (`.console/bucket/`).
    pub store: Option<store::StoreConfig>,
    /// How often the store prefix is listed (a listing reads every object key under it).
    pub store_rescan: std::time::Duration,
    /// Most bytes the copies replayed from the store may take under `.console/bucket/`; the least recently
    /// viewed recordings' copies are removed beyond it (replayed again when viewed again).
    pub store_cache_bytes: u64,
    /// Most bytes the decrypted copies of encrypted recordings may take under `.console/plain/`; the least
    /// recently viewed are removed beyond it (decrypted again when viewed again).
    pub plain_cache_bytes: u64,
}

impl ConsoleConfig {
    /// The defaults for a root.
    pub fn new(root: PathBuf) -> ConsoleConfig {
        ConsoleConfig {
            state_dir: root.join(".console"),
            root,
            keyring: None,
            identity: None,
            catalog: None,
            node: node::this_host(),
            store: None,
            store_rescan: std::time::Duration::from_secs(60),
            store_cache_bytes: 20 << 30,
            plain_cache_bytes: 20 << 30,
        }
    }
}

/// The console's state, shared by every request.
pub struct Console {
    config: ConsoleConfig,
    keyring: Option<muxer::integrity::Keyring>,
    identity: Option<seal::Identities>,
    catalog: Mutex<Box<dyn CatalogStore>>,
    accounts: Mutex<Accounts>,
    audit: Mutex<AuditLog>,
    limiter: Mutex<web::LoginLimiter>,
    /// Verdicts by recording id, with the catalogue stamp they were made at (a changed folder is verified
    /// again).
    verdicts: Mutex<std::collections::HashMap<String, (String, Verdict)>>,
    /// The node's live calls, when the console runs inside `verbatim listen`.
    live: std::sync::OnceLock<std::sync::Arc<dyn live::LiveCalls>>,
    /// The object store's connection, when [`ConsoleConfig::store`] is set.
    bucket: bucket::BucketConn,
    /// When the store prefix was last listed.
    bucket_scanned: Mutex<Option<std::time::Instant>>,
}

impl Console {
    /// Opens the console's state under `config.state_dir` (created), the SQLite catalogue included.
    ///
    /// # Errors
    /// [`ConsoleError::Io`] when the state folder cannot be made or the keyring read; database errors.
    pub fn open(config: ConsoleConfig) -> Result<Console, ConsoleError> {
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| ConsoleError::Io(format!("{}: {e}", config.state_dir.display())))?;
        let catalog = catalog::open_catalog(
            config.catalog.as_deref(),
            &config.state_dir.join("catalog.sqlite"),
        )?;
        let db = config.state_dir.join("console.sqlite");
        let keyring = match &config.keyring {
            Some(p) => Some(
                muxer::integrity::Keyring::load(p)
                    .map_err(|e| ConsoleError::Io(format!("{}: {e}", p.display())))?,
            ),
            None => None,
        };
        let identity = match &config.identity {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConsoleError::Io(format!("{}: {e}", p.display())))?;
                Some(
                    seal::Identities::parse(&text)
                        .map_err(|e| ConsoleError::Io(format!("{}: {e}", p.display())))?,
                )
            }
            None => None,
        };
        Ok(Console {
            keyring,
            identity,
            catalog: Mutex::new(catalog),
            accounts: Mutex::new(Accounts::open_for(config.catalog.as_deref(), &db)?),
            audit: Mutex::new(AuditLog::open_for(config.catalog.as_deref(), &db)?),
            limiter: Mutex::new(web::LoginLimiter::default()),
            verdicts: Mutex::new(std::collections::HashMap::new()),
            live: std::sync::OnceLock::new(),
            bucket: bucket::BucketConn::default(),
            bucket_scanned: Mutex::new(None),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ConsoleConfig {
        &self.config
    }

    /// The recordings' root.
    pub fn root(&self) -> &Path {
        &self.config.root
    }

    /// The catalogue.
    ///
    /// # Errors
    /// [`ConsoleError::Poisoned`].
    pub fn catalog(&self) -> Result<MutexGuard<'_, Box<dyn CatalogStore>>, ConsoleError> {
        self.catalog.lock().map_err(|_| ConsoleError::Poisoned)
    }

    /// Users, tokens and sessions.
    ///
    /// # Errors
    /// [`ConsoleError::Poisoned`].
    pub fn accounts(&self) -> Result<MutexGuard<'_, Accounts>, ConsoleError> {
        self.accounts.lock().map_err(|_| ConsoleError::Poisoned)
    }

    /// The audit log.
    ///
    /// # Errors
    /// [`ConsoleError::Poisoned`].
    pub fn audit(&self) -> Result<MutexGuard<'_, AuditLog>, ConsoleError> {
        self.audit.lock().map_err(|_| ConsoleError::Poisoned)
    }

    /// Brings the catalogue up to date with the root (new, changed and vanished folders) and, at most every
    /// [`ConsoleConfig::store_rescan`], with the store prefix ([`ConsoleConfig::store`]).
    ///
    /// # Errors
    /// As [`catalog::scan_root`]; the store unreachable ([`ConsoleError::Io`]; the root's scan is kept).
    pub fn rescan(&self) -> Result<catalog::ScanReport, ConsoleError> {
        let mut report = self.rescan_root()?;
        if let Some(cfg) = &self.config.store {
            let due = {
                let mut last = self
                    .bucket_scanned
                    .lock()
                    .map_err(|_| ConsoleError::Poisoned)?;
                let due = last.is_none_or(|t| t.elapsed() >= self.config.store_rescan);
                if due {
                    *last = Some(std::time::Instant::now());
                }
                due
            };
            if due {
                let shared = self.shared_catalog();
                let mut c = self.catalog()?;
                let b = bucket::scan_bucket(self, cfg, c.as_mut(), shared)?;
                report.indexed += b.indexed;
                report.unchanged += b.unchanged;
                report.removed.extend(b.removed);
                report.failed.extend(b.failed);
                report.partial.extend(b.partial);
            }
        }
        Ok(report)
    }

    fn shared_catalog(&self) -> bool {
        self.config
            .catalog
            .as_deref()
            .is_some_and(|c| c.contains("://"))
    }

    fn rescan_root(&self) -> Result<catalog::ScanReport, ConsoleError> {
        let shared = self.shared_catalog();
        let mut c = self.catalog()?;
        let mut stamped = node::NodeStamping {
            inner: c.as_mut(),
            node: &self.config.node,
        };
        let report = if shared {
            catalog::scan_root_shared(&self.config.root, &mut stamped)?
        } else {
            catalog::scan_root(&self.config.root, &mut stamped)?
        };
        if self.identity.is_some() && report.indexed > 0 {
            crate::sealed::reindex_encrypted(self, c.as_mut())?;
        }
        Ok(report)
    }

    /// Where a recording's media is read from: its folder, or for an encrypted recording (with an identity)
    /// a decrypted copy under `.console/plain/`, made (after verification) on first use.
    ///
    /// # Errors
    /// [`ConsoleError::BadInput`] for an encrypted recording without an identity; decryption failures.
    pub fn media_dir(&self, entry: &catalog::RecordingEntry) -> Result<PathBuf, ConsoleError> {
        let dir = self.recording_dir(entry)?;
        if entry.encrypted {
            crate::sealed::plain_copy(self, entry, &dir)
        } else {
            Ok(dir)
        }
    }

    /// The folder a recording's files are read from as they were written (encrypted ones still
    /// encrypted): under the root, or for a recording in the object store ([`catalog::is_bucket_id`]) its
    /// local copy, replayed from the bucket on first use.
    ///
    /// # Errors
    /// [`ConsoleError::NotOnThisHost`] when neither this root nor this console's store holds it; a failed
    /// replay ([`ConsoleError::Io`]: the store unreachable, or its object log broken).
    pub fn recording_dir(&self, entry: &catalog::RecordingEntry) -> Result<PathBuf, ConsoleError> {
        if catalog::is_bucket_id(&entry.id) {
            return bucket::local_copy(self, &entry.id);
        }
        let dir = self.folder(&entry.id)?;
        if !dir.is_dir() {
            return Err(ConsoleError::NotOnThisHost(self.whereabouts(entry)));
        }
        Ok(dir)
    }

    /// For a recording this console does not hold, the id of its copy in the console's object store (same
    /// call id and leg under `--store`'s prefix), if the bucket has one.
    ///
    /// # Errors
    /// Catalogue errors.
    pub fn copy_in_bucket(
        &self,
        entry: &catalog::RecordingEntry,
    ) -> Result<Option<String>, ConsoleError> {
        bucket::copy_of(self, entry)
    }

    /// `ID (held by node N)` for a recording this console does not hold, as far as the catalogue knows.
    pub(crate) fn whereabouts(&self, entry: &catalog::RecordingEntry) -> String {
        match entry.node.as_deref() {
            Some(n) if n != self.config.node => format!("{} (held by node {n})", entry.id),
            _ => entry.id.clone(),
        }
    }

    /// A recording's folder from its catalogue id, refusing ids that would leave the root.
    ///
    /// ```
    /// let root = std::path::Path::new("/r");
    /// assert_eq!(console::folder_of(root, "2026/03/c1").unwrap(), std::path::Path::new("/r/2026/03/c1"));
    /// assert!(console::folder_of(root, "../etc").is_err());
    /// assert!(console::folder_of(root, "/etc").is_err());
    /// assert!(console::folder_of(root, ".console/x").is_err());
    /// ```
    ///
    /// # Errors
    /// [`ConsoleError::BadInput`].
    pub fn folder(&self, id: &str) -> Result<PathBuf, ConsoleError> {
        folder_of(&self.config.root, id)
    }

    /// A recording's verdict ([`verdict_of`]), verified once per version of its folder (the catalogue's
    /// stamp) — an hour-long recording hashes ~1 GB.
    ///
    /// # Errors
    /// [`ConsoleError::Poisoned`], database errors.
    pub fn verdict(&self, id: &str) -> Result<Verdict, ConsoleError> {
        let stamp = self.catalog()?.stamp(id)?.unwrap_or_default();
        if let Some((s, v)) = self
            .verdicts
            .lock()
            .map_err(|_| ConsoleError::Poisoned)?
            .get(id)
        {
            if *s == stamp && !stamp.is_empty() {
                return Ok(v.clone());
            }
        }
        let v = if catalog::is_bucket_id(id) {
            match bucket::local_copy(self, id) {
                Ok(dir) => {
                    let mut v = verdict_of(self, &dir);
                    if let Some(from) = bucket::provenance(self, id) {
                        v.summary = format!("{}; replayed from {from}", v.summary);
                    }
                    v
                }
                Err(e) => Verdict::not_replayed(&e.to_string()),
            }
        } else {
            let dir = self.folder(id)?;
            if !dir.is_dir() {
                // Not verified, and not "does not verify": the folder is on another node (or gone from
                // this one).
                let node = self.catalog()?.get(id)?.and_then(|e| e.node);
                return Ok(Verdict::not_on_this_host(
                    &self.config.root,
                    node.as_deref().filter(|n| *n != self.config.node),
                ));
            }
            verdict_of(self, &dir)
        };
        let mut cache = self.verdicts.lock().map_err(|_| ConsoleError::Poisoned)?;
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(id.to_string(), (stamp, v.clone()));
        Ok(v)
    }

    /// Offers this node's live calls (`verbatim listen --console`); once.
    pub fn attach_live(&self, live: std::sync::Arc<dyn live::LiveCalls>) {
        let _ = self.live.set(live);
    }

    /// The node's live calls, when attached.
    pub fn live(&self) -> Option<&std::sync::Arc<dyn live::LiveCalls>> {
        self.live.get()
    }

    /// The console holds an identity for encrypted recordings.
    pub fn can_decrypt(&self) -> bool {
        self.identity.is_some()
    }

    pub(crate) fn keyring(&self) -> Option<&muxer::integrity::Keyring> {
        self.keyring.as_ref()
    }
}

/// See [`Console::folder`].
///
/// # Errors
/// [`ConsoleError::BadInput`] for an empty id, `..`, a leading `/` or `.`, or a backslash.
pub fn folder_of(root: &Path, id: &str) -> Result<PathBuf, ConsoleError> {
    let bad = || ConsoleError::BadInput(format!("{id:?} is not a recording id"));
    if id.is_empty() || id.contains('\\') || id.contains('\0') {
        return Err(bad());
    }
    let mut p = root.to_path_buf();
    for part in id.split('/') {
        if part.is_empty() || part.starts_with('.') {
            return Err(bad());
        }
        p.push(part);
    }
    Ok(p)
}

/// Microseconds since the Unix epoch, now.
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// SHA-256 as hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

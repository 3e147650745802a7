//! The recordings catalogue: an index of recording folders that answers "every call of this trader with this
//! client last March" without opening a folder.
//!
//! Where it sits: on the read side, after the pipeline. A recording closes (bot-adapter → recorder → muxer
//! writes its folder); the catalogue indexes the folder's `metadata.json` and `manifest.json`
//! ([`RecordingEntry`]); the compliance console (`verbatim serve`), its JSON API and `verbatim search` ask it
//! with a [`Query`]. It never changes a recording folder.
//!
//! Back-ends implement [`CatalogStore`]: [`SqliteCatalog`] (embedded, the default, one file) and
//! [`PostgresCatalog`] for several nodes sharing one catalogue; [`open_catalog`] picks one from the
//! `--catalog` value. Both build their search from the same SQL and answer alike.
//!
//! ```
//! use catalog::{CatalogStore, Query, RecordingEntry, SqliteCatalog};
//! let mut c = SqliteCatalog::open_in_memory().unwrap();
//! for (id, who, day) in [("a", "alice", "2026-03-02"), ("b", "bob", "2026-03-03"), ("c", "alice", "2026-04-01")] {
//!     let meta = format!(r#"{{"call":{{"id":"{id}"}},"recording":{{"started_utc":"{day}T10:00:00Z","duration_us":5}},
//!                            "participants":[{{"name":"{who}"}}]}}"#);
//!     c.upsert(&RecordingEntry::from_files(id, Some(meta.as_bytes()), None, &[]).unwrap(), "").unwrap();
//! }
//! let march = Query::from_pairs([("participant", "alice"), ("from", "2026-03-01"), ("to", "2026-04-01")]).unwrap();
//! let page = c.search(&march).unwrap();
//! assert_eq!(page.recordings.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["a"]);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::Path;

mod entry;
mod pg_connect;
mod postgres;
mod query;
mod scan;
mod sql;
mod sqlite;

pub use entry::{format_utc, groups_of, parse_utc, read_folder, ParticipantEntry, RecordingEntry};
pub use pg_connect::connect_postgres;
pub use postgres::{describe as describe_postgres_error, PostgresCatalog};
pub use query::{normalize_number, Cursor, Query, DEFAULT_PAGE, MAX_PAGE};
pub use scan::{
    bucket_id, index_folder, is_bucket_id, local_ids, prefix_ids, scan_root, scan_root_shared,
    ScanReport, BUCKET_ID_SCHEME, MAX_DEPTH,
};
pub use sqlite::SqliteCatalog;

/// Why the catalogue could not answer.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A folder's files do not describe a recording (malformed JSON, no call id or start).
    #[error("{folder}: cannot be catalogued: {why}")]
    Unreadable {
        /// The folder (relative id).
        folder: String,
        /// What was wrong.
        why: String,
    },
    /// A file or folder could not be read.
    #[error("{0}")]
    Io(String),
    /// The database failed or refused.
    #[error("catalogue database: {0}")]
    Database(String),
    /// A search parameter is malformed.
    #[error("bad search: {0}")]
    BadQuery(String),
}

/// One page of search results, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Page {
    /// The recordings.
    pub recordings: Vec<RecordingEntry>,
    /// Pass as [`Query::after`] for the next page; `None` on the last one.
    #[serde(serialize_with = "cursor_text")]
    pub next: Option<Cursor>,
}

fn cursor_text<S: serde::Serializer>(c: &Option<Cursor>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_str(&c.to_string()),
        None => s.serialize_none(),
    }
}

/// A catalogue back-end. Ids are folder paths relative to the root; a stamp is what [`scan_root`] compares
/// to see whether a folder changed since it was indexed.
pub trait CatalogStore: Send {
    /// Adds or replaces a recording.
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    fn upsert(&mut self, entry: &RecordingEntry, stamp: &str) -> Result<(), CatalogError>;
    /// The stamp a recording was indexed with.
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    fn stamp(&mut self, id: &str) -> Result<Option<String>, CatalogError>;
    /// Removes a recording from the catalogue (never its folder); false when it was not there.
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    fn remove(&mut self, id: &str) -> Result<bool, CatalogError>;
    /// Every id catalogued.
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    fn ids(&mut self) -> Result<Vec<String>, CatalogError>;
    /// The ids `from <= id < to` in byte order (to the end without `to`): a root's or a bucket prefix's
    /// share of a large catalogue without reading every id.
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    fn ids_range(&mut self, from: &str, to: Option<&str>) -> Result<Vec<String>, CatalogError> {
        Ok(self
            .ids()?
            .into_iter()
            .filter(|id| id.as_str() >= from && to.is_none_or(|t| id.as_str() < t))
            .collect())
    }
    /// One recording by id.
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    fn get(&mut self, id: &str) -> Result<Option<RecordingEntry>, CatalogError>;
    /// How many recordings are catalogued.
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    fn count(&mut self) -> Result<u64, CatalogError>;
    /// One page of a search.
    ///
    /// # Errors
    /// [`CatalogError::Database`].
    fn search(&mut self, q: &Query) -> Result<Page, CatalogError>;
}

/// Opens the catalogue a `--catalog` value names: none (or empty) → SQLite at `default_sqlite`;
/// `postgres://…` or `postgresql://…` → [`PostgresCatalog`]; anything else → SQLite at that path.
///
/// ```
/// use catalog::{open_catalog, CatalogStore, RecordingEntry};
/// let dir = std::env::temp_dir().join(format!("open-catalog-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let default = dir.join("catalog.sqlite");
/// let meta = br#"{"call":{"id":"c1"},"recording":{"started_utc":"2026-03-02T09:30:00Z"}}"#;
/// let mut c = open_catalog(None, &default).unwrap();
/// c.upsert(&RecordingEntry::from_files("c1", Some(meta), None, &[]).unwrap(), "s").unwrap();
/// assert!(default.is_file());
/// // A path names another SQLite file; the default one is untouched.
/// let other = dir.join("other.sqlite");
/// let mut o = open_catalog(Some(other.to_str().unwrap()), &default).unwrap();
/// assert_eq!((o.count().unwrap(), c.count().unwrap()), (0, 1));
/// // A URL names a PostgreSQL server (none listens on port 1 here).
/// assert!(matches!(open_catalog(Some("postgres://nobody@127.0.0.1:1/x"), &default),
///                  Err(catalog::CatalogError::Database(_))));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// ```no_run
/// let c = catalog::open_catalog(Some("postgresql://verbatim@db.internal/verbatim"), "unused".as_ref());
/// ```
///
/// # Errors
/// [`CatalogError::Database`] when the file or server cannot be opened.
pub fn open_catalog(
    spec: Option<&str>,
    default_sqlite: &Path,
) -> Result<Box<dyn CatalogStore>, CatalogError> {
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Box::new(SqliteCatalog::open(default_sqlite)?)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Box::new(PostgresCatalog::connect(url)?))
        }
        Some(path) => Ok(Box::new(SqliteCatalog::open(Path::new(path))?)),
    }
}

pub(crate) fn entry_from_json(j: &str) -> Result<RecordingEntry, CatalogError> {
    serde_json::from_str(j)
        .map_err(|e| CatalogError::Database(format!("a stored entry is unreadable: {e}")))
}

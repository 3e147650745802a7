//! Keeping the catalogue in step with a root folder: every recording folder under it is indexed, again when
//! its files change (a recording closing, `recover` closing a crashed one), and dropped when it is gone.
//!
//! A recording folder is a folder with `manifest.json` (closed) or `manifest.journal` (recording, or left by a
//! crash). Folders whose name starts with `.` (the console's own `.console/`) are skipped, symbolic links are
//! never followed, and the walk stops [`MAX_DEPTH`] folders down.

use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::{read_folder, CatalogError, CatalogStore};

/// The scheme of catalogue ids of recordings held in an object store rather than under a root folder:
/// `s3:BUCKET/PREFIX/NAME` ([`bucket_id`]).
pub const BUCKET_ID_SCHEME: &str = "s3:";

/// The catalogue id of recording `name` under `s3://BUCKET/PREFIX`.
///
/// ```
/// assert_eq!(catalog::bucket_id("calls", "eu", "rec-1"), "s3:calls/eu/rec-1");
/// assert_eq!(catalog::bucket_id("calls", "", "rec-1"), "s3:calls/rec-1");
/// assert!(catalog::is_bucket_id(&catalog::bucket_id("calls", "eu", "rec-1")));
/// assert!(!catalog::is_bucket_id("2026/03/rec-1"));
/// ```
pub fn bucket_id(bucket: &str, prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        format!("{BUCKET_ID_SCHEME}{bucket}/{name}")
    } else {
        format!("{BUCKET_ID_SCHEME}{bucket}/{prefix}/{name}")
    }
}

/// The id names a recording in an object store ([`bucket_id`]), not a folder under a root.
pub fn is_bucket_id(id: &str) -> bool {
    id.starts_with(BUCKET_ID_SCHEME)
}

/// Every catalogued id that names a folder under a root (not [`is_bucket_id`]), in byte order, read as two
/// ranges of the catalogue's index.
///
/// ```
/// use catalog::{CatalogStore, RecordingEntry, SqliteCatalog};
/// let mut c = SqliteCatalog::open_in_memory().unwrap();
/// for id in ["2026/a", "s3:calls/eu/r1", "z/b"] {
///     let meta = br#"{"call":{"id":"c"},"recording":{"started_utc":"2026-03-02T09:30:00Z"}}"#;
///     c.upsert(&RecordingEntry::from_files(id, Some(meta), None, &[]).unwrap(), "").unwrap();
/// }
/// assert_eq!(catalog::local_ids(&mut c).unwrap(), vec!["2026/a", "z/b"]);
/// assert_eq!(catalog::prefix_ids(&mut c, "s3:calls/eu/").unwrap(), vec!["s3:calls/eu/r1"]);
/// ```
///
/// # Errors
/// [`CatalogError::Database`].
pub fn local_ids(store: &mut dyn CatalogStore) -> Result<Vec<String>, CatalogError> {
    let mut ids = store.ids_range("", Some(BUCKET_ID_SCHEME))?;
    ids.extend(store.ids_range(&successor(BUCKET_ID_SCHEME), None)?);
    Ok(ids)
}

/// Every catalogued id starting with `prefix`, in byte order.
///
/// # Errors
/// [`CatalogError::Database`].
pub fn prefix_ids(store: &mut dyn CatalogStore, prefix: &str) -> Result<Vec<String>, CatalogError> {
    if prefix.is_empty() {
        return store.ids();
    }
    store.ids_range(prefix, Some(&successor(prefix)))
}

/// The smallest string greater than every string starting with `prefix` (its last character incremented;
/// the prefixes used here are ASCII).
fn successor(prefix: &str) -> String {
    let mut s: Vec<char> = prefix.chars().collect();
    while let Some(c) = s.pop() {
        if let Some(n) = char::from_u32(c as u32 + 1) {
            s.push(n);
            return s.into_iter().collect();
        }
    }
    String::from(char::MAX)
}

/// How deep under the root recording folders are looked for.
pub const MAX_DEPTH: usize = 6;

/// What one scan did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Folders (re)indexed.
    pub indexed: u64,
    /// Folders already indexed as they are.
    pub unchanged: u64,
    /// Catalogue entries whose folder is gone (removed from the catalogue; listed here by id).
    pub removed: Vec<String>,
    /// Folders that could not be indexed, with why.
    pub failed: Vec<(String, String)>,
    /// Recordings indexed from part of their files (e.g. a bucket recording whose `metadata.json` could not
    /// be read back: found by its manifest only), with why.
    pub partial: Vec<(String, String)>,
}

/// Walks `root` and brings the catalogue up to date. Entries of recordings in an object store
/// ([`is_bucket_id`]) are not this walk's: it never removes them.
///
/// # Errors
/// [`CatalogError::Io`] when the root cannot be read, [`CatalogError::Database`] when the catalogue fails;
/// a folder that cannot be read is listed in [`ScanReport::failed`] and the scan goes on.
pub fn scan_root(root: &Path, store: &mut dyn CatalogStore) -> Result<ScanReport, CatalogError> {
    let (report, found) = scan_only(root, store)?;
    let mut report = report;
    for id in local_ids(store)? {
        if found.binary_search(&id).is_err() && store.remove(&id)? {
            report.removed.push(id);
        }
    }
    Ok(report)
}

/// [`scan_root`] for a catalogue several nodes share (PostgreSQL): new and changed folders under this root
/// are indexed, but nothing is removed — an entry this root does not hold may be another node's. Each node's
/// root must then give its recordings paths no other node's root gives (e.g. one folder per node).
///
/// # Errors
/// As [`scan_root`].
pub fn scan_root_shared(
    root: &Path,
    store: &mut dyn CatalogStore,
) -> Result<ScanReport, CatalogError> {
    scan_only(root, store).map(|(r, _)| r)
}

fn scan_only(
    root: &Path,
    store: &mut dyn CatalogStore,
) -> Result<(ScanReport, Vec<String>), CatalogError> {
    let mut report = ScanReport::default();
    let mut found: Vec<String> = Vec::new();
    std::fs::read_dir(root).map_err(|e| CatalogError::Io(format!("{}: {e}", root.display())))?;
    walk(root, root, 0, store, &mut report, &mut found)?;
    found.sort();
    Ok((report, found))
}

/// Indexes one recording folder (`dir` under `root`) now, whatever its stamp: what a recorder calls as a
/// recording closes.
///
/// # Errors
/// As [`crate::read_folder`], and [`CatalogError::Database`].
pub fn index_folder(
    root: &Path,
    dir: &Path,
    store: &mut dyn CatalogStore,
) -> Result<(), CatalogError> {
    let id = relative_id(root, dir)?;
    let entry = read_folder(dir, &id)?;
    store.upsert(&entry, &stamp_of(dir))
}

fn relative_id(root: &Path, dir: &Path) -> Result<String, CatalogError> {
    let rel = dir.strip_prefix(root).map_err(|_| {
        CatalogError::Io(format!("{} is not under {}", dir.display(), root.display()))
    })?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        return Err(CatalogError::Io(format!(
            "{}: the root itself is not a recording",
            dir.display()
        )));
    }
    Ok(parts.join("/"))
}

/// Sizes and modification times of the files an entry is read from: a change means re-index.
fn stamp_of(dir: &Path) -> String {
    let mut s = String::new();
    for name in ["manifest.json", "metadata.json", "manifest.journal"] {
        match std::fs::metadata(dir.join(name)) {
            Ok(m) => {
                let t = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                s.push_str(&format!("{name}:{}:{t};", m.len()));
            }
            Err(_) => s.push_str(&format!("{name}:-;")),
        }
    }
    s
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    store: &mut dyn CatalogStore,
    report: &mut ScanReport,
    found: &mut Vec<String>,
) -> Result<(), CatalogError> {
    if depth > 0 && (dir.join("manifest.json").is_file() || dir.join("manifest.journal").is_file())
    {
        let id = relative_id(root, dir)?;
        found.push(id.clone());
        let stamp = stamp_of(dir);
        if store.stamp(&id)?.as_deref() == Some(stamp.as_str()) {
            report.unchanged += 1;
            return Ok(());
        }
        match read_folder(dir, &id) {
            Ok(entry) => {
                store.upsert(&entry, &stamp)?;
                report.indexed += 1;
            }
            Err(e) => report.failed.push((id, e.to_string())),
        }
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        report
            .failed
            .push((dir.display().to_string(), "cannot list the folder".into()));
        return Ok(());
    };
    let mut subdirs: Vec<_> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    for d in subdirs {
        walk(root, &d, depth + 1, store, report, found)?;
    }
    Ok(())
}

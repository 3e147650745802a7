//! Recordings in an object store (`verbatim serve --store s3://BUCKET/PREFIX`): the review host catalogues
//! every recording under the prefix — recorder nodes upload there while they record (`docs/storage.md`) —
//! and plays, verifies and exports them from a local copy replayed from the bucket on first use.
//!
//! Indexing reads only what search needs ([`store::Bucket::catalog_files`]: `manifest.json` and the
//! `metadata.json` region of the last segments, checked against the manifest's SHA-256). The entries' ids are
//! [`catalog::bucket_id`]s (`s3:BUCKET/PREFIX/NAME`), which a root scan never removes. Opening one replays the
//! recording's object log ([`store::Bucket::replay`], refusing a gap or a replaced segment) into
//! `.console/bucket/<sha256 of id>/<state>/` (a new copy when the bucket changes: closed, recovered); the
//! verdict is then the ordinary verification of that replay, so what the officer plays is what the bucket
//! holds.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use catalog::{CatalogStore, RecordingEntry, ScanReport};
use store::{Bucket, BucketState, StoreConfig};

use crate::{sha256_hex, Console, ConsoleError};

/// Largest sealed `metadata.json` decrypted for the catalogue.
const MAX_METADATA: u64 = 64 << 20;

/// The bucket connection, made on first use on a blocking thread (it runs its own small runtime) and
/// dropped on a thread of its own (a runtime must not be dropped inside an async context).
#[derive(Default)]
pub(crate) struct BucketConn {
    conn: Mutex<Option<Bucket>>,
    /// One replay at a time (two pages opening the same recording must not replay it twice at once).
    replaying: Mutex<()>,
}

impl Drop for BucketConn {
    fn drop(&mut self) {
        if let Ok(mut c) = self.conn.lock() {
            if let Some(b) = c.take() {
                let _ = std::thread::spawn(move || drop(b)).join();
            }
        }
    }
}

fn s3_err(e: store::StoreError) -> ConsoleError {
    ConsoleError::Io(format!("object store: {e}"))
}

impl BucketConn {
    fn with<T>(
        &self,
        cfg: &StoreConfig,
        f: impl FnOnce(&Bucket) -> Result<T, ConsoleError>,
    ) -> Result<T, ConsoleError> {
        let mut guard = self.conn.lock().map_err(|_| ConsoleError::Poisoned)?;
        if guard.is_none() {
            *guard = Some(Bucket::connect(cfg).map_err(s3_err)?);
        }
        match guard.as_ref() {
            Some(b) => f(b),
            None => Err(ConsoleError::Poisoned),
        }
    }
}

/// The id prefix of this console's store: `s3:BUCKET/PREFIX/`.
fn id_prefix(cfg: &StoreConfig) -> String {
    catalog::bucket_id(&cfg.url.bucket, &cfg.url.prefix, "")
}

/// Brings the catalogue up to date with the bucket prefix: new and changed recordings indexed; with a
/// catalogue of its own (not shared), entries of this prefix no longer in the bucket removed.
pub(crate) fn scan_bucket(
    console: &Console,
    cfg: &StoreConfig,
    store: &mut dyn CatalogStore,
    shared: bool,
) -> Result<ScanReport, ConsoleError> {
    let mut report = ScanReport::default();
    let listed = console
        .bucket
        .with(cfg, |b| b.recordings(&cfg.url).map_err(s3_err))?;
    let mut found: Vec<String> = Vec::with_capacity(listed.len());
    for rec in &listed {
        let id = catalog::bucket_id(&cfg.url.bucket, &cfg.url.prefix, &rec.name);
        found.push(id.clone());
        if store.stamp(&id)?.as_deref() == Some(rec.stamp.as_str()) {
            report.unchanged += 1;
            continue;
        }
        let files = console.bucket.with(cfg, |b| {
            b.catalog_files(&cfg.url.join(&rec.name), rec.state)
                .map_err(s3_err)
        });
        let files = match files {
            Ok(f) => f,
            Err(e) => {
                report.failed.push((id, e.to_string()));
                continue;
            }
        };
        if let Some(note) = &files.note {
            report
                .partial
                .push((id.clone(), format!("from its manifest only: {note}")));
        }
        match entry_of(console, &id, &files, rec.state) {
            Ok(entry) => {
                store.upsert(&entry, &rec.stamp)?;
                report.indexed += 1;
            }
            Err(e) => report.failed.push((id, e.to_string())),
        }
    }
    if !shared {
        found.sort();
        let mine = id_prefix(cfg);
        for id in catalog::prefix_ids(store, &mine)? {
            if found.binary_search(&id).is_err() && store.remove(&id)? {
                report.removed.push(id);
            }
        }
    }
    Ok(report)
}

/// The catalogue entry of a bucket recording (its sealed `metadata.json` decrypted when the console holds
/// the identity).
fn entry_of(
    console: &Console,
    id: &str,
    files: &store::CatalogFiles,
    state: BucketState,
) -> Result<RecordingEntry, ConsoleError> {
    let sealed = files
        .metadata
        .as_deref()
        .is_some_and(|m| m.starts_with(b"VBSEAL"));
    let plain = match (sealed, console.identity.as_ref(), files.metadata.as_deref()) {
        (true, Some(ids), Some(m)) => seal::replay_to_vec(m, ids, MAX_METADATA).ok(),
        _ => None,
    };
    let metadata = plain.as_deref().or(files.metadata.as_deref());
    let mut e = RecordingEntry::from_files(id, metadata, files.manifest.as_deref(), &files.stems)?;
    e.encrypted |= sealed;
    // Without a manifest in the bucket the entry says `recording`: still recording, or its recorder died
    // (`verbatim recover s3://…` seals it). No node holds it: any console reading this store serves it.
    if state == BucketState::Open {
        // The stand-in manifest (id and start from the journal) is not a closing one.
        e.closed = false;
        e.status = "recording".into();
    }
    e.node = None;
    Ok(e)
}

/// The local copy of a bucket recording, replayed from the bucket on first use (see the module's docs).
///
/// # Errors
/// [`ConsoleError::NotOnThisHost`] for a recording of a store this console does not read; replay failures
/// (a gap, a replaced segment, the store unreachable) as [`ConsoleError::Io`].
pub(crate) fn local_copy(console: &Console, id: &str) -> Result<PathBuf, ConsoleError> {
    let Some(cfg) = console.config.store.as_ref() else {
        return Err(ConsoleError::NotOnThisHost(format!(
            "{id}: held in an object store, and this console reads none (serve --store s3://…)"
        )));
    };
    let Some(name) = id.strip_prefix(&id_prefix(cfg)).filter(|n| !n.is_empty()) else {
        return Err(ConsoleError::NotOnThisHost(format!(
            "{id}: held in an object store other than this console's ({})",
            cfg.url
        )));
    };
    let stamp = console.catalog()?.stamp(id)?.unwrap_or_default();
    let (base, out, done) = copy_paths(console, id, &stamp);
    if done.exists() {
        // Used now: the last to be evicted.
        touch(&done);
        return Ok(out);
    }
    let _one = console
        .bucket
        .replaying
        .lock()
        .map_err(|_| ConsoleError::Poisoned)?;
    if done.exists() {
        return Ok(out);
    }
    // Copies of earlier states of the recording (before its close or its recovery) are stale.
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)
        .map_err(|x| ConsoleError::Io(format!("{}: {x}", base.display())))?;
    let report = console.bucket.with(cfg, |b| {
        b.replay(&cfg.url.join(name), &out).map_err(|e| {
            let _ = std::fs::remove_dir_all(&out);
            // Nothing of this recording is left (its folder, empty now, goes too).
            let _ = std::fs::remove_dir(&base);
            ConsoleError::Io(format!("{id}: not replayed from {}: {e}", cfg.url))
        })
    })?;
    std::fs::write(&done, report.to_text())
        .map_err(|x| ConsoleError::Io(format!("{}: {x}", done.display())))?;
    let copies = console.config.state_dir.join("bucket");
    let evicted = evict(&copies, console.config.store_cache_bytes, &base);
    if evicted > 0 {
        eprintln!(
            "verbatim serve: {evicted} replayed recording copies removed from {} (over --store-cache)",
            copies.display()
        );
    }
    Ok(out)
}

pub(crate) fn touch(path: &Path) {
    if let Ok(f) = std::fs::OpenOptions::new().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// Bytes under `dir` (files only, links not followed).
fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => size_of(&e.path()),
                Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
                _ => 0,
            })
            .sum()
    })
}

/// Removes the least recently used recordings' copies under `copies` (one folder per recording, the
/// modification times of its marks — `*.replayed` beside a bucket recording's copies, `.decrypted` inside a
/// decrypted copy — saying when it was last used) until they take at most `limit` bytes. `keep` (the copy
/// just made) and folders without a mark (a copy being made) are never removed. Returns how many were.
pub(crate) fn evict(copies: &Path, limit: u64, keep: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(copies) else {
        return 0;
    };
    let mut all: Vec<(std::time::SystemTime, u64, PathBuf)> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let dir = e.path();
            let used = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|m| {
                    let n = m.file_name();
                    let n = n.to_string_lossy();
                    n.ends_with(".replayed") || n == ".decrypted"
                })
                .filter_map(|m| m.metadata().ok()?.modified().ok())
                .max()?;
            Some((used, size_of(&dir), dir))
        })
        .collect();
    let mut total: u64 = all.iter().map(|(_, n, _)| n).sum();
    all.sort();
    let mut removed = 0;
    for (_, n, dir) in all {
        if total <= limit {
            break;
        }
        if dir == keep {
            continue;
        }
        if std::fs::remove_dir_all(&dir).is_ok() {
            total = total.saturating_sub(n);
            removed += 1;
        }
    }
    removed
}

/// The recording's folder of copies (`.console/bucket/<sha256 of id>/`), its copy of the bucket's state
/// the catalogue `stamp` names, and the mark written beside the copy once it is whole (beside, not inside:
/// verification would count a file inside as added to the recording).
fn copy_paths(console: &Console, id: &str, stamp: &str) -> (PathBuf, PathBuf, PathBuf) {
    let base = console
        .config
        .state_dir
        .join("bucket")
        .join(sha256_hex(id.as_bytes()));
    let name = sha256_hex(stamp.as_bytes());
    let name = name.get(..16).unwrap_or(&name);
    let out = base.join(name);
    let done = base.join(format!("{name}.replayed"));
    (base, out, done)
}

/// The store a bucket recording came from and how it was replayed, for its verdict.
pub(crate) fn provenance(console: &Console, id: &str) -> Option<String> {
    let cfg = console.config.store.as_ref()?;
    let name = id.strip_prefix(&id_prefix(cfg))?;
    let stamp = console.catalog().ok()?.stamp(id).ok()?.unwrap_or_default();
    let (_, _, done) = copy_paths(console, id, &stamp);
    let how = std::fs::read_to_string(done).unwrap_or_default();
    Some(format!("{} ({how})", cfg.url.join(name)))
}

/// The id of a copy of `e` — a recording another node holds — in this console's object store (the same call
/// id and leg under its prefix), so its page can send the officer there.
pub(crate) fn copy_of(
    console: &Console,
    e: &RecordingEntry,
) -> Result<Option<String>, ConsoleError> {
    let Some(cfg) = console.config.store.as_ref() else {
        return Ok(None);
    };
    if catalog::is_bucket_id(&e.id) || e.call_id.is_empty() {
        return Ok(None);
    }
    let mine = id_prefix(cfg);
    let q = catalog::Query::from_pairs([("call_id", e.call_id.as_str())])?;
    let page = console.catalog()?.search(&q)?;
    Ok(page
        .recordings
        .into_iter()
        .find(|r| r.id.starts_with(&mine) && r.leg == e.leg)
        .map(|r| r.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_copies_go_first_and_the_new_one_stays() {
        let dir = std::env::temp_dir().join(format!("verbatim-evict-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let mut recs = Vec::new();
        for (i, age_s) in [(0, 300u64), (1, 100), (2, 200), (3, 0)] {
            let rec = dir.join(format!("rec{i}"));
            std::fs::create_dir_all(rec.join("abc")).unwrap();
            std::fs::write(rec.join("abc").join("mixed.wav"), vec![0u8; 1000]).unwrap();
            let mark = rec.join("abc.replayed");
            std::fs::write(&mark, b"replayed").unwrap();
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open(&mark)
                .unwrap();
            f.set_modified(t0 + std::time::Duration::from_secs(3600 - age_s))
                .unwrap();
            recs.push(rec);
        }
        // Each takes 1,008 bytes; room for two: the two least recently used go (rec0, then rec2).
        assert_eq!(evict(&dir, 2_100, &recs[3]), 2);
        let left: Vec<bool> = recs.iter().map(|r| r.exists()).collect();
        assert_eq!(left, [false, true, false, true]);
        // The one just made stays even when it alone is over the limit; so does one being made (no mark).
        let making = dir.join("in-progress");
        std::fs::create_dir_all(&making).unwrap();
        std::fs::write(making.join("mixed.wav"), vec![0u8; 5000]).unwrap();
        assert_eq!(evict(&dir, 10, &recs[3]), 1);
        assert!(recs[3].exists() && !recs[1].exists() && making.exists());
        // A decrypted copy's mark is inside it.
        let plain = dir.join("plain-copy");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.join(".decrypted"), b"").unwrap();
        std::fs::write(plain.join("mixed.wav"), vec![0u8; 5000]).unwrap();
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(plain.join(".decrypted"))
            .unwrap();
        f.set_modified(t0).unwrap();
        assert_eq!(evict(&dir, 10, &recs[3]), 1);
        assert!(!plain.exists() && making.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

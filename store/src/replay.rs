//! Reading a recording back from the bucket: its segments in order (sequence numbers without gaps, each
//! naming the previous object's SHA-256) replayed into a folder — `manifest.journal` and every file's
//! regions — and its `manifest.json` when it was closed; or the folder a `recover` uploaded under
//! `recovered/`. The existing `verify`/`recover` then run on that folder.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use muxer::integrity::manifest::{parse_journal, JournalLine};
use muxer::integrity::Entry;

use crate::bucket::Bucket;
use crate::config::StoreUrl;
use crate::segment::{object_sha256, segment_name, PartRole, Segment};
use crate::tail::safe_rel;
use crate::StoreError;

/// The prefix (inside a recording's) a recovery's folder is uploaded under.
pub const RECOVERED_DIR: &str = "recovered";

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments replayed.
    pub segments: u64,
    /// Bytes of `manifest.journal` replayed.
    pub journal_bytes: u64,
    /// The recording was closed (`manifest.json` in the bucket, written into the folder).
    pub closed: bool,
    /// Header regions replayed as they were at upload time (rewritten since their record).
    pub stale_headers: u64,
    /// Data regions the uploader found not matching their record (the replay will not verify).
    pub mismatches: u64,
    /// The folder came from `recovered/` (a recovery's upload), not from the segments.
    pub from_recovery: bool,
}

impl ReplayReport {
    /// One line.
    pub fn to_text(&self) -> String {
        if self.from_recovery {
            return "replayed the recovered folder (recovered/)".into();
        }
        format!(
            "replayed {} segments ({} journal bytes), {}",
            self.segments,
            self.journal_bytes,
            if self.closed {
                "closed (manifest.json present)"
            } else {
                "NOT closed (no manifest.json: the recorder did not finish; `verbatim recover s3://…` seals it)"
            }
        )
    }
}

fn write_at(dir: &Path, rel: &str, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
    if !safe_rel(rel) {
        return Err(StoreError::BadSegment(format!("unsafe path {rel:?}")));
    }
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| StoreError::Local(format!("{}: {e}", parent.display())))?;
    }
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&p)
        .map_err(|e| StoreError::Local(format!("{}: {e}", p.display())))?;
    f.write_all_at(bytes, offset)
        .map_err(|e| StoreError::Local(format!("{}: {e}", p.display())))
}

impl Bucket {
    /// Replays the recording at `rec` into the empty (or new) folder `into`: the recovered folder when a
    /// recovery uploaded one, else the segments and `manifest.json`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] (no segment), [`StoreError::Gap`] (a missing or replaced segment),
    /// [`StoreError::BadSegment`], [`StoreError::S3`], [`StoreError::Local`].
    pub fn replay(&self, rec: &StoreUrl, into: &Path) -> Result<ReplayReport, StoreError> {
        fs::create_dir_all(into)
            .map_err(|e| StoreError::Local(format!("{}: {e}", into.display())))?;
        let recovered = rec.join(RECOVERED_DIR);
        if self
            .get(&recovered.key(muxer::recording::MANIFEST_FILE))?
            .is_some()
        {
            self.download_dir(&recovered, into)?;
            return Ok(ReplayReport {
                segments: 0,
                journal_bytes: 0,
                closed: true,
                stale_headers: 0,
                mismatches: 0,
                from_recovery: true,
            });
        }
        self.replay_segments(rec, into)
    }

    /// Replays only the segments (and `manifest.json`) of `rec` into `into`, ignoring any recovered copy.
    ///
    /// # Errors
    /// As [`Self::replay`].
    pub fn replay_segments(&self, rec: &StoreUrl, into: &Path) -> Result<ReplayReport, StoreError> {
        let seg_prefix = rec.key("seg/");
        let listed = self.list(&seg_prefix)?;
        if listed.is_empty() {
            return Err(StoreError::NotFound(format!(
                "{rec}: no segments under {seg_prefix}"
            )));
        }
        let mut report = ReplayReport {
            segments: 0,
            journal_bytes: 0,
            closed: false,
            stale_headers: 0,
            mismatches: 0,
            from_recovery: false,
        };
        let mut prev: Option<String> = None;
        let mut last = false;
        let mut journal = Vec::new();
        for (i, o) in listed.iter().enumerate() {
            let want = rec.key(&segment_name(i as u64));
            if o.key != want {
                return Err(StoreError::Gap(format!(
                    "expected {want}, found {} (a segment is missing)",
                    o.key
                )));
            }
            let bytes = self
                .get(&o.key)?
                .ok_or_else(|| StoreError::Gap(format!("{} listed but not readable", o.key)))?;
            let seg = Segment::decode(&bytes)?;
            let h = &seg.header;
            if h.seq != i as u64 || h.prev != prev || h.journal_offset != journal.len() as u64 {
                return Err(StoreError::Gap(format!(
                    "{}: sequence {} / previous object {:?} / journal offset {} do not follow segment {} \
                     (expected previous {:?}, offset {})",
                    o.key,
                    h.seq,
                    h.prev,
                    h.journal_offset,
                    i as i64 - 1,
                    prev,
                    journal.len()
                )));
            }
            if last {
                return Err(StoreError::Gap(format!(
                    "{}: a segment after the last one",
                    o.key
                )));
            }
            last = h.last;
            prev = Some(object_sha256(&bytes));
            journal.extend_from_slice(&seg.journal);
            for (p, b) in &seg.parts {
                match p.role {
                    PartRole::StaleHeader => report.stale_headers += 1,
                    PartRole::Mismatch => report.mismatches += 1,
                    _ => {}
                }
                write_at(into, &p.path, p.offset, b)?;
            }
            report.segments += 1;
        }
        // Every file the journal names exists (empty when none of its bytes came): a missing file would be
        // reported as deleted.
        for line in parse_journal(&journal).0 {
            if let JournalLine::Entry(Entry::File { path, .. }) = line {
                write_at(into, &path, 0, &[])?;
            }
        }
        report.journal_bytes = journal.len() as u64;
        let manifest = self.get(&rec.key(muxer::recording::MANIFEST_FILE))?;
        match manifest {
            Some(m) => {
                if !last {
                    return Err(StoreError::Gap(format!(
                        "{rec}: manifest.json present but the last segment is missing"
                    )));
                }
                fs::write(into.join(muxer::recording::MANIFEST_FILE), m)
                    .map_err(|e| StoreError::Local(format!("manifest.json: {e}")))?;
                report.closed = true;
            }
            None => {
                fs::write(into.join(muxer::recording::JOURNAL_FILE), &journal)
                    .map_err(|e| StoreError::Local(format!("manifest.journal: {e}")))?;
            }
        }
        Ok(report)
    }

    /// Uploads every file of `dir` under `at` as new locked objects; refuses when `at` already holds objects
    /// (nothing is ever overwritten). Returns the number of objects.
    ///
    /// # Errors
    /// [`StoreError::Exists`], [`StoreError::S3`], [`StoreError::Local`].
    pub fn upload_dir(&self, dir: &Path, at: &StoreUrl) -> Result<usize, StoreError> {
        if !self.list(&format!("{}/", at.prefix))?.is_empty() {
            return Err(StoreError::Exists(at.to_string()));
        }
        let mut files = Vec::new();
        collect_files(dir, dir, &mut files)?;
        // manifest.json last: its presence says the folder is whole.
        files.sort_by_key(|r| (r == muxer::recording::MANIFEST_FILE, r.clone()));
        for rel in &files {
            let bytes =
                fs::read(dir.join(rel)).map_err(|e| StoreError::Local(format!("{rel}: {e}")))?;
            self.put_locked(&at.key(rel), &bytes)?;
        }
        Ok(files.len())
    }

    /// Downloads every object under `at` into `into` (relative keys as paths).
    fn download_dir(&self, at: &StoreUrl, into: &Path) -> Result<(), StoreError> {
        let prefix = format!("{}/", at.prefix);
        for o in self.list(&prefix)? {
            let rel = &o.key[prefix.len()..];
            let bytes = self
                .get(&o.key)?
                .ok_or_else(|| StoreError::Gap(format!("{} listed but not readable", o.key)))?;
            write_at(into, rel, 0, &bytes)?;
        }
        Ok(())
    }
}

fn collect_files(root: &Path, d: &Path, out: &mut Vec<String>) -> Result<(), StoreError> {
    let rd = fs::read_dir(d).map_err(|e| StoreError::Local(format!("{}: {e}", d.display())))?;
    for e in rd {
        let e = e.map_err(|e| StoreError::Local(e.to_string()))?;
        let p = e.path();
        let t = e
            .file_type()
            .map_err(|e| StoreError::Local(e.to_string()))?;
        if t.is_dir() {
            collect_files(root, &p, out)?;
        } else if t.is_file() {
            if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(())
}

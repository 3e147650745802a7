//! Closes a recording folder after a crash.
//!
//! `kill -9` (or a power loss) leaves `manifest.journal` without `manifest.json`. [`recover_dir`]:
//!
//! 1. reads the journal's complete lines (a torn last line is ignored) and replays the chain records in order,
//!    keeping every record whose `data` region is present in its file, contiguous with what is kept of that file,
//!    with the recorded SHA-256 (after a power loss the tail of a file may be missing: that file is then kept up
//!    to its last intact region, other files are not affected);
//! 2. cuts every file back to the end of the regions kept (the fragment / WAV chunk in progress is dropped);
//! 3. rewrites every WAV header from the new length (RF64 if needed) and every MP4's init segment with its true
//!    durations and seek index from the fragments kept ([`crate::fmp4::index::finalize_file`]), linking the
//!    new headers with `header` records;
//! 4. appends status `interrupted`, signs with the installation key (it must be the key the journal names),
//!    writes `manifest.json`, removes the journal, and runs [`crate::verify::verify_dir`].
//!
//! If `manifest.json` already exists (a crash after the rename), only the stale journal is removed.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::integrity::chain::{signing_message, Chain};
use crate::integrity::manifest::{parse_journal, HexBytes, JournalLine};
use crate::integrity::{Entry, FileKind, Manifest, SigRecord, Status};
use crate::recording::{
    check_rel_path, sync_dir, write_manifest, RecordingError, JOURNAL_FILE, MANIFEST_FILE,
    MANIFEST_TMP_FILE,
};
use crate::verify::{verify_dir, VerifyError, VerifyReport};
use crate::wav;

/// What recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoverAction {
    /// The folder was already closed; nothing changed.
    AlreadyClosed,
    /// The folder was closed but a stale journal was left; it was removed.
    StaleJournalRemoved,
    /// The folder was closed from its journal with status `interrupted`.
    Closed,
}

/// A recovery's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverReport {
    /// What was done.
    pub action: RecoverAction,
    /// Chain records kept from the journal.
    pub kept_entries: u64,
    /// Chain records in the journal that were dropped (their bytes were not on disk).
    pub dropped_entries: u64,
    /// Per file: relative path, length before, length after.
    pub files: Vec<(String, u64, u64)>,
    /// The verification of the closed folder.
    pub verify: VerifyReport,
}

/// Why a folder could not be recovered.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// Neither a journal nor a manifest.
    #[error("{0}: no manifest.journal or manifest.json: not a recording folder")]
    NotARecording(PathBuf),
    /// The journal has no valid first line.
    #[error("manifest.journal has no valid begin line")]
    JournalUnreadable,
    /// The key given is not the one the journal was started with.
    #[error("the signing key is not the recording's key ({0})")]
    WrongKey(String),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Writing the manifest failed.
    #[error(transparent)]
    Write(#[from] RecordingError),
    /// The recovered folder does not verify (a bug, or files altered beyond the journal).
    #[error("recovered folder does not verify: {0}")]
    Verify(#[from] VerifyError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RecoverError + '_ {
    move |source| RecoverError::Io {
        path: path.to_path_buf(),
        source,
    }
}

struct FileState {
    path: String,
    kind: FileKind,
    len: u64,
    end: u64,
}

fn region_matches(path: &Path, offset: u64, len: u64, digest: &[u8; 32]) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return false;
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = buf.len().min(left as usize);
        if f.read_exact(&mut buf[..n]).is_err() {
            return false;
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    h.finalize().as_slice() == digest
}

/// Recovers the folder `dir` with the installation's signing key (see the module docs).
///
/// # Errors
/// [`RecoverError`].
pub fn recover_dir(dir: &Path, key: &SigningKey) -> Result<RecoverReport, RecoverError> {
    let jpath = dir.join(JOURNAL_FILE);
    let mpath = dir.join(MANIFEST_FILE);
    let tmp = dir.join(MANIFEST_TMP_FILE);
    let pk = key.verifying_key();
    if !jpath.exists() {
        if !mpath.exists() {
            return Err(RecoverError::NotARecording(dir.to_path_buf()));
        }
        let verify = verify_dir(dir, Some(&pk))?;
        return Ok(RecoverReport {
            action: RecoverAction::AlreadyClosed,
            kept_entries: verify.entries,
            dropped_entries: 0,
            files: Vec::new(),
            verify,
        });
    }
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(io_at(&tmp))?;
    }
    if mpath.exists() {
        fs::remove_file(&jpath).map_err(io_at(&jpath))?;
        sync_dir(dir).map_err(io_at(dir))?;
        let verify = verify_dir(dir, Some(&pk))?;
        return Ok(RecoverReport {
            action: RecoverAction::StaleJournalRemoved,
            kept_entries: verify.entries,
            dropped_entries: 0,
            files: Vec::new(),
            verify,
        });
    }
    let bytes = fs::read(&jpath).map_err(io_at(&jpath))?;
    let (lines, _) = parse_journal(&bytes);
    let mut lines = lines.into_iter();
    let Some(JournalLine::Begin(begin)) = lines.next() else {
        return Err(RecoverError::JournalUnreadable);
    };
    if begin.public_key.0 != pk.to_bytes() {
        return Err(RecoverError::WrongKey(crate::integrity::hex::encode(
            &begin.public_key.0,
        )));
    }
    let mut entries = Vec::new();
    let mut sigs = Vec::new();
    let mut journal_entries = 0u64;
    let mut files: Vec<FileState> = Vec::new();
    let mut chain = Chain::new(&begin.recording_id, begin.start_utc_ms, &begin.public_key.0);
    let mut heads: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    let mut last_at = 0i64;
    for line in lines {
        match line {
            // A second begin line cannot be written by the recorder: ignore it.
            JournalLine::Begin(_) => {}
            JournalLine::Sig(s) => {
                last_at = last_at.max(s.at);
                sigs.push(s);
            }
            JournalLine::Entry(e) => {
                journal_entries += 1;
                // A record whose bytes are not on disk (or not contiguous with what is kept) is skipped; the
                // records of other files go on being kept.
                if !accept(dir, &e, &mut files) {
                    continue;
                }
                if let Entry::Status { at, .. } = &e {
                    last_at = last_at.max(*at);
                }
                chain.push(&e);
                heads.insert(chain.count, chain.head);
                entries.push(e);
            }
        }
    }
    // Keep the signatures whose head is on the rebuilt chain (those before the first skipped record).
    sigs.retain(|s| heads.get(&s.entries) == Some(&s.head.0));
    let mut report_files = Vec::new();
    for (id, f) in files.iter().enumerate() {
        let abs = dir.join(&f.path);
        let new_len = f.end;
        if abs.exists() {
            let h = OpenOptions::new()
                .write(true)
                .open(&abs)
                .map_err(io_at(&abs))?;
            h.set_len(new_len).map_err(io_at(&abs))?;
            h.sync_all().map_err(io_at(&abs))?;
        } else {
            File::create(&abs).map_err(io_at(&abs))?;
        }
        report_files.push((f.path.clone(), f.len, new_len));
        if let Some(header) = fix_header(&abs, f.kind, new_len, &entries, id as u32)? {
            let e = Entry::Header {
                file: id as u32,
                offset: 0,
                len: header.len() as u64,
                sha256: HexBytes(Sha256::digest(&header).into()),
            };
            chain.push(&e);
            entries.push(e);
        }
    }
    let note = format!(
        "recovered after a crash: {} of {} journal records kept",
        heads.len(),
        journal_entries
    );
    let e = Entry::Status {
        at: last_at,
        status: Status::Interrupted,
        note,
    };
    chain.push(&e);
    entries.push(e);
    let sig = key.sign(&signing_message(chain.count, &chain.head));
    sigs.push(SigRecord {
        entries: chain.count,
        head: HexBytes(chain.head),
        signature: HexBytes(sig.to_bytes()),
        at: last_at,
    });
    let manifest = Manifest::build(&begin, entries, sigs);
    write_manifest(dir, &manifest)?;
    fs::remove_file(&jpath).map_err(io_at(&jpath))?;
    sync_dir(dir).map_err(io_at(dir))?;
    let verify = verify_dir(dir, Some(&pk))?;
    Ok(RecoverReport {
        action: RecoverAction::Closed,
        kept_entries: heads.len() as u64,
        dropped_entries: journal_entries - heads.len() as u64,
        files: report_files,
        verify,
    })
}

/// Decides whether a journal record can be kept, updating the per-file state.
fn accept(dir: &Path, e: &Entry, files: &mut Vec<FileState>) -> bool {
    match e {
        Entry::File { file, path, kind } => {
            if *file as usize != files.len()
                || check_rel_path(path).is_err()
                || files.iter().any(|f| &f.path == path)
            {
                return false;
            }
            let len = fs::metadata(dir.join(path)).map(|m| m.len()).unwrap_or(0);
            files.push(FileState {
                path: path.clone(),
                kind: *kind,
                len,
                end: 0,
            });
            true
        }
        Entry::Data {
            file,
            offset,
            len,
            sha256,
        } => {
            let Some(f) = files.get_mut(*file as usize) else {
                return false;
            };
            // Data is appended: it must start where the covered part ends.
            if *offset != f.end || !region_matches(&dir.join(&f.path), *offset, *len, &sha256.0) {
                return false;
            }
            f.end = offset + len;
            true
        }
        Entry::Header {
            file, offset, len, ..
        } => {
            let Some(f) = files.get_mut(*file as usize) else {
                return false;
            };
            // Headers are rewritten in place later; recovery writes and links the final header itself.
            if *offset != 0 || offset + len > f.len {
                return false;
            }
            f.end = f.end.max(offset + len);
            true
        }
        Entry::Status { .. } => true,
    }
}

/// Rewrites a file's header after the cut; returns the new header bytes to link.
fn fix_header(
    abs: &Path,
    kind: FileKind,
    len: u64,
    entries: &[Entry],
    id: u32,
) -> Result<Option<Vec<u8>>, RecoverError> {
    match kind {
        FileKind::Whole => Ok(None),
        FileKind::Wav => {
            if len < wav::HEADER_LEN {
                return Ok(None);
            }
            let plan = wav::recover_wav(abs).map_err(|e| RecoverError::Io {
                path: abs.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
            })?;
            Ok(Some(plan.header))
        }
        FileKind::Mp4 => {
            let init_len = entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Header {
                        file,
                        offset: 0,
                        len,
                        ..
                    } if *file == id => Some(*len),
                    _ => None,
                })
                .next_back();
            let Some(init_len) = init_len.filter(|l| *l <= len) else {
                return Ok(None);
            };
            // True durations and the seek index, from the fragments kept (the init keeps its length).
            let fragments: Vec<(u64, u64)> = entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Data {
                        file, offset, len, ..
                    } if *file == id => Some((*offset, *len)),
                    _ => None,
                })
                .collect();
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(abs)
                .map_err(io_at(abs))?;
            crate::fmp4::index::finalize_file(&mut f, init_len, &fragments)
                .map(|(header, _)| Some(header))
                .map_err(|e| RecoverError::Io {
                    path: abs.to_path_buf(),
                    source: io::Error::other(e),
                })
        }
    }
}

//! Closes a recording folder after a crash, without laundering what was altered.
//!
//! `kill -9` (or a power loss) leaves `manifest.journal` without `manifest.json`. [`recover_dir_with`]:
//!
//! 1. refuses a folder holding a symbolic link anywhere inside it (files, folders, the journal): recovery
//!    truncates and rewrites files and must never follow a link out of the folder;
//! 2. authenticates the journal: its signature lines are checked against the chain recomputed from its records
//!    with the public key of its begin line, which must be the recovering key and, when given, a key the caller
//!    trusts ([`RecoverOptions::trust`]). The records up to the last valid signature are the *live-signed*
//!    part;
//! 3. checks every byte range of the live-signed part against the files (every `data` region present with its
//!    SHA-256, every header the recorder's — including an MP4 init segment a power cut tore, sector by sector,
//!    between the header as created and the final one the close was writing; it is put back as created). Anything that differs — or a signature that does not verify —
//!    makes recovery refuse ([`RecoverError::Tampered`], naming the file and byte range) before it changes
//!    anything, unless [`RecoverOptions::accept_tampered`]: the altered ranges are then sealed as they are
//!    and listed in the signed `recovered` record;
//! 4. replays the records in order, keeping every record whose `data` region is present in its file,
//!    contiguous with what is kept of that file, with the recorded SHA-256 (after a crash the tail written after
//!    the last signature may be missing or torn: that file is then kept up to its last intact region, other
//!    files are not affected);
//! 5. cuts every file back to the end of the regions kept (the fragment / WAV chunk in progress is dropped);
//! 6. rewrites every WAV header from the new length (RF64 if needed) and rewrites every MP4's init segment with its true
//!    durations and seek index from the fragments kept ([`crate::fmp4::index::finalize_file`]), linking the new headers with `header` records;
//! 7. appends the `recovered` record (format 2: records signed live, time, sealing key id, accepted
//!    alterations) and status `interrupted`, signs with the installation key, writes `manifest.json`, removes
//!    the journal, and runs [`crate::verify::verify_dir`].
//!
//! If `manifest.json` already exists (a crash after the rename), only the stale journal is removed.
//!
//! [`recover_dir_adding`] lets the caller add whole files before step 4 (e.g. `verbatim recover` rebuilds
//! `metadata.json` from the recovered `timeline.jsonl`): they are written and linked into the chain, so the
//! manifest covers them. Recovery stays re-runnable: a file written by an interrupted recovery but not yet in
//! a manifest is simply written again.
//!
//! # Examples
//! ```
//! use media_core::{AudioFormat, MediaTime};
//! use muxer::recover::{recover_dir_with, RecoverError, RecoverOptions};
//! use muxer::{RecordingOptions, RecordingWriter, Status};
//! let dir = std::env::temp_dir().join(format!("verbatim-doc-recover-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let key = muxer::integrity::generate_signing_key().unwrap();
//! let mut rec = RecordingWriter::create(&dir, key.clone(), RecordingOptions::new("c", 0)).unwrap();
//! let a = rec.add_wav("a.wav", AudioFormat::PCM16K).unwrap();
//! rec.write_pcm(a, &[1i16; 16_000]).unwrap(); // one 1 s chunk
//! rec.sign(MediaTime::from_secs(1)).unwrap();
//! std::mem::forget(rec); // the recorder dies
//! // Someone changes a signed sample before recovery: refused, naming the range.
//! let wav = dir.join("a.wav");
//! let mut bytes = std::fs::read(&wav).unwrap();
//! bytes[1000] ^= 1;
//! std::fs::write(&wav, &bytes).unwrap();
//! let e = recover_dir_with(&dir, &key, &RecoverOptions::default()).unwrap_err();
//! assert!(matches!(e, RecoverError::Tampered { .. }));
//! assert!(e.to_string().contains("a.wav bytes 80..32080"), "{e}");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod journal;
mod live;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::integrity::chain::{signing_message_for, Chain};
use crate::integrity::manifest::{format_version, HexBytes};
use crate::integrity::{
    key_id, Entry, FileKind, Keyring, KeyringError, Manifest, SigRecord, Status,
};
use crate::recording::{
    check_rel_path, sync_dir, write_manifest, RecordingError, JOURNAL_FILE, MANIFEST_FILE,
    MANIFEST_TMP_FILE,
};
use crate::verify::{verify_dir, VerifyError, VerifyReport};
use crate::wav;

use live::{open_nofollow, region_digest};

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
    /// Chain records covered by a signature made while recording (the rest was sealed by recovery).
    pub live_entries: u64,
    /// Altered live-signed ranges accepted with [`RecoverOptions::accept_tampered`] (empty otherwise).
    pub accepted_tampering: Vec<Tampered>,
    /// Per file: relative path, length before, length after.
    pub files: Vec<(String, u64, u64)>,
    /// The verification of the closed folder.
    pub verify: VerifyReport,
}

/// A live-signed range that no longer matches what was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tampered {
    /// Relative path (`manifest.journal` for the journal itself).
    pub path: String,
    /// First byte of the range.
    pub offset: u64,
    /// Length of the range (0: the whole file or a journal line).
    pub len: u64,
    /// What differs.
    pub cause: String,
}

impl std::fmt::Display for Tampered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.len == 0 {
            write!(f, "{}: {}", self.path, self.cause)
        } else {
            write!(
                f,
                "{} bytes {}..{}: {}",
                self.path,
                self.offset,
                self.offset + self.len,
                self.cause
            )
        }
    }
}

fn tampered_text(list: &[Tampered]) -> String {
    let mut s: Vec<String> = list.iter().take(5).map(Tampered::to_string).collect();
    if list.len() > 5 {
        s.push(format!("and {} more", list.len() - 5));
    }
    s.join("; ")
}

/// How to recover.
#[derive(Debug, Clone, Default)]
pub struct RecoverOptions {
    /// Seal altered live-signed ranges as they are (listed in the signed `recovered` record) instead of
    /// refusing.
    pub accept_tampered: bool,
    /// The keys the journal's begin line must name (besides being the recovering key's): checked at the
    /// recording's start time.
    pub trust: Option<Keyring>,
    /// Wall clock of the recovery, Unix ms (default: now).
    pub now_utc_ms: Option<i64>,
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
    /// The journal is of a format this version does not know.
    #[error("manifest.journal: unsupported format {0:?}")]
    UnsupportedFormat(String),
    /// The key given is not the one the journal was started with.
    #[error("the signing key is not the recording's key ({0})")]
    WrongKey(String),
    /// The journal's key is not one the caller trusts.
    #[error("manifest.journal is signed by a key not trusted: {0}")]
    Untrusted(#[source] KeyringError),
    /// A symbolic link inside the folder.
    #[error("{path}: a symbolic link inside the recording folder: recovery never follows links (refused)")]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Live-signed ranges differ from what was signed (refused before anything changed).
    #[error("refused: {} live-signed range(s) differ from their signatures: {}; nothing was changed \
             (recover --accept-tampered seals the folder as it is and records this in its signed history)",
            .0.len(), tampered_text(.0))]
    Tampered(Vec<Tampered>),
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
    region_digest(path, offset, len).is_some_and(|d| &d == digest)
}

/// Recovers the folder `dir` with the installation's signing key and default options (refusing altered
/// live-signed ranges).
///
/// # Errors
/// [`RecoverError`].
pub fn recover_dir(dir: &Path, key: &SigningKey) -> Result<RecoverReport, RecoverError> {
    recover_dir_with(dir, key, &RecoverOptions::default())
}

/// Recovers the folder `dir` with the installation's signing key (see the module docs).
///
/// # Errors
/// [`RecoverError`]; [`RecoverError::Tampered`] and [`RecoverError::Symlink`] before anything is changed.
pub fn recover_dir_with(
    dir: &Path,
    key: &SigningKey,
    opts: &RecoverOptions,
) -> Result<RecoverReport, RecoverError> {
    recover_dir_adding(dir, key, opts, &mut |_| Vec::new())
}

/// Whole files to add to a folder being recovered: called once the files are cut back to what the chain
/// covers (so it reads only covered bytes), it returns (relative path, contents) pairs.
pub type ExtraFiles<'a> = &'a mut dyn FnMut(&Path) -> Vec<(String, Vec<u8>)>;

/// [`recover_dir_with`], adding the whole files `extra` returns before the final status and signature (see the
/// module docs). A file the kept chain already holds bytes of is left as it is (e.g. a `metadata.json` the
/// recorder finished writing before it crashed).
///
/// # Errors
/// [`RecoverError`]; [`RecoverError::Tampered`] and [`RecoverError::Symlink`] before anything is changed.
pub fn recover_dir_adding(
    dir: &Path,
    key: &SigningKey,
    opts: &RecoverOptions,
    extra: ExtraFiles<'_>,
) -> Result<RecoverReport, RecoverError> {
    let jpath = dir.join(JOURNAL_FILE);
    let mpath = dir.join(MANIFEST_FILE);
    let tmp = dir.join(MANIFEST_TMP_FILE);
    let pk = key.verifying_key();
    live::refuse_symlinks(dir)?;
    let closed = |action, verify: VerifyReport| RecoverReport {
        action,
        kept_entries: verify.entries,
        dropped_entries: 0,
        live_entries: verify
            .recovery
            .as_ref()
            .map_or(verify.entries, |r| r.live_entries),
        accepted_tampering: Vec::new(),
        files: Vec::new(),
        verify,
    };
    if !jpath.exists() {
        if !mpath.exists() {
            return Err(RecoverError::NotARecording(dir.to_path_buf()));
        }
        return Ok(closed(
            RecoverAction::AlreadyClosed,
            verify_dir(dir, Some(&pk))?,
        ));
    }
    if mpath.exists() {
        if tmp.exists() {
            fs::remove_file(&tmp).map_err(io_at(&tmp))?;
        }
        fs::remove_file(&jpath).map_err(io_at(&jpath))?;
        sync_dir(dir).map_err(io_at(dir))?;
        return Ok(closed(
            RecoverAction::StaleJournalRemoved,
            verify_dir(dir, Some(&pk))?,
        ));
    }
    let mut bytes = Vec::new();
    open_nofollow(&jpath, false)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_at(&jpath))?;
    let j = journal::authenticate(&bytes)?;
    let begin = j.begin;
    if begin.public_key.0 != pk.to_bytes() {
        return Err(RecoverError::WrongKey(crate::integrity::hex::encode(
            &begin.public_key.0,
        )));
    }
    if let Some(ring) = &opts.trust {
        ring.check(&begin.public_key.0, begin.start_utc_ms)
            .map_err(RecoverError::Untrusted)?;
    }
    let live_n = j.live as usize;
    let live::LiveCheck { findings, restores } = live::check_live(dir, &j.entries, live_n);
    let mut tampered: Vec<Tampered> = j.damage;
    tampered.extend(findings.iter().map(|f| f.tampered.clone()));
    if !tampered.is_empty() && !opts.accept_tampered {
        return Err(RecoverError::Tampered(tampered));
    }
    // The close's reserved room (`manifest.json.tmp`) goes only now: a refused recovery changes nothing.
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(io_at(&tmp))?;
    }
    // Init segments torn during the close's rewrite go back to the header as created; the final header is
    // then written from the fragments kept, as for any other file.
    for (abs, header) in &restores {
        let mut f = open_nofollow(abs, true).map_err(io_at(abs))?;
        f.write_all(header)
            .and_then(|_| f.sync_all())
            .map_err(io_at(abs))?;
    }
    // An encrypted folder's files are sealed logs: recovery cuts them at a covered record boundary and cannot
    // (holding no identity) fix their plaintext headers; `decrypt` does that on the plaintext it writes.
    let encrypted = j
        .entries
        .iter()
        .any(|e| matches!(e, Entry::Encrypted { .. }));
    let altered: BTreeSet<usize> = findings.iter().map(|f| f.index).collect();
    let mut entries = Vec::new();
    let journal_entries = j.entries.len() as u64;
    let mut files: Vec<FileState> = Vec::new();
    let mut chain = Chain::for_begin(&begin);
    let mut heads: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    let mut last_at = j.sigs.iter().map(|s| s.at).max().unwrap_or(0);
    for (i, mut e) in j.entries.into_iter().enumerate() {
        // An accepted alteration: the bytes as found are sealed (when present) under a new digest.
        if altered.contains(&i) {
            if let Entry::Data {
                file,
                offset,
                len,
                sha256,
            } = &mut e
            {
                if let Some(d) = files
                    .get(*file as usize)
                    .and_then(|f| region_digest(&dir.join(&f.path), *offset, *len))
                {
                    sha256.0 = d;
                }
            }
        }
        // A time-stamp of a signature that is not on the rebuilt chain has nothing left to vouch for.
        if let Entry::Timestamp { entries: n, .. } = &e {
            if !j
                .sigs
                .iter()
                .any(|s| s.entries == *n && heads.get(n) == Some(&s.head.0))
            {
                continue;
            }
        }
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
    // Keep the live signatures whose head is on the rebuilt chain (those before the first record skipped or
    // altered).
    let mut sigs = j.sigs;
    sigs.retain(|s| heads.get(&s.entries) == Some(&s.head.0));
    let live_kept = sigs.last().map_or(0, |s| s.entries);
    let kept = heads.len() as u64;
    let mut report_files = Vec::new();
    for (id, f) in files.iter().enumerate() {
        let abs = dir.join(&f.path);
        let new_len = f.end;
        match open_nofollow(&abs, true) {
            Ok(h) => {
                h.set_len(new_len).map_err(io_at(&abs))?;
                h.sync_all().map_err(io_at(&abs))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&abs)
                    .map_err(io_at(&abs))?;
            }
            Err(e) => return Err(io_at(&abs)(e)),
        }
        report_files.push((f.path.clone(), f.len, new_len));
        let kind = if encrypted { FileKind::Whole } else { f.kind };
        if let Some(header) = fix_header(&abs, kind, new_len, &entries, id as u32)? {
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
    // Extra files would be plaintext in an encrypted folder: `decrypt` rebuilds them from the plaintext instead.
    let extra_files = if encrypted { Vec::new() } else { extra(dir) };
    for e in add_extra_files(dir, &files, extra_files)? {
        chain.push(&e);
        entries.push(e);
    }
    let accepted: Vec<String> = tampered.iter().map(Tampered::to_string).collect();
    let mut note = format!(
        "recovered after a crash: {kept} of {journal_entries} journal records kept, {live_kept} signed live"
    );
    if format_version(&begin.format) == Some(1) {
        // Version 1 has no `recovered` record: what was accepted goes into the signed status note.
        if !accepted.is_empty() {
            note.push_str("; ALTERED RANGES ACCEPTED: ");
            note.push_str(&accepted.join("; "));
        }
    } else {
        let now = opts.now_utc_ms.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        });
        let e = Entry::Recovered {
            live_entries: live_kept,
            utc_ms: now,
            key_id: key_id(&pk),
            accepted_tampering: accepted,
        };
        chain.push(&e);
        entries.push(e);
    }
    let e = Entry::Status {
        at: last_at,
        status: Status::Interrupted,
        note,
    };
    chain.push(&e);
    entries.push(e);
    let sig = key.sign(&signing_message_for(
        &begin.format,
        chain.count,
        &chain.head,
        last_at,
    ));
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
        kept_entries: kept,
        dropped_entries: journal_entries - kept,
        live_entries: live_kept,
        accepted_tampering: tampered,
        files: report_files,
        verify,
    })
}

/// Writes the extra whole files of [`recover_dir_with`] and returns the records that link them (a path the
/// chain already holds with bytes is skipped; one it holds empty gets its bytes at offset 0).
fn add_extra_files(
    dir: &Path,
    files: &[FileState],
    extra: Vec<(String, Vec<u8>)>,
) -> Result<Vec<Entry>, RecoverError> {
    let mut out = Vec::new();
    let mut next_id = files.len() as u32;
    for (path, bytes) in extra {
        let id = match files.iter().position(|f| f.path == path) {
            Some(i) if files[i].end > 0 || files[i].kind != FileKind::Whole => continue,
            Some(i) => i as u32,
            None => {
                check_rel_path(&path)?;
                out.push(Entry::File {
                    file: next_id,
                    path: path.clone(),
                    kind: FileKind::Whole,
                });
                next_id += 1;
                next_id - 1
            }
        };
        let abs = dir.join(&path);
        // Never through a symlink planted in the folder: a new file, or the one this recording created.
        if fs::symlink_metadata(&abs).is_ok_and(|m| !m.is_file()) {
            return Err(RecoverError::Io {
                path: abs,
                source: io::Error::new(io::ErrorKind::InvalidData, "not a regular file"),
            });
        }
        let mut f = fs::File::create(&abs).map_err(io_at(&abs))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(io_at(&abs))?;
        sync_dir(dir).map_err(io_at(dir))?;
        out.push(Entry::Data {
            file: id,
            offset: 0,
            len: bytes.len() as u64,
            sha256: HexBytes(Sha256::digest(&bytes).into()),
        });
    }
    Ok(out)
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
            let len = fs::symlink_metadata(dir.join(path))
                .map(|m| m.len())
                .unwrap_or(0);
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
        // Only recovery writes this record; one in a journal is not the recorder's.
        Entry::Recovered { .. } => false,
        Entry::Timestamp { .. } | Entry::Encrypted { .. } => true,
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
            let mut f = open_nofollow(abs, true).map_err(io_at(abs))?;
            crate::fmp4::index::finalize_file(&mut f, init_len, &fragments)
                .map(|(header, _)| Some(header))
                .map_err(|e| RecoverError::Io {
                    path: abs.to_path_buf(),
                    source: io::Error::other(e),
                })
        }
    }
}

//! The recording folder: files, one hash chain, the journal and the signed manifest.
//!
//! [`RecordingWriter`] is meant to live on the media worker's file-sink thread. It owns every file of one
//! recording folder and links each region it writes into the recording's hash chain:
//!
//! * a WAV stem: its 80-byte header when created and at close (`header` records), and its samples in chunks of
//!   [`RecordingOptions::wav_chunk_duration`] (`data` records); the header sizes are refreshed at every chunk;
//! * an MP4: its init segment (`header`, again at close after `mehd` is patched) and every fragment (`data`);
//! * a file written whole ([`RecordingWriter::write_whole_file`], e.g. `metadata.json`): one `data` record;
//! * an appended log ([`RecordingWriter::add_log`], e.g. the recorder's `timeline.jsonl`): one `data` record
//!   per sync for the bytes appended since the last one, so the log is covered as it grows and nothing of it
//!   is kept in memory;
//! * status changes (`status` records).
//!
//! Every file operation goes through a [`crate::storage::Storage`] ([`RecordingWriter::create_on`]); room for
//! the close is kept from the start in `manifest.json.tmp` (see `reserve.rs`), so a disk that fills up still
//! lets [`RecordingWriter::finish`] close the folder as `failed` with what was written.
//!
//! Every record goes to `manifest.journal` as it is made (one line, written straight to the OS; or gathered
//! until the caller's batch ends, [`RecordingWriter::batch_journal`], and always before a sync); at
//! [`RecordingWriter::tick`] the files and the journal are fsynced every [`RecordingOptions::sync_interval`] and
//! the chain head is signed every [`RecordingOptions::sign_interval`]. [`RecordingWriter::finish`] closes every
//! file, signs, writes `manifest.json` (via a temporary file and a rename) and removes the journal.
//!
//! # Example
//! ```
//! use media_core::{AudioFormat, MediaTime};
//! use muxer::{RecordingOptions, RecordingWriter, Status};
//! let dir = std::env::temp_dir().join(format!("verbatim-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let key = muxer::integrity::generate_signing_key().unwrap();
//! let mut rec = RecordingWriter::create(&dir, key.clone(), RecordingOptions::new("call-1", 0)).unwrap();
//! rec.set_status(Status::Recording, MediaTime::ZERO, "").unwrap();
//! let alice = rec.add_wav("participants/alice.wav", AudioFormat::PCM16K).unwrap();
//! rec.write_pcm(alice, &[0i16; 320]).unwrap();
//! rec.tick(MediaTime::from_millis(20)).unwrap();
//! rec.write_whole_file("metadata.json", b"{}").unwrap();
//! let summary = rec.finish(Status::Completed, MediaTime::from_millis(20), "").unwrap();
//! assert_eq!(summary.files.len(), 2);
//! let report = muxer::verify::verify_dir(&dir, Some(&key.verifying_key())).unwrap();
//! assert!(report.summary.contains("intact"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod close;
mod error;
mod files;
mod journal_out;
mod reserve;

pub(crate) use close::write_manifest;
pub use error::RecordingError;

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use media_core::MediaTime;
use sha2::Sha256;

use crate::fmp4::{Fmp4Writer, Written};
use crate::integrity::chain::Chain;
use crate::integrity::manifest::{Begin, FileSummary, HexBytes, JournalLine, FORMAT};
use crate::integrity::{Entry, FileKind, Region, SigRecord, Status};
use crate::storage::{StdStorage, Storage, StorageFile};
use crate::wav::WavWriter;

/// The final manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The journal's file name (present only while recording or after a crash).
pub const JOURNAL_FILE: &str = "manifest.journal";
/// The name the journal is started under (its begin line written and synced) before it is renamed.
pub const JOURNAL_NEW_FILE: &str = "manifest.journal.new";
/// The temporary name the manifest is written under before the rename.
pub const MANIFEST_TMP_FILE: &str = "manifest.json.tmp";

/// Settings of a recording folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingOptions {
    /// The recording's id (part of the chain's start value).
    pub recording_id: String,
    /// Wall clock (Unix ms, UTC) of recording time 0; statuses are listed with `start_utc_ms + at`.
    pub start_utc_ms: i64,
    /// Target MP4 fragment duration (default 1 s).
    pub fragment_duration: MediaTime,
    /// WAV chunk duration: hashing granularity, header refresh, and at most what a crash loses (default 1 s).
    pub wav_chunk_duration: MediaTime,
    /// How often [`RecordingWriter::tick`] signs the chain head (default 10 s).
    pub sign_interval: MediaTime,
    /// How often [`RecordingWriter::tick`] fsyncs files and journal (default 1 s).
    pub sync_interval: MediaTime,
    /// `creation_time` written into MP4 headers, Unix seconds.
    pub creation_unix_secs: u64,
    /// Encryption at rest: the age recipients (`age1…`) every file is encrypted to; empty: plaintext.
    /// Each file is then a sealed log (see [`crate::storage::SealedFile`] and `docs/encryption.md`) and the
    /// chain links the sealed bytes, so `verify` needs no key.
    pub encrypt_to: Vec<String>,
}

impl RecordingOptions {
    /// Defaults for a recording id and its start time.
    pub fn new(recording_id: &str, start_utc_ms: i64) -> Self {
        RecordingOptions {
            recording_id: recording_id.to_string(),
            start_utc_ms,
            fragment_duration: MediaTime::from_secs(1),
            wav_chunk_duration: MediaTime::from_secs(1),
            sign_interval: MediaTime::from_secs(10),
            sync_interval: MediaTime::from_secs(1),
            creation_unix_secs: (start_utc_ms.max(0) / 1000) as u64,
            encrypt_to: Vec::new(),
        }
    }
}

/// A WAV stem of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StemId(u32);

/// An MP4 file of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mp4Id(u32);

/// A file of the recording as the writer holds it: buffered, on the storage.
type Sink = BufWriter<Box<dyn StorageFile>>;

enum Body {
    Wav(WavWriter<Sink>),
    Mp4(Box<Fmp4Writer<Sink>>),
    /// A file written whole, or one whose writer was never set up (it failed at creation: broken).
    Whole,
    Log(LogBody),
}

/// An appended log: bytes since `linked` are hashed as they are written and linked at the next sync.
struct LogBody {
    w: Sink,
    len: u64,
    linked: u64,
    pending: Sha256,
}

struct FileSlot {
    path: String,
    abs: PathBuf,
    body: Body,
    broken: bool,
    kind: FileKind,
    covered_end: u64,
    chunk_bytes: u64,
    /// Encrypted recording: what the file's sealed log appended and the chain has not linked yet.
    sealed: Option<crate::storage::SealTally>,
}

/// What [`RecordingWriter::finish`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Path of `manifest.json`.
    pub manifest: PathBuf,
    /// Files and their final sizes.
    pub files: Vec<FileSummary>,
    /// Chain records.
    pub entry_count: u64,
    /// Final chain head (hex).
    pub chain_head: String,
    /// The status the recording was closed with.
    pub final_status: Status,
    /// Errors met while closing (files that could not be finalized); the manifest covers what is on disk.
    pub close_errors: Vec<String>,
}

/// Handle of an appended log file in a [`RecordingWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogId(u32);

/// Owns one recording folder: its files, its hash chain, its journal and its manifest.
pub struct RecordingWriter {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    /// `manifest.json.tmp`, kept allocated while recording so the close has room on a full disk.
    reserve: reserve::Reserve,
    /// The folder's identity (device, inode) at creation: a folder removed (or replaced) while recording is
    /// noticed at the next sync instead of writing on into deleted files.
    folder_id: Option<(u64, u64)>,
    key: SigningKey,
    options: RecordingOptions,
    /// Encryption at rest: every new file is a sealed log to these recipients.
    recipients: Option<seal::Recipients>,
    begin: Begin,
    chain: Chain,
    /// Lines that could not go to the journal (it failed): kept here for the manifest. Everything else lives
    /// only in the journal, read back by `finish`, so memory stays flat however long the recording.
    spill: Vec<JournalLine>,
    journal_failed: bool,
    /// Entry count the last signature covers.
    signed_count: Option<u64>,
    journal: Box<dyn StorageFile>,
    journal_len: u64,
    /// Lines made and not yet written, while the journal is batched ([`RecordingWriter::batch_journal`]).
    journal_batch: Option<Vec<u8>>,
    files: Vec<FileSlot>,
    last_sync: MediaTime,
    last_sign: MediaTime,
    now: MediaTime,
    scratch: Vec<Written>,
    /// Signatures made and not yet taken by [`RecordingWriter::take_checkpoint`], oldest first: at most
    /// [`MAX_WAITING_SIGNATURES`] (the oldest dropped beyond: a recording nobody takes them from stays flat).
    checkpoints: std::collections::VecDeque<SigRecord>,
    /// The node's group commit, when syncs go through it instead of an fsync per file.
    commit: Option<crate::group_commit::CommitHandle>,
    /// The ticket asked for by the last sync (group commit only).
    last_ticket: Option<crate::group_commit::Ticket>,
    /// Signatures made, oldest first, each waiting for the round that makes what it covers durable, with
    /// the journal lines made after it (written after it, so that each covers exactly the records before it:
    /// what recovery checks). At most [`MAX_WAITING_SIGNATURES`].
    waiting: std::collections::VecDeque<WaitingSig>,
}

impl RecordingWriter {
    /// Keeps `sig` for [`RecordingWriter::take_checkpoint`] (bounded: the oldest is dropped).
    fn keep_checkpoint(&mut self, sig: SigRecord) {
        if self.checkpoints.len() >= MAX_WAITING_SIGNATURES {
            self.checkpoints.pop_front();
        }
        self.checkpoints.push_back(sig);
    }
}

/// A signature waiting for its group-commit round, and the journal lines made since.
struct WaitingSig {
    ticket: crate::group_commit::Ticket,
    sig: SigRecord,
    after: Vec<JournalLine>,
}

/// Signatures that may wait for their rounds at once (one per sign interval; more only when rounds take
/// longer than several sign intervals, or a recording is replayed faster than real time).
const MAX_WAITING_SIGNATURES: usize = 8;

fn io_err(path: &Path, offset: u64) -> impl FnOnce(io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        path: path.to_path_buf(),
        offset,
        source,
    }
}

/// Writes the journal's begin line under a temporary name, syncs it, and renames it into place (then syncs the
/// folder): a `manifest.journal` never exists without its begin line, even after a power cut.
fn start_journal(
    storage: &dyn Storage,
    dir: &Path,
    begin: &Begin,
) -> Result<(Box<dyn StorageFile>, u64), RecordingError> {
    let new = dir.join(JOURNAL_NEW_FILE);
    let jpath = dir.join(JOURNAL_FILE);
    if new.exists() {
        // Left by a crash during an earlier start: nothing was recorded.
        storage.remove_file(&new).map_err(io_err(&new, 0))?;
    }
    let mut journal = storage.create_new(&new, true).map_err(io_err(&new, 0))?;
    let line = JournalLine::Begin(begin.clone()).to_line();
    journal
        .write_all(&line)
        .and_then(|_| journal.sync_all())
        .map_err(io_err(&new, 0))?;
    storage.rename(&new, &jpath).map_err(io_err(&jpath, 0))?;
    storage.sync_dir(dir).map_err(io_err(dir, 0))?;
    Ok((journal, line.len() as u64))
}

/// With group commit, waits for a round that covers everything written so far and says whether it made it
/// durable; `false` without group commit or when the round failed (the caller then fsyncs on its own).
/// Blocks the calling thread up to a round: used when a file is added or the status changes, not per frame.
pub(crate) fn round_covers_all(commit: &Option<crate::group_commit::CommitHandle>) -> bool {
    commit
        .as_ref()
        .is_some_and(|h| h.wait(h.request()) == crate::group_commit::Durability::Durable)
}

/// (device, inode) of a folder.
#[cfg(unix)]
fn folder_id(dir: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir)?;
    Ok((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn folder_id(dir: &Path) -> io::Result<(u64, u64)> {
    std::fs::metadata(dir).map(|_| (0, 0))
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    StdStorage.sync_dir(dir)
}

/// Checks a relative file path: `/`-separated normal components, not one of the manifest's own names.
pub(crate) fn check_rel_path(rel: &str) -> Result<(), RecordingError> {
    let bad = |reason| RecordingError::InvalidPath {
        path: rel.to_string(),
        reason,
    };
    if rel.is_empty() || rel.contains('\\') {
        return Err(bad("empty or contains a backslash"));
    }
    if !Path::new(rel)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("must be relative, without `.`/`..` or empty parts"));
    }
    if [
        MANIFEST_FILE,
        JOURNAL_FILE,
        JOURNAL_NEW_FILE,
        MANIFEST_TMP_FILE,
    ]
    .contains(&rel)
    {
        return Err(bad("reserved name"));
    }
    Ok(())
}

impl RecordingWriter {
    /// Starts a recording in `dir` (created if needed; it must not already hold a manifest or a journal).
    ///
    /// The folder should hold nothing but this recording's files: [`crate::verify::verify_dir`] reports any
    /// other file as added.
    ///
    /// # Errors
    /// [`RecordingError::AlreadyExists`], [`RecordingError::Io`], [`RecordingError::Reserve`] (no room to
    /// keep for the close).
    pub fn create(
        dir: &Path,
        key: SigningKey,
        options: RecordingOptions,
    ) -> Result<RecordingWriter, RecordingError> {
        Self::create_on(Arc::new(StdStorage), dir, key, options)
    }

    /// As [`Self::create`], with every file operation going through `storage` (tests inject faults or log
    /// the operations this way; see [`crate::storage`]).
    ///
    /// # Errors
    /// As [`Self::create`].
    pub fn create_on(
        storage: Arc<dyn Storage>,
        dir: &Path,
        key: SigningKey,
        options: RecordingOptions,
    ) -> Result<RecordingWriter, RecordingError> {
        let recipients = if options.encrypt_to.is_empty() {
            None
        } else {
            Some(seal::Recipients::parse(&options.encrypt_to)?)
        };
        storage.create_dir_all(dir).map_err(io_err(dir, 0))?;
        if dir.join(MANIFEST_FILE).exists() || dir.join(JOURNAL_FILE).exists() {
            return Err(RecordingError::AlreadyExists(dir.to_path_buf()));
        }
        let begin = Begin {
            format: FORMAT.to_string(),
            recording_id: options.recording_id.clone(),
            start_utc_ms: options.start_utc_ms,
            public_key: HexBytes(key.verifying_key().to_bytes()),
            key_id: Some(crate::integrity::key_id(&key.verifying_key())),
        };
        let jpath = dir.join(JOURNAL_FILE);
        let (journal, journal_len) = match start_journal(storage.as_ref(), dir, &begin) {
            Ok(j) => j,
            Err(e) => {
                // Nothing was recorded (there was no journal before): leave none behind (best effort).
                let _ = storage.remove_file(&dir.join(JOURNAL_NEW_FILE));
                let _ = storage.remove_file(&jpath);
                let _ = storage.sync_dir(dir);
                return Err(e);
            }
        };
        // Room for the close (manifest, metadata) is taken now, before any media: a full disk later still
        // lets the recording close as `failed` with what was written.
        let reserve = match reserve::Reserve::create(storage.as_ref(), &dir.join(MANIFEST_TMP_FILE))
        {
            Ok(r) => r,
            Err(e) => {
                // Nothing was recorded: leave no journal behind (best effort: the storage failed).
                let _ = storage.remove_file(&dir.join(MANIFEST_TMP_FILE));
                let _ = storage.remove_file(&jpath);
                let _ = storage.sync_dir(dir);
                return Err(e);
            }
        };
        let chain = Chain::for_begin(&begin);
        let mut w = RecordingWriter {
            dir: dir.to_path_buf(),
            storage,
            reserve,
            folder_id: folder_id(dir).ok(),
            key,
            options,
            recipients,
            begin,
            chain,
            spill: Vec::new(),
            journal_failed: false,
            signed_count: None,
            journal,
            journal_len,
            journal_batch: None,
            files: Vec::new(),
            last_sync: MediaTime::ZERO,
            last_sign: MediaTime::ZERO,
            now: MediaTime::ZERO,
            scratch: Vec::new(),
            checkpoints: std::collections::VecDeque::new(),
            commit: None,
            last_ticket: None,
            waiting: std::collections::VecDeque::new(),
        };
        // An encrypted recording says so (and to whom) in its first record, before any file.
        if let Some(r) = &w.recipients {
            let e = Entry::Encrypted {
                scheme: crate::integrity::ENCRYPTION_SCHEME.to_string(),
                recipients: r.texts().to_vec(),
            };
            w.record(e)?;
            w.sync_journal()?;
        }
        Ok(w)
    }

    /// Whether the files are encrypted (sealed logs).
    pub fn is_encrypted(&self) -> bool {
        self.recipients.is_some()
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current chain head and record count.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The oldest signature written and not yet taken, if any, as (its record count, its RFC 3161 imprint):
    /// what a time-stamping authority should stamp ([`crate::integrity::timestamp`]). Cheap; call it after
    /// [`Self::tick`] until it returns `None` (with group commit several signatures can land in one tick).
    pub fn take_checkpoint(&mut self) -> Option<(u64, [u8; 32])> {
        let s = self.checkpoints.pop_front()?;
        Some((
            s.entries,
            crate::integrity::timestamp::checkpoint_imprint(&self.begin.format, &s),
        ))
    }

    /// Links an RFC 3161 time-stamp token of the signature over the first `entries` records (a `timestamp`
    /// record, covered by the next signature).
    ///
    /// # Errors
    /// [`RecordingError::Io`] on the journal.
    pub fn add_timestamp(&mut self, entries: u64, token: Vec<u8>) -> Result<(), RecordingError> {
        self.record(Entry::Timestamp {
            entries,
            token: crate::integrity::manifest::HexVec(token),
        })
    }

    fn record(&mut self, entry: Entry) -> Result<(), RecordingError> {
        self.chain.push(&entry);
        self.journal_write(JournalLine::Entry(entry))
    }

    /// The chain records and signatures so far: the journal's whole lines read back, then any kept in memory.
    fn read_back(&self) -> Result<(Vec<Entry>, Vec<SigRecord>), RecordingError> {
        let path = self.dir.join(JOURNAL_FILE);
        let f = File::open(&path).map_err(io_err(&path, 0))?;
        let mut r = io::BufReader::with_capacity(1 << 16, f.take(self.journal_len));
        let (mut entries, mut sigs) = (Vec::new(), Vec::new());
        let mut line = Vec::new();
        let mut at = 0u64;
        loop {
            line.clear();
            let n = r.read_until(b'\n', &mut line).map_err(io_err(&path, at))?;
            if n == 0 {
                break;
            }
            let parsed: JournalLine = serde_json::from_slice(&line).map_err(|e| {
                RecordingError::Journal(format!("line at offset {at} does not parse: {e}"))
            })?;
            at += n as u64;
            match parsed {
                JournalLine::Entry(e) => entries.push(e),
                JournalLine::Sig(s) => sigs.push(s),
                JournalLine::Begin(_) => {}
            }
        }
        for l in &self.spill {
            match l {
                JournalLine::Entry(e) => entries.push(e.clone()),
                JournalLine::Sig(s) => sigs.push(s.clone()),
                JournalLine::Begin(_) => {}
            }
        }
        Ok((entries, sigs))
    }

    /// Links a whole header written at offset 0 (a WAV header, an MP4 init segment) with a `header` record.
    fn record_header(&mut self, file: u32, header: &[u8]) -> Result<(), RecordingError> {
        let region = Region {
            offset: 0,
            len: header.len() as u64,
            sha256: <sha2::Sha256 as sha2::Digest>::digest(header).into(),
        };
        self.record_region(file, true, region)
    }

    fn record_region(&mut self, file: u32, header: bool, r: Region) -> Result<(), RecordingError> {
        if self.recipients.is_some() {
            return self.link_sealed(file);
        }
        if let Some(slot) = self.files.get_mut(file as usize) {
            slot.covered_end = slot.covered_end.max(r.offset + r.len);
        }
        let e = if header {
            Entry::Header {
                file,
                offset: r.offset,
                len: r.len,
                sha256: HexBytes(r.sha256),
            }
        } else {
            Entry::Data {
                file,
                offset: r.offset,
                len: r.len,
                sha256: HexBytes(r.sha256),
            }
        };
        self.record(e)
    }

    /// Encrypted recording: instead of the plaintext region the writer just wrote, links every sealed byte
    /// appended to file `file` since its last link (one `data` record; the file is flushed to its sealed
    /// log first, so the region ends at a record boundary).
    fn link_sealed(&mut self, file: u32) -> Result<(), RecordingError> {
        let Some(slot) = self.files.get_mut(file as usize) else {
            return Ok(());
        };
        let Some(tally) = slot.sealed.clone() else {
            return Ok(());
        };
        let flushed = match &mut slot.body {
            Body::Wav(w) => w.sink_mut().flush(),
            Body::Mp4(w) => w.sink_mut().flush(),
            Body::Log(l) => l.w.flush(),
            Body::Whole => Ok(()),
        };
        if let Err(e) = flushed {
            slot.broken = true;
            return Err(io_err(&slot.abs, slot.covered_end)(e));
        }
        let (offset, len, sha256) = tally.take_unlinked();
        if len == 0 {
            return Ok(());
        }
        slot.covered_end = offset + len;
        self.record(Entry::Data {
            file,
            offset,
            len,
            sha256: HexBytes(sha256),
        })
    }

    /// Creates a file of the recording and links it (`file` record). The record goes to the journal before the
    /// file is created (after a crash `recover` creates a named file that is missing, but could not account
    /// for a file the journal does not name). Once the record is made the file is part of the recording
    /// whatever fails next: its slot is pushed, broken when anything failed, so the close cuts it to what the
    /// chain covers.
    fn new_file(
        &mut self,
        rel: &str,
        kind: FileKind,
    ) -> Result<(u32, Box<dyn StorageFile>, PathBuf), RecordingError> {
        check_rel_path(rel)?;
        if self.files.iter().any(|f| f.path == rel) {
            return Err(RecordingError::InvalidPath {
                path: rel.to_string(),
                reason: "already part of this recording",
            });
        }
        let abs = self.dir.join(rel);
        let parent = abs.parent().unwrap_or(&self.dir).to_path_buf();
        if parent != self.dir {
            // New directories are made durable before the journal names a file inside them (with group
            // commit: a round covering their creation).
            self.storage
                .create_dir_all(&parent)
                .map_err(io_err(&parent, 0))?;
            if !round_covers_all(&self.commit) {
                self.sync_dirs_up_from(parent.parent())?;
            }
        }
        let id = self.files.len() as u32;
        // The record is made durable before the file exists: a power cut must not leave a file on disk that
        // the journal does not name (verify would call it added, and recover cannot account for it).
        let linked = self
            .record(Entry::File {
                file: id,
                path: rel.to_string(),
                kind,
            })
            .and_then(|_| self.sync_journal());
        self.files.push(FileSlot {
            path: rel.to_string(),
            abs: abs.clone(),
            body: Body::Whole,
            broken: true,
            kind,
            covered_end: 0,
            chunk_bytes: 0,
            sealed: None,
        });
        let mut f = self
            .storage
            .create_new(&abs, false)
            .map_err(io_err(&abs, 0))?;
        if let Some(r) = &self.recipients {
            let (sf, tally) = crate::storage::SealedFile::create(f, r).map_err(io_err(&abs, 0))?;
            self.files[id as usize].sealed = Some(tally);
            f = Box::new(sf);
        } else if kind == FileKind::Wav {
            // Silence (zeros) appended to a stem becomes a hole: no page written, no disk used; the bytes
            // read back, and every hash, are the same.
            f = Box::new(crate::storage::SparseFile::new(f));
        }
        // Make the new directory entry durable (a power loss must not lose a file the journal names). With
        // group commit the next round does, before any of the file's bytes or later records are durable.
        if self.commit.is_none() {
            self.storage.sync_dir(&parent).map_err(io_err(&parent, 0))?;
        }
        linked?;
        self.files[id as usize].broken = false;
        Ok((id, f, abs))
    }

    /// Syncs the directories from `from` up to the folder itself.
    fn sync_dirs_up_from(&self, from: Option<&Path>) -> Result<(), RecordingError> {
        let mut d = from;
        while let Some(p) = d {
            if !p.starts_with(&self.dir) {
                break;
            }
            self.storage.sync_dir(p).map_err(io_err(p, 0))?;
            if p == self.dir {
                break;
            }
            d = p.parent();
        }
        Ok(())
    }

    fn slot(&mut self, id: u32, kind: FileKind) -> Result<&mut FileSlot, RecordingError> {
        let slot = self
            .files
            .get_mut(id as usize)
            .filter(|s| s.kind == kind)
            .ok_or(RecordingError::UnknownFile(id))?;
        if slot.broken {
            return Err(RecordingError::FileBroken(slot.path.clone()));
        }
        Ok(slot)
    }

    /// Records a status change (linked into the chain, journal synced).
    ///
    /// # Errors
    /// [`RecordingError::Io`] on the journal.
    pub fn set_status(
        &mut self,
        status: Status,
        at: MediaTime,
        note: &str,
    ) -> Result<(), RecordingError> {
        self.now = self.now.max(at);
        self.record(Entry::Status {
            at: at.ticks(),
            status,
            note: note.to_string(),
        })?;
        self.sync_journal()
    }

    /// Makes the journal's lines durable (nothing to do once it failed: its lines are kept in memory).
    fn sync_journal(&mut self) -> Result<(), RecordingError> {
        // A record made durable here must not wait behind a signature's group-commit round: the signature
        // is given up (the next sign makes a new one) and the records held behind it go out first, in order.
        self.give_up_waiting()?;
        self.flush_journal()?;
        if self.journal_failed || round_covers_all(&self.commit) {
            return Ok(());
        }
        let path = self.dir.join(JOURNAL_FILE);
        let at = self.journal_len;
        self.journal.sync_data().map_err(io_err(&path, at))
    }

    /// Puts `body` into the slot `new_file` pushed for `id`.
    fn set_body(&mut self, id: u32, body: Body, chunk_bytes: u64) {
        if let Some(slot) = self.files.get_mut(id as usize) {
            slot.body = body;
            slot.chunk_bytes = chunk_bytes;
        }
    }

    /// Marks file `id` broken (it takes no more data; the close cuts it to what the chain covers).
    fn mark_broken(&mut self, id: u32) {
        if let Some(slot) = self.files.get_mut(id as usize) {
            slot.broken = true;
        }
    }
}

// The writer moves to the media worker's file-sink thread.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<RecordingWriter>();
};

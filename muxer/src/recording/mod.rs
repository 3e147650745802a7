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
//! Every record goes to `manifest.journal` as it is made (one line, written straight to the OS); at
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

pub(crate) use close::write_manifest;
pub use error::RecordingError;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::SigningKey;
use media_core::MediaTime;
use sha2::Sha256;

use crate::fmp4::{Fmp4Writer, Written};
use crate::integrity::chain::Chain;
use crate::integrity::manifest::{Begin, FileSummary, HexBytes, JournalLine, FORMAT};
use crate::integrity::{Entry, FileKind, Region, SigRecord, Status};
use crate::wav::WavWriter;

/// The final manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The journal's file name (present only while recording or after a crash).
pub const JOURNAL_FILE: &str = "manifest.journal";
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
        }
    }
}

/// A WAV stem of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StemId(u32);

/// An MP4 file of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mp4Id(u32);

enum Body {
    Wav(WavWriter<BufWriter<File>>),
    Mp4(Fmp4Writer<BufWriter<File>>),
    Whole,
    Log(LogBody),
}

/// An appended log: bytes since `linked` are hashed as they are written and linked at the next sync.
struct LogBody {
    w: BufWriter<File>,
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
    key: SigningKey,
    options: RecordingOptions,
    begin: Begin,
    chain: Chain,
    /// Lines that could not go to the journal (it failed): kept here for the manifest. Everything else lives
    /// only in the journal, read back by `finish`, so memory stays flat however long the recording.
    spill: Vec<JournalLine>,
    journal_failed: bool,
    /// Entry count the last signature covers.
    signed_count: Option<u64>,
    journal: File,
    journal_len: u64,
    files: Vec<FileSlot>,
    last_sync: MediaTime,
    last_sign: MediaTime,
    now: MediaTime,
    scratch: Vec<Written>,
    /// The last signature made and not yet taken by [`RecordingWriter::take_checkpoint`].
    checkpoint: Option<SigRecord>,
}

fn io_err(path: &Path, offset: u64) -> impl FnOnce(io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        path: path.to_path_buf(),
        offset,
        source,
    }
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
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
    if [MANIFEST_FILE, JOURNAL_FILE, MANIFEST_TMP_FILE].contains(&rel) {
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
    /// [`RecordingError::AlreadyExists`] or [`RecordingError::Io`].
    pub fn create(
        dir: &Path,
        key: SigningKey,
        options: RecordingOptions,
    ) -> Result<RecordingWriter, RecordingError> {
        fs::create_dir_all(dir).map_err(io_err(dir, 0))?;
        if dir.join(MANIFEST_FILE).exists() || dir.join(JOURNAL_FILE).exists() {
            return Err(RecordingError::AlreadyExists(dir.to_path_buf()));
        }
        let jpath = dir.join(JOURNAL_FILE);
        let journal = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&jpath)
            .map_err(io_err(&jpath, 0))?;
        let begin = Begin {
            format: FORMAT.to_string(),
            recording_id: options.recording_id.clone(),
            start_utc_ms: options.start_utc_ms,
            public_key: HexBytes(key.verifying_key().to_bytes()),
            key_id: Some(crate::integrity::key_id(&key.verifying_key())),
        };
        let chain = Chain::for_begin(&begin);
        let mut w = RecordingWriter {
            dir: dir.to_path_buf(),
            key,
            options,
            begin: begin.clone(),
            chain,
            spill: Vec::new(),
            journal_failed: false,
            signed_count: None,
            journal,
            journal_len: 0,
            files: Vec::new(),
            last_sync: MediaTime::ZERO,
            last_sign: MediaTime::ZERO,
            now: MediaTime::ZERO,
            scratch: Vec::new(),
            checkpoint: None,
        };
        w.journal_write(JournalLine::Begin(begin))?;
        w.journal.sync_all().map_err(io_err(&jpath, 0))?;
        sync_dir(dir).map_err(io_err(dir, 0))?;
        Ok(w)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current chain head and record count.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The signature made since the last call, if any, as (its record count, its RFC 3161 imprint): what a
    /// time-stamping authority should stamp ([`crate::integrity::timestamp`]). Cheap; call it after
    /// [`Self::tick`].
    pub fn take_checkpoint(&mut self) -> Option<(u64, [u8; 32])> {
        let s = self.checkpoint.take()?;
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

    /// Appends a line to the journal. After a failed write the journal takes nothing more (a partial line may
    /// end it; `journal_len` counts only whole lines) and lines are kept in memory for the manifest instead;
    /// the first failure is returned.
    fn journal_write(&mut self, line: JournalLine) -> Result<(), RecordingError> {
        if self.journal_failed {
            self.spill.push(line);
            return Ok(());
        }
        let bytes = line.to_line();
        let at = self.journal_len;
        if let Err(e) = self.journal.write_all(&bytes) {
            self.journal_failed = true;
            self.spill.push(line);
            return Err(io_err(&self.dir.join(JOURNAL_FILE), at)(e));
        }
        self.journal_len += bytes.len() as u64;
        Ok(())
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

    fn record_region(&mut self, file: u32, header: bool, r: Region) -> Result<(), RecordingError> {
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

    fn new_file(
        &mut self,
        rel: &str,
        kind: FileKind,
    ) -> Result<(u32, File, PathBuf), RecordingError> {
        check_rel_path(rel)?;
        if self.files.iter().any(|f| f.path == rel) {
            return Err(RecordingError::InvalidPath {
                path: rel.to_string(),
                reason: "already part of this recording",
            });
        }
        let abs = self.dir.join(rel);
        if let Some(parent) = abs.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent, 0))?;
        }
        let f = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&abs)
            .map_err(io_err(&abs, 0))?;
        // Make the new directory entries durable (a power loss must not lose a file the journal names).
        let mut d = abs.parent();
        while let Some(p) = d {
            sync_dir(p).map_err(io_err(p, 0))?;
            if p == self.dir {
                break;
            }
            d = p.parent();
        }
        let id = self.files.len() as u32;
        self.record(Entry::File {
            file: id,
            path: rel.to_string(),
            kind,
        })?;
        Ok((id, f, abs))
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
        let path = self.dir.join(JOURNAL_FILE);
        let at = self.journal_len;
        self.journal.sync_data().map_err(io_err(&path, at))
    }
}

// The writer moves to the media worker's file-sink thread.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<RecordingWriter>();
};

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

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use ed25519_dalek::{Signer, SigningKey};
use media_core::{AudioFormat, MediaTime};
use sha2::{Digest, Sha256};

use crate::fmp4::{Fmp4Error, Fmp4Options, Fmp4Writer, TrackSpec, Written};
use crate::integrity::chain::{signing_message, Chain};
use crate::integrity::manifest::{Begin, FileSummary, HexBytes, JournalLine, FORMAT};
use crate::integrity::{Entry, FileKind, Manifest, Region, SigRecord, Status};
use crate::wav::{self, WavError, WavWriter};

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

/// Errors of the recording folder. `Io` carries the file and offset; after it, that file takes no more data
/// but everything written before stays valid, other files go on, and [`RecordingWriter::finish`] still closes
/// the folder (use status `failed`).
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Writing or syncing a file failed (disk full: [`RecordingError::is_disk_full`]).
    #[error("{path}: I/O error at offset {offset}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Where the failed operation started.
        offset: u64,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The folder already holds a recording (a manifest or a journal).
    #[error("{0} already holds a recording")]
    AlreadyExists(PathBuf),
    /// A file path that is not a fresh relative path inside the folder.
    #[error("invalid file path {path:?}: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A [`StemId`] / [`Mp4Id`] of another recording, or of the wrong kind.
    #[error("unknown file id {0}")]
    UnknownFile(u32),
    /// The file failed earlier (I/O error) and takes no more data.
    #[error("{0}: file failed earlier and takes no more data")]
    FileBroken(String),
    /// A WAV write was rejected (e.g. a partial sample frame); nothing was written.
    #[error("{path}: {source}")]
    Wav {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: WavError,
    },
    /// The journal read back at close does not match the chain this writer built (changed or damaged while
    /// recording); no manifest is written, the journal stays.
    #[error("manifest.journal: {0}")]
    Journal(String),
    /// An MP4 sample was rejected (bad time, not Annex-B, …); nothing was written.
    #[error("{path}: {source}")]
    Mp4 {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: Fmp4Error,
    },
}

impl RecordingError {
    /// True when the cause is a full disk.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, RecordingError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}

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
        };
        let chain = Chain::new(&begin.recording_id, begin.start_utc_ms, &begin.public_key.0);
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

    /// Adds a WAV stem (16-bit PCM) at `rel_path` (e.g. `participants/alice.wav`).
    ///
    /// # Errors
    /// [`RecordingError::InvalidPath`], [`RecordingError::Wav`] (bad format), [`RecordingError::Io`].
    pub fn add_wav(
        &mut self,
        rel_path: &str,
        format: AudioFormat,
    ) -> Result<StemId, RecordingError> {
        if format.sample_rate == 0 || format.channels == 0 {
            return Err(RecordingError::Wav {
                path: rel_path.to_string(),
                source: WavError::BadFormat(format),
            });
        }
        let (id, f, abs) = self.new_file(rel_path, FileKind::Wav)?;
        let w = WavWriter::create(BufWriter::with_capacity(1 << 16, f), format)
            .and_then(|mut w| w.flush().map(|_| w))
            .map_err(|e| wav_to_rec(&abs, rel_path, e))?;
        let header = w.header();
        let chunk_bytes = format
            .bytes_in(self.options.wav_chunk_duration)
            .max(format.bytes_per_sample_frame()) as u64;
        self.files.push(FileSlot {
            path: rel_path.to_string(),
            abs,
            body: Body::Wav(w),
            broken: false,
            kind: FileKind::Wav,
            covered_end: 0,
            chunk_bytes,
        });
        self.record_region(
            id,
            true,
            Region {
                offset: 0,
                len: header.len() as u64,
                sha256: Sha256::digest(header).into(),
            },
        )?;
        Ok(StemId(id))
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

    /// Appends interleaved samples to a stem. Every [`RecordingOptions::wav_chunk_duration`] of audio the chunk
    /// is closed: flushed to the OS, the header refreshed, a `data` record linked.
    ///
    /// # Errors
    /// [`RecordingError::Io`] (the stem is broken from then on), [`RecordingError::FileBroken`],
    /// [`RecordingError::UnknownFile`].
    pub fn write_pcm(&mut self, stem: StemId, samples: &[i16]) -> Result<(), RecordingError> {
        let slot = self.slot(stem.0, FileKind::Wav)?;
        if let Body::Wav(w) = &mut slot.body {
            if let Err(e) = w.append_samples(samples) {
                return Err(break_wav(slot, e));
            }
        }
        self.maybe_close_chunk(stem.0, false)
    }

    /// Appends little-endian sample bytes (whole sample frames) to a stem.
    ///
    /// # Errors
    /// As [`Self::write_pcm`], plus [`RecordingError::Wav`] for a partial sample frame (nothing written).
    pub fn write_pcm_bytes(&mut self, stem: StemId, bytes: &[u8]) -> Result<(), RecordingError> {
        let slot = self.slot(stem.0, FileKind::Wav)?;
        if let Body::Wav(w) = &mut slot.body {
            if let Err(e) = w.append_bytes(bytes) {
                return Err(break_wav(slot, e));
            }
        }
        self.maybe_close_chunk(stem.0, false)
    }

    fn maybe_close_chunk(&mut self, id: u32, force: bool) -> Result<(), RecordingError> {
        let slot = self.slot(id, FileKind::Wav)?;
        let chunk_bytes = slot.chunk_bytes;
        let Body::Wav(w) = &mut slot.body else {
            return Ok(());
        };
        if w.pending_chunk_len() == 0 || (!force && w.pending_chunk_len() < chunk_bytes) {
            return Ok(());
        }
        if let Err(e) = w.flush() {
            return Err(break_wav(slot, e));
        }
        let region = w.take_chunk();
        let refreshed = w.refresh_header().and_then(|_| w.flush());
        if let Some(r) = region {
            self.record_region(id, false, r)?;
        }
        if let Err(e) = refreshed {
            let slot = self.slot(id, FileKind::Wav)?;
            return Err(break_wav(slot, e));
        }
        Ok(())
    }

    /// Adds a fragmented MP4 at `rel_path` with `tracks` (track index = position in the slice).
    ///
    /// # Errors
    /// [`RecordingError::InvalidPath`], [`RecordingError::Io`].
    pub fn add_mp4(
        &mut self,
        rel_path: &str,
        tracks: &[TrackSpec],
    ) -> Result<Mp4Id, RecordingError> {
        let (id, f, abs) = self.new_file(rel_path, FileKind::Mp4)?;
        let opts = Fmp4Options {
            fragment_duration: self.options.fragment_duration,
            creation_unix_secs: self.options.creation_unix_secs,
        };
        let w = Fmp4Writer::new(BufWriter::with_capacity(1 << 16, f), tracks, opts);
        self.files.push(FileSlot {
            path: rel_path.to_string(),
            abs,
            body: Body::Mp4(w),
            broken: false,
            kind: FileKind::Mp4,
            covered_end: 0,
            chunk_bytes: 0,
        });
        Ok(Mp4Id(id))
    }

    /// Adds one sample to an MP4 track: `pts` on the recording timeline, `data` a whole Annex-B H.264 frame or
    /// one Opus packet (moved, not copied). Fragments that become due are written and linked.
    ///
    /// # Errors
    /// [`RecordingError::Mp4`] for a rejected sample (the file goes on), [`RecordingError::Io`] (the file is
    /// broken from then on), [`RecordingError::FileBroken`], [`RecordingError::UnknownFile`].
    pub fn write_sample(
        &mut self,
        mp4: Mp4Id,
        track: usize,
        pts: MediaTime,
        data: Bytes,
    ) -> Result<(), RecordingError> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let slot = self.slot(mp4.0, FileKind::Mp4)?;
        let res = match &mut slot.body {
            Body::Mp4(w) => w.push(track, pts, data, &mut out),
            _ => Ok(()),
        };
        let err = res.err().map(|e| mp4_err(slot, e));
        let linked = self.link_written(mp4.0, &out);
        self.scratch = out;
        linked?;
        err.map_or(Ok(()), Err)
    }

    fn link_written(&mut self, id: u32, out: &[Written]) -> Result<(), RecordingError> {
        for w in out {
            match *w {
                Written::Init(r) => self.record_region(id, true, r)?,
                Written::Fragment(r) => self.record_region(id, false, r)?,
            }
        }
        Ok(())
    }

    /// Adds an appended log at `rel_path` (e.g. `timeline.jsonl`): bytes go to the file as
    /// [`Self::append_log`] gives them (buffered), and each sync links what was appended since the last one
    /// with one `data` record. `verify` and `recover` treat it like any file of appended regions.
    ///
    /// # Errors
    /// [`RecordingError::InvalidPath`], [`RecordingError::Io`].
    pub fn add_log(&mut self, rel_path: &str) -> Result<LogId, RecordingError> {
        let (id, f, abs) = self.new_file(rel_path, FileKind::Whole)?;
        self.files.push(FileSlot {
            path: rel_path.to_string(),
            abs,
            body: Body::Log(LogBody {
                w: BufWriter::with_capacity(1 << 14, f),
                len: 0,
                linked: 0,
                pending: Sha256::new(),
            }),
            broken: false,
            kind: FileKind::Whole,
            covered_end: 0,
            chunk_bytes: 0,
        });
        Ok(LogId(id))
    }

    /// Appends `bytes` to a log (linked into the chain at the next sync or at close).
    ///
    /// # Errors
    /// [`RecordingError::Io`] (the log is broken from then on), [`RecordingError::FileBroken`],
    /// [`RecordingError::UnknownFile`].
    pub fn append_log(&mut self, log: LogId, bytes: &[u8]) -> Result<(), RecordingError> {
        let slot = self.slot(log.0, FileKind::Whole)?;
        let Body::Log(l) = &mut slot.body else {
            return Err(RecordingError::UnknownFile(log.0));
        };
        if let Err(e) = l.w.write_all(bytes) {
            slot.broken = true;
            return Err(io_err(&slot.abs, l.len)(e));
        }
        l.pending.update(bytes);
        l.len += bytes.len() as u64;
        Ok(())
    }

    /// Opens a log for reading from its start, after handing what is buffered to the OS (the recorder reads
    /// its timeline back at close to build `metadata.json`).
    ///
    /// # Errors
    /// [`RecordingError::Io`], [`RecordingError::FileBroken`], [`RecordingError::UnknownFile`].
    pub fn read_log(&mut self, log: LogId) -> Result<io::BufReader<File>, RecordingError> {
        let slot = self.slot(log.0, FileKind::Whole)?;
        let Body::Log(l) = &mut slot.body else {
            return Err(RecordingError::UnknownFile(log.0));
        };
        if let Err(e) = l.w.flush() {
            slot.broken = true;
            return Err(io_err(&slot.abs, l.len)(e));
        }
        let f = File::open(&slot.abs).map_err(io_err(&slot.abs, 0))?;
        Ok(io::BufReader::new(f))
    }

    /// Links what was appended to log `id` since its last link (flushed to the OS first).
    fn link_log(&mut self, id: u32) -> Result<(), RecordingError> {
        let Some(slot) = self.files.get_mut(id as usize) else {
            return Ok(());
        };
        if slot.broken {
            return Ok(());
        }
        let Body::Log(l) = &mut slot.body else {
            return Ok(());
        };
        if l.len == l.linked {
            return Ok(());
        }
        if let Err(e) = l.w.flush() {
            slot.broken = true;
            return Err(io_err(&slot.abs, l.linked)(e));
        }
        let region = Region {
            offset: l.linked,
            len: l.len - l.linked,
            sha256: l.pending.finalize_reset().into(),
        };
        l.linked = l.len;
        self.record_region(id, false, region)
    }

    /// Writes a whole file at once (e.g. `metadata.json`) and links it with one `data` record.
    ///
    /// # Errors
    /// [`RecordingError::InvalidPath`], [`RecordingError::Io`].
    pub fn write_whole_file(&mut self, rel_path: &str, bytes: &[u8]) -> Result<(), RecordingError> {
        let (id, mut f, abs) = self.new_file(rel_path, FileKind::Whole)?;
        self.files.push(FileSlot {
            path: rel_path.to_string(),
            abs: abs.clone(),
            body: Body::Whole,
            broken: false,
            kind: FileKind::Whole,
            covered_end: 0,
            chunk_bytes: 0,
        });
        if let Err(e) = f.write_all(bytes).and_then(|_| f.sync_data()) {
            self.files[id as usize].broken = true;
            return Err(io_err(&abs, 0)(e));
        }
        self.record_region(
            id,
            false,
            Region {
                offset: 0,
                len: bytes.len() as u64,
                sha256: Sha256::digest(bytes).into(),
            },
        )
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

    /// Periodic work at recording time `now`: flushes stalled MP4 fragments, fsyncs every
    /// [`RecordingOptions::sync_interval`], signs every [`RecordingOptions::sign_interval`].
    ///
    /// # Errors
    /// The first error met (work on other files still happens).
    pub fn tick(&mut self, now: MediaTime) -> Result<(), RecordingError> {
        self.now = self.now.max(now);
        let mut first_err = None;
        for id in 0..self.files.len() as u32 {
            let mut out = std::mem::take(&mut self.scratch);
            out.clear();
            let slot = &mut self.files[id as usize];
            if slot.broken {
                self.scratch = out;
                continue;
            }
            let r = match &mut slot.body {
                Body::Mp4(w) => w.tick(now, &mut out).map_err(|e| mp4_err(slot, e)),
                _ => Ok(()),
            };
            let linked = self.link_written(id, &out);
            self.scratch = out;
            if let Err(e) = r.and(linked) {
                first_err.get_or_insert(e);
            }
        }
        if now.saturating_sub(self.last_sync) >= self.options.sync_interval {
            self.last_sync = now;
            if let Err(e) = self.sync() {
                first_err.get_or_insert(e);
            }
        }
        if now.saturating_sub(self.last_sign) >= self.options.sign_interval {
            self.last_sign = now;
            if let Err(e) = self.sign(now) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Flushes and fsyncs every file, then the journal.
    ///
    /// # Errors
    /// The first error (an erroring file is marked broken).
    pub fn sync(&mut self) -> Result<(), RecordingError> {
        let mut first_err = None;
        for id in 0..self.files.len() as u32 {
            if let Err(e) = self.link_log(id) {
                first_err.get_or_insert(e);
            }
        }
        for slot in &mut self.files {
            if slot.broken {
                continue;
            }
            let (r, at) = match &mut slot.body {
                Body::Wav(w) => {
                    let at = w.file_len();
                    (
                        w.sink_mut()
                            .flush()
                            .and_then(|_| w.sink_mut().get_ref().sync_data()),
                        at,
                    )
                }
                Body::Mp4(w) => {
                    let at = w.len();
                    (
                        w.sink_mut()
                            .flush()
                            .and_then(|_| w.sink_mut().get_ref().sync_data()),
                        at,
                    )
                }
                Body::Log(l) => (l.w.flush().and_then(|_| l.w.get_ref().sync_data()), l.len),
                Body::Whole => (Ok(()), 0),
            };
            if let Err(e) = r {
                slot.broken = true;
                first_err.get_or_insert(io_err(&slot.abs, at)(e));
            }
        }
        let path = self.dir.join(JOURNAL_FILE);
        if let Err(e) = self.journal.sync_data() {
            first_err.get_or_insert(io_err(&path, self.journal_len)(e));
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Signs the current chain head now (also done by [`Self::tick`] and [`Self::finish`]).
    ///
    /// # Errors
    /// [`RecordingError::Io`] on the journal.
    pub fn sign(&mut self, at: MediaTime) -> Result<(), RecordingError> {
        if self.signed_count == Some(self.chain.count) {
            return Ok(());
        }
        let sig = self
            .key
            .sign(&signing_message(self.chain.count, &self.chain.head));
        let rec = SigRecord {
            entries: self.chain.count,
            head: HexBytes(self.chain.head),
            signature: HexBytes(sig.to_bytes()),
            at: at.ticks(),
        };
        self.signed_count = Some(rec.entries);
        self.journal_write(JournalLine::Sig(rec))
    }

    /// Closes every file, records `final_status`, signs, writes `manifest.json` and removes the journal.
    ///
    /// Files broken by an I/O error are cut back to what the chain covers; errors met while closing are
    /// listed in [`Summary::close_errors`] (the manifest then describes what is on disk).
    ///
    /// # Errors
    /// [`RecordingError::Io`] when the manifest itself cannot be written (the journal then stays, and
    /// [`crate::recover::recover_dir`] can close the folder later).
    pub fn finish(
        mut self,
        final_status: Status,
        at: MediaTime,
        note: &str,
    ) -> Result<Summary, RecordingError> {
        let mut close_errors = Vec::new();
        for id in 0..self.files.len() as u32 {
            if let Err(e) = self.close_file(id) {
                close_errors.push(e.to_string());
                self.files[id as usize].broken = true;
            }
        }
        for id in 0..self.files.len() {
            if self.files[id].broken {
                if let Err(e) = self.cut_broken(id as u32) {
                    close_errors.push(e.to_string());
                }
            }
        }
        let at = at.max(self.now);
        // Lines the journal could not take are kept in memory (`spill`): a failing journal does not stop the close.
        if let Err(e) = self.record(Entry::Status {
            at: at.ticks(),
            status: final_status,
            note: note.to_string(),
        }) {
            close_errors.push(e.to_string());
        }
        if let Err(e) = self.sign(at) {
            close_errors.push(e.to_string());
        }
        let (entries, sigs) = self.read_back()?;
        let manifest = Manifest::build(&self.begin, entries, sigs);
        if manifest.entry_count != self.chain.count || manifest.chain_head.0 != self.chain.head {
            return Err(RecordingError::Journal(format!(
                "read back {} records that do not end at the chain head written ({} records); \
                 the journal is kept for `verbatim recover`",
                manifest.entry_count, self.chain.count
            )));
        }
        let path = write_manifest(&self.dir, &manifest)?;
        let jpath = self.dir.join(JOURNAL_FILE);
        fs::remove_file(&jpath).map_err(io_err(&jpath, 0))?;
        sync_dir(&self.dir).map_err(io_err(&self.dir, 0))?;
        Ok(Summary {
            manifest: path,
            files: manifest.files,
            entry_count: manifest.entry_count,
            chain_head: crate::integrity::manifest::head_hex(&manifest.chain_head.0),
            final_status,
            close_errors,
        })
    }

    fn close_file(&mut self, id: u32) -> Result<(), RecordingError> {
        let slot = &mut self.files[id as usize];
        if slot.broken {
            return Ok(());
        }
        match slot.kind {
            FileKind::Wav => {
                self.maybe_close_chunk(id, true)?;
                let slot = &mut self.files[id as usize];
                let Body::Wav(w) = &mut slot.body else {
                    return Ok(());
                };
                let header = w.header();
                if let Err(e) = w.refresh_header().and_then(|_| w.flush()).and_then(|_| {
                    w.sink_mut().get_ref().sync_all().map_err(|e| WavError::Io {
                        offset: 0,
                        source: e,
                    })
                }) {
                    return Err(break_wav(slot, e));
                }
                self.record_region(
                    id,
                    true,
                    Region {
                        offset: 0,
                        len: header.len() as u64,
                        sha256: Sha256::digest(header).into(),
                    },
                )
            }
            FileKind::Mp4 => {
                let mut out = Vec::new();
                let r = match &mut slot.body {
                    Body::Mp4(w) => w
                        .finish(&mut out)
                        .and_then(|_| {
                            w.sink_mut()
                                .get_ref()
                                .sync_all()
                                .map_err(|source| Fmp4Error::Io { offset: 0, source })
                        })
                        .map_err(|e| mp4_err(slot, e)),
                    _ => Ok(()),
                };
                self.link_written(id, &out)?;
                r
            }
            FileKind::Whole => {
                self.link_log(id)?;
                let slot = &mut self.files[id as usize];
                if let Body::Log(l) = &mut slot.body {
                    if let Err(e) = l.w.get_ref().sync_all() {
                        slot.broken = true;
                        return Err(io_err(&slot.abs, l.len)(e));
                    }
                }
                Ok(())
            }
        }
    }

    /// Cuts a broken file back to what the chain covers (and rewrites a WAV header to match).
    fn cut_broken(&mut self, id: u32) -> Result<(), RecordingError> {
        let slot = &self.files[id as usize];
        let (abs, end, kind) = (slot.abs.clone(), slot.covered_end, slot.kind);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&abs)
            .map_err(io_err(&abs, end))?;
        f.set_len(end).map_err(io_err(&abs, end))?;
        drop(f);
        if kind == FileKind::Wav && end >= wav::HEADER_LEN {
            let plan = wav::recover_wav(&abs).map_err(|e| RecordingError::Wav {
                path: self.files[id as usize].path.clone(),
                source: e.source,
            })?;
            self.record_region(
                id,
                true,
                Region {
                    offset: 0,
                    len: plan.header.len() as u64,
                    sha256: Sha256::digest(&plan.header).into(),
                },
            )?;
        }
        Ok(())
    }
}

fn wav_to_rec(abs: &Path, rel: &str, e: WavError) -> RecordingError {
    match e {
        WavError::Io { offset, source } => RecordingError::Io {
            path: abs.to_path_buf(),
            offset,
            source,
        },
        other => RecordingError::Wav {
            path: rel.to_string(),
            source: other,
        },
    }
}

fn break_wav(slot: &mut FileSlot, e: WavError) -> RecordingError {
    if matches!(e, WavError::Io { .. }) {
        slot.broken = true;
    }
    wav_to_rec(&slot.abs, &slot.path, e)
}

fn mp4_err(slot: &mut FileSlot, e: Fmp4Error) -> RecordingError {
    match e {
        Fmp4Error::Io { offset, source } => {
            slot.broken = true;
            RecordingError::Io {
                path: slot.abs.clone(),
                offset,
                source,
            }
        }
        other => RecordingError::Mp4 {
            path: slot.path.clone(),
            source: other,
        },
    }
}

/// Writes `manifest.json` atomically (temporary file, fsync, rename, fsync of the folder).
pub(crate) fn write_manifest(dir: &Path, m: &Manifest) -> Result<PathBuf, RecordingError> {
    let tmp = dir.join(MANIFEST_TMP_FILE);
    let path = dir.join(MANIFEST_FILE);
    let bytes = m.render();
    let mut f = File::create(&tmp).map_err(io_err(&tmp, 0))?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(io_err(&tmp, 0))?;
    fs::rename(&tmp, &path).map_err(io_err(&path, 0))?;
    sync_dir(dir).map_err(io_err(dir, 0))?;
    Ok(path)
}

// The writer moves to the media worker's file-sink thread.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<RecordingWriter>();
};

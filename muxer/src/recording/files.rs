//! Adding files to a recording and writing to them: WAV stems in chunks, fragmented MP4s, appended logs
//! and files written whole; each written region is linked into the chain.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use bytes::Bytes;
use media_core::{AudioFormat, MediaTime};
use sha2::{Digest, Sha256};

use super::error::{break_wav, mp4_err, wav_to_rec};
use super::{io_err, Body, LogBody, LogId, Mp4Id, RecordingError, RecordingWriter, StemId};
use crate::fmp4::{Fmp4Options, Fmp4Writer, TrackSpec, Written};
use crate::integrity::{FileKind, Region};
use crate::storage::ZERO_SAMPLES;
use crate::wav::{WavError, WavWriter};

/// Appends of at least this many bytes skip the file's buffer ([`RecordingWriter::write_pcm`]).
pub const UNBUFFERED_APPEND: usize = 4096;

impl RecordingWriter {
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
        // The header is made durable before any sample follows it: after a power cut a chunk is never on disk
        // without the header that makes the file a WAV.
        let commit = self.commit.clone();
        let created = WavWriter::create(BufWriter::with_capacity(1 << 16, f), format)
            .and_then(|mut w| w.flush().map(|_| w))
            .and_then(|mut w| {
                if super::round_covers_all(&commit) {
                    return Ok(w);
                }
                match w.sink_mut().get_mut().sync_data() {
                    Ok(()) => Ok(w),
                    Err(source) => Err(WavError::Io { offset: 0, source }),
                }
            });
        let w = match created {
            Ok(w) => w,
            Err(e) => {
                self.mark_broken(id);
                return Err(wav_to_rec(&abs, rel_path, e));
            }
        };
        let header = w.header();
        let chunk_bytes = format
            .bytes_in(self.options.wav_chunk_duration)
            .max(format.bytes_per_sample_frame()) as u64;
        self.set_body(id, Body::Wav(w), chunk_bytes);
        self.record_header(id, &header)?;
        Ok(StemId(id))
    }

    /// Appends interleaved samples to a stem. Every [`RecordingOptions::wav_chunk_duration`](super::RecordingOptions::wav_chunk_duration) of audio the chunk
    /// is closed: flushed to the OS, the header refreshed, a `data` record linked.
    ///
    /// # Errors
    /// [`RecordingError::Io`] (the stem is broken from then on), [`RecordingError::FileBroken`],
    /// [`RecordingError::UnknownFile`].
    pub fn write_pcm(&mut self, stem: StemId, samples: &[i16]) -> Result<(), RecordingError> {
        self.append_pcm(stem, samples, samples.len() * 2 < UNBUFFERED_APPEND)
    }

    fn append_pcm(
        &mut self,
        stem: StemId,
        samples: &[i16],
        buffered: bool,
    ) -> Result<(), RecordingError> {
        let slot = self.slot(stem.0, FileKind::Wav)?;
        if let Body::Wav(w) = &mut slot.body {
            // A recorder's stem blocks (half a second of audio) go to the file from the block itself; ticks
            // (and silence) are gathered in the buffer.
            let r = if !buffered {
                w.append_samples_unbuffered(samples)
            } else {
                w.append_samples(samples)
            };
            if let Err(e) = r {
                return Err(break_wav(slot, e));
            }
        }
        self.maybe_close_chunk(stem.0, false)
    }

    /// Appends `samples` zero samples (interleaved: a multiple of the stem's channels) to a stem, as
    /// [`Self::write_pcm`] of that many zeros would, without the caller making them: for a participant's
    /// silence (the recorder hands it over as a count). Pieces end at the stem's chunk boundaries (a chunk
    /// closes at exactly its length) and are gathered in the file's buffer, so a silent chunk is a hole in
    /// the file; its digest is the cached one of its length.
    ///
    /// # Errors
    /// As [`Self::write_pcm`].
    ///
    /// ```
    /// use media_core::{AudioFormat, MediaTime};
    /// use muxer::{RecordingOptions, RecordingWriter, Status};
    /// let dir = std::env::temp_dir().join(format!("verbatim-doc-silence-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let key = muxer::integrity::generate_signing_key().unwrap();
    /// let mut w = RecordingWriter::create(&dir, key, RecordingOptions::new("rec", 0)).unwrap();
    /// let stem = w.add_wav("participants/bob.wav", AudioFormat::PCM16K).unwrap();
    /// w.write_silence(stem, 40_000).unwrap(); // 2.5 s
    /// w.write_pcm(stem, &[7; 320]).unwrap();
    /// w.finish(Status::Completed, MediaTime::from_millis(2_520), "").unwrap();
    /// let file = std::fs::read(dir.join("participants/bob.wav")).unwrap();
    /// assert_eq!(file.len(), 80 + 2 * 40_320);
    /// assert!(file[80..80 + 80_000].iter().all(|&b| b == 0));
    /// assert!(muxer::verify::verify_dir(&dir, None).is_ok());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn write_silence(&mut self, stem: StemId, samples: u64) -> Result<(), RecordingError> {
        // The chunks a long silence fills (a late joiner's lead-in: seconds or an hour) are closed as they
        // fill, but the file is extended over them, its header refreshed and the chunks linked once, at the
        // end: a constant number of system calls, not three per second of silence.
        let mut closed = Vec::new();
        let mut left = samples;
        while left > 0 {
            let slot = self.slot(stem.0, FileKind::Wav)?;
            let chunk_bytes = slot.chunk_bytes;
            let Body::Wav(w) = &mut slot.body else {
                return Ok(());
            };
            let align = w.format().bytes_per_sample_frame().max(1) as u64;
            // Up to the chunk's end (whole sample frames, at least one), at most the zeros at hand.
            let to_chunk_end =
                chunk_bytes.saturating_sub(w.pending_chunk_len()) / align * align / 2;
            let piece = left
                .min(ZERO_SAMPLES.len() as u64)
                .min(to_chunk_end.max(align / 2));
            let piece = usize::try_from(piece).unwrap_or(ZERO_SAMPLES.len());
            // Through the file's buffer, as ticks go: the sparse file then sees the chunk's zeros in one
            // write and leaves them all as a hole (a short unbuffered piece would be written as data).
            if let Err(e) = w.append_samples(&ZERO_SAMPLES[..piece]) {
                return Err(break_wav(slot, e));
            }
            if w.pending_chunk_len() >= chunk_bytes {
                closed.extend(w.take_chunk());
            }
            left -= piece as u64;
        }
        self.link_chunks(stem.0, closed)
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

    pub(super) fn maybe_close_chunk(&mut self, id: u32, force: bool) -> Result<(), RecordingError> {
        let slot = self.slot(id, FileKind::Wav)?;
        let chunk_bytes = slot.chunk_bytes;
        let Body::Wav(w) = &mut slot.body else {
            return Ok(());
        };
        if w.pending_chunk_len() == 0 || (!force && w.pending_chunk_len() < chunk_bytes) {
            return Ok(());
        }
        let region = w.take_chunk();
        self.link_chunks(id, region)
    }

    /// Puts a WAV's closed chunks on disk (handed to the OS, a silent tail included: a sparse stem's only
    /// `ftruncate`), refreshes its header, then links the chunks in the journal, in order.
    fn link_chunks(
        &mut self,
        id: u32,
        chunks: impl IntoIterator<Item = Region>,
    ) -> Result<(), RecordingError> {
        let mut chunks = chunks.into_iter().peekable();
        if chunks.peek().is_none() {
            return Ok(());
        }
        let slot = self.slot(id, FileKind::Wav)?;
        let Body::Wav(w) = &mut slot.body else {
            return Ok(());
        };
        let flushed = w.flush().and_then(|_| {
            let at = w.file_len();
            w.sink_mut()
                .get_mut()
                .materialize()
                .map_err(|source| WavError::Io { offset: at, source })
        });
        if let Err(e) = flushed {
            return Err(break_wav(slot, e));
        }
        let refreshed = w.refresh_header().and_then(|_| w.flush());
        for r in chunks {
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
        let (id, f, _) = self.new_file(rel_path, FileKind::Mp4)?;
        let opts = Fmp4Options {
            fragment_duration: self.options.fragment_duration,
            creation_unix_secs: self.options.creation_unix_secs,
        };
        let mut w = Fmp4Writer::new(BufWriter::with_capacity(1 << 16, f), tracks, opts);
        w.set_init_barrier(|s| s.get_mut().sync_data());
        self.set_body(id, Body::Mp4(Box::new(w)), 0);
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

    /// Links every region written (all of them even when the journal fails: the records are then kept in
    /// memory for the manifest); the first error is returned.
    pub(super) fn link_written(&mut self, id: u32, out: &[Written]) -> Result<(), RecordingError> {
        let mut first = Ok(());
        for w in out {
            let r = match *w {
                Written::Init(r) => self.record_region(id, true, r),
                Written::Fragment(r) => self.record_region(id, false, r),
            };
            if let Err(e) = r {
                first = first.and(Err(e));
            }
        }
        first
    }

    /// Adds an appended log at `rel_path` (e.g. `timeline.jsonl`): bytes go to the file as
    /// [`Self::append_log`] gives them (buffered), and each sync links what was appended since the last one
    /// with one `data` record. `verify` and `recover` treat it like any file of appended regions.
    ///
    /// # Errors
    /// [`RecordingError::InvalidPath`], [`RecordingError::Io`].
    pub fn add_log(&mut self, rel_path: &str) -> Result<LogId, RecordingError> {
        let (id, f, _) = self.new_file(rel_path, FileKind::Whole)?;
        let body = Body::Log(LogBody {
            w: BufWriter::with_capacity(1 << 14, f),
            len: 0,
            linked: 0,
            pending: Sha256::new(),
        });
        self.set_body(id, body, 0);
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
    /// its timeline back at close to build `metadata.json`). In an encrypted recording the log is decrypted
    /// with its own data key, which the writer holds while the file is open.
    ///
    /// # Errors
    /// [`RecordingError::Io`], [`RecordingError::FileBroken`], [`RecordingError::UnknownFile`].
    pub fn read_log(&mut self, log: LogId) -> Result<Box<dyn io::BufRead + Send>, RecordingError> {
        let slot = self.slot(log.0, FileKind::Whole)?;
        let Body::Log(l) = &mut slot.body else {
            return Err(RecordingError::UnknownFile(log.0));
        };
        if let Err(e) = l.w.flush() {
            slot.broken = true;
            return Err(io_err(&slot.abs, l.len)(e));
        }
        let f = File::open(&slot.abs).map_err(io_err(&slot.abs, 0))?;
        let Some(tally) = &slot.sealed else {
            return Ok(Box::new(io::BufReader::new(f)));
        };
        let mut r = io::BufReader::new(f);
        io::copy(&mut (&mut r).take(tally.header_len()), &mut io::sink())
            .map_err(io_err(&slot.abs, 0))?;
        let mut rd = seal::SealedReader::with_key(r, tally.key(), tally.header_len());
        let plain = seal::replay_reader(&mut rd, u64::MAX).map_err(|e| {
            io_err(&slot.abs, rd.position())(io::Error::new(io::ErrorKind::InvalidData, e))
        })?;
        Ok(Box::new(io::Cursor::new(plain)))
    }

    /// Links what was appended to log `id` since its last link (flushed to the OS first).
    pub(super) fn link_log(&mut self, id: u32) -> Result<(), RecordingError> {
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
        // On a full disk the room comes out of what was kept for the close.
        self.reserve
            .release_for(bytes.len() as u64, self.journal_len);
        let (id, mut f, abs) = self.new_file(rel_path, FileKind::Whole)?;
        let commit = self.commit.clone();
        // `flush`: an encrypted file seals what it gathered (a plain file has nothing to flush).
        if let Err(e) = f.write_all(bytes).and_then(|_| f.flush()).and_then(|_| {
            if super::round_covers_all(&commit) {
                return Ok(());
            }
            f.sync_data()
        }) {
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
}

//! The folder sink: writes a signed recording folder from the recorder's per-tick output.
//!
//! Layout (every file covered by the signed hash chain in `manifest.json`, see the `muxer` crate):
//! `participants/<name>.wav` (one stem per participant, as long as the recording), `mixed.wav` (the lossless
//! mix), `recording.mp4` (the mix as Opus in crash-safe fragmented MP4, plus the composite meeting video when
//! enabled), `participants/<name>.mp4` and `screenshare.mp4` (received H.264, unchanged), `timeline.jsonl`
//! (gaps, dominant-speaker changes, joins and leaves, pauses and counter snapshots as they happen, one JSON
//! object per line, see [`TimelineLine`] and [`crate::journal`]) and `metadata.json` (written last; its lists
//! are read back from `timeline.jsonl`, so memory stays flat however long the call; after a crash `verbatim
//! recover` rebuilds it from `timeline.jsonl`, see [`crate::rebuild`]).
//!
//! The mix is encoded one 20 ms tick at a time into one Opus packet (a last partial tick is padded with
//! silence to a whole Opus frame, so the Opus track can be up to 20 ms longer than the recording).

use std::borrow::Cow;

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use codecs::opus::{OpusApplication, OpusEncoder, OpusEncoderConfig};
use codecs::CodecError;
use ed25519_dalek::SigningKey;
use media_core::ledger::{Gap, GapKind};
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::TrackSpec;
use muxer::{
    LogId, Mp4Id, RecordingError, RecordingOptions, RecordingWriter, Status, StemId, Summary,
};

use crate::composite::CompositeFrame;
use crate::engine::{ParticipantInfo, RecordingSink, TimelineEvent};
use crate::journal::{SinkControl, SnapshotDiff, SnapshotLine};
use crate::metadata::{us, TimelineLists};
use crate::video::VideoSample;

mod timeline_line;

/// How long one RFC 3161 request may take, and so how long the close waits for the stamps still asked for
/// (a close waiting less would count a slow but answering TSA's last stamp as failed).
const TSA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Bytes of the mix's packet arena (`FolderSink::packets_arena`): ~800 packets of 32 kbit/s, 20 s.
const PACKET_ARENA: usize = 64 * 1024;
/// Room given to one packet (`OpusEncoder::encode_into`: 4,000 bytes always suffice).
const PACKET_ROOM: usize = 4000;

/// Why the folder could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A file of the recording failed (disk full, I/O error…); what was written before stays valid.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The Opus encoder failed.
    #[error("Opus encoder: {0}")]
    Codec(#[from] CodecError),
    /// The writer thread ([`crate::writer_thread`]) met an error or could not run; the message is its first
    /// error (the error itself is returned by [`crate::writer_thread::ThreadedSink::stop`]).
    #[error("writer thread: {0}")]
    WriterFailed(String),
    /// The writer thread made no room in its queue for this long (a stalled disk): the recording stops
    /// rather than block the call for ever.
    #[error("the writer thread made no progress for {0:?} (disk stalled?)")]
    WriterStalled(std::time::Duration),
}

/// The file the recorder's [`TimelineEvent`]s go to, in the recording folder.
pub const TIMELINE_FILE: &str = "timeline.jsonl";

pub use timeline_line::{read_timeline_lines, TimelineLine};

/// The name at `i` (an index the recorder never handed over reads `#i`).
fn name(names: &[String], i: usize) -> Cow<'_, str> {
    names.get(i).map_or_else(
        || Cow::Owned(format!("#{i}")),
        |n| Cow::Borrowed(n.as_str()),
    )
}

/// Appends `line` to the log `log` through the reused buffer `buf`.
fn put_line(
    w: &mut RecordingWriter,
    log: LogId,
    buf: &mut Vec<u8>,
    line: &TimelineLine<'_>,
) -> Result<(), SinkError> {
    buf.clear();
    // Serializing strings, integers and JSON values into a Vec cannot fail.
    if serde_json::to_writer(&mut *buf, line).is_ok() {
        buf.push(b'\n');
        w.append_log(log, buf)?;
    }
    Ok(())
}

/// What the sink needs to know at creation.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// Recording id (goes into the manifest and its chain).
    pub recording_id: String,
    /// Wall-clock time of recording time zero, ms since the Unix epoch.
    pub start_utc_ms: i64,
    /// PCM format of stems and mix.
    pub format: AudioFormat,
    /// Opus bitrate of the mix in `recording.mp4`.
    pub opus_bitrate_bps: u32,
    /// Also write the lossless `mixed.wav`.
    pub mixed_wav: bool,
    /// `recording.mp4` gets a second track: the composite meeting video (H.264).
    pub composite: bool,
    /// Encryption at rest: the age recipients (`age1…`) every file is encrypted to; empty: plaintext
    /// ([`muxer::RecordingOptions::encrypt_to`]).
    pub encrypt_to: Vec<String>,
}

/// Writes stems, the mix (WAV and Opus/MP4) and metadata into a signed recording folder.
pub struct FolderSink {
    writer: RecordingWriter,
    videos: Vec<Option<Mp4Id>>,
    video_refused: u64,
    /// Video streams whose file could not be created: (path, why). The stream is not recorded; the rest
    /// of the recording goes on.
    video_failed: Vec<(String, String)>,
    stems: Vec<StemId>,
    /// Samples (interleaved) handed to each stem so far, its lead-in included: where its next sample sits on
    /// the recording's timeline, for the listen-ins that take a stem beyond the first 64 as it comes.
    stem_at: Vec<u64>,
    names: Vec<String>,
    video_paths: Vec<String>,
    timeline: LogId,
    line: Vec<u8>,
    /// The counter snapshots' lines (`timeline.jsonl`), and the participants and video streams the last one
    /// listed.
    snapshots: SnapshotDiff<crate::metadata::ParticipantMeta>,
    last_counts: (usize, usize),
    mixed_wav: Option<StemId>,
    mp4: Mp4Id,
    opus: OpusEncoder,
    /// The mix's Opus packets, encoded one after another into this arena and handed to the MP4 writer as
    /// slices of it (`split().freeze()`): no allocation per packet. Once the fragments holding earlier
    /// packets are written, `reserve` takes the arena's memory back.
    packets_arena: BytesMut,
    /// A partial Opus frame, when a tick does not end on a frame boundary (a tick is one frame by default).
    frame: Vec<i16>,
    filled: usize,
    packets: i64,
    frame_time: MediaTime,
    written: MediaTime,
    format: AudioFormat,
    /// Time-stamps signature checkpoints (`--tsa`), off this thread.
    stamper: Option<crate::tsa::Stamper>,
    /// Wall clock of recording time zero (Unix ms), for listen-in taps.
    start_utc_ms: i64,
    /// Live listen-ins: a stem index or `None` for the mix, and the tap (see [`crate::journal::ListenTap`]).
    taps: Vec<(Option<usize>, crate::journal::ListenTap)>,
}

impl FolderSink {
    /// Creates the folder, its journal and `recording.mp4`, and records status `recording`.
    ///
    /// # Errors
    /// The folder exists with a recording in it, a file cannot be created, or the encoder cannot be set up.
    pub fn create(dir: &Path, key: SigningKey, o: &SinkOptions) -> Result<Self, SinkError> {
        Self::create_with_commit(dir, key, o, None)
    }

    /// [`Self::create`], the folder made durable through the node's group commit from its first file on
    /// (see [`Self::use_group_commit`]): a call's start costs the node the journal's and the close
    /// reserve's fsyncs and a round or two, not an fsync per file.
    ///
    /// # Errors
    /// As [`Self::create`].
    pub fn create_with_commit(
        dir: &Path,
        key: SigningKey,
        o: &SinkOptions,
        commit: Option<muxer::group_commit::CommitHandle>,
    ) -> Result<Self, SinkError> {
        let mut ropts = RecordingOptions::new(&o.recording_id, o.start_utc_ms);
        ropts.encrypt_to = o.encrypt_to.clone();
        let mut writer = RecordingWriter::create(dir, key, ropts)?;
        if let Some(h) = commit {
            writer.use_group_commit(h);
        }
        // The mix in recording.mp4 is the playback copy (stems and mixed.wav are the lossless record), so its
        // encoder is chosen for cost: CELT only (restricted low delay), complexity 0 — 0.75 ms of CPU per
        // second of 16 kHz mix at 16 dB SNR on the four samples, against 1.6 ms at 18 dB for SILK complexity 1
        // (codecs/examples/opus_probe.rs; docs/codecs.md). It is half the per-call CPU budget otherwise.
        let opus = OpusEncoder::new(OpusEncoderConfig {
            format: o.format,
            bitrate_bps: o.opus_bitrate_bps,
            application: OpusApplication::LowDelay,
            complexity: 0,
            ..OpusEncoderConfig::default()
        })?;
        let spec = TrackSpec::Opus {
            channels: o.format.channels as u8,
            pre_skip: opus.pre_skip(),
            input_sample_rate: o.format.sample_rate,
        };
        let mp4 = if o.composite {
            writer.add_mp4("recording.mp4", &[spec, TrackSpec::h264()])?
        } else {
            writer.add_mp4("recording.mp4", &[spec])?
        };
        let mixed_wav = if o.mixed_wav {
            Some(writer.add_wav("mixed.wav", o.format)?)
        } else {
            None
        };
        let timeline = writer.add_log(TIMELINE_FILE)?;
        writer.set_status(Status::Recording, MediaTime::ZERO, "recording started")?;
        let frame_len = opus.frame_samples() * o.format.channels as usize;
        Ok(FolderSink {
            writer,
            videos: Vec::new(),
            video_refused: 0,
            video_failed: Vec::new(),
            stems: Vec::new(),
            stem_at: Vec::new(),
            names: Vec::new(),
            video_paths: Vec::new(),
            timeline,
            line: Vec::with_capacity(256),
            snapshots: SnapshotDiff::new("participants"),
            last_counts: (0, 0),
            mixed_wav,
            mp4,
            packets_arena: BytesMut::with_capacity(PACKET_ARENA),
            frame: vec![0; frame_len],
            filled: 0,
            packets: 0,
            frame_time: MediaTime::from_samples(opus.frame_samples() as i64, o.format.sample_rate),
            opus,
            written: MediaTime::ZERO,
            format: o.format,
            stamper: None,
            start_utc_ms: o.start_utc_ms,
            taps: Vec::new(),
        })
    }

    /// Makes the folder durable through the node's group commit instead of fsyncing its own files every
    /// second (see [`muxer::group_commit`]; `verbatim listen` does this for every call).
    pub fn use_group_commit(&mut self, handle: muxer::group_commit::CommitHandle) {
        self.writer.use_group_commit(handle);
    }

    /// Has every signature checkpoint time-stamped by the RFC 3161 authority at `url` (see [`crate::tsa`]).
    ///
    /// # Errors
    /// The stamping thread cannot be started.
    pub fn start_timestamping(&mut self, url: &str) -> Result<(), SinkError> {
        let s = crate::tsa::Stamper::start(url, TSA_TIMEOUT)
            .map_err(|e| SinkError::WriterFailed(format!("time-stamping thread: {e}")))?;
        self.stamper = Some(s);
        Ok(())
    }

    /// Time-stamps: (stamped, failed, last failure), when `--tsa` is on.
    pub fn timestamp_counters(&self) -> Option<(u64, u64, Option<String>)> {
        self.stamper
            .as_ref()
            .map(|s| (s.stamped(), s.failed(), s.last_error().map(str::to_string)))
    }

    /// Hands a new checkpoint to the stamper and links the tokens that arrived (between writes; never blocks).
    fn stamp(&mut self) -> Result<(), SinkError> {
        let Some(st) = &mut self.stamper else {
            return Ok(());
        };
        while let Some((n, imprint)) = self.writer.take_checkpoint() {
            st.request(n, imprint);
        }
        let mut r = Ok(());
        let w = &mut self.writer;
        st.poll(|n, token| {
            if r.is_ok() {
                r = w.add_timestamp(n, token);
            }
        });
        Ok(r?)
    }

    fn encode_frame(&mut self) -> Result<(), SinkError> {
        let frame = std::mem::take(&mut self.frame);
        let r = self.encode_pcm(&frame);
        self.frame = frame;
        self.filled = 0;
        r
    }

    /// Encodes one Opus frame of the mix straight into the packet arena and hands the packet to the MP4.
    fn encode_pcm(&mut self, pcm: &[i16]) -> Result<(), SinkError> {
        let arena = &mut self.packets_arena;
        // The arena is kept initialised (zeroed once when it is taken, not per packet): each packet is encoded
        // into its front and cut off; what remains is the room for the next ones.
        if arena.len() < PACKET_ROOM {
            arena.clear();
            // Takes the arena's memory back when every packet cut from it is gone (written fragments);
            // allocates only when a fragment still holds them.
            arena.reserve(PACKET_ARENA);
            let room = arena.capacity();
            arena.resize(room, 0);
        }
        let n = self.opus.encode_into(pcm, &mut arena[..PACKET_ROOM])?;
        let packet = arena.split_to(n).freeze();
        let pts = MediaTime::from_ticks(self.frame_time.ticks().saturating_mul(self.packets));
        self.writer.write_sample(self.mp4, 0, pts, packet)?;
        self.packets += 1;
        Ok(())
    }

    /// Writes `metadata.json`, encodes the last partial Opus frame, closes every file and signs the manifest.
    ///
    /// # Errors
    /// A file could not be finished; the journal then stays and `verbatim recover` can close the folder.
    pub fn close(
        mut self,
        metadata_json: &[u8],
        status: Status,
        note: &str,
    ) -> Result<Summary, SinkError> {
        let mut first_err = None;
        if self.filled > 0 {
            for s in &mut self.frame[self.filled..] {
                *s = 0;
            }
            if let Err(e) = self.encode_frame() {
                first_err = Some(e);
            }
        }
        if let Err(e) = self.writer.write_whole_file("metadata.json", metadata_json) {
            first_err.get_or_insert(e.into());
        }
        let status = if first_err.is_some() {
            Status::Failed
        } else {
            status
        };
        // The media's last checkpoint is stamped too: signed now, its token awaited a few seconds; the
        // stamping counts go into the signed final status note.
        let mut note = note.to_string();
        if let Some(mut st) = self.stamper.take() {
            let w = &mut self.writer;
            if let Err(e) = w.sign_and_wait(self.written) {
                first_err.get_or_insert(e.into());
            }
            while let Some((n, imprint)) = w.take_checkpoint() {
                st.request(n, imprint);
            }
            // As long as a request may take: the close's own checkpoint was asked for just now.
            st.drain(TSA_TIMEOUT, |n, token| {
                if let Err(e) = w.add_timestamp(n, token) {
                    first_err.get_or_insert(e.into());
                }
            });
            note.push_str(&format!(
                "{}RFC 3161 time-stamps: {} checkpoints stamped, {} failed{}",
                if note.is_empty() { "" } else { "; " },
                st.stamped(),
                st.failed(),
                st.last_error()
                    .map(|e| format!(" (last: {e})"))
                    .unwrap_or_default()
            ));
        }
        let summary = self.writer.finish(status, self.written, &note)?;
        match first_err {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }

    /// Reads `timeline.jsonl` back into the lists `metadata.json` shows, with the number of lines that could
    /// not be read (none unless the file was changed while recording; they are skipped).
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn read_timeline(&mut self) -> Result<(TimelineLists, u64), SinkError> {
        let r = self.writer.read_log(self.timeline)?;
        let mut lists = TimelineLists::default();
        let mut unknown = 0u64;
        let unreadable = read_timeline_lines(r, |line| {
            if matches!(
                line,
                TimelineLine::Paused { .. }
                    | TimelineLine::Resumed { .. }
                    | TimelineLine::Counters { .. }
                    | TimelineLine::ListenIn { .. }
                    | TimelineLine::ListenInEnded { .. }
            ) {
                return; // in metadata.json's call and counters sections, from the recorder itself
            }
            match self.event_of(line) {
                Some(ev) => lists.push(ev),
                None => unknown += 1,
            }
        })
        .map_err(|source| RecordingError::Io {
            path: self.writer.dir().join(TIMELINE_FILE),
            offset: 0,
            source,
        })?;
        Ok((lists, unreadable + unknown))
    }

    /// The event of a line, `None` when it names a participant or file this recording does not have.
    fn event_of(&self, line: TimelineLine<'_>) -> Option<TimelineEvent> {
        let stem = |name: &str| self.names.iter().position(|n| n == name);
        Some(match line {
            TimelineLine::AudioGap {
                participant,
                start_us,
                length_us,
                kind,
                cause,
            } => TimelineEvent::AudioGap {
                participant: stem(&participant)?,
                gap: Gap::new(
                    MediaTime::from_micros(start_us),
                    MediaTime::from_micros(length_us),
                    GapKind::parse(&kind, cause.as_deref())?,
                ),
            },
            TimelineLine::VideoGap {
                file,
                start_us,
                length_us,
                kind,
                cause,
            } => TimelineEvent::VideoGap {
                video: self.video_paths.iter().position(|p| *p == file)?,
                gap: Gap::new(
                    MediaTime::from_micros(start_us),
                    MediaTime::from_micros(length_us),
                    GapKind::parse(&kind, cause.as_deref())?,
                ),
            },
            TimelineLine::DominantSpeaker { at_us, participant } => {
                TimelineEvent::DominantSpeaker {
                    at: MediaTime::from_micros(at_us),
                    participant: match participant {
                        Some(p) => Some(stem(&p)?),
                        None => None,
                    },
                }
            }
            TimelineLine::Joined { participant, at_us } => TimelineEvent::Joined {
                participant: stem(&participant)?,
                at: MediaTime::from_micros(at_us),
            },
            TimelineLine::Left { participant, at_us } => TimelineEvent::Left {
                participant: stem(&participant)?,
                at: MediaTime::from_micros(at_us),
            },
            TimelineLine::Paused { .. }
            | TimelineLine::Resumed { .. }
            | TimelineLine::Counters { .. }
            | TimelineLine::ListenIn { .. }
            | TimelineLine::ListenInEnded { .. } => return None,
        })
    }

    /// Appends one line to `timeline.jsonl` (linked into the chain at the next sync).
    fn write_line(&mut self, line: &TimelineLine<'_>) -> Result<(), SinkError> {
        put_line(&mut self.writer, self.timeline, &mut self.line, line)
    }

    /// Video frames the MP4 muxer refused (a time before the file's start or not after the previous frame,
    /// a malformed Annex-B frame): each is missing from its passthrough file.
    pub fn video_samples_refused(&self) -> u64 {
        self.video_refused
    }

    /// Video streams whose file could not be created, as `(path, why)`: each degraded that stream only.
    pub fn video_streams_failed(&self) -> &[(String, String)] {
        &self.video_failed
    }

    /// Media time written so far (the mix, tick by tick).
    pub fn written(&self) -> MediaTime {
        self.written
    }

    /// The recording folder.
    pub fn dir(&self) -> PathBuf {
        self.writer.dir().to_path_buf()
    }
}

impl FolderSink {
    /// Hands a tick that starts at `at` on the recording's timeline to the listen-ins on it; a tap whose
    /// listener is gone is detached.
    fn feed_taps(&mut self, stem: Option<usize>, samples: &[i16], at: MediaTime) {
        let wall_ms = self.start_utc_ms.saturating_add(us(at) / 1000);
        self.taps
            .retain(|(s, tap)| *s != stem || (tap.0)(samples, wall_ms));
    }

    /// Where stem `index`'s next sample sits on the recording's timeline.
    fn stem_time(&self, index: usize) -> MediaTime {
        let ch = u64::from(self.format.channels.max(1));
        let frames = self.stem_at.get(index).copied().unwrap_or(0) / ch;
        MediaTime::from_samples(
            i64::try_from(frames).unwrap_or(i64::MAX),
            self.format.sample_rate,
        )
    }
}

impl RecordingSink for FolderSink {
    type Error = SinkError;

    fn participant_added(
        &mut self,
        index: usize,
        p: &ParticipantInfo,
        lead_in: u64,
    ) -> Result<(), SinkError> {
        let id = self
            .writer
            .add_wav(&format!("participants/{}.wav", p.name), self.format)?;
        // The lead-in as silence: a hole in the file, its chunks hashed as silence (once per length).
        self.writer
            .write_silence(id, lead_in * u64::from(self.format.channels))?;
        debug_assert_eq!(index, self.stems.len());
        self.stems.push(id);
        self.stem_at
            .push(lead_in.saturating_mul(u64::from(self.format.channels)));
        self.names.push(p.name.clone());
        Ok(())
    }

    fn stem(&mut self, index: usize, samples: &[i16]) -> Result<(), SinkError> {
        let at = self.stem_time(index);
        if let Some(&id) = self.stems.get(index) {
            self.writer.write_pcm(id, samples)?;
        }
        if let Some(n) = self.stem_at.get_mut(index) {
            *n = n.saturating_add(samples.len() as u64);
        }
        // Listeners of the first 64 stems get their ticks through `stem_tap`; beyond, the stem as it comes,
        // stamped with its own place on the timeline (a stem's data may reach the writer ahead of the mix).
        if index >= 64 && !self.taps.is_empty() {
            self.feed_taps(Some(index), samples, at);
        }
        Ok(())
    }

    fn stem_silence(&mut self, index: usize, samples: usize) -> Result<(), SinkError> {
        if index >= 64 && !self.taps.is_empty() {
            // Listeners beyond the first 64 stems take the stem as it is written (`stem`): zeros.
            return crate::engine::stem_zeros(self, index, samples);
        }
        if let Some(&id) = self.stems.get(index) {
            self.writer.write_silence(id, samples as u64)?;
        }
        if let Some(n) = self.stem_at.get_mut(index) {
            *n = n.saturating_add(samples as u64);
        }
        Ok(())
    }

    fn listened_stems(&self) -> u64 {
        self.taps
            .iter()
            .filter_map(|(s, _)| *s)
            .filter(|&i| i < 64)
            .fold(0, |bits, i| bits | 1 << i)
    }

    fn listened_mix(&self) -> bool {
        self.taps.iter().any(|(s, _)| s.is_none())
    }

    fn end_batch(&mut self) -> Result<(), SinkError> {
        // Told where batches end: the journal's lines go out once per batch from now on.
        self.writer.batch_journal();
        Ok(self.writer.flush_journal()?)
    }

    fn stem_tap(&mut self, index: usize, samples: &[i16]) -> Result<(), SinkError> {
        if !self.taps.is_empty() {
            self.feed_taps(Some(index), samples, self.written);
        }
        Ok(())
    }

    fn mixed(&mut self, samples: &[i16]) -> Result<(), SinkError> {
        if !self.taps.is_empty() {
            self.feed_taps(None, samples, self.written);
        }
        if let Some(id) = self.mixed_wav {
            self.writer.write_pcm(id, samples)?;
        }
        let mut rest = samples;
        while !rest.is_empty() {
            if self.filled == 0 && rest.len() >= self.frame.len() {
                // A whole frame in the tick (the usual case: a tick is one 20 ms frame): encoded from it.
                let (pcm, tail) = rest.split_at(self.frame.len());
                self.encode_pcm(pcm)?;
                rest = tail;
                continue;
            }
            let n = (self.frame.len() - self.filled).min(rest.len());
            self.frame[self.filled..self.filled + n].copy_from_slice(&rest[..n]);
            self.filled += n;
            rest = &rest[n..];
            if self.filled == self.frame.len() {
                self.encode_frame()?;
            }
        }
        let ch = self.format.channels.max(1) as i64;
        self.written = self.written.saturating_add(MediaTime::from_samples(
            samples.len() as i64 / ch,
            self.format.sample_rate,
        ));
        self.writer.tick(self.written)?;
        self.stamp()?;
        Ok(())
    }

    fn video_stream_added(&mut self, index: usize, path: &str) -> Result<(), SinkError> {
        debug_assert_eq!(index, self.videos.len());
        // A file that cannot be created for one stream degrades that stream only (listed in metadata); a
        // storage that fails as a whole fails the next write of the stems and the mix.
        let id = match self.writer.add_mp4(path, &[TrackSpec::h264()]) {
            Ok(id) => Some(id),
            Err(e) => {
                if self.video_failed.len() < 256 {
                    self.video_failed.push((path.to_string(), e.to_string()));
                }
                None
            }
        };
        self.videos.push(id);
        self.video_paths.push(path.to_string());
        Ok(())
    }

    fn video_sample(&mut self, index: usize, sample: VideoSample) -> Result<(), SinkError> {
        if let Some(Some(id)) = self.videos.get(index) {
            match self.writer.write_sample(*id, 0, sample.pts, sample.data) {
                // A sample the muxer refuses (e.g. before SPS/PPS) loses that frame only: counted
                // (`video_frames_refused_by_muxer` in metadata.json).
                Err(RecordingError::Mp4 { .. }) => self.video_refused += 1,
                r => r?,
            }
        }
        Ok(())
    }

    fn composite_frame(&mut self, frame: CompositeFrame) -> Result<(), SinkError> {
        self.writer
            .write_sample(self.mp4, 1, frame.pts, frame.data)?;
        Ok(())
    }

    fn timeline(&mut self, event: TimelineEvent) -> Result<(), SinkError> {
        let line = match event {
            TimelineEvent::AudioGap { participant, gap } => TimelineLine::AudioGap {
                participant: name(&self.names, participant),
                start_us: us(gap.start),
                length_us: us(gap.length),
                kind: Cow::Borrowed(gap.kind.name()),
                cause: gap.kind.cause().map(Cow::Borrowed),
            },
            TimelineEvent::VideoGap { video, gap } => TimelineLine::VideoGap {
                file: name(&self.video_paths, video),
                start_us: us(gap.start),
                length_us: us(gap.length),
                kind: Cow::Borrowed(gap.kind.name()),
                cause: gap.kind.cause().map(Cow::Borrowed),
            },
            TimelineEvent::DominantSpeaker { at, participant } => TimelineLine::DominantSpeaker {
                at_us: us(at),
                participant: participant.map(|i| name(&self.names, i)),
            },
            TimelineEvent::Joined { participant, at } => TimelineLine::Joined {
                participant: name(&self.names, participant),
                at_us: us(at),
            },
            TimelineEvent::Left { participant, at } => TimelineLine::Left {
                participant: name(&self.names, participant),
                at_us: us(at),
            },
        };
        put_line(&mut self.writer, self.timeline, &mut self.line, &line)
    }

    fn control(&mut self, c: SinkControl) -> Result<(), SinkError> {
        match c {
            SinkControl::ListenIn(l) => {
                let stem = match &l.who {
                    None => None,
                    Some(name) => match self.names.iter().position(|n| n == name) {
                        Some(i) => Some(i),
                        None => return Ok(()), // not (yet) a participant: nothing to hear, nothing journaled
                    },
                };
                self.write_line(&TimelineLine::ListenIn {
                    at_us: us(self.written),
                    by: Cow::Borrowed(&l.by),
                    reason: Cow::Borrowed(&l.reason),
                    utc: Cow::Borrowed(&l.utc),
                    listened_to: Cow::Borrowed(l.who.as_deref().unwrap_or("mix")),
                })?;
                // Evidential, as a pause: linked and synced now.
                self.writer.sync()?;
                self.taps.push((stem, l.tap));
            }
            SinkControl::ListenInEnded(e) => {
                self.write_line(&TimelineLine::ListenInEnded {
                    at_us: us(self.written),
                    by: Cow::Borrowed(&e.by),
                    utc: Cow::Borrowed(&e.utc),
                    length_ms: e.length_ms,
                })?;
                self.writer.sync()?;
            }
            SinkControl::Paused(p) => {
                self.write_line(&TimelineLine::Paused {
                    at_us: us(p.at),
                    requested_utc: Cow::Borrowed(&p.requested_utc),
                    requested_by: Cow::Borrowed(&p.requested_by),
                    reason: Cow::Borrowed(&p.reason),
                })?;
                // Rare and evidential: the line is linked and synced now, not at the next sync.
                self.writer.sync()?;
                let note = format!("paused by {:?}: {}", p.requested_by, p.reason);
                self.writer.set_status(Status::Paused, p.at, &note)?;
            }
            SinkControl::Resumed(p) => {
                self.write_line(&TimelineLine::Resumed {
                    at_us: us(p.at),
                    resumed_utc: Cow::Borrowed(&p.resumed_utc),
                    resumed_by: Cow::Borrowed(&p.resumed_by),
                    reason: Cow::Borrowed(&p.reason),
                })?;
                self.writer.sync()?;
                let note = format!("resumed by {:?}: {}", p.resumed_by, p.reason);
                self.writer.set_status(Status::Recording, p.at, &note)?;
            }
            SinkControl::Snapshot(s) => {
                let s = *s;
                let mut counters = s.counters;
                counters.video_frames_refused_by_muxer = self.video_refused;
                counters.video_streams_failed = self
                    .video_failed
                    .iter()
                    .map(|(path, why)| format!("{path}: {why}"))
                    .collect();
                let pending = TimelineLists {
                    audio_gaps: s.pending_gaps,
                    ..TimelineLists::default()
                };
                let mut md = crate::metadata::from_summary(
                    &s.summary,
                    &pending,
                    s.base.call.clone(),
                    s.base.started,
                    s.base.format,
                    "recording",
                    None,
                    counters,
                );
                // Participant by participant: those unchanged since the last snapshot (most of a meeting,
                // most of the time) are neither serialized nor compared again.
                let people = std::mem::take(&mut md.participants);
                let counts = (people.len(), md.videos.len());
                let line =
                    serde_json::to_value(&md).and_then(|rest| self.snapshots.next(rest, people));
                let Ok(line) = line else {
                    return Ok(()); // plain data: cannot fail
                };
                let at_us = us(s.summary.duration);
                let (full, diff) = match line {
                    SnapshotLine::Full(v) => (Some(v), None),
                    SnapshotLine::Diff(d) => (None, Some(d)),
                    SnapshotLine::Same => return Ok(()),
                };
                let first = full.is_some();
                self.write_line(&TimelineLine::Counters { at_us, full, diff })?;
                // The first snapshot and any with a new participant or video stream are made durable at
                // once (rare): a crash before the next sync still leaves who was recorded.
                if first || counts != self.last_counts {
                    self.writer.sync()?;
                }
                self.last_counts = counts;
            }
        }
        Ok(())
    }
}

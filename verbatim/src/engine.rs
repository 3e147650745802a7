//! The call recorder core: ingest events in, per-tick stems and mix out. Sans-IO.
//!
//! [`CallRecorder`] is driven by [`IngestEvent`]s (in the order the platform delivered them) and writes its
//! output through a [`RecordingSink`]. Time comes only from the events' reference timestamps: the recorder
//! never reads a clock, so a 25-hour call can be replayed in seconds and the same core serves the CLI, the
//! gRPC service and (later) a C ABI.
//!
//! ## Ticks
//! Output advances in ticks of 20 ms of recording time. Tick `k` covers `[k·20 ms, (k+1)·20 ms)` and is
//! produced once the reference clock has passed its end plus packetization plus the late window (so every
//! frame that belongs to it and arrived in time has been placed). For each tick every known participant gets
//! exactly one tick of samples (silence where they had none) and the mix gets the saturating sum. At
//! [`IngestEvent::CallEnded`] everything still waiting is flushed and the last ticks are produced, so every
//! stem is exactly as long as the recording.

use std::collections::HashMap;

use bot_adapter::ingest::IngestEvent;
use bot_adapter::sdk::RosterChange;
use media_core::mixer::Mixer;
use media_core::resample::RateConverter;
use media_core::timeline::Timeline;
use media_core::track::{AudioTrack, Gap, TrackConfig, TrackStats};
use media_core::{AudioFormat, MediaTime, Msi, SourceId, SourceTimestamp, StreamKind, VideoFrame};

use crate::composite::{
    CompositeFrame, CompositeSource, CompositeStats, CompositeVideo, RenderError,
};
use crate::video::{VideoOutput, VideoSample, VideoStats, VideoTrack};

/// Where the recorder's output goes (files, a network stream, a test buffer).
pub trait RecordingSink {
    /// The sink's error type.
    type Error: std::error::Error + Send + Sync + 'static;
    /// A participant got a stem with index `index`; `lead_in` samples of silence precede its first tick.
    fn participant_added(
        &mut self,
        index: usize,
        participant: &ParticipantInfo,
        lead_in: u64,
    ) -> Result<(), Self::Error>;
    /// One tick of a participant's stem.
    fn stem(&mut self, index: usize, samples: &[i16]) -> Result<(), Self::Error>;
    /// One tick of the mix.
    fn mixed(&mut self, samples: &[i16]) -> Result<(), Self::Error>;
    /// A video stream got index `index`, to be written to `path` (relative to the recording folder).
    fn video_stream_added(&mut self, _index: usize, _path: &str) -> Result<(), Self::Error> {
        Ok(())
    }
    /// One video frame of stream `index`, unchanged, at recording time `pts`.
    fn video_sample(&mut self, _index: usize, _sample: VideoSample) -> Result<(), Self::Error> {
        Ok(())
    }
    /// The recorder needs a key frame from `msi` (relay as Teams' `RequestKeyFrame()`).
    fn keyframe_request(&mut self, _msi: Msi) {}
    /// One frame of the composite meeting video.
    fn composite_frame(&mut self, _frame: CompositeFrame) -> Result<(), Self::Error> {
        Ok(())
    }
    /// Something `metadata.json` lists (a gap, a dominant-speaker change), handed over once it is final.
    ///
    /// The recorder keeps no list of these (a 25-hour call would grow them without end; only counts stay in
    /// [`CallSummary`]): a sink that writes metadata stores them, e.g. [`crate::sink::FolderSink`] appends
    /// them to `timeline.jsonl` and reads them back at close.
    fn timeline(&mut self, event: TimelineEvent) -> Result<(), Self::Error>;
}

/// A timed event of the recording that metadata lists, in the order it became final (per participant and
/// per stream that is time order; across them it is not).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimelineEvent {
    /// Participant `participant` (stem index) had no media for `gap` (lost, refused or not sent).
    AudioGap {
        /// Stem index.
        participant: usize,
        /// The span.
        gap: Gap,
    },
    /// Video stream `video` was not decodable for `gap` (from a loss to the next IDR).
    VideoGap {
        /// Video stream index.
        video: usize,
        /// The span.
        gap: Gap,
    },
    /// The platform's dominant speaker changed.
    DominantSpeaker {
        /// Recording time.
        at: MediaTime,
        /// Stem index of the new dominant speaker, `None` = nobody.
        participant: Option<usize>,
    },
    /// A participant joined (or joined again after leaving).
    Joined {
        /// Stem index.
        participant: usize,
        /// Recording time.
        at: MediaTime,
    },
    /// A participant left (at the end of the call, everyone still there leaves).
    Left {
        /// Stem index.
        participant: usize,
        /// Recording time.
        at: MediaTime,
    },
}

/// How many gaps a track had and how long they were in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GapTally {
    /// Gaps.
    pub count: u64,
    /// Their total length.
    pub total: MediaTime,
}

impl GapTally {
    fn add(&mut self, g: Gap) {
        self.count += 1;
        self.total = self.total.saturating_add(g.length);
    }
}

/// What is known about a recorded participant.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantInfo {
    /// File-safe unique name (the stem is `participants/<name>.wav`).
    pub name: String,
    /// Identity from the roster (AAD id or guest id); `None` for a source that never appeared in the roster.
    pub id: Option<String>,
    /// Display name from the roster.
    pub display_name: Option<String>,
    /// True for guests.
    pub is_guest: bool,
    /// Media source ids seen for this participant, with their kinds.
    pub msis: Vec<(Msi, StreamKind)>,
    /// Recording time of joining (roster) or of the first frame.
    pub joined: MediaTime,
    /// Recording time of leaving, if they left.
    pub left: Option<MediaTime>,
}

/// Counters of the whole call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounters {
    /// Events handled.
    pub events: u64,
    /// Audio frames from an MSI that no roster entry named (recorded as `unknown-<msi>`).
    pub unknown_msi_frames: u64,
    /// Events after the call ended (ignored).
    pub after_end: u64,
    /// Video frames from an MSI no roster entry named (recorded as `participants/unknown-<msi>.mp4`).
    pub unknown_video_msi_frames: u64,
    /// Key frames requested from senders.
    pub keyframe_requests: u64,
    /// Participants beyond what the composite layout shows.
    pub not_in_composite: u64,
    /// Participants whose audio is at another rate or channel count, converted to the recording's format.
    pub resampled_sources: u64,
    /// Raw NV12 video frames encoded to H.264.
    pub nv12_frames_encoded: u64,
    /// Raw NV12 video frames that could not be converted or encoded (dropped).
    pub nv12_encode_errors: u64,
    /// Audio buffer timestamps (platform clock) that went backwards (time never moves back).
    pub reference_backwards: u64,
}

/// A participant's final account.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantSummary {
    /// Who.
    pub info: ParticipantInfo,
    /// Track counters.
    pub stats: TrackStats,
    /// Spans without media (each one went to [`RecordingSink::timeline`]).
    pub gaps: GapTally,
    /// Estimated clock drift of the sender, ppm.
    pub drift_ppm: f64,
    /// Frames without a sender timestamp.
    pub untimed: u64,
    /// Timestamp segments (jumps) seen.
    pub segments: u64,
}

/// A video stream's final account.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoSummary {
    /// File written, relative to the recording folder.
    pub path: String,
    /// The stream's MSI.
    pub msi: Msi,
    /// Camera or screen share.
    pub kind: StreamKind,
    /// The participant's stem name, when known.
    pub participant: Option<String>,
    /// Counters.
    pub stats: VideoStats,
    /// Spans that are not decodable, loss until the next IDR (each one went to [`RecordingSink::timeline`]).
    pub gaps: GapTally,
    /// Estimated drift of the sender's video clock, ppm.
    pub drift_ppm: f64,
}

/// The recorder's final account.
#[derive(Clone, Debug, PartialEq)]
pub struct CallSummary {
    /// Recording length.
    pub duration: MediaTime,
    /// Reference clock value at recording time zero.
    pub origin: Option<SourceTimestamp>,
    /// Ticks produced.
    pub ticks: u64,
    /// Every participant.
    pub participants: Vec<ParticipantSummary>,
    /// Every video stream (cameras and screen share).
    pub videos: Vec<VideoSummary>,
    /// Call-wide counters.
    pub counters: CallCounters,
    /// Mixed samples that saturated.
    pub mix_clipped: u64,
    /// The composite video's counters, when it is recorded.
    pub composite: Option<CompositeStats>,
    /// Where each participant (by index) is drawn in the composite at the end of the call.
    pub composite_tiles: Vec<Option<codecs::composite::Rect>>,
    /// Dominant-speaker changes (each one went to [`RecordingSink::timeline`]).
    pub dominant_speaker_changes: u64,
}

/// Errors of the recorder core.
#[derive(Debug, thiserror::Error)]
pub enum EngineError<E: std::error::Error + 'static> {
    /// The sink failed (disk full, I/O error…). The recording cannot go on; what was written stays valid.
    #[error("output failed: {0}")]
    Sink(#[source] E),
    /// The composite video could not be rendered or encoded.
    #[error("composite video: {0}")]
    Composite(codecs::CodecError),
}

impl<E: std::error::Error + 'static> From<RenderError<E>> for EngineError<E> {
    fn from(e: RenderError<E>) -> Self {
        match e {
            RenderError::Codec(c) => EngineError::Composite(c),
            RenderError::Emit(e) => EngineError::Sink(e),
        }
    }
}

/// Tuning of a [`CallRecorder`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecorderConfig {
    /// Per-track tuning (format, late window, slips…).
    pub track: TrackConfig,
    /// Output tick.
    pub tick: MediaTime,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            track: TrackConfig::default(),
            tick: MediaTime::from_millis(20),
        }
    }
}

/// Encodes a raw NV12 stream once, for its participant file.
struct Nv12Encoder {
    picture: codecs::picture::I420Picture,
    encoder: codecs::h264::H264Encoder,
}

struct VideoSlot {
    nv12: Option<Nv12Encoder>,
    path: String,
    msi: Msi,
    kind: StreamKind,
    participant: Option<usize>,
    track: VideoTrack,
    gaps: GapTally,
}

struct Slot {
    info: ParticipantInfo,
    track: AudioTrack,
    gaps: GapTally,
    buf: Vec<i16>,
    /// For a source at another rate or channel count than the recording: its converter, a tick buffer at
    /// the source format, and the next source sample position to pull.
    conv: Option<(RateConverter, Vec<i16>, i64)>,
}

impl Slot {
    /// Switches the slot to `format` when its first frame says the source is not at the recording's format.
    fn adopt_format(
        &mut self,
        format: AudioFormat,
        cfg: &RecorderConfig,
        written_until: MediaTime,
    ) -> bool {
        if self.track.stats().delivered > 0 || format == cfg.track.format {
            return false;
        }
        let Ok(conv) = RateConverter::new(format, cfg.track.format.sample_rate, cfg.tick) else {
            return false;
        };
        let mut track = AudioTrack::new(TrackConfig {
            format,
            ..cfg.track
        });
        let start = written_until.to_samples(format.sample_rate);
        track.start_at(written_until);
        let tick_buf = vec![0; conv.src_tick() * format.channels.max(1) as usize];
        self.track = track;
        self.conv = Some((conv, tick_buf, start));
        true
    }

    /// One tick of this participant at the recording's format into `buf[..len]`.
    fn pull(&mut self, from: i64, len: usize, now: MediaTime) {
        let buf = &mut self.buf[..len];
        match self.conv.as_mut() {
            None => self.track.pull(from, buf, now),
            Some((conv, tick, pos)) => {
                // Feed the converter until a whole tick is out (it runs ahead of the output by its delay).
                let mut guard = 0;
                while conv.available() < len && guard < 16 {
                    self.track.pull(*pos, tick, now);
                    *pos += conv.src_tick() as i64;
                    if conv.push(tick).is_err() {
                        break;
                    }
                    guard += 1;
                }
                let n = conv.pop(buf);
                for b in &mut buf[n..] {
                    *b = 0;
                }
            }
        }
    }
}

/// The sans-IO call recorder (see the module docs).
pub struct CallRecorder {
    cfg: RecorderConfig,
    timeline: Option<Timeline>,
    now: MediaTime,
    next_tick: i64,
    tick_samples: usize,
    slots: Vec<Slot>,
    by_msi: HashMap<Msi, usize>,
    by_id: HashMap<String, usize>,
    mixer: Mixer,
    mix_buf: Vec<i16>,
    videos: Vec<VideoSlot>,
    video_by_msi: HashMap<Msi, usize>,
    video_out: VideoOutput,
    composite: Option<CompositeVideo>,
    last_tick: Option<MediaTime>,
    ended: Option<MediaTime>,
    counters: CallCounters,
    dominant_changes: u64,
}

impl CallRecorder {
    /// A recorder with nothing received yet.
    pub fn new(cfg: RecorderConfig) -> Self {
        let tick_samples = cfg.tick.to_samples(cfg.track.format.sample_rate) as usize
            * cfg.track.format.channels as usize;
        CallRecorder {
            timeline: None,
            now: MediaTime::ZERO,
            next_tick: 0,
            tick_samples,
            slots: Vec::new(),
            by_msi: HashMap::new(),
            by_id: HashMap::new(),
            mixer: Mixer::new(tick_samples),
            mix_buf: vec![0; tick_samples],
            videos: Vec::new(),
            video_by_msi: HashMap::new(),
            video_out: VideoOutput::default(),
            composite: None,
            last_tick: None,
            ended: None,
            counters: CallCounters::default(),
            dominant_changes: 0,
            cfg,
        }
    }

    /// Adds the composite meeting video (written through [`RecordingSink::composite_frame`]).
    pub fn with_composite(mut self, composite: CompositeVideo) -> Self {
        self.composite = Some(composite);
        self
    }

    /// Where participant `index` is drawn in the composite now (when a composite is recorded).
    pub fn composite_tile(&self, index: usize) -> Option<codecs::composite::Rect> {
        self.composite.as_ref().and_then(|c| c.tile_of(index))
    }

    /// The mix's format.
    pub fn format(&self) -> AudioFormat {
        self.cfg.track.format
    }

    /// Recording time of the latest reference timestamp seen.
    pub fn now(&self) -> MediaTime {
        self.now
    }

    /// True once the call ended and everything was written.
    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Recording time covered by the ticks written so far.
    pub fn written_until(&self) -> MediaTime {
        self.cfg.tick.saturating_mul(self.next_tick)
    }

    fn delivered(&mut self, reference: SourceTimestamp) -> MediaTime {
        if reference.is_unknown() {
            return self.now;
        }
        let tl = *self
            .timeline
            .get_or_insert_with(|| Timeline::new(reference));
        let t = tl.to_recording(reference);
        self.now = self.now.max(t);
        t
    }

    /// Handles one event, writing every tick that became complete.
    ///
    /// # Errors
    /// Only the sink's errors; bad input is counted, never an error.
    pub fn handle<S: RecordingSink>(
        &mut self,
        event: IngestEvent,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        self.counters.events += 1;
        if self.ended.is_some() {
            self.counters.after_end += 1;
            return Ok(());
        }
        match event {
            IngestEvent::Tick { reference, .. } => {
                let t = self.delivered(reference);
                if self.last_tick.is_some_and(|l| t < l) {
                    self.counters.reference_backwards += 1;
                }
                self.last_tick = Some(t);
            }
            IngestEvent::Audio(frame) => {
                let at = self.delivered(frame.timing.reference);
                let idx = match self.by_msi.get(&frame.source.msi) {
                    Some(&i) if self.slots.get(i).is_some_and(|s| s.info.id.is_none()) => {
                        self.counters.unknown_msi_frames += 1;
                        i
                    }
                    Some(&i) => i,
                    None => self.add_unknown(frame.source.msi, at, sink)?,
                };
                let now = self.now;
                let written = self.written_until();
                if let Some(slot) = self.slots.get_mut(idx) {
                    if frame.format != slot.track.config().format
                        && slot.adopt_format(frame.format, &self.cfg, written)
                    {
                        self.counters.resampled_sources += 1;
                    }
                    slot.track.push(frame, at, now);
                }
            }
            IngestEvent::Video(frame) => {
                let at = self.delivered(frame.timing.reference);
                self.video(frame, at, sink)?;
            }
            IngestEvent::Roster { reference, change } => {
                let at = self.delivered(reference);
                self.roster(change, at, sink)?;
            }
            IngestEvent::DominantSpeaker { reference, event } => {
                let at = self.delivered(reference);
                let who = self.by_msi.get(&event.current).copied();
                self.dominant_changes += 1;
                if let Some(c) = self.composite.as_mut() {
                    c.push_dominant(at, who);
                }
                sink.timeline(TimelineEvent::DominantSpeaker {
                    at,
                    participant: who,
                })
                .map_err(EngineError::Sink)?;
            }
            IngestEvent::CallEnded { reference } => {
                let end = self.delivered(reference);
                return self.end(end, sink);
            }
        }
        self.release_video(sink)?;
        self.produce_ready(sink)
    }

    fn video<S: RecordingSink>(
        &mut self,
        frame: VideoFrame,
        at: MediaTime,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        let idx = match self.video_by_msi.get(&frame.source.msi) {
            Some(&i) => i,
            None => self.add_video(frame.source, sink)?,
        };
        if self
            .videos
            .get(idx)
            .is_some_and(|v| v.participant.is_none() && v.kind == StreamKind::Video)
        {
            self.counters.unknown_video_msi_frames += 1;
        }
        let now = self.now;
        let mut out = std::mem::take(&mut self.video_out);
        if let Some(v) = self.videos.get_mut(idx) {
            v.track.push(frame, at, now, &mut out);
        }
        let r = self.write_video(idx, &mut out, sink);
        self.video_out = out;
        r
    }

    fn write_video<S: RecordingSink>(
        &mut self,
        idx: usize,
        out: &mut VideoOutput,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        if std::mem::take(&mut out.request_keyframe) {
            if let Some(v) = self.videos.get(idx) {
                self.counters.keyframe_requests += 1;
                sink.keyframe_request(v.msi);
            }
        }
        if let Some(v) = self.videos.get_mut(idx) {
            for gap in v.track.drain_gaps() {
                v.gaps.add(gap);
                sink.timeline(TimelineEvent::VideoGap { video: idx, gap })
                    .map_err(EngineError::Sink)?;
            }
        }
        for mut sample in out.samples.drain(..) {
            if let Some((w, h, stride)) = sample.nv12 {
                match self
                    .videos
                    .get_mut(idx)
                    .map(|v| encode_nv12(&mut v.nv12, &sample, w, h, stride))
                {
                    Some(Ok((data, keyframe))) => {
                        sample.data = data;
                        sample.keyframe = keyframe;
                        sample.nv12 = None;
                        self.counters.nv12_frames_encoded += 1;
                    }
                    _ => {
                        self.counters.nv12_encode_errors += 1;
                        continue;
                    }
                }
            }
            if let (Some(c), Some(v)) = (self.composite.as_mut(), self.videos.get(idx)) {
                let source = match (v.kind, v.participant) {
                    (StreamKind::ScreenShare, _) => Some(CompositeSource::ScreenShare),
                    (_, Some(p)) => Some(CompositeSource::Camera(p)),
                    _ => None,
                };
                if let Some(source) = source {
                    c.push_frame(idx, source, &sample);
                }
            }
            sink.video_sample(idx, sample).map_err(EngineError::Sink)?;
        }
        Ok(())
    }

    fn release_video<S: RecordingSink>(
        &mut self,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        let now = self.now;
        let mut out = std::mem::take(&mut self.video_out);
        let mut r = Ok(());
        for i in 0..self.videos.len() {
            if let Some(v) = self.videos.get_mut(i) {
                v.track.release(now, &mut out);
            }
            r = self.write_video(i, &mut out, sink);
            if r.is_err() {
                break;
            }
        }
        self.video_out = out;
        r
    }

    fn add_video<S: RecordingSink>(
        &mut self,
        source: SourceId,
        sink: &mut S,
    ) -> Result<usize, EngineError<S::Error>> {
        let owner = self
            .slots
            .iter()
            .position(|s| s.info.msis.contains(&(source.msi, source.kind)));
        let path = match (source.kind, owner) {
            (StreamKind::ScreenShare, _) => {
                let n = self
                    .videos
                    .iter()
                    .filter(|v| v.kind == StreamKind::ScreenShare)
                    .count();
                if n == 0 {
                    "screenshare.mp4".to_string()
                } else {
                    format!("screenshare-{}.mp4", n + 1)
                }
            }
            (_, Some(i)) => format!("participants/{}.mp4", self.slots[i].info.name),
            (_, None) => format!("participants/unknown-{}.mp4", source.msi.0),
        };
        let idx = self.videos.len();
        sink.video_stream_added(idx, &path)
            .map_err(EngineError::Sink)?;
        self.videos.push(VideoSlot {
            nv12: None,
            path,
            msi: source.msi,
            kind: source.kind,
            participant: owner,
            track: VideoTrack::new(self.cfg.track.late_window),
            gaps: GapTally::default(),
        });
        self.video_by_msi.insert(source.msi, idx);
        Ok(idx)
    }

    fn roster<S: RecordingSink>(
        &mut self,
        change: RosterChange,
        at: MediaTime,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        match change {
            RosterChange::Joined(p) => {
                if let Some(&i) = self.by_id.get(&p.id) {
                    // A re-join or a stream change: same stem, new MSIs.
                    if let Some(slot) = self.slots.get_mut(i) {
                        if slot.info.left.take().is_some() {
                            sink.timeline(TimelineEvent::Joined { participant: i, at })
                                .map_err(EngineError::Sink)?;
                        }
                        for m in &p.media_streams {
                            if !slot.info.msis.contains(m) {
                                slot.info.msis.push(*m);
                            }
                            self.by_msi.insert(m.0, i);
                        }
                    }
                    return Ok(());
                }
                let info = ParticipantInfo {
                    name: self.unique_name(&p.display_name),
                    id: Some(p.id.clone()),
                    display_name: Some(p.display_name.clone()),
                    is_guest: p.is_guest,
                    msis: p.media_streams.clone(),
                    joined: at,
                    left: None,
                };
                self.add_slot(info, sink)?;
            }
            RosterChange::Left { id } => {
                if let Some(&i) = self.by_id.get(&id) {
                    if let Some(slot) = self.slots.get_mut(i) {
                        if slot.info.left.is_none() {
                            slot.info.left = Some(at);
                            sink.timeline(TimelineEvent::Left { participant: i, at })
                                .map_err(EngineError::Sink)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn unique_name(&self, wanted: &str) -> String {
        let base: String = wanted
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let base = if base.is_empty() {
            "participant".to_string()
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.slots.iter().any(|s| s.info.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }

    fn add_unknown<S: RecordingSink>(
        &mut self,
        msi: Msi,
        at: MediaTime,
        sink: &mut S,
    ) -> Result<usize, EngineError<S::Error>> {
        self.counters.unknown_msi_frames += 1;
        let info = ParticipantInfo {
            name: self.unique_name(&format!("unknown-{}", msi.0)),
            id: None,
            display_name: None,
            is_guest: false,
            msis: vec![(msi, StreamKind::Audio)],
            joined: at,
            left: None,
        };
        self.add_slot(info, sink)
    }

    fn add_slot<S: RecordingSink>(
        &mut self,
        info: ParticipantInfo,
        sink: &mut S,
    ) -> Result<usize, EngineError<S::Error>> {
        let idx = self.slots.len();
        let mut track = AudioTrack::new(self.cfg.track);
        let start = self.written_until();
        track.start_at(start);
        let lead_in = start.to_samples(self.cfg.track.format.sample_rate).max(0) as u64;
        sink.participant_added(idx, &info, lead_in)
            .map_err(EngineError::Sink)?;
        if let Some(id) = &info.id {
            self.by_id.insert(id.clone(), idx);
        }
        for m in &info.msis {
            self.by_msi.insert(m.0, idx);
        }
        if let Some(c) = self.composite.as_mut() {
            if c.add_participant(info.display_name.as_deref().unwrap_or(&info.name))
                .is_err()
            {
                self.counters.not_in_composite += 1;
            }
        }
        let joined = info.joined;
        self.slots.push(Slot {
            info,
            track,
            gaps: GapTally::default(),
            buf: vec![0; self.tick_samples],
            conv: None,
        });
        sink.timeline(TimelineEvent::Joined {
            participant: idx,
            at: joined,
        })
        .map_err(EngineError::Sink)?;
        Ok(idx)
    }

    fn latency(&self) -> MediaTime {
        self.cfg
            .track
            .clock
            .packetization
            .saturating_add(self.cfg.track.late_window)
    }

    fn produce_ready<S: RecordingSink>(
        &mut self,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        let latency = self.latency();
        loop {
            let tick_end = self.cfg.tick.saturating_mul(self.next_tick + 1);
            if tick_end.saturating_add(latency) > self.now {
                break;
            }
            self.produce_tick(self.tick_samples, sink)?;
        }
        self.render_composite(self.written_until(), sink)
    }

    fn render_composite<S: RecordingSink>(
        &mut self,
        until: MediaTime,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        if let Some(c) = self.composite.as_mut() {
            c.render_until(until, |f| sink.composite_frame(f))?;
        }
        Ok(())
    }

    fn produce_tick<S: RecordingSink>(
        &mut self,
        len: usize,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        let rate = self.cfg.track.format.sample_rate;
        let from = self
            .cfg
            .tick
            .saturating_mul(self.next_tick)
            .to_samples(rate);
        let now = self.now;
        self.mixer.begin(len);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            slot.pull(from, len, now);
            let buf = &slot.buf[..len];
            sink.stem(i, buf).map_err(EngineError::Sink)?;
            self.mixer.add(buf);
        }
        self.mixer.finish(&mut self.mix_buf[..len]);
        sink.mixed(&self.mix_buf[..len])
            .map_err(EngineError::Sink)?;
        self.next_tick += 1;
        self.hand_over_gaps(false, sink)
    }

    /// Hands the audio gaps that are over (all of them at the end) to the sink.
    fn hand_over_gaps<S: RecordingSink>(
        &mut self,
        including_open: bool,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            for gap in slot.track.drain_gaps(including_open) {
                slot.gaps.add(gap);
                sink.timeline(TimelineEvent::AudioGap {
                    participant: i,
                    gap,
                })
                .map_err(EngineError::Sink)?;
            }
        }
        Ok(())
    }

    fn end<S: RecordingSink>(
        &mut self,
        end: MediaTime,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        for slot in &mut self.slots {
            slot.track.flush();
        }
        let mut out = std::mem::take(&mut self.video_out);
        for i in 0..self.videos.len() {
            if let Some(v) = self.videos.get_mut(i) {
                v.track.flush(&mut out);
            }
            self.write_video(i, &mut out, sink)?;
        }
        self.video_out = out;
        // Everything is placed: let every remaining tick through.
        self.now = self
            .now
            .max(end)
            .saturating_add(self.latency())
            .saturating_add(self.cfg.tick);
        let rate = self.cfg.track.format.sample_rate;
        let ch = self.cfg.track.format.channels.max(1) as usize;
        let end_samples = end.to_samples(rate).max(0) as usize;
        loop {
            let from = self
                .cfg
                .tick
                .saturating_mul(self.next_tick)
                .to_samples(rate)
                .max(0) as usize;
            if from >= end_samples {
                break;
            }
            let len = ((end_samples - from) * ch).min(self.tick_samples);
            self.produce_tick(len, sink)?;
        }
        self.render_composite(end, sink)?;
        self.hand_over_gaps(true, sink)?;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.info.left.is_none() {
                slot.info.left = Some(end);
                sink.timeline(TimelineEvent::Left {
                    participant: i,
                    at: end,
                })
                .map_err(EngineError::Sink)?;
            }
        }
        self.ended = Some(end);
        Ok(())
    }

    /// Ends the recording at the latest media time received (the source went away without a call end).
    ///
    /// # Errors
    /// Only the sink's errors.
    pub fn end_now<S: RecordingSink>(&mut self, sink: &mut S) -> Result<(), EngineError<S::Error>> {
        if self.ended.is_some() {
            return Ok(());
        }
        let end = self.now;
        self.end(end, sink)
    }

    /// The account of the call so far (complete after [`IngestEvent::CallEnded`]).
    pub fn summary(&self) -> CallSummary {
        CallSummary {
            duration: self.ended.unwrap_or_else(|| self.written_until()),
            origin: self.timeline.map(|t| t.origin()),
            ticks: self.next_tick.max(0) as u64,
            participants: self
                .slots
                .iter()
                .map(|s| ParticipantSummary {
                    info: s.info.clone(),
                    stats: s.track.stats(),
                    gaps: s.gaps,
                    drift_ppm: s.track.drift_ppm(),
                    untimed: s.track.clock_stats().untimed,
                    segments: s.track.clock_stats().segments,
                })
                .collect(),
            videos: self
                .videos
                .iter()
                .map(|v| VideoSummary {
                    path: v.path.clone(),
                    msi: v.msi,
                    kind: v.kind,
                    participant: v
                        .participant
                        .and_then(|i| self.slots.get(i))
                        .map(|s| s.info.name.clone()),
                    stats: v.track.stats(),
                    gaps: v.gaps,
                    drift_ppm: v.track.drift_ppm(),
                })
                .collect(),
            counters: self.counters,
            mix_clipped: self.mixer.clipped(),
            composite: self.composite.as_ref().map(|c| c.stats()),
            composite_tiles: (0..self.slots.len())
                .map(|i| self.composite_tile(i))
                .collect(),
            dominant_speaker_changes: self.dominant_changes,
        }
    }
}

/// Converts one NV12 picture to I420 and encodes it (encoder created on the first frame, resized pictures
/// reuse it).
fn encode_nv12(
    slot: &mut Option<Nv12Encoder>,
    sample: &VideoSample,
    w: u32,
    h: u32,
    stride: u32,
) -> Result<(bytes::Bytes, bool), codecs::CodecError> {
    if slot.is_none() {
        *slot = Some(Nv12Encoder {
            picture: codecs::picture::I420Picture::new(w, h)?,
            encoder: codecs::h264::H264Encoder::new(codecs::h264::H264EncoderConfig::default())?,
        });
    }
    let Some(e) = slot.as_mut() else {
        return Err(codecs::CodecError::InvalidConfig("no encoder".into()));
    };
    codecs::picture::nv12_to_i420(&sample.data, w, h, stride, &mut e.picture)?;
    let f = e.encoder.encode(&e.picture, sample.pts)?;
    Ok((bytes::Bytes::copy_from_slice(f.data), f.keyframe))
}

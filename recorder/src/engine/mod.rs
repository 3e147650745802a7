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

mod full_slots;
mod output;
mod participants;
mod summary;
mod video_streams;

use std::collections::HashMap;

use bot_adapter::ingest::IngestEvent;
use media_core::call_clock::{CallClock, CallClockConfig};
use media_core::ledger::{Gap, GapKind};
use media_core::mixer::Mixer;
use media_core::track::TrackConfig;
use media_core::{AudioFormat, MediaTime, Msi, SourceTimestamp};

pub(crate) use output::stem_zeros;
pub use output::{GapTally, KeyFrameRequest, RecordingSink, TimelineEvent};
pub use participants::MAX_SOURCE_IDS_PER_PARTICIPANT;
pub use summary::{CallCounters, CallSummary, ParticipantInfo, ParticipantSummary, VideoSummary};

use crate::composite::{CompositeVideo, RenderError};
use crate::video::VideoOutput;
use crate::video_worker::{VideoQueuePolicy, VideoWorker};
use full_slots::FullSlots;
use participants::{Pushed, Slot};
use video_streams::VideoSlot;

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
    /// How the platform's reference timestamps are judged (set `max_lead` for live calls). A live call's
    /// media thread never waits for its video thread ([`VideoQueuePolicy::Drop`]); without `max_lead` (files,
    /// replays faster than real time) it does ([`VideoQueuePolicy::Block`]).
    pub call_clock: CallClockConfig,
}

impl RecorderConfig {
    /// What happens when the call's video thread falls behind (see [`crate::video_worker`]).
    ///
    /// ```
    /// use media_core::MediaTime;
    /// use recorder::engine::RecorderConfig;
    /// use recorder::video_worker::VideoQueuePolicy;
    /// assert_eq!(RecorderConfig::default().video_queue(), VideoQueuePolicy::Block);
    /// assert_eq!(RecorderConfig::live(MediaTime::from_secs(5)).video_queue(), VideoQueuePolicy::Drop);
    /// ```
    pub fn video_queue(&self) -> VideoQueuePolicy {
        if self.call_clock.max_lead.is_some() {
            VideoQueuePolicy::Drop
        } else {
            VideoQueuePolicy::Block
        }
    }
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            track: TrackConfig::default(),
            tick: MediaTime::from_millis(20),
            call_clock: CallClockConfig::default(),
        }
    }
}

impl RecorderConfig {
    /// The configuration for a live call (`verbatim listen`, `record --realtime`): recording time never runs
    /// more than `lead` ahead of the wall-clock time since the call's first message.
    ///
    /// ```
    /// use media_core::MediaTime;
    /// use recorder::engine::RecorderConfig;
    /// let cfg = RecorderConfig::live(MediaTime::from_secs(5));
    /// assert_eq!(cfg.call_clock.max_lead, Some(MediaTime::from_secs(5)));
    /// ```
    pub fn live(lead: MediaTime) -> Self {
        let mut cfg = RecorderConfig::default();
        cfg.call_clock.max_lead = Some(lead);
        cfg
    }
}

/// The sans-IO call recorder (see the module docs).
pub struct CallRecorder {
    cfg: RecorderConfig,
    clock: CallClock,
    full_slots: FullSlots,
    now: MediaTime,
    next_tick: i64,
    tick_samples: usize,
    slots: Vec<Slot>,
    by_msi: HashMap<Msi, usize>,
    by_id: HashMap<String, usize>,
    mixer: Mixer,
    /// A tick's stems then its mix, for sinks that lend no buffer ([`RecordingSink::lend_tick`]).
    tick_buf: Vec<i16>,
    videos: Vec<VideoSlot>,
    video_by_msi: HashMap<Msi, usize>,
    video_out: VideoOutput,
    keyframe_requests: Vec<KeyFrameRequest>,
    /// The composite until the video thread starts (it takes it).
    composite: Option<CompositeVideo>,
    /// A composite is recorded.
    composite_on: bool,
    /// The call's video thread (NV12 encoding, the composite), started at its first use.
    video_work: Option<VideoWorker>,
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
            clock: CallClock::new(cfg.call_clock),
            full_slots: FullSlots::default(),
            now: MediaTime::ZERO,
            next_tick: 0,
            tick_samples,
            slots: Vec::new(),
            by_msi: HashMap::new(),
            by_id: HashMap::new(),
            mixer: Mixer::new(tick_samples),
            tick_buf: Vec::new(),
            videos: Vec::new(),
            video_by_msi: HashMap::new(),
            video_out: VideoOutput::default(),
            keyframe_requests: Vec::new(),
            composite: None,
            composite_on: false,
            video_work: None,
            last_tick: None,
            ended: None,
            counters: CallCounters::default(),
            dominant_changes: 0,
            cfg,
        }
    }

    /// Adds the composite meeting video (written through [`RecordingSink::composite_frame`]); it is
    /// rendered and encoded on the call's video thread ([`crate::video_worker`]).
    pub fn with_composite(mut self, composite: CompositeVideo) -> Self {
        self.composite = Some(composite);
        self.composite_on = true;
        self
    }

    /// Where participant `index` is drawn in the composite, as the video thread last reported (final once
    /// the call has ended).
    pub fn composite_tile(&self, index: usize) -> Option<codecs::composite::Rect> {
        self.video_work.as_ref().and_then(|w| w.tile_of(index))
    }

    /// The mix's format.
    pub fn format(&self) -> AudioFormat {
        self.cfg.track.format
    }

    /// Takes the key-frame requests made since the last call, oldest first: at most one per video stream
    /// (a stream that asks again before its request was taken is not listed twice), so the list is bounded
    /// by the number of streams. The driver relays them to the bot (`verbatim listen`) or drops them (every
    /// request is counted in the summary either way).
    pub fn take_keyframe_requests(&mut self) -> std::vec::Drain<'_, KeyFrameRequest> {
        self.keyframe_requests.drain(..)
    }

    /// Recording time of the latest reference timestamp seen.
    pub fn now(&self) -> MediaTime {
        self.now
    }

    /// True once the call ended and everything was written.
    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Participants (stems) and video streams so far: cheap, to notice a new one without a summary.
    pub fn stream_counts(&self) -> (usize, usize) {
        (self.slots.len(), self.videos.len())
    }

    /// Per participant (stem index), the audio gaps noted and not yet handed to the sink's timeline (the
    /// last gap of a stream is held while it can still grow): a crash-time journal lists them with the
    /// counters (see [`crate::journal`]). Allocates; for a snapshot now and then, not per tick.
    pub fn pending_audio_gaps(&self) -> Vec<Vec<Gap>> {
        self.slots
            .iter()
            .map(|s| s.pending_gaps().collect())
            .collect()
    }

    /// Recording time covered by the ticks written so far.
    pub fn written_until(&self) -> MediaTime {
        self.cfg.tick.saturating_mul(self.next_tick)
    }

    /// The recording time of a message stamped `reference` on the platform clock, judged by the call's clock
    /// (a refused stamp is handled at the call's current time and counted). `arrival` is the engine's clock
    /// when it was handed over, for messages that carry it.
    fn delivered(&mut self, reference: SourceTimestamp, arrival: Option<MediaTime>) -> MediaTime {
        let at = self.clock.map(reference, arrival).at();
        self.now = self.now.max(self.clock.now());
        at
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
            IngestEvent::Tick {
                reference,
                arrival,
                speakers,
            } => {
                let t = self.delivered(reference, Some(arrival));
                self.full_slots.note_slot(t, speakers);
                if self.last_tick.is_some_and(|l| t < l) {
                    self.counters.reference_backwards += 1;
                }
                self.last_tick = Some(t);
            }
            IngestEvent::Audio(frame) => {
                let at = self.delivered(frame.timing.reference, Some(frame.timing.arrival));
                let idx = match self.by_msi.get(&frame.source.msi) {
                    Some(&i) if self.slots.get(i).is_some_and(|s| s.info.id.is_none()) => {
                        self.counters.unknown_msi_frames += 1;
                        i
                    }
                    Some(&i) => i,
                    None => self.add_unknown(frame.source.msi, at, sink)?,
                };
                self.full_slots
                    .note_delivery(at, idx, media_core::track::level(&frame));
                let now = self.now;
                let written = self.written_until();
                if let Some(slot) = self.slots.get_mut(idx) {
                    match slot.push(frame, at, now, &self.cfg, written) {
                        Pushed::Offered { resampled: true } => self.counters.resampled_sources += 1,
                        Pushed::Offered { resampled: false } | Pushed::Refused => {}
                    }
                }
            }
            IngestEvent::Video(frame) => {
                let at = self.delivered(frame.timing.reference, Some(frame.timing.arrival));
                self.video(frame, at, sink)?;
            }
            IngestEvent::Roster { reference, change } => {
                let at = self.delivered(reference, None);
                self.roster(change, at, sink)?;
            }
            IngestEvent::DominantSpeaker { reference, event } => {
                let at = self.delivered(reference, None);
                let who = self.by_msi.get(&event.current).copied();
                self.dominant_changes += 1;
                if let Some(w) = self.composite_worker() {
                    w.dominant(at, who);
                }
                sink.timeline(TimelineEvent::DominantSpeaker {
                    at,
                    participant: who,
                })
                .map_err(EngineError::Sink)?;
            }
            IngestEvent::CallEnded { reference } => {
                let end = self.delivered(reference, None);
                return self.end(end, sink);
            }
        }
        self.release_video(sink)?;
        self.produce_ready(sink)
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
        if let Some(w) = self.composite_worker() {
            w.render_until(until);
        }
        self.drain_video(sink, None)
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
        if sink.takes_stem_blocks() {
            self.produce_stem_blocks(from, len, sink)?;
            self.next_tick += 1;
            return self.hand_over_gaps(false, sink);
        }
        let stems = self.slots.len();
        let need = (stems + 1) * len;
        let listened = sink.listened_stems();
        let lent = if listened == 0 {
            sink.lend_tick(stems, len)
        } else {
            None // the stems' ticks are needed after the block is filled, for their listeners
        };
        match lent {
            // Pulled and mixed straight into the sink's buffer (no copy of the stems or the mix).
            Some(buf) if len > 0 && buf.len() == need => {
                fill_tick(&mut self.slots, &mut self.mixer, from, now, buf);
                sink.tick_filled().map_err(EngineError::Sink)?;
            }
            _ if len > 0 => {
                // Into the recorder's own buffer (it grows only when a participant joins), then handed over.
                let mut buf = std::mem::take(&mut self.tick_buf);
                buf.resize(need, 0);
                fill_tick(&mut self.slots, &mut self.mixer, from, now, &mut buf);
                let (stem_bufs, mix) = buf.split_at(stems * len);
                for (i, stem) in stem_bufs.chunks_exact(len).enumerate() {
                    sink.stem(i, stem).map_err(EngineError::Sink)?;
                    if is_listened(listened, i) {
                        sink.stem_tap(i, stem).map_err(EngineError::Sink)?;
                    }
                }
                sink.mixed(mix).map_err(EngineError::Sink)?;
                self.tick_buf = buf;
            }
            _ => {}
        }
        self.next_tick += 1;
        self.hand_over_gaps(false, sink)
    }

    /// One tick for a sink that takes stem blocks: each stem lent from its ring (or copied) and mixed, the
    /// stems' finished blocks and copies handed over, then the mix.
    fn produce_stem_blocks<S: RecordingSink>(
        &mut self,
        from: i64,
        len: usize,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        let now = self.now;
        let listened = sink.listened_stems();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            while slot.wants_spare() {
                match sink.spare_stem_block() {
                    Some(b) => slot.give_spare(b),
                    None => break,
                }
            }
            let tapped = is_listened(listened, i);
            slot.produce(from, len, now, &mut self.mixer, tapped);
        }
        self.hand_over_stems(false, sink)?;
        match sink.lend_tick(0, len) {
            Some(buf) if buf.len() == len => {
                self.mixer.finish(buf);
                sink.tick_filled().map_err(EngineError::Sink)
            }
            _ => {
                let mut buf = std::mem::take(&mut self.tick_buf);
                buf.resize(len, 0);
                self.mixer.finish(&mut buf);
                let r = sink.mixed(&buf).map_err(EngineError::Sink);
                self.tick_buf = buf;
                r
            }
        }
    }

    /// Hands each stem's finished blocks, then its copied samples, to a block-taking sink; a stem's silence
    /// goes before them, and on its own once it makes a ring block's length (or at the end, `all`).
    fn hand_over_stems<S: RecordingSink>(
        &mut self,
        all: bool,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        let format = self.cfg.track.format;
        let silence_due = media_core::track::BLOCK
            .to_samples(format.sample_rate)
            .max(1) as usize
            * usize::from(format.channels.max(1));
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let due = all
                || slot.silent >= silence_due
                || !slot.blocks.is_empty()
                || !slot.copied.is_empty();
            if slot.silent > 0 && due {
                sink.stem_silence(i, std::mem::take(&mut slot.silent))
                    .map_err(EngineError::Sink)?;
            }
            for (block, range) in slot.blocks.drain(..) {
                sink.stem_block(i, block, range)
                    .map_err(EngineError::Sink)?;
            }
            if !slot.copied.is_empty() {
                sink.stem(i, &slot.copied).map_err(EngineError::Sink)?;
                slot.copied.clear();
            }
            if !slot.tap.is_empty() {
                sink.stem_tap(i, &slot.tap).map_err(EngineError::Sink)?;
                slot.tap.clear();
            }
        }
        Ok(())
    }

    /// Hands the audio gaps that are over (all of them at the end) to the sink.
    fn hand_over_gaps<S: RecordingSink>(
        &mut self,
        including_open: bool,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        let now = self.now;
        let full = &self.full_slots;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            // A break inside speech while the platform's slots were full of four louder others: the sender
            // was not among the four loudest (nothing sent to us), not lost.
            let classify = |g: Gap| match g.kind {
                GapKind::InferredLoss if full.crowded_out(i, g.start, g.end(), g.level) => Gap {
                    kind: GapKind::NothingSent,
                    ..g
                },
                _ => g,
            };
            slot.drain_gaps(including_open, now, classify, |gap| {
                sink.timeline(TimelineEvent::AudioGap {
                    participant: i,
                    gap,
                })
                .map_err(EngineError::Sink)
            })?;
        }
        Ok(())
    }

    fn end<S: RecordingSink>(
        &mut self,
        end: MediaTime,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        for slot in &mut self.slots {
            slot.flush();
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
        if sink.takes_stem_blocks() {
            for slot in &mut self.slots {
                slot.finish_run();
            }
            self.hand_over_stems(true, sink)?;
        }
        self.drain_video(sink, Some(end))?;
        for slot in &mut self.slots {
            slot.close(end);
        }
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
        let video = self
            .video_work
            .as_ref()
            .map(VideoWorker::stats)
            .unwrap_or_default();
        CallSummary {
            duration: self.ended.unwrap_or_else(|| self.written_until()),
            origin: self.clock.origin(),
            ticks: self.next_tick.max(0) as u64,
            participants: self
                .slots
                .iter()
                .map(|s| ParticipantSummary {
                    info: s.info.clone(),
                    stats: s.stats(),
                    gaps: s.gaps,
                    drift_ppm: s.drift_ppm(),
                    untimed: s.clock_stats().untimed,
                    segments: s.clock_stats().segments,
                    limit_dropped: s.limit_dropped,
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
            counters: CallCounters {
                reference_refused: self.clock.stats().refused,
                reference_jumps: self.clock.stats().jumps,
                origin_moved: self.clock.stats().origin_moved,
                video_frames_dropped_for_thread: video.nv12_dropped,
                composite_frames_dropped: video.composite_frames_dropped,
                ..self.counters
            },
            mix_clipped: self.mixer.clipped(),
            composite: self.composite_on.then(|| {
                self.video_work
                    .as_ref()
                    .and_then(VideoWorker::composite_stats)
                    .unwrap_or_default()
            }),
            composite_tiles: (0..self.slots.len())
                .map(|i| self.composite_tile(i))
                .collect(),
            dominant_speaker_changes: self.dominant_changes,
        }
    }
}

/// True when bit `i` of [`RecordingSink::listened_stems`] says stem `i` has live listeners.
fn is_listened(bits: u64, i: usize) -> bool {
    i < 64 && bits & (1 << i) != 0
}

/// Fills `buf` with one tick: each slot's stem (`buf.len() / (slots + 1)` samples each, in order), then
/// their mix.
fn fill_tick(slots: &mut [Slot], mixer: &mut Mixer, from: i64, now: MediaTime, buf: &mut [i16]) {
    let len = buf.len() / (slots.len() + 1);
    if len == 0 {
        return;
    }
    let (stem_bufs, mix) = buf.split_at_mut(slots.len() * len);
    for (slot, out) in slots.iter_mut().zip(stem_bufs.chunks_exact_mut(len)) {
        slot.pull(from, out, now);
        mixer.add(out);
    }
    mixer.finish(mix);
}

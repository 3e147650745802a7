//! Participants: one stem per person (roster identity, MSIs, joins and leaves), their audio tracks and the
//! conversion of a source at another rate.

use bot_adapter::sdk::RosterChange;
use media_core::ledger::Gap;
use media_core::mixer::Mixer;
use media_core::resample::RateConverter;
use media_core::timeline::ClockStats;
use media_core::track::{AudioTrack, TrackConfig, TrackStats};
use media_core::{AudioFormat, AudioFrame, MediaTime, Msi, StreamKind};
use std::ops::Range;

use super::{
    CallRecorder, EngineError, GapTally, ParticipantInfo, RecorderConfig, RecordingSink,
    TimelineEvent,
};

/// Most source ids a participant's history keeps (every re-join brings new ones): the oldest are forgotten
/// (counted in [`ParticipantInfo::msis_forgotten`]); media is never refused for it.
pub const MAX_SOURCE_IDS_PER_PARTICIPANT: usize = 64;
/// Most audio sources one participant may have at once (every re-join brings a new one; idle ones retire).
pub const MAX_SOURCES_PER_PARTICIPANT: usize = 8;
/// A source with no frame for this long (and nothing waiting) is retired once a newer one exists.
const RETIRE_AFTER: MediaTime = MediaTime::from_secs(10);

/// One audio source of a participant (a media source id): its own sender clock, jitter buffer and placement
/// (a participant who re-joins comes back with a new source, whose clock has nothing to do with the old one),
/// converted to the recording's format when it is not in it.
pub(super) struct Source {
    msi: Msi,
    track: AudioTrack,
    /// For a source at another rate or channel count than the recording: its converter, a tick buffer at
    /// the source format, and the next source sample position to pull.
    conv: Option<(RateConverter, Vec<i16>, i64)>,
    /// Recording time of its latest frame.
    last_frame: MediaTime,
}

impl Source {
    fn new(msi: Msi, cfg: &RecorderConfig, start: MediaTime) -> Self {
        let mut track = AudioTrack::new(cfg.track);
        track.start_at(start);
        Source {
            msi,
            track,
            conv: None,
            last_frame: start,
        }
    }

    /// Switches the source to `format` when its first frame says it is not at the recording's format.
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

    /// One tick of this source at the recording's format into `buf`.
    fn pull(&mut self, from: i64, buf: &mut [i16], now: MediaTime) {
        let len = buf.len();
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

/// Moves the blocks that left `track`'s ring into `blocks`, each with the part of it that belongs to the run
/// (from the run's position to the block's end); blocks not of the run go back to the ring as spares.
fn hand_finished(
    track: &mut AudioTrack,
    run: &mut Option<(Msi, i64)>,
    blocks: &mut Vec<(Vec<i16>, Range<usize>)>,
) {
    let ch = track.config().format.channels.max(1) as usize;
    while let Some((at, block)) = track.take_finished() {
        let end = at + (block.len() / ch) as i64;
        match run {
            Some((_, start)) if *start < end => {
                let from = ((*start - at).max(0) as usize * ch).min(block.len());
                *start = end;
                let range = from..block.len();
                blocks.push((block, range));
            }
            _ => track.give_spare(block),
        }
    }
}

/// One participant: one stem, fed by their audio sources (usually one at a time).
pub(super) struct Slot {
    pub(super) info: ParticipantInfo,
    sources: Vec<Source>,
    /// Counters of sources retired (idle after a re-join brought a new one).
    retired: TrackStats,
    retired_clock: ClockStats,
    /// Frames refused because the participant already had [`MAX_SOURCES_PER_PARTICIPANT`] sources.
    pub(super) limit_dropped: u64,
    pub(super) gaps: GapTally,
    scratch: Vec<i16>,
    /// The stem's run lent from its lone source's ring ([`Slot::produce`]): that source, and the first sample
    /// position not yet handed over.
    run: Option<(Msi, i64)>,
    /// What this tick hands a block-taking sink, in this order: whole ring blocks (the part of each that is
    /// this stem's), then copied samples.
    pub(super) blocks: Vec<(Vec<i16>, Range<usize>)>,
    pub(super) copied: Vec<i16>,
    /// Samples of digital silence after everything in [`Self::blocks`] and [`Self::copied`] handed over,
    /// not yet handed over: a participant who has not spoken yet (no source), or whose sources had nothing
    /// for these ticks, costs a count here instead of a copied tick per 20 ms ([`RecordingSink::stem_silence`]).
    pub(super) silent: usize,
    /// This tick once more, for the stem's live listeners ([`RecordingSink::listened_stems`]).
    pub(super) tap: Vec<i16>,
}

/// What [`Slot::push`] did with a frame.
pub(super) enum Pushed {
    /// Offered to a source's track.
    Offered {
        /// The source had to be converted from another rate or channel count.
        resampled: bool,
    },
    /// Refused: too many sources for one participant.
    Refused,
}

impl Slot {
    fn new(info: ParticipantInfo, tick_samples: usize) -> Self {
        Slot {
            info,
            sources: Vec::new(),
            retired: TrackStats::default(),
            retired_clock: ClockStats::default(),
            limit_dropped: 0,
            gaps: GapTally::default(),
            scratch: vec![0; tick_samples],
            run: None,
            blocks: Vec::with_capacity(4),
            copied: Vec::with_capacity(tick_samples),
            silent: 0,
            tap: Vec::new(),
        }
    }

    /// One tick of this stem, `len` samples from position `from`, for a sink that takes stem blocks
    /// ([`RecordingSink::takes_stem_blocks`]), added to `mixer`. With one source at the recording's format
    /// (nearly always) the tick is lent from that source's ring and nothing is copied: the ring's block goes
    /// to [`Self::blocks`] whole once the output has passed it. Otherwise (two sources at once after a
    /// re-join, a source at another rate, no source yet) the tick is pulled into [`Self::copied`], after what
    /// was lent of the block it is in.
    pub(super) fn produce(
        &mut self,
        from: i64,
        len: usize,
        now: MediaTime,
        mixer: &mut Mixer,
        tapped: bool,
    ) {
        if let [one] = self.sources.as_mut_slice() {
            let lone = one.conv.is_none()
                && one.track.stats().delivered > 0
                && self.run.is_none_or(|(m, _)| m == one.msi);
            if lone {
                if let Some(tick) = one.track.lend(from, len, now) {
                    mixer.add(tick);
                    if tapped {
                        self.tap.extend_from_slice(tick);
                    }
                    self.run.get_or_insert((one.msi, from));
                    one.track.retire_pulled();
                    hand_finished(&mut one.track, &mut self.run, &mut self.blocks);
                    return;
                }
            }
        }
        if self.sources.is_empty() && self.run.is_none() && self.copied.is_empty() {
            // Nobody heard yet: silence, counted without being made.
            self.count_silence(len, tapped);
            return;
        }
        // The rest of a lent run first. Its source is still here: a source leaves only after a tick in which
        // it had company, and that tick ended the run.
        if let Some((msi, start)) = self.run.take() {
            if let Some(run) = self
                .sources
                .iter()
                .find(|s| s.msi == msi)
                .and_then(|s| s.track.lent_run(start, from))
            {
                self.copied.extend_from_slice(run);
            }
        }
        let mut copied = std::mem::take(&mut self.copied);
        let at = copied.len();
        copied.resize(at + len, 0);
        if let Some(tick) = copied.get_mut(at..) {
            self.pull(from, tick, now);
            if at > 0 || !media_core::frame::is_digital_silence(tick) {
                mixer.add(tick);
                if tapped {
                    self.tap.extend_from_slice(tick);
                }
            } else {
                // Nothing copied before it this tick: counted, not copied (and nothing to mix).
                copied.clear();
                self.count_silence(len, tapped);
            }
        }
        self.copied = copied;
        for s in &mut self.sources {
            while let Some((_, block)) = s.track.take_finished() {
                s.track.give_spare(block);
            }
        }
    }

    /// `len` samples of this stem's silence: counted in [`Self::silent`] (and zeros for its listeners).
    fn count_silence(&mut self, len: usize, tapped: bool) {
        self.silent += len;
        if tapped {
            self.tap.resize(self.tap.len() + len, 0);
        }
    }

    /// At the end of the call: the block the lent run ends in, into [`Self::blocks`].
    pub(super) fn finish_run(&mut self) {
        let Some((msi, start)) = self.run.take() else {
            return;
        };
        let Some(src) = self.sources.iter_mut().find(|s| s.msi == msi) else {
            return;
        };
        let until = src.track.pulled_until();
        let ch = src.track.config().format.channels.max(1) as usize;
        if start < until {
            if let Some((at, block)) = src.track.take_live() {
                let a = (start - at).max(0) as usize * ch;
                let b = ((until - at).max(0) as usize * ch).min(block.len());
                self.blocks.push((block, a.min(b)..b));
            }
        }
    }

    /// True when the lone source's ring has no spare block for the next one that leaves it.
    pub(super) fn wants_spare(&self) -> bool {
        matches!(self.sources.as_slice(), [one] if one.conv.is_none() && one.track.needs_spare())
    }

    /// A written stem block back from the sink, for the lone source's ring.
    pub(super) fn give_spare(&mut self, block: Vec<i16>) {
        if let [one] = self.sources.as_mut_slice() {
            one.track.give_spare(block);
        }
    }

    /// Offers a frame of source `frame.source.msi` delivered at `at` (recording time), `now` being the call's
    /// time and `written_until` where the output stands.
    pub(super) fn push(
        &mut self,
        frame: AudioFrame,
        at: MediaTime,
        now: MediaTime,
        cfg: &RecorderConfig,
        written_until: MediaTime,
    ) -> Pushed {
        let msi = frame.source.msi;
        let i = match self.sources.iter().position(|s| s.msi == msi) {
            Some(i) => i,
            None if self.sources.len() >= MAX_SOURCES_PER_PARTICIPANT => {
                self.limit_dropped += 1;
                return Pushed::Refused;
            }
            None => {
                self.sources.push(Source::new(msi, cfg, written_until));
                self.sources.len() - 1
            }
        };
        let Some(src) = self.sources.get_mut(i) else {
            return Pushed::Refused;
        };
        let resampled = frame.format != src.track.config().format
            && src.adopt_format(frame.format, cfg, written_until);
        src.last_frame = src.last_frame.max(at);
        src.track.push(frame, at, now);
        Pushed::Offered { resampled }
    }

    /// One tick of this participant at the recording's format into `buf` (a tick's length, every sample
    /// written): the saturating sum of its sources (one, nearly always).
    pub(super) fn pull(&mut self, from: i64, buf: &mut [i16], now: MediaTime) {
        let len = buf.len();
        match self.sources.as_mut_slice() {
            [] => buf.fill(0),
            [one] => one.pull(from, buf, now),
            many => {
                buf.fill(0);
                let scratch = &mut self.scratch[..len];
                for s in many.iter_mut() {
                    s.pull(from, scratch, now);
                    for (b, x) in buf.iter_mut().zip(scratch.iter()) {
                        *b = b.saturating_add(*x);
                    }
                }
            }
        }
    }

    /// Hands every gap that is over (all of them with `including_open`), as `classify` refines it, to `f`;
    /// retires sources idle for [`RETIRE_AFTER`] once a newer one exists (their counters are kept).
    /// The gaps noted and not yet handed over (the last of each source can still grow), oldest first.
    pub(super) fn pending_gaps(&self) -> impl Iterator<Item = Gap> + '_ {
        self.sources
            .iter()
            .flat_map(|s| s.track.gaps().iter().copied())
    }

    pub(super) fn drain_gaps<E>(
        &mut self,
        including_open: bool,
        now: MediaTime,
        classify: impl Fn(Gap) -> Gap,
        mut f: impl FnMut(Gap) -> Result<(), E>,
    ) -> Result<(), E> {
        let newest = self.sources.len().saturating_sub(1);
        let mut i = 0;
        while i < self.sources.len() {
            let retire = i < newest
                && self.sources[i].track.is_idle()
                && self.sources[i].last_frame.saturating_add(RETIRE_AFTER) < now;
            for gap in self.sources[i].track.drain_gaps(including_open || retire) {
                let gap = classify(gap);
                self.gaps.add(gap);
                f(gap)?;
            }
            if retire {
                let mut s = self.sources.remove(i);
                s.track.close(s.last_frame);
                for gap in s.track.drain_gaps(true) {
                    let gap = classify(gap);
                    self.gaps.add(gap);
                    f(gap)?;
                }
                self.retired.add(&s.track.stats());
                let c = s.track.clock_stats();
                self.retired_clock.untimed += c.untimed;
                self.retired_clock.outliers += c.outliers;
                self.retired_clock.segments += c.segments;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// Places everything still waiting (end of the call).
    pub(super) fn flush(&mut self) {
        for s in &mut self.sources {
            s.track.flush();
        }
    }

    /// Ends every source at `end` (the silence after its last frame is ledgered).
    pub(super) fn close(&mut self, end: MediaTime) {
        for s in &mut self.sources {
            s.track.close(end);
        }
    }

    /// Counters over all sources, retired ones included.
    pub(super) fn stats(&self) -> TrackStats {
        let mut t = self.retired;
        for s in &self.sources {
            t.add(&s.track.stats());
        }
        t
    }

    /// Clock counters over all sources.
    pub(super) fn clock_stats(&self) -> ClockStats {
        let mut c = self.retired_clock;
        for s in &self.sources {
            let x = s.track.clock_stats();
            c.untimed += x.untimed;
            c.outliers += x.outliers;
            c.segments += x.segments;
        }
        c
    }

    /// The drift measured for the newest source, in ppm.
    pub(super) fn drift_ppm(&self) -> f64 {
        self.sources.last().map_or(0.0, |s| s.track.drift_ppm())
    }
}

impl CallRecorder {
    pub(super) fn roster<S: RecordingSink>(
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
                        let excess = slot
                            .info
                            .msis
                            .len()
                            .saturating_sub(MAX_SOURCE_IDS_PER_PARTICIPANT);
                        for (old, _) in slot.info.msis.drain(..excess) {
                            if self.by_msi.get(&old) == Some(&i) {
                                self.by_msi.remove(&old);
                            }
                        }
                        slot.info.msis_forgotten += excess as u64;
                    }
                    return Ok(());
                }
                let info = ParticipantInfo {
                    name: self.unique_name(&p.display_name),
                    id: Some(p.id.clone()),
                    display_name: Some(p.display_name.clone()),
                    is_guest: p.is_guest,
                    msis: p.media_streams.clone(),
                    msis_forgotten: 0,
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

    pub(super) fn unique_name(&self, wanted: &str) -> String {
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

    pub(super) fn add_unknown<S: RecordingSink>(
        &mut self,
        msi: Msi,
        at: MediaTime,
        sink: &mut S,
    ) -> Result<usize, EngineError<S::Error>> {
        self.counters.unknown_msi_frames += 1;
        let info = ParticipantInfo {
            msis: vec![(msi, StreamKind::Audio)],
            ..ParticipantInfo::new(self.unique_name(&format!("unknown-{}", msi.0)), at)
        };
        self.add_slot(info, sink)
    }

    pub(super) fn add_slot<S: RecordingSink>(
        &mut self,
        info: ParticipantInfo,
        sink: &mut S,
    ) -> Result<usize, EngineError<S::Error>> {
        let idx = self.slots.len();
        let start = self.written_until();
        let lead_in = start.to_samples(self.cfg.track.format.sample_rate).max(0) as u64;
        sink.participant_added(idx, &info, lead_in)
            .map_err(EngineError::Sink)?;
        if let Some(id) = &info.id {
            self.by_id.insert(id.clone(), idx);
        }
        for m in &info.msis {
            self.by_msi.insert(m.0, idx);
        }
        if self.slots.len() >= codecs::composite::MAX_PARTICIPANTS {
            if self.composite_on {
                self.counters.not_in_composite += 1;
            }
        } else if let Some(w) = self.composite_worker() {
            w.add_participant(info.display_name.as_deref().unwrap_or(&info.name));
        }
        let joined = info.joined;
        self.slots.push(Slot::new(info, self.tick_samples));
        sink.timeline(TimelineEvent::Joined {
            participant: idx,
            at: joined,
        })
        .map_err(EngineError::Sink)?;
        Ok(idx)
    }
}

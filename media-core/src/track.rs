//! One participant's audio on the recording timeline: source clock + jitter buffer + placement.
//!
//! [`AudioTrack`] consumes [`AudioFrame`]s in arrival order and produces a gapless PCM stream in recording time,
//! one tick at a time ([`AudioTrack::pull`]). It owns:
//!
//! * a [`SourceClock`] that gives each frame a key and a target position;
//! * a [`JitterBuffer`] that releases frames in key order, waiting at most the late window for missing ones;
//! * a placement ring (a few half-second blocks, allocated once: [`crate::block_ring`]) where released frames
//!   are written at their position. A tick is either copied out ([`AudioTrack::pull`]) or lent in place
//!   ([`AudioTrack::lend`]); a block with lent ticks leaves the ring whole once the output has passed it
//!   ([`AudioTrack::take_finished`]), so a stem can be written from the memory its frames were placed in.
//!
//! ## Placement rules: what was sent is copied exactly
//! * **Inside a talk spurt continuity wins.** Consecutive keys are written back to back, and a short break in
//!   the keys (lost frames) keeps exactly the spacing the sender's timestamps give. Every frame is written
//!   whole and unchanged, so with no clock drift a stem is a bit-exact copy of what arrived.
//! * **Corrections are made in silence.** A break of at least [`TrackConfig::adjust_in_gaps`] (a pause: the
//!   sender sends nothing while its user is silent) re-places the next frame at its target, so improved offset
//!   estimates and drift are absorbed by the pause and cost no audio. A timestamp jump (an error beyond
//!   [`TrackConfig::resync`]) also re-places at once.
//! * **Real drift inside long speech** is followed only as far as it must be: once the placement error exceeds
//!   [`TrackConfig::speech_tolerance`] *and* the source clock has measured a drift of at least
//!   [`TrackConfig::min_drift_ppm`] in that direction, one sample is dropped (or repeated) at the quietest
//!   sample of a frame, no more often than the measured drift requires (at 200 ppm: 1 sample in 5,000). Every
//!   slipped sample is counted. With no drift nothing is slipped.
//! * Silence of any length is fine: there is no bound on how far a sender's keys may jump across a pause.
//!
//! ## The loss ledger
//! Every span without media is a [`Gap`] with a [`GapKind`]: a short break inside speech (both neighbours
//! sounding, at most [`TrackConfig::max_inferred_loss`]) is an [`GapKind::InferredLoss`]; anything longer or at
//! the edge of a spurt is [`GapKind::NothingSent`]; a frame that reached the track and was not written leaves a
//! [`GapKind::Dropped`] gap at its place with its cause. Frame counters obey
//! `delivered = written + late + duplicates + outliers + wrong_format + overrun` once the track is flushed
//! ([`TrackStats::dropped`]).

use crate::block_ring::BlockRing;
use crate::frame::{AudioFormat, AudioFrame};
use crate::jitter::{Insert, JitterBuffer, JitterStats};
use crate::ledger::{DropCause, GapKind};
use crate::time::MediaTime;
use crate::timeline::{ClockConfig, ClockStats, MapOutcome, SourceClock};

pub use crate::ledger::Gap;

mod lend;
mod level;

pub use level::{edge_level, level};

/// Length of the placement ring's blocks ([`crate::block_ring`]): a stem is handed over a block at a time.
/// Half a second: the ring then holds [`TrackConfig::ring`] plus half a second (4.5 s by default, 144 KB at
/// 16 kHz mono), and a stem costs two writes a second; every whole second (the writer's sync) ends a block.
pub const BLOCK: MediaTime = MediaTime::from_millis(500);

/// Tuning of an [`AudioTrack`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackConfig {
    /// The source's PCM format (frames in another format are refused).
    pub format: AudioFormat,
    /// How long a frame may wait for missing earlier frames (and how late a frame may arrive).
    pub late_window: MediaTime,
    /// Frames the jitter buffer can hold.
    pub jitter_capacity: usize,
    /// Placement error tolerated inside speech before a drift slip is considered.
    pub speech_tolerance: MediaTime,
    /// Smallest measured drift (either sign) that may be corrected inside speech.
    pub min_drift_ppm: f64,
    /// Placement error above which the stream is re-placed at once (a timestamp jump).
    pub resync: MediaTime,
    /// Breaks at least this long are pauses: the next frame is re-placed at its target.
    pub adjust_in_gaps: MediaTime,
    /// Longest break inside a talk spurt classified as an inferred loss.
    pub max_inferred_loss: MediaTime,
    /// Mean absolute sample value from which a frame counts as sounding (for the ledger's classification).
    pub sounding_level: u32,
    /// Length of the placement ring (must exceed the late window plus one tick).
    pub ring: MediaTime,
    /// Source clock tuning.
    pub clock: ClockConfig,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            format: AudioFormat::PCM16K,
            late_window: MediaTime::from_millis(200),
            jitter_capacity: 256,
            speech_tolerance: MediaTime::from_millis(10),
            min_drift_ppm: 20.0,
            resync: MediaTime::from_millis(500),
            adjust_in_gaps: MediaTime::from_millis(200),
            max_inferred_loss: MediaTime::from_millis(200),
            sounding_level: 64,
            ring: MediaTime::from_secs(4),
            clock: ClockConfig::default(),
        }
    }
}

/// Counters of one track (see also the jitter and clock counters inside).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackStats {
    /// Frames handed to the track.
    pub delivered: u64,
    /// Frames written, whole, into the stream.
    pub written: u64,
    /// Frames dropped because they arrived after their place was output.
    pub late: u64,
    /// Duplicates dropped (the first copy was written).
    pub duplicates: u64,
    /// Frames refused for an implausible timestamp.
    pub outliers: u64,
    /// Frames refused for a format that is not the track's.
    pub wrong_format: u64,
    /// Frames that overflowed the placement ring.
    pub overrun: u64,
    /// Samples written (the speech the drift correction is measured against).
    pub samples_written: u64,
    /// Samples repeated by drift slips inside speech.
    pub slip_inserted: u64,
    /// Samples dropped by drift slips inside speech.
    pub slip_dropped: u64,
    /// Times the stream was re-placed at its target inside speech (a timestamp jump).
    pub resyncs: u64,
    /// Samples by which pauses were lengthened or shortened to follow the clock (no audio lost).
    pub gap_adjusted: u64,
}

impl TrackStats {
    /// Frames delivered and not written, all causes: `delivered = written + dropped()` once flushed.
    pub fn dropped(&self) -> u64 {
        self.late + self.duplicates + self.outliers + self.wrong_format + self.overrun
    }

    /// Adds another track's counters (a participant heard through several sources).
    ///
    /// ```
    /// use media_core::track::TrackStats;
    /// let mut a = TrackStats { delivered: 3, written: 2, late: 1, ..Default::default() };
    /// a.add(&TrackStats { delivered: 5, written: 5, ..Default::default() });
    /// assert_eq!((a.delivered, a.written, a.dropped()), (8, 7, 1));
    /// ```
    pub fn add(&mut self, o: &TrackStats) {
        self.delivered += o.delivered;
        self.written += o.written;
        self.late += o.late;
        self.duplicates += o.duplicates;
        self.outliers += o.outliers;
        self.wrong_format += o.wrong_format;
        self.overrun += o.overrun;
        self.samples_written += o.samples_written;
        self.slip_inserted += o.slip_inserted;
        self.slip_dropped += o.slip_dropped;
        self.resyncs += o.resyncs;
        self.gap_adjusted += o.gap_adjusted;
    }
}

/// Where the stream stands after the last frame written.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    /// Sample position after the last frame.
    pos: i64,
    /// Its key.
    key: i64,
    /// How loud that frame was (mean absolute sample value).
    level: u16,
    /// How loud its last millisecond was ([`edge_level`]).
    tail: u16,
}

/// A short break inside speech whose missing keys have exact places (for a frame that arrives late).
#[derive(Clone, Copy, Debug, Default)]
struct KeyedGap {
    first_key: i64,
    end_key: i64,
    start: i64,
}

const KEYED_GAPS: usize = 32;

/// A frame dropped before placement (outlier stamp, wrong format) at the key it most likely had: the break
/// in the keys it leaves is ledgered as dropped, not as a loss.
#[derive(Clone, Copy, Debug)]
struct Mark {
    key: i64,
    /// Its likely sample position, used when the key turns out not to be missing.
    at: i64,
    cause: DropCause,
}

const MARKS: usize = 16;

/// A frame waiting in the jitter buffer: its target when it arrived, and how to estimate it again.
type Waiting = (MediaTime, Option<(u64, MediaTime)>, AudioFrame);

/// How loud a frame is, overall and at its edges (mean absolute sample values).
#[derive(Clone, Copy, Debug)]
struct Edges {
    level: u16,
    head: u16,
    tail: u16,
}

/// One source's audio on the recording timeline (see the module docs).
pub struct AudioTrack {
    cfg: TrackConfig,
    clock: SourceClock,
    jitter: JitterBuffer<Waiting>,
    ring: BlockRing,
    /// Sample frames the ring holds ahead of the output ([`TrackConfig::ring`]).
    ring_frames: i64,
    /// Sample frames per 20 ms source frame.
    frame_samples: i64,
    /// Everything before this sample position has been pulled.
    pulled_until: i64,
    /// Where the stream starts (a late joiner's first tick).
    start: i64,
    cursor: Option<Cursor>,
    /// Samples written since the stream was last placed at its target, and slips made since.
    spurt_samples: u64,
    spurt_slips: u64,
    keyed_gaps: [KeyedGap; KEYED_GAPS],
    keyed_next: usize,
    marks: [Option<Mark>; MARKS],
    /// The level of the break being noted (the quieter frame around it).
    break_level: u16,
    gaps: Vec<Gap>,
    stats: TrackStats,
}

impl AudioTrack {
    /// A track for one source. Allocates its ring and jitter buffer here, never later (except the gap list).
    pub fn new(cfg: TrackConfig) -> Self {
        let ch = cfg.format.channels.max(1) as usize;
        let ring_frames = cfg.ring.to_samples(cfg.format.sample_rate).max(1);
        let block = BLOCK
            .to_samples(cfg.format.sample_rate)
            .clamp(1, ring_frames) as usize;
        AudioTrack {
            clock: SourceClock::new(cfg.clock),
            // No bound on how far keys may jump: a sender silent for an hour resumes an hour of keys later. The
            // clock has already refused timestamps far off the sender's clock.
            jitter: JitterBuffer::new(cfg.jitter_capacity, i64::MAX),
            ring: BlockRing::new(ring_frames as usize, block, ch),
            ring_frames,
            frame_samples: cfg.clock.frame.to_samples(cfg.format.sample_rate).max(1),
            pulled_until: 0,
            start: 0,
            cursor: None,
            spurt_samples: 0,
            spurt_slips: 0,
            keyed_gaps: [KeyedGap::default(); KEYED_GAPS],
            keyed_next: 0,
            marks: [None; MARKS],
            break_level: 0,
            gaps: Vec::new(),
            stats: TrackStats::default(),
            cfg,
        }
    }

    /// Starts the track's output at recording time `at` (a late joiner): nothing before is expected.
    pub fn start_at(&mut self, at: MediaTime) {
        if self.cursor.is_none() {
            self.pulled_until = self
                .pulled_until
                .max(at.to_samples(self.cfg.format.sample_rate));
            self.start = self.pulled_until;
        }
    }

    /// Ends the stream at recording time `at` (after [`Self::flush`]): the silence after the last frame (or
    /// the whole span, when nothing came) is ledgered as nothing sent, so every span of the stem says what it
    /// is.
    pub fn close(&mut self, at: MediaTime) {
        let end = self.samples(at);
        let from = self.cursor.map_or(self.start, |c| c.pos);
        self.note_gap(from, end, GapKind::NothingSent);
    }

    fn rate(&self) -> u32 {
        self.cfg.format.sample_rate
    }

    fn channels(&self) -> usize {
        self.cfg.format.channels.max(1) as usize
    }

    fn samples(&self, t: MediaTime) -> i64 {
        t.to_samples(self.rate())
    }

    /// Offers a frame. `delivered` is the recording time of its reference timestamp; `now` the current
    /// recording time (latest reference time seen). Releases whatever became ready.
    pub fn push(&mut self, frame: AudioFrame, delivered: MediaTime, now: MediaTime) {
        self.stats.delivered += 1;
        let m = match self.clock.map(frame.timing.timestamp, delivered) {
            MapOutcome::Mapped(m) if frame.format == self.cfg.format => m,
            MapOutcome::Mapped(m) => {
                self.stats.wrong_format += 1;
                self.mark(m.key, self.samples(m.target), DropCause::WrongFormat);
                return;
            }
            MapOutcome::Outlier => {
                if frame.format == self.cfg.format {
                    self.stats.outliers += 1;
                } else {
                    self.stats.wrong_format += 1;
                }
                // Its timestamp says nothing: it was delivered now, so it is most likely the frame after the
                // last one, about one packetization earlier.
                let at = delivered.saturating_sub(self.cfg.clock.packetization);
                let key = self.clock.likely_key(at);
                self.mark(key, self.samples(at), DropCause::OutlierStamp);
                return;
            }
        };
        let deadline = m
            .target
            .saturating_add(self.cfg.clock.packetization)
            .saturating_add(self.cfg.late_window);
        let mut item = (m.target, m.sender_time, frame);
        loop {
            match self.jitter.insert(m.key, deadline, item) {
                Insert::Full(back) => {
                    item = back;
                    if let Some((k, w)) = self.jitter.pop_forced() {
                        self.place(k, w);
                    }
                }
                Insert::Late => {
                    // Counted by the jitter buffer; its key was passed over as part of a gap.
                    let at = self.place_of_passed_key(m.key, m.target);
                    self.note_dropped(at, DropCause::Late);
                    break;
                }
                Insert::Accepted | Insert::Duplicate | Insert::TooFarAhead => break,
            }
        }
        self.release(now);
    }

    /// Lets the track release frames whose deadline passed (call as time advances with no frame).
    pub fn release(&mut self, now: MediaTime) {
        while let Some((k, w)) = self.jitter.pop_ready(now) {
            self.place(k, w);
        }
    }

    /// The sample position a key passed over in a gap would have had: exact for a short break inside speech,
    /// the clock's target otherwise.
    fn place_of_passed_key(&self, key: i64, target: MediaTime) -> i64 {
        self.keyed_gaps
            .iter()
            .find(|g| g.first_key <= key && key < g.end_key)
            .map_or_else(
                || self.samples(target),
                |g| g.start + (key - g.first_key) * self.frame_samples,
            )
    }

    fn place(&mut self, key: i64, (target, sender_time, frame): Waiting) {
        // The clock has seen the frames that arrived while this one waited: its estimate now is better.
        let target = sender_time
            .and_then(|(seg, u)| self.clock.retarget(seg, u))
            .unwrap_or(target);
        let frame = &frame;
        let ch = self.channels();
        let n = (frame.payload.len() / (2 * ch)) as i64;
        let target_s = self.samples(target);
        let level = level(frame);
        let edges = Edges {
            level,
            head: edge_level(frame, false),
            tail: edge_level(frame, true),
        };
        let resync = self.samples(self.cfg.resync);
        // Where the frame goes, whether it was placed at its target (a new spurt), and the break before it.
        let (mut pos, at_target, mut gap) = match self.cursor {
            None => {
                // The silence before the first frame, from the stream's start.
                self.note_gap(self.start, target_s.max(self.start), GapKind::NothingSent);
                (target_s, true, None)
            }
            Some(c) => {
                let missing = key.saturating_sub(c.key).saturating_sub(1).max(0);
                let expected = c
                    .pos
                    .saturating_add(missing.saturating_mul(self.frame_samples));
                let err = target_s.saturating_sub(expected);
                let pause = missing.saturating_mul(self.frame_samples)
                    >= self.samples(self.cfg.adjust_in_gaps);
                if pause || err.abs() > resync {
                    // A pause (or a timestamp jump): re-place at the target inside the silence, so offset and
                    // drift corrections cost no audio at all.
                    let pos = target_s.max(c.pos);
                    if missing == 0 {
                        self.stats.resyncs += 1;
                    } else {
                        self.stats.gap_adjusted += pos.abs_diff(expected);
                    }
                    (pos, true, Some((c, missing)))
                } else {
                    // Inside speech: the sender's spacing, exactly.
                    (expected, false, (missing > 0).then_some((c, missing)))
                }
            }
        };
        let mut slip = 0i64; // -1: drop the quietest sample, +1: repeat it
        if !at_target && gap.is_none() {
            slip = self.drift_slip(target_s - pos);
        }
        if pos < self.pulled_until {
            if at_target {
                // The start of a spurt whose place was already output: later by a little, whole.
                self.stats.gap_adjusted += self.pulled_until.abs_diff(pos);
                pos = self.pulled_until;
            } else {
                // Inside speech, its place is (partly) written already: late.
                self.note_break(gap, pos, edges);
                self.stats.late += 1;
                self.note_dropped(pos, DropCause::Late);
                self.cursor = Some(Cursor {
                    pos: pos.saturating_add(n),
                    key,
                    level,
                    tail: edges.tail,
                });
                return;
            }
        }
        let count = n + slip;
        if pos.saturating_add(count) > self.pulled_until.saturating_add(self.ring_frames) {
            // Far ahead of the output (a timestamp far ahead of the call): the ring cannot hold it.
            self.note_break(gap.take(), pos, edges);
            self.stats.overrun += 1;
            self.note_dropped(pos, DropCause::Overrun);
            self.cursor = Some(Cursor {
                pos: pos.saturating_add(n),
                key,
                level,
                tail: edges.tail,
            });
            return;
        }
        self.note_break(gap, pos, edges);
        self.write(pos, frame, slip);
        if at_target {
            self.spurt_samples = 0;
            self.spurt_slips = 0;
        }
        self.spurt_samples += count.max(0) as u64;
        self.stats.samples_written += count.max(0) as u64;
        self.stats.written += 1;
        self.cursor = Some(Cursor {
            pos: pos + count,
            key,
            level,
            tail: edges.tail,
        });
        if self.marks.iter().any(Option::is_some) {
            self.settle_marks(false);
        }
    }

    /// The slip (±1 sample, or 0) a frame written back to back with placement error `err` (target − position,
    /// in samples) should get: only for measured drift, only beyond the speech tolerance, and no more often
    /// than the drift requires.
    fn drift_slip(&mut self, err: i64) -> i64 {
        let drift = self.clock.drift_ppm();
        if drift.abs() < self.cfg.min_drift_ppm
            || err.abs() <= self.samples(self.cfg.speech_tolerance)
        {
            return 0;
        }
        // A fast sender (positive drift) writes more samples than real time holds: its stream runs ahead of
        // the target (negative error) and needs samples dropped; a slow one the opposite.
        let dir = if err < 0 { -1 } else { 1 };
        if (drift > 0.0) != (dir < 0) {
            return 0;
        }
        let budget = (self.spurt_samples as f64 * drift.abs() * 1e-6) as u64;
        if self.spurt_slips >= budget {
            return 0;
        }
        self.spurt_slips += 1;
        if dir < 0 {
            self.stats.slip_dropped += 1;
        } else {
            self.stats.slip_inserted += 1;
        }
        dir
    }

    /// Writes a frame at `pos`, dropping (`slip` −1) or repeating (`slip` +1) its quietest sample frame.
    fn write(&mut self, pos: i64, frame: &AudioFrame, slip: i64) {
        let ch = self.channels();
        let width = 2 * ch; // bytes per sample frame
        let bytes = &frame.payload[..frame.payload.len() / width * width];
        if slip == 0 || bytes.is_empty() {
            self.copy_frames(pos, bytes);
            return;
        }
        let loudness = |f: &[u8]| {
            f.chunks_exact(2)
                .map(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs())
                .fold(0u16, u16::wrapping_add)
        };
        let quietest = bytes
            .chunks_exact(width)
            .enumerate()
            .min_by_key(|&(_, f)| loudness(f))
            .map_or(0, |(i, _)| i);
        let (before, rest) = bytes.split_at(quietest * width);
        let (frame_q, after) = rest.split_at(width);
        let mut at = self.copy_frames(pos, before);
        // The quietest sample frame dropped (slip −1) or written twice (+1).
        if slip > 0 {
            at = self.copy_frames(at, frame_q);
            at = self.copy_frames(at, frame_q);
        }
        self.copy_frames(at, after);
    }

    /// Copies the whole sample frames of `src` (little-endian 16-bit) into the ring from position `at`, whole
    /// runs of a block at a time; returns the position after them.
    fn copy_frames(&mut self, mut at: i64, mut src: &[u8]) -> i64 {
        let ch = self.channels();
        while !src.is_empty() {
            let run = self.ring.run_mut(at);
            let n = (run.len() / ch * ch).min(src.len() / 2);
            if n == 0 {
                // No room at this position (cannot happen in a ring of whole blocks): the frame is skipped.
                src = src.get(2 * ch..).unwrap_or_default();
                at += 1;
                continue;
            }
            let (now, rest) = src.split_at(2 * n);
            for (slot, b) in run[..n].iter_mut().zip(now.chunks_exact(2)) {
                *slot = i16::from_le_bytes([b[0], b[1]]);
            }
            src = rest;
            at += (n / ch) as i64;
        }
        at
    }

    /// Notes the break between the cursor `c` (with `missing` keys after it) and the frame now placed at
    /// `pos` (whose loudness is `next`), classified.
    fn note_break(&mut self, gap: Option<(Cursor, i64)>, pos: i64, next: Edges) {
        let Some((c, missing)) = gap else {
            return;
        };
        let short =
            missing.saturating_mul(self.frame_samples) <= self.samples(self.cfg.max_inferred_loss);
        let quieter = c.level.min(next.level);
        // Broken off mid-sound on both sides: a frame before that fades to silence, or one after that starts
        // from it, is the sender pausing (DTX), not media lost on the way.
        let edge = c.tail.min(next.head);
        let sounding = u32::from(quieter.min(edge)) >= self.cfg.sounding_level;
        let kind = if missing > 0 && short && sounding {
            GapKind::InferredLoss
        } else {
            GapKind::NothingSent
        };
        self.break_level = quieter;
        let exact = missing > 0 && pos == c.pos + missing * self.frame_samples;
        if exact {
            self.keyed_gaps[self.keyed_next] = KeyedGap {
                first_key: c.key + 1,
                end_key: c.key + 1 + missing,
                start: c.pos,
            };
            self.keyed_next = (self.keyed_next + 1) % KEYED_GAPS;
        }
        // Frames dropped before placement inside this break take their places in it as dropped.
        let mut from = c.pos;
        if self.marks.iter().any(Option::is_some) {
            for k in 1..=missing.min(i64::from(u16::MAX)) {
                let Some(m) = self.take_mark(c.key + k) else {
                    continue;
                };
                let at = if exact {
                    c.pos + (k - 1) * self.frame_samples
                } else {
                    m.at.clamp(from, pos)
                };
                self.note_gap(from, at, kind);
                let to = at.saturating_add(self.frame_samples).min(pos);
                self.note_gap(at, to, GapKind::Dropped(m.cause));
                from = to;
            }
        }
        self.note_gap(from, pos, kind);
        self.break_level = 0;
    }

    /// Remembers a frame dropped before placement at its likely key; a full list ledgers the oldest at once.
    fn mark(&mut self, key: i64, at: i64, cause: DropCause) {
        let mark = Mark { key, at, cause };
        if self.cursor.is_some_and(|c| key <= c.key) {
            // Its place is behind the stream already.
            self.note_dropped(at, cause);
            return;
        }
        if let Some(slot) = self.marks.iter_mut().find(|m| m.is_none()) {
            *slot = Some(mark);
            return;
        }
        let oldest = self
            .marks
            .iter_mut()
            .min_by_key(|m| m.map_or(i64::MIN, |m| m.key));
        if let Some(slot) = oldest {
            if let Some(old) = slot.replace(mark) {
                self.note_dropped(old.at, old.cause);
            }
        }
    }

    /// The marked drop at `key`, taken out.
    fn take_mark(&mut self, key: i64) -> Option<Mark> {
        self.marks
            .iter_mut()
            .find(|m| m.is_some_and(|m| m.key == key))
            .and_then(Option::take)
    }

    /// Ledgers the marks the stream has passed without their key missing (the likely key was wrong) at their
    /// likely place; with `all`, every mark (end of stream).
    fn settle_marks(&mut self, all: bool) {
        let upto = self.cursor.map_or(i64::MIN, |c| c.key);
        for i in 0..MARKS {
            if let Some(m) = self.marks[i] {
                if all || m.key <= upto {
                    self.marks[i] = None;
                    self.note_dropped(m.at, m.cause);
                }
            }
        }
    }

    fn note_dropped(&mut self, at: i64, cause: DropCause) {
        self.note_gap(
            at,
            at.saturating_add(self.frame_samples),
            GapKind::Dropped(cause),
        );
    }

    fn note_gap(&mut self, from: i64, to: i64, kind: GapKind) {
        if to <= from {
            return;
        }
        let rate = self.rate();
        let start = MediaTime::from_samples(from, rate);
        let end = MediaTime::from_samples(to, rate);
        if let Some(last) = self.gaps.last_mut() {
            if last.kind == kind && last.end() == start {
                last.length = end.saturating_sub(last.start);
                return;
            }
        }
        let mut gap = Gap::new(start, end.saturating_sub(start), kind);
        if !kind.is_dropped() {
            gap.level = self.break_level;
        }
        self.gaps.push(gap);
    }

    /// Produces the samples for `[from, from + out.len()/channels)` (sample positions at the track's rate) into
    /// `out`, silence where nothing was placed. `now` is the current recording time: frames whose deadline passed
    /// are released first. Pulls must be contiguous and must not run ahead of `now - late_window`.
    pub fn pull(&mut self, from: i64, out: &mut [i16], now: MediaTime) {
        self.release(now);
        self.ring.retire_before(from);
        let frames = (out.len() / self.channels()) as i64;
        self.ring.pull(from, out);
        self.pulled_until = self.pulled_until.max(from + frames);
        self.ring.retire_before(self.pulled_until);
    }

    /// Releases every waiting frame (end of stream), then the caller pulls the rest.
    pub fn flush(&mut self) {
        while let Some((k, w)) = self.jitter.drain() {
            self.place(k, w);
        }
        self.settle_marks(true);
    }

    /// Gaps noted and not yet taken by [`Self::drain_gaps`] (spans without media between frames).
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// Takes the gaps noted so far, oldest first, so a long call does not keep them all in memory.
    ///
    /// The last gap noted can still grow (the next missing frame extends it) and stays unless
    /// `including_open` (at the end of the stream, after [`Self::flush`] and the last pull).
    pub fn drain_gaps(&mut self, including_open: bool) -> std::vec::Drain<'_, Gap> {
        let n = if including_open {
            self.gaps.len()
        } else {
            self.gaps.len().saturating_sub(1)
        };
        self.gaps.drain(..n)
    }
    /// Track counters, with the jitter buffer's late/duplicate counts folded in.
    pub fn stats(&self) -> TrackStats {
        let j: JitterStats = self.jitter.stats();
        let mut s = self.stats;
        s.late += j.late;
        s.duplicates += j.duplicates;
        s
    }
    /// The source clock's counters.
    pub fn clock_stats(&self) -> ClockStats {
        self.clock.stats()
    }
    /// The drift estimated for this source, in ppm.
    pub fn drift_ppm(&self) -> f64 {
        self.clock.drift_ppm()
    }
    /// The configuration.
    pub fn config(&self) -> &TrackConfig {
        &self.cfg
    }
    /// True when no frame waits in the jitter buffer.
    pub fn is_idle(&self) -> bool {
        self.jitter.is_empty()
    }
    /// Where the next released frame would be written, as recording time (for diagnostics).
    pub fn cursor(&self) -> Option<MediaTime> {
        self.cursor
            .map(|c| MediaTime::from_samples(c.pos, self.rate()))
    }
}

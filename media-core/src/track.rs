//! One participant's audio on the recording timeline: source clock + jitter buffer + placement.
//!
//! [`AudioTrack`] consumes [`AudioFrame`]s in arrival order and produces a gapless PCM stream in recording time,
//! one tick at a time ([`AudioTrack::pull`]). It owns:
//!
//! * a [`SourceClock`] that gives each frame a key and a target position;
//! * a [`JitterBuffer`] that releases frames in key order, waiting at most the late window for missing ones;
//! * a placement ring (allocated once) where released frames are written at their position.
//!
//! ## Placement rules
//! Consecutive keys are written back to back, so with no loss and no drift a stem is **sample-exact**. Missing
//! keys leave exactly their frames' length of silence and are recorded as a [`Gap`]; a gap of at least
//! [`TrackConfig::adjust_in_gaps`] (a pause in speech) instead re-places the next frame at its target, so clock
//! corrections are made in silence and cost no audio. The target position from
//! the clock is followed only as far as it must be: when the contiguous position is more than
//! [`TrackConfig::slip_tolerance`] off the target (clock drift, or a better offset estimate), the track slips
//! by at most [`TrackConfig::max_slip`] samples per frame — dropping the first samples of a frame or inserting
//! silence before it — and counts every slipped sample. An error beyond [`TrackConfig::resync`] (a timestamp
//! jump) re-places the stream at the target at once. Nothing is time-stretched.
//!
//! A frame (or the part of one) that would land before what was already pulled is **late**: dropped and
//! counted.

use crate::frame::{AudioFormat, AudioFrame};
use crate::jitter::{Insert, JitterBuffer, JitterStats};
use crate::time::MediaTime;
use crate::timeline::{ClockConfig, ClockStats, MapOutcome, SourceClock};

/// Tuning of an [`AudioTrack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackConfig {
    /// The source's PCM format (frames in another format are refused).
    pub format: AudioFormat,
    /// How long a frame may wait for missing earlier frames (and how late a frame may arrive).
    pub late_window: MediaTime,
    /// Frames the jitter buffer can hold.
    pub jitter_capacity: usize,
    /// Keys further than this past the last released one are refused.
    pub max_ahead_frames: i64,
    /// Placement error tolerated before slipping.
    pub slip_tolerance: MediaTime,
    /// Most samples slipped per frame.
    pub max_slip: usize,
    /// Placement error above which the stream is re-placed at once.
    pub resync: MediaTime,
    /// Gaps at least this long absorb the whole placement error (shorter gaps keep the sender's spacing).
    pub adjust_in_gaps: MediaTime,
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
            max_ahead_frames: 500,
            slip_tolerance: MediaTime::from_millis(2),
            max_slip: 2,
            resync: MediaTime::from_millis(500),
            adjust_in_gaps: MediaTime::from_millis(200),
            ring: MediaTime::from_secs(4),
            clock: ClockConfig::default(),
        }
    }
}

/// A span of recording time where a source had no media although it was present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Recording time the gap starts.
    pub start: MediaTime,
    /// How long it lasts.
    pub length: MediaTime,
}

/// Counters of one track (see also the jitter and clock counters inside).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackStats {
    /// Frames handed to the track.
    pub delivered: u64,
    /// Frames written (wholly or partly) into the stream.
    pub written: u64,
    /// Frames dropped because they arrived after their place was output (jitter-buffer late + placement late).
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Frames refused for an implausible timestamp.
    pub outliers: u64,
    /// Frames refused as too far ahead.
    pub too_far_ahead: u64,
    /// Frames refused for a format that is not the track's.
    pub wrong_format: u64,
    /// Frames that overflowed the placement ring.
    pub overrun: u64,
    /// Samples of silence inserted by drift slips.
    pub slip_inserted: u64,
    /// Samples dropped by drift slips.
    pub slip_dropped: u64,
    /// Times the stream was re-placed at its target.
    pub resyncs: u64,
    /// Samples cut from frames that were partly late.
    pub late_samples: u64,
    /// Samples by which gaps were lengthened or shortened to follow the clock (no audio lost).
    pub gap_adjusted: u64,
}

/// One source's audio on the recording timeline (see the module docs).
pub struct AudioTrack {
    cfg: TrackConfig,
    clock: SourceClock,
    jitter: JitterBuffer<(MediaTime, AudioFrame)>,
    ring: Vec<i16>,
    /// Sample frames per 20 ms source frame.
    frame_samples: i64,
    /// Everything before this sample position has been pulled.
    pulled_until: i64,
    /// Position after the last written sample, and the key written last.
    cursor: Option<(i64, i64)>,
    gaps: Vec<Gap>,
    stats: TrackStats,
}

impl AudioTrack {
    /// A track for one source. Allocates its ring and jitter buffer here, never later (except the gap list).
    pub fn new(cfg: TrackConfig) -> Self {
        let ch = cfg.format.channels.max(1) as usize;
        let ring_len = (cfg.ring.to_samples(cfg.format.sample_rate).max(1) as usize) * ch;
        AudioTrack {
            clock: SourceClock::new(cfg.clock),
            jitter: JitterBuffer::new(cfg.jitter_capacity, cfg.max_ahead_frames),
            ring: vec![0; ring_len],
            frame_samples: cfg.clock.frame.to_samples(cfg.format.sample_rate),
            pulled_until: 0,
            cursor: None,
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
        }
    }

    fn rate(&self) -> u32 {
        self.cfg.format.sample_rate
    }

    /// Offers a frame. `delivered` is the recording time of its reference timestamp; `now` the current
    /// recording time (latest reference time seen). Releases whatever became ready.
    pub fn push(&mut self, frame: AudioFrame, delivered: MediaTime, now: MediaTime) {
        self.stats.delivered += 1;
        if frame.format != self.cfg.format {
            self.stats.wrong_format += 1;
            return;
        }
        let m = match self.clock.map(frame.timing.timestamp, delivered) {
            MapOutcome::Mapped(m) => m,
            MapOutcome::Outlier => {
                self.stats.outliers += 1;
                return;
            }
        };
        let deadline = m
            .target
            .saturating_add(self.cfg.clock.packetization)
            .saturating_add(self.cfg.late_window);
        let mut item = (m.target, frame);
        while let Insert::Full(back) = self.jitter.insert(m.key, deadline, item) {
            item = back;
            if let Some((k, (t, f))) = self.jitter.pop_forced() {
                self.place(k, t, &f);
            }
        }
        self.release(now);
    }

    /// Lets the track release frames whose deadline passed (call as time advances with no frame).
    pub fn release(&mut self, now: MediaTime) {
        while let Some((k, (t, f))) = self.jitter.pop_ready(now) {
            self.place(k, t, &f);
        }
    }

    fn place(&mut self, key: i64, target: MediaTime, frame: &AudioFrame) {
        let ch = self.cfg.format.channels.max(1) as usize;
        let n = frame.sample_count() as i64;
        let target_s = target.to_samples(self.rate());
        let tol = self.cfg.slip_tolerance.to_samples(self.rate());
        let max_slip = self.cfg.max_slip as i64;
        let mut skip = 0i64; // samples of this frame not written (slip or late)
                             // The gap before this frame, noted only once the frame's place is taken (not for an overrun, whose
                             // place stays open: the next frame's gap covers it; noting it twice made overlapping gaps).
        let mut gap: Option<(i64, i64)> = None;
        let pos = match self.cursor {
            None => target_s,
            Some((cur, last_key)) => {
                let missing = (key - last_key - 1).max(0);
                let expected = cur + missing * self.frame_samples;
                let err = target_s - expected;
                let long_gap =
                    missing * self.frame_samples >= self.cfg.adjust_in_gaps.to_samples(self.rate());
                if missing > 0 && (long_gap || err.abs() > self.cfg.resync.to_samples(self.rate()))
                {
                    // A long gap (a pause in speech, or a loss burst): re-place at the target inside the
                    // silence, so offset and drift corrections cost no audio at all. Short gaps (a few lost
                    // frames inside speech) keep the exact spacing the sender's timestamps give.
                    let pos = if err.abs() <= self.cfg.resync.to_samples(self.rate()) {
                        target_s.max(cur)
                    } else {
                        expected
                    };
                    gap = Some((cur, pos));
                    if pos != expected {
                        self.stats.gap_adjusted += (pos - expected).unsigned_abs();
                    }
                    pos
                } else if missing > 0 {
                    gap = Some((cur, expected));
                    expected
                } else if err.abs() > self.cfg.resync.to_samples(self.rate()) {
                    self.stats.resyncs += 1;
                    if target_s > expected {
                        gap = Some((expected, target_s));
                    }
                    target_s.max(cur)
                } else if err > tol {
                    let s = err.min(max_slip);
                    self.stats.slip_inserted += s as u64;
                    expected + s
                } else if err < -tol {
                    let s = (-err).min(max_slip).min(n);
                    self.stats.slip_dropped += s as u64;
                    skip = s;
                    expected
                } else {
                    expected
                }
            }
        };
        // `pos` is where sample `skip` of the frame goes.
        let mut start = pos;
        if start < self.pulled_until {
            let late = self.pulled_until - start;
            if late >= n - skip {
                if let Some((a, b)) = gap {
                    self.note_gap(a, b);
                }
                self.stats.late += 1;
                // Keep the key sequence: the frame's place is consumed.
                self.cursor = Some((pos + (n - skip), key));
                return;
            }
            self.stats.late_samples += late as u64;
            skip += late;
            start = self.pulled_until;
        }
        let count = n - skip;
        let ring_frames = (self.ring.len() / ch) as i64;
        if start + count > self.pulled_until + ring_frames {
            self.stats.overrun += 1;
            return;
        }
        if let Some((a, b)) = gap {
            self.note_gap(a, b);
        }
        let bytes = &frame.payload[(skip as usize * 2 * ch)..(n as usize * 2 * ch)];
        let mut idx = ((start.rem_euclid(ring_frames)) as usize) * ch;
        for s in bytes.chunks_exact(2) {
            if let Some(slot) = self.ring.get_mut(idx) {
                *slot = i16::from_le_bytes([s[0], s[1]]);
            }
            idx += 1;
            if idx == self.ring.len() {
                idx = 0;
            }
        }
        self.stats.written += 1;
        self.cursor = Some((start + count, key));
    }

    fn note_gap(&mut self, from: i64, to: i64) {
        if to <= from {
            return;
        }
        let rate = self.rate();
        let start = MediaTime::from_samples(from, rate);
        let end = MediaTime::from_samples(to, rate);
        if let Some(last) = self.gaps.last_mut() {
            if last.start.saturating_add(last.length) == start {
                last.length = end.saturating_sub(last.start);
                return;
            }
        }
        self.gaps.push(Gap {
            start,
            length: end.saturating_sub(start),
        });
    }

    /// Produces the samples for `[from, from + out.len()/channels)` (sample positions at the track's rate) into
    /// `out`, silence where nothing was placed. `now` is the current recording time: frames whose deadline passed
    /// are released first. Pulls must be contiguous and must not run ahead of `now - late_window`.
    pub fn pull(&mut self, from: i64, out: &mut [i16], now: MediaTime) {
        self.release(now);
        let ch = self.cfg.format.channels.max(1) as usize;
        let ring_frames = (self.ring.len() / ch) as i64;
        let frames = (out.len() / ch) as i64;
        // Copy out and clear in at most two runs (the ring wraps at most once per pull when out fits in it).
        let mut idx = (from.rem_euclid(ring_frames) as usize) * ch;
        let mut rest = &mut out[..];
        while !rest.is_empty() {
            let Some(src) = self.ring.get_mut(idx..) else {
                rest.fill(0);
                break;
            };
            let n = src.len().min(rest.len());
            if n == 0 {
                rest.fill(0);
                break;
            }
            let (head, tail) = rest.split_at_mut(n);
            head.copy_from_slice(&src[..n]);
            src[..n].fill(0);
            rest = tail;
            idx = 0;
        }
        self.pulled_until = self.pulled_until.max(from + frames);
    }

    /// Releases every waiting frame (end of stream), then the caller pulls the rest.
    pub fn flush(&mut self) {
        while let Some((k, (t, f))) = self.jitter.drain() {
            self.place(k, t, &f);
        }
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
        s.too_far_ahead += j.too_far_ahead;
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
    /// Where the next released frame would be written, as recording time (for diagnostics).
    pub fn cursor(&self) -> Option<MediaTime> {
        self.cursor
            .map(|(c, _)| MediaTime::from_samples(c, self.rate()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameTiming, SourceId};
    use crate::time::SourceTimestamp;
    use bytes::Bytes;

    const F: i64 = 320;

    fn frame(ts: u64, value: i16) -> AudioFrame {
        let mut v = Vec::with_capacity(640);
        for i in 0..F {
            v.extend_from_slice(&(value.wrapping_add(i as i16)).to_le_bytes());
        }
        AudioFrame {
            source: SourceId::audio(1),
            timing: FrameTiming {
                timestamp: SourceTimestamp::new(ts),
                ..Default::default()
            },
            format: AudioFormat::PCM16K,
            is_silence: false,
            payload: Bytes::from(v),
        }
    }

    fn ms(v: i64) -> MediaTime {
        MediaTime::from_millis(v)
    }

    /// Drives a track with (frame index, delivery ms) arrivals, pulling 20 ms ticks as time passes, and
    /// returns the output.
    fn drive(arrivals: &[(i64, i64)], total_frames: i64) -> (Vec<i16>, AudioTrack) {
        let mut t = AudioTrack::new(TrackConfig::default());
        let mut out = vec![0i16; (total_frames * F) as usize];
        let mut next_tick = 0i64;
        let window = 200 + 20;
        let mut idx = 0;
        let end = total_frames * 20 + 2000;
        for now in (0..end).step_by(5) {
            while idx < arrivals.len() && arrivals[idx].1 <= now {
                let (k, at) = arrivals[idx];
                t.push(
                    frame(1_000_000 + (k * 200_000) as u64, (k * 1000) as i16),
                    ms(at),
                    ms(now),
                );
                idx += 1;
            }
            while next_tick < total_frames && (next_tick + 1) * 20 + window <= now {
                let s = (next_tick * F) as usize;
                t.pull(next_tick * F, &mut out[s..s + F as usize], ms(now));
                next_tick += 1;
            }
        }
        (out, t)
    }

    fn expected(present: &[i64], total: i64) -> Vec<i16> {
        let mut e = vec![0i16; (total * F) as usize];
        for &k in present {
            for i in 0..F {
                e[(k * F + i) as usize] = ((k * 1000) as i16).wrapping_add(i as i16);
            }
        }
        e
    }

    #[test]
    fn in_order_frames_are_written_back_to_back() {
        let arr: Vec<(i64, i64)> = (0..50).map(|k| (k, k * 20 + 20)).collect();
        let (out, t) = drive(&arr, 50);
        assert_eq!(out, expected(&(0..50).collect::<Vec<_>>(), 50));
        assert_eq!(t.stats().written, 50);
        assert!(t.gaps().is_empty());
    }

    #[test]
    fn a_delayed_frame_lands_at_its_true_position_and_a_lost_one_is_a_gap() {
        // Frame 10 arrives 150 ms late (inside the window); frame 20 and 21 never arrive.
        let mut arr: Vec<(i64, i64)> = (0..50)
            .filter(|k| *k != 20 && *k != 21)
            .map(|k| (k, k * 20 + 20 + if k == 10 { 150 } else { 0 }))
            .collect();
        arr.sort_by_key(|a| a.1);
        let (out, t) = drive(&arr, 50);
        let present: Vec<i64> = (0..50).filter(|k| *k != 20 && *k != 21).collect();
        assert_eq!(out, expected(&present, 50));
        assert_eq!(
            t.gaps(),
            &[Gap {
                start: ms(400),
                length: ms(40)
            }]
        );
        assert_eq!(t.stats().written, 48);
        assert_eq!(t.stats().late, 0);
    }

    #[test]
    fn a_frame_beyond_the_window_is_late_and_counted() {
        let mut arr: Vec<(i64, i64)> = (0..50)
            .map(|k| (k, k * 20 + 20 + if k == 10 { 600 } else { 0 }))
            .collect();
        arr.sort_by_key(|a| a.1);
        let (out, t) = drive(&arr, 50);
        let present: Vec<i64> = (0..50).filter(|k| *k != 10).collect();
        assert_eq!(out, expected(&present, 50));
        assert_eq!(t.stats().late, 1);
        assert_eq!(t.stats().written, 49);
    }

    /// Found by `fuzz/` target `track_mixer`: a frame refused as overrun (its place beyond the ring) had
    /// already noted the gap before it, and the next frame noted it again: two gaps with the same start.
    #[test]
    fn an_overrun_frame_does_not_note_its_gap_twice() {
        let mut t = AudioTrack::new(TrackConfig::default());
        t.push(frame(1_000_000, 1), ms(20), ms(20));
        t.release(ms(300));
        // 6 s later in sender time, delivered on time, but nothing pulled yet: beyond the 4 s ring.
        t.push(frame(1_000_000 + 300 * 200_000, 2), ms(6020), ms(6020));
        t.release(ms(6300));
        t.push(frame(1_000_000 + 301 * 200_000, 3), ms(6320), ms(6320));
        t.release(ms(6600));
        assert_eq!(t.stats().overrun, 2);
        for w in t.gaps().windows(2) {
            assert!(
                w[0].start.saturating_add(w[0].length) <= w[1].start,
                "{:?}",
                t.gaps()
            );
        }
    }

    #[test]
    fn drained_gaps_leave_the_open_one_to_grow() {
        // Frames 10, 20 and 21, 22 never arrive: two gaps, the second noted in two steps.
        let arr: Vec<(i64, i64)> = (0..50)
            .filter(|k| ![10, 20, 21, 22].contains(k))
            .map(|k| (k, k * 20 + 20))
            .collect();
        let (_, mut t) = drive(&arr, 50);
        let closed: Vec<Gap> = t.drain_gaps(false).collect();
        assert_eq!(
            closed,
            vec![Gap {
                start: ms(200),
                length: ms(20)
            }]
        );
        assert_eq!(
            t.gaps(),
            &[Gap {
                start: ms(400),
                length: ms(60)
            }]
        );
        assert_eq!(t.drain_gaps(true).count(), 1);
        assert!(t.gaps().is_empty());
    }

    #[test]
    fn wrong_format_is_counted_not_written() {
        let mut t = AudioTrack::new(TrackConfig::default());
        let mut f = frame(5, 0);
        f.format = AudioFormat::PCM44K_STEREO;
        t.push(f, ms(20), ms(20));
        assert_eq!(t.stats().wrong_format, 1);
        assert_eq!(t.stats().written, 0);
    }
}

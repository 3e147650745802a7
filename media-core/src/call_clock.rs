//! The call's own clock: the platform reference timestamps of every message, judged against each other.
//!
//! Every message a bot forwards (audio buffers, video, roster and dominant-speaker changes, the end of the
//! call) carries the platform's reference clock, and every one of them comes from outside and can be wrong. A
//! [`CallClock`] turns them into recording time so that no single bad timestamp can move the timeline:
//!
//! * **Time zero** is the first message's reference, but only provisionally: if the next messages agree with
//!   each other and not with it ([`CallClockConfig::confirm`] in a row), the first one was the outlier and the
//!   origin is taken from them instead.
//! * **A step beyond [`CallClockConfig::jump_threshold`]** from the call's time (forward or back) is refused
//!   and counted; the message is handled at the call's current time instead. When `confirm` messages in a row
//!   agree on the new time base, it is a real discontinuity (a platform clock reset): the timeline is
//!   re-anchored so that recording time goes on from where it was — it never advances by more than the media
//!   that arrived.
//! * **With a wall clock** (a live call: `listen`, `record --realtime`), a forward step that the wall clock
//!   confirms (the bot was silent for that long) is accepted at once, and recording time never runs more than
//!   [`CallClockConfig::max_lead`] ahead of the wall-clock time since the call's first message: anything
//!   further is refused.
//!
//! Sans-IO: the wall clock comes in with each message (`arrival`, the engine's monotonic clock).
//!
//! ```
//! use media_core::call_clock::{CallClock, CallClockConfig, Verdict};
//! use media_core::{MediaTime, SourceTimestamp};
//!
//! let ms = MediaTime::from_millis;
//! let r0 = 139_000_000_000_000_000u64;
//! let at = |t: i64| SourceTimestamp::new(r0 + (t * 10_000) as u64);
//! let mut c = CallClock::new(CallClockConfig::default());
//! assert_eq!(c.map(at(0), None), Verdict::Accepted(ms(0)));
//! assert_eq!(c.map(at(20), None), Verdict::Accepted(ms(20)));
//! // One buffer stamped 11 days ahead: refused, handled at the call's time, time does not move.
//! let far = SourceTimestamp::new(r0 + 11 * 86_400 * 10_000_000);
//! assert_eq!(c.map(far, None), Verdict::Refused(ms(20)));
//! assert_eq!(c.map(at(40), None), Verdict::Accepted(ms(40)));
//! assert_eq!(c.now(), ms(40));
//! assert_eq!(c.stats().refused, 1);
//! ```

use crate::time::{MediaTime, SourceTimestamp};

/// Tuning of a [`CallClock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallClockConfig {
    /// A step of the reference clock beyond this (either way) is an outlier until confirmed.
    pub jump_threshold: MediaTime,
    /// How many messages in a row must agree on a new time base to confirm it.
    pub confirm: u32,
    /// With a wall clock: how far recording time may run ahead of the wall-clock time since the first
    /// message. `None`: no wall-clock bound (replaying a recorded call as fast as the machine allows).
    pub max_lead: Option<MediaTime>,
}

impl Default for CallClockConfig {
    fn default() -> Self {
        CallClockConfig {
            jump_threshold: MediaTime::from_secs(2),
            confirm: 3,
            max_lead: None,
        }
    }
}

/// What a reference timestamp means for the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// In line with the call's clock: the message happened at this recording time.
    Accepted(MediaTime),
    /// Refused (far off the call's clock, or ahead of the wall clock): handle the message at this recording
    /// time, the call's current time, instead.
    Refused(MediaTime),
    /// The message had no reference timestamp (0): it happened at the call's current time.
    Unstamped(MediaTime),
}

impl Verdict {
    /// The recording time to handle the message at.
    pub fn at(self) -> MediaTime {
        match self {
            Verdict::Accepted(t) | Verdict::Refused(t) | Verdict::Unstamped(t) => t,
        }
    }
}

/// Counters of a [`CallClock`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallClockStats {
    /// Distinct reference timestamps refused (far off the call's clock or ahead of the wall clock).
    pub refused: u64,
    /// Of those, refused because they ran ahead of the wall clock by more than the lead allowed.
    pub ahead_of_wall: u64,
    /// Confirmed discontinuities of the reference clock (the timeline re-anchored).
    pub jumps: u64,
    /// True when the first message's reference turned out to be the outlier and the origin was moved.
    pub origin_moved: bool,
}

/// The call's clock (see the module docs).
#[derive(Clone, Debug)]
pub struct CallClock {
    cfg: CallClockConfig,
    /// Reference ticks that map to recording time zero in the current segment.
    base: Option<i64>,
    /// The origin reported for the recording: the reference at recording time zero.
    origin: Option<SourceTimestamp>,
    now: MediaTime,
    /// Wall clock (engine arrival) of the first message, and of the latest accepted one with its time.
    first_arrival: Option<MediaTime>,
    last_accepted: Option<(MediaTime, MediaTime)>,
    /// A new time base under confirmation: its base and how many messages agreed.
    pending: Option<(i64, u32)>,
    /// Messages mapped so far (the first `confirm` are the probation of time zero).
    seen: u64,
    /// The last reference mapped and its verdict: a buffer's frames repeat their buffer's reference.
    last: Option<(SourceTimestamp, Verdict)>,
    stats: CallClockStats,
}

impl CallClock {
    /// A clock that has seen nothing.
    pub fn new(cfg: CallClockConfig) -> Self {
        CallClock {
            cfg,
            base: None,
            origin: None,
            now: MediaTime::ZERO,
            first_arrival: None,
            last_accepted: None,
            pending: None,
            seen: 0,
            last: None,
            stats: CallClockStats::default(),
        }
    }

    /// The reference at recording time zero (after probation, the one the call's messages agree on).
    pub fn origin(&self) -> Option<SourceTimestamp> {
        self.origin
    }

    /// The call's current recording time: the latest accepted reference (never moved by a refused one).
    pub fn now(&self) -> MediaTime {
        self.now
    }

    /// Counters so far.
    pub fn stats(&self) -> CallClockStats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &CallClockConfig {
        &self.cfg
    }

    /// Judges a message's reference timestamp. `arrival` is the engine's wall clock when the message was handed
    /// over, for live calls (`None` when replaying faster than real time).
    pub fn map(&mut self, reference: SourceTimestamp, arrival: Option<MediaTime>) -> Verdict {
        if reference.is_unknown() {
            return Verdict::Unstamped(self.now);
        }
        if let Some((r, v)) = self.last {
            if r == reference {
                // The same buffer's frames: the buffer's verdict, at the time the call is at now.
                return match v {
                    Verdict::Refused(_) => Verdict::Refused(self.now),
                    v => v,
                };
            }
        }
        let v = self.judge(reference, arrival);
        self.last = Some((reference, v));
        self.seen += 1;
        v
    }

    fn judge(&mut self, reference: SourceTimestamp, arrival: Option<MediaTime>) -> Verdict {
        let r = i64::try_from(reference.ticks()).unwrap_or(i64::MAX);
        if self.first_arrival.is_none() {
            self.first_arrival = arrival;
        }
        let Some(base) = self.base else {
            self.base = Some(r);
            self.origin = Some(reference);
            self.last_accepted = arrival.map(|a| (a, MediaTime::ZERO));
            return Verdict::Accepted(MediaTime::ZERO);
        };
        let t = MediaTime::from_ticks(r.saturating_sub(base));
        let step = t.saturating_sub(self.now);
        let threshold = self.cfg.jump_threshold;
        // How far the wall clock lets this message be: the lead past the wall-clock time since the first
        // message, and a forward step the wall clock says really passed since the last accepted one.
        let wall = match (arrival, self.first_arrival, self.cfg.max_lead) {
            (Some(a), Some(first), Some(lead)) => {
                Some((a, a.saturating_sub(first).saturating_add(lead)))
            }
            _ => None,
        };
        if let Some((_, limit)) = wall {
            if t > limit {
                self.stats.refused += 1;
                self.stats.ahead_of_wall += 1;
                return Verdict::Refused(self.now);
            }
        }
        let walked = match (wall, self.last_accepted) {
            (Some((a, _)), Some((last_a, last_t))) => {
                step > MediaTime::ZERO
                    && t <= last_t
                        .saturating_add(a.saturating_sub(last_a))
                        .saturating_add(threshold)
            }
            _ => false,
        };
        if step.abs() <= threshold || walked {
            self.pending = None;
            return self.accept(t, arrival);
        }
        // Off the call's clock: refused unless the messages agree on a new base.
        let candidate = r.saturating_sub(self.now.ticks());
        let count = match self.pending {
            Some((b, n)) if (b.saturating_sub(candidate)).abs() <= threshold.ticks() => n + 1,
            _ => 1,
        };
        self.pending = Some((candidate, count));
        if count < self.cfg.confirm {
            self.stats.refused += 1;
            return Verdict::Refused(self.now);
        }
        // Confirmed: re-anchor so that recording time goes on from now. The confirming messages before this
        // one were refused (and counted); this one is accepted.
        self.pending = None;
        self.stats.jumps += 1;
        self.base = Some(candidate);
        if self.seen < u64::from(self.cfg.confirm) + 1 {
            // Still in the probation of time zero: the first message was the outlier.
            self.origin = Some(SourceTimestamp::new(u64::try_from(candidate).unwrap_or(0)));
            self.stats.origin_moved = true;
        }
        self.accept(self.now, arrival)
    }

    fn accept(&mut self, t: MediaTime, arrival: Option<MediaTime>) -> Verdict {
        self.now = self.now.max(t);
        if let Some(a) = arrival {
            self.last_accepted = Some((a, self.now));
        }
        Verdict::Accepted(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R0: u64 = 139_000_000_000_000_000;

    fn at(ms: i64) -> SourceTimestamp {
        SourceTimestamp::new((R0 as i64 + ms * 10_000) as u64)
    }

    fn ms(v: i64) -> MediaTime {
        MediaTime::from_millis(v)
    }

    #[test]
    fn a_first_message_far_ahead_does_not_define_time_zero() {
        let mut c = CallClock::new(CallClockConfig::default());
        let bad = SourceTimestamp::new(R0 + 11 * 86_400 * 10_000_000);
        assert_eq!(c.map(bad, None), Verdict::Accepted(ms(0)));
        // The call's real messages: refused until three agree, then time goes on from zero.
        assert_eq!(c.map(at(0), None), Verdict::Refused(ms(0)));
        assert_eq!(c.map(at(20), None), Verdict::Refused(ms(0)));
        assert_eq!(c.map(at(40), None), Verdict::Accepted(ms(0)));
        assert_eq!(c.map(at(60), None), Verdict::Accepted(ms(20)));
        assert!(c.stats().origin_moved);
        assert_eq!(c.origin(), Some(at(40)));
        assert_eq!(c.now(), ms(20));
    }

    #[test]
    fn a_confirmed_platform_clock_reset_re_anchors_without_advancing_time() {
        let mut c = CallClock::new(CallClockConfig::default());
        for k in 0..50 {
            assert_eq!(c.map(at(k * 20), None), Verdict::Accepted(ms(k * 20)));
        }
        // The platform clock jumps forward by an hour and stays there.
        let hour = 3_600_000;
        assert_eq!(c.map(at(hour + 1000), None), Verdict::Refused(ms(980)));
        assert_eq!(c.map(at(hour + 1020), None), Verdict::Refused(ms(980)));
        assert_eq!(c.map(at(hour + 1040), None), Verdict::Accepted(ms(980)));
        assert_eq!(c.map(at(hour + 1060), None), Verdict::Accepted(ms(1000)));
        assert_eq!(c.stats().jumps, 1);
        assert!(!c.stats().origin_moved);
        assert_eq!(c.origin(), Some(at(0)));
    }

    #[test]
    fn the_wall_clock_confirms_a_real_pause_and_bounds_the_lead() {
        let cfg = CallClockConfig {
            max_lead: Some(MediaTime::from_secs(5)),
            ..CallClockConfig::default()
        };
        let mut c = CallClock::new(cfg);
        assert_eq!(c.map(at(0), Some(ms(3))), Verdict::Accepted(ms(0)));
        assert_eq!(c.map(at(20), Some(ms(23))), Verdict::Accepted(ms(20)));
        // The bot was cut off for 30 s: the wall clock saw the 30 s pass, so the step is real.
        assert_eq!(
            c.map(at(30_020), Some(ms(30_025))),
            Verdict::Accepted(ms(30_020))
        );
        // A 4 s step the wall clock did not see is an outlier (within the lead or not); 7 s ahead of the wall
        // clock is refused for the lead alone.
        assert_eq!(
            c.map(at(34_000), Some(ms(30_030))),
            Verdict::Refused(ms(30_020))
        );
        assert_eq!(
            c.map(at(37_000), Some(ms(30_040))),
            Verdict::Refused(ms(30_020))
        );
        assert_eq!(c.stats().ahead_of_wall, 1);
        assert_eq!(c.stats().refused, 2);
        // Many messages claiming time runs faster than the wall clock: never more than the lead ahead.
        let mut accepted = 0;
        for k in 0..500 {
            let v = c.map(at(30_040 + k * 100), Some(ms(30_050 + k)));
            assert!(v.at() <= ms(30_050 + k + 5_000 - 3), "{v:?}");
            accepted += u32::from(matches!(v, Verdict::Accepted(_)));
        }
        assert!(accepted > 40 && accepted < 100, "{accepted}");
    }

    #[test]
    fn a_buffer_and_its_frames_share_one_verdict() {
        let mut c = CallClock::new(CallClockConfig::default());
        c.map(at(0), None);
        let bad = at(-500_000);
        for _ in 0..5 {
            assert_eq!(c.map(bad, None), Verdict::Refused(ms(0)));
        }
        assert_eq!(c.stats().refused, 1, "one buffer, one refusal");
        assert_eq!(c.map(at(20), None), Verdict::Accepted(ms(20)));
    }
}

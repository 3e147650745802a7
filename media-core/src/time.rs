//! Typed media time.
//!
//! All time inside Verbatim is counted in **ticks of 100 ns**, the unit the Teams media platform uses for every
//! timestamp (`AudioMediaBuffer.Timestamp`, `OriginalSenderTimestamp`, `VideoMediaBuffer.Timestamp`). Two types
//! keep the two meanings apart:
//!
//! * [`SourceTimestamp`]: a raw timestamp exactly as a source stamped it, in that source's own clock domain.
//!   `0` means "unknown" (Teams sends 0 for the first seconds of a call and after media reconnects).
//! * [`MediaTime`]: a point or a span on a timeline Verbatim controls — the recording timeline (0 = recording
//!   start) or the engine's monotonic clock (arrival times). Signed, so differences can be negative.
//!
//! Arithmetic is checked or saturating; nothing here panics on any input.

use std::fmt;

/// Ticks (100 ns) per second.
pub const TICKS_PER_SECOND: i64 = 10_000_000;
/// Ticks (100 ns) per millisecond.
pub const TICKS_PER_MILLI: i64 = 10_000;

/// A point or a span on a Verbatim-controlled timeline, in 100 ns ticks.
///
/// # Examples
/// ```
/// use media_core::MediaTime;
/// let t = MediaTime::from_millis(20);
/// assert_eq!(t.ticks(), 200_000);
/// assert_eq!(t.to_samples(16_000), 320);
/// assert_eq!(MediaTime::from_samples(320, 16_000), t);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaTime(i64);

impl MediaTime {
    /// Time zero.
    pub const ZERO: MediaTime = MediaTime(0);
    /// The largest representable time (about 29,000 years).
    pub const MAX: MediaTime = MediaTime(i64::MAX);

    /// From raw 100 ns ticks.
    pub const fn from_ticks(ticks: i64) -> Self {
        MediaTime(ticks)
    }
    /// From whole milliseconds (saturating).
    pub const fn from_millis(ms: i64) -> Self {
        MediaTime(ms.saturating_mul(TICKS_PER_MILLI))
    }
    /// From whole microseconds (saturating).
    pub const fn from_micros(us: i64) -> Self {
        MediaTime(us.saturating_mul(10))
    }
    /// From whole seconds (saturating).
    pub const fn from_secs(s: i64) -> Self {
        MediaTime(s.saturating_mul(TICKS_PER_SECOND))
    }
    /// The time `samples` samples take at `rate` Hz, rounded to the nearest tick. A zero rate gives zero.
    pub fn from_samples(samples: i64, rate: u32) -> Self {
        if rate == 0 {
            return MediaTime::ZERO;
        }
        let num = samples as i128 * TICKS_PER_SECOND as i128;
        let r = rate as i128;
        MediaTime(clamp_i64(div_round(num, r)))
    }
    /// Raw 100 ns ticks.
    pub const fn ticks(self) -> i64 {
        self.0
    }
    /// Whole milliseconds, rounded toward negative infinity.
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(TICKS_PER_MILLI)
    }
    /// Seconds as a float, for display and reports only (never for arithmetic on the timeline).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / TICKS_PER_SECOND as f64
    }
    /// The number of whole samples at `rate` Hz that fit before this time, rounded to the nearest sample.
    pub fn to_samples(self, rate: u32) -> i64 {
        let num = self.0 as i128 * rate as i128;
        clamp_i64(div_round(num, TICKS_PER_SECOND as i128))
    }
    /// Checked addition.
    pub const fn checked_add(self, rhs: MediaTime) -> Option<MediaTime> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Some(MediaTime(v)),
            None => None,
        }
    }
    /// Checked subtraction.
    pub const fn checked_sub(self, rhs: MediaTime) -> Option<MediaTime> {
        match self.0.checked_sub(rhs.0) {
            Some(v) => Some(MediaTime(v)),
            None => None,
        }
    }
    /// Saturating addition.
    pub const fn saturating_add(self, rhs: MediaTime) -> MediaTime {
        MediaTime(self.0.saturating_add(rhs.0))
    }
    /// Saturating subtraction.
    pub const fn saturating_sub(self, rhs: MediaTime) -> MediaTime {
        MediaTime(self.0.saturating_sub(rhs.0))
    }
    /// Multiplication by a count (saturating), e.g. the start of tick `n`.
    pub const fn saturating_mul(self, n: i64) -> MediaTime {
        MediaTime(self.0.saturating_mul(n))
    }
    /// Absolute value (saturating).
    pub const fn abs(self) -> MediaTime {
        MediaTime(self.0.saturating_abs())
    }
}

impl fmt::Display for MediaTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.as_secs_f64())
    }
}

/// A timestamp as a source stamped it, in 100 ns ticks of that source's clock domain. `0` means unknown.
///
/// # Examples
/// ```
/// use media_core::SourceTimestamp;
/// assert!(SourceTimestamp::UNKNOWN.is_unknown());
/// assert!(!SourceTimestamp::new(1).is_unknown());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceTimestamp(u64);

impl SourceTimestamp {
    /// The "no timestamp" marker Teams uses (0).
    pub const UNKNOWN: SourceTimestamp = SourceTimestamp(0);
    /// From raw 100 ns ticks.
    pub const fn new(ticks: u64) -> Self {
        SourceTimestamp(ticks)
    }
    /// Raw 100 ns ticks.
    pub const fn ticks(self) -> u64 {
        self.0
    }
    /// True when the source sent 0 (no timestamp).
    pub const fn is_unknown(self) -> bool {
        self.0 == 0
    }
    /// The signed distance `self - earlier` as a [`MediaTime`] (saturating at the i64 range).
    pub fn since(self, earlier: SourceTimestamp) -> MediaTime {
        let d = self.0 as i128 - earlier.0 as i128;
        MediaTime(clamp_i64(d))
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Division rounding half away from zero; `den` must be positive.
fn div_round(num: i128, den: i128) -> i128 {
    if num >= 0 {
        (num + den / 2) / den
    } else {
        (num - den / 2) / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_round_trip_at_common_rates() {
        for rate in [8_000u32, 16_000, 44_100, 48_000, 90_000] {
            for n in [0i64, 1, 319, 320, 441, 960, 1_000_000] {
                let t = MediaTime::from_samples(n, rate);
                assert_eq!(t.to_samples(rate), n, "rate {rate} n {n}");
            }
        }
    }

    #[test]
    fn extreme_values_do_not_panic() {
        assert_eq!(MediaTime::from_samples(i64::MAX, 1), MediaTime::MAX);
        assert_eq!(MediaTime::MAX.to_samples(48_000), 44_272_185_776_902_924);
        assert_eq!(MediaTime::from_samples(5, 0), MediaTime::ZERO);
        assert_eq!(MediaTime::MAX.checked_add(MediaTime::from_ticks(1)), None);
        assert_eq!(
            SourceTimestamp::new(u64::MAX).since(SourceTimestamp::new(0)),
            MediaTime::MAX
        );
        assert_eq!(
            SourceTimestamp::new(5).since(SourceTimestamp::new(15)),
            MediaTime::from_ticks(-10)
        );
    }
}

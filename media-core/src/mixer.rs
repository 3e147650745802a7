//! The audio mixer: N participant streams in, one mixed stream out, per tick.
//!
//! The mixer sums 16-bit inputs in 32-bit and **saturates** to the 16-bit range, so loud overlapping speech
//! clips instead of wrapping around. Inputs must already be at the mix rate and channel count (tracks at other
//! rates are resampled first). Sources join and leave freely: the caller passes
//! whatever inputs exist for this tick. No allocation: the caller owns every buffer.

/// Mixes `inputs` into `out` (all the same length) with a saturating sum. Missing samples (an input shorter
/// than `out`) count as silence.
///
/// # Examples
/// ```
/// let a = [30_000i16, -5, 100];
/// let b = [10_000i16, -32_000, -100];
/// let mut out = [0i16; 3];
/// media_core::mixer::mix(&[&a, &b], &mut out);
/// assert_eq!(out, [i16::MAX, -32_005i32.max(i16::MIN as i32) as i16, 0]);
/// ```
pub fn mix(inputs: &[&[i16]], out: &mut [i16]) {
    for (i, o) in out.iter_mut().enumerate() {
        let mut acc: i32 = 0;
        for input in inputs {
            if let Some(&s) = input.get(i) {
                acc += i32::from(s);
            }
        }
        *o = acc.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    }
}

/// A mixer that also counts clipped samples (for metadata and metrics).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Mixer {
    clipped: u64,
    ticks: u64,
}

impl Mixer {
    /// A new mixer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mixes one tick; see [`mix`]. Counts samples that saturated.
    pub fn mix_tick(&mut self, inputs: &[&[i16]], out: &mut [i16]) {
        self.ticks += 1;
        for (i, o) in out.iter_mut().enumerate() {
            let mut acc: i32 = 0;
            for input in inputs {
                if let Some(&s) = input.get(i) {
                    acc += i32::from(s);
                }
            }
            let c = acc.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
            if c != acc {
                self.clipped += 1;
            }
            *o = c as i16;
        }
    }

    /// Samples that saturated so far.
    pub fn clipped(&self) -> u64 {
        self.clipped
    }
    /// Ticks mixed so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The mix equals the exact sum clamped to i16, for any inputs, any count, any lengths.
        #[test]
        fn mix_is_the_saturating_sum(
            inputs in proptest::collection::vec(proptest::collection::vec(any::<i16>(), 0..64), 0..12),
            len in 0usize..64,
        ) {
            let refs: Vec<&[i16]> = inputs.iter().map(|v| v.as_slice()).collect();
            let mut out = vec![0i16; len];
            let mut m = Mixer::new();
            m.mix_tick(&refs, &mut out);
            let mut clipped = 0;
            for (i, o) in out.iter().enumerate() {
                let sum: i64 = inputs.iter().filter_map(|v| v.get(i)).map(|&s| s as i64).sum();
                let c = sum.clamp(i16::MIN as i64, i16::MAX as i64);
                if c != sum { clipped += 1; }
                prop_assert_eq!(*o as i64, c);
            }
            prop_assert_eq!(m.clipped(), clipped);
            let mut plain = vec![0i16; len];
            mix(&refs, &mut plain);
            prop_assert_eq!(plain, out);
        }
    }
}

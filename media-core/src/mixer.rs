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

/// A mixer that accumulates inputs one by one (no slice-of-slices needed, so the caller never allocates) and
/// counts clipped samples (for metadata and metrics).
///
/// # Examples
/// ```
/// use media_core::mixer::Mixer;
/// let mut m = Mixer::new(4);
/// m.begin(2);
/// m.add(&[20_000, 1]);
/// m.add(&[20_000, 2]);
/// let mut out = [0i16; 2];
/// m.finish(&mut out);
/// assert_eq!(out, [i16::MAX, 3]);
/// assert_eq!(m.clipped(), 1);
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Mixer {
    acc: Vec<i32>,
    len: usize,
    clipped: u64,
    ticks: u64,
}

impl Mixer {
    /// A mixer for ticks of up to `max_len` samples (allocated here once).
    pub fn new(max_len: usize) -> Self {
        Mixer {
            acc: vec![0; max_len],
            len: 0,
            clipped: 0,
            ticks: 0,
        }
    }

    /// Starts a tick of `len` samples (clamped to the capacity given to [`Mixer::new`]).
    pub fn begin(&mut self, len: usize) {
        self.len = len.min(self.acc.len());
        for a in &mut self.acc[..self.len] {
            *a = 0;
        }
    }

    /// Adds one input to the tick (a shorter input counts as silence past its end).
    pub fn add(&mut self, input: &[i16]) {
        for (a, &s) in self.acc[..self.len].iter_mut().zip(input) {
            *a += i32::from(s);
        }
    }

    /// Writes the saturated sum into `out` (up to the tick length) and counts clipped samples.
    pub fn finish(&mut self, out: &mut [i16]) {
        self.ticks += 1;
        // Branch-free (vectorised): the clipped samples are counted as a sum.
        let clipped: u32 = out
            .iter_mut()
            .zip(&self.acc[..self.len])
            .map(|(o, &a)| {
                let c = a.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
                *o = c as i16;
                u32::from(c != a)
            })
            .sum();
        self.clipped += u64::from(clipped);
    }

    /// Mixes one tick of `inputs` into `out`; see [`mix`].
    pub fn mix_tick(&mut self, inputs: &[&[i16]], out: &mut [i16]) {
        self.begin(out.len());
        for i in inputs {
            self.add(i);
        }
        self.finish(out);
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
            let mut m = Mixer::new(64);
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

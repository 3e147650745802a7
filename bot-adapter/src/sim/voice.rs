//! A synthetic voice generated one 20 ms frame at a time from a compact talk schedule.
//!
//! The sound is the simulator's synthetic speaker: harmonics of the voice's own fundamental (95–260 Hz) shaped
//! by two vowel formants, a new vowel every syllable (3.5–5 Hz syllable envelope between 0.3 and 1) and a slow
//! pitch wobble (±4 % at 0.3–0.8 Hz), with 10 ms linear ramps at the edges of each talk spurt. Between spurts
//! the voice is digital zero (not sent: DTX); inside a spurt no sample is zero, so every frame that touches a
//! spurt is sent.
//!
//! Every sample is a pure function of the voice's seed, its spurt and its index (the pitch phase is the exact
//! integral of the wobbling pitch at 10 ms block edges, linear in between), so any frame can be generated on
//! its own, in any order, and regenerated later for checking. Memory is the spurt list plus five one-period
//! vowel tables (40 KiB), whatever the length of the input.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{mix, FRAME_SAMPLES, SAMPLE_RATE};

/// (F1, F2) formant pairs in Hz: a, e, i, o, u.
const VOWELS: [(f64, f64); 5] = [
    (800.0, 1200.0),
    (500.0, 1900.0),
    (300.0, 2300.0),
    (500.0, 900.0),
    (350.0, 800.0),
];
/// Samples per vowel-table period.
const TABLE: usize = 2048;
/// Samples of the linear ramp at each end of a spurt (10 ms).
const RAMP: u64 = 160;
/// Samples per block of constant pitch slope (10 ms).
const BLOCK: u64 = 160;
/// Relative depth of the pitch wobble.
const WOBBLE_DEPTH: f64 = 0.04;

/// One stretch of speech: input samples `start .. start + len` (16 kHz, from the input's first sample).
///
/// # Examples
/// ```
/// use bot_adapter::sim::TalkSpurt;
///
/// let s = TalkSpurt { start: 16_000, len: 8_000, level: 6_000 };
/// assert_eq!(s.end(), 24_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TalkSpurt {
    /// First sample of the spurt.
    pub start: u64,
    /// Length in samples.
    pub len: u32,
    /// Peak amplitude (the envelope's maximum), e.g. 4,000–10,000 for speech, 1,500–3,500 for an "mm-hm".
    pub level: u16,
}

impl TalkSpurt {
    /// One past the last sample.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(u64::from(self.len))
    }
}

/// A synthetic speaker's microphone signal, defined by its talk schedule and generated on demand.
///
/// # Examples
/// ```
/// use bot_adapter::sim::{TalkSpurt, Voice};
///
/// // 1 s of speech starting 0.5 s in, in an input of 2 s.
/// let v = Voice::new(0, 7, vec![TalkSpurt { start: 8_000, len: 16_000, level: 8_000 }], 32_000);
/// assert_eq!(v.frames(), 100);
/// assert!(v.is_silent(0) && !v.is_silent(25) && v.is_silent(75));
/// let mut f = [0i16; 320];
/// v.fill(30, &mut f);
/// assert!(f.iter().all(|&s| s != 0));
/// ```
#[derive(Clone)]
pub struct Voice {
    seed: u64,
    f0: f64,
    syllable_hz: f64,
    wobble_hz: f64,
    tables: Vec<f32>,
    spurts: Vec<TalkSpurt>,
    samples: u64,
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice")
            .field("f0", &self.f0)
            .field("spurts", &self.spurts.len())
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Voice {
    fn eq(&self, other: &Self) -> bool {
        (self.seed, self.samples, &self.spurts) == (other.seed, other.samples, &other.spurts)
            && self.f0 == other.f0
    }
}

impl Voice {
    /// A voice of `samples` samples that talks during `spurts`.
    ///
    /// `index` picks the pitch (alternating low and high voices over 95–260 Hz, so neighbours in a meeting
    /// sound different); `seed` the rest (exact pitch, syllable rate, wobble, vowels). The spurts are sorted,
    /// overlapping or touching ones merged (the first one's level kept), and everything clipped to the input;
    /// empty spurts are dropped, so any list is accepted.
    pub fn new(index: usize, seed: u64, mut spurts: Vec<TalkSpurt>, samples: u64) -> Voice {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let f0 = 95.0 + ((index * 7) % 12) as f64 * 14.0 + rng.random_range(0.0..8.0);
        let syllable_hz = rng.random_range(3.5..5.0);
        let wobble_hz = rng.random_range(0.3..0.8);
        let mut tables = Vec::with_capacity(TABLE * VOWELS.len());
        for &v in &VOWELS {
            tables.extend(vowel_table(f0, v));
        }
        spurts.sort_by_key(|s| s.start);
        let mut merged: Vec<TalkSpurt> = Vec::with_capacity(spurts.len());
        for s in spurts {
            let end = s.end().min(samples);
            if end <= s.start {
                continue;
            }
            match merged.last_mut() {
                Some(last) if s.start <= last.end() => {
                    let new_end = last.end().max(end);
                    last.len = u32::try_from(new_end - last.start).unwrap_or(u32::MAX);
                }
                _ => merged.push(TalkSpurt {
                    start: s.start,
                    len: u32::try_from(end - s.start).unwrap_or(u32::MAX),
                    level: s.level,
                }),
            }
        }
        merged.shrink_to_fit();
        Voice {
            seed,
            f0,
            syllable_hz,
            wobble_hz,
            tables,
            spurts: merged,
            samples,
        }
    }

    /// The talk schedule: sorted, non-overlapping, inside the input.
    pub fn spurts(&self) -> &[TalkSpurt] {
        &self.spurts
    }

    /// Length of the input in samples.
    pub fn len_samples(&self) -> u64 {
        self.samples
    }

    /// Length of the input in 20 ms frames (the last one zero-padded).
    pub fn frames(&self) -> u64 {
        self.samples.div_ceil(FRAME_SAMPLES as u64)
    }

    /// The fundamental frequency in Hz (before the wobble).
    pub fn pitch_hz(&self) -> f64 {
        self.f0
    }

    /// Index of the first spurt that ends after sample `at`.
    fn first_after(&self, at: u64) -> usize {
        self.spurts.partition_point(|s| s.end() <= at)
    }

    /// True when frame `j` is digital silence (touches no spurt). Cheap: no synthesis.
    pub fn is_silent(&self, j: u64) -> bool {
        let from = j.saturating_mul(FRAME_SAMPLES as u64);
        let to = from.saturating_add(FRAME_SAMPLES as u64);
        self.spurts
            .get(self.first_after(from))
            .is_none_or(|s| s.start >= to)
    }

    /// Writes frame `j` (samples `j·320 .. (j+1)·320`) into `out`: zeros outside the spurts and past the end.
    pub fn fill(&self, j: u64, out: &mut [i16; FRAME_SAMPLES]) {
        out.fill(0);
        let from = j.saturating_mul(FRAME_SAMPLES as u64);
        let to = from.saturating_add(FRAME_SAMPLES as u64);
        let mut i = self.first_after(from);
        while let Some(s) = self.spurts.get(i) {
            if s.start >= to {
                break;
            }
            let a = s.start.max(from);
            let b = s.end().min(to);
            let dst = out.get_mut((a - from) as usize..(b - from) as usize);
            if let Some(dst) = dst {
                self.render(s, a - s.start, dst);
            }
            i += 1;
        }
    }

    /// Renders samples `k0 .. k0 + out.len()` of spurt `s` (offsets from its start).
    fn render(&self, s: &TalkSpurt, k0: u64, out: &mut [i16]) {
        let rate = f64::from(SAMPLE_RATE);
        let sseed = mix(self.seed, s.start);
        // Per-spurt phases of the wobble and of the syllable rhythm.
        let theta0 = unit(sseed) * std::f64::consts::TAU;
        let syl0 = unit(mix(sseed, 1));
        let w = std::f64::consts::TAU * self.wobble_hz;
        let depth = WOBBLE_DEPTH / w;
        // Pitch phase (cycles) at time t from the spurt start: the integral of f0·(1 + d·sin(θ0 + w·t)).
        let phase_at = |t: f64| self.f0 * (t + depth * (theta0.cos() - (theta0 + w * t).cos()));
        let len = u64::from(s.len);
        let amp = f64::from(s.level);
        let syl_step = self.syllable_hz / rate;
        let inv_ramp = 1.0 / RAMP as f64;
        let mut block = u64::MAX;
        let (mut p0, mut dp) = (0.0, 0.0);
        let mut syllable = u64::MAX;
        let mut table: &[f32] = &[];
        for (n, o) in out.iter_mut().enumerate() {
            let k = k0 + n as u64;
            let b = k / BLOCK;
            if b != block {
                block = b;
                p0 = phase_at((b * BLOCK) as f64 / rate);
                dp = (phase_at(((b + 1) * BLOCK) as f64 / rate) - p0) / BLOCK as f64;
            }
            // Both are non-negative (the pitch never falls to zero), so truncation is the floor.
            let phase = p0 + dp * (k - b * BLOCK) as f64;
            let u = syl0 + syl_step * k as f64;
            let syl = u as u64;
            if syl != syllable {
                syllable = syl;
                let vowel = (mix(sseed, 2 + syl) % VOWELS.len() as u64) as usize;
                table = self
                    .tables
                    .get(vowel * TABLE..(vowel + 1) * TABLE)
                    .unwrap_or(&[]);
            }
            let sp = u - syl as f64;
            let env = 0.3 + 2.8 * sp * (1.0 - sp);
            let edge = (k.min(len.saturating_sub(1 + k)) as f64 * inv_ramp).clamp(inv_ramp, 1.0);
            let pos = ((phase - (phase as u64) as f64) * TABLE as f64) as usize & (TABLE - 1);
            let x = table.get(pos).copied().map_or(0.0, f64::from);
            let y = amp * env * edge * x;
            // Round half away from zero (a cast truncates and saturates: no libm call), clamp to i16.
            let v = (y + 0.5f64.copysign(y)) as i32;
            // Keep spurts free of digital zero so only the gaps are DTX.
            *o = if v == 0 {
                1
            } else {
                v.clamp(-32_768, 32_767) as i16
            };
        }
    }
}

/// A uniform value in `[0, 1)` from 53 bits of `x`.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// One period of a vowel at fundamental `f0`, normalised to a peak of 1.
fn vowel_table(f0: f64, (f1, f2): (f64, f64)) -> Vec<f32> {
    let mut t = vec![0f64; TABLE];
    let mut h = 1;
    while (h as f64) * f0 < 3_800.0 {
        let f = h as f64 * f0;
        let res = |fc: f64| 1.0 / (1.0 + ((f - fc) / 120.0).powi(2));
        let a = (res(f1) + 0.7 * res(f2) + 0.05) / h as f64;
        for (k, v) in t.iter_mut().enumerate() {
            *v += a * (std::f64::consts::TAU * h as f64 * k as f64 / TABLE as f64).sin();
        }
        h += 1;
    }
    let peak = t.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-9);
    t.iter().map(|v| (v / peak) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spurt(start: u64, len: u32) -> TalkSpurt {
        TalkSpurt {
            start,
            len,
            level: 7_000,
        }
    }

    #[test]
    fn frames_are_random_access_and_silent_exactly_outside_spurts() {
        let v = Voice::new(
            3,
            9,
            vec![spurt(1_000, 20_000), spurt(40_000, 3_000)],
            64_000,
        );
        let mut a = [0i16; FRAME_SAMPLES];
        let mut b = [0i16; FRAME_SAMPLES];
        let mut all = Vec::new();
        for j in 0..v.frames() {
            v.fill(j, &mut a);
            assert_eq!(v.is_silent(j), a.iter().all(|&s| s == 0), "frame {j}");
            all.extend_from_slice(&a);
        }
        // Out of order, frame by frame: the same samples.
        for j in (0..v.frames()).rev() {
            v.fill(j, &mut b);
            let at = j as usize * FRAME_SAMPLES;
            assert_eq!(&all[at..at + FRAME_SAMPLES], &b[..]);
        }
        for (n, &s) in all.iter().enumerate() {
            let n = n as u64;
            let inside = (1_000..21_000).contains(&n) || (40_000..43_000).contains(&n);
            assert_eq!(s != 0, inside, "sample {n}");
        }
        // A voiced, vowel-like signal: loud in the middle, quiet at the ramps.
        let peak = all[5_000..15_000]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!((4_000..=7_000).contains(&peak), "{peak}");
        assert!(all[1_000].unsigned_abs() < 100);
    }

    #[test]
    fn spurts_are_sorted_merged_and_clipped() {
        let v = Voice::new(
            0,
            1,
            vec![
                spurt(900, 200),
                spurt(100, 500),
                spurt(500, 300),
                spurt(2_000, 500),
                spurt(5_000, 10),
            ],
            2_200,
        );
        assert_eq!(
            v.spurts(),
            &[spurt(100, 700), spurt(900, 200), spurt(2_000, 200)]
        );
    }

    #[test]
    fn pitch_follows_the_index_and_the_seed_changes_the_voice() {
        let s = vec![spurt(0, 16_000)];
        let low = Voice::new(0, 1, s.clone(), 16_000);
        let high = Voice::new(1, 1, s.clone(), 16_000);
        assert!(high.pitch_hz() > low.pitch_hz() + 50.0);
        let other = Voice::new(0, 2, s, 16_000);
        let (mut a, mut b) = ([0i16; FRAME_SAMPLES], [0i16; FRAME_SAMPLES]);
        low.fill(10, &mut a);
        other.fill(10, &mut b);
        assert_ne!(a, b);
    }
}

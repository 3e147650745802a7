//! Synthetic speakers: an embedded default meeting that needs no input files (`verbatim record --simulate`).
//!
//! Each speaker has its own pitch and voice: a harmonic, vowel-like tone (harmonics of its fundamental shaped by
//! two formants, switching vowel every syllable), a syllable envelope at 3.5–5 Hz and a slow pitch wobble. It
//! talks in spurts of 0.8–3.5 s separated by 0.4–5 s of digital-zero silence (not sent: DTX), about 45 % of the
//! time, so speakers often overlap. Everything is seeded: the same `(n, duration, seed)` gives the same samples.

use std::sync::Arc;

use media_core::{MediaTime, Msi};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{mix, SimParticipant, SAMPLE_RATE};

const NAMES: [&str; 20] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "zoe",
];

/// (F1, F2) formant pairs in Hz: a, e, i, o, u.
const VOWELS: [(f64, f64); 5] = [
    (800.0, 1200.0),
    (500.0, 1900.0),
    (300.0, 2300.0),
    (500.0, 900.0),
    (350.0, 800.0),
];
const TABLE: usize = 2048;

/// `n` synthetic participants talking for `duration`, all joined at 0 and present until the call ends.
///
/// Names are alice, bob, carol, dave, erin, … (then `speaker21`, …); every fifth participant (erin, judy, …) is
/// a guest. Ids look like AAD object ids (guests: `guest:<name>`), MSIs are seeded, distinct and never
/// `Msi::NONE`. Speaker `i` starts talking about `1.5·i` s into the call, so the first seconds introduce the
/// voices one by one.
///
/// # Examples
/// ```
/// use bot_adapter::sim::synthetic;
/// use media_core::MediaTime;
///
/// let ps = synthetic::participants(5, MediaTime::from_secs(10), 7);
/// assert_eq!(ps[4].name, "erin");
/// assert!(ps[4].is_guest);
/// assert_eq!(ps[0].audio.len(), 160_000);
/// assert!(ps[0].audio.iter().any(|&s| s == 0) && ps[0].audio.iter().any(|&s| s != 0));
/// ```
pub fn participants(n: usize, duration: MediaTime, seed: u64) -> Vec<SimParticipant> {
    let samples = duration.to_samples(SAMPLE_RATE).max(0) as usize;
    let mut meta = ChaCha8Rng::seed_from_u64(mix(seed, 0x5157));
    let mut msis: Vec<Msi> = Vec::with_capacity(n);
    (0..n)
        .map(|i| {
            let name = NAMES
                .get(i)
                .map_or_else(|| format!("speaker{}", i + 1), |s| s.to_string());
            let mut display_name = name.clone();
            if let Some(first) = display_name.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            let is_guest = i % 5 == 4;
            let id = if is_guest {
                format!("guest:{name}")
            } else {
                let h = mix(seed, i as u64);
                format!(
                    "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    h >> 32,
                    (h >> 16) & 0xFFFF,
                    h & 0xFFF,
                    (h >> 20) & 0xFFF,
                    mix(h, 1) & 0xFFFF_FFFF_FFFF
                )
            };
            let msi = loop {
                let m = Msi(meta.random_range(1_000..0xFFFF_0000));
                if !msis.contains(&m) {
                    break m;
                }
            };
            msis.push(msi);
            let audio = voice(i, samples, mix(seed, 0xA0D10 + i as u64));
            SimParticipant {
                name,
                id,
                display_name,
                msi,
                audio: Arc::from(audio),
                video: None,
                join_at: MediaTime::ZERO,
                leave_at: None,
                is_guest,
            }
        })
        .collect()
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

fn voice(index: usize, samples: usize, seed: u64) -> Vec<i16> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rate = SAMPLE_RATE as f64;
    // Alternate low and high voices, spread over 95–260 Hz.
    let f0 = 95.0 + ((index * 7) % 12) as f64 * 14.0 + rng.random_range(0.0..8.0);
    let tables: Vec<Vec<f32>> = VOWELS.iter().map(|&v| vowel_table(f0, v)).collect();
    let syllable_hz: f64 = rng.random_range(3.5..5.0);
    let wobble_hz: f64 = rng.random_range(0.3..0.8);
    let mut out = vec![0i16; samples];
    let ramp = 160usize;
    let mut t = ((1.5 * index as f64 + rng.random_range(0.0..1.0)) * rate) as usize;
    let mut phase = 0f64;
    while t < samples {
        let len = (rng.random_range(0.8..3.5) * rate) as usize;
        let gap = (rng.random_range(0.4..5.0) * rate) as usize;
        let amp: f64 = rng.random_range(4_000.0..10_000.0);
        let end = (t + len).min(samples);
        let mut vowel = rng.random_range(0..VOWELS.len());
        let mut syl_phase = 0f64;
        let mut step = 0.0;
        for (k, s) in out[t..end].iter_mut().enumerate() {
            if k % 160 == 0 {
                // The pitch wobbles slowly: update it every 10 ms.
                let time = (t + k) as f64 / rate;
                step = f0 * (1.0 + 0.04 * (std::f64::consts::TAU * wobble_hz * time).sin()) / rate;
            }
            phase = (phase + step).fract();
            syl_phase += syllable_hz / rate;
            if syl_phase >= 1.0 {
                syl_phase -= 1.0;
                vowel = (vowel + 1 + rng.random_range(0..VOWELS.len() - 1)) % VOWELS.len();
            }
            // Syllable envelope 0.3..1 (never zero inside a spurt), linear ramps at the spurt's edges.
            let env = 0.3 + 0.7 * 4.0 * syl_phase * (1.0 - syl_phase);
            let edge = (k.min(end - t - 1 - k) as f64 / ramp as f64).min(1.0);
            let table = &tables[vowel];
            let x = table[((phase * TABLE as f64) as usize) % TABLE] as f64;
            let v = (amp * env * edge.max(1.0 / ramp as f64) * x).round();
            // Keep spurts free of digital zero so only the gaps are DTX.
            *s = if v == 0.0 {
                1
            } else {
                v.clamp(-32_768.0, 32_767.0) as i16
            };
        }
        t = end + gap;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakers_are_distinct_deterministic_and_overlap() {
        let a = participants(6, MediaTime::from_secs(30), 1);
        let b = participants(6, MediaTime::from_secs(30), 1);
        let names: Vec<_> = a.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol", "dave", "erin", "frank"]);
        assert_eq!(a[1].display_name, "Bob");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.audio, y.audio);
            assert_eq!(x.msi, y.msi);
            assert_eq!(x.id, y.id);
        }
        let mut msis: Vec<_> = a.iter().map(|p| p.msi).collect();
        msis.sort();
        msis.dedup();
        assert_eq!(msis.len(), 6);
        // Per 20 ms frame: how many speakers talk at once.
        let frames = a[0].audio.len() / 320;
        let mut overlap = 0;
        for f in 0..frames {
            let talking = a
                .iter()
                .filter(|p| p.audio[f * 320..(f + 1) * 320].iter().any(|&s| s != 0))
                .count();
            if talking >= 2 {
                overlap += 1;
            }
        }
        assert!(overlap > frames / 10, "{overlap} of {frames}");
        let other_seed = participants(1, MediaTime::from_secs(30), 2);
        assert_ne!(other_seed[0].audio, a[0].audio);
    }
}

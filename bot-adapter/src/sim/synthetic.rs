//! Synthetic speakers: an embedded default meeting that needs no input files (`verbatim record --simulate`).
//!
//! Each speaker is a [`Voice`]: its own pitch, a harmonic, vowel-like tone (harmonics of its fundamental shaped
//! by two formants, switching vowel every syllable), a syllable envelope at 3.5–5 Hz and a slow pitch wobble.
//! It talks in spurts of 0.8–3.5 s separated by 0.4–5 s of digital-zero silence (not sent: DTX), about 45 % of
//! the time, so speakers often overlap. Only the talk schedule is stored; samples are generated one frame at a
//! time as the simulator sends them. Everything is seeded: the same `(n, duration, seed)` gives the same
//! samples. Realistic meetings (turn-taking, long silences, re-joins…) are [`meeting`](super::meeting)'s.

use media_core::{MediaTime, Msi};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::voice::{TalkSpurt, Voice};
use super::{mix, SimParticipant, SAMPLE_RATE};

const NAMES: [&str; 20] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "zoe",
];

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
/// assert_eq!(ps[0].audio.len_samples(), 160_000);
/// let pcm = ps[0].audio.to_pcm();
/// assert!(pcm.iter().any(|&s| s == 0) && pcm.iter().any(|&s| s != 0));
/// ```
pub fn participants(n: usize, duration: MediaTime, seed: u64) -> Vec<SimParticipant> {
    let samples = duration.to_samples(SAMPLE_RATE).max(0) as u64;
    let mut meta = ChaCha8Rng::seed_from_u64(mix(seed, 0x5157));
    let mut msis: Vec<Msi> = Vec::with_capacity(n);
    (0..n)
        .map(|i| {
            let who = identity(i, seed);
            let msi = loop {
                let m = Msi(meta.random_range(1_000..0xFFFF_0000));
                if !msis.contains(&m) {
                    break m;
                }
            };
            msis.push(msi);
            let vseed = mix(seed, 0xA0D10 + i as u64);
            let spurts = chatter(i, samples, vseed);
            SimParticipant {
                is_guest: who.is_guest,
                id: who.id,
                display_name: who.display_name,
                ..SimParticipant::new(who.name, msi, Voice::new(i, vseed, spurts, samples))
            }
        })
        .collect()
}

/// Who participant `i` of a synthetic meeting is.
pub(crate) struct Identity {
    pub name: String,
    pub id: String,
    pub display_name: String,
    pub is_guest: bool,
}

/// Name, id and guest status of synthetic participant `i` (the same in every synthetic meeting with `seed`).
pub(crate) fn identity(i: usize, seed: u64) -> Identity {
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
    Identity {
        name,
        id,
        display_name,
        is_guest,
    }
}

/// The default chatter: spurts of 0.8–3.5 s, gaps of 0.4–5 s, starting about `1.5·index` s in.
fn chatter(index: usize, samples: u64, seed: u64) -> Vec<TalkSpurt> {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 0xC4A7));
    let rate = f64::from(SAMPLE_RATE);
    let mut out = Vec::new();
    let mut t = ((1.5 * index as f64 + rng.random_range(0.0..1.0)) * rate) as u64;
    while t < samples {
        let len = (rng.random_range(0.8..3.5) * rate) as u32;
        let gap = (rng.random_range(0.4..5.0) * rate) as u64;
        let level = rng.random_range(4_000..10_000);
        out.push(TalkSpurt {
            start: t,
            len,
            level,
        });
        t += u64::from(len) + gap;
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
            assert_eq!(x.audio.to_pcm(), y.audio.to_pcm());
            assert_eq!(x.msi, y.msi);
            assert_eq!(x.id, y.id);
        }
        let mut msis: Vec<_> = a.iter().map(|p| p.msi).collect();
        msis.sort();
        msis.dedup();
        assert_eq!(msis.len(), 6);
        // Per 20 ms frame: how many speakers talk at once, and about 45 % talk time each.
        let frames = a[0].audio.frames();
        let mut overlap = 0;
        for f in 0..frames {
            let talking = a.iter().filter(|p| !p.audio.is_silent(f)).count();
            if talking >= 2 {
                overlap += 1;
            }
        }
        assert!(overlap > frames / 10, "{overlap} of {frames}");
        let talk = (0..frames).filter(|&f| !a[0].audio.is_silent(f)).count() as f64;
        assert!((0.25..0.65).contains(&(talk / frames as f64)), "{talk}");
        let other_seed = participants(1, MediaTime::from_secs(30), 2);
        assert_ne!(other_seed[0].audio.to_pcm(), a[0].audio.to_pcm());
    }
}

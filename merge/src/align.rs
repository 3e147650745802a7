//! Aligning legs by content: every leg holds the same sender PCM for the frames it received, placed on its
//! own timeline (its own platform clock epoch, its own anchoring of each sender). The offset between two legs
//! is found where their samples are equal.
//!
//! Content-defined anchors: a 64-sample window whose rolling hash has its top 5 bits clear (about one
//! position in 32, chosen by the samples, so both legs pick the same positions of the same content). The
//! reference holds a sorted index of its anchors; each anchor of the leg being aligned looks its hash up and
//! votes for `reference position − leg position`. A segment's offset is its vote's mode, near the offset
//! found so far; windows of one repeated value (digital silence) are never anchors.

use std::collections::HashMap;

use crate::spans::Span;

/// Samples per anchor window (4 ms at 16 kHz).
pub const WINDOW: usize = 64;
/// Multiplier of the rolling hash (odd).
const BASE: u64 = 0x0000_0100_0000_01B3;
/// An anchor is a position whose mixed hash has these many top bits clear (1 in 2^5).
const ANCHOR_SHIFT: u32 = 64 - 5;

fn value(s: i16) -> u64 {
    u64::from(s as u16) + 1
}

fn is_anchor(h: u64) -> bool {
    h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> ANCHOR_SHIFT == 0
}

/// Calls `f(position, hash)` for every anchor whose whole window lies inside one of `held`.
pub(crate) fn for_each_anchor(samples: &[i16], held: &[Span], mut f: impl FnMut(u64, u64)) {
    let mut pow: u64 = 1;
    for _ in 1..WINDOW {
        pow = pow.wrapping_mul(BASE);
    }
    for &(s, e) in held {
        let e = e.min(samples.len() as u64) as usize;
        let s = s as usize;
        if e < s + WINDOW {
            continue;
        }
        let mut h: u64 = 0;
        for &x in &samples[s..s + WINDOW] {
            h = h.wrapping_mul(BASE).wrapping_add(value(x));
        }
        let mut p = s;
        loop {
            if is_anchor(h) {
                let w = &samples[p..p + WINDOW];
                if w.iter().any(|&x| x != w[0]) {
                    f(p as u64, h);
                }
            }
            if p + WINDOW >= e {
                break;
            }
            h = h
                .wrapping_sub(value(samples[p]).wrapping_mul(pow))
                .wrapping_mul(BASE)
                .wrapping_add(value(samples[p + WINDOW]));
            p += 1;
        }
    }
}

/// The anchors of content already placed on the merged timeline: `(hash, merged position)`, sorted.
#[derive(Debug, Default)]
pub(crate) struct Index {
    entries: Vec<(u64, i64)>,
    sorted: bool,
}

impl Index {
    /// Adds the anchors of `samples` inside `held`, placed at `position + offset`.
    pub(crate) fn add(&mut self, samples: &[i16], held: &[Span], offset: i64) {
        for_each_anchor(samples, held, |p, h| {
            self.entries.push((h, (p as i64).saturating_add(offset)));
        });
        self.sorted = false;
    }

    /// Sorts the index (after adding, before looking up).
    pub(crate) fn seal(&mut self) {
        if !self.sorted {
            self.entries.sort_unstable();
            self.entries.dedup();
            self.sorted = true;
        }
    }

    fn lookup(&self, h: u64) -> &[(u64, i64)] {
        let lo = self.entries.partition_point(|e| e.0 < h);
        let hi = self.entries.partition_point(|e| e.0 <= h);
        &self.entries[lo..hi]
    }

    /// Votes for `merged position − position` from the anchors of `samples` inside `held`, counting only
    /// offsets within `radius` of `center` when given.
    pub(crate) fn votes(
        &self,
        samples: &[i16],
        held: &[Span],
        near: Option<(i64, i64)>,
        votes: &mut HashMap<i64, u32>,
    ) {
        for_each_anchor(samples, held, |p, h| {
            for &(_, q) in self.lookup(h) {
                let off = q - p as i64;
                if near.is_none_or(|(c, r)| (off - c).abs() <= r) {
                    *votes.entry(off).or_insert(0) += 1;
                }
            }
        });
    }
}

/// The winning offset of `votes`: the most votes, ties to the one nearest `prefer`; `None` below
/// `min_votes` or when the runner-up (more than 2 samples away) has more than half as many.
pub(crate) fn decide(votes: &HashMap<i64, u32>, prefer: i64, min_votes: u32) -> Option<(i64, u32)> {
    let mut best: Option<(i64, u32)> = None;
    for (&off, &n) in votes {
        let better = match best {
            None => true,
            Some((b, bn)) => n > bn || (n == bn && (off - prefer).abs() < (b - prefer).abs()),
        };
        if better {
            best = Some((off, n));
        }
    }
    let (off, n) = best?;
    if n < min_votes {
        return None;
    }
    let runner = votes
        .iter()
        .filter(|(&o, _)| (o - off).abs() > 2)
        .map(|(_, &c)| c)
        .max()
        .unwrap_or(0);
    (u64::from(runner) * 2 <= u64::from(n)).then_some((off, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<i16> {
        crate::test_noise(n, seed, 48, false)
    }

    #[test]
    fn finds_the_offset_of_shifted_content_with_losses() {
        let a = noise(160_000, 7);
        // The same content 12_345 samples later, with a hole where this leg lost 2 frames.
        let mut b = vec![0i16; 12_345];
        b.extend_from_slice(&a);
        for v in &mut b[50_000..50_640] {
            *v = 0;
        }
        let mut idx = Index::default();
        idx.add(&a, &[(0, a.len() as u64)], 0);
        idx.seal();
        let mut votes = HashMap::new();
        idx.votes(
            &b,
            &[(12_345, 50_000), (50_640, b.len() as u64)],
            None,
            &mut votes,
        );
        let (off, n) = decide(&votes, 0, 8).unwrap();
        assert_eq!(off, -12_345);
        assert!(n > 1000, "{n} votes");
    }

    #[test]
    fn silence_and_unrelated_content_give_no_offset() {
        let a = noise(64_000, 3);
        let mut idx = Index::default();
        idx.add(&a, &[(0, a.len() as u64)], 0);
        let zeros = vec![0i16; 64_000];
        idx.add(&zeros, &[(0, 64_000)], 0);
        idx.seal();
        let mut votes = HashMap::new();
        idx.votes(&noise(64_000, 99), &[(0, 64_000)], None, &mut votes);
        idx.votes(&zeros, &[(0, 64_000)], None, &mut votes);
        assert_eq!(decide(&votes, 0, 8), None);
    }
}

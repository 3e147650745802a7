//! One participant's audio merged from every leg that holds it: alignment of each stretch a leg holds
//! without a hole onto the merged timeline (a recorder corrects its placement of a sender in any silence,
//! each leg its own way, so every such run is placed on its own), then the choice of the leg each sample
//! comes from.
//!
//! **The rule.** The merged timeline is cut into *segments*: stretches some leg holds, joined across holes
//! shorter than [`SILENCE`] (a loss inside speech is not a silence). In each segment the leg holding the most
//! samples is preferred (ties to the leg given first). Every sample the preferred leg holds comes from it;
//! a sample it lacks comes from the next leg in that order that holds it; a sample no leg holds is a gap
//! of the merged ledger. So legs change only at silences, except to fill a hole of the preferred leg, and a
//! sample both legs hold with different values is taken from the preferred leg, never averaged, and counted
//! as a disagreement.

use std::collections::HashMap;

use crate::align::{decide, Index};
use crate::spans::{self, Span};

/// Shortest hole that separates two segments: 200 ms at 16 kHz.
pub const SILENCE: u64 = 3_200;
/// How far a segment's offset may move from the previous one of the same leg (1 s at 16 kHz).
const RADIUS: i64 = 16_000;
/// How far a participant's offset may lie from its leg's (10 s at 16 kHz).
const PARTICIPANT_RADIUS: i64 = 160_000;
/// Votes a segment's offset needs (else it keeps the previous one).
const MIN_VOTES: u32 = 3;
/// Samples per 20 ms frame at 16 kHz (disagreements are counted in these frames).
pub const FRAME: u64 = 320;

/// One leg's copy of the participant.
pub(crate) struct LegAudio {
    /// Index of the source folder.
    pub source: usize,
    pub samples: Vec<i16>,
    /// What it holds (source positions).
    pub held: Vec<Span>,
}

/// A stretch of one leg placed on the merged timeline (before the final shift): `merged = source + offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub leg: usize,
    pub span: Span,
    pub offset: i64,
    /// The offset came from votes (else carried over from the previous segment or the leg's global offset).
    pub voted: bool,
}

/// Places every segment of every leg (in order) onto the merged timeline. `global[k]` is leg `k`'s offset
/// for the whole call (0 for the reference).
pub(crate) fn align(legs: &[LegAudio], global: &[i64]) -> Vec<Piece> {
    let mut index = Index::default();
    let mut pieces = Vec::new();
    for (k, leg) in legs.iter().enumerate() {
        let mut last = global.get(k).copied().unwrap_or(0);
        if k > 0 {
            // This participant's own offset on this leg (near the leg's), before run by run.
            let mut votes = HashMap::new();
            index.votes(
                &leg.samples,
                &leg.held,
                Some((last, PARTICIPANT_RADIUS)),
                &mut votes,
            );
            if let Some((off, _)) = decide(&votes, last, MIN_VOTES) {
                last = off;
            }
        }
        // Run by run: a recorder corrects its placement of a sender in any silence, however short, and
        // two legs correct differently, so every stretch a leg holds without a hole is placed on its own.
        let first_piece = pieces.len();
        for &run in &leg.held {
            let found = if k == 0 {
                Some((last, 0))
            } else {
                let mut votes = HashMap::new();
                index.votes(&leg.samples, &[run], Some((last, RADIUS)), &mut votes);
                decide(&votes, last, MIN_VOTES)
            };
            if let Some((off, _)) = found {
                last = off;
            }
            pieces.push(Piece {
                leg: k,
                span: run,
                offset: last,
                voted: found.is_some(),
            });
        }
        // A run without votes (too short for an anchor, or no earlier leg holds it) takes the offset of a
        // neighbouring run that had some: the one whose placement makes its samples equal to an earlier
        // leg's there, else the nearer one.
        let (earlier, mine) = pieces.split_at_mut(first_piece);
        let decided: Vec<(Span, i64)> = mine
            .iter()
            .filter(|p| p.voted)
            .map(|p| (p.span, p.offset))
            .collect();
        for p in mine.iter_mut().filter(|p| !p.voted) {
            let at = decided.partition_point(|d| d.0 .0 < p.span.0);
            let before = at.checked_sub(1).and_then(|i| decided.get(i));
            let after = decided.get(at);
            let fits = |off: i64| agrees(legs, earlier, &leg.samples, p.span, off);
            p.offset = match (before, after) {
                (Some(b), Some(a)) => match (fits(b.1), fits(a.1)) {
                    (true, false) => b.1,
                    (false, true) => a.1,
                    _ if a.0 .0 - p.span.1 < p.span.0.saturating_sub(b.0 .1) => a.1,
                    _ => b.1,
                },
                (Some(b), None) => b.1,
                (None, Some(a)) => a.1,
                (None, None) => p.offset,
            };
        }
        for p in pieces[first_piece..].iter().filter(|p| p.voted) {
            index.add(&leg.samples, &[p.span], p.offset);
        }
        index.seal();
    }
    pieces
}

/// True when `run` of a leg placed at `offset` has the samples earlier legs hold there (up to its first 64
/// samples), and an earlier leg holds at least one of them.
fn agrees(legs: &[LegAudio], earlier: &[Piece], samples: &[i16], run: Span, offset: i64) -> bool {
    let mut compared = 0;
    for i in run.0..run.1.min(run.0 + 64) {
        let m = i as i64 + offset;
        let other = earlier.iter().find_map(|q| {
            let (s, e) = (q.span.0 as i64 + q.offset, q.span.1 as i64 + q.offset);
            (s <= m && m < e)
                .then(|| {
                    legs.get(q.leg)?
                        .samples
                        .get((m - q.offset) as usize)
                        .copied()
                })
                .flatten()
        });
        if let Some(x) = other {
            if samples.get(i as usize) != Some(&x) {
                return false;
            }
            compared += 1;
        }
    }
    compared > 0
}

/// A stretch of the merged stem and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProvSpan {
    /// First merged sample.
    pub start: u64,
    /// Samples.
    pub len: u64,
    /// Index of the source folder (in the provenance's `sources`).
    pub source: usize,
    /// First sample in the source's stem.
    pub source_start: u64,
}

/// What the merge of one participant gave.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chosen {
    pub spans: Vec<ProvSpan>,
    /// Held by the chosen leg and another with different samples: 20 ms frames and samples.
    pub disagreeing_frames: u64,
    pub disagreeing_samples: u64,
    /// Samples held by two or more legs (compared).
    pub compared_samples: u64,
}

/// A leg's held stretch on the merged timeline: `[start, end)` and the offset back to the leg.
type Mapped = (u64, u64, i64);

/// Chooses, for every merged sample some leg holds, the leg it comes from (see the module docs), and
/// counts where legs that both hold a sample disagree. `pieces` already shifted (merged positions ≥ 0).
pub(crate) fn choose(legs: &[LegAudio], pieces: &[Piece], shift: i64) -> Chosen {
    // Each leg's held samples on the merged timeline.
    let mut mapped: Vec<Vec<Mapped>> = vec![Vec::new(); legs.len()];
    for p in pieces {
        let Some(leg) = legs.get(p.leg) else { continue };
        let off = p.offset + shift;
        for (s, e) in spans::intersect(&leg.held, &[p.span]) {
            let (ms, me) = (
                (s as i64 + off).max(0) as u64,
                (e as i64 + off).max(0) as u64,
            );
            if ms < me {
                mapped[p.leg].push((ms, me, off));
            }
        }
    }
    for m in &mut mapped {
        m.sort_unstable();
    }
    let union = spans::normalize(mapped.iter().flatten().map(|m| (m.0, m.1)).collect());
    let mut out = Chosen::default();
    let mut cursors = vec![0usize; legs.len()];
    for seg in spans::bridge(&union, SILENCE) {
        // Preference: most samples held in the segment, ties to the earlier leg.
        let mut order: Vec<(u64, usize)> = mapped
            .iter()
            .enumerate()
            .map(|(k, m)| {
                let held: u64 = m
                    .iter()
                    .map(|&(s, e, _)| e.min(seg.1).saturating_sub(s.max(seg.0)))
                    .sum();
                (held, k)
            })
            .collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut cuts: Vec<u64> = vec![seg.0, seg.1];
        for m in &mapped {
            for &(s, e, _) in m.iter().filter(|m| m.1 > seg.0 && m.0 < seg.1) {
                cuts.push(s.clamp(seg.0, seg.1));
                cuts.push(e.clamp(seg.0, seg.1));
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let holders: Vec<(usize, i64)> = order
                .iter()
                .filter(|&&(n, _)| n > 0)
                .filter_map(|&(_, k)| {
                    covering(&mapped[k], &mut cursors[k], a, b).map(|off| (k, off))
                })
                .collect();
            let Some(&(k, off)) = holders.first() else {
                continue;
            };
            let src_start = (a as i64 - off) as u64;
            push_span(&mut out.spans, a, b - a, legs[k].source, src_start);
            let chosen = slice(&legs[k].samples, src_start, b - a);
            for &(k2, off2) in &holders[1..] {
                let other = slice(&legs[k2].samples, (a as i64 - off2) as u64, b - a);
                out.compared_samples += b - a;
                let mut last_frame = u64::MAX;
                for (i, (x, y)) in chosen.iter().zip(other).enumerate() {
                    if x != y {
                        out.disagreeing_samples += 1;
                        let frame = (a + i as u64) / FRAME;
                        if frame != last_frame {
                            out.disagreeing_frames += 1;
                            last_frame = frame;
                        }
                    }
                }
            }
        }
    }
    out
}

/// The offset of the leg's stretch that holds all of `[a, b)`, if one does (`cursor` only moves forward:
/// calls come in increasing `a`).
fn covering(m: &[Mapped], cursor: &mut usize, a: u64, b: u64) -> Option<i64> {
    while m.get(*cursor).is_some_and(|x| x.1 <= a) {
        *cursor += 1;
    }
    m[*cursor..]
        .iter()
        .take_while(|x| x.0 <= a)
        .find(|x| x.0 <= a && x.1 >= b)
        .map(|x| x.2)
}

fn slice(samples: &[i16], start: u64, len: u64) -> &[i16] {
    let s = (start as usize).min(samples.len());
    let e = (start.saturating_add(len) as usize).min(samples.len());
    &samples[s..e]
}

fn push_span(spans: &mut Vec<ProvSpan>, start: u64, len: u64, source: usize, source_start: u64) {
    if let Some(last) = spans.last_mut() {
        if last.source == source
            && last.start + last.len == start
            && last.source_start + last.len == source_start
        {
            last.len += len;
            return;
        }
    }
    spans.push(ProvSpan {
        start,
        len,
        source,
        source_start,
    });
}

/// The merged stem: zeros, then every chosen span copied from its leg.
pub(crate) fn render(legs: &[LegAudio], chosen: &[ProvSpan], len: u64) -> Vec<i16> {
    let mut out = vec![0i16; len as usize];
    for s in chosen {
        let Some(leg) = legs.iter().find(|l| l.source == s.source) else {
            continue;
        };
        let src = slice(&leg.samples, s.source_start, s.len);
        let a = (s.start as usize).min(out.len());
        let b = (a + src.len()).min(out.len());
        out[a..b].copy_from_slice(&src[..b - a]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech(n: usize, seed: u64) -> Vec<i16> {
        crate::test_noise(n, seed, 50, true)
    }

    /// Two legs of 4 s of speech, the second 1000 samples later on its own timeline; each lost different
    /// frames and both lost one. Every sample either leg holds lands once, from the right place.
    #[test]
    fn fills_each_legs_losses_from_the_other() {
        let truth = speech(64_000, 5);
        let mut a = truth.clone();
        let mut held_a = vec![(0u64, 64_000u64)];
        let mut b = vec![0i16; 1000];
        b.extend_from_slice(&truth);
        let mut held_b = vec![(1000u64, 65_000u64)];
        let lose = |v: &mut Vec<i16>, h: &mut Vec<Span>, s: u64| {
            for x in &mut v[s as usize..(s + FRAME) as usize] {
                *x = 0;
            }
            *h = spans::subtract(h, &[(s, s + FRAME)]);
        };
        lose(&mut a, &mut held_a, 3200);
        lose(&mut a, &mut held_a, 32_000);
        lose(&mut b, &mut held_b, 1000 + 6400);
        lose(&mut b, &mut held_b, 1000 + 32_000);
        let legs = vec![
            LegAudio {
                source: 0,
                samples: a,
                held: held_a,
            },
            LegAudio {
                source: 1,
                samples: b,
                held: held_b,
            },
        ];
        let pieces = align(&legs, &[0, -1000]);
        assert!(pieces
            .iter()
            .all(|p| p.offset == if p.leg == 0 { 0 } else { -1000 }));
        let chosen = choose(&legs, &pieces, 0);
        assert_eq!(chosen.disagreeing_samples, 0);
        let merged = render(&legs, &chosen.spans, 64_000);
        for (i, (m, t)) in merged.iter().zip(&truth).enumerate() {
            let both_lost = (32_000..32_320).contains(&i);
            assert_eq!(*m, if both_lost { 0 } else { *t }, "sample {i}");
        }
        // Leg 1 (more held) is preferred; leg 2 fills exactly leg 1's first loss.
        let from_b: Vec<_> = chosen.spans.iter().filter(|s| s.source == 1).collect();
        assert_eq!(from_b.len(), 1);
        assert_eq!(
            (from_b[0].start, from_b[0].len, from_b[0].source_start),
            (3200, 320, 4200)
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A leg: each talk spurt of the truth placed at `offset + shift` of that spurt (a recorder corrects its
    /// placement of a sender in silences, each leg its own way), minus the truth's frames it lost.
    fn leg(
        truth: &[i16],
        speech: &[Span],
        offset: u64,
        shifts: &[i64],
        lost: &[u64],
        source: usize,
    ) -> LegAudio {
        let mut samples = vec![0i16; truth.len() + offset as usize + 1_000];
        let mut held = Vec::new();
        for (k, &(s, e)) in speech.iter().enumerate() {
            let at =
                |i: u64| (i as i64 + offset as i64 + shifts.get(k).copied().unwrap_or(0)) as u64;
            let mut run: Option<u64> = None;
            for i in s..e {
                let kept = !lost.contains(&(i / FRAME));
                if kept {
                    samples[at(i) as usize] = truth[i as usize];
                    run.get_or_insert(at(i));
                } else if let Some(r) = run.take() {
                    held.push((r, at(i)));
                }
            }
            if let Some(r) = run {
                held.push((r, at(e)));
            }
        }
        LegAudio {
            source,
            samples,
            held: spans::normalize(held),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        /// Two legs of the same speech, each at its own offset, placing each talk spurt with its own
        /// correction (silences as short as 25 ms between spurts), each with its own lost frames: every
        /// sample either leg holds lands exactly once at its true place, a sample is missing only where both
        /// lost it, legs never "disagree" (they hold the same PCM), and spans never overlap.
        #[test]
        fn every_held_sample_lands_once(
            seed in any::<u64>(),
            off_b in 500u64..20_000,
            spurts in proptest::collection::vec((400u64..40_000, 4_000u64..48_000, -480i64..480), 2..7),
            lost_a in proptest::collection::vec(0u64..1_000, 0..40),
            lost_b in proptest::collection::vec(0u64..1_000, 0..40),
        ) {
            let mut speech = Vec::new();
            let mut shifts = Vec::new();
            let mut at = 1_600u64;
            for &(gap, len, shift) in &spurts {
                at += gap;
                speech.push((at, at + len));
                shifts.push(shift);
                at += len;
            }
            // Each leg keeps its spurts in order, and every stretch leg B holds shares a frame with leg A
            // (a stretch only B holds is placed by its neighbours: no content says otherwise).
            for (k, w) in speech.windows(2).enumerate() {
                prop_assume!(w[1].0 as i64 + shifts[k + 1] > w[0].1 as i64 + shifts[k] + 64);
            }
            prop_assume!(!lost_a.iter().any(|f| lost_a.contains(&(f + 1)) || lost_b.iter().any(|g| g.abs_diff(*f) <= 1)));
            let total = at + 3_200;
            let truth = crate::test_noise(total as usize, seed, 49, true);
            let legs = vec![
                leg(&truth, &speech, 0, &[], &lost_a, 0),
                leg(&truth, &speech, off_b, &shifts, &lost_b, 1),
            ];
            let pieces = align(&legs, &[0, -(off_b as i64)]);
            let chosen = choose(&legs, &pieces, 0);
            prop_assert_eq!(chosen.disagreeing_samples, 0);
            let merged = render(&legs, &chosen.spans, total);
            let mut end = 0;
            for s in &chosen.spans {
                prop_assert!(s.start >= end, "spans overlap");
                end = s.start + s.len;
            }
            for i in 0..total {
                let in_speech = speech.iter().any(|&(s, e)| s <= i && i < e);
                // Lost frames are numbered on the truth's timeline.
                let lost_in_both = lost_a.contains(&(i / FRAME)) && lost_b.contains(&(i / FRAME));
                let want = if in_speech && !lost_in_both { truth[i as usize] } else { 0 };
                prop_assert_eq!(merged[i as usize], want, "sample {}", i);
            }
        }
    }
}

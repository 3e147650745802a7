//! Lending ticks in place (the ring's blocks handed over whole) writes exactly the stream that pulling
//! copies would: same samples at the same positions, same counters, whatever the arrivals and however the
//! recorder switches between lending and pulling.

mod common;

use common::pcm_frame;
use media_core::track::{AudioTrack, TrackConfig};
use media_core::{AudioFrame, MediaTime};
use proptest::prelude::*;

const F: i64 = 320;

fn frame(key: i64, stamp: u64) -> AudioFrame {
    pcm_frame(
        stamp,
        (0..F).map(|i| 1 + ((key * 131 + i * 7) % 20_000) as i16),
    )
}

/// What the recorder's stem writer receives when it lends where `lend[tick]` says: whole blocks (the part
/// of each that was lent), copies of a lent run when it switches to pulling mid-block, and pulled ticks.
struct Lender {
    run: Option<i64>,
    out: Vec<i16>,
    blocks_taken: usize,
}

impl Lender {
    fn tick(&mut self, t: &mut AudioTrack, from: i64, lend: bool, now: MediaTime) -> Vec<i16> {
        let mut mixed = vec![0; F as usize];
        let lent = if lend {
            t.lend(from, F as usize, now)
                .map(|s| mixed.copy_from_slice(s))
        } else {
            None
        };
        if lent.is_some() {
            self.run.get_or_insert(from);
            t.retire_pulled();
            self.take_finished(t);
        } else {
            if let Some(start) = self.run.take() {
                let run = t
                    .lent_run(start, from)
                    .expect("the run is in the live block");
                self.out.extend_from_slice(run);
            }
            t.pull(from, &mut mixed, now);
            self.take_finished(t);
            self.out.extend_from_slice(&mixed);
        }
        mixed
    }

    fn take_finished(&mut self, t: &mut AudioTrack) {
        while let Some((at, block)) = t.take_finished() {
            if let Some(start) = self.run {
                let from = ((start - at).max(0) as usize).min(block.len());
                self.out.extend_from_slice(&block[from..]);
                self.run = Some(at + block.len() as i64);
                self.blocks_taken += 1;
            }
            t.give_spare(block);
        }
    }

    fn end(&mut self, t: &mut AudioTrack) {
        if let Some(start) = self.run.take().filter(|&s| s < t.pulled_until()) {
            let (at, block) = t.take_live().expect("the live block was lent");
            let end = (t.pulled_until() - at) as usize;
            self.out
                .extend_from_slice(&block[(start - at) as usize..end]);
        }
    }
}

/// Runs the same arrivals through a pulled track and a lending one; returns both streams.
fn both(
    arrivals: &[(i64, u64, i64)],
    ticks: i64,
    start_tick: i64,
    lend: &[bool],
) -> (Vec<i16>, Vec<i16>, usize) {
    let cfg = TrackConfig::default();
    let mut a = AudioTrack::new(cfg);
    let mut b = AudioTrack::new(cfg);
    let start = MediaTime::from_millis(start_tick * 20);
    a.start_at(start);
    b.start_at(start);
    let mut pulled = Vec::new();
    let mut l = Lender {
        run: None,
        out: Vec::new(),
        blocks_taken: 0,
    };
    let mut next = start_tick;
    let mut idx = 0;
    let end_ms = ticks * 20 + 1000;
    for now_ms in (0..=end_ms).step_by(10) {
        let now = MediaTime::from_millis(now_ms);
        while idx < arrivals.len() && arrivals[idx].2 <= now_ms {
            let (key, stamp, at) = arrivals[idx];
            let delivered = MediaTime::from_millis(at);
            a.push(frame(key, stamp), delivered, now);
            b.push(frame(key, stamp), delivered, now);
            idx += 1;
        }
        while next < ticks && (next + 1) * 20 + 220 <= now_ms {
            let mut tick = vec![0; F as usize];
            a.pull(next * F, &mut tick, now);
            let mode = lend
                .get(next as usize % lend.len().max(1))
                .copied()
                .unwrap_or(true);
            let mixed = l.tick(&mut b, next * F, mode, now);
            assert_eq!(mixed, tick, "the tick mixed at {next}");
            pulled.extend_from_slice(&tick);
            next += 1;
        }
    }
    l.end(&mut b);
    assert_eq!(a.stats(), b.stats());
    (pulled, l.out, l.blocks_taken)
}

fn arrivals(keys: &[(i64, i64)], jump_at: Option<i64>) -> Vec<(i64, u64, i64)> {
    let mut v: Vec<(i64, u64, i64)> = keys
        .iter()
        .map(|&(k, delay)| {
            let jump = if jump_at.is_some_and(|j| k >= j) {
                3_000_000_000
            } else {
                0
            };
            (
                k,
                1_000_000 + (k as u64) * 200_000 + jump,
                k * 20 + 20 + delay,
            )
        })
        .collect();
    v.sort_by_key(|a| a.2);
    v
}

#[test]
fn a_minute_of_speech_and_pauses_lent_whole_is_the_pulled_stream() {
    // Speech 0-20 s, a 25 s pause, speech 45-60 s; every tick lent.
    let keys: Vec<(i64, i64)> = (0..1000)
        .chain(2250..3000)
        .map(|k| (k, (k * 37) % 90))
        .collect();
    let (pulled, lent, blocks) = both(&arrivals(&keys, None), 3000, 0, &[true]);
    assert_eq!(lent.len(), pulled.len());
    assert!(lent == pulled, "the lent stream differs");
    assert!(blocks >= 59, "{blocks} blocks handed over whole");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn lending_and_pulling_in_any_mix_write_the_same_stream(
        delays in proptest::collection::vec(0i64..180, 400),
        lost in proptest::collection::vec(any::<bool>(), 400),
        pause in 0i64..300,
        start_tick in 0i64..120,
        jump in proptest::option::of(100i64..400),
        modes in proptest::collection::vec(any::<bool>(), 1..40),
        runs in 1usize..60,
    ) {
        let keys: Vec<(i64, i64)> = (0..400i64)
            .filter(|&k| !lost[k as usize] || k % 7 != 0)
            .map(|k| (if k >= 200 { k + pause } else { k }, delays[k as usize]))
            .collect();
        // Modes come in runs, as they do in a call (a re-join's overlap, a lone source again).
        let lend: Vec<bool> = modes.iter().flat_map(|&m| std::iter::repeat_n(m, runs)).collect();
        let ticks = 400 + pause + 20;
        let (pulled, lent, _) = both(&arrivals(&keys, jump), ticks, start_tick, &lend);
        prop_assert_eq!(lent.len(), pulled.len());
        prop_assert!(lent == pulled, "the lent stream differs");
    }
}

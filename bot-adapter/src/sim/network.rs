//! The seeded network between one sender and the media platform: delay, jitter, loss, bursts, reordering and
//! duplicates. Pure arithmetic on 100 ns ticks; one [`ChaCha8Rng`] stream per sender, so adding a participant
//! never changes what happens to another's frames.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::impairments::Impairments;
use super::FRAME_TICKS;

/// Base one-way delay of every frame (the 20 ms packetisation of the sender plus the path).
pub(crate) const BASE_DELAY_TICKS: i64 = FRAME_TICKS;
/// Length of a burst-loss window.
pub(crate) const BURST_WINDOW_TICKS: i64 = 200 * 10_000;
/// Mean gap between burst-loss window starts (Poisson process).
pub(crate) const BURST_MEAN_GAP_TICKS: f64 = 10.0 * 10_000_000.0;
/// AR(1) coefficient of the jitter process (per sent frame).
const JITTER_AR: f64 = 0.95;
/// Innovation of the jitter process, as a fraction of `jitter` (uniform in `[-x, +x]`).
const JITTER_STEP: f64 = 1.0 / 8.0;

/// What the network does with one sent frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Lost; `burst` when the loss happened inside a burst window.
    Lost {
        /// Lost to a burst window (else to independent loss).
        burst: bool,
    },
    /// Delivered at `arrival`; `reordered` when held back; `dup_arrival` when a second copy follows.
    Delivered {
        /// Arrival of the (first) copy, reference clock ticks from call start.
        arrival: i64,
        /// The frame was held back behind later frames.
        reordered: bool,
        /// Arrival of the duplicate copy, if any.
        dup_arrival: Option<i64>,
    },
}

/// The network state of one sender.
pub(crate) struct Path {
    rng: ChaCha8Rng,
    /// The stream's frame interval: the unit of the reorder hold-back.
    interval: i64,
    burst_rng: ChaCha8Rng,
    jitter_max: f64,
    jitter: f64,
    loss: f64,
    burst: f64,
    reorder: f64,
    dup: f64,
    burst_start: i64,
    burst_end: i64,
}

impl Path {
    /// A path for one sender's audio, seeded from `seed` (already derived per participant).
    pub(crate) fn new(imp: &Impairments, seed: u64) -> Self {
        Self::with(imp, seed, Self::burst_seed(seed), FRAME_TICKS)
    }

    /// The burst-window seed of the audio path seeded with `seed`: a participant's video path shares it, so a
    /// burst on the participant's uplink hits its audio and video at the same instants.
    pub(crate) fn burst_seed(seed: u64) -> u64 {
        super::mix(seed, 0xB0B5)
    }

    /// A path seeded from `seed` whose burst windows come from `burst_seed`, for a stream whose frames are
    /// `interval` ticks apart (a reordered frame is held back 1–3 intervals plus half of one).
    pub(crate) fn with(imp: &Impairments, seed: u64, burst_seed: u64, interval: i64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let burst_rng = ChaCha8Rng::seed_from_u64(burst_seed);
        let jitter_max = imp.jitter.ticks().max(0) as f64;
        // Start the jitter process anywhere in its range so senders do not share a phase.
        let jitter = if jitter_max > 0.0 {
            rng.random::<f64>() * jitter_max
        } else {
            0.0
        };
        let mut p = Path {
            rng,
            interval: interval.max(1),
            burst_rng,
            jitter_max,
            jitter,
            loss: imp.loss_percent / 100.0,
            burst: imp.burst_percent / 100.0,
            reorder: imp.reorder_percent / 100.0,
            dup: imp.dup_percent / 100.0,
            burst_start: i64::MIN,
            burst_end: i64::MIN,
        };
        if p.burst > 0.0 {
            p.burst_start = p.next_gap();
            p.burst_end = p.burst_start.saturating_add(BURST_WINDOW_TICKS);
        }
        p
    }

    fn next_gap(&mut self) -> i64 {
        // Exponential with the mean gap; 1 - u lies in (0, 1] so ln is finite.
        let u: f64 = self.burst_rng.random();
        (-(1.0 - u).ln() * BURST_MEAN_GAP_TICKS) as i64
    }

    /// True when `capture` (ticks from call start) falls in a burst window. Must be called with non-decreasing
    /// times.
    fn in_burst(&mut self, capture: i64) -> bool {
        if self.burst <= 0.0 {
            return false;
        }
        while capture >= self.burst_end {
            self.burst_start = self.burst_start.saturating_add(self.next_gap());
            self.burst_end = self
                .burst_end
                .max(self.burst_start.saturating_add(BURST_WINDOW_TICKS));
        }
        capture >= self.burst_start
    }

    /// The jitter process's current value, ticks: how much later than the base delay a frame sent now would
    /// arrive (before any reorder hold-back).
    pub(crate) fn jitter_ticks(&self) -> i64 {
        self.jitter.round() as i64
    }

    /// Decides the fate of one sent frame captured at `capture`. Calls must come in capture order. Every call
    /// draws the same number of random values, whatever the outcome.
    pub(crate) fn send(&mut self, capture: i64) -> Fate {
        let u_loss: f64 = self.rng.random();
        let u_burst: f64 = self.rng.random();
        let u_reorder: f64 = self.rng.random();
        let hold_frames: i64 = self.rng.random_range(1..=3);
        let u_dup: f64 = self.rng.random();
        let dup_gap: i64 = self.rng.random_range(10_000..=200_000); // 1..20 ms
        let e: f64 = self.rng.random_range(-1.0..=1.0);

        // The jitter process moves on every sent frame, lost or not.
        if self.jitter_max > 0.0 {
            let mean = self.jitter_max / 2.0;
            let next = mean + JITTER_AR * (self.jitter - mean) + e * JITTER_STEP * self.jitter_max;
            self.jitter = next.clamp(0.0, self.jitter_max);
        }

        let in_burst = self.in_burst(capture);
        if u_loss < self.loss {
            return Fate::Lost { burst: false };
        }
        if in_burst && u_burst < self.burst {
            return Fate::Lost { burst: true };
        }
        let mut arrival = capture
            .saturating_add(BASE_DELAY_TICKS)
            .saturating_add(self.jitter.round() as i64);
        let reordered = u_reorder < self.reorder;
        if reordered {
            arrival = arrival.saturating_add(
                hold_frames
                    .saturating_mul(self.interval)
                    .saturating_add(self.interval / 2),
            );
        }
        let dup_arrival = (u_dup < self.dup).then(|| arrival.saturating_add(dup_gap));
        Fate::Delivered {
            arrival,
            reordered,
            dup_arrival,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_impairment_is_exactly_twenty_ms_late() {
        let mut p = Path::new(&Impairments::NONE, 1);
        for j in 0..1000 {
            let c = j * FRAME_TICKS;
            assert_eq!(
                p.send(c),
                Fate::Delivered {
                    arrival: c + FRAME_TICKS,
                    reordered: false,
                    dup_arrival: None
                }
            );
        }
    }

    #[test]
    fn jitter_stays_in_range_and_rarely_overtakes() {
        let imp = Impairments {
            jitter: media_core::MediaTime::from_millis(90),
            ..Impairments::NONE
        };
        let mut p = Path::new(&imp, 7);
        let mut last = i64::MIN;
        let mut overtakes = 0;
        for j in 0..50_000 {
            let c = j * FRAME_TICKS;
            let Fate::Delivered { arrival, .. } = p.send(c) else {
                panic!("no loss configured")
            };
            let d = arrival - c;
            assert!((FRAME_TICKS..=FRAME_TICKS + 900_000).contains(&d), "{d}");
            if arrival < last {
                overtakes += 1;
            }
            last = arrival;
        }
        assert_eq!(overtakes, 0);
    }
}

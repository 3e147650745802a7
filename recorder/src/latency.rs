//! A fixed-memory latency histogram, updated lock-free from any thread: the gRPC hand-off of `listen`, the
//! media threads' per-call steps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A latency histogram with 1 µs buckets below 1 ms and 1 ms buckets up to 1 s (fixed memory, atomic).
///
/// ```
/// use std::time::Duration;
/// use recorder::latency::LatencyHistogram;
/// let h = LatencyHistogram::default();
/// h.record(Duration::from_micros(40));
/// h.record(Duration::from_millis(3));
/// assert_eq!(h.quantile_us(0.5), Some(41)); // the upper edge of the 40 µs bucket
/// assert_eq!(h.max_us(), 3_000);
/// ```
pub struct LatencyHistogram {
    fine: Box<[AtomicU64]>,
    coarse: Box<[AtomicU64]>,
    over: AtomicU64,
    count: AtomicU64,
    max_us: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            fine: (0..1000).map(|_| AtomicU64::new(0)).collect(),
            coarse: (0..1000).map(|_| AtomicU64::new(0)).collect(),
            over: AtomicU64::new(0),
            count: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    /// Records one sample.
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let slot = if us < 1000 {
            self.fine.get(us as usize)
        } else {
            self.coarse.get((us / 1000) as usize)
        };
        match slot {
            Some(c) => c.fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Largest sample, µs.
    pub fn max_us(&self) -> u64 {
        self.max_us.load(Ordering::Relaxed)
    }

    /// The `q` quantile (0..=1) in µs: the upper edge of the bucket holding it (`None` without samples;
    /// `u64::MAX` when it lies beyond 1 s).
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.fine.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(i as u64 + 1);
            }
        }
        for (i, c) in self.coarse.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                return Some((i as u64 + 1) * 1000);
            }
        }
        Some(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_right_buckets() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile_us(0.99), None);
        for us in 0..99 {
            h.record(Duration::from_micros(us));
        }
        h.record(Duration::from_millis(5));
        assert_eq!(h.quantile_us(0.5), Some(50));
        assert_eq!(h.quantile_us(0.99), Some(99));
        assert_eq!(h.quantile_us(1.0), Some(6000));
        h.record(Duration::from_secs(3));
        assert_eq!(h.quantile_us(1.0), Some(u64::MAX));
        assert_eq!(h.max_us(), 3_000_000);
    }
}

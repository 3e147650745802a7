//! A lock-free histogram with fixed bucket bounds, for metrics updated from threads that must not lock or
//! allocate (a media thread's pass, the group commit's rounds) and read by a metrics endpoint
//! (`verbatim listen --metrics`), which exposes it as an OpenMetrics histogram.
//!
//! Recording a sample is a few relaxed atomic adds (no lock, no allocation, no system call); reading takes a
//! consistent-enough snapshot (each bucket is read once; a sample recorded meanwhile may be in the count but
//! not yet in its bucket, which a scraper tolerates).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of samples (integers, e.g. microseconds or nanoseconds) at or below each bound, plus their sum.
///
/// ```
/// use media_core::histogram::AtomicHistogram;
/// let h = AtomicHistogram::new(&[10, 100, 1_000]);
/// h.record(5);
/// h.record(50);
/// h.record(5_000); // above every bound: only in the +Inf bucket (the count)
/// let s = h.snapshot();
/// assert_eq!(s.count, 3);
/// assert_eq!(s.sum, 5_055);
/// assert_eq!(s.cumulative, vec![(10, 1), (100, 2), (1_000, 2)]);
/// ```
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds: Box<[u64]>,
    counts: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
}

/// What [`AtomicHistogram::snapshot`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// (upper bound, samples at or below it), bounds ascending.
    pub cumulative: Vec<(u64, u64)>,
    /// Every sample.
    pub count: u64,
    /// Their sum (saturating).
    pub sum: u64,
}

impl AtomicHistogram {
    /// A histogram with these upper bounds (sorted and deduplicated here).
    pub fn new(bounds: &[u64]) -> Self {
        let mut b = bounds.to_vec();
        b.sort_unstable();
        b.dedup();
        AtomicHistogram {
            counts: b.iter().map(|_| AtomicU64::new(0)).collect(),
            bounds: b.into_boxed_slice(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    /// Bounds 1, 2, 5, 10, 20, 50, … from `min` up to `max` (a 1-2-5 series, as metrics dashboards expect).
    ///
    /// ```
    /// use media_core::histogram::AtomicHistogram;
    /// let h = AtomicHistogram::one_two_five(10, 100);
    /// assert_eq!(h.snapshot().cumulative.iter().map(|b| b.0).collect::<Vec<_>>(), vec![10, 20, 50, 100]);
    /// ```
    pub fn one_two_five(min: u64, max: u64) -> Self {
        let mut v = Vec::new();
        let mut decade = 1u64;
        'outer: loop {
            for m in [1u64, 2, 5] {
                let b = decade.saturating_mul(m);
                if b > max {
                    break 'outer;
                }
                if b >= min {
                    v.push(b);
                }
            }
            match decade.checked_mul(10) {
                Some(d) => decade = d,
                None => break,
            }
        }
        Self::new(&v)
    }

    /// Records one sample: a few relaxed atomic adds.
    pub fn record(&self, v: u64) {
        // Few buckets (tens): a linear search is as fast as a binary one and branch-predictable.
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            if let Some(c) = self.counts.get(i) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                Some(s.saturating_add(v))
            });
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The cumulative bucket counts, the count and the sum (allocates: for a reader, not a hot path).
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut acc = 0u64;
        let cumulative = self
            .bounds
            .iter()
            .zip(self.counts.iter())
            .map(|(&b, c)| {
                acc = acc.saturating_add(c.load(Ordering::Relaxed));
                (b, acc)
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            count: self.count.load(Ordering::Relaxed).max(acc),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_the_first_bucket_that_holds_them_and_counts_are_cumulative() {
        let h = AtomicHistogram::new(&[100, 10, 1_000, 10]);
        for v in [0, 10, 11, 100, 101, 1_000, 1_001, u64::MAX] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![(10, 2), (100, 4), (1_000, 6)]);
        assert_eq!(s.count, 8);
        assert_eq!(s.sum, u64::MAX, "the sum saturates");
    }

    #[test]
    fn one_two_five_spans_the_range() {
        let h = AtomicHistogram::one_two_five(1, 1_000);
        let b: Vec<u64> = h.snapshot().cumulative.iter().map(|b| b.0).collect();
        assert_eq!(b, vec![1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000]);
    }
}

//! The uploader's counters: plain atomics written by the uploader thread, read by anyone (a status line, a
//! metrics endpoint) as a [`CountersSnapshot`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Latency samples kept (one per object confirmed); beyond it the oldest half is dropped (counted).
const MAX_SAMPLES: usize = 1 << 16;

/// Live counters of one uploader (shared with readers through an `Arc`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Objects confirmed by the store.
    pub objects: AtomicU64,
    /// Bytes confirmed.
    pub bytes: AtomicU64,
    /// PUT attempts (first tries and retries).
    pub attempts: AtomicU64,
    /// Attempts that were retries of an object that failed before.
    pub retries: AtomicU64,
    /// Attempts that failed (timeout, connection refused, an error status).
    pub failures: AtomicU64,
    /// Bytes read from the folder and not yet confirmed (the backlog).
    pub backlog_bytes: AtomicU64,
    /// Highest backlog seen.
    pub backlog_high_water: AtomicU64,
    /// Segments built.
    pub segments: AtomicU64,
    /// Header regions whose bytes were rewritten since their record (uploaded as they are now; a later
    /// header record covers the final bytes).
    pub stale_headers: AtomicU64,
    /// Data regions whose bytes did not match their record's SHA-256 (an error: the copy will not verify).
    pub data_mismatches: AtomicU64,
    /// Data regions missing from the folder at the close (an error).
    pub data_missing: AtomicU64,
    /// Latency samples dropped (beyond the kept number).
    pub samples_dropped: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

/// A copy of the counters at one moment, with latency percentiles of confirmed objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CountersSnapshot {
    /// Objects confirmed.
    pub objects: u64,
    /// Bytes confirmed.
    pub bytes: u64,
    /// PUT attempts.
    pub attempts: u64,
    /// Retries.
    pub retries: u64,
    /// Failed attempts.
    pub failures: u64,
    /// Bytes not yet confirmed.
    pub backlog_bytes: u64,
    /// Highest backlog.
    pub backlog_high_water: u64,
    /// Segments built.
    pub segments: u64,
    /// Header regions uploaded as rewritten.
    pub stale_headers: u64,
    /// Data regions that did not match their record.
    pub data_mismatches: u64,
    /// Data regions missing at the close.
    pub data_missing: u64,
    /// Upload latency of one object (successful attempt), median, microseconds.
    pub latency_p50_us: Option<u64>,
    /// 99th percentile.
    pub latency_p99_us: Option<u64>,
    /// Largest.
    pub latency_max_us: Option<u64>,
}

impl Counters {
    pub(crate) fn add(&self, c: &AtomicU64, n: u64) {
        let _ = self;
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_backlog(&self, bytes: u64) {
        self.backlog_bytes.store(bytes, Ordering::Relaxed);
        self.backlog_high_water.fetch_max(bytes, Ordering::Relaxed);
    }

    pub(crate) fn latency(&self, us: u64) {
        if let Ok(mut v) = self.latencies_us.lock() {
            if v.len() >= MAX_SAMPLES {
                let half = v.len() / 2;
                v.drain(..half);
                self.samples_dropped
                    .fetch_add(half as u64, Ordering::Relaxed);
            }
            v.push(us);
        }
    }

    /// The latency samples kept, microseconds, in upload order.
    pub fn latencies_us(&self) -> Vec<u64> {
        self.latencies_us
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// A copy of every counter now.
    ///
    /// # Examples
    /// ```
    /// let c = store::Counters::default();
    /// assert_eq!(c.snapshot().objects, 0);
    /// assert_eq!(c.snapshot().latency_p50_us, None);
    /// ```
    pub fn snapshot(&self) -> CountersSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut lat = self.latencies_us();
        lat.sort_unstable();
        let q =
            |p: f64| (!lat.is_empty()).then(|| lat[((lat.len() - 1) as f64 * p).round() as usize]);
        CountersSnapshot {
            objects: g(&self.objects),
            bytes: g(&self.bytes),
            attempts: g(&self.attempts),
            retries: g(&self.retries),
            failures: g(&self.failures),
            backlog_bytes: g(&self.backlog_bytes),
            backlog_high_water: g(&self.backlog_high_water),
            segments: g(&self.segments),
            stale_headers: g(&self.stale_headers),
            data_mismatches: g(&self.data_mismatches),
            data_missing: g(&self.data_missing),
            latency_p50_us: q(0.5),
            latency_p99_us: q(0.99),
            latency_max_us: lat.last().copied(),
        }
    }
}

impl CountersSnapshot {
    /// One line for a status note or a summary.
    pub fn to_text(&self) -> String {
        let ms = |v: Option<u64>| v.map_or("-".into(), |u| format!("{:.1} ms", u as f64 / 1000.0));
        format!(
            "{} objects, {} bytes confirmed; {} attempts, {} retries, {} failed; backlog {} bytes (high {}); \
             latency p50 {} p99 {}; {} data regions mismatched, {} missing",
            self.objects,
            self.bytes,
            self.attempts,
            self.retries,
            self.failures,
            self.backlog_bytes,
            self.backlog_high_water,
            ms(self.latency_p50_us),
            ms(self.latency_p99_us),
            self.data_mismatches,
            self.data_missing
        )
    }
}

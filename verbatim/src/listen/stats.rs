//! Server-wide counters and latency histograms (lock-free: every call's task updates them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A latency histogram with 1 µs buckets below 1 ms and 1 ms buckets up to 1 s (fixed memory, atomic).
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

/// What the whole server has done (shared by every call; read by tests and printed by `verbatim listen`).
#[derive(Default)]
pub struct ServerStats {
    /// Streams refused for a missing or wrong token.
    pub auth_failures: AtomicU64,
    /// Streams refused because the server records its maximum number of calls.
    pub calls_refused_full: AtomicU64,
    /// Streams refused before a call started (no or bad `CallStart`, duplicate call id).
    pub calls_refused_start: AtomicU64,
    /// Calls started (a valid `CallStart`).
    pub calls_started: AtomicU64,
    /// Calls whose recording was confirmed and written.
    pub calls_recorded: AtomicU64,
    /// Calls finalized as `interrupted`.
    pub calls_interrupted: AtomicU64,
    /// Calls not recorded (confirmation failed, timed out or never came).
    pub calls_not_recorded: AtomicU64,
    /// Calls being handled now.
    pub calls_active: AtomicU64,
    /// Bot messages received.
    pub messages: AtomicU64,
    /// Messages refused as malformed.
    pub invalid_messages: AtomicU64,
    /// Time from a buffer's arrival (decoded off the stream) to its hand-off onto the call's media-worker
    /// queue, for buffers written at once (not held in the pre-roll).
    pub handoff: LatencyHistogram,
    /// Time from the bot's `sent_unix_micros` to the hand-off (same-host clocks; bots that fill the field).
    pub bot_to_handoff: LatencyHistogram,
}

impl ServerStats {
    /// One line for logs: calls and the hand-off latency.
    pub fn summary_line(&self) -> String {
        let l = |h: &LatencyHistogram, q| {
            h.quantile_us(q)
                .map_or_else(|| "-".to_string(), |v| format!("{v} µs"))
        };
        format!(
            "calls: {} started, {} recorded, {} interrupted, {} not recorded, {} refused; messages {}; \
             hand-off p50 {} p99 {} max {} µs; bot->hand-off p99 {}",
            self.calls_started.load(Ordering::Relaxed),
            self.calls_recorded.load(Ordering::Relaxed),
            self.calls_interrupted.load(Ordering::Relaxed),
            self.calls_not_recorded.load(Ordering::Relaxed),
            self.calls_refused_full.load(Ordering::Relaxed)
                + self.calls_refused_start.load(Ordering::Relaxed)
                + self.auth_failures.load(Ordering::Relaxed),
            self.messages.load(Ordering::Relaxed),
            l(&self.handoff, 0.5),
            l(&self.handoff, 0.99),
            self.handoff.max_us(),
            l(&self.bot_to_handoff, 0.99),
        )
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

//! Server-wide counters and latency histograms (lock-free: every call's task updates them).

use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::latency::LatencyHistogram;

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
    /// Ticks a live listen-in's listener was too far behind to take (the recording is never affected).
    pub listen_in_ticks_dropped: AtomicU64,
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

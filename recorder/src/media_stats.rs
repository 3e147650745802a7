//! What the media pool's threads measure for a metrics endpoint (`verbatim listen --metrics`), node-wide and
//! without per-call labels: the CPU a pass costs per call it served, the calls' queue depths, the writer's
//! back-pressure, and a heartbeat.
//!
//! ```text
//!  media thread: pass (every call's step) ─► clock_gettime(CLOCK_THREAD_CPUTIME_ID) ─► Δcpu / calls served
//!                                            (once per pass, never per frame)          └► call_cpu_ns histogram
//!  each call's step ─► its ingest and writer queue depth ─► node-wide sums (relaxed atomic adds of the change)
//! ```
//!
//! Every update is a relaxed atomic operation: no lock, no allocation. The one system call is the thread CPU
//! clock read once per pass (the vDSO answers only wall clocks; a CPU clock is a real `clock_gettime`: 1.35 µs
//! on the project's VM, against 0.1 µs for a vDSO `CLOCK_MONOTONIC` read; `strace` sees exactly one per pass
//! per media thread, see docs/operations.md): a pass already ends with a nap (`nanosleep`) or a bell wait, so
//! this adds one system call per pass, none per frame and none per call.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use media_core::histogram::AtomicHistogram;

/// Node-wide figures of a [`crate::media_worker::MediaPool`] (see the module docs).
///
/// ```
/// use recorder::media_stats::MediaStats;
/// let s = MediaStats::default();
/// s.pass_done(2_000, 4); // a pass that cost 2 µs of CPU and served 4 calls
/// assert_eq!(s.call_cpu_ns().count(), 1);
/// assert_eq!(s.passes(), 1);
/// ```
#[derive(Debug)]
pub struct MediaStats {
    epoch: Instant,
    passes: AtomicU64,
    /// Milliseconds since `epoch` at the end of the latest pass of any thread.
    last_pass_ms: AtomicU64,
    call_cpu_ns: AtomicHistogram,
    cpu_ns: AtomicU64,
    ingest_queued: AtomicI64,
    writer_queued: AtomicI64,
    backpressure_waits: AtomicU64,
    backpressure_wait_us: AtomicU64,
}

impl Default for MediaStats {
    fn default() -> Self {
        MediaStats {
            epoch: Instant::now(),
            passes: AtomicU64::new(0),
            last_pass_ms: AtomicU64::new(0),
            // 100 ns .. 100 ms of CPU per call per pass.
            call_cpu_ns: AtomicHistogram::one_two_five(100, 100_000_000),
            cpu_ns: AtomicU64::new(0),
            ingest_queued: AtomicI64::new(0),
            writer_queued: AtomicI64::new(0),
            backpressure_waits: AtomicU64::new(0),
            backpressure_wait_us: AtomicU64::new(0),
        }
    }
}

impl MediaStats {
    /// A pass is over: it cost `cpu_ns` of the thread's CPU (since its previous pass ended) and `served` calls
    /// worked in it. Passes that served nobody only beat the heartbeat and count their CPU.
    pub fn pass_done(&self, cpu_ns: u64, served: usize) {
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.cpu_ns.fetch_add(cpu_ns, Ordering::Relaxed);
        if served > 0 {
            self.call_cpu_ns.record(cpu_ns / served as u64);
        }
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_pass_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Passes of every media thread so far.
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }

    /// How long ago the latest pass of any media thread ended (an idle pool passes every 250 ms).
    pub fn since_last_pass(&self) -> std::time::Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        std::time::Duration::from_millis(
            now.saturating_sub(self.last_pass_ms.load(Ordering::Relaxed)),
        )
    }

    /// Per pass with work, its thread CPU time divided by the calls it served, in nanoseconds.
    pub fn call_cpu_ns(&self) -> &AtomicHistogram {
        &self.call_cpu_ns
    }

    /// CPU time of the media threads, nanoseconds.
    pub fn cpu_ns(&self) -> u64 {
        self.cpu_ns.load(Ordering::Relaxed)
    }

    /// Events waiting in every call's ingest queue, as last seen by the media threads.
    pub fn ingest_queued(&self) -> u64 {
        self.ingest_queued.load(Ordering::Relaxed).max(0) as u64
    }

    /// Commands waiting in every call's writer queue, as last seen by the media threads.
    pub fn writer_queued(&self) -> u64 {
        self.writer_queued.load(Ordering::Relaxed).max(0) as u64
    }

    /// Times a media thread found a call's writer queue full and waited (back-pressure), and the total wait
    /// in microseconds.
    pub fn backpressure(&self) -> (u64, u64) {
        (
            self.backpressure_waits.load(Ordering::Relaxed),
            self.backpressure_wait_us.load(Ordering::Relaxed),
        )
    }
}

/// One call's last contribution to the node-wide figures (kept by its pool job, so only changes are added).
#[derive(Debug, Default)]
pub(crate) struct CallShare {
    ingest: i64,
    writer: i64,
    waits: u64,
    wait_us: u64,
}

impl CallShare {
    /// The call's queues now hold `ingest` and `writer` entries and its writer counted `waits` back-pressure
    /// waits of `wait_us` in all: the node-wide figures move by the difference.
    pub(crate) fn update(
        &mut self,
        s: &MediaStats,
        ingest: u64,
        writer: u64,
        waits: u64,
        wait_us: u64,
    ) {
        let (i, w) = (ingest as i64, writer as i64);
        if i != self.ingest {
            s.ingest_queued
                .fetch_add(i - self.ingest, Ordering::Relaxed);
            self.ingest = i;
        }
        if w != self.writer {
            s.writer_queued
                .fetch_add(w - self.writer, Ordering::Relaxed);
            self.writer = w;
        }
        if waits > self.waits {
            s.backpressure_waits
                .fetch_add(waits - self.waits, Ordering::Relaxed);
            self.waits = waits;
        }
        if wait_us > self.wait_us {
            s.backpressure_wait_us
                .fetch_add(wait_us - self.wait_us, Ordering::Relaxed);
            self.wait_us = wait_us;
        }
    }

    /// The call is over: its queues no longer count.
    pub(crate) fn leave(&mut self, s: &MediaStats) {
        let (waits, wait_us) = (self.waits, self.wait_us);
        self.update(s, 0, 0, waits, wait_us);
    }
}

/// This thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`: one system call).
pub(crate) fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_only_their_changes_and_leave_nothing_behind() {
        let s = MediaStats::default();
        let (mut a, mut b) = (CallShare::default(), CallShare::default());
        a.update(&s, 10, 3, 1, 50);
        b.update(&s, 5, 0, 0, 0);
        a.update(&s, 4, 3, 1, 50);
        assert_eq!((s.ingest_queued(), s.writer_queued()), (9, 3));
        assert_eq!(s.backpressure(), (1, 50));
        a.leave(&s);
        b.leave(&s);
        assert_eq!((s.ingest_queued(), s.writer_queued()), (0, 0));
        assert_eq!(s.backpressure(), (1, 50), "waits are a counter: they stay");
    }

    #[test]
    fn the_thread_cpu_clock_moves_with_work() {
        let t0 = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns() > t0);
    }
}

//! Admission by measured load (`listen --max-load F`): a new call is admitted only while the measured
//! per-call cost times the calls it would make fits the node, so a fleet behind a balancer fills evenly
//! (a node that is full refuses with `RESOURCE_EXHAUSTED` and the balancer tries another).
//!
//! ```text
//!  every second: process CPU time (CLOCK_PROCESS_CPUTIME_ID) ─► cores used ÷ running calls ─► smoothed cost
//!  new call: cost × (calls + 1) ≤ max_load × cores ?  admit : RESOURCE_EXHAUSTED "… figures …"
//! ```
//!
//! The cost is the whole process's CPU (media threads, writer threads with Opus and hashing, gRPC, the group
//! commit) divided by the calls running, smoothed over ~10 s (an exponential average); it is "measured" once
//! [`MIN_SAMPLES`] seconds with calls running have been seen. Before that the stated [`DEFAULT_CALL_COST`]
//! is used. A node with no call running always admits one (it could never measure otherwise). `--max-calls`
//! still bounds the calls independently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The per-call cost assumed before enough is measured, in cores: 0.02 (50 calls per core). Measured on the
/// project's 2-core machine (release build, 50 calls): a 4-speaker audio call costs ~0.0045 cores (see
/// docs/operations.md); video and `--composite` cost more, so the default errs on the side of refusing early.
pub const DEFAULT_CALL_COST: f64 = 0.02;

/// Seconds with calls running before the measured cost replaces the default.
pub const MIN_SAMPLES: u32 = 5;

/// The smoothing of the per-second samples (weight of the newest): ~10 s.
const ALPHA: f64 = 0.1;

/// The admission's state: the limit and the measured cost.
///
/// ```
/// use verbatim::listen::admission::Admission;
/// let a = Admission::new(Some(0.5), 2.0);
/// assert!(a.check(0).is_ok(), "an idle node always admits a call");
/// assert!(a.check(49).is_ok()); // 50 calls × 0.02 cores (the default) = 1.0 ≤ 0.5 × 2 cores
/// assert!(a.check(50).is_err());
/// ```
#[derive(Debug)]
pub struct Admission {
    max_load: Option<f64>,
    cores: f64,
    state: Mutex<Measure>,
    /// The cost in use, as f64 bits (read without the lock by scrapes).
    cost_bits: AtomicU64,
}

#[derive(Debug)]
struct Measure {
    last: Option<(Instant, u64)>,
    smoothed: f64,
    samples: u32,
}

/// What the admission uses now (for the metrics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// Cores per call.
    pub cost_cores: f64,
    /// True once measured (else the default).
    pub measured: bool,
    /// `max_load × cores` (0 without a load limit).
    pub capacity_cores: f64,
}

impl Admission {
    /// `max_load` of `cores` (`None`: no load limit, only `--max-calls`).
    pub fn new(max_load: Option<f64>, cores: f64) -> Self {
        Admission {
            max_load,
            cores,
            state: Mutex::new(Measure {
                last: None,
                smoothed: DEFAULT_CALL_COST,
                samples: 0,
            }),
            cost_bits: AtomicU64::new(DEFAULT_CALL_COST.to_bits()),
        }
    }

    /// The cores of this machine (`available_parallelism`: cgroup quotas and CPU affinity included).
    pub fn available_cores() -> f64 {
        std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
    }

    /// Takes a sample: the process has used `cpu_ns` of CPU in all, `calls` calls run now. Called about once
    /// a second.
    pub fn sample(&self, now: Instant, cpu_ns: u64, calls: u64) {
        let Ok(mut m) = self.state.lock() else { return };
        if let Some((t0, c0)) = m.last {
            let wall = now.duration_since(t0).as_secs_f64();
            if wall > 0.2 && calls > 0 {
                let cores = cpu_ns.saturating_sub(c0) as f64 * 1e-9 / wall;
                let per_call = cores / calls as f64;
                m.smoothed = if m.samples == 0 {
                    per_call
                } else {
                    m.smoothed + ALPHA * (per_call - m.smoothed)
                };
                m.samples = m.samples.saturating_add(1);
                if m.samples >= MIN_SAMPLES {
                    self.cost_bits
                        .store(m.smoothed.to_bits(), Ordering::Relaxed);
                }
            }
        }
        m.last = Some((now, cpu_ns));
    }

    /// The figures in use now.
    pub fn figures(&self) -> Figures {
        let measured = self.state.lock().is_ok_and(|m| m.samples >= MIN_SAMPLES);
        Figures {
            cost_cores: f64::from_bits(self.cost_bits.load(Ordering::Relaxed)),
            measured,
            capacity_cores: self.max_load.map_or(0.0, |l| l * self.cores),
        }
    }

    /// May a new call start while `calls` run? `Err` is the reason, naming the figures.
    ///
    /// # Errors
    /// The node would be over its load limit with one more call.
    pub fn check(&self, calls: u64) -> Result<(), String> {
        let Some(load) = self.max_load else {
            return Ok(());
        };
        if calls == 0 {
            return Ok(());
        }
        let f = self.figures();
        let need = f.cost_cores * (calls + 1) as f64;
        if need <= f.capacity_cores {
            return Ok(());
        }
        Err(format!(
            "node load limit: {} calls would cost {need:.3} cores ({:.4} cores per call, {}), above \
             --max-load {load} × {} cores = {:.3} cores",
            calls + 1,
            f.cost_cores,
            if f.measured {
                "measured"
            } else {
                "the default before measuring"
            },
            self.cores,
            f.capacity_cores,
        ))
    }
}

/// This process's CPU time (user and system, every thread) in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    (t.tv_sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_measured_cost_replaces_the_default_after_enough_samples() {
        let a = Admission::new(Some(1.0), 2.0);
        let t = Instant::now();
        // 4 calls using 1 core: 0.25 cores per call.
        for s in 0..=MIN_SAMPLES as u64 {
            a.sample(t + Duration::from_secs(s), s * 1_000_000_000, 4);
        }
        let f = a.figures();
        assert!(f.measured);
        assert!((f.cost_cores - 0.25).abs() < 1e-9, "{f:?}");
        assert!(a.check(7).is_ok()); // 8 × 0.25 = 2.0 ≤ 2.0
        let why = a.check(8).unwrap_err();
        assert!(why.contains("9 calls would cost 2.250 cores"), "{why}");
        assert!(why.contains("0.2500 cores per call, measured"), "{why}");
    }

    #[test]
    fn without_a_load_limit_everything_is_admitted() {
        let a = Admission::new(None, 1.0);
        assert!(a.check(1_000_000).is_ok());
        assert_eq!(a.figures().capacity_cores, 0.0);
    }
}

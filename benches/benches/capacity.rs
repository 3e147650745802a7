//! Capacity: how many 4-speaker audio calls one core records in real time.
//!
//! One thread, pinned to one CPU, runs N `CallRecorder`s, each writing its own real `FolderSink` (4 stems,
//! `mixed.wav`, Opus fMP4, signed manifest). Every 20 ms round (paced by the wall clock: round r is due at
//! t0 + (r+1)·20 ms, when its `AudioMediaBuffer` would have been handed over) the thread gives each call that
//! call's events of one 20 ms slot, round-robin. Calls are staggered by up to 49 rounds so their once-a-second
//! fsyncs and fragment writes do not all land in the same round.
//!
//! Measured per N: the time of each call's tick (its slot's events handled, including every write and fsync
//! that slot caused), the time of each round (all N calls), the round's thread CPU time, and the lag (how late
//! a round finished after it was due). Frames dropped = frames handed to the recorders minus frames written
//! (no impairment, so any difference is a loss) plus frames an ingest queue of 4,096 events would have
//! refused, given the worst backlog seen.
//!
//! N "is sustained" when: zero frames dropped, per-call tick p99 < 5 ms, and the thread keeps up (the lag at
//! the end is under 100 ms and never exceeded 1 s). The ramp stops at the first N that is not sustained.
//!
//! `cargo bench -p verbatim-benches --bench capacity` (about 2 minutes). Environment:
//! `VERBATIM_BENCH_DIR=/dev/shm` writes to tmpfs (fsync then costs nothing: the CPU-bound figure);
//! `VERBATIM_CAPACITY_STEPS=50,100,200` chooses the ramp; `VERBATIM_CAPACITY_SECS=10` the call length;
//! `VERBATIM_BENCH_QUICK=1` (or `--quick` / `--test`) runs 2 s with N = 2 to check that it works.

use std::time::{Duration, Instant};

use bot_adapter::ingest::IngestEvent;
use media_core::MediaTime;
use serde_json::json;
use verbatim::engine::{CallRecorder, RecorderConfig};
use verbatim::sink::FolderSink;
use verbatim_benches::{
    close_folder, folder_sink, pin_to_cpu, quantile, quick, rounds, save_result, scratch_dir,
    scratch_root, sim_call_events, thread_cpu_ns,
};

const ROUND: Duration = Duration::from_millis(20);
const QUEUE_CAPACITY: usize = 4096;

struct Call {
    rec: CallRecorder,
    sink: FolderSink,
    offset: usize,
}

struct StepResult {
    n: usize,
    sustained: bool,
    json: serde_json::Value,
}

fn step(n: usize, call_rounds: &[Vec<IngestEvent>], frames_per_call: u64, tag: &str) -> StepResult {
    let stagger = 50.min(call_rounds.len());
    let mut calls: Vec<Call> = (0..n)
        .map(|i| Call {
            rec: CallRecorder::new(RecorderConfig::default()),
            sink: folder_sink(&scratch_dir(&format!("{tag}-{n}/call-{i}"))),
            offset: i % stagger,
        })
        .collect();
    let total_rounds = call_rounds.len() + stagger;
    let mut call_tick_ms: Vec<f64> = Vec::with_capacity(n * call_rounds.len());
    let mut round_ms: Vec<f64> = Vec::with_capacity(total_rounds);
    let mut round_cpu_ms: Vec<f64> = Vec::with_capacity(total_rounds);
    let mut max_lag = Duration::ZERO;
    let mut end_lag = Duration::ZERO;
    let mut max_backlog_rounds = 0usize;
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    for r in 0..total_rounds {
        let due = t0 + ROUND * (r as u32 + 1);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let start = Instant::now();
        let cpu_start = thread_cpu_ns();
        for c in calls.iter_mut() {
            let Some(k) = r.checked_sub(c.offset) else {
                continue;
            };
            let Some(events) = call_rounds.get(k) else {
                continue;
            };
            let t = Instant::now();
            for e in events {
                c.rec.handle(e.clone(), &mut c.sink).expect("record");
            }
            call_tick_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let end = Instant::now();
        round_ms.push((end - start).as_secs_f64() * 1e3);
        round_cpu_ms.push((thread_cpu_ns() - cpu_start) as f64 / 1e6);
        let lag = end.saturating_duration_since(due);
        max_lag = max_lag.max(lag);
        end_lag = lag;
        // Rounds that became due while this one was being handled wait in the calls' ingest queues.
        let backlog = (end.saturating_duration_since(due).as_micros() / ROUND.as_micros()) as usize;
        max_backlog_rounds = max_backlog_rounds.max(backlog);
    }
    let wall = t0.elapsed();
    let cpu = (thread_cpu_ns() - cpu0) as f64 / 1e9;

    let mut dropped_in_recorder = 0u64;
    let mut delivered = 0u64;
    let close_t = Instant::now();
    for c in calls {
        let s = c.rec.summary();
        for p in &s.participants {
            delivered += p.stats.delivered;
            dropped_in_recorder += p.stats.delivered - p.stats.written;
        }
        close_folder(c.sink, &c.rec);
    }
    let close_s = close_t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(scratch_root().join(format!("{tag}-{n}")));
    let max_events_per_round = call_rounds.iter().map(Vec::len).max().unwrap_or(0);
    let worst_queue = (max_backlog_rounds + 1) * max_events_per_round;
    let dropped_queue = worst_queue.saturating_sub(QUEUE_CAPACITY);
    let dropped = dropped_in_recorder + dropped_queue as u64;

    let tick_p50 = quantile(&mut call_tick_ms, 0.50);
    let tick_p99 = quantile(&mut call_tick_ms, 0.99);
    let tick_max = quantile(&mut call_tick_ms, 1.0);
    let round_p50 = quantile(&mut round_ms, 0.50);
    let round_p99 = quantile(&mut round_ms, 0.99);
    let round_max = quantile(&mut round_ms, 1.0);
    let cpu_mean = round_cpu_ms.iter().sum::<f64>() / round_cpu_ms.len().max(1) as f64;
    let cpu_p99 = quantile(&mut round_cpu_ms, 0.99);
    let keeps_up = end_lag < Duration::from_millis(100) && max_lag < Duration::from_secs(1);
    let sustained = dropped == 0 && tick_p99 < 5.0 && keeps_up;
    let recorded_s = call_rounds.len() as f64 * 0.02 * n as f64;
    println!(
        "N={n:>4}  call tick p50 {tick_p50:6.3} p99 {tick_p99:7.3} max {tick_max:8.2} ms | round p50 {round_p50:7.2} \
         p99 {round_p99:7.2} max {round_max:8.2} ms, CPU mean {cpu_mean:6.2} p99 {cpu_p99:6.2} ms | lag max {:7.1} end \
         {:6.1} ms | dropped {dropped} of {delivered} | CPU {:.3} ms per recorded s | {}",
        max_lag.as_secs_f64() * 1e3,
        end_lag.as_secs_f64() * 1e3,
        cpu * 1e3 / recorded_s,
        if sustained { "sustained" } else { "NOT sustained" }
    );
    let _ = frames_per_call;
    StepResult {
        n,
        sustained,
        json: json!({
            "n": n, "sustained": sustained, "rounds": total_rounds, "wall_s": wall.as_secs_f64(),
            "thread_cpu_s": cpu, "cpu_ms_per_recorded_s": cpu * 1e3 / recorded_s,
            "call_tick_ms": {"p50": tick_p50, "p99": tick_p99, "max": tick_max},
            "round_ms": {"p50": round_p50, "p99": round_p99, "max": round_max},
            "round_cpu_ms": {"mean": cpu_mean, "p99": cpu_p99},
            "lag_ms": {"max": max_lag.as_secs_f64() * 1e3, "end": end_lag.as_secs_f64() * 1e3},
            "frames_delivered": delivered, "frames_dropped": dropped, "close_all_s": close_s,
        }),
    }
}

fn main() {
    let quick = quick();
    let secs: i64 = std::env::var("VERBATIM_CAPACITY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2 } else { 10 });
    let steps: Vec<usize> = std::env::var("VERBATIM_CAPACITY_STEPS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            if quick {
                vec![2]
            } else {
                vec![10, 25, 50, 100, 200, 300, 400, 500, 600, 800]
            }
        });
    let events = sim_call_events(4, MediaTime::from_secs(secs), 7, "none");
    let frames: u64 = events
        .iter()
        .filter(|e| matches!(e.event, IngestEvent::Audio(_)))
        .count() as u64;
    let call_rounds = rounds(&events);
    let pinned = pin_to_cpu(1);
    let dir = scratch_root();
    println!(
        "capacity: 4-speaker calls of {secs} s ({frames} frames, {} rounds each), one thread{}; output under {}",
        call_rounds.len(),
        if pinned { " pinned to CPU 1" } else { " (not pinned)" },
        dir.display()
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load.trim());
    let mut results = Vec::new();
    let mut best = 0;
    for n in steps {
        let r = step(n, &call_rounds, frames, "cap");
        results.push(r.json);
        if !r.sustained {
            break;
        }
        best = r.n;
    }
    println!("capacity: {best} calls sustained in real time on one core (budget >= 400)");
    let name = if dir.starts_with("/dev/shm") {
        "capacity-tmpfs"
    } else {
        "capacity"
    };
    save_result(
        name,
        &json!({
            "call_secs": secs, "output_root": dir.display().to_string(), "pinned": pinned,
            "load_at_start": load.trim(), "sustained_calls": best, "steps": results,
        }),
    );
    let _ = std::fs::remove_dir_all(scratch_root());
}

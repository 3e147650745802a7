//! Capacity: how many 4-speaker audio calls one core records in real time.
//!
//! The main thread pins itself to one CPU **before** creating the sinks, then runs N `CallRecorder`s, each
//! writing through its own `ThreadedSink<FolderSink>` (as `verbatim record` and the gRPC service do: the folder
//! sink — 4 stems, `mixed.wav`, Opus fMP4, signed manifest — runs on a writer thread per call behind a bounded
//! queue). Linux threads inherit their creator's CPU mask, so the N writer threads share the media thread's
//! core: the figure is "one core" for everything, media work and writing (checked from
//! `/proc/self/task/*/status` and printed).
//!
//! Every 20 ms round (paced by the wall clock: round r is due at t0 + (r+1)·20 ms, when its `AudioMediaBuffer`
//! would have been handed over) the media thread gives each call that call's events of one 20 ms slot,
//! round-robin. Calls are staggered by up to 49 rounds so their once-a-second fsyncs and fragment writes do
//! not all land in the same round.
//!
//! Measured per N:
//! * per-call tick on the media thread: the time to hand one call its slot's events (recorder work, the copy
//!   into a PCM block and the queue push; a writer thread preempting the media thread shows here too);
//! * round time (all N calls) and lag (how late a round finished after it was due);
//! * process CPU time (all threads: media + writers, including the final drain) per recorded second, and the
//!   media thread's share;
//! * writer lag: commands queued but not yet written, per call, sampled every round (max and at the end);
//! * writer back-pressure waits (the queue was full: the writer could not keep up);
//! * context switches of all threads (voluntary ≈ sleeps/wake-ups) per second.
//!
//! Frames dropped = frames handed to the recorders minus frames written (no impairment, so any difference is a
//! loss) plus frames an ingest queue of 4,096 events would have refused, given the worst backlog seen.
//!
//! N "is sustained" when: zero frames dropped, zero back-pressure waits, per-call tick p99 < 5 ms, the media
//! thread keeps up (lag at the end < 100 ms, never > 1 s) and the writers keep up (never more than 50 commands
//! = 1 s of call waiting in a call's writer queue; the queue holds 4,096, so a lagging writer would not
//! cause back-pressure waits within a 10 s call). The ramp stops at the first N that is not sustained.
//!
//! The calls (issue 12): by default each is a planned 4-person stand-up of 30 s (`MeetingInput::standup`: the
//! meeting simulator; people join over the first minute, so in 30 s one or two of them talk and the others are
//! silent or not there yet, as in most 30 s of a real meeting); `VERBATIM_CAPACITY_INPUT=synthetic` gives the
//! earlier input, four synthetic speakers talking 45 % of the time in spurts of 0.8–3.5 s, pauses of 0.4–5 s, 10 s calls. Every frame the
//! simulator delivered must reach a recorder and be written.
//!
//! `cargo bench -p verbatim-benches --bench capacity` (a few minutes). Environment:
//! `VERBATIM_BENCH_DIR=/dev/shm` writes to tmpfs (fsync then costs nothing: the CPU-bound figure);
//! `VERBATIM_CAPACITY_STEPS=100,200,300` chooses the ramp; `VERBATIM_CAPACITY_SECS=30` the call length;
//! `VERBATIM_CAPACITY_POLL_MS=5` the writer threads' poll interval (default: `WriterOptions::default()`, 10 ms);
//! `VERBATIM_CAPACITY_KEEP_GOING=1` runs every step even after a failure;
//! `VERBATIM_BENCH_QUICK=1` (or `--quick` / `--test`) runs N = 2 calls of 10 s (synthetic: 2 s) to check that it
//! works.

use std::time::{Duration, Instant};

use bot_adapter::ingest::IngestEvent;
use media_core::MediaTime;
use serde_json::json;
use verbatim::engine::{CallRecorder, RecorderConfig};
use verbatim::sink::FolderSink;
use verbatim::writer_thread::{ThreadedSink, WriterOptions, WriterPool};
use verbatim_benches::{
    close_folder_with, context_switches, folder_sink, meeting_call_events, pin_to_cpu,
    process_cpu_ns, quantile, quick, rounds, save_result, scratch_dir, scratch_root,
    sim_call_events, stop_threaded, thread_affinities, thread_cpu_ns, threaded_folder_sink,
    writer_counters_meta, MeetingInput,
};

const ROUND: Duration = Duration::from_millis(20);
const QUEUE_CAPACITY: usize = 4096;
/// Writer keeps up: never more than this many commands (20 ms ticks: 1 s of call) waiting per call. A call's
/// start (participants added) and end (the late window's ticks flushed at once) queue ~12 at once by design.
const WRITER_MAX_BACKLOG: u64 = 50;

struct Call {
    rec: CallRecorder,
    sink: ThreadedSink<FolderSink>,
    offset: usize,
}

struct StepResult {
    n: usize,
    sustained: bool,
    json: serde_json::Value,
}

fn writer_backlog(calls: &[Call]) -> u64 {
    calls
        .iter()
        .map(|c| {
            let w = c.sink.counters();
            w.queued.saturating_sub(w.handled)
        })
        .max()
        .unwrap_or(0)
}

fn step(
    n: usize,
    call_rounds: &[Vec<IngestEvent>],
    writer: WriterOptions,
    pool_threads: usize,
    tag: &str,
    frames_per_call: u64,
) -> StepResult {
    let stagger = 50.min(call_rounds.len());
    let setup_t = Instant::now();
    // Pool threads are created here, on the pinned thread, so they inherit its CPU mask too.
    let pool =
        (pool_threads > 0).then(|| WriterPool::new(pool_threads, writer).expect("writer pool"));
    let mut calls: Vec<Call> = (0..n)
        .map(|i| {
            let dir = scratch_dir(&format!("{tag}-{n}/call-{i}"));
            let sink = match &pool {
                Some(p) => ThreadedSink::spawn_in(folder_sink(&dir), p).expect("writer pool"),
                None => threaded_folder_sink(&dir, writer),
            };
            Call {
                rec: CallRecorder::new(RecorderConfig::default()),
                sink,
                offset: i % stagger,
            }
        })
        .collect();
    let setup_s = setup_t.elapsed().as_secs_f64();
    let affinity = thread_affinities();
    let total_rounds = call_rounds.len() + stagger;
    let mut call_tick_ms: Vec<f64> = Vec::with_capacity(n * call_rounds.len());
    let mut round_ms: Vec<f64> = Vec::with_capacity(total_rounds);
    let mut max_lag = Duration::ZERO;
    let mut end_lag = Duration::ZERO;
    let mut max_backlog_rounds = 0usize;
    let mut max_writer_backlog = 0u64;
    let mut end_writer_backlog = 0u64;
    let (vol0, invol0) = context_switches();
    let proc0 = process_cpu_ns();
    let media0 = thread_cpu_ns();
    let t0 = Instant::now();
    for r in 0..total_rounds {
        let due = t0 + ROUND * (r as u32 + 1);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let start = Instant::now();
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
        let lag = end.saturating_duration_since(due);
        max_lag = max_lag.max(lag);
        end_lag = lag;
        // Rounds that became due while this one was being handled wait in the calls' ingest queues.
        let backlog = (end.saturating_duration_since(due).as_micros() / ROUND.as_micros()) as usize;
        max_backlog_rounds = max_backlog_rounds.max(backlog);
        end_writer_backlog = writer_backlog(&calls);
        max_writer_backlog = max_writer_backlog.max(end_writer_backlog);
    }
    let wall = t0.elapsed();
    let media_cpu = (thread_cpu_ns() - media0) as f64 / 1e9;
    let (vol1, invol1) = context_switches();
    let loop_cpu = (process_cpu_ns() - proc0) as f64 / 1e9;

    // Stop every writer (each writes what is still queued), then close the folders.
    let drain_t = Instant::now();
    let mut stopped = Vec::with_capacity(n);
    let mut waits = 0u64;
    let mut wait_us = 0u64;
    let mut high_water = 0u64;
    let mut allocated = 0u64;
    for c in calls {
        let (inner, wc) = stop_threaded(c.sink);
        waits += wc.backpressure_waits;
        wait_us += wc.backpressure_wait_us;
        high_water = high_water.max(wc.queue_high_water);
        allocated += wc.pcm_blocks_allocated;
        stopped.push((c.rec, inner, wc));
    }
    let drain_s = drain_t.elapsed().as_secs_f64();
    let cpu = (process_cpu_ns() - proc0) as f64 / 1e9;

    let mut dropped_in_recorder = 0u64;
    let mut delivered = 0u64;
    let close_t = Instant::now();
    for (rec, inner, wc) in stopped {
        let s = rec.summary();
        for p in &s.participants {
            delivered += p.stats.delivered;
            dropped_in_recorder += p.stats.delivered - p.stats.written;
        }
        close_folder_with(inner, &rec, writer_counters_meta(&wc));
    }
    let close_s = close_t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(scratch_root().join(format!("{tag}-{n}")));
    let max_events_per_round = call_rounds.iter().map(Vec::len).max().unwrap_or(0);
    let worst_queue = (max_backlog_rounds + 1) * max_events_per_round;
    let dropped_queue = worst_queue.saturating_sub(QUEUE_CAPACITY);
    // Frames that never reached a recorder count as dropped too: the recordings must be whole.
    let never_handed = (frames_per_call * n as u64).saturating_sub(delivered);
    let dropped = dropped_in_recorder + dropped_queue as u64 + never_handed;

    let tick_p50 = quantile(&mut call_tick_ms, 0.50);
    let tick_p99 = quantile(&mut call_tick_ms, 0.99);
    let tick_max = quantile(&mut call_tick_ms, 1.0);
    let round_p50 = quantile(&mut round_ms, 0.50);
    let round_p99 = quantile(&mut round_ms, 0.99);
    let round_max = quantile(&mut round_ms, 1.0);
    let keeps_up = end_lag < Duration::from_millis(100) && max_lag < Duration::from_secs(1);
    let writers_keep_up = max_writer_backlog <= WRITER_MAX_BACKLOG;
    let sustained = dropped == 0 && waits == 0 && tick_p99 < 5.0 && keeps_up && writers_keep_up;
    let recorded_s = call_rounds.len() as f64 * 0.02 * n as f64;
    let wall_s = wall.as_secs_f64();
    let vol_per_s = (vol1.saturating_sub(vol0)) as f64 / wall_s;
    let invol_per_s = (invol1.saturating_sub(invol0)) as f64 / wall_s;
    let pinned_all = affinity.len() == 1;
    println!(
        "N={n:>4}  call tick p50 {tick_p50:6.3} p99 {tick_p99:7.3} max {tick_max:8.2} ms | round p50 {round_p50:7.2} \
         p99 {round_p99:7.2} max {round_max:8.2} ms | lag max {:7.1} end {:6.1} ms | writer backlog max {max_writer_backlog} \
         end {end_writer_backlog}, back-pressure waits {waits} | dropped {dropped} of {delivered} | process CPU {:.3} \
         ms per recorded s (media thread {:.3}), {:.0} % of a core | switches {vol_per_s:.0}+{invol_per_s:.0}/s | {}",
        max_lag.as_secs_f64() * 1e3,
        end_lag.as_secs_f64() * 1e3,
        cpu * 1e3 / recorded_s,
        media_cpu * 1e3 / recorded_s,
        loop_cpu / wall_s * 100.0,
        if sustained { "sustained" } else { "NOT sustained" }
    );
    if !pinned_all {
        println!("  warning: threads are not all on one CPU: {affinity:?}");
    }
    StepResult {
        n,
        sustained,
        json: json!({
            "n": n, "sustained": sustained, "rounds": total_rounds, "wall_s": wall_s,
            "process_cpu_s": cpu, "media_thread_cpu_s": media_cpu,
            "cpu_ms_per_recorded_s": cpu * 1e3 / recorded_s,
            "media_cpu_ms_per_recorded_s": media_cpu * 1e3 / recorded_s,
            "core_share_during_run": loop_cpu / wall_s,
            "call_tick_ms": {"p50": tick_p50, "p99": tick_p99, "max": tick_max},
            "round_ms": {"p50": round_p50, "p99": round_p99, "max": round_max},
            "lag_ms": {"max": max_lag.as_secs_f64() * 1e3, "end": end_lag.as_secs_f64() * 1e3},
            "writer_backlog": {"max": max_writer_backlog, "end": end_writer_backlog},
            "backpressure_waits": waits, "backpressure_wait_us": wait_us,
            "writer_queue_high_water": high_water, "pcm_blocks_allocated": allocated,
            "context_switches_per_s": {"voluntary": vol_per_s, "involuntary": invol_per_s},
            "frames_delivered": delivered, "frames_dropped": dropped,
            "setup_s": setup_s, "drain_s": drain_s, "close_all_s": close_s,
            "threads_by_affinity": affinity.iter().map(|(l, c)| json!({"cpus": l, "threads": c})).collect::<Vec<_>>(),
        }),
    }
}

fn main() {
    let quick = quick();
    let synthetic = std::env::var("VERBATIM_CAPACITY_INPUT").is_ok_and(|v| v == "synthetic");
    let secs: i64 = std::env::var("VERBATIM_CAPACITY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(match (quick, synthetic) {
            (true, true) => 2,
            // Nobody speaks in a stand-up's first seconds: 10 s holds the first update's start.
            (true, false) => 10,
            (false, true) => 10,
            (false, false) => 30,
        });
    let steps: Vec<usize> = std::env::var("VERBATIM_CAPACITY_STEPS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            if quick {
                vec![2]
            } else {
                vec![100, 200, 300, 400, 500, 600]
            }
        });
    let keep_going = std::env::var("VERBATIM_CAPACITY_KEEP_GOING").is_ok_and(|v| v == "1");
    let mut writer = WriterOptions::default();
    if let Some(ms) = std::env::var("VERBATIM_CAPACITY_POLL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        writer.poll_interval = Duration::from_millis(ms);
    }
    // Writers: a shared pool of this many threads (as `verbatim listen` runs its calls), 0 = a thread per call
    // (as `verbatim record` runs its one recording).
    let pool_threads: usize = std::env::var("VERBATIM_CAPACITY_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (events, input) = if synthetic {
        (
            sim_call_events(4, MediaTime::from_secs(secs), 7, "none"),
            "4 synthetic speakers, pauses of 0.4-5 s".to_string(),
        )
    } else {
        let m = MeetingInput::standup(4, MediaTime::from_secs(secs));
        (meeting_call_events(&m).0, m.label())
    };
    let frames: u64 = events
        .iter()
        .filter(|e| matches!(e.event, IngestEvent::Audio(_)))
        .count() as u64;
    assert!(
        frames > 0,
        "the calls send no audio: nothing would be measured"
    );
    let call_rounds = rounds(&events);
    // Pinned before any sink exists: every writer thread inherits this mask.
    let pinned = pin_to_cpu(1);
    let dir = scratch_root();
    println!(
        "capacity: calls of {secs} s ({input}; {frames} frames, {} rounds each); media thread{} and {} \
         (queue {}, poll {:?}); output under {}",
        call_rounds.len(),
        if pinned { " pinned to CPU 1" } else { " (not pinned)" },
        if pool_threads == 0 {
            "one writer thread per call".to_string()
        } else {
            format!("a pool of {pool_threads} writer thread(s) shared by the calls")
        },
        writer.queue_capacity,
        writer.poll_interval,
        dir.display()
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load.trim());
    let mut results = Vec::new();
    let mut best = 0;
    let mut failed = false;
    for n in steps {
        let r = step(n, &call_rounds, writer, pool_threads, "cap", frames);
        results.push(r.json);
        if !r.sustained {
            failed = true;
            if !keep_going {
                break;
            }
        } else if !failed {
            best = r.n;
        }
    }
    println!("capacity: {best} calls sustained in real time on one core (budget >= 400)");
    let name = match (dir.starts_with("/dev/shm"), synthetic) {
        (true, false) => "capacity-tmpfs",
        (false, false) => "capacity",
        (true, true) => "capacity-tmpfs-synthetic",
        (false, true) => "capacity-synthetic",
    };
    save_result(
        name,
        &json!({
            "call_secs": secs, "input": input, "frames_per_call": frames, "output_root": dir.display().to_string(), "pinned": pinned,
            "writer_poll_ms": writer.poll_interval.as_secs_f64() * 1e3,
            "writer_queue_capacity": writer.queue_capacity,
            "load_at_start": load.trim(), "sustained_calls": best, "steps": results,
        }),
    );
    let _ = std::fs::remove_dir_all(scratch_root());
}

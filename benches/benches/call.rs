//! End to end, audio: the CPU cost of recording a 4-speaker Teams call, per recorded second.
//!
//! One iteration records a whole simulated 30 s call (4 synthetic speakers, `bot_adapter::sim`): the ingest
//! events (made once, beforehand, through the real `Ingest` push API) are fed to a `CallRecorder` writing into
//! the real `FolderSink` (4 stems + `mixed.wav` + Opus mix in fragmented MP4 + signed manifest +
//! `metadata.json`) in a fresh folder under the temp dir, on this one thread: no worker thread, no queue.
//! Folder creation and closing (metadata, manifest signing, fsyncs) are inside the measurement. The figure is
//! the thread's CPU time (user + system; time blocked in fsync is not CPU) divided by 30.
//!
//! Also: the core alone (recorder + tracks + mixer into a sink that discards), and the folder sink under
//! `teams-x3` impairments (3x Microsoft's network limits: jitter, loss, bursts, reordering, duplicates).
//!
//! And the folder sink on its writer thread (`ThreadedSink<FolderSink>`, as `verbatim record` runs it), measured
//! with the **process's** CPU time (all threads: the bench thread, the writer thread and its start and stop;
//! group `call_threaded`). The call is fed as fast as possible, so the writer thread is rarely idle: this
//! counts the work moved to the thread plus the hand-over (block copy, queue), not the cost of an idle writer
//! polling in real time (200 wake-ups a second at the default 5 ms poll), which `--bench capacity` measures.
//!
//! `cargo bench -p verbatim-benches --bench call`.

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion};
use media_core::MediaTime;
use verbatim::engine::{CallRecorder, RecorderConfig};
use verbatim_benches::{
    close_folder, criterion_config, folder_sink, print_budget_table, record_threaded, scratch_dir,
    scratch_root, sim_call_events, wall_clock, CpuTime, NullSink, ThreadCpu, TimedEvent,
};

static RUN: AtomicU64 = AtomicU64::new(0);

fn record_folder(events: Vec<TimedEvent>, dir: std::path::PathBuf) {
    let mut sink = folder_sink(&dir);
    let mut rec = CallRecorder::new(RecorderConfig::default());
    for e in events {
        rec.handle(e.event, &mut sink).expect("record");
    }
    assert!(rec.is_ended());
    close_folder(sink, &rec);
}

fn fresh_dir() -> std::path::PathBuf {
    let n = RUN.fetch_add(1, Ordering::Relaxed);
    if n > 0 {
        let _ = std::fs::remove_dir_all(scratch_root().join(format!("call-{}", n - 1)));
    }
    scratch_dir(&format!("call-{n}"))
}

fn threaded_benches<M: Measurement>(c: &mut Criterion<M>) {
    let clean = sim_call_events(4, MediaTime::from_secs(30), 7, "none");
    let mut g = c.benchmark_group("call_threaded");
    g.sample_size(10);
    g.bench_function("folder_threaded_4spk_30s", |b| {
        b.iter_batched(
            || (clean.clone(), fresh_dir()),
            |(events, dir)| {
                record_threaded(events, &dir);
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(scratch_root());
}

fn call_benches<M: Measurement>(c: &mut Criterion<M>) {
    let secs = 30;
    let clean = sim_call_events(4, MediaTime::from_secs(secs), 7, "none");
    let x3 = sim_call_events(4, MediaTime::from_secs(secs), 7, "teams-x3");
    let mut g = c.benchmark_group("call");
    g.sample_size(10);

    g.bench_function("core_4spk_30s_null_sink", |b| {
        b.iter_batched(
            || clean.clone(),
            |events| {
                let mut sink = NullSink::default();
                let mut rec = CallRecorder::new(RecorderConfig::default());
                for e in events {
                    let _ = rec.handle(e.event, &mut sink);
                }
                assert_eq!(sink.mix_samples, secs as u64 * 16_000);
                sink
            },
            BatchSize::PerIteration,
        )
    });
    for (id, events) in [
        ("folder_4spk_30s", &clean),
        ("folder_4spk_30s_teams_x3", &x3),
    ] {
        g.bench_function(id, |b| {
            b.iter_batched(
                || (events.clone(), fresh_dir()),
                |(events, dir)| record_folder(events, dir),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(scratch_root());
}

fn main() {
    let wall = wall_clock();
    if wall {
        let mut c = criterion_config(Criterion::default());
        call_benches(&mut c);
        c.final_summary();
    } else {
        let mut c = criterion_config(Criterion::default().with_measurement(ThreadCpu::new()));
        call_benches(&mut c);
        c.final_summary();
    }
    print_budget_table(
        Some("call"),
        if wall { "wall time" } else { "thread CPU time" },
    );
    if wall {
        let mut c = criterion_config(Criterion::default());
        threaded_benches(&mut c);
        c.final_summary();
    } else {
        let mut c = criterion_config(Criterion::default().with_measurement(CpuTime::process()));
        threaded_benches(&mut c);
        c.final_summary();
    }
    print_budget_table(
        Some("call_threaded"),
        if wall {
            "wall time"
        } else {
            "process CPU time, all threads"
        },
    );
}

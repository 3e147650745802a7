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
//! The same three, and the threaded one, on a long-silence input (issue 12): a planned 4-person stand-up
//! (`MeetingInput::standup`, the meeting simulator of `verbatim record --simulate --meeting standup`) of
//! 5 minutes, where each person gives a 45–120 s update and is silent for minutes otherwise (20 s in quick
//! mode). Every iteration checks the recording is whole: every frame delivered is written (frames delivered =
//! the simulator's frames delivered; without impairment nothing dropped). The figure is per recorded second.
//!
//! And the folder sink on its writer thread (`ThreadedSink<FolderSink>`, as `verbatim record` runs it), measured
//! with the **process's** CPU time (all threads: the bench thread, the writer thread and its start and stop;
//! group `call_threaded`). The call is fed as fast as possible, so the writer thread is rarely idle: this
//! counts the work moved to the thread plus the hand-over (block copy, queue), not the cost of an idle writer
//! polling in real time (100 wake-ups a second at the default 10 ms poll), which `--bench capacity` measures.
//!
//! `cargo bench -p verbatim-benches --bench call`.

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion};
use media_core::MediaTime;
use verbatim::engine::{CallRecorder, RecorderConfig};
use verbatim_benches::{
    close_folder, criterion_config, folder_sink, meeting_call_events, print_budget_table, quick,
    record_threaded, scratch_dir, scratch_root, sim_call_events, wall_clock, CpuTime, MeetingInput,
    NullSink, ThreadCpu, TimedEvent,
};

static RUN: AtomicU64 = AtomicU64::new(0);

fn record_folder(events: Vec<TimedEvent>, dir: std::path::PathBuf, whole: Option<u64>) {
    let mut sink = folder_sink(&dir);
    let mut rec = CallRecorder::new(RecorderConfig::default());
    for e in events {
        rec.handle(e.event, &mut sink).expect("record");
    }
    assert!(rec.is_ended());
    if let Some(delivered) = whole {
        assert_whole(&rec, delivered);
    }
    close_folder(sink, &rec);
}

/// A figure counts only if the recording is whole: the recorder was handed every frame the simulator
/// delivered and wrote every one of them.
fn assert_whole(rec: &CallRecorder, delivered: u64) {
    let s = rec.summary();
    let got: u64 = s.participants.iter().map(|p| p.stats.delivered).sum();
    let written: u64 = s.participants.iter().map(|p| p.stats.written).sum();
    assert_eq!(got, delivered, "frames handed to the recorder");
    assert_eq!(
        written, delivered,
        "frames written: the recording is not whole"
    );
}

/// The long-silence meeting of these benches: 4-person stand-up, 5 min (20 s in quick mode, under other
/// bench ids so that a quick run never stands in for the full figure), and the ids' suffix.
fn meeting() -> (MeetingInput, &'static str) {
    if quick() {
        (
            MeetingInput::standup(4, MediaTime::from_secs(20)),
            "20s_quick",
        )
    } else {
        (MeetingInput::standup(4, MediaTime::from_secs(300)), "5min")
    }
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
    let (input, suffix) = meeting();
    let (standup, _) = meeting_call_events(&input);
    let standup_id = format!("folder_threaded_standup_4p_{suffix}");
    let mut g = c.benchmark_group("call_threaded");
    g.sample_size(10);
    for (id, events) in [
        ("folder_threaded_4spk_30s", &clean),
        (standup_id.as_str(), &standup),
    ] {
        g.bench_function(id, |b| {
            b.iter_batched(
                || (events.clone(), fresh_dir()),
                |(events, dir)| {
                    record_threaded(events, &dir);
                },
                BatchSize::PerIteration,
            )
        });
    }
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
                |(events, dir)| record_folder(events, dir, None),
                BatchSize::PerIteration,
            )
        });
    }

    let (input, suffix) = meeting();
    println!("long-silence input: {}", input.label());
    let (standup, report) = meeting_call_events(&input);
    let delivered: u64 = report.participants.iter().map(|p| p.delivered).sum();
    let (standup_x3, _) = meeting_call_events(&input.clone().impaired("teams-x3"));
    let msecs = (input.duration.ticks() / 10_000_000) as u64;
    g.bench_function(format!("core_standup_4p_{suffix}_null_sink"), |b| {
        b.iter_batched(
            || standup.clone(),
            |events| {
                let mut sink = NullSink::default();
                let mut rec = CallRecorder::new(RecorderConfig::default());
                for e in events {
                    let _ = rec.handle(e.event, &mut sink);
                }
                assert_eq!(sink.mix_samples, msecs * 16_000);
                assert_whole(&rec, delivered);
                sink
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function(format!("folder_standup_4p_{suffix}"), |b| {
        b.iter_batched(
            || (standup.clone(), fresh_dir()),
            |(events, dir)| record_folder(events, dir, Some(delivered)),
            BatchSize::PerIteration,
        )
    });
    g.bench_function(format!("folder_standup_4p_{suffix}_teams_x3"), |b| {
        b.iter_batched(
            || (standup_x3.clone(), fresh_dir()),
            |(events, dir)| record_folder(events, dir, None),
            BatchSize::PerIteration,
        )
    });
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

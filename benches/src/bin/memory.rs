//! Memory over a very long call: does resident memory stay flat through a simulated 25-hour 4-speaker call?
//!
//! `--input meeting` (the default since issue 12): a planned 4-person stand-up as long as `--hours`
//! (`MeetingInput::standup`, streamed by `MeetingStream` one simulator event at a time: each person gives a
//! 45–120 s update in turn and is silent for minutes otherwise, a re-join with new MSIs, mute), fed to the
//! recorder as fast as it can on this thread. The simulator's own memory is in the figure. At the end every
//! frame the simulator delivered must have been written.
//!
//! `--input loop` (the earlier input): the call is streamed, never held in memory: a 10 s simulated 4-speaker meeting (`bot_adapter::sim`, made
//! once through the real ingest push API) is replayed in a loop with every reference and sender timestamp
//! shifted by the loop's offset, so the recorder sees one continuous call (continuous sender clocks, the same
//! speech pattern every 10 s, roster once at the start, the call end after the last loop). The recorder runs
//! as fast as it can on this thread.
//!
//! ```text
//! cargo run --release -p verbatim-benches --bin memory -- --hours 25 --sink null     # core only
//! cargo run --release -p verbatim-benches --bin memory -- --hours 25 --sink null --input loop
//! VERBATIM_BENCH_DIR=/dev/shm \
//! cargo run --release -p verbatim-benches --bin memory -- --hours 2 --sink folder    # real folder sink
//! ```
//! (a 25 h stem at 16 kHz is ~2.9 GB; the folder run writes 5 such files plus the MP4, so it is run shorter.)
//! Prints resident memory (VmRSS) at the start, every `--every` simulated minutes, and at the end.

use std::time::Instant;

use bot_adapter::ingest::IngestEvent;
use media_core::{MediaTime, SourceTimestamp};
use serde_json::json;
use verbatim::engine::{CallRecorder, RecorderConfig, RecordingSink};
use verbatim_benches::{
    close_folder, folder_sink, rss_kib, save_result, scratch_dir, scratch_root, sim_call_events,
    MeetingInput, MeetingStream, NullSink,
};

fn shift(ts: SourceTimestamp, by: u64) -> SourceTimestamp {
    if ts.is_unknown() {
        ts
    } else {
        SourceTimestamp::new(ts.ticks() + by)
    }
}

fn run<S: RecordingSink>(
    sink: &mut S,
    hours: f64,
    every_min: f64,
) -> (CallRecorder, Vec<(f64, u64)>, f64) {
    let period_s = 10i64;
    let base = sim_call_events(4, MediaTime::from_secs(period_s), 5, "none");
    let period = (period_s * 10_000_000) as u64;
    let loops = (hours * 3600.0 / period_s as f64).ceil() as u64;
    let mut rec = CallRecorder::new(RecorderConfig::default());
    let mut samples = vec![(0.0, rss_kib())];
    let mut next_sample = every_min * 60.0;
    let t = Instant::now();
    let mut last_ref = SourceTimestamp::UNKNOWN;
    for l in 0..loops {
        let by = l * period;
        for e in &base {
            let ev = match &e.event {
                IngestEvent::Tick {
                    reference,
                    arrival,
                    speakers,
                } => IngestEvent::Tick {
                    reference: shift(*reference, by),
                    arrival: arrival.saturating_add(MediaTime::from_ticks(by as i64)),
                    speakers: *speakers,
                },
                IngestEvent::Audio(f) => {
                    let mut f = f.clone();
                    f.timing.timestamp = shift(f.timing.timestamp, by);
                    f.timing.reference = shift(f.timing.reference, by);
                    f.timing.arrival = f
                        .timing
                        .arrival
                        .saturating_add(MediaTime::from_ticks(by as i64));
                    IngestEvent::Audio(f)
                }
                IngestEvent::Roster { .. } if l > 0 => continue,
                IngestEvent::DominantSpeaker { reference, event } => IngestEvent::DominantSpeaker {
                    reference: shift(*reference, by),
                    event: *event,
                },
                IngestEvent::CallEnded { reference } => {
                    last_ref = shift(*reference, by);
                    continue;
                }
                other => other.clone(),
            };
            if rec.handle(ev, sink).is_err() {
                panic!("sink failed");
            }
        }
        let at_s = ((l + 1) * period_s as u64) as f64;
        if at_s >= next_sample {
            samples.push((at_s, rss_kib()));
            next_sample += every_min * 60.0;
        }
    }
    if rec
        .handle(
            IngestEvent::CallEnded {
                reference: last_ref,
            },
            sink,
        )
        .is_err()
    {
        panic!("sink failed at the end");
    }
    samples.push((loops as f64 * period_s as f64, rss_kib()));
    (rec, samples, t.elapsed().as_secs_f64())
}

/// Records a streamed stand-up of `hours` into `sink`; returns the recorder, the RSS samples, the run time
/// and the frames the simulator delivered.
fn run_meeting<S: RecordingSink>(
    sink: &mut S,
    hours: f64,
    every_min: f64,
) -> (CallRecorder, Vec<(f64, u64)>, f64, u64) {
    let input = MeetingInput::standup(4, MediaTime::from_secs((hours * 3600.0).round() as i64));
    println!("input: {}", input.label());
    let mut stream = MeetingStream::new(&input);
    let mut rec = CallRecorder::new(RecorderConfig::default());
    let mut samples = vec![(0.0, rss_kib())];
    let mut next_sample = every_min * 60.0;
    let t = Instant::now();
    for e in stream.by_ref() {
        let at_s = e.at.as_secs_f64();
        if at_s >= next_sample {
            samples.push((at_s, rss_kib()));
            next_sample += every_min * 60.0;
        }
        if rec.handle(e.event, sink).is_err() {
            panic!("sink failed");
        }
    }
    samples.push((input.duration.as_secs_f64(), rss_kib()));
    let delivered = stream
        .report()
        .participants
        .iter()
        .map(|p| p.delivered)
        .sum();
    (rec, samples, t.elapsed().as_secs_f64(), delivered)
}

/// Runs the chosen input into `sink`: (recorder, RSS samples, run time, frames the simulator delivered, if
/// known).
fn run_input<S: RecordingSink>(
    sink: &mut S,
    meeting: bool,
    hours: f64,
    every_min: f64,
) -> (CallRecorder, Vec<(f64, u64)>, f64, Option<u64>) {
    if meeting {
        let (rec, samples, elapsed, delivered) = run_meeting(sink, hours, every_min);
        (rec, samples, elapsed, Some(delivered))
    } else {
        let (rec, samples, elapsed) = run(sink, hours, every_min);
        (rec, samples, elapsed, None)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let hours: f64 = arg("--hours").and_then(|v| v.parse().ok()).unwrap_or(25.0);
    let sink_kind = arg("--sink").unwrap_or_else(|| "null".into());
    let every: f64 = arg("--every")
        .and_then(|v| v.parse().ok())
        .unwrap_or((hours * 60.0 / 10.0).max(1.0));
    let input = arg("--input").unwrap_or_else(|| "meeting".into());
    let meeting = match input.as_str() {
        "meeting" => true,
        "loop" => false,
        other => {
            eprintln!("--input {other}: expected meeting or loop");
            std::process::exit(2);
        }
    };
    println!(
        "memory: {hours} h 4-speaker call ({input}), sink {sink_kind}; RSS at start {} KiB",
        rss_kib()
    );
    let (rec, samples, elapsed, delivered, detail) = if sink_kind == "folder" {
        let dir = scratch_dir("memory");
        let mut sink = folder_sink(&dir);
        let (rec, samples, elapsed, delivered) = run_input(&mut sink, meeting, hours, every);
        close_folder(sink, &rec);
        let size: u64 = walk_size(&dir);
        let detail = format!(
            "folder {} ({:.2} GB written)",
            dir.display(),
            size as f64 / 1e9
        );
        let _ = std::fs::remove_dir_all(scratch_root());
        (rec, samples, elapsed, delivered, detail)
    } else {
        let mut sink = NullSink::default();
        let (rec, samples, elapsed, delivered) = run_input(&mut sink, meeting, hours, every);
        let detail = format!("{} mix samples discarded", sink.mix_samples);
        (rec, samples, elapsed, delivered, detail)
    };
    let s = rec.summary();
    let got: u64 = s.participants.iter().map(|p| p.stats.delivered).sum();
    let written: u64 = s.participants.iter().map(|p| p.stats.written).sum();
    println!(
        "whole: {written} frames written of {got} handed to the recorder{}",
        delivered.map_or(String::new(), |d| format!(
            " ({d} delivered by the simulator)"
        ))
    );
    if written != got || delivered.is_some_and(|d| d != got) {
        eprintln!("NOT WHOLE: the figure is void");
        std::process::exit(1);
    }
    println!("{:>10}  {:>10}", "call time", "RSS KiB");
    for (at, kib) in &samples {
        println!("{:>9.2}h  {:>10}", at / 3600.0, kib);
    }
    let gaps: u64 = s.participants.iter().map(|p| p.gaps.count).sum();
    println!(
        "recorded {:.2} h in {elapsed:.1} s ({:.0}x real time); {} ticks; {} participants; {} gaps listed; \
         {} dominant-speaker changes; {detail}",
        s.duration.as_secs_f64() / 3600.0,
        s.duration.as_secs_f64() / elapsed,
        s.ticks,
        s.participants.len(),
        gaps,
        s.dominant_speaker_changes
    );
    save_result(
        &format!("memory-{sink_kind}{}", if meeting { "" } else { "-loop" }),
        &json!({
            "hours": hours, "sink": sink_kind, "input": input, "elapsed_s": elapsed,
            "frames_written": written,
            "rss_kib": samples.iter().map(|(a, k)| json!({"at_h": a / 3600.0, "kib": k})).collect::<Vec<_>>(),
            "gaps_listed": gaps, "dominant_changes": s.dominant_speaker_changes, "detail": detail,
        }),
    );
}

fn walk_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                total += walk_size(&p);
            } else if let Ok(m) = e.metadata() {
                total += m.len();
            }
        }
    }
    total
}

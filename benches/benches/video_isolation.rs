//! Video off the media thread (issue 14, item 4): does an audio-only call keep its tick when it shares a
//! media thread with a video call whose composite is recorded?
//!
//! One media thread (this one) hands 20 four-person audio stand-ups (planned meetings, seeds 7..26) their
//! events of each 20 ms slot, round-robin, paced by the wall clock as `capacity` does; in the second run a
//! 10-person stand-up with cameras and a screen share (synthetic H.264 clips, 320x180 at 10 fps) and the
//! 1280x720 15 fps composite shares the thread. Its NV12-free passthrough frames are written by the media
//! thread; decoding, composing and encoding run on the call's video thread (`verbatim::video_worker`).
//! Sinks discard (the media thread's own work only; `capacity` measures the writers).
//!
//! Printed per run: the audio calls' per-call tick (time to hand one call its slot) p50/p99/max, the video
//! call's tick p99, the media thread's CPU and the whole process's (the video thread is the difference), and
//! the composite frames made. Not pinned: the video thread must be free to run on another core.
//!
//! `cargo bench -p verbatim-benches --bench video_isolation` (about a minute; `VERBATIM_ISOLATION_SECS`
//! sets the call length, default 20; `VERBATIM_BENCH_QUICK=1` runs 3 s calls to check that it works).

use std::time::{Duration, Instant};

use bot_adapter::ingest::IngestEvent;
use bot_adapter::sim::meeting::MeetingKind;
use codecs::composite::CompositorConfig;
use media_core::MediaTime;
use serde_json::json;
use verbatim::composite::CompositeVideo;
use verbatim::engine::{CallRecorder, RecorderConfig};
use verbatim_benches::{
    meeting_call_events, process_cpu_ns, quantile, quick, rounds, save_result, spec_call_events,
    thread_cpu_ns, MeetingInput, NullSink,
};

const AUDIO_CALLS: usize = 20;
const ROUND: Duration = Duration::from_millis(20);

struct Figures {
    audio_p50: f64,
    audio_p99: f64,
    audio_max: f64,
    video_p99: f64,
    media_cpu: f64,
    process_cpu: f64,
    composite_frames: u64,
}

fn run(audio: &[Vec<Vec<IngestEvent>>], video: Option<&[Vec<IngestEvent>]>) -> Figures {
    let mut calls: Vec<(CallRecorder, NullSink)> = audio
        .iter()
        .map(|_| {
            (
                CallRecorder::new(RecorderConfig::default()),
                NullSink::default(),
            )
        })
        .collect();
    let mut vcall = video.map(|_| {
        let c = CompositeVideo::new(
            CompositorConfig::default(),
            verbatim::listen::COMPOSITE_BITRATE,
        )
        .expect("composite");
        (
            CallRecorder::new(RecorderConfig::default()).with_composite(c),
            NullSink::default(),
        )
    });
    let total = audio
        .iter()
        .map(Vec::len)
        .chain(video.map(<[_]>::len))
        .max()
        .unwrap_or(0);
    let (mut audio_ms, mut video_ms) = (Vec::new(), Vec::new());
    let (proc0, media0) = (process_cpu_ns(), thread_cpu_ns());
    let t0 = Instant::now();
    for r in 0..total {
        let due = t0 + ROUND * (r as u32 + 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if let (Some((rec, sink)), Some(events)) = (vcall.as_mut(), video.and_then(|v| v.get(r))) {
            let t = Instant::now();
            for e in events {
                rec.handle(e.clone(), sink).expect("record");
            }
            video_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        for ((rec, sink), call) in calls.iter_mut().zip(audio) {
            let Some(events) = call.get(r) else {
                continue;
            };
            let t = Instant::now();
            for e in events {
                rec.handle(e.clone(), sink).expect("record");
            }
            audio_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let media_cpu = (thread_cpu_ns() - media0) as f64 / 1e9;
    let mut composite_frames = 0;
    if let Some((mut rec, mut sink)) = vcall {
        rec.end_now(&mut sink).expect("end");
        composite_frames = rec.summary().composite.map_or(0, |c| c.frames);
    }
    Figures {
        audio_p50: quantile(&mut audio_ms, 0.5),
        audio_p99: quantile(&mut audio_ms, 0.99),
        audio_max: quantile(&mut audio_ms, 1.0),
        video_p99: quantile(&mut video_ms, 0.99),
        media_cpu,
        process_cpu: (process_cpu_ns() - proc0) as f64 / 1e9,
        composite_frames,
    }
}

fn main() {
    let secs: i64 = if quick() {
        3
    } else {
        std::env::var("VERBATIM_ISOLATION_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20)
    };
    let d = MediaTime::from_secs(secs);
    let audio: Vec<Vec<Vec<IngestEvent>>> = (0..AUDIO_CALLS as u64)
        .map(|i| {
            let input = MeetingInput {
                seed: 7 + i,
                ..MeetingInput::standup(4, d)
            };
            rounds(&meeting_call_events(&input).0)
        })
        .collect();
    let clips = verbatim::sources::MeetingClips::new(10).expect("camera clips");
    let spec =
        verbatim::sources::meeting(MeetingKind::Standup, 10, d, 3, Some(&clips)).expect("meeting");
    let video = rounds(&spec_call_events(spec));
    println!("video isolation: {AUDIO_CALLS} audio stand-ups of {secs} s on one media thread");
    let mut out = serde_json::Map::new();
    for (name, v) in [
        ("audio only", None),
        ("with a 10-person video call + composite", Some(&video[..])),
    ] {
        let f = run(&audio, v);
        println!(
            "  {name:<42} audio call tick p50 {:6.3} p99 {:6.3} max {:7.3} ms | video call tick p99 {:6.3} ms | \
             media thread {:5.2} s CPU, process {:5.2} s | composite frames {}",
            f.audio_p50, f.audio_p99, f.audio_max, f.video_p99, f.media_cpu, f.process_cpu, f.composite_frames
        );
        out.insert(
            name.to_string(),
            json!({
                "audio_tick_ms": {"p50": f.audio_p50, "p99": f.audio_p99, "max": f.audio_max},
                "video_tick_p99_ms": f.video_p99,
                "media_thread_cpu_s": f.media_cpu,
                "process_cpu_s": f.process_cpu,
                "composite_frames": f.composite_frames,
                "seconds": secs,
            }),
        );
        if v.is_some() {
            assert_eq!(
                f.composite_frames,
                secs as u64 * 15,
                "every composite frame made"
            );
        }
    }
    save_result("video_isolation", &serde_json::Value::Object(out));
}

//! The recording driver: runs a meeting source and the recorder core on their own threads.
//!
//! ```text
//!  source thread (SDK stand-in)           media worker thread
//!  Simulator ─► Ingest::push_* ──SPSC──► IngestReceiver ─► CallRecorder ─► WavFolderSink
//! ```
//!
//! The source thread plays the part of the Teams SDK's event handlers: paced in real time with `realtime`, or
//! as fast as the worker takes events otherwise (it waits for room in the queue instead of dropping, since a
//! replay has no real-time deadline). The worker never blocks on the source: it drains the queue and backs off
//! briefly when it is empty.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use bot_adapter::ingest::{self, Ingest, IngestReceiver};
use bot_adapter::sim::{MeetingSpec, SdkEvent, SimError, SimReport, Simulator};
use media_core::MediaTime;

use crate::engine::{CallRecorder, CallSummary, RecorderConfig};
use crate::metadata::{self, CallInfo, CountersMeta};
use crate::sink::{SinkError, WavFolderSink};

/// How to record.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// The recording folder (created).
    pub out: PathBuf,
    /// Pace the source in real time (otherwise as fast as possible).
    pub realtime: bool,
    /// Show progress on the terminal (only when stderr is one).
    pub progress: bool,
    /// Ingest queue capacity in events.
    pub queue_capacity: usize,
    /// Recorder tuning.
    pub recorder: RecorderConfig,
    /// What goes into `metadata.json`'s `call` section.
    pub call: CallInfo,
}

impl RecordOptions {
    /// Defaults for recording into `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        RecordOptions {
            out: out.into(),
            realtime: false,
            progress: false,
            queue_capacity: 4096,
            recorder: RecorderConfig::default(),
            call: CallInfo::default(),
        }
    }
}

/// What a finished recording reports.
#[derive(Debug)]
pub struct RecordOutcome {
    /// The recorder's account.
    pub summary: CallSummary,
    /// The simulator's ground truth.
    pub sim: SimReport,
    /// The folder written.
    pub out: PathBuf,
    /// Wall time taken.
    pub elapsed: Duration,
}

/// Why a recording could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The meeting could not be simulated.
    #[error("simulation: {0}")]
    Sim(#[from] SimError),
    /// A file could not be written.
    #[error("output: {0}")]
    Sink(#[from] SinkError),
    /// metadata.json could not be written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A thread of the recorder died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Records a simulated meeting into `opts.out`.
///
/// # Errors
/// See [`RecordError`]. On an output error the files written so far stay valid and `metadata.json` says
/// `failed`.
pub fn record_simulation(
    spec: MeetingSpec,
    opts: &RecordOptions,
) -> Result<RecordOutcome, RecordError> {
    let sim = Simulator::new(spec)?;
    std::fs::create_dir_all(&opts.out).map_err(|e| RecordError::Io {
        path: opts.out.clone(),
        source: e,
    })?;
    let sink = WavFolderSink::create(&opts.out, opts.recorder.track.format)?;
    let (ingest, rx) = ingest::channel(opts.queue_capacity);
    let started_wall = SystemTime::now();
    let t0 = Instant::now();
    let recorder = CallRecorder::new(opts.recorder);

    let worker = std::thread::Builder::new()
        .name("verbatim-media".into())
        .spawn(move || media_worker(rx, recorder, sink))
        .map_err(|e| RecordError::Internal(e.to_string()))?;
    let show = opts.progress && std::io::stderr().is_terminal();
    let (report, ingest) = run_source(sim, ingest, opts.realtime, show);
    let (recorder, sink, rx_counters, sink_error) = worker
        .join()
        .map_err(|_| RecordError::Internal("media worker panicked".into()))?;
    let finish_error = sink.finish().err();
    let summary = recorder.summary();
    let error = sink_error.or(finish_error.map(|e| e.to_string()));
    let status = if error.is_some() {
        "failed"
    } else {
        "completed"
    };
    let counters = CountersMeta {
        ingest_queue_full: rx_counters.0,
        ingest_wrong_audio_length: ingest.counters().wrong_audio_length.load(Ordering::Relaxed),
        ingest_bad_video: ingest.counters().bad_video.load(Ordering::Relaxed),
        ingest_queue_high_water: rx_counters.1,
        ..Default::default()
    };
    let md = metadata::from_summary(
        &summary,
        opts.call.clone(),
        started_wall,
        opts.recorder.track.format,
        status,
        error.clone(),
        counters,
    );
    write_json(&opts.out.join("metadata.json"), &md)?;
    if let Some(e) = error {
        return Err(RecordError::Internal(format!("recording failed: {e}")));
    }
    Ok(RecordOutcome {
        summary,
        sim: report,
        out: opts.out.clone(),
        elapsed: t0.elapsed(),
    })
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), RecordError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| RecordError::Io {
        path: path.into(),
        source: e.into(),
    })?;
    std::fs::write(path, bytes).map_err(|e| RecordError::Io {
        path: path.into(),
        source: e,
    })
}

/// The media worker: drains the ingest queue into the recorder until the call ends.
fn media_worker(
    mut rx: IngestReceiver,
    mut recorder: CallRecorder,
    mut sink: WavFolderSink,
) -> (CallRecorder, WavFolderSink, (u64, u64), Option<String>) {
    let mut idle = 0u32;
    let mut error = None;
    loop {
        match rx.pop() {
            Some(ev) => {
                idle = 0;
                if let Err(e) = recorder.handle(ev, &mut sink) {
                    error = Some(e.to_string());
                    break;
                }
                if recorder.is_ended() {
                    break;
                }
            }
            None => {
                idle = idle.saturating_add(1);
                if idle < 64 {
                    std::hint::spin_loop();
                } else if idle < 128 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
        }
    }
    let counters = (
        rx.counters().queue_full.load(Ordering::Relaxed),
        rx.queue_stats().high_water(),
    );
    (recorder, sink, counters, error)
}

/// Plays the simulator into the ingest queue (the SDK's role), then returns the ground truth.
fn run_source(
    mut sim: Simulator,
    mut ingest: Ingest,
    realtime: bool,
    show: bool,
) -> (SimReport, Ingest) {
    let start = Instant::now();
    let mut last_shown = Instant::now();
    let mut last_ref = None;
    for ev in sim.by_ref() {
        if realtime {
            let due = start + Duration::from_nanos(ev.at.ticks().max(0) as u64 * 100);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        } else {
            // A replay may wait for the worker instead of dropping.
            while ingest.free() < ingest::MAX_EVENTS_PER_PUSH {
                std::thread::yield_now();
            }
        }
        let now =
            MediaTime::from_ticks((start.elapsed().as_nanos() / 100).min(i64::MAX as u128) as i64);
        match ev.event {
            SdkEvent::Audio(buf) => {
                last_ref = Some(buf.timestamp);
                ingest.push_audio(now, buf);
            }
            SdkEvent::Video(buf) => {
                let r = last_ref.unwrap_or(ev.reference);
                ingest.push_video(now, r, buf);
            }
            SdkEvent::Roster(change) => {
                ingest.push_roster(ev.reference, change);
            }
            SdkEvent::DominantSpeaker(d) => {
                ingest.push_dominant_speaker(ev.reference, d);
            }
            SdkEvent::CallEnded => {
                while ingest.free() == 0 {
                    std::thread::yield_now();
                }
                ingest.push_call_ended(ev.reference);
            }
        }
        if show && last_shown.elapsed() > Duration::from_millis(250) {
            last_shown = Instant::now();
            eprint!("\rrecording… {:>8.1} s of call", ev.at.as_secs_f64());
        }
    }
    if show {
        eprintln!("\rrecording… done                 ");
    }
    (sim.report().clone(), ingest)
}

//! The recording driver: runs a meeting source and the recorder core on their own threads.
//!
//! ```text
//!  source thread (SDK stand-in)           media worker (crate::media_worker)    writer thread
//!  Simulator ─► Ingest::push_* ──SPSC──► IngestReceiver ─► CallRecorder ─► ThreadedSink ─► FolderSink
//! ```
//!
//! The source thread plays the part of the Teams SDK's event handlers: paced in real time with `realtime`, or
//! as fast as the worker takes events otherwise (it waits for room in the queue instead of dropping, since a
//! replay has no real-time deadline). The worker never blocks on the source: it drains the queue and backs off
//! briefly when it is empty.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use bot_adapter::ingest;
use bot_adapter::sim::{Leg, MeetingSpec, SdkEvent, SimError, SimReport, Simulator};
use media_core::MediaTime;

use crate::engine::CallSummary;
use crate::journal::{PauseEnd, PauseStart};
// The live recording (folder, media worker, writer) is the recorder library's; re-exported at its old path.
pub use recorder::live::{LiveRecording, RecordError, RecordOptions};

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

/// Why a simulated meeting could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum SimRecordError {
    /// The meeting could not be simulated.
    #[error("simulation: {0}")]
    Sim(#[from] SimError),
    /// The recording failed (see [`RecordError`]).
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The WORM store could not be set up (the recording was closed `failed` at once).
    #[error("store: {0}")]
    Store(String),
}

/// Records a simulated meeting into `opts.out`.
///
/// # Errors
/// See [`SimRecordError`]. On an output error the files written so far stay valid and `metadata.json` says
/// `failed`.
pub fn record_simulation(
    spec: MeetingSpec,
    opts: &RecordOptions,
) -> Result<RecordOutcome, SimRecordError> {
    record_leg(spec, Leg::FIRST, opts)
}

/// Records leg `leg` of a simulated meeting (as recorder bot `leg.number` receives it, see
/// [`Simulator::new_leg`]) into `opts.out`. `opts.call.leg` names the leg in `metadata.json`.
///
/// # Examples
/// ```no_run
/// use bot_adapter::sim::{synthetic, Impairments, Leg, MeetingSpec};
/// use media_core::MediaTime;
/// use verbatim::record::{record_leg, RecordOptions};
///
/// let d = MediaTime::from_secs(10);
/// let spec = MeetingSpec {
///     participants: synthetic::participants(2, d, 1),
///     duration: Some(d),
///     seed: 1,
///     impairments: Impairments::NONE,
///     screenshares: Vec::new(),
/// };
/// let mut opts = RecordOptions::new("leg2");
/// opts.call.leg = "2".into();
/// let leg = Leg { number: 2, start: Some(MediaTime::from_secs(2)), ..Leg::FIRST };
/// let o = record_leg(spec, leg, &opts)?;
/// assert!(o.summary.duration <= MediaTime::from_secs(8));
/// # Ok::<(), verbatim::record::SimRecordError>(())
/// ```
///
/// # Errors
/// As [`record_simulation`]; a leg the simulator refuses is [`SimRecordError::Sim`].
pub fn record_leg(
    spec: MeetingSpec,
    leg: Leg,
    opts: &RecordOptions,
) -> Result<RecordOutcome, SimRecordError> {
    record_leg_stored(spec, leg, opts, None).0
}

/// [`record_leg`], uploading the folder while it is written to the WORM store `store` (see the `store`
/// crate): the call fails (closed `failed`, with the cause as its status note) when the store's backlog
/// outgrows its bound, and the close waits (bounded) for the last upload. Returns the recording's outcome
/// and the upload's report (`None` without a store, or when the uploader could not start).
///
/// # Examples
/// ```no_run
/// use bot_adapter::sim::{synthetic, Impairments, Leg, MeetingSpec};
/// use media_core::MediaTime;
/// use verbatim::record::{record_leg_stored, RecordOptions};
/// let d = MediaTime::from_secs(10);
/// let spec = MeetingSpec {
///     participants: synthetic::participants(2, d, 1),
///     duration: Some(d),
///     seed: 1,
///     impairments: Impairments::NONE,
///     screenshares: Vec::new(),
/// };
/// let cfg = store::StoreConfig::new(store::StoreUrl::parse("s3://calls/eu").unwrap());
/// let (outcome, upload) = record_leg_stored(spec, Leg::FIRST, &RecordOptions::new("rec-1"), Some(&cfg));
/// assert!(outcome.is_ok() && upload.unwrap().complete);
/// ```
pub fn record_leg_stored(
    spec: MeetingSpec,
    leg: Leg,
    opts: &RecordOptions,
    store: Option<&store::StoreConfig>,
) -> (
    Result<RecordOutcome, SimRecordError>,
    Option<store::UploadReport>,
) {
    let sim = match Simulator::new_leg(spec, leg) {
        Ok(s) => s,
        Err(e) => return (Err(e.into()), None),
    };
    let t0 = Instant::now();
    let mut live = match LiveRecording::start(opts) {
        Ok(l) => l,
        Err(e) => return (Err(e.into()), None),
    };
    let uploader = match store
        .map(|c| store::Uploader::start(c, &opts.out))
        .transpose()
    {
        Ok(u) => u,
        Err(e) => {
            let why = format!("the store cannot be used: {e}");
            let _ = live.fail(why.clone());
            return (Err(SimRecordError::Store(why)), None);
        }
    };
    let show = opts.progress && std::io::stderr().is_terminal();
    let report = run_source(sim, &mut live, opts, show, uploader.as_ref());
    let closed = match (
        uploader.as_ref().and_then(store::Uploader::failure),
        &report,
    ) {
        (Some(why), _) => live.fail(why),
        // The source failed before the call's end: nothing more comes, the worker must not wait for it.
        (None, Err(_)) => live.interrupt(),
        (None, Ok(_)) => live.finish(),
    };
    let upload = uploader.map(store::Uploader::finish);
    let outcome = report.and_then(|sim| {
        Ok(RecordOutcome {
            summary: closed?,
            sim,
            out: opts.out.clone(),
            elapsed: t0.elapsed(),
        })
    });
    (outcome, upload)
}

/// Plays the simulator into the ingest queue (the SDK's role), then returns the ground truth.
fn run_source(
    mut sim: Simulator,
    live: &mut LiveRecording,
    opts: &RecordOptions,
    show: bool,
    upload: Option<&store::Uploader>,
) -> Result<SimReport, SimRecordError> {
    let realtime = opts.realtime;
    let start = Instant::now();
    let mut last_shown = Instant::now();
    let mut pauses = opts.pauses.iter().peekable();
    let mut paused_until: Option<MediaTime> = None;
    let wall = || humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    for mut ev in sim.by_ref() {
        if realtime {
            let due = start + Duration::from_nanos(ev.at.ticks().max(0) as u64 * 100);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        } else {
            // A replay may wait for the worker instead of dropping (unless the worker is over: a failed
            // recording takes nothing more, and the source stops).
            live.wait_for_room(ingest::MAX_EVENTS_PER_PUSH);
        }
        // The store's backlog is full: the call ends now, `failed` (the caller closes it with the cause).
        if !live.is_running() || upload.is_some_and(|u| u.failure().is_some()) {
            break;
        }
        // Scheduled pauses (`record --pause`): as a bot's Pause/Resume, media withheld in between.
        if let Some(end) = paused_until.filter(|end| ev.at >= *end) {
            paused_until = None;
            live.resume(PauseEnd {
                at: end,
                resumed_utc: wall(),
                resumed_by: "verbatim record --pause".into(),
                reason: "scheduled resume".into(),
            })?;
        }
        if paused_until.is_none() {
            if let Some(&&(from, to)) = pauses.peek().filter(|(from, _)| ev.at >= *from) {
                pauses.next();
                paused_until = Some(to);
                live.pause(PauseStart {
                    at: from,
                    requested_utc: wall(),
                    requested_by: "verbatim record --pause".into(),
                    reason: "scheduled pause".into(),
                })?;
            }
        }
        if paused_until.is_some() {
            match &mut ev.event {
                SdkEvent::Audio(buf) => buf.withhold(),
                SdkEvent::Video(_) => continue,
                _ => {}
            }
        }
        let ingest = live.ingest();
        let now =
            MediaTime::from_ticks((start.elapsed().as_nanos() / 100).min(i64::MAX as u128) as i64);
        match ev.event {
            SdkEvent::Audio(buf) => {
                ingest.push_audio(now, buf);
            }
            SdkEvent::Video(buf) => {
                ingest.push_video(now, ev.reference, buf);
            }
            SdkEvent::Roster(change) => {
                ingest.push_roster(ev.reference, change);
            }
            SdkEvent::DominantSpeaker(d) => {
                ingest.push_dominant_speaker(ev.reference, d);
            }
            SdkEvent::CallEnded => {
                live.wait_for_room(1);
                live.ingest().push_call_ended(ev.reference);
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
    Ok(sim.report().clone())
}

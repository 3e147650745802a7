//! Shared helpers for Verbatim's benchmarks (`cargo bench -p verbatim-benches`) and bench binaries.
//!
//! * a criterion [`Measurement`] of the benchmark thread's CPU time ([`ThreadCpu`]), and the criterion
//!   configuration with a quick mode for CI ([`quick`], [`criterion_config`]);
//! * reading criterion's `estimates.json` back ([`estimate_ns`]) and saving the bench binaries' own results
//!   ([`save_result`]) so `report` can print every budget beside its figure;
//! * a simulated Teams call as a list of ingest events ([`sim_call_events`]: synthetic speakers whose pauses
//!   are under 7 s), produced without threads; and a meeting shaped like a real one, where most people are
//!   silent for minutes ([`meeting_call_events`], or streamed without holding it: [`MeetingStream`]);
//! * sinks for the recorder core: [`NullSink`] (discards) and the real folder sink in a scratch folder
//!   ([`folder_sink`]), also on its writer thread as `verbatim record` runs it ([`threaded_folder_sink`],
//!   closed with [`close_threaded`]);
//! * process figures: resident memory ([`rss_kib`]), thread and process CPU time ([`thread_cpu_ns`],
//!   [`process_cpu_ns`], the criterion measurement [`CpuTime`], of the thread or the process), pinning
//!   ([`pin_to_cpu`]) and the CPU affinity of every thread ([`thread_affinities`]).

use std::path::PathBuf;
use std::time::Duration;

use bot_adapter::ingest::{self, IngestEvent};
use bot_adapter::sim::meeting::{MeetingKind, MeetingPlan};
use bot_adapter::sim::{synthetic, Impairments, MeetingSpec, SdkEvent, SimReport, Simulator};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::Criterion;
use media_core::MediaTime;

mod budget;
mod sinks;
pub use budget::*;
pub use sinks::*;

/// True in quick mode: `VERBATIM_BENCH_QUICK=1`, or `--quick` / `--test` on the command line (criterion's
/// own flags: `cargo bench -p verbatim-benches -- --quick`). Benches then only check that they run.
pub fn quick() -> bool {
    std::env::var("VERBATIM_BENCH_QUICK").is_ok_and(|v| v == "1")
        || std::env::args().any(|a| a == "--quick" || a == "--test")
}

/// Criterion as these benches use it: short measurements (the whole `cargo bench` stays under 10 minutes on
/// 2 cores), shorter still in quick mode.
pub fn criterion_config<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    let c = if std::env::var("VERBATIM_BENCH_QUICK").is_ok_and(|v| v == "1") {
        c.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
            .sample_size(10)
    } else {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    };
    c.configure_from_args()
}

/// CPU time of the calling thread in ns (`CLOCK_THREAD_CPUTIME_ID`: user + system time of this thread, not
/// time spent waiting); 0 where the platform has no such clock.
pub fn thread_cpu_ns() -> u64 {
    cpu_time::ThreadTime::try_now()
        .map(|t| u64::try_from(t.as_duration().as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// CPU time of the whole process in ns (user + system, all threads).
pub fn process_cpu_ns() -> u64 {
    cpu_time::ProcessTime::try_now()
        .map(|t| u64::try_from(t.as_duration().as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A criterion measurement of CPU time in ns (formatted like wall time): the benchmark thread's
/// ([`CpuTime::new`]) or the whole process's ([`CpuTime::process`]). On a shared 2-core machine other processes stretch
/// wall time 1.5–2x; CPU time is what the work costs.
pub struct CpuTime {
    now: fn() -> u64,
    wall: WallTime,
}

/// [`CpuTime::new`] measures the benchmark thread's CPU time ([`thread_cpu_ns`]).
pub type ThreadCpu = CpuTime;

impl CpuTime {
    /// The benchmark thread's CPU time (the default measurement of the benches).
    pub fn new() -> Self {
        CpuTime {
            now: thread_cpu_ns,
            wall: WallTime,
        }
    }
    /// The whole process's CPU time ([`process_cpu_ns`]: all threads, including threads that ended during the
    /// iteration): for work split over threads, such as the folder sink on its writer thread.
    pub fn process() -> Self {
        CpuTime {
            now: process_cpu_ns,
            wall: WallTime,
        }
    }
}

impl Default for CpuTime {
    fn default() -> Self {
        Self::new()
    }
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        (self.now)()
    }
    fn end(&self, start: u64) -> u64 {
        (self.now)().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

/// True when the benches should measure wall time (`VERBATIM_BENCH_CLOCK=wall`, or no thread CPU clock).
pub fn wall_clock() -> bool {
    std::env::var("VERBATIM_BENCH_CLOCK").is_ok_and(|v| v == "wall") || thread_cpu_ns() == 0
}

/// Where criterion keeps its results: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the
/// workspace's `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(h);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// Criterion's mean estimate for `group/id`, in ns per iteration (from `new/estimates.json`).
pub fn estimate_ns(group: &str, id: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

/// Saves a bench binary's result as `<criterion dir>/verbatim-results/<name>.json` (read by `report`).
pub fn save_result(name: &str, value: &serde_json::Value) {
    let dir = criterion_dir().join("verbatim-results");
    let _ = std::fs::create_dir_all(&dir);
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    // A quick run (CI) only checks that the bench runs: its figures go beside the full run's, not over them,
    // so `report` keeps showing the last full measurement.
    let name = if quick() {
        format!("{name}-quick")
    } else {
        name.to_string()
    };
    if let Err(e) = std::fs::write(dir.join(format!("{name}.json")), text) {
        eprintln!("could not save {name}.json: {e}");
    }
}

/// A saved bench-binary result (see [`save_result`]).
pub fn load_result(name: &str) -> Option<serde_json::Value> {
    let path = criterion_dir()
        .join("verbatim-results")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// One ingest event and the simulated time (`SimEvent::at`) it is handed over at.
#[derive(Clone, Debug)]
pub struct TimedEvent {
    /// Call time of the hand-over (end of the 20 ms slot for audio).
    pub at: MediaTime,
    /// What the media worker receives.
    pub event: IngestEvent,
}

/// A simulated Teams call: `speakers` synthetic participants for `duration`, through the impairment `spec`,
/// turned into exactly the ingest events the media worker would receive (via the real [`ingest::Ingest`]
/// push API, drained on the same thread: no threads, no clock). Payloads are `Bytes`, so cloning the list is
/// cheap.
///
/// # Panics
/// If the spec does not parse or the simulator refuses it (benchmark set-up).
pub fn sim_call_events(
    speakers: usize,
    duration: MediaTime,
    seed: u64,
    spec: &str,
) -> Vec<TimedEvent> {
    let impairments: Impairments = spec.parse().expect("impairment spec");
    spec_call_events(MeetingSpec {
        participants: synthetic::participants(speakers, duration, seed),
        duration: Some(duration),
        seed,
        impairments,
        screenshares: Vec::new(),
    })
}

/// The long-silence input of the benches: a planned meeting (`verbatim record --simulate --meeting KIND
/// --participants N --duration D --seed S`), where most participants are silent for minutes, late joins,
/// re-joins with new MSIs and mute included (no video).
///
/// # Examples
/// ```
/// use bot_adapter::sim::meeting::MeetingKind;
/// use media_core::MediaTime;
/// use verbatim_benches::MeetingInput;
///
/// let m = MeetingInput::standup(4, MediaTime::from_secs(60));
/// assert_eq!(m.kind, MeetingKind::Standup);
/// assert_eq!(m.label(), "standup, 4 people, 60 s, seed 7, impairments none");
/// ```
#[derive(Clone, Debug)]
pub struct MeetingInput {
    /// The shape of the meeting.
    pub kind: MeetingKind,
    /// How many people.
    pub participants: usize,
    /// How long the call lasts.
    pub duration: MediaTime,
    /// The planner's and the network's seed.
    pub seed: u64,
    /// Impairment spec (`none`, `teams-x3`, ...).
    pub impairments: String,
}

impl MeetingInput {
    /// A stand-up of `participants` people lasting `duration`, seed 7, no impairment: each person gives a
    /// 45–120 s update in turn and is silent for minutes otherwise.
    pub fn standup(participants: usize, duration: MediaTime) -> Self {
        MeetingInput {
            kind: MeetingKind::Standup,
            participants,
            duration,
            seed: 7,
            impairments: "none".into(),
        }
    }

    /// The same meeting through the impairment `spec`.
    pub fn impaired(mut self, spec: &str) -> Self {
        self.impairments = spec.into();
        self
    }

    /// One line saying what the input is (for the benches' output).
    pub fn label(&self) -> String {
        format!(
            "{}, {} people, {} s, seed {}, impairments {}",
            self.kind,
            self.participants,
            self.duration.ticks() / 10_000_000,
            self.seed,
            self.impairments
        )
    }

    /// The simulator of this meeting.
    ///
    /// # Panics
    /// If the plan, the spec or the impairments are refused (benchmark set-up).
    pub fn simulator(&self) -> Simulator {
        let mut spec = MeetingPlan::new(self.kind, self.participants, self.duration, self.seed)
            .build()
            .expect("meeting plan");
        spec.impairments = self.impairments.parse().expect("impairment spec");
        Simulator::new(spec).expect("simulator")
    }
}

/// Any meeting (e.g. a planned one with cameras from `verbatim::sources::meeting`) turned into the ingest
/// events the media worker would receive, as [`sim_call_events`] does.
///
/// # Panics
/// If the simulator refuses the meeting (benchmark set-up).
pub fn spec_call_events(spec: MeetingSpec) -> Vec<TimedEvent> {
    let sim = Simulator::new(spec).expect("simulator");
    let (mut tx, mut rx) = ingest::channel(64);
    let mut out = Vec::new();
    let mut last_ref = None;
    for ev in sim {
        push_sdk_event(&mut tx, &mut last_ref, ev.event, ev.at, ev.reference);
        while let Some(event) = rx.pop() {
            out.push(TimedEvent { at: ev.at, event });
        }
    }
    out
}

/// A planned meeting ([`MeetingInput`]) turned into the ingest events the media worker would receive, as
/// [`sim_call_events`] does, with the simulator's report (what each participant sent).
///
/// # Panics
/// If the simulator refuses the meeting (benchmark set-up).
pub fn meeting_call_events(input: &MeetingInput) -> (Vec<TimedEvent>, SimReport) {
    let mut stream = MeetingStream::new(input);
    let events: Vec<TimedEvent> = stream.by_ref().collect();
    (events, stream.report().clone())
}

/// A planned meeting streamed as ingest events, one simulator event at a time: nothing of the call is held
/// in memory (for hours-long runs such as the `memory` binary).
pub struct MeetingStream {
    sim: Simulator,
    tx: ingest::Ingest,
    rx: ingest::IngestReceiver,
    last_ref: Option<media_core::SourceTimestamp>,
    pending: std::collections::VecDeque<TimedEvent>,
}

impl MeetingStream {
    /// Starts streaming `input`.
    ///
    /// # Panics
    /// If the simulator refuses the meeting (benchmark set-up).
    pub fn new(input: &MeetingInput) -> Self {
        let (tx, rx) = ingest::channel(64);
        MeetingStream {
            sim: input.simulator(),
            tx,
            rx,
            last_ref: None,
            pending: std::collections::VecDeque::new(),
        }
    }

    /// What the simulator has sent so far (complete once the stream is exhausted).
    pub fn report(&self) -> &SimReport {
        self.sim.report()
    }
}

impl Iterator for MeetingStream {
    type Item = TimedEvent;
    fn next(&mut self) -> Option<TimedEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            let ev = self.sim.next()?;
            push_sdk_event(
                &mut self.tx,
                &mut self.last_ref,
                ev.event,
                ev.at,
                ev.reference,
            );
            while let Some(event) = self.rx.pop() {
                self.pending.push_back(TimedEvent { at: ev.at, event });
            }
        }
    }
}

/// Hands one simulator event to the ingest push API as the SDK's callbacks would.
fn push_sdk_event(
    tx: &mut ingest::Ingest,
    last_ref: &mut Option<media_core::SourceTimestamp>,
    event: SdkEvent,
    at: MediaTime,
    reference: media_core::SourceTimestamp,
) {
    match event {
        SdkEvent::Audio(buf) => {
            *last_ref = Some(buf.timestamp);
            tx.push_audio(at, buf);
        }
        SdkEvent::Video(buf) => {
            tx.push_video(at, last_ref.unwrap_or(reference), buf);
        }
        SdkEvent::Roster(change) => {
            tx.push_roster(reference, change);
        }
        SdkEvent::DominantSpeaker(d) => {
            tx.push_dominant_speaker(reference, d);
        }
        SdkEvent::CallEnded => {
            tx.push_call_ended(reference);
        }
    }
}

/// Splits a call's events into 20 ms rounds: round `k` holds the events handed over at `at` in
/// `((k)·20 ms, (k+1)·20 ms]` (one `AudioMediaBuffer` slot and whatever roster/speaker events came with it).
pub fn rounds(events: &[TimedEvent]) -> Vec<Vec<IngestEvent>> {
    let slot = 200_000i64;
    let mut out: Vec<Vec<IngestEvent>> = Vec::new();
    for e in events {
        let k = ((e.at.ticks() - 1).max(0) / slot) as usize;
        if out.len() <= k {
            out.resize_with(k + 1, Vec::new);
        }
        out[k].push(e.event.clone());
    }
    out
}

/// Resident set size of this process in KiB (`VmRSS` in `/proc/self/status`), 0 if unknown.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Pins the calling thread to CPU `cpu` (Linux `sched_setaffinity`); false if that failed.
pub fn pin_to_cpu(cpu: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}

/// The CPU affinity of every thread of this process, as `(Cpus_allowed_list, number of threads)` pairs from
/// `/proc/self/task/*/status` (empty where there is no `/proc`). Linux threads inherit their creator's mask,
/// so threads started after [`pin_to_cpu`] share its CPU: this checks it.
pub fn thread_affinities() -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        let Some(list) = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_string())
        else {
            continue;
        };
        match out.iter_mut().find(|(l, _)| *l == list) {
            Some((_, n)) => *n += 1,
            None => out.push((list, 1)),
        }
    }
    out
}

/// Context switches of every thread of this process so far: (voluntary, involuntary), summed over
/// `/proc/self/task/*/status` (threads that ended are not counted; (0, 0) where there is no `/proc`). A
/// thread that sleeps and wakes up makes one voluntary switch per wake-up.
pub fn context_switches() -> (u64, u64) {
    let mut v = 0;
    let mut inv = 0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for t in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        for l in status.lines() {
            let num = |rest: &str| rest.trim().parse::<u64>().unwrap_or(0);
            if let Some(rest) = l.strip_prefix("voluntary_ctxt_switches:") {
                v += num(rest);
            } else if let Some(rest) = l.strip_prefix("nonvoluntary_ctxt_switches:") {
                inv += num(rest);
            }
        }
    }
    (v, inv)
}

/// The `q` quantile (0..=1) of `v` (sorted in place), nearest rank.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threaded_folder_records_a_call_and_closes() {
        let events = sim_call_events(2, MediaTime::from_secs(2), 3, "none");
        let dir = scratch_dir("test-threaded");
        let wc = record_threaded(events, &dir);
        assert_eq!(wc.backpressure_waits, 0);
        assert!(dir.join("manifest.json").exists());
        let md = std::fs::read_to_string(dir.join("metadata.json")).expect("metadata");
        assert!(md.contains("writer_queue_high_water"), "{md}");
        let _ = std::fs::remove_dir_all(scratch_root());
    }

    #[test]
    fn threads_and_their_switches_are_read_from_proc() {
        if !std::path::Path::new("/proc/self/task").exists() {
            return;
        }
        let t = std::thread::spawn(|| std::thread::sleep(Duration::from_millis(20)));
        let aff = thread_affinities();
        assert!(aff.iter().map(|(_, n)| n).sum::<usize>() >= 2, "{aff:?}");
        t.join().expect("thread");
        assert!(context_switches().0 > 0);
    }

    #[test]
    fn a_meeting_streams_exactly_the_frames_the_simulator_delivered() {
        let m = MeetingInput::standup(4, MediaTime::from_secs(20));
        let (events, report) = meeting_call_events(&m);
        let audio = events
            .iter()
            .filter(|e| matches!(e.event, IngestEvent::Audio(_)))
            .count() as u64;
        let delivered: u64 = report.participants.iter().map(|p| p.delivered).sum();
        assert!(audio > 100, "{audio} frames");
        assert_eq!(audio, delivered);
        assert_eq!(MeetingStream::new(&m).count(), events.len());
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), 50.0);
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut v, 1.0), 100.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }
}

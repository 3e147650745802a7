//! The media side of a live recording: drains a call's ingest queue into its [`CallRecorder`].
//!
//! ```text
//!  Ingest ──SPSC──► IngestReceiver ─► CallRecorder ─► ThreadedSink ──queue──► writer thread (FolderSink)
//!                   [ a media worker: its own thread, or one of a MediaPool's threads ]
//! ```
//!
//! `verbatim record` gives its one call a thread of its own ([`spawn`]). `verbatim listen` records many calls
//! at once, and a thread per call would wake 500 times a second each to find its queue empty; instead a
//! [`MediaPool`] of a few threads serves every call, each pass draining the queue of every call whose bell
//! was rung since its last step (each push rings the call's own bell, so a call with nothing queued is not
//! looked into; at most [`POOL_BUDGET`] events of one call per pass, so one busy call cannot starve the
//! others), napping 2 ms after a pass with work and sleeping on its bell when no call had anything. Either way the recorder is sans-IO: the media worker only moves events from
//! the queue into it, and its output goes to the writer thread through the bounded queue of the
//! [`ThreadedSink`]. The recorder's key-frame requests go to a [`KeyFrameRelay`] when the call has a bot to
//! ask (`verbatim listen`), and are only counted otherwise.
//!
//! With [`MediaJob::with_journal`] the worker also hands the sink what `metadata.json` needs as it happens
//! (see [`crate::journal`]): a counter snapshot every [`SNAPSHOT_INTERVAL`] of recording time and whenever a
//! participant or video stream is added (one summary and a few allocations then, never per frame), and the
//! pauses and resumes the call's driver sends.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bot_adapter::ingest::IngestReceiver;
use crossbeam::channel::{self, Receiver, Sender};

use media_core::wake::Doorbell;
use media_core::MediaTime;

use crate::engine::{CallRecorder, KeyFrameRequest, RecordingSink};
use crate::journal::{SinkControl, Snapshot, SnapshotBase, SNAPSHOT_INTERVAL};
use crate::latency::LatencyHistogram;
use crate::media_stats::{CallShare, MediaStats};
use crate::metadata::CountersMeta;
use crate::pool::{Job as PoolJob, Nap, Pool, Step, IDLE_WAIT};
use crate::sink::FolderSink;
use crate::writer_thread::ThreadedSink;

/// What a media worker hands back when its call is over: the recorder, the sink (still running its writer),
/// the ingest queue's counters (refused as full, high water) and the first error, if any.
pub type WorkerResult = (
    CallRecorder,
    ThreadedSink<FolderSink>,
    (u64, u64),
    Option<String>,
);

/// How long a media pool thread naps after a pass with work, so that events come in batches. Frames wait
/// for the late window (200 ms) anyway, so 2 ms adds little to the hand-off → written delay.
pub const IDLE_NAP: Duration = Duration::from_millis(2);

/// At most this many events of one call per pass of a pool thread.
pub const POOL_BUDGET: usize = 64;

/// Where a live recording's key-frame requests go: the task or thread that talks to the bot (`verbatim
/// listen`'s call task, the C ABI's message queue). Offering must never wait.
pub trait KeyFrameOutlet: Send + Sync {
    /// Hands a request over without waiting; false when it could not be taken (full or closed).
    fn try_offer(&self, r: KeyFrameRequest) -> bool;

    /// Requests taken but not yet handed to the bot (counted as not relayed if the call ends first).
    fn queued(&self) -> u64 {
        0
    }
}

/// Carries a live recording's key-frame requests from its media worker to a [`KeyFrameOutlet`] (the side
/// that talks to the bot, which sends each as a `KeyFrameRequest`).
///
/// The worker offers each request without waiting: a request the outlet cannot take is dropped and counted
/// (the stream asks again while it still waits, see [`crate::video`]), so a bot or task that does not keep
/// up never slows the media path. The receiving side counts what it could hand to the bot ([`Self::note`]).
///
/// ```
/// use recorder::engine::KeyFrameRequest;
/// use recorder::media_worker::{KeyFrameOutlet, KeyFrameRelay};
///
/// struct Nowhere;
/// impl KeyFrameOutlet for Nowhere {
///     fn try_offer(&self, _: KeyFrameRequest) -> bool {
///         false
///     }
/// }
/// let relay = KeyFrameRelay::new(Nowhere);
/// assert_eq!(relay.counts(), (0, 0));
/// ```
#[derive(Clone)]
pub struct KeyFrameRelay {
    outlet: Arc<dyn KeyFrameOutlet>,
    counters: Arc<RelayCounters>,
}

#[derive(Default)]
struct RelayCounters {
    relayed: AtomicU64,
    not_relayed: AtomicU64,
}

impl KeyFrameRelay {
    /// A relay into `outlet`.
    pub fn new(outlet: impl KeyFrameOutlet + 'static) -> Self {
        KeyFrameRelay {
            outlet: Arc::new(outlet),
            counters: Arc::default(),
        }
    }

    /// Offers a request without waiting; false (counted as not relayed) when the outlet cannot take it.
    pub fn offer(&self, r: KeyFrameRequest) -> bool {
        let ok = self.outlet.try_offer(r);
        if !ok {
            self.note(false);
        }
        ok
    }

    /// The receiving side reports whether it could hand a request to the bot.
    pub fn note(&self, relayed: bool) {
        let c = if relayed {
            &self.counters.relayed
        } else {
            &self.counters.not_relayed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests handed to the bot, and requests that were not: dropped on the way (queue full, bot's stream
    /// full) or still queued (made after the receiving side stopped reading, e.g. while the call's last
    /// events were being recorded after its end).
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counters.relayed.load(Ordering::Relaxed),
            self.counters.not_relayed.load(Ordering::Relaxed) + self.outlet.queued(),
        )
    }
}

impl std::fmt::Debug for KeyFrameRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (relayed, not_relayed) = self.counts();
        f.debug_struct("KeyFrameRelay")
            .field("relayed", &relayed)
            .field("not_relayed", &not_relayed)
            .finish()
    }
}

/// One call's media work, wherever it runs.
pub struct MediaJob {
    rx: IngestReceiver,
    recorder: CallRecorder,
    sink: ThreadedSink<FolderSink>,
    stop: Arc<AtomicBool>,
    /// Set once the job is over (ended, stopped or failed): a source feeding it must stop waiting for room.
    done: Arc<AtomicBool>,
    relay: Option<KeyFrameRelay>,
    error: Option<String>,
    journal: Option<Journal>,
}

/// What [`MediaJob::with_journal`] adds.
struct Journal {
    base: Arc<SnapshotBase>,
    controls: Receiver<SinkControl>,
    /// Recording time of the next snapshot (`None`: the first is due now).
    next: Option<MediaTime>,
    /// Participants and video streams in the last snapshot: a new one is journaled at once.
    streams: (usize, usize),
}

impl MediaJob {
    /// A call's media work: `stop` ends it at the last media time once the queue is empty.
    pub fn new(
        rx: IngestReceiver,
        recorder: CallRecorder,
        sink: ThreadedSink<FolderSink>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        MediaJob {
            rx,
            recorder,
            sink,
            stop,
            done: Arc::new(AtomicBool::new(false)),
            relay: None,
            error: None,
            journal: None,
        }
    }

    /// Journals the call as it goes (see the module docs): counter snapshots made with `base`, and the
    /// pauses and resumes arriving on `controls`.
    pub fn with_journal(
        mut self,
        base: Arc<SnapshotBase>,
        controls: Receiver<SinkControl>,
    ) -> Self {
        self.journal = Some(Journal {
            base,
            controls,
            next: None,
            streams: (0, 0),
        });
        self
    }

    /// Hands the sink the controls waiting and, when due, a counter snapshot.
    fn journal(&mut self, snapshot: bool) -> Result<(), crate::sink::SinkError> {
        let Some(j) = &mut self.journal else {
            return Ok(());
        };
        while let Ok(c) = j.controls.try_recv() {
            self.sink.control(c)?;
        }
        let now = self.recorder.written_until();
        let streams = self.recorder.stream_counts();
        if !snapshot || (j.next.is_some_and(|next| now < next) && streams == j.streams) {
            return Ok(());
        }
        j.streams = streams;
        let step = SNAPSHOT_INTERVAL.ticks().max(1);
        j.next = Some(MediaTime::from_ticks((now.ticks() / step + 1) * step));
        let ingest = self.rx.counters();
        let wc = self.sink.counters();
        let (relayed, not_relayed) = self.relay.as_ref().map_or((0, 0), KeyFrameRelay::counts);
        let counters = CountersMeta {
            ingest_queue_full: ingest.queue_full.load(Ordering::Relaxed),
            ingest_wrong_audio_length: ingest.wrong_audio_length.load(Ordering::Relaxed),
            ingest_bad_video: ingest.bad_video.load(Ordering::Relaxed),
            ingest_queue_high_water: self.rx.queue_stats().high_water(),
            writer_queue_high_water: wc.queue_high_water,
            writer_backpressure_waits: wc.backpressure_waits,
            writer_backpressure_wait_us: wc.backpressure_wait_us,
            writer_discarded_after_error: wc.discarded_after_error,
            keyframe_requests_relayed: relayed,
            keyframe_requests_not_relayed: not_relayed,
            ..CountersMeta::default()
        };
        let snap = Snapshot {
            base: Arc::clone(&j.base),
            summary: self.recorder.summary(),
            pending_gaps: self.recorder.pending_audio_gaps(),
            counters,
        };
        self.sink.control(SinkControl::Snapshot(Box::new(snap)))
    }

    /// A flag set once this job is over (ended, stopped, or its sink failed): whoever feeds the queue must
    /// not wait for room after that.
    pub fn done_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.done)
    }

    /// Names the thread that runs this job: the source's every event rings `bell`.
    pub fn attach(&self, bell: &Arc<Doorbell>) {
        self.rx.attach(Arc::clone(bell));
    }

    /// True when an event waits or a stop was asked for (a sleeping worker's look before it sleeps).
    pub fn has_work(&self) -> bool {
        !self.rx.is_empty() || self.stop.load(Ordering::Acquire)
    }

    /// Relays the recorder's key-frame requests through `relay` (without one they are only counted).
    pub fn with_keyframe_relay(mut self, relay: Option<KeyFrameRelay>) -> Self {
        self.relay = relay;
        self
    }

    fn relay_keyframe_requests(&mut self) {
        for r in self.recorder.take_keyframe_requests() {
            if let Some(relay) = &self.relay {
                relay.offer(r);
            }
        }
    }

    /// Handles up to `budget` events waiting in the queue: [`Step::Worked`] or [`Step::Idle`] (the queue was
    /// empty) while the call goes on, [`Step::Done`] once it is over (ended, stopped, or its sink failed).
    pub(crate) fn poll(&mut self, budget: usize) -> Step {
        let mut step = self.poll_events(budget);
        let done = matches!(step, Step::Done);
        // Once the call is over its pauses still go in; its final counters go to metadata.json at close.
        if let Err(e) = self.journal(!done) {
            self.error.get_or_insert(e.to_string());
            step = Step::Done;
        }
        self.relay_keyframe_requests();
        if matches!(step, Step::Done) {
            self.done.store(true, Ordering::Release);
        }
        step
    }

    fn poll_events(&mut self, budget: usize) -> Step {
        let mut n = 0;
        while n < budget {
            match self.rx.pop() {
                Some(ev) => {
                    n += 1;
                    if let Err(e) = self.recorder.handle(ev, &mut self.sink) {
                        self.error = Some(e.to_string());
                        return Step::Done;
                    }
                    if self.recorder.is_ended() {
                        return Step::Done;
                    }
                    // A snapshot is due: take it now, at the second it is of, not after a longer batch.
                    if self.journal.as_ref().is_some_and(|j| {
                        j.next
                            .is_some_and(|next| self.recorder.written_until() >= next)
                    }) {
                        break;
                    }
                }
                None if self.stop.load(Ordering::Acquire) => {
                    if let Err(e) = self.recorder.end_now(&mut self.sink) {
                        self.error = Some(e.to_string());
                    }
                    return Step::Done;
                }
                None => break,
            }
        }
        if n == 0 {
            Step::Idle
        } else {
            // Room was made: a source waiting for it (a replay) goes on.
            self.rx.wake_producer();
            Step::Worked
        }
    }

    /// The result, once `poll` said `Step::Done`.
    pub fn into_result(self) -> WorkerResult {
        let counters = (
            self.rx.counters().queue_full.load(Ordering::Relaxed),
            self.rx.queue_stats().high_water(),
        );
        (self.recorder, self.sink, counters, self.error)
    }
}

/// Where a live recording's media work runs, and how its result comes back.
pub enum Worker {
    /// A thread of its own.
    Thread(JoinHandle<WorkerResult>),
    /// A [`MediaPool`] thread; the result arrives on this channel.
    Pool(Receiver<WorkerResult>),
}

impl Worker {
    /// Waits for the call's media work to finish.
    ///
    /// # Errors
    /// The thread panicked or the pool went away (bugs), as a message.
    pub fn join(self) -> Result<WorkerResult, String> {
        match self {
            Worker::Thread(h) => h.join().map_err(|_| "media worker panicked".to_string()),
            Worker::Pool(rx) => rx
                .recv()
                .map_err(|_| "the media pool dropped the call".to_string()),
        }
    }
}

/// Runs `job` on a thread of its own, which sleeps on its [`Doorbell`] whenever the queue is empty (the
/// source rings it with every event; a stop is seen within `IDLE_WAIT` (250 ms)).
///
/// # Errors
/// The thread cannot be started.
pub fn spawn(mut job: MediaJob) -> std::io::Result<Worker> {
    let h = std::thread::Builder::new()
        .name("verbatim-media".into())
        .spawn(move || {
            let bell = Doorbell::for_current_thread();
            job.attach(&bell);
            loop {
                match job.poll(POOL_BUDGET) {
                    Step::Done => break,
                    Step::Worked => {}
                    Step::Idle => {
                        bell.wait(|| job.has_work(), IDLE_WAIT);
                    }
                }
            }
            job.into_result()
        })?;
    Ok(Worker::Thread(h))
}

/// Media threads shared by many calls (see the module docs).
pub struct MediaPool {
    pool: Pool<PoolCall>,
    steps: Arc<LatencyHistogram>,
    stats: Arc<MediaStats>,
}

/// A call on a media pool thread: its job, where its result goes, and its share of the node-wide figures.
struct PoolCall {
    job: MediaJob,
    done: Sender<WorkerResult>,
    steps: Arc<LatencyHistogram>,
    stats: Arc<MediaStats>,
    share: CallShare,
}

impl MediaPool {
    /// Starts `threads` media threads (at least one).
    ///
    /// # Errors
    /// A thread cannot be started.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        // After a pass with work, nap before the next: events then come in batches (hundreds of calls wake a
        // thread at most 1 / IDLE_NAP times a second, not once per event). Idle, the threads sleep until rung.
        let nap = Nap {
            length: IDLE_NAP,
            after_work: true,
            rung: true,
            idle: IDLE_WAIT,
        };
        let stats = Arc::new(MediaStats::default());
        let meter: Arc<dyn crate::pool::PassMeter> = stats.clone();
        Ok(MediaPool {
            pool: Pool::new(threads, "verbatim-media", nap, Some(meter))?,
            steps: Arc::new(LatencyHistogram::default()),
            stats,
        })
    }

    /// How long a media thread spent on one call each time that call had work (its queued events handled,
    /// its ticks written to the sink: the per-call tick on a shared media thread), for every call so far.
    pub fn step_times(&self) -> &LatencyHistogram {
        &self.steps
    }

    /// Threads in the pool.
    pub fn threads(&self) -> usize {
        self.pool.len()
    }

    /// The pool's node-wide figures (per-call CPU per pass, queue depths, back-pressure, heartbeat), read by
    /// a metrics endpoint.
    ///
    /// ```
    /// let pool = recorder::media_worker::MediaPool::new(1).unwrap();
    /// assert_eq!(pool.stats().ingest_queued(), 0);
    /// ```
    pub fn stats(&self) -> Arc<MediaStats> {
        Arc::clone(&self.stats)
    }

    /// Gives `job` to the thread with the fewest calls.
    ///
    /// # Errors
    /// The pool has no running thread (a bug), as a message.
    pub fn add(&self, job: MediaJob) -> Result<Worker, String> {
        let (done_tx, done_rx) = channel::bounded(1);
        self.pool
            .add(PoolCall {
                job,
                done: done_tx,
                steps: Arc::clone(&self.steps),
                stats: Arc::clone(&self.stats),
                share: CallShare::default(),
            })
            .map_err(|e| format!("media pool: {e}"))?;
        Ok(Worker::Pool(done_rx))
    }
}

impl std::fmt::Debug for MediaPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPool")
            .field("threads", &self.pool.len())
            .finish()
    }
}

impl PoolJob for PoolCall {
    fn step(&mut self) -> Step {
        // A vDSO clock read, no system call.
        let t = std::time::Instant::now();
        let s = self.job.poll(POOL_BUDGET);
        if s == Step::Worked {
            self.steps.record(t.elapsed());
            // The call's queues as this step left them (a few atomic loads), for the node-wide depths.
            let w = self.job.sink.counters();
            self.share.update(
                &self.stats,
                self.job.rx.len() as u64,
                w.queued.saturating_sub(w.handled),
                w.backpressure_waits,
                w.backpressure_wait_us,
            );
        }
        s
    }

    fn attach(&self, bell: &Arc<Doorbell>) {
        self.job.attach(bell);
    }

    fn finish(mut self) {
        self.share.leave(&self.stats);
        // The owner may have gone (dropped without finish): the sink is then dropped, and its writer still
        // writes out what was queued, as after a crash.
        let _ = self.done.send(self.job.into_result());
    }
}

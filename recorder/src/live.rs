//! A live recording: one call's folder, media worker and writer, and the handle its source pushes into.
//!
//! ```text
//!  the call's source (the SDK's handlers,        media worker (crate::media_worker)    writer thread
//!  a gRPC call task, the C ABI, a simulator)
//!  Ingest::push_* ──SPSC──► IngestReceiver ─► CallRecorder ─► ThreadedSink ─► FolderSink
//! ```
//!
//! [`LiveRecording::start`] creates the folder and starts the threads; the source pushes events through
//! [`LiveRecording::ingest`] (never blocks), ends with `push_call_ended`, then calls
//! [`LiveRecording::finish`], which writes `metadata.json` and closes the signed folder. `verbatim record`,
//! `verbatim listen` and the embedding session (`crate::session`) all record through it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bot_adapter::ingest::{self, Ingest};
use crossbeam::channel::{self, Sender};
use media_core::MediaTime;

use crate::engine::{CallRecorder, CallSummary, RecorderConfig};
use crate::journal::{PauseEnd, PauseStart, SinkControl, SnapshotBase};
use crate::media_worker::{self, KeyFrameRelay, MediaJob, MediaPool, Worker};
use crate::metadata::{self, us, CallInfo, CountersMeta, PauseMeta};
use crate::sink::{FolderSink, SinkError, SinkOptions};
use crate::writer_thread::{ThreadedSink, WriterOptions, WriterPool};

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
    /// The signing key file; `None` = the installation's default key (see [`crate::keys`]).
    pub signing_key: Option<PathBuf>,
    /// Time-stamp every signature checkpoint with this RFC 3161 authority (see [`crate::tsa`]).
    pub tsa_url: Option<String>,
    /// Opus bitrate of the mix in `recording.mp4`.
    pub opus_bitrate_bps: u32,
    /// Also write the lossless `mixed.wav`.
    pub mixed_wav: bool,
    /// Wall clock (Unix ms) of recording time zero; `None`: now. Fixed only to make two recordings of a
    /// simulated call byte-identical (e.g. with and without encryption).
    pub start_utc_ms: Option<i64>,
    /// Encryption at rest: the age recipients (`age1…`) every file is encrypted to; empty: plaintext.
    pub encrypt_to: Vec<String>,
    /// Record the composite meeting video into `recording.mp4` with these settings (and this bitrate).
    pub composite: Option<(codecs::composite::CompositorConfig, u32)>,
    /// The writer thread's queue and polling (see [`crate::writer_thread`]).
    pub writer: WriterOptions,
    /// Writer threads shared with other recordings (`verbatim listen`); `None`: a writer thread of its own.
    pub writer_pool: Option<Arc<WriterPool>>,
    /// Media threads shared with other recordings (`verbatim listen`); `None`: a media thread of its own.
    pub media_pool: Option<Arc<MediaPool>>,
    /// The node's group commit shared with other recordings (`verbatim listen`); `None`: the folder fsyncs
    /// its own files every second.
    pub group_commit: Option<Arc<muxer::group_commit::GroupCommit>>,
    /// Where the recorder's key-frame requests go (`verbatim listen`: to the call's bot); `None`: counted
    /// only (`verbatim record` has no sender to ask).
    pub keyframe_relay: Option<KeyFrameRelay>,
    /// Simulation only: spans of call time (start, end) during which recording is paused, as a bot's
    /// `Pause`/`Resume` would (media written as silence, pauses journaled and listed in metadata).
    pub pauses: Vec<(MediaTime, MediaTime)>,
}

impl RecordOptions {
    /// Defaults for recording into `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        RecordOptions {
            out: out.into(),
            realtime: false,
            progress: false,
            queue_capacity: 4096,
            writer: WriterOptions::default(),
            writer_pool: None,
            media_pool: None,
            group_commit: None,
            keyframe_relay: None,
            pauses: Vec::new(),
            recorder: RecorderConfig::default(),
            call: CallInfo::default(),
            signing_key: None,
            tsa_url: None,
            opus_bitrate_bps: 32_000,
            mixed_wav: true,
            encrypt_to: Vec::new(),
            start_utc_ms: None,
            composite: None,
        }
    }
}

/// Why a recording could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A file could not be written.
    #[error("output: {0}")]
    Sink(#[from] SinkError),
    /// The signing key could not be loaded or created.
    #[error("signing key: {0}")]
    Key(#[from] muxer::integrity::KeyError),
    /// metadata.json could not be written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing failed during the recording (a full disk, an I/O error, a folder gone read-only): the
    /// recording stopped at once. `closed` says what became of the folder.
    #[error("recording failed after {kept_secs:.1} s of media: {cause}; {closed}")]
    Failed {
        /// The first error, naming the file and the cause.
        cause: String,
        /// Seconds of media written before it.
        kept_secs: f64,
        /// The folder's state: closed as `failed` (verifiable), or why it could not be and how to recover it.
        closed: String,
    },
    /// A thread of the recorder died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

/// One call being recorded: a recording folder, a media worker thread, and the [`Ingest`] handle the media
/// source pushes into. Used by `verbatim record` (with the simulator as source), the gRPC service (one per call) and
/// [`crate::session`] (the embedding API).
///
/// The source pushes events, ends with [`Ingest::push_call_ended`], then calls [`LiveRecording::finish`].
/// If the source goes away without an end (a dropped connection), [`LiveRecording::interrupt`] ends the
/// recording at the last media time received and marks it `interrupted`.
pub struct LiveRecording {
    ingest: Ingest,
    worker: Option<Worker>,
    stop: Arc<AtomicBool>,
    /// Set by the media worker once it is over (a failed sink stops it before the call ends).
    done: Arc<AtomicBool>,
    opts: RecordOptions,
    started_wall: SystemTime,
    /// Pauses and resumes to the media worker, which hands them to the sink (see [`crate::journal`]).
    controls: Sender<SinkControl>,
    /// A pause made by [`LiveRecording::pause`] is open.
    paused: bool,
}

impl LiveRecording {
    /// Creates the folder and its files and starts the media worker.
    ///
    /// # Errors
    /// The folder or a file cannot be created, or the thread cannot be started.
    pub fn start(opts: &RecordOptions) -> Result<Self, RecordError> {
        let (key, _) = crate::keys::signing_key(opts.signing_key.as_deref())?;
        let started_wall = match opts.start_utc_ms {
            Some(ms) => SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64),
            None => SystemTime::now(),
        };
        let start_utc_ms = opts.start_utc_ms.unwrap_or_else(|| {
            started_wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        });
        let mut sink = FolderSink::create_with_commit(
            &opts.out,
            key,
            &SinkOptions {
                recording_id: if opts.call.id.is_empty() {
                    "recording".into()
                } else {
                    opts.call.id.clone()
                },
                start_utc_ms,
                format: opts.recorder.track.format,
                opus_bitrate_bps: opts.opus_bitrate_bps,
                mixed_wav: opts.mixed_wav,
                composite: opts.composite.is_some(),
                encrypt_to: opts.encrypt_to.clone(),
            },
            opts.group_commit.as_ref().map(|gc| gc.handle()),
        )?;
        if let Some(url) = &opts.tsa_url {
            sink.start_timestamping(url)?;
        }
        let sink = match &opts.writer_pool {
            Some(pool) => ThreadedSink::spawn_in(sink, pool)?,
            None => ThreadedSink::spawn(sink, opts.writer)?,
        };
        let (ingest, rx) = ingest::channel(opts.queue_capacity);
        let mut recorder = CallRecorder::new(opts.recorder);
        if let Some((cfg, bitrate)) = opts.composite {
            let c = crate::composite::CompositeVideo::new(cfg, bitrate)
                .map_err(|e| RecordError::Internal(format!("composite video: {e}")))?;
            recorder = recorder.with_composite(c);
        }
        let stop = Arc::new(AtomicBool::new(false));
        // A handful of pauses at most wait here: the worker takes them on its next pass (every few ms).
        let (controls, controls_rx) = channel::bounded(64);
        let base = SnapshotBase {
            call: opts.call.clone(),
            started: started_wall,
            format: opts.recorder.track.format,
        };
        let job = MediaJob::new(rx, recorder, sink, Arc::clone(&stop))
            .with_keyframe_relay(opts.keyframe_relay.clone())
            .with_journal(Arc::new(base), controls_rx);
        let done = job.done_flag();
        let worker = match &opts.media_pool {
            Some(pool) => pool.add(job).map_err(RecordError::Internal)?,
            None => media_worker::spawn(job).map_err(|e| RecordError::Internal(e.to_string()))?,
        };
        Ok(LiveRecording {
            ingest,
            worker: Some(worker),
            stop,
            done,
            opts: opts.clone(),
            started_wall,
            controls,
            paused: false,
        })
    }

    /// Recording pauses at `p.at` (the source then sends silence and no video until [`Self::resume`]): the
    /// pause goes into the signed status history and `timeline.jsonl` at once (so it survives a crash), and
    /// into `metadata.json`'s `call.pauses` at close.
    ///
    /// # Errors
    /// [`RecordError::Internal`] when the media worker has stopped taking controls for a second.
    pub fn pause(&mut self, p: PauseStart) -> Result<(), RecordError> {
        self.opts.call.pauses.push(PauseMeta {
            start_us: us(p.at),
            end_us: us(p.at),
            requested_utc: p.requested_utc.clone(),
            requested_by: p.requested_by.clone(),
            reason: p.reason.clone(),
            ..PauseMeta::default()
        });
        self.paused = true;
        self.control(SinkControl::Paused(p))
    }

    /// Recording resumes at `p.at` (see [`Self::pause`]).
    ///
    /// # Errors
    /// As [`Self::pause`].
    pub fn resume(&mut self, p: PauseEnd) -> Result<(), RecordError> {
        if let Some(last) = self.opts.call.pauses.last_mut() {
            last.end_us = us(p.at).max(last.start_us);
            last.resumed_utc = Some(p.resumed_utc.clone());
            last.resumed_by = Some(p.resumed_by.clone());
            last.resume_reason = Some(p.reason.clone());
        }
        self.paused = false;
        self.control(SinkControl::Resumed(p))
    }

    /// A supervisor starts listening in: journaled at once (a signed `listen_in` line in `timeline.jsonl`),
    /// then the mix (or the named stem) goes to `l.tap` tick by tick, on the writer thread.
    ///
    /// # Errors
    /// As [`Self::pause`].
    pub fn listen_in(&mut self, l: crate::journal::ListenIn) -> Result<(), RecordError> {
        self.control(SinkControl::ListenIn(l))
    }

    /// The listen-in ended (a `listen_in_ended` line with how long); its tap is detached when it answers
    /// false.
    ///
    /// # Errors
    /// As [`Self::pause`].
    pub fn listen_in_ended(&mut self, e: crate::journal::ListenInEnded) -> Result<(), RecordError> {
        self.control(SinkControl::ListenInEnded(e))
    }

    fn control(&mut self, c: SinkControl) -> Result<(), RecordError> {
        if !self.is_running() {
            return Ok(()); // the call is over: metadata.json takes the span from `call.pauses`
        }
        self.controls
            .send_timeout(c, Duration::from_secs(1))
            .map_err(|_| {
                RecordError::Internal("the media worker takes no pause or resume".into())
            })?;
        self.ingest.wake();
        Ok(())
    }

    /// Sleeps until the ingest queue has room for `n` events (the media worker rings as it takes them);
    /// false when the worker is over and will take nothing more. For a source that may wait (a replay).
    pub fn wait_for_room(&mut self, n: usize) -> bool {
        let done = Arc::clone(&self.done);
        self.ingest.wait_for_room(
            n,
            move || done.load(Ordering::Acquire),
            Duration::from_millis(250),
        )
    }

    /// The handle to push media and events into (never blocks).
    pub fn ingest(&mut self) -> &mut Ingest {
        &mut self.ingest
    }

    /// False once the media worker is over: the call ended, or the recording failed (a full disk, say) and
    /// nothing more will be taken from the queue. A source must stop waiting for room then.
    pub fn is_running(&self) -> bool {
        !self.done.load(Ordering::Acquire)
    }

    /// The `call` section of `metadata.json`, to complete while the call runs (the gRPC service adds pause
    /// spans and the recording-status handshake, known only at the end); written by `finish`/`interrupt`.
    pub fn call_info_mut(&mut self) -> &mut CallInfo {
        &mut self.opts.call
    }

    /// Waits until the worker has handled the call end, finalizes the files and writes `metadata.json`.
    ///
    /// # Errors
    /// An output error (the recording is then marked `failed` in metadata), or a worker failure.
    pub fn finish(self) -> Result<CallSummary, RecordError> {
        self.close("completed")
    }

    /// Ends the recording at the last media time received (no call end came) and marks it `interrupted`.
    /// Set [`CallInfo::interrupted_because`] first (through [`Self::call_info_mut`]) to say why: it goes into
    /// `metadata.json` and is the manifest's closing note.
    ///
    /// # Errors
    /// As [`LiveRecording::finish`].
    pub fn interrupt(self) -> Result<CallSummary, RecordError> {
        self.stop.store(true, Ordering::Release);
        self.ingest.wake();
        self.close("interrupted")
    }

    /// Ends the recording now and closes it `failed`, with `cause` as the status note and in metadata (a
    /// cause outside the recorder: e.g. the WORM store's backlog is full). What was written stays verifiable.
    ///
    /// # Errors
    /// [`RecordError::Failed`] naming `cause` (the close itself may have failed too).
    pub fn fail(self, cause: String) -> Result<CallSummary, RecordError> {
        self.stop.store(true, Ordering::Release);
        self.ingest.wake();
        self.close_with("failed", Some(cause))
    }

    fn close(self, status: &str) -> Result<CallSummary, RecordError> {
        self.close_with(status, None)
    }

    fn close_with(
        mut self,
        status: &str,
        cause: Option<String>,
    ) -> Result<CallSummary, RecordError> {
        let worker = self
            .worker
            .take()
            .ok_or_else(|| RecordError::Internal("closed twice".into()))?;
        let (recorder, sink, rx_counters, media_error) =
            worker.join().map_err(RecordError::Internal)?;
        // Everything queued is written before the folder is closed; the writer's own first error is the
        // real cause when the media worker stopped on "writer thread: ..." (or the only one).
        let (mut sink, writer_error, wc) = sink.stop()?;
        let mut sink_error = cause
            .clone()
            .or(writer_error.map(|e| e.to_string()))
            .or(media_error);
        // The gaps and dominant-speaker changes went to timeline.jsonl during the call; metadata.json lists
        // them, read back now (the recorder keeps none of them in memory).
        let (timeline, timeline_unreadable) = match sink.read_timeline() {
            Ok(t) => t,
            Err(e) => {
                sink_error.get_or_insert(format!("reading timeline.jsonl: {e}"));
                Default::default()
            }
        };
        let summary = recorder.summary();
        if self.paused {
            // Paused until the end: the span ends with the recording.
            if let Some(last) = self.opts.call.pauses.last_mut() {
                if last.resumed_utc.is_none() {
                    last.end_us = us(summary.duration).max(last.start_us);
                }
            }
        }
        let status = if sink_error.is_some() {
            "failed"
        } else {
            status
        };
        let c = self.ingest.counters();
        let (relayed, not_relayed) = self
            .opts
            .keyframe_relay
            .as_ref()
            .map_or((0, 0), KeyFrameRelay::counts);
        let counters = CountersMeta {
            ingest_queue_full: rx_counters.0,
            ingest_wrong_audio_length: c.wrong_audio_length.load(Ordering::Relaxed),
            ingest_bad_video: c.bad_video.load(Ordering::Relaxed),
            ingest_queue_high_water: rx_counters.1,
            writer_queue_high_water: wc.queue_high_water,
            writer_backpressure_waits: wc.backpressure_waits,
            writer_backpressure_wait_us: wc.backpressure_wait_us,
            writer_discarded_after_error: wc.discarded_after_error,
            timeline_unreadable_lines: timeline_unreadable,
            video_frames_refused_by_muxer: sink.video_samples_refused(),
            video_streams_failed: sink
                .video_streams_failed()
                .iter()
                .map(|(path, why)| format!("{path}: {why}"))
                .collect(),
            keyframe_requests_relayed: relayed,
            keyframe_requests_not_relayed: not_relayed,
            ..Default::default()
        };
        let md = metadata::from_summary(
            &summary,
            &timeline,
            self.opts.call.clone(),
            self.started_wall,
            self.opts.recorder.track.format,
            status,
            sink_error.clone(),
            counters,
        );
        let json =
            serde_json::to_vec_pretty(&md).map_err(|e| RecordError::Internal(e.to_string()))?;
        let manifest_status = match status {
            "completed" => muxer::Status::Completed,
            "interrupted" => muxer::Status::Interrupted,
            _ => muxer::Status::Failed,
        };
        let kept_secs = sink.written().as_secs_f64();
        // The manifest's closing note: the failure's cause, else why it was interrupted, else the status.
        let note = match (&cause, status) {
            (Some(c), _) => c.as_str(),
            (None, "interrupted") => self
                .opts
                .call
                .interrupted_because
                .as_deref()
                .unwrap_or(status),
            _ => status,
        };
        let closed = sink.close(&json, manifest_status, note);
        match (sink_error, closed) {
            (None, Ok(_)) => Ok(summary),
            (None, Err(e)) => Err(e.into()),
            (Some(cause), closed) => Err(RecordError::Failed {
                cause,
                kept_secs,
                closed: match closed {
                    Ok(_) => format!(
                        "{} is closed as `failed` with what was written (verifiable)",
                        self.opts.out.display()
                    ),
                    Err(e) => format!(
                        "closing {} failed too ({e}): run `verbatim recover` on it once the storage works",
                        self.opts.out.display()
                    ),
                },
            }),
        }
    }
}

impl Drop for LiveRecording {
    fn drop(&mut self) {
        // Dropped without finish/interrupt: stop the worker so the thread does not outlive the recording.
        self.stop.store(true, Ordering::Release);
        self.ingest.wake();
    }
}

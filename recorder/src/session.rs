//! The embedding API: one call recorded in-process, driven the way the gRPC contract drives `verbatim listen`.
//!
//! ```text
//!  the bot's code (SDK handlers)            CallSession                         LiveRecording
//!  start(CallStart) ───────────────► RecordingState (pre-roll) ──confirm──► folder, media worker, writer
//!  push_audio / push_video / roster ─► offer: hold, forward, withhold
//!  confirm(success) / pause / resume / end
//!        ◄── messages(): RecordingStatusRequest, KeyFrameRequest, Error, Summary
//! ```
//!
//! A [`CallSession`] holds a call's recording-status machine ([`bot_adapter::status`]): media is held in the
//! pre-roll until the bot reports that Graph accepted `recording` ([`CallSession::confirm`]); only then is the
//! folder created and the pre-roll released into it. It never reads the disk or waits on the media thread
//! while media is pushed: a push is an offer to the machine and, once recording, a push into the call's
//! bounded ingest queue (full: dropped, counted in `metadata.json`, and reported once as an
//! [`EngineMessage::Error`]). [`CallSession::end`] returns at once; a closing thread finalizes the folder and
//! then posts the [`EngineMessage::Summary`] and the `notRecording` status request, in that order (Graph's
//! rule: stop recording before reporting it). The C ABI (`verbatim-ffi`) wraps exactly this type.
//!
//! ## Example
//! The crate's front page ([`crate`]) records a call from pushed buffers to a folder with this type.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use bot_adapter::ingest::{PushReport, Refusal as IngestRefusal};
use bot_adapter::sdk::{AudioMediaBuffer, DominantSpeakerChanged, RosterChange, VideoMediaBuffer};
use bot_adapter::status::{ItemKind, Offer, Phase, RecordingState, Refusal, StatusConfig};
use crossbeam::channel::{self, Receiver, Sender};
use media_core::{MediaTime, SourceTimestamp};

use crate::engine::{CallSummary, KeyFrameRequest};
use crate::journal::{PauseEnd, PauseStart};
use crate::live::{LiveRecording, RecordOptions};
use crate::media_worker::{KeyFrameOutlet, KeyFrameRelay};
use crate::metadata::{RecordingStatusMeta, TeamsCallMeta};

/// Key-frame requests and errors waiting for the bot; more are dropped (key-frame requests are counted as not
/// relayed in `metadata.json`; a stream that still waits asks again).
pub const MESSAGE_QUEUE: usize = 256;

/// The call as the bot's `CallStart` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallStart {
    /// The Graph call id (names nothing on disk: the folder is `RecordOptions::out`).
    pub call_id: String,
    /// Tenant, recorded user, direction, numbers, custom data: into `metadata.json`'s `call.teams`.
    pub teams: TeamsCallMeta,
}

impl CallStart {
    /// A call with only its id.
    pub fn new(call_id: impl Into<String>) -> Self {
        CallStart {
            call_id: call_id.into(),
            teams: TeamsCallMeta {
                direction: "unspecified".into(),
                ..TeamsCallMeta::default()
            },
        }
    }
}

/// The status the engine asks the bot to report to Graph (`updateRecordingStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestedStatus {
    /// Report `recording`, then call [`CallSession::confirm`] with Graph's answer.
    Recording,
    /// Report `notRecording`: the folder is closed (or nothing was recorded).
    NotRecording,
    /// Report `failed`: recording could not start or stopped on an error.
    Failed,
}

/// What an [`EngineMessage::Error`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// A call that breaks the contract (confirm with nothing pending, pause while paused, after the end).
    InvalidMessage = 1,
    /// The pre-roll is full: media is refused until the recording is confirmed.
    LimitExceeded = 2,
    /// The call's media queue was full: media dropped (counted in `metadata.json`).
    QueueFull = 3,
    /// Graph's confirmation did not come in time: nothing is recorded.
    ConfirmTimeout = 4,
    /// The recording could not be created or failed (a full disk): see the message.
    RecordingFailed = 5,
}

/// What the engine tells the bot, in order.
#[derive(Debug)]
pub enum EngineMessage {
    /// Report this status to Graph.
    StatusRequest(RequestedStatus),
    /// Ask the sender of this stream for a key frame.
    KeyFrame(KeyFrameRequest),
    /// Something the bot should know; the call goes on unless the code says otherwise.
    Error {
        /// What it is about.
        code: ErrorCode,
        /// For a person.
        message: String,
    },
    /// The call is over and its folder closed.
    Summary(Box<SessionOutcome>),
}

/// How a call ended.
#[derive(Clone, Debug)]
pub struct SessionOutcome {
    /// `completed`, `failed`, `interrupted`, or `not_recorded` (never confirmed: no folder).
    pub status: String,
    /// The folder (absent when nothing was recorded).
    pub folder: Option<PathBuf>,
    /// The recorder's account (absent when nothing was recorded).
    pub summary: Option<CallSummary>,
    /// Why it failed or was not recorded.
    pub error: Option<String>,
}

/// A contract error: the call was not in a state where this is allowed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The status machine refused it (nothing pending, already paused, ended).
    #[error(transparent)]
    Status(#[from] bot_adapter::status::StatusError),
    /// The folder could not be created.
    #[error("cannot create the recording: {0}")]
    Create(String),
    /// [`CallSession::wait`] was called twice, or the closing thread died.
    #[error("{0}")]
    Closed(String),
}

/// One item on its way through the status machine. Audio, the common item, is held inline: boxing it would
/// allocate per frame.
#[allow(clippy::large_enum_variant)]
enum Item {
    Audio(AudioMediaBuffer),
    Video(SourceTimestamp, VideoMediaBuffer),
    Roster(SourceTimestamp, RosterChange),
    Dominant(SourceTimestamp, DominantSpeakerChanged),
}

/// Key-frame requests from the media thread into the bounded message queue.
struct Outlet(Sender<EngineMessage>);

impl KeyFrameOutlet for Outlet {
    fn try_offer(&self, r: KeyFrameRequest) -> bool {
        self.0.try_send(EngineMessage::KeyFrame(r)).is_ok()
    }
}

/// One call recorded in-process (see the module docs). Not `Sync`: the owner serializes calls (the C ABI
/// holds it behind a per-call lock).
pub struct CallSession {
    state: RecordingState<Item>,
    opts: RecordOptions,
    status_cfg: StatusConfig,
    start: CallStart,
    live: Option<LiveRecording>,
    clock: Instant,
    requested_wall: SystemTime,
    confirmed_wall: Option<SystemTime>,
    outcome: &'static str,
    /// The first audio buffer's timestamp: recording time zero (pauses are placed from it).
    origin: Option<SourceTimestamp>,
    latest: SourceTimestamp,
    essential: Sender<EngineMessage>,
    bulk: Sender<EngineMessage>,
    receiver: MessageReceiver,
    relay: KeyFrameRelay,
    reported_queue_full: bool,
    reported_preroll_full: bool,
    closing: Option<JoinHandle<SessionOutcome>>,
    ended: bool,
    /// A confirmation is between [`CallSession::begin_confirm`] and [`CallSession::finish_confirm`].
    confirming: bool,
}

/// The bot's end of a session's messages: status requests and the summary are never dropped; key-frame
/// requests and errors wait in a queue of [`MESSAGE_QUEUE`].
#[derive(Clone)]
pub struct MessageReceiver {
    essential: Receiver<EngineMessage>,
    bulk: Receiver<EngineMessage>,
}

impl MessageReceiver {
    /// The next message, without waiting: status requests and the summary first.
    ///
    /// # Errors
    /// `Empty` when there is none now; `Disconnected` once the session and its threads are gone and all were
    /// read.
    pub fn try_recv(&self) -> Result<EngineMessage, channel::TryRecvError> {
        match self.essential.try_recv() {
            Ok(m) => Ok(m),
            Err(e) => self.bulk.try_recv().map_err(|b| match (e, b) {
                (channel::TryRecvError::Disconnected, channel::TryRecvError::Disconnected) => {
                    channel::TryRecvError::Disconnected
                }
                _ => channel::TryRecvError::Empty,
            }),
        }
    }
}

impl CallSession {
    /// Starts a call: nothing is written yet; the first message asks the bot to report `recording`.
    /// `opts.out` is the folder the recording will be (created on [`Self::confirm`]).
    pub fn start(opts: RecordOptions, status: StatusConfig, start: CallStart) -> Self {
        let (essential, essential_rx) = channel::unbounded();
        let (bulk, bulk_rx) = channel::bounded(MESSAGE_QUEUE);
        let relay = KeyFrameRelay::new(Outlet(bulk.clone()));
        let mut state = RecordingState::new(status);
        let _ = state.start(MediaTime::ZERO);
        let _ = essential.send(EngineMessage::StatusRequest(RequestedStatus::Recording));
        CallSession {
            state,
            opts,
            status_cfg: status,
            start,
            live: None,
            clock: Instant::now(),
            requested_wall: SystemTime::now(),
            confirmed_wall: None,
            outcome: "ended_before_confirmation",
            origin: None,
            latest: SourceTimestamp::UNKNOWN,
            essential,
            bulk,
            receiver: MessageReceiver {
                essential: essential_rx,
                bulk: bulk_rx,
            },
            relay,
            reported_queue_full: false,
            reported_preroll_full: false,
            closing: None,
            ended: false,
            confirming: false,
        }
    }

    /// The receiving end of the engine's messages (clone it to read from another thread).
    pub fn messages(&self) -> &MessageReceiver {
        &self.receiver
    }

    /// Where the call is in the recording-status handshake.
    pub fn phase(&self) -> Phase {
        self.state.phase()
    }

    fn now(&self) -> MediaTime {
        let ns = self.clock.elapsed().as_nanos() / 100;
        MediaTime::from_ticks(ns.min(i64::MAX as u128) as i64)
    }

    fn error(&self, code: ErrorCode, message: String) {
        let _ = self.bulk.try_send(EngineMessage::Error { code, message });
    }

    /// Graph's confirmation is overdue: nothing will be recorded.
    fn check_timeout(&mut self) {
        let now = self.now();
        if self.state.poll_timeout().is_some_and(|d| now >= d) && self.state.handle_timeout(now) {
            self.outcome = "timed_out";
            self.error(
                ErrorCode::ConfirmTimeout,
                "the recording status was not confirmed in time: nothing is recorded".into(),
            );
            let _ = self
                .essential
                .send(EngineMessage::StatusRequest(RequestedStatus::Failed));
        }
    }

    fn offer(&mut self, item: Item, reference: SourceTimestamp, kind: ItemKind) {
        if !reference.is_unknown() {
            self.latest = reference;
        }
        self.check_timeout();
        match self.state.offer(item, reference, kind) {
            Offer::Forward(item) => self.forward(item, false, false),
            Offer::Withhold(item) => self.forward(item, true, false),
            Offer::Held | Offer::Refused(_, Refusal::NotRecording | Refusal::Ended) => {}
            Offer::Refused(_, Refusal::PrerollFull) => {
                if !std::mem::replace(&mut self.reported_preroll_full, true) {
                    self.error(
                        ErrorCode::LimitExceeded,
                        "pre-roll full: media is refused until recording is confirmed".into(),
                    );
                }
            }
            Offer::Refused(_, Refusal::NotStarted) => {}
        }
    }

    /// Pushes one `AudioMediaBuffer` (up to four unmixed buffers, as the SDK hands them).
    pub fn push_audio(&mut self, buf: AudioMediaBuffer) {
        let bytes = buf.unmixed.iter().map(|u| u.data.len()).sum();
        let r = buf.timestamp;
        self.offer(Item::Audio(buf), r, ItemKind::Media { bytes });
    }

    /// Pushes one `VideoMediaBuffer` (camera or screen share; H.264 Annex-B or NV12).
    pub fn push_video(&mut self, buf: VideoMediaBuffer) {
        let r = self.latest;
        let bytes = buf.data.len();
        self.offer(Item::Video(r, buf), r, ItemKind::Media { bytes });
    }

    /// A roster change at `reference` (the SDK's clock).
    pub fn push_roster(&mut self, reference: SourceTimestamp, change: RosterChange) {
        self.offer(
            Item::Roster(reference, change),
            reference,
            ItemKind::Control,
        );
    }

    /// The SDK's `DominantSpeakerChanged` at `reference`.
    pub fn push_dominant_speaker(
        &mut self,
        reference: SourceTimestamp,
        ev: DominantSpeakerChanged,
    ) {
        self.offer(Item::Dominant(reference, ev), reference, ItemKind::Control);
    }

    fn forward(&mut self, item: Item, paused: bool, stale: bool) {
        let now = self.now();
        if let Item::Audio(b) = &item {
            if self.origin.is_none() && !b.timestamp.is_unknown() {
                self.origin = Some(b.timestamp);
            }
        }
        let Some(live) = self.live.as_mut() else {
            return;
        };
        let fresh = |r: SourceTimestamp| if stale { SourceTimestamp::UNKNOWN } else { r };
        let ingest = live.ingest();
        let report: PushReport = match item {
            Item::Audio(mut b) => {
                if paused {
                    b.withhold();
                }
                ingest.push_audio(now, b)
            }
            Item::Video(_, _) if paused => return,
            Item::Video(r, b) => ingest.push_video(now, r, b),
            Item::Roster(r, c) => ingest.push_roster(fresh(r), c),
            Item::Dominant(r, d) => ingest.push_dominant_speaker(fresh(r), d),
        };
        if let Some(IngestRefusal::QueueFull { what }) = report.first_refusal {
            if !std::mem::replace(&mut self.reported_queue_full, true) {
                self.error(
                    ErrorCode::QueueFull,
                    format!("media queue full: {what} dropped (counted in metadata)"),
                );
            }
        }
    }

    fn status_meta(&self, outcome: &str) -> RecordingStatusMeta {
        RecordingStatusMeta::from_state(
            outcome,
            &self.state,
            self.status_cfg.preroll,
            self.requested_wall,
            self.confirmed_wall,
        )
    }

    /// Graph's answer to `updateRecordingStatus(recording)`. On success the folder is created (file I/O: call
    /// it from the thread that talked to Graph, not from the SDK's media event thread) and the pre-roll is
    /// released into it; on failure the pre-roll is discarded, nothing is written, and the engine asks the bot
    /// to report `failed`.
    ///
    /// # Errors
    /// [`SessionError::Status`] when no confirmation is pending; [`SessionError::Create`] when the folder
    /// cannot be created (the call is then not recorded and the bot is asked to report `failed`).
    pub fn confirm(&mut self, success: bool, error: &str) -> Result<(), SessionError> {
        match self.begin_confirm(success, error)? {
            Some(opts) => {
                let live = LiveRecording::start(&opts);
                self.finish_confirm(live)
            }
            None => Ok(()),
        }
    }

    /// [`Self::confirm`]'s first half, for a caller that must not hold the session while the folder is
    /// created (the C ABI, whose pushes share the session's lock): checks that a confirmation is pending,
    /// and on success returns the options to create the recording with ([`LiveRecording::start`], outside
    /// any lock), then [`Self::finish_confirm`]. Media pushed meanwhile stays in the pre-roll. On failure
    /// (`success` false) it does all of the work and returns `None`.
    ///
    /// # Errors
    /// [`SessionError::Status`] when no confirmation is pending (or one is already being made).
    pub fn begin_confirm(
        &mut self,
        success: bool,
        error: &str,
    ) -> Result<Option<RecordOptions>, SessionError> {
        if self.state.phase() != Phase::AwaitingConfirmation || self.confirming || self.ended {
            return Err(
                bot_adapter::status::StatusError::NotPending(self.state.phase().name()).into(),
            );
        }
        if !success {
            self.state.fail(bot_adapter::status::graph_refusal(error))?;
            self.outcome = "failed";
            return Ok(None);
        }
        self.confirming = true;
        self.confirmed_wall = Some(SystemTime::now());
        let mut opts = self.opts.clone();
        opts.call.id = self.start.call_id.clone();
        if opts.call.source.is_empty() {
            opts.call.source = "embedded".into();
        }
        opts.call.teams = Some(self.start.teams.clone());
        opts.call.recording_status = Some(self.status_meta("confirmed"));
        opts.keyframe_relay = Some(self.relay.clone());
        Ok(Some(opts))
    }

    /// [`Self::confirm`]'s second half: installs the recording created from [`Self::begin_confirm`]'s
    /// options and releases the pre-roll into it.
    ///
    /// # Errors
    /// [`SessionError::Create`] when the folder could not be created (the call is then not recorded and the
    /// bot is asked to report `failed`); [`SessionError::Status`] when the call ended meanwhile (the new
    /// folder is closed at once, empty).
    pub fn finish_confirm(
        &mut self,
        live: Result<LiveRecording, crate::live::RecordError>,
    ) -> Result<(), SessionError> {
        self.confirming = false;
        let mut live = match live {
            Ok(live) => live,
            Err(e) => {
                let why = format!("cannot create the recording: {e}");
                let _ = self.state.fail(why);
                self.outcome = "failed";
                let _ = self
                    .essential
                    .send(EngineMessage::StatusRequest(RequestedStatus::Failed));
                return Err(SessionError::Create(e.to_string()));
            }
        };
        if self.ended {
            live.ingest().push_call_ended(self.latest);
            let _ = live.finish();
            return Err(bot_adapter::status::StatusError::Ended.into());
        }
        self.live = Some(live);
        self.outcome = "confirmed";
        for r in self.state.confirm()? {
            self.forward(r.item, r.paused, r.stale);
        }
        Ok(())
    }

    fn recording_time(&self, r: SourceTimestamp) -> MediaTime {
        match self.origin {
            Some(o) if !r.is_unknown() => MediaTime::from_ticks(r.since(o).ticks().max(0)),
            _ => MediaTime::ZERO,
        }
    }

    /// Recording pauses at `reference` (media is then written as silence, video withheld) until
    /// [`Self::resume`]; journaled in the signed timeline at once.
    ///
    /// # Errors
    /// [`SessionError::Status`] when already paused or ended.
    pub fn pause(
        &mut self,
        reference: SourceTimestamp,
        by: &str,
        reason: &str,
    ) -> Result<(), SessionError> {
        self.state.pause(reference, by, reason)?;
        let at = self.recording_time(reference);
        if let Some(live) = self.live.as_mut() {
            let _ = live.pause(PauseStart {
                at,
                requested_utc: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                requested_by: by.into(),
                reason: reason.into(),
            });
        }
        Ok(())
    }

    /// Recording resumes at `reference`.
    ///
    /// # Errors
    /// [`SessionError::Status`] when not paused or ended.
    pub fn resume(
        &mut self,
        reference: SourceTimestamp,
        by: &str,
        reason: &str,
    ) -> Result<(), SessionError> {
        self.state.resume(reference, by, reason)?;
        let at = self.recording_time(reference);
        if let Some(live) = self.live.as_mut() {
            let _ = live.resume(PauseEnd {
                at,
                resumed_utc: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                resumed_by: by.into(),
                reason: reason.into(),
            });
        }
        Ok(())
    }

    /// The call ended at `reference`. Returns at once: a closing thread writes what is queued, closes the
    /// signed folder, then posts [`EngineMessage::Summary`] and asks the bot to report `notRecording`.
    /// A second call does nothing.
    pub fn end(&mut self, reference: SourceTimestamp) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.check_timeout();
        let was_recording = self.state.end(reference);
        let essential = self.essential.clone();
        let live = self.live.take();
        let folder = self.opts.out.clone();
        let status = self.status_meta(self.outcome);
        let failure = self.state.failure().map(str::to_string);
        let close = move || {
            let outcome = match live {
                Some(mut live) if was_recording => {
                    live.ingest().push_call_ended(reference);
                    live.call_info_mut().recording_status = Some(status);
                    match live.finish() {
                        Ok(summary) => SessionOutcome {
                            status: "completed".into(),
                            folder: Some(folder),
                            summary: Some(summary),
                            error: None,
                        },
                        Err(e) => SessionOutcome {
                            status: "failed".into(),
                            folder: Some(folder),
                            summary: None,
                            error: Some(e.to_string()),
                        },
                    }
                }
                _ => SessionOutcome {
                    status: "not_recorded".into(),
                    folder: None,
                    summary: None,
                    error: failure,
                },
            };
            let _ = essential.send(EngineMessage::Summary(Box::new(outcome.clone())));
            let _ = essential.send(EngineMessage::StatusRequest(RequestedStatus::NotRecording));
            outcome
        };
        match std::thread::Builder::new()
            .name("verbatim-close".into())
            .spawn(close)
        {
            Ok(h) => self.closing = Some(h),
            Err(e) => self.error(
                ErrorCode::RecordingFailed,
                format!("cannot start the closing thread: {e}"),
            ),
        }
    }

    /// For a source that may wait (a file replay, not the SDK's handlers): sleeps until the call's queue has
    /// room for one more push; false when there is no recording taking media (not confirmed, ended, failed).
    pub fn wait_for_room(&mut self) -> bool {
        match self.live.as_mut() {
            Some(live) => live.wait_for_room(bot_adapter::ingest::MAX_EVENTS_PER_PUSH),
            None => false,
        }
    }

    /// Waits until the folder is closed (after [`Self::end`]) and returns how the call ended.
    ///
    /// # Errors
    /// [`SessionError::Closed`] before [`Self::end`], when called twice, or when the closing thread died.
    pub fn wait(&mut self) -> Result<SessionOutcome, SessionError> {
        self.take_closing()?.wait()
    }

    /// The closing thread, to wait for without holding the session (the C ABI's `vb_call_wait`).
    ///
    /// # Errors
    /// [`SessionError::Closed`] before [`Self::end`] or when taken before.
    pub fn take_closing(&mut self) -> Result<Closing, SessionError> {
        self.closing.take().map(Closing).ok_or_else(|| {
            SessionError::Closed("the call has not ended (or was waited for)".into())
        })
    }
}

/// A call's closing thread (see [`CallSession::take_closing`]).
pub struct Closing(JoinHandle<SessionOutcome>);

impl Closing {
    /// Blocks until the folder is closed; how the call ended.
    ///
    /// # Errors
    /// [`SessionError::Closed`] when the closing thread died.
    pub fn wait(self) -> Result<SessionOutcome, SessionError> {
        self.0
            .join()
            .map_err(|_| SessionError::Closed("the closing thread died".into()))
    }
}

impl Drop for CallSession {
    /// A session dropped before [`CallSession::end`] ends at its latest timestamp; the closing thread goes on
    /// in the background.
    fn drop(&mut self) {
        if !self.ended {
            self.end(self.latest);
        }
    }
}

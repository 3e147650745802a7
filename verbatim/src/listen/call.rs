//! One call's task: bot messages in, checked and handed to the recording-status machine and the call's
//! [`LiveRecording`]; engine messages out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bot_adapter::grpc::convert::{self, CallDescription};
use bot_adapter::grpc::proto::{self, bot_message::Msg, engine_message::Msg as Out};
use bot_adapter::grpc::status::{ItemKind, Offer, Phase, RecordingState, Refusal, StatusConfig};
use bot_adapter::ingest::{self, PushReport};
use bot_adapter::sdk::{
    AudioMediaBuffer, DominantSpeakerChanged, FixedList, RosterChange, VideoMediaBuffer,
    VideoSocket,
};
use media_core::{MediaTime, SourceTimestamp, StreamKind};
use tokio::sync::mpsc::{Receiver, Sender};
use tonic::{Status, Streaming};

mod confirm;
mod finish;
mod upload;

use super::{CallEntry, Shared};
use crate::engine::KeyFrameRequest;
use crate::media_worker::{KeyFrameOutlet, KeyFrameRelay};
use crate::record::LiveRecording;

type OutTx = Sender<Result<proto::EngineMessage, Status>>;

/// How far from the call's clock (its latest audio buffer) a pause or resume may be stamped.
const CONTROL_STAMP_TOLERANCE: MediaTime = MediaTime::from_secs(2);

/// Video streams whose socket a call remembers for `KeyFrameRequest` (Teams has 10 main-video sockets and one
/// screen share; a bot that sends more streams gets requests addressed by stream kind only).
const MAX_VIDEO_SOCKETS_KNOWN: usize = 64;

/// Most source ids the call remembers per participant for the participant limit (the engine keeps as many, see
/// `engine::MAX_SOURCE_IDS_PER_PARTICIPANT`): the oldest are forgotten, media is never refused for it.
const MAX_SOURCE_IDS_PER_PARTICIPANT: usize = crate::engine::MAX_SOURCE_IDS_PER_PARTICIPANT;

/// `MediaTime` -> `Duration` (negative = zero).
pub(crate) fn duration(t: MediaTime) -> Duration {
    Duration::from_nanos(t.ticks().max(0) as u64 * 100)
}

/// What the status machine holds and releases.
// Audio is nearly every item; boxing it would add an allocation per buffer to save stack space in a value that
// is moved a few times (same reasoning as `bot_adapter::sim::SdkEvent`).
#[allow(clippy::large_enum_variant)]
enum Item {
    Audio(AudioMediaBuffer),
    /// With the platform time it was received (see [`Call::video`]).
    Video(SourceTimestamp, VideoMediaBuffer),
    Roster(SourceTimestamp, RosterChange),
    Dominant(SourceTimestamp, DominantSpeakerChanged),
}

/// How the call's recording ended.
enum Ending {
    /// `CallEnd` received.
    Ended,
    /// The connection dropped, the stream failed or went idle: the reason.
    Interrupted(String),
    /// Writing the recording failed (a full disk, an I/O error): the call's recording stopped; the cause
    /// comes with the close.
    Failed,
}

struct Call {
    shared: Arc<Shared>,
    entry: Arc<CallEntry>,
    desc: CallDescription,
    folder: String,
    tx: OutTx,
    state: RecordingState<Item>,
    live: Option<LiveRecording>,
    /// The folder's uploader to the WORM store (`listen --store`).
    upload: Option<store::Uploader>,
    /// Why the store failed the call (its backlog is full).
    store_failure: Option<String>,
    clock: Instant,
    requested_wall: SystemTime,
    confirmed_wall: Option<SystemTime>,
    outcome: Option<&'static str>,
    pause_walls: Vec<(SystemTime, Option<SystemTime>)>,
    last_ref: SourceTimestamp,
    origin: Option<SourceTimestamp>,
    roster_ids: HashSet<String>,
    roster_msis: HashSet<u32>,
    /// Per participant id, their newest source ids (at most [`MAX_SOURCE_IDS_PER_PARTICIPANT`]).
    msis_of: HashMap<String, VecDeque<u32>>,
    unknown_msis: HashSet<u32>,
    refused_participant_frames: u64,
    /// Video source ids recorded (at most `Limits::max_video_streams`).
    video_msis: HashSet<u32>,
    refused_video_frames: u64,
    invalid_messages: u64,
    /// The socket each video stream's frames came on (for `KeyFrameRequest`).
    sockets: HashMap<u32, VideoSocket>,
    /// The recorder's key-frame requests come back through it (see [`Call::relay_keyframe`]).
    relay: KeyFrameRelay,
    last_error_sent: Option<Instant>,
    errors_suppressed: u64,
    fatal: Option<String>,
}

/// The call task's end of its recorder's key-frame requests: a bounded tokio channel.
struct TokioOutlet(tokio::sync::mpsc::Sender<KeyFrameRequest>);

impl KeyFrameOutlet for TokioOutlet {
    fn try_offer(&self, r: KeyFrameRequest) -> bool {
        self.0.try_send(r).is_ok()
    }

    fn queued(&self) -> u64 {
        self.0.max_capacity().saturating_sub(self.0.capacity()) as u64
    }
}

/// A relay holding at most `capacity` requests, and the call task's receiving end.
fn keyframe_channel(
    capacity: usize,
) -> (KeyFrameRelay, tokio::sync::mpsc::Receiver<KeyFrameRequest>) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    (KeyFrameRelay::new(TokioOutlet(tx)), rx)
}

/// Runs one call to its end (see the module docs of `listen`).
pub(crate) async fn run(
    shared: Arc<Shared>,
    desc: CallDescription,
    mut inbound: Streaming<proto::BotMessage>,
    tx: OutTx,
    entry: Arc<CallEntry>,
) {
    let limits = shared.opts.limits;
    shared.stats.calls_started.fetch_add(1, Ordering::Relaxed);
    shared.metrics.call_started();
    let folder = shared.reserve_folder(&desc.call_id, &desc.leg_id);
    let _ = entry.folder.set(folder.clone());
    let mut commands = entry.command_rx.lock().ok().and_then(|mut g| g.take());
    tracing::info!(event = "call_started", folder, "call started");
    // A few requests at most wait here: each stream asks at most every 500 ms, and the task takes them at once.
    let (relay, mut keyframe_requests) = keyframe_channel(32);
    let mut call = Call {
        state: RecordingState::new(StatusConfig {
            preroll: limits.preroll,
            max_preroll_bytes: limits.max_preroll_bytes,
            confirm_timeout: limits.confirm_timeout,
        }),
        shared: Arc::clone(&shared),
        entry,
        desc,
        folder,
        tx,
        live: None,
        upload: None,
        store_failure: None,
        clock: Instant::now(),
        requested_wall: SystemTime::now(),
        confirmed_wall: None,
        outcome: None,
        pause_walls: Vec::new(),
        last_ref: SourceTimestamp::UNKNOWN,
        origin: None,
        roster_ids: HashSet::new(),
        roster_msis: HashSet::new(),
        msis_of: HashMap::new(),
        unknown_msis: HashSet::new(),
        refused_participant_frames: 0,
        video_msis: HashSet::new(),
        refused_video_frames: 0,
        invalid_messages: 0,
        sockets: HashMap::new(),
        relay,
        last_error_sent: None,
        errors_suppressed: 0,
        fatal: None,
    };
    let _ = call.state.start(MediaTime::ZERO);
    call.send_essential(Out::StatusRequest(proto::RecordingStatusRequest {
        status: proto::RecordingStatus::Recording as i32,
        reason: "report `recording` to Graph (updateRecordingStatus), then send its result".into(),
    }))
    .await;
    let ending = call
        .run_loop(&mut inbound, &mut keyframe_requests, &mut commands)
        .await;
    call.finish(ending).await;
    shared.release(&call.desc.call_id, &call.desc.leg_id, &call.folder);
}

impl Call {
    fn now(&self) -> MediaTime {
        MediaTime::from_ticks((self.clock.elapsed().as_nanos() / 100).min(i64::MAX as u128) as i64)
    }

    async fn run_loop(
        &mut self,
        inbound: &mut Streaming<proto::BotMessage>,
        keyframe_requests: &mut Receiver<KeyFrameRequest>,
        commands: &mut Option<Receiver<super::listen_in::CallCommand>>,
    ) -> Ending {
        let limits = self.shared.opts.limits;
        let idle = duration(limits.idle_timeout);
        let mut last_msg = Instant::now();
        // The stop signal and the timer are made once per call, not once per message: the stop signal is the
        // call's own channel (polling it takes no lock), and a new `Sleep` registers in (and leaves) the
        // timer wheel, which at ~5,000 bot messages a second cost lock round trips between the workers. The
        // timer is armed at the earliest deadline known and moved only earlier; when it fires at a deadline
        // that has since moved later (a message came), it is re-armed at the new one.
        let mut stopping = self.shared.drain.stop_signal();
        let timer = tokio::time::sleep_until((last_msg + idle).into());
        tokio::pin!(timer);
        loop {
            let mut wake = last_msg + idle;
            if let Some(d) = self.state.poll_timeout() {
                wake = wake.min(self.clock + duration(d));
            }
            if tokio::time::Instant::from(wake) < timer.deadline() || timer.is_elapsed() {
                timer.as_mut().reset(wake.into());
            }
            let msg = tokio::select! {
                m = inbound.message() => m,
                // Completes once, and the call then ends (polled again it would panic). An error would mean
                // the server's drain state is gone, which outlives every call; it would end the call too.
                _ = &mut stopping => {
                    let why = "the server is stopping (second SIGTERM or SIGINT while draining)";
                    return Ending::Interrupted(why.into());
                }
                Some(r) = keyframe_requests.recv() => {
                    self.relay_keyframe(r);
                    continue;
                }
                Some(c) = async { match commands.as_mut() { Some(rx) => rx.recv().await, None => None } } => {
                    self.command(c);
                    continue;
                }
                _ = &mut timer => {
                    if Instant::now() < wake {
                        // A deadline that has moved later since the timer was armed: re-armed above.
                        continue;
                    }
                    if self.state.handle_timeout(self.now()) {
                        self.entry.set_phase(Phase::NotRecorded);
                        self.outcome = Some("timed_out");
                        return Ending::Ended;
                    }
                    if last_msg.elapsed() >= idle {
                        let why = format!("no message for {:.0} s", idle.as_secs_f64());
                        let _ = self.tx.try_send(Err(Status::deadline_exceeded(why.clone())));
                        return Ending::Interrupted(why);
                    }
                    continue;
                }
            };
            let arrival = Instant::now();
            last_msg = arrival;
            match msg {
                Ok(Some(m)) => {
                    self.shared.stats.messages.fetch_add(1, Ordering::Relaxed);
                    if let Some(end) = self.handle(m, arrival).await {
                        return end;
                    }
                    // The recording stopped on a write error: this call fails now (others go on).
                    if self.live.as_ref().is_some_and(|l| !l.is_running()) {
                        return Ending::Failed;
                    }
                    if self.store_failed() {
                        return Ending::Failed;
                    }
                }
                Ok(None) => {
                    return Ending::Interrupted("the bot closed the stream without call_end".into())
                }
                Err(status) => {
                    let why = if status.code() == tonic::Code::OutOfRange
                        || status.code() == tonic::Code::ResourceExhausted
                    {
                        let _ = self.tx.try_send(Err(status.clone()));
                        format!("message refused: {}", status.message())
                    } else {
                        format!("connection lost: {}", status.message())
                    };
                    return Ending::Interrupted(why);
                }
            }
        }
    }

    /// A request of the console (listen-in).
    fn command(&mut self, c: super::listen_in::CallCommand) {
        use super::listen_in::{ended, start, CallCommand};
        match c {
            CallCommand::ListenIn {
                who,
                by,
                reason,
                tap,
                reply,
            } => {
                let r = start(&self.shared, self.live.as_mut(), who, by, reason, tap);
                let _ = reply.send(r);
            }
            CallCommand::ListenInEnded { by, length_ms } => {
                ended(self.live.as_mut(), by, length_ms)
            }
        }
    }

    /// Handles one message; `Some` ends the call.
    async fn handle(&mut self, m: proto::BotMessage, arrival: Instant) -> Option<Ending> {
        let Some(msg) = m.msg else {
            self.refuse_message("BotMessage: empty `msg`").await;
            return None;
        };
        match msg {
            Msg::Audio(a) => self.audio(a, arrival).await,
            Msg::Video(v) => self.video(v, arrival).await,
            Msg::Roster(r) => self.roster(r).await,
            Msg::DominantSpeaker(d) => {
                let r = SourceTimestamp::new(d.timestamp);
                let ev = convert::dominant_from_proto(&d);
                let offer = self
                    .state
                    .offer(Item::Dominant(r, ev), r, ItemKind::Control);
                self.apply(offer, arrival).await;
            }
            Msg::RecordingStatus(s) => return self.status_result(s).await,
            Msg::Pause(p) => {
                let r = self.control_time(p.timestamp, "Pause").await;
                let t = self.control_text("Pause", p.requested_by, p.reason);
                match self.state.pause(r, &t.requested_by, &t.reason) {
                    Ok(()) => {
                        self.pause_walls.push((SystemTime::now(), None));
                        self.entry.set_paused(true);
                        self.journal_pause(r, true, &t.requested_by, &t.reason);
                    }
                    Err(e) => self.refuse_message(&format!("Pause: {e}")).await,
                }
                self.entry.set_phase(self.phase_for_entry());
            }
            Msg::Resume(p) => {
                let r = self.control_time(p.timestamp, "Resume").await;
                let t = self.control_text("Resume", p.requested_by, p.reason);
                match self.state.resume(r, &t.requested_by, &t.reason) {
                    Ok(()) => {
                        if let Some(w) = self.pause_walls.last_mut() {
                            w.1 = Some(SystemTime::now());
                        }
                        self.entry.set_paused(false);
                        self.journal_pause(r, false, &t.requested_by, &t.reason);
                    }
                    Err(e) => self.refuse_message(&format!("Resume: {e}")).await,
                }
                self.entry.set_phase(self.phase_for_entry());
            }
            Msg::CallEnd(e) => {
                if !e.call_id.is_empty() && e.call_id != self.desc.call_id {
                    self.refuse_message(&format!(
                        "CallEnd for unknown call {:?} (this stream is {:?})",
                        e.call_id, self.desc.call_id
                    ))
                    .await;
                    return None;
                }
                let r = SourceTimestamp::new(e.timestamp);
                let was_recording = self.state.end(r);
                if was_recording {
                    let end = if r.is_unknown() { self.last_ref } else { r };
                    self.push_essential(|i| i.push_call_ended(end)).await;
                } else if self.outcome.is_none() {
                    self.outcome = Some("ended_before_confirmation");
                }
                return Some(Ending::Ended);
            }
            Msg::CallStart(_) => {
                self.refuse_message("CallStart: this stream's call has already started")
                    .await;
            }
        }
        None
    }

    fn phase_for_entry(&self) -> Phase {
        self.state.phase()
    }

    async fn audio(&mut self, a: proto::AudioMediaBuffer, arrival: Instant) {
        let sent = a.sent_unix_micros;
        let (mut buf, trim) = match convert::audio_from_proto(a, self.desc.audio_format) {
            Ok(x) => x,
            Err(e) => return self.refuse_message(&e.to_string()).await,
        };
        if trim.extra_unmixed > 0 {
            self.refuse_message(
                "AudioMediaBuffer: more than four unmixed buffers (extra ones dropped)",
            )
            .await;
        }
        self.entry.count_audio();
        self.limit_participants(&mut buf);
        self.last_ref = buf.timestamp;
        let bytes = buf.unmixed.iter().map(|u| u.data.len()).sum();
        let r = buf.timestamp;
        let offer = self
            .state
            .offer(Item::Audio(buf), r, ItemKind::Media { bytes });
        let measured = matches!(offer, Offer::Forward(_) | Offer::Withhold(_));
        self.apply(offer, arrival).await;
        if measured {
            let stats = &self.shared.stats;
            stats.handoff.record(arrival.elapsed());
            if sent > 0 {
                let now_us = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_micros() as i64)
                    .unwrap_or(0);
                stats
                    .bot_to_handoff
                    .record(Duration::from_micros((now_us - sent).max(0) as u64));
            }
        }
    }

    /// Drops unmixed buffers from sources beyond the participant limit (counted, reported once).
    fn limit_participants(&mut self, buf: &mut AudioMediaBuffer) {
        let max = self.shared.opts.limits.max_participants;
        let known = |s: &Self, m: u32| s.roster_msis.contains(&m) || s.unknown_msis.contains(&m);
        if buf
            .unmixed
            .iter()
            .all(|u| known(self, u.active_speaker_id.0))
        {
            return;
        }
        let mut kept = FixedList::new();
        for u in buf.unmixed.drain() {
            let m = u.active_speaker_id.0;
            if known(self, m) {
                let _ = kept.push(u);
            } else if self.roster_ids.len() + self.unknown_msis.len() < max {
                self.unknown_msis.insert(m);
                let _ = kept.push(u);
            } else {
                self.refused_participant_frames += 1;
            }
        }
        buf.unmixed = kept;
        if self.refused_participant_frames == 1 {
            let msg = format!(
                "more than {max} participants (max_participants): audio from further sources is not recorded (counted)"
            );
            self.send_error(proto::ErrorCode::LimitExceeded, msg, false);
        }
    }

    /// A video buffer carries no platform timestamp of its own (its `timestamp` is the sender's clock): it is
    /// placed by `received_timestamp` when the bot gives it, else by the latest audio buffer's timestamp.
    async fn video(&mut self, v: proto::VideoMediaBuffer, arrival: Instant) {
        let received = SourceTimestamp::new(v.received_timestamp);
        let buf = match convert::video_from_proto(v) {
            Ok(b) => b,
            Err(e) => return self.refuse_message(&e.to_string()).await,
        };
        if !self.video_admitted(buf.media_source_id.0) {
            return;
        }
        let r = if received.is_unknown() {
            self.last_ref
        } else {
            received
        };
        let bytes = buf.data.len();
        let offer = self
            .state
            .offer(Item::Video(r, buf), r, ItemKind::Media { bytes });
        self.apply(offer, arrival).await;
    }

    /// A pause's texts cut to their limits; the cut is reported (the pause itself always happens).
    fn control_text(
        &mut self,
        what: &'static str,
        requested_by: String,
        reason: String,
    ) -> convert::ControlText {
        let t = convert::control_text(what, requested_by, reason);
        if !t.cut.is_empty() {
            let what: Vec<String> = t.cut.iter().map(|e| e.to_string()).collect();
            let msg = format!(
                "{}: kept cut to the limit, the request itself is honoured",
                what.join("; ")
            );
            self.send_error(proto::ErrorCode::LimitExceeded, msg, false);
        }
        t
    }

    /// True when video from `msi` may be recorded: a stream already recorded, or a new one within
    /// `max_video_streams` (else counted and reported once).
    fn video_admitted(&mut self, msi: u32) -> bool {
        if self.video_msis.contains(&msi) {
            return true;
        }
        let max = self.shared.opts.limits.max_video_streams;
        if self.video_msis.len() < max {
            self.video_msis.insert(msi);
            return true;
        }
        self.refused_video_frames += 1;
        if self.refused_video_frames == 1 {
            let msg = format!(
                "video stream {msi} refused: this call already records {max} video streams \
                 (max_video_streams); its frames are not recorded (counted)"
            );
            self.send_error(proto::ErrorCode::LimitExceeded, msg, false);
        }
        false
    }

    /// Remembers `msis` as `id`'s newest source ids, forgetting the oldest beyond the cap.
    fn remember_msis(&mut self, id: &str, msis: impl Iterator<Item = u32>) {
        let list = self.msis_of.entry(id.to_string()).or_default();
        for m in msis {
            self.unknown_msis.remove(&m);
            if list.contains(&m) {
                continue;
            }
            list.push_back(m);
            self.roster_msis.insert(m);
            if list.len() > MAX_SOURCE_IDS_PER_PARTICIPANT {
                if let Some(old) = list.pop_front() {
                    self.roster_msis.remove(&old);
                }
            }
        }
    }

    async fn roster(&mut self, r: proto::RosterUpdate) {
        let at = SourceTimestamp::new(r.timestamp);
        let max = self.shared.opts.limits.max_participants;
        for p in r.joined {
            let p = match convert::participant_from_proto(p) {
                Ok(p) => p,
                Err(e) => {
                    self.refuse_message(&e.to_string()).await;
                    continue;
                }
            };
            if !self.roster_ids.contains(&p.id) {
                if self.roster_ids.len() + self.unknown_msis.len() >= max {
                    let msg = format!(
                        "participant {:?} refused: this call already records {max} participants (max_participants)",
                        p.id
                    );
                    self.send_error(proto::ErrorCode::LimitExceeded, msg, false);
                    continue;
                }
                self.roster_ids.insert(p.id.clone());
            }
            self.remember_msis(&p.id.clone(), p.media_streams.iter().map(|(m, _)| m.0));
            let offer = self.state.offer(
                Item::Roster(at, RosterChange::Joined(p)),
                at,
                ItemKind::Control,
            );
            self.apply(offer, Instant::now()).await;
        }
        for id in r.left_ids {
            if id.len() > convert::MAX_ID_LEN {
                let e = convert::ConvertError::TooLong {
                    message: "RosterUpdate",
                    field: "left_ids",
                    len: id.len(),
                    max: convert::MAX_ID_LEN,
                };
                self.refuse_message(&e.to_string()).await;
                continue;
            }
            let offer = self.state.offer(
                Item::Roster(at, RosterChange::Left { id }),
                at,
                ItemKind::Control,
            );
            self.apply(offer, Instant::now()).await;
        }
    }

    async fn apply(&mut self, offer: Offer<Item>, arrival: Instant) {
        match offer {
            Offer::Forward(item) => self.forward(item, false, false, arrival).await,
            Offer::Withhold(item) => self.forward(item, true, false, arrival).await,
            Offer::Held => {}
            Offer::Refused(_, Refusal::PrerollFull) => {
                if self.state.counters().preroll_refused == 1 {
                    let msg = format!(
                        "pre-roll full ({} bytes): media is refused until recording is confirmed",
                        self.shared.opts.limits.max_preroll_bytes
                    );
                    self.send_error(proto::ErrorCode::LimitExceeded, msg, false);
                }
            }
            Offer::Refused(..) => {}
        }
    }

    /// Hands one item to the media worker. `paused`: timing only. `stale`: without its old timestamp.
    async fn forward(&mut self, item: Item, paused: bool, stale: bool, arrival: Instant) {
        let now = MediaTime::from_ticks(
            (arrival.duration_since(self.clock).as_nanos() / 100).min(i64::MAX as u128) as i64,
        );
        let r = match &item {
            Item::Audio(b) => b.timestamp,
            Item::Roster(r, _) | Item::Dominant(r, _) if !stale => *r,
            _ => SourceTimestamp::UNKNOWN,
        };
        if self.origin.is_none() && !r.is_unknown() && !matches!(item, Item::Video(..)) {
            self.origin = Some(r);
        }
        let report = match item {
            Item::Audio(mut b) => {
                if paused {
                    b.withhold();
                }
                self.push(|i| i.push_audio(now, b)).await
            }
            Item::Video(r, b) => {
                if paused {
                    return;
                }
                if self.sockets.len() < MAX_VIDEO_SOCKETS_KNOWN {
                    self.sockets.entry(b.media_source_id.0).or_insert(b.socket);
                }
                self.push(|i| i.push_video(now, r, b)).await
            }
            Item::Roster(r, change) => {
                let r = if stale { SourceTimestamp::UNKNOWN } else { r };
                self.push(|i| i.push_roster(r, change)).await
            }
            Item::Dominant(r, ev) => {
                let r = if stale { SourceTimestamp::UNKNOWN } else { r };
                self.push(|i| i.push_dominant_speaker(r, ev)).await
            }
        };
        if let Some(report) = report {
            if let Some(bot_adapter::ingest::Refusal::QueueFull { what }) = report.first_refusal {
                let msg = format!("media queue full: {what} dropped (counted in metadata)");
                self.send_error(proto::ErrorCode::QueueFull, msg, false);
            }
        }
    }

    /// Pushes into the call's queue. When it is full this call's task (only) waits for room, up to a second,
    /// before pushing anyway (the push then drops and counts).
    async fn push(
        &mut self,
        f: impl FnOnce(&mut bot_adapter::ingest::Ingest) -> PushReport,
    ) -> Option<PushReport> {
        let live = self.live.as_mut()?;
        let t0 = Instant::now();
        // A recording that stopped (failed) takes nothing more: never wait for room then.
        while !live.ingest().has_room(ingest::MAX_EVENTS_PER_PUSH)
            && live.is_running()
            && t0.elapsed() < Duration::from_secs(1)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Some(f(live.ingest()))
    }

    async fn push_essential(
        &mut self,
        f: impl FnOnce(&mut bot_adapter::ingest::Ingest) -> PushReport,
    ) {
        let Some(live) = self.live.as_mut() else {
            return;
        };
        let t0 = Instant::now();
        while !live.ingest().has_room(1)
            && live.is_running()
            && t0.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        f(live.ingest());
    }

    /// Sends the bot a `KeyFrameRequest` for a stream the recorder cannot decode on (it asks again while it
    /// waits: see `crate::video`), on the socket the stream's frames came on. Never waits: when the bot's
    /// stream is full the request is dropped and counted.
    fn relay_keyframe(&mut self, r: KeyFrameRequest) {
        let (kind, index) = match self.sockets.get(&r.msi.0) {
            Some(VideoSocket::Main(i)) => (proto::VideoSocketKind::Main, u32::from(*i)),
            Some(VideoSocket::ScreenShare) => (proto::VideoSocketKind::ScreenShare, 0),
            None if r.kind == StreamKind::ScreenShare => (proto::VideoSocketKind::ScreenShare, 0),
            None => (proto::VideoSocketKind::Main, 0),
        };
        let sent = self.tx.try_send(Ok(proto::EngineMessage {
            msg: Some(Out::KeyFrameRequest(proto::KeyFrameRequest {
                media_source_id: r.msi.0,
                socket_kind: kind as i32,
                socket_index: index,
            })),
        }));
        self.relay.note(sent.is_ok());
        self.shared.metrics.keyframe_request(sent.is_ok());
    }

    /// The platform time of a pause or resume stamped `t`: 0 means now (the latest audio buffer's timestamp,
    /// the recording timeline's clock); a stamp more than [`CONTROL_STAMP_TOLERANCE`] away from the call's
    /// clock is not trusted either (it would put the pause days away): it is taken as now and the bot told.
    async fn control_time(&mut self, t: u64, what: &str) -> SourceTimestamp {
        if t == 0 || self.last_ref.is_unknown() {
            return if t == 0 {
                self.last_ref
            } else {
                SourceTimestamp::new(t)
            };
        }
        let stamped = SourceTimestamp::new(t);
        let off = stamped.since(self.last_ref).abs();
        if off > CONTROL_STAMP_TOLERANCE {
            self.refuse_message(&format!(
                "{what}: timestamp {t} is {:.0} s from the call's clock; taken as now",
                off.as_secs_f64()
            ))
            .await;
            return self.last_ref;
        }
        stamped
    }

    /// A message that breaks the protocol: refused, counted, reported (rate-limited); the call goes on.
    async fn refuse_message(&mut self, why: &str) {
        self.invalid_messages += 1;
        self.shared
            .stats
            .invalid_messages
            .fetch_add(1, Ordering::Relaxed);
        self.send_error(proto::ErrorCode::InvalidMessage, why.to_string(), false);
    }

    /// Sends an `Error` without waiting: at most 10 a second; when the bot does not read, they are dropped.
    fn send_error(&mut self, code: proto::ErrorCode, message: String, fatal: bool) {
        let now = Instant::now();
        if let Some(t) = self.last_error_sent {
            if now.duration_since(t) < Duration::from_millis(100) {
                self.errors_suppressed += 1;
                return;
            }
        }
        self.last_error_sent = Some(now);
        let message = if self.errors_suppressed > 0 {
            format!(
                "{message} ({} similar messages suppressed)",
                std::mem::take(&mut self.errors_suppressed)
            )
        } else {
            message
        };
        let _ = self.tx.try_send(Ok(proto::EngineMessage {
            msg: Some(Out::Error(proto::Error {
                code: code as i32,
                message,
                fatal,
            })),
        }));
    }

    /// Sends a message the bot must get (status requests, the summary): waits for room, at most 5 s.
    async fn send_essential(&mut self, m: Out) {
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.tx.send(Ok(proto::EngineMessage { msg: Some(m) })),
        )
        .await;
    }
}

//! `verbatim send`: a reference bot. It plays the Teams SDK's part with the meeting simulator (the same
//! meetings `verbatim record` simulates) and streams each call to a `verbatim listen` server, answering the
//! server's recording-status requests as a bot that calls Graph's `updateRecordingStatus` would.
//!
//! ```text
//!  Simulator (per call) ─► SDK events ─► BotMessage ══ gRPC stream ══► verbatim listen
//!        paced in real time (or --fast)        ◄══ EngineMessage: status requests, key frames, errors, summary
//! ```
//!
//! Calls run concurrently on one HTTP/2 connection (one stream each), as a real bot's single channel would.
//! Participants from files (`--source NAME=PATH`, `--screenshare PATH`) are read by [`crate::sources`], as
//! `verbatim record` reads them, so a call sent here and one recorded in-process carry the same SDK events:
//! audio, and the H.264 frames of camera clips and of the screen share.

pub mod keyframes;

pub use keyframes::{AnswerStats, KeyFrameAnswers};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bot_adapter::grpc::auth::BearerToken;
use bot_adapter::grpc::convert;
use bot_adapter::grpc::proto::call_ingest_client::CallIngestClient;
use bot_adapter::grpc::proto::{self, bot_message::Msg, engine_message::Msg as Out};
use bot_adapter::sim::{Impairments, Leg, MeetingSpec, SdkEvent, SimError, SimReport, Simulator};
use media_core::MediaTime;
use tokio::sync::mpsc;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// What the bot answers when the server asks it to report `recording`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// Graph accepted: confirm at once.
    Accept,
    /// Graph accepted, after this long.
    After(Duration),
    /// Graph refused, with this error, after this long.
    Refuse(String, Duration),
    /// Never answer (the server's confirmation timeout applies).
    Never,
}

/// How to send.
#[derive(Clone, Debug)]
pub struct SendOptions {
    /// Server address: `HOST:PORT`, `http://HOST:PORT` or `https://HOST:PORT`.
    pub connect: String,
    /// Bearer token to present.
    pub token: Option<BearerToken>,
    /// CA certificate (PEM) to trust for `https://` (otherwise the system roots are not used: give one).
    pub ca_pem: Option<Vec<u8>>,
    /// TLS server name (default: the host of `connect`).
    pub tls_domain: Option<String>,
    /// Pace each call in real time (false = as fast as the server takes it).
    pub realtime: bool,
    /// Call ids are `<prefix>-<n>`.
    pub call_id_prefix: String,
    /// The answer to the `recording` request.
    pub confirm: Confirm,
    /// Drop the connection at this call time instead of ending the call (tests).
    pub disconnect_at: Option<MediaTime>,
    /// Pause spans to request, in call time (start, end).
    pub pauses: Vec<(MediaTime, MediaTime)>,
    /// Stamp audio buffers with the send time (`sent_unix_micros`) so the server can measure latency.
    pub stamp_send_time: bool,
    /// Messages queued per call ahead of the HTTP/2 stream (sending waits beyond it), default 256.
    pub window: usize,
    /// Recorder legs per call (default 1): each call is streamed as this many concurrent legs, leg `k` as
    /// recorder bot `k` receives it ([`Simulator::new_leg`]) with `CallStart.leg_id = "k"`.
    pub legs: u32,
    /// Every leg's own path after the senders' uplinks (drawn per leg from the seed and the leg number).
    pub leg_impairments: Impairments,
}

impl SendOptions {
    /// Defaults for sending to `connect`.
    pub fn new(connect: impl Into<String>, token: Option<BearerToken>) -> Self {
        SendOptions {
            connect: connect.into(),
            token,
            ca_pem: None,
            tls_domain: None,
            realtime: true,
            call_id_prefix: "sim".into(),
            confirm: Confirm::Accept,
            disconnect_at: None,
            pauses: Vec::new(),
            stamp_send_time: true,
            window: 256,
            legs: 1,
            leg_impairments: Impairments::NONE,
        }
    }
}

/// What happened to one call.
#[derive(Debug, Default)]
pub struct CallOutcome {
    /// The call id sent.
    pub call_id: String,
    /// The leg id sent (`"1"` for a single leg).
    pub leg_id: String,
    /// The simulator's ground truth (what was sent).
    pub sim: Option<SimReport>,
    /// The server's final summary (after the files were synced).
    pub summary: Option<proto::CallSummary>,
    /// Every recording-status request received, in order.
    pub status_requests: Vec<proto::RecordingStatusRequest>,
    /// Every error message received.
    pub errors: Vec<proto::Error>,
    /// Key-frame requests received.
    pub key_frame_requests: usize,
    /// How the simulated senders answered them (see [`keyframes`]).
    pub key_frame_answers: AnswerStats,
    /// The stream's final status when it was not OK.
    pub stream_error: Option<tonic::Status>,
    /// Bot messages sent.
    pub messages_sent: u64,
    /// `VideoMediaBuffer`s sent, per media source id (cameras and the screen share).
    pub video_sent: BTreeMap<u32, u64>,
    /// Wall time of the call.
    pub elapsed: Duration,
}

/// Why sending failed before any call started.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The address is not a valid URI.
    #[error("--connect {0:?}: not an address")]
    Address(String),
    /// Could not connect (or set up TLS).
    #[error("connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// The meeting could not be simulated.
    #[error("simulation: {0}")]
    Sim(#[from] SimError),
}

/// Connects to the server.
///
/// # Errors
/// [`SendError::Address`] or [`SendError::Connect`].
pub async fn connect(opts: &SendOptions) -> Result<Channel, SendError> {
    let uri = if opts.connect.contains("://") {
        opts.connect.clone()
    } else {
        format!("http://{}", opts.connect)
    };
    let mut ep = Endpoint::from_shared(uri.clone())
        .map_err(|_| SendError::Address(opts.connect.clone()))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10));
    if uri.starts_with("https://") {
        crate::install_tls_provider();
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &opts.ca_pem {
            tls = tls.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some(d) = &opts.tls_domain {
            tls = tls.domain_name(d.clone());
        }
        ep = ep.tls_config(tls)?;
    }
    Ok(ep.connect().await?)
}

fn bot(msg: Msg) -> proto::BotMessage {
    proto::BotMessage { msg: Some(msg) }
}

fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Streams one simulated call over `channel` and returns what the server answered.
///
/// # Errors
/// [`SendError::Sim`] when the meeting cannot be simulated. Server refusals are in
/// [`CallOutcome::stream_error`].
pub async fn send_call(
    channel: Channel,
    opts: &SendOptions,
    call_id: String,
    spec: MeetingSpec,
) -> Result<CallOutcome, SendError> {
    send_leg(channel, opts, call_id, spec, Leg::FIRST).await
}

/// Streams leg `leg` of one simulated call (as recorder bot `leg.number` receives it) over `channel`, with
/// `CallStart.leg_id` = the leg number, and returns what the server answered.
///
/// # Errors
/// [`SendError::Sim`] when the meeting or the leg cannot be simulated. Server refusals are in
/// [`CallOutcome::stream_error`].
pub async fn send_leg(
    channel: Channel,
    opts: &SendOptions,
    call_id: String,
    spec: MeetingSpec,
    leg: Leg,
) -> Result<CallOutcome, SendError> {
    // The clips (shared, not copied) for the answers to key-frame requests; epochs and capture times come
    // from the simulator's report.
    let clips = spec.clone();
    let mut sim = Simulator::new_leg(spec, leg)?;
    let mut answers = KeyFrameAnswers::new(&clips, sim.report());
    drop(clips);
    // Requests the reader task takes off the response stream, for the sending loop (a full queue drops one:
    // the engine asks again while it waits).
    let (keyframe_tx, mut keyframe_rx) = mpsc::channel::<proto::KeyFrameRequest>(64);
    let t0 = Instant::now();
    let (tx, rx) = mpsc::channel::<proto::BotMessage>(opts.window.max(1));
    let leg_id = leg.number.to_string();
    let mut out = CallOutcome {
        call_id: call_id.clone(),
        leg_id: leg_id.clone(),
        ..Default::default()
    };
    let start = proto::CallStart {
        call_id: call_id.clone(),
        tenant_id: "00000000-0000-4000-8000-00000000cafe".into(),
        observed_participant_id: "8:orgid:00000001-0000-4000-8000-000000000001".into(),
        direction: proto::CallDirection::Incoming as i32,
        custom_data: [("source".to_string(), "verbatim send".to_string())].into(),
        leg_id,
        ..Default::default()
    };
    if tx.send(bot(Msg::CallStart(start))).await.is_err() {
        return Ok(out);
    }
    out.messages_sent += 1;
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    if let Some(t) = &opts.token {
        if let Ok(v) = t.header_value().parse() {
            request.metadata_mut().insert("authorization", v);
        }
    }
    let mut client = CallIngestClient::new(channel).max_decoding_message_size(4 << 20);
    let inbound = match client.stream_call(request).await {
        Ok(r) => r.into_inner(),
        Err(status) => {
            out.stream_error = Some(status);
            out.elapsed = t0.elapsed();
            return Ok(out);
        }
    };
    let (answered_tx, answered_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(read_engine(
        inbound,
        tx.clone(),
        call_id.clone(),
        opts.confirm.clone(),
        answered_tx,
        keyframe_tx,
    ));
    if !opts.realtime {
        // As fast as possible: a burst would outrun the handshake (and the server's pre-roll window), so the
        // media waits until the bot has answered the `recording` request. Real-time calls start at once and
        // exercise the pre-roll.
        let _ = tokio::time::timeout(Duration::from_secs(15), answered_rx).await;
    }
    let mut pauses = opts.pauses.clone();
    pauses.sort();
    let mut pause_i = 0usize;
    let mut paused = false;
    let mut disconnected = false;
    for ev in sim.by_ref() {
        if let Some(d) = opts.disconnect_at {
            if ev.at >= d {
                disconnected = true;
                break;
            }
        }
        if opts.realtime {
            let due = t0 + Duration::from_nanos(ev.at.ticks().max(0) as u64 * 100);
            tokio::time::sleep_until(due.into()).await;
        }
        let mut msgs: Vec<Msg> = Vec::new();
        if let Some(&(ps, pe)) = pauses.get(pause_i) {
            if !paused && ev.at >= ps {
                paused = true;
                msgs.push(Msg::Pause(proto::Pause {
                    timestamp: 0, // now: the latest audio buffer's timestamp
                    requested_by: "agent@contoso.example".into(),
                    reason: "card details".into(),
                }));
            }
            if paused && ev.at >= pe {
                paused = false;
                pause_i += 1;
                msgs.push(Msg::Resume(proto::Resume {
                    timestamp: 0, // now: the latest audio buffer's timestamp
                    requested_by: "agent@contoso.example".into(),
                    reason: "card details taken".into(),
                }));
            }
        }
        msgs.push(match ev.event {
            SdkEvent::Audio(b) => {
                let stamp = if opts.stamp_send_time {
                    unix_micros()
                } else {
                    0
                };
                Msg::Audio(convert::audio_to_proto(&b, stamp))
            }
            SdkEvent::Video(mut b) => {
                // A request that has reached the sender by now makes the next frame it captures an IDR.
                while let Ok(k) = keyframe_rx.try_recv() {
                    answers.request(media_core::Msi(k.media_source_id), ev.at);
                }
                answers.answer(&mut b);
                *out.video_sent.entry(b.media_source_id.0).or_default() += 1;
                // The simulator knows the platform clock at delivery exactly (a real bot estimates it from
                // the latest audio buffer's timestamp and its own clock): `record` places video by it too.
                Msg::Video(convert::video_to_proto(&b, ev.reference))
            }
            SdkEvent::Roster(change) => Msg::Roster(match change {
                bot_adapter::sdk::RosterChange::Joined(p) => proto::RosterUpdate {
                    timestamp: ev.reference.ticks(),
                    joined: vec![convert::participant_to_proto(&p)],
                    left_ids: Vec::new(),
                },
                bot_adapter::sdk::RosterChange::Left { id } => proto::RosterUpdate {
                    timestamp: ev.reference.ticks(),
                    joined: Vec::new(),
                    left_ids: vec![id],
                },
            }),
            SdkEvent::DominantSpeaker(d) => Msg::DominantSpeaker(proto::DominantSpeakerChanged {
                timestamp: ev.reference.ticks(),
                current_dominant_speaker: d.current.0,
                dominant_speaker_history: Vec::new(),
            }),
            SdkEvent::CallEnded => Msg::CallEnd(proto::CallEnd {
                call_id: call_id.clone(),
                timestamp: ev.reference.ticks(),
                reason: "the meeting ended".into(),
            }),
        });
        let mut closed = false;
        for m in msgs {
            if tx.send(bot(m)).await.is_err() {
                closed = true; // the server ended the stream (e.g. recording not confirmed)
                break;
            }
            out.messages_sent += 1;
        }
        if closed {
            break;
        }
    }
    out.sim = Some(sim.report().clone());
    out.key_frame_answers = answers.stats();
    drop(tx);
    if disconnected {
        reader.abort();
        out.elapsed = t0.elapsed();
        return Ok(out);
    }
    match tokio::time::timeout(Duration::from_secs(60), reader).await {
        Ok(Ok(r)) => {
            out.summary = r.summary;
            out.status_requests = r.status_requests;
            out.errors = r.errors;
            out.key_frame_requests = r.key_frame_requests;
            out.stream_error = r.stream_error;
        }
        Ok(Err(e)) => out.stream_error = Some(tonic::Status::internal(e.to_string())),
        Err(_) => {
            out.stream_error = Some(tonic::Status::deadline_exceeded("no summary within 60 s"))
        }
    }
    out.elapsed = t0.elapsed();
    Ok(out)
}

#[derive(Default)]
struct Read {
    summary: Option<proto::CallSummary>,
    status_requests: Vec<proto::RecordingStatusRequest>,
    errors: Vec<proto::Error>,
    key_frame_requests: usize,
    stream_error: Option<tonic::Status>,
}

/// Reads the engine's messages; answers `recording` requests as configured.
async fn read_engine(
    mut inbound: tonic::Streaming<proto::EngineMessage>,
    tx: mpsc::Sender<proto::BotMessage>,
    call_id: String,
    confirm: Confirm,
    answered: tokio::sync::oneshot::Sender<()>,
    keyframes: mpsc::Sender<proto::KeyFrameRequest>,
) -> Read {
    let mut r = Read::default();
    let mut tx = Some(tx);
    let mut answered = Some(answered);
    loop {
        match inbound.message().await {
            Ok(Some(m)) => match m.msg {
                Some(Out::StatusRequest(s)) => {
                    let wants_recording = s.status == proto::RecordingStatus::Recording as i32;
                    r.status_requests.push(s);
                    if !wants_recording {
                        // `failed` / `notRecording`: a real bot reports them to Graph; nothing more to send.
                        tx = None;
                        continue;
                    }
                    let answer = |success: bool, error: String| {
                        bot(Msg::RecordingStatus(proto::RecordingStatusResult {
                            call_id: call_id.clone(),
                            status: proto::RecordingStatus::Recording as i32,
                            success,
                            error,
                        }))
                    };
                    let Some(t) = tx.clone() else { continue };
                    match &confirm {
                        Confirm::Accept => {
                            let _ = t.send(answer(true, String::new())).await;
                        }
                        Confirm::After(d) => {
                            let d = *d;
                            let m = answer(true, String::new());
                            let a = answered.take();
                            tokio::spawn(async move {
                                tokio::time::sleep(d).await;
                                let _ = t.send(m).await;
                                if let Some(a) = a {
                                    let _ = a.send(());
                                }
                            });
                        }
                        Confirm::Refuse(e, d) => {
                            let (d, m) = (*d, answer(false, e.clone()));
                            tokio::spawn(async move {
                                tokio::time::sleep(d).await;
                                let _ = t.send(m).await;
                            });
                        }
                        Confirm::Never => {}
                    }
                    if let Some(a) = answered.take() {
                        let _ = a.send(());
                    }
                }
                Some(Out::KeyFrameRequest(k)) => {
                    r.key_frame_requests += 1;
                    let _ = keyframes.try_send(k);
                }
                Some(Out::Error(e)) => r.errors.push(e),
                Some(Out::Summary(s)) => r.summary = Some(s),
                None => {}
            },
            Ok(None) => break,
            Err(status) => {
                r.stream_error = Some(status);
                break;
            }
        }
    }
    r
}

/// Streams `specs` as concurrent calls over one connection, each as [`SendOptions::legs`] concurrent legs;
/// call `n` gets id `<prefix>-<n>`. Outcomes come call by call, leg by leg.
///
/// # Errors
/// Connection set-up errors. Per-call problems are in each [`CallOutcome`].
pub async fn send_calls(
    opts: &SendOptions,
    specs: Vec<MeetingSpec>,
) -> Result<Vec<CallOutcome>, SendError> {
    let channel = connect(opts).await?;
    let opts = Arc::new(opts.clone());
    let mut tasks = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let ch = channel.clone();
        let o = Arc::clone(&opts);
        let id = format!("{}-{}", o.call_id_prefix, i + 1);
        for number in 1..=o.legs.max(1) {
            let leg = Leg {
                number,
                impairments: o.leg_impairments,
                ..Leg::FIRST
            };
            let (ch, o, id, spec) = (ch.clone(), Arc::clone(&o), id.clone(), spec.clone());
            tasks.push(tokio::spawn(async move {
                send_leg(ch, &o, id, spec, leg).await
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => out.push(r?),
            Err(e) => out.push(CallOutcome {
                stream_error: Some(tonic::Status::internal(e.to_string())),
                ..Default::default()
            }),
        }
    }
    Ok(out)
}

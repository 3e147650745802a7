//! The idle timeout of a call's stream (`--idle-timeout`, `Limits::idle_timeout`): a bot that keeps its stream
//! open but stops sending is cut off once no message came for that long (the call is interrupted, its folder
//! closed and verifiable), and a bot that sends more slowly than every 20 ms but within the timeout is never
//! cut off, however long the call lasts compared with the timeout.

mod grpc_util;

use std::time::{Duration, Instant};

use bot_adapter::grpc::proto::{self, bot_message::Msg, engine_message::Msg as Out};
use grpc_util::*;
use media_core::MediaTime;

const REC: i32 = proto::RecordingStatus::Recording as i32;
const R0: u64 = 5_000_000_000;

struct Bot {
    tx: tokio::sync::mpsc::Sender<proto::BotMessage>,
    inbound: tonic::Streaming<proto::EngineMessage>,
    call_id: String,
}

fn bot(m: Msg) -> proto::BotMessage {
    proto::BotMessage { msg: Some(m) }
}

/// Starts a call, confirms recording and announces one participant.
async fn start_call(srv: &TestServer, call_id: &str) -> Bot {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", srv.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    tx.send(bot(Msg::CallStart(proto::CallStart {
        call_id: call_id.into(),
        ..Default::default()
    })))
    .await
    .unwrap();
    let mut client = proto::call_ingest_client::CallIngestClient::new(channel);
    let mut inbound = client.stream_call(req).await.unwrap().into_inner();
    let first = inbound.message().await.unwrap().unwrap();
    assert!(matches!(first.msg, Some(Out::StatusRequest(s)) if s.status == REC));
    tx.send(bot(Msg::RecordingStatus(proto::RecordingStatusResult {
        call_id: call_id.into(),
        status: REC,
        success: true,
        error: String::new(),
    })))
    .await
    .unwrap();
    tx.send(bot(Msg::Roster(proto::RosterUpdate {
        timestamp: R0,
        joined: vec![proto::Participant {
            id: "p7".into(),
            display_name: "Pat".into(),
            media_streams: vec![proto::MediaStream {
                source_id: 7,
                kind: proto::MediaKind::Audio as i32,
            }],
            ..Default::default()
        }],
        left_ids: vec![],
    })))
    .await
    .unwrap();
    Bot {
        tx,
        inbound,
        call_id: call_id.into(),
    }
}

impl Bot {
    /// A 20 ms buffer of participant 7, the `k`-th, buffers `every_ms` apart on the platform's clock.
    async fn audio(&self, k: u64, every_ms: u64) {
        let step = every_ms * 10_000;
        self.tx
            .send(bot(Msg::Audio(proto::AudioMediaBuffer {
                timestamp: R0 + (k + 1) * step,
                unmixed: vec![proto::UnmixedAudioBuffer {
                    active_speaker_id: 7,
                    data: bytes::Bytes::from(vec![(k % 7) as u8 + 1; 640]),
                    original_sender_timestamp: 1_000_000 + k * step,
                }],
                ..Default::default()
            })))
            .await
            .unwrap();
    }

    /// Reads the engine's messages to the end of the stream: the summary's status and error, and the
    /// stream's error status, if any.
    async fn outcome(mut self) -> (Option<(String, String)>, Option<tonic::Status>) {
        let mut summary = None;
        loop {
            match self.inbound.message().await {
                Ok(Some(m)) => {
                    if let Some(Out::Summary(s)) = m.msg {
                        summary = Some((s.status, s.error));
                    }
                }
                Ok(None) => return (summary, None),
                Err(e) => return (summary, Some(e)),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_stops_sending_is_cut_off_and_one_that_sends_slowly_is_not() {
    let dir = temp_dir("idle");
    let srv = start_server(&dir, |o| {
        o.limits.idle_timeout = MediaTime::from_secs(1);
    });

    // Slow but alive: a buffer every 400 ms (someone saying a word now and then) for 3.2 s, three times the
    // timeout, then the end of the call.
    let slow = start_call(&srv, "slow-1").await;
    for k in 0..8 {
        slow.audio(k, 400).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    slow.tx
        .send(bot(Msg::CallEnd(proto::CallEnd {
            call_id: slow.call_id.clone(),
            timestamp: R0 + 9 * 4_000_000,
            reason: "done".into(),
        })))
        .await
        .unwrap();
    let (summary, err) = slow.outcome().await;
    assert!(err.is_none(), "the slow bot was cut off: {err:?}");
    let (status, error) = summary.expect("a summary");
    assert_eq!(status, "completed", "{error}");
    let md = metadata(&srv.out.join("slow-1"));
    assert_eq!(md["participants"][0]["frames_written"], 8);

    // Silent with the stream open: cut off after 1 s without a message, not before, not much later.
    let silent = start_call(&srv, "silent-1").await;
    for k in 0..3 {
        silent.audio(k, 20).await;
    }
    let last = Instant::now();
    let keep_open = silent.tx.clone();
    let (summary, err) = tokio::time::timeout(Duration::from_secs(20), silent.outcome())
        .await
        .unwrap();
    let waited = last.elapsed();
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(10),
        "cut off after {waited:?}"
    );
    let err = err.expect("the stream ends with an error status");
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("no message for 1 s"), "{err:?}");
    if let Some((status, error)) = summary {
        assert_eq!(status, "interrupted", "{error}");
    }
    drop(keep_open);
    // The error goes to the bot as the call is cut off; the folder is closed right after.
    let folder = srv.out.join("silent-1");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !folder.join("manifest.json").is_file() {
        assert!(Instant::now() < deadline, "silent-1 was not closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let md = metadata(&folder);
    assert_eq!(md["recording"]["status"], "interrupted");
    assert_eq!(md["call"]["interrupted_because"], "no message for 1 s");
    assert_eq!(md["participants"][0]["frames_written"], 3);
    let rep = muxer::verify::verify_dir(&folder, None).unwrap();
    assert_eq!(rep.final_status, muxer::Status::Interrupted);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    let history = manifest["status_history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["status"], "interrupted", "{last}");
    assert!(last.to_string().contains("no message for 1 s"), "{last}");
    // The slow call says nothing of the kind.
    let slow_md = metadata(&srv.out.join("slow-1"));
    assert!(slow_md["call"].get("interrupted_because").is_none());
    srv.stop().await;
}

//! Helpers shared by the gRPC tests: an in-process server on 127.0.0.1:0, simulated meetings, and checks of
//! the recordings the server wrote.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bot_adapter::grpc::auth::BearerToken;
use bot_adapter::sim::{self, MeetingSpec};
use media_core::MediaTime;
use verbatim::listen::{self, ListenOptions, ServerStats};
use verbatim::send::{CallOutcome, SendOptions};

#[path = "../fixtures/mod.rs"]
mod fixtures;
#[allow(unused_imports)] // each test binary uses a different subset
pub use fixtures::*;

pub const TOKEN: &str = "test-token-0123456789";

/// A fresh temporary folder under the target dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let d = base.join(format!("grpc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A signing key file in `dir`.
pub fn key_file(dir: &Path) -> PathBuf {
    let p = dir.join("signing.key");
    let k = muxer::integrity::generate_signing_key().unwrap();
    muxer::integrity::save_signing_key(&p, &k).unwrap();
    p
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub out: PathBuf,
    pub stats: Arc<ServerStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Stops accepting; waits (bounded) until every call has finalized.
    pub async fn stop(mut self) {
        for _ in 0..600 {
            if self
                .stats
                .calls_active
                .load(std::sync::atomic::Ordering::Relaxed)
                == 0
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), t).await;
        }
    }
    pub fn client(&self) -> SendOptions {
        let mut o = SendOptions::new(
            format!("http://{}", self.addr),
            Some(BearerToken::new(TOKEN).unwrap()),
        );
        o.realtime = false;
        o
    }
}

/// Starts a server (token auth on) writing into `dir/rec`; `tune` adjusts the options.
pub fn start_server(dir: &Path, tune: impl FnOnce(&mut ListenOptions)) -> TestServer {
    let out = dir.join("rec");
    let mut opts = ListenOptions::new(&out, Some(BearerToken::new(TOKEN).unwrap()));
    opts.record.signing_key = Some(key_file(dir));
    // Most tests replay calls faster than real time (`client()` is not paced): no wall-clock lead bound.
    // Tests of live pacing set it back with `tune`.
    opts.record.recorder.call_clock.max_lead = None;
    tune(&mut opts);
    let l = listen::bind("127.0.0.1:0".parse().unwrap(), opts).unwrap();
    let addr = l.local_addr();
    let stats = l.stats();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        l.serve(async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestServer {
        addr,
        out,
        stats,
        stop: Some(tx),
        task: Some(task),
    }
}

/// A synthetic meeting of `n` speakers lasting `secs`.
pub fn synthetic(n: usize, secs: i64, seed: u64) -> MeetingSpec {
    let d = MediaTime::from_secs(secs);
    MeetingSpec {
        participants: sim::synthetic::participants(n, d, seed),
        duration: Some(d),
        seed,
        impairments: Default::default(),
        screenshares: Vec::new(),
    }
}

pub fn metadata(dir: &Path) -> serde_json::Value {
    let p = dir.join("metadata.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

pub fn read_wav(path: &Path) -> Vec<i16> {
    let r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.into_samples::<i16>().map(|s| s.unwrap()).collect()
}

/// Checks a call the bot ended normally: `completed`, verifiable, and for every participant frames written =
/// frames sent (those the platform handed the bot: sent minus any still in flight at the call's end, which
/// no recorder can receive).
pub fn check_complete(out: &Path, o: &CallOutcome) {
    let s = o
        .summary
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no summary ({:?})", o.call_id, o.stream_error));
    assert_eq!(s.status, "completed", "{}: {}", o.call_id, s.error);
    let dir = out.join(&s.recording);
    let report = muxer::verify::verify_dir(&dir, None)
        .unwrap_or_else(|e| panic!("{}: verify: {e}", o.call_id));
    assert_eq!(report.final_status, muxer::Status::Completed);
    let md = metadata(&dir);
    assert_eq!(md["recording"]["status"], "completed");
    let sim = o.sim.as_ref().unwrap();
    let parts = md["participants"].as_array().unwrap();
    assert_eq!(parts.len(), sim.participants.len(), "{}", o.call_id);
    for (p, r) in parts.iter().zip(&sim.participants) {
        assert_eq!(r.lost_network + r.duplicated, 0, "unimpaired meeting");
        assert_eq!(
            p["frames_written"].as_u64(),
            Some(r.sent - r.pending_at_end),
            "{} {}: written vs sent",
            o.call_id,
            r.name
        );
    }
}

/// Files under `dir` (recursively), for "nothing written" checks.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

use bot_adapter::grpc::proto;

/// A hand-driven bot stream.
pub struct RawBot {
    pub tx: tokio::sync::mpsc::Sender<proto::BotMessage>,
    pub inbound: tonic::Streaming<proto::EngineMessage>,
}

pub fn bot(m: proto::bot_message::Msg) -> proto::BotMessage {
    proto::BotMessage { msg: Some(m) }
}

pub fn call_start(id: &str) -> proto::BotMessage {
    bot(proto::bot_message::Msg::CallStart(proto::CallStart {
        call_id: id.into(),
        ..Default::default()
    }))
}

/// One 20 ms buffer of `msi`'s audio in slot `k` (as the platform delivers: frame k - 1 in slot k).
pub fn audio(r0: u64, k: u64, msi: u32, bytes: usize) -> proto::BotMessage {
    bot(proto::bot_message::Msg::Audio(proto::AudioMediaBuffer {
        timestamp: r0 + (k + 1) * 200_000,
        unmixed: vec![proto::UnmixedAudioBuffer {
            active_speaker_id: msi,
            data: bytes::Bytes::from(vec![(k % 5) as u8 + 1; bytes]),
            original_sender_timestamp: 9_000_000 + k * 200_000,
        }],
        ..Default::default()
    }))
}

/// Opens a stream, sends `first`, and returns the bot (or the server's refusal).
pub async fn raw_bot(
    addr: SocketAddr,
    token: Option<&str>,
    first: proto::BotMessage,
) -> Result<RawBot, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tx.send(first).await.unwrap();
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let mut client = proto::call_ingest_client::CallIngestClient::new(channel);
    let inbound = client.stream_call(req).await?.into_inner();
    Ok(RawBot { tx, inbound })
}

impl RawBot {
    /// Waits for the `recording` request and confirms it.
    pub async fn confirm(&mut self, call_id: &str) {
        let m = self.inbound.message().await.unwrap().unwrap();
        assert!(
            matches!(m.msg, Some(proto::engine_message::Msg::StatusRequest(ref s)) if s.status == proto::RecordingStatus::Recording as i32),
            "{m:?}"
        );
        self.tx
            .send(bot(proto::bot_message::Msg::RecordingStatus(
                proto::RecordingStatusResult {
                    call_id: call_id.into(),
                    status: proto::RecordingStatus::Recording as i32,
                    success: true,
                    error: String::new(),
                },
            )))
            .await
            .unwrap();
    }

    /// Reads until the first `Error` message arrives (at most 10 s) and returns every message read, that
    /// one last. Lets a test wait out the server's one-error-per-100-ms limit from the moment an error left.
    pub async fn until_error(&mut self) -> Vec<proto::EngineMessage> {
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(10), self.inbound.message())
                .await
            {
                Ok(Ok(Some(m))) => {
                    let is_error = matches!(m.msg, Some(proto::engine_message::Msg::Error(_)));
                    out.push(m);
                    if is_error {
                        return out;
                    }
                }
                other => panic!("no Error message within 10 s: {other:?} after {out:?}"),
            }
        }
    }

    /// Reads until the stream ends: (messages, final error status if any).
    pub async fn drain(mut self) -> (Vec<proto::EngineMessage>, Option<tonic::Status>) {
        drop(self.tx);
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(30), self.inbound.message())
                .await
            {
                Ok(Ok(Some(m))) => out.push(m),
                Ok(Ok(None)) => return (out, None),
                Ok(Err(s)) => return (out, Some(s)),
                Err(_) => panic!("the server did not end the stream within 30 s"),
            }
        }
    }
}

/// Waits (bounded) until `dir/metadata.json` exists.
pub async fn wait_for_metadata(dir: &Path) -> serde_json::Value {
    for _ in 0..400 {
        if dir.join("metadata.json").exists() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            return metadata(dir);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{}: no metadata.json within 20 s", dir.display());
}

/// A roster entry at `r0` for a participant with audio `msi`.
pub fn roster(r0: u64, msi: u32) -> proto::BotMessage {
    bot(proto::bot_message::Msg::Roster(proto::RosterUpdate {
        timestamp: r0,
        joined: vec![proto::Participant {
            id: format!("id-{msi}"),
            display_name: format!("p{msi}"),
            media_streams: vec![proto::MediaStream {
                source_id: msi,
                kind: proto::MediaKind::Audio as i32,
            }],
            ..Default::default()
        }],
        left_ids: vec![],
    }))
}

/// Spawns `verbatim listen` (its `command` without stdout set) and returns it with the address it printed.
pub fn start_listen(mut command: std::process::Command) -> (std::process::Child, String) {
    let mut server = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (server, addr)
}

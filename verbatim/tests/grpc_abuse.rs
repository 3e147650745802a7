//! Abuse of the ingest service, with ordinary calls running alongside that must come out complete: random bytes
//! on the port, an oversized message, a message for an unknown call, media before call start, a burst far
//! beyond real time, a bot that stops reading, a missing or wrong token (nothing written), a dropped
//! connection (recording `interrupted`, verifiable), too many participants, too many calls.

mod grpc_util;

use std::time::Duration;

use bot_adapter::grpc::auth::BearerToken;
use bot_adapter::grpc::proto::{self, bot_message::Msg, engine_message::Msg as Out};
use grpc_util::*;
use media_core::MediaTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use verbatim::send;

/// Pseudo-random bytes (xorshift), deterministic.
fn noise(n: usize, mut x: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn random_bytes(addr: std::net::SocketAddr) {
    for (i, preface) in [&b""[..], &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..]]
        .iter()
        .enumerate()
    {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut junk = preface.to_vec();
        junk.extend(noise(64 << 10, 0x9E37 + i as u64));
        let _ = s.write_all(&junk).await;
        let mut buf = [0u8; 4096];
        // The server answers with an error or closes; either way the read ends (bounded).
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

async fn oversized_and_unknown_call(srv: &TestServer) {
    let mut b = raw_bot(srv.addr, Some(TOKEN), call_start("big-1"))
        .await
        .unwrap();
    b.confirm("big-1").await;
    let r0 = 7_000_000_000;
    for k in 0..50 {
        b.tx.send(audio(r0, k, 5, 640)).await.unwrap();
    }
    // A message for another call: refused with an error, the stream goes on.
    b.tx.send(bot(Msg::CallEnd(proto::CallEnd {
        call_id: "no-such-call".into(),
        ..Default::default()
    })))
    .await
    .unwrap();
    let big = proto::VideoMediaBuffer {
        media_source_id: 9,
        format: Some(proto::VideoFormat {
            color_format: proto::VideoColorFormat::H264 as i32,
            width: 1920,
            height: 1080,
            ..Default::default()
        }),
        data: bytes::Bytes::from(vec![0u8; 2 << 20]),
        ..Default::default()
    };
    let _ = b.tx.send(bot(Msg::Video(big))).await;
    let (msgs, status) = b.drain().await;
    let status = status.expect("the oversized message ends the stream with a status");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(
        msgs.iter().any(|m| matches!(&m.msg, Some(Out::Error(e))
            if e.code == proto::ErrorCode::InvalidMessage as i32 && e.message.contains("no-such-call"))),
        "{msgs:?}"
    );
    // The call's recording is finalized as interrupted, and verifiable.
    let dir = srv.out.join("big-1");
    let md = wait_for_metadata(&dir).await;
    assert_eq!(md["recording"]["status"], "interrupted");
    let rep = muxer::verify::verify_dir(&dir, None).unwrap();
    assert_eq!(rep.final_status, muxer::Status::Interrupted);
    assert!(md["participants"][0]["frames_written"].as_u64().unwrap() >= 40);
}

async fn media_before_start(srv: &TestServer) {
    let r = raw_bot(srv.addr, Some(TOKEN), audio(1_000_000, 0, 1, 640)).await;
    let s = r.err().expect("media before call_start is refused");
    assert_eq!(s.code(), tonic::Code::FailedPrecondition, "{s:?}");
    let c = srv.client();
    let mut client = proto::call_ingest_client::CallIngestClient::connect(c.connect.clone())
        .await
        .unwrap();
    let mut req = tonic::Request::new(proto::GetCallRequest {
        call_id: "no-such-call".into(),
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let s = client.get_call(req).await.unwrap_err();
    assert_eq!(s.code(), tonic::Code::NotFound);
}

async fn bad_tokens(srv: &TestServer) {
    for (prefix, token) in [
        ("notoken", None),
        ("badtoken", Some("test-token-0123456788")),
    ] {
        let mut c = srv.client();
        c.call_id_prefix = prefix.into();
        c.token = token.map(|t| BearerToken::new(t).unwrap());
        let o = send::send_calls(&c, vec![synthetic(2, 2, 3)])
            .await
            .unwrap();
        let s = o[0].stream_error.as_ref().expect("refused");
        assert_eq!(s.code(), tonic::Code::Unauthenticated, "{s:?}");
        assert!(o[0].summary.is_none());
    }
}

async fn dropped_connection(srv: &TestServer) {
    let mut c = srv.client();
    c.call_id_prefix = "dropped".into();
    c.realtime = true;
    c.disconnect_at = Some(MediaTime::from_millis(1500));
    let o = send::send_calls(&c, vec![synthetic(3, 4, 8)])
        .await
        .unwrap();
    assert!(o[0].summary.is_none());
    let dir = srv.out.join("dropped-1");
    let md = wait_for_metadata(&dir).await;
    assert_eq!(md["recording"]["status"], "interrupted");
    let d = md["recording"]["duration_us"].as_i64().unwrap();
    assert!((1_000_000..=1_600_000).contains(&d), "duration {d}");
    let rep = muxer::verify::verify_dir(&dir, None).unwrap();
    assert_eq!(rep.final_status, muxer::Status::Interrupted);
}

async fn burst(srv: &TestServer) {
    // The whole 8 s call at once: far more than 10x real time.
    let mut c = srv.client();
    c.call_id_prefix = "burst".into();
    c.realtime = false;
    let o = send::send_calls(&c, vec![synthetic(4, 8, 9)])
        .await
        .unwrap();
    check_complete(&srv.out, &o[0]);
}

async fn stops_reading(srv: &TestServer) {
    // Never reads the engine's messages, and provokes many (invalid messages answer with errors).
    let mut b = raw_bot(srv.addr, Some(TOKEN), call_start("deaf-1"))
        .await
        .unwrap();
    b.confirm("deaf-1").await;
    let r0 = 3_000_000_000;
    b.tx.send(roster(r0, 11)).await.unwrap();
    for k in 0..150 {
        b.tx.send(audio(r0, k, 11, 640)).await.unwrap();
        b.tx.send(bot(Msg::Resume(proto::Resume::default())))
            .await
            .unwrap(); // "not paused"
    }
    b.tx.send(bot(Msg::CallEnd(proto::CallEnd {
        call_id: "deaf-1".into(),
        timestamp: r0 + 151 * 200_000,
        reason: String::new(),
    })))
    .await
    .unwrap();
    let md = wait_for_metadata(&srv.out.join("deaf-1")).await;
    assert_eq!(md["recording"]["status"], "completed");
    assert_eq!(md["participants"][0]["frames_written"], 150);
    assert_eq!(md["call"]["ingest_refused"]["invalid_messages"], 150);
    drop(b); // still unread
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abuse_leaves_other_calls_complete() {
    let dir = temp_dir("abuse");
    let srv = start_server(&dir, |o| {
        o.limits.max_message_bytes = 1 << 20;
        o.limits.outbound_capacity = 4;
    });
    let mut normal = srv.client();
    normal.realtime = true;
    normal.call_id_prefix = "normal".into();
    let background = tokio::spawn({
        let n = normal.clone();
        async move {
            send::send_calls(&n, (0..3).map(|i| synthetic(4, 5, 40 + i)).collect())
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::join!(
        random_bytes(srv.addr),
        oversized_and_unknown_call(&srv),
        media_before_start(&srv),
        bad_tokens(&srv),
        dropped_connection(&srv),
        burst(&srv),
        stops_reading(&srv),
    );
    let outcomes = background.await.unwrap();
    for o in &outcomes {
        check_complete(&srv.out, o);
        assert!(o.errors.is_empty(), "{:?}", o.errors);
    }
    // Nothing was written for refused streams.
    let mut names: Vec<String> = std::fs::read_dir(&srv.out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "big-1",
            "burst-1",
            "deaf-1",
            "dropped-1",
            "normal-1",
            "normal-2",
            "normal-3"
        ]
    );
    assert_eq!(
        srv.stats
            .auth_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_and_calls_beyond_the_limits_are_refused_clearly() {
    let dir = temp_dir("limits");
    let srv = start_server(&dir, |o| {
        o.limits.max_participants = 2;
        o.limits.max_calls = 2;
        o.limits.confirm_timeout = MediaTime::from_secs(20);
    });
    // Two calls that wait for confirmation hold both slots.
    let mut waiting = Vec::new();
    for id in ["hold-1", "hold-2"] {
        let mut b = raw_bot(srv.addr, Some(TOKEN), call_start(id))
            .await
            .unwrap();
        let _ = b.inbound.message().await.unwrap(); // the `recording` request: the call is admitted
        waiting.push(b);
    }
    let s = raw_bot(srv.addr, Some(TOKEN), call_start("third"))
        .await
        .err()
        .expect("third call refused");
    assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
    for b in waiting {
        drop(b); // dropped before confirmation: not recorded
    }
    // Once they are gone, a 4-speaker call gets two participants recorded and is told about the rest.
    let mut c = srv.client();
    c.call_id_prefix = "crowd".into();
    let mut o = Vec::new();
    for _ in 0..100 {
        o = send::send_calls(&c, vec![synthetic(4, 3, 12)])
            .await
            .unwrap();
        match &o[0].stream_error {
            Some(s) if s.code() == tonic::Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            _ => break,
        }
    }
    let o = &o[0];
    let s = o.summary.as_ref().expect("summary");
    assert_eq!(s.status, "completed");
    assert_eq!(s.participants.len(), 2);
    assert!(
        o.errors
            .iter()
            .any(|e| e.code == proto::ErrorCode::LimitExceeded as i32
                && e.message.contains("2 participants (max_participants)")),
        "{:?}",
        o.errors
    );
    let md = metadata(&srv.out.join("crowd-1"));
    assert_eq!(md["participants"].as_array().unwrap().len(), 2);
    assert_eq!(md["call"]["recording_status"]["outcome"], "confirmed");
    srv.stop().await;
}

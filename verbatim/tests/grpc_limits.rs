//! Every limit the ingest service documents (docs/bot-integration.md, "Limits"), enforced over the real gRPC
//! path (a server on 127.0.0.1, a hand-driven or simulated bot) with the limit named in what the bot is told:
//! call id length, custom data (entries, value length, total bytes), display name length, pause texts (cut,
//! the pause still happens), video streams per call, the stored history of a participant's source ids (capped,
//! their media still recorded). The participant and call limits are in grpc_abuse.rs.

mod grpc_util;

use std::time::Duration;

use bot_adapter::grpc::convert::{MAX_CUSTOM_DATA, MAX_ID_LEN, MAX_TEXT_LEN};
use bot_adapter::grpc::proto::{self, bot_message::Msg, engine_message::Msg as Out};
use grpc_util::*;
use verbatim::engine::MAX_SOURCE_IDS_PER_PARTICIPANT;
use verbatim::send;

fn errors(msgs: &[proto::EngineMessage]) -> Vec<(i32, String)> {
    msgs.iter()
        .filter_map(|m| match &m.msg {
            Some(Out::Error(e)) => Some((e.code, e.message.clone())),
            _ => None,
        })
        .collect()
}

fn start_with(id: &str, tune: impl FnOnce(&mut proto::CallStart)) -> proto::BotMessage {
    let mut s = proto::CallStart {
        call_id: id.into(),
        ..Default::default()
    };
    tune(&mut s);
    bot(Msg::CallStart(s))
}

/// A `CallStart` over a limit is refused with `INVALID_ARGUMENT` naming the field and the limit.
async fn refused_start(srv: &TestServer, m: proto::BotMessage, field: &str, limit: &str) {
    let s = raw_bot(srv.addr, Some(TOKEN), m)
        .await
        .err()
        .expect("call start over a limit is refused");
    assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
    assert!(
        s.message().contains(field) && s.message().contains(limit),
        "{field} / {limit}: {}",
        s.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_id_and_custom_data_over_their_limits_refuse_the_call_naming_the_limit() {
    let dir = temp_dir("limits-start");
    let srv = start_server(&dir, |_| {});
    let long_id = "c".repeat(MAX_ID_LEN + 1);
    refused_start(&srv, call_start(&long_id), "call_id", "limit of 256 bytes").await;
    let many = start_with("many", |s| {
        s.custom_data = (0..=MAX_CUSTOM_DATA)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
    });
    refused_start(
        &srv,
        many,
        "custom_data",
        "65 entries, over the limit of 64",
    )
    .await;
    let long_value = start_with("long-value", |s| {
        s.custom_data
            .insert("k".into(), "v".repeat(MAX_TEXT_LEN + 1));
    });
    refused_start(&srv, long_value, "custom_data value", "limit of 4096 bytes").await;
    let big = start_with("big", |s| {
        s.custom_data = (0..20)
            .map(|i| (format!("k{i}"), "v".repeat(4000)))
            .collect();
    });
    refused_start(&srv, big, "custom_data", "over the limit of 65536").await;
    // Nothing of a refused call reaches the disk.
    let written: Vec<_> = std::fs::read_dir(&srv.out)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "{written:?}");

    // At the limits, the call is recorded, its custom data kept whole.
    let at_limit = "d".repeat(MAX_ID_LEN);
    let m = start_with(&at_limit, |s| {
        s.custom_data
            .insert("k".repeat(MAX_ID_LEN), "v".repeat(MAX_TEXT_LEN));
    });
    let mut b = raw_bot(srv.addr, Some(TOKEN), m).await.unwrap();
    b.confirm(&at_limit).await;
    let r0 = 5_000_000_000;
    for k in 0..25 {
        b.tx.send(audio(r0, k, 7, 640)).await.unwrap();
    }
    b.tx.send(bot(Msg::CallEnd(proto::CallEnd::default())))
        .await
        .unwrap();
    let (_, status) = b.drain().await;
    assert!(status.is_none(), "{status:?}");
    let folder = std::fs::read_dir(&srv.out)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let md = metadata(&folder);
    assert_eq!(md["recording"]["status"], "completed");
    let kept = serde_json::to_string(&md["call"]).unwrap();
    assert!(kept.contains(&"v".repeat(MAX_TEXT_LEN)), "custom data kept");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_display_name_refuses_that_roster_entry_naming_the_limit() {
    let dir = temp_dir("limits-name");
    let srv = start_server(&dir, |_| {});
    let mut b = raw_bot(srv.addr, Some(TOKEN), call_start("names"))
        .await
        .unwrap();
    b.confirm("names").await;
    let r0 = 5_000_000_000;
    b.tx.send(bot(Msg::Roster(proto::RosterUpdate {
        timestamp: r0,
        joined: vec![proto::Participant {
            id: "long".into(),
            display_name: "n".repeat(MAX_ID_LEN + 1),
            media_streams: vec![proto::MediaStream {
                source_id: 8,
                kind: proto::MediaKind::Audio as i32,
            }],
            ..Default::default()
        }],
        left_ids: vec![],
    })))
    .await
    .unwrap();
    b.tx.send(roster(r0, 7)).await.unwrap();
    for k in 0..25 {
        b.tx.send(audio(r0, k, 7, 640)).await.unwrap();
    }
    b.tx.send(bot(Msg::CallEnd(proto::CallEnd::default())))
        .await
        .unwrap();
    let (msgs, _) = b.drain().await;
    let errs = errors(&msgs);
    assert!(
        errs.iter()
            .any(|(c, m)| *c == proto::ErrorCode::InvalidMessage as i32
                && m.contains("display_name")
                && m.contains("257 bytes, over the limit of 256 bytes")),
        "{errs:?}"
    );
    let md = metadata(&srv.out.join("names"));
    let names: Vec<&str> = md["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["display_name"].as_str())
        .collect();
    assert_eq!(names, ["p7"]);
    assert_eq!(md["call"]["ingest_refused"]["invalid_messages"], 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_pause_texts_are_cut_to_their_limits_and_the_pause_still_happens() {
    let dir = temp_dir("limits-pause");
    let srv = start_server(&dir, |_| {});
    let mut b = raw_bot(srv.addr, Some(TOKEN), call_start("pauses"))
        .await
        .unwrap();
    b.confirm("pauses").await;
    let mut early = Vec::new();
    let r0 = 5_000_000_000;
    b.tx.send(roster(r0, 7)).await.unwrap();
    for k in 0..150 {
        b.tx.send(audio(r0, k, 7, 640)).await.unwrap();
        if k == 50 {
            b.tx.send(bot(Msg::Pause(proto::Pause {
                timestamp: r0 + 51 * 200_000,
                requested_by: "agent".into(),
                reason: "r".repeat(MAX_TEXT_LEN + 1000),
            })))
            .await
            .unwrap();
            // Errors are sent at most every 100 ms: wait until the first one has arrived (so it has left
            // the server), then longer than the limit, before the next one is due.
            early.extend(b.until_error().await);
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        if k == 100 {
            b.tx.send(bot(Msg::Resume(proto::Resume {
                timestamp: r0 + 101 * 200_000,
                requested_by: "é".repeat(MAX_ID_LEN),
                reason: "done".into(),
            })))
            .await
            .unwrap();
        }
    }
    b.tx.send(bot(Msg::CallEnd(proto::CallEnd::default())))
        .await
        .unwrap();
    let (msgs, _) = b.drain().await;
    early.extend(msgs);
    let errs = errors(&early);
    let limit = proto::ErrorCode::LimitExceeded as i32;
    assert!(
        errs.iter().any(|(c, m)| *c == limit
            && m.starts_with("Pause: `reason` is 5096 bytes, over the limit of 4096 bytes")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|(c, m)| *c == limit
            && m.starts_with("Resume: `requested_by` is 512 bytes, over the limit of 256 bytes")),
        "{errs:?}"
    );
    let md = metadata(&srv.out.join("pauses"));
    let p = &md["call"]["pauses"];
    assert_eq!(p.as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p[0]["reason"].as_str().unwrap(), "r".repeat(MAX_TEXT_LEN));
    // Cut on a character boundary: 128 two-byte characters.
    assert_eq!(p[0]["resumed_by"].as_str().unwrap(), "é".repeat(128));
    assert!(p[0]["end_us"].as_i64().unwrap() > p[0]["start_us"].as_i64().unwrap());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_streams_beyond_the_limit_are_refused_and_counted() {
    let dir = temp_dir("limits-video");
    let srv = start_server(&dir, |o| o.limits.max_video_streams = 1);
    let mut c = srv.client();
    c.call_id_prefix = "video".into();
    // erin's camera and erin's screen share: two video streams.
    let sources = vec![format!("erin={}", media("erin-sync.mp4").display())];
    let meeting = bot_adapter::sim::MeetingSpec {
        participants: verbatim::sources::participants(&sources).unwrap(),
        duration: None,
        seed: 1,
        impairments: Default::default(),
        screenshares: vec![
            verbatim::sources::screenshare(&media("screenshare.mp4"), "erin").unwrap(),
        ],
    };
    let o = send::send_calls(&c, vec![meeting]).await.unwrap();
    let o = &o[0];
    let s = o.summary.as_ref().expect("summary");
    assert_eq!(s.status, "completed", "{}", s.error);
    assert_eq!(s.videos.len(), 1, "{:?}", s.videos);
    let recorded_msi = s.videos[0].path.clone();
    let e = o
        .errors
        .iter()
        .find(|e| e.code == proto::ErrorCode::LimitExceeded as i32)
        .expect("the bot is told");
    assert!(
        e.message
            .contains("already records 1 video streams (max_video_streams)"),
        "{}",
        e.message
    );
    // Every frame of the other stream is counted as refused.
    let refused: u64 = o.video_sent.values().copied().sum::<u64>() - s.videos[0].frames_delivered;
    assert!(refused > 0, "{recorded_msi}");
    let md = metadata(&srv.out.join(&s.recording));
    assert_eq!(
        md["call"]["ingest_refused"]["video_stream_limit_frames"],
        refused
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participants_source_id_history_is_capped_and_their_media_still_recorded() {
    let dir = temp_dir("limits-msis");
    // Two participants at most: were a forgotten id still counted, or a current one forgotten, the re-joining
    // participant's new sources would be refused as extra participants.
    let srv = start_server(&dir, |o| o.limits.max_participants = 2);
    let mut b = raw_bot(srv.addr, Some(TOKEN), call_start("rejoins"))
        .await
        .unwrap();
    b.confirm("rejoins").await;
    let r0 = 5_000_000_000;
    let rejoins = MAX_SOURCE_IDS_PER_PARTICIPANT as u64 + 36;
    let per = 5;
    for j in 0..rejoins {
        let msi = 1000 + j as u32;
        // The same person (id "alice") comes back each time with a new audio source id.
        b.tx.send(bot(Msg::Roster(proto::RosterUpdate {
            timestamp: r0 + j * per * 200_000,
            joined: vec![proto::Participant {
                id: "alice".into(),
                display_name: "Alice".into(),
                media_streams: vec![proto::MediaStream {
                    source_id: msi,
                    kind: proto::MediaKind::Audio as i32,
                }],
                ..Default::default()
            }],
            left_ids: vec![],
        })))
        .await
        .unwrap();
        for k in j * per..(j + 1) * per {
            b.tx.send(audio(r0, k, msi, 640)).await.unwrap();
        }
    }
    b.tx.send(bot(Msg::CallEnd(proto::CallEnd::default())))
        .await
        .unwrap();
    let (msgs, _) = b.drain().await;
    let errs = errors(&msgs);
    assert!(
        !errs
            .iter()
            .any(|(c, _)| *c == proto::ErrorCode::LimitExceeded as i32),
        "{errs:?}"
    );
    let md = metadata(&srv.out.join("rejoins"));
    let ps = md["participants"].as_array().unwrap();
    assert_eq!(ps.len(), 1, "{ps:?}");
    let p = &ps[0];
    let msis: Vec<u64> = p["msis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["msi"].as_u64().unwrap())
        .collect();
    assert_eq!(msis.len(), MAX_SOURCE_IDS_PER_PARTICIPANT);
    assert_eq!(msis[0], 1036, "the oldest are forgotten");
    assert_eq!(*msis.last().unwrap(), 1000 + rejoins - 1);
    assert_eq!(p["source_ids_forgotten"], 36);
    assert_eq!(p["frames_delivered"], rejoins * per);
    assert_eq!(md["call"]["ingest_refused"]["participant_limit_frames"], 0);
    srv.stop().await;
}

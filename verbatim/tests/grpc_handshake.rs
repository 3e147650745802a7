//! The recording-status handshake over gRPC: nothing on disk before `recording` is confirmed, the pre-roll
//! discarded when confirmation fails or times out, and "recording ended" only after the files are synced.

mod grpc_util;

use std::time::Duration;

use bot_adapter::grpc::proto::{self, bot_message::Msg, engine_message::Msg as Out};
use grpc_util::*;
use media_core::MediaTime;
use verbatim::send::{self, Confirm};

fn statuses(o: &verbatim::send::CallOutcome) -> Vec<i32> {
    o.status_requests.iter().map(|s| s.status).collect()
}
const REC: i32 = proto::RecordingStatus::Recording as i32;
const NOT_REC: i32 = proto::RecordingStatus::NotRecording as i32;
const FAILED: i32 = proto::RecordingStatus::Failed as i32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_on_disk_until_recording_is_confirmed_and_the_preroll_is_then_written() {
    let dir = temp_dir("confirm-late");
    let srv = start_server(&dir, |_| {});
    let mut c = srv.client();
    c.realtime = true;
    c.confirm = Confirm::After(Duration::from_millis(1500));
    let call = tokio::spawn({
        let c = c.clone();
        async move {
            send::send_calls(&c, vec![synthetic(3, 3, 5)])
                .await
                .unwrap()
        }
    });
    // While the server says the call awaits confirmation, its folder must not exist.
    let mut client = bot_adapter::grpc::proto::call_ingest_client::CallIngestClient::connect(
        format!("http://{}", srv.addr),
    )
    .await
    .unwrap();
    let mut checked = 0;
    for _ in 0..100 {
        let mut req = tonic::Request::new(proto::GetCallRequest {
            call_id: "sim-1".into(),
        });
        req.metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        match client.get_call(req).await {
            Ok(r) if r.get_ref().phase == "awaiting_confirmation" => {
                // The server marks the call confirmed before it creates anything: if it still awaits
                // confirmation after the listing, nothing can have been created before the listing.
                let files = files_under(&srv.out);
                let mut again = tonic::Request::new(proto::GetCallRequest {
                    call_id: "sim-1".into(),
                });
                again
                    .metadata_mut()
                    .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
                let still = client
                    .get_call(again)
                    .await
                    .ok()
                    .map(|r| r.into_inner().phase);
                if still.as_deref() == Some("awaiting_confirmation") {
                    assert!(files.is_empty(), "files before confirmation: {files:?}");
                    checked += 1;
                }
            }
            Ok(r) => {
                assert_eq!(r.get_ref().phase, "recording");
                break;
            }
            Err(s) => assert_eq!(s.code(), tonic::Code::NotFound), // not started yet / already over
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(checked > 0, "never saw the call awaiting confirmation");
    let outcomes = call.await.unwrap();
    let o = &outcomes[0];
    assert_eq!(statuses(o), vec![REC, NOT_REC]);
    // The 1.5 s held before confirmation is in the recording: written = sent for everyone.
    check_complete(&srv.out, o);
    let md = metadata(&srv.out.join("sim-1"));
    let rs = &md["call"]["recording_status"];
    assert_eq!(rs["outcome"], "confirmed");
    assert!(rs["preroll_held"].as_u64().unwrap() > 50, "{rs}");
    assert_eq!(rs["preroll_discarded"], 0);
    // The pre-roll went into the call's ingest queue at once (its high water shows the burst), and the queue
    // (4,096 events by default) took it with room to spare: no push waited for room (a push of a buffer waits
    // when fewer than 5 places are free), none was dropped.
    assert_eq!(md["counters"]["ingest_queue_full"], 0, "{}", md["counters"]);
    let high = md["counters"]["ingest_queue_high_water"].as_u64().unwrap();
    assert!(
        high > 50 && high < 4096 - 5,
        "ingest queue high water {high}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_missing_confirmation_discards_the_preroll_and_writes_only_metadata() {
    let dir = temp_dir("confirm-fail");
    let srv = start_server(&dir, |o| {
        o.limits.confirm_timeout = MediaTime::from_millis(500);
    });
    let mut refuse = srv.client();
    refuse.call_id_prefix = "refused".into();
    refuse.realtime = true;
    refuse.confirm = Confirm::Refuse("403 Forbidden".into(), Duration::from_millis(300));
    let mut never = srv.client();
    never.call_id_prefix = "silent".into();
    never.realtime = true;
    never.confirm = Confirm::Never;
    let (a, b) = tokio::join!(
        send::send_calls(&refuse, vec![synthetic(2, 2, 1)]),
        send::send_calls(&never, vec![synthetic(2, 2, 2)])
    );
    for (o, outcome) in [(&a.unwrap()[0], "failed"), (&b.unwrap()[0], "timed_out")] {
        let s = o.summary.as_ref().expect("summary");
        assert_eq!(s.status, "not_recorded", "{}", o.call_id);
        assert_eq!(statuses(o), vec![REC, FAILED], "{}", o.call_id);
        assert!(s.preroll_discarded > 0);
        let folder = srv.out.join(&s.recording);
        let files = files_under(&folder);
        assert_eq!(files, vec![folder.join("metadata.json")], "only metadata");
        let md = metadata(&folder);
        assert_eq!(md["recording"]["status"], "not_recorded");
        let rs = &md["call"]["recording_status"];
        assert_eq!(rs["outcome"], outcome);
        assert!(rs["preroll_discarded"].as_u64().unwrap() > 0);
        if outcome == "failed" {
            assert!(md["recording"]["error"].as_str().unwrap().contains("403"));
        } else {
            assert!(md["recording"]["error"]
                .as_str()
                .unwrap()
                .contains("within 0.5 s"));
        }
    }
    srv.stop().await;
}

/// A hand-driven bot: when the engine asks it to report `notRecording`, the recording folder must already be
/// complete and verifiable (finalized and synced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_ended_is_sent_only_after_the_files_are_final() {
    let dir = temp_dir("ended-after-sync");
    let srv = start_server(&dir, |_| {});
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", srv.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let bot = |m| proto::BotMessage { msg: Some(m) };
    tx.send(bot(Msg::CallStart(proto::CallStart {
        call_id: "sync-1".into(),
        ..Default::default()
    })))
    .await
    .unwrap();
    let mut client = proto::call_ingest_client::CallIngestClient::new(channel);
    let mut inbound = client.stream_call(req).await.unwrap().into_inner();
    let first = inbound.message().await.unwrap().unwrap();
    assert!(matches!(first.msg, Some(Out::StatusRequest(s)) if s.status == REC));
    tx.send(bot(Msg::RecordingStatus(proto::RecordingStatusResult {
        call_id: "sync-1".into(),
        status: REC,
        success: true,
        error: String::new(),
    })))
    .await
    .unwrap();
    // As the platform delivers: roster at R0, frame j (captured at j x 20 ms) in the buffer of slot j + 1.
    let r0 = 5_000_000_000u64;
    tx.send(bot(Msg::Roster(proto::RosterUpdate {
        timestamp: r0,
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
    for k in 0..100u64 {
        let data = bytes::Bytes::from(vec![(k % 7) as u8 + 1; 640]);
        tx.send(bot(Msg::Audio(proto::AudioMediaBuffer {
            timestamp: r0 + (k + 1) * 200_000,
            unmixed: vec![proto::UnmixedAudioBuffer {
                active_speaker_id: 7,
                data,
                original_sender_timestamp: 1_000_000 + k * 200_000,
            }],
            ..Default::default()
        })))
        .await
        .unwrap();
    }
    tx.send(bot(Msg::CallEnd(proto::CallEnd {
        call_id: "sync-1".into(),
        timestamp: r0 + 101 * 200_000,
        reason: "done".into(),
    })))
    .await
    .unwrap();
    let mut saw_ended = false;
    while let Ok(Some(m)) = inbound.message().await {
        match m.msg {
            Some(Out::StatusRequest(s)) if s.status == NOT_REC => {
                // At this instant the folder is closed and signed.
                let rep = muxer::verify::verify_dir(&srv.out.join("sync-1"), None).unwrap();
                assert_eq!(rep.final_status, muxer::Status::Completed);
                let md = metadata(&srv.out.join("sync-1"));
                assert_eq!(md["participants"][0]["frames_written"], 100);
                saw_ended = true;
            }
            Some(Out::Summary(s)) => {
                assert!(saw_ended, "summary before the recording-ended request");
                assert_eq!(s.status, "completed");
            }
            _ => {}
        }
    }
    assert!(saw_ended);
    drop(tx);
    srv.stop().await;
}

/// A pause is written as silence in every stem; its span, who asked and why are in the signed metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_span_is_silent_and_listed_with_who_and_why() {
    let dir = temp_dir("pause");
    let srv = start_server(&dir, |_| {});
    let mut c = srv.client();
    c.call_id_prefix = "paused".into();
    c.pauses = vec![(MediaTime::from_secs(1), MediaTime::from_secs(2))];
    let o = send::send_calls(&c, vec![synthetic(3, 3, 21)])
        .await
        .unwrap();
    let s = o[0].summary.as_ref().expect("summary");
    assert_eq!(s.status, "completed", "{}", s.error);
    assert_eq!(s.pauses.len(), 1);
    let folder = srv.out.join("paused-1");
    let rep = muxer::verify::verify_dir(&folder, None).unwrap();
    assert_eq!(rep.final_status, muxer::Status::Completed);
    // The signed status history holds the pause and the resume at their call times, as they happened.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    let history: Vec<(i64, &str)> = manifest["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["at"].as_i64().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        history[..3],
        [
            (0, "recording"),
            (9_600_000, "paused"),
            (19_600_000, "recording")
        ],
        "{history:?}"
    );
    let md = metadata(&folder);
    let p = &md["call"]["pauses"][0];
    // Asked "now" at 1 s and 2 s of call time: the latest audio buffers then were stamped 0.96 s and 1.96 s.
    assert_eq!(p["start_us"], 960_000);
    assert_eq!(p["end_us"], 1_960_000);
    assert_eq!(p["requested_by"], "agent@contoso.example");
    assert_eq!(p["reason"], "card details");
    assert_eq!(p["resume_reason"], "card details taken");
    assert!(
        md["call"]["recording_status"]["withheld_paused"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Exactly the listed span is silent in every stem.
    let mut heard_outside = 0;
    for part in md["participants"].as_array().unwrap() {
        let name = part["name"].as_str().unwrap();
        let stem = read_wav(&folder.join(format!("participants/{name}.wav")));
        assert!(
            stem[15_360..31_360].iter().all(|&x| x == 0),
            "{name}: audio inside the paused span"
        );
        heard_outside += stem[..15_360].iter().filter(|&&x| x != 0).count();
        heard_outside += stem[31_360..].iter().filter(|&&x| x != 0).count();
    }
    assert!(heard_outside > 16_000, "the rest of the call is recorded");
    srv.stop().await;
}

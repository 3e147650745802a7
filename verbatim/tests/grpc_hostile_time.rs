//! Hostile timestamps through the real gRPC path: a bot whose messages carry platform timestamps days away
//! from the call's own clock (two audio buffers, a dominant-speaker change, a roster change, a pause and its
//! resume, and the call end), in real time beside an ordinary call on the same server. Neither call may lose media, the
//! hostile one may not write a second more than was sent (it once wrote silence without end: 412 MB in 60 s),
//! and both must finish with a summary.

mod grpc_util;

use std::time::{Duration, Instant};

use bot_adapter::grpc::proto::{self, bot_message::Msg, engine_message::Msg as Out};
use grpc_util::*;
use verbatim::listen::DEFAULT_MAX_LEAD;
use verbatim::send;

const R0: u64 = 139_000_000_000_000_000; // the platform clock at call start (100 ns, NTP-like)
const DAY: u64 = 86_400 * 10_000_000;
const SLOTS: u64 = 400; // 8 s

fn audio_at(timestamp: u64, k: u64) -> proto::BotMessage {
    let mut m = audio(R0, k, 11, 640);
    if let Some(Msg::Audio(a)) = m.msg.as_mut() {
        a.timestamp = timestamp;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_days_off_the_call_clock_move_nothing() {
    let dir = temp_dir("hostile-time");
    let srv = start_server(&dir, |o| {
        // Production pacing: the wall-clock lead bound is on.
        o.record.recorder.call_clock.max_lead = Some(DEFAULT_MAX_LEAD);
    });
    let mut normal = srv.client();
    normal.realtime = true;
    normal.call_id_prefix = "normal".into();
    let background = tokio::spawn(async move {
        send::send_calls(&normal, vec![synthetic(3, 8, 21)])
            .await
            .unwrap()
    });

    let mut b = raw_bot(srv.addr, Some(TOKEN), call_start("hostile-1"))
        .await
        .unwrap();
    b.confirm("hostile-1").await;
    b.tx.send(roster(R0, 11)).await.unwrap();
    let t0 = Instant::now();
    for k in 0..SLOTS {
        let due = t0 + Duration::from_millis(20 * (k + 1));
        tokio::time::sleep_until(due.into()).await;
        let msg = match k {
            // One buffer stamped 11 days ahead (its frame's own sender timestamp is fine).
            150 => audio_at(R0 + 11 * DAY, k),
            // One 11 days back.
            170 => audio_at(R0 - 11 * DAY, k),
            _ => audio(R0, k, 11, 640),
        };
        b.tx.send(msg).await.unwrap();
        let off = match k {
            200 => Some(bot(Msg::DominantSpeaker(proto::DominantSpeakerChanged {
                timestamp: R0 + 11 * DAY,
                current_dominant_speaker: 11,
                dominant_speaker_history: Vec::new(),
            }))),
            250 => {
                let mut r = roster(R0 - 11 * DAY, 11);
                if let Some(Msg::Roster(u)) = r.msg.as_mut() {
                    u.timestamp = R0 - 11 * DAY;
                }
                Some(r)
            }
            // A compliance pause stamped 11 days ahead and its resume 11 days back: taken as now.
            300 => Some(bot(Msg::Pause(proto::Pause {
                timestamp: R0 + 11 * DAY,
                requested_by: "agent".into(),
                reason: "card details".into(),
            }))),
            320 => Some(bot(Msg::Resume(proto::Resume {
                timestamp: R0 - 11 * DAY,
                requested_by: "agent".into(),
                reason: "done".into(),
            }))),
            _ => None,
        };
        if let Some(m) = off {
            b.tx.send(m).await.unwrap();
        }
    }
    // The call ends with a timestamp from next month.
    b.tx.send(bot(Msg::CallEnd(proto::CallEnd {
        call_id: "hostile-1".into(),
        timestamp: R0 + 30 * DAY,
        reason: String::new(),
    })))
    .await
    .unwrap();
    let (msgs, status) = b.drain().await;
    assert!(status.is_none(), "{status:?}");
    let summary = msgs
        .iter()
        .find_map(|m| match &m.msg {
            Some(Out::Summary(s)) => Some(s.clone()),
            _ => None,
        })
        .expect("the hostile call still gets its CallSummary");
    assert_eq!(summary.status, "completed", "{}", summary.error);

    let hdir = srv.out.join("hostile-1");
    let md = metadata(&hdir);
    let d = md["recording"]["duration_us"].as_i64().unwrap();
    assert!(
        (7_900_000..=8_300_000).contains(&d),
        "the recording is as long as the call was, not days: {d} us"
    );
    // The pause ran from frame 300 to 320 (as the bot asked, at the call's own time): 20 frames withheld.
    let pauses = md["call"]["pauses"].as_array().expect("pauses listed");
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    let (start, end) = (pauses[0]["start_us"].as_i64(), pauses[0]["end_us"].as_i64());
    assert_eq!(
        (start, end),
        (Some(6_020_000), Some(6_420_000)),
        "{}",
        pauses[0]
    );
    let p = &md["participants"][0];
    let paused = SLOTS - p["frames_delivered"].as_u64().unwrap();
    assert!(
        (19..=21).contains(&paused),
        "{paused} frames withheld by the pause"
    );
    assert_eq!(
        p["frames_written"], p["frames_delivered"],
        "every frame lands, the ones in buffers with bad stamps too (their sender stamps are fine)"
    );
    let refused = md["call"]["counters"]["reference_refused"]
        .as_u64()
        .or_else(|| md["counters"]["reference_refused"].as_u64())
        .unwrap();
    assert!(refused >= 4, "refused {refused}");
    let bytes: u64 = files_under(&hdir)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(bytes < 4 << 20, "{bytes} bytes written for an 8 s call");
    muxer::verify::verify_dir(&hdir, None).unwrap();

    for o in background.await.unwrap() {
        check_complete(&srv.out, &o);
    }
    srv.stop().await;
}

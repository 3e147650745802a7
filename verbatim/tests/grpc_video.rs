//! Video through the wire: `send` of camera clips and a screen share into `listen` (real TCP on 127.0.0.1)
//! writes the same passthrough files as `record` of the same inputs; under `teams-x3` the engine asks for key
//! frames after losses, the reference bot answers with IDRs made from its clips, the streams recover, and
//! ffmpeg decodes the files without an error. Prints the loss -> next decodable frame times. The composite made
//! through `listen --composite` is the one `record` makes.
//!
//! CI runs one call. More seeds, for the figures in docs/bot-integration.md:
//! `VERBATIM_KF_SEEDS=1-12 cargo test -p verbatim --test grpc_video -- --nocapture key_frames`

mod grpc_util;

use std::path::Path;
use std::process::Command;

use bot_adapter::sim::MeetingSpec;
use grpc_util::*;
use verbatim::record::{record_simulation, RecordOptions};
use verbatim::send;

/// erin (camera clip with audio), optionally alice (speech), and the screen share, shared by erin.
fn meeting(with_alice: bool, impair: &str, seed: u64) -> MeetingSpec {
    let mut sources = vec![format!("erin={}", media("erin-sync.mp4").display())];
    if with_alice {
        sources.push(format!("alice={}", media("alice.flac").display()));
    }
    let participants = verbatim::sources::participants(&sources).unwrap();
    let screenshare = verbatim::sources::screenshare(&media("screenshare.mp4"), "erin").unwrap();
    MeetingSpec {
        participants,
        duration: None,
        seed,
        impairments: impair.parse().unwrap(),
        screenshares: vec![screenshare],
    }
}

/// Every video packet of `file` as ffprobe reads it: `pts (90 kHz),size,flags,SHA256:…` (ffprobe's order).
fn packets(file: &Path) -> Vec<String> {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_data_hash",
            "SHA256",
        ])
        .args([
            "-show_entries",
            "packet=pts,flags,size,data_hash",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe: run scripts/setup.sh");
    assert!(
        o.status.success(),
        "ffprobe {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `ffmpeg -v error -i FILE -f null -` says nothing.
fn decodes_cleanly(file: &Path) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg: run scripts/setup.sh");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "ffmpeg {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_into_listen_writes_the_same_passthrough_video_as_record() {
    let dir = temp_dir("video-wire");
    let srv = start_server(&dir, |_| {});
    let mut c = srv.client();
    c.call_id_prefix = "wire".into();
    let outcomes = send::send_calls(&c, vec![meeting(true, "none", 1)])
        .await
        .unwrap();
    let o = &outcomes[0];
    let out = srv.out.clone();
    srv.stop().await;
    let s = o.summary.as_ref().expect("summary");
    assert_eq!(s.status, "completed", "{}", s.error);
    // What the bot sent of each stream, and what the server wrote of it.
    assert_eq!(
        o.video_sent.values().copied().collect::<Vec<_>>(),
        [300, 50]
    );
    let written: Vec<(&str, u64, u64)> = s
        .videos
        .iter()
        .map(|v| (v.path.as_str(), v.frames_delivered, v.frames_written))
        .collect();
    assert_eq!(
        written,
        [
            ("participants/erin.mp4", 300, 300),
            ("screenshare.mp4", 50, 50)
        ]
    );

    let local = dir.join("recorded");
    let mut opts = RecordOptions::new(&local);
    opts.signing_key = Some(dir.join("signing.key"));
    let rec =
        tokio::task::spawn_blocking(move || record_simulation(meeting(true, "none", 1), &opts))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(rec.summary.videos.len(), 2);

    let served = out.join(&s.recording);
    for f in ["participants/erin.mp4", "screenshare.mp4"] {
        let (a, b) = (packets(&served.join(f)), packets(&local.join(f)));
        assert_eq!(
            a.len(),
            if f == "screenshare.mp4" { 50 } else { 300 },
            "{f}"
        );
        assert!(
            a == b,
            "{f}: the packets through listen differ from record's"
        );
        decodes_cleanly(&served.join(f));
    }
    let md = metadata(&served);
    assert_eq!(md["counters"]["video_frames_refused_by_muxer"], 0);
    assert_eq!(md["counters"]["keyframe_requests"], 0);
}

/// `listen --composite` makes the composite on each call's video thread, as `record` does: for the same
/// inputs (erin's camera and audio, alice, erin's screen share) the composite video track of `recording.mp4`
/// is packet for packet the one `record` writes (360 frames: 24 s at 15 fps), and ffmpeg decodes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composite_made_through_listen_is_the_one_record_makes() {
    let dir = temp_dir("video-composite");
    let composite = Some((
        codecs::composite::CompositorConfig::default(),
        verbatim::listen::COMPOSITE_BITRATE,
    ));
    let srv = start_server(&dir, |o| o.record.composite = composite);
    let mut c = srv.client();
    c.call_id_prefix = "composite".into();
    let outcomes = send::send_calls(&c, vec![meeting(true, "none", 1)])
        .await
        .unwrap();
    let out = srv.out.clone();
    srv.stop().await;
    let s = outcomes[0].summary.as_ref().expect("summary");
    assert_eq!(s.status, "completed", "{}", s.error);

    let local = dir.join("recorded");
    let mut opts = RecordOptions::new(&local);
    opts.signing_key = Some(dir.join("signing.key"));
    opts.composite = composite;
    tokio::task::spawn_blocking(move || record_simulation(meeting(true, "none", 1), &opts))
        .await
        .unwrap()
        .unwrap();

    let served = out.join(&s.recording).join("recording.mp4");
    let md = metadata(&out.join(&s.recording));
    let (a, b) = (packets(&served), packets(&local.join("recording.mp4")));
    assert_eq!(a.len(), 360, "24 s (alice's clip) at 15 fps");
    assert!(
        a == b,
        "the composite through listen differs from record's (first difference at packet {:?})",
        a.iter().zip(&b).position(|(x, y)| x != y)
    );
    decodes_cleanly(&served);
    assert_eq!(md["counters"]["composite_frames"], 360);
    assert_eq!(md["counters"]["composite_frames_dropped"], 0);
}

/// Seeds to run: `VERBATIM_KF_SEEDS` as `A-B` or `A`, else 3.
fn seeds() -> Vec<u64> {
    let s = std::env::var("VERBATIM_KF_SEEDS").unwrap_or_else(|_| "3".into());
    match s.split_once('-') {
        Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect(),
        None => vec![s.parse().unwrap()],
    }
}

fn quantile(sorted: &[i64], q: f64) -> i64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_frames_after_losses_are_requested_answered_and_the_streams_recover() {
    let dir = temp_dir("video-keyframes");
    // A live call: paced in real time, recording time bounded by the wall clock as `listen` does by default.
    let srv = start_server(&dir, |o| {
        o.record.recorder.call_clock.max_lead = Some(verbatim::listen::DEFAULT_MAX_LEAD)
    });
    let mut c = srv.client();
    c.realtime = true;
    c.call_id_prefix = "kf".into();
    let seeds = seeds();
    let specs = seeds
        .iter()
        .map(|&s| meeting(false, "teams-x3", s))
        .collect();
    let outcomes = send::send_calls(&c, specs).await.unwrap();
    let out = srv.out.clone();
    srv.stop().await;

    // Loss -> next decodable frame, per stream kind: the undecodable spans (from the last frame written before
    // the loss to the IDR that ended it), in ms.
    let (mut camera, mut share) = (Vec::new(), Vec::new());
    for (o, seed) in outcomes.iter().zip(&seeds) {
        let s = o.summary.as_ref().expect("summary");
        assert_eq!(s.status, "completed", "seed {seed}: {}", s.error);
        let sim = o.sim.as_ref().unwrap();
        let lost = sim.participants[0].video.as_ref().unwrap().lost_network
            + sim.screenshares[0].lost_network;
        let folder = out.join(&s.recording);
        let md = metadata(&folder);
        let requests = md["counters"]["keyframe_requests"].as_u64().unwrap();
        // Every request the engine made went to the bot (none queued or dropped), and the bot got them.
        assert_eq!(
            md["counters"]["keyframe_requests_not_relayed"], 0,
            "seed {seed}"
        );
        let relayed = md["counters"]["keyframe_requests_relayed"]
            .as_u64()
            .unwrap();
        assert_eq!(relayed, o.key_frame_requests as u64, "seed {seed}");
        let a = o.key_frame_answers;
        println!(
            "seed {seed}: {lost} video frames lost on the network; {requests} key frames requested, {relayed} \
             relayed; the bot made {} IDRs ({} frames re-encoded, {} requests already due)",
            a.idrs_made, a.frames_reencoded, a.already_idr
        );
        assert!(
            lost > 0 && requests > 0 && a.idrs_made > 0,
            "seed {seed}: {a:?}"
        );
        assert_eq!(
            a.codec_errors + a.stale + a.unmatched + a.unknown_stream,
            0,
            "{a:?}"
        );
        for v in md["videos"].as_array().unwrap() {
            let path = v["path"].as_str().unwrap();
            let file = folder.join(path);
            decodes_cleanly(&file);
            let keys: Vec<i64> = packets(&file)
                .iter()
                .filter(|p| p.split(',').nth(2) == Some("K_"))
                .map(|p| p.split(',').next().unwrap().parse::<i64>().unwrap() * 100 / 9)
                .collect();
            for g in v["gaps"].as_array().unwrap() {
                assert_eq!(g["kind"], "dropped");
                assert_eq!(g["cause"], "undecodable");
                let (start, len) = (
                    g["start_us"].as_i64().unwrap(),
                    g["length_us"].as_i64().unwrap(),
                );
                // The stream recovered: the span ends at an IDR that was written (to the file's 90 kHz).
                let end = start + len;
                assert!(
                    keys.iter().any(|&k| (k - end).abs() <= 12),
                    "seed {seed} {path}: no key frame written at {end} us"
                );
                let ms = len / 1000;
                if path == "screenshare.mp4" {
                    share.push(ms);
                } else {
                    camera.push(ms);
                }
            }
        }
    }
    camera.sort_unstable();
    share.sort_unstable();
    for (what, v) in [("camera 30 fps", &camera), ("screen share 5 fps", &share)] {
        if v.is_empty() {
            continue;
        }
        println!(
            "loss -> next decodable frame, {what} (teams-x3, seeds {seeds:?}, {} losses): p50 {} ms, p99 {} ms, \
             max {} ms",
            v.len(),
            quantile(v, 0.5),
            quantile(v, 0.99),
            v.last().unwrap()
        );
    }
    assert!(!camera.is_empty(), "no camera loss in this run");
    // Detection waits the late window (200 ms) for the missing frame; the answer then takes one request, one
    // frame interval and the network. Well under a second, also when a request or its IDR is lost (asked again
    // after 500 ms).
    assert!(quantile(&camera, 0.99) < 1_000, "{camera:?}");
    assert!(quantile(&share, 0.99) < 1_500, "{share:?}");
}

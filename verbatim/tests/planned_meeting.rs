//! Planned meetings (`record --simulate --meeting`) through the CLI's plumbing: the synthetic camera and
//! screen clips are Teams-shaped H.264, a planned meeting records end to end, and a reproduction of what the
//! recorder still does wrong with them.

mod common;

use bot_adapter::ingest;
use bot_adapter::sim::meeting::MeetingKind;
use bot_adapter::sim::{SdkEvent, Simulator};
use common::*;
use media_core::h264;
use media_core::MediaTime;
use verbatim::record::record_simulation;
use verbatim::sources::{self, MeetingClips};

fn metadata(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap()
}

#[test]
fn synthetic_clips_are_teams_shaped_h264() {
    for (track, fps, gop) in [
        (sources::camera_clip(3).unwrap(), 10, 10),
        (sources::screen_clip().unwrap(), 2, 4),
    ] {
        assert_eq!(track.frame_rate_millihz, fps * 1000);
        for (k, f) in track.frames.iter().enumerate() {
            assert_eq!(
                f.time,
                MediaTime::from_millis(k as i64 * 1000 / i64::from(fps))
            );
            let types: Vec<u8> = h264::nal_units(&f.data)
                .map(|n| n.nal_type().as_u8())
                .collect();
            if k % gop == 0 {
                assert_eq!(types, [7, 8, 5], "frame {k}: SPS, PPS, IDR");
            } else {
                assert_eq!(types, [1], "frame {k}: one non-IDR slice");
            }
        }
    }
    assert_ne!(
        sources::camera_clip(0).unwrap().frames[0].data,
        sources::camera_clip(1).unwrap().frames[0].data,
        "each camera has its own colour"
    );
}

/// A two-minute stand-up of five (no video) records, verifies, and lists everyone.
#[test]
fn a_planned_standup_records_end_to_end() {
    let spec =
        sources::meeting(MeetingKind::Standup, 5, MediaTime::from_secs(120), 4, None).unwrap();
    assert!(spec.participants.iter().any(|p| !p.rejoins.is_empty()));
    let out = temp_dir("planned-standup");
    let o = record_simulation(spec, &options(&out)).unwrap();
    assert_eq!(o.summary.duration, MediaTime::from_secs(120));
    let md = metadata(&out);
    assert_eq!(md["recording"]["status"], "completed");
    assert_eq!(md["participants"].as_array().unwrap().len(), 5);
    let report = verify(&out);
    assert!(report.files >= 5, "{}", report.summary);
    for r in &o.sim.participants {
        assert!(r.balanced());
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// Found by the simulator: when a participant with a camera re-joins (Teams gives the camera a NEW MSI), the
/// engine opened `participants/<name>.mp4` a second time, the sink refused ("already part of this recording")
/// and the recording failed; `record` then spun for ever in `run_source`, waiting for queue space from a
/// media worker that had stopped. The second camera stream now gets `participants/<name>-2.mp4`, and a
/// source stops feeding a recording whose worker is over.
#[test]
fn a_camera_owner_who_rejoins_is_recorded() {
    let clips = MeetingClips::new(8).unwrap();
    let spec = sources::meeting(
        MeetingKind::Standup,
        8,
        MediaTime::from_secs(120),
        3,
        Some(&clips),
    )
    .unwrap();
    let rejoiner = spec
        .participants
        .iter()
        .find(|p| !p.rejoins.is_empty() && p.video.is_some())
        .map(|p| p.name.clone());
    assert!(rejoiner.is_some(), "seed 3: a camera owner re-joins");
    let out = temp_dir("planned-rejoin");
    let key = muxer::integrity::load_signing_key(&test_key()).unwrap();
    let mut sink = verbatim::sink::FolderSink::create(
        &out,
        key,
        &verbatim::sink::SinkOptions {
            recording_id: "rejoin".into(),
            start_utc_ms: 0,
            format: media_core::AudioFormat::PCM16K,
            opus_bitrate_bps: 32_000,
            mixed_wav: false,
            composite: false,
            encrypt_to: Vec::new(),
        },
    )
    .unwrap();
    let mut rec = verbatim::engine::CallRecorder::new(verbatim::engine::RecorderConfig::default());
    let (mut tx, mut rx) = ingest::channel(65_536);
    let mut sim = Simulator::new(spec).unwrap();
    for e in sim.by_ref() {
        match e.event {
            SdkEvent::Audio(b) => tx.push_audio(e.at, b),
            SdkEvent::Video(v) => tx.push_video(e.at, e.reference, v),
            SdkEvent::Roster(r) => tx.push_roster(e.reference, r),
            SdkEvent::DominantSpeaker(d) => tx.push_dominant_speaker(e.reference, d),
            SdkEvent::CallEnded => tx.push_call_ended(e.reference),
        };
        while let Some(ev) = rx.pop() {
            if let Err(err) = rec.handle(ev, &mut sink) {
                panic!(
                    "at {} ({rejoiner:?} re-joined with a new camera MSI): {err}",
                    e.at
                );
            }
        }
    }
    let s = rec.summary();
    let name = rejoiner.unwrap_or_default();
    let files: Vec<&str> = s
        .videos
        .iter()
        .filter(|v| v.participant.as_deref() == Some(name.as_str()))
        .map(|v| v.path.as_str())
        .collect();
    assert!(
        files.len() >= 2 && files[1] == format!("participants/{name}-2.mp4"),
        "{files:?}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

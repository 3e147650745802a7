//! Simulated video: clips load as Teams-shaped H.264 frames, and the simulator delivers them as
//! `VideoMediaBuffer`s on the participant's own clock, through the seeded network, with exact ground truth.

mod fixtures;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use bot_adapter::ingest;
use bot_adapter::sdk::{RosterChange, VideoMediaBuffer, VideoSocket};
use bot_adapter::sim::{
    load_audio_file, load_video_clip, synthetic, ClipMedia, Impairments, MeetingSpec, SdkEvent,
    SimError, SimEvent, SimParticipant, SimReport, SimScreenShare, SimVideo, Simulator,
    VideoAccessUnit, VideoFileError, VideoTrack,
};
use fixtures::{media, require_tool};
use media_core::{MediaTime, Msi, StreamKind, VideoCodec};

const ERIN_AUDIO: Msi = Msi(500);
const ERIN_VIDEO: Msi = Msi(501);
const SHARE: Msi = Msi(900);

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verbatim-simvideo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn erin(clip: &ClipMedia) -> SimParticipant {
    SimParticipant {
        id: "guest:erin".into(),
        display_name: "Erin".into(),
        video: Some(SimVideo::new(ERIN_VIDEO, clip.video.clone().unwrap())),
        is_guest: true,
        ..SimParticipant::new("erin", ERIN_AUDIO, clip.audio.clone().unwrap())
    }
}

fn run(spec: MeetingSpec) -> (Vec<SimEvent>, SimReport) {
    let mut sim = Simulator::new(spec).unwrap();
    let events: Vec<SimEvent> = sim.by_ref().collect();
    (events, sim.report().clone())
}

fn videos(events: &[SimEvent], msi: Msi) -> Vec<(&SimEvent, &VideoMediaBuffer)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            SdkEvent::Video(v) if v.media_source_id == msi => Some((e, v)),
            _ => None,
        })
        .collect()
}

/// NAL units of an Annex-B buffer written with 4-byte start codes (what the loader produces).
fn annexb_nals(data: &[u8]) -> Vec<&[u8]> {
    assert!(
        data.starts_with(&[0, 0, 0, 1]),
        "starts with a 4-byte start code"
    );
    let mut out = Vec::new();
    let mut start = 4;
    let mut i = 4;
    while i + 4 <= data.len() {
        if data[i..i + 4] == [0, 0, 0, 1] {
            out.push(&data[start..i]);
            start = i + 4;
            i += 4;
        } else {
            i += 1;
        }
    }
    out.push(&data[start..]);
    out
}

/// The track's samples exactly as stored in the MP4 (4-byte length prefixes), read with the mp4 crate's own
/// sample reader: an independent path to the same bytes.
fn raw_samples(path: &std::path::Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap();
    let size = f.metadata().unwrap().len();
    let mut r = mp4::Mp4Reader::read_header(std::io::BufReader::new(f), size).unwrap();
    let id = r
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(mp4::TrackType::Video)))
        .unwrap()
        .track_id();
    let n = r.sample_count(id).unwrap();
    (1..=n)
        .map(|i| r.read_sample(id, i).unwrap().unwrap().bytes.to_vec())
        .collect()
}

/// Length-prefixed sample -> same, without the NAL types in `drop`.
fn without(sample: &[u8], drop: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = sample;
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let nal = &rest[4..4 + len];
        if !drop.contains(&(nal[0] & 0x1f)) {
            out.extend_from_slice(&rest[..4 + len]);
        }
        rest = &rest[4 + len..];
    }
    out
}

/// An Annex-B frame back to an MP4 sample: 4-byte lengths, minus the parameter sets put before IDRs.
fn back_to_sample(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in annexb_nals(frame) {
        if !matches!(nal[0] & 0x1f, 7 | 8) {
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(nal);
        }
    }
    out
}

fn idr_frames(track: &VideoTrack) -> Vec<usize> {
    (0..track.frames.len())
        .filter(|&k| track.frames[k].is_keyframe())
        .collect()
}

#[test]
fn erin_clip_loads_as_teams_shaped_frames_with_its_audio() {
    let path = media("erin-sync.mp4");
    let clip = load_video_clip(&path).unwrap();
    let v = clip.video.as_ref().unwrap();
    assert_eq!(
        (v.width, v.height, v.frame_rate_millihz),
        (1280, 720, 30_000)
    );
    assert_eq!(v.frames.len(), 300);
    assert_eq!(v.duration, MediaTime::from_secs(10));
    for (k, f) in v.frames.iter().enumerate() {
        // k/30 s, rounded to 100 ns.
        assert_eq!(
            f.time.ticks(),
            (k as i64 * 10_000_000 + 15) / 30,
            "frame {k}"
        );
        let types: Vec<u8> = annexb_nals(&f.data).iter().map(|n| n[0] & 0x1f).collect();
        if f.is_keyframe() {
            assert_eq!(types, [7, 8, 5], "frame {k}: SPS, PPS, IDR");
        } else {
            assert!(types.iter().all(|&t| t == 1), "frame {k}: {types:?}");
        }
    }
    // GOP 60, plus the IDRs the fixture forces at the white frames of 5 s and 8 s (150 and 240): every sync
    // marker is a key frame at exactly its second.
    assert_eq!(idr_frames(v), [0, 60, 120, 150, 210, 240]);
    for marker in [60usize, 150, 240] {
        assert_eq!(
            v.frames[marker].time,
            MediaTime::from_millis(marker as i64 * 100 / 3)
        );
    }
    // x264 writes one SEI (its settings) into the first frame; Teams sends no SEI.
    assert_eq!((clip.dropped_nal_units, clip.dropped_samples), (1, 0));
    // The audio is load_audio_file's, edit list applied (its beeps at 2/5/8 s are tested in sim_audio_file).
    let audio = clip.audio.as_ref().unwrap();
    assert_eq!(audio.len(), 160_000);
    assert!(audio == &load_audio_file(&path).unwrap());
}

#[test]
fn screenshare_clip_loads_as_fifty_frames_at_five_per_second() {
    let path = media("screenshare.mp4");
    let clip = load_video_clip(&path).unwrap();
    assert!(clip.audio.is_none());
    let v = clip.video.unwrap();
    assert_eq!(
        (v.width, v.height, v.frame_rate_millihz),
        (1920, 1080, 5_000)
    );
    assert_eq!(v.frames.len(), 50);
    for (k, f) in v.frames.iter().enumerate() {
        assert_eq!(f.time, MediaTime::from_millis(200 * k as i64));
    }
    assert_eq!(idr_frames(&v), [0, 25]);
    assert_eq!(v.duration, MediaTime::from_secs(10));
}

/// With no impairment every frame arrives once, in order, 20 ms after capture; `timestamp - epoch` is the
/// capture time on the sender's clock exactly; and the frames, converted back, are the clip's samples byte for
/// byte (without the SEI Teams does not send): what the recorder must pass through.
#[test]
fn no_impairment_delivers_every_frame_once_in_order_byte_exact() {
    let path = media("erin-sync.mp4");
    let clip = load_video_clip(&path).unwrap();
    let track = clip.video.clone().unwrap();
    let (events, report) = run(MeetingSpec {
        participants: vec![erin(&clip)],
        duration: None,
        seed: 3,
        impairments: Impairments::NONE,
        screenshares: Vec::new(),
    });
    let r0 = report.reference_epoch.ticks();
    let vr = report.participants[0].video.clone().unwrap();
    let epoch = vr.sender_epoch.ticks();
    let got = videos(&events, ERIN_VIDEO);
    assert_eq!(got.len(), 300);
    let raw = raw_samples(&path);
    assert_eq!(raw.len(), 300);
    let mut stream = Vec::new();
    for (k, (e, v)) in got.iter().enumerate() {
        let f = &track.frames[k];
        assert_eq!(
            v.timestamp.ticks() - epoch,
            f.time.ticks() as u64,
            "frame {k}"
        );
        assert_eq!(
            e.at,
            f.time.saturating_add(MediaTime::from_millis(20)),
            "frame {k}"
        );
        assert_eq!(e.reference.ticks(), r0 + e.at.ticks() as u64);
        assert_eq!(v.socket, VideoSocket::Main(0));
        assert_eq!(v.format.codec, VideoCodec::H264);
        assert_eq!(
            (v.format.width, v.format.height, v.format.stride),
            (1280, 720, 0)
        );
        assert_eq!(v.format.frame_rate_millihz, 30_000);
        assert_eq!(v.original_size, None);
        assert_eq!(back_to_sample(&v.data), without(&raw[k], &[6]), "frame {k}");
        stream.extend_from_slice(&v.data);
    }
    assert!(
        stream
            == track
                .frames
                .iter()
                .flat_map(|f| f.data.iter().copied())
                .collect::<Vec<u8>>()
    );
    assert_eq!(
        (
            vr.sent,
            vr.delivered,
            vr.lost_network,
            vr.duplicated,
            vr.pending_at_end
        ),
        (300, 300, 0, 0, 0)
    );
    assert!(vr.balanced());
    // Events in time order; the roster announces both of erin's streams before any media.
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
    match &events[0].event {
        SdkEvent::Roster(RosterChange::Joined(p)) => assert_eq!(
            p.media_streams,
            [
                (ERIN_AUDIO, StreamKind::Audio),
                (ERIN_VIDEO, StreamKind::Video)
            ]
        ),
        other => panic!("{other:?}"),
    }
    // The clip's last audio frame is digital silence (not sent): the call ends at 10 s, after 500 slots.
    assert_eq!(report.slots, 500);
    assert!(report.participants[0].balanced());
}

/// The delivered stream is valid H.264 for ffmpeg, and the white frames (mean luma near 255) are exactly the
/// ones stamped 2, 5 and 8 s, where the audio beeps are.
#[test]
fn delivered_stream_decodes_with_ffmpeg_and_white_frames_sit_on_the_beeps() {
    let path = media("erin-sync.mp4");
    require_tool("ffmpeg");
    let clip = load_video_clip(&path).unwrap();
    let (events, report) = run(MeetingSpec {
        participants: vec![erin(&clip)],
        duration: None,
        seed: 4,
        impairments: Impairments::NONE,
        screenshares: Vec::new(),
    });
    let epoch = report.participants[0]
        .video
        .as_ref()
        .unwrap()
        .sender_epoch
        .ticks();
    let got = videos(&events, ERIN_VIDEO);
    let h264 = scratch("erin.h264");
    let mut f = std::fs::File::create(&h264).unwrap();
    for (_, v) in &got {
        f.write_all(&v.data).unwrap();
    }
    drop(f);
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "h264", "-i"])
        .arg(&h264)
        .args([
            "-vf",
            "scale=16:9",
            "-pix_fmt",
            "gray",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 300 * 16 * 9, "300 decoded frames");
    let white: Vec<usize> = out
        .stdout
        .chunks(16 * 9)
        .enumerate()
        .filter(|(_, px)| px.iter().map(|&p| u32::from(p)).sum::<u32>() / (16 * 9) > 200)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(white, [60, 150, 240]);
    let white_ts: Vec<u64> = white
        .iter()
        .map(|&k| got[k].1.timestamp.ticks() - epoch)
        .collect();
    assert_eq!(white_ts, [20_000_000, 50_000_000, 80_000_000]);
    let _ = std::fs::remove_file(h264);
}

/// The clip repeated `times` times back to back (each repetition starts with its IDR).
fn looped(track: &VideoTrack, times: usize) -> VideoTrack {
    let frames: Vec<VideoAccessUnit> = (0..times)
        .flat_map(|r| {
            track.frames.iter().map(move |f| VideoAccessUnit {
                time: f
                    .time
                    .saturating_add(MediaTime::from_ticks(track.duration.ticks() * r as i64)),
                data: f.data.clone(),
            })
        })
        .collect();
    VideoTrack {
        frames: Arc::from(frames),
        duration: MediaTime::from_ticks(track.duration.ticks() * times as i64),
        ..track.clone()
    }
}

fn impaired_meeting(seed: u64, impairments: Impairments) -> (MeetingSpec, VideoTrack, VideoTrack) {
    let erin_clip = load_video_clip(media("erin-sync.mp4")).unwrap();
    let share_clip = load_video_clip(media("screenshare.mp4")).unwrap();
    let cam = looped(erin_clip.video.as_ref().unwrap(), 6);
    let share = looped(share_clip.video.as_ref().unwrap(), 5);
    let mut people = synthetic::participants(3, MediaTime::from_secs(60), seed);
    let mut e = erin(&erin_clip);
    e.video = Some(SimVideo::new(ERIN_VIDEO, cam.clone()));
    people.push(e);
    people[0].video = Some(SimVideo::new(Msi(7), cam.clone()));
    (
        MeetingSpec {
            participants: people,
            duration: None,
            seed,
            impairments,
            screenshares: vec![SimScreenShare::new(
                "erin",
                SHARE,
                MediaTime::from_secs(5),
                share.clone(),
            )],
        },
        cam,
        share,
    )
}

/// teams-x3 on 60 s of camera video (two cameras) and 50 s of screen share: every delivered buffer is its
/// frame's bytes with its capture timestamp; lost frames never appear, duplicated frames appear twice,
/// out-of-order arrivals are as reported, and the accounting balances with nothing pending.
#[test]
fn teams_x3_loses_duplicates_and_reorders_video_as_reported() {
    let imp: Impairments = "teams-x3,reorder=2%".parse().unwrap();
    let (spec, cam, share) = impaired_meeting(11, imp);
    let alice_video = spec.participants[0].video.as_ref().unwrap().msi;
    let (events, report) = run(spec);
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
    let r0 = report.reference_epoch.ticks();
    let streams = [
        (
            alice_video,
            &cam,
            report.participants[0].video.clone().unwrap(),
        ),
        (
            ERIN_VIDEO,
            &cam,
            report.participant("erin").unwrap().video.clone().unwrap(),
        ),
        (SHARE, &share, report.screenshares[0].clone()),
    ];
    let mut totals = (0, 0, 0, 0);
    for (msi, track, vr) in &streams {
        let got = videos(&events, *msi);
        let by_time: HashMap<u64, usize> = track
            .frames
            .iter()
            .enumerate()
            .map(|(k, f)| (f.time.ticks() as u64, k))
            .collect();
        let mut copies: BTreeMap<usize, u64> = BTreeMap::new();
        let mut out_of_order = 0;
        let mut max_k = None;
        for (e, v) in &got {
            let k = by_time[&(v.timestamp.ticks() - vr.sender_epoch.ticks())];
            assert!(v.data == track.frames[k].data, "frame {k} bytes");
            assert_eq!(e.reference.ticks(), r0 + e.at.ticks() as u64);
            let capture = vr.capture_time(track.frames[k].time);
            // 20 ms + jitter (<= 90 ms) + a reorder hold (<= 3.5 frame intervals) + a duplicate's gap (<= 20 ms).
            let latency = e.at.saturating_sub(capture);
            let interval = 10_000_000_000 / i64::from(track.frame_rate_millihz);
            let bound = MediaTime::from_ticks(1_300_000 + interval * 7 / 2);
            assert!(
                latency >= MediaTime::from_millis(20) && latency <= bound,
                "{latency:?}"
            );
            *copies.entry(k).or_default() += 1;
            match max_k {
                Some(m) if k < m => out_of_order += 1,
                _ => max_k = Some(k),
            }
        }
        assert_eq!(got.len() as u64, vr.delivered);
        assert_eq!(out_of_order, vr.arrived_out_of_order);
        let twice = copies.values().filter(|&&c| c == 2).count() as u64;
        assert!(copies.values().all(|&c| c <= 2));
        assert_eq!(twice, vr.duplicated);
        for k in &vr.lost_frames {
            assert!(
                !copies.contains_key(&(*k as usize)),
                "lost frame {k} delivered"
            );
        }
        assert_eq!(copies.len() as u64 + vr.lost_network, vr.sent);
        assert_eq!(vr.sent, track.frames.len() as u64);
        assert_eq!(vr.pending_at_end, 0);
        assert!(vr.balanced(), "{vr:?}");
        eprintln!(
            "{msi}: sent {}, lost {} ({} burst), dup {}, reordered {}, out of order {}",
            vr.sent,
            vr.lost_network,
            vr.lost_burst,
            vr.duplicated,
            vr.reordered,
            vr.arrived_out_of_order
        );
        totals.0 += vr.lost_network;
        totals.1 += vr.duplicated;
        totals.2 += vr.reordered;
        totals.3 += vr.arrived_out_of_order;
    }
    assert!(
        totals.0 > 0 && totals.1 > 0 && totals.2 > 0 && totals.3 > 0,
        "{totals:?}"
    );
    for p in &report.participants {
        assert!(p.balanced());
    }
    // Roster: erin joins with audio + camera; at 5 s her streams gain the screen share.
    let erin_rosters: Vec<(MediaTime, Vec<(Msi, StreamKind)>)> = events
        .iter()
        .filter_map(|e| match &e.event {
            SdkEvent::Roster(RosterChange::Joined(p)) if p.id == "guest:erin" => {
                Some((e.at, p.media_streams.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        erin_rosters,
        [
            (
                MediaTime::ZERO,
                vec![
                    (ERIN_AUDIO, StreamKind::Audio),
                    (ERIN_VIDEO, StreamKind::Video)
                ]
            ),
            (
                MediaTime::from_secs(5),
                vec![
                    (ERIN_AUDIO, StreamKind::Audio),
                    (ERIN_VIDEO, StreamKind::Video),
                    (SHARE, StreamKind::ScreenShare)
                ]
            ),
        ]
    );
    // Sockets: alice's camera Main(0), erin's Main(1), the share on the VBSS socket.
    assert_eq!(streams[0].2.socket, Some(VideoSocket::Main(0)));
    assert_eq!(streams[1].2.socket, Some(VideoSocket::Main(1)));
    assert_eq!(streams[2].2.socket, Some(VideoSocket::ScreenShare));
    let first_share = videos(&events, SHARE)[0].0.at;
    assert!(
        first_share >= MediaTime::from_millis(5_020),
        "{first_share:?}"
    );

    // Everything the simulator raised is accepted by the ingest push API, key frames flagged.
    let (mut ing, mut rx) = ingest::channel(1 << 16);
    let mut keyframes = 0;
    for e in events {
        let rep = match e.event {
            SdkEvent::Video(v) => {
                keyframes += u32::from(media_core::h264::has_idr(&v.data));
                ing.push_video(e.at, e.reference, v)
            }
            SdkEvent::Audio(a) => ing.push_audio(e.at, a),
            _ => continue,
        };
        assert_eq!(rep.refused, 0, "{:?}", rep.first_refusal);
        while let Some(ev) = rx.pop() {
            if let ingest::IngestEvent::Video(f) = ev {
                keyframes -= u32::from(f.keyframe);
            }
        }
    }
    assert_eq!(keyframes, 0);
}

#[test]
fn video_is_deterministic_per_seed_and_leaves_audio_fates_alone() {
    let imp = Impairments::TEAMS_X3;
    let (a, _, _) = impaired_meeting(5, imp);
    let (b, _, _) = impaired_meeting(5, imp);
    let (c, _, _) = impaired_meeting(6, imp);
    let mut no_video = a.clone();
    for p in &mut no_video.participants {
        p.video = None;
    }
    no_video.screenshares.clear();
    let (ea, ra) = run(a);
    let (eb, rb) = run(b);
    let (ec, rc) = run(c);
    assert!(ea == eb && ra == rb, "same seed, same events and report");
    assert!(ea != ec && ra != rc);
    // Removing all video changes no audio outcome (separate seeded paths).
    let (_, rn) = run(no_video);
    for (p, q) in ra.participants.iter().zip(&rn.participants) {
        assert_eq!(
            (
                p.sent,
                p.lost_network,
                p.duplicated,
                p.delivered,
                &p.lost_frames
            ),
            (
                q.sent,
                q.lost_network,
                q.duplicated,
                q.delivered,
                &q.lost_frames
            )
        );
    }
}

/// A drifting sender: video timestamps stay exact on its own clock, captures stretch on the reference clock;
/// a participant who leaves stops sending video; a duration cuts the call and leaves late frames pending.
#[test]
fn drift_leave_and_duration_apply_to_video() {
    let path = media("erin-sync.mp4");
    let clip = load_video_clip(&path).unwrap();
    let track = clip.video.clone().unwrap();
    let mut p = erin(&clip);
    p.join_at = MediaTime::from_secs(1);
    let (events, report) = run(MeetingSpec {
        participants: vec![p.clone()],
        duration: None,
        seed: 9,
        impairments: "drift=1000ppm".parse().unwrap(),
        screenshares: Vec::new(),
    });
    let vr = report.participants[0].video.clone().unwrap();
    let got = videos(&events, ERIN_VIDEO);
    assert_eq!(got.len(), 300);
    for (k, (e, v)) in got.iter().enumerate() {
        let t = track.frames[k].time.ticks();
        assert_eq!(v.timestamp.ticks() - vr.sender_epoch.ticks(), t as u64);
        let capture = 10_000_000 + (t as f64 / 1.001).round() as i64;
        assert_eq!(e.at.ticks(), capture + 200_000, "frame {k}");
    }

    p.leave_at = Some(MediaTime::from_secs(5)); // 4 s of presence: frames 0..120
    let (events, report) = run(MeetingSpec {
        participants: vec![p.clone()],
        duration: None,
        seed: 9,
        impairments: Impairments::NONE,
        screenshares: Vec::new(),
    });
    let vr = report.participants[0].video.clone().unwrap();
    assert_eq!((vr.sent, vr.delivered), (120, 120));
    assert_eq!(videos(&events, ERIN_VIDEO).len(), 120);

    p.leave_at = None;
    let (events, report) = run(MeetingSpec {
        participants: vec![p],
        duration: Some(MediaTime::from_millis(3_010)),
        seed: 9,
        impairments: Impairments::NONE,
        screenshares: Vec::new(),
    });
    let vr = report.participants[0].video.clone().unwrap();
    // Captured before 3.010 s: frames at 1 s + k/30 s for k = 0..=60; delivered by 3.010 s: k = 0..=59.
    assert_eq!((vr.sent, vr.delivered, vr.pending_at_end), (61, 60, 1));
    assert!(vr.balanced());
    assert!(matches!(events.last().unwrap().event, SdkEvent::CallEnded));
    assert_eq!(events.last().unwrap().at, MediaTime::from_millis(3_010));
}

#[test]
fn bad_video_specs_are_refused_with_the_reason() {
    let path = media("screenshare.mp4");
    let track = load_video_clip(&path).unwrap().video.unwrap();
    let person = |name: &str, msi: u32, video: Option<u32>| SimParticipant {
        video: video.map(|m| SimVideo::new(Msi(m), track.clone())),
        ..SimParticipant::new(name, Msi(msi), vec![100i16; 3_200])
    };
    let spec = |participants, screenshare: Option<SimScreenShare>| MeetingSpec {
        participants,
        duration: None,
        seed: 0,
        impairments: Impairments::NONE,
        screenshares: screenshare.into_iter().collect(),
    };
    let err = |s: MeetingSpec| Simulator::new(s).map(|_| ()).unwrap_err().to_string();
    assert!(err(spec(vec![person("a", 1, Some(1))], None)).contains("video MSI used"));
    assert!(err(spec(
        vec![person("a", 1, Some(2)), person("b", 2, None)],
        None
    ))
    .contains("MSI used"));
    let mut late_key = track.clone();
    late_key.frames = Arc::from(&track.frames[1..]);
    let mut p = person("a", 1, None);
    p.video = Some(SimVideo::new(Msi(2), late_key));
    assert!(err(spec(vec![p], None)).contains("key frame"));
    // Eleven cameras: Teams has ten main-video sockets, so the eleventh is not delivered (not an error).
    let eleven: Vec<_> = (0..11)
        .map(|i| person(&format!("p{i}"), 10 + i, Some(100 + i)))
        .collect();
    let (events, report) = run(spec(eleven, None));
    let last = report.participants[10].video.clone().unwrap();
    assert_eq!((last.socket, last.sent, last.delivered), (None, 0, 0));
    assert_eq!(last.unsubscribed, 50);
    assert!(videos(&events, Msi(110)).is_empty());
    assert_eq!(
        report.participants[9].video.as_ref().unwrap().socket,
        Some(VideoSocket::Main(9))
    );
    let share = |sharer: &str, msi: u32, at: i64| {
        Some(SimScreenShare::new(
            sharer,
            Msi(msi),
            MediaTime::from_secs(at),
            track.clone(),
        ))
    };
    assert!(err(spec(vec![person("a", 1, None)], share("zed", 9, 0))).contains("not a participant"));
    assert!(err(spec(vec![person("a", 1, None)], share("a", 1, 0))).contains("screen-share MSI"));
    let mut gone = person("a", 1, None);
    gone.leave_at = Some(MediaTime::from_secs(2));
    assert!(err(spec(vec![gone], share("a", 9, 3))).contains("while not present"));
    // A share from the start is announced in the sharer's first Joined.
    let (events, report) = run(spec(vec![person("a", 1, None)], share("a", 9, 0)));
    match &events[0].event {
        SdkEvent::Roster(RosterChange::Joined(p)) => assert_eq!(
            p.media_streams,
            [
                (Msi(1), StreamKind::Audio),
                (Msi(9), StreamKind::ScreenShare)
            ]
        ),
        other => panic!("{other:?}"),
    }
    let ss = report.screenshares[0].clone();
    assert_eq!((ss.sent, ss.delivered), (50, 50));
    assert_eq!(report.ended_at, Some(MediaTime::from_secs(10)));
}

#[test]
fn unreadable_clips_are_typed_errors_not_panics() {
    let e = load_video_clip("/nonexistent/clip.mp4").unwrap_err();
    assert!(
        matches!(
            e,
            SimError::VideoFile {
                source: VideoFileError::Open(_),
                ..
            }
        ),
        "{e}"
    );
    let flac = media("alice.flac");
    let e = load_video_clip(&flac).unwrap_err();
    assert!(
        matches!(
            e,
            SimError::VideoFile {
                source: VideoFileError::NotMp4,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("alice.flac"), "{e}");

    let path = media("screenshare.mp4");
    let bytes = std::fs::read(&path).unwrap();
    // Truncated: the moov (at the end) is cut off.
    let cut = scratch("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(load_video_clip(&cut).is_err());
    // Seeded corruption of the moov box: whatever the bytes say, a clip or a typed error, never a panic
    // escaping (the mp4 crate's own panics are caught and reported as ContainerPanicked).
    let moov = bytes.windows(4).position(|w| w == b"moov").unwrap() - 4;
    let bad = scratch("bad.mp4");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut errors) = (0, 0);
    // SIMVIDEO_FUZZ_N=3000 for a longer run.
    let n: usize = std::env::var("SIMVIDEO_FUZZ_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    for _ in 0..n {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = moov + (next() as usize) % (b.len() - moov);
            b[at] = next() as u8;
        }
        std::fs::write(&bad, &b).unwrap();
        if std::env::var_os("SIMVIDEO_DEBUG").is_some() {
            eprintln!("variant {ok}+{errors}");
            std::fs::copy(&bad, "/tmp/simvideo-last.mp4").unwrap();
        }
        match load_video_clip(&bad) {
            Ok(_) => ok += 1,
            Err(SimError::VideoFile { .. } | SimError::AudioFile { .. }) => errors += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    eprintln!("corrupted moov: {ok} loaded, {errors} refused");
    assert!(errors > 0);
    let _ = std::fs::remove_file(cut);
    let _ = std::fs::remove_file(bad);
}

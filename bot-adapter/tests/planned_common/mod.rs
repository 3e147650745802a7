//! Helpers of the planned-meeting tests (`sim_planned.rs`, `sim_planned_props.rs`): small H.264-shaped
//! tracks, plans, and the buffer-by-buffer checker of a meeting against its ground truth.
#![allow(dead_code, unused_imports)] // each test binary uses a different subset

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bot_adapter::sdk::{RosterChange, VideoSocket};
use bot_adapter::sim::meeting::{meeting, MeetingKind, MeetingPlan, MAX_PARTICIPANTS};
use bot_adapter::sim::{
    AudioInput, FrameFate, Impairments, MeetingSpec, Rejoin, SdkEvent, SimError, SimEvent,
    SimParticipant, SimReport, SimScreenShare, SimVideo, Simulator, Span, VideoAccessUnit,
    VideoTrack, MAX_MAIN_VIDEO,
};
use media_core::{MediaTime, Msi, StreamKind};
use proptest::prelude::*;

pub const F: i64 = 200_000; // 20 ms in ticks

/// A tiny H.264-shaped track: `frames` frames at `fps`, an IDR (with SPS and PPS) every `gop`, each frame's
/// bytes naming its clip and index.
pub fn track(fps: i64, frames: usize, gop: usize, tag: u8) -> VideoTrack {
    let step = 10_000_000 / fps;
    let units: Vec<VideoAccessUnit> = (0..frames)
        .map(|k| {
            let mut data = if k % gop == 0 {
                vec![
                    0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65,
                ]
            } else {
                vec![0, 0, 0, 1, 0x41]
            };
            data.extend_from_slice(&[tag, k as u8, (k >> 8) as u8]);
            VideoAccessUnit {
                time: MediaTime::from_ticks(k as i64 * step),
                data: data.into(),
            }
        })
        .collect();
    VideoTrack {
        width: 320,
        height: 180,
        frame_rate_millihz: fps as u32 * 1000,
        frames: Arc::from(units),
        duration: MediaTime::from_ticks(frames as i64 * step),
    }
}

pub fn plan(kind: MeetingKind, n: usize, secs: i64, seed: u64, video: bool) -> MeetingSpec {
    let mut p = MeetingPlan::new(kind, n, MediaTime::from_secs(secs), seed);
    if video {
        p.cameras = (0..4).map(|t| track(10, 20, 5, t)).collect();
        p.screen = Some(track(2, 8, 2, 99));
    }
    p.build().unwrap()
}

pub fn samples(data: &[u8]) -> Vec<i16> {
    data.chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

pub fn energy(data: &[u8]) -> u64 {
    samples(data)
        .iter()
        .map(|&s| (i64::from(s) * i64::from(s)) as u64)
        .sum()
}

/// What [`check`] saw.
#[derive(Default, Debug)]
pub struct Seen {
    pub unmixed: u64,
    pub video: u64,
    /// Per participant, the longest stretch without a sent frame while present.
    pub longest_silence: Vec<MediaTime>,
}

/// Runs `spec` and checks every event against the report's ground truth (the spec must not use `zerots` or
/// `backjump`, so a sender timestamp names its frame):
/// * events in time order, one audio buffer per 20 ms slot, at most four unmixed buffers, loudest first;
/// * every unmixed buffer is exactly the regenerated input frame its timestamp names, with its session's MSI,
///   and the per-frame fates say how many copies were handed out;
/// * every video buffer is its clip frame, captured while its stream was on, on the socket and with the MSI of
///   that on-span; never more than ten main-video sockets; no two on-spans share a socket at once;
/// * the roster lists each session's MSIs; every counter balances.
pub fn check(spec: MeetingSpec) -> (SimReport, Seen) {
    let inputs: Vec<AudioInput> = spec.participants.iter().map(|p| p.audio.clone()).collect();
    let cameras: Vec<Option<VideoTrack>> = spec
        .participants
        .iter()
        .map(|p| p.video.as_ref().map(|v| v.track.clone()))
        .collect();
    let shares: Vec<VideoTrack> = spec.screenshares.iter().map(|s| s.track.clone()).collect();
    let sessions: Vec<_> = spec.participants.iter().map(|p| p.sessions()).collect();
    let ids: Vec<String> = spec.participants.iter().map(|p| p.id.clone()).collect();
    let mut sim = Simulator::new(spec).unwrap();
    let start = sim.report().clone();
    let by_msi: HashMap<Msi, usize> = start
        .participants
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.sessions.iter().map(move |s| (s.msi, i)))
        .collect();
    let mut delivered: HashMap<(usize, u64), u8> = HashMap::new();
    let mut seen = Seen::default();
    let mut last_at = MediaTime::ZERO;
    let mut slot = 0i64;
    for e in sim.by_ref() {
        assert!(e.at >= last_at, "events in time order");
        last_at = e.at;
        match &e.event {
            SdkEvent::Audio(b) => {
                slot += 1;
                assert_eq!(e.at.ticks(), slot * F);
                assert!(b.unmixed.len() <= 4);
                let order: Vec<Msi> = b.active_speakers.iter().copied().collect();
                let got: Vec<Msi> = b.unmixed.iter().map(|u| u.active_speaker_id).collect();
                assert_eq!(order, got);
                let energies: Vec<u64> = b.unmixed.iter().map(|u| energy(&u.data)).collect();
                assert!(energies.windows(2).all(|w| w[0] >= w[1]), "loudest first");
                for u in b.unmixed.iter() {
                    let i = by_msi[&u.active_speaker_id];
                    let p = &start.participants[i];
                    let j = u.original_sender_timestamp.since(p.sender_epoch).ticks() / F;
                    let j = j as u64;
                    assert_eq!(samples(&u.data), inputs[i].frame(j), "{} frame {j}", p.name);
                    let s = p
                        .sessions
                        .iter()
                        .rev()
                        .find(|s| s.frames.start <= j)
                        .unwrap();
                    assert_eq!(
                        s.msi, u.active_speaker_id,
                        "{} frame {j}: its session's MSI",
                        p.name
                    );
                    *delivered.entry((i, j)).or_default() += 1;
                    seen.unmixed += 1;
                }
            }
            SdkEvent::Video(v) => {
                seen.video += 1;
                let (report, clip) = match v.socket {
                    VideoSocket::ScreenShare => {
                        let k = start
                            .screenshares
                            .iter()
                            .position(|r| r.msi == v.media_source_id)
                            .expect("a known share");
                        (&start.screenshares[k], &shares[k])
                    }
                    VideoSocket::Main(m) => {
                        assert!((m as usize) < MAX_MAIN_VIDEO);
                        let i = start
                            .participants
                            .iter()
                            .position(|p| {
                                p.video.as_ref().is_some_and(|r| {
                                    r.spans.iter().any(|s| s.msi == v.media_source_id)
                                })
                            })
                            .expect("a known camera");
                        (
                            start.participants[i].video.as_ref().unwrap(),
                            cameras[i].as_ref().unwrap(),
                        )
                    }
                };
                let tau = v.timestamp.ticks() - report.sender_epoch.ticks();
                let k = clip
                    .frames
                    .iter()
                    .position(|f| f.time.ticks() == tau as i64 % clip.duration.ticks())
                    .expect("a clip frame time");
                assert_eq!(v.data, clip.frames[k].data);
                let captured = report.capture_time(MediaTime::from_ticks(tau as i64));
                let span = report
                    .spans
                    .iter()
                    .find(|s| s.contains(captured))
                    .expect("captured while the stream was on");
                assert_eq!((span.msi, span.socket), (v.media_source_id, Some(v.socket)));
                assert!(e.at >= captured.saturating_add(MediaTime::from_millis(20)));
            }
            SdkEvent::Roster(RosterChange::Joined(p)) => {
                let i = ids.iter().position(|id| *id == p.id).unwrap();
                let (_, _, msi, video) = sessions[i]
                    .iter()
                    .rev()
                    .find(|s| s.0 <= e.at)
                    .copied()
                    .unwrap();
                assert_eq!(p.media_streams[0], (msi, StreamKind::Audio));
                if let Some(v) = video {
                    assert_eq!(p.media_streams[1], (v, StreamKind::Video));
                }
            }
            _ => {}
        }
    }
    let report = sim.report().clone();
    // Sockets: at any instant, at most ten camera on-spans hold one, and never the same one.
    let mut edges: Vec<(MediaTime, i32, VideoSocket)> = Vec::new();
    for v in report.participants.iter().filter_map(|p| p.video.as_ref()) {
        assert!(v.balanced(), "{v:?}");
        for s in v.spans.iter().filter(|s| s.socket.is_some()) {
            let end = s.end.unwrap_or(MediaTime::MAX);
            edges.push((s.start, 1, s.socket.unwrap()));
            edges.push((end, -1, s.socket.unwrap()));
        }
    }
    edges.sort_by_key(|&(t, d, _)| (t, d));
    let mut held: HashMap<VideoSocket, i32> = HashMap::new();
    for (_, d, s) in edges {
        let h = held.entry(s).or_default();
        *h += d;
        assert!(*h <= 1, "socket {s:?} held twice");
        assert!(held.values().sum::<i32>() <= MAX_MAIN_VIDEO as i32);
    }
    for v in &report.screenshares {
        assert!(v.balanced(), "{v:?}");
    }
    // Per-frame fates agree with the buffers and the counters.
    for (i, p) in report.participants.iter().enumerate() {
        assert!(p.balanced(), "{p:?}");
        let (mut lost, mut muted, mut silent, mut out) = (0, 0, 0, 0u64);
        let mut sent_at: Vec<Vec<MediaTime>> = vec![Vec::new(); p.sessions.len()];
        for f in p.frames(&inputs[i]) {
            let si = p
                .sessions
                .iter()
                .position(|s| s.frames.contains(&f.index))
                .unwrap();
            assert_eq!(f.msi, p.sessions[si].msi);
            match f.fate {
                FrameFate::Lost => lost += 1,
                FrameFate::Muted => muted += 1,
                FrameFate::Silent => silent += 1,
                FrameFate::Sent { delivered: d, .. } => {
                    assert_eq!(
                        delivered.remove(&(i, f.index)).unwrap_or(0),
                        d,
                        "{} frame {}: copies handed out",
                        p.name,
                        f.index
                    );
                    out += u64::from(d);
                    sent_at[si].push(f.capture);
                }
            }
        }
        // The longest stretch with nothing sent while present (muted counts as silent).
        let end = report.ended_at.unwrap();
        let mut longest = MediaTime::ZERO;
        for (s, times) in p.sessions.iter().zip(sent_at) {
            let mut prev = s.join;
            for t in times.into_iter().chain([s.leave.unwrap_or(end).min(end)]) {
                longest = longest.max(t.saturating_sub(prev));
                prev = t;
            }
        }
        seen.longest_silence.push(longest);
        assert_eq!(
            (lost, muted, silent, out),
            (
                p.lost_network,
                p.muted_not_sent,
                p.silent_not_sent,
                p.delivered
            ),
            "{}",
            p.name
        );
    }
    assert!(delivered.is_empty(), "every delivered frame has a fate");
    (report, seen)
}

/// Feeds one event into a digest (the events of a long meeting are too many to keep for comparing).
pub fn digest(h: &mut DefaultHasher, e: &SimEvent) {
    e.at.hash(h);
    e.reference.hash(h);
    match &e.event {
        SdkEvent::Audio(b) => {
            b.timestamp.hash(h);
            for u in b.unmixed.iter() {
                (
                    u.active_speaker_id,
                    u.original_sender_timestamp,
                    &u.data[..],
                )
                    .hash(h);
            }
        }
        SdkEvent::Video(v) => (v.media_source_id, v.timestamp, &v.data[..]).hash(h),
        other => format!("{other:?}").hash(h),
    }
}

pub fn run_digest(spec: MeetingSpec) -> (u64, SimReport) {
    let mut sim = Simulator::new(spec).unwrap();
    let mut h = DefaultHasher::new();
    for e in sim.by_ref() {
        digest(&mut h, &e);
    }
    (h.finish(), sim.report().clone())
}

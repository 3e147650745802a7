//! Properties of the simulator that must hold for any impairment spec and seed.

use std::collections::HashMap;
use std::sync::Arc;

use bot_adapter::sim::{
    synthetic, BackJump, Impairments, MeetingSpec, SdkEvent, SimScreenShare, SimVideo, Simulator,
    VideoAccessUnit, VideoTrack,
};
use media_core::{MediaTime, Msi};
use proptest::prelude::*;

/// A variable-frame-rate track (deltas of 33–500 ms, as Teams shows) of tiny distinct frames, an IDR (with SPS
/// and PPS) every 30 frames.
fn vfr_track(seed: u64, frames: usize) -> VideoTrack {
    let mut x = seed | 1;
    let mut t = 0i64;
    let units: Vec<VideoAccessUnit> = (0..frames)
        .map(|k| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut data = Vec::new();
            if k % 30 == 0 {
                data.extend_from_slice(&[
                    0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65,
                ]);
            } else {
                data.extend_from_slice(&[0, 0, 0, 1, 0x41]);
            }
            data.extend_from_slice(&(k as u32).to_be_bytes());
            let u = VideoAccessUnit {
                time: MediaTime::from_ticks(t),
                data: data.into(),
            };
            t += 330_000 + (x % 4_670_000) as i64;
            u
        })
        .collect();
    VideoTrack {
        width: 640,
        height: 360,
        frame_rate_millihz: 15_000,
        frames: Arc::from(units),
        duration: MediaTime::from_ticks(t),
    }
}

fn impairments() -> impl Strategy<Value = Impairments> {
    (
        0i64..=300,
        0u32..=2_000,
        0u32..=10_000,
        0u32..=500,
        0u32..=500,
        -500i32..=500,
        0i64..=8,
        proptest::option::of((1i64..=5, 0i64..=10)),
    )
        .prop_map(|(j, l, b, r, d, drift, z, bj)| Impairments {
            jitter: MediaTime::from_millis(j),
            loss_percent: f64::from(l) / 100.0,
            burst_percent: f64::from(b) / 100.0,
            reorder_percent: f64::from(r) / 100.0,
            dup_percent: f64::from(d) / 100.0,
            drift_ppm: f64::from(drift),
            zero_ts: MediaTime::from_secs(z),
            back_jump: bj.map(|(by, at)| BackJump {
                by: MediaTime::from_secs(by),
                at: MediaTime::from_secs(at),
            }),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Display then FromStr gives back the same impairments.
    #[test]
    fn impairment_spelling_round_trips(i in impairments()) {
        let s = i.to_string();
        prop_assert_eq!(s.parse::<Impairments>().unwrap(), i, "{}", s);
    }

    /// Whatever the network does: events in time order, one buffer per slot, at most four unmixed buffers with
    /// 640 bytes each, every delivered frame equal to its input, and every sent frame accounted for.
    #[test]
    fn any_impairment_keeps_the_model_invariants(i in impairments(), seed in any::<u64>(), n in 1usize..=6) {
        let participants = synthetic::participants(n, MediaTime::from_secs(12), seed);
        let inputs: HashMap<Msi, _> = participants.iter().map(|p| (p.msi, p.audio.to_pcm())).collect();
        let mut sim = Simulator::new(MeetingSpec { participants, duration: None, seed, impairments: i, screenshares: Vec::new() }).unwrap();
        let mut last_at = MediaTime::ZERO;
        let mut slots = 0u64;
        let mut ended = false;
        for e in sim.by_ref() {
            prop_assert!(!ended, "nothing after CallEnded");
            prop_assert!(e.at >= last_at);
            last_at = e.at;
            match &e.event {
                SdkEvent::Audio(b) => {
                    slots += 1;
                    prop_assert_eq!(e.at, MediaTime::from_millis(20 * slots as i64));
                    prop_assert!(b.unmixed.len() <= 4);
                    for u in b.unmixed.iter() {
                        prop_assert_eq!(u.data.len(), 640);
                        // The payload is some 20 ms frame of that participant's input.
                        let input = &inputs[&u.active_speaker_id];
                        let first = i16::from_le_bytes([u.data[0], u.data[1]]);
                        let found = input.chunks(320).any(|f| f[0] == first && f.iter().zip(u.data.chunks_exact(2))
                            .all(|(&s, b)| s == i16::from_le_bytes([b[0], b[1]])));
                        prop_assert!(found);
                    }
                }
                SdkEvent::CallEnded => ended = true,
                _ => {}
            }
        }
        prop_assert!(ended);
        let r = sim.report();
        prop_assert_eq!(r.slots, slots);
        for p in &r.participants {
            prop_assert!(p.balanced(), "{:?}", p);
            prop_assert_eq!(p.pending_at_end, 0);
            prop_assert_eq!(p.sent + p.silent_not_sent + p.muted_not_sent, p.captured);
            prop_assert_eq!(p.lost_frames.len() as u64, p.lost_network);
        }
    }

    /// Video under any impairment: events in time order, every buffer is its frame (found by its capture
    /// timestamp) delivered at least 20 ms after capture, counts equal the report, and every sent frame is
    /// accounted for (nothing pending without a duration).
    #[test]
    fn any_impairment_keeps_the_video_invariants(
        i in impairments(), seed in any::<u64>(), n in 1usize..=4, cut in proptest::option::of(2_000i64..=9_000),
    ) {
        let mut participants = synthetic::participants(n, MediaTime::from_secs(6), seed);
        for (k, p) in participants.iter_mut().enumerate() {
            if k % 2 == 0 {
                p.video = Some(SimVideo::new(Msi(100 + k as u32), vfr_track(seed ^ k as u64, 40)));
            }
        }
        if n > 1 {
            participants[1].join_at = MediaTime::from_millis(700);
            participants[1].leave_at = Some(MediaTime::from_secs(4));
        }
        let share = vfr_track(!seed, 25);
        let name = participants[0].name.clone();
        let duration = cut.map(MediaTime::from_millis);
        let mut sim = Simulator::new(MeetingSpec {
            participants: participants.clone(),
            duration,
            seed,
            impairments: i,
            screenshares: vec![SimScreenShare::new(name, Msi(99), MediaTime::from_secs(1), share.clone())],
        }).unwrap();
        let tracks: HashMap<Msi, VideoTrack> = participants
            .iter()
            .filter_map(|p| p.video.as_ref().map(|v| (v.msi, v.track.clone())))
            .chain([(Msi(99), share)])
            .collect();
        let mut delivered: HashMap<Msi, u64> = HashMap::new();
        let mut last_at = MediaTime::ZERO;
        let mut events = Vec::new();
        for e in sim.by_ref() {
            prop_assert!(e.at >= last_at);
            last_at = e.at;
            if let SdkEvent::Video(v) = e.event {
                *delivered.entry(v.media_source_id).or_default() += 1;
                events.push((e.at, v));
            }
        }
        let r = sim.report();
        let reports: HashMap<Msi, _> = r
            .participants
            .iter()
            .filter_map(|p| p.video.clone())
            .chain(r.screenshares.clone())
            .map(|v| (v.msi, v))
            .collect();
        for (at, v) in &events {
            let vr = &reports[&v.media_source_id];
            let t = MediaTime::from_ticks((v.timestamp.ticks() - vr.sender_epoch.ticks()) as i64);
            let track = &tracks[&v.media_source_id];
            let f = track.frames.iter().find(|f| f.time == t);
            prop_assert!(f.is_some_and(|f| f.data == v.data), "buffer is its frame");
            prop_assert!(at.saturating_sub(vr.capture_time(t)) >= MediaTime::from_millis(20));
        }
        for (msi, vr) in &reports {
            prop_assert!(vr.balanced(), "{:?}", vr);
            prop_assert_eq!(delivered.get(msi).copied().unwrap_or(0), vr.delivered);
            prop_assert_eq!(vr.lost_frames.len() as u64, vr.lost_network);
            if duration.is_none() {
                prop_assert_eq!(vr.pending_at_end, 0);
            }
        }
    }
}

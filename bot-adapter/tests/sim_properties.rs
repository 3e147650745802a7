//! Properties of the simulator that must hold for any impairment spec and seed.

use std::collections::HashMap;

use bot_adapter::sim::{synthetic, BackJump, Impairments, MeetingSpec, SdkEvent, Simulator};
use media_core::{MediaTime, Msi};
use proptest::prelude::*;

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
        let inputs: HashMap<Msi, _> = participants.iter().map(|p| (p.msi, p.audio.clone())).collect();
        let mut sim = Simulator::new(MeetingSpec { participants, duration: None, seed, impairments: i, screenshare: None }).unwrap();
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
            prop_assert_eq!(p.sent + p.silent_not_sent, p.captured);
            prop_assert_eq!(p.lost_frames.len() as u64, p.lost_network);
        }
    }
}

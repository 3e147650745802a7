//! Recorder legs: the same meeting as two (or more) compliance-recording bots receive it. Same senders and
//! uplinks, own platform clocks, own downlink paths, own spans in the call, own concealment.

use std::collections::{BTreeMap, BTreeSet};

use bot_adapter::sdk::RosterChange;
use bot_adapter::sim::meeting::{meeting, MeetingKind};
use bot_adapter::sim::{Impairments, Leg, MeetingSpec, SdkEvent, SimEvent, SimReport, Simulator};
use media_core::{MediaTime, Msi};

fn spec(impairments: &str) -> MeetingSpec {
    let mut spec = meeting(MeetingKind::Standup, 4, MediaTime::from_secs(40), 11).unwrap();
    spec.impairments = impairments.parse().unwrap();
    spec
}

fn run(spec: MeetingSpec, leg: Leg) -> (Vec<SimEvent>, SimReport) {
    let mut sim = Simulator::new_leg(spec, leg).unwrap();
    let events: Vec<SimEvent> = sim.by_ref().collect();
    (events, sim.report().clone())
}

fn leg(number: u32, impairments: &str) -> Leg {
    Leg {
        number,
        impairments: impairments.parse().unwrap(),
        ..Leg::FIRST
    }
}

/// Every unmixed buffer a leg received, keyed by (MSI, OriginalSenderTimestamp): its samples (the first copy).
fn heard(events: &[SimEvent]) -> BTreeMap<(Msi, u64), Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in events {
        if let SdkEvent::Audio(b) = &e.event {
            for u in b.unmixed.iter() {
                out.entry((u.active_speaker_id, u.original_sender_timestamp.ticks()))
                    .or_insert_with(|| u.data.to_vec());
            }
        }
    }
    out
}

/// The events with every platform timestamp made relative to the leg's R0 (what two legs must share).
fn relative(events: &[SimEvent], r0: u64) -> Vec<SimEvent> {
    events
        .iter()
        .cloned()
        .map(|mut e| {
            e.reference = media_core::SourceTimestamp::new(e.reference.ticks() - r0);
            if let SdkEvent::Audio(b) = &mut e.event {
                b.timestamp = media_core::SourceTimestamp::new(b.timestamp.ticks() - r0);
            }
            e
        })
        .collect()
}

#[test]
fn leg_one_is_the_simulator_as_it_was() {
    let s = spec("teams-x3,drift=100ppm");
    let (a, ra) = run(s.clone(), Leg::FIRST);
    let mut sim = Simulator::new(s).unwrap();
    let b: Vec<SimEvent> = sim.by_ref().collect();
    assert_eq!(a, b);
    assert_eq!(&ra, sim.report());
    assert_eq!(ra.leg, 1);
    assert!(ra
        .participants
        .iter()
        .all(|p| p.lost_leg == 0 && p.concealed_leg == 0 && p.before_leg == 0 && p.balanced()));
}

#[test]
fn two_legs_share_the_uplink_and_differ_only_in_their_platform_clock() {
    let s = spec("teams-x3,drift=100ppm");
    let (one, r1) = run(s.clone(), Leg::FIRST);
    let (two, r2) = run(s, leg(2, "none"));
    assert_ne!(r1.reference_epoch, r2.reference_epoch);
    // Same senders: same sender epochs, same frames lost on the uplinks, same PCM for every frame.
    for (p1, p2) in r1.participants.iter().zip(&r2.participants) {
        assert_eq!(p1.sender_epoch, p2.sender_epoch);
        assert_eq!(p1.lost_frames, p2.lost_frames);
        assert!(p1.lost_network > 0, "{} lost nothing: a weak test", p1.name);
    }
    assert_eq!(heard(&one), heard(&two));
    // Event for event, but for the platform clock.
    assert_eq!(
        relative(&one, r1.reference_epoch.ticks()),
        relative(&two, r2.reference_epoch.ticks())
    );
}

#[test]
fn leg_paths_lose_frames_independently_and_reproducibly() {
    let s = spec("loss=2%");
    let (one, r1) = run(s.clone(), Leg::FIRST);
    let (two, r2) = run(s.clone(), leg(2, "loss=5%,jitter=40ms"));
    let (three, r3) = run(s.clone(), leg(3, "loss=5%,jitter=40ms"));
    let (two_again, r2_again) = run(s, leg(2, "loss=5%,jitter=40ms"));
    assert_eq!(two, two_again, "a leg is deterministic per (seed, leg)");
    assert_eq!(r2, r2_again);
    for ((p1, p2), p3) in r1
        .participants
        .iter()
        .zip(&r2.participants)
        .zip(&r3.participants)
    {
        assert!(p2.balanced() && p3.balanced());
        let uplink = |p: &bot_adapter::sim::ParticipantReport| -> BTreeSet<u64> {
            let leg: BTreeSet<u64> = p.lost_leg_frames.iter().copied().collect();
            p.lost_frames
                .iter()
                .copied()
                .filter(|j| !leg.contains(j))
                .collect()
        };
        // The uplink losses are the same on every leg; the leg losses are the leg's own.
        assert_eq!(uplink(p1), uplink(p2));
        assert_eq!(uplink(p1), uplink(p3));
        assert_eq!(p1.lost_leg, 0);
        assert!(p2.lost_leg > 0 && p3.lost_leg > 0, "{}", p2.name);
        assert_ne!(p2.lost_leg_frames, p3.lost_leg_frames);
        let share = p2.lost_leg as f64 / (p2.sent - p2.lost_network + p2.lost_leg) as f64;
        assert!(
            (0.02..0.09).contains(&share),
            "{} leg loss {share}",
            p2.name
        );
    }
    // Every frame a leg heard is one the reference leg heard, with the same samples.
    let h1 = heard(&one);
    for h in [heard(&two), heard(&three)] {
        assert!(h.len() < h1.len());
        for (k, v) in &h {
            assert_eq!(h1.get(k), Some(v));
        }
    }
}

#[test]
fn a_late_leg_gets_a_roster_snapshot_and_a_short_leg_ends_on_time() {
    let s = spec("none");
    let start = MediaTime::from_secs(10);
    let end = MediaTime::from_millis(25_010);
    let l = Leg {
        number: 2,
        start: Some(start),
        end: Some(end),
        ..Leg::FIRST
    };
    let (events, r) = run(s.clone(), l);
    let (full, _) = run(s.clone(), Leg::FIRST);
    assert!(events.iter().all(|e| e.at >= start));
    // Who is present at 10 s, per the whole call's roster.
    let mut present = BTreeMap::new();
    for e in full.iter().filter(|e| e.at < start) {
        match &e.event {
            SdkEvent::Roster(RosterChange::Joined(p)) => {
                present.insert(p.id.clone(), p.clone());
            }
            SdkEvent::Roster(RosterChange::Left { id }) => {
                present.remove(id);
            }
            _ => {}
        }
    }
    assert!(!present.is_empty());
    let snapshot: BTreeMap<String, _> = events
        .iter()
        .take_while(|e| e.at == start)
        .filter_map(|e| match &e.event {
            SdkEvent::Roster(RosterChange::Joined(p)) => Some((p.id.clone(), p.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(snapshot, present);
    let audio: Vec<&SimEvent> = events
        .iter()
        .filter(|e| matches!(e.event, SdkEvent::Audio(_)))
        .collect();
    // Slots 500 (10.00 s) .. 1250 (25.00 s); the slot of 25.00–25.02 s would end after the leg.
    assert_eq!(audio.len(), 750);
    let Some(SdkEvent::Audio(first)) = audio.first().map(|e| &e.event) else {
        unreachable!()
    };
    assert_eq!(
        first.timestamp.ticks() - r.reference_epoch.ticks(),
        start.ticks() as u64
    );
    let last = events.last().unwrap();
    assert_eq!((last.at, &last.event), (end, &SdkEvent::CallEnded));
    assert_eq!(r.ended_at, Some(end));
    assert!(r.participants.iter().all(|p| p.balanced()));
    assert!(r.participants.iter().any(|p| p.before_leg > 0));
    // What it heard is what the whole-call leg heard in that span.
    let h = heard(&events);
    let full_h = heard(&full);
    assert!(h.iter().all(|(k, v)| full_h.get(k) == Some(v)));
}

#[test]
fn concealment_fills_the_leg_gaps_with_different_samples() {
    let s = spec("loss=1%");
    let (one, r1) = run(s.clone(), Leg::FIRST);
    let l = Leg {
        conceal: true,
        ..leg(2, "loss=4%")
    };
    let (two, r2) = run(s, l);
    let (h1, h2) = (heard(&one), heard(&two));
    // No leg gap: the same frames arrive on both legs...
    assert_eq!(h1.keys().collect::<Vec<_>>(), h2.keys().collect::<Vec<_>>());
    // ...with different samples exactly on the concealed ones.
    let differing = h1.iter().filter(|(k, v)| h2.get(k) != Some(v)).count();
    let concealed: u64 = r2.participants.iter().map(|p| p.concealed_leg).sum();
    assert!(concealed > 20, "{concealed}");
    assert_eq!(differing as u64, concealed);
    for (p1, p2) in r1.participants.iter().zip(&r2.participants) {
        assert_eq!(p1.lost_frames, p2.lost_frames);
        assert_eq!(p2.lost_leg, 0);
        assert_eq!(p2.concealed_frames.len() as u64, p2.concealed_leg);
        assert!(p2.balanced());
    }
}

#[test]
fn a_leg_joining_after_the_natural_end_still_hears_the_call_end() {
    let mut s = spec("none");
    s.duration = None;
    let start = MediaTime::from_secs(3600);
    let (events, r) = run(
        s,
        Leg {
            start: Some(start),
            ..Leg::FIRST
        },
    );
    assert_eq!(events.len(), 1, "{:?}", events.first());
    assert_eq!(
        (events[0].at, &events[0].event),
        (start, &SdkEvent::CallEnded)
    );
    assert_eq!(r.ended_at, Some(start));
}

#[test]
fn bad_legs_are_refused() {
    let s = spec("none");
    let bad = |l: Leg| Simulator::new_leg(s.clone(), l).is_err();
    assert!(bad(Leg {
        number: 0,
        ..Leg::FIRST
    }));
    assert!(bad(leg(2, "drift=10ppm")));
    assert!(bad(Leg {
        start: Some(MediaTime::from_secs(5)),
        end: Some(MediaTime::from_secs(5)),
        ..Leg::FIRST
    }));
    assert!(bad(Leg {
        start: Some(MediaTime::from_secs(40)),
        ..Leg::FIRST
    }));
    assert!(!bad(Leg {
        end: Some(MediaTime::from_secs(60)),
        impairments: Impairments::TEAMS_X3,
        ..Leg::FIRST
    }));
}

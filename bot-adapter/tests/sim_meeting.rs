//! The meeting simulator against its written model: what each participant put in comes out of the SDK-shaped
//! buffers, slot by slot, with the impairments and timestamps the spec asks for.

mod fixtures;

use std::collections::{BTreeMap, HashMap};

use bot_adapter::sdk::RosterChange;
use bot_adapter::sim::{
    load_audio_file, synthetic, Impairments, MeetingSpec, SdkEvent, SimError, SimEvent,
    SimParticipant, SimReport, Simulator,
};
use media_core::{MediaTime, Msi};

const F: i64 = 200_000; // 20 ms in ticks

/// A speaker's 16 kHz mono samples, from testdata/media/<name>.flac.
fn speech(name: &str) -> Vec<i16> {
    let path = fixtures::media(&format!("{name}.flac"));
    load_audio_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn person(name: &str, msi: u32, audio: Vec<i16>) -> SimParticipant {
    SimParticipant {
        display_name: name.to_uppercase(),
        ..SimParticipant::new(name, Msi(msi), audio)
    }
}

fn run(spec: MeetingSpec) -> (Vec<SimEvent>, SimReport) {
    let mut sim = Simulator::new(spec).unwrap();
    let events: Vec<SimEvent> = sim.by_ref().collect();
    (events, sim.report().clone())
}

/// Frames `j` whose samples are not all zero (the ones a sender transmits).
fn nonzero_frames(audio: &[i16]) -> Vec<&[i16]> {
    audio
        .chunks(320)
        .filter(|f| f.iter().any(|&s| s != 0))
        .collect()
}

fn samples(data: &[u8]) -> Vec<i16> {
    data.chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// A signal whose frame `j` holds `(j % 30000) + 1` in every sample, so a delivered buffer names its frame.
fn numbered(frames: usize) -> Vec<i16> {
    (0..frames)
        .flat_map(|j| std::iter::repeat_n((j % 30_000) as i16 + 1, 320))
        .collect()
}

fn frame_of(data: &[u8]) -> i64 {
    i64::from(i16::from_le_bytes([data[0], data[1]])) - 1
}

fn check_order_and_slots(events: &[SimEvent], report: &SimReport) {
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
    let r0 = report.reference_epoch;
    assert!(r0.ticks() > 0);
    let mut k = 0i64;
    for e in events {
        assert_eq!(e.reference.since(r0), e.at, "reference = R0 + at");
        if let SdkEvent::Audio(b) = &e.event {
            assert_eq!(e.at.ticks(), (k + 1) * F, "one buffer per slot, at its end");
            assert_eq!(b.timestamp.since(r0).ticks(), k * F);
            assert!(b.unmixed.len() <= 4);
            assert_eq!(b.is_silence, b.unmixed.is_empty());
            let listed: Vec<Msi> = b.active_speakers.iter().copied().collect();
            let unmixed: Vec<Msi> = b.unmixed.iter().map(|u| u.active_speaker_id).collect();
            assert_eq!(listed, unmixed);
            k += 1;
        }
    }
    assert_eq!(k as u64, report.slots);
    let last = events.last().unwrap();
    assert_eq!(last.event, SdkEvent::CallEnded);
    assert_eq!(Some(last.at), report.ended_at);
}

#[test]
fn without_impairment_every_participant_comes_out_sample_exact() {
    let names = ["alice", "bob", "carol", "dave"];
    let inputs: Vec<Vec<i16>> = names.iter().map(|n| speech(n)).collect();
    let spec = MeetingSpec {
        participants: names
            .iter()
            .zip(&inputs)
            .enumerate()
            .map(|(i, (n, a))| person(n, 100 + i as u32, a.clone()))
            .collect(),
        duration: None,
        seed: 1,
        impairments: Impairments::NONE,
        screenshares: Vec::new(),
    };
    let (events, report) = run(spec);
    check_order_and_slots(&events, &report);

    // Joined events first, at 0, before any audio.
    let joins: Vec<_> = events
        .iter()
        .take_while(|e| matches!(e.event, SdkEvent::Roster(_)))
        .collect();
    assert_eq!(joins.len(), 4);
    assert!(joins.iter().all(|e| e.at == MediaTime::ZERO));

    let mut got: HashMap<Msi, Vec<i16>> = HashMap::new();
    for e in &events {
        if let SdkEvent::Audio(b) = &e.event {
            for u in b.unmixed.iter() {
                assert_eq!(u.data.len(), 640);
                let p = report.by_msi(u.active_speaker_id).unwrap();
                // Frame j was captured at j*20 ms, arrived 20 ms later, and went out in slot j+1.
                let j = u.original_sender_timestamp.since(p.sender_epoch).ticks() / F;
                assert_eq!(
                    b.timestamp.since(report.reference_epoch).ticks(),
                    (j + 1) * F
                );
                got.entry(u.active_speaker_id)
                    .or_default()
                    .extend(samples(&u.data));
            }
        }
    }
    // 24 s = 1,200 slots: the inputs end in silence, so nothing is in flight when they end.
    assert_eq!(report.slots, 1200);
    for (i, input) in inputs.iter().enumerate() {
        let p = &report.participants[i];
        let expected: Vec<i16> = nonzero_frames(input).concat();
        assert_eq!(got[&p.msi], expected, "{}", p.name);
        assert_eq!(p.sent as usize, expected.len() / 320);
        assert_eq!(p.delivered, p.sent);
        assert_eq!(p.sent + p.silent_not_sent, p.captured);
        assert_eq!(
            (
                p.lost_network,
                p.duplicated,
                p.suppressed_top4,
                p.pending_at_end
            ),
            (0, 0, 0, 0)
        );
        assert!(p.balanced());
        eprintln!(
            "{}: sent {} of {} frames, delivered {}",
            p.name, p.sent, p.captured, p.delivered
        );
    }
    // Dominant speaker: alice speaks first (0 s), then bob (6 s), carol (11 s), dave (15 s).
    let dominant: Vec<(MediaTime, Msi)> = events
        .iter()
        .filter_map(|e| match &e.event {
            SdkEvent::DominantSpeaker(d) => Some((e.at, d.current)),
            _ => None,
        })
        .collect();
    eprintln!("dominant speaker changes: {dominant:?}");
    let speakers: Vec<Msi> = dominant
        .iter()
        .map(|&(_, m)| m)
        .filter(|&m| m != Msi::NONE)
        .collect();
    assert_eq!(speakers.first(), Some(&Msi(100)));
    for m in [101, 102, 103] {
        assert!(speakers.contains(&Msi(m)), "msi {m} became dominant");
    }
}

/// The simulator's buffers are what the ingest API accepts: nothing refused, one tick per slot.
#[test]
fn every_simulated_event_is_accepted_by_the_ingest_api() {
    let (mut ingest, mut rx) = bot_adapter::ingest::channel(4_096);
    let mut sim = Simulator::new(MeetingSpec {
        participants: synthetic::participants(5, MediaTime::from_secs(10), 3),
        duration: None,
        seed: 3,
        impairments: Impairments::TEAMS_X3,
        screenshares: Vec::new(),
    })
    .unwrap();
    let (mut accepted, mut frames, mut ticks) = (0, 0, 0);
    for e in sim.by_ref() {
        let r = match e.event {
            SdkEvent::Audio(b) => ingest.push_audio(e.at, b),
            SdkEvent::Roster(c) => ingest.push_roster(e.reference, c),
            SdkEvent::DominantSpeaker(d) => ingest.push_dominant_speaker(e.reference, d),
            SdkEvent::CallEnded => ingest.push_call_ended(e.reference),
            SdkEvent::Video(_) => unreachable!("no video yet"),
        };
        assert_eq!(r.refused, 0, "{:?}", r.first_refusal);
        accepted += r.accepted;
        while let Some(ev) = rx.pop() {
            match ev {
                bot_adapter::ingest::IngestEvent::Audio(_) => frames += 1,
                bot_adapter::ingest::IngestEvent::Tick { .. } => ticks += 1,
                _ => {}
            }
        }
    }
    let report = sim.report();
    assert_eq!(ticks, report.slots);
    let delivered: u64 = report.participants.iter().map(|p| p.delivered).sum();
    assert_eq!(frames, delivered);
    assert!(accepted as u64 > ticks + frames);
}

#[test]
fn only_the_four_loudest_get_a_buffer_in_each_slot() {
    // Five constant tones of rising level; the quietest stops at 1 s, the loudest keeps going to 2 s.
    let tone = |level: i16, secs: usize| -> Vec<i16> {
        (0..secs * 16_000)
            .map(|n| if n % 2 == 0 { level } else { -level })
            .collect()
    };
    let participants = (0..5)
        .map(|i| {
            let secs = if i == 0 { 1 } else { 2 };
            person(&format!("p{i}"), 10 + i, tone(1_000 * (i as i16 + 1), secs))
        })
        .collect();
    let (events, report) = run(MeetingSpec {
        participants,
        duration: Some(MediaTime::from_secs(3)),
        seed: 9,
        impairments: Impairments::NONE,
        screenshares: Vec::new(),
    });
    check_order_and_slots(&events, &report);
    let p = &report.participants;
    // p0 is the quietest: while all five talk (frames 0..50) it is dropped; nobody else ever is.
    assert_eq!(p[0].sent, 50);
    assert_eq!(p[0].suppressed_top4, 50);
    assert_eq!(p[0].delivered, 0);
    assert_eq!(p[0].suppressed_frames, (0..50).collect::<Vec<u64>>());
    for q in &p[1..] {
        assert_eq!((q.sent, q.delivered, q.suppressed_top4), (100, 100, 0));
    }
    for q in p {
        assert!(q.balanced());
    }
    let full = events
        .iter()
        .filter_map(|e| match &e.event {
            SdkEvent::Audio(b) => Some(b),
            _ => None,
        })
        .filter(|b| b.unmixed.len() == 4)
        .collect::<Vec<_>>();
    assert_eq!(full.len(), 100);
    // Loudest first.
    let order: Vec<Msi> = full[0].active_speakers.iter().copied().collect();
    assert_eq!(order, vec![Msi(14), Msi(13), Msi(12), Msi(11)]);
}

#[test]
fn teams_x3_loses_duplicates_and_reorders_as_specified_and_accounts_for_every_frame() {
    let participants = synthetic::participants(4, MediaTime::from_secs(180), 11);
    let inputs: Vec<Vec<i16>> = participants.iter().map(|p| p.audio.to_pcm()).collect();
    let (events, report) = run(MeetingSpec {
        participants,
        duration: None,
        seed: 11,
        impairments: Impairments::TEAMS_X3,
        screenshares: Vec::new(),
    });
    check_order_and_slots(&events, &report);

    // What each participant's recording would hold, by frame index (no zerots: OST names the frame).
    let mut recorded: HashMap<Msi, BTreeMap<i64, Vec<u8>>> = HashMap::new();
    let mut went_backwards = 0;
    let mut last_j: HashMap<Msi, i64> = HashMap::new();
    let mut max_latency = 0;
    let mut min_latency = i64::MAX;
    for e in &events {
        if let SdkEvent::Audio(b) = &e.event {
            for u in b.unmixed.iter() {
                let p = report.by_msi(u.active_speaker_id).unwrap();
                let j = u.original_sender_timestamp.since(p.sender_epoch).ticks() / F;
                if last_j.get(&p.msi).is_some_and(|&l| j < l) {
                    went_backwards += 1;
                }
                last_j.insert(p.msi, j);
                let latency = e.at.ticks() - j * F;
                max_latency = max_latency.max(latency);
                min_latency = min_latency.min(latency);
                let slot = recorded.entry(p.msi).or_default();
                if let Some(prev) = slot.get(&j) {
                    assert_eq!(prev, &u.data, "a duplicate carries the same bytes");
                }
                slot.insert(j, u.data.to_vec());
            }
        }
    }
    let (mut sent, mut lost, mut burst, mut dup, mut reordered) = (0, 0, 0, 0, 0);
    for (i, p) in report.participants.iter().enumerate() {
        assert!(p.balanced(), "{p:?}");
        assert_eq!(
            p.pending_at_end, 0,
            "the call ran until the network drained"
        );
        let rec = &recorded[&p.msi];
        for &j in &p.lost_frames {
            assert!(!rec.contains_key(&(j as i64)), "lost frame {j} is silence");
        }
        for (&j, data) in rec {
            let input = &inputs[i][j as usize * 320..(j as usize + 1) * 320];
            assert_eq!(samples(data), input, "{} frame {j}", p.name);
        }
        // Four speakers never exceed the top four: every sent frame is either lost or in the recording.
        assert_eq!(p.suppressed_top4, 0);
        assert_eq!(rec.len() as u64, p.sent - p.lost_network);
        sent += p.sent;
        lost += p.lost_network;
        burst += p.lost_burst;
        dup += p.duplicated;
        reordered += p.arrived_out_of_order;
    }
    let loss = lost as f64 / sent as f64;
    eprintln!(
        "teams-x3, 4 x 180 s: sent {sent}, lost {lost} ({:.2} %, {burst} in bursts), duplicated {dup}, \
         arrived out of order {reordered}, delivered out of order {went_backwards}, latency {}..{} ms",
        loss * 100.0,
        min_latency / 10_000,
        max_latency / 10_000
    );
    // 3 % independent + 30 % inside 200 ms windows every ~10 s (2 % of the time): 3.6 % expected.
    assert!((0.028..=0.045).contains(&loss), "loss {loss}");
    assert!(burst > 0);
    assert!(dup as f64 > sent as f64 * 0.005 && (dup as f64) < sent as f64 * 0.02);
    assert!(reordered > 0 && went_backwards > 0);
    assert!(
        min_latency >= 2 * F,
        "at least the 20 ms path plus the slot"
    );
    assert!(max_latency > min_latency + 50 * 10_000, "jitter is visible");
}

#[test]
fn the_same_seed_gives_the_same_events_and_another_seed_does_not() {
    let spec = |seed| MeetingSpec {
        participants: synthetic::participants(3, MediaTime::from_secs(20), 5),
        duration: Some(MediaTime::from_secs(20)),
        seed,
        impairments: "teams-x3,drift=100ppm,zerots=2s".parse().unwrap(),
        screenshares: Vec::new(),
    };
    let (a, ra) = run(spec(3));
    let (b, rb) = run(spec(3));
    assert_eq!(a, b);
    assert_eq!(ra, rb);
    let (c, rc) = run(spec(4));
    assert_ne!(a, c);
    assert_ne!(ra.reference_epoch, rc.reference_epoch);
}

#[test]
fn drift_200ppm_sends_30006_frames_in_30000_slots() {
    let frames = 30_100;
    let (events, report) = run(MeetingSpec {
        participants: vec![
            person("fast", 1, numbered(frames)),
            person("other", 2, numbered(frames)),
        ],
        duration: Some(MediaTime::from_secs(600)),
        seed: 21,
        impairments: "drift=200ppm".parse().unwrap(),
        screenshares: Vec::new(),
    });
    assert_eq!(report.slots, 30_000);
    let fast = &report.participants[0];
    let other = &report.participants[1];
    assert_eq!(fast.drift_ppm, 200.0);
    assert!((-200.0..=200.0).contains(&other.drift_ppm));
    assert!((30_005..=30_007).contains(&fast.sent), "{}", fast.sent);
    let expect_other = 30_000.0 * (1.0 + other.drift_ppm * 1e-6);
    assert!((other.sent as f64 - expect_other).abs() <= 1.5);
    // Nothing lost: the surplus waits in the platform's queue (one frame per slot goes out).
    for p in [fast, other] {
        assert!(p.balanced());
        assert_eq!(p.lost_network + p.suppressed_top4, 0);
    }
    assert!(fast.pending_at_end >= 6, "{}", fast.pending_at_end);
    // Sender timestamps stay exact in the sender's clock: consecutive frames 20 ms apart.
    let mut last = None;
    for e in &events {
        if let SdkEvent::Audio(b) = &e.event {
            for u in b.unmixed.iter().filter(|u| u.active_speaker_id == Msi(1)) {
                let j = u.original_sender_timestamp.since(fast.sender_epoch).ticks() / F;
                assert_eq!(j % 30_000, frame_of(&u.data));
                if let Some(l) = last {
                    assert_eq!(j, l + 1);
                }
                last = Some(j);
            }
        }
    }
    eprintln!(
        "drift: fast +200 ppm sent {} in {} slots (pending {}); other {:+.1} ppm sent {}",
        fast.sent, report.slots, fast.pending_at_end, other.drift_ppm, other.sent
    );
}

#[test]
fn zero_timestamps_at_start_and_a_back_jump_after_a_reconnect() {
    let mut late = person("late", 2, numbered(4_000));
    late.join_at = MediaTime::from_secs(10);
    let (events, report) = run(MeetingSpec {
        participants: vec![person("early", 1, numbered(4_000)), late],
        duration: Some(MediaTime::from_secs(70)),
        seed: 2,
        impairments: "zerots=5s,backjump=2s@60s".parse().unwrap(),
        screenshares: Vec::new(),
    });
    let mut seen = 0;
    for e in &events {
        let SdkEvent::Audio(b) = &e.event else {
            continue;
        };
        for u in b.unmixed.iter() {
            let p = report.by_msi(u.active_speaker_id).unwrap();
            let j = frame_of(&u.data) as u64;
            let capture = p.capture_time(j);
            let ost = u.original_sender_timestamp;
            if j < 250 {
                assert!(ost.is_unknown(), "{} frame {j}: first 5 s are 0", p.name);
            } else {
                let mut expect = p.sender_epoch.ticks() + j * F as u64;
                if capture >= MediaTime::from_secs(60) {
                    expect -= 20_000_000;
                }
                assert_eq!(ost.ticks(), expect, "{} frame {j}", p.name);
            }
            seen += 1;
        }
    }
    // Each sender's last frame is still on its way when the call ends at 70 s.
    let early = &report.participants[0];
    assert_eq!(
        (early.captured, early.delivered, early.pending_at_end),
        (3_500, 3_499, 1)
    );
    let late_r = &report.participants[1];
    assert_eq!((late_r.captured, late_r.delivered), (3_000, 2_999));
    assert_eq!(seen, 3_499 + 2_999);
    let late = report.participant("late").unwrap();
    assert_eq!(late.capture_time(0), MediaTime::from_secs(10));
    assert_ne!(
        report.participants[0].sender_epoch, late.sender_epoch,
        "each sender has its own clock domain"
    );
}

#[test]
fn roster_join_and_leave_bracket_a_participants_audio() {
    let mut guest = person("guest", 7, numbered(500));
    guest.join_at = MediaTime::from_millis(1_010);
    guest.leave_at = Some(MediaTime::from_secs(3));
    guest.is_guest = true;
    let (events, report) = run(MeetingSpec {
        participants: vec![person("host", 1, numbered(250)), guest],
        duration: Some(MediaTime::from_secs(4)),
        seed: 3,
        impairments: Impairments::NONE,
        screenshares: Vec::new(),
    });
    check_order_and_slots(&events, &report);
    let pos = |pred: &dyn Fn(&SdkEvent) -> bool| events.iter().position(|e| pred(&e.event));
    let joined = pos(&|e| {
        matches!(e, SdkEvent::Roster(RosterChange::Joined(p)) if p.id == "guest-id" && p.is_guest
            && p.media_streams == vec![(Msi(7), media_core::StreamKind::Audio)])
    })
    .unwrap();
    let left =
        pos(&|e| matches!(e, SdkEvent::Roster(RosterChange::Left { id }) if id == "guest-id"))
            .unwrap();
    let first_audio = pos(&|e| {
        matches!(e, SdkEvent::Audio(b) if b.unmixed.iter().any(|u| u.active_speaker_id == Msi(7)))
    })
    .unwrap();
    assert!(joined < first_audio);
    assert_eq!(events[joined].at, MediaTime::from_millis(1_010));
    assert_eq!(events[left].at, MediaTime::from_secs(3));
    let g = report.participant("guest").unwrap();
    // Present 1.01 s .. 3 s: frames captured at 1.01 + j*20 ms < 3 s.
    assert_eq!(g.captured, 100);
    assert_eq!(g.delivered, 100);
    assert!(g.balanced());
}

#[test]
fn bad_specs_are_refused_with_the_reason() {
    let ok = || person("a", 1, vec![1; 320]);
    let try_spec = |participants: Vec<SimParticipant>, duration| {
        Simulator::new(MeetingSpec {
            participants,
            duration,
            seed: 0,
            impairments: Impairments::NONE,
            screenshares: Vec::new(),
        })
        .map(|_| ())
    };
    let mut b = person("b", 1, vec![]);
    let e = try_spec(vec![ok(), b.clone()], None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "participant `b`: MSI used by another participant"
    );
    b.msi = Msi::NONE;
    assert!(matches!(
        try_spec(vec![b.clone()], None),
        Err(SimError::Participant { .. })
    ));
    let mut c = ok();
    c.leave_at = Some(MediaTime::ZERO);
    assert!(try_spec(vec![c], None)
        .unwrap_err()
        .to_string()
        .contains("leave_at"));
    assert!(matches!(try_spec(vec![], None), Err(SimError::Spec { .. })));
    assert!(matches!(
        try_spec(vec![ok()], Some(MediaTime::ZERO)),
        Err(SimError::Spec { .. })
    ));
    let e = Simulator::new(MeetingSpec {
        participants: vec![ok()],
        duration: None,
        seed: 0,
        impairments: Impairments {
            dup_percent: -1.0,
            ..Impairments::NONE
        },
        screenshares: Vec::new(),
    })
    .map(|_| ())
    .unwrap_err();
    assert!(e.to_string().contains("`dup`"), "{e}");
    // An empty call with a duration is fine: silent slots, then the end.
    let mut sim = Simulator::new(MeetingSpec {
        participants: vec![],
        duration: Some(MediaTime::from_millis(50)),
        seed: 0,
        impairments: Impairments::NONE,
        screenshares: Vec::new(),
    })
    .unwrap();
    let ev: Vec<_> = sim.by_ref().collect();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[2].at, MediaTime::from_millis(50));
    assert_eq!(ev[2].event, SdkEvent::CallEnded);
}

/// Ten minutes, four synthetic speakers, `teams-x3`: run it in release (`cargo test --release -p bot-adapter
/// --test sim_meeting -- --ignored`) to see the speed; debug builds keep the suite short.
#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn ten_minutes_of_four_speakers_with_teams_x3() {
    let t0 = std::time::Instant::now();
    let participants = synthetic::participants(4, MediaTime::from_secs(600), 1);
    let t1 = std::time::Instant::now();
    let mut sim = Simulator::new(MeetingSpec {
        participants,
        duration: Some(MediaTime::from_secs(600)),
        seed: 1,
        impairments: Impairments::TEAMS_X3,
        screenshares: Vec::new(),
    })
    .unwrap();
    let mut unmixed = 0;
    for e in sim.by_ref() {
        if let SdkEvent::Audio(b) = e.event {
            unmixed += b.unmixed.len();
        }
    }
    let t2 = std::time::Instant::now();
    let r = sim.report();
    assert_eq!(r.slots, 30_000);
    assert!(r.participants.iter().all(|p| p.balanced()));
    eprintln!(
        "10 min x 4 speakers: synthesis {:?}, simulation {:?} ({} slots, {} unmixed buffers)",
        t1 - t0,
        t2 - t1,
        r.slots,
        unmixed
    );
}

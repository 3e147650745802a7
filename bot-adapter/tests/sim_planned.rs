//! Planned meetings (`sim::meeting`): realistic shape (long silences, re-joins with new MSIs, cameras going
//! off and on, screen shares that stop, mute), and ground truth that a checker can use on an hour-long call:
//! every buffer the simulator emits is checked against what the report says was sent, frame by frame.

mod planned_common;

use std::collections::BTreeMap;

use bot_adapter::sdk::RosterChange;
use bot_adapter::sim::meeting::{meeting, MeetingKind, MAX_PARTICIPANTS};
use bot_adapter::sim::{
    AudioInput, FrameFate, Impairments, MeetingSpec, Rejoin, SdkEvent, SimError, SimEvent,
    SimParticipant, SimScreenShare, SimVideo, Simulator, Span, VideoTrack,
};
use media_core::{MediaTime, Msi, StreamKind};
use planned_common::*;
use proptest::prelude::*;

#[test]
fn the_same_plan_and_seed_give_the_same_meeting() {
    let imp: Impairments = "teams-x3,drift=150ppm".parse().unwrap();
    let with = |seed| {
        let mut s = plan(MeetingKind::Standup, 7, 600, seed, true);
        s.impairments = imp;
        s
    };
    let (a, ra) = run_digest(with(4));
    let (b, rb) = run_digest(with(4));
    assert_eq!(a, b);
    assert_eq!(ra, rb);
    let (c, rc) = run_digest(with(5));
    assert_ne!(a, c);
    assert_ne!(ra, rc);
    // Video changes no one's speech: the same voices, sessions and mute with or without cameras.
    let plain = plan(MeetingKind::Standup, 7, 600, 4, false);
    let video = plan(MeetingKind::Standup, 7, 600, 4, true);
    for (p, q) in plain.participants.iter().zip(&video.participants) {
        assert_eq!(p.audio, q.audio);
        assert_eq!(
            (p.msi, p.join_at, p.leave_at, &p.muted),
            (q.msi, q.join_at, q.leave_at, &q.muted)
        );
    }
}

/// An hour of each kind: most people are silent for minutes at a time (and at least one for 2 min or more).
#[test]
fn every_kind_leaves_people_silent_for_minutes_in_an_hour() {
    for (k, kind) in MeetingKind::ALL.into_iter().enumerate() {
        let n = kind.default_participants();
        let (report, seen) = check(plan(kind, n, 3600, 20 + k as u64, false));
        let two_min = MediaTime::from_secs(120);
        let quiet = seen
            .longest_silence
            .iter()
            .filter(|&&s| s >= two_min)
            .count();
        eprintln!(
            "{kind}: {quiet} of {n} silent for 2 min or more; longest silences {:?} s",
            seen.longest_silence
                .iter()
                .map(|s| s.as_secs_f64() as i64)
                .collect::<Vec<_>>()
        );
        assert!(quiet >= 1 && quiet * 2 >= n, "{kind}: {quiet} of {n}");
        assert_eq!(report.slots, 180_000);
        // Someone holds the floor for most of a town hall.
        if kind == MeetingKind::Townhall {
            let top = report.participants.iter().map(|p| p.sent).max().unwrap();
            assert!(
                top > 180_000 / 2,
                "the presenter talks most of the hour: {top}"
            );
        }
    }
}

/// An hour-long town hall of twelve with cameras, screen shares, every impairment but the timestamp ones:
/// every buffer checked against the ground truth.
#[test]
fn an_hour_long_town_hall_agrees_with_its_ground_truth_buffer_by_buffer() {
    let mut spec = plan(MeetingKind::Townhall, 12, 3600, 7, true);
    spec.impairments = "teams-x3,drift=100ppm".parse().unwrap();
    let spurts: Vec<usize> = spec
        .participants
        .iter()
        .map(|p| p.audio.talk_spurts().len())
        .collect();
    let t0 = std::time::Instant::now();
    let (report, seen) = check(spec);
    eprintln!(
        "town hall, 60 min: {} unmixed and {} video buffers checked in {:?}",
        seen.unmixed,
        seen.video,
        t0.elapsed()
    );
    assert!(seen.unmixed > 100_000 && seen.video > 10_000);
    assert_eq!(report.screenshares.len(), 2);
    for (p, &n) in report.participants.iter().zip(&spurts) {
        assert_eq!(p.talk_spurts.len(), n);
        assert!(
            p.lost_network > 0 || p.sent < 1_000,
            "{}: teams-x3 loses frames",
            p.name
        );
    }
}

/// Twenty people, no impairment and no drift: each slot's senders are known from the ground truth alone
/// (frame j arrives 20 ms after capture), and the four loudest of them are exactly the ones delivered.
#[test]
fn the_top_four_rule_holds_slot_by_slot_in_a_twenty_person_meeting() {
    let spec = plan(MeetingKind::Standup, MAX_PARTICIPANTS, 300, 3, false);
    let inputs: Vec<AudioInput> = spec.participants.iter().map(|p| p.audio.clone()).collect();
    let mut sim = Simulator::new(spec).unwrap();
    let events: Vec<SimEvent> = sim.by_ref().collect();
    let report = sim.report().clone();
    // slot -> (energy, participant, msi) of every frame sent for it.
    let mut want: BTreeMap<i64, Vec<(u64, usize, Msi)>> = BTreeMap::new();
    for (i, p) in report.participants.iter().enumerate() {
        assert_eq!(p.drift_ppm, 0.0);
        for f in p.frames(&inputs[i]) {
            // (Frames still in flight when the call ends are in no slot.)
            if matches!(f.fate, FrameFate::Sent { pending: 0, .. }) {
                let e: u64 = inputs[i]
                    .frame(f.index)
                    .iter()
                    .map(|&s| (i64::from(s) * i64::from(s)) as u64)
                    .sum();
                // Captured at c, it arrives at c + 20 ms and goes out in the buffer raised at the end of
                // the next slot.
                want.entry((f.capture.ticks() + F) / F + 1)
                    .or_default()
                    .push((e, i, f.msi));
            }
        }
    }
    let mut crowded = 0;
    for e in &events {
        if let SdkEvent::Audio(b) = &e.event {
            let slot = e.at.ticks() / F;
            let mut cands = want.remove(&slot).unwrap_or_default();
            cands.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            crowded += u64::from(cands.len() > 4);
            let top: Vec<Msi> = cands.iter().take(4).map(|c| c.2).collect();
            let got: Vec<Msi> = b.unmixed.iter().map(|u| u.active_speaker_id).collect();
            assert_eq!(got, top, "slot {slot}");
        }
    }
    assert!(want.is_empty());
    let suppressed: u64 = report.participants.iter().map(|p| p.suppressed_top4).sum();
    eprintln!("{crowded} slots with more than four senders, {suppressed} frames suppressed");
    assert!(
        crowded > 0 && suppressed > 0,
        "the goodbyes at the end crowd the slots"
    );
}

/// Re-joins: a new audio MSI and a new camera MSI per session, announced in the roster under the same id;
/// buffers carry the old MSI only before the leave (plus the network's delay) and the new one only after.
#[test]
fn rejoins_bring_new_msis_and_the_roster_lists_them() {
    let spec = plan(MeetingKind::Standup, 8, 1200, 9, true);
    let who: Vec<SimParticipant> = spec
        .participants
        .iter()
        .filter(|p| !p.rejoins.is_empty())
        .cloned()
        .collect();
    assert!(!who.is_empty(), "a planned meeting has a re-join");
    let mut sim = Simulator::new(spec).unwrap();
    let events: Vec<SimEvent> = sim.by_ref().collect();
    for p in &who {
        let sessions = p.sessions();
        let msis: Vec<Msi> = sessions.iter().map(|s| s.2).collect();
        let mut sorted = msis.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            msis.len(),
            "{}: a new MSI per session",
            p.name
        );
        let roster: Vec<(MediaTime, &RosterChange)> = events
            .iter()
            .filter_map(|e| match &e.event {
                SdkEvent::Roster(r @ RosterChange::Joined(q)) if q.id == p.id => Some((e.at, r)),
                SdkEvent::Roster(r @ RosterChange::Left { id }) if *id == p.id => Some((e.at, r)),
                _ => None,
            })
            .collect();
        for (join, leave, msi, video) in &sessions {
            let joined = roster.iter().find(|(at, r)| {
                at == join
                    && matches!(r, RosterChange::Joined(q) if q.media_streams[0] == (*msi, StreamKind::Audio)
                        && video.is_none_or(|v| q.media_streams.contains(&(v, StreamKind::Video))))
            });
            assert!(joined.is_some(), "{}: Joined at {join} with {msi}", p.name);
            if let Some(l) = leave {
                assert!(roster
                    .iter()
                    .any(|(at, r)| at == l && matches!(r, RosterChange::Left { .. })));
            }
            for e in &events {
                let uses = match &e.event {
                    SdkEvent::Audio(b) => b.unmixed.iter().any(|u| u.active_speaker_id == *msi),
                    SdkEvent::Video(v) => Some(v.media_source_id) == *video,
                    _ => false,
                };
                if uses {
                    assert!(e.at > *join, "{}: {msi} before its join", p.name);
                    if let Some(l) = leave {
                        assert!(
                            e.at <= l.saturating_add(MediaTime::from_millis(200)),
                            "{}: {msi} long after leave",
                            p.name
                        );
                    }
                }
            }
        }
    }
}

/// Cameras go off and on: no frame is captured in an off span, frames come before and after it, and the
/// first frame after it is a key frame. Screen shares start and stop, announced in the roster.
#[test]
fn cameras_switch_off_and_on_and_screen_shares_stop() {
    let spec = plan(MeetingKind::Panel, 8, 1800, 2, true);
    let offs: Vec<(usize, Span)> = spec
        .participants
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            p.video
                .iter()
                .flat_map(move |v| v.off.iter().map(move |s| (i, *s)))
        })
        .collect();
    let shares = spec.screenshares.clone();
    assert!(shares.len() >= 2 && shares.iter().all(|s| s.stop_at.is_some()));
    let sharer_id: Vec<String> = shares
        .iter()
        .map(|s| {
            spec.participants
                .iter()
                .find(|p| p.name == s.sharer)
                .unwrap()
                .id
                .clone()
        })
        .collect();
    let clips: Vec<Option<VideoTrack>> = spec
        .participants
        .iter()
        .map(|p| p.video.as_ref().map(|v| v.track.clone()))
        .collect();
    let mut sim = Simulator::new(spec).unwrap();
    let events: Vec<SimEvent> = sim.by_ref().collect();
    let report = sim.report().clone();
    let mut toggled = 0;
    for (i, off) in &offs {
        let vr = report.participants[*i].video.as_ref().unwrap();
        let clip = clips[*i].as_ref().unwrap();
        let captures: Vec<(MediaTime, bool)> = events
            .iter()
            .filter_map(|e| match &e.event {
                SdkEvent::Video(v) if vr.spans.iter().any(|s| s.msi == v.media_source_id) => {
                    let tau = (v.timestamp.ticks() - vr.sender_epoch.ticks()) as i64;
                    let key = clip
                        .frames
                        .iter()
                        .find(|f| f.time.ticks() == tau % clip.duration.ticks())
                        .unwrap()
                        .is_keyframe();
                    Some((vr.capture_time(MediaTime::from_ticks(tau)), key))
                }
                _ => None,
            })
            .collect();
        assert!(
            captures.iter().all(|(c, _)| !off.contains(*c)),
            "no frame while the camera is off"
        );
        let before = captures.iter().any(|(c, _)| *c < off.start);
        let after = captures.iter().find(|(c, _)| *c >= off.end);
        if let (true, Some(&(_, key))) = (before, after) {
            assert!(key, "the camera comes back with a key frame");
            toggled += 1;
        }
    }
    assert!(toggled > 0, "a camera went off and came back on");
    for (k, (ss, id)) in shares.iter().zip(&sharer_id).enumerate() {
        let stop = ss.stop_at.unwrap();
        let streams_at = |t: MediaTime| {
            events.iter().any(|e| {
                e.at == t
                    && matches!(&e.event, SdkEvent::Roster(RosterChange::Joined(p)) if p.id == *id
                        && p.media_streams.contains(&(ss.msi, StreamKind::ScreenShare)))
            })
        };
        assert!(streams_at(ss.start_at), "share {k} announced at its start");
        let stopped = events.iter().any(|e| {
            e.at == stop
                && matches!(&e.event, SdkEvent::Roster(RosterChange::Joined(p)) if p.id == *id
                    && !p.media_streams.iter().any(|s| s.1 == StreamKind::ScreenShare))
        });
        assert!(stopped, "share {k}: its stop is announced");
        let vr = &report.screenshares[k];
        for e in &events {
            if let SdkEvent::Video(v) = &e.event {
                if v.media_source_id == ss.msi {
                    let c = vr.capture_time(MediaTime::from_ticks(
                        (v.timestamp.ticks() - vr.sender_epoch.ticks()) as i64,
                    ));
                    assert!(c >= ss.start_at && c < stop);
                }
            }
        }
        assert!(vr.sent > 0);
    }
}

/// Muted spans send nothing, whatever was said in them ("you're on mute").
#[test]
fn a_muted_participant_sends_nothing() {
    let spec = plan(MeetingKind::Townhall, 10, 1800, 4, false);
    let muted: Vec<(usize, Vec<Span>)> = spec
        .participants
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.muted.is_empty())
        .map(|(i, p)| (i, p.muted.clone()))
        .collect();
    assert!(muted.len() >= 5, "a town hall's audience mutes");
    let inputs: Vec<AudioInput> = spec.participants.iter().map(|p| p.audio.clone()).collect();
    let mut sim = Simulator::new(spec).unwrap();
    sim.by_ref().count();
    let report = sim.report();
    let mut spoke_while_muted = 0;
    for (i, spans) in &muted {
        let p = &report.participants[*i];
        let longest = spans.iter().map(|s| s.len()).max().unwrap();
        assert!(
            longest >= MediaTime::from_secs(300),
            "{}: muted for a long stretch",
            p.name
        );
        for f in p.frames(&inputs[*i]) {
            let in_span = spans.iter().any(|s| s.contains(f.capture));
            assert_eq!(
                in_span,
                f.fate == FrameFate::Muted,
                "{} frame {}",
                p.name,
                f.index
            );
            spoke_while_muted += u64::from(in_span && !inputs[*i].is_silent(f.index));
        }
    }
    eprintln!("{spoke_while_muted} frames of speech not sent because muted");
}

#[test]
fn bad_plans_and_bad_session_specs_are_refused_with_the_reason() {
    let d = MediaTime::from_secs(60);
    assert!(meeting(MeetingKind::Standup, 21, d, 1)
        .unwrap_err()
        .to_string()
        .contains("2 to 20"));
    assert!(meeting(MeetingKind::OneOnOne, 3, d, 1)
        .unwrap_err()
        .to_string()
        .contains("exactly 2"));
    assert!(matches!(
        meeting(MeetingKind::Panel, 5, MediaTime::ZERO, 1),
        Err(SimError::Spec { .. })
    ));
    for kind in MeetingKind::ALL {
        assert_eq!(kind.to_string().parse::<MeetingKind>().unwrap(), kind);
    }

    let spec = |participants: Vec<SimParticipant>, screenshares: Vec<SimScreenShare>| MeetingSpec {
        participants,
        duration: Some(MediaTime::from_secs(60)),
        seed: 1,
        impairments: Impairments::NONE,
        screenshares,
    };
    let err = |s: MeetingSpec| Simulator::new(s).map(|_| ()).unwrap_err().to_string();
    let a = || SimParticipant::new("a", Msi(1), vec![100i16; 16_000]);
    let rejoin = |at: i64, msi: u32, video_msi: Option<u32>| Rejoin {
        at: MediaTime::from_secs(at),
        leave_at: None,
        msi: Msi(msi),
        video_msi: video_msi.map(Msi),
    };
    let mut p = a();
    p.rejoins.push(rejoin(10, 2, None));
    assert!(
        err(spec(vec![p.clone()], vec![])).contains("re-join not after"),
        "never left"
    );
    p.leave_at = Some(MediaTime::from_secs(20));
    assert!(err(spec(vec![p.clone()], vec![])).contains("re-join not after"));
    p.rejoins[0].at = MediaTime::from_secs(30);
    p.rejoins[0].msi = Msi(1);
    assert!(err(spec(vec![p.clone()], vec![])).contains("re-join MSI"));
    p.rejoins[0].msi = Msi(2);
    Simulator::new(spec(vec![p.clone()], vec![])).unwrap();
    p.video = Some(SimVideo::new(Msi(3), track(10, 20, 5, 1)));
    assert!(err(spec(vec![p.clone()], vec![])).contains("needs a video MSI"));
    p.rejoins[0].video_msi = Some(Msi(4));
    Simulator::new(spec(vec![p.clone()], vec![])).unwrap();
    if let Some(v) = p.video.as_mut() {
        v.off = vec![Span::new(MediaTime::from_secs(5), MediaTime::from_secs(5))];
    }
    assert!(err(spec(vec![p.clone()], vec![])).contains("camera off spans"));
    let mut m = a();
    m.muted = vec![
        Span::new(MediaTime::from_secs(10), MediaTime::from_secs(20)),
        Span::new(MediaTime::from_secs(15), MediaTime::from_secs(25)),
    ];
    assert!(err(spec(vec![m], vec![])).contains("muted spans"));
    let share = |start: i64, stop: Option<i64>, msi: u32| SimScreenShare {
        stop_at: stop.map(MediaTime::from_secs),
        looped: true,
        ..SimScreenShare::new(
            "a",
            Msi(msi),
            MediaTime::from_secs(start),
            track(2, 8, 2, 9),
        )
    };
    assert!(err(spec(
        vec![a()],
        vec![share(0, Some(30), 7), share(20, None, 8)]
    ))
    .contains("overlaps"));
    assert!(err(spec(vec![a()], vec![share(10, Some(10), 7)])).contains("stop_at not after"));
    Simulator::new(spec(
        vec![a()],
        vec![share(0, Some(30), 7), share(30, None, 8)],
    ))
    .unwrap();
    let mut forever = spec(vec![a()], vec![share(0, None, 7)]);
    forever.duration = None;
    assert!(matches!(
        Simulator::new(forever),
        Err(SimError::Spec { .. })
    ));
}

fn impairments() -> impl Strategy<Value = Impairments> {
    (
        0i64..=150,
        0u32..=500,
        0u32..=5_000,
        0u32..=300,
        0u32..=300,
        -300i32..=300,
    )
        .prop_map(|(j, l, b, r, d, drift)| Impairments {
            jitter: MediaTime::from_millis(j),
            loss_percent: f64::from(l) / 100.0,
            burst_percent: f64::from(b) / 100.0,
            reorder_percent: f64::from(r) / 100.0,
            dup_percent: f64::from(d) / 100.0,
            drift_ppm: f64::from(drift),
            ..Impairments::NONE
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any kind, head count, length, seed and network: the planned meeting is valid, and every event agrees
    /// with the ground truth (see `check`).
    #[test]
    fn any_planned_meeting_agrees_with_its_ground_truth(
        kind in prop::sample::select(MeetingKind::ALL.to_vec()),
        n in 2usize..=MAX_PARTICIPANTS,
        secs in 20i64..=240,
        seed in any::<u64>(),
        video in any::<bool>(),
        imp in impairments(),
    ) {
        let (lo, hi) = kind.participant_range();
        let n = n.clamp(lo, hi);
        let mut spec = plan(kind, n, secs, seed, video);
        spec.impairments = imp;
        let (report, _) = check(spec);
        prop_assert_eq!(report.ended_at, Some(MediaTime::from_secs(secs)));
        prop_assert_eq!(report.slots as i64, secs * 50);
    }
}

/// An hour of an eight-person stand-up with `teams-x3`, planned and drained: run it in release
/// (`cargo test --release -p bot-adapter --test sim_planned -- hour`) to see the speed.
#[test]
#[cfg_attr(debug_assertions, ignore = "release only")]
fn an_hour_of_eight_people_simulates_in_seconds() {
    let t0 = std::time::Instant::now();
    let mut spec = meeting(MeetingKind::Standup, 8, MediaTime::from_secs(3600), 1).unwrap();
    spec.impairments = Impairments::TEAMS_X3;
    let t1 = std::time::Instant::now();
    let mut sim = Simulator::new(spec).unwrap();
    let mut unmixed = 0;
    for e in sim.by_ref() {
        if let SdkEvent::Audio(b) = e.event {
            unmixed += b.unmixed.len();
        }
    }
    let t2 = std::time::Instant::now();
    assert_eq!(sim.report().slots, 180_000);
    eprintln!(
        "60 min x 8 people: planning {:?}, simulation {:?} ({unmixed} unmixed buffers)",
        t1 - t0,
        t2 - t1
    );
    assert!(t2 - t0 < std::time::Duration::from_secs(10));
}

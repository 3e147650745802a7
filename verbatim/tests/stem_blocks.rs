//! Stems handed over in ring blocks (the recorder's path to a writer thread: a lone source's samples are not
//! copied between their placement and the file) are exactly the stems handed over tick by tick, on a long
//! planned meeting under three times Teams' network targets: late joins, minutes of silence, re-joins with
//! new sources (two sources at once for a while), mute.

mod common;

use bot_adapter::ingest;
use bot_adapter::sim::meeting::{meeting, MeetingKind};
use bot_adapter::sim::{SdkEvent, Simulator};
use common::mem_sink::MemSink;
use media_core::MediaTime;
use verbatim::engine::{CallRecorder, RecorderConfig};

/// Records `sim` twice, tick by tick and in stem blocks, and checks the two give the same stems (each
/// covering `secs` of the call), the same mix and the same participants' figures.
fn record_both(sim: Simulator, people: usize, secs: usize) -> (MemSink, MemSink) {
    let (mut ingest, mut rx) = ingest::channel(4096);
    let mut ticks = (
        CallRecorder::new(RecorderConfig::default()),
        MemSink::default(),
    );
    let mut blocks = (
        CallRecorder::new(RecorderConfig::default()),
        MemSink::in_blocks(),
    );
    for ev in sim {
        match ev.event {
            SdkEvent::Audio(buf) => drop(ingest.push_audio(ev.at, buf)),
            SdkEvent::Roster(change) => drop(ingest.push_roster(ev.reference, change)),
            SdkEvent::DominantSpeaker(d) => drop(ingest.push_dominant_speaker(ev.reference, d)),
            SdkEvent::CallEnded => drop(ingest.push_call_ended(ev.reference)),
            SdkEvent::Video(_) => {}
        }
        while let Some(e) = rx.pop() {
            ticks.0.handle(e.clone(), &mut ticks.1).unwrap();
            blocks.0.handle(e, &mut blocks.1).unwrap();
        }
    }
    let (t, b) = (&ticks.1, &blocks.1);
    assert_eq!(t.stems.len(), people);
    assert_eq!(b.stems.len(), people);
    for (i, (x, y)) in t.stems.iter().zip(&b.stems).enumerate() {
        assert_eq!(x.len(), secs * 16_000, "stem {i} covers the call");
        assert!(x == y, "stem {i} differs between ticks and blocks");
    }
    assert!(t.mixed == b.mixed, "the mix differs");
    assert_eq!(
        ticks.0.summary().participants,
        blocks.0.summary().participants
    );
    (ticks.1, blocks.1)
}

#[test]
fn a_long_standup_in_stem_blocks_is_exactly_the_standup_in_ticks() {
    let mut spec = meeting(MeetingKind::Standup, 6, MediaTime::from_secs(900), 11).unwrap();
    spec.impairments = "teams-x3".parse().unwrap();
    assert!(spec.participants.iter().any(|p| !p.rejoins.is_empty()));
    let people = spec.participants.len();
    let sources: usize = spec.participants.iter().map(|p| 1 + p.rejoins.len()).sum();
    let (_, b) = record_both(Simulator::new(spec).unwrap(), people, 900);
    // Where the sound went: in blocks, uncopied, except while a re-joined participant had two sources.
    let copied_share = b.copied_sound as f64 / b.sound.max(1) as f64;
    eprintln!(
        "{} of {} sounding samples copied ({:.3} %); {} samples in blocks; {} distinct blocks",
        b.copied_sound,
        b.sound,
        copied_share * 100.0,
        b.in_blocks,
        b.distinct_blocks.len()
    );
    assert!(b.sound > 1_000_000, "the meeting has speech");
    assert!(
        copied_share < 0.02,
        "{:.3} % of the sound copied",
        copied_share * 100.0
    );
    // Blocks are recycled: a ring's worth per source (9 half-second blocks) and a few spares, not one per
    // half second (1,800 per source here).
    assert!(
        b.distinct_blocks.len() <= 12 * sources,
        "{} distinct blocks for {sources} sources",
        b.distinct_blocks.len()
    );
}

/// A town hall's audience mostly never speaks: their stems are silence from join to end. In blocks, that
/// silence is handed over as a count every half second (`stem_silence`), not as a copied tick every 20 ms,
/// and the stems are still exactly those made tick by tick.
#[test]
fn a_town_halls_silent_audience_is_handed_over_as_counts() {
    let mut spec = meeting(MeetingKind::Townhall, 16, MediaTime::from_secs(600), 5).unwrap();
    spec.impairments = "teams-x3".parse().unwrap();
    let people = spec.participants.len();
    let (t, b) = record_both(Simulator::new(spec).unwrap(), people, 600);
    let silent: Vec<usize> = (0..people)
        .filter(|&i| t.stems[i].iter().all(|&x| x == 0))
        .collect();
    assert!(
        silent.len() >= people / 2,
        "{} of {people} silent throughout",
        silent.len()
    );
    // Every sample after a stem's lead-in arrived once: as a count, in a ring block or copied.
    let after_lead_in: usize = (0..people).map(|i| b.stems[i].len() - b.lead_ins[i]).sum();
    assert_eq!(b.silence + b.in_blocks + b.copied, after_lead_in);
    assert_eq!(t.copied, after_lead_in);
    // The silent stems came whole as counts.
    let silent_samples: usize = silent
        .iter()
        .map(|&i| b.stems[i].len() - b.lead_ins[i])
        .sum();
    assert!(
        b.silence >= silent_samples,
        "{} samples of silence as counts, {silent_samples} in silent stems",
        b.silence
    );
    assert!(
        b.silence_runs <= b.silence / 8_000 + 2 * people,
        "{} runs for {} samples",
        b.silence_runs,
        b.silence
    );
    // Tick by tick, the same silence is every stem's 20 ms ticks.
    assert_eq!(t.silence_runs, 0);
    assert!(
        b.copied < t.copied / 10,
        "{} copied in blocks, {} in ticks",
        b.copied,
        t.copied
    );
}

mod random_calls {
    //! Random calls of three people, 20 ms slot by slot: joins at any time, runs of speech, of frames of
    //! digital zeros, of nothing, and a re-join with a new source on another sender clock. The stems taken
    //! in ring blocks (with their silence handed over as counts) must be the stems taken tick by tick, sample
    //! for sample, and every sample after a stem's lead-in must arrive exactly once.
    use super::*;
    use bot_adapter::sdk::{
        AudioMediaBuffer, FixedList, Participant, RosterChange, UnmixedAudioBuffer,
    };
    use bytes::Bytes;
    use media_core::{AudioFormat, Msi, SourceTimestamp, StreamKind};
    use proptest::prelude::*;

    const R0: u64 = 139_000_000_000_000_000;
    const FRAME: u64 = 200_000;
    const SLOTS: u64 = 300;

    #[derive(Clone, Debug)]
    struct Person {
        join: u64,
        /// (what, slots): 0 nothing, 1 speech, 2 a frame of zeros.
        runs: Vec<(u8, u64)>,
        /// A re-join at this slot: a new source (msi + 100) on a sender clock of its own.
        rejoin: Option<u64>,
    }

    fn person() -> impl Strategy<Value = Person> {
        (
            0u64..120,
            proptest::collection::vec((0u8..3, 1u64..70), 1..12),
            proptest::option::of(20u64..280),
        )
            .prop_map(|(join, runs, rejoin)| Person { join, runs, rejoin })
    }

    fn what_at(p: &Person, slot: u64) -> u8 {
        let mut at = p.join;
        for &(what, len) in p.runs.iter().cycle().take(64) {
            if slot < at + len {
                return what;
            }
            at += len;
        }
        0
    }

    fn joined(ingest: &mut Ingest, slot: u64, id: &str, msi: u32) {
        ingest.push_roster(
            SourceTimestamp::new(R0 + slot * FRAME),
            RosterChange::Joined(Participant {
                id: id.into(),
                display_name: id.into(),
                is_guest: false,
                media_streams: vec![(Msi(msi), StreamKind::Audio)],
            }),
        );
    }

    use bot_adapter::ingest::Ingest;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn stems_in_blocks_are_the_stems_in_ticks(people in proptest::collection::vec(person(), 1..4)) {
            let (mut ingest, mut rx) = ingest::channel(4096);
            let mut ticks = (CallRecorder::new(RecorderConfig::default()), MemSink::default());
            let mut blocks = (CallRecorder::new(RecorderConfig::default()), MemSink::in_blocks());
            for slot in 0..SLOTS {
                let mut unmixed = FixedList::new();
                for (i, p) in people.iter().enumerate() {
                    let id = format!("p{i}");
                    let base = 10 + i as u32;
                    let again = p.rejoin.is_some_and(|r| slot >= r && r > p.join);
                    if slot == p.join {
                        joined(&mut ingest, slot, &id, base);
                    }
                    if again && Some(slot) == p.rejoin {
                        joined(&mut ingest, slot, &id, base + 100);
                    }
                    if slot < p.join {
                        continue;
                    }
                    let (msi, epoch) = if again {
                        (base + 100, 9_000_000_000 + u64::from(base) * 1_000_000)
                    } else {
                        (base, 5_000_000_000)
                    };
                    let data = match what_at(p, slot) {
                        1 => Bytes::from(
                            (0..320u64)
                                .flat_map(|k| (((slot * 7 + k) % 2_000) as i16 - 1_000 + i as i16).to_le_bytes())
                                .collect::<Vec<u8>>(),
                        ),
                        2 => Bytes::from(vec![0u8; 640]),
                        _ => continue,
                    };
                    let _ = unmixed.push(UnmixedAudioBuffer {
                        active_speaker_id: Msi(msi),
                        data,
                        original_sender_timestamp: SourceTimestamp::new(epoch + slot * FRAME),
                    });
                }
                let buf = AudioMediaBuffer {
                    timestamp: SourceTimestamp::new(R0 + slot * FRAME),
                    format: AudioFormat::PCM16K,
                    is_silence: unmixed.is_empty(),
                    active_speakers: FixedList::new(),
                    unmixed,
                };
                let _ = ingest.push_audio(MediaTime::from_millis((slot * 20) as i64), buf);
                while let Some(e) = rx.pop() {
                    ticks.0.handle(e.clone(), &mut ticks.1).unwrap();
                    blocks.0.handle(e, &mut blocks.1).unwrap();
                }
            }
            ingest.push_call_ended(SourceTimestamp::new(R0 + SLOTS * FRAME));
            while let Some(e) = rx.pop() {
                ticks.0.handle(e.clone(), &mut ticks.1).unwrap();
                blocks.0.handle(e, &mut blocks.1).unwrap();
            }
            let (t, b) = (&ticks.1, &blocks.1);
            prop_assert_eq!(t.stems.len(), b.stems.len());
            for (i, (x, y)) in t.stems.iter().zip(&b.stems).enumerate() {
                prop_assert_eq!(x.len(), y.len(), "stem {} length", i);
                prop_assert!(x == y, "stem {} differs", i);
            }
            prop_assert!(t.mixed == b.mixed, "the mix differs");
            let after_lead_in: usize = (0..b.stems.len()).map(|i| b.stems[i].len() - b.lead_ins[i]).sum();
            prop_assert_eq!(b.silence + b.in_blocks + b.copied, after_lead_in);
            prop_assert_eq!(t.copied, after_lead_in);
        }
    }
}

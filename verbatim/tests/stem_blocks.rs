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

//! The recorder core driven directly with SDK-shaped buffers: placement of a delayed frame, and bad input.

mod common;

use bot_adapter::ingest::{self, Ingest, IngestReceiver};
use bot_adapter::sdk::{
    AudioMediaBuffer, FixedList, Participant, RosterChange, UnmixedAudioBuffer,
};
use bytes::Bytes;
use common::mem_sink::MemSink;
use media_core::ledger::{DropCause, Gap, GapKind};
use media_core::{AudioFormat, MediaTime, Msi, SourceTimestamp, StreamKind};
use verbatim::engine::{CallRecorder, RecorderConfig, TimelineEvent};

const R0: u64 = 139_000_000_000_000_000; // platform clock at call start (100 ns)
const S0: u64 = 5_000_000_000; // sender clock epoch
const FRAME: u64 = 200_000; // 20 ms

fn pcm(value: i16) -> Bytes {
    Bytes::from(
        (0..320)
            .flat_map(|i| (value + i as i16).to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

/// One platform slot: the buffer stamped `R0 + slot·20 ms` with the given (msi, sender frame, value) entries.
fn slot(slot: u64, entries: &[(u32, Option<u64>, Bytes)]) -> AudioMediaBuffer {
    let mut unmixed = FixedList::new();
    for (msi, frame, data) in entries {
        let _ = unmixed.push(UnmixedAudioBuffer {
            active_speaker_id: Msi(*msi),
            data: data.clone(),
            original_sender_timestamp: SourceTimestamp::new(frame.map_or(0, |j| S0 + j * FRAME)),
        });
    }
    AudioMediaBuffer {
        timestamp: SourceTimestamp::new(R0 + slot * FRAME),
        format: AudioFormat::PCM16K,
        is_silence: entries.is_empty(),
        active_speakers: FixedList::new(),
        unmixed,
    }
}

fn join(ingest: &mut Ingest, id: &str, msi: u32) {
    ingest.push_roster(
        SourceTimestamp::new(R0),
        RosterChange::Joined(Participant {
            id: id.into(),
            display_name: id.into(),
            is_guest: false,
            media_streams: vec![(Msi(msi), StreamKind::Audio)],
        }),
    );
}

fn drain(rx: &mut IngestReceiver, rec: &mut CallRecorder, sink: &mut MemSink) {
    while let Some(ev) = rx.pop() {
        rec.handle(ev, sink).unwrap();
    }
}

#[test]
fn a_delayed_frame_lands_at_its_true_position() {
    let (mut ingest, mut rx) = ingest::channel(1024);
    let mut rec = CallRecorder::new(RecorderConfig::default());
    let mut sink = MemSink::default();
    join(&mut ingest, "alice", 7);
    // Sender frame j normally arrives in slot j+1. Frame 3 is delayed by 100 ms (slot 9 instead of 4).
    for s in 0..40u64 {
        let mut entries = Vec::new();
        if (1..=30).contains(&s) && s != 4 {
            entries.push((7, Some(s - 1), pcm(((s - 1) * 1000) as i16)));
        }
        if s == 9 {
            entries.push((7, Some(3), pcm(3000)));
        }
        ingest.push_audio(MediaTime::ZERO, slot(s, &entries));
        drain(&mut rx, &mut rec, &mut sink);
    }
    ingest.push_call_ended(SourceTimestamp::new(R0 + 40 * FRAME));
    drain(&mut rx, &mut rec, &mut sink);
    let stem = &sink.stems[0];
    assert_eq!(stem.len(), 40 * 320);
    for j in 0..30usize {
        let want: Vec<i16> = (0..320).map(|i| (j as i16 * 1000) + i as i16).collect();
        assert_eq!(&stem[j * 320..j * 320 + 320], &want[..], "frame {j}");
    }
    assert!(stem[30 * 320..].iter().all(|s| *s == 0));
    let s = rec.summary();
    assert_eq!(s.participants[0].stats.written, 30);
    assert_eq!(s.participants[0].stats.late, 0);
    // The only gap: the silence after the last frame, ledgered as nothing sent.
    let ms = MediaTime::from_millis;
    assert_eq!(
        sink.timeline.audio_gaps,
        vec![vec![Gap::new(ms(600), ms(200), GapKind::NothingSent)]]
    );
}

#[test]
fn bad_input_is_counted_and_the_recording_goes_on() {
    let (mut ingest, mut rx) = ingest::channel(1024);
    let mut rec = CallRecorder::new(RecorderConfig::default());
    let mut sink = MemSink::default();
    join(&mut ingest, "alice", 7);
    for s in 0..60u64 {
        let mut entries = vec![(7, Some(s), pcm(100))];
        match s {
            // A buffer of the wrong length: refused at ingest, counted.
            10 => entries[0].2 = Bytes::from(vec![1u8; 639]),
            // A frame from an MSI nobody announced: recorded as unknown-99 and counted.
            20 => entries.push((99, Some(1), pcm(5))),
            // A timestamp from far in the future: refused as an outlier, counted.
            30 => entries[0].1 = Some(u64::MAX / FRAME - S0 / FRAME - 1),
            _ => {}
        }
        let r = ingest.push_audio(MediaTime::ZERO, slot(s + 1, &entries));
        if s == 10 {
            assert_eq!(r.refused, 1);
        }
        drain(&mut rx, &mut rec, &mut sink);
    }
    ingest.push_call_ended(SourceTimestamp::new(R0 + 62 * FRAME));
    drain(&mut rx, &mut rec, &mut sink);
    assert_eq!(
        ingest
            .counters()
            .wrong_audio_length
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let s = rec.summary();
    assert_eq!(s.counters.unknown_msi_frames, 1);
    assert_eq!(
        sink.names,
        vec!["alice".to_string(), "unknown-99".to_string()]
    );
    let alice = &s.participants[0];
    assert_eq!(alice.stats.outliers, 1);
    assert_eq!(alice.stats.written, 58);
    // Every stem is as long as the recording; the refused frames are silence and gaps.
    for st in &sink.stems {
        assert_eq!(st.len(), 62 * 320);
    }
    assert!(sink.stems[0][10 * 320..11 * 320].iter().all(|s| *s == 0));
    assert!(sink.stems[0][30 * 320..31 * 320].iter().all(|s| *s == 0));
    assert_eq!(sink.stems[0][31 * 320], 100);
    // Each refused frame is a 20 ms gap at its place, handed to the sink (the recorder keeps no list), and
    // the silence after alice's last frame is nothing sent.
    let ms = MediaTime::from_millis;
    let gaps = &sink.timeline.audio_gaps[0];
    assert_eq!(
        gaps[..2],
        [
            // Refused at ingest (wrong length): a break inside speech, inferred lost (with the level of the
            // quieter frame around it).
            Gap {
                level: 259,
                ..Gap::new(ms(200), ms(20), GapKind::InferredLoss)
            },
            // Refused here for its timestamp: dropped, at the place of the key it most likely had.
            Gap::new(ms(600), ms(20), GapKind::Dropped(DropCause::OutlierStamp)),
        ]
    );
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    assert_eq!(gaps[2].kind, GapKind::NothingSent);
    assert_eq!(gaps[2].end(), ms(62 * 20));
    assert_eq!(alice.gaps.count, 3);
    assert_eq!(alice.gaps.inferred_loss, ms(20));
    assert_eq!(alice.gaps.dropped, ms(20));
    // Who was there when: alice from the start, unknown-99 from its first frame, both until the end.
    let presence: Vec<TimelineEvent> = sink
        .events
        .iter()
        .copied()
        .filter(|e| matches!(e, TimelineEvent::Joined { .. } | TimelineEvent::Left { .. }))
        .collect();
    let unknown_joined = s.participants[1].info.joined;
    assert!(
        unknown_joined > ms(300) && unknown_joined < ms(600),
        "{unknown_joined:?}"
    );
    assert_eq!(
        presence,
        vec![
            TimelineEvent::Joined {
                participant: 0,
                at: MediaTime::ZERO
            },
            TimelineEvent::Joined {
                participant: 1,
                at: unknown_joined
            },
            TimelineEvent::Left {
                participant: 0,
                at: ms(62 * 20)
            },
            TimelineEvent::Left {
                participant: 1,
                at: ms(62 * 20)
            },
        ]
    );
}

#[test]
fn a_source_at_44_1_khz_stereo_is_resampled_into_place() {
    let ticks = resampled(MemSink::default());
    // Taken in ring blocks, a converted source is copied (it is not at the recording's format): the same stem.
    let blocks = resampled(MemSink::in_blocks());
    assert_eq!(blocks.in_blocks, 0);
    // The converter's silent first half second is handed over as a count, the tone as copies.
    assert_eq!(blocks.copied + blocks.silence, 32_000);
    assert!(
        blocks.silence >= 7_000,
        "{} samples as silence",
        blocks.silence
    );
    assert!(blocks.stems == ticks.stems && blocks.mixed == ticks.mixed);
}

fn resampled(mut sink: MemSink) -> MemSink {
    let (mut ingest, mut rx) = ingest::channel(4096);
    let mut rec = CallRecorder::new(RecorderConfig::default());
    join(&mut ingest, "hifi", 9);
    // A 1 kHz tone from 0.5 s to the end, sent as 20 ms Pcm44KStereo buffers (882 frames x 2 channels).
    let fmt = AudioFormat::PCM44K_STEREO;
    for s in 0..100u64 {
        let mut data = Vec::with_capacity(882 * 4);
        for i in 0..882u64 {
            let n = s * 882 + i;
            let v = if n >= 22_050 {
                ((n as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 44_100.0).sin() * 16_000.0)
                    as i16
            } else {
                0
            };
            data.extend_from_slice(&v.to_le_bytes());
            data.extend_from_slice(&v.to_le_bytes());
        }
        let mut buf = slot(s + 1, &[(9, Some(s), Bytes::from(data))]);
        buf.format = fmt;
        let r = ingest.push_audio(MediaTime::ZERO, buf);
        assert_eq!(r.refused, 0);
        drain(&mut rx, &mut rec, &mut sink);
    }
    ingest.push_call_ended(SourceTimestamp::new(R0 + 100 * FRAME));
    drain(&mut rx, &mut rec, &mut sink);
    let s = rec.summary();
    assert_eq!(s.counters.resampled_sources, 1);
    assert_eq!(s.participants[0].stats.written, 100);
    let stem = &sink.stems[0];
    assert_eq!(stem.len(), 32_000);
    let first = stem.iter().position(|v| v.unsigned_abs() > 4_000).unwrap();
    assert!(
        (first as i64 - 8_000).abs() <= 16,
        "tone starts at {first}, expected 8000 (0.5 s)"
    );
    let peak = stem[20_000..24_000]
        .iter()
        .map(|v| v.unsigned_abs())
        .max()
        .unwrap();
    assert!((15_000..=17_000).contains(&peak), "peak {peak}");
    sink
}

/// A participant who leaves and re-joins comes back with a new audio source id and a new sender clock: one
/// stem, every frame of both sessions written exactly where it was captured, nothing refused as an outlier.
#[test]
fn a_rejoin_with_a_new_source_keeps_one_stem_and_every_frame() {
    rejoin(false);
}

/// The same, with the stem taken in ring blocks: the re-joined source speaks while the old one is not yet
/// retired (two sources: copied), then alone (lent again).
#[test]
fn a_rejoin_in_stem_blocks_keeps_every_frame_across_the_copied_stretch() {
    let sink = rejoin(true);
    assert!(sink.copied >= 150 * 320, "{} copied", sink.copied);
    assert!(sink.in_blocks >= 150 * 320, "{} in blocks", sink.in_blocks);
    // Every sample handed over once: in a ring block, copied, or (the silence before the first frame and
    // between the sessions) as a count.
    assert_eq!(sink.copied + sink.in_blocks + sink.silence, 420 * 320);
}

fn rejoin(blocks: bool) -> MemSink {
    let (mut ingest, mut rx) = ingest::channel(4096);
    let mut rec = CallRecorder::new(RecorderConfig::default());
    let mut sink = if blocks {
        MemSink::in_blocks()
    } else {
        MemSink::default()
    };
    join(&mut ingest, "alice", 7);
    let second_epoch = 7_777_777; // frames of the new source: another clock entirely
    for s in 0..420u64 {
        let mut entries = Vec::new();
        if (1..=150).contains(&s) {
            entries.push((7, Some(s - 1), pcm(((s - 1) % 30) as i16 * 1000)));
        }
        if s == 160 {
            ingest.push_roster(
                SourceTimestamp::new(R0 + s * FRAME),
                RosterChange::Left { id: "alice".into() },
            );
        }
        if s == 250 {
            ingest.push_roster(
                SourceTimestamp::new(R0 + s * FRAME),
                RosterChange::Joined(Participant {
                    id: "alice".into(),
                    display_name: "alice".into(),
                    is_guest: false,
                    media_streams: vec![(Msi(8), StreamKind::Audio)],
                }),
            );
        }
        if (261..=410).contains(&s) {
            entries.push((
                8,
                Some(second_epoch + s - 1),
                pcm(((s - 1) % 30) as i16 * 1000),
            ));
        }
        ingest.push_audio(MediaTime::ZERO, slot(s, &entries));
        drain(&mut rx, &mut rec, &mut sink);
    }
    ingest.push_call_ended(SourceTimestamp::new(R0 + 420 * FRAME));
    drain(&mut rx, &mut rec, &mut sink);
    let s = rec.summary();
    assert_eq!(sink.names, vec!["alice".to_string()], "one stem");
    let a = &s.participants[0];
    assert_eq!(
        (a.stats.delivered, a.stats.written),
        (300, 300),
        "{:?}",
        a.stats
    );
    assert_eq!(a.stats.outliers, 0);
    assert!(
        a.info.msis.contains(&(Msi(7), StreamKind::Audio))
            && a.info.msis.contains(&(Msi(8), StreamKind::Audio))
    );
    // Every frame at its capture time (frame j of a session sent in slot j + 1).
    let stem = &sink.stems[0];
    for (first, last) in [(0u64, 150u64), (260, 410)] {
        for j in first..last {
            let at = (j * 320) as usize;
            assert_eq!(
                stem[at..at + 320],
                pcm((j % 30) as i16 * 1000)[..]
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect::<Vec<_>>()[..],
                "frame {j}"
            );
        }
    }
    // Away between the sessions: silence, and nothing lost there.
    assert!(stem[150 * 320..260 * 320].iter().all(|&x| x == 0));
    assert_eq!(stem.len(), 420 * 320);
    assert_eq!(a.gaps.inferred_loss, MediaTime::ZERO);
    assert_eq!(a.gaps.dropped, MediaTime::ZERO);
    sink
}

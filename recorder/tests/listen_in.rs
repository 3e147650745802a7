//! A live listen-in on one participant gets that participant's audio tick by tick (20 ms, stamped with each
//! tick's wall clock), exactly the samples the stem holds, though the recorder hands the stem itself to the
//! writer a ring block (half a second) at a time.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use recorder::bot_adapter::sdk::{
    AudioMediaBuffer, FixedList, Participant, RosterChange, UnmixedAudioBuffer,
};
use recorder::journal::{ListenIn, ListenTap};
use recorder::live::{LiveRecording, RecordOptions};
use recorder::media_core::{AudioFormat, MediaTime, Msi, SourceTimestamp, StreamKind};

const R0: u64 = 1_000_000;

/// A tick a listener got: its samples and wall clock (ms).
type Heard = (Vec<i16>, i64);

fn sample(slot: u64, i: i16) -> i16 {
    (slot as i16 % 50) * 300 + i + 1
}

fn audio(slot: u64) -> AudioMediaBuffer {
    let mut b = AudioMediaBuffer {
        timestamp: SourceTimestamp::new(R0 + slot * 200_000),
        format: AudioFormat::PCM16K,
        is_silence: false,
        active_speakers: FixedList::new(),
        unmixed: FixedList::new(),
    };
    let pcm: Vec<u8> = (0..320i16)
        .flat_map(|i| sample(slot, i).to_le_bytes())
        .collect();
    let _ = b.unmixed.push(UnmixedAudioBuffer {
        active_speaker_id: Msi(7),
        data: Bytes::from(pcm),
        original_sender_timestamp: SourceTimestamp::new(9_000_000 + slot * 200_000),
    });
    b
}

#[test]
fn a_listen_in_on_a_participant_gets_each_tick_of_their_stem() {
    let dir = std::env::temp_dir().join(format!("verbatim-listen-in-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key = dir.with_extension("key");
    let k = recorder::muxer::integrity::generate_signing_key().unwrap();
    recorder::muxer::integrity::save_signing_key(&key, &k).unwrap();
    let mut opts = RecordOptions::new(&dir);
    opts.signing_key = Some(key.clone());
    opts.start_utc_ms = Some(1_700_000_000_000);
    let mut live = LiveRecording::start(&opts).unwrap();
    live.ingest().push_roster(
        SourceTimestamp::new(R0),
        RosterChange::Joined(Participant {
            id: "ann".into(),
            display_name: "ann".into(),
            is_guest: false,
            media_streams: vec![(Msi(7), StreamKind::Audio)],
        }),
    );
    let heard: Arc<Mutex<Vec<Heard>>> = Arc::default();
    let slots = 400u64;
    for slot in 0..slots {
        if slot == 60 {
            let h = Arc::clone(&heard);
            let tap = ListenTap(Arc::new(move |pcm: &[i16], wall_ms: i64| {
                h.lock().unwrap().push((pcm.to_vec(), wall_ms));
                true
            }));
            live.listen_in(ListenIn {
                by: "sup".into(),
                reason: "test".into(),
                utc: "2026-12-06T00:00:00Z".into(),
                who: Some("ann".into()),
                tap,
            })
            .unwrap();
            // The listen-in reaches the writer before the next ticks (a live call has 20 ms between them).
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        live.ingest()
            .push_audio(MediaTime::from_millis(slot as i64 * 20), audio(slot));
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    live.ingest()
        .push_call_ended(SourceTimestamp::new(R0 + slots * 200_000));
    live.finish().unwrap();
    let heard = heard.lock().unwrap();
    assert!(heard.len() > 200, "{} ticks heard", heard.len());
    let stem: Vec<i16> = hound::WavReader::open(dir.join("participants/ann.wav"))
        .unwrap()
        .into_samples::<i16>()
        .map(Result::unwrap)
        .collect();
    let first = (heard[0].1 - 1_700_000_000_000) / 20;
    for (n, (pcm, wall_ms)) in heard.iter().enumerate() {
        assert_eq!(pcm.len(), 320, "tick {n}: one tick at a time");
        let tick = first + n as i64;
        assert_eq!(
            *wall_ms,
            1_700_000_000_000 + tick * 20,
            "tick {n}: its own wall clock"
        );
        let at = tick as usize * 320;
        assert_eq!(pcm[..], stem[at..at + 320], "tick {n}: the stem's samples");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&key);
}

/// A listen-in on a participant beyond the first 64 takes their stem as it reaches the writer (half a second
/// at a time, possibly ahead of the mix the media thread has gathered): each piece is stamped with where it
/// sits on the recording's timeline, the stem's own place, not how far the mix had been written.
#[test]
fn a_listen_in_beyond_the_first_64_stems_is_stamped_with_the_stem_s_own_time() {
    use recorder::engine::{ParticipantInfo, RecordingSink};
    use recorder::journal::SinkControl;
    use recorder::sink::{FolderSink, SinkOptions};
    let dir = std::env::temp_dir().join(format!("verbatim-listen-in-65-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key = recorder::muxer::integrity::generate_signing_key().unwrap();
    let start = 1_700_000_000_000i64;
    let opts = SinkOptions {
        recording_id: "sixty-six".into(),
        start_utc_ms: start,
        format: AudioFormat::PCM16K,
        opus_bitrate_bps: 32_000,
        mixed_wav: false,
        composite: false,
        encrypt_to: Vec::new(),
    };
    let mut sink = FolderSink::create(&dir, key, &opts).unwrap();
    for i in 0..66usize {
        let info = ParticipantInfo::new(format!("p{i}"), MediaTime::ZERO);
        // p65 joined a second in: its lead-in is a second of silence.
        sink.participant_added(i, &info, if i == 65 { 16_000 } else { 0 })
            .unwrap();
    }
    let heard: Arc<Mutex<Vec<Heard>>> = Arc::default();
    let h = Arc::clone(&heard);
    let tap = ListenTap(Arc::new(move |pcm: &[i16], wall_ms: i64| {
        h.lock().unwrap().push((pcm.to_vec(), wall_ms));
        true
    }));
    sink.control(SinkControl::ListenIn(ListenIn {
        by: "sup".into(),
        reason: "test".into(),
        utc: "2026-12-06T00:00:00Z".into(),
        who: Some("p65".into()),
        tap,
    }))
    .unwrap();
    // The mix is written two seconds on; p65's stem then arrives: a second of speech, half a second of
    // silence, half a second of speech.
    for _ in 0..100 {
        sink.mixed(&[0i16; 320]).unwrap();
    }
    sink.stem(65, &[7i16; 16_000]).unwrap();
    sink.stem_silence(65, 8_000).unwrap();
    sink.stem(65, &[9i16; 8_000]).unwrap();
    let heard = heard.lock().unwrap();
    let stamps: Vec<(usize, i64)> = heard.iter().map(|(p, w)| (p.len(), w - start)).collect();
    let speech: Vec<(usize, i64)> = stamps.iter().copied().filter(|&(n, _)| n > 0).collect();
    assert_eq!(speech.first(), Some(&(16_000, 1_000)), "{stamps:?}");
    assert_eq!(speech.last(), Some(&(8_000, 2_500)), "{stamps:?}");
    // The silence in between, as zeros stamped where it sits.
    let zeros: usize = heard
        .iter()
        .filter(|(p, w)| p.iter().all(|&s| s == 0) && (2_000..2_500).contains(&(w - start)))
        .map(|(p, _)| p.len())
        .sum();
    assert_eq!(zeros, 8_000, "{stamps:?}");
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
}

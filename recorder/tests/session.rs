//! The session's two-step confirmation (what the C ABI uses so its pushes never wait for the folder's
//! creation): media pushed while the folder is being created is held and lands in the recording; a call that
//! ends meanwhile closes the new folder and is not recorded twice.

use bytes::Bytes;
use recorder::bot_adapter::sdk::{
    AudioMediaBuffer, FixedList, Participant, RosterChange, UnmixedAudioBuffer,
};
use recorder::live::{LiveRecording, RecordOptions};
use recorder::media_core::{AudioFormat, Msi, SourceTimestamp, StreamKind};
use recorder::session::{CallSession, CallStart};

fn options(name: &str) -> (RecordOptions, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("verbatim-session-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key = dir.with_extension("key");
    let _ = std::fs::remove_file(&key);
    let k = recorder::muxer::integrity::generate_signing_key().unwrap();
    recorder::muxer::integrity::save_signing_key(&key, &k).unwrap();
    let mut o = RecordOptions::new(&dir);
    o.signing_key = Some(key);
    (o, dir)
}

fn audio(slot: u64) -> AudioMediaBuffer {
    let mut b = AudioMediaBuffer {
        timestamp: SourceTimestamp::new(1_000_000 + slot * 200_000),
        format: AudioFormat::PCM16K,
        is_silence: slot == 0,
        active_speakers: FixedList::new(),
        unmixed: FixedList::new(),
    };
    if slot > 0 {
        let pcm: Vec<u8> = (0..320i16)
            .flat_map(|i| (i * 7 + 100).to_le_bytes())
            .collect();
        let _ = b.unmixed.push(UnmixedAudioBuffer {
            active_speaker_id: Msi(7),
            data: Bytes::from(pcm),
            original_sender_timestamp: SourceTimestamp::new(9_000_000 + slot * 200_000),
        });
    }
    b
}

fn join(call: &mut CallSession) {
    call.push_roster(
        SourceTimestamp::new(1_000_000),
        RosterChange::Joined(Participant {
            id: "ann".into(),
            display_name: "ann".into(),
            is_guest: false,
            media_streams: vec![(Msi(7), StreamKind::Audio)],
        }),
    );
}

#[test]
fn media_pushed_while_the_folder_is_created_is_held_and_recorded() {
    let (opts, dir) = options("two-step");
    let mut call = CallSession::start(opts, Default::default(), CallStart::new("two-step"));
    join(&mut call);
    for slot in 0..=50 {
        call.push_audio(audio(slot));
    }
    let create = call
        .begin_confirm(true, "")
        .unwrap()
        .expect("options to create with");
    assert!(
        call.begin_confirm(true, "").is_err(),
        "a second confirmation while the first runs"
    );
    // While the folder is created (outside any lock in the C ABI), the bot keeps pushing.
    for slot in 51..=100 {
        call.push_audio(audio(slot));
    }
    call.finish_confirm(LiveRecording::start(&create)).unwrap();
    for slot in 101..=150 {
        call.push_audio(audio(slot));
    }
    call.end(SourceTimestamp::new(1_000_000 + 150 * 200_000));
    let outcome = call.wait().unwrap();
    assert_eq!(outcome.status, "completed");
    let r = hound::WavReader::open(dir.join("participants/ann.wav")).unwrap();
    let s: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(s.len(), 150 * 320);
    let silent: Vec<usize> = (0..150)
        .filter(|&j| s[j * 320..(j + 1) * 320].iter().all(|&v| v == 0))
        .collect();
    assert!(
        silent.is_empty(),
        "frames lost around the confirmation: {silent:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_call_that_ends_while_its_folder_is_created_is_closed_once() {
    let (opts, dir) = options("end-during");
    let mut call = CallSession::start(opts, Default::default(), CallStart::new("end-during"));
    join(&mut call);
    call.push_audio(audio(0));
    let create = call.begin_confirm(true, "").unwrap().expect("options");
    call.end(SourceTimestamp::new(1_000_000 + 200_000));
    assert!(
        call.finish_confirm(LiveRecording::start(&create)).is_err(),
        "ended meanwhile"
    );
    let outcome = call.wait().unwrap();
    assert_eq!(outcome.status, "not_recorded");
    // The folder created meanwhile was closed, and verifies.
    let key = recorder::muxer::integrity::load_signing_key(&dir.with_extension("key")).unwrap();
    let report = recorder::muxer::verify::verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    assert!(report.files >= 4, "{}", report.summary);
    let _ = std::fs::remove_dir_all(&dir);
}

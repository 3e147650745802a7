//! The C ABI's contract, called as C would call it: bad arguments are errors with messages (never a crash),
//! the status handshake holds media until Graph's answer, a refused call writes nothing, and the messages
//! come in the order the contract promises.

use std::ffi::CStr;
use std::path::PathBuf;
use std::ptr::{null, null_mut};

use verbatim_ffi::*;

mod common;
use common::*;

fn last_error() -> String {
    let p = vb_last_error();
    assert!(!p.is_null());
    // SAFETY: the library's NUL-terminated string, valid until the next failing call on this thread.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// A signing key for this test process, made once (the tests run in parallel).
fn key() -> PathBuf {
    key_with(|p| {
        let k = recorder::muxer::integrity::generate_signing_key().unwrap();
        recorder::muxer::integrity::save_signing_key(p, &k).unwrap();
    })
}

/// A started call recording into `out`.
fn start(out: &std::path::Path) -> *mut VbCall {
    start_call(
        out,
        &key(),
        &[
            ("call_id", "contract"),
            ("leg_id", "2"),
            ("custom.desk", "rates"),
        ],
    )
}

fn poll(call: *mut VbCall) -> Vec<(u32, u32, Option<String>)> {
    let mut out = Vec::new();
    let mut m = std::mem::MaybeUninit::<VbMessage>::uninit();
    // SAFETY: a live call and a writable message.
    while unsafe { vb_call_poll(call, m.as_mut_ptr()) } == 1 {
        // SAFETY: filled by vb_call_poll.
        let m = unsafe { m.assume_init_ref() };
        let text = (!m.text.is_null())
            // SAFETY: the library's string, valid until the next poll.
            .then(|| {
                unsafe { CStr::from_ptr(m.text) }
                    .to_string_lossy()
                    .into_owned()
            });
        out.push((m.kind, m.status, text));
    }
    out
}

fn audio(call: *mut VbCall, slot: u64, msi: u32) -> i32 {
    let pcm: Vec<i16> = (0..320)
        .map(|i| ((i * 37 + slot as i32 * 11) % 2000 - 1000) as i16)
        .collect();
    let b = VbUnmixedBuffer {
        active_speaker_id: msi,
        data: pcm.as_ptr().cast(),
        len: 640,
        original_sender_timestamp: 7_000_000 + slot * 200_000,
    };
    // SAFETY: a live call; one buffer of 640 readable bytes.
    unsafe { vb_call_push_audio(call, 1_000_000 + slot * 200_000, false, &b, 1) }
}

fn join(call: *mut VbCall, name: &str, msi: u32) {
    let s = VbMediaStream {
        media_source_id: msi,
        kind: VB_STREAM_AUDIO,
    };
    let id = c(name);
    // SAFETY: a live call, NUL-terminated strings, one stream.
    let rc = unsafe {
        vb_call_participant_joined(call, 1_000_000, id.as_ptr(), id.as_ptr(), false, &s, 1)
    };
    assert_eq!(rc, VB_OK);
}

#[test]
fn bad_arguments_are_errors_with_messages_never_a_crash() {
    let cfg = vb_config_new();
    // SAFETY (all below): the pointers are live or deliberately null; strings NUL-terminated.
    unsafe {
        assert_eq!(
            vb_config_set(cfg, c("no_such_option").as_ptr(), c("1").as_ptr()),
            VB_ERR_UNKNOWN_OPTION
        );
        assert!(last_error().contains("no_such_option"), "{}", last_error());
        assert_eq!(
            vb_config_set(cfg, c("opus_bitrate").as_ptr(), c("lots").as_ptr()),
            VB_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            vb_config_set(cfg, c("direction").as_ptr(), c("sideways").as_ptr()),
            VB_ERR_INVALID_ARGUMENT
        );
        for bad in ["", "../x", "a b", &"9".repeat(65)] {
            assert_eq!(
                vb_config_set(cfg, c("leg_id").as_ptr(), c(bad).as_ptr()),
                VB_ERR_INVALID_ARGUMENT,
                "leg_id {bad:?}"
            );
        }
        assert_eq!(
            vb_config_set(
                cfg,
                c("encrypt_to").as_ptr(),
                c("age1notarecipient").as_ptr()
            ),
            VB_ERR_INVALID_ARGUMENT
        );
        assert!(
            last_error().contains("invalid recipient"),
            "{}",
            last_error()
        );
        assert_eq!(
            vb_config_set(null_mut(), c("out_dir").as_ptr(), c("x").as_ptr()),
            VB_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            vb_config_set(cfg, null(), c("x").as_ptr()),
            VB_ERR_INVALID_ARGUMENT
        );
        // No out_dir: refused.
        assert!(vb_call_start(cfg).is_null());
        assert!(last_error().contains("out_dir"), "{}", last_error());
        assert!(vb_call_start(null()).is_null());
        vb_config_free(cfg);
        vb_config_free(null_mut());

        let out = temp("bad-args");
        let call = start(&out);
        assert_eq!(
            vb_call_push_audio(null(), 0, true, null(), 0),
            VB_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            vb_call_push_audio(call, 0, false, null(), 2),
            VB_ERR_INVALID_ARGUMENT
        );
        let five: Vec<VbUnmixedBuffer> = (0..5)
            .map(|i| VbUnmixedBuffer {
                active_speaker_id: i,
                data: null(),
                len: 0,
                original_sender_timestamp: 0,
            })
            .collect();
        assert_eq!(
            vb_call_push_audio(call, 0, false, five.as_ptr(), 5),
            VB_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("at most 4"), "{}", last_error());
        let dangling = VbUnmixedBuffer {
            active_speaker_id: 1,
            data: null(),
            len: 640,
            original_sender_timestamp: 0,
        };
        assert_eq!(
            vb_call_push_audio(call, 0, false, &dangling, 1),
            VB_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            vb_call_push_video(
                call,
                11,
                5,
                0,
                VB_VIDEO_H264,
                640,
                360,
                0,
                15_000,
                [0u8; 4].as_ptr(),
                4
            ),
            VB_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            vb_call_push_video(call, 0, 5, 0, 99, 640, 360, 0, 15_000, [0u8; 4].as_ptr(), 4),
            VB_ERR_INVALID_ARGUMENT
        );
        let bad_kind = VbMediaStream {
            media_source_id: 3,
            kind: 42,
        };
        assert_eq!(
            vb_call_participant_joined(call, 0, c("x").as_ptr(), null(), false, &bad_kind, 1),
            VB_ERR_INVALID_ARGUMENT
        );
        let not_utf8 = [0xffu8, 0xfe, 0];
        assert_eq!(
            vb_call_participant_left(call, 0, not_utf8.as_ptr().cast()),
            VB_ERR_INVALID_ARGUMENT
        );
        // Out of order: nothing to resume, nothing to wait for yet.
        assert_eq!(vb_call_pause(call, true, 0, null(), null()), VB_ERR_STATE);
        assert_eq!(vb_call_wait(call), VB_ERR_STATE);
        assert_eq!(vb_call_poll(call, null_mut()), VB_ERR_INVALID_ARGUMENT);
        vb_call_free(call);
        vb_call_free(null_mut());
        assert!(!out.exists(), "never confirmed: nothing may be written");
    }
}

#[test]
fn media_is_held_until_graph_confirms_then_recorded_and_the_messages_come_in_order() {
    let out = temp("confirmed");
    let call = start(&out);
    let first = poll(call);
    assert_eq!(
        first,
        vec![(VB_MESSAGE_STATUS_REQUEST, VB_STATUS_RECORDING, None)]
    );
    join(call, "ann", 7);
    // As the SDK: the first event is time zero, and a frame captured in [t, t + 20 ms) comes in the event
    // stamped t + 20 ms, so the frame of slot s lands at frame s - 1 of the stem.
    // SAFETY: a live call, no buffers.
    assert_eq!(
        unsafe { vb_call_push_audio(call, 1_000_000, true, null(), 0) },
        VB_OK
    );
    for slot in 1..=100 {
        assert_eq!(audio(call, slot, 7), VB_OK);
    }
    assert!(!out.exists(), "nothing on disk before the confirmation");
    // SAFETY (all below): a live call.
    unsafe {
        assert_eq!(vb_call_confirm(call, true, null()), VB_OK);
        assert_eq!(
            vb_call_confirm(call, true, null()),
            VB_ERR_STATE,
            "confirmed twice"
        );
        for slot in 101..=250 {
            assert_eq!(audio(call, slot, 7), VB_OK);
        }
        let by = c("compliance");
        let why = c("privileged");
        assert_eq!(
            vb_call_pause(
                call,
                false,
                1_000_000 + 250 * 200_000,
                by.as_ptr(),
                why.as_ptr()
            ),
            VB_OK
        );
        assert_eq!(
            vb_call_pause(call, false, 0, null(), null()),
            VB_ERR_STATE,
            "paused twice"
        );
        for slot in 251..=300 {
            assert_eq!(audio(call, slot, 7), VB_OK);
        }
        assert_eq!(
            vb_call_pause(call, true, 1_000_000 + 300 * 200_000, null(), null()),
            VB_OK
        );
        for slot in 301..=350 {
            assert_eq!(audio(call, slot, 7), VB_OK);
        }
        assert_eq!(vb_call_end(call, 1_000_000 + 350 * 200_000), VB_OK);
        assert_eq!(vb_call_end(call, 0), VB_OK, "a second end does nothing");
        assert_eq!(vb_call_wait(call), VB_OK, "{}", last_error());
        assert_eq!(vb_call_wait(call), VB_ERR_STATE, "waited twice");
    }
    let rest = poll(call);
    let kinds: Vec<(u32, u32)> = rest.iter().map(|m| (m.0, m.1)).collect();
    assert_eq!(
        kinds,
        vec![
            (VB_MESSAGE_SUMMARY, VB_SUMMARY_COMPLETED),
            (VB_MESSAGE_STATUS_REQUEST, VB_STATUS_NOT_RECORDING)
        ],
        "{rest:?}"
    );
    // SAFETY: made by start, freed once.
    unsafe { vb_call_free(call) };
    // The pre-roll (5 s window: all 100 held frames) is in the stem; the pause is silence; 7 s in all.
    let r = hound::WavReader::open(out.join("participants/ann.wav")).unwrap();
    let s: Vec<i16> = r.into_samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(s.len(), 350 * 320, "7 s of stem");
    let frame_nonzero = |j: usize| s[j * 320..(j + 1) * 320].iter().any(|&v| v != 0);
    let silent: Vec<usize> = (0..350).filter(|&j| !frame_nonzero(j)).collect();
    assert_eq!(
        silent,
        (250..300).collect::<Vec<_>>(),
        "silent exactly while paused"
    );
    let md = std::fs::read_to_string(out.join("metadata.json")).unwrap();
    assert!(
        md.contains("\"desk\": \"rates\"")
            && md.contains("privileged")
            && md.contains("\"leg\": \"2\""),
        "{md}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_refused_recording_writes_nothing_and_says_so() {
    let out = temp("refused");
    let call = start(&out);
    join(call, "ann", 7);
    for slot in 0..20 {
        assert_eq!(audio(call, slot, 7), VB_OK);
    }
    // SAFETY (all below): a live call.
    unsafe {
        assert_eq!(
            vb_call_confirm(call, false, c("403 forbidden").as_ptr()),
            VB_OK
        );
        assert_eq!(
            audio(call, 20, 7),
            VB_OK,
            "media after a refusal is taken and discarded"
        );
        assert_eq!(vb_call_end(call, 1_000_000 + 21 * 200_000), VB_OK);
        assert_eq!(vb_call_wait(call), VB_OK);
    }
    let msgs = poll(call);
    let summary = msgs
        .iter()
        .find(|m| m.0 == VB_MESSAGE_SUMMARY)
        .expect("a summary");
    assert_eq!(summary.1, VB_SUMMARY_NOT_RECORDED);
    assert!(
        summary.2.as_deref().unwrap_or("").contains("403 forbidden"),
        "{msgs:?}"
    );
    // SAFETY: made by start, freed once.
    unsafe { vb_call_free(call) };
    assert!(!out.exists(), "refused: nothing may be written");
}

#[test]
fn a_call_freed_without_an_end_is_closed_and_verifiable() {
    let out = temp("freed");
    let call = start(&out);
    // SAFETY: a live call.
    assert_eq!(unsafe { vb_call_confirm(call, true, null()) }, VB_OK);
    join(call, "ann", 7);
    for slot in 0..60 {
        assert_eq!(audio(call, slot, 7), VB_OK);
    }
    // SAFETY: made by start, freed once; no end, no wait.
    unsafe { vb_call_free(call) };
    // The closing thread goes on in the background: wait for the manifest's final status.
    let t0 = std::time::Instant::now();
    while !out.join("metadata.json").exists() && t0.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let k = recorder::muxer::integrity::load_signing_key(&key()).unwrap();
    let report = recorder::muxer::verify::verify_dir(&out, Some(&k.verifying_key())).unwrap();
    assert!(report.files >= 4, "{}", report.summary);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn encrypt_to_encrypts_every_file_and_the_folder_verifies_and_decrypts() {
    let (secret, public) = seal::generate_identity();
    let out = temp("encrypted");
    let call = start_call(&out, &key(), &[("call_id", "enc"), ("encrypt_to", &public)]);
    // SAFETY: a live call.
    assert_eq!(unsafe { vb_call_confirm(call, true, null()) }, VB_OK);
    join(call, "ann", 7);
    for slot in 0..60 {
        assert_eq!(audio(call, slot, 7), VB_OK);
    }
    // SAFETY: made by start_call, freed once.
    unsafe { vb_call_free(call) };
    let t0 = std::time::Instant::now();
    while !out.join("manifest.json").exists() && t0.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let k = recorder::muxer::integrity::load_signing_key(&key()).unwrap();
    let report = recorder::muxer::verify::verify_dir(&out, Some(&k.verifying_key())).unwrap();
    assert_eq!(report.encrypted_to, Some(vec![public]));
    let md = std::fs::read(out.join("metadata.json")).unwrap();
    assert!(md.starts_with(b"VBSEAL"));
    let ids = seal::Identities::parse(&secret).unwrap();
    let plain = temp("encrypted-plain");
    recorder::muxer::decrypt::decrypt_dir(&out, &ids, &plain, true).unwrap();
    let md = std::fs::read(plain.join("metadata.json")).unwrap();
    assert!(md.starts_with(b"{") && md.windows(5).any(|w| w == b"\"enc\""));
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&plain);
}

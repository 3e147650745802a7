//! `recover_dir_with`: whole files added by the caller (e.g. a rebuilt `metadata.json`) are written, linked into
//! the chain and covered by the manifest; a stray copy left by an interrupted recovery is replaced; a file the
//! kept chain already holds bytes of is left alone.

mod common;

use std::path::Path;

use common::scratch_dir;
use media_core::{AudioFormat, MediaTime};
use muxer::integrity::generate_signing_key;
use muxer::recover::{recover_dir_adding, RecoverAction, RecoverOptions};
use muxer::verify::verify_dir;
use muxer::{RecordingOptions, RecordingWriter, Status};

/// A crashed folder: a 2 s stem synced, `whole` (if any) written before the crash, no close.
fn crashed(dir: &Path, key: &ed25519_dalek::SigningKey, whole: Option<&[u8]>) {
    let mut rec =
        RecordingWriter::create(dir, key.clone(), RecordingOptions::new("call-7", 0)).unwrap();
    rec.set_status(Status::Recording, MediaTime::ZERO, "started")
        .unwrap();
    let a = rec
        .add_wav("participants/alice.wav", AudioFormat::PCM16K)
        .unwrap();
    for t in 1..=100 {
        rec.write_pcm(a, &[7i16; 320]).unwrap();
        rec.tick(MediaTime::from_millis(20 * t)).unwrap();
    }
    if let Some(bytes) = whole {
        rec.write_whole_file("metadata.json", bytes).unwrap();
        rec.sync().unwrap();
    }
    std::mem::forget(rec); // kill -9
}

#[test]
fn extra_files_are_linked_and_verified_and_a_stray_copy_is_replaced() {
    let dir = scratch_dir("recover-extra");
    let key = generate_signing_key().unwrap();
    crashed(&dir, &key, None);
    // An earlier recovery killed after writing its file, before its manifest.
    std::fs::write(dir.join("metadata.json"), b"half a file").unwrap();
    let mut calls = 0;
    let r = recover_dir_adding(&dir, &key, &RecoverOptions::default(), &mut |d| {
        calls += 1;
        assert!(d.join("participants/alice.wav").exists());
        vec![("metadata.json".into(), b"{\"rebuilt\":true}".to_vec())]
    })
    .unwrap();
    assert_eq!(calls, 1);
    assert_eq!(r.action, RecoverAction::Closed);
    assert_eq!(
        std::fs::read(dir.join("metadata.json")).unwrap(),
        b"{\"rebuilt\":true}"
    );
    let v = verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    assert_eq!(v.final_status, Status::Interrupted);
    let m = muxer::integrity::Manifest::parse(&std::fs::read(dir.join("manifest.json")).unwrap())
        .unwrap();
    let f = m.files.iter().find(|f| f.path == "metadata.json").unwrap();
    assert_eq!(f.size, 16);
    // Once closed, recovery changes nothing (and asks for nothing).
    let again = recover_dir_adding(&dir, &key, &RecoverOptions::default(), &mut |_| {
        panic!("not asked when closed")
    })
    .unwrap();
    assert_eq!(again.action, RecoverAction::AlreadyClosed);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_the_recorder_finished_before_the_crash_is_kept() {
    let dir = scratch_dir("recover-extra-kept");
    let key = generate_signing_key().unwrap();
    crashed(&dir, &key, Some(b"{\"written_at_close\":true}"));
    recover_dir_adding(&dir, &key, &RecoverOptions::default(), &mut |_| {
        vec![("metadata.json".into(), b"{\"rebuilt\":true}".to_vec())]
    })
    .unwrap();
    assert_eq!(
        std::fs::read(dir.join("metadata.json")).unwrap(),
        b"{\"written_at_close\":true}"
    );
    verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

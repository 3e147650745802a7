//! Folders written by earlier versions of the format stay readable: the committed fixtures under
//! `testdata/format/` (see its README.md) are verified and recovered by today's code.
//!
//! `cargo test -p muxer --test format_fixtures -- --ignored make_fixtures` writes the fixtures of the current
//! format version (it refuses to overwrite a version already committed).

mod common;
#[path = "common/tsa.rs"]
mod tsa;

use std::path::{Path, PathBuf};

use common::*;
use ed25519_dalek::SigningKey;
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::TrackSpec;
use muxer::integrity::manifest::FORMAT;
use muxer::integrity::{
    generate_signing_key, load_public_key, load_signing_key, public_key_text, save_signing_key,
};
use muxer::recover::{recover_dir, RecoverAction};
use muxer::verify::verify_dir;
use muxer::{RecordingOptions, RecordingWriter, Status};

fn format_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/format")
}

/// The committed test key (a key for tests only: never sign real recordings with it).
fn test_key() -> SigningKey {
    load_signing_key(&format_root().join("test-signing.key")).unwrap()
}

/// Copies a committed fixture folder to a scratch folder (tests never change the committed files).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

fn fixture(version: &str, which: &str) -> PathBuf {
    let src = format_root().join(version).join(which);
    assert!(
        src.is_dir(),
        "fixture {} missing: testdata/format is part of the repository",
        src.display()
    );
    let dst = scratch_dir(&format!("fixture-{version}-{which}"));
    copy_tree(&src, &dst);
    dst
}

/// Writes a small recording like the recorder does: two 16 kHz stems, an Opus MP4, `timeline.jsonl`, a pause;
/// `seconds` of media; signed every 2 s. Returns the writer before `finish`.
fn write_small(dir: &Path, key: &SigningKey, seconds: usize) -> RecordingWriter {
    let mut opts = RecordingOptions::new("fixture-call", 1_764_000_000_000);
    opts.sign_interval = MediaTime::from_secs(2);
    let mut rec = RecordingWriter::create(dir, key.clone(), opts).unwrap();
    rec.set_status(Status::Recording, MediaTime::ZERO, "started")
        .unwrap();
    let n = seconds * 16_000;
    let stems = [speech("alice")[..n].to_vec(), speech("bob")[..n].to_vec()];
    let ids = [
        rec.add_wav("participants/alice.wav", AudioFormat::PCM16K)
            .unwrap(),
        rec.add_wav("participants/bob.wav", AudioFormat::PCM16K)
            .unwrap(),
    ];
    let (packets, pre_skip) = opus_packets(seconds * 50);
    let mp4 = rec
        .add_mp4("mixed.mp4", &[TrackSpec::opus(1, pre_skip)])
        .unwrap();
    let log = rec.add_log("timeline.jsonl").unwrap();
    for slot in 0..seconds * 50 {
        let now = MediaTime::from_millis(20 * slot as i64);
        for (id, s) in ids.iter().zip(&stems) {
            rec.write_pcm(*id, &s[slot * 320..(slot + 1) * 320])
                .unwrap();
        }
        rec.write_sample(mp4, 0, now, packets[slot].clone())
            .unwrap();
        if slot % 50 == 0 {
            rec.append_log(log, format!("{{\"at_ms\":{}}}\n", slot * 20).as_bytes())
                .unwrap();
        }
        if slot == 60 {
            rec.set_status(Status::Paused, now, "card details").unwrap();
        }
        if slot == 80 {
            rec.set_status(Status::Recording, now, "resumed").unwrap();
        }
        rec.tick(now).unwrap();
    }
    rec
}

/// Writes `testdata/format/<version>/{completed,interrupted}` with today's code.
#[test]
#[ignore = "writes the committed fixtures of the current format version; run by hand (see testdata/format/README.md)"]
fn make_fixtures() {
    let version = FORMAT.rsplit('/').next().unwrap();
    let root = format_root().join(format!("v{version}"));
    assert!(
        !root.exists(),
        "{} exists: fixtures of a released version are never rewritten",
        root.display()
    );
    let key_path = format_root().join("test-signing.key");
    if !key_path.exists() {
        let k = generate_signing_key().unwrap();
        save_signing_key(&key_path, &k).unwrap();
        std::fs::write(
            format_root().join("test-signing.pub"),
            public_key_text(&k.verifying_key()),
        )
        .unwrap();
    }
    let key = test_key();
    let done = root.join("completed");
    let mut rec = write_small(&done, &key, 3);
    rec.write_whole_file("metadata.json", br#"{"call":"fixture-call"}"#)
        .unwrap();
    rec.finish(Status::Completed, MediaTime::from_secs(3), "ended")
        .unwrap();
    // kill -9 at 3.5 s: the writer is never dropped, so buffered bytes never reach the files.
    let crashed = root.join("interrupted");
    let rec = write_small(&crashed, &key, 4);
    std::mem::forget(rec);
}

/// Writes `testdata/format/v2/timestamped` (a completed recording whose checkpoints a loopback TSA stamped)
/// and the TSA's certificate `testdata/format/v2/tsa.crt` (its key is not kept).
#[test]
#[ignore = "writes a committed fixture; run by hand (see testdata/format/README.md)"]
fn make_timestamped_fixture() {
    let root = format_root().join("v2");
    let dir = root.join("timestamped");
    assert!(
        !dir.exists(),
        "{} exists: fixtures are never rewritten",
        dir.display()
    );
    let tsa_dir = scratch_dir("fixture-tsa");
    let server = tsa::Tsa::start(&tsa_dir);
    let key = test_key();
    let mut opts = RecordingOptions::new("fixture-stamped", 1_764_000_000_000);
    opts.sign_interval = MediaTime::from_secs(1);
    let mut rec = RecordingWriter::create(&dir, key, opts).unwrap();
    rec.set_status(Status::Recording, MediaTime::ZERO, "started")
        .unwrap();
    let a = rec
        .add_wav("participants/alice.wav", AudioFormat::PCM16K)
        .unwrap();
    let alice = speech("alice");
    for slot in 0..150 {
        rec.write_pcm(a, &alice[slot * 320..(slot + 1) * 320])
            .unwrap();
        rec.tick(MediaTime::from_millis(20 * slot as i64)).unwrap();
        if let Some((n, imprint)) = rec.take_checkpoint() {
            let token = muxer::integrity::timestamp::request_token(
                &server.url,
                &imprint,
                std::time::Duration::from_secs(10),
            )
            .unwrap();
            rec.add_timestamp(n, token).unwrap();
        }
    }
    rec.finish(Status::Completed, MediaTime::from_secs(3), "ended")
        .unwrap();
    std::fs::copy(&server.cert, root.join("tsa.crt")).unwrap();
    drop(server);
    std::fs::remove_dir_all(&tsa_dir).unwrap();
}

#[test]
fn v2_timestamped_folder_verifies_with_its_tsa_certificate() {
    use muxer::verify::{verify_dir_opts, Trust, VerifyOptions};
    let dir = fixture("v2", "timestamped");
    let pk = load_public_key(&format_root().join("test-signing.pub")).unwrap();
    let cert = std::fs::read(format_root().join("v2/tsa.crt")).unwrap();
    let r = verify_dir_opts(
        &dir,
        &VerifyOptions {
            trust: Trust::Key(&pk),
            tsa_cert: Some(&cert),
        },
    )
    .unwrap();
    assert_eq!(r.final_status, Status::Completed);
    assert_eq!(r.timestamps.len(), 2, "{}", r.summary);
    assert!(
        r.timestamps
            .iter()
            .all(|t| t.1.as_deref().is_some_and(|s| s.starts_with("2026"))),
        "{:?}",
        r.timestamps
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn v1_completed_folder_verifies() {
    completed_folder_verifies("v1");
}

#[test]
fn v2_completed_folder_verifies() {
    completed_folder_verifies("v2");
}

#[test]
fn v1_interrupted_folder_recovers_and_verifies() {
    let dir = interrupted_folder_recovers_and_verifies("v1");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn v2_interrupted_folder_recovers_and_verifies() {
    let dir = interrupted_folder_recovers_and_verifies("v2");
    // Version 2 says what was signed live and what recovery sealed.
    let v = verify_dir(&dir, Some(&test_key().verifying_key())).unwrap();
    let rec = v.recovery.expect("format 2 records the recovery");
    assert_eq!(rec.live_entries, 18);
    assert!(rec.accepted_tampering.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn completed_folder_verifies(version: &str) {
    let dir = fixture(version, "completed");
    let pk = load_public_key(&format_root().join("test-signing.pub")).unwrap();
    let r = verify_dir(&dir, Some(&pk)).unwrap();
    assert_eq!(r.final_status, Status::Completed);
    assert_eq!(r.format, format!("verbatim-manifest/{}", &version[1..]));
    assert_eq!(r.recording_id, "fixture-call");
    assert_eq!(r.files, 5, "{}", r.summary);
    let stem = std::fs::metadata(dir.join("participants/alice.wav"))
        .unwrap()
        .len();
    assert_eq!(stem, 80 + 3 * 32_000, "3 s of 16 kHz mono after the header");
    ffmpeg_decodes_cleanly(&dir.join("mixed.mp4"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn interrupted_folder_recovers_and_verifies(version: &str) -> PathBuf {
    let dir = fixture(version, "interrupted");
    assert!(dir.join("manifest.journal").is_file());
    let key = test_key();
    let r = recover_dir(&dir, &key).unwrap();
    assert_eq!(r.action, RecoverAction::Closed);
    assert_eq!(r.verify.final_status, Status::Interrupted);
    let v = verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    assert_eq!(v.final_status, Status::Interrupted);
    // Every stem keeps whole 1 s chunks: at least the 2 s the last live signature covers.
    for rel in ["participants/alice.wav", "participants/bob.wav"] {
        let len = std::fs::metadata(dir.join(rel)).unwrap().len();
        assert!(
            len >= 80 + 2 * 32_000 && (len - 80) % 32_000 == 0,
            "{rel}: {len}"
        );
    }
    ffmpeg_decodes_cleanly(&dir.join("mixed.mp4"));
    dir
}

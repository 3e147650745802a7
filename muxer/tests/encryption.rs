//! Encryption at rest (`RecordingOptions::encrypt_to`): the same recording written in the clear and
//! encrypted decrypts to the same bytes; the encrypted folder verifies without a key, leaks no known
//! plaintext, refuses a flipped byte; a crash, recovery and decryption give what a plaintext recording
//! recovered at the same point gives; wrong identities and damaged files are clear errors.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::scratch_dir;
use common::workload::{options, record_with_options, Inputs};
use muxer::decrypt::{decrypt_dir, DecryptError, ENCRYPTED_MANIFEST_FILE};
use muxer::recover::recover_dir;
use muxer::storage::StdStorage;
use muxer::verify::{verify_dir, VerifyError};
use muxer::Status;
use seal::{Identities, SealError};

/// Every file of a folder, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    muxer_list(dir, "", &mut out);
    out.sort();
    out
}

fn muxer_list(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            muxer_list(&e.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

struct Fixture {
    base: PathBuf,
    ids: Identities,
    public: String,
    key: ed25519_dalek::SigningKey,
    inputs: Inputs,
}

fn fixture(name: &str, seconds: i64) -> Fixture {
    let (secret, public) = seal::generate_identity();
    Fixture {
        base: scratch_dir(name),
        ids: Identities::parse(&secret).unwrap(),
        public,
        key: muxer::integrity::generate_signing_key().unwrap(),
        inputs: Inputs::load(seconds),
    }
}

impl Fixture {
    fn record(&self, name: &str, encrypted: bool, stop_after: Option<i64>) -> PathBuf {
        let dir = self.base.join(name);
        let mut opts = options();
        if encrypted {
            opts.encrypt_to = vec![self.public.clone()];
        }
        let out = record_with_options(
            Arc::new(StdStorage),
            &dir,
            &self.key,
            &self.inputs,
            None,
            opts,
            stop_after,
        );
        if stop_after.is_none() {
            let s = out.finish.unwrap().unwrap();
            assert_eq!(s.final_status, Status::Completed, "{:?}", s.close_errors);
        }
        dir
    }
}

fn assert_same_files(plain: &Path, decrypted: &Path) {
    let mut want = files(plain);
    want.retain(|f| f != "manifest.json");
    let mut got = files(decrypted);
    assert!(got.contains(&ENCRYPTED_MANIFEST_FILE.to_string()));
    got.retain(|f| f != ENCRYPTED_MANIFEST_FILE);
    assert_eq!(want, got);
    for f in &want {
        let a = std::fs::read(plain.join(f)).unwrap();
        let b = std::fs::read(decrypted.join(f)).unwrap();
        assert!(
            a == b,
            "{f}: decrypted differs ({} vs {} bytes)",
            a.len(),
            b.len()
        );
    }
}

#[test]
fn encrypted_recording_decrypts_to_the_plaintext_recording_and_verifies_without_a_key() {
    let fx = fixture("enc-roundtrip", 4);
    let plain = fx.record("plain", false, None);
    let enc = fx.record("enc", true, None);

    // verify: no identity involved; the report names the recipient.
    let pk = fx.key.verifying_key();
    let report = verify_dir(&enc, Some(&pk)).unwrap();
    assert_eq!(report.encrypted_to, Some(vec![fx.public.clone()]));
    assert!(report.summary.contains(&fx.public), "{}", report.summary);

    // Nothing of the plaintext is on disk: the metadata text, the timeline lines, a window of PCM.
    let alice = &fx.inputs.stems[0];
    // 32 samples around the loudest one (a window of speech, not silence).
    let loudest = (0..alice.len() - 32)
        .max_by_key(|i| alice[*i].unsigned_abs())
        .unwrap();
    let pcm: Vec<u8> = alice[loudest..loudest + 32]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    assert!(pcm.iter().any(|b| *b != 0));
    for f in files(&enc) {
        let bytes = std::fs::read(enc.join(&f)).unwrap();
        if f == "manifest.json" {
            continue;
        }
        for needle in [
            &b"Completed"[..],
            b"\"event\":\"tick\"",
            b"RIFF",
            b"ftyp",
            &pcm,
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{f} holds plaintext {:?}",
                String::from_utf8_lossy(needle)
            );
        }
        assert!(bytes.starts_with(b"VBSEAL\0\x01"), "{f} is not sealed");
    }
    // ... while the plaintext recording has them (the needles are real).
    let md = std::fs::read(plain.join("metadata.json")).unwrap();
    assert!(md.windows(9).any(|w| w == b"Completed"));
    let a = std::fs::read(plain.join("participants/alice.wav")).unwrap();
    assert!(a.windows(pcm.len()).any(|w| w == pcm));

    let out = fx.base.join("decrypted");
    let r = decrypt_dir(&enc, &fx.ids, &out, true).unwrap();
    assert!(r.verified.is_some() && r.fixed.is_empty() && !r.recovered);
    assert_same_files(&plain, &out);
    common::ffmpeg_decodes_cleanly(&out.join("recording.mp4"));
    common::ffmpeg_decodes_cleanly(&out.join("participants/alice.wav"));

    // One flipped ciphertext byte: verify names the file, decrypt refuses.
    let wav = enc.join("participants/bob.wav");
    let mut b = std::fs::read(&wav).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x20;
    std::fs::write(&wav, &b).unwrap();
    match verify_dir(&enc, Some(&pk)) {
        Err(VerifyError::ContentMismatch { path, .. }) => assert_eq!(path, "participants/bob.wav"),
        other => panic!("flipped byte not caught: {other:?}"),
    }
    let e = decrypt_dir(&enc, &fx.ids, &fx.base.join("refused"), true).unwrap_err();
    assert!(matches!(e, DecryptError::Verify(_)), "{e}");
    // Without the check the record's own tag catches it.
    let e = decrypt_dir(&enc, &fx.ids, &fx.base.join("unchecked"), false).unwrap_err();
    match e {
        DecryptError::Sealed {
            path,
            source: SealError::Auth { .. },
        } => assert_eq!(path, "participants/bob.wav"),
        e => panic!("garbled record not caught: {e}"),
    }
}

#[test]
fn crash_recover_then_decrypt_equals_a_plaintext_recording_recovered_at_the_same_point() {
    let fx = fixture("enc-crash", 5);
    let plain = fx.record("plain", false, Some(3));
    let enc = fx.record("enc", true, Some(3));
    recover_dir(&plain, &fx.key).unwrap();
    let r = recover_dir(&enc, &fx.key).unwrap();
    assert!(r.kept_entries > 10);
    verify_dir(&enc, Some(&fx.key.verifying_key())).unwrap();
    let out = fx.base.join("decrypted");
    let d = decrypt_dir(&enc, &fx.ids, &out, true).unwrap();
    assert!(d.recovered);
    assert!(
        d.fixed.iter().any(|f| f.starts_with("recording.mp4: MP4")),
        "{:?}",
        d.fixed
    );
    assert_same_files(&plain, &out);
    // Every covered chunk is there: at least 2 of the 3 seconds of each stem, and ffmpeg reads them.
    let alice = std::fs::read(out.join("participants/alice.wav")).unwrap();
    assert!(alice.len() >= 80 + 2 * 32_000, "{}", alice.len());
    common::ffmpeg_decodes_cleanly(&out.join("participants/alice.wav"));
    common::ffmpeg_decodes_cleanly(&out.join("recording.mp4"));
}

#[test]
fn wrong_identity_and_damaged_files_are_clear_errors() {
    let fx = fixture("enc-errors", 2);
    let enc = fx.record("enc", true, None);
    let (other, _) = seal::generate_identity();
    let other = Identities::parse(&other).unwrap();
    let e = decrypt_dir(&enc, &other, &fx.base.join("wrong"), true).unwrap_err();
    assert!(
        matches!(
            &e,
            DecryptError::Sealed {
                source: SealError::WrongIdentity,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("none of the identities"), "{e}");

    // A plaintext folder is not decrypted.
    let plain = fx.record("plain", false, None);
    let e = decrypt_dir(&plain, &fx.ids, &fx.base.join("p"), true).unwrap_err();
    assert!(matches!(e, DecryptError::NotEncrypted(_)), "{e}");

    // A sealed file cut inside a record (without the folder check): a truncation error naming the file.
    let f = enc.join("timeline.jsonl");
    let b = std::fs::read(&f).unwrap();
    std::fs::write(&f, &b[..b.len() - 5]).unwrap();
    let e = decrypt_dir(&enc, &fx.ids, &fx.base.join("cut"), false).unwrap_err();
    assert!(
        matches!(&e, DecryptError::Sealed { path, source: SealError::Truncated { .. } } if path == "timeline.jsonl"),
        "{e}"
    );
    // A header that is garbage.
    std::fs::write(&f, b"not a sealed file at all").unwrap();
    let e = decrypt_dir(&enc, &fx.ids, &fx.base.join("garbage"), false).unwrap_err();
    assert!(
        matches!(
            &e,
            DecryptError::Sealed {
                source: SealError::NotSealed,
                ..
            }
        ),
        "{e}"
    );
    // An output folder that holds something is not written into.
    let busy = fx.base.join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("x"), b"x").unwrap();
    std::fs::write(&f, &b).unwrap();
    let e = decrypt_dir(&enc, &fx.ids, &busy, true).unwrap_err();
    assert!(matches!(e, DecryptError::OutputExists(_)), "{e}");
}

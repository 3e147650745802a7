//! The recording folder end to end: write, verify, tamper (>= 200 mutations), crash, recover.

mod common;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::*;
use ed25519_dalek::SigningKey;
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::TrackSpec;
use muxer::integrity::generate_signing_key;
use muxer::recover::{recover_dir, RecoverAction};
use muxer::verify::{verify_dir, VerifyError};
use muxer::{RecordingOptions, RecordingWriter, Status};

/// The first `n` samples of a speaker's voice.
fn speech_start(speaker: &str, n: usize) -> Vec<i16> {
    let mut s = speech(speaker);
    s.truncate(n);
    s
}

/// Writes a small recording: two 4 s stems, a 3 s H.264 + Opus MP4, metadata.json, a pause.
/// Returns the writer before `finish` (so crash tests can drop it) and the stem inputs.
fn write_recording(dir: &Path, key: &SigningKey, seconds: i64) -> (RecordingWriter, Vec<Vec<i16>>) {
    let mut opts = RecordingOptions::new("call-42", 1_764_000_000_000);
    opts.sign_interval = MediaTime::from_secs(2);
    let mut rec = RecordingWriter::create(dir, key.clone(), opts).unwrap();
    rec.set_status(Status::Recording, MediaTime::ZERO, "started")
        .unwrap();
    let n = (seconds * 16_000) as usize;
    let stems = vec![speech_start("alice", n), speech_start("bob", n)];
    let ids = [
        rec.add_wav("participants/alice.wav", AudioFormat::PCM16K)
            .unwrap(),
        rec.add_wav("participants/bob.wav", AudioFormat::PCM16K)
            .unwrap(),
    ];
    let frames = erin_frames();
    let (packets, pre_skip) = opus_packets((seconds * 50) as usize);
    let mp4 = rec
        .add_mp4(
            "recording.mp4",
            &[TrackSpec::h264(), TrackSpec::opus(1, pre_skip)],
        )
        .unwrap();
    let mut vi = 0;
    for slot in 0..(seconds * 50) as usize {
        let now = MediaTime::from_millis(20 * slot as i64);
        for (id, s) in ids.iter().zip(&stems) {
            rec.write_pcm(*id, &s[slot * 320..(slot + 1) * 320])
                .unwrap();
        }
        while vi < frames.len() && frames[vi].pts <= now {
            rec.write_sample(mp4, 0, frames[vi].pts, frames[vi].annexb.clone())
                .unwrap();
            vi += 1;
        }
        rec.write_sample(mp4, 1, now, packets[slot].clone())
            .unwrap();
        if slot == 75 {
            rec.set_status(Status::Paused, now, "card details").unwrap();
        }
        if slot == 100 {
            rec.set_status(Status::Recording, now, "resumed").unwrap();
        }
        rec.tick(now).unwrap();
    }
    rec.write_whole_file(
        "metadata.json",
        br#"{"call":"42","participants":["alice","bob"]}"#,
    )
    .unwrap();
    (rec, stems)
}

/// Runs `recover` on a crashed folder and checks it closed it and the result verifies.
fn recover_closes_intact(dir: &Path, key: &SigningKey) -> muxer::recover::RecoverReport {
    let r = recover_dir(dir, key).unwrap();
    assert_eq!(r.action, RecoverAction::Closed);
    assert!(
        r.verify.summary.starts_with("intact"),
        "{}",
        r.verify.summary
    );
    r
}

fn finished_recording(name: &str) -> (PathBuf, SigningKey) {
    let dir = scratch_dir(name);
    let key = generate_signing_key().unwrap();
    let (rec, _) = write_recording(&dir, &key, 4);
    let s = rec
        .finish(Status::Completed, MediaTime::from_secs(4), "hung up")
        .unwrap();
    assert!(s.close_errors.is_empty(), "{:?}", s.close_errors);
    assert_eq!(s.files.len(), 4);
    (dir, key)
}

#[test]
fn a_finished_recording_verifies_and_plays() {
    let (dir, key) = finished_recording("folder-ok");
    let r = verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    assert!(
        r.summary.starts_with("intact: recording call-42 — 4 files"),
        "{}",
        r.summary
    );
    assert_eq!(r.final_status, Status::Completed);
    assert!(r.signatures >= 2, "periodic signatures + the final one");
    let m = muxer::integrity::Manifest::parse(&std::fs::read(dir.join("manifest.json")).unwrap())
        .unwrap();
    let statuses: Vec<Status> = m.status_history.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        vec![
            Status::Recording,
            Status::Paused,
            Status::Recording,
            Status::Completed
        ]
    );
    assert!(!dir.join("manifest.journal").exists());
    // The stems are the inputs, sample for sample; the MP4 decodes cleanly.
    let back: Vec<i16> = hound::WavReader::open(dir.join("participants/alice.wav"))
        .unwrap()
        .samples::<i16>()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(back, speech_start("alice", 64_000));
    ffmpeg_decodes_cleanly(&dir.join("recording.mp4"));
    assert_eq!(decoded_frames(&dir.join("recording.mp4"), "a:0"), 200);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Applies a mutation, checks verify rejects it, then undoes it.
struct Mutator<'a> {
    dir: &'a Path,
    key: ed25519_dalek::VerifyingKey,
    count: usize,
}

impl Mutator<'_> {
    fn expect_rejected(&mut self, what: &str) -> VerifyError {
        self.count += 1;
        match verify_dir(self.dir, Some(&self.key)) {
            Ok(r) => panic!("mutation not detected: {what} ({})", r.summary),
            Err(e) => e,
        }
    }
    fn with_bytes(&mut self, rel: &str, what: &str, f: impl FnOnce(&mut Vec<u8>)) -> VerifyError {
        let p = self.dir.join(rel);
        let orig = std::fs::read(&p).unwrap();
        let mut b = orig.clone();
        f(&mut b);
        assert_ne!(b, orig, "{what}: mutation changed nothing");
        std::fs::write(&p, &b).unwrap();
        let e = self.expect_rejected(what);
        std::fs::write(&p, &orig).unwrap();
        e
    }
}

#[test]
fn verify_catches_every_mutation() {
    let (dir, key) = finished_recording("folder-mutate");
    let mut m = Mutator {
        dir: &dir,
        key: key.verifying_key(),
        count: 0,
    };
    let files = [
        "participants/alice.wav",
        "participants/bob.wav",
        "recording.mp4",
        "metadata.json",
        "manifest.json",
    ];
    // Flipped bytes: 45 offsets spread over each file, always including the first and last byte.
    for rel in files {
        let len = std::fs::metadata(dir.join(rel)).unwrap().len() as usize;
        let mut offsets: Vec<usize> = (0..45).map(|i| i * (len - 1) / 44).collect();
        offsets.extend([20, 44, 76, 79].iter().filter(|&&o| o < len)); // WAV header fields
        offsets.dedup();
        for off in offsets {
            let e = m.with_bytes(rel, &format!("flip {rel}@{off}"), |b| b[off] ^= 0x01);
            if rel.ends_with(".wav") || rel.ends_with(".mp4") || rel == "metadata.json" {
                // The report names the file and a byte range holding the flipped byte.
                match e {
                    VerifyError::ContentMismatch { path, offset, len } => {
                        assert_eq!(path, rel);
                        assert!((offset..offset + len).contains(&(off as u64)));
                    }
                    other => panic!("flip {rel}@{off}: {other}"),
                }
            }
        }
    }
    // Truncations and extensions.
    for rel in files {
        let len = std::fs::metadata(dir.join(rel)).unwrap().len() as usize;
        for cut in [0, 1, len / 3, len / 2, len - 1] {
            m.with_bytes(rel, &format!("truncate {rel} to {cut}"), |b| {
                b.truncate(cut)
            });
        }
        m.with_bytes(rel, &format!("append to {rel}"), |b| b.push(0));
    }
    // Deleted files.
    for rel in files {
        let p = dir.join(rel);
        let orig = std::fs::read(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        m.expect_rejected(&format!("delete {rel}"));
        std::fs::write(&p, orig).unwrap();
    }
    // Added files.
    for rel in [
        "extra.wav",
        "participants/carol.wav",
        "new/dir/x",
        "manifest.journal",
        ".hidden",
    ] {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"x").unwrap();
        let e = m.expect_rejected(&format!("add {rel}"));
        assert!(matches!(e, VerifyError::FileAdded { .. }), "{e}");
        std::fs::remove_file(&p).unwrap();
    }
    let _ = std::fs::remove_dir_all(dir.join("new"));
    // Swapped regions: consecutive MP4 fragments, and equal-sized WAV chunks.
    let manifest =
        muxer::integrity::Manifest::parse(&std::fs::read(dir.join("manifest.json")).unwrap())
            .unwrap();
    let regions = |file: u32| -> Vec<(usize, usize)> {
        manifest
            .entries
            .iter()
            .filter_map(|e| match e {
                muxer::integrity::Entry::Data {
                    file: f,
                    offset,
                    len,
                    ..
                } if *f == file => Some((*offset as usize, *len as usize)),
                _ => None,
            })
            .collect()
    };
    for (file, rel) in [(0u32, "participants/alice.wav"), (2, "recording.mp4")] {
        let rs = regions(file);
        assert!(rs.len() >= 2, "{rel}: {} regions", rs.len());
        for i in 0..rs.len() - 1 {
            let (a, b) = (rs[i], rs[i + 1]);
            m.with_bytes(
                rel,
                &format!("swap regions {i},{} of {rel}", i + 1),
                |buf| {
                    let first = buf[a.0..a.0 + a.1].to_vec();
                    let second = buf[b.0..b.0 + b.1].to_vec();
                    let mut swapped = second;
                    swapped.extend_from_slice(&first);
                    buf[a.0..b.0 + b.1].copy_from_slice(&swapped);
                },
            );
        }
    }
    // Reordered manifest entries (two entry lines swapped).
    let text = String::from_utf8(std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let first_entry = lines
        .iter()
        .position(|l| l.starts_with("  \"entries\""))
        .unwrap()
        + 1;
    for i in [first_entry + 3, first_entry + 10, first_entry + 20] {
        m.with_bytes("manifest.json", &format!("swap entry lines {i}"), |b| {
            let mut ls: Vec<String> = String::from_utf8(b.clone())
                .unwrap()
                .lines()
                .map(|s| s.trim_end_matches(',').to_string())
                .collect();
            ls.swap(i, i + 1);
            let last_entry = ls.len() - 3;
            let mut out = String::new();
            for (k, l) in ls.iter().enumerate() {
                out.push_str(l);
                if k >= first_entry && k < last_entry {
                    out.push(',');
                }
                out.push('\n');
            }
            let orig = String::from_utf8(b.clone()).unwrap();
            // keep the other commas exactly as they were
            *b = rebuild_commas(&orig, &out).into_bytes();
        });
    }
    assert!(m.count >= 200, "only {} mutations", m.count);
    eprintln!("mutations detected: {}", m.count);
    // Untouched again: verifies.
    verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Puts back the original line endings (commas) of `orig` onto the reordered lines of `new`.
fn rebuild_commas(orig: &str, new: &str) -> String {
    orig.lines()
        .zip(new.lines())
        .map(|(o, n)| {
            let n = n.trim_end_matches(',');
            if o.ends_with(',') {
                format!("{n},\n")
            } else {
                format!("{n}\n")
            }
        })
        .collect()
}

#[test]
fn wrong_key_and_forged_signatures_are_caught() {
    let (dir, key) = finished_recording("folder-keys");
    let other = generate_signing_key().unwrap();
    let e = verify_dir(&dir, Some(&other.verifying_key())).unwrap_err();
    assert!(matches!(e, VerifyError::WrongKey { .. }), "{e}");
    // Re-sign the whole manifest with another key: valid on its own, but not the expected key.
    let mpath = dir.join("manifest.json");
    let orig = std::fs::read(&mpath).unwrap();
    let mut mf = muxer::integrity::Manifest::parse(&orig).unwrap();
    let forged = resign(&mf, &other);
    std::fs::write(&mpath, forged.render()).unwrap();
    let e = verify_dir(&dir, Some(&key.verifying_key())).unwrap_err();
    assert!(matches!(e, VerifyError::WrongKey { .. }), "{e}");
    // Without an expected key a wholesale re-signing is self-consistent: that is why the lead passes the
    // installation's public key to verify.
    assert!(verify_dir(&dir, None).is_ok());
    // A signature that does not match (other key's signature, original public key).
    let last = mf.signatures.len() - 1;
    mf.signatures[last].signature = forged.signatures[last].signature;
    std::fs::write(&mpath, mf.render()).unwrap();
    let e = verify_dir(&dir, None).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    std::fs::write(&mpath, &orig).unwrap();
    verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn resign(m: &muxer::integrity::Manifest, key: &SigningKey) -> muxer::integrity::Manifest {
    use ed25519_dalek::Signer;
    use muxer::integrity::chain::{signing_message_for, Chain};
    let mut begin = m.begin();
    begin.public_key = muxer::integrity::manifest::HexBytes(key.verifying_key().to_bytes());
    begin.key_id = Some(muxer::integrity::key_id(&key.verifying_key()));
    let mut chain = Chain::for_begin(&begin);
    let mut sigs = Vec::new();
    let counts: Vec<u64> = m.signatures.iter().map(|s| s.entries).collect();
    for e in &m.entries {
        chain.push(e);
        if counts.contains(&chain.count) {
            let s = key.sign(&signing_message_for(
                &begin.format,
                chain.count,
                &chain.head,
                0,
            ));
            sigs.push(muxer::integrity::SigRecord {
                entries: chain.count,
                head: muxer::integrity::manifest::HexBytes(chain.head),
                signature: muxer::integrity::manifest::HexBytes(s.to_bytes()),
                at: 0,
            });
        }
    }
    muxer::integrity::Manifest::build(&begin, m.entries.clone(), sigs)
}

#[test]
fn recover_after_a_simulated_crash_then_verify_passes() {
    let dir = scratch_dir("folder-crash");
    let key = generate_signing_key().unwrap();
    let (rec, stems) = write_recording(&dir, &key, 4);
    // kill -9: no finish, buffered bytes never reach the files.
    std::mem::forget(rec);
    // ... and the crash tore the last journal line and the fragment being written.
    use std::io::Write;
    let mut j = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("manifest.journal"))
        .unwrap();
    j.write_all(br#"{"entry":{"t":"data","file":2,"offs"#)
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("recording.mp4"))
        .unwrap();
    f.write_all(&[0, 0, 1, 0, b'm', b'o', b'o', b'f', 1, 2, 3])
        .unwrap();
    drop((j, f));
    assert!(matches!(
        verify_dir(&dir, Some(&key.verifying_key())),
        Err(VerifyError::NoManifest { journal: true, .. })
    ));

    let r = recover_closes_intact(&dir, &key);
    assert_eq!(r.verify.final_status, Status::Interrupted);
    assert!(!dir.join("manifest.journal").exists());
    // The stems hold whole 1 s chunks of the input, sample-exact.
    for (rel, input) in ["participants/alice.wav", "participants/bob.wav"]
        .iter()
        .zip(&stems)
    {
        let back: Vec<i16> = hound::WavReader::open(dir.join(rel))
            .unwrap()
            .samples::<i16>()
            .map(|s| s.unwrap())
            .collect();
        assert!(
            back.len() >= 3 * 16_000 && back.len() % 16_000 == 0,
            "{rel}: {}",
            back.len()
        );
        assert_eq!(&back[..], &input[..back.len()]);
    }
    let mp4 = dir.join("recording.mp4");
    ffmpeg_decodes_cleanly(&mp4);
    assert!(decoded_frames(&mp4, "v:0") >= 60);
    // Running it again changes nothing.
    let again = recover_dir(&dir, &key).unwrap();
    assert_eq!(again.action, RecoverAction::AlreadyClosed);
    // A different key may not close someone else's recording.
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recover_refuses_another_key_and_handles_a_stale_journal() {
    let dir = scratch_dir("folder-crash2");
    let key = generate_signing_key().unwrap();
    let (rec, _) = write_recording(&dir, &key, 2);
    drop(rec);
    let other = generate_signing_key().unwrap();
    assert!(matches!(
        recover_dir(&dir, &other),
        Err(muxer::recover::RecoverError::WrongKey(_))
    ));
    recover_dir(&dir, &key).unwrap();
    // A crash right after the manifest rename leaves a journal next to a complete manifest.
    std::fs::write(dir.join("manifest.journal"), b"{}\n").unwrap();
    let r = recover_dir(&dir, &key).unwrap();
    assert_eq!(r.action, RecoverAction::StaleJournalRemoved);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_paths_and_samples_are_typed_errors() {
    let dir = scratch_dir("folder-errors");
    let key = generate_signing_key().unwrap();
    let mut rec =
        RecordingWriter::create(&dir, key.clone(), RecordingOptions::new("x", 0)).unwrap();
    for bad in [
        "",
        "/abs.wav",
        "../up.wav",
        "a/../b.wav",
        "manifest.json",
        "a//b",
        "./a",
    ] {
        assert!(
            matches!(
                rec.add_wav(bad, AudioFormat::PCM16K),
                Err(muxer::RecordingError::InvalidPath { .. })
            ),
            "{bad:?}"
        );
    }
    let s = rec.add_wav("a.wav", AudioFormat::PCM16K).unwrap();
    assert!(rec.add_wav("a.wav", AudioFormat::PCM16K).is_err());
    assert!(matches!(
        rec.write_pcm_bytes(s, &[1, 2, 3]),
        Err(muxer::RecordingError::Wav { .. })
    ));
    let v = rec.add_mp4("v.mp4", &[TrackSpec::h264()]).unwrap();
    assert!(matches!(
        rec.write_sample(v, 0, MediaTime::ZERO, Bytes::from_static(&[1, 2, 3])),
        Err(muxer::RecordingError::Mp4 { .. })
    ));
    assert!(rec
        .write_sample(v, 3, MediaTime::ZERO, Bytes::from_static(&[1]))
        .is_err());
    assert!(RecordingWriter::create(&dir, key.clone(), RecordingOptions::new("x", 0)).is_err());
    let s = rec.finish(Status::Failed, MediaTime::ZERO, "test").unwrap();
    assert_eq!(s.final_status, Status::Failed);
    verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recover_keeps_every_intact_file_after_a_lost_tail() {
    // Power loss: the journal names a WAV chunk whose bytes never reached the disk.
    let dir = scratch_dir("folder-powerloss");
    let key = generate_signing_key().unwrap();
    let (rec, stems) = write_recording(&dir, &key, 4);
    std::mem::forget(rec);
    let alice = dir.join("participants/alice.wav");
    let len = std::fs::metadata(&alice).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&alice)
        .unwrap()
        .set_len(len - 1000)
        .unwrap();
    let r = recover_dir(&dir, &key).unwrap();
    assert_eq!(r.action, RecoverAction::Closed);
    assert!(
        r.dropped_entries > 0,
        "the record of the lost chunk is dropped"
    );
    verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    let back: Vec<i16> = hound::WavReader::open(&alice)
        .unwrap()
        .samples::<i16>()
        .map(|s| s.unwrap())
        .collect();
    assert!(back.len() % 16_000 == 0 && back.len() < 64_000);
    assert_eq!(&back[..], &stems[0][..back.len()]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The manifest's records are read back from the journal at close (memory stays flat over a long call), so a
/// journal changed while recording must not become a signed manifest: `finish` refuses and keeps the journal.
#[test]
fn a_journal_changed_while_recording_is_refused_at_close() {
    for (name, damage) in [
        ("journal-flip", 0usize),
        ("journal-cut", 1),
        ("journal-swap", 2),
    ] {
        let dir = scratch_dir(name);
        let key = generate_signing_key().unwrap();
        let (rec, _) = write_recording(&dir, &key, 2);
        let jpath = dir.join("manifest.journal");
        let mut j = std::fs::read(&jpath).unwrap();
        let len = j.len();
        match damage {
            // A hash digit of a record in the middle (still valid JSON).
            0 => {
                let at = j[len / 2..]
                    .windows(8)
                    .position(|w| w == b"\"sha256\"")
                    .unwrap()
                    + len / 2
                    + 10;
                j[at] = if j[at] == b'0' { b'1' } else { b'0' };
            }
            // The last lines gone.
            1 => j.truncate(len / 2),
            // Same length, a record replaced by spaces: no longer parses.
            _ => {
                let start = j[len / 3..].iter().position(|&b| b == b'\n').unwrap() + len / 3 + 1;
                let end = j[start..].iter().position(|&b| b == b'\n').unwrap() + start;
                j[start..end].fill(b' ');
            }
        }
        std::fs::write(&jpath, &j).unwrap();
        let err = rec
            .finish(Status::Completed, MediaTime::from_secs(2), "")
            .expect_err("a changed journal must not be signed");
        assert!(
            matches!(err, muxer::RecordingError::Journal(_)),
            "{name}: {err}"
        );
        assert!(jpath.exists(), "{name}: the journal is kept");
        assert!(!dir.join("manifest.json").exists(), "{name}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Writes a log of one line per 20 ms tick for `seconds`, syncing every second (the default interval).
fn write_log_recording(dir: &Path, key: &SigningKey, seconds: i64) -> RecordingWriter {
    let mut rec =
        RecordingWriter::create(dir, key.clone(), RecordingOptions::new("call-log", 0)).unwrap();
    let log = rec.add_log("timeline.jsonl").unwrap();
    for slot in 0..seconds * 50 {
        let line = format!("{{\"tick\":{slot}}}\n");
        rec.append_log(log, line.as_bytes()).unwrap();
        rec.tick(MediaTime::from_millis(20 * slot)).unwrap();
    }
    rec
}

#[test]
fn an_appended_log_is_linked_as_it_grows_and_verifies() {
    let dir = scratch_dir("folder-log");
    let key = generate_signing_key().unwrap();
    let mut rec = write_log_recording(&dir, &key, 3);
    let log = rec.add_log("second.log").unwrap();
    rec.append_log(log, b"only line\n").unwrap();
    // Read back before close: every line appended so far, in order.
    let lines: Vec<String> = std::io::BufRead::lines(rec.read_log(log).unwrap())
        .map(|l| l.unwrap())
        .collect();
    assert_eq!(lines, vec!["only line".to_string()]);
    let s = rec
        .finish(Status::Completed, MediaTime::from_secs(3), "")
        .unwrap();
    assert!(s.close_errors.is_empty(), "{:?}", s.close_errors);
    let text = std::fs::read_to_string(dir.join("timeline.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 150);
    assert_eq!(text.lines().nth(149), Some("{\"tick\":149}"));
    let m = muxer::integrity::Manifest::parse(&std::fs::read(dir.join("manifest.json")).unwrap())
        .unwrap();
    let log_file = m.files.iter().find(|f| f.path == "timeline.jsonl").unwrap();
    assert_eq!(log_file.size, text.len() as u64);
    let vk = key.verifying_key();
    assert!(verify_dir(&dir, Some(&vk))
        .unwrap()
        .summary
        .starts_with("intact"));
    // One changed byte anywhere in the log is found.
    let path = dir.join("timeline.jsonl");
    let orig = std::fs::read(&path).unwrap();
    for at in [0, orig.len() / 2, orig.len() - 2] {
        let mut bad = orig.clone();
        bad[at] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        assert!(verify_dir(&dir, Some(&vk)).is_err(), "byte {at} changed");
    }
    std::fs::write(&path, &orig).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_log_after_a_crash_keeps_every_synced_line() {
    let dir = scratch_dir("folder-log-crash");
    let key = generate_signing_key().unwrap();
    let rec = write_log_recording(&dir, &key, 3);
    std::mem::forget(rec);
    // The crash left a torn line after what the journal covers.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("timeline.jsonl"))
        .unwrap()
        .write_all(b"{\"tick\":99")
        .unwrap();
    recover_closes_intact(&dir, &key);
    let text = std::fs::read_to_string(dir.join("timeline.jsonl")).unwrap();
    // Synced once a second: at least the lines up to the last sync, whole lines only, in order.
    let n = text.lines().count();
    assert!(n >= 100 && text.ends_with('\n'), "{n} lines: {text:?}");
    for (i, l) in text.lines().enumerate() {
        assert_eq!(l, format!("{{\"tick\":{i}}}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A stem's silence written as a count (`write_silence`, as the recorder hands over a participant nobody has
/// heard yet) is the same file, with the same chain records, as the zeros written tick by tick, and it stays
/// a hole on disk, also after a lead-in that leaves the half-second pieces off the chunks' boundaries.
#[test]
fn silence_as_a_count_is_the_same_stem_as_zero_ticks_and_takes_no_disk() {
    use std::os::unix::fs::MetadataExt;
    let key = generate_signing_key().unwrap();
    let voice = speech_start("alice", 80_000);
    let write = |dir: &Path, as_counts: bool| {
        let mut rec =
            RecordingWriter::create(dir, key.clone(), RecordingOptions::new("silence", 0)).unwrap();
        let stem = rec
            .add_wav("participants/carol.wav", AudioFormat::PCM16K)
            .unwrap();
        rec.write_pcm(stem, &[0; 12_345]).unwrap(); // a late joiner's lead-in
        for minute in 0..3 {
            // 55 s of silence, then 5 s of speech (a minute's worth of ticks of 320).
            if as_counts {
                for _ in 0..110 {
                    rec.write_silence(stem, 8_000).unwrap();
                }
            } else {
                for _ in 0..55 * 50 {
                    rec.write_pcm(stem, &[0; 320]).unwrap();
                }
            }
            for tick in voice.chunks(320).take(250) {
                rec.write_pcm(stem, tick).unwrap();
            }
            eprintln!("minute {minute} written");
        }
        rec.finish(Status::Completed, MediaTime::from_secs(181), "")
            .unwrap();
    };
    let (ticks, counts) = (scratch_dir("silence-ticks"), scratch_dir("silence-counts"));
    write(&ticks, false);
    write(&counts, true);
    let path = "participants/carol.wav";
    let a = std::fs::read(ticks.join(path)).unwrap();
    let b = std::fs::read(counts.join(path)).unwrap();
    assert_eq!(a.len(), 80 + 2 * (12_345 + 3 * 60 * 16_000));
    assert!(a == b, "the stems differ");
    let data = |dir: &Path| -> Vec<muxer::integrity::Entry> {
        let m = std::fs::read(dir.join("manifest.json")).unwrap();
        let m = muxer::integrity::Manifest::parse(&m).unwrap();
        let id = m.entries.iter().find_map(|e| match e {
            muxer::integrity::Entry::File { file, path: p, .. } if p == path => Some(*file),
            _ => None,
        });
        m.entries
            .into_iter()
            .filter(
                |e| matches!(e, muxer::integrity::Entry::Data { file, .. } if Some(*file) == id),
            )
            .collect()
    };
    // Chunks of about a second (32,000 bytes; ticks overshoot by up to a tick): both chains cover the file
    // and verify.
    let lens = |dir: &Path| -> Vec<u64> {
        data(dir)
            .into_iter()
            .filter_map(|e| match e {
                muxer::integrity::Entry::Data { len, .. } => Some(len),
                _ => None,
            })
            .collect()
    };
    let (by_ticks, by_counts) = (lens(&ticks), lens(&counts));
    assert_eq!(by_counts.iter().sum::<u64>(), a.len() as u64 - 80);
    assert_eq!(by_ticks.iter().sum::<u64>(), a.len() as u64 - 80);
    assert!(by_counts.len() >= 180 && by_ticks.len() >= 180);
    assert!(
        by_counts.iter().all(|&l| l < 32_640),
        "a chunk over a second and a tick"
    );
    verify_dir(&ticks, None).unwrap();
    verify_dir(&counts, None).unwrap();
    // 15 s of speech is 480,000 bytes; the 2:45 of silence around it must not add more than a few pages.
    let on_disk = |dir: &Path| std::fs::metadata(dir.join(path)).unwrap().blocks() * 512;
    assert!(
        on_disk(&counts) <= on_disk(&ticks) + 16_384,
        "{} bytes on disk as counts, {} as ticks",
        on_disk(&counts),
        on_disk(&ticks)
    );
    assert!(
        on_disk(&counts) < 600_000,
        "{} bytes on disk",
        on_disk(&counts)
    );
}

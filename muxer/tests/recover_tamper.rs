//! Recovery cannot launder tampering: a mutation set over interrupted folders.
//!
//! Every mutation inside a range a live signature covers (media bytes, files, headers beyond the fields the
//! recorder rewrites in place, the journal's signed lines) must be refused before anything changes, naming the
//! file and range; a crash's damage to the unsigned tail (cut files, torn journal line, bytes after the last
//! record) must recover. The figures are printed (`--nocapture`): issue 13's "tampering before recover".

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ed25519_dalek::SigningKey;
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::TrackSpec;
use muxer::integrity::manifest::{parse_journal, JournalLine};
use muxer::integrity::{generate_signing_key, Entry, Keyring};
use muxer::recover::{recover_dir, recover_dir_with, RecoverAction, RecoverError, RecoverOptions};
use muxer::verify::{verify_dir, verify_dir_trusting, Trust};
use muxer::{RecordingOptions, RecordingWriter, Status};

/// A recorder killed at 5.5 s: two stems, an Opus MP4, a log; signed every 2 s, so the journal ends with an
/// unsigned tail (and the fragment in progress never reached its file).
fn crashed_folder(dir: &Path, key: &SigningKey) {
    let mut opts = RecordingOptions::new("tamper-call", 1_764_000_000_000);
    opts.sign_interval = MediaTime::from_secs(2);
    let mut rec = RecordingWriter::create(dir, key.clone(), opts).unwrap();
    rec.set_status(Status::Recording, MediaTime::ZERO, "started")
        .unwrap();
    let n = 6 * 16_000;
    let stems = [speech("alice")[..n].to_vec(), speech("carol")[..n].to_vec()];
    let ids = [
        rec.add_wav("participants/alice.wav", AudioFormat::PCM16K)
            .unwrap(),
        rec.add_wav("participants/carol.wav", AudioFormat::PCM16K)
            .unwrap(),
    ];
    let (packets, pre_skip) = opus_packets(300);
    let mp4 = rec
        .add_mp4("mixed.mp4", &[TrackSpec::opus(1, pre_skip)])
        .unwrap();
    let log = rec.add_log("timeline.jsonl").unwrap();
    for slot in 0..275 {
        let now = MediaTime::from_millis(20 * slot as i64);
        for (id, s) in ids.iter().zip(&stems) {
            rec.write_pcm(*id, &s[slot * 320..(slot + 1) * 320])
                .unwrap();
        }
        rec.write_sample(mp4, 0, now, packets[slot].clone())
            .unwrap();
        if slot % 25 == 0 {
            rec.append_log(log, format!("{{\"at_ms\":{}}}\n", slot * 20).as_bytes())
                .unwrap();
        }
        rec.tick(now).unwrap();
    }
    std::mem::forget(rec);
}

/// The journal's records and the count the last signature covers.
fn journal(dir: &Path) -> (Vec<Entry>, usize) {
    let bytes = std::fs::read(dir.join("manifest.journal")).unwrap();
    let (lines, _) = parse_journal(&bytes);
    let mut entries = Vec::new();
    let mut live = 0;
    for l in lines {
        match l {
            JournalLine::Entry(e) => entries.push(e),
            JournalLine::Sig(s) => live = s.entries as usize,
            JournalLine::Begin(_) => {}
        }
    }
    (entries, live)
}

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

/// Every file's bytes before a mutation, to prove a refused recovery changed nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

fn cut(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

struct Bench {
    base: PathBuf,
    key: SigningKey,
    n: usize,
    refused: usize,
    accepted: usize,
}

impl Bench {
    /// Applies `mutate` to a fresh copy of the crashed folder and runs recover; `Err` when it was refused.
    fn run(
        &mut self,
        what: &str,
        mutate: impl FnOnce(&Path),
    ) -> (PathBuf, Result<muxer::recover::RecoverReport, RecoverError>) {
        self.n += 1;
        let dir = self.base.with_extension(format!("m{}", self.n));
        let _ = std::fs::remove_dir_all(&dir);
        copy_tree(&self.base, &dir);
        mutate(&dir);
        let before = snapshot(&dir);
        let r = recover_dir(&dir, &self.key);
        match &r {
            Err(_) => {
                self.refused += 1;
                assert_eq!(
                    snapshot(&dir),
                    before,
                    "{what}: a refused recovery changed the folder"
                );
            }
            Ok(_) => self.accepted += 1,
        }
        (dir, r)
    }

    /// A mutation inside the live-signed part: must be refused, the message naming `path` (and `range`).
    fn refused(&mut self, what: &str, path: &str, at: Option<u64>, mutate: impl FnOnce(&Path)) {
        let (dir, r) = self.run(what, mutate);
        match r {
            Err(RecoverError::Tampered(list)) => {
                assert!(
                    list.iter().any(|t| t.path == path
                        && at.is_none_or(|a| (t.offset..t.offset + t.len.max(1)).contains(&a))),
                    "{what}: findings do not name {path} @ {at:?}: {list:?}"
                );
            }
            Err(RecoverError::Symlink { path: p }) => {
                assert!(p.ends_with(path), "{what}: names {}", p.display());
            }
            other => panic!("{what}: not refused: {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
        // What the symbolic-link mutations moved out of the folder.
        for ext in ["outside.wav", "outside", "journal"] {
            let p = dir.with_extension(ext);
            let _ = std::fs::remove_file(&p);
            let _ = std::fs::remove_dir_all(&p);
        }
    }

    /// Damage a crash leaves after the last signature: recovered, verified, the tail sealed as such.
    fn crash(&mut self, what: &str, mutate: impl FnOnce(&Path)) {
        let (dir, r) = self.run(what, mutate);
        let r = r.unwrap_or_else(|e| panic!("{what}: refused: {e}"));
        assert_eq!(r.action, RecoverAction::Closed, "{what}");
        let v = verify_dir(&dir, Some(&self.key.verifying_key())).unwrap();
        assert_eq!(v.final_status, Status::Interrupted);
        let rec = v.recovery.expect("a recovered folder says so");
        assert!(
            rec.live_entries > 0 && rec.accepted_tampering.is_empty(),
            "{what}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn every_mutation_of_a_live_signed_range_is_refused_and_a_crash_tail_is_not() {
    let base = scratch_dir("tamper-base");
    let key = generate_signing_key().unwrap();
    crashed_folder(&base, &key);
    let (entries, live) = journal(&base);
    assert!(
        live > 0 && live < entries.len(),
        "the journal has a signed part and an unsigned tail"
    );
    let paths: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::File { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    let mut b = Bench {
        base: base.clone(),
        key: key.clone(),
        n: 0,
        refused: 0,
        accepted: 0,
    };

    // 1. Every live-signed data region: its first, middle and last byte flipped; the file cut inside it.
    let mut live_end = vec![0u64; paths.len()];
    for e in &entries[..live] {
        if let Entry::Data {
            file, offset, len, ..
        } = e
        {
            let path = &paths[*file as usize];
            live_end[*file as usize] = live_end[*file as usize].max(offset + len);
            for at in [*offset, offset + len / 2, offset + len - 1] {
                b.refused(&format!("flip {path}@{at}"), path, Some(at), |d| {
                    flip(&d.join(path), at)
                });
            }
            b.refused(
                &format!("cut {path} to {}", offset + len / 2),
                path,
                None,
                |d| cut(&d.join(path), offset + len / 2),
            );
        }
    }
    // 2. Files deleted; headers changed beyond the fields the recorder rewrites in place.
    for path in &paths {
        b.refused(&format!("delete {path}"), path, None, |d| {
            std::fs::remove_file(d.join(path)).unwrap()
        });
    }
    for path in ["participants/alice.wav", "participants/carol.wav"] {
        for at in [0u64, 8, 20, 56, 60, 62, 70, 72] {
            // RIFF/WAVE tags, JUNK, format tag, sample rate, bits per sample, the `data` tag.
            b.refused(&format!("wav header {path}@{at}"), path, Some(at), |d| {
                flip(&d.join(path), at)
            });
        }
    }
    let init_len = entries
        .iter()
        .find_map(|e| match e {
            Entry::Header { file: 2, len, .. } => Some(*len),
            _ => None,
        })
        .unwrap();
    for at in [0, 4, init_len / 3, init_len / 2, init_len - 1] {
        b.refused(&format!("mp4 init @{at}"), "mixed.mp4", Some(at), |d| {
            flip(&d.join("mixed.mp4"), at)
        });
    }
    // 3. The journal's signed part: a record changed, removed, inserted; a signature changed; garbage before
    //    a signature.
    let jtext = std::fs::read_to_string(base.join("manifest.journal")).unwrap();
    let lines: Vec<&str> = jtext.lines().collect();
    let last_sig = lines
        .iter()
        .rposition(|l| l.starts_with("{\"sig\""))
        .unwrap();
    let rewrite = |d: &Path, f: &dyn Fn(&mut Vec<String>)| {
        let mut v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        f(&mut v);
        std::fs::write(d.join("manifest.journal"), v.join("\n") + "\n").unwrap();
    };
    for (i, line) in lines.iter().enumerate().take(last_sig).skip(1) {
        if !line.starts_with("{\"entry\"") {
            continue;
        }
        b.refused(
            &format!("journal line {i} removed"),
            "manifest.journal",
            None,
            |d| {
                rewrite(d, &|v| {
                    v.remove(i);
                })
            },
        );
        b.refused(
            &format!("journal line {i} changed"),
            "manifest.journal",
            None,
            |d| {
                rewrite(d, &|v| {
                    let l = &mut v[i];
                    // A digit in the record changed (an offset, a length, a digest, a time).
                    let pos = l.rfind(|c: char| c.is_ascii_digit()).unwrap();
                    let c = l.as_bytes()[pos];
                    let new = if c == b'0' { '1' } else { '0' };
                    l.replace_range(pos..pos + 1, &new.to_string());
                })
            },
        );
    }
    b.refused("journal line inserted", "manifest.journal", None, |d| {
        rewrite(d, &|v| {
            v.insert(
                3,
                r#"{"entry":{"t":"status","at":1,"status":"paused","note":"x"}}"#.into(),
            )
        })
    });
    b.refused("signature changed", "manifest.journal", None, |d| {
        rewrite(d, &|v| {
            let l = &mut v[last_sig];
            let pos = l.find("\"signature\":\"").unwrap() + 13;
            let c = if l.as_bytes()[pos] == b'a' { "b" } else { "a" };
            l.replace_range(pos..pos + 1, c);
        })
    });
    b.refused(
        "garbage before a signature",
        "manifest.journal",
        None,
        |d| rewrite(d, &|v| v[last_sig - 1] = "{\"entry\":{\"t\":".into()),
    );
    // 4. Symbolic links: a file, a folder, the journal.
    b.refused(
        "a stem replaced by a link",
        "participants/alice.wav",
        None,
        |d| {
            let f = d.join("participants/alice.wav");
            let elsewhere = d.with_extension("outside.wav");
            std::fs::rename(&f, &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &f).unwrap();
        },
    );
    b.refused("a folder replaced by a link", "participants", None, |d| {
        let f = d.join("participants");
        let elsewhere = d.with_extension("outside");
        let _ = std::fs::remove_dir_all(&elsewhere);
        std::fs::rename(&f, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &f).unwrap();
    });
    b.refused(
        "the journal replaced by a link",
        "manifest.journal",
        None,
        |d| {
            let f = d.join("manifest.journal");
            let elsewhere = d.with_extension("journal");
            std::fs::rename(&f, &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &f).unwrap();
        },
    );
    let (live_n, refused_n) = (b.n, b.refused);
    assert_eq!(refused_n, live_n, "every live-signed mutation refused");

    // 5. What a crash does to the unsigned tail: accepted as a crash.
    let tail_cut: Vec<(String, u64)> = paths
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let len = std::fs::metadata(base.join(p)).unwrap().len();
            (len > live_end[i]).then(|| (p.clone(), live_end[i] + (len - live_end[i]) / 2))
        })
        .collect();
    assert!(
        !tail_cut.is_empty(),
        "files have bytes after the last signature"
    );
    for (p, at) in &tail_cut {
        b.crash(&format!("{p} cut in the unsigned tail at {at}"), |d| {
            cut(&d.join(p), *at)
        });
        b.crash(&format!("{p} altered in the unsigned tail at {at}"), |d| {
            flip(&d.join(p), *at)
        });
    }
    b.crash("journal's last line torn", |d| {
        let j = d.join("manifest.journal");
        let len = std::fs::metadata(&j).unwrap().len();
        cut(&j, len - 7);
    });
    b.crash("a torn fragment after the last record", |d| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(d.join("mixed.mp4"))
            .unwrap();
        f.write_all(&[0, 0, 1, 0, b'm', b'o', b'o', b'f', 1, 2])
            .unwrap();
    });
    b.crash("every file cut back to its last live signature", |d| {
        for (i, p) in paths.iter().enumerate() {
            cut(
                &d.join(p),
                live_end[i].max(if p.ends_with(".wav") { 80 } else { 0 }),
            );
        }
    });
    b.crash("mp4 durations patched at close, before their record", |d| {
        // What the close does to the init segment in place (mehd; mvhd/tkhd/mdhd once players get lengths).
        use muxer::fmp4::reader::{find_box, read_init};
        let p = d.join("mixed.mp4");
        let mut bytes = std::fs::read(&p).unwrap();
        let init = &bytes[..init_len as usize];
        let mehd = read_init(init).unwrap().mehd_field.unwrap() as usize;
        let mvhd = find_box(init, &[*b"moov", *b"mvhd"]).unwrap();
        let tkhd = find_box(init, &[*b"moov", *b"trak", *b"tkhd"]).unwrap();
        bytes[mehd..mehd + 4].copy_from_slice(&4500u32.to_be_bytes());
        let at = (mvhd.offset + mvhd.header_len) as usize + 16;
        bytes[at..at + 4].copy_from_slice(&4500u32.to_be_bytes());
        let at = (tkhd.offset + tkhd.header_len) as usize + 20;
        bytes[at..at + 4].copy_from_slice(&4500u32.to_be_bytes());
        std::fs::write(&p, bytes).unwrap();
    });
    let crash_n = b.n - live_n;
    eprintln!(
        "tampering before recover: {refused_n}/{live_n} mutations of live-signed ranges refused ({:.0} %); \
         {}/{crash_n} crash states of the unsigned tail recovered",
        100.0 * refused_n as f64 / live_n as f64,
        b.accepted
    );
    assert_eq!(b.accepted, crash_n);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn a_clean_crash_is_sealed_as_such_and_verify_reports_both_parts() {
    let dir = scratch_dir("tamper-clean");
    let key = generate_signing_key().unwrap();
    crashed_folder(&dir, &key);
    let (_, live) = journal(&dir);
    let opts = RecoverOptions {
        now_utc_ms: Some(1_800_000_000_000),
        ..RecoverOptions::default()
    };
    let r = recover_dir_with(&dir, &key, &opts).unwrap();
    assert_eq!(r.live_entries, live as u64);
    let v = verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    let rec = v.recovery.clone().unwrap();
    assert_eq!(rec.live_entries, live as u64);
    assert_eq!(rec.utc_ms, 1_800_000_000_000);
    assert_eq!(rec.key_id, muxer::integrity::key_id(&key.verifying_key()));
    assert!(
        v.summary.contains("signed live") && v.summary.contains("sealed at recovery"),
        "{}",
        v.summary
    );
    let alice = v
        .coverage
        .iter()
        .find(|c| c.path == "participants/alice.wav")
        .unwrap();
    // The samples up to the last live signature are signed live; the header (rewritten by recovery) and the
    // chunks after it are sealed.
    assert_eq!(
        alice.live.first().map(|r| r.0),
        Some(80),
        "{}",
        alice.to_text()
    );
    assert!(alice.sealed.contains(&(0, 80)), "{}", alice.to_text());
    assert!(alice.sealed_bytes() > 80, "{}", alice.to_text());
    assert_eq!(
        alice
            .live
            .iter()
            .chain(&alice.sealed)
            .map(|(a, b)| b - a)
            .sum::<u64>(),
        alice.size
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn accepted_tampering_is_sealed_and_recorded_in_the_signed_history() {
    let dir = scratch_dir("tamper-accept");
    let key = generate_signing_key().unwrap();
    crashed_folder(&dir, &key);
    flip(&dir.join("participants/carol.wav"), 5000);
    let opts = RecoverOptions {
        accept_tampered: true,
        ..RecoverOptions::default()
    };
    let r = recover_dir_with(&dir, &key, &opts).unwrap();
    assert_eq!(r.accepted_tampering.len(), 1);
    assert_eq!(r.accepted_tampering[0].path, "participants/carol.wav");
    let v = verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    let rec = v.recovery.unwrap();
    assert_eq!(rec.accepted_tampering.len(), 1);
    assert!(
        rec.accepted_tampering[0].starts_with("participants/carol.wav bytes 80..32080"),
        "{:?}",
        rec.accepted_tampering
    );
    assert!(
        v.summary.contains("ALTERED RANGES ACCEPTED"),
        "{}",
        v.summary
    );
    // Live signatures vouch only for what precedes the altered record.
    assert!(rec.live_entries < r.kept_entries);
    // The altered byte was kept (sealed as found), not silently dropped.
    let bytes = std::fs::read(dir.join("participants/carol.wav")).unwrap();
    assert!(bytes.len() > 32_080);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recover_checks_the_journal_key_against_the_keyring() {
    let dir = scratch_dir("tamper-keyring");
    let key = generate_signing_key().unwrap();
    crashed_folder(&dir, &key);
    let other = generate_signing_key().unwrap();
    let opts = RecoverOptions {
        trust: Some(Keyring::single(other.verifying_key())),
        ..RecoverOptions::default()
    };
    assert!(matches!(
        recover_dir_with(&dir, &key, &opts),
        Err(RecoverError::Untrusted(_))
    ));
    let opts = RecoverOptions {
        trust: Some(Keyring::single(key.verifying_key())),
        ..RecoverOptions::default()
    };
    recover_dir_with(&dir, &key, &opts).unwrap();
    let ring = Keyring::single(key.verifying_key());
    verify_dir_trusting(&dir, Trust::Keyring(&ring)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Encryption at rest through the command line: `keygen --encryption`, `record --encrypt-to`, `verify`
//! without a key, `decrypt` back to the files a plaintext recording of the same simulated call holds (byte
//! for byte, ffprobe reads them), `inspect` saying the folder is encrypted, and a `kill -9` of a real-time
//! encrypted recording that `recover` closes and `decrypt` opens.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_verbatim")
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            files(&e.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

fn sorted_files(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    files(dir, "", &mut v);
    v.sort();
    v
}

/// The timeline's lines other than counter snapshots.
fn events_only(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.contains("\"event\":\"counters\""))
        .map(str::to_string)
        .collect()
}

/// The text with every `…high_water": N` value replaced by 0.
fn without_high_water(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut rest = &text[..];
    while let Some(i) = rest.find("high_water\":") {
        let (head, tail) = rest.split_at(i + "high_water\":".len());
        out.push_str(head);
        let tail = tail.trim_start();
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push('0');
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// A new identity through the CLI; returns (identity file, recipient).
fn keygen(dir: &Path, name: &str) -> (String, String) {
    let id = dir.join(name);
    let id_s = id.to_str().unwrap().to_string();
    let (ok, out, err) = run(&["keygen", "--encryption", "--identity-file", &id_s]);
    assert!(ok, "{err}");
    let recipient = out.trim().to_string();
    assert!(recipient.starts_with("age1"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&id).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    (id_s, recipient)
}

#[test]
fn encrypted_simulated_call_decrypts_to_the_plaintext_recording() {
    let dir = temp_dir("enc-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let key = test_key();
    let key = key.to_str().unwrap();
    let (id, recipient) = keygen(&dir, "id.age");
    // The identity file is never overwritten.
    let (ok, _, err) = run(&["keygen", "--encryption", "--identity-file", &id]);
    assert!(!ok && err.contains("exists"), "{err}");
    // A malformed recipient stops `record` before anything is written.
    let bad = dir.join("bad");
    let (ok, _, err) = run(&[
        "record",
        "--simulate",
        "--quiet",
        "--duration",
        "2s",
        "--signing-key",
        key,
        "--encrypt-to",
        "age1notarecipient",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("invalid recipient"), "{err}");
    assert!(!bad.join("manifest.json").exists());

    let record = |name: &str, encrypt: bool| {
        let out = dir.join(name);
        let mut args = vec![
            "record",
            "--simulate",
            "--meeting",
            "standup",
            "--quiet",
            "--duration",
            "6s",
            "--seed",
            "7",
            "--start-utc-ms",
            "1764000000000",
            "--signing-key",
            key,
            "--out",
            out.to_str().unwrap(),
        ];
        if encrypt {
            args.extend(["--encrypt-to", recipient.as_str()]);
        }
        let (ok, o, e) = run(&args);
        assert!(ok, "{o}{e}");
        out
    };
    let plain = record("plain", false);
    let enc = record("enc", true);
    let enc_s = enc.to_str().unwrap();

    // verify needs no key; it says to whom the folder is encrypted.
    let (_, out, err) = run(&["verify", enc_s, "--trust-embedded-key"]);
    assert!(
        out.contains("intact") && out.contains(&recipient),
        "{out}{err}"
    );
    // inspect says what it is instead of failing obscurely.
    let (ok, _, err) = run(&["inspect", enc_s]);
    assert!(
        !ok && err.contains("encrypted recording") && err.contains(&recipient),
        "{err}"
    );

    // The participants' names are in the plaintext metadata, nowhere in the encrypted folder.
    let md = std::fs::read_to_string(plain.join("metadata.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&md).unwrap();
    let name = v["participants"][0]["display_name"]
        .as_str()
        .or_else(|| v["participants"][0]["name"].as_str())
        .unwrap_or_else(|| panic!("no participant name in {md}"))
        .to_string();
    assert!(name.len() >= 3, "{name}");
    for f in sorted_files(&enc) {
        if f == "manifest.json" {
            continue;
        }
        let b = std::fs::read(enc.join(&f)).unwrap();
        assert!(
            !b.windows(name.len()).any(|w| w == name.as_bytes()),
            "{f} holds {name}"
        );
    }

    let dec = dir.join("dec");
    let (ok, out, err) = run(&[
        "decrypt",
        enc_s,
        "--identity",
        &id,
        "--out",
        dec.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("decrypted"), "{out}");
    let mut want = sorted_files(&plain);
    want.retain(|f| f != "manifest.json");
    let mut got = sorted_files(&dec);
    got.retain(|f| f != "encrypted-manifest.json");
    assert_eq!(want, got);
    for f in &want {
        let a = std::fs::read(plain.join(f)).unwrap();
        let b = std::fs::read(dec.join(f)).unwrap();
        // Two runs of the same simulated call differ, encrypted or not, only in what thread timing decides:
        // the queues' high-water marks and when the timeline's counter snapshots are taken.
        if f.ends_with(".jsonl") {
            assert_eq!(events_only(&a), events_only(&b), "{f}");
        } else if f.ends_with(".json") {
            assert_eq!(without_high_water(&a), without_high_water(&b), "{f}");
        } else {
            assert!(
                a == b,
                "{f}: decrypted differs from the plaintext recording"
            );
        }
    }
    for f in &want {
        if f.ends_with(".wav") || f.ends_with(".mp4") {
            assert!(ffprobe_duration(&dec.join(f)) > 5.0, "{f}");
        }
    }

    // Another identity: a clear error naming the identity file.
    let (other, _) = keygen(&dir, "other.age");
    let (ok, _, err) = run(&[
        "decrypt",
        enc_s,
        "--identity",
        &other,
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("other.age") && err.contains("not one of the recipients"),
        "{err}"
    );
}

#[test]
fn kill_9_of_an_encrypted_realtime_recording_recovers_and_decrypts() {
    let dir = temp_dir("enc-crash");
    std::fs::create_dir_all(&dir).unwrap();
    let key = test_key();
    let key = key.to_str().unwrap();
    let (id, recipient) = keygen(&dir, "id.age");
    let out = dir.join("rec");
    let out_s = out.to_str().unwrap();
    let mut child = Command::new(bin())
        .args([
            "record",
            "--simulate",
            "--realtime",
            "--quiet",
            "--duration",
            "30s",
            "--signing-key",
            key,
            "--encrypt-to",
            &recipient,
            "--out",
            out_s,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert!(out.join("manifest.journal").exists());
    let (ok, o, e) = run(&["recover", out_s, "--signing-key", key]);
    assert!(ok, "{o}{e}");
    let (_, o, e) = run(&["verify", out_s, "--trust-embedded-key"]);
    assert!(o.contains("intact") && o.contains(&recipient), "{o}{e}");
    let dec = dir.join("dec");
    let (ok, o, e) = run(&[
        "decrypt",
        out_s,
        "--identity",
        &id,
        "--out",
        dec.to_str().unwrap(),
    ]);
    assert!(ok, "{o}{e}");
    assert!(o.contains("fixed after the crash"), "{o}");
    // Every chunk the chain covers decrypted: at least a second of audio in the mix and the MP4.
    for f in ["mixed.wav", "recording.mp4"] {
        let d = ffprobe_duration(&dec.join(f));
        assert!(d >= 1.0, "{f}: {d} s");
    }
    for stem in std::fs::read_dir(dec.join("participants"))
        .unwrap()
        .flatten()
    {
        if std::fs::metadata(stem.path()).unwrap().len() > 100 {
            ffprobe_duration(&stem.path());
        }
    }
    // The timeline: whole lines, each an event.
    let text = std::fs::read_to_string(dec.join("timeline.jsonl")).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["event"].is_string(), "{line}");
    }
}

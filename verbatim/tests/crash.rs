//! Crash safety of the whole recorder: `verbatim record --realtime` killed with SIGKILL at random moments,
//! then `verbatim recover`, `verbatim verify` and ffprobe on every file.
//! Runs 10 kills by default; set VERBATIM_CRASH_RUNS for more.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_verbatim")
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn sigkill_at_random_moments_loses_at_most_a_fragment_and_recovers_verifiable() {
    let runs: u32 = std::env::var("VERBATIM_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let key = test_key();
    // verify authenticates the signer with the public key (without one it exits 3: signer not authenticated).
    let pubk = key.with_extension("pub");
    let signing = muxer::integrity::load_signing_key(&key).unwrap();
    std::fs::write(
        &pubk,
        muxer::integrity::public_key_text(&signing.verifying_key()),
    )
    .unwrap();
    let pubk = pubk.to_str().unwrap().to_string();
    let key = key.to_str().unwrap();
    let mut seed = 0x9E37_79B9_u64;
    for run_no in 0..runs {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let kill_after = Duration::from_millis(700 + seed % 3300);
        let out = temp_dir(&format!("crash-{run_no}"));
        let out_s = out.to_str().unwrap();
        let started = Instant::now();
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
            ])
            .args(["--out", out_s, "--seed", &run_no.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let alive = started.elapsed().as_secs_f64();

        let (ok, text) = run(&["recover", out_s, "--signing-key", key]);
        assert!(
            ok,
            "run {run_no}: recover failed after {alive:.2} s: {text}"
        );
        let (ok, text) = run(&["verify", out_s, "--public-key", &pubk]);
        assert!(ok, "run {run_no}: verify failed: {text}");
        for f in ["mixed.wav", "recording.mp4"] {
            let p = out.join(f);
            if p.exists() && std::fs::metadata(&p).unwrap().len() > 100 {
                let d = ffprobe_duration(&p);
                // Lost at most: one fragment/chunk (1 s) + the sync interval (1 s) + the recorder's latency
                // (late window 0.2 s + tick) + process start-up before recording time zero (< 0.5 s).
                assert!(
                    d >= alive - 2.8,
                    "run {run_no}: {f} has {d:.2} s after {alive:.2} s alive"
                );
            }
        }
        for stem in std::fs::read_dir(out.join("participants"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if std::fs::metadata(stem.path()).unwrap().len() > 100 {
                ffprobe_duration(&stem.path());
            }
        }
        // The timeline is cut back to what the chain covers: whole lines only, each a readable event.
        if let Ok(text) = std::fs::read_to_string(out.join("timeline.jsonl")) {
            assert!(text.is_empty() || text.ends_with('\n'), "run {run_no}");
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("run {run_no}: {line:?}: {e}"));
                assert!(v["event"].is_string(), "run {run_no}: {line}");
            }
        }
        assert!(Path::new(&out.join("manifest.json")).exists());
    }
    let _ = std::fs::remove_file(&pubk);
}

#[test]
fn keygen_record_verify_and_tamper_detection_through_the_cli() {
    let dir = temp_dir("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let k = dir.join("k.key");
    let (ok, text) = run(&["keygen", "--out", k.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(text.contains("verbatim"), "{text}");
    let out = dir.join("rec");
    let (ok, text) = run(&[
        "record",
        "--simulate",
        "--quiet",
        "--duration",
        "5s",
        "--signing-key",
        k.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    // inspect: text for a person, JSON for a script.
    let (ok, text) = run(&["inspect", out.to_str().unwrap()]);
    assert!(
        ok && text.contains("status completed") && text.contains("speaker timeline"),
        "{text}"
    );
    let (ok, text) = run(&["inspect", "--json", out.to_str().unwrap()]);
    assert!(ok, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["duration_us"], 5_000_000);
    assert_eq!(v["participants"].as_array().map(Vec::len), Some(4));
    let (ok, text) = run(&["inspect", dir.to_str().unwrap()]);
    assert!(!ok && text.contains("not a recording folder"), "{text}");
    let pubk = k.with_extension("pub");
    let (ok, text) = run(&[
        "verify",
        out.to_str().unwrap(),
        "--public-key",
        pubk.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    // Another key must be refused when the public key is required.
    let other = muxer::integrity::load_signing_key(&test_key()).unwrap();
    let other_pub = dir.join("other.pub");
    std::fs::write(
        &other_pub,
        muxer::integrity::public_key_text(&other.verifying_key()),
    )
    .unwrap();
    let (ok, text) = run(&[
        "verify",
        out.to_str().unwrap(),
        "--public-key",
        other_pub.to_str().unwrap(),
    ]);
    assert!(!ok, "verified with another recording's public key: {text}");
    // Flip one byte of a stem: verify must fail and name the file.
    let stem = std::fs::read_dir(out.join("participants"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&stem).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    std::fs::write(&stem, &bytes).unwrap();
    let (ok, text) = run(&["verify", out.to_str().unwrap()]);
    assert!(!ok, "a flipped byte went unnoticed");
    assert!(
        text.contains(stem.file_name().unwrap().to_str().unwrap()),
        "{text}"
    );
    // ffmpeg decodes the Opus mix for the whole duration.
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(out.join("recording.mp4"))
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg not found: run scripts/setup.sh");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let d = ffprobe_duration(&out.join("recording.mp4"));
    assert!((d - 5.0).abs() <= 0.021, "recording.mp4 lasts {d} s");
}

//! Crash safety of the whole recorder: `verbatim record --realtime` killed with SIGKILL at random moments,
//! then `verbatim recover`, `verbatim verify` and ffprobe on every file.
//! Runs 10 kills by default (every other one with `--fsync-per-file`, the rest with the default group commit);
//! set VERBATIM_CRASH_RUNS for more.

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
            // Every other run with an fsync per file instead of the default group commit.
            .args(if run_no % 2 == 1 {
                &["--fsync-per-file"][..]
            } else {
                &[]
            })
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

fn json_file(p: &Path) -> serde_json::Value {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// SIGKILL in the middle of a call, during its second pause: `recover` rebuilds `metadata.json` (covered by
/// the signed manifest), the status history holds both pauses at their times, and the rebuilt counters match
/// a normal close of the same simulated call cut at the counters' time to within one fragment.
#[test]
fn sigkill_during_a_pause_keeps_metadata_and_pause_spans() {
    let key = test_key();
    let pubk = dir_pub_key(&key);
    let key_s = key.to_str().unwrap();
    let base = temp_dir("crash-pause");
    std::fs::create_dir_all(&base).unwrap();
    let out = base.join("killed");
    let sim = ["--simulate", "--quiet", "--seed", "3"];
    let pauses = ["--pause", "1500ms-3s", "--pause", "4500ms-20s"];
    let started = Instant::now();
    let mut child = Command::new(bin())
        .arg("record")
        .args(sim)
        .args(pauses)
        .args(["--realtime", "--duration", "30s", "--signing-key", key_s])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(6_200));
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let alive = started.elapsed().as_secs_f64();
    assert!(!out.join("metadata.json").exists());

    let (ok, text) = run(&["recover", out.to_str().unwrap(), "--signing-key", key_s]);
    assert!(ok, "recover: {text}");
    assert!(text.contains("metadata.json: rebuilt"), "{text}");
    let (ok, text) = run(&[
        "verify",
        out.to_str().unwrap(),
        "--public-key",
        pubk.to_str().unwrap(),
    ]);
    assert!(ok, "verify: {text}");

    // The signed status history: both pauses and the resume, at their call times, then `interrupted`.
    let manifest = json_file(&out.join("manifest.json"));
    let history: Vec<(i64, String)> = manifest["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["at"].as_i64().unwrap(),
                s["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let statuses: Vec<&str> = history.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["recording", "paused", "recording", "paused", "interrupted"],
        "{history:?}"
    );
    assert_eq!(history[1].0, 15_000_000);
    assert_eq!(history[2].0, 30_000_000);
    assert_eq!(history[3].0, 45_000_000);
    assert!(manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "metadata.json"));

    let md = json_file(&out.join("metadata.json"));
    let rec = &md["recording"];
    assert_eq!(rec["status"], "interrupted");
    assert_eq!(rec["rebuilt_after_crash"], true);
    let duration_us = rec["duration_us"].as_i64().unwrap();
    let as_of_us = rec["counters_as_of_us"].as_i64().unwrap();
    // Lost at most: one chunk (1 s) + the sync interval (1 s) + latency and start-up (as in the test above).
    assert!(
        duration_us as f64 / 1e6 >= alive - 2.8,
        "{duration_us} µs kept after {alive:.2} s alive"
    );
    assert_eq!(
        duration_us,
        (ffprobe_duration(&out.join("mixed.wav")) * 1e6).round() as i64
    );
    // The counters lag the media kept by at most one sync interval (+ a tick of polling).
    assert!(
        duration_us - as_of_us <= 1_020_000 && as_of_us > 0,
        "counters as of {as_of_us} µs, media until {duration_us} µs"
    );
    let pauses = md["call"]["pauses"].as_array().expect("pauses rebuilt");
    assert_eq!(pauses.len(), 2, "{pauses:?}");
    assert_eq!(pauses[0]["start_us"], 1_500_000);
    assert_eq!(pauses[0]["end_us"], 3_000_000);
    assert_eq!(pauses[0]["resumed_by"], "verbatim record --pause");
    assert_eq!(pauses[1]["start_us"], 4_500_000);
    assert_eq!(pauses[1]["end_us"], duration_us, "open at the crash");
    assert!(pauses[1].get("resumed_by").is_none());

    // A normal close of the same call, recorded until the counters' time.
    let normal = base.join("normal");
    let (ok, text) = run(&[
        &["record"][..],
        &sim,
        &pauses_args(),
        &[
            "--duration",
            &format!("{as_of_us}us"),
            "--signing-key",
            key_s,
            "--out",
            normal.to_str().unwrap(),
        ],
    ]
    .concat());
    assert!(ok, "{text}");
    let reference = json_file(&normal.join("metadata.json"));
    let same_keys = |a: &serde_json::Value, b: &serde_json::Value, path: &str| {
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return;
        };
        let ka: Vec<_> = a.keys().collect();
        let kb: Vec<_> = b.keys().collect();
        assert_eq!(ka, kb, "{path}: the rebuilt file has another schema");
    };
    for section in ["call", "counters"] {
        same_keys(&md[section], &reference[section], section);
    }
    let rp = reference["participants"].as_array().unwrap();
    let mp = md["participants"].as_array().unwrap();
    assert_eq!(mp.len(), rp.len());
    for (m, r) in mp.iter().zip(rp) {
        same_keys(m, r, "participant");
        assert_eq!(m["name"], r["name"]);
        assert_eq!(m["id"], r["id"]);
        assert_eq!(m["joined_us"], r["joined_us"]);
        // One fragment: 50 frames of 20 ms, 16,000 samples at 16 kHz.
        for (field, within) in [
            ("frames_delivered", 50),
            ("frames_written", 50),
            ("samples_written", 16_000),
        ] {
            let (a, b) = (m[field].as_i64().unwrap(), r[field].as_i64().unwrap());
            assert!(
                (a - b).abs() <= within,
                "{}: {field} rebuilt {a}, normal close {b}",
                m["name"]
            );
        }
        // Every gap the normal close lists that ended a fragment before its end is in the rebuilt list.
        let rebuilt_gaps = m["gaps"].as_array().unwrap();
        for g in r["gaps"].as_array().unwrap() {
            let end = g["start_us"].as_i64().unwrap() + g["length_us"].as_i64().unwrap();
            if end < as_of_us - 1_000_000 {
                assert!(
                    rebuilt_gaps.contains(g),
                    "{}: gap {g} lost: {rebuilt_gaps:?}",
                    m["name"]
                );
            }
        }
    }
    // The pauses the normal close saw (those begun before its end) are the same spans.
    let np = reference["call"]["pauses"].as_array().unwrap();
    assert_eq!(
        np.len(),
        pauses
            .iter()
            .filter(|p| p["start_us"].as_i64().unwrap() < as_of_us)
            .count()
    );
    for (m, r) in pauses.iter().zip(np) {
        assert_eq!(m["start_us"], r["start_us"]);
        assert_eq!(m["requested_by"], r["requested_by"]);
        if r.get("resumed_by").is_some() {
            assert_eq!(m["end_us"], r["end_us"]);
            assert_eq!(m["resumed_by"], r["resumed_by"]);
        }
    }
    let _ = std::fs::remove_dir_all(&base);
}

fn pauses_args() -> [&'static str; 4] {
    ["--pause", "1500ms-3s", "--pause", "4500ms-20s"]
}

/// The public key file next to a test signing key (written on first use).
fn dir_pub_key(key: &Path) -> std::path::PathBuf {
    let p = key.with_extension("pub");
    if !p.exists() {
        let k = muxer::integrity::load_signing_key(key).unwrap();
        std::fs::write(&p, muxer::integrity::public_key_text(&k.verifying_key())).unwrap();
    }
    p
}

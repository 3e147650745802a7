//! Redundant recorders end to end: two legs of one simulated meeting recorded by `verbatim record --leg`,
//! merged by `verbatim merge`, checked by `verbatim verify --leg` (every merged span equal to its leg's) and
//! by ffmpeg; a leg that dies, one killed with SIGKILL and recovered, one that reconnects into a second
//! folder, legs whose platforms conceal differently, and legs altered after the merge.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_verbatim")
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, out) = run(args);
    assert_eq!(code, 0, "verbatim {args:?}:\n{out}");
    out
}

fn key() -> String {
    test_key().to_str().unwrap().to_string()
}

/// The public key file of the test key (verify authenticates the signer with it).
fn public_key() -> String {
    let k = test_key();
    let p = k.with_extension("pub");
    let s = muxer::integrity::load_signing_key(&k).unwrap();
    std::fs::write(&p, muxer::integrity::public_key_text(&s.verifying_key())).unwrap();
    p.to_str().unwrap().to_string()
}

/// Records one leg of the seed-`seed` stand-up (`extra`: the leg's options).
fn record_leg(out: &Path, seed: u64, duration: &str, video: bool, extra: &[&str]) {
    let (k, s) = (key(), seed.to_string());
    let mut args = vec![
        "record",
        "--simulate",
        "--meeting",
        "standup",
        "--participants",
        "4",
        "--duration",
        duration,
        "--seed",
        &s,
        "--quiet",
        "--signing-key",
        &k,
        "--out",
        out.to_str().unwrap(),
    ];
    if video {
        args.push("--video");
    }
    args.extend_from_slice(extra);
    ok(&args);
}

fn metadata(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap()
}

fn merge(legs: &[&Path], out: &Path) -> Value {
    let k = key();
    let mut args = vec![
        "merge",
        "--json",
        "--signing-key",
        &k,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(legs.iter().map(|l| l.to_str().unwrap()));
    let out = Command::new(bin()).args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "merge: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `verify MERGED --leg …` with the test key: its exit code and output.
fn verify_with_legs(merged: &Path, legs: &[&Path]) -> (i32, String) {
    let pk = public_key();
    let mut args = vec!["verify", merged.to_str().unwrap(), "--public-key", &pk];
    for l in legs {
        args.push("--leg");
        args.push(l.to_str().unwrap());
    }
    run(&args)
}

/// Non-zero samples of every participant stem of a folder (the synthetic voice is never zero in speech).
fn samples_written(dir: &Path) -> u64 {
    metadata(dir)["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let f = dir.join(format!("participants/{}.wav", p["name"].as_str().unwrap()));
            read_wav(&f).iter().filter(|&&x| x != 0).count() as u64
        })
        .sum()
}

/// Every sample each leg's ledger says it received is in the merged stem, at the place the provenance's
/// offset for that leg and participant puts it, with the leg's value (no concealment: legs agree).
fn every_received_sample_lands(merged: &Path, legs: &[&Path]) {
    let prov: Value =
        serde_json::from_slice(&std::fs::read(merged.join("provenance.json")).unwrap()).unwrap();
    for p in prov["participants"].as_array().unwrap() {
        let m = read_wav(&merged.join(p["file"].as_str().unwrap()));
        for (k, leg) in legs.iter().enumerate() {
            let Some(file) = p["source_files"][k].as_str() else {
                continue;
            };
            // The leg's offsets for this participant, from the spans taken from it.
            let mut offs: Vec<i64> = p["spans"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s[2].as_u64() == Some(k as u64))
                .map(|s| s[0].as_i64().unwrap() - s[3].as_i64().unwrap())
                .collect();
            let l = read_wav(&leg.join(file));
            offs.sort_unstable();
            offs.dedup();
            let name = file
                .trim_start_matches("participants/")
                .trim_end_matches(".wav");
            let md = metadata(leg);
            let part = md["participants"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == name)
                .unwrap();
            // Held = non-zero runs of the leg (the synthetic voice has no zero inside speech). A run lies at
            // one of the offsets spans were taken at, or (a segment the other leg won, anchored differently)
            // at another one found near the leg's offset.
            let mut missing = 0u64;
            let mut held = 0u64;
            let at = |o: i64, a: usize, b: usize| {
                usize::try_from(a as i64 + o)
                    .ok()
                    .and_then(|j| m.get(j..j + (b - a)))
                    == Some(&l[a..b])
            };
            let mut i = 0;
            while i < l.len() {
                if l[i] == 0 {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < l.len() && l[i] != 0 {
                    i += 1;
                }
                held += (i - start) as u64;
                if offs.iter().any(|&o| at(o, start, i)) {
                    continue;
                }
                let g = prov["sources"][k]["offset_samples"].as_i64().unwrap();
                if let Some(o) = (g - 16_000..=g + 16_000).find(|&o| at(o, start, i)) {
                    offs.push(o);
                } else {
                    missing += (i - start) as u64;
                }
            }
            assert!(held > 0 || part["samples_written"] == 0);
            assert_eq!(
                missing,
                0,
                "{}: {missing} of {held} samples {} received are not in the merged stem",
                name,
                leg.display()
            );
        }
    }
}

fn lost_us(md: &Value) -> u64 {
    md["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["losses"]["inferred_loss_us"].as_u64().unwrap_or(0))
        .sum()
}

fn ffmpeg_decodes(path: &Path) {
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg (scripts/setup.sh installs it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two legs, each with Teams-like loss on its own path and none on the uplinks: the merged recording holds
/// every sample either leg received, loses far less than either, verifies, and every span matches its leg.
#[test]
fn two_lossy_legs_merge_into_a_recording_that_loses_less_than_either() {
    let base = temp_dir("merge-two");
    let (a, b, m) = (base.join("leg1"), base.join("leg2"), base.join("merged"));
    let imp = ["--leg-impair", "teams-x3"];
    record_leg(&a, 11, "3m", true, &[&["--leg", "1"][..], &imp].concat());
    record_leg(&b, 11, "3m", true, &[&["--leg", "2"][..], &imp].concat());
    let (ma, mb) = (metadata(&a), metadata(&b));
    assert_eq!(ma["call"]["id"], mb["call"]["id"]);
    assert_ne!(
        ma["recording"]["reference_origin"], mb["recording"]["reference_origin"],
        "each leg has its own platform clock"
    );
    let r = merge(&[&a, &b], &m);
    assert_eq!(r["sources"][1]["aligned_by"], "content", "{r:#}");
    let mm = metadata(&m);
    let (la, lb, lm) = (lost_us(&ma), lost_us(&mb), lost_us(&mm));
    assert!(
        la > 0 && lb > 0,
        "each leg lost speech on its path: {la} {lb}"
    );
    assert!(
        lm * 5 < la.min(lb),
        "merged lost {lm} µs, legs {la} and {lb} µs"
    );
    assert!(samples_written(&m) > samples_written(&a).max(samples_written(&b)));
    for p in r["participants"].as_array().unwrap() {
        assert_eq!(
            p["disagreeing_frames"], 0,
            "no concealment: legs agree: {p}"
        );
    }
    every_received_sample_lands(&m, &[&a, &b]);
    let (code, out) = verify_with_legs(&m, &[&a, &b]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0 mismatches, 0 unattributed samples"),
        "{out}"
    );
    // Video: each stream at least as many frames as the better leg, decodable; the composite too.
    for v in r["videos"].as_array().unwrap() {
        assert!(v["frames"].as_u64() >= v["best_leg_frames"].as_u64(), "{v}");
        ffmpeg_decodes(&m.join(v["path"].as_str().unwrap()));
    }
    assert!(!r["videos"].as_array().unwrap().is_empty());
    ffmpeg_decodes(&m.join("recording.mp4"));
    let d = ffprobe_duration(&m.join("mixed.wav"));
    assert!((d - 180.0).abs() < 0.5, "mixed.wav {d} s");

    // Altered after the merge: a byte of a leg's stem (the leg is no longer intact), the leg's manifest
    // (the merged folder no longer names it), and a merged span (the merged folder is not intact).
    let stem = a
        .join("participants")
        .read_dir()
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wav"))
        .unwrap();
    let orig = std::fs::read(&stem).unwrap();
    let mut bad = orig.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x40;
    std::fs::write(&stem, &bad).unwrap();
    let (code, out) = verify_with_legs(&m, &[&a, &b]);
    assert_eq!(code, 1, "altered leg stem:\n{out}");
    std::fs::write(&stem, &orig).unwrap();
    let man = b.join("manifest.json");
    let orig_man = std::fs::read(&man).unwrap();
    std::fs::write(&man, [orig_man.as_slice(), b" "].concat()).unwrap();
    let (code, out) = verify_with_legs(&m, &[&a, &b]);
    assert_eq!(code, 1, "altered leg manifest:\n{out}");
    std::fs::write(&man, &orig_man).unwrap();
    assert_eq!(verify_with_legs(&m, &[&a, &b]).0, 0);
    std::fs::remove_dir_all(&base).unwrap();
}

/// A leg that dies at 40 % of the call: the merged recording is complete from the other leg (it holds
/// everything the surviving leg holds, plus what only the dead leg had before it died).
#[test]
fn a_leg_that_dies_at_40_percent_leaves_the_other_legs_recording_whole() {
    let base = temp_dir("merge-dies");
    let (a, b, m) = (base.join("leg1"), base.join("leg2"), base.join("merged"));
    record_leg(
        &a,
        12,
        "150s",
        false,
        &["--leg", "1", "--leg-impair", "loss=2%"],
    );
    record_leg(
        &b,
        12,
        "150s",
        false,
        &[
            "--leg",
            "2",
            "--leg-impair",
            "loss=2%",
            "--leg-span",
            "-60s",
        ],
    );
    let dur_b = metadata(&b)["recording"]["duration_us"].as_u64().unwrap();
    assert!(
        (59_000_000..=61_000_000).contains(&dur_b),
        "leg 2 lasted {dur_b} µs"
    );
    // The short leg first: the merge still spans the whole call.
    merge(&[&b, &a], &m);
    let mm = metadata(&m);
    let d = mm["recording"]["duration_us"].as_u64().unwrap();
    assert!((149_500_000..=150_500_000).contains(&d), "merged {d} µs");
    assert!(samples_written(&m) >= samples_written(&a));
    every_received_sample_lands(&m, &[&b, &a]);
    assert_eq!(verify_with_legs(&m, &[&a, &b]).0, 0);
    std::fs::remove_dir_all(&base).unwrap();
}

/// A leg killed with SIGKILL mid-call is refused until recovered, then merged (status `interrupted`).
#[test]
fn a_killed_leg_is_merged_once_recovered() {
    let base = temp_dir("merge-killed");
    let (a, b, m) = (base.join("leg1"), base.join("leg2"), base.join("merged"));
    record_leg(
        &a,
        13,
        "20s",
        false,
        &["--leg", "1", "--leg-impair", "loss=3%"],
    );
    let k = key();
    let mut child = Command::new(bin())
        .args([
            "record",
            "--simulate",
            "--meeting",
            "standup",
            "--participants",
            "4",
            "--duration",
            "20s",
            "--seed",
            "13",
            "--quiet",
            "--realtime",
            "--leg",
            "2",
            "--leg-impair",
            "loss=3%",
            "--signing-key",
            &k,
            "--out",
            b.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(8));
    child.kill().unwrap();
    let _ = child.wait();
    let (code, out) = run(&[
        "merge",
        "--signing-key",
        &k,
        "--out",
        m.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(out.contains("verbatim recover"), "{out}");
    let _ = std::fs::remove_dir_all(&m);
    ok(&["recover", "--signing-key", &k, b.to_str().unwrap()]);
    assert_eq!(metadata(&b)["recording"]["status"], "interrupted");
    let r = merge(&[&a, &b], &m);
    assert_eq!(r["sources"][1]["status"], "interrupted");
    every_received_sample_lands(&m, &[&a, &b]);
    assert_eq!(verify_with_legs(&m, &[&a, &b]).0, 0);
    std::fs::remove_dir_all(&base).unwrap();
}

/// A leg that reconnects continues in a second folder linked to the first; the merge takes all three
/// folders, and the reconnect's hole is covered by the other leg.
#[test]
fn a_reconnected_leg_merges_from_both_of_its_folders() {
    let base = temp_dir("merge-reconnect");
    let (a, b1, b2, m) = (
        base.join("leg1"),
        base.join("leg2a"),
        base.join("leg2b"),
        base.join("merged"),
    );
    record_leg(
        &a,
        14,
        "100s",
        false,
        &["--leg", "1", "--leg-impair", "loss=2%"],
    );
    record_leg(
        &b1,
        14,
        "100s",
        false,
        &[
            "--leg",
            "2",
            "--leg-impair",
            "loss=2%",
            "--leg-span",
            "-40s",
        ],
    );
    let b1s = b1.to_str().unwrap().to_string();
    record_leg(
        &b2,
        14,
        "100s",
        false,
        &[
            "--leg",
            "2",
            "--leg-impair",
            "loss=2%",
            "--leg-span",
            "50s-",
            "--continues",
            &b1s,
        ],
    );
    let link = &metadata(&b2)["call"]["continues"];
    assert_eq!(link["folder"], "leg2a", "{link}");
    let r = merge(&[&a, &b1, &b2], &m);
    assert_eq!(r["sources"].as_array().unwrap().len(), 3);
    every_received_sample_lands(&m, &[&a, &b1, &b2]);
    assert!(samples_written(&m) >= samples_written(&a));
    assert_eq!(verify_with_legs(&m, &[&a, &b1, &b2]).0, 0);
    std::fs::remove_dir_all(&base).unwrap();
}

/// Legs whose platforms conceal their own losses hold different samples there: the merge takes one leg's,
/// counts the disagreement, and every span still matches the leg it names.
#[test]
fn concealing_legs_disagree_and_the_merge_counts_it() {
    let base = temp_dir("merge-conceal");
    let (a, b, m) = (base.join("leg1"), base.join("leg2"), base.join("merged"));
    let extra = ["--leg-impair", "loss=3%", "--leg-conceal"];
    record_leg(
        &a,
        15,
        "60s",
        false,
        &[&["--leg", "1"][..], &extra].concat(),
    );
    record_leg(
        &b,
        15,
        "60s",
        false,
        &[&["--leg", "2"][..], &extra].concat(),
    );
    let r = merge(&[&a, &b], &m);
    let frames: u64 = r["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["disagreeing_frames"].as_u64().unwrap())
        .sum();
    assert!(frames > 0, "concealed frames differ between legs: {r:#}");
    let md = metadata(&m);
    let counted: u64 = md["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["disagreement"]["frames"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, frames);
    let (code, out) = verify_with_legs(&m, &[&a, &b]);
    assert_eq!(code, 0, "{out}");
    std::fs::remove_dir_all(&base).unwrap();
}

/// Folders of different calls are refused with a message naming both.
#[test]
fn folders_of_different_calls_are_refused() {
    let base = temp_dir("merge-refuse");
    let (a, b): (PathBuf, PathBuf) = (base.join("a"), base.join("b"));
    record_leg(&a, 16, "5s", false, &[]);
    record_leg(&b, 17, "5s", false, &[]);
    let k = key();
    let (code, out) = run(&[
        "merge",
        "--signing-key",
        &k,
        "--out",
        base.join("m").to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("records call"), "{out}");
    std::fs::remove_dir_all(&base).unwrap();
}

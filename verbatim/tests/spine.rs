//! End-to-end tests of the audio spine (issue 2): simulated Teams buffers in, stems, mix and metadata out.

mod common;

use bot_adapter::sim::{synthetic, MeetingSpec};
use common::*;
use media_core::MediaTime;
use verbatim::record::record_simulation;

fn metadata(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap()
}

#[test]
fn four_speakers_are_recorded_sample_exact_and_the_mix_is_their_saturating_sum() {
    let out = temp_dir("exact");
    let parts = four_speakers();
    let spec = MeetingSpec {
        participants: parts.clone(),
        duration: None,
        seed: 1,
        impairments: Default::default(),
        screenshares: Vec::new(),
    };
    let o = record_simulation(spec, &options(&out)).unwrap();
    assert_eq!(o.summary.duration, MediaTime::from_secs(24));
    let mut inputs = Vec::new();
    for p in &parts {
        let stem = read_wav(&out.join(format!("participants/{}.wav", p.name)));
        assert_eq!(stem.len(), 384_000, "{}", p.name);
        assert!(
            stem == p.audio.to_pcm(),
            "{}: stem differs from its input",
            p.name
        );
        inputs.push(stem);
        assert!(
            (ffprobe_duration(&out.join(format!("participants/{}.wav", p.name))) - 24.0).abs()
                < 1e-3
        );
    }
    let mixed = read_wav(&out.join("mixed.wav"));
    assert_eq!(mixed.len(), 384_000);
    let mut clipped = 0;
    for (i, m) in mixed.iter().enumerate() {
        let sum: i32 = inputs.iter().map(|s| s[i] as i32).sum();
        let want = sum.clamp(i16::MIN as i32, i16::MAX as i32);
        clipped += (want != sum) as u64;
        assert_eq!(*m as i32, want, "mix sample {i}");
    }
    let md = metadata(&out);
    let report = verify(&out);
    assert!(report.files >= 7, "{}", report.summary);
    assert_eq!(md["recording"]["duration_us"], 24_000_000);
    assert_eq!(md["recording"]["status"], "completed");
    assert_eq!(md["recording"]["mix_clipped_samples"], clipped);
    for (p, r) in md["participants"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&o.sim.participants)
    {
        assert_eq!(p["frames_written"], r.sent, "{}", r.name);
        assert_eq!(p["late_dropped"], 0);
    }
}

#[test]
fn teams_x3_impairments_lose_nothing_silently() {
    for seed in [3u64, 11] {
        let out = temp_dir(&format!("x3-{seed}"));
        let parts = four_speakers();
        let spec = MeetingSpec {
            participants: parts.clone(),
            duration: None,
            seed,
            impairments: "teams-x3".parse().unwrap(),
            screenshares: Vec::new(),
        };
        let o = record_simulation(spec, &options(&out)).unwrap();
        let md = metadata(&out);
        let len = o.summary.duration.to_samples(16_000) as usize;
        for (i, r) in o.sim.participants.iter().enumerate() {
            let p = &md["participants"][i];
            assert_eq!(p["name"], r.name.as_str());
            let stem = read_wav(&out.join(format!("participants/{}.wav", r.name)));
            assert_eq!(
                stem.len(),
                len,
                "{}: every stem is exactly as long as the recording",
                r.name
            );
            let g = |k: &str| p[k].as_u64().unwrap();
            // Inside the recorder: every frame handed over is written or dropped with a reason.
            assert_eq!(
                g("frames_delivered"),
                g("frames_written")
                    + g("late_dropped")
                    + g("duplicates_dropped")
                    + g("outliers_dropped")
                    + g("wrong_format_dropped")
                    + g("overrun_dropped"),
                "{}",
                r.name
            );
            assert_eq!(
                g("frames_delivered"),
                g("frames_written") + g("frames_dropped")
            );
            assert_eq!(g("frames_delivered"), r.delivered);
            assert_eq!(
                g("duplicates_dropped"),
                r.duplicated,
                "{}: every duplicate is recognised",
                r.name
            );
            // End to end: written + lost = sent.
            let lost = r.lost_network + r.suppressed_top4 + r.pending_at_end + g("late_dropped");
            assert_eq!(
                g("frames_written") + lost,
                r.sent,
                "{}: written + lost = sent",
                r.name
            );
            assert!(r.lost_network > 0, "the preset must lose frames");

            // Every lost frame's span is silence and lies inside a gap listed in metadata. The frame's place
            // is taken from its neighbour frame in the stem (absolute placement under jitter follows the
            // smallest delay seen, so it is located, not assumed).
            let input = &parts[i].audio.to_pcm();
            let gaps: Vec<(i64, i64)> = p["gaps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["start_us"].as_i64().unwrap(),
                        g["length_us"].as_i64().unwrap(),
                    )
                })
                .collect();
            let mut checked = 0;
            for &j in &r.lost_frames {
                let j = j as usize;
                if j == 0 || (j - 1) * 320 + 320 > input.len() {
                    continue;
                }
                let prev = &input[(j - 1) * 320..j * 320];
                if prev.iter().all(|s| *s == 0) || r.lost_frames.contains(&(j as u64 - 1)) {
                    continue;
                }
                let Some(pos) = find(&stem, prev, (j - 1) * 320) else {
                    continue;
                };
                let at = pos + 320;
                assert!(
                    stem[at..at + 320].iter().all(|s| *s == 0),
                    "{} frame {j}: lost span not silent",
                    r.name
                );
                let at_us = at as i64 * 1_000_000 / 16_000;
                assert!(
                    gaps.iter()
                        .any(|&(s, l)| s <= at_us && at_us + 20_000 <= s + l),
                    "{} frame {j} at {at_us} us is in no gap",
                    r.name
                );
                checked += 1;
            }
            assert!(
                checked > 0 || r.lost_frames.is_empty(),
                "{}: no lost frame could be checked",
                r.name
            );
            assert_eq!(gaps.len() as u64, o.summary.participants[i].gaps.count);
        }
        // metadata.json's lists are timeline.jsonl read back: one line per gap and speaker change.
        let lines = std::fs::read_to_string(out.join("timeline.jsonl")).unwrap();
        let listed: usize = (0..o.sim.participants.len())
            .map(|i| md["participants"][i]["gaps"].as_array().unwrap().len())
            .sum::<usize>()
            + md["dominant_speakers"].as_array().unwrap().len();
        let of = |kind: &str| {
            lines
                .lines()
                .filter(|l| l.contains(&format!("\"event\":\"{kind}\"")))
                .count()
        };
        assert_eq!(of("audio_gap") + of("dominant_speaker"), listed);
        // Each participant joined once and left at the end of the call.
        assert_eq!(of("joined"), o.sim.participants.len());
        assert_eq!(of("left"), o.sim.participants.len());
        // Besides: a counter snapshot per second of recording and per participant added at most
        // (metadata.json as of then, for `recover`), and at least one.
        let snapshots = of("counters");
        let secs = md["recording"]["duration_us"].as_u64().unwrap() / 1_000_000;
        let most = secs + 1 + o.sim.participants.len() as u64;
        assert!((1..=most).contains(&(snapshots as u64)), "{snapshots}");
        assert_eq!(
            lines.lines().count(),
            listed + 2 * o.sim.participants.len() + snapshots
        );
        assert!(listed > 0);
        assert_eq!(md["counters"]["timeline_unreadable_lines"], 0);
    }
}

/// Finds `needle` in `hay` within ±150 ms of `near`.
fn find(hay: &[i16], needle: &[i16], near: usize) -> Option<usize> {
    let lo = near.saturating_sub(2400);
    let hi = (near + 2400).min(hay.len().saturating_sub(needle.len()));
    (lo..=hi).find(|&s| hay[s..s + needle.len()] == *needle)
}

#[test]
fn clock_drift_of_200_ppm_over_ten_minutes_stays_within_20_ms() {
    let d = MediaTime::from_secs(600);
    let parts = synthetic::participants(2, d, 5);
    let spec = MeetingSpec {
        participants: parts.clone(),
        duration: Some(d),
        seed: 5,
        impairments: "drift=200ppm".parse().unwrap(),
        screenshares: Vec::new(),
    };
    let out = temp_dir("drift");
    let o = record_simulation(spec, &options(&out)).unwrap();
    let r = &o.sim.participants[0];
    assert_eq!(r.drift_ppm, 200.0);
    let stem = read_wav(&out.join(format!("participants/{}.wav", r.name)));
    assert_eq!(stem.len(), 600 * 16_000);
    let input = &parts[0].audio.to_pcm();
    // Frames of the last 30 s: where they are in the stem versus when they were really captured.
    let mut worst = 0i64;
    let mut checked = 0;
    let last = (input.len() / 320).min(30_006);
    for j in (last - 1_500..last).step_by(7) {
        let f = &input[j * 320..j * 320 + 320];
        if f.iter().filter(|s| **s != 0).count() < 200 {
            continue;
        }
        let truth = r.capture_time(j as u64).to_samples(16_000);
        if truth as usize + 4000 > stem.len() {
            continue;
        }
        let Some(pos) = find(&stem, &f[..160], truth as usize) else {
            continue;
        };
        worst = worst.max((pos as i64 - truth).abs());
        checked += 1;
    }
    assert!(checked > 20, "only {checked} frames found");
    assert!(
        worst <= 320,
        "worst placement error {} ms",
        worst as f64 / 16.0
    );
    let est = o.summary.participants[0].drift_ppm;
    assert!((est - 200.0).abs() < 30.0, "estimated drift {est} ppm");
}

/// `verbatim listen` runs every call's media work on a few shared threads (`MediaPool`) and every call's
/// folder writer on a few shared writer threads: three calls recorded at once on one media thread and one
/// writer thread give the same stems and mix, sample for sample, as each recorded alone, and verify.
#[test]
fn calls_sharing_one_media_thread_are_recorded_as_if_alone() {
    use bot_adapter::sim::Impairments;
    use std::sync::Arc;
    use verbatim::media_worker::MediaPool;
    use verbatim::writer_thread::{WriterOptions, WriterPool};

    let spec = |seed: u64| MeetingSpec {
        participants: synthetic::participants(4, MediaTime::from_secs(8), seed),
        duration: Some(MediaTime::from_secs(8)),
        seed,
        impairments: "jitter=40ms,loss=2%".parse::<Impairments>().unwrap(),
        screenshares: Vec::new(),
    };
    let media_pool = Arc::new(MediaPool::new(1).unwrap());
    let writer_pool = Arc::new(WriterPool::new(1, WriterOptions::default()).unwrap());
    let shared: Vec<_> = (0..3u64)
        .map(|i| {
            let out = temp_dir(&format!("pool-shared-{i}"));
            let mut o = options(&out);
            o.media_pool = Some(Arc::clone(&media_pool));
            o.writer_pool = Some(Arc::clone(&writer_pool));
            std::thread::spawn(move || {
                record_simulation(spec(20 + i), &o).unwrap();
                out
            })
        })
        .collect();
    let shared: Vec<_> = shared.into_iter().map(|h| h.join().unwrap()).collect();
    for (i, dir) in shared.iter().enumerate() {
        let alone = temp_dir(&format!("pool-alone-{i}"));
        record_simulation(spec(20 + i as u64), &options(&alone)).unwrap();
        let a = read_wav(&alone.join("mixed.wav"));
        let b = read_wav(&dir.join("mixed.wav"));
        assert_eq!(a.len(), 8 * 16_000);
        assert!(
            a == b,
            "call {i}: the mix differs when the threads are shared"
        );
        for name in ["alice", "bob", "carol", "dave"] {
            let p = format!("participants/{name}.wav");
            assert!(
                read_wav(&alone.join(&p)) == read_wav(&dir.join(&p)),
                "call {i}: {p} differs"
            );
        }
        let md = metadata(dir);
        assert_eq!(md["recording"]["status"], "completed");
        let key = verbatim::keys::signing_key(Some(&test_key())).unwrap().0;
        let r = muxer::verify::verify_dir(dir, Some(&key.verifying_key())).unwrap();
        assert!(r.summary.starts_with("intact"), "{}", r.summary);
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::remove_dir_all(&alone).unwrap();
    }
}

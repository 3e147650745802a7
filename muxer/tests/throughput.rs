//! Throughput of the whole folder writer and of verify (a measurement, not an assertion on time).
//! Run: `cargo test -p muxer --release --test throughput -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use common::*;
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::TrackSpec;
use muxer::{RecordingOptions, RecordingWriter, Status};

#[test]
#[ignore = "measurement; run in release"]
fn ten_minutes_of_four_stems_and_a_720p_mp4() {
    run(MediaTime::from_secs(1), "fsync every 1 s (default)");
    run(MediaTime::MAX, "no periodic fsync");
}

fn run(sync_interval: MediaTime, label: &str) {
    let minutes = 10i64;
    let dir = scratch_dir("throughput");
    let key = muxer::integrity::generate_signing_key().unwrap();
    let frames = erin_frames();
    let (packets, pre_skip) = opus_packets(500);
    let pcm = speech("alice");
    let t0 = Instant::now();
    let mut opts = RecordingOptions::new("bench", 0);
    opts.sync_interval = sync_interval;
    let mut rec = RecordingWriter::create(&dir, key.clone(), opts).unwrap();
    rec.set_status(Status::Recording, MediaTime::ZERO, "")
        .unwrap();
    let stems: Vec<_> = (0..4)
        .map(|i| {
            rec.add_wav(&format!("participants/p{i}.wav"), AudioFormat::PCM16K)
                .unwrap()
        })
        .collect();
    let mp4 = rec
        .add_mp4(
            "recording.mp4",
            &[TrackSpec::h264(), TrackSpec::opus(1, pre_skip)],
        )
        .unwrap();
    let mut vi = 0usize;
    let slots = (minutes * 60 * 50) as usize;
    for slot in 0..slots {
        let now = MediaTime::from_millis(20 * slot as i64);
        let at = (slot * 320) % pcm.len();
        for s in &stems {
            rec.write_pcm(*s, &pcm[at..at + 320]).unwrap();
        }
        loop {
            let f = &frames[vi % frames.len()];
            let pts = f
                .pts
                .saturating_add(MediaTime::from_secs(10 * (vi / frames.len()) as i64));
            if pts > now {
                break;
            }
            rec.write_sample(mp4, 0, pts, f.annexb.clone()).unwrap();
            vi += 1;
        }
        rec.write_sample(mp4, 1, now, packets[slot % packets.len()].clone())
            .unwrap();
        rec.tick(now).unwrap();
    }
    let s = rec
        .finish(Status::Completed, MediaTime::from_secs(minutes * 60), "")
        .unwrap();
    let write = t0.elapsed();
    let bytes: u64 = s.files.iter().map(|f| f.size).sum();
    let t1 = Instant::now();
    let r = muxer::verify::verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    let verify = t1.elapsed();
    let manifest = std::fs::metadata(dir.join("manifest.json")).unwrap().len();
    eprintln!(
        "{label}: {minutes} min, {} MB, {} records, manifest {} KB: write {:.2} s ({:.0}x real time), verify {:.2} s ({:.0} MB/s)",
        bytes / 1_000_000,
        s.entry_count,
        manifest / 1000,
        write.as_secs_f64(),
        (minutes * 60) as f64 / write.as_secs_f64(),
        verify.as_secs_f64(),
        bytes as f64 / 1e6 / verify.as_secs_f64()
    );
    assert_eq!(r.entries, s.entry_count);
    std::fs::remove_dir_all(&dir).unwrap();
}

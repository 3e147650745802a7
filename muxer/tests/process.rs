//! Real process deaths: `kill -9` in the middle of a recording, and a file-size limit (EFBIG, like a full
//! disk) hit while writing. The recording runs in a child process (this test binary, re-run in "child" mode).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::TrackSpec;
use muxer::integrity::{generate_signing_key, load_signing_key, save_signing_key};
use muxer::recover::{recover_dir, RecoverAction};
use muxer::verify::verify_dir;
use muxer::{RecordingError, RecordingOptions, RecordingWriter, Status};

const CHILD_DIR: &str = "VERBATIM_TEST_CHILD_DIR";
const CHILD_KEY: &str = "VERBATIM_TEST_CHILD_KEY";
const CHILD_MODE: &str = "VERBATIM_TEST_CHILD_MODE";

fn alice() -> Vec<i16> {
    speech("alice")
}

/// The child: records 120 s of media (slowed down so the parent can kill it mid-way), or, under a file-size
/// limit, up to 600 s until the MP4 hits the limit.
#[test]
#[ignore = "run by the other tests in a child process"]
fn child_writer() {
    let (Some(dir), Some(key)) = (std::env::var_os(CHILD_DIR), std::env::var_os(CHILD_KEY)) else {
        return;
    };
    let slow = std::env::var(CHILD_MODE).as_deref() == Ok("kill");
    let key = load_signing_key(Path::new(&key)).unwrap();
    let mut rec =
        RecordingWriter::create(Path::new(&dir), key, RecordingOptions::new("child", 0)).unwrap();
    rec.set_status(Status::Recording, MediaTime::ZERO, "")
        .unwrap();
    let stem = rec
        .add_wav("participants/alice.wav", AudioFormat::PCM16K)
        .unwrap();
    let frames = erin_frames();
    let (packets, pre_skip) = opus_packets(500);
    let mp4 = rec
        .add_mp4(
            "recording.mp4",
            &[TrackSpec::h264(), TrackSpec::opus(1, pre_skip)],
        )
        .unwrap();
    let pcm = alice();
    // Under the size limit, the MP4 must be the file that hits it. The test clip is small (this MP4 grows
    // ~12 KB/s with its Opus track, where a real 720p camera alone sends 100+ KB/s), so alice's stem (32 KB/s)
    // would get there first: there she leaves after 10 s, and the call goes on long enough for a 2 MiB limit.
    let (slots, stem_slots) = if slow { (6000, 6000) } else { (30_000, 500) };
    let mut vi = 0usize;
    let mut failed = None;
    for slot in 0..slots {
        let now = MediaTime::from_millis(20 * slot as i64);
        let r = (|| -> Result<(), RecordingError> {
            if slot < stem_slots {
                let at = (slot * 320) % pcm.len();
                rec.write_pcm(stem, &pcm[at..at + 320])?;
            }
            loop {
                let f = &frames[vi % frames.len()];
                let pts = f
                    .pts
                    .saturating_add(MediaTime::from_secs(10 * (vi / frames.len()) as i64));
                if pts > now {
                    break;
                }
                rec.write_sample(mp4, 0, pts, f.annexb.clone())?;
                vi += 1;
            }
            rec.write_sample(mp4, 1, now, packets[slot % packets.len()].clone())?;
            rec.tick(now)
        })();
        if let Err(e) = r {
            failed = Some((e, now));
            break;
        }
        if slow && slot % 5 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let (e, now) = failed.expect("the child is killed or hits the file size limit before the end");
    // The error names the file and the offset, and says what happened.
    match &e {
        RecordingError::Io {
            path,
            offset,
            source,
        } => {
            eprintln!(
                "child: I/O error on {} at {offset}: {source}",
                path.display()
            );
            assert!(*offset > 0);
            assert_eq!(source.raw_os_error(), Some(27), "EFBIG"); // file too large
            assert!(path.ends_with("recording.mp4"), "{}", path.display());
        }
        other => panic!("unexpected error {other}"),
    }
    // The other files go on being usable; the folder closes with `failed`.
    let s = rec.finish(Status::Failed, now, &e.to_string()).unwrap();
    eprintln!("child: closed with {} close errors", s.close_errors.len());
}

fn spawn_child(
    dir: &Path,
    key: &Path,
    mode: &str,
    fsize_blocks: Option<u64>,
) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match fsize_blocks {
        // Ignore SIGXFSZ so that exceeding the limit is an EFBIG write error, as a full disk is ENOSPC.
        Some(b) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("trap '' XFSZ; ulimit -f {b}; exec \"$0\" \"$@\""))
                .arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.args([
        "--ignored",
        "--exact",
        "child_writer",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env(CHILD_DIR, dir)
    .env(CHILD_KEY, key)
    .env(CHILD_MODE, mode)
    .spawn()
    .unwrap()
}

fn setup(name: &str) -> (PathBuf, PathBuf, ed25519_dalek::SigningKey) {
    let base = scratch_dir(name);
    let key = generate_signing_key().unwrap();
    // The key lives outside the recording folder.
    let key_path = base.join("config/verbatim/signing.key");
    save_signing_key(&key_path, &key).unwrap();
    assert!(
        save_signing_key(&key_path, &key).is_err(),
        "never overwritten"
    );
    (base.join("rec"), key_path, key)
}

#[test]
fn kill_9_mid_recording_then_recover_and_verify() {
    let (dir, key_path, key) = setup("proc-kill");
    let mut child = spawn_child(&dir, &key_path, "kill", None);
    // Wait until a few seconds of media are on disk, then SIGKILL.
    let journal = dir.join("manifest.journal");
    let t0 = Instant::now();
    loop {
        let lines = std::fs::read(&journal).map(|b| b.iter().filter(|&&c| c == b'\n').count());
        if lines.unwrap_or(0) >= 20 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "child made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!dir.join("manifest.json").exists());

    let r = recover_dir(&dir, &key).unwrap();
    assert_eq!(r.action, RecoverAction::Closed);
    assert_eq!(r.verify.final_status, Status::Interrupted);
    eprintln!("after kill -9: {} — files {:?}", r.verify.summary, r.files);
    let back: Vec<i16> = hound::WavReader::open(dir.join("participants/alice.wav"))
        .unwrap()
        .samples::<i16>()
        .map(|s| s.unwrap())
        .collect();
    assert!(back.len() >= 16_000 && back.len() % 16_000 == 0);
    let input = alice();
    let n = back.len().min(input.len());
    assert_eq!(&back[..n], &input[..n]);
    let mp4 = dir.join("recording.mp4");
    ffmpeg_decodes_cleanly(&mp4);
    assert!(decoded_frames(&mp4, "v:0") >= 60);
    verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn a_write_error_leaves_a_verifiable_failed_recording() {
    let (dir, key_path, key) = setup("proc-efbig");
    // At most 2 MiB per file (`ulimit -f` blocks are 512 or 1024 bytes, depending on the shell).
    let status = spawn_child(&dir, &key_path, "efbig", Some(2048))
        .wait()
        .unwrap();
    assert!(status.success(), "child failed: {status:?}");
    let r = verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    assert_eq!(r.final_status, Status::Failed);
    eprintln!("after EFBIG: {}", r.summary);
    // The MP4 that hit the limit is cut back to its last complete fragment and still decodes.
    let mp4 = dir.join("recording.mp4");
    assert!(std::fs::metadata(&mp4).unwrap().len() <= 2048 * 1024);
    ffmpeg_decodes_cleanly(&mp4);
    assert!(decoded_frames(&mp4, "v:0") >= 30);
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

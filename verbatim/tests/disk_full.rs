//! A disk that fills up, on a real small file system: a 3 MB tmpfs the test mounts (as root; otherwise the
//! tests say SKIPPED loudly — the injected-fault version of every write site runs anyway in
//! `muxer/tests/faults.rs`).
//!
//! * `record` stops at once with an error naming the file and the cause, exits non-zero, and leaves the
//!   folder closed as `failed` with what was written: it verifies with the public key and ffprobe opens its
//!   files.
//! * `listen` fails that call only (the bot gets `RecordingStatusRequest(FAILED)` with the cause), serves the
//!   next call, and refuses new calls while the free space is below `--min-free-disk`.

mod grpc_util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bot_adapter::grpc::proto;
use grpc_util::*;
use verbatim::send;

const BIN: &str = env!("CARGO_BIN_EXE_verbatim");

/// A size-limited tmpfs mounted for the test, unmounted on drop (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts `size` (e.g. "3m") at `at`; `None` (with the reason) when this process cannot mount.
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (not root?): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn ffprobe_opens(file: &Path) {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe (installed by scripts/setup.sh)");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.trim().is_empty(),
        "ffprobe on {}: {err}",
        file.display()
    );
    let d: f64 = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    assert!(d > 1.0, "{}: {d} s", file.display());
}

fn public_key(key: &Path, dir: &Path) -> PathBuf {
    let k = muxer::integrity::load_signing_key(key).unwrap();
    let p = dir.join("signing.pub");
    std::fs::write(&p, muxer::integrity::public_key_text(&k.verifying_key())).unwrap();
    p
}

#[test]
fn record_on_a_full_disk_stops_at_once_and_closes_the_folder_as_failed() {
    let dir = temp_dir("disk-full-record");
    let key = key_file(&dir);
    let fs = match Tmpfs::mount(&dir.join("small"), "3m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED: record on a real full disk: {why} (muxer/tests/faults.rs injects the faults)");
            return;
        }
    };
    let out = fs.0.join("rec");
    let t0 = Instant::now();
    let o = Command::new(BIN)
        .args([
            "record",
            "--simulate",
            "--duration",
            "120s",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .arg("--signing-key")
        .arg(&key)
        .output()
        .unwrap();
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a failed recording exits non-zero");
    assert!(took < Duration::from_secs(30), "took {took:?}: {stderr}");
    // The first error names the file and the cause, and says what became of the folder.
    assert!(
        stderr.contains(&*out.to_string_lossy()) && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert!(stderr.contains("closed as `failed`"), "{stderr}");
    assert_eq!(
        stderr.matches("No space left on device").count(),
        1,
        "said once: {stderr}"
    );
    // The folder verifies with the public key, status failed, and says why in metadata.json.
    let v = Command::new(BIN)
        .arg("verify")
        .arg(&out)
        .arg("--public-key")
        .arg(public_key(&key, &dir))
        .output()
        .unwrap();
    let vout = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success(),
        "{vout}{}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(vout.contains("status Failed"), "{vout}");
    let md = metadata(&out);
    assert_eq!(md["recording"]["status"], "failed");
    assert!(md["recording"]["error"]
        .as_str()
        .unwrap()
        .contains("No space left"));
    for f in ["recording.mp4", "mixed.wav", "participants/alice.wav"] {
        ffprobe_opens(&out.join(f));
    }
    eprintln!(
        "record on a 3 MB tmpfs: exit {:?} after {:.2} s; kept {} bytes of mixed.wav; {}",
        o.status.code(),
        took.as_secs_f64(),
        std::fs::metadata(out.join("mixed.wav")).unwrap().len(),
        stderr.trim()
    );
    drop(fs);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_refuses_new_calls_below_the_free_space_reserve() {
    let dir = temp_dir("disk-reserve");
    let mounted = Tmpfs::mount(&dir.join("rec"), "3m");
    // Above what the tmpfs has (or, without one, above any disk).
    let min = match &mounted {
        Ok(_) => 4 << 20,
        Err(why) => {
            eprintln!(
                "SKIPPED (in part): no tmpfs ({why}); the reserve is set above any disk instead"
            );
            u64::MAX
        }
    };
    let srv = start_server(&dir, |o| o.min_free_disk = min);
    let out = send::send_calls(&srv.client(), vec![synthetic(2, 3, 5)])
        .await
        .unwrap();
    let s = out[0].stream_error.as_ref().expect("refused");
    assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
    assert!(s.message().contains("--min-free-disk"), "{}", s.message());
    assert!(files_under(&srv.out).is_empty(), "nothing written");
    srv.stop().await;
    drop(mounted);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_fills_the_disk_fails_alone_reported_failed_and_the_server_goes_on() {
    let dir = temp_dir("disk-full-listen");
    let fs = match Tmpfs::mount(&dir.join("rec"), "3m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED: listen on a real full disk: {why}");
            return;
        }
    };
    let srv = start_server(&dir, |o| o.min_free_disk = 0);
    let mut opts = srv.client();
    opts.call_id_prefix = "big".into();
    let t0 = Instant::now();
    let big = send::send_calls(&opts, vec![synthetic(4, 120, 9)])
        .await
        .unwrap();
    let took = t0.elapsed();
    let o = &big[0];
    let failed = o
        .status_requests
        .iter()
        .find(|r| r.status == proto::RecordingStatus::Failed as i32)
        .unwrap_or_else(|| panic!("no FAILED status request: {:?}", o.status_requests));
    assert!(
        failed.reason.contains("No space left on device")
            && failed.reason.contains(&*srv.out.to_string_lossy()),
        "the reason names the file and the cause: {}",
        failed.reason
    );
    let summary = o.summary.as_ref().expect("a summary");
    assert_eq!(summary.status, "failed", "{}", summary.error);
    // The summary says how much the folder holds: the seconds written before the disk filled.
    assert!(
        (1_000_000..120_000_000).contains(&summary.duration_us),
        "{}",
        summary.duration_us
    );
    let folder = srv.out.join(&summary.recording);
    let r = muxer::verify::verify_dir(&folder, None).unwrap();
    assert_eq!(r.final_status, muxer::Status::Failed);
    eprintln!(
        "listen on a 3 MB tmpfs: a 120 s call failed after {:.2} s of streaming: {}",
        took.as_secs_f64(),
        failed.reason
    );
    // Space freed, the same server records the next call.
    std::fs::remove_dir_all(&folder).unwrap();
    opts.call_id_prefix = "next".into();
    let next = send::send_calls(&opts, vec![synthetic(2, 3, 11)])
        .await
        .unwrap();
    check_complete(&srv.out, &next[0]);
    srv.stop().await;
    drop(fs);
    std::fs::remove_dir_all(&dir).unwrap();
}

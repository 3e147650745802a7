//! WORM object storage when things go wrong, against real servers on loopback: the recorder killed with
//! SIGKILL mid-call (the bucket holds all but the last upload interval; `recover s3://…` seals it as new
//! objects and verify accepts them), the store killed and restarted mid-call (retries counted, the backlog
//! catches up, the recording complete in the bucket), and the store down with a tiny backlog bound (the call
//! ends `failed` with a clear note, the local folder intact and verifiable).

mod common;
mod s3_servers;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use muxer::integrity::manifest::{parse_journal, JournalLine};
use muxer::integrity::Entry;
use s3_servers::{aws_env, Kind, Server};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_verbatim")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn record_cmd(server: &Server, out: &Path, prefix: &str, secs: u32, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.envs(aws_env())
        .args([
            "record",
            "--simulate",
            "--participants",
            "2",
            "--quiet",
            "--realtime",
            "--duration",
            &format!("{secs}s"),
            "--out",
            out.to_str().unwrap(),
            "--signing-key",
            test_key().to_str().unwrap(),
            "--store",
            &format!("s3://{}/{prefix}", s3_servers::BUCKET),
            "--store-endpoint",
            &server.endpoint,
            "--store-region",
            "us-east-1",
        ])
        .args(extra);
    c
}

fn run(server: &Server, args: &[&str]) -> Output {
    Command::new(bin())
        .envs(aws_env())
        .args(args)
        .args(["--store-endpoint", &server.endpoint])
        .output()
        .unwrap()
}

fn url_of(prefix: &str, out: &Path) -> String {
    format!(
        "s3://{}/{prefix}/{}",
        s3_servers::BUCKET,
        out.file_name().unwrap().to_str().unwrap()
    )
}

/// Per file path, the end of the `data` regions a journal links (bytes covered).
fn covered(journal: &[u8]) -> std::collections::BTreeMap<String, u64> {
    let mut paths = Vec::new();
    let mut ends = std::collections::BTreeMap::new();
    for l in parse_journal(journal).0 {
        match l {
            JournalLine::Entry(Entry::File { path, .. }) => paths.push(path),
            JournalLine::Entry(Entry::Data {
                file, offset, len, ..
            }) => {
                let p = paths[file as usize].clone();
                let e = ends.entry(p).or_insert(0u64);
                *e = (*e).max(offset + len);
            }
            _ => {}
        }
    }
    ends
}

#[test]
fn sigkill_mid_call_loses_at_most_an_upload_interval_and_recovers_from_the_bucket() {
    let dir = temp_dir("s3-kill");
    let Some(server) = Server::start(Kind::Moto, &dir) else {
        return;
    };
    let out = temp_dir("s3-kill-rec");
    let interval = 2.0;
    let mut child = record_cmd(&server, &out, "kill", 60, &["--upload-interval", "2s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(9_300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let url = url_of("kill", &out);
    // What the node had written (its journal) against what the bucket holds.
    let local = covered(&std::fs::read(out.join("manifest.journal")).unwrap());
    let b = server.bucket();
    let rec = store::StoreUrl::parse(&url).unwrap();
    let replay = temp_dir("s3-kill-replay");
    let r = b.replay_segments(&rec, &replay).unwrap();
    assert!(!r.closed);
    let remote = covered(&std::fs::read(replay.join("manifest.journal")).unwrap());
    let stem = local
        .keys()
        .find(|k| k.starts_with("participants/") && k.ends_with(".wav"))
        .expect("a participant stem")
        .clone();
    // Participant stems are 16 kHz mono 16-bit.
    let bytes_per_sec = 32_000.0;
    let lost = (local[&stem] - remote.get(&stem).copied().unwrap_or(0)) as f64 / bytes_per_sec;
    let held = remote.get(&stem).copied().unwrap_or(0) as f64 / bytes_per_sec;
    eprintln!(
        "kill -9 after 9.3 s with --upload-interval 2s: the node had {:.2} s of {stem}, the bucket {held:.2} s \
         (lost {lost:.2} s), {} segments",
        local[&stem] as f64 / bytes_per_sec,
        r.segments
    );
    // At most one interval plus the segment being built and the WAV chunk in progress (1 s).
    assert!(lost <= interval + 1.5, "lost {lost:.2} s");
    assert!(held >= 4.0, "the bucket holds only {held:.2} s");
    // Not closed: verify through the bucket fails and says so; recover seals it as new objects.
    let v = run(&server, &["verify", &url, "--trust-embedded-key"]);
    assert!(!v.status.success(), "{}", text(&v));
    let before = b.list(&format!("{}/", rec.prefix)).unwrap();
    let key = test_key();
    let rcv = run(
        &server,
        &["recover", &url, "--signing-key", key.to_str().unwrap()],
    );
    assert!(rcv.status.success(), "{}", text(&rcv));
    assert!(text(&rcv).contains("new objects under"), "{}", text(&rcv));
    let after = b.list(&format!("{}/", rec.prefix)).unwrap();
    // Every object there before is still there, unchanged in size; the recovery only added.
    for o in &before {
        assert!(after.contains(o), "{} changed or vanished", o.key);
    }
    assert!(after
        .iter()
        .any(|o| o.key.ends_with("/recovered/manifest.json")));
    let v = run(&server, &["verify", &url, "--trust-embedded-key"]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("recovered"), "{}", text(&v));
    // A second recover never overwrites: refused.
    let again = run(
        &server,
        &["recover", &url, "--signing-key", key.to_str().unwrap()],
    );
    assert!(
        !again.status.success() || text(&again).contains("nothing uploaded"),
        "{}",
        text(&again)
    );
}

#[test]
fn store_down_mid_call_retries_and_catches_up() {
    let dir = temp_dir("s3-down");
    let Some(mut server) = Server::start(Kind::Seaweed, &dir) else {
        return;
    };
    let out = temp_dir("s3-down-rec");
    let child = record_cmd(
        &server,
        &out,
        "down",
        16,
        &["--upload-interval", "1s", "--store-final-wait", "60s"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    server.stop();
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    server.restart();
    eprintln!(
        "seaweedfs down for {:.1} s mid-call",
        down.elapsed().as_secs_f64()
    );
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains(": complete;"), "{t}");
    let retries: u64 = t
        .split(" retries")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    eprintln!(
        "{}",
        t.lines().find(|l| l.contains("store s3://")).unwrap_or("")
    );
    assert!(retries > 0, "no retry counted: {t}");
    let url = url_of("down", &out);
    let v = run(&server, &["verify", &url, "--trust-embedded-key"]);
    assert!(v.status.success(), "{}", text(&v));
}

#[test]
fn full_backlog_fails_the_call_loudly_and_keeps_the_folder() {
    let dir = temp_dir("s3-full");
    let Some(mut server) = Server::start(Kind::Moto, &dir) else {
        return;
    };
    server.stop(); // the store is down from the start
    let out = temp_dir("s3-full-rec");
    let t0 = Instant::now();
    let o = record_cmd(
        &server,
        &out,
        "full",
        20,
        &[
            "--upload-interval",
            "500ms",
            "--store-buffer",
            "16KiB",
            "--store-final-wait",
            "1s",
        ],
    )
    .output()
    .unwrap();
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("store backlog full"), "{t}");
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "the call was not ended early"
    );
    // The local folder is closed `failed` with the cause as its status note, and verifies.
    let report = verify(&out);
    assert_eq!(report.final_status, muxer::Status::Failed);
    let m = muxer::integrity::Manifest::parse(&std::fs::read(out.join("manifest.json")).unwrap())
        .unwrap();
    let last = m.status_history.last().unwrap();
    assert!(last.note.contains("store backlog full"), "{last:?}");
}

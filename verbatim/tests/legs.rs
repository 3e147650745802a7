//! Redundant recorders: two bots record the same call. `send --legs 2` into `listen` gives two signed folders
//! of the same call on their own platform clocks; `record --leg 2 --leg-span` records a bot that joined late
//! and left early; a reconnect of a leg continues in a new folder linked to the first.

mod grpc_util;

use std::process::Command;
use std::time::Duration;

use bot_adapter::sim::Leg;
use grpc_util::*;
use media_core::MediaTime;
use sha2::{Digest, Sha256};
use verbatim::send::{connect, send_leg};

const BIN: &str = env!("CARGO_BIN_EXE_verbatim");

fn verify(dir: &std::path::Path) {
    let v = Command::new(BIN)
        .arg("verify")
        .arg(dir)
        .arg("--trust-embedded-key")
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "verify {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

#[test]
fn send_with_two_legs_into_listen_records_both_legs_in_their_own_verified_folders() {
    let dir = temp_dir("legs-send");
    let key = key_file(&dir);
    let mut cmd = Command::new(BIN);
    cmd.args(["listen", "--bind", "127.0.0.1:0", "--no-auth"])
        .args(["--max-lead", "off", "--out"])
        .arg(dir.join("served"))
        .arg("--signing-key")
        .arg(&key);
    let (mut server, addr) = start_listen(cmd);
    let sent = Command::new(BIN)
        .args(["send", "--fast", "--simulate", "--connect", &addr])
        .args([
            "--participants",
            "3",
            "--duration",
            "4s",
            "--call-id",
            "twin",
        ])
        .args([
            "--legs",
            "2",
            "--leg-impair",
            "loss=2%",
            "--impair",
            "loss=1%",
        ])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let out = String::from_utf8_lossy(&sent.stdout);
    assert!(
        sent.status.success(),
        "send: {out}{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert_eq!(out.matches(": completed into").count(), 2, "{out}");
    let one = dir.join("served/twin-1");
    let two = dir.join("served/twin-1-leg2");
    verify(&one);
    verify(&two);
    let (m1, m2) = (metadata(&one), metadata(&two));
    assert_eq!(m1["call"]["id"], "twin-1");
    assert_eq!(m2["call"]["id"], "twin-1");
    assert_eq!(m1["call"]["leg"], "1");
    assert_eq!(m2["call"]["leg"], "2");
    for m in [&m1, &m2] {
        assert_eq!(m["recording"]["status"], "completed");
        assert!(m["call"].get("continues").is_none());
    }
    let origin = |m: &serde_json::Value| m["recording"]["reference_origin"].as_u64().unwrap();
    assert_ne!(
        origin(&m1),
        origin(&m2),
        "each bot's platform has its own clock"
    );
    // The two folders the server wrote merge into one recording whose every span matches its leg.
    let merged = dir.join("merged");
    let m = Command::new(BIN)
        .args(["merge", "--no-composite", "--signing-key"])
        .arg(&key)
        .arg("--out")
        .arg(&merged)
        .args([&one, &two])
        .output()
        .unwrap();
    assert!(
        m.status.success(),
        "merge: {}",
        String::from_utf8_lossy(&m.stderr)
    );
    let v = Command::new(BIN)
        .arg("verify")
        .arg(&merged)
        .args(["--trust-embedded-key", "--leg"])
        .arg(&one)
        .arg("--leg")
        .arg(&two)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success() && text.contains("0 mismatches, 0 unattributed samples"),
        "{text}{}",
        String::from_utf8_lossy(&v.stderr)
    );
    let md = metadata(&merged);
    assert_eq!(
        md["call"]["merged_from"][1]["aligned_by"], "content",
        "{md:#}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn record_a_late_short_leg() {
    let dir = temp_dir("legs-record");
    let key = key_file(&dir);
    let out = dir.join("leg2");
    let r = Command::new(BIN)
        .args(["record", "--quiet", "--simulate", "--duration", "10s"])
        .args([
            "--leg",
            "2",
            "--leg-span",
            "2s-8s",
            "--leg-impair",
            "jitter=30ms",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--signing-key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    verify(&out);
    let md = metadata(&out);
    assert_eq!(md["call"]["leg"], "2");
    assert_eq!(md["call"]["leg_span"], "2s-8s");
    assert_eq!(md["call"]["leg_impairments"], "jitter=30ms");
    assert!(md["call"].get("leg_conceal").is_none());
    let secs = md["recording"]["duration_us"].as_i64().unwrap() as f64 / 1e6;
    assert!((5.9..=6.05).contains(&secs), "{secs} s");

    // A reconnect of the same leg, recorded from 8 s: linked to the first folder.
    let again = dir.join("leg2-again");
    let r = Command::new(BIN)
        .args(["record", "--quiet", "--simulate", "--duration", "10s"])
        .args(["--leg", "2", "--leg-span", "8.5s-", "--continues"])
        .arg(&out)
        .arg("--out")
        .arg(&again)
        .arg("--signing-key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let md = metadata(&again);
    assert_eq!(md["call"]["continues"]["folder"], "leg2");
    let sha: String = Sha256::digest(std::fs::read(out.join("manifest.json")).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(md["call"]["continues"]["manifest_sha256"], sha.as_str());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same leg again while it streams is refused; another leg of the call is not; the same leg after its
/// stream dropped continues in a new folder linked to the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_is_refused_twice_at_once_and_a_reconnect_is_linked() {
    let dir = temp_dir("legs-reconnect");
    let srv = start_server(&dir, |_| {});
    let mut paced = srv.client();
    paced.realtime = true;
    paced.disconnect_at = Some(MediaTime::from_millis(1500));
    let ch = connect(&paced).await.unwrap();
    let spec = synthetic(2, 3, 5);
    let leg2 = Leg {
        number: 2,
        ..Leg::FIRST
    };
    let first = {
        let (ch, o, s) = (ch.clone(), paced.clone(), spec.clone());
        tokio::spawn(async move { send_leg(ch, &o, "rc".into(), s, leg2).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fast = srv.client();
    let twice = send_leg(ch.clone(), &fast, "rc".into(), spec.clone(), leg2)
        .await
        .unwrap();
    let code = twice.stream_error.as_ref().map(tonic::Status::code);
    assert_eq!(code, Some(tonic::Code::AlreadyExists), "{twice:?}");
    let other = send_leg(ch.clone(), &fast, "rc".into(), spec.clone(), Leg::FIRST)
        .await
        .unwrap();
    check_complete(&srv.out, &other);
    let dropped = first.await.unwrap().unwrap();
    assert!(dropped.summary.is_none());
    // The server finalizes the dropped stream as interrupted, then forgets it.
    let mut again = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let o = send_leg(ch.clone(), &fast, "rc".into(), spec.clone(), leg2)
            .await
            .unwrap();
        if o.stream_error.as_ref().map(tonic::Status::code) != Some(tonic::Code::AlreadyExists) {
            again = Some(o);
            break;
        }
    }
    let again = again.expect("the dropped leg was never released");
    let s = again.summary.as_ref().unwrap();
    assert_eq!(s.status, "completed", "{}", s.error);
    assert_eq!(s.recording, "rc-leg2-2");
    let first_dir = srv.out.join("rc-leg2");
    assert_eq!(metadata(&first_dir)["recording"]["status"], "interrupted");
    let md = metadata(&srv.out.join(&s.recording));
    assert_eq!(md["call"]["leg"], "2");
    assert_eq!(md["call"]["continues"]["folder"], "rc-leg2");
    let sha: String = Sha256::digest(std::fs::read(first_dir.join("manifest.json")).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(md["call"]["continues"]["manifest_sha256"], sha.as_str());
    assert_eq!(metadata(&srv.out.join("rc"))["call"]["leg"], "1");
    srv.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

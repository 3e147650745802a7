//! `record --tsa URL`: every signature checkpoint time-stamped by a real RFC 3161 authority on loopback
//! (`openssl ts -reply` behind a small HTTP handler), checked by `verify --tsa-cert`; a TSA that is down never
//! stops the recording.

mod common;
#[path = "../../muxer/tests/common/tsa.rs"]
mod tsa;

use std::path::Path;
use std::process::Command;

use common::{temp_dir, test_key};

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_verbatim"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn public_key_file(dir: &Path) -> String {
    let k = muxer::integrity::load_signing_key(&test_key()).unwrap();
    let p = dir.join("signer.pub");
    std::fs::write(&p, muxer::integrity::public_key_text(&k.verifying_key())).unwrap();
    p.to_str().unwrap().to_string()
}

/// `record` of 25 s as fast as the machine goes, with an fsync per file: with group commit (the default) a
/// signature waits for its `syncfs` round and the close supersedes those still waiting, which in a replay
/// this much faster than real time can be the checkpoints at 10 s and 20 s (listen's TSA test covers group
/// commit in real time).
fn record(out: &Path, tsa: &str) -> (i32, String, String) {
    run(&[
        "record",
        "--simulate",
        "--quiet",
        "--fsync-per-file",
        "--duration",
        "25s",
        "--signing-key",
        test_key().to_str().unwrap(),
        "--tsa",
        tsa,
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn record_time_stamps_every_checkpoint_and_verify_checks_them() {
    let dir = temp_dir("tsa-cli");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = tsa::Tsa::start(&dir.join("tsa"));
    let out = dir.join("rec");
    let (code, o, e) = record(&out, &server.url);
    assert_eq!(code, 0, "{o}{e}");
    let pubk = public_key_file(&dir);
    let cert = server.cert.to_str().unwrap().to_string();
    let (code, o, e) = run(&[
        "verify",
        out.to_str().unwrap(),
        "--public-key",
        &pubk,
        "--tsa-cert",
        &cert,
    ]);
    assert_eq!(code, 0, "{o}{e}");
    // 25 s signed every 10 s: the checkpoints at 10 s, 20 s and the media's end.
    let at = o
        .find(" RFC 3161 time-stamps valid")
        .unwrap_or_else(|| panic!("no time-stamps reported: {o}"));
    let n: usize = o[..at].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 3, "{o}");
    assert_eq!(server.answered.load(std::sync::atomic::Ordering::SeqCst), n);
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(
        manifest.contains(&format!("{n} checkpoints stamped, 0 failed")),
        "the signed final note counts them"
    );
    // Another TSA's certificate: refused, naming the checkpoint.
    let other = tsa::make_tsa_identity(&dir.join("other-tsa"));
    let (code, o, e) = run(&[
        "verify",
        out.to_str().unwrap(),
        "--public-key",
        &pubk,
        "--tsa-cert",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{o}{e}");
    assert!(e.contains("time-stamp of the signature over"), "{e}");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_tsa_that_is_down_does_not_stop_the_recording() {
    let dir = temp_dir("tsa-down");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsr", l.local_addr().unwrap());
    drop(l);
    let out = dir.join("rec");
    let (code, o, e) = record(&out, &url);
    assert_eq!(code, 0, "{o}{e}");
    let pubk = public_key_file(&dir);
    let (code, o, e) = run(&["verify", out.to_str().unwrap(), "--public-key", &pubk]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(o.contains("status Completed"), "{o}");
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("0 checkpoints stamped, 3 failed"),
        "failures are counted in the signed note"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

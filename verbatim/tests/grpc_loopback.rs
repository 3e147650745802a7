//! `verbatim send` into `verbatim listen` (the real binaries, over loopback) records the same stems, sample for
//! sample, as `verbatim record` of the same sources.

mod grpc_util;

use std::process::Command;

use grpc_util::*;

const BIN: &str = env!("CARGO_BIN_EXE_verbatim");

#[test]
fn send_into_listen_records_the_same_stems_as_record() {
    let dir = temp_dir("loopback");
    let key = key_file(&dir);
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let sources: Vec<String> = speaker_sources()
        .iter()
        .map(|s| format!("--source={s}"))
        .collect();

    let mut listen = Command::new(BIN);
    listen
        .args(["listen", "--bind", "127.0.0.1:0", "--out"])
        .arg(dir.join("served"))
        .arg("--token-file")
        .arg(dir.join("token"))
        .arg("--signing-key")
        .arg(&key)
        // The bot below replays as fast as it can (`send --fast`), faster than real time.
        .args(["--max-lead", "off"]);
    let (mut server, addr) = start_listen(listen);

    let sent = Command::new(BIN)
        .args([
            "send",
            "--fast",
            "--call-id",
            "loop",
            "--connect",
            &addr,
            "--token-file",
        ])
        .arg(dir.join("token"))
        .args(&sources)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        sent.status.success(),
        "send: {}{}",
        String::from_utf8_lossy(&sent.stdout),
        String::from_utf8_lossy(&sent.stderr)
    );

    let recorded = Command::new(BIN)
        .args(["record", "--quiet", "--out"])
        .arg(dir.join("recorded"))
        .arg("--signing-key")
        .arg(&key)
        .args(&sources)
        .output()
        .unwrap();
    assert!(
        recorded.status.success(),
        "{}",
        String::from_utf8_lossy(&recorded.stderr)
    );

    let served = dir.join("served/loop-1");
    let local = dir.join("recorded");
    for n in ["alice", "bob", "carol", "dave"] {
        let a = read_wav(&served.join(format!("participants/{n}.wav")));
        let b = read_wav(&local.join(format!("participants/{n}.wav")));
        assert_eq!(a.len(), 384_000, "{n}");
        assert!(a == b, "{n}: stem over gRPC differs from `record`");
    }
    assert!(read_wav(&served.join("mixed.wav")) == read_wav(&local.join("mixed.wav")));
    let md = metadata(&served);
    assert_eq!(md["recording"]["status"], "completed");
    assert_eq!(md["call"]["source"], "grpc");
    assert_eq!(md["call"]["recording_status"]["outcome"], "confirmed");
    let v = Command::new(BIN)
        .arg("verify")
        .arg(&served)
        // The server signs with its installation key; this test is about the media, not the signer.
        .arg("--trust-embedded-key")
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

/// A bot's calls share one HTTP/2 connection. When 250 start at once (the real binaries, each a 3 s stand-up
/// in real time), their first audio messages wait in h2 while the recordings are created; h2 closed the whole
/// connection (GOAWAY ENHANCE_YOUR_CALM "too_many_data_frames": every call lost) once the small frames
/// waiting passed half of the connection window, until the server's window was raised.
#[test]
fn a_burst_of_250_calls_on_one_connection_all_complete() {
    let dir = temp_dir("burst");
    let key = key_file(&dir);
    let mut listen = Command::new(BIN);
    listen
        .args(["listen", "--bind", "127.0.0.1:0", "--no-auth"])
        .args(["--max-calls", "300", "--out"])
        .arg(dir.join("served"))
        .arg("--signing-key")
        .arg(&key);
    let (mut server, addr) = start_listen(listen);
    let sent = Command::new(BIN)
        .args([
            "send",
            "--connect",
            &addr,
            "--simulate",
            "--meeting",
            "standup",
        ])
        .args(["--participants", "4", "--duration", "3s", "--calls", "250"])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let out = String::from_utf8_lossy(&sent.stdout);
    let completed = out
        .lines()
        .filter(|l| l.contains(": completed into"))
        .count();
    assert!(
        sent.status.success() && completed == 250,
        "{completed} of 250 calls completed: {}{}",
        out.lines().take(5).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&sent.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

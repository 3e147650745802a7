//! The catalogue over what `verbatim listen` recorded from a real bot (`verbatim send` in another process,
//! over loopback gRPC): `verbatim search` finds the calls by the bot's call data — direction, the recorded
//! user, custom data, tenant — and prints one line per recording starting with its folder.

mod grpc_util;

use std::process::Command;

use grpc_util::*;

const BIN: &str = env!("CARGO_BIN_EXE_verbatim");

fn search(root: &std::path::Path, args: &[&str]) -> Vec<String> {
    let out = Command::new(BIN)
        .args(["search", "--root"])
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "search {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn calls_recorded_by_listen_are_found_by_the_bots_call_data() {
    let dir = temp_dir("console-listen");
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let served = dir.join("served");
    let mut listen = Command::new(BIN);
    listen
        .args(["listen", "--bind", "127.0.0.1:0", "--out"])
        .arg(&served)
        .arg("--token-file")
        .arg(dir.join("token"))
        .arg("--signing-key")
        .arg(key_file(&dir))
        .args(["--max-lead", "off"]);
    let (mut server, addr) = start_listen(listen);
    let sent = Command::new(BIN)
        .args([
            "send",
            "--simulate",
            "--fast",
            "--calls",
            "3",
            "--duration",
            "4s",
            "--call-id",
            "desk",
        ])
        .args(["--connect", &addr, "--token-file"])
        .arg(dir.join("token"))
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        sent.status.success(),
        "send: {}",
        String::from_utf8_lossy(&sent.stderr)
    );

    let all = search(&served, &[]);
    assert_eq!(all.len(), 3, "{all:?}");
    for line in &all {
        let folder = line.split("  ").next().unwrap();
        assert!(
            std::path::Path::new(folder).join("manifest.json").is_file(),
            "{line}"
        );
        assert!(
            line.contains("completed") && line.contains("incoming"),
            "{line}"
        );
    }
    // The bot's call data: direction, the recorded user, custom data.
    assert_eq!(
        search(
            &served,
            &[
                "--direction",
                "incoming",
                "--custom",
                "source=verbatim send"
            ]
        )
        .len(),
        3
    );
    assert_eq!(search(&served, &["--direction", "outgoing"]).len(), 0);
    assert_eq!(
        search(
            &served,
            &[
                "--participant",
                "8:orgid:00000001-0000-4000-8000-000000000001"
            ]
        )
        .len(),
        3
    );
    assert_eq!(
        search(&served, &["--custom", "source=someone else"]).len(),
        0
    );
    assert_eq!(
        search(&served, &["--has-gaps", "true"]).len(),
        0,
        "nothing was lost on loopback"
    );
    let json = search(&served, &["--json", "--limit", "1"]);
    let v: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
    assert_eq!(
        v["recording"]["groups"],
        serde_json::json!(["tenant:00000000-0000-4000-8000-00000000cafe"])
    );
    assert_eq!(v["recording"]["participants"].as_array().unwrap().len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

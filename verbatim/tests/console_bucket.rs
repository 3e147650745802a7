//! A review host over the WORM bucket (`verbatim serve --store s3://BUCKET/PREFIX`), as real processes
//! against a real S3 server on loopback (moto, started by the test): recorder runs upload three recordings
//! while they record — one closed, one whose recorder is killed mid-call, one whose first segment is
//! replaced afterwards — and a `serve` over an EMPTY root catalogues all three from the bucket. Checked:
//! search through the API finds them with the participants' display names (read from `metadata.json` in the
//! segments); the closed one verifies from its replay, plays byte for byte as the node wrote it (range
//! requests), and exports a bundle that `verbatim verify` accepts; the tampered one says NOT VERIFIED and why
//! (the object log is broken), never "intact"; the crashed one is listed as not closed, and after
//! `verbatim recover s3://…` the next listing shows it sealed (`interrupted`); the root's own scans (every
//! 200 ms) never drop the bucket's entries; the replayed copies stay within `--store-cache` (an evicted
//! recording is replayed again when viewed).
//!
//! Needs moto_server (scripts/setup.sh installs it); without it the test prints a loud `SKIPPED` and passes.

mod browser_util;
mod common;
mod s3_servers;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use browser_util::{agent, csrf_in, finish, get, Kill, BIN};
use common::{temp_dir, test_key};
use s3_servers::{aws_env, Kind, Server};

const PASSWORD: &str = "a bucket reviewer's password";

fn verbatim(server: &Server, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .envs(aws_env())
        .args(args)
        .args(["--store-endpoint", &server.endpoint])
        .output()
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn record(server: &Server, out: &Path, secs: u32, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.envs(aws_env())
        .args(["record", "--simulate", "--participants", "3", "--quiet"])
        .args(["--duration", &format!("{secs}s"), "--out"])
        .arg(out)
        .arg("--signing-key")
        .arg(test_key())
        .args([
            "--store",
            "s3://calls/eu",
            "--store-endpoint",
            &server.endpoint,
        ])
        .args(extra);
    c
}

fn serve(server: &Server, root: &Path) -> (Kill, String) {
    let mut cmd = Command::new(BIN);
    cmd.envs(aws_env())
        .args(["serve", "--root"])
        .arg(root)
        .args(["--bind", "127.0.0.1:0", "--rescan", "200ms"])
        .args([
            "--store",
            "s3://calls/eu",
            "--store-endpoint",
            &server.endpoint,
        ])
        .args(["--store-rescan", "1s"])
        // One byte: every replay evicts the other copies (the least recently viewed first).
        .args(["--store-cache", "1"])
        .stderr(Stdio::inherit());
    browser_util::serve_from(cmd)
}

fn json(url: &str, token: &str) -> serde_json::Value {
    let (code, _, body) = get(url, &[("authorization", &format!("Bearer {token}"))]);
    assert_eq!(code, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The catalogue as the API answers it: id → entry.
fn listed(url: &str, token: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    json(&format!("{url}/api/recordings"), token)["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_review_host_catalogues_plays_verifies_and_exports_the_buckets_recordings() {
    let dir = temp_dir("console-bucket");
    let Some(server) = Server::start(Kind::Moto, &dir.join("moto")) else {
        return;
    };
    let node = dir.join("node");
    // rec-1: closed. rec-3: closed, then its first segment replaced (a second PUT makes a newer version).
    for name in ["rec-1", "rec-3"] {
        let o = record(&server, &node.join(name), 12, &["--upload-interval", "2s"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let b = server.bucket();
    b.put_locked(
        "eu/rec-3/seg/00000000.vseg",
        b"not the segment the recorder wrote",
    )
    .unwrap();
    // rec-2: its recorder killed mid-call (real time), after two segments reached the bucket.
    let mut child = record(
        &server,
        &node.join("rec-2"),
        60,
        &["--realtime", "--upload-interval", "1s"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_for("two segments of rec-2", Duration::from_secs(30), || {
        (b.list("eu/rec-2/seg/").unwrap().len() >= 2).then_some(())
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The review host: an empty root, the bucket prefix, a user and an API token made with the CLI.
    let root = dir.join("review");
    std::fs::create_dir_all(&root).unwrap();
    let r = root.to_str().unwrap();
    browser_util::run(
        &["users", "add", "olivia", "--role", "admin", "--root", r],
        Some(PASSWORD),
    );
    let token = browser_util::run(&["users", "token", "olivia", "--root", r], None)
        .trim()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let (_serve, url) = serve(&server, &root);

    let all = listed(&url, &token);
    let ids: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "s3:calls/eu/rec-1",
            "s3:calls/eu/rec-2",
            "s3:calls/eu/rec-3"
        ],
        "the bucket's three recordings, catalogued by an empty root"
    );
    let rec1 = &all["s3:calls/eu/rec-1"];
    assert_eq!(rec1["status"], "completed");
    assert_eq!(rec1["closed"], true);
    assert_eq!(rec1["duration_us"], 12_000_000);
    let names: Vec<&str> = rec1["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Alice", "Bob", "Carol"],
        "from metadata.json in the segments"
    );
    let rec2 = &all["s3:calls/eu/rec-2"];
    assert_eq!(rec2["closed"], false, "{rec2}");
    assert_eq!(rec2["status"], "recording", "{rec2}");
    // Search by participant reaches the bucket's entries.
    let found = json(&format!("{url}/api/recordings?participant=alice"), &token);
    assert!(found["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == "s3:calls/eu/rec-1"));

    // The closed recording verifies from its replay of the bucket.
    let v = json(&format!("{url}/api/recording?id=s3:calls/eu/rec-1"), &token);
    let verdict = &v["verdict"];
    assert_eq!(verdict["intact"], true, "{verdict}");
    let summary = verdict["summary"].as_str().unwrap();
    assert!(
        summary.contains("replayed from s3://calls/eu/rec-1"),
        "{summary}"
    );
    assert!(
        summary.contains("signed live") || verdict["signing"].as_str().unwrap().contains("live")
    );

    // The tampered one is not called intact, and says why.
    let v = json(&format!("{url}/api/recording?id=s3:calls/eu/rec-3"), &token);
    let verdict = &v["verdict"];
    assert_eq!(verdict["intact"], false, "{verdict}");
    let summary = verdict["summary"].as_str().unwrap();
    assert!(summary.starts_with("NOT VERIFIED"), "{summary}");
    assert!(
        summary.contains("seg/00000000.vseg") || summary.contains("segment"),
        "{summary}"
    );
    assert!(!summary.contains("intact"), "{summary}");

    // Played in a browser session after a reason: the bytes are the node's, whole and by range.
    let session = browser_util::login(&url, "olivia", PASSWORD);
    let (code, _, page) = get(
        &format!("{url}/recording?id=s3:calls/eu/rec-1"),
        &[("cookie", &session)],
    );
    assert_eq!(code, 200);
    let page = String::from_utf8(page).unwrap();
    let media = format!("{url}/media?id=s3:calls/eu/rec-1&file=recording.mp4");
    let (code, _, _) = get(&media, &[("cookie", &session)]);
    assert_eq!(code, 403, "no media before a reason");
    let (code, _, _) = finish(
        agent()
            .post(&format!("{url}/play"))
            .header("cookie", &session)
            .send_form([
                ("id", "s3:calls/eu/rec-1"),
                ("reason", "complaint 4711: review the call"),
                ("csrf", csrf_in(&page).as_str()),
            ])
            .unwrap(),
    );
    assert_eq!(code, 303, "reason accepted");
    let original = std::fs::read(node.join("rec-1/recording.mp4")).unwrap();
    let (code, _, whole) = get(&media, &[("cookie", &session)]);
    assert_eq!(code, 200);
    assert!(
        whole == original,
        "recording.mp4 from the bucket differs from the node's"
    );
    let (code, _, part) = get(
        &media,
        &[("cookie", &session), ("range", "bytes=1000-1999")],
    );
    assert_eq!(code, 206);
    assert_eq!(part, original[1000..2000]);

    // The evidence bundle: verify accepts it with the bundled public key.
    let (code, _, zip_bytes) = get(
        &format!("{url}/api/export?id=s3:calls/eu/rec-1"),
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&zip_bytes));
    let out = dir.join("bundle");
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let p = out.join(f.enclosed_name().unwrap());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let v = Command::new(BIN)
        .arg("verify")
        .arg(out.join("recording"))
        .arg("--public-key")
        .arg(out.join("public-key.txt"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", text(&v));
    assert_eq!(
        std::fs::read(out.join("recording/manifest.json")).unwrap(),
        std::fs::read(node.join("rec-1/manifest.json")).unwrap()
    );

    // The crashed recording, recovered from the bucket, is listed sealed at the next listing.
    let rcv = verbatim(
        &server,
        &[
            "recover",
            "s3://calls/eu/rec-2",
            "--signing-key",
            test_key().to_str().unwrap(),
        ],
    );
    assert!(rcv.status.success(), "{}", text(&rcv));
    let rec2 = wait_for(
        "rec-2 sealed in the catalogue",
        Duration::from_secs(30),
        || {
            let e = listed(&url, &token).remove("s3:calls/eu/rec-2")?;
            (e["closed"] == true).then_some(e)
        },
    );
    assert_eq!(rec2["status"], "interrupted", "{rec2}");
    let v = json(&format!("{url}/api/recording?id=s3:calls/eu/rec-2"), &token);
    assert_eq!(v["verdict"]["intact"], true, "{}", v["verdict"]);
    assert!(
        v["verdict"]["signing"]
            .as_str()
            .unwrap()
            .contains("sealed at recovery"),
        "{}",
        v["verdict"]
    );
    // Still all three after many scans of the (empty) root.
    assert_eq!(listed(&url, &token).len(), 3);
    // The copies are bounded (--store-cache): replaying rec-2 removed rec-1's copy; viewing rec-1 again
    // replays it again, and it plays the same bytes.
    let copies = || {
        std::fs::read_dir(root.join(".console/bucket"))
            .unwrap()
            .count()
    };
    assert_eq!(
        copies(),
        1,
        "only the newest copy is kept under a 1-byte cache"
    );
    let (code, _, again) = get(&media, &[("cookie", &session)]);
    assert_eq!(code, 200);
    assert!(
        again == original,
        "rec-1 replayed again after its eviction differs"
    );
    assert_eq!(copies(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

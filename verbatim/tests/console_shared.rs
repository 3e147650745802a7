//! Two review hosts on one shared PostgreSQL catalogue (`--catalog postgres://…`), as real processes: a
//! PostgreSQL server started by the test on loopback, two `verbatim serve` over two roots each holding a
//! recording `verbatim record` made, and the users made once with `verbatim users … --catalog`. Checked: both
//! hosts find both recordings; the user, the API token and a browser session made through one host work on
//! the other; a recording held by the other host is said to be elsewhere (not "does not verify") and is not
//! exported; every search on either host lands in one audit chain (`verbatim users audit` verifies it); the
//! database itself refuses to change, delete or truncate audit entries; and an entry edited behind the
//! console's back (triggers dropped) is reported by number.
//!
//! Host A also reads the WORM bucket node B uploads to (`serve --store`, moto on loopback): host B's
//! recording held elsewhere sends the officer to the bucket's copy, which verifies on host A.
//!
//! Needs PostgreSQL 15 and moto_server (scripts/setup.sh installs both); without them the test prints a loud
//! `SKIPPED` and passes.

mod browser_util;
#[path = "../../catalog/tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;
mod s3_servers;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use browser_util::{run, Kill, BIN};

const PASSWORD: &str = "a shared password";

fn serve(root: &Path, catalog: &str, node: &str, store: &[&str]) -> (Kill, String) {
    let mut cmd = Command::new(BIN);
    cmd.envs(s3_servers::aws_env())
        .args(["serve", "--root"])
        .arg(root)
        .args(store)
        .args([
            "--catalog",
            catalog,
            "--bind",
            "127.0.0.1:0",
            "--rescan",
            "1s",
        ])
        .args(["--node", node])
        .stderr(Stdio::inherit());
    browser_util::serve_from(cmd)
}

/// (status, Set-Cookie values, body as text)
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<String>, String) {
    let (code, set, body) = browser_util::get(url, headers);
    (code, set, String::from_utf8_lossy(&body).into_owned())
}

/// The ids a search through the API answers, sorted.
fn search(url: &str, token: &str) -> (u16, Vec<String>) {
    let (code, _, body) = get(
        &format!("{url}/api/recordings"),
        &[("authorization", &format!("Bearer {token}"))],
    );
    if code != 200 {
        return (code, Vec::new());
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut ids: Vec<String> = v["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    (code, ids)
}

#[test]
fn two_review_hosts_share_users_tokens_sessions_and_one_audit_chain() {
    let Some(server) = pg::PgServer::start(&[]) else {
        eprintln!("SKIPPED: PostgreSQL is not installed: the shared-console test did NOT run");
        return;
    };
    let db = server.database("review");
    // Node B also uploads its recording to the WORM bucket, which host A catalogues (`serve --store`).
    let Some(s3) = s3_servers::Server::start(
        s3_servers::Kind::Moto,
        &std::env::temp_dir().join(format!("console-shared-s3-{}", std::process::id())),
    ) else {
        eprintln!("SKIPPED: moto_server is not installed: the shared-console test did NOT run");
        return;
    };
    let dir = std::env::temp_dir().join(format!("console-shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (root_a, root_b) = (dir.join("host-a"), dir.join("host-b"));
    // A recording on each host's root, under paths no other root gives (one folder per node).
    for (root, node, seed) in [(&root_a, "node-a", "3"), (&root_b, "node-b", "4")] {
        let out = root.join(node).join("call");
        let mut args = vec![
            "record",
            "--simulate",
            "--participants",
            "2",
            "--duration",
            "4s",
            "--seed",
            seed,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        if node == "node-b" {
            args.extend([
                "--store",
                "s3://calls/shared",
                "--store-endpoint",
                &s3.endpoint,
            ]);
        }
        let o = Command::new(BIN)
            .envs(s3_servers::aws_env())
            .args(&args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (ra, rb) = (root_a.to_str().unwrap(), root_b.to_str().unwrap());

    // The user and a token are made once, through host A's CLI, into the shared database.
    run(
        &[
            "users",
            "add",
            "olivia",
            "--role",
            "admin",
            "--root",
            ra,
            "--catalog",
            &db,
        ],
        Some(PASSWORD),
    );
    let token = run(
        &["users", "token", "olivia", "--root", ra, "--catalog", &db],
        None,
    )
    .trim()
    .to_string();
    // Host B's own state folder has no users; through the shared database it knows olivia.
    assert_eq!(run(&["users", "list", "--root", rb], None).trim(), "");
    assert!(
        run(&["users", "list", "--root", rb, "--catalog", &db], None).starts_with("olivia  admin"),
        "host B does not see the shared user"
    );

    let store = [
        "--store",
        "s3://calls/shared",
        "--store-endpoint",
        &s3.endpoint,
    ];
    let (_a, url_a) = serve(&root_a, &db, "rec-a", &store);
    let (_b, url_b) = serve(&root_b, &db, "rec-b", &[]);
    let both = vec![
        "node-a/call".to_string(),
        "node-b/call".to_string(),
        "s3:calls/shared/call".to_string(),
    ];
    for url in [&url_a, &url_b] {
        // Both roots are catalogued into one catalogue: either host finds both recordings.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, ids) = search(url, &token);
            assert_eq!(code, 200, "the token made through host A, on {url}");
            if ids == both {
                break;
            }
            assert!(Instant::now() < deadline, "{url} found {ids:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(search(url, "vbt_not-a-token").0, 401);
        assert_eq!(
            get(&format!("{url}/api/recordings"), &[]).0,
            401,
            "{url} answered without a token"
        );
    }

    // A browser session made by logging in on host A is valid on host B (one sessions table).
    let session = browser_util::login(&url_a, "olivia", PASSWORD);
    let (code, _, page) = get(&format!("{url_b}/"), &[("cookie", &session)]);
    assert_eq!(code, 200, "host A's session on host B");
    assert!(
        page.contains("olivia"),
        "host B's page does not name the user"
    );

    // Host B's recording, asked of host A: said to be elsewhere, never "does not verify"; host B verifies it.
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let (code, _, body) = get(&format!("{url_a}/api/recording?id=node-b%2Fcall"), &auth);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let summary = v["verdict"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("NOT ON THIS HOST"), "{summary}");
    assert!(summary.contains("node rec-b holds it"), "{summary}");
    assert_eq!(v["verdict"]["intact"], false);
    assert_eq!(v["recording"]["node"], "rec-b");
    let (code, _, body) = get(&format!("{url_b}/api/recording?id=node-b%2Fcall"), &auth);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["verdict"]["intact"], true, "{body}");
    let (code, _, body) = get(&format!("{url_a}/api/export?id=node-b%2Fcall"), &auth);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("another node holds it"), "{body}");
    assert!(body.contains("held by node rec-b"), "{body}");
    let (code, _, page) = get(
        &format!("{url_a}/recording?id=node-b%2Fcall"),
        &[("cookie", &session)],
    );
    assert_eq!(code, 200);
    assert!(
        page.contains("NOT ON THIS HOST"),
        "host A's review page of host B's recording"
    );
    assert!(
        page.contains("NOT VERIFIED on this host") && !page.contains("NOT INTACT"),
        "a recording held elsewhere is not called tampered with"
    );
    // Host A reads the bucket node B uploaded to: the page sends the officer to that copy, which verifies.
    assert!(
        page.contains("href=\"/recording?id=s3%3Acalls%2Fshared%2Fcall\""),
        "no link to the bucket's copy on host A's page"
    );
    let (code, _, body) = get(
        &format!("{url_a}/api/recording?id=s3%3Acalls%2Fshared%2Fcall"),
        &auth,
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["verdict"]["intact"], true, "{body}");

    // One audit chain for both hosts: the CLI's user and token, the searches and the login on both.
    let audit = run(
        &[
            "users",
            "audit",
            "--root",
            rb,
            "--catalog",
            &db,
            "--last",
            "1000",
        ],
        None,
    );
    assert!(audit.contains("the hash chain holds"), "{audit}");
    let lines: Vec<&str> = audit.lines().skip(1).collect();
    let count = |action: &str| {
        lines
            .iter()
            .filter(|l| l.split_whitespace().nth(3) == Some(action))
            .count()
    };
    assert_eq!(count("user_add"), 1, "{audit}");
    assert_eq!(count("token_add"), 1, "{audit}");
    assert_eq!(count("login"), 1, "{audit}");
    // At least the final search of each host, each refused token twice; every one of them chained.
    assert!(count("search") >= 2, "{audit}");
    let n: usize = audit
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(n, lines.len(), "every entry printed: {audit}");

    // The database refuses to change the log, whoever asks.
    let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    for sql in [
        "UPDATE audit SET detail = 'edited' WHERE seq = 2",
        "DELETE FROM audit WHERE seq = 2",
        "TRUNCATE audit",
    ] {
        let e = c.batch_execute(sql).unwrap_err();
        let msg = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(msg.contains("append-only"), "{sql}: {e:?}");
    }
    // Edited behind the console's back (the triggers dropped): verification names the entry.
    c.batch_execute(
        "DROP TRIGGER audit_no_change ON audit; UPDATE audit SET detail = 'edited' WHERE seq = 2",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["users", "audit", "--root", rb, "--catalog", &db])
        .output()
        .unwrap();
    assert!(!out.status.success(), "an edited audit log verified");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken at entry 2"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

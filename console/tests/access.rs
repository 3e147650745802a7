//! Access control of the console over real HTTP (the server on loopback, ureq as the client): no answer
//! without a session or token, scoping by group, CSRF on every form, login rate limiting, ids that would
//! leave the root, the API's export, and the audit log's chain (and what editing it behind the console's
//! back does).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use console::{Console, ConsoleConfig, ConsoleError, Role};

fn folder(root: &Path, id: &str, call: &str, desk: Option<&str>, who: &str) {
    let dir = root.join(id);
    std::fs::create_dir_all(dir.join("participants")).unwrap();
    let teams = match desk {
        Some(d) => format!(
            r#","teams":{{"direction":"incoming","tenant_id":"t1","custom_data":{{"desk":"{d}"}}}}"#
        ),
        None => String::new(),
    };
    let meta = format!(
        r#"{{"call":{{"id":"{call}"{teams}}},"recording":{{"status":"completed","started_utc":"2026-03-02T09:30:00.000Z","duration_us":5000000}},
            "participants":[{{"name":"{who}","display_name":"{who}","gaps":[]}}]}}"#
    );
    std::fs::write(dir.join("metadata.json"), meta).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        format!(r#"{{"recording_id":"{call}","start_utc_ms":1772443800000,"final_status":"completed","files":[{{"path":"metadata.json"}}]}}"#),
    )
    .unwrap();
}

struct Server {
    url: String,
    console: Arc<Console>,
    root: PathBuf,
}

fn start() -> Server {
    let root = std::env::temp_dir().join(format!(
        "console-access-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let _ = std::fs::remove_dir_all(&root);
    folder(
        &root,
        "2026/03/rates1",
        "rates-call",
        Some("rates"),
        "alice",
    );
    folder(&root, "2026/03/fx1", "fx-call", Some("fx"), "alice");
    folder(&root, "2026/03/nogroup", "sim-call", None, "bob");
    let c = Arc::new(Console::open(ConsoleConfig::new(root.clone())).unwrap());
    c.accounts()
        .unwrap()
        .add_user("olivia", "password-olivia", Role::Admin, &["*".into()])
        .unwrap();
    c.accounts()
        .unwrap()
        .add_user("vera", "password-vera", Role::Viewer, &["desk:fx".into()])
        .unwrap();
    c.rescan().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    let c2 = Arc::clone(&c);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let opts = console::web::ServeOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            insecure_http: false,
            rescan: Duration::from_secs(3600),
        };
        let r = rt.block_on(console::web::serve(c2, opts, move |a| tx.send(a).unwrap()));
        panic!("server ended: {r:?}");
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Server {
        url: format!("http://{addr}"),
        console: c,
        root,
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// (status, headers' Set-Cookie values and Location, body)
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<String>, String) {
    let mut r = agent().get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    finish(r.call().unwrap())
}

fn post(url: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> (u16, Vec<String>, String) {
    let mut r = agent().post(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    finish(r.send_form(form.iter().copied()).unwrap())
}

fn finish(mut r: ureq::http::Response<ureq::Body>) -> (u16, Vec<String>, String) {
    let status = r.status().as_u16();
    let mut h: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_string())
        .collect();
    if let Some(l) = r.headers().get("location") {
        h.push(format!("location: {}", l.to_str().unwrap_or("")));
    }
    let body = r
        .body_mut()
        .with_config()
        .limit(50_000_000)
        .read_to_vec()
        .unwrap();
    (status, h, String::from_utf8_lossy(&body).into_owned())
}

fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .filter_map(|c| c.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn csrf_in(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    html[i..i + 64].to_string()
}

/// Logs in through the form; returns (session cookie header, CSRF token of the session).
fn login(s: &Server, user: &str, password: &str) -> Result<(String, String), u16> {
    let (_, set, html) = get(&format!("{}/login", s.url), &[]);
    let lt = cookie_value(&set, "vb_login").unwrap();
    let token = csrf_in(&html);
    let (code, set, _) = post(
        &format!("{}/login", s.url),
        &[("cookie", &format!("vb_login={lt}"))],
        &[("user", user), ("password", password), ("csrf", &token)],
    );
    if code != 303 {
        return Err(code);
    }
    let sess = format!("vb_session={}", cookie_value(&set, "vb_session").unwrap());
    let (_, _, page) = get(&format!("{}/", s.url), &[("cookie", &sess)]);
    Ok((sess, csrf_in(&page)))
}

fn ids(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut ids: Vec<String> = v["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn nothing_answers_without_a_session_or_token_and_each_user_sees_only_their_groups() {
    let s = start();
    let olivia = s.console.accounts().unwrap().new_token("olivia").unwrap();
    let vera = s.console.accounts().unwrap().new_token("vera").unwrap();
    let bearer = |t: &str| format!("Bearer {t}");

    for path in [
        "/api/recordings",
        "/api/recording?id=2026/03/fx1",
        "/timeline.svg?id=2026/03/fx1",
        "/api/export?id=2026/03/fx1",
    ] {
        let (code, _, _) = get(&format!("{}{path}", s.url), &[]);
        assert_eq!(code, 401, "{path}");
    }
    for path in [
        "/",
        "/recording?id=2026/03/fx1",
        "/audit",
        "/media?id=2026/03/fx1&file=recording.mp4",
    ] {
        let (code, h, _) = get(&format!("{}{path}", s.url), &[]);
        assert_eq!(
            (code, h.last().map(String::as_str)),
            (303, Some("location: /login")),
            "{path}"
        );
    }
    let (code, _, _) = get(
        &format!("{}/api/recordings", s.url),
        &[("authorization", "Bearer vbt_nope")],
    );
    assert_eq!(code, 401);

    let (code, _, body) = get(
        &format!("{}/api/recordings", s.url),
        &[("authorization", &bearer(&olivia))],
    );
    assert_eq!(code, 200);
    assert_eq!(
        ids(&body),
        vec!["2026/03/fx1", "2026/03/nogroup", "2026/03/rates1"]
    );
    let (_, _, body) = get(
        &format!("{}/api/recordings?participant=ALICE", s.url),
        &[("authorization", &bearer(&olivia))],
    );
    assert_eq!(ids(&body), vec!["2026/03/fx1", "2026/03/rates1"]);
    // The fx desk's viewer sees the fx recording only; the others do not exist for them.
    let (_, _, body) = get(
        &format!("{}/api/recordings", s.url),
        &[("authorization", &bearer(&vera))],
    );
    assert_eq!(ids(&body), vec!["2026/03/fx1"]);
    for id in [
        "2026/03/rates1",
        "2026/03/nogroup",
        "../../etc",
        "2026/03/../03/rates1",
        ".console",
    ] {
        let (code, _, _) = get(
            &format!("{}/api/recording?id={id}", s.url),
            &[("authorization", &bearer(&vera))],
        );
        assert_eq!(code, 404, "{id}");
    }
    let (code, _, body) = get(
        &format!("{}/api/recordings?from=last+March", s.url),
        &[("authorization", &bearer(&vera))],
    );
    assert_eq!(code, 400);
    assert!(body.contains("from="), "{body}");

    // The API's export: a zip with the folder's files; audited with the zip's hash.
    let (code, _, zip) = get(
        &format!("{}/api/export?id=2026/03/fx1", s.url),
        &[("authorization", &bearer(&vera))],
    );
    assert_eq!(code, 200);
    assert!(zip.starts_with("PK"), "a zip");
    let log = s.console.audit().unwrap().recent(100).unwrap();
    assert!(log.iter().any(|e| e.action == "export"
        && e.user == "vera"
        && e.target == "2026/03/fx1"
        && e.detail.contains("sha256")));
    assert!(log
        .iter()
        .any(|e| e.action == "search" && e.user == "olivia" && e.target == "participant=ALICE"));
    let _ = std::fs::remove_dir_all(&s.root);
}

#[test]
fn forms_need_the_session_csrf_token_and_logins_are_rate_limited() {
    let s = start();
    // Login without the login form's token.
    let (code, _, _) = post(
        &format!("{}/login", s.url),
        &[],
        &[("user", "vera"), ("password", "password-vera")],
    );
    assert_eq!(code, 403);
    let (sess, csrf) = login(&s, "vera", "password-vera").unwrap();
    // Play without / with a wrong CSRF token, then with it.
    let form = |t: &'static str| {
        [
            ("id", "2026/03/fx1"),
            ("reason", "case 1: review"),
            ("csrf", t),
        ]
    };
    let (code, _, _) = post(&format!("{}/play", s.url), &[("cookie", &sess)], &form("x"));
    assert_eq!(code, 403);
    let media = format!("{}/media?id=2026/03/fx1&file=metadata.json", s.url);
    let (code, _, _) = get(&media, &[("cookie", &sess)]);
    assert_eq!(code, 404, "only media files are served");
    let (code, _, _) = get(
        &format!("{}/media?id=2026/03/fx1&file=recording.mp4", s.url),
        &[("cookie", &sess)],
    );
    assert_eq!(code, 403, "no reason given yet");
    let (code, _, _) = post(
        &format!("{}/play", s.url),
        &[("cookie", &sess)],
        &[
            ("id", "2026/03/fx1"),
            ("reason", "case 1: review"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(code, 303);
    let (code, _, _) = get(
        &format!("{}/media?id=2026/03/fx1&file=../../../../etc/passwd", s.url),
        &[("cookie", &sess)],
    );
    assert_eq!(code, 404);
    // The browser's export goes through the POST form with the token, never a GET with the cookie.
    let (code, _, _) = get(
        &format!("{}/api/export?id=2026/03/fx1", s.url),
        &[("cookie", &sess)],
    );
    assert_eq!(code, 403);

    // Five wrong passwords, then even the right one is refused for a while.
    for _ in 0..5 {
        assert_eq!(login(&s, "olivia", "wrong-password"), Err(401));
    }
    assert_eq!(login(&s, "olivia", "password-olivia"), Err(429));
    let log = s.console.audit().unwrap().recent(100).unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "login_failed").count(), 5);
    assert!(log.iter().any(|e| e.action == "login_refused"));
    assert!(log
        .iter()
        .any(|e| e.action == "play" && e.detail == "case 1: review"));
    let _ = std::fs::remove_dir_all(&s.root);
}

#[test]
fn the_audit_chain_holds_and_an_entry_edited_behind_the_console_breaks_it() {
    let s = start();
    let t = s.console.accounts().unwrap().new_token("olivia").unwrap();
    for q in [
        "participant=alice",
        "direction=incoming",
        "custom=desk%3Dfx",
    ] {
        let (code, _, _) = get(
            &format!("{}/api/recordings?{q}", s.url),
            &[("authorization", &format!("Bearer {t}"))],
        );
        assert_eq!(code, 200);
    }
    assert_eq!(s.console.audit().unwrap().verify().unwrap(), 3);
    let db = rusqlite::Connection::open(s.root.join(".console/console.sqlite")).unwrap();
    let refused = db.execute(
        "UPDATE audit SET target = 'participant=bob' WHERE seq = 1",
        [],
    );
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    assert!(db.execute("DELETE FROM audit WHERE seq = 2", []).is_err());
    db.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET target = 'participant=bob' WHERE seq = 2;",
    )
    .unwrap();
    assert!(matches!(
        s.console.audit().unwrap().verify(),
        Err(ConsoleError::AuditBroken(2))
    ));
    let _ = std::fs::remove_dir_all(&s.root);
}

#[test]
fn plain_http_off_loopback_is_refused() {
    let root = std::env::temp_dir().join(format!("console-plain-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let c = Arc::new(Console::open(ConsoleConfig::new(root.clone())).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opts = console::web::ServeOptions {
        bind: "0.0.0.0:0".parse().unwrap(),
        tls: None,
        insecure_http: false,
        rescan: Duration::from_secs(60),
    };
    let r = rt.block_on(console::web::serve(c, opts, |_| {}));
    assert!(matches!(r, Err(ConsoleError::BadInput(m)) if m.contains("--tls-cert")));
    let _ = std::fs::remove_dir_all(&root);
}

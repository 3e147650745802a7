//! The console's search API timed through HTTP, for `search_scale --http BIN`: starts `BIN serve` on a
//! throw-away root with the catalogue the example loaded (`--catalog postgres://…` or the SQLite file; the
//! recordings are a bucket archive's, `s3:…` ids, which a root's scan never removes), makes an admin with an API token (`BIN users`), and
//! sends every search as `GET /api/recordings?participant=…&from=…&to=…&limit=50` over one keep-alive
//! connection — the path a partner's script takes, including the token check and the audit entry each search
//! writes. A search is timed from the request's first byte to the answer's last.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `verbatim serve` and a token for it; stopped when dropped.
pub struct Served {
    child: Child,
    addr: String,
    token: String,
    root: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn run(bin: &Path, args: &[&str], stdin: &str) -> String {
    let mut c = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{} {args:?} failed", bin.display());
    String::from_utf8(out.stdout).unwrap()
}

/// Starts `bin serve` over `catalog` (a `postgres://` URL or an SQLite file) with an admin and their API
/// token.
pub fn start(bin: &Path, catalog: &str) -> Served {
    let root = std::env::temp_dir().join(format!("search-scale-root-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let r = root.to_str().unwrap();
    run(
        bin,
        &[
            "users",
            "add",
            "bench",
            "--role",
            "admin",
            "--root",
            r,
            "--catalog",
            catalog,
        ],
        "bench-password-1\n",
    );
    let token = run(
        bin,
        &["users", "token", "bench", "--root", r, "--catalog", catalog],
        "",
    )
    .trim()
    .to_string();
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--root",
            r,
            "--bind",
            "127.0.0.1:0",
            "--catalog",
            catalog,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve ended before it listened")
            .unwrap();
        if let Some(rest) = line.split("://").nth(1) {
            break rest.trim_end_matches('/').to_string();
        }
    };
    // Keep reading what serve prints so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        addr,
        token,
        root,
    }
}

/// One keep-alive GET; the body.
fn get(conn: &mut BufReader<TcpStream>, host: &str, token: &str, target: &str) -> Vec<u8> {
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    );
    conn.get_mut().write_all(req.as_bytes()).unwrap();
    let mut status = String::new();
    conn.read_line(&mut status).unwrap();
    assert!(status.contains(" 200 "), "{target}: {status}");
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut h = String::new();
        conn.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            conn.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut part = vec![0; n + 2];
            conn.read_exact(&mut part).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&part[..n]);
        }
    } else {
        body.resize(length.expect("an answer with neither length nor chunks"), 0);
        conn.read_exact(&mut body).unwrap();
    }
    body
}

/// Times every search (participant, from µs, to µs) through the API; the ids found, in order, are hashed
/// into `digest` so the answers can be compared with the store's own.
pub fn time_searches(
    s: &Served,
    searches: &[(String, i64, i64)],
    digest: &mut impl std::hash::Hasher,
) -> (Vec<Duration>, usize) {
    let mut conn = BufReader::new(TcpStream::connect(&s.addr).unwrap());
    conn.get_ref().set_nodelay(true).unwrap();
    let target = |(p, from, to): &(String, i64, i64)| {
        format!(
            "/api/recordings?participant={p}&from={}&to={}&limit=50",
            catalog::format_utc(*from),
            catalog::format_utc(*to)
        )
    };
    for q in searches.iter().take(10) {
        get(&mut conn, &s.addr, &s.token, &target(q));
    }
    let mut times = Vec::with_capacity(searches.len());
    let mut found = 0;
    for q in searches {
        let t = Instant::now();
        let body = get(&mut conn, &s.addr, &s.token, &target(q));
        times.push(t.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for r in v["recordings"].as_array().expect("recordings") {
            std::hash::Hash::hash(r["id"].as_str().unwrap_or(""), digest);
            found += 1;
        }
    }
    (times, found)
}

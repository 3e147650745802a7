//! Helpers shared by the console's browser tests: processes killed on drop, the `verbatim` binary, and
//! headless Chromium driven over WebDriver (Debian's chromium and chromium-driver).
#![allow(dead_code)] // each test binary uses a different subset

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const BIN: &str = env!("CARGO_BIN_EXE_verbatim");

/// A child process killed (and reaped) when dropped.
pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `verbatim ARGS` (with `stdin` when given) and returns its stdout; fails the test on failure.
pub fn run(args: &[&str], stdin: Option<&str>) -> String {
    let mut c = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        use std::io::Write;
        c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "verbatim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Chromium and chromedriver, when installed.
pub fn tools() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names
            .iter()
            .map(|n| Path::new("/usr/bin").join(n))
            .find(|p| p.exists())
    };
    Some((
        find(&["chromium", "chromium-browser"])?,
        find(&["chromedriver"])?,
    ))
}

/// Starts chromedriver and a headless Chromium session (profile and downloads under `dir`).
pub async fn browser(chromium: &Path, chromedriver: &Path, dir: &Path) -> (Kill, Client) {
    let port = free_port();
    let driver = Kill(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let downloads = dir.join(".downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--autoplay-policy=no-user-gesture-required", "--window-size=1200,1600",
                     format!("--user-data-dir={}", dir.join(".chrome").display())],
            "prefs": {"download.default_directory": downloads, "download.prompt_for_download": false}
        }),
    );
    let t0 = Instant::now();
    loop {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return (driver, c),
            Err(_) if t0.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("chromedriver: {e}"),
        }
    }
}

/// Fills the login form and submits it.
pub async fn sign_in(c: &Client, user: &str, password: &str) {
    let field = |sel: &'static str| c.find(Locator::Css(sel));
    field("#user").await.unwrap().clear().await.unwrap();
    field("#user").await.unwrap().send_keys(user).await.unwrap();
    field("#password")
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    field("#signin").await.unwrap().click().await.unwrap();
}

/// Spawns a configured `verbatim serve` command and returns it with its URL, read from its first line.
pub fn serve_from(mut cmd: Command) -> (Kill, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (Kill(child), url)
}

/// An HTTP client that returns every status (no error for 4xx/5xx) and follows no redirect.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// GET with headers: (status, Set-Cookie values, body bytes).
pub fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<String>, Vec<u8>) {
    let mut r = agent().get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    finish(r.call().unwrap())
}

/// (status, Set-Cookie values, body bytes) of an answer.
pub fn finish(mut r: ureq::http::Response<ureq::Body>) -> (u16, Vec<String>, Vec<u8>) {
    let status = r.status().as_u16();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_string())
        .collect();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_default();
    (status, set, body)
}

/// A cookie's value among Set-Cookie headers.
pub fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .filter_map(|c| c.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The CSRF token of a page's form.
pub fn csrf_in(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    html[i..i + 64].to_string()
}

/// Signs in through the login form at `url` and returns the session cookie (`vb_session=…`).
pub fn login(url: &str, user: &str, password: &str) -> String {
    let (_, set, html) = get(&format!("{url}/login"), &[]);
    let login_cookie = cookie_value(&set, "vb_login").unwrap();
    let html = String::from_utf8(html).unwrap();
    let (code, set, _) = finish(
        agent()
            .post(&format!("{url}/login"))
            .header("cookie", &format!("vb_login={login_cookie}"))
            .send_form([
                ("user", user),
                ("password", password),
                ("csrf", csrf_in(&html).as_str()),
            ])
            .unwrap(),
    );
    assert_eq!(code, 303, "login on {url}");
    format!("vb_session={}", cookie_value(&set, "vb_session").unwrap())
}

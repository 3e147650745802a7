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

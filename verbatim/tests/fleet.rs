//! `verbatim listen` run as a fleet node: its metrics port scraped with a real HTTP client over TCP while real
//! `verbatim send` processes stream calls into it; draining on `SIGTERM` and `POST /admin/drain`; admission by
//! load (`--max-load`); the uploads of `--store` calls (SeaweedFS on loopback, stopped mid-call) seen in the
//! metrics and `/readyz`. The metrics text is also checked by Python's `prometheus_client` OpenMetrics parser
//! (installed by scripts/setup.sh).

mod grpc_util;
mod s3_servers;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use grpc_util::{key_file, metadata, temp_dir, TOKEN};

const BIN: &str = env!("CARGO_BIN_EXE_verbatim");

/// A `verbatim listen` with its metrics port; killed on drop.
struct Node {
    child: Child,
    addr: String,
    metrics: String,
    out: PathBuf,
    log: PathBuf,
    dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(name: &str, extra: &[&str]) -> Node {
        let dir = temp_dir(name);
        let key = key_file(&dir);
        std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
        let out = dir.join("served");
        let log = dir.join("listen.log");
        let mut child = Command::new(BIN)
            .args(["listen", "--bind", "127.0.0.1:0", "--out"])
            .arg(&out)
            .arg("--token-file")
            .arg(dir.join("token"))
            .arg("--signing-key")
            .arg(&key)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
        let first = next();
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        let second = next();
        let metrics = second
            .strip_prefix("metrics on http://")
            .and_then(|m| m.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("unexpected second line {second:?}"))
            .to_string();
        // The rest of stdout (the summary at exit) is drained so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node {
            child,
            addr,
            metrics,
            out,
            log,
            dir,
        }
    }

    /// `verbatim send --simulate` of `calls` real-time calls of `secs` seconds, ids `<id>-1`, `<id>-2`, …
    fn send(&self, id: &str, secs: u32, calls: usize) -> Child {
        Command::new(BIN)
            .args([
                "send",
                "--simulate",
                "--participants",
                "2",
                "--connect",
                &self.addr,
            ])
            .arg("--token-file")
            .arg(self.dir.join("token"))
            .args(["--call-id", id, "--duration", &format!("{secs}s")])
            .args(["--calls", &calls.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(&format!("http://{}{path}", self.metrics), false)
    }

    fn scrape(&self) -> String {
        let (code, text) = self.get("/metrics");
        assert_eq!(code, 200, "{text}");
        text
    }

    /// Scrapes until `series` reads `want` (at most `secs`); the last text.
    fn wait_for(&self, series: &str, want: f64, secs: u64) -> String {
        let t0 = Instant::now();
        loop {
            let text = self.scrape();
            if value(&text, series) == Some(want) {
                return text;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "{series} never reached {want}: {:?}\n{text}",
                value(&text, series)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the server to exit on its own; its exit code.
    fn exit_code(&mut self, secs: u64) -> Option<i32> {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "listen did not exit within {secs} s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// `SIGTERM`, then `/readyz` until it stops answering 200 (at most 10 s): its last answer.
    fn start_draining(&self) -> (u16, String) {
        self.signal("-TERM");
        let t0 = Instant::now();
        loop {
            let r = self.get("/readyz");
            if r.0 != 200 || t0.elapsed() > Duration::from_secs(10) {
                return r;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `verbatim verify` passes on `folder` (the node's embedded key trusted).
fn assert_verifies(folder: &Path) {
    let v = Command::new(BIN)
        .args(["verify", "--trust-embedded-key"])
        .arg(folder)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// A GET (or an empty POST) with ureq, a real HTTP client over TCP: (status, body).
fn http(url: &str, post: bool) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let r = if post {
        agent.post(url).send_empty()
    } else {
        agent.get(url).call()
    };
    let mut r = r.unwrap_or_else(|e| panic!("{url}: {e}"));
    let code = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    (code, body)
}

/// The value of one series (`name{labels}` exactly as written) in OpenMetrics text.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(series)).then(|| it.next()?.parse().ok())?
    })
}

/// Output of a finished `send`: (success, stdout + stderr).
fn finished(mut c: Child) -> (bool, String) {
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    c.stderr.take().unwrap().read_to_string(&mut out).unwrap();
    (c.wait().unwrap().success(), out)
}

/// The text parsed by Python's `prometheus_client` OpenMetrics parser: the number of metric families.
fn python_parse(text: &str) -> Option<usize> {
    let script = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
        print(len(list(p(sys.stdin.read()))))\n";
    // The distribution's python3 (where setup.sh's python3-prometheus-client lives), else the one on PATH.
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut c = match Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "SKIPPED: OpenMetrics check with python3: {e} (scripts/setup.sh installs it)"
            );
            return None;
        }
    };
    std::io::Write::write_all(&mut c.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    if err.contains("No module named") {
        eprintln!("SKIPPED: OpenMetrics check: python3 lacks prometheus_client (scripts/setup.sh installs it)");
        return None;
    }
    assert!(
        o.status.success(),
        "the OpenMetrics parser refused the text: {err}\n{text}"
    );
    Some(String::from_utf8_lossy(&o.stdout).trim().parse().unwrap())
}

/// Sum of a counter over every participant (or video stream) of every recording under `out`.
fn total(out: &Path, list: &str, field: &str) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(out).unwrap() {
        let md = metadata(&e.unwrap().path());
        for p in md[list].as_array().into_iter().flatten() {
            n += p[field].as_u64().unwrap_or(0);
        }
    }
    n
}

#[test]
fn metrics_follow_the_calls_and_never_name_one() {
    let node = Node::start("fleet-metrics", &["--metrics", "127.0.0.1:0"]);
    assert!(node.metrics.starts_with("127.0.0.1:"), "{}", node.metrics);
    let text = node.scrape();
    assert_eq!(
        value(&text, "verbatim_calls{state=\"recording\"}"),
        Some(0.0)
    );
    // Hooks for an uploader exist before one does: zero, and the store counted ok.
    assert_eq!(value(&text, "verbatim_upload_seconds_count"), Some(0.0));
    assert_eq!(value(&text, "verbatim_store_ok"), Some(1.0));

    let sender = node.send("fleetcall", 6, 2);
    // Both calls recording at once: the gauge equals the running calls.
    node.wait_for("verbatim_calls{state=\"recording\"}", 2.0, 30);
    assert_eq!(node.get("/healthz").0, 200);
    assert_eq!(node.get("/readyz"), (200, "ready\n".to_string()));
    let (ok, out) = finished(sender);
    assert!(ok, "send: {out}");

    let text = node.wait_for(
        "verbatim_recordings_ended_total{status=\"completed\"}",
        2.0,
        30,
    );
    assert_eq!(
        value(&text, "verbatim_calls{state=\"recording\"}"),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "verbatim_calls{state=\"finishing\"}"),
        Some(0.0)
    );
    assert_eq!(value(&text, "verbatim_calls_started_total"), Some(2.0));
    // The frame counters are the recordings' own totals.
    let delivered = total(&node.out, "participants", "frames_delivered");
    let written = total(&node.out, "participants", "frames_written");
    // (Simulated speakers talk in turns and are silent between: fewer frames than 2 × 2 × 300.)
    assert!(written > 200, "two 6 s calls of 2 people: {written} frames");
    assert_eq!(
        value(&text, "verbatim_frames_received_total{media=\"audio\"}"),
        Some(delivered as f64)
    );
    assert_eq!(
        value(&text, "verbatim_frames_written_total{media=\"audio\"}"),
        Some(written as f64)
    );
    // The media pool measured per-call costs per pass; the group commit timed its rounds.
    assert!(value(&text, "verbatim_call_cpu_per_pass_seconds_count").unwrap() > 0.0);
    assert!(value(&text, "verbatim_fsync_round_seconds_count").unwrap() > 0.0);
    assert!(value(&text, "verbatim_process_resident_memory_bytes").unwrap() > 1e6);
    assert!(value(&text, "verbatim_disk_free_bytes").unwrap() > 0.0);
    // No call id anywhere in the metrics (they are in the logs).
    assert!(!text.contains("fleetcall"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
    if std::env::var_os("FLEET_DUMP").is_some() {
        std::fs::write(node.dir.join("metrics.txt"), &text).unwrap();
    }
    if let Some(families) = python_parse(&text) {
        assert!(families >= 30, "{families} metric families");
    }

    // A bot that vanishes mid-call: the recording ends `interrupted`, counted, with an event line naming it.
    let mut cut = node.send("fleetcut", 60, 1);
    node.wait_for("verbatim_calls{state=\"recording\"}", 1.0, 30);
    std::thread::sleep(Duration::from_millis(500));
    let _ = cut.kill(); // SIGKILL: the connection drops without call_end
    let _ = cut.wait();
    node.wait_for(
        "verbatim_recordings_ended_total{status=\"interrupted\"}",
        1.0,
        30,
    );
    let log = std::fs::read_to_string(&node.log).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("recording_interrupted"))
        .unwrap_or_else(|| panic!("no event line:\n{log}"));
    assert!(line.contains("fleetcut-1"), "{line}");
    assert!(!node.scrape().contains("fleetcut"));
}

#[test]
fn sigterm_drains_running_calls_refuses_new_ones_and_exits_zero() {
    let mut node = Node::start("fleet-drain", &["--metrics", "127.0.0.1:0"]);
    let running = node.send("drained", 5, 1);
    node.wait_for("verbatim_calls{state=\"recording\"}", 1.0, 30);
    // Not ready while draining, with the reason.
    let (code, body) = node.start_draining();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    assert_eq!(node.get("/healthz").0, 200, "draining is not unhealthy");
    // A new call is refused UNAVAILABLE.
    let (ok, out) = finished(node.send("late", 2, 1));
    assert!(!ok, "{out}");
    assert!(
        out.contains("late-1: refused") && out.contains("draining") && out.contains("Unavailable"),
        "{out}"
    );
    // The running call finishes normally, then the server exits 0.
    let (ok, out) = finished(running);
    assert!(ok, "the running call: {out}");
    assert_eq!(node.exit_code(60), Some(0));
    let folder = node.out.join("drained-1");
    assert_eq!(metadata(&folder)["recording"]["status"], "completed");
    assert_verifies(&folder);
    assert!(!node.out.join("late-1").exists());
}

/// A second SIGTERM while draining ends the running calls now as `interrupted` (finalized, verifiable), not at
/// their end, and the server exits 0. Each call's task waits on a stop signal of its own
/// (`Drain::stop_signal`): a call that missed it would run out its minute and fail the 30 s bound.
#[test]
fn a_second_sigterm_ends_the_running_calls_now_as_interrupted() {
    let mut node = Node::start("fleet-stop", &["--metrics", "127.0.0.1:0"]);
    let running = node.send("stopped", 60, 2);
    node.wait_for("verbatim_calls{state=\"recording\"}", 2.0, 30);
    assert_eq!(node.start_draining().0, 503, "never draining");
    let t1 = Instant::now();
    node.signal("-TERM");
    assert_eq!(node.exit_code(30), Some(0));
    let (_, out) = finished(running);
    assert!(
        t1.elapsed() < Duration::from_secs(30),
        "the calls ran on: {out}"
    );
    for k in 1..=2 {
        let folder = node.out.join(format!("stopped-{k}"));
        let md = metadata(&folder);
        assert_eq!(md["recording"]["status"], "interrupted", "{k}: {out}");
        let us = md["recording"]["duration_us"].as_i64().unwrap_or(0);
        assert!(us > 0 && us < 40_000_000, "call {k} lasted {us} µs");
        assert_verifies(&folder);
    }
}

#[test]
fn a_tiny_max_load_refuses_the_second_call_and_admin_drain_stops_the_node() {
    // A bare port binds loopback.
    let mut node = Node::start("fleet-load", &["--metrics", "0", "--max-load", "0.0001"]);
    assert!(node.metrics.starts_with("127.0.0.1:"), "{}", node.metrics);
    let first = node.send("first", 4, 1);
    node.wait_for("verbatim_calls{state=\"recording\"}", 1.0, 30);
    let (ok, out) = finished(node.send("second", 2, 1));
    assert!(!ok, "{out}");
    assert!(
        out.contains("second-1: refused")
            && out.contains("node load limit")
            && out.contains("--max-load 0.0001")
            && out.contains("ResourceExhausted"),
        "{out}"
    );
    let text = node.scrape();
    assert_eq!(
        value(&text, "verbatim_calls_refused_total{reason=\"load\"}"),
        Some(1.0)
    );
    // Drained by the admin call: 202, not ready, and the node exits 0 once its call is over.
    let (code, _) = http(&format!("http://{}/admin/drain", node.metrics), true);
    assert_eq!(code, 202);
    assert_eq!(node.get("/readyz").0, 503);
    assert_eq!(value(&node.scrape(), "verbatim_draining"), Some(1.0));
    let (ok, out) = finished(first);
    assert!(ok, "{out}");
    assert_eq!(node.exit_code(60), Some(0));
}

#[test]
fn uploads_show_in_the_metrics_and_a_failing_store_makes_the_node_unready() {
    let dir = temp_dir("fleet-store");
    let Some(mut server) = s3_servers::Server::start(s3_servers::Kind::Seaweed, &dir) else {
        return;
    };
    let node = Node::start(
        "fleet-store-node",
        &[
            "--metrics",
            "127.0.0.1:0",
            "--store",
            "s3://calls/fleet",
            "--store-endpoint",
            &server.endpoint,
            "--upload-interval",
            "500ms",
            "--store-final-wait",
            "60s",
        ],
    );
    let sender = node.send("stored", 14, 1);
    // Objects confirmed while the call runs: the latency histogram moves.
    let t0 = Instant::now();
    while value(&node.scrape(), "verbatim_upload_seconds_count").unwrap_or(0.0) < 2.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no upload seen: {}",
            node.scrape()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(node.get("/readyz"), (200, "ready\n".to_string()));
    // The store goes down mid-call: the uploader's attempts fail, the node is not ready, the backlog grows.
    server.stop();
    let text = node.wait_for("verbatim_store_ok", 0.0, 20);
    let (code, why) = node.get("/readyz");
    assert_eq!(code, 503, "{why}");
    assert!(why.contains("the object store fails"), "{why}");
    std::thread::sleep(Duration::from_secs(2));
    let backlog = value(&node.scrape(), "verbatim_upload_backlog_bytes").unwrap();
    assert!(
        backlog > 0.0,
        "backlog while the store is down: {backlog}\n{text}"
    );
    // Back up: the backlog is uploaded, the node is ready again, the call completes whole in the bucket.
    server.restart();
    node.wait_for("verbatim_store_ok", 1.0, 60);
    let (ok, out) = finished(sender);
    assert!(ok, "send: {out}");
    let text = node.wait_for(
        "verbatim_recordings_ended_total{status=\"completed\"}",
        1.0,
        90,
    );
    assert_eq!(
        value(&text, "verbatim_upload_backlog_bytes"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(node.get("/readyz"), (200, "ready\n".to_string()));
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert!(
        log.contains(": complete;"),
        "the store did not confirm the call:\n{log}"
    );
    let v = Command::new(BIN)
        .args([
            "verify",
            "s3://calls/fleet/stored-1",
            "--trust-embedded-key",
        ])
        .args(["--store-endpoint", &server.endpoint])
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

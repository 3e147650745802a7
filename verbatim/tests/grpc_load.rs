//! Many concurrent real-time calls into one server: every recording complete (frames written = frames sent,
//! per participant) and verifiable; the hand-off latency is reported.
//!
//! CI runs 8 calls x 10 s. The full check (50 calls x 60 s, issue 5) is ignored by default:
//! `VERBATIM_LOAD_CALLS=50 VERBATIM_LOAD_SECS=60 cargo test --release -p verbatim --test grpc_load -- --ignored --nocapture`

mod grpc_util;

use std::sync::atomic::Ordering;

use grpc_util::*;
use verbatim::send;

async fn run(calls: usize, secs: i64) {
    let dir = temp_dir(&format!("load-{calls}x{secs}"));
    let srv = start_server(&dir, |o| o.limits.max_calls = calls.max(64));
    let mut c = srv.client();
    c.realtime = true;
    c.call_id_prefix = "load".into();
    let specs = (0..calls)
        .map(|i| synthetic(4, secs, 100 + i as u64))
        .collect();
    let t0 = std::time::Instant::now();
    let outcomes = send::send_calls(&c, specs).await.unwrap();
    let wall = t0.elapsed();
    srv_check(&srv, &outcomes);
    let s = &srv.stats;
    let frames: u64 = outcomes
        .iter()
        .filter_map(|o| o.summary.as_ref())
        .flat_map(|s| s.participants.iter().map(|p| p.frames_written))
        .sum();
    println!(
        "{calls} calls x {secs} s (4 speakers each, real time): all complete and verified in {:.1} s wall; \
         {frames} frames written; hand-off p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs over {} buffers; \
         bot send -> hand-off p99 {} µs (quantiles are bucket upper edges: 1 µs below 1 ms, 1 ms above)",
        wall.as_secs_f64(),
        s.handoff.quantile_us(0.5).unwrap_or(0),
        s.handoff.quantile_us(0.99).unwrap_or(0),
        s.handoff.quantile_us(0.999).unwrap_or(0),
        s.handoff.max_us(),
        s.handoff.count(),
        s.bot_to_handoff.quantile_us(0.99).unwrap_or(0),
    );
    assert_eq!(s.calls_recorded.load(Ordering::Relaxed), calls as u64);
    srv.stop().await;
}

fn srv_check(srv: &TestServer, outcomes: &[verbatim::send::CallOutcome]) {
    for o in outcomes {
        check_complete(&srv.out, o);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_real_time_calls_are_all_complete() {
    run(8, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "issue 5's capacity check: 50 calls x 60 s in real time (set VERBATIM_LOAD_CALLS / _SECS)"]
async fn fifty_real_time_calls_are_all_complete() {
    let n = std::env::var("VERBATIM_LOAD_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let secs = std::env::var("VERBATIM_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    run(n, secs).await;
}

//! Prints every benchmark budget beside its measured figure, from criterion's `estimates.json` files and the
//! bench binaries' saved results (run the benches first):
//!
//! ```text
//! cargo bench -p verbatim-benches && cargo run --release -p verbatim-benches --bin report
//! ```
//! Criterion figures are means of the benchmark thread's CPU time unless `VERBATIM_BENCH_CLOCK=wall` was set
//! for the run.

use verbatim_benches::{criterion_dir, estimate_ns, load_result, print_budget_table};

/// The codecs bench's budgets (its own table is printed by `--bench codecs`; repeated here for one view).
const CODECS: &[(&str, &str, Option<f64>)] = &[
    ("opus_encode_16k_mono", "20 ms frame", Some(60.0)),
    ("opus_decode_16k_mono", "20 ms frame", Some(30.0)),
    ("opus_plc_16k_mono", "20 ms concealed", None),
    ("h264_encode_720p", "frame", Some(15_000.0)),
    ("h264_decode_720p", "frame", Some(4_000.0)),
    ("scale_720p_to_360p", "frame", Some(1_000.0)),
];

fn f(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_f64().unwrap_or(f64::NAN)
}

fn main() {
    println!("results from {}", criterion_dir().display());
    print_budget_table(None, "criterion means");
    println!();
    for &(id, per, budget) in CODECS {
        if let Some(ns) = estimate_ns("codecs", id) {
            let m = ns / 1000.0;
            let (b, v) = match budget {
                Some(b) => (format!("{b}"), if m <= b { "within" } else { "OVER" }),
                None => ("-".into(), ""),
            };
            println!(
                "{:<34} {:>12.3} {:>10}  {:<20} {v}",
                format!("codecs/{id}"),
                m,
                b,
                per
            );
        }
    }

    println!();
    for name in [
        "capacity",
        "capacity-tmpfs",
        "capacity-synthetic",
        "capacity-tmpfs-synthetic",
    ] {
        if let Some(c) = load_result(name) {
            let n = c["sustained_calls"].as_u64().unwrap_or(0);
            println!(
                "{name}: {n} concurrent calls sustained on one core (budget >= 400) [{}] (input {}; output {})",
                if n >= 400 { "within" } else { "UNDER" },
                c["input"].as_str().unwrap_or("4 synthetic speakers"),
                c["output_root"].as_str().unwrap_or("?")
            );
            if let Some(steps) = c["steps"].as_array() {
                for s in steps {
                    println!(
                        "  N={:>4}: call tick p99 {:>7.3} ms (< 5), round p99 {:>7.2} ms, lag end {:>7.1} ms, \
                         writer backlog max {}, back-pressure waits {}, dropped {}, {:.3} ms process CPU per \
                         recorded s -> {}",
                        s["n"],
                        f(s, &["call_tick_ms", "p99"]),
                        f(s, &["round_ms", "p99"]),
                        f(s, &["lag_ms", "end"]),
                        s["writer_backlog"]["max"],
                        s["backpressure_waits"],
                        s["frames_dropped"],
                        f(s, &["cpu_ms_per_recorded_s"]),
                        if s["sustained"].as_bool() == Some(true) { "sustained" } else { "not sustained" }
                    );
                }
            }
        }
    }
    for l in ["latency", "latency-synthetic"]
        .into_iter()
        .filter_map(load_result)
    {
        let row = |label: &str, key: &str, budget: &str, limit: Option<f64>| {
            let p99 = f(&l, &[key, "p99"]);
            let verdict = limit.map_or("", |x| if p99 <= x { "within" } else { "OVER" });
            println!(
                "{label:<52} p50 {:>8.2} p99 {:>8.2} max {:>8.2} ms  budget {budget} {verdict}",
                f(&l, &[key, "p50"]),
                p99,
                f(&l, &[key, "max"])
            );
        };
        println!(
            "\nlatency ({} s call, {}, impairments {}):",
            l["secs"],
            l["input"].as_str().unwrap_or("4 synthetic speakers"),
            l["impairments"]
        );
        row(
            "processing: hand-over -> tick written (writer)",
            "processing_written_ms",
            "p99 <= 25 ms",
            Some(25.0),
        );
        row(
            "fragment: completing hand-over -> fsync done",
            "fragment_durable_ms",
            "p99 <= 50 ms",
            Some(50.0),
        );
        row(
            "tick: hand-over making it due -> fragment durable",
            "tick_durable_ms",
            "p99 <= 1050 ms (1 s + 50 ms)",
            Some(1050.0),
        );
        row(
            "media: frame hand-over -> tick written",
            "media_written_ms",
            "(late window + 20 ms by design)",
            None,
        );
        let budget = f(&l, &["media_durable_budget_ms"]);
        row(
            "media: frame hand-over -> fragment durable",
            "media_durable_ms",
            &format!("p99 <= {budget:.0} ms (1 s + 50 ms + late window)"),
            Some(budget),
        );
    }
    for name in [
        "memory-null",
        "memory-folder",
        "memory-null-loop",
        "memory-folder-loop",
    ] {
        if let Some(m) = load_result(name) {
            let rss: Vec<String> = m["rss_kib"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| {
                            format!("{:.1}h {:.1} MiB", f(s, &["at_h"]), f(s, &["kib"]) / 1024.0)
                        })
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "\n{name} ({} h, input {}): RSS {}",
                m["hours"],
                m["input"].as_str().unwrap_or("loop"),
                rss.join(", ")
            );
        }
    }
}

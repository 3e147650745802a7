//! The budget table: every stage's budget beside the figure the benches measured (`report`).

use crate::estimate_ns;

/// One criterion figure with its budget, for the summary tables.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Criterion group.
    pub group: &'static str,
    /// Bench id in the group.
    pub id: &'static str,
    /// What the figure is per.
    pub per: &'static str,
    /// Divide criterion's per-iteration time by this to get the figure (an iteration of 30 s of call = 30).
    pub divisor: f64,
    /// Budget in µs per `per`; `None` when the issue sets none.
    pub budget_us: Option<f64>,
    /// Where the budget comes from.
    pub source: &'static str,
}

/// Every criterion bench of this crate (except `codecs`, which prints its own table) with its budget.
pub const BUDGETS: &[Budget] = &[
    Budget {
        group: "media",
        id: "jitter_insert_pop_in_order",
        per: "frame",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "media",
        id: "jitter_insert_pop_reordered",
        per: "frame",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "media",
        id: "timeline_map_jittered",
        per: "frame",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "media",
        id: "track_push_pull",
        per: "frame + 20 ms pull",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "media",
        id: "mixer_2_sources",
        per: "20 ms tick",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "media",
        id: "mixer_4_sources",
        per: "20 ms tick",
        divisor: 1.0,
        budget_us: Some(2.0),
        source: "issue 7",
    },
    Budget {
        group: "media",
        id: "mixer_10_sources",
        per: "20 ms tick",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "media",
        id: "mixer_32_sources",
        per: "20 ms tick",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "output",
        id: "fmp4_fragment_opus_1s",
        per: "1 s of media",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "output",
        id: "fmp4_fragment_h264_opus_1s",
        per: "1 s of media",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "output",
        id: "hash_chain_1mib",
        per: "MiB",
        divisor: 1.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "call",
        id: "core_4spk_30s_null_sink",
        per: "recorded second",
        divisor: 30.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "call",
        id: "folder_4spk_30s",
        per: "recorded second",
        divisor: 30.0,
        budget_us: Some(2500.0),
        source: "issue 7",
    },
    Budget {
        group: "call",
        id: "folder_4spk_30s_teams_x3",
        per: "recorded second",
        divisor: 30.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "call",
        id: "core_standup_4p_5min_null_sink",
        per: "recorded second",
        divisor: 300.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "call",
        id: "folder_standup_4p_5min",
        per: "recorded second",
        divisor: 300.0,
        budget_us: Some(2500.0),
        source: "issue 7",
    },
    Budget {
        group: "call",
        id: "folder_standup_4p_5min_teams_x3",
        per: "recorded second",
        divisor: 300.0,
        budget_us: None,
        source: "",
    },
    Budget {
        group: "call_threaded",
        id: "folder_threaded_4spk_30s",
        per: "rec. s, process CPU",
        divisor: 30.0,
        budget_us: Some(2500.0),
        source: "issue 7",
    },
    Budget {
        group: "call_threaded",
        id: "folder_threaded_standup_4p_5min",
        per: "rec. s, process CPU",
        divisor: 300.0,
        budget_us: Some(2500.0),
        source: "issue 7",
    },
];

/// Prints the measured figures of `group` (or all groups with `None`) beside their budgets.
pub fn print_budget_table(group: Option<&str>, clock: &str) {
    println!("\nmeasured mean vs budget ({clock}; µs per unit)");
    println!(
        "{:<34} {:>12} {:>10}  {:<20} verdict",
        "bench", "measured", "budget", "per"
    );
    for b in BUDGETS
        .iter()
        .filter(|b| group.is_none_or(|g| g == b.group))
    {
        let Some(ns) = estimate_ns(b.group, b.id) else {
            println!(
                "{:<34} {:>12} {:>10}  {:<20}",
                format!("{}/{}", b.group, b.id),
                "not run",
                "",
                b.per
            );
            continue;
        };
        let m = ns / 1000.0 / b.divisor;
        let (budget, verdict) = match b.budget_us {
            Some(x) => (format!("{x}"), if m <= x { "within" } else { "OVER" }),
            None => ("-".to_string(), ""),
        };
        println!(
            "{:<34} {:>12.3} {:>10}  {:<20} {verdict}",
            format!("{}/{}", b.group, b.id),
            m,
            budget,
            b.per
        );
    }
}

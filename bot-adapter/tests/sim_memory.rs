//! The simulator streams: its memory does not grow with the length of the call. A planned town hall of twelve
//! (teams-x3, so the ground truth's lost/duplicated frame lists grow too) is drained while the resident set
//! size is sampled from `/proc/self/statm`; a long call's peak must stay within a few MB of a 10-minute one's.
//!
//! Alone in its own test binary: other tests running in the same process would share its RSS.

use bot_adapter::sim::meeting::{meeting, MeetingKind};
use bot_adapter::sim::{Impairments, Simulator};
use media_core::MediaTime;

/// Resident set size in bytes (Linux; 4 KiB pages), or `None` where `/proc` is not there.
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Plans and drains a town hall of `minutes`; the highest RSS seen (sampled every 10 s of call) and the
/// frames sent.
fn peak_while_draining(minutes: i64) -> Option<(u64, u64)> {
    let mut spec = meeting(
        MeetingKind::Townhall,
        12,
        MediaTime::from_secs(minutes * 60),
        7,
    )
    .ok()?;
    spec.impairments = Impairments::TEAMS_X3;
    let mut sim = Simulator::new(spec).ok()?;
    let mut peak = rss()?;
    for (n, _) in sim.by_ref().enumerate() {
        if n % 1_000 == 0 {
            peak = peak.max(rss()?);
        }
    }
    let sent = sim.report().participants.iter().map(|p| p.sent).sum();
    Some((peak.max(rss()?), sent))
}

/// Ten hours of a twelve-person town hall (about 12 s in the test profile) peak within 4 MB of ten minutes.
#[test]
fn ten_hours_take_no_more_memory_than_ten_minutes() {
    let (long_minutes, allowed_mb) = (600, 4);
    // Warm up the allocator, then measure the short call and the long one.
    let Some(_) = peak_while_draining(10) else {
        eprintln!("SKIPPED: no /proc/self/statm");
        return;
    };
    let t0 = std::time::Instant::now();
    let (short, short_sent) = peak_while_draining(10).unwrap();
    let t1 = std::time::Instant::now();
    let (long, long_sent) = peak_while_draining(long_minutes).unwrap();
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "peak RSS: 10 min {:.1} MB ({short_sent} frames sent, {:?}); {long_minutes} min {:.1} MB \
         ({long_sent} frames sent, {:?})",
        mb(short),
        t1 - t0,
        mb(long),
        t1.elapsed()
    );
    assert!(long_sent > short_sent * (long_minutes as u64 / 10) * 8 / 10);
    assert!(
        long <= short + allowed_mb * (1 << 20),
        "{long_minutes} min: {:.1} MB, 10 min: {:.1} MB",
        mb(long),
        mb(short)
    );
}

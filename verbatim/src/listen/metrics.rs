//! The node's metrics for `verbatim listen --metrics ADDR`: what a fleet's monitoring scrapes (OpenMetrics
//! text through the official `prometheus-client` crate, served by `listen/http.rs`).
//!
//! ```text
//!  call tasks ──► NodeMetrics (relaxed atomics) ─┐
//!  media pool ──► recorder::media_stats ─────────┤
//!  group commit ► fsync round histogram ─────────┼─► NodeCollector::encode (on each scrape) ─► /metrics
//!  uploaders ───► NodeMetrics (store::UploadObserver)│   (+ the call registry's phases, statvfs, /proc/self)
//!  admission ───► measured per-call cost ────────┘
//! ```
//!
//! Every figure is node-wide: no call id and no per-call label ever appears in the metrics (calls are named
//! in the logs instead). Updating a figure is a relaxed atomic add, never a lock; the scrape reads them,
//! walks the call registry once (under its lock, as `GetCall` does) and reads the disk's free space and
//! `/proc/self`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use media_core::histogram::{AtomicHistogram, HistogramSnapshot};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use recorder::engine::CallSummary;

/// Figures the call tasks, the admission and every call's object-store uploader update; read on each scrape.
///
/// Each `listen --store` call's uploader reports through the [`store::UploadObserver`] implementation:
/// upload latency into the histogram, its backlog into the node-wide sum, and whether its store attempts
/// fail (the node's store is "ok" while no uploader is failing; `/readyz` answers 503 otherwise).
///
/// ```
/// use std::time::Duration;
/// use store::UploadObserver;
/// use verbatim::listen::metrics::NodeMetrics;
/// let m = NodeMetrics::default();
/// m.backlog_changed(4 << 20);
/// m.failing(true);
/// assert!(!m.store_ok());
/// m.uploaded(Duration::from_millis(250), 4 << 20);
/// m.backlog_changed(-(4 << 20));
/// m.failing(false);
/// assert!(m.store_ok());
/// ```
#[derive(Debug)]
pub struct NodeMetrics {
    calls_started: AtomicU64,
    refused: [AtomicU64; REFUSALS.len()],
    ended: [AtomicU64; ENDINGS.len()],
    /// audio, video.
    frames_received: [AtomicU64; 2],
    frames_written: [AtomicU64; 2],
    gaps: [AtomicU64; 2],
    /// [media][cause] in 100 ns ticks.
    gap_ticks: [[AtomicU64; GAP_CAUSES.len()]; 2],
    keyframes: [AtomicU64; 2],
    upload_us: AtomicHistogram,
    /// Sum of the uploaders' backlogs (bytes).
    upload_backlog: AtomicI64,
    /// Uploaders whose attempts fail now.
    store_failing: AtomicI64,
}

/// Why a new call was refused (the `reason` label of `verbatim_calls_refused_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-calls` calls run already.
    Full,
    /// The measured per-call cost times the calls would exceed `--max-load`.
    Load,
    /// The server drains.
    Draining,
    /// The disk reserve (`--min-free-disk`) is not met.
    Disk,
    /// No or a bad `CallStart`, a duplicate leg.
    Start,
    /// A missing or wrong bearer token.
    Auth,
}

const REFUSALS: [&str; 6] = ["full", "load", "draining", "disk", "start", "auth"];
const ENDINGS: [&str; 4] = ["completed", "interrupted", "failed", "not_recorded"];
const MEDIA: [&str; 2] = ["audio", "video"];
const GAP_CAUSES: [&str; 3] = ["nothing_sent", "inferred_loss", "dropped"];
/// The `state` labels of `verbatim_calls` (see [`crate::listen`]'s call registry).
const STATES: [&str; 4] = ["awaiting_confirmation", "recording", "paused", "finishing"];

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics {
            calls_started: AtomicU64::new(0),
            refused: Default::default(),
            ended: Default::default(),
            frames_received: Default::default(),
            frames_written: Default::default(),
            gaps: Default::default(),
            gap_ticks: Default::default(),
            keyframes: Default::default(),
            // 10 ms .. 1000 s per upload.
            upload_us: AtomicHistogram::one_two_five(10_000, 1_000_000_000),
            upload_backlog: AtomicI64::new(0),
            store_failing: AtomicI64::new(0),
        }
    }
}

impl store::UploadObserver for NodeMetrics {
    fn uploaded(&self, took: Duration, _bytes: u64) {
        self.upload_us.record(took.as_micros() as u64);
    }

    fn backlog_changed(&self, delta: i64) {
        self.upload_backlog.fetch_add(delta, Ordering::Relaxed);
    }

    fn failing(&self, failing: bool) {
        self.store_failing
            .fetch_add(if failing { 1 } else { -1 }, Ordering::Relaxed);
    }
}

impl NodeMetrics {
    /// True while no uploader of this node is failing (always true without `--store`).
    pub fn store_ok(&self) -> bool {
        self.store_failing.load(Ordering::Relaxed) <= 0
    }

    pub(crate) fn call_started(&self) {
        self.calls_started.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self, why: Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A key-frame request was (`relayed`) or was not handed to the bot.
    pub(crate) fn keyframe_request(&self, relayed: bool) {
        self.keyframes[usize::from(!relayed)].fetch_add(1, Ordering::Relaxed);
    }

    /// A call's recording closed with `status` (`completed`, `interrupted`, `failed`, `not_recorded`) and, when
    /// it was recorded, its recorder's final account (frames and gaps are counted then, per recording).
    pub(crate) fn recording_ended(&self, status: &str, summary: Option<&CallSummary>) {
        if let Some(i) = ENDINGS.iter().position(|e| *e == status) {
            self.ended[i].fetch_add(1, Ordering::Relaxed);
        }
        let Some(s) = summary else { return };
        let add = |a: &AtomicU64, v: u64| a.fetch_add(v, Ordering::Relaxed);
        for p in &s.participants {
            // As metadata.json counts them: frames over the per-participant source limit were received too.
            add(
                &self.frames_received[0],
                p.stats.delivered + p.limit_dropped,
            );
            add(&self.frames_written[0], p.stats.written);
            self.add_gaps(0, &p.gaps);
        }
        for v in &s.videos {
            add(&self.frames_received[1], v.stats.delivered);
            add(&self.frames_written[1], v.stats.written);
            self.add_gaps(1, &v.gaps);
        }
    }

    fn add_gaps(&self, media: usize, g: &recorder::engine::GapTally) {
        self.gaps[media].fetch_add(g.count, Ordering::Relaxed);
        let t = |m: media_core::MediaTime| m.ticks().max(0) as u64;
        for (i, v) in [g.nothing_sent, g.inferred_loss, g.dropped]
            .into_iter()
            .enumerate()
        {
            self.gap_ticks[media][i].fetch_add(t(v), Ordering::Relaxed);
        }
    }
}

/// What a scrape reads besides [`NodeMetrics`]: filled by `listen` from its parts.
pub(crate) struct Sources {
    pub(crate) node: Arc<NodeMetrics>,
    pub(crate) shared: Arc<super::Shared>,
    pub(crate) media: Option<Arc<recorder::media_stats::MediaStats>>,
    pub(crate) fsync: Option<Arc<AtomicHistogram>>,
    pub(crate) fsync_failed: Option<Arc<muxer::group_commit::GroupCommit>>,
    pub(crate) admission: Arc<super::admission::Admission>,
    pub(crate) drain: Arc<super::drain::Drain>,
}

/// The [`prometheus_client::collector::Collector`] that encodes every figure on each scrape.
pub(crate) struct NodeCollector(pub(crate) Arc<Sources>);

impl std::fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeCollector")
    }
}

/// The registry a scrape encodes: everything is in the one collector.
pub(crate) fn registry(sources: Arc<Sources>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(NodeCollector(sources)));
    r
}

type Fmt = Result<(), std::fmt::Error>;

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<Unit>, v: u64) -> Fmt {
    let m = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
    ConstCounter::new(v).encode(m)
}

fn counter_f(e: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<Unit>, v: f64) -> Fmt {
    let m = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
    ConstCounter::new(v).encode(m)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<Unit>, v: i64) -> Fmt {
    let m = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
    ConstGauge::new(v).encode(m)
}

fn gauge_f(e: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<Unit>, v: f64) -> Fmt {
    let m = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
    ConstGauge::new(v).encode(m)
}

/// A counter family with one label `key`: one sample per `(value, count)`.
fn counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    samples: &[(&[(&str, &str)], u64)],
) -> Fmt {
    let mut m = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
    for (labels, v) in samples {
        let labels = labels.to_vec();
        ConstCounter::new(*v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A histogram of integer samples, `per_unit` of them making one unit (e.g. 1e6 for µs -> seconds; a division
/// keeps the bounds exact: 100 ns is `1e-7`, not `1.0000000000000001e-7`).
fn histogram(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    s: &HistogramSnapshot,
    per_unit: f64,
) -> Fmt {
    let mut m = e.encode_descriptor(name, help, unit.as_ref(), MetricType::Histogram)?;
    // prometheus-client adds the +Inf bucket from the count only when the last bound is +Inf: give it.
    let mut buckets: Vec<(f64, u64)> = s
        .cumulative
        .iter()
        .map(|&(b, c)| (b as f64 / per_unit, c))
        .collect();
    buckets.push((f64::MAX, s.count)); // the encoder writes f64::MAX as le="+Inf"
                                       // The text encoder wants per-bucket counts and accumulates them itself.
    let mut prev = 0;
    for b in &mut buckets {
        let c = b.1;
        b.1 = c.saturating_sub(prev);
        prev = c;
    }
    m.encode_histogram::<NoLabelSet>(s.sum as f64 / per_unit, s.count, &buckets, None)
}

impl prometheus_client::collector::Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let src = &self.0;
        let n = &src.node;
        let sh = &src.shared;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);

        // Calls by state, from the registry (its lock, as GetCall takes it; never on a media path).
        let mut by_state = [0i64; STATES.len()];
        for st in sh.phases() {
            if let Some(i) = STATES.iter().position(|s| *s == st) {
                by_state[i] += 1;
            }
        }
        {
            let mut m = e.encode_descriptor(
                "verbatim_calls",
                "Calls this server handles now, by state (awaiting_confirmation: the bot has not confirmed \
                 `recording` yet; recording; paused; finishing: files being finalized)",
                None,
                MetricType::Gauge,
            )?;
            for (st, v) in STATES.iter().zip(by_state) {
                ConstGauge::new(v).encode(m.encode_family(&[("state", *st)])?)?;
            }
        }
        counter(
            &mut e,
            "verbatim_calls_started",
            "Calls started (a valid CallStart)",
            None,
            ld(&n.calls_started),
        )?;
        {
            let mut m = e.encode_descriptor(
                "verbatim_calls_refused",
                "New calls refused, by reason (full: --max-calls; load: --max-load; draining; disk: below \
                 --min-free-disk; start: no or bad CallStart, duplicate leg; auth: bad token)",
                None,
                MetricType::Counter,
            )?;
            for (r, a) in REFUSALS.iter().zip(&n.refused) {
                ConstCounter::new(ld(a)).encode(m.encode_family(&[("reason", *r)])?)?;
            }
        }
        {
            let mut m = e.encode_descriptor(
                "verbatim_recordings_ended",
                "Calls over, by how their recording ended (completed; interrupted: the bot went away or went \
                 silent; failed: writing failed, e.g. the disk; not_recorded: never confirmed). Alert on \
                 failed and on interrupted; each one also logs an event line with its call id",
                None,
                MetricType::Counter,
            )?;
            for (s, a) in ENDINGS.iter().zip(&n.ended) {
                ConstCounter::new(ld(a)).encode(m.encode_family(&[("status", *s)])?)?;
            }
        }
        let per_media = |a: &[AtomicU64; 2]| -> Vec<(Vec<(&str, &str)>, u64)> {
            MEDIA
                .iter()
                .zip(a)
                .map(|(m, v)| (vec![("media", *m)], ld(v)))
                .collect()
        };
        for (name, help, a) in [
            (
                "verbatim_frames_received",
                "Media frames the recorder received (audio: 20 ms frames of every participant; video frames), \
                 counted when each recording closes",
                &n.frames_received,
            ),
            (
                "verbatim_frames_written",
                "Media frames written into recordings, counted when each recording closes",
                &n.frames_written,
            ),
            (
                "verbatim_gaps",
                "Gaps in recorded streams (spans without media, each in the recording's loss ledger), counted \
                 when each recording closes",
                &n.gaps,
            ),
        ] {
            let v = per_media(a);
            let s: Vec<(&[(&str, &str)], u64)> = v.iter().map(|(l, x)| (l.as_slice(), *x)).collect();
            counters(&mut e, name, help, None, &s)?;
        }
        {
            let mut m = e.encode_descriptor(
                "verbatim_gap",
                "Length of the gaps by cause (the loss ledger's: nothing_sent, inferred_loss on the way, \
                 dropped here), counted when each recording closes",
                Some(&Unit::Seconds),
                MetricType::Counter,
            )?;
            for (mi, media) in MEDIA.iter().enumerate() {
                for (ci, cause) in GAP_CAUSES.iter().enumerate() {
                    let secs = ld(&n.gap_ticks[mi][ci]) as f64 * 1e-7;
                    ConstCounter::new(secs)
                        .encode(m.encode_family(&[("media", *media), ("cause", *cause)])?)?;
                }
            }
        }
        {
            let mut m = e.encode_descriptor(
                "verbatim_keyframe_requests",
                "Key-frame requests the recorder made for video it could not decode, by whether they reached \
                 the bot",
                None,
                MetricType::Counter,
            )?;
            for (r, a) in ["relayed", "not_relayed"].iter().zip(&n.keyframes) {
                ConstCounter::new(ld(a)).encode(m.encode_family(&[("result", *r)])?)?;
            }
        }

        // The media pool.
        let media = src.media.as_deref();
        gauge(
            &mut e,
            "verbatim_ingest_queue_events",
            "Events waiting in every call's ingest queue (bot -> media thread), as the media threads last saw them",
            None,
            media.map_or(0, |m| m.ingest_queued() as i64),
        )?;
        gauge(
            &mut e,
            "verbatim_writer_queue_commands",
            "Commands waiting in every call's writer queue (media thread -> writer thread), as the media threads \
             last saw them",
            None,
            media.map_or(0, |m| m.writer_queued() as i64),
        )?;
        let (waits, wait_us) = media.map_or((0, 0), |m| m.backpressure());
        counter(
            &mut e,
            "verbatim_writer_backpressure_waits",
            "Times a media thread found a call's writer queue full and waited (the disk is slower than the calls)",
            None,
            waits,
        )?;
        counter_f(
            &mut e,
            "verbatim_writer_backpressure_wait",
            "Time media threads waited for room in full writer queues",
            Some(Unit::Seconds),
            wait_us as f64 * 1e-6,
        )?;
        histogram(
            &mut e,
            "verbatim_call_cpu_per_pass",
            "The media threads' CPU per call: a pass's thread CPU time divided by the calls it served (one \
             sample per pass with work, never per frame)",
            Some(Unit::Seconds),
            &media.map(|m| m.call_cpu_ns().snapshot()).unwrap_or_default(),
            1e9,
        )?;
        counter_f(
            &mut e,
            "verbatim_media_cpu",
            "CPU time of the media threads",
            Some(Unit::Seconds),
            media.map_or(0.0, |m| m.cpu_ns() as f64 * 1e-9),
        )?;
        counter(
            &mut e,
            "verbatim_media_passes",
            "Passes of the media threads over their calls (an idle thread passes every 250 ms)",
            None,
            media.map_or(0, |m| m.passes()),
        )?;

        // Durability and storage.
        histogram(
            &mut e,
            "verbatim_fsync_round",
            "Time of each group-commit round (one syncfs making every recording's writes durable); empty with \
             --fsync-per-file",
            Some(Unit::Seconds),
            &src.fsync.as_ref().map(|h| h.snapshot()).unwrap_or_default(),
            1e6,
        )?;
        counter(
            &mut e,
            "verbatim_fsync_rounds_failed",
            "Group-commit rounds that failed (an I/O error writing back the recordings' file system)",
            None,
            src.fsync_failed
                .as_ref()
                .map_or(0, |g| g.stats().failed_rounds),
        )?;
        histogram(
            &mut e,
            "verbatim_upload",
            "Time of each upload to the object store",
            Some(Unit::Seconds),
            &n.upload_us.snapshot(),
            1e6,
        )?;
        gauge(
            &mut e,
            "verbatim_upload_backlog_bytes",
            "Bytes recorded but not yet uploaded to the object store",
            None,
            n.upload_backlog.load(Ordering::Relaxed).max(0),
        )?;
        gauge(
            &mut e,
            "verbatim_store_ok",
            "1 while the object store accepts uploads (or none is configured), 0 when it fails",
            None,
            i64::from(n.store_ok()),
        )?;
        let disk = super::free_bytes(&sh.opts.out).ok();
        gauge(
            &mut e,
            "verbatim_disk_free_bytes",
            "Bytes available on the recordings' file system (-1: cannot be read)",
            None,
            disk.map_or(-1, |d| i64::try_from(d).unwrap_or(i64::MAX)),
        )?;
        gauge(
            &mut e,
            "verbatim_disk_reserve_bytes",
            "The free space below which new calls are refused (--min-free-disk)",
            None,
            i64::try_from(sh.opts.min_free_disk).unwrap_or(i64::MAX),
        )?;
        gauge(
            &mut e,
            "verbatim_disk_reserve_met",
            "1 while the free space is at or above the reserve",
            None,
            i64::from(disk.is_some_and(|d| d >= sh.opts.min_free_disk)),
        )?;

        // Process and admission.
        let p = process();
        counter_f(
            &mut e,
            "verbatim_process_cpu",
            "CPU time of the whole process (user and system)",
            Some(Unit::Seconds),
            p.cpu_seconds,
        )?;
        gauge(
            &mut e,
            "verbatim_process_resident_memory_bytes",
            "Resident memory of the process (/proc/self/statm)",
            None,
            p.rss_bytes,
        )?;
        let a = src.admission.figures();
        gauge_f(
            &mut e,
            "verbatim_call_cost_cores",
            "Per-call cost the admission uses: measured process CPU (cores) per running call, or the default \
             before enough is measured",
            None,
            a.cost_cores,
        )?;
        gauge(
            &mut e,
            "verbatim_call_cost_measured",
            "1 once the per-call cost is measured (else the admission uses the stated default)",
            None,
            i64::from(a.measured),
        )?;
        gauge_f(
            &mut e,
            "verbatim_capacity_cores",
            "Cores the admission fills at most (--max-load times the cores available; 0: no load limit)",
            None,
            a.capacity_cores,
        )?;
        gauge(
            &mut e,
            "verbatim_draining",
            "1 while the server drains (SIGTERM or POST /admin/drain): no new calls, running ones finish",
            None,
            i64::from(src.drain.is_draining()),
        )?;
        Ok(())
    }
}

/// What `/proc/self` and the process CPU clock say.
struct Process {
    cpu_seconds: f64,
    rss_bytes: i64,
}

fn process() -> Process {
    let cpu = super::admission::process_cpu_ns() as f64 * 1e-9;
    // statm: size resident shared … in pages.
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<i64>().ok())
        .map_or(-1, |pages| pages.saturating_mul(page_size()));
    Process {
        cpu_seconds: cpu,
        rss_bytes: rss,
    }
}

fn page_size() -> i64 {
    i64::try_from(rustix::param::page_size()).unwrap_or(4096)
}

/// Encodes the registry as OpenMetrics text (ends with `# EOF`).
pub(crate) fn encode(r: &Registry) -> Result<String, std::fmt::Error> {
    let mut s = String::with_capacity(16 << 10);
    prometheus_client::encoding::text::encode(&mut s, r)?;
    Ok(s)
}

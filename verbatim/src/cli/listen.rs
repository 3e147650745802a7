//! `verbatim listen`: its arguments and the command (a tokio runtime around [`verbatim::listen::bind`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use bot_adapter::grpc::auth::BearerToken;
use bot_adapter::grpc::limits::Limits;
use verbatim::listen::{bind, ListenOptions, TlsPem, COMPOSITE_BITRATE};

/// `verbatim listen` arguments.
#[derive(clap::Args, Debug)]
pub struct ListenArgs {
    /// Address to listen on (e.g. 0.0.0.0:50051; port 0 = any free port, printed).
    #[arg(long)]
    pub bind: SocketAddr,
    /// Folder for the recordings (one sub-folder per call).
    #[arg(long)]
    pub out: PathBuf,
    /// File holding the bearer token bots must present (required unless --no-auth).
    #[arg(long, required_unless_present = "no_auth")]
    pub token_file: Option<PathBuf>,
    /// Accept bots without a token (trusted networks and tests only).
    #[arg(long, conflicts_with = "token_file")]
    pub no_auth: bool,
    /// TLS certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Sign recordings with this key (default: the installation's key).
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
    /// Encrypt every file of every recording to this age recipient (`age1…`); repeatable (see `verbatim
    /// decrypt`).
    #[arg(long = "encrypt-to", value_name = "RECIPIENT")]
    pub encrypt_to: Vec<String>,
    /// Time-stamp every signature checkpoint with this RFC 3161 time-stamping authority (HTTP URL); a TSA
    /// that is down never stops a recording (failures are counted in the final status note).
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
    /// Most calls recorded at once.
    #[arg(long, default_value_t = Limits::default().max_calls)]
    pub max_calls: usize,
    /// Most participants recorded per call.
    #[arg(long, default_value_t = Limits::default().max_participants)]
    pub max_participants: usize,
    /// Most video streams (cameras and screen shares, re-joins included) recorded per call.
    #[arg(long, default_value_t = Limits::default().max_video_streams)]
    pub max_video_streams: usize,
    /// Largest bot message, bytes.
    #[arg(long, default_value_t = Limits::default().max_message_bytes)]
    pub max_message_bytes: usize,
    /// Media held before the bot confirms `recording` (e.g. 5s).
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub preroll: media_core::MediaTime,
    /// Most bytes held in one call's pre-roll.
    #[arg(long, default_value_t = Limits::default().max_preroll_bytes)]
    pub max_preroll_bytes: usize,
    /// How long to wait for the `recording` confirmation.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub confirm_timeout: media_core::MediaTime,
    /// A call without any message for this long is finalized as interrupted.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub idle_timeout: media_core::MediaTime,
    /// A network thread that runs out of work waits this long before it sleeps, so the bot messages that
    /// arrive meanwhile (every call sends one per 20 ms) are handled in one wake-up, not one each: at 100
    /// calls it saves ~20 % of listen's CPU for ~1 ms more from the bot to the hand-off. Idle, it costs one
    /// wait per wake-up, nothing periodic. 0 turns it off.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2ms")]
    pub coalesce: std::time::Duration,
    /// How far a call's recording time may run ahead of the wall-clock time since its first message (a
    /// bot's timestamps are not trusted to move time faster than it passes); `off` only to replay recorded
    /// calls faster than real time (`verbatim send --fast`).
    #[arg(long, value_parser = parse_lead, default_value = "5s")]
    pub max_lead: MaxLead,
    /// Refuse new calls while the recordings' file system has less free space than this (e.g. 1GiB, 500MB,
    /// 0 to never refuse). A call whose disk fills up anyway fails alone, reported to its bot as `failed`.
    #[arg(long, value_parser = parse_size, default_value = "1GiB")]
    pub min_free_disk: u64,
    /// Fsync each call's files every second instead of one node-wide `syncfs` round for all calls (group
    /// commit, the default: a few dozen syncs a second for the node whatever the number of calls; it syncs
    /// the whole file system of `--out`, so give recordings a volume of their own).
    #[arg(long)]
    pub fsync_per_file: bool,
    #[command(flatten)]
    pub store: super::store::StoreArgs,
    /// Record every call's composite meeting video in its recording.mp4 (cameras or initials, the screen
    /// share; 1280x720, 15 fps), made on each call's video thread. Off by default: it costs an H.264 encode
    /// per call even when nobody has a camera on.
    #[arg(long)]
    pub composite: bool,
    /// Composite layout: grid, speaker (active speaker with filmstrip), screenshare.
    #[arg(long, default_value = "grid", value_parser = verbatim::composite::parse_layout, requires = "composite")]
    pub layout: codecs::composite::Layout,
    /// Serve metrics (OpenMetrics at /metrics), /healthz, /readyz and POST /admin/drain on this port or
    /// address: a bare port or :PORT binds 127.0.0.1 (loopback); 0.0.0.0:9100 binds every interface (the port
    /// has no authentication). The bound address is printed.
    #[arg(long, value_name = "ADDR", value_parser = verbatim::listen::http::metrics_addr)]
    pub metrics: Option<SocketAddr>,
    /// Serve the compliance console for this node on this port or address (as --metrics): the catalogue of
    /// --out, and the calls in progress with live listen-in for supervisors (users: `verbatim users add NAME
    /// --role supervisor --root OUT`). With --tls-cert/--tls-key the console is served over TLS with the same
    /// certificate (and may then bind off loopback); without, plain HTTP on loopback only. Printed as
    /// `console on https://ADDR/` (or `http://`).
    #[arg(long, value_name = "ADDR", value_parser = verbatim::listen::http::metrics_addr)]
    pub console: Option<SocketAddr>,
    /// Admit a new call only while the measured per-call CPU cost times the calls fits this share of the
    /// cores (e.g. 0.8); refused calls get RESOURCE_EXHAUSTED with the figures. Off by default (--max-calls
    /// only). See docs/operations.md.
    #[arg(long, value_name = "SHARE", value_parser = parse_load)]
    pub max_load: Option<f64>,
    /// Log format on stderr: text, or json (one object per line). RUST_LOG filters (default info).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

fn parse_load(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!(
            "{s:?}: expected a positive share of the cores, e.g. 0.8"
        )),
    }
}

/// Structured logs on stderr (a span per call puts its id and leg on every line about it).
fn init_logs(format: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if format == "json" {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

/// A size: bytes, or with a unit (kB, MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB: of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 1GiB"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        u => return Err(format!("{s:?}: unknown unit {u:?}")),
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("{s:?}: too large"))
}

fn parse_duration(s: &str) -> Result<media_core::MediaTime, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(media_core::MediaTime::from_ticks(
        (d.as_nanos() / 100).min(i64::MAX as u128) as i64,
    ))
}

/// `--max-lead`: a duration, or `off` (`None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxLead(pub Option<media_core::MediaTime>);

fn parse_lead(s: &str) -> Result<MaxLead, String> {
    if s == "off" {
        return Ok(MaxLead(None));
    }
    parse_duration(s).map(|d| MaxLead(Some(d)))
}

/// Runs `verbatim listen` until Ctrl-C, or until drained (`SIGTERM`, `POST /admin/drain`: see
/// [`verbatim::listen::drain::shutdown_signal`]).
///
/// # Errors
/// Bad arguments, unreadable token or TLS files, or a server failure.
pub fn run(a: ListenArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let token = match &a.token_file {
        Some(f) => Some(
            BearerToken::new(&std::fs::read_to_string(f).with_context(|| f.display().to_string())?)
                .with_context(|| f.display().to_string())?,
        ),
        None => None,
    };
    let mut opts = ListenOptions::new(&a.out, token);
    if let (Some(c), Some(k)) = (&a.tls_cert, &a.tls_key) {
        opts.tls = Some(TlsPem {
            cert: std::fs::read(c).with_context(|| c.display().to_string())?,
            key: std::fs::read(k).with_context(|| k.display().to_string())?,
        });
    }
    opts.record.signing_key = a.signing_key.clone();
    opts.record.tsa_url = a.tsa.clone();
    opts.record.encrypt_to = super::crypt::recipients(&a.encrypt_to)?;
    opts.record.recorder.call_clock.max_lead = a.max_lead.0;
    opts.min_free_disk = a.min_free_disk;
    opts.group_commit = !a.fsync_per_file;
    opts.max_load = a.max_load;
    init_logs(&a.log_format);
    opts.store = a.store.config()?;
    if a.composite {
        let cfg = codecs::composite::CompositorConfig {
            layout: a.layout,
            ..Default::default()
        };
        opts.record.composite = Some((cfg, COMPOSITE_BITRATE));
    }
    opts.limits = Limits {
        max_calls: a.max_calls.max(1),
        max_participants: a.max_participants.max(1),
        max_video_streams: a.max_video_streams,
        max_message_bytes: a.max_message_bytes.max(1024),
        preroll: a.preroll,
        max_preroll_bytes: a.max_preroll_bytes,
        confirm_timeout: a.confirm_timeout,
        idle_timeout: a.idle_timeout,
        ..Limits::default()
    };
    // Load (or create) the signing key now, so a bad key fails at start rather than at the first call.
    verbatim::keys::signing_key(opts.record.signing_key.as_deref()).context("signing key")?;
    // A worker about to park waits first (--coalesce), so the bot messages that arrive meanwhile are handled
    // in one wake-up instead of one each (issue 14: the context switches around each 20 ms message were the
    // largest item of the network threads). Capped: a mistyped value must not stall the server.
    let nap = a.coalesce.min(std::time::Duration::from_millis(20));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(move || {
            if !nap.is_zero() {
                std::thread::sleep(nap);
            }
        })
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let l = bind(a.bind, opts)?;
        let stats = l.stats();
        let commit = l.group_commit();
        let media = l.media_pool();
        let metrics = a.metrics.map(|m| l.serve_metrics(m)).transpose()?;
        let console = match a.console {
            Some(c) => {
                let tls = a.tls_cert.clone().zip(a.tls_key.clone());
                Some(l.serve_console(c, tls).await?)
            }
            None => None,
        };
        println!(
            "listening on {}{}",
            l.local_addr(),
            if a.tls_cert.is_some() { " (TLS)" } else { "" }
        );
        if let Some(m) = metrics {
            println!("metrics on http://{m}/metrics");
        }
        if let Some(c) = console {
            let scheme = if a.tls_cert.is_some() { "https" } else { "http" };
            println!("console on {scheme}://{c}/");
        }
        let shutdown = verbatim::listen::drain::shutdown_signal(l.drain(), std::sync::Arc::clone(&stats));
        l.serve(shutdown).await?;
        // Let running calls finalize (interrupted when their bots are gone) before the runtime stops.
        let t0 = std::time::Instant::now();
        while stats.calls_active.load(Ordering::Relaxed) > 0 && t0.elapsed().as_secs() < 30 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        println!("{}", stats.summary_line());
        if let Some(m) = media {
            let h = m.step_times();
            let q = |q| h.quantile_us(q).map_or_else(|| "-".into(), |v| v.to_string());
            println!(
                "media threads ({}): a call's step (its events handled, its ticks written) p50 {} µs p99 {} µs \
                 max {} µs over {} steps",
                m.threads(),
                q(0.5),
                q(0.99),
                h.max_us(),
                h.count()
            );
        }
        if let Some(c) = commit {
            let s = c.stats();
            println!(
                "group commit: {} rounds ({} failed) for {} requests; syncfs p50 {} µs p99 {} µs; \
                 request -> durable p99 {} µs max {} µs",
                s.rounds,
                s.failed_rounds,
                s.requests,
                s.round_p50_us,
                s.round_p99_us,
                s.wait_p99_us,
                s.wait_max_us
            );
        }
        Ok::<(), anyhow::Error>(())
    })
}

//! `verbatim listen`: the gRPC ingest server. Every call a bot streams in becomes its own recording folder.
//!
//! ```text
//!  bot ══ TLS? ══► tonic (auth interceptor, max message size) ──► one task per call (listen/call.rs)
//!                                                                   convert ─► RecordingState ─► LiveRecording
//!                                                                   (pre-roll, pause)            (media worker
//!                                                                                                 thread, folder)
//! ```
//!
//! * **Isolation.** Each call is a tokio task that only converts, checks and pushes onto its own bounded
//!   lock-free queue; its media worker is its own thread. File creation, finalization and syncing run on
//!   tokio's blocking pool. A slow, stalled or abusive call can fill only its own queue (it then waits, at most
//!   [`Limits::queue_capacity`] events and one second, before dropping and counting) and never holds a lock
//!   another call's media path needs.
//! * **Authentication.** A bearer token (constant-time comparison) is checked before the stream reaches the
//!   service: a stream that fails it is refused with `UNAUTHENTICATED` and writes nothing.
//! * **Limits** ([`Limits`]): message size (`OUT_OF_RANGE`), calls per server (`RESOURCE_EXHAUSTED`),
//!   participants per call and pre-roll bytes (`Error(LIMIT_EXCEEDED)` to the bot, counted).
//! * **Handshake** (see [`bot_adapter::grpc::status`]): nothing is created on disk before the bot confirms
//!   that Graph accepted `recording`; a call that ends, fails or times out before that leaves a folder holding
//!   only `metadata.json` saying so. At the call end the files are finalized and synced before the bot is told
//!   to report that recording ended. A dropped connection finalizes the call as `interrupted`.
//! * **Legs** (see `listen/legs.rs`): the registry is keyed by (call id, `CallStart.leg_id`): the second
//!   recorder bot of a call is recorded in its own folder (`<call>-leg<id>`), the same leg twice at once is
//!   refused `ALREADY_EXISTS`, and a leg that comes back after its stream ended (a reconnect) records into a
//!   new folder whose `metadata.json` links the earlier one (`call.continues`).
//! * **Fleet operation** (see docs/operations.md): node metrics and health on a port of their own
//!   (`listen/metrics.rs`, `listen/http.rs`), admission by measured load (`listen/admission.rs`), draining
//!   for rolling upgrades (`listen/drain.rs`), and a log span per call (`tracing`) with its id and leg.

pub mod admission;
mod call;
pub mod drain;
pub mod http;
mod legs;
pub(crate) mod listen_in;
pub mod metrics;
pub mod stats;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bot_adapter::grpc::auth::BearerToken;
use bot_adapter::grpc::limits::Limits;
use bot_adapter::grpc::proto::call_ingest_server::{CallIngest, CallIngestServer};
use bot_adapter::grpc::proto::{self, bot_message::Msg};
use bot_adapter::grpc::status::Phase;
use tokio::sync::Semaphore;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

use crate::engine::RecorderConfig;
use crate::record::RecordOptions;

/// How far a live call's recording time may run ahead of the wall-clock time since its first message
/// (`--max-lead`): a bot's timestamps cannot make the server write media that has not arrived yet.
pub const DEFAULT_MAX_LEAD: media_core::MediaTime = media_core::MediaTime::from_secs(5);
pub use stats::{LatencyHistogram, ServerStats};

/// How to serve.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    /// Where recording folders go (one per call, named after the call id).
    pub out: PathBuf,
    /// The bearer token bots must present; `None` turns authentication off (tests, `--no-auth`).
    pub token: Option<BearerToken>,
    /// TLS certificate chain and private key (PEM); `None` = plain HTTP/2.
    pub tls: Option<TlsPem>,
    /// Every bound of the service.
    pub limits: Limits,
    /// The template for every call's recording (recorder tuning, signing key, Opus bitrate); `out` and `call`
    /// are set per call.
    pub record: RecordOptions,
    /// New calls are refused (`RESOURCE_EXHAUSTED`) while the file system of `out` has less free space than
    /// this, in bytes ([`DEFAULT_MIN_FREE_DISK`]; `--min-free-disk`).
    pub min_free_disk: u64,
    /// Make every call's files durable through one node-wide group commit (`syncfs` rounds on `out`'s file
    /// system, [`muxer::group_commit`]) instead of an fsync per file per second (default `true`;
    /// `--fsync-per-file` turns it off). Ignored when `record.group_commit` is already set.
    pub group_commit: bool,
    /// Admit a new call only while the measured per-call cost times the calls fits this share of the cores
    /// (`--max-load`, e.g. 0.8; `None`: only `max_calls` bounds the calls). See [`admission`].
    pub max_load: Option<f64>,
    /// Upload every call's folder while it is written to this WORM store (`--store`, see the `store`
    /// crate); `None`: local folders only.
    pub store: Option<store::StoreConfig>,
}

/// The free space below which `listen` refuses new calls unless told otherwise: 1 GiB (an hour of a
/// 4-speaker call with video takes a few hundred MB).
pub const DEFAULT_MIN_FREE_DISK: u64 = 1 << 30;

/// Bytes available to this process on the file system holding `path` (`statvfs`).
///
/// # Errors
/// The OS error (e.g. the folder has vanished).
///
/// # Examples
/// ```
/// let free = verbatim::listen::free_bytes(&std::env::temp_dir()).unwrap();
/// assert!(free > 0);
/// ```
pub fn free_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(path)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Why a new call cannot be recorded on the disk at `out` now, as the gRPC status to answer.
fn disk_refusal(out: &std::path::Path, min_free: u64) -> Option<Status> {
    match free_bytes(out) {
        Ok(free) if free >= min_free => None,
        Ok(free) => Some(Status::resource_exhausted(format!(
            "{}: {free} bytes free, below the reserve of {min_free} bytes (--min-free-disk): \
             no new call is recorded until space is freed",
            out.display()
        ))),
        Err(e) => Some(Status::unavailable(format!(
            "{}: cannot read the free space of the recordings folder: {e}",
            out.display()
        ))),
    }
}

impl ListenOptions {
    /// Defaults for serving into `out`, with authentication by `token`.
    pub fn new(out: impl Into<PathBuf>, token: Option<BearerToken>) -> Self {
        let out = out.into();
        let mut record = RecordOptions::new(&out);
        // A live call: recording time never runs ahead of the wall clock by more than this.
        record.recorder = RecorderConfig::live(DEFAULT_MAX_LEAD);
        ListenOptions {
            record,
            out,
            token,
            tls: None,
            limits: Limits::default(),
            min_free_disk: DEFAULT_MIN_FREE_DISK,
            group_commit: true,
            max_load: None,
            store: None,
        }
    }
}

/// A certificate chain (leaf first) and its private key, PEM.
#[derive(Clone)]
pub struct TlsPem {
    /// Certificate chain.
    pub cert: Vec<u8>,
    /// Private key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsPem(<cert>, <key redacted>)")
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The address could not be bound.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output folder could not be created.
    #[error("{path}: {source}", path = path.display())]
    Out {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The group commit could not start on the output's file system (`syncfs` refused).
    #[error(
        "{path}: cannot make recordings durable with syncfs: {source} (--fsync-per-file fsyncs each file \
         instead)",
        path = path.display()
    )]
    Durability {
        /// The output folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be set up, or the server failed.
    #[error("server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The writer or media threads could not be started.
    #[error("worker threads: {0}")]
    Writer(String),
    /// The compliance console (`--console`) could not start.
    #[error("console: {0}")]
    Console(String),
}

/// One call's leg the server handles now (for `GetCall` and duplicate detection).
pub(crate) struct CallEntry {
    phase: Mutex<Phase>,
    audio_buffers: AtomicU64,
    /// Paused now (for the `paused` state of the calls metric).
    paused: std::sync::atomic::AtomicBool,
    /// The earlier folder of the same leg this stream continues (set once, before the call's task starts).
    pub(crate) continues: std::sync::OnceLock<recorder::metadata::ContinuesMeta>,
    /// The call's folder under the output (set once the task reserved it).
    pub(crate) folder: std::sync::OnceLock<String>,
    /// When the stream started (UTC).
    pub(crate) started_utc: String,
    /// The console's requests to the call's task (listen-in).
    pub(crate) commands: tokio::sync::mpsc::Sender<listen_in::CallCommand>,
    /// Their receiving end, taken by the call's task.
    pub(crate) command_rx: Mutex<Option<tokio::sync::mpsc::Receiver<listen_in::CallCommand>>>,
}

impl CallEntry {
    pub(crate) fn set_phase(&self, p: Phase) {
        if let Ok(mut g) = self.phase.lock() {
            *g = p;
        }
    }
    pub(crate) fn phase(&self) -> Phase {
        self.phase.lock().map_or(Phase::Ended, |g| *g)
    }
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }
    pub(crate) fn count_audio(&self) {
        self.audio_buffers.fetch_add(1, Ordering::Relaxed);
    }
}

/// State shared by every call's task. The registry lock is taken only at call start and end, never on the
/// media path.
pub(crate) struct Shared {
    pub(crate) opts: ListenOptions,
    pub(crate) stats: Arc<ServerStats>,
    calls: Mutex<HashMap<legs::LegKey, Arc<CallEntry>>>,
    /// Legs whose stream ended (taken inside the `calls` lock, never the other way round).
    ended: Mutex<legs::EndedLegs>,
    folders: Mutex<HashSet<String>>,
    slots: Arc<Semaphore>,
    /// Node-wide figures for `--metrics` (never per call).
    pub(crate) metrics: Arc<metrics::NodeMetrics>,
    pub(crate) admission: Arc<admission::Admission>,
    pub(crate) drain: Arc<drain::Drain>,
}

impl Shared {
    /// Reserves a folder name for a call's leg (see [`legs::folder_base`]): file-safe, unique among running
    /// calls and existing folders.
    pub(crate) fn reserve_folder(&self, call_id: &str, leg_id: &str) -> String {
        let base: String = call_id
            .chars()
            .take(120)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = if base.trim_matches('.').is_empty() {
            "call".to_string()
        } else {
            base
        };
        // The leg id is file-safe already (checked at `CallStart`); after the cut, so it is never cut off.
        let base = legs::folder_base(&base, leg_id);
        let mut g = match self.folders.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut name = base.clone();
        let mut n = 2;
        while g.contains(&name) || self.opts.out.join(&name).exists() {
            name = format!("{base}-{n}");
            n += 1;
        }
        g.insert(name.clone());
        name
    }

    /// The state of every call in the registry, as the `state` labels of the calls metric.
    pub(crate) fn phases(&self) -> Vec<&'static str> {
        let Ok(calls) = self.calls.lock() else {
            return Vec::new();
        };
        calls
            .values()
            .map(|e| match e.phase() {
                Phase::AwaitingStart | Phase::AwaitingConfirmation => "awaiting_confirmation",
                Phase::Recording if e.paused.load(Ordering::Relaxed) => "paused",
                Phase::Recording => "recording",
                Phase::NotRecorded | Phase::Ended => "finishing",
            })
            .collect()
    }

    /// The call's leg is over: it leaves the registry, and a later stream of the same leg continues `folder`.
    pub(crate) fn release(&self, call_id: &str, leg_id: &str, folder: &str) {
        if let Ok(mut g) = self.calls.lock() {
            let key = (call_id.to_string(), leg_id.to_string());
            if let Ok(mut ended) = self.ended.lock() {
                ended.record(key.clone(), folder.to_string());
            }
            g.remove(&key);
        }
        if let Ok(mut g) = self.folders.lock() {
            g.remove(folder);
        }
    }
}

/// The tonic service.
#[derive(Clone)]
struct IngestService {
    shared: Arc<Shared>,
}

type EngineStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<proto::EngineMessage, Status>> + Send>>;

#[tonic::async_trait]
impl CallIngest for IngestService {
    type StreamCallStream = EngineStream;

    async fn stream_call(
        &self,
        request: Request<Streaming<proto::BotMessage>>,
    ) -> Result<Response<EngineStream>, Status> {
        let sh = &self.shared;
        let limits = sh.opts.limits;
        if sh.drain.is_draining() {
            sh.stats.calls_refused_full.fetch_add(1, Ordering::Relaxed);
            sh.metrics.refused(metrics::Refusal::Draining);
            return Err(Status::unavailable(
                "draining: this server finishes its running calls and takes no new ones (try another)",
            ));
        }
        let Ok(permit) = Arc::clone(&sh.slots).try_acquire_owned() else {
            sh.stats.calls_refused_full.fetch_add(1, Ordering::Relaxed);
            sh.metrics.refused(metrics::Refusal::Full);
            return Err(Status::resource_exhausted(format!(
                "this server records at most {} calls at once",
                limits.max_calls
            )));
        };
        if let Err(why) = sh
            .admission
            .check(sh.stats.calls_active.load(Ordering::Relaxed))
        {
            sh.stats.calls_refused_full.fetch_add(1, Ordering::Relaxed);
            sh.metrics.refused(metrics::Refusal::Load);
            return Err(Status::resource_exhausted(why));
        }
        let mut inbound = request.into_inner();
        let refuse = |s: Status| {
            sh.stats.calls_refused_start.fetch_add(1, Ordering::Relaxed);
            sh.metrics.refused(metrics::Refusal::Start);
            s
        };
        if let Some(s) = disk_refusal(&sh.opts.out, sh.opts.min_free_disk) {
            sh.stats.calls_refused_start.fetch_add(1, Ordering::Relaxed);
            sh.metrics.refused(metrics::Refusal::Disk);
            return Err(s);
        }
        let first =
            tokio::time::timeout(call::duration(limits.start_timeout), inbound.message()).await;
        let start = match first {
            Err(_) => {
                return Err(refuse(Status::deadline_exceeded(format!(
                    "no call_start within {:.0} s",
                    limits.start_timeout.as_secs_f64()
                ))))
            }
            Ok(Err(status)) => return Err(refuse(status)),
            Ok(Ok(None)) => {
                return Err(refuse(Status::invalid_argument(
                    "the stream ended before call_start",
                )))
            }
            Ok(Ok(Some(proto::BotMessage {
                msg: Some(Msg::CallStart(s)),
            }))) => s,
            Ok(Ok(Some(_))) => {
                return Err(refuse(Status::failed_precondition(
                    "the first message of a call must be call_start (media before call start is refused)",
                )))
            }
        };
        sh.stats.messages.fetch_add(1, Ordering::Relaxed);
        let desc = bot_adapter::grpc::convert::call_start_from_proto(start)
            .map_err(|e| refuse(Status::invalid_argument(e.to_string())))?;
        let (commands, command_rx) = tokio::sync::mpsc::channel(8);
        let entry = Arc::new(CallEntry {
            phase: Mutex::new(Phase::AwaitingConfirmation),
            audio_buffers: AtomicU64::new(0),
            paused: std::sync::atomic::AtomicBool::new(false),
            continues: std::sync::OnceLock::new(),
            folder: std::sync::OnceLock::new(),
            started_utc: recorder::metadata::utc(
                std::time::SystemTime::now(),
                media_core::MediaTime::ZERO,
            ),
            commands,
            command_rx: Mutex::new(Some(command_rx)),
        });
        let key = (desc.call_id.clone(), desc.leg_id.clone());
        let earlier = {
            let mut calls = sh
                .calls
                .lock()
                .map_err(|_| Status::internal("call registry poisoned"))?;
            if calls.contains_key(&key) {
                let leg = if desc.leg_id == "1" {
                    String::new()
                } else {
                    format!(" (leg {})", desc.leg_id)
                };
                return Err(refuse(Status::already_exists(format!(
                    "call {}{leg} is already being streamed",
                    desc.call_id
                ))));
            }
            calls.insert(key.clone(), Arc::clone(&entry));
            sh.ended.lock().ok().and_then(|e| e.last(&key).cloned())
        };
        // A reconnect of this leg: link the folder its earlier stream wrote (its manifest is final by now).
        // (Nothing may return early from here on: the entry is registered, only the call's task releases it.)
        if let Some(folder) = earlier {
            let dir = sh.opts.out.join(folder);
            let link =
                tokio::task::spawn_blocking(move || recorder::metadata::ContinuesMeta::of(&dir))
                    .await;
            if let Ok(link) = link {
                let _ = entry.continues.set(link);
            }
        }
        let (tx, rx) = tokio::sync::mpsc::channel(limits.outbound_capacity.max(4));
        let shared = Arc::clone(sh);
        // Counted before the task starts, so a drain never sees zero calls while this one is on its way.
        shared.stats.calls_active.fetch_add(1, Ordering::Relaxed);
        // Every log line about the call carries its id and leg.
        let span = tracing::info_span!("call", call_id = %desc.call_id, leg = %desc.leg_id);
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                call::run(Arc::clone(&shared), desc, inbound, tx, entry).await;
                shared.stats.calls_active.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            },
            span,
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn get_call(
        &self,
        request: Request<proto::GetCallRequest>,
    ) -> Result<Response<proto::CallState>, Status> {
        let id = request.into_inner().call_id;
        let entry = {
            let calls = self
                .shared
                .calls
                .lock()
                .map_err(|_| Status::internal("call registry poisoned"))?;
            // Leg 1 when it streams, else any leg of the call.
            calls
                .get_key_value(&(id.clone(), "1".to_string()))
                .or_else(|| calls.iter().find(|((c, _), _)| *c == id))
                .map(|((_, leg), e)| (leg.clone(), Arc::clone(e)))
        };
        match entry {
            Some((leg_id, e)) => Ok(Response::new(proto::CallState {
                call_id: id,
                phase: e.phase().name().to_string(),
                audio_buffers: e.audio_buffers.load(Ordering::Relaxed),
                leg_id,
            })),
            None => Err(Status::not_found(format!("no call {id:?} on this server"))),
        }
    }
}

/// The HTTP/2 connection flow-control window (bytes): what a bot's calls may have in flight, unread, on one
/// connection (see the server builder in [`Listener::serve`]).
const CONNECTION_WINDOW: u32 = 64 << 20;
/// The HTTP/2 stream window (bytes): what one call may have in flight, unread.
const STREAM_WINDOW: u32 = 1 << 20;

/// Writer threads shared by all calls of a server (file writes, hashing, Opus, fsync of every recording).
const MAX_WRITER_THREADS: usize = 4;

/// Media threads shared by all calls of a server: one per core, at most this many (the recorder core costs
/// ~0.1 ms per recorded second of a 4-speaker call, so a few threads serve hundreds of calls).
const MAX_MEDIA_THREADS: usize = 4;

/// A bound server, ready to serve.
pub struct Listener {
    incoming: TcpIncoming,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// Binds `addr` (port 0 = any free port) and prepares the service. Must be called inside a tokio runtime.
///
/// # Errors
/// [`ListenError::Bind`] when the address cannot be bound, [`ListenError::Out`] when the output folder cannot
/// be created, [`ListenError::Durability`] when its file system refuses `syncfs` (group commit).
pub fn bind(addr: SocketAddr, mut opts: ListenOptions) -> Result<Listener, ListenError> {
    std::fs::create_dir_all(&opts.out).map_err(|e| ListenError::Out {
        path: opts.out.clone(),
        source: e,
    })?;
    // Every call's folder writer runs on a small shared pool of writer threads (not one thread per call).
    if opts.record.writer_pool.is_none() {
        // One per core (at most 4): more threads than cores only add wake-ups (measured on 2 cores, 100
        // calls: 4 threads 3.68, 2 threads 3.48 ms of CPU per recorded second, with a 10 ms poll).
        let n = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_WRITER_THREADS);
        let pool = crate::writer_thread::WriterPool::new(n, opts.record.writer)
            .map_err(|e| ListenError::Writer(e.to_string()))?;
        opts.record.writer_pool = Some(Arc::new(pool));
    }
    // One commit thread makes every call's writes durable: a `syncfs` per round instead of ~8 fsyncs per
    // call per second.
    if opts.group_commit && opts.record.group_commit.is_none() {
        let gc = muxer::group_commit::GroupCommit::start(
            Arc::new(muxer::storage::StdStorage),
            &opts.out,
            muxer::group_commit::GroupCommitOptions::default(),
        )
        .map_err(|e| ListenError::Durability {
            path: opts.out.clone(),
            source: e,
        })?;
        opts.record.group_commit = Some(Arc::new(gc));
    }
    // ... and every call's media work on a small shared pool of media threads.
    if opts.record.media_pool.is_none() {
        let n = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_MEDIA_THREADS);
        let pool = crate::media_worker::MediaPool::new(n)
            .map_err(|e| ListenError::Writer(format!("cannot start the media threads: {e}")))?;
        opts.record.media_pool = Some(Arc::new(pool));
    }
    let (listener, bound) = bind_port(addr)?;
    // serve_with_incoming ignores the builder's tcp_nodelay: set it here, or bursts wait on Nagle.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let slots = Arc::new(Semaphore::new(opts.limits.max_calls));
    let admission = Arc::new(admission::Admission::new(
        opts.max_load,
        admission::Admission::available_cores(),
    ));
    Ok(Listener {
        incoming,
        addr: bound,
        shared: Arc::new(Shared {
            opts,
            stats: Arc::new(ServerStats::default()),
            calls: Mutex::new(HashMap::new()),
            ended: Mutex::new(legs::EndedLegs::default()),
            folders: Mutex::new(HashSet::new()),
            slots,
            metrics: Arc::new(metrics::NodeMetrics::default()),
            admission,
            drain: Arc::new(drain::Drain::default()),
        }),
    })
}

impl Listener {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's counters and latency histograms.
    pub fn stats(&self) -> Arc<ServerStats> {
        Arc::clone(&self.shared.stats)
    }

    /// The node's group commit (rounds, `syncfs` and wait percentiles), when the calls use one.
    pub fn group_commit(&self) -> Option<Arc<muxer::group_commit::GroupCommit>> {
        self.shared.opts.record.group_commit.clone()
    }

    /// The shared media threads (their per-call step times), when the calls use the pool.
    pub fn media_pool(&self) -> Option<Arc<crate::media_worker::MediaPool>> {
        self.shared.opts.record.media_pool.clone()
    }

    /// The node's figures and the hooks an uploader reports through (see [`metrics::NodeMetrics`]).
    pub fn metrics(&self) -> Arc<metrics::NodeMetrics> {
        Arc::clone(&self.shared.metrics)
    }

    /// The drain flag: [`drain::Drain::start`] stops admitting calls (as `SIGTERM` does).
    pub fn drain(&self) -> Arc<drain::Drain> {
        Arc::clone(&self.shared.drain)
    }

    /// Binds the metrics port at `addr` and serves `/metrics`, `/healthz`, `/readyz` and `POST /admin/drain`
    /// on the current tokio runtime (see [`http`]) until the runtime stops. Returns the bound address.
    ///
    /// # Errors
    /// [`ListenError::Bind`] when the address cannot be bound.
    pub fn serve_metrics(&self, addr: SocketAddr) -> Result<SocketAddr, ListenError> {
        let (listener, bound) = bind_port(addr)?;
        let sh = &self.shared;
        let commit = sh.opts.record.group_commit.clone();
        let sources = Arc::new(metrics::Sources {
            node: Arc::clone(&sh.metrics),
            shared: Arc::clone(sh),
            media: sh.opts.record.media_pool.as_ref().map(|p| p.stats()),
            fsync: commit.as_ref().map(|c| c.round_histogram()),
            fsync_failed: commit,
            admission: Arc::clone(&sh.admission),
            drain: Arc::clone(&sh.drain),
        });
        let app = http::router(sources);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("metrics port {bound}: {e}");
            }
        });
        Ok(bound)
    }

    /// Serves the compliance console for this node on `addr`: the catalogue of its output folder (users and
    /// audit log under `OUT/.console/`), and its calls in progress with live listen-in for supervisors.
    /// `tls` (certificate chain and key, PEM files) serves it over TLS, listen-in then over `wss://`;
    /// without it plain HTTP is refused off loopback (see `console::web`). Returns the bound address.
    ///
    /// # Errors
    /// [`ListenError::Console`] when the console's state cannot be opened, the certificate or key cannot be
    /// read, or plain HTTP is asked for off loopback.
    pub async fn serve_console(
        &self,
        addr: SocketAddr,
        tls: Option<(PathBuf, PathBuf)>,
    ) -> Result<SocketAddr, ListenError> {
        let c = console::Console::open(console::ConsoleConfig::new(self.shared.opts.out.clone()))
            .map_err(|e| ListenError::Console(e.to_string()))?;
        c.attach_live(Arc::new(listen_in::NodeLive(Arc::clone(&self.shared))));
        let c = Arc::new(c);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let opts = console::web::ServeOptions {
            bind: addr,
            tls,
            insecure_http: false,
            rescan: std::time::Duration::from_secs(5),
        };
        tokio::spawn(async move {
            let tx2 = tx.clone();
            if let Err(e) = console::web::serve(c, opts, move |a| {
                let _ = tx2.send(Ok(a));
            })
            .await
            {
                let _ = tx.send(Err(e.to_string()));
            }
        });
        let mut rx = rx;
        match tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Ok(a))) => Ok(a),
            Ok(Some(Err(e))) => Err(ListenError::Console(e)),
            _ => Err(ListenError::Console("the console did not start".into())),
        }
    }

    /// Serves until `shutdown` completes, then stops accepting and lets running calls finish.
    ///
    /// # Errors
    /// TLS set-up errors and transport failures.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), ListenError> {
        let opts = &self.shared.opts;
        let limits = opts.limits;
        let token = opts.token.clone();
        let stats = Arc::clone(&self.shared.stats);
        let node = Arc::clone(&self.shared.metrics);
        // The admission's load sample, once a second (the process CPU clock: one system call).
        let sampler = {
            let (adm, stats) = (Arc::clone(&self.shared.admission), Arc::clone(&stats));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    adm.sample(
                        std::time::Instant::now(),
                        admission::process_cpu_ns(),
                        stats.calls_active.load(Ordering::Relaxed),
                    );
                }
            })
        };
        let auth = move |req: Request<()>| -> Result<Request<()>, Status> {
            let Some(t) = &token else { return Ok(req) };
            let header = req
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if t.check_header(header) {
                Ok(req)
            } else {
                stats.auth_failures.fetch_add(1, Ordering::Relaxed);
                node.refused(metrics::Refusal::Auth);
                Err(Status::unauthenticated(
                    "missing or wrong bearer token (authorization: Bearer <token>)",
                ))
            }
        };
        let svc = CallIngestServer::new(IngestService {
            shared: Arc::clone(&self.shared),
        })
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(1 << 20);
        let svc = tonic::service::interceptor::InterceptedService::new(svc, auth);
        let mut builder = Server::builder()
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(20)))
            .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
            .max_concurrent_streams(u32::try_from(limits.max_calls.saturating_add(16)).ok())
            // A bot multiplexes its calls on one connection, and a call's ~100-byte audio messages wait in
            // h2 while its recording starts. h2 (0.4.20) allows small DATA frames waiting unread only up to
            // half the connection window, and beyond that closes the connection with ENHANCE_YOUR_CALM
            // ("too_many_data_frames"): with the default window, 200 calls starting at once lost every call
            // of the connection. 64 MiB lets ~200,000 such frames wait (~4 s of 1,000 calls' audio).
            .initial_connection_window_size(Some(CONNECTION_WINDOW))
            .initial_stream_window_size(Some(STREAM_WINDOW));
        if let Some(tls) = &opts.tls {
            crate::install_tls_provider();
            builder = builder.tls_config(
                ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert, &tls.key)),
            )?;
        }
        let served = builder
            .add_service(svc)
            .serve_with_incoming_shutdown(self.incoming, shutdown)
            .await;
        sampler.abort();
        served?;
        Ok(())
    }
}

/// The composite's H.264 bitrate (as `record`'s).
pub const COMPOSITE_BITRATE: u32 = 1_500_000;

/// Binds `addr` for the current tokio runtime (the gRPC port and the metrics port): the listener and the
/// address it got (port 0 picks a free one).
fn bind_port(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ListenError> {
    let bind_err = |e| ListenError::Bind { addr, source: e };
    let std_listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    let bound = std_listener.local_addr().map_err(bind_err)?;
    std_listener.set_nonblocking(true).map_err(bind_err)?;
    let listener = tokio::net::TcpListener::from_std(std_listener).map_err(bind_err)?;
    Ok((listener, bound))
}

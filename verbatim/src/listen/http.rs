//! The metrics port of `verbatim listen --metrics ADDR`: a small HTTP/1 server (axum on the listen runtime).
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | every node figure, OpenMetrics text (`listen/metrics.rs`) |
//! | `GET /healthz` | 200 while the process and its media pool tick (a pass within the last [`STALL`]) |
//! | `GET /readyz` | 200 `ready`; 503 and the reasons while draining, below the disk reserve, or the store fails |
//! | `POST /admin/drain` | starts draining (as `SIGTERM`): 202 |
//!
//! The port binds to loopback unless an address is given ([`metrics_addr`]); it has no authentication, so
//! expose it beyond the host only on a trusted network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prometheus_client::registry::Registry;

use super::metrics::Sources;

/// How long the media pool may go without a pass before `/healthz` fails (an idle pool passes every 250 ms).
pub const STALL: Duration = Duration::from_secs(5);

/// `--metrics` argument: a bare port or `:PORT` binds 127.0.0.1; an address binds there.
///
/// ```
/// use verbatim::listen::http::metrics_addr;
/// assert_eq!(metrics_addr("9100").unwrap().to_string(), "127.0.0.1:9100");
/// assert_eq!(metrics_addr(":9100").unwrap().to_string(), "127.0.0.1:9100");
/// assert_eq!(metrics_addr("0.0.0.0:9100").unwrap().to_string(), "0.0.0.0:9100");
/// assert_eq!(metrics_addr("[::1]:0").unwrap().to_string(), "[::1]:0");
/// assert!(metrics_addr("localhost").is_err());
/// ```
///
/// # Errors
/// Neither a port nor an address, as a message.
pub fn metrics_addr(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    let port = t.strip_prefix(':').unwrap_or(t);
    if let Ok(p) = port.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p));
    }
    t.parse::<SocketAddr>()
        .map_err(|_| format!("{s:?}: expected a port (9100, :9100) or an address (0.0.0.0:9100)"))
}

struct App {
    sources: Arc<Sources>,
    registry: Registry,
}

/// The router (state included): what [`super::Listener::serve_metrics`] serves.
pub(crate) fn router(sources: Arc<Sources>) -> Router {
    let app = Arc::new(App {
        registry: super::metrics::registry(Arc::clone(&sources)),
        sources,
    });
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/admin/drain", post(drain))
        .with_state(app)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    // The scrape reads statvfs and /proc/self: off the runtime's worker threads.
    let a = Arc::clone(&app);
    let text = tokio::task::spawn_blocking(move || super::metrics::encode(&a.registry)).await;
    match text {
        Ok(Ok(body)) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics\n",
        )
            .into_response(),
    }
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    match &app.sources.media {
        Some(m) if m.since_last_pass() > STALL => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "media pool stalled: no pass for {:.1} s\n",
                m.since_last_pass().as_secs_f64()
            ),
        )
            .into_response(),
        _ => (StatusCode::OK, "ok\n").into_response(),
    }
}

/// Why the server should get no new calls now (empty: ready).
pub(crate) fn not_ready(s: &Sources) -> Vec<String> {
    let mut why = Vec::new();
    if s.drain.is_draining() {
        why.push("draining: running calls finish, no new calls".to_string());
    }
    let sh = &s.shared;
    match super::free_bytes(&sh.opts.out) {
        Ok(free) if free < sh.opts.min_free_disk => why.push(format!(
            "disk reserve not met: {free} bytes free, reserve {} bytes (--min-free-disk)",
            sh.opts.min_free_disk
        )),
        Ok(_) => {}
        Err(e) => why.push(format!(
            "cannot read the free space of the recordings folder: {e}"
        )),
    }
    if !s.node.store_ok() {
        why.push("the object store fails".to_string());
    }
    why
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let a = Arc::clone(&app);
    let why = tokio::task::spawn_blocking(move || not_ready(&a.sources))
        .await
        .unwrap_or_else(|e| vec![format!("internal error: {e}")]);
    if why.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", why.join("\n")),
        )
            .into_response()
    }
}

async fn drain(State(app): State<Arc<App>>) -> Response {
    app.sources.drain.start("POST /admin/drain");
    (
        StatusCode::ACCEPTED,
        "draining: no new calls; the server exits when its running calls are over\n",
    )
        .into_response()
}

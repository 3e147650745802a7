//! The router and the server loop: plain HTTP/1 (loopback only unless asked) or TLS by rustls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::CompressionLayer;

use super::handlers as h;
use crate::{Console, ConsoleError};

/// How `verbatim serve` listens.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to bind.
    pub bind: SocketAddr,
    /// TLS certificate chain and private key (PEM); without them the console speaks plain HTTP, which it
    /// allows only on a loopback address unless `insecure_http` is set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy).
    pub insecure_http: bool,
    /// How often the root is scanned for new, changed and vanished recordings.
    pub rescan: Duration,
}

/// The console's routes (see the module table in [`crate::web`]).
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/login", get(h::login_page).post(h::login))
        .route("/logout", post(h::logout))
        .route("/", get(h::search_page))
        .route("/recording", get(h::recording_page))
        .route("/play", post(h::play))
        .route("/media", get(h::media))
        .route("/timeline.svg", get(h::timeline))
        .route("/peaks", get(h::peaks))
        .route("/export", post(h::export_form))
        .route("/audit", get(h::audit_page))
        .route("/api/recordings", get(h::api_search))
        .route("/api/recording", get(h::api_recording))
        .route("/api/export", get(h::api_export))
        .route("/live", get(super::live::live_page))
        .route("/live/ws", get(super::live::live_ws))
        .with_state(console)
        .layer(
            CompressionLayer::new().compress_when(
                DefaultPredicate::new()
                    .and(NotForContentType::const_new("video/"))
                    .and(NotForContentType::const_new("audio/"))
                    .and(NotForContentType::const_new("application/zip")),
            ),
        )
}

/// Serves the console until the process ends; scans the root every `opts.rescan`. `ready` gets the bound
/// address once the socket listens.
///
/// # Errors
/// [`ConsoleError::BadInput`] for plain HTTP on a non-loopback address without `insecure_http`, or an
/// unreadable certificate; [`ConsoleError::Io`] when the address cannot be bound.
pub async fn serve(
    console: Arc<Console>,
    opts: ServeOptions,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ConsoleError> {
    if opts.tls.is_none() && !opts.bind.ip().is_loopback() && !opts.insecure_http {
        return Err(ConsoleError::BadInput(format!(
            "{}: plain HTTP off loopback would send passwords and recordings in the clear; give --tls-cert and \
             --tls-key (or --insecure-http behind a TLS-terminating proxy)",
            opts.bind
        )));
    }
    let tls = match &opts.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(opts.bind)
        .await
        .map_err(|e| ConsoleError::Io(format!("{}: {e}", opts.bind)))?;
    let local = listener
        .local_addr()
        .map_err(|e| ConsoleError::Io(e.to_string()))?;
    let scanner = Arc::clone(&console);
    let every = opts.rescan.max(Duration::from_millis(100));
    tokio::spawn(async move {
        // What a scan could not catalogue (or only in part) is said once, not at every scan.
        let mut said: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            let c = Arc::clone(&scanner);
            match tokio::task::spawn_blocking(move || c.rescan()).await {
                Ok(Ok(report)) => {
                    let lines = report
                        .failed
                        .iter()
                        .map(|(id, why)| format!("not catalogued: {id}: {why}"))
                        .chain(
                            report
                                .partial
                                .iter()
                                .map(|(id, why)| format!("catalogued in part: {id}: {why}")),
                        );
                    for line in lines {
                        if said.len() < 100_000 && said.insert(line.clone()) {
                            eprintln!("verbatim serve: {line}");
                        }
                    }
                }
                Ok(Err(e)) => eprintln!("verbatim serve: rescan failed: {e}"),
                Err(e) => eprintln!("verbatim serve: rescan failed: {e}"),
            }
            tokio::time::sleep(every).await;
        }
    });
    let app = router(console);
    ready(local);
    match tls {
        None => axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .map_err(|e| ConsoleError::Io(e.to_string())),
        Some(acceptor) => loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let app = app.clone().layer(Extension(ConnectInfo(peer)));
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let io = hyper_util::rt::TokioIo::new(stream);
                let svc = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        },
    }
}

fn tls_acceptor(cert: &PathBuf, key: &PathBuf) -> Result<tokio_rustls::TlsAcceptor, ConsoleError> {
    let bad = |p: &PathBuf, e: &dyn std::fmt::Display| {
        ConsoleError::BadInput(format!("{}: {e}", p.display()))
    };
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).map_err(|e| bad(cert, &e))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| bad(cert, &e))?;
    let key_der = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).map_err(|e| bad(key, &e))?,
    ))
    .map_err(|e| bad(key, &e))?
    .ok_or_else(|| bad(key, &"no private key in the file"))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(cert, &e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

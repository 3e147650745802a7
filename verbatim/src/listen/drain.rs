//! Draining for rolling upgrades: once asked (`SIGTERM`, or `POST /admin/drain` on the metrics port), the
//! server admits no new call (`UNAVAILABLE "draining"`), `/readyz` answers 503, running calls finish normally,
//! and `verbatim listen` exits 0 when the last one is over.
//!
//! ```
//! use verbatim::listen::drain::Drain;
//! let d = Drain::default();
//! assert!(!d.is_draining());
//! assert!(d.start("test"));
//! assert!(!d.start("again"), "only the first request starts it");
//! assert!(d.is_draining());
//! ```
//!
//! A second `SIGTERM` (or `SIGINT` while draining) stops faster: [`Drain::stop_calls`] ends every running call
//! now as `interrupted` (finalized, synced and verifiable, the bot told), then the server exits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

/// The drain flag, and a wake-up for whoever waits for it to be set.
#[derive(Debug, Default)]
pub struct Drain {
    draining: AtomicBool,
    started: tokio::sync::Notify,
    /// Whether the calls were stopped, and one wake-up per running call ([`Drain::stop_signal`]); locked
    /// only when a call starts and when the calls are stopped.
    stops: Mutex<Stops>,
}

/// The calls were stopped; else the running calls' wake-ups, and the length at which the ended calls' ones
/// are next pruned.
#[derive(Debug, Default)]
struct Stops {
    stopped: bool,
    senders: Vec<oneshot::Sender<()>>,
    prune_at: usize,
}

impl Drain {
    /// Starts draining (`by` says who asked, for the log); true the first time.
    pub fn start(&self, by: &str) -> bool {
        let first = !self.draining.swap(true, Ordering::AcqRel);
        if first {
            tracing::info!(
                event = "drain_started",
                by,
                "draining: no new calls; running calls finish, then the server exits"
            );
            self.started.notify_waiters();
        }
        first
    }

    /// True once draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Stops faster (a second `SIGTERM`, or `SIGINT` while draining): every running call ends now as
    /// `interrupted` (its files finalized and synced, its bot told), instead of waiting for its end.
    pub fn stop_calls(&self, by: &str) {
        self.start(by);
        // Under the lock a new call's `stop_signal` takes: a call is either woken here or sees the flag.
        let mut stops = self.stops();
        if !std::mem::replace(&mut stops.stopped, true) {
            tracing::warn!(
                event = "stop_calls",
                by,
                "stopping: running calls end now as interrupted"
            );
            for s in stops.senders.drain(..) {
                let _ = s.send(());
            }
        }
    }

    /// What a call's task waits on besides its bot: completes once [`Self::stop_calls`] is called (at once
    /// when it already was). Each call takes its own, when it starts: polling it is an atomic load on the
    /// call's own channel. (A `Notified` of one `Notify` shared by every call took that `Notify`'s mutex at
    /// each poll, i.e. at every bot message of every call, a lock all the network threads shared.)
    ///
    /// ```
    /// use verbatim::listen::drain::Drain;
    /// let d = Drain::default();
    /// let mut before = d.stop_signal();
    /// assert!(before.try_recv().is_err(), "not stopped yet");
    /// d.stop_calls("test");
    /// assert!(before.try_recv().is_ok(), "woken by stop_calls");
    /// assert!(d.stop_signal().try_recv().is_ok(), "a call starting after it is stopped at once");
    /// ```
    pub fn stop_signal(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut stops = self.stops();
        if stops.stopped {
            let _ = tx.send(());
            return rx;
        }
        // The ended calls' senders (their receivers dropped) go when the list has doubled since the last
        // pruning: amortized constant work per call, and the list stays within twice the running calls.
        if stops.senders.len() >= stops.prune_at {
            stops.senders.retain(|s| !s.is_closed());
            stops.prune_at = (stops.senders.len() * 2).max(64);
        }
        stops.senders.push(tx);
        rx
    }

    fn stops(&self) -> MutexGuard<'_, Stops> {
        // Nothing panics while holding it; a poisoned lock still holds a consistent list.
        match self.stops.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Completes once draining has started.
    pub async fn started(&self) {
        loop {
            let n = self.started.notified();
            if self.is_draining() {
                return;
            }
            n.await;
        }
    }
}

/// What `verbatim listen` serves until: completes when the gRPC server should stop accepting.
///
/// * `SIGINT` (Ctrl-C) first: at once, as before draining existed (the server stops accepting; running
///   calls' streams are served until they end).
/// * `SIGTERM` or `POST /admin/drain` ([`Drain::start`]): drains, and completes when no call runs.
/// * While draining, a second `SIGTERM` or a `SIGINT`: [`Drain::stop_calls`] (every call ends now as
///   `interrupted`), then completes.
pub async fn shutdown_signal(
    drain: std::sync::Arc<Drain>,
    stats: std::sync::Arc<super::ServerStats>,
) {
    let mut term = Term::new();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => return,
        _ = term.recv() => { drain.start("SIGTERM"); }
        _ = drain.started() => {}
    }
    let idle = async {
        while stats.calls_active.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        _ = idle => {
            tracing::info!(event = "drained", "drained: no call runs; stopping");
        }
        _ = tokio::signal::ctrl_c() => drain.stop_calls("SIGINT while draining"),
        _ = term.recv() => drain.stop_calls("second SIGTERM"),
    }
}

/// `SIGTERM`, where there is one.
struct Term(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Term {
    fn new() -> Self {
        #[cfg(unix)]
        {
            Term(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok())
        }
        #[cfg(not(unix))]
        {
            Term()
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(t) = self.0.as_mut() {
            t.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    }
}

//! Hooks through which a host (e.g. `listen`'s node metrics) follows every uploader of the process: the
//! uploader thread calls them as it works, so a node-wide view needs no polling of per-call counters.

use std::time::Duration;

/// What an [`crate::Uploader`] tells its host as it works. Every method has an empty default; the calls
/// come from the uploader's own thread (never the media thread) and must be cheap (atomics).
///
/// The calls balance: every byte added to the backlog is later taken off (confirmed, or dropped when the
/// uploader ends), and every `failing(true)` is followed by a `failing(false)` (the store answered again,
/// or the uploader ended), so node-wide sums return to zero when no upload is running.
///
/// # Examples
/// ```
/// use std::sync::atomic::{AtomicI64, Ordering};
/// use std::time::Duration;
/// #[derive(Default)]
/// struct Node { backlog: AtomicI64, failing: AtomicI64 }
/// impl store::UploadObserver for Node {
///     fn backlog_changed(&self, delta: i64) { self.backlog.fetch_add(delta, Ordering::Relaxed); }
///     fn failing(&self, failing: bool) {
///         self.failing.fetch_add(if failing { 1 } else { -1 }, Ordering::Relaxed);
///     }
/// }
/// let n = Node::default();
/// store::UploadObserver::backlog_changed(&n, 1000);
/// store::UploadObserver::uploaded(&n, Duration::from_millis(20), 1000); // default: ignored
/// store::UploadObserver::backlog_changed(&n, -1000);
/// assert_eq!(n.backlog.load(Ordering::Relaxed), 0);
/// ```
pub trait UploadObserver: Send + Sync {
    /// The store confirmed an object of `bytes` after `took` (the successful attempt's latency).
    fn uploaded(&self, took: Duration, bytes: u64) {
        let _ = (took, bytes);
    }

    /// The uploader's backlog (bytes read from the folder, not yet confirmed) changed by `delta`.
    fn backlog_changed(&self, delta: i64) {
        let _ = delta;
    }

    /// The uploader's attempts started failing (`true`: the store is down, slow or refusing) or stopped
    /// (`false`: an object was confirmed again, or the uploader ended).
    fn failing(&self, failing: bool) {
        let _ = failing;
    }
}

/// The observer of an uploader started without one.
pub(crate) struct NoObserver;

impl UploadObserver for NoObserver {}

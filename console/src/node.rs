//! Which node holds a recording: every entry this console indexes is stamped with its node name
//! ([`crate::ConsoleConfig::node`], default the host name), so that with a catalogue several nodes share, a
//! console asked for a recording it does not hold can say which node does.

use catalog::{CatalogError, CatalogStore, Page, Query, RecordingEntry};

/// This machine's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`), or `this-host`.
///
/// ```
/// assert!(!console::this_host().is_empty());
/// ```
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this-host".into())
}

/// A catalogue seen through a node: what is upserted is stamped with the node's name; everything else
/// passes through.
pub(crate) struct NodeStamping<'a> {
    pub(crate) inner: &'a mut dyn CatalogStore,
    pub(crate) node: &'a str,
}

impl CatalogStore for NodeStamping<'_> {
    fn upsert(&mut self, entry: &RecordingEntry, stamp: &str) -> Result<(), CatalogError> {
        let mut e = entry.clone();
        e.node = Some(self.node.to_string());
        self.inner.upsert(&e, stamp)
    }
    fn stamp(&mut self, id: &str) -> Result<Option<String>, CatalogError> {
        self.inner.stamp(id)
    }
    fn remove(&mut self, id: &str) -> Result<bool, CatalogError> {
        self.inner.remove(id)
    }
    fn ids(&mut self) -> Result<Vec<String>, CatalogError> {
        self.inner.ids()
    }
    fn get(&mut self, id: &str) -> Result<Option<RecordingEntry>, CatalogError> {
        self.inner.get(id)
    }
    fn count(&mut self) -> Result<u64, CatalogError> {
        self.inner.count()
    }
    fn search(&mut self, q: &Query) -> Result<Page, CatalogError> {
        self.inner.search(q)
    }
}

//! WORM object storage of recording folders: a recording goes into an S3 bucket **while it is written**, as
//! an append-only log of locked objects, and comes back out for `verify` and `recover`.
//!
//! Where it sits: the recorder writes a folder (`muxer::RecordingWriter`: files, hash chain,
//! `manifest.journal`); an [`Uploader`] per folder, on its own thread, follows the journal and every
//! `upload_interval` PUTs one segment object (`<prefix>/<folder>/seg/<seq:08>.vseg`: the journal lines since
//! the last segment and the bytes of every region they link, checked against the records' SHA-256), then at
//! the close the last segment and `manifest.json`. Every object is written with Object Lock (mode,
//! retain-until, optional legal hold) and Content-MD5 + SHA-256 checksums; no object is ever rewritten.
//! [`Bucket::replay`] rebuilds the folder from the objects (refusing a gap or a replaced segment), so the
//! existing verifier and recovery run on it unchanged; a recovery's result goes under `recovered/` as new
//! objects ([`Bucket::upload_dir`]). A host follows every uploader of the process through an
//! [`UploadObserver`] (latency, backlog, failing store), e.g. for its metrics. A review host's catalogue lists
//! the recordings under a prefix with [`Bucket::recordings`] and reads what search needs of one with
//! [`Bucket::catalog_files`] (its manifest and its chain-checked `metadata.json`) without replaying it.
//!
//! # Example
//! ```no_run
//! use std::path::Path;
//! let mut cfg = store::StoreConfig::new(store::StoreUrl::parse("s3://calls/eu").unwrap());
//! cfg.endpoint = Some("http://127.0.0.1:9000".into());
//! let up = store::Uploader::start(&cfg, Path::new("calls/rec-1")).unwrap();
//! // … the recording is written and closed …
//! println!("{}", up.finish().to_text());
//! let b = store::Bucket::connect(&cfg).unwrap();
//! let r = b.replay(&cfg.url.join("rec-1"), Path::new("/tmp/rec-1-replayed")).unwrap();
//! assert!(r.closed);
//! ```

mod bucket;
mod config;
mod counters;
mod listing;
mod observer;
mod replay;
mod segment;
mod tail;
mod uploader;

pub use bucket::{Bucket, Listed, LockState};
pub use config::{parse_retention, RetentionMode, StoreConfig, StoreUrl};
pub use counters::{Counters, CountersSnapshot};
pub use listing::{recordings_in, BucketRecording, BucketState, CatalogFiles};
pub use observer::UploadObserver;
pub use replay::{ReplayReport, RECOVERED_DIR};
pub use segment::{
    object_sha256, segment_name, Part, PartRole, Segment, SegmentHeader, SEGMENT_FORMAT,
};
pub use uploader::{UploadReport, Uploader};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not an `s3://BUCKET/PREFIX` address.
    #[error("bad store address: {0}")]
    BadUrl(String),
    /// The store refused or did not answer.
    #[error("S3: {0}")]
    S3(String),
    /// A local file or the runtime failed.
    #[error("local: {0}")]
    Local(String),
    /// Nothing at that address.
    #[error("not found in the bucket: {0}")]
    NotFound(String),
    /// A segment missing, out of order or replaced.
    #[error("the object log is broken: {0}")]
    Gap(String),
    /// A segment that does not parse.
    #[error("bad segment: {0}")]
    BadSegment(String),
    /// Objects already exist where new ones were to be written (a locked object is never overwritten).
    #[error("{0} already holds objects: nothing is overwritten")]
    Exists(String),
}

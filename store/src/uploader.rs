//! The uploader: one thread per recording folder (its own runtime, never the media thread) that every
//! `upload_interval` turns what the journal gained into one locked segment object, retries what the store
//! did not confirm, and fails the recording loudly when the unconfirmed backlog outgrows its bound.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use muxer::integrity::Manifest;

use crate::bucket::Bucket;
use crate::config::{StoreConfig, StoreUrl};
use crate::counters::{Counters, CountersSnapshot};
use crate::observer::{NoObserver, UploadObserver};
use crate::segment::{object_sha256, segment_name, Segment, SegmentHeader, SEGMENT_FORMAT};
use crate::tail::{Gathered, Tail};
use crate::StoreError;

/// Largest segment built in one go (a recording replayed faster than real time makes several per pass).
const MAX_SEGMENT_BYTES: u64 = 32 << 20;
/// First retry delay; doubled per failed attempt up to the upload interval.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Uploads one recording folder while it is written. Start it once the folder's journal exists
/// ([`Uploader::start`]), end it after the folder is closed ([`Uploader::finish`]).
///
/// # Examples
/// ```no_run
/// use std::time::Duration;
/// let cfg = store::StoreConfig::new(store::StoreUrl::parse("s3://calls/eu").unwrap());
/// let up = store::Uploader::start(&cfg, std::path::Path::new("calls/rec-1")).unwrap();
/// // … the recorder writes calls/rec-1 and closes it …
/// let report = up.finish();
/// assert!(report.complete, "{}", report.to_text());
/// ```
pub struct Uploader {
    cmd: mpsc::Sender<()>,
    thread: Option<JoinHandle<UploadReport>>,
    counters: Arc<Counters>,
    failure: Arc<Mutex<Option<String>>>,
    failed: Arc<AtomicBool>,
    url: StoreUrl,
}

/// What the uploader did, at its end.
#[derive(Debug, Clone)]
pub struct UploadReport {
    /// The recording's address in the bucket.
    pub url: StoreUrl,
    /// Every segment and `manifest.json` confirmed by the store.
    pub complete: bool,
    /// Why not (or why the recording was failed).
    pub failure: Option<String>,
    /// Counters at the end.
    pub counters: CountersSnapshot,
}

impl UploadReport {
    /// One line for the close's summary.
    pub fn to_text(&self) -> String {
        format!(
            "store {}: {}; {}",
            self.url,
            if self.complete {
                "complete".to_string()
            } else {
                format!(
                    "INCOMPLETE ({}); the local folder is kept whole",
                    self.failure.as_deref().unwrap_or("not confirmed")
                )
            },
            self.counters.to_text()
        )
    }
}

struct Pending {
    key: String,
    bytes: Vec<u8>,
    tries: u32,
}

struct Worker {
    bucket: Bucket,
    cfg: StoreConfig,
    url: StoreUrl,
    dir: PathBuf,
    tail: Tail,
    queue: VecDeque<Pending>,
    backlog: u64,
    seq: u64,
    prev: Option<String>,
    counters: Arc<Counters>,
    failure: Arc<Mutex<Option<String>>>,
    failed: Arc<AtomicBool>,
    next_try: Instant,
    closed: bool,
    /// The last failed attempt's error (reported when the bucket ends incomplete).
    last_error: Option<String>,
    /// The host's hooks.
    observer: Arc<dyn UploadObserver>,
    /// Whether the last attempt failed (what `observer` was told last).
    failing: bool,
}

impl Uploader {
    /// Opens the folder's `manifest.journal` and starts the upload thread; the recording goes to
    /// `<cfg.url>/<folder name>/`.
    ///
    /// # Errors
    /// [`StoreError::Local`] (no journal: the folder is not being recorded), or the thread cannot start.
    pub fn start(cfg: &StoreConfig, dir: &Path) -> Result<Uploader, StoreError> {
        Self::start_observed(cfg, dir, Arc::new(NoObserver))
    }

    /// [`Uploader::start`] with a host's hooks: `observer` hears every confirmed object, every change of
    /// the backlog and when the store starts or stops failing (see [`UploadObserver`]).
    ///
    /// # Errors
    /// As [`Uploader::start`].
    ///
    /// # Examples
    /// ```no_run
    /// use std::sync::Arc;
    /// struct Quiet;
    /// impl store::UploadObserver for Quiet {}
    /// let cfg = store::StoreConfig::new(store::StoreUrl::parse("s3://calls/eu").unwrap());
    /// let up = store::Uploader::start_observed(&cfg, std::path::Path::new("calls/rec-1"), Arc::new(Quiet));
    /// ```
    pub fn start_observed(
        cfg: &StoreConfig,
        dir: &Path,
        observer: Arc<dyn UploadObserver>,
    ) -> Result<Uploader, StoreError> {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| StoreError::Local(format!("{}: no folder name", dir.display())))?;
        let url = cfg.url.join(name);
        let tail = Tail::open(dir)?;
        let bucket = Bucket::connect(cfg)?;
        let counters = Arc::new(Counters::default());
        let failure = Arc::new(Mutex::new(None));
        let failed = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let mut w = Worker {
            bucket,
            cfg: cfg.clone(),
            url: url.clone(),
            dir: dir.to_path_buf(),
            tail,
            queue: VecDeque::new(),
            backlog: 0,
            seq: 0,
            prev: None,
            counters: Arc::clone(&counters),
            failure: Arc::clone(&failure),
            failed: Arc::clone(&failed),
            next_try: Instant::now(),
            closed: false,
            last_error: None,
            observer,
            failing: false,
        };
        let thread = std::thread::Builder::new()
            .name(format!("upload {name}"))
            .spawn(move || w.run(&rx))
            .map_err(|e| StoreError::Local(format!("upload thread: {e}")))?;
        Ok(Uploader {
            cmd: tx,
            thread: Some(thread),
            counters,
            failure,
            failed,
            url,
        })
    }

    /// The live counters (for a status line or a metrics endpoint).
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// The recording's address in the bucket.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// Set once the backlog outgrew `buffer_bytes`: the recording must end `failed` with this note. Cheap
    /// (one atomic load until it fails): a driver may poll it per event.
    pub fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// Call after the folder is closed (its `manifest.json` written): uploads what is left and the
    /// manifest, retrying for at most `final_wait`, and reports.
    pub fn finish(mut self) -> UploadReport {
        let _ = self.cmd.send(());
        self.join()
    }

    fn join(&mut self) -> UploadReport {
        let t = self.thread.take();
        match t.map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => UploadReport {
                url: self.url.clone(),
                complete: false,
                failure: Some("the upload thread panicked".into()),
                counters: self.counters.snapshot(),
            },
        }
    }
}

impl Worker {
    fn run(&mut self, rx: &mpsc::Receiver<()>) -> UploadReport {
        let report = self.work(rx);
        // The host's sums return to zero: what was never confirmed leaves the backlog with the uploader.
        if self.backlog > 0 {
            self.observer.backlog_changed(-(self.backlog as i64));
        }
        if self.failing {
            self.observer.failing(false);
        }
        report
    }

    fn work(&mut self, rx: &mpsc::Receiver<()>) -> UploadReport {
        let mut next_segment = Instant::now() + self.cfg.upload_interval;
        loop {
            let now = Instant::now();
            let wake = if self.queue.is_empty() {
                next_segment
            } else {
                next_segment.min(self.next_try)
            };
            match rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(()) => return self.close(),
                Err(RecvTimeoutError::Disconnected) => return self.report(false),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_segment {
                next_segment += self.cfg.upload_interval;
                if next_segment < Instant::now() {
                    next_segment = Instant::now() + self.cfg.upload_interval;
                }
                self.build(false);
            }
            self.upload_queue();
        }
    }

    /// Builds segments from what the journal gained (nothing once failed: the backlog is at its bound).
    fn build(&mut self, last: bool) {
        if self.failed.load(Ordering::Acquire) {
            return;
        }
        loop {
            // A region missing this long is not in a writer's buffer (those are flushed every second).
            let stall = (self.cfg.upload_interval * 3).max(Duration::from_secs(5));
            let g = match self
                .tail
                .gather(last, MAX_SEGMENT_BYTES, stall, &self.counters)
            {
                Ok(g) => g,
                Err(e) => {
                    self.fail(format!("reading the folder: {e}"));
                    return;
                }
            };
            let more = g.bytes() >= MAX_SEGMENT_BYTES;
            if g.is_empty() {
                return;
            }
            self.push_segment(g, false);
            if !more {
                return;
            }
        }
    }

    fn push_segment(&mut self, g: Gathered, last: bool) {
        let header = SegmentHeader {
            format: SEGMENT_FORMAT.into(),
            seq: self.seq,
            prev: self.prev.clone(),
            journal_offset: g.journal_offset,
            journal_len: g.journal.len() as u64,
            parts: g.parts.iter().map(|p| p.0.clone()).collect(),
            last,
        };
        let parts: Vec<Vec<u8>> = g.parts.into_iter().map(|p| p.1).collect();
        let bytes = Segment::encode(&header, &g.journal, &parts);
        self.prev = Some(object_sha256(&bytes));
        let key = self.url.key(&segment_name(self.seq));
        self.seq += 1;
        self.counters.add(&self.counters.segments, 1);
        self.enqueue(key, bytes);
    }

    fn enqueue(&mut self, key: String, bytes: Vec<u8>) {
        self.backlog += bytes.len() as u64;
        self.counters.set_backlog(self.backlog);
        self.observer.backlog_changed(bytes.len() as i64);
        self.queue.push_back(Pending {
            key,
            bytes,
            tries: 0,
        });
        if self.backlog > self.cfg.buffer_bytes && !self.closed {
            self.fail(format!(
                "store backlog full: {} bytes not confirmed by {} (--store-buffer {} bytes); the store is \
                 down or too slow ({}); the local folder is complete",
                self.backlog,
                self.url,
                self.cfg.buffer_bytes,
                self.last_error.as_deref().unwrap_or("no answer yet")
            ));
        }
    }

    /// The recording must fail (the first cause is kept).
    fn fail(&mut self, why: String) {
        // Only this thread sets it: the text goes first so a reader that sees the flag finds it.
        if self.failed.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut f) = self.failure.lock() {
            *f = Some(why);
        }
        self.failed.store(true, Ordering::Release);
    }

    /// PUTs queued objects in order until one fails (retried after a backoff).
    fn upload_queue(&mut self) {
        if Instant::now() < self.next_try {
            return;
        }
        while let Some(p) = self.queue.front_mut() {
            let c = &self.counters;
            c.add(&c.attempts, 1);
            if p.tries > 0 {
                c.add(&c.retries, 1);
            }
            p.tries += 1;
            match self.bucket.put_locked(&p.key, &p.bytes) {
                Ok(took) => {
                    c.add(&c.objects, 1);
                    c.add(&c.bytes, p.bytes.len() as u64);
                    c.latency(took.as_micros() as u64);
                    self.backlog -= p.bytes.len() as u64;
                    c.set_backlog(self.backlog);
                    self.observer.uploaded(took, p.bytes.len() as u64);
                    self.observer.backlog_changed(-(p.bytes.len() as i64));
                    if self.failing {
                        self.failing = false;
                        self.observer.failing(false);
                    }
                    self.queue.pop_front();
                }
                Err(e) => {
                    c.add(&c.failures, 1);
                    let shift = p.tries.saturating_sub(1).min(10);
                    let backoff = (FIRST_BACKOFF * (1u32 << shift)).min(self.cfg.upload_interval);
                    self.next_try = Instant::now() + backoff;
                    self.last_error = Some(e.to_string());
                    if !self.failing {
                        self.failing = true;
                        self.observer.failing(true);
                    }
                    return;
                }
            }
        }
    }

    /// The close: the rest of the journal (or of the manifest), the last segment, then `manifest.json`.
    fn close(&mut self) -> UploadReport {
        self.closed = true;
        let mpath = self.dir.join(muxer::recording::MANIFEST_FILE);
        if !self.failed.load(Ordering::Acquire) {
            self.build(true);
            match std::fs::read(&mpath) {
                Ok(bytes) => {
                    let rest = match Manifest::parse(&bytes) {
                        Ok(m) if self.tail.entries < m.entry_count => {
                            self.tail.rest_from_manifest(&m, &self.counters)
                        }
                        _ => Gathered {
                            journal_offset: 0,
                            ..Gathered::default()
                        },
                    };
                    let mut rest = rest;
                    rest.journal_offset = self.tail_pos_hint(&rest);
                    self.push_segment(rest, true);
                    let key = self.url.key(muxer::recording::MANIFEST_FILE);
                    self.enqueue(key, bytes);
                }
                Err(e) => self.fail(format!(
                    "{}: {e}: the recording was not closed; the bucket holds its journal",
                    mpath.display()
                )),
            }
        }
        let deadline = Instant::now() + self.cfg.final_wait;
        while !self.queue.is_empty() && Instant::now() < deadline {
            let wait = self
                .next_try
                .min(deadline)
                .saturating_duration_since(Instant::now());
            std::thread::sleep(wait);
            self.upload_queue();
        }
        let complete = self.queue.is_empty() && !self.failed.load(Ordering::Acquire);
        self.report(complete)
    }

    fn tail_pos_hint(&self, rest: &Gathered) -> u64 {
        if rest.journal.is_empty() {
            self.tail_pos()
        } else {
            rest.journal_offset
        }
    }

    fn tail_pos(&self) -> u64 {
        self.tail.pos()
    }

    fn report(&self, complete: bool) -> UploadReport {
        let failure = if complete {
            None
        } else {
            let last = self.last_error.as_deref().unwrap_or("no answer");
            self.failure
                .lock()
                .ok()
                .and_then(|f| f.clone())
                .or_else(|| {
                    Some(format!(
                        "{} objects not confirmed; last error: {last}",
                        self.queue.len()
                    ))
                })
        };
        UploadReport {
            url: self.url.clone(),
            complete,
            failure,
            counters: self.counters.snapshot(),
        }
    }
}

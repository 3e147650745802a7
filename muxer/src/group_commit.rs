//! Group commit: one `syncfs(2)` per round makes durable what every recording on the node handed to the OS
//! before the round began, instead of an `fdatasync` per file per second.
//!
//! A recording writer that is given a [`CommitHandle`] ([`crate::RecordingWriter::use_group_commit`]) no
//! longer fsyncs its files every second: it flushes them to the OS and asks for a [`Ticket`]. The node's
//! commit thread runs a round whenever tickets are waiting (at most one round per
//! [`GroupCommitOptions::min_gap`]): it notes the highest ticket asked for, calls [`Storage::sync_fs`] on
//! the recordings' root, and marks every ticket up to that one durable. Writes made before a ticket was asked
//! for are therefore on disk once [`CommitHandle::poll`] says [`Durability::Durable`]; the writer signs its
//! chain head only then, which keeps issue 13's rule that a signature in the journal always finds its bytes
//! on disk after a power loss. Where a writer fsynced before going on (a file added, a status change, the
//! close's files) it waits for a round instead; only a folder's start (journal, close reserve) and the
//! manifest's write and rename at its close keep their own fsyncs, for their renames' order.
//!
//! At 400 calls a node made ~3,200 `fdatasync`s a second (eight files per call); with group commit it makes
//! one `syncfs` per round, fewer than `1 s / min_gap` a second (100 with the default 10 ms; a round's own
//! time comes on top), whatever the number of calls. `syncfs` covers the whole file system: put recordings
//! on a volume of their own.
//!
//! A failed round (an I/O error while writing back any file of the file system) fails every ticket in it;
//! the writer then fsyncs its own files to find out whether the error was its own.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use muxer::group_commit::{Durability, GroupCommit, GroupCommitOptions};
//! use muxer::storage::StdStorage;
//! let dir = std::env::temp_dir();
//! let commit = GroupCommit::start(Arc::new(StdStorage), &dir, GroupCommitOptions::default()).unwrap();
//! let handle = commit.handle();
//! std::fs::write(dir.join(format!("verbatim-gc-doc-{}", std::process::id())), b"bytes").unwrap();
//! let ticket = handle.request(); // everything written above is covered by this ticket's round
//! assert_eq!(handle.wait(ticket), Durability::Durable);
//! assert!(commit.stats().rounds >= 1);
//! # std::fs::remove_file(dir.join(format!("verbatim-gc-doc-{}", std::process::id()))).unwrap();
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::storage::Storage;
use media_core::histogram::AtomicHistogram;

/// Settings of a [`GroupCommit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitOptions {
    /// The least time from the end of one round to the start of the next: bounds the rounds per second
    /// (and so the node's syncs per second) whatever the number of recordings. Default 10 ms.
    pub min_gap: Duration,
}

impl Default for GroupCommitOptions {
    fn default() -> Self {
        GroupCommitOptions {
            min_gap: Duration::from_millis(10),
        }
    }
}

/// A request for durability: the writes made before it was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(u64);

/// Where a [`Ticket`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Its round has not finished.
    Pending,
    /// Its writes are on disk.
    Durable,
    /// Its round failed, or the commit thread has stopped: the writer must sync on its own.
    Failed,
}

/// Counters of a [`GroupCommit`] (see [`GroupCommit::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Tickets asked for.
    pub requests: u64,
    /// Rounds run (one `syncfs` each).
    pub rounds: u64,
    /// Rounds that failed.
    pub failed_rounds: u64,
    /// The median and 99th percentile of a round's `syncfs`, in microseconds.
    pub round_p50_us: u64,
    /// See `round_p50_us`.
    pub round_p99_us: u64,
    /// The 99th percentile over rounds of the longest wait in the round: from the oldest ticket it covered
    /// being asked for to the round's end (an upper bound of every ticket's wait), in microseconds.
    pub wait_p99_us: u64,
    /// The longest such wait, in microseconds.
    pub wait_max_us: u64,
}

/// How many rounds' timings are kept for the percentiles (the most recent ones).
const KEPT_ROUNDS: usize = 4096;

#[derive(Default)]
struct Timings {
    /// (syncfs µs, longest wait µs) per round, a ring of the last [`KEPT_ROUNDS`].
    rounds: Vec<(u64, u64)>,
    next: usize,
    wait_max_us: u64,
    /// Failed ticket ranges `(after, through]` (failures are rare; the list stays short).
    failed: Vec<(u64, u64)>,
}

struct Shared {
    requested: AtomicU64,
    completed: AtomicU64,
    /// Nanoseconds since `epoch` at which the oldest ticket not yet in a round was asked for (0: none).
    oldest: AtomicU64,
    epoch: Instant,
    stop: AtomicBool,
    /// The thread has returned: no round will come.
    exited: AtomicBool,
    rounds: AtomicU64,
    failed_rounds: AtomicU64,
    /// Every round's `syncfs` time, µs (for a metrics endpoint: [`GroupCommit::round_histogram`]).
    round_us: Arc<AtomicHistogram>,
    /// Guards sleeping and waking (the counters are atomics); the thread waits on `work`, waiters on `done`.
    lock: Mutex<Timings>,
    work: Condvar,
    done: Condvar,
}

fn lock(m: &Mutex<Timings>) -> MutexGuard<'_, Timings> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The node's commit thread: runs `syncfs` rounds for every [`CommitHandle`] it hands out. Dropping it stops
/// the thread after a last round for the tickets still waiting; tickets asked for after that are
/// [`Durability::Failed`] (the writer then syncs its own files).
pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What a recording writer holds: asks for tickets and checks them. Cheap to clone.
#[derive(Clone)]
pub struct CommitHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CommitHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitHandle").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Starts the commit thread for the file system holding `root` (which must exist).
    ///
    /// # Errors
    /// `root` cannot be synced (missing, not a directory, a file system refusing `syncfs`): checked once here
    /// so that a node does not start recording on a volume it cannot make durable.
    pub fn start(
        storage: Arc<dyn Storage>,
        root: &Path,
        options: GroupCommitOptions,
    ) -> io::Result<GroupCommit> {
        storage.sync_fs(root)?;
        let shared = Arc::new(Shared {
            requested: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            oldest: AtomicU64::new(0),
            epoch: Instant::now(),
            stop: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            rounds: AtomicU64::new(0),
            failed_rounds: AtomicU64::new(0),
            round_us: Arc::new(AtomicHistogram::one_two_five(10, 10_000_000)),
            lock: Mutex::new(Timings::default()),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let s = shared.clone();
        let root: PathBuf = root.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("verbatim-commit".into())
            .spawn(move || run(&s, storage.as_ref(), &root, options))?;
        Ok(GroupCommit {
            shared,
            thread: Some(thread),
        })
    }

    /// A handle for a recording writer.
    pub fn handle(&self) -> CommitHandle {
        CommitHandle {
            shared: self.shared.clone(),
        }
    }

    /// Every round's `syncfs` time in microseconds (the fsync latency of every recording on the node), since
    /// the start: a lock-free histogram a metrics endpoint reads while rounds go on.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use muxer::group_commit::{GroupCommit, GroupCommitOptions};
    /// use muxer::storage::StdStorage;
    /// let dir = std::env::temp_dir();
    /// let commit = GroupCommit::start(Arc::new(StdStorage), &dir, GroupCommitOptions::default()).unwrap();
    /// commit.handle().wait(commit.handle().request());
    /// assert!(commit.round_histogram().count() >= 1);
    /// ```
    pub fn round_histogram(&self) -> Arc<AtomicHistogram> {
        Arc::clone(&self.shared.round_us)
    }

    /// Rounds, failures and timings so far.
    pub fn stats(&self) -> GroupCommitStats {
        let s = &self.shared;
        let t = lock(&s.lock);
        let pct = |v: &mut Vec<u64>, q: f64| -> u64 {
            if v.is_empty() {
                return 0;
            }
            v.sort_unstable();
            v[((v.len() - 1) as f64 * q).round() as usize]
        };
        let mut syncs: Vec<u64> = t.rounds.iter().map(|r| r.0).collect();
        let mut waits: Vec<u64> = t.rounds.iter().map(|r| r.1).collect();
        GroupCommitStats {
            requests: s.requested.load(Ordering::Acquire),
            rounds: s.rounds.load(Ordering::Acquire),
            failed_rounds: s.failed_rounds.load(Ordering::Acquire),
            round_p50_us: pct(&mut syncs, 0.5),
            round_p99_us: pct(&mut syncs, 0.99),
            wait_p99_us: pct(&mut waits, 0.99),
            wait_max_us: t.wait_max_us,
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _g = lock(&self.shared.lock);
            self.shared.work.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl CommitHandle {
    /// Asks for the writes made so far (by this thread, before this call) to be made durable.
    pub fn request(&self) -> Ticket {
        let s = &self.shared;
        let now = (s.epoch.elapsed().as_nanos() as u64).max(1);
        let _ = s
            .oldest
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        let t = s.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let _g = lock(&s.lock);
        s.work.notify_one();
        Ticket(t)
    }

    /// Where `ticket` stands, without waiting.
    pub fn poll(&self, ticket: Ticket) -> Durability {
        let s = &self.shared;
        if s.completed.load(Ordering::Acquire) < ticket.0 {
            return if s.exited.load(Ordering::Acquire) {
                Durability::Failed
            } else {
                Durability::Pending
            };
        }
        if s.failed_rounds.load(Ordering::Acquire) == 0 {
            return Durability::Durable;
        }
        let t = lock(&s.lock);
        if t.failed
            .iter()
            .any(|&(after, through)| ticket.0 > after && ticket.0 <= through)
        {
            Durability::Failed
        } else {
            Durability::Durable
        }
    }

    /// Waits until `ticket`'s round has finished (blocking: not for a media thread).
    pub fn wait(&self, ticket: Ticket) -> Durability {
        let s = &self.shared;
        let mut g = lock(&s.lock);
        // The thread stores `completed` and `exited` and notifies under the lock: no wake-up is missed.
        while s.completed.load(Ordering::Acquire) < ticket.0 && !s.exited.load(Ordering::Acquire) {
            g = s.done.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        drop(g);
        self.poll(ticket)
    }
}

fn run(s: &Shared, storage: &dyn Storage, root: &Path, options: GroupCommitOptions) {
    loop {
        {
            let mut g = lock(&s.lock);
            while s.requested.load(Ordering::Acquire) == s.completed.load(Ordering::Acquire) {
                if s.stop.load(Ordering::Acquire) {
                    // Tickets asked for from now on fail at once (their writers sync on their own).
                    s.exited.store(true, Ordering::Release);
                    s.done.notify_all();
                    return;
                }
                g = s.work.wait(g).unwrap_or_else(|e| e.into_inner());
            }
        }
        let oldest = s.oldest.swap(0, Ordering::AcqRel);
        let before = s.completed.load(Ordering::Acquire);
        let target = s.requested.load(Ordering::Acquire);
        let t0 = Instant::now();
        let r = storage.sync_fs(root);
        let end = Instant::now();
        let sync_us = end.duration_since(t0).as_micros() as u64;
        s.round_us.record(sync_us);
        let now_ns = end.duration_since(s.epoch).as_nanos() as u64;
        let wait_us = if oldest == 0 {
            sync_us
        } else {
            now_ns.saturating_sub(oldest) / 1_000
        };
        {
            let mut g = lock(&s.lock);
            if r.is_err() {
                g.failed.push((before, target));
                s.failed_rounds.fetch_add(1, Ordering::AcqRel);
            }
            if g.rounds.len() < KEPT_ROUNDS {
                g.rounds.push((sync_us, wait_us));
            } else {
                let i = g.next % KEPT_ROUNDS;
                g.rounds[i] = (sync_us, wait_us);
            }
            g.next += 1;
            g.wait_max_us = g.wait_max_us.max(wait_us);
            s.rounds.fetch_add(1, Ordering::AcqRel);
            s.completed.store(target, Ordering::Release);
            s.done.notify_all();
        }
        if !s.stop.load(Ordering::Acquire) {
            std::thread::sleep(options.min_gap);
        }
    }
}

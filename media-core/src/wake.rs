//! Sleeping until there is work: a [`Doorbell`] lets a thread that found its queues empty sleep until a
//! producer hands it something, instead of spinning, yielding or napping on a timer.
//!
//! The owner *arms* the bell, looks at its queues once more, and parks only if they are still empty; a
//! producer *rings* it after each push. Ringing costs one fence and one atomic load while the owner is busy
//! (nothing to wake), and one `unpark` (a futex wake) only when the owner really sleeps. A sequentially
//! consistent fence on both sides (arm → look, push → ring) means a push is either seen by the owner's second
//! look or its ring finds the bell armed: no wake-up is lost. Waits are bounded all the same
//! ([`Doorbell::wait`]'s timeout), so a flag set without ringing is seen within it.
//!
//! A thread that serves many jobs (a pool thread serving hundreds of calls) gives each job a bell of its own,
//! [`Doorbell::for_job`]: ringing it *marks* the job ready and rings the thread's bell, and the thread steps only
//! the jobs it finds marked ([`Doorbell::take_ready`]) instead of looking into every job's queues on every
//! pass. A producer that must make no system call (the media thread feeding a writer) only marks
//! ([`Doorbell::mark`]); the thread then finds the mark on its next timed pass.
//!
//! Where it sits: the ingest queue between the bot adapter and a call's media work, the writer queue between
//! the media work and the files, and the thread pools that serve many calls.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

/// Wakes one thread (its owner) when a producer has work for it. See the module docs.
///
/// # Examples
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use media_core::wake::Doorbell;
///
/// let bell = Doorbell::for_current_thread();
/// let work = Arc::new(AtomicBool::new(false));
/// let (b, w) = (Arc::clone(&bell), Arc::clone(&work));
/// let producer = std::thread::spawn(move || {
///     w.store(true, Ordering::Release);
///     b.ring();
/// });
/// // Sleeps until the producer rings (or 10 s pass), then finds the work.
/// while !work.load(Ordering::Acquire) {
///     bell.wait(|| work.load(Ordering::Acquire), Duration::from_secs(10));
/// }
/// producer.join().unwrap();
/// ```
#[derive(Debug)]
pub struct Doorbell {
    armed: AtomicBool,
    /// Set by every ring or mark, taken by the owner ([`Self::take_ready`]): which job of a thread has work.
    ready: AtomicBool,
    owner: Thread,
    /// A job's bell rings its thread's bell ([`Self::for_job`]).
    thread: Option<Arc<Doorbell>>,
}

impl Doorbell {
    /// A bell owned by the calling thread (only it may [`Self::wait`]).
    pub fn for_current_thread() -> Arc<Doorbell> {
        Doorbell::for_thread(std::thread::current())
    }

    /// A bell owned by `owner` (a thread just spawned, whose handle the spawner holds).
    pub fn for_thread(owner: Thread) -> Arc<Doorbell> {
        Arc::new(Doorbell {
            armed: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            owner,
            thread: None,
        })
    }

    /// The bell of one job served by the thread that owns `thread` (see the module docs): ringing it marks
    /// the job ready and rings `thread`. Only the thread's own bell is waited on.
    ///
    /// ```
    /// use media_core::wake::Doorbell;
    /// let thread = Doorbell::for_current_thread();
    /// let job = Doorbell::for_job(&thread);
    /// assert!(!job.take_ready());
    /// job.ring();
    /// assert!(job.take_ready());
    /// assert!(!job.take_ready()); // taken
    /// job.mark(); // marked, nobody woken
    /// assert!(job.take_ready());
    /// ```
    pub fn for_job(thread: &Arc<Doorbell>) -> Arc<Doorbell> {
        Arc::new(Doorbell {
            armed: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            owner: thread.owner.clone(),
            thread: Some(Arc::clone(thread)),
        })
    }

    /// Wakes the owner if it waits. Call after making work visible (a push); cheap when the owner is busy.
    pub fn ring(&self) {
        self.ready.store(true, Ordering::Release);
        if let Some(thread) = &self.thread {
            thread.ring();
            return;
        }
        fence(Ordering::SeqCst);
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::AcqRel) {
            self.owner.unpark();
        }
    }

    /// Marks the bell ready without waking anyone (no system call): for a producer on a thread that must not
    /// make one, feeding an owner that polls. Call after making the work visible.
    pub fn mark(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Owner: true when the bell was rung or marked since the last call (the mark is taken). Call before
    /// looking at the job's queues, so that work pushed meanwhile marks it again.
    pub fn take_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && self.ready.swap(false, Ordering::Acquire)
    }

    /// Owner only: sleeps until rung or `timeout`, unless `ready()` (the owner's look at its queues, made
    /// after arming) finds work already. Returns what the last look found (`false` after a wake-up: look
    /// again).
    pub fn wait(&self, ready: impl FnOnce() -> bool, timeout: Duration) -> bool {
        if let Some(thread) = &self.thread {
            // A job's bell rings its thread's: that is the one to sleep on.
            return thread.wait(ready, timeout);
        }
        self.armed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if ready() {
            self.armed.store(false, Ordering::Relaxed);
            return true;
        }
        std::thread::park_timeout(timeout);
        self.armed.store(false, Ordering::Relaxed);
        false
    }
}

/// A place for the bell of whoever will consume a queue, filled once that thread is known (a pool thread
/// adopts the call after its queue was made). Until then rings go nowhere (the consumer's bounded wait
/// covers that moment).
///
/// ```
/// use media_core::wake::{BellSlot, Doorbell};
/// let slot = BellSlot::default();
/// slot.ring(); // nobody yet: nothing happens
/// slot.set(Doorbell::for_current_thread());
/// slot.ring();
/// ```
#[derive(Debug, Default)]
pub struct BellSlot(OnceLock<Arc<Doorbell>>);

impl BellSlot {
    /// Fills the slot (the first bell stays; a consumer does not change thread).
    pub fn set(&self, bell: Arc<Doorbell>) {
        let _ = self.0.set(bell);
    }

    /// Rings the bell in the slot, if any.
    pub fn ring(&self) {
        if let Some(b) = self.0.get() {
            b.ring();
        }
    }

    /// Marks the bell in the slot ready without waking anyone ([`Doorbell::mark`]), if there is one.
    ///
    /// ```
    /// use media_core::wake::{BellSlot, Doorbell};
    /// let slot = BellSlot::default();
    /// let job = Doorbell::for_job(&Doorbell::for_current_thread());
    /// slot.set(job.clone());
    /// slot.mark();
    /// assert!(job.take_ready());
    /// ```
    pub fn mark(&self) {
        if let Some(b) = self.0.get() {
            b.mark();
        }
    }

    /// True once a bell is in the slot.
    pub fn is_set(&self) -> bool {
        self.0.get().is_some()
    }

    /// Sleeps the calling thread until the slot's bell is rung, `timeout` passes or `ready()` (looked at
    /// after arming) finds the awaited condition already; returns what that look found. The first thread to
    /// wait puts its bell in the slot, so whoever rings the slot wakes it; another thread is not rung and
    /// looks again every millisecond.
    ///
    /// ```
    /// use std::time::Duration;
    /// use media_core::wake::BellSlot;
    /// let slot = BellSlot::default();
    /// assert!(slot.wait(|| true, Duration::from_secs(3600)));
    /// assert!(!slot.wait(|| false, Duration::from_millis(1)));
    /// ```
    pub fn wait(&self, ready: impl FnOnce() -> bool, timeout: Duration) -> bool {
        if !self.is_set() {
            self.set(Doorbell::for_current_thread());
        }
        match self.0.get() {
            Some(b) if b.owner.id() == std::thread::current().id() => b.wait(ready, timeout),
            _ => {
                if ready() {
                    return true;
                }
                std::thread::park_timeout(timeout.min(Duration::from_millis(1)));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A consumer that sleeps on the bell receives every one of many items with no wake-up lost: with an
    /// hour-long timeout, a lost wake-up would hang the test (it is bounded by the suite's own timeout).
    #[test]
    fn no_wake_up_is_lost() {
        let bell = Doorbell::for_current_thread();
        let count = Arc::new(AtomicU64::new(0));
        let (b, c) = (Arc::clone(&bell), Arc::clone(&count));
        let producer = std::thread::spawn(move || {
            for i in 0..20_000u64 {
                c.store(i + 1, Ordering::Release);
                b.ring();
                if i % 1000 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let mut seen = 0;
        let mut waits = 0u64;
        while seen < 20_000 {
            let now = count.load(Ordering::Acquire);
            if now > seen {
                seen = now;
                continue;
            }
            waits += 1;
            bell.wait(
                || count.load(Ordering::Acquire) > seen,
                Duration::from_secs(3600),
            );
        }
        producer.join().unwrap();
        assert_eq!(seen, 20_000);
        assert!(waits > 0);
    }

    /// Two producers ring their jobs' bells; the thread sleeps on its own bell and looks only into the jobs
    /// it finds marked: it still sees every item of both (a lost mark or wake-up would hang on the hour-long
    /// wait).
    #[test]
    fn job_bells_mark_their_job_and_wake_the_thread() {
        let thread = Doorbell::for_current_thread();
        let jobs: Vec<(Arc<Doorbell>, Arc<AtomicU64>)> = (0..2)
            .map(|_| (Doorbell::for_job(&thread), Arc::new(AtomicU64::new(0))))
            .collect();
        let producers: Vec<_> = jobs
            .iter()
            .map(|(b, c)| {
                let (b, c) = (Arc::clone(b), Arc::clone(c));
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        c.store(i + 1, Ordering::Release);
                        b.ring();
                        if i % 1000 == 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
            })
            .collect();
        let mut seen = [0u64; 2];
        while seen != [10_000; 2] {
            let mut any = false;
            for (k, (b, c)) in jobs.iter().enumerate() {
                if b.take_ready() {
                    any = true;
                    seen[k] = c.load(Ordering::Acquire);
                }
            }
            if !any {
                thread.wait(
                    || jobs.iter().any(|(b, _)| b.ready.load(Ordering::Relaxed)),
                    Duration::from_secs(3600),
                );
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert!(!jobs[0].0.take_ready() && !jobs[1].0.take_ready());
    }

    /// Without a ring, the wait ends by its timeout (a flag set without ringing is seen then); with work
    /// already there it does not sleep at all (an hour-long timeout would hang the test).
    #[test]
    fn a_wait_is_bounded_by_its_timeout() {
        let bell = Doorbell::for_current_thread();
        assert!(!bell.wait(|| false, Duration::from_millis(20)));
        assert!(bell.wait(|| true, Duration::from_secs(3600)));
    }
}

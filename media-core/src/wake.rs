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
    owner: Thread,
}

impl Doorbell {
    /// A bell owned by the calling thread (only it may [`Self::wait`]).
    pub fn for_current_thread() -> Arc<Doorbell> {
        Arc::new(Doorbell {
            armed: AtomicBool::new(false),
            owner: std::thread::current(),
        })
    }

    /// A bell owned by `owner` (a thread just spawned, whose handle the spawner holds).
    pub fn for_thread(owner: Thread) -> Arc<Doorbell> {
        Arc::new(Doorbell {
            armed: AtomicBool::new(false),
            owner,
        })
    }

    /// Wakes the owner if it waits. Call after making work visible (a push); cheap when the owner is busy.
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::AcqRel) {
            self.owner.unpark();
        }
    }

    /// Owner only: sleeps until rung or `timeout`, unless `ready()` (the owner's look at its queues, made
    /// after arming) finds work already. Returns what the last look found (`false` after a wake-up: look
    /// again).
    pub fn wait(&self, ready: impl FnOnce() -> bool, timeout: Duration) -> bool {
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

    /// Without a ring, the wait ends by its timeout (a flag set without ringing is seen then); with work
    /// already there it does not sleep at all (an hour-long timeout would hang the test).
    #[test]
    fn a_wait_is_bounded_by_its_timeout() {
        let bell = Doorbell::for_current_thread();
        assert!(!bell.wait(|| false, Duration::from_millis(20)));
        assert!(bell.wait(|| true, Duration::from_secs(3600)));
    }
}

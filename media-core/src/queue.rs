//! Bounded lock-free single-producer/single-consumer queues between the ingest side and the media worker.
//!
//! Built on [`ringbuf`]'s heap ring buffer: `push` and `pop` are wait-free, never lock and never allocate
//! (the ring is allocated once by [`bounded`]).
//!
//! # Overflow policy
//! When the ring is full, [`QueueProducer::push`] **rejects the newest item** and hands it back inside
//! [`QueueFull`], counting it in [`QueueStats::dropped`]. The producer (the SDK's event handler) must return at
//! once and cannot wait; the consumer owns the older items and the producer cannot take them back without a
//! lock. Rejecting the newest keeps what was already queued contiguous, and the jitter buffer then reports the
//! rejected span as a gap. The counter is shared, so the media worker and the metrics see every drop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use crate::wake::{BellSlot, Doorbell};

/// The bells of the two ends: the consumer's rung after each push, the producer's (while it waits for room)
/// after the consumer took items.
#[derive(Debug, Default)]
struct Bells {
    consumer: BellSlot,
    producer: BellSlot,
}

/// Counters shared by both ends of one queue.
#[derive(Debug, Default)]
pub struct QueueStats {
    pushed: AtomicU64,
    dropped: AtomicU64,
    high_water: AtomicU64,
}

impl QueueStats {
    /// Items accepted into the queue.
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }
    /// Items rejected because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// The largest number of items seen waiting at once.
    pub fn high_water(&self) -> u64 {
        self.high_water.load(Ordering::Relaxed)
    }
}

/// The item handed back when the queue is full (it was not queued, and it was counted as dropped).
#[derive(Debug, thiserror::Error)]
#[error("queue full ({capacity} items): newest item rejected")]
pub struct QueueFull<T> {
    /// The rejected item.
    pub item: T,
    /// The queue's capacity.
    pub capacity: usize,
}

/// The sending end of a bounded queue. Not `Clone`: one producer only.
pub struct QueueProducer<T> {
    inner: HeapProd<T>,
    stats: Arc<QueueStats>,
    bells: Arc<Bells>,
    /// Places known to be free: a lower bound (the consumer only frees more), so the producer reads the
    /// consumer's position — a cache line the other thread writes with every pop — only when the bound runs
    /// short ([`QueueProducer::has_room`]) or passes the high-water mark (see `push`).
    room: usize,
    /// This end's own copies of the counters it alone writes (published with plain stores).
    pushed: u64,
    high_water: u64,
}

/// The receiving end of a bounded queue.
pub struct QueueConsumer<T> {
    inner: HeapCons<T>,
    stats: Arc<QueueStats>,
    bells: Arc<Bells>,
}

/// Makes a queue that holds at most `capacity` items (at least 1).
///
/// # Examples
/// ```
/// let (mut tx, mut rx) = media_core::queue::bounded::<u32>(2);
/// tx.push(1).unwrap();
/// tx.push(2).unwrap();
/// let full = tx.push(3).unwrap_err();
/// assert_eq!(full.item, 3);
/// assert_eq!(rx.pop(), Some(1));
/// assert_eq!(rx.stats().dropped(), 1);
/// ```
pub fn bounded<T>(capacity: usize) -> (QueueProducer<T>, QueueConsumer<T>) {
    let rb = HeapRb::<T>::new(capacity.max(1));
    let (prod, cons) = rb.split();
    let stats = Arc::new(QueueStats::default());
    let bells = Arc::new(Bells::default());
    (
        QueueProducer {
            inner: prod,
            stats: Arc::clone(&stats),
            bells: Arc::clone(&bells),
            room: capacity.max(1),
            pushed: 0,
            high_water: 0,
        },
        QueueConsumer {
            inner: cons,
            stats,
            bells,
        },
    )
}

impl<T> QueueProducer<T> {
    /// Queues `item` without blocking or allocating.
    ///
    /// # Errors
    /// [`QueueFull`] with the item when the queue is full; the drop is counted.
    pub fn push(&mut self, item: T) -> Result<(), QueueFull<T>> {
        match self.inner.try_push(item) {
            Ok(()) => {
                // One producer: its counters are published with stores, not read-modify-writes.
                self.pushed += 1;
                self.stats.pushed.store(self.pushed, Ordering::Relaxed);
                self.room = self.room.saturating_sub(1);
                let capacity = self.inner.capacity().get();
                if (capacity - self.room) as u64 > self.high_water {
                    // The queue may hold more than ever before: look at its real length.
                    let len = self.inner.occupied_len();
                    self.room = capacity - len;
                    if len as u64 > self.high_water {
                        self.high_water = len as u64;
                        self.stats
                            .high_water
                            .store(self.high_water, Ordering::Relaxed);
                    }
                }
                self.bells.consumer.ring();
                Ok(())
            }
            Err(item) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                Err(QueueFull {
                    item,
                    capacity: self.inner.capacity().get(),
                })
            }
        }
    }
    /// Free places left.
    pub fn free(&self) -> usize {
        self.inner.vacant_len()
    }

    /// True when at least `n` places are free. Cheaper than [`Self::free`] on a queue that has room: it reads
    /// the consumer's position only when the places this end knows to be free fall short of `n`.
    ///
    /// ```
    /// let (mut tx, mut rx) = media_core::queue::bounded::<u32>(2);
    /// assert!(tx.has_room(2));
    /// tx.push(1).unwrap();
    /// tx.push(2).unwrap();
    /// assert!(!tx.has_room(1));
    /// assert_eq!(rx.pop(), Some(1));
    /// assert!(tx.has_room(1));
    /// assert!(!tx.has_room(2));
    /// ```
    pub fn has_room(&mut self, n: usize) -> bool {
        if self.room < n {
            self.room = self.inner.vacant_len();
        }
        self.room >= n
    }

    /// Wakes the consumer without pushing (it has something else to look at: a stop, a control message).
    pub fn wake_consumer(&self) {
        self.bells.consumer.ring();
    }

    /// Sleeps until at least `n` places are free (the consumer rings as it takes items) or `give_up()` says
    /// to stop waiting (checked at least every `recheck`). Returns true when the room is there. For a
    /// producer that may wait (a replay), never for one that must return at once (the SDK's handler).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut tx, mut rx) = media_core::queue::bounded::<u32>(1);
    /// tx.push(1).unwrap();
    /// let consumer = std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_millis(10));
    ///     rx.pop()
    /// });
    /// assert!(tx.wait_for_room(1, || false, Duration::from_secs(10)));
    /// assert_eq!(consumer.join().unwrap(), Some(1));
    /// ```
    pub fn wait_for_room(
        &mut self,
        n: usize,
        give_up: impl Fn() -> bool,
        recheck: Duration,
    ) -> bool {
        let n = n.min(self.inner.capacity().get());
        loop {
            if self.inner.vacant_len() >= n {
                return true;
            }
            if give_up() {
                return false;
            }
            self.bells
                .producer
                .wait(|| self.inner.vacant_len() >= n, recheck);
        }
    }
    /// The shared counters.
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

impl<T> QueueConsumer<T> {
    /// Takes the oldest item, if any.
    pub fn pop(&mut self) -> Option<T> {
        self.inner.try_pop()
    }

    /// Names the thread that consumes this queue: every push from now on rings `bell` (see
    /// [`crate::wake`]). The first bell stays.
    pub fn attach(&self, bell: Arc<Doorbell>) {
        self.bells.consumer.set(bell);
    }

    /// Wakes a producer waiting in [`QueueProducer::wait_for_room`] (call after taking a batch of items;
    /// cheap when nobody waits).
    pub fn wake_producer(&self) {
        self.bells.producer.ring();
    }
    /// Items waiting.
    pub fn len(&self) -> usize {
        self.inner.occupied_len()
    }
    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
    /// The shared counters.
    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_counts_drops_and_high_water() {
        let (mut tx, mut rx) = bounded::<u32>(3);
        for i in 0..5 {
            let _ = tx.push(i);
        }
        assert_eq!(tx.stats().pushed(), 3);
        assert_eq!(tx.stats().dropped(), 2);
        assert_eq!(tx.stats().high_water(), 3);
        assert_eq!(
            (rx.pop(), rx.pop(), rx.pop(), rx.pop()),
            (Some(0), Some(1), Some(2), None)
        );
        tx.push(9).map_err(|e| e.item).unwrap_or_default();
        assert_eq!(rx.pop(), Some(9));
    }

    proptest::proptest! {
        /// Whatever the order of pushes and pops, the producer's cheap bookkeeping (a lower bound of the room,
        /// the high-water mark refreshed only when that bound passes it) gives what a look at the queue on
        /// every push would: the exact high-water mark and an exact `has_room`.
        #[test]
        fn high_water_and_room_are_exact(ops in proptest::collection::vec(0u8..3, 1..300), cap in 1usize..9) {
            let (mut tx, mut rx) = bounded::<u32>(cap);
            let (mut len, mut high, mut pushed) = (0usize, 0usize, 0u64);
            for op in ops {
                match op {
                    0 | 1 => {
                        if tx.push(7).is_ok() {
                            len += 1;
                            pushed += 1;
                            high = high.max(len);
                        }
                    }
                    _ => {
                        if rx.pop().is_some() {
                            len -= 1;
                        }
                    }
                }
                proptest::prop_assert_eq!(tx.stats().high_water(), high as u64);
                proptest::prop_assert_eq!(tx.stats().pushed(), pushed);
                // Asked now and then only, so the producer's bound also drifts between looks.
                if op == 1 {
                    for n in 0..=cap + 1 {
                        proptest::prop_assert_eq!(tx.has_room(n), cap - len >= n);
                    }
                }
            }
        }
    }

    #[test]
    fn works_across_threads() {
        let (mut tx, mut rx) = bounded::<u64>(64);
        let h = std::thread::spawn(move || {
            let mut sent = 0u64;
            for i in 0..10_000u64 {
                let mut item = i;
                loop {
                    match tx.push(item) {
                        Ok(()) => break,
                        Err(full) => {
                            item = full.item;
                            std::thread::yield_now();
                        }
                    }
                }
                sent += 1;
            }
            sent
        });
        let mut next = 0u64;
        while next < 10_000 {
            if let Some(v) = rx.pop() {
                assert_eq!(v, next);
                next += 1;
            } else {
                std::thread::yield_now();
            }
        }
        assert_eq!(h.join().ok(), Some(10_000));
        assert_eq!(
            rx.stats().pushed(),
            10_000 + rx.stats().dropped() - rx.stats().dropped()
        );
    }
}

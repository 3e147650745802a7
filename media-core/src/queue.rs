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

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

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
}

/// The receiving end of a bounded queue.
pub struct QueueConsumer<T> {
    inner: HeapCons<T>,
    stats: Arc<QueueStats>,
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
    (
        QueueProducer {
            inner: prod,
            stats: Arc::clone(&stats),
        },
        QueueConsumer { inner: cons, stats },
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
                self.stats.pushed.fetch_add(1, Ordering::Relaxed);
                let len = self.inner.occupied_len() as u64;
                self.stats.high_water.fetch_max(len, Ordering::Relaxed);
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

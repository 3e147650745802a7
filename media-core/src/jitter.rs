//! Per-source jitter buffer: puts frames back in sending order, drops duplicates, waits a bounded time for
//! missing frames, and says which frames came too late.
//!
//! Frames are identified by a **key**: their index in the sender's frame sequence (derived from the sender's
//! timestamp by [`crate::timeline::SourceClock`]). A frame whose key directly follows the last released key is
//! released at once; when a key is missing, later frames wait until their **deadline** (their place on the
//! recording timeline plus the late window) passes, and the missing keys are reported as a gap by the caller.
//! A recorder records what was sent: there is no time-stretching and no concealment here.
//!
//! Memory is bounded: the buffer holds at most `capacity` frames (allocated once), remembers which of the last
//! [`HISTORY`] keys it released (to tell a duplicate from a late frame), and refuses keys more than
//! `max_ahead` beyond the last released one.

use std::collections::VecDeque;

use crate::time::MediaTime;

/// How many recently released keys are remembered for duplicate detection.
pub const HISTORY: usize = 4096;

/// What happened to an inserted frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Insert<T> {
    /// Queued; it will be released in key order.
    Accepted,
    /// The same key is queued or was already released: dropped.
    Duplicate,
    /// Its key was passed over already (released as a gap): dropped.
    Late,
    /// Its key is more than `max_ahead` past the last released key: refused as implausible.
    TooFarAhead,
    /// The buffer is full; the frame is handed back. Release the oldest with [`JitterBuffer::pop_forced`]
    /// and insert again.
    Full(T),
}

/// Counters of one jitter buffer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JitterStats {
    /// Frames accepted.
    pub accepted: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Late frames dropped.
    pub late: u64,
    /// Frames refused as too far ahead.
    pub too_far_ahead: u64,
    /// Frames released before their deadline because the buffer was full.
    pub forced: u64,
    /// Frames that arrived out of order but in time (they were put back in place).
    pub reordered: u64,
}

struct Slot<T> {
    key: i64,
    deadline: MediaTime,
    item: T,
}

/// Reorders frames of one source by key (see the module docs).
///
/// # Examples
/// ```
/// use media_core::jitter::{Insert, JitterBuffer};
/// use media_core::MediaTime;
/// let ms = MediaTime::from_millis;
/// let mut jb = JitterBuffer::new(16, 500);
/// assert_eq!(jb.insert(0, ms(200), "a"), Insert::Accepted);
/// assert_eq!(jb.pop_ready(ms(0)), None); // the first frame waits for its deadline
/// assert_eq!(jb.pop_ready(ms(200)), Some((0, "a")));
/// assert_eq!(jb.insert(2, ms(240), "c"), Insert::Accepted);
/// assert_eq!(jb.pop_ready(ms(210)), None); // key 1 missing: wait until c's deadline
/// assert_eq!(jb.insert(1, ms(220), "b"), Insert::Accepted); // arrives late but in time
/// assert_eq!(jb.pop_ready(ms(210)), Some((1, "b"))); // contiguous: released at once
/// assert_eq!(jb.pop_ready(ms(210)), Some((2, "c")));
/// assert_eq!(jb.insert(1, ms(220), "b"), Insert::Duplicate);
/// ```
pub struct JitterBuffer<T> {
    slots: VecDeque<Slot<T>>,
    capacity: usize,
    max_ahead: i64,
    last_released: Option<i64>,
    released: Box<[u64; HISTORY / 64]>,
    highest_seen: Option<i64>,
    stats: JitterStats,
}

impl<T> JitterBuffer<T> {
    /// A buffer holding at most `capacity` frames that refuses keys more than `max_ahead` past the last
    /// released key. All memory is allocated here.
    pub fn new(capacity: usize, max_ahead: i64) -> Self {
        let capacity = capacity.max(1);
        JitterBuffer {
            slots: VecDeque::with_capacity(capacity),
            capacity,
            max_ahead: max_ahead.max(1),
            last_released: None,
            released: Box::new([0; HISTORY / 64]),
            highest_seen: None,
            stats: JitterStats::default(),
        }
    }

    fn bit(key: i64) -> (usize, u64) {
        let k = key.rem_euclid(HISTORY as i64) as usize;
        (k / 64, 1u64 << (k % 64))
    }

    fn was_released(&self, key: i64) -> bool {
        match self.last_released {
            Some(last) if key <= last && last.saturating_sub(key) < HISTORY as i64 => {
                let (w, m) = Self::bit(key);
                self.released[w] & m != 0
            }
            _ => false,
        }
    }

    fn mark_released(&mut self, key: i64) {
        if let Some(last) = self.last_released {
            // Clear the bits of keys skipped over (gaps), so they read as "not released".
            let mut k = last.saturating_add(1);
            let stop = key.min(last.saturating_add(HISTORY as i64));
            while k < stop {
                let (w, m) = Self::bit(k);
                self.released[w] &= !m;
                k += 1;
            }
        }
        let (w, m) = Self::bit(key);
        self.released[w] |= m;
        self.last_released = Some(key);
    }

    /// Offers a frame with its key and its release deadline (recording time after which it may be released even
    /// if earlier keys are missing).
    pub fn insert(&mut self, key: i64, deadline: MediaTime, item: T) -> Insert<T> {
        if let Some(last) = self.last_released {
            if key <= last {
                if self.was_released(key) {
                    self.stats.duplicates += 1;
                    return Insert::Duplicate;
                }
                self.stats.late += 1;
                return Insert::Late;
            }
            if key.saturating_sub(last) > self.max_ahead {
                self.stats.too_far_ahead += 1;
                return Insert::TooFarAhead;
            }
        }
        let idx = self.slots.partition_point(|s| s.key < key);
        if self.slots.get(idx).is_some_and(|s| s.key == key) {
            self.stats.duplicates += 1;
            return Insert::Duplicate;
        }
        if self.slots.len() >= self.capacity {
            return Insert::Full(item);
        }
        if self.highest_seen.is_some_and(|h| key < h) {
            self.stats.reordered += 1;
        }
        self.highest_seen = Some(self.highest_seen.map_or(key, |h| h.max(key)));
        self.slots.insert(
            idx,
            Slot {
                key,
                deadline,
                item,
            },
        );
        self.stats.accepted += 1;
        Insert::Accepted
    }

    /// Releases the next frame if it directly follows the last released key, or if its deadline is at or
    /// before `now`. Call until it returns `None`.
    pub fn pop_ready(&mut self, now: MediaTime) -> Option<(i64, T)> {
        let head = self.slots.front()?;
        let contiguous = self
            .last_released
            .is_none_or(|l| l.checked_add(1) == Some(head.key));
        // The very first frame waits for its deadline too, so that earlier keys delayed in the network can
        // still take their place.
        let first = self.last_released.is_none();
        if (contiguous && !first) || head.deadline <= now {
            return self.release_head();
        }
        None
    }

    /// Releases the oldest frame regardless of its deadline (buffer full, or end of stream).
    pub fn pop_forced(&mut self) -> Option<(i64, T)> {
        let r = self.release_head();
        if r.is_some() {
            self.stats.forced += 1;
        }
        r
    }

    /// Releases everything in key order (end of stream); not counted as forced.
    pub fn drain(&mut self) -> Option<(i64, T)> {
        self.release_head()
    }

    fn release_head(&mut self) -> Option<(i64, T)> {
        let s = self.slots.pop_front()?;
        self.mark_released(s.key);
        Some((s.key, s.item))
    }

    /// The key released last.
    pub fn last_released(&self) -> Option<i64> {
        self.last_released
    }
    /// Marks every key up to and including `key` as passed over (used when the output has moved past them).
    pub fn skip_to(&mut self, key: i64) {
        if self.last_released.is_none_or(|l| key > l) {
            // Only the last HISTORY keys have bits; saturating, so keys near the i64 limits cannot overflow.
            let first = self.last_released.map_or(key, |l| l.saturating_add(1));
            let mut k = first.max(key.saturating_sub(HISTORY as i64 - 1));
            while k <= key {
                let (w, m) = Self::bit(k);
                self.released[w] &= !m;
                match k.checked_add(1) {
                    Some(n) => k = n,
                    None => break,
                }
            }
            self.last_released = Some(key);
        }
    }
    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// The fixed capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: i64) -> MediaTime {
        MediaTime::from_millis(v)
    }

    /// Runs arrivals (key, arrival time) through a buffer with `window` ms of deadline after each key's nominal
    /// time (key * 20 ms) and returns the released keys.
    fn run(arrivals: &[(i64, i64)], window: i64) -> (Vec<i64>, JitterStats) {
        let mut jb = JitterBuffer::new(64, 1000);
        let mut out = Vec::new();
        for &(key, at) in arrivals {
            while let Some((k, ())) = jb.pop_ready(ms(at)) {
                out.push(k);
            }
            let _ = jb.insert(key, ms(key * 20 + window), ());
            while let Some((k, ())) = jb.pop_ready(ms(at)) {
                out.push(k);
            }
        }
        while let Some((k, ())) = jb.drain() {
            out.push(k);
        }
        (out, jb.stats())
    }

    #[test]
    fn a_gap_is_skipped_after_the_deadline_and_a_later_arrival_is_late() {
        let mut jb = JitterBuffer::new(8, 100);
        assert_eq!(jb.insert(0, ms(0), 'a'), Insert::Accepted);
        assert_eq!(jb.pop_ready(ms(0)), Some((0, 'a')));
        assert_eq!(jb.insert(2, ms(100), 'c'), Insert::Accepted);
        assert_eq!(jb.pop_ready(ms(99)), None);
        assert_eq!(jb.pop_ready(ms(100)), Some((2, 'c')));
        assert_eq!(jb.insert(1, ms(80), 'b'), Insert::Late);
        assert_eq!(jb.insert(2, ms(100), 'c'), Insert::Duplicate);
        assert_eq!(jb.insert(500, ms(100), 'z'), Insert::TooFarAhead);
        let s = jb.stats();
        assert_eq!(
            (s.accepted, s.late, s.duplicates, s.too_far_ahead),
            (2, 1, 1, 1)
        );
    }

    #[test]
    fn full_buffer_hands_the_frame_back() {
        let mut jb = JitterBuffer::new(2, 100);
        let _ = jb.insert(5, ms(0), 5);
        let _ = jb.insert(6, ms(0), 6);
        assert_eq!(jb.insert(7, ms(0), 7), Insert::Full(7));
        assert_eq!(jb.pop_forced(), Some((5, 5)));
        assert_eq!(jb.insert(7, ms(0), 7), Insert::Accepted);
        assert_eq!(jb.stats().forced, 1);
    }

    /// Found by `fuzz/` target `jitter`: keys far apart (any i64 through the public API) overflowed
    /// `key - last` (a panic with overflow checks; with wrapping, a key far ahead was accepted).
    #[test]
    fn extreme_keys_do_not_overflow() {
        let mut jb = JitterBuffer::new(4, 100);
        assert_eq!(jb.insert(i64::MIN + 1, ms(0), 0), Insert::Accepted);
        assert_eq!(jb.pop_ready(ms(0)), Some((i64::MIN + 1, 0)));
        assert_eq!(jb.insert(i64::MAX, ms(0), 1), Insert::TooFarAhead);
        assert_eq!(jb.insert(i64::MIN, ms(0), 2), Insert::Late);
        let mut jb = JitterBuffer::new(4, 100);
        assert_eq!(jb.insert(i64::MAX, ms(0), 0), Insert::Accepted);
        assert_eq!(jb.pop_ready(ms(0)), Some((i64::MAX, 0)));
        assert_eq!(jb.insert(i64::MIN, ms(0), 1), Insert::Late);
        assert_eq!(jb.insert(i64::MAX, ms(0), 2), Insert::Duplicate);
        // skip_to across the whole key range (it once computed `key - k` unchecked).
        let mut jb = JitterBuffer::new(4, 100);
        assert_eq!(jb.insert(i64::MIN + 1, ms(0), 0), Insert::Accepted);
        assert_eq!(jb.pop_ready(ms(0)), Some((i64::MIN + 1, 0)));
        jb.skip_to(i64::MAX);
        assert_eq!(jb.last_released(), Some(i64::MAX));
        assert_eq!(jb.insert(i64::MAX - 5, ms(0), 1), Insert::Late);
        assert_eq!(jb.insert(i64::MAX, ms(0), 1), Insert::Late);
        let mut jb = JitterBuffer::new(4, 100);
        jb.skip_to(i64::MIN);
        jb.skip_to(i64::MAX);
        assert_eq!(jb.insert(0, ms(0), 1), Insert::Late);
    }

    proptest! {
        /// Any arrival order in which every frame arrives before its deadline yields exactly the in-order
        /// output, each key once.
        #[test]
        fn order_within_the_window_does_not_change_the_output(
            n in 1usize..200,
            delays in proptest::collection::vec(0i64..200, 200),
            dups in proptest::collection::vec(any::<bool>(), 200),
        ) {
            let window = 200;
            let mut arrivals: Vec<(i64, i64)> = Vec::new();
            for k in 0..n as i64 {
                let d = delays[k as usize];
                arrivals.push((k, k * 20 + d));
                if dups[k as usize] {
                    arrivals.push((k, k * 20 + d + 1));
                }
            }
            arrivals.sort_by_key(|&(_, at)| at);
            let (out, stats) = run(&arrivals, window + 1);
            prop_assert_eq!(out, (0..n as i64).collect::<Vec<_>>());
            prop_assert_eq!(stats.late, 0);
            prop_assert_eq!(stats.duplicates as usize, dups[..n].iter().filter(|d| **d).count());
        }

        /// Whatever arrives (any keys, any times, any duplicates), nothing is released twice, releases are in
        /// increasing key order, and the buffer never holds more than its capacity.
        #[test]
        fn never_twice_always_increasing_always_bounded(
            events in proptest::collection::vec((0i64..3000, 0i64..60_000), 1..400),
        ) {
            let mut jb = JitterBuffer::new(32, 2000);
            let mut out = Vec::new();
            let mut now = 0;
            for (key, dt) in events {
                now += dt % 100;
                if let Insert::Full(k) = jb.insert(key, ms(key * 20 + 200), key) {
                    if let Some((r, _)) = jb.pop_forced() { out.push(r); }
                    let _ = jb.insert(k, ms(k * 20 + 200), k);
                }
                prop_assert!(jb.len() <= jb.capacity());
                while let Some((k, _)) = jb.pop_ready(ms(now)) { out.push(k); }
            }
            while let Some((k, _)) = jb.drain() { out.push(k); }
            for w in out.windows(2) {
                prop_assert!(w[0] < w[1], "released out of order or twice: {:?}", w);
            }
        }
    }
}

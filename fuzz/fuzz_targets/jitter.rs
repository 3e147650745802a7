//! The jitter buffer (`media_core::jitter::JitterBuffer`) driven by arbitrary insert/pop sequences, as the
//! network and a misbehaving sender would drive it. Invariants: a key is released at most once and releases are
//! in increasing key order; the buffer never holds more than its capacity; the counters add up
//! (accepted = released + waiting, offered = accepted + duplicate + late + too far ahead + handed back).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use media_core::jitter::{Insert, JitterBuffer};
use media_core::MediaTime;

#[derive(Arbitrary, Debug)]
enum Op {
    /// A frame with key `base + offset` and a deadline `deadline_ms` after the key's nominal time.
    Insert {
        offset: i16,
        deadline_ms: u8,
    },
    /// A frame with any key at all.
    InsertRaw {
        key: i64,
        deadline_ms: i16,
    },
    /// Time advances and everything ready is released.
    Advance {
        ms: u8,
    },
    PopForced,
}

#[derive(Arbitrary, Debug)]
struct Input {
    capacity: u8,
    max_ahead: u16,
    base: i32,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let mut jb = JitterBuffer::new(usize::from(input.capacity), i64::from(input.max_ahead));
    let base = i64::from(input.base);
    let mut now = 0i64;
    let mut released: Vec<i64> = Vec::new();
    let (mut offered, mut handed_back) = (0u64, 0u64);
    let mut offer = |jb: &mut JitterBuffer<i64>, key: i64, deadline: i64| {
        offered += 1;
        if let Insert::Full(k) = jb.insert(key, MediaTime::from_millis(deadline), key) {
            assert_eq!(k, key, "the handed-back frame is the one offered");
            handed_back += 1;
        }
    };
    for op in input.ops.iter().take(5000) {
        match *op {
            Op::Insert {
                offset,
                deadline_ms,
            } => {
                let key = base + i64::from(offset);
                offer(
                    &mut jb,
                    key,
                    key.saturating_mul(20) + i64::from(deadline_ms),
                );
            }
            Op::InsertRaw { key, deadline_ms } => {
                offer(&mut jb, key, now + i64::from(deadline_ms));
            }
            Op::Advance { ms } => {
                now += i64::from(ms);
                while let Some((k, v)) = jb.pop_ready(MediaTime::from_millis(now)) {
                    assert_eq!(k, v);
                    released.push(k);
                }
            }
            Op::PopForced => {
                if let Some((k, _)) = jb.pop_forced() {
                    released.push(k);
                }
            }
        }
        assert!(jb.len() <= jb.capacity());
        let s = jb.stats();
        assert_eq!(s.accepted, released.len() as u64 + jb.len() as u64, "{s:?}");
    }
    while let Some((k, _)) = jb.drain() {
        released.push(k);
    }
    for w in released.windows(2) {
        assert!(w[0] < w[1], "released out of order or twice: {w:?}");
    }
    let s = jb.stats();
    assert_eq!(s.accepted, released.len() as u64);
    assert_eq!(
        offered,
        s.accepted + s.duplicates + s.late + s.too_far_ahead + handed_back,
        "{s:?}"
    );
});

//! The sealed-log reader (`seal::SealedReader`) as `verbatim decrypt` runs it on an encrypted recording's
//! files: any bytes. First byte even: the bytes after it are records read with a fixed data key; odd: a
//! whole sealed file (header, age-wrapped key, records) opened with a fixed throwaway identity.
//! Invariants: never a panic; the reader's position only grows and stays inside the input; re-sealing the
//! operations read with the same key reproduces exactly the bytes they were read from (nothing is
//! accepted that the writer would not have written).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seal::{DataKey, Identities, Op, SealedReader, Sealer};

/// A throwaway identity for fuzzing only (its recipient seals the seed corpus).
const IDENTITY: &str = "AGE-SECRET-KEY-1XZRM9LDLGZXJ3XN9X8QDUTFCSYVP40YPG44S6FDZ6VEGQNUCSA7SLPL227";

fn drain<R: std::io::Read>(mut r: SealedReader<R>, key: Option<&DataKey>, input: &[u8], start: u64) {
    let mut resealed = Vec::new();
    let mut sealer = key.map(Sealer::new);
    let mut last = r.position();
    assert_eq!(last, start);
    loop {
        let op = match r.next_op() {
            Ok(Some(op)) => op,
            Ok(None) | Err(_) => break,
        };
        if let Some(s) = &mut sealer {
            match op {
                Op::Write { offset, bytes } => s.seal_write(offset, bytes, &mut resealed).unwrap(),
                Op::SetLen(n) => s.seal_set_len(n, &mut resealed).unwrap(),
            }
        }
        let pos = r.position();
        assert!(pos > last && pos <= start + input.len() as u64);
        last = pos;
    }
    if sealer.is_some() {
        assert_eq!(&resealed[..], &input[..(last - start) as usize]);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let key = DataKey::from_bytes([0x42; 32]);
        drain(SealedReader::with_key(rest, &key, 0), Some(&key), rest, 0);
    } else {
        let ids = Identities::parse(IDENTITY).unwrap();
        if let Ok(r) = SealedReader::open(rest, &ids) {
            let start = r.position();
            assert!(start <= rest.len() as u64);
            drain(r, None, &rest[start as usize..], start);
        }
    }
});

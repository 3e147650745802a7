//! The sealed-log reader on hostile bytes: random input, a valid log with bytes flipped, cut or spliced.
//! It never panics; a changed log either fails with an error or (cut at a record boundary) yields a prefix
//! of the records as sealed.

use proptest::prelude::*;
use seal::{DataKey, Op, SealError, SealedReader, Sealer};

/// An operation read: (offset or length, bytes, whether it sets the length).
type ReadOp = (u64, Vec<u8>, bool);

fn ops_of(bytes: &[u8], key: &DataKey) -> (Vec<ReadOp>, Option<SealError>) {
    let mut r = SealedReader::with_key(bytes, key, 0);
    let mut out = Vec::new();
    loop {
        match r.next_op() {
            Ok(None) => return (out, None),
            Ok(Some(Op::Write { offset, bytes })) => out.push((offset, bytes.to_vec(), false)),
            Ok(Some(Op::SetLen(n))) => out.push((n, Vec::new(), true)),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn sealed(records: &[(u64, Vec<u8>)], key: &DataKey) -> (Vec<u8>, Vec<usize>) {
    let mut s = Sealer::new(key);
    let mut out = Vec::new();
    let mut bounds = vec![0];
    for (off, b) in records {
        if b.is_empty() {
            s.seal_set_len(*off, &mut out).unwrap();
        } else {
            s.seal_write(*off, b, &mut out).unwrap();
        }
        bounds.push(out.len());
    }
    (out, bounds)
}

fn records() -> impl Strategy<Value = Vec<(u64, Vec<u8>)>> {
    prop::collection::vec(
        (0u64..1 << 20, prop::collection::vec(any::<u8>(), 0..200)),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096), k in any::<[u8; 32]>()) {
        let key = DataKey::from_bytes(k);
        let (ops, err) = ops_of(&bytes, &key);
        // Forging a record needs the key.
        prop_assert!(ops.is_empty());
        prop_assert!(bytes.is_empty() == err.is_none());
        let ids = seal::Identities::parse(&seal::generate_identity().0).unwrap();
        prop_assert!(seal::replay_to_vec(&bytes[..], &ids, 1 << 20).is_err());
    }

    #[test]
    fn a_flipped_byte_is_an_error(recs in records(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = DataKey::from_bytes([9; 32]);
        let (mut bytes, _) = sealed(&recs, &key);
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let (_, err) = ops_of(&bytes, &key);
        prop_assert!(err.is_some());
    }

    #[test]
    fn a_cut_log_is_a_prefix_or_an_error(recs in records(), at in any::<prop::sample::Index>()) {
        let key = DataKey::from_bytes([3; 32]);
        let (bytes, bounds) = sealed(&recs, &key);
        let cut = at.index(bytes.len() + 1);
        let (ops, err) = ops_of(&bytes[..cut], &key);
        match bounds.iter().position(|b| *b == cut) {
            Some(n) => {
                prop_assert!(err.is_none());
                prop_assert_eq!(ops.len(), n);
                for ((off, b, set), (o2, b2)) in ops.iter().zip(&recs) {
                    prop_assert_eq!(off, o2);
                    prop_assert_eq!(*set, b2.is_empty());
                    prop_assert_eq!(b, b2);
                }
            }
            None => {
                let truncated = matches!(err, Some(SealError::Truncated { .. }));
                prop_assert!(truncated);
            }
        }
    }

    #[test]
    fn records_swapped_or_dropped_are_refused(recs in records()) {
        prop_assume!(recs.len() >= 2);
        let key = DataKey::from_bytes([5; 32]);
        let (bytes, bounds) = sealed(&recs, &key);
        // Drop the first record: the second now sits at nonce 0 and fails.
        let (_, err) = ops_of(&bytes[bounds[1]..], &key);
        let is_auth = matches!(err, Some(SealError::Auth { record: 0, .. }));
        prop_assert!(is_auth);
    }
}

#[test]
fn replay_applies_rewrites_in_order_and_caps_size() {
    let (secret, public) = seal::generate_identity();
    let r = seal::Recipients::parse(&[public]).unwrap();
    let (key, mut f) = seal::new_file_header(&r).unwrap();
    let mut s = Sealer::new(&key);
    s.seal_write(0, b"0123456789", &mut f).unwrap();
    s.seal_write(2, b"ab", &mut f).unwrap();
    s.seal_set_len(6, &mut f).unwrap();
    s.seal_write(8, b"Z", &mut f).unwrap();
    let ids = seal::Identities::parse(&secret).unwrap();
    assert_eq!(
        seal::replay_to_vec(&f[..], &ids, 100).unwrap(),
        b"01ab45\0\0Z"
    );
    assert!(matches!(
        seal::replay_to_vec(&f[..], &ids, 8),
        Err(SealError::TooLarge { len: 10, max: 8 })
    ));
    // A second, unrelated recipient list: the identity does not open it.
    let (_, other) = seal::generate_identity();
    let (_, g) = seal::new_file_header(&seal::Recipients::parse(&[other]).unwrap()).unwrap();
    assert!(matches!(
        seal::replay_to_vec(&g[..], &ids, 100),
        Err(SealError::WrongIdentity)
    ));
    // Two recipients: either identity opens it.
    let (s1, p1) = seal::generate_identity();
    let (s2, p2) = seal::generate_identity();
    let (_, h) = seal::new_file_header(&seal::Recipients::parse(&[p1, p2]).unwrap()).unwrap();
    for s in [s1, s2] {
        let ids = seal::Identities::parse(&s).unwrap();
        assert_eq!(seal::replay_to_vec(&h[..], &ids, 100).unwrap(), b"");
    }
}

//! What a review host reads from a WORM bucket (`verbatim serve --store`, `verify`/`recover s3://…`): the keys
//! under a prefix sorted into recordings (`store::recordings_in`) and segment objects
//! (`store::Segment::decode`) — a bucket's keys and bytes are outside input (a tampered or foreign bucket).
//!
//! Checks: no panic; every recording found has a non-empty name, appears once, in name order, and counts no
//! more segments than keys were given; a segment that decodes encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Up to the first NUL: keys, one per line (with a size from their length); after it: a segment object.
    let (keys, object) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(keys);
    let lines: Vec<&str> = text.lines().collect();
    let found = store::recordings_in(lines.iter().map(|k| (*k, k.len() as u64)));
    for w in found.windows(2) {
        assert!(w[0].name < w[1].name, "recordings sorted and unique");
    }
    for r in &found {
        assert!(!r.name.is_empty());
        assert!(r.segments <= lines.len() as u64);
    }
    if let Ok(seg) = store::Segment::decode(object) {
        let parts: Vec<Vec<u8>> = seg.parts.iter().map(|(_, b)| b.clone()).collect();
        let again = store::Segment::encode(&seg.header, &seg.journal, &parts);
        let back = store::Segment::decode(&again).expect("an encoded segment decodes");
        assert_eq!(back.header, seg.header);
        assert_eq!(back.journal, seg.journal);
        assert_eq!(back.parts, seg.parts);
    }
});

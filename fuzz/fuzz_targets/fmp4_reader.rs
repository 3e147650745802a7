//! The fMP4 box reader (`muxer::fmp4::reader`) as `verbatim verify` and `recover` run it on a recording's
//! MP4 (any bytes: a tampered or torn file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use muxer::fmp4::reader;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = reader::boxes(data) {
        for b in &list {
            assert!(b.offset + b.size <= data.len() as u64 && b.header_len <= b.size);
        }
    }
    let _ = reader::find_box(data, &[*b"moov", *b"mvex", *b"mehd"]);
    let _ = reader::find_box(data, &[*b"moof", *b"traf", *b"tfdt"]);
    if let Ok(init) = reader::read_init(data) {
        assert!(init.len <= data.len() as u64);
    }
    let _ = reader::read_fragment(data);
    // Walk the file as recover does: box by box from the start.
    let mut at = 0usize;
    for _ in 0..10_000 {
        match reader::box_at(data, at) {
            Ok(b) if b.size > 0 => {
                let _ = reader::read_fragment(&data[at..]);
                at = match usize::try_from(b.offset + b.size) {
                    Ok(next) if next > at && next <= data.len() => next,
                    _ => break,
                };
            }
            _ => break,
        }
    }
});

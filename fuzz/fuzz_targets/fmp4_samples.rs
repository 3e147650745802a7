//! The fMP4 sample reader (`muxer::fmp4::samples`) as `verbatim merge` and `verify --leg` run it on a leg's
//! video files (any bytes: a torn, recovered or tampered file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use muxer::fmp4::samples::{length_prefixed_to_annexb, read_samples};

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = read_samples(data) {
        for s in &file.samples {
            assert!(s.range.start <= s.range.end && s.range.end <= data.len());
            let _ = length_prefixed_to_annexb(&data[s.range.clone()]);
        }
    }
    let _ = length_prefixed_to_annexb(data);
});

//! H.264 Annex-B parsing as the decoder does it before OpenH264 sees a buffer (`codecs::h264::nal`): the NAL
//! iterator, `inspect`, the SPS reader, and both sample-format conversions. Bytes come from the network (a
//! Teams H.264 `VideoMediaBuffer`) or from an input file.
#![no_main]

use codecs::h264::nal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut units = 0usize;
    for n in nal::nal_units(data) {
        assert!(!n.bytes().is_empty(), "empty NAL unit yielded");
        let _ = (n.nal_type(), n.ref_idc(), n.is_idr(), n.forbidden_bit());
        units += 1;
        if n.header() & 0x1F == 7 {
            if let Ok(sps) = nal::parse_sps(n.bytes()) {
                assert!((1..=8192).contains(&sps.width) && (1..=8192).contains(&sps.height));
                let _ = (sps.is_constrained_baseline(), sps.profile_name());
            }
        }
    }
    if let Ok(info) = nal::inspect(data) {
        assert_eq!(
            info.nal_count, units,
            "inspect and the iterator disagree on the unit count"
        );
        assert!(info.has_slice || !info.has_idr);
    }
    // The whole input as an SPS NAL unit too (reaches the Exp-Golomb reader with any bytes).
    if let Ok(sps) = nal::parse_sps(data) {
        assert!((1..=8192).contains(&sps.width) && (1..=8192).contains(&sps.height));
    }
    let mut out = Vec::new();
    if let Ok(n) = nal::annexb_to_length_prefixed(data, &mut out, true) {
        assert_eq!(n, units);
        let mut back = Vec::new();
        let m = nal::length_prefixed_to_annexb(&out, 4, &mut back)
            .expect("our own length-prefixed output must convert back");
        assert_eq!(m, n);
    }
    for size in [1usize, 2, 4] {
        out.clear();
        let _ = nal::length_prefixed_to_annexb(data, size, &mut out);
    }
});

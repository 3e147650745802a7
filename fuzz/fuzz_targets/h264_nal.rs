//! H.264 bitstream reading as every crate does it (`media_core::h264`; the decoder runs it before OpenH264 sees
//! a buffer): the NAL iterator, `inspect_access_unit`, the SPS and slice-header readers, and both sample-format
//! conversions. Bytes come from the network (a Teams H.264 `VideoMediaBuffer`) or from an input file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media_core::h264;

/// The largest picture side an SPS may announce, in pixels.
const MAX: u32 = 16 * h264::MAX_FRAME_SIDE_MBS;

fuzz_target!(|data: &[u8]| {
    let mut units = 0usize;
    // The latest SPS that parsed: the slices after it are read with it, as the recorder does.
    let mut active = None;
    for n in h264::nal_units(data) {
        assert!(!n.bytes().is_empty(), "empty NAL unit yielded");
        let _ = (n.nal_type(), n.ref_idc(), n.is_idr(), n.forbidden_bit());
        units += 1;
        if n.header() & 0x1F == 7 {
            if let Ok(sps) = h264::parse_sps(n.bytes()) {
                assert!((1..=MAX).contains(&sps.width) && (1..=MAX).contains(&sps.height));
                let _ = (sps.is_constrained_baseline(), sps.profile_name());
                active = Some(sps);
            }
        } else if let (true, Some(sps)) = (n.nal_type().is_slice(), &active) {
            if let Ok(h) = h264::parse_slice_header(n.bytes(), sps) {
                assert!(u64::from(h.frame_num) < 1u64 << sps.log2_max_frame_num);
            }
        }
    }
    if let Ok(info) = h264::inspect_access_unit(data) {
        assert_eq!(
            info.nal_count, units,
            "inspect and the iterator disagree on the unit count"
        );
        assert!(info.has_slice || !info.has_idr);
    }
    // The whole input as an SPS NAL unit too (reaches the Exp-Golomb reader with any bytes).
    if let Ok(sps) = h264::parse_sps(data) {
        assert!((1..=MAX).contains(&sps.width) && (1..=MAX).contains(&sps.height));
    }
    let mut out = Vec::new();
    if let Ok(n) = h264::annexb_to_length_prefixed(data, &mut out, true) {
        assert_eq!(n, units);
        let mut back = Vec::new();
        let m = h264::length_prefixed_to_annexb(&out, 4, &mut back)
            .expect("our own length-prefixed output must convert back");
        assert_eq!(m, n);
    }
    for size in [1usize, 2, 4] {
        out.clear();
        let _ = h264::length_prefixed_to_annexb(data, size, &mut out);
    }
});

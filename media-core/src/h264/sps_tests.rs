//! Tests of the SPS and slice-header parsers: real encoder output, hand-assembled syntax for the rarer
//! branches, and truncated or hostile bytes.

use super::*;
use proptest::prelude::*;

/// Writes H.264 syntax elements bit by bit, then makes a NAL unit of them.
#[derive(Default)]
struct Syntax(Vec<bool>);

impl Syntax {
    fn u(mut self, n: u32, v: u64) -> Self {
        for i in (0..n).rev() {
            self.0.push((v >> i) & 1 == 1);
        }
        self
    }
    fn flag(self, f: bool) -> Self {
        self.u(1, u64::from(f))
    }
    fn ue(self, v: u64) -> Self {
        let code = v + 1;
        let len = 64 - code.leading_zeros();
        self.u(len - 1, 0).u(len, code)
    }
    fn se(self, v: i64) -> Self {
        self.ue(if v > 0 {
            2 * v as u64 - 1
        } else {
            2 * v.unsigned_abs()
        })
    }
    /// The NAL unit: `header`, the bits, the stop bit and padding, with emulation prevention.
    fn nal(mut self, header: u8) -> Vec<u8> {
        self.0.push(true);
        while self.0.len() % 8 != 0 {
            self.0.push(false);
        }
        let mut out = vec![header];
        let mut zeros = 0;
        for byte in self.0.chunks(8) {
            let b = byte.iter().fold(0u8, |b, &bit| (b << 1) | u8::from(bit));
            if zeros >= 2 && b <= 3 {
                out.push(3);
                zeros = 0;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            out.push(b);
        }
        out
    }
}

/// A Baseline SPS up to the picture size: sps id 0, `log2_max_frame_num_minus4` given, poc type 2, 1 reference.
fn baseline(profile: u64, log2_frame_num_minus4: u64) -> Syntax {
    Syntax::default()
        .u(8, profile)
        .u(8, 0xC0)
        .u(8, 31)
        .ue(0)
        .ue(log2_frame_num_minus4)
        .ue(2)
        .ue(1)
        .flag(false)
}

/// The SPS of an x264 camera clip (Constrained Baseline, 1280x720: the first erin-sync.mp4 sample).
const X264_720P: [u8; 25] = [
    0x67, 0x42, 0xC0, 0x1F, 0xD9, 0x00, 0x50, 0x05, 0xBB, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
    0x00, 0x00, 0x03, 0x03, 0xC0, 0xF1, 0x83, 0x24, 0x80,
];

#[test]
fn reads_real_encoder_output() {
    let sps = parse_sps(&X264_720P).unwrap();
    assert_eq!(
        (sps.profile_idc, sps.constraint_flags, sps.level_idc),
        (66, 0xC0, 31)
    );
    assert_eq!((sps.width, sps.height), (1280, 720));
    assert_eq!((sps.coded_width, sps.coded_height), (1280, 720));
    assert!(sps.is_constrained_baseline() && sps.frame_mbs_only);
    assert_eq!((sps.chroma_format_idc, sps.bit_depth_luma()), (1, 8));
    assert_eq!(sps.log2_max_pic_order_cnt_lsb, None);
    // screenshare.mp4: 1920x1080 coded as 1088 lines with 8 cropped.
    let sps = parse_sps(&[
        0x67, 0x42, 0xC0, 0x28, 0xD9, 0x00, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00, 0x00, 0x03,
        0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x28, 0x3C, 0x60, 0xC9, 0x20,
    ])
    .unwrap();
    assert_eq!((sps.width, sps.height, sps.level_idc), (1920, 1080, 40));
    assert_eq!((sps.coded_width, sps.coded_height), (1920, 1088));
}

#[test]
fn reads_high_profile_interlaced_with_scaling_lists_and_poc_type_1() {
    let mut s = Syntax::default()
        .u(8, 122) // High 4:2:2
        .u(8, 0)
        .u(8, 41)
        .ue(3) // sps id
        .ue(2) // chroma 4:2:2
        .ue(2) // luma 10-bit
        .ue(1) // chroma 9-bit
        .flag(false)
        .flag(true); // scaling matrix present
    for i in 0..8 {
        s = s.flag(i % 3 == 0);
        if i % 3 == 0 {
            // A few deltas, then one that makes nextScale 0 (the rest of the list repeats).
            s = s.se(5).se(-3).se(-10);
        }
    }
    let nal = s
        .ue(12) // log2_max_frame_num 16
        .ue(1) // poc type 1
        .flag(true)
        .se(-2)
        .se(7)
        .ue(3)
        .se(1)
        .se(-1)
        .se(4)
        .ue(16) // max_num_ref_frames
        .flag(true) // gaps allowed
        .ue(119) // 1920 wide
        .ue(33) // 34 map units of field pairs: 1088 lines
        .flag(false) // fields
        .flag(true) // mbaff
        .flag(true)
        .flag(true) // cropping
        .ue(1)
        .ue(3) // 2 * (1 + 3) = 8 columns
        .ue(0)
        .ue(2) // 1 * 2 * 2 = 4 lines
        .flag(false)
        .nal(0x67);
    let sps = parse_sps(&nal).unwrap();
    assert_eq!(
        (sps.profile_idc, sps.level_idc, sps.seq_parameter_set_id),
        (122, 41, 3)
    );
    assert_eq!(sps.chroma_format_idc, 2);
    assert_eq!((sps.bit_depth_luma(), sps.bit_depth_chroma()), (10, 9));
    assert_eq!((sps.log2_max_frame_num, sps.pic_order_cnt_type), (16, 1));
    assert_eq!(
        (sps.max_num_ref_frames, sps.gaps_in_frame_num_allowed),
        (16, true)
    );
    assert!(!sps.frame_mbs_only);
    assert_eq!((sps.coded_width, sps.coded_height), (1920, 1088));
    assert_eq!((sps.width, sps.height), (1912, 1084));
    assert_eq!(sps.profile_name(), "High 4:2:2");
}

#[test]
fn separate_colour_planes_put_colour_plane_id_in_slice_headers() {
    let nal = Syntax::default()
        .u(8, 244)
        .u(8, 0)
        .u(8, 50)
        .ue(0)
        .ue(3) // 4:4:4
        .flag(true) // separate planes
        .ue(0)
        .ue(0)
        .flag(false)
        .flag(false)
        .ue(2) // log2_max_frame_num 6
        .ue(0) // poc type 0
        .ue(3) // log2_max_pic_order_cnt_lsb 7
        .ue(1)
        .flag(false)
        .ue(3)
        .ue(3)
        .flag(true)
        .flag(true)
        .flag(true)
        .ue(1)
        .ue(1)
        .ue(1)
        .ue(1) // crop unit 1x1
        .flag(false)
        .nal(0x67);
    let sps = parse_sps(&nal).unwrap();
    assert!(sps.separate_colour_plane);
    assert_eq!(sps.log2_max_pic_order_cnt_lsb, Some(7));
    assert_eq!((sps.width, sps.height), (62, 62));
    let slice = Syntax::default()
        .ue(9)
        .ue(2)
        .ue(200)
        .u(2, 2)
        .u(6, 45)
        .nal(0x65);
    assert_eq!(
        parse_slice_header(&slice, &sps),
        Ok(SliceHeader {
            first_mb_in_slice: 9,
            slice_type: 2,
            pic_parameter_set_id: 200,
            colour_plane_id: 2,
            frame_num: 45,
        })
    );
}

#[test]
fn every_truncation_is_an_error() {
    let full = baseline(66, 0)
        .ue(79)
        .ue(44)
        .flag(true)
        .flag(true)
        .flag(true)
        .ue(0)
        .ue(0)
        .ue(0)
        .ue(4)
        .flag(false)
        .nal(0x67);
    let sps = parse_sps(&full).unwrap();
    assert_eq!((sps.width, sps.height), (1280, 712));
    // The last bit read (of frame_crop_bottom_offset) is in the last byte: every cut fails.
    for cut in 0..full.len() {
        assert!(parse_sps(&full[..cut]).is_err(), "cut at {cut}");
    }
    // x264's SPS: everything up to the cropping flag is in its first 9 bytes (the VUI follows).
    for cut in 0..9 {
        assert!(parse_sps(&X264_720P[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(parse_sps(&X264_720P[..9]), parse_sps(&X264_720P));
    let slice = Syntax::default().ue(0).ue(5).ue(0).u(4, 3).nal(0x41);
    assert_eq!(parse_slice_header(&slice, &sps).map(|s| s.frame_num), Ok(3));
    for cut in 0..slice.len() - 1 {
        assert!(parse_slice_header(&slice[..cut], &sps).is_err());
    }
}

#[test]
fn hostile_sps_values_are_typed_errors() {
    let size = |w: u64, h: u64, frames: bool| {
        let s = baseline(66, 0).ue(w - 1).ue(h - 1).flag(frames);
        let s = if frames { s } else { s.flag(false) };
        s.flag(true).flag(false).flag(false).nal(0x67)
    };
    assert_eq!(
        parse_sps(&size(1 << 20, 2, true)),
        Err(H264Error::PictureTooLarge {
            width_mbs: 1 << 20,
            height_mbs: 2
        })
    );
    // Up to 1055 macroblocks per side.
    let sps = parse_sps(&size(1055, 1055, true)).unwrap();
    assert_eq!((sps.width, sps.height), (16_880, 16_880));
    assert!(matches!(
        parse_sps(&size(1056, 1, true)),
        Err(H264Error::PictureTooLarge { .. })
    ));
    // 600 map units of field pairs are 1,200 macroblock rows.
    assert!(matches!(
        parse_sps(&size(10, 600, false)),
        Err(H264Error::PictureTooLarge {
            height_mbs: 1200,
            ..
        })
    ));
    // Cropping that removes every column.
    let cropped = baseline(66, 0)
        .ue(0)
        .ue(0)
        .flag(true)
        .flag(true)
        .flag(true)
        .ue(4)
        .ue(4)
        .ue(0)
        .ue(0)
        .nal(0x67);
    assert!(matches!(
        parse_sps(&cropped),
        Err(H264Error::OutOfRange {
            field: "frame_crop (horizontal)",
            ..
        })
    ));
    // Out-of-range fields.
    let log2 = baseline(66, 13).ue(0).ue(0).nal(0x67);
    assert_eq!(
        parse_sps(&log2),
        Err(H264Error::OutOfRange {
            field: "log2_max_frame_num_minus4",
            value: 13
        })
    );
    let scaling = Syntax::default()
        .u(24, 0x64_00_1F)
        .ue(0)
        .ue(1)
        .ue(0)
        .ue(0)
        .flag(false)
        .flag(true)
        .flag(true)
        .se(200)
        .nal(0x67);
    assert_eq!(
        parse_sps(&scaling),
        Err(H264Error::OutOfRange {
            field: "delta_scale",
            value: 200
        })
    );
    // An all-zero payload is an over-long Exp-Golomb code; other units are not SPSs.
    assert_eq!(
        parse_sps(&[0x67, 66, 0, 31, 0, 0, 0, 0, 0, 0]),
        Err(H264Error::ExpGolombTooLong {
            field: "seq_parameter_set_id"
        })
    );
    assert_eq!(
        parse_sps(&[0x68, 1]),
        Err(H264Error::NotSps { nal_type: 8 })
    );
    assert_eq!(
        parse_sps(&[0xE7, 1]),
        Err(H264Error::ForbiddenBit { header: 0xE7 })
    );
    assert!(parse_sps(&[]).is_err());
    assert!(parse_slice_header(&[], &parse_sps(&X264_720P).unwrap()).is_err());
}

proptest! {
    /// Any bytes behind an SPS header: an error or a picture within the limits, never a panic.
    #[test]
    fn any_sps_bytes_parse_or_fail_cleanly(
        body in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xFFu8), any::<u8>()], 0..48),
        profile in prop_oneof![Just(66u8), Just(100u8), Just(244u8), any::<u8>()],
    ) {
        let mut nal = vec![0x67, profile];
        nal.extend_from_slice(&body);
        if let Ok(sps) = parse_sps(&nal) {
            prop_assert!(sps.width >= 1 && sps.width <= sps.coded_width);
            prop_assert!(sps.height >= 1 && sps.height <= sps.coded_height);
            prop_assert!(sps.coded_width <= 16 * MAX_FRAME_SIDE_MBS);
            prop_assert!(sps.coded_height <= 16 * MAX_FRAME_SIDE_MBS);
            prop_assert!((4..=16).contains(&sps.log2_max_frame_num));
            let mut slice = vec![0x41];
            slice.extend_from_slice(&body);
            if let Ok(h) = parse_slice_header(&slice, &sps) {
                prop_assert!(u64::from(h.frame_num) < 1u64 << sps.log2_max_frame_num);
            }
        }
    }
}

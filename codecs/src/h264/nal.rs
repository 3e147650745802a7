//! Annex-B NAL unit splitting and inspection, SPS parsing, and length-prefixed (AVCC) conversion.
//!
//! This module is pure Rust, allocation-free (except where it appends to a caller's `Vec`) and written for
//! bytes from outside: every read is bounds-checked, every count is capped, and an SPS announcing a picture
//! larger than [`MAX_PICTURE_DIMENSION`] per side is an error rather than an allocation. The muxer needs the
//! same facts (SPS/PPS for `avcC`, length-prefixed samples); it cannot depend on this crate, so this file is
//! kept small and self-contained.
//!
//! ```
//! use codecs::h264::nal::{inspect, NalType};
//! let frame = [0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80, 0, 0, 1, 0x65, 0x88];
//! let info = inspect(&frame).unwrap();
//! assert_eq!(info.nal_count, 3);
//! assert!(info.has_idr);
//! assert_eq!(info.sps, Some(&[0x67, 0x42, 0xC0, 0x1E][..]));
//! let types: Vec<NalType> = codecs::h264::nal::nal_units(&frame).map(|n| n.nal_type()).collect();
//! assert_eq!(types, [NalType::Sps, NalType::Pps, NalType::IdrSlice]);
//! ```

use crate::picture::MAX_PICTURE_DIMENSION;
use crate::CodecError;

/// The NAL unit types a recorder meets (Teams sends only SPS, PPS, IDR and non-IDR slices).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NalType {
    /// 1: coded slice of a non-IDR picture.
    NonIdrSlice,
    /// 5: coded slice of an IDR picture (a keyframe).
    IdrSlice,
    /// 6: supplemental enhancement information.
    Sei,
    /// 7: sequence parameter set.
    Sps,
    /// 8: picture parameter set.
    Pps,
    /// 9: access unit delimiter.
    Aud,
    /// Any other type (the raw 5-bit value).
    Other(u8),
}

impl NalType {
    /// From the 5-bit `nal_unit_type`.
    pub fn from_u8(t: u8) -> NalType {
        match t & 0x1F {
            1 => NalType::NonIdrSlice,
            5 => NalType::IdrSlice,
            6 => NalType::Sei,
            7 => NalType::Sps,
            8 => NalType::Pps,
            9 => NalType::Aud,
            o => NalType::Other(o),
        }
    }
    /// The 5-bit `nal_unit_type`.
    pub fn as_u8(self) -> u8 {
        match self {
            NalType::NonIdrSlice => 1,
            NalType::IdrSlice => 5,
            NalType::Sei => 6,
            NalType::Sps => 7,
            NalType::Pps => 8,
            NalType::Aud => 9,
            NalType::Other(o) => o & 0x1F,
        }
    }
}

/// One NAL unit: its header byte followed by its payload (emulation-prevention bytes still in place), without
/// the start code and without trailing zero bytes. Never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NalUnit<'a>(&'a [u8]);

impl<'a> NalUnit<'a> {
    /// The NAL unit's bytes (header byte first).
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    /// The header byte.
    pub fn header(&self) -> u8 {
        self.0[0]
    }
    /// The NAL unit type.
    pub fn nal_type(&self) -> NalType {
        NalType::from_u8(self.header())
    }
    /// `nal_ref_idc` (0 = not used for reference).
    pub fn ref_idc(&self) -> u8 {
        (self.header() >> 5) & 0x3
    }
    /// True when `forbidden_zero_bit` is set: the unit is corrupt.
    pub fn forbidden_bit(&self) -> bool {
        self.header() & 0x80 != 0
    }
    /// True for a slice of an IDR picture.
    pub fn is_idr(&self) -> bool {
        self.nal_type() == NalType::IdrSlice
    }
}

/// Position of the next `00 00 01` at or after `from`: returns the index of its first zero.
fn find_start_code(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 3 <= buf.len() {
        // Skip quickly to the next 0x01 candidate.
        match buf[i + 2] {
            1 if buf[i] == 0 && buf[i + 1] == 0 => return Some(i),
            0 => i += 1,
            1 => i += 1,
            _ => i += 3,
        }
    }
    None
}

/// Iterator over the NAL units of an Annex-B buffer (3- or 4-byte start codes). Bytes before the first start
/// code and empty units are skipped; use [`inspect`] to reject such buffers.
#[derive(Clone, Debug)]
pub struct NalUnits<'a> {
    buf: &'a [u8],
    /// Start of the next unit's payload (just after a start code), or `None` when finished.
    next: Option<usize>,
}

/// Splits an Annex-B buffer into NAL units.
pub fn nal_units(buf: &[u8]) -> NalUnits<'_> {
    NalUnits {
        buf,
        next: find_start_code(buf, 0).map(|p| p + 3),
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = NalUnit<'a>;
    fn next(&mut self) -> Option<NalUnit<'a>> {
        loop {
            let start = self.next?;
            let end = match find_start_code(self.buf, start) {
                Some(sc) => {
                    self.next = Some(sc + 3);
                    sc
                }
                None => {
                    self.next = None;
                    self.buf.len()
                }
            };
            let mut unit = &self.buf[start..end];
            while let [rest @ .., 0] = unit {
                unit = rest;
            }
            if !unit.is_empty() {
                return Some(NalUnit(unit));
            }
        }
    }
}

/// What one Annex-B access unit (one whole frame, as Teams sends it) holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessUnitInfo<'a> {
    /// Number of NAL units.
    pub nal_count: usize,
    /// At least one IDR slice: the frame is a keyframe.
    pub has_idr: bool,
    /// At least one coded slice (IDR or not).
    pub has_slice: bool,
    /// The first SPS NAL unit (header byte included), if any.
    pub sps: Option<&'a [u8]>,
    /// The first PPS NAL unit (header byte included), if any.
    pub pps: Option<&'a [u8]>,
}

/// Checks and summarises an Annex-B buffer: at least one NAL unit, only zero bytes before the first start
/// code, no unit with the forbidden bit set or of type 0.
pub fn inspect(buf: &[u8]) -> Result<AccessUnitInfo<'_>, CodecError> {
    let first = find_start_code(buf, 0).ok_or(CodecError::MalformedNal("no Annex-B start code"))?;
    if buf[..first].iter().any(|&b| b != 0) {
        return Err(CodecError::MalformedNal("data before the first start code"));
    }
    let mut info = AccessUnitInfo::default();
    for nal in nal_units(buf) {
        if nal.forbidden_bit() {
            return Err(CodecError::MalformedNal("forbidden_zero_bit set"));
        }
        info.nal_count += 1;
        match nal.nal_type() {
            NalType::Other(0) => return Err(CodecError::MalformedNal("NAL unit type 0")),
            NalType::IdrSlice => {
                info.has_idr = true;
                info.has_slice = true;
            }
            NalType::NonIdrSlice => info.has_slice = true,
            NalType::Sps => {
                info.sps.get_or_insert(nal.bytes());
            }
            NalType::Pps => {
                info.pps.get_or_insert(nal.bytes());
            }
            _ => {}
        }
    }
    if info.nal_count == 0 {
        return Err(CodecError::MalformedNal("no NAL unit after the start code"));
    }
    Ok(info)
}

/// Appends the NAL units of an Annex-B buffer to `out` with 4-byte big-endian length prefixes (the MP4 `avc1`
/// sample format). With `include_parameter_sets == false`, SPS, PPS and AUD units are left out (they belong
/// in `avcC`). Returns the number of units written.
pub fn annexb_to_length_prefixed(
    buf: &[u8],
    out: &mut Vec<u8>,
    include_parameter_sets: bool,
) -> Result<usize, CodecError> {
    let mut n = 0;
    for nal in nal_units(buf) {
        if !include_parameter_sets
            && matches!(nal.nal_type(), NalType::Sps | NalType::Pps | NalType::Aud)
        {
            continue;
        }
        let len = u32::try_from(nal.bytes().len())
            .map_err(|_| CodecError::MalformedNal("NAL unit longer than 4 GiB"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal.bytes());
        n += 1;
    }
    Ok(n)
}

/// Appends a length-prefixed sample (`length_size` of 1, 2 or 4 bytes per prefix, as `avcC` says) to `out` as
/// Annex-B with 4-byte start codes. A length running past the end of the sample is an error.
pub fn length_prefixed_to_annexb(
    sample: &[u8],
    length_size: usize,
    out: &mut Vec<u8>,
) -> Result<usize, CodecError> {
    if !matches!(length_size, 1 | 2 | 4) {
        return Err(CodecError::MalformedNal(
            "length prefix size must be 1, 2 or 4",
        ));
    }
    let mut rest = sample;
    let mut n = 0;
    while !rest.is_empty() {
        if rest.len() < length_size {
            return Err(CodecError::MalformedNal("truncated length prefix"));
        }
        let len = rest[..length_size]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[length_size..];
        if len == 0 || len > rest.len() {
            return Err(CodecError::MalformedNal("NAL length runs past the sample"));
        }
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&rest[..len]);
        rest = &rest[len..];
        n += 1;
    }
    Ok(n)
}

/// Bit reader over a NAL payload that drops emulation-prevention bytes (`00 00 03`) on the fly.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    zeros: u8,
    cur: u8,
    bits_left: u8,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            zeros: 0,
            cur: 0,
            bits_left: 0,
        }
    }
    fn bit(&mut self) -> Result<u32, CodecError> {
        if self.bits_left == 0 {
            let mut b = *self
                .data
                .get(self.pos)
                .ok_or(CodecError::InvalidSps("truncated"))?;
            self.pos += 1;
            if self.zeros >= 2 && b == 3 {
                b = *self
                    .data
                    .get(self.pos)
                    .ok_or(CodecError::InvalidSps("truncated"))?;
                self.pos += 1;
                self.zeros = 0;
            }
            self.zeros = if b == 0 {
                self.zeros.saturating_add(1)
            } else {
                0
            };
            self.cur = b;
            self.bits_left = 8;
        }
        self.bits_left -= 1;
        Ok(u32::from((self.cur >> self.bits_left) & 1))
    }
    fn bits(&mut self, n: u32) -> Result<u32, CodecError> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Ok(v)
    }
    fn flag(&mut self) -> Result<bool, CodecError> {
        Ok(self.bit()? == 1)
    }
    /// Unsigned Exp-Golomb, at most 32 bits of value.
    fn ue(&mut self) -> Result<u32, CodecError> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(CodecError::InvalidSps("Exp-Golomb code too long"));
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }
    /// `ue` with an upper bound (inclusive).
    fn ue_max(&mut self, max: u32, what: &'static str) -> Result<u32, CodecError> {
        let v = self.ue()?;
        if v > max {
            return Err(CodecError::InvalidSps(what));
        }
        Ok(v)
    }
    /// Signed Exp-Golomb.
    fn se(&mut self) -> Result<i64, CodecError> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// The facts of a sequence parameter set that a recorder and a muxer need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sps {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High...).
    pub profile_idc: u8,
    /// The constraint flags byte (`constraint_set0_flag` is the top bit).
    pub constraint_flags: u8,
    /// `level_idc` (e.g. 31 for level 3.1).
    pub level_idc: u8,
    /// `seq_parameter_set_id`.
    pub id: u32,
    /// `chroma_format_idc` (1 = 4:2:0).
    pub chroma_format_idc: u32,
    /// Luma bit depth.
    pub bit_depth_luma: u32,
    /// True when only frames (no fields) are coded.
    pub frame_mbs_only: bool,
    /// Displayed width in pixels (after cropping).
    pub width: u32,
    /// Displayed height in pixels (after cropping).
    pub height: u32,
}

impl Sps {
    /// True for Constrained Baseline: `profile_idc` 66 with `constraint_set1_flag`.
    pub fn is_constrained_baseline(&self) -> bool {
        self.profile_idc == 66 && self.constraint_flags & 0x40 != 0
    }
    /// The profile's name as ffprobe prints it (for the common profiles).
    pub fn profile_name(&self) -> &'static str {
        match self.profile_idc {
            66 if self.constraint_flags & 0x40 != 0 => "Constrained Baseline",
            66 => "Baseline",
            77 => "Main",
            88 => "Extended",
            100 => "High",
            110 => "High 10",
            122 => "High 4:2:2",
            244 => "High 4:4:4 Predictive",
            _ => "other",
        }
    }
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(CodecError::InvalidSps("delta_scale out of range"));
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Parses an SPS NAL unit (header byte included, as [`AccessUnitInfo::sps`] gives it).
pub fn parse_sps(nal: &[u8]) -> Result<Sps, CodecError> {
    let (&header, payload) = nal.split_first().ok_or(CodecError::InvalidSps("empty"))?;
    if header & 0x80 != 0 || header & 0x1F != 7 {
        return Err(CodecError::InvalidSps("not an SPS NAL unit"));
    }
    let mut r = BitReader::new(payload);
    let profile_idc = r.bits(8)? as u8;
    let constraint_flags = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    let id = r.ue_max(31, "seq_parameter_set_id > 31")?;
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma = 8;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue_max(3, "chroma_format_idc > 3")?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.flag()?;
        }
        bit_depth_luma = r.ue_max(6, "bit_depth_luma_minus8 > 6")? + 8;
        r.ue_max(6, "bit_depth_chroma_minus8 > 6")?;
        r.flag()?; // qpprime_y_zero_transform_bypass_flag
        if r.flag()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.flag()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue_max(12, "log2_max_frame_num_minus4 > 12")?;
    match r.ue_max(2, "pic_order_cnt_type > 2")? {
        0 => {
            r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4 > 12")?;
        }
        1 => {
            r.flag()?;
            r.se()?;
            r.se()?;
            let n = r.ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle > 255")?;
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue_max(16, "max_num_ref_frames > 16")?;
    r.flag()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.flag()?;
    let max = MAX_PICTURE_DIMENSION;
    let coded_w = width_mbs * 16;
    let coded_h = height_map_units * 16 * if frame_mbs_only { 1 } else { 2 };
    if coded_w > u64::from(max) + 16 || coded_h > u64::from(max) + 32 {
        return Err(CodecError::AbsurdDimensions {
            width: coded_w,
            height: coded_h,
            max,
        });
    }
    if !frame_mbs_only {
        r.flag()?; // mb_adaptive_frame_field_flag
    }
    r.flag()?; // direct_8x8_inference_flag
    let (mut crop_w, mut crop_h) = (0u64, 0u64);
    if r.flag()? {
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (sub_w, sub_h) = match chroma_array_type {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let unit_x = if chroma_array_type == 0 { 1 } else { sub_w };
        let unit_y =
            (if chroma_array_type == 0 { 1 } else { sub_h }) * if frame_mbs_only { 1 } else { 2 };
        let (l, rt, t, b) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        crop_w = unit_x * (u64::from(l) + u64::from(rt));
        crop_h = unit_y * (u64::from(t) + u64::from(b));
    }
    if crop_w >= coded_w || crop_h >= coded_h {
        return Err(CodecError::InvalidSps("cropping removes the whole picture"));
    }
    let (width, height) = (coded_w - crop_w, coded_h - crop_h);
    if width > u64::from(max) || height > u64::from(max) {
        return Err(CodecError::AbsurdDimensions { width, height, max });
    }
    Ok(Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        id,
        chroma_format_idc,
        bit_depth_luma,
        frame_mbs_only,
        width: width as u32,
        height: height as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Constrained Baseline 1280x720 SPS (profile 66, constraint_set1, level 3.1), hand-assembled.
    fn sps_720p() -> Vec<u8> {
        // Bits after the 3 fixed bytes: sps_id ue(0)=1, log2_max_frame_num_minus4 ue(0)=1,
        // poc_type ue(2)=011, max_num_ref_frames ue(1)=010, gaps=0,
        // width_mbs_minus1 ue(79)=0000001010000, height_map_units_minus1 ue(44)=00000101101,
        // frame_mbs_only=1, direct_8x8=1, cropping=0, vui=0, stop bit 1.
        let bits = "1 1 011 010 0 0000001010000 00000101101 1 1 0 0 1";
        let bits: String = bits.split_whitespace().collect();
        let mut out = vec![0x67, 66, 0xC0, 31];
        let mut cur = 0u8;
        let mut n = 0;
        for c in bits.chars() {
            cur = (cur << 1) | u8::from(c == '1');
            n += 1;
            if n == 8 {
                out.push(cur);
                cur = 0;
                n = 0;
            }
        }
        if n > 0 {
            out.push(cur << (8 - n));
        }
        out
    }

    #[test]
    fn parses_hand_made_sps() {
        let sps = parse_sps(&sps_720p()).unwrap();
        assert_eq!((sps.width, sps.height), (1280, 720));
        assert!(sps.is_constrained_baseline());
        assert_eq!(sps.profile_name(), "Constrained Baseline");
        assert_eq!(sps.level_idc, 31);
    }

    #[test]
    fn absurd_and_truncated_sps_are_errors() {
        let good = sps_720p();
        for cut in 0..good.len() {
            assert!(parse_sps(&good[..cut]).is_err(), "cut at {cut}");
        }
        // width_mbs_minus1 = 2^20: far beyond the limit.
        let bits: String = "1 1 011 010 0 000000000000000000001000000000000000000000 1 1 1 0 0 1"
            .split_whitespace()
            .collect();
        let mut nal = vec![0x67, 66, 0xC0, 31];
        for chunk in bits.as_bytes().chunks(8) {
            let mut b = 0u8;
            for (i, &c) in chunk.iter().enumerate() {
                b |= u8::from(c == b'1') << (7 - i);
            }
            nal.push(b);
        }
        assert!(matches!(
            parse_sps(&nal),
            Err(CodecError::AbsurdDimensions { .. })
        ));
        // An all-zero payload is an over-long Exp-Golomb code.
        assert!(parse_sps(&[0x67, 66, 0, 31, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let buf = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 0, 0, 3, 1, 0, 0,
        ];
        let units: Vec<&[u8]> = nal_units(&buf).map(|n| n.bytes()).collect();
        assert_eq!(
            units,
            [&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 0, 0, 3, 1][..]]
        );
        let info = inspect(&buf).unwrap();
        assert!(info.has_idr && info.sps.is_some() && info.pps.is_some());
        assert!(inspect(&[1, 2, 3]).is_err());
        assert!(inspect(&[5, 0, 0, 1, 0x65]).is_err());
        assert!(inspect(&[0, 0, 1, 0xE5]).is_err());
        assert!(inspect(&[0, 0, 1, 0, 0, 1]).is_err());
    }

    #[test]
    fn length_prefixed_round_trip() {
        let buf = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 9, 9,
        ];
        let mut avcc = Vec::new();
        assert_eq!(annexb_to_length_prefixed(&buf, &mut avcc, true).unwrap(), 3);
        let mut back = Vec::new();
        assert_eq!(length_prefixed_to_annexb(&avcc, 4, &mut back).unwrap(), 3);
        let a: Vec<_> = nal_units(&buf).collect();
        let b: Vec<_> = nal_units(&back).collect();
        assert_eq!(a, b);
        let mut slices_only = Vec::new();
        annexb_to_length_prefixed(&buf, &mut slices_only, false).unwrap();
        assert_eq!(slices_only, [0, 0, 0, 3, 0x65, 9, 9]);
        assert!(length_prefixed_to_annexb(&[0, 0, 0, 9, 1], 4, &mut back).is_err());
        assert!(length_prefixed_to_annexb(&[0, 0], 4, &mut back).is_err());
    }
}

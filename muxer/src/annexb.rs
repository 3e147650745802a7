//! A small H.264 Annex-B reader: splits a whole-frame buffer into NAL units and reads the few SPS fields an
//! `avcC` box and a `tkhd` need (profile, constraints, level, picture size).
//!
//! The muxer cannot depend on the `codecs` crate, so this is its own minimal reader. It never panics: every read
//! past the end or every absurd value is an [`AnnexBError`].

use std::ops::Range;

/// Why an Annex-B buffer or an SPS could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnexBError {
    /// The buffer holds no start code, or no NAL unit after it.
    #[error("no NAL unit found in a {len}-byte buffer")]
    NoNalUnits {
        /// Buffer length.
        len: usize,
    },
    /// The SPS ended before a field the reader needs.
    #[error("SPS truncated while reading {field}")]
    SpsTruncated {
        /// The field being read.
        field: &'static str,
    },
    /// An SPS field has a value outside what H.264 allows.
    #[error("SPS field {field} out of range ({value})")]
    SpsOutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// The NAL unit given as an SPS is not of type 7.
    #[error("NAL unit of type {nal_type} is not an SPS")]
    NotSps {
        /// The NAL unit type found.
        nal_type: u8,
    },
}

/// H.264 NAL unit types the recorder cares about.
pub mod nal_type {
    /// Coded slice of a non-IDR picture.
    pub const NON_IDR: u8 = 1;
    /// Coded slice of an IDR picture (a keyframe).
    pub const IDR: u8 = 5;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
}

/// The type (low 5 bits of the first byte) of a NAL unit; 0 for an empty slice.
pub fn nal_unit_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1F)
}

/// Splits an Annex-B buffer (3- or 4-byte start codes) into NAL unit byte ranges, without the start codes,
/// appending them to `out` (cleared first; reuse it across frames to avoid allocating).
///
/// Trailing zero bytes before a start code (the 4th byte of a 4-byte start code, or `trailing_zero_8bits`) are
/// not part of the preceding NAL unit. Empty NAL units are skipped. Bytes before the first start code are
/// ignored.
///
/// # Errors
/// [`AnnexBError::NoNalUnits`] when no NAL unit is found.
///
/// # Examples
/// ```
/// let buf = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3];
/// let mut nals = Vec::new();
/// muxer::annexb::split_nal_units(&buf, &mut nals).unwrap();
/// assert_eq!(nals, vec![4..7, 10..12]);
/// ```
pub fn split_nal_units(buf: &[u8], out: &mut Vec<Range<usize>>) -> Result<(), AnnexBError> {
    out.clear();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i + 3 <= buf.len() {
        if buf[i] == 0 && buf[i + 1] == 0 && buf[i + 2] == 1 {
            if let Some(s) = start {
                push_nal(buf, s, i, out);
            }
            i += 3;
            start = Some(i);
        } else if buf[i + 2] > 1 {
            i += 3;
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        push_nal(buf, s, buf.len(), out);
    }
    if out.is_empty() {
        return Err(AnnexBError::NoNalUnits { len: buf.len() });
    }
    Ok(())
}

fn push_nal(buf: &[u8], start: usize, mut end: usize, out: &mut Vec<Range<usize>>) {
    while end > start && buf[end - 1] == 0 {
        end -= 1;
    }
    if end > start {
        out.push(start..end);
    }
}

/// The SPS fields the muxer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc` (66 baseline, 77 main, 100 high, ...).
    pub profile_idc: u8,
    /// The constraint flags byte (`profile_compatibility` in `avcC`).
    pub constraint_flags: u8,
    /// `level_idc`.
    pub level_idc: u8,
    /// `chroma_format_idc` (1 = 4:2:0 unless the profile says otherwise).
    pub chroma_format_idc: u8,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u8,
    /// Displayed width in pixels (after cropping).
    pub width: u32,
    /// Displayed height in pixels (after cropping).
    pub height: u32,
}

struct BitReader<'a> {
    rbsp: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self, field: &'static str) -> Result<u32, AnnexBError> {
        let byte = *self
            .rbsp
            .get(self.pos / 8)
            .ok_or(AnnexBError::SpsTruncated { field })?;
        let b = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(u32::from(b))
    }
    fn bits(&mut self, n: u32, field: &'static str) -> Result<u32, AnnexBError> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit(field)?;
        }
        Ok(v)
    }
    fn ue(&mut self, field: &'static str) -> Result<u64, AnnexBError> {
        let mut zeros = 0u32;
        while self.bit(field)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(AnnexBError::SpsOutOfRange {
                    field,
                    value: u64::from(zeros),
                });
            }
        }
        let rest = u64::from(self.bits(zeros, field)?);
        Ok((1u64 << zeros) - 1 + rest)
    }
    fn se(&mut self, field: &'static str) -> Result<i64, AnnexBError> {
        let k = self.ue(field)? as i64;
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
    fn ue_max(&mut self, field: &'static str, max: u64) -> Result<u64, AnnexBError> {
        let v = self.ue(field)?;
        if v > max {
            return Err(AnnexBError::SpsOutOfRange { field, value: v });
        }
        Ok(v)
    }
}

/// Removes emulation-prevention bytes (`00 00 03` -> `00 00`) into `out`.
fn unescape(nal: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
}

/// Reads an SPS NAL unit (with its 1-byte NAL header, without start code).
///
/// # Errors
/// [`AnnexBError::NotSps`] for another NAL type; [`AnnexBError::SpsTruncated`] / [`AnnexBError::SpsOutOfRange`]
/// for a malformed SPS.
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, AnnexBError> {
    let t = nal_unit_type(nal);
    if t != nal_type::SPS {
        return Err(AnnexBError::NotSps { nal_type: t });
    }
    let mut rbsp = Vec::with_capacity(nal.len());
    unescape(&nal[1..], &mut rbsp);
    let mut r = BitReader {
        rbsp: &rbsp,
        pos: 0,
    };
    let profile_idc = r.bits(8, "profile_idc")? as u8;
    let constraint_flags = r.bits(8, "constraint_flags")? as u8;
    let level_idc = r.bits(8, "level_idc")? as u8;
    r.ue_max("seq_parameter_set_id", 31)?;
    let mut chroma_format_idc = 1u64;
    let mut separate_colour_plane = 0;
    let mut bit_depth_luma_minus8 = 0;
    let mut bit_depth_chroma_minus8 = 0;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue_max("chroma_format_idc", 3)?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit("separate_colour_plane_flag")?;
        }
        bit_depth_luma_minus8 = r.ue_max("bit_depth_luma_minus8", 6)?;
        bit_depth_chroma_minus8 = r.ue_max("bit_depth_chroma_minus8", 6)?;
        r.bit("qpprime_y_zero_transform_bypass_flag")?;
        if r.bit("seq_scaling_matrix_present_flag")? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit("seq_scaling_list_present_flag")? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            let delta = r.se("delta_scale")?;
                            next = (last + delta).rem_euclid(256);
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue_max("log2_max_frame_num_minus4", 12)?;
    let poc_type = r.ue_max("pic_order_cnt_type", 2)?;
    if poc_type == 0 {
        r.ue_max("log2_max_pic_order_cnt_lsb_minus4", 12)?;
    } else if poc_type == 1 {
        r.bit("delta_pic_order_always_zero_flag")?;
        r.se("offset_for_non_ref_pic")?;
        r.se("offset_for_top_to_bottom_field")?;
        let n = r.ue_max("num_ref_frames_in_pic_order_cnt_cycle", 255)?;
        for _ in 0..n {
            r.se("offset_for_ref_frame")?;
        }
    }
    r.ue_max("max_num_ref_frames", 32)?;
    r.bit("gaps_in_frame_num_value_allowed_flag")?;
    let w_mbs = r.ue_max("pic_width_in_mbs_minus1", 4095)? + 1;
    let h_units = r.ue_max("pic_height_in_map_units_minus1", 4095)? + 1;
    let frame_mbs_only = u64::from(r.bit("frame_mbs_only_flag")?);
    if frame_mbs_only == 0 {
        r.bit("mb_adaptive_frame_field_flag")?;
    }
    r.bit("direct_8x8_inference_flag")?;
    let (mut cl, mut cr, mut ct, mut cb) = (0, 0, 0, 0);
    if r.bit("frame_cropping_flag")? == 1 {
        cl = r.ue_max("frame_crop_left_offset", 65535)?;
        cr = r.ue_max("frame_crop_right_offset", 65535)?;
        ct = r.ue_max("frame_crop_top_offset", 65535)?;
        cb = r.ue_max("frame_crop_bottom_offset", 65535)?;
    }
    let chroma_array_type = if separate_colour_plane == 1 {
        0
    } else {
        chroma_format_idc
    };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (crop_x, crop_y) = if chroma_array_type == 0 {
        (1, 2 - frame_mbs_only)
    } else {
        (sub_w, sub_h * (2 - frame_mbs_only))
    };
    let full_w = w_mbs * 16;
    let full_h = (2 - frame_mbs_only) * h_units * 16;
    let width = full_w
        .checked_sub(crop_x * (cl + cr))
        .filter(|w| *w > 0)
        .ok_or(AnnexBError::SpsOutOfRange {
            field: "frame_crop (horizontal)",
            value: cl + cr,
        })?;
    let height = full_h
        .checked_sub(crop_y * (ct + cb))
        .filter(|h| *h > 0)
        .ok_or(AnnexBError::SpsOutOfRange {
            field: "frame_crop (vertical)",
            value: ct + cb,
        })?;
    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma_minus8: bit_depth_luma_minus8 as u8,
        bit_depth_chroma_minus8: bit_depth_chroma_minus8 as u8,
        width: width as u32,
        height: height as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let buf = [9, 0, 0, 1, 0x65, 0, 0, 0, 0, 1, 0x41, 7, 0, 0, 1];
        let mut v = Vec::new();
        split_nal_units(&buf, &mut v).unwrap();
        assert_eq!(v, vec![4..5, 10..12]);
        assert!(split_nal_units(&[1, 2, 3], &mut v).is_err());
    }

    #[test]
    fn reads_a_baseline_720p_sps() {
        // The SPS of an x264 camera clip (constrained baseline, 1280x720: the first erin-sync.mp4 sample).
        let sps = [
            0x67, 0x42, 0xC0, 0x1F, 0xD9, 0x00, 0x50, 0x05, 0xBB, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xC0, 0xF1, 0x83, 0x24, 0x80,
        ];
        let info = parse_sps(&sps).unwrap();
        assert_eq!((info.profile_idc, info.level_idc), (66, 31));
        assert_eq!((info.width, info.height), (1280, 720));
        // screenshare.mp4: 1920x1080 coded as 1088 lines with 8 cropped.
        let sps = [
            0x67, 0x42, 0xC0, 0x28, 0xD9, 0x00, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00, 0x00,
            0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x28, 0x3C, 0x60, 0xC9, 0x20,
        ];
        let info = parse_sps(&sps).unwrap();
        assert_eq!((info.width, info.height, info.level_idc), (1920, 1080, 40));
    }
}

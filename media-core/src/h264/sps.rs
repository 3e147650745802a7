//! The sequence parameter set (H.264 7.3.2.1.1) and the start of a slice header (7.3.3).

use super::bits::BitReader;
use super::nal::NalType;
use super::H264Error;

/// The most macroblocks a frame may have per side at any H.264 level: `sqrt(8 * MaxFS)` of level 6.2, rounded
/// down (16,880 pixels). [`parse_sps`] refuses wider or taller pictures.
///
/// ```
/// assert_eq!(media_core::h264::MAX_FRAME_SIDE_MBS * 16, 16_880);
/// ```
pub const MAX_FRAME_SIDE_MBS: u32 = 1_055;

/// The facts of a sequence parameter set that Verbatim uses: profile and level for `avcC`, picture size for
/// `tkhd` and the decoder's checks, `frame_num` and picture-order syntax for following a stream.
///
/// Made by [`parse_sps`]; the field names follow the H.264 syntax elements.
///
/// ```
/// use media_core::h264::parse_sps;
/// let sps = parse_sps(&[0x67, 0x42, 0xC0, 0x1F, 0xD9, 0x00, 0x50, 0x05, 0xBB, 0x01, 0x10, 0x00, 0x00, 0x03,
///                       0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xC0, 0xF1, 0x83, 0x24, 0x80])?;
/// assert_eq!((sps.profile_idc, sps.level_idc, sps.width, sps.height), (66, 31, 1280, 720));
/// assert_eq!((sps.log2_max_frame_num, sps.pic_order_cnt_type, sps.max_num_ref_frames), (4, 2, 3));
/// # Ok::<(), media_core::h264::H264Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sps {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High …).
    pub profile_idc: u8,
    /// The byte of `constraint_set0_flag` (top bit) to `constraint_set5_flag` and the two reserved bits; `avcC`
    /// calls it `profile_compatibility`.
    pub constraint_flags: u8,
    /// `level_idc` (31 for level 3.1).
    pub level_idc: u8,
    /// `seq_parameter_set_id` (0 to 31).
    pub seq_parameter_set_id: u8,
    /// `chroma_format_idc` (0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4); 1 when the profile does not code it.
    pub chroma_format_idc: u8,
    /// `separate_colour_plane_flag` (4:4:4 coded as three monochrome planes).
    pub separate_colour_plane: bool,
    /// `bit_depth_luma_minus8` (0 to 6).
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8` (0 to 6).
    pub bit_depth_chroma_minus8: u8,
    /// `log2_max_frame_num_minus4 + 4`: `frame_num` in slice headers has this many bits (4 to 16).
    pub log2_max_frame_num: u8,
    /// `pic_order_cnt_type` (0 to 2).
    pub pic_order_cnt_type: u8,
    /// `log2_max_pic_order_cnt_lsb_minus4 + 4` (4 to 16) when `pic_order_cnt_type` is 0.
    pub log2_max_pic_order_cnt_lsb: Option<u8>,
    /// `max_num_ref_frames` (0 to 16).
    pub max_num_ref_frames: u8,
    /// `gaps_in_frame_num_value_allowed_flag`.
    pub gaps_in_frame_num_allowed: bool,
    /// `frame_mbs_only_flag`: only frames (no fields) are coded.
    pub frame_mbs_only: bool,
    /// Width of the coded picture in pixels (whole macroblocks, before cropping).
    pub coded_width: u32,
    /// Height of the coded frame in pixels (whole macroblocks, before cropping).
    pub coded_height: u32,
    /// Displayed width in pixels (after cropping).
    pub width: u32,
    /// Displayed height in pixels (after cropping).
    pub height: u32,
}

impl Sps {
    /// Luma bit depth (8 to 14).
    ///
    /// ```
    /// # let sps = media_core::h264::parse_sps(&[0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x0A, 0x36, 0x40])?;
    /// assert_eq!((sps.bit_depth_luma(), sps.bit_depth_chroma()), (8, 8));
    /// # Ok::<(), media_core::h264::H264Error>(())
    /// ```
    pub fn bit_depth_luma(&self) -> u8 {
        self.bit_depth_luma_minus8.saturating_add(8)
    }

    /// Chroma bit depth (8 to 14).
    ///
    /// ```
    /// # let sps = media_core::h264::parse_sps(&[0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x0A, 0x36, 0x40])?;
    /// assert_eq!(sps.bit_depth_chroma(), 8);
    /// # Ok::<(), media_core::h264::H264Error>(())
    /// ```
    pub fn bit_depth_chroma(&self) -> u8 {
        self.bit_depth_chroma_minus8.saturating_add(8)
    }

    /// True for Constrained Baseline: `profile_idc` 66 with `constraint_set1_flag`.
    ///
    /// ```
    /// // 160x96 Constrained Baseline, level 3.0.
    /// let sps = media_core::h264::parse_sps(&[0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x0A, 0x36, 0x40])?;
    /// assert!(sps.is_constrained_baseline());
    /// assert_eq!((sps.width, sps.height), (160, 96));
    /// # Ok::<(), media_core::h264::H264Error>(())
    /// ```
    pub fn is_constrained_baseline(&self) -> bool {
        self.profile_idc == 66 && self.constraint_flags & 0x40 != 0
    }

    /// The profile's name as `ffprobe` prints it, for the common profiles; `"other"` for the rest.
    ///
    /// ```
    /// # let sps = media_core::h264::parse_sps(&[0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x0A, 0x36, 0x40])?;
    /// assert_eq!(sps.profile_name(), "Constrained Baseline");
    /// # Ok::<(), media_core::h264::H264Error>(())
    /// ```
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

    /// `ChromaArrayType`: `chroma_format_idc`, or 0 when the colour planes are coded separately.
    fn chroma_array_type(&self) -> u8 {
        if self.separate_colour_plane {
            0
        } else {
            self.chroma_format_idc
        }
    }
}

/// The profiles whose SPS codes chroma format, bit depths and scaling matrices.
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Reads past one `scaling_list()` of `size` entries (7.3.2.1.1.1).
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), H264Error> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = i64::from(r.read_se("delta_scale")?);
            if !(-128..=127).contains(&delta) {
                return Err(H264Error::OutOfRange {
                    field: "delta_scale",
                    value: delta,
                });
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

fn small(v: u32) -> u8 {
    // Only called on values already checked against a bound below 256.
    u8::try_from(v).unwrap_or(u8::MAX)
}

/// Parses an SPS NAL unit (header byte included, without start code), as [`NalUnit::bytes`] and
/// [`AccessUnitInfo::sps`] give it. Everything up to the cropping window is read; VUI is not.
///
/// Values H.264 forbids are errors, and so is a picture wider or taller than any level allows
/// ([`MAX_FRAME_SIDE_MBS`]); callers with a tighter limit (a decoder's picture size or macroblock count) check
/// the returned sizes themselves.
///
/// [`NalUnit::bytes`]: super::NalUnit::bytes
/// [`AccessUnitInfo::sps`]: super::AccessUnitInfo::sps
///
/// # Errors
/// [`H264Error::NotSps`] or [`H264Error::ForbiddenBit`] for another kind of unit; [`H264Error::Truncated`],
/// [`H264Error::ExpGolombTooLong`], [`H264Error::OutOfRange`] or [`H264Error::PictureTooLarge`] for a broken
/// or hostile SPS.
///
/// ```
/// use media_core::h264::{parse_sps, H264Error};
/// // x264, 1920x1080 coded as 1088 lines with 8 cropped.
/// let sps = parse_sps(&[0x67, 0x42, 0xC0, 0x28, 0xD9, 0x00, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00,
///                       0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x28, 0x3C, 0x60, 0xC9, 0x20])?;
/// assert_eq!((sps.width, sps.height, sps.coded_height, sps.level_idc), (1920, 1080, 1088, 40));
/// assert!(matches!(parse_sps(&[0x67, 0x42, 0xC0]), Err(H264Error::Truncated { .. })));
/// # Ok::<(), H264Error>(())
/// ```
pub fn parse_sps(nal: &[u8]) -> Result<Sps, H264Error> {
    let (&header, payload) = nal.split_first().ok_or(H264Error::Truncated {
        field: "NAL unit header",
    })?;
    let nal_type = NalType::new(header);
    if nal_type != NalType::SPS {
        return Err(H264Error::NotSps {
            nal_type: nal_type.as_u8(),
        });
    }
    if header & 0x80 != 0 {
        return Err(H264Error::ForbiddenBit { header });
    }
    let mut r = BitReader::new(payload);
    let profile_idc = small(r.read_bits(8, "profile_idc")?);
    let constraint_flags = small(r.read_bits(8, "constraint flags")?);
    let level_idc = small(r.read_bits(8, "level_idc")?);
    let seq_parameter_set_id = small(r.read_ue_max(31, "seq_parameter_set_id")?);
    let mut sps = Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        seq_parameter_set_id,
        chroma_format_idc: 1,
        separate_colour_plane: false,
        bit_depth_luma_minus8: 0,
        bit_depth_chroma_minus8: 0,
        log2_max_frame_num: 4,
        pic_order_cnt_type: 0,
        log2_max_pic_order_cnt_lsb: None,
        max_num_ref_frames: 0,
        gaps_in_frame_num_allowed: false,
        frame_mbs_only: true,
        coded_width: 0,
        coded_height: 0,
        width: 0,
        height: 0,
    };
    if has_chroma_info(profile_idc) {
        sps.chroma_format_idc = small(r.read_ue_max(3, "chroma_format_idc")?);
        if sps.chroma_format_idc == 3 {
            sps.separate_colour_plane = r.read_flag("separate_colour_plane_flag")?;
        }
        sps.bit_depth_luma_minus8 = small(r.read_ue_max(6, "bit_depth_luma_minus8")?);
        sps.bit_depth_chroma_minus8 = small(r.read_ue_max(6, "bit_depth_chroma_minus8")?);
        r.read_flag("qpprime_y_zero_transform_bypass_flag")?;
        if r.read_flag("seq_scaling_matrix_present_flag")? {
            let lists = if sps.chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.read_flag("seq_scaling_list_present_flag")? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    sps.log2_max_frame_num = small(r.read_ue_max(12, "log2_max_frame_num_minus4")? + 4);
    sps.pic_order_cnt_type = small(r.read_ue_max(2, "pic_order_cnt_type")?);
    match sps.pic_order_cnt_type {
        0 => {
            let lsb = r.read_ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")? + 4;
            sps.log2_max_pic_order_cnt_lsb = Some(small(lsb));
        }
        1 => {
            r.read_flag("delta_pic_order_always_zero_flag")?;
            r.read_se("offset_for_non_ref_pic")?;
            r.read_se("offset_for_top_to_bottom_field")?;
            let n = r.read_ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")?;
            for _ in 0..n {
                r.read_se("offset_for_ref_frame")?;
            }
        }
        _ => {}
    }
    sps.max_num_ref_frames = small(r.read_ue_max(16, "max_num_ref_frames")?);
    sps.gaps_in_frame_num_allowed = r.read_flag("gaps_in_frame_num_value_allowed_flag")?;
    let width_mbs = u64::from(r.read_ue("pic_width_in_mbs_minus1")?) + 1;
    let height_map_units = u64::from(r.read_ue("pic_height_in_map_units_minus1")?) + 1;
    sps.frame_mbs_only = r.read_flag("frame_mbs_only_flag")?;
    let height_mbs = height_map_units * if sps.frame_mbs_only { 1 } else { 2 };
    let side = u64::from(MAX_FRAME_SIDE_MBS);
    if width_mbs > side || height_mbs > side {
        return Err(H264Error::PictureTooLarge {
            width_mbs,
            height_mbs,
        });
    }
    if !sps.frame_mbs_only {
        r.read_flag("mb_adaptive_frame_field_flag")?;
    }
    r.read_flag("direct_8x8_inference_flag")?;
    let (coded_w, coded_h) = (width_mbs * 16, height_mbs * 16);
    let (mut crop_w, mut crop_h) = (0u64, 0u64);
    if r.read_flag("frame_cropping_flag")? {
        // Crop offsets count chroma samples (7.4.2.1.1): CropUnitX / CropUnitY.
        let chroma = sps.chroma_array_type();
        let (unit_x, sub_h) = match chroma {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let unit_y = sub_h * if sps.frame_mbs_only { 1 } else { 2 };
        let left = u64::from(r.read_ue("frame_crop_left_offset")?);
        let right = u64::from(r.read_ue("frame_crop_right_offset")?);
        let top = u64::from(r.read_ue("frame_crop_top_offset")?);
        let bottom = u64::from(r.read_ue("frame_crop_bottom_offset")?);
        crop_w = unit_x * (left + right);
        crop_h = unit_y * (top + bottom);
    }
    let out_of_range = |field, v: u64| H264Error::OutOfRange {
        field,
        value: i64::try_from(v).unwrap_or(i64::MAX),
    };
    if crop_w >= coded_w {
        return Err(out_of_range("frame_crop (horizontal)", crop_w));
    }
    if crop_h >= coded_h {
        return Err(out_of_range("frame_crop (vertical)", crop_h));
    }
    // All four fit u32: at most 1,055 macroblocks of 16 pixels per side.
    let px = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    sps.coded_width = px(coded_w);
    sps.coded_height = px(coded_h);
    sps.width = px(coded_w - crop_w);
    sps.height = px(coded_h - crop_h);
    Ok(sps)
}

/// The first fields of a slice header, up to `frame_num` (H.264 7.3.3); made by [`parse_slice_header`].
///
/// ```
/// use media_core::h264::{parse_slice_header, parse_sps, SliceHeader};
/// let sps = parse_sps(&[0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x0A, 0x36, 0x40])?;
/// // first_mb_in_slice 0, slice_type 0 (P), pic_parameter_set_id 0, frame_num 0b0101 (4 bits).
/// let slice: SliceHeader = parse_slice_header(&[0x41, 0b1110_1011], &sps)?;
/// assert_eq!((slice.slice_type, slice.frame_num), (0, 5));
/// # Ok::<(), media_core::h264::H264Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceHeader {
    /// `first_mb_in_slice`.
    pub first_mb_in_slice: u32,
    /// `slice_type` (0 to 9: P, B, I, SP, SI, and the same plus 5).
    pub slice_type: u8,
    /// `pic_parameter_set_id` (0 to 255).
    pub pic_parameter_set_id: u8,
    /// `colour_plane_id` (0 to 2) when the SPS codes colour planes separately, else 0.
    pub colour_plane_id: u8,
    /// `frame_num`, `sps.log2_max_frame_num` bits wide.
    pub frame_num: u32,
}

/// Parses the start of a coded slice (NAL unit type 1 or 5, header byte included) up to `frame_num`, with the
/// SPS that is active for it.
///
/// # Errors
/// [`H264Error::NotSlice`] for another kind of unit; [`H264Error::Truncated`],
/// [`H264Error::ExpGolombTooLong`] or [`H264Error::OutOfRange`] for a broken header.
///
/// ```
/// use media_core::h264::{parse_slice_header, parse_sps, H264Error};
/// let sps = parse_sps(&[0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x0A, 0x36, 0x40])?;
/// let idr = parse_slice_header(&[0x65, 0b1000_1000, 0b1000_0000], &sps)?; // I slice, frame_num 0
/// assert_eq!((idr.slice_type, idr.frame_num), (7, 0));
/// assert_eq!(parse_slice_header(&[0x67, 0xFF], &sps), Err(H264Error::NotSlice { nal_type: 7 }));
/// # Ok::<(), H264Error>(())
/// ```
pub fn parse_slice_header(nal: &[u8], sps: &Sps) -> Result<SliceHeader, H264Error> {
    let (&header, payload) = nal.split_first().ok_or(H264Error::Truncated {
        field: "NAL unit header",
    })?;
    let nal_type = NalType::new(header);
    if !nal_type.is_slice() {
        return Err(H264Error::NotSlice {
            nal_type: nal_type.as_u8(),
        });
    }
    let mut r = BitReader::new(payload);
    // first_mb_in_slice < PicSizeInMbs, at most the frame's macroblocks.
    let frame_mbs = (sps.coded_width / 16) * (sps.coded_height / 16);
    let first_mb_in_slice = r.read_ue_max(frame_mbs.saturating_sub(1), "first_mb_in_slice")?;
    let slice_type = small(r.read_ue_max(9, "slice_type")?);
    let pic_parameter_set_id = small(r.read_ue_max(255, "pic_parameter_set_id")?);
    let colour_plane_id = if sps.separate_colour_plane {
        small(r.read_bits(2, "colour_plane_id")?)
    } else {
        0
    };
    let frame_num = r.read_bits(u32::from(sps.log2_max_frame_num), "frame_num")?;
    Ok(SliceHeader {
        first_mb_in_slice,
        slice_type,
        pic_parameter_set_id,
        colour_plane_id,
        frame_num,
    })
}

#[cfg(test)]
#[path = "sps_tests.rs"]
mod tests;

//! Reading H.264 bitstreams: the one place in Verbatim that splits, inspects and parses H.264 below the codec.
//!
//! Teams sends each video frame as one Annex-B buffer (NAL units behind `00 00 01` or `00 00 00 01` start
//! codes); MP4 files store the same NAL units behind big-endian length prefixes. Every crate that looks into
//! such bytes (ingest flags key frames, the decoder checks buffers before OpenH264 sees them, the muxer builds
//! `avcC` and samples, the recorder follows `frame_num`) uses this module:
//!
//! * [`nal_units`] splits an Annex-B buffer into [`NalUnit`]s without copying; [`NalUnit::range`] gives the
//!   unit's place in the buffer, so a `bytes::Bytes` can be sliced with it. [`has_idr`] and
//!   [`inspect_access_unit`] summarise a whole frame.
//! * [`NalType`] names the `nal_unit_type` values.
//! * [`length_prefixed_units`], [`annexb_to_length_prefixed`] and [`length_prefixed_to_annexb`] handle the MP4
//!   sample format.
//! * [`remove_emulation_prevention`] turns a NAL unit's payload into its RBSP; [`BitReader`] reads bits and
//!   Exp-Golomb codes from a payload and drops emulation-prevention bytes as it goes.
//! * [`parse_sps`] reads a sequence parameter set into an [`Sps`]; [`parse_slice_header`] reads the start of
//!   a slice header up to `frame_num`.
//!
//! The bytes come from outside (the network or an input file), so every read is bounds-checked, every count
//! and size is capped, and every failure is an [`H264Error`]: no input makes this module panic, loop without
//! end or allocate beyond the caller's own `Vec`s.
//!
//! ```
//! use media_core::h264::{inspect_access_unit, nal_units, parse_sps, NalType};
//!
//! // One frame as Teams sends it: SPS, PPS and an IDR slice (a 4-byte start code, then 3-byte ones).
//! let sps = [0x67, 0x42, 0xC0, 0x1F, 0xD9, 0x00, 0x50, 0x05, 0xBB, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
//!            0x10, 0x00, 0x00, 0x03, 0x03, 0xC0, 0xF1, 0x83, 0x24, 0x80];
//! let mut frame = vec![0, 0, 0, 1];
//! frame.extend_from_slice(&sps);
//! frame.extend_from_slice(&[0, 0, 1, 0x68, 0xCE, 0x3C, 0x80, 0, 0, 1, 0x65, 0x88, 0x84]);
//!
//! let types: Vec<NalType> = nal_units(&frame).map(|n| n.nal_type()).collect();
//! assert_eq!(types, [NalType::SPS, NalType::PPS, NalType::IDR]);
//! let info = inspect_access_unit(&frame)?;
//! assert!(info.has_idr);
//! let sps = parse_sps(info.sps.unwrap_or_default())?;
//! assert_eq!((sps.width, sps.height, sps.profile_name()), (1280, 720, "Constrained Baseline"));
//! # Ok::<(), media_core::h264::H264Error>(())
//! ```

mod avcc;
mod bits;
mod nal;
mod sps;

pub use avcc::{
    annexb_to_length_prefixed, length_prefixed_to_annexb, length_prefixed_units,
    LengthPrefixedUnits,
};
pub use bits::{remove_emulation_prevention, BitReader};
pub use nal::{
    has_idr, inspect_access_unit, nal_units, AccessUnitInfo, NalType, NalUnit, NalUnits,
};
pub use sps::{parse_slice_header, parse_sps, SliceHeader, Sps, MAX_FRAME_SIDE_MBS};

/// Why H.264 bytes could not be split, converted or parsed.
///
/// ```
/// use media_core::h264::{parse_sps, H264Error};
/// assert_eq!(parse_sps(&[0x68, 0xCE]), Err(H264Error::NotSps { nal_type: 8 }));
/// assert_eq!(
///     parse_sps(&[0x67, 0x42]).unwrap_err().to_string(),
///     "H.264 bitstream truncated while reading constraint flags"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum H264Error {
    /// The buffer holds no Annex-B start code (`00 00 01`).
    #[error("no Annex-B start code in {len} bytes")]
    NoStartCode {
        /// Length of the buffer.
        len: usize,
    },
    /// Bytes other than zero come before the first start code.
    #[error("data before the first Annex-B start code")]
    DataBeforeStartCode,
    /// The buffer holds no NAL unit (no start code, or only empty units after them).
    #[error("no NAL unit in {len} bytes")]
    NoNalUnits {
        /// Length of the buffer.
        len: usize,
    },
    /// A NAL unit header has `forbidden_zero_bit` set: the unit is corrupt.
    #[error("NAL unit header {header:#04x} has forbidden_zero_bit set")]
    ForbiddenBit {
        /// The header byte.
        header: u8,
    },
    /// A NAL unit of type 0, which H.264 leaves unspecified.
    #[error("NAL unit of unspecified type 0")]
    UnspecifiedNalType,
    /// A length-prefix size other than 1 to 4 bytes.
    #[error("NAL length prefix of {size} bytes (1 to 4 allowed)")]
    LengthSize {
        /// The size asked for.
        size: usize,
    },
    /// A sample ends inside a length prefix.
    #[error("NAL length prefix truncated: {size} bytes needed, {left} left")]
    TruncatedLengthPrefix {
        /// The prefix size.
        size: usize,
        /// Bytes left in the sample.
        left: usize,
    },
    /// A length prefix announces more bytes than the sample has left.
    #[error("NAL unit of {len} bytes runs past the sample ({left} bytes left)")]
    LengthPastEnd {
        /// The announced length.
        len: usize,
        /// Bytes left after the prefix.
        left: usize,
    },
    /// A length prefix of zero: an empty NAL unit.
    #[error("empty NAL unit (length prefix 0)")]
    EmptyNalUnit,
    /// A NAL unit too long for a 4-byte length prefix.
    #[error("NAL unit of {len} bytes does not fit a 4-byte length prefix")]
    NalUnitTooLong {
        /// The unit's length.
        len: usize,
    },
    /// The NAL unit given as an SPS is of another type.
    #[error("NAL unit of type {nal_type} is not an SPS")]
    NotSps {
        /// The type found.
        nal_type: u8,
    },
    /// The NAL unit given as a slice is not a coded slice (type 1 or 5).
    #[error("NAL unit of type {nal_type} is not a coded slice")]
    NotSlice {
        /// The type found.
        nal_type: u8,
    },
    /// The bitstream ended before a syntax element.
    #[error("H.264 bitstream truncated while reading {field}")]
    Truncated {
        /// The syntax element being read.
        field: &'static str,
    },
    /// An Exp-Golomb code with more than 31 leading zero bits (its value would not fit 32 bits).
    #[error("Exp-Golomb code of {field} is longer than 32 bits")]
    ExpGolombTooLong {
        /// The syntax element being read.
        field: &'static str,
    },
    /// A syntax element has a value outside what H.264 allows (or what this reader supports).
    #[error("{field} out of range ({value})")]
    OutOfRange {
        /// The syntax element.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// An SPS announces a picture wider or taller than any H.264 level allows ([`MAX_FRAME_SIDE_MBS`]
    /// macroblocks per side).
    #[error("SPS announces {width_mbs}x{height_mbs} macroblocks, more per side than any H.264 level allows")]
    PictureTooLarge {
        /// Width in macroblocks.
        width_mbs: u64,
        /// Frame height in macroblocks.
        height_mbs: u64,
    },
}

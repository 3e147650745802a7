//! Typed errors and decode counters shared by every codec in this crate.

/// Everything that can go wrong in this crate. Corrupt input from outside (a truncated Opus packet, a garbage
/// NAL unit, an SPS with absurd dimensions, a damaged Ogg file) always ends in one of these, never in a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A configuration value is out of range (sample rate, channel count, bitrate, picture size...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An Opus packet is empty, too long or otherwise cannot be a valid packet.
    #[error("corrupt Opus packet: {0}")]
    CorruptOpusPacket(String),
    /// libopus reported an error.
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    /// An input buffer holds no valid Annex-B access unit, or its SPS is truncated, uses reserved values or is
    /// otherwise unparseable (media-core's H.264 bitstream reader says which).
    #[error("H.264 bitstream: {0}")]
    Bitstream(#[source] media_core::h264::H264Error),
    /// A sequence parameter set announces a picture size beyond what this crate accepts.
    #[error("SPS announces absurd picture size {width}x{height} (limit {max}x{max})")]
    AbsurdDimensions {
        /// Announced width in pixels (coded or displayed).
        width: u64,
        /// Announced height in pixels.
        height: u64,
        /// The per-side limit.
        max: u32,
    },
    /// OpenH264 rejected a frame or a configuration.
    #[error("openh264: {0}")]
    H264(String),
    /// A picture's or buffer's size does not match what the operation needs.
    #[error("size mismatch: {0}")]
    SizeMismatch(String),
    /// A container (Ogg) is damaged or not what was expected.
    #[error("container: {0}")]
    Container(String),
    /// The input uses a feature this crate does not implement (e.g. multichannel Ogg Opus).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A delta frame arrived while the decoder waits for an IDR (at the start, or after a corrupt frame).
    #[error("delta frame dropped: waiting for a keyframe")]
    NeedKeyframe,
    /// Reading a file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<media_core::h264::H264Error> for CodecError {
    /// A picture wider or taller than any H.264 level allows is [`CodecError::AbsurdDimensions`], like one
    /// beyond this crate's own limit; every other bitstream error is [`CodecError::Bitstream`].
    fn from(e: media_core::h264::H264Error) -> Self {
        use media_core::h264::H264Error;
        match e {
            H264Error::PictureTooLarge {
                width_mbs,
                height_mbs,
            } => CodecError::AbsurdDimensions {
                width: width_mbs.saturating_mul(16),
                height: height_mbs.saturating_mul(16),
                max: crate::picture::MAX_PICTURE_DIMENSION,
            },
            other => CodecError::Bitstream(other),
        }
    }
}

impl From<openh264::Error> for CodecError {
    fn from(e: openh264::Error) -> Self {
        CodecError::H264(e.to_string())
    }
}

/// Counters a decoder keeps about what it was fed. Cheap to copy; read them with the decoder's `stats()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Packets (Opus) or frames (H.264) decoded from real data.
    pub decoded: u64,
    /// Lost packets replaced by packet loss concealment (PLC).
    pub concealed: u64,
    /// Lost packets recovered from in-band forward error correction (FEC) data in the following packet.
    pub fec_recovered: u64,
    /// Inputs rejected as corrupt (each one returned an error).
    pub errors: u64,
    /// Inputs dropped without decoding: H.264 delta frames while waiting for a keyframe.
    pub dropped: u64,
}

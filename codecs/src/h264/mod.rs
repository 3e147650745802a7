//! H.264 decoding of Teams video (one whole Annex-B frame per buffer) and Constrained Baseline encoding of the
//! composited output, on OpenH264.
//!
//! The decoder checks every buffer with [`h264::inspect_access_unit`] and every SPS with [`h264::parse_sps`]
//! (media-core's bitstream reader) before OpenH264 sees it, so garbage and absurd picture sizes end as a
//! [`CodecError`] and a counter, not in the C library. It decodes into one owned [`I420Picture`] that it lends
//! out; after a corrupt frame it drops delta frames until the next IDR ([`H264Decoder::needs_keyframe`] tells
//! the caller to ask Teams for one).

use media_core::h264::{self, NalType, Sps};
use media_core::MediaTime;
use openh264::decoder::Decoder;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, Timestamp};

use crate::picture::{I420Picture, MAX_PICTURE_DIMENSION};
use crate::{CodecError, DecodeStats};

impl YUVSource for I420Picture {
    fn dimensions(&self) -> (usize, usize) {
        (self.width() as usize, self.height() as usize)
    }
    fn strides(&self) -> (usize, usize, usize) {
        let c = self.chroma_width() as usize;
        (self.width() as usize, c, c)
    }
    fn y(&self) -> &[u8] {
        I420Picture::y(self)
    }
    fn u(&self) -> &[u8] {
        I420Picture::u(self)
    }
    fn v(&self) -> &[u8] {
        I420Picture::v(self)
    }
}

/// The largest picture the decoder accepts, in 16x16 macroblocks: H.264 level 5.2's MaxFS (36,864, e.g.
/// 4096x2304), the most OpenH264 supports. Teams sends at most 1080p (8,160).
pub const MAX_DECODE_MACROBLOCKS: u64 = 36_864;

/// Refuses an SPS whose picture is larger than [`MAX_PICTURE_DIMENSION`] per side (displayed size, and coded
/// size less the 16 columns or 32 rows cropping can remove), more than [`MAX_DECODE_MACROBLOCKS`], or not 8-bit
/// 4:2:0.
fn check_decodable(sps: Sps) -> Result<Sps, CodecError> {
    let max = MAX_PICTURE_DIMENSION;
    let coded_too_large = sps.coded_width > max + 16 || sps.coded_height > max + 32;
    let (width, height) = if coded_too_large {
        (sps.coded_width, sps.coded_height)
    } else {
        (sps.width, sps.height)
    };
    if coded_too_large || width > max || height > max {
        return Err(CodecError::AbsurdDimensions {
            width: u64::from(width),
            height: u64::from(height),
            max,
        });
    }
    let mbs = u64::from(sps.width.div_ceil(16)) * u64::from(sps.height.div_ceil(16));
    if mbs > MAX_DECODE_MACROBLOCKS {
        return Err(CodecError::Unsupported(format!(
            "{}x{} picture ({mbs} macroblocks) exceeds the decoder's {MAX_DECODE_MACROBLOCKS}",
            sps.width, sps.height
        )));
    }
    if sps.chroma_format_idc != 1 || sps.bit_depth_luma() != 8 {
        return Err(CodecError::Unsupported(format!(
            "chroma_format_idc {} / {}-bit: only 8-bit 4:2:0 is decoded",
            sps.chroma_format_idc,
            sps.bit_depth_luma()
        )));
    }
    Ok(sps)
}

/// Decodes whole Annex-B frames (SPS/PPS/IDR/non-IDR, 3- or 4-byte start codes) into I420.
pub struct H264Decoder {
    inner: Decoder,
    picture: I420Picture,
    stats: DecodeStats,
    needs_keyframe: bool,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Decoder")
            .field("stats", &self.stats)
            .field("needs_keyframe", &self.needs_keyframe)
            .finish_non_exhaustive()
    }
}

impl H264Decoder {
    /// Creates a decoder (OpenH264 built from source, single-threaded).
    pub fn new() -> Result<Self, CodecError> {
        Ok(H264Decoder {
            inner: Decoder::new()?,
            picture: I420Picture::new(16, 16)?,
            stats: DecodeStats::default(),
            needs_keyframe: true,
        })
    }

    /// Counters: frames decoded, frames rejected as corrupt, delta frames dropped while waiting for an IDR.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// True until an IDR frame has been decoded, and again after a corrupt frame: the caller should request
    /// a keyframe from the sender (Teams `RequestKeyFrame()`).
    pub fn needs_keyframe(&self) -> bool {
        self.needs_keyframe
    }

    /// The last decoded picture.
    pub fn picture(&self) -> &I420Picture {
        &self.picture
    }

    /// Decodes one whole frame. `Ok(Some(picture))` when a picture came out, `Ok(None)` when the buffer held
    /// only parameter sets. A delta frame while [`needs_keyframe`](Self::needs_keyframe) is dropped with
    /// [`CodecError::NeedKeyframe`]; malformed input gives the matching error. Nothing here panics on input.
    pub fn decode(&mut self, annexb: &[u8]) -> Result<Option<&I420Picture>, CodecError> {
        let info = match h264::inspect_access_unit(annexb) {
            Ok(info) => info,
            Err(e) => {
                self.stats.errors += 1;
                return Err(e.into());
            }
        };
        for unit in h264::nal_units(annexb).filter(|n| n.nal_type() == NalType::SPS) {
            let checked = h264::parse_sps(unit.bytes())
                .map_err(CodecError::from)
                .and_then(check_decodable);
            if let Err(e) = checked {
                self.stats.errors += 1;
                return Err(e);
            }
        }
        if info.has_slice && !info.has_idr && self.needs_keyframe {
            self.stats.dropped += 1;
            return Err(CodecError::NeedKeyframe);
        }
        let yuv = match self.inner.decode(annexb) {
            Ok(Some(yuv)) => yuv,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.stats.errors += 1;
                self.needs_keyframe = true;
                return Err(e.into());
            }
        };
        let (w, h) = yuv.dimensions();
        let (sy, su, sv) = yuv.strides();
        let (w, h) = (
            u32::try_from(w).unwrap_or(u32::MAX),
            u32::try_from(h).unwrap_or(u32::MAX),
        );
        let copied = self
            .picture
            .copy_from_planes(w, h, [yuv.y(), yuv.u(), yuv.v()], [sy, su, sv]);
        if let Err(e) = copied {
            self.stats.errors += 1;
            self.needs_keyframe = true;
            return Err(e);
        }
        if info.has_idr {
            self.needs_keyframe = false;
        }
        self.stats.decoded += 1;
        Ok(Some(&self.picture))
    }
}

/// Settings of an [`H264Encoder`] (always Constrained Baseline, no B-frames, one slice per frame).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct H264EncoderConfig {
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// Highest frame rate the rate control plans for.
    pub max_frame_rate: f32,
    /// An IDR every this many frames (0: only the first frame and on [`H264Encoder::request_keyframe`]).
    pub keyframe_interval: u32,
    /// Encoder threads (1 = on the caller's thread).
    pub threads: u16,
}

impl Default for H264EncoderConfig {
    /// 2.5 Mbit/s, 30 fps, an IDR every 60 frames (2 s), single-threaded.
    fn default() -> Self {
        H264EncoderConfig {
            bitrate_bps: 2_500_000,
            max_frame_rate: 30.0,
            keyframe_interval: 60,
            threads: 1,
        }
    }
}

/// One encoded frame, lent out of the encoder's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodedFrame<'a> {
    /// Annex-B bytes (4-byte start codes); SPS and PPS precede every IDR. Empty if the encoder skipped the
    /// frame (rate control never skips here, as frame skipping is disabled).
    pub data: &'a [u8],
    /// True for an IDR frame.
    pub keyframe: bool,
}

/// Encodes I420 pictures to Constrained Baseline H.264 (Annex-B).
pub struct H264Encoder {
    inner: Encoder,
    config: H264EncoderConfig,
    out: Vec<u8>,
    frames: u64,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("config", &self.config)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl H264Encoder {
    /// Creates an encoder. The picture size is taken from the first picture (and may change later: the
    /// encoder re-initialises and starts with an IDR).
    pub fn new(config: H264EncoderConfig) -> Result<Self, CodecError> {
        if !(10_000..=50_000_000).contains(&config.bitrate_bps)
            || !(1.0..=120.0).contains(&config.max_frame_rate)
            || config.threads == 0
        {
            return Err(CodecError::InvalidConfig(format!(
                "H.264 encoder settings out of range: {config:?}"
            )));
        }
        let cfg = EncoderConfig::new()
            .profile(Profile::Baseline)
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(config.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(config.max_frame_rate))
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(config.keyframe_interval))
            .num_threads(config.threads);
        let inner = Encoder::with_api_config(OpenH264API::from_source(), cfg)?;
        Ok(H264Encoder {
            inner,
            config,
            out: Vec::new(),
            frames: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &H264EncoderConfig {
        &self.config
    }

    /// Makes the next encoded frame an IDR (e.g. when a new viewer or a new fragment needs a sync point).
    pub fn request_keyframe(&mut self) {
        if self.frames > 0 {
            self.inner.force_intra_frame();
        }
        // Before the first frame there is nothing to do: the first frame is always an IDR.
    }

    /// Encodes one picture (even width and height) at `timestamp` and lends out the Annex-B frame.
    pub fn encode(
        &mut self,
        picture: &I420Picture,
        timestamp: MediaTime,
    ) -> Result<EncodedFrame<'_>, CodecError> {
        if picture.width() % 2 != 0 || picture.height() % 2 != 0 {
            return Err(CodecError::InvalidConfig(format!(
                "H.264 encoding needs even dimensions, got {}x{}",
                picture.width(),
                picture.height()
            )));
        }
        let ms = u64::try_from(timestamp.as_millis()).unwrap_or(0);
        let bitstream = self.inner.encode_at(picture, Timestamp::from_millis(ms))?;
        let keyframe = matches!(bitstream.frame_type(), FrameType::IDR | FrameType::I);
        self.out.clear();
        // One byte per pixel bounds any sane frame at these bitrates: reserving it once means even a large
        // IDR later does not reallocate.
        self.out
            .reserve(picture.width() as usize * picture.height() as usize);
        bitstream.write_vec(&mut self.out);
        self.frames += 1;
        Ok(EncodedFrame {
            data: &self.out,
            keyframe,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ue(v: u32) -> String {
        let code = u64::from(v) + 1;
        let bits = 64 - code.leading_zeros();
        format!("{}{:b}", "0".repeat(bits as usize - 1), code)
    }

    /// A Baseline SPS NAL unit (with start code) for a picture of `w_mbs x h_mbs` macroblocks.
    fn sps_frame(w_mbs: u32, h_mbs: u32) -> Vec<u8> {
        let bits = format!(
            "{}{}{}{}0{}{}11001",
            ue(0),
            ue(0),
            ue(2),
            ue(1),
            ue(w_mbs - 1),
            ue(h_mbs - 1)
        );
        let mut out = vec![0, 0, 0, 1, 0x67, 66, 0xC0, 52];
        for chunk in bits.as_bytes().chunks(8) {
            let mut b = 0u8;
            for (i, &c) in chunk.iter().enumerate() {
                b |= u8::from(c == b'1') << (7 - i);
            }
            out.push(b);
        }
        out
    }

    #[test]
    fn decoder_refuses_pictures_beyond_level_5_2_before_openh264() {
        let big = sps_frame(512, 512); // 8192x8192: a valid SPS, too big to decode
        let sps = h264::parse_sps(h264::inspect_access_unit(&big).unwrap().sps.unwrap()).unwrap();
        assert_eq!((sps.width, sps.height), (8192, 8192));
        let mut dec = H264Decoder::new().unwrap();
        assert!(matches!(dec.decode(&big), Err(CodecError::Unsupported(_))));
        let too_big = sps_frame(1024, 2);
        assert!(matches!(
            dec.decode(&too_big),
            Err(CodecError::AbsurdDimensions { .. })
        ));
        // 1080p parameter sets alone are fine (no picture yet).
        assert!(dec.decode(&sps_frame(120, 68)).unwrap().is_none());
        assert_eq!(dec.stats().errors, 2);
    }
}

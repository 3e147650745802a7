//! The frame model: what flows from the bot adapter to the muxer.
//!
//! A frame owns its payload as [`bytes::Bytes`]: moving a frame between stages moves a reference-counted
//! pointer, never the media bytes. A frame says *who* sent it ([`SourceId`]: media source id and stream kind),
//! *when* in three clocks (see [`FrameTiming`]) and *what* it holds (an audio or video format).

use bytes::Bytes;

use crate::time::{MediaTime, SourceTimestamp};

/// A Teams media source id (MSI): identifies one participant's stream within a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Msi(pub u32);

impl Msi {
    /// The value Teams uses for "nobody" in dominant-speaker events.
    pub const NONE: Msi = Msi(0xFFFF_FFFF);
}

impl std::fmt::Display for Msi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "msi:{}", self.0)
    }
}

/// The kind of a media stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamKind {
    /// A participant's unmixed audio.
    Audio,
    /// A participant's camera video.
    Video,
    /// Video-based screen sharing (VBSS).
    ScreenShare,
}

/// Identifies one stream: a media source id plus the kind of stream it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId {
    /// The media source id the platform gave this stream.
    pub msi: Msi,
    /// Audio, video or screen share.
    pub kind: StreamKind,
}

impl SourceId {
    /// An audio source.
    pub const fn audio(msi: u32) -> Self {
        SourceId {
            msi: Msi(msi),
            kind: StreamKind::Audio,
        }
    }
    /// A camera video source.
    pub const fn video(msi: u32) -> Self {
        SourceId {
            msi: Msi(msi),
            kind: StreamKind::Video,
        }
    }
    /// A screen-share source.
    pub const fn screen_share(msi: u32) -> Self {
        SourceId {
            msi: Msi(msi),
            kind: StreamKind::ScreenShare,
        }
    }
}

/// When a frame happened, in the three clocks a recorder sees.
///
/// * `timestamp`: the sender's capture time in the sender's clock domain (Teams `OriginalSenderTimestamp` for
///   audio, `Timestamp` for video). May be [`SourceTimestamp::UNKNOWN`]. Consecutive frames of one source are
///   spaced by their duration in this clock, which is what keeps a stem sample-exact.
/// * `reference`: the platform's local clock when the frame was delivered (Teams `AudioMediaBuffer.Timestamp`),
///   common to all sources of a call: the timeline anchors every source to it and measures drift against it.
/// * `arrival`: the engine's monotonic clock when the frame was handed over. Used for latency and jitter
///   statistics only; never for placing media.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameTiming {
    /// Sender capture time (sender clock domain), or unknown.
    pub timestamp: SourceTimestamp,
    /// Delivery time in the call's common reference clock domain.
    pub reference: SourceTimestamp,
    /// Hand-over time on the engine's monotonic clock.
    pub arrival: MediaTime,
}

/// PCM audio format: signed 16-bit little-endian, interleaved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AudioFormat {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
}

impl AudioFormat {
    /// Teams `Pcm16K`: 16 kHz, mono, 16-bit.
    pub const PCM16K: AudioFormat = AudioFormat {
        sample_rate: 16_000,
        channels: 1,
    };
    /// Teams `Pcm44KStereo`: 44.1 kHz, stereo, 16-bit.
    pub const PCM44K_STEREO: AudioFormat = AudioFormat {
        sample_rate: 44_100,
        channels: 2,
    };

    /// Bytes in one sample frame (all channels).
    pub const fn bytes_per_sample_frame(self) -> usize {
        2 * self.channels as usize
    }
    /// Sample frames in `duration` (rounded to nearest).
    pub fn samples_in(self, duration: MediaTime) -> usize {
        duration.to_samples(self.sample_rate).max(0) as usize
    }
    /// Bytes of a buffer lasting `duration`.
    pub fn bytes_in(self, duration: MediaTime) -> usize {
        self.samples_in(duration) * self.bytes_per_sample_frame()
    }
}

/// True when every sample is zero (digital silence, as the recorder fills what nobody sent).
///
/// Looks 32 samples at a time, OR-ing them together so the compiler can use vector instructions: a silent
/// 20 ms tick (320 samples at 16 kHz) costs a few dozen instructions, not one comparison and branch per
/// sample; speech leaves at its first 32 samples.
///
/// ```
/// use media_core::frame::is_digital_silence;
/// assert!(is_digital_silence(&[0; 320]));
/// assert!(is_digital_silence(&[]));
/// let mut tick = [0i16; 321];
/// tick[320] = -1;
/// assert!(!is_digital_silence(&tick));
/// ```
pub fn is_digital_silence(samples: &[i16]) -> bool {
    let mut wide = samples.chunks_exact(32);
    for c in wide.by_ref() {
        if c.iter().fold(0i16, |a, &s| a | s) != 0 {
            return false;
        }
    }
    wide.remainder().iter().fold(0i16, |a, &s| a | s) == 0
}

/// One buffer of one source's audio, typically 20 ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioFrame {
    /// Which stream.
    pub source: SourceId,
    /// When, in the three clocks.
    pub timing: FrameTiming,
    /// Sample format of `payload`.
    pub format: AudioFormat,
    /// The platform marked this buffer as silence.
    pub is_silence: bool,
    /// Interleaved s16le samples.
    pub payload: Bytes,
}

impl AudioFrame {
    /// The number of sample frames in the payload (a trailing partial sample is ignored).
    pub fn sample_count(&self) -> usize {
        self.payload.len() / self.format.bytes_per_sample_frame().max(1)
    }
    /// How long the payload plays.
    pub fn duration(&self) -> MediaTime {
        MediaTime::from_samples(self.sample_count() as i64, self.format.sample_rate)
    }
}

/// How a video payload is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// One whole H.264 frame as Annex-B NAL units (SPS/PPS/IDR/non-IDR, no B-frames).
    H264,
    /// Raw NV12: a Y plane then an interleaved UV plane, `stride` bytes per row.
    Nv12,
}

/// A video buffer's format, as the platform describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VideoFormat {
    /// Coding of the payload.
    pub codec: VideoCodec,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row of the luma plane (NV12); 0 for H.264.
    pub stride: u32,
    /// Nominal frame rate in frames per 1000 s (Teams announces 1.875–30 fps; actual timing is from timestamps).
    pub frame_rate_millihz: u32,
}

/// One video frame of one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoFrame {
    /// Which stream (video or screen share).
    pub source: SourceId,
    /// When, in the three clocks.
    pub timing: FrameTiming,
    /// Format of `payload`.
    pub format: VideoFormat,
    /// The sender's own size (`OriginalVideoFormat`), when frames arrive scaled down.
    pub original_size: Option<(u32, u32)>,
    /// True when the payload holds an IDR picture (H.264) — set by the producer when known.
    pub keyframe: bool,
    /// The coded or raw picture.
    pub payload: Bytes,
}

/// Either kind of frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Audio.
    Audio(AudioFrame),
    /// Video or screen share.
    Video(VideoFrame),
}

impl Frame {
    /// The stream this frame belongs to.
    pub fn source(&self) -> SourceId {
        match self {
            Frame::Audio(a) => a.source,
            Frame::Video(v) => v.source,
        }
    }
    /// The frame's timing.
    pub fn timing(&self) -> FrameTiming {
        match self {
            Frame::Audio(a) => a.timing,
            Frame::Video(v) => v.timing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm16k_20ms_is_640_bytes() {
        let d = MediaTime::from_millis(20);
        assert_eq!(AudioFormat::PCM16K.samples_in(d), 320);
        assert_eq!(AudioFormat::PCM16K.bytes_in(d), 640);
        let f = AudioFrame {
            source: SourceId::audio(7),
            timing: FrameTiming::default(),
            format: AudioFormat::PCM16K,
            is_silence: false,
            payload: Bytes::from(vec![0u8; 641]),
        };
        assert_eq!(f.sample_count(), 320);
        assert_eq!(f.duration(), d);
    }

    #[test]
    fn moving_a_frame_keeps_the_same_bytes() {
        let payload = Bytes::from(vec![1u8; 640]);
        let ptr = payload.as_ptr();
        let f = Frame::Audio(AudioFrame {
            source: SourceId::audio(1),
            timing: FrameTiming::default(),
            format: AudioFormat::PCM16K,
            is_silence: false,
            payload,
        });
        let moved = f;
        match moved {
            Frame::Audio(a) => assert_eq!(a.payload.as_ptr(), ptr),
            Frame::Video(_) => unreachable!("constructed as audio"),
        }
    }
}

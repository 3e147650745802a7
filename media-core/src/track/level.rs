//! How loud a frame is, as a whole and at its edges: what the placement ring notes with each frame it writes,
//! so the loss ledger can tell a sender that went quiet from media lost mid-sound.

use crate::frame::AudioFrame;

/// How loud a frame is: the mean absolute value of its samples.
///
/// ```
/// use bytes::Bytes;
/// use media_core::{AudioFormat, AudioFrame, FrameTiming, SourceId};
/// let pcm: Vec<u8> = [100i16, -300].iter().flat_map(|s| s.to_le_bytes()).collect();
/// let f = AudioFrame {
///     source: SourceId::audio(1),
///     timing: FrameTiming::default(),
///     format: AudioFormat::PCM16K,
///     is_silence: false,
///     payload: Bytes::from(pcm),
/// };
/// assert_eq!(media_core::track::level(&f), 200);
/// ```
pub fn level(frame: &AudioFrame) -> u16 {
    mean_abs(&frame.payload)
}

/// The mean absolute value of little-endian 16-bit samples.
fn mean_abs(bytes: &[u8]) -> u16 {
    let n = (bytes.len() / 2) as u64;
    // Summed in u32 lanes (vectorised), 65,536 samples at a time: 65,536 × 32,768 fits in a u32 exactly.
    let sum: u64 = bytes
        .chunks(2 << 16)
        .map(|part| {
            let s: u32 = part
                .chunks_exact(2)
                .map(|s| u32::from(i16::from_le_bytes([s[0], s[1]]).unsigned_abs()))
                .sum();
            u64::from(s)
        })
        .sum();
    (sum / n.max(1)).min(u64::from(u16::MAX)) as u16
}

/// How loud the first (`tail` false) or last (`tail` true) millisecond of a frame is: the mean absolute
/// sample value over its first or last `rate / 1000` sample frames (all channels).
///
/// A sender that stops because its user went quiet (DTX) ends on a frame that has faded to silence and
/// resumes on one that starts from it; media lost on the way breaks off mid-sound. The ledger tells the two
/// apart by these edges.
///
/// ```
/// use bytes::Bytes;
/// use media_core::{AudioFormat, AudioFrame, FrameTiming, SourceId};
/// // 320 samples at 16 kHz: loud, then the last 16 (1 ms) silent.
/// let pcm: Vec<u8> = (0..320)
///     .map(|i| if i < 304 { 3000i16 } else { 0 })
///     .flat_map(|s| s.to_le_bytes())
///     .collect();
/// let f = AudioFrame {
///     source: SourceId::audio(1),
///     timing: FrameTiming::default(),
///     format: AudioFormat::PCM16K,
///     is_silence: false,
///     payload: Bytes::from(pcm),
/// };
/// assert_eq!(media_core::track::edge_level(&f, false), 3000);
/// assert_eq!(media_core::track::edge_level(&f, true), 0);
/// ```
pub fn edge_level(frame: &AudioFrame, tail: bool) -> u16 {
    let ch = frame.format.channels.max(1) as usize;
    let width = (frame.format.sample_rate as usize / 1000).max(1) * ch * 2;
    let whole = frame.payload.len() / (2 * ch) * 2 * ch;
    let width = width.min(whole);
    mean_abs(if tail {
        &frame.payload[whole - width..whole]
    } else {
        &frame.payload[..width]
    })
}

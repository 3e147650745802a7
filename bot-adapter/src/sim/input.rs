//! A participant's microphone signal as the sender pulls it: one 20 ms frame at a time.

use std::ops::Range;
use std::sync::Arc;

use super::voice::Voice;
use super::FRAME_SAMPLES;

/// A participant's audio input (16 kHz mono s16, Teams `Pcm16K`), read one 20 ms frame at a time.
///
/// Frame `j` is samples `j·320 .. (j+1)·320`; the last frame is zero-padded and frames past the end are silence.
/// A frame of digital silence (320 zeros) is not sent (DTX).
///
/// * [`AudioInput::Pcm`]: samples held in memory (files, tests). Bounded by the file.
/// * [`AudioInput::Voice`]: a synthetic voice generated frame by frame from its talk schedule; memory does not
///   grow with its length.
///
/// Cloning is cheap (an `Arc`), so a caller can keep a copy to regenerate and check what was sent.
///
/// # Examples
/// ```
/// use bot_adapter::sim::{AudioInput, TalkSpurt, Voice};
///
/// let pcm: AudioInput = vec![5i16; 400].into();
/// assert_eq!(pcm.frames(), 2);
/// assert_eq!(pcm.frame(1)[..80], [5; 80]);
/// assert_eq!(pcm.frame(1)[80..], [0; 240]); // zero-padded
/// assert!(pcm.is_silent(2));
///
/// let voice: AudioInput = Voice::new(0, 1, vec![TalkSpurt { start: 640, len: 320, level: 5000 }], 16_000).into();
/// assert!(voice.is_silent(1) && !voice.is_silent(2));
/// assert_eq!(voice.talk_spurts(), vec![640..960]);
/// assert_eq!(voice.to_pcm().len(), 16_000);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum AudioInput {
    /// Samples in memory.
    Pcm(Arc<[i16]>),
    /// A synthetic voice generated on demand.
    Voice(Arc<Voice>),
}

impl Default for AudioInput {
    /// No samples: every frame is silence.
    fn default() -> Self {
        AudioInput::Pcm(Arc::from(Vec::new()))
    }
}

impl From<Vec<i16>> for AudioInput {
    fn from(v: Vec<i16>) -> Self {
        AudioInput::Pcm(Arc::from(v))
    }
}

impl From<Arc<[i16]>> for AudioInput {
    fn from(v: Arc<[i16]>) -> Self {
        AudioInput::Pcm(v)
    }
}

impl From<&[i16]> for AudioInput {
    fn from(v: &[i16]) -> Self {
        AudioInput::Pcm(Arc::from(v))
    }
}

impl From<Voice> for AudioInput {
    fn from(v: Voice) -> Self {
        AudioInput::Voice(Arc::new(v))
    }
}

impl AudioInput {
    /// Length in samples.
    pub fn len_samples(&self) -> u64 {
        match self {
            AudioInput::Pcm(p) => p.len() as u64,
            AudioInput::Voice(v) => v.len_samples(),
        }
    }

    /// Length in 20 ms frames, the last one zero-padded: frames from here on are silence.
    pub fn frames(&self) -> u64 {
        self.len_samples().div_ceil(FRAME_SAMPLES as u64)
    }

    /// True when frame `j` is 320 zeros (not sent).
    pub fn is_silent(&self, j: u64) -> bool {
        match self {
            AudioInput::Pcm(p) => pcm_frame(p, j).iter().all(|&s| s == 0),
            AudioInput::Voice(v) => v.is_silent(j),
        }
    }

    /// Writes frame `j` into `out` (zero-padded past the end).
    pub fn fill(&self, j: u64, out: &mut [i16; FRAME_SAMPLES]) {
        match self {
            AudioInput::Pcm(p) => {
                out.fill(0);
                let src = pcm_frame(p, j);
                if let Some(dst) = out.get_mut(..src.len()) {
                    dst.copy_from_slice(src);
                }
            }
            AudioInput::Voice(v) => v.fill(j, out),
        }
    }

    /// Frame `j` (zero-padded past the end).
    pub fn frame(&self, j: u64) -> [i16; FRAME_SAMPLES] {
        let mut out = [0; FRAME_SAMPLES];
        self.fill(j, &mut out);
        out
    }

    /// The whole input as samples (`len_samples()` of them). Allocates the whole signal: for tests and short
    /// inputs, not for hours of synthetic voice.
    pub fn to_pcm(&self) -> Vec<i16> {
        match self {
            AudioInput::Pcm(p) => p.to_vec(),
            AudioInput::Voice(v) => {
                let n = usize::try_from(v.len_samples()).unwrap_or(usize::MAX);
                let mut out = Vec::with_capacity(n);
                let mut f = [0; FRAME_SAMPLES];
                for j in 0..v.frames() {
                    v.fill(j, &mut f);
                    out.extend_from_slice(&f);
                }
                out.truncate(n);
                out
            }
        }
    }

    /// Where the input talks, as sample ranges: a voice's spurts exactly; for samples in memory, the runs of
    /// frames that are not digital silence (frame-aligned, clipped to the input).
    pub fn talk_spurts(&self) -> Vec<Range<u64>> {
        match self {
            AudioInput::Voice(v) => v.spurts().iter().map(|s| s.start..s.end()).collect(),
            AudioInput::Pcm(p) => {
                let mut out: Vec<Range<u64>> = Vec::new();
                let len = p.len() as u64;
                for (j, f) in p.chunks(FRAME_SAMPLES).enumerate() {
                    if f.iter().all(|&s| s == 0) {
                        continue;
                    }
                    let start = j as u64 * FRAME_SAMPLES as u64;
                    let end = (start + FRAME_SAMPLES as u64).min(len);
                    match out.last_mut() {
                        Some(r) if r.end == start => r.end = end,
                        _ => out.push(start..end),
                    }
                }
                out
            }
        }
    }

    /// The voice behind a synthetic input.
    pub fn voice(&self) -> Option<&Voice> {
        match self {
            AudioInput::Voice(v) => Some(v),
            AudioInput::Pcm(_) => None,
        }
    }
}

/// The samples of frame `j` that exist (fewer than 320 for the last frame, none past the end).
fn pcm_frame(p: &[i16], j: u64) -> &[i16] {
    let start = usize::try_from(j)
        .ok()
        .and_then(|j| j.checked_mul(FRAME_SAMPLES))
        .unwrap_or(usize::MAX);
    let s = p.get(start..).unwrap_or(&[]);
    &s[..s.len().min(FRAME_SAMPLES)]
}

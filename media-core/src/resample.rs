//! Sample-rate conversion to mono at another rate: the one place Verbatim sets up rubato's FFT resampler.
//!
//! Two ways in, one resampler set-up (rubato's synchronous `Fft`, one sub-chunk, fixed input and output chunk
//! sizes):
//!
//! * [`RateConverter`] converts a live source tick by tick. It takes interleaved s16 at the source's format,
//!   mixes it down to mono and resamples it to the recording rate. Its buffers are allocated by
//!   [`RateConverter::new`] and reused. The resampler's delay is removed (its first `output_delay` samples are
//!   dropped), so a sample keeps its recording time; the caller feeds input ahead of the output by
//!   [`RateConverter::lead`] to cover that delay.
//! * [`resample_mono`] converts a whole decoded file at once ([`WHOLE_CHUNK`] input frames per FFT chunk): the
//!   delay is trimmed and the end flushed, so the output is aligned with the input and
//!   `ceil(n * to / from)` samples long.
//!
//! [`downmix_to_mono`] and [`to_i16`] are the sample conversions both use: s16 frames averaged into one f32
//! channel in [-1, 1), and back to s16 rounded and saturated.

use std::collections::VecDeque;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::frame::AudioFormat;
use crate::time::MediaTime;

/// A converter could not be built for these rates.
#[derive(Debug, thiserror::Error)]
#[error("cannot convert {from} Hz to {to} Hz: {reason}")]
pub struct ResampleError {
    /// Source rate.
    pub from: u32,
    /// Target rate.
    pub to: u32,
    /// Why.
    pub reason: String,
}

/// Converts one source to mono at the recording rate (see the module docs).
pub struct RateConverter {
    resampler: Fft<f32>,
    from: u32,
    to: u32,
    channels: usize,
    input: Vec<f32>,
    filled: usize,
    output: Vec<f32>,
    ready: VecDeque<i16>,
    skip: usize,
    src_tick: usize,
    lead_ticks: usize,
}

impl RateConverter {
    /// A converter from `src` to mono at `dst_rate`, fed one `tick` of source audio at a time.
    ///
    /// # Errors
    /// Rates or channel counts the resampler cannot handle.
    pub fn new(src: AudioFormat, dst_rate: u32, tick: MediaTime) -> Result<Self, ResampleError> {
        let err = |reason: String| ResampleError {
            from: src.sample_rate,
            to: dst_rate,
            reason,
        };
        if src.sample_rate == 0 || dst_rate == 0 || src.channels == 0 || src.channels > 8 {
            return Err(err("rates must be positive and channels 1..=8".into()));
        }
        let src_tick = tick.to_samples(src.sample_rate).max(1) as usize;
        let resampler = fft(src.sample_rate, dst_rate, src_tick)?;
        let chunk_in = resampler.input_frames_next();
        let dst_tick = tick.to_samples(dst_rate).max(1) as usize;
        let skip = resampler.output_delay();
        // Input ticks needed before the first output tick can be complete.
        let lead_ticks = (skip + dst_tick).div_ceil(dst_tick) + chunk_in.div_ceil(src_tick);
        Ok(RateConverter {
            output: vec![0.0; resampler.output_frames_max()],
            input: vec![0.0; chunk_in],
            filled: 0,
            ready: VecDeque::with_capacity(
                dst_tick * (lead_ticks + 2) + skip + resampler.output_frames_max(),
            ),
            channels: src.channels as usize,
            skip,
            src_tick,
            lead_ticks,
            resampler,
            from: src.sample_rate,
            to: dst_rate,
        })
    }

    /// Source sample frames in one tick.
    pub fn src_tick(&self) -> usize {
        self.src_tick
    }

    /// How many ticks of input must be fed ahead of the output to cover the resampler's delay.
    pub fn lead(&self) -> usize {
        self.lead_ticks
    }

    /// Converted samples waiting.
    pub fn available(&self) -> usize {
        self.ready.len()
    }

    /// Feeds interleaved source samples (any length).
    ///
    /// # Errors
    /// The resampler failed (a bug in sizes, not bad input).
    pub fn push(&mut self, interleaved: &[i16]) -> Result<(), ResampleError> {
        for frame in interleaved.chunks_exact(self.channels) {
            self.input[self.filled] = mono_sample(frame);
            self.filled += 1;
            if self.filled == self.input.len() {
                self.filled = 0;
                self.process()?;
            }
        }
        Ok(())
    }

    fn process(&mut self) -> Result<(), ResampleError> {
        let (from, to) = (self.from, self.to);
        let err = |reason: String| ResampleError { from, to, reason };
        let n_in = self.input.len();
        let input =
            InterleavedSlice::new(&self.input[..], 1, n_in).map_err(|e| err(e.to_string()))?;
        let n_out = self.output.len();
        let mut output = InterleavedSlice::new_mut(&mut self.output[..], 1, n_out)
            .map_err(|e| err(e.to_string()))?;
        let (_, written) = self
            .resampler
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| err(e.to_string()))?;
        for &x in &self.output[..written] {
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            self.ready.push_back(to_i16(x));
        }
        Ok(())
    }

    /// Takes converted samples into `out`; returns how many were written (the rest of `out` is left as is).
    pub fn pop(&mut self, out: &mut [i16]) -> usize {
        let n = out.len().min(self.ready.len());
        for (o, s) in out.iter_mut().zip(self.ready.drain(..n)) {
            *o = s;
        }
        n
    }
}

/// Input frames per FFT chunk when [`resample_mono`] converts a whole buffer.
pub const WHOLE_CHUNK: usize = 1024;

/// The resampler every conversion here uses: rubato's synchronous FFT resampler from `from` Hz to `to` Hz,
/// `chunk` input frames per call, one channel, one sub-chunk, fixed input and output sizes.
fn fft(from: u32, to: u32, chunk: usize) -> Result<Fft<f32>, ResampleError> {
    Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Both).map_err(|e| {
        ResampleError {
            from,
            to,
            reason: e.to_string(),
        }
    })
}

/// Resamples a whole mono buffer from `from` Hz to `to` Hz in [`WHOLE_CHUNK`]-frame chunks: the resampler's
/// delay is trimmed and its tail flushed, so the output is aligned with the input and `ceil(n * to / from)`
/// samples long. An empty input gives an empty output.
///
/// Equal rates are filtered too (the FFT round trip is not bit-exact); a caller that needs the input
/// unchanged at equal rates does not call this.
///
/// # Errors
/// Rates the resampler cannot handle (zero, or a ratio it refuses).
///
/// ```
/// use media_core::resample::resample_mono;
/// let tone: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
/// let out = resample_mono(&tone, 48_000, 16_000)?;
/// assert_eq!(out.len(), 16_000);
/// assert!(resample_mono(&[], 44_100, 16_000)?.is_empty());
/// assert!(resample_mono(&tone, 0, 16_000).is_err());
/// # Ok::<(), media_core::resample::ResampleError>(())
/// ```
pub fn resample_mono(mono: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    if mono.is_empty() {
        return Ok(Vec::new());
    }
    let err = |reason: String| ResampleError { from, to, reason };
    if from == 0 || to == 0 {
        return Err(err("rates must be positive".into()));
    }
    let mut r = fft(from, to, WHOLE_CHUNK)?;
    let input = InterleavedSlice::new(mono, 1, mono.len()).map_err(|e| err(e.to_string()))?;
    let out = r
        .process_all(&input, mono.len(), None)
        .map_err(|e| err(e.to_string()))?;
    Ok(out.take_data())
}

/// One interleaved s16 frame averaged into a mono f32 sample in [-1, 1).
fn mono_sample(frame: &[i16]) -> f32 {
    let sum: f32 = frame.iter().map(|&s| f32::from(s)).sum();
    sum / (frame.len() as f32 * 32_768.0)
}

/// Averages interleaved s16 frames of `channels` channels into mono f32 in [-1, 1), as [`RateConverter`] does
/// with its input. An incomplete last frame is ignored; `channels` of 0 is taken as 1.
///
/// ```
/// use media_core::resample::downmix_to_mono;
/// assert_eq!(downmix_to_mono(&[16_384, 0, -32_768, -32_768, 7], 2), [0.25, -1.0]);
/// assert_eq!(downmix_to_mono(&[16_384], 0), [0.5]);
/// ```
pub fn downmix_to_mono(interleaved: &[i16], channels: usize) -> Vec<f32> {
    interleaved
        .chunks_exact(channels.max(1))
        .map(mono_sample)
        .collect()
}

/// A sample in [-1, 1) back to s16: scaled by 32,768, rounded, saturated; NaN becomes 0.
///
/// ```
/// use media_core::resample::to_i16;
/// assert_eq!((to_i16(0.5), to_i16(-1.0), to_i16(2.0), to_i16(f32::NAN)), (16_384, -32_768, 32_767, 0));
/// ```
pub fn to_i16(x: f32) -> i16 {
    (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1 kHz tone at 44.1 kHz stereo comes out at 16 kHz mono, at the same level and without delay.
    #[test]
    fn a_tone_keeps_its_level_and_its_time() {
        let src = AudioFormat::PCM44K_STEREO;
        let tick = MediaTime::from_millis(20);
        let mut c = RateConverter::new(src, 16_000, tick).unwrap();
        let n = 44_100; // 1 s
        let onset = 22_050; // the tone starts at 0.5 s
        let mut pcm = Vec::with_capacity(n * 2);
        for i in 0..n {
            let v = if i >= onset {
                ((i as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 44_100.0).sin() * 16_000.0)
                    as i16
            } else {
                0
            };
            pcm.extend_from_slice(&[v, v]);
        }
        let mut out = vec![0i16; 16_000];
        let mut got = 0;
        for chunk in pcm.chunks(c.src_tick() * 2) {
            c.push(chunk).unwrap();
            got += c.pop(&mut out[got..]);
        }
        for _ in 0..c.lead() + 2 {
            c.push(&vec![0i16; c.src_tick() * 2]).unwrap();
            got += c.pop(&mut out[got..]);
        }
        assert_eq!(got, 16_000);
        let first = out.iter().position(|s| s.unsigned_abs() > 4000).unwrap();
        assert!(
            (first as i64 - 8_000).abs() <= 8,
            "tone starts at sample {first}, expected 8000"
        );
        let peak = out[12_000..13_000]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!((15_000..=17_000).contains(&peak), "peak {peak}");
    }

    #[test]
    fn conversions_saturate_and_are_exact_for_s16_values() {
        assert_eq!(to_i16(2.0), 32_767);
        assert_eq!(to_i16(-2.0), -32_768);
        assert_eq!(to_i16(f32::NAN), 0);
        for v in [-32_768i16, -1, 0, 1, 12_345, 32_767] {
            assert_eq!(to_i16(f32::from(v) / 32_768.0), v);
            assert_eq!(to_i16(downmix_to_mono(&[v, v], 2)[0]), v);
        }
    }

    /// A whole-buffer conversion keeps a tone's time and level and has the promised length.
    #[test]
    fn whole_buffer_conversion_is_aligned() {
        let n = 44_100;
        let onset = 22_050;
        let pcm: Vec<f32> = (0..n)
            .map(|i| {
                if i >= onset {
                    (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 44_100.0).sin() * 0.5
                } else {
                    0.0
                }
            })
            .collect();
        let out = resample_mono(&pcm, 44_100, 16_000).unwrap();
        assert_eq!(out.len(), 16_000);
        let first = out.iter().position(|s| s.abs() > 0.12).unwrap();
        assert!((first as i64 - 8_000).abs() <= 8, "tone starts at {first}");
        let odd = resample_mono(&pcm[..1001], 44_100, 16_000).unwrap();
        assert_eq!(odd.len(), (1001usize * 16_000).div_ceil(44_100));
    }
}

//! Sample-rate conversion of one source's PCM to the recording's rate, tick by tick (rubato's FFT resampler).
//!
//! A [`RateConverter`] takes interleaved s16 at the source's format, mixes it down to mono and resamples it to
//! the recording rate. Its buffers are allocated by [`RateConverter::new`] and reused. The resampler's delay
//! is removed (its first `output_delay` samples are dropped), so a sample keeps its recording time; the caller
//! feeds input ahead of the output by [`RateConverter::lead`] to cover that delay.

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
        let resampler = Fft::<f32>::new(
            src.sample_rate as usize,
            dst_rate as usize,
            src_tick,
            1,
            FixedSync::Both,
        )
        .map_err(|e| err(e.to_string()))?;
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
            let sum: f32 = frame.iter().map(|&s| f32::from(s)).sum();
            self.input[self.filled] = sum / (self.channels as f32 * 32_768.0);
            self.filled += 1;
            if self.filled == self.input.len() {
                self.filled = 0;
                self.process()?;
            }
        }
        Ok(())
    }

    fn process(&mut self) -> Result<(), ResampleError> {
        let err = |e: String| ResampleError {
            from: 0,
            to: 0,
            reason: e,
        };
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
            self.ready
                .push_back((x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16);
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
}

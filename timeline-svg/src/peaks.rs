//! Waveform peaks of a participant's stem: the max |sample| per bucket, computed once while streaming the
//! WAV file, for a browser (or [`crate::waveform_svg`]) to draw.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::{BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use hound::{SampleFormat, WavReader};

use crate::TimelineError;

/// The peaks of one WAV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peaks {
    /// Length of one bucket, µs.
    pub bucket_us: i64,
    /// The WAV file's sample rate, Hz.
    pub sample_rate: u32,
    /// Per bucket, from the start: the max |sample| over the bucket's samples and channels, scaled from
    /// 16 bits to `0..=255` (rounded: full scale 32767 is 255, an amplitude of 16000 is 125). The last
    /// bucket may be partial.
    pub values: Vec<u8>,
}

impl Peaks {
    /// The peaks as compact JSON: `{"bucket_us":…,"values":[…]}`.
    ///
    /// # Examples
    /// ```
    /// use timeline_svg::Peaks;
    /// let p = Peaks { bucket_us: 100_000, sample_rate: 16_000, values: vec![0, 125, 255] };
    /// assert_eq!(p.to_json(), r#"{"bucket_us":100000,"values":[0,125,255]}"#);
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(32 + self.values.len() * 4);
        let _ = write!(out, r#"{{"bucket_us":{},"values":["#, self.bucket_us);
        for (i, v) in self.values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{v}");
        }
        out.push_str("]}");
        out
    }

    /// The time the buckets cover, µs (`values.len() × bucket_us`, saturating).
    ///
    /// # Examples
    /// ```
    /// use timeline_svg::Peaks;
    /// let p = Peaks { bucket_us: 100_000, sample_rate: 16_000, values: vec![0; 20] };
    /// assert_eq!(p.duration_us(), 2_000_000);
    /// ```
    pub fn duration_us(&self) -> i64 {
        i64::try_from(self.values.len())
            .unwrap_or(i64::MAX)
            .saturating_mul(self.bucket_us)
    }
}

/// A reader that notes when its input ended (hound reports a file cut short as an error of kind
/// `Other`; this tells that case from a failing read).
struct NoteEnd<R> {
    inner: R,
    ended: Rc<Cell<bool>>,
}

impl<R: Read> Read for NoteEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended.set(true);
        }
        Ok(n)
    }
}

/// Scales a sample's magnitude from 16 bits to `0..=255`, rounding.
fn scale(sample: i16) -> u8 {
    let a = u32::from(sample.unsigned_abs());
    u8::try_from(((a * 255 + 16_383) / 32_767).min(255)).unwrap_or(u8::MAX)
}

/// Computes the peaks of a WAV file of 16-bit integer PCM (mono or more channels: the max over channels),
/// streaming: samples are read one by one through a buffer, never the whole file into memory, so an
/// hour-long stem costs a few kB plus one byte per bucket. A file cut short (its data ends before its
/// header says) gives the peaks of the samples it holds.
///
/// # Examples
/// ```
/// use std::io::Cursor;
/// let spec = hound::WavSpec {
///     channels: 1,
///     sample_rate: 16_000,
///     bits_per_sample: 16,
///     sample_format: hound::SampleFormat::Int,
/// };
/// let mut wav = Cursor::new(Vec::new());
/// let mut w = hound::WavWriter::new(&mut wav, spec)?;
/// for i in 0..16_000 {
///     w.write_sample(if i < 8_000 { -32_767_i16 } else { 100 })?; // loud, then quiet
/// }
/// w.finalize()?;
/// wav.set_position(0);
/// let peaks = timeline_svg::peaks_from_wav(wav, 500_000)?;
/// assert_eq!(peaks.values, vec![255, 1]);
/// assert_eq!(peaks.sample_rate, 16_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`TimelineError::InvalidBucket`] when `bucket_us` is shorter than one sample (or not positive);
/// [`TimelineError::Wav`] when the bytes are not a readable WAV file or a read fails;
/// [`TimelineError::UnsupportedWav`] for anything but 16-bit integer PCM;
/// [`TimelineError::BadWavHeader`] for 0 channels or a sample rate of 0.
pub fn peaks_from_wav<R: Read>(r: R, bucket_us: i64) -> Result<Peaks, TimelineError> {
    if bucket_us <= 0 {
        return Err(TimelineError::InvalidBucket(bucket_us));
    }
    let ended = Rc::new(Cell::new(false));
    let input = NoteEnd {
        inner: r,
        ended: Rc::clone(&ended),
    };
    let mut reader = WavReader::new(BufReader::new(input))?;
    let spec = reader.spec();
    match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Int, 16) => {}
        (format, bits) => {
            let format = match format {
                SampleFormat::Int => "integer PCM",
                SampleFormat::Float => "float",
            };
            return Err(TimelineError::UnsupportedWav { format, bits });
        }
    }
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(TimelineError::BadWavHeader {
            channels: spec.channels,
            sample_rate: spec.sample_rate,
        });
    }
    // Bucket k holds frame f when k = f × 1e6 / (rate × bucket_us); at least one frame per bucket.
    let per_bucket = u128::from(spec.sample_rate) * bucket_us.unsigned_abs() as u128;
    if per_bucket < 1_000_000 {
        return Err(TimelineError::InvalidBucket(bucket_us));
    }
    let channels = u64::from(spec.channels);
    let mut values: Vec<u8> = Vec::new();
    for (i, sample) in (0_u64..).zip(reader.samples::<i16>()) {
        let sample = match sample {
            Ok(s) => s,
            // The data ended before the header said: the peaks of what is there.
            Err(hound::Error::IoError(_)) if ended.get() => break,
            Err(e) => return Err(e.into()),
        };
        let frame = u128::from(i / channels);
        let k = usize::try_from(frame * 1_000_000 / per_bucket).unwrap_or(usize::MAX);
        if k >= values.len() {
            values.resize(k.saturating_add(1), 0);
        }
        if let Some(v) = values.get_mut(k) {
            *v = (*v).max(scale(sample));
        }
    }
    Ok(Peaks {
        bucket_us,
        sample_rate: spec.sample_rate,
        values,
    })
}

/// [`peaks_from_wav`] of the file at `path`.
///
/// # Examples
/// ```no_run
/// let peaks = timeline_svg::peaks_from_wav_path("recording/alice.wav".as_ref(), 50_000)?;
/// std::fs::write("recording/alice.peaks.json", peaks.to_json())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`peaks_from_wav`]; a file that cannot be opened is [`TimelineError::Wav`].
pub fn peaks_from_wav_path(path: &Path, bucket_us: i64) -> Result<Peaks, TimelineError> {
    let file = std::fs::File::open(path).map_err(hound::Error::IoError)?;
    peaks_from_wav(file, bucket_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_ends() {
        assert_eq!(scale(0), 0);
        assert_eq!(scale(i16::MIN), 255);
        assert_eq!(scale(i16::MAX), 255);
        assert_eq!(scale(16_000), 125);
        assert_eq!(scale(-64), 0);
        assert_eq!(scale(65), 1);
    }
}

//! Loading a participant's input from an audio file: decode, downmix to mono, resample to 16 kHz, s16.
//!
//! Decoding is symphonia 0.6 (features enabled in this workspace: WAV/PCM, FLAC, MP3, AAC-LC in MP4/M4A, Ogg
//! Vorbis; Opus is NOT decodable by symphonia and is handled by the codecs crate, whose PCM can be passed to
//! the simulator directly). Resampling is media-core's whole-buffer conversion
//! ([`media_core::resample::resample_mono`]: the startup delay is trimmed, so the output is aligned with the
//! input and `ceil(n·16000/rate)` samples long).
//!
//! A 16 kHz mono 16-bit input comes back bit-exact: it is neither converted nor resampled.
//!
//! symphonia 0.6's MP4 reader ignores the edit list, so an AAC track would start with the encoder's priming
//! samples (1,024 for ffmpeg's AAC: 64 ms at 16 kHz, enough to break A/V sync). For MP4 input the first audio
//! track's `elst` is read with the `mp4` crate and applied: leading empty edits become silence, `media_time`
//! samples are dropped, and only `segment_duration` is kept.

use std::fs::File;
use std::path::Path;

use media_core::resample::{resample_mono, to_i16, ResampleError};
use symphonia::core::audio::GenericAudioBufferRef;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::{SimError, SAMPLE_RATE};

/// Why an audio file could not be loaded (wrapped in [`SimError::AudioFile`] with the path).
#[derive(Debug, thiserror::Error)]
pub enum AudioFileError {
    /// The file could not be opened.
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    /// No supported container format was recognised.
    #[error("unrecognised or unsupported format: {0}")]
    Format(#[source] SymphoniaError),
    /// The container holds no audio track.
    #[error("no audio track")]
    NoAudioTrack,
    /// The audio track's codec cannot be decoded here (Opus: decode it with the codecs crate).
    #[error("unsupported codec: {0}")]
    Codec(#[source] SymphoniaError),
    /// The stream broke off in a way decoding cannot skip.
    #[error("decoding failed: {0}")]
    Decode(#[source] SymphoniaError),
    /// The sample rate or channel count changed mid-stream, or is zero.
    #[error("unusable stream layout: {0}")]
    Layout(&'static str),
    /// The resampler refused the input.
    #[error("resampling failed: {0}")]
    Resample(#[source] ResampleError),
}

/// Decodes an audio file into 16 kHz mono s16 samples, as a simulator participant's input.
///
/// Channels are averaged into mono; other rates are resampled with media-core's FFT resampler; samples are
/// converted to i16 with saturation. Packets that fail to decode are skipped (symphonia's recoverable
/// `DecodeError`); a chained-Ogg reset ends the input.
///
/// # Errors
/// [`SimError::AudioFile`] naming the path, with an [`AudioFileError`] saying why.
pub fn load_audio_file(path: impl AsRef<Path>) -> Result<Vec<i16>, SimError> {
    let path = path.as_ref();
    load(path).map_err(|source| SimError::AudioFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Samples collected so far: kept as i16 while the stream is 16-bit mono (bit-exact path), else f32 mono.
enum Acc {
    I16(Vec<i16>),
    F32(Vec<f32>),
}

impl Acc {
    fn into_f32(self) -> Vec<f32> {
        match self {
            Acc::F32(v) => v,
            Acc::I16(v) => v.into_iter().map(|s| f32::from(s) / 32_768.0).collect(),
        }
    }
}

fn load(path: &Path) -> Result<Vec<i16>, AudioFileError> {
    let file = File::open(path).map_err(AudioFileError::Open)?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(AudioFileError::Format)?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or(AudioFileError::NoAudioTrack)?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or(AudioFileError::NoAudioTrack)?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(AudioFileError::Codec)?;

    let mut acc: Option<Acc> = None;
    let mut layout: Option<(u32, usize)> = None;
    let mut scratch_f32: Vec<f32> = Vec::new();
    let mut scratch_i16: Vec<i16> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) | Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(e) => return Err(AudioFileError::Decode(e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            Err(SymphoniaError::DecodeError(_)) | Err(SymphoniaError::IoError(_)) => continue,
            Err(e) => return Err(AudioFileError::Decode(e)),
        };
        let rate = buf.spec().rate();
        let channels = buf.spec().channels().count();
        if rate == 0 || channels == 0 {
            return Err(AudioFileError::Layout("zero sample rate or channels"));
        }
        match layout {
            None => layout = Some((rate, channels)),
            Some(l) if l != (rate, channels) => {
                return Err(AudioFileError::Layout(
                    "sample rate or channel count changed mid-stream",
                ))
            }
            Some(_) => {}
        }
        let exact = channels == 1 && matches!(buf, GenericAudioBufferRef::S16(_));
        let a = acc.get_or_insert_with(|| {
            if exact {
                Acc::I16(Vec::new())
            } else {
                Acc::F32(Vec::new())
            }
        });
        if let (Acc::I16(_), false) = (&*a, exact) {
            let old = std::mem::replace(a, Acc::F32(Vec::new()));
            *a = Acc::F32(old.into_f32());
        }
        match a {
            Acc::I16(v) => {
                buf.copy_to_vec_interleaved::<i16>(&mut scratch_i16);
                v.extend_from_slice(&scratch_i16);
            }
            Acc::F32(v) => {
                buf.copy_to_vec_interleaved::<f32>(&mut scratch_f32);
                let scale = 1.0 / channels as f32;
                v.extend(
                    scratch_f32
                        .chunks_exact(channels)
                        .map(|f| f.iter().sum::<f32>() * scale),
                );
            }
        }
    }
    let (Some(acc), Some((rate, _))) = (acc, layout) else {
        return Ok(Vec::new());
    };
    if rate == SAMPLE_RATE {
        if let Acc::I16(mut v) = acc {
            if let Some(edit) = mp4_audio_edit(path, rate) {
                edit.apply(&mut v);
            }
            return Ok(v);
        }
    }
    let mut mono = acc.into_f32();
    if let Some(edit) = mp4_audio_edit(path, rate) {
        edit.apply(&mut mono);
    }
    let mono = if rate == SAMPLE_RATE {
        mono
    } else {
        resample_mono(&mono, rate, SAMPLE_RATE).map_err(AudioFileError::Resample)?
    };
    Ok(mono.iter().map(|&x| to_i16(x)).collect())
}

/// The part of an MP4 audio track that plays, from its edit list, in samples at the decoded rate.
#[derive(Debug, PartialEq, Eq)]
struct Edit {
    /// Silence before the media starts (leading empty edits).
    lead: usize,
    /// Samples to drop at the start (encoder priming; `elst.media_time`).
    skip: usize,
    /// Samples that play (`elst.segment_duration`), if stated.
    keep: Option<usize>,
}

impl Edit {
    fn apply<T: Copy + Default>(&self, v: &mut Vec<T>) {
        v.drain(..self.skip.min(v.len()));
        if let Some(keep) = self.keep {
            v.truncate(keep);
        }
        if self.lead > 0 {
            v.splice(0..0, std::iter::repeat_n(T::default(), self.lead));
        }
    }
}

/// Reads the first audio track's edit list when `path` is an MP4 (`ftyp` first). symphonia 0.6 does not apply
/// it, so an AAC track would start with the encoder's priming samples (1,024 for ffmpeg's AAC). `None` when the
/// file is not an MP4, has no edit list, or it cannot be read (the audio is then used as decoded).
fn mp4_audio_edit(path: &Path, rate: u32) -> Option<Edit> {
    // Not an MP4, or a box tree the mp4 crate refuses (or panics on, caught): use the audio as decoded.
    let (mp4, _) = super::video_file::open_mp4(path).ok()?;
    let movie_scale = u64::from(mp4.timescale()).max(1);
    let track = mp4
        .tracks()
        .values()
        .filter(|t| matches!(t.track_type(), Ok(mp4::TrackType::Audio)))
        .min_by_key(|t| t.track_id())?;
    let media_scale = u64::from(track.timescale()).max(1);
    let entries = &track.trak.edts.as_ref()?.elst.as_ref()?.entries;
    // At most a day of samples: a larger value is a broken or hostile file, and the edit is then ignored.
    let day = u128::from(rate) * 86_400;
    let to_samples = |v: u64, scale: u64| -> Option<usize> {
        let n = u128::from(v) * u128::from(rate) / u128::from(scale);
        if n > day {
            return None;
        }
        usize::try_from(n).ok()
    };
    let mut lead = 0usize;
    for e in entries {
        // An empty edit (media_time = -1) is a gap before the media.
        if e.media_time == u64::from(u32::MAX) || e.media_time == u64::MAX {
            lead = lead.checked_add(to_samples(e.segment_duration, movie_scale)?)?;
            continue;
        }
        let keep = if e.segment_duration > 0 {
            Some(to_samples(e.segment_duration, movie_scale)?)
        } else {
            None
        };
        return Some(Edit {
            lead: lead.min(day as usize),
            skip: to_samples(e.media_time, media_scale)?,
            keep,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_names_the_path() {
        let e = load_audio_file("/nonexistent/x.wav").unwrap_err();
        assert!(
            e.to_string().starts_with("/nonexistent/x.wav: cannot open"),
            "{e}"
        );
    }
}

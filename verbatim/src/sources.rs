//! Participant inputs for `record` and `send`: files turned into simulator participants.
//!
//! * audio files (WAV, FLAC, MP3, AAC in MP4, Ogg Vorbis) through `bot_adapter::sim::load_audio_file`;
//! * `.opus` (Ogg Opus) through `codecs::ogg_opus`, resampled to Teams' 16 kHz mono;
//! * `.mp4` / `.m4v` / `.mov` clips: H.264 video as Teams-shaped whole frames plus the clip's audio;
//! * a screen-share clip (video only).

use std::path::Path;

use bot_adapter::sim::{self, SimParticipant, SimScreenShare, SimVideo};
use media_core::{MediaTime, Msi};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// A source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `--source` not of the form NAME=PATH.
    #[error("--source {0:?}: expected NAME=PATH")]
    Syntax(String),
    /// The simulator's loaders refused the file.
    #[error(transparent)]
    Sim(#[from] sim::SimError),
    /// An Opus file could not be decoded.
    #[error("{path}: {source}")]
    Opus {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: codecs::CodecError,
    },
    /// Resampling failed.
    #[error("{path}: resampling: {reason}")]
    Resample {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A clip has neither audio nor video, or a screen share has no video.
    #[error("{0}: no usable media")]
    Empty(String),
}

fn ext(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Reads `NAME=PATH` sources into participants (MSIs 1000+i for audio, 2000+i for video).
///
/// # Errors
/// The first source that cannot be read, naming it.
pub fn participants(sources: &[String]) -> Result<Vec<SimParticipant>, SourceError> {
    let mut out = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let (name, path) = s
            .split_once('=')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
            .ok_or_else(|| SourceError::Syntax(s.clone()))?;
        let path = Path::new(path);
        let (audio, video) = match ext(path).as_str() {
            "mp4" | "m4v" | "mov" => {
                let clip = sim::load_video_clip(path)?;
                if clip.audio.is_none() && clip.video.is_none() {
                    return Err(SourceError::Empty(path.display().to_string()));
                }
                let video = clip
                    .video
                    .map(|track| SimVideo::new(Msi(2000 + i as u32), track));
                (clip.audio.unwrap_or_default(), video)
            }
            "opus" => (opus_file(path)?, None),
            _ => (sim::load_audio_file(path)?, None),
        };
        out.push(SimParticipant {
            id: format!("8:orgid:{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1),
            video,
            ..SimParticipant::new(name, Msi(1000 + i as u32), audio)
        });
    }
    Ok(out)
}

/// Reads a screen-share clip shared by `sharer` from call start (MSI 3000).
///
/// # Errors
/// The file cannot be read or has no video.
pub fn screenshare(path: &Path, sharer: &str) -> Result<SimScreenShare, SourceError> {
    let clip = sim::load_video_clip(path)?;
    let track = clip
        .video
        .ok_or_else(|| SourceError::Empty(path.display().to_string()))?;
    Ok(SimScreenShare::new(
        sharer,
        Msi(3000),
        MediaTime::ZERO,
        track,
    ))
}

/// Decodes an Ogg Opus file to 16 kHz mono.
fn opus_file(path: &Path) -> Result<Vec<i16>, SourceError> {
    let p = path.display().to_string();
    let (format, pcm) =
        codecs::ogg_opus::decode_file(path).map_err(|source| SourceError::Opus {
            path: p.clone(),
            source,
        })?;
    let ch = format.channels.max(1) as usize;
    if format.sample_rate == 16_000 && ch == 1 {
        return Ok(pcm);
    }
    let mono: Vec<f32> = pcm
        .chunks_exact(ch)
        .map(|f| f.iter().map(|&s| f32::from(s)).sum::<f32>() / (ch as f32 * 32_768.0))
        .collect();
    if mono.is_empty() {
        return Ok(Vec::new());
    }
    let err = |e: String| SourceError::Resample {
        path: p.clone(),
        reason: e,
    };
    let mut r = Fft::<f32>::new(
        format.sample_rate as usize,
        16_000,
        1024,
        1,
        FixedSync::Both,
    )
    .map_err(|e| err(e.to_string()))?;
    let input = InterleavedSlice::new(&mono, 1, mono.len()).map_err(|e| err(e.to_string()))?;
    let out = r
        .process_all(&input, mono.len(), None)
        .map_err(|e| err(e.to_string()))?;
    Ok(out
        .take_data()
        .into_iter()
        .map(|x| (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16)
        .collect())
}

//! Participant inputs for `record` and `send`: files turned into simulator participants.
//!
//! * audio files (WAV, FLAC, MP3, AAC in MP4, Ogg Vorbis) through `bot_adapter::sim::load_audio_file`;
//! * `.opus` (Ogg Opus) through `codecs::ogg_opus`, resampled to Teams' 16 kHz mono;
//! * `.mp4` / `.m4v` / `.mov` clips: H.264 video as Teams-shaped whole frames plus the clip's audio;
//! * a screen-share clip (video only);
//! * synthetic camera and screen clips for planned meetings (`--meeting … --video`), encoded once with
//!   OpenH264 at low resolution and looped by the simulator.

use std::path::Path;
use std::sync::Arc;

use bot_adapter::sim::meeting::{MeetingKind, MeetingPlan};
use bot_adapter::sim::{
    self, MeetingSpec, SimParticipant, SimScreenShare, SimVideo, VideoAccessUnit, VideoTrack,
};
use bytes::Bytes;
use codecs::h264::{H264Encoder, H264EncoderConfig};
use codecs::picture::I420Picture;
use media_core::resample::{self, ResampleError};
use media_core::{MediaTime, Msi};

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
    #[error("{path}: resampling: {source}")]
    Resample {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: ResampleError,
    },
    /// A clip has neither audio nor video, or a screen share has no video.
    #[error("{0}: no usable media")]
    Empty(String),
    /// A synthetic clip could not be encoded.
    #[error("encoding the synthetic {what} clip: {source}")]
    Encode {
        /// Which clip.
        what: &'static str,
        /// Why.
        #[source]
        source: codecs::CodecError,
    },
    /// The meeting could not be planned (e.g. too many participants for its kind).
    #[error("--meeting {kind}")]
    Plan {
        /// The kind asked for.
        kind: MeetingKind,
        /// Why.
        #[source]
        source: sim::SimError,
    },
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
    // A 16 kHz stereo file is filtered too, so its samples stay what they have always been.
    let mono = resample::downmix_to_mono(&pcm, ch);
    let out = resample::resample_mono(&mono, format.sample_rate, 16_000)
        .map_err(|source| SourceError::Resample { path: p, source })?;
    Ok(out.into_iter().map(resample::to_i16).collect())
}

/// Frames of a synthetic camera clip (10 fps, 3 s, looped by the simulator).
const CAMERA_FRAMES: usize = 30;
/// Frames of the synthetic screen clip (2 fps, 10 s: five slides, each a key frame).
const SCREEN_FRAMES: usize = 20;

/// Encodes `frames` pictures drawn by `draw(k, picture)` at `fps`, an IDR every `gop` frames.
fn encode_clip(
    what: &'static str,
    (width, height): (u32, u32),
    fps: u32,
    gop: u32,
    frames: usize,
    mut draw: impl FnMut(usize, &mut I420Picture),
) -> Result<VideoTrack, SourceError> {
    let err = |source| SourceError::Encode { what, source };
    let mut enc = H264Encoder::new(H264EncoderConfig {
        bitrate_bps: width * height * fps / 4,
        max_frame_rate: fps as f32,
        keyframe_interval: gop,
        threads: 1,
    })
    .map_err(err)?;
    let mut pic = I420Picture::new(width, height).map_err(err)?;
    let step = 10_000_000 / i64::from(fps.max(1));
    let mut out = Vec::with_capacity(frames);
    for k in 0..frames {
        draw(k, &mut pic);
        let time = MediaTime::from_ticks(k as i64 * step);
        let f = enc.encode(&pic, time).map_err(err)?;
        out.push(VideoAccessUnit {
            time,
            data: Bytes::copy_from_slice(f.data),
        });
    }
    Ok(VideoTrack {
        width,
        height,
        frame_rate_millihz: fps * 1000,
        frames: Arc::from(out),
        duration: MediaTime::from_ticks(frames as i64 * step),
    })
}

/// A synthetic camera clip for the `index`-th camera: 320×180 at 10 fps, 3 s, an IDR every second (so a
/// camera switched back on shows up within a second), a background of the camera's own colour and a bright
/// square moving across it.
///
/// # Errors
/// [`SourceError::Encode`] if OpenH264 fails.
pub fn camera_clip(index: usize) -> Result<VideoTrack, SourceError> {
    let (w, h) = (320u32, 180u32);
    // A hue per camera: (U, V) around the colour circle.
    let angle = index as f64 * 2.399_963; // golden angle: neighbours differ
    let (u, v) = (
        (128.0 + 60.0 * angle.cos()) as u8,
        (128.0 + 60.0 * angle.sin()) as u8,
    );
    encode_clip("camera", (w, h), 10, 10, CAMERA_FRAMES, |k, pic| {
        let x0 = ((k as f64 / CAMERA_FRAMES as f64 * std::f64::consts::TAU).sin() * 100.0 + 140.0)
            as usize;
        let (ys, us, vs) = pic.planes_mut();
        for (p, y) in ys.iter_mut().enumerate() {
            let (x, row) = (p % w as usize, p / w as usize);
            let face = (x0..x0 + 40).contains(&x) && (70..110).contains(&row);
            *y = if face { 220 } else { 60 + (row / 3) as u8 };
        }
        us.fill(u);
        vs.fill(v);
    })
}

/// A synthetic screen-share clip: 640×360 "slides" (light background, dark text bars) at 2 fps, a new slide
/// every 2 s for 10 s, each slide's first frame an IDR.
///
/// # Errors
/// [`SourceError::Encode`] if OpenH264 fails.
pub fn screen_clip() -> Result<VideoTrack, SourceError> {
    let w = 640usize;
    encode_clip("screen", (640, 360), 2, 4, SCREEN_FRAMES, |k, pic| {
        let slide = k / 4;
        let (ys, us, vs) = pic.planes_mut();
        for (p, y) in ys.iter_mut().enumerate() {
            let (x, row) = (p % w, p / w);
            let line = row / 30;
            let text = row % 30 < 12
                && (1..10).contains(&line)
                && x > 40
                && x < 600 - (line * 37 + slide * 53) % 200;
            *y = if text { 40 } else { 235 };
        }
        us.fill(128);
        vs.fill(128 + slide as u8 * 4);
    })
}

/// Plans a `kind` meeting of `participants` people lasting `duration`, seeded; with `video`, participants get
/// synthetic cameras ([`camera_clip`]) and screens are shared ([`screen_clip`]).
///
/// # Errors
/// [`SourceError::Plan`] for a head count the kind does not allow; [`SourceError::Encode`] if a clip cannot be
/// encoded.
pub fn meeting(
    kind: MeetingKind,
    participants: usize,
    duration: MediaTime,
    seed: u64,
    video: Option<&MeetingClips>,
) -> Result<MeetingSpec, SourceError> {
    let mut plan = MeetingPlan::new(kind, participants, duration, seed);
    if let Some(clips) = video {
        plan.cameras = clips.cameras.clone();
        plan.screen = Some(clips.screen.clone());
    }
    plan.build()
        .map_err(|source| SourceError::Plan { kind, source })
}

/// Synthetic clips for planned meetings with video, encoded once and shared by every call that uses them.
#[derive(Clone, Debug)]
pub struct MeetingClips {
    /// One camera clip per participant slot (the planner cycles through them).
    pub cameras: Vec<VideoTrack>,
    /// The screen-share clip.
    pub screen: VideoTrack,
}

impl MeetingClips {
    /// Encodes `cameras` distinct camera clips and the screen clip.
    ///
    /// # Errors
    /// [`SourceError::Encode`] if OpenH264 fails.
    pub fn new(cameras: usize) -> Result<Self, SourceError> {
        Ok(MeetingClips {
            cameras: (0..cameras.max(1))
                .map(camera_clip)
                .collect::<Result<_, _>>()?,
            screen: screen_clip()?,
        })
    }
}

/// A one-line description of a planned meeting: who, how many re-joins, cameras and screen shares.
pub fn describe(spec: &MeetingSpec) -> String {
    let rejoins: usize = spec.participants.iter().map(|p| p.rejoins.len()).sum();
    let late = spec
        .participants
        .iter()
        .filter(|p| p.join_at >= MediaTime::from_secs(60))
        .count();
    let early = spec
        .participants
        .iter()
        .filter(|p| {
            p.rejoins
                .last()
                .map_or(p.leave_at, |r| r.leave_at)
                .is_some()
        })
        .count();
    let cameras = spec
        .participants
        .iter()
        .filter(|p| p.video.is_some())
        .count();
    let muted = spec
        .participants
        .iter()
        .filter(|p| !p.muted.is_empty())
        .count();
    format!(
        "{} participants, {} late, {} leaving early, {} re-joins, {} muting, {} cameras, {} screen shares",
        spec.participants.len(),
        late,
        early,
        rejoins,
        muted,
        cameras,
        spec.screenshares.len()
    )
}

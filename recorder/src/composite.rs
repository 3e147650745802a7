//! The meeting video: every participant's camera (or their initials), the screen share, composed at a constant
//! frame rate and encoded once, in sync with the audio.
//!
//! [`CompositeVideo`] receives the video frames the recorder releases (already in order and on the recording
//! timeline) and the dominant-speaker changes, and renders output frame `n` at `n / fps`. Frame `n` is rendered
//! only once every source frame up to its time has been released (the recorder calls [`CompositeVideo::render_until`]
//! with the time up to which its output is final), so the composite never shows a picture before its time and
//! holds the last picture of a slower or stalled source.

use std::collections::VecDeque;

use bytes::Bytes;
use codecs::composite::{Compositor, CompositorConfig, TileSource};
use codecs::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
use codecs::picture::I420Picture;
use codecs::CodecError;
use media_core::MediaTime;

use crate::video::VideoSample;

/// The composite layout named on the command line: `grid`, `speaker` (the active speaker on the stage, a
/// filmstrip of the others) or `screenshare` (the screen share on the stage).
///
/// ```
/// use codecs::composite::Layout;
/// assert_eq!(recorder::composite::parse_layout("speaker"), Ok(Layout::ActiveSpeaker));
/// assert!(recorder::composite::parse_layout("mosaic").unwrap_err().contains("expected grid"));
/// ```
///
/// # Errors
/// Any other name, with the accepted ones.
pub fn parse_layout(s: &str) -> Result<codecs::composite::Layout, String> {
    use codecs::composite::Layout;
    match s {
        "grid" => Ok(Layout::Grid),
        "speaker" | "active-speaker" => Ok(Layout::ActiveSpeaker),
        "screenshare" | "screen-share" => Ok(Layout::ScreenShareFilmstrip),
        _ => Err(format!("{s:?}: expected grid, speaker or screenshare")),
    }
}

/// What the composite shows a source as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompositeSource {
    /// A participant's camera, by participant index.
    Camera(usize),
    /// The screen share.
    ScreenShare,
}

enum Pending {
    Frame {
        source: CompositeSource,
        stream: usize,
        data: Bytes,
    },
    Dominant(Option<usize>),
}

/// Counters of the composite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompositeStats {
    /// Output frames rendered and encoded.
    pub frames: u64,
    /// Source frames decoded.
    pub decoded: u64,
    /// Source frames that failed to decode (the tile keeps its last picture).
    pub decode_errors: u64,
}

/// The composite video track (see the module docs).
pub struct CompositeVideo {
    compositor: Compositor,
    encoder: H264Encoder,
    decoders: Vec<Option<H264Decoder>>,
    out: I420Picture,
    next: u64,
    pending: VecDeque<(MediaTime, Pending)>,
    participants: Vec<TileSource>,
    stats: CompositeStats,
}

/// One encoded output frame.
pub struct CompositeFrame {
    /// Recording time.
    pub pts: MediaTime,
    /// Annex-B bytes.
    pub data: Bytes,
    /// IDR.
    pub keyframe: bool,
}

impl CompositeVideo {
    /// A composite with the given settings; the encoder gets `bitrate_bps`.
    ///
    /// # Errors
    /// Invalid settings, or the encoder cannot be created.
    pub fn new(config: CompositorConfig, bitrate_bps: u32) -> Result<Self, CodecError> {
        let encoder = H264Encoder::new(H264EncoderConfig {
            bitrate_bps,
            max_frame_rate: config.frame_rate as f32,
            keyframe_interval: config.frame_rate * 2,
            ..H264EncoderConfig::default()
        })?;
        Ok(CompositeVideo {
            out: I420Picture::new(config.width, config.height)?,
            compositor: Compositor::new(config)?,
            encoder,
            decoders: Vec::new(),
            next: 0,
            pending: VecDeque::new(),
            participants: Vec::new(),
            stats: CompositeStats::default(),
        })
    }

    /// A participant joined (tiles follow the order of joining).
    ///
    /// # Errors
    /// More participants than the layout can show.
    pub fn add_participant(&mut self, name: &str) -> Result<(), CodecError> {
        self.participants.push(TileSource::new(name));
        self.compositor.set_participants(&self.participants)
    }

    /// Queues a released video frame of `stream` (shown as `source`) for the output frames at or after its time.
    pub fn push_frame(&mut self, stream: usize, source: CompositeSource, sample: &VideoSample) {
        let p = Pending::Frame {
            source,
            stream,
            data: sample.data.clone(),
        };
        self.insert(sample.pts, p);
    }

    /// Queues a dominant-speaker change at recording time `at`.
    pub fn push_dominant(&mut self, at: MediaTime, participant: Option<usize>) {
        self.insert(at, Pending::Dominant(participant));
    }

    fn insert(&mut self, at: MediaTime, p: Pending) {
        let i = self.pending.partition_point(|(t, _)| *t <= at);
        self.pending.insert(i, (at, p));
    }

    /// Renders and encodes every output frame whose time is before `until` (recording time up to which all
    /// sources are final), calling `emit` for each.
    ///
    /// # Errors
    /// The encoder failed, or `emit` failed.
    pub fn render_until<E>(
        &mut self,
        until: MediaTime,
        mut emit: impl FnMut(CompositeFrame) -> Result<(), E>,
    ) -> Result<(), RenderError<E>> {
        loop {
            let t = self.compositor.frame_time(self.next);
            if t >= until {
                return Ok(());
            }
            while self.pending.front().is_some_and(|(at, _)| *at <= t) {
                if let Some((at, p)) = self.pending.pop_front() {
                    self.apply(at, p);
                }
            }
            self.compositor
                .render(t, &mut self.out)
                .map_err(RenderError::Codec)?;
            let f = self
                .encoder
                .encode(&self.out, t)
                .map_err(RenderError::Codec)?;
            let frame = CompositeFrame {
                pts: t,
                data: Bytes::copy_from_slice(f.data),
                keyframe: f.keyframe,
            };
            self.next += 1;
            self.stats.frames += 1;
            emit(frame).map_err(RenderError::Emit)?;
        }
    }

    fn apply(&mut self, at: MediaTime, p: Pending) {
        match p {
            Pending::Dominant(who) => {
                let _ = self.compositor.set_dominant(who, at);
            }
            Pending::Frame {
                source,
                stream,
                data,
            } => {
                if self.decoders.len() <= stream {
                    self.decoders.resize_with(stream + 1, || None);
                }
                let slot = &mut self.decoders[stream];
                if slot.is_none() {
                    *slot = H264Decoder::new().ok();
                }
                let Some(dec) = slot.as_mut() else {
                    self.stats.decode_errors += 1;
                    return;
                };
                match dec.decode(&data) {
                    Ok(Some(pic)) => {
                        self.stats.decoded += 1;
                        let r = match source {
                            CompositeSource::Camera(i) => self.compositor.update_picture(i, pic),
                            CompositeSource::ScreenShare => {
                                self.compositor.update_screenshare(Some(pic))
                            }
                        };
                        if r.is_err() {
                            self.stats.decode_errors += 1;
                        }
                    }
                    Ok(None) => {}
                    Err(_) => self.stats.decode_errors += 1,
                }
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> CompositeStats {
        self.stats
    }

    /// Participants added so far.
    pub fn participants(&self) -> usize {
        self.participants.len()
    }

    /// Where participant `index` is drawn now.
    pub fn tile_of(&self, index: usize) -> Option<codecs::composite::Rect> {
        self.compositor.tile_of(index)
    }
}

/// A composite frame could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError<E> {
    /// Rendering or encoding failed.
    #[error("composite: {0}")]
    Codec(CodecError),
    /// Writing the frame failed.
    #[error("composite output: {0}")]
    Emit(E),
}

//! `recording.mp4` of the merged folder, rebuilt: the merged mix as Opus (the recorder's settings) and,
//! when the call had video, the composite meeting video rendered again from the merged cameras and screen
//! share (tiles in the order participants joined, the stage following the dominant speaker).

use bytes::Bytes;
use codecs::composite::CompositorConfig;
use codecs::opus::{OpusApplication, OpusEncoder, OpusEncoderConfig};
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::TrackSpec;
use muxer::RecordingWriter;
use recorder::composite::{CompositeSource, CompositeVideo};

use crate::MergeError;

/// Opus bitrate of the mix (the recorder's default).
const OPUS_BITRATE: u32 = 32_000;
/// Composite bitrate (the recorder's).
const COMPOSITE_BITRATE: u32 = 1_500_000;

/// A merged video stream, in time order.
pub(crate) struct Stream {
    pub source: CompositeSource,
    pub frames: Vec<(MediaTime, Bytes)>,
}

/// What the composite is made of.
pub(crate) struct Inputs<'a> {
    pub mixed: &'a [i16],
    pub format: AudioFormat,
    /// Participants in joining order: (join time, display name); camera index = position.
    pub participants: Vec<(MediaTime, String)>,
    pub streams: Vec<Stream>,
    /// Dominant speaker changes (participant index), in time order.
    pub dominant: Vec<(MediaTime, Option<usize>)>,
    /// `None`: audio only.
    pub composite: Option<CompositorConfig>,
}

/// Counters of the rebuilt `recording.mp4`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaybackStats {
    /// Opus packets.
    pub audio_packets: u64,
    /// Composite frames.
    pub video_frames: u64,
    /// Source frames the composite could not decode (the tile keeps its last picture).
    pub decode_errors: u64,
}

enum Event {
    Join(String),
    Frame(usize, CompositeSource, Bytes),
    Dominant(Option<usize>),
}

fn codec(e: impl std::fmt::Display) -> MergeError {
    MergeError::Incompatible(format!("rebuilding recording.mp4: {e}"))
}

/// Writes `recording.mp4` into `w`, one second at a time (audio and video interleaved).
pub(crate) fn write(
    w: &mut RecordingWriter,
    inp: Inputs<'_>,
    duration: MediaTime,
) -> Result<PlaybackStats, MergeError> {
    let mut opus = OpusEncoder::new(OpusEncoderConfig {
        format: inp.format,
        bitrate_bps: OPUS_BITRATE,
        application: OpusApplication::LowDelay,
        complexity: 0,
        ..OpusEncoderConfig::default()
    })
    .map_err(codec)?;
    let spec = TrackSpec::Opus {
        channels: inp.format.channels as u8,
        pre_skip: opus.pre_skip(),
        input_sample_rate: inp.format.sample_rate,
    };
    let mut composite = match inp.composite {
        Some(cfg) => Some(CompositeVideo::new(cfg, COMPOSITE_BITRATE).map_err(codec)?),
        None => None,
    };
    let mp4 = if composite.is_some() {
        w.add_mp4("recording.mp4", &[spec, TrackSpec::h264()])?
    } else {
        w.add_mp4("recording.mp4", &[spec])?
    };
    // Every composite input as one time-ordered list.
    let mut events: Vec<(MediaTime, u8, Event)> = Vec::new();
    if composite.is_some() {
        events.extend(
            inp.participants
                .into_iter()
                .map(|(t, n)| (t, 0, Event::Join(n))),
        );
        events.extend(
            inp.dominant
                .into_iter()
                .map(|(t, d)| (t, 1, Event::Dominant(d))),
        );
        for (k, s) in inp.streams.into_iter().enumerate() {
            events.extend(
                s.frames
                    .into_iter()
                    .map(|(t, b)| (t, 2, Event::Frame(k, s.source, b))),
            );
        }
        events.sort_by_key(|e| (e.0, e.1));
    }
    let frame = opus.frame_samples() * usize::from(inp.format.channels.max(1));
    let frame_time = MediaTime::from_samples(opus.frame_samples() as i64, inp.format.sample_rate);
    let mut stats = PlaybackStats::default();
    let mut next_event = events.into_iter().peekable();
    let mut pcm = vec![0i16; frame];
    let mut sample_at = 0usize;
    let mut second = MediaTime::ZERO;
    while second < duration {
        let until = second.saturating_add(MediaTime::from_secs(1)).min(duration);
        // Audio up to `until` (a last partial frame padded with silence).
        while MediaTime::from_ticks(
            frame_time
                .ticks()
                .saturating_mul(stats.audio_packets as i64),
        ) < until
        {
            pcm.iter_mut().for_each(|x| *x = 0);
            let end = (sample_at + frame).min(inp.mixed.len());
            if let Some(src) = inp.mixed.get(sample_at..end) {
                pcm[..src.len()].copy_from_slice(src);
            }
            sample_at += frame;
            let packet = opus.encode(&pcm).map_err(codec)?;
            let pts = MediaTime::from_ticks(
                frame_time
                    .ticks()
                    .saturating_mul(stats.audio_packets as i64),
            );
            w.write_sample(mp4, 0, pts, Bytes::copy_from_slice(packet))?;
            stats.audio_packets += 1;
        }
        if let Some(c) = composite.as_mut() {
            while let Some((t, _, _)) = next_event.peek() {
                if *t >= until {
                    break;
                }
                let t = *t;
                render(c, w, mp4, t, &mut stats)?;
                if let Some((_, _, e)) = next_event.next() {
                    match e {
                        Event::Join(name) => c.add_participant(&name).map_err(codec)?,
                        Event::Dominant(d) => c.push_dominant(t, d),
                        Event::Frame(k, source, data) => c.push_frame(
                            k,
                            source,
                            &recorder::video::VideoSample {
                                pts: t,
                                data,
                                keyframe: false,
                                nv12: None,
                            },
                        ),
                    }
                }
            }
            render(c, w, mp4, until, &mut stats)?;
        }
        second = until;
    }
    if let Some(c) = &composite {
        stats.decode_errors = c.stats().decode_errors;
    }
    Ok(stats)
}

fn render(
    c: &mut CompositeVideo,
    w: &mut RecordingWriter,
    mp4: muxer::Mp4Id,
    until: MediaTime,
    stats: &mut PlaybackStats,
) -> Result<(), MergeError> {
    c.render_until(until, |f| {
        stats.video_frames += 1;
        w.write_sample(mp4, 1, f.pts, f.data)
    })
    .map_err(|e| match e {
        recorder::composite::RenderError::Emit(e) => MergeError::Write(e),
        recorder::composite::RenderError::Codec(e) => codec(e),
    })
}

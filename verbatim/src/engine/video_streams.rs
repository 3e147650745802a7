//! Video streams of the call: cameras and screen shares placed by their [`VideoTrack`]s, NV12 encoded once,
//! handed to the composite and the sink.

use media_core::{MediaTime, Msi, SourceId, StreamKind, VideoFrame};

use super::{CallRecorder, EngineError, GapTally, KeyFrameRequest, RecordingSink, TimelineEvent};
use crate::composite::CompositeSource;
use crate::video::{VideoOutput, VideoSample, VideoTrack};

/// Encodes a raw NV12 stream once, for its participant file.
struct Nv12Encoder {
    picture: codecs::picture::I420Picture,
    encoder: codecs::h264::H264Encoder,
}

pub(super) struct VideoSlot {
    nv12: Option<Nv12Encoder>,
    pub(super) path: String,
    pub(super) msi: Msi,
    pub(super) kind: StreamKind,
    pub(super) participant: Option<usize>,
    pub(super) track: VideoTrack,
    pub(super) gaps: GapTally,
}

impl CallRecorder {
    /// `participants/<base>.mp4`, or for a second camera stream of the same person (a re-join, another
    /// device) `participants/<base>-2.mp4`, `-3`, …: never a file another stream or another participant's
    /// camera uses.
    fn free_video_path(&self, base: &str) -> String {
        let taken = |p: &str| {
            self.videos.iter().any(|v| v.path == p)
                || self.slots.iter().any(|s| {
                    s.info.name != base && p == format!("participants/{}.mp4", s.info.name)
                })
        };
        let mut path = format!("participants/{base}.mp4");
        let mut n = 2;
        while taken(&path) {
            path = format!("participants/{base}-{n}.mp4");
            n += 1;
        }
        path
    }

    pub(super) fn video<S: RecordingSink>(
        &mut self,
        frame: VideoFrame,
        at: MediaTime,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        let idx = match self.video_by_msi.get(&frame.source.msi) {
            Some(&i) => i,
            None => self.add_video(frame.source, sink)?,
        };
        if self
            .videos
            .get(idx)
            .is_some_and(|v| v.participant.is_none() && v.kind == StreamKind::Video)
        {
            self.counters.unknown_video_msi_frames += 1;
        }
        let now = self.now;
        let mut out = std::mem::take(&mut self.video_out);
        if let Some(v) = self.videos.get_mut(idx) {
            v.track.push(frame, at, now, &mut out);
        }
        let r = self.write_video(idx, &mut out, sink);
        self.video_out = out;
        r
    }

    pub(super) fn write_video<S: RecordingSink>(
        &mut self,
        idx: usize,
        out: &mut VideoOutput,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        if std::mem::take(&mut out.request_keyframe) {
            if let Some(v) = self.videos.get(idx) {
                self.counters.keyframe_requests += 1;
                if !self.keyframe_requests.iter().any(|r| r.msi == v.msi) {
                    self.keyframe_requests.push(KeyFrameRequest {
                        msi: v.msi,
                        kind: v.kind,
                    });
                }
            }
        }
        if let Some(v) = self.videos.get_mut(idx) {
            for gap in v.track.drain_gaps() {
                v.gaps.add(gap);
                sink.timeline(TimelineEvent::VideoGap { video: idx, gap })
                    .map_err(EngineError::Sink)?;
            }
        }
        for mut sample in out.samples.drain(..) {
            if let Some((w, h, stride)) = sample.nv12 {
                match self
                    .videos
                    .get_mut(idx)
                    .map(|v| encode_nv12(&mut v.nv12, &sample, w, h, stride))
                {
                    Some(Ok((data, keyframe))) => {
                        sample.data = data;
                        sample.keyframe = keyframe;
                        sample.nv12 = None;
                        self.counters.nv12_frames_encoded += 1;
                    }
                    _ => {
                        self.counters.nv12_encode_errors += 1;
                        continue;
                    }
                }
            }
            if let (Some(c), Some(v)) = (self.composite.as_mut(), self.videos.get(idx)) {
                let source = match (v.kind, v.participant) {
                    (StreamKind::ScreenShare, _) => Some(CompositeSource::ScreenShare),
                    (_, Some(p)) => Some(CompositeSource::Camera(p)),
                    _ => None,
                };
                if let Some(source) = source {
                    c.push_frame(idx, source, &sample);
                }
            }
            sink.video_sample(idx, sample).map_err(EngineError::Sink)?;
        }
        Ok(())
    }

    pub(super) fn release_video<S: RecordingSink>(
        &mut self,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        let now = self.now;
        let mut out = std::mem::take(&mut self.video_out);
        let mut r = Ok(());
        for i in 0..self.videos.len() {
            if let Some(v) = self.videos.get_mut(i) {
                v.track.release(now, &mut out);
            }
            r = self.write_video(i, &mut out, sink);
            if r.is_err() {
                break;
            }
        }
        self.video_out = out;
        r
    }

    pub(super) fn add_video<S: RecordingSink>(
        &mut self,
        source: SourceId,
        sink: &mut S,
    ) -> Result<usize, EngineError<S::Error>> {
        let owner = self
            .slots
            .iter()
            .position(|s| s.info.msis.contains(&(source.msi, source.kind)));
        let path = match (source.kind, owner) {
            (StreamKind::ScreenShare, _) => {
                let n = self
                    .videos
                    .iter()
                    .filter(|v| v.kind == StreamKind::ScreenShare)
                    .count();
                if n == 0 {
                    "screenshare.mp4".to_string()
                } else {
                    format!("screenshare-{}.mp4", n + 1)
                }
            }
            (_, Some(i)) => self.free_video_path(&self.slots[i].info.name),
            (_, None) => self.free_video_path(&format!("unknown-{}", source.msi.0)),
        };
        let idx = self.videos.len();
        sink.video_stream_added(idx, &path)
            .map_err(EngineError::Sink)?;
        self.videos.push(VideoSlot {
            nv12: None,
            path,
            msi: source.msi,
            kind: source.kind,
            participant: owner,
            track: VideoTrack::new(self.cfg.track.late_window),
            gaps: GapTally::default(),
        });
        self.video_by_msi.insert(source.msi, idx);
        Ok(idx)
    }
}

/// Converts one NV12 picture to I420 and encodes it (encoder created on the first frame, resized pictures
/// reuse it).
fn encode_nv12(
    slot: &mut Option<Nv12Encoder>,
    sample: &VideoSample,
    w: u32,
    h: u32,
    stride: u32,
) -> Result<(bytes::Bytes, bool), codecs::CodecError> {
    if slot.is_none() {
        *slot = Some(Nv12Encoder {
            picture: codecs::picture::I420Picture::new(w, h)?,
            encoder: codecs::h264::H264Encoder::new(codecs::h264::H264EncoderConfig::default())?,
        });
    }
    let Some(e) = slot.as_mut() else {
        return Err(codecs::CodecError::InvalidConfig("no encoder".into()));
    };
    codecs::picture::nv12_to_i420(&sample.data, w, h, stride, &mut e.picture)?;
    let f = e.encoder.encode(&e.picture, sample.pts)?;
    Ok((bytes::Bytes::copy_from_slice(f.data), f.keyframe))
}

//! Video streams of the call: cameras and screen shares placed by their [`VideoTrack`]s; H.264 written as it
//! came, raw NV12 encoded once and the composite made on the call's video thread ([`crate::video_worker`]).

use media_core::ledger::{DropCause, Gap, GapKind};
use media_core::{MediaTime, Msi, SourceId, StreamKind, VideoFrame};

use super::{CallRecorder, EngineError, GapTally, KeyFrameRequest, RecordingSink, TimelineEvent};
use crate::composite::CompositeSource;
use crate::video::{VideoOutput, VideoTrack};
use crate::video_worker::{Done, VideoWorker};

/// How long a frame dropped before its encoder counts for in the ledger (one frame at 30 fps).
const DROPPED_FRAME: MediaTime = MediaTime::from_millis(33);

pub(super) struct VideoSlot {
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
        for sample in out.samples.drain(..) {
            let source = self
                .videos
                .get(idx)
                .and_then(|v| match (v.kind, v.participant) {
                    (StreamKind::ScreenShare, _) => Some(CompositeSource::ScreenShare),
                    (_, Some(p)) => Some(CompositeSource::Camera(p)),
                    _ => None,
                });
            let composite_source = source.filter(|_| self.composite_on);
            if sample.nv12.is_some() {
                // Encoded on the video thread; written when it comes back (`drain_video`).
                let pts = sample.pts;
                let handed = match self.video_worker() {
                    Some(w) => w.encode(idx, composite_source, sample),
                    None => false,
                };
                if !handed {
                    self.counters.nv12_encode_errors += 1;
                    let gap = Gap::new(
                        pts,
                        DROPPED_FRAME,
                        GapKind::Dropped(DropCause::QueueOverflow),
                    );
                    if let Some(v) = self.videos.get_mut(idx) {
                        v.gaps.add(gap);
                    }
                    sink.timeline(TimelineEvent::VideoGap { video: idx, gap })
                        .map_err(EngineError::Sink)?;
                }
                continue;
            }
            if let Some(source) = composite_source {
                if let Some(w) = self.composite_worker() {
                    w.composite_frame(idx, source, &sample);
                }
            }
            sink.video_sample(idx, sample).map_err(EngineError::Sink)?;
        }
        Ok(())
    }

    /// The call's video thread, started at its first use (`None` when it cannot be started: counted).
    pub(super) fn video_worker(&mut self) -> Option<&mut VideoWorker> {
        if self.video_work.is_none() && !self.counters.video_thread_failed {
            match VideoWorker::spawn(self.composite.take(), self.cfg.video_queue()) {
                Ok(w) => self.video_work = Some(w),
                Err(_) => self.counters.video_thread_failed = true,
            }
        }
        self.video_work.as_mut()
    }

    /// The video thread when a composite is recorded.
    pub(super) fn composite_worker(&mut self) -> Option<&mut VideoWorker> {
        if self.composite_on {
            self.video_worker()
        } else {
            None
        }
    }

    /// Writes what the video thread has finished: encoded NV12 frames, composite frames. With `finish_at`
    /// (the end of the call) the thread first renders the composite up to it and finishes everything it was
    /// given, and this waits for it.
    pub(super) fn drain_video<S: RecordingSink>(
        &mut self,
        sink: &mut S,
        finish_at: Option<MediaTime>,
    ) -> Result<(), EngineError<S::Error>> {
        if finish_at.is_some() && self.composite_on {
            // A call with a composite and no event that started the thread still gets its frames.
            self.video_worker();
        }
        let Some(w) = self.video_work.as_mut() else {
            return Ok(());
        };
        let counters = &mut self.counters;
        let mut result = Ok(());
        let emit = |d| {
            if result.is_ok() {
                result = write_done(d, counters, sink);
            }
        };
        match finish_at {
            Some(end) => w.finish(end, emit),
            None => w.drain(emit),
        }
        result
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

/// Writes one result of the video thread.
fn write_done<S: RecordingSink>(
    d: Done,
    counters: &mut super::CallCounters,
    sink: &mut S,
) -> Result<(), EngineError<S::Error>> {
    match d {
        Done::Encoded {
            stream,
            sample: Some(sample),
        } => {
            counters.nv12_frames_encoded += 1;
            sink.video_sample(stream, sample).map_err(EngineError::Sink)
        }
        Done::Encoded { sample: None, .. } => {
            counters.nv12_encode_errors += 1;
            Ok(())
        }
        Done::Composite(f) => sink.composite_frame(f).map_err(EngineError::Sink),
        Done::CompositeFailed(e) => Err(EngineError::Composite(e)),
    }
}

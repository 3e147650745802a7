//! Video work off the media thread: raw NV12 encoding and the composite (decode, compose, encode) run on a
//! thread of their own per call, so a call's audio ticks never wait behind a video encoder, and neither do the
//! other calls sharing its media thread.
//!
//! Where it sits: the engine ([`crate::engine::CallRecorder`]) places video frames on the recording timeline on
//! the media thread, writes H.264 passthrough frames straight to the sink (no transform, the `Bytes` moved),
//! and hands the rest to a [`VideoWorker`]:
//!
//! * raw NV12 frames, to be encoded once for the participant's file (the encoded frame comes back and is
//!   written by the media thread, in the stream's order);
//! * every released frame of a stream shown in the composite (a `Bytes` clone, no copy), the dominant-speaker
//!   changes and the participants joining, and how far the composite may be rendered;
//! * at the end of the call, a finish: the media thread waits for the worker to render and encode what is
//!   left, then writes it.
//!
//! Results come back through a second queue, drained by the media thread at each event it handles. The
//! worker sleeps on its queue (no polling).
//!
//! ## Overflow policy
//! The job queue holds [`FRAME_JOBS`] frames. When it is full:
//! * [`VideoQueuePolicy::Block`] (`record` of files, a replay faster than real time: no `max_lead`): the media
//!   thread waits for room, nothing is dropped;
//! * [`VideoQueuePolicy::Drop`] (a live call, whose time `max_lead` bounds by the wall clock): the frame is not handed over and counted. A raw NV12 frame is
//!   then missing from its participant file: a `dropped` (`queue_overflow`) video gap in the ledger. A frame
//!   for the composite: its tile keeps the last picture, and the stream's later frames are skipped for the
//!   composite until its next key frame (they could not be decoded without the one dropped), counted too.
//!
//! Render requests are coalesced (only the latest time matters) and dominant-speaker changes and joins are
//! never dropped: they wait in a short list on the media thread when the queue is full.
//!
//! # Examples
//! ```
//! use codecs::composite::CompositorConfig;
//! use media_core::MediaTime;
//! use recorder::composite::CompositeVideo;
//! use recorder::video_worker::{Done, VideoQueuePolicy, VideoWorker};
//! let cfg = CompositorConfig { width: 320, height: 180, frame_rate: 10, ..Default::default() };
//! let mut w = VideoWorker::spawn(Some(CompositeVideo::new(cfg, 300_000).unwrap()), VideoQueuePolicy::Block)
//!     .unwrap();
//! w.add_participant("alice");
//! w.render_until(MediaTime::from_secs(1));
//! let mut frames = 0;
//! w.finish(MediaTime::from_secs(1), |d| {
//!     if let Done::Composite(_) = d {
//!         frames += 1;
//!     }
//! });
//! assert_eq!(frames, 10);
//! assert_eq!(w.composite_stats().map(|s| s.frames), Some(10));
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam::channel::{self, Receiver, Sender, TrySendError};
use media_core::MediaTime;

use crate::composite::{
    CompositeFrame, CompositeSource, CompositeStats, CompositeVideo, RenderError,
};
use crate::video::VideoSample;

/// Frames (NV12 to encode, or for the composite) the job queue holds: two seconds of four 30 fps streams.
pub const FRAME_JOBS: usize = 240;
/// Room kept in the queue for the jobs that are never dropped (joins, speaker changes, render, finish).
const CONTROL_ROOM: usize = 16;

/// What happens when the worker's queue is full (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VideoQueuePolicy {
    /// The media thread waits for room (a file replayed as fast as the machine allows).
    #[default]
    Block,
    /// The frame is dropped and counted (a live call: the media thread never waits).
    Drop,
}

enum Job {
    /// A raw NV12 frame of `stream` to encode (and show as `source` in the composite, when set).
    Encode {
        stream: usize,
        source: Option<CompositeSource>,
        sample: VideoSample,
    },
    /// An encoded frame of `stream` to show as `source`.
    Frame {
        stream: usize,
        source: CompositeSource,
        sample: VideoSample,
    },
    Dominant(MediaTime, Option<usize>),
    Participant(String),
    Render(MediaTime),
    Finish(MediaTime),
}

/// A result of the worker, for the media thread to write.
pub enum Done {
    /// An NV12 frame of `stream`, encoded (or `None`: it could not be converted or encoded, dropped).
    Encoded {
        /// The video stream.
        stream: usize,
        /// The frame, H.264 now.
        sample: Option<VideoSample>,
    },
    /// A composite frame.
    Composite(CompositeFrame),
    /// The composite could not be rendered or encoded: it stops.
    CompositeFailed(codecs::CodecError),
}

/// Counters of a [`VideoWorker`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VideoWorkerStats {
    /// NV12 frames not handed over (queue full, [`VideoQueuePolicy::Drop`]).
    pub nv12_dropped: u64,
    /// Frames for the composite not handed over (queue full), or skipped after one was, until a key frame.
    pub composite_frames_dropped: u64,
    /// Times the media thread waited for room ([`VideoQueuePolicy::Block`]).
    pub waits: u64,
}

/// What the worker tells the media thread besides results: the composite's counters, and its tiles when they
/// changed.
#[derive(Clone, Debug, Default)]
struct Published {
    composite: Option<CompositeStats>,
    tiles: Option<Vec<Option<codecs::composite::Rect>>>,
}

/// The results queue carries both, in the order the worker made them.
enum Out {
    Done(Done),
    Published(Published),
}

/// The media thread's copy of what the worker published.
#[derive(Default)]
struct Last {
    composite: Option<CompositeStats>,
    tiles: Vec<Option<codecs::composite::Rect>>,
}

impl Last {
    fn take(&mut self, p: Published) {
        self.composite = p.composite.or(self.composite);
        if let Some(t) = p.tiles {
            self.tiles = t;
        }
    }
}

/// The media thread's end of one call's video thread (see the module docs).
pub struct VideoWorker {
    jobs: Sender<Job>,
    done: Receiver<Out>,
    last: Last,
    frames_queued: Arc<AtomicUsize>,
    abort: Arc<AtomicBool>,
    held: VecDeque<Job>,
    /// Results read while waiting for room in the job queue (the worker may itself wait for room for them).
    ready: VecDeque<Out>,
    rendered_to: MediaTime,
    render_pending: Option<MediaTime>,
    /// Per stream: skipping composite frames until a key frame (after one was dropped).
    skipping: Vec<bool>,
    policy: VideoQueuePolicy,
    stats: VideoWorkerStats,
    thread: Option<JoinHandle<()>>,
}

impl VideoWorker {
    /// Starts the worker thread, with the composite to render (or none: NV12 encoding only).
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn(
        composite: Option<CompositeVideo>,
        policy: VideoQueuePolicy,
    ) -> std::io::Result<VideoWorker> {
        let (jobs, jobs_rx) = channel::bounded(FRAME_JOBS + CONTROL_ROOM);
        // Results: what a full job queue can produce, plus a second of composite frames.
        let (done_tx, done) = channel::bounded(FRAME_JOBS + 64);
        let frames_queued = Arc::new(AtomicUsize::new(0));
        let abort = Arc::new(AtomicBool::new(false));
        let has_composite = composite.is_some();
        let mut work = Work {
            composite,
            encoders: Vec::new(),
            done: done_tx,
            tiles: Vec::new(),
            frames_queued: Arc::clone(&frames_queued),
            abort: Arc::clone(&abort),
            failed: false,
        };
        let thread = std::thread::Builder::new()
            .name("verbatim-video".into())
            .spawn(move || {
                lower_priority();
                work.run(jobs_rx)
            })?;
        Ok(VideoWorker {
            jobs,
            done,
            last: Last {
                composite: has_composite.then(CompositeStats::default),
                tiles: Vec::new(),
            },
            frames_queued,
            abort,
            held: VecDeque::new(),
            ready: VecDeque::new(),
            rendered_to: MediaTime::ZERO,
            render_pending: None,
            skipping: Vec::new(),
            policy,
            stats: VideoWorkerStats::default(),
            thread: Some(thread),
        })
    }

    /// Hands a raw NV12 frame of `stream` over for encoding (and the composite, as `source`). False when it
    /// was dropped (queue full under [`VideoQueuePolicy::Drop`]): the caller records the gap.
    pub fn encode(
        &mut self,
        stream: usize,
        source: Option<CompositeSource>,
        sample: VideoSample,
    ) -> bool {
        let ok = self.send_frame(Job::Encode {
            stream,
            source,
            sample,
        });
        if !ok {
            self.stats.nv12_dropped += 1;
        }
        ok
    }

    /// Hands an encoded frame of `stream` over to the composite (shown as `source`).
    pub fn composite_frame(
        &mut self,
        stream: usize,
        source: CompositeSource,
        sample: &VideoSample,
    ) {
        if self.skipping.len() <= stream {
            self.skipping.resize(stream + 1, false);
        }
        if self.skipping[stream] && !sample.keyframe {
            self.stats.composite_frames_dropped += 1;
            return;
        }
        let job = Job::Frame {
            stream,
            source,
            sample: sample.clone(),
        };
        let ok = self.send_frame(job);
        self.skipping[stream] = !ok;
        if !ok {
            self.stats.composite_frames_dropped += 1;
        }
    }

    /// A dominant-speaker change at recording time `at` (never dropped).
    pub fn dominant(&mut self, at: MediaTime, participant: Option<usize>) {
        self.send_control(Job::Dominant(at, participant));
    }

    /// A participant joined the composite (never dropped).
    pub fn add_participant(&mut self, name: &str) {
        self.send_control(Job::Participant(name.to_string()));
    }

    /// The composite may be rendered up to `until` (coalesced: a later request replaces one not yet sent).
    pub fn render_until(&mut self, until: MediaTime) {
        if until <= self.rendered_to {
            return;
        }
        self.render_pending = Some(until);
        self.flush_held();
    }

    /// Passes every result ready so far to `emit`, without waiting.
    pub fn drain(&mut self, mut emit: impl FnMut(Done)) {
        self.flush_held();
        while let Some(o) = self.ready.pop_front().or_else(|| self.done.try_recv().ok()) {
            match o {
                Out::Done(d) => emit(d),
                Out::Published(p) => self.last.take(p),
            }
        }
    }

    /// Renders the composite up to `end`, waits for the worker to finish everything handed over and passes
    /// every result to `emit` (blocking the calling thread: the end of a call). The thread is then gone.
    pub fn finish(&mut self, end: MediaTime, mut emit: impl FnMut(Done)) {
        self.render_until(end);
        while !self.held.is_empty() || self.render_pending.is_some() {
            self.flush_held_blocking();
        }
        if self.send_blocking(Job::Finish(end)) {
            // The worker sends its results in order, then closes its end after the finish.
            while let Some(o) = self.ready.pop_front().or_else(|| self.done.recv().ok()) {
                match o {
                    Out::Done(d) => emit(d),
                    Out::Published(p) => self.last.take(p),
                }
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Counters of the hand-over.
    pub fn stats(&self) -> VideoWorkerStats {
        self.stats
    }

    /// The composite's counters, as last published by the worker (final after [`Self::finish`]).
    pub fn composite_stats(&self) -> Option<CompositeStats> {
        self.last.composite
    }

    /// Where participant `index` is drawn in the composite, as last published by the worker.
    pub fn tile_of(&self, index: usize) -> Option<codecs::composite::Rect> {
        self.last.tiles.get(index).copied().flatten()
    }

    fn send_frame(&mut self, job: Job) -> bool {
        if self.policy == VideoQueuePolicy::Drop
            && self.frames_queued.load(Ordering::Acquire) >= FRAME_JOBS
        {
            return false;
        }
        self.frames_queued.fetch_add(1, Ordering::AcqRel);
        match self.jobs.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(job)) if self.policy == VideoQueuePolicy::Block => {
                self.stats.waits += 1;
                let ok = self.send_blocking(job);
                if !ok {
                    self.frames_queued.fetch_sub(1, Ordering::AcqRel);
                }
                ok
            }
            Err(_) => {
                self.frames_queued.fetch_sub(1, Ordering::AcqRel);
                false
            }
        }
    }

    fn send_control(&mut self, job: Job) {
        self.held.push_back(job);
        self.flush_held();
    }

    /// Sends the held control jobs, then the pending render, while there is room.
    fn flush_held(&mut self) {
        while let Some(job) = self.held.pop_front() {
            match self.jobs.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(job)) => {
                    self.held.push_front(job);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        if let Some(t) = self.render_pending {
            if self.jobs.try_send(Job::Render(t)).is_ok() {
                self.rendered_to = t;
                self.render_pending = None;
            }
        }
    }

    fn flush_held_blocking(&mut self) {
        if let Some(job) = self.held.pop_front() {
            self.send_blocking(job);
        } else if let Some(t) = self.render_pending.take() {
            self.send_blocking(Job::Render(t));
            self.rendered_to = t;
        }
    }

    /// Waits for room for `job`, reading results meanwhile (kept in `ready`): the worker may be waiting for
    /// room for them. False when the worker is gone.
    fn send_blocking(&mut self, mut job: Job) -> bool {
        loop {
            match self.jobs.try_send(job) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(j)) => job = j,
            }
            let mut sel = channel::Select::new();
            let read = sel.recv(&self.done);
            let write = sel.send(&self.jobs);
            let oper = sel.select();
            if oper.index() == write {
                return oper.send(&self.jobs, job).is_ok();
            }
            debug_assert_eq!(oper.index(), read);
            match oper.recv(&self.done) {
                Ok(o) => self.ready.push_back(o),
                Err(_) => return false,
            }
        }
    }
}

impl Drop for VideoWorker {
    fn drop(&mut self) {
        // Not finished (an error ended the call): the worker skips what is queued and exits.
        self.abort.store(true, Ordering::Release);
        let (tx, _) = channel::bounded(1);
        drop(std::mem::replace(&mut self.jobs, tx));
        if let Some(t) = self.thread.take() {
            // Reading the results unblocks a worker waiting for room; they end when the worker does.
            while self.done.recv().is_ok() {}
            let _ = t.join();
        }
    }
}

/// How much lower than the media threads the video thread runs (nice): a media thread that becomes runnable
/// while the video thread encodes should get the core first. Measured on this 2-core VM with the bot on the
/// same machine (8-person video stand-up, `teams-x3`, `listen --composite`): a call's step on its media
/// thread p99 5 ms at the same priority, 3 ms at +10, against 0.1 ms without the composite; the media
/// thread's own CPU per step stays ~40 µs (its thread CPU clock), the rest is waiting for a core.
const NICE: i32 = 10;

/// Lowers this thread's scheduling priority by [`NICE`] (Linux: per thread; elsewhere, or when refused,
/// nothing changes).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        let now = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
        let _ = rustix::process::setpriority_process(Some(tid), now.saturating_add(NICE));
    }
}

/// The worker thread's state.
struct Work {
    composite: Option<CompositeVideo>,
    encoders: Vec<Option<Nv12Encoder>>,
    done: Sender<Out>,
    tiles: Vec<Option<codecs::composite::Rect>>,
    frames_queued: Arc<AtomicUsize>,
    abort: Arc<AtomicBool>,
    failed: bool,
}

impl Work {
    fn run(&mut self, jobs: Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            if matches!(job, Job::Encode { .. } | Job::Frame { .. }) {
                self.frames_queued.fetch_sub(1, Ordering::AcqRel);
            }
            if self.abort.load(Ordering::Acquire) {
                continue;
            }
            let finish = matches!(job, Job::Finish(_));
            if !self.handle(job) || finish {
                break;
            }
        }
    }

    /// False once the media thread is gone.
    fn handle(&mut self, job: Job) -> bool {
        match job {
            Job::Encode {
                stream,
                source,
                sample,
            } => {
                if self.encoders.len() <= stream {
                    self.encoders.resize_with(stream + 1, || None);
                }
                let encoded = encode_nv12(&mut self.encoders[stream], &sample).ok().map(
                    |(data, keyframe)| VideoSample {
                        data,
                        keyframe,
                        nv12: None,
                        ..sample
                    },
                );
                if let (Some(c), Some(s), Some(source)) =
                    (self.composite.as_mut(), encoded.as_ref(), source)
                {
                    c.push_frame(stream, source, s);
                }
                self.done
                    .send(Out::Done(Done::Encoded {
                        stream,
                        sample: encoded,
                    }))
                    .is_ok()
            }
            Job::Frame {
                stream,
                source,
                sample,
            } => {
                if let Some(c) = self.composite.as_mut() {
                    c.push_frame(stream, source, &sample);
                }
                true
            }
            Job::Dominant(at, who) => {
                if let Some(c) = self.composite.as_mut() {
                    c.push_dominant(at, who);
                }
                self.publish()
            }
            Job::Participant(name) => {
                if let Some(c) = self.composite.as_mut() {
                    // More participants than the layout shows: the engine counts them (`not_in_composite`).
                    let _ = c.add_participant(&name);
                }
                self.publish()
            }
            Job::Render(until) | Job::Finish(until) => self.render(until),
        }
    }

    fn render(&mut self, until: MediaTime) -> bool {
        let Some(c) = self.composite.as_mut().filter(|_| !self.failed) else {
            return true;
        };
        let done = &self.done;
        let r = c.render_until(until, |f| done.send(Out::Done(Done::Composite(f))));
        let alive = match r {
            Ok(()) => true,
            Err(RenderError::Emit(_)) => false,
            Err(RenderError::Codec(e)) => {
                self.failed = true;
                done.send(Out::Done(Done::CompositeFailed(e))).is_ok()
            }
        };
        alive && self.publish()
    }

    /// Sends the composite's counters, and its tiles when they changed. False once the media thread is gone.
    fn publish(&mut self) -> bool {
        let Some(c) = self.composite.as_ref() else {
            return true;
        };
        let n = c.participants();
        let changed = self.tiles.len() != n || (0..n).any(|i| self.tiles[i] != c.tile_of(i));
        let tiles = changed.then(|| {
            self.tiles = (0..n).map(|i| c.tile_of(i)).collect();
            self.tiles.clone()
        });
        let p = Published {
            composite: Some(c.stats()),
            tiles,
        };
        self.done.send(Out::Published(p)).is_ok()
    }
}

/// Encodes a raw NV12 stream once, for its participant file.
struct Nv12Encoder {
    picture: codecs::picture::I420Picture,
    encoder: codecs::h264::H264Encoder,
}

/// Converts one NV12 picture to I420 and encodes it (encoder created on the first frame).
fn encode_nv12(
    slot: &mut Option<Nv12Encoder>,
    sample: &VideoSample,
) -> Result<(bytes::Bytes, bool), codecs::CodecError> {
    let Some((w, h, stride)) = sample.nv12 else {
        return Err(codecs::CodecError::InvalidConfig(
            "not an NV12 frame".into(),
        ));
    };
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

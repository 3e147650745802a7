//! Participant video and screen share on the recording timeline: H.264 passthrough with loss detection.
//!
//! A [`VideoTrack`] takes whole-frame Annex-B buffers in arrival order and releases them in sending order at
//! their place on the recording timeline (a [`SourceClock`] maps the sender's video timestamps exactly as for
//! audio, so variable frame rates are kept), ready to be written unchanged into an MP4 track.
//!
//! Raw NV12 frames (a bot that receives `VideoColorFormat.NV12`) are released the same way and marked; the
//! engine encodes them once with OpenH264 for the participant's file.
//!
//! ## Decodability
//! A passthrough file must decode. The track therefore
//! * starts at the first IDR frame (frames before it are dropped and counted);
//! * follows H.264 `frame_num` (from the SPS and each slice header): when a reference frame is missing — lost,
//!   late or refused — it drops frames until the next IDR and records the span as a gap.
//!
//! ## Placement on the sender's grid
//! Each frame is placed where the previous written frame was plus their spacing on the sender's clock
//! (corrected by the estimated drift) — the sender's own frame grid — as long as that is within one nominal
//! frame interval of where the clock would place it alone. The clock's placement moves as it learns the delay
//! (mostly in a stream's first second, by up to the network's jitter): followed frame by frame, that squeezes
//! frames closer than the sender made them and takes the stream off its grid, and players and `ffmpeg`
//! (which converts to a frame rate guessed from the timestamps) then see two frames in one frame interval.
//! When the clock's placement is a whole frame interval or more off the grid, the stream moves by whole
//! nominal intervals towards it — later at once; earlier as far as it can without putting two frames closer
//! than one interval (all the way after a gap). So the placement error stays under one frame, and the frames
//! stay on one grid (`ffmpeg` guesses the stream's rate right).
//!
//! ## Key-frame requests
//! The track asks the sender for an IDR ([`VideoOutput::request_keyframe`]) as soon as it sees a break in
//! `frame_num`: when a frame arrives whose `frame_num` does not follow the newest frame received so far (the
//! frame between them is lost, or late — it may still come within the late window; then the IDR was asked
//! for needlessly, which costs the sender one key frame), or, at the latest, when the wait for an IDR begins
//! (a frame missing at its deadline, or a stream that began mid-GOP). While it waits it asks again whenever a
//! frame it has to drop comes at least [`KEYFRAME_REQUEST_INTERVAL`] of recording time after the last request
//! (a request or its answer may be lost too); never more often. A stream that sends nothing is not asked again; the first IDR ends
//! the requests. The engine hands each request out ([`crate::engine::CallRecorder::take_keyframe_requests`]);
//! `verbatim listen` relays it to the bot as a `KeyFrameRequest` (Teams' `RequestKeyFrame()`), `verbatim
//! record` has no bot and only counts it.

mod frame_num;

use bytes::Bytes;
use media_core::jitter::{Insert, JitterBuffer};
use media_core::ledger::{DropCause, Gap, GapKind};
use media_core::timeline::{ClockConfig, MapOutcome, SourceClock};
use media_core::{MediaTime, SourceTimestamp, VideoCodec, VideoFrame};

use frame_num::{peek, FrameNumTracker};

/// The least recording time between two key-frame requests of a stream that is still waiting for an IDR.
pub const KEYFRAME_REQUEST_INTERVAL: MediaTime = MediaTime::from_millis(500);

/// Counters of one video stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VideoStats {
    /// Frames handed to the track.
    pub delivered: u64,
    /// Frames written.
    pub written: u64,
    /// Frames dropped while waiting for the first (or the next) IDR.
    pub waiting_for_idr: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Frames that came after their place was written.
    pub late: u64,
    /// Frames with implausible timestamps or too far ahead.
    pub outliers: u64,
    /// Frames that hold no slice (H.264) or are malformed.
    pub unsupported: u64,
    /// Raw NV12 frames encoded to H.264 for the participant's file.
    pub encoded: u64,
    /// Key frames requested.
    pub keyframe_requests: u64,
    /// Times the stream's SPS or PPS changed (a sender's encoder restarted, e.g. at another size, or answered a
    /// key-frame request with its own encoder). The frames are written as they came, parameter sets in band;
    /// the file's sample entry keeps the first ones.
    pub parameter_set_changes: u64,
}

/// A frame ready to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoSample {
    /// Recording time of the frame.
    pub pts: MediaTime,
    /// The frame's Annex-B bytes, as received.
    pub data: Bytes,
    /// An IDR frame.
    pub keyframe: bool,
    /// Set when `data` is a raw NV12 picture (width, height, stride) that must be encoded before writing.
    pub nv12: Option<(u32, u32, u32)>,
}

/// What [`VideoTrack::push`] / [`VideoTrack::release`] produced.
#[derive(Debug, Default)]
pub struct VideoOutput {
    /// Frames to write, in order.
    pub samples: Vec<VideoSample>,
    /// A key frame should be requested from the sender.
    pub request_keyframe: bool,
}

/// One video stream (see the module docs).
pub struct VideoTrack {
    clock: SourceClock,
    jitter: JitterBuffer<(MediaTime, VideoFrame)>,
    late_window: MediaTime,
    packetization: MediaTime,
    h264: FrameNumTracker,
    waiting: bool,
    /// Recording time of the last push or release (the clock of the request pacing).
    now: MediaTime,
    /// When the current wait last asked for a key frame.
    last_request: Option<MediaTime>,
    /// The sender timestamp of the last frame written (see "Placement on the sender's grid").
    run: Option<SourceTimestamp>,
    /// The newest frame received (by key): its key, `frame_num` and whether it is a reference frame.
    arrived: Option<(i64, u32, bool)>,
    /// The latest SPS received (in arrival order): its `log2_max_frame_num` sizes `frame_num`.
    arrived_sps: Option<media_core::h264::Sps>,
    /// Flushed at the end of the call: no more requests.
    ended: bool,
    gap_start: Option<MediaTime>,
    last_pts: Option<MediaTime>,
    gaps: Vec<Gap>,
    stats: VideoStats,
}

impl VideoTrack {
    /// A video stream whose frames may wait up to `late_window` for earlier ones.
    pub fn new(late_window: MediaTime) -> Self {
        let cfg = ClockConfig {
            // Keys are sender milliseconds: video frames are at least 33 ms apart and their spacing varies.
            frame: MediaTime::from_millis(1),
            // Video delivery times are not on the 20 ms audio grid.
            quantum: MediaTime::ZERO,
            ..ClockConfig::default()
        };
        VideoTrack {
            packetization: cfg.packetization,
            clock: SourceClock::new(cfg),
            // No bound on how far keys may jump: a camera off for an hour resumes an hour of keys later (the
            // clock has already refused stamps far off the sender's clock).
            jitter: JitterBuffer::new(256, i64::MAX),
            late_window,
            h264: FrameNumTracker::default(),
            waiting: true,
            now: MediaTime::ZERO,
            last_request: None,
            run: None,
            arrived: None,
            arrived_sps: None,
            ended: false,
            gap_start: None,
            last_pts: None,
            gaps: Vec::new(),
            stats: VideoStats::default(),
        }
    }

    /// Offers a frame delivered at recording time `delivered`; `now` is the current recording time.
    pub fn push(
        &mut self,
        frame: VideoFrame,
        delivered: MediaTime,
        now: MediaTime,
        out: &mut VideoOutput,
    ) {
        self.stats.delivered += 1;
        self.now = self.now.max(now);
        let m = match self.clock.map(frame.timing.timestamp, delivered) {
            MapOutcome::Mapped(m) => m,
            MapOutcome::Outlier => {
                self.stats.outliers += 1;
                return;
            }
        };
        if frame.format.codec == VideoCodec::H264 {
            self.check_arrival(m.key, &frame.payload, out);
        }
        let deadline = m
            .target
            .saturating_add(self.packetization)
            .saturating_add(self.late_window);
        let mut item = (m.target, frame);
        loop {
            match self.jitter.insert(m.key, deadline, item) {
                Insert::Full(back) => {
                    item = back;
                    if let Some((_, (t, f))) = self.jitter.pop_forced() {
                        self.emit(t, f, out);
                    }
                }
                Insert::Duplicate => {
                    self.stats.duplicates += 1;
                    break;
                }
                Insert::Late => {
                    self.stats.late += 1;
                    self.lost(m.target, out);
                    break;
                }
                Insert::TooFarAhead => {
                    self.stats.outliers += 1;
                    break;
                }
                Insert::Accepted => break,
            }
        }
        self.release(now, out);
    }

    /// Releases frames whose deadline passed by `now`.
    pub fn release(&mut self, now: MediaTime, out: &mut VideoOutput) {
        self.now = self.now.max(now);
        while let Some((_, (t, f))) = self.jitter.pop_ready(now) {
            self.emit(t, f, out);
        }
    }

    /// Releases everything (end of call).
    pub fn flush(&mut self, out: &mut VideoOutput) {
        // The call is over: nothing more will come to answer a request.
        self.ended = true;
        while let Some((_, (t, f))) = self.jitter.drain() {
            self.emit(t, f, out);
        }
        if let (Some(start), Some(end)) = (self.gap_start.take(), self.last_pts) {
            self.note_gap(start, end.max(start));
        }
    }

    /// A frame with key `key` arrived: when it is the newest so far and its `frame_num` does not follow the
    /// previous newest frame's, one in between is missing now: ask at once (see the module docs).
    fn check_arrival(&mut self, key: i64, au: &[u8], out: &mut VideoOutput) {
        let Some((idr, reference, frame_num, bits)) = peek(au, &mut self.arrived_sps) else {
            return;
        };
        let follows = match self.arrived {
            Some((k, _, _)) if key <= k => return, // late or repeated: the jitter buffer judges it
            Some((_, f, r)) => idr || frame_num == if r { (f + 1) % (1 << bits) } else { f },
            None => true,
        };
        self.arrived = Some((key, frame_num, reference));
        if !follows && !self.waiting && self.may_ask() {
            self.ask(out);
        }
    }

    /// No request in the last [`KEYFRAME_REQUEST_INTERVAL`].
    fn may_ask(&self) -> bool {
        self.last_request
            .is_none_or(|t| self.now.saturating_sub(t) >= KEYFRAME_REQUEST_INTERVAL)
    }

    /// A reference frame is missing: wait for the next IDR, asking for one at once (unless the break was seen
    /// on arrival and asked for less than [`KEYFRAME_REQUEST_INTERVAL`] ago).
    fn lost(&mut self, at: MediaTime, out: &mut VideoOutput) {
        if !self.waiting {
            self.waiting = true;
            self.gap_start = Some(self.last_pts.unwrap_or(at));
            if self.may_ask() {
                self.ask(out);
            }
        }
    }

    /// Where a frame goes that the clock alone places at `pts` (sender time `ts`, nominal rate
    /// `frame_rate_millihz`): on the sender's grid unless that is more than one frame interval off (see
    /// "Placement on the sender's grid" in the module docs).
    fn place(&self, pts: MediaTime, ts: SourceTimestamp, frame_rate_millihz: u32) -> MediaTime {
        let (Some(prev), Some(last)) = (self.run, self.last_pts) else {
            return pts;
        };
        if ts.is_unknown() || ts <= prev {
            return pts; // no timestamp, or the sender's clock went back (a new segment): the clock decides
        }
        let sent = ts.since(prev).ticks() as f64;
        let spacing = MediaTime::from_ticks((sent * (1.0 - self.clock.drift_ppm() * 1e-6)) as i64);
        let interval = if frame_rate_millihz > 0 {
            MediaTime::from_ticks(10_000_000_000 / i64::from(frame_rate_millihz))
        } else {
            spacing
        };
        let grid = last.saturating_add(spacing);
        let step = interval.ticks().max(1);
        let at = |n: i64| grid.saturating_add(MediaTime::from_ticks(n.saturating_mul(step)));
        // Whole intervals towards the clock's placement (rounded towards the grid)...
        let moved = at(pts.saturating_sub(grid).ticks() / step);
        // ...but not closer than one interval (or the sender's spacing, if less) after the previous frame.
        let floor = last.saturating_add(interval.min(spacing));
        if moved < floor {
            at(-(grid.saturating_sub(floor).ticks() / step))
        } else {
            moved
        }
    }

    /// Notes a frame written at `pts` (sender time `ts`).
    fn written(&mut self, pts: MediaTime, ts: SourceTimestamp) {
        self.last_pts = Some(pts);
        self.run = (!ts.is_unknown()).then_some(ts);
        self.stats.written += 1;
    }

    /// Asks the sender for a key frame (see the module docs).
    fn ask(&mut self, out: &mut VideoOutput) {
        if self.ended {
            return;
        }
        self.stats.keyframe_requests += 1;
        self.last_request = Some(self.now);
        out.request_keyframe = true;
    }

    fn emit(&mut self, pts: MediaTime, frame: VideoFrame, out: &mut VideoOutput) {
        // A frame placed before recording start (delivered before the first reference timestamp of the call,
        // e.g. video ahead of the first audio buffer when the bot gives no receive time) is written at the
        // start: a file cannot hold negative times, and refusing it there would lose its whole GOP.
        let pts = pts.max(MediaTime::ZERO);
        let ts = frame.timing.timestamp;
        let rate = frame.format.frame_rate_millihz;
        if frame.format.codec == VideoCodec::Nv12 {
            let pts = self.place(pts, ts, rate);
            if self.last_pts.is_some_and(|l| pts <= l) {
                self.stats.late += 1;
                return;
            }
            let f = frame.format;
            self.written(pts, ts);
            out.samples.push(VideoSample {
                pts,
                data: frame.payload,
                keyframe: false,
                nv12: Some((f.width, f.height, f.stride.max(f.width))),
            });
            return;
        }
        let info = self.h264.inspect(&frame.payload);
        let Some(info) = info else {
            self.stats.unsupported += 1;
            return;
        };
        let pts = self.place(pts, ts, rate);
        if self.last_pts.is_some_and(|l| pts <= l) {
            // Released after a later frame (forced release): not decodable in place.
            self.stats.late += 1;
            self.lost(pts, out);
            return;
        }
        if !info.idr && (self.waiting || !info.continues) {
            if !self.waiting {
                self.lost(pts, out);
            } else if self.may_ask() {
                // Still waiting (or the stream began mid-GOP and never asked): ask (again).
                self.ask(out);
            }
            self.stats.waiting_for_idr += 1;
            return;
        }
        if info.idr {
            self.waiting = false;
            self.last_request = None;
            if let Some(start) = self.gap_start.take() {
                self.note_gap(start, pts);
            }
        }
        self.h264.accept(&info);
        self.written(pts, ts);
        out.samples.push(VideoSample {
            pts,
            data: frame.payload,
            keyframe: info.idr,
            nv12: None,
        });
    }

    fn note_gap(&mut self, start: MediaTime, end: MediaTime) {
        if end > start {
            self.gaps.push(Gap::new(
                start,
                end.saturating_sub(start),
                GapKind::Dropped(DropCause::Undecodable),
            ));
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> VideoStats {
        VideoStats {
            parameter_set_changes: self.h264.changes,
            ..self.stats
        }
    }
    /// Spans where the stream was not decodable (between a loss and the next IDR), not yet taken by
    /// [`Self::drain_gaps`].
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }
    /// Takes the gaps noted so far (each is noted once it is over), oldest first.
    pub fn drain_gaps(&mut self) -> std::vec::Drain<'_, Gap> {
        self.gaps.drain(..)
    }
    /// The estimated drift of the sender's video clock, ppm.
    pub fn drift_ppm(&self) -> f64 {
        self.clock.drift_ppm()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_core::{FrameTiming, Msi, SourceId, StreamKind, VideoFormat};

    const SENDER_EPOCH: u64 = 50_000_000_000;

    /// A Baseline 160x96 SPS whose `log2_max_frame_num` is 4 (frame_num counts 0..15).
    const SPS: [u8; 8] = [0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x0A, 0x36, 0x40];

    /// A one-slice access unit: an IDR (with its SPS) or a reference P frame, with `frame_num`.
    fn au(idr: bool, frame_num: u32) -> Bytes {
        // first_mb_in_slice ue(0) = 1, slice_type ue(0) = 1, pps id ue(0) = 1, frame_num u(4), then a 1.
        let slice = 0b1110_0000 | ((frame_num as u8 & 0x0F) << 1) | 1;
        let mut v = Vec::new();
        if idr {
            v.extend_from_slice(&[0, 0, 0, 1]);
            v.extend_from_slice(&SPS);
        }
        v.extend_from_slice(&[0, 0, 0, 1, if idr { 0x65 } else { 0x41 }, slice]);
        Bytes::from(v)
    }

    /// Frame captured at `ms` on the sender's clock.
    fn frame(ms: i64, payload: Bytes) -> VideoFrame {
        VideoFrame {
            source: SourceId {
                msi: Msi(7),
                kind: StreamKind::Video,
            },
            timing: FrameTiming {
                timestamp: SourceTimestamp::new(SENDER_EPOCH + ms as u64 * 10_000),
                reference: SourceTimestamp::UNKNOWN,
                arrival: MediaTime::ZERO,
            },
            format: VideoFormat {
                codec: VideoCodec::H264,
                width: 16,
                height: 16,
                stride: 0,
                frame_rate_millihz: 30_000,
            },
            original_size: None,
            keyframe: false,
            payload,
        }
    }

    /// Plays a 30 fps stream (frame `k` captured at `k * 33` ms, delivered 20 ms later) of the frames
    /// `kinds` gives (`None` = lost in the network); returns when each key-frame request was made (recording
    /// time) and when the first IDR after a loss was written.
    fn play(kinds: impl Fn(u32) -> Option<bool>, n: u32) -> (VideoTrack, Vec<i64>, Vec<i64>) {
        let mut t = VideoTrack::new(MediaTime::from_millis(200));
        let mut out = VideoOutput::default();
        let (mut requests, mut idrs) = (Vec::new(), Vec::new());
        let mut frame_num = 0;
        for k in 0..n {
            let ms = i64::from(k) * 33;
            let now = MediaTime::from_millis(ms + 20);
            if let Some(idr) = kinds(k) {
                frame_num = if idr { 0 } else { (frame_num + 1) % 16 };
                t.push(frame(ms, au(idr, frame_num)), now, now, &mut out);
            } else {
                frame_num = (frame_num + 1) % 16; // the sender counted it
                t.release(now, &mut out);
            }
            if std::mem::take(&mut out.request_keyframe) {
                requests.push(now.as_millis());
            }
            idrs.extend(
                out.samples
                    .drain(..)
                    .filter(|s| s.keyframe)
                    .map(|_| now.as_millis()),
            );
        }
        t.flush(&mut out);
        assert!(!out.request_keyframe, "no request at the end");
        (t, requests, idrs)
    }

    #[test]
    fn a_loss_asks_for_a_key_frame_at_once_then_every_500_ms_until_the_idr() {
        // IDR, P 1..9, P 10 lost, P 11..50 (1.3 s of frames that cannot be decoded), IDR 51, P 52..80.
        let (t, requests, idrs) = play(|k| (k != 10).then_some(k == 0 || k == 51), 81);
        // The break in frame_num shows when frame 11 arrives (not only at its deadline, 200 ms later).
        assert_eq!(requests[0], 11 * 33 + 20, "{requests:?}");
        assert_eq!(requests.len(), 3, "{requests:?}");
        for w in requests.windows(2) {
            // At least 500 ms apart, and at the next frame dropped after that (33 ms later at most).
            let d = w[1] - w[0];
            assert!((500..500 + 34).contains(&d), "{requests:?}");
        }
        // None once the IDR was written.
        assert!(
            requests.iter().all(|&r| r < idrs[1]),
            "{requests:?} {idrs:?}"
        );
        let st = t.stats();
        assert_eq!((st.keyframe_requests, st.waiting_for_idr), (3, 40));
        assert_eq!(st.written, 81 - 1 - 40);
    }

    #[test]
    fn a_frame_that_is_only_late_costs_one_request_and_no_gap() {
        let mut t = VideoTrack::new(MediaTime::from_millis(200));
        let mut out = VideoOutput::default();
        let mut asked = Vec::new();
        // Frame 10 is held back 50 ms (reordered behind 11): on 11's arrival frame_num breaks, so a key frame is
        // asked for; 10 still comes within the late window and the stream never stops being decodable.
        let mut order: Vec<i64> = (0..30).collect();
        order.swap(10, 11);
        for k in order {
            let at = MediaTime::from_millis(k * 33 + if k == 10 { 70 } else { 20 });
            t.push(frame(k * 33, au(k == 0, (k % 16) as u32)), at, at, &mut out);
            if std::mem::take(&mut out.request_keyframe) {
                asked.push(k);
            }
        }
        t.flush(&mut out);
        assert_eq!(asked, [11]);
        let st = t.stats();
        assert_eq!(
            (st.keyframe_requests, st.written, st.waiting_for_idr),
            (1, 30, 0)
        );
        assert!(t.gaps().is_empty());
    }

    #[test]
    fn a_stream_that_begins_mid_gop_asks_at_once_and_again_while_it_waits() {
        // P frames only until the IDR at frame 40 (1.3 s), then P frames.
        let (t, requests, idrs) = play(|k| Some(k == 40), 60);
        assert_eq!(requests[0], 7 * 33 + 20, "{requests:?}");
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert!(
            requests.windows(2).all(|w| w[1] - w[0] >= 500),
            "{requests:?}"
        );
        assert!(requests.iter().all(|&r| r < idrs[0]));
        assert_eq!(t.stats().waiting_for_idr, 40);
        assert_eq!(t.stats().written, 20);
    }

    /// 40 frames 33 ms apart whose delay drops by `step` ms after frame 10 (the clock's placement moves that
    /// much earlier); frame 25 is lost, frame 30 is an IDR. The written times, ms.
    fn placed_after_a_delay_step(step: i64) -> Vec<i64> {
        let mut t = VideoTrack::new(MediaTime::from_millis(200));
        let mut out = VideoOutput::default();
        for k in (0..40i64).filter(|&k| k != 25) {
            let delay = if k < 10 { 20 + step } else { 20 };
            let delivered = MediaTime::from_millis(k * 33 + delay);
            let idr = k == 0 || k == 30;
            let frame_num = if k < 30 { k } else { k - 30 } as u32 % 16;
            t.push(
                frame(k * 33, au(idr, frame_num)),
                delivered,
                delivered,
                &mut out,
            );
        }
        t.flush(&mut out);
        assert_eq!(out.samples.len(), 25 + 10);
        out.samples.iter().map(|s| s.pts.as_millis()).collect()
    }

    #[test]
    fn frames_stay_on_the_senders_grid_while_the_clock_moves_less_than_a_frame() {
        // 20 ms earlier: within one frame interval, so every frame stays on the grid, after the loss too.
        let pts = placed_after_a_delay_step(20);
        assert!(pts[..25].windows(2).all(|w| w[1] - w[0] == 33), "{pts:?}");
        assert_eq!(pts[25], pts[0] + 30 * 33, "{pts:?}");
    }

    #[test]
    fn frames_move_to_a_placement_more_than_a_frame_earlier_only_where_nothing_is_squeezed() {
        // 60 ms earlier: the run keeps its 33 ms spacing (it cannot move earlier without two frames in one
        // interval); the IDR after the loss of frame 25 moves towards the clock's placement.
        let pts = placed_after_a_delay_step(60);
        assert!(pts[..25].windows(2).all(|w| w[1] - w[0] == 33), "{pts:?}");
        // Moved by whole nominal intervals (33.3 ms) towards it: one, so the frames stay on one grid.
        assert!((pts[25] - (pts[0] + 30 * 33 - 33)).abs() <= 1, "{pts:?}");
        assert!(pts[25..].windows(2).all(|w| w[1] - w[0] == 33), "{pts:?}");
    }

    #[test]
    fn a_frame_placed_before_recording_start_is_written_at_the_start() {
        let mut t = VideoTrack::new(MediaTime::from_millis(200));
        let mut out = VideoOutput::default();
        // Delivered at recording time 0: placed one packetization earlier, before the file's start.
        t.push(
            frame(0, au(true, 0)),
            MediaTime::ZERO,
            MediaTime::ZERO,
            &mut out,
        );
        t.push(
            frame(33, au(false, 1)),
            MediaTime::from_millis(33),
            MediaTime::from_millis(33),
            &mut out,
        );
        t.flush(&mut out);
        let pts: Vec<i64> = out.samples.iter().map(|s| s.pts.ticks() / 10).collect();
        // The second frame keeps the sender's 33 ms after the first (see "Spacing").
        assert_eq!(pts, [0, 33_000]);
        assert_eq!(t.stats().written, 2);
    }
}

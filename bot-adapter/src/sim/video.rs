//! Simulated video: a participant's camera and a screen share, as whole H.264 frames on their own network path.
//!
//! A video stream is a [`VideoTrack`] (Annex-B access units with presentation times, as
//! [`load_video_clip`](super::load_video_clip) reads them from an MP4) plus the stream's MSI. The sender
//! captures frame `k` when its own clock reaches the frame's clip time `t_k`, i.e. at
//! `start + t_k / (1 + drift)` on the reference clock (`start` = the participant's `join_at`, or the screen
//! share's `start_at`), and stamps it `V0 + t_k` on its video clock (`V0` = the stream's own seeded epoch;
//! same drift as the participant's audio clock). Each frame then crosses a seeded network path like the audio
//! does and is raised as one `VideoMediaBuffer` at its arrival instant (no 20 ms grid, no top-four rule).
//!
//! A stream sends only while it is *on*: a camera from each session's join to its leave minus its `off` spans,
//! a screen share from `start_at` to `stop_at` (or the sharer's leave). Each on-span starts at the clip's first
//! key frame at or after its start (a receiver cannot decode from a P frame; a clip cannot re-encode), keeps the
//! session's MSI, and is delivered on the socket it was given when it started: the screen-share socket for a
//! share, one of the [`MAX_MAIN_VIDEO`] main-video sockets for a camera (the lowest free one; none free = the
//! span is not delivered at all, `unsubscribed`). A `looped` clip repeats (clip time `n·duration + t_k`) for as
//! long as the stream is on, so an hour of camera needs one short clip in memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use bytes::Bytes;
use media_core::{MediaTime, Msi, SourceTimestamp, VideoCodec, VideoFormat};

use super::impairments::Impairments;
use super::leg::{trip, Trip};
use super::network::Path;
use super::report::VideoReport;
use crate::sdk::{VideoMediaBuffer, VideoSocket};

/// Most main-video (multiview) sockets a Teams media session has; so at most this many participants with video.
pub const MAX_MAIN_VIDEO: usize = 10;

/// One whole H.264 frame as the Teams media platform sends it: Annex-B NAL units with 4-byte start codes, only
/// NAL types 7 (SPS), 8 (PPS), 5 (IDR slice) and 1 (non-IDR slice); SPS and PPS precede every IDR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoAccessUnit {
    /// Presentation time from the clip start (the first frame of a loaded clip is at 0 unless the MP4's edit
    /// list says otherwise).
    pub time: MediaTime,
    /// The frame, Annex-B.
    pub data: Bytes,
}

impl VideoAccessUnit {
    /// True when the frame holds an IDR slice (a key frame).
    pub fn is_keyframe(&self) -> bool {
        media_core::h264::has_idr(&self.data)
    }
}

/// A coded H.264 video track: whole frames with their presentation times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoTrack {
    /// Coded width in pixels.
    pub width: u32,
    /// Coded height in pixels.
    pub height: u32,
    /// Nominal frame rate in frames per 1000 s, as `VideoFormat::frame_rate_millihz` announces it (frames /
    /// duration for a loaded clip: 30,000 for a 30 fps clip). Actual timing is from the frame times.
    pub frame_rate_millihz: u32,
    /// The frames in order of strictly increasing `time`, the first one a key frame.
    pub frames: Arc<[VideoAccessUnit]>,
    /// The end of the track: the last frame's time plus its duration (from the clip start).
    pub duration: MediaTime,
}

/// A participant's camera video.
///
/// # Examples
/// Two hand-made frames (an IDR with its parameter sets, then a P frame) delivered 20 ms after capture:
/// ```
/// use std::sync::Arc;
/// use bot_adapter::sim::{Impairments, MeetingSpec, SdkEvent, SimParticipant, SimVideo, Simulator};
/// use bot_adapter::sim::{VideoAccessUnit, VideoTrack};
/// use media_core::{MediaTime, Msi};
///
/// let idr = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88];
/// let track = VideoTrack {
///     width: 640,
///     height: 360,
///     frame_rate_millihz: 15_000,
///     frames: Arc::from(vec![
///         VideoAccessUnit { time: MediaTime::ZERO, data: idr[..].to_vec().into() },
///         VideoAccessUnit { time: MediaTime::from_micros(66_667), data: vec![0, 0, 0, 1, 0x41, 0x9a].into() },
///     ]),
///     duration: MediaTime::from_millis(133),
/// };
/// let spec = MeetingSpec {
///     participants: vec![SimParticipant {
///         video: Some(SimVideo::new(Msi(11), track)),
///         ..SimParticipant::new("alice", Msi(10), vec![0i16; 3_200])
///     }],
///     duration: None,
///     seed: 1,
///     impairments: Impairments::NONE,
///     screenshares: Vec::new(),
/// };
/// let mut sim = Simulator::new(spec).unwrap();
/// let at: Vec<MediaTime> = sim
///     .by_ref()
///     .filter(|e| matches!(e.event, SdkEvent::Video(_)))
///     .map(|e| e.at)
///     .collect();
/// assert_eq!(at, [MediaTime::from_millis(20), MediaTime::from_micros(86_667)]);
/// let v = sim.report().participants[0].video.as_ref().unwrap();
/// assert_eq!((v.sent, v.delivered), (2, 2));
/// ```
#[derive(Clone, Debug)]
pub struct SimVideo {
    /// The camera's media source id in the first session (a [`Rejoin`](super::Rejoin) brings its own):
    /// distinct from every audio, video and screen-share MSI of the meeting, not `Msi::NONE`.
    pub msi: Msi,
    /// The frames; clip time 0 is captured at the participant's `join_at` (together with audio sample 0).
    pub track: VideoTrack,
    /// Repeat the clip for as long as the camera is on (clip time `n·duration + t_k`); else play it once.
    pub looped: bool,
    /// Stretches of call time with the camera switched off (no frames; the MSI stays). Sorted,
    /// non-overlapping, not empty. After each, sending resumes at the clip's next key frame.
    pub off: Vec<super::Span>,
}

impl SimVideo {
    /// A camera that plays `track` once, on from the first join.
    pub fn new(msi: Msi, track: VideoTrack) -> SimVideo {
        SimVideo {
            msi,
            track,
            looped: false,
            off: Vec::new(),
        }
    }
}

/// A screen share (video-based screen sharing, VBSS) by one participant.
#[derive(Clone, Debug)]
pub struct SimScreenShare {
    /// The `name` of the participant who shares.
    pub sharer: String,
    /// The screen-share stream's media source id (distinct from every other MSI of the meeting).
    pub msi: Msi,
    /// When sharing starts, from call start (reference clock); the sharer must be present. Clip time 0 is
    /// captured then.
    pub start_at: MediaTime,
    /// When sharing stops; `None` = when the sharer leaves or the call ends. The roster announces both.
    pub stop_at: Option<MediaTime>,
    /// Repeat the clip until the share stops; else play it once.
    pub looped: bool,
    /// The frames.
    pub track: VideoTrack,
}

impl SimScreenShare {
    /// A share of `track`, played once from `start_at` until it ends (or the sharer leaves).
    pub fn new(
        sharer: impl Into<String>,
        msi: Msi,
        start_at: MediaTime,
        track: VideoTrack,
    ) -> SimScreenShare {
        SimScreenShare {
            sharer: sharer.into(),
            msi,
            start_at,
            stop_at: None,
            looped: false,
            track,
        }
    }
}

/// Checks a track built by hand or loaded: the reasons are what [`SimError::Participant`](super::SimError)
/// reports.
pub(crate) fn check_track(t: &VideoTrack) -> Result<(), &'static str> {
    if t.width == 0 || t.height == 0 {
        return Err("video width and height must be positive");
    }
    let Some(first) = t.frames.first() else {
        return Err("video track has no frames");
    };
    if first.time < MediaTime::ZERO {
        return Err("video frame time before the clip start");
    }
    if !first.is_keyframe() {
        return Err("video track does not start with a key frame (IDR)");
    }
    if t.frames.windows(2).any(|w| w[1].time <= w[0].time) {
        return Err("video frame times not strictly increasing");
    }
    if t.frames.iter().any(|f| f.data.is_empty()) {
        return Err("empty video frame");
    }
    if t.frames
        .iter()
        .any(|f| f.data.len() > crate::ingest::MAX_VIDEO_BYTES)
    {
        return Err("video frame larger than the 8 MiB ingest limit");
    }
    if t.frames.last().is_some_and(|f| t.duration <= f.time) {
        return Err("video duration not after the last frame");
    }
    Ok(())
}

/// One copy of a video frame in the network.
#[derive(Debug)]
struct VideoCopy {
    arrival: i64,
    seq: u64,
    /// Frame index counted across loops: `loop · frames + k`.
    frame: u64,
    /// Stream time of the frame (`loop · duration + t_k`), ticks.
    tau: i64,
    /// The on-span it was sent in (its MSI and socket).
    span: usize,
}

impl PartialEq for VideoCopy {
    fn eq(&self, other: &Self) -> bool {
        (self.arrival, self.seq) == (other.arrival, other.seq)
    }
}
impl Eq for VideoCopy {}
impl PartialOrd for VideoCopy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for VideoCopy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.arrival, self.seq).cmp(&(other.arrival, other.seq))
    }
}

/// Which report a video sender fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VideoOwner {
    /// Participant `i`'s camera.
    Participant(usize),
    /// Screen share `k` (spec order).
    ScreenShare(usize),
}

/// A stretch during which a stream is on, in reference ticks (`end` = `i64::MAX` when open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OnSpan {
    pub start: i64,
    pub end: i64,
    pub msi: Msi,
    pub socket: Option<VideoSocket>,
}

/// Everything needed to build a [`VideoSender`].
pub(crate) struct VideoSetup {
    pub owner: VideoOwner,
    pub track: VideoTrack,
    pub looped: bool,
    /// Reference ticks at which stream time 0 (clip time 0 of the first loop) is captured.
    pub origin: i64,
    /// When the stream is on, in time order, not overlapping.
    pub spans: Vec<OnSpan>,
    pub ratio: f64,
    pub epoch: u64,
    pub net_seed: u64,
    pub burst_seed: u64,
    /// The leg's own path after the uplink (see [`Leg`](super::Leg)) as `(impairments, seed, burst seed)`;
    /// `None` adds nothing.
    pub leg_path: Option<(Impairments, u64, u64)>,
}

/// One video stream's sender, network and delivery.
pub(crate) struct VideoSender {
    pub owner: VideoOwner,
    format: VideoFormat,
    frames: Arc<[VideoAccessUnit]>,
    keyframes: Vec<bool>,
    duration: i64,
    looped: bool,
    origin: i64,
    spans: Vec<OnSpan>,
    span: usize,
    need_key: bool,
    ratio: f64,
    epoch: u64,
    /// Next frame to capture, counted across loops.
    next_frame: u64,
    /// Past the last on-span: nothing more to capture.
    finished: bool,
    path: Path,
    leg_path: Option<Path>,
    in_flight: BinaryHeap<Reverse<VideoCopy>>,
    seq: u64,
    max_arrived: Option<u64>,
}

impl VideoSender {
    pub(crate) fn new(s: VideoSetup, imp: &Impairments) -> Self {
        let t = s.track;
        // The hold-back unit of the reorder impairment: the nominal frame interval (33 ms at 30 fps).
        let interval = if t.frame_rate_millihz > 0 {
            (10_000_000_000.0 / f64::from(t.frame_rate_millihz)).round() as i64
        } else {
            super::FRAME_TICKS
        };
        VideoSender {
            owner: s.owner,
            format: VideoFormat {
                codec: VideoCodec::H264,
                width: t.width,
                height: t.height,
                stride: 0,
                frame_rate_millihz: t.frame_rate_millihz,
            },
            keyframes: t.frames.iter().map(VideoAccessUnit::is_keyframe).collect(),
            frames: t.frames,
            duration: t.duration.ticks(),
            looped: s.looped,
            origin: s.origin,
            spans: s.spans,
            span: 0,
            need_key: true,
            ratio: s.ratio,
            epoch: s.epoch,
            next_frame: 0,
            finished: false,
            path: Path::with(imp, s.net_seed, s.burst_seed, interval.max(1)),
            leg_path: s
                .leg_path
                .map(|(imp, seed, burst)| Path::with(&imp, seed, burst, interval.max(1))),
            in_flight: BinaryHeap::new(),
            seq: 0,
            max_arrived: None,
        }
    }

    /// Reference ticks from call start at which stream time `t` (ticks) is captured.
    pub(crate) fn capture_ticks(origin: i64, ratio: f64, t: i64) -> i64 {
        origin.saturating_add((t as f64 / ratio).round() as i64)
    }

    /// Frame `g` (counted across loops): its clip frame and stream time, or `None` past the end.
    fn frame(&self, g: u64) -> Option<(&VideoAccessUnit, usize, i64)> {
        let n = self.frames.len() as u64;
        if n == 0 || (!self.looped && g >= n) {
            return None;
        }
        let k = (g % n) as usize;
        let f = self.frames.get(k)?;
        let tau = ((g / n) as i64)
            .saturating_mul(self.duration)
            .saturating_add(f.time.ticks());
        Some((f, k, tau))
    }

    /// When the stream has nothing more to capture (the clip's end or the last on-span's end), reference ticks.
    pub(crate) fn input_end(&self) -> i64 {
        let last = self.spans.last().map_or(self.origin, |s| s.end);
        if self.looped {
            last
        } else {
            Self::capture_ticks(self.origin, self.ratio, self.duration).min(last)
        }
    }

    /// Nothing in the network.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Copies still in the network.
    pub(crate) fn pending(&self) -> u64 {
        self.in_flight.len() as u64
    }

    /// Captures and sends every frame captured before `limit` while the stream is on.
    pub(crate) fn capture_until(&mut self, limit: i64, rep: &mut VideoReport) {
        if self.finished {
            return;
        }
        while let Some((_, k, tau)) = self.frame(self.next_frame) {
            let capture = Self::capture_ticks(self.origin, self.ratio, tau);
            if capture >= limit {
                break;
            }
            while self.spans.get(self.span).is_some_and(|s| s.end <= capture) {
                self.span += 1;
                self.need_key = true;
            }
            let Some(span) = self.spans.get(self.span).copied() else {
                // Off for good: nothing more to capture.
                self.finished = true;
                break;
            };
            let g = self.next_frame;
            self.next_frame += 1;
            if capture < span.start {
                self.need_key = true;
                continue;
            }
            if self.need_key && !self.keyframes.get(k).copied().unwrap_or(false) {
                continue; // an on-span starts at a key frame
            }
            self.need_key = false;
            if span.socket.is_none() {
                rep.unsubscribed += 1;
                continue;
            }
            rep.sent += 1;
            match trip(&mut self.path, self.leg_path.as_mut(), capture) {
                Trip::Lost { burst, on_leg } => {
                    rep.lost_network += 1;
                    rep.lost_burst += u64::from(burst);
                    rep.lost_leg += u64::from(on_leg.is_some());
                    rep.lost_frames.push(g);
                }
                Trip::Delivered {
                    arrival,
                    reordered,
                    dups,
                } => {
                    rep.reordered += u64::from(reordered);
                    for d in dups.into_iter().flatten() {
                        rep.duplicated += 1;
                        self.push(d, g, tau);
                    }
                    self.push(arrival, g, tau);
                }
            }
        }
    }

    fn push(&mut self, arrival: i64, frame: u64, tau: i64) {
        self.seq += 1;
        self.in_flight.push(Reverse(VideoCopy {
            arrival,
            seq: self.seq,
            frame,
            tau,
            span: self.span,
        }));
    }

    /// Arrival of the next copy in the network, if any.
    pub(crate) fn next_arrival(&self) -> Option<i64> {
        self.in_flight.peek().map(|Reverse(c)| c.arrival)
    }

    /// Takes the next copy if it arrives at or before `until`: its arrival and the `VideoMediaBuffer`.
    pub(crate) fn deliver_next(
        &mut self,
        until: i64,
        rep: &mut VideoReport,
    ) -> Option<(i64, VideoMediaBuffer)> {
        if self.next_arrival()? > until {
            return None;
        }
        let Reverse(c) = self.in_flight.pop()?;
        let data = self.frame(c.frame)?.0.data.clone();
        let span = *self.spans.get(c.span)?;
        let socket = span.socket?;
        match self.max_arrived {
            Some(m) if c.frame < m => rep.arrived_out_of_order += 1,
            _ => self.max_arrived = Some(c.frame),
        }
        rep.delivered += 1;
        let own = u64::try_from(c.tau).unwrap_or(0);
        Some((
            c.arrival,
            VideoMediaBuffer {
                socket,
                media_source_id: span.msi,
                timestamp: SourceTimestamp::new(self.epoch.saturating_add(own)),
                format: self.format,
                original_size: None,
                data,
            },
        ))
    }
}

/// Gives each camera on-span a main-video socket when it starts: the lowest one free, or none when all
/// [`MAX_MAIN_VIDEO`] are taken (the span is then not delivered). A socket is free again at its span's end.
/// `spans[i]` are camera `i`'s spans (in time order); ties at one instant go to the earlier camera.
pub(crate) fn assign_sockets(spans: &mut [Vec<OnSpan>]) {
    let mut order: Vec<(i64, usize, usize)> = spans
        .iter()
        .enumerate()
        .flat_map(|(c, v)| v.iter().enumerate().map(move |(i, s)| (s.start, c, i)))
        .collect();
    order.sort_unstable();
    let mut held: [Option<i64>; MAX_MAIN_VIDEO] = [None; MAX_MAIN_VIDEO];
    for (start, c, i) in order {
        for h in held.iter_mut() {
            if h.is_some_and(|end| end <= start) {
                *h = None;
            }
        }
        let Some(s) = spans.get_mut(c).and_then(|v| v.get_mut(i)) else {
            continue;
        };
        s.socket = held.iter().position(Option::is_none).map(|free| {
            held[free] = Some(s.end);
            VideoSocket::Main(free as u8)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: i64, end: i64) -> OnSpan {
        OnSpan {
            start,
            end,
            msi: Msi(1),
            socket: None,
        }
    }

    #[test]
    fn sockets_go_to_the_first_ten_and_free_up_at_span_ends() {
        // Twelve cameras on from 0 to 100; camera 0 goes off at 50 and on again at 60; camera 11 comes at 70.
        let mut spans: Vec<Vec<OnSpan>> = (0..12).map(|_| vec![span(0, 100)]).collect();
        spans[0] = vec![span(0, 50), span(60, 100)];
        spans[11] = vec![span(70, 100)];
        assign_sockets(&mut spans);
        let socket = |c: usize, i: usize| spans[c][i].socket;
        assert_eq!(socket(0, 0), Some(VideoSocket::Main(0)));
        assert_eq!(socket(9, 0), Some(VideoSocket::Main(9)));
        assert_eq!(
            socket(10, 0),
            None,
            "eleventh camera at once: not delivered"
        );
        assert_eq!(
            socket(0, 1),
            Some(VideoSocket::Main(0)),
            "socket 0 free again at 50"
        );
        assert_eq!(socket(11, 0), None);
    }
}

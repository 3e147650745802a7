//! Simulated video: a participant's camera and a screen share, as whole H.264 frames on their own network path.
//!
//! A video stream is a [`VideoTrack`] (Annex-B access units with presentation times, as
//! [`load_video_clip`](super::load_video_clip) reads them from an MP4) plus the stream's MSI. The sender
//! captures frame `k` when its own clock reaches the frame's clip time `t_k`, i.e. at
//! `start + t_k / (1 + drift)` on the reference clock (`start` = the participant's `join_at`, or the screen
//! share's `start_at`), and stamps it `V0 + t_k` on its video clock (`V0` = the stream's own seeded epoch;
//! same drift as the participant's audio clock). Each frame then crosses a seeded network path like the audio
//! does and is raised as one `VideoMediaBuffer` at its arrival instant (no 20 ms grid, no top-four rule).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use bytes::Bytes;
use media_core::{MediaTime, Msi, SourceTimestamp, VideoCodec, VideoFormat};

use super::impairments::Impairments;
use super::network::{Fate, Path};
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
        crate::annexb::has_idr(&self.data)
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
///         name: "alice".into(),
///         id: "alice-id".into(),
///         display_name: "Alice".into(),
///         msi: Msi(10),
///         audio: Arc::from(vec![0i16; 3_200]),
///         video: Some(SimVideo { msi: Msi(11), track }),
///         join_at: MediaTime::ZERO,
///         leave_at: None,
///         is_guest: false,
///     }],
///     duration: None,
///     seed: 1,
///     impairments: Impairments::NONE,
///     screenshare: None,
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
    /// The video stream's media source id: distinct from every audio, video and screen-share MSI of the
    /// meeting, not `Msi::NONE`.
    pub msi: Msi,
    /// The frames; clip time 0 is captured at the participant's `join_at` (together with audio sample 0).
    pub track: VideoTrack,
}

/// A screen share (video-based screen sharing, VBSS) by one participant.
#[derive(Clone, Debug)]
pub struct SimScreenShare {
    /// The `name` of the participant who shares.
    pub sharer: String,
    /// The screen-share stream's media source id (distinct from every other MSI of the meeting).
    pub msi: Msi,
    /// When sharing starts, from call start (reference clock); not before the sharer joins. Clip time 0 is
    /// captured then.
    pub start_at: MediaTime,
    /// The frames.
    pub track: VideoTrack,
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
    frame: usize,
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
    /// The meeting's screen share.
    ScreenShare,
}

/// Everything needed to build a [`VideoSender`].
pub(crate) struct VideoSetup {
    pub owner: VideoOwner,
    pub msi: Msi,
    pub socket: VideoSocket,
    pub track: VideoTrack,
    /// Reference ticks at which clip time 0 is captured.
    pub start: i64,
    pub leave: Option<i64>,
    pub ratio: f64,
    pub epoch: u64,
    pub net_seed: u64,
    pub burst_seed: u64,
}

/// One video stream's sender, network and delivery.
pub(crate) struct VideoSender {
    pub owner: VideoOwner,
    msi: Msi,
    socket: VideoSocket,
    format: VideoFormat,
    frames: Arc<[VideoAccessUnit]>,
    duration: i64,
    start: i64,
    leave: Option<i64>,
    ratio: f64,
    epoch: u64,
    next_frame: usize,
    path: Path,
    in_flight: BinaryHeap<Reverse<VideoCopy>>,
    seq: u64,
    max_arrived: Option<usize>,
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
            msi: s.msi,
            socket: s.socket,
            format: VideoFormat {
                codec: VideoCodec::H264,
                width: t.width,
                height: t.height,
                stride: 0,
                frame_rate_millihz: t.frame_rate_millihz,
            },
            frames: t.frames,
            duration: t.duration.ticks(),
            start: s.start,
            leave: s.leave,
            ratio: s.ratio,
            epoch: s.epoch,
            next_frame: 0,
            path: Path::with(imp, s.net_seed, s.burst_seed, interval.max(1)),
            in_flight: BinaryHeap::new(),
            seq: 0,
            max_arrived: None,
        }
    }

    /// Reference ticks from call start at which clip time `t` (ticks) is captured.
    pub(crate) fn capture_ticks(start: i64, ratio: f64, t: i64) -> i64 {
        start.saturating_add((t as f64 / ratio).round() as i64)
    }

    /// When the whole clip has been captured (its end, or the sender's leave), reference ticks.
    pub(crate) fn input_end(&self) -> i64 {
        let end = Self::capture_ticks(self.start, self.ratio, self.duration);
        self.leave.map_or(end, |l| end.min(l))
    }

    /// Nothing in the network.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Copies still in the network.
    pub(crate) fn pending(&self) -> u64 {
        self.in_flight.len() as u64
    }

    /// Captures and sends every frame captured before `limit` while present.
    pub(crate) fn capture_until(&mut self, limit: i64, rep: &mut VideoReport) {
        let limit = self.leave.map_or(limit, |l| limit.min(l));
        while let Some(f) = self.frames.get(self.next_frame) {
            let capture = Self::capture_ticks(self.start, self.ratio, f.time.ticks());
            if capture >= limit {
                break;
            }
            let k = self.next_frame;
            self.next_frame += 1;
            rep.sent += 1;
            match self.path.send(capture) {
                Fate::Lost { burst } => {
                    rep.lost_network += 1;
                    rep.lost_burst += u64::from(burst);
                    rep.lost_frames.push(k as u64);
                }
                Fate::Delivered {
                    arrival,
                    reordered,
                    dup_arrival,
                } => {
                    rep.reordered += u64::from(reordered);
                    if let Some(d) = dup_arrival {
                        rep.duplicated += 1;
                        self.push(d, k);
                    }
                    self.push(arrival, k);
                }
            }
        }
    }

    fn push(&mut self, arrival: i64, frame: usize) {
        self.seq += 1;
        self.in_flight.push(Reverse(VideoCopy {
            arrival,
            seq: self.seq,
            frame,
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
        let f = self.frames.get(c.frame)?;
        match self.max_arrived {
            Some(m) if c.frame < m => rep.arrived_out_of_order += 1,
            _ => self.max_arrived = Some(c.frame),
        }
        rep.delivered += 1;
        let own = u64::try_from(f.time.ticks()).unwrap_or(0);
        Some((
            c.arrival,
            VideoMediaBuffer {
                socket: self.socket,
                media_source_id: self.msi,
                timestamp: SourceTimestamp::new(self.epoch.saturating_add(own)),
                format: self.format,
                original_size: None,
                data: f.data.clone(),
            },
        ))
    }
}

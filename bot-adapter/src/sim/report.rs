//! Ground truth of a simulation: what happened to every frame of every participant.

use std::ops::Range;

use media_core::{MediaTime, Msi, SourceTimestamp};

use super::input::AudioInput;
use super::sender::{capture_ticks, sender_timestamp, StampRule};
use super::{Span, FRAME_TICKS};
use crate::sdk::VideoSocket;

/// What happened to one participant's frames. Filled while the simulator runs; final once it has ended.
///
/// Frames are counted by index `j` (frame `j` holds input samples `j·320 .. (j+1)·320`, captured at
/// [`capture_time(j)`](Self::capture_time) on the participant's own clock, which runs from its first join
/// across all its sessions). Every captured frame is sent, muted (`muted_not_sent`) or digital silence
/// (`silent_not_sent`). The counters obey
/// `sent = lost_network + suppressed_top4 + (delivered - duplicated) + pending_at_end + before_leg`: every sent
/// frame is lost, or yields one copy (two when duplicated) and each copy is either handed out, dropped by the
/// top-four rule, still waiting when the call ended, or handed out before a late leg's bot joined. The frame
/// lists are sorted ascending once the call has ended; [`frames`](Self::frames) walks them frame by frame (it
/// does not tell `before_leg` copies from delivered ones, nor concealed frames from real ones). Memory: the lists grow with lost, suppressed and
/// duplicated frames (a few per cent of what is sent under `teams-x3`), not with the input's length.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantReport {
    /// The participant's name.
    pub name: String,
    /// The participant's first audio MSI (later sessions' in [`sessions`](Self::sessions)).
    pub msi: Msi,
    /// Clock drift applied to this sender, in ppm (positive = its clock runs fast).
    pub drift_ppm: f64,
    /// The sender's clock epoch `S0`: frame `j` is stamped `S0 + j·20 ms` (before zerots/backjump).
    pub sender_epoch: SourceTimestamp,
    /// Frames captured while present (`sent + silent_not_sent + muted_not_sent`).
    pub captured: u64,
    /// Frames sent (not digital silence, not muted).
    pub sent: u64,
    /// Frames of digital silence, not sent (DTX).
    pub silent_not_sent: u64,
    /// Frames captured while muted, not sent (whatever they held).
    pub muted_not_sent: u64,
    /// Sent frames lost on the network (the sender's uplink or this leg's own path), burst losses included.
    pub lost_network: u64,
    /// Of `lost_network`, those lost inside a burst window.
    pub lost_burst: u64,
    /// Of `lost_network`, those lost on this leg's own path (see [`Leg`](super::Leg)): another leg may have them.
    pub lost_leg: u64,
    /// Frames lost on this leg's path and delivered as the platform's concealment instead (the previous frame
    /// at half amplitude; [`Leg::conceal`](super::Leg)): counted as delivered, their samples differ.
    pub concealed_leg: u64,
    /// Copies the platform handed out before this leg's bot joined ([`Leg::start`](super::Leg)): not received.
    pub before_leg: u64,
    /// Sent frames that the network delivered twice (extra copies).
    pub duplicated: u64,
    /// Sent frames held back behind later ones by the `reorder` impairment.
    pub reordered: u64,
    /// Copies that reached the platform after a copy of a later frame (measured, whatever the cause).
    pub arrived_out_of_order: u64,
    /// Copies dropped because the sender was not among the slot's top four.
    pub suppressed_top4: u64,
    /// Unmixed buffers handed out for this participant (duplicates included).
    pub delivered: u64,
    /// Copies still in the network or the platform's queue when the call ended.
    pub pending_at_end: u64,
    /// Indices of the frames lost on the network, ascending.
    pub lost_frames: Vec<u64>,
    /// Of `lost_frames`, those lost on this leg's own path, ascending.
    pub lost_leg_frames: Vec<u64>,
    /// Indices of the frames delivered as concealment on this leg, ascending.
    pub concealed_frames: Vec<u64>,
    /// Indices of the frames whose copy was dropped by the top-four rule (one entry per copy), ascending.
    pub suppressed_frames: Vec<u64>,
    /// Indices of the frames the network duplicated, ascending.
    pub duplicated_frames: Vec<u64>,
    /// Indices of the copies still in flight or queued when the call ended (one entry per copy), ascending.
    pub pending_frames: Vec<u64>,
    /// The participant's sessions (one per join), in time order.
    pub sessions: Vec<SessionReport>,
    /// When the participant talks (its input's talk spurts), in call time, whether or not it was present,
    /// unmuted or heard: the ground truth to score a recording's speech against.
    pub talk_spurts: Vec<Span>,
    /// When the microphone was muted ([`SimParticipant::muted`](super::SimParticipant)).
    pub muted: Vec<Span>,
    /// The participant's camera video, when it has one ([`SimParticipant::video`](super::SimParticipant)).
    pub video: Option<VideoReport>,
    pub(crate) drift_ratio: f64,
    pub(crate) join_ticks: i64,
    pub(crate) stamp: StampRule,
}

/// One session of a participant: from a join to the next leave, with its own MSIs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionReport {
    /// When the participant joined.
    pub join: MediaTime,
    /// When it left; `None` = present until the call ended.
    pub leave: Option<MediaTime>,
    /// The session's audio MSI.
    pub msi: Msi,
    /// The session's camera MSI, if the participant has a camera.
    pub video_msi: Option<Msi>,
    /// The frame indices captured in this session (complete once the call has ended).
    pub frames: Range<u64>,
}

/// What happened to one captured frame (see [`ParticipantReport::frames`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFate {
    /// Digital silence: not sent (DTX).
    Silent,
    /// Captured while muted: not sent.
    Muted,
    /// Sent and lost on the network.
    Lost,
    /// Sent; its copies (two when the network duplicated it) were handed out, dropped by the top-four rule, or
    /// still pending when the call ended.
    Sent {
        /// Copies handed out in an `UnmixedAudioBuffer`.
        delivered: u8,
        /// Copies dropped by the top-four rule.
        suppressed: u8,
        /// Copies still in flight or queued at the end.
        pending: u8,
    },
}

/// Ground truth of one captured frame: regenerate its samples with [`AudioInput::frame`]`(index)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTruth {
    /// Frame index `j`.
    pub index: u64,
    /// The audio MSI it was (or would have been) sent with: its session's.
    pub msi: Msi,
    /// When it was captured, call time.
    pub capture: MediaTime,
    /// Its `OriginalSenderTimestamp`.
    pub sender_timestamp: SourceTimestamp,
    /// What happened to it.
    pub fate: FrameFate,
}

impl ParticipantReport {
    pub(crate) fn new(
        name: String,
        msi: Msi,
        drift_ppm: f64,
        sender_epoch: SourceTimestamp,
        drift_ratio: f64,
        join_ticks: i64,
        stamp: StampRule,
    ) -> Self {
        ParticipantReport {
            name,
            msi,
            drift_ppm,
            sender_epoch,
            captured: 0,
            sent: 0,
            silent_not_sent: 0,
            muted_not_sent: 0,
            lost_network: 0,
            lost_burst: 0,
            lost_leg: 0,
            concealed_leg: 0,
            before_leg: 0,
            duplicated: 0,
            reordered: 0,
            arrived_out_of_order: 0,
            suppressed_top4: 0,
            delivered: 0,
            pending_at_end: 0,
            lost_frames: Vec::new(),
            lost_leg_frames: Vec::new(),
            concealed_frames: Vec::new(),
            suppressed_frames: Vec::new(),
            duplicated_frames: Vec::new(),
            pending_frames: Vec::new(),
            sessions: Vec::new(),
            talk_spurts: Vec::new(),
            muted: Vec::new(),
            video: None,
            drift_ratio,
            join_ticks,
            stamp,
        }
    }

    /// When frame `j` was captured, from call start on the reference clock.
    pub fn capture_time(&self, j: u64) -> MediaTime {
        MediaTime::from_ticks(capture_ticks(self.join_ticks, self.drift_ratio, j))
    }

    /// When input sample `n` was captured, from call start on the reference clock.
    pub fn sample_time(&self, n: u64) -> MediaTime {
        let own = n as f64 * (FRAME_TICKS as f64 / super::FRAME_SAMPLES as f64);
        MediaTime::from_ticks(
            self.join_ticks
                .saturating_add((own / self.drift_ratio).round() as i64),
        )
    }

    /// The session frame `j` was captured in, if any.
    pub fn session_of(&self, j: u64) -> Option<&SessionReport> {
        self.sessions.iter().find(|s| s.frames.contains(&j))
    }

    /// The `OriginalSenderTimestamp` frame `j` carries (or would carry): `S0 + j·20 ms`, 0 in the first
    /// `zerots` of its session, `by` less from `backjump=by@at` on.
    pub fn sender_timestamp(&self, j: u64) -> SourceTimestamp {
        let first = self.session_of(j).map_or(0, |s| s.frames.start);
        sender_timestamp(
            &self.stamp,
            self.sender_epoch.ticks(),
            j,
            first,
            capture_ticks(self.join_ticks, self.drift_ratio, j),
        )
    }

    /// True when frame `j` was captured inside a muted span.
    pub(crate) fn is_muted(&self, capture: MediaTime) -> bool {
        let i = self.muted.partition_point(|s| s.end <= capture);
        self.muted.get(i).is_some_and(|s| s.contains(capture))
    }

    /// Every captured frame in order, session by session, with what happened to it. `input` is the
    /// participant's [`AudioInput`] (decides which frames were digital silence). Complete once the simulator
    /// has ended; allocates nothing per frame.
    ///
    /// # Examples
    /// ```
    /// use bot_adapter::sim::{FrameFate, Impairments, MeetingSpec, SimParticipant, Simulator};
    /// use media_core::{MediaTime, Msi};
    ///
    /// let mut pcm = vec![0i16; 640];
    /// pcm.extend(vec![500i16; 640]); // frames 0, 1 silent; 2, 3 talk
    /// let p = SimParticipant::new("alice", Msi(10), pcm);
    /// let input = p.audio.clone();
    /// let mut sim = Simulator::new(MeetingSpec {
    ///     participants: vec![p],
    ///     duration: None,
    ///     seed: 1,
    ///     impairments: Impairments::NONE,
    ///     screenshares: Vec::new(),
    /// })
    /// .unwrap();
    /// sim.by_ref().count();
    /// let fates: Vec<FrameFate> = sim.report().participants[0].frames(&input).map(|f| f.fate).collect();
    /// let sent = FrameFate::Sent { delivered: 1, suppressed: 0, pending: 0 };
    /// // The call ends at the first slot after the input's end: frame 4 is captured, past the input (silence).
    /// assert_eq!(fates, [FrameFate::Silent, FrameFate::Silent, sent, sent, FrameFate::Silent]);
    /// ```
    pub fn frames<'a>(&'a self, input: &'a AudioInput) -> impl Iterator<Item = FrameTruth> + 'a {
        let mut cursors = [0usize; 4];
        self.sessions
            .iter()
            .flat_map(move |s| {
                let frames = s.frames.clone();
                frames.map(move |j| (s.msi, j))
            })
            .map(move |(msi, j)| {
                let capture = self.capture_time(j);
                let fate = if self.is_muted(capture) {
                    FrameFate::Muted
                } else if input.is_silent(j) {
                    FrameFate::Silent
                } else {
                    let lists: [&[u64]; 4] = [
                        &self.lost_frames,
                        &self.duplicated_frames,
                        &self.suppressed_frames,
                        &self.pending_frames,
                    ];
                    let mut n = [0u8; 4];
                    for ((list, c), n) in lists.iter().zip(cursors.iter_mut()).zip(n.iter_mut()) {
                        while list.get(*c).is_some_and(|&x| x < j) {
                            *c += 1;
                        }
                        while list.get(*c) == Some(&j) {
                            *c += 1;
                            *n = n.saturating_add(1);
                        }
                    }
                    if n[0] > 0 {
                        FrameFate::Lost
                    } else {
                        let copies = 1 + n[1];
                        FrameFate::Sent {
                            delivered: copies.saturating_sub(n[2]).saturating_sub(n[3]),
                            suppressed: n[2],
                            pending: n[3],
                        }
                    }
                };
                FrameTruth {
                    index: j,
                    msi,
                    capture,
                    sender_timestamp: self.sender_timestamp(j),
                    fate,
                }
            })
    }

    /// Checks the accounting invariants
    /// `sent = lost_network + suppressed_top4 + (delivered - duplicated) + pending_at_end + before_leg` and
    /// `captured = sent + silent_not_sent + muted_not_sent`.
    pub fn balanced(&self) -> bool {
        (self.lost_network
            + self.suppressed_top4
            + self.delivered
            + self.pending_at_end
            + self.before_leg)
            .checked_sub(self.duplicated)
            == Some(self.sent)
            && self.sent + self.silent_not_sent + self.muted_not_sent == self.captured
    }
}

/// Ground truth of a whole simulation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimReport {
    /// R0: the platform timestamp of call start (slot 0 has `Timestamp = R0`), on this leg's platform clock.
    pub reference_epoch: SourceTimestamp,
    /// The leg simulated (its 1-based number; 0 in a report built by hand).
    pub leg: u32,
    /// When this leg's bot joined, call time (zero for the whole call).
    pub leg_start: MediaTime,
    /// One entry per participant, in [`MeetingSpec`](super::MeetingSpec) order.
    pub participants: Vec<ParticipantReport>,
    /// `AudioMediaBuffer`s emitted so far (one per slot).
    pub slots: u64,
    /// Slots with no unmixed buffer (`is_silence`).
    pub silent_slots: u64,
    /// Dominant-speaker changes emitted.
    pub dominant_speaker_changes: u64,
    /// When the call ended (set with the `CallEnded` event).
    pub ended_at: Option<MediaTime>,
    /// The screen shares, in [`MeetingSpec::screenshares`](super::MeetingSpec) order.
    pub screenshares: Vec<VideoReport>,
}

/// What happened to the frames of one video stream (a camera or a screen share). Filled while the simulator
/// runs; final once it has ended.
///
/// Frames are counted by index `g` across loops of the clip: `g = n·F + k` is clip frame `k` (of `F =`
/// [`clip_frames`](Self::clip_frames)) in loop `n`, at stream time `n·duration + t_k`; its buffer's
/// `timestamp` is `V0 + stream time`. Every frame captured while the stream is on and has a socket is sent
/// (video has no DTX and no top-four rule), so the counters obey
/// `sent = lost_network + (delivered - duplicated) + pending_at_end + before_leg`.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoReport {
    /// The stream's first MSI (a camera gets a new one per session: see [`spans`](Self::spans)).
    pub msi: Msi,
    /// The socket of the first on-span that got one (`None`: never delivered).
    pub socket: Option<VideoSocket>,
    /// The sender's video clock epoch `V0`: a frame at stream time `τ` is stamped `V0 + τ`.
    pub sender_epoch: SourceTimestamp,
    /// Frames in the clip (one loop).
    pub clip_frames: u64,
    /// When the stream was on, with the MSI and socket of each stretch (cut at the call's end).
    pub spans: Vec<VideoSpan>,
    /// Frames sent (captured while on, with a socket, from the span's first key frame on).
    pub sent: u64,
    /// Frames captured while on but without a main-video socket (more than ten cameras on): not delivered.
    pub unsubscribed: u64,
    /// Frames lost on the network (the uplink or this leg's own path), burst losses included (not delivered at
    /// all; video is not concealed).
    pub lost_network: u64,
    /// Of `lost_network`, those lost inside a burst window.
    pub lost_burst: u64,
    /// Of `lost_network`, those lost on this leg's own path (see [`Leg`](super::Leg)).
    pub lost_leg: u64,
    /// Copies that arrived before this leg's bot joined ([`Leg::start`](super::Leg)): not received.
    pub before_leg: u64,
    /// Frames delivered twice (extra copies).
    pub duplicated: u64,
    /// Frames held back behind later ones by the `reorder` impairment.
    pub reordered: u64,
    /// Copies delivered after a copy of a later frame (measured, whatever the cause).
    pub arrived_out_of_order: u64,
    /// `VideoMediaBuffer`s raised for this stream (duplicates included).
    pub delivered: u64,
    /// Copies still in the network when the call ended.
    pub pending_at_end: u64,
    /// Indices `g` of the frames lost on the network, ascending.
    pub lost_frames: Vec<u64>,
    pub(crate) start_ticks: i64,
    pub(crate) drift_ratio: f64,
}

/// A stretch during which a video stream is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoSpan {
    /// When it went on.
    pub start: MediaTime,
    /// When it went off; `None` = on until the call ended.
    pub end: Option<MediaTime>,
    /// The stream's MSI during the span.
    pub msi: Msi,
    /// Where its frames are delivered; `None` = no main-video socket was free (not delivered).
    pub socket: Option<VideoSocket>,
}

impl VideoSpan {
    /// True when `t` lies in the span.
    pub fn contains(&self, t: MediaTime) -> bool {
        self.start <= t && self.end.is_none_or(|e| t < e)
    }
}

impl VideoReport {
    pub(crate) fn new(
        sender_epoch: SourceTimestamp,
        clip_frames: u64,
        spans: Vec<VideoSpan>,
        start_ticks: i64,
        drift_ratio: f64,
    ) -> Self {
        VideoReport {
            msi: spans.first().map_or(Msi::NONE, |s| s.msi),
            socket: spans.iter().find_map(|s| s.socket),
            sender_epoch,
            clip_frames,
            spans,
            sent: 0,
            unsubscribed: 0,
            lost_network: 0,
            lost_burst: 0,
            lost_leg: 0,
            before_leg: 0,
            duplicated: 0,
            reordered: 0,
            arrived_out_of_order: 0,
            delivered: 0,
            pending_at_end: 0,
            lost_frames: Vec::new(),
            start_ticks,
            drift_ratio,
        }
    }

    /// When a frame at stream time `stream_time` (clip time, plus whole clip durations when looped) was
    /// captured, from call start on the reference clock.
    pub fn capture_time(&self, stream_time: MediaTime) -> MediaTime {
        MediaTime::from_ticks(super::video::VideoSender::capture_ticks(
            self.start_ticks,
            self.drift_ratio,
            stream_time.ticks(),
        ))
    }

    /// Checks the accounting invariant
    /// `sent = lost_network + (delivered - duplicated) + pending_at_end + before_leg`.
    pub fn balanced(&self) -> bool {
        (self.lost_network + self.delivered + self.pending_at_end + self.before_leg)
            .checked_sub(self.duplicated)
            == Some(self.sent)
    }
}

impl SimReport {
    /// The report of the participant called `name`.
    pub fn participant(&self, name: &str) -> Option<&ParticipantReport> {
        self.participants.iter().find(|p| p.name == name)
    }
    /// The report of the participant with audio media source id `msi` (in any of its sessions).
    pub fn by_msi(&self, msi: Msi) -> Option<&ParticipantReport> {
        self.participants
            .iter()
            .find(|p| p.msi == msi || p.sessions.iter().any(|s| s.msi == msi))
    }
    /// The video stream (camera or screen share) that used `msi`.
    pub fn video_by_msi(&self, msi: Msi) -> Option<&VideoReport> {
        self.participants
            .iter()
            .filter_map(|p| p.video.as_ref())
            .chain(&self.screenshares)
            .find(|v| v.spans.iter().any(|s| s.msi == msi))
    }
}

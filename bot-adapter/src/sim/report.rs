//! Ground truth of a simulation: what happened to every frame of every participant.

use media_core::{MediaTime, Msi, SourceTimestamp};

use crate::sdk::VideoSocket;

/// What happened to one participant's frames. Filled while the simulator runs; final once it has ended.
///
/// Frames are counted by index `j` (frame `j` holds input samples `j·320 .. (j+1)·320`). The counters obey
/// `sent = lost_network + suppressed_top4 + (delivered - duplicated) + pending_at_end`: every sent frame is
/// lost, or yields one copy (two when duplicated) and each copy is either handed out, dropped by the top-four
/// rule, or still waiting when the call ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantReport {
    /// The participant's name.
    pub name: String,
    /// The participant's MSI.
    pub msi: Msi,
    /// Clock drift applied to this sender, in ppm (positive = its clock runs fast).
    pub drift_ppm: f64,
    /// The sender's clock epoch `S0`: frame `j` is stamped `S0 + j·20 ms` (before zerots/backjump).
    pub sender_epoch: SourceTimestamp,
    /// Frames captured while present (sent + not sent).
    pub captured: u64,
    /// Frames sent (not digital silence).
    pub sent: u64,
    /// Frames of digital silence, not sent (DTX).
    pub silent_not_sent: u64,
    /// Sent frames lost on the network, burst losses included.
    pub lost_network: u64,
    /// Of `lost_network`, those lost inside a burst window.
    pub lost_burst: u64,
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
    /// Indices of the frames whose copy was dropped by the top-four rule, in the order it happened.
    pub suppressed_frames: Vec<u64>,
    /// The participant's camera video, when it has one ([`SimParticipant::video`](super::SimParticipant)).
    pub video: Option<VideoReport>,
    pub(crate) drift_ratio: f64,
    pub(crate) join_ticks: i64,
}

impl ParticipantReport {
    pub(crate) fn new(
        name: String,
        msi: Msi,
        drift_ppm: f64,
        sender_epoch: SourceTimestamp,
        drift_ratio: f64,
        join_ticks: i64,
    ) -> Self {
        ParticipantReport {
            name,
            msi,
            drift_ppm,
            sender_epoch,
            captured: 0,
            sent: 0,
            silent_not_sent: 0,
            lost_network: 0,
            lost_burst: 0,
            duplicated: 0,
            reordered: 0,
            arrived_out_of_order: 0,
            suppressed_top4: 0,
            delivered: 0,
            pending_at_end: 0,
            lost_frames: Vec::new(),
            suppressed_frames: Vec::new(),
            video: None,
            drift_ratio,
            join_ticks,
        }
    }

    /// When frame `j` was captured, from call start on the reference clock.
    pub fn capture_time(&self, j: u64) -> MediaTime {
        MediaTime::from_ticks(super::sender::capture_ticks(
            self.join_ticks,
            self.drift_ratio,
            j,
        ))
    }

    /// Checks the accounting invariant
    /// `sent = lost_network + suppressed_top4 + (delivered - duplicated) + pending_at_end`.
    pub fn balanced(&self) -> bool {
        (self.lost_network + self.suppressed_top4 + self.delivered + self.pending_at_end)
            .checked_sub(self.duplicated)
            == Some(self.sent)
    }
}

/// Ground truth of a whole simulation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimReport {
    /// R0: the platform timestamp of call start (slot 0 has `Timestamp = R0`).
    pub reference_epoch: SourceTimestamp,
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
    /// The screen share, when the meeting has one ([`MeetingSpec::screenshare`](super::MeetingSpec)).
    pub screenshare: Option<VideoReport>,
}

/// What happened to the frames of one video stream (a camera or the screen share). Filled while the simulator
/// runs; final once it has ended.
///
/// Frames are counted by index `k` into the stream's [`VideoTrack::frames`](super::VideoTrack). Every frame
/// captured while the sender is present is sent (video has no DTX and no top-four rule), so the counters obey
/// `sent = lost_network + (delivered - duplicated) + pending_at_end`.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoReport {
    /// The stream's MSI.
    pub msi: Msi,
    /// The socket its buffers arrive on.
    pub socket: VideoSocket,
    /// The sender's video clock epoch `V0`: frame `k` is stamped `V0 + t_k` (`t_k` = its clip time).
    pub sender_epoch: SourceTimestamp,
    /// Frames captured and sent (every frame whose capture time fell while the sender was present and before
    /// the end of the call).
    pub sent: u64,
    /// Frames lost on the network, burst losses included (not delivered at all).
    pub lost_network: u64,
    /// Of `lost_network`, those lost inside a burst window.
    pub lost_burst: u64,
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
    /// Indices of the frames lost on the network, ascending.
    pub lost_frames: Vec<u64>,
    pub(crate) start_ticks: i64,
    pub(crate) drift_ratio: f64,
}

impl VideoReport {
    pub(crate) fn new(
        msi: Msi,
        socket: VideoSocket,
        sender_epoch: SourceTimestamp,
        start_ticks: i64,
        drift_ratio: f64,
    ) -> Self {
        VideoReport {
            msi,
            socket,
            sender_epoch,
            sent: 0,
            lost_network: 0,
            lost_burst: 0,
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

    /// When a frame at clip time `clip_time` was captured, from call start on the reference clock.
    pub fn capture_time(&self, clip_time: MediaTime) -> MediaTime {
        MediaTime::from_ticks(super::video::VideoSender::capture_ticks(
            self.start_ticks,
            self.drift_ratio,
            clip_time.ticks(),
        ))
    }

    /// Checks the accounting invariant `sent = lost_network + (delivered - duplicated) + pending_at_end`.
    pub fn balanced(&self) -> bool {
        (self.lost_network + self.delivered + self.pending_at_end).checked_sub(self.duplicated)
            == Some(self.sent)
    }
}

impl SimReport {
    /// The report of the participant called `name`.
    pub fn participant(&self, name: &str) -> Option<&ParticipantReport> {
        self.participants.iter().find(|p| p.name == name)
    }
    /// The report of the participant with media source id `msi`.
    pub fn by_msi(&self, msi: Msi) -> Option<&ParticipantReport> {
        self.participants.iter().find(|p| p.msi == msi)
    }
}

//! The recorder's account of a call: who was there, what each stream received, wrote and lost.

use media_core::track::TrackStats;
use media_core::{MediaTime, Msi, SourceTimestamp, StreamKind};

use super::GapTally;
use crate::composite::CompositeStats;
use crate::video::VideoStats;

/// What is known about a recorded participant.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantInfo {
    /// File-safe unique name (the stem is `participants/<name>.wav`).
    pub name: String,
    /// Identity from the roster (AAD id or guest id); `None` for a source that never appeared in the roster.
    pub id: Option<String>,
    /// Display name from the roster.
    pub display_name: Option<String>,
    /// True for guests.
    pub is_guest: bool,
    /// Media source ids seen for this participant, with their kinds: the newest
    /// [`super::MAX_SOURCE_IDS_PER_PARTICIPANT`].
    pub msis: Vec<(Msi, StreamKind)>,
    /// Older source ids forgotten to keep `msis` within its limit (re-joins bring new ones; media is not
    /// affected).
    pub msis_forgotten: u64,
    /// Recording time of joining (roster) or of the first frame.
    pub joined: MediaTime,
    /// Recording time of leaving, if they left.
    pub left: Option<MediaTime>,
}

impl ParticipantInfo {
    /// A participant known only by `name` from `joined` on: no roster identity, no source ids yet (a sink's
    /// tests, an embedder's own sources; the recorder fills in the rest as the roster and the media tell it).
    ///
    /// ```
    /// use recorder::engine::ParticipantInfo;
    /// use recorder::media_core::MediaTime;
    /// let p = ParticipantInfo::new("alice", MediaTime::from_secs(2));
    /// assert_eq!(p.name, "alice");
    /// assert_eq!(p.joined, MediaTime::from_secs(2));
    /// assert!(p.id.is_none() && p.msis.is_empty() && p.left.is_none());
    /// ```
    pub fn new(name: impl Into<String>, joined: MediaTime) -> Self {
        ParticipantInfo {
            name: name.into(),
            id: None,
            display_name: None,
            is_guest: false,
            msis: Vec::new(),
            msis_forgotten: 0,
            joined,
            left: None,
        }
    }
}

/// Counters of the whole call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounters {
    /// Events handled.
    pub events: u64,
    /// Audio frames from an MSI that no roster entry named (recorded as `unknown-<msi>`).
    pub unknown_msi_frames: u64,
    /// Events after the call ended (ignored).
    pub after_end: u64,
    /// Video frames from an MSI no roster entry named (recorded as `participants/unknown-<msi>.mp4`).
    pub unknown_video_msi_frames: u64,
    /// Key frames requested from senders.
    pub keyframe_requests: u64,
    /// Participants beyond what the composite layout shows.
    pub not_in_composite: u64,
    /// Participants whose audio is at another rate or channel count, converted to the recording's format.
    pub resampled_sources: u64,
    /// Raw NV12 video frames encoded to H.264.
    pub nv12_frames_encoded: u64,
    /// Raw NV12 video frames that could not be converted or encoded, or not handed to the video thread
    /// (dropped; the latter also a `queue_overflow` video gap).
    pub nv12_encode_errors: u64,
    /// Raw NV12 frames not handed to the call's video thread because its queue was full (a live call).
    pub video_frames_dropped_for_thread: u64,
    /// Frames not shown in the composite because the video thread's queue was full (or skipped after such a
    /// frame until the stream's next key frame); the tile kept its last picture.
    pub composite_frames_dropped: u64,
    /// The call's video thread could not be started (no NV12 encoding, no composite).
    pub video_thread_failed: bool,
    /// Audio buffer timestamps (platform clock) that went backwards (time never moves back).
    pub reference_backwards: u64,
    /// Reference timestamps refused: far off the call's own clock, or ahead of the wall clock by more than
    /// the lead allowed (the message was handled at the call's current time).
    pub reference_refused: u64,
    /// Confirmed discontinuities of the platform clock (the timeline went on from where it was).
    pub reference_jumps: u64,
    /// True when the call's first message had an outlier timestamp and time zero was taken from the others.
    pub origin_moved: bool,
}

/// A participant's final account.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticipantSummary {
    /// Who.
    pub info: ParticipantInfo,
    /// Track counters.
    pub stats: TrackStats,
    /// Spans without media (each one went to [`RecordingSink::timeline`](super::RecordingSink::timeline)).
    pub gaps: GapTally,
    /// Estimated clock drift of the sender, ppm.
    pub drift_ppm: f64,
    /// Frames without a sender timestamp.
    pub untimed: u64,
    /// Timestamp segments (jumps) seen.
    pub segments: u64,
    /// Frames refused because the participant already had the most audio sources allowed at once
    /// (`MAX_SOURCES_PER_PARTICIPANT`); delivered, not in `stats.delivered`.
    pub limit_dropped: u64,
}

/// A video stream's final account.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoSummary {
    /// File written, relative to the recording folder.
    pub path: String,
    /// The stream's MSI.
    pub msi: Msi,
    /// Camera or screen share.
    pub kind: StreamKind,
    /// The participant's stem name, when known.
    pub participant: Option<String>,
    /// Counters.
    pub stats: VideoStats,
    /// Spans that are not decodable, loss until the next IDR (each one went to [`RecordingSink::timeline`](super::RecordingSink::timeline)).
    pub gaps: GapTally,
    /// Estimated drift of the sender's video clock, ppm.
    pub drift_ppm: f64,
}

/// The recorder's final account.
#[derive(Clone, Debug, PartialEq)]
pub struct CallSummary {
    /// Recording length.
    pub duration: MediaTime,
    /// Reference clock value at recording time zero.
    pub origin: Option<SourceTimestamp>,
    /// Ticks produced.
    pub ticks: u64,
    /// Every participant.
    pub participants: Vec<ParticipantSummary>,
    /// Every video stream (cameras and screen share).
    pub videos: Vec<VideoSummary>,
    /// Call-wide counters.
    pub counters: CallCounters,
    /// Mixed samples that saturated.
    pub mix_clipped: u64,
    /// The composite video's counters, when it is recorded.
    pub composite: Option<CompositeStats>,
    /// Where each participant (by index) is drawn in the composite at the end of the call.
    pub composite_tiles: Vec<Option<codecs::composite::Rect>>,
    /// Dominant-speaker changes (each one went to [`RecordingSink::timeline`](super::RecordingSink::timeline)).
    pub dominant_speaker_changes: u64,
}

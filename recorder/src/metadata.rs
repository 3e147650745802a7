//! `metadata.json`: what a compliance officer needs to know about a recording, in one file.
//!
//! Times on the recording timeline are integers in microseconds (`*_us`) from recording start; wall-clock times
//! are RFC 3339 UTC with the clock source named (RTS 25 asks for the source and its accuracy).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use media_core::{MediaTime, StreamKind};
use serde::Serialize;

use crate::engine::{CallSummary, GapTally, ParticipantSummary, TimelineEvent};
use media_core::track::Gap;

/// Version of this file's layout.
pub const FORMAT_VERSION: u32 = 1;

/// The whole file.
#[derive(Debug, Serialize)]
pub struct Metadata {
    /// Layout version.
    pub format_version: u32,
    /// The program that wrote it.
    pub recorder: RecorderInfo,
    /// The call.
    pub call: CallInfo,
    /// The recording as a whole.
    pub recording: RecordingInfo,
    /// Everyone recorded.
    pub participants: Vec<ParticipantMeta>,
    /// Video streams (cameras, screen share).
    pub videos: Vec<VideoMeta>,
    /// Dominant-speaker changes.
    pub dominant_speakers: Vec<DominantMeta>,
    /// Call-wide counters.
    pub counters: CountersMeta,
}

/// The program that wrote the recording.
#[derive(Debug, Serialize)]
pub struct RecorderInfo {
    /// Always `verbatim`.
    pub name: &'static str,
    /// Crate version.
    pub version: &'static str,
}

/// The call.
#[derive(Clone, Debug, Serialize, Default)]
pub struct CallInfo {
    /// Call id (a simulated call gets a generated one).
    pub id: String,
    /// Where the media came from: `simulation`, `files`, `grpc`.
    pub source: String,
    /// Impairment spec applied (simulation only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impairments: Option<String>,
    /// Seed of the simulation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The Teams call as the bot described it (gRPC ingest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teams: Option<TeamsCallMeta>,
    /// The recording-status handshake with Graph (gRPC ingest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_status: Option<RecordingStatusMeta>,
    /// Spans during which recording was paused (written as silence), who asked and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pauses: Vec<PauseMeta>,
    /// What the gRPC service refused before the recorder saw it (gRPC ingest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_refused: Option<IngestRefusedMeta>,
    /// Which recorder bot of the call this folder is (Teams invites up to two, each receives the media on its
    /// own): the bot's leg id, `"1"` when empty (always written).
    #[serde(serialize_with = "leg_or_first")]
    pub leg: String,
    /// The leg's own path impairments, `--impair` syntax (simulation only, when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leg_impairments: Option<String>,
    /// The leg's span of the call, `START-END` in call time (simulation only, when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leg_span: Option<String>,
    /// The leg's platform concealed frames lost on its own path (simulation only, written when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub leg_conceal: bool,
    /// The earlier folder of the same leg that this one continues (the bot reconnected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continues: Option<ContinuesMeta>,
    /// Why a recording that is `interrupted` ended without the call's end: e.g. "no message for 30 s" (the
    /// bot stopped sending), "the bot closed the stream without call_end", "connection lost: …".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted_because: Option<String>,
}

fn leg_or_first<S: serde::Serializer>(leg: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if leg.is_empty() { "1" } else { leg })
}

/// `call.continues`: the folder of the same leg this one follows after a reconnect.
///
/// # Examples
/// ```
/// let dir = std::env::temp_dir().join(format!("continues-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("manifest.json"), b"abc").unwrap();
/// let c = recorder::metadata::ContinuesMeta::of(&dir);
/// assert_eq!(c.folder, dir.file_name().unwrap().to_string_lossy());
/// assert_eq!(
///     c.manifest_sha256.as_deref(),
///     Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
/// );
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
pub struct ContinuesMeta {
    /// The earlier folder's name.
    pub folder: String,
    /// Hex SHA-256 of the earlier folder's `manifest.json` bytes (absent when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

impl ContinuesMeta {
    /// The link to the folder `dir`: its name and the SHA-256 of its `manifest.json` as it is now.
    pub fn of(dir: &std::path::Path) -> ContinuesMeta {
        use sha2::{Digest, Sha256};
        let folder = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let manifest_sha256 = std::fs::read(dir.join("manifest.json")).ok().map(|b| {
            Sha256::digest(&b)
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect()
        });
        ContinuesMeta {
            folder,
            manifest_sha256,
        }
    }
}

/// What the gRPC service refused before the recorder saw it.
#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
pub struct IngestRefusedMeta {
    /// Unmixed audio buffers from sources beyond the participant limit.
    pub participant_limit_frames: u64,
    /// Video frames of streams beyond the per-call video stream limit (`max_video_streams`).
    pub video_stream_limit_frames: u64,
    /// Bot messages refused as malformed or out of protocol.
    pub invalid_messages: u64,
}

/// The Teams call as the bot's `CallStart` described it (empty fields are left out).
#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
pub struct TeamsCallMeta {
    /// Tenant id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tenant_id: String,
    /// `incomingContext.observedParticipantId`: the recorded user.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub observed_participant_id: String,
    /// `incoming`, `outgoing` or `unspecified`.
    pub direction: String,
    /// Number dialed (PSTN).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dialed_number: String,
    /// Caller's number (PSTN).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub origin_number: String,
    /// `incomingContext.sourceParticipantId`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source_participant_id: String,
    /// `incomingContext.onBehalfOf`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub on_behalf_of: String,
    /// `incomingContext.transferor`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub transferor: String,
    /// Business data the bot attached.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub custom_data: std::collections::BTreeMap<String, String>,
}

/// The recording-status handshake: media is persisted only after Graph accepted `recording`.
#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
pub struct RecordingStatusMeta {
    /// `confirmed`, `failed`, `timed_out`, `ended_before_confirmation`.
    pub outcome: String,
    /// Why it was not confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the engine asked the bot to report `recording` (UTC).
    pub requested_utc: String,
    /// When the bot confirmed (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_utc: Option<String>,
    /// The pre-roll window (media held before confirmation), microseconds.
    pub preroll_window_us: i64,
    /// Media buffers held before confirmation.
    pub preroll_held: u64,
    /// Media buffers trimmed from the window (older than the pre-roll before the newest).
    pub preroll_trimmed: u64,
    /// Media buffers refused because the pre-roll was full.
    pub preroll_refused: u64,
    /// Buffers discarded because recording was not confirmed.
    pub preroll_discarded: u64,
    /// Media buffers withheld while paused (written as silence).
    pub withheld_paused: u64,
}

impl RecordingStatusMeta {
    /// The handshake as `state` has it now: its failure and counters, with the driver's `outcome`, the
    /// pre-roll window and when the status was requested and confirmed.
    pub fn from_state<T>(
        outcome: &str,
        state: &bot_adapter::status::RecordingState<T>,
        preroll: MediaTime,
        requested: std::time::SystemTime,
        confirmed: Option<std::time::SystemTime>,
    ) -> Self {
        let c = state.counters();
        let utc = |t: std::time::SystemTime| humantime::format_rfc3339_millis(t).to_string();
        RecordingStatusMeta {
            outcome: outcome.into(),
            error: state.failure().map(str::to_string),
            requested_utc: utc(requested),
            confirmed_utc: confirmed.map(utc),
            preroll_window_us: us(preroll),
            preroll_held: c.preroll_held,
            preroll_trimmed: c.preroll_trimmed,
            preroll_refused: c.preroll_refused,
            preroll_discarded: c.preroll_discarded,
            withheld_paused: c.withheld_paused,
        }
    }
}

/// A paused span.
#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
pub struct PauseMeta {
    /// Start, recording time (µs).
    pub start_us: i64,
    /// End, recording time (µs).
    pub end_us: i64,
    /// When the pause request reached the recorder (UTC).
    pub requested_utc: String,
    /// When the resume request reached the recorder (UTC; absent when the call ended while paused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_utc: Option<String>,
    /// Who asked to pause.
    pub requested_by: String,
    /// Why.
    pub reason: String,
    /// Who asked to resume (absent when the call ended while paused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_by: Option<String>,
    /// Why it resumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_reason: Option<String>,
}

/// The recording as a whole.
#[derive(Debug, Serialize)]
pub struct RecordingInfo {
    /// `completed`, `failed`, `interrupted`.
    pub status: String,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall-clock time at recording time zero.
    pub started_utc: String,
    /// Where `started_utc` comes from.
    pub clock_source: &'static str,
    /// Recording length.
    pub duration_us: i64,
    /// Sample rate of stems and mix.
    pub sample_rate: u32,
    /// Channels of stems and mix.
    pub channels: u16,
    /// Output ticks written.
    pub ticks: u64,
    /// Platform reference clock at recording time zero (100 ns ticks).
    pub reference_origin: Option<u64>,
    /// Mixed samples that saturated.
    pub mix_clipped_samples: u64,
    /// True when the recorder crashed and `verbatim recover` rebuilt this file from the counter snapshots
    /// and events journaled in `timeline.jsonl` (absent otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebuilt_after_crash: bool,
    /// With `rebuilt_after_crash`: the recording time of the last counter snapshot that survived (the counters
    /// and `duration_us` are as of then; the gap and speaker lists and the pauses are as of the crash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters_as_of_us: Option<i64>,
}

/// One participant.
#[derive(Debug, Serialize, PartialEq)]
pub struct ParticipantMeta {
    /// Stem name (`participants/<name>.wav`).
    pub name: String,
    /// Identity from the roster, `null` for an unknown source.
    pub id: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Guest (identity from additional data).
    pub is_guest: bool,
    /// Media source ids (the newest 64).
    pub msis: Vec<MsiMeta>,
    /// Older source ids forgotten to keep `msis` within its limit (left out when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub source_ids_forgotten: u64,
    /// Join, recording time.
    pub joined_us: i64,
    /// Join, UTC.
    pub joined_utc: String,
    /// Leave, recording time.
    pub left_us: Option<i64>,
    /// Leave, UTC.
    pub left_utc: Option<String>,
    /// Frames handed to the recorder for this participant.
    pub frames_delivered: u64,
    /// Frames written (wholly or partly).
    pub frames_written: u64,
    /// Duplicates dropped.
    pub duplicates_dropped: u64,
    /// Frames that arrived after their place was written (dropped).
    pub late_dropped: u64,
    /// Frames with an implausible timestamp (dropped).
    pub outliers_dropped: u64,
    /// Frames in a format other than the recording's (dropped).
    pub wrong_format_dropped: u64,
    /// Frames from a further audio source beyond the most one participant may have at once (dropped).
    pub limit_dropped: u64,
    /// Frames that overflowed the placement buffer (dropped).
    pub overrun_dropped: u64,
    /// Frames delivered and not written, every cause: `frames_delivered = frames_written + frames_dropped`.
    pub frames_dropped: u64,
    /// Samples written (frames are written whole; slips add or remove single samples).
    pub samples_written: u64,
    /// Clock-drift correction inside speech: samples repeated (only when drift was measured).
    pub slip_inserted_samples: u64,
    /// Clock-drift correction inside speech: samples dropped (only when drift was measured).
    pub slip_dropped_samples: u64,
    /// Times the stream was re-placed after a timestamp jump.
    pub resyncs: u64,
    /// Frames without a sender timestamp (placed by delivery time).
    pub untimed_frames: u64,
    /// Timestamp discontinuities (new segments).
    pub timestamp_segments: u64,
    /// Estimated sender clock drift against the platform clock.
    pub drift_ppm: f64,
    /// Total length of the gaps by kind (the loss ledger's totals).
    pub losses: LossesMeta,
    /// Spans without media while present, each with its kind.
    pub gaps: Vec<GapMeta>,
}

/// Total gap lengths by kind, in µs of recording time.
#[derive(Debug, Serialize, Default, PartialEq, Eq)]
pub struct LossesMeta {
    /// Nothing was sent (silence, not among the four loudest, between talk spurts).
    pub nothing_sent_us: i64,
    /// Inferred lost on the way: breaks in the sender's timestamps inside talk spurts.
    pub inferred_loss_us: i64,
    /// Received and dropped here (late, outlier stamps, …: see the gaps' causes).
    pub dropped_us: i64,
}

impl LossesMeta {
    /// From the recorder's tally.
    pub fn from_tally(t: &GapTally) -> Self {
        LossesMeta {
            nothing_sent_us: us(t.nothing_sent),
            inferred_loss_us: us(t.inferred_loss),
            dropped_us: us(t.dropped),
        }
    }
}

/// A video stream.
#[derive(Debug, Serialize)]
pub struct VideoMeta {
    /// File, relative to the recording folder.
    pub path: String,
    /// MSI.
    pub msi: u32,
    /// `video` or `screenshare`.
    pub kind: &'static str,
    /// Stem name of the participant, when known.
    pub participant: Option<String>,
    /// Frames handed over.
    pub frames_delivered: u64,
    /// Frames written unchanged.
    pub frames_written: u64,
    /// Frames dropped while waiting for an IDR (start, or after a loss).
    pub waiting_for_idr_dropped: u64,
    /// Duplicates dropped.
    pub duplicates_dropped: u64,
    /// Late frames dropped.
    pub late_dropped: u64,
    /// Implausible timestamps dropped.
    pub outliers_dropped: u64,
    /// Frames without a slice or malformed.
    pub unsupported_dropped: u64,
    /// Key frames requested.
    pub keyframe_requests: u64,
    /// Times the stream's SPS/PPS changed in band (a sender's encoder restarted, e.g. at another size); the
    /// file's sample entry holds the first ones.
    pub parameter_set_changes: u64,
    /// Estimated sender video clock drift.
    pub drift_ppm: f64,
    /// Spans not decodable (from a loss to the next IDR).
    pub gaps: Vec<GapMeta>,
}

/// A media source id.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct MsiMeta {
    /// The id.
    pub msi: u32,
    /// `audio`, `video`, `screenshare`.
    pub kind: &'static str,
}

/// A gap.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct GapMeta {
    /// Start, recording time.
    pub start_us: i64,
    /// Length.
    pub length_us: i64,
    /// `nothing_sent`, `inferred_loss` or `dropped` (see [`media_core::ledger`]).
    pub kind: &'static str,
    /// For `dropped`: why (`late`, `outlier_stamp`, `overrun`, `wrong_format`, `queue_overflow`, `paused`,
    /// `limit`, `undecodable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
}

/// A dominant-speaker change.
#[derive(Debug, Serialize)]
pub struct DominantMeta {
    /// When, recording time.
    pub at_us: i64,
    /// Who (stem name), `null` = nobody.
    pub participant: Option<String>,
}

/// Call-wide counters.
#[derive(Clone, Debug, Serialize, Default)]
pub struct CountersMeta {
    /// Events handled by the recorder.
    pub events: u64,
    /// Audio frames from MSIs absent from the roster (recorded as `unknown-<msi>`).
    pub unknown_msi_frames: u64,
    /// Events after the call ended.
    pub after_end: u64,
    /// Video frames from MSIs absent from the roster.
    pub unknown_video_msi_frames: u64,
    /// Key frames requested from senders.
    pub keyframe_requests: u64,
    /// Of those, requests handed to the bot as `KeyFrameRequest` (`verbatim listen`; 0 in `verbatim record`,
    /// which has no sender to ask).
    pub keyframe_requests_relayed: u64,
    /// Requests that could not be handed to the bot (its stream or the relay queue was full).
    pub keyframe_requests_not_relayed: u64,
    /// Participants beyond what the composite layout shows.
    pub not_in_composite: u64,
    /// Participants whose audio was at another rate or channel count, converted to the recording's format.
    pub resampled_sources: u64,
    /// Raw NV12 video frames encoded to H.264 for participant files.
    pub nv12_frames_encoded: u64,
    /// Raw NV12 video frames that could not be encoded, or not handed to the call's video thread (dropped).
    pub nv12_encode_errors: u64,
    /// Of those, raw NV12 frames dropped because the call's video thread was behind (a live call); each is a
    /// `queue_overflow` video gap.
    pub video_frames_dropped_for_thread: u64,
    /// Frames not shown in the composite because the video thread was behind, or skipped after one until
    /// the stream's next key frame (the tile kept its last picture).
    pub composite_frames_dropped: u64,
    /// Composite video frames rendered (0 when no composite is recorded).
    pub composite_frames: u64,
    /// Source frames that failed to decode for the composite.
    pub composite_decode_errors: u64,
    /// Reference timestamps that went backwards.
    pub reference_backwards: u64,
    /// Platform timestamps refused: far off the call's own clock, or ahead of the wall clock by more than
    /// the lead allowed (the message was handled at the call's current time).
    pub reference_refused: u64,
    /// Confirmed discontinuities of the platform clock (the timeline went on from where it was).
    pub reference_jumps: u64,
    /// The call's first message had an outlier timestamp: time zero was taken from the messages after it.
    pub origin_moved: bool,
    /// Video frames the recorder released that the MP4 muxer refused (missing from their passthrough file;
    /// 0 unless a frame's time could not be written).
    pub video_frames_refused_by_muxer: u64,
    /// Video streams whose file could not be created (`path: why`): that stream is not recorded, the rest of
    /// the recording is.
    pub video_streams_failed: Vec<String>,
    /// Events the ingest queue refused because it was full.
    pub ingest_queue_full: u64,
    /// Audio buffers refused at ingest for their length.
    pub ingest_wrong_audio_length: u64,
    /// Video buffers refused at ingest as malformed.
    pub ingest_bad_video: u64,
    /// Most commands (ticks, video frames) waiting at once in the writer thread's queue.
    pub writer_queue_high_water: u64,
    /// Times the media thread found the writer's queue full and waited (disk slower than the call).
    pub writer_backpressure_waits: u64,
    /// Total time the media thread waited for the writer, in microseconds.
    pub writer_backpressure_wait_us: u64,
    /// Ticks and frames not written because the folder had already failed (disk full, I/O error).
    pub writer_discarded_after_error: u64,
    /// Most events waiting in the ingest queue at once.
    pub ingest_queue_high_water: u64,
    /// Lines of `timeline.jsonl` that could not be read back into the lists above (0 unless the file was
    /// changed while recording).
    pub timeline_unreadable_lines: u64,
}

/// The lists of `metadata.json` (gaps, dominant-speaker changes), gathered from the recorder's
/// [`TimelineEvent`]s — by the folder sink from `timeline.jsonl` at close, or by any sink as they come.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimelineLists {
    /// Gaps per participant (stem index).
    pub audio_gaps: Vec<Vec<Gap>>,
    /// Gaps per video stream (stream index).
    pub video_gaps: Vec<Vec<Gap>>,
    /// Dominant-speaker changes: recording time, stem index or `None` for nobody.
    pub dominant_speakers: Vec<(MediaTime, Option<usize>)>,
}

impl TimelineLists {
    /// Adds one event.
    pub fn push(&mut self, event: TimelineEvent) {
        fn at(v: &mut Vec<Vec<Gap>>, i: usize) -> &mut Vec<Gap> {
            if v.len() <= i {
                v.resize_with(i + 1, Vec::new);
            }
            &mut v[i]
        }
        match event {
            TimelineEvent::AudioGap { participant, gap } => {
                at(&mut self.audio_gaps, participant).push(gap)
            }
            TimelineEvent::VideoGap { video, gap } => at(&mut self.video_gaps, video).push(gap),
            TimelineEvent::DominantSpeaker { at, participant } => {
                self.dominant_speakers.push((at, participant))
            }
            // Joins and leaves are in the participants' entries (from the recorder's summary).
            TimelineEvent::Joined { .. } | TimelineEvent::Left { .. } => {}
        }
    }

    fn gaps_meta(list: &[Vec<Gap>], i: usize) -> Vec<GapMeta> {
        list.get(i)
            .map(|g| {
                g.iter()
                    .map(|g| GapMeta {
                        start_us: us(g.start),
                        length_us: us(g.length),
                        kind: g.kind.name(),
                        cause: g.kind.cause(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Recording time in whole microseconds, as `metadata.json` and `timeline.jsonl` write it.
///
/// ```
/// use recorder::media_core::MediaTime;
/// assert_eq!(recorder::metadata::us(MediaTime::from_millis(20)), 20_000);
/// ```
pub fn us(t: MediaTime) -> i64 {
    t.ticks() / 10
}

/// RFC 3339 UTC of `start + t`.
///
/// Total for any input (`inspect` reads start times from files): times outside 1970-01-01 ..= 9999-12-31, which
/// RFC 3339 formatting cannot show, are clamped to those ends.
pub fn utc(start: SystemTime, t: MediaTime) -> String {
    let at = if t.ticks() >= 0 {
        start.checked_add(Duration::from_nanos((t.ticks() as u64).saturating_mul(100)))
    } else {
        start.checked_sub(Duration::from_nanos(
            t.ticks().unsigned_abs().saturating_mul(100),
        ))
    };
    let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799); // 9999-12-31T23:59:59Z
    let at = at.unwrap_or(start).clamp(UNIX_EPOCH, last);
    humantime::format_rfc3339_millis(at).to_string()
}

fn kind(k: StreamKind) -> &'static str {
    match k {
        StreamKind::Audio => "audio",
        StreamKind::Video => "video",
        StreamKind::ScreenShare => "screenshare",
    }
}

/// Builds the participant entry (its gaps from `gaps`).
pub fn participant(
    p: &ParticipantSummary,
    gaps: Vec<GapMeta>,
    start: SystemTime,
) -> ParticipantMeta {
    let s = &p.stats;
    ParticipantMeta {
        name: p.info.name.clone(),
        id: p.info.id.clone(),
        display_name: p.info.display_name.clone(),
        is_guest: p.info.is_guest,
        msis: p
            .info
            .msis
            .iter()
            .map(|(m, k)| MsiMeta {
                msi: m.0,
                kind: kind(*k),
            })
            .collect(),
        source_ids_forgotten: p.info.msis_forgotten,
        joined_us: us(p.info.joined),
        joined_utc: utc(start, p.info.joined),
        left_us: p.info.left.map(us),
        left_utc: p.info.left.map(|t| utc(start, t)),
        frames_delivered: s.delivered + p.limit_dropped,
        frames_written: s.written,
        duplicates_dropped: s.duplicates,
        late_dropped: s.late,
        outliers_dropped: s.outliers,
        wrong_format_dropped: s.wrong_format,
        overrun_dropped: s.overrun,
        frames_dropped: s.dropped() + p.limit_dropped,
        limit_dropped: p.limit_dropped,
        samples_written: s.samples_written,
        slip_inserted_samples: s.slip_inserted,
        slip_dropped_samples: s.slip_dropped,
        resyncs: s.resyncs,
        untimed_frames: p.untimed,
        timestamp_segments: p.segments,
        drift_ppm: (p.drift_ppm * 10.0).round() / 10.0,
        losses: LossesMeta::from_tally(&p.gaps),
        gaps,
    }
}

/// Builds the recording entry and the participants from the recorder's summary and the lists its
/// [`TimelineEvent`]s made.
#[allow(clippy::too_many_arguments)]
pub fn from_summary(
    summary: &CallSummary,
    timeline: &TimelineLists,
    call: CallInfo,
    started: SystemTime,
    format: media_core::AudioFormat,
    status: &str,
    error: Option<String>,
    counters: CountersMeta,
) -> Metadata {
    let names: Vec<String> = summary
        .participants
        .iter()
        .map(|p| p.info.name.clone())
        .collect();
    Metadata {
        format_version: FORMAT_VERSION,
        recorder: RecorderInfo {
            name: "verbatim",
            version: env!("CARGO_PKG_VERSION"),
        },
        call,
        recording: RecordingInfo {
            status: status.to_string(),
            error,
            started_utc: utc(started, MediaTime::ZERO),
            clock_source: "system clock of the recording host at the first platform buffer",
            duration_us: us(summary.duration),
            sample_rate: format.sample_rate,
            channels: format.channels,
            ticks: summary.ticks,
            reference_origin: summary.origin.map(|o| o.ticks()),
            mix_clipped_samples: summary.mix_clipped,
            rebuilt_after_crash: false,
            counters_as_of_us: None,
        },
        participants: summary
            .participants
            .iter()
            .enumerate()
            .map(|(i, p)| {
                participant(
                    p,
                    TimelineLists::gaps_meta(&timeline.audio_gaps, i),
                    started,
                )
            })
            .collect(),
        videos: summary
            .videos
            .iter()
            .enumerate()
            .map(|(i, v)| VideoMeta {
                path: v.path.clone(),
                msi: v.msi.0,
                kind: kind(v.kind),
                participant: v.participant.clone(),
                frames_delivered: v.stats.delivered,
                frames_written: v.stats.written,
                waiting_for_idr_dropped: v.stats.waiting_for_idr,
                duplicates_dropped: v.stats.duplicates,
                late_dropped: v.stats.late,
                outliers_dropped: v.stats.outliers,
                unsupported_dropped: v.stats.unsupported,
                keyframe_requests: v.stats.keyframe_requests,
                parameter_set_changes: v.stats.parameter_set_changes,
                drift_ppm: (v.drift_ppm * 10.0).round() / 10.0,
                gaps: TimelineLists::gaps_meta(&timeline.video_gaps, i),
            })
            .collect(),
        dominant_speakers: timeline
            .dominant_speakers
            .iter()
            .map(|(t, who)| DominantMeta {
                at_us: us(*t),
                participant: who.and_then(|i| names.get(i).cloned()),
            })
            .collect(),
        counters: CountersMeta {
            events: summary.counters.events,
            unknown_msi_frames: summary.counters.unknown_msi_frames,
            after_end: summary.counters.after_end,
            unknown_video_msi_frames: summary.counters.unknown_video_msi_frames,
            keyframe_requests: summary.counters.keyframe_requests,
            not_in_composite: summary.counters.not_in_composite,
            resampled_sources: summary.counters.resampled_sources,
            nv12_frames_encoded: summary.counters.nv12_frames_encoded,
            nv12_encode_errors: summary.counters.nv12_encode_errors,
            video_frames_dropped_for_thread: summary.counters.video_frames_dropped_for_thread,
            composite_frames_dropped: summary.counters.composite_frames_dropped,
            composite_frames: summary.composite.map_or(0, |c| c.frames),
            composite_decode_errors: summary.composite.map_or(0, |c| c.decode_errors),
            reference_backwards: summary.counters.reference_backwards,
            reference_refused: summary.counters.reference_refused,
            reference_jumps: summary.counters.reference_jumps,
            origin_moved: summary.counters.origin_moved,
            ..counters
        },
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_is_total_and_exact_inside_its_range() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_000_000_123);
        assert_eq!(utc(t, MediaTime::ZERO), "2025-11-24T16:00:00.123Z");
        assert_eq!(
            utc(t, MediaTime::from_millis(1_000)),
            "2025-11-24T16:00:01.123Z"
        );
        // Before the epoch and beyond year 9999 (a forged manifest): clamped, no panic.
        assert_eq!(
            utc(UNIX_EPOCH, MediaTime::from_millis(-5)),
            "1970-01-01T00:00:00.000Z"
        );
        // The largest offset saturates (u64 nanoseconds); a start beyond year 9999 is clamped.
        assert_eq!(
            utc(UNIX_EPOCH, MediaTime::from_ticks(i64::MAX)),
            "2554-07-21T23:34:33.709Z"
        );
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(utc(far, MediaTime::ZERO), "9999-12-31T23:59:59.000Z");
        assert_eq!(
            utc(t, MediaTime::from_ticks(i64::MIN)),
            "1970-01-01T00:00:00.000Z"
        );
    }
}

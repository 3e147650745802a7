//! The meeting simulator: participant inputs in, exactly the buffers the Teams media SDK hands a bot out.
//!
//! ```text
//! [sim: senders (own clocks) ─► seeded network ─► platform packing (20 ms slots, top 4)] ─► SdkEvent ─► ingest
//! ```
//!
//! A [`Simulator`] is a deterministic, sans-IO [`Iterator`] of [`SimEvent`]s in non-decreasing call time: no
//! clocks, threads or sleeps. The caller paces it (sleep until `event.at` for a live demo) or drains it as fast
//! as it can (tests, benchmarks). The same [`MeetingSpec`] and seed always give the same events. What happened to
//! every frame (ground truth) is kept in a [`SimReport`]. Inputs are pulled one 20 ms frame at a time
//! ([`AudioInput`]; a synthetic [`Voice`] is generated from its talk schedule), so memory stays flat however
//! long the call. [`meeting`] plans realistic meetings (turn-taking, long silences, re-joins, mute, cameras
//! going on and off, screen shares); [`synthetic`] is the simple default chatter.
//!
//! ```
//! use bot_adapter::sim::meeting::{meeting, MeetingKind};
//! use bot_adapter::sim::{FrameFate, SdkEvent, Simulator};
//! use media_core::MediaTime;
//!
//! let mut spec = meeting(MeetingKind::OneOnOne, 2, MediaTime::from_secs(60), 7)?;
//! spec.impairments = "teams-x3".parse()?;
//! let inputs: Vec<_> = spec.participants.iter().map(|p| p.audio.clone()).collect();
//! let mut sim = Simulator::new(spec)?;
//! let mut heard = 0;
//! for ev in sim.by_ref() {
//!     if let SdkEvent::Audio(buf) = ev.event {
//!         heard += buf.unmixed.len(); // an ingest would take the buffer here
//!     }
//! }
//! // The ground truth: every captured frame, what became of it, and its samples on demand.
//! let alice = &sim.report().participants[0];
//! let delivered: usize = alice
//!     .frames(&inputs[0])
//!     .map(|f| match f.fate { FrameFate::Sent { delivered, .. } => delivered as usize, _ => 0 })
//!     .sum();
//! assert_eq!(delivered as u64, alice.delivered);
//! assert!(heard as u64 >= alice.delivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Model
//!
//! **Reference clock.** The platform's local clock. The call starts at a seeded, nonzero, NTP-epoch-like 100 ns
//! value R0 ([`SimReport::reference_epoch`]). Every 20 ms slot `k` raises one `AudioMediaBuffer` with
//! `timestamp = R0 + k·20 ms`, emitted at `at = (k+1)·20 ms` (the end of the slot) — every slot, even when it
//! holds no unmixed buffer (`is_silence = true`), so time visibly advances. [`SimEvent::reference`] is always
//! `R0 + at`. The call ends at the duration with a final [`SdkEvent::CallEnded`] at `at = duration`; slots
//! that would end after it are not emitted. Without a duration the call ends at the end of the first slot at
//! which every input has been captured and every copy in flight has been handed out (so nothing is pending).
//!
//! **Roster.** `Joined` at each session's join (before its first audio) listing the session's MSIs (audio,
//! camera, and the screen share while sharing), `Left` at its leave if before the end; a re-join is a new
//! `Joined` for the same id with NEW MSIs (as Teams gives them); a share starting or stopping while the sharer
//! is present is a `Joined` with the changed streams. Frames already in flight at leave are still delivered
//! (the roster travels on a slower signalling path in Teams, so this order is real). Events at the same `at`
//! come roster first, then the audio buffer, then a dominant-speaker change.
//!
//! **Senders.** While present, participant `p` captures one 20 ms frame (the next 320 samples of its input,
//! zero-padded past the end) per 20 ms of its own clock, which runs at `(1 + drift)` against the reference
//! from its first join, across its sessions: frame `j` is captured at `join_at + j·20 ms / (1 + drift)` and
//! stamped `OriginalSenderTimestamp = S0_p + j·20 ms` exactly, where `S0_p` is the sender's own seeded epoch
//! (its own clock domain, unrelated to R0); frames that fall between sessions are not captured. Exceptions: 0
//! during the first `zerots` of each session, and `by` less for frames captured at or after `backjump=by@at`.
//! With `drift=X ppm` the first participant runs at exactly `+X` ppm, every other at a seeded value uniform in
//! `[-|X|, +|X|]`. A frame captured while muted is not sent (`muted_not_sent`), nor one of digital silence
//! (all 320 samples 0: DTX, `silent_not_sent`); every other frame is sent (`sent`) with its session's MSI.
//!
//! **Network** (per sender, seeded, see [`Impairments`]). A sent frame may be lost (`loss`, or `burst` inside
//! a 200 ms burst window; about one window per 10 s, Poisson). A kept frame arrives after
//! `20 ms + jitter(t)`, where `jitter(t)` is an AR(1) process (`x ← m + 0.95(x − m) + U(−J/8, J/8)`,
//! `m = J/2`, clamped to `[0, J]`) that moves by at most ~14 ms between frames for `J = 90 ms`, so frames do not
//! overtake each other by jitter alone. With probability `reorder` it is held back an extra 1–3 frame
//! intervals plus 10 ms (it arrives after later frames); with probability `dup` a second copy arrives 1–20 ms
//! after the first. With no impairment every frame arrives exactly 20 ms after capture, in order.
//!
//! **Platform packing.** A copy arriving at `t` joins its sender's FIFO at the platform in arrival order; slot
//! `floor(t / 20 ms)` is the first it can go out in, and each slot takes at most one frame (the oldest) per
//! sender, so an extra one waits for the next slot. Per slot, the top **four** senders by frame energy (sum of
//! squares; ties to the earlier participant) get an `UnmixedAudioBuffer` (`ActiveSpeakerId` = MSI, 640 bytes
//! s16le, `OriginalSenderTimestamp`), listed in `ActiveSpeakers` in that order; the other senders' frames for
//! that slot are dropped (`suppressed_top4`). Duplicates are handled like any frame.
//!
//! **Video** ([`SimVideo`] per participant, [`SimScreenShare`]s one at a time). Stream time
//! `τ = n·duration + t_k` (clip frame `k` of loop `n`; `n = 0` unless `looped`) is captured at
//! `start + τ / (1 + drift)` (`start` = the first `join_at` for a camera, the share's `start_at`; same drift as
//! the participant's audio) and the buffer's `timestamp` is `V0 + τ` exactly: the capture time on the sender's
//! own video clock, whose seeded epoch `V0` is unrelated to R0 and to the audio epoch. A stream sends while it
//! is on — a camera during its sessions minus its `off` spans, a share from `start_at` to `stop_at` or the
//! sharer's leave — from each on-span's first key frame (no DTX, no top-four rule), over its own seeded path
//! with the same impairments as audio (the reorder hold-back counts in the stream's frame intervals; burst
//! windows are the participant's audio ones: one uplink), raised as one `VideoMediaBuffer` at its arrival
//! instant `at` — not on the 20 ms grid — with the on-span's MSI. Sockets: `ScreenShare` for shares; each
//! camera on-span takes the lowest free of the [`MAX_MAIN_VIDEO`] `Main(i)` sockets when it starts and frees it
//! when it ends; with none free it is not delivered at all (`unsubscribed`). A lost frame is simply not
//! delivered; the next key frame comes when the clip has one. At equal `at`: roster, then video, then the
//! audio buffer.
//!
//! **Dominant speaker.** The sender with the most delivered energy over the last second (50 slots) becomes
//! dominant once it has led for 300 ms; `Msi::NONE` when nobody was heard for a second.
//!
//! **Legs** ([`Leg`], [`Simulator::new_leg`]). Teams invites up to two recorder bots into a call; each is a
//! leg. Every leg sees the same senders: the same frames, `OriginalSenderTimestamp`s, sender epochs, and the
//! same uplink (the network above, seeded per sender: both legs lose the same frames to it and see the same
//! jitter). After the uplink, each leg's own path (`Leg::impairments`, network tokens only, seeded from the
//! seed, the leg number and the stream) may lose a frame on that leg only (`lost_leg`, in `lost_frames` too),
//! delay it further, reorder or duplicate it. With `Leg::conceal`, a frame lost on the leg path is delivered
//! anyway as that leg's platform's concealment: the sender's last frame on the leg at half amplitude, with the
//! lost frame's timestamp, when the real one would have arrived (`concealed_leg`). Leg 1 keeps R0; leg n > 1
//! has its own seeded R0. A leg with `start` hears nothing before it: at `start` it gets one roster `Joined`
//! per participant present then, audio from the first slot starting at or after it (copies handed out earlier
//! count as `before_leg`), video from the first frame arriving then (mid-GOP); with `end`, `CallEnded` at
//! `end`. [`Leg::FIRST`] (leg 1, no leg impairments, the whole call) is exactly [`Simulator::new`].
//!
//! **Ground truth.** Per participant (see [`ParticipantReport`]): its sessions with their MSIs and frame
//! ranges, talk spurts and muted spans in call time, the frames lost, suppressed, duplicated and pending, and
//! [`ParticipantReport::frames`] walking every captured frame with its capture time, sender timestamp and
//! fate (regenerate its samples with [`AudioInput::frame`]);
//! `sent = lost_network + suppressed_top4 + (delivered − duplicated) + pending_at_end + before_leg`. Per video
//! stream (see [`VideoReport`]): its on-spans with MSI and socket;
//! `sent = lost_network + (delivered − duplicated) + pending_at_end + before_leg`.

pub mod audio_file;
mod conversation;
mod dominant;
pub mod impairments;
mod input;
mod leg;
pub mod meeting;
mod network;
mod report;
mod roster;
mod sender;
mod simulator;
pub mod synthetic;
mod validate;
pub mod video;
pub mod video_file;
mod voice;

use media_core::{MediaTime, Msi, SourceTimestamp};

use crate::sdk;

pub use audio_file::{load_audio_file, AudioFileError};
pub use impairments::{BackJump, Impairments, ParseImpairmentsError};
pub use input::AudioInput;
pub use leg::Leg;
pub use report::{
    FrameFate, FrameTruth, ParticipantReport, SessionReport, SimReport, VideoReport, VideoSpan,
};
pub use simulator::Simulator;
pub use video::{SimScreenShare, SimVideo, VideoAccessUnit, VideoTrack, MAX_MAIN_VIDEO};
pub use video_file::{load_video_clip, ClipMedia, VideoFileError};
pub use voice::{TalkSpurt, Voice};

/// One 20 ms frame / slot in 100 ns ticks.
pub(crate) const FRAME_TICKS: i64 = 200_000;
/// Samples in one 20 ms frame at 16 kHz.
pub const FRAME_SAMPLES: usize = 320;
/// The sample rate of every simulator input (Teams `Pcm16K`).
pub const SAMPLE_RATE: u32 = 16_000;

/// What the Teams media SDK raises at a bot, as the simulator produces it.
// An `AudioMediaBuffer` (fixed-capacity, no heap) is most of the events; boxing it would add an allocation per
// slot to save stack space in a value that is moved once, from the iterator into the ingest call.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdkEvent {
    /// The roster changed (someone joined or left).
    Roster(sdk::RosterChange),
    /// One 20 ms `AudioMediaBuffer` (unmixed mode: up to four `UnmixedAudioBuffer`s).
    Audio(sdk::AudioMediaBuffer),
    /// One `VideoMediaBuffer`: a whole H.264 frame of a participant's camera (`Main(i)` socket) or of the
    /// screen share (`ScreenShare` socket), raised when it arrives.
    Video(sdk::VideoMediaBuffer),
    /// The dominant speaker changed.
    DominantSpeaker(sdk::DominantSpeakerChanged),
    /// The call ended; nothing follows.
    CallEnded,
}

/// One event and when it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimEvent {
    /// Offset from call start on the reference (platform) clock.
    pub at: MediaTime,
    /// The same instant as an absolute platform timestamp: `R0 + at` (R0 = [`SimReport::reference_epoch`]).
    pub reference: SourceTimestamp,
    /// What the SDK raises.
    pub event: SdkEvent,
}

/// A half-open stretch of call time `[start, end)` (reference clock, from call start).
///
/// # Examples
/// ```
/// use bot_adapter::sim::Span;
/// use media_core::MediaTime;
///
/// let s = Span::new(MediaTime::from_secs(60), MediaTime::from_secs(90));
/// assert!(s.contains(MediaTime::from_secs(60)) && !s.contains(MediaTime::from_secs(90)));
/// assert_eq!(s.len(), MediaTime::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// First instant inside.
    pub start: MediaTime,
    /// First instant after.
    pub end: MediaTime,
}

impl Span {
    /// `[start, end)`.
    pub const fn new(start: MediaTime, end: MediaTime) -> Span {
        Span { start, end }
    }
    /// True when `t` lies inside.
    pub fn contains(&self, t: MediaTime) -> bool {
        self.start <= t && t < self.end
    }
    /// `end - start` (zero when empty).
    pub fn len(&self) -> MediaTime {
        self.end.saturating_sub(self.start).max(MediaTime::ZERO)
    }
    /// True when nothing lies inside.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// A participant's later session: Teams gives a participant who leaves and comes back NEW media source ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejoin {
    /// When the participant joins again; after the previous session's leave.
    pub at: MediaTime,
    /// When this session ends; `None` = stays until the call ends.
    pub leave_at: Option<MediaTime>,
    /// The new audio MSI (distinct from every other MSI of the meeting).
    pub msi: Msi,
    /// The new camera MSI: `Some` exactly when the participant has a camera ([`SimParticipant::video`]).
    pub video_msi: Option<Msi>,
}

/// One participant of a simulated meeting.
///
/// The first session runs from `join_at` to `leave_at` with `msi` (and the camera's [`SimVideo::msi`]); each
/// [`Rejoin`] adds a later session with new MSIs. The audio input is one signal on the participant's own clock
/// from its first join: frame `j` is captured at `join_at + j·20 ms/(1 + drift)` whatever the session, so
/// frames that fall between sessions are simply not captured.
///
/// # Examples
/// ```
/// use bot_adapter::sim::SimParticipant;
/// use media_core::{MediaTime, Msi};
///
/// let p = SimParticipant {
///     join_at: MediaTime::from_secs(5),
///     ..SimParticipant::new("alice", Msi(10), vec![1000i16; 16_000])
/// };
/// assert_eq!(p.id, "alice-id");
/// assert_eq!(p.audio.frames(), 50);
/// ```
#[derive(Clone, Debug)]
pub struct SimParticipant {
    /// Short name, used in reports and logs (e.g. `alice`).
    pub name: String,
    /// Stable identity as the roster gives it (AAD user id, or the guest's id).
    pub id: String,
    /// Display name in the roster.
    pub display_name: String,
    /// The audio media source id of the first session; distinct within the meeting, not `Msi::NONE`.
    pub msi: Msi,
    /// The participant's microphone signal, pulled one 20 ms frame at a time (see [`AudioInput`]).
    pub audio: AudioInput,
    /// The participant's camera, if it has one: H.264 frames whose clip time 0 is captured at `join_at`, like
    /// audio sample 0 (so a clip's audio and video stay in sync).
    pub video: Option<SimVideo>,
    /// When the participant joins, from call start (reference clock).
    pub join_at: MediaTime,
    /// When the first session ends; `None` = stays until the call ends (then no re-joins).
    pub leave_at: Option<MediaTime>,
    /// Later sessions, in time order.
    pub rejoins: Vec<Rejoin>,
    /// Stretches of call time with the microphone muted: frames captured in them are not sent (whatever they
    /// hold). Sorted, non-overlapping, not empty.
    pub muted: Vec<Span>,
    /// A guest (identity from additional data, not AAD).
    pub is_guest: bool,
}

impl SimParticipant {
    /// A participant present for the whole call with no camera: id `<name>-id`, display name `name`.
    pub fn new(name: impl Into<String>, msi: Msi, audio: impl Into<AudioInput>) -> SimParticipant {
        let name = name.into();
        SimParticipant {
            id: format!("{name}-id"),
            display_name: name.clone(),
            name,
            msi,
            audio: audio.into(),
            video: None,
            join_at: MediaTime::ZERO,
            leave_at: None,
            rejoins: Vec::new(),
            muted: Vec::new(),
            is_guest: false,
        }
    }

    /// Every session as `(join, leave, audio MSI, camera MSI)`, the first one from `join_at`/`leave_at`.
    pub fn sessions(&self) -> Vec<(MediaTime, Option<MediaTime>, Msi, Option<Msi>)> {
        let mut out = vec![(
            self.join_at,
            self.leave_at,
            self.msi,
            self.video.as_ref().map(|v| v.msi),
        )];
        out.extend(
            self.rejoins
                .iter()
                .map(|r| (r.at, r.leave_at, r.msi, r.video_msi)),
        );
        out
    }
}

/// A meeting to simulate.
#[derive(Clone, Debug)]
pub struct MeetingSpec {
    /// Everyone in the call.
    pub participants: Vec<SimParticipant>,
    /// Length of the call (the recording); `None` = until the last input ends and the network has drained.
    pub duration: Option<MediaTime>,
    /// Seed for every random choice (epochs, drifts, the network).
    pub seed: u64,
    /// What the network and platform do to the frames.
    pub impairments: Impairments,
    /// Screen shares, one at a time (Teams has one screen-share socket), in any order.
    pub screenshares: Vec<SimScreenShare>,
}

/// A meeting spec or input that cannot be simulated.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// One participant's entry is invalid.
    #[error("participant `{name}`: {reason}")]
    Participant {
        /// The participant's name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The meeting as a whole is invalid.
    #[error("meeting spec: {reason}")]
    Spec {
        /// What is wrong.
        reason: &'static str,
    },
    /// The impairments are out of range.
    #[error(transparent)]
    Impairments(#[from] ParseImpairmentsError),
    /// An input audio file could not be loaded.
    #[error("{path}: {source}", path = path.display())]
    AudioFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: AudioFileError,
    },
    /// An input video clip could not be loaded.
    #[error("{path}: {source}", path = path.display())]
    VideoFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: VideoFileError,
    },
}

/// SplitMix64 finaliser: derives independent seeds from `(seed, salt)`.
pub(crate) fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

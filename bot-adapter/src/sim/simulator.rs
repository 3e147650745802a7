//! The simulator proper: senders, network and platform packing, stepped one 20 ms slot at a time.

use std::collections::{HashSet, VecDeque};

use media_core::{AudioFormat, MediaTime, Msi, SourceTimestamp, StreamKind};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dominant::Dominant;
use super::network::Path;
use super::report::{ParticipantReport, SimReport, VideoReport};
use super::sender::{Sender, SenderSetup};
use super::video::{check_track, VideoOwner, VideoSender, VideoSetup, MAX_MAIN_VIDEO};
use super::{mix, MeetingSpec, SdkEvent, SimError, SimEvent, FRAME_TICKS};
use crate::sdk::{
    AudioMediaBuffer, DominantSpeakerChanged, FixedList, Participant, RosterChange,
    UnmixedAudioBuffer, VideoSocket, MAX_UNMIXED,
};

/// 100 ns ticks per second, as u64.
const TPS: u64 = 10_000_000;

#[derive(Clone, Debug)]
enum RosterItem {
    Joined(Participant),
    Left { id: String },
}

/// Turns a [`MeetingSpec`] into the SDK events a bot receives, one 20 ms slot at a time.
///
/// An [`Iterator`] of [`SimEvent`]s in non-decreasing [`SimEvent::at`], ending with [`SdkEvent::CallEnded`].
/// Sans-IO and deterministic: it never reads a clock, and the same spec gives the same events. See the
/// [module docs](super) for the model.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use bot_adapter::sim::{Impairments, MeetingSpec, SdkEvent, SimParticipant, Simulator};
/// use media_core::{MediaTime, Msi};
///
/// let spec = MeetingSpec {
///     participants: vec![SimParticipant {
///         name: "alice".into(),
///         id: "alice-id".into(),
///         display_name: "Alice".into(),
///         msi: Msi(10),
///         audio: Arc::from(vec![1000i16; 16_000]), // 1 s of a constant signal
///         video: None,
///         join_at: MediaTime::ZERO,
///         leave_at: None,
///         is_guest: false,
///     }],
///     duration: Some(MediaTime::from_secs(2)),
///     seed: 42,
///     impairments: Impairments::NONE,
///     screenshare: None,
/// };
/// let mut sim = Simulator::new(spec).unwrap();
/// let buffers = sim.by_ref().filter(|e| matches!(e.event, SdkEvent::Audio(_))).count();
/// assert_eq!(buffers, 100); // one AudioMediaBuffer per 20 ms slot
/// let alice = sim.report().participant("alice").unwrap();
/// assert_eq!((alice.sent, alice.delivered, alice.silent_not_sent), (50, 50, 50));
/// ```
pub struct Simulator {
    senders: Vec<Sender>,
    video: Vec<VideoSender>,
    msis: Vec<Msi>,
    roster: Vec<(i64, RosterItem)>,
    roster_next: usize,
    duration: Option<i64>,
    input_end: i64,
    r0: u64,
    slot: u64,
    out: VecDeque<SimEvent>,
    done: bool,
    report: SimReport,
    dominant: Dominant,
    candidates: Vec<(u64, usize)>,
    slot_energy: Vec<u64>,
}

fn participant_error(name: &str, reason: &'static str) -> SimError {
    SimError::Participant {
        name: name.to_string(),
        reason,
    }
}

impl Simulator {
    /// Checks the spec and sets up the call (epochs, drifts, network paths).
    ///
    /// # Errors
    /// [`SimError::Spec`] for an empty meeting without a duration or a duration that is not positive, or more
    /// than [`MAX_MAIN_VIDEO`] participants with video;
    /// [`SimError::Participant`] for an MSI (audio, video or screen share) that is `Msi::NONE` or used twice,
    /// an empty or repeated id, a negative `join_at`, a `leave_at` not after `join_at`, an unusable video track
    /// (no frames, first frame not a key frame, times not increasing, empty or oversized frames), or a screen
    /// share whose sharer is unknown or not present at `start_at`; [`SimError::Impairments`] for out-of-range
    /// impairments.
    pub fn new(spec: MeetingSpec) -> Result<Simulator, SimError> {
        spec.impairments.validate()?;
        let duration = match spec.duration {
            Some(d) if d <= MediaTime::ZERO => {
                return Err(SimError::Spec {
                    reason: "duration must be positive",
                })
            }
            Some(d) => Some(d.ticks()),
            None if spec.participants.is_empty() => {
                return Err(SimError::Spec {
                    reason: "no participants and no duration: nothing to simulate",
                })
            }
            None => None,
        };
        let mut msis = HashSet::new();
        let mut ids = HashSet::new();
        for p in &spec.participants {
            if p.msi == Msi::NONE {
                return Err(participant_error(&p.name, "MSI 0xFFFFFFFF means nobody"));
            }
            if !msis.insert(p.msi) {
                return Err(participant_error(
                    &p.name,
                    "MSI used by another participant",
                ));
            }
            if p.id.is_empty() {
                return Err(participant_error(&p.name, "empty id"));
            }
            if !ids.insert(p.id.as_str()) {
                return Err(participant_error(&p.name, "id used by another participant"));
            }
            if p.join_at < MediaTime::ZERO {
                return Err(participant_error(&p.name, "join_at before call start"));
            }
            if p.leave_at.is_some_and(|l| l <= p.join_at) {
                return Err(participant_error(&p.name, "leave_at not after join_at"));
            }
            if let Some(v) = &p.video {
                if v.msi == Msi::NONE {
                    return Err(participant_error(
                        &p.name,
                        "video MSI 0xFFFFFFFF means nobody",
                    ));
                }
                if !msis.insert(v.msi) {
                    return Err(participant_error(
                        &p.name,
                        "video MSI used by another stream",
                    ));
                }
                check_track(&v.track).map_err(|r| participant_error(&p.name, r))?;
            }
        }
        if spec
            .participants
            .iter()
            .filter(|p| p.video.is_some())
            .count()
            > MAX_MAIN_VIDEO
        {
            return Err(SimError::Spec {
                reason: "more than 10 participants with video (Teams has 10 main-video sockets)",
            });
        }
        let sharer = match &spec.screenshare {
            None => None,
            Some(ss) => {
                let Some(i) = spec.participants.iter().position(|p| p.name == ss.sharer) else {
                    return Err(participant_error(
                        &ss.sharer,
                        "shares the screen but is not a participant",
                    ));
                };
                let p = &spec.participants[i];
                if ss.start_at < p.join_at || p.leave_at.is_some_and(|l| ss.start_at >= l) {
                    return Err(participant_error(
                        &p.name,
                        "screen share starts while not present",
                    ));
                }
                if ss.msi == Msi::NONE || !msis.insert(ss.msi) {
                    return Err(participant_error(
                        &p.name,
                        "screen-share MSI is 0xFFFFFFFF or used by another stream",
                    ));
                }
                check_track(&ss.track).map_err(|r| participant_error(&p.name, r))?;
                Some(i)
            }
        };

        let imp = spec.impairments;
        let mut meta = ChaCha8Rng::seed_from_u64(mix(spec.seed, 0x5EED));
        let r0 = ntp_like_epoch(&mut meta);
        let mut senders = Vec::with_capacity(spec.participants.len());
        let mut reports = Vec::with_capacity(spec.participants.len());
        let mut video = Vec::new();
        let mut roster = Vec::new();
        let screenshare = spec.screenshare;
        // The sharer's roster entry, join, audio path seed, clock ratio and leave, for the screen-share stream.
        let mut sharer_setup: Option<(Participant, i64, u64, f64, Option<i64>)> = None;
        for (i, p) in spec.participants.into_iter().enumerate() {
            let u: f64 = meta.random_range(-1.0..=1.0);
            let drift_ppm = if i == 0 {
                imp.drift_ppm
            } else {
                u * imp.drift_ppm.abs()
            };
            let epoch = ntp_like_epoch(&mut meta);
            let join = p.join_at.ticks();
            let leave = p.leave_at.map(MediaTime::ticks);
            let net_seed = mix(spec.seed, 1_000 + i as u64);
            let sender = Sender::new(
                SenderSetup {
                    msi: p.msi,
                    audio: p.audio,
                    join,
                    leave,
                    drift_ppm,
                    epoch,
                    net_seed,
                },
                &imp,
            );
            let mut report = ParticipantReport::new(
                p.name,
                p.msi,
                drift_ppm,
                SourceTimestamp::new(epoch),
                sender.ratio(),
                join,
            );
            let mut media_streams = vec![(p.msi, StreamKind::Audio)];
            if let Some(v) = p.video {
                // Its own clock epoch and network path (own seeds: adding video changes no audio outcome),
                // but the burst windows of the participant's audio path: one uplink.
                let socket = VideoSocket::Main(video.len() as u8);
                let vepoch = ntp_like_epoch(&mut ChaCha8Rng::seed_from_u64(mix(
                    spec.seed,
                    0x71DE_0000 + i as u64,
                )));
                report.video = Some(VideoReport::new(
                    v.msi,
                    socket,
                    SourceTimestamp::new(vepoch),
                    join,
                    sender.ratio(),
                ));
                media_streams.push((v.msi, StreamKind::Video));
                video.push(VideoSender::new(
                    VideoSetup {
                        owner: VideoOwner::Participant(i),
                        msi: v.msi,
                        socket,
                        track: v.track,
                        start: join,
                        leave,
                        ratio: sender.ratio(),
                        epoch: vepoch,
                        net_seed: mix(spec.seed, 2_000 + i as u64),
                        burst_seed: Path::burst_seed(net_seed),
                    },
                    &imp,
                ));
            }
            let mut entry = Participant {
                id: p.id.clone(),
                display_name: p.display_name,
                is_guest: p.is_guest,
                media_streams,
            };
            if sharer == Some(i) {
                sharer_setup = Some((entry.clone(), join, net_seed, sender.ratio(), leave));
                if let Some(ss) = &screenshare {
                    if ss.start_at.ticks() == join {
                        entry.media_streams.push((ss.msi, StreamKind::ScreenShare));
                    }
                }
            }
            reports.push(report);
            roster.push((join, RosterItem::Joined(entry)));
            if let Some(l) = leave {
                roster.push((l, RosterItem::Left { id: p.id }));
            }
            senders.push(sender);
        }
        let mut screenshare_report = None;
        if let (Some(ss), Some((mut entry, join, net_seed, ratio, leave))) =
            (screenshare, sharer_setup)
        {
            let start = ss.start_at.ticks();
            let epoch = ntp_like_epoch(&mut ChaCha8Rng::seed_from_u64(mix(spec.seed, 0x5C4E_E700)));
            screenshare_report = Some(VideoReport::new(
                ss.msi,
                VideoSocket::ScreenShare,
                SourceTimestamp::new(epoch),
                start,
                ratio,
            ));
            if start != join {
                // Sharing starts after the sharer joined: the roster updates the sharer's streams then.
                entry.media_streams.push((ss.msi, StreamKind::ScreenShare));
                roster.push((start, RosterItem::Joined(entry)));
            }
            video.push(VideoSender::new(
                VideoSetup {
                    owner: VideoOwner::ScreenShare,
                    msi: ss.msi,
                    socket: VideoSocket::ScreenShare,
                    track: ss.track,
                    start,
                    leave,
                    ratio,
                    epoch,
                    net_seed: mix(spec.seed, 3_000),
                    burst_seed: Path::burst_seed(net_seed),
                },
                &imp,
            ));
        }
        // Stable: at equal times, spec order (a participant's join always precedes its leave).
        roster.sort_by_key(|(at, _)| *at);
        if let Some(d) = duration {
            roster.retain(|(at, _)| *at < d);
        }
        let input_end = senders
            .iter()
            .map(Sender::input_end)
            .chain(video.iter().map(VideoSender::input_end))
            .max()
            .unwrap_or(0);
        let n = senders.len();
        Ok(Simulator {
            msis: senders.iter().map(|s| s.msi).collect(),
            senders,
            video,
            roster,
            roster_next: 0,
            duration,
            input_end,
            r0,
            slot: 0,
            out: VecDeque::new(),
            done: false,
            report: SimReport {
                reference_epoch: SourceTimestamp::new(r0),
                participants: reports,
                screenshare: screenshare_report,
                ..SimReport::default()
            },
            dominant: Dominant::new(n),
            candidates: Vec::with_capacity(n),
            slot_energy: vec![0; n],
        })
    }

    /// Ground truth so far; complete once the iterator has returned `None`.
    pub fn report(&self) -> &SimReport {
        &self.report
    }

    /// R0: the platform timestamp of call start.
    pub fn reference_epoch(&self) -> SourceTimestamp {
        SourceTimestamp::new(self.r0)
    }

    fn event(&mut self, at: i64, event: SdkEvent) {
        self.out.push_back(SimEvent {
            at: MediaTime::from_ticks(at),
            reference: SourceTimestamp::new(self.r0.saturating_add(at.max(0) as u64)),
            event,
        });
    }

    /// Emits the roster changes and video frames due at or before `until`, in time order (at equal times: roster
    /// first, then video streams in order: cameras in participant order, then the screen share).
    fn roster_and_video_until(&mut self, until: i64) {
        loop {
            let roster_at = self
                .roster
                .get(self.roster_next)
                .map(|(at, _)| *at)
                .filter(|&at| at <= until);
            let mut first_video: Option<(i64, usize)> = None;
            for (i, v) in self.video.iter().enumerate() {
                if let Some(a) = v.next_arrival().filter(|&a| a <= until) {
                    if first_video.is_none_or(|(b, _)| a < b) {
                        first_video = Some((a, i));
                    }
                }
            }
            match (roster_at, first_video) {
                (None, None) => break,
                (Some(r), Some((v, _))) if r <= v => self.roster_one(),
                (Some(_), None) => self.roster_one(),
                (_, Some((_, i))) => self.video_one(i, until),
            }
        }
    }

    fn roster_one(&mut self) {
        let Some((at, item)) = self.roster.get(self.roster_next) else {
            return;
        };
        let (at, change) = match item.clone() {
            RosterItem::Joined(p) => (*at, RosterChange::Joined(p)),
            RosterItem::Left { id } => (*at, RosterChange::Left { id }),
        };
        self.roster_next += 1;
        self.event(at, SdkEvent::Roster(change));
    }

    fn video_one(&mut self, i: usize, until: i64) {
        let Some(v) = self.video.get_mut(i) else {
            return;
        };
        let Some(rep) = video_report(&mut self.report, v.owner) else {
            return;
        };
        if let Some((at, buffer)) = v.deliver_next(until, rep) {
            self.event(at, SdkEvent::Video(buffer));
        }
    }

    /// Captures (and sends) every video frame captured before `limit`.
    fn capture_video(&mut self, limit: i64) {
        for v in &mut self.video {
            if let Some(rep) = video_report(&mut self.report, v.owner) {
                v.capture_until(limit, rep);
            }
        }
    }

    fn finish(&mut self, at: i64) {
        for (s, r) in self.senders.iter().zip(self.report.participants.iter_mut()) {
            r.pending_at_end = s.pending();
        }
        for v in &self.video {
            if let Some(rep) = video_report(&mut self.report, v.owner) {
                rep.pending_at_end = v.pending();
            }
        }
        self.report.ended_at = Some(MediaTime::from_ticks(at));
        self.event(at, SdkEvent::CallEnded);
        self.done = true;
    }

    /// Runs one 20 ms slot, queueing its events.
    fn step(&mut self) {
        let start = (self.slot as i64).saturating_mul(FRAME_TICKS);
        let end = start.saturating_add(FRAME_TICKS);
        if let Some(d) = self.duration {
            if end > d {
                self.capture_video(d);
                self.roster_and_video_until(d);
                self.finish(d);
                return;
            }
        }
        let capture_limit = self.duration.map_or(end, |d| end.min(d));
        self.capture_video(capture_limit);
        self.roster_and_video_until(end);
        self.candidates.clear();
        for (i, (s, r)) in self
            .senders
            .iter_mut()
            .zip(self.report.participants.iter_mut())
            .enumerate()
        {
            s.capture_until(capture_limit, r);
            s.arrive_until(end, r);
            if let Some(front) = s.fifo.front() {
                self.candidates.push((front.energy, i));
            }
        }
        // Loudest first; ties to the earlier participant.
        self.candidates
            .sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut buffer = AudioMediaBuffer {
            timestamp: SourceTimestamp::new(self.r0.saturating_add(start as u64)),
            format: AudioFormat::PCM16K,
            is_silence: true,
            active_speakers: FixedList::new(),
            unmixed: FixedList::new(),
        };
        self.slot_energy.iter_mut().for_each(|e| *e = 0);
        for (rank, &(energy, i)) in self.candidates.iter().enumerate() {
            let (Some(s), Some(r)) = (self.senders.get_mut(i), self.report.participants.get_mut(i))
            else {
                continue;
            };
            let Some(copy) = s.fifo.pop_front() else {
                continue;
            };
            if rank < MAX_UNMIXED {
                let _ = buffer.active_speakers.push(s.msi);
                let _ = buffer.unmixed.push(UnmixedAudioBuffer {
                    active_speaker_id: s.msi,
                    data: copy.data,
                    original_sender_timestamp: copy.ost,
                });
                r.delivered += 1;
                if let Some(e) = self.slot_energy.get_mut(i) {
                    *e = energy;
                }
            } else {
                r.suppressed_top4 += 1;
                r.suppressed_frames.push(copy.frame);
            }
        }
        buffer.is_silence = buffer.unmixed.is_empty();
        self.report.slots += 1;
        self.report.silent_slots += u64::from(buffer.is_silence);
        self.event(end, SdkEvent::Audio(buffer));
        if let Some(current) = self.dominant.slot(&self.slot_energy, &self.msis) {
            self.report.dominant_speaker_changes += 1;
            self.event(
                end,
                SdkEvent::DominantSpeaker(DominantSpeakerChanged { current }),
            );
        }
        self.slot += 1;
        let ended = match self.duration {
            Some(d) => end >= d,
            None => {
                end >= self.input_end
                    && self.senders.iter().all(Sender::idle)
                    && self.video.iter().all(VideoSender::idle)
            }
        };
        if ended {
            self.finish(end);
        }
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("participants", &self.senders.len())
            .field("slot", &self.slot)
            .field("duration", &self.duration.map(MediaTime::from_ticks))
            .field("reference_epoch", &self.r0)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Iterator for Simulator {
    type Item = SimEvent;

    fn next(&mut self) -> Option<SimEvent> {
        loop {
            if let Some(e) = self.out.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            self.step();
        }
    }
}

/// The report a video stream fills.
fn video_report(report: &mut SimReport, owner: VideoOwner) -> Option<&mut VideoReport> {
    match owner {
        VideoOwner::Participant(i) => report.participants.get_mut(i)?.video.as_mut(),
        VideoOwner::ScreenShare => report.screenshare.as_mut(),
    }
}

/// A nonzero NTP-epoch-like 100 ns value: seconds since 1900 around the 2020s (3.9e9–4.0e9 s) plus a fraction.
fn ntp_like_epoch(rng: &mut ChaCha8Rng) -> u64 {
    let secs: u64 = rng.random_range(3_900_000_000..4_000_000_000);
    let frac: u64 = rng.random_range(0..TPS);
    secs * TPS + frac
}

//! The simulator proper: senders, network and platform packing, stepped one 20 ms slot at a time.

use std::collections::VecDeque;

use media_core::{AudioFormat, MediaTime, Msi, SourceTimestamp};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dominant::Dominant;
use super::leg::{self, Leg};
use super::network::Path;
use super::report::{ParticipantReport, SessionReport, SimReport, VideoReport, VideoSpan};
use super::sender::{first_frame_at, Sender, SenderSession, SenderSetup, StampRule};
use super::validate::{Session, OPEN};
use super::video::{self, OnSpan, VideoOwner, VideoSender, VideoSetup};
use super::{mix, roster, validate, MeetingSpec, SdkEvent, SimError, SimEvent, Span, FRAME_TICKS};
use crate::sdk::{
    AudioMediaBuffer, DominantSpeakerChanged, FixedList, RosterChange, UnmixedAudioBuffer,
    VideoSocket, MAX_UNMIXED,
};

/// 100 ns ticks per second, as u64.
const TPS: u64 = 10_000_000;

/// Turns a [`MeetingSpec`] into the SDK events a bot receives, one 20 ms slot at a time.
///
/// An [`Iterator`] of [`SimEvent`]s in non-decreasing [`SimEvent::at`], ending with [`SdkEvent::CallEnded`].
/// Sans-IO and deterministic: it never reads a clock, and the same spec gives the same events. See the
/// [module docs](super) for the model. Memory stays flat however long the call: inputs are pulled one frame
/// at a time and only frames in flight are held.
///
/// # Examples
/// ```
/// use bot_adapter::sim::{Impairments, MeetingSpec, SdkEvent, SimParticipant, Simulator};
/// use media_core::{MediaTime, Msi};
///
/// let spec = MeetingSpec {
///     // 1 s of a constant signal
///     participants: vec![SimParticipant::new("alice", Msi(10), vec![1000i16; 16_000])],
///     duration: Some(MediaTime::from_secs(2)),
///     seed: 42,
///     impairments: Impairments::NONE,
///     screenshares: Vec::new(),
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
    /// Per sender, the MSI of its last delivered frame (for dominant-speaker events).
    msis: Vec<Msi>,
    roster: Vec<(i64, RosterChange)>,
    roster_next: usize,
    duration: Option<i64>,
    /// This leg's bot joins here (ticks; 0 = from the start): nothing before it is emitted.
    leg_start: i64,
    /// This leg's bot leaves here (ticks): `CallEnded` then.
    leg_end: Option<i64>,
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

/// Where this leg's call stops: the earlier of the call's duration and the leg's end, if either.
fn stop(duration: Option<i64>, leg_end: Option<i64>) -> Option<i64> {
    match (duration, leg_end) {
        (Some(d), Some(e)) => Some(d.min(e)),
        (d, e) => d.or(e),
    }
}

/// Ticks to a report time (`None` when open).
fn time(t: i64) -> Option<MediaTime> {
    (t != OPEN).then(|| MediaTime::from_ticks(t))
}

/// A camera's on-spans: its sessions minus its off spans, cut at the call's end.
fn camera_spans(sessions: &[Session], off: &[Span], duration: Option<i64>) -> Vec<OnSpan> {
    let end_of_call = duration.unwrap_or(OPEN);
    let mut out = Vec::new();
    for s in sessions {
        let Some(msi) = s.video_msi else { continue };
        let mut start = s.join;
        let leave = s.leave.min(end_of_call);
        for o in off {
            let (os, oe) = (o.start.ticks(), o.end.ticks());
            if oe <= start || os >= leave {
                continue;
            }
            if os > start {
                out.push(OnSpan {
                    start,
                    end: os,
                    msi,
                    socket: None,
                });
            }
            start = start.max(oe);
        }
        if start < leave {
            out.push(OnSpan {
                start,
                end: leave,
                msi,
                socket: None,
            });
        }
    }
    out
}

fn video_spans(spans: &[OnSpan]) -> Vec<VideoSpan> {
    spans
        .iter()
        .map(|s| VideoSpan {
            start: MediaTime::from_ticks(s.start),
            end: time(s.end),
            msi: s.msi,
            socket: s.socket,
        })
        .collect()
}

impl Simulator {
    /// Checks the spec and sets up the call (epochs, drifts, network paths, main-video sockets).
    ///
    /// # Errors
    /// [`SimError::Spec`] for an empty meeting without a duration, a duration that is not positive, or a
    /// looped video that would never end without one;
    /// [`SimError::Participant`] for an MSI (audio, video or screen share, of any session) that is
    /// `Msi::NONE` or used twice, an empty or repeated id, a negative `join_at`, a `leave_at` not after its
    /// join, a re-join not after the previous leave (or after a session that never ends) or without the video
    /// MSI its camera needs, muted or camera-off spans that are empty, unsorted or overlapping, an unusable
    /// video track (no frames, first frame not a key frame, times not increasing, empty or oversized frames),
    /// or a screen share whose sharer is unknown or not present at `start_at`, that stops before it starts, or
    /// that overlaps another share (one screen-share socket); [`SimError::Impairments`] for out-of-range
    /// impairments. More than ten cameras is not an error: a camera that goes on while all
    /// [`MAX_MAIN_VIDEO`](super::MAX_MAIN_VIDEO) sockets are taken is not delivered (see
    /// [`VideoReport::unsubscribed`](super::VideoReport)).
    pub fn new(spec: MeetingSpec) -> Result<Simulator, SimError> {
        Self::new_leg(spec, Leg::FIRST)
    }

    /// The same meeting as recorder bot `leg` receives it: the same senders, uplinks and timestamps as every
    /// other leg; its own platform clock epoch (leg 1 keeps [`Simulator::new`]'s), its own path after the
    /// uplinks (`leg.impairments`, seeded from the meeting's seed, the leg number and the stream), its own
    /// span in the call, optionally its own concealment. See [`Leg`].
    /// `Simulator::new_leg(spec, Leg::FIRST)` is `Simulator::new(spec)`.
    ///
    /// # Examples
    /// ```
    /// use bot_adapter::sim::{Impairments, Leg, MeetingSpec, SdkEvent, SimParticipant, Simulator};
    /// use media_core::{MediaTime, Msi};
    ///
    /// let spec = MeetingSpec {
    ///     participants: vec![SimParticipant::new("alice", Msi(10), vec![1000i16; 48_000])],
    ///     duration: Some(MediaTime::from_secs(3)),
    ///     seed: 7,
    ///     impairments: Impairments::NONE,
    ///     screenshares: Vec::new(),
    /// };
    /// let leg = Leg { number: 2, impairments: "loss=10%".parse().unwrap(), ..Leg::FIRST };
    /// let mut sim = Simulator::new_leg(spec, leg).unwrap();
    /// sim.by_ref().count();
    /// let alice = &sim.report().participants[0];
    /// assert!(alice.lost_leg > 0 && alice.lost_leg == alice.lost_network); // lost on this leg's path only
    /// assert_eq!(sim.report().leg, 2);
    /// ```
    ///
    /// # Errors
    /// As [`Simulator::new`], and [`SimError::Spec`] for a leg numbered 0, leg impairments other than network
    /// ones (`drift`, `zerots`, `backjump`), a negative start, an end not after the start, or a start not before
    /// the call's duration; [`SimError::Impairments`] for out-of-range leg impairments.
    pub fn new_leg(spec: MeetingSpec, leg: Leg) -> Result<Simulator, SimError> {
        let checked = validate::check(&spec)?;
        leg.check(checked.duration)?;
        let duration = checked.duration;
        let leg_start = leg.start_ticks();
        let leg_end = leg.end.map(MediaTime::ticks);
        let imp = spec.impairments;
        // The last roster change of the call (not of this leg's view: a leg joining after the call's natural
        // end must not keep it going).
        let mut roster = roster::roster(&spec.participants, &checked.sessions, &checked.shares);
        if let Some(d) = stop(duration, leg_end) {
            roster.retain(|(at, _)| *at < d);
        }
        let roster_end = roster.last().map(|(at, _)| *at);
        let roster = leg::roster_from(roster, leg_start);
        let mut meta = ChaCha8Rng::seed_from_u64(mix(spec.seed, 0x5EED));
        let mut r0 = ntp_like_epoch(&mut meta);
        if leg.number > 1 {
            r0 = ntp_like_epoch(&mut leg.epoch_rng(spec.seed));
        }
        let n = spec.participants.len();
        let mut senders = Vec::with_capacity(n);
        let mut reports = Vec::with_capacity(n);
        let mut net_seeds = Vec::with_capacity(n);
        let mut cameras: Vec<(usize, Vec<OnSpan>)> = Vec::new();
        for (i, (p, sessions)) in spec.participants.iter().zip(&checked.sessions).enumerate() {
            let u: f64 = meta.random_range(-1.0..=1.0);
            let drift_ppm = if i == 0 {
                imp.drift_ppm
            } else {
                u * imp.drift_ppm.abs()
            };
            let epoch = ntp_like_epoch(&mut meta);
            let net_seed = mix(spec.seed, 1_000 + i as u64);
            net_seeds.push(net_seed);
            let origin = sessions.first().map_or(0, |s| s.join);
            let sender = Sender::new(
                SenderSetup {
                    input: p.audio.clone(),
                    sessions: sessions
                        .iter()
                        .map(|s| SenderSession {
                            join: s.join,
                            leave: s.leave,
                            msi: s.msi,
                        })
                        .collect(),
                    muted: p
                        .muted
                        .iter()
                        .map(|m| (m.start.ticks(), m.end.ticks()))
                        .collect(),
                    drift_ppm,
                    epoch,
                    net_seed,
                    leg_path: leg.audio_path(spec.seed, i),
                    conceal: leg.conceal,
                },
                &imp,
            );
            let ratio = sender.ratio();
            let mut report = ParticipantReport::new(
                p.name.clone(),
                p.msi,
                drift_ppm,
                SourceTimestamp::new(epoch),
                ratio,
                origin,
                StampRule::new(&imp),
            );
            report.sessions = sessions
                .iter()
                .map(|s| SessionReport {
                    join: MediaTime::from_ticks(s.join),
                    leave: time(s.leave),
                    msi: s.msi,
                    video_msi: s.video_msi,
                    frames: first_frame_at(origin, ratio, s.join)..if s.leave == OPEN {
                        u64::MAX
                    } else {
                        first_frame_at(origin, ratio, s.leave)
                    },
                })
                .collect();
            report.talk_spurts = p
                .audio
                .talk_spurts()
                .into_iter()
                .map(|r| Span::new(report.sample_time(r.start), report.sample_time(r.end)))
                .collect();
            report.muted = p.muted.clone();
            if let Some(v) = &p.video {
                cameras.push((i, camera_spans(sessions, &v.off, duration)));
            }
            reports.push(report);
            senders.push(sender);
        }
        // Main-video sockets for every camera on-span, then one sender per camera (its own clock epoch and
        // network path, own seeds: adding video changes no audio outcome; but the burst windows of the
        // participant's audio path: one uplink).
        let mut spans: Vec<Vec<OnSpan>> = cameras.iter().map(|(_, s)| s.clone()).collect();
        video::assign_sockets(&mut spans);
        let mut video = Vec::new();
        for ((i, _), spans) in cameras.into_iter().zip(spans) {
            let (Some(p), Some(report), Some(sender), Some(&net_seed)) = (
                spec.participants.get(i),
                reports.get_mut(i),
                senders.get(i),
                net_seeds.get(i),
            ) else {
                continue;
            };
            let Some(v) = &p.video else { continue };
            let epoch = ntp_like_epoch(&mut ChaCha8Rng::seed_from_u64(mix(
                spec.seed,
                0x71DE_0000 + i as u64,
            )));
            let origin = report.sessions.first().map_or(0, |s| s.join.ticks());
            report.video = Some(VideoReport::new(
                SourceTimestamp::new(epoch),
                v.track.frames.len() as u64,
                video_spans(&spans),
                origin,
                sender.ratio(),
            ));
            video.push(VideoSender::new(
                VideoSetup {
                    owner: VideoOwner::Participant(i),
                    track: v.track.clone(),
                    looped: v.looped,
                    origin,
                    spans,
                    ratio: sender.ratio(),
                    epoch,
                    net_seed: mix(spec.seed, 2_000 + i as u64),
                    burst_seed: Path::burst_seed(net_seed),
                    leg_path: leg.video_path(spec.seed, leg::LEG_CAMERA + i as u64, i),
                },
                &imp,
            ));
        }
        let mut share_reports = Vec::with_capacity(checked.shares.len());
        for (k, (ss, sh)) in spec.screenshares.iter().zip(&checked.shares).enumerate() {
            let (Some(sender), Some(&net_seed)) =
                (senders.get(sh.sharer), net_seeds.get(sh.sharer))
            else {
                continue;
            };
            let end = duration.map_or(sh.end, |d| sh.end.min(d));
            let spans = if sh.start < end {
                vec![OnSpan {
                    start: sh.start,
                    end,
                    msi: sh.msi,
                    socket: Some(VideoSocket::ScreenShare),
                }]
            } else {
                Vec::new()
            };
            let epoch = ntp_like_epoch(&mut ChaCha8Rng::seed_from_u64(mix(
                spec.seed,
                0x5C4E_E700 + k as u64,
            )));
            let mut report = VideoReport::new(
                SourceTimestamp::new(epoch),
                ss.track.frames.len() as u64,
                video_spans(&spans),
                sh.start,
                sender.ratio(),
            );
            report.msi = sh.msi;
            report.socket = Some(VideoSocket::ScreenShare);
            share_reports.push(report);
            video.push(VideoSender::new(
                VideoSetup {
                    owner: VideoOwner::ScreenShare(k),
                    track: ss.track.clone(),
                    looped: ss.looped,
                    origin: sh.start,
                    spans,
                    ratio: sender.ratio(),
                    epoch,
                    net_seed: mix(spec.seed, 3_000 + k as u64),
                    burst_seed: Path::burst_seed(net_seed),
                    leg_path: leg.video_path(spec.seed, leg::LEG_SHARE + k as u64, sh.sharer),
                },
                &imp,
            ));
        }
        let input_end = senders
            .iter()
            .map(Sender::input_end)
            .chain(video.iter().map(VideoSender::input_end))
            .chain(roster_end)
            .max()
            .unwrap_or(0);
        Ok(Simulator {
            msis: spec.participants.iter().map(|p| p.msi).collect(),
            senders,
            video,
            roster,
            roster_next: 0,
            duration,
            leg_start,
            leg_end,
            input_end,
            r0,
            slot: 0,
            out: VecDeque::new(),
            done: false,
            report: SimReport {
                reference_epoch: SourceTimestamp::new(r0),
                leg: leg.number,
                leg_start: MediaTime::from_ticks(leg_start),
                participants: reports,
                screenshares: share_reports,
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
        if at < self.leg_start {
            return; // this leg's bot is not in the call yet
        }
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
        let Some((at, change)) = self.roster.get(self.roster_next).cloned() else {
            return;
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
            if at < self.leg_start {
                rep.delivered = rep.delivered.saturating_sub(1);
                rep.before_leg += 1;
                return;
            }
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
            r.pending_frames.extend(s.pending());
            r.pending_frames.sort_unstable();
            r.pending_at_end = r.pending_frames.len() as u64;
            r.suppressed_frames.sort_unstable();
            let next = s.next_frame();
            for sess in &mut r.sessions {
                sess.frames.end = sess.frames.end.min(next);
                sess.frames.start = sess.frames.start.min(sess.frames.end);
            }
        }
        for v in &self.video {
            if let Some(rep) = video_report(&mut self.report, v.owner) {
                rep.pending_at_end = v.pending();
            }
        }
        // A leg that would join after the call's natural end still hears it end.
        let at = at.max(self.leg_start);
        self.report.ended_at = Some(MediaTime::from_ticks(at));
        self.event(at, SdkEvent::CallEnded);
        self.done = true;
    }

    /// Runs one 20 ms slot, queueing its events.
    fn step(&mut self) {
        let start = (self.slot as i64).saturating_mul(FRAME_TICKS);
        let end = start.saturating_add(FRAME_TICKS);
        if let Some(d) = stop(self.duration, self.leg_end) {
            if end > d {
                self.capture_video(d);
                self.roster_and_video_until(d);
                self.finish(d);
                return;
            }
        }
        let capture_limit = self.duration.map_or(end, |d| end.min(d));
        // A slot that starts before this leg's bot joined is not handed to it.
        let heard = start >= self.leg_start;
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
            if rank < MAX_UNMIXED && !heard {
                r.before_leg += 1;
                if let Some(m) = self.msis.get_mut(i) {
                    *m = copy.msi;
                }
                if let Some(e) = self.slot_energy.get_mut(i) {
                    *e = energy;
                }
            } else if rank < MAX_UNMIXED {
                let _ = buffer.active_speakers.push(copy.msi);
                if let Some(m) = self.msis.get_mut(i) {
                    *m = copy.msi;
                }
                let _ = buffer.unmixed.push(UnmixedAudioBuffer {
                    active_speaker_id: copy.msi,
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
        if heard {
            self.report.slots += 1;
            self.report.silent_slots += u64::from(buffer.is_silence);
            self.event(end, SdkEvent::Audio(buffer));
        }
        if let Some(current) = self
            .dominant
            .slot(&self.slot_energy, &self.msis)
            .filter(|_| heard)
        {
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
        } || self.leg_end.is_some_and(|e| end >= e);
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
        VideoOwner::ScreenShare(k) => report.screenshares.get_mut(k),
    }
}

/// A nonzero NTP-epoch-like 100 ns value: seconds since 1900 around the 2020s (3.9e9–4.0e9 s) plus a fraction.
fn ntp_like_epoch(rng: &mut ChaCha8Rng) -> u64 {
    let secs: u64 = rng.random_range(3_900_000_000..4_000_000_000);
    let frac: u64 = rng.random_range(0..TPS);
    secs * TPS + frac
}

//! Realistic meetings: a seeded planner that turns a kind, a head count, a length and a seed into a
//! [`MeetingSpec`] shaped like a real call.
//!
//! The plan is made in this order, each aspect from its own seeded stream (so giving the meeting cameras does
//! not change who talks when):
//!
//! 1. **Presence.** The key people (the facilitator, presenter, moderator, panelists, both people of a
//!    one-on-one) join in the first seconds and stay. Others join in the first minute, or late (15 %, a
//!    town hall's audience 30 %); some leave early (10–25 %, never key people); and one person (at least, in
//!    a meeting of 2 min or more) drops out for 20 s–3 min and re-joins with new MSIs, as Teams does.
//! 2. **Conversation** (see [`MeetingKind`] and the `conversation` module): turn-taking with long silences
//!    for most people, cross-talk, interruptions and back-channels, cut to each person's presence.
//! 3. **Mute.** People who mute when they are not talking (a town hall's and a panel's audience, half of a
//!    town hall's moderators and of a stand-up's members) are muted for every stretch of 30 s or more
//!    without speech of theirs (unmuting 0.5–2 s before speaking, muting 1–4 s after): their "mm-hm"s fall in
//!    muted spans and are not sent; once in most meetings someone starts talking while still muted and
//!    unmutes 1.5–4 s into it.
//! 4. **Cameras** (when camera clips are given): who has one depends on the role (a stand-up 75 %, a town
//!    hall's audience 25 %, presenters and panelists always); 20 % start with it off; each switches it off
//!    now and then (on for about 15 min on average, off for 20 s–5 min); at least one camera goes off and on.
//!    More than ten cameras on at once is allowed: the simulator delivers ten (see [`MAX_MAIN_VIDEO`]).
//! 5. **Screen shares** (when a screen clip is given), one at a time, each with a stop and a new MSI: a
//!    stand-up shows a board for 1–4 min every ~20 min; a town hall's presenter shares slides for most of
//!    the meeting in two parts with a break; a one-on-one shares a document around its quiet reading; a panel
//!    shows intro slides, and a panelist shares once mid-way.
//!
//! The audio of each person is a [`Voice`] whose talk schedule is the planned speech: nothing is synthesized
//! until the simulator pulls a frame, so a ten-hour plan costs a few hundred KB.
//!
//! [`MAX_MAIN_VIDEO`]: super::MAX_MAIN_VIDEO

use std::collections::HashSet;

use media_core::{MediaTime, Msi};
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::conversation::{self, between, chance, secs, Conversation, Utterance, MIN, SEC};
use super::synthetic::identity;
use super::voice::{TalkSpurt, Voice};
use super::{
    mix, Impairments, MeetingSpec, Rejoin, SimError, SimParticipant, SimScreenShare, SimVideo,
    Span, VideoTrack,
};

/// Most people a planned meeting has.
pub const MAX_PARTICIPANTS: usize = 20;
/// Ticks per input sample (16 kHz).
const TICKS_PER_SAMPLE: i64 = 625;

/// The shape of a planned meeting.
///
/// * `standup`: the facilitator (the first participant) opens; each person gives a 45–120 s update in turn,
///   then is silent (a back-channel now and then, a question cutting in); 2–6 min of open discussion among
///   two or three; a quiet minute; again for as long as the meeting lasts. Default 6 people, 15 min.
/// * `townhall`: a presenter talks most of the meeting in 8–20 min segments; a moderator (the second
///   participant, with three or more) opens and brings one to three questions after each segment, read out
///   or from a muted audience member who unmutes to ask. Default 12 people, 60 min.
/// * `one-on-one`: exactly two people alternating (3 s – 4 min turns, back-channels, cross-talk), with a quiet
///   2–3 min reading a shared document in meetings of 15 min or more. Default 30 min.
/// * `panel`: a moderator, three to five panelists answering questions for 1–4 min with cross-talk, and a
///   silent, muted audience whose questions come in the last 15 %. Default 8 people, 45 min.
///
/// # Examples
/// ```
/// use bot_adapter::sim::meeting::MeetingKind;
///
/// let k: MeetingKind = "one-on-one".parse().unwrap();
/// assert_eq!(k, MeetingKind::OneOnOne);
/// assert_eq!(k.to_string(), "one-on-one");
/// assert_eq!(k.default_participants(), 2);
/// assert!("webinar".parse::<MeetingKind>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeetingKind {
    /// A stand-up: updates in turn, then open discussion.
    Standup,
    /// A town hall: one presenter, questions from a muted audience.
    Townhall,
    /// Two people alternating.
    OneOnOne,
    /// A moderated panel with a silent audience.
    Panel,
}

impl MeetingKind {
    /// Every kind, in the order of the docs.
    pub const ALL: [MeetingKind; 4] = [
        MeetingKind::Standup,
        MeetingKind::Townhall,
        MeetingKind::OneOnOne,
        MeetingKind::Panel,
    ];

    /// How many people the kind has when nobody says.
    pub fn default_participants(self) -> usize {
        match self {
            MeetingKind::Standup => 6,
            MeetingKind::Townhall => 12,
            MeetingKind::OneOnOne => 2,
            MeetingKind::Panel => 8,
        }
    }

    /// How long the kind lasts when nobody says.
    pub fn default_duration(self) -> MediaTime {
        MediaTime::from_secs(match self {
            MeetingKind::Standup => 15 * 60,
            MeetingKind::Townhall => 60 * 60,
            MeetingKind::OneOnOne => 30 * 60,
            MeetingKind::Panel => 45 * 60,
        })
    }

    /// The fewest and most people the kind can have.
    pub fn participant_range(self) -> (usize, usize) {
        match self {
            MeetingKind::OneOnOne => (2, 2),
            MeetingKind::Panel => (3, MAX_PARTICIPANTS),
            MeetingKind::Standup | MeetingKind::Townhall => (2, MAX_PARTICIPANTS),
        }
    }
}

impl std::fmt::Display for MeetingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MeetingKind::Standup => "standup",
            MeetingKind::Townhall => "townhall",
            MeetingKind::OneOnOne => "one-on-one",
            MeetingKind::Panel => "panel",
        })
    }
}

/// A meeting kind name that is not one of `standup`, `townhall`, `one-on-one`, `panel`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown meeting kind `{0}`: expected standup, townhall, one-on-one or panel")]
pub struct ParseMeetingKindError(pub String);

impl std::str::FromStr for MeetingKind {
    type Err = ParseMeetingKindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standup" | "stand-up" => Ok(MeetingKind::Standup),
            "townhall" | "town-hall" => Ok(MeetingKind::Townhall),
            "one-on-one" | "1:1" | "oneonone" => Ok(MeetingKind::OneOnOne),
            "panel" => Ok(MeetingKind::Panel),
            _ => Err(ParseMeetingKindError(s.to_string())),
        }
    }
}

/// What to plan: the kind, how many people, how long, the seed, and optional video clips.
///
/// # Examples
/// ```
/// use bot_adapter::sim::meeting::{MeetingKind, MeetingPlan};
/// use media_core::MediaTime;
///
/// let spec = MeetingPlan::new(MeetingKind::Townhall, 12, MediaTime::from_secs(600), 7).build().unwrap();
/// assert_eq!(spec.participants.len(), 12);
/// assert_eq!(spec.duration, Some(MediaTime::from_secs(600)));
/// assert!(spec.screenshares.is_empty()); // no screen clip given
/// ```
#[derive(Clone, Debug)]
pub struct MeetingPlan {
    /// The shape of the meeting.
    pub kind: MeetingKind,
    /// How many people (see [`MeetingKind::participant_range`]).
    pub participants: usize,
    /// How long the call lasts.
    pub duration: MediaTime,
    /// Seed for every choice (the same plan gives the same meeting).
    pub seed: u64,
    /// Camera clips, looped: the `i`-th participant with a camera shows `cameras[i % len]`. Empty = no
    /// cameras.
    pub cameras: Vec<VideoTrack>,
    /// The screen-share clip, looped during each share. `None` = no screen shares.
    pub screen: Option<VideoTrack>,
}

impl MeetingPlan {
    /// A plan without video.
    pub fn new(kind: MeetingKind, participants: usize, duration: MediaTime, seed: u64) -> Self {
        MeetingPlan {
            kind,
            participants,
            duration,
            seed,
            cameras: Vec::new(),
            screen: None,
        }
    }

    /// Plans the meeting: presence, conversation, mute, cameras and screen shares. The spec has
    /// `duration = Some(plan.duration)`, no impairments (set [`MeetingSpec::impairments`] as wanted) and the
    /// plan's seed.
    ///
    /// # Errors
    /// [`SimError::Spec`] when the head count is outside the kind's range (at most [`MAX_PARTICIPANTS`];
    /// exactly two for a one-on-one) or the duration is not positive.
    pub fn build(&self) -> Result<MeetingSpec, SimError> {
        let (lo, hi) = self.kind.participant_range();
        let n = self.participants;
        if n < lo || n > hi {
            return Err(SimError::Spec {
                reason: match self.kind {
                    MeetingKind::OneOnOne => "a one-on-one has exactly 2 participants",
                    MeetingKind::Panel => "a panel has 3 to 20 participants",
                    _ => "a planned meeting has 2 to 20 participants",
                },
            });
        }
        if self.duration <= MediaTime::ZERO {
            return Err(SimError::Spec {
                reason: "duration must be positive",
            });
        }
        let end = self.duration.ticks();
        let rng = |salt: u64| ChaCha8Rng::seed_from_u64(mix(self.seed, salt));
        let panel = conversation::panelists(n, rng(0x9A4E).random_range(0..3));
        let key: Vec<bool> = (0..n).map(|i| self.is_key(i, &panel)).collect();
        let presence = presence(&mut rng(0x9E5E), self.kind, &key, end);

        let mut conv = Conversation::new(rng(0xC0DE), &presence, end);
        let mut reading = None;
        match self.kind {
            MeetingKind::Standup => conversation::standup(&mut conv),
            MeetingKind::Townhall => conversation::townhall(&mut conv),
            MeetingKind::OneOnOne => reading = conversation::one_on_one(&mut conv),
            MeetingKind::Panel => conversation::panel(&mut conv, &panel),
        }
        let talk: Vec<Vec<Utterance>> = conv
            .talk
            .into_iter()
            .zip(&presence)
            .map(|(t, p)| within(t, p))
            .collect();
        let muted = mute(&mut rng(0x307E), self.kind, &panel, &talk, &presence, end);

        let mut msis = Msis::new(self.seed);
        let mut people = Vec::with_capacity(n);
        let mut cam = rng(0xCA3E);
        let mut owners = 0usize;
        for (i, (sessions, talk)) in presence.iter().zip(&talk).enumerate() {
            let who = identity(i, self.seed);
            let join0 = sessions.first().map_or(0, |s| s.0);
            let samples = u64::try_from((end - join0).max(0) / TICKS_PER_SAMPLE).unwrap_or(0);
            let spurts: Vec<TalkSpurt> = talk
                .iter()
                .filter_map(|u| {
                    let start = u64::try_from((u.start - join0) / TICKS_PER_SAMPLE).ok()?;
                    let len = u32::try_from((u.end - u.start) / TICKS_PER_SAMPLE).ok()?;
                    Some(TalkSpurt {
                        start,
                        len,
                        level: u.level,
                    })
                })
                .collect();
            let voice = Voice::new(i, mix(self.seed, 0xA0D10 + i as u64), spurts, samples);
            let msi = msis.next(For::Audio);
            let has_camera =
                !self.cameras.is_empty() && chance(&mut cam, self.camera_odds(i, &panel));
            let video = has_camera.then(|| {
                let track = self.cameras[owners % self.cameras.len()].clone();
                owners += 1;
                SimVideo {
                    msi: msis.next(For::Camera),
                    track,
                    looped: true,
                    off: camera_off(&mut cam, sessions, end),
                }
            });
            let rejoins = sessions
                .iter()
                .skip(1)
                .map(|&(at, leave)| Rejoin {
                    at: MediaTime::from_ticks(at),
                    leave_at: (leave < end).then(|| MediaTime::from_ticks(leave)),
                    msi: msis.next(For::Audio),
                    video_msi: has_camera.then(|| msis.next(For::Camera)),
                })
                .collect();
            let first = sessions.first().copied().unwrap_or((0, end));
            people.push(SimParticipant {
                name: who.name,
                id: who.id,
                display_name: who.display_name,
                msi,
                audio: voice.into(),
                video,
                join_at: MediaTime::from_ticks(first.0),
                leave_at: (first.1 < end).then(|| MediaTime::from_ticks(first.1)),
                rejoins,
                muted: muted.get(i).cloned().unwrap_or_default(),
                is_guest: who.is_guest,
            });
        }
        ensure_camera_toggle(&mut cam, &mut people, &presence, end);
        let screenshares = match &self.screen {
            Some(track) => shares(&mut rng(0x5A4E), self.kind, &panel, &presence, reading, end)
                .into_iter()
                .map(|(who, start, stop)| SimScreenShare {
                    sharer: people.get(who).map(|p| p.name.clone()).unwrap_or_default(),
                    msi: msis.next(For::Share),
                    start_at: MediaTime::from_ticks(start),
                    stop_at: Some(MediaTime::from_ticks(stop)),
                    looped: true,
                    track: track.clone(),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(MeetingSpec {
            participants: people,
            duration: Some(self.duration),
            seed: self.seed,
            impairments: Impairments::NONE,
            screenshares,
        })
    }

    /// People who hold the meeting: they join at once and do not leave early.
    fn is_key(&self, i: usize, panel: &[usize]) -> bool {
        match self.kind {
            MeetingKind::Standup => i == 0,
            MeetingKind::Townhall => i == 0 || (i == 1 && self.participants >= 3),
            MeetingKind::OneOnOne => true,
            MeetingKind::Panel => i == 0 || panel.contains(&i),
        }
    }

    fn camera_odds(&self, i: usize, panel: &[usize]) -> f64 {
        match self.kind {
            MeetingKind::Standup => 0.75,
            MeetingKind::OneOnOne => 0.9,
            MeetingKind::Townhall if self.is_key(i, panel) => 1.0,
            MeetingKind::Panel if self.is_key(i, panel) => 1.0,
            MeetingKind::Townhall => 0.25,
            MeetingKind::Panel => 0.15,
        }
    }
}

/// Plans a meeting without video: [`MeetingPlan::new`]`(kind, participants, duration, seed).build()`.
///
/// # Errors
/// As [`MeetingPlan::build`].
///
/// # Examples
/// ```
/// use bot_adapter::sim::meeting::{meeting, MeetingKind};
/// use bot_adapter::sim::Simulator;
/// use media_core::MediaTime;
///
/// let spec = meeting(MeetingKind::Standup, 5, MediaTime::from_secs(120), 3).unwrap();
/// let mut sim = Simulator::new(spec).unwrap();
/// sim.by_ref().count();
/// assert!(sim.report().participants.iter().all(|p| p.balanced()));
/// assert!(meeting(MeetingKind::OneOnOne, 3, MediaTime::from_secs(60), 1).is_err());
/// ```
pub fn meeting(
    kind: MeetingKind,
    participants: usize,
    duration: MediaTime,
    seed: u64,
) -> Result<MeetingSpec, SimError> {
    MeetingPlan::new(kind, participants, duration, seed).build()
}

/// Which kind of stream an MSI is for: each kind draws from its own seeded stream, so giving a meeting
/// cameras or shares does not change its audio MSIs.
#[derive(Clone, Copy)]
enum For {
    Audio = 0,
    Camera = 1,
    Share = 2,
}

/// Distinct seeded MSIs, never `Msi::NONE`.
struct Msis {
    rng: [ChaCha8Rng; 3],
    used: HashSet<Msi>,
}

impl Msis {
    fn new(seed: u64) -> Self {
        Msis {
            rng: [0u64, 1, 2].map(|k| ChaCha8Rng::seed_from_u64(mix(seed, 0x3515_0000 + k))),
            used: HashSet::new(),
        }
    }
    fn next(&mut self, kind: For) -> Msi {
        let rng = &mut self.rng[kind as usize];
        loop {
            let m = Msi(rng.random_range(1_000..0xFFFF_0000));
            if self.used.insert(m) {
                return m;
            }
        }
    }
}

/// Who is there when: per participant, its sessions as `(join, leave)` ticks (`leave = end` when it stays).
fn presence(
    rng: &mut ChaCha8Rng,
    kind: MeetingKind,
    key: &[bool],
    end: i64,
) -> Vec<Vec<(i64, i64)>> {
    let (late_odds, early_odds) = match kind {
        MeetingKind::Townhall => (0.3, 0.25),
        MeetingKind::Standup => (0.15, 0.1),
        _ => (0.15, 0.15),
    };
    let late_window = (end / 4).min(15 * MIN);
    let mut out: Vec<Vec<(i64, i64)>> = key
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let join = if i == 0 {
                between(rng, 0, 3 * SEC)
            } else if k {
                between(rng, 0, 8 * SEC)
            } else if chance(rng, late_odds) && late_window > MIN {
                between(rng, MIN, late_window)
            } else {
                between(rng, 0, MIN)
            };
            let leave = if !k && chance(rng, early_odds) {
                between(rng, end * 6 / 10, end * 95 / 100)
            } else {
                end
            };
            let join = join.min(end / 2);
            vec![(join, leave.max(join + 1))]
        })
        .collect();
    let others: Vec<usize> = (0..key.len()).filter(|&i| !key[i]).collect();
    // A late join and an early leave in every meeting of 5 min or more with people who may do them.
    if end >= 5 * MIN && !others.is_empty() && late_window > MIN {
        if !out.iter().any(|s| s.first().is_some_and(|f| f.0 >= MIN)) {
            if let Some(s) = others.choose(rng).and_then(|&i| out.get_mut(i)) {
                let j = between(rng, MIN, late_window);
                s[0].0 = j.min(s[0].1 - 1);
            }
        }
        if !out.iter().any(|s| s.last().is_some_and(|l| l.1 < end)) {
            if let Some(s) = others.choose(rng).and_then(|&i| out.get_mut(i)) {
                let l = between(rng, end * 6 / 10, end * 95 / 100);
                s[0].1 = l.max(s[0].0 + 1);
            }
        }
    }
    // Drop-outs: one person in every meeting of 2 min or more (anyone but the first), a few more by chance.
    if end >= 2 * MIN && key.len() >= 2 {
        let forced = if others.is_empty() {
            key.len() - 1
        } else {
            others
                .get(rng.random_range(0..others.len()))
                .copied()
                .unwrap_or(1)
        };
        for (i, (s, &k)) in out.iter_mut().zip(key).enumerate().skip(1) {
            if i == forced || (!k && chance(rng, 0.05)) {
                rejoin(rng, s, end);
            }
        }
    }
    out
}

/// Splits the first session: out for 20 s–3 min somewhere in the middle of the presence.
fn rejoin(rng: &mut ChaCha8Rng, sessions: &mut Vec<(i64, i64)>, end: i64) {
    let Some(&(join, leave)) = sessions.first() else {
        return;
    };
    let away = between(rng, 20 * SEC, 3 * MIN).min(end / 6);
    let from = join + (leave - join) / 5;
    let to = join + (leave - join) * 7 / 10 - away;
    if to <= from || away < 5 * SEC {
        return;
    }
    let drop = between(rng, from, to);
    *sessions = vec![(join, drop), (drop + away, leave)];
}

/// Utterances cut to the presence, sorted; pieces shorter than 100 ms dropped.
fn within(mut talk: Vec<Utterance>, presence: &[(i64, i64)]) -> Vec<Utterance> {
    talk.sort_by_key(|u| u.start);
    let mut out = Vec::with_capacity(talk.len());
    for u in talk {
        for &(a, b) in presence {
            let (s, e) = (u.start.max(a), u.end.min(b));
            if e - s >= secs(0.1) {
                out.push(Utterance {
                    start: s,
                    end: e,
                    ..u
                });
            }
        }
    }
    out
}

/// Muted spans per participant (see the module docs).
fn mute(
    rng: &mut ChaCha8Rng,
    kind: MeetingKind,
    panel: &[usize],
    talk: &[Vec<Utterance>],
    presence: &[Vec<(i64, i64)>],
    end: i64,
) -> Vec<Vec<Span>> {
    let n = talk.len();
    let mut out: Vec<Vec<Span>> = (0..n)
        .map(|i| {
            let mutes = match kind {
                MeetingKind::Townhall => i >= 2 || (i == 1 && chance(rng, 0.5)),
                MeetingKind::Panel => i != 0 && !panel.contains(&i),
                MeetingKind::Standup => i != 0 && chance(rng, 0.5),
                MeetingKind::OneOnOne => false,
            };
            if !mutes {
                return Vec::new();
            }
            let join = presence.get(i).and_then(|p| p.first()).map_or(0, |p| p.0);
            // Unmuted around each real utterance; muted in every quiet stretch of 30 s or more.
            let mut open: Vec<(i64, i64)> = Vec::new();
            for u in talk.get(i).into_iter().flatten().filter(|u| !u.backchannel) {
                let a = u.start - secs(rng.random_range(0.5..2.0));
                let b = u.end + secs(rng.random_range(1.0..4.0));
                match open.last_mut() {
                    Some(last) if a - last.1 < 30 * SEC => last.1 = last.1.max(b),
                    _ => open.push((a, b)),
                }
            }
            let mut spans = Vec::new();
            let mut t = join;
            for (a, b) in open.into_iter().chain([(end, end)]) {
                if a - t >= 30 * SEC {
                    spans.push(Span::new(
                        MediaTime::from_ticks(t),
                        MediaTime::from_ticks(a.min(end)),
                    ));
                }
                t = t.max(b);
            }
            spans
        })
        .collect();
    // "You're on mute": someone starts a sentence while still muted and unmutes 1.5–4 s into it.
    if chance(rng, 0.7) {
        let mut candidates = Vec::new();
        for (i, spans) in out.iter().enumerate() {
            for (k, s) in spans.iter().enumerate() {
                let next = talk.get(i).and_then(|t| {
                    t.iter()
                        .find(|u| !u.backchannel && u.start >= s.end.ticks())
                });
                if let Some(u) = next {
                    if u.end - u.start > 5 * SEC {
                        candidates.push((i, k, u.start));
                    }
                }
            }
        }
        if let Some(&(i, k, start)) = candidates.choose(rng) {
            let late = start + secs(rng.random_range(1.5..4.0));
            if let Some(spans) = out.get_mut(i) {
                let limit = spans.get(k + 1).map_or(end, |s| s.start.ticks());
                if let Some(s) = spans.get_mut(k) {
                    s.end = MediaTime::from_ticks(late.min(limit).min(end));
                }
            }
        }
    }
    out
}

/// A camera's off spans: 20 % start with it off; then on for about 15 min (at least 1), off 20 s–5 min.
fn camera_off(rng: &mut ChaCha8Rng, sessions: &[(i64, i64)], end: i64) -> Vec<Span> {
    let join = sessions.first().map_or(0, |s| s.0);
    let mut out = Vec::new();
    let mut t = join;
    if chance(rng, 0.2) {
        let off = between(rng, 10 * SEC, 5 * MIN);
        out.push((t, t + off));
        t += off;
    }
    loop {
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        let on = ((-u.ln() * 15.0 * MIN as f64) as i64).max(MIN);
        let off = between(rng, 20 * SEC, 5 * MIN);
        t = t.saturating_add(on);
        if t >= end {
            break;
        }
        out.push((t, t + off));
        t += off;
    }
    out.into_iter()
        .filter(|&(a, _)| a < end)
        .map(|(a, b)| Span::new(MediaTime::from_ticks(a), MediaTime::from_ticks(b.min(end))))
        .filter(|s| !s.is_empty())
        .collect()
}

/// In a meeting of 2 min or more with cameras, makes sure one camera goes off and on while its owner is there.
fn ensure_camera_toggle(
    rng: &mut ChaCha8Rng,
    people: &mut [SimParticipant],
    presence: &[Vec<(i64, i64)>],
    end: i64,
) {
    if end < 2 * MIN {
        return;
    }
    let toggles = |p: &SimParticipant, sessions: &[(i64, i64)]| {
        p.video.as_ref().is_some_and(|v| {
            v.off.iter().any(|s| {
                sessions
                    .iter()
                    .any(|&(a, b)| a < s.start.ticks() && s.end.ticks() < b)
            })
        })
    };
    if people.iter().zip(presence).any(|(p, s)| toggles(p, s)) {
        return;
    }
    let Some((p, sessions)) = people
        .iter_mut()
        .zip(presence)
        .find(|(p, _)| p.video.is_some())
    else {
        return;
    };
    let Some(&(a, b)) = sessions.iter().max_by_key(|(a, b)| b - a) else {
        return;
    };
    let len = ((b - a) / 4).min(between(rng, 20 * SEC, 3 * MIN));
    let start = a + (b - a) / 3;
    if let Some(v) = p.video.as_mut() {
        v.off = vec![Span::new(
            MediaTime::from_ticks(start),
            MediaTime::from_ticks(start + len),
        )];
    }
}

/// Screen shares as `(sharer, start, stop)`, in time order, apart, each while its sharer is present.
fn shares(
    rng: &mut ChaCha8Rng,
    kind: MeetingKind,
    panel: &[usize],
    presence: &[Vec<(i64, i64)>],
    reading: Option<(i64, i64)>,
    end: i64,
) -> Vec<(usize, i64, i64)> {
    let n = presence.len();
    let mut want: Vec<(usize, i64, i64)> = Vec::new();
    match kind {
        MeetingKind::Standup => {
            let count = (end / (20 * MIN)).max(1);
            for k in 0..count {
                let slot = end / count;
                let start = k * slot + between(rng, slot / 10, slot / 2);
                let len = between(rng, MIN, 4 * MIN).min(slot / 3);
                let who = between(rng, 0, n as i64) as usize;
                want.push((who, start, start + len));
            }
        }
        MeetingKind::Townhall => {
            let first = between(rng, end / 40, end / 15);
            let stop = between(rng, end * 35 / 100, end * 55 / 100);
            let back = stop + between(rng, end / 30, end / 10);
            let last = between(rng, end * 88 / 100, end * 97 / 100);
            want.push((0, first, stop));
            want.push((0, back, last));
        }
        MeetingKind::OneOnOne => {
            let who = between(rng, 0, 2) as usize;
            let (a, b) = reading.unwrap_or((end * 4 / 10, end * 5 / 10));
            let start = a - between(rng, end / 30, end / 10);
            let stop = b + between(rng, end / 30, end / 10);
            want.push((who, start, stop));
        }
        MeetingKind::Panel => {
            let start = between(rng, end / 100, end / 40);
            let stop = start + between(rng, end / 20, end / 9);
            want.push((0, start, stop));
            if let Some(&p) = panel.choose(rng) {
                let s = between(rng, end * 4 / 10, end * 6 / 10);
                want.push((p, s, s + between(rng, end / 15, end / 6)));
            }
        }
    }
    let mut out: Vec<(usize, i64, i64)> = Vec::new();
    for (who, start, stop) in want {
        let after = out.last().map_or(0, |l| l.2);
        let stop = stop.min(end - 1);
        // Start when the sharer is there; stop by its leave.
        let Some(&(_, leave)) = presence
            .get(who)
            .and_then(|s| s.iter().find(|&&(a, b)| b > start.max(after) && a < stop))
        else {
            continue;
        };
        let join = presence
            .get(who)
            .and_then(|s| s.iter().find(|&&(_, b)| b == leave))
            .map_or(0, |s| s.0);
        let start = start.max(after).max(join).max(0);
        let stop = stop.min(leave);
        if stop - start >= 5 * SEC {
            out.push((who, start, stop));
        }
    }
    out
}

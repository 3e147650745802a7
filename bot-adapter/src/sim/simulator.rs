//! The simulator proper: senders, network and platform packing, stepped one 20 ms slot at a time.

use std::collections::{HashSet, VecDeque};

use media_core::{AudioFormat, MediaTime, Msi, SourceTimestamp, StreamKind};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dominant::Dominant;
use super::report::{ParticipantReport, SimReport};
use super::sender::{Sender, SenderSetup};
use super::{mix, MeetingSpec, SdkEvent, SimError, SimEvent, FRAME_TICKS};
use crate::sdk::{
    AudioMediaBuffer, DominantSpeakerChanged, FixedList, Participant, RosterChange,
    UnmixedAudioBuffer, MAX_UNMIXED,
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
///         join_at: MediaTime::ZERO,
///         leave_at: None,
///         is_guest: false,
///     }],
///     duration: Some(MediaTime::from_secs(2)),
///     seed: 42,
///     impairments: Impairments::NONE,
/// };
/// let mut sim = Simulator::new(spec).unwrap();
/// let buffers = sim.by_ref().filter(|e| matches!(e.event, SdkEvent::Audio(_))).count();
/// assert_eq!(buffers, 100); // one AudioMediaBuffer per 20 ms slot
/// let alice = sim.report().participant("alice").unwrap();
/// assert_eq!((alice.sent, alice.delivered, alice.silent_not_sent), (50, 50, 50));
/// ```
pub struct Simulator {
    senders: Vec<Sender>,
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
    /// [`SimError::Spec`] for an empty meeting without a duration or a duration that is not positive;
    /// [`SimError::Participant`] for an MSI that is `Msi::NONE` or used twice, an empty or repeated id, a
    /// negative `join_at`, or a `leave_at` not after `join_at`; [`SimError::Impairments`] for out-of-range
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
        }

        let imp = spec.impairments;
        let mut meta = ChaCha8Rng::seed_from_u64(mix(spec.seed, 0x5EED));
        let r0 = ntp_like_epoch(&mut meta);
        let mut senders = Vec::with_capacity(spec.participants.len());
        let mut reports = Vec::with_capacity(spec.participants.len());
        let mut roster = Vec::new();
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
            let sender = Sender::new(
                SenderSetup {
                    msi: p.msi,
                    audio: p.audio,
                    join,
                    leave,
                    drift_ppm,
                    epoch,
                    net_seed: mix(spec.seed, 1_000 + i as u64),
                },
                &imp,
            );
            reports.push(ParticipantReport::new(
                p.name,
                p.msi,
                drift_ppm,
                SourceTimestamp::new(epoch),
                sender.ratio(),
                join,
            ));
            roster.push((
                join,
                RosterItem::Joined(Participant {
                    id: p.id.clone(),
                    display_name: p.display_name,
                    is_guest: p.is_guest,
                    media_streams: vec![(p.msi, StreamKind::Audio)],
                }),
            ));
            if let Some(l) = leave {
                roster.push((l, RosterItem::Left { id: p.id }));
            }
            senders.push(sender);
        }
        // Stable: at equal times, spec order (a participant's join always precedes its leave).
        roster.sort_by_key(|(at, _)| *at);
        if let Some(d) = duration {
            roster.retain(|(at, _)| *at < d);
        }
        let input_end = senders.iter().map(Sender::input_end).max().unwrap_or(0);
        let n = senders.len();
        Ok(Simulator {
            msis: senders.iter().map(|s| s.msi).collect(),
            senders,
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

    /// Emits the roster changes due at or before `until`.
    fn roster_until(&mut self, until: i64) {
        while let Some((at, item)) = self.roster.get(self.roster_next) {
            if *at > until {
                break;
            }
            let (at, change) = match item.clone() {
                RosterItem::Joined(p) => (*at, RosterChange::Joined(p)),
                RosterItem::Left { id } => (*at, RosterChange::Left { id }),
            };
            self.roster_next += 1;
            self.event(at, SdkEvent::Roster(change));
        }
    }

    fn finish(&mut self, at: i64) {
        for (s, r) in self.senders.iter().zip(self.report.participants.iter_mut()) {
            r.pending_at_end = s.pending();
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
                self.roster_until(d);
                self.finish(d);
                return;
            }
        }
        self.roster_until(end);
        let capture_limit = self.duration.map_or(end, |d| end.min(d));
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
            None => end >= self.input_end && self.senders.iter().all(Sender::idle),
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

/// A nonzero NTP-epoch-like 100 ns value: seconds since 1900 around the 2020s (3.9e9–4.0e9 s) plus a fraction.
fn ntp_like_epoch(rng: &mut ChaCha8Rng) -> u64 {
    let secs: u64 = rng.random_range(3_900_000_000..4_000_000_000);
    let frac: u64 = rng.random_range(0..TPS);
    secs * TPS + frac
}

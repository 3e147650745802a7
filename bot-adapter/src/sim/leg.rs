//! Recorder legs: the same meeting as a second (or later) compliance-recording bot receives it.
//!
//! Teams invites up to two recorder bots into a call; both receive its media independently. The senders and
//! their uplinks are the same for every leg (a frame lost on a sender's uplink is lost on every leg), but each
//! bot has its own path from the media platform, its own platform clock epoch, may join late or leave early,
//! and its platform decodes and conceals on its own. A [`Leg`] says which of those a simulated bot sees; see
//! [`Simulator::new_leg`](super::Simulator::new_leg).

use std::collections::HashMap;

use bytes::Bytes;
use media_core::MediaTime;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::impairments::Impairments;
use super::network::{Fate, Path, BASE_DELAY_TICKS};
use super::{mix, SimError};
use crate::sdk::RosterChange;

/// Salt of every leg-path seed: `mix(seed, LEG_SALT + number·LEG_STRIDE + stream)`.
const LEG_SALT: u64 = 0x1E60_0000_0000;
/// Room for the streams of one leg (participants, cameras, shares) between two legs' seeds.
const LEG_STRIDE: u64 = 0x10_0000;
/// Stream offset of participant `i`'s camera on a leg path (audio is `i`).
pub(crate) const LEG_CAMERA: u64 = 0x4_0000;
/// Stream offset of screen share `k` on a leg path.
pub(crate) const LEG_SHARE: u64 = 0x8_0000;
/// Salt of a later leg's platform epoch seed.
const LEG_EPOCH_SALT: u64 = 0x1E60_E90C;

/// Which recorder bot of the call is simulated, and what its own path and presence do.
///
/// Leg 1 with no impairments over the whole call, [`Leg::FIRST`], is the simulator as
/// [`Simulator::new`](super::Simulator::new) runs it. Any other leg of the same [`MeetingSpec`](super::MeetingSpec)
/// sees the same senders (the same frames, `OriginalSenderTimestamp`s and uplink losses) through its own path,
/// stamped on its own platform clock.
///
/// # Examples
/// ```
/// use bot_adapter::sim::{Leg, SdkEvent, SimParticipant, Simulator, MeetingSpec, Impairments};
/// use media_core::{MediaTime, Msi};
///
/// let spec = MeetingSpec {
///     participants: vec![SimParticipant::new("alice", Msi(10), vec![1000i16; 16_000])],
///     duration: Some(MediaTime::from_secs(2)),
///     seed: 42,
///     impairments: Impairments::NONE,
///     screenshares: Vec::new(),
/// };
/// let one = Simulator::new_leg(spec.clone(), Leg::FIRST).unwrap();
/// let two = Simulator::new_leg(spec, Leg { number: 2, start: Some(MediaTime::from_secs(1)), ..Leg::FIRST }).unwrap();
/// assert_ne!(one.reference_epoch(), two.reference_epoch()); // each bot's platform has its own clock
/// let audio = two.filter(|e| matches!(e.event, SdkEvent::Audio(_))).count();
/// assert_eq!(audio, 50); // the second bot joined after 1 s
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Leg {
    /// 1-based leg number (the bot instance); leg 1 is the reference leg.
    pub number: u32,
    /// This leg's own path from the platform to the bot, on top of the senders' uplinks (the
    /// [`MeetingSpec::impairments`](super::MeetingSpec)). Network tokens only: `jitter`, `loss`, `burst`,
    /// `reorder`, `dup`.
    pub impairments: Impairments,
    /// When the bot joins, call time (`None` = from the start). It gets one roster `Joined` per participant
    /// present then, and audio from the first 20 ms slot starting at or after it.
    pub start: Option<MediaTime>,
    /// When the bot leaves (or dies), call time (`None` = until the call ends): `CallEnded` then.
    pub end: Option<MediaTime>,
    /// A frame lost on this leg's path (not the uplink) is delivered anyway as the platform's concealment:
    /// the sender's last frame on this leg at half amplitude, with the lost frame's timestamp.
    pub conceal: bool,
}

impl Leg {
    /// Leg 1, no leg impairments, the whole call, no concealment: what [`Simulator::new`](super::Simulator::new)
    /// simulates.
    pub const FIRST: Leg = Leg {
        number: 1,
        impairments: Impairments::NONE,
        start: None,
        end: None,
        conceal: false,
    };

    /// Checks the leg against a call of `duration` ticks (if known).
    pub(crate) fn check(&self, duration: Option<i64>) -> Result<(), SimError> {
        let spec = |reason| Err(SimError::Spec { reason });
        if self.number == 0 {
            return spec("leg numbers start at 1");
        }
        self.impairments.validate()?;
        let i = &self.impairments;
        if i.drift_ppm != 0.0 || i.zero_ts != MediaTime::ZERO || i.back_jump.is_some() {
            return spec("leg impairments are network only (jitter, loss, burst, reorder, dup)");
        }
        let start = self.start_ticks();
        if start < 0 {
            return spec("a leg cannot start before the call");
        }
        if self.end.is_some_and(|e| e.ticks() <= start) {
            return spec("a leg must end after it starts");
        }
        if duration.is_some_and(|d| start >= d) {
            return spec("a leg must start before the call ends");
        }
        Ok(())
    }

    /// The start in ticks (0 when from the start).
    pub(crate) fn start_ticks(&self) -> i64 {
        self.start.map_or(0, MediaTime::ticks)
    }

    /// The seed of stream `stream`'s leg path (participant `i`'s audio is `i`, see [`LEG_CAMERA`], [`LEG_SHARE`]).
    pub(crate) fn path_seed(&self, seed: u64, stream: u64) -> u64 {
        mix(
            seed,
            LEG_SALT
                .wrapping_add(u64::from(self.number).wrapping_mul(LEG_STRIDE))
                .wrapping_add(stream),
        )
    }

    /// This leg's own path for participant `i`'s audio, or `None` when it adds nothing (no leg impairments).
    pub(crate) fn audio_path(&self, seed: u64, i: usize) -> Option<Path> {
        let seed = self.path_seed(seed, i as u64);
        (!self.impairments.is_none()).then(|| Path::new(&self.impairments, seed))
    }

    /// This leg's own path for a video stream (`stream`: [`LEG_CAMERA`] + participant, or [`LEG_SHARE`] +
    /// share) whose participant's audio is `i` (one leg downlink: its burst windows are the audio's), as the
    /// `(impairments, seed, burst seed)` a video sender builds its path from; `None` when it adds nothing.
    pub(crate) fn video_path(
        &self,
        seed: u64,
        stream: u64,
        i: usize,
    ) -> Option<(Impairments, u64, u64)> {
        (!self.impairments.is_none()).then(|| {
            (
                self.impairments,
                self.path_seed(seed, stream),
                Path::burst_seed(self.path_seed(seed, i as u64)),
            )
        })
    }

    /// The RNG a later leg draws its platform epoch from (leg 1 keeps the meeting's).
    pub(crate) fn epoch_rng(&self, seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(mix(
            seed,
            LEG_EPOCH_SALT.wrapping_add(u64::from(self.number)),
        ))
    }
}

/// A sent frame's trip to this leg's bot: the senders' uplink (the same on every leg), then the leg's own
/// path (if any), which is asked only about frames that crossed the uplink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trip {
    /// Lost; `burst` inside a burst window; `on_leg`: lost on the leg's path (not the uplink), with the
    /// arrival a concealment of it would have.
    Lost { burst: bool, on_leg: Option<i64> },
    /// Arrives at `arrival`; `dups`: the arrivals of a duplicate made on the uplink, then of one made on the
    /// leg's path.
    Delivered {
        arrival: i64,
        reordered: bool,
        dups: [Option<i64>; 2],
    },
}

/// The trip of a frame captured at `capture` over `uplink`, then `leg` (none: the uplink alone).
pub(crate) fn trip(uplink: &mut Path, leg: Option<&mut Path>, capture: i64) -> Trip {
    let (arrival, reordered, dup) = match uplink.send(capture) {
        Fate::Lost { burst } => {
            return Trip::Lost {
                burst,
                on_leg: None,
            }
        }
        Fate::Delivered {
            arrival,
            reordered,
            dup_arrival,
        } => (arrival, reordered, dup_arrival),
    };
    let Some(leg) = leg else {
        return Trip::Delivered {
            arrival,
            reordered,
            dups: [dup, None],
        };
    };
    let base = capture.saturating_add(BASE_DELAY_TICKS);
    match leg.send(capture) {
        Fate::Lost { burst } => Trip::Lost {
            burst,
            on_leg: Some(arrival.saturating_add(leg.jitter_ticks())),
        },
        Fate::Delivered {
            arrival: leg_arrival,
            reordered: leg_reordered,
            dup_arrival,
        } => {
            // The leg adds its own delay (over the base every path has) to the uplink's arrival.
            let delay = leg_arrival.saturating_sub(base);
            let arrival_here = arrival.saturating_add(delay);
            Trip::Delivered {
                arrival: arrival_here,
                reordered: reordered || leg_reordered,
                dups: [
                    dup.map(|d| d.saturating_add(delay)),
                    dup_arrival.map(|d| arrival_here.saturating_add(d.saturating_sub(leg_arrival))),
                ],
            }
        }
    }
}

/// The concealment of a lost frame: `last` (s16le) at half amplitude, or silence without one; with its energy.
pub(crate) fn conceal(last: Option<&Bytes>, len: usize) -> (Bytes, u64) {
    let Some(last) = last else {
        return (Bytes::from(vec![0u8; len]), 0);
    };
    let mut data = Vec::with_capacity(last.len());
    let mut energy: u64 = 0;
    for pair in last.chunks_exact(2) {
        let s = i16::from_le_bytes([pair[0], pair[1]]) / 2;
        data.extend_from_slice(&s.to_le_bytes());
        energy = energy.saturating_add((i64::from(s) * i64::from(s)) as u64);
    }
    (Bytes::from(data), energy)
}

/// The roster a bot joining at `start` receives: one `Joined` per participant present then (with its streams
/// at that instant), at `start`, in order of first appearance; then every change after it. `roster` is the
/// whole call's, in time order.
pub(crate) fn roster_from(
    roster: Vec<(i64, RosterChange)>,
    start: i64,
) -> Vec<(i64, RosterChange)> {
    if start <= 0 {
        return roster;
    }
    let mut order: Vec<String> = Vec::new();
    let mut present: HashMap<String, RosterChange> = HashMap::new();
    let mut after = Vec::new();
    for (at, change) in roster {
        if at >= start {
            after.push((at, change));
            continue;
        }
        match change {
            RosterChange::Joined(p) => {
                if !present.contains_key(&p.id) && !order.contains(&p.id) {
                    order.push(p.id.clone());
                }
                present.insert(p.id.clone(), RosterChange::Joined(p));
            }
            RosterChange::Left { id } => {
                present.remove(&id);
            }
        }
    }
    let mut out: Vec<(i64, RosterChange)> = order
        .iter()
        .filter_map(|id| present.remove(id).map(|c| (start, c)))
        .collect();
    out.extend(after);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::Participant;

    fn joined(id: &str, at: i64) -> (i64, RosterChange) {
        (
            at,
            RosterChange::Joined(Participant {
                id: id.into(),
                display_name: id.into(),
                is_guest: false,
                media_streams: Vec::new(),
            }),
        )
    }

    #[test]
    fn a_late_bot_gets_who_is_present_at_its_start_then_the_rest() {
        let roster = vec![
            joined("a", 0),
            joined("b", 10),
            (20, RosterChange::Left { id: "a".into() }),
            joined("c", 30),
            joined("a", 50),
        ];
        let got = roster_from(roster.clone(), 40);
        let ids: Vec<(i64, String)> = got
            .iter()
            .map(|(at, c)| match c {
                RosterChange::Joined(p) => (*at, format!("+{}", p.id)),
                RosterChange::Left { id } => (*at, format!("-{id}")),
            })
            .collect();
        assert_eq!(
            ids,
            [(40, "+b".into()), (40, "+c".into()), (50, "+a".to_string())]
        );
        assert_eq!(roster_from(roster.clone(), 0), roster);
    }

    #[test]
    fn concealment_halves_the_last_frame() {
        let last = Bytes::from(
            [100i16, -7, 3]
                .iter()
                .flat_map(|s| s.to_le_bytes())
                .collect::<Vec<u8>>(),
        );
        let (data, energy) = conceal(Some(&last), 6);
        let s: Vec<i16> = data
            .chunks_exact(2)
            .map(|p| i16::from_le_bytes([p[0], p[1]]))
            .collect();
        assert_eq!(s, [50, -3, 1]);
        assert_eq!(energy, 2500 + 9 + 1);
        assert_eq!(conceal(None, 4), (Bytes::from(vec![0u8; 4]), 0));
    }
}

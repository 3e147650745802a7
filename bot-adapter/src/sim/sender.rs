//! One simulated participant: its own clock, its sessions, its mute and DTX, its network path, and its FIFO at
//! the platform.

use bytes::Bytes;
use media_core::{Msi, SourceTimestamp};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use super::impairments::Impairments;
use super::input::AudioInput;
use super::leg::{conceal, trip, Trip};
use super::network::Path;
use super::report::ParticipantReport;
use super::{FRAME_SAMPLES, FRAME_TICKS};

/// When frame `j` of a sender that joined at `join` with clock ratio `ratio` (1 + drift) is captured, in
/// reference ticks from call start. Exact (`join + j·20 ms`) when `ratio == 1`.
pub(crate) fn capture_ticks(join: i64, ratio: f64, j: u64) -> i64 {
    let own = j as f64 * FRAME_TICKS as f64;
    join.saturating_add((own / ratio).round() as i64)
}

/// One copy of a frame on its way to, or waiting at, the platform.
#[derive(Debug)]
pub(crate) struct FrameCopy {
    /// Arrival at the platform, reference ticks from call start.
    pub arrival: i64,
    /// Tie-break: order of creation.
    pub seq: u64,
    /// Frame index `j`.
    pub frame: u64,
    /// The audio MSI of the session it was sent in.
    pub msi: Msi,
    /// `OriginalSenderTimestamp`.
    pub ost: SourceTimestamp,
    /// 640 bytes s16le.
    pub data: Bytes,
    /// Sum of squared samples.
    pub energy: u64,
}

impl PartialEq for FrameCopy {
    fn eq(&self, other: &Self) -> bool {
        (self.arrival, self.seq) == (other.arrival, other.seq)
    }
}
impl Eq for FrameCopy {}
impl PartialOrd for FrameCopy {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for FrameCopy {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.arrival, self.seq).cmp(&(other.arrival, other.seq))
    }
}

/// How a sender stamps `OriginalSenderTimestamp` (the `zerots` and `backjump` impairments), in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct StampRule {
    /// 0 for the first `zero_ts` of each session (on the sender's clock).
    pub zero_ts: i64,
    /// `(by, at)`: `by` less for frames captured at or after call time `at`.
    pub back_jump: Option<(i64, i64)>,
}

impl StampRule {
    pub(crate) fn new(imp: &Impairments) -> Self {
        StampRule {
            zero_ts: imp.zero_ts.ticks(),
            back_jump: imp.back_jump.map(|b| (b.by.ticks(), b.at.ticks())),
        }
    }
}

/// The `OriginalSenderTimestamp` of frame `j`, captured at `capture`, in a session whose first frame is
/// `first`: `epoch + j·20 ms`, 0 in the session's first `zero_ts`, `by` less from the back jump on.
pub(crate) fn sender_timestamp(
    rule: &StampRule,
    epoch: u64,
    j: u64,
    first: u64,
    capture: i64,
) -> SourceTimestamp {
    let since_join = (j.saturating_sub(first) as i64).saturating_mul(FRAME_TICKS);
    if since_join < rule.zero_ts {
        return SourceTimestamp::UNKNOWN;
    }
    let own = (j as i64).saturating_mul(FRAME_TICKS);
    let mut ts = epoch.saturating_add(own as u64);
    if let Some((by, at)) = rule.back_jump {
        if capture >= at {
            ts = ts.saturating_sub(by as u64);
        }
    }
    SourceTimestamp::new(ts)
}

/// The first frame captured at or after `t` by a sender whose frame 0 is captured at `origin`.
pub(crate) fn first_frame_at(origin: i64, ratio: f64, t: i64) -> u64 {
    if t <= origin {
        return 0;
    }
    let guess = ((t - origin) as f64 * ratio / FRAME_TICKS as f64).ceil();
    let mut j = if guess.is_finite() && guess > 0.0 {
        guess as u64
    } else {
        0
    };
    while j > 0 && capture_ticks(origin, ratio, j - 1) >= t {
        j -= 1;
    }
    while capture_ticks(origin, ratio, j) < t && j < u64::MAX {
        j += 1;
    }
    j
}

/// One session as the sender sees it, in reference ticks (`leave` = `i64::MAX` when open).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SenderSession {
    pub join: i64,
    pub leave: i64,
    pub msi: Msi,
}

/// Static description plus running state of one sender.
pub(crate) struct Sender {
    input: AudioInput,
    sessions: Vec<SenderSession>,
    session: usize,
    /// The first frame of the current session.
    session_first: u64,
    muted: Vec<(i64, i64)>,
    mute_next: usize,
    origin: i64,
    ratio: f64,
    epoch: u64,
    stamp: StampRule,
    next_frame: u64,
    input_frames: u64,
    path: Path,
    /// This leg's own path after the uplink (`None`: adds nothing).
    leg_path: Option<Path>,
    /// Conceal frames lost on the leg path.
    conceal: bool,
    /// The last frame delivered on this leg (kept only when concealing).
    last_data: Option<Bytes>,
    in_flight: BinaryHeap<Reverse<FrameCopy>>,
    /// Copies that have arrived, oldest first; each slot takes at most the front one.
    pub fifo: VecDeque<FrameCopy>,
    seq: u64,
    max_arrived: Option<u64>,
    buf: [i16; FRAME_SAMPLES],
}

/// Everything needed to build a [`Sender`].
pub(crate) struct SenderSetup {
    pub input: AudioInput,
    /// In time order, not overlapping; not empty.
    pub sessions: Vec<SenderSession>,
    /// Muted spans in reference ticks, sorted, not overlapping.
    pub muted: Vec<(i64, i64)>,
    pub drift_ppm: f64,
    pub epoch: u64,
    pub net_seed: u64,
    /// The leg's own path (see [`Leg`](super::Leg)); `None` adds nothing.
    pub leg_path: Option<Path>,
    /// Conceal frames lost on the leg path.
    pub conceal: bool,
}

impl Sender {
    pub(crate) fn new(s: SenderSetup, imp: &Impairments) -> Self {
        let input_frames = s.input.frames();
        let origin = s.sessions.first().map_or(0, |x| x.join);
        Sender {
            input: s.input,
            sessions: s.sessions,
            session: 0,
            session_first: 0,
            muted: s.muted,
            mute_next: 0,
            origin,
            ratio: 1.0 + s.drift_ppm * 1e-6,
            epoch: s.epoch,
            stamp: StampRule::new(imp),
            next_frame: 0,
            input_frames,
            path: Path::new(imp, s.net_seed),
            leg_path: s.leg_path,
            conceal: s.conceal,
            last_data: None,
            in_flight: BinaryHeap::new(),
            fifo: VecDeque::new(),
            seq: 0,
            max_arrived: None,
            buf: [0; FRAME_SAMPLES],
        }
    }

    pub(crate) fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The next frame to capture (after the call: one past the last captured).
    pub(crate) fn next_frame(&self) -> u64 {
        self.next_frame
    }

    /// When the whole input has been captured (or the sender left for good), reference ticks from call start.
    pub(crate) fn input_end(&self) -> i64 {
        let end = capture_ticks(self.origin, self.ratio, self.input_frames);
        self.sessions.last().map_or(end, |s| end.min(s.leave))
    }

    /// Nothing in the network, nothing waiting at the platform.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight.is_empty() && self.fifo.is_empty()
    }

    /// Frame indices of the copies in the network or waiting at the platform.
    pub(crate) fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.in_flight
            .iter()
            .map(|Reverse(c)| c.frame)
            .chain(self.fifo.iter().map(|c| c.frame))
    }

    fn muted_at(&mut self, capture: i64) -> bool {
        while self
            .muted
            .get(self.mute_next)
            .is_some_and(|&(_, end)| end <= capture)
        {
            self.mute_next += 1;
        }
        self.muted
            .get(self.mute_next)
            .is_some_and(|&(start, _)| start <= capture)
    }

    /// Captures (and sends into the network) every frame captured before `limit` while present.
    pub(crate) fn capture_until(&mut self, limit: i64, rep: &mut ParticipantReport) {
        // Until the last session is over (left for good).
        while let Some(sess) = self.sessions.get(self.session).copied() {
            let j = self.next_frame;
            let capture = capture_ticks(self.origin, self.ratio, j);
            if capture >= limit {
                break;
            }
            if capture >= sess.leave {
                self.session += 1;
                if let Some(next) = self.sessions.get(self.session) {
                    self.next_frame = first_frame_at(self.origin, self.ratio, next.join).max(j);
                    self.session_first = self.next_frame;
                }
                continue;
            }
            if capture < sess.join {
                self.next_frame = first_frame_at(self.origin, self.ratio, sess.join).max(j + 1);
                self.session_first = self.next_frame;
                continue;
            }
            self.next_frame += 1;
            rep.captured += 1;
            if self.muted_at(capture) {
                rep.muted_not_sent += 1;
                continue;
            }
            if j >= self.input_frames || self.input.is_silent(j) {
                rep.silent_not_sent += 1;
                continue;
            }
            rep.sent += 1;
            let ost = sender_timestamp(&self.stamp, self.epoch, j, self.session_first, capture);
            let (arrival, reordered, dups) =
                match trip(&mut self.path, self.leg_path.as_mut(), capture) {
                    Trip::Lost {
                        on_leg: Some(at), ..
                    } if self.conceal => {
                        // The leg's platform conceals the gap: the last frame, attenuated, as if it were this one.
                        let (data, energy) = conceal(self.last_data.as_ref(), FRAME_SAMPLES * 2);
                        rep.concealed_leg += 1;
                        rep.concealed_frames.push(j);
                        self.push(at, j, sess.msi, ost, data, energy);
                        continue;
                    }
                    Trip::Lost { burst, on_leg } => {
                        rep.lost_network += 1;
                        rep.lost_burst += u64::from(burst);
                        rep.lost_frames.push(j);
                        if on_leg.is_some() {
                            rep.lost_leg += 1;
                            rep.lost_leg_frames.push(j);
                        }
                        continue;
                    }
                    Trip::Delivered {
                        arrival,
                        reordered,
                        dups,
                    } => (arrival, reordered, dups),
                };
            rep.reordered += u64::from(reordered);
            self.input.fill(j, &mut self.buf);
            let mut data = Vec::with_capacity(FRAME_SAMPLES * 2);
            let mut energy: u64 = 0;
            for &s in &self.buf {
                data.extend_from_slice(&s.to_le_bytes());
                energy += (i64::from(s) * i64::from(s)) as u64;
            }
            let data = Bytes::from(data);
            if self.conceal {
                self.last_data = Some(data.clone());
            }
            for dup_arrival in dups.into_iter().flatten() {
                rep.duplicated += 1;
                rep.duplicated_frames.push(j);
                self.push(dup_arrival, j, sess.msi, ost, data.clone(), energy);
            }
            self.push(arrival, j, sess.msi, ost, data, energy);
        }
    }

    fn push(
        &mut self,
        arrival: i64,
        frame: u64,
        msi: Msi,
        ost: SourceTimestamp,
        data: Bytes,
        energy: u64,
    ) {
        self.seq += 1;
        self.in_flight.push(Reverse(FrameCopy {
            arrival,
            seq: self.seq,
            frame,
            msi,
            ost,
            data,
            energy,
        }));
    }

    /// Moves every copy that arrived before `until` into the platform FIFO, in arrival order.
    pub(crate) fn arrive_until(&mut self, until: i64, rep: &mut ParticipantReport) {
        while self
            .in_flight
            .peek()
            .is_some_and(|Reverse(c)| c.arrival < until)
        {
            let Some(Reverse(c)) = self.in_flight.pop() else {
                break;
            };
            match self.max_arrived {
                Some(m) if c.frame < m => rep.arrived_out_of_order += 1,
                _ => self.max_arrived = Some(c.frame),
            }
            self.fifo.push_back(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_times_are_exact_without_drift_and_stretched_with_it() {
        assert_eq!(capture_ticks(0, 1.0, 30_000), 600 * 10_000_000);
        assert_eq!(capture_ticks(7, 1.0, 3), 7 + 3 * FRAME_TICKS);
        // +200 ppm: 30,006 frames of the sender's 20 ms take 600 s of reference time.
        let t = capture_ticks(0, 1.0002, 30_006);
        assert!((t - 600 * 10_000_000).abs() <= 1, "{t}");
    }

    #[test]
    fn first_frame_at_is_the_first_capture_at_or_after() {
        for ratio in [1.0, 1.0002, 0.9999, 1.01] {
            for t in [
                0i64,
                1,
                199_999,
                200_000,
                200_001,
                7_654_321,
                36_000_000_000,
            ] {
                let j = first_frame_at(1_000, ratio, t);
                assert!(capture_ticks(1_000, ratio, j) >= t);
                assert!(
                    j == 0 || capture_ticks(1_000, ratio, j - 1) < t,
                    "{ratio} {t}"
                );
            }
        }
    }
}

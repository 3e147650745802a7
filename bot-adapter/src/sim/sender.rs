//! One simulated participant: its own clock, its DTX, its network path, and its FIFO at the platform.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use media_core::{Msi, SourceTimestamp};

use super::impairments::Impairments;
use super::network::{Fate, Path};
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

/// Static description plus running state of one sender.
pub(crate) struct Sender {
    pub msi: Msi,
    audio: Arc<[i16]>,
    join: i64,
    leave: Option<i64>,
    ratio: f64,
    epoch: u64,
    zero_ts: i64,
    back_jump: Option<(i64, i64)>,
    next_frame: u64,
    input_frames: u64,
    path: Path,
    in_flight: BinaryHeap<Reverse<FrameCopy>>,
    /// Copies that have arrived, oldest first; each slot takes at most the front one.
    pub fifo: VecDeque<FrameCopy>,
    seq: u64,
    max_arrived: Option<u64>,
}

/// Everything needed to build a [`Sender`].
pub(crate) struct SenderSetup {
    pub msi: Msi,
    pub audio: Arc<[i16]>,
    pub join: i64,
    pub leave: Option<i64>,
    pub drift_ppm: f64,
    pub epoch: u64,
    pub net_seed: u64,
}

impl Sender {
    pub(crate) fn new(s: SenderSetup, imp: &Impairments) -> Self {
        let input_frames = s.audio.len().div_ceil(FRAME_SAMPLES) as u64;
        Sender {
            msi: s.msi,
            audio: s.audio,
            join: s.join,
            leave: s.leave,
            ratio: 1.0 + s.drift_ppm * 1e-6,
            epoch: s.epoch,
            zero_ts: imp.zero_ts.ticks(),
            back_jump: imp.back_jump.map(|b| (b.by.ticks(), b.at.ticks())),
            next_frame: 0,
            input_frames,
            path: Path::new(imp, s.net_seed),
            in_flight: BinaryHeap::new(),
            fifo: VecDeque::new(),
            seq: 0,
            max_arrived: None,
        }
    }

    pub(crate) fn ratio(&self) -> f64 {
        self.ratio
    }

    /// When the whole input has been captured (or the sender left), reference ticks from call start.
    pub(crate) fn input_end(&self) -> i64 {
        let end = capture_ticks(self.join, self.ratio, self.input_frames);
        self.leave.map_or(end, |l| end.min(l))
    }

    /// Nothing in the network, nothing waiting at the platform.
    pub(crate) fn idle(&self) -> bool {
        self.in_flight.is_empty() && self.fifo.is_empty()
    }

    /// Copies in the network or waiting at the platform.
    pub(crate) fn pending(&self) -> u64 {
        (self.in_flight.len() + self.fifo.len()) as u64
    }

    fn sender_timestamp(&self, j: u64, capture: i64) -> SourceTimestamp {
        let own = (j as i64).saturating_mul(FRAME_TICKS);
        if own < self.zero_ts {
            return SourceTimestamp::UNKNOWN;
        }
        let mut ts = self.epoch.saturating_add(own as u64);
        if let Some((by, at)) = self.back_jump {
            if capture >= at {
                ts = ts.saturating_sub(by as u64);
            }
        }
        SourceTimestamp::new(ts)
    }

    /// Captures (and sends into the network) every frame captured before `limit` while present.
    pub(crate) fn capture_until(&mut self, limit: i64, rep: &mut ParticipantReport) {
        let limit = self.leave.map_or(limit, |l| limit.min(l));
        loop {
            let j = self.next_frame;
            let capture = capture_ticks(self.join, self.ratio, j);
            if capture >= limit {
                break;
            }
            self.next_frame += 1;
            rep.captured += 1;
            let start = (j as usize).saturating_mul(FRAME_SAMPLES);
            let samples = self.audio.get(start..).unwrap_or(&[]);
            let samples = &samples[..samples.len().min(FRAME_SAMPLES)];
            if j >= self.input_frames || samples.iter().all(|&s| s == 0) {
                rep.silent_not_sent += 1;
                continue;
            }
            rep.sent += 1;
            let fate = self.path.send(capture);
            let (arrival, reordered, dup_arrival) = match fate {
                Fate::Lost { burst } => {
                    rep.lost_network += 1;
                    rep.lost_burst += u64::from(burst);
                    rep.lost_frames.push(j);
                    continue;
                }
                Fate::Delivered {
                    arrival,
                    reordered,
                    dup_arrival,
                } => (arrival, reordered, dup_arrival),
            };
            rep.reordered += u64::from(reordered);
            let mut data = Vec::with_capacity(FRAME_SAMPLES * 2);
            let mut energy: u64 = 0;
            for &s in samples {
                data.extend_from_slice(&s.to_le_bytes());
                energy += (i64::from(s) * i64::from(s)) as u64;
            }
            data.resize(FRAME_SAMPLES * 2, 0); // zero-pad the input's last partial frame
            let data = Bytes::from(data);
            let ost = self.sender_timestamp(j, capture);
            if let Some(dup_arrival) = dup_arrival {
                rep.duplicated += 1;
                self.push(dup_arrival, j, ost, data.clone(), energy);
            }
            self.push(arrival, j, ost, data, energy);
        }
    }

    fn push(&mut self, arrival: i64, frame: u64, ost: SourceTimestamp, data: Bytes, energy: u64) {
        self.seq += 1;
        self.in_flight.push(Reverse(FrameCopy {
            arrival,
            seq: self.seq,
            frame,
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
}

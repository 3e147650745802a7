//! Dominant-speaker tracking: the sender with the most delivered energy over the last second, with a hold.

use media_core::Msi;

/// Slots in the energy window (1 s).
const WINDOW: usize = 50;
/// Slots a new leader must lead before it is announced (300 ms).
const HOLD: u32 = 15;

/// Per-slot energy windows of every sender and the announced dominant speaker.
pub(crate) struct Dominant {
    windows: Vec<[u64; WINDOW]>,
    sums: Vec<u64>,
    pos: usize,
    current: Msi,
    candidate: Msi,
    streak: u32,
}

impl Dominant {
    pub(crate) fn new(senders: usize) -> Self {
        Dominant {
            windows: vec![[0; WINDOW]; senders],
            sums: vec![0; senders],
            pos: 0,
            current: Msi::NONE,
            candidate: Msi::NONE,
            streak: 0,
        }
    }

    /// Records one slot: `delivered[i]` is the energy handed out for sender `i` (0 if none). Returns the new
    /// dominant speaker when it changes.
    pub(crate) fn slot(&mut self, delivered: &[u64], msis: &[Msi]) -> Option<Msi> {
        for (i, w) in self.windows.iter_mut().enumerate() {
            let e = delivered.get(i).copied().unwrap_or(0);
            self.sums[i] = self.sums[i] - w[self.pos] + e;
            w[self.pos] = e;
        }
        self.pos = (self.pos + 1) % WINDOW;
        let mut leader = Msi::NONE;
        let mut best = 0;
        for (i, &s) in self.sums.iter().enumerate() {
            if s > best {
                best = s;
                leader = msis.get(i).copied().unwrap_or(Msi::NONE);
            }
        }
        if leader == self.current {
            self.streak = 0;
            return None;
        }
        if leader == self.candidate {
            self.streak += 1;
        } else {
            self.candidate = leader;
            self.streak = 1;
        }
        if self.streak >= HOLD {
            self.current = leader;
            self.streak = 0;
            return Some(leader);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_speaker_becomes_dominant_after_the_hold_and_nobody_after_a_silent_second() {
        let msis = [Msi(1), Msi(2)];
        let mut d = Dominant::new(2);
        let mut changes = Vec::new();
        for k in 0..200u32 {
            let e = if k < 100 { [10, 0] } else { [0, 0] };
            if let Some(m) = d.slot(&e, &msis) {
                changes.push((k, m));
            }
        }
        assert_eq!(changes, vec![(14, Msi(1)), (149 + 14, Msi::NONE)]);
    }
}

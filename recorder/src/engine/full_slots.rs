//! Who the platform delivered in each recent 20 ms slot, and how loud the quietest of them was. In a slot with
//! four unmixed buffers (full), a quieter sender's frame is dropped by the platform (the four-loudest rule):
//! a break in a sender's timestamps is nothing sent to us when, for each missing frame, a slot nearby was full
//! of four others all at least as loud as that sender; otherwise it was lost.

use media_core::MediaTime;

/// Slots remembered: 4096 × 20 ms = 82 s (gaps are handed over within seconds of their end).
const SLOTS: usize = 4096;
const SLOT: i64 = 200_000; // 20 ms in ticks
const NOBODY: u16 = u16::MAX;

/// The participants (stem indices) delivered in each recent slot, by recording time.
#[derive(Debug)]
pub(super) struct FullSlots {
    /// Per slot: its number (to tell a stale entry), how many buffers the platform said it held, up to four
    /// participants delivered in it and the level of the quietest of them.
    slots: Box<[Entry]>,
    latest: Option<i64>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    slot: i64,
    speakers: u8,
    who: [u16; 4],
    quietest: u16,
}

const EMPTY: Entry = Entry {
    slot: i64::MIN,
    speakers: 0,
    who: [NOBODY; 4],
    quietest: u16::MAX,
};

impl Default for FullSlots {
    fn default() -> Self {
        FullSlots {
            slots: vec![EMPTY; SLOTS].into_boxed_slice(),
            latest: None,
        }
    }
}

fn slot_of(at: MediaTime) -> i64 {
    at.ticks().div_euclid(SLOT)
}

impl FullSlots {
    /// A platform buffer at recording time `at` held `speakers` unmixed buffers.
    pub(super) fn note_slot(&mut self, at: MediaTime, speakers: u8) {
        let s = slot_of(at);
        if let Some(e) = self.slots.get_mut(s.rem_euclid(SLOTS as i64) as usize) {
            *e = Entry {
                slot: s,
                speakers,
                ..EMPTY
            };
        }
        self.latest = Some(self.latest.map_or(s, |l| l.max(s)));
    }

    /// Participant `who` was delivered in the buffer at recording time `at`, at `level` (mean absolute sample
    /// value).
    pub(super) fn note_delivery(&mut self, at: MediaTime, who: usize, level: u16) {
        let s = slot_of(at);
        let Some(e) = self.slots.get_mut(s.rem_euclid(SLOTS as i64) as usize) else {
            return;
        };
        if e.slot == s {
            if let Some(free) = e.who.iter_mut().find(|w| **w == NOBODY) {
                *free = u16::try_from(who).unwrap_or(NOBODY - 1);
            }
            e.quietest = e.quietest.min(level);
        }
    }

    /// True when the break of `who` from `from` to `to`, between frames at `level`, is the four-loudest
    /// rule's doing: for each missing 20 ms frame, one slot from `from` to `to` plus the 100 ms a frame takes
    /// to be delivered was full of four others, each at least half as loud as `who`'s frames around the break
    /// (the frames it lost the rank with are unseen: they are often quieter than their neighbours, the edge
    /// of a syllable).
    pub(super) fn crowded_out(
        &self,
        who: usize,
        from: MediaTime,
        to: MediaTime,
        level: u16,
    ) -> bool {
        let Some(latest) = self.latest else {
            return false;
        };
        let missing = (to.saturating_sub(from).ticks() + SLOT / 2) / SLOT;
        let a = slot_of(from).max(latest - SLOTS as i64 + 1);
        let b = slot_of(to.saturating_add(MediaTime::from_millis(100))).min(latest);
        if b < a || missing <= 0 {
            return false;
        }
        let who = u16::try_from(who).unwrap_or(NOBODY - 1);
        let crowded = (a..=b)
            .filter(|&s| {
                self.slots
                    .get(s.rem_euclid(SLOTS as i64) as usize)
                    .is_some_and(|e| {
                        e.slot == s
                            && e.speakers >= 4
                            && !e.who.contains(&who)
                            && u32::from(e.quietest) * 2 >= u32::from(level)
                    })
            })
            .count() as i64;
        crowded >= missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_break_is_the_platforms_only_when_four_louder_others_filled_the_slots() {
        let ms = MediaTime::from_millis;
        let mut f = FullSlots::default();
        for k in 0..500 {
            let full = (200..300).contains(&k);
            f.note_slot(ms(k * 20), if full { 4 } else { 2 });
            for who in [1usize, 2, 3] {
                f.note_delivery(ms(k * 20), who, 3000);
            }
            if full {
                f.note_delivery(ms(k * 20), if k < 250 { 4 } else { 0 }, 2000);
            }
        }
        // Participant 0 (at level 1500) was not delivered in slots 200..250 while four louder others were.
        assert!(f.crowded_out(0, ms(4_100), ms(4_140), 1500));
        // More than twice as loud as the quietest of them: it would have been delivered, so its break is a
        // loss.
        assert!(f.crowded_out(0, ms(4_100), ms(4_140), 4000));
        assert!(!f.crowded_out(0, ms(4_100), ms(4_140), 4001));
        // From 250 on it was one of the four: its missing frames there were not the platform's doing.
        assert!(!f.crowded_out(0, ms(5_500), ms(5_540), 1500));
        assert!(!f.crowded_out(0, ms(1_000), ms(1_040), 1500));
        assert!(!f.crowded_out(2, ms(4_100), ms(4_140), 1500));
        // Far in the past: forgotten, so not claimed.
        for k in 500..6000 {
            f.note_slot(ms(k * 20), 0);
        }
        assert!(!f.crowded_out(0, ms(4_100), ms(4_140), 1500));
    }
}

//! The placement ring of an [`crate::track::AudioTrack`], made of blocks that can leave it.
//!
//! A track places each participant's frames at their sample positions in a ring and the recorder takes one
//! tick at a time out of it. The ring is a few fixed blocks (half a second each for a track), so a block whose
//! every position has been taken can be handed over whole — to the writer, which writes it to the stem's file
//! as it is — and replaced by a spare (a recycled block), instead of copying each tick out. Ticks taken with
//! [`BlockRing::lend`] are lent in place; a block with lent ticks leaves the ring when the output passes its
//! end ([`BlockRing::retire_before`]) and waits in [`BlockRing::take_finished`]. Ticks taken with
//! [`BlockRing::pull`] are copied out and cleared, as a flat ring would, and their block stays.
//!
//! ```
//! use media_core::block_ring::BlockRing;
//! // Positions 0..8 in blocks of 4 mono samples (a window of 4 positions ahead of the output).
//! let mut ring = BlockRing::new(4, 4, 1);
//! ring.run_mut(0)[..4].copy_from_slice(&[1, 2, 3, 4]);
//! assert_eq!(ring.lend(0, 2), Some(&[1, 2][..]));
//! assert_eq!(ring.lend(2, 2), Some(&[3, 4][..]));
//! ring.retire_before(4);
//! let (start, block) = ring.take_finished().expect("the lent block left the ring");
//! assert_eq!((start, &block[..]), (0, &[1, 2, 3, 4][..]));
//! // Its place holds the positions 8..12 now, silent until written.
//! assert_eq!(ring.lend(8, 4), Some(&[0, 0, 0, 0][..]));
//! ```

use std::collections::VecDeque;

/// Spares a ring keeps at most (one is enough when blocks are recycled as they leave).
const MAX_SPARES: usize = 2;

/// A ring of sample positions in blocks (see the module docs).
#[derive(Debug)]
pub struct BlockRing {
    channels: usize,
    /// Sample frames per block.
    block: usize,
    blocks: Vec<Vec<i16>>,
    /// Blocks with ticks lent out of them (they leave the ring when passed).
    lent: Vec<bool>,
    /// Start of the oldest block in the ring (a multiple of `block`): the ring covers
    /// `[base, base + blocks.len() * block)`.
    base: i64,
    finished: VecDeque<(i64, Vec<i16>)>,
    spares: Vec<Vec<i16>>,
    allocated: u64,
}

impl BlockRing {
    /// A ring that can hold `window` sample frames ahead of the output at any moment, in blocks of `block`
    /// frames of `channels` interleaved samples (all allocated here: `window / block` rounded up, plus one for
    /// the block the output is in).
    pub fn new(window: usize, block: usize, channels: usize) -> Self {
        let block = block.max(1);
        let channels = channels.max(1);
        let count = window.div_ceil(block) + 1;
        BlockRing {
            channels,
            block,
            blocks: (0..count).map(|_| vec![0; block * channels]).collect(),
            lent: vec![false; count],
            base: 0,
            finished: VecDeque::with_capacity(count),
            spares: Vec::with_capacity(MAX_SPARES),
            allocated: 0,
        }
    }

    /// Samples (interleaved) per block.
    pub fn block_len(&self) -> usize {
        self.block * self.channels
    }

    /// Blocks allocated after construction because no spare was there when a lent block left.
    pub fn blocks_allocated(&self) -> u64 {
        self.allocated
    }

    fn locate(&self, pos: i64) -> (usize, usize) {
        let b = self.block as i64;
        let idx = pos.div_euclid(b).rem_euclid(self.blocks.len() as i64) as usize;
        (idx, pos.rem_euclid(b) as usize * self.channels)
    }

    /// The samples from position `pos` to the end of its block, to write frames into.
    pub fn run_mut(&mut self, pos: i64) -> &mut [i16] {
        let (idx, off) = self.locate(pos);
        match self.blocks.get_mut(idx) {
            Some(b) => b.get_mut(off..).unwrap_or_default(),
            None => &mut [],
        }
    }

    /// True when `len` samples from position `from` lie in one block (so they can be lent).
    pub fn fits(&self, from: i64, len: usize) -> bool {
        let (idx, off) = self.locate(from);
        self.blocks
            .get(idx)
            .is_some_and(|b| off.checked_add(len).is_some_and(|end| end <= b.len()))
    }

    /// Lends `len` samples from position `from` in place, when they lie in one block (`None` otherwise: pull
    /// them). The block then leaves the ring when the output passes its end.
    pub fn lend(&mut self, from: i64, len: usize) -> Option<&[i16]> {
        if !self.fits(from, len) {
            return None;
        }
        let (idx, off) = self.locate(from);
        *self.lent.get_mut(idx)? = true;
        self.blocks.get(idx)?.get(off..off + len)
    }

    /// The samples of `[from, until)` of one block still in the ring (lent before), without lending more.
    pub fn lent_run(&self, from: i64, until: i64) -> Option<&[i16]> {
        if until < from || from < self.base {
            return None;
        }
        let (idx, off) = self.locate(from);
        let len = usize::try_from(until - from).ok()? * self.channels;
        self.blocks.get(idx)?.get(off..off.checked_add(len)?)
    }

    /// Copies the samples from position `from` into `out` and clears them (silence until written again).
    pub fn pull(&mut self, from: i64, out: &mut [i16]) {
        let mut pos = from;
        let mut rest = out;
        while !rest.is_empty() {
            let (idx, off) = self.locate(pos);
            let Some(src) = self.blocks.get_mut(idx).and_then(|b| b.get_mut(off..)) else {
                rest.fill(0);
                return;
            };
            let n = src.len().min(rest.len());
            if n == 0 {
                rest.fill(0);
                return;
            }
            let (head, tail) = rest.split_at_mut(n);
            head.copy_from_slice(&src[..n]);
            src[..n].fill(0);
            rest = tail;
            pos += (n / self.channels) as i64;
        }
    }

    /// The output has passed `pos`: every block that ends at or before it is done. A block with lent ticks
    /// leaves the ring for [`Self::take_finished`] and a spare (silent) takes its place; the others were
    /// cleared as they were pulled and stay.
    pub fn retire_before(&mut self, pos: i64) {
        let b = self.block as i64;
        if !self.lent.iter().any(|&l| l) {
            // Nothing lent: only the ring's start moves (a late joiner's start can be hours in).
            self.base = self.base.max(pos.div_euclid(b) * b);
            return;
        }
        while self.base.saturating_add(b) <= pos {
            let (idx, _) = self.locate(self.base);
            if self.lent.get(idx).copied().unwrap_or(false) {
                let fresh = self.spare();
                if let Some(slot) = self.blocks.get_mut(idx) {
                    let old = std::mem::replace(slot, fresh);
                    self.finished.push_back((self.base, old));
                }
                if let Some(l) = self.lent.get_mut(idx) {
                    *l = false;
                }
            }
            self.base += b;
        }
    }

    fn spare(&mut self) -> Vec<i16> {
        match self.spares.pop() {
            Some(s) => s,
            None => {
                self.allocated += 1;
                vec![0; self.block_len()]
            }
        }
    }

    /// A block that left the ring, oldest first, with the position of its first sample frame.
    pub fn take_finished(&mut self) -> Option<(i64, Vec<i16>)> {
        self.finished.pop_front()
    }

    /// At the end of the stream: the block the output is in (holding the lent ticks up to `pos`), when it has
    /// lent ticks; a spare takes its place.
    pub fn take_live(&mut self, pos: i64) -> Option<(i64, Vec<i16>)> {
        let last = pos.checked_sub(1)?;
        if last < self.base {
            return None;
        }
        let (idx, _) = self.locate(last);
        if !self.lent.get(idx).copied().unwrap_or(false) {
            return None;
        }
        let fresh = self.spare();
        let old = std::mem::replace(self.blocks.get_mut(idx)?, fresh);
        if let Some(l) = self.lent.get_mut(idx) {
            *l = false;
        }
        let b = self.block as i64;
        Some((last.div_euclid(b) * b, old))
    }

    /// True when a block leaving now would have no spare to take its place (it would be allocated).
    pub fn needs_spare(&self) -> bool {
        self.spares.is_empty()
    }

    /// Takes a block back for reuse (any content and length: it is cleared and sized here).
    pub fn give_spare(&mut self, mut block: Vec<i16>) {
        if self.spares.len() < MAX_SPARES {
            block.clear();
            block.resize(self.block_len(), 0);
            self.spares.push(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partly_lent_block_leaves_whole_and_its_place_is_silent() {
        let mut r = BlockRing::new(8, 4, 2);
        r.run_mut(2)[..4].copy_from_slice(&[5, 6, 7, 8]);
        let mut out = [9; 4];
        r.pull(0, &mut out);
        assert_eq!(out, [0; 4]);
        assert_eq!(r.lend(2, 4), Some(&[5, 6, 7, 8][..]));
        assert_eq!(r.lent_run(2, 4), Some(&[5, 6, 7, 8][..]));
        r.retire_before(3);
        assert!(
            r.take_finished().is_none(),
            "the output is still in the block"
        );
        r.retire_before(4);
        let (at, b) = r.take_finished().expect("left");
        assert_eq!((at, &b[4..]), (0, &[5, 6, 7, 8][..]));
        assert_eq!(r.blocks_allocated(), 1, "no spare was given");
        // Position 0 + 3 blocks of 4 = 12 maps to the new block: silent.
        assert_eq!(r.lend(12, 8), Some(&[0; 8][..]));
    }

    #[test]
    fn a_lend_across_blocks_is_refused_and_a_pull_crosses() {
        let mut r = BlockRing::new(4, 4, 1);
        r.run_mut(3)[0] = 1;
        r.run_mut(4)[0] = 2;
        assert!(!r.fits(3, 2) && r.fits(3, 1));
        assert_eq!(r.lend(3, 2), None);
        let mut out = [0; 2];
        r.pull(3, &mut out);
        assert_eq!(out, [1, 2]);
    }

    #[test]
    fn spares_are_used_and_the_live_block_is_taken_at_the_end() {
        let mut r = BlockRing::new(4, 4, 1);
        r.give_spare(vec![7; 100]);
        assert!(!r.needs_spare());
        r.run_mut(4)[..2].copy_from_slice(&[3, 4]);
        assert!(r.lend(0, 4).is_some());
        r.retire_before(4);
        assert!(r.take_finished().is_some());
        assert_eq!(r.blocks_allocated(), 0);
        assert_eq!(r.lend(4, 2), Some(&[3, 4][..]));
        assert_eq!(r.lend(8, 4), Some(&[0; 4][..]), "the spare was cleared");
        let (at, b) = r.take_live(6).expect("lent");
        assert_eq!((at, &b[..2]), (4, &[3, 4][..]));
        assert!(r.take_live(6).is_none());
    }
}

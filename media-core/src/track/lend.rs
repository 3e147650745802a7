//! Lending a track's ticks in place and handing its ring's blocks over whole (see [`crate::block_ring`]).

use super::AudioTrack;
use crate::time::MediaTime;

impl AudioTrack {
    /// As [`Self::pull`], but lends the samples in place instead of copying them out, when they lie in one
    /// of the ring's blocks (`None` otherwise, and nothing is taken: pull them). The block leaves the ring
    /// once the output has passed it ([`Self::retire_pulled`], then [`Self::take_finished`]), so a stem can
    /// be written from the very memory its frames were placed in.
    pub fn lend(&mut self, from: i64, len: usize, now: MediaTime) -> Option<&[i16]> {
        self.release(now);
        self.ring.retire_before(from);
        if !self.ring.fits(from, len) {
            return None;
        }
        let frames = (len / self.channels()) as i64;
        self.pulled_until = self.pulled_until.max(from + frames);
        self.ring.lend(from, len)
    }

    /// Lets the blocks the output has passed leave the ring (those with lent samples wait in
    /// [`Self::take_finished`]). [`Self::lend`] leaves the last block in place so its slice can be read.
    pub fn retire_pulled(&mut self) {
        self.ring.retire_before(self.pulled_until);
    }

    /// A block with lent samples that left the ring, oldest first, with the sample position of its start.
    pub fn take_finished(&mut self) -> Option<(i64, Vec<i16>)> {
        self.ring.take_finished()
    }

    /// At the end of the stream, the block the output ends in, when samples were lent from it.
    pub fn take_live(&mut self) -> Option<(i64, Vec<i16>)> {
        self.ring.take_live(self.pulled_until)
    }

    /// The samples of `[from, until)` lent before and still in the ring's current block.
    pub fn lent_run(&self, from: i64, until: i64) -> Option<&[i16]> {
        self.ring.lent_run(from, until)
    }

    /// Everything before this sample position has been pulled or lent.
    pub fn pulled_until(&self) -> i64 {
        self.pulled_until
    }

    /// True when a block leaving the ring now would be allocated (no spare given: [`Self::give_spare`]).
    pub fn needs_spare(&self) -> bool {
        self.ring.needs_spare()
    }

    /// Gives the ring a block to reuse (a finished block back from the writer; cleared here).
    pub fn give_spare(&mut self, block: Vec<i16>) {
        self.ring.give_spare(block);
    }
}

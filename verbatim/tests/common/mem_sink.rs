//! A recording sink that keeps everything in memory: the stems, the mix, the timeline; tick by tick, or in
//! the tracks' ring blocks as the writer thread takes them (`blocks`), giving the blocks back for reuse.

use std::collections::HashSet;

use verbatim::engine::{ParticipantInfo, RecordingSink, TimelineEvent};
use verbatim::metadata::TimelineLists;

/// See the module docs.
#[derive(Default)]
pub struct MemSink {
    pub stems: Vec<Vec<i16>>,
    pub names: Vec<String>,
    /// Each stem's lead-in (zeros before its first tick).
    pub lead_ins: Vec<usize>,
    pub mixed: Vec<i16>,
    pub timeline: TimelineLists,
    pub events: Vec<TimelineEvent>,
    /// Take stems in ring blocks (as the writer thread does) rather than tick by tick.
    pub blocks: bool,
    /// Stem samples received in blocks, and copied (by `stem`).
    pub in_blocks: usize,
    pub copied: usize,
    /// Non-zero stem samples, all and copied.
    pub sound: u64,
    pub copied_sound: u64,
    /// Silence handed over as a count (`stem_silence`): how many times, and the samples.
    pub silence_runs: usize,
    pub silence: usize,
    /// Blocks received (their addresses), and those waiting to be given back.
    pub distinct_blocks: HashSet<usize>,
    spares: Vec<Vec<i16>>,
}

impl MemSink {
    /// A sink that takes stems in ring blocks.
    pub fn in_blocks() -> Self {
        MemSink {
            blocks: true,
            ..MemSink::default()
        }
    }
}

fn sounding(s: &[i16]) -> u64 {
    s.iter().filter(|&&x| x != 0).count() as u64
}

impl RecordingSink for MemSink {
    type Error = std::io::Error;
    fn participant_added(
        &mut self,
        _i: usize,
        p: &ParticipantInfo,
        lead_in: u64,
    ) -> std::io::Result<()> {
        self.stems.push(vec![0; lead_in as usize]);
        self.lead_ins.push(lead_in as usize);
        self.names.push(p.name.clone());
        Ok(())
    }
    fn stem(&mut self, i: usize, s: &[i16]) -> std::io::Result<()> {
        self.copied += s.len();
        let sound = sounding(s);
        self.sound += sound;
        self.copied_sound += sound;
        self.stems[i].extend_from_slice(s);
        Ok(())
    }
    fn takes_stem_blocks(&self) -> bool {
        self.blocks
    }
    fn stem_block(
        &mut self,
        i: usize,
        block: Vec<i16>,
        range: std::ops::Range<usize>,
    ) -> std::io::Result<()> {
        let run = &block[range];
        self.in_blocks += run.len();
        self.sound += sounding(run);
        self.stems[i].extend_from_slice(run);
        self.distinct_blocks.insert(block.as_ptr() as usize);
        self.spares.push(block);
        Ok(())
    }
    fn spare_stem_block(&mut self) -> Option<Vec<i16>> {
        self.spares.pop()
    }
    fn stem_silence(&mut self, i: usize, samples: usize) -> std::io::Result<()> {
        self.silence_runs += 1;
        self.silence += samples;
        let stem = &mut self.stems[i];
        stem.resize(stem.len() + samples, 0);
        Ok(())
    }
    fn mixed(&mut self, s: &[i16]) -> std::io::Result<()> {
        self.mixed.extend_from_slice(s);
        Ok(())
    }
    fn timeline(&mut self, event: TimelineEvent) -> std::io::Result<()> {
        self.events.push(event);
        self.timeline.push(event);
        Ok(())
    }
}

//! What the recorder hands out: the [`RecordingSink`] it writes through and the [`TimelineEvent`]s that
//! metadata lists.

use media_core::ledger::{Gap, GapKind};
use media_core::{MediaTime, Msi, StreamKind};

use super::ParticipantInfo;
use crate::composite::CompositeFrame;
use crate::video::VideoSample;

/// Where the recorder's output goes (files, a network stream, a test buffer).
pub trait RecordingSink {
    /// The sink's error type.
    type Error: std::error::Error + Send + Sync + 'static;
    /// A participant got a stem with index `index`; `lead_in` samples of silence precede its first tick.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn participant_added(
        &mut self,
        index: usize,
        participant: &ParticipantInfo,
        lead_in: u64,
    ) -> Result<(), Self::Error>;
    /// One tick of a participant's stem.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn stem(&mut self, index: usize, samples: &[i16]) -> Result<(), Self::Error>;
    /// One tick of the mix.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn mixed(&mut self, samples: &[i16]) -> Result<(), Self::Error>;
    /// Lends a buffer for one whole tick — `stems + 1` runs of `len` samples: the stems in order, then the
    /// mix — that the recorder fills in place (every sample written) and hands back with
    /// [`Self::tick_filled`], instead of calling [`Self::stem`] and [`Self::mixed`] with its own buffers: a
    /// sink that would copy them anyway (a queue to a writer thread) saves that copy. `None` (the default),
    /// or a buffer of another length: the recorder uses `stem`/`mixed`.
    fn lend_tick(&mut self, _stems: usize, _len: usize) -> Option<&mut [i16]> {
        None
    }
    /// The tick lent by [`Self::lend_tick`] is filled.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn tick_filled(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    /// True when the sink takes each stem as it is handed over, in blocks ([`Self::stem_block`]) and runs
    /// ([`Self::stem`], any length, in order per stem), rather than a tick of every stem before each
    /// [`Self::mixed`]. The recorder then lends the stems' samples from the tracks' rings and hands a ring's
    /// block over whole once the output has passed it: a stem's samples are not copied between the placement
    /// of the participant's frames and the sink. A block's stem comes before the mix of its last tick.
    fn takes_stem_blocks(&self) -> bool {
        false
    }
    /// `block[range]`: a run of stem `index` (see [`Self::takes_stem_blocks`]); the block is the sink's to
    /// keep, and to give back through [`Self::spare_stem_block`] once written.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn stem_block(
        &mut self,
        index: usize,
        block: Vec<i16>,
        range: std::ops::Range<usize>,
    ) -> Result<(), Self::Error> {
        self.stem(index, block.get(range).unwrap_or_default())
    }
    /// `samples` samples (interleaved, as ticks count them) of digital silence of stem `index`, in order with
    /// its other runs: a block-taking sink ([`Self::takes_stem_blocks`]) gets a participant's silence that
    /// is not in a ring block (nobody has heard them yet, or their sources had nothing) as a count, handed
    /// over at least every ring block's length, instead of a copied tick every 20 ms. The default writes
    /// the zeros through [`Self::stem`].
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    ///
    /// ```
    /// use recorder::engine::{ParticipantInfo, RecordingSink, TimelineEvent};
    /// struct Count(usize);
    /// impl RecordingSink for Count {
    ///     type Error = std::convert::Infallible;
    ///     fn participant_added(&mut self, _: usize, _: &ParticipantInfo, _: u64) -> Result<(), Self::Error> { Ok(()) }
    ///     fn stem(&mut self, _: usize, s: &[i16]) -> Result<(), Self::Error> { assert!(s.iter().all(|&x| x == 0)); self.0 += s.len(); Ok(()) }
    ///     fn mixed(&mut self, _: &[i16]) -> Result<(), Self::Error> { Ok(()) }
    ///     fn timeline(&mut self, _: TimelineEvent) -> Result<(), Self::Error> { Ok(()) }
    /// }
    /// let mut sink = Count(0);
    /// sink.stem_silence(0, 8_000).unwrap(); // half a second at 16 kHz, written as zeros by the default
    /// assert_eq!(sink.0, 8_000);
    /// ```
    fn stem_silence(&mut self, index: usize, samples: usize) -> Result<(), Self::Error> {
        stem_zeros(self, index, samples)
    }
    /// The stems someone listens to live (bit `i` for stem `i`; the first 64 stems): the recorder also hands
    /// each tick of theirs to [`Self::stem_tap`], as it makes it, since a block-taking sink gets the stem
    /// itself only a block at a time.
    fn listened_stems(&self) -> u64 {
        0
    }
    /// True while someone listens to the mix live: a sink that queues the mix (the
    /// [`crate::writer_thread::ThreadedSink`] gathers half a second of it per command) then hands it over
    /// tick by tick, so the listener hears it as it is made.
    ///
    /// ```
    /// use recorder::engine::{ParticipantInfo, RecordingSink, TimelineEvent};
    /// struct Quiet;
    /// impl RecordingSink for Quiet {
    ///     type Error = std::convert::Infallible;
    ///     fn participant_added(&mut self, _: usize, _: &ParticipantInfo, _: u64) -> Result<(), Self::Error> { Ok(()) }
    ///     fn stem(&mut self, _: usize, _: &[i16]) -> Result<(), Self::Error> { Ok(()) }
    ///     fn mixed(&mut self, _: &[i16]) -> Result<(), Self::Error> { Ok(()) }
    ///     fn timeline(&mut self, _: TimelineEvent) -> Result<(), Self::Error> { Ok(()) }
    /// }
    /// assert!(!Quiet.listened_mix()); // nobody listens, by default
    /// ```
    fn listened_mix(&self) -> bool {
        false
    }
    /// A batch of calls has ended: the recorder's writer thread calls this after each pass over the sink's
    /// queue. A sink that is told where batches end may hold small writes until then (the folder sink gathers
    /// the journal's lines: one `write(2)` per pass instead of one per line); a sink never told writes
    /// through. The default does nothing.
    ///
    /// # Errors
    /// The sink's own error, as for any call.
    ///
    /// ```
    /// use recorder::engine::{ParticipantInfo, RecordingSink, TimelineEvent};
    /// struct Quiet;
    /// impl RecordingSink for Quiet {
    ///     type Error = std::convert::Infallible;
    ///     fn participant_added(&mut self, _: usize, _: &ParticipantInfo, _: u64) -> Result<(), Self::Error> { Ok(()) }
    ///     fn stem(&mut self, _: usize, _: &[i16]) -> Result<(), Self::Error> { Ok(()) }
    ///     fn mixed(&mut self, _: &[i16]) -> Result<(), Self::Error> { Ok(()) }
    ///     fn timeline(&mut self, _: TimelineEvent) -> Result<(), Self::Error> { Ok(()) }
    /// }
    /// assert!(Quiet.end_batch().is_ok()); // nothing held back, by default
    /// ```
    fn end_batch(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    /// One tick of stem `index` for its live listeners (see [`Self::listened_stems`]); not recorded.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn stem_tap(&mut self, _index: usize, _samples: &[i16]) -> Result<(), Self::Error> {
        Ok(())
    }
    /// A stem block written and given back, for a track's ring to reuse (`None`: the ring allocates one).
    fn spare_stem_block(&mut self) -> Option<Vec<i16>> {
        None
    }
    /// A video stream got index `index`, to be written to `path` (relative to the recording folder).
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn video_stream_added(&mut self, _index: usize, _path: &str) -> Result<(), Self::Error> {
        Ok(())
    }
    /// One video frame of stream `index`, unchanged, at recording time `pts`.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn video_sample(&mut self, _index: usize, _sample: VideoSample) -> Result<(), Self::Error> {
        Ok(())
    }
    /// One frame of the composite meeting video.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn composite_frame(&mut self, _frame: CompositeFrame) -> Result<(), Self::Error> {
        Ok(())
    }
    /// Something `metadata.json` lists (a gap, a dominant-speaker change), handed over once it is final.
    ///
    /// The recorder keeps no list of these (a 25-hour call would grow them without end; only counts stay in
    /// [`CallSummary`](super::CallSummary)): a sink that writes metadata stores them, e.g. [`crate::sink::FolderSink`] appends
    /// them to `timeline.jsonl` and reads them back at close.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn timeline(&mut self, event: TimelineEvent) -> Result<(), Self::Error>;
    /// Something to journal now that does not come from the recorder's media: a pause, a resume, a counter
    /// snapshot (see [`crate::journal`]). Sinks that keep no journal ignore it.
    ///
    /// # Errors
    /// The sink's own error; the recorder stops the call with it ([`super::EngineError::Sink`]).
    fn control(&mut self, _control: crate::journal::SinkControl) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// `samples` zeros to stem `index` through [`RecordingSink::stem`], a static block at a time: the default of
/// [`RecordingSink::stem_silence`], for sinks that take silence as samples.
pub(crate) fn stem_zeros<S: RecordingSink + ?Sized>(
    sink: &mut S,
    index: usize,
    samples: usize,
) -> Result<(), S::Error> {
    static ZEROS: [i16; 2048] = [0; 2048];
    let mut left = samples;
    while left > 0 {
        let n = left.min(ZEROS.len());
        sink.stem(index, &ZEROS[..n])?;
        left -= n;
    }
    Ok(())
}

/// The recorder needs a key frame from a video sender (see [`crate::video`] for when it asks): relay it as
/// Teams' `RequestKeyFrame()` on the socket that receives `msi` (`verbatim listen` sends the bot a
/// `KeyFrameRequest`). Taken with [`super::CallRecorder::take_keyframe_requests`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyFrameRequest {
    /// The video stream's media source id.
    pub msi: Msi,
    /// A camera (`Video`) or the screen share.
    pub kind: StreamKind,
}

/// A timed event of the recording that metadata lists, in the order it became final (per participant and
/// per stream that is time order; across them it is not).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimelineEvent {
    /// Participant `participant` (stem index) had no media for `gap` (lost, refused or not sent).
    AudioGap {
        /// Stem index.
        participant: usize,
        /// The span.
        gap: Gap,
    },
    /// Video stream `video` was not decodable for `gap` (from a loss to the next IDR).
    VideoGap {
        /// Video stream index.
        video: usize,
        /// The span.
        gap: Gap,
    },
    /// The platform's dominant speaker changed.
    DominantSpeaker {
        /// Recording time.
        at: MediaTime,
        /// Stem index of the new dominant speaker, `None` = nobody.
        participant: Option<usize>,
    },
    /// A participant joined (or joined again after leaving).
    Joined {
        /// Stem index.
        participant: usize,
        /// Recording time.
        at: MediaTime,
    },
    /// A participant left (at the end of the call, everyone still there leaves).
    Left {
        /// Stem index.
        participant: usize,
        /// Recording time.
        at: MediaTime,
    },
}

/// How many gaps a track had and how long they were, in all and by kind (the loss ledger's totals).
///
/// A `dropped` gap for a late frame can lie inside a gap counted before (it refines it), so the kinds can add
/// up to a little more than `total` of distinct time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GapTally {
    /// Gaps.
    pub count: u64,
    /// Their total length.
    pub total: MediaTime,
    /// Length of gaps where nothing was sent.
    pub nothing_sent: MediaTime,
    /// Length of gaps inferred lost on the way (inside talk spurts).
    pub inferred_loss: MediaTime,
    /// Length of gaps where received media was dropped here.
    pub dropped: MediaTime,
}

impl GapTally {
    pub(super) fn add(&mut self, g: Gap) {
        self.count += 1;
        self.total = self.total.saturating_add(g.length);
        let by_kind = match g.kind {
            GapKind::InferredLoss => &mut self.inferred_loss,
            GapKind::Dropped(_) => &mut self.dropped,
            GapKind::NothingSent | GapKind::Unclassified => &mut self.nothing_sent,
        };
        *by_kind = by_kind.saturating_add(g.length);
    }
}

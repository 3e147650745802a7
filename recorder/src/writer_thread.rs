//! The writer thread: runs a [`RecordingSink`] (the [`crate::sink::FolderSink`]) on its own thread, so file
//! writes, hashing, the Opus encode of the mix and the once-a-second fsyncs never run on the media thread.
//!
//! ```text
//!  media thread: CallRecorder ─► ThreadedSink ──bounded queue──► writer thread: FolderSink ─► files
//!                                      ▲                                  │
//!                                      └──────── recycled PCM blocks ◄────┘
//! ```
//!
//! Per 20 ms tick the media thread mixes the stems (lent in place from the tracks' rings) straight into a PCM
//! block taken from a pool of recycled blocks ([`RecordingSink::lend_tick`]); the block gathers
//! [`MIX_BATCH`] ticks (half a second) before it is queued, and the writer hands them to the inner sink one
//! tick at a time, in order with every command but a stem's (see [`MIX_BATCH`]); each stem reaches
//! the writer half a second at a time, as the ring block itself ([`RecordingSink::stem_block`]), which the writer
//! appends to the file from that memory and sends back for the ring to reuse. Video samples and composite
//! frames are queued as they are (their `Bytes` are
//! moved, not copied). After warm-up nothing is allocated per frame and the media thread makes no system call
//! for writing: it only pushes into a lock-free bounded queue (`crossbeam` array channel); the writer thread
//! polls that queue (it sleeps [`WriterOptions::poll_interval`] when it is empty, so the media thread never
//! has to wake it).
//!
//! A recording gets a writer thread of its own ([`ThreadedSink::spawn`], as `verbatim record` does), or shares
//! the threads of a [`WriterPool`] with other recordings ([`ThreadedSink::spawn_in`], as `verbatim listen` does
//! for all its calls): a pool thread polls once per poll interval the queues of the sinks the media side has
//! marked since (each command marks the sink's bell, without waking anyone), so hundreds of calls cost a few
//! wake-ups per interval, not hundreds, and a sink with nothing queued is not looked into.
//!
//! # Overflow policy
//! The queue holds [`WriterOptions::queue_capacity`] commands (default 4,096: ~80 s of a 4-speaker audio call,
//! several seconds of a video call). When it is full, the disk is slower than the call: the media thread
//! waits for room (back-pressure; the ingest queue in front of it then absorbs, and counts what it must
//! refuse) and the wait is counted in [`WriterCounters`]. A writer that makes no room for
//! [`WriterOptions::stall_limit`] fails the recording with [`SinkError::WriterStalled`] rather than block a
//! call for ever. Nothing is dropped silently.
//!
//! # Errors
//! The first error of the inner sink stops the writing (later commands are counted as discarded); the media
//! side sees [`SinkError::WriterFailed`] at its next call, and [`ThreadedSink::stop`] hands back the inner sink
//! with that first error, so the caller can still close the folder (marked failed) and keep what was written.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender, TryRecvError, TrySendError};
use crossbeam::utils::CachePadded;

use crate::composite::CompositeFrame;
use crate::engine::{ParticipantInfo, RecordingSink, TimelineEvent};
use crate::pool::{Step, IDLE_WAIT};
use crate::sink::SinkError;
use crate::video::VideoSample;
use media_core::wake::{BellSlot, Doorbell};

/// Settings of the writer thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Commands the queue holds (half a second of the mix is one command, a stem's block one, a video frame
    /// one).
    pub queue_capacity: usize,
    /// How long the writer thread sleeps when the queue is empty (bounds the hand-off → written latency).
    pub poll_interval: Duration,
    /// How long the media thread waits for room in a full queue before the recording fails.
    pub stall_limit: Duration,
}

impl Default for WriterOptions {
    /// 4,096 commands, 10 ms polling (half a tick: a writer wakes 100 times a second, not 200), 30 s stall
    /// limit.
    fn default() -> Self {
        WriterOptions {
            queue_capacity: 4096,
            poll_interval: Duration::from_millis(10),
            stall_limit: Duration::from_secs(30),
        }
    }
}

/// Counters of the writer thread (a snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterCounters {
    /// Commands queued.
    pub queued: u64,
    /// Commands the writer thread handled.
    pub handled: u64,
    /// Most commands waiting at once.
    pub queue_high_water: u64,
    /// Times the media thread found the queue full and waited.
    pub backpressure_waits: u64,
    /// Total time the media thread waited for room, in microseconds.
    pub backpressure_wait_us: u64,
    /// PCM blocks allocated because none was free for recycling (warm-up, or the writer lagging).
    pub pcm_blocks_allocated: u64,
    /// Commands not written because the inner sink had failed before them.
    pub discarded_after_error: u64,
}

#[derive(Default)]
struct Shared {
    /// Published by the sink side (stores of its own counts: no read-modify-write).
    queued: AtomicU64,
    /// Counted by the writer thread for every command, on a cache line of its own: the sink side reads it only
    /// when the queue may be at a new high water, so neither thread takes the other's line at every command.
    handled: CachePadded<AtomicU64>,
    high_water: AtomicU64,
    waits: AtomicU64,
    wait_us: AtomicU64,
    allocated: AtomicU64,
    discarded: AtomicU64,
    failed: AtomicBool,
    error: OnceLock<String>,
    /// The inner sink's [`RecordingSink::listened_stems`], as the writer thread last saw it.
    listened: AtomicU64,
    /// The inner sink's [`RecordingSink::listened_mix`], as the writer thread last saw it.
    mix_listened: AtomicBool,
    /// This sink's bell on its writer thread: rung when the sink side goes (`stop`), marked with every command
    /// (not rung: see `send`).
    bell: BellSlot,
    /// The bell of the thread that waits for room in a full queue (back-pressure), rung by the writer after
    /// each batch it took.
    room: BellSlot,
}

enum Command {
    Participant {
        index: usize,
        info: Box<ParticipantInfo>,
        lead_in: u64,
    },
    /// Copied samples of one stem (back to the tick blocks' pool).
    StemCopy {
        index: usize,
        block: Vec<i16>,
    },
    /// A tick of one stem for its live listeners (back to the tick blocks' pool).
    StemTap {
        index: usize,
        block: Vec<i16>,
    },
    /// A run of one stem: `block[range]` of a block of the track's ring (back to the stem blocks' pool).
    Stem {
        index: usize,
        block: Vec<i16>,
        range: std::ops::Range<usize>,
    },
    /// `samples` samples of silence of one stem (no block: nothing copied, nothing to recycle).
    StemSilence {
        index: usize,
        samples: usize,
    },
    /// One tick: `stems` stems of equal length, then the mix, concatenated in `block`.
    Tick {
        block: Vec<i16>,
        stems: usize,
    },
    /// Ticks of the mix alone, `tick` samples each, one after the other in `block` (see [`MIX_BATCH`]).
    Mix {
        block: Vec<i16>,
        tick: usize,
    },
    VideoStream {
        index: usize,
        path: String,
    },
    Video {
        index: usize,
        sample: VideoSample,
    },
    Composite(CompositeFrame),
    Timeline(TimelineEvent),
    Control(crate::journal::SinkControl),
}

/// A [`RecordingSink`] that hands everything to an inner sink running on its own writer thread.
///
/// Dropped without [`ThreadedSink::stop`], the thread still writes what was queued and then ends (the inner
/// sink is then dropped unclosed, as after a crash: `verbatim recover` closes such a folder).
pub struct ThreadedSink<S: RecordingSink<Error = SinkError> + Send + 'static> {
    tx: Option<Sender<Command>>,
    pool: Receiver<Vec<i16>>,
    /// Stem blocks back from the writer, for the tracks' rings ([`RecordingSink::spare_stem_block`]).
    stem_pool: Receiver<Vec<i16>>,
    block: Vec<i16>,
    stems: usize,
    /// Mix-only ticks filled in `block` and not queued yet, their length, and every mix tick so far (the
    /// gathered ticks are queued when this reaches a multiple of [`MIX_BATCH`]).
    mix_ticks: usize,
    mix_len: usize,
    mix_seen: u64,
    /// The block lent last was for a tick of the mix alone, at the end of the gathered ones.
    lent_mix: bool,
    /// Commands queued, the queue's high water, and the writer's `handled` as last read (this side's own
    /// counts; `Shared` publishes them).
    queued: u64,
    high_water: u64,
    seen_handled: u64,
    shared: Arc<Shared>,
    options: WriterOptions,
    done: Receiver<(S, Option<SinkError>)>,
    /// The private writer thread of [`ThreadedSink::spawn`] (none when served by a [`WriterPool`]).
    thread: Option<JoinHandle<()>>,
}

impl<S: RecordingSink<Error = SinkError> + Send + 'static> ThreadedSink<S> {
    /// Starts the writer thread with `inner`.
    ///
    /// # Errors
    /// [`SinkError::WriterFailed`] when the thread cannot be started.
    pub fn spawn(inner: S, options: WriterOptions) -> Result<Self, SinkError> {
        let (sink, job) = Self::with_job(inner, options);
        let poll = options.poll_interval;
        let thread = std::thread::Builder::new()
            .name("verbatim-writer".into())
            .spawn(move || {
                let mut job = job;
                let bell = Doorbell::for_current_thread();
                job.shared.bell.set(Arc::clone(&bell));
                // Polls every poll interval (the media thread never rings: no system call there); the
                // bell only hurries the end (`stop`).
                loop {
                    match job.poll(usize::MAX) {
                        Step::Done => break,
                        Step::Worked | Step::Idle => {
                            bell.wait(|| false, poll);
                        }
                    }
                }
            })
            .map_err(|e| SinkError::WriterFailed(format!("cannot start the writer thread: {e}")))?;
        let mut sink = sink;
        sink.thread = Some(thread);
        Ok(sink)
    }

    /// Hands `inner` to one of `pool`'s writer threads (shared with other recordings) instead of a thread of
    /// its own; the pool's options apply.
    ///
    /// # Errors
    /// [`SinkError::WriterFailed`] when the pool has shut down.
    pub fn spawn_in(inner: S, pool: &WriterPool) -> Result<Self, SinkError> {
        let (sink, job) = Self::with_job(inner, pool.options());
        pool.add(Box::new(job))?;
        Ok(sink)
    }

    fn with_job(inner: S, options: WriterOptions) -> (Self, Job<S>) {
        let capacity = options.queue_capacity.max(1);
        let (tx, rx) = channel::bounded(capacity);
        let (pool_tx, pool) = channel::bounded(capacity);
        let (stems_tx, stem_pool) = channel::bounded(STEM_POOL);
        let (done_tx, done) = channel::bounded(1);
        let shared = Arc::new(Shared::default());
        let job = Job {
            inner: Some(inner),
            rx,
            recycle: Recycle {
                ticks: pool_tx,
                stems: stems_tx,
            },
            shared: Arc::clone(&shared),
            first_err: None,
            done: done_tx,
        };
        let sink = ThreadedSink {
            tx: Some(tx),
            pool,
            stem_pool,
            block: Vec::new(),
            stems: 0,
            mix_ticks: 0,
            mix_len: 0,
            mix_seen: 0,
            lent_mix: false,
            queued: 0,
            high_water: 0,
            seen_handled: 0,
            shared,
            options,
            done,
            thread: None,
        };
        (sink, job)
    }

    /// The writer's counters so far.
    pub fn counters(&self) -> WriterCounters {
        snapshot(&self.shared)
    }

    /// Waits until everything queued is written, stops the thread and returns the inner sink with the first
    /// error it met (if any), to be closed by the caller.
    ///
    /// # Errors
    /// [`SinkError::WriterFailed`] if the writer thread panicked.
    pub fn stop(mut self) -> Result<(S, Option<SinkError>, WriterCounters), SinkError> {
        // The mix gathered and not queued yet goes first (an error here is the writer's: `stop` reports it).
        let _ = self.queue_mix();
        self.tx = None; // disconnects: the writer drains what is queued, then hands the sink back
        self.shared.bell.ring();
        let back = self.done.recv();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let (inner, err) =
            back.map_err(|_| SinkError::WriterFailed("the writer thread panicked".into()))?;
        Ok((inner, err, snapshot(&self.shared)))
    }

    fn check(&self) -> Result<(), SinkError> {
        if self.shared.failed.load(Ordering::Acquire) {
            let msg = self.shared.error.get().cloned().unwrap_or_default();
            return Err(SinkError::WriterFailed(msg));
        }
        Ok(())
    }

    /// Queues `cmd` after the mix ticks gathered so far (every command but a stem's: see [`MIX_BATCH`]).
    fn send(&mut self, cmd: Command) -> Result<(), SinkError> {
        self.queue_mix()?;
        self.queue(cmd)
    }

    /// Queues the mix ticks gathered in `block` (if any) as one command.
    fn queue_mix(&mut self) -> Result<(), SinkError> {
        let like = self.block.capacity();
        let Some(cmd) = self.take_mix() else {
            return Ok(());
        };
        let r = self.queue(cmd);
        self.block = self.fresh_block(like);
        r
    }

    /// The mix ticks gathered in `block` as one command (`block` is then empty), if any.
    fn take_mix(&mut self) -> Option<Command> {
        if self.mix_ticks == 0 {
            return None;
        }
        let mut block = std::mem::take(&mut self.block);
        block.truncate(self.mix_ticks * self.mix_len);
        self.mix_ticks = 0;
        Some(Command::Mix {
            block,
            tick: self.mix_len,
        })
    }

    fn queue(&mut self, cmd: Command) -> Result<(), SinkError> {
        self.check()?;
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| SinkError::WriterFailed("stopped".into()))?;
        let cmd = match tx.try_send(cmd) {
            Ok(()) => None,
            Err(TrySendError::Full(cmd)) => Some(cmd),
            Err(TrySendError::Disconnected(_)) => {
                return Err(SinkError::WriterFailed("the writer thread ended".into()))
            }
        };
        if let Some(mut cmd) = cmd {
            // Back-pressure: the disk is slower than the call. Sleep until the writer made room (it rings
            // after each batch), counted, up to the stall limit.
            let t = Instant::now();
            self.shared.waits.fetch_add(1, Ordering::Relaxed);
            loop {
                match tx.try_send(cmd) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => cmd = back,
                    Err(TrySendError::Disconnected(_)) => {
                        return Err(SinkError::WriterFailed("the writer thread ended".into()))
                    }
                }
                let left = self.options.stall_limit.saturating_sub(t.elapsed());
                if left.is_zero() {
                    self.note_wait(t);
                    return Err(SinkError::WriterStalled(self.options.stall_limit));
                }
                // The writer rings the slot after each batch (this thread's bell once it first waited).
                self.shared.room.wait(|| !tx.is_full(), left.min(IDLE_WAIT));
            }
            self.note_wait(t);
        }
        // Not rung: a ring can be a futex wake, a system call, and this is the media thread. Marked: the
        // writer thread, polling every poll interval while it has sinks, looks only into marked queues.
        self.shared.bell.mark();
        self.queued += 1;
        self.shared.queued.store(self.queued, Ordering::Relaxed);
        // At most `queued - seen_handled` wait (`handled` only grows): the writer's count is read only when
        // that bound passes the high water.
        if self.queued.saturating_sub(self.seen_handled) > self.high_water {
            self.seen_handled = self.shared.handled.load(Ordering::Relaxed);
            let waiting = self.queued.saturating_sub(self.seen_handled);
            if waiting > self.high_water {
                self.high_water = waiting;
                self.shared.high_water.store(waiting, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn note_wait(&self, since: Instant) {
        let us = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.shared.wait_us.fetch_add(us, Ordering::Relaxed);
    }

    /// A recycled tick block holding a copy of `samples`.
    fn copied_block(&mut self, samples: &[i16]) -> Vec<i16> {
        let mut block = self.fresh_block(samples.len());
        block.clear();
        block.extend_from_slice(samples);
        block
    }

    fn fresh_block(&mut self, like: usize) -> Vec<i16> {
        match self.pool.try_recv() {
            Ok(b) => b,
            Err(_) => {
                self.shared.allocated.fetch_add(1, Ordering::Relaxed);
                Vec::with_capacity(like)
            }
        }
    }
}

fn snapshot(s: &Shared) -> WriterCounters {
    WriterCounters {
        queued: s.queued.load(Ordering::Relaxed),
        handled: s.handled.load(Ordering::Relaxed),
        queue_high_water: s.high_water.load(Ordering::Relaxed),
        backpressure_waits: s.waits.load(Ordering::Relaxed),
        backpressure_wait_us: s.wait_us.load(Ordering::Relaxed),
        pcm_blocks_allocated: s.allocated.load(Ordering::Relaxed),
        discarded_after_error: s.discarded.load(Ordering::Relaxed),
    }
}

impl<S: RecordingSink<Error = SinkError> + Send + 'static> RecordingSink for ThreadedSink<S> {
    type Error = SinkError;

    fn participant_added(
        &mut self,
        index: usize,
        p: &ParticipantInfo,
        lead_in: u64,
    ) -> Result<(), SinkError> {
        self.send(Command::Participant {
            index,
            info: Box::new(p.clone()),
            lead_in,
        })
    }

    fn stem(&mut self, index: usize, samples: &[i16]) -> Result<(), SinkError> {
        // A copy (ticks of a participant heard through two sources at once, or converted from another rate).
        let block = self.copied_block(samples);
        self.queue(Command::StemCopy { index, block })
    }

    fn takes_stem_blocks(&self) -> bool {
        true
    }

    fn listened_stems(&self) -> u64 {
        self.shared.listened.load(Ordering::Relaxed)
    }

    fn listened_mix(&self) -> bool {
        self.shared.mix_listened.load(Ordering::Relaxed)
    }

    fn stem_tap(&mut self, index: usize, samples: &[i16]) -> Result<(), SinkError> {
        let block = self.copied_block(samples);
        // In order with the mix: a listen-in's tick is stamped with the mix's clock.
        self.send(Command::StemTap { index, block })
    }

    fn stem_block(
        &mut self,
        index: usize,
        block: Vec<i16>,
        range: std::ops::Range<usize>,
    ) -> Result<(), SinkError> {
        self.queue(Command::Stem {
            index,
            block,
            range,
        })
    }

    fn stem_silence(&mut self, index: usize, samples: usize) -> Result<(), SinkError> {
        self.queue(Command::StemSilence { index, samples })
    }

    fn spare_stem_block(&mut self) -> Option<Vec<i16>> {
        self.stem_pool.try_recv().ok()
    }

    fn mixed(&mut self, samples: &[i16]) -> Result<(), SinkError> {
        // Only when the recorder did not fill a lent tick: the stems came on their own (`stem`, `stem_block`).
        self.mix_seen += 1;
        let block = self.copied_block(samples);
        self.send(Command::Tick { block, stems: 0 })
    }

    fn lend_tick(&mut self, stems: usize, len: usize) -> Option<&mut [i16]> {
        if self.mix_ticks > 0 && (stems != 0 || len != self.mix_len) {
            // A tick of another shape after gathered mix ticks: the recorder's copy path queues them first.
            return None;
        }
        // The recorder pulls the stems and mixes straight into the block the writer will get; ticks of the mix
        // alone are gathered, one after the other, in the same block.
        let need = stems.checked_add(1)?.checked_mul(len)?;
        let gather = stems == 0 && len > 0;
        let at = if gather { self.mix_ticks * len } else { 0 };
        let end = at.checked_add(need)?;
        if self.block.capacity() == 0 {
            let batch = if gather { MIX_BATCH } else { 1 };
            self.block = self.fresh_block(need.saturating_mul(batch));
        }
        let fits = if gather {
            self.block.len() >= end // gathered ticks ahead of this one stay
        } else {
            self.block.len() == end
        };
        if !fits {
            // Only when the tick's shape changes (a participant joins, the last short tick) or the block is
            // new or came back shorter: a recycled block of the same call keeps its length.
            self.block.resize(end, 0);
        }
        self.stems = stems;
        self.lent_mix = gather;
        if gather {
            self.mix_len = len;
        }
        self.block.get_mut(at..end)
    }

    fn tick_filled(&mut self) -> Result<(), SinkError> {
        let stems = std::mem::take(&mut self.stems);
        if std::mem::take(&mut self.lent_mix) {
            // A tick of the mix alone: gathered; queued at every MIX_BATCH-th tick of the recording (or at
            // once while someone listens to the mix live).
            self.mix_ticks += 1;
            self.mix_seen += 1;
            let live = self.shared.mix_listened.load(Ordering::Relaxed);
            if live || self.mix_seen % MIX_BATCH as u64 == 0 {
                return self.queue_mix();
            }
            return Ok(());
        }
        let like = self.block.capacity();
        let block = std::mem::take(&mut self.block);
        let r = self.send(Command::Tick { block, stems });
        self.block = self.fresh_block(like);
        r
    }

    fn video_stream_added(&mut self, index: usize, path: &str) -> Result<(), SinkError> {
        self.send(Command::VideoStream {
            index,
            path: path.to_string(),
        })
    }

    fn video_sample(&mut self, index: usize, sample: VideoSample) -> Result<(), SinkError> {
        self.send(Command::Video { index, sample })
    }

    fn composite_frame(&mut self, frame: CompositeFrame) -> Result<(), SinkError> {
        self.send(Command::Composite(frame))
    }

    fn timeline(&mut self, event: TimelineEvent) -> Result<(), SinkError> {
        self.send(Command::Timeline(event))
    }

    fn control(&mut self, control: crate::journal::SinkControl) -> Result<(), SinkError> {
        self.send(Command::Control(control))
    }
}

fn apply<S: RecordingSink<Error = SinkError>>(
    inner: &mut S,
    cmd: Command,
    recycle: &Recycle,
) -> Result<(), SinkError> {
    match cmd {
        Command::StemTap { index, block } => {
            let r = inner.stem_tap(index, &block);
            let _ = recycle.ticks.try_send(block);
            r
        }
        Command::StemCopy { index, block } => {
            let r = inner.stem(index, &block);
            let _ = recycle.ticks.try_send(block);
            r
        }
        Command::Stem {
            index,
            block,
            range,
        } => {
            let r = inner.stem(index, block.get(range).unwrap_or_default());
            // Back to the media side, where a track's ring takes it as a spare (and clears it there).
            let _ = recycle.stems.try_send(block);
            r
        }
        Command::StemSilence { index, samples } => inner.stem_silence(index, samples),
        Command::Participant {
            index,
            info,
            lead_in,
        } => inner.participant_added(index, &info, lead_in),
        Command::Tick { block, stems } => {
            let len = block.len() / (stems + 1);
            let mut r = Ok(());
            for (i, chunk) in block.chunks_exact(len.max(1)).take(stems).enumerate() {
                r = inner.stem(i, chunk);
                if r.is_err() {
                    break;
                }
            }
            if r.is_ok() {
                r = inner.mixed(&block[stems * len..]);
            }
            // Recycled at its length: the next tick of the same call lends it as it is (no clearing pass).
            let _ = recycle.ticks.try_send(block); // a full pool frees the block here, off the media thread
            r
        }
        Command::Mix { block, tick } => {
            // Tick by tick, as the recorder made them: the inner sink sees the calls it would have seen.
            let mut r = Ok(());
            for t in block.chunks(tick.max(1)) {
                r = inner.mixed(t);
                if r.is_err() {
                    break;
                }
            }
            let _ = recycle.ticks.try_send(block);
            r
        }
        Command::VideoStream { index, path } => inner.video_stream_added(index, &path),
        Command::Video { index, sample } => inner.video_sample(index, sample),
        Command::Composite(frame) => inner.composite_frame(frame),
        Command::Timeline(event) => inner.timeline(event),
        Command::Control(c) => inner.control(c),
    }
}

/// Where the writer thread sends the blocks it has written, for the media side to fill again.
struct Recycle {
    ticks: Sender<Vec<i16>>,
    stems: Sender<Vec<i16>>,
}

/// Ticks of the mix alone gathered in one block before it is queued: half a second of 20 ms ticks, one
/// command (one queue operation on each side, one block to recycle) instead of 25.
///
/// The block is queued when the recording's mix ticks reach a multiple of `MIX_BATCH` (so a fragment or WAV
/// chunk that ends on a whole second is complete at once, not half a second later), before any command other
/// than a stem's (a participant added, a control, a timeline event: each comes after exactly the mix ticks
/// made before it, so a counter snapshot never runs ahead of the mix it describes), when the tick's shape
/// changes, at [`ThreadedSink::stop`], and after every tick while someone listens to the mix live
/// ([`RecordingSink::listened_mix`]). A stem's data (its block, copy or silence) goes straight into the
/// queue, ahead of the mix ticks gathered meanwhile: it goes to another file, and waiting for the mix
/// would cut the mix's batch at every stem block (8 ticks a command on average in a stand-up instead of 25:
/// more queue operations and blocks to recycle; the Opus encode itself costs the same either way, 16 µs a
/// frame in batches of 8 or 25 among 50 calls' encoders). Each stem's calls, and everything but the stems, keep
/// their order. The writer hands the ticks to the inner sink one by one: its files are the same byte for
/// byte. A sink dropped without `stop` still queues what it gathered
/// (if the queue has room; it does not wait); what is gathered and not queued is lost with the process, as
/// the unfinished fragment it belongs to is (the journal never recorded it).
///
/// ```
/// // Half a second of the recorder's 20 ms ticks; a 1 s fragment ends with every second block.
/// assert_eq!(recorder::writer_thread::MIX_BATCH * 20, 500);
/// ```
pub const MIX_BATCH: usize = 25;

impl<S: RecordingSink<Error = SinkError> + Send + 'static> Drop for ThreadedSink<S> {
    fn drop(&mut self) {
        // Not stopped (an error path): the gathered mix is queued if there is room, without waiting.
        if let (Some(cmd), Some(tx)) = (self.take_mix(), &self.tx) {
            if tx.try_send(cmd).is_ok() {
                self.shared.bell.ring();
            }
        }
    }
}

/// Stem blocks waiting to be reused at most (a ring takes one as each of its blocks leaves).
const STEM_POOL: usize = 16;

/// One sink's writing work, run by a writer thread.
struct Job<S> {
    inner: Option<S>,
    rx: Receiver<Command>,
    recycle: Recycle,
    shared: Arc<Shared>,
    first_err: Option<SinkError>,
    done: Sender<(S, Option<SinkError>)>,
}

/// What a writer thread runs: a sink's queue, drained a bounded number of commands at a time.
trait Drain: Send {
    /// Handles up to `budget` queued commands: [`Step::Done`] once the sink's side is gone and everything was
    /// written (the sink has then been handed back), [`Step::Idle`] when nothing was queued.
    fn poll(&mut self, budget: usize) -> Step;
    /// Names the bell of this sink on its writer thread: the sink side marks it with every command and rings
    /// it when it goes.
    fn attach(&self, bell: &Arc<Doorbell>);
}

impl<S: RecordingSink<Error = SinkError> + Send> Drain for Job<S> {
    fn attach(&self, bell: &Arc<Doorbell>) {
        self.shared.bell.set(Arc::clone(bell));
    }

    fn poll(&mut self, budget: usize) -> Step {
        for n in 0..budget {
            match self.rx.try_recv() {
                Ok(cmd) => {
                    match (&mut self.inner, self.first_err.is_none()) {
                        (Some(inner), true) => {
                            if let Err(e) = apply(inner, cmd, &self.recycle) {
                                Self::fail(&self.shared, &mut self.first_err, e);
                            }
                            // Listen-ins come and go through commands (and a gone listener's tap is
                            // dropped as it is fed): the media side reads which stems to tap from here.
                            let listened = inner.listened_stems();
                            if listened != self.shared.listened.load(Ordering::Relaxed) {
                                self.shared.listened.store(listened, Ordering::Relaxed);
                            }
                            let mix = inner.listened_mix();
                            if mix != self.shared.mix_listened.load(Ordering::Relaxed) {
                                self.shared.mix_listened.store(mix, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            self.shared.discarded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    self.shared.handled.fetch_add(1, Ordering::Relaxed);
                }
                Err(TryRecvError::Empty) if n == 0 => return Step::Idle,
                Err(TryRecvError::Empty) => {
                    self.end_batch();
                    self.shared.room.ring();
                    return Step::Worked;
                }
                // Every sender gone (stop, or the sink dropped) and the queue drained: hand the sink back.
                Err(TryRecvError::Disconnected) => {
                    self.end_batch();
                    if let Some(inner) = self.inner.take() {
                        let _ = self.done.send((inner, self.first_err.take()));
                    }
                    return Step::Done;
                }
            }
        }
        self.end_batch();
        self.shared.room.ring();
        Step::Worked
    }
}

impl<S: RecordingSink<Error = SinkError> + Send> Job<S> {
    /// Tells the sink its batch ended (it may have held writes back for it); an error stops the writing as
    /// a command's would.
    fn end_batch(&mut self) {
        if let (Some(inner), true) = (&mut self.inner, self.first_err.is_none()) {
            if let Err(e) = inner.end_batch() {
                Self::fail(&self.shared, &mut self.first_err, e);
            }
        }
    }

    /// The sink failed: its error is published (the media side stops queueing) and kept for the hand-back;
    /// what is queued after it is discarded and counted.
    fn fail(shared: &Shared, first_err: &mut Option<SinkError>, e: SinkError) {
        let _ = shared.error.set(e.to_string());
        shared.failed.store(true, Ordering::Release);
        *first_err = Some(e);
    }
}

mod writer_pool;
pub use writer_pool::WriterPool;

#[cfg(test)]
mod tests;

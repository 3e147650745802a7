//! The in-process push API: SDK-shaped buffers in, [`IngestEvent`]s out on a bounded lock-free queue.
//!
//! [`Ingest`] is what a bot's SDK event handlers call. Every call returns at once: it validates the buffer,
//! splits an `AudioMediaBuffer` into one [`AudioFrame`] per unmixed buffer (referencing the same bytes), and
//! pushes onto a [`media_core::queue`] SPSC ring that the media worker drains. It never blocks, never locks and
//! never allocates per frame. Anything it refuses is counted in [`IngestCounters`] and reported in the returned
//! [`PushReport`]; nothing is dropped silently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use media_core::queue::{self, QueueConsumer, QueueProducer, QueueStats};
use media_core::{
    AudioFrame, FrameTiming, MediaTime, Msi, SourceId, SourceTimestamp, StreamKind, VideoCodec,
    VideoFrame,
};

use crate::sdk::{
    AudioMediaBuffer, DominantSpeakerChanged, RosterChange, VideoMediaBuffer, VideoSocket,
};

/// The audio frame duration the engine accepts (Teams delivers 20 ms buffers).
pub const AUDIO_FRAME: MediaTime = MediaTime::from_millis(20);
/// Most events one push call can queue (a tick plus four unmixed frames).
pub const MAX_EVENTS_PER_PUSH: usize = 1 + crate::sdk::MAX_UNMIXED;
/// Largest video payload accepted (a 1080p NV12 picture is 3.1 MB; H.264 frames are far smaller).
pub const MAX_VIDEO_BYTES: usize = 8 << 20;

/// What flows from the ingest side to the media worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngestEvent {
    /// The platform's clock advanced: one `AudioMediaBuffer` was delivered at `reference` (sent even when it held
    /// no unmixed buffer, so the worker knows time moves while nobody speaks).
    Tick {
        /// The buffer's `Timestamp` (call reference clock).
        reference: SourceTimestamp,
        /// Engine clock when it was handed over.
        arrival: MediaTime,
        /// How many unmixed buffers the platform delivered in this slot: at four (`MAX_UNMIXED`) the slot was
        /// full, and a quieter sender's frame may not have been delivered (the four-loudest rule).
        speakers: u8,
    },
    /// One participant's audio frame.
    Audio(AudioFrame),
    /// One video or screen-share frame.
    Video(VideoFrame),
    /// The roster changed.
    Roster {
        /// Reference-clock time of the change (0 = at the latest known time).
        reference: SourceTimestamp,
        /// What changed.
        change: RosterChange,
    },
    /// The dominant speaker changed.
    DominantSpeaker {
        /// Reference-clock time of the change.
        reference: SourceTimestamp,
        /// The event.
        event: DominantSpeakerChanged,
    },
    /// The call ended at `reference` (the end of the recording timeline).
    CallEnded {
        /// Reference-clock time of the end.
        reference: SourceTimestamp,
    },
}

/// Why a buffer (or a part of it) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The ingest queue was full (the media worker is behind); see the queue's overflow policy.
    #[error("ingest queue full: {what} dropped")]
    QueueFull {
        /// What was dropped.
        what: &'static str,
    },
    /// An unmixed audio buffer whose length is not one 20 ms frame in the buffer's format.
    #[error("audio buffer from {msi} has {actual} bytes, expected {expected}")]
    WrongAudioLength {
        /// The speaker.
        msi: Msi,
        /// Bytes expected for 20 ms.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// A video buffer that is empty, larger than [`MAX_VIDEO_BYTES`], or an NV12 picture of the wrong size.
    #[error("video buffer from {msi}: {reason}")]
    BadVideo {
        /// The sender.
        msi: Msi,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Counters of everything the ingest side accepted and refused (shared with the worker and metrics).
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Audio frames queued.
    pub audio_frames: AtomicU64,
    /// Video frames queued.
    pub video_frames: AtomicU64,
    /// Audio buffers refused for their length.
    pub wrong_audio_length: AtomicU64,
    /// Video buffers refused as malformed.
    pub bad_video: AtomicU64,
    /// Events lost because the queue was full.
    pub queue_full: AtomicU64,
}

impl IngestCounters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The outcome of one push call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// Frames or events queued.
    pub accepted: u32,
    /// Frames or events refused (each counted in [`IngestCounters`]).
    pub refused: u32,
    /// The first refusal, for the caller's log.
    pub first_refusal: Option<Refusal>,
}

impl PushReport {
    fn refuse(&mut self, why: Refusal) {
        self.refused += 1;
        if self.first_refusal.is_none() {
            self.first_refusal = Some(why);
        }
    }
}

/// The producer side: what the bot's event handlers call.
pub struct Ingest {
    tx: QueueProducer<IngestEvent>,
    counters: Arc<IngestCounters>,
}

/// The consumer side, owned by the media worker.
pub struct IngestReceiver {
    rx: QueueConsumer<IngestEvent>,
    counters: Arc<IngestCounters>,
}

/// Makes a connected [`Ingest`] / [`IngestReceiver`] pair whose queue holds `capacity` events.
///
/// Size it for the longest stall of the media worker you want to ride out: a 4-speaker call queues about
/// 250 events per second (50 ticks + 200 frames).
///
/// # Examples
/// ```
/// use bot_adapter::ingest::{channel, IngestEvent};
/// use bot_adapter::sdk::{AudioMediaBuffer, FixedList, UnmixedAudioBuffer};
/// use media_core::{AudioFormat, MediaTime, Msi, SourceTimestamp};
///
/// let (mut ingest, mut rx) = channel(1024);
/// let mut buf = AudioMediaBuffer {
///     timestamp: SourceTimestamp::new(1_000),
///     format: AudioFormat::PCM16K,
///     is_silence: false,
///     active_speakers: FixedList::new(),
///     unmixed: FixedList::new(),
/// };
/// buf.unmixed
///     .push(UnmixedAudioBuffer {
///         active_speaker_id: Msi(7),
///         data: bytes::Bytes::from(vec![0u8; 640]),
///         original_sender_timestamp: SourceTimestamp::new(5_000),
///     })
///     .unwrap();
/// let report = ingest.push_audio(MediaTime::ZERO, buf);
/// assert_eq!(report.accepted, 2); // one tick + one frame
/// assert!(matches!(rx.pop(), Some(IngestEvent::Tick { .. })));
/// assert!(matches!(rx.pop(), Some(IngestEvent::Audio(f)) if f.source.msi == Msi(7)));
/// ```
pub fn channel(capacity: usize) -> (Ingest, IngestReceiver) {
    let (tx, rx) = queue::bounded(capacity);
    let counters = Arc::new(IngestCounters::default());
    (
        Ingest {
            tx,
            counters: Arc::clone(&counters),
        },
        IngestReceiver { rx, counters },
    )
}

impl Ingest {
    fn send(&mut self, ev: IngestEvent, what: &'static str, report: &mut PushReport) -> bool {
        match self.tx.push(ev) {
            Ok(()) => {
                report.accepted += 1;
                true
            }
            Err(_) => {
                IngestCounters::bump(&self.counters.queue_full);
                report.refuse(Refusal::QueueFull { what });
                false
            }
        }
    }

    /// Pushes one `AudioMediaBuffer`: a [`IngestEvent::Tick`] then one [`IngestEvent::Audio`] per valid unmixed
    /// buffer. `now` is the engine clock at hand-over. Takes the buffer by value so its bytes move on.
    pub fn push_audio(&mut self, now: MediaTime, mut buffer: AudioMediaBuffer) -> PushReport {
        let mut report = PushReport::default();
        let expected = buffer.format.bytes_in(AUDIO_FRAME);
        self.send(
            IngestEvent::Tick {
                reference: buffer.timestamp,
                arrival: now,
                speakers: buffer.unmixed.len().min(usize::from(u8::MAX)) as u8,
            },
            "tick",
            &mut report,
        );
        for u in buffer.unmixed.drain() {
            if u.data.len() != expected {
                IngestCounters::bump(&self.counters.wrong_audio_length);
                report.refuse(Refusal::WrongAudioLength {
                    msi: u.active_speaker_id,
                    expected,
                    actual: u.data.len(),
                });
                continue;
            }
            let frame = AudioFrame {
                source: SourceId::audio(u.active_speaker_id.0),
                timing: FrameTiming {
                    timestamp: u.original_sender_timestamp,
                    reference: buffer.timestamp,
                    arrival: now,
                },
                format: buffer.format,
                is_silence: buffer.is_silence,
                payload: u.data,
            };
            if self.send(IngestEvent::Audio(frame), "audio frame", &mut report) {
                IngestCounters::bump(&self.counters.audio_frames);
            }
        }
        report
    }

    /// Pushes one `VideoMediaBuffer` (camera or screen share). `reference` is the call reference clock at
    /// delivery when the caller knows it (else pass the latest audio buffer's timestamp).
    pub fn push_video(
        &mut self,
        now: MediaTime,
        reference: SourceTimestamp,
        buffer: VideoMediaBuffer,
    ) -> PushReport {
        let mut report = PushReport::default();
        let msi = buffer.media_source_id;
        let f = buffer.format;
        let reason = if buffer.data.is_empty() {
            Some("empty payload")
        } else if buffer.data.len() > MAX_VIDEO_BYTES {
            Some("payload larger than the 8 MiB limit")
        } else if f.codec == VideoCodec::Nv12 {
            let stride = f.stride.max(f.width) as usize;
            let need = stride * f.height as usize * 3 / 2;
            if f.width == 0 || f.height == 0 || buffer.data.len() < need {
                Some("NV12 payload smaller than stride x height x 3/2")
            } else {
                None
            }
        } else {
            None
        };
        if let Some(reason) = reason {
            IngestCounters::bump(&self.counters.bad_video);
            report.refuse(Refusal::BadVideo { msi, reason });
            return report;
        }
        let kind = match buffer.socket {
            VideoSocket::Main(_) => StreamKind::Video,
            VideoSocket::ScreenShare => StreamKind::ScreenShare,
        };
        let keyframe = f.codec == VideoCodec::H264 && media_core::h264::has_idr(&buffer.data);
        let frame = VideoFrame {
            source: SourceId { msi, kind },
            timing: FrameTiming {
                timestamp: buffer.timestamp,
                reference,
                arrival: now,
            },
            format: f,
            original_size: buffer.original_size,
            keyframe,
            payload: buffer.data,
        };
        if self.send(IngestEvent::Video(frame), "video frame", &mut report) {
            IngestCounters::bump(&self.counters.video_frames);
        }
        report
    }

    /// Pushes a roster change.
    pub fn push_roster(&mut self, reference: SourceTimestamp, change: RosterChange) -> PushReport {
        let mut report = PushReport::default();
        self.send(
            IngestEvent::Roster { reference, change },
            "roster change",
            &mut report,
        );
        report
    }

    /// Pushes a dominant-speaker change.
    pub fn push_dominant_speaker(
        &mut self,
        reference: SourceTimestamp,
        event: DominantSpeakerChanged,
    ) -> PushReport {
        let mut report = PushReport::default();
        self.send(
            IngestEvent::DominantSpeaker { reference, event },
            "dominant speaker",
            &mut report,
        );
        report
    }

    /// Pushes the end of the call.
    pub fn push_call_ended(&mut self, reference: SourceTimestamp) -> PushReport {
        let mut report = PushReport::default();
        self.send(
            IngestEvent::CallEnded { reference },
            "call end",
            &mut report,
        );
        report
    }

    /// The shared counters.
    pub fn counters(&self) -> &Arc<IngestCounters> {
        &self.counters
    }
    /// Free places in the queue (a source that may wait, such as a file replay, checks this before pushing).
    pub fn free(&self) -> usize {
        self.tx.free()
    }
    /// True when at least `n` places are free (cheaper than [`Self::free`] while the queue has room: see
    /// [`media_core::queue::QueueProducer::has_room`]).
    pub fn has_room(&mut self, n: usize) -> bool {
        self.tx.has_room(n)
    }
    /// Wakes the media work without an event (it has a stop or a control message to look at).
    pub fn wake(&self) {
        self.tx.wake_consumer();
    }
    /// Sleeps until `n` places are free (the media work rings as it takes events) or `give_up()` (checked
    /// at least every `recheck`); true when the room is there. For a source that may wait (a replay).
    pub fn wait_for_room(
        &mut self,
        n: usize,
        give_up: impl Fn() -> bool,
        recheck: std::time::Duration,
    ) -> bool {
        self.tx.wait_for_room(n, give_up, recheck)
    }
    /// The queue's counters (pushed, dropped, high water).
    pub fn queue_stats(&self) -> &Arc<QueueStats> {
        self.tx.stats()
    }
}

impl IngestReceiver {
    /// Takes the oldest event, if any.
    pub fn pop(&mut self) -> Option<IngestEvent> {
        self.rx.pop()
    }
    /// Names the thread that takes the events: every push rings `bell` ([`media_core::wake`]).
    pub fn attach(&self, bell: std::sync::Arc<media_core::wake::Doorbell>) {
        self.rx.attach(bell);
    }
    /// Wakes a source waiting in [`Ingest::wait_for_room`] (after taking a batch of events).
    pub fn wake_producer(&self) {
        self.rx.wake_producer();
    }
    /// Events waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }
    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
    /// The shared ingest counters.
    pub fn counters(&self) -> &Arc<IngestCounters> {
        &self.counters
    }
    /// The queue's counters.
    pub fn queue_stats(&self) -> &Arc<QueueStats> {
        self.rx.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::{FixedList, UnmixedAudioBuffer};
    use bytes::Bytes;
    use media_core::AudioFormat;

    fn audio(ts: u64, sizes: &[usize]) -> AudioMediaBuffer {
        let mut unmixed = FixedList::new();
        for (i, &n) in sizes.iter().enumerate() {
            let _ = unmixed.push(UnmixedAudioBuffer {
                active_speaker_id: Msi(i as u32 + 1),
                data: Bytes::from(vec![1u8; n]),
                original_sender_timestamp: SourceTimestamp::new(ts),
            });
        }
        AudioMediaBuffer {
            timestamp: SourceTimestamp::new(ts),
            format: AudioFormat::PCM16K,
            is_silence: false,
            active_speakers: FixedList::new(),
            unmixed,
        }
    }

    #[test]
    fn wrong_length_is_refused_and_counted_while_the_rest_goes_on() {
        let (mut ingest, mut rx) = channel(16);
        let r = ingest.push_audio(MediaTime::ZERO, audio(10, &[640, 639, 640]));
        assert_eq!(r.accepted, 3);
        assert_eq!(r.refused, 1);
        assert_eq!(
            r.first_refusal,
            Some(Refusal::WrongAudioLength {
                msi: Msi(2),
                expected: 640,
                actual: 639
            })
        );
        assert_eq!(
            ingest.counters().wrong_audio_length.load(Ordering::Relaxed),
            1
        );
        let mut n = 0;
        while rx.pop().is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn a_full_queue_refuses_and_counts_instead_of_blocking() {
        let (mut ingest, _rx) = channel(4);
        let r = ingest.push_audio(MediaTime::ZERO, audio(10, &[640, 640, 640, 640]));
        assert_eq!(r.accepted, 4);
        assert_eq!(r.refused, 1);
        assert_eq!(ingest.counters().queue_full.load(Ordering::Relaxed), 1);
        assert_eq!(ingest.queue_stats().dropped(), 1);
    }

    #[test]
    fn audio_payload_is_not_copied() {
        let (mut ingest, mut rx) = channel(4);
        let b = audio(10, &[640]);
        let ptr = b.unmixed.iter().next().map(|u| u.data.as_ptr());
        ingest.push_audio(MediaTime::ZERO, b);
        let _tick = rx.pop();
        match rx.pop() {
            Some(IngestEvent::Audio(f)) => assert_eq!(Some(f.payload.as_ptr()), ptr),
            other => panic!("expected audio, got {other:?}"),
        }
    }
}

//! Sinks for the recorder core in benches: [`NullSink`] (discards) and the real folder sink in a scratch
//! folder, also on its writer thread as `verbatim record` runs it, and closing it as `LiveRecording` does.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use media_core::AudioFormat;
use verbatim::engine::{ParticipantInfo, RecordingSink};
use verbatim::metadata::CountersMeta;
use verbatim::sink::{FolderSink, SinkOptions};
use verbatim::writer_thread::{ThreadedSink, WriterCounters, WriterOptions};

use crate::TimedEvent;

/// A sink that discards everything but counts what it was given.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink {
    /// Participants added.
    pub participants: usize,
    /// Stem samples received (all participants).
    pub stem_samples: u64,
    /// Mix samples received.
    pub mix_samples: u64,
    /// Timeline events (gaps, dominant-speaker changes) received and dropped.
    pub timeline_events: u64,
}

impl RecordingSink for NullSink {
    type Error = Infallible;
    fn participant_added(
        &mut self,
        _index: usize,
        _participant: &ParticipantInfo,
        lead_in: u64,
    ) -> Result<(), Infallible> {
        self.participants += 1;
        self.stem_samples += lead_in;
        Ok(())
    }
    fn stem(&mut self, _index: usize, samples: &[i16]) -> Result<(), Infallible> {
        self.stem_samples += samples.len() as u64;
        Ok(())
    }
    fn mixed(&mut self, samples: &[i16]) -> Result<(), Infallible> {
        self.mix_samples += samples.len() as u64;
        std::hint::black_box(samples);
        Ok(())
    }
    fn timeline(&mut self, event: verbatim::engine::TimelineEvent) -> Result<(), Infallible> {
        self.timeline_events += 1;
        std::hint::black_box(event);
        Ok(())
    }
}

/// A fixed signing key for benchmarks (never used for real recordings).
pub fn bench_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
}

/// The root of this process's scratch folders: `$VERBATIM_BENCH_DIR`, else the system temp dir.
pub fn scratch_root() -> PathBuf {
    std::env::var_os("VERBATIM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("verbatim-bench-{}", std::process::id()))
}

/// A fresh, empty scratch folder `name` (removed first if it exists).
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = scratch_root().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.parent().unwrap_or(Path::new("/"))).expect("scratch root");
    d
}

/// The real recording-folder sink (stems, mixed.wav, Opus in fMP4, signed manifest) in `dir`, defaults as
/// `verbatim record` uses them (32 kbit/s Opus, mixed.wav on).
///
/// # Panics
/// If the folder cannot be created (benchmark set-up).
pub fn folder_sink(dir: &Path) -> FolderSink {
    FolderSink::create(
        dir,
        bench_key(),
        &SinkOptions {
            recording_id: "bench".into(),
            start_utc_ms: 1_700_000_000_000,
            format: AudioFormat::PCM16K,
            opus_bitrate_bps: 32_000,
            mixed_wav: true,
            composite: false,
            encrypt_to: Vec::new(),
        },
    )
    .expect("folder sink")
}

/// Closes a folder sink as `LiveRecording` does: `metadata.json` from the recorder's summary, status
/// `completed`, signed manifest.
///
/// # Panics
/// If closing fails (benchmark).
pub fn close_folder(sink: FolderSink, recorder: &verbatim::engine::CallRecorder) {
    close_folder_with(sink, recorder, CountersMeta::default());
}

/// The real folder sink on its own writer thread (`ThreadedSink`), as `verbatim record` and the gRPC service
/// run it: the media thread only copies each tick into a recycled block and queues it.
///
/// # Panics
/// If the folder cannot be created or the thread cannot start (benchmark set-up).
pub fn threaded_folder_sink(dir: &Path, options: WriterOptions) -> ThreadedSink<FolderSink> {
    ThreadedSink::spawn(folder_sink(dir), options).expect("writer thread")
}

/// Stops a threaded folder sink: waits until its writer thread has written everything queued, joins it, and
/// returns the folder sink (still to be closed) with the writer's counters.
///
/// # Panics
/// If the writer thread failed or met a write error (benchmark).
pub fn stop_threaded(sink: ThreadedSink<FolderSink>) -> (FolderSink, WriterCounters) {
    let (inner, err, counters) = sink.stop().expect("writer thread");
    if let Some(e) = err {
        panic!("writer thread: {e}");
    }
    (inner, counters)
}

/// Stops a threaded folder sink ([`stop_threaded`]) and closes its folder as `LiveRecording` does, with the
/// writer's counters in `metadata.json`; returns the counters.
///
/// # Panics
/// If writing or closing failed (benchmark).
pub fn close_threaded(
    sink: ThreadedSink<FolderSink>,
    recorder: &verbatim::engine::CallRecorder,
) -> WriterCounters {
    let (inner, wc) = stop_threaded(sink);
    close_folder_with(inner, recorder, writer_counters_meta(&wc));
    wc
}

/// Records a whole call into a fresh threaded folder sink at `dir` and closes it; every queued command must
/// have been written. Returns the writer's counters.
///
/// # Panics
/// If recording, writing or closing failed (benchmark).
pub fn record_threaded(events: Vec<TimedEvent>, dir: &Path) -> WriterCounters {
    let mut sink = threaded_folder_sink(dir, WriterOptions::default());
    let mut rec = verbatim::engine::CallRecorder::new(verbatim::engine::RecorderConfig::default());
    for e in events {
        rec.handle(e.event, &mut sink).expect("record");
    }
    assert!(rec.is_ended());
    let wc = close_threaded(sink, &rec);
    assert_eq!(wc.handled, wc.queued);
    wc
}

/// The writer's counters as `metadata.json` carries them (as `LiveRecording` fills them).
pub fn writer_counters_meta(wc: &WriterCounters) -> CountersMeta {
    CountersMeta {
        writer_queue_high_water: wc.queue_high_water,
        writer_backpressure_waits: wc.backpressure_waits,
        writer_backpressure_wait_us: wc.backpressure_wait_us,
        writer_discarded_after_error: wc.discarded_after_error,
        ..CountersMeta::default()
    }
}

/// Closes a folder sink as [`close_folder`] does, with `counters` in `metadata.json`.
///
/// # Panics
/// If closing fails (benchmark).
pub fn close_folder_with(
    mut sink: FolderSink,
    recorder: &verbatim::engine::CallRecorder,
    counters: CountersMeta,
) {
    let (timeline, _) = sink.read_timeline().expect("read timeline.jsonl");
    let md = verbatim::metadata::from_summary(
        &recorder.summary(),
        &timeline,
        verbatim::metadata::CallInfo::default(),
        std::time::SystemTime::UNIX_EPOCH,
        AudioFormat::PCM16K,
        "completed",
        None,
        counters,
    );
    let json = serde_json::to_vec_pretty(&md).expect("metadata json");
    sink.close(&json, muxer::Status::Completed, "completed")
        .expect("close folder");
}

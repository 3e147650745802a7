//! Latency: from the hand-over of a buffer to its bytes written, and to its bytes durable (fsynced).
//!
//! Set-up, as a live call runs: a source thread plays a simulated 4-speaker call in real time and hands each
//! `AudioMediaBuffer` to `Ingest::push_audio` when it is due (the SDK's part); the media worker thread drains
//! the ingest queue into a `CallRecorder` writing the real `FolderSink` (under the temp dir, or
//! `$VERBATIM_BENCH_DIR`), backing off exactly as `verbatim record`'s worker does. The sink is wrapped to
//! note, for every 20 ms tick, when its bytes were written (the stem/mix `write` calls returned), when the Opus
//! fragment holding it reached `recording.mp4` (observed by reading the file as it grows), and when a sync
//! (fsync of every file, then the journal) covering both returned.
//!
//! Two kinds of figures (see docs/benchmarks.md):
//!
//! * **processing latency**: from the hand-over of the buffer that makes a tick due to the moment that tick's
//!   bytes are written (`handle` returned); and, for buffers whose handling included a sync, to the moment
//!   the fsyncs returned. This is what the engine adds; the "<= 25 ms" budget applies to it.
//! * **media latency** (simulated real time): from the hand-over of each audio frame to the moment the tick
//!   holding its first sample is written / durable. By design this includes the wait for late frames
//!   (packetization 20 ms + late window 200 ms) and, for durability, the wait until the 1 s fragment closes
//!   and the next once-a-second sync.
//!
//! `cargo bench -p verbatim-benches --bench latency` (20 s of call in real time).
//! `VERBATIM_LATENCY_SECS`, `VERBATIM_LATENCY_IMPAIR` (default `none`), `VERBATIM_BENCH_QUICK=1` (3 s).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bot_adapter::ingest::{self, IngestEvent};
use bot_adapter::sim::{synthetic, MeetingSpec, SdkEvent, SimEvent, Simulator};
use media_core::{MediaTime, Msi};
use serde_json::json;
use verbatim::engine::{CallRecorder, ParticipantInfo, RecorderConfig, RecordingSink};
use verbatim::sink::{FolderSink, SinkError};
use verbatim_benches::{
    close_folder, folder_sink, quantile, quick, save_result, scratch_dir, scratch_root,
};

/// The folder sink, timed.
struct TimedSink {
    inner: FolderSink,
    t0: Instant,
    mp4: PathBuf,
    mp4_seen: u64,
    /// Recording time the Opus fragments on disk cover.
    mp4_until: MediaTime,
    written: MediaTime,
    last_sync: MediaTime,
    /// Per tick: written, in the MP4 file, durable (time since t0).
    tick_written: Vec<Duration>,
    tick_in_mp4: Vec<Option<Duration>>,
    tick_durable: Vec<Option<Duration>>,
    syncs: u32,
    /// A sync happened during the last `mixed` call.
    synced: bool,
}

impl TimedSink {
    fn observe_mp4(&mut self, now: Duration) {
        let Ok(meta) = std::fs::metadata(&self.mp4) else {
            return;
        };
        if meta.len() <= self.mp4_seen {
            return;
        }
        let Ok(bytes) = std::fs::read(&self.mp4) else {
            return;
        };
        let mut at = self.mp4_seen as usize;
        while let Ok(b) = muxer::fmp4::reader::box_at(&bytes, at) {
            let end = (b.offset + b.size) as usize;
            if &b.box_type == b"moof" {
                // moof + the mdat after it.
                if let Ok(next) = muxer::fmp4::reader::box_at(&bytes, end) {
                    let frag_end = (next.offset + next.size) as usize;
                    if let Ok(info) = muxer::fmp4::reader::read_fragment(&bytes[at..frag_end]) {
                        for &(_, base, dur) in &info.tracks {
                            let until = MediaTime::from_samples((base + dur) as i64, 48_000);
                            self.mp4_until = self.mp4_until.max(until);
                        }
                    }
                    at = frag_end;
                    continue;
                }
            }
            at = end;
        }
        self.mp4_seen = at as u64;
        let covered = (self.mp4_until.ticks() / 200_000) as usize;
        for k in 0..covered.min(self.tick_in_mp4.len()) {
            self.tick_in_mp4[k].get_or_insert(now);
        }
    }
}

impl RecordingSink for TimedSink {
    type Error = SinkError;
    fn participant_added(
        &mut self,
        index: usize,
        p: &ParticipantInfo,
        lead_in: u64,
    ) -> Result<(), SinkError> {
        self.inner.participant_added(index, p, lead_in)
    }
    fn stem(&mut self, index: usize, samples: &[i16]) -> Result<(), SinkError> {
        self.inner.stem(index, samples)
    }
    fn mixed(&mut self, samples: &[i16]) -> Result<(), SinkError> {
        self.inner.mixed(samples)?;
        let now = self.t0.elapsed();
        self.tick_written.push(now);
        self.tick_in_mp4.push(None);
        self.tick_durable.push(None);
        self.written = self
            .written
            .saturating_add(MediaTime::from_samples(samples.len() as i64, 16_000));
        self.observe_mp4(now);
        // The writer's rule (muxer RecordingWriter::tick, default sync_interval 1 s): fsync every file and the
        // journal once a second of recording time has passed since the last sync.
        if self.written.saturating_sub(self.last_sync) >= MediaTime::from_secs(1) {
            self.last_sync = self.written;
            self.syncs += 1;
            self.synced = true;
            for k in 0..self.tick_written.len() {
                if self.tick_in_mp4[k].is_some() {
                    self.tick_durable[k].get_or_insert(now);
                }
            }
        }
        Ok(())
    }
}

fn stats(mut v: Vec<f64>) -> serde_json::Value {
    let n = v.len();
    json!({
        "n": n,
        "p50": quantile(&mut v, 0.5),
        "p99": quantile(&mut v, 0.99),
        "max": quantile(&mut v, 1.0),
    })
}

fn show(label: &str, v: &serde_json::Value, budget: &str) {
    println!(
        "{label:<58} p50 {:>9.2}  p99 {:>9.2}  max {:>9.2} ms  (n = {})  budget {budget}",
        v["p50"].as_f64().unwrap_or(f64::NAN),
        v["p99"].as_f64().unwrap_or(f64::NAN),
        v["max"].as_f64().unwrap_or(f64::NAN),
        v["n"]
    );
}

fn main() {
    let quick = quick();
    let secs: i64 = std::env::var("VERBATIM_LATENCY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 3 } else { 20 });
    let impair = std::env::var("VERBATIM_LATENCY_IMPAIR").unwrap_or_else(|_| "none".into());
    let duration = MediaTime::from_secs(secs);
    let mut sim = Simulator::new(MeetingSpec {
        participants: synthetic::participants(4, duration, 11),
        duration: Some(duration),
        seed: 11,
        impairments: impair.parse().expect("impairments"),
        screenshare: None,
    })
    .expect("simulator");
    let events: Vec<SimEvent> = sim.by_ref().collect();
    let report = sim.report().clone();
    // Frame j of a participant (sender timestamp epoch + j·20 ms) is captured at join + j·20 ms of call time
    // and, sample-exact, is placed at that recording time: tick index = j (synthetic participants join at 0).
    let epochs: HashMap<Msi, u64> = report
        .participants
        .iter()
        .map(|p| (p.msi, p.sender_epoch.ticks()))
        .collect();

    let dir = scratch_dir("latency");
    let sink = TimedSink {
        inner: folder_sink(&dir),
        t0: Instant::now(),
        mp4: dir.join("recording.mp4"),
        mp4_seen: 0,
        mp4_until: MediaTime::ZERO,
        written: MediaTime::ZERO,
        last_sync: MediaTime::ZERO,
        tick_written: Vec::new(),
        tick_in_mp4: Vec::new(),
        tick_durable: Vec::new(),
        syncs: 0,
        synced: false,
    };
    let (mut tx, mut rx) = ingest::channel(4096);
    let t0 = Instant::now();
    let mut sink = sink;
    sink.t0 = t0;

    let worker = std::thread::spawn(move || {
        let mut rec = CallRecorder::new(RecorderConfig::default());
        let mut sink = sink;
        // (hand-over → written) for events that made ticks due; (hand-over → fsynced) for those that synced.
        let mut proc_written = Vec::new();
        let mut proc_durable = Vec::new();
        // Per audio frame: (hand-over time, tick index).
        let mut frames: Vec<(Duration, usize)> = Vec::new();
        let mut idle = 0u32;
        loop {
            let Some(ev) = rx.pop() else {
                idle = idle.saturating_add(1);
                if idle < 64 {
                    std::hint::spin_loop();
                } else if idle < 128 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(500));
                }
                continue;
            };
            idle = 0;
            let handed = match &ev {
                IngestEvent::Tick { arrival, .. } => Some(*arrival),
                IngestEvent::Audio(f) => {
                    if let Some(&epoch) = epochs.get(&f.source.msi) {
                        let j =
                            (f.timing.timestamp.ticks().saturating_sub(epoch) / 200_000) as usize;
                        let at = Duration::from_nanos(f.timing.arrival.ticks().max(0) as u64 * 100);
                        frames.push((at, j));
                    }
                    Some(f.timing.arrival)
                }
                _ => None,
            };
            let before = rec.written_until();
            sink.synced = false;
            let end = matches!(ev, IngestEvent::CallEnded { .. });
            rec.handle(ev, &mut sink).expect("record");
            let done = t0.elapsed();
            if let (Some(h), false) = (handed, end) {
                let h = Duration::from_nanos(h.ticks().max(0) as u64 * 100);
                if rec.written_until() > before {
                    proc_written.push((done.saturating_sub(h)).as_secs_f64() * 1e3);
                }
                if sink.synced {
                    proc_durable.push((done.saturating_sub(h)).as_secs_f64() * 1e3);
                }
            }
            if rec.is_ended() {
                break;
            }
        }
        (rec, sink, proc_written, proc_durable, frames)
    });

    // The SDK's part: hand each buffer over when it is due.
    let mut last_ref = None;
    for ev in events {
        let due = t0 + Duration::from_nanos(ev.at.ticks().max(0) as u64 * 100);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let now = MediaTime::from_ticks((t0.elapsed().as_nanos() / 100) as i64);
        match ev.event {
            SdkEvent::Audio(buf) => {
                last_ref = Some(buf.timestamp);
                tx.push_audio(now, buf);
            }
            SdkEvent::Video(buf) => {
                tx.push_video(now, last_ref.unwrap_or(ev.reference), buf);
            }
            SdkEvent::Roster(c) => {
                tx.push_roster(ev.reference, c);
            }
            SdkEvent::DominantSpeaker(d) => {
                tx.push_dominant_speaker(ev.reference, d);
            }
            SdkEvent::CallEnded => {
                tx.push_call_ended(ev.reference);
            }
        }
    }
    let (rec, sink, proc_written, proc_durable, frames) = worker.join().expect("worker");
    let queue_full = tx
        .counters()
        .queue_full
        .load(std::sync::atomic::Ordering::Relaxed);

    let mut media_written = Vec::new();
    let mut media_durable = Vec::new();
    let mut not_durable = 0;
    // Ticks written at the call end (flush) are excluded: no real-time source waits for them.
    let live_ticks = sink.tick_written.len().saturating_sub(12);
    for &(h, k) in &frames {
        if k >= live_ticks {
            continue;
        }
        if let Some(w) = sink.tick_written.get(k) {
            media_written.push(w.saturating_sub(h).as_secs_f64() * 1e3);
        }
        match sink.tick_durable.get(k).copied().flatten() {
            Some(d) => media_durable.push(d.saturating_sub(h).as_secs_f64() * 1e3),
            None => not_durable += 1,
        }
    }
    let pw = stats(proc_written);
    let pd = stats(proc_durable);
    let mw = stats(media_written);
    let md = stats(media_durable);
    println!(
        "latency: {secs} s 4-speaker call in real time, impairments {impair}, output {}",
        dir.display()
    );
    show("processing: hand-over -> tick written", &pw, "p99 <= 25 ms");
    show(
        "processing: hand-over -> files fsynced (syncing buffers)",
        &pd,
        "-",
    );
    show(
        "media: frame hand-over -> its tick written",
        &mw,
        "(includes 220 ms wait)",
    );
    show(
        "media: frame hand-over -> its fragment fsynced",
        &md,
        "p99 <= 1 s + 50 ms",
    );
    println!(
        "{} ticks, {} syncs, {} frames ({} in the last 12 ticks' flush or never durable), ingest queue full: {queue_full}",
        sink.tick_written.len(),
        sink.syncs,
        frames.len(),
        not_durable
    );
    let summary = rec.summary();
    let dropped: u64 = summary
        .participants
        .iter()
        .map(|p| p.stats.delivered - p.stats.written)
        .sum();
    save_result(
        "latency",
        &json!({
            "secs": secs, "impairments": impair, "output": dir.display().to_string(),
            "processing_written_ms": pw, "processing_durable_ms": pd,
            "media_written_ms": mw, "media_durable_ms": md,
            "ticks": sink.tick_written.len(), "syncs": sink.syncs, "frames_dropped": dropped,
            "ingest_queue_full": queue_full,
        }),
    );
    close_folder(sink.inner, &rec);
    let _ = std::fs::remove_dir_all(scratch_root());
}

//! Latency: from the hand-over of a buffer to its bytes written, and to its bytes durable (fsynced).
//!
//! Set-up, as `verbatim record` runs a live call: a source thread plays a simulated 4-speaker call in real
//! time and hands each `AudioMediaBuffer` to `Ingest::push_audio` when it is due (the SDK's part); the media
//! worker thread drains the ingest queue into a `CallRecorder` (backing off exactly as `verbatim record`'s
//! worker does) whose sink is a `ThreadedSink`: the real `FolderSink` runs on the writer thread behind the
//! bounded queue (default `WriterOptions`: 10 ms poll). Output under the temp dir, or `$VERBATIM_BENCH_DIR`.
//!
//! Timestamps, all from one `Instant` t0, joined by tick index after the run:
//! * media thread (a sink wrapped around the `ThreadedSink`): per 20 ms tick, the hand-over instant of the
//!   buffer whose handling made that tick due, and the instant the tick was queued for the writer;
//! * writer thread (a sink wrapped around the `FolderSink`, inside the `ThreadedSink`): per tick, the instant
//!   `mixed` returned (its stem and mix bytes written, its Opus packet pushed) — "written"; and the instant of
//!   every sync, **observed directly**: `recording.mp4` goes through a 64 KiB `BufWriter` that only a sync
//!   flushes (a second of Opus is ~4 KB), so the file grows on disk exactly when `RecordingWriter::tick` has
//!   flushed and fsynced every file and the journal, before `mixed` returns. The new fragments are parsed then
//!   (which ticks they hold), and every tick they cover is durable at that instant. The writer's rule (sync
//!   when the recording time written since the last sync reaches 1 s) is checked against it and disagreements
//!   are counted.
//!
//! Figures (see docs/benchmarks.md):
//! * **processing**: hand-over of the buffer that made a tick due → that tick written on the writer thread
//!   (budget p99 <= 25 ms), split into the media thread's part (→ queued) and the queue + writer part;
//! * **fragment durable**: for each Opus fragment, hand-over of the buffer that made its last tick due → the
//!   end of the fsync that made it durable (budget p99 <= 50 ms: the "+ 50 ms" of "fragment length + 50 ms");
//! * **tick durable**, per tick: hand-over of the buffer that made the tick due → the end of the fsync that
//!   made its fragment durable (budget p99 <= 1 s fragment + 50 ms; the first tick of a fragment waits for the
//!   other 49 to fill it);
//! * **media**, per audio frame: its hand-over → the tick holding its first sample written, and → durable. By
//!   design the frame waits for the late window (200 ms: the recorder's `TrackConfig::late_window`) and, for
//!   durability, for its 1 s fragment to fill: budget p99 <= 1 s fragment + 50 ms + 200 ms late window.
//!
//! Ticks made due by the call end (flushed at once, no real-time hand-over) are left out. A tick made due by
//! a roster or dominant-speaker event (no arrival stamp) is given the hand-over of the buffer before it (an
//! upper bound: the event was handed over with or after it).
//!
//! The call (issue 12): by default a planned 4-person stand-up of 60 s (`MeetingInput::standup`: people join
//! over the first minute, one or two talk, the others are silent); `VERBATIM_LATENCY_INPUT=synthetic` gives
//! the earlier input, four synthetic speakers talking 45 % of the time in spurts of 0.8–3.5 s, pauses of 0.4–5 s (20 s). A frame's tick is
//! the one holding its capture time (`ParticipantReport::capture_time`; placement is sample-exact without
//! impairment).
//!
//! `cargo bench -p verbatim-benches --bench latency` (60 s of call in real time).
//! `VERBATIM_LATENCY_SECS`, `VERBATIM_LATENCY_INPUT`, `VERBATIM_LATENCY_IMPAIR` (default `none`), `VERBATIM_LATENCY_POLL_MS` (the writer
//! thread's poll interval, default 5), `VERBATIM_BENCH_QUICK=1` (10 s; synthetic 3 s).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bot_adapter::ingest::{self, IngestEvent};
use bot_adapter::sim::{synthetic, MeetingSpec, SdkEvent, SimEvent, Simulator};
use media_core::MediaTime;
use serde_json::json;
use verbatim::engine::{
    CallRecorder, ParticipantInfo, RecorderConfig, RecordingSink, TimelineEvent,
};
use verbatim::sink::{FolderSink, SinkError};
use verbatim::writer_thread::{ThreadedSink, WriterOptions};
use verbatim_benches::{
    close_folder_with, folder_sink, quantile, quick, save_result, scratch_dir, scratch_root,
    writer_counters_meta, MeetingInput,
};

/// The folder sink, timed on the writer thread.
struct TimedSink {
    inner: FolderSink,
    t0: Instant,
    mp4: PathBuf,
    /// Length of `recording.mp4` on disk after the last `mixed`.
    mp4_len: u64,
    /// Recording time the Opus fragments on disk cover.
    mp4_until: MediaTime,
    /// The rule's bookkeeping: recording time written, and at the last sync.
    written: MediaTime,
    last_sync: MediaTime,
    /// Per tick: `mixed` returned (since t0).
    tick_written: Vec<Duration>,
    /// Per tick: the end of the sync that made it and its fragment durable.
    tick_durable: Vec<Option<Duration>>,
    /// Per fragment on disk: (last tick it holds, durable at).
    fragments: Vec<(usize, Duration)>,
    /// Duration of the `mixed` calls that synced (the writer's fsync work for one call).
    sync_call_ms: Vec<f64>,
    syncs_seen: u32,
    syncs_by_rule: u32,
    rule_disagreements: u32,
}

impl TimedSink {
    fn new(inner: FolderSink, mp4: PathBuf, t0: Instant) -> Self {
        TimedSink {
            inner,
            t0,
            mp4,
            mp4_len: 0,
            mp4_until: MediaTime::ZERO,
            written: MediaTime::ZERO,
            last_sync: MediaTime::ZERO,
            tick_written: Vec::new(),
            tick_durable: Vec::new(),
            fragments: Vec::new(),
            sync_call_ms: Vec::new(),
            syncs_seen: 0,
            syncs_by_rule: 0,
            rule_disagreements: 0,
        }
    }

    /// True when `recording.mp4` grew on disk (a sync flushed it); parses the new fragments.
    fn observe_mp4(&mut self, now: Duration) -> bool {
        let Ok(meta) = std::fs::metadata(&self.mp4) else {
            return false;
        };
        if meta.len() <= self.mp4_len {
            return false;
        }
        let Ok(bytes) = std::fs::read(&self.mp4) else {
            return false;
        };
        let mut at = self.mp4_len as usize;
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
                            let last_tick = ((base + dur) / 960).saturating_sub(1) as usize;
                            self.fragments.push((last_tick, now));
                        }
                    }
                    at = frag_end;
                    continue;
                }
            }
            at = end;
        }
        self.mp4_len = bytes.len() as u64;
        let covered = (self.mp4_until.ticks() / 200_000) as usize;
        for d in self.tick_durable.iter_mut().take(covered) {
            d.get_or_insert(now);
        }
        true
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
        let start = self.t0.elapsed();
        self.inner.mixed(samples)?;
        let now = self.t0.elapsed();
        self.tick_written.push(now);
        self.tick_durable.push(None);
        // The writer's rule (muxer RecordingWriter::tick, default sync_interval 1 s, called by FolderSink::mixed
        // with the recording time written so far).
        self.written = self
            .written
            .saturating_add(MediaTime::from_samples(samples.len() as i64, 16_000));
        let by_rule = self.written.saturating_sub(self.last_sync) >= MediaTime::from_secs(1);
        if by_rule {
            self.last_sync = self.written;
            self.syncs_by_rule += 1;
        }
        let seen = self.observe_mp4(now);
        if seen {
            self.syncs_seen += 1;
            self.sync_call_ms
                .push(now.saturating_sub(start).as_secs_f64() * 1e3);
        }
        if seen != by_rule {
            self.rule_disagreements += 1;
        }
        Ok(())
    }
    fn timeline(&mut self, event: TimelineEvent) -> Result<(), SinkError> {
        self.inner.timeline(event)
    }
}

/// The media thread's side: notes, per tick, the hand-over that made it due and when it was queued.
struct HandOffSink {
    inner: ThreadedSink<TimedSink>,
    t0: Instant,
    /// Hand-over instant of the event being handled (`None`: no real-time hand-over, e.g. the call end).
    current: Option<Duration>,
    tick_handoff: Vec<Option<Duration>>,
    tick_queued: Vec<Duration>,
}

impl RecordingSink for HandOffSink {
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
        self.tick_handoff.push(self.current);
        self.tick_queued.push(self.t0.elapsed());
        Ok(())
    }
    fn timeline(&mut self, event: TimelineEvent) -> Result<(), SinkError> {
        self.inner.timeline(event)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
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

fn show(label: &str, v: &serde_json::Value, budget: &str, limit: Option<f64>) {
    let p99 = v["p99"].as_f64().unwrap_or(f64::NAN);
    let verdict = limit.map_or("", |x| if p99 <= x { "within" } else { "OVER" });
    println!(
        "{label:<56} p50 {:>8.2}  p99 {:>8.2}  max {:>8.2} ms (n = {:>5})  budget {budget} {verdict}",
        v["p50"].as_f64().unwrap_or(f64::NAN),
        p99,
        v["max"].as_f64().unwrap_or(f64::NAN),
        v["n"]
    );
}

fn main() {
    let quick = quick();
    let synthetic_input = std::env::var("VERBATIM_LATENCY_INPUT").is_ok_and(|v| v == "synthetic");
    let secs: i64 = std::env::var("VERBATIM_LATENCY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(match (quick, synthetic_input) {
            (true, true) => 3,
            // Nobody speaks in a stand-up's first seconds: 10 s holds the first update's start.
            (true, false) => 10,
            (false, true) => 20,
            (false, false) => 60,
        });
    let impair = std::env::var("VERBATIM_LATENCY_IMPAIR").unwrap_or_else(|_| "none".into());
    let duration = MediaTime::from_secs(secs);
    let (mut sim, input) = if synthetic_input {
        let sim = Simulator::new(MeetingSpec {
            participants: synthetic::participants(4, duration, 11),
            duration: Some(duration),
            seed: 11,
            impairments: impair.parse().expect("impairments"),
            screenshares: Vec::new(),
        })
        .expect("simulator");
        (sim, "4 synthetic speakers, pauses of 0.4-5 s".to_string())
    } else {
        let m = MeetingInput::standup(4, duration).impaired(&impair);
        (m.simulator(), m.label())
    };
    let events: Vec<SimEvent> = sim.by_ref().collect();
    let report = sim.report().clone();
    // Frame j of a participant (sender timestamp epoch + j·20 ms) is captured at `capture_time(j)` of call
    // time and, sample-exact, is placed at that recording time: the tick holding its first sample.
    let tick_of = move |f: &media_core::AudioFrame| -> Option<usize> {
        let p = report.by_msi(f.source.msi)?;
        let j = f
            .timing
            .timestamp
            .ticks()
            .checked_sub(p.sender_epoch.ticks())?
            / 200_000;
        usize::try_from(p.capture_time(j).ticks() / 200_000).ok()
    };
    let recorder = RecorderConfig::default();
    let late_window_ms = recorder.track.late_window.as_secs_f64() * 1e3;
    let mut writer_options = WriterOptions::default();
    if let Some(ms) = std::env::var("VERBATIM_LATENCY_POLL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        writer_options.poll_interval = Duration::from_millis(ms);
    }

    let dir = scratch_dir("latency");
    let (mut tx, mut rx) = ingest::channel(4096);
    let t0 = Instant::now();
    let timed = TimedSink::new(folder_sink(&dir), dir.join("recording.mp4"), t0);
    let sink = HandOffSink {
        inner: ThreadedSink::spawn(timed, writer_options).expect("writer thread"),
        t0,
        current: None,
        tick_handoff: Vec::new(),
        tick_queued: Vec::new(),
    };

    let worker = std::thread::spawn(move || {
        let mut rec = CallRecorder::new(recorder);
        let mut sink = sink;
        // Per audio frame: (hand-over time, tick index).
        let mut frames: Vec<(Duration, usize)> = Vec::new();
        // Hand-over of the last buffer (roster and dominant-speaker events carry no arrival stamp: they are
        // handed over with or after the buffer before them, so its hand-over is an upper bound of the wait).
        let mut last_handed: Option<MediaTime> = None;
        // Waits for the queue as `verbatim record`'s media worker does: asleep on its bell until rung.
        let bell = media_core::wake::Doorbell::for_current_thread();
        rx.attach(std::sync::Arc::clone(&bell));
        loop {
            let Some(ev) = rx.pop() else {
                bell.wait(|| !rx.is_empty(), std::time::Duration::from_millis(250));
                continue;
            };
            let handed = match &ev {
                IngestEvent::Tick { arrival, .. } => Some(*arrival),
                IngestEvent::Audio(f) => {
                    if let Some(k) = tick_of(f) {
                        let at = Duration::from_nanos(f.timing.arrival.ticks().max(0) as u64 * 100);
                        frames.push((at, k));
                    }
                    Some(f.timing.arrival)
                }
                IngestEvent::Roster { .. } | IngestEvent::DominantSpeaker { .. } => last_handed,
                _ => None,
            };
            if matches!(ev, IngestEvent::Tick { .. } | IngestEvent::Audio(_)) {
                last_handed = handed;
            }
            sink.current = handed.map(|h| Duration::from_nanos(h.ticks().max(0) as u64 * 100));
            rec.handle(ev, &mut sink).expect("record");
            if rec.is_ended() {
                break;
            }
        }
        let HandOffSink {
            inner,
            tick_handoff,
            tick_queued,
            ..
        } = sink;
        let (timed, err, wc) = inner.stop().expect("writer thread");
        if let Some(e) = err {
            panic!("writer: {e}");
        }
        (rec, timed, wc, tick_handoff, tick_queued, frames)
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
    let (rec, timed, wc, tick_handoff, tick_queued, frames) = worker.join().expect("worker");
    let queue_full = tx
        .counters()
        .queue_full
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(tick_handoff.len(), timed.tick_written.len(), "ticks");

    // Processing, per tick made due by a real-time hand-over.
    let mut proc_written = Vec::new();
    let mut proc_media = Vec::new();
    let mut proc_writer = Vec::new();
    for (k, h) in tick_handoff.iter().enumerate() {
        let Some(h) = *h else { continue };
        let w = timed.tick_written[k];
        proc_written.push(ms(w.saturating_sub(h)));
        proc_media.push(ms(tick_queued[k].saturating_sub(h)));
        proc_writer.push(ms(w.saturating_sub(tick_queued[k])));
    }
    // Fragments: hand-over that made the fragment's last tick due → the end of the fsync that made it durable.
    let mut frag_durable = Vec::new();
    let mut frag_writer = Vec::new();
    for &(last, at) in &timed.fragments {
        if let Some(Some(h)) = tick_handoff.get(last) {
            frag_durable.push(ms(at.saturating_sub(*h)));
            frag_writer.push(ms(at.saturating_sub(tick_queued[last])));
        }
    }
    // Ticks: hand-over that made the tick due → its fragment durable.
    let mut tick_durable = Vec::new();
    for (k, h) in tick_handoff.iter().enumerate() {
        if let (Some(h), Some(Some(d))) = (*h, timed.tick_durable.get(k)) {
            tick_durable.push(ms(d.saturating_sub(h)));
        }
    }
    // Media latency, per frame whose tick was made due in real time.
    let mut media_written = Vec::new();
    let mut media_durable = Vec::new();
    let mut not_durable = 0;
    let mut flushed = 0;
    for &(h, k) in &frames {
        if !matches!(tick_handoff.get(k), Some(Some(_))) {
            flushed += 1;
            continue;
        }
        media_written.push(ms(timed.tick_written[k].saturating_sub(h)));
        match timed.tick_durable[k] {
            Some(d) => media_durable.push(ms(d.saturating_sub(h))),
            None => not_durable += 1,
        }
    }
    let pw = stats(proc_written);
    let pm = stats(proc_media);
    let pwr = stats(proc_writer);
    let fd = stats(frag_durable);
    let fw = stats(frag_writer);
    let mw = stats(media_written);
    let md = stats(media_durable);
    let td = stats(tick_durable);
    let sc = stats(timed.sync_call_ms.clone());
    let media_budget = 1000.0 + 50.0 + late_window_ms;
    println!(
        "latency: {secs} s call in real time ({input}), impairments {impair}, output {}, writer thread (poll {:?})",
        dir.display(),
        writer_options.poll_interval
    );
    show(
        "processing: hand-over -> tick written (writer thread)",
        &pw,
        "p99 <= 25 ms",
        Some(25.0),
    );
    show("  media thread: hand-over -> tick queued", &pm, "-", None);
    show("  queue + writer: queued -> tick written", &pwr, "-", None);
    show(
        "fragment: completing hand-over -> fsync done",
        &fd,
        "p99 <= 50 ms",
        Some(50.0),
    );
    show("  queue + writer: queued -> fsync done", &fw, "-", None);
    show(
        "tick: hand-over making it due -> its fragment durable",
        &td,
        "p99 <= 1000 + 50 ms",
        Some(1050.0),
    );
    show("  writer: mixed() call that synced", &sc, "-", None);
    show(
        "media: frame hand-over -> its tick written",
        &mw,
        &format!("- (late window {late_window_ms:.0} ms + 20 ms by design)"),
        None,
    );
    show(
        "media: frame hand-over -> its fragment durable",
        &md,
        &format!("p99 <= 1000 + 50 + {late_window_ms:.0} ms"),
        Some(media_budget),
    );
    println!(
        "{} ticks ({} made due in real time), {} fragments; syncs observed {} (by the 1 s rule {}, disagreements {}); \
         {} frames ({} in ticks flushed at the end, {} never durable: the last fragment is closed by finish)",
        timed.tick_written.len(),
        tick_handoff.iter().filter(|h| h.is_some()).count(),
        timed.fragments.len(),
        timed.syncs_seen,
        timed.syncs_by_rule,
        timed.rule_disagreements,
        frames.len(),
        flushed,
        not_durable
    );
    println!(
        "writer: {} commands, queue high water {}, back-pressure waits {}, PCM blocks allocated {}; ingest queue full: {queue_full}",
        wc.queued, wc.queue_high_water, wc.backpressure_waits, wc.pcm_blocks_allocated
    );
    let summary = rec.summary();
    let dropped: u64 = summary
        .participants
        .iter()
        .map(|p| p.stats.delivered - p.stats.written)
        .sum();
    let delivered: u64 = summary.participants.iter().map(|p| p.stats.delivered).sum();
    println!(
        "whole: {delivered} frames delivered to the recorder ({} audio frames handed over), {dropped} not written",
        frames.len()
    );
    assert!(
        delivered > 0,
        "the call sent no audio: nothing was measured"
    );
    assert_eq!(dropped, 0, "frames not written: the recording is not whole");
    save_result(
        if synthetic_input {
            "latency-synthetic"
        } else {
            "latency"
        },
        &json!({
            "secs": secs, "input": input, "impairments": impair, "output": dir.display().to_string(),
            "writer_poll_ms": writer_options.poll_interval.as_secs_f64() * 1e3,
            "late_window_ms": late_window_ms,
            "processing_written_ms": pw, "processing_media_ms": pm, "processing_writer_ms": pwr,
            "fragment_durable_ms": fd, "fragment_writer_ms": fw, "tick_durable_ms": td, "sync_call_ms": sc,
            "media_written_ms": mw, "media_durable_ms": md, "media_durable_budget_ms": media_budget,
            "ticks": timed.tick_written.len(), "fragments": timed.fragments.len(),
            "syncs_seen": timed.syncs_seen, "syncs_by_rule": timed.syncs_by_rule,
            "sync_rule_disagreements": timed.rule_disagreements,
            "frames_dropped": dropped, "ingest_queue_full": queue_full,
            "writer_queue_high_water": wc.queue_high_water,
            "writer_backpressure_waits": wc.backpressure_waits,
        }),
    );
    close_folder_with(timed.inner, &rec, writer_counters_meta(&wc));
    let _ = std::fs::remove_dir_all(scratch_root());
}

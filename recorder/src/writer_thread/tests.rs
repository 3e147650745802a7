//! Tests of the writer thread and its pool.
use super::*;
use bytes::Bytes;
use media_core::MediaTime;

/// Notes every call, as the writer thread makes it; fails on the `fail_at`-th mixed tick.
#[derive(Default)]
struct Recorder {
    log: Vec<String>,
    stems: Vec<Vec<i16>>,
    mix: Vec<i16>,
    fail_at: Option<usize>,
    ticks: usize,
    /// The length of every `mixed` call.
    mix_lens: Vec<usize>,
    /// Mixed ticks handed over before each line of `log`.
    ticks_at_log: Vec<usize>,
    /// Someone listens to the mix live.
    mix_tapped: bool,
}

impl RecordingSink for Recorder {
    type Error = SinkError;
    fn participant_added(
        &mut self,
        index: usize,
        p: &ParticipantInfo,
        lead_in: u64,
    ) -> Result<(), SinkError> {
        self.ticks_at_log.push(self.ticks);
        self.log.push(format!("add {index} {} {lead_in}", p.name));
        self.stems.push(Vec::new());
        Ok(())
    }
    fn stem(&mut self, index: usize, samples: &[i16]) -> Result<(), SinkError> {
        self.stems[index].extend_from_slice(samples);
        Ok(())
    }
    fn mixed(&mut self, samples: &[i16]) -> Result<(), SinkError> {
        self.ticks += 1;
        if Some(self.ticks) == self.fail_at {
            return Err(SinkError::WriterFailed("disk full (test)".into()));
        }
        self.mix.extend_from_slice(samples);
        self.mix_lens.push(samples.len());
        Ok(())
    }
    fn listened_mix(&self) -> bool {
        self.mix_tapped
    }
    fn video_sample(&mut self, index: usize, s: VideoSample) -> Result<(), SinkError> {
        self.log
            .push(format!("video {index} {} {}", s.pts.ticks(), s.data.len()));
        Ok(())
    }
    fn timeline(&mut self, event: TimelineEvent) -> Result<(), SinkError> {
        self.ticks_at_log.push(self.ticks);
        self.log.push(format!("timeline {event:?}"));
        Ok(())
    }
}

fn info(name: &str) -> ParticipantInfo {
    ParticipantInfo::new(name, MediaTime::ZERO)
}

#[test]
fn everything_arrives_in_order_and_blocks_are_recycled() {
    let mut t = ThreadedSink::spawn(Recorder::default(), WriterOptions::default()).unwrap();
    t.participant_added(0, &info("alice"), 0).unwrap();
    t.participant_added(1, &info("bob"), 320).unwrap();
    for k in 0..500i16 {
        let a = [k; 320];
        let b = [-k; 320];
        t.stem(0, &a).unwrap();
        t.stem(1, &b).unwrap();
        t.mixed(&[k.wrapping_mul(2); 320]).unwrap();
        if k % 50 == 0 {
            let sample = VideoSample {
                pts: MediaTime::from_millis(i64::from(k) * 20),
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
                keyframe: true,
                nv12: None,
            };
            t.video_sample(0, sample).unwrap();
        }
        if k == 250 {
            t.timeline(TimelineEvent::DominantSpeaker {
                at: MediaTime::from_secs(5),
                participant: Some(1),
            })
            .unwrap();
        }
        if k % 100 == 0 {
            // Let the writer catch up now and then, as a live call does every 20 ms.
            std::thread::sleep(Duration::from_millis(15));
        }
    }
    let (inner, err, c) = t.stop().unwrap();
    assert!(err.is_none());
    assert_eq!(inner.log[..2], ["add 0 alice 0", "add 1 bob 320"]);
    assert_eq!(inner.log.len(), 2 + 10 + 1);
    assert_eq!(inner.log[2], "video 0 0 5");
    // After the video frames of ticks 0, 50, …, 250, in the order sent.
    assert_eq!(
        inner.log[8],
        format!(
            "timeline {:?}",
            TimelineEvent::DominantSpeaker {
                at: MediaTime::from_secs(5),
                participant: Some(1)
            }
        )
    );
    assert_eq!(inner.stems[0].len(), 500 * 320);
    for (k, chunk) in inner.stems[1].chunks(320).enumerate() {
        assert!(chunk.iter().all(|&s| s == -(k as i16)), "tick {k}");
    }
    for (k, chunk) in inner.mix.chunks(320).enumerate() {
        assert!(chunk.iter().all(|&s| s == (k as i16).wrapping_mul(2)));
    }
    // Each stem's run is a command of its own (the recorder hands stems over in blocks), then the tick.
    assert_eq!(c.queued, 2 + 500 * 3 + 10 + 1);
    assert_eq!(c.handled, c.queued);
    // Blocks come back to the pool: no more allocated than were ever waiting at once (not one per tick).
    assert!(c.pcm_blocks_allocated <= c.queue_high_water + 8, "{c:?}");
    assert!(c.pcm_blocks_allocated < 1000, "{c:?}");
    assert_eq!(c.backpressure_waits, 0);
}

/// `ticks` ticks of the mix alone through lent blocks, tick `k` all `k`; a timeline event after tick `event_after`.
fn lend_mix_ticks<S: RecordingSink<Error = SinkError>>(t: &mut S, ticks: i16, event_after: i16) {
    for k in 0..ticks {
        let buf = t.lend_tick(0, 320).unwrap();
        assert_eq!(buf.len(), 320);
        buf.fill(k);
        t.tick_filled().unwrap();
        if k == event_after {
            t.timeline(TimelineEvent::DominantSpeaker {
                at: MediaTime::from_millis(i64::from(k) * 20),
                participant: Some(0),
            })
            .unwrap();
        }
    }
}

#[test]
fn mix_ticks_are_queued_half_a_second_at_a_time_and_written_tick_by_tick_in_order() {
    let mut t = ThreadedSink::spawn(Recorder::default(), WriterOptions::default()).unwrap();
    t.participant_added(0, &info("alice"), 0).unwrap();
    lend_mix_ticks(&mut t, 120, 30);
    let (inner, err, c) = t.stop().unwrap();
    assert!(err.is_none());
    // The inner sink got every tick as its own call, in order, and the event after exactly the 31 ticks made
    // before it.
    assert_eq!(inner.mix_lens, vec![320; 120]);
    for (k, chunk) in inner.mix.chunks(320).enumerate() {
        assert!(chunk.iter().all(|&s| s == k as i16), "tick {k}");
    }
    assert_eq!(inner.ticks_at_log, [0, 31]);
    // Commands: alice, the event, and the mix in six blocks: ticks 0-24, 25-30 (queued before the event),
    // 31-49 (to the next multiple of 25), 50-74, 75-99, 100-119 (at stop). Not 120 commands.
    assert_eq!(c.queued, 2 + 6);
    assert_eq!(c.handled, c.queued);
    assert!(c.pcm_blocks_allocated <= 8, "{c:?}");
}

#[test]
fn while_someone_listens_to_the_mix_each_tick_is_queued_as_it_is_made() {
    let live = Recorder {
        mix_tapped: true,
        ..Recorder::default()
    };
    let mut t = ThreadedSink::spawn(live, WriterOptions::default()).unwrap();
    t.participant_added(0, &info("alice"), 0).unwrap();
    // The media side learns of the listener from the writer, after its first command.
    let t0 = Instant::now();
    while !t.listened_mix() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "listened_mix never seen"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    lend_mix_ticks(&mut t, 60, 30);
    let (inner, err, c) = t.stop().unwrap();
    assert!(err.is_none());
    assert_eq!(inner.mix_lens, vec![320; 60]);
    assert_eq!(inner.ticks_at_log, [0, 31]);
    assert_eq!(c.queued, 1 + 60 + 1);
}

#[test]
fn a_pool_thread_serves_many_sinks_each_gets_its_own_data_back() {
    let pool = WriterPool::new(1, WriterOptions::default()).unwrap();
    let mut sinks: Vec<_> = (0..5)
        .map(|_| ThreadedSink::spawn_in(Recorder::default(), &pool).unwrap())
        .collect();
    for (n, t) in sinks.iter_mut().enumerate() {
        t.participant_added(0, &info(&format!("p{n}")), 0).unwrap();
    }
    for k in 0..300i16 {
        for (n, t) in sinks.iter_mut().enumerate() {
            let v = k.wrapping_mul(10).wrapping_add(n as i16);
            t.stem(0, &[v; 320]).unwrap();
            t.mixed(&[v; 320]).unwrap();
        }
        if k % 50 == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for (n, t) in sinks.into_iter().enumerate() {
        let (inner, err, c) = t.stop().unwrap();
        assert!(err.is_none());
        assert_eq!(inner.log, [format!("add 0 p{n} 0")]);
        assert_eq!(inner.mix.len(), 300 * 320);
        for (k, chunk) in inner.stems[0].chunks(320).enumerate() {
            let v = (k as i16).wrapping_mul(10).wrapping_add(n as i16);
            assert!(chunk.iter().all(|&s| s == v), "sink {n} tick {k}");
        }
        assert_eq!(c.handled, c.queued);
    }
    drop(pool); // returns: every sink was stopped
}

#[test]
fn a_full_queue_waits_and_is_counted_nothing_is_lost() {
    let opts = WriterOptions {
        queue_capacity: 4,
        poll_interval: Duration::from_millis(5),
        ..WriterOptions::default()
    };
    let mut t = ThreadedSink::spawn(Recorder::default(), opts).unwrap();
    t.participant_added(0, &info("alice"), 0).unwrap();
    for k in 0..100i16 {
        t.stem(0, &[k; 160]).unwrap();
        t.mixed(&[k; 160]).unwrap();
    }
    let (inner, err, c) = t.stop().unwrap();
    assert!(err.is_none());
    assert_eq!(inner.mix.len(), 100 * 160);
    assert_eq!(inner.stems[0][99 * 160], 99);
    assert!(c.backpressure_waits > 0, "{c:?}");
    assert!(c.backpressure_wait_us > 0);
    assert!(c.queue_high_water <= 5, "{c:?}");
}

#[test]
fn the_first_error_stops_writing_reaches_the_media_side_and_is_returned() {
    let inner = Recorder {
        fail_at: Some(3),
        ..Recorder::default()
    };
    let mut t = ThreadedSink::spawn(inner, WriterOptions::default()).unwrap();
    t.participant_added(0, &info("alice"), 0).unwrap();
    let mut seen = None;
    for k in 0..1000i16 {
        let r = t.stem(0, &[k; 320]).and_then(|_| t.mixed(&[k; 320]));
        if let Err(e) = r {
            seen = Some(e.to_string());
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let seen = seen.expect("the media side sees the writer's error");
    assert!(seen.contains("disk full (test)"), "{seen}");
    let (inner, err, c) = t.stop().unwrap();
    assert!(matches!(err, Some(SinkError::WriterFailed(m)) if m.contains("disk full")));
    assert_eq!(
        inner.mix.len(),
        2 * 320,
        "ticks before the failure are written"
    );
    assert_eq!(c.handled, c.queued);
    // Written before the error: the participant, two ticks (a stem and a mix each), the third's stem.
    assert_eq!(c.discarded_after_error, c.queued - 1 - 2 * 2 - 1 - 1);
}

/// Logs every call it gets with its arguments; a timeline event without a participant turns the live mix
/// listener on or off (as a listen-in starting or ending would).
#[derive(Default)]
struct Log {
    calls: Vec<String>,
    mix_tapped: bool,
}

impl RecordingSink for Log {
    type Error = SinkError;
    fn participant_added(
        &mut self,
        i: usize,
        p: &ParticipantInfo,
        lead: u64,
    ) -> Result<(), SinkError> {
        self.calls.push(format!("add {i} {} {lead}", p.name));
        Ok(())
    }
    fn stem(&mut self, i: usize, s: &[i16]) -> Result<(), SinkError> {
        self.calls.push(format!("stem {i} {s:?}"));
        Ok(())
    }
    fn stem_silence(&mut self, i: usize, n: usize) -> Result<(), SinkError> {
        self.calls.push(format!("silence {i} {n}"));
        Ok(())
    }
    fn mixed(&mut self, s: &[i16]) -> Result<(), SinkError> {
        self.calls.push(format!("mix {s:?}"));
        Ok(())
    }
    fn listened_mix(&self) -> bool {
        self.mix_tapped
    }
    fn timeline(&mut self, event: TimelineEvent) -> Result<(), SinkError> {
        if let TimelineEvent::DominantSpeaker {
            participant: None, ..
        } = event
        {
            self.mix_tapped = !self.mix_tapped;
        }
        self.calls.push(format!("timeline {event:?}"));
        Ok(())
    }
}

/// One thing the recorder does to its sink.
#[derive(Clone, Debug)]
enum Op {
    Join,
    /// Ticks of the mix alone, this long, through a lent block when the sink lends one.
    MixTicks(u8, usize),
    /// A tick of the mix handed over as a copy.
    MixCopy(usize),
    Stem(usize, usize),
    Silence(usize, usize),
    Event(bool),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let len = prop_oneof![Just(320usize), Just(160usize), 1usize..400];
    prop_oneof![
        1 => Just(Op::Join),
        6 => (1u8..60, prop_oneof![4 => Just(320usize), 1 => 1usize..400]).prop_map(|(n, l)| Op::MixTicks(n, l)),
        1 => len.clone().prop_map(Op::MixCopy),
        2 => (0usize..3, len.clone()).prop_map(|(i, l)| Op::Stem(i, l)),
        2 => (0usize..3, 1usize..20_000).prop_map(|(i, n)| Op::Silence(i, n)),
        2 => any::<bool>().prop_map(Op::Event),
    ]
}

/// Plays `ops` on `sink` as the recorder would (a tick is lent and filled, or mixed as a copy when the sink
/// lends none); tick `k` of the mix holds `k`.
fn play<S: RecordingSink<Error = SinkError>>(sink: &mut S, ops: &[Op]) {
    let mut joined = 0usize;
    let mut tick = 0i16;
    for op in ops {
        match *op {
            Op::Join => {
                sink.participant_added(joined, &info(&format!("p{joined}")), joined as u64)
                    .unwrap();
                joined += 1;
            }
            Op::MixTicks(n, len) => {
                for _ in 0..n {
                    tick = tick.wrapping_add(1);
                    match sink.lend_tick(0, len) {
                        Some(buf) => {
                            assert_eq!(buf.len(), len);
                            buf.fill(tick);
                            sink.tick_filled().unwrap();
                        }
                        None => sink.mixed(&vec![tick; len]).unwrap(),
                    }
                }
            }
            Op::MixCopy(len) => {
                tick = tick.wrapping_add(1);
                sink.mixed(&vec![tick; len]).unwrap();
            }
            Op::Stem(i, len) if i < joined => sink.stem(i, &vec![i as i16 + 1; len]).unwrap(),
            Op::Silence(i, n) if i < joined => sink.stem_silence(i, n).unwrap(),
            Op::Event(mix) => sink
                .timeline(TimelineEvent::DominantSpeaker {
                    at: MediaTime::from_millis(i64::from(tick) * 20),
                    participant: (!mix).then_some(0),
                })
                .unwrap(),
            Op::Stem(..) | Op::Silence(..) => {}
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// The writer thread is invisible: whatever the recorder does (mix ticks gathered or not, of any length,
    /// stems, silence, events, a live listener of the mix coming and going), the inner sink gets the same
    /// calls with the same samples as when called directly, and in the same order but for one freedom: a
    /// stem's data may overtake mix ticks gathered before it (never the other way, never anything else).
    #[test]
    fn a_threaded_sink_makes_the_same_calls_as_the_sink_itself(ops in proptest::collection::vec(op(), 1..80)) {
        let mut direct = Log::default();
        play(&mut direct, &ops);
        let mut threaded = ThreadedSink::spawn(Log::default(), WriterOptions::default()).unwrap();
        play(&mut threaded, &ops);
        let (inner, err, c) = threaded.stop().unwrap();
        proptest::prop_assert!(err.is_none());
        proptest::prop_assert_eq!(c.handled, c.queued);
        let stemish = |c: &String| c.starts_with("stem ") || c.starts_with("silence ");
        let no_mix = |calls: &[String]| -> Vec<String> {
            calls.iter().filter(|c| !c.starts_with("mix ")).cloned().collect()
        };
        // Everything but the mix in order (stems among themselves and against events and joins) …
        proptest::prop_assert_eq!(no_mix(&inner.calls), no_mix(&direct.calls));
        // … and everything but the stems in order (each event after exactly the mix ticks made before it).
        let no_stems = |calls: &[String]| -> Vec<String> {
            calls.iter().filter(|c| !stemish(c)).cloned().collect()
        };
        proptest::prop_assert_eq!(no_stems(&inner.calls), no_stems(&direct.calls));
        // A stem's call never waits behind a mix tick made after it.
        let mix_before = |calls: &[String]| -> Vec<usize> {
            let mut n = 0;
            let mut at = Vec::new();
            for c in calls {
                if c.starts_with("mix ") {
                    n += 1;
                } else if stemish(c) {
                    at.push(n);
                }
            }
            at
        };
        for (t, d) in mix_before(&inner.calls).iter().zip(mix_before(&direct.calls)) {
            proptest::prop_assert!(*t <= d, "a stem's call came after {t} mix ticks, made after {d}");
        }
    }
}

/// Keeps the mix where the test can read it after the sink is gone.
struct SharedMix(std::sync::Arc<std::sync::Mutex<Vec<i16>>>);

impl RecordingSink for SharedMix {
    type Error = SinkError;
    fn participant_added(
        &mut self,
        _: usize,
        _: &ParticipantInfo,
        _: u64,
    ) -> Result<(), SinkError> {
        Ok(())
    }
    fn stem(&mut self, _: usize, _: &[i16]) -> Result<(), SinkError> {
        Ok(())
    }
    fn mixed(&mut self, s: &[i16]) -> Result<(), SinkError> {
        if let Ok(mut m) = self.0.lock() {
            m.extend_from_slice(s);
        }
        Ok(())
    }
    fn timeline(&mut self, _: TimelineEvent) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn a_sink_dropped_without_stop_still_queues_the_mix_it_gathered() {
    let mix = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut t = ThreadedSink::spawn(SharedMix(mix.clone()), WriterOptions::default()).unwrap();
    // Ten ticks: fewer than a block, so nothing has been queued yet.
    lend_mix_ticks(&mut t, 10, -1);
    assert_eq!(t.counters().queued, 0);
    drop(t);
    // The writer thread drains what was queued, then ends.
    let t0 = Instant::now();
    loop {
        let got = mix.lock().unwrap().clone();
        if got.len() == 10 * 320 {
            for (k, chunk) in got.chunks(320).enumerate() {
                assert!(chunk.iter().all(|&s| s == k as i16), "tick {k}");
            }
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{} samples",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Counts the calls made since the last end of a batch; notes each end with that count.
#[derive(Default)]
struct Batches {
    since_end: usize,
    ends: Vec<usize>,
}

impl RecordingSink for Batches {
    type Error = SinkError;
    fn participant_added(
        &mut self,
        _: usize,
        _: &ParticipantInfo,
        _: u64,
    ) -> Result<(), SinkError> {
        self.since_end += 1;
        Ok(())
    }
    fn stem(&mut self, _: usize, _: &[i16]) -> Result<(), SinkError> {
        self.since_end += 1;
        Ok(())
    }
    fn mixed(&mut self, _: &[i16]) -> Result<(), SinkError> {
        self.since_end += 1;
        Ok(())
    }
    fn timeline(&mut self, _: TimelineEvent) -> Result<(), SinkError> {
        self.since_end += 1;
        Ok(())
    }
    fn end_batch(&mut self) -> Result<(), SinkError> {
        self.ends.push(std::mem::take(&mut self.since_end));
        Ok(())
    }
}

/// The writer thread tells the sink where each pass over its queue ended, and once more before handing it
/// back: a sink that holds writes for the batch (the folder sink's journal lines) never keeps any past a pass.
#[test]
fn every_pass_ends_with_end_batch_and_nothing_is_left_after_the_last() {
    let mut t = ThreadedSink::spawn(Batches::default(), WriterOptions::default()).unwrap();
    t.participant_added(0, &info("a"), 0).unwrap();
    for i in 0..60 {
        t.stem(0, &[i; 320]).unwrap();
        t.mixed(&[i; 320]).unwrap();
        if i % 20 == 19 {
            // A pause longer than the poll interval: the writer's pass ends in between.
            std::thread::sleep(WriterOptions::default().poll_interval * 3);
        }
    }
    let (inner, err, _) = t.stop().unwrap();
    assert!(err.is_none());
    assert_eq!(inner.since_end, 0, "calls after the last end of a batch");
    assert!(inner.ends.len() >= 3, "{:?}", inner.ends);
    assert_eq!(inner.ends.iter().sum::<usize>(), 1 + 60 + 60);
}

//! Structure-aware target: two participants' `AudioTrack`s (source clock + jitter buffer + placement) fed
//! arbitrary frame sequences (any order, duplicates, zero/jumping/absurd timestamps, wrong formats, reference
//! time going backwards), pulled tick by tick as the call recorder does, and mixed.
//!
//! Invariants: no panic; every tick is exactly one tick of samples; the mix is the saturating sum of the
//! stems; after the end every frame handed over is accounted for
//! (delivered = written + late + duplicates + outliers + wrong format + overrun);
//! the gaps that are not `dropped` are in order and do not overlap (a `dropped` gap marks the place of a frame
//! that reached the track and was not written, and may refine an earlier gap); every gap has a length.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use media_core::mixer::Mixer;
use media_core::track::{AudioTrack, Gap, TrackConfig};
use media_core::{AudioFormat, AudioFrame, FrameTiming, MediaTime, SourceId, SourceTimestamp};

const TICK: usize = 320;

#[derive(Arbitrary, Debug)]
enum Ts {
    /// The sender's clock: epoch + index * 20 ms + a small error.
    Clock { jitter_us: i16 },
    /// Teams' zero timestamp.
    Zero,
    /// A jump of the sender's clock (a reconnect) that later frames keep.
    Jump { by_ms: i32 },
    /// Any value at all.
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Frame {
        second: bool,
        /// Change of the sender's frame index from the previous frame (1 = next; 0 = duplicate).
        step: i8,
        ts: Ts,
        /// Delivered this much before `now` (the reference clock can lag behind the latest seen).
        back_ms: u8,
        stereo: bool,
        loud: bool,
    },
    Advance {
        ms: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    late_window_ms: u16,
    jitter_capacity: u8,
    epochs: [u32; 2],
    ops: Vec<Op>,
}

struct Src {
    track: AudioTrack,
    index: i64,
    epoch: u64,
    offset: i64,
    delivered: u64,
    stem: Vec<i16>,
    /// Gaps taken out as the recorder does (all but the open one, every advance; all at the end).
    gaps: Vec<Gap>,
}

fuzz_target!(|input: Input| {
    let late_window = MediaTime::from_millis(i64::from(input.late_window_ms % 1001));
    let cfg = TrackConfig {
        late_window,
        jitter_capacity: usize::from(input.jitter_capacity).max(1),
        ..TrackConfig::default()
    };
    let latency = cfg.clock.packetization.saturating_add(late_window);
    let mut srcs: Vec<Src> = input
        .epochs
        .iter()
        .map(|&e| Src {
            track: AudioTrack::new(cfg),
            index: 0,
            epoch: 1 + u64::from(e) * 1000,
            offset: 0,
            delivered: 0,
            stem: vec![0; TICK],
            gaps: Vec::new(),
        })
        .collect();
    let mut mixer = Mixer::new(TICK);
    let mut mix = vec![0i16; TICK];
    let mut now = MediaTime::ZERO;
    let mut next_tick = 0i64;
    let mut frames = 0;

    let mut produce = |srcs: &mut [Src], next_tick: &mut i64, now: MediaTime, upto: Option<i64>| loop {
        let tick_end = MediaTime::from_millis(20 * (*next_tick + 1));
        let due = match upto {
            Some(last) => *next_tick < last,
            None => tick_end.saturating_add(latency) <= now,
        };
        if !due {
            return;
        }
        mixer.begin(TICK);
        for s in srcs.iter_mut() {
            s.stem.fill(0x5555);
            s.track.pull(*next_tick * TICK as i64, &mut s.stem, now);
            assert_eq!(s.stem.len(), TICK);
            mixer.add(&s.stem);
        }
        mixer.finish(&mut mix);
        for i in 0..TICK {
            let sum: i32 = srcs.iter().map(|s| i32::from(s.stem[i])).sum();
            assert_eq!(
                i32::from(mix[i]),
                sum.clamp(-32768, 32767),
                "mix != saturating sum"
            );
        }
        *next_tick += 1;
    };

    for op in &input.ops {
        match op {
            Op::Frame {
                second,
                step,
                ts,
                back_ms,
                stereo,
                loud,
            } => {
                frames += 1;
                if frames > 3000 {
                    break;
                }
                let s = &mut srcs[usize::from(*second)];
                s.index += i64::from(*step);
                let timestamp = match *ts {
                    Ts::Clock { jitter_us } => {
                        let t = s.epoch as i64
                            + s.offset
                            + s.index * 200_000
                            + i64::from(jitter_us) * 10;
                        SourceTimestamp::new(t.max(1) as u64)
                    }
                    Ts::Zero => SourceTimestamp::UNKNOWN,
                    Ts::Jump { by_ms } => {
                        s.offset += i64::from(by_ms) * 10_000;
                        let t = s.epoch as i64 + s.offset + s.index * 200_000;
                        SourceTimestamp::new(t.max(1) as u64)
                    }
                    Ts::Raw(v) => SourceTimestamp::new(v),
                };
                let amp: i16 = if *loud { 30_000 } else { 1000 };
                let payload: Vec<u8> = (0..TICK)
                    .flat_map(|i| (amp - (i as i16 % 7)).to_le_bytes())
                    .collect();
                let frame = AudioFrame {
                    source: SourceId::audio(u32::from(*second)),
                    timing: FrameTiming {
                        timestamp,
                        ..Default::default()
                    },
                    format: if *stereo {
                        AudioFormat::PCM44K_STEREO
                    } else {
                        AudioFormat::PCM16K
                    },
                    is_silence: false,
                    payload: Bytes::from(payload),
                };
                let delivered = now.saturating_sub(MediaTime::from_millis(i64::from(*back_ms)));
                s.delivered += 1;
                s.track.push(frame, delivered, now);
            }
            Op::Advance { ms } => {
                now = now.saturating_add(MediaTime::from_millis(i64::from(*ms)));
                for s in srcs.iter_mut() {
                    s.track.release(now);
                }
                produce(&mut srcs, &mut next_tick, now, None);
                for s in srcs.iter_mut() {
                    let closed: Vec<Gap> = s.track.drain_gaps(false).collect();
                    s.gaps.extend(closed);
                }
            }
        }
    }
    // The end: everything waiting is placed, the rest of the timeline is pulled.
    for s in srcs.iter_mut() {
        s.track.flush();
    }
    let end_now = now
        .saturating_add(latency)
        .saturating_add(MediaTime::from_millis(20));
    let last = next_tick + latency.as_millis() / 20 + 2;
    produce(&mut srcs, &mut next_tick, end_now, Some(last));

    for s in srcs.iter_mut() {
        let rest: Vec<Gap> = s.track.drain_gaps(true).collect();
        s.gaps.extend(rest);
        assert!(s.track.gaps().is_empty());
    }
    for s in &srcs {
        let st = s.track.stats();
        assert_eq!(st.delivered, s.delivered);
        assert_eq!(
            st.delivered,
            st.written + st.late + st.duplicates + st.outliers + st.wrong_format + st.overrun,
            "frames unaccounted for: {st:?}"
        );
        assert_eq!(st.delivered, st.written + st.dropped());
        // Taken out in pieces, the gaps still never overlap (a taken gap is never extended afterwards).
        let breaks: Vec<Gap> = s.gaps.iter().copied().filter(|g| !g.kind.is_dropped()).collect();
        for w in breaks.windows(2) {
            assert!(
                w[0].start.saturating_add(w[0].length) <= w[1].start,
                "gaps out of order or overlapping: {w:?}"
            );
        }
        for g in &s.gaps {
            assert!(g.length > MediaTime::ZERO, "empty gap {g:?}");
        }
    }
});

//! media-core per-frame and per-tick costs: jitter buffer, source clock (timeline mapping), one track (clock +
//! jitter + placement + pull), and the mixer for 2, 4, 10 and 32 sources.
//!
//! `cargo bench -p verbatim-benches --bench media` (thread CPU time per iteration; `VERBATIM_BENCH_CLOCK=wall`
//! for wall time; `VERBATIM_BENCH_QUICK=1` or `-- --test` to only check that it runs).

use std::hint::black_box;

use bytes::Bytes;
use criterion::measurement::Measurement;
use criterion::Criterion;
use media_core::jitter::JitterBuffer;
use media_core::mixer::Mixer;
use media_core::timeline::{ClockConfig, SourceClock};
use media_core::track::{AudioTrack, TrackConfig};
use media_core::{AudioFormat, AudioFrame, FrameTiming, MediaTime, SourceId, SourceTimestamp};
use verbatim_benches::{criterion_config, print_budget_table, wall_clock, ThreadCpu};

const FRAME: i64 = 200_000; // 20 ms in 100 ns ticks
const SENDER_EPOCH: u64 = 3_900_000_000 * 10_000_000;

/// A deterministic jitter pattern: 0–60 ms, moving slowly (as the simulator's AR(1) does), quantized to
/// Teams' 20 ms delivery grid.
fn jitter_table() -> Vec<i64> {
    let mut x = 30.0f64;
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    (0..4096)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s % 1000) as f64 / 1000.0 - 0.5;
            x = (30.0 + 0.95 * (x - 30.0) + u * 15.0).clamp(0.0, 60.0);
            x as i64
        })
        .collect()
}

fn media_benches<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group("media");
    let payload = Bytes::from(vec![0u8; 640]);

    // Jitter buffer: one frame in, released at once (the common case: in order).
    {
        let mut jb: JitterBuffer<Bytes> = JitterBuffer::new(256, 500);
        let mut k = 0i64;
        g.bench_function("jitter_insert_pop_in_order", |b| {
            b.iter(|| {
                let _ = jb.insert(
                    k,
                    MediaTime::from_ticks(k * FRAME + 2_200_000),
                    payload.clone(),
                );
                let now = MediaTime::from_ticks(k * FRAME + 2_200_000);
                while let Some(f) = jb.pop_ready(now) {
                    black_box(f);
                }
                k += 1;
            })
        });
    }
    // Reordered: pairs swapped (1, 0, 3, 2, ...): every other frame waits for the one before it.
    {
        let mut jb: JitterBuffer<Bytes> = JitterBuffer::new(256, 500);
        let mut i = 0i64;
        g.bench_function("jitter_insert_pop_reordered", |b| {
            b.iter(|| {
                let k = i ^ 1;
                let _ = jb.insert(
                    k,
                    MediaTime::from_ticks(k * FRAME + 2_200_000),
                    payload.clone(),
                );
                let now = MediaTime::from_ticks(i * FRAME);
                while let Some(f) = jb.pop_ready(now) {
                    black_box(f);
                }
                i += 1;
            })
        });
    }
    // Source clock: map one timed frame delivered with jitter (envelope update, fit, target).
    {
        let jit = jitter_table();
        let mut clock = SourceClock::new(ClockConfig::default());
        let mut k = 0i64;
        g.bench_function("timeline_map_jittered", |b| {
            b.iter(|| {
                let ts = SourceTimestamp::new(SENDER_EPOCH + (k * FRAME) as u64);
                let arrival = k * FRAME + FRAME + jit[(k as usize) % jit.len()] * 10_000;
                let delivered = MediaTime::from_ticks((arrival / FRAME + 1) * FRAME);
                black_box(clock.map(ts, delivered));
                k += 1;
            })
        });
    }
    // One track: push a jittered frame, release, pull one 20 ms tick once it is due.
    {
        let jit = jitter_table();
        let mut track = AudioTrack::new(TrackConfig::default());
        let mut out = vec![0i16; 320];
        let mut k = 0i64;
        let mut next_tick = 0i64;
        g.bench_function("track_push_pull", |b| {
            b.iter(|| {
                let arrival = k * FRAME + FRAME + jit[(k as usize) % jit.len()] * 10_000;
                let delivered = MediaTime::from_ticks((arrival / FRAME + 1) * FRAME);
                let frame = AudioFrame {
                    source: SourceId::audio(1),
                    timing: FrameTiming {
                        timestamp: SourceTimestamp::new(SENDER_EPOCH + (k * FRAME) as u64),
                        reference: SourceTimestamp::UNKNOWN,
                        arrival: delivered,
                    },
                    format: AudioFormat::PCM16K,
                    is_silence: false,
                    payload: payload.clone(),
                };
                track.push(frame, delivered, delivered);
                // The recorder's rule: tick t is pulled once now >= its end + packetization + late window.
                while (next_tick + 1) * FRAME + 2_200_000 <= delivered.ticks() {
                    track.pull(next_tick * 320, &mut out, delivered);
                    black_box(&out);
                    next_tick += 1;
                }
                k += 1;
            })
        });
    }
    // The mixer: one 20 ms tick (320 samples) of N sources, through the recorder's begin/add/finish path.
    for n in [2usize, 4, 10, 32] {
        let inputs: Vec<Vec<i16>> = (0..n)
            .map(|s| {
                (0..320)
                    .map(|i| (((i * 37 + s * 101) % 2000) as i16 - 1000) * 8)
                    .collect()
            })
            .collect();
        let mut m = Mixer::new(320);
        let mut out = vec![0i16; 320];
        g.bench_function(format!("mixer_{n}_sources"), |b| {
            b.iter(|| {
                m.begin(320);
                for i in &inputs {
                    m.add(black_box(i));
                }
                m.finish(&mut out);
                black_box(&out);
            })
        });
    }
    g.finish();
}

fn main() {
    let wall = wall_clock();
    if wall {
        let mut c = criterion_config(Criterion::default());
        media_benches(&mut c);
        c.final_summary();
    } else {
        let mut c = criterion_config(Criterion::default().with_measurement(ThreadCpu::new()));
        media_benches(&mut c);
        c.final_summary();
    }
    print_budget_table(
        Some("media"),
        if wall { "wall time" } else { "thread CPU time" },
    );
}

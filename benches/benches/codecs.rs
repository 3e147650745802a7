//! Codec stage benchmarks (crate `codecs`) against the budgets of issue 3.
//!
//! `cargo bench -p verbatim-benches --bench codecs` runs every case briefly (3 s each) and finishes with a
//! table of measured means beside their budgets, read back from criterion's `estimates.json`.
//!
//! Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on a shared
//! 2-core machine other processes stretch wall time by 1.5–2x, while CPU time is what a recording costs.
//! `VERBATIM_BENCH_CLOCK=wall` switches to criterion's wall clock.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use codecs::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
use codecs::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
use codecs::picture::{i420_to_nv12, nv12_len, nv12_to_i420, scale_into, I420Picture};
use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion};
use media_core::{AudioFormat, MediaTime};
use verbatim_benches::{thread_cpu_ns, ThreadCpu};

const GROUP: &str = "codecs";

/// (bench id, what one iteration is, budget in µs if the issue sets one).
const CASES: &[(&str, &str, Option<f64>)] = &[
    ("opus_encode_16k_mono", "20 ms frame", Some(60.0)),
    ("opus_decode_16k_mono", "20 ms frame", Some(30.0)),
    ("opus_plc_16k_mono", "20 ms concealed", None),
    ("opus_encode_48k_mono", "20 ms frame", None),
    ("opus_decode_48k_mono", "20 ms frame", None),
    ("h264_encode_720p", "frame", Some(15_000.0)),
    ("h264_decode_720p", "frame", Some(4_000.0)),
    ("nv12_to_i420_720p", "frame", None),
    ("scale_720p_to_360p", "frame", Some(1_000.0)),
    ("scale_1080p_to_360p", "frame (area)", None),
    ("scale_360p_to_720p", "frame (bilinear)", None),
];

/// Speech: alice's sentence (the first 6 s of testdata/media/alice.flac), resampled naively to `rate` by sample
/// repetition if needed.
fn speech(rate: u32) -> Vec<i16> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/media/alice.flac");
    let mut s = bot_adapter::sim::load_audio_file(&path).unwrap_or_else(|e| {
        panic!("{e} (testdata/media is part of the repository, see its README.md)")
    });
    s.truncate(6 * 16_000);
    let factor = (rate / 16_000) as usize;
    s.iter()
        .flat_map(|&v| std::iter::repeat_n(v, factor))
        .collect()
}

fn opus_benches<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group(GROUP);
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for rate in [16_000u32, 48_000] {
        let format = AudioFormat {
            sample_rate: rate,
            channels: 1,
        };
        let pcm = speech(rate);
        let frame = rate as usize / 50;
        let mut enc = OpusEncoder::new(OpusEncoderConfig {
            format,
            ..OpusEncoderConfig::default()
        })
        .unwrap();
        let frames: Vec<&[i16]> = pcm.chunks_exact(frame).collect();
        let packets: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| enc.encode(f).unwrap().to_vec())
            .collect();
        let k = rate / 1000;
        let mut i = 0;
        g.bench_function(format!("opus_encode_{k}k_mono"), |b| {
            b.iter(|| {
                i = (i + 1) % frames.len();
                black_box(enc.encode(black_box(frames[i])).unwrap().len())
            })
        });
        let mut dec = OpusDecoder::new(format).unwrap();
        let mut j = 0;
        g.bench_function(format!("opus_decode_{k}k_mono"), |b| {
            b.iter(|| {
                j = (j + 1) % packets.len();
                black_box(dec.decode(black_box(&packets[j])).unwrap().len())
            })
        });
        if rate == 16_000 {
            // Concealment of a packet lost in speech: each input is a decoder that has just decoded a few
            // packets (setup, untimed); only `conceal()` is timed.
            let mut j = 0;
            g.bench_function("opus_plc_16k_mono", |b| {
                b.iter_batched_ref(
                    || {
                        let mut d = OpusDecoder::new(format).unwrap();
                        j = (j + 3) % (packets.len() - 3);
                        for p in &packets[j..j + 3] {
                            d.decode(p).unwrap();
                        }
                        d
                    },
                    |d| black_box(d.conceal().unwrap().len()),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

fn moving_pattern(t: u32, pic: &mut I420Picture) {
    let w = pic.width() as usize;
    let (y, u, v) = pic.planes_mut();
    for (i, p) in y.iter_mut().enumerate() {
        let (x, r) = (i % w, i / w);
        let noise = ((x as u32 + 3 * t).wrapping_mul(2_654_435_761)
            ^ (r as u32).wrapping_mul(40_503))
            >> 28;
        *p = (((x + r) / 8 + 3 * t as usize) % 200 + 20) as u8 + noise as u8;
    }
    u.fill(110);
    v.fill(140);
}

fn video_benches<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group(GROUP);
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10);
    let pictures: Vec<I420Picture> = (0..30)
        .map(|t| {
            let mut p = I420Picture::new(1280, 720).unwrap();
            moving_pattern(t, &mut p);
            p
        })
        .collect();
    let mut enc = H264Encoder::new(H264EncoderConfig::default()).unwrap();
    // 60 frames = one GOP, so cycling the decode always restarts on an IDR.
    let stream: Vec<Vec<u8>> = (0..60)
        .map(|t| {
            enc.encode(&pictures[t % 30], MediaTime::from_millis(t as i64 * 33))
                .unwrap()
                .data
                .to_vec()
        })
        .collect();
    let mut t = 0i64;
    g.bench_function("h264_encode_720p", |b| {
        b.iter(|| {
            t += 1;
            let f = enc
                .encode(&pictures[t as usize % 30], MediaTime::from_millis(t * 33))
                .unwrap();
            black_box(f.data.len())
        })
    });
    let mut dec = H264Decoder::new().unwrap();
    let mut n = 0;
    g.bench_function("h264_decode_720p", |b| {
        b.iter(|| {
            let pic = dec.decode(&stream[n % 60]).unwrap();
            n += 1;
            black_box(pic.map(|p| p.width()))
        })
    });
    let mut nv12 = vec![0u8; nv12_len(1280, 720)];
    i420_to_nv12(&pictures[0], &mut nv12).unwrap();
    let mut out = I420Picture::new(1280, 720).unwrap();
    g.bench_function("nv12_to_i420_720p", |b| {
        b.iter(|| nv12_to_i420(black_box(&nv12), 1280, 720, 1280, &mut out).unwrap())
    });
    let mut small = I420Picture::new(640, 360).unwrap();
    g.bench_function("scale_720p_to_360p", |b| {
        b.iter(|| scale_into(black_box(&pictures[1]), &mut small).unwrap())
    });
    let mut big = I420Picture::new(1920, 1080).unwrap();
    scale_into(&pictures[2], &mut big).unwrap();
    g.bench_function("scale_1080p_to_360p", |b| {
        b.iter(|| scale_into(black_box(&big), &mut small).unwrap())
    });
    let mut up = I420Picture::new(1280, 720).unwrap();
    g.bench_function("scale_360p_to_720p", |b| {
        b.iter(|| scale_into(black_box(&small), &mut up).unwrap())
    });
    g.finish();
}

fn criterion_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(h);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// Mean time per iteration in µs from criterion's saved estimates.
fn measured_us(id: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(GROUP)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["mean"]["point_estimate"].as_f64()? / 1000.0)
}

fn summary(clock: &str) {
    println!("\ncodecs: measured mean vs budget (µs per iteration, {clock})");
    println!(
        "{:<24} {:>12} {:>12}  {:<16} verdict",
        "bench", "measured", "budget", "per"
    );
    for &(id, per, budget) in CASES {
        let Some(m) = measured_us(id) else {
            continue;
        };
        let (b, verdict) = match budget {
            Some(b) => (format!("{b:.0}"), if m <= b { "within" } else { "OVER" }),
            None => ("-".to_string(), ""),
        };
        println!("{id:<24} {m:>12.1} {b:>12}  {per:<16} {verdict}");
    }
}

fn run<M: Measurement>(mut c: Criterion<M>) {
    opus_benches(&mut c);
    video_benches(&mut c);
    c.final_summary();
}

fn main() {
    let wall =
        std::env::var("VERBATIM_BENCH_CLOCK").is_ok_and(|v| v == "wall") || thread_cpu_ns() == 0;
    if wall {
        run(Criterion::default().configure_from_args());
    } else {
        run(Criterion::default()
            .with_measurement(ThreadCpu::new())
            .configure_from_args());
    }
    summary(if wall { "wall time" } else { "thread CPU time" });
}

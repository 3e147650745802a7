//! The meeting-video compositor (issue 6): what a 10-participant 720p grid at 15 fps costs per recorded
//! second, against the budget of 0.3 core.
//!
//! `cargo bench -p verbatim-benches --bench composite` measures, on synthetic moving camera streams encoded
//! once in setup with the crate's own `H264Encoder` (10 different streams per resolution, 15 fps, 2 s GOP):
//!
//! * per source frame: H.264 decode (180p, 360p and 720p: the resolutions a bot can subscribe per MSI) and `Compositor::update_picture` (scaling into a grid
//!   tile);
//! * per output frame: `Compositor::render` and H.264 encode of the 1280x720 composite;
//! * the whole output frame as the recorder runs it with 15 fps sources: 10 decodes, 10 tile updates, render,
//!   encode.
//!
//! It then prints CPU per recorded second = output-frame cost x 15 + (decode + tile update) x source fps x 10
//! beside the budget. Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time
//! (`VERBATIM_BENCH_CLOCK=wall` switches to wall time). `VERBATIM_BENCH_QUICK=1` only checks that it runs.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use codecs::composite::{Compositor, CompositorConfig, Layout, TileSource};
use codecs::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
use codecs::picture::I420Picture;
use criterion::measurement::Measurement;
use criterion::Criterion;
use media_core::MediaTime;
use verbatim_benches::{thread_cpu_ns, ThreadCpu};

const GROUP: &str = "composite";
const PARTICIPANTS: usize = 10;
/// Frames per synthetic stream: one 2 s GOP at 15 fps, so cycling always restarts on the IDR.
const STREAM_FRAMES: usize = 30;
const OUT_FPS: f64 = 15.0;
/// CPU budget per recorded second, in cores.
const BUDGET_CORES: f64 = 0.3;

fn quick() -> bool {
    std::env::var("VERBATIM_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// A camera-like moving picture: a textured, drifting luma pattern (different per participant `k`), a
/// moving bright "head" blob, and slow chroma gradients. Enough detail and motion for realistic codec cost.
fn camera_frame(k: usize, t: usize, pic: &mut I420Picture) {
    let (w, h) = (pic.width() as usize, pic.height() as usize);
    let cw = pic.chroma_width() as usize;
    let sx = 1280.0 / w as f32;
    let phase = k as f32 * 0.7 + t as f32 * 0.15;
    let (bx, by) = (
        w as f32 * (0.5 + 0.15 * (phase * 0.9).sin()),
        h as f32 * (0.45 + 0.08 * (phase * 1.3).cos()),
    );
    let r2 = (h as f32 * 0.22).powi(2);
    let (y, u, v) = pic.planes_mut();
    for (row, line) in y.chunks_exact_mut(w).enumerate() {
        let fy = row as f32 * sx;
        for (col, p) in line.iter_mut().enumerate() {
            let fx = col as f32 * sx;
            let tex = 40.0
                * ((fx + 3.0 * t as f32) / 23.0 + phase).sin()
                * ((fy - 2.0 * t as f32) / 31.0).cos();
            let noise = ((col * 7 + row * 13 + t * 5 + k * 3) % 11) as f32;
            let d2 = (col as f32 - bx).powi(2) + (row as f32 - by).powi(2);
            let blob = if d2 < r2 { 50.0 } else { 0.0 };
            *p = (100.0 + tex + noise + blob).clamp(16.0, 235.0) as u8;
        }
    }
    for (row, (lu, lv)) in u
        .chunks_exact_mut(cw)
        .zip(v.chunks_exact_mut(cw))
        .enumerate()
    {
        for (col, (pu, pv)) in lu.iter_mut().zip(lv.iter_mut()).enumerate() {
            *pu = (110 + (col * 30 / cw) + k * 3) as u8;
            *pv = (120 + (row * 30 / (h / 2).max(1)) + k * 2) as u8;
        }
    }
}

/// Ten distinct 15 fps H.264 streams of `STREAM_FRAMES` frames at `w x h`.
fn streams(w: u32, h: u32) -> Vec<Vec<Vec<u8>>> {
    let mut pic = I420Picture::new(w, h).unwrap();
    (0..PARTICIPANTS)
        .map(|k| {
            let mut enc = H264Encoder::new(H264EncoderConfig {
                bitrate_bps: match w {
                    1280.. => 1_500_000,
                    640.. => 500_000,
                    _ => 200_000,
                },
                max_frame_rate: 15.0,
                keyframe_interval: STREAM_FRAMES as u32,
                threads: 1,
            })
            .unwrap();
            (0..STREAM_FRAMES)
                .map(|t| {
                    camera_frame(k, t, &mut pic);
                    let at = MediaTime::from_millis(t as i64 * 1000 / 15);
                    enc.encode(&pic, at).unwrap().data.to_vec()
                })
                .collect()
        })
        .collect()
}

fn grid_compositor() -> Compositor {
    let mut c = Compositor::new(CompositorConfig {
        layout: Layout::Grid,
        ..CompositorConfig::default()
    })
    .unwrap();
    let names: Vec<TileSource> = (0..PARTICIPANTS)
        .map(|i| TileSource::new(format!("Participant {i} Example")))
        .collect();
    c.set_participants(&names).unwrap();
    c
}

fn output_encoder() -> H264Encoder {
    H264Encoder::new(H264EncoderConfig {
        max_frame_rate: OUT_FPS as f32,
        keyframe_interval: 30,
        ..H264EncoderConfig::default()
    })
    .unwrap()
}

fn benches<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group(GROUP);
    if quick() {
        g.measurement_time(Duration::from_millis(300))
            .warm_up_time(Duration::from_millis(100))
            .sample_size(10);
    } else {
        g.measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1))
            .sample_size(10);
    }
    for (label, w, h) in [
        ("180p", 320u32, 180u32),
        ("360p", 640, 360),
        ("720p", 1280, 720),
    ] {
        let s = streams(w, h);
        // Per source frame: decode.
        let mut dec = H264Decoder::new().unwrap();
        let mut n = 0usize;
        g.bench_function(format!("decode_{label}"), |b| {
            b.iter(|| {
                let pic = dec.decode(&s[0][n % STREAM_FRAMES]).unwrap();
                n += 1;
                black_box(pic.map(|p| p.width()))
            })
        });
        // Per source frame: scale into a grid tile (a fresh decoded picture each time).
        let mut comp = grid_compositor();
        let mut dec = H264Decoder::new().unwrap();
        let pictures: Vec<I420Picture> = s[1]
            .iter()
            .map(|f| dec.decode(f).unwrap().unwrap().clone())
            .collect();
        let mut n = 0usize;
        g.bench_function(format!("tile_update_{label}"), |b| {
            b.iter(|| {
                n += 1;
                comp.update_picture(n % PARTICIPANTS, black_box(&pictures[n % STREAM_FRAMES]))
                    .unwrap()
            })
        });

        if label == "720p" {
            // ActiveSpeaker: a 720p picture into the 1024x576 stage (bilinear, 1.25x).
            let mut comp = Compositor::new(CompositorConfig {
                layout: Layout::ActiveSpeaker,
                ..CompositorConfig::default()
            })
            .unwrap();
            let names: Vec<TileSource> = (0..PARTICIPANTS)
                .map(|i| TileSource::new(format!("Participant {i} Example")))
                .collect();
            comp.set_participants(&names).unwrap();
            let mut n = 0usize;
            g.bench_function("stage_update_720p", |b| {
                b.iter(|| {
                    n += 1;
                    comp.update_picture(0, black_box(&pictures[n % STREAM_FRAMES]))
                        .unwrap()
                })
            });
        }

        // Per output frame with 15 fps sources: 10 decodes + 10 tile updates + render + encode.
        let mut decoders: Vec<H264Decoder> = (0..PARTICIPANTS)
            .map(|_| H264Decoder::new().unwrap())
            .collect();
        let mut comp = grid_compositor();
        let mut enc = output_encoder();
        let mut frame = I420Picture::new(1280, 720).unwrap();
        let mut t = 0usize;
        g.bench_function(format!("frame_grid10_{label}_sources"), |b| {
            b.iter(|| {
                for (k, d) in decoders.iter_mut().enumerate() {
                    if let Some(p) = d.decode(&s[k][t % STREAM_FRAMES]).unwrap() {
                        comp.update_picture(k, p).unwrap();
                    }
                }
                let at = comp.frame_time(t as u64);
                comp.render(at, &mut frame).unwrap();
                t += 1;
                black_box(enc.encode(&frame, at).unwrap().data.len())
            })
        });

        if label == "360p" {
            // Per output frame: render alone, and encode alone (of 30 different rendered composites).
            let mut decoders: Vec<H264Decoder> = (0..PARTICIPANTS)
                .map(|_| H264Decoder::new().unwrap())
                .collect();
            let mut comp = grid_compositor();
            let composites: Vec<I420Picture> = (0..STREAM_FRAMES)
                .map(|t| {
                    for (k, d) in decoders.iter_mut().enumerate() {
                        let p = d.decode(&s[k][t]).unwrap().unwrap();
                        comp.update_picture(k, p).unwrap();
                    }
                    let mut f = I420Picture::new(1280, 720).unwrap();
                    comp.render(comp.frame_time(t as u64), &mut f).unwrap();
                    f
                })
                .collect();
            let mut t = 0u64;
            g.bench_function("render_grid10_720p", |b| {
                b.iter(|| {
                    t += 1;
                    comp.render(comp.frame_time(t), &mut frame).unwrap();
                    black_box(frame.y()[0])
                })
            });
            let mut enc = output_encoder();
            let mut t = 0usize;
            g.bench_function("encode_composite_720p", |b| {
                b.iter(|| {
                    let at = MediaTime::from_millis(t as i64 * 1000 / 15);
                    let len = enc
                        .encode(&composites[t % STREAM_FRAMES], at)
                        .unwrap()
                        .data
                        .len();
                    t += 1;
                    black_box(len)
                })
            });
        }
    }
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

/// Mean time per iteration in ms from criterion's saved estimates.
fn measured_ms(id: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(GROUP)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["mean"]["point_estimate"].as_f64()? / 1e6)
}

fn summary(clock: &str) {
    println!("\ncomposite: measured means ({clock})");
    for id in [
        "decode_180p",
        "tile_update_180p",
        "decode_360p",
        "tile_update_360p",
        "decode_720p",
        "tile_update_720p",
        "stage_update_720p",
        "render_grid10_720p",
        "encode_composite_720p",
        "frame_grid10_180p_sources",
        "frame_grid10_360p_sources",
        "frame_grid10_720p_sources",
    ] {
        if let Some(m) = measured_ms(id) {
            println!("  {id:<28} {m:>8.3} ms");
        }
    }
    let (Some(render), Some(encode)) = (
        measured_ms("render_grid10_720p"),
        measured_ms("encode_composite_720p"),
    ) else {
        return;
    };
    println!(
        "\nCPU per recorded second, 10-participant 720p grid at {OUT_FPS} fps (budget <= {BUDGET_CORES} core):"
    );
    println!(
        "  {:<34} {:>10} {:>10} {:>10} {:>8}  verdict",
        "sources", "output", "sources", "total", "cores"
    );
    for (label, src_fps) in [
        ("180p", 15.0),
        ("180p", 30.0),
        ("360p", 15.0),
        ("360p", 30.0),
        ("720p", 15.0),
        ("720p", 30.0),
    ] {
        let (Some(dec), Some(upd)) = (
            measured_ms(&format!("decode_{label}")),
            measured_ms(&format!("tile_update_{label}")),
        ) else {
            continue;
        };
        let output = (render + encode) * OUT_FPS;
        let sources = (dec + upd) * src_fps * PARTICIPANTS as f64;
        let total = output + sources;
        let cores = total / 1000.0;
        let verdict = if cores <= BUDGET_CORES {
            "within"
        } else {
            "OVER"
        };
        println!(
            "  {:<34} {output:>7.0} ms {sources:>7.0} ms {total:>7.0} ms {cores:>8.3}  {verdict}",
            format!("10 x {label} at {src_fps} fps (components)")
        );
    }
    for label in ["180p", "360p", "720p"] {
        if let Some(f) = measured_ms(&format!("frame_grid10_{label}_sources")) {
            let cores = f * OUT_FPS / 1000.0;
            let verdict = if cores <= BUDGET_CORES {
                "within"
            } else {
                "OVER"
            };
            println!(
                "  {:<34} {:>10} {:>10} {:>7.0} ms {cores:>8.3}  {verdict}",
                format!("10 x {label} at 15 fps (whole frame)"),
                "",
                "",
                f * OUT_FPS
            );
        }
    }
}

fn run<M: Measurement>(mut c: Criterion<M>) {
    benches(&mut c);
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

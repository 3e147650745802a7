//! Output-stage costs: writing one second of media as a fragmented-MP4 fragment (the Opus mix alone, as
//! `verbatim record` writes it, and H.264 720p + Opus), and the signed hash chain per MiB of recorded bytes.
//!
//! `cargo bench -p verbatim-benches --bench output`.

use std::hint::black_box;
use std::io::{Seek, SeekFrom, Write};

use bytes::Bytes;
use codecs::h264::{H264Encoder, H264EncoderConfig};
use codecs::opus::{OpusEncoder, OpusEncoderConfig};
use codecs::picture::I420Picture;
use criterion::measurement::Measurement;
use criterion::Criterion;
use media_core::MediaTime;
use muxer::fmp4::{Fmp4Options, Fmp4Writer, TrackSpec, Written};
use muxer::integrity::manifest::HexBytes;
use muxer::integrity::{Chain, Entry};
use sha2::{Digest, Sha256};
use verbatim_benches::{criterion_config, print_budget_table, wall_clock, ThreadCpu};

/// A file that keeps nothing: counts bytes and honours seeks (the writer patches nothing until finish).
#[derive(Default)]
struct NullFile {
    pos: u64,
    len: u64,
}

impl Write for NullFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pos += buf.len() as u64;
        self.len = self.len.max(self.pos);
        Ok(buf.len())
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for NullFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.pos = match pos {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => self.len.saturating_add_signed(d),
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

/// 50 Opus packets (1 s) of speech-like audio at the recorder's settings (16 kHz mono, 32 kbit/s).
fn opus_second() -> (Vec<Bytes>, u16) {
    let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).expect("opus encoder");
    let pre_skip = enc.pre_skip();
    let packets = (0..50)
        .map(|f| {
            let pcm: Vec<i16> = (0..320)
                .map(|i| {
                    let t = (f * 320 + i) as f32 / 16_000.0;
                    ((std::f32::consts::TAU * 180.0 * t).sin() * 6000.0
                        + (std::f32::consts::TAU * 530.0 * t).sin() * 2000.0)
                        as i16
                })
                .collect();
            Bytes::copy_from_slice(enc.encode(&pcm).expect("encode"))
        })
        .collect();
    (packets, pre_skip)
}

/// 30 H.264 frames (1 s at 30 fps) of a moving 720p pattern, IDR first, at 2.5 Mbit/s.
fn h264_second() -> Vec<Bytes> {
    let mut enc = H264Encoder::new(H264EncoderConfig {
        bitrate_bps: 2_500_000,
        keyframe_interval: 30,
        ..H264EncoderConfig::default()
    })
    .expect("h264 encoder");
    let mut pic = I420Picture::new(1280, 720).expect("picture");
    (0..30)
        .map(|t| {
            let w = pic.width() as usize;
            let (y, u, v) = pic.planes_mut();
            for (i, p) in y.iter_mut().enumerate() {
                *p = ((i % w + i / w + 7 * t) % 220) as u8;
            }
            u.fill(110);
            v.fill(140);
            let f = enc
                .encode(&pic, MediaTime::from_millis(t as i64 * 33))
                .expect("encode");
            Bytes::copy_from_slice(f.data)
        })
        .collect()
}

fn output_benches<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group("output");
    let (opus, pre_skip) = opus_second();
    let mut written: Vec<Written> = Vec::new();

    // One second of the Opus mix: 50 packets; a 1 s fragment is cut and written per second.
    {
        let mut w = Fmp4Writer::new(
            NullFile::default(),
            &[TrackSpec::Opus {
                channels: 1,
                pre_skip,
                input_sample_rate: 16_000,
            }],
            Fmp4Options::default(),
        );
        let mut second = 0i64;
        g.bench_function("fmp4_fragment_opus_1s", |b| {
            b.iter(|| {
                for (i, p) in opus.iter().enumerate() {
                    let pts = MediaTime::from_millis(second * 1000 + 20 * i as i64);
                    written.clear();
                    w.push(0, pts, p.clone(), &mut written).expect("push");
                    black_box(&written);
                }
                written.clear();
                w.tick(MediaTime::from_millis(second * 1000 + 1000), &mut written)
                    .expect("tick");
                second += 1;
            })
        });
    }
    // One second of 720p H.264 (30 frames, IDR each second) + Opus.
    {
        let video = h264_second();
        let mut w = Fmp4Writer::new(
            NullFile::default(),
            &[TrackSpec::h264(), TrackSpec::opus(1, pre_skip)],
            Fmp4Options::default(),
        );
        let mut second = 0i64;
        g.bench_function("fmp4_fragment_h264_opus_1s", |b| {
            b.iter(|| {
                for (i, f) in video.iter().enumerate() {
                    let pts = MediaTime::from_ticks(second * 10_000_000 + i as i64 * 333_333);
                    written.clear();
                    w.push(0, pts, f.clone(), &mut written).expect("push video");
                }
                for (i, p) in opus.iter().enumerate() {
                    let pts = MediaTime::from_millis(second * 1000 + 20 * i as i64);
                    written.clear();
                    w.push(1, pts, p.clone(), &mut written).expect("push audio");
                }
                written.clear();
                w.tick(MediaTime::from_millis(second * 1000 + 1000), &mut written)
                    .expect("tick");
                black_box(&written);
                second += 1;
            })
        });
    }
    // The hash chain over 1 MiB of recorded bytes in 32 KiB regions (about one second of a 16 kHz stem
    // each): SHA-256 of the bytes, then the chain link, as the writer does for every region it writes.
    {
        let data: Vec<u8> = (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let mut chain = Chain::new("bench", 0, &[9u8; 32]);
        let mut offset = 0u64;
        g.bench_function("hash_chain_1mib", |b| {
            b.iter(|| {
                for region in data.chunks(32 * 1024) {
                    let sha: [u8; 32] = Sha256::digest(region).into();
                    let e = Entry::Data {
                        file: 1,
                        offset,
                        len: region.len() as u64,
                        sha256: HexBytes(sha),
                    };
                    offset += region.len() as u64;
                    black_box(chain.push(&e));
                }
            })
        });
    }
    g.finish();
}

fn main() {
    let wall = wall_clock();
    if wall {
        let mut c = criterion_config(Criterion::default());
        output_benches(&mut c);
        c.final_summary();
    } else {
        let mut c = criterion_config(Criterion::default().with_measurement(ThreadCpu::new()));
        output_benches(&mut c);
        c.final_summary();
    }
    print_budget_table(
        Some("output"),
        if wall { "wall time" } else { "thread CPU time" },
    );
}

//! WAV stems: crash recovery read back with hound, the RF64 switch past 4 GiB, RF64 read by ffprobe.

mod common;

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};

use common::*;
use media_core::AudioFormat;
use muxer::wav::{header_bytes, recover_wav, WavWriter, HEADER_LEN};

fn alice() -> Vec<i16> {
    speech("alice")
}

#[test]
fn a_wav_truncated_mid_way_recovers_the_right_samples() {
    let dir = scratch_dir("wav-recover");
    let input = alice();
    let path = dir.join("alice.wav");
    let mut w = WavWriter::create(
        BufWriter::new(File::create(&path).unwrap()),
        AudioFormat::PCM16K,
    )
    .unwrap();
    for (i, buf) in input.chunks(320).enumerate() {
        w.append_samples(buf).unwrap();
        if i % 50 == 49 {
            w.refresh_header().unwrap(); // once a second
        }
    }
    w.flush().unwrap();
    drop(w);
    // Crash: the file ends in the middle of a sample, the header still says an older size.
    let cut = HEADER_LEN + 2 * 123_457 + 1;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let before = hound::WavReader::open(&path).unwrap().len();
    assert_eq!(
        before, 384_000,
        "the stale header still claims the last refreshed size"
    );
    let plan = recover_wav(&path).unwrap();
    assert_eq!(plan.data_len, 2 * 123_457);
    let mut r = hound::WavReader::open(&path).unwrap();
    assert_eq!(r.spec().sample_rate, 16_000);
    let back: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    assert_eq!(back.len(), 123_457);
    assert_eq!(&back[..], &input[..123_457]);
    // ffprobe agrees on the length.
    let d: f64 = ffprobe(
        &path,
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
    )
    .trim()
    .parse()
    .unwrap();
    assert!((d - 123_457.0 / 16_000.0).abs() < 1e-3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A sink that keeps the first 80 bytes (the header), counts the rest, and records every header write.
#[derive(Default)]
struct MockSink {
    header: Vec<u8>,
    pos: u64,
    len: u64,
    header_writes: Vec<Vec<u8>>,
}

impl Write for MockSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos < HEADER_LEN {
            assert_eq!(self.pos, 0, "header writes start at 0");
            assert_eq!(buf.len() as u64, HEADER_LEN, "header written whole");
            self.header = buf.to_vec();
            self.header_writes.push(buf.to_vec());
        }
        self.pos += buf.len() as u64;
        self.len = self.len.max(self.pos);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for MockSink {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => (self.len as i64 + d) as u64,
            SeekFrom::Current(d) => (self.pos as i64 + d) as u64,
        };
        Ok(self.pos)
    }
}

fn u32_at(h: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(h[at..at + 4].try_into().unwrap())
}
fn u64_at(h: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(h[at..at + 8].try_into().unwrap())
}

#[test]
fn rf64_switch_before_4_gib() {
    let fmt = AudioFormat {
        sample_rate: 48_000,
        channels: 2,
    };
    let mut w = WavWriter::create(MockSink::default(), fmt).unwrap();
    let block = vec![0x5Au8; 1 << 20]; // 1 MiB of samples
    let limit = u32::MAX as u64 - (HEADER_LEN - 8); // the most data a RIFF header can describe
    while w.data_len() + block.len() as u64 <= limit {
        w.append_bytes(&block).unwrap();
    }
    w.refresh_header().unwrap();
    assert!(!w.is_rf64());
    let h = w.sink_mut().header.clone();
    assert_eq!(&h[0..4], b"RIFF");
    assert_eq!(u32_at(&h, 4) as u64, HEADER_LEN - 8 + w.data_len());
    assert_eq!(&h[12..16], b"JUNK");
    assert_eq!(u32_at(&h, 76) as u64, w.data_len());
    let writes_before = w.sink_mut().header_writes.len();

    // The next append crosses the RIFF limit: the header turns RF64 before those bytes are written.
    let before = w.data_len();
    w.append_bytes(&block).unwrap();
    assert!(w.is_rf64());
    let s = w.sink_mut();
    assert_eq!(s.header_writes.len(), writes_before + 1);
    let h = s.header.clone();
    assert_eq!(&h[0..4], b"RF64");
    assert_eq!(u32_at(&h, 4), u32::MAX);
    assert_eq!(&h[12..16], b"ds64");
    assert_eq!(u32_at(&h, 16), 28);
    assert_eq!(u64_at(&h, 28), before, "ds64 data size at the switch");
    assert_eq!(&h[72..76], b"data");
    assert_eq!(u32_at(&h, 76), u32::MAX);

    // Keep going past 4 GiB, then refresh: the ds64 sizes hold the 64-bit values.
    for _ in 0..200 {
        w.append_bytes(&block).unwrap();
    }
    w.refresh_header().unwrap();
    let data = w.data_len();
    assert!(data > 1u64 << 32);
    let s = w.sink_mut();
    assert_eq!(s.len, HEADER_LEN + data);
    let h = s.header.clone();
    assert_eq!(u64_at(&h, 20), HEADER_LEN - 8 + data, "ds64 riff size");
    assert_eq!(u64_at(&h, 28), data, "ds64 data size");
    assert_eq!(u64_at(&h, 36), data / 4, "ds64 sample count");
    assert_eq!(u32_at(&h, 44), 0, "ds64 table length");
    // Recovery from such a header and length plans RF64 as well.
    let plan = muxer::wav::plan_wav_recovery(&h, HEADER_LEN + data + 3).unwrap();
    assert_eq!(plan.data_len, data);
    assert_eq!(plan.header, h.to_vec());
}

#[test]
fn rf64_layout_is_read_by_ffprobe() {
    let dir = scratch_dir("wav-rf64");
    let path = dir.join("rf64.wav");
    let mut f = File::create(&path).unwrap();
    let samples = vec![0u8; 16_000 * 2];
    f.write_all(&header_bytes(
        AudioFormat::PCM16K,
        samples.len() as u64,
        true,
    ))
    .unwrap();
    f.write_all(&samples).unwrap();
    drop(f);
    let out = ffprobe(
        &path,
        &[
            "-show_entries",
            "format=format_name,duration",
            "-of",
            "csv=p=0",
        ],
    );
    // ffmpeg's wav demuxer reads RF64 (it reports the format as "wav").
    assert_eq!(out.trim(), "wav,1.000000");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A chunk's digest is the SHA-256 of its bytes whatever mix of silence and sound it holds: silent chunks
/// are hashed once per length (`WavWriter`'s zero run), which must give the digest of the zeros, and a chunk
/// that starts silent and then sounds must hash both. Checked against hashing the file's bytes.
mod chunk_digests {
    use super::*;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    #[derive(Debug, Clone)]
    enum Op {
        Zeros(usize),
        Sound(usize, i16),
        Take,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..5000).prop_map(Op::Zeros),
            (1usize..700, 1i16..i16::MAX).prop_map(|(n, v)| Op::Sound(n, v)),
            Just(Op::Take),
        ]
    }

    proptest! {
        #[test]
        fn every_chunk_digest_is_the_sha256_of_its_bytes(ops in proptest::collection::vec(op(), 1..60)) {
            let mut w = WavWriter::create(io::Cursor::new(Vec::new()), AudioFormat::PCM16K).unwrap();
            let mut regions = Vec::new();
            for op in ops.iter().chain([Op::Take].iter()) {
                match op {
                    Op::Zeros(n) => w.append_samples(&vec![0; *n]).unwrap(),
                    Op::Sound(n, v) => {
                        let s: Vec<i16> = (0..*n).map(|i| if i % 7 == 3 { *v } else { 0 }).collect();
                        w.append_samples(&s).unwrap()
                    }
                    Op::Take => regions.extend(w.take_chunk()),
                }
            }
            prop_assert_eq!(w.pending_chunk_len(), 0);
            w.flush().unwrap();
            let bytes = w.sink_mut().get_ref().clone();
            let mut end = HEADER_LEN;
            for r in &regions {
                prop_assert_eq!(r.offset, end);
                let part = &bytes[r.offset as usize..(r.offset + r.len) as usize];
                prop_assert_eq!(r.sha256, <[u8; 32]>::from(Sha256::digest(part)));
                end = r.offset + r.len;
            }
            prop_assert_eq!(end, bytes.len() as u64);
        }
    }
}

/// A file that counts the flushes it is asked for (a sparse file makes a system call at each one).
struct CountFlushes {
    bytes: io::Cursor<Vec<u8>>,
    flushes: usize,
}

impl Write for CountFlushes {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.bytes.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flushes += 1;
        Ok(())
    }
}

impl Seek for CountFlushes {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.bytes.seek(to)
    }
}

/// Unbuffered appends (a stem's ring blocks, every half second) write what the buffer holds first and keep
/// the bytes in order, without flushing the file each time: the chunk's close flushes it.
#[test]
fn unbuffered_appends_keep_order_and_do_not_flush_the_file() {
    let file = CountFlushes {
        bytes: io::Cursor::new(Vec::new()),
        flushes: 0,
    };
    let mut w = WavWriter::create(BufWriter::new(file), AudioFormat::PCM16K).unwrap();
    w.flush().unwrap(); // the header out, as the recording does when it adds a stem
    let flushes_at_create = w.sink_mut().get_ref().flushes;
    for k in 0..10i16 {
        w.append_samples_unbuffered(&[k; 8000]).unwrap();
    }
    assert_eq!(w.sink_mut().get_ref().flushes, flushes_at_create);
    w.append_samples(&[-1; 320]).unwrap(); // a tick, buffered
    w.append_samples_unbuffered(&[10; 8000]).unwrap(); // after it in the file
    assert_eq!(w.sink_mut().get_ref().flushes, flushes_at_create + 1);
    w.flush().unwrap();
    let bytes = w.sink_mut().get_ref().bytes.get_ref().clone();
    let samples: Vec<i16> = bytes[HEADER_LEN as usize..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(samples.len(), 11 * 8000 + 320);
    for k in 0..10 {
        assert!(samples[k * 8000..(k + 1) * 8000]
            .iter()
            .all(|&s| s == k as i16));
    }
    assert!(samples[80_000..80_320].iter().all(|&s| s == -1));
    assert!(samples[80_320..].iter().all(|&s| s == 10));
}

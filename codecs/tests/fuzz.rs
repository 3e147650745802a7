//! Fuzz-style robustness: thousands of seeded random and mutated inputs to every parser and decoder of
//! outside bytes. Passing means: no panic, no crash, errors counted.

mod common;

use codecs::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
use codecs::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
use codecs::picture::I420Picture;
use common::XorShift;
use media_core::h264;
use media_core::{AudioFormat, MediaTime};

#[test]
fn opus_decoder_survives_random_packets() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut dec = OpusDecoder::new(AudioFormat::PCM16K).unwrap();
    let mut stereo = OpusDecoder::new(AudioFormat {
        sample_rate: 48_000,
        channels: 2,
    })
    .unwrap();
    let mut buf = vec![0u8; 2000];
    let attempts = 4000u64;
    let mut recovers = 0;
    for i in 0..attempts {
        let len = match i % 4 {
            0 => rng.below(4),
            1 => rng.below(64),
            _ => rng.below(buf.len()),
        };
        rng.fill(&mut buf[..len]);
        let _ = dec.decode(&buf[..len]);
        let _ = stereo.decode(&buf[..len]);
        if i % 7 == 0 {
            let _ = dec.recover(&buf[..len]);
            recovers += 1;
            assert!(dec.conceal().is_ok());
        }
    }
    let s = dec.stats();
    // Every packet decoded or counted as an error (a recover() of a bad packet counts one more error).
    assert!(s.decoded + s.errors >= attempts && s.decoded + s.errors <= attempts + recovers);
    assert_eq!(
        s.concealed + s.fec_recovered,
        2 * recovers - (s.decoded + s.errors - attempts)
    );
    assert!(s.errors > 0 && s.decoded > 0, "{s:?}");

    // Mutated real packets, decoded in sequence.
    let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).unwrap();
    let frame: Vec<i16> = (0..320)
        .map(|i| ((i as f32) * 0.3).sin() as i16 * 9000)
        .collect();
    for _ in 0..1000 {
        let mut p = enc.encode(&frame).unwrap().to_vec();
        let k = rng.below(p.len());
        p[k] ^= 1 << rng.below(8);
        p.truncate(1 + rng.below(p.len()));
        let _ = dec.decode(&p);
    }
}

#[test]
fn nal_and_sps_parsers_survive_random_bytes() {
    let mut rng = XorShift(0xC0FF_EE00_DEAD_BEEF);
    let mut buf = vec![0u8; 600];
    let mut out = Vec::with_capacity(4096);
    let mut sps_ok = 0;
    for i in 0..6000 {
        let len = rng.below(buf.len());
        rng.fill(&mut buf[..len]);
        // Sprinkle start codes and plausible headers so parsing goes deep.
        for _ in 0..rng.below(6) {
            if len >= 5 {
                let p = rng.below(len - 4);
                buf[p..p + 3].copy_from_slice(&[0, 0, 1]);
                buf[p + 3] = [0x67, 0x68, 0x65, 0x41, 0x06][rng.below(5)];
            }
        }
        let b = &buf[..len];
        let _ = h264::inspect_access_unit(b);
        for n in h264::nal_units(b) {
            assert!(!n.bytes().is_empty());
            let _ = n.nal_type();
        }
        out.clear();
        let _ = h264::annexb_to_length_prefixed(b, &mut out, i % 2 == 0);
        out.clear();
        let _ = h264::length_prefixed_to_annexb(b, [1, 2, 4][i % 3], &mut out);
        // An SPS-looking unit: fixed header, random body, often with small Exp-Golomb codes.
        if len > 1 {
            buf[0] = 0x67;
            if let Ok(sps) = h264::parse_sps(&buf[..len]) {
                sps_ok += 1;
                let max = 16 * h264::MAX_FRAME_SIDE_MBS;
                assert!(sps.width >= 1 && sps.width <= max && sps.height >= 1 && sps.height <= max);
            }
        }
    }
    println!("random SPS accepted: {sps_ok}");
}

fn pattern(t: u32, pic: &mut I420Picture) {
    let w = pic.width() as usize;
    let (y, u, v) = pic.planes_mut();
    for (i, p) in y.iter_mut().enumerate() {
        *p = ((i % w + i / w + 5 * t as usize) % 220) as u8;
    }
    u.fill(100);
    v.fill(150);
}

#[test]
fn h264_decoder_survives_random_and_mutated_frames() {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    // A real small stream to mutate.
    let mut enc = H264Encoder::new(H264EncoderConfig {
        bitrate_bps: 300_000,
        keyframe_interval: 5,
        ..H264EncoderConfig::default()
    })
    .unwrap();
    let mut pic = I420Picture::new(320, 240).unwrap();
    let frames: Vec<Vec<u8>> = (0..10)
        .map(|t| {
            pattern(t, &mut pic);
            enc.encode(&pic, MediaTime::from_millis(i64::from(t) * 33))
                .unwrap()
                .data
                .to_vec()
        })
        .collect();

    let mut dec = H264Decoder::new().unwrap();
    let mut buf = vec![0u8; 3000];
    let mut fed = 0u64;
    for i in 0..2500 {
        let data: Vec<u8> = if i % 2 == 0 {
            let len = rng.below(buf.len());
            rng.fill(&mut buf[..len]);
            if len > 8 {
                buf[..4].copy_from_slice(&[0, 0, 0, 1]);
                buf[4] = [0x67, 0x68, 0x65, 0x41][rng.below(4)];
            }
            buf[..len].to_vec()
        } else {
            let mut f = frames[rng.below(frames.len())].clone();
            for _ in 0..1 + rng.below(8) {
                let k = rng.below(f.len());
                f[k] = rng.next_u64() as u8;
            }
            if rng.below(3) == 0 {
                f.truncate(1 + rng.below(f.len()));
            }
            f
        };
        let _ = dec.decode(&data);
        fed += 1;
        // Now and then a clean IDR resynchronises.
        if i % 50 == 0 {
            let _ = dec.decode(&frames[0]);
            fed += 1;
        }
    }
    let s = dec.stats();
    println!("H.264 fuzz: {s:?}");
    assert!(s.errors > 0);
    assert!(s.decoded + s.errors + s.dropped <= fed);
    // Still works afterwards on clean input.
    let mut clean = H264Decoder::new().unwrap();
    for f in &frames {
        assert!(clean.decode(f).unwrap().is_some());
    }
    // An SPS with absurd dimensions is refused before OpenH264 sees it.
    let absurd = [
        0, 0, 0, 1, 0x67, 66, 0xC0, 31, 0xF8, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x11, 0x80,
    ];
    assert!(dec.decode(&absurd).is_err());
}

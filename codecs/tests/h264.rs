//! H.264: decoding a real camera stream as Teams delivers it, encode/decode quality, ffprobe's verdict.

mod common;

use std::io::BufReader;

use codecs::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
use codecs::picture::I420Picture;
use codecs::CodecError;
use common::{media, require_tool};
use media_core::h264::{self, length_prefixed_to_annexb, NalType};
use media_core::MediaTime;

/// erin-sync.mp4's video as Teams would send it: one Annex-B buffer per frame, SPS + PPS before each IDR.
fn erin_frames() -> Vec<Vec<u8>> {
    let path = media("erin-sync.mp4");
    let f = std::fs::File::open(&path).expect("erin-sync.mp4 present");
    let size = f.metadata().unwrap().len();
    let mut mp4 = mp4::Mp4Reader::read_header(BufReader::new(f), size).unwrap();
    let (track_id, sps, pps) = mp4
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(mp4::TrackType::Video)))
        .map(|t| {
            (
                t.track_id(),
                t.sequence_parameter_set().unwrap().to_vec(),
                t.picture_parameter_set().unwrap().to_vec(),
            )
        })
        .expect("a video track");
    let count = mp4.sample_count(track_id).unwrap();
    (1..=count)
        .map(|i| {
            let s = mp4.read_sample(track_id, i).unwrap().unwrap();
            let mut out = Vec::new();
            if s.is_sync {
                for ps in [&sps, &pps] {
                    out.extend_from_slice(&[0, 0, 0, 1]);
                    out.extend_from_slice(ps);
                }
            }
            length_prefixed_to_annexb(&s.bytes, 4, &mut out).unwrap();
            out
        })
        .collect()
}

#[test]
fn decodes_erin_sync_with_white_flashes_at_the_right_frames() {
    let frames = erin_frames();
    assert_eq!(frames.len(), 300);
    let info = h264::inspect_access_unit(&frames[0]).unwrap();
    assert!(info.has_idr);
    let sps = h264::parse_sps(info.sps.unwrap()).unwrap();
    assert_eq!((sps.width, sps.height), (1280, 720));
    assert!(sps.is_constrained_baseline());

    let mut dec = H264Decoder::new().unwrap();
    let mut white = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        // Alternate 3- and 4-byte start codes as Teams may: rewrite every other frame's codes to 3 bytes.
        let buf: Vec<u8> = if i % 2 == 1 {
            let mut b = Vec::new();
            for n in h264::nal_units(f) {
                b.extend_from_slice(&[0, 0, 1]);
                b.extend_from_slice(n.bytes());
            }
            b
        } else {
            f.clone()
        };
        let pic = dec
            .decode(&buf)
            .unwrap()
            .expect("every frame yields a picture");
        assert_eq!((pic.width(), pic.height()), (1280, 720));
        // The stream is video range (yuv420p, limited): full white is Y = 235, i.e. 255 on screen. The other
        // frames (colour bars and a moving square) average 99-103.
        if pic.mean_luma() > 230.0 {
            white.push(i);
        }
    }
    println!("white frames: {white:?}");
    assert_eq!(white, [60, 150, 240]);
    assert_eq!(dec.stats().decoded, 300);
    assert_eq!(dec.stats().errors, 0);
    assert!(!dec.needs_keyframe());
}

#[test]
fn delta_frames_before_a_keyframe_are_dropped_and_counted() {
    let frames = erin_frames();
    let mut dec = H264Decoder::new().unwrap();
    assert!(matches!(
        dec.decode(&frames[1]),
        Err(CodecError::NeedKeyframe)
    ));
    assert!(dec.needs_keyframe());
    assert!(dec.decode(&frames[0]).unwrap().is_some());
    assert!(!dec.needs_keyframe());
    assert!(dec.decode(&frames[1]).unwrap().is_some());
    assert_eq!(dec.stats().dropped, 1);
}

#[test]
fn a_lost_delta_frame_then_resync_at_the_next_idr() {
    let frames = erin_frames();
    let mut dec = H264Decoder::new().unwrap();
    let mut outcomes = Vec::new();
    for (i, f) in frames.iter().enumerate().take(70) {
        if i == 10 {
            continue; // lost in transit
        }
        outcomes.push((i, dec.decode(f).map(|p| p.is_some())));
    }
    let failed: Vec<usize> = outcomes
        .iter()
        .filter(|(_, r)| !matches!(r, Ok(true)))
        .map(|(i, _)| *i)
        .collect();
    let s = dec.stats();
    println!("after losing frame 10: not decoded {failed:?}, stats {s:?}");
    // OpenH264 notices the missing reference at frame 11 (one error); the decoder then drops the rest of the
    // GOP instead of showing corrupt pictures, and resumes at the next IDR (frame 60).
    assert_eq!(failed, (11..60).collect::<Vec<_>>());
    assert_eq!((s.errors, s.dropped), (1, 48));
    assert!(outcomes
        .iter()
        .filter(|(i, _)| *i >= 60)
        .all(|(_, r)| matches!(r, Ok(true))));
    assert!(!dec.needs_keyframe());
    assert_eq!(s.decoded + s.errors + s.dropped, 69);
}

/// A moving, smooth test pattern (diagonal ramp + a drifting bright square), 1280x720.
fn pattern(t: u32, pic: &mut I420Picture) {
    let (w, h) = (pic.width() as usize, pic.height() as usize);
    let cw = pic.chroma_width() as usize;
    let (y, u, v) = pic.planes_mut();
    for row in 0..h {
        for col in 0..w {
            let base = ((col + row) / 8 + 3 * t as usize) % 200 + 20;
            let sq = (col / 40 + row / 40 + t as usize) % 7 == 0;
            // Fine texture (hashed, moving with the pattern) so the encoder has real detail to spend bits on.
            let hx = (col + 3 * t as usize) as u32;
            let noise = (hx.wrapping_mul(2_654_435_761) ^ (row as u32).wrapping_mul(40_503)) >> 28;
            y[row * w + col] = if sq { 235 } else { base as u8 + noise as u8 };
        }
    }
    for (i, (a, b)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
        let (cx, cy) = (i % cw, i / cw);
        *a = (96 + (cx / 10 + t as usize) % 64) as u8;
        *b = (96 + (cy / 10) % 64) as u8;
    }
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10()
}

#[test]
fn encode_decode_720p_psnr_and_ffprobe_says_constrained_baseline() {
    let mut enc = H264Encoder::new(H264EncoderConfig {
        keyframe_interval: 8,
        ..H264EncoderConfig::default()
    })
    .unwrap();
    let mut dec = H264Decoder::new().unwrap();
    let mut pic = I420Picture::new(1280, 720).unwrap();
    let mut stream = Vec::new();
    let mut psnrs = Vec::new();
    let mut keyframes = Vec::new();
    for t in 0..20u32 {
        pattern(t, &mut pic);
        if t == 5 {
            enc.request_keyframe();
        }
        let frame = enc
            .encode(&pic, MediaTime::from_millis(i64::from(t) * 33))
            .unwrap();
        let info = h264::inspect_access_unit(frame.data).unwrap();
        assert_eq!(frame.keyframe, info.has_idr);
        if frame.keyframe {
            keyframes.push(t);
            assert!(
                info.sps.is_some() && info.pps.is_some(),
                "SPS/PPS before IDR"
            );
        }
        let data = frame.data.to_vec();
        stream.extend_from_slice(&data);
        let out = dec.decode(&data).unwrap().expect("a picture per frame");
        psnrs.push(psnr(pic.y(), out.y()));
    }
    let mean = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
    println!("720p @ 2.5 Mbit/s luma PSNR per frame: {psnrs:.1?}, mean {mean:.1} dB; IDRs at {keyframes:?}");
    assert!(mean >= 32.0, "mean luma PSNR {mean:.1} dB");
    // The first frame, the requested one, then periodic again 8 frames after the requested IDR.
    assert_eq!(keyframes, [0, 5, 13]);

    let sps = h264::nal_units(&stream)
        .find(|n| n.nal_type() == NalType::SPS)
        .map(|n| h264::parse_sps(n.bytes()).unwrap())
        .unwrap();
    assert!(sps.is_constrained_baseline());

    require_tool("ffprobe");
    let path = std::env::temp_dir().join(format!("codecs-test-{}.h264", std::process::id()));
    std::fs::write(&path, &stream).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,profile,width,height",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("ffprobe: {text}");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("codec_name=h264"), "{text}");
    assert!(text.contains("profile=Constrained Baseline"), "{text}");
    assert!(
        text.contains("width=1280") && text.contains("height=720"),
        "{text}"
    );
}

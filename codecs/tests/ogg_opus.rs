//! Ogg Opus input files: made by ffmpeg's libopus encoder, read back sample-exact in length.

mod common;

use std::path::PathBuf;
use std::process::Command;

use codecs::ogg_opus::{decode_file, OggOpusReader};
use common::{media, require_tool, snr_db, speech, XorShift};
use media_core::AudioFormat;

fn ffmpeg_opus(args: &[&str], name: &str) -> PathBuf {
    require_tool("ffmpeg");
    let encoders = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&encoders.stdout).contains("libopus"),
        "ffmpeg lacks libopus: run scripts/setup.sh (Debian's ffmpeg has it)"
    );
    let out = std::env::temp_dir().join(format!("codecs-{}-{name}", std::process::id()));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

#[test]
fn ffmpeg_encoded_alice_decodes_to_the_same_length_and_alignment() {
    let flac = media("alice.flac");
    let path = ffmpeg_opus(
        &[
            "-i",
            flac.to_str().unwrap(),
            "-c:a",
            "libopus",
            "-b:a",
            "48k",
        ],
        "alice.opus",
    );
    let reference = speech("alice");
    let (format, pcm) = decode_file(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(format, AudioFormat::PCM16K, "OpusHead says 16 kHz input");
    assert_eq!(pcm.len(), reference.len(), "pre-skip and end trim applied");
    let n = 6 * 16_000;
    let snr = snr_db(&reference[..n], &pcm[..n]);
    println!("ffmpeg libopus 48 kbit/s -> our decoder: SNR {snr:.1} dB");
    assert!(snr >= 15.0, "SNR {snr:.1} dB");
    for shift in 1..4 {
        assert!(snr > snr_db(&reference[..n], &pcm[shift..n + shift]));
    }

    // Streaming reader: same samples, no errors; and damaged copies never panic.
    let mut reader = OggOpusReader::from_bytes(bytes.clone()).unwrap();
    assert_eq!(reader.head().pre_skip, 312);
    let mut streamed = Vec::new();
    while let Some(p) = reader.next_pcm().unwrap() {
        streamed.extend_from_slice(p);
    }
    assert_eq!(streamed, pcm);
    assert_eq!(reader.stats().errors, 0);

    assert!(OggOpusReader::from_bytes(bytes[..bytes.len() / 2].to_vec()).is_ok());
    assert!(OggOpusReader::from_bytes(b"not an ogg file at all".to_vec()).is_err());
    assert!(OggOpusReader::from_bytes(Vec::new()).is_err());
    let mut rng = XorShift(0x0DDB_1A5E_5BAD_5EED);
    for _ in 0..200 {
        let mut damaged = bytes.clone();
        for _ in 0..1 + rng.below(20) {
            let i = rng.below(damaged.len());
            damaged[i] = rng.next_u64() as u8;
        }
        damaged.truncate(rng.below(damaged.len()) + 1);
        if let Ok(mut r) = OggOpusReader::from_bytes(damaged) {
            let mut total = 0usize;
            while let Ok(Some(p)) = r.next_pcm() {
                total += p.len();
            }
            assert!(total <= reference.len() + 16_000);
        }
    }
}

#[test]
fn stereo_48k_sine_file() {
    let path = ffmpeg_opus(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=1.5",
            "-ac",
            "2",
            "-c:a",
            "libopus",
            "-b:a",
            "96k",
        ],
        "sine.opus",
    );
    let (format, pcm) = decode_file(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(
        format,
        AudioFormat {
            sample_rate: 48_000,
            channels: 2
        }
    );
    assert_eq!(pcm.len(), 72_000 * 2);
    // A steady tone in the middle: both channels equal-ish and loud.
    let mid = &pcm[48_000..50_000];
    let rms = (mid.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / mid.len() as f64).sqrt();
    assert!(rms > 1000.0, "rms {rms}");
    let missing = std::env::temp_dir().join("codecs-no-such-file.opus");
    assert!(matches!(
        decode_file(&missing),
        Err(codecs::CodecError::Io(_))
    ));
}

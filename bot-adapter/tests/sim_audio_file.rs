//! `load_audio_file`: 16 kHz mono comes back bit-exact; other layouts are downmixed and resampled to 16 kHz;
//! compressed formats made by ffmpeg decode to the same speech.

mod fixtures;

use std::path::{Path, PathBuf};
use std::process::Command;

use bot_adapter::sim::{load_audio_file, AudioFileError, SimError};
use fixtures::{media, require_tool};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verbatim-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write_wav(path: &Path, rate: u32, channels: u16, frames: usize, f: impl Fn(usize, u16) -> i16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..frames {
        for c in 0..channels {
            w.write_sample(f(n, c)).unwrap();
        }
    }
    w.finalize().unwrap();
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Rising zero crossings of a signal: one per period of a sine.
fn rising_crossings(x: &[i16]) -> usize {
    x.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count()
}

/// A file's audio as ffmpeg decodes it, without any conversion (interleaved s16 at the file's own rate).
fn ffmpeg_s16(path: &Path) -> Vec<i16> {
    require_tool("ffmpeg");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The four speakers' FLACs decode to exactly what ffmpeg's decoder makes of them (384,000 samples each: 24 s
/// of 16 kHz mono, unconverted), and the same samples written as a 16 kHz mono WAV come back untouched.
#[test]
fn speech_fixtures_and_a_16k_mono_wav_come_back_bit_exact() {
    for name in ["alice", "bob", "carol", "dave"] {
        let path = media(&format!("{name}.flac"));
        let expected = ffmpeg_s16(&path);
        assert_eq!(expected.len(), 384_000, "{name}: 24 s of 16 kHz mono");
        let got = load_audio_file(&path).unwrap();
        assert!(
            got == expected,
            "{name}.flac: 16 kHz mono must not be touched"
        );
        if name == "alice" {
            let wav = scratch("alice.wav");
            write_wav(&wav, 16_000, 1, expected.len(), |n, _| expected[n]);
            assert!(load_audio_file(&wav).unwrap() == expected, "alice.wav");
            let _ = std::fs::remove_file(wav);
        }
    }
}

#[test]
fn a_48k_stereo_wav_becomes_16k_mono_of_the_right_length_and_pitch() {
    let path = scratch("tone48k-stereo.wav");
    let frames = 72_000; // 1.5 s
                         // 440 Hz on the left, the same tone at half level on the right.
    write_wav(&path, 48_000, 2, frames, |n, c| {
        let v = (std::f64::consts::TAU * 440.0 * n as f64 / 48_000.0).sin() * 16_000.0;
        (if c == 0 { v } else { v / 2.0 }) as i16
    });
    let got = load_audio_file(&path).unwrap();
    assert_eq!(got.len(), 24_000);
    // Mono = mean of the channels: amplitude 12,000, RMS 12,000/sqrt(2) = 8,485 (edges aside).
    let mid = &got[1_000..23_000];
    let r = rms(mid);
    assert!((r - 8_485.0).abs() < 120.0, "rms {r}");
    let crossings = rising_crossings(mid);
    assert!((crossings as i64 - 605).abs() <= 2, "{crossings}"); // 440 Hz x 1.375 s
                                                                 // Aligned with the input: the resampler's delay is trimmed, so the first rising crossing is at 0.
    let first_peak = got[..40]
        .iter()
        .enumerate()
        .max_by_key(|(_, &s)| s)
        .unwrap()
        .0;
    assert!((first_peak as i64 - 9).abs() <= 1, "peak at {first_peak}"); // 1/4 period of 440 Hz at 16 kHz
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_16k_stereo_wav_is_only_downmixed() {
    let path = scratch("stereo16k.wav");
    write_wav(&path, 16_000, 2, 3_200, |n, c| {
        (n as i16 % 1_000) * if c == 0 { 2 } else { 4 }
    });
    let got = load_audio_file(&path).unwrap();
    assert_eq!(got.len(), 3_200);
    for (n, &s) in got.iter().enumerate() {
        assert_eq!(s, (n as i16 % 1_000) * 3, "sample {n}");
    }
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_44k1_mono_wav_is_resampled() {
    let path = scratch("mono44k1.wav");
    write_wav(&path, 44_100, 1, 44_100, |n, _| {
        ((std::f64::consts::TAU * 1_000.0 * n as f64 / 44_100.0).sin() * 20_000.0) as i16
    });
    let got = load_audio_file(&path).unwrap();
    assert_eq!(got.len(), 16_000);
    let c = rising_crossings(&got[500..15_500]);
    assert!((c as i64 - 937).abs() <= 2, "{c}");
    let _ = std::fs::remove_file(path);
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args:?}");
}

/// SNR in dB of `got` against `reference`, after finding the delay (encoders pad the start) in 0..3000.
fn snr_after_delay(got: &[i16], reference: &[i16]) -> (usize, f64) {
    let lag = (0..3_000usize)
        .map(|lag| {
            let n = 300_000
                .min(got.len().saturating_sub(lag))
                .min(reference.len());
            let dot: f64 = (0..n)
                .step_by(7)
                .map(|i| f64::from(got[i + lag]) * f64::from(reference[i]))
                .sum();
            (lag, dot)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
        .0;
    let n = reference.len().min(got.len() - lag);
    let err: f64 = (0..n)
        .map(|i| (f64::from(got[i + lag]) - f64::from(reference[i])).powi(2))
        .sum();
    let sig: f64 = reference[..n].iter().map(|&s| f64::from(s).powi(2)).sum();
    (lag, 10.0 * (sig / err.max(1.0)).log10())
}

/// FLAC, MP3, AAC in MP4 and Ogg Vorbis made from alice's speech by ffmpeg all decode to it; a 48 kHz stereo
/// FLAC comes out as ffmpeg's own 16 kHz mono conversion of it does.
#[test]
fn compressed_formats_made_by_ffmpeg_decode_to_the_same_speech() {
    let src = media("alice.flac");
    require_tool("ffmpeg");
    let original = load_audio_file(&src).unwrap();
    for (file, codec, min_snr) in [
        ("alice.flac", &["-c:a", "flac"][..], f64::INFINITY),
        (
            "alice.mp3",
            &["-c:a", "libmp3lame", "-b:a", "64k"][..],
            15.0,
        ),
        ("alice.m4a", &["-c:a", "aac", "-b:a", "64k"][..], 15.0),
        ("alice.ogg", &["-c:a", "libvorbis", "-q:a", "5"][..], 15.0),
    ] {
        let out = scratch(file);
        let mut args = vec!["-i", src.to_str().unwrap()];
        args.extend(codec);
        args.push(out.to_str().unwrap());
        ffmpeg(&args);
        let got = load_audio_file(&out).unwrap();
        let (lag, snr) = snr_after_delay(&got, &original);
        eprintln!(
            "{file}: {} samples (original 384000), delay {lag}, SNR {snr:.1} dB",
            got.len()
        );
        // Gapless: encoder delay and padding removed (for AAC in MP4 by the edit list), so no lag either.
        assert_eq!(got.len(), 384_000, "{file}");
        assert_eq!(lag, 0, "{file}");
        if min_snr.is_infinite() {
            assert!(got == original, "FLAC is lossless");
        } else {
            assert!(snr > min_snr, "{file}: SNR {snr:.1} dB");
        }
        let _ = std::fs::remove_file(out);
    }

    // 48 kHz stereo: ours (rubato) against ffmpeg's 48k -> 16k mono conversion of the same file. (Against
    // the original, both score only ~11 dB: this speech has much energy near 8 kHz, where the two
    // anti-aliasing filters cut.)
    let flac48 = scratch("alice48.flac");
    let raw16 = scratch("alice48to16.raw");
    ffmpeg(&[
        "-i",
        src.to_str().unwrap(),
        "-ar",
        "48000",
        "-ac",
        "2",
        flac48.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        flac48.to_str().unwrap(),
        "-ar",
        "16000",
        "-ac",
        "1",
        "-f",
        "s16le",
        raw16.to_str().unwrap(),
    ]);
    let theirs: Vec<i16> = std::fs::read(&raw16)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let ours = load_audio_file(&flac48).unwrap();
    assert_eq!(ours.len(), 384_000);
    let (lag, snr) = snr_after_delay(&ours, &theirs);
    eprintln!(
        "alice48.flac: {} samples, delay {lag} vs ffmpeg, SNR vs ffmpeg {snr:.1} dB",
        ours.len()
    );
    assert_eq!(lag, 0);
    assert!(snr > 20.0, "SNR vs ffmpeg {snr:.1} dB");
    let _ = std::fs::remove_file(flac48);
    let _ = std::fs::remove_file(raw16);
}

/// erin-sync.mp4 has a 50 ms 1 kHz beep at exactly 2, 5 and 8 s (and a white video frame with each): its AAC
/// track must come out with the beeps there, not 64 ms late behind the encoder's priming samples.
#[test]
fn mp4_audio_keeps_its_sync_markers_in_place() {
    let path = media("erin-sync.mp4");
    let got = load_audio_file(&path).unwrap();
    assert_eq!(got.len(), 160_000);
    // Energy per 1 ms block; a beep starts where it first reaches half its peak.
    let blocks: Vec<f64> = got.chunks(16).map(rms).collect();
    for marker_ms in [2_000usize, 5_000, 8_000] {
        let window = &blocks[marker_ms - 200..marker_ms + 200];
        let peak = window.iter().cloned().fold(0.0, f64::max);
        assert!(peak > 1_000.0, "a beep near {marker_ms} ms");
        let onset = window.iter().position(|&e| e > peak / 2.0).unwrap() + marker_ms - 200;
        let end = window.iter().rposition(|&e| e > peak / 2.0).unwrap() + marker_ms - 200;
        eprintln!("beep at {marker_ms} ms: {onset}..{end} ms");
        assert!(onset.abs_diff(marker_ms) <= 2, "onset {onset} ms");
        assert!((end - onset).abs_diff(50) <= 4, "length {} ms", end - onset);
    }
}

#[test]
fn errors_name_the_file_and_the_reason() {
    let path = scratch("not-audio.wav");
    std::fs::write(&path, b"this is not a RIFF file at all").unwrap();
    let e = load_audio_file(&path).unwrap_err();
    match &e {
        SimError::AudioFile { path: p, source } => {
            assert_eq!(p, &path);
            assert!(matches!(source, AudioFileError::Format(_)), "{source:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("not-audio.wav"), "{e}");
    let _ = std::fs::remove_file(path);
}

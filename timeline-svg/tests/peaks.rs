//! Waveform peaks of WAV files written here with hound, and their drawing on the timeline's x axis.

mod common;

use std::io::Cursor;

use hound::{SampleFormat, WavSpec, WavWriter};
use timeline_svg::{
    peaks_from_wav, peaks_from_wav_path, waveform_svg, x_of, Peaks, SvgOptions, TimelineError,
};

fn spec(channels: u16, bits: u16, format: SampleFormat) -> WavSpec {
    WavSpec {
        channels,
        sample_rate: 16_000,
        bits_per_sample: bits,
        sample_format: format,
    }
}

/// A 16 kHz 16-bit WAV of the given frames (one `Vec` of channel samples per frame).
fn wav(channels: u16, frames: impl IntoIterator<Item = Vec<i16>>) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut out, spec(channels, 16, SampleFormat::Int)).unwrap();
    for f in frames {
        for s in f {
            w.write_sample(s).unwrap();
        }
    }
    w.finalize().unwrap();
    out.into_inner()
}

/// 1 s of a 440 Hz sine at amplitude 16000, then 1 s of silence.
fn sine_then_silence() -> Vec<u8> {
    wav(
        1,
        (0..32_000).map(|i| {
            if i < 16_000 {
                let t = f64::from(i) / 16_000.0;
                vec![(16_000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()).round() as i16]
            } else {
                vec![0]
            }
        }),
    )
}

#[test]
fn sine_then_silence_in_100_ms_buckets() {
    let p = peaks_from_wav(Cursor::new(sine_then_silence()), 100_000).unwrap();
    assert_eq!(p.bucket_us, 100_000);
    assert_eq!(p.sample_rate, 16_000);
    assert_eq!(p.values.len(), 20);
    for (k, &v) in p.values[..10].iter().enumerate() {
        assert!((124..=125).contains(&v), "bucket {k}: {v}");
    }
    assert_eq!(&p.values[10..], &[0; 10]);
    assert_eq!(p.duration_us(), 2_000_000);
    let json = p.to_json();
    assert!(json.starts_with(r#"{"bucket_us":100000,"values":[12"#));
    assert!(json.ends_with(",0,0,0]}"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["values"].as_array().unwrap().len(), 20);
}

#[test]
fn buckets_not_a_whole_number_of_samples_and_a_partial_last_one() {
    // 0.75 s in 300 ms buckets: 4800, 4800 and 2400 samples; the loud sample is the last of bucket 1.
    let frames = (0..12_000).map(|i| vec![if i == 9_599 { -32_768 } else { 3 }]);
    let p = peaks_from_wav(Cursor::new(wav(1, frames)), 300_000).unwrap();
    assert_eq!(p.values, vec![0, 255, 0]);
    // A sample at 16 kHz lasts 62.5 µs: a shorter bucket is refused, a longer one holds both samples here.
    let one = peaks_from_wav(Cursor::new(wav(1, [vec![100], vec![-200]])), 62).unwrap_err();
    assert!(matches!(one, TimelineError::InvalidBucket(62)));
    let p = peaks_from_wav(Cursor::new(wav(1, [vec![100], vec![-200]])), 63).unwrap();
    assert_eq!(p.values, vec![2]);
}

#[test]
fn stereo_takes_the_louder_channel() {
    let frames = (0..3_200).map(|i| {
        if i < 1_600 {
            vec![1_000, -20_000]
        } else {
            vec![-30_000, 5]
        }
    });
    let p = peaks_from_wav(Cursor::new(wav(2, frames)), 100_000).unwrap();
    assert_eq!(p.values, vec![156, 233]);
}

#[test]
fn other_formats_and_bad_buckets_are_typed_errors() {
    let mut f = Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut f, spec(1, 32, SampleFormat::Float)).unwrap();
    w.write_sample(0.5_f32).unwrap();
    w.finalize().unwrap();
    let e = peaks_from_wav(Cursor::new(f.into_inner()), 100_000).unwrap_err();
    assert!(matches!(
        e,
        TimelineError::UnsupportedWav {
            format: "float",
            bits: 32
        }
    ));
    let mut f = Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut f, spec(1, 24, SampleFormat::Int)).unwrap();
    w.write_sample(5_i32).unwrap();
    w.finalize().unwrap();
    let e = peaks_from_wav(Cursor::new(f.into_inner()), 100_000).unwrap_err();
    assert!(matches!(e, TimelineError::UnsupportedWav { bits: 24, .. }));
    assert!(e.to_string().contains("24 bits"));
    for b in [0, -1, i64::MIN] {
        let e = peaks_from_wav(Cursor::new(sine_then_silence()), b).unwrap_err();
        assert!(matches!(e, TimelineError::InvalidBucket(x) if x == b));
    }
    let e = peaks_from_wav(Cursor::new(b"RIFF, but not really".to_vec()), 100_000).unwrap_err();
    assert!(matches!(e, TimelineError::Wav(_)));
    let e = peaks_from_wav_path("/nonexistent/stem.wav".as_ref(), 100_000).unwrap_err();
    assert!(matches!(e, TimelineError::Wav(hound::Error::IoError(_))));
}

#[test]
fn a_file_cut_short_gives_the_peaks_it_holds() {
    let mut bytes = sine_then_silence();
    bytes.truncate(44 + 2 * 8_001); // the header and half a second and a byte
    let p = peaks_from_wav(Cursor::new(bytes), 100_000).unwrap();
    assert_eq!(p.values.len(), 6);
    assert!(p.values[..5].iter().all(|v| (124..=125).contains(v)));
}

#[test]
fn a_huge_bucket_is_one_value() {
    let p = peaks_from_wav(Cursor::new(sine_then_silence()), i64::MAX).unwrap();
    assert_eq!(p.values.len(), 1);
    assert_eq!(p.duration_us(), i64::MAX);
}

#[test]
fn peaks_from_a_file() {
    let path = std::env::temp_dir().join(format!("timeline-svg-peaks-{}.wav", std::process::id()));
    std::fs::write(&path, sine_then_silence()).unwrap();
    let p = peaks_from_wav_path(&path, 1_000_000).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(p.values.len(), 2);
    assert_eq!(p.values[1], 0);
}

/// The path's top-edge points `(x, y)` (before the right end; the bottom edge mirrors them).
fn top_edge(svg: &str) -> Vec<(f64, f64)> {
    let d = svg.split(r#"<path class="waveform" d=""#).nth(1).unwrap();
    let d = &d[..d.find('"').unwrap()];
    let pts: Vec<(f64, f64)> = d
        .trim_end_matches(" Z")
        .split(['M', 'L'])
        .filter(|s| !s.trim().is_empty())
        .map(|p| {
            let mut it = p.split_whitespace().map(|v| v.parse::<f64>().unwrap());
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    let n = (pts.len() - 2) / 2;
    pts[1..1 + n].to_vec()
}

#[test]
fn waveform_lines_up_with_the_timeline() {
    let p = peaks_from_wav(Cursor::new(sine_then_silence()), 100_000).unwrap();
    let o = SvgOptions::default();
    // Drawn on a 4 s timeline: the sine fills the first quarter of the plot area, then nothing.
    let d = 4_000_000;
    let svg = waveform_svg(&p, d, &o);
    common::check_well_formed(&svg).unwrap();
    assert!(svg.contains(r#"width="1000" height="64" viewBox="0 0 1000 64""#));
    let mid = 32.0;
    let edge = top_edge(&svg);
    assert_eq!(edge.len(), 844); // one point per pixel column
    let loud_until = x_of(1_000_000, d, &o);
    for &(x, y) in &edge {
        if x < loud_until {
            assert!(y < mid - 14.0, "({x}, {y}) should be loud");
        } else {
            assert_eq!(y, mid, "({x}, {y}) should be silent");
        }
    }
    assert!(edge
        .iter()
        .any(|&(x, _)| (x - (loud_until - 0.5)).abs() < 1e-9));
    // Same bytes for the same input; the colour is the option's.
    assert_eq!(svg, waveform_svg(&p, d, &o));
    assert!(svg.contains(&format!(r#"fill="{}""#, o.waveform_color)));
}

#[test]
fn waveform_of_nothing_is_a_flat_line() {
    let o = SvgOptions::default();
    let empty = Peaks {
        bucket_us: 0,
        sample_rate: 0,
        values: vec![255; 3],
    };
    for d in [0, -5, 10] {
        let svg = waveform_svg(&empty, d, &o);
        common::check_well_formed(&svg).unwrap();
        assert!(top_edge(&svg).iter().all(|&(_, y)| y == 32.0));
    }
}

/// A reader whose input fails (not ends) after `ok` bytes.
struct FailAfter {
    data: Cursor<Vec<u8>>,
    ok: u64,
}

impl std::io::Read for FailAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.position() >= self.ok {
            return Err(std::io::Error::other("disk on fire"));
        }
        let room = (self.ok - self.data.position()).min(buf.len() as u64) as usize;
        self.data.read(&mut buf[..room])
    }
}

#[test]
fn a_failing_read_is_an_error_not_a_short_file() {
    let r = FailAfter {
        data: Cursor::new(sine_then_silence()),
        ok: 44 + 20_000,
    };
    let e = peaks_from_wav(r, 100_000).unwrap_err();
    assert!(e.to_string().contains("disk on fire"), "{e}");
}

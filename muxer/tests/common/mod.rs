//! Shared test inputs: the committed fixtures in testdata/media (erin-sync.mp4 as Teams-style Annex-B frames,
//! the speakers' PCM), generated Opus packets, ffmpeg helpers.
#![allow(dead_code)] // each test binary uses a subset of these helpers

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use media_core::MediaTime;

/// The path of `testdata/media/<name>` (the committed test inputs, see its README.md); panics if it is missing.
pub fn media(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/media")
        .join(name);
    assert!(
        p.is_file(),
        "test fixture {} missing: testdata/media is part of the repository (see its README.md)",
        p.display()
    );
    p
}

/// A speaker's voice (`alice`, `bob`, ...): 24 s of 16 kHz mono from testdata/media/<speaker>.flac.
pub fn speech(speaker: &str) -> Vec<i16> {
    let s = bot_adapter::sim::load_audio_file(media(&format!("{speaker}.flac")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.len(), 384_000, "{speaker}: 24 s at 16 kHz");
    s
}

/// A fresh empty folder under the target dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    let base = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let d = base.join(format!("muxer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One Teams-style video frame: whole Annex-B access unit, with its time.
pub struct Frame {
    pub pts: MediaTime,
    pub annexb: Bytes,
    pub nals: Vec<Vec<u8>>,
    pub keyframe: bool,
}

/// The H.264 samples of erin-sync.mp4 as whole Annex-B frames (4-byte start codes; SPS+PPS before each IDR).
pub fn erin_frames() -> Vec<Frame> {
    let f = std::fs::File::open(media("erin-sync.mp4")).unwrap();
    let size = f.metadata().unwrap().len();
    let mut r = mp4::Mp4Reader::read_header(std::io::BufReader::new(f), size).unwrap();
    let (id, ts, sps, pps) = r
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(mp4::TrackType::Video)))
        .map(|t| {
            (
                t.track_id(),
                t.timescale(),
                t.sequence_parameter_set().unwrap().to_vec(),
                t.picture_parameter_set().unwrap().to_vec(),
            )
        })
        .unwrap();
    let n = r.sample_count(id).unwrap();
    let mut out = Vec::new();
    for i in 1..=n {
        let s = r.read_sample(id, i).unwrap().unwrap();
        let mut nals: Vec<Vec<u8>> = Vec::new();
        if s.is_sync {
            nals.push(sps.clone());
            nals.push(pps.clone());
        }
        let b = &s.bytes[..];
        let mut p = 0;
        while p + 4 <= b.len() {
            let l = u32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]) as usize;
            let nal = b[p + 4..p + 4 + l].to_vec();
            // Teams sends SPS/PPS/IDR/non-IDR only: drop SEI (6) and AUD (9).
            if !matches!(nal[0] & 0x1F, 6 | 9) {
                nals.push(nal);
            }
            p += 4 + l;
        }
        let mut annexb = Vec::new();
        for nal in &nals {
            annexb.extend_from_slice(&[0, 0, 0, 1]);
            annexb.extend_from_slice(nal);
        }
        out.push(Frame {
            pts: MediaTime::from_samples(s.start_time as i64, ts),
            annexb: Bytes::from(annexb),
            nals,
            keyframe: s.is_sync,
        });
    }
    out
}

/// `n` 20 ms Opus packets (48 kHz mono, a 440 Hz tone) and the encoder's pre-skip.
pub fn opus_packets(n: usize) -> (Vec<Bytes>, u16) {
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio).unwrap();
    let pre_skip = enc.get_lookahead().unwrap() as u16;
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; 4000];
    for k in 0..n {
        let pcm: Vec<i16> = (0..960)
            .map(|i| {
                let t = (k * 960 + i) as f32 / 48_000.0;
                ((t * 440.0 * std::f32::consts::TAU).sin() * 8000.0) as i16
            })
            .collect();
        let len = enc.encode(&pcm, &mut buf).unwrap();
        out.push(Bytes::copy_from_slice(&buf[..len]));
    }
    (out, pre_skip)
}

/// Runs a command; returns (status ok, stdout, stderr).
pub fn run(cmd: &str, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(cmd).args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// ffprobe `-v warning`: stdout of `-show_entries`, and asserts no warnings.
pub fn ffprobe(file: &Path, args: &[&str]) -> String {
    let mut a = vec!["-v", "warning"];
    a.extend_from_slice(args);
    let f = file.to_str().unwrap();
    a.push(f);
    let (ok, out, err) = run("ffprobe", &a);
    assert!(ok, "ffprobe failed on {f}: {err}");
    assert!(err.trim().is_empty(), "ffprobe warnings on {f}: {err}");
    out
}

/// `ffmpeg -v error -i file -f null -`: asserts no error output.
pub fn ffmpeg_decodes_cleanly(file: &Path) {
    let f = file.to_str().unwrap();
    let (ok, _, err) = run("ffmpeg", &["-v", "error", "-i", f, "-f", "null", "-"]);
    assert!(
        ok && err.trim().is_empty(),
        "ffmpeg decode errors on {f}: {err}"
    );
}

/// Counts decoded frames of a stream (`v:0` or `a:0`) with ffprobe.
pub fn decoded_frames(file: &Path, stream: &str) -> u64 {
    let out = ffprobe(
        file,
        &[
            "-count_frames",
            "-select_streams",
            stream,
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ],
    );
    out.trim().trim_end_matches(',').parse().unwrap()
}

/// Splits an Annex-B byte stream into NAL units.
pub fn split_annexb(b: &[u8]) -> Vec<Vec<u8>> {
    media_core::h264::nal_units(b)
        .map(|n| n.bytes().to_vec())
        .collect()
}

pub mod workload;

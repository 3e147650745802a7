//! Audio/video sync of a camera participant (testdata/media/erin-sync.mp4: a white frame and a 1 kHz beep at
//! 2, 5 and 8 s) recorded with the four speakers: in the composite recording.mp4 and in
//! participants/erin.mp4 against participants/erin.wav, with and without the ×3 impairments.

mod common;

use std::path::Path;
use std::process::Command;

use bot_adapter::sim::MeetingSpec;
use common::*;
use verbatim::record::record_simulation;

/// Onsets (s) of a 1 kHz tone in a file's first audio stream (Goertzel over 5 ms hops of 10 ms windows).
fn beep_onsets(file: &Path) -> Vec<f64> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args([
            "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar", "16000", "-",
        ])
        .output()
        .expect("ffmpeg: run scripts/setup.sh");
    let s: Vec<f64> = o
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f64)
        .collect();
    let (win, hop) = (160usize, 80usize);
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * 1000.0 / 16000.0).cos();
    let mut onsets: Vec<f64> = Vec::new();
    let mut i = 0;
    while i + win <= s.len() {
        let (mut q1, mut q2, mut energy) = (0.0, 0.0, 0.0);
        for &x in &s[i..i + win] {
            let q0 = coeff * q1 - q2 + x;
            q2 = q1;
            q1 = q0;
            energy += x * x;
        }
        let tone = (q1 * q1 + q2 * q2 - coeff * q1 * q2) * 2.0 / win as f64;
        let t = i as f64 / 16000.0;
        if energy / win as f64 > 1e6
            && tone / energy > 0.6
            && onsets.last().is_none_or(|l| t - l > 1.0)
        {
            onsets.push(t);
        }
        i += hop;
    }
    onsets
}

/// Times (s) at which the mean luma of `rect` (or the whole picture) turns white, from the first video stream.
fn white_onsets(file: &Path, rect: Option<codecs::composite::Rect>) -> Vec<f64> {
    let probe = |args: &[&str]| {
        let o = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(args)
            .arg(file)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let pts: Vec<f64> = probe(&["-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let wh: Vec<usize> = probe(&["-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .trim()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let (w, h) = (wh[0], wh[1]);
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args([
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .output()
        .unwrap();
    let (x0, y0, rw, rh) = rect.map_or((0, 0, w, h), |r| {
        (
            r.x as usize,
            r.y as usize,
            r.width as usize,
            r.height as usize,
        )
    });
    let mut out = Vec::new();
    let mut prev = false;
    for (k, f) in o.stdout.chunks_exact(w * h).enumerate() {
        let mut sum = 0u64;
        let mut n = 0u64;
        for y in (y0 + rh / 4..y0 + 3 * rh / 4).step_by(4) {
            for x in (x0 + rw / 4..x0 + 3 * rw / 4).step_by(4) {
                sum += f[y * w + x] as u64;
                n += 1;
            }
        }
        let white = sum / n.max(1) > 200;
        if white && !prev {
            out.push(pts[k]);
        }
        prev = white;
    }
    out
}

fn check(impair: &str, seed: u64) {
    let mut parts = four_speakers();
    let mut erin =
        verbatim::sources::participants(&[format!("erin={}", media("erin-sync.mp4").display())])
            .unwrap();
    erin[0].msi = media_core::Msi(1100);
    erin[0].id = "erin".into();
    if let Some(v) = erin[0].video.as_mut() {
        v.msi = media_core::Msi(2100);
    }
    parts.append(&mut erin);
    let out = temp_dir(&format!("avsync-{seed}"));
    let mut opts = options(&out);
    // The clip's white flash lasts one 30 fps frame: a 15 fps composite shows only every other source frame
    // and may skip it, so the sync check samples the composite at the source rate.
    let cfg = codecs::composite::CompositorConfig {
        frame_rate: 30,
        ..Default::default()
    };
    opts.composite = Some((cfg, 1_500_000));
    let spec = MeetingSpec {
        participants: parts,
        duration: None,
        seed,
        impairments: impair.parse().unwrap(),
        screenshares: Vec::new(),
    };
    let o = record_simulation(spec, &opts).unwrap();
    let erin_idx = o
        .summary
        .participants
        .iter()
        .position(|p| p.info.name == "erin")
        .unwrap();
    let tile = o.summary.composite_tiles[erin_idx];
    assert!(tile.is_some());

    let frame = 1.0 / 30.0;
    let beeps = beep_onsets(&out.join("recording.mp4"));
    let whites = white_onsets(&out.join("recording.mp4"), tile);
    assert_eq!(beeps.len(), 3, "{impair}: beeps in the mix {beeps:?}");
    assert_eq!(
        whites.len(),
        3,
        "{impair}: white frames in erin's tile {whites:?}"
    );
    for (b, w) in beeps.iter().zip(&whites) {
        assert!(
            (b - w).abs() <= frame + 0.005,
            "{impair}: recording.mp4 beep {b:.3} vs white {w:.3}"
        );
    }
    let beeps = beep_onsets(&out.join("participants/erin.wav"));
    let whites = white_onsets(&out.join("participants/erin.mp4"), None);
    assert_eq!(
        (beeps.len(), whites.len()),
        (3, 3),
        "{impair}: {beeps:?} {whites:?}"
    );
    for (b, w) in beeps.iter().zip(&whites) {
        assert!(
            (b - w).abs() <= 1.0 / 30.0 + 0.005,
            "{impair}: erin.wav beep {b:.3} vs erin.mp4 white {w:.3}"
        );
    }
    verify(&out);
}

#[test]
fn camera_and_voice_stay_in_sync_without_impairments() {
    check("none", 1);
}

/// NAL units of an Annex-B stream (start codes of any length removed).
fn nal_units(annexb: &[u8]) -> Vec<Vec<u8>> {
    media_core::h264::nal_units(annexb)
        .map(|n| n.bytes().to_vec())
        .collect()
}

/// The H.264 elementary stream of a recorded MP4, as ffmpeg extracts it.
fn elementary_stream(file: &Path) -> Vec<u8> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args([
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            "-",
        ])
        .output()
        .expect("ffmpeg: run scripts/setup.sh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn camera_and_screen_share_are_passed_through_unchanged_at_their_times() {
    let mut parts =
        verbatim::sources::participants(&[format!("erin={}", media("erin-sync.mp4").display())])
            .unwrap();
    let input = parts[0].video.as_ref().unwrap().track.clone();
    let share = verbatim::sources::screenshare(&media("screenshare.mp4"), "erin").unwrap();
    let share_in = share.track.clone();
    let out = temp_dir("passthrough");
    let spec = MeetingSpec {
        participants: std::mem::take(&mut parts),
        duration: None,
        seed: 3,
        impairments: "none".parse().unwrap(),
        screenshares: vec![share],
    };
    record_simulation(spec, &options(&out)).unwrap();
    for (file, track, n) in [
        ("participants/erin.mp4", &input, 300usize),
        ("screenshare.mp4", &share_in, 50),
    ] {
        let got = nal_units(&elementary_stream(&out.join(file)));
        let want: Vec<Vec<u8>> = track
            .frames
            .iter()
            .flat_map(|f| nal_units(&f.data))
            .collect();
        assert_eq!(track.frames.len(), n);
        assert!(
            got == want,
            "{file}: elementary stream differs ({} vs {} NAL units)",
            got.len(),
            want.len()
        );
        let o = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "packet=pts_time",
                "-of",
                "csv=p=0",
            ])
            .arg(out.join(file))
            .output()
            .unwrap();
        let times: Vec<f64> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        assert_eq!(times.len(), n, "{file}");
        for (t, f) in times.iter().zip(track.frames.iter()) {
            assert!(
                (t - f.time.as_secs_f64()).abs() < 0.0005,
                "{file}: frame at {t} s, sent at {} s",
                f.time
            );
        }
    }
    verify(&out);
}

#[test]
fn camera_and_voice_stay_in_sync_through_teams_x3() {
    check("teams-x3", 7);
}

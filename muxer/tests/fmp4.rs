//! The fMP4 writer against ffprobe/ffmpeg: H.264 passthrough + Opus, exact timestamps, crash cuts.

mod common;

use std::fs::File;
use std::io::BufWriter;

use common::*;
use media_core::MediaTime;
use muxer::fmp4::{Fmp4Options, Fmp4Writer, TrackSpec, Written};

struct Written2 {
    regions: Vec<Written>,
    video_frames: usize,
    opus_packets: usize,
}

/// Writes erin's video (with the given per-frame times) and `opus` packets starting at `audio_start`.
fn write_file(
    path: &std::path::Path,
    frames: &[Frame],
    times: &[MediaTime],
    audio_start: MediaTime,
) -> Written2 {
    let (packets, pre_skip) = opus_packets(500); // 10 s
    let f = BufWriter::new(File::create(path).unwrap());
    let mut w = Fmp4Writer::new(
        f,
        &[TrackSpec::h264(), TrackSpec::opus(1, pre_skip)],
        Fmp4Options::default(),
    );
    let mut out = Vec::new();
    // Interleave by time like the media worker does.
    let (mut vi, mut ai) = (0, 0);
    loop {
        let vt = times.get(vi).copied();
        let at = (ai < packets.len())
            .then(|| audio_start.saturating_add(MediaTime::from_millis(20 * ai as i64)));
        match (vt, at) {
            (Some(v), Some(a)) if v <= a => {
                w.push(0, v, frames[vi].annexb.clone(), &mut out).unwrap();
                vi += 1;
            }
            (Some(v), None) => {
                w.push(0, v, frames[vi].annexb.clone(), &mut out).unwrap();
                vi += 1;
            }
            (_, Some(a)) => {
                w.push(1, a, packets[ai].clone(), &mut out).unwrap();
                ai += 1;
            }
            (None, None) => break,
        }
    }
    w.finish(&mut out).unwrap();
    Written2 {
        regions: out,
        video_frames: vi,
        opus_packets: ai,
    }
}

#[test]
fn h264_and_opus_pass_ffprobe_and_decode_fully() {
    let dir = scratch_dir("fmp4-full");
    let frames = erin_frames();
    assert_eq!(frames.len(), 300);
    let times: Vec<MediaTime> = frames.iter().map(|f| f.pts).collect();
    let path = dir.join("recording.mp4");
    let w = write_file(&path, &frames, &times, MediaTime::ZERO);

    let streams = ffprobe(
        &path,
        &[
            "-show_entries",
            "stream=codec_name,width,height,sample_rate",
            "-of",
            "csv=p=0",
        ],
    );
    let lines: Vec<&str> = streams.lines().collect();
    assert_eq!(lines, vec!["h264,1280,720", "opus,48000"], "{streams}");
    let dur: f64 = ffprobe(
        &path,
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
    )
    .trim()
    .parse()
    .unwrap();
    assert!((dur - 10.0).abs() < 0.05, "duration {dur}");
    ffmpeg_decodes_cleanly(&path);
    assert_eq!(decoded_frames(&path, "v:0"), 300);
    assert_eq!(decoded_frames(&path, "a:0"), w.opus_packets as u64);
    assert_eq!(w.video_frames, 300);

    // The H.264 elementary stream ffmpeg extracts is exactly what went in.
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-map",
            "0:v",
            "-c",
            "copy",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            dir.join("out.h264").to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let extracted = std::fs::read(dir.join("out.h264")).unwrap();
    let input: Vec<u8> = frames
        .iter()
        .flat_map(|f| f.annexb.iter().copied())
        .collect();
    let input_nals: Vec<Vec<u8>> = frames.iter().flat_map(|f| f.nals.clone()).collect();
    // ffmpeg picks 3- or 4-byte start codes itself: the NAL units must be identical, in order.
    assert_eq!(split_annexb(&extracted), input_nals);
    // Our own reading of the samples (length prefixes -> 4-byte start codes) gives the input bytes exactly.
    let bytes = std::fs::read(&path).unwrap();
    assert!(video_annexb_from_fragments(&bytes, &w.regions) == input);

    // mehd holds the real duration (ms), not 0.
    let mehd = muxer::fmp4::reader::find_box(&bytes, &[*b"moov", *b"mvex", *b"mehd"]).unwrap();
    let o = mehd.offset as usize + 12;
    let ms = u32::from_be_bytes(bytes[o..o + 4].try_into().unwrap());
    assert_eq!(ms, 10_000);
    // So do mvhd/tkhd/mdhd (players read the length there), and a sidx per track indexes the fragments.
    use shiguredo_mp4::Decode;
    let moov = muxer::fmp4::reader::find_box(&bytes, &[*b"moov"]).unwrap();
    let (moov, _) = shiguredo_mp4::boxes::MoovBox::decode(&bytes[moov.offset as usize..]).unwrap();
    assert_eq!(moov.mvhd_box.duration, 10_000);
    let tracks: Vec<(u64, u64, u32)> = moov
        .trak_boxes
        .iter()
        .map(|t| {
            let m = &t.mdia_box.mdhd_box;
            (t.tkhd_box.duration, m.duration, m.timescale.get())
        })
        .collect();
    assert_eq!(
        tracks,
        [(10_000, 900_000, 90_000), (10_000, 480_000, 48_000)]
    );
    let top: Vec<[u8; 4]> = muxer::fmp4::reader::boxes(&bytes)
        .unwrap()
        .iter()
        .map(|b| b.box_type)
        .take(6)
        .collect();
    assert_eq!(
        &top,
        &[*b"ftyp", *b"moov", *b"free", *b"sidx", *b"sidx", *b"moof"]
    );
    let per_stream = ffprobe(
        &path,
        &["-show_entries", "stream=duration", "-of", "csv=p=0"],
    );
    assert_eq!(
        per_stream.split_whitespace().collect::<Vec<_>>(),
        ["10.000000", "10.000000"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn variable_frame_rate_and_late_audio_keep_exact_times() {
    let dir = scratch_dir("fmp4-vfr");
    let frames = erin_frames();
    let frames = &frames[..120];
    // Irregular deltas between 33 ms and 500 ms, like Teams' "30 fps".
    let mut t = 0i64;
    let times: Vec<MediaTime> = (0..frames.len())
        .map(|i| {
            let now = t;
            t += [333_333, 2_000_000, 5_000_000, 666_667, 1_234_567][i % 5];
            MediaTime::from_ticks(now)
        })
        .collect();
    let path = dir.join("vfr.mp4");
    write_file(&path, frames, &times, MediaTime::from_millis(500));
    ffmpeg_decodes_cleanly(&path);
    let pts = ffprobe(
        &path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts",
            "-of",
            "csv=p=0",
        ],
    );
    let got: Vec<i64> = pts
        .lines()
        .map(|l| l.trim_end_matches(',').parse().unwrap())
        .collect();
    let want: Vec<i64> = times.iter().map(|t| (t.ticks() * 9 + 500) / 1000).collect();
    assert_eq!(
        got, want,
        "video packet times (90 kHz) must be the input times"
    );
    let first_audio = ffprobe(
        &path,
        &[
            "-select_streams",
            "a:0",
            "-show_entries",
            "packet=pts",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ],
    );
    assert_eq!(
        first_audio.trim().trim_end_matches(','),
        "24000",
        "audio starts at 0.5 s"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_cut_after_fragment_k_opens_and_decodes_k_fragments() {
    let dir = scratch_dir("fmp4-cut");
    let frames = erin_frames();
    let times: Vec<MediaTime> = frames.iter().map(|f| f.pts).collect();
    let path = dir.join("full.mp4");
    let w = write_file(&path, &frames, &times, MediaTime::ZERO);
    let bytes = std::fs::read(&path).unwrap();
    let frags: Vec<_> = w
        .regions
        .iter()
        .filter_map(|r| match r {
            Written::Fragment(r) => Some(*r),
            Written::Init(_) => None,
        })
        .collect();
    assert!(frags.len() >= 5, "{} fragments", frags.len());
    let mut cuts = 0;
    for k in [1usize, 2, frags.len() - 1] {
        let end = (frags[k - 1].offset + frags[k - 1].len) as usize;
        // a crash in the middle of fragment k+1: the file holds k fragments plus a partial one
        let partial = end + (frags[k].len as usize) / 2;
        for (name, cut) in [("exact", end), ("partial", partial)] {
            let p = dir.join(format!("cut-{k}-{name}.mp4"));
            std::fs::write(&p, &bytes[..cut]).unwrap();
            // Frames in the first k (and k+1) fragments, from the fragments themselves.
            let count = |n: usize| -> u64 {
                frags[..n]
                    .iter()
                    .map(|r| {
                        count_video_samples(&bytes[r.offset as usize..(r.offset + r.len) as usize])
                    })
                    .sum()
            };
            let (frames_in_k, frames_in_k1) = (count(k), count(k + 1));
            if name == "exact" {
                ffmpeg_decodes_cleanly(&p);
                let _ = ffprobe(&p, &["-show_entries", "format=duration"]);
            }
            let (ok, _, _) = run("ffprobe", &["-v", "error", p.to_str().unwrap()]);
            assert!(ok, "cut file {name} after fragment {k} must open");
            let n = count_frames_lenient(&p);
            if name == "exact" {
                assert_eq!(n, frames_in_k, "cut after fragment {k}");
            } else {
                // The complete fragments all decode; of the torn one, at most what is there.
                assert!(
                    n >= frames_in_k && n < frames_in_k1,
                    "torn fragment {}: {n}",
                    k + 1
                );
            }
            cuts += 1;
        }
    }
    assert_eq!(cuts, 6);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn count_video_samples(fragment: &[u8]) -> u64 {
    use shiguredo_mp4::Decode;
    let (moof, _) = shiguredo_mp4::boxes::MoofBox::decode(fragment).unwrap();
    moof.traf_boxes
        .iter()
        .filter(|t| t.tfhd_box.track_id == 1)
        .map(|t| {
            t.trun_boxes
                .iter()
                .map(|r| r.samples.len() as u64)
                .sum::<u64>()
        })
        .sum()
}

/// Frames ffmpeg decodes from a possibly truncated file (errors about the partial tail allowed).
fn count_frames_lenient(p: &std::path::Path) -> u64 {
    let (ok, out, err) = run(
        "ffprobe",
        &[
            "-v",
            "quiet",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            p.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    out.trim().trim_end_matches(',').parse().unwrap()
}

/// Reads track 1's samples out of the fragments and turns length prefixes into 4-byte start codes.
fn video_annexb_from_fragments(file: &[u8], regions: &[Written]) -> Vec<u8> {
    use shiguredo_mp4::Decode;
    let mut out = Vec::new();
    for r in regions {
        let Written::Fragment(r) = r else { continue };
        let frag = &file[r.offset as usize..(r.offset + r.len) as usize];
        let (moof, _) = shiguredo_mp4::boxes::MoofBox::decode(frag).unwrap();
        for traf in moof.traf_boxes.iter().filter(|t| t.tfhd_box.track_id == 1) {
            for trun in &traf.trun_boxes {
                let mut pos = trun.data_offset.unwrap() as usize;
                for s in &trun.samples {
                    let sample = &frag[pos..pos + s.size.unwrap() as usize];
                    let mut p = 0;
                    while p < sample.len() {
                        let l = u32::from_be_bytes(sample[p..p + 4].try_into().unwrap()) as usize;
                        out.extend_from_slice(&[0, 0, 0, 1]);
                        out.extend_from_slice(&sample[p + 4..p + 4 + l]);
                        p += 4 + l;
                    }
                    pos += s.size.unwrap() as usize;
                }
            }
        }
    }
    out
}

#[test]
fn opus_only_file_passes_ffprobe_and_decodes() {
    let dir = scratch_dir("fmp4-opus");
    let (packets, pre_skip) = opus_packets(500);
    let path = dir.join("audio.mp4");
    let mut w = Fmp4Writer::new(
        BufWriter::new(File::create(&path).unwrap()),
        &[TrackSpec::Opus {
            channels: 1,
            pre_skip,
            input_sample_rate: 16_000,
        }],
        Fmp4Options::default(),
    );
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        w.push(
            0,
            MediaTime::from_millis(20 * i as i64),
            p.clone(),
            &mut out,
        )
        .unwrap();
    }
    w.finish(&mut out).unwrap();
    let frags = out
        .iter()
        .filter(|r| matches!(r, Written::Fragment(_)))
        .count();
    assert_eq!(frags, 10, "1 s fragments");
    let s = ffprobe(
        &path,
        &[
            "-show_entries",
            "stream=codec_name,sample_rate,channels:format=duration",
            "-of",
            "csv=p=0",
        ],
    );
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "opus,48000,1");
    let d: f64 = lines[1].trim_end_matches(',').parse().unwrap();
    assert!((d - 10.0).abs() < 0.03, "duration {d}");
    ffmpeg_decodes_cleanly(&path);
    assert_eq!(decoded_frames(&path, "a:0"), 500);
    std::fs::remove_dir_all(&dir).unwrap();
}

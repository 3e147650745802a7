//! Video passthrough through the recorder: exact timestamps, a loss leads to a key-frame request, a gap and a
//! clean restart at the next IDR, and the file decodes in ffmpeg.

mod common;

use bot_adapter::ingest::{self, IngestEvent};
use bot_adapter::sdk::{Participant, RosterChange, VideoMediaBuffer, VideoSocket};
use bytes::Bytes;
use codecs::h264::{H264Encoder, H264EncoderConfig};
use codecs::picture::I420Picture;
use common::*;
use media_core::{MediaTime, Msi, SourceTimestamp, StreamKind, VideoCodec, VideoFormat};
use std::process::Command;
use verbatim::engine::{CallRecorder, RecorderConfig};
use verbatim::sink::{FolderSink, SinkOptions};

const R0: u64 = 139_000_000_000_000_000;
const S0: u64 = 77_000_000_000;

fn frames(n: usize) -> Vec<Bytes> {
    let mut enc = H264Encoder::new(H264EncoderConfig {
        keyframe_interval: 30,
        max_frame_rate: 30.0,
        ..H264EncoderConfig::default()
    })
    .unwrap();
    let mut pic = I420Picture::new(320, 240).unwrap();
    (0..n)
        .map(|i| {
            pic.y_mut()
                .iter_mut()
                .enumerate()
                .for_each(|(p, y)| *y = ((p + i * 3) % 251) as u8);
            let f = enc
                .encode(&pic, MediaTime::from_millis(i as i64 * 33))
                .unwrap();
            assert_eq!(f.keyframe, i % 30 == 0, "frame {i}");
            Bytes::copy_from_slice(f.data)
        })
        .collect()
}

#[test]
fn a_lost_p_frame_requests_a_key_frame_and_the_file_restarts_cleanly_at_the_next_idr() {
    let out = temp_dir("video-loss");
    let key = muxer::integrity::load_signing_key(&test_key()).unwrap();
    let mut sink = FolderSink::create(
        &out,
        key,
        &SinkOptions {
            recording_id: "video-test".into(),
            start_utc_ms: 0,
            format: media_core::AudioFormat::PCM16K,
            opus_bitrate_bps: 32_000,
            mixed_wav: false,
            composite: false,
            encrypt_to: Vec::new(),
        },
    )
    .unwrap();
    let mut rec = CallRecorder::new(RecorderConfig::default());
    let (mut ingest, mut rx) = ingest::channel(4096);
    ingest.push_roster(
        SourceTimestamp::new(R0),
        RosterChange::Joined(Participant {
            id: "erin".into(),
            display_name: "erin".into(),
            is_guest: false,
            media_streams: vec![(Msi(5), StreamKind::Audio), (Msi(6), StreamKind::Video)],
        }),
    );
    let data = frames(90);
    // Variable frame rate: frame i at i*40 ms for i < 45, then 33 ms spacing.
    let pts: Vec<i64> = (0..90)
        .map(|i| {
            if i < 45 {
                i * 400_000
            } else {
                45 * 400_000 + (i - 45) * 333_333
            }
        })
        .collect();
    for (i, d) in data.iter().enumerate() {
        let delivered = R0 + pts[i] as u64 + 200_000;
        // Audio ticks keep the platform clock moving.
        ingest.push_audio(
            MediaTime::ZERO,
            bot_adapter::sdk::AudioMediaBuffer {
                timestamp: SourceTimestamp::new(delivered),
                format: media_core::AudioFormat::PCM16K,
                is_silence: true,
                active_speakers: Default::default(),
                unmixed: Default::default(),
            },
        );
        if i == 40 {
            continue; // lost
        }
        ingest.push_video(
            MediaTime::ZERO,
            SourceTimestamp::new(delivered),
            VideoMediaBuffer {
                socket: VideoSocket::Main(0),
                media_source_id: Msi(6),
                timestamp: SourceTimestamp::new(S0 + pts[i] as u64),
                format: VideoFormat {
                    codec: VideoCodec::H264,
                    width: 320,
                    height: 240,
                    stride: 0,
                    frame_rate_millihz: 30_000,
                },
                original_size: None,
                data: d.clone(),
            },
        );
        while let Some(ev) = rx.pop() {
            rec.handle(ev, &mut sink).unwrap();
        }
    }
    ingest.push_call_ended(SourceTimestamp::new(R0 + 40_000_000));
    while let Some(ev) = rx.pop() {
        if !matches!(ev, IngestEvent::Tick { .. }) || !rec.is_ended() {
            rec.handle(ev, &mut sink).unwrap();
        }
    }
    let s = rec.summary();
    let v = &s.videos[0];
    assert_eq!(v.path, "participants/erin.mp4");
    assert_eq!(v.stats.written, 70, "{:?}", v.stats); // 0..39 and 60..89
    assert_eq!(v.stats.waiting_for_idr, 19); // 41..59
                                             // Asked at once when the loss showed, and again 500 ms later while frames 41..59 (630 ms) still could not
                                             // be decoded.
    assert_eq!(v.stats.keyframe_requests, 2);
    assert_eq!(s.counters.keyframe_requests, 2);
    // Not taken in between, so the outbox holds the stream's request once.
    let asked: Vec<_> = rec.take_keyframe_requests().collect();
    assert_eq!(
        asked,
        [verbatim::engine::KeyFrameRequest {
            msi: Msi(6),
            kind: StreamKind::Video
        }]
    );
    assert_eq!(v.gaps.count, 1);
    // The gap went to timeline.jsonl as it ended and reads back as metadata.json will list it.
    let (timeline, unreadable) = sink.read_timeline().unwrap();
    assert_eq!(unreadable, 0);
    assert_eq!(timeline.video_gaps.len(), 1);
    assert_eq!(timeline.video_gaps[0].len(), 1);
    let g = timeline.video_gaps[0][0];
    // timeline.jsonl keeps microseconds, as metadata.json shows them.
    let us = |t: MediaTime| t.ticks() / 10;
    assert_eq!(us(v.gaps.total), us(g.length));
    assert_eq!(us(g.start), pts[39] / 10);
    assert_eq!(us(g.length), (pts[60] - pts[39]) / 10);
    sink.close(b"{}", muxer::Status::Completed, "done").unwrap();

    let file = out.join("participants/erin.mp4");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args([
            "-fps_mode",
            "passthrough",
            "-enc_time_base",
            "-1",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg: run scripts/setup.sh");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let times: Vec<f64> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let want: Vec<f64> = (0..90)
        .filter(|i| *i < 40 || *i >= 60)
        .map(|i| pts[i] as f64 / 1e7)
        .collect();
    assert_eq!(times.len(), want.len());
    for (a, b) in times.iter().zip(&want) {
        assert!((a - b).abs() < 1.5e-5, "pts {a} vs {b}");
    }
    verify(&out);
}

/// Records one participant sending `n` raw NV12 pictures of `w`x`h` (stride `w` + 16, luma 180) every
/// `interval` ticks into a folder, handed to `rec` as fast as the loop goes; returns the summary and the
/// folder (closed).
fn record_nv12(
    name: &str,
    mut rec: CallRecorder,
    n: u64,
    (w, h): (usize, usize),
    interval: u64,
) -> (verbatim::engine::CallSummary, std::path::PathBuf) {
    let out = temp_dir(name);
    let key = muxer::integrity::load_signing_key(&test_key()).unwrap();
    let mut sink = FolderSink::create(
        &out,
        key,
        &SinkOptions {
            recording_id: "nv12-test".into(),
            start_utc_ms: 0,
            format: media_core::AudioFormat::PCM16K,
            opus_bitrate_bps: 32_000,
            mixed_wav: false,
            composite: false,
            encrypt_to: Vec::new(),
        },
    )
    .unwrap();
    let (mut ingest, mut rx) = ingest::channel(4096);
    ingest.push_roster(
        SourceTimestamp::new(R0),
        RosterChange::Joined(Participant {
            id: "nina".into(),
            display_name: "nina".into(),
            is_guest: false,
            media_streams: vec![(Msi(8), StreamKind::Audio), (Msi(9), StreamKind::Video)],
        }),
    );
    let stride = w + 16;
    let mut nv12 = vec![128u8; stride * h * 3 / 2];
    nv12[..stride * h].fill(180);
    let nv12 = Bytes::from(nv12);
    for i in 0..n {
        let t = i * interval;
        ingest.push_audio(
            MediaTime::ZERO,
            bot_adapter::sdk::AudioMediaBuffer {
                timestamp: SourceTimestamp::new(R0 + t + 200_000),
                format: media_core::AudioFormat::PCM16K,
                is_silence: true,
                active_speakers: Default::default(),
                unmixed: Default::default(),
            },
        );
        ingest.push_video(
            MediaTime::ZERO,
            SourceTimestamp::new(R0 + t + 200_000),
            VideoMediaBuffer {
                socket: VideoSocket::Main(1),
                media_source_id: Msi(9),
                timestamp: SourceTimestamp::new(S0 + t),
                format: VideoFormat {
                    codec: VideoCodec::Nv12,
                    width: w as u32,
                    height: h as u32,
                    stride: stride as u32,
                    frame_rate_millihz: (10_000_000_000 / interval) as u32,
                },
                original_size: None,
                data: nv12.clone(),
            },
        );
        while let Some(ev) = rx.pop() {
            rec.handle(ev, &mut sink).unwrap();
        }
    }
    ingest.push_call_ended(SourceTimestamp::new(R0 + n * interval + 2_000_000));
    while let Some(ev) = rx.pop() {
        rec.handle(ev, &mut sink).unwrap();
    }
    let s = rec.summary();
    sink.close(b"{}", muxer::Status::Completed, "done").unwrap();
    (s, out)
}

/// The luma planes of every frame of `file` (`w`x`h`), as ffmpeg decodes them (it must say nothing).
fn gray_frames(file: &std::path::Path, w: usize, h: usize) -> Vec<Vec<u8>> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args([
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
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout.chunks_exact(w * h).map(<[u8]>::to_vec).collect()
}

#[test]
fn raw_nv12_video_is_encoded_once_into_the_participant_file() {
    // 40 NV12 pictures of 320x240 (stride 336) at 10 fps, luma 180.
    let (w, h) = (320, 240);
    let rec = CallRecorder::new(RecorderConfig::default());
    let (s, out) = record_nv12("video-nv12", rec, 40, (w, h), 1_000_000);
    assert_eq!(s.counters.nv12_frames_encoded, 40);
    assert_eq!(s.videos[0].stats.written, 40);
    let frames = gray_frames(&out.join("participants/nina.mp4"), w, h);
    assert_eq!(frames.len(), 40);
    let want = (180 - 16) * 255 / 219;
    let centre = frames[39][h / 2 * w + w / 2] as i32;
    assert!((centre - want).abs() <= 4, "luma {centre}, want {want}");
    verify(&out);
}

/// A live call whose NV12 camera comes faster than its video thread encodes (600 720p pictures handed over
/// at once): what does not fit the thread's queue is dropped, counted and in the ledger as `queue_overflow`
/// video gaps; every frame the track released is either in the file or counted; the file decodes.
#[test]
fn a_live_calls_nv12_frames_its_video_thread_cannot_take_are_counted_and_in_the_ledger() {
    let (w, h) = (1280, 720);
    // A live call (the media thread never waits for its video thread); a lead of an hour so the loop's
    // arrival times of zero do not hold the call's time back.
    let rec = CallRecorder::new(RecorderConfig::live(MediaTime::from_secs(3600)));
    let (s, out) = record_nv12("video-nv12-live", rec, 600, (w, h), 333_333);
    let released = s.videos[0].stats.written;
    let (encoded, dropped) = (
        s.counters.nv12_frames_encoded,
        s.counters.video_frames_dropped_for_thread,
    );
    assert_eq!(released, 600);
    assert!(
        dropped > 0,
        "the video thread kept up with 600 720p frames handed over at once"
    );
    assert_eq!(
        encoded + dropped,
        released,
        "every released frame encoded or counted"
    );
    assert_eq!(
        s.counters.nv12_encode_errors, dropped,
        "dropped frames are encode errors too"
    );
    let gaps = s.videos[0].gaps;
    assert!(gaps.count >= 1 && gaps.count <= dropped, "{gaps:?}");
    assert_eq!(
        gaps.dropped,
        MediaTime::from_millis(33 * dropped as i64),
        "{gaps:?}"
    );
    let timeline = std::fs::read_to_string(out.join("timeline.jsonl")).unwrap_or_default();
    assert!(
        timeline.contains("queue_overflow"),
        "the ledger names the cause"
    );
    assert_eq!(
        gray_frames(&out.join("participants/nina.mp4"), w, h).len() as u64,
        encoded
    );
    verify(&out);
}

/// `n` frames of a `w`x`h` picture from a fresh encoder (an IDR first, then P frames).
fn frames_of(w: u32, h: u32, n: usize) -> Vec<Bytes> {
    let mut enc = H264Encoder::new(H264EncoderConfig {
        keyframe_interval: 0,
        max_frame_rate: 30.0,
        ..H264EncoderConfig::default()
    })
    .unwrap();
    let mut pic = I420Picture::new(w, h).unwrap();
    (0..n)
        .map(|i| {
            pic.y_mut()
                .iter_mut()
                .enumerate()
                .for_each(|(p, y)| *y = ((p + i * 5) % 241) as u8);
            let f = enc
                .encode(&pic, MediaTime::from_millis(i as i64 * 33))
                .unwrap();
            Bytes::copy_from_slice(f.data)
        })
        .collect()
}

#[test]
fn a_stream_that_changes_its_parameter_sets_and_size_is_written_whole_and_decodes() {
    // A sender's encoder restarts at another size (Teams changes a subscription from 360p to 720p, or a bot
    // answers a key-frame request with its own encoder): new SPS/PPS in band at an IDR, the file keeps its
    // first sample entry. The recording (with the composite, which decodes the stream) goes on.
    let out = temp_dir("video-sps-change");
    let key = muxer::integrity::load_signing_key(&test_key()).unwrap();
    let mut sink = FolderSink::create(
        &out,
        key,
        &SinkOptions {
            recording_id: "sps-change".into(),
            start_utc_ms: 0,
            format: media_core::AudioFormat::PCM16K,
            opus_bitrate_bps: 32_000,
            mixed_wav: false,
            composite: true,
            encrypt_to: Vec::new(),
        },
    )
    .unwrap();
    let composite =
        verbatim::composite::CompositeVideo::new(Default::default(), 1_000_000).unwrap();
    let mut rec = CallRecorder::new(RecorderConfig::default()).with_composite(composite);
    let (mut ingest, mut rx) = ingest::channel(4096);
    ingest.push_roster(
        SourceTimestamp::new(R0),
        RosterChange::Joined(Participant {
            id: "erin".into(),
            display_name: "erin".into(),
            is_guest: false,
            media_streams: vec![(Msi(5), StreamKind::Audio), (Msi(6), StreamKind::Video)],
        }),
    );
    let mut data = frames_of(320, 240, 30);
    data.extend(frames_of(640, 480, 30));
    data.extend(frames_of(320, 240, 30));
    for (i, d) in data.iter().enumerate() {
        let t = i as u64 * 333_333;
        let delivered = R0 + t + 200_000;
        ingest.push_audio(
            MediaTime::ZERO,
            bot_adapter::sdk::AudioMediaBuffer {
                timestamp: SourceTimestamp::new(delivered),
                format: media_core::AudioFormat::PCM16K,
                is_silence: true,
                active_speakers: Default::default(),
                unmixed: Default::default(),
            },
        );
        let (width, height) = if (30..60).contains(&i) {
            (640, 480)
        } else {
            (320, 240)
        };
        ingest.push_video(
            MediaTime::ZERO,
            SourceTimestamp::new(delivered),
            VideoMediaBuffer {
                socket: VideoSocket::Main(0),
                media_source_id: Msi(6),
                timestamp: SourceTimestamp::new(S0 + t),
                format: VideoFormat {
                    codec: VideoCodec::H264,
                    width,
                    height,
                    stride: 0,
                    frame_rate_millihz: 30_000,
                },
                original_size: None,
                data: d.clone(),
            },
        );
        while let Some(ev) = rx.pop() {
            rec.handle(ev, &mut sink).unwrap();
        }
    }
    ingest.push_call_ended(SourceTimestamp::new(R0 + 32_000_000));
    while let Some(ev) = rx.pop() {
        rec.handle(ev, &mut sink).unwrap();
    }
    let s = rec.summary();
    let v = &s.videos[0];
    assert_eq!(v.stats.written, 90, "{:?}", v.stats);
    assert_eq!(v.stats.parameter_set_changes, 2, "{:?}", v.stats);
    assert_eq!(v.gaps.count, 0);
    assert_eq!(s.composite.unwrap().decode_errors, 0);
    assert_eq!(sink.video_samples_refused(), 0);
    sink.close(b"{}", muxer::Status::Completed, "done").unwrap();
    verify(&out);

    let file = out.join("participants/erin.mp4");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg: run scripts/setup.sh");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries"])
        .args(["frame=width,height", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .unwrap();
    let sizes: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(sizes.len(), 90);
    assert_eq!(sizes[29], "320,240");
    assert_eq!(sizes[30], "640,480");
    assert_eq!(sizes[60], "320,240");
}

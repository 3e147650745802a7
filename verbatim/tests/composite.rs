//! The composite meeting video in recording.mp4: constant rate, full length, tiles where the layout says.

mod common;

use bot_adapter::ingest;
use bot_adapter::sdk::{
    AudioMediaBuffer, DominantSpeakerChanged, Participant, RosterChange, VideoMediaBuffer,
    VideoSocket,
};
use bytes::Bytes;
use codecs::composite::{CompositorConfig, Layout};
use codecs::h264::{H264Encoder, H264EncoderConfig};
use codecs::picture::I420Picture;
use common::*;
use media_core::{
    AudioFormat, MediaTime, Msi, SourceTimestamp, StreamKind, VideoCodec, VideoFormat,
};
use std::process::Command;
use verbatim::composite::CompositeVideo;
use verbatim::engine::{CallRecorder, RecorderConfig};
use verbatim::sink::{FolderSink, SinkOptions};

const R0: u64 = 139_000_000_000_000_000;
const S0: u64 = 77_000_000_000;
const SECS: u64 = 4;

fn record(layout: Layout, dominant: Option<u32>) -> (std::path::PathBuf, CallRecorder) {
    let out = temp_dir(&format!("composite-{layout:?}"));
    let key = muxer::integrity::load_signing_key(&test_key()).unwrap();
    let mut sink = FolderSink::create(
        &out,
        key,
        &SinkOptions {
            recording_id: "composite-test".into(),
            start_utc_ms: 0,
            format: AudioFormat::PCM16K,
            opus_bitrate_bps: 32_000,
            mixed_wav: false,
            composite: true,
            encrypt_to: Vec::new(),
        },
    )
    .unwrap();
    let cfg = CompositorConfig {
        layout,
        hold: MediaTime::from_millis(500),
        ..CompositorConfig::default()
    };
    let mut rec = CallRecorder::new(RecorderConfig::default())
        .with_composite(CompositeVideo::new(cfg, 1_500_000).unwrap());
    let (mut ingest, mut rx) = ingest::channel(8192);
    for (id, a, v) in [("erin", 5, Some(6)), ("bob", 7, None)] {
        let mut media_streams = vec![(Msi(a), StreamKind::Audio)];
        if let Some(v) = v {
            media_streams.push((Msi(v), StreamKind::Video));
        }
        ingest.push_roster(
            SourceTimestamp::new(R0),
            RosterChange::Joined(Participant {
                id: id.into(),
                display_name: id.into(),
                is_guest: false,
                media_streams,
            }),
        );
    }
    // erin's camera: a flat bright picture at 10 fps.
    let mut enc = H264Encoder::new(H264EncoderConfig {
        keyframe_interval: 10,
        max_frame_rate: 10.0,
        ..Default::default()
    })
    .unwrap();
    let mut pic = I420Picture::new(640, 360).unwrap();
    pic.y_mut().fill(200);
    let mut frames = Vec::new();
    for i in 0..(SECS * 10) {
        frames.push(Bytes::copy_from_slice(
            enc.encode(&pic, MediaTime::from_millis(i as i64 * 100))
                .unwrap()
                .data,
        ));
    }
    for slot in 0..(SECS * 50) {
        let t = slot * 200_000;
        if slot == 10 {
            if let Some(d) = dominant {
                ingest.push_dominant_speaker(
                    SourceTimestamp::new(R0 + t),
                    DominantSpeakerChanged { current: Msi(d) },
                );
            }
        }
        ingest.push_audio(
            MediaTime::ZERO,
            AudioMediaBuffer {
                timestamp: SourceTimestamp::new(R0 + t),
                format: AudioFormat::PCM16K,
                is_silence: true,
                active_speakers: Default::default(),
                unmixed: Default::default(),
            },
        );
        if slot % 5 == 0 {
            let i = (slot / 5) as usize;
            ingest.push_video(
                MediaTime::ZERO,
                SourceTimestamp::new(R0 + t + 200_000),
                VideoMediaBuffer {
                    socket: VideoSocket::Main(0),
                    media_source_id: Msi(6),
                    timestamp: SourceTimestamp::new(S0 + t),
                    format: VideoFormat {
                        codec: VideoCodec::H264,
                        width: 640,
                        height: 360,
                        stride: 0,
                        frame_rate_millihz: 10_000,
                    },
                    original_size: None,
                    data: frames[i].clone(),
                },
            );
        }
        while let Some(ev) = rx.pop() {
            rec.handle(ev, &mut sink).unwrap();
        }
    }
    ingest.push_call_ended(SourceTimestamp::new(R0 + SECS * 10_000_000));
    while let Some(ev) = rx.pop() {
        rec.handle(ev, &mut sink).unwrap();
    }
    sink.close(b"{}", muxer::Status::Completed, "done").unwrap();
    (out, rec)
}

/// erin's flat camera luma (Y = 200, limited range) as ffmpeg's full-range gray output shows it.
const ERIN_GRAY: i32 = (200 - 16) * 255 / 219;

/// Luma planes of every composite frame, via ffmpeg.
fn luma_frames(file: &std::path::Path) -> Vec<Vec<u8>> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-map", "0:v", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg: run scripts/setup.sh");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout.chunks(1280 * 720).map(|c| c.to_vec()).collect()
}

fn centre(r: codecs::composite::Rect) -> usize {
    let (x, y) = (r.x + r.width / 2, r.y + r.height / 2);
    (y * 1280 + x) as usize
}

#[test]
fn grid_composite_is_full_length_at_15_fps_with_the_camera_in_its_tile() {
    let (out, rec) = record(Layout::Grid, None);
    let file = out.join("recording.mp4");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let frames = luma_frames(&file);
    assert_eq!(frames.len() as u64, SECS * 15);
    let s = rec.summary();
    assert_eq!(s.composite.map(|c| c.frames), Some(SECS * 15));
    // Where the compositor put erin (index 0) and bob (index 1).
    let erin = s
        .participants
        .iter()
        .position(|p| p.info.name == "erin")
        .unwrap();
    let (c, b) = {
        let r = composite_tiles(&rec);
        (r[erin], r[1 - erin])
    };
    let last = frames.last().unwrap();
    assert!(
        (last[centre(c)] as i32 - ERIN_GRAY).abs() <= 12,
        "erin's tile centre luma {}",
        last[centre(c)]
    );
    // bob has no video: his tile has his initials on a coloured background, not erin's picture.
    assert!((last[centre(b)] as i32 - ERIN_GRAY).abs() > 12);
    verify(&out);
}

fn composite_tiles(rec: &CallRecorder) -> Vec<codecs::composite::Rect> {
    (0..2).map(|i| rec.composite_tile(i).unwrap()).collect()
}

#[test]
fn active_speaker_layout_puts_the_dominant_speaker_on_the_stage() {
    let (out, rec) = record(Layout::ActiveSpeaker, Some(7)); // bob becomes dominant at 0.2 s
    let frames = luma_frames(&out.join("recording.mp4"));
    let bob_tile = rec.composite_tile(1).unwrap();
    let erin_tile = rec.composite_tile(0).unwrap();
    assert!(
        bob_tile.width > erin_tile.width,
        "bob {bob_tile:?} erin {erin_tile:?}"
    );
    // erin's camera is in the small filmstrip tile at the end.
    let last = frames.last().unwrap();
    assert!(
        (last[centre(erin_tile)] as i32 - ERIN_GRAY).abs() <= 12,
        "{}",
        last[centre(erin_tile)]
    );
}

//! Camera video through the C ABI: a 10 s 720p30 H.264 clip with its speech (`testdata/media/erin-sync.mp4`)
//! pushed as the SDK hands it (audio events every 20 ms, video frames on main-video socket 0 between them)
//! comes out as `participants/erin.mp4` holding every frame, which ffmpeg decodes without an error, beside a
//! stem of the clip's speech.

use std::path::Path;
use std::process::Command;
use std::ptr::null;

use verbatim_ffi::*;

mod common;
use common::*;

const BASE: u64 = 1_000_000_000;
const SENDER_BASE: u64 = 5_000_000_000;
const TICKS: u64 = 200_000; // 20 ms

#[test]
fn a_camera_pushed_through_the_abi_is_recorded_frame_for_frame() {
    let clip_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/media/erin-sync.mp4");
    let clip = bot_adapter::sim::video_file::load_video_clip(&clip_path).unwrap();
    let video = clip.video.expect("the clip has video");
    let audio = clip.audio.expect("the clip has audio");
    let out = temp("video");
    let key = key_with(|p| {
        let k = recorder::muxer::integrity::generate_signing_key().unwrap();
        recorder::muxer::integrity::save_signing_key(p, &k).unwrap();
    });
    let slots = (video.duration.ticks() as u64).div_ceil(TICKS);
    let call = start_call(&out, &key, &[]);
    // SAFETY (all below): live pointers from this library, NUL-terminated strings, buffers as described.
    unsafe {
        assert_eq!(vb_call_confirm(call, true, null()), VB_OK);
        let streams = [
            VbMediaStream {
                media_source_id: 1,
                kind: VB_STREAM_AUDIO,
            },
            VbMediaStream {
                media_source_id: 2,
                kind: VB_STREAM_VIDEO,
            },
        ];
        let erin = c("erin");
        let rc = vb_call_participant_joined(
            call,
            BASE,
            erin.as_ptr(),
            erin.as_ptr(),
            false,
            streams.as_ptr(),
            2,
        );
        assert_eq!(rc, VB_OK);
        assert_eq!(vb_call_push_audio(call, BASE, true, null(), 0), VB_OK);
        let mut frames = video.frames.iter().peekable();
        let mut pushed_video = 0;
        for j in 0..slots {
            let from = (j as usize * 320).min(audio.len());
            let mut pcm = audio[from..(from + 320).min(audio.len())].to_vec();
            pcm.resize(320, 0);
            assert_eq!(vb_call_wait_for_room(call), 1);
            if pcm.iter().any(|&s| s != 0) {
                let b = VbUnmixedBuffer {
                    active_speaker_id: 1,
                    data: pcm.as_ptr().cast(),
                    len: 640,
                    original_sender_timestamp: SENDER_BASE + j * TICKS,
                };
                assert_eq!(
                    vb_call_push_audio(call, BASE + (j + 1) * TICKS, false, &b, 1),
                    VB_OK
                );
            } else {
                assert_eq!(
                    vb_call_push_audio(call, BASE + (j + 1) * TICKS, true, null(), 0),
                    VB_OK
                );
            }
            // The frames captured in this slot, after its audio event.
            while let Some(f) = frames.next_if(|f| (f.time.ticks() as u64) < (j + 1) * TICKS) {
                assert_eq!(vb_call_wait_for_room(call), 1);
                let rc = vb_call_push_video(
                    call,
                    0,
                    2,
                    BASE + f.time.ticks() as u64,
                    VB_VIDEO_H264,
                    video.width,
                    video.height,
                    0,
                    video.frame_rate_millihz,
                    f.data.as_ptr(),
                    f.data.len(),
                );
                assert_eq!(rc, VB_OK);
                pushed_video += 1;
            }
        }
        assert_eq!(pushed_video, video.frames.len());
        assert_eq!(vb_call_end(call, BASE + (slots + 1) * TICKS), VB_OK);
        assert_eq!(vb_call_wait(call), VB_OK);
        vb_call_free(call);
    }
    let mp4 = out.join("participants/erin.mp4");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_packets,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&mp4)
        .output()
        .expect("ffprobe not found: run scripts/setup.sh");
    let text = String::from_utf8_lossy(&probe.stdout).trim().to_string();
    assert_eq!(
        text,
        format!("1280,720,{}", video.frames.len()),
        "ffprobe: {text}"
    );
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&mp4)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg not found: run scripts/setup.sh");
    let errors = String::from_utf8_lossy(&decode.stderr);
    assert!(
        decode.status.success() && errors.trim().is_empty(),
        "ffmpeg: {errors}"
    );
    let stem = hound::WavReader::open(out.join("participants/erin.wav")).unwrap();
    assert!(
        stem.duration() >= 16_000 * 9,
        "the speech stem: {} samples",
        stem.duration()
    );
    let k = recorder::muxer::integrity::load_signing_key(&key).unwrap();
    let report = recorder::muxer::verify::verify_dir(&out, Some(&k.verifying_key())).unwrap();
    assert!(report.files >= 5, "{}", report.summary);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&key);
}

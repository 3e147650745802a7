//! The call's video thread (`verbatim::video_worker`): every frame handed over comes back exactly once, in
//! order; a full queue makes a file's media thread wait (nothing dropped, no deadlock while results pile up)
//! and a live call's drop and count (handed + dropped = given); composite frames after a drop are skipped
//! until the stream's next key frame.

use bytes::Bytes;
use codecs::composite::CompositorConfig;
use media_core::MediaTime;
use verbatim::composite::{CompositeSource, CompositeVideo};
use verbatim::video::VideoSample;
use verbatim::video_worker::{Done, VideoQueuePolicy, VideoWorker, FRAME_JOBS};

const W: u32 = 320;
const H: u32 = 240;

fn nv12(i: u64) -> VideoSample {
    let mut data = vec![16u8; (W * H * 3 / 2) as usize];
    // A moving bar, so consecutive frames differ.
    let x = (i * 8 % u64::from(W)) as usize;
    for row in 0..H as usize {
        data[row * W as usize + x] = 235;
    }
    VideoSample {
        pts: MediaTime::from_millis(33 * i as i64),
        data: Bytes::from(data),
        keyframe: false,
        nv12: Some((W, H, W)),
    }
}

/// Encodes `n` frames handed over as fast as possible, draining only at the end; returns (pts of the frames
/// that came back encoded, in order, the worker's counters).
fn run(policy: VideoQueuePolicy, n: u64) -> (Vec<MediaTime>, u64) {
    let mut w = VideoWorker::spawn(None, policy).unwrap();
    let mut handed = 0;
    for i in 0..n {
        if w.encode(0, None, nv12(i)) {
            handed += 1;
        }
    }
    let mut back = Vec::new();
    w.finish(MediaTime::from_millis(33 * n as i64), |d| match d {
        Done::Encoded {
            stream: 0,
            sample: Some(s),
        } => {
            assert!(s.nv12.is_none() && !s.data.is_empty());
            back.push(s.pts);
        }
        _ => panic!("only encoded frames of stream 0 were asked for"),
    });
    assert_eq!(
        back.len() as u64,
        handed,
        "every frame handed over comes back once"
    );
    assert_eq!(
        handed + w.stats().nv12_dropped,
        n,
        "handed + dropped = given"
    );
    (back, w.stats().nv12_dropped)
}

#[test]
fn a_files_media_thread_waits_for_room_and_every_frame_is_encoded_in_order() {
    // Three times the queue: the worker waits for room for its results while the caller waits for room for
    // jobs; the caller reads results while it waits, so both go on.
    let n = 3 * FRAME_JOBS as u64;
    let (back, dropped) = run(VideoQueuePolicy::Block, n);
    assert_eq!(dropped, 0);
    let want: Vec<MediaTime> = (0..n)
        .map(|i| MediaTime::from_millis(33 * i as i64))
        .collect();
    assert_eq!(back, want);
}

#[test]
fn a_live_calls_media_thread_drops_and_counts_what_does_not_fit() {
    let n = 4 * FRAME_JOBS as u64;
    let (back, dropped) = run(VideoQueuePolicy::Drop, n);
    // Handing a frame over takes microseconds, encoding one a millisecond: the queue fills.
    assert!(
        dropped > 0,
        "nothing dropped: the worker kept up with {n} frames"
    );
    assert!(back.windows(2).all(|p| p[0] < p[1]), "in order");
}

#[test]
fn after_a_dropped_composite_frame_the_stream_is_skipped_until_its_next_key_frame() {
    let cfg = CompositorConfig {
        width: 320,
        height: 180,
        frame_rate: 10,
        ..Default::default()
    };
    let mut w = VideoWorker::spawn(
        Some(CompositeVideo::new(cfg, 200_000).unwrap()),
        VideoQueuePolicy::Drop,
    )
    .unwrap();
    w.add_participant("erin");
    // Fill the queue with NV12 frames of another stream, then offer composite frames of stream 1.
    let mut handed = 0;
    for i in 0..2 * FRAME_JOBS as u64 {
        handed += u64::from(w.encode(0, None, nv12(i)));
    }
    let frame = |i: i64, keyframe: bool| VideoSample {
        pts: MediaTime::from_millis(i),
        data: Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88]),
        keyframe,
        nv12: None,
    };
    let dropped = |w: &VideoWorker| w.stats().composite_frames_dropped;
    w.composite_frame(1, CompositeSource::Camera(0), &frame(0, false));
    w.composite_frame(1, CompositeSource::Camera(0), &frame(1, false));
    assert_eq!(dropped(&w), 2, "the queue was full: both counted");
    // Let the worker empty its queue (bounded wait: every handed frame comes back).
    let mut back = 0;
    for _ in 0..2_000 {
        w.drain(|d| back += u64::from(matches!(d, Done::Encoded { .. })));
        if back == handed {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        back, handed,
        "the worker did not finish its queue within 10 s"
    );
    // Room again: a P frame is still skipped (it needs the frames dropped), a key frame goes through and
    // the frames after it too.
    w.composite_frame(1, CompositeSource::Camera(0), &frame(2, false));
    assert_eq!(dropped(&w), 3);
    w.composite_frame(1, CompositeSource::Camera(0), &frame(3, true));
    w.composite_frame(1, CompositeSource::Camera(0), &frame(4, false));
    assert_eq!(dropped(&w), 3);
    w.finish(MediaTime::ZERO, |_| {});
}

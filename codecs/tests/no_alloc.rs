//! The media path allocates nothing per frame after warm-up: counted with a global allocator that only
//! counts on the thread that switched counting on (so other tests' threads do not interfere).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use codecs::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
use codecs::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
use codecs::picture::{i420_to_nv12, nv12_len, nv12_to_i420, scale_into, I420Picture};
use media_core::{AudioFormat, MediaTime};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards every call unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCS.load(Ordering::Relaxed) - before, r)
}

#[test]
fn codecs_do_not_allocate_per_frame_after_warm_up() {
    // Opus.
    let mut enc = OpusEncoder::new(OpusEncoderConfig {
        inband_fec: true,
        packet_loss_percent: 10,
        ..OpusEncoderConfig::default()
    })
    .unwrap();
    let mut dec = OpusDecoder::new(AudioFormat::PCM16K).unwrap();
    let pcm: Vec<i16> = (0..320 * 50)
        .map(|i| ((i as f32 * 0.07).sin() * 7000.0) as i16)
        .collect();
    let mut packet = [0u8; 1500];
    let mut next = [0u8; 1500];
    let (n, _) = count(|| {
        for (i, f) in pcm.chunks_exact(320).enumerate() {
            let len = enc.encode_into(f, &mut packet).unwrap();
            let p = enc.encode(f).unwrap();
            let len2 = p.len();
            next[..len2].copy_from_slice(p);
            match i % 5 {
                0 => drop(dec.conceal().unwrap()),
                1 => drop(dec.recover(&next[..len2]).unwrap()),
                _ => drop(dec.decode(&packet[..len]).unwrap()),
            }
        }
    });
    assert_eq!(n, 0, "Opus allocated {n} times");

    // Pictures.
    let mut src = I420Picture::new(1280, 720).unwrap();
    src.y_mut()
        .iter_mut()
        .enumerate()
        .for_each(|(i, p)| *p = (i % 251) as u8);
    let mut nv12 = vec![0u8; nv12_len(1280, 720)];
    let mut back = I420Picture::new(1280, 720).unwrap();
    let mut small = I420Picture::new(640, 360).unwrap();
    let mut odd = I420Picture::new(500, 300).unwrap();
    let (n, _) = count(|| {
        for _ in 0..3 {
            i420_to_nv12(&src, &mut nv12).unwrap();
            nv12_to_i420(&nv12, 1280, 720, 1280, &mut back).unwrap();
            scale_into(&back, &mut small).unwrap();
            scale_into(&back, &mut odd).unwrap();
        }
    });
    assert_eq!(n, 0, "picture conversions allocated {n} times");

    // H.264: warm up with the first GOP (IDR + deltas), then count a second GOP.
    let mut henc = H264Encoder::new(H264EncoderConfig {
        keyframe_interval: 10,
        ..H264EncoderConfig::default()
    })
    .unwrap();
    let mut hdec = H264Decoder::new().unwrap();
    let mut frame = Vec::with_capacity(1 << 20);
    let mut run = |t: i64, frame: &mut Vec<u8>| {
        src.y_mut()[(t as usize * 997) % 10_000] = 255;
        let e = henc.encode(&src, MediaTime::from_millis(t * 33)).unwrap();
        frame.clear();
        frame.extend_from_slice(e.data);
        hdec.decode(frame).unwrap().map(|p| p.width())
    };
    for t in 0..10 {
        run(t, &mut frame);
    }
    let (n, _) = count(|| {
        for t in 10..20 {
            assert_eq!(run(t, &mut frame), Some(1280));
        }
    });
    assert_eq!(n, 0, "H.264 encode/decode allocated {n} times");
}

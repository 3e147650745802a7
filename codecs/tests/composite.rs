//! The video compositor: layout geometry, the dominant-speaker hold, rendered pixels (flat-colour sources
//! sampled at the centre of their tiles), initials tiles, an H.264 round trip of a rendered frame, and no
//! allocation per frame after warm-up (counting allocator, this test binary only).

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use codecs::composite::{
    tiles, Compositor, CompositorConfig, Layout, Rect, TileSource, Yuv, MAX_PARTICIPANTS,
};
use codecs::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
use codecs::picture::I420Picture;
use media_core::MediaTime;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards every call unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count_allocs<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCS.load(Ordering::Relaxed) - before, r)
}

const W: u32 = 1280;
const H: u32 = 720;

fn secs(s: f64) -> MediaTime {
    MediaTime::from_millis((s * 1000.0).round() as i64)
}

/// A distinct, clearly non-background colour for participant `k`.
fn colour(k: usize) -> Yuv {
    let k = k as u8;
    Yuv::new(60 + 15 * k, 70 + 11 * k, 190 - 9 * k)
}

fn flat(w: u32, h: u32, c: Yuv) -> I420Picture {
    let mut p = I420Picture::new(w, h).unwrap();
    let (y, u, v) = p.planes_mut();
    y.fill(c.y);
    u.fill(c.u);
    v.fill(c.v);
    p
}

fn pixel(p: &I420Picture, x: u32, y: u32) -> Yuv {
    let cw = p.chroma_width();
    Yuv::new(
        p.y()[(y * p.width() + x) as usize],
        p.u()[((y / 2) * cw + x / 2) as usize],
        p.v()[((y / 2) * cw + x / 2) as usize],
    )
}

fn close(a: Yuv, b: Yuv, tol: i16) -> bool {
    (i16::from(a.y) - i16::from(b.y)).abs() <= tol
        && (i16::from(a.u) - i16::from(b.u)).abs() <= tol
        && (i16::from(a.v) - i16::from(b.v)).abs() <= tol
}

fn people(n: usize) -> Vec<TileSource> {
    (0..n)
        .map(|i| TileSource::new(format!("Person {i} Example")))
        .collect()
}

fn compositor(layout: Layout) -> Compositor {
    Compositor::new(CompositorConfig {
        layout,
        ..CompositorConfig::default()
    })
    .unwrap()
}

fn assert_sane(rects: &[Rect], what: &str) {
    for (i, r) in rects.iter().enumerate() {
        assert!(!r.is_empty(), "{what}: tile {i} empty");
        assert!(
            r.x + r.width <= W && r.y + r.height <= H,
            "{what}: tile {i} {r:?} outside"
        );
        assert!(
            r.x % 2 == 0 && r.y % 2 == 0 && r.width % 2 == 0 && r.height % 2 == 0,
            "{what}: tile {i} {r:?} not even-aligned"
        );
        // 16:9 within rounding to even pixels.
        let ratio = f64::from(r.width) / f64::from(r.height);
        let tol = 2.0 / f64::from(r.width);
        assert!(
            (ratio / (16.0 / 9.0) - 1.0).abs() <= tol,
            "{what}: tile {i} {r:?} not 16:9"
        );
        for (j, o) in rects.iter().enumerate().skip(i + 1) {
            assert!(
                !r.overlaps(o),
                "{what}: tiles {i} {r:?} and {j} {o:?} overlap"
            );
        }
    }
}

#[test]
fn grid_geometry_for_1_to_10_participants() {
    for n in 1..=MAX_PARTICIPANTS {
        for ss in [false, true] {
            let what = format!("grid n={n} screenshare={ss}");
            let t = tiles(Layout::Grid, n, ss, W, H);
            assert_eq!(t.len(), n + usize::from(ss), "{what}");
            assert_sane(&t, &what);
            // Same size everywhere, rows share a y and run left to right, the grid is roughly centred.
            assert!(
                t.iter()
                    .all(|r| (r.width, r.height) == (t[0].width, t[0].height)),
                "{what}"
            );
            for pair in t.windows(2) {
                assert!(pair[1].y > pair[0].y || (pair[1].y == pair[0].y && pair[1].x > pair[0].x));
            }
            let bottom = t.iter().map(|r| r.y + r.height).max().unwrap();
            assert!(
                t[0].y.abs_diff(H - bottom) <= 2,
                "{what}: not centred vertically"
            );
        }
    }
    // Known figures: one participant fills the frame; 2x2 for four; ten in a 4x3 grid.
    assert_eq!(
        tiles(Layout::Grid, 1, false, W, H),
        vec![Rect::new(0, 0, W, H)]
    );
    let four = tiles(Layout::Grid, 4, false, W, H);
    assert_eq!(four[0], Rect::new(0, 0, 640, 360));
    let ten = tiles(Layout::Grid, 10, false, W, H);
    assert_eq!(ten.iter().filter(|r| r.y == ten[0].y).count(), 4);
    assert!(tiles(Layout::Grid, 0, false, W, H).is_empty());
}

#[test]
fn speaker_layout_geometry_for_1_to_10_participants() {
    for layout in [Layout::ActiveSpeaker, Layout::ScreenShareFilmstrip] {
        for n in 1..=MAX_PARTICIPANTS {
            for ss in [false, true] {
                let what = format!("{layout:?} n={n} screenshare={ss}");
                let t = tiles(layout, n, ss, W, H);
                assert_eq!(t.len(), n + usize::from(ss), "{what}");
                assert_sane(&t, &what);
                let strip = &t[1..];
                assert!(strip
                    .iter()
                    .all(|r| r.y == t[t.len() - 1].y && r.area() == t[t.len() - 1].area()));
                assert!(
                    strip.iter().all(|r| t[0].area() >= 4 * r.area()),
                    "{what}: stage not large"
                );
                assert!(
                    strip.iter().all(|r| r.y >= t[0].y + t[0].height),
                    "{what}: strip not below"
                );
            }
        }
    }
    // Alone: the whole frame.
    assert_eq!(
        tiles(Layout::ActiveSpeaker, 1, false, W, H),
        vec![Rect::new(0, 0, W, H)]
    );
    assert_eq!(
        tiles(Layout::ScreenShareFilmstrip, 0, true, W, H),
        vec![Rect::new(0, 0, W, H)]
    );
}

#[test]
fn other_frame_sizes_stay_sane() {
    for (w, h) in [
        (128u32, 72u32),
        (640, 360),
        (1920, 1080),
        (1000, 1000),
        (720, 1280),
    ] {
        for layout in [
            Layout::Grid,
            Layout::ActiveSpeaker,
            Layout::ScreenShareFilmstrip,
        ] {
            for n in 0..=MAX_PARTICIPANTS {
                let t = tiles(layout, n, true, w, h);
                for (i, r) in t.iter().enumerate() {
                    assert!(
                        !r.is_empty() && r.x + r.width <= w && r.y + r.height <= h,
                        "{w}x{h} {layout:?} {n}"
                    );
                    assert!(t[i + 1..].iter().all(|o| !r.overlaps(o)));
                }
            }
        }
    }
}

/// Index of the participant whose tile is the stage (the largest), checked against `stage_participant`.
fn big_tile(c: &Compositor) -> usize {
    let n = c.participant_count();
    let big = (0..n)
        .max_by_key(|&i| c.tile_of(i).unwrap().area())
        .unwrap();
    assert_eq!(c.stage_participant(), Some(big));
    big
}

#[test]
fn active_speaker_hold_ignores_blips_and_follows_turns() {
    let mut c = compositor(Layout::ActiveSpeaker);
    c.set_participants(&people(3)).unwrap();
    let mut frame = I420Picture::new(2, 2).unwrap();
    // Before anyone speaks: participant 0. The first dominant speaker takes the stage at once.
    assert_eq!(big_tile(&c), 0);
    c.set_dominant(Some(1), secs(1.0)).unwrap();
    assert_eq!(big_tile(&c), 1);

    // A 0.5 s blip of participant 2 does not move the stage, whenever we look.
    c.set_dominant(Some(2), secs(10.0)).unwrap();
    c.render(secs(10.4), &mut frame).unwrap();
    c.set_dominant(Some(1), secs(10.5)).unwrap();
    for t in [10.6, 11.0, 12.5, 20.0] {
        c.render(secs(t), &mut frame).unwrap();
        assert_eq!(big_tile(&c), 1, "blip moved the stage at {t} s");
    }

    // A 3 s turn of participant 2: the stage moves after the 2 s hold, mid-turn.
    c.set_dominant(Some(2), secs(30.0)).unwrap();
    c.render(secs(31.9), &mut frame).unwrap();
    assert_eq!(big_tile(&c), 1);
    c.render(secs(32.0), &mut frame).unwrap();
    assert_eq!(big_tile(&c), 2);
    c.set_dominant(Some(1), secs(33.0)).unwrap();
    c.render(secs(34.0), &mut frame).unwrap();
    assert_eq!(
        big_tile(&c),
        2,
        "participant 1 is back, but only for 1 s so far"
    );
    c.render(secs(35.0), &mut frame).unwrap();
    assert_eq!(big_tile(&c), 1);

    // "Nobody dominant" in the middle of a pending change cancels it; the stage stays.
    c.set_dominant(Some(0), secs(40.0)).unwrap();
    c.set_dominant(None, secs(41.0)).unwrap();
    c.set_dominant(Some(0), secs(41.5)).unwrap();
    c.render(secs(42.5), &mut frame).unwrap();
    assert_eq!(
        big_tile(&c),
        1,
        "0 has been dominant for only 1 s without interruption"
    );
    c.render(secs(43.5), &mut frame).unwrap();
    assert_eq!(big_tile(&c), 0);

    // Roster changes keep the stage on the same person.
    let mut roster = people(3);
    roster.rotate_left(1); // [1, 2, 0]
    c.set_participants(&roster).unwrap();
    assert_eq!(big_tile(&c), 2);
    assert!(c.set_dominant(Some(3), secs(50.0)).is_err());
}

#[test]
fn grid_pixels_show_each_participant_and_the_background_elsewhere() {
    let mut c = compositor(Layout::Grid);
    c.set_participants(&people(10)).unwrap();
    let bg = c.config().background;
    for k in 0..10 {
        // Mixed source sizes: 720p, 360p, 180p.
        let (w, h) = [(1280, 720), (640, 360), (320, 180)][k % 3];
        c.update_picture(k, &flat(w, h, colour(k))).unwrap();
    }
    let mut frame = I420Picture::new(2, 2).unwrap();
    c.render(MediaTime::ZERO, &mut frame).unwrap();
    assert_eq!((frame.width(), frame.height()), (W, H));
    let rects: Vec<Rect> = (0..10).map(|k| c.tile_of(k).unwrap()).collect();
    for (k, r) in rects.iter().enumerate() {
        let (cx, cy) = r.centre();
        // Centre, and the four points halfway to the corners on the upper side (labels sit bottom-left).
        for (x, y) in [
            (cx, cy),
            (cx + r.width / 4, cy - r.height / 4),
            (cx - r.width / 4, cy - r.height / 4),
        ] {
            let got = pixel(&frame, x, y);
            assert!(
                close(got, colour(k), 2),
                "participant {k} at ({x},{y}): {got:?} vs {:?}",
                colour(k)
            );
        }
    }
    // Every sampled point outside all tiles is background.
    let mut outside = 0;
    for y in (0..H).step_by(3) {
        for x in (0..W).step_by(3) {
            if rects.iter().all(|r| !r.contains(x, y)) {
                assert_eq!(pixel(&frame, x, y), bg, "({x},{y})");
                outside += 1;
            }
        }
    }
    assert!(
        outside > 1000,
        "a 10-tile grid leaves letterbox and gaps ({outside})"
    );
}

#[test]
fn portrait_and_4_3_pictures_are_fitted_not_stretched() {
    let mut c = compositor(Layout::Grid);
    c.set_participants(&people(2)).unwrap();
    let bg = c.config().background;
    c.update_picture(0, &flat(360, 640, colour(0))).unwrap(); // portrait phone
    c.update_screenshare(Some(&flat(1024, 768, colour(5))))
        .unwrap(); // 4:3 screen
    let mut frame = I420Picture::new(2, 2).unwrap();
    c.render(MediaTime::ZERO, &mut frame).unwrap();
    let r = c.tile_of(0).unwrap();
    let (cx, cy) = r.centre();
    assert!(close(pixel(&frame, cx, cy), colour(0), 2));
    // Left and right of the portrait picture: background bars inside the tile.
    assert_eq!(pixel(&frame, r.x + r.width / 10, cy), bg);
    assert_eq!(pixel(&frame, r.x + r.width * 9 / 10, cy), bg);
    let s = c.screenshare_tile().unwrap();
    let (sx, sy) = s.centre();
    assert!(close(pixel(&frame, sx, sy), colour(5), 2));
    assert_eq!(
        pixel(&frame, s.x + 4, s.y + 4),
        bg,
        "4:3 in a 16:9 tile leaves side bars"
    );
}

#[test]
fn active_speaker_stage_shows_the_dominant_speaker() {
    let mut c = compositor(Layout::ActiveSpeaker);
    c.set_participants(&people(4)).unwrap();
    for k in 0..4 {
        c.update_picture(k, &flat(640, 360, colour(k))).unwrap();
    }
    let mut frame = I420Picture::new(2, 2).unwrap();
    c.set_dominant(Some(2), secs(0.0)).unwrap();
    c.render(secs(0.0), &mut frame).unwrap();
    let stage = c.tile_of(2).unwrap();
    assert!(stage.width >= 1000);
    let (sx, sy) = stage.centre();
    assert!(close(pixel(&frame, sx, sy), colour(2), 2));
    for k in [0, 1, 3] {
        let (x, y) = c.tile_of(k).unwrap().centre();
        assert!(close(pixel(&frame, x, y), colour(k), 2), "thumbnail {k}");
    }
    // Participant 3 speaks for 3 s: the same stage pixels now show 3 (its thumbnail cache was rescaled
    // up, then refreshed by its next picture), and 2 moved to the strip.
    c.set_dominant(Some(3), secs(5.0)).unwrap();
    c.render(secs(7.0), &mut frame).unwrap();
    assert!(close(pixel(&frame, sx, sy), colour(3), 2));
    c.update_picture(3, &flat(640, 360, colour(3))).unwrap();
    c.render(secs(7.1), &mut frame).unwrap();
    assert!(close(pixel(&frame, sx, sy), colour(3), 2));
    let (x, y) = c.tile_of(2).unwrap().centre();
    assert!(y > stage.y + stage.height && close(pixel(&frame, x, y), colour(2), 2));
}

#[test]
fn screenshare_filmstrip_puts_the_share_on_the_stage() {
    let mut c = compositor(Layout::ScreenShareFilmstrip);
    c.set_participants(&people(3)).unwrap();
    for k in 0..3 {
        c.update_picture(k, &flat(640, 360, colour(k))).unwrap();
    }
    let mut frame = I420Picture::new(2, 2).unwrap();
    c.render(secs(0.0), &mut frame).unwrap();
    assert!(c.screenshare_tile().is_none());
    assert_eq!(c.stage_participant(), Some(0));
    c.update_screenshare(Some(&flat(1920, 1080, colour(7))))
        .unwrap();
    c.render(secs(1.0), &mut frame).unwrap();
    let s = c.screenshare_tile().unwrap();
    assert_eq!(c.stage_participant(), None);
    assert!((0..3).all(|k| c.tile_of(k).unwrap().area() * 4 <= s.area()));
    let (sx, sy) = s.centre();
    assert!(close(pixel(&frame, sx, sy), colour(7), 2));
    for k in 0..3 {
        let (x, y) = c.tile_of(k).unwrap().centre();
        assert!(
            close(pixel(&frame, x, y), colour(k), 2),
            "participant {k} in the strip"
        );
    }
    // The share ends: back to the speaker stage.
    c.update_screenshare(None).unwrap();
    c.render(secs(2.0), &mut frame).unwrap();
    assert!(c.screenshare_tile().is_none());
    let (x, y) = c.tile_of(0).unwrap().centre();
    assert!(close(pixel(&frame, x, y), colour(0), 2));
}

#[test]
fn participants_without_video_get_an_initials_tile() {
    let mut c = compositor(Layout::Grid);
    c.set_participants(&[
        TileSource::new("Alice van Dijk"),
        TileSource::new("Bob Jones"),
    ])
    .unwrap();
    c.update_picture(1, &flat(640, 360, colour(1))).unwrap();
    let bg = c.config().background;
    let mut frame = I420Picture::new(2, 2).unwrap();
    c.render(MediaTime::ZERO, &mut frame).unwrap();
    let r = c.tile_of(0).unwrap();
    // The central third of the tile: white text strokes and the name colour, never the background.
    let (mut white, mut tinted) = (0, 0);
    for y in r.y + r.height / 3..r.y + 2 * r.height / 3 {
        for x in r.x + r.width / 3..r.x + 2 * r.width / 3 {
            let p = pixel(&frame, x, y);
            assert_ne!(p, bg);
            if p == Yuv::WHITE {
                white += 1;
            } else {
                tinted += 1;
            }
        }
    }
    assert!(
        white > 1000 && tinted > 1000,
        "white {white}, tinted {tinted}"
    );
    // Bob turns his camera off: initials again; on again: video.
    let (bx, by) = c.tile_of(1).unwrap().centre();
    c.clear_picture(1).unwrap();
    c.render(MediaTime::ZERO, &mut frame).unwrap();
    assert!(!close(pixel(&frame, bx, by), colour(1), 2));
    c.update_picture(1, &flat(640, 360, colour(1))).unwrap();
    c.render(MediaTime::ZERO, &mut frame).unwrap();
    assert!(close(pixel(&frame, bx, by), colour(1), 2));
    assert!(c.update_picture(2, &flat(16, 16, colour(1))).is_err());
    assert!(c.set_participants(&people(MAX_PARTICIPANTS + 1)).is_err());
}

#[test]
fn roster_changes_keep_held_pictures() {
    let mut c = compositor(Layout::Grid);
    let roster = people(3);
    c.set_participants(&roster).unwrap();
    for k in 0..3 {
        c.update_picture(k, &flat(640, 360, colour(k))).unwrap();
    }
    // Participant 1 leaves, a newcomer joins first: the others keep their (stalled) pictures.
    let newcomer = TileSource::new("Zoë Newcomer");
    c.set_participants(&[newcomer, roster[0].clone(), roster[2].clone()])
        .unwrap();
    let mut frame = I420Picture::new(2, 2).unwrap();
    c.render(MediaTime::ZERO, &mut frame).unwrap();
    for (idx, k) in [(1usize, 0usize), (2, 2)] {
        let (x, y) = c.tile_of(idx).unwrap().centre();
        assert!(
            close(pixel(&frame, x, y), colour(k), 2),
            "tile {idx} lost participant {k}'s picture"
        );
    }
}

#[test]
fn rendered_frame_survives_h264_round_trip() {
    let mut c = compositor(Layout::Grid);
    c.set_participants(&people(10)).unwrap();
    for k in 0..9 {
        c.update_picture(k, &flat(640, 360, colour(k))).unwrap();
    }
    // Participant 9 has no video (initials).
    let mut frame = I420Picture::new(2, 2).unwrap();
    c.render(MediaTime::ZERO, &mut frame).unwrap();
    let mut enc = H264Encoder::new(H264EncoderConfig {
        max_frame_rate: 15.0,
        ..H264EncoderConfig::default()
    })
    .unwrap();
    let data = enc.encode(&frame, MediaTime::ZERO).unwrap().data.to_vec();
    let mut dec = H264Decoder::new().unwrap();
    let back = dec.decode(&data).unwrap().unwrap();
    assert_eq!((back.width(), back.height()), (W, H));
    for k in 0..9 {
        let (x, y) = c.tile_of(k).unwrap().centre();
        let got = pixel(back, x, y);
        assert!(
            close(got, colour(k), 4),
            "participant {k}: {got:?} vs {:?}",
            colour(k)
        );
    }
    // The letterbox above the grid (at least 8 px from any tile) is still background.
    let bg = c.config().background;
    let top = c.tile_of(0).unwrap().y;
    assert!(top > 16);
    assert!(close(pixel(back, W / 2, top - 12), bg, 4));
}

#[test]
fn no_allocation_per_frame_after_warm_up() {
    let mut c = compositor(Layout::ActiveSpeaker);
    c.set_participants(&people(10)).unwrap();
    let pics: Vec<I420Picture> = (0..10).map(|k| flat(640, 360, colour(k))).collect();
    let share = flat(1920, 1080, colour(3));
    let mut frame = I420Picture::new(W, H).unwrap();
    // Warm-up: one picture each, the screen share on, one frame.
    for (k, p) in pics.iter().enumerate() {
        c.update_picture(k, p).unwrap();
    }
    c.update_screenshare(Some(&share)).unwrap();
    c.render(secs(0.0), &mut frame).unwrap();
    let (allocs, ()) = count_allocs(|| {
        for n in 0..150u64 {
            let at = c.frame_time(n);
            c.set_dominant(Some((n / 40) as usize % 10), at).unwrap();
            c.update_picture(n as usize % 10, &pics[n as usize % 10])
                .unwrap();
            if n % 8 == 0 {
                c.update_screenshare(Some(&share)).unwrap();
            }
            c.render(at, &mut frame).unwrap();
        }
    });
    assert_eq!(allocs, 0);
    // The stage did move during the run (so stage switches were covered).
    assert_ne!(c.stage_participant(), Some(0));
}

#[test]
fn frame_times_are_exact() {
    let c = compositor(Layout::Grid);
    assert_eq!(c.frame_time(0), MediaTime::ZERO);
    assert_eq!(c.frame_time(1).ticks(), 666_666);
    assert_eq!(c.frame_time(15), MediaTime::from_secs(1));
    assert_eq!(
        c.frame_time(15 * 3600 * 25),
        MediaTime::from_secs(3600 * 25)
    );
    assert!(Compositor::new(CompositorConfig {
        width: 1281,
        ..CompositorConfig::default()
    })
    .is_err());
    assert!(Compositor::new(CompositorConfig {
        height: 70,
        ..CompositorConfig::default()
    })
    .is_err());
    assert!(Compositor::new(CompositorConfig {
        frame_rate: 0,
        ..CompositorConfig::default()
    })
    .is_err());
}

/// Random operations (a small LCG, reproducible) with odd, tiny and huge-ratio pictures, in every layout and
/// at the smallest frame size: nothing panics, every tile stays inside the frame, tiles never overlap.
#[test]
fn random_operation_sequences_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut frame = I420Picture::new(2, 2).unwrap();
    for (w, h) in [(128u32, 72u32), (1280, 720), (480, 640)] {
        for layout in [
            Layout::Grid,
            Layout::ActiveSpeaker,
            Layout::ScreenShareFilmstrip,
        ] {
            let mut c = Compositor::new(CompositorConfig {
                width: w,
                height: h,
                layout,
                ..CompositorConfig::default()
            })
            .unwrap();
            let mut at = 0i64;
            for _ in 0..300 {
                at += next(400) as i64;
                let n = c.participant_count();
                match next(6) {
                    0 => {
                        let count = next(MAX_PARTICIPANTS as u64 + 1) as usize;
                        let roster: Vec<TileSource> = (0..count)
                            .map(|i| TileSource::new(format!("P{}", (i as u64 + next(3)) % 12)))
                            .collect();
                        c.set_participants(&roster).unwrap();
                    }
                    1 if n > 0 => {
                        let (pw, ph) = (1 + next(700) as u32, 1 + next(500) as u32);
                        c.update_picture(next(n as u64) as usize, &flat(pw, ph, colour(1)))
                            .unwrap();
                    }
                    2 => {
                        let pic = flat(1 + next(2000) as u32, 1 + next(1200) as u32, colour(2));
                        c.update_screenshare(if next(3) == 0 { None } else { Some(&pic) })
                            .unwrap();
                    }
                    3 => {
                        let who = (n > 0 && next(4) != 0).then(|| next(n as u64) as usize);
                        c.set_dominant(who, MediaTime::from_millis(at)).unwrap();
                    }
                    4 if n > 0 => c.clear_picture(next(n as u64) as usize).unwrap(),
                    _ => c.render(MediaTime::from_millis(at), &mut frame).unwrap(),
                }
                let mut rects: Vec<Rect> = (0..c.participant_count())
                    .filter_map(|i| c.tile_of(i))
                    .collect();
                rects.extend(c.screenshare_tile());
                for (i, r) in rects.iter().enumerate() {
                    assert!(
                        r.x + r.width <= w && r.y + r.height <= h,
                        "{w}x{h} {layout:?}: {r:?}"
                    );
                    assert!(
                        rects[i + 1..].iter().all(|o| !r.overlaps(o)),
                        "{w}x{h} {layout:?}"
                    );
                }
            }
        }
    }
}

//! Pixel work on I420 pictures: flat fills, copying a tile picture into the frame, and 8x8 bitmap text
//! (`font8x8`, public-domain glyphs) scaled by whole pixels. Every loop runs over row slices (`fill`,
//! `copy_from_slice`, zipped iterators), so the inner loops have no per-pixel bounds checks and vectorise.

use font8x8::{UnicodeFonts, BASIC_FONTS, LATIN_FONTS};

use super::layout::{even, Rect};
use crate::picture::I420Picture;

/// A colour in video-range BT.601 YUV (what the H.264 encoder is told the pictures are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Yuv {
    /// Luma, 16 (black) ..= 235 (white).
    pub y: u8,
    /// Blue-difference chroma, 128 = grey.
    pub u: u8,
    /// Red-difference chroma, 128 = grey.
    pub v: u8,
}

impl Yuv {
    /// Video-range white.
    pub const WHITE: Yuv = Yuv::new(235, 128, 128);
    /// Video-range black.
    pub const BLACK: Yuv = Yuv::new(16, 128, 128);

    /// A colour from its three components.
    pub const fn new(y: u8, u: u8, v: u8) -> Yuv {
        Yuv { y, u, v }
    }

    /// Converts full-range sRGB-ish `r, g, b` (0–255) to video-range BT.601 YUV.
    ///
    /// # Examples
    /// ```
    /// use codecs::composite::Yuv;
    /// assert_eq!(Yuv::from_rgb(255, 255, 255), Yuv::WHITE);
    /// assert_eq!(Yuv::from_rgb(0, 0, 0), Yuv::BLACK);
    /// ```
    pub fn from_rgb(r: u8, g: u8, b: u8) -> Yuv {
        let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
        // BT.601 limited range, 8-bit fixed point (coefficients x256).
        let y = (66 * r + 129 * g + 25 * b + 128) / 256 + 16;
        let u = (-38 * r - 74 * g + 112 * b + 128) / 256 + 128;
        let v = (112 * r - 94 * g - 18 * b + 128) / 256 + 128;
        Yuv::new(clamp_u8(y), clamp_u8(u), clamp_u8(v))
    }
}

fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Avatar colours (medium tones white text reads well on), picked per name by [`name_colour`].
const PALETTE: [(u8, u8, u8); 10] = [
    (0x4f, 0x52, 0xb2),
    (0x0f, 0x6c, 0xbd),
    (0x03, 0x83, 0x87),
    (0x10, 0x7c, 0x10),
    (0x8a, 0x5a, 0x00),
    (0xc2, 0x39, 0xb3),
    (0xa4, 0x26, 0x2c),
    (0x5c, 0x2e, 0x91),
    (0x00, 0x6b, 0x5f),
    (0x80, 0x3e, 0x2f),
];

/// A stable colour for a participant's initials tile, derived from the name (FNV-1a hash into a palette of
/// ten medium tones), so the same person keeps the same colour across recordings.
pub fn name_colour(name: &str) -> Yuv {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let (r, g, b) = PALETTE[(h % PALETTE.len() as u32) as usize];
    Yuv::from_rgb(r, g, b)
}

/// Intersection of `r` with the picture bounds, as plane-agnostic luma coordinates.
fn clip(pic: &I420Picture, r: Rect) -> Rect {
    let x0 = r.x.min(pic.width());
    let y0 = r.y.min(pic.height());
    let x1 = r.x.saturating_add(r.width).min(pic.width());
    let y1 = r.y.saturating_add(r.height).min(pic.height());
    Rect::new(x0, y0, x1 - x0, y1 - y0)
}

/// Fills `r` (clipped to the picture) with `colour`. The chroma rectangle covers every 2x2 block the luma
/// rectangle touches (exact for the even rectangles of the layout).
pub fn fill_rect(pic: &mut I420Picture, r: Rect, colour: Yuv) {
    let r = clip(pic, r);
    if r.is_empty() {
        return;
    }
    let w = pic.width() as usize;
    let cw = pic.chroma_width() as usize;
    let (x0, x1) = (r.x as usize, (r.x + r.width) as usize);
    let (y0, y1) = (r.y as usize, (r.y + r.height) as usize);
    let (cx0, cx1) = (x0 / 2, x1.div_ceil(2));
    let (cy0, cy1) = (y0 / 2, y1.div_ceil(2));
    let (yp, up, vp) = pic.planes_mut();
    for row in yp.chunks_exact_mut(w).take(y1).skip(y0) {
        row[x0..x1].fill(colour.y);
    }
    for (plane, value) in [(up, colour.u), (vp, colour.v)] {
        for row in plane.chunks_exact_mut(cw).take(cy1).skip(cy0) {
            row[cx0..cx1].fill(value);
        }
    }
}

/// Copies the whole of `src` into `dst` with its top-left corner at `(x, y)` (both even), clipped to `dst`.
pub fn blit(src: &I420Picture, dst: &mut I420Picture, x: u32, y: u32) {
    let r = clip(dst, Rect::new(x, y, src.width(), src.height()));
    if r.is_empty() {
        return;
    }
    let (sw, scw) = (src.width() as usize, src.chroma_width() as usize);
    let (dw, dcw) = (dst.width() as usize, dst.chroma_width() as usize);
    let (x0, y0, w, h) = (
        r.x as usize,
        r.y as usize,
        r.width as usize,
        r.height as usize,
    );
    let (cx0, cy0, cw, ch) = (x0 / 2, y0 / 2, w.div_ceil(2), h.div_ceil(2));
    let (yp, up, vp) = dst.planes_mut();
    for (drow, srow) in yp
        .chunks_exact_mut(dw)
        .skip(y0)
        .zip(src.y().chunks_exact(sw))
        .take(h)
    {
        drow[x0..x0 + w].copy_from_slice(&srow[..w]);
    }
    for (plane, splane) in [(up, src.u()), (vp, src.v())] {
        for (drow, srow) in plane
            .chunks_exact_mut(dcw)
            .skip(cy0)
            .zip(splane.chunks_exact(scw))
            .take(ch)
        {
            let n = cw.min(dcw - cx0).min(scw);
            drow[cx0..cx0 + n].copy_from_slice(&srow[..n]);
        }
    }
}

/// The 8x8 glyph of `c` (row 0 at the top, bit 0 the leftmost pixel); `?` when the font lacks it.
fn glyph(c: char) -> [u8; 8] {
    BASIC_FONTS
        .get(c)
        .or_else(|| LATIN_FONTS.get(c))
        .or_else(|| BASIC_FONTS.get('?'))
        .unwrap_or([0; 8])
}

/// How many characters of `text` fit in `max_width` pixels at `scale`.
pub fn chars_fitting(max_width: u32, scale: u32) -> usize {
    (max_width / (8 * scale.max(1))) as usize
}

/// Draws `text` with its top-left corner at `(x, y)`, each font pixel a `scale x scale` block, in `colour`,
/// clipped to `clip_to` (and the picture). Only glyph pixels are written (no box behind the text). Chroma is
/// written for every 2x2 block a glyph pixel touches; with an even `scale` and an even origin that is exact.
pub fn draw_text(
    pic: &mut I420Picture,
    text: &str,
    x: u32,
    y: u32,
    scale: u32,
    colour: Yuv,
    clip_to: Rect,
) {
    let clip_to = clip(pic, clip_to);
    if clip_to.is_empty() {
        return;
    }
    let s = scale.max(1) as usize;
    let w = pic.width() as usize;
    let cw = pic.chroma_width() as usize;
    let (lx0, ly0) = (clip_to.x as usize, clip_to.y as usize);
    let (lx1, ly1) = (lx0 + clip_to.width as usize, ly0 + clip_to.height as usize);
    let (yp, up, vp) = pic.planes_mut();
    for (i, c) in text.chars().enumerate() {
        let gx = x as usize + i * 8 * s;
        if gx >= lx1 {
            break;
        }
        for (gy, bits) in glyph(c).into_iter().enumerate() {
            if bits == 0 {
                continue;
            }
            let py0 = (y as usize + gy * s).max(ly0);
            let py1 = (y as usize + (gy + 1) * s).min(ly1);
            if py0 >= py1 {
                continue;
            }
            for bit in 0..8 {
                if bits & (1 << bit) == 0 {
                    continue;
                }
                let px0 = (gx + bit * s).max(lx0);
                let px1 = (gx + (bit + 1) * s).min(lx1);
                if px0 >= px1 {
                    continue;
                }
                for row in yp.chunks_exact_mut(w).take(py1).skip(py0) {
                    row[px0..px1].fill(colour.y);
                }
                let (cx0, cx1) = (px0 / 2, px1.div_ceil(2));
                let (cy0, cy1) = (py0 / 2, py1.div_ceil(2));
                for (plane, value) in [(&mut *up, colour.u), (&mut *vp, colour.v)] {
                    for row in plane.chunks_exact_mut(cw).take(cy1).skip(cy0) {
                        row[cx0..cx1].fill(value);
                    }
                }
            }
        }
    }
}

/// Renders an initials tile into `pic` (its whole area): the name's colour, the initials in white, as large
/// as fits a third of the tile height and 70 % of its width, centred.
pub fn initials_tile(pic: &mut I420Picture, initials: &str, colour: Yuv) {
    let full = Rect::new(0, 0, pic.width(), pic.height());
    fill_rect(pic, full, colour);
    let n = initials.chars().count().max(1) as u32;
    let by_h = pic.height() / 3 / 8;
    let by_w = pic.width() * 7 / 10 / (8 * n);
    // Even scale (exact chroma), at least 1.
    let scale = match by_h.min(by_w) {
        0 | 1 => 1,
        s => s & !1,
    };
    let text_w = 8 * scale * n;
    let text_h = 8 * scale;
    let x = even(pic.width().saturating_sub(text_w) / 2);
    let y = even(pic.height().saturating_sub(text_h) / 2);
    draw_text(pic, initials, x, y, scale, Yuv::WHITE, full);
}

/// Initials from a display name: the first letter of the first and the last word, upper-cased ("Alice
/// van Dijk" -> "AD", "bob" -> "B", "" -> "?").
pub fn initials_of(name: &str) -> String {
    let mut words = name.split_whitespace().filter_map(|w| w.chars().next());
    let first = words.next();
    let last = words.next_back();
    let s: String = first
        .into_iter()
        .chain(last)
        .flat_map(char::to_uppercase)
        .collect();
    if s.is_empty() {
        "?".to_string()
    } else {
        s
    }
}

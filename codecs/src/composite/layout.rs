//! Tile geometry: where each source goes in the output frame, as pure functions of the layout, the number of
//! participants, whether a screen share is shown, and the frame size.
//!
//! Every rectangle has even `x`, `y`, `width` and `height`, so a tile covers whole 2x2 blocks and its chroma
//! rectangle is exactly half the luma one (no chroma bleeding between tiles). Tiles never overlap and never
//! leave the frame; the rest of the frame is the background (letterbox).
//!
//! Tiles touch: the compositor draws the visual gap as a thin background border *inside* each tile at render
//! time. That keeps tile sizes exact fractions of the frame, which is what makes scaling cheap: a 10-person
//! 720p grid has 320x180 tiles, exactly a half of a 360p camera (the scaler's 2x2 fast path) or a quarter of
//! a 720p one (two halvings), where a 4-pixel geometric gap would give 316x178 and the slower general filter.

/// How the compositor arranges its sources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Every participant (and the screen share, as the last tile) in equal 16:9 tiles; rows and columns are
    /// chosen to make the tiles as large as possible, the last row is centred, the grid is letterboxed.
    #[default]
    Grid,
    /// The displayed speaker large on the stage (the whole frame when alone), the others in a filmstrip of
    /// 16:9 thumbnails along the bottom, followed by the screen share. The displayed speaker follows the
    /// dominant speaker with a hold (see [`Compositor::set_dominant`](super::Compositor::set_dominant)).
    ActiveSpeaker,
    /// The screen share large on the stage, every participant in the filmstrip. Without a screen share it
    /// behaves exactly as [`Layout::ActiveSpeaker`].
    ScreenShareFilmstrip,
}

/// An axis-aligned rectangle in output pixels (all fields even when produced by this module).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Rect {
    /// A rectangle from its left, top, width and height.
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    /// The centre point `(x, y)` (rounded down).
    pub const fn centre(&self) -> (u32, u32) {
        (self.x + self.width / 2, self.y + self.height / 2)
    }

    /// True when `(x, y)` lies inside.
    pub const fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.width && y < self.y + self.height
    }

    /// True when the two rectangles share at least one pixel.
    pub const fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }

    /// Pixel area.
    pub const fn area(&self) -> u64 {
        self.width as u64 * self.height as u64
    }

    /// True when the size is zero in either direction.
    pub const fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }
}

/// Rounds down to an even number.
#[inline]
pub(crate) const fn even(v: u32) -> u32 {
    v & !1
}

/// The largest even-sized 16:9 box inside `w x h`: `(width, height)`. The height is chosen first and the
/// width rounded to the nearest even value from it, so the aspect error stays within 2 / width.
fn fit_16_9(w: u32, h: u32) -> (u32, u32) {
    let h = even(h.min(w * 9 / 16));
    let w = (2 * ((h * 8 + 4) / 9)).min(even(w));
    (w, h)
}

/// The largest rectangle of `src_w : src_h` aspect centred inside `tile` (even-aligned). When that would
/// leave bars thinner than 2 % of the tile (a 16:9 camera in a tile rounded to even pixels), the whole tile is
/// used instead: such a stretch is invisible and a 1-pixel bar is not worth drawing.
pub fn fit(src_w: u32, src_h: u32, tile: Rect) -> Rect {
    if src_w == 0 || src_h == 0 || tile.is_empty() {
        return tile;
    }
    let (tw, th) = (u64::from(tile.width), u64::from(tile.height));
    let (sw, sh) = (u64::from(src_w), u64::from(src_h));
    // Width if the height fills the tile; else height if the width fills it.
    let (w, h) = if sw * th <= tw * sh {
        ((sw * th / sh) as u32, tile.height)
    } else {
        (tile.width, (sh * tw / sw) as u32)
    };
    let (w, h) = (
        even(w).max(2).min(tile.width),
        even(h).max(2).min(tile.height),
    );
    if tile.width - w <= tile.width / 50 && tile.height - h <= tile.height / 50 {
        return tile;
    }
    Rect::new(
        tile.x + even((tile.width - w) / 2),
        tile.y + even((tile.height - h) / 2),
        w,
        h,
    )
}

/// Grid geometry for `count` (> 0) equal tiles, in reading order, appended to `rects`.
fn grid(count: usize, out_w: u32, out_h: u32, rects: &mut Vec<Rect>) {
    let n = count as u32;
    // Pick the column count giving the largest tile; among counts within 3 % of it, the most columns (a
    // wide frame reads better in wide rows: 3-2 rather than 2-2-1 for five, 4-4-2 rather than 3-3-3-1 for
    // ten).
    let size = |cols: u32| fit_16_9(out_w / cols, out_h / n.div_ceil(cols));
    let largest = (1..=n).map(|cols| size(cols).0).max().unwrap_or(0);
    let best = (1..=n)
        .rev()
        .map(|cols| (size(cols), cols))
        .find(|&((w, _), _)| w * 100 >= largest * 97)
        .map_or((0, 0, 1), |((w, h), cols)| (w, h, cols));
    let (w, h, cols) = best;
    let rows = n.div_ceil(cols);
    let y0 = even(out_h.saturating_sub(rows * h) / 2);
    for r in 0..rows {
        let in_row = (n - r * cols).min(cols);
        let x0 = even(out_w.saturating_sub(in_row * w) / 2);
        for c in 0..in_row {
            rects.push(Rect::new(x0 + c * w, y0 + r * h, w, h));
        }
    }
}

/// A stage (16:9, top, centred) above a filmstrip of `strip` thumbnails (16:9, bottom, centred). With no
/// thumbnails the stage is the largest 16:9 box of the frame. Appended to `rects`.
fn stage_and_strip(strip: usize, out_w: u32, out_h: u32, rects: &mut Vec<Rect>) {
    if strip == 0 {
        let (w, h) = fit_16_9(out_w, out_h);
        rects.push(Rect::new(
            even((out_w - w) / 2),
            even((out_h - h) / 2),
            w,
            h,
        ));
        return;
    }
    let k = strip as u32;
    let strip_h = even(out_h / 5);
    let (mut tw, mut th) = fit_16_9(out_w, strip_h);
    if k * tw > out_w {
        (tw, th) = fit_16_9(out_w / k, strip_h);
    }
    let (sw, sh) = fit_16_9(out_w, out_h - strip_h);
    rects.push(Rect::new(even((out_w - sw) / 2), 0, sw, sh));
    let x0 = even(out_w.saturating_sub(k * tw) / 2);
    let y = out_h - strip_h + even((strip_h - th) / 2);
    for c in 0..k {
        rects.push(Rect::new(x0 + c * tw, y, tw, th));
    }
}

/// The tile rectangles of `layout` for `n_participants` participants and an optional screen share in an
/// `out_w x out_h` frame: always `n_participants + has_screenshare as usize` rectangles, in slot order.
///
/// Slot order per layout:
/// * [`Layout::Grid`]: reading order (left to right, top to bottom). Participant `i` is drawn in slot `i`,
///   the screen share in the last slot.
/// * [`Layout::ActiveSpeaker`]: slot 0 is the stage, slots 1.. the filmstrip left to right. The displayed
///   speaker takes the stage, the other participants fill the strip in their order, the screen share is the
///   last thumbnail. With no participant, the screen share takes the stage.
/// * [`Layout::ScreenShareFilmstrip`]: with a screen share, slot 0 (the stage) is the screen share and slots
///   1..=n the participants in order; without one, as `ActiveSpeaker`.
///
/// Rectangles are non-empty for frames of at least [`MIN_WIDTH`](super::MIN_WIDTH) x
/// [`MIN_HEIGHT`](super::MIN_HEIGHT) and up to [`MAX_PARTICIPANTS`](super::MAX_PARTICIPANTS) participants
/// (larger counts still give non-overlapping rectangles, possibly empty ones). Allocates the returned vector
/// only; the compositor calls it when the layout changes, never per frame.
///
/// # Examples
/// ```
/// use codecs::composite::{tiles, Layout, Rect};
/// // Four participants in a 720p grid: 2x2 tiles of 640x360; ten: rows of 4-4-2 tiles of 320x180.
/// let t = tiles(Layout::Grid, 4, false, 1280, 720);
/// assert_eq!(t.len(), 4);
/// assert_eq!(t[3], Rect::new(640, 360, 640, 360));
/// let ten = tiles(Layout::Grid, 10, false, 1280, 720);
/// assert!(ten.iter().all(|r| (r.width, r.height) == (320, 180)));
/// // A screen share with two participants: the share on the stage, two thumbnails below.
/// let s = tiles(Layout::ScreenShareFilmstrip, 2, true, 1280, 720);
/// assert_eq!(s.len(), 3);
/// assert!(s[0].area() > 4 * s[1].area());
/// ```
pub fn tiles(
    layout: Layout,
    n_participants: usize,
    has_screenshare: bool,
    out_w: u32,
    out_h: u32,
) -> Vec<Rect> {
    let mut rects = Vec::new();
    tiles_into(
        layout,
        n_participants,
        has_screenshare,
        out_w,
        out_h,
        &mut rects,
    );
    rects
}

/// [`tiles`] into a caller's vector (cleared first; no allocation once it has the capacity).
pub fn tiles_into(
    layout: Layout,
    n_participants: usize,
    has_screenshare: bool,
    out_w: u32,
    out_h: u32,
    rects: &mut Vec<Rect>,
) {
    rects.clear();
    let total = n_participants + usize::from(has_screenshare);
    if total == 0 {
        return;
    }
    if out_w < 2 || out_h < 2 {
        rects.resize(total, Rect::default());
        return;
    }
    match layout {
        Layout::Grid => grid(total, out_w, out_h, rects),
        Layout::ActiveSpeaker | Layout::ScreenShareFilmstrip => {
            stage_and_strip(total - 1, out_w, out_h, rects)
        }
    }
}

//! The video compositor: one meeting picture per output frame from every participant's latest picture.
//!
//! ```text
//! H264Decoder (per participant, at its own rate) ─► Compositor::update_picture ─► tile cache (scaled once)
//! dominant-speaker events ─► Compositor::set_dominant ─► stage (hold-debounced)
//! output clock (15 fps) ─► Compositor::render(at, &mut frame) ─► H264Encoder ─► muxer (meeting video track)
//! ```
//!
//! # Model
//! * **Sans-IO, explicit time.** Nothing here reads a clock or runs a thread. The driver calls
//!   [`Compositor::render`] once per output frame with that frame's time ([`Compositor::frame_time`] gives
//!   exact, drift-free times), and passes the time of every dominant-speaker event.
//! * **Latest picture wins, held when a source stalls.** [`Compositor::update_picture`] scales the new picture
//!   into the participant's tile cache at once (the caller may reuse or drop the decoder's picture right
//!   after); [`Compositor::render`] copies the caches into the frame. A source slower than the output, or
//!   stalled, shows its last picture; one that never sent video (or whose video was cleared) shows an initials
//!   tile. Scaling therefore costs once per *source* frame, not once per output frame: call `update_picture`
//!   when a source has a new picture, not every output frame.
//! * **No allocation per frame.** Tile caches and the scratch picture are allocated when the participant list
//!   is set (each can hold a full output frame, so later layout changes never reallocate); `render`,
//!   `update_picture`, `update_screenshare` and `set_dominant` allocate nothing after that (tested with a
//!   counting allocator).
//! * **Geometry is a pure function**: [`tiles`] says where every slot is; [`Compositor::tile_of`] where a
//!   participant is drawn now. Rectangles are even-aligned, so chroma never bleeds between tiles.
//! * **Aspect is kept**: a picture whose aspect differs from its tile (a portrait phone camera, a 4:3 or
//!   16:10 screen share) is fitted inside the tile with background bars, never stretched.
//!
//! # Errors
//! Setup errors ([`Compositor::new`], [`Compositor::set_participants`]) are
//! [`CodecError::InvalidConfig`]; a participant index out of range is also `InvalidConfig` and leaves the
//! compositor unchanged, so the caller can go on.
//!
//! # Examples
//! ```
//! use codecs::composite::{Compositor, CompositorConfig, Layout, TileSource};
//! use codecs::picture::I420Picture;
//! use media_core::MediaTime;
//!
//! let mut comp = Compositor::new(CompositorConfig { layout: Layout::Grid, ..Default::default() })?;
//! comp.set_participants(&[TileSource::new("Alice Smith"), TileSource::new("Bob")])?;
//! let mut camera = I420Picture::new(640, 360)?;
//! camera.y_mut().fill(200);
//! comp.update_picture(0, &camera)?; // Bob has no video: his tile shows "B".
//!
//! let mut frame = I420Picture::new(16, 16)?;
//! comp.render(comp.frame_time(0), &mut frame)?;
//! let (x, y) = comp.tile_of(0).unwrap().centre();
//! assert_eq!(frame.y()[(y * frame.width() + x) as usize], 200);
//! # Ok::<(), codecs::CodecError>(())
//! ```
#![forbid(unsafe_code)]

mod draw;
mod layout;
mod restore;
mod speaker;

pub use draw::{initials_of, name_colour, Yuv};
pub use layout::{fit, tiles, tiles_into, Layout, Rect};
pub use restore::restore_original_format;
pub use speaker::StageSelector;

use media_core::time::TICKS_PER_SECOND;
use media_core::MediaTime;

use crate::picture::{scale_into, I420Picture};
use crate::CodecError;

/// The most participants the compositor draws (Teams delivers at most ten main-video streams per media
/// session); the screen share comes on top.
pub const MAX_PARTICIPANTS: usize = 10;
/// The smallest output width accepted.
pub const MIN_WIDTH: u32 = 128;
/// The smallest output height accepted.
pub const MIN_HEIGHT: u32 = 72;

/// Settings of a [`Compositor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompositorConfig {
    /// Output width (even, [`MIN_WIDTH`]..=8192).
    pub width: u32,
    /// Output height (even, [`MIN_HEIGHT`]..=8192).
    pub height: u32,
    /// Output frames per second (1..=60); only used by [`Compositor::frame_time`].
    pub frame_rate: u32,
    /// How sources are arranged.
    pub layout: Layout,
    /// How long a new dominant speaker must stay dominant before taking the stage (speaker layouts).
    pub hold: MediaTime,
    /// Colour of everything outside the tiles (letterbox, gaps, bars around fitted pictures).
    pub background: Yuv,
    /// Draw each participant's name in a small label at the bottom-left of its tile.
    pub labels: bool,
}

impl Default for CompositorConfig {
    /// 1280x720 at 15 fps, grid, 2 s hold, a dark grey background (#1f1f1f), labels on.
    fn default() -> Self {
        CompositorConfig {
            width: 1280,
            height: 720,
            frame_rate: 15,
            layout: Layout::Grid,
            hold: MediaTime::from_secs(2),
            background: Yuv::from_rgb(0x1f, 0x1f, 0x1f),
            labels: true,
        }
    }
}

/// A participant as the compositor shows it: name (for the label and the tile colour) and initials (drawn
/// when there is no video).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TileSource {
    /// Display name.
    pub name: String,
    /// Initials drawn on the tile when the participant has no video; empty means "derive from the name".
    pub initials: String,
}

impl TileSource {
    /// A source with initials derived from the name ([`initials_of`]).
    pub fn new(name: impl Into<String>) -> TileSource {
        let name = name.into();
        let initials = initials_of(&name);
        TileSource { name, initials }
    }
}

/// Colour of the name labels' box.
const LABEL_BOX: Yuv = Yuv::new(40, 128, 128);

/// One drawn source: where its slot is, where its picture goes inside it, and the cached picture.
#[derive(Debug)]
struct Tile {
    /// The slot rectangle.
    rect: Rect,
    /// Where `cache` is drawn (inside `rect`; equal to it for initials tiles and same-aspect video).
    content: Rect,
    /// The picture at `content`'s size: scaled video, or the rendered initials tile.
    cache: I420Picture,
    /// Size of the last source picture; `None` while the tile shows initials.
    src: Option<(u32, u32)>,
}

impl Tile {
    fn new(width: u32, height: u32) -> Result<Tile, CodecError> {
        Ok(Tile {
            rect: Rect::default(),
            content: Rect::default(),
            cache: I420Picture::new(width, height)?,
            src: None,
        })
    }

    /// Moves the tile to `rect`, rescaling the cached video (through `scratch`) or redrawing the initials
    /// when the size changes (or when `force`d).
    fn place(
        &mut self,
        rect: Rect,
        scratch: &mut I420Picture,
        initials: Option<(&str, Yuv)>,
        background: Yuv,
        force: bool,
    ) -> Result<(), CodecError> {
        let resized = force || rect.width != self.rect.width || rect.height != self.rect.height;
        self.rect = rect;
        if rect.is_empty() {
            self.content = rect;
            return Ok(());
        }
        match self.src {
            Some((sw, sh)) => {
                let content = layout::fit(sw, sh, rect);
                let same =
                    content.width == self.cache.width() && content.height == self.cache.height();
                if !same {
                    // Until the source's next picture, the tile shows the old one rescaled.
                    scratch.resize(content.width, content.height)?;
                    scale_into(&self.cache, scratch)?;
                    std::mem::swap(&mut self.cache, scratch);
                }
                self.content = content;
            }
            None => {
                self.content = rect;
                if resized {
                    self.cache.resize(rect.width, rect.height)?;
                    match initials {
                        Some((text, colour)) => draw::initials_tile(&mut self.cache, text, colour),
                        None => draw::fill_rect(
                            &mut self.cache,
                            Rect::new(0, 0, rect.width, rect.height),
                            background,
                        ),
                    }
                }
            }
        }
        Ok(())
    }

    /// Scales a new source picture into the cache. A reduction beyond 2x in both directions (a 720p camera
    /// into a 320x180 grid tile, a 1080p screen share into a thumbnail) first halves the picture into
    /// `scratch` with the scaler's exact 2x2 fast path, so the final step reads 4x fewer pixels (and is often
    /// an exact halving again).
    fn update(
        &mut self,
        picture: &I420Picture,
        scratch: &mut I420Picture,
    ) -> Result<(), CodecError> {
        self.src = Some((picture.width(), picture.height()));
        if self.rect.is_empty() {
            return Ok(());
        }
        let c = layout::fit(picture.width(), picture.height(), self.rect);
        self.content = c;
        self.cache.resize(c.width, c.height)?;
        let (pw, ph) = (picture.width(), picture.height());
        if pw % 2 == 0 && ph % 2 == 0 && pw > 2 * c.width && ph > 2 * c.height {
            scratch.resize(pw / 2, ph / 2)?;
            scale_into(picture, scratch)?;
            scale_into(scratch, &mut self.cache)
        } else {
            scale_into(picture, &mut self.cache)
        }
    }
}

#[derive(Debug)]
struct Participant {
    source: TileSource,
    colour: Yuv,
    tile: Tile,
}

/// The text of an initials tile: the given initials, else the name.
fn initials_text(source: &TileSource) -> &str {
    if source.initials.is_empty() {
        &source.name
    } else {
        &source.initials
    }
}

/// Renders the meeting picture: participants' latest pictures (or initials) and the screen share, arranged
/// by a [`Layout`], into I420 frames for the H.264 encoder. See the [module docs](self) for the model.
#[derive(Debug)]
pub struct Compositor {
    config: CompositorConfig,
    participants: Vec<Participant>,
    screen: Tile,
    screen_on: bool,
    stage: StageSelector,
    scratch: I420Picture,
    /// The current slots (reused: a stage switch allocates nothing).
    rects: Vec<Rect>,
}

fn out_of_range(index: usize, n: usize) -> CodecError {
    CodecError::InvalidConfig(format!(
        "participant index {index} out of range ({n} participants)"
    ))
}

impl Compositor {
    /// Creates a compositor with no participants (frames are all background until
    /// [`set_participants`](Self::set_participants)).
    ///
    /// # Errors
    /// [`CodecError::InvalidConfig`] for an odd or out-of-range size or a frame rate outside 1..=60.
    pub fn new(config: CompositorConfig) -> Result<Compositor, CodecError> {
        let (w, h) = (config.width, config.height);
        if w % 2 != 0
            || h % 2 != 0
            || !(MIN_WIDTH..=crate::picture::MAX_PICTURE_DIMENSION).contains(&w)
            || !(MIN_HEIGHT..=crate::picture::MAX_PICTURE_DIMENSION).contains(&h)
            || !(1..=60).contains(&config.frame_rate)
        {
            return Err(CodecError::InvalidConfig(format!(
                "compositor output {w}x{h} at {} fps: need even sizes of at least {MIN_WIDTH}x{MIN_HEIGHT} and 1..=60 fps",
                config.frame_rate
            )));
        }
        Ok(Compositor {
            config,
            participants: Vec::with_capacity(MAX_PARTICIPANTS),
            screen: Tile::new(w, h)?,
            screen_on: false,
            stage: StageSelector::new(config.hold),
            scratch: I420Picture::new(w, h)?,
            rects: Vec::with_capacity(MAX_PARTICIPANTS + 1),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CompositorConfig {
        &self.config
    }

    /// The time of output frame `n` (frame 0 at [`MediaTime::ZERO`]), exact at any frame rate (no drift).
    pub fn frame_time(&self, n: u64) -> MediaTime {
        let ticks =
            i128::from(n) * i128::from(TICKS_PER_SECOND) / i128::from(self.config.frame_rate);
        MediaTime::from_ticks(i64::try_from(ticks).unwrap_or(i64::MAX))
    }

    /// Number of participants.
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// Sets the participants, in tile order. A participant already present (same name and initials) keeps
    /// its last picture and, in speaker layouts, its place on the stage; a new one shows initials until its
    /// first picture. Allocates the new participants' tile caches (this is a layout change, not per frame).
    ///
    /// # Errors
    /// [`CodecError::InvalidConfig`] for more than [`MAX_PARTICIPANTS`]; the compositor is left unchanged.
    pub fn set_participants(&mut self, sources: &[TileSource]) -> Result<(), CodecError> {
        if sources.len() > MAX_PARTICIPANTS {
            return Err(CodecError::InvalidConfig(format!(
                "{} participants: the compositor draws at most {MAX_PARTICIPANTS}",
                sources.len()
            )));
        }
        let mut old: Vec<Option<Participant>> = self.participants.drain(..).map(Some).collect();
        let mut old_index = vec![None; old.len()];
        let mut fresh = Vec::with_capacity(sources.len());
        let mut new_parts = Vec::with_capacity(MAX_PARTICIPANTS);
        for (new_i, source) in sources.iter().enumerate() {
            let found = old
                .iter()
                .position(|p| p.as_ref().is_some_and(|p| &p.source == source));
            let part = match found.and_then(|i| old[i].take().map(|p| (i, p))) {
                Some((i, p)) => {
                    old_index[i] = Some(new_i);
                    fresh.push(false);
                    p
                }
                None => {
                    fresh.push(true);
                    Participant {
                        source: source.clone(),
                        colour: name_colour(&source.name),
                        tile: Tile::new(self.config.width, self.config.height)?,
                    }
                }
            };
            new_parts.push(part);
        }
        self.participants = new_parts;
        self.stage.remap(|i| old_index.get(i).copied().flatten());
        self.relayout(&fresh)
    }

    /// Scales participant `index`'s new picture into its tile (the picture can be reused right after). The
    /// tile shows it until the next call; call this when the source has a new picture, not per output frame.
    ///
    /// # Errors
    /// [`CodecError::InvalidConfig`] for an unknown index.
    pub fn update_picture(
        &mut self,
        index: usize,
        picture: &I420Picture,
    ) -> Result<(), CodecError> {
        let n = self.participants.len();
        let p = self
            .participants
            .get_mut(index)
            .ok_or_else(|| out_of_range(index, n))?;
        p.tile.update(picture, &mut self.scratch)
    }

    /// Participant `index`'s video stopped (camera off, stream removed): its tile shows initials again.
    ///
    /// # Errors
    /// [`CodecError::InvalidConfig`] for an unknown index.
    pub fn clear_picture(&mut self, index: usize) -> Result<(), CodecError> {
        let n = self.participants.len();
        let background = self.config.background;
        let p = self
            .participants
            .get_mut(index)
            .ok_or_else(|| out_of_range(index, n))?;
        if p.tile.src.take().is_some() {
            let rect = p.tile.rect;
            let initials = initials_text(&p.source);
            p.tile.place(
                rect,
                &mut self.scratch,
                Some((initials, p.colour)),
                background,
                true,
            )?;
        }
        Ok(())
    }

    /// The screen share's new picture (`Some`), or its end (`None`). Starting or ending a screen share changes
    /// the layout (the tiles move); a new picture of an ongoing share is scaled into its tile.
    pub fn update_screenshare(&mut self, picture: Option<&I420Picture>) -> Result<(), CodecError> {
        match picture {
            Some(p) => {
                if !self.screen_on {
                    self.screen_on = true;
                    self.screen.src = None;
                    self.relayout(&[])?;
                }
                self.screen.update(p, &mut self.scratch)
            }
            None => {
                if self.screen_on {
                    self.screen_on = false;
                    self.screen.src = None;
                    self.relayout(&[])?;
                }
                Ok(())
            }
        }
    }

    /// The dominant speaker changed at `at` (`None`: nobody, Teams' `0xFFFFFFFF`). In the speaker layouts the
    /// stage follows after the hold time (see [`StageSelector`] for the exact rule); the switch happens in the
    /// first call (this one or [`render`](Self::render)) whose time reaches it.
    ///
    /// # Errors
    /// [`CodecError::InvalidConfig`] for an unknown index.
    pub fn set_dominant(&mut self, index: Option<usize>, at: MediaTime) -> Result<(), CodecError> {
        let n = self.participants.len();
        if let Some(i) = index.filter(|&i| i >= n) {
            return Err(out_of_range(i, n));
        }
        if self.stage.report(index, at) {
            self.relayout(&[])?;
        }
        Ok(())
    }

    /// The participant on the stage in the speaker layouts (`None` in [`Layout::Grid`], when the screen share
    /// holds the stage, or without participants).
    pub fn stage_participant(&self) -> Option<usize> {
        let n = self.participants.len();
        match self.config.layout {
            Layout::Grid => None,
            Layout::ScreenShareFilmstrip if self.screen_on => None,
            _ if n == 0 => None,
            _ => Some(self.stage.shown().filter(|&i| i < n).unwrap_or(0)),
        }
    }

    /// Where participant `index` is drawn now (its whole tile, including any bars around a fitted picture).
    pub fn tile_of(&self, index: usize) -> Option<Rect> {
        self.participants.get(index).map(|p| p.tile.rect)
    }

    /// Where the screen share is drawn now, if one is shown.
    pub fn screenshare_tile(&self) -> Option<Rect> {
        self.screen_on.then_some(self.screen.rect)
    }

    /// Renders the frame at `at` into `out` (resized to the output size; no allocation once it has it):
    /// background, every tile's latest picture or initials, the name labels.
    pub fn render(&mut self, at: MediaTime, out: &mut I420Picture) -> Result<(), CodecError> {
        if self.stage.advance(at) {
            self.relayout(&[])?;
        }
        let (w, h) = (self.config.width, self.config.height);
        out.resize(w, h)?;
        draw::fill_rect(out, Rect::new(0, 0, w, h), self.config.background);
        if self.screen_on {
            let c = self.screen.content;
            if !c.is_empty() {
                draw::blit(&self.screen.cache, out, c.x, c.y);
            }
        }
        let border = if self.participants.len() + usize::from(self.screen_on) > 1 {
            layout::even((h / 360).max(2))
        } else {
            0
        };
        let bg = self.config.background;
        if self.screen_on {
            draw_border(out, self.screen.rect, border, bg);
        }
        for p in &self.participants {
            let c = p.tile.content;
            if c.is_empty() {
                continue;
            }
            draw::blit(&p.tile.cache, out, c.x, c.y);
            draw_border(out, p.tile.rect, border, bg);
            if self.config.labels {
                draw_label(out, p.tile.rect, &p.source.name);
            }
        }
        Ok(())
    }

    /// The slot (index into [`tiles`]) of participant `i`, or of the screen share for `None`.
    fn slot(&self, who: Option<usize>) -> usize {
        let n = self.participants.len();
        let speaker_stage = |i: usize| {
            let s = self.stage.shown().filter(|&s| s < n).unwrap_or(0);
            match i.cmp(&s) {
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Less => i + 1,
                std::cmp::Ordering::Greater => i,
            }
        };
        match (self.config.layout, who) {
            (Layout::Grid, Some(i)) => i,
            (Layout::Grid, None) => n,
            (Layout::ScreenShareFilmstrip, Some(i)) if self.screen_on => i + 1,
            (Layout::ScreenShareFilmstrip, None) => 0,
            (_, None) => n,
            (_, Some(i)) => speaker_stage(i),
        }
    }

    /// Recomputes every tile's rectangle and moves the caches (rescaling video, redrawing initials).
    /// `fresh[i]` forces participant `i`'s initials to be drawn (a new participant).
    fn relayout(&mut self, fresh: &[bool]) -> Result<(), CodecError> {
        let (w, h) = (self.config.width, self.config.height);
        let n = self.participants.len();
        let mut rects = std::mem::take(&mut self.rects);
        tiles_into(self.config.layout, n, self.screen_on, w, h, &mut rects);
        let background = self.config.background;
        for i in 0..n {
            let rect = rects.get(self.slot(Some(i))).copied().unwrap_or_default();
            let force = fresh.get(i).copied().unwrap_or(false);
            let p = &mut self.participants[i];
            let initials = initials_text(&p.source);
            p.tile.place(
                rect,
                &mut self.scratch,
                Some((initials, p.colour)),
                background,
                force,
            )?;
        }
        if self.screen_on {
            let rect = rects.get(self.slot(None)).copied().unwrap_or_default();
            self.screen
                .place(rect, &mut self.scratch, None, background, false)?;
        }
        self.rects = rects;
        Ok(())
    }
}

/// Paints a `width`-pixel frame of `colour` just inside `tile`: the visual gap between touching tiles.
fn draw_border(out: &mut I420Picture, tile: Rect, width: u32, colour: Yuv) {
    if width == 0 || tile.width <= 2 * width || tile.height <= 2 * width {
        return;
    }
    let Rect {
        x,
        y,
        width: w,
        height: h,
    } = tile;
    draw::fill_rect(out, Rect::new(x, y, w, width), colour);
    draw::fill_rect(out, Rect::new(x, y + h - width, w, width), colour);
    draw::fill_rect(out, Rect::new(x, y, width, h), colour);
    draw::fill_rect(out, Rect::new(x + w - width, y, width, h), colour);
}

/// Draws `name` in a dark box at the bottom-left of `tile`, truncated to the tile's width. Allocates nothing.
fn draw_label(out: &mut I420Picture, tile: Rect, name: &str) {
    if tile.height < 48 || tile.width < 48 || name.is_empty() {
        return;
    }
    let scale = if tile.height >= 300 { 2 } else { 1 };
    let pad = 2 * scale;
    let fit = draw::chars_fitting(tile.width.saturating_sub(4 * pad), scale);
    let shown = match name.char_indices().nth(fit) {
        Some((end, _)) => &name[..end],
        None => name,
    };
    let count = shown.chars().count() as u32;
    if count == 0 {
        return;
    }
    let box_w = count * 8 * scale + 2 * pad;
    let box_h = 8 * scale + 2 * pad;
    let x = tile.x + 2 * pad;
    let y = layout::even(tile.y + tile.height - box_h - 2 * pad);
    let label = Rect::new(x, y, box_w, box_h);
    draw::fill_rect(out, label, LABEL_BOX);
    draw::draw_text(out, shown, x + pad, y + pad, scale, Yuv::WHITE, label);
}

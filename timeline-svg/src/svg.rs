//! The speaker timeline as a standalone SVG ([`render_svg`]) and its public geometry and colours.

use std::fmt::Write as _;

use crate::input::{clamp_span, gap_span, presence, GapCause, TimelineInput};
use crate::quiet::{silent_spans, spoken_spans};
use crate::spans::{fit, Fitted, Span};

/// The participants' colours: row `i` is drawn in `PALETTE[i % PALETTE.len()]` ([`row_color`]). Distinct,
/// saturated, and none of them the red, orange or grey of the gaps.
pub const PALETTE: [&str; 12] = [
    "#1f77b4", // blue
    "#2ca02c", // green
    "#9467bd", // purple
    "#17becf", // cyan
    "#e377c2", // pink
    "#bcbd22", // olive
    "#8c564b", // brown
    "#000080", // navy
    "#008080", // teal
    "#f032e6", // magenta
    "#ffd700", // gold
    "#6b8e23", // olive drab
];

/// Audio sent but lost on the way (`inferred_loss`).
pub const INFERRED_LOSS_COLOR: &str = "#ff7f0e";
/// Audio dropped by the recorder (`dropped`).
pub const DROPPED_COLOR: &str = "#d62728";
/// A gap of unknown cause (`unclassified`).
pub const UNCLASSIFIED_COLOR: &str = "#9ca3af";
/// A participant's presence track (joined..left) behind the speech bars: where it shows, they were in the
/// call and silent (`nothing_sent`).
pub const PRESENCE_COLOR: &str = "#e5e7eb";
/// The opacity of a participant's colour where their audio was received but stayed silent
/// ([`crate::silent_spans`]): drawn over the presence track, a pale version of their colour.
pub const SILENT_OPACITY: &str = "0.3";
/// The band over a recording pause (drawn at 25 % opacity over all rows).
pub const PAUSE_COLOR: &str = "#374151";
/// The picture's background (opaque, so a pixel with nothing drawn is this colour).
pub const BACKGROUND_COLOR: &str = "#ffffff";

/// At most this many rectangles per layer of the picture (speech bars; gaps; recording pauses; the
/// dominant-speaker strip). Beyond it, spans of a layer closer than a threshold (starting at one pixel's
/// time, doubling) are merged into one rectangle with a `data-count` attribute telling how many it stands
/// for, and a note under the legend says so; the dominant strip is instead sampled at `MAX_RECTS` evenly
/// spaced instants.
pub const MAX_RECTS: usize = 20_000;

/// At most this many participant rows are drawn; a note under the legend counts the others.
pub const MAX_ROWS: usize = 500;

/// Sizes of the picture, in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvgOptions {
    /// Width of the whole picture (labels + plot area + right margin).
    pub width: u32,
    /// Height of one participant row.
    pub row_height: u32,
    /// Width of the label column on the left; the plot area starts there.
    pub label_width: u32,
    /// Space right of the plot area.
    pub right_margin: u32,
    /// Height of the time axis on top.
    pub axis_height: u32,
    /// Height of the dominant-speaker strip under the axis.
    pub dominant_height: u32,
    /// Font size of labels and ticks.
    pub font_size: u32,
    /// Draw the legend under the rows.
    pub legend: bool,
    /// Height of [`crate::waveform_svg`]'s picture.
    pub waveform_height: u32,
    /// Fill colour of [`crate::waveform_svg`]'s path (e.g. a [`row_color`]); escaped as an attribute.
    pub waveform_color: String,
}

impl Default for SvgOptions {
    /// 1000 px wide: labels 140, plot 844, margin 16; rows of 28 px; axis 24; dominant strip 12; font 12;
    /// legend on; waveform 64 px high in dark grey.
    fn default() -> Self {
        SvgOptions {
            width: 1000,
            row_height: 28,
            label_width: 140,
            right_margin: 16,
            axis_height: 24,
            dominant_height: 12,
            font_size: 12,
            legend: true,
            waveform_height: 64,
            waveform_color: "#4b5563".to_string(),
        }
    }
}

/// Space between the dominant strip and the first row, px.
const STRIP_SPACING: f64 = 6.0;
/// Speech bars, gaps and presence tracks are this share of the row height, centred.
const BAR_SHARE: f64 = 0.6;

/// The colour of row `i`: `PALETTE[i % PALETTE.len()]`.
///
/// # Examples
/// ```
/// use timeline_svg::{row_color, PALETTE};
/// assert_eq!(row_color(0), PALETTE[0]);
/// assert_eq!(row_color(PALETTE.len() + 1), PALETTE[1]);
/// ```
pub fn row_color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

pub(crate) fn plot_left(opts: &SvgOptions) -> f64 {
    f64::from(opts.label_width)
}

pub(crate) fn plot_right(opts: &SvgOptions) -> f64 {
    let right = f64::from(opts.width) - f64::from(opts.right_margin);
    right.max(plot_left(opts) + 1.0)
}

/// The x of instant `t_us` in the picture: the plot area spans `[label_width, width - right_margin]` for
/// `[0, duration_us]`; `t_us` is clamped to the recording (a non-positive duration maps all to the left).
///
/// # Examples
/// ```
/// use timeline_svg::{x_of, SvgOptions};
/// let o = SvgOptions::default();
/// assert_eq!(x_of(0, 60_000_000, &o), 140.0);
/// assert_eq!(x_of(60_000_000, 60_000_000, &o), 984.0);
/// assert_eq!(x_of(-5, 60_000_000, &o), 140.0);
/// assert_eq!(x_of(15_000_000, 60_000_000, &o), 140.0 + 844.0 / 4.0);
/// ```
pub fn x_of(t_us: i64, duration_us: i64, opts: &SvgOptions) -> f64 {
    let left = plot_left(opts);
    if duration_us <= 0 {
        return left;
    }
    let share = t_us.clamp(0, duration_us) as f64 / duration_us as f64;
    left + share * (plot_right(opts) - left)
}

/// The y of the middle of the dominant-speaker strip.
///
/// # Examples
/// ```
/// use timeline_svg::{dominant_center_y, SvgOptions};
/// assert_eq!(dominant_center_y(&SvgOptions::default()), 24.0 + 6.0);
/// ```
pub fn dominant_center_y(opts: &SvgOptions) -> f64 {
    f64::from(opts.axis_height) + f64::from(opts.dominant_height) / 2.0
}

fn rows_top(opts: &SvgOptions) -> f64 {
    f64::from(opts.axis_height) + f64::from(opts.dominant_height) + STRIP_SPACING
}

/// The y of the middle of participant row `i` (where its speech bars and gaps are drawn).
///
/// # Examples
/// ```
/// use timeline_svg::{row_center_y, SvgOptions};
/// let o = SvgOptions::default();
/// assert_eq!(row_center_y(0, &o), 24.0 + 12.0 + 6.0 + 14.0);
/// assert_eq!(row_center_y(2, &o) - row_center_y(1, &o), 28.0);
/// ```
pub fn row_center_y(i: usize, opts: &SvgOptions) -> f64 {
    let h = f64::from(opts.row_height);
    rows_top(opts) + i as f64 * h + h / 2.0
}

/// XML text and attribute escaping; characters XML 1.0 does not allow become U+FFFD.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most 2 decimals and no trailing zeros (deterministic).
pub(crate) fn n(x: f64) -> String {
    let x = if x.is_finite() { x } else { 0.0 };
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// `mm:ss` (or `h:mm:ss` when `hours`), with `frac` decimals of seconds (0–3).
fn clock(t_us: i64, hours: bool, frac: u32) -> String {
    let t = t_us.max(0);
    let secs = t / 1_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = if hours {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{:02}:{s:02}", secs / 60)
    };
    if frac > 0 {
        let sub = (t % 1_000_000) / 10_i64.pow(6 - frac.min(3));
        let _ = write!(out, ".{sub:0width$}", width = frac.min(3) as usize);
    }
    out
}

/// A span's tooltip time: `00:08.940–00:15.240` (hours when the recording has them).
fn span_text(start: i64, end: i64, hours: bool) -> String {
    format!("{}–{}", clock(start, hours, 3), clock(end, hours, 3))
}

/// The tick step for a recording: a "nice" step giving at most one tick per 70 px (and 200 in all).
fn tick_step(duration_us: i64, plot_width: f64) -> i64 {
    const S: i64 = 1_000_000;
    const NICE: [i64; 21] = [
        100_000,
        200_000,
        500_000,
        S,
        2 * S,
        5 * S,
        10 * S,
        15 * S,
        30 * S,
        60 * S,
        120 * S,
        300 * S,
        600 * S,
        900 * S,
        1800 * S,
        3600 * S,
        7200 * S,
        10800 * S,
        21600 * S,
        43200 * S,
        86400 * S,
    ];
    // At most 200 ticks however wide the picture.
    let max_ticks = ((plot_width / 70.0) as i64).clamp(1, 200);
    NICE.into_iter()
        .find(|&step| duration_us / step <= max_ticks)
        .unwrap_or_else(|| {
            let day = 86400 * S;
            (duration_us / max_ticks / day)
                .saturating_add(1)
                .saturating_mul(day)
        })
}

fn rect(out: &mut String, x0: f64, x1: f64, y: f64, h: f64, fill: &str, min_w: f64) {
    let _ = write!(
        out,
        r#" x="{}" y="{}" width="{}" height="{}" fill="{fill}""#,
        n(x0),
        n(y),
        n((x1 - x0).max(min_w)),
        n(h)
    );
}

/// Writes `<rect class=… data-…>` with its tooltip.
#[allow(clippy::too_many_arguments)]
fn span_rect(
    out: &mut String,
    class: &str,
    row: Option<usize>,
    s: &Span,
    geom: (f64, f64, f64, f64),
    fill: &str,
    extra: &str,
    tooltip: &str,
) {
    let (x0, x1, y, h) = geom;
    let _ = write!(out, r#"<rect class="{class}""#);
    if let Some(r) = row {
        let _ = write!(out, r#" data-row="{r}""#);
    }
    let _ = write!(
        out,
        r#" data-start-us="{}" data-end-us="{}""#,
        s.start, s.end
    );
    if s.count > 1 {
        let _ = write!(out, r#" data-count="{}""#, s.count);
    }
    rect(out, x0, x1, y, h, fill, 1.0);
    let _ = write!(out, "{extra}><title>{}", esc(tooltip));
    if s.count > 1 {
        let _ = write!(out, " ({} merged)", s.count);
    }
    out.push_str("</title></rect>\n");
}

/// The dominant strip's segments: `(start, end, row)` for every span someone held the floor.
fn dominant_segments(input: &TimelineInput, d: i64) -> Vec<(i64, i64, usize)> {
    let mut changes: Vec<(i64, Option<usize>)> = input
        .dominant
        .iter()
        .map(|&(at, who)| (at.clamp(0, d), who))
        .collect();
    changes.sort_by_key(|c| c.0); // stable: of changes at one instant the last one holds
    let owner_at = |t: i64| -> Option<usize> {
        let k = changes.partition_point(|c| c.0 <= t);
        k.checked_sub(1)
            .and_then(|k| changes.get(k))
            .and_then(|c| c.1)
    };
    let mut segs: Vec<(i64, i64, usize)> = Vec::new();
    let mut push = |s: i64, e: i64, who: Option<usize>| {
        let Some(who) = who else { return };
        match segs.last_mut() {
            Some(last) if last.2 == who && last.1 == s => last.1 = e,
            _ if e > s => segs.push((s, e, who)),
            _ => {}
        }
    };
    let nchanges = changes.len();
    if nchanges <= MAX_RECTS {
        for (k, &(at, who)) in changes.iter().enumerate() {
            let end = changes.get(k + 1).map_or(d, |c| c.0);
            push(at, end, who);
        }
    } else {
        // Too many changes to draw: the owner at the middle of each of MAX_RECTS equal slices.
        let slices = MAX_RECTS as i128;
        let at = |j: i128| (i128::from(d) * j / slices) as i64;
        for j in 0..slices {
            let mid = (i128::from(d) * (2 * j + 1) / (2 * slices)) as i64;
            push(at(j), at(j + 1), owner_at(mid));
        }
    }
    segs
}

fn note_for(what: &str, f: &Fitted, hours: bool) -> Option<String> {
    let sep = f.sep_us?;
    Some(format!(
        "{} {what} drawn as {} rectangles: spans less than {} apart merged (at most {MAX_RECTS} per layer)",
        f.spans,
        f.drawn,
        clock(sep, hours, 3)
    ))
}

/// Renders the speaker timeline as a standalone SVG document (ends with a newline).
///
/// Layout, top to bottom: the time axis (ticks labelled `mm:ss`, or `h:mm:ss` from an hour on, with
/// vertical grid lines); the dominant-speaker strip (each span in the dominant participant's
/// [`row_color`], class `dominant`); one row per participant (at most [`MAX_ROWS`]) with its colour swatch
/// and label, a [`PRESENCE_COLOR`] track from join to leave, speech bars ([`crate::spoken_spans`]) in the
/// row's colour (class `speech`), received silence ([`crate::silent_spans`]) in it at [`SILENT_OPACITY`]
/// (class `silent`) and gaps by cause (classes `gap-inferred_loss` in [`INFERRED_LOSS_COLOR`],
/// `gap-dropped` in [`DROPPED_COLOR`], `gap-unclassified` in [`UNCLASSIFIED_COLOR`]; a `nothing_sent` gap
/// is only a pause, shown by the track between bars); recording pauses as a [`PAUSE_COLOR`] band over the
/// strip and all rows (class `pause`); then the legend and notes (rows not drawn, spans merged).
///
/// Every bar, gap, pause and strip span is a `<rect>` with `data-start-us` and `data-end-us` (µs, clamped
/// to the recording), `data-row` (row index) where it belongs to a row, `data-count` when it stands for
/// several merged spans (see [`MAX_RECTS`]) and a `<title>` tooltip. All text from the input is
/// XML-escaped. The x of an instant is [`x_of`], the middle of a row [`row_center_y`]; bars are at least
/// 1 px wide.
///
/// # Examples
/// ```
/// use timeline_svg::{render_svg, row_color, GapCause, GapInput, RowInput, SvgOptions, TimelineInput};
/// let input = TimelineInput {
///     duration_us: 10_000_000,
///     participants: vec![RowInput {
///         name: "bob".into(),
///         label: "Bob & Co".into(),
///         joined_us: Some(2_000_000),
///         left_us: None,
///         gaps: vec![GapInput { start_us: 5_000_000, length_us: 1_000_000, cause: GapCause::InferredLoss }],
///         quiet: vec![(6_000_000, 7_500_000)], // its stem stayed silent there: drawn pale
///     }],
///     dominant: vec![(2_000_000, Some(0))],
///     pauses: vec![(8_000_000, 9_000_000)],
/// };
/// let svg = render_svg(&input, &SvgOptions::default());
/// assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg""#));
/// assert_eq!(svg.matches(r#"<rect class="speech""#).count(), 2); // 2–5 s and 7.5–10 s
/// assert!(svg.contains(r#"data-start-us="2000000" data-end-us="5000000""#));
/// assert!(svg.contains(r#"<rect class="silent" data-row="0" data-start-us="6000000" data-end-us="7500000""#));
/// assert!(svg.contains(r#"<rect class="gap-inferred_loss" data-row="0" data-start-us="5000000""#));
/// assert!(svg.contains(r#"<rect class="pause" data-start-us="8000000" data-end-us="9000000""#));
/// assert!(svg.contains(&format!(r#"fill="{}""#, row_color(0))));
/// assert!(svg.contains("Bob &amp; Co") && !svg.contains("Bob & Co"));
/// ```
pub fn render_svg(input: &TimelineInput, opts: &SvgOptions) -> String {
    let d = input.duration_us.max(0);
    let hours = d >= 3_600_000_000;
    let (left, right) = (plot_left(opts), plot_right(opts));
    let x = |t: i64| x_of(t, d, opts);
    // One pixel's time: where merging for the cap starts.
    let px_us = (d as f64 / (right - left)).ceil() as i64;
    let font = f64::from(opts.font_size);
    let row_h = f64::from(opts.row_height);
    let bar_h = row_h * BAR_SHARE;
    let rows = &input.participants[..input.participants.len().min(MAX_ROWS)];
    let rows_bottom = rows_top(opts) + rows.len() as f64 * row_h;
    let mut notes = Vec::new();
    if input.participants.len() > rows.len() {
        notes.push(format!(
            "{} more participants not drawn (at most {MAX_ROWS} rows)",
            input.participants.len() - rows.len()
        ));
    }

    // The layers, each fitted under MAX_RECTS.
    let one = |(start, end): (i64, i64)| Span {
        start,
        end,
        count: 1,
    };
    let mut speech: Vec<Vec<Span>> = rows
        .iter()
        .map(|r| spoken_spans(r, d).into_iter().map(one).collect())
        .collect();
    let mut silent: Vec<Vec<Span>> = rows
        .iter()
        .map(|r| silent_spans(r, d).into_iter().map(one).collect())
        .collect();
    let drawn_causes = [
        GapCause::Unclassified,
        GapCause::InferredLoss,
        GapCause::Dropped,
    ];
    let mut gaps: Vec<Vec<Span>> = rows
        .iter()
        .flat_map(|r| {
            drawn_causes.iter().map(move |&c| {
                r.gaps
                    .iter()
                    .filter(|g| g.cause == c)
                    .filter_map(|g| gap_span(g, d))
                    .map(one)
                    .collect()
            })
        })
        .collect();
    let mut pauses = vec![input
        .pauses
        .iter()
        .filter_map(|&(s, e)| clamp_span(s, e, d))
        .map(one)
        .collect::<Vec<_>>()];
    let fitted = [
        ("speech spans", fit(&mut speech, MAX_RECTS, px_us)),
        ("silent spans", fit(&mut silent, MAX_RECTS, px_us)),
        ("gaps", fit(&mut gaps, MAX_RECTS, px_us)),
        ("recording pauses", fit(&mut pauses, MAX_RECTS, px_us)),
    ];
    notes.extend(fitted.iter().filter_map(|(w, f)| note_for(w, f, hours)));
    let dominant = dominant_segments(input, d);

    // Legend layout (wraps at the picture's width).
    let legend_items: [(&str, &str, &str); 7] = [
        ("speech (participant colour)", row_color(0), "1"),
        ("audio received, silent", row_color(0), SILENT_OPACITY),
        ("pause in speech (nothing sent)", PRESENCE_COLOR, "1"),
        ("audio lost on the way", INFERRED_LOSS_COLOR, "1"),
        ("dropped by the recorder", DROPPED_COLOR, "1"),
        ("gap, cause unknown", UNCLASSIFIED_COLOR, "1"),
        ("recording paused", PAUSE_COLOR, "0.25"),
    ];
    let line_h = font + 8.0;
    let mut legend_pos = Vec::new();
    let (mut lx, mut ly) = (8.0, rows_bottom + 10.0);
    if opts.legend {
        for (label, ..) in &legend_items {
            let w = 18.0 + label.chars().count() as f64 * font * 0.6 + 16.0;
            if lx > 8.0 && lx + w > f64::from(opts.width) {
                lx = 8.0;
                ly += line_h;
            }
            legend_pos.push((lx, ly));
            lx += w;
        }
        ly += line_h;
    }
    let notes_top = ly;
    let height = (notes_top + notes.len() as f64 * line_h + 4.0).ceil();
    let width = opts.width;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" font-family="sans-serif" font-size="{fs}" data-duration-us="{d}">"#,
        h = n(height),
        fs = opts.font_size
    );
    let _ = writeln!(
        out,
        "<title>Speaker timeline, {} participants, {}</title>",
        input.participants.len(),
        clock(d, hours, 3)
    );
    let _ = writeln!(
        out,
        r#"<rect class="background" x="0" y="0" width="{width}" height="{}" fill="{BACKGROUND_COLOR}"/>"#,
        n(height)
    );

    // Axis: tick labels on top, grid lines down through the rows.
    out.push_str("<g class=\"axis\">\n");
    let step = tick_step(d, right - left);
    let frac = u32::from(step < 1_000_000);
    let label_y = f64::from(opts.axis_height) - 8.0;
    let mut t = 0_i64;
    loop {
        let tx = x(t);
        let label = clock(t, hours, frac);
        // Centred on its tick, unless that would cut it at an edge of the picture.
        let half_w = label.chars().count() as f64 * font * 0.3;
        let anchor = if tx - half_w < 0.0 || t == 0 {
            "start"
        } else if tx + half_w > f64::from(opts.width) {
            "end"
        } else {
            "middle"
        };
        let _ = writeln!(
            out,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#d1d5db" stroke-width="1"/><text x="{0}" y="{3}" text-anchor="{anchor}" fill="#374151">{4}</text>"##,
            n(tx),
            n(f64::from(opts.axis_height) - 4.0),
            n(rows_bottom),
            n(label_y),
            label
        );
        match t.checked_add(step) {
            Some(next) if next <= d && d > 0 => t = next,
            _ => break,
        }
    }
    out.push_str("</g>\n");

    // Dominant-speaker strip.
    let strip_y = f64::from(opts.axis_height);
    let strip_h = f64::from(opts.dominant_height);
    let _ = writeln!(
        out,
        r##"<g class="dominant-strip"><text x="8" y="{}" fill="#374151">Dominant</text>"##,
        n(dominant_center_y(opts) + font / 3.0)
    );
    for &(s, e, who) in &dominant {
        let name = input
            .participants
            .get(who)
            .map_or_else(|| format!("participant {who}"), |p| p.label.clone());
        let tip = format!("{name} dominant {}", span_text(s, e, hours));
        let span = one((s, e));
        span_rect(
            &mut out,
            "dominant",
            Some(who),
            &span,
            (x(s), x(e), strip_y, strip_h),
            row_color(who),
            "",
            &tip,
        );
    }
    out.push_str("</g>\n");

    // Rows.
    for (i, row) in rows.iter().enumerate() {
        let cy = row_center_y(i, opts);
        let bar_y = cy - bar_h / 2.0;
        let color = row_color(i);
        let _ = writeln!(
            out,
            r#"<g class="row" data-row="{i}" data-name="{}">"#,
            esc(&row.name)
        );
        let max_chars = ((f64::from(opts.label_width) - 26.0) / (font * 0.6)).max(1.0) as usize;
        let mut label: String = row.label.chars().take(max_chars).collect();
        if row.label.chars().count() > max_chars {
            label.pop();
            label.push('…');
        }
        let _ = writeln!(
            out,
            r##"<rect class="swatch" x="6" y="{}" width="10" height="10" fill="{color}"/><text class="label" x="22" y="{}" fill="#111827"><title>{} ({})</title>{}</text>"##,
            n(cy - 5.0),
            n(cy + font / 3.0),
            esc(&row.label),
            esc(&row.name),
            esc(&label)
        );
        if let Some((s, e)) = presence(row, d) {
            let _ = write!(
                out,
                r#"<rect class="presence" data-row="{i}" data-start-us="{s}" data-end-us="{e}""#
            );
            rect(&mut out, x(s), x(e), bar_y, bar_h, PRESENCE_COLOR, 0.0);
            let _ = writeln!(
                out,
                "><title>{} in the call {}</title></rect>",
                esc(&row.label),
                span_text(s, e, hours)
            );
        }
        for s in speech.get(i).into_iter().flatten() {
            let tip = format!("{} spoke {}", row.label, span_text(s.start, s.end, hours));
            let geom = (x(s.start), x(s.end), bar_y, bar_h);
            span_rect(&mut out, "speech", Some(i), s, geom, color, "", &tip);
        }
        let pale = format!(r#" fill-opacity="{SILENT_OPACITY}""#);
        for s in silent.get(i).into_iter().flatten() {
            let tip = format!(
                "{}: audio received, silent {}",
                row.label,
                span_text(s.start, s.end, hours)
            );
            let geom = (x(s.start), x(s.end), bar_y, bar_h);
            span_rect(&mut out, "silent", Some(i), s, geom, color, &pale, &tip);
        }
        for (k, cause) in drawn_causes.iter().enumerate() {
            let fill = match cause {
                GapCause::InferredLoss => INFERRED_LOSS_COLOR,
                GapCause::Dropped => DROPPED_COLOR,
                _ => UNCLASSIFIED_COLOR,
            };
            let class = format!("gap-{}", cause.name());
            for s in gaps.get(i * drawn_causes.len() + k).into_iter().flatten() {
                let tip = format!(
                    "{}: {} {} ({} ms)",
                    row.label,
                    cause.name().replace('_', " "),
                    span_text(s.start, s.end, hours),
                    (s.end - s.start) / 1000
                );
                let geom = (x(s.start), x(s.end), bar_y, bar_h);
                span_rect(&mut out, &class, Some(i), s, geom, fill, "", &tip);
            }
        }
        out.push_str("</g>\n");
    }

    // Recording pauses over the strip and all rows.
    out.push_str("<g class=\"pauses\">\n");
    for s in pauses.iter().flatten() {
        let tip = format!("recording paused {}", span_text(s.start, s.end, hours));
        let geom = (x(s.start), x(s.end), strip_y, rows_bottom - strip_y);
        span_rect(
            &mut out,
            "pause",
            None,
            s,
            geom,
            PAUSE_COLOR,
            r#" fill-opacity="0.25""#,
            &tip,
        );
    }
    out.push_str("</g>\n");

    // Legend and notes.
    if opts.legend {
        out.push_str("<g class=\"legend\">\n");
        for ((label, fill, opacity), (lx, ly)) in legend_items.iter().zip(&legend_pos) {
            let _ = writeln!(
                out,
                r##"<rect x="{}" y="{}" width="12" height="12" fill="{fill}" fill-opacity="{opacity}" stroke="#9ca3af" stroke-width="0.5"/><text x="{}" y="{}" fill="#374151">{label}</text>"##,
                n(*lx),
                n(ly - font * 0.8),
                n(lx + 18.0),
                n(*ly),
            );
        }
        out.push_str("</g>\n");
    }
    for (k, note) in notes.iter().enumerate() {
        let _ = writeln!(
            out,
            r##"<text class="note" x="8" y="{}" fill="#6b7280">{}</text>"##,
            n(notes_top + k as f64 * line_h),
            esc(note)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_formats() {
        assert_eq!(clock(0, false, 0), "00:00");
        assert_eq!(clock(61_500_000, false, 1), "01:01.5");
        assert_eq!(clock(3_723_000_000, true, 0), "1:02:03");
        assert_eq!(clock(8_940_000, false, 3), "00:08.940");
        assert!(clock(i64::MAX, true, 3).starts_with("2562047788:"));
    }

    #[test]
    fn ticks_are_nice_and_few() {
        assert_eq!(tick_step(60_000_000, 844.0), 5_000_000);
        assert_eq!(tick_step(3_600_000_000, 844.0), 300_000_000);
        assert_eq!(tick_step(1_000_000, 844.0), 100_000);
        assert!(i64::MAX / tick_step(i64::MAX, 844.0) <= 12);
    }

    #[test]
    fn escaping_replaces_what_xml_forbids() {
        assert_eq!(
            esc("a<b>&\"'\u{0}\u{FFFF}"),
            "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}\u{FFFD}"
        );
        assert_eq!(n(1.0), "1");
        assert_eq!(n(-0.001), "0");
        assert_eq!(n(12.346), "12.35");
    }
}

//! A participant's waveform as a standalone SVG on the timeline's x axis ([`waveform_svg`]).

use std::fmt::Write as _;

use crate::peaks::Peaks;
use crate::svg::{esc, n, plot_left, plot_right, x_of, SvgOptions, BACKGROUND_COLOR};

/// At most this many columns (points per edge) in a waveform path.
const MAX_COLUMNS: usize = 20_000;

/// Draws peaks as a mirrored filled path (symmetric about the middle line, height ∝ the peak) in
/// `opts.waveform_color`, as a standalone SVG `opts.width` × `opts.waveform_height` px. Its x axis is the
/// timeline's ([`x_of`] for `duration_us`), so drawn under [`crate::render_svg`]'s picture of the same
/// options the two line up. The plot area is split into columns (one per pixel, at most 20,000), each
/// drawn at the max of the buckets it overlaps; buckets past `duration_us` are not drawn.
///
/// # Examples
/// ```
/// use timeline_svg::{waveform_svg, Peaks, SvgOptions};
/// let peaks = Peaks { bucket_us: 500_000, sample_rate: 16_000, values: vec![255, 0, 128, 0] };
/// let svg = waveform_svg(&peaks, 2_000_000, &SvgOptions::default());
/// assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
/// assert!(svg.contains(r#"<path class="waveform" d="M140 32 L"#));
/// // The loud first quarter reaches the top (1 px margin), the silent second stays on the middle line.
/// assert!(svg.contains(" L140.5 1 "));
/// assert!(svg.contains(" L351.5 32 "));
/// ```
pub fn waveform_svg(peaks: &Peaks, duration_us: i64, opts: &SvgOptions) -> String {
    let d = duration_us.max(0);
    let (left, right) = (plot_left(opts), plot_right(opts));
    let height = f64::from(opts.waveform_height);
    let mid = height / 2.0;
    let half = (mid - 1.0).max(0.0);
    let ncols = ((right - left).ceil() as usize).clamp(1, MAX_COLUMNS);
    let col_w = (right - left) / ncols as f64;
    let mut cols = vec![0_u8; ncols];
    if d > 0 && peaks.bucket_us > 0 {
        for (k, &v) in peaks.values.iter().enumerate() {
            let start = i64::try_from(k)
                .unwrap_or(i64::MAX)
                .saturating_mul(peaks.bucket_us);
            if start >= d {
                break;
            }
            let end = start.saturating_add(peaks.bucket_us).min(d);
            let c0 = ((x_of(start, d, opts) - left) / col_w).floor() as usize;
            let c1 = ((x_of(end, d, opts) - left) / col_w).ceil() as usize;
            for c in cols
                .iter_mut()
                .take(c1.max(c0 + 1).min(ncols))
                .skip(c0.min(ncols - 1))
            {
                *c = (*c).max(v);
            }
        }
    }
    let y = |v: u8, sign: f64| mid + sign * half * f64::from(v) / 255.0;
    let cx = |c: usize| left + (c as f64 + 0.5) * col_w;
    let mut path = format!("M{} {}", n(left), n(mid));
    for (c, &v) in cols.iter().enumerate() {
        let _ = write!(path, " L{} {}", n(cx(c)), n(y(v, -1.0)));
    }
    let _ = write!(path, " L{} {}", n(right), n(mid));
    for (c, &v) in cols.iter().enumerate().rev() {
        let _ = write!(path, " L{} {}", n(cx(c)), n(y(v, 1.0)));
    }
    path.push_str(" Z");
    let w = opts.width;
    let h = opts.waveform_height;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" data-duration-us="{d}" data-bucket-us="{}">"#,
        peaks.bucket_us
    );
    let _ = writeln!(
        out,
        r#"<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="{BACKGROUND_COLOR}"/>"#
    );
    let _ = writeln!(
        out,
        r##"<line class="waveform-axis" x1="{}" y1="{m}" x2="{}" y2="{m}" stroke="#d1d5db" stroke-width="1"/>"##,
        n(left),
        n(right),
        m = n(mid)
    );
    let _ = writeln!(
        out,
        r#"<path class="waveform" d="{path}" fill="{}"/>"#,
        esc(&opts.waveform_color)
    );
    out.push_str("</svg>\n");
    out
}

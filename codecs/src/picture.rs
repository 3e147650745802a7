//! Raw pictures: the planar [`I420Picture`] every codec here speaks, NV12 <-> I420 conversion, and bilinear
//! scaling for compositing and for restoring a sender's `OriginalVideoFormat`.
//!
//! Nothing here allocates once the destination picture has its size: [`I420Picture::resize`] reuses the
//! picture's buffer, and [`scale_into`], [`nv12_to_i420`] and [`i420_to_nv12`] write into what they are given.

use crate::CodecError;

/// The largest width or height this crate accepts for any picture (and any SPS): 8192 pixels.
pub const MAX_PICTURE_DIMENSION: u32 = 8192;

/// A planar YUV 4:2:0 picture (I420): a full-size Y plane, then U and V planes of `ceil(w/2) x ceil(h/2)`,
/// tightly packed (stride = plane width) in one buffer.
///
/// # Examples
/// ```
/// use codecs::picture::I420Picture;
/// let mut p = I420Picture::new(4, 2).unwrap();
/// p.y_mut().fill(200);
/// assert_eq!((p.chroma_width(), p.chroma_height()), (2, 1));
/// assert_eq!(p.as_bytes().len(), 4 * 2 + 2 * (2 * 1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct I420Picture {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

fn check_dimensions(width: u32, height: u32) -> Result<(), CodecError> {
    if width == 0 || height == 0 || width > MAX_PICTURE_DIMENSION || height > MAX_PICTURE_DIMENSION
    {
        return Err(CodecError::InvalidConfig(format!(
            "picture size {width}x{height} outside 1..={MAX_PICTURE_DIMENSION}"
        )));
    }
    Ok(())
}

impl I420Picture {
    /// A black picture (Y = 16, U = V = 128, video range) of the given size.
    pub fn new(width: u32, height: u32) -> Result<Self, CodecError> {
        let mut p = I420Picture {
            width: 0,
            height: 0,
            data: Vec::new(),
        };
        p.resize(width, height)?;
        Ok(p)
    }

    /// Changes the size, reusing the buffer (it only grows when the new size needs more bytes). Pixel contents
    /// are unspecified afterwards unless the size grew (new bytes are black); callers overwrite them.
    pub fn resize(&mut self, width: u32, height: u32) -> Result<(), CodecError> {
        check_dimensions(width, height)?;
        if width == self.width && height == self.height {
            return Ok(());
        }
        self.width = width;
        self.height = height;
        let luma = self.luma_len();
        let total = luma + 2 * self.chroma_len();
        self.data.resize(total, 128);
        self.data[..luma].fill(16);
        Ok(())
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Width of the U and V planes: `ceil(width / 2)`.
    pub fn chroma_width(&self) -> u32 {
        self.width.div_ceil(2)
    }
    /// Height of the U and V planes: `ceil(height / 2)`.
    pub fn chroma_height(&self) -> u32 {
        self.height.div_ceil(2)
    }
    fn luma_len(&self) -> usize {
        self.width as usize * self.height as usize
    }
    fn chroma_len(&self) -> usize {
        self.chroma_width() as usize * self.chroma_height() as usize
    }
    /// The Y plane (`width` bytes per row).
    pub fn y(&self) -> &[u8] {
        &self.data[..self.luma_len()]
    }
    /// The U (Cb) plane (`chroma_width` bytes per row).
    pub fn u(&self) -> &[u8] {
        let l = self.luma_len();
        &self.data[l..l + self.chroma_len()]
    }
    /// The V (Cr) plane (`chroma_width` bytes per row).
    pub fn v(&self) -> &[u8] {
        let l = self.luma_len() + self.chroma_len();
        &self.data[l..l + self.chroma_len()]
    }
    /// The Y plane, writable.
    pub fn y_mut(&mut self) -> &mut [u8] {
        let l = self.luma_len();
        &mut self.data[..l]
    }
    /// All three planes, writable at once: `(y, u, v)`.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let l = self.luma_len();
        let c = self.chroma_len();
        let (y, rest) = self.data.split_at_mut(l);
        let (u, v) = rest.split_at_mut(c);
        (y, &mut u[..c], &mut v[..c])
    }
    /// The whole picture as I420 bytes (Y, then U, then V).
    pub fn as_bytes(&self) -> &[u8] {
        &self.data[..self.luma_len() + 2 * self.chroma_len()]
    }
    /// Mean of the Y plane (0–255): handy to spot black or white frames.
    pub fn mean_luma(&self) -> f64 {
        let y = self.y();
        if y.is_empty() {
            return 0.0;
        }
        y.iter().map(|&v| u64::from(v)).sum::<u64>() as f64 / y.len() as f64
    }

    /// Fills the picture from three planes with arbitrary strides (e.g. a decoder's output), resizing first.
    pub fn copy_from_planes(
        &mut self,
        width: u32,
        height: u32,
        planes: [&[u8]; 3],
        strides: [usize; 3],
    ) -> Result<(), CodecError> {
        self.resize(width, height)?;
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (self.chroma_width() as usize, self.chroma_height() as usize);
        let dims = [(w, h), (cw, ch), (cw, ch)];
        for i in 0..3 {
            let (pw, ph) = dims[i];
            let needed = strides[i]
                .checked_mul(ph - 1)
                .and_then(|v| v.checked_add(pw));
            if strides[i] < pw || needed.is_none_or(|n| planes[i].len() < n) {
                return Err(CodecError::SizeMismatch(format!(
                    "plane {i}: {} bytes with stride {} cannot hold {pw}x{ph}",
                    planes[i].len(),
                    strides[i]
                )));
            }
        }
        let (y, u, v) = self.planes_mut();
        for (i, dst) in [y, u, v].into_iter().enumerate() {
            let pw = dims[i].0;
            for (row, d) in dst.chunks_exact_mut(pw).enumerate() {
                let s = row * strides[i];
                d.copy_from_slice(&planes[i][s..s + pw]);
            }
        }
        Ok(())
    }
}

/// Bytes of a tightly packed NV12 picture of this size as written by [`i420_to_nv12`] (row stride
/// `2 * ceil(width / 2)`).
pub fn nv12_len(width: u32, height: u32) -> usize {
    let stride = 2 * width.div_ceil(2) as usize;
    stride * height as usize + stride * height.div_ceil(2) as usize
}

/// Converts an NV12 buffer (Y plane of `stride` bytes per row, then interleaved UV rows of `stride` bytes, as
/// Teams delivers raw video) into `dst`, which is resized to `width x height`.
pub fn nv12_to_i420(
    src: &[u8],
    width: u32,
    height: u32,
    stride: u32,
    dst: &mut I420Picture,
) -> Result<(), CodecError> {
    check_dimensions(width, height)?;
    let (w, h, s) = (width as usize, height as usize, stride as usize);
    let cw = w.div_ceil(2);
    let ch = h.div_ceil(2);
    let uv_row = 2 * cw;
    let needed = s * h + s * (ch - 1) + uv_row;
    if src.len() < needed || s < uv_row {
        return Err(CodecError::SizeMismatch(format!(
            "NV12 {w}x{h} stride {s} needs {needed} bytes (and stride >= {uv_row}), got {}",
            src.len()
        )));
    }
    dst.resize(width, height)?;
    let (y, u, v) = dst.planes_mut();
    for (row, d) in y.chunks_exact_mut(w).enumerate() {
        d.copy_from_slice(&src[row * s..row * s + w]);
    }
    let uv = &src[s * h..];
    for row in 0..ch {
        let line = &uv[row * s..row * s + uv_row];
        let ud = &mut u[row * cw..(row + 1) * cw];
        let vd = &mut v[row * cw..(row + 1) * cw];
        for ((pair, du), dv) in line.chunks_exact(2).zip(ud.iter_mut()).zip(vd.iter_mut()) {
            *du = pair[0];
            *dv = pair[1];
        }
    }
    Ok(())
}

/// Converts `src` into tightly packed NV12 (row stride `2 * ceil(width / 2)`); `dst` must be exactly
/// [`nv12_len`] bytes.
pub fn i420_to_nv12(src: &I420Picture, dst: &mut [u8]) -> Result<(), CodecError> {
    let needed = nv12_len(src.width, src.height);
    if dst.len() != needed {
        return Err(CodecError::SizeMismatch(format!(
            "NV12 output of {}x{} needs {needed} bytes, got {}",
            src.width,
            src.height,
            dst.len()
        )));
    }
    let w = src.width as usize;
    let h = src.height as usize;
    let cw = src.chroma_width() as usize;
    let stride = 2 * cw;
    let (ydst, uvdst) = dst.split_at_mut(stride * h);
    for (row, d) in ydst.chunks_exact_mut(stride).enumerate() {
        d[..w].copy_from_slice(&src.y()[row * w..(row + 1) * w]);
        if stride > w {
            d[w] = d[w - 1];
        }
    }
    let (u, v) = (src.u(), src.v());
    for (row, d) in uvdst.chunks_exact_mut(stride).enumerate() {
        let us = &u[row * cw..(row + 1) * cw];
        let vs = &v[row * cw..(row + 1) * cw];
        for ((pair, &a), &b) in d.chunks_exact_mut(2).zip(us).zip(vs) {
            pair[0] = a;
            pair[1] = b;
        }
    }
    Ok(())
}

/// Scales `src` into `dst` at `dst`'s current size. Allocates nothing.
///
/// Up-scaling and reductions up to 2x are bilinear with pixel centres aligned (an exact 2:1 reduction averages
/// 2x2 blocks, the same filter on a fast path); reductions beyond 2x in either direction average the source
/// block behind each destination pixel (area filter), so fine detail such as screen-share text does not
/// alias.
///
/// # Examples
/// ```
/// use codecs::picture::{scale_into, I420Picture};
/// let mut src = I420Picture::new(1280, 720).unwrap();
/// src.y_mut().fill(100);
/// let mut dst = I420Picture::new(640, 360).unwrap();
/// scale_into(&src, &mut dst).unwrap();
/// assert!(dst.y().iter().all(|&v| v == 100));
/// ```
pub fn scale_into(src: &I420Picture, dst: &mut I420Picture) -> Result<(), CodecError> {
    let (sw, sh) = (src.width as usize, src.height as usize);
    let (dw, dh) = (dst.width as usize, dst.height as usize);
    let (scw, sch) = (src.chroma_width() as usize, src.chroma_height() as usize);
    let (dcw, dch) = (dst.chroma_width() as usize, dst.chroma_height() as usize);
    let (y, u, v) = dst.planes_mut();
    scale_plane(src.y(), sw, sh, y, dw, dh);
    scale_plane(src.u(), scw, sch, u, dcw, dch);
    scale_plane(src.v(), scw, sch, v, dcw, dch);
    Ok(())
}

/// Fixed-point (16.16) source coordinate of destination index `i`'s centre, clamped to `[0, n-1]`.
#[inline]
fn src_pos(i: usize, src_n: usize, dst_n: usize) -> (usize, u32) {
    // ((i + 0.5) * src_n / dst_n - 0.5) in 16.16.
    let num = ((2 * i + 1) as u64 * src_n as u64) << 16;
    let pos = (num / (2 * dst_n as u64)) as i64 - (1 << 15);
    let max = ((src_n - 1) as i64) << 16;
    let pos = pos.clamp(0, max);
    ((pos >> 16) as usize, ((pos >> 8) & 0xFF) as u32)
}

fn scale_plane(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], dw: usize, dh: usize) {
    if sw == dw && sh == dh {
        dst.copy_from_slice(&src[..sw * sh]);
        return;
    }
    if sw == 2 * dw && sh == 2 * dh {
        for (oy, drow) in dst.chunks_exact_mut(dw).enumerate() {
            let r0 = &src[2 * oy * sw..(2 * oy + 1) * sw];
            let r1 = &src[(2 * oy + 1) * sw..(2 * oy + 2) * sw];
            for ((d, a), b) in drow
                .iter_mut()
                .zip(r0.chunks_exact(2))
                .zip(r1.chunks_exact(2))
            {
                let sum = u16::from(a[0]) + u16::from(a[1]) + u16::from(b[0]) + u16::from(b[1]);
                *d = ((sum + 2) >> 2) as u8;
            }
        }
        return;
    }
    if sw > 2 * dw || sh > 2 * dh {
        area_plane(src, sw, sh, dst, dw, dh);
        return;
    }
    // General bilinear: blend two source rows vertically into a stack row (x256), then horizontally with
    // per-column indices and weights computed once per plane (no division in the pixel loop).
    let mut xs = [(0u16, 0u16); MAX_PICTURE_DIMENSION as usize];
    let xs = &mut xs[..dw];
    for (ox, e) in xs.iter_mut().enumerate() {
        let (x0, fx) = src_pos(ox, sw, dw);
        *e = (x0 as u16, fx as u16);
    }
    let mut tmp = [0u16; MAX_PICTURE_DIMENSION as usize + 1];
    let tmp = &mut tmp[..sw + 1];
    for (oy, drow) in dst.chunks_exact_mut(dw).enumerate() {
        let (y0, fy) = src_pos(oy, sh, dh);
        let y1 = (y0 + 1).min(sh - 1);
        let r0 = &src[y0 * sw..(y0 + 1) * sw];
        let r1 = &src[y1 * sw..(y1 + 1) * sw];
        let (w0, w1) = (256 - fy as u16, fy as u16);
        for ((t, &a), &b) in tmp.iter_mut().zip(r0).zip(r1) {
            *t = u16::from(a) * w0 + u16::from(b) * w1;
        }
        // Duplicate the last column so x0 + 1 is always in range.
        tmp[sw] = tmp[sw - 1];
        for (d, &(x0, fx)) in drow.iter_mut().zip(xs.iter()) {
            let x0 = usize::from(x0);
            let fx = u32::from(fx);
            let v = u32::from(tmp[x0]) * (256 - fx) + u32::from(tmp[x0 + 1]) * fx;
            *d = ((v + (1 << 15)) >> 16) as u8;
        }
    }
}

/// Source index range `[start, end)` covered by destination index `i` (never empty).
#[inline]
fn span(i: usize, src_n: usize, dst_n: usize) -> (usize, usize) {
    let start = i * src_n / dst_n;
    let end = ((i + 1) * src_n / dst_n).clamp(start + 1, src_n);
    (start, end)
}

/// Area averaging for reductions beyond 2x (bilinear would skip source pixels and alias): each destination
/// pixel is the mean of the source block it covers. Column sums go through a stack row buffer.
fn area_plane(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], dw: usize, dh: usize) {
    // Per column: span start, span end, 1 / span width (a multiply instead of a division per pixel).
    let mut xs = [(0u16, 0u16, 0f32); MAX_PICTURE_DIMENSION as usize];
    let xs = &mut xs[..dw];
    for (ox, e) in xs.iter_mut().enumerate() {
        let (x0, x1) = span(ox, sw, dw);
        *e = (x0 as u16, x1 as u16, 1.0 / (x1 - x0) as f32);
    }
    let mut tmp = [0u32; MAX_PICTURE_DIMENSION as usize];
    let tmp = &mut tmp[..sw];
    for (oy, drow) in dst.chunks_exact_mut(dw).enumerate() {
        let (y0, y1) = span(oy, sh, dh);
        tmp.fill(0);
        for row in src[y0 * sw..y1 * sw].chunks_exact(sw) {
            for (t, &v) in tmp.iter_mut().zip(row) {
                *t += u32::from(v);
            }
        }
        let inv_rows = 1.0 / (y1 - y0) as f32;
        for (d, &(x0, x1, inv_w)) in drow.iter_mut().zip(xs.iter()) {
            let sum: u32 = tmp[usize::from(x0)..usize::from(x1)].iter().sum();
            // The mean of u8 values is within 0..=255; `as u8` saturates in any case.
            *d = (sum as f32 * inv_w * inv_rows + 0.5) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_reductions_average_instead_of_skipping() {
        // A 1-pixel checkerboard: bilinear sampling at 3:1 would pick mostly one colour; the area mean is
        // the mid grey everywhere (blocks of 3x3 alternate 5/4 of each colour: 113 or 142).
        let mut src = I420Picture::new(1920, 1080).unwrap();
        let w = 1920;
        src.y_mut()
            .iter_mut()
            .enumerate()
            .for_each(|(i, p)| *p = if (i % w + i / w) % 2 == 0 { 0 } else { 255 });
        let mut dst = I420Picture::new(640, 360).unwrap();
        scale_into(&src, &mut dst).unwrap();
        assert!(dst.y().iter().all(|&v| v == 113 || v == 142));
        let mut tiny = I420Picture::new(3, 1).unwrap();
        scale_into(&src, &mut tiny).unwrap();
        assert!(tiny.y().iter().all(|&v| (126..=129).contains(&v)));
    }

    fn gradient(w: u32, h: u32) -> I420Picture {
        let mut p = I420Picture::new(w, h).unwrap();
        let (cw, _) = (p.chroma_width() as usize, p.chroma_height());
        let (y, u, v) = p.planes_mut();
        for (i, px) in y.iter_mut().enumerate() {
            *px = ((i % w as usize) * 255 / (w as usize)) as u8;
        }
        for (i, px) in u.iter_mut().enumerate() {
            *px = (64 + (i % cw) % 64) as u8;
        }
        v.fill(90);
        p
    }

    #[test]
    fn nv12_round_trip_is_exact_even_and_odd_sizes() {
        for (w, h) in [(16u32, 8u32), (7, 5), (1, 1), (1280, 720)] {
            let p = gradient(w, h);
            let mut nv = vec![0u8; nv12_len(w, h)];
            i420_to_nv12(&p, &mut nv).unwrap();
            let stride = 2 * w.div_ceil(2);
            let mut back = I420Picture::new(2, 2).unwrap();
            nv12_to_i420(&nv, w, h, stride, &mut back).unwrap();
            assert_eq!(back, p, "{w}x{h}");
        }
    }

    #[test]
    fn nv12_with_padding_stride_and_short_buffer() {
        let (w, h, s) = (4u32, 2u32, 8u32);
        let mut buf = vec![0u8; (s * h + s) as usize];
        buf[..4].copy_from_slice(&[1, 2, 3, 4]);
        buf[8..12].copy_from_slice(&[5, 6, 7, 8]);
        buf[16..20].copy_from_slice(&[10, 20, 11, 21]);
        let mut p = I420Picture::new(2, 2).unwrap();
        nv12_to_i420(&buf, w, h, s, &mut p).unwrap();
        assert_eq!(p.y(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.u(), &[10, 11]);
        assert_eq!(p.v(), &[20, 21]);
        assert!(nv12_to_i420(&buf[..10], w, h, s, &mut p).is_err());
        assert!(nv12_to_i420(&buf, w, h, 2, &mut p).is_err());
        assert!(nv12_to_i420(&buf, 0, h, s, &mut p).is_err());
    }

    #[test]
    fn scaling_keeps_flat_fields_and_halves_ramps() {
        let src = gradient(1280, 720);
        let mut half = I420Picture::new(640, 360).unwrap();
        scale_into(&src, &mut half).unwrap();
        // Row 0 of the half picture: average of pixel pairs of the ramp.
        for x in 0..640usize {
            let a = u16::from(src.y()[2 * x]);
            let b = u16::from(src.y()[2 * x + 1]);
            assert_eq!(u16::from(half.y()[x]), (2 * a + 2 * b + 2) >> 2);
        }
        assert!(half.v().iter().all(|&v| v == 90));
        // Up and back down (general path) stays close to the original.
        let mut up = I420Picture::new(1920, 1080).unwrap();
        scale_into(&src, &mut up).unwrap();
        let mut back = I420Picture::new(1280, 720).unwrap();
        scale_into(&up, &mut back).unwrap();
        let max_err = src
            .y()
            .iter()
            .zip(back.y())
            .map(|(&a, &b)| (i16::from(a) - i16::from(b)).abs())
            .max()
            .unwrap();
        assert!(max_err <= 2, "max error {max_err}");
        assert!(back.v().iter().all(|&v| v == 90));
        // Odd and tiny sizes do not panic.
        let mut tiny = I420Picture::new(1, 1).unwrap();
        scale_into(&src, &mut tiny).unwrap();
        let mut odd = I420Picture::new(333, 77).unwrap();
        scale_into(&tiny, &mut odd).unwrap();
    }

    #[test]
    fn copy_from_planes_checks_strides_without_overflow() {
        let mut p = I420Picture::new(2, 2).unwrap();
        let y = [1u8; 8];
        let c = [2u8; 2];
        p.copy_from_planes(4, 2, [&y, &c, &c], [4, 2, 2]).unwrap();
        assert_eq!(p.u(), &[2, 2]);
        assert!(p
            .copy_from_planes(4, 2, [&y, &c, &c], [usize::MAX, 2, 2])
            .is_err());
        assert!(p
            .copy_from_planes(4, 2, [&y[..5], &c, &c], [4, 2, 2])
            .is_err());
        assert!(p.copy_from_planes(4, 2, [&y, &c, &c], [3, 2, 2]).is_err());
    }

    #[test]
    fn resize_rejects_absurd_sizes_and_reuses_buffer() {
        let mut p = I420Picture::new(1280, 720).unwrap();
        let ptr = p.as_bytes().as_ptr();
        p.resize(640, 360).unwrap();
        assert_eq!(p.as_bytes().as_ptr(), ptr);
        assert_eq!(p.as_bytes().len(), 640 * 360 * 3 / 2);
        assert!(p.resize(0, 10).is_err());
        assert!(p.resize(10_000, 10).is_err());
    }
}

//! Restoring a sender's `OriginalVideoFormat`.
//!
//! Teams may deliver a participant's video smaller than it was sent (`VideoMediaBuffer.VideoFormat` below
//! `OriginalVideoFormat`, e.g. 320x180 of a 1280x720 camera, when bandwidth drops or when the bot subscribed
//! a lower resolution). Anything that keeps per-participant video at a fixed size scales it back with
//! [`restore_original_format`]. The compositor itself does not need to: it scales every received picture
//! straight to its tile, which is cheaper than restoring first and scaling again.

use crate::picture::{scale_into, I420Picture};
use crate::CodecError;

/// Scales `received` to the sender's original `original_width x original_height` into `out` (resized; no
/// allocation once `out` has held that size). A picture already at the original size is copied.
///
/// # Errors
/// [`CodecError::InvalidConfig`] when the original size is 0 or beyond
/// [`MAX_PICTURE_DIMENSION`](crate::picture::MAX_PICTURE_DIMENSION).
///
/// # Examples
/// ```
/// use codecs::composite::restore_original_format;
/// use codecs::picture::I420Picture;
/// let mut small = I420Picture::new(320, 180).unwrap();
/// small.y_mut().fill(90);
/// let mut out = I420Picture::new(2, 2).unwrap();
/// restore_original_format(&small, 1280, 720, &mut out).unwrap();
/// assert_eq!((out.width(), out.height()), (1280, 720));
/// assert!(out.y().iter().all(|&v| v == 90));
/// ```
pub fn restore_original_format(
    received: &I420Picture,
    original_width: u32,
    original_height: u32,
    out: &mut I420Picture,
) -> Result<(), CodecError> {
    out.resize(original_width, original_height)?;
    scale_into(received, out)
}

//! A small, panic-free ISO-BMFF box reader used by verify and recover: walks box headers, finds nested boxes,
//! and checks that a byte range is one complete fragment (`moof` + `mdat`, decoded with `shiguredo_mp4`).

use shiguredo_mp4::boxes::{MoofBox, MoovBox};
use shiguredo_mp4::Decode;

/// A box's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxInfo {
    /// The box type.
    pub box_type: [u8; 4],
    /// Offset of the box header in the buffer.
    pub offset: u64,
    /// Header length (8 or 16).
    pub header_len: u64,
    /// Total box size, header included.
    pub size: u64,
}

/// Why bytes are not the expected boxes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoxError {
    /// A box header or body runs past the end of the bytes.
    #[error("box at offset {offset} truncated")]
    Truncated {
        /// Offset of the box.
        offset: u64,
    },
    /// A size field is smaller than the header.
    #[error("box at offset {offset} has invalid size {size}")]
    BadSize {
        /// Offset of the box.
        offset: u64,
        /// The size read.
        size: u64,
    },
    /// Another box type was expected here.
    #[error("expected {expected} at offset {offset}, found {found:?}")]
    Unexpected {
        /// Offset.
        offset: u64,
        /// What was expected.
        expected: &'static str,
        /// The type found.
        found: [u8; 4],
    },
    /// A `moof`'s `trun` boxes claim more samples than its `mdat` has bytes (a tampered file; refused before
    /// decoding, which would build an entry per claimed sample).
    #[error("moof at offset {offset} claims {claimed} samples, more than its mdat can hold")]
    TooManySamples {
        /// Offset of the `moof`.
        offset: u64,
        /// Samples claimed by its `trun` boxes.
        claimed: u64,
    },
    /// `shiguredo_mp4` could not decode the box.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// Which box.
        what: &'static str,
        /// The decoder's message.
        reason: String,
    },
}

/// Reads the box header at `at`; the whole box must lie within `buf`.
///
/// # Errors
/// [`BoxError::Truncated`] / [`BoxError::BadSize`].
pub fn box_at(buf: &[u8], at: usize) -> Result<BoxInfo, BoxError> {
    let offset = at as u64;
    let hdr = buf
        .get(at..at.checked_add(8).ok_or(BoxError::Truncated { offset })?)
        .ok_or(BoxError::Truncated { offset })?;
    let size32 = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as u64;
    let box_type = [hdr[4], hdr[5], hdr[6], hdr[7]];
    let (size, header_len) = match size32 {
        1 => {
            let ext = buf
                .get(at + 8..at + 16)
                .ok_or(BoxError::Truncated { offset })?;
            let mut b = [0u8; 8];
            b.copy_from_slice(ext);
            (u64::from_be_bytes(b), 16)
        }
        0 => ((buf.len() - at) as u64, 8),
        s => (s, 8),
    };
    if size < header_len {
        return Err(BoxError::BadSize { offset, size });
    }
    if size > (buf.len() - at) as u64 {
        return Err(BoxError::Truncated { offset });
    }
    Ok(BoxInfo {
        box_type,
        offset,
        header_len,
        size,
    })
}

/// The top-level boxes of `buf`, which must be exactly a sequence of complete boxes.
///
/// # Errors
/// The first malformed box.
pub fn boxes(buf: &[u8]) -> Result<Vec<BoxInfo>, BoxError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let b = box_at(buf, at)?;
        at += b.size as usize;
        out.push(b);
    }
    Ok(out)
}

/// Finds a nested box by type path (e.g. `moov/mvex/mehd`); offsets are relative to `buf`.
pub fn find_box(buf: &[u8], path: &[[u8; 4]]) -> Option<BoxInfo> {
    let (first, rest) = path.split_first()?;
    let mut at = 0usize;
    while at < buf.len() {
        let b = box_at(buf, at).ok()?;
        if &b.box_type == first {
            if rest.is_empty() {
                return Some(b);
            }
            let start = at + b.header_len as usize;
            let end = at + b.size as usize;
            let inner = find_box(&buf[start..end], rest)?;
            return Some(BoxInfo {
                offset: inner.offset + start as u64,
                ..inner
            });
        }
        at += b.size as usize;
    }
    None
}

/// What an init segment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitInfo {
    /// Length of `ftyp` + `moov`.
    pub len: u64,
    /// `(track_id, timescale)` per track.
    pub tracks: Vec<(u32, u32)>,
    /// Offset of the 32-bit `mehd.fragment_duration` field, if the `mehd` is version 0.
    pub mehd_field: Option<u64>,
}

/// Reads an init segment at the start of `buf` (`ftyp` then `moov`).
///
/// # Errors
/// [`BoxError`] when the boxes are missing or malformed.
pub fn read_init(buf: &[u8]) -> Result<InitInfo, BoxError> {
    let ftyp = box_at(buf, 0)?;
    if &ftyp.box_type != b"ftyp" {
        return Err(BoxError::Unexpected {
            offset: 0,
            expected: "ftyp",
            found: ftyp.box_type,
        });
    }
    let moov = box_at(buf, ftyp.size as usize)?;
    if &moov.box_type != b"moov" {
        return Err(BoxError::Unexpected {
            offset: moov.offset,
            expected: "moov",
            found: moov.box_type,
        });
    }
    let moov_bytes = &buf[moov.offset as usize..(moov.offset + moov.size) as usize];
    let (decoded, _) = MoovBox::decode(moov_bytes).map_err(|e| BoxError::Decode {
        what: "moov",
        reason: e.to_string(),
    })?;
    let tracks = decoded
        .trak_boxes
        .iter()
        .map(|t| (t.tkhd_box.track_id, t.mdia_box.mdhd_box.timescale.get()))
        .collect();
    let len = ftyp.size + moov.size;
    let mehd_field = find_box(&buf[..len as usize], &[*b"moov", *b"mvex", *b"mehd"])
        .filter(|m| m.size == 16 && buf.get(m.offset as usize + 8) == Some(&0))
        .map(|m| m.offset + 12);
    Ok(InitInfo {
        len,
        tracks,
        mehd_field,
    })
}

/// Sums the `sample_count` of every `traf/trun` among the child boxes in `moof_body`, without decoding
/// anything else (malformed boxes are skipped here; the decoder reports them).
fn claimed_samples(moof_body: &[u8]) -> u64 {
    let mut total: u64 = 0;
    for traf in children(moof_body).filter(|b| &b.box_type == b"traf") {
        let body = &moof_body
            [(traf.offset + traf.header_len) as usize..(traf.offset + traf.size) as usize];
        for trun in children(body).filter(|b| &b.box_type == b"trun") {
            let at = (trun.offset + trun.header_len) as usize + 4;
            if let Some(c) = body.get(at..at + 4) {
                total =
                    total.saturating_add(u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])));
            }
        }
    }
    total
}

/// [`claimed_samples`] of a whole `moof` box whose header is `header_len` bytes.
pub(crate) fn claimed_samples_in(moof: &[u8], header_len: u64) -> u64 {
    moof.get(header_len as usize..).map_or(0, claimed_samples)
}

/// The complete boxes at the start of `buf`, up to the first malformed one.
fn children(buf: &[u8]) -> impl Iterator<Item = BoxInfo> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let b = box_at(buf, at).ok()?;
        at = at.checked_add(usize::try_from(b.size).ok()?)?;
        Some(b)
    })
}

/// What one fragment holds, per track: `(track_id, base decode time, summed sample durations)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentInfo {
    /// `mfhd` sequence number.
    pub sequence: u32,
    /// Per track fragment.
    pub tracks: Vec<(u32, u64, u64)>,
}

/// Checks that `buf` is exactly one fragment: a `moof` whose sample sizes fill the `mdat` that follows.
///
/// # Errors
/// [`BoxError`] for anything else.
pub fn read_fragment(buf: &[u8]) -> Result<FragmentInfo, BoxError> {
    let list = boxes(buf)?;
    let (moof, mdat) = match list.as_slice() {
        [a, b] if &a.box_type == b"moof" && &b.box_type == b"mdat" => (*a, *b),
        _ => {
            return Err(BoxError::Unexpected {
                offset: 0,
                expected: "moof then mdat",
                found: list.first().map_or(*b"    ", |b| b.box_type),
            })
        }
    };
    // A tampered `trun` can claim millions of samples that have no per-sample fields (so no bytes):
    // decoding it would build every entry. Every sample we write has at least one byte in the `mdat`, so
    // refuse counts the `mdat` cannot hold before decoding.
    let moof_bytes = &buf[..moof.size as usize];
    let claimed = claimed_samples(&moof_bytes[moof.header_len as usize..]);
    if claimed > mdat.size - mdat.header_len {
        return Err(BoxError::TooManySamples {
            offset: moof.offset,
            claimed,
        });
    }
    let (decoded, _) = MoofBox::decode(moof_bytes).map_err(|e| BoxError::Decode {
        what: "moof",
        reason: e.to_string(),
    })?;
    let mut payload: u64 = 0;
    let mut tracks = Vec::new();
    for traf in &decoded.traf_boxes {
        let mut dur: u64 = 0;
        for trun in &traf.trun_boxes {
            for s in &trun.samples {
                dur = dur.saturating_add(u64::from(s.duration.unwrap_or(0)));
                payload = payload.saturating_add(u64::from(s.size.unwrap_or(0)));
            }
        }
        let base = traf
            .tfdt_box
            .as_ref()
            .map_or(0, |t| t.base_media_decode_time);
        tracks.push((traf.tfhd_box.track_id, base, dur));
    }
    if payload != mdat.size - mdat.header_len {
        return Err(BoxError::BadSize {
            offset: mdat.offset,
            size: mdat.size,
        });
    }
    Ok(FragmentInfo {
        sequence: decoded.mfhd_box.sequence_number,
        tracks,
    })
}

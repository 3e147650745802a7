//! True durations and a seek index, written into the init segment when a file is closed (or recovered).
//!
//! While recording, `mvhd`/`tkhd`/`mdhd` say 0 and nothing indexes the fragments: a player must read every
//! `moof` to learn the length, and seeks by reading forward. The init segment therefore ends with a `free`
//! box of [`reserve_len`] bytes, and [`final_header`] rewrites the whole init segment, at the same length, as
//!
//! `ftyp` + `moov` (true durations in `mvhd`, `tkhd`, `mdhd`, `mehd`) + `free` + one `sidx` per track.
//!
//! Each `sidx` references the fragments (`moof` + `mdat` pairs) to the end of the file, so a reader knows
//! where every fragment starts and when: FFmpeg's mov demuxer, and so Chromium's, reads it before the first
//! fragment and then seeks with one jump (it ignores a trailing `mfra` unless told `use_mfra_for`; measured in
//! Chromium: a trailing `mfra` still has it read every `moof` at load). The last `sidx` must end where the first
//! fragment starts: with a `free` box in between, Chromium reads every `moof` too. When a
//! file has more fragments than [`INDEX_CAPACITY`], consecutive fragments are grouped into one reference
//! (a seek then reads at most that group). An init segment without room (written by an older version) keeps
//! what fits: durations without an index, or only `mehd`.
//!
//! The length never changes, so the hash chain re-links the init segment as one `header` region and every
//! fragment after it is untouched.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use shiguredo_mp4::boxes::{FreeBox, MoovBox, SidxBox, SidxReference};
use shiguredo_mp4::{Decode, Encode};

use super::reader::{self, BoxError};
use super::Fmp4Error;

/// `sidx` references reserved per track at the start of every file; more fragments than this are grouped.
pub const INDEX_CAPACITY: usize = 1024;

/// A `sidx` box without references, at its largest (version 1): header, version/flags, reference id,
/// timescale, 64-bit earliest presentation time and first offset, reserved, reference count.
const SIDX_FIXED: usize = 8 + 4 + 4 + 4 + 16 + 2 + 2;
/// Bytes per `sidx` reference.
const SIDX_REF: usize = 12;

/// The `free` space the init segment reserves for `tracks` tracks: the `sidx` boxes at full capacity, and the
/// growth of `mvhd`/`mehd` (+16) and each `tkhd`/`mdhd` (+24) should their durations need 64-bit fields.
///
/// # Examples
/// ```
/// use muxer::fmp4::index::reserve_len;
/// assert_eq!(reserve_len(1), 8 + 16 + 24 + 40 + 12 * 1024);
/// ```
pub const fn reserve_len(tracks: usize) -> usize {
    8 + 16 + tracks * (24 + SIDX_FIXED + SIDX_REF * INDEX_CAPACITY)
}

/// What [`final_header`] managed to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finalized {
    /// Durations and a `sidx` per track; each reference covers `fragments_per_reference` fragments.
    Indexed {
        /// References per `sidx`.
        references: usize,
        /// Fragments grouped into one reference (1 = every fragment is indexed).
        fragments_per_reference: usize,
    },
    /// Durations only (no room for an index, or fragments not contiguous to the end of the file).
    DurationsOnly,
    /// Only `mehd` patched (an init segment without reserved space whose `moov` would grow).
    MehdOnly,
}

/// Where the fragments of a file are and what each holds, gathered while writing (or read back by recover).
///
/// # Examples
/// ```
/// use muxer::fmp4::index::SegmentIndex;
/// let mut ix = SegmentIndex::new(&[(1, 48_000)]);
/// ix.push(1000, 500, &[(1, 0, 48_000)]);
/// ix.push(1500, 400, &[(1, 48_000, 24_000)]);
/// assert_eq!(ix.fragments(), 2);
/// assert_eq!(ix.track_end(1), Some(72_000));
/// ```
#[derive(Debug, Clone, Default)]
pub struct SegmentIndex {
    tracks: Vec<(u32, u32)>,
    fragments: Vec<(u64, u64)>,
    /// Per fragment, per track (stride `tracks.len()`): the track's base decode time, [`ABSENT`] if none.
    starts: Vec<u64>,
    ends: Vec<u64>,
}

const ABSENT: u64 = u64::MAX;

impl SegmentIndex {
    /// An empty index for `(track_id, timescale)` tracks.
    pub fn new(tracks: &[(u32, u32)]) -> SegmentIndex {
        SegmentIndex {
            tracks: tracks.to_vec(),
            fragments: Vec::new(),
            starts: Vec::new(),
            ends: vec![0; tracks.len()],
        }
    }

    /// Records a fragment at `offset`, `len` bytes, holding `spans` = `(track_id, base, duration)`.
    pub fn push(&mut self, offset: u64, len: u64, spans: &[(u32, u64, u64)]) {
        self.fragments.push((offset, len));
        let at = self.starts.len();
        self.starts.resize(at + self.tracks.len(), ABSENT);
        for &(id, base, dur) in spans {
            if let Some(t) = self.tracks.iter().position(|t| t.0 == id) {
                self.starts[at + t] = base;
                self.ends[t] = self.ends[t].max(base.saturating_add(dur));
            }
        }
    }

    /// Fragments recorded.
    pub fn fragments(&self) -> usize {
        self.fragments.len()
    }

    /// End of a track's last sample (track timescale, from recording start); `None` for an unknown track.
    pub fn track_end(&self, track_id: u32) -> Option<u64> {
        let t = self.tracks.iter().position(|t| t.0 == track_id)?;
        Some(self.ends[t])
    }

    /// Per fragment, when track `t` starts in it: its own base, or (absent) the next fragment's that has it,
    /// or the track's end.
    fn track_starts(&self, t: usize) -> Vec<u64> {
        let n = self.tracks.len();
        let mut next = self.ends[t];
        let mut out = vec![0; self.fragments.len()];
        for i in (0..self.fragments.len()).rev() {
            let s = self.starts[i * n + t];
            if s != ABSENT {
                next = s;
            }
            out[i] = next;
        }
        out
    }

    /// The `sidx` boxes (without `first_offset`) grouping `group` fragments per reference; `None` if a
    /// reference's size or duration does not fit its field.
    fn sidx_boxes(&self, group: usize) -> Option<Vec<SidxBox>> {
        let mut out = Vec::new();
        for (t, &(id, timescale)) in self.tracks.iter().enumerate() {
            if self.ends[t] == 0 {
                continue;
            }
            let starts = self.track_starts(t);
            let mut references = Vec::with_capacity(self.fragments.len().div_ceil(group));
            for (k, chunk) in self.fragments.chunks(group).enumerate() {
                let size: u64 = chunk.iter().map(|f| f.1).sum();
                let start = starts[k * group];
                let end = starts.get((k + 1) * group).copied().unwrap_or(self.ends[t]);
                references.push(SidxReference {
                    reference_type: false,
                    referenced_size: u32::try_from(size).ok().filter(|s| *s < 1 << 31)?,
                    subsegment_duration: u32::try_from(end.checked_sub(start)?).ok()?,
                    starts_with_sap: true,
                    sap_type: 1,
                    sap_delta_time: 0,
                });
            }
            out.push(SidxBox {
                reference_id: id,
                timescale,
                earliest_presentation_time: starts.first().copied().unwrap_or(0),
                first_offset: 0,
                references,
            });
        }
        Some(out)
    }
}

fn enc<T: Encode>(b: &T) -> Result<Vec<u8>, Fmp4Error> {
    b.encode_to_vec()
        .map_err(|e| Fmp4Error::Encode(e.to_string()))
}

/// `moov` with every duration set from `index`.
fn moov_with_durations(mut moov: MoovBox, index: &SegmentIndex) -> MoovBox {
    let movie_ts = u64::from(moov.mvhd_box.timescale.get());
    let mut movie_end = 0u64;
    for trak in &mut moov.trak_boxes {
        let end = index.track_end(trak.tkhd_box.track_id).unwrap_or(0);
        let ts = u64::from(trak.mdia_box.mdhd_box.timescale.get());
        let in_movie = (u128::from(end) * u128::from(movie_ts)).div_ceil(u128::from(ts.max(1)));
        let in_movie = u64::try_from(in_movie).unwrap_or(u64::MAX);
        trak.mdia_box.mdhd_box.duration = end;
        trak.tkhd_box.duration = in_movie;
        movie_end = movie_end.max(in_movie);
    }
    moov.mvhd_box.duration = movie_end;
    if let Some(mehd) = moov.mvex_box.as_mut().and_then(|m| m.mehd_box.as_mut()) {
        mehd.fragment_duration = movie_end;
    }
    moov
}

/// Appends a `free` box then the `sidx` boxes, filling `out` to exactly `total` bytes so the last `sidx` ends
/// where the first fragment starts; false (and `out` unchanged) when they do not fit.
///
/// The padding goes before the index, not after: Chromium's demuxer treats an index followed by a `free` box as
/// incomplete and reads every `moof` of the file at load (measured: 36 MB fetched for a 35 MB file).
fn append_index(
    out: &mut Vec<u8>,
    mut sidx: Vec<SidxBox>,
    total: usize,
) -> Result<bool, Fmp4Error> {
    let mut sizes = Vec::with_capacity(sidx.len());
    for b in &sidx {
        sizes.push(enc(b)?.len());
    }
    let index_len: usize = sizes.iter().sum();
    let used = out.len() + index_len;
    if used > total || (used < total && total - used < 8) {
        return Ok(false);
    }
    let mut after = index_len;
    for (b, size) in sidx.iter_mut().zip(&sizes) {
        after -= size;
        b.first_offset = after as u64;
    }
    let start = out.len();
    pad(out, total - index_len)?;
    for b in &sidx {
        out.extend_from_slice(&enc(b)?);
    }
    if out.len() != total {
        // A first offset changed a box's version: give up the index rather than misplace it.
        out.truncate(start);
        return Ok(false);
    }
    Ok(true)
}

fn pad(out: &mut Vec<u8>, total: usize) -> Result<(), Fmp4Error> {
    if out.len() < total {
        let free = FreeBox {
            payload: vec![0; total - out.len() - 8],
        };
        out.extend_from_slice(&enc(&free)?);
    }
    Ok(())
}

/// The final init segment for `init` (the header region as written: `ftyp`, `moov`, then reserved space),
/// the same length, with true durations and, where it fits, a `sidx` per track (see the module docs).
///
/// `index` must describe the fragments that follow the init segment, in file order.
///
/// # Errors
/// [`Fmp4Error::BadInit`] when `init` is not an init segment; [`Fmp4Error::Encode`] on a box encoding bug.
pub fn final_header(init: &[u8], index: &SegmentIndex) -> Result<(Vec<u8>, Finalized), Fmp4Error> {
    let info = reader::read_init(init).map_err(Fmp4Error::BadInit)?;
    let head_len = info.len as usize;
    let ftyp = reader::box_at(init, 0).map_err(Fmp4Error::BadInit)?;
    let moov_bytes = &init[ftyp.size as usize..head_len];
    let (moov, _) = MoovBox::decode(moov_bytes).map_err(|e| {
        Fmp4Error::BadInit(BoxError::Decode {
            what: "moov",
            reason: e.to_string(),
        })
    })?;
    let mut out = init[..ftyp.size as usize].to_vec();
    out.extend_from_slice(&enc(&moov_with_durations(moov, index))?);
    let total = init.len();
    let contiguous = index
        .fragments
        .iter()
        .try_fold(total as u64, |at, &(off, len)| {
            (off == at).then_some(off + len)
        })
        .is_some();
    if out.len() <= total && contiguous && !index.fragments.is_empty() {
        let mut group = index.fragments().div_ceil(INDEX_CAPACITY).max(1);
        while group <= index.fragments() {
            if let Some(sidx) = index.sidx_boxes(group) {
                let references = sidx.first().map_or(0, |b| b.references.len());
                if !sidx.is_empty() && append_index(&mut out, sidx, total)? {
                    let f = Finalized::Indexed {
                        references,
                        fragments_per_reference: group,
                    };
                    return Ok((out, f));
                }
            }
            group *= 2;
        }
    }
    if out.len() == total || (out.len() + 8 <= total) {
        pad(&mut out, total)?;
        return Ok((out, Finalized::DurationsOnly));
    }
    // No room: keep the init as it is but for the 32-bit mehd duration.
    let mut out = init.to_vec();
    if let Some(field) = info.mehd_field {
        let end_ms = index
            .tracks
            .iter()
            .zip(&index.ends)
            .map(|(t, e)| (u128::from(*e) * 1000).div_ceil(u128::from(t.1.max(1))))
            .max()
            .unwrap_or(0);
        let v = u32::try_from(end_ms).unwrap_or(u32::MAX).to_be_bytes();
        out[field as usize..field as usize + 4].copy_from_slice(&v);
    }
    Ok((out, Finalized::MehdOnly))
}

/// Rewrites, in place and synced, the init segment of an fMP4 `file` whose first `init_len` bytes are the
/// init segment and whose `fragments` (`(offset, len)`, in order) are complete: recover calls this once a
/// file is cut back to its last intact fragment. Returns the new init segment (to re-link in the hash
/// chain) and what it holds; `None` when the first bytes are not an init segment (they are returned as they
/// are, the file is left alone).
///
/// # Errors
/// [`Fmp4Error::Io`] when reading or writing fails; [`Fmp4Error::BadInit`] for an init segment over 64 MiB;
/// [`Fmp4Error::Encode`] on a box encoding bug.
pub fn finalize_file(
    file: &mut File,
    init_len: u64,
    fragments: &[(u64, u64)],
) -> Result<(Vec<u8>, Option<Finalized>), Fmp4Error> {
    let io = |offset: u64| move |source| Fmp4Error::Io { offset, source };
    // Ours are tens of KiB: a length from a damaged journal must not allocate the file.
    if init_len > 64 << 20 {
        return Err(Fmp4Error::BadInit(BoxError::BadSize {
            offset: 0,
            size: init_len,
        }));
    }
    let mut init = vec![0u8; init_len as usize];
    file.seek(SeekFrom::Start(0)).map_err(io(0))?;
    file.read_exact(&mut init).map_err(io(0))?;
    if reader::read_init(&init).is_err() {
        return Ok((init, None));
    }
    let (header, how) = final_header_of_file(file, &init, fragments)?;
    file.seek(SeekFrom::Start(0)).map_err(io(0))?;
    file.write_all(&header).map_err(io(0))?;
    file.sync_all().map_err(io(0))?;
    Ok((header, Some(how)))
}

/// The final init segment [`finalize_file`] would write for `init` (the init segment as created) and the
/// `fragments` of `file`, read from the file without writing anything: recovery compares a header torn by a
/// power cut during the close's rewrite with it, sector by sector.
///
/// # Errors
/// [`Fmp4Error::BadInit`] when `init` is not an init segment; [`Fmp4Error::Io`] when a fragment cannot be
/// read; [`Fmp4Error::Encode`] on a box encoding bug.
pub fn final_header_of_file(
    file: &mut File,
    init: &[u8],
    fragments: &[(u64, u64)],
) -> Result<(Vec<u8>, Finalized), Fmp4Error> {
    let io = |offset: u64| move |source| Fmp4Error::Io { offset, source };
    let info = reader::read_init(init).map_err(Fmp4Error::BadInit)?;
    let mut index = SegmentIndex::new(&info.tracks);
    let mut buf = Vec::new();
    for &(offset, len) in fragments {
        // A fragment is at most tens of MiB; a length from a damaged journal must not allocate the disk.
        if len > 1 << 30 {
            break;
        }
        buf.resize(len as usize, 0);
        file.seek(SeekFrom::Start(offset)).map_err(io(offset))?;
        file.read_exact(&mut buf).map_err(io(offset))?;
        if let Ok(fi) = reader::read_fragment(&buf) {
            index.push(offset, len, &fi.tracks);
        }
    }
    final_header(init, &index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::boxes::{init_segment, InitTrack};

    fn opus_init() -> Vec<u8> {
        let t = [InitTrack::Opus {
            channels: 1,
            pre_skip: 312,
            input_sample_rate: 48_000,
        }];
        init_segment(&t, Default::default()).unwrap().0
    }

    /// `n` one-second fragments of 1000 bytes right after `init_len`.
    fn index_of(n: u64, init_len: u64) -> SegmentIndex {
        let mut ix = SegmentIndex::new(&[(1, 48_000)]);
        for i in 0..n {
            ix.push(init_len + i * 1000, 1000, &[(1, i * 48_000, 48_000)]);
        }
        ix
    }

    fn sidx_of(header: &[u8]) -> SidxBox {
        let b = reader::boxes(header).unwrap();
        let last = b.last().unwrap();
        assert_eq!(&last.box_type, b"sidx", "the index ends the header");
        SidxBox::decode(&header[last.offset as usize..]).unwrap().0
    }

    #[test]
    fn every_fragment_is_indexed_up_to_the_capacity_then_grouped() {
        let init = opus_init();
        let len = init.len() as u64;
        let (h, how) = final_header(&init, &index_of(600, len)).unwrap();
        assert_eq!(h.len(), init.len());
        assert_eq!(
            how,
            Finalized::Indexed {
                references: 600,
                fragments_per_reference: 1
            }
        );
        let s = sidx_of(&h);
        assert_eq!((s.first_offset, s.earliest_presentation_time), (0, 0));
        assert!(s.references.iter().all(|r| r.referenced_size == 1000));
        // Ten hours of one-second fragments: grouped by 36, the durations still add up to the end.
        let (h, how) = final_header(&init, &index_of(36_000, len)).unwrap();
        assert_eq!(
            how,
            Finalized::Indexed {
                references: 1000,
                fragments_per_reference: 36
            }
        );
        let s = sidx_of(&h);
        let total: u64 = s
            .references
            .iter()
            .map(|r| u64::from(r.subsegment_duration))
            .sum();
        assert_eq!(total, 36_000 * 48_000);
        let moov = reader::find_box(&h, &[*b"moov", *b"mvhd"]).unwrap();
        let (mvhd, _) = shiguredo_mp4::boxes::MvhdBox::decode(&h[moov.offset as usize..]).unwrap();
        assert_eq!(mvhd.duration, 36_000_000);
    }

    #[test]
    fn an_init_without_reserved_space_keeps_its_length_and_gets_durations() {
        let init = opus_init();
        let free = reader::boxes(&init).unwrap()[2];
        let bare = &init[..free.offset as usize];
        // (32-bit durations re-encode at the same size: they fit, the index does not.)
        let (h, how) = final_header(bare, &index_of(10, bare.len() as u64)).unwrap();
        assert_eq!(h.len(), bare.len());
        assert_eq!(how, Finalized::DurationsOnly);
        let mehd = reader::find_box(&h, &[*b"moov", *b"mvex", *b"mehd"]).unwrap();
        let at = mehd.offset as usize + 12;
        assert_eq!(&h[at..at + 4], &10_000u32.to_be_bytes());
        // Fragments that do not follow the init directly: durations, no index.
        let (h, how) = final_header(&init, &index_of(10, init.len() as u64 + 8)).unwrap();
        assert_eq!((h.len(), how), (init.len(), Finalized::DurationsOnly));
        assert!(final_header(b"not an mp4", &index_of(1, 0)).is_err());
    }
}

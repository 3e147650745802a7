//! Reading back the samples of a fragmented MP4 this crate wrote: per track, each sample's decode time,
//! duration, sync flag and bytes (as stored: length-prefixed NAL units for H.264). Used by the leg merge to
//! take whole groups of pictures from one leg's file into another; panic-free on any input (fuzzed).

use shiguredo_mp4::boxes::MoofBox;
use shiguredo_mp4::Decode;

use super::reader::{box_at, read_init, BoxError};

/// One sample of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRef {
    /// `track_ID`.
    pub track_id: u32,
    /// Decode time in the track's timescale.
    pub decode_time: u64,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// A sync sample (an IDR frame for H.264).
    pub sync: bool,
    /// Byte range of the sample in the file.
    pub range: std::ops::Range<usize>,
}

/// The tracks and samples of a file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileSamples {
    /// `(track_id, timescale)` per track, from the init segment.
    pub tracks: Vec<(u32, u32)>,
    /// Every sample, in file order.
    pub samples: Vec<SampleRef>,
}

/// Reads every sample of the fragmented MP4 `buf` (init segment, then `moof`/`mdat` pairs; a truncated
/// last fragment ends the list).
///
/// # Examples
/// ```
/// use bytes::Bytes;
/// use media_core::MediaTime;
/// use muxer::fmp4::{samples::read_samples, Fmp4Options, Fmp4Writer, TrackSpec};
///
/// // One Opus track, three 20 ms packets.
/// let mut w = Fmp4Writer::new(std::io::Cursor::new(Vec::new()), &[TrackSpec::opus(1, 312)], Fmp4Options::default());
/// let mut out = Vec::new();
/// for i in 0..3 {
///     w.push(0, MediaTime::from_millis(20 * i), Bytes::from(vec![i as u8; 10]), &mut out).unwrap();
/// }
/// w.finish(&mut out).unwrap();
/// let file = w.into_inner().into_inner();
/// let s = read_samples(&file).unwrap();
/// assert_eq!(s.tracks, vec![(1, 48_000)]);
/// assert_eq!(s.samples.len(), 3);
/// assert_eq!(s.samples[1].decode_time, 960);
/// assert_eq!(&file[s.samples[2].range.clone()], &[2u8; 10]);
/// ```
///
/// # Errors
/// [`BoxError`] when the init segment or a complete fragment is malformed.
pub fn read_samples(buf: &[u8]) -> Result<FileSamples, BoxError> {
    let init = read_init(buf)?;
    let mut out = FileSamples {
        tracks: init.tracks,
        samples: Vec::new(),
    };
    let mut at = usize::try_from(init.len).unwrap_or(usize::MAX);
    while at < buf.len() {
        let Ok(moof) = box_at(buf, at) else { break };
        let moof_end = at.saturating_add(usize::try_from(moof.size).unwrap_or(usize::MAX));
        if &moof.box_type != b"moof" {
            at = moof_end;
            continue;
        }
        let Ok(mdat) = box_at(buf, moof_end) else {
            break;
        };
        if &mdat.box_type != b"mdat" {
            return Err(BoxError::Unexpected {
                offset: mdat.offset,
                expected: "mdat",
                found: mdat.box_type,
            });
        }
        let mdat_end = moof_end.saturating_add(usize::try_from(mdat.size).unwrap_or(usize::MAX));
        let moof_bytes = &buf[at..moof_end];
        // As `read_fragment`: never decode a `trun` claiming more samples than the `mdat` has bytes.
        if super::reader::claimed_samples_in(moof_bytes, moof.header_len) > mdat.size {
            return Err(BoxError::TooManySamples {
                offset: moof.offset,
                claimed: mdat.size,
            });
        }
        let (decoded, _) = MoofBox::decode(moof_bytes).map_err(|e| BoxError::Decode {
            what: "moof",
            reason: e.to_string(),
        })?;
        for traf in &decoded.traf_boxes {
            let mut t = traf
                .tfdt_box
                .as_ref()
                .map_or(0, |b| b.base_media_decode_time);
            for trun in &traf.trun_boxes {
                let mut pos = at as i64 + i64::from(trun.data_offset.unwrap_or(0));
                for s in &trun.samples {
                    let size = s.size.unwrap_or(0) as usize;
                    let start = usize::try_from(pos).map_err(|_| BoxError::BadSize {
                        offset: at as u64,
                        size: moof.size,
                    })?;
                    let end = start.saturating_add(size);
                    if start < moof_end || end > mdat_end {
                        return Err(BoxError::BadSize {
                            offset: mdat.offset,
                            size: mdat.size,
                        });
                    }
                    let dur = s.duration.unwrap_or(0);
                    out.samples.push(SampleRef {
                        track_id: traf.tfhd_box.track_id,
                        decode_time: t,
                        duration: dur,
                        sync: s.flags.is_none_or(|f| !f.sample_is_non_sync_sample()),
                        range: start..end,
                    });
                    t = t.saturating_add(u64::from(dur));
                    pos = pos.saturating_add(size as i64);
                }
            }
        }
        at = mdat_end;
    }
    Ok(out)
}

/// H.264 sample bytes as stored (4-byte big-endian lengths before each NAL unit) turned back into Annex-B
/// (a start code before each), as [`super::Fmp4Writer::push`] takes them; `None` when the lengths do not
/// add up.
///
/// # Examples
/// ```
/// let stored = [0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x06];
/// let annexb = muxer::fmp4::samples::length_prefixed_to_annexb(&stored).unwrap();
/// assert_eq!(annexb, vec![0, 0, 0, 1, 0x65, 0x88, 0, 0, 0, 1, 0x06]);
/// ```
pub fn length_prefixed_to_annexb(stored: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(stored.len());
    let mut at = 0usize;
    while at < stored.len() {
        let len = stored.get(at..at + 4)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let nal = stored.get(at + 4..at.checked_add(4)?.checked_add(len)?)?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
        at += 4 + len;
    }
    Some(out)
}

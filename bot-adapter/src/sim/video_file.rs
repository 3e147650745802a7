//! Loading a participant's clip from an MP4: its H.264 video as Teams-shaped whole frames, plus its audio.
//!
//! The box tree is parsed by the `mp4` crate (0.14); the sample table (sizes, chunks, times) is walked here with
//! checked arithmetic and every sample's bytes are read straight from the file after checking that they lie
//! inside it, so no sample size or offset taken from the file can make this code allocate wildly, overflow or
//! index out of bounds. Each length-prefixed sample (`avcC` length size 1–4) becomes one Annex-B access unit
//! with 4-byte start codes; the `avcC` SPS and PPS are put before every IDR frame that does not carry its own
//! (as the Teams platform sends them), and NAL units Teams never sends (SEI, access-unit delimiters, filler,
//! end of sequence/stream, …) are dropped and counted. Frame times come from `stts` (+ `ctts`) in the track's
//! timescale, moved by the track's edit list exactly as the AAC audio is ([`load_audio_file`]): leading empty
//! edits delay the track, `media_time` is subtracted, and frames at or after the end of the edit's
//! `segment_duration` are dropped. A track whose first kept frame is not a key frame starts at its first IDR.
//!
//! **Robustness.** Typed errors for everything checked here. The `mp4` crate itself can panic on some
//! malformed box trees (it indexes and unwraps in places); header parsing is therefore wrapped in
//! [`std::panic::catch_unwind`] and a panic becomes [`VideoFileError::ContainerPanicked`] (the default panic
//! hook still prints the panic message to stderr, and a build with `panic = "abort"` would abort instead). Some
//! malformed trees make the crate loop for ever (a child box of size 0 inside `moov`); the file it reads through
//! has a read budget (4 × the bytes outside `mdat`, plus 32 MiB), so such a loop ends as an I/O error, i.e.
//! [`VideoFileError::Container`]. The crate's own sample reader is not used at all (it unwraps missing
//! time-table entries and can divide by zero).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use media_core::h264::{self, H264Error, NalType, NalUnit};
use media_core::MediaTime;

use super::video::{VideoAccessUnit, VideoTrack};
use super::{load_audio_file, SimError};

/// Largest H.264 frame accepted (the ingest limit, [`crate::ingest::MAX_VIDEO_BYTES`]).
const MAX_FRAME_BYTES: usize = crate::ingest::MAX_VIDEO_BYTES;
/// 100 ns ticks per second.
const TPS: i128 = 10_000_000;
/// The Annex-B start code put before every NAL unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Why a clip could not be loaded (wrapped in [`SimError::VideoFile`] with the path).
#[derive(Debug, thiserror::Error)]
pub enum VideoFileError {
    /// The file could not be opened.
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    /// Reading the file failed.
    #[error("read error: {0}")]
    Read(#[source] std::io::Error),
    /// The file does not start with an `ftyp` box.
    #[error("not an MP4 file (no leading ftyp box)")]
    NotMp4,
    /// The `mp4` crate refused the box tree.
    #[error("malformed MP4: {0}")]
    Container(String),
    /// The `mp4` crate panicked on the box tree (caught).
    #[error("malformed MP4: the box parser gave up (panicked)")]
    ContainerPanicked,
    /// A fragmented MP4 (`moof`): not supported as simulator input.
    #[error("fragmented MP4 is not supported; remux it with `ffmpeg -i in.mp4 -c copy out.mp4`")]
    Fragmented,
    /// The video track is not H.264 (`avc1`); the sample entry's four-character code.
    #[error("video track is `{0}`, not H.264 (avc1)")]
    NotH264(String),
    /// Neither a video nor an audio track.
    #[error("no video or audio track")]
    NoMedia,
    /// The sample table is inconsistent.
    #[error("bad sample table: {0}")]
    SampleTable(&'static str),
    /// One sample is unusable.
    #[error("sample {index}: {reason}")]
    BadSample {
        /// 0-based sample index in decode order.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A sample's NAL length prefixes are broken (truncated, running past the sample, or zero).
    #[error("sample {index}: {source}")]
    BadNalUnit {
        /// 0-based sample index in decode order.
        index: usize,
        /// What is wrong.
        #[source]
        source: H264Error,
    },
    /// A sample holds a kind of H.264 slice Teams never sends (data partitioning, SVC, MVC).
    #[error("sample {index}: unsupported NAL unit type {nal_type}")]
    UnsupportedNal {
        /// 0-based sample index in decode order.
        index: usize,
        /// The NAL unit type.
        nal_type: u8,
    },
    /// An IDR frame without SPS/PPS, in-band or in `avcC`.
    #[error("no SPS/PPS for the IDR frame at sample {0}")]
    NoParameterSets(usize),
    /// Presentation times are not strictly increasing in decode order (B-frames; Teams sends none).
    #[error("frames are not in presentation order (B-frames?): Teams sends none")]
    NotPresentationOrder,
    /// No key frame (IDR) inside the edit.
    #[error("no key frame (IDR) in the video track")]
    NoKeyFrame,
}

/// What [`load_video_clip`] reads from one MP4: the participant's video and audio.
#[derive(Clone, Debug)]
pub struct ClipMedia {
    /// The first audio track as 16 kHz mono s16 ([`load_audio_file`]), `None` when the file has no audio track.
    pub audio: Option<Vec<i16>>,
    /// The first video track as Teams-shaped H.264 frames, `None` when the file has no video track.
    pub video: Option<VideoTrack>,
    /// NAL units dropped because Teams never sends them (SEI, access-unit delimiters, filler, …).
    pub dropped_nal_units: u64,
    /// Samples dropped: without any slice, before the edit start, after its end, or before the first IDR.
    pub dropped_samples: u64,
}

/// Reads an MP4 clip: the first video track (H.264) as whole Annex-B frames with presentation times, and the
/// first audio track through [`load_audio_file`] (its edit list applied the same way, so audio sample 0 and
/// video time 0 are the same instant).
///
/// `SimVideo { msi, track: clip.video.unwrap() }` and `audio: clip.audio` then make a participant who is
/// seen and heard, in sync; a video-only file (a screen share) has `audio: None`.
///
/// # Errors
/// [`SimError::VideoFile`] naming the path with a [`VideoFileError`]; [`SimError::AudioFile`] when the audio
/// track cannot be decoded.
///
/// # Examples
/// ```no_run
/// use bot_adapter::sim::{load_video_clip, SimParticipant, SimVideo};
/// use media_core::Msi;
///
/// let clip = load_video_clip("erin-sync.mp4")?;
/// let erin = SimParticipant {
///     video: clip.video.map(|track| SimVideo::new(Msi(21), track)),
///     ..SimParticipant::new("erin", Msi(20), clip.audio.unwrap_or_default())
/// };
/// # Ok::<(), bot_adapter::sim::SimError>(())
/// ```
pub fn load_video_clip(path: impl AsRef<Path>) -> Result<ClipMedia, SimError> {
    let path = path.as_ref();
    let err = |source| SimError::VideoFile {
        path: path.to_path_buf(),
        source,
    };
    let (mut clip, has_audio) = load_video(path).map_err(err)?;
    if has_audio {
        clip.audio = Some(load_audio_file(path)?);
    }
    if clip.audio.is_none() && clip.video.is_none() {
        return Err(err(VideoFileError::NoMedia));
    }
    Ok(clip)
}

/// A reader over the file handed to the `mp4` crate, with a budget of bytes it may read (seeks cost 64 bytes
/// each). Some malformed box trees send the crate's parser round in circles for ever (a child box of size 0
/// inside `moov` is "skipped" by seeking back to its own start); every such loop reads, so the budget turns it
/// into an I/O error.
pub(crate) struct BudgetReader<R> {
    inner: R,
    left: u64,
}

impl<R> BudgetReader<R> {
    fn spend(&mut self, n: u64) -> std::io::Result<()> {
        match self.left.checked_sub(n) {
            Some(l) => {
                self.left = l;
                Ok(())
            }
            None => Err(std::io::Error::other(
                "read budget exhausted: the MP4 box tree loops",
            )),
        }
    }
}

impl<R: Read> Read for BudgetReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.spend(1)?;
        let n = self.inner.read(buf)?;
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

impl<R: Seek> Seek for BudgetReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.spend(64)?;
        self.inner.seek(pos)
    }
}

/// Bytes of the file outside `mdat` boxes, from the top-level box headers (what header parsing reads).
fn header_bytes(file: &mut File, size: u64) -> Result<u64, VideoFileError> {
    let mut at = 0u64;
    let mut total = 0u64;
    let mut head = [0u8; 16];
    while at.saturating_add(8) <= size {
        file.seek(SeekFrom::Start(at))
            .map_err(VideoFileError::Read)?;
        file.read_exact(&mut head[..8])
            .map_err(VideoFileError::Read)?;
        let mut len = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        if len == 1 && at.saturating_add(16) <= size {
            file.read_exact(&mut head[8..16])
                .map_err(VideoFileError::Read)?;
            let mut large = [0u8; 8];
            large.copy_from_slice(&head[8..16]);
            len = u64::from_be_bytes(large);
        } else if len == 0 {
            len = size - at;
        }
        if len < 8 {
            break;
        }
        let len = len.min(size - at);
        if &head[4..8] != b"mdat" {
            total = total.saturating_add(len);
        }
        at = at.saturating_add(len);
    }
    Ok(total)
}

/// The reader [`open_mp4`] hands back.
pub(crate) type Mp4File = mp4::Mp4Reader<BufReader<BudgetReader<File>>>;

/// Opens `path` as an MP4 and parses its box tree with the `mp4` crate, catching the crate's panics and
/// bounding what it may read (see [`BudgetReader`]).
pub(crate) fn open_mp4(path: &Path) -> Result<(Mp4File, u64), VideoFileError> {
    let mut file = File::open(path).map_err(VideoFileError::Open)?;
    let mut head = [0u8; 8];
    match file.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(VideoFileError::NotMp4)
        }
        Err(e) => return Err(VideoFileError::Read(e)),
    }
    if &head[4..8] != b"ftyp" {
        return Err(VideoFileError::NotMp4);
    }
    let size = file.metadata().map_err(VideoFileError::Read)?.len();
    // Generous: every box-end seek makes the BufReader refill (8 KiB), and the box tree is read about once.
    let budget = header_bytes(&mut file, size)?
        .saturating_mul(4)
        .saturating_add(32 << 20);
    file.seek(SeekFrom::Start(0))
        .map_err(VideoFileError::Read)?;
    let reader = BufReader::new(BudgetReader {
        inner: file,
        left: budget,
    });
    // The closure owns the reader; nothing it touches outlives a panic, so unwind safety is not a concern.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        mp4::Mp4Reader::read_header(reader, size)
    }));
    match parsed {
        Ok(Ok(r)) => Ok((r, size)),
        Ok(Err(e)) => Err(VideoFileError::Container(e.to_string())),
        Err(_) => Err(VideoFileError::ContainerPanicked),
    }
}

/// One sample's place in the file and its decode time.
struct SampleRef {
    offset: u64,
    size: usize,
    dts: i128,
    cts: i128,
    delta: i128,
}

fn load_video(path: &Path) -> Result<(ClipMedia, bool), VideoFileError> {
    let (mp4, file_len) = open_mp4(path)?;
    if mp4.is_fragmented() {
        return Err(VideoFileError::Fragmented);
    }
    let movie_scale = i128::from(mp4.timescale().max(1));
    let has_audio = mp4
        .tracks()
        .values()
        .any(|t| matches!(t.track_type(), Ok(mp4::TrackType::Audio)));
    let Some(track) = mp4
        .tracks()
        .values()
        .filter(|t| matches!(t.track_type(), Ok(mp4::TrackType::Video)))
        .min_by_key(|t| t.track_id())
    else {
        let clip = ClipMedia {
            audio: None,
            video: None,
            dropped_nal_units: 0,
            dropped_samples: 0,
        };
        return Ok((clip, has_audio));
    };
    let trak = &track.trak;
    let stbl = &trak.mdia.minf.stbl;
    let Some(avc1) = stbl.stsd.avc1.as_ref() else {
        let code = track
            .box_type()
            .map_or_else(|_| "unknown".to_string(), |b| b.to_string());
        return Err(VideoFileError::NotH264(code));
    };
    let media_scale = i128::from(trak.mdia.mdhd.timescale);
    if media_scale == 0 {
        return Err(VideoFileError::SampleTable("media timescale is 0"));
    }
    let samples = sample_refs(track, file_len)?;

    // The edit list, as for the audio: leading empty edits delay, media_time is cut, segment_duration kept.
    let mut lead: i128 = 0;
    let mut skip: i128 = 0;
    let mut keep: Option<i128> = None;
    if let Some(elst) = trak.edts.as_ref().and_then(|e| e.elst.as_ref()) {
        for e in &elst.entries {
            if e.media_time == u64::from(u32::MAX) || e.media_time == u64::MAX {
                lead = lead.saturating_add(to_ticks(i128::from(e.segment_duration), movie_scale));
                continue;
            }
            skip = i128::from(e.media_time);
            if e.segment_duration > 0 {
                keep = Some(to_ticks(i128::from(e.segment_duration), movie_scale));
            }
            break;
        }
    }

    let length_size = usize::from(avc1.avcc.length_size_minus_one & 3) + 1;
    let mut params = Vec::new();
    for ps in avc1
        .avcc
        .sequence_parameter_sets
        .iter()
        .chain(&avc1.avcc.picture_parameter_sets)
    {
        if !ps.bytes.is_empty() {
            params.extend_from_slice(&START_CODE);
            params.extend_from_slice(&ps.bytes);
        }
    }

    let mut file = File::open(path).map_err(VideoFileError::Open)?;
    let mut raw = Vec::new();
    let mut frames: Vec<VideoAccessUnit> = Vec::with_capacity(samples.len());
    let mut dropped_nal_units = 0u64;
    let mut dropped_samples = 0u64;
    let mut last_cts: Option<i128> = None;
    let mut end: Option<i128> = None;
    for (index, s) in samples.iter().enumerate() {
        if last_cts.is_some_and(|l| s.cts <= l) {
            return Err(VideoFileError::NotPresentationOrder);
        }
        last_cts = Some(s.cts);
        let time = lead.saturating_add(to_ticks(s.cts - skip, media_scale));
        let in_edit = time >= lead && keep.is_none_or(|k| time < lead.saturating_add(k));
        if !in_edit {
            dropped_samples += 1;
            continue;
        }
        raw.resize(s.size, 0);
        file.seek(SeekFrom::Start(s.offset))
            .map_err(VideoFileError::Read)?;
        file.read_exact(&mut raw).map_err(VideoFileError::Read)?;
        let Some(data) = annex_b(&raw, length_size, &params, index, &mut dropped_nal_units)? else {
            dropped_samples += 1;
            continue;
        };
        let unit = VideoAccessUnit {
            time: MediaTime::from_ticks(clamp_i64(time)),
            data: Bytes::from(data),
        };
        if frames.is_empty() && !unit.is_keyframe() {
            dropped_samples += 1;
            continue;
        }
        let frame_end = lead.saturating_add(to_ticks(s.cts - skip + s.delta, media_scale));
        end = Some(match keep {
            Some(k) => frame_end.min(lead.saturating_add(k)),
            None => frame_end,
        });
        frames.push(unit);
    }
    let (Some(last), Some(end)) = (frames.last(), end) else {
        return Err(VideoFileError::NoKeyFrame);
    };
    let duration = MediaTime::from_ticks(clamp_i64(end).max(last.time.ticks().saturating_add(1)));
    let frame_rate_millihz = (frames.len() as i128 * 1000 * TPS + i128::from(duration.ticks()) / 2)
        / i128::from(duration.ticks().max(1));
    let video = VideoTrack {
        width: u32::from(avc1.width),
        height: u32::from(avc1.height),
        frame_rate_millihz: u32::try_from(frame_rate_millihz).unwrap_or(u32::MAX),
        frames: Arc::from(frames),
        duration,
    };
    let clip = ClipMedia {
        audio: None,
        video: Some(video),
        dropped_nal_units,
        dropped_samples,
    };
    Ok((clip, has_audio))
}

/// Walks `stsz`, `stsc`, `stco`/`co64`, `stts` and `ctts` into each sample's position and times, checking
/// every value against the file length and the other tables.
fn sample_refs(track: &mp4::Mp4Track, file_len: u64) -> Result<Vec<SampleRef>, VideoFileError> {
    use VideoFileError::SampleTable as Bad;
    let stbl = &track.trak.mdia.minf.stbl;
    let stsz = &stbl.stsz;
    let n = usize::try_from(stsz.sample_count).map_err(|_| Bad("sample count"))?;
    if n == 0 {
        return Err(Bad("the video track has no samples"));
    }
    if stsz.sample_size == 0 && stsz.sample_sizes.len() != n {
        return Err(Bad("stsz lists fewer sizes than samples"));
    }
    // Every sample takes at least one byte of the file, so a count beyond the file's length is a lie.
    if !u64::try_from(n).is_ok_and(|n| n <= file_len) {
        return Err(Bad("more samples than bytes in the file"));
    }
    let size_of = |i: usize| -> Option<u32> {
        if stsz.sample_size > 0 {
            Some(stsz.sample_size)
        } else {
            stsz.sample_sizes.get(i).copied()
        }
    };
    let chunk_offsets: Vec<u64> = match (&stbl.stco, &stbl.co64) {
        (Some(stco), _) => stco.entries.iter().map(|&o| u64::from(o)).collect(),
        (None, Some(co64)) => co64.entries.clone(),
        (None, None) => return Err(Bad("no stco or co64")),
    };
    let stsc = &stbl.stsc.entries;
    if stsc.is_empty() {
        return Err(Bad("empty stsc"));
    }
    let mut out: Vec<SampleRef> = Vec::with_capacity(n);
    'runs: for (r, run) in stsc.iter().enumerate() {
        let first = usize::try_from(run.first_chunk).map_err(|_| Bad("stsc chunk"))?;
        let next = match stsc.get(r + 1) {
            Some(nx) => usize::try_from(nx.first_chunk).map_err(|_| Bad("stsc chunk"))?,
            None => chunk_offsets.len().saturating_add(1),
        };
        if first == 0 || next <= first {
            return Err(Bad("stsc chunk numbers not increasing from 1"));
        }
        if run.samples_per_chunk == 0 {
            continue;
        }
        for chunk in first..next {
            let Some(&base) = chunk_offsets.get(chunk - 1) else {
                return Err(Bad("stsc names a chunk that stco lacks"));
            };
            let mut offset = base;
            for _ in 0..run.samples_per_chunk {
                let i = out.len();
                if i == n {
                    break 'runs;
                }
                let size = size_of(i).ok_or(Bad("stsz"))?;
                let size_usize = usize::try_from(size).map_err(|_| Bad("sample size"))?;
                if size_usize > MAX_FRAME_BYTES {
                    return Err(VideoFileError::BadSample {
                        index: i,
                        reason: "larger than the 8 MiB frame limit",
                    });
                }
                let sample_end = offset.checked_add(u64::from(size));
                if sample_end.is_none_or(|e| e > file_len) {
                    return Err(VideoFileError::BadSample {
                        index: i,
                        reason: "lies beyond the end of the file",
                    });
                }
                out.push(SampleRef {
                    offset,
                    size: size_usize,
                    dts: 0,
                    cts: 0,
                    delta: 0,
                });
                offset = sample_end.unwrap_or(offset);
            }
        }
    }
    if out.len() < n {
        return Err(Bad("stsc/stco place fewer samples than stsz counts"));
    }
    // Decode times from stts.
    let mut i = 0usize;
    let mut dts: i128 = 0;
    for e in &stbl.stts.entries {
        let delta = i128::from(e.sample_delta);
        for _ in 0..e.sample_count {
            let Some(s) = out.get_mut(i) else { break };
            s.dts = dts;
            s.cts = dts;
            s.delta = delta;
            dts = dts.saturating_add(delta);
            i += 1;
        }
        if i == n {
            break;
        }
    }
    if i < n {
        return Err(Bad("stts times fewer samples than stsz counts"));
    }
    // Composition offsets from ctts, if present.
    if let Some(ctts) = &stbl.ctts {
        let mut i = 0usize;
        for e in &ctts.entries {
            for _ in 0..e.sample_count {
                let Some(s) = out.get_mut(i) else { break };
                s.cts = s.dts.saturating_add(i128::from(e.sample_offset));
                i += 1;
            }
            if i == n {
                break;
            }
        }
    }
    Ok(out)
}

/// Converts one length-prefixed sample into a Teams-shaped Annex-B frame: only SPS/PPS/IDR/non-IDR NAL units,
/// 4-byte start codes, parameter sets before an IDR. `None` when the sample holds no slice.
fn annex_b(
    raw: &[u8],
    length_size: usize,
    params: &[u8],
    index: usize,
    dropped_nal_units: &mut u64,
) -> Result<Option<Vec<u8>>, VideoFileError> {
    let bad = |source| VideoFileError::BadNalUnit { index, source };
    let mut nals: Vec<NalUnit<'_>> = Vec::new();
    for unit in h264::length_prefixed_units(raw, length_size).map_err(bad)? {
        let unit = unit.map_err(bad)?;
        match unit.nal_type() {
            NalType::NON_IDR | NalType::IDR | NalType::SPS | NalType::PPS => nals.push(unit),
            t @ (NalType::PARTITION_A
            | NalType::PARTITION_B
            | NalType::PARTITION_C
            | NalType::PREFIX
            | NalType::SUBSET_SPS
            | NalType::SLICE_EXTENSION
            | NalType::DEPTH_SLICE_EXTENSION) => {
                return Err(VideoFileError::UnsupportedNal {
                    index,
                    nal_type: t.as_u8(),
                })
            }
            _ => *dropped_nal_units += 1,
        }
    }
    let types = || nals.iter().map(|n| n.nal_type());
    if !types().any(NalType::is_slice) {
        return Ok(None);
    }
    let idr = types().any(|t| t == NalType::IDR);
    let needs_params = idr && !types().any(|t| t == NalType::SPS);
    if needs_params && params.is_empty() {
        return Err(VideoFileError::NoParameterSets(index));
    }
    let body: usize = nals
        .iter()
        .map(|n| n.bytes().len() + START_CODE.len())
        .sum();
    let mut out = Vec::with_capacity(body + if needs_params { params.len() } else { 0 });
    if needs_params {
        out.extend_from_slice(params);
    }
    for n in nals {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(n.bytes());
    }
    Ok(Some(out))
}

/// `v` in units of `1/scale` s to 100 ns ticks, rounded to nearest (halves up).
fn to_ticks(v: i128, scale: i128) -> i128 {
    let scale = scale.max(1);
    (v.saturating_mul(2 * TPS).saturating_add(scale)).div_euclid(2 * scale)
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_to_nearest() {
        assert_eq!(to_ticks(512, 15_360), 333_333);
        assert_eq!(to_ticks(1024, 15_360), 666_667);
        assert_eq!(to_ticks(-512, 15_360), -333_333);
        assert_eq!(to_ticks(1, 1), TPS);
    }

    #[test]
    fn annex_b_keeps_teams_nal_types_and_adds_parameter_sets_before_idr() {
        let params = [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2];
        let mut dropped = 0;
        // SEI (6) + IDR (5), 4-byte lengths.
        let raw = [0, 0, 0, 2, 0x06, 9, 0, 0, 0, 3, 0x65, 7, 7];
        let out = annex_b(&raw, 4, &params, 0, &mut dropped).unwrap().unwrap();
        assert_eq!(out, [&params[..], &[0, 0, 0, 1, 0x65, 7, 7]].concat());
        assert_eq!(dropped, 1);
        // A non-IDR slice with 2-byte lengths gets no parameter sets.
        let out = annex_b(&[0, 2, 0x41, 5], 2, &params, 1, &mut dropped)
            .unwrap()
            .unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x41, 5]);
        // No slice at all: skipped.
        assert!(annex_b(&[0, 1, 0x09], 2, &params, 2, &mut dropped)
            .unwrap()
            .is_none());
        // Broken lengths are typed errors.
        assert!(matches!(
            annex_b(&[0, 9, 0x41], 2, &params, 3, &mut dropped),
            Err(VideoFileError::BadNalUnit {
                index: 3,
                source: H264Error::LengthPastEnd { len: 9, left: 1 }
            })
        ));
        assert!(matches!(
            annex_b(&[0], 2, &params, 4, &mut dropped),
            Err(VideoFileError::BadNalUnit { .. })
        ));
        assert!(matches!(
            annex_b(&[0, 0, 0, 1, 0x41], 2, &params, 5, &mut dropped),
            Err(VideoFileError::BadNalUnit {
                source: H264Error::EmptyNalUnit,
                ..
            })
        ));
        assert!(matches!(
            annex_b(&[0, 1, 0x42], 2, &params, 5, &mut dropped),
            Err(VideoFileError::UnsupportedNal { nal_type: 2, .. })
        ));
        assert!(matches!(
            annex_b(&[0, 1, 0x65], 2, &[], 6, &mut dropped),
            Err(VideoFileError::NoParameterSets(6))
        ));
    }
}

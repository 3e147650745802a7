//! One video stream (a camera or the screen share, by MSI) merged from every leg that recorded it, by whole
//! groups of pictures: a leg that lost a frame inside a GOP has only that GOP's prefix (the recorder drops
//! the rest until the next IDR), so for every GOP the leg holding the most of its frames is taken (ties to
//! the leg given first), and legs change only at IDR frames.
//!
//! GOPs of two legs are the same GOP when their IDR frames have the same bytes and lie within
//! `MATCH_RADIUS` (1 s) of where the legs' audio offset puts them; a matched GOP taken from another leg is
//! moved by the measured difference so its IDR lands where the first leg's did.

use std::collections::HashMap;
use std::path::Path;

use muxer::fmp4::samples::{read_samples, SampleRef};
use sha2::{Digest, Sha256};

use crate::MergeError;

/// The track timescale of every video file Verbatim writes.
pub const TIMESCALE: u64 = 90_000;
/// How far (90 kHz ticks, 1 s) a matching IDR may lie from where the audio offset expects it.
const MATCH_RADIUS: i64 = 90_000;

/// One leg's file of the stream, read.
pub(crate) struct LegVideo {
    pub source: usize,
    pub path: String,
    pub bytes: Vec<u8>,
    pub samples: Vec<SampleRef>,
    /// This leg's offset onto the merged timeline, 90 kHz ticks (from the audio alignment).
    pub offset: i64,
}

impl LegVideo {
    /// Reads `rel` in `dir` (one video track).
    pub(crate) fn read(
        dir: &Path,
        rel: &str,
        source: usize,
        offset: i64,
    ) -> Result<Self, MergeError> {
        let path = dir.join(rel);
        let bytes = std::fs::read(&path).map_err(|source| MergeError::Io {
            path: path.clone(),
            source,
        })?;
        let file = read_samples(&bytes).map_err(|e| MergeError::BadSource {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let track = file.tracks.first().map_or(1, |t| t.0);
        let samples = file
            .samples
            .into_iter()
            .filter(|s| s.track_id == track)
            .collect();
        Ok(LegVideo {
            source,
            path: rel.to_string(),
            bytes,
            samples,
            offset,
        })
    }
}

/// A run of frames taken from one leg.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VideoSpan {
    /// Index of the first frame in the merged file.
    pub first: usize,
    /// Frames.
    pub count: usize,
    /// Index of the source folder.
    pub source: usize,
    /// The file in the source folder.
    pub source_path: String,
    /// Index of the first frame in that file.
    pub source_first: usize,
    /// Merged decode time − source decode time (90 kHz ticks).
    pub delta: i64,
}

/// The frames of the merged stream: `(leg index, sample index, merged decode time)`, and provenance.
#[derive(Debug, Default)]
pub(crate) struct VideoPlan {
    pub frames: Vec<(usize, usize, u64)>,
    pub spans: Vec<VideoSpan>,
    /// GOPs held by two or more legs.
    pub gops_shared: u64,
    /// GOPs only one leg held.
    pub gops_single: u64,
    /// GOPs taken from a leg other than the first that held the stream.
    pub gops_from_later_legs: u64,
    /// Frames dropped because they would have gone back in time (overlapping GOPs that did not match).
    pub overlap_dropped: u64,
}

struct Gop {
    leg: usize,
    first: usize,
    count: usize,
    /// Merged time of its IDR (before matching corrections).
    at: i64,
    key: [u8; 32],
}

fn gops(k: usize, leg: &LegVideo) -> Vec<Gop> {
    let mut out: Vec<Gop> = Vec::new();
    for (i, s) in leg.samples.iter().enumerate() {
        if s.sync {
            let key = Sha256::digest(leg.bytes.get(s.range.clone()).unwrap_or_default()).into();
            out.push(Gop {
                leg: k,
                first: i,
                count: 1,
                at: s.decode_time as i64 + leg.offset,
                key,
            });
        } else if let Some(g) = out.last_mut() {
            if g.first + g.count == i {
                g.count += 1;
            }
        }
    }
    out
}

/// Plans the merged stream from the legs' files (in preference order).
pub(crate) fn plan(legs: &[LegVideo]) -> VideoPlan {
    // Chosen GOPs: (merged IDR time, GOP, delta applied to its times).
    let mut chosen: Vec<(i64, Gop, i64)> = Vec::new();
    let mut by_key: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    let mut plan = VideoPlan::default();
    for (k, leg) in legs.iter().enumerate() {
        let mut correction: i64 = 0;
        for g in gops(k, leg) {
            let expected = g.at + correction;
            let found = by_key.get(&g.key).and_then(|ids| {
                ids.iter()
                    .copied()
                    .filter(|&c| (chosen[c].0 - expected).abs() <= MATCH_RADIUS)
                    .min_by_key(|&c| (chosen[c].0 - expected).abs())
            });
            match found {
                Some(c) => {
                    correction = chosen[c].0 - g.at;
                    plan.gops_shared += 1;
                    if g.count > chosen[c].1.count {
                        let at = chosen[c].0;
                        chosen[c] = (at, g, correction);
                    }
                }
                None => {
                    let at = g.at + correction;
                    by_key.entry(g.key).or_default().push(chosen.len());
                    chosen.push((at, g, correction));
                }
            }
        }
    }
    chosen.sort_by_key(|c| c.0);
    let mut last: Option<u64> = None;
    for (_, g, correction) in &chosen {
        let Some(leg) = legs.get(g.leg) else { continue };
        let delta = leg.offset + correction;
        plan.gops_from_later_legs += u64::from(g.leg > 0);
        let mut span: Option<VideoSpan> = None;
        for i in g.first..g.first + g.count {
            let Some(s) = leg.samples.get(i) else { break };
            let t = s.decode_time as i64 + delta;
            let Ok(t) = u64::try_from(t) else {
                plan.overlap_dropped += 1;
                continue;
            };
            if last.is_some_and(|l| t <= l) || (span.is_none() && i != g.first) {
                // Never back in time; a GOP cut at its start is dropped whole (it has no IDR).
                plan.overlap_dropped += 1;
                continue;
            }
            last = Some(t);
            let first = plan.frames.len();
            plan.frames.push((g.leg, i, t));
            match &mut span {
                Some(s) => s.count += 1,
                None => {
                    span = Some(VideoSpan {
                        first,
                        count: 1,
                        source: leg.source,
                        source_path: leg.path.clone(),
                        source_first: i,
                        delta,
                    })
                }
            }
        }
        plan.spans.extend(span);
    }
    let shared = plan.gops_shared;
    plan.gops_single = (chosen.len() as u64).saturating_sub(shared);
    plan
}

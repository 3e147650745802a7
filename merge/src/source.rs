//! One leg folder as the merge reads it: its signed manifest's hash, its `metadata.json` (participants,
//! their presence and loss ledger, video streams) and its stems.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::spans::{self, Span};
use crate::MergeError;

/// Bytes of the fixed WAV header Verbatim writes before the samples (see `muxer::wav`).
const WAV_HEADER: usize = muxer::wav::HEADER_LEN as usize;

/// One participant as a leg recorded them.
#[derive(Debug, Clone)]
pub struct SourceParticipant {
    /// File-safe name in that leg (`participants/<name>.wav`).
    pub name: String,
    /// AAD user id (or the guest's id); empty when unknown.
    pub id: String,
    /// Display name, when known.
    pub display_name: Option<String>,
    /// Stem path relative to the folder.
    pub stem: String,
    /// First and one-past-last sample of presence.
    pub presence: Span,
    /// Gaps of the loss ledger inside the presence: span and kind (`nothing_sent`, `inferred_loss`, …).
    pub gaps: Vec<(Span, String)>,
}

/// One video file of a leg.
#[derive(Debug, Clone)]
pub struct SourceVideo {
    /// Path relative to the folder, e.g. `participants/carol.mp4` or `screenshare.mp4`.
    pub path: String,
    /// The stream's MSI.
    pub msi: u64,
    /// `video` or `screen_share`.
    pub kind: String,
    /// The participant's name in that leg, when known.
    pub participant: Option<String>,
}

/// A leg folder, read.
#[derive(Debug, Clone)]
pub struct Source {
    /// The folder.
    pub dir: PathBuf,
    /// The folder's name (how provenance names it).
    pub label: String,
    /// `call.id` of its metadata.
    pub call_id: String,
    /// `call.leg` ("1" when the folder predates legs).
    pub leg: String,
    /// `recording.status` (`completed`, `interrupted`, …).
    pub status: String,
    /// SHA-256 of its `manifest.json` bytes.
    pub manifest_sha256: [u8; 32],
    /// The signing key's id, as the manifest names it.
    pub key_id: Option<String>,
    /// Wall clock of its recording time 0 (Unix ms), as the manifest states it.
    pub start_utc_ms: Option<i64>,
    /// Stem sample rate.
    pub sample_rate: u32,
    /// Length of the recording in samples.
    pub duration: u64,
    /// Participants with a stem.
    pub participants: Vec<SourceParticipant>,
    /// Video files.
    pub videos: Vec<SourceVideo>,
    /// The whole `metadata.json`.
    pub metadata: Value,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MergeError + '_ {
    move |source| MergeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> MergeError {
    MergeError::BadSource {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Microseconds to samples at `rate`, rounded to the nearest.
pub(crate) fn us_to_samples(us: i64, rate: u32) -> u64 {
    let v = (i128::from(us.max(0)) * i128::from(rate) + 500_000) / 1_000_000;
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Samples to microseconds at `rate`, rounded to the nearest.
pub(crate) fn samples_to_us(s: u64, rate: u32) -> u64 {
    let rate = u64::from(rate.max(1));
    (u128::from(s) * 1_000_000 + u128::from(rate / 2))
        .checked_div(u128::from(rate))
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(u64::MAX)
}

/// SHA-256 of a folder's `manifest.json`.
///
/// # Errors
/// [`MergeError::Io`] when it cannot be read.
pub fn manifest_sha256(dir: &Path) -> Result<[u8; 32], MergeError> {
    let path = dir.join(muxer::recording::MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    Ok(Sha256::digest(&bytes).into())
}

impl Source {
    /// Reads a leg folder: it must hold a `manifest.json` (a closed or recovered recording: run
    /// `verbatim recover` on a crashed one first) and a `metadata.json`.
    ///
    /// # Errors
    /// [`MergeError::Io`] for an unreadable file, [`MergeError::BadSource`] for a folder that is not a
    /// recording (no manifest, metadata without the fields the merge needs).
    pub fn open(dir: &Path) -> Result<Source, MergeError> {
        let mpath = dir.join(muxer::recording::MANIFEST_FILE);
        if !mpath.exists() {
            let why = if dir.join(muxer::recording::JOURNAL_FILE).exists() {
                "no manifest.json: the recording was not closed (run `verbatim recover` on it first)"
            } else {
                "no manifest.json: not a recording folder"
            };
            return Err(bad(dir, why));
        }
        let manifest_bytes = std::fs::read(&mpath).map_err(io(&mpath))?;
        let manifest: Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| bad(&mpath, format!("not JSON: {e}")))?;
        let meta_path = dir.join("metadata.json");
        let meta_bytes = std::fs::read(&meta_path).map_err(io(&meta_path))?;
        let metadata: Value = serde_json::from_slice(&meta_bytes)
            .map_err(|e| bad(&meta_path, format!("not JSON: {e}")))?;
        let rec = &metadata["recording"];
        let sample_rate = rec["sample_rate"]
            .as_u64()
            .and_then(|r| u32::try_from(r).ok())
            .filter(|&r| r > 0)
            .ok_or_else(|| bad(&meta_path, "recording.sample_rate missing"))?;
        if rec["channels"].as_u64().unwrap_or(1) != 1 {
            return Err(bad(&meta_path, "only mono stems can be merged"));
        }
        let duration_us = rec["duration_us"].as_i64().unwrap_or(0);
        let duration = us_to_samples(duration_us, sample_rate);
        let call = &metadata["call"];
        let label = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let mut participants = Vec::new();
        for p in metadata["participants"].as_array().into_iter().flatten() {
            let Some(name) = p["name"].as_str() else {
                continue;
            };
            let stem = format!("participants/{name}.wav");
            if !dir.join(&stem).exists() {
                continue;
            }
            let joined = us_to_samples(p["joined_us"].as_i64().unwrap_or(0), sample_rate);
            let left = p["left_us"]
                .as_i64()
                .map_or(duration, |l| us_to_samples(l, sample_rate));
            let gaps = p["gaps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| {
                    let s = us_to_samples(g["start_us"].as_i64()?, sample_rate);
                    let len = us_to_samples(g["length_us"].as_i64()?, sample_rate);
                    Some(((s, s.saturating_add(len)), g["kind"].as_str()?.to_string()))
                })
                .collect();
            participants.push(SourceParticipant {
                name: name.to_string(),
                id: p["id"].as_str().unwrap_or_default().to_string(),
                display_name: p["display_name"].as_str().map(str::to_string),
                stem,
                presence: (joined, left.max(joined)),
                gaps,
            });
        }
        let videos = metadata["videos"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let path = v["path"].as_str()?.to_string();
                dir.join(&path).exists().then(|| SourceVideo {
                    path,
                    msi: v["msi"].as_u64().unwrap_or(0),
                    kind: v["kind"].as_str().unwrap_or("video").to_string(),
                    participant: v["participant"].as_str().map(str::to_string),
                })
            })
            .collect();
        Ok(Source {
            dir: dir.to_path_buf(),
            label,
            call_id: call["id"].as_str().unwrap_or_default().to_string(),
            leg: call["leg"]
                .as_str()
                .map(str::to_string)
                .or_else(|| call["leg"].as_u64().map(|n| n.to_string()))
                .unwrap_or_else(|| "1".to_string()),
            status: rec["status"].as_str().unwrap_or("unknown").to_string(),
            manifest_sha256: Sha256::digest(&manifest_bytes).into(),
            key_id: manifest["key_id"].as_str().map(str::to_string),
            start_utc_ms: manifest["start_utc_ms"].as_i64(),
            sample_rate,
            duration,
            participants,
            videos,
            metadata,
        })
    }

    /// Reads a participant's stem (16-bit mono samples after Verbatim's fixed 80-byte header).
    ///
    /// # Errors
    /// [`MergeError::Io`], or [`MergeError::BadSource`] for a file that is not such a WAV.
    pub fn read_stem(&self, p: &SourceParticipant) -> Result<Vec<i16>, MergeError> {
        read_stem(&self.dir.join(&p.stem))
    }
}

/// The samples of a Verbatim WAV stem (16-bit mono, fixed 80-byte header).
///
/// # Errors
/// [`MergeError::Io`], or [`MergeError::BadSource`] for a file that is not such a WAV.
pub fn read_stem(path: &Path) -> Result<Vec<i16>, MergeError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let header = bytes
        .get(..WAV_HEADER)
        .ok_or_else(|| bad(path, "shorter than a WAV header"))?;
    if !(header.starts_with(b"RIFF") || header.starts_with(b"RF64")) || &header[8..12] != b"WAVE" {
        return Err(bad(path, "not a WAV file"));
    }
    let body = &bytes[WAV_HEADER..];
    Ok(body
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

/// What a leg holds of a participant: every run of non-zero samples, joined across runs of zeros shorter
/// than a 20 ms frame (exact zeros inside speech). Not the ledger's presence minus its gaps: a recorder lists
/// the silences it saw between frames, not the silence before a participant's first frame or after its
/// last, so "present and not in a gap" includes silence, and a leg "holding" silence must never win over a
/// leg holding speech. A frame of digital silence the sender did send is indistinguishable from none and
/// merges the same (zeros either way).
pub(crate) fn held(samples: &[i16]) -> Vec<Span> {
    let frame = u64::from(crate::audio::FRAME as u32);
    let mut runs: Vec<Span> = Vec::new();
    let mut run: Option<u64> = None;
    for (i, &s) in samples.iter().enumerate() {
        match (s != 0, run) {
            (true, None) => run = Some(i as u64),
            (false, Some(start)) => {
                runs.push((start, i as u64));
                run = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run {
        runs.push((start, samples.len() as u64));
    }
    let mut out: Vec<Span> = Vec::with_capacity(runs.len());
    for r in runs {
        match out.last_mut() {
            Some(last) if r.0 - last.1 < frame => last.1 = r.1,
            _ => out.push(r),
        }
    }
    out
}

/// The ledger's loss gaps (anything but `nothing_sent`) of a participant.
pub(crate) fn loss_gaps(p: &SourceParticipant) -> Vec<Span> {
    spans::normalize(
        p.gaps
            .iter()
            .filter(|g| g.1 != "nothing_sent")
            .map(|g| g.0)
            .collect(),
    )
}

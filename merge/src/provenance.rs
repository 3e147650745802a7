//! `provenance.json`: where every merged span came from, and the check of a merged folder against its legs.
//!
//! ```json
//! {"format":"verbatim-provenance/1","call_id":"…","sample_rate":16000,"rule":"…",
//!  "sources":[{"folder":"call","leg":"1","status":"completed","manifest_sha256":"…","key_id":"ed25519:…",
//!              "offset_samples":0,"aligned_by":"reference"}, …],
//!  "participants":[{"file":"participants/alice.wav","name":"alice",
//!                   "source_files":["participants/alice.wav","participants/alice.wav"],
//!                   "spans":[[start, len, source, source_start], …]}],
//!  "videos":[{"file":"participants/bob.mp4","source_files":[…],
//!             "spans":[{"first":0,"count":30,"source":0,"source_path":"participants/bob.mp4","source_first":0,"delta":0}]}]}
//! ```
//!
//! The file is written whole into the merged folder and linked in its signed chain, so the signature covers
//! it, and through it the SHA-256 of every leg's `manifest.json` (each of which covers every byte of its leg).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::{manifest_sha256, read_stem};
use crate::video::VideoSpan;
use crate::MergeError;

/// The file's name in the merged folder.
pub const PROVENANCE_FILE: &str = "provenance.json";
/// The `format` value written.
pub const FORMAT: &str = "verbatim-provenance/1";

/// The selection rule, as the file states it.
pub const RULE: &str = "audio: per participant, per segment between silences of at least 200 ms, the leg \
holding the most samples is preferred (ties to the folder given first); holes of the preferred leg are \
filled from the next leg holding the sample; samples no leg holds are gaps; samples two legs hold with \
different values come from the preferred leg (counted in metadata.json, never averaged). video: per group \
of pictures, the leg holding the most frames (ties to the folder given first); legs change only at IDR frames";

/// One leg folder the merge read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvSource {
    /// The folder's name when merged.
    pub folder: String,
    /// Its leg id.
    pub leg: String,
    /// Its recording status.
    pub status: String,
    /// SHA-256 of its `manifest.json` (hex).
    pub manifest_sha256: String,
    /// Its signing key's id.
    pub key_id: Option<String>,
    /// Merged position − its position (samples), for the whole call.
    pub offset_samples: i64,
    /// `reference`, `content` or `wall_clock`.
    pub aligned_by: String,
}

/// One merged stem's spans: `[start, len, source, source_start]` in samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvParticipant {
    /// The merged stem.
    pub file: String,
    /// The participant's name.
    pub name: String,
    /// Per source (index as in `sources`), its stem of this participant, if it has one.
    pub source_files: Vec<Option<String>>,
    /// The spans.
    pub spans: Vec<[u64; 4]>,
}

/// One merged video file's spans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvVideo {
    /// The merged file.
    pub file: String,
    /// The spans (frame runs).
    pub spans: Vec<VideoSpan>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// [`FORMAT`].
    pub format: String,
    /// The call.
    pub call_id: String,
    /// Stem sample rate.
    pub sample_rate: u32,
    /// [`RULE`].
    pub rule: String,
    /// The leg folders, in the order given.
    pub sources: Vec<ProvSource>,
    /// Per merged stem.
    pub participants: Vec<ProvParticipant>,
    /// Per merged video file.
    pub videos: Vec<ProvVideo>,
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What [`check_provenance`] found. The merged folder matches its legs when `mismatches`,
/// `unattributed_samples` and `problems` are all zero / empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvenanceCheck {
    /// Legs of the provenance found among the folders given (by their manifest's SHA-256).
    pub sources_matched: usize,
    /// Audio spans compared.
    pub audio_spans: u64,
    /// Samples compared.
    pub audio_samples: u64,
    /// Video spans compared.
    pub video_spans: u64,
    /// Video frames compared (bytes and time).
    pub video_frames: u64,
    /// Spans whose bytes (or times) differ from their source.
    pub mismatches: u64,
    /// Non-zero merged samples no span accounts for.
    pub unattributed_samples: u64,
    /// What is wrong, in words (empty when all matches).
    pub problems: Vec<String>,
}

impl ProvenanceCheck {
    /// True when every span matches and nothing is unaccounted for.
    ///
    /// # Examples
    /// ```
    /// let mut c = merge::ProvenanceCheck::default();
    /// assert!(c.ok());
    /// c.mismatches = 1;
    /// assert!(!c.ok());
    /// ```
    pub fn ok(&self) -> bool {
        self.mismatches == 0 && self.unattributed_samples == 0 && self.problems.is_empty()
    }
}

fn perr(s: impl Into<String>) -> MergeError {
    MergeError::Provenance(s.into())
}

/// Checks that every span of the merged folder `merged` is, byte for byte, the span of the leg it names;
/// the legs are found among `legs` by the SHA-256 of their `manifest.json`, so a renamed folder is found and
/// an altered one is not. (Check each folder's own signature with `verify` as well: this does not.)
///
/// # Errors
/// [`MergeError::Provenance`] when `provenance.json` is missing or unreadable or a leg it names is not
/// among `legs`; [`MergeError::Io`] / [`MergeError::BadSource`] for unreadable files.
pub fn check_provenance(merged: &Path, legs: &[PathBuf]) -> Result<ProvenanceCheck, MergeError> {
    let ppath = merged.join(PROVENANCE_FILE);
    let bytes = std::fs::read(&ppath)
        .map_err(|e| perr(format!("{}: {e} (not a merged folder?)", ppath.display())))?;
    let prov: Provenance =
        serde_json::from_slice(&bytes).map_err(|e| perr(format!("{}: {e}", ppath.display())))?;
    if prov.format != FORMAT {
        return Err(perr(format!("unknown format {:?}", prov.format)));
    }
    let mut by_hash: HashMap<String, &PathBuf> = HashMap::new();
    for l in legs {
        by_hash.insert(hex(&manifest_sha256(l)?), l);
    }
    let mut dirs: Vec<&PathBuf> = Vec::new();
    let mut check = ProvenanceCheck::default();
    for s in &prov.sources {
        match by_hash.get(&s.manifest_sha256) {
            Some(d) => dirs.push(d),
            None => {
                return Err(perr(format!(
                    "leg folder {:?} (leg {}, manifest SHA-256 {}) is not among the folders given, \
                     or its manifest changed",
                    s.folder, s.leg, s.manifest_sha256
                )))
            }
        }
    }
    check.sources_matched = dirs.len();
    for p in &prov.participants {
        check_stem(merged, p, &dirs, &mut check)?;
    }
    for v in &prov.videos {
        check_video(merged, v, &dirs, &mut check)?;
    }
    Ok(check)
}

fn check_stem(
    merged: &Path,
    p: &ProvParticipant,
    dirs: &[&PathBuf],
    check: &mut ProvenanceCheck,
) -> Result<(), MergeError> {
    let m = read_stem(&merged.join(&p.file))?;
    let mut cache: HashMap<usize, Vec<i16>> = HashMap::new();
    let mut covered_to = 0u64;
    for &[start, len, source, source_start] in &p.spans {
        let src = usize::try_from(source).unwrap_or(usize::MAX);
        let (Some(dir), Some(Some(file))) = (dirs.get(src), p.source_files.get(src)) else {
            check.problems.push(format!(
                "{}: a span names source {source}, which has no stem",
                p.file
            ));
            check.mismatches += 1;
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(src) {
            e.insert(read_stem(&dir.join(file))?);
        }
        let s = cache.get(&src).map_or(&[][..], |v| v.as_slice());
        if start < covered_to {
            check
                .problems
                .push(format!("{}: spans overlap at sample {start}", p.file));
        }
        let a = m.get(start as usize..start.saturating_add(len) as usize);
        let b = s.get(source_start as usize..source_start.saturating_add(len) as usize);
        check.audio_spans += 1;
        check.audio_samples += len;
        if a.is_none() || a != b {
            check.mismatches += 1;
            if check.problems.len() < 20 {
                check.problems.push(format!(
                    "{}: samples {start}..{} differ from {}:{file} samples {source_start}..",
                    p.file,
                    start + len,
                    dir.display()
                ));
            }
        }
        for &x in m
            .get(covered_to.min(start) as usize..start as usize)
            .unwrap_or_default()
        {
            check.unattributed_samples += u64::from(x != 0);
        }
        covered_to = covered_to.max(start + len);
    }
    for &x in m.get(covered_to as usize..).unwrap_or_default() {
        check.unattributed_samples += u64::from(x != 0);
    }
    Ok(())
}

fn check_video(
    merged: &Path,
    v: &ProvVideo,
    dirs: &[&PathBuf],
    check: &mut ProvenanceCheck,
) -> Result<(), MergeError> {
    let read =
        |path: PathBuf| -> Result<(Vec<u8>, Vec<muxer::fmp4::samples::SampleRef>), MergeError> {
            let bytes = std::fs::read(&path).map_err(|source| MergeError::Io {
                path: path.clone(),
                source,
            })?;
            let s =
                muxer::fmp4::samples::read_samples(&bytes).map_err(|e| MergeError::BadSource {
                    path,
                    reason: e.to_string(),
                })?;
            Ok((bytes, s.samples))
        };
    let (mb, ms) = read(merged.join(&v.file))?;
    let mut written = 0usize;
    for span in &v.spans {
        let Some(dir) = dirs.get(span.source) else {
            check.mismatches += 1;
            continue;
        };
        let (sb, ss) = read(dir.join(&span.source_path))?;
        check.video_spans += 1;
        let mut bad = false;
        for i in 0..span.count {
            let (Some(a), Some(b)) = (ms.get(span.first + i), ss.get(span.source_first + i)) else {
                bad = true;
                break;
            };
            check.video_frames += 1;
            let same_bytes = mb.get(a.range.clone()) == sb.get(b.range.clone());
            let same_time = a.decode_time as i64 == b.decode_time as i64 + span.delta;
            bad |= !(same_bytes && same_time);
        }
        written = written.max(span.first + span.count);
        if bad {
            check.mismatches += 1;
            check.problems.push(format!(
                "{}: frames {}..{} differ from {}:{}",
                v.file,
                span.first,
                span.first + span.count,
                dir.display(),
                span.source_path
            ));
        }
    }
    if written != ms.len() {
        check.problems.push(format!(
            "{}: {} frames, the provenance accounts for {written}",
            v.file,
            ms.len()
        ));
    }
    Ok(())
}

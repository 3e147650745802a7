//! What a bucket prefix holds, for a catalogue: the recordings under it ([`Bucket::recordings`]) and, for
//! one of them, the few bytes search needs ([`Bucket::catalog_files`]) — `manifest.json` and `metadata.json`
//! — without replaying the whole recording.
//!
//! A closed recording's `metadata.json` is not an object of its own: it is a region of the last segments
//! (written at the close). It is taken from the segments, newest first, and checked against the SHA-256 its
//! `manifest.json` records for it, so a catalogue never indexes bytes the chain does not vouch for. A
//! recovered recording's files are objects under `recovered/`; a recording that was never closed (its
//! recorder died and nobody ran `recover s3://…`, or it is still being recorded) is described from the first
//! line of its journal (id and start time) and the stems its first segment names.

use muxer::integrity::manifest::{parse_journal, JournalLine, Manifest};
use muxer::integrity::Entry;
use sha2::{Digest, Sha256};

use crate::bucket::Bucket;
use crate::config::StoreUrl;
use crate::replay::RECOVERED_DIR;
use crate::segment::{segment_name, PartRole, Segment};
use crate::StoreError;

/// How many segments, newest first, are read looking for a closed recording's `metadata.json`.
const METADATA_SEGMENTS: usize = 4;

/// Largest `manifest.json` or `metadata.json` read for a catalogue.
const MAX_CATALOG_FILE: u64 = 64 << 20;

/// How far a recording in the bucket got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketState {
    /// Its `manifest.json` is there: the recorder closed it.
    Closed,
    /// A `recover s3://…` uploaded the sealed folder under `recovered/`.
    Recovered,
    /// Segments only: still recording, or its recorder died and it was not recovered yet.
    Open,
}

/// One recording under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRecording {
    /// Its folder name relative to the prefix (`rec-1`, or `node-a/rec-1`).
    pub name: String,
    /// How far it got.
    pub state: BucketState,
    /// Segments uploaded.
    pub segments: u64,
    /// Changes when the recording's objects change (more segments, closed, recovered): a catalogue
    /// re-reads the recording when it does.
    pub stamp: String,
}

/// What [`Bucket::catalog_files`] read: the inputs of a catalogue entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogFiles {
    /// `metadata.json` (sealed when the recording is encrypted), when found and matching the chain.
    pub metadata: Option<Vec<u8>>,
    /// `manifest.json`, or for an open recording a stand-in with its journal's id and start time.
    pub manifest: Option<Vec<u8>>,
    /// The stems named (`participants/<name>.wav` → `name`), sorted.
    pub stems: Vec<String>,
    /// Why `metadata.json` is missing although the recording was closed (not found in the last segments,
    /// or its bytes do not match the manifest), for the catalogue's report.
    pub note: Option<String>,
}

/// Sorts `rel` (a key relative to the prefix) into a recording's name and what it is.
fn classify(rel: &str) -> Option<(&str, Option<BucketState>, bool)> {
    let recovered_manifest = format!("/{RECOVERED_DIR}/{}", muxer::recording::MANIFEST_FILE);
    if let Some(name) = rel.strip_suffix(recovered_manifest.as_str()) {
        return Some((name, Some(BucketState::Recovered), false));
    }
    if rel.contains(&format!("/{RECOVERED_DIR}/")) {
        return None;
    }
    if let Some(name) = rel.strip_suffix(&format!("/{}", muxer::recording::MANIFEST_FILE)) {
        return Some((name, Some(BucketState::Closed), false));
    }
    let (name, file) = rel.rsplit_once("/seg/")?;
    let seq = file.strip_suffix(".vseg")?;
    (seq.len() == 8 && seq.bytes().all(|b| b.is_ascii_digit())).then_some((name, None, true))
}

fn stem_of(path: &str) -> Option<String> {
    let name = path.strip_prefix("participants/")?.strip_suffix(".wav")?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}

/// The recordings a prefix's objects make up, from their keys relative to the prefix and their sizes, sorted
/// by name (what [`Bucket::recordings`] answers, without the store: keys are outside input, and this is
/// fuzzed). Keys that belong to no recording are ignored.
///
/// ```
/// use store::{recordings_in, BucketState};
/// let keys = [
///     ("rec-1/seg/00000000.vseg", 900), ("rec-1/seg/00000001.vseg", 800), ("rec-1/manifest.json", 70),
///     ("rec-2/seg/00000000.vseg", 500),
///     ("rec-3/seg/00000000.vseg", 400), ("rec-3/recovered/manifest.json", 90),
///     ("rec-3/recovered/participants/alice.wav", 9000), ("README.txt", 5),
/// ];
/// let r = recordings_in(keys);
/// let states: Vec<_> = r.iter().map(|r| (r.name.as_str(), r.state, r.segments)).collect();
/// assert_eq!(states, [
///     ("rec-1", BucketState::Closed, 2),
///     ("rec-2", BucketState::Open, 1),
///     ("rec-3", BucketState::Recovered, 1),
/// ]);
/// ```
pub fn recordings_in<'a>(keys: impl IntoIterator<Item = (&'a str, u64)>) -> Vec<BucketRecording> {
    let mut found: std::collections::BTreeMap<String, (Option<BucketState>, u64, u64)> =
        std::collections::BTreeMap::new();
    for (rel, size) in keys {
        let Some((name, state, segment)) = classify(rel) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let slot = found.entry(name.to_string()).or_insert((None, 0, 0));
        if segment {
            slot.1 += 1;
        }
        match (slot.0, state) {
            (_, Some(BucketState::Recovered)) => {
                slot.0 = Some(BucketState::Recovered);
                slot.2 = size;
            }
            (None, Some(BucketState::Closed)) => {
                slot.0 = Some(BucketState::Closed);
                slot.2 = size;
            }
            _ => {}
        }
    }
    found
        .into_iter()
        .filter(|(_, (state, segments, _))| state.is_some() || *segments > 0)
        .map(|(name, (state, segments, size))| {
            let state = state.unwrap_or(BucketState::Open);
            let stamp = format!("{state:?}:{segments}:{size}").to_lowercase();
            BucketRecording {
                name,
                state,
                segments,
                stamp,
            }
        })
        .collect()
}

impl Bucket {
    /// The recordings under the store address `at` (its prefix), sorted by name.
    ///
    /// ```no_run
    /// let cfg = store::StoreConfig::new(store::StoreUrl::parse("s3://calls/eu").unwrap());
    /// let b = store::Bucket::connect(&cfg).unwrap();
    /// for r in b.recordings(&cfg.url).unwrap() {
    ///     println!("{} {:?} {} segments", r.name, r.state, r.segments);
    /// }
    /// ```
    ///
    /// # Errors
    /// [`StoreError::S3`].
    pub fn recordings(&self, at: &StoreUrl) -> Result<Vec<BucketRecording>, StoreError> {
        let prefix = if at.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", at.prefix)
        };
        let listed = self.list(&prefix)?;
        Ok(recordings_in(listed.iter().filter_map(|o| {
            Some((o.key.strip_prefix(&prefix)?, o.size))
        })))
    }

    /// Reads what a catalogue entry of the recording at `rec` is made from (see the module's docs).
    ///
    /// ```no_run
    /// let cfg = store::StoreConfig::new(store::StoreUrl::parse("s3://calls/eu").unwrap());
    /// let b = store::Bucket::connect(&cfg).unwrap();
    /// let rec = b.recordings(&cfg.url).unwrap().remove(0);
    /// let files = b.catalog_files(&cfg.url.join(&rec.name), rec.state).unwrap();
    /// assert!(files.manifest.is_some());
    /// ```
    ///
    /// # Errors
    /// [`StoreError::S3`]; [`StoreError::BadSegment`] for a segment that does not parse;
    /// [`StoreError::NotFound`] when the objects its state needs are gone.
    pub fn catalog_files(
        &self,
        rec: &StoreUrl,
        state: BucketState,
    ) -> Result<CatalogFiles, StoreError> {
        match state {
            BucketState::Recovered => self.recovered_files(rec),
            BucketState::Closed => self.closed_files(rec),
            BucketState::Open => self.open_files(rec),
        }
    }

    fn small(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.get(key)? {
            Some(b) if b.len() as u64 > MAX_CATALOG_FILE => Err(StoreError::BadSegment(format!(
                "{key}: {} bytes, larger than a catalogue reads",
                b.len()
            ))),
            other => Ok(other),
        }
    }

    fn recovered_files(&self, rec: &StoreUrl) -> Result<CatalogFiles, StoreError> {
        let at = rec.join(RECOVERED_DIR);
        let manifest = self.small(&at.key(muxer::recording::MANIFEST_FILE))?;
        let metadata = self.small(&at.key("metadata.json"))?;
        let participants = at.key("participants/");
        let mut stems: Vec<String> = self
            .list(&participants)?
            .iter()
            .filter_map(|o| o.key.strip_prefix(&at.key("")))
            .filter_map(stem_of)
            .collect();
        stems.sort();
        Ok(CatalogFiles {
            metadata,
            manifest,
            stems,
            note: None,
        })
    }

    fn closed_files(&self, rec: &StoreUrl) -> Result<CatalogFiles, StoreError> {
        let Some(manifest) = self.small(&rec.key(muxer::recording::MANIFEST_FILE))? else {
            return Err(StoreError::NotFound(format!("{rec}: no manifest.json")));
        };
        let parsed: Manifest = serde_json::from_slice(&manifest)
            .map_err(|e| StoreError::BadSegment(format!("{rec}: manifest.json: {e}")))?;
        let mut stems: Vec<String> = parsed
            .files
            .iter()
            .filter_map(|f| stem_of(&f.path))
            .collect();
        stems.sort();
        let (metadata, note) = match self.metadata_from_segments(rec, &parsed)? {
            Ok(m) => (Some(m), None),
            Err(why) => (None, Some(why)),
        };
        Ok(CatalogFiles {
            metadata,
            manifest: Some(manifest),
            stems,
            note,
        })
    }

    /// `metadata.json` put together from the newest segments and checked against the manifest's records of
    /// it; `Ok(Err(why))` when it cannot be (the entry is then made from the manifest alone).
    fn metadata_from_segments(
        &self,
        rec: &StoreUrl,
        manifest: &Manifest,
    ) -> Result<Result<Vec<u8>, String>, StoreError> {
        let Some(file) = manifest.files.iter().find(|f| f.path == "metadata.json") else {
            return Ok(Err("the manifest lists no metadata.json".into()));
        };
        if file.size > MAX_CATALOG_FILE {
            return Ok(Err(format!("metadata.json is {} bytes", file.size)));
        }
        let records: Vec<(u64, u64, [u8; 32])> = manifest
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Data {
                    file: f,
                    offset,
                    len,
                    sha256,
                } if *f == file.id => Some((*offset, *len, sha256.0)),
                _ => None,
            })
            .collect();
        let size = file.size as usize;
        let mut bytes = vec![0u8; size];
        let mut have = vec![false; size];
        let mut segments: Vec<String> = self
            .list(&rec.key("seg/"))?
            .into_iter()
            .map(|o| o.key)
            .filter(|k| k.ends_with(".vseg"))
            .collect();
        segments.sort();
        for key in segments.iter().rev().take(METADATA_SEGMENTS) {
            let Some(obj) = self.get(key)? else { continue };
            let seg = match Segment::decode(&obj) {
                Ok(seg) => seg,
                // A replaced or damaged segment: the entry is made from the manifest, and the replay
                // (verification) names the damage.
                Err(e) => return Ok(Err(format!("{key}: {e}"))),
            };
            for (part, data) in &seg.parts {
                if part.path != "metadata.json" || part.role != PartRole::Data {
                    continue;
                }
                let start = usize::try_from(part.offset).unwrap_or(usize::MAX);
                let Some(end) = start.checked_add(data.len()).filter(|e| *e <= size) else {
                    continue;
                };
                for i in start..end {
                    if !have[i] {
                        bytes[i] = data[i - start];
                        have[i] = true;
                    }
                }
            }
            if have.iter().all(|h| *h) {
                break;
            }
        }
        if !have.iter().all(|h| *h) {
            return Ok(Err(format!(
                "metadata.json not found in the last {METADATA_SEGMENTS} segments"
            )));
        }
        for (offset, len, sha) in records {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let Some(end) = usize::try_from(len)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|e| *e <= size)
            else {
                return Ok(Err(
                    "the manifest's record of metadata.json is out of range".into(),
                ));
            };
            if Sha256::digest(&bytes[start..end]).as_slice() != sha {
                return Ok(Err(
                    "metadata.json in the segments does not match the manifest's SHA-256".into(),
                ));
            }
        }
        Ok(Ok(bytes))
    }

    fn open_files(&self, rec: &StoreUrl) -> Result<CatalogFiles, StoreError> {
        let key = rec.key(&segment_name(0));
        let Some(obj) = self.get(&key)? else {
            return Err(StoreError::NotFound(format!("{rec}: no first segment")));
        };
        let seg = Segment::decode(&obj)?;
        let (lines, _) = parse_journal(&seg.journal);
        let Some(JournalLine::Begin(begin)) = lines.first() else {
            return Err(StoreError::BadSegment(format!(
                "{key}: the journal does not start with its begin line"
            )));
        };
        let stand_in = serde_json::json!({
            "recording_id": begin.recording_id,
            "start_utc_ms": begin.start_utc_ms,
        });
        let mut stems: Vec<String> = seg
            .header
            .parts
            .iter()
            .filter_map(|p| stem_of(&p.path))
            .collect();
        stems.sort();
        stems.dedup();
        Ok(CatalogFiles {
            metadata: None,
            manifest: Some(stand_in.to_string().into_bytes()),
            stems,
            note: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_into_recordings() {
        assert_eq!(
            classify("rec-1/seg/00000003.vseg"),
            Some(("rec-1", None, true))
        );
        assert_eq!(
            classify("node-a/rec-1/manifest.json"),
            Some(("node-a/rec-1", Some(BucketState::Closed), false))
        );
        assert_eq!(
            classify("rec-1/recovered/manifest.json"),
            Some(("rec-1", Some(BucketState::Recovered), false))
        );
        assert_eq!(classify("rec-1/recovered/participants/a.wav"), None);
        assert_eq!(classify("rec-1/seg/3.vseg"), None);
        assert_eq!(classify("rec-1/seg/0000000x.vseg"), None);
        assert_eq!(classify("notes.txt"), None);
    }

    #[test]
    fn stems_are_participant_wavs() {
        assert_eq!(stem_of("participants/alice.wav").as_deref(), Some("alice"));
        assert_eq!(stem_of("participants/alice.mp4"), None);
        assert_eq!(stem_of("participants/x/y.wav"), None);
        assert_eq!(stem_of("mixed.wav"), None);
    }
}

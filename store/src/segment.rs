//! One uploaded segment: the journal lines written since the previous segment and the file bytes their
//! records cover, in one object (`<recording>/seg/<seq:08>.vseg`), so the bucket never holds lines without
//! their bytes.
//!
//! Layout: a JSON header line ([`SegmentHeader`]), then `journal_len` bytes of `manifest.journal` (starting
//! at `journal_offset`), then the parts' bytes concatenated in the header's order. Each header names the
//! SHA-256 of the previous segment object (`prev`), so a missing, reordered or replaced segment is noticed
//! on replay even where sequence numbers look right.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// The `format` of segments written today.
pub const SEGMENT_FORMAT: &str = "verbatim-segment/1";

/// Why the bytes of a part were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartRole {
    /// A `data` region whose bytes match its record.
    Data,
    /// A `header` region whose bytes match its record.
    Header,
    /// A header region rewritten since its record (a WAV header refreshed per chunk): its bytes now. A later
    /// header record covers the final bytes; a crashed recording's replay keeps these (recovery rewrites them).
    StaleHeader,
    /// A `data` region whose bytes do NOT match its record (counted as an error; the replay will not verify).
    Mismatch,
}

/// A file region carried by a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Path inside the recording folder.
    pub path: String,
    /// First byte in the file.
    pub offset: u64,
    /// Length.
    pub len: u64,
    /// Why it was taken.
    pub role: PartRole,
}

/// The first line of a segment object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentHeader {
    /// [`SEGMENT_FORMAT`].
    pub format: String,
    /// Sequence number from 0, no gaps.
    pub seq: u64,
    /// Lower-case hex SHA-256 of the previous segment object (`None` for segment 0).
    pub prev: Option<String>,
    /// Where this segment's journal bytes start in `manifest.journal`.
    pub journal_offset: u64,
    /// How many journal bytes follow the header.
    pub journal_len: u64,
    /// The regions whose bytes follow the journal bytes.
    pub parts: Vec<Part>,
    /// The last segment: the recording closed (its `manifest.json` is uploaded next to the segments).
    pub last: bool,
}

/// A segment read back.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Its header.
    pub header: SegmentHeader,
    /// The journal bytes.
    pub journal: Vec<u8>,
    /// Each part with its bytes.
    pub parts: Vec<(Part, Vec<u8>)>,
}

/// The object name of segment `seq` inside a recording's prefix.
///
/// # Examples
/// ```
/// assert_eq!(store::segment_name(7), "seg/00000007.vseg");
/// ```
pub fn segment_name(seq: u64) -> String {
    format!("seg/{seq:08}.vseg")
}

/// Lower-case hex.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The SHA-256 of an object's bytes, hex (what the next segment's `prev` names).
pub fn object_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

impl Segment {
    /// The object's bytes.
    pub fn encode(header: &SegmentHeader, journal: &[u8], parts: &[Vec<u8>]) -> Vec<u8> {
        let mut out = serde_json::to_vec(header).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(journal);
        for p in parts {
            out.extend_from_slice(p);
        }
        out
    }

    /// Parses an object's bytes.
    ///
    /// # Examples
    /// ```
    /// use store::{Part, PartRole, Segment, SegmentHeader, SEGMENT_FORMAT};
    /// let h = SegmentHeader {
    ///     format: SEGMENT_FORMAT.into(), seq: 0, prev: None, journal_offset: 0, journal_len: 3,
    ///     parts: vec![Part { path: "a.wav".into(), offset: 80, len: 2, role: PartRole::Data }],
    ///     last: false,
    /// };
    /// let bytes = Segment::encode(&h, b"{}\n", &[vec![1, 2]]);
    /// let s = Segment::decode(&bytes).unwrap();
    /// assert_eq!(s.journal, b"{}\n");
    /// assert_eq!(s.parts[0].1, vec![1, 2]);
    /// ```
    ///
    /// # Errors
    /// [`StoreError::BadSegment`] when the header does not parse, the format is unknown or the lengths do
    /// not add up to the object's size.
    pub fn decode(bytes: &[u8]) -> Result<Segment, StoreError> {
        let bad = |why: String| StoreError::BadSegment(why);
        let nl = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("no header line".into()))?;
        let header: SegmentHeader =
            serde_json::from_slice(&bytes[..nl]).map_err(|e| bad(format!("header: {e}")))?;
        if header.format != SEGMENT_FORMAT {
            return Err(bad(format!("unknown format {:?}", header.format)));
        }
        let mut at = nl + 1;
        let mut take = |len: u64| -> Result<Vec<u8>, StoreError> {
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| at.checked_add(l))
                .filter(|&e| e <= bytes.len())
                .ok_or_else(|| {
                    bad(format!(
                        "segment {} is shorter than its header says",
                        header.seq
                    ))
                })?;
            let v = bytes[at..end].to_vec();
            at = end;
            Ok(v)
        };
        let journal = take(header.journal_len)?;
        let mut parts = Vec::with_capacity(header.parts.len());
        for p in &header.parts {
            parts.push((p.clone(), take(p.len)?));
        }
        if at != bytes.len() {
            return Err(bad(format!(
                "segment {}: {} bytes beyond what its header lists",
                header.seq,
                bytes.len() - at
            )));
        }
        Ok(Segment {
            header,
            journal,
            parts,
        })
    }
}

//! The hash chain: exact byte encoding.
//!
//! All integers are little-endian; strings are `u32 length || UTF-8 bytes`.
//!
//! ```text
//! h_0 = SHA-256("verbatim-chain-v1" || str(recording_id) || i64 start_utc_ms || public_key[32])
//! h_i = SHA-256(h_{i-1} || record_i)
//!
//! record (file declared)   = 'F' || u32 file_id || str(path) || u8 kind        (kind: 0 wav, 1 mp4, 2 whole)
//! record (data appended)   = 'D' || u32 file_id || u64 offset || u64 len || SHA-256(file[offset..offset+len])
//! record (header written)  = 'H' || u32 file_id || u64 offset || u64 len || SHA-256(file[offset..offset+len])
//! record (status change)   = 'S' || i64 at_ticks || u8 status || str(note)
//!                            (status: 1 recording, 2 paused, 3 failed, 4 interrupted, 5 completed)
//!
//! signed message = "verbatim-sign-v1" || u64 n || h_n        (Ed25519 over these 56 bytes)
//! ```
//!
//! The bytes of a range enter the chain through their own SHA-256 (not raw), so a verifier can re-link a record
//! whose bytes were later rewritten (an `H` record superseded by a later `H` record for the same range: WAV
//! sizes, the fMP4 `mehd` duration) from the digest stored in the manifest, while every record still in force
//! is checked against the file itself.

use sha2::{Digest, Sha256};

use super::manifest::{Entry, FileKind, Status};

/// A SHA-256 digest / chain head.
pub type Hash = [u8; 32];

fn put_str(h: &mut Sha256, s: &str) {
    h.update((s.len() as u32).to_le_bytes());
    h.update(s.as_bytes());
}

/// The chain's starting value `h_0`.
pub fn genesis(recording_id: &str, start_utc_ms: i64, public_key: &[u8; 32]) -> Hash {
    let mut h = Sha256::new();
    h.update(b"verbatim-chain-v1");
    put_str(&mut h, recording_id);
    h.update(start_utc_ms.to_le_bytes());
    h.update(public_key);
    h.finalize().into()
}

/// The code of a file kind in a chain record.
pub fn kind_code(k: FileKind) -> u8 {
    match k {
        FileKind::Wav => 0,
        FileKind::Mp4 => 1,
        FileKind::Whole => 2,
    }
}

/// The code of a status in a chain record.
pub fn status_code(s: Status) -> u8 {
    match s {
        Status::Recording => 1,
        Status::Paused => 2,
        Status::Failed => 3,
        Status::Interrupted => 4,
        Status::Completed => 5,
    }
}

/// `h_i` from `h_{i-1}` and record `i`.
pub fn link(prev: &Hash, entry: &Entry) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    match entry {
        Entry::File { file, path, kind } => {
            h.update(b"F");
            h.update(file.to_le_bytes());
            put_str(&mut h, path);
            h.update([kind_code(*kind)]);
        }
        Entry::Data {
            file,
            offset,
            len,
            sha256,
        }
        | Entry::Header {
            file,
            offset,
            len,
            sha256,
        } => {
            h.update(if matches!(entry, Entry::Data { .. }) {
                b"D"
            } else {
                b"H"
            });
            h.update(file.to_le_bytes());
            h.update(offset.to_le_bytes());
            h.update(len.to_le_bytes());
            h.update(sha256.0);
        }
        Entry::Status { at, status, note } => {
            h.update(b"S");
            h.update(at.to_le_bytes());
            h.update([status_code(*status)]);
            put_str(&mut h, note);
        }
    }
    h.finalize().into()
}

/// The message an Ed25519 signature covers: the chain head after `n` records.
pub fn signing_message(n: u64, head: &Hash) -> [u8; 56] {
    let mut m = [0u8; 56];
    m[..16].copy_from_slice(b"verbatim-sign-v1");
    m[16..24].copy_from_slice(&n.to_le_bytes());
    m[24..].copy_from_slice(head);
    m
}

/// A running chain: the current head and the number of records linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// Current head `h_n`.
    pub head: Hash,
    /// Records linked so far (`n`).
    pub count: u64,
}

impl Chain {
    /// A chain at `h_0`.
    pub fn new(recording_id: &str, start_utc_ms: i64, public_key: &[u8; 32]) -> Self {
        Chain {
            head: genesis(recording_id, start_utc_ms, public_key),
            count: 0,
        }
    }
    /// Links one record; returns the new head.
    pub fn push(&mut self, entry: &Entry) -> Hash {
        self.head = link(&self.head, entry);
        self.count += 1;
        self.head
    }
}

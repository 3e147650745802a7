//! The hash chain: exact byte encoding.
//!
//! All integers are little-endian; strings are `u32 length || UTF-8 bytes`.
//!
//! ```text
//! h_0 = SHA-256(tag || str(recording_id) || i64 start_utc_ms || public_key[32])
//!       tag: "verbatim-chain-v1" (format version 1), "verbatim-chain-v2" (version 2): the version is bound into
//!       every signature, so a folder cannot be relabelled as another version
//! h_i = SHA-256(h_{i-1} || record_i)
//!
//! record (file declared)   = 'F' || u32 file_id || str(path) || u8 kind        (kind: 0 wav, 1 mp4, 2 whole)
//! record (data appended)   = 'D' || u32 file_id || u64 offset || u64 len || SHA-256(file[offset..offset+len])
//! record (header written)  = 'H' || u32 file_id || u64 offset || u64 len || SHA-256(file[offset..offset+len])
//! record (status change)   = 'S' || i64 at_ticks || u8 status || str(note)
//!                            (status: 1 recording, 2 paused, 3 failed, 4 interrupted, 5 completed)
//! record (recovered, v2)   = 'R' || u64 live_entries || i64 utc_ms || str(key_id)
//!                            || u32 count || str(accepted_tampering[i]) for each
//! record (timestamp, v2)   = 'T' || u64 entries || SHA-256(token)
//!
//! signed message (v1) = "verbatim-sign-v1" || u64 n || h_n               (Ed25519 over these 56 bytes)
//! signed message (v2) = "verbatim-sign-v2" || u64 n || h_n || i64 at      (64 bytes: the signature's time,
//!                       recording ticks, is signed too)
//! ```
//!
//! The bytes of a range enter the chain through their own SHA-256 (not raw), so a verifier can re-link a record
//! whose bytes were later rewritten (an `H` record superseded by a later `H` record for the same range: WAV
//! sizes, the fMP4 `mehd` duration) from the digest stored in the manifest, while every record still in force
//! is checked against the file itself.

use sha2::{Digest, Sha256};

use super::manifest::{format_version, Begin, Entry, FileKind, Status};

/// A SHA-256 digest / chain head.
pub type Hash = [u8; 32];

fn put_str(h: &mut Sha256, s: &str) {
    h.update((s.len() as u32).to_le_bytes());
    h.update(s.as_bytes());
}

/// The chain's starting value `h_0` of a version 1 folder.
pub fn genesis(recording_id: &str, start_utc_ms: i64, public_key: &[u8; 32]) -> Hash {
    genesis_tagged(b"verbatim-chain-v1", recording_id, start_utc_ms, public_key)
}

/// The chain's starting value `h_0` for a begin record, by its format version (an unknown version is
/// hashed as the newest: its signatures then fail, they never pass by accident).
pub fn genesis_for(begin: &Begin) -> Hash {
    let tag: &[u8] = match format_version(&begin.format) {
        Some(1) => b"verbatim-chain-v1",
        _ => b"verbatim-chain-v2",
    };
    genesis_tagged(
        tag,
        &begin.recording_id,
        begin.start_utc_ms,
        &begin.public_key.0,
    )
}

fn genesis_tagged(
    tag: &[u8],
    recording_id: &str,
    start_utc_ms: i64,
    public_key: &[u8; 32],
) -> Hash {
    let mut h = Sha256::new();
    h.update(tag);
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
        Entry::Recovered {
            live_entries,
            utc_ms,
            key_id,
            accepted_tampering,
        } => {
            h.update(b"R");
            h.update(live_entries.to_le_bytes());
            h.update(utc_ms.to_le_bytes());
            put_str(&mut h, key_id);
            h.update((accepted_tampering.len() as u32).to_le_bytes());
            for t in accepted_tampering {
                put_str(&mut h, t);
            }
        }
        Entry::Timestamp { entries, token } => {
            h.update(b"T");
            h.update(entries.to_le_bytes());
            h.update(Sha256::digest(&token.0));
        }
        Entry::Encrypted { scheme, recipients } => {
            h.update(b"E");
            put_str(&mut h, scheme);
            h.update((recipients.len() as u32).to_le_bytes());
            for r in recipients {
                put_str(&mut h, r);
            }
        }
    }
    h.finalize().into()
}

/// The message an Ed25519 signature of a version 1 folder covers: the chain head after `n` records.
pub fn signing_message(n: u64, head: &Hash) -> [u8; 56] {
    let mut m = [0u8; 56];
    m[..16].copy_from_slice(b"verbatim-sign-v1");
    m[16..24].copy_from_slice(&n.to_le_bytes());
    m[24..].copy_from_slice(head);
    m
}

/// The message a signature of format `format` covers (see the module docs): version 1 without the time,
/// version 2 on with it.
///
/// # Examples
/// ```
/// use muxer::integrity::chain::signing_message_for;
/// assert_eq!(signing_message_for("verbatim-manifest/1", 3, &[0; 32], 9).len(), 56);
/// assert_eq!(&signing_message_for("verbatim-manifest/2", 3, &[0; 32], 9)[..16], b"verbatim-sign-v2");
/// ```
pub fn signing_message_for(format: &str, n: u64, head: &Hash, at: i64) -> Vec<u8> {
    if format_version(format) == Some(1) {
        return signing_message(n, head).to_vec();
    }
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(b"verbatim-sign-v2");
    m.extend_from_slice(&n.to_le_bytes());
    m.extend_from_slice(head);
    m.extend_from_slice(&at.to_le_bytes());
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
    /// A chain at `h_0` of a version 1 folder (see [`Chain::for_begin`] for any version).
    pub fn new(recording_id: &str, start_utc_ms: i64, public_key: &[u8; 32]) -> Self {
        Chain {
            head: genesis(recording_id, start_utc_ms, public_key),
            count: 0,
        }
    }
    /// A chain at `h_0` for a begin record of any supported version.
    pub fn for_begin(begin: &Begin) -> Self {
        Chain {
            head: genesis_for(begin),
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

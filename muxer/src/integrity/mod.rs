//! Integrity: one SHA-256 hash chain per recording, signed with Ed25519.
//!
//! * [`chain`]: the exact byte encoding of every chain record and of the signed message.
//! * [`manifest`]: the chain records as JSON (`manifest.journal` while recording, `manifest.json` at the end).
//! * [`keys`]: key generation, the key file format, key ids and the default key location.
//! * [`timestamp`]: RFC 3161 time-stamps of signature checkpoints (request, token check).
//! * [`keyring`]: a file of trusted public keys with validity periods (verification across key rotation).

pub mod chain;
pub mod keyring;
pub mod keys;
pub mod manifest;
pub mod timestamp;

pub use chain::{Chain, Hash};
pub use keyring::{Keyring, KeyringEntry, KeyringError};
pub use keys::{
    default_key_path, generate_signing_key, key_id, load_public_key, load_signing_key,
    parse_public_key, public_key_text, save_signing_key, KeyError,
};
pub use manifest::{Entry, FileKind, Manifest, SigRecord, Status, StatusEvent, ENCRYPTION_SCHEME};

/// A byte range of a file and the SHA-256 of its bytes: what a chain record covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// SHA-256 of the bytes.
    pub sha256: Hash,
}

/// Lower-case hex helpers (no external crate).
pub(crate) mod hex {
    /// Lower-case hex of `bytes`.
    pub fn encode(bytes: &[u8]) -> String {
        const D: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            s.push(D[(b >> 4) as usize] as char);
            s.push(D[(b & 15) as usize] as char);
        }
        s
    }
    /// Parses exactly `N` bytes of lower-case hex.
    pub fn decode<const N: usize>(s: &str) -> Option<[u8; N]> {
        let b = s.as_bytes();
        if b.len() != 2 * N {
            return None;
        }
        let nib = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
        }
        Some(out)
    }
    /// Parses lower-case hex of any even length.
    pub fn decode_vec(s: &str) -> Option<Vec<u8>> {
        let b = s.as_bytes();
        if b.len() % 2 != 0 {
            return None;
        }
        let nib = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        b.chunks(2)
            .map(|p| Some((nib(p[0])? << 4) | nib(p[1])?))
            .collect()
    }
}

//! The on-disk layout of a sealed log and the sealing side.
//!
//! ```text
//! header : "VBSEAL" 0x00 VERSION | u32 LE n | n bytes: age file (binary) holding the 32-byte data key
//! record : u32 LE n | n bytes: ChaCha20-Poly1305(key, nonce = record number as u64 LE ‖ 0u32,
//!                                               aad = "VBSEAL" 0x00 VERSION ‖ record number u64 LE,
//!                                               plaintext = op u8 ‖ offset u64 LE ‖ bytes) ‖ 16-byte tag
//! op     : 0 = write `bytes` at `offset`; 1 = set the length to `offset` (no bytes)
//! ```
//!
//! A log cut at a record boundary is a valid log (a crash, or recovery's cut, loses only later records).
//!
//! # Example
//! ```
//! use seal::{generate_identity, Recipients, Sealer};
//! let (_, public) = generate_identity();
//! let (key, mut out) = seal::new_file_header(&Recipients::parse(&[public]).unwrap()).unwrap();
//! let header_len = out.len();
//! Sealer::new(&key).seal_set_len(0, &mut out).unwrap();
//! assert_eq!(out.len(), header_len + 4 + seal::format::RECORD_OVERHEAD);
//! ```

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};

use crate::{Recipients, SealError};

/// The magic at the start of every sealed file.
pub const MAGIC: [u8; 6] = *b"VBSEAL";
/// The format version this build writes and reads.
pub const VERSION: u8 = 1;
/// Bytes of the fixed part of the header (magic, a zero byte, the version, the wrapped key's length).
pub const HEADER_FIXED: usize = 12;
/// The largest wrapped key accepted (age stanzas of many recipients; far above what 100 recipients need).
pub const MAX_WRAPPED: u32 = 1 << 20;
/// Most plaintext bytes one record carries; longer writes are split.
pub const MAX_RECORD_BYTES: usize = 4 << 20;
/// Bytes a record adds to what it carries: operation, offset, tag.
pub const RECORD_OVERHEAD: usize = 1 + 8 + 16;
/// Operation code: bytes written at an offset.
pub const OP_WRITE: u8 = 0;
/// Operation code: the file's length set.
pub const OP_SET_LEN: u8 = 1;

/// A file's 256-bit data key (random per file; never stored in the clear).
///
/// ```
/// let k = seal::DataKey::random().unwrap();
/// assert_eq!(format!("{k:?}"), "DataKey(..)");
/// ```
#[derive(Clone)]
pub struct DataKey(pub(crate) [u8; 32]);

impl DataKey {
    /// A fresh key from the OS random generator.
    ///
    /// # Errors
    /// [`SealError::Random`].
    pub fn random() -> Result<DataKey, SealError> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| SealError::Random(e.to_string()))?;
        Ok(DataKey(k))
    }

    /// A key from its bytes (tests and fuzzing; real keys come from [`new_file_header`] or an unwrap).
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(bytes)
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A fresh data key and the file header that wraps it to `recipients` (to be written first in the file).
///
/// # Errors
/// [`SealError::Random`], [`SealError::Wrapped`] (age refused the recipients).
pub fn new_file_header(recipients: &Recipients) -> Result<(DataKey, Vec<u8>), SealError> {
    let key = DataKey::random()?;
    let wrapped = recipients.wrap(&key.0)?;
    let mut out = Vec::with_capacity(HEADER_FIXED + wrapped.len());
    out.extend_from_slice(&MAGIC);
    out.push(0);
    out.push(VERSION);
    out.extend_from_slice(&(wrapped.len() as u32).to_le_bytes());
    out.extend_from_slice(&wrapped);
    Ok((key, out))
}

pub(crate) fn nonce(record: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&record.to_le_bytes());
    Nonce::from(n)
}

pub(crate) fn aad(record: u64) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..6].copy_from_slice(&MAGIC);
    a[7] = VERSION;
    a[8..].copy_from_slice(&record.to_le_bytes());
    a
}

pub(crate) fn cipher(key: &DataKey) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(Key::from_slice(&key.0))
}

/// Seals the records of one file, numbering them from 0 (the nonce).
///
/// ```
/// let key = seal::DataKey::from_bytes([7; 32]);
/// let mut out = Vec::new();
/// let mut s = seal::Sealer::new(&key);
/// s.seal_write(80, b"samples", &mut out).unwrap();
/// assert_eq!(out.len(), 4 + seal::format::RECORD_OVERHEAD + 7);
/// assert_eq!(s.records(), 1);
/// ```
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    next: u64,
}

impl Sealer {
    /// A sealer for a new file under `key` (record numbers start at 0).
    pub fn new(key: &DataKey) -> Sealer {
        Sealer {
            cipher: cipher(key),
            next: 0,
        }
    }

    /// Records sealed so far.
    pub fn records(&self) -> u64 {
        self.next
    }

    /// Appends to `out` the records writing `bytes` at `offset` (one per [`MAX_RECORD_BYTES`]).
    ///
    /// # Errors
    /// [`SealError::CounterExhausted`].
    pub fn seal_write(
        &mut self,
        offset: u64,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        let mut at = offset;
        for part in bytes.chunks(MAX_RECORD_BYTES) {
            self.seal(OP_WRITE, at, part, out)?;
            at += part.len() as u64;
        }
        Ok(())
    }

    /// Appends to `out` the record setting the file's length to `len`.
    ///
    /// # Errors
    /// [`SealError::CounterExhausted`].
    pub fn seal_set_len(&mut self, len: u64, out: &mut Vec<u8>) -> Result<(), SealError> {
        self.seal(OP_SET_LEN, len, &[], out)
    }

    fn seal(
        &mut self,
        op: u8,
        offset: u64,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        let n = self.next;
        if n == u64::MAX {
            return Err(SealError::CounterExhausted);
        }
        let ct_len = (RECORD_OVERHEAD + bytes.len()) as u32;
        out.extend_from_slice(&ct_len.to_le_bytes());
        let start = out.len();
        out.push(op);
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(bytes);
        let tag: Tag = self
            .cipher
            .encrypt_in_place_detached(&nonce(n), &aad(n), &mut out[start..])
            .map_err(|_| SealError::Cipher)?;
        out.extend_from_slice(&tag);
        self.next = n + 1;
        Ok(())
    }
}

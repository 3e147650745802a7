//! Reading a sealed log back: the header, the key unwrapped with an identity, then one operation per record.

use std::io::{self, Read};

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Tag};

use crate::format::{
    aad, cipher, nonce, DataKey, HEADER_FIXED, MAGIC, MAX_RECORD_BYTES, MAX_WRAPPED, OP_SET_LEN,
    OP_WRITE, RECORD_OVERHEAD, VERSION,
};
use crate::{Identities, SealError};

/// One operation on the plaintext file, as a record holds it.
#[derive(Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// `bytes` written at `offset`.
    Write {
        /// First byte.
        offset: u64,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// The file's length set to this.
    SetLen(u64),
}

/// Reads the records of one sealed file in order, authenticating each.
///
/// ```
/// let key = seal::DataKey::from_bytes([1; 32]);
/// let mut recs = Vec::new();
/// seal::Sealer::new(&key).seal_write(4, b"abc", &mut recs).unwrap();
/// let mut r = seal::SealedReader::with_key(&recs[..], &key, 0);
/// assert_eq!(r.next_op().unwrap(), Some(seal::Op::Write { offset: 4, bytes: b"abc" }));
/// assert_eq!(r.next_op().unwrap(), None);
/// recs[10] ^= 1;
/// assert!(seal::SealedReader::with_key(&recs[..], &key, 0).next_op().is_err());
/// ```
pub struct SealedReader<R> {
    r: R,
    cipher: ChaCha20Poly1305,
    /// Offset in the file of the next record.
    pos: u64,
    record: u64,
    buf: Vec<u8>,
}

/// Reads up to `buf.len()` bytes; returns how many (fewer only at the end of the input).
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads a sealed file's header; returns the wrapped key and the header's length.
fn read_header<R: Read>(r: &mut R) -> Result<(Vec<u8>, u64), SealError> {
    let mut fixed = [0u8; HEADER_FIXED];
    let n = read_full(r, &mut fixed)?;
    if n < 8 || fixed[..6] != MAGIC || fixed[6] != 0 {
        return Err(if n < 8 && fixed[..n] == MAGIC[..n.min(6)] {
            SealError::Truncated {
                offset: n as u64,
                what: "the header",
            }
        } else {
            SealError::NotSealed
        });
    }
    if fixed[7] != VERSION {
        return Err(SealError::Version(fixed[7]));
    }
    if n < HEADER_FIXED {
        return Err(SealError::Truncated {
            offset: n as u64,
            what: "the header",
        });
    }
    let len = u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
    if len == 0 || len > MAX_WRAPPED {
        return Err(SealError::BadLength {
            what: "the wrapped key",
            offset: 8,
            len: len.into(),
            min: 1,
            max: MAX_WRAPPED.into(),
        });
    }
    let mut wrapped = vec![0u8; len as usize];
    let got = read_full(r, &mut wrapped)?;
    if got < wrapped.len() {
        return Err(SealError::Truncated {
            offset: (HEADER_FIXED + got) as u64,
            what: "the header",
        });
    }
    let end = (HEADER_FIXED + wrapped.len()) as u64;
    Ok((wrapped, end))
}

impl<R: Read> SealedReader<R> {
    /// Reads the header from `r` and opens the data key with one of `ids`.
    ///
    /// # Errors
    /// [`SealError::NotSealed`], [`SealError::Version`], [`SealError::Truncated`], [`SealError::BadLength`],
    /// [`SealError::WrongIdentity`], [`SealError::Wrapped`], [`SealError::Io`].
    pub fn open(mut r: R, ids: &Identities) -> Result<SealedReader<R>, SealError> {
        let (wrapped, at) = read_header(&mut r)?;
        let key = DataKey(ids.unwrap_key(&wrapped)?);
        Ok(SealedReader::with_key(r, &key, at))
    }

    /// Reads records from `r` (positioned after the header, at file offset `at`) with a known key.
    pub fn with_key(r: R, key: &DataKey, at: u64) -> SealedReader<R> {
        SealedReader {
            r,
            cipher: cipher(key),
            pos: at,
            record: 0,
            buf: Vec::new(),
        }
    }

    /// Offset in the file of the next record (the end of the last one read).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next operation, `None` at a clean end (a record boundary).
    ///
    /// # Errors
    /// [`SealError::Truncated`] (a partial record at the end), [`SealError::BadLength`], [`SealError::Auth`],
    /// [`SealError::UnknownOp`], [`SealError::Io`].
    pub fn next_op(&mut self) -> Result<Option<Op<'_>>, SealError> {
        let at = self.pos;
        let mut len = [0u8; 4];
        match read_full(&mut self.r, &mut len)? {
            0 => return Ok(None),
            4 => {}
            _ => {
                return Err(SealError::Truncated {
                    offset: at,
                    what: "a record",
                })
            }
        }
        let n = u32::from_le_bytes(len) as usize;
        let max = RECORD_OVERHEAD + MAX_RECORD_BYTES;
        if !(RECORD_OVERHEAD..=max).contains(&n) {
            return Err(SealError::BadLength {
                what: "a record",
                offset: at,
                len: n as u64,
                min: RECORD_OVERHEAD as u64,
                max: max as u64,
            });
        }
        self.buf.resize(n, 0);
        if read_full(&mut self.r, &mut self.buf)? < n {
            return Err(SealError::Truncated {
                offset: at,
                what: "a record",
            });
        }
        let record = self.record;
        let (body, tag) = self.buf.split_at_mut(n - 16);
        let tag = Tag::clone_from_slice(tag);
        self.cipher
            .decrypt_in_place_detached(&nonce(record), &aad(record), body, &tag)
            .map_err(|_| SealError::Auth { record, offset: at })?;
        self.record += 1;
        self.pos = at + 4 + n as u64;
        let mut off = [0u8; 8];
        off.copy_from_slice(&body[1..9]);
        let offset = u64::from_le_bytes(off);
        match body[0] {
            OP_WRITE => Ok(Some(Op::Write {
                offset,
                bytes: &body[9..],
            })),
            OP_SET_LEN if body.len() == 9 => Ok(Some(Op::SetLen(offset))),
            op => Err(SealError::UnknownOp {
                record,
                offset: at,
                op,
            }),
        }
    }
}

/// Replays a whole sealed file into memory (at most `max` bytes of plaintext).
///
/// # Errors
/// As [`SealedReader::open`] and [`SealedReader::next_op`]; [`SealError::TooLarge`].
pub fn replay_to_vec<R: Read>(r: R, ids: &Identities, max: u64) -> Result<Vec<u8>, SealError> {
    let mut rd = SealedReader::open(r, ids)?;
    replay_reader(&mut rd, max)
}

/// Replays the records of `rd` into memory (at most `max` bytes of plaintext).
///
/// # Errors
/// As [`SealedReader::next_op`]; [`SealError::TooLarge`].
pub fn replay_reader<R: Read>(rd: &mut SealedReader<R>, max: u64) -> Result<Vec<u8>, SealError> {
    let mut out = Vec::new();
    while let Some(op) = rd.next_op()? {
        match op {
            Op::SetLen(len) => {
                if len > max {
                    return Err(SealError::TooLarge { len, max });
                }
                out.resize(len as usize, 0);
            }
            Op::Write { offset, bytes } => {
                let end = offset.saturating_add(bytes.len() as u64);
                if end > max {
                    return Err(SealError::TooLarge { len: end, max });
                }
                if out.len() < end as usize {
                    out.resize(end as usize, 0);
                }
                out[offset as usize..end as usize].copy_from_slice(bytes);
            }
        }
    }
    Ok(out)
}

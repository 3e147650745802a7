//! Encryption at rest for recording folders: every file is an append-only **sealed log**.
//!
//! Where it sits: the recorder's `muxer` writer wraps each file of an encrypted
//! recording in a sealed log (muxer's `storage::SealedFile`) and links the sealed bytes into the hash chain;
//! `verbatim decrypt` replays the logs back into plaintext files with an identity. This crate knows nothing of
//! recordings: it is the format, the keys and the reader.
//!
//! * Keys: recipients and identities in the standard [age](https://age-encryption.org) X25519 format
//!   (`age1…` / `AGE-SECRET-KEY-1…`), see [`Recipients`], [`Identities`], [`generate_identity`]. The
//!   recorder holds only recipients (public keys).
//! * Layout ([`format`](mod@format)): a file header (magic, version, the file's random 256-bit data key wrapped to every
//!   recipient with age), then records `[u32 len][ChaCha20-Poly1305 ciphertext + tag]`, each holding one
//!   operation on the plaintext file ([`Op`]): bytes written at an offset, or a new length. An in-place
//!   rewrite of the plaintext (a WAV header refresh, an MP4 `mehd` patch) is a later record; when replayed in
//!   order the later write wins.
//! * Nonces: record `n` of a file is sealed with nonce `n` under that file's own random key; a key is never
//!   used for a second file and records are only ever appended, so no (key, nonce) pair repeats.
//!
//! # Example
//! ```
//! use seal::{generate_identity, Identities, Op, Recipients, SealedReader, Sealer};
//! let (secret, public) = generate_identity();
//! let recipients = Recipients::parse(&[public]).unwrap();
//! let (key, mut file) = seal::new_file_header(&recipients).unwrap();
//! let mut sealer = Sealer::new(&key);
//! sealer.seal_write(0, b"hello world", &mut file).unwrap();
//! sealer.seal_write(0, b"HELLO", &mut file).unwrap(); // a rewrite in place: a later record
//! assert!(!file.windows(5).any(|w| w == b"hello"));
//! let ids = Identities::parse(&secret).unwrap();
//! let mut r = SealedReader::open(&file[..], &ids).unwrap();
//! assert!(matches!(r.next_op().unwrap(), Some(Op::Write { offset: 0, .. })));
//! assert_eq!(seal::replay_to_vec(&file[..], &ids, 1 << 20).unwrap(), b"HELLO world");
//! ```

pub mod format;
mod keys;
mod reader;

pub use format::{new_file_header, DataKey, Sealer};
pub use keys::{generate_identity, Identities, Recipients};
pub use reader::{replay_reader, replay_to_vec, Op, SealedReader};

/// What can go wrong reading, writing or opening a sealed file.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The bytes do not start with the sealed-log magic.
    #[error("not a sealed file (no VBSEAL header)")]
    NotSealed,
    /// A later format version.
    #[error("sealed-file version {0} is not supported (this build reads version {v})", v = format::VERSION)]
    Version(u8),
    /// The file ends inside its header or inside a record.
    #[error("sealed file cut short at byte {offset} (inside {what})")]
    Truncated {
        /// Where the missing bytes start.
        offset: u64,
        /// The header or a record.
        what: &'static str,
    },
    /// A length field out of bounds.
    #[error("{what} at byte {offset} declares {len} bytes (allowed {min}..={max})")]
    BadLength {
        /// The field.
        what: &'static str,
        /// Where it is.
        offset: u64,
        /// What it says.
        len: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A record's tag does not check.
    #[error("record {record} at byte {offset} fails authentication (altered, moved, or not of this file)")]
    Auth {
        /// Record number (its nonce).
        record: u64,
        /// Where it starts.
        offset: u64,
    },
    /// An authenticated record with an operation this build does not know.
    #[error("record {record} at byte {offset} holds unknown operation {op}")]
    UnknownOp {
        /// Record number.
        record: u64,
        /// Where it starts.
        offset: u64,
        /// The operation code.
        op: u8,
    },
    /// None of the identities opens the wrapped key.
    #[error(
        "none of the identities given can open this file (it was encrypted to other recipients)"
    )]
    WrongIdentity,
    /// The wrapped data key is not a valid age file holding a 32-byte key.
    #[error("the wrapped file key is malformed: {0}")]
    Wrapped(String),
    /// A recipient that is not an age X25519 recipient.
    #[error("invalid recipient {text:?}: {reason} (expected an age X25519 recipient, age1…)")]
    Recipient {
        /// What was given.
        text: String,
        /// Why it was refused.
        reason: String,
    },
    /// No recipient was given.
    #[error("no recipient given")]
    NoRecipient,
    /// An identity file without a usable identity.
    #[error("invalid identity: {0}")]
    Identity(String),
    /// The replayed plaintext would be larger than allowed.
    #[error("the plaintext would reach {len} bytes (allowed {max})")]
    TooLarge {
        /// Where the plaintext would end.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The record counter is exhausted (2^64 records in one file).
    #[error("too many records in one sealed file")]
    CounterExhausted,
    /// The cipher refused a record (longer than ChaCha20-Poly1305 can seal).
    #[error("the cipher refused a record")]
    Cipher,
    /// The OS random generator failed.
    #[error("the OS random generator failed: {0}")]
    Random(String),
    /// Reading or writing.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

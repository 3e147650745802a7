//! The manifest (`manifest.json`) and the journal (`manifest.journal`) formats.
//!
//! # Journal (while recording)
//! `manifest.journal` is append-only, one JSON object per line (`\n`-terminated), flushed to the OS after every
//! record (or after each batch of the writer's calls, `RecordingWriter::batch_journal`, and always before a sync
//! point) and fsynced at every sync point. A line is self-delimiting: a reader stops at the first line that is
//! not complete, valid JSON (what `kill -9` or a power loss can leave). Lines:
//!
//! * `{"begin":{"format":"verbatim-manifest/2","recording_id":…,"start_utc_ms":…,"public_key":hex,"key_id":…}}` —
//!   first line (`key_id` only from version 2 on).
//! * `{"entry":{"t":"file"|"data"|"header"|"status"|"recovered",…}}` — one chain record each (see [`Entry`]), in
//!   chain order.
//! * `{"sig":{"entries":n,"head":hex,"signature":hex,"at":ticks}}` — a signature of the head after `n` records.
//!
//! # Manifest (at the end)
//! `manifest.json` is one JSON object in a fixed, canonical layout ([`Manifest::render`]): one field per line,
//! one signature / entry per line. A verifier parses it, renders it again and requires the identical bytes, so
//! no byte of it (not even white space) can change unnoticed. Derived fields (`files`, `status_history`,
//! `final_status`, `entry_count`, `chain_head`) must equal what the entries give.
//!
//! # Versions
//! The `format` field names the version; every version ever written stays readable (committed fixtures of each
//! live in `testdata/format/`).
//!
//! * `verbatim-manifest/1`: the first version.
//! * `verbatim-manifest/2`: adds `key_id` (the signing key's id, [`super::keys::key_id`]) to the begin line and
//!   the manifest, and the `recovered` chain record: a folder closed by recovery says which records were
//!   signed live and which were sealed at recovery, by which key, when, and which altered ranges an operator
//!   accepted. Its chain starts from `verbatim-chain-v2` (the key id is part of `h_0`), and its signatures
//!   cover their time. The `timestamp` record holds an RFC 3161 token of a signature checkpoint.

use std::fmt::Write as _;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::chain::{Chain, Hash};
use super::hex;

/// The `format` value of the version written today.
pub const FORMAT: &str = FORMAT_V2;
/// The first format version (read, never written any more).
pub const FORMAT_V1: &str = "verbatim-manifest/1";
/// Version 2: key ids and the `recovered` record.
pub const FORMAT_V2: &str = "verbatim-manifest/2";
/// Every version this code reads, oldest first.
pub const SUPPORTED_FORMATS: [&str; 2] = [FORMAT_V1, FORMAT_V2];

/// The version number of a `format` value this code reads (1, 2), or `None`.
///
/// # Examples
/// ```
/// use muxer::integrity::manifest::{format_version, FORMAT};
/// assert_eq!(format_version(FORMAT), Some(2));
/// assert_eq!(format_version("verbatim-manifest/1"), Some(1));
/// assert_eq!(format_version("verbatim-manifest/9"), None);
/// ```
pub fn format_version(format: &str) -> Option<u32> {
    match format {
        FORMAT_V1 => Some(1),
        FORMAT_V2 => Some(2),
        _ => None,
    }
}

/// `N` bytes serialized as lower-case hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexBytes<const N: usize>(pub [u8; N]);

impl<const N: usize> Serialize for HexBytes<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de, const N: usize> Deserialize<'de> for HexBytes<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode::<N>(&s).map(HexBytes).ok_or_else(|| {
            serde::de::Error::custom(format!("expected {N} bytes of lower-case hex"))
        })
    }
}

/// Bytes of any length serialized as lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HexVec(pub Vec<u8>);

impl Serialize for HexVec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexVec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode_vec(&s)
            .map(HexVec)
            .ok_or_else(|| serde::de::Error::custom("expected lower-case hex"))
    }
}

/// What kind of file a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A WAV/RF64 stem (80-byte rewritable header, then appended samples).
    Wav,
    /// A fragmented MP4 (rewritable init segment, then appended fragments).
    Mp4,
    /// A file without a header, linked in appended regions: written whole at once (e.g. `metadata.json`)
    /// or appended during the recording (e.g. `timeline.jsonl`).
    Whole,
}

/// A recording's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Media is being recorded.
    Recording,
    /// Recording paused (e.g. PCI DSS: card data being spoken).
    Paused,
    /// Recording failed (terminal).
    Failed,
    /// The recorder stopped without closing; closed later by recovery (terminal).
    Interrupted,
    /// Recording ended normally (terminal).
    Completed,
}

impl Status {
    /// True for the statuses a manifest can be closed with.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Interrupted | Status::Completed
        )
    }
}

/// One chain record (see [`super::chain`] for its byte encoding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// A file was added to the recording folder.
    File {
        /// File id (index in declaration order).
        file: u32,
        /// Path relative to the folder, `/`-separated.
        path: String,
        /// Kind of file.
        kind: FileKind,
    },
    /// Bytes appended to a file (a fragment, a WAV chunk, a whole file). Never rewritten.
    Data {
        /// File id.
        file: u32,
        /// First byte.
        offset: u64,
        /// Length.
        len: u64,
        /// SHA-256 of the bytes.
        sha256: HexBytes<32>,
    },
    /// A header region written (or rewritten); a later `header` for the same file and range supersedes it.
    Header {
        /// File id.
        file: u32,
        /// First byte.
        offset: u64,
        /// Length.
        len: u64,
        /// SHA-256 of the bytes.
        sha256: HexBytes<32>,
    },
    /// The recording's status changed.
    Status {
        /// Recording time in 100 ns ticks.
        at: i64,
        /// New status.
        status: Status,
        /// Free text (reason, operator, …).
        note: String,
    },
    /// Version 2: the folder was closed by recovery after a crash. Records `1..=live_entries` were covered by a
    /// signature made while recording; every later record was sealed by recovery with key `key_id`.
    Recovered {
        /// Records covered by the last live signature still valid (0: none).
        live_entries: u64,
        /// Wall clock of the recovery, Unix ms (UTC).
        utc_ms: i64,
        /// Id of the key that sealed the rest.
        key_id: String,
        /// Ranges that differed from their live signature and were accepted by the operator
        /// (`recover --accept-tampered`), as `path bytes a..b: cause`; empty when nothing differed.
        accepted_tampering: Vec<String>,
    },
    /// Version 2: an RFC 3161 time-stamp token of the signature over the first `entries` records (see
    /// [`super::timestamp`]); linked when it arrives, so later signatures cover it.
    Timestamp {
        /// The signature's record count.
        entries: u64,
        /// The DER `TimeStampToken` (CMS `ContentInfo`) the time-stamping authority returned.
        token: HexVec,
    },
    /// Version 2: every file of the folder is a sealed log (encryption at rest, see `docs/encryption.md`);
    /// the `data` records link the sealed bytes on disk. The first record of an encrypted recording.
    Encrypted {
        /// The sealed-log format, [`ENCRYPTION_SCHEME`].
        scheme: String,
        /// The age recipients (public keys, `age1…`) every file's key is wrapped to.
        recipients: Vec<String>,
    },
}

/// The scheme named by an [`Entry::Encrypted`] record this build writes.
pub const ENCRYPTION_SCHEME: &str = "vbseal1 (age x25519 + chacha20poly1305)";

/// A signature of the chain head after `entries` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigRecord {
    /// Number of records covered.
    pub entries: u64,
    /// The chain head `h_entries`.
    pub head: HexBytes<32>,
    /// Ed25519 signature of [`super::chain::signing_message_for`].
    pub signature: HexBytes<64>,
    /// Recording time of signing, 100 ns ticks (signed from version 2 on).
    pub at: i64,
}

/// The first journal line: what the chain's `h_0` is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Begin {
    /// Always [`FORMAT`].
    pub format: String,
    /// Caller-chosen recording id.
    pub recording_id: String,
    /// Wall-clock time of recording time 0, Unix milliseconds (UTC).
    pub start_utc_ms: i64,
    /// The signing public key.
    pub public_key: HexBytes<32>,
    /// Version 2: the key's id ([`super::keys::key_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// One line of `manifest.journal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum JournalLine {
    /// First line.
    Begin(Begin),
    /// A chain record.
    Entry(Entry),
    /// A signature.
    Sig(SigRecord),
}

impl JournalLine {
    /// The line's bytes (JSON + `\n`).
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.append_line(&mut v);
        v
    }

    /// Appends the line's bytes (JSON + `\n`) to `out`.
    ///
    /// ```
    /// use muxer::integrity::manifest::JournalLine;
    /// use muxer::integrity::{Entry, Status};
    /// let line = JournalLine::Entry(Entry::Status { at: 0, status: Status::Recording, note: "go".into() });
    /// let mut out = b"earlier\n".to_vec();
    /// line.append_line(&mut out);
    /// assert_eq!(&out[8..], &line.to_line()[..]);
    /// ```
    pub fn append_line(&self, out: &mut Vec<u8>) {
        let start = out.len();
        // Serializing these plain types cannot fail; fall back to an empty object that a reader rejects.
        if serde_json::to_writer(&mut *out, self).is_err() {
            out.truncate(start);
            out.extend_from_slice(b"{}");
        }
        out.push(b'\n');
    }
}

/// Parses journal bytes: the complete, valid lines up to the first bad or unterminated one. Returns the lines
/// and the byte length they occupy.
pub fn parse_journal(bytes: &[u8]) -> (Vec<JournalLine>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') {
        match serde_json::from_slice::<JournalLine>(&bytes[pos..pos + nl]) {
            Ok(l) => out.push(l),
            Err(_) => break,
        }
        pos += nl + 1;
    }
    (out, pos)
}

/// A file as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSummary {
    /// File id.
    pub id: u32,
    /// Relative path.
    pub path: String,
    /// Kind.
    pub kind: FileKind,
    /// Length the chain covers (the file's length).
    pub size: u64,
}

/// One status change, as listed in `status_history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusEvent {
    /// Recording time, 100 ns ticks.
    pub at: i64,
    /// Wall clock, Unix ms (`start_utc_ms + at`).
    pub utc_ms: i64,
    /// Status.
    pub status: Status,
    /// Note.
    pub note: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Recording id.
    pub recording_id: String,
    /// Wall clock of recording time 0, Unix ms.
    pub start_utc_ms: i64,
    /// Ed25519 public key of the signer.
    pub public_key: HexBytes<32>,
    /// Version 2: the signing key's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The last status.
    pub final_status: Option<Status>,
    /// Files of the folder (derived from the entries).
    pub files: Vec<FileSummary>,
    /// Status changes (derived from the entries).
    pub status_history: Vec<StatusEvent>,
    /// Number of chain records.
    pub entry_count: u64,
    /// Final chain head.
    pub chain_head: HexBytes<32>,
    /// Signatures, oldest first; the last covers all entries.
    pub signatures: Vec<SigRecord>,
    /// The chain records in order.
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// Builds a manifest from the begin record, the entries and the signatures, computing derived fields.
    pub fn build(begin: &Begin, entries: Vec<Entry>, signatures: Vec<SigRecord>) -> Manifest {
        let mut chain = Chain::for_begin(begin);
        let mut files: Vec<FileSummary> = Vec::new();
        let mut status_history = Vec::new();
        for e in &entries {
            chain.push(e);
            match e {
                Entry::File { file, path, kind } => files.push(FileSummary {
                    id: *file,
                    path: path.clone(),
                    kind: *kind,
                    size: 0,
                }),
                Entry::Data {
                    file, offset, len, ..
                }
                | Entry::Header {
                    file, offset, len, ..
                } => {
                    if let Some(f) = files.iter_mut().find(|f| f.id == *file) {
                        f.size = f.size.max(offset.saturating_add(*len));
                    }
                }
                Entry::Status { at, status, note } => status_history.push(StatusEvent {
                    at: *at,
                    utc_ms: begin.start_utc_ms.saturating_add(at / 10_000),
                    status: *status,
                    note: note.clone(),
                }),
                Entry::Recovered { .. } | Entry::Timestamp { .. } | Entry::Encrypted { .. } => {}
            }
        }
        Manifest {
            format: begin.format.clone(),
            recording_id: begin.recording_id.clone(),
            start_utc_ms: begin.start_utc_ms,
            public_key: begin.public_key,
            key_id: begin.key_id.clone(),
            final_status: status_history.last().map(|s| s.status),
            files,
            status_history,
            entry_count: chain.count,
            chain_head: HexBytes(chain.head),
            signatures,
            entries,
        }
    }

    /// The begin record this manifest's chain starts from.
    pub fn begin(&self) -> Begin {
        Begin {
            format: self.format.clone(),
            recording_id: self.recording_id.clone(),
            start_utc_ms: self.start_utc_ms,
            public_key: self.public_key,
            key_id: self.key_id.clone(),
        }
    }

    /// The recipients of an encrypted folder (its [`Entry::Encrypted`] record), `None` for a plaintext one.
    pub fn encrypted_to(&self) -> Option<&[String]> {
        self.entries.iter().find_map(|e| match e {
            Entry::Encrypted { recipients, .. } => Some(recipients.as_slice()),
            _ => None,
        })
    }

    /// The `recovered` record, when recovery closed this folder (version 2).
    pub fn recovered(&self) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| matches!(e, Entry::Recovered { .. }))
    }

    /// The canonical bytes of `manifest.json`.
    pub fn render(&self) -> Vec<u8> {
        fn j<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap_or_default()
        }
        let mut s = String::from("{\n");
        let _ = writeln!(s, "  \"format\": {},", j(&self.format));
        let _ = writeln!(s, "  \"recording_id\": {},", j(&self.recording_id));
        let _ = writeln!(s, "  \"start_utc_ms\": {},", self.start_utc_ms);
        let _ = writeln!(s, "  \"public_key\": {},", j(&self.public_key));
        if let Some(id) = &self.key_id {
            let _ = writeln!(s, "  \"key_id\": {},", j(id));
        }
        let _ = writeln!(s, "  \"final_status\": {},", j(&self.final_status));
        let list = |s: &mut String, name: &str, items: Vec<String>, last: bool| {
            let _ = write!(s, "  \"{name}\": [");
            for (i, it) in items.iter().enumerate() {
                let _ = write!(s, "{}\n    {it}", if i == 0 { "" } else { "," });
            }
            if !items.is_empty() {
                s.push_str("\n  ");
            }
            s.push_str(if last { "]\n" } else { "],\n" });
        };
        list(&mut s, "files", self.files.iter().map(j).collect(), false);
        list(
            &mut s,
            "status_history",
            self.status_history.iter().map(j).collect(),
            false,
        );
        let _ = writeln!(s, "  \"entry_count\": {},", self.entry_count);
        let _ = writeln!(s, "  \"chain_head\": {},", j(&self.chain_head));
        list(
            &mut s,
            "signatures",
            self.signatures.iter().map(j).collect(),
            false,
        );
        list(
            &mut s,
            "entries",
            self.entries.iter().map(j).collect(),
            true,
        );
        s.push_str("}\n");
        s.into_bytes()
    }

    /// Parses `manifest.json` bytes (no checks beyond the JSON shape).
    ///
    /// # Errors
    /// The JSON error.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The hash of a chain head as hex (for reports).
pub fn head_hex(h: &Hash) -> String {
    hex::encode(h)
}

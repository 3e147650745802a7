//! Verifies a closed recording folder against its manifest.
//!
//! Checks, in this order: `manifest.json` is present, parses and is byte-for-byte in canonical form; its format
//! (every version ever written is read: see [`crate::integrity::manifest`]); the public key and its id, and that
//! it is trusted ([`Trust`]: a given public key, a keyring with validity periods, or — only when asked — the key
//! the manifest embeds); the chain recomputed from the entries matches
//! every signature's head and every signature is valid (the last covering all entries); the derived fields; the
//! recording is closed (terminal status); every listed file exists with exactly the covered length, its regions
//! tile it from 0 to its end, and each region's SHA-256 matches (MP4 regions must also be a valid init segment
//! or one complete fragment); no other file is in the folder, and nothing in it is a symbolic link.
//!
//! The report says which byte ranges were signed while recording and which were sealed later by recovery
//! ([`FileCoverage`], [`RecoveryInfo`]).

mod coverage;

pub use coverage::{FileCoverage, RecoveryInfo};

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::fmp4::reader;
use crate::integrity::chain::{signing_message_for, Chain};
use crate::integrity::manifest::format_version;
use crate::integrity::{hex, key_id, Keyring, KeyringError};
use crate::integrity::{Entry, FileKind, Manifest, Status};
use crate::recording::MANIFEST_FILE;

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// One line: what was checked.
    pub summary: String,
    /// Recording id.
    pub recording_id: String,
    /// Files checked (without the manifest).
    pub files: usize,
    /// Media/metadata bytes hashed.
    pub bytes: u64,
    /// Chain records.
    pub entries: u64,
    /// Signatures checked.
    pub signatures: usize,
    /// Final status.
    pub final_status: Status,
    /// The signer's public key (hex).
    pub public_key: String,
    /// The signer's key id.
    pub key_id: String,
    /// The manifest's format (`verbatim-manifest/N`).
    pub format: String,
    /// How the signer's key was trusted.
    pub trusted: Trusted,
    /// Per file: the byte ranges signed live and those sealed at recovery.
    pub coverage: Vec<FileCoverage>,
    /// Set when recovery closed the folder (version 2 on).
    pub recovery: Option<RecoveryInfo>,
    /// RFC 3161 time-stamps of signature checkpoints: (signature's record count, the TSA's time when the
    /// token was checked against a TSA certificate, `None` when no certificate was given).
    pub timestamps: Vec<(u64, Option<String>)>,
    /// An encrypted folder's recipients (`age1…`): the chain covers the sealed bytes, checked without a key.
    pub encrypted_to: Option<Vec<String>>,
}

/// How to verify: which signer to trust, and the TSA certificate time-stamp tokens must be signed by.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// The signer's key.
    pub trust: Trust<'a>,
    /// The time-stamping authority's certificate (PEM or DER); without it tokens are listed, not checked.
    pub tsa_cert: Option<&'a [u8]>,
}

/// Which key a verification accepts.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// Exactly this public key.
    Key(&'a VerifyingKey),
    /// Any key of the keyring in service when the recording started.
    Keyring(&'a Keyring),
    /// Whatever key the manifest names: proves only that the folder is unchanged since *someone* signed it.
    EmbeddedKey,
}

/// How the signer's key was trusted, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trusted {
    /// It is the public key given.
    GivenKey,
    /// It is in the keyring, in service at the recording's start; the entry's label.
    Keyring(String),
    /// Only the key embedded in the manifest was used: the signer is not authenticated.
    EmbeddedOnly,
}

/// Why a folder does not verify: the first problem found.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No `manifest.json` (with `journal: true` when a journal says the recording was never closed).
    #[error("{dir}: no manifest.json{}", if *journal { " (manifest.journal present: run recover)" } else { "" })]
    NoManifest {
        /// The folder.
        dir: PathBuf,
        /// A journal is present.
        journal: bool,
    },
    /// The manifest is not valid JSON of the expected shape.
    #[error("manifest.json unreadable: {0}")]
    ManifestUnreadable(String),
    /// The manifest's bytes differ from its canonical form from `offset` on (altered).
    #[error("manifest.json altered: differs from its canonical form at byte {offset}")]
    ManifestNotCanonical {
        /// First differing byte.
        offset: u64,
    },
    /// Unknown manifest format.
    #[error("unsupported manifest format {0:?} (this version reads {formats:?})", formats = crate::integrity::manifest::SUPPORTED_FORMATS)]
    UnsupportedFormat(String),
    /// The keyring does not accept the manifest's key.
    #[error("manifest signer not trusted: {0}")]
    Untrusted(#[source] KeyringError),
    /// A time-stamp token does not check out.
    #[error("time-stamp of the signature over {entries} records: {source}")]
    Timestamp {
        /// The signature's record count.
        entries: u64,
        /// Why.
        #[source]
        source: crate::integrity::timestamp::TimestampError,
    },
    /// A symbolic link inside the folder (a recording holds only regular files and folders).
    #[error("{path}: a symbolic link inside the recording folder")]
    Symlink {
        /// Relative path.
        path: String,
    },
    /// The manifest's key is not the expected one.
    #[error("manifest signed by key {found}, expected {expected}")]
    WrongKey {
        /// Expected key (hex).
        expected: String,
        /// Key in the manifest (hex).
        found: String,
    },
    /// The manifest's public key is not a valid Ed25519 key.
    #[error("manifest public key invalid")]
    BadPublicKey,
    /// A signature's head differs from the chain recomputed from the entries (entries altered).
    #[error("chain mismatch: entries 1..={entries} do not hash to the signed head (manifest entries altered)")]
    ChainMismatch {
        /// Record count of the signature.
        entries: u64,
    },
    /// A signature does not verify.
    #[error("signature {index} (over {entries} entries) does not verify")]
    BadSignature {
        /// Index in `signatures`.
        index: usize,
        /// Its record count.
        entries: u64,
    },
    /// The manifest is internally inconsistent.
    #[error("manifest inconsistent: {0}")]
    Inconsistent(String),
    /// The recording was not closed with a terminal status.
    #[error("recording not closed (final status {0:?})")]
    NotClosed(Option<Status>),
    /// A listed file is missing.
    #[error("{path}: missing (deleted)")]
    FileMissing {
        /// Relative path.
        path: String,
    },
    /// A file in the folder that the manifest does not list.
    #[error("{path}: not part of the recording (added)")]
    FileAdded {
        /// Relative path.
        path: String,
    },
    /// A file's length differs from what the chain covers.
    #[error("{path}: length {actual}, expected {expected} (bytes {} differ)", range_text(*expected, *actual))]
    SizeMismatch {
        /// Relative path.
        path: String,
        /// Covered length.
        expected: u64,
        /// Actual length.
        actual: u64,
    },
    /// A region's bytes do not hash to the recorded digest.
    #[error("{path}: bytes {offset}..{} altered", offset + len)]
    ContentMismatch {
        /// Relative path.
        path: String,
        /// Region start.
        offset: u64,
        /// Region length.
        len: u64,
    },
    /// The regions of a file do not tile it.
    #[error("{path}: regions do not cover the file contiguously at byte {offset}")]
    Coverage {
        /// Relative path.
        path: String,
        /// Where the gap or overlap is.
        offset: u64,
    },
    /// An MP4 region is not a valid init segment / fragment.
    #[error("{path}: bytes {offset}..{} are not a valid {what}: {reason}", offset + len)]
    Structure {
        /// Relative path.
        path: String,
        /// Region start.
        offset: u64,
        /// Region length.
        len: u64,
        /// Init segment or fragment.
        what: &'static str,
        /// Reader error.
        reason: String,
    },
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

fn range_text(expected: u64, actual: u64) -> String {
    format!("{}..{}", expected.min(actual), expected.max(actual))
}

/// A file's regions in force: every `data` record plus the last `header` record per range, sorted by offset.
pub(crate) fn effective_regions(entries: &[Entry], file: u32) -> Vec<(u64, u64, [u8; 32], bool)> {
    let mut headers: BTreeMap<(u64, u64), [u8; 32]> = BTreeMap::new();
    let mut out = Vec::new();
    for e in entries {
        match e {
            Entry::Data {
                file: f,
                offset,
                len,
                sha256,
            } if *f == file => out.push((*offset, *len, sha256.0, false)),
            Entry::Header {
                file: f,
                offset,
                len,
                sha256,
            } if *f == file => {
                headers.insert((*offset, *len), sha256.0);
            }
            _ => {}
        }
    }
    out.extend(headers.into_iter().map(|((o, l), h)| (o, l, h, true)));
    out.sort_by_key(|r| (r.0, r.1));
    out
}

/// Carries the path of a symbolic link found while listing a folder.
#[derive(Debug)]
struct SymlinkFound(String);

impl std::fmt::Display for SymlinkFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: symbolic link", self.0)
    }
}

impl std::error::Error for SymlinkFound {}

/// Every regular file under `dir` (relative, `/`-separated, sorted); an error naming the first symbolic link.
pub(crate) fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let mut items: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    items.sort_by_key(|e| e.file_name());
    for e in items {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let t = e.file_type()?;
        if t.is_symlink() {
            return Err(io::Error::other(SymlinkFound(rel)));
        }
        if t.is_dir() {
            list_files(&e.path(), &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// Verifies the folder `dir`; with `expected_key`, also that the manifest was signed by that key (without it,
/// the embedded key is trusted: see [`verify_dir_trusting`]).
///
/// # Errors
/// The first problem found ([`VerifyError`]), naming the file and byte range where it applies.
pub fn verify_dir(
    dir: &Path,
    expected_key: Option<&VerifyingKey>,
) -> Result<VerifyReport, VerifyError> {
    verify_dir_trusting(dir, expected_key.map_or(Trust::EmbeddedKey, Trust::Key))
}

/// Verifies the folder `dir`, accepting the signer's key as `trust` says.
///
/// # Examples
/// ```
/// use media_core::MediaTime;
/// use muxer::verify::{verify_dir_trusting, Trust, Trusted};
/// use muxer::{integrity::Keyring, RecordingOptions, RecordingWriter, Status};
/// let dir = std::env::temp_dir().join(format!("verbatim-doc-trust-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let key = muxer::integrity::generate_signing_key().unwrap();
/// let rec = RecordingWriter::create(&dir, key.clone(), RecordingOptions::new("c", 0)).unwrap();
/// rec.finish(Status::Completed, MediaTime::ZERO, "").unwrap();
/// let ring = Keyring::single(key.verifying_key());
/// let r = verify_dir_trusting(&dir, Trust::Keyring(&ring)).unwrap();
/// assert_eq!(r.trusted, Trusted::Keyring(String::new()));
/// let other = Keyring::single(muxer::integrity::generate_signing_key().unwrap().verifying_key());
/// assert!(verify_dir_trusting(&dir, Trust::Keyring(&other)).is_err());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// The first problem found ([`VerifyError`]), naming the file and byte range where it applies.
pub fn verify_dir_trusting(dir: &Path, trust: Trust<'_>) -> Result<VerifyReport, VerifyError> {
    verify_dir_opts(
        dir,
        &VerifyOptions {
            trust,
            tsa_cert: None,
        },
    )
}

/// Verifies the folder `dir` with `opts`: the signer's key as [`VerifyOptions::trust`] says, and every
/// time-stamp token against [`VerifyOptions::tsa_cert`] when given.
///
/// # Errors
/// The first problem found ([`VerifyError`]).
pub fn verify_dir_opts(dir: &Path, opts: &VerifyOptions<'_>) -> Result<VerifyReport, VerifyError> {
    let trust = opts.trust;
    let mpath = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&mpath) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(VerifyError::NoManifest {
                dir: dir.to_path_buf(),
                journal: dir.join(crate::recording::JOURNAL_FILE).exists(),
            })
        }
        Err(source) => {
            return Err(VerifyError::Io {
                path: mpath,
                source,
            })
        }
    };
    let m = Manifest::parse(&bytes).map_err(|e| VerifyError::ManifestUnreadable(e.to_string()))?;
    let canon = m.render();
    if canon != bytes {
        let offset = canon
            .iter()
            .zip(&bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(canon.len().min(bytes.len()));
        return Err(VerifyError::ManifestNotCanonical {
            offset: offset as u64,
        });
    }
    let Some(version) = format_version(&m.format) else {
        return Err(VerifyError::UnsupportedFormat(m.format.clone()));
    };
    let key = VerifyingKey::from_bytes(&m.public_key.0).map_err(|_| VerifyError::BadPublicKey)?;
    let id = key_id(&key);
    match (version, &m.key_id) {
        (1, None) => {}
        (1, Some(_)) => {
            return Err(VerifyError::Inconsistent(
                "a version 1 manifest has no key_id".into(),
            ))
        }
        (_, Some(k)) if *k == id => {}
        (_, k) => {
            return Err(VerifyError::Inconsistent(format!(
                "key_id {k:?} is not the id of the manifest's public key ({id})"
            )))
        }
    }
    let trusted = match trust {
        Trust::Key(exp) => {
            if exp.as_bytes() != key.as_bytes() {
                return Err(VerifyError::WrongKey {
                    expected: format!("{} ({})", key_id(exp), hex::encode(exp.as_bytes())),
                    found: format!("{id} ({})", hex::encode(key.as_bytes())),
                });
            }
            Trusted::GivenKey
        }
        Trust::Keyring(ring) => {
            let e = ring
                .check(&m.public_key.0, m.start_utc_ms)
                .map_err(VerifyError::Untrusted)?;
            Trusted::Keyring(e.label.clone())
        }
        Trust::EmbeddedKey => Trusted::EmbeddedOnly,
    };
    check_chain(&m, &key)?;
    let recovery = coverage::check_recovery(&m, version, &id)?;
    let timestamps = coverage::check_timestamps(&m, version, opts.tsa_cert)?;
    let rebuilt = Manifest::build(&m.begin(), m.entries.clone(), m.signatures.clone());
    if rebuilt != m {
        return Err(VerifyError::Inconsistent(
            "derived fields (files, status_history, final_status, entry_count, chain_head) do not match the entries"
                .into(),
        ));
    }
    if !m.final_status.is_some_and(Status::is_terminal) {
        return Err(VerifyError::NotClosed(m.final_status));
    }
    let encrypted = m.encrypted_to().is_some();
    let mut total = 0u64;
    let mut declared = BTreeSet::new();
    for f in &m.files {
        declared.insert(f.path.clone());
        total += check_file(dir, &m, f.id, &f.path, f.kind, f.size, encrypted)?;
    }
    let mut present = Vec::new();
    list_files(dir, "", &mut present).map_err(|source| {
        match source
            .get_ref()
            .and_then(|e| e.downcast_ref::<SymlinkFound>())
        {
            Some(SymlinkFound(path)) => VerifyError::Symlink { path: path.clone() },
            None => VerifyError::Io {
                path: dir.to_path_buf(),
                source,
            },
        }
    })?;
    if let Some(extra) = present
        .into_iter()
        .find(|p| p != MANIFEST_FILE && !declared.contains(p))
    {
        return Err(VerifyError::FileAdded { path: extra });
    }
    let final_status = m.final_status.unwrap_or(Status::Failed);
    let pk = hex::encode(key.as_bytes());
    let coverage = coverage::file_coverage(&m, recovery.as_ref().map(|r| r.live_entries));
    let sealed: u64 = coverage.iter().map(FileCoverage::sealed_bytes).sum();
    Ok(VerifyReport {
        summary: format!(
            "intact: recording {} — {} files, {} bytes ({}), {} chain records, {} signatures by {id}{}{}, status {:?}{}",
            m.recording_id,
            m.files.len(),
            total,
            match &recovery {
                Some(r) => format!(
                    "{} signed live, {sealed} sealed at recovery{}",
                    total - sealed,
                    if r.accepted_tampering.is_empty() { "" } else { ", ALTERED RANGES ACCEPTED" }
                ),
                None if version == 1 && final_status == Status::Interrupted => {
                    "format 1: live and recovered ranges not recorded".into()
                }
                None => "all signed live".into(),
            },
            m.entry_count,
            m.signatures.len(),
            match &trusted {
                Trusted::GivenKey => " (the key given)".to_string(),
                Trusted::Keyring(l) if l.is_empty() => " (in the keyring)".to_string(),
                Trusted::Keyring(l) => format!(" (in the keyring: {l})"),
                Trusted::EmbeddedOnly => " (embedded key, NOT authenticated)".to_string(),
            },
            match (timestamps.len(), opts.tsa_cert) {
                (0, _) => String::new(),
                (n, Some(_)) => format!(", {n} RFC 3161 time-stamps valid ({})",
                    timestamps.iter().filter_map(|t| t.1.as_deref()).collect::<Vec<_>>().join(", ")),
                (n, None) => format!(", {n} RFC 3161 time-stamps NOT checked (no TSA certificate given)"),
            },
            final_status,
            match m.encrypted_to() {
                Some(r) => format!("; encrypted to {}", r.join(", ")),
                None => String::new(),
            }
        ),
        recording_id: m.recording_id.clone(),
        files: m.files.len(),
        bytes: total,
        entries: m.entry_count,
        signatures: m.signatures.len(),
        final_status,
        public_key: pk,
        key_id: id,
        format: m.format.clone(),
        trusted,
        coverage,
        recovery,
        timestamps,
        encrypted_to: m.encrypted_to().map(<[String]>::to_vec),
    })
}

fn check_chain(m: &Manifest, key: &VerifyingKey) -> Result<(), VerifyError> {
    let mut chain = Chain::for_begin(&m.begin());
    let mut sigs = m.signatures.iter().enumerate().peekable();
    let mut last_n = None;
    let check = |i: usize, s: &crate::integrity::SigRecord, head: &[u8; 32]| {
        if &s.head.0 != head {
            return Err(VerifyError::ChainMismatch { entries: s.entries });
        }
        let sig = Signature::from_bytes(&s.signature.0);
        key.verify_strict(&signing_message_for(&m.format, s.entries, head, s.at), &sig)
            .map_err(|_| VerifyError::BadSignature {
                index: i,
                entries: s.entries,
            })
    };
    for e in std::iter::once(None).chain(m.entries.iter().map(Some)) {
        if let Some(e) = e {
            chain.push(e);
        }
        while let Some((i, s)) = sigs.peek().copied() {
            if s.entries < chain.count || last_n.is_some_and(|n| s.entries <= n) {
                return Err(VerifyError::Inconsistent(format!(
                    "signature {i} out of order"
                )));
            }
            if s.entries != chain.count {
                break;
            }
            check(i, s, &chain.head)?;
            last_n = Some(s.entries);
            sigs.next();
        }
    }
    if sigs.peek().is_some() {
        return Err(VerifyError::Inconsistent(
            "a signature covers more entries than listed".into(),
        ));
    }
    if last_n != Some(chain.count) {
        return Err(VerifyError::Inconsistent(
            "the last signature does not cover all entries".into(),
        ));
    }
    Ok(())
}

fn check_file(
    dir: &Path,
    m: &Manifest,
    id: u32,
    rel: &str,
    kind: FileKind,
    size: u64,
    encrypted: bool,
) -> Result<u64, VerifyError> {
    let path = dir.join(rel);
    let mut f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(VerifyError::FileMissing {
                path: rel.to_string(),
            })
        }
        Err(source) => return Err(VerifyError::Io { path, source }),
    };
    let io = |source| VerifyError::Io {
        path: path.clone(),
        source,
    };
    let actual = f.metadata().map_err(io)?.len();
    if actual != size {
        return Err(VerifyError::SizeMismatch {
            path: rel.to_string(),
            expected: size,
            actual,
        });
    }
    let regions = effective_regions(&m.entries, id);
    let mut pos = 0u64;
    let mut buf = Vec::new();
    for (offset, len, digest, header) in regions {
        if offset != pos {
            return Err(VerifyError::Coverage {
                path: rel.to_string(),
                offset: pos.min(offset),
            });
        }
        f.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mismatch = || VerifyError::ContentMismatch {
            path: rel.to_string(),
            offset,
            len,
        };
        // A sealed MP4 is checked by its digests only (its structure is inside the ciphertext).
        let structural = kind == FileKind::Mp4 && len <= 64 << 20 && !encrypted;
        let ok = if structural {
            buf.clear();
            (&mut f).take(len).read_to_end(&mut buf).map_err(io)?;
            buf.len() as u64 == len && Sha256::digest(&buf).as_slice() == digest
        } else {
            let mut h = Sha256::new();
            let mut chunk = vec![0u8; 1 << 20];
            let mut left = len;
            while left > 0 {
                let n = chunk.len().min(left as usize);
                f.read_exact(&mut chunk[..n]).map_err(|_| mismatch())?;
                h.update(&chunk[..n]);
                left -= n as u64;
            }
            h.finalize().as_slice() == digest
        };
        if !ok {
            return Err(mismatch());
        }
        if structural {
            let (what, r) = if header {
                ("init segment", reader::read_init(&buf).map(|_| ()))
            } else {
                ("fragment", reader::read_fragment(&buf).map(|_| ()))
            };
            if let Err(e) = r {
                return Err(VerifyError::Structure {
                    path: rel.to_string(),
                    offset,
                    len,
                    what,
                    reason: e.to_string(),
                });
            }
        }
        pos = offset + len;
    }
    if pos != size {
        return Err(VerifyError::Coverage {
            path: rel.to_string(),
            offset: pos,
        });
    }
    Ok(size)
}

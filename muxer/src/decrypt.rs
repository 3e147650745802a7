//! Turns an encrypted recording folder back into plaintext files: `verbatim decrypt`.
//!
//! Where it sits: the [`crate::RecordingWriter`] of an encrypted recording writes every file as a sealed log
//! ([`crate::storage::SealedFile`]) and links the sealed bytes into the hash chain; [`decrypt_dir`] checks the
//! folder first ([`crate::verify`], no key needed), opens each file's data key with an age identity and
//! replays its records into a new folder. The writer's in-place rewrites are later records, so the result
//! is the file the writer meant.
//!
//! After a crash, recovery cut the sealed logs at a covered record but could not fix the plaintext headers
//! (it holds no identity): for a recovered folder (and a failed one, whose broken files were cut) the same
//! fix-ups recovery makes on a plaintext folder are made here on the plaintext written: WAV sizes from the
//! length ([`crate::wav::recover_wav`]), MP4 durations and seek index from the fragments
//! ([`crate::fmp4::index::finalize_file`]).
//!
//! `manifest.json` covers the sealed bytes, not the plaintext: it is copied as
//! [`ENCRYPTED_MANIFEST_FILE`] (a record of what was verified), and the output holds no `manifest.json`.
//!
//! # Example
//! ```
//! use media_core::{AudioFormat, MediaTime};
//! use muxer::{RecordingOptions, RecordingWriter, Status};
//! let base = std::env::temp_dir().join(format!("verbatim-doc-decrypt-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&base);
//! let (secret, public) = seal::generate_identity();
//! let mut opts = RecordingOptions::new("call-1", 0);
//! opts.encrypt_to = vec![public];
//! let key = muxer::integrity::generate_signing_key().unwrap();
//! let mut rec = RecordingWriter::create(&base.join("rec"), key, opts).unwrap();
//! let a = rec.add_wav("a.wav", AudioFormat::PCM16K).unwrap();
//! rec.write_pcm(a, &[7i16; 16_000]).unwrap();
//! rec.write_whole_file("metadata.json", b"{\"name\":\"Alice\"}").unwrap();
//! rec.finish(Status::Completed, MediaTime::from_secs(1), "").unwrap();
//! let ids = seal::Identities::parse(&secret).unwrap();
//! let report = muxer::decrypt::decrypt_dir(&base.join("rec"), &ids, &base.join("plain"), true).unwrap();
//! assert_eq!(report.files.len(), 2);
//! assert_eq!(std::fs::read(base.join("plain/metadata.json")).unwrap(), b"{\"name\":\"Alice\"}");
//! assert_eq!(std::fs::metadata(base.join("plain/a.wav")).unwrap().len(), 80 + 32_000);
//! # std::fs::remove_dir_all(&base).unwrap();
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use seal::{Identities, Op, SealError, SealedReader};

use crate::integrity::{FileKind, Manifest, Status};
use crate::recording::MANIFEST_FILE;
use crate::verify::{verify_dir_trusting, Trust, VerifyError};

/// What the copied manifest is called in the output folder.
pub const ENCRYPTED_MANIFEST_FILE: &str = "encrypted-manifest.json";

/// Why a folder could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// The folder has no manifest (still recording, or crashed: `verbatim recover` first).
    #[error(
        "{0}: no manifest.json (a recording in progress or crashed: run `verbatim recover` first)"
    )]
    NoManifest(PathBuf),
    /// The folder does not verify: it is not decrypted.
    #[error("the folder does not verify, not decrypting: {0}")]
    Verify(#[from] VerifyError),
    /// A plaintext folder.
    #[error("{0}: not an encrypted recording (no `encrypted` record in its manifest)")]
    NotEncrypted(PathBuf),
    /// The output exists and is not an empty folder.
    #[error("{0}: the output folder exists and is not empty")]
    OutputExists(PathBuf),
    /// A sealed file could not be opened or read.
    #[error("{path}: {source}")]
    Sealed {
        /// The file.
        path: String,
        /// Why.
        source: SealError,
    },
    /// Reading or writing.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The manifest does not parse.
    #[error("manifest.json: {0}")]
    Manifest(String),
}

/// What [`decrypt_dir`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptReport {
    /// Files written: relative path and plaintext length.
    pub files: Vec<(String, u64)>,
    /// The recipients the folder was encrypted to.
    pub recipients: Vec<String>,
    /// The verification summary (`None` when not verified).
    pub verified: Option<String>,
    /// Fix-ups made after a crash (as recovery makes them on a plaintext folder), one line each.
    pub fixed: Vec<String>,
    /// Whether recovery closed the folder (then e.g. `metadata.json` may need rebuilding from the timeline).
    pub recovered: bool,
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> DecryptError + '_ {
    move |source| DecryptError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Decrypts the recording folder `dir` into `out` (created; it must not exist or be empty) with `ids`.
/// With `verify` the folder is verified first (chain, signatures by its embedded key, every file's sealed
/// bytes) and a folder that does not verify is refused; check who signed it with `verbatim verify --key`.
///
/// # Errors
/// [`DecryptError`]; [`SealError::WrongIdentity`] (inside [`DecryptError::Sealed`]) when `ids` cannot open
/// a file.
pub fn decrypt_dir(
    dir: &Path,
    ids: &Identities,
    out: &Path,
    verify: bool,
) -> Result<DecryptReport, DecryptError> {
    let mpath = dir.join(MANIFEST_FILE);
    let bytes = match fs::read(&mpath) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DecryptError::NoManifest(dir.to_path_buf()))
        }
        Err(e) => return Err(io_at(&mpath)(e)),
    };
    let m = Manifest::parse(&bytes).map_err(|e| DecryptError::Manifest(e.to_string()))?;
    let Some(recipients) = m.encrypted_to().map(<[String]>::to_vec) else {
        return Err(DecryptError::NotEncrypted(dir.to_path_buf()));
    };
    let verified = if verify {
        Some(verify_dir_trusting(dir, Trust::EmbeddedKey)?.summary)
    } else {
        None
    };
    if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(DecryptError::OutputExists(out.to_path_buf()));
    }
    fs::create_dir_all(out).map_err(io_at(out))?;
    let recovered = m.recovered().is_some();
    // Files cut back (a crash, or a file broken while recording) need the fix-ups recovery makes.
    let cut = recovered || m.final_status == Some(Status::Failed);
    let mut report = DecryptReport {
        files: Vec::new(),
        recipients,
        verified,
        fixed: Vec::new(),
        recovered,
    };
    for f in &m.files {
        crate::recording::check_rel_path(&f.path).map_err(|e| DecryptError::Sealed {
            path: f.path.clone(),
            source: SealError::Identity(e.to_string()),
        })?;
        let dst = out.join(&f.path);
        if let Some(p) = dst.parent() {
            fs::create_dir_all(p).map_err(io_at(p))?;
        }
        let len = decrypt_file(&dir.join(&f.path), &f.path, ids, &dst)?;
        if cut {
            if let Some(line) = fix_up(&dst, f.kind, len)? {
                report.fixed.push(format!("{}: {line}", f.path));
            }
        }
        let len = fs::metadata(&dst).map_err(io_at(&dst))?.len();
        report.files.push((f.path.clone(), len));
    }
    let copy = out.join(ENCRYPTED_MANIFEST_FILE);
    fs::write(&copy, &bytes).map_err(io_at(&copy))?;
    Ok(report)
}

/// Replays one sealed file into `dst`; returns the plaintext length. An empty file (created, nothing
/// linked before a crash) is an empty plaintext file.
fn decrypt_file(src: &Path, rel: &str, ids: &Identities, dst: &Path) -> Result<u64, DecryptError> {
    let sealed = |source| DecryptError::Sealed {
        path: rel.to_string(),
        source,
    };
    let input = File::open(src).map_err(io_at(src))?;
    let empty = input.metadata().map_err(io_at(src))?.len() == 0;
    let mut w = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .map_err(io_at(dst))?;
    if empty {
        return Ok(0);
    }
    let mut rd =
        SealedReader::open(BufReader::with_capacity(1 << 16, input), ids).map_err(sealed)?;
    let mut len = 0u64;
    loop {
        let op = rd.next_op().map_err(sealed)?;
        match op {
            None => break,
            Some(Op::Write { offset, bytes }) => {
                w.seek(SeekFrom::Start(offset))
                    .and_then(|_| w.write_all(bytes))
                    .map_err(io_at(dst))?;
                len = len.max(offset + bytes.len() as u64);
            }
            Some(Op::SetLen(n)) => {
                w.set_len(n).map_err(io_at(dst))?;
                len = n;
            }
        }
    }
    w.sync_all().map_err(io_at(dst))?;
    Ok(len)
}

/// The fix-ups recovery makes on a plaintext file it cut: WAV sizes from the length, an MP4's durations and
/// seek index from its fragments. Returns what was done.
fn fix_up(dst: &Path, kind: FileKind, len: u64) -> Result<Option<String>, DecryptError> {
    match kind {
        FileKind::Whole => Ok(None),
        FileKind::Wav => {
            if len < crate::wav::HEADER_LEN {
                return Ok(None);
            }
            let plan = crate::wav::recover_wav(dst).map_err(|e| DecryptError::Io {
                path: dst.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
            })?;
            Ok(Some(format!(
                "WAV sizes set from the length ({} sample bytes)",
                plan.data_len
            )))
        }
        FileKind::Mp4 => {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(dst)
                .map_err(io_at(dst))?;
            let Some((init_len, fragments)) = fragments_of(&mut f, len).map_err(io_at(dst))? else {
                return Ok(None);
            };
            crate::fmp4::index::finalize_file(&mut f, init_len, &fragments).map_err(|e| {
                DecryptError::Io {
                    path: dst.to_path_buf(),
                    source: io::Error::other(e),
                }
            })?;
            f.sync_all().map_err(io_at(dst))?;
            Ok(Some(format!(
                "MP4 durations and index set from {} fragments",
                fragments.len()
            )))
        }
    }
}

/// An MP4's init segment length and its fragments as (offset, length).
pub(crate) type Fragments = (u64, Vec<(u64, u64)>);

/// The init segment's length and the fragments (`moof` to the next `moof`) of a plaintext MP4, from its
/// top-level boxes; `None` when there is no fragment or the boxes do not add up to the length.
pub(crate) fn fragments_of<R: Read + Seek>(f: &mut R, len: u64) -> io::Result<Option<Fragments>> {
    let mut at = 0u64;
    let mut moofs = Vec::new();
    while at < len {
        let mut h = [0u8; 16];
        f.seek(SeekFrom::Start(at))?;
        let n = (&mut *f).take(16).read(&mut h)?;
        if n < 8 {
            return Ok(None);
        }
        let mut size = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        if size == 1 {
            if n < 16 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[8..16]);
            size = u64::from_be_bytes(b);
        }
        if size < 8 || at.checked_add(size).is_none_or(|e| e > len) {
            return Ok(None);
        }
        if &h[4..8] == b"moof" {
            moofs.push(at);
        }
        at += size;
    }
    let Some(&init_len) = moofs.first() else {
        return Ok(None);
    };
    let mut ends: Vec<u64> = moofs[1..].to_vec();
    ends.push(len);
    let fragments = moofs.iter().zip(ends).map(|(&s, e)| (s, e - s)).collect();
    Ok(Some((init_len, fragments)))
}

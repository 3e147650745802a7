//! Errors of the recording folder, and how a failed write marks its file broken.

use std::io;
use std::path::{Path, PathBuf};

use super::FileSlot;
use crate::fmp4::Fmp4Error;
use crate::wav::WavError;

/// Errors of the recording folder. `Io` carries the file and offset; after it, that file takes no more data
/// but everything written before stays valid, other files go on, and [`RecordingWriter::finish`](super::RecordingWriter::finish) still closes
/// the folder (use status `failed`).
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Writing or syncing a file failed (disk full: [`RecordingError::is_disk_full`]).
    #[error("{path}: I/O error at offset {offset}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Where the failed operation started.
        offset: u64,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The room kept for closing the recording (`manifest.json.tmp`) could not be grown: the disk is full.
    /// The recording should stop now; it can still be closed as `failed`.
    #[error("{path}: cannot keep {needed} bytes for closing the recording: {source}")]
    Reserve {
        /// The reserve file.
        path: PathBuf,
        /// Bytes it should hold.
        needed: u64,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The recording folder was removed or replaced while recording (files written since go nowhere):
    /// the recording must stop.
    #[error("{0}: the recording folder has vanished (removed or replaced while recording)")]
    FolderVanished(PathBuf),
    /// The recipients to encrypt to are not valid age X25519 recipients (`--encrypt-to`).
    #[error("encryption: {0}")]
    Encryption(#[from] seal::SealError),
    /// The folder already holds a recording (a manifest or a journal).
    #[error("{0} already holds a recording")]
    AlreadyExists(PathBuf),
    /// A file path that is not a fresh relative path inside the folder.
    #[error("invalid file path {path:?}: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A [`StemId`](super::StemId) / [`Mp4Id`](super::Mp4Id) of another recording, or of the wrong kind.
    #[error("unknown file id {0}")]
    UnknownFile(u32),
    /// The file failed earlier (I/O error) and takes no more data.
    #[error("{0}: file failed earlier and takes no more data")]
    FileBroken(String),
    /// A WAV write was rejected (e.g. a partial sample frame); nothing was written.
    #[error("{path}: {source}")]
    Wav {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: WavError,
    },
    /// The journal read back at close does not match the chain this writer built (changed or damaged while
    /// recording); no manifest is written, the journal stays.
    #[error("manifest.journal: {0}")]
    Journal(String),
    /// An MP4 sample was rejected (bad time, not Annex-B, …); nothing was written.
    #[error("{path}: {source}")]
    Mp4 {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: Fmp4Error,
    },
}

impl RecordingError {
    /// True when the cause is a full disk.
    pub fn is_disk_full(&self) -> bool {
        match self {
            RecordingError::Io { source, .. } | RecordingError::Reserve { source, .. } => {
                source.kind() == io::ErrorKind::StorageFull
            }
            _ => false,
        }
    }
}

pub(super) fn wav_to_rec(abs: &Path, rel: &str, e: WavError) -> RecordingError {
    match e {
        WavError::Io { offset, source } => RecordingError::Io {
            path: abs.to_path_buf(),
            offset,
            source,
        },
        other => RecordingError::Wav {
            path: rel.to_string(),
            source: other,
        },
    }
}

pub(super) fn break_wav(slot: &mut FileSlot, e: WavError) -> RecordingError {
    if matches!(e, WavError::Io { .. }) {
        slot.broken = true;
    }
    wav_to_rec(&slot.abs, &slot.path, e)
}

pub(super) fn mp4_err(slot: &mut FileSlot, e: Fmp4Error) -> RecordingError {
    match e {
        Fmp4Error::Io { offset, source } => {
            slot.broken = true;
            RecordingError::Io {
                path: slot.abs.clone(),
                offset,
                source,
            }
        }
        other => RecordingError::Mp4 {
            path: slot.path.clone(),
            source: other,
        },
    }
}

//! Room kept for the close: `manifest.json.tmp`, allocated (written with zeros) while recording and grown with
//! the journal, so that a disk that fills up still lets the recording close as `failed` with what it holds.
//!
//! At the close the files written whole (`metadata.json`) take their room out of it, and the manifest is
//! written over it in place (already allocated blocks: no new space needed on ext4, xfs or tmpfs), cut to its
//! length, synced and renamed to `manifest.json`. After a crash `recover` removes the temporary file.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{io_err, RecordingError, MANIFEST_FILE};
use crate::storage::{zeros, Storage, StorageFile};

/// Growth step of the reserve (it grows rarely: the journal takes ~1 KiB per second of a 4-speaker call).
const STEP: u64 = 256 << 10;
/// Room for the files written whole at the close (`metadata.json`).
const WHOLE_FILES: u64 = 256 << 10;

/// What the manifest needs: about the journal's length (the same records), plus the lines the close adds.
fn manifest_need(journal_len: u64) -> u64 {
    journal_len + journal_len / 8 + (16 << 10)
}

pub(super) struct Reserve {
    path: PathBuf,
    file: Option<Box<dyn StorageFile>>,
    len: u64,
}

impl Reserve {
    /// Creates the reserve at `path` with room for an empty recording's close.
    pub(super) fn create(storage: &dyn Storage, path: &Path) -> Result<Self, RecordingError> {
        let file = storage.open_write(path).map_err(io_err(path, 0))?;
        let mut r = Reserve {
            path: path.to_path_buf(),
            file: Some(file),
            len: 0,
        };
        r.grow(0)?;
        Ok(r)
    }

    /// Grows the reserve when the journal has grown (called at every sync).
    ///
    /// # Errors
    /// [`RecordingError::Reserve`]: the disk has no room left for the close; the recording should stop now.
    pub(super) fn grow(&mut self, journal_len: u64) -> Result<(), RecordingError> {
        let need = manifest_need(journal_len) + WHOLE_FILES;
        if self.len >= need {
            return Ok(());
        }
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let target = need + STEP;
        let mut r = f.seek(SeekFrom::Start(self.len)).map(|_| ());
        let mut at = self.len;
        while r.is_ok() && at < target {
            let n = (target - at).min(zeros().len() as u64) as usize;
            r = f.write_all(&zeros()[..n]);
            at += n as u64;
        }
        if let Err(source) = r {
            // Give back what was taken of the growth; the old room stays.
            let _ = f.set_len(self.len);
            return Err(RecordingError::Reserve {
                path: self.path.clone(),
                needed: target,
                source,
            });
        }
        self.len = target;
        Ok(())
    }

    /// Frees room for `bytes` about to be written in another file, as far as the manifest does not need it.
    pub(super) fn release_for(&mut self, bytes: u64, journal_len: u64) {
        let spare = self.len.saturating_sub(manifest_need(journal_len));
        let free = (bytes.div_ceil(4096) * 4096 + 4096).min(spare);
        if let (Some(f), true) = (self.file.as_mut(), free > 0) {
            if f.set_len(self.len - free).is_ok() {
                self.len -= free;
            }
        }
    }

    /// Writes the manifest over the reserve (in place), cuts it to length, syncs it, renames it to
    /// `manifest.json` and syncs the folder.
    ///
    /// # Errors
    /// [`RecordingError::Io`] naming the file.
    pub(super) fn write_manifest(
        &mut self,
        storage: &dyn Storage,
        dir: &Path,
        bytes: &[u8],
    ) -> Result<PathBuf, RecordingError> {
        let tmp = self.path.clone();
        let path = dir.join(MANIFEST_FILE);
        let mut f = match self.file.take() {
            Some(f) => f,
            None => storage.open_write(&tmp).map_err(io_err(&tmp, 0))?,
        };
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(bytes))
            .and_then(|_| f.set_len(bytes.len() as u64))
            .and_then(|_| f.sync_all())
            .map_err(io_err(&tmp, 0))?;
        drop(f);
        storage.rename(&tmp, &path).map_err(io_err(&path, 0))?;
        storage.sync_dir(dir).map_err(io_err(dir, 0))?;
        Ok(path)
    }
}

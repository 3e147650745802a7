//! The file layer under the recording folder: every create, write, fsync, truncate, rename and directory sync
//! of [`crate::RecordingWriter`] goes through a [`Storage`].
//!
//! * [`StdStorage`]: the real thing (`std::fs`); what recordings use.
//! * [`FaultStorage`]: the real thing, but the Nth operation (and, if sticky, every later one) fails with a
//!   chosen OS error (ENOSPC, EIO, EROFS…): for tests of every write site's error path.
//! * [`SealedFile`]: wraps a file of an encrypted recording: what is written goes to disk as sealed records
//!   (see `docs/encryption.md`).
//! * [`SparseFile`]: wraps a plaintext WAV: appended runs of zeros (silence) become holes, not written pages.
//! * [`OpLog`]: the real thing, logging every mutating operation with its bytes, so a test can rebuild what a
//!   power cut could have left on disk at any point (see `muxer/tests/power_loss.rs`).
//!
//! Files are handed out as `Box<dyn StorageFile>` and wrapped in a `BufWriter` by the writer, so the cost of
//! the indirection is one virtual call per buffer flush (once per WAV chunk or MP4 fragment), not per frame;
//! [`StdStorage`] takes no lock and allocates nothing per write.
//!
//! # Example
//! ```
//! use std::io::Write;
//! use muxer::storage::{FaultPlan, FaultStorage, Storage};
//! let dir = std::env::temp_dir().join(format!("verbatim-storage-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! std::fs::create_dir_all(&dir).unwrap();
//! // The second operation fails as a full disk would, and so does every later one that needs space.
//! let fs = FaultStorage::new(FaultPlan::disk_full_at(2));
//! let mut f = fs.create_new(&dir.join("a.bin"), false).unwrap(); // operation 1
//! let err = f.write_all(b"x").unwrap_err(); // operation 2
//! assert_eq!(err.raw_os_error(), Some(28));
//! assert!(f.write_all(b"y").is_err());
//! assert!(f.sync_data().is_ok()); // needs no space
//! assert_eq!(fs.injected(), 2);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod fault;
mod oplog;
mod sealed;
mod sparse;

pub use fault::{FaultPlan, FaultStorage};
pub use oplog::{Op, OpLog};
pub use sealed::{SealTally, SealedFile, SEAL_BATCH};
pub use sparse::SparseFile;
pub(crate) use sparse::{all_zero, zeros, ZERO_SAMPLES};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::Path;

/// A file opened through a [`Storage`]: written and positioned as any file, synced and cut explicitly.
///
/// # For implementations
/// `sync_data`/`sync_all` must not return before the bytes written so far are durable; `set_len` behaves as
/// [`File::set_len`].
pub trait StorageFile: Write + Seek + Send {
    /// Makes the file's data (and the size) durable (`fdatasync`).
    ///
    /// # Errors
    /// The OS error.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Makes the file's data and metadata durable (`fsync`).
    ///
    /// # Errors
    /// The OS error.
    fn sync_all(&mut self) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    ///
    /// # Errors
    /// The OS error.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Makes the file's size on disk cover every byte written to it, skipped zeros included: a
    /// [`SparseFile`] extends itself over a silent tail it left as a hole (one `ftruncate`). Called where a
    /// byte range is about to be linked in the journal (a WAV chunk's close, the file's close), not at every
    /// flush. A no-op for files that write every byte (the default).
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```
    /// use muxer::storage::StorageFile;
    /// let dir = std::env::temp_dir().join(format!("verbatim-materialize-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut f = std::fs::File::create(dir.join("plain.bin")).unwrap();
    /// f.materialize().unwrap(); // a plain file has nothing to extend
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    fn materialize(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StorageFile for File {
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

/// Where a recording's bytes go: the operations the writer needs, on paths.
///
/// # For implementations
/// Behave as `std::fs` does for the same calls (in particular `create_new` fails when the file exists, and a
/// directory entry is durable only after [`Storage::sync_dir`] of its parent).
pub trait Storage: Send + Sync {
    /// Creates `dir` and its missing parents.
    ///
    /// # Errors
    /// The OS error.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates a new file (an error if it exists) for writing; `append`: every write goes to its end.
    ///
    /// # Errors
    /// The OS error.
    fn create_new(&self, path: &Path, append: bool) -> io::Result<Box<dyn StorageFile>>;
    /// Opens a file for writing without truncating it, creating it when missing.
    ///
    /// # Errors
    /// The OS error.
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;
    /// Renames `from` to `to` (replacing `to`).
    ///
    /// # Errors
    /// The OS error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    ///
    /// # Errors
    /// The OS error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of directory `dir` durable (fsync of the directory).
    ///
    /// # Errors
    /// The OS error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Makes durable everything handed to the OS so far on the file system holding `dir`: every file's data
    /// and size and every directory's entries (`syncfs(2)`; on ext4 and XFS it commits the journal and
    /// flushes the disk's cache). One call does for a whole node what an `fdatasync` per file does for one
    /// file: see [`crate::group_commit`].
    ///
    /// # Errors
    /// The OS error, including a write-back error on any file of that file system since the last call
    /// (Linux 5.8 and later report those).
    fn sync_fs(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system (`std::fs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdStorage;

impl Storage for StdStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    fn create_new(&self, path: &Path, append: bool) -> io::Result<Box<dyn StorageFile>> {
        let mut o = OpenOptions::new();
        if append {
            o.append(true);
        } else {
            o.write(true);
        }
        Ok(Box::new(o.create_new(true).open(path)?))
    }
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Box::new(f))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(dir)?.sync_all()
        }
        // Windows cannot open a directory to flush it, and NTFS journals directory entries itself: the new
        // names are durable with the files' own flushes.
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(())
        }
    }
    fn sync_fs(&self, dir: &Path) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            Ok(rustix::fs::syncfs(File::open(dir)?)?)
        }
        // syncfs(2) is Linux's: group commit (`crate::group_commit`) is not offered elsewhere, and recordings
        // there flush each file (the default without a group commit).
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dir;
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "syncfs (group commit) is Linux-only: flush each file instead",
            ))
        }
    }
}

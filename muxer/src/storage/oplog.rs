//! [`OpLog`]: the real file system, with a log of every mutating operation (for power-loss replays).

use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{StdStorage, Storage, StorageFile};

/// One mutating operation, as the writer made it (paths as given to the storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A directory was created (one op per directory that did not exist).
    CreateDir(PathBuf),
    /// A file was created (empty) or opened for writing (`existed`: it was there already).
    Create {
        /// The file.
        path: PathBuf,
        /// It existed before (opened without truncation).
        existed: bool,
    },
    /// Bytes written at an offset.
    Write {
        /// The file (its path when it was opened).
        path: PathBuf,
        /// Where the bytes went.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The file was cut or extended.
    SetLen {
        /// The file.
        path: PathBuf,
        /// New length.
        len: u64,
    },
    /// The file's data was made durable (`fsync`/`fdatasync`).
    Sync(PathBuf),
    /// A directory's entries were made durable.
    SyncDir(PathBuf),
    /// Everything on the file system holding this directory was made durable (`syncfs`): every file's
    /// data and every directory's entries.
    SyncFs(PathBuf),
    /// A rename.
    Rename {
        /// Old path.
        from: PathBuf,
        /// New path.
        to: PathBuf,
    },
    /// A file was removed.
    Remove(PathBuf),
}

/// The real file system, logging every mutating operation (clones share the log). Test tool: it takes a lock
/// and copies the bytes of every write.
#[derive(Debug, Clone, Default)]
pub struct OpLog {
    ops: Arc<Mutex<Vec<Op>>>,
}

fn lock(m: &Mutex<Vec<Op>>) -> MutexGuard<'_, Vec<Op>> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl OpLog {
    /// An empty log over the real file system.
    pub fn new() -> Self {
        OpLog::default()
    }
    /// The operations so far, in order.
    pub fn ops(&self) -> Vec<Op> {
        lock(&self.ops).clone()
    }
    fn push(&self, op: Op) {
        lock(&self.ops).push(op);
    }
    fn wrap(&self, path: &Path, f: Box<dyn StorageFile>, append: bool) -> Box<dyn StorageFile> {
        Box::new(LoggedFile {
            inner: f,
            path: path.to_path_buf(),
            append,
            pos: 0,
            log: self.clone(),
        })
    }
}

struct LoggedFile {
    inner: Box<dyn StorageFile>,
    path: PathBuf,
    append: bool,
    pos: u64,
    log: OpLog,
}

impl Write for LoggedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let offset = if self.append {
            // The file's end (by the handle: the path may have been renamed since).
            self.inner.seek(SeekFrom::End(0))?
        } else {
            self.pos
        };
        let n = self.inner.write(buf)?;
        self.log.push(Op::Write {
            path: self.path.clone(),
            offset,
            data: buf[..n].to_vec(),
        });
        self.pos = offset + n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for LoggedFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(pos)?;
        Ok(self.pos)
    }
}

impl StorageFile for LoggedFile {
    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()?;
        self.log.push(Op::Sync(self.path.clone()));
        Ok(())
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.inner.sync_all()?;
        self.log.push(Op::Sync(self.path.clone()));
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)?;
        self.log.push(Op::SetLen {
            path: self.path.clone(),
            len,
        });
        Ok(())
    }
}

impl Storage for OpLog {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
            .map(Path::to_path_buf)
            .collect();
        StdStorage.create_dir_all(dir)?;
        for d in missing.into_iter().rev() {
            self.push(Op::CreateDir(d));
        }
        Ok(())
    }
    fn create_new(&self, path: &Path, append: bool) -> io::Result<Box<dyn StorageFile>> {
        let f = StdStorage.create_new(path, append)?;
        self.push(Op::Create {
            path: path.to_path_buf(),
            existed: false,
        });
        Ok(self.wrap(path, f, append))
    }
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let existed = path.exists();
        let f = StdStorage.open_write(path)?;
        self.push(Op::Create {
            path: path.to_path_buf(),
            existed,
        });
        Ok(self.wrap(path, f, false))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdStorage.rename(from, to)?;
        self.push(Op::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        });
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdStorage.remove_file(path)?;
        self.push(Op::Remove(path.to_path_buf()));
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdStorage.sync_dir(dir)?;
        self.push(Op::SyncDir(dir.to_path_buf()));
        Ok(())
    }
    fn sync_fs(&self, dir: &Path) -> io::Result<()> {
        // Logged before the call returns, after it starts: the writes logged before it are the ones it covers.
        self.push(Op::SyncFs(dir.to_path_buf()));
        StdStorage.sync_fs(dir)
    }
}

//! [`FaultStorage`]: the real file system with an injected failure.

use std::fs::File;
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{StdStorage, Storage, StorageFile};

/// `ENOSPC`: no space left on device.
const ENOSPC: i32 = 28;
/// `EIO`: input/output error.
const EIO: i32 = 5;
/// `EROFS`: read-only file system.
const EROFS: i32 = 30;

/// Which operation fails, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// The operation that fails first, counted from 1 over every operation of the storage and its files
    /// (create, write, set_len, sync, rename, remove, directory create and sync; seeks are not counted).
    pub at: u64,
    /// The OS error number returned (e.g. 28 = ENOSPC).
    pub errno: i32,
    /// Every later operation fails too (a full disk, a file system remounted read-only); with ENOSPC only the
    /// operations that need space (writes past a file's end, extending `set_len`, creating a directory) keep
    /// failing, as on a real full disk.
    pub sticky: bool,
}

impl FaultPlan {
    /// The disk fills at operation `at`: it and every later operation needing space fail with ENOSPC.
    pub fn disk_full_at(at: u64) -> Self {
        FaultPlan {
            at,
            errno: ENOSPC,
            sticky: true,
        }
    }
    /// Operation `at` alone fails with EIO (a transient device error).
    pub fn eio_at(at: u64) -> Self {
        FaultPlan {
            at,
            errno: EIO,
            sticky: false,
        }
    }
    /// The file system turns read-only at operation `at`: it and every later one fail with EROFS.
    pub fn read_only_at(at: u64) -> Self {
        FaultPlan {
            at,
            errno: EROFS,
            sticky: true,
        }
    }
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    ops: AtomicU64,
    injected: AtomicU64,
}

impl State {
    /// Counts one operation; the error to return when it is to fail.
    fn check(&self, needs_space: bool) -> io::Result<()> {
        let n = self.ops.fetch_add(1, Ordering::Relaxed) + 1;
        let p = self.plan;
        let hit = n == p.at || (p.sticky && n > p.at && (needs_space || p.errno != ENOSPC));
        if hit {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Err(io::Error::from_raw_os_error(p.errno));
        }
        Ok(())
    }
}

/// The real file system, but operations fail as [`FaultPlan`] says (clones share the count). Writes that
/// stay inside a file's length (rewriting a header, writing over a reserve) do not need space.
#[derive(Debug, Clone)]
pub struct FaultStorage {
    state: Arc<State>,
}

impl FaultStorage {
    /// A storage failing as `plan` says.
    pub fn new(plan: FaultPlan) -> Self {
        FaultStorage {
            state: Arc::new(State {
                plan,
                ops: AtomicU64::new(0),
                injected: AtomicU64::new(0),
            }),
        }
    }
    /// Operations counted so far.
    pub fn ops(&self) -> u64 {
        self.state.ops.load(Ordering::Relaxed)
    }
    /// Operations that were made to fail so far.
    pub fn injected(&self) -> u64 {
        self.state.injected.load(Ordering::Relaxed)
    }
}

/// A file whose writes are checked; it tracks its position and length so that only writes past the end
/// (those that take space) count as needing space.
struct FaultFile {
    inner: Box<dyn StorageFile>,
    state: Arc<State>,
    append: bool,
    pos: u64,
    len: u64,
}

impl FaultFile {
    fn wrote(&mut self, n: usize) -> usize {
        if self.append {
            self.pos = self.len;
        }
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
        n
    }
    fn extends(&self, n: usize) -> bool {
        self.append || self.pos + n as u64 > self.len
    }
}

impl Write for FaultFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.state.check(self.extends(buf.len()))?;
        let n = self.inner.write(buf)?;
        Ok(self.wrote(n))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total = bufs.iter().map(|b| b.len()).sum();
        self.state.check(self.extends(total))?;
        let n = self.inner.write_vectored(bufs)?;
        Ok(self.wrote(n))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for FaultFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(pos)?;
        Ok(self.pos)
    }
}

impl StorageFile for FaultFile {
    fn sync_data(&mut self) -> io::Result<()> {
        self.state.check(false)?;
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.state.check(false)?;
        self.inner.sync_all()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.state.check(len > self.len)?;
        self.inner.set_len(len)?;
        self.len = len;
        Ok(())
    }
}

impl FaultStorage {
    fn wrap(&self, f: Box<dyn StorageFile>, append: bool, len: u64) -> Box<dyn StorageFile> {
        Box::new(FaultFile {
            inner: f,
            state: Arc::clone(&self.state),
            append,
            pos: 0,
            len,
        })
    }
}

impl Storage for FaultStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.state.check(true)?;
        StdStorage.create_dir_all(dir)
    }
    fn create_new(&self, path: &Path, append: bool) -> io::Result<Box<dyn StorageFile>> {
        // An empty file takes an inode, not space: a full disk still lets it be created.
        self.state.check(false)?;
        Ok(self.wrap(StdStorage.create_new(path, append)?, append, 0))
    }
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let len = std::fs::metadata(path).map(|m| m.len()).ok();
        self.state.check(false)?;
        Ok(self.wrap(StdStorage.open_write(path)?, false, len.unwrap_or(0)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.state.check(false)?;
        StdStorage.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.state.check(false)?;
        StdStorage.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.state.check(false)?;
        File::open(dir)?.sync_all()
    }
    fn sync_fs(&self, dir: &Path) -> io::Result<()> {
        self.state.check(false)?;
        StdStorage.sync_fs(dir)
    }
}

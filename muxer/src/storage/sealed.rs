//! A [`StorageFile`] that encrypts: what the writer writes (at any offset, rewrites included) is appended to
//! the real file as sealed records ([`seal`]'s append-only log), never in the clear.
//!
//! Writes at consecutive offsets are gathered and sealed as one record on `flush`, `sync_*`, `set_len`, a write
//! elsewhere, or every [`SEAL_BATCH`] bytes; the writer's `BufWriter` flushes once per WAV chunk or MP4
//! fragment, so a chunk is a record. The sealed bytes appended are counted in a [`SealTally`] the
//! recording writer shares: it links them into the hash chain (the chain covers the bytes on disk).
//!
//! # Example
//! ```
//! use std::io::{Seek, SeekFrom, Write};
//! use muxer::storage::{SealedFile, StorageFile};
//! let (secret, public) = seal::generate_identity();
//! let recipients = seal::Recipients::parse(&[public]).unwrap();
//! let mut disk = std::io::Cursor::new(Vec::new());
//! let (mut f, tally) = SealedFile::create(Box::new(Cursor(disk)), &recipients).unwrap();
//! f.write_all(b"RIFF....data").unwrap();
//! f.seek(SeekFrom::Start(4)).unwrap();
//! f.write_all(b"SIZE").unwrap(); // a rewrite in place: a later record
//! f.flush().unwrap();
//! let (offset, len, _sha) = tally.take_unlinked();
//! assert_eq!(offset, 0);
//! assert!(len > 12);
//! # struct Cursor(std::io::Cursor<Vec<u8>>);
//! # impl Write for Cursor { fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.write(b) } fn flush(&mut self) -> std::io::Result<()> { Ok(()) } }
//! # impl Seek for Cursor { fn seek(&mut self, p: SeekFrom) -> std::io::Result<u64> { self.0.seek(p) } }
//! # impl StorageFile for Cursor { fn sync_data(&mut self) -> std::io::Result<()> { Ok(()) } fn sync_all(&mut self) -> std::io::Result<()> { Ok(()) } fn set_len(&mut self, _: u64) -> std::io::Result<()> { Ok(()) } }
//! # let _ = secret;
//! ```

use std::io::{self, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use seal::{DataKey, Recipients, Sealer};
use sha2::{Digest, Sha256};

use super::StorageFile;

/// Plaintext bytes gathered before a record is sealed without being asked to.
pub const SEAL_BATCH: usize = 1 << 20;

/// What a [`SealedFile`] appended to disk and the chain has not linked yet; shared with the writer.
#[derive(Clone)]
pub struct SealTally {
    inner: Arc<Mutex<TallyState>>,
    key: DataKey,
    header_len: u64,
}

struct TallyState {
    /// Bytes of whole records (and the header) handed to the file.
    written: u64,
    /// Bytes already linked.
    linked: u64,
    pending: Sha256,
}

impl SealTally {
    /// The sealed bytes appended since the last call, as (offset, length, SHA-256): the region to link.
    pub fn take_unlinked(&self) -> (u64, u64, [u8; 32]) {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let r = (
            s.linked,
            s.written - s.linked,
            s.pending.finalize_reset().into(),
        );
        s.linked = s.written;
        r
    }

    /// The file's data key (the writer reads its own logs back with it, e.g. the timeline).
    pub fn key(&self) -> &DataKey {
        &self.key
    }

    /// Length of the file header (where the records start).
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    fn appended(&self, bytes: &[u8]) {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        s.written += bytes.len() as u64;
        s.pending.update(bytes);
    }
}

/// A file of an encrypted recording: plaintext in, sealed records out (see the module doc).
pub struct SealedFile {
    inner: Box<dyn StorageFile>,
    sealer: Sealer,
    tally: SealTally,
    /// Plaintext position and length as the writer sees them.
    pos: u64,
    len: u64,
    /// Gathered plaintext, to be written at `pend_at`.
    pend: Vec<u8>,
    pend_at: u64,
    /// Sealed bytes of one record on their way to the file.
    out: Vec<u8>,
    /// A write to the file failed (a record may be torn): every later operation fails too.
    failed: bool,
}

impl SealedFile {
    /// Writes the header (a fresh data key wrapped to `recipients`) to `inner`, an empty new file.
    ///
    /// # Errors
    /// The OS error, or the key could not be made or wrapped.
    pub fn create(
        mut inner: Box<dyn StorageFile>,
        recipients: &Recipients,
    ) -> io::Result<(SealedFile, SealTally)> {
        let (key, header) = seal::new_file_header(recipients).map_err(io::Error::other)?;
        inner.write_all(&header)?;
        let tally = SealTally {
            inner: Arc::new(Mutex::new(TallyState {
                written: 0,
                linked: 0,
                pending: Sha256::new(),
            })),
            key: key.clone(),
            header_len: header.len() as u64,
        };
        tally.appended(&header);
        let f = SealedFile {
            inner,
            sealer: Sealer::new(&key),
            tally: tally.clone(),
            pos: 0,
            len: 0,
            pend: Vec::new(),
            pend_at: 0,
            out: Vec::new(),
            failed: false,
        };
        Ok((f, tally))
    }

    fn check(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "an earlier write of this sealed file failed",
            ));
        }
        Ok(())
    }

    /// Appends one sealed record to the file.
    fn put(&mut self) -> io::Result<()> {
        if let Err(e) = self.inner.write_all(&self.out) {
            self.failed = true;
            return Err(e);
        }
        self.tally.appended(&self.out);
        self.out.clear();
        Ok(())
    }

    /// Seals what is gathered (if anything) as one record.
    fn seal_pending(&mut self) -> io::Result<()> {
        self.check()?;
        if self.pend.is_empty() {
            return Ok(());
        }
        self.out.clear();
        self.sealer
            .seal_write(self.pend_at, &self.pend, &mut self.out)
            .map_err(io::Error::other)?;
        self.pend.clear();
        self.put()
    }
}

impl Write for SealedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        if !self.pend.is_empty() && self.pend_at + self.pend.len() as u64 != self.pos {
            self.seal_pending()?;
        }
        if self.pend.is_empty() {
            self.pend_at = self.pos;
        }
        self.pend.extend_from_slice(buf);
        self.pos += buf.len() as u64;
        self.len = self.len.max(self.pos);
        if self.pend.len() >= SEAL_BATCH {
            self.seal_pending()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.seal_pending()?;
        self.inner.flush()
    }
}

impl Seek for SealedFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        self.pos = base
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

impl StorageFile for SealedFile {
    fn sync_data(&mut self) -> io::Result<()> {
        self.seal_pending()?;
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.seal_pending()?;
        self.inner.sync_all()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.seal_pending()?;
        self.out.clear();
        self.sealer
            .seal_set_len(len, &mut self.out)
            .map_err(io::Error::other)?;
        self.put()?;
        self.len = len;
        Ok(())
    }
}

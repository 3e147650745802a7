//! [`SparseFile`]: appended digital silence becomes a hole instead of written zeros.
//!
//! A stem is silence most of the time — a participant who listens for minutes, or has not joined yet — and
//! silence from Teams is zeros. Writing those zeros costs the page cache a copy, a page allocation and later
//! the disk's write-back, for bytes every reader sees anyway beyond a file's written end. [`SparseFile`] skips
//! runs of zeros written at or past the furthest byte ever written (appends), and extends the file over a
//! skipped tail with `set_len` when synced or told to ([`StorageFile::materialize`], where the writer is
//! about to journal a range: a WAV chunk's close, the file's close), so the file's bytes — and so every hash
//! of the chain — are exactly those written. A plain flush (the recording's once-a-second sync under group
//! commit) leaves a tail that no record covers yet as a logical length: no `ftruncate` per silent file per
//! flush. Rewrites below the furthest byte (a WAV header refreshed at offset 0) are written as they are. Only
//! plaintext WAV stems and `mixed.wav` are wrapped (sealed files are never zeros).
//!
//! ```
//! use std::io::{Read, Seek, SeekFrom, Write};
//! use muxer::storage::{SparseFile, StdStorage, Storage, StorageFile};
//! let dir = std::env::temp_dir().join(format!("verbatim-sparse-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("a.wav");
//! let mut f = SparseFile::new(StdStorage.create_new(&path, false).unwrap());
//! f.write_all(b"head").unwrap();
//! f.write_all(&vec![0u8; 1 << 20]).unwrap(); // a second of… nothing, skipped
//! f.write_all(b"tail").unwrap();
//! f.write_all(&[0u8; 100]).unwrap(); // a trailing run: not on disk yet…
//! f.seek(SeekFrom::Start(0)).unwrap();
//! f.write_all(b"HEAD").unwrap(); // a rewrite: written as it is
//! f.flush().unwrap();
//! assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 + (1 << 20) + 4);
//! f.materialize().unwrap(); // …until a range up to it is about to be journaled
//! let mut bytes = Vec::new();
//! std::fs::File::open(&path).unwrap().read_to_end(&mut bytes).unwrap();
//! assert_eq!(bytes.len(), 4 + (1 << 20) + 4 + 100);
//! assert_eq!(&bytes[..4], b"HEAD");
//! assert!(bytes[4..4 + (1 << 20)].iter().all(|&b| b == 0));
//! assert_eq!(&bytes[4 + (1 << 20)..][..4], b"tail");
//! assert!(f.skipped() >= 1 << 20);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::io::{self, Seek, SeekFrom, Write};

use super::StorageFile;

/// Shortest run of zeros skipped (a shorter one costs a seek more than it saves).
const MIN_HOLE: usize = 4096;

/// A [`StorageFile`] that leaves appended runs of zeros as holes (see the module's docs).
pub struct SparseFile {
    inner: Box<dyn StorageFile>,
    /// Where the next write goes.
    pos: u64,
    /// Where `inner`'s own position is (a seek is made only when `pos` differs).
    inner_pos: u64,
    /// The file's size on disk: past the last byte written or the last `set_len`.
    materialized: u64,
    /// The file's logical size: `materialized`, or further when zeros were skipped at the end.
    len: u64,
    /// Bytes of zeros not written.
    skipped: u64,
}

impl SparseFile {
    /// Wraps a file opened for writing at its start (a new, empty file).
    pub fn new(inner: Box<dyn StorageFile>) -> SparseFile {
        SparseFile {
            inner,
            pos: 0,
            inner_pos: 0,
            materialized: 0,
            len: 0,
            skipped: 0,
        }
    }

    /// Bytes of zeros left as holes so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn put(&mut self, buf: &[u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if self.inner_pos != self.pos {
            self.inner.seek(SeekFrom::Start(self.pos))?;
            self.inner_pos = self.pos;
        }
        self.inner.write_all(buf)?;
        self.pos += buf.len() as u64;
        self.inner_pos = self.pos;
        self.materialized = self.materialized.max(self.pos);
        self.len = self.len.max(self.pos);
        Ok(())
    }

    /// The file's size on disk covers its logical size (a skipped tail becomes a hole through `set_len`).
    fn extend_over_tail(&mut self) -> io::Result<()> {
        if self.len > self.materialized {
            self.inner.set_len(self.len)?;
            self.materialized = self.len;
        }
        Ok(())
    }
}

/// 16 KiB of zeros to write or hash from, a piece at a time (a stem's silence, the reserve file, a silent WAV
/// chunk's digest), as samples; [`zeros`] is the same block as bytes.
pub(crate) static ZERO_SAMPLES: [i16; 8 << 10] = [0; 8 << 10];

/// [`ZERO_SAMPLES`] as bytes.
pub(crate) fn zeros() -> &'static [u8] {
    bytemuck::cast_slice(&ZERO_SAMPLES)
}

/// Some byte of `c` is not zero (OR-ed together: vector instructions, no branch per byte).
fn any_set(c: &[u8]) -> bool {
    c.iter().fold(0u8, |a, &b| a | b) != 0
}

/// `block` is all zeros: 64 bytes at a time, so speech leaves at its first 64 bytes and a silent block is
/// scanned at memory speed.
pub(crate) fn all_zero(block: &[u8]) -> bool {
    let mut wide = block.chunks_exact(64);
    !wide.by_ref().any(any_set) && !any_set(wide.remainder())
}

/// Where the last non-zero byte of `bytes` is: 64 bytes at a time from the end (as [`all_zero`]), then
/// byte by byte in the 64 that hold it.
fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.len();
    let whole = end - end % 64;
    if let Some(i) = bytes[whole..].iter().rposition(|&b| b != 0) {
        return Some(whole + i);
    }
    end = whole;
    while end >= 64 {
        let c = &bytes[end - 64..end];
        if any_set(c) {
            return c.iter().rposition(|&b| b != 0).map(|i| end - 64 + i);
        }
        end -= 64;
    }
    None
}

impl Write for SparseFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos < self.materialized {
            // A rewrite of bytes already on disk: as it is, up to the written end.
            let room = usize::try_from(self.materialized - self.pos).unwrap_or(usize::MAX);
            let n = buf.len().min(room);
            self.put(&buf[..n])?;
            return Ok(n);
        }
        let len = buf.len();
        if all_zero(buf) {
            // An append of nothing but zeros, however short (a silent stem's bytes ahead of a block): skipped
            // whole, so that runs of short ones still make holes.
            self.pos += len as u64;
            self.len = self.len.max(self.pos);
            self.skipped += len as u64;
            return Ok(len);
        }
        // An append: every run of zeros holding a whole MIN_HOLE block (aligned to the file's offsets, as its
        // pages are) is skipped, with the zeros around it; the rest is written.
        let misalign = (self.pos % MIN_HOLE as u64) as usize;
        let mut at = if misalign == 0 {
            0
        } else {
            (MIN_HOLE - misalign).min(len)
        };
        let mut data_from = 0;
        while at + MIN_HOLE <= len {
            if !all_zero(&buf[at..at + MIN_HOLE]) {
                at += MIN_HOLE;
                continue;
            }
            let mut end = at + MIN_HOLE;
            while end + MIN_HOLE <= len && all_zero(&buf[end..end + MIN_HOLE]) {
                end += MIN_HOLE;
            }
            if end + MIN_HOLE > len && all_zero(&buf[end..]) {
                end = len;
            }
            // And the zeros just before the block (the unaligned start of the buffer, the end of speech).
            let start = last_nonzero(&buf[data_from..at]).map_or(data_from, |i| data_from + i + 1);
            self.put(&buf[data_from..start])?;
            self.pos += (end - start) as u64;
            self.len = self.len.max(self.pos);
            self.skipped += (end - start) as u64;
            at = end;
            data_from = end;
        }
        self.put(&buf[data_from..])?;
        Ok(len)
    }

    /// Flushes the inner file; a skipped tail stays a logical length until [`StorageFile::materialize`] (or a
    /// sync): a silent stem is extended once per journaled chunk, not at every flush of the recording.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for SparseFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.pos)
    }
}

impl StorageFile for SparseFile {
    fn sync_data(&mut self) -> io::Result<()> {
        self.extend_over_tail()?;
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.extend_over_tail()?;
        self.inner.sync_all()
    }
    fn materialize(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        self.extend_over_tail()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)?;
        self.materialized = len;
        self.len = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("verbatim-sparse-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("f.bin")
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Write this many bytes: zeros, or a pattern with zeros in it.
        Write(usize, bool),
        /// Seek to a fraction of the logical end.
        Seek(u8),
        Flush,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0usize..20_000, any::<bool>()).prop_map(|(n, z)| Step::Write(n, z)),
            any::<u8>().prop_map(Step::Seek),
            Just(Step::Flush),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever is written, seeked and flushed, the file reads back as a plain file would.
        #[test]
        fn reads_back_as_a_plain_file(steps in proptest::collection::vec(step(), 1..40)) {
            let path = temp("prop");
            let mut f = SparseFile::new(Box::new(std::fs::File::create(&path).unwrap()));
            let mut model: Vec<u8> = Vec::new();
            let mut pos = 0usize;
            let mut k = 0u32;
            for s in steps {
                match s {
                    Step::Write(n, zeros) => {
                        let data: Vec<u8> = (0..n)
                            .map(|i| {
                                k = k.wrapping_add(1);
                                if zeros || (i / 5000) % 2 == 0 && i % 7 != 0 { 0 } else { (k % 251) as u8 }
                            })
                            .collect();
                        f.write_all(&data).unwrap();
                        if model.len() < pos + n {
                            model.resize(pos + n, 0);
                        }
                        model[pos..pos + n].copy_from_slice(&data);
                        pos += n;
                    }
                    Step::Seek(frac) => {
                        pos = model.len() * usize::from(frac) / 255;
                        f.seek(SeekFrom::Start(pos as u64)).unwrap();
                    }
                    Step::Flush => f.flush().unwrap(),
                }
            }
            f.sync_data().unwrap();
            let mut got = Vec::new();
            std::fs::File::open(&path).unwrap().read_to_end(&mut got).unwrap();
            prop_assert_eq!(got.len(), model.len());
            prop_assert!(got == model);
        }
    }

    proptest! {
        /// The 64-bytes-at-a-time scans say what a byte-by-byte look says, wherever the non-zero bytes are.
        #[test]
        fn zero_scans_agree_with_byte_by_byte(
            len in 0usize..700,
            marks in proptest::collection::vec((0usize..700, 1u8..=255), 0..3),
        ) {
            let mut b = vec![0u8; len];
            for (at, v) in marks {
                if at < len {
                    b[at] = v;
                }
            }
            prop_assert_eq!(all_zero(&b), b.iter().all(|&x| x == 0));
            prop_assert_eq!(last_nonzero(&b), b.iter().rposition(|&x| x != 0));
        }
    }

    #[test]
    fn a_flush_leaves_a_silent_tail_to_materialize() {
        let path = temp("tail");
        let mut f = SparseFile::new(Box::new(std::fs::File::create(&path).unwrap()));
        let len = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
        f.write_all(&[7u8; 80]).unwrap();
        f.write_all(&[0u8; 32_000]).unwrap();
        f.flush().unwrap();
        assert_eq!(len(&path), 80, "a flush extends nothing (no ftruncate)");
        f.materialize().unwrap();
        assert_eq!(len(&path), 32_080);
        f.materialize().unwrap(); // nothing new: no second set_len
        f.write_all(&[0u8; 16_000]).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(&[9u8; 4]).unwrap(); // a header rewrite below the tail
        f.flush().unwrap();
        assert_eq!(len(&path), 32_080);
        f.sync_data().unwrap(); // a sync covers everything written
        assert_eq!(len(&path), 48_080);
        let mut got = Vec::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(&got[..4], &[9u8; 4]);
        assert!(got[4..80].iter().all(|&b| b == 7) && got[80..].iter().all(|&b| b == 0));
    }

    #[test]
    fn silence_takes_no_disk() {
        use std::os::unix::fs::MetadataExt;
        let path = temp("blocks");
        let mut f = SparseFile::new(Box::new(std::fs::File::create(&path).unwrap()));
        f.write_all(&[1u8; 80]).unwrap();
        for _ in 0..64 {
            f.write_all(&[0u8; 32_000]).unwrap();
        }
        // And silence in short writes (a stem's buffered tail of zeros ahead of a ring block): no page each.
        for _ in 0..64 {
            f.write_all(&[0u8; 3_200]).unwrap();
            f.write_all(&[0u8; 640]).unwrap();
        }
        f.write_all(&[2u8; 10]).unwrap();
        f.sync_data().unwrap();
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!(m.len(), 80 + 64 * 32_000 + 64 * 3_840 + 10);
        // 2.3 MB of silence: a few blocks on disk (the head and the tail), not 560.
        assert!(
            m.blocks() * 512 < 64 * 1024,
            "{} bytes allocated",
            m.blocks() * 512
        );
        assert!(f.skipped() > 2_200_000);
    }
}

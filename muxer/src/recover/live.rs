//! Before recovery changes anything: every byte range a live signature covers must still be what was signed,
//! and nothing in the folder may be a symbolic link.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{RecoverError, Tampered};
use crate::fmp4::{index, reader};
use crate::integrity::{Entry, FileKind};
use crate::wav;

/// Opens a file without following a symbolic link in its last component (parents are checked by
/// [`refuse_symlinks`] before recovery starts).
pub(super) fn open_nofollow(path: &Path, write: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(write);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o.open(path)
}

/// Refuses a folder holding a symbolic link anywhere inside it (files, folders, the journal).
pub(super) fn refuse_symlinks(dir: &Path) -> Result<(), RecoverError> {
    let mut files = Vec::new();
    crate::verify::list_files(dir, "", &mut files).map_err(|e| {
        if e.get_ref().is_some() && e.kind() == io::ErrorKind::Other {
            RecoverError::Symlink {
                path: dir.join(e.to_string().trim_end_matches(": symbolic link")),
            }
        } else {
            RecoverError::Io {
                path: dir.to_path_buf(),
                source: e,
            }
        }
    })?;
    Ok(())
}

/// Hashes `len` bytes at `offset`; `None` when the file is missing or shorter.
pub(super) fn region_digest(path: &Path, offset: u64, len: u64) -> Option<[u8; 32]> {
    let mut f = open_nofollow(path, false).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = buf.len().min(left as usize);
        f.read_exact(&mut buf[..n]).ok()?;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Some(h.finalize().into())
}

/// The header records of one range: (record index, digest), in order.
type HeaderRecords = Vec<(usize, [u8; 32])>;

/// A live-signed record that no longer matches the folder, by its index in the journal.
pub(super) struct Finding {
    /// 0-based index of the record.
    pub index: usize,
    /// What differs.
    pub tampered: Tampered,
}

/// What [`check_live`] found: the alterations, and the headers to put back as they were created before
/// recovery rewrites them (an MP4 init segment torn by a power cut during the close's rewrite).
#[derive(Default)]
pub(super) struct LiveCheck {
    /// Live-signed ranges that differ, by record index.
    pub findings: Vec<Finding>,
    /// (file, bytes for offset 0): written only once recovery goes ahead.
    pub restores: Vec<(std::path::PathBuf, Vec<u8>)>,
}

/// Checks the records `entries[..live]` against the folder. A header range is checked against the header
/// record in force: its exact bytes, a later header record for the range (rewritten after the last live
/// signature), or — the header the recorder rewrites in place — the signed header up to the fields recovery
/// rewrites itself (WAV sizes, the MP4 durations and seek index), or an MP4 init segment torn between the
/// created and the final header (see [`torn_rewrite`]).
pub(super) fn check_live(dir: &Path, entries: &[Entry], live: usize) -> LiveCheck {
    let mut out = Vec::new();
    let mut restores = Vec::new();
    let mut paths: Vec<(String, FileKind)> = Vec::new();
    // (file, offset, len) -> [(index, digest)] of every header record, signed or not.
    let mut headers: BTreeMap<(u32, u64, u64), HeaderRecords> = BTreeMap::new();
    let finding = |index: usize, path: &str, offset: u64, len: u64, cause: &str| Finding {
        index,
        tampered: Tampered {
            path: path.to_string(),
            offset,
            len,
            cause: cause.to_string(),
        },
    };
    for (i, e) in entries.iter().enumerate() {
        match e {
            Entry::File { path, kind, .. } => {
                paths.push((path.clone(), *kind));
                if i < live && !dir.join(path).is_file() {
                    out.push(finding(i, path, 0, 0, "missing (deleted)"));
                }
            }
            Entry::Data {
                file,
                offset,
                len,
                sha256,
            } if i < live => {
                let Some((path, _)) = paths.get(*file as usize) else {
                    out.push(finding(i, "?", *offset, *len, "names an undeclared file"));
                    continue;
                };
                match region_digest(&dir.join(path), *offset, *len) {
                    None => out.push(finding(i, path, *offset, *len, "missing (file cut)")),
                    Some(d) if d != sha256.0 => out.push(finding(
                        i,
                        path,
                        *offset,
                        *len,
                        "altered (SHA-256 differs from the live-signed record)",
                    )),
                    Some(_) => {}
                }
            }
            Entry::Header {
                file,
                offset,
                len,
                sha256,
            } => headers
                .entry((*file, *offset, *len))
                .or_default()
                .push((i, sha256.0)),
            _ => {}
        }
    }
    for ((file, offset, len), recs) in headers {
        let Some(last_live) = recs.iter().rposition(|(i, _)| *i < live) else {
            continue;
        };
        let Some((path, kind)) = paths.get(file as usize) else {
            continue;
        };
        let abs = dir.join(path);
        let index = recs[last_live].0;
        let Some(now) = read_region(&abs, offset, len) else {
            out.push(finding(
                index,
                path,
                offset,
                len,
                "header missing (file cut)",
            ));
            continue;
        };
        let d: [u8; 32] = Sha256::digest(&now).into();
        if recs[last_live..].iter().any(|(_, h)| *h == d) {
            continue;
        }
        let created = recs[0].1;
        if normalized(&abs, *kind, offset, &now)
            .is_some_and(|n| Sha256::digest(n).as_slice() == created)
        {
            continue;
        }
        if *kind == FileKind::Mp4 && offset == 0 {
            let fragments = intact_fragments(&abs, entries, file, len);
            if let Some(c) = torn_rewrite(&abs, &now, &created, &fragments) {
                restores.push((abs, c));
                continue;
            }
        }
        out.push(finding(
            index,
            path,
            offset,
            len,
            "header altered (not a header the recorder wrote)",
        ));
    }
    out.sort_by_key(|f| f.index);
    LiveCheck {
        findings: out,
        restores,
    }
}

/// The `data` regions of `file` in the journal that follow its header (`init_len` bytes) contiguously and
/// are intact on disk: the fragments the close indexed, when it made them durable before rewriting.
fn intact_fragments(abs: &Path, entries: &[Entry], file: u32, init_len: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut end = init_len;
    for e in entries {
        if let Entry::Data {
            file: f,
            offset,
            len,
            sha256,
        } = e
        {
            if *f != file {
                continue;
            }
            if *offset != end || region_digest(abs, *offset, *len) != Some(sha256.0) {
                break;
            }
            out.push((*offset, *len));
            end = offset + len;
        }
    }
    out
}

/// The sector a power cut writes whole or not at all (the smallest in use; a larger one is made of these).
const SECTOR: usize = 512;

/// Recognises an MP4 init segment torn by a power cut while the close rewrote it in place: every 512-byte
/// sector of `now` is either that sector of the init segment as created or of the final one. The created one
/// is `now` with its durations zeroed and everything after `moov` blanked back to the zero-filled `free`
/// box, and must hash to `created`; the final one is recomputed from it and `fragments` as the close
/// computed it (the close makes its fragments and their records durable before the rewrite, so they are
/// all on disk). Returns the created header, which recovery puts back before writing its own final header.
fn torn_rewrite(
    abs: &Path,
    now: &[u8],
    created: &[u8; 32],
    fragments: &[(u64, u64)],
) -> Option<Vec<u8>> {
    let info = reader::read_init(now).ok()?;
    let moov_end = usize::try_from(info.len).ok()?;
    let mut c = now.to_vec();
    zero_durations(c.get_mut(..moov_end)?, 0);
    let tail = c.get_mut(moov_end..)?;
    if !tail.is_empty() {
        blank_free(tail)?;
    }
    if Sha256::digest(&c).as_slice() != created {
        return None;
    }
    let mut f = open_nofollow(abs, false).ok()?;
    let (fin, _) = index::final_header_of_file(&mut f, &c, fragments).ok()?;
    if fin.len() != now.len() {
        return None;
    }
    let torn = now
        .chunks(SECTOR)
        .zip(c.chunks(SECTOR).zip(fin.chunks(SECTOR)))
        .all(|(n, (a, b))| n == a || n == b);
    torn.then_some(c)
}

fn read_region(path: &Path, offset: u64, len: u64) -> Option<Vec<u8>> {
    let mut f = open_nofollow(path, false).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = vec![0u8; usize::try_from(len).ok()?.min(64 << 20)];
    f.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// Zeroes the duration fields an init segment is created with and the recorder patches at close (`mvhd`,
/// every `tkhd` and `mdhd`, `mehd`), in the boxes found in `b[start..]` (a sequence of boxes) and below.
fn zero_durations(b: &mut [u8], depth: u32) {
    let Ok(list) = reader::boxes(b) else {
        return;
    };
    for bx in list {
        let (start, end) = (
            (bx.offset + bx.header_len) as usize,
            (bx.offset + bx.size) as usize,
        );
        let Some(body) = b.get_mut(start..end) else {
            return;
        };
        // (offset of the duration after version/flags, for version 0 and 1; its length is 4 or 8).
        let field = match &bx.box_type {
            b"mvhd" | b"mdhd" => Some((16, 24)),
            b"tkhd" => Some((20, 28)),
            b"mehd" => Some((4, 4)),
            b"moov" | b"trak" | b"mdia" | b"mvex" if depth < 4 => {
                zero_durations(body, depth + 1);
                None
            }
            _ => None,
        };
        if let Some((v0, v1)) = field {
            let (at, len) = if body.first() == Some(&1) {
                (v1, 8)
            } else {
                (v0, 4)
            };
            if let Some(f) = body.get_mut(at..at + len) {
                f.fill(0);
            }
        }
    }
}

/// Turns the space after `moov` back into the zero-filled `free` box the init segment is created with, when it
/// holds only what the close writes there (`free` padding and `sidx` boxes, rebuilt by recover from the
/// fragments kept): a close that crashed after writing its final header, before linking it, is not tampering.
fn blank_index(b: &mut [u8]) {
    let Ok(list) = reader::boxes(b) else {
        return;
    };
    let Some(moov) = list.iter().position(|bx| &bx.box_type == b"moov") else {
        return;
    };
    let rest = &list[moov + 1..];
    if rest.is_empty()
        || !rest
            .iter()
            .all(|bx| &bx.box_type == b"free" || &bx.box_type == b"sidx")
    {
        return;
    }
    // The padding the close writes is zeros, as the reserve was: a changed byte there is an alteration.
    let padding_zero = rest.iter().filter(|bx| &bx.box_type == b"free").all(|bx| {
        b.get((bx.offset + bx.header_len) as usize..(bx.offset + bx.size) as usize)
            .is_some_and(|p| p.iter().all(|&x| x == 0))
    });
    if !padding_zero {
        return;
    }
    let start = (list[moov].offset + list[moov].size) as usize;
    if let Some(tail) = b.get_mut(start..) {
        blank_free(tail);
    }
}

/// Makes `tail` one zero-filled `free` box (`None`, unchanged, when it cannot hold one).
fn blank_free(tail: &mut [u8]) -> Option<()> {
    let size = u32::try_from(tail.len()).ok()?;
    if tail.len() < 8 {
        return None;
    }
    tail.fill(0);
    tail[..4].copy_from_slice(&size.to_be_bytes());
    tail[4..8].copy_from_slice(b"free");
    Some(())
}

/// A header as it was created: a WAV header for its `fmt ` format with no samples; an MP4 init segment with
/// its durations 0. `None` when it does not parse.
fn normalized(abs: &Path, kind: FileKind, offset: u64, bytes: &[u8]) -> Option<Vec<u8>> {
    if offset != 0 {
        return None;
    }
    match kind {
        FileKind::Wav => {
            let len = std::fs::symlink_metadata(abs).ok()?.len();
            let plan = wav::plan_wav_recovery(bytes, len).ok()?;
            // The recorder's own header for some sample count: RIFF (data size at byte 76) or RF64 (the
            // `ds64` data size at byte 28); any other byte changed is an alteration.
            let u32_at = |at: usize| -> Option<u64> {
                Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as u64)
            };
            let u64_at = |at: usize| -> Option<u64> {
                Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
            };
            let riff = u32_at(76).map(|n| wav::header_bytes(plan.format, n, false));
            let rf64 = u64_at(28).map(|n| wav::header_bytes(plan.format, n, true));
            let ours = [riff, rf64]
                .into_iter()
                .flatten()
                .any(|h| h.as_slice() == bytes);
            ours.then(|| wav::header_bytes(plan.format, 0, false).to_vec())
        }
        FileKind::Mp4 => {
            reader::read_init(bytes).ok()?;
            let mut b = bytes.to_vec();
            zero_durations(&mut b, 0);
            blank_index(&mut b);
            Some(b)
        }
        FileKind::Whole => None,
    }
}

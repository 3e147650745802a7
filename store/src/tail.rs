//! Follows a recording folder's `manifest.journal` as it grows (through a handle opened at the start, so the
//! lines written just before the close removes the journal are still read) and gathers, for each `header`
//! and `data` record, the bytes of its region from the folder, checked against the record's SHA-256.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use muxer::integrity::manifest::JournalLine;
use muxer::integrity::{Entry, Manifest};
use sha2::{Digest, Sha256};

use crate::counters::Counters;
use crate::segment::{Part, PartRole};
use crate::StoreError;

/// What one pass gathered: whole journal lines and the parts they cover.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    pub journal_offset: u64,
    pub journal: Vec<u8>,
    pub parts: Vec<(Part, Vec<u8>)>,
}

impl Gathered {
    pub fn bytes(&self) -> u64 {
        self.journal.len() as u64 + self.parts.iter().map(|p| p.1.len() as u64).sum::<u64>()
    }
    pub fn is_empty(&self) -> bool {
        self.journal.is_empty()
    }
}

pub(crate) struct Tail {
    dir: PathBuf,
    journal: File,
    /// Bytes of whole lines taken so far.
    pos: u64,
    /// File id -> relative path, from the `file` records.
    paths: Vec<String>,
    open: HashMap<u32, File>,
    /// Chain records taken so far.
    pub entries: u64,
    /// Since when the pass has been stopping at the line at `pos` (a region not on disk).
    waiting: Option<(u64, std::time::Instant)>,
}

/// Checks a path from a `file` record before anything is read or written with it.
pub(crate) fn safe_rel(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

impl Tail {
    pub fn open(dir: &Path) -> Result<Tail, StoreError> {
        let jp = dir.join(muxer::recording::JOURNAL_FILE);
        let journal =
            File::open(&jp).map_err(|e| StoreError::Local(format!("{}: {e}", jp.display())))?;
        Ok(Tail {
            dir: dir.to_path_buf(),
            journal,
            pos: 0,
            paths: Vec::new(),
            open: HashMap::new(),
            entries: 0,
            waiting: None,
        })
    }

    /// Bytes of whole lines taken so far.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The region's bytes now, `None` when the file is shorter (not written yet, or cut).
    fn region(&mut self, file: u32, offset: u64, len: u64) -> Option<Vec<u8>> {
        let path = self.paths.get(file as usize)?.clone();
        if !self.open.contains_key(&file) {
            let f = File::open(self.dir.join(&path)).ok()?;
            self.open.insert(file, f);
        }
        let f = self.open.get(&file)?;
        let mut buf = vec![0u8; usize::try_from(len).ok()?];
        f.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    }

    /// Takes the whole lines written since the last pass, up to about `max` bytes. A `data` region not yet
    /// on disk (still in a writer's buffer) stops the pass before its line unless `last` (the recording is
    /// closed: it is then counted missing).
    ///
    /// A region missing for `stall` (a file that broke, not a writer's buffer) is counted missing and the
    /// lines after it go on.
    pub fn gather(
        &mut self,
        last: bool,
        max: u64,
        stall: std::time::Duration,
        counters: &Counters,
    ) -> Result<Gathered, StoreError> {
        let given_up = self
            .waiting
            .is_some_and(|(at, since)| at == self.pos && since.elapsed() >= stall);
        let len = self
            .journal
            .metadata()
            .map_err(|e| StoreError::Local(format!("manifest.journal: {e}")))?
            .len();
        let mut out = Gathered {
            journal_offset: self.pos,
            ..Gathered::default()
        };
        if len <= self.pos {
            return Ok(out);
        }
        let mut buf = vec![
            0u8;
            usize::try_from(len - self.pos)
                .unwrap_or(usize::MAX)
                .min(64 << 20)
        ];
        let n = read_at_most(&self.journal, &mut buf, self.pos)
            .map_err(|e| StoreError::Local(format!("manifest.journal: {e}")))?;
        buf.truncate(n);
        let mut at = 0usize;
        let mut bytes = 0u64;
        while let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') {
            let line = &buf[at..at + nl + 1];
            let Ok(parsed) = serde_json::from_slice::<JournalLine>(&line[..nl]) else {
                break; // a torn line (a crash): nothing after it is taken
            };
            let mut part = None;
            if let JournalLine::Entry(e) = &parsed {
                let first = at == 0;
                match self.take_entry(e, last || (given_up && first), counters) {
                    Take::Wait => {
                        let here = self.pos + at as u64;
                        if self.waiting.is_none_or(|(p, _)| p != here) {
                            self.waiting = Some((here, std::time::Instant::now()));
                        }
                        break;
                    }
                    Take::Part(p) => part = Some(p),
                    Take::Nothing => {}
                }
                self.entries += 1;
            }
            if let Some(p) = part {
                bytes += p.1.len() as u64;
                out.parts.push(p);
            }
            out.journal.extend_from_slice(line);
            bytes += line.len() as u64;
            at += nl + 1;
            if bytes >= max {
                break;
            }
        }
        self.pos += at as u64;
        Ok(out)
    }

    fn take_entry(&mut self, e: &Entry, last: bool, counters: &Counters) -> Take {
        let (file, offset, len, sha, header) = match e {
            Entry::File { file, path, .. } => {
                if *file as usize == self.paths.len() && safe_rel(path) {
                    self.paths.push(path.clone());
                } else {
                    // Unusable for reading: kept in the journal bytes, the replay refuses it.
                    self.paths.push(String::new());
                }
                return Take::Nothing;
            }
            Entry::Data {
                file,
                offset,
                len,
                sha256,
            } => (*file, *offset, *len, sha256.0, false),
            Entry::Header {
                file,
                offset,
                len,
                sha256,
            } => (*file, *offset, *len, sha256.0, true),
            _ => return Take::Nothing,
        };
        let path = self.paths.get(file as usize).cloned().unwrap_or_default();
        let Some(bytes) = self.region(file, offset, len) else {
            if !last && !header {
                return Take::Wait;
            }
            counters.add(&counters.data_missing, u64::from(!header));
            return Take::Nothing;
        };
        let matches = <[u8; 32]>::from(Sha256::digest(&bytes)) == sha;
        let role = match (header, matches) {
            (false, true) => PartRole::Data,
            (true, true) => PartRole::Header,
            (true, false) => {
                counters.add(&counters.stale_headers, 1);
                PartRole::StaleHeader
            }
            (false, false) => {
                counters.add(&counters.data_mismatches, 1);
                PartRole::Mismatch
            }
        };
        Take::Part((
            Part {
                path,
                offset,
                len,
                role,
            },
            bytes,
        ))
    }

    /// At the close, when the journal was given up (it failed and the writer kept its last lines in memory):
    /// the records `manifest` has beyond those taken, as journal lines, with their parts.
    pub fn rest_from_manifest(&mut self, manifest: &Manifest, counters: &Counters) -> Gathered {
        let mut out = Gathered {
            journal_offset: self.pos,
            ..Gathered::default()
        };
        let skip = usize::try_from(self.entries).unwrap_or(usize::MAX);
        for e in manifest.entries.iter().skip(skip) {
            let line = JournalLine::Entry(e.clone()).to_line();
            if let Take::Part(p) = self.take_entry(e, true, counters) {
                out.parts.push(p);
            }
            self.entries += 1;
            self.pos += line.len() as u64;
            out.journal.extend_from_slice(&line);
        }
        out
    }
}

enum Take {
    Wait,
    Part((Part, Vec<u8>)),
    Nothing,
}

fn read_at_most(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

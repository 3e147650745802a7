//! Writes the fragmenter's output into a sink and hashes every byte written.

use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::time::Duration;

use bytes::Bytes;
use media_core::MediaTime;
use sha2::{Digest, Sha256};

use super::fragmenter::{Fragmenter, FragmenterStats};
use super::index::{self, SegmentIndex};
use super::{boxes, Fmp4Error, Fmp4Options, TrackSpec};
use crate::integrity::Region;

/// A region the writer wrote, for the integrity chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The init segment (rewritten in place at close: a header region).
    Init(Region),
    /// A complete fragment (appended, never rewritten).
    Fragment(Region),
}

/// A fragmented MP4 file being written.
pub struct Fmp4Writer<W: Write + Seek> {
    sink: W,
    frag: Fragmenter,
    options: Fmp4Options,
    pos: u64,
    init: Option<(Vec<u8>, usize)>,
    index: SegmentIndex,
    broken: bool,
    init_barrier: Option<fn(&mut W) -> io::Result<()>>,
}

fn write_all_vectored<W: Write>(w: &mut W, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl<W: Write + Seek> Fmp4Writer<W> {
    /// A writer for `specs`. Nothing is written until the first fragment is due.
    pub fn new(sink: W, specs: &[TrackSpec], options: Fmp4Options) -> Self {
        Fmp4Writer {
            sink,
            frag: Fragmenter::new(specs, options.fragment_duration),
            options,
            pos: 0,
            init: None,
            index: SegmentIndex::default(),
            broken: false,
            init_barrier: None,
        }
    }

    /// Calls `barrier` on the sink after the init segment is flushed and before the first fragment is
    /// written (the recording folder fsyncs there: a power cut can then never keep a fragment without the
    /// init segment it needs).
    pub fn set_init_barrier(&mut self, barrier: fn(&mut W) -> io::Result<()>) {
        self.init_barrier = Some(barrier);
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.pos
    }
    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }
    /// The fragmenter's counters.
    pub fn stats(&self) -> FragmenterStats {
        self.frag.stats()
    }
    /// The sink (e.g. to sync a file).
    pub fn sink_mut(&mut self) -> &mut W {
        &mut self.sink
    }

    /// Adds a sample (see [`Fragmenter::push`]) and writes any fragment that became due; regions written are
    /// appended to `out`.
    ///
    /// # Errors
    /// Sample errors (the sample is dropped, the writer goes on) or [`Fmp4Error::Io`] (the file is broken
    /// from the returned offset; everything reported in `out` before stays valid).
    pub fn push(
        &mut self,
        track: usize,
        pts: MediaTime,
        data: Bytes,
        out: &mut Vec<Written>,
    ) -> Result<(), Fmp4Error> {
        if self.broken {
            return Err(Fmp4Error::Closed);
        }
        self.frag.push(track, pts, data)?;
        self.drain(None, false, out)
    }

    /// Writes a fragment if input stalled for 3 fragment durations (call periodically).
    ///
    /// # Errors
    /// As [`Self::push`].
    pub fn tick(&mut self, now: MediaTime, out: &mut Vec<Written>) -> Result<(), Fmp4Error> {
        if self.broken {
            return Err(Fmp4Error::Closed);
        }
        self.drain(Some(now), false, out)
    }

    /// Writes every pending sample out as fragments (the first half of [`Self::finish`]): the recording
    /// makes them durable before the init segment is rewritten, so a power cut during that rewrite leaves a
    /// mixture of two headers recovery can recompute from the file.
    ///
    /// # Errors
    /// As [`Self::push`].
    pub fn flush_fragments(&mut self, out: &mut Vec<Written>) -> Result<(), Fmp4Error> {
        if self.broken {
            return Err(Fmp4Error::Closed);
        }
        self.drain(None, true, out)
    }

    /// True once the init segment has been written (the close then rewrites it).
    pub fn has_init(&self) -> bool {
        self.pos > 0 && self.init.is_some()
    }

    /// The sink, given back (after [`Self::finish`]: the whole file).
    pub fn into_inner(self) -> W {
        self.sink
    }

    /// Writes everything pending, then rewrites the init segment in place (same length) with the true
    /// durations and the `sidx` seek index (see [`super::index`]), flushes. Returns the final init region
    /// through `out` (as [`Written::Init`]) when an init segment exists.
    ///
    /// # Errors
    /// [`Fmp4Error::Io`] / [`Fmp4Error::Encode`].
    pub fn finish(&mut self, out: &mut Vec<Written>) -> Result<(), Fmp4Error> {
        if self.broken {
            return Err(Fmp4Error::Closed);
        }
        self.drain(None, true, out)?;
        if let Some((init, _)) = self.init.as_mut() {
            let (header, _) = index::final_header(init, &self.index)?;
            *init = header;
            // The final header is reported only once its bytes have reached the sink.
            let r = self
                .write_at_start_of_init()
                .and_then(|_| self.sink.flush());
            if let Err(source) = r {
                self.broken = true;
                return Err(Fmp4Error::Io { offset: 0, source });
            }
            if let Some((init, _)) = self.init.as_ref() {
                out.push(Written::Init(Region {
                    offset: 0,
                    len: init.len() as u64,
                    sha256: Sha256::digest(init).into(),
                }));
            }
        }
        self.sink.flush().map_err(|source| Fmp4Error::Io {
            offset: self.pos,
            source,
        })?;
        Ok(())
    }

    fn write_at_start_of_init(&mut self) -> io::Result<()> {
        let Some((init, _)) = self.init.as_ref() else {
            return Ok(());
        };
        self.sink.seek(SeekFrom::Start(0))?;
        self.sink.write_all(init)?;
        self.sink.seek(SeekFrom::Start(self.pos))?;
        Ok(())
    }

    fn drain(
        &mut self,
        now: Option<MediaTime>,
        finish: bool,
        out: &mut Vec<Written>,
    ) -> Result<(), Fmp4Error> {
        loop {
            if self.init.is_none() {
                let Some(tracks) = self.frag.init_tracks() else {
                    return Ok(());
                };
                let creation = Duration::from_secs(self.options.creation_unix_secs);
                let ids: Vec<(u32, u32)> =
                    (1u32..).zip(tracks.iter().map(|t| t.timescale())).collect();
                self.index = SegmentIndex::new(&ids);
                self.init = Some(boxes::init_segment(&tracks, creation)?);
            }
            // The init segment goes out together with the first fragment, so a file is never just an init.
            let with_init = self.pos == 0;
            if !self.write_next(now, finish, out, with_init)? {
                return Ok(());
            }
        }
    }

    /// Writes the next due fragment (and the init segment first when `with_init`). False when none is due.
    fn write_next(
        &mut self,
        now: Option<MediaTime>,
        finish: bool,
        out: &mut Vec<Written>,
        with_init: bool,
    ) -> Result<bool, Fmp4Error> {
        let Some(fragment) = self.frag.poll_fragment(now, finish)? else {
            return Ok(false);
        };
        // The init segment is reported (linked into the chain) only after the flush below has handed it to
        // the OS together with the first fragment: a region in the chain is always a region on disk.
        let mut init_region = None;
        if with_init {
            if let Some((init, _)) = self.init.as_ref() {
                let barrier = self.init_barrier;
                let r = self.sink.write_all(init).and_then(|_| match barrier {
                    Some(b) => self.sink.flush().and_then(|_| b(&mut self.sink)),
                    None => Ok(()),
                });
                if let Err(source) = r {
                    self.broken = true;
                    return Err(Fmp4Error::Io { offset: 0, source });
                }
                self.pos = init.len() as u64;
                init_region = Some(Written::Init(Region {
                    offset: 0,
                    len: init.len() as u64,
                    sha256: Sha256::digest(init).into(),
                }));
            }
        }
        let mut hasher = Sha256::new();
        let mut slices = Vec::with_capacity(fragment.parts.len() + 1);
        hasher.update(&fragment.header);
        slices.push(IoSlice::new(&fragment.header));
        for p in &fragment.parts {
            hasher.update(p.as_slice());
            slices.push(IoSlice::new(p.as_slice()));
        }
        let len = fragment.len();
        let offset = self.pos;
        let res = write_all_vectored(&mut self.sink, &mut slices).and_then(|_| self.sink.flush());
        if let Err(source) = res {
            self.broken = true;
            return Err(Fmp4Error::Io { offset, source });
        }
        out.extend(init_region);
        self.pos += len;
        self.index.push(offset, len, &fragment.spans);
        out.push(Written::Fragment(Region {
            offset,
            len,
            sha256: hasher.finalize().into(),
        }));
        Ok(true)
    }
}

//! The writer's periodic work (fsync, signatures) and the close: files finalized or cut back, the final
//! status, `manifest.json` written atomically, the journal removed.

use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::Signer;
use media_core::MediaTime;

use super::error::{break_wav, mp4_err};
use super::{
    io_err, sync_dir, Body, RecordingError, RecordingWriter, Sink, Summary, WaitingSig,
    JOURNAL_FILE, MANIFEST_FILE, MANIFEST_TMP_FILE, MAX_WAITING_SIGNATURES,
};
use crate::fmp4::Fmp4Error;
use crate::group_commit::{CommitHandle, Durability};
use crate::integrity::chain::signing_message_for;
use crate::integrity::manifest::{HexBytes, JournalLine};
use crate::integrity::{Entry, FileKind, Manifest, SigRecord, Status};
use crate::storage::StorageFile;
use crate::wav::{self, WavError};

/// `fdatasync` when `fsync` (no group commit), else nothing: the group's round makes the file durable.
fn sync_data_if(fsync: bool, f: &mut dyn StorageFile) -> std::io::Result<()> {
    if fsync {
        f.sync_data()
    } else {
        Ok(())
    }
}

impl RecordingWriter {
    /// Makes this folder durable through the node's group commit instead of an fsync per file per
    /// [`RecordingOptions::sync_interval`](super::RecordingOptions::sync_interval) (see [`crate::group_commit`]): each sync flushes the files to
    /// the OS and asks `handle` for a ticket, and a signature is written once the round covering it ends.
    /// Adding a file, a status change and [`Self::finish`] wait for a round where they fsynced before; the
    /// manifest's write and rename at the close keep their own fsyncs.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use media_core::{AudioFormat, MediaTime};
    /// use muxer::group_commit::{GroupCommit, GroupCommitOptions};
    /// use muxer::{storage::StdStorage, RecordingOptions, RecordingWriter, Status};
    /// let root = std::env::temp_dir().join(format!("verbatim-gc-rec-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&root);
    /// std::fs::create_dir_all(&root).unwrap();
    /// let commit = GroupCommit::start(Arc::new(StdStorage), &root, GroupCommitOptions::default()).unwrap();
    /// let key = muxer::integrity::generate_signing_key().unwrap();
    /// let mut rec = RecordingWriter::create(&root.join("call-1"), key, RecordingOptions::new("call-1", 0)).unwrap();
    /// rec.use_group_commit(commit.handle());
    /// rec.set_status(Status::Recording, MediaTime::ZERO, "").unwrap();
    /// let alice = rec.add_wav("participants/alice.wav", AudioFormat::PCM16K).unwrap();
    /// for i in 1..=100 {
    ///     rec.write_pcm(alice, &[0i16; 320]).unwrap();
    ///     rec.tick(MediaTime::from_millis(20 * i)).unwrap(); // no fsync here: one syncfs for the node
    /// }
    /// rec.finish(Status::Completed, MediaTime::from_secs(2), "").unwrap();
    /// assert!(commit.stats().rounds >= 1);
    /// # std::fs::remove_dir_all(&root).unwrap();
    /// ```
    pub fn use_group_commit(&mut self, handle: CommitHandle) {
        self.commit = Some(handle);
    }

    /// Periodic work at recording time `now`: flushes stalled MP4 fragments, fsyncs every
    /// [`RecordingOptions::sync_interval`](super::RecordingOptions::sync_interval), signs every [`RecordingOptions::sign_interval`](super::RecordingOptions::sign_interval).
    ///
    /// # Errors
    /// The first error met (work on other files still happens).
    pub fn tick(&mut self, now: MediaTime) -> Result<(), RecordingError> {
        self.now = self.now.max(now);
        let mut first_err = self.land_signatures().err();
        for id in 0..self.files.len() as u32 {
            let mut out = std::mem::take(&mut self.scratch);
            out.clear();
            let slot = &mut self.files[id as usize];
            if slot.broken {
                self.scratch = out;
                continue;
            }
            let r = match &mut slot.body {
                Body::Mp4(w) => w.tick(now, &mut out).map_err(|e| mp4_err(slot, e)),
                _ => Ok(()),
            };
            let linked = self.link_written(id, &out);
            self.scratch = out;
            if let Err(e) = r.and(linked) {
                first_err.get_or_insert(e);
            }
        }
        if now.saturating_sub(self.last_sync) >= self.options.sync_interval {
            self.last_sync = now;
            if let Err(e) = self.sync() {
                first_err.get_or_insert(e);
            }
        }
        if now.saturating_sub(self.last_sign) >= self.options.sign_interval {
            self.last_sign = now;
            if let Err(e) = self.sign(now) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Flushes and fsyncs every file, then the journal, and checks the folder is still there. With group
    /// commit ([`Self::use_group_commit`]) the files are flushed to the OS and a ticket is asked for instead of
    /// an fsync per file: they are durable when the node's next round ends.
    ///
    /// # Errors
    /// The first error (an erroring file is marked broken); [`RecordingError::FolderVanished`].
    pub fn sync(&mut self) -> Result<(), RecordingError> {
        let fsync = self.commit.is_none();
        let r = self.write_out(fsync);
        if let Some(h) = &self.commit {
            self.last_ticket = Some(h.request());
        }
        r
    }

    /// Flushes every file (and fsyncs it and the journal when `fsync`), checks the folder, grows the reserve.
    fn write_out(&mut self, fsync: bool) -> Result<(), RecordingError> {
        let mut first_err = None;
        // Open files keep taking writes after their folder is deleted: check it is still the same folder.
        if self.folder_id.is_some() && super::folder_id(&self.dir).ok() != self.folder_id {
            first_err = Some(RecordingError::FolderVanished(self.dir.clone()));
        }
        for id in 0..self.files.len() as u32 {
            if let Err(e) = self.link_log(id) {
                first_err.get_or_insert(e);
            }
        }
        for slot in &mut self.files {
            if slot.broken {
                continue;
            }
            let (r, at) = match &mut slot.body {
                Body::Wav(w) => {
                    let at = w.file_len();
                    (
                        w.sink_mut()
                            .flush()
                            .and_then(|_| sync_data_if(fsync, w.sink_mut().get_mut().as_mut())),
                        at,
                    )
                }
                Body::Mp4(w) => {
                    let at = w.len();
                    (
                        w.sink_mut()
                            .flush()
                            .and_then(|_| sync_data_if(fsync, w.sink_mut().get_mut().as_mut())),
                        at,
                    )
                }
                Body::Log(l) => (
                    l.w.flush()
                        .and_then(|_| sync_data_if(fsync, l.w.get_mut().as_mut())),
                    l.len,
                ),
                Body::Whole => (Ok(()), 0),
            };
            if let Err(e) = r {
                slot.broken = true;
                first_err.get_or_insert(io_err(&slot.abs, at)(e));
            }
        }
        // The lines linking what was just flushed (and any gathered before) reach the OS before the sync.
        if let Err(e) = self.flush_journal() {
            first_err.get_or_insert(e);
        }
        let path = self.dir.join(JOURNAL_FILE);
        if let Err(e) = sync_data_if(fsync, self.journal.as_mut()) {
            first_err.get_or_insert(io_err(&path, self.journal_len)(e));
        }
        // Keep room for the close as the journal grows; failing that, the disk is full: stop now.
        if let Err(e) = self.reserve.grow(self.journal_len) {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Syncs every file and the journal, then signs the current chain head (also done by [`Self::tick`] and
    /// [`Self::finish`]).
    ///
    /// # Errors
    /// [`RecordingError::Io`] on the journal.
    pub fn sign(&mut self, at: MediaTime) -> Result<(), RecordingError> {
        if self.signed_count == Some(self.chain.count)
            || self
                .waiting
                .back()
                .is_some_and(|w| w.sig.entries == self.chain.count)
        {
            return Ok(());
        }
        // Everything a signature covers is made durable before the signature is written: after a power loss,
        // a signature in the journal then always finds its records and bytes on disk, and recovery can treat
        // any difference in a signed range as an alteration, never as a crash (issue 13). With group commit
        // the signature waits for the round that covers it (`land_signatures`).
        let synced = self.sync();
        let rec = self.signature_now(at);
        if let (Some(_), Some(t)) = (&self.commit, self.last_ticket) {
            let mut released = Ok(());
            if self.waiting.len() >= MAX_WAITING_SIGNATURES {
                // Rounds this slow (minutes): the oldest signature is given up, its records go out.
                if let Some(w) = self.waiting.pop_front() {
                    released = self.put_lines(w.after);
                }
            }
            self.waiting.push_back(WaitingSig {
                ticket: t,
                sig: rec,
                after: Vec::new(),
            });
            return synced.and(released);
        }
        self.signed_count = Some(rec.entries);
        self.keep_checkpoint(rec.clone());
        self.journal_write(JournalLine::Sig(rec))?;
        synced
    }

    /// [`Self::sign`], and with group commit also waits for the round that covers the signature (blocking
    /// this thread up to a round, a few ms to tens of ms) and writes it: afterwards
    /// [`Self::take_checkpoint`] has it. Used at the close, where the last checkpoint is time-stamped.
    ///
    /// # Errors
    /// As [`Self::sign`]; a failed round makes the folder fsync its own files first.
    pub fn sign_and_wait(&mut self, at: MediaTime) -> Result<(), RecordingError> {
        let signed = self.sign(at);
        if let (Some(h), Some(w)) = (&self.commit, self.waiting.back()) {
            h.wait(w.ticket);
        }
        // Durable: the signatures are written; a failed round: the files are fsynced one by one first.
        signed.and(self.land_signatures())
    }

    fn signature_now(&self, at: MediaTime) -> SigRecord {
        let sig = self.key.sign(&signing_message_for(
            &self.begin.format,
            self.chain.count,
            &self.chain.head,
            at.ticks(),
        ));
        SigRecord {
            entries: self.chain.count,
            head: HexBytes(self.chain.head),
            signature: HexBytes(sig.to_bytes()),
            at: at.ticks(),
        }
    }

    /// Writes the signatures whose group-commit round has made what they cover durable, oldest first, each
    /// followed by the records made after it; if a round failed, fsyncs this folder's own files first.
    fn land_signatures(&mut self) -> Result<(), RecordingError> {
        let mut first_err = None;
        let mut forced = false;
        while let (Some(h), Some(w)) = (&self.commit, self.waiting.front()) {
            match h.poll(w.ticket) {
                Durability::Pending if !forced => break,
                Durability::Failed if !forced => {
                    forced = true;
                    if let Err(e) = self.write_out(true) {
                        // Not durable: the signatures wait for a later round (or the close).
                        first_err.get_or_insert(e);
                        break;
                    }
                }
                _ => {}
            }
            let Some(w) = self.waiting.pop_front() else {
                break;
            };
            self.signed_count = Some(w.sig.entries);
            self.keep_checkpoint(w.sig.clone());
            if let Err(e) = self
                .journal_put(JournalLine::Sig(w.sig))
                .and(self.put_lines(w.after))
            {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Closes every file, records `final_status`, signs, writes `manifest.json` and removes the journal.
    ///
    /// Files broken by an I/O error are cut back to what the chain covers; errors met while closing are
    /// listed in [`Summary::close_errors`] (the manifest then describes what is on disk).
    ///
    /// # Errors
    /// [`RecordingError::Io`] when the manifest itself cannot be written (the journal then stays, and
    /// [`crate::recover::recover_dir`] can close the folder later).
    pub fn finish(
        mut self,
        final_status: Status,
        at: MediaTime,
        note: &str,
    ) -> Result<Summary, RecordingError> {
        let mut close_errors = Vec::new();
        // The close writes its lines as they are made (and reads the journal back).
        if let Err(e) = self.flush_journal() {
            close_errors.push(e.to_string());
        }
        self.journal_batch = None;
        // A signature still waiting for a round is superseded by the final one. With group commit the files
        // are closed without an fsync each: one round (waited for here) covers them all before the final
        // signature; the manifest's own write, rename and the journal's removal keep their fsyncs.
        if let Err(e) = self.give_up_waiting() {
            close_errors.push(e.to_string());
        }
        if let Err(e) = self.fragments_durable_before_headers() {
            close_errors.push(e.to_string());
        }
        for id in 0..self.files.len() as u32 {
            if let Err(e) = self.close_file(id) {
                close_errors.push(e.to_string());
                self.files[id as usize].broken = true;
            }
        }
        // An encrypted file links what its log still holds unlinked (a header with no record yet, e.g. an
        // empty timeline).
        for id in 0..self.files.len() as u32 {
            if self.recipients.is_some() && !self.files[id as usize].broken {
                if let Err(e) = self.link_sealed(id) {
                    close_errors.push(e.to_string());
                    self.files[id as usize].broken = true;
                }
            }
        }
        for id in 0..self.files.len() {
            if self.files[id].broken {
                if let Err(e) = self.cut_broken(id as u32) {
                    close_errors.push(e.to_string());
                }
            }
        }
        // A recording whose files could not all be finished is not complete, whatever the caller thought.
        let failed_note;
        let (final_status, note) = if close_errors.is_empty() || final_status != Status::Completed {
            (final_status, note)
        } else {
            failed_note = format!("{note}; closing failed: {}", close_errors.join("; "));
            (Status::Failed, failed_note.as_str())
        };
        let at = at.max(self.now);
        // Lines the journal could not take are kept in memory (`spill`): a failing journal does not stop the close.
        if let Err(e) = self.record(Entry::Status {
            at: at.ticks(),
            status: final_status,
            note: note.to_string(),
        }) {
            close_errors.push(e.to_string());
        }
        if let Err(e) = self.sign_and_wait(at) {
            close_errors.push(e.to_string());
        }
        self.commit = None;
        let (entries, sigs) = self.read_back()?;
        let manifest = Manifest::build(&self.begin, entries, sigs);
        if manifest.entry_count != self.chain.count || manifest.chain_head.0 != self.chain.head {
            return Err(RecordingError::Journal(format!(
                "read back {} records that do not end at the chain head written ({} records); \
                 the journal is kept for `verbatim recover`",
                manifest.entry_count, self.chain.count
            )));
        }
        let path =
            self.reserve
                .write_manifest(self.storage.as_ref(), &self.dir, &manifest.render())?;
        let jpath = self.dir.join(JOURNAL_FILE);
        self.storage
            .remove_file(&jpath)
            .map_err(io_err(&jpath, 0))?;
        self.storage
            .sync_dir(&self.dir)
            .map_err(io_err(&self.dir, 0))?;
        Ok(Summary {
            manifest: path,
            files: manifest.files,
            entry_count: manifest.entry_count,
            chain_head: crate::integrity::manifest::head_hex(&manifest.chain_head.0),
            final_status,
            close_errors,
        })
    }

    /// Writes every MP4's pending fragments and links them, then makes them and the journal durable before
    /// any init segment is rewritten in place. A power cut during that rewrite can leave the header torn,
    /// sector by sector, between the header as created and the final one; recovery recognises such a
    /// mixture by recomputing the final header from the fragments on disk, so those must be exactly the
    /// fragments the close indexed (see `recover`'s torn-header check).
    fn fragments_durable_before_headers(&mut self) -> Result<(), RecordingError> {
        let mut first_err = None;
        let mut rewrites = false;
        for id in 0..self.files.len() as u32 {
            let slot = &mut self.files[id as usize];
            let Body::Mp4(w) = &mut slot.body else {
                continue;
            };
            if slot.broken {
                continue;
            }
            let mut out = Vec::new();
            let r = w.flush_fragments(&mut out);
            rewrites |= w.has_init();
            let r = r.map_err(|e| mp4_err(slot, e));
            let linked = self.link_written(id, &out);
            if let Err(e) = r.and(linked) {
                first_err.get_or_insert(e);
            }
        }
        if !rewrites {
            return first_err.map_or(Ok(()), Err);
        }
        // One round of the group commit, or (without one, or when the round failed) an fsync of every file
        // and the journal.
        let grouped = self.commit.is_some() && {
            if let Err(e) = self.write_out(false) {
                first_err.get_or_insert(e);
            }
            super::round_covers_all(&self.commit)
        };
        if !grouped {
            if let Err(e) = self.write_out(true) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn close_file(&mut self, id: u32) -> Result<(), RecordingError> {
        // With group commit the round `finish` waits for makes the closed file durable.
        let fsync = self.commit.is_none();
        let slot = &mut self.files[id as usize];
        if slot.broken {
            return Ok(());
        }
        match slot.kind {
            FileKind::Wav => {
                self.maybe_close_chunk(id, true)?;
                let slot = &mut self.files[id as usize];
                let Body::Wav(w) = &mut slot.body else {
                    return Ok(());
                };
                let header = w.header();
                if let Err(e) = w.refresh_header().and_then(|_| w.flush()).and_then(|_| {
                    let file = w.sink_mut().get_mut();
                    file.materialize().map_err(|e| WavError::Io {
                        offset: 0,
                        source: e,
                    })?;
                    if !fsync {
                        return Ok(());
                    }
                    w.sink_mut().get_mut().sync_all().map_err(|e| WavError::Io {
                        offset: 0,
                        source: e,
                    })
                }) {
                    return Err(break_wav(slot, e));
                }
                self.record_header(id, &header)
            }
            FileKind::Mp4 => {
                let mut out = Vec::new();
                let r = match &mut slot.body {
                    Body::Mp4(w) => w
                        .finish(&mut out)
                        .and_then(|_| {
                            if !fsync {
                                return Ok(());
                            }
                            w.sink_mut()
                                .get_mut()
                                .sync_all()
                                .map_err(|source| Fmp4Error::Io { offset: 0, source })
                        })
                        .map_err(|e| mp4_err(slot, e)),
                    _ => Ok(()),
                };
                self.link_written(id, &out)?;
                r
            }
            FileKind::Whole => {
                self.link_log(id)?;
                let slot = &mut self.files[id as usize];
                if let Body::Log(l) = &mut slot.body {
                    if let Err(e) = if fsync {
                        l.w.get_mut().sync_all()
                    } else {
                        Ok(())
                    } {
                        slot.broken = true;
                        return Err(io_err(&slot.abs, l.len)(e));
                    }
                }
                Ok(())
            }
        }
    }

    /// Cuts a broken file back to what the chain covers (and rewrites a WAV header to match). What its
    /// buffer still holds is dropped first, unwritten: a later flush must not put bytes past the cut.
    fn cut_broken(&mut self, id: u32) -> Result<(), RecordingError> {
        let slot = &mut self.files[id as usize];
        let format = match &mut slot.body {
            Body::Wav(w) => {
                discard(w.sink_mut());
                Some(w.format())
            }
            Body::Mp4(w) => {
                discard(w.sink_mut());
                None
            }
            Body::Log(l) => {
                discard(&mut l.w);
                None
            }
            Body::Whole => None,
        };
        let (abs, end) = (slot.abs.clone(), slot.covered_end);
        let mut f = self.storage.open_write(&abs).map_err(io_err(&abs, end))?;
        f.set_len(end).map_err(io_err(&abs, end))?;
        // A sealed file is cut at a record boundary and left so: its WAV sizes are fixed by `decrypt`, which
        // alone can read them.
        let Some(format) = format.filter(|_| end >= wav::HEADER_LEN && self.recipients.is_none())
        else {
            return f.sync_all().map_err(io_err(&abs, end));
        };
        let header = wav::header_bytes(format, end - wav::HEADER_LEN, false);
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(&header))
            .and_then(|_| f.sync_all())
            .map_err(io_err(&abs, 0))?;
        self.record_header(id, &header)
    }
}

/// A file that takes nothing: what a broken file's buffer is left writing to.
struct Discard;

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Discard {
    fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
        Ok(0)
    }
}

impl StorageFile for Discard {
    fn sync_data(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn sync_all(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn set_len(&mut self, _: u64) -> std::io::Result<()> {
        Ok(())
    }
}

/// Drops what `sink` buffers without writing it, and closes its file.
fn discard(sink: &mut Sink) {
    let old = std::mem::replace(sink, BufWriter::with_capacity(0, Box::new(Discard)));
    drop(old.into_parts());
}

/// Writes `manifest.json` atomically (temporary file, fsync, rename, fsync of the folder).
pub(crate) fn write_manifest(dir: &Path, m: &Manifest) -> Result<PathBuf, RecordingError> {
    let tmp = dir.join(MANIFEST_TMP_FILE);
    let path = dir.join(MANIFEST_FILE);
    let bytes = m.render();
    let mut f = File::create(&tmp).map_err(io_err(&tmp, 0))?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(io_err(&tmp, 0))?;
    fs::rename(&tmp, &path).map_err(io_err(&path, 0))?;
    sync_dir(dir).map_err(io_err(dir, 0))?;
    Ok(path)
}

//! The journal's lines on their way out: one `write(2)` per line, or gathered and written together
//! ([`RecordingWriter::batch_journal`]) where the caller says when a batch of its calls ends.

use std::io::Write;

use super::{io_err, RecordingError, RecordingWriter, JOURNAL_FILE};
use crate::integrity::manifest::{parse_journal, JournalLine};

impl RecordingWriter {
    /// From now on the journal's lines are gathered in memory and written together by
    /// [`Self::flush_journal`] (and before every sync, signature and the close), instead of one `write(2)`
    /// each: for a caller that handles its calls in batches and flushes at the end of each — the recorder's
    /// writer thread, after each pass over a recording's queue (a four-person call's second makes ~10 lines,
    /// half of them within a millisecond). A line not yet written when the process dies is as if its record
    /// had not been made yet: the range it links is lost as the unfinished chunk after it is, so the loss
    /// stays within the last chunk of each file.
    ///
    /// ```
    /// use media_core::{AudioFormat, MediaTime};
    /// use muxer::{RecordingOptions, RecordingWriter};
    /// let dir = std::env::temp_dir().join(format!("verbatim-batch-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let key = muxer::integrity::generate_signing_key().unwrap();
    /// let mut rec = RecordingWriter::create(&dir, key, RecordingOptions::new("doc", 0)).unwrap();
    /// rec.batch_journal();
    /// let stem = rec.add_wav("participants/a.wav", AudioFormat::PCM16K).unwrap();
    /// let journal = dir.join(muxer::recording::JOURNAL_FILE);
    /// let before = std::fs::metadata(&journal).unwrap().len();
    /// rec.write_pcm(stem, &[1i16; 16_000]).unwrap(); // a second: a chunk closed, its `data` line made…
    /// assert_eq!(std::fs::metadata(&journal).unwrap().len(), before); // …and gathered
    /// rec.flush_journal().unwrap();
    /// assert!(std::fs::metadata(&journal).unwrap().len() > before); // written
    /// rec.finish(muxer::Status::Completed, MediaTime::ZERO, "done").unwrap();
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn batch_journal(&mut self) {
        if self.journal_batch.is_none() {
            self.journal_batch = Some(Vec::with_capacity(4096));
        }
    }

    /// Writes the lines gathered since the last flush in one `write(2)` (nothing when the journal is not
    /// batched or nothing is pending). On a failure the journal takes nothing more and the lines are kept
    /// in memory for the manifest, as for a line written on its own.
    ///
    /// # Errors
    /// [`RecordingError::Io`] on the journal.
    pub fn flush_journal(&mut self) -> Result<(), RecordingError> {
        let Some(batch) = self.journal_batch.as_mut().filter(|b| !b.is_empty()) else {
            return Ok(());
        };
        let at = self.journal_len;
        let r = self.journal.write_all(batch);
        let written = batch.len() as u64;
        if let Err(e) = r {
            self.journal_failed = true;
            let (lines, _) = parse_journal(batch);
            self.spill.extend(lines);
            batch.clear();
            return Err(io_err(&self.dir.join(JOURNAL_FILE), at)(e));
        }
        batch.clear();
        self.journal_len += written;
        Ok(())
    }

    /// Appends a line to the journal; while a signature waits for its group-commit round, records are held
    /// back (`held`) so that the signature line lands right after the records it covers.
    pub(super) fn journal_write(&mut self, line: JournalLine) -> Result<(), RecordingError> {
        if let Some(w) = self.waiting.back_mut() {
            w.after.push(line);
            return Ok(());
        }
        self.journal_put(line)
    }

    /// Writes `lines` to the journal in order (all of them, the first error returned).
    pub(super) fn put_lines(&mut self, lines: Vec<JournalLine>) -> Result<(), RecordingError> {
        let mut first_err = None;
        for line in lines {
            if let Err(e) = self.journal_put(line) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Gives up every signature still waiting for its round: the lines held behind them go out, in order,
    /// without the signatures (a later sign covers them).
    pub(super) fn give_up_waiting(&mut self) -> Result<(), RecordingError> {
        let mut first_err = None;
        while let Some(w) = self.waiting.pop_front() {
            if let Err(e) = self.put_lines(w.after) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Writes a line to the journal. After a failed write the journal takes nothing more (a partial line may
    /// end it; `journal_len` counts only whole lines) and lines are kept in memory for the manifest instead;
    /// the first failure is returned.
    pub(super) fn journal_put(&mut self, line: JournalLine) -> Result<(), RecordingError> {
        if self.journal_failed {
            self.spill.push(line);
            return Ok(());
        }
        if let Some(batch) = &mut self.journal_batch {
            line.append_line(batch);
            return Ok(());
        }
        let bytes = line.to_line();
        let at = self.journal_len;
        if let Err(e) = self.journal.write_all(&bytes) {
            self.journal_failed = true;
            self.spill.push(line);
            return Err(io_err(&self.dir.join(JOURNAL_FILE), at)(e));
        }
        self.journal_len += bytes.len() as u64;
        Ok(())
    }
}

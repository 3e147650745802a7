//! A recording written through any [`Storage`] the way the recorder writes one (stems in 20 ms ticks, an MP4
//! of H.264 + Opus, an appended log, `metadata.json`, ticks for sync and signing), that stops at the first
//! error and closes the folder as `failed`, as the recorder does.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::TrackSpec;
use muxer::group_commit::CommitHandle;
use muxer::storage::Storage;
use muxer::{RecordingError, RecordingOptions, RecordingWriter, Status, Summary};

use super::{erin_frames, opus_packets, speech, Frame};

/// The inputs, loaded once.
pub struct Inputs {
    pub stems: Vec<Vec<i16>>,
    pub frames: Vec<Frame>,
    pub packets: Vec<Bytes>,
    pub pre_skip: u16,
}

impl Inputs {
    pub fn load(seconds: i64) -> Self {
        let n = (seconds * 16_000) as usize;
        let mut stems = vec![speech("alice"), speech("bob")];
        for s in &mut stems {
            s.truncate(n);
        }
        // Bob speaks for the first second and then listens: digital silence to the end (holes in his WAV,
        // its tail a logical length until a chunk or the close links it), as most of a real call's stems.
        if let Some(quiet) = stems[1].get_mut(16_000..) {
            quiet.fill(0);
        }
        let (packets, pre_skip) = opus_packets((seconds * 50) as usize);
        Inputs {
            stems,
            frames: erin_frames(),
            packets,
            pre_skip,
        }
    }
    pub fn seconds(&self) -> i64 {
        self.stems[0].len() as i64 / 16_000
    }
}

/// How a run ended.
pub struct Outcome {
    /// `create` failed: nothing was recorded.
    pub create_error: Option<RecordingError>,
    /// The first error while recording (the recording stopped there), with the recording time it came at.
    pub first_error: Option<(MediaTime, RecordingError)>,
    /// The close.
    pub finish: Option<Result<Summary, RecordingError>>,
}

impl Outcome {
    /// Every error of the run, as text.
    pub fn errors(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(e) = &self.create_error {
            v.push(e.to_string());
        }
        if let Some((_, e)) = &self.first_error {
            v.push(e.to_string());
        }
        match &self.finish {
            Some(Err(e)) => v.push(e.to_string()),
            Some(Ok(s)) => v.extend(s.close_errors.iter().cloned()),
            None => {}
        }
        v
    }
}

pub fn options() -> RecordingOptions {
    let mut opts = RecordingOptions::new("call-faults", 1_764_000_000_000);
    opts.sign_interval = MediaTime::from_secs(2);
    opts
}

/// Records `inputs` into `dir` on `storage`.
pub fn record_on(
    storage: Arc<dyn Storage>,
    dir: &Path,
    key: &SigningKey,
    inputs: &Inputs,
) -> Outcome {
    record_on_with(storage, dir, key, inputs, None)
}

/// [`record_on`], made durable through a group commit when `group` is given. After each second of media
/// the recording waits for a round to end, as it does in real time (a round takes milliseconds, a second of
/// media a second).
pub fn record_on_with(
    storage: Arc<dyn Storage>,
    dir: &Path,
    key: &SigningKey,
    inputs: &Inputs,
    group: Option<CommitHandle>,
) -> Outcome {
    record_with_options(storage, dir, key, inputs, group, options(), None)
}

/// [`record_on_with`] with `opts`; with `stop_after` the writer is abandoned (as a `kill -9` would leave
/// it, nothing closed) after that many seconds of media.
pub fn record_with_options(
    storage: Arc<dyn Storage>,
    dir: &Path,
    key: &SigningKey,
    inputs: &Inputs,
    group: Option<CommitHandle>,
    opts: RecordingOptions,
    stop_after: Option<i64>,
) -> Outcome {
    let mut out = Outcome {
        create_error: None,
        first_error: None,
        finish: None,
    };
    let mut rec = match RecordingWriter::create_on(storage, dir, key.clone(), opts) {
        Ok(r) => r,
        Err(e) => {
            out.create_error = Some(e);
            return out;
        }
    };
    if let Some(h) = &group {
        rec.use_group_commit(h.clone());
        // As `listen`'s writer threads do: the journal's lines gathered, written at the end of each pass.
        rec.batch_journal();
    }
    let mut now = MediaTime::ZERO;
    let r = (|| -> Result<(), RecordingError> {
        rec.set_status(Status::Recording, MediaTime::ZERO, "started")?;
        let mp4 = rec.add_mp4(
            "recording.mp4",
            &[TrackSpec::h264(), TrackSpec::opus(1, inputs.pre_skip)],
        )?;
        let log = rec.add_log("timeline.jsonl")?;
        let mut ids = Vec::new();
        for name in ["alice", "bob"] {
            ids.push(rec.add_wav(&format!("participants/{name}.wav"), AudioFormat::PCM16K)?);
        }
        let mut vi = 0;
        for slot in 0..(inputs.seconds() * 50) as usize {
            now = MediaTime::from_millis(20 * slot as i64);
            for (id, s) in ids.iter().zip(&inputs.stems) {
                rec.write_pcm(*id, &s[slot * 320..(slot + 1) * 320])?;
            }
            while vi < inputs.frames.len() && inputs.frames[vi].pts <= now {
                let f = &inputs.frames[vi];
                rec.write_sample(mp4, 0, f.pts, f.annexb.clone())?;
                vi += 1;
            }
            rec.write_sample(mp4, 1, now, inputs.packets[slot].clone())?;
            if slot % 37 == 0 {
                let line = format!("{{\"event\":\"tick\",\"slot\":{slot}}}\n");
                rec.append_log(log, line.as_bytes())?;
            }
            rec.tick(now.saturating_add(MediaTime::from_millis(20)))?;
            if group.is_some() && slot % 25 == 12 {
                rec.flush_journal()?; // a writer pass ends (mid-second: lines also wait for the sync)
            }
            if let (Some(h), true) = (&group, slot % 50 == 49) {
                h.wait(h.request());
            }
            if stop_after.is_some_and(|s| slot as i64 + 1 == s * 50) {
                return Err(RecordingError::Journal("abandoned".into()));
            }
        }
        now = MediaTime::from_secs(inputs.seconds());
        Ok(())
    })();
    if stop_after.is_some() && r.is_err() {
        // The process dies here: no close, no flush of what the writer buffers.
        std::mem::forget(rec);
        return out;
    }
    let status = match r {
        Ok(()) => Status::Completed,
        Err(e) => {
            out.first_error = Some((now, e));
            Status::Failed
        }
    };
    let md = format!("{{\"status\":\"{status:?}\"}}");
    if let Err(e) = rec.write_whole_file("metadata.json", md.as_bytes()) {
        out.first_error.get_or_insert((now, e));
    }
    let status = if out.first_error.is_some() {
        Status::Failed
    } else {
        status
    };
    out.finish = Some(rec.finish(status, now, "end"));
    out
}

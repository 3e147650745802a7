//! `metadata.json` rebuilt after a crash, by `verbatim recover`, from what `timeline.jsonl` journaled (see
//! [`crate::journal`]).
//!
//! `recover` first cuts `timeline.jsonl` back to what the signed chain covers (whole lines); then
//! [`rebuild_metadata`] replays it:
//!
//! * the counter snapshots (`counters` lines: the first whole, then diffs) give every field of
//!   `metadata.json` as of the last snapshot that survived — at most one sync interval before the crash;
//! * the gap, dominant-speaker and pause lines give the lists as of the crash, completed by the gaps the
//!   last snapshot says the recorder still held (the gap totals by kind, `losses`, are summed from the
//!   lists, so the two agree);
//! * `recording.status` is `interrupted`, `recording.error` says why, `recording.rebuilt_after_crash` is
//!   true and `recording.counters_as_of_us` says when the counters are of; `duration_us` is the length of
//!   `mixed.wav` as recovered (when written), else the last snapshot's; a pause still open at the crash ends
//!   there, without `resumed_*`.
//!
//! The schema is the one a normal close writes (the same [`crate::metadata::from_summary`] made the snapshots).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use media_core::ledger::GapKind;
use serde_json::{json, Value};

use crate::journal::apply;
use crate::sink::{read_timeline_lines, TimelineLine, TIMELINE_FILE};

/// Why `metadata.json` could not be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// `timeline.jsonl` (or `mixed.wav`'s length) could not be read.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What the error says a rebuilt `metadata.json` is.
const REBUILT_NOTE: &str = "the recorder stopped without closing the recording (crash, kill or power \
                            loss); `verbatim recover` closed it and rebuilt this file from timeline.jsonl";

/// The `metadata.json` of a crashed recording in `dir` (pretty JSON), rebuilt from its `timeline.jsonl` (see
/// the module docs); `None` when the timeline holds no counter snapshot (a folder written before snapshots
/// were journaled, or one that crashed before its first).
///
/// # Examples
/// ```
/// let dir = std::env::temp_dir().join(format!("verbatim-rebuild-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let lines = concat!(
///     r#"{"event":"counters","at_us":0,"full":{"recording":{"status":"recording","duration_us":0},"#,
///     r#""participants":[{"name":"alice","gaps":[],"losses":{}}],"videos":[],"dominant_speakers":[],"#,
///     r#""call":{"id":"c"},"counters":{}}}"#, "\n",
///     r#"{"event":"paused","at_us":400000,"requested_utc":"2026-01-01T00:00:00.400Z","#,
///     r#""requested_by":"agent","reason":"card"}"#, "\n",
///     r#"{"event":"counters","at_us":1000000,"diff":{"recording":{"duration_us":1000000}}}"#, "\n",
/// );
/// std::fs::write(dir.join("timeline.jsonl"), lines).unwrap();
/// let md = recorder::rebuild::rebuild_metadata(&dir).unwrap().unwrap();
/// let md: serde_json::Value = serde_json::from_slice(&md).unwrap();
/// assert_eq!(md["recording"]["status"], "interrupted");
/// assert_eq!(md["recording"]["rebuilt_after_crash"], true);
/// assert_eq!(md["recording"]["duration_us"], 1_000_000);
/// assert_eq!(md["call"]["pauses"][0]["start_us"], 400_000);
/// assert_eq!(md["call"]["pauses"][0]["end_us"], 1_000_000); // open at the crash
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`RebuildError::Io`] when `timeline.jsonl` exists but cannot be read.
pub fn rebuild_metadata(dir: &Path) -> Result<Option<Vec<u8>>, RebuildError> {
    let path = dir.join(TIMELINE_FILE);
    let io = |source| RebuildError::Io {
        path: path.clone(),
        source,
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut r = Replay::default();
    let unreadable =
        read_timeline_lines(std::io::BufReader::new(file), |l| r.line(l)).map_err(io)?;
    let Some(mut md) = r.md.take() else {
        return Ok(None);
    };
    let mut duration = md["recording"]["duration_us"].as_i64().unwrap_or(0);
    if let Some(d) = mixed_wav_us(dir, &md)? {
        duration = d;
    }
    {
        let rec = &mut md["recording"];
        rec["status"] = json!("interrupted");
        rec["error"] = json!(REBUILT_NOTE);
        rec["duration_us"] = json!(duration);
        rec["rebuilt_after_crash"] = json!(true);
        rec["counters_as_of_us"] = json!(r.counters_at);
    }
    if let Some(ps) = md["participants"].as_array_mut() {
        for p in ps {
            let mut gaps = p["name"]
                .as_str()
                .and_then(|n| r.audio_gaps.remove(n))
                .unwrap_or_default();
            // The snapshot's own gaps were still held by the recorder: those not handed over since.
            let end = |g: &Value| {
                g["start_us"].as_i64().unwrap_or(0) + g["length_us"].as_i64().unwrap_or(0)
            };
            let listed_until = gaps.last().map_or(i64::MIN, end);
            let held: Vec<Value> = p["gaps"].as_array().cloned().unwrap_or_default();
            for g in held {
                let start = g["start_us"].as_i64().unwrap_or(0);
                if start >= listed_until && !gaps.iter().any(|l| l["start_us"] == g["start_us"]) {
                    gaps.push(g);
                }
            }
            let mut losses = [0i64; 3];
            for g in &gaps {
                let i = match g["kind"].as_str() {
                    Some("inferred_loss") => 1,
                    Some("dropped") => 2,
                    _ => 0,
                };
                losses[i] += g["length_us"].as_i64().unwrap_or(0);
            }
            p["losses"] = json!({
                "nothing_sent_us": losses[0], "inferred_loss_us": losses[1], "dropped_us": losses[2],
            });
            p["gaps"] = Value::Array(gaps);
        }
    }
    if let Some(vs) = md["videos"].as_array_mut() {
        for v in vs {
            let gaps = v["path"]
                .as_str()
                .and_then(|n| r.video_gaps.remove(n))
                .unwrap_or_default();
            v["gaps"] = Value::Array(gaps);
        }
    }
    md["dominant_speakers"] = Value::Array(std::mem::take(&mut r.dominant));
    if let Some(last) = r.pauses.last_mut() {
        if last.get("resumed_utc").is_none() {
            let start = last["start_us"].as_i64().unwrap_or(0);
            last["end_us"] = json!(duration.max(start));
        }
    }
    if !r.pauses.is_empty() {
        md["call"]["pauses"] = Value::Array(std::mem::take(&mut r.pauses));
    }
    md["counters"]["timeline_unreadable_lines"] = json!(unreadable + r.unknown);
    // Plain JSON values: serializing cannot fail.
    Ok(serde_json::to_vec_pretty(&md).ok())
}

/// The state replayed from the timeline's lines.
#[derive(Default)]
struct Replay {
    md: Option<Value>,
    counters_at: i64,
    audio_gaps: HashMap<String, Vec<Value>>,
    video_gaps: HashMap<String, Vec<Value>>,
    dominant: Vec<Value>,
    pauses: Vec<Value>,
    unknown: u64,
}

impl Replay {
    fn line(&mut self, line: TimelineLine<'_>) {
        let gap = |start_us: i64, length_us: i64, kind: &str, cause: Option<&str>| {
            let k = GapKind::parse(kind, cause)?;
            let mut g = json!({"start_us": start_us, "length_us": length_us, "kind": k.name()});
            if let Some(c) = k.cause() {
                g["cause"] = json!(c);
            }
            Some(g)
        };
        match line {
            TimelineLine::AudioGap {
                participant,
                start_us,
                length_us,
                kind,
                cause,
            } => match gap(start_us, length_us, &kind, cause.as_deref()) {
                Some(g) => self
                    .audio_gaps
                    .entry(participant.into_owned())
                    .or_default()
                    .push(g),
                None => self.unknown += 1,
            },
            TimelineLine::VideoGap {
                file,
                start_us,
                length_us,
                kind,
                cause,
            } => match gap(start_us, length_us, &kind, cause.as_deref()) {
                Some(g) => self
                    .video_gaps
                    .entry(file.into_owned())
                    .or_default()
                    .push(g),
                None => self.unknown += 1,
            },
            TimelineLine::DominantSpeaker { at_us, participant } => self
                .dominant
                .push(json!({"at_us": at_us, "participant": participant})),
            // Joins and leaves are in the participants' entries (from the snapshots).
            TimelineLine::Joined { .. } | TimelineLine::Left { .. } => {}
            // Listen-ins stay in timeline.jsonl (signed there); metadata.json does not list them.
            TimelineLine::ListenIn { .. } | TimelineLine::ListenInEnded { .. } => {}
            TimelineLine::Paused {
                at_us,
                requested_utc,
                requested_by,
                reason,
            } => self.pauses.push(json!({
                "start_us": at_us, "end_us": at_us, "requested_utc": requested_utc,
                "requested_by": requested_by, "reason": reason,
            })),
            TimelineLine::Resumed {
                at_us,
                resumed_utc,
                resumed_by,
                reason,
            } => {
                if let Some(p) = self.pauses.last_mut() {
                    let start = p["start_us"].as_i64().unwrap_or(0);
                    p["end_us"] = json!(at_us.max(start));
                    p["resumed_utc"] = json!(resumed_utc);
                    p["resumed_by"] = json!(resumed_by);
                    p["resume_reason"] = json!(reason);
                }
            }
            TimelineLine::Counters { at_us, full, diff } => {
                match (full, diff, &mut self.md) {
                    (Some(f), _, _) => self.md = Some(f),
                    (None, Some(d), Some(md)) => apply(md, &d),
                    // A diff without the state it applies to: cannot be used.
                    _ => {
                        self.unknown += 1;
                        return;
                    }
                }
                self.counters_at = at_us;
            }
        }
    }
}

/// The length of `mixed.wav` as recovered, in µs, when the recording wrote one.
fn mixed_wav_us(dir: &Path, md: &Value) -> Result<Option<i64>, RebuildError> {
    let path = dir.join("mixed.wav");
    let len = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RebuildError::Io { path, source }),
    };
    let rate = md["recording"]["sample_rate"].as_u64().unwrap_or(0);
    let channels = md["recording"]["channels"].as_u64().unwrap_or(0);
    if len < muxer::wav::HEADER_LEN || rate == 0 || channels == 0 {
        return Ok(None);
    }
    let samples = (len - muxer::wav::HEADER_LEN) / (2 * channels);
    Ok(i64::try_from(samples.saturating_mul(1_000_000) / rate).ok())
}

//! Metadata journaled as it happens: what `metadata.json` would say is written into the signed
//! `timeline.jsonl` while the call runs, so a crash loses at most one sync interval of it.
//!
//! ```text
//!  media thread: every second of recording time ─► SinkControl::Snapshot ─┐
//!  the call's driver: pause / resume            ─► SinkControl::Paused… ──┼─► writer thread: FolderSink
//!                                                                         │     timeline.jsonl line
//!                                                                         └──   + status `paused`/`recording`
//! ```
//!
//! * A counter snapshot is the `metadata.json` the recorder would write at that moment (built by
//!   [`crate::metadata::from_summary`], the same code as at close, without the lists that `timeline.jsonl`
//!   already holds; a participant's `gaps` are those the recorder still holds, not yet in the timeline). The first one is written whole (`"full"`), later ones as a [`diff`] against the previous
//!   (`"diff"`; only changed fields), and only when something changed: about 1 KB/s for a 4-person call,
//!   against 128 KB/s of audio.
//! * A pause or resume is a `paused` / `resumed` line and, at the same moment, a `paused` / `recording` entry
//!   of the signed status history.
//!
//! `verbatim recover` reads these lines back ([`crate::rebuild`]) and writes the `metadata.json` the crash
//! prevented.

use std::sync::Arc;
use std::time::SystemTime;

use media_core::{AudioFormat, MediaTime};
use serde_json::{Map, Value};

use crate::engine::CallSummary;
use crate::metadata::{CallInfo, CountersMeta};

/// How often (in recording time) the media thread hands the writer a counter snapshot: the writer's sync
/// interval, so each sync links the state of the previous second.
pub const SNAPSHOT_INTERVAL: MediaTime = MediaTime::from_secs(1);

/// What stays the same for a whole recording and goes into every snapshot's `metadata.json`.
#[derive(Clone, Debug)]
pub struct SnapshotBase {
    /// The `call` section.
    pub call: CallInfo,
    /// Wall clock at recording time zero.
    pub started: SystemTime,
    /// Format of stems and mix.
    pub format: AudioFormat,
}

/// The recorder's account at one moment, with the counters the media side keeps outside the recorder.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Call, start and format.
    pub base: Arc<SnapshotBase>,
    /// The recorder's summary so far.
    pub summary: CallSummary,
    /// Per participant, the audio gaps not yet handed to the timeline (see
    /// [`crate::engine::CallRecorder::pending_audio_gaps`]): the snapshot lists them as the participant's
    /// `gaps`, so a crash does not lose a long gap still held by the recorder.
    pub pending_gaps: Vec<Vec<media_core::ledger::Gap>>,
    /// Ingest and writer counters (the sink adds its own).
    pub counters: CountersMeta,
}

/// A pause started: recording goes on as silence, and the status history says `paused`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseStart {
    /// Recording time of the pause.
    pub at: MediaTime,
    /// When the request reached the recorder (RFC 3339 UTC).
    pub requested_utc: String,
    /// Who asked.
    pub requested_by: String,
    /// Why.
    pub reason: String,
}

/// A pause ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseEnd {
    /// Recording time of the resume.
    pub at: MediaTime,
    /// When the request reached the recorder (RFC 3339 UTC).
    pub resumed_utc: String,
    /// Who asked.
    pub resumed_by: String,
    /// Why.
    pub reason: String,
}

/// Something for the sink to journal now, besides media and timeline events.
#[derive(Clone, Debug)]
pub enum SinkControl {
    /// Recording paused.
    Paused(PauseStart),
    /// Recording resumed.
    Resumed(PauseEnd),
    /// The counters now (see the module docs).
    Snapshot(Box<Snapshot>),
    /// A supervisor starts listening in: journaled (a signed `listen_in` line), then every tick of the mix or
    /// of one stem goes to the tap.
    ListenIn(ListenIn),
    /// That supervisor stopped listening (a `listen_in_ended` line with how long).
    ListenInEnded(ListenInEnded),
}

/// The receiving end of a live listen-in, called on the writer thread with each tick's samples and the
/// wall clock (Unix ms) of the tick's start (recording start + recording time). It must not block: it hands
/// the samples on (a bounded channel's `try_send`) and answers false once the listener is gone, which
/// detaches it. Costs nothing while no one listens; while someone does, one copy of the tick per listener.
#[derive(Clone)]
pub struct ListenTap(pub std::sync::Arc<TapFn>);

/// What a [`ListenTap`] calls: `(samples, wall clock ms of the tick's start)`, true to stay attached.
pub type TapFn = dyn Fn(&[i16], i64) -> bool + Send + Sync;

impl std::fmt::Debug for ListenTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenTap")
    }
}

/// A listen-in starts.
#[derive(Clone, Debug)]
pub struct ListenIn {
    /// Who listens (the console's user).
    pub by: String,
    /// The reason they gave.
    pub reason: String,
    /// When (UTC).
    pub utc: String,
    /// A participant's stem name, or `None` for the mix.
    pub who: Option<String>,
    /// Where the samples go.
    pub tap: ListenTap,
}

/// A listen-in ends.
#[derive(Clone, Debug)]
pub struct ListenInEnded {
    /// Who listened.
    pub by: String,
    /// When it ended (UTC).
    pub utc: String,
    /// How long they listened, ms.
    pub length_ms: i64,
}

/// The key that marks a whole replacement in a [`diff`] (metadata keys are never `=`).
const REPLACE: &str = "=";

/// The changes from `old` to `new`, or `None` when they are equal. Objects and arrays are compared member by
/// member (an array's changed elements are keyed by their index); a value of another type, an object that
/// lost a key or a shorter array is replaced whole (`{"=": value}`). [`apply`] undoes it.
///
/// # Examples
/// ```
/// use serde_json::json;
/// use recorder::journal::{apply, diff};
/// let old = json!({"n": 1, "list": [{"a": 1, "b": 2}], "same": "x"});
/// let new = json!({"n": 2, "list": [{"a": 1, "b": 3}, {"a": 9, "b": 9}], "same": "x"});
/// let d = diff(&old, &new).unwrap();
/// assert_eq!(d, json!({"n": 2, "list": {"0": {"b": 3}, "1": {"=": {"a": 9, "b": 9}}}}));
/// let mut v = old.clone();
/// apply(&mut v, &d);
/// assert_eq!(v, new);
/// assert_eq!(diff(&new, &new), None);
/// ```
pub fn diff(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    let whole = |v: &Value| match v {
        Value::Object(_) | Value::Array(_) => {
            let mut m = Map::new();
            m.insert(REPLACE.into(), v.clone());
            Value::Object(m)
        }
        _ => v.clone(),
    };
    match (old, new) {
        (Value::Object(o), Value::Object(n)) if o.keys().all(|k| n.contains_key(k)) => {
            let mut m = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = diff(ov, nv) {
                            m.insert(k.clone(), d);
                        }
                    }
                    None => {
                        m.insert(k.clone(), whole(nv));
                    }
                }
            }
            Some(Value::Object(m))
        }
        (Value::Array(o), Value::Array(n)) if n.len() >= o.len() => {
            let mut m = Map::new();
            for (i, nv) in n.iter().enumerate() {
                match o.get(i) {
                    Some(ov) => {
                        if let Some(d) = diff(ov, nv) {
                            m.insert(i.to_string(), d);
                        }
                    }
                    None => {
                        m.insert(i.to_string(), whole(nv));
                    }
                }
            }
            Some(Value::Object(m))
        }
        _ => Some(whole(new)),
    }
}

/// Applies a [`diff`] to `target` (total: a patch that does not fit is applied as far as it fits).
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.len() == 1 {
        if let Some(v) = p.get(REPLACE) {
            *target = v.clone();
            return;
        }
    }
    match target {
        Value::Object(t) => {
            for (k, pv) in p {
                match t.get_mut(k) {
                    Some(tv) => apply(tv, pv),
                    None => {
                        let mut v = Value::Null;
                        apply(&mut v, pv);
                        t.insert(k.clone(), v);
                    }
                }
            }
        }
        Value::Array(t) => {
            // Index keys in increasing order (a JSON object's keys come back sorted as strings).
            let mut keyed: Vec<(usize, &Value)> = p
                .iter()
                .filter_map(|(k, v)| k.parse().ok().map(|i| (i, v)))
                .collect();
            keyed.sort_by_key(|(i, _)| *i);
            for (i, pv) in keyed {
                if let Some(tv) = t.get_mut(i) {
                    apply(tv, pv);
                } else if i == t.len() {
                    let mut v = Value::Null;
                    apply(&mut v, pv);
                    t.push(v);
                }
            }
        }
        _ => {
            let mut v = Value::Object(Map::new());
            apply(&mut v, patch);
            *target = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_replay_to_every_state_of_a_growing_document() {
        let states = [
            json!({"recording": {"ticks": 0, "error": null}, "participants": []}),
            json!({"recording": {"ticks": 50, "error": null}, "participants": [{"name": "a", "n": 1}]}),
            json!({"recording": {"ticks": 100, "error": "x"}, "participants": [{"name": "a", "n": 5},
                   {"name": "b", "n": 0}]}),
            // A key lost and an array shortened: replaced whole.
            json!({"recording": {"ticks": 150}, "participants": [{"name": "a", "n": 6}]}),
            json!({"recording": 3, "participants": [[1], {"x": []}]}),
        ];
        let mut v = states[0].clone();
        for w in states.windows(2) {
            let d = diff(&w[0], &w[1]).expect("states differ");
            apply(&mut v, &d);
            assert_eq!(v, w[1]);
        }
    }

    #[test]
    fn a_diff_names_only_what_changed() {
        let old = json!({"a": {"b": 1, "c": [1, 2, 3]}, "d": "same"});
        let new = json!({"a": {"b": 1, "c": [1, 2, 4]}, "d": "same"});
        assert_eq!(diff(&old, &new), Some(json!({"a": {"c": {"2": 4}}})));
    }
}

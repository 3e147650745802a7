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
//!   (`"diff"`; only changed fields; made participant by participant, so a participant unchanged since the
//!   last snapshot costs one typed comparison), and only when something changed: about 1 KB/s for a 4-person call,
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

/// `v` as a whole replacement in a [`diff`] (`{"=": v}` for an object or array, itself otherwise).
fn whole(v: &Value) -> Value {
    match v {
        Value::Object(_) | Value::Array(_) => {
            let mut m = Map::new();
            m.insert(REPLACE.into(), v.clone());
            Value::Object(m)
        }
        _ => v.clone(),
    }
}

/// What a counter snapshot adds to `timeline.jsonl`.
#[derive(Debug, PartialEq)]
pub(crate) enum SnapshotLine {
    /// The first snapshot, whole.
    Full(Value),
    /// The [`diff`] from the previous one.
    Diff(Value),
    /// Nothing changed.
    Same,
}

/// The counter snapshots' [`diff`]s, made list element by list element: an element of the list under `key`
/// (the participants) equal, typed, to the previous snapshot's is neither turned into JSON nor compared.
/// The result is exactly [`diff`] of the whole documents. (Issue 14: one snapshot a second per call was ~3 %
/// of `listen`'s CPU, most of it spent serializing and comparing the participants who had not spoken.)
pub(crate) struct SnapshotDiff<P> {
    key: &'static str,
    /// The previous document without the list (the list's key holds `[]`), and the list typed and as JSON.
    rest: Option<Value>,
    list: Vec<(P, Value)>,
}

impl<P: serde::Serialize + PartialEq> SnapshotDiff<P> {
    /// Diffs of documents whose list sits under `key`.
    pub(crate) fn new(key: &'static str) -> Self {
        SnapshotDiff {
            key,
            rest: None,
            list: Vec::new(),
        }
    }

    /// The line for the next snapshot: `rest` is the document serialized with an empty list under the key,
    /// `list` the list's elements.
    pub(crate) fn next(
        &mut self,
        rest: Value,
        list: Vec<P>,
    ) -> Result<SnapshotLine, serde_json::Error> {
        let Some(old_rest) = self.rest.take() else {
            let values = to_values(&list)?;
            let full = with_list(rest.clone(), self.key, &values);
            self.list = list.into_iter().zip(values).collect();
            self.rest = Some(rest);
            return Ok(SnapshotLine::Full(full));
        };
        let keys_kept = match (&old_rest, &rest) {
            (Value::Object(o), Value::Object(n)) => o.keys().all(|k| n.contains_key(k)),
            _ => false,
        };
        if !keys_kept || list.len() < self.list.len() {
            // What `diff` replaces whole (never in a recording): the whole documents, compared.
            let old_values: Vec<Value> = self.list.drain(..).map(|(_, v)| v).collect();
            let old = with_list(old_rest, self.key, &old_values);
            let values = to_values(&list)?;
            let d = diff(&old, &with_list(rest.clone(), self.key, &values));
            self.list = list.into_iter().zip(values).collect();
            self.rest = Some(rest);
            return Ok(d.map_or(SnapshotLine::Same, SnapshotLine::Diff));
        }
        let mut changes = match diff(&old_rest, &rest) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut elements = Map::new();
        for (i, p) in list.into_iter().enumerate() {
            match self.list.get_mut(i) {
                Some((old, _)) if *old == p => {}
                Some((old, old_value)) => {
                    let value = serde_json::to_value(&p)?;
                    if let Some(d) = diff(old_value, &value) {
                        elements.insert(i.to_string(), d);
                    }
                    *old = p;
                    *old_value = value;
                }
                None => {
                    let value = serde_json::to_value(&p)?;
                    elements.insert(i.to_string(), whole(&value));
                    self.list.push((p, value));
                }
            }
        }
        if !elements.is_empty() {
            changes.insert(self.key.to_string(), Value::Object(elements));
        }
        self.rest = Some(rest);
        Ok(if changes.is_empty() {
            SnapshotLine::Same
        } else {
            SnapshotLine::Diff(Value::Object(changes))
        })
    }
}

fn to_values<P: serde::Serialize>(list: &[P]) -> Result<Vec<Value>, serde_json::Error> {
    list.iter().map(serde_json::to_value).collect()
}

/// `rest` with `values` as the list under `key`.
fn with_list(mut rest: Value, key: &str, values: &[Value]) -> Value {
    if let Value::Object(m) = &mut rest {
        m.insert(key.to_string(), Value::Array(values.to_vec()));
    }
    rest
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

    #[derive(Clone, Debug, PartialEq, serde::Serialize)]
    struct Who {
        name: String,
        frames: u8,
        drift: f64,
        gaps: Vec<u8>,
    }

    fn who() -> impl proptest::strategy::Strategy<Value = Who> {
        use proptest::prelude::*;
        // Few distinct values, so that elements often stay equal from one snapshot to the next.
        (
            "[ab]",
            0u8..3,
            prop_oneof![Just(0.0), Just(1.5), Just(f64::NAN)],
            proptest::collection::vec(0u8..2, 0..2),
        )
            .prop_map(|(name, frames, drift, gaps)| Who {
                name,
                frames,
                drift,
                gaps,
            })
    }

    fn document() -> impl proptest::strategy::Strategy<Value = (Value, Vec<Who>)> {
        use proptest::prelude::*;
        (
            0u8..3,
            any::<bool>(),
            proptest::collection::vec(who(), 0..4),
        )
            .prop_map(|(ticks, extra, list)| {
                let mut rest = json!({"recording": {"ticks": ticks}, "participants": []});
                if extra {
                    rest["extra"] = json!([ticks]);
                }
                (rest, list)
            })
    }

    proptest::proptest! {
        /// Element by element, the snapshot lines are exactly `diff` of the whole documents, and replay to each.
        #[test]
        fn snapshot_lines_are_the_diffs_of_the_whole_documents(docs in proptest::collection::vec(document(), 1..12)) {
            let mut differ = SnapshotDiff::new("participants");
            let mut previous: Option<Value> = None;
            let mut replayed = Value::Null;
            for (rest, list) in docs {
                let values: Vec<Value> = list.iter().map(|w| serde_json::to_value(w).unwrap()).collect();
                let full = with_list(rest.clone(), "participants", &values);
                let line = differ.next(rest, list).unwrap();
                let expected = match &previous {
                    None => SnapshotLine::Full(full.clone()),
                    Some(old) => diff(old, &full).map_or(SnapshotLine::Same, SnapshotLine::Diff),
                };
                proptest::prop_assert_eq!(&line, &expected);
                match line {
                    SnapshotLine::Full(v) => replayed = v,
                    SnapshotLine::Diff(d) => apply(&mut replayed, &d),
                    SnapshotLine::Same => {}
                }
                proptest::prop_assert_eq!(&replayed, &full);
                previous = Some(full);
            }
        }
    }

    #[test]
    fn a_diff_names_only_what_changed() {
        let old = json!({"a": {"b": 1, "c": [1, 2, 3]}, "d": "same"});
        let new = json!({"a": {"b": 1, "c": [1, 2, 4]}, "d": "same"});
        assert_eq!(diff(&old, &new), Some(json!({"a": {"c": {"2": 4}}})));
    }
}

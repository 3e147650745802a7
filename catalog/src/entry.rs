//! One catalogued recording: what search needs of a folder, read from its `metadata.json` and `manifest.json`.
//!
//! [`RecordingEntry::from_files`] is sans-IO (bytes in, entry out) so it can be fuzzed; [`read_folder`] is the
//! thin driver that reads the files. Every byte is outside input: a malformed file gives a
//! [`CatalogError::Unreadable`], never a panic.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::CatalogError;

/// What search knows of one recording folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingEntry {
    /// The folder, relative to the catalogue's root (`/`-separated): the recording's id in the catalogue.
    pub id: String,
    /// Call id (`metadata.json` `call.id`, else the manifest's `recording_id`).
    pub call_id: String,
    /// Leg of the call (`1` unless several recorders recorded it).
    pub leg: String,
    /// Wall-clock start, µs since the Unix epoch (UTC).
    pub started_us: i64,
    /// Wall-clock start as RFC 3339 UTC, as the folder gives it.
    pub started_utc: String,
    /// Recording length, µs.
    pub duration_us: i64,
    /// Final status (`completed`, `failed`, `interrupted`, …), or `recording` while no manifest is there.
    pub status: String,
    /// `manifest.json` is there: the recording was closed (by the recorder or by `recover`).
    pub closed: bool,
    /// The files are encrypted (`--encrypt-to`): only the manifest and file names could be read.
    pub encrypted: bool,
    /// `incoming`, `outgoing`, `unspecified`, or empty when the bot did not say (simulations, files).
    pub direction: String,
    /// Number dialed (PSTN), may be empty.
    pub dialed_number: String,
    /// Caller's number (PSTN), may be empty.
    pub origin_number: String,
    /// Tenant id, may be empty.
    pub tenant_id: String,
    /// The recorded user (`observedParticipantId`), may be empty.
    pub observed_participant_id: String,
    /// Everyone recorded.
    pub participants: Vec<ParticipantEntry>,
    /// Business data the bot attached.
    pub custom_data: BTreeMap<String, String>,
    /// Audio that was sent or received and is missing (inferred loss + dropped here), µs over all participants.
    /// Spans where a participant sent nothing (silence) are not missing and not counted.
    pub missing_us: i64,
    /// Groups that may see this recording (see [`groups_of`]).
    pub groups: Vec<String>,
    /// The node whose root holds the folder, as the console that indexed it is named (`verbatim serve
    /// --node`, default the host name); `None` when read from the folder alone, or indexed before nodes were
    /// recorded. With a shared catalogue it tells a console which node to send the reviewer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// One participant of a catalogued recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantEntry {
    /// Stem name (`participants/<name>.wav`).
    pub name: String,
    /// Display name, may be empty.
    pub display_name: String,
    /// Participant id (AAD object id), may be empty.
    pub id: String,
}

impl ParticipantEntry {
    /// The keys a participant is found by: name, display name and id, lower-cased, without empties or repeats.
    ///
    /// ```
    /// use catalog::ParticipantEntry;
    /// let p = ParticipantEntry { name: "alice".into(), display_name: "Alice Smith".into(), id: "A-1".into() };
    /// assert_eq!(p.search_keys(), vec!["alice", "alice smith", "a-1"]);
    /// ```
    pub fn search_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for k in [&self.name, &self.display_name, &self.id] {
            let k = k.trim().to_lowercase();
            if !k.is_empty() && !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys
    }
}

impl RecordingEntry {
    /// The recording has missing audio (see [`RecordingEntry::missing_us`]).
    pub fn has_gaps(&self) -> bool {
        self.missing_us > 0
    }

    /// Reads an entry from a folder's files, given as bytes (`None`: the file is not there).
    ///
    /// `metadata` is `metadata.json` (absent while recording or after a crash until `recover`; sealed when
    /// encrypted), `manifest` is `manifest.json` (absent while recording), `stems` the names found in
    /// `participants/` (used when `metadata.json` cannot be read).
    ///
    /// ```
    /// use catalog::RecordingEntry;
    /// let meta = br#"{"call":{"id":"c1","leg":"1","teams":{"direction":"incoming","dialed_number":"+44 20 7946 0000",
    ///   "custom_data":{"desk":"rates"}}},
    ///   "recording":{"status":"completed","started_utc":"2026-03-02T09:30:00.000Z","duration_us":60000000},
    ///   "participants":[{"name":"alice","display_name":"Alice","id":"a-1","gaps":[
    ///      {"start_us":0,"length_us":500000,"kind":"nothing_sent"},{"start_us":9000000,"length_us":20000,"kind":"inferred_loss"}]}]}"#;
    /// let e = RecordingEntry::from_files("2026/c1", Some(meta), None, &[]).unwrap();
    /// assert_eq!(e.call_id, "c1");
    /// assert_eq!(e.started_us, 1_772_443_800_000_000);
    /// assert_eq!(e.missing_us, 20_000); // silence is not missing
    /// assert_eq!(e.groups, vec!["desk:rates"]);
    /// assert_eq!(e.dialed_number, "+44 20 7946 0000");
    /// ```
    ///
    /// # Errors
    /// [`CatalogError::Unreadable`] when neither file gives a call id and a start time.
    pub fn from_files(
        id: &str,
        metadata: Option<&[u8]>,
        manifest: Option<&[u8]>,
        stems: &[String],
    ) -> Result<RecordingEntry, CatalogError> {
        let unreadable = |why: String| CatalogError::Unreadable {
            folder: id.to_string(),
            why,
        };
        let sealed = |b: &[u8]| b.starts_with(b"VBSEAL");
        let encrypted = metadata.is_some_and(sealed);
        let meta: Option<Value> = match metadata {
            Some(b) if !sealed(b) => Some(
                serde_json::from_slice(b).map_err(|e| unreadable(format!("metadata.json: {e}")))?,
            ),
            _ => None,
        };
        let man: Option<Value> = match manifest {
            Some(b) => Some(
                serde_json::from_slice(b).map_err(|e| unreadable(format!("manifest.json: {e}")))?,
            ),
            None => None,
        };
        let m = meta.as_ref();
        let call = m.and_then(|m| m.get("call"));
        let teams = call.and_then(|c| c.get("teams"));
        let rec = m.and_then(|m| m.get("recording"));

        let call_id = text(call, "id")
            .or_else(|| text(man.as_ref(), "recording_id"))
            .ok_or_else(|| unreadable("no call id in metadata.json or manifest.json".into()))?;
        let (started_us, started_utc) = match text(rec, "started_utc") {
            Some(s) => (
                parse_utc(&s).ok_or_else(|| unreadable(format!("started_utc {s:?}")))?,
                s,
            ),
            None => {
                let ms = man
                    .as_ref()
                    .and_then(|v| v.get("start_utc_ms"))
                    .and_then(Value::as_i64)
                    .ok_or_else(|| unreadable("no start time".into()))?;
                let us = ms.saturating_mul(1000);
                (us, format_utc(us))
            }
        };
        let final_status = text(man.as_ref(), "final_status");
        let status = final_status
            .clone()
            .or_else(|| text(rec, "status"))
            .unwrap_or_else(|| "recording".into());
        let duration_us = rec
            .and_then(|r| r.get("duration_us"))
            .and_then(Value::as_i64)
            .or_else(|| manifest_duration_us(man.as_ref()))
            .unwrap_or(0)
            .max(0);

        let mut participants = Vec::new();
        let mut missing_us: i64 = 0;
        if let Some(list) = m
            .and_then(|m| m.get("participants"))
            .and_then(Value::as_array)
        {
            for p in list {
                let name = text(Some(p), "name").unwrap_or_default();
                participants.push(ParticipantEntry {
                    display_name: text(Some(p), "display_name").unwrap_or_default(),
                    id: text(Some(p), "id").unwrap_or_default(),
                    name,
                });
                for g in p
                    .get("gaps")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let kind = g.get("kind").and_then(Value::as_str).unwrap_or("");
                    if kind != "nothing_sent" {
                        let len = g
                            .get("length_us")
                            .and_then(Value::as_i64)
                            .unwrap_or(0)
                            .max(0);
                        missing_us = missing_us.saturating_add(len);
                    }
                }
            }
        } else {
            participants.extend(stems.iter().map(|s| ParticipantEntry {
                name: s.clone(),
                display_name: String::new(),
                id: String::new(),
            }));
        }
        let custom_data: BTreeMap<String, String> = teams
            .and_then(|t| t.get("custom_data"))
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let tenant_id = text(teams, "tenant_id").unwrap_or_default();
        let groups = groups_of(&tenant_id, &custom_data);
        Ok(RecordingEntry {
            id: id.to_string(),
            call_id,
            leg: text(call, "leg").unwrap_or_else(|| "1".into()),
            started_us,
            started_utc,
            duration_us,
            status,
            closed: man.is_some(),
            encrypted,
            direction: text(teams, "direction").unwrap_or_default(),
            dialed_number: text(teams, "dialed_number").unwrap_or_default(),
            origin_number: text(teams, "origin_number").unwrap_or_default(),
            tenant_id,
            observed_participant_id: text(teams, "observed_participant_id").unwrap_or_default(),
            participants,
            custom_data,
            missing_us,
            groups,
            node: None,
        })
    }
}

/// The groups (desks, tenants) a recording belongs to, which scope who may see it: `tenant:<tenant id>` when
/// the bot named a tenant, and one `desk:<name>` per comma-separated name in the custom data's `desk` or
/// `groups` entry. A recording in no group is seen only by users granted every group (`*`).
///
/// ```
/// use std::collections::BTreeMap;
/// let cd: BTreeMap<String, String> = [("groups".to_string(), "rates, fx".to_string())].into();
/// assert_eq!(catalog::groups_of("t1", &cd), vec!["desk:fx", "desk:rates", "tenant:t1"]);
/// ```
pub fn groups_of(tenant_id: &str, custom_data: &BTreeMap<String, String>) -> Vec<String> {
    let mut g: Vec<String> = Vec::new();
    if !tenant_id.trim().is_empty() {
        g.push(format!("tenant:{}", tenant_id.trim()));
    }
    for key in ["desk", "groups"] {
        for name in custom_data
            .get(key)
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
        {
            let name = name.trim();
            if !name.is_empty() {
                g.push(format!("desk:{name}"));
            }
        }
    }
    g.sort();
    g.dedup();
    g
}

/// Reads a recording folder's files and makes its entry; `id` is its path relative to the root.
///
/// # Errors
/// [`CatalogError::Io`] when a file that is there cannot be read; [`CatalogError::Unreadable`] as
/// [`RecordingEntry::from_files`].
pub fn read_folder(dir: &Path, id: &str) -> Result<RecordingEntry, CatalogError> {
    let read = |name: &str| -> Result<Option<Vec<u8>>, CatalogError> {
        match std::fs::read(dir.join(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CatalogError::Io(format!(
                "{}: {e}",
                dir.join(name).display()
            ))),
        }
    };
    let metadata = read("metadata.json")?;
    let manifest = read("manifest.json")?;
    let mut stems = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir.join("participants")) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = n.strip_suffix(".wav") {
                stems.push(stem.to_string());
            }
        }
    }
    stems.sort();
    RecordingEntry::from_files(id, metadata.as_deref(), manifest.as_deref(), &stems)
}

fn text(v: Option<&Value>, key: &str) -> Option<String> {
    v?.get(key)?.as_str().map(str::to_string)
}

/// The last status change's recording time in the manifest (in 100 ns units, as its `at`), as µs.
fn manifest_duration_us(man: Option<&Value>) -> Option<i64> {
    let h = man?.get("status_history")?.as_array()?;
    h.iter()
        .filter_map(|s| s.get("at")?.as_i64())
        .max()
        .map(|at| at / 10)
}

/// RFC 3339 → µs since the epoch.
///
/// ```
/// assert_eq!(catalog::parse_utc("1970-01-01T00:00:01.5Z"), Some(1_500_000));
/// assert_eq!(catalog::parse_utc("2026-03-01"), Some(1_772_323_200_000_000));
/// assert_eq!(catalog::parse_utc("March"), None);
/// ```
pub fn parse_utc(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        // A bare date: midnight UTC.
        let d = time::Date::parse(
            s,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()?;
        Some(d.midnight().assume_utc())
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// µs since the epoch → RFC 3339 UTC with milliseconds.
///
/// ```
/// assert_eq!(catalog::format_utc(1_500_000), "1970-01-01T00:00:01.500Z");
/// ```
pub fn format_utc(us: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

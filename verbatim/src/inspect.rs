//! `verbatim inspect`: what a recording folder holds, for a person — status, participants, gaps and who spoke
//! when — without playing it.
//!
//! Reads `manifest.json` (files, status history), `metadata.json` (participants, counters, gap and
//! dominant-speaker lists) and, when `metadata.json` is missing (a recording closed by `verbatim recover` after a
//! crash) or unreadable, `timeline.jsonl`, which the recorder appends as the call goes. Nothing is verified here:
//! `verbatim verify` checks the bytes against the signed chain. Every file read is outside input: a missing or
//! malformed one is reported in [`Inspection::problems`], never a panic.
//!
//! The speaker timeline is a strip of [`Inspection::strip`] columns over the recording, each showing the
//! participant who was the platform's dominant speaker for most of that span (`A`, `B`, … in participant
//! order; `.` nobody). A strip never shows someone speaking over a gap in their stem without saying so: the
//! line [`Inspection::strip_marks`] under it marks each column where the shown speaker's stem has a gap while
//! they were the dominant speaker (`~` under 5 % of that time, `!` from 5 %).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use muxer::integrity::Manifest;
use serde::Serialize;
use serde_json::Value;

use media_core::ledger::GapKind;

use crate::sink::{read_timeline_lines, TimelineLine, TIMELINE_FILE};

/// Why a folder cannot be inspected at all.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Neither a manifest nor a journal: not a recording folder.
    #[error("{}: not a recording folder (no manifest.json or manifest.journal)", .0.display())]
    NotARecording(PathBuf),
    /// An encrypted recording: its files are sealed (`verify` checks it without a key; `decrypt` it, then
    /// inspect the plaintext folder).
    #[error("{path}: an encrypted recording (to {1}): its files cannot be read without an identity; \
             `verbatim verify` checks it as it is, `verbatim decrypt {path} --identity FILE --out PLAIN` \
             then `verbatim inspect PLAIN` shows it", path = .0.display())]
    Encrypted(PathBuf, String),
}

/// One participant as the folder describes them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ParticipantView {
    /// Stem name.
    pub name: String,
    /// Letter in the speaker strip.
    pub letter: char,
    /// Joined, recording time (µs), when known.
    pub joined_us: Option<i64>,
    /// Left, recording time (µs), when known.
    pub left_us: Option<i64>,
    /// Frames written, when known.
    pub frames_written: Option<u64>,
    /// Gaps (spans without audio).
    pub gaps: u64,
    /// Their total length, µs.
    pub gap_us: i64,
    /// Of that, nothing sent (silence, not among the four loudest), µs.
    pub nothing_sent_us: i64,
    /// Of that, inferred lost on the way (breaks inside talk spurts), µs.
    pub inferred_loss_us: i64,
    /// Of that, received and dropped here (late, outlier stamps, …), µs.
    pub dropped_us: i64,
    /// Time as the dominant speaker, µs.
    pub dominant_us: i64,
}

impl ParticipantView {
    /// A participant known only by name so far (letter, lists and times are filled in later).
    fn named(name: String) -> Self {
        ParticipantView {
            name,
            letter: '?',
            joined_us: None,
            left_us: None,
            frames_written: None,
            gaps: 0,
            gap_us: 0,
            nothing_sent_us: 0,
            inferred_loss_us: 0,
            dropped_us: 0,
            dominant_us: 0,
        }
    }
}

/// What `inspect` found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Inspection {
    /// The folder.
    pub dir: PathBuf,
    /// Recording id.
    pub recording_id: Option<String>,
    /// `manifest.json` is there (the recording was closed); otherwise it is still open or crashed.
    pub closed: bool,
    /// Status changes: recording time (µs), status, note.
    pub status_history: Vec<(i64, String, String)>,
    /// Files and sizes the manifest lists.
    pub files: Vec<(String, u64)>,
    /// Recording length (µs), when known.
    pub duration_us: Option<i64>,
    /// Wall-clock start, when known.
    pub started_utc: Option<String>,
    /// Where the gap and speaker lists came from: `metadata.json` or `timeline.jsonl`.
    pub lists_from: Option<&'static str>,
    /// Everyone recorded.
    pub participants: Vec<ParticipantView>,
    /// Dominant-speaker changes listed.
    pub dominant_changes: usize,
    /// Length of one strip column (µs).
    pub strip_column_us: i64,
    /// The speaker strip.
    pub strip: String,
    /// Under the strip: `~` / `!` where the shown speaker's stem has a gap (see the module docs), else ' '.
    pub strip_marks: String,
    /// What could not be read (missing or malformed files), in plain words.
    pub problems: Vec<String>,
}

/// Columns of the speaker strip.
pub const STRIP_COLUMNS: usize = 60;

/// One gap as listed: start and length (µs) and its kind.
type GapEntry = (i64, i64, GapKind);

/// Lists read from metadata.json or timeline.jsonl: per participant name, gaps; dominant changes (at µs, name).
#[derive(Default)]
struct Lists {
    gaps: BTreeMap<String, Vec<GapEntry>>,
    dominant: Vec<(i64, Option<String>)>,
    presence: BTreeMap<String, Presence>,
}

/// A participant's joins and leaves in the timeline (µs).
#[derive(Default, Clone, Copy)]
struct Presence {
    first_join: Option<i64>,
    last_join: Option<i64>,
    last_leave: Option<i64>,
}

/// The files `inspect` reads, as bytes (so the interpretation is sans-IO and can be fuzzed).
#[derive(Debug, Clone, Default)]
pub struct FolderContents {
    /// The folder (only shown).
    pub dir: PathBuf,
    /// `manifest.json`; `None` when the folder has only a journal (not closed).
    pub manifest: Option<Vec<u8>>,
    /// `metadata.json`, when present.
    pub metadata: Option<Vec<u8>>,
    /// `timeline.jsonl`, when present.
    pub timeline: Option<Vec<u8>>,
    /// Stem names found in `participants/` (`<name>.wav`), sorted.
    pub stems_on_disk: Vec<String>,
    /// Length of a stem on disk (all are as long as the recording), µs.
    pub stem_duration_us: Option<i64>,
    /// Files that exist but could not be read.
    pub read_errors: Vec<String>,
}

/// Inspects a recording folder: reads its files ([`FolderContents`]) and interprets them
/// ([`inspect_contents`]).
///
/// # Errors
/// [`InspectError::NotARecording`]; anything else is reported in [`Inspection::problems`].
pub fn inspect_dir(dir: &Path) -> Result<Inspection, InspectError> {
    let manifest_path = dir.join(muxer::recording::MANIFEST_FILE);
    let journal_path = dir.join(muxer::recording::JOURNAL_FILE);
    if !manifest_path.exists() && !journal_path.exists() {
        return Err(InspectError::NotARecording(dir.to_path_buf()));
    }
    let mut read_errors = Vec::new();
    let mut read = |name: &str| match std::fs::read(dir.join(name)) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            read_errors.push(format!("{name}: {e}"));
            None
        }
    };
    let manifest = read(muxer::recording::MANIFEST_FILE);
    if let Some(r) = encrypted_to(manifest.as_deref(), &journal_path) {
        return Err(InspectError::Encrypted(dir.to_path_buf(), r));
    }
    let metadata = read("metadata.json");
    let timeline = read(TIMELINE_FILE);
    let stems_on_disk = stems_on_disk(dir);
    let stem_duration_us = stems_on_disk.first().and_then(|n| stem_duration_us(dir, n));
    Ok(inspect_contents(&FolderContents {
        dir: dir.to_path_buf(),
        manifest,
        metadata,
        timeline,
        stems_on_disk,
        stem_duration_us,
        read_errors,
    }))
}

/// The recipients of an encrypted folder, from its manifest or (still recording, crashed) its journal.
fn encrypted_to(manifest: Option<&[u8]>, journal: &Path) -> Option<String> {
    let entries = match manifest {
        Some(b) => muxer::integrity::Manifest::parse(b).ok()?.entries,
        None => {
            let bytes = std::fs::read(journal).ok()?;
            muxer::integrity::manifest::parse_journal(&bytes)
                .0
                .into_iter()
                .filter_map(|l| match l {
                    muxer::integrity::manifest::JournalLine::Entry(e) => Some(e),
                    _ => None,
                })
                .collect()
        }
    };
    entries.into_iter().find_map(|e| match e {
        muxer::integrity::Entry::Encrypted { recipients, .. } => Some(recipients.join(", ")),
        _ => None,
    })
}

/// Interprets a folder's files (see the module docs). Never fails: what cannot be read is listed in
/// [`Inspection::problems`].
pub fn inspect_contents(c: &FolderContents) -> Inspection {
    let mut out = Inspection {
        dir: c.dir.clone(),
        recording_id: None,
        closed: c.manifest.is_some(),
        status_history: Vec::new(),
        files: Vec::new(),
        duration_us: None,
        started_utc: None,
        lists_from: None,
        participants: Vec::new(),
        dominant_changes: 0,
        strip_column_us: 0,
        strip: String::new(),
        strip_marks: String::new(),
        problems: c.read_errors.clone(),
    };
    if let Some(bytes) = &c.manifest {
        match Manifest::parse(bytes) {
            Ok(m) => {
                out.recording_id = Some(m.recording_id.clone());
                out.started_utc = Some(utc_of_unix_ms(m.start_utc_ms));
                out.status_history = m
                    .status_history
                    .iter()
                    .map(|s| (s.at / 10, status_name(s.status), s.note.clone()))
                    .collect();
                out.files = m.files.iter().map(|f| (f.path.clone(), f.size)).collect();
            }
            Err(e) => out.problems.push(format!("manifest.json unreadable: {e}")),
        }
    } else {
        out.problems.push(
            "not closed (manifest.journal, no manifest.json): still recording, or the recorder crashed — \
             `verbatim recover DIR` closes it"
                .into(),
        );
    }
    let metadata = parse_metadata(c.metadata.as_deref(), &mut out.problems);
    let mut lists = Lists::default();
    if let Some(md) = &metadata {
        out.duration_us = md["recording"]["duration_us"].as_i64();
        if let Some(s) = md["recording"]["started_utc"].as_str() {
            out.started_utc = Some(s.to_string());
        }
        for p in md["participants"].as_array().into_iter().flatten() {
            let Some(name) = p["name"].as_str() else {
                continue;
            };
            lists.gaps.insert(name.to_string(), gap_list(&p["gaps"]));
            out.participants.push(ParticipantView {
                joined_us: p["joined_us"].as_i64(),
                left_us: p["left_us"].as_i64(),
                frames_written: p["frames_written"].as_u64(),
                ..ParticipantView::named(name.to_string())
            });
        }
        for d in md["dominant_speakers"].as_array().into_iter().flatten() {
            if let Some(at) = d["at_us"].as_i64() {
                lists
                    .dominant
                    .push((at, d["participant"].as_str().map(str::to_string)));
            }
        }
        out.lists_from = Some("metadata.json");
    } else {
        // No metadata: participants from the stems on disk, lists from the timeline.
        let mut names: Vec<String> = out
            .files
            .iter()
            .filter_map(|(p, _)| {
                p.strip_prefix("participants/")
                    .and_then(|n| n.strip_suffix(".wav"))
                    .map(str::to_string)
            })
            .collect();
        if names.is_empty() {
            names = c.stems_on_disk.clone();
        }
        out.participants
            .extend(names.into_iter().map(ParticipantView::named));
        if let Some(l) = parse_timeline(c.timeline.as_deref(), &mut out.problems) {
            lists = l;
            out.lists_from = Some("timeline.jsonl");
        }
        out.duration_us = out
            .status_history
            .last()
            .map(|s| s.0)
            .filter(|&d| d > 0)
            .or(c.stem_duration_us);
    }
    for (i, p) in out.participants.iter_mut().enumerate() {
        p.letter = letter(i);
        if let Some(pr) = lists.presence.get(&p.name) {
            // Only the timeline says it when there is no metadata; a leave before the last join is not the end.
            p.joined_us = p.joined_us.or(pr.first_join);
            p.left_us = p.left_us.or(pr
                .last_leave
                .filter(|&l| pr.last_join.is_none_or(|j| l >= j)));
        }
        if let Some(g) = lists.gaps.get_mut(&p.name) {
            g.sort_by_key(|e| e.0);
            p.gaps = g.len() as u64;
            for &(_, l, kind) in g.iter() {
                let l = l.max(0);
                p.gap_us = p.gap_us.saturating_add(l);
                let by_kind = match kind {
                    GapKind::InferredLoss => &mut p.inferred_loss_us,
                    GapKind::Dropped(_) => &mut p.dropped_us,
                    GapKind::NothingSent | GapKind::Unclassified => &mut p.nothing_sent_us,
                };
                *by_kind = by_kind.saturating_add(l);
            }
        }
    }
    lists.dominant.sort_by_key(|d| d.0);
    out.dominant_changes = lists.dominant.len();
    let end = out
        .duration_us
        .unwrap_or_else(|| lists.dominant.last().map_or(0, |d| d.0))
        .max(0);
    speaker_time(&mut out.participants, &lists.dominant, end);
    let strip = strip(&out.participants, &lists, end);
    (out.strip_column_us, out.strip, out.strip_marks) = strip;
    out
}

/// RFC 3339 of a Unix time in ms (any value: clamped to what RFC 3339 shows).
fn utc_of_unix_ms(ms: i64) -> String {
    use std::time::{Duration, UNIX_EPOCH};
    let at = if ms >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_millis(ms.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_millis(ms.unsigned_abs()))
    };
    crate::metadata::utc(at.unwrap_or(UNIX_EPOCH), media_core::MediaTime::ZERO)
}

fn status_name(s: muxer::Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{s:?}"))
}

fn letter(i: usize) -> char {
    const L: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    L.get(i).map_or('+', |&b| b as char)
}

fn parse_metadata(bytes: Option<&[u8]>, problems: &mut Vec<String>) -> Option<Value> {
    let Some(bytes) = bytes else {
        problems.push(
            "no metadata.json (a recording closed by `recover` has none): participants from the stems, \
             gaps and speakers from timeline.jsonl"
                .into(),
        );
        return None;
    };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if v.is_object() => Some(v),
        Ok(_) => {
            problems.push("metadata.json is not a JSON object".into());
            None
        }
        Err(e) => {
            problems.push(format!("metadata.json unreadable: {e}"));
            None
        }
    }
}

fn gap_list(v: &Value) -> Vec<GapEntry> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| {
            let kind = g["kind"]
                .as_str()
                .and_then(|k| GapKind::parse(k, g["cause"].as_str()))
                .unwrap_or(GapKind::Unclassified);
            Some((g["start_us"].as_i64()?, g["length_us"].as_i64()?, kind))
        })
        .collect()
}

fn parse_timeline(bytes: Option<&[u8]>, problems: &mut Vec<String>) -> Option<Lists> {
    let Some(bytes) = bytes else {
        problems.push(format!("no {TIMELINE_FILE}"));
        return None;
    };
    let mut lists = Lists::default();
    // Reading from memory cannot fail.
    let bad = read_timeline_lines(bytes, |line| match line {
        TimelineLine::AudioGap {
            participant,
            start_us,
            length_us,
            kind,
            cause,
        } => lists
            .gaps
            .entry(participant.into_owned())
            .or_default()
            .push((
                start_us,
                length_us,
                GapKind::parse(&kind, cause.as_deref()).unwrap_or(GapKind::Unclassified),
            )),
        TimelineLine::VideoGap { .. }
        | TimelineLine::Paused { .. }
        | TimelineLine::Resumed { .. }
        | TimelineLine::Counters { .. }
        | TimelineLine::ListenIn { .. }
        | TimelineLine::ListenInEnded { .. } => {}
        TimelineLine::Joined { participant, at_us } => {
            let e = lists.presence.entry(participant.into_owned()).or_default();
            e.first_join = Some(e.first_join.map_or(at_us, |f| f.min(at_us)));
            e.last_join = Some(e.last_join.map_or(at_us, |l| l.max(at_us)));
        }
        TimelineLine::Left { participant, at_us } => {
            let e = lists.presence.entry(participant.into_owned()).or_default();
            e.last_leave = Some(e.last_leave.map_or(at_us, |l| l.max(at_us)));
        }
        TimelineLine::DominantSpeaker { at_us, participant } => lists
            .dominant
            .push((at_us, participant.map(|p| p.into_owned()))),
    })
    .unwrap_or(0);
    if bad > 0 {
        problems.push(format!("{TIMELINE_FILE}: {bad} unreadable lines skipped"));
    }
    Some(lists)
}

fn stems_on_disk(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("participants"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".wav"))
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// The length of a stem (stems are as long as the recording), from its WAV header.
fn stem_duration_us(dir: &Path, name: &str) -> Option<i64> {
    let r = hound::WavReader::open(dir.join(format!("participants/{name}.wav"))).ok()?;
    let rate = i64::from(r.spec().sample_rate.max(1));
    Some(i64::from(r.duration()) * 1_000_000 / rate)
}

/// Who is dominant in `[from, to)`, as (name, µs) spans, from the sorted changes.
fn spans<'a>(
    dominant: &'a [(i64, Option<String>)],
    end: i64,
) -> impl Iterator<Item = (i64, i64, Option<&'a str>)> + 'a {
    dominant
        .iter()
        .enumerate()
        .filter_map(move |(i, (at, who))| {
            let next = dominant.get(i + 1).map_or(end, |n| n.0).min(end);
            let at = (*at).max(0);
            (next > at).then_some((at, next, who.as_deref()))
        })
}

fn speaker_time(ps: &mut [ParticipantView], dominant: &[(i64, Option<String>)], end: i64) {
    for (from, to, who) in spans(dominant, end) {
        if let Some(p) = ps.iter_mut().find(|p| Some(p.name.as_str()) == who) {
            p.dominant_us = p.dominant_us.saturating_add(to - from);
        }
    }
}

/// Length of `[from, to)` covered by `gaps` (sorted by start).
fn covered(gaps: &[GapEntry], from: i64, to: i64) -> i64 {
    // Gaps are short against a column; start from the first that can reach `from`.
    let first = gaps.partition_point(|g| g.0.saturating_add(g.1) <= from);
    gaps[first..]
        .iter()
        .take_while(|g| g.0 < to)
        .map(|g| (to.min(g.0.saturating_add(g.1)) - from.max(g.0)).max(0))
        .sum()
}

/// The speaker strip and its marks: per column, the dominant speaker, and whether their stem had gaps while
/// they were.
fn strip(ps: &[ParticipantView], lists: &Lists, end: i64) -> (i64, String, String) {
    if end <= 0 {
        return (0, String::new(), String::new());
    }
    let cols = STRIP_COLUMNS as i64;
    // Column length: end / columns rounded up (so at most STRIP_COLUMNS columns cover the recording).
    let col = (end / cols + i64::from(end % cols != 0)).max(1);
    let used = (end / col + i64::from(end % col != 0)) as usize;
    // Per column and speaker: time dominant, and of it time with a gap in their stem.
    let mut per_col: Vec<BTreeMap<Option<usize>, (i64, i64)>> =
        vec![BTreeMap::new(); STRIP_COLUMNS];
    for (from, to, who) in spans(&lists.dominant, end) {
        let idx = who.and_then(|w| ps.iter().position(|p| p.name == w));
        let gaps = who
            .and_then(|w| lists.gaps.get(w))
            .map_or(&[][..], Vec::as_slice);
        let mut t = from;
        while t < to {
            let c = (t / col) as usize;
            let c_end = (t / col).saturating_add(1).saturating_mul(col);
            let piece = (to.min(c_end) - t).max(1);
            if let Some(m) = per_col.get_mut(c) {
                let e = m.entry(idx).or_default();
                e.0 += piece;
                e.1 += covered(gaps, t, t + piece);
            }
            t += piece;
        }
    }
    let mut line = String::new();
    let mut marks = String::new();
    for m in per_col.iter().take(used) {
        let shown = m.iter().max_by_key(|(_, v)| v.0);
        line.push(match shown {
            None => ' ',
            Some((None, _)) => '.',
            Some((Some(i), _)) => ps.get(*i).map_or('?', |p| p.letter),
        });
        marks.push(match shown {
            Some((Some(_), &(dominant, gap))) if gap > 0 => {
                if gap.saturating_mul(20) >= dominant {
                    '!'
                } else {
                    '~'
                }
            }
            _ => ' ',
        });
    }
    (col, line, marks)
}

fn secs(us: i64) -> String {
    format!("{:.2} s", us as f64 / 1e6)
}

impl Inspection {
    /// The text `verbatim inspect` prints.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let status = self
            .status_history
            .last()
            .map_or("unknown", |s| s.1.as_str());
        let _ = writeln!(
            o,
            "recording {}  {}  status {}",
            self.recording_id.as_deref().unwrap_or("(unknown id)"),
            if self.closed { "closed" } else { "NOT CLOSED" },
            status
        );
        let _ = writeln!(
            o,
            "  started {}, duration {}, {} files, {} bytes",
            self.started_utc.as_deref().unwrap_or("unknown"),
            self.duration_us.map_or("unknown".into(), secs),
            self.files.len(),
            self.files.iter().map(|f| f.1).sum::<u64>()
        );
        if self.status_history.len() > 1 {
            let h: Vec<String> = self
                .status_history
                .iter()
                .map(|(at, s, note)| {
                    if note.is_empty() {
                        format!("{s} at {}", secs(*at))
                    } else {
                        format!("{s} at {} ({note})", secs(*at))
                    }
                })
                .collect();
            let _ = writeln!(o, "  history: {}", h.join(" → "));
        }
        let _ = writeln!(
            o,
            "participants ({}), gaps and speakers from {}:",
            self.participants.len(),
            self.lists_from.unwrap_or("nowhere")
        );
        let total = self.duration_us.unwrap_or(0).max(1);
        for p in &self.participants {
            let _ = writeln!(
                o,
                "  {} {:<14} joined {:>9}  left {:>9}  frames {:>7}  gaps {:>5} ({})  dominant {:>5.1} %",
                p.letter,
                p.name,
                p.joined_us.map_or("?".into(), secs),
                p.left_us.map_or("?".into(), secs),
                p.frames_written.map_or("?".into(), |f| f.to_string()),
                p.gaps,
                secs(p.gap_us),
                p.dominant_us as f64 * 100.0 / total as f64
            );
            let _ = writeln!(
                o,
                "      nothing sent {}  inferred lost {}  dropped here {}",
                secs(p.nothing_sent_us),
                secs(p.inferred_loss_us),
                secs(p.dropped_us)
            );
        }
        if !self.strip.is_empty() {
            let _ = writeln!(
                o,
                "speaker timeline ({} changes; one column = {}; '.' nobody, ' ' before the first change):\n  |{}|",
                self.dominant_changes,
                secs(self.strip_column_us),
                self.strip
            );
            if self.strip_marks.trim().is_empty() {
                let _ = writeln!(o, "   no gap in a shown speaker's stem while they spoke");
            } else {
                let _ = writeln!(
                    o,
                    "   {}  <- the shown speaker's stem has gaps while they spoke ('~' < 5 %, '!' >= 5 %)",
                    self.strip_marks
                );
            }
        }
        for p in &self.problems {
            let _ = writeln!(o, "note: {p}");
        }
        let _ = writeln!(
            o,
            "integrity is not checked here: `verbatim verify {}`",
            self.dir.display()
        );
        o
    }
}

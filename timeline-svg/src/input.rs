//! The picture's input: who was in the call when, their gaps by cause, the dominant speaker and the
//! recording's pauses, read tolerantly from a recording folder's `metadata.json`
//! ([`TimelineInput::from_metadata_json`]) or built by hand.
//!
//! Everything here is outside input: times may be negative, out of range, overlapping or unsorted. Nothing
//! in this module or in the rendering panics on such values; they are clamped to `[0, duration_us]` where
//! they are used ([`speech_spans`], [`crate::render_svg`]).

use serde_json::Value;

use crate::TimelineError;

/// Why a participant's audio is missing over a span (`metadata.json`'s `gaps[].kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GapCause {
    /// `nothing_sent`: the participant sent no audio. In Teams only the ~4 loudest speakers' audio is
    /// sent, so this is a pause in their speech, not a loss.
    NothingSent,
    /// `inferred_loss`: audio was sent but lost on the way to the recorder.
    InferredLoss,
    /// `dropped`: audio reached the recorder and was dropped there.
    Dropped,
    /// `unclassified` (or any kind this crate does not know).
    Unclassified,
}

impl GapCause {
    /// All causes, in the order the picture's legend lists them.
    pub const ALL: [GapCause; 4] = [
        GapCause::NothingSent,
        GapCause::InferredLoss,
        GapCause::Dropped,
        GapCause::Unclassified,
    ];

    /// The cause for a `metadata.json` kind; unknown kinds are [`GapCause::Unclassified`].
    ///
    /// # Examples
    /// ```
    /// use timeline_svg::GapCause;
    /// assert_eq!(GapCause::from_name("dropped"), GapCause::Dropped);
    /// assert_eq!(GapCause::from_name("inferred_loss"), GapCause::InferredLoss);
    /// assert_eq!(GapCause::from_name("something new"), GapCause::Unclassified);
    /// ```
    pub fn from_name(name: &str) -> GapCause {
        match name {
            "nothing_sent" => GapCause::NothingSent,
            "inferred_loss" => GapCause::InferredLoss,
            "dropped" => GapCause::Dropped,
            _ => GapCause::Unclassified,
        }
    }

    /// The `metadata.json` kind of this cause (also the suffix of the SVG class `gap-<name>`).
    ///
    /// # Examples
    /// ```
    /// use timeline_svg::GapCause;
    /// for c in GapCause::ALL {
    ///     assert_eq!(GapCause::from_name(c.name()), c);
    /// }
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            GapCause::NothingSent => "nothing_sent",
            GapCause::InferredLoss => "inferred_loss",
            GapCause::Dropped => "dropped",
            GapCause::Unclassified => "unclassified",
        }
    }
}

/// One gap in a participant's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapInput {
    /// Start, µs from the start of the recording.
    pub start_us: i64,
    /// Length in µs (≤ 0: ignored).
    pub length_us: i64,
    /// Why the audio is missing.
    pub cause: GapCause,
}

/// One participant: one row of the picture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowInput {
    /// The participant's name in the recording folder (its stem's file name).
    pub name: String,
    /// The label drawn on the row (the display name).
    pub label: String,
    /// When the participant joined, µs (`None`: from the start).
    pub joined_us: Option<i64>,
    /// When the participant left, µs (`None`: still there at the end).
    pub left_us: Option<i64>,
    /// The gaps in their audio, in any order.
    pub gaps: Vec<GapInput>,
    /// Stretches `(start_us, end_us)` in which their stem stayed below speech level ([`crate::quiet_spans`]
    /// of the stem's peaks), in any order: received audio there is drawn pale, not as speech. Empty when the
    /// stem was not read (`metadata.json` alone does not tell).
    pub quiet: Vec<(i64, i64)>,
}

/// Everything the speaker timeline draws.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineInput {
    /// The recording's length, µs (≤ 0: an empty picture).
    pub duration_us: i64,
    /// One row per participant, drawn in this order.
    pub participants: Vec<RowInput>,
    /// Dominant-speaker changes: `(at_us, row index)`; `None` = nobody. Each holds until the next one (in
    /// time order) or the end. An index past the rows is drawn in its palette colour all the same.
    pub dominant: Vec<(i64, Option<usize>)>,
    /// Spans `(start_us, end_us)` in which recording was paused (media written as silence).
    pub pauses: Vec<(i64, i64)>,
}

/// A JSON number as i64: integers as they are, larger ones saturated, fractions truncated.
fn num(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if v.as_u64().is_some() {
        return Some(i64::MAX);
    }
    // `as` saturates (and maps NaN to 0); serde_json has no NaN anyway.
    v.as_f64().map(|f| f as i64)
}

fn text(v: &Value) -> Option<&str> {
    v.as_str()
}

fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

impl TimelineInput {
    /// Reads the picture's input from a recording folder's `metadata.json`.
    ///
    /// Read: `recording.duration_us` (required), `participants[]` (`name`, `display_name` — else the name
    /// —, `joined_us`, `left_us`, `gaps[]` of `{start_us, length_us, kind}`), `dominant_speakers[]` of
    /// `{at_us, participant}` (a participant name, or null for nobody; a name not among the participants
    /// counts as nobody) and `call.pauses[]` of `{start_us, end_us}` (an open pause — no `end_us` — lasts
    /// to the end). Anything else is ignored; a missing optional field or an entry of the wrong shape
    /// (a gap without a start, a participant that is not an object) is skipped, never an error. Values are
    /// kept as they are (negative, unsorted…): the rendering clamps them.
    ///
    /// # Examples
    /// ```
    /// use timeline_svg::{GapCause, TimelineInput};
    /// let md = br#"{"recording":{"duration_us":10000000},
    ///   "participants":[{"name":"alice","display_name":"Alice","joined_us":0,"left_us":null,
    ///     "gaps":[{"start_us":2000000,"length_us":500000,"kind":"dropped"}]}],
    ///   "dominant_speakers":[{"at_us":1000000,"participant":"alice"},{"at_us":3000000,"participant":null}],
    ///   "call":{"pauses":[{"start_us":5000000,"end_us":6000000}]}}"#;
    /// let t = TimelineInput::from_metadata_json(md)?;
    /// assert_eq!(t.duration_us, 10_000_000);
    /// assert_eq!(t.participants[0].label, "Alice");
    /// assert_eq!(t.participants[0].left_us, None);
    /// assert_eq!(t.participants[0].gaps[0].cause, GapCause::Dropped);
    /// assert_eq!(t.dominant, vec![(1_000_000, Some(0)), (3_000_000, None)]);
    /// assert_eq!(t.pauses, vec![(5_000_000, 6_000_000)]);
    /// # Ok::<(), timeline_svg::TimelineError>(())
    /// ```
    ///
    /// # Errors
    /// [`TimelineError::NotJson`] when the bytes are not JSON, [`TimelineError::NoDuration`] when they are
    /// but hold no numeric `recording.duration_us`.
    pub fn from_metadata_json(bytes: &[u8]) -> Result<TimelineInput, TimelineError> {
        let md: Value = serde_json::from_slice(bytes).map_err(TimelineError::NotJson)?;
        let duration_us = num(&md["recording"]["duration_us"]).ok_or(TimelineError::NoDuration)?;
        let participants: Vec<RowInput> = array(&md["participants"])
            .iter()
            .filter(|p| p.is_object())
            .map(row_from_json)
            .collect();
        let dominant = array(&md["dominant_speakers"])
            .iter()
            .filter_map(|d| {
                let at = num(&d["at_us"])?;
                let row = text(&d["participant"])
                    .and_then(|name| participants.iter().position(|p| p.name == name));
                Some((at, row))
            })
            .collect();
        let pauses = array(&md["call"]["pauses"])
            .iter()
            .filter_map(|p| {
                let start = num(&p["start_us"])?;
                Some((start, num(&p["end_us"]).unwrap_or(duration_us)))
            })
            .collect();
        Ok(TimelineInput {
            duration_us,
            participants,
            dominant,
            pauses,
        })
    }
}

fn row_from_json(p: &Value) -> RowInput {
    let name = text(&p["name"]).unwrap_or_default().to_string();
    let label = text(&p["display_name"])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| name.clone());
    let gaps = array(&p["gaps"])
        .iter()
        .filter_map(|g| {
            Some(GapInput {
                start_us: num(&g["start_us"])?,
                length_us: num(&g["length_us"])?,
                cause: GapCause::from_name(text(&g["kind"]).unwrap_or_default()),
            })
        })
        .collect();
    RowInput {
        name,
        label,
        joined_us: num(&p["joined_us"]),
        left_us: num(&p["left_us"]),
        gaps,
        quiet: Vec::new(),
    }
}

/// A span `[start, end)` clamped to `[0, duration]`; `None` when nothing of it is left.
pub(crate) fn clamp_span(start: i64, end: i64, duration_us: i64) -> Option<(i64, i64)> {
    let d = duration_us.max(0);
    let (s, e) = (start.clamp(0, d), end.clamp(0, d));
    (e > s).then_some((s, e))
}

/// The span a participant was in the call, clamped to the recording: `joined..left`, a missing join
/// meaning the start and a missing leave the end. `None` when nothing of it is left (left before joining,
/// joined after the end…).
pub(crate) fn presence(row: &RowInput, duration_us: i64) -> Option<(i64, i64)> {
    let d = duration_us.max(0);
    clamp_span(row.joined_us.unwrap_or(0), row.left_us.unwrap_or(d), d)
}

/// A gap's span clamped to the recording (`None` for a non-positive length or nothing left).
pub(crate) fn gap_span(g: &GapInput, duration_us: i64) -> Option<(i64, i64)> {
    if g.length_us <= 0 {
        return None;
    }
    clamp_span(
        g.start_us,
        g.start_us.saturating_add(g.length_us),
        duration_us,
    )
}

/// The spans in which a participant **spoke**, as far as the recording can tell: they were present
/// (`joined_us..left_us`, `None` = the start / the end) and their audio is not in any gap. Since Teams
/// sends only the ~4 loudest speakers' audio, a span with audio is (roughly) a span of speech and a
/// `nothing_sent` gap is a pause. Lost (`inferred_loss`) and `dropped` audio is not counted as speech —
/// the recording does not hold it; the picture draws it as a gap of its cause.
///
/// The result is sorted, disjoint, non-empty spans `(start_us, end_us)` within `[0, duration_us]`,
/// whatever the input (negative, overlapping or unsorted gaps are clamped and merged).
///
/// # Examples
/// ```
/// use timeline_svg::{speech_spans, GapCause, GapInput, RowInput};
/// let row = RowInput {
///     name: "alice".into(),
///     label: "Alice".into(),
///     joined_us: Some(1_000),
///     left_us: None,
///     gaps: vec![
///         GapInput { start_us: 4_000, length_us: 2_000, cause: GapCause::NothingSent },
///         GapInput { start_us: 5_000, length_us: 2_000, cause: GapCause::Dropped }, // overlaps
///         GapInput { start_us: -50, length_us: 10, cause: GapCause::Unclassified }, // before the start
///     ],
///     quiet: vec![],
/// };
/// assert_eq!(speech_spans(&row, 10_000), vec![(1_000, 4_000), (7_000, 10_000)]);
/// ```
pub fn speech_spans(row: &RowInput, duration_us: i64) -> Vec<(i64, i64)> {
    let Some((start, end)) = presence(row, duration_us) else {
        return Vec::new();
    };
    let mut gaps: Vec<(i64, i64)> = row
        .gaps
        .iter()
        .filter_map(|g| gap_span(g, duration_us))
        .collect();
    gaps.sort_unstable();
    crate::spans::subtract(&[(start, end)], &gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_and_fractional_numbers_saturate() {
        let md =
            br#"{"recording":{"duration_us":1e30},"participants":[{"name":"a","joined_us":-5.5,
            "left_us":18446744073709551615,"gaps":[{"start_us":1,"length_us":2}]}]}"#;
        let t = TimelineInput::from_metadata_json(md).unwrap();
        assert_eq!(t.duration_us, i64::MAX);
        assert_eq!(t.participants[0].joined_us, Some(-5));
        assert_eq!(t.participants[0].left_us, Some(i64::MAX));
        assert_eq!(t.participants[0].gaps[0].cause, GapCause::Unclassified);
        assert_eq!(t.participants[0].label, "a");
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            TimelineInput::from_metadata_json(b"not json"),
            Err(TimelineError::NotJson(_))
        ));
        assert!(matches!(
            TimelineInput::from_metadata_json(br#"{"recording":{}}"#),
            Err(TimelineError::NoDuration)
        ));
        assert!(matches!(
            TimelineInput::from_metadata_json(b"[1,2]"),
            Err(TimelineError::NoDuration)
        ));
    }

    #[test]
    fn open_pause_lasts_to_the_end_and_unknown_speaker_is_nobody() {
        let md = br#"{"recording":{"duration_us":100},"participants":[{"name":"a"}, 7],
            "dominant_speakers":[{"at_us":5,"participant":"zed"},{"participant":"a"}],
            "call":{"pauses":[{"start_us":40}]}}"#;
        let t = TimelineInput::from_metadata_json(md).unwrap();
        assert_eq!(t.participants.len(), 1);
        assert_eq!(t.dominant, vec![(5, None)]);
        assert_eq!(t.pauses, vec![(40, 100)]);
    }

    #[test]
    fn speech_spans_of_a_participant_who_left_before_joining_is_empty() {
        let row = RowInput {
            joined_us: Some(50),
            left_us: Some(10),
            ..RowInput::default()
        };
        assert!(speech_spans(&row, 100).is_empty());
        let row = RowInput {
            joined_us: None,
            left_us: None,
            gaps: vec![GapInput {
                start_us: i64::MAX,
                length_us: i64::MAX,
                cause: GapCause::Dropped,
            }],
            ..RowInput::default()
        };
        assert_eq!(speech_spans(&row, 100), vec![(0, 100)]);
        assert!(speech_spans(&row, -100).is_empty());
    }
}

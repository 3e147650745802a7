//! One line of `timeline.jsonl` ([`TimelineLine`]) and its one reader ([`read_timeline_lines`]): the folder
//! sink writes these lines as the call goes, `metadata.json` and `verbatim inspect` read them back.

use std::borrow::Cow;
use std::io::BufRead;

use media_core::ledger::GapKind;
use serde::{Deserialize, Serialize};

/// One line of `timeline.jsonl`: times in microseconds of recording time (as in `metadata.json`),
/// participants by stem name and video streams by file.
///
/// ```text
/// {"event":"audio_gap","participant":"alice","start_us":400000,"length_us":40000,"kind":"inferred_loss"}
/// {"event":"audio_gap","participant":"alice","start_us":440000,"length_us":20000,"kind":"dropped","cause":"late"}
/// {"event":"video_gap","file":"participants/erin.mp4","start_us":1300000,"length_us":660000,"kind":"dropped","cause":"undecodable"}
/// {"event":"dominant_speaker","at_us":2000000,"participant":"bob"}
/// {"event":"joined","participant":"alice","at_us":0}
/// {"event":"left","participant":"alice","at_us":61000000}
/// {"event":"paused","at_us":5000000,"requested_utc":"2026-12-02T21:00:05.020Z","requested_by":"agent","reason":"card number"}
/// {"event":"resumed","at_us":9000000,"resumed_utc":"2026-12-02T21:00:09.020Z","resumed_by":"agent","reason":"done"}
/// {"event":"counters","at_us":1000000,"full":{"format_version":1,"recording":{"ticks":50,…},…}}
/// {"event":"counters","at_us":2000000,"diff":{"recording":{"ticks":100,…},…}}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TimelineLine<'a> {
    /// A participant had no media.
    AudioGap {
        /// Stem name.
        participant: Cow<'a, str>,
        /// Start.
        start_us: i64,
        /// Length.
        length_us: i64,
        /// What the gap is (the loss ledger): `nothing_sent`, `inferred_loss`, `dropped` (absent in
        /// recordings made before gaps were classified: read as `unclassified`).
        #[serde(default = "unclassified")]
        kind: Cow<'a, str>,
        /// Why a `dropped` gap's media was not written (`late`, `outlier_stamp`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<Cow<'a, str>>,
    },
    /// A video stream was not decodable.
    VideoGap {
        /// The stream's file, relative to the folder.
        file: Cow<'a, str>,
        /// Start.
        start_us: i64,
        /// Length.
        length_us: i64,
        /// What the gap is (the loss ledger): `nothing_sent`, `inferred_loss`, `dropped` (absent in
        /// recordings made before gaps were classified: read as `unclassified`).
        #[serde(default = "unclassified")]
        kind: Cow<'a, str>,
        /// Why a `dropped` gap's media was not written (`late`, `outlier_stamp`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<Cow<'a, str>>,
    },
    /// The dominant speaker changed.
    DominantSpeaker {
        /// When.
        at_us: i64,
        /// Stem name, `null` = nobody.
        participant: Option<Cow<'a, str>>,
    },
    /// A participant joined (again, after a leave).
    Joined {
        /// Stem name.
        participant: Cow<'a, str>,
        /// When.
        at_us: i64,
    },
    /// A participant left (everyone still there at the end of the call leaves then).
    Left {
        /// Stem name.
        participant: Cow<'a, str>,
        /// When.
        at_us: i64,
    },
    /// Recording paused (written as silence from `at_us`); the status history says `paused` at the same
    /// moment. Fields as in `metadata.json`'s `call.pauses`.
    Paused {
        /// When, recording time.
        at_us: i64,
        /// When the request reached the recorder (UTC).
        requested_utc: Cow<'a, str>,
        /// Who asked.
        requested_by: Cow<'a, str>,
        /// Why.
        reason: Cow<'a, str>,
    },
    /// A supervisor started listening in to the live call (the console's `listen --console`).
    ListenIn {
        /// When, recording time.
        at_us: i64,
        /// Who listens.
        by: Cow<'a, str>,
        /// Why.
        reason: Cow<'a, str>,
        /// When (UTC).
        utc: Cow<'a, str>,
        /// A participant's stem, or `mix`.
        listened_to: Cow<'a, str>,
    },
    /// That listen-in ended.
    ListenInEnded {
        /// When, recording time.
        at_us: i64,
        /// Who listened.
        by: Cow<'a, str>,
        /// When (UTC).
        utc: Cow<'a, str>,
        /// How long, ms.
        length_ms: i64,
    },
    /// Recording resumed; the status history says `recording` again.
    Resumed {
        /// When, recording time.
        at_us: i64,
        /// When the request reached the recorder (UTC).
        resumed_utc: Cow<'a, str>,
        /// Who asked.
        resumed_by: Cow<'a, str>,
        /// Why.
        reason: Cow<'a, str>,
    },
    /// The recorder's counters at `at_us`: `metadata.json` as it would have been written then, without the
    /// lists this file holds — whole (`full`) in the first such line, then as a [`crate::journal::diff`]
    /// against the previous one (`diff`). `verbatim recover` rebuilds `metadata.json` from them.
    Counters {
        /// Recording time the counters are of.
        at_us: i64,
        /// The whole state.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        full: Option<serde_json::Value>,
        /// The changes since the previous `counters` line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diff: Option<serde_json::Value>,
    },
}

fn unclassified() -> Cow<'static, str> {
    Cow::Borrowed(GapKind::Unclassified.name())
}

/// Reads `timeline.jsonl` line by line, handing each readable line to `f`; blank lines are skipped, and
/// returns how many lines could not be read as a [`TimelineLine`] (the one reader of the file, for the
/// folder sink at close and for `verbatim inspect`).
///
/// # Errors
/// Reading `r` failed.
pub fn read_timeline_lines(
    mut r: impl BufRead,
    mut f: impl FnMut(TimelineLine<'_>),
) -> std::io::Result<u64> {
    let mut unreadable = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(unreadable);
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<TimelineLine>(&buf) {
            Ok(line) => f(line),
            Err(_) => unreadable += 1,
        }
    }
}

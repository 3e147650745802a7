//! The loss ledger: every span of a stream without media says why.
//!
//! A recorder records what was sent, and says exactly what it did not record. Every [`Gap`] in a participant's
//! stem (or a video stream) carries a [`GapKind`]:
//!
//! * [`GapKind::NothingSent`]: the sender was silent (Teams sends nothing while a participant does not speak,
//!   and nothing for a participant who is not among the four loudest of a 20 ms slot), or the span lies
//!   between two talk spurts. Nothing is missing.
//! * [`GapKind::InferredLoss`]: a break in the sender's timestamps inside a talk spurt — media that was sent
//!   and never arrived (lost between the sender and the bot).
//! * [`GapKind::Dropped`]: media that reached the recorder and was not written, with its [`DropCause`].
//!
//! A `Dropped` gap for a frame that arrived after its place was written ([`DropCause::Late`]) may lie inside
//! a gap handed over earlier (then classified from what was known at the time): it refines that gap.
//!
//! ```
//! use media_core::ledger::{DropCause, Gap, GapKind};
//! use media_core::MediaTime;
//!
//! let g = Gap::new(MediaTime::from_millis(400), MediaTime::from_millis(40), GapKind::Dropped(DropCause::Late));
//! assert_eq!(g.end(), MediaTime::from_millis(440));
//! assert_eq!(g.kind.name(), "dropped");
//! assert_eq!(g.kind.cause(), Some("late"));
//! assert_eq!(GapKind::parse("dropped", Some("late")), Some(g.kind));
//! assert!(g.kind.is_dropped());
//! ```

use crate::time::MediaTime;

/// Why media that reached the recorder was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropCause {
    /// It arrived after its place in the recording had been written.
    Late,
    /// Its timestamp was far from the stream's clock (refused, see [`crate::timeline`]).
    OutlierStamp,
    /// It did not fit the placement buffer (a timestamp far ahead of the call's time).
    Overrun,
    /// It was not in the recording's format and could not be converted.
    WrongFormat,
    /// The recorder's input queue was full.
    QueueOverflow,
    /// Recording was paused (compliance pause, e.g. while card details are given).
    Paused,
    /// A configured limit refused it (participants or streams per call).
    Limit,
    /// Video that cannot be decoded in place: after a lost reference frame, until the next key frame.
    Undecodable,
}

impl DropCause {
    const ALL: [DropCause; 8] = [
        DropCause::Late,
        DropCause::OutlierStamp,
        DropCause::Overrun,
        DropCause::WrongFormat,
        DropCause::QueueOverflow,
        DropCause::Paused,
        DropCause::Limit,
        DropCause::Undecodable,
    ];

    /// The cause's name in `metadata.json` and `timeline.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            DropCause::Late => "late",
            DropCause::OutlierStamp => "outlier_stamp",
            DropCause::Overrun => "overrun",
            DropCause::WrongFormat => "wrong_format",
            DropCause::QueueOverflow => "queue_overflow",
            DropCause::Paused => "paused",
            DropCause::Limit => "limit",
            DropCause::Undecodable => "undecodable",
        }
    }

    /// The cause named `name` ([`Self::name`]).
    pub fn parse(name: &str) -> Option<DropCause> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What a gap is (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GapKind {
    /// The sender sent nothing (silence, not among the four loudest, between talk spurts).
    NothingSent,
    /// A break in the sender's timestamps inside a talk spurt: sent, never arrived.
    InferredLoss,
    /// Received and not written.
    Dropped(DropCause),
    /// Read from a recording made before gaps were classified.
    Unclassified,
}

impl GapKind {
    /// `nothing_sent`, `inferred_loss`, `dropped` or `unclassified`.
    pub fn name(self) -> &'static str {
        match self {
            GapKind::NothingSent => "nothing_sent",
            GapKind::InferredLoss => "inferred_loss",
            GapKind::Dropped(_) => "dropped",
            GapKind::Unclassified => "unclassified",
        }
    }

    /// The cause of a `dropped` gap.
    pub fn cause(self) -> Option<&'static str> {
        match self {
            GapKind::Dropped(c) => Some(c.name()),
            _ => None,
        }
    }

    /// The kind named by [`Self::name`] and [`Self::cause`]; `None` for names it does not know.
    pub fn parse(name: &str, cause: Option<&str>) -> Option<GapKind> {
        Some(match (name, cause) {
            ("nothing_sent", None) => GapKind::NothingSent,
            ("inferred_loss", None) => GapKind::InferredLoss,
            ("dropped", Some(c)) => GapKind::Dropped(DropCause::parse(c)?),
            ("unclassified", None) => GapKind::Unclassified,
            _ => return None,
        })
    }

    /// True for media received and not written.
    pub fn is_dropped(self) -> bool {
        matches!(self, GapKind::Dropped(_))
    }
}

/// A span of recording time where a stream had no media although its sender was present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Recording time the gap starts.
    pub start: MediaTime,
    /// How long it lasts.
    pub length: MediaTime,
    /// Why there is no media.
    pub kind: GapKind,
    /// For a break between two frames: how loud the quieter of them was (mean absolute sample value), 0 when
    /// not measured. A loud speaker's break while the platform delivered only quieter others is a loss, not
    /// the platform's four-loudest rule.
    pub level: u16,
}

impl Gap {
    /// A gap of `kind` from `start` for `length` (level not measured).
    pub fn new(start: MediaTime, length: MediaTime, kind: GapKind) -> Self {
        Gap {
            start,
            length,
            kind,
            level: 0,
        }
    }

    /// Recording time the gap ends (exclusive).
    pub fn end(&self) -> MediaTime {
        self.start.saturating_add(self.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_names() {
        let mut kinds = vec![
            GapKind::NothingSent,
            GapKind::InferredLoss,
            GapKind::Unclassified,
        ];
        kinds.extend(DropCause::ALL.into_iter().map(GapKind::Dropped));
        for k in kinds {
            assert_eq!(GapKind::parse(k.name(), k.cause()), Some(k), "{k:?}");
        }
        assert_eq!(GapKind::parse("dropped", None), None);
        assert_eq!(GapKind::parse("dropped", Some("sneezed")), None);
        assert_eq!(GapKind::parse("lost", None), None);
    }
}

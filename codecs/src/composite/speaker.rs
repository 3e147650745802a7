//! Who is on the stage of the speaker layouts: the dominant speaker, debounced by a hold time.
//!
//! The rule: a new dominant speaker takes the stage only after staying dominant, without interruption, for
//! the hold time (default 2 s). A shorter turn (a cough, a "yes", a 0.5 s blip) never moves the stage. A
//! report of "nobody dominant" (Teams' `0xFFFFFFFF`) keeps the current stage and cancels a pending change.
//! The very first dominant speaker takes the empty stage at once (there is nothing to flap from); before
//! anyone has been dominant the stage shows participant 0.
//!
//! Time is explicit: changes are applied by [`StageSelector::advance`] at the time the caller gives, so a
//! test steps a virtual clock and a 24 h call replays in milliseconds.

use media_core::MediaTime;

/// Debounces dominant-speaker reports into the participant shown on the stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageSelector {
    hold: MediaTime,
    shown: Option<usize>,
    /// A dominant speaker waiting to take the stage, and since when it has been dominant.
    pending: Option<(usize, MediaTime)>,
}

impl StageSelector {
    /// A selector with this hold time (negative values act as zero).
    pub fn new(hold: MediaTime) -> StageSelector {
        StageSelector {
            hold,
            shown: None,
            pending: None,
        }
    }

    /// The hold time.
    pub fn hold(&self) -> MediaTime {
        self.hold
    }

    /// The participant on the stage, if anyone has been chosen yet.
    pub fn shown(&self) -> Option<usize> {
        self.shown
    }

    /// Records that `dominant` (a participant index, or `None` for nobody) became the dominant speaker at
    /// `at`, then applies any change due by `at`. Returns true when the shown participant changed.
    pub fn report(&mut self, dominant: Option<usize>, at: MediaTime) -> bool {
        match dominant {
            None => self.pending = None,
            Some(i) if self.shown.is_none() => {
                self.shown = Some(i);
                self.pending = None;
                return true;
            }
            Some(i) if self.shown == Some(i) => self.pending = None,
            Some(i) => match self.pending {
                Some((p, _)) if p == i => {}
                _ => self.pending = Some((i, at)),
            },
        }
        self.advance(at)
    }

    /// Applies a pending change once its speaker has been dominant for the hold time at `at`. Returns true
    /// when the shown participant changed.
    pub fn advance(&mut self, at: MediaTime) -> bool {
        match self.pending {
            Some((i, since)) if at.saturating_sub(since) >= self.hold => {
                self.pending = None;
                let changed = self.shown != Some(i);
                self.shown = Some(i);
                changed
            }
            _ => false,
        }
    }

    /// Renumbers participants after the roster changed: `map(old) -> Some(new)`, or `None` when that
    /// participant left (the stage then falls back to participant 0 until the next dominant speaker, who
    /// takes it at once).
    pub fn remap(&mut self, map: impl Fn(usize) -> Option<usize>) {
        self.shown = self.shown.and_then(&map);
        self.pending = self
            .pending
            .and_then(|(i, since)| map(i).map(|n| (n, since)));
    }
}

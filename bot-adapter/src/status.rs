//! The recording-status state machine: Graph's rule, in one place. Sans-IO.
//!
//! Microsoft requires a compliance recorder to have a success answer to `updateRecordingStatus(recording)`
//! BEFORE it persists any media, and to stop recording BEFORE it reports that recording ended. This machine
//! decides, for every item the bot sends, whether it may be written now, must be held, or must not be written:
//!
//! ```text
//!                CallStart              confirm(success)
//!  AwaitingStart ─────────► AwaitingConfirmation ─────────────► Recording ◄──┐ pause / resume:
//!                           (media held in the pre-roll:          │   │      │ media withheld while
//!                            newest `preroll` span,               │   └──────┘ paused (silence)
//!                            at most `max_preroll_bytes`)         │
//!                                 │ fail / timeout / end          │ end
//!                                 ▼ (pre-roll discarded)          ▼
//!                           NotRecorded ──────── end ───────►   Ended   (the driver finalizes and syncs the
//!                                                                        files, THEN tells the bot
//!                                                                        `notRecording`)
//! ```
//!
//! * The driver creates nothing on disk before [`RecordingState::confirm`] returns the pre-roll; items come
//!   back in the order they were offered.
//! * The pre-roll is a rolling window: media older than `preroll` before the newest reference timestamp is
//!   trimmed (counted); control items (roster, dominant speaker) are never trimmed — they come back first,
//!   flagged [`Release::stale`] (the driver passes them without their old timestamp). Media that would take
//!   the pre-roll beyond `max_preroll_bytes` is refused (counted) — the bot must confirm sooner.
//! * While paused, media is [`Offer::Withhold`]: the driver forwards only its timing (audio as an empty
//!   20 ms tick, so the recorder writes silence; video not at all). Spans, who asked and why, are kept in
//!   [`RecordingState::pauses`].
//! * Time: `now` is the driver's monotonic clock (confirmation deadline); media time is the platform's
//!   reference timestamps carried by the items. The machine never reads a clock.

use std::collections::VecDeque;

use media_core::{MediaTime, SourceTimestamp};

/// Why a call is not recorded when Graph refused `updateRecordingStatus(recording)`; `error` is Graph's own
/// reason (may be empty).
///
/// ```
/// assert_eq!(bot_adapter::status::graph_refusal("403"), "Graph refused the `recording` status: 403");
/// ```
pub fn graph_refusal(error: &str) -> String {
    if error.is_empty() {
        "Graph refused the `recording` status".to_string()
    } else {
        format!("Graph refused the `recording` status: {error}")
    }
}

/// Where a call is in the recording-status handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No `CallStart` yet.
    AwaitingStart,
    /// The bot was asked to report `recording`; media is held in the pre-roll.
    AwaitingConfirmation,
    /// Graph accepted `recording`: media is written (or withheld while paused).
    Recording,
    /// Confirmation failed, timed out, or the call ended first: nothing is written.
    NotRecorded,
    /// The call ended.
    Ended,
}

impl Phase {
    /// A short lower-case name (`awaiting_confirmation`, …) for logs and `CallState`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::AwaitingStart => "awaiting_start",
            Phase::AwaitingConfirmation => "awaiting_confirmation",
            Phase::Recording => "recording",
            Phase::NotRecorded => "not_recorded",
            Phase::Ended => "ended",
        }
    }
}

/// What an offered item is, for the pre-roll's bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// Audio or video: trimmed from the pre-roll window, withheld while paused; `bytes` of payload.
    Media {
        /// Payload bytes (counted against `max_preroll_bytes`).
        bytes: usize,
    },
    /// Roster or dominant-speaker change: always kept, never withheld.
    Control,
}

/// The decision for one offered item.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer<T> {
    /// Write it now.
    Forward(T),
    /// Paused: forward its timing only (the recorder writes silence / keeps the last picture).
    Withhold(T),
    /// Kept in the pre-roll until confirmation.
    Held,
    /// Not written (counted).
    Refused(T, Refusal),
}

/// Why an item is not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Media before `CallStart`.
    #[error("no call_start yet")]
    NotStarted,
    /// The pre-roll holds `max_preroll_bytes` already.
    #[error("pre-roll full: confirm the recording status sooner")]
    PrerollFull,
    /// Recording was not confirmed: nothing of this call is written.
    #[error("the call is not being recorded")]
    NotRecording,
    /// After the call end.
    #[error("the call has ended")]
    Ended,
}

/// A handshake step that does not fit the current phase (the step is ignored; the call goes on).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// `confirm` or `fail` when no confirmation was pending.
    #[error("no recording-status confirmation pending (phase {0})")]
    NotPending(&'static str),
    /// `pause` while paused.
    #[error("already paused")]
    AlreadyPaused,
    /// `resume` while not paused.
    #[error("not paused")]
    NotPaused,
    /// A step after the call ended.
    #[error("the call has ended")]
    Ended,
}

/// An item handed back by [`RecordingState::confirm`].
#[derive(Debug, PartialEq, Eq)]
pub struct Release<T> {
    /// The item.
    pub item: T,
    /// It was offered while paused: forward its timing only.
    pub paused: bool,
    /// A control item whose media was trimmed from the window: forward it without its old timestamp.
    pub stale: bool,
}

/// Configuration of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusConfig {
    /// Pre-roll window (newest span of media kept before confirmation).
    pub preroll: MediaTime,
    /// Most payload bytes held.
    pub max_preroll_bytes: usize,
    /// How long to wait for the confirmation.
    pub confirm_timeout: MediaTime,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            preroll: MediaTime::from_secs(5),
            max_preroll_bytes: 16 << 20,
            confirm_timeout: MediaTime::from_secs(10),
        }
    }
}

/// Counters of the handshake, for metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounters {
    /// Media items held in the pre-roll (in total).
    pub preroll_held: u64,
    /// Media items trimmed from the pre-roll window (older than `preroll`).
    pub preroll_trimmed: u64,
    /// Media items refused because the pre-roll was full.
    pub preroll_refused: u64,
    /// Items discarded with the pre-roll because recording was not confirmed.
    pub preroll_discarded: u64,
    /// Media items withheld while paused.
    pub withheld_paused: u64,
    /// Items refused because the call is not recorded (after a failed confirmation).
    pub not_recording: u64,
    /// Items offered before `CallStart` or after the end.
    pub out_of_call: u64,
}

/// A pause, in platform reference time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseRecord {
    /// Reference timestamp of the pause.
    pub start: SourceTimestamp,
    /// Reference timestamp of the resume (or of the end of the call).
    pub end: Option<SourceTimestamp>,
    /// Who asked to pause.
    pub requested_by: String,
    /// Why.
    pub reason: String,
    /// Who asked to resume (`None` when the call ended while paused).
    pub resumed_by: Option<String>,
    /// Why it resumed.
    pub resume_reason: Option<String>,
}

struct Held<T> {
    item: T,
    reference: SourceTimestamp,
    bytes: usize,
    media: bool,
    paused: bool,
}

/// The recording-status state machine of one call (see the module docs).
pub struct RecordingState<T> {
    cfg: StatusConfig,
    phase: Phase,
    held: VecDeque<Held<T>>,
    stale_control: Vec<T>,
    held_bytes: usize,
    deadline: Option<MediaTime>,
    latest: SourceTimestamp,
    paused: bool,
    pauses: Vec<PauseRecord>,
    failure: Option<String>,
    counters: StatusCounters,
}

impl<T> RecordingState<T> {
    /// A machine waiting for `CallStart`.
    pub fn new(cfg: StatusConfig) -> Self {
        RecordingState {
            cfg,
            phase: Phase::AwaitingStart,
            held: VecDeque::new(),
            stale_control: Vec::new(),
            held_bytes: 0,
            deadline: None,
            latest: SourceTimestamp::UNKNOWN,
            paused: false,
            pauses: Vec::new(),
            failure: None,
            counters: StatusCounters::default(),
        }
    }

    /// The call started at `now`: the bot must now report `recording` to Graph and confirm by
    /// `now + confirm_timeout`.
    ///
    /// # Errors
    /// [`StatusError::NotPending`] when the call had already started.
    pub fn start(&mut self, now: MediaTime) -> Result<(), StatusError> {
        if self.phase != Phase::AwaitingStart {
            return Err(StatusError::NotPending(self.phase.name()));
        }
        self.phase = Phase::AwaitingConfirmation;
        self.deadline = Some(now.saturating_add(self.cfg.confirm_timeout));
        Ok(())
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }
    /// Every pause so far.
    pub fn pauses(&self) -> &[PauseRecord] {
        &self.pauses
    }
    /// Why the call is not recorded, when it is not.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
    /// The counters.
    pub fn counters(&self) -> StatusCounters {
        self.counters
    }
    /// The newest reference timestamp seen (unknown before the first).
    pub fn latest_reference(&self) -> SourceTimestamp {
        self.latest
    }
    /// Media payload bytes held in the pre-roll now.
    pub fn preroll_bytes(&self) -> usize {
        self.held_bytes
    }

    /// When the driver must call [`RecordingState::handle_timeout`] (the confirmation deadline), if ever.
    pub fn poll_timeout(&self) -> Option<MediaTime> {
        match self.phase {
            Phase::AwaitingConfirmation => self.deadline,
            _ => None,
        }
    }

    /// Fails the confirmation when its deadline has passed. Returns true when it did.
    pub fn handle_timeout(&mut self, now: MediaTime) -> bool {
        match self.poll_timeout() {
            Some(d) if now >= d => {
                let secs = self.cfg.confirm_timeout.as_secs_f64();
                self.discard(format!(
                    "no recording-status confirmation within {secs:.1} s"
                ));
                true
            }
            _ => false,
        }
    }

    fn note_reference(&mut self, r: SourceTimestamp) {
        if !r.is_unknown() && r > self.latest {
            self.latest = r;
        }
    }

    fn resolve(&self, r: SourceTimestamp) -> SourceTimestamp {
        if r.is_unknown() {
            self.latest
        } else {
            r
        }
    }

    /// Offers one item the bot sent; `reference` is its platform timestamp (unknown = none).
    pub fn offer(&mut self, item: T, reference: SourceTimestamp, kind: ItemKind) -> Offer<T> {
        self.note_reference(reference);
        let media = matches!(kind, ItemKind::Media { .. });
        match self.phase {
            Phase::AwaitingStart | Phase::Ended => {
                self.counters.out_of_call += 1;
                let why = if self.phase == Phase::Ended {
                    Refusal::Ended
                } else {
                    Refusal::NotStarted
                };
                Offer::Refused(item, why)
            }
            Phase::NotRecorded => {
                self.counters.not_recording += 1;
                Offer::Refused(item, Refusal::NotRecording)
            }
            Phase::Recording if media && self.paused => {
                self.counters.withheld_paused += 1;
                Offer::Withhold(item)
            }
            Phase::Recording => Offer::Forward(item),
            Phase::AwaitingConfirmation => {
                self.trim_window();
                let bytes = match kind {
                    ItemKind::Media { bytes } => bytes,
                    ItemKind::Control => 0,
                };
                if media && self.held_bytes.saturating_add(bytes) > self.cfg.max_preroll_bytes {
                    self.counters.preroll_refused += 1;
                    return Offer::Refused(item, Refusal::PrerollFull);
                }
                if media {
                    self.counters.preroll_held += 1;
                    if self.paused {
                        self.counters.withheld_paused += 1;
                    }
                }
                self.held_bytes += bytes;
                self.held.push_back(Held {
                    item,
                    reference,
                    bytes,
                    media,
                    paused: self.paused && media,
                });
                Offer::Held
            }
        }
    }

    /// Drops media older than the window before the newest timestamp (control items move aside, in order).
    fn trim_window(&mut self) {
        if self.latest.is_unknown() {
            return;
        }
        while let Some(front) = self.held.front() {
            let r = self.resolve(front.reference);
            if r.is_unknown() || self.latest.since(r) <= self.cfg.preroll {
                break;
            }
            let Some(h) = self.held.pop_front() else {
                break;
            };
            self.held_bytes -= h.bytes;
            if h.media {
                self.counters.preroll_trimmed += 1;
            } else {
                self.stale_control.push(h.item);
            }
        }
    }

    /// Graph accepted `recording`: returns the pre-roll, oldest first, and records from now on.
    ///
    /// # Errors
    /// [`StatusError::NotPending`] when no confirmation was pending (already confirmed, failed, timed out).
    pub fn confirm(&mut self) -> Result<Vec<Release<T>>, StatusError> {
        if self.phase != Phase::AwaitingConfirmation {
            return Err(StatusError::NotPending(self.phase.name()));
        }
        self.trim_window();
        self.phase = Phase::Recording;
        self.deadline = None;
        self.held_bytes = 0;
        let mut out: Vec<Release<T>> = self
            .stale_control
            .drain(..)
            .map(|item| Release {
                item,
                paused: false,
                stale: true,
            })
            .collect();
        out.extend(self.held.drain(..).map(|h| Release {
            item: h.item,
            paused: h.paused,
            stale: false,
        }));
        Ok(out)
    }

    /// Graph refused `recording` (or the bot could not ask): the pre-roll is discarded and nothing of this call
    /// will be written. Returns the number of items discarded.
    ///
    /// # Errors
    /// [`StatusError::NotPending`] when no confirmation was pending.
    pub fn fail(&mut self, reason: impl Into<String>) -> Result<u64, StatusError> {
        if self.phase != Phase::AwaitingConfirmation {
            return Err(StatusError::NotPending(self.phase.name()));
        }
        Ok(self.discard(reason.into()))
    }

    fn discard(&mut self, reason: String) -> u64 {
        let n = (self.held.len() + self.stale_control.len()) as u64;
        self.held.clear();
        self.stale_control.clear();
        self.held_bytes = 0;
        self.counters.preroll_discarded += n;
        self.deadline = None;
        self.failure = Some(reason);
        self.phase = Phase::NotRecorded;
        n
    }

    /// Pauses at `reference` (unknown = at the newest timestamp).
    ///
    /// # Errors
    /// [`StatusError::AlreadyPaused`], or [`StatusError::Ended`] after the end.
    pub fn pause(
        &mut self,
        reference: SourceTimestamp,
        requested_by: &str,
        reason: &str,
    ) -> Result<(), StatusError> {
        if self.phase == Phase::Ended {
            return Err(StatusError::Ended);
        }
        if self.paused {
            return Err(StatusError::AlreadyPaused);
        }
        self.note_reference(reference);
        self.paused = true;
        self.pauses.push(PauseRecord {
            start: self.resolve(reference),
            end: None,
            requested_by: requested_by.to_string(),
            reason: reason.to_string(),
            resumed_by: None,
            resume_reason: None,
        });
        Ok(())
    }

    /// Resumes at `reference` (unknown = at the newest timestamp).
    ///
    /// # Errors
    /// [`StatusError::NotPaused`], or [`StatusError::Ended`] after the end.
    pub fn resume(
        &mut self,
        reference: SourceTimestamp,
        requested_by: &str,
        reason: &str,
    ) -> Result<(), StatusError> {
        if self.phase == Phase::Ended {
            return Err(StatusError::Ended);
        }
        if !self.paused {
            return Err(StatusError::NotPaused);
        }
        self.note_reference(reference);
        let at = self.resolve(reference);
        self.paused = false;
        if let Some(p) = self.pauses.last_mut() {
            p.end = Some(at);
            p.resumed_by = Some(requested_by.to_string());
            p.resume_reason = Some(reason.to_string());
        }
        Ok(())
    }

    /// The call ended at `reference`. Returns true when the call was being recorded (the driver must then
    /// finalize and sync the files before telling the bot that recording ended). A pending confirmation is
    /// abandoned (pre-roll discarded); an open pause is closed at the end.
    pub fn end(&mut self, reference: SourceTimestamp) -> bool {
        self.note_reference(reference);
        let at = self.resolve(reference);
        if self.paused {
            self.paused = false;
            if let Some(p) = self.pauses.last_mut() {
                p.end = Some(at);
            }
        }
        let was_recording = self.phase == Phase::Recording;
        if self.phase == Phase::AwaitingConfirmation || self.phase == Phase::AwaitingStart {
            self.discard("the call ended before recording was confirmed".into());
        }
        self.phase = Phase::Ended;
        was_recording
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 10_000;
    const R0: u64 = 1_000_000_000;

    fn media(m: &mut RecordingState<u32>, id: u32, at_ms: u64) -> Offer<u32> {
        m.offer(
            id,
            SourceTimestamp::new(R0 + at_ms * MS),
            ItemKind::Media { bytes: 640 },
        )
    }

    fn started() -> RecordingState<u32> {
        let mut m = RecordingState::new(StatusConfig {
            preroll: MediaTime::from_millis(100),
            max_preroll_bytes: 640 * 20,
            confirm_timeout: MediaTime::from_secs(1),
        });
        m.start(MediaTime::ZERO).unwrap();
        m
    }

    #[test]
    fn media_before_start_is_refused() {
        let mut m = RecordingState::new(StatusConfig::default());
        assert_eq!(media(&mut m, 1, 0), Offer::Refused(1, Refusal::NotStarted));
        assert_eq!(m.counters().out_of_call, 1);
    }

    #[test]
    fn preroll_keeps_the_newest_window_and_releases_it_in_order_on_confirmation() {
        let mut m = started();
        m.offer(100, SourceTimestamp::new(R0), ItemKind::Control);
        for i in 0..10u32 {
            assert_eq!(media(&mut m, i, u64::from(i) * 20), Offer::Held);
        }
        let out = m.confirm().unwrap();
        let ids: Vec<(u32, bool)> = out.iter().map(|r| (r.item, r.stale)).collect();
        // 180 ms newest, 100 ms window: frames at 80..=180 ms kept; the roster item moved ahead, stale.
        assert_eq!(
            ids,
            vec![
                (100, true),
                (4, false),
                (5, false),
                (6, false),
                (7, false),
                (8, false),
                (9, false)
            ]
        );
        assert_eq!(m.counters().preroll_trimmed, 4);
        assert_eq!(m.phase(), Phase::Recording);
        assert_eq!(media(&mut m, 11, 200), Offer::Forward(11));
        assert!(m.confirm().is_err());
    }

    #[test]
    fn a_full_preroll_refuses_media_but_keeps_control_items() {
        let mut m = started();
        for i in 0..20u32 {
            // All within the window (same timestamp): only the byte bound applies.
            assert_eq!(media(&mut m, i, 0), Offer::Held);
        }
        assert_eq!(
            media(&mut m, 20, 0),
            Offer::Refused(20, Refusal::PrerollFull)
        );
        assert_eq!(
            m.offer(99, SourceTimestamp::new(R0), ItemKind::Control),
            Offer::Held
        );
        assert_eq!(m.counters().preroll_refused, 1);
        assert_eq!(m.confirm().unwrap().len(), 21);
    }

    #[test]
    fn failure_and_timeout_discard_the_preroll_and_refuse_everything_after() {
        let mut m = started();
        media(&mut m, 1, 0);
        media(&mut m, 2, 20);
        assert_eq!(m.fail("Graph said 403").unwrap(), 2);
        assert_eq!(m.phase(), Phase::NotRecorded);
        assert_eq!(m.failure(), Some("Graph said 403"));
        assert_eq!(
            media(&mut m, 3, 40),
            Offer::Refused(3, Refusal::NotRecording)
        );
        assert!(m.confirm().is_err());

        let mut m = started();
        media(&mut m, 1, 0);
        assert_eq!(m.poll_timeout(), Some(MediaTime::from_secs(1)));
        assert!(!m.handle_timeout(MediaTime::from_millis(999)));
        assert!(m.handle_timeout(MediaTime::from_secs(1)));
        assert_eq!(m.counters().preroll_discarded, 1);
        assert!(m.failure().unwrap().contains("within 1.0 s"));
        assert_eq!(m.poll_timeout(), None);
    }

    #[test]
    fn paused_media_is_withheld_and_the_span_recorded() {
        let mut m = started();
        m.pause(SourceTimestamp::UNKNOWN, "agent", "card number")
            .unwrap();
        media(&mut m, 1, 0); // held while paused
        let out = m.confirm().unwrap();
        assert!(out[0].paused);
        assert_eq!(media(&mut m, 2, 20), Offer::Withhold(2));
        assert_eq!(
            m.offer(3, SourceTimestamp::UNKNOWN, ItemKind::Control),
            Offer::Forward(3)
        );
        assert_eq!(
            m.pause(SourceTimestamp::UNKNOWN, "x", "y"),
            Err(StatusError::AlreadyPaused)
        );
        m.resume(SourceTimestamp::new(R0 + 40 * MS), "agent", "done")
            .unwrap();
        assert_eq!(media(&mut m, 4, 60), Offer::Forward(4));
        assert_eq!(
            m.resume(SourceTimestamp::UNKNOWN, "x", "y"),
            Err(StatusError::NotPaused)
        );
        m.pause(SourceTimestamp::UNKNOWN, "agent", "again").unwrap();
        assert!(m.end(SourceTimestamp::new(R0 + 100 * MS)));
        let p = m.pauses();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].end, Some(SourceTimestamp::new(R0 + 40 * MS)));
        assert_eq!(p[0].requested_by, "agent");
        assert_eq!(p[0].resume_reason.as_deref(), Some("done"));
        assert_eq!(p[1].start, SourceTimestamp::new(R0 + 60 * MS));
        assert_eq!(p[1].end, Some(SourceTimestamp::new(R0 + 100 * MS)));
        assert_eq!(m.counters().withheld_paused, 2); // one held while paused, one withheld after
    }

    #[test]
    fn ending_before_confirmation_discards_and_reports_not_recorded() {
        let mut m = started();
        media(&mut m, 1, 0);
        assert!(!m.end(SourceTimestamp::UNKNOWN));
        assert_eq!(m.counters().preroll_discarded, 1);
        assert!(m
            .failure()
            .unwrap()
            .contains("before recording was confirmed"));
        assert_eq!(media(&mut m, 2, 20), Offer::Refused(2, Refusal::Ended));
    }
}

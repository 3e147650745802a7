//! Checks a [`MeetingSpec`] before anything is simulated, and turns its times into reference ticks.

use std::collections::HashSet;

use media_core::{MediaTime, Msi};

use super::video::check_track;
use super::{MeetingSpec, SimError, Span};

/// "Still there when the call ends", in ticks.
pub(crate) const OPEN: i64 = i64::MAX;

/// One session in reference ticks (`leave` = [`OPEN`] when the participant stays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    pub join: i64,
    pub leave: i64,
    pub msi: Msi,
    pub video_msi: Option<Msi>,
}

/// One screen share in reference ticks: `end` is the stop, the sharer's leave or [`OPEN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Share {
    pub sharer: usize,
    pub start: i64,
    pub end: i64,
    pub msi: Msi,
}

/// A spec that passed every check.
#[derive(Debug)]
pub(crate) struct Checked {
    pub duration: Option<i64>,
    /// Per participant, its sessions in time order.
    pub sessions: Vec<Vec<Session>>,
    /// Per screen share, in spec order.
    pub shares: Vec<Share>,
}

fn participant(name: &str, reason: &'static str) -> SimError {
    SimError::Participant {
        name: name.to_string(),
        reason,
    }
}

/// Spans must be non-empty, from call start on, sorted and apart.
fn check_spans(spans: &[Span]) -> Result<(), &'static str> {
    let mut last = MediaTime::ZERO;
    for s in spans {
        if s.start < last || s.is_empty() {
            return Err("spans must be non-empty, from call start on, sorted and not overlapping");
        }
        last = s.end;
    }
    Ok(())
}

/// Checks everything [`Simulator::new`](super::Simulator::new) documents.
pub(crate) fn check(spec: &MeetingSpec) -> Result<Checked, SimError> {
    spec.impairments.validate()?;
    let duration = match spec.duration {
        Some(d) if d <= MediaTime::ZERO => {
            return Err(SimError::Spec {
                reason: "duration must be positive",
            })
        }
        Some(d) => Some(d.ticks()),
        None if spec.participants.is_empty() => {
            return Err(SimError::Spec {
                reason: "no participants and no duration: nothing to simulate",
            })
        }
        None => None,
    };
    let mut msis = HashSet::new();
    let mut ids = HashSet::new();
    let mut new_msi = |m: Msi| m != Msi::NONE && msis.insert(m);
    let mut all_sessions = Vec::with_capacity(spec.participants.len());
    for p in &spec.participants {
        let e = |reason| participant(&p.name, reason);
        if p.msi == Msi::NONE {
            return Err(e("MSI 0xFFFFFFFF means nobody"));
        }
        if !new_msi(p.msi) {
            return Err(e("MSI used by another participant"));
        }
        if p.id.is_empty() {
            return Err(e("empty id"));
        }
        if !ids.insert(p.id.as_str()) {
            return Err(e("id used by another participant"));
        }
        if p.join_at < MediaTime::ZERO {
            return Err(e("join_at before call start"));
        }
        if p.leave_at.is_some_and(|l| l <= p.join_at) {
            return Err(e("leave_at not after join_at"));
        }
        if let Some(v) = &p.video {
            if v.msi == Msi::NONE {
                return Err(e("video MSI 0xFFFFFFFF means nobody"));
            }
            if !new_msi(v.msi) {
                return Err(e("video MSI used by another stream"));
            }
            check_track(&v.track).map_err(e)?;
            check_spans(&v.off)
                .map_err(|_| e("camera off spans must be non-empty, sorted and apart"))?;
        }
        check_spans(&p.muted).map_err(|_| e("muted spans must be non-empty, sorted and apart"))?;
        let mut sessions = vec![Session {
            join: p.join_at.ticks(),
            leave: p.leave_at.map_or(OPEN, MediaTime::ticks),
            msi: p.msi,
            video_msi: p.video.as_ref().map(|v| v.msi),
        }];
        for r in &p.rejoins {
            let prev = sessions.last().map_or(OPEN, |s| s.leave);
            if prev == OPEN || r.at.ticks() <= prev {
                return Err(e("re-join not after the previous session's leave"));
            }
            if r.leave_at.is_some_and(|l| l <= r.at) {
                return Err(e("re-join's leave_at not after its join"));
            }
            if !new_msi(r.msi) {
                return Err(e("re-join MSI is 0xFFFFFFFF or used by another stream"));
            }
            match (&p.video, r.video_msi) {
                (Some(_), Some(m)) => {
                    if !new_msi(m) {
                        return Err(e(
                            "re-join video MSI is 0xFFFFFFFF or used by another stream",
                        ));
                    }
                }
                (None, None) => {}
                (Some(_), None) => {
                    return Err(e(
                        "re-join of a participant with a camera needs a video MSI",
                    ))
                }
                (None, Some(_)) => {
                    return Err(e(
                        "re-join has a video MSI but the participant has no camera",
                    ))
                }
            }
            sessions.push(Session {
                join: r.at.ticks(),
                leave: r.leave_at.map_or(OPEN, MediaTime::ticks),
                msi: r.msi,
                video_msi: r.video_msi,
            });
        }
        let open_ended = sessions.last().is_some_and(|s| s.leave == OPEN);
        if p.video.as_ref().is_some_and(|v| v.looped) && open_ended && duration.is_none() {
            return Err(SimError::Spec {
                reason: "a looped camera of a participant who never leaves needs a duration",
            });
        }
        all_sessions.push(sessions);
    }
    let mut shares = Vec::with_capacity(spec.screenshares.len());
    for ss in &spec.screenshares {
        let e = |reason| participant(&ss.sharer, reason);
        let Some(i) = spec.participants.iter().position(|p| p.name == ss.sharer) else {
            return Err(e("shares the screen but is not a participant"));
        };
        let start = ss.start_at.ticks();
        if ss.stop_at.is_some_and(|s| s <= ss.start_at) {
            return Err(e("screen share stop_at not after start_at"));
        }
        let Some(session) = all_sessions
            .get(i)
            .and_then(|v| v.iter().find(|s| s.join <= start && start < s.leave))
        else {
            return Err(e("screen share starts while not present"));
        };
        if !new_msi(ss.msi) {
            return Err(e(
                "screen-share MSI is 0xFFFFFFFF or used by another stream",
            ));
        }
        check_track(&ss.track).map_err(e)?;
        let end = ss.stop_at.map_or(OPEN, MediaTime::ticks).min(session.leave);
        if ss.looped && end == OPEN && duration.is_none() {
            return Err(SimError::Spec {
                reason: "a looped screen share that never stops needs a duration",
            });
        }
        shares.push(Share {
            sharer: i,
            start,
            end,
            msi: ss.msi,
        });
    }
    let mut by_start: Vec<&Share> = shares.iter().collect();
    by_start.sort_by_key(|s| s.start);
    for w in by_start.windows(2) {
        if let [a, b] = w {
            if b.start < a.end {
                let name = spec
                    .participants
                    .get(b.sharer)
                    .map_or("", |p| p.name.as_str());
                return Err(participant(
                    name,
                    "screen share overlaps another (Teams has one screen-share socket)",
                ));
            }
        }
    }
    Ok(Checked {
        duration,
        sessions: all_sessions,
        shares,
    })
}

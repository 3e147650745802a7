//! The roster changes of a meeting: joins, leaves, re-joins with new MSIs, and screen shares starting and
//! stopping (a `Joined` for a participant already present is a change of its streams, as Teams sends it).

use media_core::{Msi, StreamKind};

use super::validate::{Session, Share, OPEN};
use super::SimParticipant;
use crate::sdk::{Participant, RosterChange};

/// Every roster change of the meeting, in time order (at equal times, spec order; within one participant,
/// its own order), as `(ticks, change)`.
pub(crate) fn roster(
    participants: &[SimParticipant],
    sessions: &[Vec<Session>],
    shares: &[Share],
) -> Vec<(i64, RosterChange)> {
    let mut out = Vec::new();
    for (i, (p, sess)) in participants.iter().zip(sessions).enumerate() {
        let mine: Vec<&Share> = shares.iter().filter(|s| s.sharer == i).collect();
        let mut instants: Vec<i64> = sess
            .iter()
            .flat_map(|s| [s.join, s.leave])
            .chain(mine.iter().flat_map(|s| [s.start, s.end]))
            .filter(|&t| t != OPEN)
            .collect();
        instants.sort_unstable();
        instants.dedup();
        let mut before: Option<Vec<(Msi, StreamKind)>> = None;
        for t in instants {
            let now = sess.iter().find(|s| s.join <= t && t < s.leave).map(|s| {
                let mut streams = vec![(s.msi, StreamKind::Audio)];
                if let Some(v) = s.video_msi {
                    streams.push((v, StreamKind::Video));
                }
                streams.extend(
                    mine.iter()
                        .filter(|sh| sh.start <= t && t < sh.end)
                        .map(|sh| (sh.msi, StreamKind::ScreenShare)),
                );
                streams
            });
            match (&before, &now) {
                (Some(_), None) => out.push((t, RosterChange::Left { id: p.id.clone() })),
                (b, Some(streams)) if b.as_ref() != Some(streams) => out.push((
                    t,
                    RosterChange::Joined(Participant {
                        id: p.id.clone(),
                        display_name: p.display_name.clone(),
                        is_guest: p.is_guest,
                        media_streams: streams.clone(),
                    }),
                )),
                _ => {}
            }
            before = now;
        }
    }
    // Stable: at equal times, spec order.
    out.sort_by_key(|(t, _)| *t);
    out
}

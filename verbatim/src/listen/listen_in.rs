//! Live listen-in on this node (`listen --console ADDR`): the node's side of [`console::live::LiveCalls`].
//!
//! The console asks a call's task (through the call's command channel in its registry entry) to start a
//! listen-in; the task hands the recorder a tap ([`recorder::journal::ListenTap`]) that the writer thread
//! feeds each tick of the mix or of one stem, after journaling a signed `listen_in` line in the call's
//! `timeline.jsonl`. The tap's channel holds one second (50 ticks); a listener further behind loses ticks
//! (counted in `listen_in_ticks_dropped` of the node's stats), never the recording.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use console::live::{ListenFuture, LiveCall, LiveCalls, LiveChunk, LiveStream};
use tokio::sync::{mpsc, oneshot};

use super::Shared;

/// Ticks a listen-in's channel holds (1 s of 20 ms ticks).
pub const TAP_TICKS: usize = 50;

/// What the console asks of a call's task.
pub(crate) enum CallCommand {
    /// Start listening in.
    ListenIn {
        who: Option<String>,
        by: String,
        reason: String,
        tap: mpsc::Sender<LiveChunk>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The listener left after `length_ms`.
    ListenInEnded { by: String, length_ms: i64 },
}

/// The node's live calls, for the console.
pub(crate) struct NodeLive(pub(crate) Arc<Shared>);

fn now_utc() -> String {
    recorder::metadata::utc(SystemTime::now(), media_core::MediaTime::ZERO)
}

impl LiveCalls for NodeLive {
    fn calls(&self) -> Vec<LiveCall> {
        let Ok(calls) = self.0.calls.lock() else {
            return Vec::new();
        };
        let mut out: Vec<LiveCall> = calls
            .iter()
            .map(|((call_id, leg), e)| {
                let folder = e.folder.get().cloned().unwrap_or_default();
                let mut participants: Vec<String> =
                    std::fs::read_dir(self.0.opts.out.join(&folder).join("participants"))
                        .map(|rd| {
                            rd.flatten()
                                .filter_map(|f| {
                                    f.file_name()
                                        .to_str()?
                                        .strip_suffix(".wav")
                                        .map(String::from)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                participants.sort();
                LiveCall {
                    call_id: call_id.clone(),
                    leg: leg.clone(),
                    folder,
                    phase: format!("{:?}", e.phase()),
                    started_utc: e.started_utc.clone(),
                    participants,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.started_utc, &a.call_id).cmp(&(&b.started_utc, &b.call_id)));
        out
    }

    fn listen<'a>(
        &'a self,
        call_id: &'a str,
        leg: &'a str,
        who: Option<&'a str>,
        by: &'a str,
        reason: &'a str,
    ) -> ListenFuture<'a> {
        Box::pin(async move {
            let commands = {
                let calls = self
                    .0
                    .calls
                    .lock()
                    .map_err(|_| "call registry unavailable".to_string())?;
                let e = calls
                    .get(&(call_id.to_string(), leg.to_string()))
                    .ok_or_else(|| {
                        format!("no call {call_id} (leg {leg}) in progress on this node")
                    })?;
                e.commands.clone()
            };
            let (tap, rx) = mpsc::channel(TAP_TICKS);
            let (reply, answer) = oneshot::channel();
            commands
                .send(CallCommand::ListenIn {
                    who: who.map(String::from),
                    by: by.to_string(),
                    reason: reason.to_string(),
                    tap,
                    reply,
                })
                .await
                .map_err(|_| "the call has ended".to_string())?;
            answer
                .await
                .map_err(|_| "the call has ended".to_string())??;
            let by = by.to_string();
            Ok(LiveStream {
                rx,
                end: Box::new(move |length_ms| {
                    let _ = commands.try_send(CallCommand::ListenInEnded { by, length_ms });
                }),
            })
        })
    }
}

/// The recorder's tap for a listen-in: each tick into the bounded channel; a full channel drops the tick
/// (counted), a closed one detaches the tap.
pub(crate) fn tap(
    shared: &Arc<Shared>,
    tx: mpsc::Sender<LiveChunk>,
) -> recorder::journal::ListenTap {
    let stats = Arc::clone(&shared.stats);
    recorder::journal::ListenTap(Arc::new(move |pcm: &[i16], wall_ms: i64| {
        match tx.try_send(LiveChunk {
            wall_ms: wall_ms as f64,
            pcm: pcm.to_vec(),
        }) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                stats
                    .listen_in_ticks_dropped
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }))
}

/// Starts a listen-in on a call's recording (the call task's side of [`CallCommand::ListenIn`]).
pub(crate) fn start(
    shared: &Arc<Shared>,
    live: Option<&mut recorder::live::LiveRecording>,
    who: Option<String>,
    by: String,
    reason: String,
    tx: mpsc::Sender<LiveChunk>,
) -> Result<(), String> {
    let Some(live) = live else {
        return Err("the call is not being recorded yet (awaiting the bot's confirmation)".into());
    };
    live.listen_in(recorder::journal::ListenIn {
        by,
        reason,
        utc: now_utc(),
        who,
        tap: tap(shared, tx),
    })
    .map_err(|e| e.to_string())
}

/// Journals the end of a listen-in.
pub(crate) fn ended(live: Option<&mut recorder::live::LiveRecording>, by: String, length_ms: i64) {
    if let Some(live) = live {
        let _ = live.listen_in_ended(recorder::journal::ListenInEnded {
            by,
            utc: now_utc(),
            length_ms,
        });
    }
}

//! The bot's answer to the recording-status request: only a confirmed `recording` creates the folder (Teams:
//! nothing may be persisted before `updateRecordingStatus` succeeds), starts the writers and the uploader and
//! releases what was held.

use std::time::{Instant, SystemTime};

use bot_adapter::grpc::proto;
use bot_adapter::grpc::status::{Phase, Release};

use super::{Call, Ending, Item};
use crate::record::{LiveRecording, RecordOptions};

impl Call {
    /// The bot's `RecordingStatusResult`: on a confirmed `recording`, the recording starts (its folder,
    /// writers and uploader) and the media held while awaiting it is released in order; a refusal ends
    /// the call `failed` with nothing on disk.
    pub(super) async fn status_result(
        &mut self,
        s: proto::RecordingStatusResult,
    ) -> Option<Ending> {
        if !s.call_id.is_empty() && s.call_id != self.desc.call_id {
            self.refuse_message(&format!(
                "RecordingStatusResult for unknown call {:?} (this stream is {:?})",
                s.call_id, self.desc.call_id
            ))
            .await;
            return None;
        }
        if s.status != proto::RecordingStatus::Recording as i32 {
            // Acknowledgements of `failed` / `notRecording` reports: nothing to do.
            return None;
        }
        if self.state.phase() != Phase::AwaitingConfirmation {
            self.refuse_message("RecordingStatusResult: no confirmation pending")
                .await;
            return None;
        }
        if !s.success {
            let _ = self
                .state
                .fail(bot_adapter::status::graph_refusal(&s.error));
            self.outcome = Some("failed");
            self.entry.set_phase(Phase::NotRecorded);
            return Some(Ending::Ended);
        }
        // Confirmed: only now does anything go to disk.
        self.entry.set_phase(Phase::Recording);
        tracing::info!(
            event = "recording_confirmed",
            "recording confirmed by the bot"
        );
        let mut opts: RecordOptions = self.shared.opts.record.clone();
        opts.out = self.shared.opts.out.join(&self.folder);
        opts.call = self.call_info();
        // As it will be at close (counters then final): journaled with the counters, so a crash keeps it.
        let mut status = self.status_meta();
        status.outcome = "confirmed".into();
        status.confirmed_utc =
            Some(humantime::format_rfc3339_millis(SystemTime::now()).to_string());
        opts.call.recording_status = Some(status);
        opts.queue_capacity = self.shared.opts.limits.queue_capacity;
        opts.keyframe_relay = Some(self.relay.clone());
        let started = tokio::task::spawn_blocking(move || LiveRecording::start(&opts)).await;
        match started {
            Ok(Ok(live)) => {
                self.live = Some(live);
                self.start_upload().await;
            }
            Ok(Err(e)) => {
                self.fatal = Some(format!("cannot create the recording: {e}"));
                let _ = self.state.fail(format!("cannot create the recording: {e}"));
                self.outcome = Some("failed");
                return Some(Ending::Ended);
            }
            Err(e) => {
                self.fatal = Some(format!("internal error: {e}"));
                let _ = self.state.fail("internal error");
                self.outcome = Some("failed");
                return Some(Ending::Ended);
            }
        }
        self.confirmed_wall = Some(SystemTime::now());
        self.outcome = Some("confirmed");
        self.entry.set_phase(Phase::Recording);
        let released: Vec<Release<Item>> = self.state.confirm().unwrap_or_default();
        let t = Instant::now();
        for r in released {
            self.forward(r.item, r.paused, r.stale, t).await;
        }
        // Paused before the recording was confirmed: the recording starts paused.
        if let Some(p) = self
            .state
            .pauses()
            .last()
            .filter(|_| self.state.is_paused())
        {
            let (start, by, reason) = (p.start, p.requested_by.clone(), p.reason.clone());
            self.journal_pause(start, true, &by, &reason);
        }
        None
    }
}

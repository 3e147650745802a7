//! The end of a call: the recording finalized and synced (or, never confirmed, a folder holding only
//! `metadata.json`), then the bot told; and the `call` section of `metadata.json` the gRPC service adds.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use bot_adapter::grpc::proto::{self, engine_message::Msg as Out};
use bot_adapter::grpc::status::Phase;
use media_core::{MediaTime, SourceTimestamp};

use super::{Call, Ending};
use crate::engine::CallSummary;
use crate::journal::{PauseEnd, PauseStart};
use crate::metadata::{
    self, CallInfo, IngestRefusedMeta, PauseMeta, RecordingStatusMeta, TeamsCallMeta,
};

impl Call {
    pub(super) fn call_info(&self) -> CallInfo {
        let s = &self.desc.start;
        CallInfo {
            id: self.desc.call_id.clone(),
            source: "grpc".into(),
            teams: Some(TeamsCallMeta {
                tenant_id: s.tenant_id.clone(),
                observed_participant_id: s.observed_participant_id.clone(),
                direction: match proto::CallDirection::try_from(s.direction) {
                    Ok(proto::CallDirection::Incoming) => "incoming",
                    Ok(proto::CallDirection::Outgoing) => "outgoing",
                    _ => "unspecified",
                }
                .into(),
                dialed_number: s.dialed_number.clone(),
                origin_number: s.origin_number.clone(),
                source_participant_id: s.source_participant_id.clone(),
                on_behalf_of: s.on_behalf_of.clone(),
                transferor: s.transferor.clone(),
                custom_data: s.custom_data.clone().into_iter().collect(),
            }),
            leg: self.desc.leg_id.clone(),
            continues: self.entry.continues.get().cloned(),
            ..Default::default()
        }
    }

    pub(super) fn status_meta(&self) -> RecordingStatusMeta {
        RecordingStatusMeta::from_state(
            self.outcome.unwrap_or("ended_before_confirmation"),
            &self.state,
            self.shared.opts.limits.preroll,
            self.requested_wall,
            self.confirmed_wall,
        )
    }

    fn pause_meta(&self) -> Vec<PauseMeta> {
        let origin = self.origin;
        let us = |r: SourceTimestamp| match origin {
            Some(o) if !r.is_unknown() => (r.since(o).ticks() / 10).max(0),
            _ => 0,
        };
        let utc = |t: SystemTime| humantime::format_rfc3339_millis(t).to_string();
        self.state
            .pauses()
            .iter()
            .zip(
                self.pause_walls
                    .iter()
                    .chain(std::iter::repeat(&(SystemTime::UNIX_EPOCH, None))),
            )
            .map(|(p, w)| PauseMeta {
                start_us: us(p.start),
                end_us: p.end.map_or(us(self.last_ref), us),
                requested_utc: utc(w.0),
                resumed_utc: w.1.map(utc),
                requested_by: p.requested_by.clone(),
                reason: p.reason.clone(),
                resumed_by: p.resumed_by.clone(),
                resume_reason: p.resume_reason.clone(),
            })
            .collect()
    }

    /// Journals a pause (`pause`) or resume stamped `r` into the recording as it happens (signed status
    /// history and `timeline.jsonl`, see [`crate::journal`]), so a crash does not lose it.
    pub(super) fn journal_pause(
        &mut self,
        r: SourceTimestamp,
        pause: bool,
        by: &str,
        reason: &str,
    ) {
        let at = match self.origin {
            Some(o) if !r.is_unknown() => MediaTime::from_ticks(r.since(o).ticks().max(0)),
            _ => MediaTime::ZERO,
        };
        let Some(live) = self.live.as_mut() else {
            return; // not recording yet: journaled when the recording starts (see `status_result`)
        };
        let utc = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let r = if pause {
            live.pause(PauseStart {
                at,
                requested_utc: utc,
                requested_by: by.to_string(),
                reason: reason.to_string(),
            })
        } else {
            live.resume(PauseEnd {
                at,
                resumed_utc: utc,
                resumed_by: by.to_string(),
                reason: reason.to_string(),
            })
        };
        if let Err(e) = r {
            let what = if pause { "Pause" } else { "Resume" };
            let msg = format!("{what}: not journaled ({e}); it is in metadata.json at the end");
            self.send_error(proto::ErrorCode::Storage, msg, false);
        }
    }

    /// Finalizes: files closed and synced (or the not-recorded metadata written), THEN the bot is told.
    pub(super) async fn finish(&mut self, ending: Ending) {
        let stats = Arc::clone(&self.shared.stats);
        let status_meta = self.status_meta();
        let pauses = self.pause_meta();
        let refused_frames = self.refused_participant_frames;
        let refused_video_frames = self.refused_video_frames;
        let invalid_messages = self.invalid_messages;
        let mut summary = proto::CallSummary {
            call_id: self.desc.call_id.clone(),
            recording: self.folder.clone(),
            preroll_discarded: status_meta.preroll_discarded + status_meta.preroll_trimmed,
            pauses: pauses
                .iter()
                .map(|p| proto::PauseSpan {
                    start_us: p.start_us,
                    end_us: p.end_us,
                    requested_by: p.requested_by.clone(),
                    reason: p.reason.clone(),
                })
                .collect(),
            ..Default::default()
        };
        if let Some(mut live) = self.live.take() {
            self.entry.set_phase(Phase::Ended);
            let info = live.call_info_mut();
            info.recording_status = Some(status_meta);
            info.pauses = pauses;
            let interrupted = match &ending {
                Ending::Ended | Ending::Failed => None,
                Ending::Interrupted(why) => Some(why.clone()),
            };
            live.call_info_mut().ingest_refused = Some(IngestRefusedMeta {
                participant_limit_frames: refused_frames,
                video_stream_limit_frames: refused_video_frames,
                invalid_messages,
            });
            let is_interrupted = interrupted.is_some();
            live.call_info_mut().interrupted_because = interrupted.clone();
            let store_failure = self.store_failure.take();
            let closed = tokio::task::spawn_blocking(move || {
                if let Some(why) = store_failure {
                    live.fail(why)
                } else if is_interrupted {
                    live.interrupt()
                } else {
                    live.finish()
                }
            })
            .await;
            match closed {
                Ok(Ok(s)) => {
                    summary.status = if is_interrupted {
                        stats.calls_interrupted.fetch_add(1, Ordering::Relaxed);
                        "interrupted"
                    } else {
                        stats.calls_recorded.fetch_add(1, Ordering::Relaxed);
                        "completed"
                    }
                    .into();
                    fill_summary(&mut summary, &s);
                    self.shared
                        .metrics
                        .recording_ended(&summary.status, Some(&s));
                    if let Some(why) = interrupted {
                        summary.error = why;
                    }
                }
                Ok(Err(e)) => {
                    summary.status = "failed".into();
                    summary.error = e.to_string();
                    if let crate::record::RecordError::Failed { kept_secs, .. } = &e {
                        // What the folder holds: the media written before the failure.
                        summary.duration_us = (kept_secs * 1e6) as i64;
                    }
                }
                Err(e) => {
                    summary.status = "failed".into();
                    summary.error = format!("internal error: {e}");
                }
            }
            if let Some(f) = self.fatal.take() {
                summary.error = f;
            }
            // The close waits (bounded) for the store to confirm the last segment and the manifest.
            if let Some(up) = self.upload.take() {
                if let Ok(r) = tokio::task::spawn_blocking(move || up.finish()).await {
                    eprintln!("verbatim: {}: {}", self.folder, r.to_text());
                    if !r.complete && summary.error.is_empty() {
                        summary.error = r.to_text();
                    }
                }
            }
            if summary.status == "failed" {
                self.shared.metrics.recording_ended("failed", None);
            }
            // A recording that failed (disk full, I/O error) is reported as `failed`, with the cause, so the
            // compliance policy can act on it.
            let request = if summary.status == "failed" {
                proto::RecordingStatusRequest {
                    status: proto::RecordingStatus::Failed as i32,
                    reason: summary.error.clone(),
                }
            } else {
                proto::RecordingStatusRequest {
                    status: proto::RecordingStatus::NotRecording as i32,
                    reason: format!(
                        "recording ended: files finalized and synced ({})",
                        summary.status
                    ),
                }
            };
            self.send_essential(Out::StatusRequest(request)).await;
        } else {
            // Never confirmed: nothing but metadata is written.
            stats.calls_not_recorded.fetch_add(1, Ordering::Relaxed);
            if let Ending::Interrupted(why) = &ending {
                if self.state.phase() == Phase::AwaitingConfirmation {
                    let _ = self
                        .state
                        .fail(format!("{why} before recording was confirmed"));
                }
            }
            let mut status_meta = self.status_meta();
            if status_meta.outcome == "confirmed" {
                status_meta.outcome = "failed".into();
            }
            let error = self
                .fatal
                .clone()
                .or_else(|| self.state.failure().map(str::to_string))
                .unwrap_or_else(|| "recording was not confirmed".into());
            summary.status = "not_recorded".into();
            summary.error = error.clone();
            self.shared.metrics.recording_ended("not_recorded", None);
            summary.preroll_discarded = status_meta.preroll_discarded + status_meta.preroll_trimmed;
            let mut info = self.call_info();
            info.recording_status = Some(status_meta);
            let dir = self.shared.opts.out.join(&self.folder);
            let written =
                tokio::task::spawn_blocking(move || write_not_recorded(&dir, info, &error)).await;
            if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
                summary.error = format!("{}; metadata not written: {e}", summary.error);
            }
            self.send_essential(Out::StatusRequest(proto::RecordingStatusRequest {
                status: proto::RecordingStatus::Failed as i32,
                reason: summary.error.clone(),
            }))
            .await;
        }
        log_ending(&summary);
        self.send_essential(Out::Summary(summary)).await;
    }
}

/// One structured line per call end (the call span adds its id and leg); `failed` and `interrupted`, what an
/// operator alerts on, are warnings.
fn log_ending(s: &proto::CallSummary) {
    let secs = s.duration_us as f64 / 1e6;
    match s.status.as_str() {
        "failed" | "interrupted" => tracing::warn!(
            event = %format!("recording_{}", s.status),
            status = %s.status,
            folder = %s.recording,
            duration_s = secs,
            error = %s.error,
            "recording ended {}",
            s.status
        ),
        _ => tracing::info!(
            event = "call_ended",
            status = %s.status,
            folder = %s.recording,
            duration_s = secs,
            error = %s.error,
            "call ended"
        ),
    }
}

fn fill_summary(out: &mut proto::CallSummary, s: &CallSummary) {
    out.duration_us = s.duration.ticks() / 10;
    out.participants = s
        .participants
        .iter()
        .map(|p| proto::ParticipantSummary {
            name: p.info.name.clone(),
            id: p.info.id.clone().unwrap_or_default(),
            frames_delivered: p.stats.delivered,
            frames_written: p.stats.written,
            gaps: u32::try_from(p.gaps.count).unwrap_or(u32::MAX),
        })
        .collect();
    out.videos = s
        .videos
        .iter()
        .map(|v| {
            let st = &v.stats;
            proto::VideoStreamSummary {
                media_source_id: v.msi.0,
                path: v.path.clone(),
                frames_delivered: st.delivered,
                frames_written: st.written,
                frames_dropped: st.waiting_for_idr
                    + st.duplicates
                    + st.late
                    + st.outliers
                    + st.unsupported,
                keyframe_requests: st.keyframe_requests,
                gaps: u32::try_from(v.gaps.count).unwrap_or(u32::MAX),
            }
        })
        .collect();
}

/// The folder of a call that was not recorded: `metadata.json` only, saying why.
fn write_not_recorded(dir: &std::path::Path, call: CallInfo, error: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let md = serde_json::json!({
        "format_version": metadata::FORMAT_VERSION,
        "recorder": { "name": "verbatim", "version": env!("CARGO_PKG_VERSION") },
        "call": call,
        "recording": { "status": "not_recorded", "error": error },
    });
    let bytes = serde_json::to_vec_pretty(&md).map_err(std::io::Error::other)?;
    let path = dir.join("metadata.json");
    let mut f = std::fs::File::create(&path)?;
    std::io::Write::write_all(&mut f, &bytes)?;
    f.sync_all()?;
    std::fs::File::open(dir)?.sync_all()
}

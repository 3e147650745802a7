//! `verbatim record`'s leg options: which recorder bot of the meeting to record (Teams invites up to two), its
//! own path, its span in the call, its concealment, and the folder it continues after a reconnect.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use bot_adapter::sim::{Impairments, Leg};
use media_core::MediaTime;
use verbatim::metadata::{CallInfo, ContinuesMeta};

/// A leg's span of the call: `START-END`, either side may be left open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegSpan {
    /// When the bot joins (`None` = at the start).
    pub start: Option<MediaTime>,
    /// When it leaves or dies (`None` = at the end).
    pub end: Option<MediaTime>,
}

/// Parses `30s-24m`, `5m-` or `-24m` (call time; `..` also separates).
pub fn parse_leg_span(s: &str) -> Result<LegSpan, String> {
    let (from, to) = s
        .split_once("..")
        .or_else(|| s.split_once('-'))
        .ok_or_else(|| format!("{s:?}: expected START-END, START- or -END, e.g. 30s-24m"))?;
    let side = |x: &str| -> Result<Option<MediaTime>, String> {
        let x = x.trim();
        if x.is_empty() {
            return Ok(None);
        }
        let d = humantime::parse_duration(x).map_err(|e| format!("{x:?}: {e}"))?;
        Ok(Some(MediaTime::from_ticks(
            (d.as_nanos() / 100).min(i64::MAX as u128) as i64,
        )))
    };
    let span = LegSpan {
        start: side(from)?,
        end: side(to)?,
    };
    match span {
        LegSpan {
            start: None,
            end: None,
        } => Err(format!("{s:?}: give a start, an end or both")),
        LegSpan {
            start: Some(a),
            end: Some(b),
        } if b <= a => Err(format!("{s:?}: the end must come after the start")),
        _ => Ok(span),
    }
}

/// The leg options of `record`.
#[derive(clap::Args, Debug)]
pub struct LegArgs {
    /// Record this leg of the meeting: the N-th recorder bot (Teams invites up to two). Every leg has the same
    /// call id and media; leg N > 1 has its own platform clock epoch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub leg: u32,
    /// This leg's own path after the senders' uplinks (--impair), same syntax (network tokens only: jitter,
    /// loss, burst, reorder, dup); drawn per leg from --seed and the leg number.
    #[arg(long, value_name = "SPEC", default_value = "none")]
    pub leg_impair: String,
    /// The leg's bot is in the call only over START-END, call time (e.g. 30s-24m, 5m-, -24m): it joins late,
    /// or leaves or dies early.
    #[arg(long, value_name = "START-END", value_parser = parse_leg_span, allow_hyphen_values = true)]
    pub leg_span: Option<LegSpan>,
    /// This leg's platform conceals frames lost on the leg's own path (the previous frame, attenuated), so
    /// its audio differs from another leg's there.
    #[arg(long)]
    pub leg_conceal: bool,
    /// This folder continues DIR, an earlier folder of the same leg (the bot reconnected): metadata.json links
    /// it by name and the SHA-256 of its manifest.json.
    #[arg(long, value_name = "DIR")]
    pub continues: Option<PathBuf>,
}

impl LegArgs {
    /// The simulator's leg.
    ///
    /// # Errors
    /// A `--leg-impair` that does not parse.
    pub fn leg(&self) -> Result<Leg> {
        let impairments: Impairments = self.leg_impair.parse().context("--leg-impair")?;
        Ok(Leg {
            number: self.leg,
            impairments,
            start: self.leg_span.and_then(|s| s.start),
            end: self.leg_span.and_then(|s| s.end),
            conceal: self.leg_conceal,
        })
    }

    /// Writes the leg into metadata.json's `call`: `leg`, and `leg_impairments`, `leg_span`, `leg_conceal`,
    /// `continues` when set.
    ///
    /// # Errors
    /// A `--continues` that is not a folder.
    pub fn describe(&self, leg: &Leg, call: &mut CallInfo) -> Result<()> {
        call.leg = leg.number.to_string();
        call.leg_impairments = (!leg.impairments.is_none()).then(|| leg.impairments.to_string());
        call.leg_span = self.leg_span.map(|s| {
            let t = |t: Option<MediaTime>| {
                t.map(|t| format!("{}s", t.ticks() as f64 / 1e7))
                    .unwrap_or_default()
            };
            format!("{}-{}", t(s.start), t(s.end))
        });
        call.leg_conceal = leg.conceal;
        if let Some(dir) = &self.continues {
            if !dir.is_dir() {
                bail!("--continues {}: not a recording folder", dir.display());
            }
            let dir = dir
                .canonicalize()
                .with_context(|| dir.display().to_string())?;
            call.continues = Some(ContinuesMeta::of(&dir));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_may_be_open_on_one_side() {
        let s = |x| parse_leg_span(x);
        let t = MediaTime::from_secs;
        assert_eq!(
            s("30s-24m"),
            Ok(LegSpan {
                start: Some(t(30)),
                end: Some(t(1440))
            })
        );
        assert_eq!(
            s("5m-"),
            Ok(LegSpan {
                start: Some(t(300)),
                end: None
            })
        );
        assert_eq!(
            s("-24m"),
            Ok(LegSpan {
                start: None,
                end: Some(t(1440))
            })
        );
        assert!(s("-").is_err());
        assert!(s("9s-2s").is_err());
        assert!(s("5s").is_err());
    }
}

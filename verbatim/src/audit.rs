//! Scores a recording against the ground truth of what each participant sent (a simulated meeting): are
//! received frames exact copies, where did they land, and does the loss ledger explain everything missing?
//!
//! A compliance recorder must copy what was sent, bit for bit, at its place, and list everything it did not
//! record with the reason. [`StemAudit`] checks that for one participant, streaming: it reads the stem as it
//! goes (an hour-long stem is never held whole) and is handed every frame the participant sent, in order,
//! with what the network and the platform did to it ([`Fate`]) and when it was captured. For each frame that
//! reached the recorder it looks for an unbroken, bit-exact copy near its capture time; for each frame that
//! did not, it checks that a listed gap covers its place; and it scores the ledger's `inferred_loss` gaps
//! against the frames the network really lost.
//!
//! ```
//! use media_core::ledger::{Gap, GapKind};
//! use media_core::MediaTime;
//! use verbatim::audit::{Fate, StemAudit};
//!
//! // A stem holding frame 0 and frame 2 at their capture times; frame 1 was lost on the network and the
//! // ledger lists it as an inferred loss.
//! let f = |v: i16| vec![v; 320];
//! let mut stem = f(100);
//! stem.extend(f(0));
//! stem.extend(f(300));
//! let ms = MediaTime::from_millis;
//! let gaps = vec![Gap::new(ms(20), ms(20), GapKind::InferredLoss)];
//! let mut a = StemAudit::new(stem.into_iter(), gaps);
//! a.frame(0, ms(0), &f(100), Fate::Delivered);
//! a.frame(1, ms(20), &f(200), Fate::LostOnNetwork);
//! a.frame(2, ms(40), &f(300), Fate::Delivered);
//! let r = a.finish();
//! assert_eq!((r.delivered, r.exact, r.unexplained), (2, 2, 0));
//! assert_eq!((r.lost_network, r.lost_network_recalled), (1, 1));
//! assert_eq!(r.inferred_loss_precision(), Some(1.0));
//! assert_eq!(r.worst_error_ms(), Some(0.0));
//! ```

use std::collections::VecDeque;

use bot_adapter::sim::FrameFate;
use media_core::ledger::{Gap, GapKind};
use media_core::MediaTime;

/// Samples per 20 ms frame (Teams `Pcm16K`).
const FRAME: usize = 320;
/// The recording's sample rate.
const RATE: u32 = 16_000;
/// How far from where the previous frame landed a copy is looked for (placement error is far smaller).
const SEARCH: i64 = 16_000;

/// What happened to a sent frame before it could reach the recorder (the simulator's ground truth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The platform handed it to the bot (at least once).
    Delivered,
    /// Lost on the network between the sender and the platform.
    LostOnNetwork,
    /// Dropped by the platform: the sender was not among the four loudest of its slot.
    NotAmongFourLoudest,
    /// Still on its way when the call ended.
    Pending,
}

/// The findings for one participant (see the module docs). Frame counts are of sent frames.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditReport {
    /// Frames sent (sounding: a silent sender sends nothing).
    pub sent: u64,
    /// Of those, delivered to the recorder.
    pub delivered: u64,
    /// Delivered frames found in the stem as unbroken, bit-exact copies.
    pub exact: u64,
    /// Delivered frames found whole but for one sample dropped or repeated (a drift correction inside speech).
    pub slipped: u64,
    /// Delivered frames not in the stem whose place a `dropped` gap covers (dropped here, with a cause).
    pub dropped_explained: u64,
    /// Frames sent and missing from the stem whose place no listed gap covers (want 0).
    pub unexplained: u64,
    /// Frames lost on the network.
    pub lost_network: u64,
    /// Of those, whose place an `inferred_loss` gap covers.
    pub lost_network_recalled: u64,
    /// Frames lost on the network with a delivered frame on both sides (a loss inside a talk spurt: the
    /// kind the ledger can infer from the sender's timestamps).
    pub lost_inside_speech: u64,
    /// Of those, recalled.
    pub lost_inside_speech_recalled: u64,
    /// Frames dropped by the four-loudest rule.
    pub not_among_four_loudest: u64,
    /// Frames still on the way at the end.
    pub pending: u64,
    /// Frames sent so close to the end of the call that their place lies past the recording's end.
    pub after_end: u64,
    /// Length of the `inferred_loss` gaps listed.
    pub inferred_loss: MediaTime,
    /// Of that, covering frames the network really lost.
    pub inferred_loss_true: MediaTime,
    /// Placement error of every exact copy: where it landed minus when it was captured, in samples.
    pub errors: Vec<i32>,
    /// The first few frames counted in `unexplained` and delivered frames not found whole: (index, capture
    /// time), to look at.
    pub examples: Vec<(u64, MediaTime)>,
}

impl AuditReport {
    /// Share of delivered frames found as exact copies.
    pub fn exact_share(&self) -> f64 {
        self.exact as f64 / self.delivered.max(1) as f64
    }

    /// Share of `inferred_loss` time that covers frames really lost (`None` without such gaps).
    pub fn inferred_loss_precision(&self) -> Option<f64> {
        (self.inferred_loss > MediaTime::ZERO)
            .then(|| self.inferred_loss_true.ticks() as f64 / self.inferred_loss.ticks() as f64)
    }

    /// Share of network-lost frames the ledger lists as inferred losses (`None` when none was lost).
    pub fn inferred_loss_recall(&self) -> Option<f64> {
        (self.lost_network > 0)
            .then(|| self.lost_network_recalled as f64 / self.lost_network as f64)
    }

    /// Recall among losses inside talk spurts (`None` when there was none).
    pub fn inside_speech_recall(&self) -> Option<f64> {
        (self.lost_inside_speech > 0)
            .then(|| self.lost_inside_speech_recalled as f64 / self.lost_inside_speech as f64)
    }

    /// The `q` quantile (0..=1) of the absolute placement error, in ms.
    pub fn error_quantile_ms(&self, q: f64) -> Option<f64> {
        let mut e: Vec<u32> = self.errors.iter().map(|e| e.unsigned_abs()).collect();
        if e.is_empty() {
            return None;
        }
        e.sort_unstable();
        let i = ((e.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        Some(f64::from(e[i]) * 1000.0 / f64::from(RATE))
    }

    /// The worst absolute placement error, in ms.
    pub fn worst_error_ms(&self) -> Option<f64> {
        self.error_quantile_ms(1.0)
    }

    /// Adds another participant's findings (for call totals).
    pub fn merge(&mut self, o: &AuditReport) {
        self.sent += o.sent;
        self.delivered += o.delivered;
        self.exact += o.exact;
        self.slipped += o.slipped;
        self.dropped_explained += o.dropped_explained;
        self.unexplained += o.unexplained;
        self.lost_network += o.lost_network;
        self.lost_network_recalled += o.lost_network_recalled;
        self.lost_inside_speech += o.lost_inside_speech;
        self.lost_inside_speech_recalled += o.lost_inside_speech_recalled;
        self.not_among_four_loudest += o.not_among_four_loudest;
        self.pending += o.pending;
        self.after_end += o.after_end;
        self.inferred_loss = self.inferred_loss.saturating_add(o.inferred_loss);
        self.inferred_loss_true = self.inferred_loss_true.saturating_add(o.inferred_loss_true);
        self.errors.extend_from_slice(&o.errors);
        let room = 16usize.saturating_sub(self.examples.len());
        self.examples.extend(o.examples.iter().take(room).copied());
    }
}

/// The run of consecutive network losses being looked at: whether the frame before it was delivered, the
/// last index in it, and its frames.
#[derive(Debug, Default)]
struct LossRun {
    after_delivered: bool,
    last: u64,
    indices: Vec<u64>,
}

/// A sent frame not found in the stem, decided once the placement around it is known.
#[derive(Clone, Copy, Debug)]
struct Missing {
    index: u64,
    /// Capture time, samples.
    capture: i64,
    fate: Fate,
    len: i64,
    /// The placement offset when it was handed over.
    offset: i64,
}

/// Audits one participant's stem (see the module docs).
pub struct StemAudit<I: Iterator<Item = i16>> {
    stem: I,
    window: VecDeque<i16>,
    /// Sample position of `window[0]`.
    window_start: i64,
    stem_done: bool,
    /// Gaps sorted by start.
    gaps: Vec<Gap>,
    /// Where the last copy found landed against its capture time (samples).
    offset: i64,
    last: Option<(u64, Fate)>,
    /// The recording's length, when known: frames placed past it are not missing.
    end: Option<MediaTime>,
    run: LossRun,
    unresolved: Vec<Missing>,
    /// Lost frames decided: (index, recalled as an inferred loss).
    recalled: Vec<(u64, bool)>,
    report: AuditReport,
}

impl<I: Iterator<Item = i16>> StemAudit<I> {
    /// An audit of the stem `stem` (its samples from recording time zero) with the gaps listed for it.
    pub fn new(stem: I, mut gaps: Vec<Gap>) -> Self {
        gaps.sort_by_key(|g| g.start);
        let mut report = AuditReport::default();
        for g in &gaps {
            if g.kind == GapKind::InferredLoss {
                report.inferred_loss = report.inferred_loss.saturating_add(g.length);
            }
        }
        StemAudit {
            stem,
            window: VecDeque::new(),
            window_start: 0,
            stem_done: false,
            gaps,
            offset: 0,
            last: None,
            end: None,
            run: LossRun::default(),
            unresolved: Vec::new(),
            recalled: Vec::new(),
            report,
        }
    }

    /// Tells the audit the recording's length: a frame whose place lies past it was sent as the call ended
    /// and is counted in [`AuditReport::after_end`], not as missing.
    pub fn with_end(mut self, end: MediaTime) -> Self {
        self.end = Some(end);
        self
    }

    /// Reads the stem until the window covers sample position `until`, dropping what lies before `keep`.
    fn read_to(&mut self, keep: i64, until: i64) {
        while !self.stem_done && self.window_start + (self.window.len() as i64) < until {
            match self.stem.next() {
                Some(s) => self.window.push_back(s),
                None => self.stem_done = true,
            }
        }
        let drop = (keep - self.window_start).clamp(0, self.window.len() as i64) as usize;
        self.window.drain(..drop);
        self.window_start += drop as i64;
    }

    fn copy_at(&self, pos: i64, samples: &[i16]) -> bool {
        let i = pos - self.window_start;
        i >= 0
            && samples
                .iter()
                .enumerate()
                .all(|(j, s)| self.window.get(i as usize + j) == Some(s))
    }

    /// Whether the stem holds `samples` at `pos` with exactly one sample dropped or repeated (a drift slip).
    fn slipped_at(&self, pos: i64, samples: &[i16]) -> bool {
        let at = |k: usize| {
            let i = pos - self.window_start + k as i64;
            (i >= 0)
                .then(|| self.window.get(i as usize))
                .flatten()
                .copied()
        };
        let common = samples
            .iter()
            .enumerate()
            .take_while(|&(k, s)| at(k) == Some(*s))
            .count();
        if common == samples.len() {
            return false;
        }
        // Sample `common` dropped: the rest follows one earlier; or repeated: one later.
        let dropped = samples[common + 1..]
            .iter()
            .enumerate()
            .all(|(k, s)| at(common + k) == Some(*s));
        let repeated = samples[common..]
            .iter()
            .enumerate()
            .all(|(k, s)| at(common + 1 + k) == Some(*s));
        dropped || repeated
    }

    /// Where an exact copy of `samples` starts, looked for at `hint` first and then around it.
    fn find(&self, hint: i64, samples: &[i16]) -> Option<i64> {
        if self.copy_at(hint, samples) {
            return Some(hint);
        }
        let first = *samples.first()?;
        let lo = (hint - SEARCH).max(self.window_start);
        let hi = (hint + SEARCH).min(self.window_start + self.window.len() as i64);
        (lo..hi)
            .filter(|&p| self.window.get((p - self.window_start) as usize) == Some(&first))
            .min_by_key(|p| (p - hint).abs())
            .filter(|&p| self.copy_at(p, samples))
            .or_else(|| {
                (lo..hi).find(|&p| {
                    self.window.get((p - self.window_start) as usize) == Some(&first)
                        && self.copy_at(p, samples)
                })
            })
    }

    /// Length of `[from, from + len)` covered by gaps that `pick` accepts.
    fn covered(
        &self,
        from: MediaTime,
        len: MediaTime,
        pick: impl Fn(GapKind) -> bool,
    ) -> MediaTime {
        let to = from.saturating_add(len);
        let mut sum = MediaTime::ZERO;
        let first = self.gaps.partition_point(|g| g.end() <= from);
        for g in self.gaps[first..].iter().take_while(|g| g.start < to) {
            if pick(g.kind) {
                let a = from.max(g.start);
                let b = to.min(g.end());
                if b > a {
                    sum = sum.saturating_add(b.saturating_sub(a));
                }
            }
        }
        sum.min(len)
    }

    /// Hands over the next frame the participant sent (in order of `index`), captured at recording time
    /// `capture`, with its samples and fate.
    pub fn frame(&mut self, index: u64, capture: MediaTime, samples: &[i16], fate: Fate) {
        self.report.sent += 1;
        let capture_s = capture.to_samples(RATE);
        let expected = capture_s + self.offset;
        self.read_to(expected - 2 * SEARCH, expected + 2 * SEARCH + FRAME as i64);
        // A frame sent twice (a network duplicate) can have one copy dropped by the four-loudest rule and
        // the other delivered: then it was delivered.
        let fate = if fate == Fate::NotAmongFourLoudest && self.find(expected, samples).is_some() {
            Fate::Delivered
        } else {
            fate
        };
        let previous = self.last;
        self.last = Some((index, fate));
        let missing = |fate| Missing {
            index,
            capture: capture_s,
            fate,
            len: samples.len() as i64,
            offset: expected - capture_s,
        };
        match fate {
            Fate::Delivered => {
                self.report.delivered += 1;
                match self.find(expected, samples) {
                    Some(pos) => {
                        self.report.exact += 1;
                        let before = self.offset;
                        self.offset = pos - capture_s;
                        self.report.errors.push(self.offset as i32);
                        // Frames missing since the last copy found lie at the old or the new placement
                        // (a pause between them re-placed the stream).
                        self.resolve(before, self.offset);
                    }
                    None if (expected - 2..=expected + 2).any(|p| self.slipped_at(p, samples)) => {
                        self.report.slipped += 1;
                    }
                    None => {
                        if self.report.examples.len() < 16 {
                            self.report.examples.push((index, capture));
                        }
                        self.unresolved.push(missing(fate));
                    }
                }
            }
            Fate::LostOnNetwork => {
                self.report.lost_network += 1;
                self.unresolved.push(missing(fate));
            }
            Fate::NotAmongFourLoudest => {
                self.report.not_among_four_loudest += 1;
                self.unresolved.push(missing(fate));
            }
            Fate::Pending => self.report.pending += 1,
        }
        // Runs of consecutive network losses: inside speech when delivered frames enclose them.
        let continues_run = !self.run.indices.is_empty() && self.run.last + 1 == index;
        if fate == Fate::LostOnNetwork && continues_run {
            self.run.last = index;
            self.run.indices.push(index);
            return;
        }
        self.close_run(continues_run && fate == Fate::Delivered);
        if fate == Fate::LostOnNetwork {
            self.run.after_delivered =
                previous.is_some_and(|(i, f)| i + 1 == index && f == Fate::Delivered);
            self.run.last = index;
            self.run.indices.push(index);
        }
    }

    /// Decides the frames missing since the last copy found, at their own placement offset or at `a` or `b`.
    fn resolve(&mut self, a: i64, b: i64) {
        for m in std::mem::take(&mut self.unresolved) {
            let len = MediaTime::from_samples(m.len, RATE);
            let half = MediaTime::from_ticks(len.ticks() / 2);
            let at = |o: i64| MediaTime::from_samples(m.capture + o, RATE);
            let best = |pick: &dyn Fn(GapKind) -> bool| {
                [m.offset, a, b]
                    .into_iter()
                    .map(|o| self.covered(at(o), len, pick))
                    .max()
                    .unwrap_or(MediaTime::ZERO)
            };
            if self
                .end
                .is_some_and(|e| at(m.offset).saturating_add(half) >= e)
            {
                self.report.after_end += 1;
                continue;
            }
            let any = best(&|_| true) >= half;
            let mut unexplained = !any;
            match m.fate {
                Fate::Delivered => {
                    if best(&GapKind::is_dropped) >= half {
                        self.report.dropped_explained += 1;
                    }
                }
                Fate::LostOnNetwork => {
                    let real = best(&|k| k == GapKind::InferredLoss);
                    self.report.inferred_loss_true =
                        self.report.inferred_loss_true.saturating_add(real);
                    self.recalled.push((m.index, real >= half));
                }
                Fate::NotAmongFourLoudest => {}
                Fate::Pending => unexplained = false,
            }
            if unexplained {
                self.report.unexplained += 1;
                if self.report.examples.len() < 16 {
                    self.report.examples.push((m.index, at(m.offset)));
                }
            }
        }
    }

    fn close_run(&mut self, before_delivered: bool) {
        if self.run.indices.is_empty() {
            return;
        }
        if self
            .run
            .indices
            .iter()
            .any(|i| !self.recalled.iter().any(|r| r.0 == *i))
        {
            // The run's place is not settled by a copy found after it: decide at the last placement.
            let o = self.offset;
            self.resolve(o, o);
        }
        let inside = self.run.after_delivered && before_delivered;
        for &i in &self.run.indices {
            let recalled = self.recalled.iter().any(|r| r.0 == i && r.1);
            self.report.lost_network_recalled += u64::from(recalled);
            if inside {
                self.report.lost_inside_speech += 1;
                self.report.lost_inside_speech_recalled += u64::from(recalled);
            }
        }
        self.run.indices.clear();
        // Decisions older than the run are no longer needed.
        self.recalled.clear();
    }

    /// The findings (after the last frame).
    pub fn finish(mut self) -> AuditReport {
        let o = self.offset;
        self.resolve(o, o);
        self.close_run(false);
        self.report
    }
}

/// A recording folder could not be audited.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file could not be read.
    #[error("{path}: {reason}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The folder does not hold a participant the meeting had.
    #[error("no participant {0:?} in metadata.json")]
    Missing(String),
}

/// Audits every participant of a closed recording folder (`participants/<name>.wav`, `metadata.json`'s gaps)
/// against the meeting `participants` that were simulated and the simulator's ground truth `truth`.
///
/// Every frame the simulator says was sent is audited, with its fate from the ground truth
/// ([`bot_adapter::sim::ParticipantReport::frames`]).
///
/// # Errors
/// A stem or `metadata.json` that cannot be read, or a participant the folder does not have.
pub fn audit_folder(
    dir: &std::path::Path,
    participants: &[bot_adapter::sim::SimParticipant],
    truth: &bot_adapter::sim::SimReport,
) -> Result<Vec<(String, AuditReport)>, AuditError> {
    let read = |path: std::path::PathBuf| {
        std::fs::read(&path).map_err(|e| AuditError::Read {
            path,
            reason: e.to_string(),
        })
    };
    let md_path = dir.join("metadata.json");
    let md: serde_json::Value =
        serde_json::from_slice(&read(md_path.clone())?).map_err(|e| AuditError::Read {
            path: md_path,
            reason: e.to_string(),
        })?;
    let mut out = Vec::new();
    for (p, r) in participants.iter().zip(&truth.participants) {
        let entry = md["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == p.name.as_str())
            .ok_or_else(|| AuditError::Missing(p.name.clone()))?;
        let gaps = entry["gaps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| {
                let kind = GapKind::parse(g["kind"].as_str()?, g["cause"].as_str())?;
                Some(Gap::new(
                    MediaTime::from_micros(g["start_us"].as_i64()?),
                    MediaTime::from_micros(g["length_us"].as_i64()?),
                    kind,
                ))
            })
            .collect();
        let stem_path = dir.join(format!("participants/{}.wav", p.name));
        let reader = hound::WavReader::open(&stem_path).map_err(|e| AuditError::Read {
            path: stem_path.clone(),
            reason: e.to_string(),
        })?;
        let stem = reader.into_samples::<i16>().map_while(Result::ok);
        let end = md["recording"]["duration_us"]
            .as_i64()
            .map_or(MediaTime::MAX, MediaTime::from_micros);
        let mut audit = StemAudit::new(stem, gaps).with_end(end);
        for f in r.frames(&p.audio) {
            let fate = match f.fate {
                FrameFate::Silent | FrameFate::Muted => continue, // not sent
                FrameFate::Lost => Fate::LostOnNetwork,
                FrameFate::Sent { delivered, .. } if delivered > 0 => Fate::Delivered,
                FrameFate::Sent { suppressed, .. } if suppressed > 0 => Fate::NotAmongFourLoudest,
                FrameFate::Sent { .. } => Fate::Pending,
            };
            audit.frame(f.index, f.capture, &p.audio.frame(f.index), fate);
        }
        out.push((p.name.clone(), audit.finish()));
    }
    Ok(out)
}

//! The impairment spec: what the network between each sender and the Teams media platform does to audio frames,
//! and which timestamp quirks of the platform to reproduce.
//!
//! Spelled as comma-separated `key=value` tokens, any subset, e.g.
//! `jitter=90ms,loss=3%,burst=30%,reorder=0.15%,dup=1%,drift=200ppm,zerots=5s,backjump=2s@60s`, or one of the
//! words `none` (no impairment) and `teams-x3` (three times Microsoft's network targets). Tokens are applied left
//! to right, so a later token overrides an earlier one (`teams-x3,loss=0%` is the preset without random loss).
//!
//! | token | meaning |
//! |---|---|
//! | `jitter=D` | each sent frame's one-way delay is 20 ms plus a smooth random process bounded to `[0, D]` (AR(1), see [`crate::sim`]) |
//! | `loss=P%` | each sent frame is lost independently with probability P |
//! | `burst=Q%` | on average one 200 ms window every 10 s per sender (Poisson); inside it each frame is lost with probability Q |
//! | `reorder=P%` | with probability P a frame is held back an extra 1–3 frame intervals (+10 ms), so it arrives after later frames |
//! | `dup=P%` | with probability P a delivered frame arrives twice; the copy 1–20 ms after the original |
//! | `drift=Xppm` | sender clocks run fast or slow: the first participant by exactly X ppm, the others by a seeded value in `[-|X|, +|X|]` |
//! | `zerots=D` | `OriginalSenderTimestamp` is 0 for each sender's first D of sending (by its own clock) |
//! | `backjump=B@T` | every frame captured at or after T (call time) carries an `OriginalSenderTimestamp` B lower |
//!
//! Durations take `s`, `ms` or `us` (decimals allowed, rounded to 100 ns); percentages need `%` and lie in
//! `[0, 100]`; drift needs `ppm` and lies in `[-10000, 10000]`.

use std::fmt;
use std::str::FromStr;

use media_core::time::{TICKS_PER_MILLI, TICKS_PER_SECOND};
use media_core::MediaTime;

/// Largest `jitter=` accepted.
pub const MAX_JITTER: MediaTime = MediaTime::from_secs(10);
/// Largest `|drift|` accepted, in ppm (1 %).
pub const MAX_DRIFT_PPM: f64 = 10_000.0;

/// A step back of every sender's `OriginalSenderTimestamp`, as after a media reconnect.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackJump {
    /// How far the timestamps step back.
    pub by: MediaTime,
    /// From which call time on (frames captured at or after it carry the lower timestamps).
    pub at: MediaTime,
}

/// What the network and the platform do to the frames; see the [module docs](self) for each field's spelling.
///
/// `Impairments::default()` is `none`: zero jitter, no loss, no reordering, no duplicates, no drift, true
/// timestamps from the first frame.
///
/// # Examples
/// ```
/// use bot_adapter::sim::Impairments;
/// use media_core::MediaTime;
///
/// let i: Impairments = "teams-x3,drift=200ppm".parse().unwrap();
/// assert_eq!(i.jitter, MediaTime::from_millis(90));
/// assert_eq!(i.loss_percent, 3.0);
/// assert_eq!(i.to_string(), "jitter=90ms,loss=3%,burst=30%,reorder=0.15%,dup=1%,drift=200ppm");
/// assert_eq!(i.to_string().parse::<Impairments>().unwrap(), i);
/// assert!("loss=3".parse::<Impairments>().is_err()); // a percentage needs its `%`
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Impairments {
    /// Upper bound of the delay variation added to the 20 ms base delay (`jitter=`).
    pub jitter: MediaTime,
    /// Independent loss probability, in percent (`loss=`).
    pub loss_percent: f64,
    /// Loss probability inside burst windows, in percent (`burst=`).
    pub burst_percent: f64,
    /// Probability that a frame is held back behind later ones, in percent (`reorder=`).
    pub reorder_percent: f64,
    /// Probability that a frame is delivered twice, in percent (`dup=`).
    pub dup_percent: f64,
    /// Clock drift of the first sender in ppm, and the bound for the others (`drift=`).
    pub drift_ppm: f64,
    /// How long each sender stamps `OriginalSenderTimestamp = 0` at its start (`zerots=`).
    pub zero_ts: MediaTime,
    /// The reconnect step of every sender's timestamps (`backjump=`).
    pub back_jump: Option<BackJump>,
}

/// An impairment spec that could not be parsed or is out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad impairment token `{token}`: {reason}")]
pub struct ParseImpairmentsError {
    /// The offending token as written (or the field name when a built value is out of range).
    pub token: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn bad(token: &str, reason: &'static str) -> ParseImpairmentsError {
    ParseImpairmentsError {
        token: token.to_string(),
        reason,
    }
}

impl Impairments {
    /// No impairment at all (the same as `Default`).
    pub const NONE: Impairments = Impairments {
        jitter: MediaTime::ZERO,
        loss_percent: 0.0,
        burst_percent: 0.0,
        reorder_percent: 0.0,
        dup_percent: 0.0,
        drift_ppm: 0.0,
        zero_ts: MediaTime::ZERO,
        back_jump: None,
    };

    /// `teams-x3`: three times Microsoft's client-to-edge targets (jitter 30 ms, loss 1 %, burst loss 10 % in any
    /// 200 ms, reorder 0.05 %), plus 1 % duplicates.
    pub const TEAMS_X3: Impairments = Impairments {
        jitter: MediaTime::from_millis(90),
        loss_percent: 3.0,
        burst_percent: 30.0,
        reorder_percent: 0.15,
        dup_percent: 1.0,
        drift_ppm: 0.0,
        zero_ts: MediaTime::ZERO,
        back_jump: None,
    };

    /// True when nothing is impaired.
    pub fn is_none(&self) -> bool {
        *self == Impairments::NONE
    }

    /// Checks every field's range (the parser only builds valid values; this guards hand-built ones).
    ///
    /// # Errors
    /// A [`ParseImpairmentsError`] whose `token` names the field.
    pub fn validate(&self) -> Result<(), ParseImpairmentsError> {
        if self.jitter < MediaTime::ZERO || self.jitter > MAX_JITTER {
            return Err(bad("jitter", "must lie in [0, 10s]"));
        }
        for (name, p) in [
            ("loss", self.loss_percent),
            ("burst", self.burst_percent),
            ("reorder", self.reorder_percent),
            ("dup", self.dup_percent),
        ] {
            if !(0.0..=100.0).contains(&p) {
                return Err(bad(name, "percentage must lie in [0, 100]"));
            }
        }
        if !(-MAX_DRIFT_PPM..=MAX_DRIFT_PPM).contains(&self.drift_ppm) {
            return Err(bad("drift", "must lie in [-10000, 10000] ppm"));
        }
        if self.zero_ts < MediaTime::ZERO {
            return Err(bad("zerots", "must not be negative"));
        }
        if let Some(b) = self.back_jump {
            if b.by <= MediaTime::ZERO || b.at < MediaTime::ZERO {
                return Err(bad(
                    "backjump",
                    "the step must be positive and its time not negative",
                ));
            }
        }
        Ok(())
    }
}

fn parse_percent(token: &str, v: &str) -> Result<f64, ParseImpairmentsError> {
    let num = v
        .strip_suffix('%')
        .ok_or_else(|| bad(token, "a percentage needs a trailing `%`, e.g. loss=3%"))?;
    let p: f64 = num.trim().parse().map_err(|_| bad(token, "not a number"))?;
    if !(0.0..=100.0).contains(&p) {
        return Err(bad(token, "percentage must lie in [0, 100]"));
    }
    Ok(p)
}

fn parse_duration(token: &str, v: &str) -> Result<MediaTime, ParseImpairmentsError> {
    let v = v.trim();
    let (num, ticks_per_unit) = if let Some(n) = v.strip_suffix("ms") {
        (n, TICKS_PER_MILLI as f64)
    } else if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs")) {
        (n, 10.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, TICKS_PER_SECOND as f64)
    } else {
        return Err(bad(token, "a duration needs a unit: s, ms or us"));
    };
    let x: f64 = num.trim().parse().map_err(|_| bad(token, "not a number"))?;
    let ticks = (x * ticks_per_unit).round();
    // 1e15 ticks = 3.2 years: far beyond any call, far below i64 overflow.
    if !ticks.is_finite() || !(0.0..=1e15).contains(&ticks) {
        return Err(bad(token, "duration out of range"));
    }
    Ok(MediaTime::from_ticks(ticks as i64))
}

fn parse_ppm(token: &str, v: &str) -> Result<f64, ParseImpairmentsError> {
    let num = v
        .strip_suffix("ppm")
        .ok_or_else(|| bad(token, "drift needs the unit ppm, e.g. drift=200ppm"))?;
    let x: f64 = num.trim().parse().map_err(|_| bad(token, "not a number"))?;
    if !(-MAX_DRIFT_PPM..=MAX_DRIFT_PPM).contains(&x) {
        return Err(bad(token, "must lie in [-10000, 10000] ppm"));
    }
    Ok(x)
}

impl FromStr for Impairments {
    type Err = ParseImpairmentsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = Impairments::NONE;
        if s.trim().is_empty() {
            return Err(bad(s, "empty spec (write `none` for no impairment)"));
        }
        for raw in s.split(',') {
            let token = raw.trim();
            match token {
                "none" => {
                    out = Impairments::NONE;
                    continue;
                }
                "teams-x3" => {
                    let keep = (out.drift_ppm, out.zero_ts, out.back_jump);
                    out = Impairments::TEAMS_X3;
                    (out.drift_ppm, out.zero_ts, out.back_jump) = keep;
                    continue;
                }
                "" => return Err(bad(token, "empty token (two commas in a row?)")),
                _ => {}
            }
            let (key, value) = token
                .split_once('=')
                .ok_or_else(|| bad(token, "expected key=value, `none` or `teams-x3`"))?;
            let value = value.trim();
            match key.trim() {
                "jitter" => {
                    let j = parse_duration(token, value)?;
                    if j > MAX_JITTER {
                        return Err(bad(token, "jitter must be at most 10s"));
                    }
                    out.jitter = j;
                }
                "loss" => out.loss_percent = parse_percent(token, value)?,
                "burst" => out.burst_percent = parse_percent(token, value)?,
                "reorder" => out.reorder_percent = parse_percent(token, value)?,
                "dup" => out.dup_percent = parse_percent(token, value)?,
                "drift" => out.drift_ppm = parse_ppm(token, value)?,
                "zerots" => out.zero_ts = parse_duration(token, value)?,
                "backjump" => {
                    let (by, at) = value.split_once('@').ok_or_else(|| {
                        bad(token, "expected backjump=STEP@TIME, e.g. backjump=2s@60s")
                    })?;
                    let by = parse_duration(token, by)?;
                    if by == MediaTime::ZERO {
                        return Err(bad(token, "the step must be positive"));
                    }
                    out.back_jump = Some(BackJump {
                        by,
                        at: parse_duration(token, at)?,
                    });
                }
                _ => {
                    return Err(bad(
                        token,
                        "unknown key (known: jitter, loss, burst, reorder, dup, drift, zerots, backjump)",
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// Writes a duration in the largest unit that keeps it exact (`90ms`, `5s`, `1500us`).
struct Dur(MediaTime);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0.ticks();
        if t % TICKS_PER_SECOND == 0 {
            write!(f, "{}s", t / TICKS_PER_SECOND)
        } else if t % TICKS_PER_MILLI == 0 {
            write!(f, "{}ms", t / TICKS_PER_MILLI)
        } else if t % 10 == 0 {
            write!(f, "{}us", t / 10)
        } else {
            write!(f, "{}us", t as f64 / 10.0)
        }
    }
}

impl fmt::Display for Impairments {
    /// Writes the canonical spelling: `none`, or the non-default fields in the order jitter, loss, burst,
    /// reorder, dup, drift, zerots, backjump. Parsing it back gives an equal value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("none");
        }
        let mut parts: Vec<String> = Vec::new();
        if self.jitter != MediaTime::ZERO {
            parts.push(format!("jitter={}", Dur(self.jitter)));
        }
        for (name, p) in [
            ("loss", self.loss_percent),
            ("burst", self.burst_percent),
            ("reorder", self.reorder_percent),
            ("dup", self.dup_percent),
        ] {
            if p != 0.0 {
                parts.push(format!("{name}={p}%"));
            }
        }
        if self.drift_ppm != 0.0 {
            parts.push(format!("drift={}ppm", self.drift_ppm));
        }
        if self.zero_ts != MediaTime::ZERO {
            parts.push(format!("zerots={}", Dur(self.zero_ts)));
        }
        if let Some(b) = self.back_jump {
            parts.push(format!("backjump={}@{}", Dur(b.by), Dur(b.at)));
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_and_round_trips() {
        let s = "jitter=90ms,loss=3%,burst=30%,reorder=0.15%,dup=1%,drift=-200ppm,zerots=5s,backjump=2s@60s";
        let i: Impairments = s.parse().unwrap();
        assert_eq!(i.jitter, MediaTime::from_millis(90));
        assert_eq!(i.reorder_percent, 0.15);
        assert_eq!(i.drift_ppm, -200.0);
        assert_eq!(i.zero_ts, MediaTime::from_secs(5));
        assert_eq!(
            i.back_jump,
            Some(BackJump {
                by: MediaTime::from_secs(2),
                at: MediaTime::from_secs(60)
            })
        );
        assert_eq!(i.to_string(), s);
        assert_eq!(i.to_string().parse::<Impairments>().unwrap(), i);
        for odd in [
            "jitter=1.5ms",
            "jitter=0.1us",
            "zerots=250ms,backjump=1500us@0.5s",
            "drift=0.25ppm",
            "none",
        ] {
            let i: Impairments = odd.parse().unwrap();
            assert_eq!(i.to_string().parse::<Impairments>().unwrap(), i, "{odd}");
        }
    }

    #[test]
    fn presets_and_overrides() {
        assert_eq!("none".parse::<Impairments>().unwrap(), Impairments::NONE);
        assert_eq!(
            "teams-x3".parse::<Impairments>().unwrap(),
            Impairments::TEAMS_X3
        );
        let i: Impairments = "drift=50ppm, teams-x3 ,loss=0%".parse().unwrap();
        assert_eq!(i.drift_ppm, 50.0);
        assert_eq!(i.loss_percent, 0.0);
        assert_eq!(i.burst_percent, 30.0);
        assert_eq!(Impairments::NONE.to_string(), "none");
    }

    #[test]
    fn garbage_is_refused_naming_the_token() {
        for (s, tok) in [
            ("", ""),
            ("loss=3", "loss=3"),
            ("loss=300%", "loss=300%"),
            ("jitter=90", "jitter=90"),
            ("jitter=-5ms", "jitter=-5ms"),
            ("jitter=11s", "jitter=11s"),
            ("drift=200", "drift=200"),
            ("drift=1e9ppm", "drift=1e9ppm"),
            ("loss=3%,,dup=1%", ""),
            ("wobble=3%", "wobble=3%"),
            ("teams-x4", "teams-x4"),
            ("backjump=2s", "backjump=2s"),
            ("backjump=0s@1s", "backjump=0s@1s"),
            ("loss=abc%", "loss=abc%"),
        ] {
            let e = s.parse::<Impairments>().unwrap_err();
            assert_eq!(e.token, tok, "{s}: {e}");
            assert!(e.to_string().contains("bad impairment token"), "{e}");
        }
    }

    #[test]
    fn validate_catches_hand_built_values() {
        let mut i = Impairments::TEAMS_X3;
        assert!(i.validate().is_ok());
        i.loss_percent = 101.0;
        assert_eq!(i.validate().unwrap_err().token, "loss");
        let i = Impairments {
            drift_ppm: f64::NAN,
            ..Impairments::NONE
        };
        assert_eq!(i.validate().unwrap_err().token, "drift");
    }
}

//! Who actually spoke: the stretches of a participant's received audio that stay below speech level.
//!
//! `metadata.json` tells where a participant's audio was *received*; a platform may send audio for someone
//! who says nothing (silence or comfort noise while they are among the "active" sources, a muted
//! participant's zeros), and the timeline then drew a long bar for a silent person. The stem's waveform
//! peaks (max |sample| per 100 ms bucket, [`crate::Peaks`]) tell the two apart: a bucket at or above
//! [`SPEECH_LEVEL`] is voice; the voice buckets are widened by [`HANGOVER_US`] on both sides (the pauses
//! between words and the soft ends of syllables stay speech) and what is left, when it lasts at least
//! [`MIN_QUIET_US`], is *quiet*. The timeline draws received-but-quiet audio pale and keeps the participant's
//! colour for speech ([`spoken_spans`]).

use crate::input::{speech_spans, RowInput};
use crate::spans::subtract;
use crate::Peaks;

/// The peak level (in [`Peaks::values`]' 0–255 scale) from which a bucket counts as voice: 3 ≈ an amplitude
/// of 385 of 32767, −38.6 dBFS. Comfort noise and room tone stay under it; speech peaks far above it.
pub const SPEECH_LEVEL: u8 = 3;
/// How far voice extends around each voice bucket, µs.
pub const HANGOVER_US: i64 = 300_000;
/// The shortest quiet stretch kept, µs (shorter ones are pauses within speech).
pub const MIN_QUIET_US: i64 = 1_000_000;

/// The quiet stretches `(start_us, end_us)` of a stem, in time order, from its peaks: everything in the
/// stem's time that is not within [`HANGOVER_US`] of a bucket at or above [`SPEECH_LEVEL`], in stretches of
/// at least [`MIN_QUIET_US`].
///
/// # Examples
/// ```
/// use timeline_svg::{quiet_spans, Peaks};
/// // 10 s of 100 ms buckets: silence, then speech from 4.0 s to 5.0 s, then silence.
/// let mut values = vec![0u8; 100];
/// for v in &mut values[40..50] {
///     *v = 90;
/// }
/// let p = Peaks { bucket_us: 100_000, sample_rate: 16_000, values };
/// assert_eq!(quiet_spans(&p), vec![(0, 3_700_000), (5_300_000, 10_000_000)]);
/// ```
pub fn quiet_spans(peaks: &Peaks) -> Vec<(i64, i64)> {
    let b = peaks.bucket_us.max(1);
    let end = peaks.duration_us();
    let mut voice: Vec<(i64, i64)> = Vec::new();
    for (i, &v) in peaks.values.iter().enumerate() {
        if v < SPEECH_LEVEL {
            continue;
        }
        let t = i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(b);
        let (s, e) = (
            t.saturating_sub(HANGOVER_US).max(0),
            t.saturating_add(b).saturating_add(HANGOVER_US).min(end),
        );
        match voice.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => voice.push((s, e)),
        }
    }
    let mut quiet = Vec::new();
    let mut at = 0;
    for (s, e) in voice.into_iter().chain(std::iter::once((end, end))) {
        if s.saturating_sub(at) >= MIN_QUIET_US {
            quiet.push((at, s));
        }
        at = at.max(e);
    }
    quiet
}

/// `a` within the spans of `b`.
fn intersect(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(s, e) in a {
        for &(qs, qe) in b {
            let (x, y) = (s.max(qs), e.min(qe));
            if y > x {
                out.push((x, y));
            }
        }
    }
    out
}

/// The row's sorted, merged quiet spans.
fn row_quiet(row: &RowInput) -> Vec<(i64, i64)> {
    let mut q: Vec<(i64, i64)> = row.quiet.iter().copied().filter(|(s, e)| e > s).collect();
    q.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(q.len());
    for (s, e) in q {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Where the participant spoke: their received audio ([`speech_spans`]) minus its quiet stretches
/// ([`RowInput::quiet`]). Without quiet spans (no peaks known) it is the received audio.
///
/// # Examples
/// ```
/// use timeline_svg::{spoken_spans, silent_spans, RowInput};
/// let row = RowInput { name: "dave".into(), quiet: vec![(2_000, 9_000)], ..Default::default() };
/// assert_eq!(spoken_spans(&row, 10_000), vec![(0, 2_000), (9_000, 10_000)]);
/// assert_eq!(silent_spans(&row, 10_000), vec![(2_000, 9_000)]);
/// ```
pub fn spoken_spans(row: &RowInput, duration_us: i64) -> Vec<(i64, i64)> {
    subtract(&speech_spans(row, duration_us), &row_quiet(row))
}

/// Where the participant's audio was received but stayed below speech level (drawn pale).
pub fn silent_spans(row: &RowInput, duration_us: i64) -> Vec<(i64, i64)> {
    intersect(&speech_spans(row, duration_us), &row_quiet(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peaks(values: Vec<u8>) -> Peaks {
        Peaks {
            bucket_us: 100_000,
            sample_rate: 16_000,
            values,
        }
    }

    #[test]
    fn all_silent_is_one_quiet_span_and_all_voice_none() {
        assert_eq!(quiet_spans(&peaks(vec![0; 30])), vec![(0, 3_000_000)]);
        assert!(quiet_spans(&peaks(vec![200; 30])).is_empty());
        assert!(quiet_spans(&peaks(Vec::new())).is_empty());
        // Under a second of silence is a pause within speech.
        assert!(quiet_spans(&peaks(vec![0; 9])).is_empty());
    }

    #[test]
    fn words_with_short_pauses_stay_speech() {
        // Voice, 0.5 s pause, voice: the hangover bridges it.
        let mut v = vec![50u8; 10];
        v.extend([0u8; 5]);
        v.extend([50u8; 10]);
        assert!(quiet_spans(&peaks(v)).is_empty());
    }

    #[test]
    fn spans_and_rows_compose() {
        let row = RowInput {
            joined_us: Some(1_000),
            quiet: vec![(5_000, 20_000), (0, 2_000), (4_000, 6_000)],
            ..Default::default()
        };
        assert_eq!(spoken_spans(&row, 10_000), vec![(2_000, 4_000)]);
        assert_eq!(
            silent_spans(&row, 10_000),
            vec![(1_000, 2_000), (4_000, 10_000)]
        );
    }

    #[test]
    fn huge_buckets_saturate() {
        let p = Peaks {
            bucket_us: i64::MAX,
            sample_rate: 16_000,
            values: vec![0, 9, 0],
        };
        let q = quiet_spans(&p);
        assert!(q.iter().all(|(s, e)| e >= s), "{q:?}");
    }
}

//! The audio track driven as the recorder drives it: placement, gaps and their kinds, late frames.

mod common;

use bytes::Bytes;
use common::pcm_frame;
use media_core::ledger::GapKind;
use media_core::track::{AudioTrack, Gap, TrackConfig};
use media_core::{AudioFormat, AudioFrame, MediaTime};
use media_core::{FrameTiming, SourceId, SourceTimestamp};

const F: i64 = 320;

fn frame(ts: u64, value: i16) -> AudioFrame {
    let mut v = Vec::with_capacity(640);
    for i in 0..F {
        v.extend_from_slice(&(value.wrapping_add(i as i16)).to_le_bytes());
    }
    AudioFrame {
        source: SourceId::audio(1),
        timing: FrameTiming {
            timestamp: SourceTimestamp::new(ts),
            ..Default::default()
        },
        format: AudioFormat::PCM16K,
        is_silence: false,
        payload: Bytes::from(v),
    }
}

fn ms(v: i64) -> MediaTime {
    MediaTime::from_millis(v)
}

/// Drives a track with (frame index, delivery ms) arrivals, pulling 20 ms ticks as time passes, and
/// returns the output.
fn drive(arrivals: &[(i64, i64)], total_frames: i64) -> (Vec<i16>, AudioTrack) {
    let mut t = AudioTrack::new(TrackConfig::default());
    let mut out = vec![0i16; (total_frames * F) as usize];
    let mut next_tick = 0i64;
    let window = 200 + 20;
    let mut idx = 0;
    let end = total_frames * 20 + 2000;
    for now in (0..end).step_by(5) {
        while idx < arrivals.len() && arrivals[idx].1 <= now {
            let (k, at) = arrivals[idx];
            t.push(
                frame(1_000_000 + (k * 200_000) as u64, (k * 1000) as i16),
                ms(at),
                ms(now),
            );
            idx += 1;
        }
        while next_tick < total_frames && (next_tick + 1) * 20 + window <= now {
            let s = (next_tick * F) as usize;
            t.pull(next_tick * F, &mut out[s..s + F as usize], ms(now));
            next_tick += 1;
        }
    }
    (out, t)
}

fn expected(present: &[i64], total: i64) -> Vec<i16> {
    let mut e = vec![0i16; (total * F) as usize];
    for &k in present {
        for i in 0..F {
            e[(k * F + i) as usize] = ((k * 1000) as i16).wrapping_add(i as i16);
        }
    }
    e
}

#[test]
fn in_order_frames_are_written_back_to_back() {
    let arr: Vec<(i64, i64)> = (0..50).map(|k| (k, k * 20 + 20)).collect();
    let (out, t) = drive(&arr, 50);
    assert_eq!(out, expected(&(0..50).collect::<Vec<_>>(), 50));
    assert_eq!(t.stats().written, 50);
    assert!(t.gaps().is_empty());
}

#[test]
fn a_delayed_frame_lands_at_its_true_position_and_a_lost_one_is_a_gap() {
    // Frame 10 arrives 150 ms late (inside the window); frame 20 and 21 never arrive.
    let mut arr: Vec<(i64, i64)> = (0..50)
        .filter(|k| *k != 20 && *k != 21)
        .map(|k| (k, k * 20 + 20 + if k == 10 { 150 } else { 0 }))
        .collect();
    arr.sort_by_key(|a| a.1);
    let (out, t) = drive(&arr, 50);
    let present: Vec<i64> = (0..50).filter(|k| *k != 20 && *k != 21).collect();
    assert_eq!(out, expected(&present, 50));
    assert_eq!(
        t.gaps(),
        &[Gap {
            start: ms(400),
            length: ms(40),
            kind: GapKind::InferredLoss,
            // The quieter frame around the break: frame 19, samples 19,000 + 0..320.
            level: 19_159,
        }]
    );
    assert_eq!(t.stats().written, 48);
    assert_eq!(t.stats().late, 0);
}

#[test]
fn a_frame_beyond_the_window_is_late_and_counted() {
    let mut arr: Vec<(i64, i64)> = (0..50)
        .map(|k| (k, k * 20 + 20 + if k == 10 { 600 } else { 0 }))
        .collect();
    arr.sort_by_key(|a| a.1);
    let (out, t) = drive(&arr, 50);
    let present: Vec<i64> = (0..50).filter(|k| *k != 10).collect();
    assert_eq!(out, expected(&present, 50));
    assert_eq!(t.stats().late, 1);
    assert_eq!(t.stats().written, 49);
}

/// Found by `fuzz/` target `track_mixer`: a frame refused as overrun (its place beyond the ring) had
/// already noted the gap before it, and the next frame noted it again: two gaps with the same start.
#[test]
fn an_overrun_frame_does_not_note_its_gap_twice() {
    let mut t = AudioTrack::new(TrackConfig::default());
    t.push(frame(1_000_000, 1), ms(20), ms(20));
    t.release(ms(300));
    // 6 s later in sender time, delivered on time, but nothing pulled yet: beyond the 4 s ring.
    t.push(frame(1_000_000 + 300 * 200_000, 2), ms(6020), ms(6020));
    t.release(ms(6300));
    t.push(frame(1_000_000 + 301 * 200_000, 3), ms(6320), ms(6320));
    t.release(ms(6600));
    assert_eq!(t.stats().overrun, 2);
    for w in t.gaps().windows(2) {
        assert!(
            w[0].start.saturating_add(w[0].length) <= w[1].start,
            "{:?}",
            t.gaps()
        );
    }
}

#[test]
fn drained_gaps_leave_the_open_one_to_grow() {
    // Frames 10, 20 and 21, 22 never arrive: two gaps, the second noted in two steps.
    let arr: Vec<(i64, i64)> = (0..50)
        .filter(|k| ![10, 20, 21, 22].contains(k))
        .map(|k| (k, k * 20 + 20))
        .collect();
    let (_, mut t) = drive(&arr, 50);
    let closed: Vec<Gap> = t.drain_gaps(false).collect();
    assert_eq!(
        closed,
        vec![Gap {
            start: ms(200),
            length: ms(20),
            kind: GapKind::InferredLoss,
            level: 9_159,
        }]
    );
    assert_eq!(
        t.gaps(),
        &[Gap {
            start: ms(400),
            length: ms(60),
            kind: GapKind::InferredLoss,
            level: 19_159,
        }]
    );
    assert_eq!(t.drain_gaps(true).count(), 1);
    assert!(t.gaps().is_empty());
}

/// A frame whose samples are `value` except the first `quiet_head` and last `quiet_tail`, which are zero.
fn faded(ts: u64, value: i16, quiet_head: usize, quiet_tail: usize) -> AudioFrame {
    let n = F as usize;
    let pcm: Vec<u8> = (0..n)
        .map(|i| {
            if i < quiet_head || i >= n - quiet_tail {
                0i16
            } else {
                value
            }
        })
        .flat_map(|s| s.to_le_bytes())
        .collect();
    AudioFrame {
        payload: Bytes::from(pcm),
        ..frame(ts, 0)
    }
}

/// A sender that pauses (DTX) ends on a frame that fades to silence and resumes on one that starts from it:
/// the break is nothing sent, although both frames are loud on the whole. The same break between frames cut
/// off mid-sound is media lost on the way. (Found on the 60-minute stand-up: 150–200 ms pauses between
/// sentences were reported as 5 s of inferred loss with no impairment at all.)
#[test]
fn a_pause_that_fades_out_is_nothing_sent_and_a_break_mid_sound_is_a_loss() {
    for (fades, kind) in [(true, GapKind::NothingSent), (false, GapKind::InferredLoss)] {
        let mut t = AudioTrack::new(TrackConfig::default());
        let stamp = |k: u64| 1_000_000 + k * 200_000;
        let quiet = if fades { 40 } else { 0 };
        // Frames 0..10, a 100 ms break (5 frames), frames 15..25.
        for k in (0..10).chain(15..25) {
            let (head, tail) = match k {
                9 => (0, quiet),
                15 => (quiet, 0),
                _ => (0, 0),
            };
            let at = ms(k as i64 * 20 + 20);
            t.push(faded(stamp(k), 5_000, head, tail), at, at);
        }
        t.flush();
        let breaks: Vec<&Gap> = t.gaps().iter().filter(|g| g.start >= ms(200)).collect();
        assert_eq!(breaks.len(), 1, "{:?}", t.gaps());
        assert_eq!((breaks[0].start, breaks[0].length), (ms(200), ms(100)));
        assert_eq!(breaks[0].kind, kind, "fades {fades}");
    }
}

#[test]
fn wrong_format_is_counted_not_written() {
    let mut t = AudioTrack::new(TrackConfig::default());
    let mut f = frame(5, 0);
    f.format = AudioFormat::PCM44K_STEREO;
    t.push(f, ms(20), ms(20));
    assert_eq!(t.stats().wrong_format, 1);
    assert_eq!(t.stats().written, 0);
}

// ---- Long silences, exact copies, drift: the placement rules on calls shaped like real ones. ----

/// A sender's arrival: its frame index, when the platform delivered it (ms of recording time), and the
/// sender's clock reading for it (ticks, drifted when the sender's clock runs fast or slow).
#[derive(Clone, Copy, Debug)]
struct Arrival {
    key: i64,
    at_ms: f64,
    stamp: u64,
}

/// A frame whose samples encode its key (every sample distinct within a few seconds, never digital zero),
/// so a copy in the output can be found and checked exactly.
fn keyed_frame(key: i64, stamp: u64) -> AudioFrame {
    pcm_frame(stamp, (0..F).map(|i| keyed_sample(key, i)))
}

/// Sample `i` of key `k`'s frame: the first sample names the key (unique over 10 minutes of frames).
fn keyed_sample(k: i64, i: i64) -> i16 {
    if i == 0 {
        1000 + (k % 30_000) as i16
    } else {
        1000 + ((k * 31 + i * 97) % 30_000) as i16
    }
}

/// Where each frame's copy starts in the output, and how each was written.
struct Outcome {
    track: AudioTrack,
    /// Output start of each key's first sample, when its copy was found whole.
    found: std::collections::BTreeMap<i64, i64>,
    gaps: Vec<Gap>,
}

/// Drives a track as the recorder does (arrivals in order of delivery, 20 ms ticks pulled once the late
/// window has passed) for `total_ms`, streaming the output through a 10 s window in which each arrived key's
/// copy is looked for (the output is never kept whole, so hour-long calls run in little memory).
fn run(mut arrivals: Vec<Arrival>, total_ms: i64, cfg: TrackConfig) -> Outcome {
    arrivals.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    let mut t = AudioTrack::new(cfg);
    let mut keys: Vec<i64> = arrivals.iter().map(|a| a.key).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut pending = keys.into_iter().peekable();
    let window = 500_000usize; // samples kept: ~31 s
    let mut out: std::collections::VecDeque<i16> =
        std::collections::VecDeque::with_capacity(window);
    let mut out_start = 0i64; // sample position of out[0]
    let mut found = std::collections::BTreeMap::new();
    let mut offset = 0i64;
    let mut gaps = Vec::new();
    let mut tick = vec![0i16; F as usize];
    let mut next_tick = 0i64;
    let mut idx = 0;
    let latency = 220i64;
    // Looks for the copies of keys whose (rough) place is well inside the window.
    let mut look =
        |out: &std::collections::VecDeque<i16>, out_start: i64, upto: i64, last: bool| {
            while let Some(&k) = pending.peek() {
                // A key's place is final once the output is well past it (placement is within seconds of k·F).
                if !last && k * F > upto - 100_000 {
                    break;
                }
                pending.next();
                let first = keyed_sample(k, 0);
                let whole = |i: usize| {
                    (0..F as usize).all(|j| out.get(i + j) == Some(&keyed_sample(k, j as i64)))
                };
                // Where the last frame found says this one goes (a spurt is contiguous), else a search near k·F.
                let hint = (k * F + offset - out_start).max(0) as usize;
                let at = if whole(hint) {
                    Some(hint)
                } else {
                    let lo = hint.saturating_sub(48_000);
                    (lo..(hint + 48_000).min(out.len())).find(|&i| out[i] == first && whole(i))
                };
                if let Some(i) = at {
                    found.insert(k, out_start + i as i64);
                    offset = out_start + i as i64 - k * F;
                }
            }
        };
    let mut now_ms = 0i64;
    while now_ms <= total_ms + 1000 {
        let now = ms(now_ms);
        while idx < arrivals.len() && arrivals[idx].at_ms <= now_ms as f64 {
            let a = arrivals[idx];
            let delivered = MediaTime::from_ticks((a.at_ms * 10_000.0).round() as i64);
            t.push(keyed_frame(a.key, a.stamp), delivered, now);
            idx += 1;
        }
        while (next_tick + 1) * 20 + latency <= now_ms && next_tick * 20 < total_ms {
            t.pull(next_tick * F, &mut tick, now);
            if out.len() + tick.len() > window {
                // Before dropping the oldest samples, every key placed there has been looked for.
                look(&out, out_start, out_start + out.len() as i64, false);
                let n = out.len() + tick.len() - window;
                out.drain(..n);
                out_start += n as i64;
            }
            out.extend(tick.iter().copied());
            next_tick += 1;
            gaps.extend(t.drain_gaps(false));
        }
        // Idle stretches (minutes of silence) advance in big steps.
        now_ms += if idx < arrivals.len() && arrivals[idx].at_ms > (now_ms + 5_000) as f64 {
            1000
        } else {
            5
        };
    }
    t.flush();
    look(&out, out_start, i64::MAX, true);
    gaps.extend(t.drain_gaps(true));
    Outcome {
        track: t,
        found,
        gaps,
    }
}

/// Talk spurts (start ms, length ms) of a sender whose clock runs `ppm` fast, delivered `delay_ms(k)` after
/// capture.
fn spurts(list: &[(i64, i64)], ppm: f64, delay_ms: impl Fn(i64) -> f64) -> Vec<Arrival> {
    let epoch = 7_000_000_000u64;
    let mut v = Vec::new();
    for &(start, len) in list {
        for k in start / 20..(start + len) / 20 {
            let capture = k as f64 * 20.0 / (1.0 + ppm * 1e-6);
            v.push(Arrival {
                key: k,
                at_ms: capture + 20.0 + delay_ms(k),
                stamp: epoch + (k * 200_000) as u64,
            });
        }
    }
    v
}

#[test]
fn a_speaker_silent_for_11_s_2_min_or_20_min_keeps_everything_said_afterwards() {
    for silence_s in [11i64, 120, 1200] {
        let first = (1_000, 5_000);
        let second = (6_000 + silence_s * 1000, 5_000);
        let third = (second.0 + 5_000 + silence_s * 1000, 3_000);
        let arr = spurts(&[first, second, third], 0.0, |_| 0.0);
        let sent = arr.len() as u64;
        let total = third.0 + third.1 + 1000;
        let o = run(arr, total, TrackConfig::default());
        let s = o.track.stats();
        assert_eq!(
            (s.delivered, s.written),
            (sent, sent),
            "{silence_s} s: {s:?}"
        );
        assert_eq!(
            o.found.len() as u64,
            sent,
            "{silence_s} s: every frame copied whole"
        );
        // Without jitter or drift each frame lands exactly at its capture time (the first one's place).
        let base = o.found[&(first.0 / 20)] - first.0 / 20 * F;
        for (k, pos) in &o.found {
            assert_eq!(*pos, base + k * F, "{silence_s} s: frame {k}");
        }
        // The silences are ledgered as nothing sent, exactly as long as they were (after the second before
        // the first spurt).
        assert_eq!(o.gaps.len(), 3, "{silence_s} s: {:?}", o.gaps);
        assert!(o.gaps.iter().all(|g| g.kind == GapKind::NothingSent));
        assert_eq!(o.gaps[0].length, MediaTime::from_secs(1));
        for g in &o.gaps[1..] {
            assert_eq!(g.length, MediaTime::from_secs(silence_s));
        }
    }
}

/// Deterministic jitter in 0..`max` ms that moves slowly (as the simulator's AR(1) network does).
fn wobble(k: i64, max: f64) -> f64 {
    let x = (k as f64 * 0.013).sin() * 0.5
        + (k as f64 * 0.0071 + 1.0).sin() * 0.3
        + ((k * 7919) % 97) as f64 / 97.0 * 0.2;
    (x * 0.5 + 0.5).clamp(0.0, 1.0) * max
}

#[test]
fn without_drift_every_frame_is_an_unbroken_exact_copy_under_jitter() {
    // Speech with pauses of 0.3–4 s, 90 ms of slowly moving jitter, an early frame delayed far more than
    // later ones (the offset estimate improves as the call goes on), a few frames lost.
    let mut list = Vec::new();
    let mut t = 200;
    for i in 0..60i64 {
        let len = 800 + (i * 373) % 3000;
        list.push((t, len));
        t += len + 300 + (i * 977) % 3700;
    }
    let lost = |k: i64| k % 97 == 13 || k % 211 == 5;
    let mut arr = spurts(&list, 0.0, |k| {
        wobble(k, 90.0) + if k < 30 { 60.0 } else { 0.0 }
    });
    arr.retain(|a| !lost(a.key));
    let delivered = arr.len() as u64;
    let o = run(arr, t + 1000, TrackConfig::default());
    let s = o.track.stats();
    assert_eq!(s.written, delivered, "{s:?}");
    assert_eq!(
        (s.slip_inserted, s.slip_dropped),
        (0, 0),
        "no drift, no slip"
    );
    assert_eq!(o.found.len() as u64, delivered, "every frame copied whole");
    // Within a spurt the sender's spacing is kept exactly, across lost frames too.
    for &(start, len) in &list {
        let keys: Vec<i64> = (start / 20..(start + len) / 20)
            .filter(|k| !lost(*k))
            .collect();
        for w in keys.windows(2) {
            assert_eq!(
                o.found[&w[1]] - o.found[&w[0]],
                (w[1] - w[0]) * F,
                "spurt at {start} ms"
            );
        }
    }
    // Every lost frame inside speech is ledgered as an inferred loss; nothing is dropped here.
    let losses: i64 = o
        .gaps
        .iter()
        .filter(|g| g.kind == GapKind::InferredLoss)
        .map(|g| g.length.as_millis())
        .sum();
    let inside: i64 = list
        .iter()
        .map(|&(s, l)| (s / 20 + 1..(s + l) / 20 - 1).filter(|k| lost(*k)).count() as i64 * 20)
        .sum();
    assert_eq!(losses, inside, "{:?}", o.gaps);
    assert!(o.gaps.iter().all(|g| !g.kind.is_dropped()));
}

#[test]
fn drift_inside_long_speech_is_followed_at_the_rate_it_requires() {
    // One 8-minute monologue after 2 minutes of short turns, from a sender 200 ppm fast: the clock must
    // measure the drift, and the speech may lose at most 1 sample in 5,000 to follow it.
    let mut list: Vec<(i64, i64)> = (0..40).map(|i| (i * 3000, 2000)).collect();
    list.push((121_000, 480_000));
    let arr = spurts(&list, 200.0, |k| wobble(k, 30.0));
    let o = run(arr, 602_000, TrackConfig::default());
    let s = o.track.stats();
    let slips = s.slip_inserted + s.slip_dropped;
    assert_eq!(
        s.slip_inserted, 0,
        "a fast sender only ever needs samples dropped"
    );
    assert!(slips > 0, "200 ppm over 8 minutes must be corrected: {s:?}");
    assert!(
        slips * 5_000 <= s.samples_written,
        "{slips} slips in {} samples",
        s.samples_written
    );
    // The monologue ends where the sender's clock says, within the speech tolerance plus a quantum.
    let k_last = (121_000 + 480_000) / 20 - 1;
    let real_ms = k_last as f64 * 20.0 / 1.0002;
    let (&k_first, &p_first) = o.found.iter().next().unwrap();
    let offset = p_first as f64 / 16.0 - k_first as f64 * 20.0;
    let end_ms = o.found.get(&k_last).map(|&p| p as f64 / 16.0 - offset);
    let err = (end_ms.unwrap_or(f64::MAX) - real_ms).abs();
    assert!(
        err <= 40.0,
        "placement error at the end of the monologue: {err} ms"
    );
}

#[test]
fn level_is_the_mean_absolute_sample_even_for_long_loud_frames() {
    // Longer than one 65,536-sample summing lane and as loud as 16-bit goes: no lane may overflow.
    let frame_of = |samples: &[i16]| pcm_frame(0, samples.iter().copied());
    let loud = vec![i16::MIN; 200_000];
    assert_eq!(media_core::track::level(&frame_of(&loud)), 32_768);
    let mixed: Vec<i16> = (0..150_001)
        .map(|i| if i % 3 == 0 { -30_000 } else { 3 })
        .collect();
    let naive = mixed
        .iter()
        .map(|s| u64::from(s.unsigned_abs()))
        .sum::<u64>()
        / mixed.len() as u64;
    assert_eq!(
        u64::from(media_core::track::level(&frame_of(&mixed))),
        naive
    );
    assert_eq!(media_core::track::level(&frame_of(&[])), 0);
}

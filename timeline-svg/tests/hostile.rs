//! Outside input never panics: random (negative, huge, overlapping, unsorted) times, random names and
//! sizes, random bytes as `metadata.json`; the output is always one well-formed `<svg>` document.

mod common;

use proptest::prelude::*;
use serde_json::{json, Value};
use timeline_svg::{
    quiet_spans, render_svg, silent_spans, speech_spans, spoken_spans, waveform_svg, GapCause,
    GapInput, Peaks, RowInput, SvgOptions, TimelineInput,
};

fn time() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -2_000_000_i64..70_000_000,
        1 => any::<i64>(),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1)],
    ]
}

fn gap() -> impl Strategy<Value = GapInput> {
    (time(), time(), 0..4_usize).prop_map(|(start_us, length_us, c)| GapInput {
        start_us,
        length_us,
        cause: GapCause::ALL[c],
    })
}

fn row() -> impl Strategy<Value = RowInput> {
    (
        ".{0,12}",
        ".{0,40}",
        proptest::option::of(time()),
        proptest::option::of(time()),
        proptest::collection::vec(gap(), 0..30),
        proptest::collection::vec((time(), time()), 0..10),
    )
        .prop_map(|(name, label, joined_us, left_us, gaps, quiet)| RowInput {
            name,
            label,
            joined_us,
            left_us,
            gaps,
            quiet,
        })
}

fn input() -> impl Strategy<Value = TimelineInput> {
    (
        time(),
        proptest::collection::vec(row(), 0..8),
        proptest::collection::vec((time(), proptest::option::of(0..20_usize)), 0..20),
        proptest::collection::vec((time(), time()), 0..6),
    )
        .prop_map(
            |(duration_us, participants, dominant, pauses)| TimelineInput {
                duration_us,
                participants,
                dominant,
                pauses,
            },
        )
}

fn options() -> impl Strategy<Value = SvgOptions> {
    (
        prop_oneof![0..3000_u32, Just(u32::MAX)],
        0..80_u32,
        prop_oneof![0..400_u32, Just(u32::MAX)],
        0..100_u32,
        (0..50_u32, 0..30_u32, 0..40_u32),
        any::<bool>(),
        0..200_u32,
    )
        .prop_map(
            |(width, row_height, label_width, right_margin, (axis, strip, font), legend, wave)| {
                SvgOptions {
                    width,
                    row_height,
                    label_width,
                    right_margin,
                    axis_height: axis,
                    dominant_height: strip,
                    font_size: font,
                    legend,
                    waveform_height: wave,
                    ..SvgOptions::default()
                }
            },
        )
}

/// Every `data-start-us` / `data-end-us` pair of the picture.
fn data_spans(svg: &str) -> Vec<(i64, i64)> {
    svg.split(" data-start-us=\"")
        .skip(1)
        .map(|rest| {
            let (s, rest) = rest.split_once('"').unwrap();
            let e = rest.strip_prefix(" data-end-us=\"").unwrap();
            let e = &e[..e.find('"').unwrap()];
            (s.parse().unwrap(), e.parse().unwrap())
        })
        .collect()
}

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        time().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(Value::Null),
        ".{0,4}".prop_map(Value::from),
    ]
}

/// `metadata.json`-shaped values with wrong types and numbers anywhere.
fn metadata() -> impl Strategy<Value = Value> {
    let gap = (json_number(), json_number(), ".{0,14}")
        .prop_map(|(s, l, k)| json!({"start_us": s, "length_us": l, "kind": k}));
    let participant = (
        ".{0,8}",
        json_number(),
        json_number(),
        proptest::collection::vec(gap, 0..10),
    )
        .prop_map(|(name, j, l, gaps)| {
            json!({"name": name, "display_name": name, "joined_us": j, "left_us": l, "gaps": gaps})
        });
    (
        json_number(),
        proptest::collection::vec(participant, 0..5),
        proptest::collection::vec((json_number(), ".{0,8}"), 0..6),
        proptest::collection::vec((json_number(), json_number()), 0..4),
    )
        .prop_map(|(d, participants, dom, pauses)| {
            let dom: Vec<Value> = dom
                .into_iter()
                .map(|(at, p)| json!({"at_us": at, "participant": p}))
                .collect();
            let pauses: Vec<Value> = pauses
                .into_iter()
                .map(|(s, e)| json!({"start_us": s, "end_us": e}))
                .collect();
            json!({"recording": {"duration_us": d}, "participants": participants,
                   "dominant_speakers": dom, "call": {"pauses": pauses}})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_input_renders_one_well_formed_svg(t in input(), o in options()) {
        let svg = render_svg(&t, &o);
        prop_assert!(svg.starts_with("<svg"));
        prop_assert!(svg.ends_with("</svg>\n"));
        common::check_well_formed(&svg).map_err(TestCaseError::fail)?;
        let d = t.duration_us.max(0);
        for (s, e) in data_spans(&svg) {
            prop_assert!(0 <= s && s < e && e <= d, "span {s}..{e} of {d}");
        }
        prop_assert_eq!(&svg, &render_svg(&t, &o));
    }

    #[test]
    fn speech_spans_are_sorted_inside_presence_and_outside_every_gap(r in row(), d in time()) {
        let spans = speech_spans(&r, d);
        let d = d.max(0);
        for w in spans.windows(2) {
            prop_assert!(w[0].1 < w[1].0, "{:?}", w);
        }
        for &(s, e) in &spans {
            prop_assert!(0 <= s && s < e && e <= d);
            prop_assert!(s >= r.joined_us.unwrap_or(0) && e <= r.left_us.unwrap_or(d));
            for g in r.gaps.iter().filter(|g| g.length_us > 0) {
                let ge = g.start_us.saturating_add(g.length_us);
                prop_assert!(e <= g.start_us || s >= ge, "speech {s}..{e} in gap {g:?}");
            }
        }
    }

    #[test]
    fn spoken_and_silent_spans_split_the_received_audio_exactly(r in row(), d in time()) {
        let total = |v: &[(i64, i64)]| v.iter().map(|(s, e)| i128::from(e - s)).sum::<i128>();
        let received = speech_spans(&r, d);
        let spoken = spoken_spans(&r, d);
        let silent = silent_spans(&r, d);
        prop_assert_eq!(total(&spoken) + total(&silent), total(&received));
        for &(s, e) in spoken.iter().chain(&silent) {
            prop_assert!(s < e);
            prop_assert!(received.iter().any(|&(a, b)| a <= s && e <= b), "{s}..{e} outside {received:?}");
        }
        for &(s, e) in &spoken {
            for &(a, b) in &silent {
                prop_assert!(e <= a || s >= b, "spoken {s}..{e} overlaps silent {a}..{b}");
            }
        }
    }

    #[test]
    fn any_stem_peaks_give_ordered_quiet_spans(values in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let p = Peaks { bucket_us: 100_000, sample_rate: 16_000, values };
        let q = quiet_spans(&p);
        for w in q.windows(2) {
            prop_assert!(w[0].1 < w[1].0, "{:?}", w);
        }
        for &(s, e) in &q {
            prop_assert!(0 <= s && e - s >= timeline_svg::MIN_QUIET_US && e <= p.duration_us());
            // No voice bucket inside a quiet span.
            let (i0, i1) = ((s / 100_000) as usize, ((e + 99_999) / 100_000) as usize);
            prop_assert!(p.values[i0..i1.min(p.values.len())].iter().all(|&v| v < timeline_svg::SPEECH_LEVEL));
        }
    }

    #[test]
    fn metadata_shaped_json_reads_and_renders(md in metadata()) {
        let bytes = serde_json::to_vec(&md).unwrap();
        if let Ok(t) = TimelineInput::from_metadata_json(&bytes) {
            let svg = render_svg(&t, &SvgOptions::default());
            common::check_well_formed(&svg).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn any_bytes_are_a_result(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(t) = TimelineInput::from_metadata_json(&bytes) {
            prop_assert!(render_svg(&t, &SvgOptions::default()).ends_with("</svg>\n"));
        }
    }

    #[test]
    fn any_peaks_draw(
        values in proptest::collection::vec(any::<u8>(), 0..3000),
        bucket_us in time(),
        d in time(),
        o in options(),
    ) {
        let p = Peaks { bucket_us, sample_rate: 16_000, values };
        let svg = waveform_svg(&p, d, &o);
        common::check_well_formed(&svg).map_err(TestCaseError::fail)?;
        let json = p.to_json();
        prop_assert!(json.starts_with(r#"{"bucket_us":"#), "{}", json);
    }
}

//! The speaker timeline of a real recording's metadata (a simulated 60 s stand-up) and of inputs built to
//! show one thing each: positions and counts of bars, gaps by cause, escaping, pauses, caps.

mod common;

use common::{check_well_formed, rects, Rect};
use timeline_svg::{
    dominant_center_y, render_svg, row_center_y, row_color, speech_spans, x_of, GapCause, GapInput,
    RowInput, SvgOptions, TimelineInput, DROPPED_COLOR, INFERRED_LOSS_COLOR, MAX_RECTS, MAX_ROWS,
    PAUSE_COLOR, UNCLASSIFIED_COLOR,
};

const SAMPLE: &[u8] = include_bytes!("data/standup-60s.json");

fn sample() -> TimelineInput {
    TimelineInput::from_metadata_json(SAMPLE).unwrap()
}

/// `r` spans x from `x_of(start)` to `x_of(end)` (within the 0.01 px rounding of the output).
fn assert_spans(r: &Rect, start: i64, end: i64, d: i64, o: &SvgOptions) {
    let (x0, x1) = (x_of(start, d, o), x_of(end, d, o));
    assert!((r.f("x") - x0).abs() <= 0.006, "{r:?}: x != {x0}");
    let w = (x1 - x0).max(1.0);
    assert!((r.f("width") - w).abs() <= 0.011, "{r:?}: width != {w}");
}

/// The rect covers the middle of row `row` (what a browser would sample at `row_center_y`).
fn assert_on_row(r: &Rect, row: usize, o: &SvgOptions) {
    let cy = row_center_y(row, o);
    assert!(
        r.f("y") < cy && r.f("y") + r.f("height") > cy,
        "{r:?} off row {row}"
    );
}

#[test]
fn sample_reads_as_the_recording_says() {
    let t = sample();
    assert_eq!(t.duration_us, 60_000_000);
    let names: Vec<_> = t.participants.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["alice", "dave", "frank", "carol", "bob", "erin"]);
    assert_eq!(t.participants[0].label, "Alice");
    assert_eq!(t.participants[0].joined_us, Some(445_180));
    assert_eq!(t.participants[2].gaps.len(), 11);
    assert!(t
        .participants
        .iter()
        .flat_map(|p| &p.gaps)
        .all(|g| g.cause == GapCause::NothingSent));
    assert_eq!(
        t.dominant,
        vec![
            (9_460_000, Some(0)),
            (18_800_000, Some(2)),
            (57_240_000, Some(4)),
            (58_220_000, Some(2))
        ]
    );
    assert!(t.pauses.is_empty());
}

#[test]
fn alice_speaks_from_her_join_to_her_first_gap() {
    let t = sample();
    let o = SvgOptions::default();
    let svg = render_svg(&t, &o);
    let alice: Vec<Rect> = rects(&svg, "speech")
        .into_iter()
        .filter(|r| r.get("data-row") == "0")
        .collect();
    // Hand-counted from the gaps: 0.445–8.94, 9.14–15.24, 16.1–17.5, 54.76–56.14, 56.2–56.3, 56.42–57.7.
    assert_eq!(alice.len(), 6);
    let first = &alice[0];
    assert_eq!(first.i("data-start-us"), 445_180);
    assert_eq!(first.i("data-end-us"), 8_940_000);
    assert_spans(first, 445_180, 8_940_000, t.duration_us, &o);
    assert_on_row(first, 0, &o);
    assert_eq!(first.get("fill"), row_color(0));
    assert_eq!(
        first.title.as_deref(),
        Some("Alice spoke 00:00.445–00:08.940")
    );
    let last = &alice[5];
    assert_eq!(
        (last.i("data-start-us"), last.i("data-end-us")),
        (56_420_000, 57_700_000)
    );
    assert_spans(last, 56_420_000, 57_700_000, t.duration_us, &o);
    // Nothing was lost: only pauses in speech, which are not drawn as gaps.
    assert!(!svg.contains("class=\"gap-"));
}

#[test]
fn one_speech_bar_per_speech_span_of_every_participant() {
    let t = sample();
    let o = SvgOptions::default();
    let svg = render_svg(&t, &o);
    let speech = rects(&svg, "speech");
    let mut total = 0;
    for (i, p) in t.participants.iter().enumerate() {
        let spans = speech_spans(p, t.duration_us);
        let bars: Vec<&Rect> = speech
            .iter()
            .filter(|r| r.get("data-row") == i.to_string())
            .collect();
        assert_eq!(bars.len(), spans.len(), "{}", p.name);
        for (bar, &(s, e)) in bars.iter().zip(&spans) {
            assert_eq!((bar.i("data-start-us"), bar.i("data-end-us")), (s, e));
            assert_spans(bar, s, e, t.duration_us, &o);
            assert_on_row(bar, i, &o);
            assert_eq!(bar.get("fill"), row_color(i));
        }
        total += spans.len();
    }
    assert_eq!(speech.len(), total);
    // bob (row 4) joined at 30 s and paused twice near the end.
    assert_eq!(speech_spans(&t.participants[4], t.duration_us).len(), 2);
    // Every participant has a presence track from join to leave.
    let presence = rects(&svg, "presence");
    assert_eq!(presence.len(), 6);
    assert_eq!(presence[1].i("data-start-us"), 5_698_008);
    assert_eq!(presence[1].i("data-end-us"), 60_000_000);
}

#[test]
fn dominant_strip_follows_the_dominant_speaker() {
    let t = sample();
    let o = SvgOptions::default();
    let svg = render_svg(&t, &o);
    let strip = rects(&svg, "dominant");
    let got: Vec<_> = strip
        .iter()
        .map(|r| (r.i("data-start-us"), r.i("data-end-us"), r.i("data-row")))
        .collect();
    assert_eq!(
        got,
        [
            (9_460_000, 18_800_000, 0),
            (18_800_000, 57_240_000, 2),
            (57_240_000, 58_220_000, 4),
            (58_220_000, 60_000_000, 2)
        ]
    );
    for r in &strip {
        assert_eq!(r.get("fill"), row_color(r.i("data-row") as usize));
        let cy = dominant_center_y(&o);
        assert!(r.f("y") < cy && r.f("y") + r.f("height") > cy);
        assert!(r.f("y") + r.f("height") < row_center_y(0, &o));
    }
    assert_spans(&strip[0], 9_460_000, 18_800_000, t.duration_us, &o);
}

#[test]
fn sample_svg_is_well_formed_standalone_and_deterministic() {
    let t = sample();
    let o = SvgOptions::default();
    let svg = render_svg(&t, &o);
    check_well_formed(&svg).unwrap();
    assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" width="1000" height=""#));
    assert!(svg.contains(r#" viewBox="0 0 1000 "#));
    assert!(svg.ends_with("</svg>\n"));
    assert_eq!(svg, render_svg(&sample(), &o));
    // Axis: ticks every 5 s, mm:ss.
    for label in [">00:00<", ">00:05<", ">00:30<", ">01:00<"] {
        assert!(svg.contains(label), "{label}");
    }
    assert!(!svg.contains(">01:05<"));
    // Labels and a legend.
    for label in [
        ">Alice</text>",
        ">Erin</text>",
        "audio lost on the way",
        "recording paused",
    ] {
        assert!(svg.contains(label), "{label}");
    }
}

fn with_gaps(mut t: TimelineInput, row: usize, gaps: &[(i64, i64, GapCause)]) -> TimelineInput {
    t.participants[row]
        .gaps
        .extend(gaps.iter().map(|&(start_us, length_us, cause)| GapInput {
            start_us,
            length_us,
            cause,
        }));
    t
}

#[test]
fn gaps_are_drawn_by_cause_with_their_times() {
    let t = with_gaps(
        sample(),
        4,
        &[
            (40_000_000, 1_500_000, GapCause::Dropped),
            (45_000_000, 20_000, GapCause::InferredLoss),
            (50_000_000, 100_000, GapCause::Unclassified),
        ],
    );
    let o = SvgOptions::default();
    let svg = render_svg(&t, &o);
    check_well_formed(&svg).unwrap();
    let dropped = rects(&svg, "gap-dropped");
    assert_eq!(dropped.len(), 1);
    let r = &dropped[0];
    assert_eq!(r.get("data-row"), "4");
    assert_eq!(r.i("data-start-us"), 40_000_000);
    assert_eq!(r.i("data-end-us"), 41_500_000);
    assert_eq!(r.get("fill"), DROPPED_COLOR);
    assert_eq!(DROPPED_COLOR, "#d62728"); // red
    assert_spans(r, 40_000_000, 41_500_000, t.duration_us, &o);
    assert_on_row(r, 4, &o);
    assert_eq!(
        r.title.as_deref(),
        Some("Bob: dropped 00:40.000–00:41.500 (1500 ms)")
    );
    // A 20 ms loss is 0.28 px: drawn 1 px wide so it shows.
    let lost = rects(&svg, "gap-inferred_loss");
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].get("fill"), INFERRED_LOSS_COLOR);
    assert_eq!(lost[0].f("width"), 1.0);
    let unknown = rects(&svg, "gap-unclassified");
    assert_eq!(unknown[0].get("fill"), UNCLASSIFIED_COLOR);
    // The gaps split bob's speech: 30–40, 41.5–45, 45.02–50, 50.1–55.94, 56.14–57.46.
    let bob: Vec<_> = rects(&svg, "speech")
        .into_iter()
        .filter(|r| r.get("data-row") == "4")
        .map(|r| (r.i("data-start-us"), r.i("data-end-us")))
        .collect();
    assert_eq!(
        bob,
        [
            (30_000_000, 40_000_000),
            (41_500_000, 45_000_000),
            (45_020_000, 50_000_000),
            (50_100_000, 55_940_000),
            (56_140_000, 57_460_000)
        ]
    );
}

#[test]
fn outside_text_is_escaped() {
    let mut t = sample();
    t.participants[0].name = "eve\"><script>alert(1)</script>".into();
    t.participants[0].label = "Eve <&\"'> \u{1}".into();
    let svg = render_svg(&t, &SvgOptions::default());
    check_well_formed(&svg).unwrap();
    assert!(!svg.contains("<script"));
    assert!(svg.contains(r#"data-name="eve&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;""#));
    assert!(svg.contains(">Eve &lt;&amp;&quot;&apos;&gt; \u{FFFD}</text>"));
    assert!(svg.contains("<title>Eve &lt;&amp;&quot;&apos;&gt; \u{FFFD} spoke 00:00.445–00:08.940"));
    // A colour option is outside text too.
    let o = SvgOptions {
        waveform_color: "\"/><script>".into(),
        ..SvgOptions::default()
    };
    let peaks = timeline_svg::Peaks {
        bucket_us: 1_000_000,
        sample_rate: 16_000,
        values: vec![1, 2],
    };
    let w = timeline_svg::waveform_svg(&peaks, 2_000_000, &o);
    check_well_formed(&w).unwrap();
    assert!(!w.contains("<script"));
}

#[test]
fn long_labels_are_shortened_with_the_full_name_in_the_tooltip() {
    let mut t = sample();
    let long = "Bartholomew Maximilian von Hohenzollern-Sigmaringen";
    t.participants[1].label = long.into();
    let svg = render_svg(&t, &SvgOptions::default());
    assert!(svg.contains(&format!(
        "<title>{long} (dave)</title>Bartholomew Ma…</text>"
    )));
}

#[test]
fn recording_pauses_shade_all_rows() {
    let mut t = sample();
    t.pauses = vec![
        (20_000_000, 25_000_000),
        (-5, 1_000_000),
        (50_000_000, 90_000_000),
    ];
    let o = SvgOptions::default();
    let svg = render_svg(&t, &o);
    let p = rects(&svg, "pause");
    let got: Vec<_> = p
        .iter()
        .map(|r| (r.i("data-start-us"), r.i("data-end-us")))
        .collect();
    assert_eq!(
        got,
        [
            (0, 1_000_000),
            (20_000_000, 25_000_000),
            (50_000_000, 60_000_000)
        ]
    );
    let r = &p[1];
    assert_eq!(r.get("fill"), PAUSE_COLOR);
    assert_eq!(r.get("fill-opacity"), "0.25");
    assert_spans(r, 20_000_000, 25_000_000, t.duration_us, &o);
    assert!(r.f("y") <= dominant_center_y(&o));
    assert!(r.f("y") + r.f("height") >= row_center_y(5, &o));
    // Drawn after (over) the rows.
    assert!(svg.find("class=\"pause\"").unwrap() > svg.rfind("class=\"speech\"").unwrap());
}

#[test]
fn an_hour_long_recording_gets_hour_labels() {
    let mut t = sample();
    t.duration_us = 2 * 3_600_000_000;
    let svg = render_svg(&t, &SvgOptions::default());
    assert!(svg.contains(">0:00:00<") && svg.contains(">1:00:00<") && svg.contains(">2:00:00<"));
    check_well_formed(&svg).unwrap();
}

#[test]
fn gaps_beyond_the_cap_are_merged_and_counted() {
    let n = 3 * MAX_RECTS as i64;
    let gaps: Vec<_> = (0..n)
        .map(|k| (k * 1_000, 500, GapCause::Dropped))
        .collect();
    let t = with_gaps(sample(), 0, &gaps);
    let svg = render_svg(&t, &SvgOptions::default());
    check_well_formed(&svg).unwrap();
    let dropped = rects(&svg, "gap-dropped");
    assert!(!dropped.is_empty() && dropped.len() <= MAX_RECTS);
    let counted: i64 = dropped
        .iter()
        .map(|r| r.get("data-count").parse::<i64>().unwrap_or(1))
        .sum();
    assert_eq!(counted, n);
    assert!(svg.contains(&format!("{n} gaps drawn as {} rectangles", dropped.len())));
    // Speech between those gaps is merged the same way.
    assert!(rects(&svg, "speech").len() <= MAX_RECTS);
}

#[test]
fn rows_beyond_the_cap_are_counted_not_drawn() {
    let mut t = sample();
    t.participants = (0..MAX_ROWS + 7)
        .map(|i| RowInput {
            name: format!("p{i}"),
            label: format!("P{i}"),
            ..RowInput::default()
        })
        .collect();
    t.dominant = vec![(0, Some(MAX_ROWS + 3))];
    let svg = render_svg(&t, &SvgOptions::default());
    check_well_formed(&svg).unwrap();
    assert_eq!(svg.matches("<g class=\"row\"").count(), MAX_ROWS);
    assert!(svg.contains("7 more participants not drawn"));
    let strip = rects(&svg, "dominant");
    assert_eq!(strip[0].get("fill"), row_color(MAX_ROWS + 3));
}

#[test]
fn many_dominant_changes_are_sampled() {
    let mut t = sample();
    t.dominant = (0..100_000_i64)
        .map(|k| (k * 600, Some((k % 3) as usize)))
        .collect();
    let svg = render_svg(&t, &SvgOptions::default());
    let strip = rects(&svg, "dominant");
    assert!(
        strip.len() <= MAX_RECTS && strip.len() > 1000,
        "{}",
        strip.len()
    );
    check_well_formed(&svg).unwrap();
}

#[test]
fn empty_and_zero_length_recordings_render() {
    for d in [0, -1, 1, 999] {
        let t = TimelineInput {
            duration_us: d,
            ..TimelineInput::default()
        };
        let svg = render_svg(&t, &SvgOptions::default());
        check_well_formed(&svg).unwrap();
        assert!(svg.contains(">00:00"));
    }
}

//! The speaker timeline of `verbatim inspect --svg` and the compliance console
//! (`timeline_svg::TimelineInput::from_metadata_json` then `render_svg`): any bytes as `metadata.json`
//! (tampered, torn or foreign files). Bytes after a NUL are a stem's waveform peaks instead, whose quiet
//! stretches (`quiet_spans`) every row gets, shifted per row, so received silence is drawn pale over
//! hostile spans.
//!
//! Checks: no panic; a readable input renders one standalone `<svg>` document, the same bytes twice, with
//! every span's `data-start-us`..`data-end-us` non-empty and within the recording.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timeline_svg::{quiet_spans, render_svg, Peaks, SvgOptions, TimelineInput};

fuzz_target!(|data: &[u8]| {
    let (md, peak_bytes) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(mut input) = TimelineInput::from_metadata_json(md) else {
        return;
    };
    let peaks = Peaks {
        bucket_us: 100_000,
        sample_rate: 16_000,
        values: peak_bytes.to_vec(),
    };
    let quiet = quiet_spans(&peaks);
    for (i, row) in input.participants.iter_mut().enumerate() {
        let shift = i64::try_from(i).unwrap_or(0).saturating_mul(700_000);
        row.quiet = quiet
            .iter()
            .map(|&(s, e)| (s.saturating_sub(shift), e.saturating_sub(shift)))
            .collect();
    }
    let opts = SvgOptions::default();
    let svg = render_svg(&input, &opts);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("<svg").count(), 1);
    assert_eq!(svg, render_svg(&input, &opts), "rendering must be deterministic");
    let d = input.duration_us.max(0);
    for rest in svg.split(" data-start-us=\"").skip(1) {
        let (start, rest) = rest.split_once('"').expect("quoted start");
        let end = rest.strip_prefix(" data-end-us=\"").expect("end follows start");
        let end = &end[..end.find('"').expect("quoted end")];
        let (start, end): (i64, i64) = (start.parse().expect("start"), end.parse().expect("end"));
        assert!(0 <= start && start < end && end <= d, "{start}..{end} of {d}");
    }
});

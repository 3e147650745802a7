//! The journal and manifest parsers (`muxer::integrity::manifest`) as `verify` and `recover` run them on a
//! recording folder's `manifest.json` / `manifest.journal` (any bytes: tampered, torn or foreign files).
#![no_main]

use libfuzzer_sys::fuzz_target;
use muxer::integrity::manifest::parse_journal;
use muxer::integrity::Manifest;

fuzz_target!(|data: &[u8]| {
    let (lines, used) = parse_journal(data);
    assert!(used <= data.len());
    assert!(
        used == 0 || data[used - 1] == b'\n',
        "a journal prefix ends at a line end"
    );
    // Every parsed line re-serializes to a line that parses back to the same value.
    for l in &lines {
        let bytes = l.to_line();
        let (again, n) = parse_journal(&bytes);
        assert_eq!(n, bytes.len());
        assert_eq!(again.as_slice(), std::slice::from_ref(l));
    }
    if let Ok(m) = Manifest::parse(data) {
        // verify re-renders the parsed manifest and compares bytes: rendering must be a fixed point.
        let r1 = m.render();
        let m2 = Manifest::parse(&r1).expect("a rendered manifest must parse");
        assert_eq!(m2.render(), r1, "render(parse(render(m))) != render(m)");
        let _ = Manifest::build(&m.begin(), m.entries.clone(), m.signatures.clone());
    }
});

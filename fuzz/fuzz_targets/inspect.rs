//! `verbatim inspect`'s reading of a recording folder (`verbatim::inspect::inspect_contents`): any bytes as
//! `manifest.json`, `metadata.json` and `timeline.jsonl` (tampered, torn or foreign files).
//!
//! Input: the three files joined by the separator `\n\0\n` (a missing part = a missing file), so a real
//! folder's files make a seed. Checks: no panic, the speaker strip fits its columns, letters are unique, the
//! text and JSON renderings work.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verbatim::inspect::{inspect_contents, FolderContents, STRIP_COLUMNS};

const SEP: &[u8] = b"\n\0\n";

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(SEP.len()).position(|w| w == SEP) {
        parts.push(&rest[..i]);
        rest = &rest[i + SEP.len()..];
    }
    parts.push(rest);
    parts
}

fuzz_target!(|data: &[u8]| {
    let parts = split(data);
    let part = |i: usize| parts.get(i).filter(|p| !p.is_empty()).map(|p| p.to_vec());
    let c = FolderContents {
        dir: "fuzz".into(),
        manifest: part(0),
        metadata: part(1),
        timeline: part(2),
        stems_on_disk: vec!["alice".into(), "bob".into()],
        stem_duration_us: parts.get(3).map(|p| p.len() as i64 * 1_000_000),
        read_errors: Vec::new(),
    };
    let i = inspect_contents(&c);
    assert!(i.strip.chars().count() <= STRIP_COLUMNS, "{}", i.strip);
    let mut letters: Vec<char> = i.participants.iter().map(|p| p.letter).filter(|&l| l != '+').collect();
    let n = letters.len();
    letters.sort_unstable();
    letters.dedup();
    assert_eq!(letters.len(), n, "letters must be unique");
    for p in &i.participants {
        assert!(p.gap_us >= 0 && p.dominant_us >= 0);
    }
    let _ = i.to_text();
    assert!(serde_json::to_string(&i).is_ok());
});

//! The catalogue's reading of a recording folder (`catalog::RecordingEntry::from_files`): any bytes as
//! `metadata.json` and `manifest.json` (tampered, torn, sealed or foreign files), as `verbatim serve` and
//! `verbatim search` meet them under a root.
//!
//! Checks: no panic; an entry read is stored and found again in an in-memory catalogue by its call id, and
//! the JSON it is stored as reads back to the same entry.
#![no_main]

use catalog::{CatalogStore, Query, RecordingEntry, SqliteCatalog};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into the two files (and says which are there).
    let Some((&cut, rest)) = data.split_first() else { return };
    let at = usize::from(cut).min(rest.len());
    let (a, b) = rest.split_at(at);
    let metadata = (cut & 1 == 0).then_some(b);
    let manifest = (cut & 2 == 0).then_some(a);
    let Ok(e) = RecordingEntry::from_files("fuzz/rec", metadata, manifest, &["alice".to_string()]) else {
        return;
    };
    assert!(e.duration_us >= 0 && e.missing_us >= 0);
    let json = serde_json::to_string(&e).expect("an entry serialises");
    let back: RecordingEntry = serde_json::from_str(&json).expect("and reads back");
    assert_eq!(back, e);
    let mut c = SqliteCatalog::open_in_memory().expect("memory catalogue");
    c.upsert(&e, "s").expect("stored");
    let mut q = Query::new();
    q.call_id = Some(e.call_id.clone());
    let page = c.search(&q).expect("searched");
    assert_eq!(page.recordings, vec![e]);
});

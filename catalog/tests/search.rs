//! Search against a naive filter over the same entries (property test), paging, scoping, and a scan of real
//! folder layouts (closed, open, encrypted, malformed, vanished).

mod common;

use catalog::{scan_root, CatalogStore, SqliteCatalog};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn every_search_answers_what_a_filter_over_all_entries_answers(case in common::arb_case()) {
        let mut c = SqliteCatalog::open_in_memory().unwrap();
        common::check_case(&mut c, &case)?;
    }
}

#[test]
fn numbers_match_whatever_their_spacing_and_a_replaced_folder_is_indexed_once() {
    common::numbers_participants_and_reindexing(&mut SqliteCatalog::open_in_memory().unwrap());
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn a_scan_indexes_closed_open_and_encrypted_folders_reports_bad_ones_and_notices_changes() {
    let root = std::env::temp_dir().join(format!("catalog-scan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let meta = br#"{"call":{"id":"c1","teams":{"direction":"outgoing","tenant_id":"t1"}},
        "recording":{"status":"completed","started_utc":"2026-03-02T09:30:00.000Z","duration_us":60000000},
        "participants":[{"name":"alice","display_name":"Alice","id":"a-1","gaps":[]}]}"#;
    let manifest =
        br#"{"recording_id":"c1","start_utc_ms":1772443800000,"final_status":"completed",
        "status_history":[{"at":600000000}]}"#;
    write(&root.join("2026/03/c1"), "metadata.json", meta);
    write(&root.join("2026/03/c1"), "manifest.json", manifest);
    // Open (no manifest.json yet): found by its journal, status recording, start from nothing but the journal
    // is not parsed: it has no metadata either, so it cannot be catalogued yet.
    write(&root.join("2026/03/open"), "manifest.journal", b"{}");
    // Encrypted: metadata sealed, the manifest readable, participants from the stem names.
    write(
        &root.join("2026/03/enc"),
        "metadata.json",
        b"VBSEAL\0\x01garbage",
    );
    write(&root.join("2026/03/enc"), "manifest.json", br#"{"recording_id":"c2","start_utc_ms":1772443800000,"final_status":"interrupted","status_history":[{"at":300000000}]}"#);
    write(&root.join("2026/03/enc/participants"), "bob.wav", b"VBSEAL");
    // Malformed.
    write(&root.join("2026/03/bad"), "manifest.json", b"{not json");
    // The console's own state is skipped.
    write(&root.join(".console/x"), "manifest.json", manifest);

    let mut c = SqliteCatalog::open_in_memory().unwrap();
    let r = scan_root(&root, &mut c).unwrap();
    assert_eq!(r.indexed, 2, "{r:?}");
    let failed: Vec<&str> = r.failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(failed, vec!["2026/03/bad", "2026/03/open"], "{r:?}");
    let enc = c.get("2026/03/enc").unwrap().unwrap();
    assert!(enc.encrypted);
    assert_eq!(
        (enc.status.as_str(), enc.duration_us),
        ("interrupted", 30_000_000)
    );
    assert_eq!(enc.participants[0].name, "bob");
    let c1 = c.get("2026/03/c1").unwrap().unwrap();
    assert_eq!(
        (c1.direction.as_str(), c1.groups.clone()),
        ("outgoing", vec!["tenant:t1".to_string()])
    );

    let again = scan_root(&root, &mut c).unwrap();
    assert_eq!((again.indexed, again.unchanged), (0, 2));

    std::fs::remove_dir_all(root.join("2026/03/enc")).unwrap();
    let gone = scan_root(&root, &mut c).unwrap();
    assert_eq!(gone.removed, vec!["2026/03/enc".to_string()]);
    assert_eq!(c.count().unwrap(), 1);
    std::fs::remove_dir_all(&root).unwrap();
}

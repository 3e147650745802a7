//! Search against a naive filter over the same entries (property test), paging, scoping, and a scan of real
//! folder layouts (closed, open, encrypted, malformed, vanished).

use std::collections::BTreeMap;

use catalog::{scan_root, CatalogStore, ParticipantEntry, Query, RecordingEntry, SqliteCatalog};
use proptest::prelude::*;

const NAMES: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
const DESKS: [&str; 3] = ["rates", "fx", "equities"];

fn entry(
    i: usize,
    start_min: i64,
    who: &[usize],
    desk: Option<usize>,
    dir: usize,
    missing: i64,
    dur_s: i64,
) -> RecordingEntry {
    let mut custom = BTreeMap::new();
    if let Some(d) = desk {
        custom.insert("desk".to_string(), DESKS[d].to_string());
    }
    RecordingEntry {
        id: format!("rec{i:04}"),
        call_id: format!("call{i}"),
        leg: "1".into(),
        started_us: 1_772_323_200_000_000 + start_min * 60_000_000,
        started_utc: String::new(),
        duration_us: dur_s * 1_000_000,
        status: if missing > 100 {
            "failed".into()
        } else {
            "completed".into()
        },
        closed: true,
        encrypted: false,
        direction: ["incoming", "outgoing", ""][dir].into(),
        dialed_number: format!("+44 20 7946 {:04}", i % 7),
        origin_number: String::new(),
        tenant_id: String::new(),
        observed_participant_id: String::new(),
        participants: who
            .iter()
            .map(|&w| ParticipantEntry {
                name: NAMES[w].into(),
                display_name: NAMES[w].to_uppercase(),
                id: format!("id-{w}"),
            })
            .collect(),
        groups: catalog::groups_of("", &custom),
        custom_data: custom,
        missing_us: missing,
    }
}

fn naive(all: &[RecordingEntry], q: &Query) -> Vec<String> {
    let mut v: Vec<&RecordingEntry> = all
        .iter()
        .filter(|e| {
            q.participant
                .as_ref()
                .is_none_or(|p| e.participants.iter().any(|x| x.search_keys().contains(p)))
                && q.from_us.is_none_or(|f| e.started_us >= f)
                && q.to_us.is_none_or(|t| e.started_us < t)
                && q.direction.as_ref().is_none_or(|d| &e.direction == d)
                && q.number
                    .as_ref()
                    .is_none_or(|n| &catalog::normalize_number(&e.dialed_number) == n)
                && q.custom
                    .iter()
                    .all(|(k, v)| e.custom_data.get(k) == Some(v))
                && q.status.as_ref().is_none_or(|s| &e.status == s)
                && q.has_gaps.is_none_or(|g| e.has_gaps() == g)
                && q.min_duration_us.is_none_or(|m| e.duration_us >= m)
                && q.groups
                    .as_ref()
                    .is_none_or(|g| e.groups.iter().any(|x| g.contains(x)))
        })
        .collect();
    // Newest first; ties by insertion order, newest insert first (the catalogue's row order).
    v.sort_by_key(|e| std::cmp::Reverse((e.started_us, e.id.clone())));
    v.into_iter().map(|e| e.id.clone()).collect()
}

fn all_pages(c: &mut SqliteCatalog, q: &Query) -> Vec<String> {
    let mut q = q.clone();
    let mut out = Vec::new();
    for _ in 0..1000 {
        let page = c.search(&q).unwrap();
        assert!(page.recordings.len() <= q.limit as usize);
        out.extend(page.recordings.iter().map(|r| r.id.clone()));
        match page.next {
            Some(n) => q.after = Some(n),
            None => return out,
        }
    }
    panic!("paging did not end");
}

fn arb_entry() -> impl Strategy<Value = (i64, Vec<usize>, Option<usize>, usize, i64, i64)> {
    (
        0i64..200,
        proptest::sample::subsequence(vec![0usize, 1, 2, 3, 4], 1..4),
        proptest::option::of(0usize..3),
        0usize..3,
        prop_oneof![Just(0i64), 1i64..1000],
        1i64..4000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn every_search_answers_what_a_filter_over_all_entries_answers(
        specs in proptest::collection::vec(arb_entry(), 0..60),
        who in proptest::option::of(0usize..5),
        from in proptest::option::of(0i64..200),
        span in 1i64..200,
        desk in proptest::option::of(0usize..3),
        dir in proptest::option::of(0usize..2),
        gaps in proptest::option::of(any::<bool>()),
        scope in proptest::option::of(proptest::sample::subsequence(vec![0usize, 1, 2], 0..3)),
        limit in 1u32..7,
    ) {
        // Ids sort in insertion order, so the naive order (start, id) matches the catalogue's (start, row).
        let all: Vec<RecordingEntry> = specs.iter().enumerate()
            .map(|(i, (s, w, d, dr, m, du))| entry(i, *s, w, *d, *dr, *m, *du)).collect();
        let mut c = SqliteCatalog::open_in_memory().unwrap();
        for e in &all { c.upsert(e, "s").unwrap(); }
        let mut q = Query::new();
        q.limit = limit;
        q.participant = who.map(|w| if w % 2 == 0 { NAMES[w].to_string() } else { format!("id-{w}") });
        q.from_us = from.map(|f| 1_772_323_200_000_000 + f * 60_000_000);
        q.to_us = from.map(|f| 1_772_323_200_000_000 + (f + span) * 60_000_000);
        if let Some(d) = desk { q.custom.push(("desk".into(), DESKS[d].into())); }
        q.direction = dir.map(|d| ["incoming", "outgoing"][d].to_string());
        q.has_gaps = gaps;
        q.groups = scope.map(|s| s.iter().map(|&d| format!("desk:{}", DESKS[d])).collect());
        prop_assert_eq!(all_pages(&mut c, &q), naive(&all, &q));
    }
}

#[test]
fn numbers_match_whatever_their_spacing_and_a_replaced_folder_is_indexed_once() {
    let mut c = SqliteCatalog::open_in_memory().unwrap();
    let e = entry(3, 10, &[0, 1], Some(0), 0, 0, 60);
    c.upsert(&e, "a").unwrap();
    c.upsert(&e, "b").unwrap();
    assert_eq!(c.count().unwrap(), 1);
    assert_eq!(c.stamp("rec0003").unwrap().as_deref(), Some("b"));
    let q = Query::from_pairs([("number", "+44-20-7946-0003")]).unwrap();
    assert_eq!(c.search(&q).unwrap().recordings.len(), 1);
    let q = Query::from_pairs([("number", "+44 20 7946 0004")]).unwrap();
    assert_eq!(c.search(&q).unwrap().recordings.len(), 0);
    // The display name and the id find the participant too, in any case.
    for who in ["ALICE", "Id-0", "bob"] {
        let q = Query::from_pairs([("participant", who)]).unwrap();
        assert_eq!(c.search(&q).unwrap().recordings.len(), 1, "{who}");
    }
    assert!(c.remove("rec0003").unwrap());
    assert_eq!(c.search(&Query::new()).unwrap().recordings.len(), 0);
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

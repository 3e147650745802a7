//! What the search tests of every back-end share: random entries, the naive filter a search must agree with,
//! and the checks themselves, run against any [`CatalogStore`].
#![allow(dead_code)]

pub mod pg;

use std::collections::BTreeMap;

use catalog::{CatalogStore, ParticipantEntry, Query, RecordingEntry};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

pub const NAMES: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
pub const DESKS: [&str; 3] = ["rates", "fx", "equities"];

/// Recording `i`: starts `start_min` minutes after 2026-03-01, with participants `who` (indexes into
/// [`NAMES`]), maybe a desk, a direction (incoming, outgoing, none), missing audio and a length.
pub fn entry(
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
        node: None,
    }
}

/// What a search must answer: a filter over every entry, newest first.
pub fn naive(all: &[RecordingEntry], q: &Query) -> Vec<String> {
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

/// Every page of a search, followed through `next`.
pub fn all_pages(c: &mut dyn CatalogStore, q: &Query) -> Vec<String> {
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

type EntrySpec = (i64, Vec<usize>, Option<usize>, usize, i64, i64);

fn arb_entry() -> impl Strategy<Value = EntrySpec> {
    (
        0i64..200,
        proptest::sample::subsequence(vec![0usize, 1, 2, 3, 4], 1..4),
        proptest::option::of(0usize..3),
        0usize..3,
        prop_oneof![Just(0i64), 1i64..1000],
        1i64..4000,
    )
}

/// One case of the search property: entries, and a query over them.
#[derive(Debug, Clone)]
pub struct Case {
    pub all: Vec<RecordingEntry>,
    pub query: Query,
}

/// Random entries and a random query (participant by name or id, time range, desk, direction, gaps,
/// scoping, page size).
pub fn arb_case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(arb_entry(), 0..60),
        proptest::option::of(0usize..5),
        proptest::option::of(0i64..200),
        1i64..200,
        proptest::option::of(0usize..3),
        proptest::option::of(0usize..2),
        proptest::option::of(any::<bool>()),
        proptest::option::of(proptest::sample::subsequence(vec![0usize, 1, 2], 0..3)),
        1u32..7,
    )
        .prop_map(|(specs, who, from, span, desk, dir, gaps, scope, limit)| {
            // Ids sort in insertion order, so the naive order (start, id) matches the catalogue's (start, row).
            let all: Vec<RecordingEntry> = specs
                .iter()
                .enumerate()
                .map(|(i, (s, w, d, dr, m, du))| entry(i, *s, w, *d, *dr, *m, *du))
                .collect();
            let mut q = Query::new();
            q.limit = limit;
            q.participant = who.map(|w| {
                if w % 2 == 0 {
                    NAMES[w].to_string()
                } else {
                    format!("id-{w}")
                }
            });
            q.from_us = from.map(|f| 1_772_323_200_000_000 + f * 60_000_000);
            q.to_us = from.map(|f| 1_772_323_200_000_000 + (f + span) * 60_000_000);
            if let Some(d) = desk {
                q.custom.push(("desk".into(), DESKS[d].into()));
            }
            q.direction = dir.map(|d| ["incoming", "outgoing"][d].to_string());
            q.has_gaps = gaps;
            q.groups = scope.map(|s| s.iter().map(|&d| format!("desk:{}", DESKS[d])).collect());
            Case { all, query: q }
        })
}

/// Loads the case's entries into an empty catalogue and checks that every page of the search, in order,
/// is what the naive filter answers.
pub fn check_case(c: &mut dyn CatalogStore, case: &Case) -> Result<(), TestCaseError> {
    for e in &case.all {
        c.upsert(e, "s").unwrap();
    }
    prop_assert_eq!(all_pages(c, &case.query), naive(&case.all, &case.query));
    Ok(())
}

/// Numbers match whatever their spacing, display names and ids find participants, re-upserting an id keeps
/// one row with the new stamp, removing it empties the catalogue. `c` must be empty.
pub fn numbers_participants_and_reindexing(c: &mut dyn CatalogStore) {
    let e = entry(3, 10, &[0, 1], Some(0), 0, 0, 60);
    c.upsert(&e, "a").unwrap();
    c.upsert(&e, "b").unwrap();
    assert_eq!(c.count().unwrap(), 1);
    assert_eq!(c.stamp("rec0003").unwrap().as_deref(), Some("b"));
    assert_eq!(c.get("rec0003").unwrap().as_ref(), Some(&e));
    let q = Query::from_pairs([("number", "+44-20-7946-0003")]).unwrap();
    assert_eq!(c.search(&q).unwrap().recordings.len(), 1);
    let q = Query::from_pairs([("number", "+44 20 7946 0004")]).unwrap();
    assert_eq!(c.search(&q).unwrap().recordings.len(), 0);
    // The display name and the id find the participant too, in any case.
    for who in ["ALICE", "Id-0", "bob"] {
        let q = Query::from_pairs([("participant", who)]).unwrap();
        assert_eq!(c.search(&q).unwrap().recordings.len(), 1, "{who}");
    }
    // Re-upserted with other participants: the old keys no longer find it.
    let mut e2 = entry(3, 10, &[2], None, 0, 0, 60);
    e2.id = e.id.clone();
    c.upsert(&e2, "c").unwrap();
    let q = Query::from_pairs([("participant", "alice")]).unwrap();
    assert_eq!(c.search(&q).unwrap().recordings.len(), 0);
    let q = Query::from_pairs([("participant", "carol")]).unwrap();
    assert_eq!(c.search(&q).unwrap().recordings.len(), 1);
    assert_eq!(c.ids().unwrap(), vec!["rec0003".to_string()]);
    assert!(c.remove("rec0003").unwrap());
    assert!(!c.remove("rec0003").unwrap());
    assert_eq!(c.search(&Query::new()).unwrap().recordings.len(), 0);
    assert_eq!(c.count().unwrap(), 0);
}

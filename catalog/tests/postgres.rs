//! The PostgreSQL catalogue against a real server (started here, see `common/pg.rs`): the same search property
//! as the SQLite one (`search.rs`), several nodes writing at once, re-indexing, and `open_catalog`.

mod common;

use std::cell::RefCell;

use catalog::{open_catalog, CatalogStore, PostgresCatalog, Query};
use common::pg::PgServer;
use proptest::test_runner::{Config, TestRunner};

fn truncate(url: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.batch_execute(
        "TRUNCATE recordings, participant_keys, recording_groups, custom RESTART IDENTITY",
    )
    .unwrap();
}

#[test]
fn every_search_answers_what_a_filter_over_all_entries_answers() {
    let Some(server) = PgServer::start(&["fsync=off"]) else {
        return;
    };
    let url = server.database("prop");
    let c = RefCell::new(PostgresCatalog::connect(&url).unwrap());
    // The property of search.rs, one server for every case: emptied between cases.
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&common::arb_case(), |case| {
            truncate(&url);
            common::check_case(&mut *c.borrow_mut(), &case)
        })
        .unwrap();
    truncate(&url);
    common::numbers_participants_and_reindexing(&mut *c.borrow_mut());
}

#[test]
fn nodes_connecting_and_writing_at_once_share_one_catalogue() {
    let Some(server) = PgServer::start(&["fsync=off"]) else {
        return;
    };
    let url = server.database("nodes");
    // Four nodes connect at once to an empty database (each creates the schema) and index their own
    // recordings, one upsert at a time, while also re-indexing the same shared ones.
    let nodes: Vec<_> = (0..4)
        .map(|n| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut c = PostgresCatalog::connect(&url).unwrap();
                for i in 0..25 {
                    let mine =
                        common::entry(n * 100 + i, i as i64, &[n % 5], Some(n % 3), 0, 0, 60);
                    c.upsert(&mine, "s").unwrap();
                    let mut shared = common::entry(9000 + i % 5, i as i64, &[0], None, 1, 0, 60);
                    shared.call_id = format!("node{n}");
                    c.upsert(&shared, &format!("node{n}")).unwrap();
                }
                // A bulk load from one node at the same time as the others' single upserts.
                let bulk: Vec<_> = (0..50)
                    .map(|i| common::entry(5000 + n * 100 + i, 300, &[1], None, 2, 0, 1))
                    .collect();
                c.upsert_many(bulk.iter().map(|e| (e, "bulk"))).unwrap();
            })
        })
        .collect();
    for t in nodes {
        t.join().unwrap();
    }
    let mut third = PostgresCatalog::connect(&url).unwrap();
    assert_eq!(third.count().unwrap(), 4 * 25 + 5 + 4 * 50);
    for n in 0..4 {
        let q =
            Query::from_pairs([("custom", &*format!("desk={}", common::DESKS[n % 3]))]).unwrap();
        let mut q = q;
        q.limit = 500;
        let found = third.search(&q).unwrap().recordings;
        assert!(
            found
                .iter()
                .filter(|r| r.id.starts_with(&format!("rec0{n}")))
                .count()
                >= 25
        );
    }
    // Each shared recording is there once, with the stamp of whichever node wrote it last.
    let ids = third.ids().unwrap();
    for i in 0..5 {
        let id = format!("rec{:04}", 9000 + i);
        assert_eq!(ids.iter().filter(|x| **x == id).count(), 1);
        let e = third.get(&id).unwrap().unwrap();
        assert_eq!(third.stamp(&id).unwrap(), Some(e.call_id.clone()));
    }
    // The index tables hold nothing of replaced rows.
    let mut sql = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let orphans: i64 = sql
        .query_one(
            "SELECT (SELECT count(*) FROM participant_keys k WHERE NOT EXISTS
                      (SELECT 1 FROM recordings r WHERE r.row = k.row))
                  + (SELECT count(*) FROM custom c WHERE NOT EXISTS
                      (SELECT 1 FROM recordings r WHERE r.row = c.row))",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(orphans, 0);
    let keys: i64 = sql
        .query_one("SELECT count(*) FROM participant_keys", &[])
        .unwrap()
        .get(0);
    // One participant each, found by name (display name is the same, lower-cased) and id.
    assert_eq!(keys, 2 * third.count().unwrap() as i64);
}

#[test]
fn open_catalog_takes_a_url_or_a_path() {
    let Some(server) = PgServer::start(&["fsync=off"]) else {
        return;
    };
    let url = server.database("open");
    let dir = std::env::temp_dir().join(format!("catalog-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let default = dir.join("catalog.sqlite");
    let e = common::entry(1, 0, &[0], None, 0, 0, 1);
    for spec in [url.clone(), url.replace("postgres://", "postgresql://")] {
        let mut c = open_catalog(Some(&spec), &default).unwrap();
        c.upsert(&e, "s").unwrap();
        assert_eq!(c.count().unwrap(), 1);
    }
    assert!(!default.exists(), "a URL must not open the SQLite file");
    let bad = url.replace("/open", "/nosuchdb");
    let err = open_catalog(Some(&bad), &default)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("nosuchdb"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! The console's state in a shared PostgreSQL database (`ConsoleConfig::catalog = postgres://…`): two consoles
//! (two review hosts) on one database appending to the audit log at once from several threads each must make
//! one unbroken chain, with every entry once; and the SQLite default keeps its own file.
//!
//! Needs PostgreSQL 15 (scripts/setup.sh installs it); without it the test prints a loud `SKIPPED` and passes.

#[path = "../../catalog/tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::collections::BTreeSet;
use std::sync::Arc;

use console::{Console, ConsoleConfig, Role, GENESIS};

fn console(root: &std::path::Path, catalog: Option<&str>) -> Console {
    std::fs::create_dir_all(root).unwrap();
    let mut cfg = ConsoleConfig::new(root.to_path_buf());
    cfg.catalog = catalog.map(String::from);
    Console::open(cfg).unwrap()
}

#[test]
fn two_hosts_appending_at_once_make_one_chain() {
    let Some(server) = pg::PgServer::start(&[]) else {
        eprintln!("SKIPPED: PostgreSQL is not installed: the shared audit chain test did NOT run");
        return;
    };
    let db = server.database("audit_race");
    let dir = std::env::temp_dir().join(format!("console-shared-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hosts = [
        Arc::new(console(&dir.join("a"), Some(&db))),
        Arc::new(console(&dir.join("b"), Some(&db))),
    ];
    assert_eq!(hosts[0].accounts().unwrap().backend(), "postgres");
    hosts[0]
        .accounts()
        .unwrap()
        .add_user("olivia", "a long password", Role::Admin, &["*".into()])
        .unwrap();
    // The other host knows her password at once.
    assert!(hosts[1]
        .accounts()
        .unwrap()
        .check_password("olivia", "a long password")
        .unwrap()
        .is_some());

    // Four writers at once, each with a console (and connections) of its own, two per host root: one Console
    // serialises its own writers behind a mutex, so the race that matters is between hosts.
    let per_thread = 40;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            let root = dir.join(if t % 2 == 0 { "a" } else { "b" });
            std::thread::spawn(move || {
                let c = console(&root, Some(&db));
                for i in 0..per_thread {
                    c.audit()
                        .unwrap()
                        .append("olivia", "search", &format!("t{t}-{i}"), "")
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total = 4 * per_thread;
    assert_eq!(hosts[1].audit().unwrap().verify().unwrap(), total as u64);
    let entries = hosts[0].audit().unwrap().recent(10_000).unwrap();
    assert_eq!(entries.len(), total);
    let targets: BTreeSet<&str> = entries.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets.len(), total, "an entry is missing or twice");
    let oldest = entries.last().unwrap();
    assert_eq!((oldest.seq, oldest.prev.as_str()), (1, GENESIS));
    for w in entries.windows(2) {
        assert_eq!(w[0].prev, w[1].hash, "the chain forks at {}", w[0].seq);
        assert_eq!(w[0].seq, w[1].seq + 1);
    }

    // The default (no catalogue URL) keeps its own SQLite file: it knows nobody of the shared database.
    let local = console(&dir.join("local"), None);
    assert_eq!(local.accounts().unwrap().backend(), "sqlite");
    assert!(local.accounts().unwrap().user("olivia").unwrap().is_none());
    assert!(dir.join("local/.console/console.sqlite").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

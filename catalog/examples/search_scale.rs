//! Search at scale: loads N synthetic recordings (default 1,000,000) into SQLite (a file on disk) and
//! PostgreSQL, then times participant + time-range searches as the console's API asks them.
//!
//! ```text
//! cargo run --release -p catalog --example search_scale -- [--n 1000000] [--searches 1000]
//!     [--postgres postgres://user@host/db | --no-postgres] [--no-sqlite] [--dir DIR]
//!     [--http target/release/verbatim]
//! ```
//!
//! With `--http BIN` the same searches also go through the console's API (`BIN serve --catalog` on each
//! catalogue, `GET /api/recordings` with a bearer token over one keep-alive connection: token
//! check, query, JSON, the audit entry), and the answers must equal the store's own (same digest).
//!
//! Without `--postgres` it starts its own server like the tests do (Debian's postgresql-15; as the
//! `postgres` user when run as root). The data: ~2,000 people with Zipf-like frequencies, 2–6 of them per call,
//! starts spread over two years, three desks, directions, phone numbers, 5 % with missing audio. A search:
//! one random person (half drawn as often as they call, half uniformly, so rare ones are asked too), a random
//! 1- or 3-month window, 50 per page, timed from the query to the page serialised as the API's JSON.

#[path = "support/api_client.rs"]
mod api_client;
#[path = "../tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use catalog::{
    CatalogStore, ParticipantEntry, PostgresCatalog, Query, RecordingEntry, SqliteCatalog,
};

const PEOPLE: usize = 2_000;
const FIRST: [&str; 16] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "nia", "oscar", "peggy", "rupert", "sybil",
];
const LAST: [&str; 8] = [
    "smith", "jones", "taylor", "brown", "wilson", "evans", "thomas", "roberts",
];
const DESKS: [&str; 3] = ["rates", "fx", "equities"];
/// 2024-03-01T00:00:00Z: two years of calls up to 2026-03-01.
const T0: i64 = 1_709_251_200_000_000;
const SPAN: i64 = 2 * 365 * 86_400_000_000;
const MONTH: i64 = 30 * 86_400_000_000;

/// splitmix64: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Person {
    name: String,
    display: String,
    id: String,
}

fn people() -> Vec<Person> {
    (0..PEOPLE)
        .map(|i| {
            let (f, l) = (FIRST[i % 16], LAST[(i / 16) % 8]);
            Person {
                name: format!("{f}.{l}{i}"),
                display: format!(
                    "{}{} {}{} ({i})",
                    &f[..1].to_uppercase(),
                    &f[1..],
                    &l[..1].to_uppercase(),
                    &l[1..]
                ),
                id: format!(
                    "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    i * 2_654_435_761 % 0xffff_ffff,
                    i % 0xffff,
                    i % 0xfff,
                    (i * 7) % 0xfff,
                    i * 1_000_003
                ),
            }
        })
        .collect()
}

/// Cumulative Zipf(s = 1) weights over the people, most frequent first.
fn zipf_cdf() -> Vec<f64> {
    let mut acc = 0.0;
    let mut v: Vec<f64> = (1..=PEOPLE)
        .map(|r| {
            acc += 1.0 / r as f64;
            acc
        })
        .collect();
    for x in &mut v {
        *x /= acc;
    }
    v
}

fn zipf(rng: &mut Rng, cdf: &[f64]) -> usize {
    let u = rng.unit();
    cdf.partition_point(|&c| c < u).min(PEOPLE - 1)
}

fn recording(i: usize, rng: &mut Rng, folks: &[Person], cdf: &[f64]) -> RecordingEntry {
    let n = 2 + rng.below(5) as usize;
    let mut who: Vec<usize> = Vec::new();
    while who.len() < n {
        let p = zipf(rng, cdf);
        if !who.contains(&p) {
            who.push(p);
        }
    }
    let started_us = T0 + rng.below(SPAN as u64) as i64;
    let desk = DESKS[rng.below(3) as usize];
    let mut custom = BTreeMap::new();
    custom.insert("desk".to_string(), desk.to_string());
    let duration_us = (30 + rng.below(1800) as i64) * 1_000_000;
    let missing_us = if rng.below(20) == 0 {
        20_000 * (1 + rng.below(50) as i64)
    } else {
        0
    };
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47".to_string();
    RecordingEntry {
        // An archive in the WORM bucket, as a review host catalogues it (`serve --store`): ids a root's scan
        // never removes, so the console can serve them from an SQLite catalogue too.
        id: catalog::bucket_id(
            "archive",
            "eu",
            &format!(
                "{}/{:07}",
                catalog::format_utc(started_us).get(..10).unwrap_or(""),
                i
            ),
        ),
        call_id: format!("{:016x}-{i}", rng.next()),
        leg: "1".into(),
        started_us,
        started_utc: catalog::format_utc(started_us),
        duration_us,
        status: if missing_us > 500_000 {
            "interrupted".into()
        } else {
            "completed".into()
        },
        closed: true,
        encrypted: false,
        direction: ["incoming", "outgoing", "unspecified"][rng.below(3) as usize].into(),
        dialed_number: format!("+44 20 7946 {:04}", rng.below(10_000)),
        origin_number: format!("+1 212 555 {:04}", rng.below(10_000)),
        observed_participant_id: folks[who[0]].id.clone(),
        participants: who
            .iter()
            .map(|&w| ParticipantEntry {
                name: folks[w].name.clone(),
                display_name: folks[w].display.clone(),
                id: folks[w].id.clone(),
            })
            .collect(),
        groups: catalog::groups_of(&tenant, &custom),
        tenant_id: tenant,
        custom_data: custom,
        missing_us,
        node: None,
    }
}

/// Loads `n` recordings in bulk transactions of 50,000.
fn load(n: usize, mut put: impl FnMut(&[RecordingEntry])) -> Duration {
    let (folks, cdf) = (people(), zipf_cdf());
    let mut rng = Rng(42);
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<RecordingEntry> = (i..(i + 50_000).min(n))
            .map(|j| recording(j, &mut rng, &folks, &cdf))
            .collect();
        put(&batch);
        i += batch.len();
        eprint!("\r  {i} / {n} loaded ({:.0} s)", t.elapsed().as_secs_f64());
    }
    eprintln!();
    t.elapsed()
}

/// The searches, the same for every back-end.
fn searches(count: usize) -> Vec<Query> {
    let (folks, cdf) = (people(), zipf_cdf());
    let mut rng = Rng(7);
    (0..count)
        .map(|k| {
            let p = if k % 2 == 0 {
                zipf(&mut rng, &cdf)
            } else {
                rng.below(PEOPLE as u64) as usize
            };
            let months = if rng.below(2) == 0 { 1 } else { 3 };
            // Whole milliseconds: the API's times are RFC 3339 with milliseconds.
            let from = (T0 + rng.below((SPAN - months * MONTH) as u64) as i64) / 1000 * 1000;
            let mut q = Query::new();
            q.participant = Some(folks[p].name.clone());
            q.from_us = Some(from);
            q.to_us = Some(from + months * MONTH);
            q.limit = 50;
            q
        })
        .collect()
}

/// Prints a line of percentiles.
fn report(name: &str, mut times: Vec<Duration>, found: usize, digest: u64) {
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "{name}: {} searches, {:.1} recordings per page on average (answers digest {digest:016x}): \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        found as f64 / times.len() as f64,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
    );
}

fn measure(name: &str, c: &mut dyn CatalogStore, qs: &[Query]) -> u64 {
    // One untimed pass over a few searches so the first timed ones do not pay for connection set-up.
    for q in qs.iter().take(10) {
        c.search(q).unwrap();
    }
    let mut times = Vec::with_capacity(qs.len());
    let mut found = 0usize;
    // Every id found, in order: equal digests mean both back-ends answered alike.
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    for q in qs {
        let t = Instant::now();
        let page = c.search(q).unwrap();
        let json = serde_json::to_string(&page).unwrap();
        times.push(t.elapsed());
        found += page.recordings.len();
        for r in &page.recordings {
            std::hash::Hash::hash(&r.id, &mut digest);
        }
        std::hint::black_box(json);
    }
    let d = std::hash::Hasher::finish(&digest);
    report(name, times, found, d);
    d
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let flag = |name: &str| args.iter().any(|a| a == name);
    let n: usize = opt("--n").map_or(1_000_000, |v| v.parse().expect("--n"));
    let count: usize = opt("--searches").map_or(1_000, |v| v.parse().expect("--searches"));
    let dir = opt("--dir").map_or_else(std::env::temp_dir, PathBuf::from);
    let qs = searches(count);
    println!("{n} recordings, {count} participant + 1- or 3-month searches, 50 per page");

    if !flag("--no-sqlite") {
        let path = dir.join(format!("search-scale-{}.sqlite", std::process::id()));
        let mut c = SqliteCatalog::open(&path).unwrap();
        let took = load(n, |b| {
            c.upsert_many(b.iter().map(|e| (e, "bench"))).unwrap()
        });
        let bytes: u64 = ["", "-wal", "-shm"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
            .map(|m| m.len())
            .sum();
        println!(
            "SQLite ({}): loaded in {:.0} s ({:.0} recordings/s), {:.0} MB on disk",
            path.display(),
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            bytes as f64 / 1e6
        );
        assert_eq!(c.count().unwrap(), n as u64);
        let store_digest = measure("SQLite", &mut c, &qs);
        drop(c);
        if let Some(bin) = opt("--http") {
            through_api("SQLite", &bin, path.to_str().unwrap(), &qs, store_digest);
        }
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", path.display()));
        }
    }

    if !flag("--no-postgres") {
        let (_server, url) = match opt("--postgres") {
            Some(u) => (None, u),
            None => {
                let Some(s) = pg::PgServer::start(&["max_wal_size=4GB", "shared_buffers=1GB"])
                else {
                    return;
                };
                let u = s.database("bench");
                (Some(s), u)
            }
        };
        let mut c = PostgresCatalog::connect(&url).unwrap();
        let took = load(n, |b| {
            c.upsert_many(b.iter().map(|e| (e, "bench"))).unwrap()
        });
        let mut sql = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        // Statistics for the planner, as autovacuum would gather them after a load.
        sql.batch_execute("ANALYZE").unwrap();
        let bytes: i64 = sql
            .query_one("SELECT pg_database_size(current_database())", &[])
            .unwrap()
            .get(0);
        println!(
            "PostgreSQL: loaded in {:.0} s ({:.0} recordings/s), database {:.0} MB",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            bytes as f64 / 1e6
        );
        assert_eq!(c.count().unwrap(), n as u64);
        let store_digest = measure("PostgreSQL", &mut c, &qs);
        if let Some(bin) = opt("--http") {
            through_api("PostgreSQL", &bin, &url, &qs, store_digest);
        }
    }
}

/// The same searches through `BIN serve --catalog CATALOG`'s API; its answers must equal the store's.
fn through_api(name: &str, bin: &str, catalog: &str, qs: &[Query], store_digest: u64) {
    let served = api_client::start(std::path::Path::new(bin), catalog);
    let plain: Vec<(String, i64, i64)> = qs
        .iter()
        .map(|q| {
            let p = q.participant.clone().unwrap_or_default();
            (p, q.from_us.unwrap_or(0), q.to_us.unwrap_or(0))
        })
        .collect();
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    let (times, found) = api_client::time_searches(&served, &plain, &mut digest);
    let d = std::hash::Hasher::finish(&digest);
    report(
        &format!("{name} through GET /api/recordings"),
        times,
        found,
        d,
    );
    assert_eq!(
        d, store_digest,
        "the API answered other recordings than the store"
    );
}

//! A throwaway PostgreSQL server for tests and the search benchmark: `initdb` into a temporary folder, started
//! on a free loopback port with trust authentication, stopped and deleted when dropped.
//!
//! PostgreSQL refuses to run as root, so as root (CI) the server runs as the `postgres` system user and its
//! folders are handed to it; otherwise the binaries run as the current user.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's postgresql-15 puts its server binaries (`scripts/setup.sh` installs them).
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running server.
pub struct PgServer {
    base: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
}

fn run(as_postgres: bool, bin: &str, args: &[&str]) -> std::process::Output {
    let path = Path::new(BIN).join(bin);
    let mut c = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&path);
        c
    } else {
        Command::new(&path)
    };
    let out = c
        .args(args)
        .current_dir("/")
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e}"));
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PgServer {
    /// Starts a server with the given extra settings (`-c name=value` each); `None` (after printing a loud
    /// `SKIPPED:` line) when PostgreSQL is not installed.
    pub fn start(settings: &[&str]) -> Option<PgServer> {
        if !Path::new(BIN).join("initdb").is_file() {
            eprintln!(
                "\n*** SKIPPED: PostgreSQL 15 is not installed ({BIN}/initdb missing); \
                 run scripts/setup.sh to test the PostgreSQL catalogue ***\n"
            );
            return None;
        }
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let base = std::env::temp_dir().join(format!("verbatim-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("sock")).unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&base)
                .status()
                .unwrap();
            assert!(st.success(), "chown postgres {}", base.display());
        }
        let data = base.join("data");
        let (d, s, log) = (
            data.to_str().unwrap().to_string(),
            base.join("sock").to_str().unwrap().to_string(),
            base.join("log").to_str().unwrap().to_string(),
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut opts = format!("-p {port} -k {s} -c listen_addresses=127.0.0.1");
        for x in settings {
            opts.push_str(&format!(" -c {x}"));
        }
        let server = PgServer {
            base,
            data,
            as_postgres,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        };
        // From here on, dropping `server` stops and deletes whatever was made.
        run(
            as_postgres,
            "initdb",
            &[
                "-D",
                &d,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        run(
            as_postgres,
            "pg_ctl",
            &["-D", &d, "-l", &log, "-o", &opts, "-w", "-t", "60", "start"],
        );
        Some(server)
    }

    /// Creates a database and gives its URL.
    pub fn database(&self, name: &str) -> String {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (server, _) = self.url.rsplit_once('/').unwrap();
        format!("{server}/{name}")
    }

    /// The size of the data folder, bytes.
    pub fn data_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p).map_or(0, |rd| {
                rd.flatten()
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => walk(&e.path()),
                        _ => e.metadata().map_or(0, |m| m.len()),
                    })
                    .sum()
            })
        }
        walk(&self.data)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let d = self.data.to_str().unwrap().to_string();
        let path = Path::new(BIN).join("pg_ctl");
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let _ = c
            .args(["-D", &d, "-m", "fast", "-w", "stop"])
            .current_dir("/")
            .output();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

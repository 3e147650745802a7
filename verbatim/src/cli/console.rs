//! `verbatim serve`, `verbatim search` and `verbatim users`: the compliance console, its search from the
//! command line, and its accounts (the `console` and `catalog` crates do the work).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use console::{Console, ConsoleConfig, Role};

/// `verbatim serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The recordings' root: every recording folder under it is catalogued and served.
    #[arg(long)]
    pub root: PathBuf,
    /// Address to listen on (plain HTTP only on loopback unless --insecure-http).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub bind: SocketAddr,
    /// TLS certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).
    #[arg(long)]
    pub insecure_http: bool,
    /// Trusted signing keys (a keyring file): verdicts say whether the signer is one of them.
    #[arg(long)]
    pub keyring: Option<PathBuf>,
    /// An age identity (`verbatim keygen --encryption`): encrypted recordings are catalogued and played
    /// (decrypted copies under ROOT/.console/plain/, after verification). Keep it on the review host only.
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// The catalogue: a `postgres://USER@HOST/DB` URL for one catalogue several nodes share (TLS as libpq:
    /// `?sslmode=verify-full&sslrootcert=CA.pem`; default `prefer`), or an SQLite
    /// file (default: ROOT/.console/catalog.sqlite).
    #[arg(long)]
    pub catalog: Option<String>,
    /// How often the root is scanned for new, closed and vanished recordings.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub rescan: Duration,
    /// This node's name, stamped on the recordings it catalogues (default: the host name): with a shared
    /// catalogue, other nodes' consoles name it for recordings only this node holds.
    #[arg(long)]
    pub node: Option<String>,
    /// Also catalogue every recording under this object store prefix (where recorder nodes upload with
    /// `--store`); they are played, verified and exported from a copy replayed from the bucket on first
    /// use (ROOT/.console/bucket/). Credentials from the standard AWS environment.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub store: Option<String>,
    #[command(flatten)]
    pub endpoint: crate::cli::store::EndpointArgs,
    /// How often the store prefix is listed for new, closed and recovered recordings (a listing reads
    /// every key under the prefix).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub store_rescan: Duration,
    /// Most disk the copies replayed from the store take (ROOT/.console/bucket/); the least recently viewed
    /// are removed beyond it, e.g. 20GiB.
    #[arg(long, value_name = "BYTES", default_value = "20GiB", value_parser = crate::cli::store::parse_bytes)]
    pub store_cache: u64,
    /// Most disk the decrypted copies of encrypted recordings take (ROOT/.console/plain/, with --identity);
    /// the least recently viewed are removed beyond it, e.g. 20GiB.
    #[arg(long, value_name = "BYTES", default_value = "20GiB", value_parser = crate::cli::store::parse_bytes)]
    pub plain_cache: u64,
}

/// `verbatim search`.
#[derive(clap::Args)]
pub struct SearchArgs {
    /// The recordings' root (its catalogue is `ROOT/.console/catalog.sqlite`, brought up to date first).
    #[arg(long)]
    pub root: PathBuf,
    /// The catalogue, as `serve --catalog`.
    #[arg(long)]
    pub catalog: Option<String>,
    /// A participant's name, display name or id.
    #[arg(long)]
    pub participant: Option<String>,
    /// Started at or after (RFC 3339 time or a date).
    #[arg(long)]
    pub from: Option<String>,
    /// Started before (RFC 3339 time or a date).
    #[arg(long)]
    pub to: Option<String>,
    /// incoming, outgoing or unspecified.
    #[arg(long)]
    pub direction: Option<String>,
    /// The dialed or caller's number.
    #[arg(long)]
    pub number: Option<String>,
    /// Custom data KEY=VALUE (repeatable: all must match).
    #[arg(long)]
    pub custom: Vec<String>,
    /// Final status (completed, failed, interrupted, recording).
    #[arg(long)]
    pub status: Option<String>,
    /// Only recordings with (true) or without (false) missing audio.
    #[arg(long)]
    pub has_gaps: Option<bool>,
    /// At least this many seconds long.
    #[arg(long)]
    pub min_duration: Option<f64>,
    /// At most this many recordings (newest first).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `verbatim users`.
#[derive(clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub action: UsersAction,
}

/// What `verbatim users` does.
#[derive(clap::Subcommand)]
pub enum UsersAction {
    /// Add a user (or replace their password, role and groups); the password is read from stdin.
    Add {
        /// User name.
        name: String,
        /// viewer, supervisor or admin.
        #[arg(long)]
        role: String,
        /// Groups the user sees (`desk:rates`, `tenant:ID`; `*` for all); repeatable. Default: `*`.
        #[arg(long = "group")]
        groups: Vec<String>,
        #[command(flatten)]
        at: StateAt,
    },
    /// Make an API token for a user and print it (shown once; only its hash is kept).
    Token {
        /// User name.
        name: String,
        #[command(flatten)]
        at: StateAt,
    },
    /// List the users.
    List {
        #[command(flatten)]
        at: StateAt,
    },
    /// Check the audit log's hash chain and print its newest entries.
    Audit {
        #[command(flatten)]
        at: StateAt,
        /// How many entries to print.
        #[arg(long, default_value_t = 20)]
        last: u32,
    },
}

/// Where `verbatim users` finds the console's users and audit log.
#[derive(clap::Args)]
pub struct StateAt {
    /// The recordings' root (users and the audit log are in `ROOT/.console/console.sqlite`).
    #[arg(long)]
    pub root: PathBuf,
    /// The catalogue, as `serve --catalog`: with a `postgres://` URL the users, tokens and audit log are kept
    /// in that database, shared by every review host that serves it.
    #[arg(long)]
    pub catalog: Option<String>,
}

fn open_with(
    root: &std::path::Path,
    keyring: Option<PathBuf>,
    identity: Option<PathBuf>,
    catalog_spec: Option<String>,
) -> Result<Console> {
    open_as(root, keyring, identity, catalog_spec, None)
}

fn open_as(
    root: &std::path::Path,
    keyring: Option<PathBuf>,
    identity: Option<PathBuf>,
    catalog_spec: Option<String>,
    node: Option<String>,
) -> Result<Console> {
    open_config(root, keyring, identity, catalog_spec, node, |_| ())
}

fn open_config(
    root: &std::path::Path,
    keyring: Option<PathBuf>,
    identity: Option<PathBuf>,
    catalog_spec: Option<String>,
    node: Option<String>,
    more: impl FnOnce(&mut ConsoleConfig),
) -> Result<Console> {
    if !root.is_dir() {
        bail!("{}: not a folder", root.display());
    }
    let mut cfg = ConsoleConfig::new(root.to_path_buf());
    more(&mut cfg);
    cfg.keyring = keyring;
    cfg.identity = identity;
    cfg.catalog = catalog_spec;
    if let Some(n) = node.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) {
        cfg.node = n;
    }
    Console::open(cfg).with_context(|| format!("the console's state under {}", root.display()))
}

/// Runs `verbatim serve`.
pub fn serve(a: ServeArgs) -> Result<()> {
    verbatim::install_tls_provider();
    let store = match &a.store {
        Some(s) => Some(a.endpoint.config(store::StoreUrl::parse(s)?)),
        None => None,
    };
    let store_rescan = a.store_rescan.max(Duration::from_secs(1));
    let c = Arc::new(open_config(
        &a.root,
        a.keyring,
        a.identity,
        a.catalog,
        a.node,
        |cfg| {
            cfg.store = store;
            cfg.store_rescan = store_rescan;
            cfg.store_cache_bytes = a.store_cache;
            cfg.plain_cache_bytes = a.plain_cache;
        },
    )?);
    let r = c.rescan()?;
    eprintln!(
        "verbatim serve: {} recordings catalogued ({} new or changed, {} could not be read)",
        c.catalog()?.count()?,
        r.indexed,
        r.failed.len()
    );
    // Which could not be read, and why: said by the serving loop's first scan (right away: they are tried
    // again), once each. Those read in part are indexed now and not read again, so they are said here.
    for (id, why) in &r.partial {
        eprintln!("verbatim serve: catalogued in part: {id}: {why}");
    }
    if c.accounts()?.users()?.is_empty() {
        eprintln!("verbatim serve: no users yet: add one with `verbatim users add NAME --role admin --root {}`", a.root.display());
    }
    let opts = console::web::ServeOptions {
        bind: a.bind,
        tls: a.tls_cert.zip(a.tls_key),
        insecure_http: a.insecure_http,
        rescan: a.rescan,
    };
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(console::web::serve(c, opts, |addr| {
        println!("verbatim serve: the console is at {scheme}://{addr}/");
    }))?;
    Ok(())
}

/// Runs `verbatim search`: one line per recording, starting with its folder.
pub fn search(a: SearchArgs) -> Result<()> {
    let c = open_with(&a.root, None, None, a.catalog.clone())?;
    c.rescan()?;
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    pairs.push(("participant", opt(&a.participant)));
    pairs.push(("from", opt(&a.from)));
    pairs.push(("to", opt(&a.to)));
    pairs.push(("direction", opt(&a.direction)));
    pairs.push(("number", opt(&a.number)));
    pairs.push(("status", opt(&a.status)));
    pairs.push((
        "has_gaps",
        a.has_gaps.map(|b| b.to_string()).unwrap_or_default(),
    ));
    pairs.push((
        "min_duration",
        a.min_duration.map(|d| d.to_string()).unwrap_or_default(),
    ));
    pairs.push(("limit", a.limit.to_string()));
    for kv in &a.custom {
        pairs.push(("custom", kv.clone()));
    }
    let q = catalog::Query::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))?;
    let page = c.catalog()?.search(&q)?;
    c.audit()?.append(
        &format!("cli:{}", whoami()),
        "search",
        &query_text(&pairs),
        "verbatim search",
    )?;
    for e in &page.recordings {
        let folder = a.root.join(&e.id);
        if a.json {
            println!(
                "{}",
                serde_json::json!({ "folder": folder, "recording": e })
            );
        } else {
            let who: Vec<&str> = e.participants.iter().map(|p| p.name.as_str()).collect();
            println!(
                "{}  {}  {:>8.1} s  {}  {}  {}{}",
                folder.display(),
                e.started_utc,
                e.duration_us as f64 / 1e6,
                e.status,
                if e.direction.is_empty() {
                    "-"
                } else {
                    &e.direction
                },
                who.join(","),
                if e.has_gaps() {
                    format!("  missing {:.2} s", e.missing_us as f64 / 1e6)
                } else {
                    String::new()
                }
            );
        }
    }
    if page.next.is_some() {
        eprintln!(
            "verbatim search: more than {} recordings match (raise --limit or narrow the search)",
            a.limit
        );
    }
    Ok(())
}

fn query_text(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

/// Runs `verbatim users`.
pub fn users(a: UsersArgs) -> Result<()> {
    match a.action {
        UsersAction::Add {
            name,
            role,
            groups,
            at,
        } => {
            let role = Role::parse(&role)
                .with_context(|| format!("{role:?}: the role is viewer, supervisor or admin"))?;
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\n', '\r']);
            let groups = if groups.is_empty() {
                vec!["*".to_string()]
            } else {
                groups
            };
            let c = open_with(&at.root, None, None, at.catalog)?;
            c.accounts()?.add_user(&name, password, role, &groups)?;
            c.audit()?.append(
                &format!("cli:{}", whoami()),
                "user_add",
                &name,
                &format!("{} {}", role.name(), groups.join(",")),
            )?;
            println!("user {name}: {} of {}", role.name(), groups.join(", "));
        }
        UsersAction::Token { name, at } => {
            let c = open_with(&at.root, None, None, at.catalog)?;
            let t = c.accounts()?.new_token(&name)?;
            c.audit()?
                .append(&format!("cli:{}", whoami()), "token_add", &name, "")?;
            println!("{t}");
        }
        UsersAction::List { at } => {
            let c = open_with(&at.root, None, None, at.catalog)?;
            for u in c.accounts()?.users()? {
                println!("{}  {}  {}", u.name, u.role.name(), u.groups.join(","));
            }
        }
        UsersAction::Audit { at, last } => {
            let c = open_with(&at.root, None, None, at.catalog)?;
            let mut log = c.audit()?;
            let n = log.verify()?;
            println!("audit log: {n} entries, the hash chain holds");
            for e in log.recent(last)?.iter().rev() {
                println!(
                    "{:>6}  {}  {}  {}  {}  {}",
                    e.seq, e.at_utc, e.user, e.action, e.target, e.detail
                );
            }
        }
    }
    Ok(())
}

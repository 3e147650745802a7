//! The console's HTTP side: routes, sign-in, sessions, CSRF, rate limiting and serving (plain on loopback, TLS
//! elsewhere).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /login`, `POST /login` | anyone | sign in (rate limited: [`LoginLimiter`]) |
//! | `POST /logout` | session | sign out |
//! | `GET /` | session | search form and results (the same parameters as the API) |
//! | `GET /recording?id=` | session | the review page: metadata, verdict, timeline, waveforms, player |
//! | `POST /play` | session | gives the reason for playing a recording (audited), then the player loads |
//! | `GET /media?id=&file=` | session with a play reason | a recording's file, with HTTP range requests |
//! | `GET /timeline.svg?id=` | session or token | the speaker timeline picture |
//! | `GET /peaks?id=&stem=` | session or token | a stem's waveform peaks (JSON) |
//! | `POST /export` | session | the evidence bundle (zip; audited) |
//! | `GET /audit` | admin | the audit log and whether its chain holds |
//! | `GET /api/recordings?…` | token or session | search as JSON: `{"recordings":[…],"next":…}` |
//! | `GET /api/recording?id=` | token or session | one recording and its verdict as JSON |
//! | `GET /api/export?id=` | token | the evidence bundle (zip; audited) |
//! | `GET /live` | supervisor | the calls in progress on this node (`listen --console`) |
//! | `GET /live/ws?call=&leg=&who=&reason=` | supervisor | a listen-in's audio (WebSocket; audited, journaled in the call) |
//!
//! Every answer but `/login` needs a session cookie (`vb_session`, HttpOnly, SameSite=Strict, Secure under
//! TLS) or an `Authorization: Bearer vbt_…` token; every POST form carries the session's CSRF token.

mod handlers;
mod live;
mod pages;
mod serve;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{Console, ConsoleError, User};

pub use serve::{router, serve, ServeOptions};

/// Failed logins allowed per client address (and per user name) in [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES: u32 = 5;
/// The window over which failures count; a locked client waits until it passes.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(300);

/// Counts failed logins per client address and per user name; over [`LOGIN_FAILURES`] in [`LOGIN_WINDOW`] the
/// login answers 429 without checking the password.
///
/// ```
/// use console::web::LoginLimiter;
/// let mut l = LoginLimiter::default();
/// let ip = "127.0.0.1".parse().unwrap();
/// for _ in 0..5 { assert!(l.allowed(ip, "eve")); l.failed(ip, "eve"); }
/// assert!(!l.allowed(ip, "eve"));
/// assert!(!l.allowed("10.0.0.9".parse().unwrap(), "eve")); // the name is locked too
/// assert!(l.allowed("10.0.0.9".parse().unwrap(), "bob"));
/// ```
#[derive(Default)]
pub struct LoginLimiter {
    by_ip: HashMap<IpAddr, Vec<Instant>>,
    by_user: HashMap<String, Vec<Instant>>,
}

impl LoginLimiter {
    fn recent(list: &mut Vec<Instant>) -> usize {
        list.retain(|t| t.elapsed() < LOGIN_WINDOW);
        list.len()
    }

    /// This client may try to log in as this user now.
    pub fn allowed(&mut self, ip: IpAddr, user: &str) -> bool {
        let a = self.by_ip.get_mut(&ip).map_or(0, Self::recent);
        let b = self.by_user.get_mut(user).map_or(0, Self::recent);
        a < LOGIN_FAILURES as usize && b < LOGIN_FAILURES as usize
    }

    /// A failed attempt.
    pub fn failed(&mut self, ip: IpAddr, user: &str) {
        if self.by_ip.len() > 100_000 {
            self.by_ip.retain(|_, v| Self::recent(v) > 0);
        }
        if self.by_user.len() > 100_000 {
            self.by_user.retain(|_, v| Self::recent(v) > 0);
        }
        self.by_ip.entry(ip).or_default().push(Instant::now());
        self.by_user
            .entry(user.chars().take(64).collect())
            .or_default()
            .push(Instant::now());
    }
}

/// Who is asking: a browser session (cookie and its CSRF token) or an API token.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: User,
    /// `(cookie, csrf)` for a browser session; `None` for a bearer token.
    pub session: Option<(String, String)>,
}

pub(crate) type App = Arc<Console>;

/// An error page or JSON error, by status.
pub(crate) struct Fail(pub StatusCode, pub String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.1 }).to_string();
        (self.0, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

impl From<catalog::CatalogError> for Fail {
    fn from(e: catalog::CatalogError) -> Fail {
        Fail::from(ConsoleError::from(e))
    }
}

impl From<ConsoleError> for Fail {
    fn from(e: ConsoleError) -> Fail {
        match e {
            ConsoleError::BadInput(m) => Fail(StatusCode::BAD_REQUEST, m),
            e @ ConsoleError::NotOnThisHost(_) => Fail(StatusCode::NOT_FOUND, e.to_string()),
            ConsoleError::Catalog(catalog::CatalogError::BadQuery(m)) => {
                Fail(StatusCode::BAD_REQUEST, m)
            }
            other => Fail(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

/// The reason a user gave for playing or listening in (`what`), trimmed: at least 4 characters, else 400.
pub(crate) fn given_reason(fields: &HashMap<String, String>, what: &str) -> Result<String, Fail> {
    let reason = fields
        .get("reason")
        .map(|r| r.trim().to_string())
        .unwrap_or_default();
    if reason.chars().count() < 4 {
        return Err(Fail(
            StatusCode::BAD_REQUEST,
            format!("give the reason for {what} (at least 4 characters)"),
        ));
    }
    Ok(reason)
}

/// A cookie's value from the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// [`caller`] on a blocking thread: the token's or session's lookup is database work (an SQLite read, a
/// PostgreSQL round trip), which must not hold one of the few async workers every request shares.
pub(crate) async fn caller_off_worker(
    app: &App,
    headers: &HeaderMap,
) -> Result<Option<Caller>, Fail> {
    let app = Arc::clone(app);
    let headers = headers.clone();
    tokio::task::spawn_blocking(move || caller(&app, &headers))
        .await
        .map_err(|e| Fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// The caller, from a bearer token or a session cookie.
pub(crate) fn caller(app: &Console, headers: &HeaderMap) -> Result<Option<Caller>, Fail> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = auth.strip_prefix("Bearer ").map(str::trim).unwrap_or("");
        let user = app.accounts()?.token_user(token)?;
        return match user {
            Some(user) => Ok(Some(Caller {
                user,
                session: None,
            })),
            None => Err(Fail(StatusCode::UNAUTHORIZED, "unknown API token".into())),
        };
    }
    let Some(c) = cookie(headers, "vb_session") else {
        return Ok(None);
    };
    Ok(app.accounts()?.session(&c)?.map(|(user, csrf)| Caller {
        user,
        session: Some((c, csrf)),
    }))
}

/// Constant-time comparison of two secrets.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// HTML-escapes text for element content and attribute values.
///
/// ```
/// assert_eq!(console::web::esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
/// ```
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Percent-encodes a query value.
///
/// ```
/// assert_eq!(console::web::url_enc("2026/03 c&1"), "2026%2F03%20c%261");
/// ```
pub fn url_enc(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(char::from(b));
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

//! The route handlers: each checks the caller, audits what must be audited before answering, then answers.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use tower::ServiceExt;

use super::pages;
use super::{cookie, same_secret, url_enc, App, Caller, Fail};
use crate::{Console, ConsoleError, Role};

type Pairs = Query<Vec<(String, String)>>;

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == k)
        .map_or("", |(_, v)| v.as_str())
}

/// Runs blocking work (SQLite, files, verification) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Fail> + Send + 'static,
) -> Result<T, Fail> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// The signed-in caller, or a redirect to the login page (browser) / 401 (API).
// The error is the answer itself, returned to axum at once: boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
async fn need(app: &App, headers: &HeaderMap, api: bool) -> Result<Caller, Response> {
    match super::caller_off_worker(app, headers).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) if api => Err(Fail(
            StatusCode::UNAUTHORIZED,
            "sign in or give a bearer token".into(),
        )
        .into_response()),
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(f) => Err(f.into_response()),
    }
}

/// A POST form's CSRF token must be the session's.
// As `need`: the error is the answer.
#[allow(clippy::result_large_err)]
fn check_csrf(c: &Caller, form: &HashMap<String, String>) -> Result<(String, String), Response> {
    match &c.session {
        Some((cookie, csrf)) if same_secret(form.get("csrf").map_or("", String::as_str), csrf) => {
            Ok((cookie.clone(), csrf.clone()))
        }
        _ => Err(Fail(StatusCode::FORBIDDEN, "missing or wrong CSRF token".into()).into_response()),
    }
}

fn audit(app: &Console, user: &str, action: &str, target: &str, detail: &str) -> Result<(), Fail> {
    app.audit()?
        .append(user, action, target, detail)
        .map(|_| ())
        .map_err(Fail::from)
}

/// A catalogued recording the caller may see (404 for one they may not: its existence is not disclosed).
fn visible(app: &Console, c: &Caller, id: &str) -> Result<catalog::RecordingEntry, Fail> {
    let e = app.catalog()?.get(id)?;
    match e {
        Some(e) if c.user.may_see(&e.groups) => Ok(e),
        _ => Err(Fail(StatusCode::NOT_FOUND, format!("no recording {id:?}"))),
    }
}

pub(crate) async fn login_page(headers: HeaderMap) -> Response {
    let token = cookie(&headers, "vb_login").filter(|t| t.len() == 64);
    let token = match token {
        Some(t) => t,
        None => match crate::accounts::secret_hex() {
            Ok(t) => t,
            Err(e) => return Fail::from(e).into_response(),
        },
    };
    let mut r = Html(pages::login(&token, "")).into_response();
    set_cookie(
        &mut r,
        &format!("vb_login={token}; HttpOnly; SameSite=Strict; Path=/login"),
    );
    r
}

pub(crate) async fn login(
    State(app): State<App>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| (p.0).0.ip());
    let user = form.get("user").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let sent = form.get("csrf").cloned().unwrap_or_default();
    let expected = cookie(&headers, "vb_login").unwrap_or_default();
    if expected.is_empty() || !same_secret(&sent, &expected) {
        return Fail(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token (reload the login page)".into(),
        )
        .into_response();
    }
    let r = blocking(move || {
        let allowed = app
            .limiter
            .lock()
            .map_err(|_| Fail::from(ConsoleError::Poisoned))?
            .allowed(ip, &user);
        if !allowed {
            audit(
                &app,
                &user,
                "login_refused",
                "",
                &format!("{ip}: too many failed logins"),
            )?;
            return Ok(Err((
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed logins: wait a few minutes.",
            )));
        }
        let ok = app.accounts()?.check_password(&user, &password)?;
        match ok {
            Some(u) => {
                let s = app.accounts()?.new_session(&u.name)?;
                audit(&app, &u.name, "login", "", &ip.to_string())?;
                Ok(Ok(s))
            }
            None => {
                app.limiter
                    .lock()
                    .map_err(|_| Fail::from(ConsoleError::Poisoned))?
                    .failed(ip, &user);
                audit(&app, &user, "login_failed", "", &ip.to_string())?;
                Ok(Err((
                    StatusCode::UNAUTHORIZED,
                    "Wrong user name or password.",
                )))
            }
        }
    })
    .await;
    match r {
        Ok(Ok(s)) => {
            let mut r = Redirect::to("/").into_response();
            set_cookie(
                &mut r,
                &format!("vb_session={}; HttpOnly; SameSite=Strict; Path=/", s.cookie),
            );
            r
        }
        Ok(Err((status, msg))) => (status, Html(pages::login(&expected, msg))).into_response(),
        Err(f) => f.into_response(),
    }
}

fn set_cookie(r: &mut Response, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(crate) async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let c = match need(&app, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (ck, _) = match check_csrf(&c, &form) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = blocking(move || {
        app.accounts()?.end_session(&ck)?;
        audit(&app, &c.user.name, "logout", "", "")
    })
    .await;
    match r {
        Ok(()) => {
            let mut r = Redirect::to("/login").into_response();
            set_cookie(
                &mut r,
                "vb_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
            );
            r
        }
        Err(f) => f.into_response(),
    }
}

/// Runs a search for a caller (scoped to their groups) and audits it.
fn search_for(
    app: &Console,
    c: &Caller,
    pairs: &[(String, String)],
) -> Result<catalog::Page, Fail> {
    let mut q = catalog::Query::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(ConsoleError::from)?;
    q.groups = c.user.scope();
    let text: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    audit(app, &c.user.name, "search", &text.join("&"), "")?;
    Ok(app.catalog()?.search(&q)?)
}

pub(crate) async fn search_page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Response {
    let c = match need(&app, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let r = blocking(move || {
        let searched = pairs.iter().any(|(_, v)| !v.is_empty());
        let page = if searched {
            Some(search_for(&app, &c, &pairs))
        } else {
            Some(search_for(&app, &c, &[]))
        };
        let (page, error) = match page {
            Some(Ok(p)) => (Some(p), None),
            Some(Err(Fail(StatusCode::BAD_REQUEST, m))) => (None, Some(m)),
            Some(Err(f)) => return Err(f),
            None => (None, None),
        };
        Ok(pages::search(&c, &pairs, page.as_ref(), error.as_deref()))
    })
    .await;
    match r {
        Ok(html) => Html(html).into_response(),
        Err(f) => f.into_response(),
    }
}

pub(crate) async fn recording_page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Response {
    let c = match need(&app, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = get(&pairs, "id").to_string();
    let r = blocking(move || {
        let e = visible(&app, &c, &id)?;
        let verdict = app.verdict(&id)?;
        let may_play = match &c.session {
            Some((ck, _)) => app.accounts()?.may_play(ck, &id)?,
            None => false,
        };
        // An encrypted recording is read from its decrypted copy (when the console holds the identity).
        let media = if e.encrypted && !app.can_decrypt() {
            None
        } else {
            app.media_dir(&e).ok()
        };
        let metadata = media
            .as_ref()
            .and_then(|m| std::fs::read(m.join("metadata.json")).ok());
        let timeline = match (&media, metadata.as_deref()) {
            (Some(dir), Some(m)) => crate::review::timeline_input(&app, dir, &id, m)
                .ok()
                .map(|t| timeline_svg::render_svg(&t, &timeline_svg::SvgOptions::default())),
            _ => None,
        };
        let mut waves = Vec::new();
        for p in &e.participants {
            let Some(m) = &media else { break };
            if let Ok(svg) = crate::review::stem_waveform_svg(&app, m, &id, &p.name, e.duration_us)
            {
                waves.push((p.name.clone(), svg));
            }
        }
        let copy = if verdict.checked {
            None
        } else {
            app.copy_in_bucket(&e)?
        };
        Ok(pages::recording(
            &c,
            &e,
            pages::Integrity {
                verdict: &verdict,
                copy_in_bucket: copy.as_deref(),
            },
            may_play,
            media.is_some(),
            timeline.as_deref(),
            &waves,
        ))
    })
    .await;
    match r {
        Ok(html) => Html(html).into_response(),
        Err(f) => f.into_response(),
    }
}

pub(crate) async fn play(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let c = match need(&app, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (ck, _) = match check_csrf(&c, &form) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = form.get("id").cloned().unwrap_or_default();
    let reason = match super::given_reason(&form, "playing this recording") {
        Ok(r) => r,
        Err(f) => return f.into_response(),
    };
    let id2 = id.clone();
    let r = blocking(move || {
        visible(&app, &c, &id2)?;
        audit(&app, &c.user.name, "play", &id2, &reason)?;
        app.accounts()?.grant_play(&ck, &id2).map_err(Fail::from)
    })
    .await;
    match r {
        Ok(()) => Redirect::to(&format!("/recording?id={}#player", url_enc(&id))).into_response(),
        Err(f) => f.into_response(),
    }
}

/// Files of a folder the player and the page may fetch.
fn servable(file: &str) -> bool {
    matches!(file, "recording.mp4" | "mixed.wav" | "screenshare.mp4")
        || file.strip_prefix("participants/").is_some_and(|n| {
            !n.contains('/') && !n.starts_with('.') && (n.ends_with(".wav") || n.ends_with(".mp4"))
        })
}

pub(crate) async fn media(State(app): State<App>, Query(pairs): Pairs, req: Request) -> Response {
    let c = match need(&app, req.headers(), false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = get(&pairs, "id").to_string();
    let file = get(&pairs, "file").to_string();
    if !servable(&file) {
        return Fail(StatusCode::NOT_FOUND, format!("no file {file:?}")).into_response();
    }
    let app2 = app.clone();
    let id2 = id.clone();
    let allowed = blocking(move || {
        let e = visible(&app2, &c, &id2)?;
        let may = match &c.session {
            Some((ck, _)) => app2.accounts()?.may_play(ck, &id2)?,
            None => false,
        };
        if !may {
            return Err(Fail(
                StatusCode::FORBIDDEN,
                "give a reason for playing this recording first".into(),
            ));
        }
        Ok(app2.media_dir(&e)?)
    })
    .await;
    let path = match allowed {
        Ok(d) => d.join(&file),
        Err(f) => return f.into_response(),
    };
    let svc = tower_http::services::ServeFile::new(path);
    match svc.oneshot(req).await {
        Ok(r) => r.map(Body::new).into_response(),
        Err(e) => Fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub(crate) async fn timeline(
    State(app): State<App>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Response {
    let c = match need(&app, &headers, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = get(&pairs, "id").to_string();
    let r = blocking(move || {
        let e = visible(&app, &c, &id)?;
        let dir = app.media_dir(&e)?;
        let m = std::fs::read(dir.join("metadata.json"))
            .map_err(|e| Fail(StatusCode::NOT_FOUND, format!("{id}: metadata.json: {e}")))?;
        let t = crate::review::timeline_input(&app, &dir, &id, &m)
            .map_err(|e| Fail(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
        Ok(timeline_svg::render_svg(
            &t,
            &timeline_svg::SvgOptions::default(),
        ))
    })
    .await;
    match r {
        Ok(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Err(f) => f.into_response(),
    }
}

pub(crate) async fn peaks(
    State(app): State<App>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Response {
    let c = match need(&app, &headers, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = get(&pairs, "id").to_string();
    let stem = get(&pairs, "stem").to_string();
    let r = blocking(move || {
        let e = visible(&app, &c, &id)?;
        crate::review::stem_peaks_json(&app, &app.media_dir(&e)?, &id, &stem).map_err(Fail::from)
    })
    .await;
    match r {
        Ok(j) => ([(header::CONTENT_TYPE, "application/json")], j).into_response(),
        Err(f) => f.into_response(),
    }
}

/// Builds the bundle into a temporary file under the state folder, audits it, and answers it as a download.
async fn export_for(app: App, c: Caller, id: String, how: &'static str) -> Response {
    let r = blocking(move || {
        let e = visible(&app, &c, &id)?;
        let dir = app.recording_dir(&e)?;
        let verdict = app.verdict(&id)?;
        let tmp_dir = app.config().state_dir.join("exports");
        std::fs::create_dir_all(&tmp_dir)
            .map_err(|e| Fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let tmp = tmp_dir.join(format!("{}.zip", crate::accounts::secret_hex()?));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let made = crate::export_zip(&dir, &id, &verdict, f);
        let (f, report) = match made {
            Ok(x) => x,
            Err(err) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(err.into());
            }
        };
        drop(f);
        let bytes =
            std::fs::read(&tmp).map_err(|e| Fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()));
        let _ = std::fs::remove_file(&tmp);
        let bytes = bytes?;
        audit(
            &app,
            &c.user.name,
            "export",
            &id,
            &format!(
                "{how}; {} files, {} bytes; zip sha256 {}",
                report.files, report.bytes, report.sha256
            ),
        )?;
        Ok((e.call_id, bytes))
    })
    .await;
    match r {
        Ok((call, bytes)) => {
            let name: String = call
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            (
                [
                    (header::CONTENT_TYPE, "application/zip".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"evidence-{name}.zip\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(f) => f.into_response(),
    }
}

pub(crate) async fn export_form(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let c = match need(&app, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&c, &form) {
        return r;
    }
    let id = form.get("id").cloned().unwrap_or_default();
    export_for(app, c, id, "console").await
}

pub(crate) async fn api_export(
    State(app): State<App>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Response {
    let c = match need(&app, &headers, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if c.session.is_some() {
        // A GET with a cookie could be forged by another site; the browser exports through the POST form.
        return Fail(
            StatusCode::FORBIDDEN,
            "the API export takes a bearer token".into(),
        )
        .into_response();
    }
    export_for(app, c, get(&pairs, "id").to_string(), "api").await
}

pub(crate) async fn audit_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let c = match need(&app, &headers, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if c.user.role < Role::Admin {
        return Fail(StatusCode::FORBIDDEN, "the audit log is for admins".into()).into_response();
    }
    let r = blocking(move || {
        let mut log = app.audit()?;
        let chain = log.verify();
        let recent = log.recent(500)?;
        Ok(pages::audit(&c, &recent, &chain))
    })
    .await;
    match r {
        Ok(html) => Html(html).into_response(),
        Err(f) => f.into_response(),
    }
}

pub(crate) async fn api_search(
    State(app): State<App>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Response {
    let c = match need(&app, &headers, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match blocking(move || search_for(&app, &c, &pairs)).await {
        Ok(page) => axum::Json(page).into_response(),
        Err(f) => f.into_response(),
    }
}

pub(crate) async fn api_recording(
    State(app): State<App>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Response {
    let c = match need(&app, &headers, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = get(&pairs, "id").to_string();
    let r = blocking(move || {
        let e = visible(&app, &c, &id)?;
        let verdict = app.verdict(&id)?;
        audit(&app, &c.user.name, "view", &id, "api")?;
        Ok(serde_json::json!({ "recording": e, "verdict": verdict }))
    })
    .await;
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(f) => f.into_response(),
    }
}

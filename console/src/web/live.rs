//! `/live` (the calls in progress on this node) and `/live/ws` (a listen-in's audio over a WebSocket); see
//! [`crate::live`]. Supervisors and admins only; every listen-in is audited (start with the reason, end with
//! how long) and journaled in the call itself.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::{esc, App, Fail};
use crate::Role;

// The error is the answer itself, returned to axum at once (as `handlers::need`).
#[allow(clippy::result_large_err)]
async fn supervisor(app: &App, headers: &HeaderMap) -> Result<crate::User, Response> {
    match super::caller_off_worker(app, headers).await {
        Ok(Some(c)) if c.user.role >= Role::Supervisor => Ok(c.user),
        Ok(Some(_)) => Err(Fail(
            StatusCode::FORBIDDEN,
            "listening in is for supervisors".into(),
        )
        .into_response()),
        Ok(None) => Err(axum::response::Redirect::to("/login").into_response()),
        Err(f) => Err(f.into_response()),
    }
}

pub(crate) async fn live_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let user = match supervisor(&app, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let calls = app.live().map(|l| l.calls()).unwrap_or_default();
    let rows: String = calls
        .iter()
        .map(|c| {
            let who: String = std::iter::once("<option value=\"\">the mix</option>".to_string())
                .chain(c.participants.iter().map(|p| format!("<option value=\"{0}\">{0}</option>", esc(p))))
                .collect();
            format!(
                r#"<tr class="live-call"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><form class="listen" onsubmit="return listen(this)">
<input type="hidden" name="call" value="{}"><input type="hidden" name="leg" value="{}"><select name="who">{who}</select>
<input name="reason" placeholder="reason (kept in the audit log and in the call)" required minlength="4" size="40">
<button>Listen</button></form></td></tr>"#,
                esc(&c.call_id),
                esc(&c.leg),
                esc(&c.phase),
                esc(&c.started_utc),
                esc(&c.call_id),
                esc(&c.leg)
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Calls in progress</h1>{}<table id="live"><tr><th>Call</th><th>Leg</th><th>Phase</th><th>Started (UTC)</th><th>Listen in</th></tr>{rows}</table>
<p id="live-status"></p><p><button onclick="stop()">Stop listening</button></p>
<script>{LIVE_JS}</script>"#,
        if calls.is_empty() {
            "<p id=\"no-calls\">No call in progress.</p>"
        } else {
            ""
        }
    );
    Html(super::pages::framed("Live calls", &user, &body)).into_response()
}

/// The page's player: schedules each tick on WebAudio ~100 ms ahead and records, per tick, the delay from
/// the tick's wall clock to when the audio output plays it (`getOutputTimestamp`).
const LIVE_JS: &str = r#"
let ctx = null, ws = null, next = 0, lat = [], peak = 0, chunks = 0;
function listen(form) {
  stop();
  ctx = new AudioContext({sampleRate: 16000});
  const q = new URLSearchParams(new FormData(form));
  ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/live/ws?' + q);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (m) => {
    const dv = new DataView(m.data), wall = dv.getFloat64(0, true), n = (m.data.byteLength - 8) / 2;
    if (n <= 0) return;
    const buf = ctx.createBuffer(1, n, 16000), ch = buf.getChannelData(0);
    for (let i = 0; i < n; i++) { const s = dv.getInt16(8 + 2 * i, true) / 32768; ch[i] = s; if (Math.abs(s) > peak) peak = Math.abs(s); }
    const src = ctx.createBufferSource(); src.buffer = buf; src.connect(ctx.destination);
    if (next < ctx.currentTime + 0.02 || next > ctx.currentTime + 0.5) next = ctx.currentTime + 0.1;
    src.start(next);
    const ts = ctx.getOutputTimestamp();
    lat.push(performance.timeOrigin + ts.performanceTime + (next - ts.contextTime) * 1000 - wall);
    next += n / 16000; chunks++;
    document.getElementById('live-status').textContent = 'listening: ' + chunks + ' ticks, delay ' + Math.round(lat[lat.length - 1]) + ' ms';
  };
  ws.onclose = () => { document.getElementById('live-status').textContent += ' (ended)'; };
  return false;
}
function stop() { if (ws) ws.close(); ws = null; }
window.liveStats = () => {
  const s = [...lat].sort((a, b) => a - b), at = (p) => s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null;
  return {chunks, p50: at(0.5), p99: at(0.99), max: s.length ? s[s.length - 1] : null, peak, state: ctx ? ctx.state : 'none'};
};
"#;

pub(crate) async fn live_ws(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let user = match supervisor(&app, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    // A WebSocket is not bound by the same-origin policy: refuse one opened by another site's page.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if origin.split("://").nth(1) != Some(host) {
        return Fail(StatusCode::FORBIDDEN, "cross-site WebSocket refused".into()).into_response();
    }
    let call = q.get("call").cloned().unwrap_or_default();
    let leg = q.get("leg").cloned().unwrap_or_else(|| "1".into());
    let who = q.get("who").cloned().filter(|w| !w.is_empty());
    let reason = match super::given_reason(&q, "listening in") {
        Ok(r) => r,
        Err(f) => return f.into_response(),
    };
    let Some(live) = app.live() else {
        return Fail(
            StatusCode::NOT_FOUND,
            "this console has no live calls (it is not a recorder node)".into(),
        )
        .into_response();
    };
    let target = format!("{call} (leg {leg}) {}", who.as_deref().unwrap_or("mix"));
    if let Err(f) = app.audit().map_err(Fail::from).and_then(|mut a| {
        a.append(&user.name, "listen_in", &target, &reason)
            .map_err(Fail::from)
    }) {
        return f.into_response();
    }
    let stream = match live
        .listen(&call, &leg, who.as_deref(), &user.name, &reason)
        .await
    {
        Ok(s) => s,
        Err(e) => return Fail(StatusCode::NOT_FOUND, e).into_response(),
    };
    ws.on_upgrade(move |socket| pump(app, socket, stream, user.name, target))
}

async fn pump(
    app: App,
    mut socket: WebSocket,
    mut stream: crate::live::LiveStream,
    user: String,
    target: String,
) {
    let t0 = Instant::now();
    let mut frame: Vec<u8> = Vec::with_capacity(8 + 2 * 640);
    loop {
        tokio::select! {
            chunk = stream.rx.recv() => {
                let Some(c) = chunk else { break }; // the call ended
                frame.clear();
                frame.extend_from_slice(&c.wall_ms.to_le_bytes());
                for s in &c.pcm {
                    frame.extend_from_slice(&s.to_le_bytes());
                }
                if socket.send(Message::Binary(frame.clone().into())).await.is_err() {
                    break;
                }
            }
            m = socket.recv() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let length_ms = i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX);
    (stream.end)(length_ms);
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(mut a) = app.audit() {
            let _ = a.append(
                &user,
                "listen_in_end",
                &target,
                &format!("{:.1} s", length_ms as f64 / 1000.0),
            );
        }
    })
    .await;
}

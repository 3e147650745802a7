//! Live calls and listen-in: what a recorder node (`verbatim listen --console ADDR`) offers the console.
//!
//! The node implements [`LiveCalls`]; the console lists the calls in progress (`/live`, supervisors and
//! admins) and streams one call's mix or one participant to the browser over a WebSocket (`/live/ws`): each
//! message is 8 bytes of the tick's wall clock (f64, Unix ms, little-endian: recording start + recording
//! time, i.e. when the bot's buffer of that audio arrived) then the tick's 16-bit PCM (16 kHz mono,
//! little-endian). The page plays it through WebAudio and measures the delay from that wall clock to its
//! audio output. Every listen-in is audited by the console and journaled by the recorder (a signed
//! `listen_in` / `listen_in_ended` line in the call's `timeline.jsonl`).

use std::future::Future;
use std::pin::Pin;

/// A call in progress on the node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveCall {
    /// Call id.
    pub call_id: String,
    /// Leg.
    pub leg: String,
    /// Its folder under the node's output.
    pub folder: String,
    /// Recording, awaiting confirmation, …
    pub phase: String,
    /// When the stream started (UTC).
    pub started_utc: String,
    /// Participants' stem names so far (a listen-in can pick one).
    pub participants: Vec<String>,
}

/// One tick of live audio.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveChunk {
    /// Wall clock of the tick's start (Unix ms): recording start + recording time.
    pub wall_ms: f64,
    /// The samples (16 kHz mono).
    pub pcm: Vec<i16>,
}

/// A listen-in in progress: chunks arrive on `rx`; dropping `end` tells the recorder it ended.
pub struct LiveStream {
    /// The ticks (a bounded channel: a listener that falls a second behind loses ticks, counted by the node).
    pub rx: tokio::sync::mpsc::Receiver<LiveChunk>,
    /// Called once when the listener leaves (journals `listen_in_ended`).
    pub end: Box<dyn FnOnce(i64) + Send>,
}

/// A future returned by [`LiveCalls::listen`].
pub type ListenFuture<'a> = Pin<Box<dyn Future<Output = Result<LiveStream, String>> + Send + 'a>>;

/// What a recorder node offers the console.
pub trait LiveCalls: Send + Sync {
    /// The calls in progress.
    fn calls(&self) -> Vec<LiveCall>;
    /// Starts a listen-in to `call`/`leg`: the mix (`who` `None`) or a participant's stem, by `by` for
    /// `reason` (journaled in the call before the first sample is sent).
    fn listen<'a>(
        &'a self,
        call_id: &'a str,
        leg: &'a str,
        who: Option<&'a str>,
        by: &'a str,
        reason: &'a str,
    ) -> ListenFuture<'a>;
}

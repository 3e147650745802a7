//! The bounds of the ingest service: what one message, one call and one server may hold.
//!
//! The fixed bounds of single fields (ids, names, texts, custom data) are in [`super::convert`].

use media_core::MediaTime;

/// Every configurable bound of the gRPC ingest service. Excess is refused with a clear gRPC status (per stream)
/// or an `Error` message (per item); nothing grows without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded bot message (a 1080p NV12 picture is 3.1 MB). Larger: the stream ends with
    /// `OUT_OF_RANGE` and the call is finalized as `interrupted`.
    pub max_message_bytes: usize,
    /// Most participants (roster entries plus unknown audio sources) one call records; more are refused with an
    /// `Error(LIMIT_EXCEEDED)` and their media is not recorded (counted).
    pub max_participants: usize,
    /// Most video streams (distinct video source ids: cameras and screen shares, re-joins included) one call
    /// records, each its own MP4; frames of further streams are refused (counted) with an
    /// `Error(LIMIT_EXCEEDED)`.
    pub max_video_streams: usize,
    /// Most calls one server records at once; more streams are refused with `RESOURCE_EXHAUSTED`.
    pub max_calls: usize,
    /// How much media is held before Graph confirms `recording` (the newest span of this length is kept).
    pub preroll: MediaTime,
    /// Most payload bytes held in the pre-roll; media beyond it is refused (counted) with an
    /// `Error(LIMIT_EXCEEDED)`.
    pub max_preroll_bytes: usize,
    /// How long the engine waits for the bot's `recording` confirmation before it gives up (pre-roll discarded,
    /// the bot is asked to report `failed`).
    pub confirm_timeout: MediaTime,
    /// A stream without any message for this long is treated as a dropped connection (`interrupted`).
    pub idle_timeout: MediaTime,
    /// How long a new stream may take to send its `CallStart`.
    pub start_timeout: MediaTime,
    /// Per-call ingest queue (events) between the network task and the call's media worker. The default,
    /// 4,096, holds the largest burst a call makes — its pre-roll released at once when the bot confirms:
    /// 5 s of four speakers (1,250 events) and ten cameras at 30 frames a second (1,500) — with room to
    /// spare; in steady state a call's queue peaks at a handful of events. When it is full the call's
    /// network task waits for room, up to a second, before it drops and counts. Each place costs ~112
    /// bytes for the call's life (a queue of 8,192 was ~0.9 MiB of a call's ~3 MiB).
    pub queue_capacity: usize,
    /// Per-call queue of engine -> bot messages; when the bot stops reading, non-essential messages beyond it
    /// are dropped (the media path never waits for the bot).
    pub outbound_capacity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 8 << 20,
            max_participants: 250,
            max_video_streams: 64,
            max_calls: 64,
            preroll: MediaTime::from_secs(5),
            max_preroll_bytes: 16 << 20,
            confirm_timeout: MediaTime::from_secs(10),
            idle_timeout: MediaTime::from_secs(30),
            start_timeout: MediaTime::from_secs(10),
            queue_capacity: 4096,
            outbound_capacity: 64,
        }
    }
}

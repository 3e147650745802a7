//! # bot-adapter — where media enters Verbatim
//!
//! ```text
//! [bot-adapter: SDK-shaped buffers ─► push API ─► SPSC queue] ──► media-core (timeline, jitter, mixer) ──► …
//! ```
//!
//! * [`sdk`]: types that mirror what the Teams media SDK hands a bot (`AudioMediaBuffer` with up to four
//!   `UnmixedAudioBuffer`s, `VideoMediaBuffer`, roster and dominant-speaker events).
//! * [`ingest`]: the push API the bot's event handlers call — never blocks, never allocates per frame — and
//!   the [`ingest::IngestEvent`]s the media worker receives.
//! * [`status`]: the recording-status state machine (pre-roll until Graph confirms `recording`, pause/resume),
//!   sans-IO; the gRPC service and the C ABI both drive it.
//! * Key frames are flagged at ingest with media-core's H.264 reader ([`media_core::h264::has_idr`]).
//! * `grpc` (feature `grpc`): the gRPC ingest service's wire messages, validation, the recording-status state
//!   machine (pre-roll until Graph confirms `recording`, pause/resume), limits and bearer-token auth.
//! * `sim` (feature `sim`): the meeting simulator — participant inputs in, exactly the SDK events a bot receives out, with
//!   seeded network impairments and ground truth; a deterministic sans-IO iterator for tests and `--simulate`,
//!   streaming (flat memory for calls of hours), with a planner for realistic meetings (`sim::meeting`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "grpc")]
pub mod grpc;
pub mod ingest;
pub mod sdk;
#[cfg(feature = "sim")]
pub mod sim;
pub mod status;

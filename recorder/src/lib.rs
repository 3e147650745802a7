//! # recorder — Verbatim's pipeline, assembled, as a library
//!
//! A call's events in (from [`bot_adapter::ingest`]), a signed recording folder out. No async runtime, no
//! gRPC, no command line: the `verbatim` binary (the CLI and the gRPC server) and the C ABI (`verbatim-ffi`)
//! are both built on this crate.
//!
//! ```text
//! bot-adapter ──► media-core (timeline, jitter, track, mixer) ──► codecs ──► muxer
//!   (ingest)     [engine: CallRecorder, sans-IO; video; composite]          (files)
//!                 media_worker (a call's thread / a pool) ──► writer_thread ──► sink (the folder)
//! ```
//!
//! * [`engine`]: the sans-IO call recorder — ingest events in, per-tick stems and mix out.
//! * [`video`]: participant video and screen share: H.264 passthrough placed on the timeline, loss detection.
//! * [`composite`]: the meeting video: cameras, initials and screen share composed and encoded once;
//!   [`video_worker`]: the per-call thread that encodes raw frames and renders the composite.
//! * [`media_worker`]: drains a call's ingest queue into its recorder, on a thread of its own or on a
//!   [`media_worker::MediaPool`] thread shared by many calls.
//! * [`sink`]: the signed recording folder writer (stems, mix as WAV and as Opus in fragmented MP4);
//!   [`writer_thread`]: runs it on its own thread behind a bounded queue.
//! * [`metadata`]: the `metadata.json` file; [`journal`]: counters and pauses journaled into the signed
//!   `timeline.jsonl` as they happen; [`rebuild`]: `metadata.json` rebuilt from them after a crash.
//! * [`session`]: the embedding API — one call driven as the gRPC contract drives `listen` (the C ABI wraps it).
//! * [`live`]: one call's folder, media worker and writer, and the handle its source pushes into.
//! * [`keys`]: the installation's signing key; [`tsa`]: RFC 3161 time stamps on the hash chain.
//! * [`latency`]: the histogram the workers keep of their step times.
//!
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod composite;
pub mod engine;
pub mod journal;
pub mod keys;
pub mod latency;
pub mod live;
pub mod media_worker;
pub mod metadata;
pub(crate) mod pool;
pub mod rebuild;
pub mod session;
pub mod sink;
pub mod tsa;
pub mod video;
pub mod video_worker;
pub mod writer_thread;

pub use bot_adapter;
pub use codecs;
pub use media_core;
pub use muxer;

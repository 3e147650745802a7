//! # verbatim — compliance-grade recording of Teams calls
//!
//! The façade crate: it assembles the pipeline stages into a recorder and holds the `verbatim` binary.
//!
//! ```text
//! bot-adapter ──► media-core (timeline, jitter, track, mixer) ──► codecs ──► muxer
//!   (ingest)         [engine: CallRecorder, sans-IO]                        (files)
//! ```
//!
//! * [`audit`]: a recording scored against a simulated meeting's ground truth (exact copies, placement,
//!   the loss ledger).
//! * [`engine`]: the sans-IO call recorder — ingest events in, per-tick stems and mix out.
//! * [`composite`]: the meeting video: cameras, initials and screen share composed and encoded once.
//! * [`video`]: participant video and screen share: H.264 passthrough placed on the timeline, loss detection.
//! * [`sink`]: the signed recording folder writer (stems, mix as WAV and as Opus in fragmented MP4).
//! * [`writer_thread`]: runs the folder writer on its own thread, fed through a bounded queue, so file I/O,
//!   hashing, the Opus encode and fsync stay off the media thread.
//! * [`keys`]: the installation's signing key.
//! * [`media_worker`]: drains a call's ingest queue into its recorder, on a thread of its own or on a
//!   [`media_worker::MediaPool`] thread shared by many calls (`verbatim listen`).
//! * [`record`]: the driver that runs a meeting source and the recorder on their own threads.
//! * [`sources`]: participant files (audio, Opus, MP4 clips with video, screen share) for `record`/`send`.
//! * [`metadata`]: the `metadata.json` file.
//! * [`journal`]: counters and pauses journaled into the signed `timeline.jsonl` as they happen;
//!   [`rebuild`]: `metadata.json` rebuilt from them by `verbatim recover` after a crash.
//! * [`inspect`]: what a recording folder holds, for a person (`verbatim inspect`): participants, gaps, a
//!   speaker-timeline strip.
//! * [`listen`]: the gRPC ingest server (`verbatim listen`): one recording per call a bot streams in.
//! * [`send`]: the reference bot (`verbatim send`): simulated calls streamed to a server.
//!
//! ## Example: record a simulated two-person meeting
//! ```no_run
//! use bot_adapter::sim::{synthetic, Impairments, MeetingSpec};
//! use media_core::MediaTime;
//! use verbatim::record::{record_simulation, RecordOptions};
//!
//! let spec = MeetingSpec {
//!     participants: synthetic::participants(2, MediaTime::from_secs(10), 7),
//!     duration: Some(MediaTime::from_secs(10)),
//!     seed: 7,
//!     impairments: Impairments::default(),
//!     screenshares: Vec::new(),
//! };
//! let outcome = record_simulation(spec, &RecordOptions::new("/tmp/meeting")).unwrap();
//! assert_eq!(outcome.summary.participants.len(), 2);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod audit;
pub mod inspect;
pub mod listen;
pub mod record;
pub mod send;
pub mod sources;

/// Makes rustls' `ring` provider the process default (once; a default already installed is kept). The
/// gRPC server and client call it before building a TLS configuration: with the AWS SDK in the same binary
/// both of rustls' providers are compiled in, and rustls then refuses to choose one by itself.
///
/// # Examples
/// ```
/// verbatim::install_tls_provider();
/// verbatim::install_tls_provider(); // again: no effect
/// assert!(rustls::crypto::CryptoProvider::get_default().is_some());
/// ```
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one first: that one is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

// The assembled pipeline lives in the `recorder` library crate; re-exported so `verbatim::engine` and the
// like keep their paths.
pub use recorder::{
    composite, engine, journal, keys, latency, media_worker, metadata, rebuild, sink, tsa, video,
    video_worker, writer_thread,
};

pub use bot_adapter;
pub use codecs;
pub use media_core;
pub use muxer;
pub use recorder;

//! The gRPC ingest service: how a Windows/.NET Teams bot streams a call into Verbatim (feature `grpc`).
//!
//! ```text
//!  .NET bot (Teams media SDK)          gRPC, one bidirectional stream per call          Verbatim engine (Linux)
//!  AudioMediaReceived ─┐                                                             ┌─► convert (validate)
//!  VideoMediaReceived ─┼─► BotMessage ═════════ proto/verbatim/ingest/v1 ═══════════►├─► RecordingState (status)
//!  participants, …    ─┘                                                             └─► Ingest ─► media worker
//!  updateRecordingStatus ◄─────────── EngineMessage (status requests, key frames, errors, summary)
//! ```
//!
//! This module holds the parts that do not depend on a runtime or a file system:
//! * [`proto`]: the messages and the tonic service generated from `proto/verbatim/ingest/v1/ingest.proto`
//!   (payloads are `bytes::Bytes`, referenced from the received buffer);
//! * [`convert`]: wire messages <-> the SDK-shaped types of [`crate::sdk`], with precise refusals;
//! * [`status`]: the recording-status state machine (Graph's "no media before `recording` is confirmed"
//!   rule, the pre-roll, pause/resume spans), sans-IO, with its diagram;
//! * [`limits`]: every bound of the service;
//! * [`auth`]: the bearer token, compared in constant time.
//!
//! The server driver (tokio tasks, one media worker per call, recording folders) is `verbatim::listen`; the
//! reference bot client is `verbatim::send`. `docs/bot-integration.md` maps each SDK event onto a message.

pub mod auth;
pub mod convert;
pub mod limits;
// The recording-status machine is not gRPC-specific (the C ABI uses it too): `crate::status`.
pub use crate::status;

/// Messages and service stubs generated from `proto/verbatim/ingest/v1/ingest.proto` (package
/// `verbatim.ingest.v1`). See the `.proto` file for every field's meaning.
#[allow(missing_docs)] // generated code; the .proto file documents the fields
#[allow(clippy::all, clippy::pedantic)] // generated code
pub mod proto {
    tonic::include_proto!("verbatim.ingest.v1");
}

/// The protocol version this crate speaks (the `v1` of the package name).
pub const PROTOCOL_VERSION: u32 = 1;

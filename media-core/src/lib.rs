//! # media-core — the foundation of Verbatim's pipeline
//!
//! ```text
//! bot-adapter ──► [media-core: queue ─► timeline + jitter ─► mixer] ──► codecs ──► muxer
//! ```
//!
//! Everything a recording needs that is neither a codec nor a file format lives here, as plain structs driven
//! by explicit media time (sans-IO): nothing in this crate reads a clock, opens a file or spawns a thread.
//!
//! * [`call_clock`]: the call's own clock — every message's platform timestamp judged against the others, so
//!   no single bad timestamp moves the timeline.
//! * [`time`]: typed 100 ns media time ([`MediaTime`], [`SourceTimestamp`]).
//! * [`frame`]: audio and video frames carrying `bytes::Bytes` payloads, moved and never copied.
//! * [`h264`]: the H.264 bitstream below the codec — Annex-B and length-prefixed NAL units, key-frame checks,
//!   the SPS and the start of slice headers — read the same way by ingest, codecs, muxer and recorder.
//! * [`histogram`]: a lock-free fixed-bucket histogram for metrics read while media threads record into it.
//! * [`queue`]: bounded lock-free SPSC queues with a stated overflow policy and counters.
//! * [`timeline`]: one recording timeline; per-source clocks that map sender timestamps onto it (zero
//!   timestamps, jumps, drift).
//! * [`track`]: one source's audio placed on the recording timeline, pulled one tick at a time.
//! * [`mixer`]: saturating N-source mix per tick.
//! * [`resample`]: a source at another rate or channel count converted to the recording's, tick by tick.
//! * [`jitter`]: per-source reordering, duplicate and late detection, bounded waiting for missing frames.
//! * [`ledger`]: the loss ledger — every gap says whether nothing was sent, media was lost on the way, or it
//!   was dropped here and why.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod block_ring;
pub mod call_clock;
pub mod frame;
pub mod h264;
pub mod histogram;
pub mod jitter;
pub mod ledger;
pub mod mixer;
pub mod queue;
pub mod resample;
pub mod time;
pub mod timeline;
pub mod track;
pub mod wake;

pub use frame::{
    AudioFormat, AudioFrame, Frame, FrameTiming, Msi, SourceId, StreamKind, VideoCodec,
    VideoFormat, VideoFrame,
};
pub use time::{MediaTime, SourceTimestamp, TICKS_PER_MILLI, TICKS_PER_SECOND};

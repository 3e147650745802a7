//! # muxer — the last stage of Verbatim's pipeline: files on disk
//!
//! ```text
//! bot-adapter ──► media-core (jitter/timeline) ──► mixer ──► codecs ──► [muxer]
//! ```
//!
//! Everything that turns media into a recording folder lives here:
//!
//! * [`fmp4`]: crash-safe fragmented MP4 (H.264 passthrough from whole Annex-B frames, Opus).
//! * [`wav`]: WAV stems that switch to RF64 before 4 GiB, with header refresh and [`wav::recover_wav`].
//! * [`integrity`]: one SHA-256 hash chain per recording over every fragment, chunk and header written,
//!   Ed25519-signed periodically and at close; keys and their file format.
//! * [`recording`]: [`RecordingWriter`], the folder API the media worker's file-sink thread drives.
//! * [`verify`] / [`recover`]: check a folder against its manifest; close a folder after a crash.
//! * [`storage`]: the file layer every write of the folder goes through (real, fault-injecting, logging).
//!
//! # Time model
//! Nothing here reads a clock. Sample times and status times are [`media_core::MediaTime`] on the recording
//! timeline (0 = recording start); periodic work (header refresh, signing, fsync) happens in
//! [`RecordingWriter::tick`] with the caller's `now`.
//!
//! # Error policy
//! Every error is typed. Sample errors reject one sample; an I/O error breaks only the file it happened on
//! (carrying the file and offset), and everything written before stays valid and verifiable; a recording can
//! always be finished with status `failed`.
//!
//! H.264 frames are split and their SPS read (for `avcC` and `tkhd`) with media-core's
//! [`media_core::h264`], the bitstream reader every crate shares.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod decrypt;
pub mod fmp4;
pub mod group_commit;
pub mod integrity;
pub mod recording;
pub mod recover;
pub mod storage;
pub mod verify;
pub mod wav;

pub use integrity::Status;
pub use recording::{
    LogId, Mp4Id, RecordingError, RecordingOptions, RecordingWriter, StemId, Summary,
};

//! Fragmented MP4 writer: H.264 (Annex-B whole frames, passed through) and Opus tracks.
//!
//! * [`fragmenter`]: the sans-IO core. Takes samples with their recording time ([`MediaTime`], 0 = recording
//!   start), keeps every timestamp exactly (each sample lasts until the next one of its track; the last one of a
//!   file gets the nominal duration: its own duration for Opus, [`TrackSpec::H264::nominal_frame_duration`] for
//!   video) and decides where fragments end: at the first video keyframe at least `fragment_duration` after the
//!   fragment's start (or after 3× that without a keyframe), or by time when there is no video.
//! * [`boxes`]: `ftyp`/`moov`/`moof`/`mdat` header bytes as pure functions, encoded with `shiguredo_mp4`.
//! * [`writer`]: writes init segment and fragments into a `Write + Seek` sink, the sample bytes by vectored
//!   writes straight from their `Bytes` (a 4-byte length prefix, then the NAL unit slice: no copy), and hashes
//!   what it writes for the integrity chain.
//! * [`index`]: the final init segment: true durations and the `sidx` seek index, from the fragments written.
//! * [`reader`]: a panic-free box reader for verify and recover.
//!
//! # File layout and crash safety
//! `ftyp` + `moov` (written before the first fragment, once every video track has seen SPS/PPS and an IDR),
//! then `moof` + `mdat` pairs. Each fragment is written whole and flushed; a file cut after any fragment is a
//! complete fMP4. The init segment ends with reserved `free` space; at close (and after `recover`) it is
//! rewritten in place, at the same length, with the true durations in `mvhd`/`tkhd`/`mdhd`/`mehd` and a `sidx`
//! per track indexing every fragment (see [`index`]), so a player knows the length at once and seeks with one
//! jump.
//!
//! # Timestamps
//! Sample times are [`MediaTime`] on the recording timeline; each track converts them to its timescale (90 kHz
//! video by default, 48 kHz Opus) by rounding the absolute time, so durations are differences of rounded times
//! and nothing drifts. The first sample of a track sets its `tfdt`: a track may start later than 0.

pub mod boxes;
pub mod fragmenter;
pub mod index;
pub mod reader;
pub mod samples;
pub mod writer;

use media_core::MediaTime;

pub use fragmenter::{Fragment, Fragmenter, Part};
pub use writer::{Fmp4Writer, Written};

use media_core::h264::H264Error;

/// One track of an MP4 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackSpec {
    /// H.264 video from whole Annex-B frames (SPS/PPS are read from the stream; they stay in-band too).
    H264 {
        /// Track timescale (ticks per second), e.g. 90 000.
        timescale: u32,
        /// Duration given to the last frame of the file.
        nominal_frame_duration: MediaTime,
    },
    /// Opus packets; timescale 48 000.
    Opus {
        /// Channels (1 or 2).
        channels: u8,
        /// Encoder pre-skip in 48 kHz samples (written to `dOps`).
        pre_skip: u16,
        /// The encoder's input sample rate (informative, `dOps`).
        input_sample_rate: u32,
    },
}

impl TrackSpec {
    /// H.264 at 90 kHz; a last frame of 1/30 s.
    pub const fn h264() -> TrackSpec {
        TrackSpec::H264 {
            timescale: 90_000,
            nominal_frame_duration: MediaTime::from_ticks(333_333),
        }
    }
    /// Mono Opus with the given pre-skip, 48 kHz input.
    pub const fn opus(channels: u8, pre_skip: u16) -> TrackSpec {
        TrackSpec::Opus {
            channels,
            pre_skip,
            input_sample_rate: 48_000,
        }
    }
    /// The track's timescale.
    pub fn timescale(&self) -> u32 {
        match self {
            TrackSpec::H264 { timescale, .. } => (*timescale).max(1),
            TrackSpec::Opus { .. } => 48_000,
        }
    }
    /// True for video.
    pub fn is_video(&self) -> bool {
        matches!(self, TrackSpec::H264 { .. })
    }
}

/// Options of an MP4 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmp4Options {
    /// Target fragment duration (default 1 s).
    pub fragment_duration: MediaTime,
    /// `creation_time` written into `mvhd`/`tkhd`/`mdhd`, seconds since the Unix epoch.
    pub creation_unix_secs: u64,
}

impl Default for Fmp4Options {
    fn default() -> Self {
        Fmp4Options {
            fragment_duration: MediaTime::from_secs(1),
            creation_unix_secs: 0,
        }
    }
}

/// Errors of the MP4 writer. `Io` means the file is broken from `offset` on (everything before stays valid);
/// the sample errors reject one sample and the writer can go on.
#[derive(Debug, thiserror::Error)]
pub enum Fmp4Error {
    /// Writing failed at `offset` (disk full: `source.kind() == StorageFull`).
    #[error("MP4 I/O error at offset {offset}: {source}")]
    Io {
        /// Where the failed write started.
        offset: u64,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// No such track.
    #[error("no track {0}")]
    UnknownTrack(usize),
    /// A sample time before the recording start.
    #[error("track {track}: negative sample time {pts}")]
    NegativeTime {
        /// Track index.
        track: usize,
        /// The time given.
        pts: MediaTime,
    },
    /// A sample not later than the previous one of its track (in track timescale units).
    #[error("track {track}: sample at {pts} is not after the previous one at {previous}")]
    NonIncreasing {
        /// Track index.
        track: usize,
        /// The time given.
        pts: MediaTime,
        /// The previous sample's time.
        previous: MediaTime,
    },
    /// A gap between two samples longer than a 32-bit duration can hold.
    #[error("track {track}: gap of {gap} too long for one sample")]
    GapTooLong {
        /// Track index.
        track: usize,
        /// The gap.
        gap: MediaTime,
    },
    /// The video payload is not Annex-B.
    #[error("track {track}: {source}")]
    AnnexB {
        /// Track index.
        track: usize,
        /// Cause.
        #[source]
        source: H264Error,
    },
    /// An empty payload.
    #[error("track {0}: empty sample")]
    EmptySample(usize),
    /// The first bytes of a file are not an init segment we can finalize.
    #[error("not an init segment: {0}")]
    BadInit(#[source] reader::BoxError),
    /// Box encoding failed (a bug or absurd sizes).
    #[error("box encoding: {0}")]
    Encode(String),
    /// The file was already finished or broke earlier.
    #[error("MP4 writer is closed")]
    Closed,
}

//! # merge — one recording of a call from the folders of its redundant recorders
//!
//! Where it sits: after the pipeline. Teams invites up to two compliance recorders into every call
//! (`ConcurrentInvitationCount = 2`); each records its *leg* into its own signed folder (`listen`, or
//! `record --leg`). Either may start late, lose packets on its own path, die, or reconnect into a new
//! folder. [`merge_folders`] reads any number of such folders of one call and writes one signed folder in
//! which every participant sample comes from a leg that holds it:
//!
//! 1. **Alignment** (`align`): each leg has its own platform clock epoch, so legs are aligned by content
//!    (equal PCM of the same senders): one offset per leg for the call, refined per speech segment of each
//!    participant. A leg with no speech in common with the others falls back to the wall clock of its first
//!    buffer (said in `metadata.json`).
//! 2. **Audio** (`audio`): per participant, per segment between silences, the leg holding most is
//!    preferred; its holes are filled from the other legs; a sample no leg holds is a gap of the merged loss
//!    ledger; samples two legs hold differently are taken from the preferred leg and counted.
//! 3. **Video** (`video`): cameras and the screen share by whole groups of pictures, legs changing only at
//!    IDR frames.
//! 4. **Writing** (`write`): stems, `mixed.wav` (the merged stems summed), the videos, `recording.mp4` (the
//!    mix as Opus and the composite rendered again from the merged videos), `metadata.json` and
//!    `provenance.json` (which leg and which source samples every merged span came from, and the SHA-256 of
//!    every leg's `manifest.json`) through the same signed writer as a recording: `verify` checks the merged
//!    folder like any other, and [`check_provenance`] checks every span against its leg byte for byte.
//!
//! Not yet: merging as frames arrive (both legs on one `listen`) is not built, though the per-segment rule
//! only looks back (see docs/merge.md).
//!
//! # Examples
//! ```no_run
//! use std::path::PathBuf;
//! let key = muxer::integrity::generate_signing_key()?;
//! let legs = [PathBuf::from("call-leg1"), PathBuf::from("call-leg2")];
//! let report = merge::merge_folders(&legs, "merged".as_ref(), &merge::MergeOptions::new(key))?;
//! for p in &report.participants {
//!     println!("{}: {} samples lost in every leg", p.name, p.lost_samples);
//! }
//! let check = merge::check_provenance("merged".as_ref(), &legs)?;
//! assert_eq!(check.mismatches, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod align;
pub mod audio;
mod plan;
mod playback;
pub mod provenance;
pub mod source;
pub mod spans;
pub mod video;
mod write;

/// Test signals: seeded xorshift noise, never zero (`min` ≥ 1) or signed, at `shift` bits below 64.
#[cfg(test)]
pub(crate) fn test_noise(n: usize, seed: u64, shift: u32, nonzero: bool) -> Vec<i16> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x >> shift) as i16;
            if nonzero {
                v.max(1)
            } else {
                v / 4
            }
        })
        .collect()
}

use std::path::PathBuf;

use ed25519_dalek::SigningKey;

pub use plan::merge_folders;
pub use provenance::{check_provenance, ProvenanceCheck, PROVENANCE_FILE};
pub use video::VideoSpan;

/// Why a merge (or a provenance check) failed.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file could not be read or written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A folder given as a leg is not a usable recording.
    #[error("{path}: {reason}", path = path.display())]
    BadSource {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The folders cannot be merged together (different calls, sample rates, nothing to align by).
    #[error("cannot merge: {0}")]
    Incompatible(String),
    /// Writing the merged folder failed.
    #[error("writing the merged folder: {0}")]
    Write(#[from] muxer::RecordingError),
    /// The merged folder's provenance is missing, unreadable or names a leg not given.
    #[error("provenance: {0}")]
    Provenance(String),
}

/// How to merge.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// The key that signs the merged folder.
    pub signing_key: SigningKey,
    /// Rebuild the composite meeting video in `recording.mp4` when the call had video (default: true);
    /// `recording.mp4` always holds the merged mix as Opus.
    pub composite: bool,
    /// The composite's layout (default: grid).
    pub layout: codecs::composite::Layout,
}

impl MergeOptions {
    /// Options signing with `signing_key`.
    ///
    /// # Examples
    /// ```
    /// let o = merge::MergeOptions::new(muxer::integrity::generate_signing_key().unwrap());
    /// # let _ = o;
    /// ```
    pub fn new(signing_key: SigningKey) -> Self {
        MergeOptions {
            signing_key,
            composite: true,
            layout: codecs::composite::Layout::Grid,
        }
    }
}

/// What the merge did with one leg folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    /// The folder's name.
    pub label: String,
    /// Its leg id.
    pub leg: String,
    /// Its recording status (`completed`, `interrupted`, …).
    pub status: String,
    /// Its offset onto the merged timeline, samples.
    pub offset: i64,
    /// How it was aligned: `reference`, `content` or `wall_clock`.
    pub aligned_by: &'static str,
}

/// What the merge did with one participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantReport {
    /// Name (file `participants/<name>.wav`).
    pub name: String,
    /// Samples taken from each source (index = source).
    pub from_source: Vec<u64>,
    /// Samples each source held (on its own).
    pub held_by_source: Vec<u64>,
    /// Samples each source's ledger calls lost (inferred loss or dropped) inside its presence.
    pub lost_by_source: Vec<u64>,
    /// Samples lost in every leg recording at the time (the merged ledger's `inferred_loss`).
    pub lost_samples: u64,
    /// 20 ms frames where two legs held different samples (taken from the preferred leg).
    pub disagreeing_frames: u64,
    /// Samples where they differed.
    pub disagreeing_samples: u64,
    /// Samples held by two or more legs.
    pub compared_samples: u64,
}

/// What the merge did with one video stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoReport {
    /// The merged file.
    pub path: String,
    /// Frames written.
    pub frames: u64,
    /// Frames in the longest single leg's file.
    pub best_leg_frames: u64,
    /// GOPs taken from a leg other than the first holding the stream.
    pub gops_from_later_legs: u64,
    /// Frames dropped because they would have gone back in time.
    pub overlap_dropped: u64,
}

/// What [`merge_folders`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeReport {
    /// The merged folder.
    pub out: PathBuf,
    /// Per source folder, in the order given.
    pub sources: Vec<SourceReport>,
    /// Per participant.
    pub participants: Vec<ParticipantReport>,
    /// Per video stream.
    pub videos: Vec<VideoReport>,
    /// Length of the merged recording, samples.
    pub duration: u64,
    /// Sample rate of the stems.
    pub sample_rate: u32,
}

//! # timeline-svg — pictures of a recording for people to read
//!
//! Where it sits: on the **read side**, after a recording is closed. `verbatim inspect --svg FILE` and the
//! compliance console (web page) draw the same picture of a recording folder with it; it is not part of
//! the media pipeline and reads nothing while a call is recorded. It is pure: input structs in, SVG text
//! and peak vectors out. The only reader of bytes is [`peaks_from_wav`] (any [`std::io::Read`]) and its
//! path helper [`peaks_from_wav_path`].
//!
//! * **Speaker timeline** ([`render_svg`]): who spoke when ([`speech_spans`]: present and sending audio;
//!   with the stems' peaks, [`quiet_spans`] tells received silence from speech and [`spoken_spans`] is what
//!   is drawn in the participant's colour, received silence pale — a platform may send silence or comfort
//!   noise for someone among its active sources who says nothing), the gaps in their audio by
//!   cause ([`GapCause`]: a `nothing_sent` pause is not drawn as a loss; lost audio is orange, dropped red,
//!   unclassified grey), the recording's pauses as a shaded band across all rows, the dominant speaker as
//!   a strip on top, a time axis and a legend. Every bar carries `data-start-us` / `data-end-us`, a
//!   `class` and a `<title>` tooltip so the page can seek its player on a click. The geometry is public
//!   ([`x_of`], [`row_center_y`], [`dominant_center_y`], [`row_color`]) so a browser test can tell which
//!   colour a pixel must have at a given time.
//! * **Waveforms** ([`peaks_from_wav`], [`Peaks::to_json`], [`waveform_svg`]): the max |sample| of each
//!   bucket of a participant's stem, computed once while streaming the WAV, for the browser to draw; or
//!   drawn here on the same x axis as the timeline so the two line up under each other.
//!
//! The input ([`TimelineInput`], usually from `metadata.json` by [`TimelineInput::from_metadata_json`]) is
//! outside input: negative, overlapping, unsorted or out-of-range times and huge counts are clamped,
//! merged or counted — never a panic. The output is deterministic: the same input gives the same bytes.
//!
//! # Examples
//! ```
//! use timeline_svg::{render_svg, speech_spans, x_of, SvgOptions, TimelineInput};
//! let md = br#"{"recording":{"duration_us":60000000},
//!   "participants":[{"name":"alice","display_name":"Alice <host>","joined_us":0,"left_us":null,
//!     "gaps":[{"start_us":20000000,"length_us":10000000,"kind":"nothing_sent"},
//!             {"start_us":40000000,"length_us":1000000,"kind":"dropped"}]}],
//!   "dominant_speakers":[{"at_us":0,"participant":"alice"}]}"#;
//! let input = TimelineInput::from_metadata_json(md)?;
//! assert_eq!(
//!     speech_spans(&input.participants[0], input.duration_us),
//!     vec![(0, 20_000_000), (30_000_000, 40_000_000), (41_000_000, 60_000_000)]
//! );
//! let opts = SvgOptions::default();
//! let svg = render_svg(&input, &opts);
//! assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
//! assert!(svg.contains("Alice &lt;host&gt;"));
//! assert!(svg.contains(r#"class="gap-dropped" data-row="0" data-start-us="40000000" data-end-us="41000000""#));
//! // The 30 s mark is in the middle of the plot area.
//! assert_eq!(x_of(30_000_000, input.duration_us, &opts), (140.0 + 984.0) / 2.0);
//! # Ok::<(), timeline_svg::TimelineError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod input;
mod peaks;
mod quiet;
mod spans;
mod svg;
mod waveform;

pub use input::{speech_spans, GapCause, GapInput, RowInput, TimelineInput};
pub use peaks::{peaks_from_wav, peaks_from_wav_path, Peaks};
pub use quiet::{quiet_spans, silent_spans, spoken_spans, HANGOVER_US, MIN_QUIET_US, SPEECH_LEVEL};
pub use svg::{
    dominant_center_y, render_svg, row_center_y, row_color, x_of, SvgOptions, BACKGROUND_COLOR,
    DROPPED_COLOR, INFERRED_LOSS_COLOR, MAX_RECTS, MAX_ROWS, PALETTE, PAUSE_COLOR, PRESENCE_COLOR,
    SILENT_OPACITY, UNCLASSIFIED_COLOR,
};
pub use waveform::waveform_svg;

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimelineError {
    /// `metadata.json` is not JSON.
    #[error("metadata.json is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// `metadata.json` is JSON but has no numeric `recording.duration_us`.
    #[error("metadata.json has no numeric recording.duration_us")]
    NoDuration,
    /// The WAV file could not be read (I/O error, not a WAV file, a broken header).
    #[error("WAV: {0}")]
    Wav(#[from] hound::Error),
    /// The WAV file is not integer PCM at 16 bits per sample.
    #[error(
        "unsupported WAV format: {format} at {bits} bits per sample (only 16-bit integer PCM)"
    )]
    UnsupportedWav {
        /// `"integer PCM"` or `"float"`.
        format: &'static str,
        /// Bits per sample.
        bits: u16,
    },
    /// The WAV header says 0 channels or a sample rate of 0.
    #[error("WAV header with {channels} channels at {sample_rate} Hz")]
    BadWavHeader {
        /// Channels in the header.
        channels: u16,
        /// Sample rate in the header, Hz.
        sample_rate: u32,
    },
    /// A peak bucket must be at least 1 µs long.
    #[error("peak bucket must be positive, got {0} µs")]
    InvalidBucket(i64),
}

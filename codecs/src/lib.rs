//! # codecs — Opus and H.264 for Verbatim
//!
//! ```text
//! bot-adapter ──► media-core (queue ─► jitter/timeline ─► mixer/compositor) ──► [codecs] ──► muxer
//!                        ▲                                                          │
//!                        └──────── decoded Opus/H.264 inputs ◄──────────────────────┘
//! ```
//!
//! This crate sits between the mixer/compositor and the muxer: it encodes the mixed audio to Opus
//! ([`opus::OpusEncoder`], reporting the pre-skip the MP4 `dOps` box needs) and the composited video to
//! Constrained Baseline H.264 ([`h264::H264Encoder`]). It also serves the jitter/decode stage: it decodes
//! Opus inputs with packet loss concealment and in-band FEC ([`opus::OpusDecoder`]), `.opus` files
//! ([`ogg_opus`]), and Teams' whole-frame Annex-B H.264 ([`h264::H264Decoder`]); [`picture`] converts NV12 to
//! I420 and scales pictures. Splitting, inspecting and parsing the H.264 bitstream (NAL units, SPS) is
//! media-core's [`media_core::h264`].
//!
//! - [`composite`]: the video compositor of the meeting track. It keeps each participant's latest decoded
//!   picture (scaled once into its tile, held when the source stalls, initials when there is no video),
//!   arranges them by a [`composite::Layout`] (grid, active speaker with a hold against flapping, screen share
//!   with a filmstrip) and renders 1280x720 frames at 15 fps for [`h264::H264Encoder`].
//!
//! Every codec owns and reuses its buffers (no allocation per frame after warm-up), and corrupt input gives a
//! typed [`CodecError`] plus a counter in [`DecodeStats`], never a panic.
//!
//! ```
//! use codecs::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
//! use codecs::picture::{scale_into, I420Picture};
//! use media_core::MediaTime;
//!
//! // Composite: scale a 720p camera picture into a 360p tile, encode it, decode it again.
//! let mut camera = I420Picture::new(1280, 720)?;
//! camera.y_mut().iter_mut().enumerate().for_each(|(i, p)| *p = (i % 1280 / 5) as u8);
//! let mut tile = I420Picture::new(640, 360)?;
//! scale_into(&camera, &mut tile)?;
//!
//! let mut encoder = H264Encoder::new(H264EncoderConfig::default())?;
//! let frame = encoder.encode(&tile, MediaTime::ZERO)?;
//! assert!(frame.keyframe);
//! let bytes = frame.data.to_vec();
//!
//! let mut decoder = H264Decoder::new()?;
//! let decoded = decoder.decode(&bytes)?.expect("an IDR decodes to a picture");
//! assert_eq!((decoded.width(), decoded.height()), (640, 360));
//! # Ok::<(), codecs::CodecError>(())
//! ```
#![deny(missing_docs)]

pub mod composite;
mod error;
pub mod h264;
pub mod ogg_opus;
pub mod opus;
pub mod picture;

pub use error::{CodecError, DecodeStats};

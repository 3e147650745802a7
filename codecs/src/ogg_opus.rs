//! Ogg Opus input files (`.opus`): demuxed with symphonia's Ogg reader, decoded with [`OpusDecoder`].
//!
//! The demuxer hands over the `OpusHead` identification header and the packets with their end trim (from the
//! last page's granule position); this module drops the `OpusHead` pre-skip itself (symphonia 0.6 reports it
//! as the track delay but does not trim Opus packets) and applies the end trim, so the PCM is exactly the
//! audio that was encoded, sample for sample in length and alignment. The output rate is the `OpusHead` input rate when libopus can decode at
//! it (8/12/16/24/48 kHz; a Teams-style 16 kHz file comes back at 16 kHz), else 48 kHz.
//!
//! A corrupt packet inside an otherwise readable file is concealed (and counted in [`DecodeStats::errors`]) so
//! the timeline keeps its length; a file that is not Ogg Opus at all is an error.

use std::path::Path;

use media_core::AudioFormat;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::default::formats::OggReader;

use crate::opus::OpusDecoder;
use crate::{CodecError, DecodeStats};

/// The Ogg Opus identification header (RFC 7845 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channel count.
    pub channels: u8,
    /// Samples (at 48 kHz) to drop from the start of the decoded stream.
    pub pre_skip: u16,
    /// The sample rate of the original input (informational).
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain_q8: i16,
    /// Channel mapping family (0 = mono/stereo, the only one supported here).
    pub mapping_family: u8,
}

/// Parses an `OpusHead` packet.
pub fn parse_opus_head(b: &[u8]) -> Result<OpusHead, CodecError> {
    if b.len() < 19 || &b[..8] != b"OpusHead" {
        return Err(CodecError::Container("missing or short OpusHead".into()));
    }
    if b[8] & 0xF0 != 0 {
        return Err(CodecError::Unsupported(format!(
            "OpusHead version {}",
            b[8]
        )));
    }
    let head = OpusHead {
        channels: b[9],
        pre_skip: u16::from_le_bytes([b[10], b[11]]),
        input_sample_rate: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        output_gain_q8: i16::from_le_bytes([b[16], b[17]]),
        mapping_family: b[18],
    };
    if head.channels == 0 {
        return Err(CodecError::Container("OpusHead with 0 channels".into()));
    }
    Ok(head)
}

fn container_err(e: SymphoniaError) -> CodecError {
    match e {
        SymphoniaError::IoError(io) => CodecError::Io(io),
        other => CodecError::Container(other.to_string()),
    }
}

/// A streaming reader of an Ogg Opus file: yields the decoded PCM packet by packet.
pub struct OggOpusReader {
    demuxer: OggReader<'static>,
    track_id: u32,
    head: OpusHead,
    decoder: OpusDecoder,
    /// Output rate (Hz).
    rate: u32,
    /// Output samples (per channel) of pre-skip still to drop.
    skip_left: usize,
}

impl std::fmt::Debug for OggOpusReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusReader")
            .field("track_id", &self.track_id)
            .field("head", &self.head)
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl OggOpusReader {
    /// Opens a `.opus` file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CodecError> {
        let file = std::fs::File::open(path)?;
        Self::from_source(Box::new(file))
    }

    /// Reads Ogg Opus from memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, CodecError> {
        Self::from_source(Box::new(std::io::Cursor::new(bytes)))
    }

    /// Reads Ogg Opus from any symphonia media source (a file, a cursor...).
    pub fn from_source(source: Box<dyn MediaSource>) -> Result<Self, CodecError> {
        let mss = MediaSourceStream::new(source, Default::default());
        let demuxer = OggReader::try_new(mss, FormatOptions::default()).map_err(container_err)?;
        let (track_id, extra) = demuxer
            .tracks()
            .iter()
            .find_map(|t| match &t.codec_params {
                Some(CodecParameters::Audio(a)) if a.codec == CODEC_ID_OPUS => {
                    Some((t.id, a.extra_data.clone()))
                }
                _ => None,
            })
            .ok_or_else(|| CodecError::Container("no Opus stream in the Ogg file".into()))?;
        let extra =
            extra.ok_or_else(|| CodecError::Container("Opus stream without OpusHead".into()))?;
        let head = parse_opus_head(&extra)?;
        if head.mapping_family != 0 || head.channels > 2 {
            return Err(CodecError::Unsupported(format!(
                "Ogg Opus channel mapping family {} with {} channels",
                head.mapping_family, head.channels
            )));
        }
        let rate = match head.input_sample_rate {
            r @ (8_000 | 12_000 | 16_000 | 24_000 | 48_000) => r,
            _ => 48_000,
        };
        let format = AudioFormat {
            sample_rate: rate,
            channels: u16::from(head.channels),
        };
        let mut decoder = OpusDecoder::new(format)?;
        decoder.set_gain_q8(head.output_gain_q8)?;
        let skip_left = ((u64::from(head.pre_skip) * u64::from(rate) + 24_000) / 48_000) as usize;
        Ok(OggOpusReader {
            demuxer,
            track_id,
            head,
            decoder,
            rate,
            skip_left,
        })
    }

    /// The identification header.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// The format of the PCM this reader produces.
    pub fn format(&self) -> AudioFormat {
        self.decoder.format()
    }

    /// Decode counters (a corrupt packet shows up as an error plus a concealment).
    pub fn stats(&self) -> DecodeStats {
        self.decoder.stats()
    }

    /// 48 kHz sample count to output samples (per channel), rounded.
    fn scale(&self, n48: u64) -> usize {
        ((n48 * u64::from(self.rate) + 24_000) / 48_000) as usize
    }

    /// Decodes the next packet and lends out its interleaved PCM, with pre-skip and end trimming applied
    /// (so it may be empty). `Ok(None)` at the end of the stream.
    pub fn next_pcm(&mut self) -> Result<Option<&[i16]>, CodecError> {
        loop {
            let packet = match self.demuxer.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(container_err(e)),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let trim_end = self.scale(packet.trim_end.get());
            let ch = usize::from(self.head.channels);
            let pcm = match self.decoder.decode(&packet.data) {
                Ok(_) => self.decoder.last_pcm(),
                Err(_) => {
                    // Keep the timeline: conceal as long as the packet claimed to last.
                    self.decoder.conceal()?;
                    self.decoder.last_pcm()
                }
            };
            let frames = pcm.len() / ch;
            let start = self.skip_left.min(frames);
            self.skip_left -= start;
            let end = frames.saturating_sub(trim_end).max(start);
            return Ok(Some(&pcm[start * ch..end * ch]));
        }
    }
}

/// Reads and decodes a whole `.opus` (Ogg Opus) file into interleaved s16 PCM.
///
/// ```no_run
/// let (format, pcm) = codecs::ogg_opus::decode_file("alice.opus")?;
/// println!("{} Hz x {} ch, {} samples", format.sample_rate, format.channels, pcm.len());
/// # Ok::<(), codecs::CodecError>(())
/// ```
pub fn decode_file(path: impl AsRef<Path>) -> Result<(AudioFormat, Vec<i16>), CodecError> {
    let mut reader = OggOpusReader::open(path)?;
    let format = reader.format();
    let mut out = Vec::new();
    while let Some(pcm) = reader.next_pcm()? {
        out.extend_from_slice(pcm);
    }
    Ok((format, out))
}

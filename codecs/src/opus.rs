//! Opus encoding (for the mix) and decoding with loss concealment (for Opus inputs), on bundled libopus.
//!
//! Both sides own their buffers: [`OpusEncoder::encode`] writes into an owned packet buffer (or
//! [`OpusEncoder::encode_into`] into the caller's), and [`OpusDecoder`] decodes into an owned PCM buffer that
//! it lends out as a slice. After construction nothing allocates per frame.
//!
//! ```
//! use codecs::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
//! use media_core::AudioFormat;
//! let mut enc = OpusEncoder::new(OpusEncoderConfig::default()).unwrap(); // 16 kHz mono, 32 kbit/s
//! let mut dec = OpusDecoder::new(AudioFormat::PCM16K).unwrap();
//! let tone: Vec<i16> = (0..320).map(|i| ((i as f32 * 0.2).sin() * 8000.0) as i16).collect();
//! let packet = enc.encode(&tone).unwrap().to_vec();
//! assert_eq!(dec.decode(&packet).unwrap().len(), 320);
//! assert_eq!(dec.conceal().unwrap().len(), 320); // a lost packet: 20 ms of concealment
//! assert_eq!(enc.pre_skip(), 312); // lookahead in 48 kHz samples, for the MP4 `dOps` box
//! assert_eq!(dec.stats().concealed, 1);
//! ```

use media_core::AudioFormat;
use opus::{Application, Bitrate, Channels, Signal};

use crate::{CodecError, DecodeStats};

/// The largest packet libopus can produce or accept: 120 ms of 48 code-3 frames of 1275 bytes each, plus
/// framing. Longer input is rejected before it reaches libopus.
pub const MAX_PACKET_BYTES: usize = 48 * 1275 + 2 + 2 * 48;
/// Size of the encoder's owned packet buffer (libopus' recommended maximum for one packet).
const ENCODE_BUFFER_BYTES: usize = 4000;

/// What the encoder optimises for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OpusApplication {
    /// Speech tuning (high-pass filter, perceptual shaping): fine to listen to, but it departs from the
    /// waveform (12 dB SNR on alice.wav at 32 kbit/s).
    Voip,
    /// General audio: with [`OpusSignal::Voice`] it still codes speech with SILK, but follows the waveform
    /// (18 dB SNR on alice.wav at 32 kbit/s and complexity 1, 22 dB at complexity 10). The default for the
    /// recorded mix, where what was said must be reproduced as faithfully as the bitrate allows.
    #[default]
    Audio,
    /// Lowest delay (CELT only, no SILK).
    LowDelay,
}

/// What the encoder is told the input is (`OPUS_SET_SIGNAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OpusSignal {
    /// Let libopus decide (below complexity 7 it does not analyse the input and leans to CELT).
    Auto,
    /// Speech: keeps SILK in use at every complexity. The default: a call recording is speech.
    #[default]
    Voice,
    /// Music: leans to CELT.
    Music,
}

/// Settings of an [`OpusEncoder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// Input format: 8, 12, 16, 24 or 48 kHz; mono or stereo.
    pub format: AudioFormat,
    /// Speech or general audio.
    pub application: OpusApplication,
    /// Signal type hint.
    pub signal: OpusSignal,
    /// Target bitrate in bits per second (500–512,000).
    pub bitrate_bps: u32,
    /// Encoder complexity 0–10 (10 = best quality, slowest).
    pub complexity: u8,
    /// Discontinuous transmission (tiny packets in silence). Off by default: a recording wants every frame.
    pub dtx: bool,
    /// Embed low-bitrate redundancy of the previous frame (in-band FEC) in each packet.
    pub inband_fec: bool,
    /// Expected packet loss in percent (0–100); in-band FEC is only spent when this is above zero.
    pub packet_loss_percent: u8,
}

impl Default for OpusEncoderConfig {
    /// Teams `Pcm16K` mix: 16 kHz mono, [`OpusApplication::Audio`], [`OpusSignal::Voice`], 32 kbit/s,
    /// complexity 1, no DTX, no FEC.
    ///
    /// Complexity 1 keeps encoding within the 60 µs per 20 ms budget on the project's machines (measured
    /// ~35 µs) at 18 dB SNR on alice.wav; complexity 10 reaches 22 dB but costs ~130 µs per frame.
    fn default() -> Self {
        OpusEncoderConfig {
            format: AudioFormat::PCM16K,
            application: OpusApplication::Audio,
            signal: OpusSignal::Voice,
            bitrate_bps: 32_000,
            complexity: 1,
            dtx: false,
            inband_fec: false,
            packet_loss_percent: 0,
        }
    }
}

fn channels_of(format: AudioFormat) -> Result<Channels, CodecError> {
    match format.channels {
        1 => Ok(Channels::Mono),
        2 => Ok(Channels::Stereo),
        c => Err(CodecError::InvalidConfig(format!(
            "Opus supports 1 or 2 channels here, not {c}"
        ))),
    }
}

fn check_rate(rate: u32) -> Result<(), CodecError> {
    if matches!(rate, 8_000 | 12_000 | 16_000 | 24_000 | 48_000) {
        Ok(())
    } else {
        Err(CodecError::InvalidConfig(format!(
            "Opus sample rate must be 8, 12, 16, 24 or 48 kHz, not {rate} Hz"
        )))
    }
}

/// The longest packet taken to be libopus' digital-silence packet (CELT's is 3 bytes, with DTX 1).
const QUIET_PACKET_MAX: usize = 8;
/// How many identical silence packets in a row libopus must have made before the encoder stops calling it:
/// by then CELT's decoder-side state (band energies, post-filter, the 2,048-sample history) is at its
/// silence fixed point, so one more packet or a thousand leave a decoder in the same state.
const QUIET_SETTLED: u32 = 4;

/// An Opus encoder for interleaved s16 PCM, one packet per call.
///
/// **Digital silence is not re-encoded.** libopus keeps encoding a silent input (its DC filter and CELT's
/// memories decay for seconds into values that cost up to 2.5x a speech frame: 56 µs against 23 µs for the
/// mix's settings), yet after ~0.4 s it emits the same 3-byte silence packet every frame. Once it has made
/// that packet `QUIET_SETTLED` times in a row for all-zero input, the encoder returns the same bytes without
/// calling libopus; at the first non-zero frame it resets libopus and encodes one silent frame (its packet is
/// that same silence packet, discarded) so its state matches a decoder that has just decoded silence, then
/// encodes the frame. The stream is the one libopus would have made, except that the first frame after a
/// silence is coded from a freshly reset encoder. This happens where libopus repeats one short packet for
/// silence, as CELT does (the mix's `LowDelay`); a mode whose silence packets vary is always encoded.
/// [`OpusEncoder::quiet_frames`] counts the frames served this way.
pub struct OpusEncoder {
    inner: opus::Encoder,
    config: OpusEncoderConfig,
    pre_skip: u16,
    packet: Box<[u8]>,
    /// The last silence packet libopus made, and how many times in a row it made exactly these bytes.
    quiet: [u8; QUIET_PACKET_MAX],
    quiet_len: usize,
    /// Interleaved samples of the frames `quiet` was made for (a cached packet is for one frame length).
    quiet_samples: usize,
    /// At `QUIET_SETTLED` or more libopus is not being called: every all-zero frame gets `quiet`.
    quiet_run: u32,
    quiet_frames: u64,
    /// All-zero input for the resume frame (the longest frame there is: 60 ms of stereo 48 kHz).
    zeros: Box<[i16]>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("config", &self.config)
            .field("pre_skip", &self.pre_skip)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// Creates an encoder; fails on an unsupported format or out-of-range setting.
    pub fn new(config: OpusEncoderConfig) -> Result<Self, CodecError> {
        check_rate(config.format.sample_rate)?;
        let channels = channels_of(config.format)?;
        if !(500..=512_000).contains(&config.bitrate_bps) {
            return Err(CodecError::InvalidConfig(format!(
                "Opus bitrate {} outside 500..=512000",
                config.bitrate_bps
            )));
        }
        if config.complexity > 10 || config.packet_loss_percent > 100 {
            return Err(CodecError::InvalidConfig(
                "Opus complexity must be 0..=10 and packet loss 0..=100".into(),
            ));
        }
        let app = match config.application {
            OpusApplication::Voip => Application::Voip,
            OpusApplication::Audio => Application::Audio,
            OpusApplication::LowDelay => Application::LowDelay,
        };
        let mut inner = opus::Encoder::new(config.format.sample_rate, channels, app)?;
        inner.set_bitrate(Bitrate::Bits(config.bitrate_bps as i32))?;
        inner.set_complexity(i32::from(config.complexity))?;
        inner.set_signal(match config.signal {
            OpusSignal::Auto => Signal::Auto,
            OpusSignal::Voice => Signal::Voice,
            OpusSignal::Music => Signal::Music,
        })?;
        inner.set_dtx(config.dtx)?;
        inner.set_inband_fec(config.inband_fec)?;
        inner.set_packet_loss_perc(i32::from(config.packet_loss_percent))?;
        let lookahead = inner.get_lookahead()?;
        let pre_skip =
            u64::try_from(lookahead).unwrap_or(0) * 48_000 / u64::from(config.format.sample_rate);
        Ok(OpusEncoder {
            inner,
            config,
            pre_skip: u16::try_from(pre_skip).unwrap_or(u16::MAX),
            packet: vec![0u8; ENCODE_BUFFER_BYTES].into_boxed_slice(),
            quiet: [0; QUIET_PACKET_MAX],
            quiet_len: 0,
            quiet_samples: 0,
            quiet_run: 0,
            quiet_frames: 0,
            zeros: vec![0i16; 48_000 * 60 / 1000 * 2].into_boxed_slice(),
        })
    }

    /// The configuration this encoder was made with (bitrate and loss as last set).
    pub fn config(&self) -> &OpusEncoderConfig {
        &self.config
    }

    /// The encoder's lookahead in 48 kHz samples: the `pre_skip` of the Ogg `OpusHead` and MP4 `dOps` boxes.
    /// A decoder must drop this many (48 kHz) samples from the start to align output with input.
    pub fn pre_skip(&self) -> u16 {
        self.pre_skip
    }

    /// Samples per channel in a 20 ms frame at the input rate (320 at 16 kHz).
    pub fn frame_samples(&self) -> usize {
        self.config.format.sample_rate as usize / 50
    }

    /// Changes the target bitrate.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), CodecError> {
        if !(500..=512_000).contains(&bps) {
            return Err(CodecError::InvalidConfig(format!(
                "Opus bitrate {bps} outside 500..=512000"
            )));
        }
        self.inner.set_bitrate(Bitrate::Bits(bps as i32))?;
        self.config.bitrate_bps = bps;
        Ok(())
    }

    /// Changes the expected packet loss (drives how much in-band FEC is spent).
    pub fn set_packet_loss_percent(&mut self, percent: u8) -> Result<(), CodecError> {
        if percent > 100 {
            return Err(CodecError::InvalidConfig("packet loss above 100%".into()));
        }
        self.inner.set_packet_loss_perc(i32::from(percent))?;
        self.config.packet_loss_percent = percent;
        Ok(())
    }

    fn check_frame(&self, pcm: &[i16]) -> Result<(), CodecError> {
        let ch = usize::from(self.config.format.channels);
        let rate = self.config.format.sample_rate as usize;
        let n = pcm.len() / ch;
        // Valid Opus frame durations: 2.5, 5, 10, 20, 40, 60 ms.
        let ok = pcm.len() % ch == 0
            && [1usize, 2, 4, 8, 16, 24]
                .iter()
                .any(|k| n * 400 == rate * k);
        if ok {
            Ok(())
        } else {
            Err(CodecError::SizeMismatch(format!(
                "{} samples is not a 2.5/5/10/20/40/60 ms frame of {ch}-channel {rate} Hz audio",
                pcm.len()
            )))
        }
    }

    /// Encodes one frame of interleaved PCM (typically 20 ms) into the encoder's own buffer and lends the
    /// packet out.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<&[u8], CodecError> {
        let mut packet = std::mem::take(&mut self.packet);
        let r = self.encode_into(pcm, &mut packet);
        self.packet = packet;
        Ok(&self.packet[..r?])
    }

    /// Encodes one frame into `out` (at least a few hundred bytes; 4000 is always enough) and returns the
    /// packet length.
    pub fn encode_into(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        self.check_frame(pcm)?;
        let silent = media_core::frame::is_digital_silence(pcm);
        let skipping = self.quiet_run >= QUIET_SETTLED;
        if silent && skipping && pcm.len() == self.quiet_samples && out.len() >= self.quiet_len {
            out[..self.quiet_len].copy_from_slice(&self.quiet[..self.quiet_len]);
            self.quiet_frames += 1;
            return Ok(self.quiet_len);
        }
        if skipping {
            // Back to the state of an encoder that has just sent silence (see the type's docs).
            self.quiet_run = 0;
            self.inner.reset_state()?;
            let zeros = self.zeros.get(..pcm.len()).unwrap_or(&self.zeros);
            self.inner.encode(zeros, out)?;
        }
        let n = self.inner.encode(pcm, out)?;
        if !silent || n > QUIET_PACKET_MAX {
            self.quiet_run = 0;
        } else if self.quiet_run > 0
            && pcm.len() == self.quiet_samples
            && out[..n] == self.quiet[..self.quiet_len]
        {
            self.quiet_run += 1;
        } else {
            self.quiet[..n].copy_from_slice(&out[..n]);
            self.quiet_len = n;
            self.quiet_samples = pcm.len();
            self.quiet_run = 1;
        }
        Ok(n)
    }

    /// Frames of digital silence answered with the settled silence packet instead of calling libopus.
    ///
    /// ```
    /// use codecs::opus::{OpusApplication, OpusEncoder, OpusEncoderConfig};
    /// let config = OpusEncoderConfig { application: OpusApplication::LowDelay, complexity: 0, ..Default::default() };
    /// let mut enc = OpusEncoder::new(config).unwrap(); // the recording mix's settings
    /// for _ in 0..200 {
    ///     enc.encode(&[0i16; 320]).unwrap(); // four seconds of digital silence
    /// }
    /// assert!(enc.quiet_frames() > 100); // most of it never reached libopus
    /// ```
    pub fn quiet_frames(&self) -> u64 {
        self.quiet_frames
    }
}

/// How a lost packet was filled in by [`OpusDecoder::recover`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concealment {
    /// Decoded from the in-band FEC (LBRR) data of the following packet.
    Fec,
    /// Synthesised by packet loss concealment (the following packet held no FEC data).
    Plc,
}

/// An Opus decoder with loss concealment and in-band FEC recovery, decoding into an owned buffer.
pub struct OpusDecoder {
    inner: opus::Decoder,
    format: AudioFormat,
    pcm: Box<[i16]>,
    /// Samples per channel of the last packet (the duration a lost packet is assumed to have).
    last_frame: usize,
    /// Interleaved samples produced by the last call.
    out_len: usize,
    stats: DecodeStats,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("format", &self.format)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// Creates a decoder producing `format` (8/12/16/24/48 kHz, mono or stereo) whatever rate the stream
    /// was encoded at.
    pub fn new(format: AudioFormat) -> Result<Self, CodecError> {
        check_rate(format.sample_rate)?;
        let channels = channels_of(format)?;
        let inner = opus::Decoder::new(format.sample_rate, channels)?;
        // 120 ms is the longest packet Opus allows.
        let max = format.sample_rate as usize * 120 / 1000 * usize::from(format.channels);
        Ok(OpusDecoder {
            inner,
            format,
            pcm: vec![0i16; max].into_boxed_slice(),
            last_frame: format.sample_rate as usize / 50,
            out_len: 0,
            stats: DecodeStats::default(),
        })
    }

    /// The output format.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Counters of decoded, concealed, FEC-recovered and rejected packets.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Sets the output gain in Q8 dB (the `OpusHead` output gain field).
    pub fn set_gain_q8(&mut self, gain: i16) -> Result<(), CodecError> {
        self.inner.set_gain(i32::from(gain))?;
        Ok(())
    }

    /// The PCM produced by the last successful [`decode`](Self::decode), [`conceal`](Self::conceal) or
    /// [`recover`](Self::recover) (empty before the first).
    pub fn last_pcm(&self) -> &[i16] {
        &self.pcm[..self.out_len]
    }

    /// Resets the decoder state (e.g. after a stream restart); counters are kept.
    pub fn reset(&mut self) -> Result<(), CodecError> {
        self.inner.reset_state()?;
        Ok(())
    }

    fn check_packet(&mut self, packet: &[u8]) -> Result<(), CodecError> {
        if packet.is_empty() {
            self.stats.errors += 1;
            return Err(CodecError::CorruptOpusPacket(
                "empty packet (use conceal() for a lost packet)".into(),
            ));
        }
        if packet.len() > MAX_PACKET_BYTES {
            self.stats.errors += 1;
            return Err(CodecError::CorruptOpusPacket(format!(
                "{} bytes is longer than any Opus packet",
                packet.len()
            )));
        }
        Ok(())
    }

    /// Decodes one packet and lends out its interleaved PCM. A corrupt or truncated packet is an error (and
    /// counted); the decoder stays usable, and the caller may [`conceal`](Self::conceal) the gap.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], CodecError> {
        self.check_packet(packet)?;
        let ch = usize::from(self.format.channels);
        match self.inner.decode(packet, &mut self.pcm, false) {
            Ok(n) => {
                self.stats.decoded += 1;
                self.last_frame = n;
                self.out_len = n * ch;
                Ok(&self.pcm[..n * ch])
            }
            Err(e) => {
                self.stats.errors += 1;
                Err(CodecError::CorruptOpusPacket(e.to_string()))
            }
        }
    }

    /// Packet loss concealment for one missing packet, assumed as long as the last decoded packet.
    pub fn conceal(&mut self) -> Result<&[i16], CodecError> {
        let ch = usize::from(self.format.channels);
        let n = self.last_frame;
        let got = self.inner.decode(&[], &mut self.pcm[..n * ch], false)?;
        self.stats.concealed += 1;
        self.out_len = got * ch;
        Ok(&self.pcm[..got * ch])
    }

    /// Fills in a missing packet using the packet that followed it: from its in-band FEC data when it has
    /// some, else by concealment. Afterwards decode `next_packet` itself with [`decode`](Self::decode).
    pub fn recover(&mut self, next_packet: &[u8]) -> Result<(Concealment, &[i16]), CodecError> {
        self.check_packet(next_packet)?;
        let len = i32::try_from(next_packet.len()).unwrap_or(i32::MAX);
        // SAFETY: `next_packet` is a live, initialised slice of `len` bytes (checked non-empty and at most
        // MAX_PACKET_BYTES above); libopus only reads `len` bytes from the pointer and keeps no reference.
        let has_lbrr = unsafe { opusic_sys::opus_packet_has_lbrr(next_packet.as_ptr(), len) };
        let ch = usize::from(self.format.channels);
        let n = self.last_frame;
        if has_lbrr == 1 {
            match self
                .inner
                .decode(next_packet, &mut self.pcm[..n * ch], true)
            {
                Ok(got) => {
                    self.stats.fec_recovered += 1;
                    self.out_len = got * ch;
                    return Ok((Concealment::Fec, &self.pcm[..got * ch]));
                }
                Err(_) => self.stats.errors += 1,
            }
        }
        let got = self.inner.decode(&[], &mut self.pcm[..n * ch], false)?;
        self.stats.concealed += 1;
        self.out_len = got * ch;
        Ok((Concealment::Plc, &self.pcm[..got * ch]))
    }
}

//! Helpers shared by the track tests.
#![allow(dead_code)] // each test binary uses a different subset

use bytes::Bytes;
use media_core::{AudioFormat, AudioFrame, FrameTiming, SourceId, SourceTimestamp};

/// A 16 kHz mono frame of source 1 stamped `stamp`, with the samples `pcm` gives.
pub fn pcm_frame(stamp: u64, pcm: impl Iterator<Item = i16>) -> AudioFrame {
    let payload: Vec<u8> = pcm.flat_map(i16::to_le_bytes).collect();
    AudioFrame {
        source: SourceId::audio(1),
        timing: FrameTiming {
            timestamp: SourceTimestamp::new(stamp),
            ..Default::default()
        },
        format: AudioFormat::PCM16K,
        is_silence: false,
        payload: Bytes::from(payload),
    }
}

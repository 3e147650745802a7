//! Types that mirror what the Teams media SDK (`Microsoft.Skype.Bots.Media`) hands a recorder bot.
//!
//! Field names follow the SDK's (`AudioMediaBuffer.UnmixedAudioBuffers`, `OriginalSenderTimestamp`, …) so a
//! .NET developer can map one to the other line by line. Timestamps are the SDK's 100 ns ticks. Payloads are
//! [`bytes::Bytes`]: the bytes the SDK lent are referenced, not copied, through ingest to the recorder; H.264
//! frames all the way to the writer, audio until it is decoded onto the recording timeline (see the copies
//! counted in `docs/benchmarks.md`).
//!
//! Containers here have fixed capacity (the SDK delivers at most four unmixed buffers per audio buffer), so
//! building and splitting a buffer never allocates.

use bytes::Bytes;
use media_core::{AudioFormat, Msi, SourceTimestamp, VideoFormat};

/// Most unmixed buffers one `AudioMediaBuffer` carries (Teams: the top four active speakers).
pub const MAX_UNMIXED: usize = 4;
/// Most active-speaker ids one `AudioMediaBuffer` lists.
pub const MAX_ACTIVE_SPEAKERS: usize = 8;

/// One participant's audio inside an [`AudioMediaBuffer`] (SDK `UnmixedAudioBuffer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmixedAudioBuffer {
    /// The speaker's media source id (`ActiveSpeakerId`).
    pub active_speaker_id: Msi,
    /// PCM bytes in the buffer's format (Pcm16K: 640 bytes per 20 ms).
    pub data: Bytes,
    /// When the sender captured it, in the sender's clock (`OriginalSenderTimestamp`); 0 = not known.
    pub original_sender_timestamp: SourceTimestamp,
}

/// A fixed-capacity list (no heap) of up to `N` items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedList<T, const N: usize> {
    items: [Option<T>; N],
    len: usize,
}

impl<T, const N: usize> Default for FixedList<T, N> {
    fn default() -> Self {
        FixedList {
            items: std::array::from_fn(|_| None),
            len: 0,
        }
    }
}

impl<T, const N: usize> FixedList<T, N> {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends `item`; hands it back when the list is full.
    ///
    /// # Errors
    /// The item itself when `N` items are already held.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(item);
                self.len += 1;
                Ok(())
            }
            None => Err(item),
        }
    }
    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Iterates the items in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().take(self.len).flatten()
    }
    /// Empties the list, yielding the items.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        let len = std::mem::take(&mut self.len);
        self.items.iter_mut().take(len).filter_map(Option::take)
    }
}

/// An audio event of the SDK (`AudioMediaBuffer`), raised every 20 ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioMediaBuffer {
    /// When the platform received it, local clock domain (100 ns).
    pub timestamp: SourceTimestamp,
    /// PCM format of every buffer inside (`Pcm16K` unless configured otherwise).
    pub format: AudioFormat,
    /// The platform marked the whole buffer as silence.
    pub is_silence: bool,
    /// Media source ids heard in this buffer (`ActiveSpeakers`).
    pub active_speakers: FixedList<Msi, MAX_ACTIVE_SPEAKERS>,
    /// Unmixed mode: one buffer per top active speaker (`UnmixedAudioBuffers`), at most four.
    pub unmixed: FixedList<UnmixedAudioBuffer, MAX_UNMIXED>,
}

impl AudioMediaBuffer {
    /// Keeps only the buffer's timing, as recording does while paused: no unmixed buffers, marked silence
    /// (the recorder writes silence for it).
    ///
    /// ```
    /// use bot_adapter::sdk::{AudioMediaBuffer, FixedList};
    /// use media_core::{AudioFormat, SourceTimestamp};
    /// let mut b = AudioMediaBuffer {
    ///     timestamp: SourceTimestamp::new(1),
    ///     format: AudioFormat::PCM16K,
    ///     is_silence: false,
    ///     active_speakers: FixedList::new(),
    ///     unmixed: FixedList::new(),
    /// };
    /// b.withhold();
    /// assert!(b.is_silence && b.unmixed.is_empty());
    /// ```
    pub fn withhold(&mut self) {
        self.unmixed = FixedList::new();
        self.is_silence = true;
    }
}

/// Which video socket a buffer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoSocket {
    /// One of the (up to ten) main-video multiview sockets, by index.
    Main(u8),
    /// The video-based screen sharing (VBSS) socket.
    ScreenShare,
}

/// A video event of the SDK (`VideoMediaBuffer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoMediaBuffer {
    /// The socket it arrived on.
    pub socket: VideoSocket,
    /// The sender's media source id (`MediaSourceId`).
    pub media_source_id: Msi,
    /// When the frame was sourced (100 ns).
    pub timestamp: SourceTimestamp,
    /// The format as received (`VideoFormat`).
    pub format: VideoFormat,
    /// The sender's size (`OriginalVideoFormat`) when it differs from `format`.
    pub original_size: Option<(u32, u32)>,
    /// One whole H.264 frame in Annex-B, or an NV12 picture.
    pub data: Bytes,
}

/// A participant as the roster describes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// Stable identity: the AAD user id, or the guest's id from the additional data.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// True for guests (identity from additional data, not AAD).
    pub is_guest: bool,
    /// The participant's media streams: `participant.mediaStreams[].sourceId` with their kinds.
    pub media_streams: Vec<(Msi, media_core::StreamKind)>,
}

/// A change to the call's roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RosterChange {
    /// Someone joined (or their streams changed).
    Joined(Participant),
    /// Someone left, by id.
    Left {
        /// The participant's id.
        id: String,
    },
}

/// The SDK's `DominantSpeakerChanged` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DominantSpeakerChanged {
    /// The new dominant speaker (`Msi::NONE` = nobody).
    pub current: Msi,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_list_refuses_a_fifth_unmixed_buffer_and_drains_in_order() {
        let mut l: FixedList<u32, 4> = FixedList::new();
        for i in 0..4 {
            assert!(l.push(i).is_ok());
        }
        assert_eq!(l.push(9), Err(9));
        assert_eq!(l.iter().copied().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(l.drain().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert!(l.is_empty());
    }
}

//! Wire messages <-> the SDK-shaped types of [`crate::sdk`].
//!
//! The server side (`*_from_proto`) validates everything a bot can get wrong and says what, so a malformed
//! message is refused with a precise reason instead of reaching the recorder. Payloads are `bytes::Bytes`
//! slices of the received message: moved, never copied. The client side (`*_to_proto`) is what a bot written in
//! Rust (and `verbatim send`) uses.

use bytes::Bytes;
use media_core::{AudioFormat, Msi, SourceTimestamp, StreamKind, VideoCodec, VideoFormat};

use super::proto;
use crate::sdk::{
    AudioMediaBuffer, DominantSpeakerChanged, FixedList, Participant, UnmixedAudioBuffer,
    VideoMediaBuffer, VideoSocket, MAX_ACTIVE_SPEAKERS, MAX_UNMIXED,
};

/// Longest id (call, participant, tenant, phone numbers, custom data keys), display name and pause
/// `requested_by` accepted, in bytes of UTF-8.
pub const MAX_ID_LEN: usize = 256;
/// Longest free text (custom data values, pause and resume reasons) accepted, in bytes of UTF-8.
pub const MAX_TEXT_LEN: usize = 4096;
/// Most custom-data entries in a `CallStart`.
pub const MAX_CUSTOM_DATA: usize = 64;
/// Most bytes of custom data (keys and values together) in a `CallStart`.
pub const MAX_CUSTOM_DATA_BYTES: usize = 64 << 10;
/// Longest `CallStart.leg_id` accepted, in bytes (it names a recording folder).
pub const MAX_LEG_ID_LEN: usize = 64;
/// Most media streams per participant in one roster entry.
pub const MAX_STREAMS_PER_PARTICIPANT: usize = 16;

/// A message the engine cannot use, and why. The message is refused; the call goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A required field is missing or empty.
    #[error("{message}: `{field}` is missing or empty")]
    Missing {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field's value is out of range.
    #[error("{message}: `{field}` {reason}")]
    Invalid {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A field is longer than its limit.
    #[error("{message}: `{field}` is {len} bytes, over the limit of {max} bytes")]
    TooLong {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A list has more entries (or bytes, for `custom_data`) than its limit.
    #[error("{message}: `{field}` has {count} {unit}, over the limit of {max}")]
    TooMany {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// What is counted (`entries`, `bytes`).
        unit: &'static str,
        /// How many it has.
        count: usize,
        /// The limit.
        max: usize,
    },
}

fn invalid(message: &'static str, field: &'static str, reason: &'static str) -> ConvertError {
    ConvertError::Invalid {
        message,
        field,
        reason,
    }
}

fn check_text(
    message: &'static str,
    field: &'static str,
    s: &str,
    max: usize,
) -> Result<(), ConvertError> {
    if s.len() > max {
        return Err(ConvertError::TooLong {
            message,
            field,
            len: s.len(),
            max,
        });
    }
    Ok(())
}

fn check_count(
    message: &'static str,
    field: &'static str,
    unit: &'static str,
    count: usize,
    max: usize,
) -> Result<(), ConvertError> {
    if count > max {
        return Err(ConvertError::TooMany {
            message,
            field,
            unit,
            count,
            max,
        });
    }
    Ok(())
}

/// A pause's or resume's texts, cut to their limits (the pause itself is never refused for its text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlText {
    /// Who asked, at most [`MAX_ID_LEN`] bytes.
    pub requested_by: String,
    /// Why, at most [`MAX_TEXT_LEN`] bytes.
    pub reason: String,
    /// What was cut, to report to the bot (empty when both fit).
    pub cut: Vec<ConvertError>,
}

/// Cuts `s` to at most `max` bytes on a character boundary; returns the original length when it did.
fn cut_to(s: &mut String, max: usize) -> Option<usize> {
    if s.len() <= max {
        return None;
    }
    let len = s.len();
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    Some(len)
}

/// Checks a `Pause`'s or `Resume`'s `requested_by` and `reason`: over-long text is cut to its limit and
/// reported (a compliance pause must happen even when its reason is too long to keep).
///
/// # Examples
/// ```
/// use bot_adapter::grpc::convert::{control_text, MAX_TEXT_LEN};
/// let t = control_text("Pause", "agent".into(), "x".repeat(MAX_TEXT_LEN + 5));
/// assert_eq!(t.reason.len(), MAX_TEXT_LEN);
/// assert!(t.cut[0].to_string().contains("limit of 4096 bytes"));
/// ```
pub fn control_text(message: &'static str, requested_by: String, reason: String) -> ControlText {
    let (mut requested_by, mut reason) = (requested_by, reason);
    let mut cut = Vec::new();
    if let Some(len) = cut_to(&mut requested_by, MAX_ID_LEN) {
        cut.push(ConvertError::TooLong {
            message,
            field: "requested_by",
            len,
            max: MAX_ID_LEN,
        });
    }
    if let Some(len) = cut_to(&mut reason, MAX_TEXT_LEN) {
        cut.push(ConvertError::TooLong {
            message,
            field: "reason",
            len,
            max: MAX_TEXT_LEN,
        });
    }
    ControlText {
        requested_by,
        reason,
        cut,
    }
}

/// The call as `CallStart` describes it, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct CallDescription {
    /// Graph call id (non-empty, at most [`MAX_ID_LEN`] bytes).
    pub call_id: String,
    /// Which recorder bot of the call (the leg): `CallStart.leg_id`, `"1"` when empty; at most
    /// [`MAX_LEG_ID_LEN`] bytes of ASCII letters, digits, `.`, `_` and `-`.
    pub leg_id: String,
    /// The message as received (for metadata).
    pub start: proto::CallStart,
    /// Audio format of every buffer in the call.
    pub audio_format: AudioFormat,
}

/// Checks a `CallStart`.
///
/// # Errors
/// [`ConvertError`] for an empty or over-long call id, over-long text, too much custom data, or an unknown
/// enum value.
pub fn call_start_from_proto(m: proto::CallStart) -> Result<CallDescription, ConvertError> {
    const M: &str = "CallStart";
    if m.call_id.trim().is_empty() {
        return Err(ConvertError::Missing {
            message: M,
            field: "call_id",
        });
    }
    check_text(M, "call_id", &m.call_id, MAX_ID_LEN)?;
    for (f, v) in [
        ("tenant_id", &m.tenant_id),
        ("observed_participant_id", &m.observed_participant_id),
        ("dialed_number", &m.dialed_number),
        ("origin_number", &m.origin_number),
        ("source_participant_id", &m.source_participant_id),
        ("on_behalf_of", &m.on_behalf_of),
        ("transferor", &m.transferor),
    ] {
        check_text(M, f, v, MAX_ID_LEN)?;
    }
    check_count(
        M,
        "custom_data",
        "entries",
        m.custom_data.len(),
        MAX_CUSTOM_DATA,
    )?;
    for (k, v) in &m.custom_data {
        check_text(M, "custom_data key", k, MAX_ID_LEN)?;
        check_text(M, "custom_data value", v, MAX_TEXT_LEN)?;
    }
    let bytes = m.custom_data.iter().map(|(k, v)| k.len() + v.len()).sum();
    check_count(M, "custom_data", "bytes", bytes, MAX_CUSTOM_DATA_BYTES)?;
    if proto::CallDirection::try_from(m.direction).is_err() {
        return Err(invalid(M, "direction", "is not a known CallDirection"));
    }
    let audio_format = match proto::AudioFormat::try_from(m.audio_format) {
        Ok(proto::AudioFormat::Pcm16k) => AudioFormat::PCM16K,
        Ok(proto::AudioFormat::Pcm44kStereo) => AudioFormat::PCM44K_STEREO,
        Err(_) => return Err(invalid(M, "audio_format", "is not a known AudioFormat")),
    };
    check_text(M, "leg_id", &m.leg_id, MAX_LEG_ID_LEN)?;
    if !m
        .leg_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid(M, "leg_id", "may hold only A-Z a-z 0-9 . _ -"));
    }
    Ok(CallDescription {
        call_id: m.call_id.clone(),
        leg_id: if m.leg_id.is_empty() {
            "1".into()
        } else {
            m.leg_id.clone()
        },
        audio_format,
        start: m,
    })
}

/// What was cut from an audio buffer that was otherwise usable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AudioTrim {
    /// Unmixed buffers beyond the SDK's four.
    pub extra_unmixed: u32,
    /// Active-speaker ids beyond [`MAX_ACTIVE_SPEAKERS`].
    pub extra_active_speakers: u32,
}

/// Converts an `AudioMediaBuffer`. Unmixed buffers beyond four and active speakers beyond eight are cut and
/// counted in the returned [`AudioTrim`]; payload lengths are checked later by [`crate::ingest::Ingest`].
///
/// # Errors
/// [`ConvertError`] for a zero timestamp or an unmixed buffer from `Msi::NONE`.
pub fn audio_from_proto(
    m: proto::AudioMediaBuffer,
    format: AudioFormat,
) -> Result<(AudioMediaBuffer, AudioTrim), ConvertError> {
    const M: &str = "AudioMediaBuffer";
    if m.timestamp == 0 {
        return Err(ConvertError::Missing {
            message: M,
            field: "timestamp",
        });
    }
    let mut trim = AudioTrim::default();
    let mut active_speakers = FixedList::<Msi, MAX_ACTIVE_SPEAKERS>::new();
    for s in m.active_speakers {
        if active_speakers.push(Msi(s)).is_err() {
            trim.extra_active_speakers += 1;
        }
    }
    let mut unmixed = FixedList::<UnmixedAudioBuffer, MAX_UNMIXED>::new();
    for u in m.unmixed {
        if u.active_speaker_id == Msi::NONE.0 {
            return Err(invalid(
                M,
                "unmixed.active_speaker_id",
                "is 0xFFFFFFFF (nobody)",
            ));
        }
        let b = UnmixedAudioBuffer {
            active_speaker_id: Msi(u.active_speaker_id),
            data: u.data,
            original_sender_timestamp: SourceTimestamp::new(u.original_sender_timestamp),
        };
        if unmixed.push(b).is_err() {
            trim.extra_unmixed += 1;
        }
    }
    Ok((
        AudioMediaBuffer {
            timestamp: SourceTimestamp::new(m.timestamp),
            format,
            is_silence: m.is_silence,
            active_speakers,
            unmixed,
        },
        trim,
    ))
}

/// Converts a `VideoMediaBuffer` (payload checks are [`crate::ingest::Ingest::push_video`]'s).
///
/// # Errors
/// [`ConvertError`] for a missing format, an unknown color format or socket kind, a socket index beyond 255,
/// or `Msi::NONE` as the source.
pub fn video_from_proto(m: proto::VideoMediaBuffer) -> Result<VideoMediaBuffer, ConvertError> {
    const M: &str = "VideoMediaBuffer";
    let f = m.format.ok_or(ConvertError::Missing {
        message: M,
        field: "format",
    })?;
    let codec = match proto::VideoColorFormat::try_from(f.color_format) {
        Ok(proto::VideoColorFormat::Nv12) => VideoCodec::Nv12,
        Ok(proto::VideoColorFormat::H264) => VideoCodec::H264,
        _ => return Err(invalid(M, "format.color_format", "must be NV12 or H264")),
    };
    let socket = match proto::VideoSocketKind::try_from(m.socket_kind) {
        Ok(proto::VideoSocketKind::Main) => VideoSocket::Main(
            u8::try_from(m.socket_index)
                .map_err(|_| invalid(M, "socket_index", "is beyond 255"))?,
        ),
        Ok(proto::VideoSocketKind::ScreenShare) => VideoSocket::ScreenShare,
        Err(_) => return Err(invalid(M, "socket_kind", "is not a known VideoSocketKind")),
    };
    if m.media_source_id == Msi::NONE.0 {
        return Err(invalid(M, "media_source_id", "is 0xFFFFFFFF (nobody)"));
    }
    let fps = if f.frame_rate.is_finite() && f.frame_rate > 0.0 {
        (f64::from(f.frame_rate) * 1000.0).min(f64::from(u32::MAX)) as u32
    } else {
        0
    };
    Ok(VideoMediaBuffer {
        socket,
        media_source_id: Msi(m.media_source_id),
        timestamp: SourceTimestamp::new(m.timestamp),
        format: VideoFormat {
            codec,
            width: f.width,
            height: f.height,
            stride: f.stride,
            frame_rate_millihz: fps,
        },
        original_size: (m.original_width != 0 && m.original_height != 0)
            .then_some((m.original_width, m.original_height)),
        data: m.data,
    })
}

/// Converts one roster participant.
///
/// # Errors
/// [`ConvertError`] for an empty or over-long id, over-long name, too many streams, an unknown media kind or
/// `Msi::NONE` as a source id.
pub fn participant_from_proto(m: proto::Participant) -> Result<Participant, ConvertError> {
    const M: &str = "Participant";
    if m.id.trim().is_empty() {
        return Err(ConvertError::Missing {
            message: M,
            field: "id",
        });
    }
    check_text(M, "id", &m.id, MAX_ID_LEN)?;
    check_text(M, "display_name", &m.display_name, MAX_ID_LEN)?;
    check_count(
        M,
        "media_streams",
        "entries",
        m.media_streams.len(),
        MAX_STREAMS_PER_PARTICIPANT,
    )?;
    let mut media_streams = Vec::with_capacity(m.media_streams.len());
    for s in &m.media_streams {
        let kind = match proto::MediaKind::try_from(s.kind) {
            Ok(proto::MediaKind::Audio) => StreamKind::Audio,
            Ok(proto::MediaKind::Video) => StreamKind::Video,
            Ok(proto::MediaKind::ScreenShare) => StreamKind::ScreenShare,
            Err(_) => return Err(invalid(M, "media_streams.kind", "is not a known MediaKind")),
        };
        if s.source_id == Msi::NONE.0 {
            return Err(invalid(
                M,
                "media_streams.source_id",
                "is 0xFFFFFFFF (nobody)",
            ));
        }
        media_streams.push((Msi(s.source_id), kind));
    }
    Ok(Participant {
        id: m.id,
        display_name: m.display_name,
        is_guest: m.is_guest,
        media_streams,
    })
}

/// Converts a dominant-speaker change.
pub fn dominant_from_proto(m: &proto::DominantSpeakerChanged) -> DominantSpeakerChanged {
    DominantSpeakerChanged {
        current: Msi(m.current_dominant_speaker),
    }
}

// ------------------------------------------------------------------------------------------------ client side

/// An SDK audio buffer as a wire message (payloads are shared, not copied).
pub fn audio_to_proto(b: &AudioMediaBuffer, sent_unix_micros: i64) -> proto::AudioMediaBuffer {
    proto::AudioMediaBuffer {
        timestamp: b.timestamp.ticks(),
        is_silence: b.is_silence,
        active_speakers: b.active_speakers.iter().map(|m| m.0).collect(),
        unmixed: b
            .unmixed
            .iter()
            .map(|u| proto::UnmixedAudioBuffer {
                active_speaker_id: u.active_speaker_id.0,
                data: Bytes::clone(&u.data),
                original_sender_timestamp: u.original_sender_timestamp.ticks(),
            })
            .collect(),
        sent_unix_micros,
    }
}

/// An SDK video buffer as a wire message; `received` is the platform clock when the bot received it
/// (`received_timestamp`, `SourceTimestamp::UNKNOWN` = not known).
pub fn video_to_proto(b: &VideoMediaBuffer, received: SourceTimestamp) -> proto::VideoMediaBuffer {
    let (socket_kind, socket_index) = match b.socket {
        VideoSocket::Main(i) => (proto::VideoSocketKind::Main, u32::from(i)),
        VideoSocket::ScreenShare => (proto::VideoSocketKind::ScreenShare, 0),
    };
    let (ow, oh) = b.original_size.unwrap_or((0, 0));
    proto::VideoMediaBuffer {
        socket_kind: socket_kind as i32,
        socket_index,
        media_source_id: b.media_source_id.0,
        timestamp: b.timestamp.ticks(),
        format: Some(proto::VideoFormat {
            color_format: match b.format.codec {
                VideoCodec::Nv12 => proto::VideoColorFormat::Nv12,
                VideoCodec::H264 => proto::VideoColorFormat::H264,
            } as i32,
            width: b.format.width,
            height: b.format.height,
            stride: b.format.stride,
            frame_rate: b.format.frame_rate_millihz as f32 / 1000.0,
            bit_rate: 0,
        }),
        original_width: ow,
        original_height: oh,
        data: Bytes::clone(&b.data),
        received_timestamp: received.ticks(),
    }
}

/// A roster participant as a wire message.
pub fn participant_to_proto(p: &Participant) -> proto::Participant {
    proto::Participant {
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        is_guest: p.is_guest,
        media_streams: p
            .media_streams
            .iter()
            .map(|(m, k)| proto::MediaStream {
                source_id: m.0,
                kind: match k {
                    StreamKind::Audio => proto::MediaKind::Audio,
                    StreamKind::Video => proto::MediaKind::Video,
                    StreamKind::ScreenShare => proto::MediaKind::ScreenShare,
                } as i32,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio_msg(n_unmixed: u32) -> proto::AudioMediaBuffer {
        proto::AudioMediaBuffer {
            timestamp: 1_000,
            is_silence: false,
            active_speakers: (1..=10).collect(),
            unmixed: (1..=n_unmixed)
                .map(|i| proto::UnmixedAudioBuffer {
                    active_speaker_id: i,
                    data: Bytes::from(vec![0u8; 640]),
                    original_sender_timestamp: 5,
                })
                .collect(),
            sent_unix_micros: 0,
        }
    }

    #[test]
    fn audio_round_trips_and_extra_buffers_are_cut_and_counted() {
        let (b, trim) = audio_from_proto(audio_msg(6), AudioFormat::PCM16K).unwrap();
        assert_eq!(b.unmixed.len(), 4);
        assert_eq!(trim.extra_unmixed, 2);
        assert_eq!(trim.extra_active_speakers, 2);
        let back = audio_to_proto(&b, 0);
        assert_eq!(back.unmixed.len(), 4);
        assert_eq!(back.timestamp, 1_000);
        assert_eq!(back.unmixed[3].active_speaker_id, 4);
    }

    #[test]
    fn payload_bytes_are_moved_not_copied() {
        let m = audio_msg(1);
        let ptr = m.unmixed[0].data.as_ptr();
        let (b, _) = audio_from_proto(m, AudioFormat::PCM16K).unwrap();
        assert_eq!(b.unmixed.iter().next().map(|u| u.data.as_ptr()), Some(ptr));
    }

    #[test]
    fn malformed_messages_are_refused_with_the_field_named() {
        let mut m = audio_msg(1);
        m.timestamp = 0;
        let e = audio_from_proto(m, AudioFormat::PCM16K).unwrap_err();
        assert!(e.to_string().contains("timestamp"), "{e}");
        let e = call_start_from_proto(proto::CallStart::default()).unwrap_err();
        assert!(e.to_string().contains("call_id"), "{e}");
        let e = video_from_proto(proto::VideoMediaBuffer::default()).unwrap_err();
        assert!(e.to_string().contains("format"), "{e}");
        let e = participant_from_proto(proto::Participant {
            id: "p".into(),
            media_streams: vec![proto::MediaStream {
                source_id: 1,
                kind: 9,
            }],
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("kind"), "{e}");
    }

    #[test]
    fn limits_are_named_in_the_errors() {
        let start = |f: &dyn Fn(&mut proto::CallStart)| {
            let mut m = proto::CallStart {
                call_id: "c".into(),
                ..Default::default()
            };
            f(&mut m);
            call_start_from_proto(m)
        };
        assert_eq!(start(&|_| {}).map(|d| d.leg_id), Ok("1".to_string()));
        assert_eq!(
            start(&|m| m.leg_id = "bot-2.b_x".into()).map(|d| d.leg_id),
            Ok("bot-2.b_x".to_string())
        );
        assert!(start(&|m| m.leg_id = "../2".into()).is_err());
        assert!(start(&|m| m.leg_id = "x".repeat(MAX_LEG_ID_LEN + 1)).is_err());
        let e = start(&|m| m.call_id = "x".repeat(MAX_ID_LEN + 1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CallStart: `call_id` is 257 bytes, over the limit of 256 bytes"
        );
        assert!(start(&|m| m.call_id = "x".repeat(MAX_ID_LEN)).is_ok());
        let e = start(&|m| {
            m.custom_data = (0..=MAX_CUSTOM_DATA)
                .map(|i| (i.to_string(), String::new()))
                .collect()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "CallStart: `custom_data` has 65 entries, over the limit of 64"
        );
        let e = start(&|m| {
            m.custom_data = (0..17)
                .map(|i| (format!("{i:02}"), "v".repeat(MAX_TEXT_LEN - 2)))
                .collect()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "CallStart: `custom_data` has 69632 bytes, over the limit of 65536"
        );
        let e = participant_from_proto(proto::Participant {
            id: "p".into(),
            display_name: "n".repeat(MAX_ID_LEN + 1),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("limit of 256 bytes"), "{e}");
        let t = control_text("Pause", "a".repeat(300), "ok".into());
        assert_eq!(t.requested_by.len(), MAX_ID_LEN);
        assert_eq!(t.reason, "ok");
        assert_eq!(
            t.cut[0].to_string(),
            "Pause: `requested_by` is 300 bytes, over the limit of 256 bytes"
        );
        let t = control_text("Pause", "a".repeat(300), "b".repeat(5000));
        assert_eq!(t.cut.len(), 2);
        let t = control_text("Resume", "a".into(), "ü".repeat(MAX_TEXT_LEN));
        assert_eq!(t.reason, "ü".repeat(MAX_TEXT_LEN / 2));
        assert!(control_text("Pause", "a".into(), "b".into()).cut.is_empty());
    }

    #[test]
    fn video_round_trips() {
        let v = VideoMediaBuffer {
            socket: VideoSocket::Main(3),
            media_source_id: Msi(77),
            timestamp: SourceTimestamp::new(99),
            format: VideoFormat {
                codec: VideoCodec::H264,
                width: 640,
                height: 360,
                stride: 0,
                frame_rate_millihz: 30_000,
            },
            original_size: Some((1280, 720)),
            data: Bytes::from_static(&[0, 0, 1, 0x65, 1]),
        };
        let m = video_to_proto(&v, SourceTimestamp::new(123));
        assert_eq!(m.received_timestamp, 123);
        assert_eq!(video_from_proto(m).unwrap(), v);
    }
}

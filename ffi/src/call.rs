//! `VbCall`: one call's functions — start, confirm, push, roster, pause/resume, end, poll, wait, free.

use std::ffi::{c_char, CString};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use recorder::bot_adapter::sdk::{
    AudioMediaBuffer, DominantSpeakerChanged, FixedList, Participant, RosterChange,
    UnmixedAudioBuffer, VideoMediaBuffer, VideoSocket,
};
use recorder::live::LiveRecording;
use recorder::media_core::{
    AudioFormat, Msi, SourceTimestamp, StreamKind, VideoCodec, VideoFormat,
};
use recorder::session::{
    CallSession, EngineMessage, ErrorCode, MessageReceiver, RequestedStatus, SessionError,
};

use crate::config::VbConfig;
use crate::{
    fail, guard, guard_ptr, text, text_or_empty, VB_ERR_INVALID_ARGUMENT, VB_ERR_IO, VB_ERR_PANIC,
    VB_ERR_STATE, VB_OK,
};

/// [`VbMessage::kind`]: report [`VbMessage::status`] to Graph (`updateRecordingStatus`).
pub const VB_MESSAGE_STATUS_REQUEST: u32 = 1;
/// [`VbMessage::kind`]: ask the sender of `media_source_id` for a key frame.
pub const VB_MESSAGE_KEY_FRAME_REQUEST: u32 = 2;
/// [`VbMessage::kind`]: an error (`code`, `text`); the call goes on unless it says otherwise.
pub const VB_MESSAGE_ERROR: u32 = 3;
/// [`VbMessage::kind`]: the call is over and its folder closed (`status`, `folder`, `duration_us`,
/// `participants`, `text` = the error if any). A status request for `notRecording` follows.
pub const VB_MESSAGE_SUMMARY: u32 = 4;

/// Status requests: report `recording`, then call [`vb_call_confirm`] with Graph's answer.
pub const VB_STATUS_RECORDING: u32 = 1;
/// Status requests: report `notRecording`.
pub const VB_STATUS_NOT_RECORDING: u32 = 2;
/// Status requests: report `failed`.
pub const VB_STATUS_FAILED: u32 = 3;
/// Summary status: recorded to the end.
pub const VB_SUMMARY_COMPLETED: u32 = 1;
/// Summary status: the recording failed (the folder holds what was written, verifiable).
pub const VB_SUMMARY_FAILED: u32 = 2;
/// Summary status: never confirmed, nothing written.
pub const VB_SUMMARY_NOT_RECORDED: u32 = 3;

/// Stream kinds ([`VbMediaStream::kind`], key-frame requests): a participant's audio.
pub const VB_STREAM_AUDIO: u32 = 1;
/// A camera.
pub const VB_STREAM_VIDEO: u32 = 2;
/// Video-based screen sharing.
pub const VB_STREAM_SCREEN_SHARE: u32 = 3;
/// [`vb_call_push_video`]'s `codec`: one whole H.264 frame in Annex-B.
pub const VB_VIDEO_H264: u32 = 1;
/// [`vb_call_push_video`]'s `codec`: an NV12 picture.
pub const VB_VIDEO_NV12: u32 = 2;
/// [`vb_call_push_video`]'s `socket` for the screen-share (VBSS) socket; 0..=9 are the main-video sockets.
pub const VB_SOCKET_SCREEN_SHARE: i32 = -1;

/// One participant's audio in an audio event (the SDK's `UnmixedAudioBuffer`).
#[repr(C)]
pub struct VbUnmixedBuffer {
    /// The speaker's media source id (`ActiveSpeakerId`).
    pub active_speaker_id: u32,
    /// PCM 16 kHz, 16-bit little-endian, mono: 640 bytes per 20 ms. Borrowed for the call; copied.
    pub data: *const u8,
    /// Bytes at `data`.
    pub len: usize,
    /// `OriginalSenderTimestamp` (100 ns), 0 when not known.
    pub original_sender_timestamp: u64,
}

/// One media stream of a participant (`mediaStreams[]`).
#[repr(C)]
pub struct VbMediaStream {
    /// `sourceId`.
    pub media_source_id: u32,
    /// `VB_STREAM_AUDIO`, `VB_STREAM_VIDEO` or `VB_STREAM_SCREEN_SHARE`.
    pub kind: u32,
}

/// A message from the engine, filled by [`vb_call_poll`]. Strings are null when absent and stay valid until
/// the next `vb_call_poll` or `vb_call_free` on the same call.
#[repr(C)]
pub struct VbMessage {
    /// `VB_MESSAGE_*`.
    pub kind: u32,
    /// Status requests: `VB_STATUS_*`; summaries: `VB_SUMMARY_*`.
    pub status: u32,
    /// Errors: 1 invalid message, 2 limit exceeded (pre-roll full), 3 queue full, 4 confirmation timed out,
    /// 5 recording failed.
    pub code: i32,
    /// Key-frame requests: the stream's media source id.
    pub media_source_id: u32,
    /// Key-frame requests: `VB_STREAM_VIDEO` or `VB_STREAM_SCREEN_SHARE`.
    pub stream_kind: u32,
    /// Errors: the message; summaries: the error, if any.
    pub text: *const c_char,
    /// Summaries: the recording folder.
    pub folder: *const c_char,
    /// Summaries: the recording's length (µs).
    pub duration_us: i64,
    /// Summaries: participants recorded.
    pub participants: u32,
}

/// One call being recorded (opaque; see [`vb_call_start`]).
pub struct VbCall {
    session: Mutex<CallSession>,
    messages: MessageReceiver,
    /// The strings of the last polled message (the pointers handed out point into them).
    polled: Mutex<(Option<CString>, Option<CString>)>,
}

fn cstring(s: &str) -> Option<CString> {
    CString::new(s.replace('\0', " ")).ok()
}

/// The call behind a pointer, locked.
///
/// # Safety
/// `call` is null or a live pointer from [`vb_call_start`].
unsafe fn lock<'a>(call: *const VbCall) -> Result<(&'a VbCall, MutexGuard<'a, CallSession>), i32> {
    // SAFETY: by the caller's guarantee the pointer is null or live until vb_call_free.
    let Some(c) = (unsafe { call.as_ref() }) else {
        return Err(fail(VB_ERR_INVALID_ARGUMENT, "call: null"));
    };
    match c.session.lock() {
        Ok(g) => Ok((c, g)),
        Err(_) => Err(fail(
            VB_ERR_PANIC,
            "an earlier call on this call panicked: it takes nothing more",
        )),
    }
}

/// Runs `f` on the locked session and returns its code, or the lock's error.
///
/// # Safety
/// As [`lock`].
unsafe fn with_session(call: *const VbCall, f: impl FnOnce(&mut CallSession) -> i32) -> i32 {
    // SAFETY: the caller's guarantee, passed on.
    match unsafe { lock(call) } {
        Ok((_, mut s)) => f(&mut s),
        Err(e) => e,
    }
}

/// Starts recording a call: nothing is written until [`vb_call_confirm`]; the first message asks the bot to
/// report `recording` to Graph. Returns null on error (see `vb_last_error`).
///
/// # Safety
/// `cfg` is a live pointer from `vb_config_new` (copied: it may be freed right after).
#[no_mangle]
pub unsafe extern "C" fn vb_call_start(cfg: *const VbConfig) -> *mut VbCall {
    guard_ptr(|| {
        // SAFETY: a live config, by the caller's guarantee.
        let Some(cfg) = (unsafe { cfg.as_ref() }) else {
            fail(VB_ERR_INVALID_ARGUMENT, "config: null");
            return std::ptr::null_mut();
        };
        if !cfg.out_set {
            fail(VB_ERR_INVALID_ARGUMENT, "out_dir is not set");
            return std::ptr::null_mut();
        }
        let session = CallSession::start(cfg.record.clone(), cfg.status, cfg.start.clone());
        let messages = session.messages().clone();
        Box::into_raw(Box::new(VbCall {
            session: Mutex::new(session),
            messages,
            polled: Mutex::new((None, None)),
        }))
    })
}

/// Graph's answer to `updateRecordingStatus(recording)`: `success` creates the folder and releases the
/// media held so far into it (file I/O: not from the SDK's media threads; the call's lock is not held
/// meanwhile, so pushes from other threads go on into the pre-roll); failure (`error`: Graph's reason, may
/// be null) discards it and nothing is recorded.
///
/// Returns `VB_OK`, `VB_ERR_STATE` (no confirmation pending) or `VB_ERR_IO` (the folder cannot be created).
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`]; `error` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn vb_call_confirm(
    call: *const VbCall,
    success: bool,
    error: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantees, passed on.
        let (error, locked) = unsafe { (text_or_empty(error, "error"), lock(call)) };
        let (error, (c, mut s)) = match (error, locked) {
            (Ok(e), Ok(l)) => (e, l),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let opts = match s.begin_confirm(success, error) {
            Ok(Some(opts)) => opts,
            Ok(None) => return VB_OK,
            Err(e) => return session_result(Err(e)),
        };
        // The folder is created without the lock: the SDK's threads keep pushing (into the pre-roll).
        drop(s);
        let live = LiveRecording::start(&opts);
        match c.session.lock() {
            Ok(mut s) => session_result(s.finish_confirm(live)),
            Err(_) => fail(VB_ERR_PANIC, "an earlier call on this call panicked"),
        }
    })
}

fn session_result(r: Result<(), SessionError>) -> i32 {
    match r {
        Ok(()) => VB_OK,
        Err(e @ SessionError::Create(_)) => fail(VB_ERR_IO, e.to_string()),
        Err(e) => fail(VB_ERR_STATE, e.to_string()),
    }
}

/// Pushes one audio event (`AudioMediaReceived`): up to four unmixed buffers exactly as the SDK hands them,
/// each copied once. `is_silence`: the SDK's flag (then `count` may be 0). Never waits: while the recording
/// is not yet confirmed the buffers are held in the pre-roll; once recording, a full queue drops and counts.
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`]; `buffers` points to `count` entries (null when 0), each
/// `data` to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn vb_call_push_audio(
    call: *const VbCall,
    timestamp: u64,
    is_silence: bool,
    buffers: *const VbUnmixedBuffer,
    count: usize,
) -> i32 {
    guard(|| {
        if count > recorder::bot_adapter::sdk::MAX_UNMIXED {
            return fail(
                VB_ERR_INVALID_ARGUMENT,
                format!("{count} unmixed buffers: the SDK hands at most 4"),
            );
        }
        if count > 0 && buffers.is_null() {
            return fail(VB_ERR_INVALID_ARGUMENT, "buffers: null");
        }
        let mut buf = AudioMediaBuffer {
            timestamp: SourceTimestamp::new(timestamp),
            format: AudioFormat::PCM16K,
            is_silence,
            active_speakers: FixedList::new(),
            unmixed: FixedList::new(),
        };
        if count > 0 {
            // SAFETY: not null, and `count` (≤ 4) entries readable by the caller's guarantee.
            let list = unsafe { std::slice::from_raw_parts(buffers, count) };
            for b in list {
                let data = if b.len == 0 {
                    Bytes::new()
                } else if b.data.is_null() {
                    return fail(VB_ERR_INVALID_ARGUMENT, "an unmixed buffer's data: null");
                } else {
                    // SAFETY: not null, `len` readable bytes by the caller's guarantee; copied here, once.
                    Bytes::copy_from_slice(unsafe { std::slice::from_raw_parts(b.data, b.len) })
                };
                let msi = Msi(b.active_speaker_id);
                let _ = buf.active_speakers.push(msi);
                let _ = buf.unmixed.push(UnmixedAudioBuffer {
                    active_speaker_id: msi,
                    data,
                    original_sender_timestamp: SourceTimestamp::new(b.original_sender_timestamp),
                });
            }
        }
        // SAFETY: the caller's guarantee, passed on.
        unsafe {
            with_session(call, |s| {
                s.push_audio(buf);
                VB_OK
            })
        }
    })
}

/// Pushes one video frame (`VideoMediaReceived`): `socket` 0..=9 for the main-video sockets or
/// `VB_SOCKET_SCREEN_SHARE`; `codec` `VB_VIDEO_H264` (one whole Annex-B frame) or `VB_VIDEO_NV12` (`stride`
/// bytes per luma row, 0 = width); `frame_rate_millihz` e.g. 15000. Copied once; never waits.
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`]; `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn vb_call_push_video(
    call: *const VbCall,
    socket: i32,
    media_source_id: u32,
    timestamp: u64,
    codec: u32,
    width: u32,
    height: u32,
    stride: u32,
    frame_rate_millihz: u32,
    data: *const u8,
    len: usize,
) -> i32 {
    guard(|| {
        let socket = match socket {
            VB_SOCKET_SCREEN_SHARE => VideoSocket::ScreenShare,
            0..=9 => VideoSocket::Main(socket as u8),
            _ => return fail(VB_ERR_INVALID_ARGUMENT, format!("socket {socket}")),
        };
        let codec = match codec {
            VB_VIDEO_H264 => VideoCodec::H264,
            VB_VIDEO_NV12 => VideoCodec::Nv12,
            _ => return fail(VB_ERR_INVALID_ARGUMENT, format!("codec {codec}")),
        };
        if data.is_null() || len == 0 {
            return fail(VB_ERR_INVALID_ARGUMENT, "data: null or empty");
        }
        // SAFETY: not null, `len` readable bytes by the caller's guarantee; copied here, once.
        let bytes = Bytes::copy_from_slice(unsafe { std::slice::from_raw_parts(data, len) });
        let buf = VideoMediaBuffer {
            socket,
            media_source_id: Msi(media_source_id),
            timestamp: SourceTimestamp::new(timestamp),
            format: VideoFormat {
                codec,
                width,
                height,
                stride: if stride == 0 { width } else { stride },
                frame_rate_millihz,
            },
            original_size: None,
            data: bytes,
        };
        // SAFETY: the caller's guarantee, passed on.
        unsafe {
            with_session(call, |s| {
                s.push_video(buf);
                VB_OK
            })
        }
    })
}

/// A participant joined (or their streams changed) at `timestamp`: `id` their stable identity,
/// `display_name` (names the stem file), `streams` their `count` media streams.
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`]; `id` and `display_name` NUL-terminated strings;
/// `streams` points to `count` entries (null when 0).
#[no_mangle]
pub unsafe extern "C" fn vb_call_participant_joined(
    call: *const VbCall,
    timestamp: u64,
    id: *const c_char,
    display_name: *const c_char,
    is_guest: bool,
    streams: *const VbMediaStream,
    count: usize,
) -> i32 {
    guard(|| {
        // SAFETY: NUL-terminated strings, by the caller's guarantee.
        let (id, name) = match unsafe { (text(id, "id"), text_or_empty(display_name, "name")) } {
            (Ok(i), Ok(n)) => (i, n),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        if count > 0 && streams.is_null() {
            return fail(VB_ERR_INVALID_ARGUMENT, "streams: null");
        }
        let list = if count == 0 {
            &[][..]
        } else {
            // SAFETY: not null, `count` entries readable by the caller's guarantee.
            unsafe { std::slice::from_raw_parts(streams, count) }
        };
        let mut media_streams = Vec::with_capacity(list.len());
        for s in list {
            let kind = match s.kind {
                VB_STREAM_AUDIO => StreamKind::Audio,
                VB_STREAM_VIDEO => StreamKind::Video,
                VB_STREAM_SCREEN_SHARE => StreamKind::ScreenShare,
                k => return fail(VB_ERR_INVALID_ARGUMENT, format!("stream kind {k}")),
            };
            media_streams.push((Msi(s.media_source_id), kind));
        }
        let p = Participant {
            id: id.into(),
            display_name: name.into(),
            is_guest,
            media_streams,
        };
        // SAFETY: the caller's guarantee, passed on.
        unsafe {
            with_session(call, |s| {
                s.push_roster(SourceTimestamp::new(timestamp), RosterChange::Joined(p));
                VB_OK
            })
        }
    })
}

/// A participant left at `timestamp`.
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`]; `id` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn vb_call_participant_left(
    call: *const VbCall,
    timestamp: u64,
    id: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantees, passed on.
        let (id, locked) = unsafe { (text(id, "id"), lock(call)) };
        match (id, locked) {
            (Ok(id), Ok((_, mut s))) => {
                let change = RosterChange::Left { id: id.into() };
                s.push_roster(SourceTimestamp::new(timestamp), change);
                VB_OK
            }
            (Err(e), _) | (_, Err(e)) => e,
        }
    })
}

/// The SDK's `DominantSpeakerChanged` (`media_source_id` 0xFFFFFFFF = nobody).
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`].
#[no_mangle]
pub unsafe extern "C" fn vb_call_dominant_speaker(
    call: *const VbCall,
    timestamp: u64,
    media_source_id: u32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantee, passed on.
        unsafe {
            with_session(call, |s| {
                let ev = DominantSpeakerChanged {
                    current: Msi(media_source_id),
                };
                s.push_dominant_speaker(SourceTimestamp::new(timestamp), ev);
                VB_OK
            })
        }
    })
}

/// Pauses (`resume` false) or resumes recording at `timestamp`; `by` and `reason` (may be null) go into the
/// signed timeline and `metadata.json`.
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`]; `by` and `reason` null or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vb_call_pause(
    call: *const VbCall,
    resume: bool,
    timestamp: u64,
    by: *const c_char,
    reason: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantees, passed on.
        let (by, reason, locked) = unsafe {
            (
                text_or_empty(by, "by"),
                text_or_empty(reason, "reason"),
                lock(call),
            )
        };
        let (by, reason, (_, mut s)) = match (by, reason, locked) {
            (Ok(b), Ok(r), Ok(l)) => (b, r, l),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
        };
        let r = SourceTimestamp::new(timestamp);
        session_result(if resume {
            s.resume(r, by, reason)
        } else {
            s.pause(r, by, reason)
        })
    })
}

/// The call ended at `timestamp`. Returns at once; the folder is closed on a thread of the library, then a
/// `VB_MESSAGE_SUMMARY` and a status request for `notRecording` are posted. A second call does nothing.
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`].
#[no_mangle]
pub unsafe extern "C" fn vb_call_end(call: *const VbCall, timestamp: u64) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantee, passed on.
        unsafe {
            with_session(call, |s| {
                s.end(SourceTimestamp::new(timestamp));
                VB_OK
            })
        }
    })
}

/// For a replay of files (not for the SDK's handlers, which must never wait): blocks until the call's
/// queue has room for the next push, so a source faster than real time loses nothing. Returns 1 when there
/// is room, 0 when no recording takes media (not confirmed, ended, failed), or a `VB_ERR_*`.
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`].
#[no_mangle]
pub unsafe extern "C" fn vb_call_wait_for_room(call: *const VbCall) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantee, passed on.
        unsafe { with_session(call, |s| i32::from(s.wait_for_room())) }
    })
}

/// Blocks until the folder is closed (after [`vb_call_end`]). Returns `VB_OK` when the call was recorded
/// to the end or never confirmed, `VB_ERR_IO` when the recording failed (`vb_last_error` says why; the
/// folder holds what was written), `VB_ERR_STATE` before the end or when waited for twice.
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`].
#[no_mangle]
pub unsafe extern "C" fn vb_call_wait(call: *const VbCall) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantee, passed on.
        let closing = match unsafe { lock(call) } {
            Ok((_, mut s)) => s.take_closing(),
            Err(e) => return e,
        };
        // Waited for without the lock: pushes after the end return at once.
        match closing.and_then(|c| c.wait()) {
            Ok(o) if o.status == "failed" => fail(
                VB_ERR_IO,
                o.error.unwrap_or_else(|| "the recording failed".into()),
            ),
            Ok(_) => VB_OK,
            Err(e) => fail(VB_ERR_STATE, e.to_string()),
        }
    })
}

/// The next message, without waiting: 1 and `*out` filled, 0 when there is none now, or a `VB_ERR_*`.
/// Status requests and the summary come first and are never dropped.
///
/// # Safety
/// `call` is a live pointer from [`vb_call_start`]; `out` points to a writable `VbMessage`.
#[no_mangle]
pub unsafe extern "C" fn vb_call_poll(call: *const VbCall, out: *mut VbMessage) -> i32 {
    guard(|| {
        // SAFETY: null or live until vb_call_free, by the caller's guarantee.
        let Some(c) = (unsafe { call.as_ref() }) else {
            return fail(VB_ERR_INVALID_ARGUMENT, "call: null");
        };
        // SAFETY: null or writable, by the caller's guarantee.
        let Some(out) = (unsafe { out.as_mut() }) else {
            return fail(VB_ERR_INVALID_ARGUMENT, "out: null");
        };
        let Ok(m) = c.messages.try_recv() else {
            return 0;
        };
        let Ok(mut polled) = c.polled.lock() else {
            return fail(VB_ERR_PANIC, "an earlier poll panicked");
        };
        *out = VbMessage {
            kind: 0,
            status: 0,
            code: 0,
            media_source_id: 0,
            stream_kind: 0,
            text: std::ptr::null(),
            folder: std::ptr::null(),
            duration_us: 0,
            participants: 0,
        };
        *polled = (None, None);
        match m {
            EngineMessage::StatusRequest(s) => {
                out.kind = VB_MESSAGE_STATUS_REQUEST;
                out.status = match s {
                    RequestedStatus::Recording => VB_STATUS_RECORDING,
                    RequestedStatus::NotRecording => VB_STATUS_NOT_RECORDING,
                    RequestedStatus::Failed => VB_STATUS_FAILED,
                };
            }
            EngineMessage::KeyFrame(r) => {
                out.kind = VB_MESSAGE_KEY_FRAME_REQUEST;
                out.media_source_id = r.msi.0;
                out.stream_kind = match r.kind {
                    StreamKind::ScreenShare => VB_STREAM_SCREEN_SHARE,
                    _ => VB_STREAM_VIDEO,
                };
            }
            EngineMessage::Error { code, message } => {
                out.kind = VB_MESSAGE_ERROR;
                out.code = match code {
                    ErrorCode::InvalidMessage => 1,
                    ErrorCode::LimitExceeded => 2,
                    ErrorCode::QueueFull => 3,
                    ErrorCode::ConfirmTimeout => 4,
                    ErrorCode::RecordingFailed => 5,
                };
                polled.0 = cstring(&message);
            }
            EngineMessage::Summary(o) => {
                out.kind = VB_MESSAGE_SUMMARY;
                out.status = match o.status.as_str() {
                    "completed" => VB_SUMMARY_COMPLETED,
                    "not_recorded" => VB_SUMMARY_NOT_RECORDED,
                    _ => VB_SUMMARY_FAILED,
                };
                if let Some(s) = &o.summary {
                    out.duration_us = s.duration.ticks() / 10;
                    out.participants = u32::try_from(s.participants.len()).unwrap_or(u32::MAX);
                }
                polled.0 = o.error.as_deref().and_then(cstring);
                polled.1 = o
                    .folder
                    .as_ref()
                    .and_then(|f| cstring(&f.to_string_lossy()));
            }
        }
        out.text = polled.0.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        out.folder = polled.1.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        1
    })
}

/// Frees a call (null is ignored). A call freed before [`vb_call_end`] is ended at its latest timestamp;
/// either way a folder not yet closed is closed on the library's thread in the background (a process that
/// exits first leaves it as after a crash: `verbatim recover` finishes it).
///
/// # Safety
/// `call` is null or a pointer from [`vb_call_start`] not freed before; no other thread uses it meanwhile
/// or afterwards.
#[no_mangle]
pub unsafe extern "C" fn vb_call_free(call: *mut VbCall) {
    if call.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: made by Box::into_raw in vb_call_start and, by the caller's guarantee, freed only now.
        drop(unsafe { Box::from_raw(call) });
        VB_OK
    });
}

// Verbatim's C ABI (ffi/include/verbatim.h) for C#: P/Invoke declarations (Native), the structs, the
// constants, and a small safe wrapper (Call) for a Teams bot's media handlers.
//
// Strings cross the boundary as NUL-terminated UTF-8 byte arrays, encoded and decoded here, so that names
// stay UTF-8 on every runtime (CharSet.Ansi means UTF-8 on Mono/Linux but the ANSI code page on Windows).
// Layouts: the structs are blittable and follow C's x86_64 / x64 layout; Native.CheckLayout() verifies it.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Verbatim
{
    /// <summary>One participant's audio in an audio event (C <c>VbUnmixedBuffer</c>, the SDK's <c>UnmixedAudioBuffer</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VbUnmixedBuffer
    {
        /// <summary>The speaker's media source id (<c>ActiveSpeakerId</c>).</summary>
        public uint ActiveSpeakerId;
        /// <summary>PCM 16 kHz, 16-bit little-endian, mono: 640 bytes per 20 ms. Borrowed for the call; copied.</summary>
        public IntPtr Data;
        /// <summary>Bytes at <see cref="Data"/> (C <c>size_t</c>).</summary>
        public UIntPtr Len;
        /// <summary><c>OriginalSenderTimestamp</c> (100 ns), 0 when not known.</summary>
        public ulong OriginalSenderTimestamp;
    }

    /// <summary>One media stream of a participant (C <c>VbMediaStream</c>, Graph's <c>mediaStreams[]</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VbMediaStream
    {
        /// <summary><c>sourceId</c>.</summary>
        public uint MediaSourceId;
        /// <summary><see cref="Native.VB_STREAM_AUDIO"/>, <see cref="Native.VB_STREAM_VIDEO"/> or <see cref="Native.VB_STREAM_SCREEN_SHARE"/>.</summary>
        public uint Kind;
    }

    /// <summary>
    /// A message from the engine as filled by <see cref="Native.vb_call_poll"/> (C <c>VbMessage</c>). The strings
    /// are null when absent and belong to the library until the next poll or free on the same call: copy them at once
    /// (<see cref="Call.Poll"/> does).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct VbMessage
    {
        /// <summary><c>VB_MESSAGE_*</c>.</summary>
        public uint Kind;
        /// <summary>Status requests: <c>VB_STATUS_*</c>; summaries: <c>VB_SUMMARY_*</c>.</summary>
        public uint Status;
        /// <summary>Errors: 1 invalid message, 2 limit exceeded (pre-roll full), 3 queue full, 4 confirmation timed out, 5 recording failed.</summary>
        public int Code;
        /// <summary>Key-frame requests: the stream's media source id.</summary>
        public uint MediaSourceId;
        /// <summary>Key-frame requests: <c>VB_STREAM_VIDEO</c> or <c>VB_STREAM_SCREEN_SHARE</c>.</summary>
        public uint StreamKind;
        /// <summary>Errors: the message; summaries: the error, if any (<c>const char*</c>, UTF-8).</summary>
        public IntPtr Text;
        /// <summary>Summaries: the recording folder (<c>const char*</c>, UTF-8).</summary>
        public IntPtr Folder;
        /// <summary>Summaries: the recording's length (µs).</summary>
        public long DurationUs;
        /// <summary>Summaries: participants recorded.</summary>
        public uint Participants;
    }

    /// <summary>
    /// The raw C ABI: one declaration per function of verbatim.h, and its constants. Every <c>byte[]</c> string
    /// argument is NUL-terminated UTF-8 (see <see cref="Utf8(string)"/>), or null where the header allows NULL.
    /// <c>vb_last_error</c> is per OS thread: read it right after the failing call, on the same thread.
    /// </summary>
    public static class Native
    {
        /// <summary>The library's name for DllImport (libverbatim_ffi.so / verbatim_ffi.dll).</summary>
        public const string Library = "verbatim_ffi";

        /// <summary>The ABI version these bindings were written for.</summary>
        public const uint VB_ABI_VERSION = 1;

        /// <summary>Success.</summary>
        public const int VB_OK = 0;
        /// <summary>A pointer was null, a string not UTF-8, a value out of range.</summary>
        public const int VB_ERR_INVALID_ARGUMENT = -1;
        /// <summary>Not allowed now (confirm with nothing pending, pause while paused, wait before end, after the end).</summary>
        public const int VB_ERR_STATE = -2;
        /// <summary>The recording could not be created or closed (see vb_last_error).</summary>
        public const int VB_ERR_IO = -3;
        /// <summary>A bug inside the library was caught at the boundary (see vb_last_error).</summary>
        public const int VB_ERR_PANIC = -4;
        /// <summary>vb_config_set: no option has this key (in this ABI version).</summary>
        public const int VB_ERR_UNKNOWN_OPTION = -5;

        /// <summary>Message kind: report <see cref="VbMessage.Status"/> to Graph (<c>updateRecordingStatus</c>).</summary>
        public const uint VB_MESSAGE_STATUS_REQUEST = 1;
        /// <summary>Message kind: ask the sender of <c>media_source_id</c> for a key frame.</summary>
        public const uint VB_MESSAGE_KEY_FRAME_REQUEST = 2;
        /// <summary>Message kind: an error (<c>code</c>, <c>text</c>); the call goes on unless it says otherwise.</summary>
        public const uint VB_MESSAGE_ERROR = 3;
        /// <summary>Message kind: the call is over and its folder closed; a status request for <c>notRecording</c> follows.</summary>
        public const uint VB_MESSAGE_SUMMARY = 4;

        /// <summary>Status request: report <c>recording</c>, then call vb_call_confirm with Graph's answer.</summary>
        public const uint VB_STATUS_RECORDING = 1;
        /// <summary>Status request: report <c>notRecording</c>.</summary>
        public const uint VB_STATUS_NOT_RECORDING = 2;
        /// <summary>Status request: report <c>failed</c>.</summary>
        public const uint VB_STATUS_FAILED = 3;

        /// <summary>Summary status: recorded to the end.</summary>
        public const uint VB_SUMMARY_COMPLETED = 1;
        /// <summary>Summary status: the recording failed (the folder holds what was written, verifiable).</summary>
        public const uint VB_SUMMARY_FAILED = 2;
        /// <summary>Summary status: never confirmed, nothing written.</summary>
        public const uint VB_SUMMARY_NOT_RECORDED = 3;

        /// <summary>Stream kind: a participant's audio.</summary>
        public const uint VB_STREAM_AUDIO = 1;
        /// <summary>Stream kind: a camera.</summary>
        public const uint VB_STREAM_VIDEO = 2;
        /// <summary>Stream kind: video-based screen sharing.</summary>
        public const uint VB_STREAM_SCREEN_SHARE = 3;

        /// <summary>vb_call_push_video codec: one whole H.264 frame in Annex-B.</summary>
        public const uint VB_VIDEO_H264 = 1;
        /// <summary>vb_call_push_video codec: an NV12 picture.</summary>
        public const uint VB_VIDEO_NV12 = 2;

        /// <summary>vb_call_push_video socket for the screen-share (VBSS) socket; 0..=9 are the main-video sockets.</summary>
        public const int VB_SOCKET_SCREEN_SHARE = -1;

        /// <summary>The message of the last failing call on this thread (UTF-8), or null; see <see cref="LastError"/>.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr vb_last_error();

        /// <summary>The ABI version of the loaded library.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint vb_abi_version();

        /// <summary>A new configuration with the defaults (<c>out_dir</c> must be set).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr vb_config_new();

        /// <summary>Frees a configuration (null is ignored).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void vb_config_free(IntPtr cfg);

        /// <summary>Sets option <paramref name="key"/> to <paramref name="value"/> (UTF-8, NUL-terminated).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_config_set(IntPtr cfg, byte[] key, byte[] value);

        /// <summary>Starts recording a call (nothing is written until confirmed); IntPtr.Zero on error.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr vb_call_start(IntPtr cfg);

        /// <summary>Graph's answer to <c>updateRecordingStatus(recording)</c>; <paramref name="error"/> may be null.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_confirm(IntPtr call, [MarshalAs(UnmanagedType.U1)] bool success, byte[] error);

        /// <summary>Pushes one audio event: <paramref name="count"/> buffers (null when 0), each copied once.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_push_audio(IntPtr call, ulong timestamp, [MarshalAs(UnmanagedType.U1)] bool isSilence,
            [In] VbUnmixedBuffer[] buffers, UIntPtr count);

        /// <summary>Pushes one video frame (<paramref name="len"/> bytes at <paramref name="data"/>, copied once).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_push_video(IntPtr call, int socket, uint mediaSourceId, ulong timestamp, uint codec,
            uint width, uint height, uint stride, uint frameRateMillihz, IntPtr data, UIntPtr len);

        /// <summary>A participant joined (or their streams changed) at <paramref name="timestamp"/>.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_participant_joined(IntPtr call, ulong timestamp, byte[] id, byte[] displayName,
            [MarshalAs(UnmanagedType.U1)] bool isGuest, [In] VbMediaStream[] streams, UIntPtr count);

        /// <summary>A participant left at <paramref name="timestamp"/>.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_participant_left(IntPtr call, ulong timestamp, byte[] id);

        /// <summary>The SDK's <c>DominantSpeakerChanged</c> (0xFFFFFFFF = nobody).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_dominant_speaker(IntPtr call, ulong timestamp, uint mediaSourceId);

        /// <summary>Pauses (<paramref name="resume"/> false) or resumes; <paramref name="by"/> and <paramref name="reason"/> may be null.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_pause(IntPtr call, [MarshalAs(UnmanagedType.U1)] bool resume, ulong timestamp,
            byte[] by, byte[] reason);

        /// <summary>The call ended at <paramref name="timestamp"/>; returns at once (the folder closes in the background).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_end(IntPtr call, ulong timestamp);

        /// <summary>For replays only: blocks until the queue has room. 1 room, 0 nothing takes media, or VB_ERR_*.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_wait_for_room(IntPtr call);

        /// <summary>Blocks until the folder is closed (after vb_call_end).</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_wait(IntPtr call);

        /// <summary>The next message without waiting: 1 and <paramref name="message"/> filled, 0 none, or VB_ERR_*.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int vb_call_poll(IntPtr call, out VbMessage message);

        /// <summary>Frees a call (null is ignored); exactly once, with no other thread using it.</summary>
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void vb_call_free(IntPtr call);

        /// <summary><paramref name="s"/> as NUL-terminated UTF-8 (null stays null, for optional arguments).</summary>
        public static byte[] Utf8(string s)
        {
            if (s == null) return null;
            if (s.IndexOf('\0') >= 0) throw new ArgumentException("a string for the C ABI must not contain NUL");
            int n = Encoding.UTF8.GetByteCount(s);
            byte[] b = new byte[n + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        /// <summary>The NUL-terminated UTF-8 string at <paramref name="p"/> (null for IntPtr.Zero), copied.</summary>
        public static string FromUtf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            byte[] b = new byte[n];
            Marshal.Copy(p, b, 0, n);
            return Encoding.UTF8.GetString(b);
        }

        /// <summary>This thread's last error message from the library, or null.</summary>
        public static string LastError()
        {
            return FromUtf8(vb_last_error());
        }

        /// <summary>
        /// Verifies that the managed layouts are C's (64-bit: sizes 32, 8 and 56, as a C compiler says for
        /// verbatim.h on x86_64), throwing <see cref="InvalidOperationException"/> on a mismatch.
        /// </summary>
        public static void CheckLayout()
        {
            if (IntPtr.Size != 8)
                throw new PlatformNotSupportedException("Verbatim's bindings are laid out for 64-bit processes");
            Expect("sizeof(VbUnmixedBuffer)", Marshal.SizeOf(typeof(VbUnmixedBuffer)), 32);
            Expect("offsetof(VbUnmixedBuffer, data)", (int)Marshal.OffsetOf(typeof(VbUnmixedBuffer), "Data"), 8);
            Expect("offsetof(VbUnmixedBuffer, len)", (int)Marshal.OffsetOf(typeof(VbUnmixedBuffer), "Len"), 16);
            Expect("offsetof(VbUnmixedBuffer, original_sender_timestamp)",
                (int)Marshal.OffsetOf(typeof(VbUnmixedBuffer), "OriginalSenderTimestamp"), 24);
            Expect("sizeof(VbMediaStream)", Marshal.SizeOf(typeof(VbMediaStream)), 8);
            Expect("offsetof(VbMediaStream, kind)", (int)Marshal.OffsetOf(typeof(VbMediaStream), "Kind"), 4);
            Expect("sizeof(VbMessage)", Marshal.SizeOf(typeof(VbMessage)), 56);
            Expect("offsetof(VbMessage, stream_kind)", (int)Marshal.OffsetOf(typeof(VbMessage), "StreamKind"), 16);
            Expect("offsetof(VbMessage, text)", (int)Marshal.OffsetOf(typeof(VbMessage), "Text"), 24);
            Expect("offsetof(VbMessage, folder)", (int)Marshal.OffsetOf(typeof(VbMessage), "Folder"), 32);
            Expect("offsetof(VbMessage, duration_us)", (int)Marshal.OffsetOf(typeof(VbMessage), "DurationUs"), 40);
            Expect("offsetof(VbMessage, participants)", (int)Marshal.OffsetOf(typeof(VbMessage), "Participants"), 48);
        }

        static void Expect(string what, int managed, int c)
        {
            if (managed != c)
                throw new InvalidOperationException(what + " is " + c + " in C but " + managed + " here");
        }
    }

    /// <summary>A failing call into the library: <see cref="Code"/> and vb_last_error's text.</summary>
    public class VerbatimException : Exception
    {
        /// <summary>The <c>VB_ERR_*</c> code (-1 when a function returned null).</summary>
        public int Code { get; private set; }

        /// <summary>The function that failed, e.g. <c>vb_call_push_audio</c>.</summary>
        public string Function { get; private set; }

        /// <summary>An exception for <paramref name="function"/> having returned <paramref name="code"/>.</summary>
        public VerbatimException(string function, int code, string message)
            : base(function + ": " + (message ?? "(no message)"))
        {
            Function = function;
            Code = code;
        }

        /// <summary>Returns <paramref name="rc"/> when it is not negative, else throws with this thread's vb_last_error.</summary>
        public static int Check(int rc, string function)
        {
            if (rc < 0) throw new VerbatimException(function, rc, Native.LastError());
            return rc;
        }
    }

    /// <summary>One participant's audio for <see cref="Call.PushAudio"/> (the SDK's <c>UnmixedAudioBuffer</c>).</summary>
    public struct UnmixedBuffer
    {
        /// <summary>The speaker's media source id (<c>ActiveSpeakerId</c>).</summary>
        public uint ActiveSpeakerId;
        /// <summary>Unmanaged PCM (16 kHz, 16-bit little-endian, mono), as the SDK hands it; borrowed for the push only.</summary>
        public IntPtr Data;
        /// <summary>Bytes at <see cref="Data"/>.</summary>
        public long Length;
        /// <summary><c>OriginalSenderTimestamp</c> (100 ns), 0 when not known.</summary>
        public ulong OriginalSenderTimestamp;
    }

    /// <summary>A message from the engine, with its strings copied (see <see cref="VbMessage"/> for the fields).</summary>
    public sealed class Message
    {
        /// <summary><c>VB_MESSAGE_*</c>.</summary>
        public uint Kind;
        /// <summary>Status requests: <c>VB_STATUS_*</c>; summaries: <c>VB_SUMMARY_*</c>.</summary>
        public uint Status;
        /// <summary>Errors: the error code (1..5).</summary>
        public int Code;
        /// <summary>Key-frame requests: the stream's media source id.</summary>
        public uint MediaSourceId;
        /// <summary>Key-frame requests: <c>VB_STREAM_VIDEO</c> or <c>VB_STREAM_SCREEN_SHARE</c>.</summary>
        public uint StreamKind;
        /// <summary>Errors: the message; summaries: the error, if any; else null.</summary>
        public string Text;
        /// <summary>Summaries: the recording folder, or null.</summary>
        public string Folder;
        /// <summary>Summaries: the recording's length (µs).</summary>
        public long DurationUs;
        /// <summary>Summaries: participants recorded.</summary>
        public uint Participants;
    }

    /// <summary>
    /// One call being recorded. Every method throws <see cref="VerbatimException"/> when the library returns an
    /// error. Dispose it exactly once (vb_call_free), when no other thread uses it any more; there is no finalizer.
    /// </summary>
    public sealed class Call : IDisposable
    {
        IntPtr handle;

        Call(IntPtr handle)
        {
            this.handle = handle;
        }

        /// <summary>The raw <c>VbCall*</c>, for the <see cref="Native"/> functions the wrapper does not cover.</summary>
        public IntPtr Handle
        {
            get
            {
                if (handle == IntPtr.Zero) throw new ObjectDisposedException("Verbatim.Call");
                return handle;
            }
        }

        /// <summary>
        /// Starts a call with the options <paramref name="options"/> (key, value as for vb_config_set; <c>out_dir</c>
        /// is required). Nothing is written until <see cref="Confirm"/>; the first message is a status request.
        /// </summary>
        public static Call Start(IEnumerable<KeyValuePair<string, string>> options)
        {
            IntPtr cfg = Native.vb_config_new();
            if (cfg == IntPtr.Zero) throw new VerbatimException("vb_config_new", -1, Native.LastError());
            try
            {
                foreach (KeyValuePair<string, string> o in options)
                    VerbatimException.Check(Native.vb_config_set(cfg, Native.Utf8(o.Key), Native.Utf8(o.Value)),
                        "vb_config_set(" + o.Key + ")");
                IntPtr call = Native.vb_call_start(cfg);
                if (call == IntPtr.Zero) throw new VerbatimException("vb_call_start", -1, Native.LastError());
                return new Call(call);
            }
            finally
            {
                Native.vb_config_free(cfg);
            }
        }

        /// <summary>Graph's answer to <c>updateRecordingStatus(recording)</c> (file I/O: not on a media thread).</summary>
        public void Confirm(bool success, string error = null)
        {
            VerbatimException.Check(Native.vb_call_confirm(Handle, success, Native.Utf8(error)), "vb_call_confirm");
        }

        /// <summary>
        /// Pushes one audio event (<c>AudioMediaReceived</c>): <paramref name="buffers"/> (null or empty when silent)
        /// are copied before this returns, so the SDK's buffer may be disposed right after. Never waits.
        /// </summary>
        public void PushAudio(ulong timestamp, bool isSilence, UnmixedBuffer[] buffers)
        {
            VbUnmixedBuffer[] raw = null;
            int count = buffers == null ? 0 : buffers.Length;
            if (count > 0)
            {
                raw = new VbUnmixedBuffer[count];
                for (int i = 0; i < count; i++)
                {
                    if (buffers[i].Length < 0) throw new ArgumentOutOfRangeException("buffers", "negative Length");
                    raw[i].ActiveSpeakerId = buffers[i].ActiveSpeakerId;
                    raw[i].Data = buffers[i].Data;
                    raw[i].Len = new UIntPtr((ulong)buffers[i].Length);
                    raw[i].OriginalSenderTimestamp = buffers[i].OriginalSenderTimestamp;
                }
            }
            VerbatimException.Check(Native.vb_call_push_audio(Handle, timestamp, isSilence, raw, new UIntPtr((uint)count)),
                "vb_call_push_audio");
        }

        /// <summary>
        /// Pushes one video frame (<c>VideoMediaReceived</c>): <paramref name="socket"/> 0..9 or
        /// <see cref="Native.VB_SOCKET_SCREEN_SHARE"/>; <paramref name="codec"/> <c>VB_VIDEO_*</c>. Copied; never waits.
        /// </summary>
        public void PushVideo(int socket, uint mediaSourceId, ulong timestamp, uint codec, uint width, uint height,
            uint stride, uint frameRateMillihz, IntPtr data, long length)
        {
            if (length < 0) throw new ArgumentOutOfRangeException("length");
            VerbatimException.Check(Native.vb_call_push_video(Handle, socket, mediaSourceId, timestamp, codec, width, height,
                stride, frameRateMillihz, data, new UIntPtr((ulong)length)), "vb_call_push_video");
        }

        /// <summary>A participant joined (or their streams changed) at <paramref name="timestamp"/>.</summary>
        public void ParticipantJoined(ulong timestamp, string id, string displayName, bool isGuest, VbMediaStream[] streams)
        {
            int count = streams == null ? 0 : streams.Length;
            VerbatimException.Check(Native.vb_call_participant_joined(Handle, timestamp, Native.Utf8(id),
                Native.Utf8(displayName), isGuest, count == 0 ? null : streams, new UIntPtr((uint)count)),
                "vb_call_participant_joined");
        }

        /// <summary>A participant left at <paramref name="timestamp"/>.</summary>
        public void ParticipantLeft(ulong timestamp, string id)
        {
            VerbatimException.Check(Native.vb_call_participant_left(Handle, timestamp, Native.Utf8(id)),
                "vb_call_participant_left");
        }

        /// <summary>The dominant speaker changed (0xFFFFFFFF = nobody).</summary>
        public void DominantSpeaker(ulong timestamp, uint mediaSourceId)
        {
            VerbatimException.Check(Native.vb_call_dominant_speaker(Handle, timestamp, mediaSourceId),
                "vb_call_dominant_speaker");
        }

        /// <summary>Pauses (<paramref name="resume"/> false) or resumes recording; <paramref name="by"/>, <paramref name="reason"/> may be null.</summary>
        public void Pause(bool resume, ulong timestamp, string by, string reason)
        {
            VerbatimException.Check(Native.vb_call_pause(Handle, resume, timestamp, Native.Utf8(by), Native.Utf8(reason)),
                "vb_call_pause");
        }

        /// <summary>The call ended at <paramref name="timestamp"/>; returns at once.</summary>
        public void End(ulong timestamp)
        {
            VerbatimException.Check(Native.vb_call_end(Handle, timestamp), "vb_call_end");
        }

        /// <summary>
        /// For replays of files only (never in the SDK's handlers): blocks until the queue has room. True when
        /// there is room, false when no recording takes media (not confirmed, ended, failed).
        /// </summary>
        public bool WaitForRoom()
        {
            return VerbatimException.Check(Native.vb_call_wait_for_room(Handle), "vb_call_wait_for_room") == 1;
        }

        /// <summary>Blocks until the folder is closed (after <see cref="End"/>); throws when the recording failed.</summary>
        public void Wait()
        {
            VerbatimException.Check(Native.vb_call_wait(Handle), "vb_call_wait");
        }

        /// <summary>The next message from the engine, or null when there is none now. Never waits.</summary>
        public Message Poll()
        {
            VbMessage m;
            if (VerbatimException.Check(Native.vb_call_poll(Handle, out m), "vb_call_poll") == 0) return null;
            return new Message
            {
                Kind = m.Kind,
                Status = m.Status,
                Code = m.Code,
                MediaSourceId = m.MediaSourceId,
                StreamKind = m.StreamKind,
                Text = Native.FromUtf8(m.Text),
                Folder = Native.FromUtf8(m.Folder),
                DurationUs = m.DurationUs,
                Participants = m.Participants,
            };
        }

        /// <summary>Frees the call (vb_call_free). A call not ended is ended at its latest timestamp in the background.</summary>
        public void Dispose()
        {
            IntPtr h = handle;
            handle = IntPtr.Zero;
            Native.vb_call_free(h);
        }
    }
}

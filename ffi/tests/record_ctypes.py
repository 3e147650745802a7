#!/usr/bin/env python3
"""Records WAV files through Verbatim's C ABI from Python (ctypes), as ffi/examples/record.c does.

usage: record_ctypes.py LIBRARY OUTDIR NAME=FILE.wav ...   (1 to 4 files, 16 kHz mono 16-bit PCM)

Run by `cargo test` (verbatim/tests/embedding.rs), which compares the folder with `verbatim record --source`.
Uses only the standard library.
"""
import ctypes as C
import os
import sys
import wave

FRAME = 320                # samples per 20 ms at 16 kHz
TICKS = 200_000            # 20 ms in 100 ns ticks
BASE = 1_000_000_000       # the platform clock at the call's start
SENDER_BASE = 5_000_000_000

VB_MESSAGE_STATUS_REQUEST, VB_MESSAGE_ERROR, VB_MESSAGE_SUMMARY = 1, 3, 4
VB_STATUS_RECORDING, VB_SUMMARY_COMPLETED, VB_STREAM_AUDIO = 1, 1, 1


class VbUnmixedBuffer(C.Structure):
    _fields_ = [("active_speaker_id", C.c_uint32), ("data", C.c_void_p), ("len", C.c_size_t),
                ("original_sender_timestamp", C.c_uint64)]


class VbMediaStream(C.Structure):
    _fields_ = [("media_source_id", C.c_uint32), ("kind", C.c_uint32)]


class VbMessage(C.Structure):
    _fields_ = [("kind", C.c_uint32), ("status", C.c_uint32), ("code", C.c_int32),
                ("media_source_id", C.c_uint32), ("stream_kind", C.c_uint32), ("text", C.c_char_p),
                ("folder", C.c_char_p), ("duration_us", C.c_int64), ("participants", C.c_uint32)]


def load(path):
    lib = C.CDLL(path)
    sig = {
        "vb_abi_version": ([], C.c_uint32),
        "vb_last_error": ([], C.c_char_p),
        "vb_config_new": ([], C.c_void_p),
        "vb_config_set": ([C.c_void_p, C.c_char_p, C.c_char_p], C.c_int32),
        "vb_config_free": ([C.c_void_p], None),
        "vb_call_start": ([C.c_void_p], C.c_void_p),
        "vb_call_confirm": ([C.c_void_p, C.c_bool, C.c_char_p], C.c_int32),
        "vb_call_participant_joined": ([C.c_void_p, C.c_uint64, C.c_char_p, C.c_char_p, C.c_bool,
                                        C.POINTER(VbMediaStream), C.c_size_t], C.c_int32),
        "vb_call_push_audio": ([C.c_void_p, C.c_uint64, C.c_bool, C.POINTER(VbUnmixedBuffer), C.c_size_t],
                               C.c_int32),
        "vb_call_wait_for_room": ([C.c_void_p], C.c_int32),
        "vb_call_end": ([C.c_void_p, C.c_uint64], C.c_int32),
        "vb_call_wait": ([C.c_void_p], C.c_int32),
        "vb_call_poll": ([C.c_void_p, C.POINTER(VbMessage)], C.c_int32),
        "vb_call_free": ([C.c_void_p], None),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


def main(argv):
    if len(argv) < 4 or len(argv) > 7:
        print(__doc__, file=sys.stderr)
        return 2
    lib = load(argv[1])
    if lib.vb_abi_version() != 1:
        print(f"ABI {lib.vb_abi_version()}, expected 1", file=sys.stderr)
        return 1

    def check(rc, what):
        if rc < 0:
            raise SystemExit(f"{what}: {(lib.vb_last_error() or b'').decode()}")
        return rc

    inputs = []
    for arg in argv[3:]:
        name, _, path = arg.partition("=")
        with wave.open(path) as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (16000, 1, 2):
                raise SystemExit(f"{path}: expected 16 kHz mono 16-bit PCM")
            inputs.append((name, w.readframes(w.getnframes())))
    frames = max((len(pcm) // 2 + FRAME - 1) // FRAME for _, pcm in inputs)

    cfg = lib.vb_config_new()
    check(lib.vb_config_set(cfg, b"out_dir", argv[2].encode()), "out_dir")
    check(lib.vb_config_set(cfg, b"call_id", b"python-example"), "call_id")
    if os.environ.get("VERBATIM_SIGNING_KEY"):
        check(lib.vb_config_set(cfg, b"signing_key", os.environ["VERBATIM_SIGNING_KEY"].encode()), "key")
    call = lib.vb_call_start(cfg)
    if not call:
        check(-1, "start")
    lib.vb_config_free(cfg)

    msg = VbMessage()
    summary = []

    def drain():
        while check(lib.vb_call_poll(call, C.byref(msg)), "poll") == 1:
            if msg.kind == VB_MESSAGE_STATUS_REQUEST and msg.status == VB_STATUS_RECORDING:
                check(lib.vb_call_confirm(call, True, None), "confirm")
            elif msg.kind == VB_MESSAGE_ERROR:
                print(f"engine: error {msg.code}: {msg.text.decode()}", file=sys.stderr)
            elif msg.kind == VB_MESSAGE_SUMMARY:
                summary.append((msg.status, msg.participants, msg.duration_us, msg.folder.decode()))

    drain()
    for i, (name, _) in enumerate(inputs):
        s = VbMediaStream(i + 1, VB_STREAM_AUDIO)
        check(lib.vb_call_participant_joined(call, BASE, name.encode(), name.encode(), False, C.byref(s), 1),
              "roster")
    check(lib.vb_call_push_audio(call, BASE, True, None, 0), "audio")
    zero = bytes(FRAME * 2)
    bufs = (VbUnmixedBuffer * 4)()
    for j in range(frames):
        keep = []
        n = 0
        for i, (_, pcm) in enumerate(inputs):
            chunk = pcm[j * FRAME * 2:(j + 1) * FRAME * 2]
            chunk = chunk + zero[len(chunk):]
            if chunk == zero:
                continue  # the SDK sends no buffer for a silent participant
            b = C.create_string_buffer(chunk, len(chunk))
            keep.append(b)
            bufs[n] = VbUnmixedBuffer(i + 1, C.cast(b, C.c_void_p), len(chunk),
                                      SENDER_BASE + i * 10_000_000 + j * TICKS)
            n += 1
        check(lib.vb_call_wait_for_room(call), "wait")
        check(lib.vb_call_push_audio(call, BASE + (j + 1) * TICKS, n == 0, bufs if n else None, n), "audio")
        drain()
    check(lib.vb_call_end(call, BASE + frames * TICKS), "end")
    rc = lib.vb_call_wait(call)
    drain()
    check(rc, "recording")
    lib.vb_call_free(call)
    status, participants, duration_us, folder = summary[0]
    print(f"recorded {participants} participants, {duration_us / 1e6:.2f} s into {folder} "
          f"({'completed' if status == VB_SUMMARY_COMPLETED else 'failed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

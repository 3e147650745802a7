//! # verbatim-ffi — the recorder as a C library
//!
//! Where it sits: a .NET Teams bot (P/Invoke), a C program or Python (ctypes) calls these functions from its
//! SDK event handlers; each call is a [`recorder::session::CallSession`], the same in-process contract the
//! gRPC service gives `verbatim send` over the network:
//!
//! ```text
//!  bot (C#/C/Python) ──C ABI──► VbCall = CallSession ──► LiveRecording (media worker, writer) ──► the folder
//!                    ◄─ vb_call_poll: status requests, key-frame requests, errors, the summary
//! ```
//!
//! The header is `ffi/include/verbatim.h` (cbindgen; `tests/header.rs` fails when it is stale). The rules
//! it states:
//! * **Thread safety**: any function, any thread. A call's functions are serialized by a per-call lock held
//!   only while a buffer is copied into the call's bounded queue; a full queue drops (counted in
//!   `metadata.json`, reported once by a `VB_MESSAGE_ERROR`): pushes never wait for the disk.
//! * **Ownership**: pointers passed in are borrowed for the call only (audio and video bytes are copied once,
//!   into the payload the pipeline then moves); pointers handed out belong to the library.
//! * **No panic crosses the boundary**: each function runs under `catch_unwind`; a panic returns
//!   `VB_ERR_PANIC` with the message in [`vb_last_error`].
//! * **Versioned, growable**: [`vb_abi_version`]; options are set by key ([`vb_config_set`]), so new ones
//!   (leg id, encryption recipients, object store) never change a struct.
//!
//! ## Example (C)
//! ```c
//! VbConfig *cfg = vb_config_new();
//! vb_config_set(cfg, "out_dir", "/recordings/call-1");
//! vb_config_set(cfg, "call_id", "call-1");
//! VbCall *call = vb_call_start(cfg);             /* NULL: see vb_last_error() */
//! VbMessage m;
//! while (vb_call_poll(call, &m) == 1) { /* VB_MESSAGE_STATUS_REQUEST: report `recording` to Graph */ }
//! vb_call_confirm(call, true, NULL);             /* Graph accepted: the folder is created */
//! VbUnmixedBuffer b = { .active_speaker_id = 7, .data = pcm, .len = 640 };
//! vb_call_push_audio(call, timestamp, false, &b, 1);
//! vb_call_end(call, timestamp);
//! vb_call_wait(call);                            /* the folder is closed and signed */
//! vb_call_free(call);
//! vb_config_free(cfg);
//! ```
//! `ffi/examples/record.c` is a whole program (built by `scripts/build-c-example.sh`).

#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

mod call;
mod config;

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use call::*;
pub use config::*;

/// The ABI's version: incompatible changes increase it.
pub const VB_ABI_VERSION: u32 = 1;

/// Success.
pub const VB_OK: i32 = 0;
/// A pointer was null, a string not UTF-8, a value out of range.
pub const VB_ERR_INVALID_ARGUMENT: i32 = -1;
/// Not allowed now (confirm with nothing pending, pause while paused, wait before end, after the end).
pub const VB_ERR_STATE: i32 = -2;
/// The recording could not be created or closed (see [`vb_last_error`]).
pub const VB_ERR_IO: i32 = -3;
/// A bug inside the library was caught at the boundary (see [`vb_last_error`]).
pub const VB_ERR_PANIC: i32 = -4;
/// [`vb_config_set`]: no option has this key (in this ABI version).
pub const VB_ERR_UNKNOWN_OPTION: i32 = -5;

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Remembers `msg` as this thread's last error and returns `code`.
fn fail(code: i32, msg: impl Into<String>) -> i32 {
    let msg = msg.into().replace('\0', " ");
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::new(msg).ok());
    code
}

/// The message of the last failing call on this thread (UTF-8, NUL-terminated), or null when none failed.
/// Valid until the next failing call on this thread.
#[no_mangle]
pub extern "C" fn vb_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ref().map_or(std::ptr::null(), |s| s.as_ptr()))
}

/// The ABI version of this library ([`VB_ABI_VERSION`] when it was built).
#[no_mangle]
pub extern "C" fn vb_abi_version() -> u32 {
    VB_ABI_VERSION
}

/// Runs `f`, turning a panic into [`VB_ERR_PANIC`].
fn guard(f: impl FnOnce() -> i32) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(p) => fail(VB_ERR_PANIC, format!("internal error: {}", panic_text(&p))),
    }
}

/// Runs `f`, turning a panic into a null pointer (and the message into [`vb_last_error`]).
fn guard_ptr<T>(f: impl FnOnce() -> *mut T) -> *mut T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(p) => p,
        Err(p) => {
            fail(VB_ERR_PANIC, format!("internal error: {}", panic_text(&p)));
            std::ptr::null_mut()
        }
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// A borrowed C string as `&str`.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that outlives the returned borrow.
unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, i32> {
    if p.is_null() {
        return Err(fail(VB_ERR_INVALID_ARGUMENT, format!("{what}: null")));
    }
    // SAFETY: not null, and the caller guarantees a NUL-terminated string alive for 'a.
    let s = unsafe { std::ffi::CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| fail(VB_ERR_INVALID_ARGUMENT, format!("{what}: not UTF-8")))
}

/// Like [`text`], but null is the empty string.
///
/// # Safety
/// As [`text`].
unsafe fn text_or_empty<'a>(p: *const c_char, what: &str) -> Result<&'a str, i32> {
    if p.is_null() {
        Ok("")
    } else {
        // SAFETY: the caller's guarantee, passed on.
        unsafe { text(p, what) }
    }
}

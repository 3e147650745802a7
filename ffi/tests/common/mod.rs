//! Helpers shared by the C ABI's tests and its bench (`benches/benches/ffi_push.rs` includes this file):
//! a scratch folder, a signing key made once per process, and a call started through the ABI as C starts one.
#![allow(dead_code)] // each test binary uses a different subset

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use verbatim_ffi::*;

/// A NUL-terminated copy of `s`.
pub fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in test strings")
}

/// A fresh scratch path for `name` in this process (nothing is created).
pub fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("verbatim-ffi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A signing key file for this process, made once with `make` (which writes a key to the path it is given).
pub fn key_with(make: impl FnOnce(&Path)) -> PathBuf {
    static KEY: OnceLock<PathBuf> = OnceLock::new();
    KEY.get_or_init(|| {
        let p = temp("key").with_extension("key");
        let _ = std::fs::remove_file(&p); // a file left by an earlier process with the same id
        make(&p);
        p
    })
    .clone()
}

/// A call recording into `out`, signed with `key`, with the options `extra` (key, value) set as well.
///
/// # Panics
/// When an option or the start is refused (with the library's message).
pub fn start_call(out: &Path, key: &Path, extra: &[(&str, &str)]) -> *mut VbCall {
    let cfg = vb_config_new();
    let set = |k: &str, v: &str| {
        // SAFETY: a live config and NUL-terminated strings.
        let rc = unsafe { vb_config_set(cfg, c(k).as_ptr(), c(v).as_ptr()) };
        assert_eq!(rc, VB_OK, "option {k}={v}");
    };
    set("out_dir", out.to_str().expect("UTF-8 path"));
    set("signing_key", key.to_str().expect("UTF-8 path"));
    extra.iter().for_each(|(k, v)| set(k, v));
    // SAFETY: a live config.
    let call = unsafe { vb_call_start(cfg) };
    // SAFETY: made above, freed once.
    unsafe { vb_config_free(cfg) };
    assert!(!call.is_null(), "vb_call_start refused");
    call
}

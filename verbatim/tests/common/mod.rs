//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../fixtures/mod.rs"]
mod fixtures;
pub mod mem_sink;
#[allow(unused_imports)] // each test binary uses a different subset
pub use fixtures::*;

/// Reads a 16-bit WAV's samples.
pub fn read_wav(path: &Path) -> Vec<i16> {
    let r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.into_samples::<i16>().map(|s| s.unwrap()).collect()
}

/// Runs ffprobe on a file and returns its reported duration in seconds; fails the test if ffprobe is missing
/// or reports anything on stderr.
pub fn ffprobe_duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe not found: run scripts/setup.sh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "ffprobe {}: {err}",
        path.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe output for {}", path.display()))
}

/// A fresh temporary folder under the target dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let d = base.join(format!("verbatim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Recording options for `out` signed with a per-test-process key (never the user's installation key).
pub fn options(out: &Path) -> verbatim::record::RecordOptions {
    let key = test_key();
    let mut o = verbatim::record::RecordOptions::new(out);
    o.signing_key = Some(key);
    o
}

/// A signing key file for this test process.
pub fn test_key() -> PathBuf {
    static KEY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let p = temp_dir("key").with_extension("key");
        // A file left by an earlier process with the same id (ids are reused) is not ours.
        let _ = std::fs::remove_file(&p);
        let k = muxer::integrity::generate_signing_key().unwrap();
        muxer::integrity::save_signing_key(&p, &k).unwrap();
        p
    })
    .clone()
}

/// Verifies a recording folder with the test key.
pub fn verify(dir: &Path) -> muxer::verify::VerifyReport {
    let key = muxer::integrity::load_signing_key(&test_key()).unwrap();
    muxer::verify::verify_dir(dir, Some(&key.verifying_key()))
        .unwrap_or_else(|e| panic!("verify {}: {e}", dir.display()))
}

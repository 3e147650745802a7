//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The path of `testdata/media/<name>` (the committed test inputs, see its README.md); panics if it is missing.
pub fn media(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/media")
        .join(name);
    assert!(
        p.is_file(),
        "test fixture {} missing: testdata/media is part of the repository (see its README.md)",
        p.display()
    );
    p
}

/// A speaker's voice (`alice`, `bob`, `carol`, `dave`): the 24 s of 16 kHz mono (Teams `Pcm16K`) in
/// testdata/media/<speaker>.flac, decoded bit-exact.
pub fn speech(speaker: &str) -> Vec<i16> {
    let s = bot_adapter::sim::load_audio_file(media(&format!("{speaker}.flac")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.len(), 384_000, "{speaker}: 24 s at 16 kHz");
    s
}

/// SNR in dB of `test` against `reference` (same length).
pub fn snr_db(reference: &[i16], test: &[i16]) -> f64 {
    assert_eq!(reference.len(), test.len());
    let (mut sig, mut noise) = (0f64, 0f64);
    for (&a, &b) in reference.iter().zip(test) {
        let (a, b) = (f64::from(a), f64::from(b));
        sig += a * a;
        noise += (a - b) * (a - b);
    }
    10.0 * (sig / noise.max(1e-9)).log10()
}

/// Mean energy per sample.
pub fn energy(x: &[i16]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64
}

/// A small deterministic PRNG (xorshift64*).
pub struct XorShift(pub u64);
impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next_u64() as u8;
        }
    }
}

/// Fails with a pointer to the setup script when an outside tool is missing.
pub fn require_tool(tool: &str) {
    let ok = std::process::Command::new(tool)
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{tool}` is not installed: run scripts/setup.sh (it installs ffmpeg/ffprobe)"
    );
}

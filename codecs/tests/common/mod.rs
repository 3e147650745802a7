//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared sample media folder (../shared/media from the workspace root).
pub fn media(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/media")
        .join(name)
}

/// Reads a 16-bit WAV into (sample rate, channels, samples).
pub fn read_wav(name: &str) -> (u32, u16, Vec<i16>) {
    let mut r = hound::WavReader::open(media(name)).expect("sample WAV present");
    let spec = r.spec();
    let s: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    (spec.sample_rate, spec.channels, s)
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

//! WAV/RF64 header recovery (`muxer::wav::plan_wav_recovery`) as `verbatim recover` runs it on a stem left by
//! a crash: any header bytes, any file length. Input: 8 bytes of file length (little-endian), then the head.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&data[..8]);
    // Mostly plausible lengths near the head, sometimes anything (u64::MAX, RF64 sizes).
    let raw = u64::from_le_bytes(len_bytes);
    let head = &data[8..];
    let len = if raw & 1 == 0 {
        (raw >> 1) % 100_000
    } else {
        raw
    };
    if let Ok(plan) = muxer::wav::plan_wav_recovery(head, len) {
        assert!(plan.truncate_to <= len, "{plan:?} for a {len}-byte file");
        assert_eq!(plan.header.len() as u64, plan.data_offset);
        assert!(plan.data_offset + plan.data_len <= plan.truncate_to.max(plan.data_offset));
        // The rewritten header must itself be recoverable to the same plan.
        let again = muxer::wav::plan_wav_recovery(&plan.header, plan.truncate_to)
            .expect("our own header must parse");
        assert_eq!(again.data_len, plan.data_len);
        assert_eq!(again.truncate_to, plan.truncate_to);
    }
});

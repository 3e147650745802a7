//! The C ABI's cost to the bot's thread (issue 15): nanoseconds per `vb_call_push_audio` with four unmixed
//! 20 ms buffers (the SDK's largest audio event), through the exported functions, on a call that is recording
//! (the media and writer threads run meanwhile, as in a live call). The queue is made large enough that no
//! push is dropped, so every push takes the full path: argument checks, one copy per buffer, the status
//! machine's offer, the SPSC push. A .NET caller adds P/Invoke's transition (not measured here).
//!
//! `cargo bench -p verbatim-benches --bench ffi_push` (`VERBATIM_BENCH_QUICK=1`: 2,000 pushes).

use std::ptr::null;
use std::time::Instant;

use serde_json::json;
use verbatim_benches::{quantile, quick, save_result};
use verbatim_ffi::*;

// The C ABI tests' helpers: scratch paths, the key, a call started through the ABI.
#[path = "../../ffi/tests/common/mod.rs"]
mod common;
use common::*;

fn main() {
    let pushes: u64 = if quick() { 2_000 } else { 50_000 };
    let out = temp("bench");
    let key = key_with(|p| {
        let k = muxer::integrity::generate_signing_key().expect("key");
        muxer::integrity::save_signing_key(p, &k).expect("key file");
    });
    let call = start_call(&out, &key, &[("queue_capacity", "1048576")]);
    let mut ns = Vec::with_capacity(pushes as usize);
    // SAFETY (all below): live pointers from this library, buffers as described.
    unsafe {
        assert_eq!(vb_call_confirm(call, true, null()), VB_OK);
        let pcm: Vec<Vec<i16>> = (0..4).map(|i| vec![100 + i as i16; 320]).collect();
        let mut bufs: Vec<VbUnmixedBuffer> = (0..4)
            .map(|i| VbUnmixedBuffer {
                active_speaker_id: i + 1,
                data: pcm[i as usize].as_ptr().cast(),
                len: 640,
                original_sender_timestamp: 0,
            })
            .collect();
        for slot in 0..pushes {
            for b in &mut bufs {
                b.original_sender_timestamp = 9_000_000 + slot * 200_000;
            }
            let t0 = Instant::now();
            let rc = vb_call_push_audio(call, 1_000_000 + slot * 200_000, false, bufs.as_ptr(), 4);
            ns.push(t0.elapsed().as_nanos() as f64);
            assert_eq!(rc, VB_OK);
        }
        assert_eq!(vb_call_end(call, 1_000_000 + pushes * 200_000), VB_OK);
        assert_eq!(vb_call_wait(call), VB_OK);
        vb_call_free(call);
    }
    let mean = ns.iter().sum::<f64>() / ns.len() as f64;
    let (p50, p99, max) = (
        quantile(&mut ns, 0.5),
        quantile(&mut ns, 0.99),
        quantile(&mut ns, 1.0),
    );
    println!(
        "vb_call_push_audio, 4 unmixed buffers, {pushes} pushes: mean {mean:.0} ns, p50 {p50:.0} ns, \
         p99 {p99:.0} ns, max {max:.0} ns ({:.0} ns per buffer at the mean)",
        mean / 4.0
    );
    save_result(
        "ffi_push",
        &json!({"pushes": pushes, "mean_ns": mean, "p50_ns": p50, "p99_ns": p99, "max_ns": max}),
    );
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&key);
}

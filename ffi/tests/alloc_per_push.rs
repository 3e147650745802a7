//! What a push costs the bot's thread in allocations: exactly one per unmixed buffer (the copy of the SDK's
//! bytes into the `Bytes` the pipeline then moves), nothing per event besides, once recording. Counted by a
//! global allocator on the pushing thread only (the media and writer threads are issue 14's
//! `verbatim/tests/alloc_count.rs`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::null;

use verbatim_ffi::*;

mod common;
use common::*;

struct Counting;

thread_local! {
    /// Allocations of this thread while counting is on.
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the thread-local is a const-initialised
// `Cell` whose access never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNT.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        COUNT.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: `ptr` came from `System.alloc` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_push_allocates_once_per_unmixed_buffer_and_nothing_else() {
    let out = temp("alloc");
    let key = key_with(|p| {
        let k = recorder::muxer::integrity::generate_signing_key().unwrap();
        recorder::muxer::integrity::save_signing_key(p, &k).unwrap();
    });
    let call = start_call(&out, &key, &[("queue_capacity", "65536")]);
    // SAFETY (all below): live pointers from this library, buffers as described.
    unsafe {
        assert_eq!(vb_call_confirm(call, true, null()), VB_OK);
        let pcm: Vec<Vec<i16>> = (0..4).map(|i| vec![100 + i as i16; 320]).collect();
        let push = |slot: u64| {
            let bufs: Vec<VbUnmixedBuffer> = (0..4)
                .map(|i| VbUnmixedBuffer {
                    active_speaker_id: i + 1,
                    data: pcm[i as usize].as_ptr().cast(),
                    len: 640,
                    original_sender_timestamp: 9_000_000 + slot * 200_000,
                })
                .collect();
            // Counted: the push only, not the test's own Vec above.
            COUNT.with(|c| c.set(Some(0)));
            let rc = vb_call_push_audio(call, 1_000_000 + slot * 200_000, false, bufs.as_ptr(), 4);
            let n = COUNT.with(|c| c.replace(None)).unwrap_or(0);
            assert_eq!(rc, VB_OK);
            n
        };
        for slot in 0..50 {
            push(slot); // warm-up
        }
        let counts: Vec<u64> = (50..1_050).map(push).collect();
        let total: u64 = counts.iter().sum();
        assert_eq!(
            total,
            4 * 1_000,
            "allocations in 1,000 pushes of 4 buffers: {total}"
        );
        assert!(
            counts.iter().all(|&n| n == 4),
            "every push: 4 ({:?})",
            &counts[..10]
        );
        assert_eq!(vb_call_end(call, 1_000_000 + 1_050 * 200_000), VB_OK);
        assert_eq!(vb_call_wait(call), VB_OK);
        vb_call_free(call);
    }
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&key);
}

//! Live heap bytes, counted by a global allocator that forwards to the system allocator (not
//! RSS: the allocator keeps pages it freed). A program opts in by installing it:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: switchboard::heap_stats::Counting = switchboard::heap_stats::Counting;
//! ```
//!
//! then reads [`live_bytes`]. The chat demo does so under the `heap-stats` feature (its
//! `GET /_heap`, read by `scripts/soak.sh`). This file is also the allocator of the
//! `tests/live_heap.rs` test binary, which includes it with `#[path]` rather than through the
//! feature, because that test must run in the plain `cargo test --workspace` of
//! `scripts/test.sh`: `required-features = ["heap-stats"]` on the test makes that command skip
//! it without a word, and a dev-dependency of the crate on itself with the feature turns the
//! feature on in every test, example and bench build (the chat demo the test suites run would
//! carry the counting allocator).
//!
//! It must stay free of `crate::` paths: it is compiled both as `switchboard::heap_stats` and
//! as a module of that test.

// A global allocator is `unsafe` to implement; this one only forwards to the system allocator
// and counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Bytes allocated and not yet freed through [`Counting`], as requested by the callers (the
/// system allocator's own overhead is not counted).
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The counting allocator: every call goes to [`System`]; sizes are added to or subtracted from
/// the live count. Only counts once installed as the `#[global_allocator]`.
#[derive(Debug)]
pub struct Counting;

// SAFETY: every method forwards its arguments unchanged to the system allocator, which upholds
// the `GlobalAlloc` contract, and returns its result; the counting touches only an atomic and
// never allocates. A failed call (null) changes nothing, so it is not counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }
}

/// Bytes currently allocated through [`Counting`] (0 when it is not the global allocator).
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

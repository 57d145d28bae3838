//! The presence service's live heap over join/leave churn (issue: a track/untrack cycle used
//! to leave ~39 bytes behind in the pending delta, forever). Measured with a counting global
//! allocator (live bytes, not RSS: the allocator keeps freed pages), so this test binary has
//! one test only and nothing else allocates meanwhile.

// A global allocator is `unsafe` to implement; this one only forwards to the system allocator
// and counts, in this test binary only.
#![allow(unsafe_code)]

use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use switchboard::presence::{Meta, OwnerId, Presence};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const CYCLES: u64 = 100_000;

/// One channel's life as presence sees it: a new owner tracks a key, then its channel ends.
fn cycle(presence: &Presence, owner: u64) {
    let meta: Meta = json!({"online_at": owner})
        .as_object()
        .cloned()
        .unwrap_or_default();
    presence
        .track(
            OwnerId(owner),
            "room:churn",
            &format!("user-{}", owner % 7),
            meta,
        )
        .expect("tracked");
    presence.untrack_owner(OwnerId(owner));
}

#[test]
fn live_heap_returns_to_its_baseline_after_100_000_join_leave_cycles() {
    let presence = Presence::new("heap@test", 2, Arc::new(|_diff: &_| {}));
    // A bystander that stays, and a warm-up that lets every map reach its working size.
    let meta: Meta = json!({"online_at": 0})
        .as_object()
        .cloned()
        .unwrap_or_default();
    presence
        .track(OwnerId(u64::MAX), "room:churn", "stays", meta)
        .expect("tracked");
    for owner in 0..1_000 {
        cycle(&presence, owner);
    }
    let baseline = LIVE.load(Ordering::Relaxed);
    for owner in 1_000..1_000 + CYCLES {
        cycle(&presence, owner);
    }
    let grown = LIVE.load(Ordering::Relaxed) - baseline;
    // Hash maps may keep a grown table; nothing may grow with the number of cycles (it was
    // ~39 bytes per cycle, 3.9 MB here).
    assert!(
        grown < 64 * 1024,
        "live heap grew by {grown} bytes over {CYCLES} cycles"
    );
}

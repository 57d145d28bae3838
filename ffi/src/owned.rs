//! `sb_broadcast_owned`: a broadcast whose payload stays in the caller's memory (zero copy,
//! docs/ABI.md "Ownership"). The buffer becomes a `bytes::Bytes` through `Bytes::from_owner`;
//! the owner's `Drop` hands it back with the caller's release callback, so the callback runs
//! exactly once, on whichever thread drops the last reference.

use crate::boundary::{try_slice, write_opt};
use crate::endpoint::{sb_endpoint, texts, with_endpoint};
use crate::message::payload_of;
use crate::status::core_error;
use crate::status::{Error, sb_status};
use bytes::Bytes;
use std::ffi::c_void;

/// The caller's buffer while the library holds it.
struct Owned {
    data: *mut u8,
    len: usize,
    release: extern "C" fn(*mut c_void, *mut u8),
    ctx: *mut c_void,
}

// SAFETY: the header's contract for sb_broadcast_owned: the buffer is not written while the
// library holds it and `release` may run on any thread, so the buffer (read-only) and `ctx`
// (passed back only) can move between and be read from threads.
unsafe impl Send for Owned {}
// SAFETY: as above; shared access only reads the buffer.
unsafe impl Sync for Owned {}

impl AsRef<[u8]> for Owned {
    fn as_ref(&self) -> &[u8] {
        // An empty slice for NULL (a NULL buffer with a length is refused before it is used).
        try_slice(self.data, self.len, "data").unwrap_or(&[])
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // Drop runs once: the one call the caller expects for this (ctx, data).
        (self.release)(self.ctx, self.data);
    }
}

/// Like `sb_broadcast` (same `topic`, `event`, `payload_kind`, `out_delivered`, statuses), but
/// the payload is not copied: the `len` bytes at `data` are handed to the library, shared by
/// every subscriber, and given back with `release(release_ctx, data)` once the last of them
/// is done with it.
///
/// Ownership: unless `release` is NULL, the buffer belongs to the library from the call on,
/// whatever the status: the caller must not write or free it until `release` runs. `release`
/// runs exactly once: before this call returns when it fails (or the payload was encoded and
/// nothing kept it), else later. Host subscriptions (`sb_subscribe`) keep it until their
/// `sb_message` is freed; otherwise it runs at the latest before `sb_endpoint_free` returns.
/// `data` may be NULL only when `len` is 0 (`release` still runs, with NULL).
///
/// Threads: `release` may run on any thread — the caller's, an endpoint worker thread, or the
/// thread freeing the last `sb_message` — and must not call any `sb_*` function or block.
///
/// Statuses: those of `sb_broadcast`; `SB_E_NULL_POINTER` also for a NULL `release` (then
/// the caller keeps the buffer and nothing is called).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_broadcast_owned(
    endpoint: *const sb_endpoint,
    topic: *const u8,
    topic_len: usize,
    event: *const u8,
    event_len: usize,
    data: *mut u8,
    len: usize,
    payload_kind: u32,
    release: Option<extern "C" fn(*mut c_void, *mut u8)>,
    release_ctx: *mut c_void,
    out_delivered: *mut usize,
) -> sb_status {
    let Some(release) = release else {
        return crate::boundary::status_call(|| Err(Error::null("release")));
    };
    // Owned before anything can fail, so every path below (errors and panics included) drops
    // it and releases the buffer exactly once.
    let owned = Owned {
        data,
        len,
        release,
        ctx: release_ctx,
    };
    with_endpoint(endpoint, move |inner| {
        let (topic, event) = texts(topic, topic_len, event, event_len)?;
        let bytes = try_slice(owned.data, owned.len, "data")?;
        let payload = payload_of(payload_kind, bytes, |_| Bytes::from_owner(owned))?;
        let delivered = inner
            .endpoint
            .broadcast(false, topic, event, payload)
            .map_err(core_error)?;
        write_opt(out_delivered, delivered.local);
        Ok(())
    })
}

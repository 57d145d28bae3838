//! Taking requests off an endpoint's queue: `sb_endpoint_poll`, and the three ways to learn
//! when to poll (`sb_endpoint_wait`, the event fd, the wakeup callback).

use super::sb_request;
use crate::boundary::{into_handle, try_out};
use crate::endpoint::{sb_endpoint, with_endpoint};
use crate::status::{Error, Result, sb_status};
use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

/// Takes up to `cap` pending requests without blocking and writes their handles to
/// `out[0..*out_n]`; an empty queue gives `*out_n = 0`. `Leave` requests come first. Resets
/// the event fd, and signals it (or the wakeup callback) again when requests remain after
/// `cap`, so a host may stop early to share its loop. Any thread; concurrent pollers get
/// distinct requests.
///
/// Ownership: each `out[i]` is owned by the caller (`sb_request_free`).
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`endpoint`, `out_n`, or `out` with `cap > 0`),
/// `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_poll(
    endpoint: *const sb_endpoint,
    out: *mut *mut sb_request,
    cap: usize,
    out_n: *mut usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let out_n = try_out(out_n, "out_n")?;
        if cap > 0 && out.is_null() {
            return Err(Error::null("out"));
        }
        if cap > isize::MAX as usize / std::mem::size_of::<*mut sb_request>() {
            return Err(Error::invalid("`cap` is too large"));
        }
        let requests = inner.queue.poll(cap);
        let n = requests.len();
        for (i, req) in requests.into_iter().enumerate() {
            // SAFETY: `out` points to `cap` writable slots (caller contract, NULL checked
            // above) and `i < n <= cap`.
            unsafe { out.add(i).write(into_handle(sb_request::new(req))) };
        }
        out_n.write(n);
        Ok(())
    })
}

/// Blocks the calling thread until requests may be pending or `timeout_ms` milliseconds
/// passed: `SB_OK` means "poll now" (possibly spuriously), `SB_E_TIMEOUT` that nothing
/// arrived. For a dedicated host thread (and the Windows path). Must not be called from a
/// callback of this library.
///
/// Statuses: `SB_OK`, `SB_E_TIMEOUT`, `SB_E_NULL_POINTER`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_wait(endpoint: *const sb_endpoint, timeout_ms: u32) -> sb_status {
    with_endpoint(endpoint, |inner| {
        if inner
            .queue
            .wait(Duration::from_millis(u64::from(timeout_ms)))
        {
            Ok(())
        } else {
            Err(Error::new(
                sb_status::SB_E_TIMEOUT,
                format!("no request within {timeout_ms} ms"),
            ))
        }
    })
}

/// Writes a file descriptor that is readable while requests may be pending (a Linux
/// `eventfd`, non-blocking, close-on-exec) to `*out_fd`. Register it level-triggered (epoll,
/// libuv `uv_poll_start(UV_READABLE)`, asyncio `add_reader`) and call `sb_endpoint_poll` when
/// it is readable until it returns fewer than `cap` requests; poll resets it, so never
/// `read()` it. Borrowed: valid until `sb_endpoint_free`, never close it.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_IO` (not available: not Linux, or the kernel
/// refused an eventfd), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_event_fd(
    endpoint: *const sb_endpoint,
    out_fd: *mut i32,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let out_fd = try_out(out_fd, "out_fd")?;
        out_fd.write(event_fd(&inner.queue)?);
        Ok(())
    })
}

#[cfg(target_os = "linux")]
fn event_fd(queue: &switchboard_core::host::HostQueue) -> Result<i32> {
    use std::os::fd::AsRawFd;
    queue
        .event_fd()
        .map(|fd| fd.as_raw_fd())
        .ok_or_else(|| Error::new(sb_status::SB_E_IO, "the kernel refused an eventfd"))
}

#[cfg(not(target_os = "linux"))]
fn event_fd(_queue: &switchboard_core::host::HostQueue) -> Result<i32> {
    Err(Error::new(
        sb_status::SB_E_IO,
        "no event fd on this platform: use sb_endpoint_wait or sb_endpoint_set_wakeup",
    ))
}

/// The C callback and its user data, owned by the endpoint's notifier.
struct Wakeup {
    cb: extern "C" fn(*mut c_void),
    user_data: *mut c_void,
    free: Option<extern "C" fn(*mut c_void)>,
}

// SAFETY: the header documents that `cb` may run on any thread and that `user_data_free` runs
// once on any thread; the library never dereferences `user_data`.
unsafe impl Send for Wakeup {}
// SAFETY: as above; `cb` may run concurrently with itself, which the header documents.
unsafe impl Sync for Wakeup {}

impl Wakeup {
    fn call(&self) {
        (self.cb)(self.user_data);
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            free(self.user_data);
        }
    }
}

/// Installs a wakeup callback meaning "there is work: poll" (librdkafka's callback mode); a
/// NULL `cb` removes it. `cb(user_data)` runs on an internal thread (or inside `sb_endpoint_poll`
/// when work remains), at most once per batch; it must be quick, must not block and must not
/// call any `sb_*` function (libuv: exactly `uv_async_send`). Runs once right away if work is
/// already pending. `user_data_free(user_data)` (optional, may be NULL) runs exactly once,
/// on any thread, when the callback is replaced or removed or the endpoint is freed, at the latest
/// before `sb_endpoint_free` returns.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`endpoint`), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_endpoint_set_wakeup(
    endpoint: *const sb_endpoint,
    cb: Option<extern "C" fn(*mut c_void)>,
    user_data: *mut c_void,
    user_data_free: Option<extern "C" fn(*mut c_void)>,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let wakeup = cb.map(|cb| {
            let w = Wakeup {
                cb,
                user_data,
                free: user_data_free,
            };
            Arc::new(move || w.call()) as switchboard_core::host::Wakeup
        });
        if wakeup.is_none()
            && let Some(free) = user_data_free
        {
            free(user_data);
        }
        inner.queue.set_wakeup(wakeup);
        Ok(())
    })
}

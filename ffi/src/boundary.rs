//! The one place that turns C pointers into Rust references and Rust failures into statuses.
//!
//! Every export runs its body through [`status_call`] (or [`value_call`] for infallible
//! getters) via the `sb_ffi_boundary!` macro: a panic becomes `SB_E_PANIC` plus its text as
//! the last error instead of aborting the process (Rust 1.81+ aborts on a panic escaping an
//! `extern "C"` function). Pointer conversions live here so that the rest of the crate stays
//! free of raw-pointer arithmetic.

use crate::status::{Error, Result, sb_status, set_last_error};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs an export body that returns `Result<()>` and converts the outcome to a status:
/// `Ok` → `SB_OK`; `Err(e)` → `e.status` with `e.message` as the last error; a panic →
/// `SB_E_PANIC`.
///
/// ```ignore
/// sb_ffi_boundary!({ ...; Ok(()) })
/// ```
macro_rules! sb_ffi_boundary {
    ($body:block) => {
        $crate::boundary::status_call(move || -> $crate::status::Result<()> { $body })
    };
    (value: $default:expr, $body:block) => {
        $crate::boundary::value_call($default, move || $body)
    };
}
pub(crate) use sb_ffi_boundary;

/// The body of every borrowed getter (`sb_request_topic`, `sb_message_payload`, ...): checks the
/// handle and both out-params, then writes the bytes `pick` selects — borrowed from the handle,
/// so valid until it is freed — or `NULL`/0 when absent.
pub(crate) fn borrow_bytes<T>(
    handle: *const T,
    what: &str,
    out_ptr: *mut *const u8,
    out_len: *mut usize,
    pick: impl for<'a> FnOnce(&'a T) -> Option<&'a [u8]>,
) -> sb_status {
    sb_ffi_boundary!({
        let handle = try_ref(handle, what)?;
        let out_ptr = try_out(out_ptr, "out_ptr")?;
        let out_len = try_out(out_len, "out_len")?;
        let bytes = pick(handle);
        out_ptr.write(bytes.map_or(std::ptr::null(), <[u8]>::as_ptr));
        out_len.write(bytes.map_or(0, <[u8]>::len));
        Ok(())
    })
}

pub(crate) fn status_call(f: impl FnOnce() -> Result<()>) -> sb_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => sb_status::SB_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(panic) => {
            set_last_error(&format!("panic: {}", panic_text(&panic)));
            sb_status::SB_E_PANIC
        }
    }
}

/// Runs an infallible getter; a panic yields `default` (and records the panic text).
pub(crate) fn value_call<T>(default: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(panic) => {
            set_last_error(&format!("panic: {}", panic_text(&panic)));
            default
        }
    }
}

pub(crate) fn panic_text(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Borrows a handle the caller keeps alive for the duration of the call.
pub(crate) fn try_ref<'a, T>(ptr: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: the header's contract: a non-NULL handle points to a live object created by this
    // library and not yet freed; shared access is allowed because every handle type is Sync
    // (or, for single-owner objects, not used concurrently per the documentation).
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::null(what))
}

/// Borrows a handle mutably (builders such as `sb_config`, which are not shared).
pub(crate) fn try_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: as `try_ref`; the header documents that these objects are not used from two
    // threads at once, so this is the only reference for the call.
    unsafe { ptr.as_mut() }.ok_or_else(|| Error::null(what))
}

/// Borrows `(ptr, len)` input bytes for the call. `ptr` may be NULL only when `len` is 0.
pub(crate) fn try_slice<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::null(what))
        };
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!(
            "`{what}` length {len} is too large"
        )));
    }
    // SAFETY: the caller guarantees `ptr` points to `len` readable bytes that stay unchanged
    // for the call; NULL and oversized lengths were rejected above.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows `(ptr, len)` as UTF-8 text; `SB_E_INVALID_UTF8` otherwise.
pub(crate) fn try_str<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a str> {
    let bytes = try_slice(ptr, len, what)?;
    std::str::from_utf8(bytes).map_err(|e| {
        Error::new(
            sb_status::SB_E_INVALID_UTF8,
            format!("`{what}` is not valid UTF-8: {e}"),
        )
    })
}

/// Checks an out-param up front, so that the call fails before doing any work.
pub(crate) fn try_out<'a, T>(ptr: *mut T, what: &str) -> Result<OutParam<'a, T>> {
    // SAFETY: the caller guarantees a non-NULL out-param points to writable storage for a
    // `T`; it may be uninitialized, so it is only ever written, never read or dropped.
    match unsafe { ptr.as_mut() } {
        Some(_) => Ok(OutParam {
            ptr,
            _life: std::marker::PhantomData,
        }),
        None => Err(Error::null(what)),
    }
}

/// An out-param checked by [`try_out`]; written once the call succeeded.
pub(crate) struct OutParam<'a, T> {
    ptr: *mut T,
    _life: std::marker::PhantomData<&'a mut T>,
}

impl<T> OutParam<'_, T> {
    pub fn write(self, value: T) {
        // SAFETY: `ptr` is non-NULL and writable (checked in `try_out`); `write` does not drop
        // whatever uninitialized value was there.
        unsafe { self.ptr.write(value) }
    }
}

/// An optional out-param: NULL means the caller does not want the value.
pub(crate) fn write_opt<T>(ptr: *mut T, value: T) {
    // SAFETY: as `OutParam::write`; NULL is skipped.
    if let Some(slot) = unsafe { ptr.as_mut() } {
        // SAFETY: see above; `write` avoids dropping a possibly uninitialized value.
        unsafe { (slot as *mut T).write(value) }
    }
}

/// Moves an object to C as an owned handle.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back an owned handle; NULL gives `None`.
pub(crate) fn from_handle<T>(ptr: *mut T) -> Option<Box<T>> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: the header's contract: a non-NULL handle passed to its `_free` came from
        // `into_handle` of the same type and is freed exactly once.
        Some(unsafe { Box::from_raw(ptr) })
    }
}

/// A mutable byte buffer `(buf, cap)` from C, for `sb_last_error_message`.
pub(crate) fn out_bytes<'a>(ptr: *mut u8, cap: usize) -> Result<&'a mut [u8]> {
    if cap == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Error::null("buf"));
    }
    if cap > isize::MAX as usize {
        return Err(Error::invalid("`cap` is too large"));
    }
    // SAFETY: the caller guarantees `ptr` points to `cap` writable bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, cap) })
}

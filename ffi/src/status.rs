//! Status codes, the thread-local last-error message and the typed error every export maps to
//! a status (docs/ABI.md "Status codes and the last error").

use std::cell::RefCell;

/// Result of every fallible `sb_*` call: `SB_OK` (0) or an error from 1000 up.
///
/// Values are part of the ABI: they are never renumbered and retired values stay reserved.
/// Functions that take a status from C (`sb_status_name`) take a plain `uint32_t` and treat
/// unknown values as such, never as this enum.
///
/// cbindgen:prefix-with-name=false
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum sb_status {
    /// Success; out-params were written.
    SB_OK = 0,
    /// An argument is out of its documented range (a zero limit, an unknown enum value, a
    /// malformed address or mount path, an empty topic, ...).
    SB_E_INVALID_ARGUMENT = 1000,
    /// A required pointer (handle, out-param, or a data pointer with a non-zero length) is
    /// NULL.
    SB_E_NULL_POINTER = 1001,
    /// A string argument is not valid UTF-8.
    SB_E_INVALID_UTF8 = 1002,
    /// The id names nothing (never existed, or its channel is gone); a ticket that was
    /// never issued.
    SB_E_NOT_FOUND = 1003,
    /// The ticket was already answered (or its request freed unanswered).
    SB_E_ALREADY_ANSWERED = 1004,
    /// The ticket's request is no longer awaited: it timed out before the answer (the
    /// channel already failed) or its connection ended. Also every older ended ticket whose
    /// slot was reused, except the last 4096 answered ones (`SB_E_ALREADY_ANSWERED`).
    SB_E_STALE_TICKET = 1005,
    /// A wait ended without the awaited condition.
    SB_E_TIMEOUT = 1006,
    /// A Rust panic was caught at the boundary; the last error holds its message.
    SB_E_PANIC = 1007,
    /// An earlier panic left this endpoint in an unknown state; only `sb_endpoint_free` is allowed.
    SB_E_POISONED = 1008,
    /// The caller was compiled against an incompatible `SB_ABI_VERSION`.
    SB_E_ABI_MISMATCH = 1009,
    /// An operating-system error (cannot bind the address, cannot start threads, ...).
    SB_E_IO = 1010,
    /// A message cannot be encoded (a non-object push payload under vsn 2, binary under vsn 1,
    /// a binary field over 255 bytes, ...).
    SB_E_ENCODE = 1011,
    /// A frame cannot be decoded (malformed JSON, wrong shape, truncated binary frame, ...).
    SB_E_DECODE = 1012,
    /// The call does not fit the object's state (starting an endpoint twice, asking the port of
    /// an endpoint that is not listening, ...).
    SB_E_INVALID_STATE = 1013,
    /// A JSON input (payload or ref) is not valid JSON.
    SB_E_INVALID_JSON = 1014,
    /// Local delivery happened but forwarding to other nodes failed.
    SB_E_BROKER = 1015,
    /// A bounded queue is full: the channel's inbox (the channel crashes) or the host request
    /// queue (`max_pending`).
    SB_E_QUEUE_FULL = 1016,
    /// A presence call was refused: the key is already tracked by this channel (track), or
    /// not tracked (update).
    SB_E_PRESENCE = 1017,
    /// The answer does not fit the request (e.g. a reply to a join, any answer to a leave);
    /// the request stays pending.
    SB_E_WRONG_ANSWER = 1018,
}

impl sb_status {
    /// Every status, in value order (for `from_u32` and tests).
    pub(crate) const ALL: [sb_status; 20] = [
        sb_status::SB_OK,
        sb_status::SB_E_INVALID_ARGUMENT,
        sb_status::SB_E_NULL_POINTER,
        sb_status::SB_E_INVALID_UTF8,
        sb_status::SB_E_NOT_FOUND,
        sb_status::SB_E_ALREADY_ANSWERED,
        sb_status::SB_E_STALE_TICKET,
        sb_status::SB_E_TIMEOUT,
        sb_status::SB_E_PANIC,
        sb_status::SB_E_POISONED,
        sb_status::SB_E_ABI_MISMATCH,
        sb_status::SB_E_IO,
        sb_status::SB_E_ENCODE,
        sb_status::SB_E_DECODE,
        sb_status::SB_E_INVALID_STATE,
        sb_status::SB_E_INVALID_JSON,
        sb_status::SB_E_BROKER,
        sb_status::SB_E_QUEUE_FULL,
        sb_status::SB_E_PRESENCE,
        sb_status::SB_E_WRONG_ANSWER,
    ];

    /// Total mapping from a C integer; unknown values are `None`.
    pub(crate) fn from_u32(value: u32) -> Option<sb_status> {
        Self::ALL.iter().copied().find(|s| *s as u32 == value)
    }

    /// The status's name as NUL-terminated static text.
    pub(crate) fn name(self) -> &'static std::ffi::CStr {
        match self {
            sb_status::SB_OK => c"SB_OK",
            sb_status::SB_E_INVALID_ARGUMENT => c"SB_E_INVALID_ARGUMENT",
            sb_status::SB_E_NULL_POINTER => c"SB_E_NULL_POINTER",
            sb_status::SB_E_INVALID_UTF8 => c"SB_E_INVALID_UTF8",
            sb_status::SB_E_NOT_FOUND => c"SB_E_NOT_FOUND",
            sb_status::SB_E_ALREADY_ANSWERED => c"SB_E_ALREADY_ANSWERED",
            sb_status::SB_E_STALE_TICKET => c"SB_E_STALE_TICKET",
            sb_status::SB_E_TIMEOUT => c"SB_E_TIMEOUT",
            sb_status::SB_E_PANIC => c"SB_E_PANIC",
            sb_status::SB_E_POISONED => c"SB_E_POISONED",
            sb_status::SB_E_ABI_MISMATCH => c"SB_E_ABI_MISMATCH",
            sb_status::SB_E_IO => c"SB_E_IO",
            sb_status::SB_E_ENCODE => c"SB_E_ENCODE",
            sb_status::SB_E_DECODE => c"SB_E_DECODE",
            sb_status::SB_E_INVALID_STATE => c"SB_E_INVALID_STATE",
            sb_status::SB_E_INVALID_JSON => c"SB_E_INVALID_JSON",
            sb_status::SB_E_BROKER => c"SB_E_BROKER",
            sb_status::SB_E_QUEUE_FULL => c"SB_E_QUEUE_FULL",
            sb_status::SB_E_PRESENCE => c"SB_E_PRESENCE",
            sb_status::SB_E_WRONG_ANSWER => c"SB_E_WRONG_ANSWER",
        }
    }
}

impl From<switchboard_core::host::HostError> for Error {
    /// The core decides the code; its number is the status.
    fn from(e: switchboard_core::host::HostError) -> Error {
        let status = sb_status::ALL
            .into_iter()
            .find(|s| *s as u32 == e.code.number())
            .unwrap_or(sb_status::SB_E_INVALID_ARGUMENT);
        Error::new(status, e.message)
    }
}

/// Any core error, through the core's one mapping to a code (`HostError`).
pub(crate) fn core_error<E: Into<switchboard_core::host::HostError>>(e: E) -> Error {
    Error::from(e.into())
}

/// A failed call: the status it returns and the message stored as the last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    pub status: sb_status,
    pub message: String,
}

impl Error {
    pub fn new(status: sb_status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(sb_status::SB_E_INVALID_ARGUMENT, message)
    }

    pub fn null(what: &str) -> Error {
        Error::new(sb_status::SB_E_NULL_POINTER, format!("`{what}` is NULL"))
    }

    pub fn state(message: impl Into<String>) -> Error {
        Error::new(sb_status::SB_E_INVALID_STATE, message)
    }
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

thread_local! {
    /// The calling thread's last failure message, overwritten by its next failing call.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: &str) {
    // `try_with`: during thread teardown the slot may be gone; losing the text is fine there.
    let _ = LAST_ERROR.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        slot.clear();
        slot.push_str(message);
    });
}

/// Copies this thread's last error into `dst` with snprintf semantics: writes at most
/// `dst.len() - 1` bytes plus a NUL (nothing when `dst` is empty) and returns the full length.
pub(crate) fn copy_last_error(dst: &mut [u8]) -> usize {
    LAST_ERROR
        .try_with(|slot| {
            let msg = slot.borrow();
            let bytes = msg.as_bytes();
            if let Some(room) = dst.len().checked_sub(1) {
                let n = bytes.len().min(room);
                if let (Some(to), Some(from)) = (dst.get_mut(..n), bytes.get(..n)) {
                    to.copy_from_slice(from);
                }
                if let Some(nul) = dst.get_mut(n) {
                    *nul = 0;
                }
            }
            bytes.len()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::host::ErrorCode;

    /// The C enum exists for cbindgen; the codes are decided by the core's `ErrorCode`. This
    /// ties the two: same numbers, same names, nothing missing on either side.
    #[test]
    fn every_status_is_the_cores_error_code() {
        for code in ErrorCode::ALL {
            let status = sb_status::ALL
                .into_iter()
                .find(|s| *s as u32 == code.number())
                .unwrap_or_else(|| panic!("no sb_status numbered {}", code.number()));
            assert_eq!(status.name().to_str().ok(), Some(code.name()));
            let from_core = Error::from(switchboard_core::host::HostError::new(code, "x"));
            assert_eq!(from_core.status, status);
        }
        assert_eq!(
            sb_status::ALL.len(),
            ErrorCode::ALL.len() + 1,
            "SB_OK plus every code"
        );
    }
}

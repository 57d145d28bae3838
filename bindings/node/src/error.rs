//! Errors thrown to JavaScript: an `Error` whose `code` is the core's name for the failure
//! (`SB_E_*`, the C ABI's `sb_status` names), so C, Python and Node report the same failure
//! with the same word. The core decides every code; this only carries it.

use switchboard::host::{ErrorCode, HostError};

/// The `err.code` of a thrown error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code(pub ErrorCode);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0.name()
    }
}

/// napi's own failures (a JavaScript value of the wrong type reaching a native method).
impl From<napi::Status> for Code {
    fn from(_: napi::Status) -> Code {
        Code(ErrorCode::InvalidArgument)
    }
}

pub type Error = napi::Error<Code>;
pub type Result<T> = std::result::Result<T, Error>;

pub fn error(code: ErrorCode, message: impl Into<String>) -> Error {
    napi::Error::new(Code(code), message.into())
}

pub fn invalid(message: impl Into<String>) -> Error {
    error(ErrorCode::InvalidArgument, message)
}

pub fn state(message: impl Into<String>) -> Error {
    error(ErrorCode::InvalidState, message)
}

/// Any core error, through the core's one mapping to a code.
pub fn core_error<E: Into<HostError>>(e: E) -> Error {
    let e = e.into();
    error(e.code, e.message)
}

//! Errors thrown to JavaScript: an `Error` whose `code` is the C ABI's status name
//! (`ffi/src/status.rs`), so C, Python and Node report the same failure with the same word.

use switchboard::channel::HandleError;
use switchboard::host::{AnswerError, ErrorCode, HostError, HostedError};

/// The `err.code` of a thrown error (the `SB_E_*` names of `sb_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// A value out of its documented range, or of the wrong JavaScript type.
    InvalidArgument,
    /// The channel id names no live channel; the ticket was never issued.
    NotFound,
    /// The request was already answered.
    AlreadyAnswered,
    /// The request timed out (its channel already failed) or its connection ended.
    StaleTicket,
    /// A message cannot be encoded (non-object push payload, binary under V1, ...).
    Encode,
    /// The call does not fit the endpoint's state (listening twice, acting after close).
    InvalidState,
    /// A JSON text from JavaScript is not valid JSON.
    InvalidJson,
    /// An operating-system error (cannot bind the address, cannot start threads).
    Io,
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        match self {
            Code::InvalidArgument => "SB_E_INVALID_ARGUMENT",
            Code::NotFound => "SB_E_NOT_FOUND",
            Code::AlreadyAnswered => "SB_E_ALREADY_ANSWERED",
            Code::StaleTicket => "SB_E_STALE_TICKET",
            Code::Encode => "SB_E_ENCODE",
            Code::InvalidState => "SB_E_INVALID_STATE",
            Code::InvalidJson => "SB_E_INVALID_JSON",
            Code::Io => "SB_E_IO",
        }
    }
}

/// napi's own failures (a JavaScript value of the wrong type reaching a native method).
impl From<napi::Status> for Code {
    fn from(_: napi::Status) -> Code {
        Code::InvalidArgument
    }
}

pub type Error = napi::Error<Code>;
pub type Result<T> = std::result::Result<T, Error>;

pub fn error(code: Code, message: impl Into<String>) -> Error {
    napi::Error::new(code, message.into())
}

pub fn invalid(message: impl Into<String>) -> Error {
    error(Code::InvalidArgument, message)
}

pub fn state(message: impl Into<String>) -> Error {
    error(Code::InvalidState, message)
}

pub fn handle_error(e: HandleError) -> Error {
    match e {
        HandleError::NotFound => error(
            Code::NotFound,
            "channel not found: it has ended (or the id was never issued)",
        ),
        HandleError::Socket(e) => error(Code::Encode, e.to_string()),
    }
}

pub fn answer_error(e: AnswerError) -> Error {
    let code = match e {
        AnswerError::NotFound => Code::NotFound,
        AnswerError::AlreadyAnswered => Code::AlreadyAnswered,
        AnswerError::Stale => Code::StaleTicket,
        AnswerError::WrongKind { .. } => Code::InvalidArgument,
    };
    error(code, e.to_string())
}

/// The core decides the code; this only names it.
pub fn host_error(e: HostError) -> Error {
    let code = match e.code {
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::AlreadyAnswered => Code::AlreadyAnswered,
        ErrorCode::StaleTicket => Code::StaleTicket,
        ErrorCode::Encode => Code::Encode,
        ErrorCode::InvalidState => Code::InvalidState,
        ErrorCode::InvalidJson => Code::InvalidJson,
        ErrorCode::Io => Code::Io,
        _ => Code::InvalidArgument,
    };
    error(code, e.message)
}

pub fn hosted_error(e: HostedError) -> Error {
    let code = match e {
        HostedError::NotStarted
        | HostedError::AlreadyStarted
        | HostedError::Stopped
        | HostedError::OnRuntimeThread => Code::InvalidState,
        HostedError::Io(_) => Code::Io,
        HostedError::InvalidConfig(_) => Code::InvalidArgument,
    };
    error(code, e.to_string())
}

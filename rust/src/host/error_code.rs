//! The failures a host language reports, each with one stable name and number (C `sb_status`,
//! Node `err.code`, the Python exception class), and [`HostError`]: a code with its message.
//! The front-ends only translate a [`HostError`] into their language's error; none of them
//! decides which code a failure gets.

/// One failure kind. The numbers are the C ABI's `sb_status` values (never renumbered; retired
/// values stay reserved); [`name`](Self::name) is the `SB_E_*` text Node puts in `err.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum ErrorCode {
    /// An argument or option is out of its documented range.
    InvalidArgument = 1000,
    /// A required pointer is NULL (C only).
    NullPointer = 1001,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 1002,
    /// The id names nothing, or a ticket was never issued.
    NotFound = 1003,
    /// The ticket was already answered.
    AlreadyAnswered = 1004,
    /// The ticket's request is no longer awaited.
    StaleTicket = 1005,
    /// A wait ended without the awaited condition.
    Timeout = 1006,
    /// A Rust panic was caught at the boundary.
    Panic = 1007,
    /// An earlier panic left the object in an unknown state.
    Poisoned = 1008,
    /// The caller was built against an incompatible ABI version.
    AbiMismatch = 1009,
    /// An operating-system error (bind, threads, ...).
    Io = 1010,
    /// A message cannot be encoded.
    Encode = 1011,
    /// A frame cannot be decoded.
    Decode = 1012,
    /// The call does not fit the object's state.
    InvalidState = 1013,
    /// A JSON input is not valid JSON.
    InvalidJson = 1014,
    /// Local delivery happened but forwarding to other nodes failed.
    Broker = 1015,
}

impl ErrorCode {
    /// Every code, in number order.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::InvalidArgument,
        ErrorCode::NullPointer,
        ErrorCode::InvalidUtf8,
        ErrorCode::NotFound,
        ErrorCode::AlreadyAnswered,
        ErrorCode::StaleTicket,
        ErrorCode::Timeout,
        ErrorCode::Panic,
        ErrorCode::Poisoned,
        ErrorCode::AbiMismatch,
        ErrorCode::Io,
        ErrorCode::Encode,
        ErrorCode::Decode,
        ErrorCode::InvalidState,
        ErrorCode::InvalidJson,
        ErrorCode::Broker,
    ];

    /// The stable number (the C `sb_status` value).
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The code with this number, if any.
    pub fn from_number(number: u32) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.number() == number)
    }

    /// The stable name, e.g. `SB_E_INVALID_ARGUMENT`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "SB_E_INVALID_ARGUMENT",
            ErrorCode::NullPointer => "SB_E_NULL_POINTER",
            ErrorCode::InvalidUtf8 => "SB_E_INVALID_UTF8",
            ErrorCode::NotFound => "SB_E_NOT_FOUND",
            ErrorCode::AlreadyAnswered => "SB_E_ALREADY_ANSWERED",
            ErrorCode::StaleTicket => "SB_E_STALE_TICKET",
            ErrorCode::Timeout => "SB_E_TIMEOUT",
            ErrorCode::Panic => "SB_E_PANIC",
            ErrorCode::Poisoned => "SB_E_POISONED",
            ErrorCode::AbiMismatch => "SB_E_ABI_MISMATCH",
            ErrorCode::Io => "SB_E_IO",
            ErrorCode::Encode => "SB_E_ENCODE",
            ErrorCode::Decode => "SB_E_DECODE",
            ErrorCode::InvalidState => "SB_E_INVALID_STATE",
            ErrorCode::InvalidJson => "SB_E_INVALID_JSON",
            ErrorCode::Broker => "SB_E_BROKER",
        }
    }
}

/// A failure on its way to a host language: which [`ErrorCode`] and a message in our words
/// (it names the option, argument or object and the value that was wrong).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    pub code: ErrorCode,
    pub message: String,
}

impl HostError {
    /// A failure with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> HostError {
        HostError {
            code,
            message: message.into(),
        }
    }

    /// An [`ErrorCode::InvalidArgument`] failure.
    pub fn invalid(message: impl Into<String>) -> HostError {
        HostError::new(ErrorCode::InvalidArgument, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_unique_and_round_trip() {
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(code.number(), 1000 + i as u32, "{code:?} keeps its number");
            assert_eq!(ErrorCode::from_number(code.number()), Some(code));
            assert!(code.name().starts_with("SB_E_"));
            let same_name = ErrorCode::ALL.iter().filter(|c| c.name() == code.name());
            assert_eq!(same_name.count(), 1, "{} is used once", code.name());
        }
        assert_eq!(ErrorCode::from_number(999), None);
        assert_eq!(ErrorCode::from_number(1016), None);
    }
}

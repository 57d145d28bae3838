//! The failures a host language reports, each with one stable name and number (C `sb_status`,
//! Node `err.code`, the Python exception class), and [`HostError`]: a code with its message.
//! The front-ends only translate a [`HostError`] into their language's error; none of them
//! decides which code a failure gets.

use super::answer::AnswerError;
use crate::channel::{HandleError, SocketError};
use crate::presence::PresenceError;
use crate::pubsub::PublishError;
use crate::wire::WireError;

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
    /// A bounded queue is full: a channel's inbox (the channel crashes) or the host request
    /// queue (`max_pending`).
    QueueFull = 1016,
    /// A presence call was refused: the key is already tracked by this channel (`track`), or
    /// not tracked (`update`).
    Presence = 1017,
    /// The answer does not fit the request (e.g. a join answered with a reply, any answer to
    /// a leave); the request stays pending.
    WrongAnswer = 1018,
}

impl ErrorCode {
    /// Every code, in number order.
    pub const ALL: [ErrorCode; 19] = [
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
        ErrorCode::QueueFull,
        ErrorCode::Presence,
        ErrorCode::WrongAnswer,
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
            ErrorCode::QueueFull => "SB_E_QUEUE_FULL",
            ErrorCode::Presence => "SB_E_PRESENCE",
            ErrorCode::WrongAnswer => "SB_E_WRONG_ANSWER",
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

    /// An [`ErrorCode::InvalidState`] failure.
    pub fn state(message: impl Into<String>) -> HostError {
        HostError::new(ErrorCode::InvalidState, message)
    }
}

// Every core error a host can meet, with its code. The message is the error's own text, so
// C, Python and Node print the same words.

impl From<AnswerError> for HostError {
    fn from(e: AnswerError) -> HostError {
        let code = match e {
            AnswerError::NotFound => ErrorCode::NotFound,
            AnswerError::AlreadyAnswered => ErrorCode::AlreadyAnswered,
            AnswerError::Stale => ErrorCode::StaleTicket,
            AnswerError::WrongKind { .. } => ErrorCode::WrongAnswer,
        };
        HostError::new(code, e.to_string())
    }
}

impl From<PublishError> for HostError {
    fn from(e: PublishError) -> HostError {
        let code = match e {
            PublishError::Encode(_) => ErrorCode::Encode,
            PublishError::Broker(_) => ErrorCode::Broker,
        };
        HostError::new(code, e.to_string())
    }
}

impl From<PresenceError> for HostError {
    fn from(e: PresenceError) -> HostError {
        HostError::new(ErrorCode::Presence, e.to_string())
    }
}

impl From<WireError> for HostError {
    fn from(e: WireError) -> HostError {
        HostError::new(ErrorCode::Encode, e.to_string())
    }
}

impl From<SocketError> for HostError {
    fn from(e: SocketError) -> HostError {
        match e {
            SocketError::Encode(w) => w.into(),
            SocketError::Publish(p) => p.into(),
            SocketError::Presence(p) => p.into(),
            SocketError::QueueFull => HostError::new(ErrorCode::QueueFull, e.to_string()),
            // Phoenix raises ArgumentError: a message without a ref has nothing to reply to.
            SocketError::NoRef => HostError::invalid(e.to_string()),
        }
    }
}

impl From<HandleError> for HostError {
    fn from(e: HandleError) -> HostError {
        match e {
            HandleError::NotFound => HostError::new(
                ErrorCode::NotFound,
                "channel not found: it has ended (or the id was never issued)",
            ),
            HandleError::Socket(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::HostedError;
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
        assert_eq!(ErrorCode::from_number(1019), None);
    }

    #[test]
    fn every_core_error_has_its_own_code() {
        use crate::presence::PresenceError;
        let presence = PresenceError::NoPresence {
            topic: "t".into(),
            key: "k".into(),
        };
        let cases: Vec<(HostError, ErrorCode)> = vec![
            (AnswerError::NotFound.into(), ErrorCode::NotFound),
            (
                AnswerError::AlreadyAnswered.into(),
                ErrorCode::AlreadyAnswered,
            ),
            (AnswerError::Stale.into(), ErrorCode::StaleTicket),
            (
                AnswerError::WrongKind {
                    request: super::super::RequestKind::Leave,
                    answer: "Reply",
                }
                .into(),
                ErrorCode::WrongAnswer,
            ),
            (SocketError::QueueFull.into(), ErrorCode::QueueFull),
            (
                SocketError::Presence(presence.clone()).into(),
                ErrorCode::Presence,
            ),
            (SocketError::NoRef.into(), ErrorCode::InvalidArgument),
            (
                SocketError::Encode(WireError::InvalidJson("x".into())).into(),
                ErrorCode::Encode,
            ),
            (HandleError::NotFound.into(), ErrorCode::NotFound),
            (
                HandleError::Socket(SocketError::QueueFull).into(),
                ErrorCode::QueueFull,
            ),
            (HostedError::Stopped.into(), ErrorCode::InvalidState),
            (HostedError::Io("x".into()).into(), ErrorCode::Io),
            (
                HostedError::InvalidConfig("x".into()).into(),
                ErrorCode::InvalidArgument,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.code, code, "{error}");
            assert!(!error.message.is_empty());
        }
    }
}

//! One mapping from core errors to the Python exception hierarchy (docs/BINDINGS.md
//! "Python: errors", the polars pattern). The classes live in `switchboard/errors.py` so that
//! some can also subclass a built-in (`ValueError`, `LookupError`, `OSError`); Rust looks them
//! up by name.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use switchboard::channel::SocketError;
use switchboard::host::{AnswerError, ErrorCode, HandleError, HostError, HostedError};
use switchboard::pubsub::PublishError;

/// The exception classes of `switchboard.errors`, by class name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    InvalidArgument,
    InvalidJson,
    Encode,
    ChannelNotFound,
    AlreadyAnswered,
    StaleTicket,
    WrongAnswer,
    QueueFull,
    State,
    Broker,
    Presence,
    Io,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::InvalidArgument => "InvalidArgumentError",
            Kind::InvalidJson => "InvalidJsonError",
            Kind::Encode => "EncodeError",
            Kind::ChannelNotFound => "ChannelNotFoundError",
            Kind::AlreadyAnswered => "AlreadyAnsweredError",
            Kind::StaleTicket => "StaleTicketError",
            Kind::WrongAnswer => "WrongAnswerError",
            Kind::QueueFull => "QueueFullError",
            Kind::State => "StateError",
            Kind::Broker => "BrokerError",
            Kind::Presence => "PresenceError",
            Kind::Io => "SwitchboardOSError",
        }
    }
}

/// A failure on its way to Python: the class to raise and its message.
#[derive(Debug)]
pub(crate) struct Error {
    kind: Kind,
    message: String,
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(Kind::InvalidArgument, message)
    }

    pub(crate) fn state(message: impl Into<String>) -> Error {
        Error::new(Kind::State, message)
    }
}

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, kind: Kind) -> PyResult<Bound<'py, PyType>> {
    let module = ERRORS.get_or_try_init(py, || {
        PyModule::import(py, "switchboard.errors").map(Bound::unbind)
    })?;
    Ok(module
        .bind(py)
        .getattr(kind.class_name())?
        .cast_into::<PyType>()?)
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| match class(py, e.kind) {
            Ok(cls) => PyErr::from_type(cls, e.message),
            // Only when the package is broken (errors.py missing): still an exception.
            Err(lookup) => PyRuntimeError::new_err(format!("{} ({lookup})", e.message)),
        })
    }
}

impl From<HostError> for Error {
    /// The core decides the code; this only picks the class that stands for it.
    fn from(e: HostError) -> Error {
        let kind = match e.code {
            ErrorCode::NotFound => Kind::ChannelNotFound,
            ErrorCode::AlreadyAnswered => Kind::AlreadyAnswered,
            ErrorCode::StaleTicket => Kind::StaleTicket,
            ErrorCode::InvalidState => Kind::State,
            ErrorCode::InvalidJson => Kind::InvalidJson,
            ErrorCode::Encode | ErrorCode::Decode => Kind::Encode,
            ErrorCode::Io => Kind::Io,
            ErrorCode::Broker => Kind::Broker,
            _ => Kind::InvalidArgument,
        };
        Error::new(kind, e.message)
    }
}

impl From<SocketError> for Error {
    fn from(e: SocketError) -> Error {
        let kind = match &e {
            SocketError::Encode(_) => Kind::Encode,
            SocketError::Publish(p) => return publish(p.clone()),
            SocketError::Presence(_) => Kind::Presence,
            SocketError::QueueFull => Kind::QueueFull,
            SocketError::NoRef => Kind::State,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<HandleError> for Error {
    fn from(e: HandleError) -> Error {
        match e {
            HandleError::NotFound => Error::new(Kind::ChannelNotFound, e.to_string()),
            HandleError::Socket(s) => s.into(),
        }
    }
}

impl From<AnswerError> for Error {
    fn from(e: AnswerError) -> Error {
        let kind = match &e {
            AnswerError::NotFound => Kind::InvalidArgument,
            AnswerError::AlreadyAnswered => Kind::AlreadyAnswered,
            AnswerError::Stale => Kind::StaleTicket,
            AnswerError::WrongKind { .. } => Kind::WrongAnswer,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Error {
        publish(e)
    }
}

fn publish(e: PublishError) -> Error {
    let kind = match &e {
        PublishError::Encode(_) => Kind::Encode,
        PublishError::Broker(_) => Kind::Broker,
    };
    Error::new(kind, e.to_string())
}

impl From<HostedError> for Error {
    fn from(e: HostedError) -> Error {
        let kind = match &e {
            HostedError::NotStarted
            | HostedError::AlreadyStarted
            | HostedError::Stopped
            | HostedError::OnRuntimeThread => Kind::State,
            HostedError::Io(_) => Kind::Io,
            HostedError::InvalidConfig(_) => Kind::InvalidArgument,
        };
        Error::new(kind, e.to_string())
    }
}

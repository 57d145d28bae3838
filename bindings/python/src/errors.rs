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

/// The class of `switchboard.errors` that stands for `code`. The core decides the code; this
/// only picks the Python class (some also subclass a built-in).
fn class_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidJson => "InvalidJsonError",
        ErrorCode::Encode | ErrorCode::Decode => "EncodeError",
        ErrorCode::NotFound => "NotFoundError",
        ErrorCode::AlreadyAnswered => "AlreadyAnsweredError",
        ErrorCode::StaleTicket => "StaleTicketError",
        ErrorCode::WrongAnswer => "WrongAnswerError",
        ErrorCode::QueueFull => "QueueFullError",
        ErrorCode::InvalidState => "StateError",
        ErrorCode::Broker => "BrokerError",
        ErrorCode::Presence => "PresenceError",
        ErrorCode::Io => "SwitchboardOSError",
        _ => "InvalidArgumentError",
    }
}

/// A failure on its way to Python: the core's code and message.
#[derive(Debug)]
pub(crate) struct Error(HostError);

pub(crate) type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error(HostError::invalid(message))
    }

    pub(crate) fn state(message: impl Into<String>) -> Error {
        Error(HostError::state(message))
    }
}

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, code: ErrorCode) -> PyResult<Bound<'py, PyType>> {
    let module = ERRORS.get_or_try_init(py, || {
        PyModule::import(py, "switchboard.errors").map(Bound::unbind)
    })?;
    Ok(module
        .bind(py)
        .getattr(class_name(code))?
        .cast_into::<PyType>()?)
}

/// Raised as the class for its code, with `code` set to the code's name (`SB_E_*`), the
/// same word C and Node report.
impl From<Error> for PyErr {
    fn from(Error(e): Error) -> PyErr {
        Python::attach(|py| match class(py, e.code) {
            Ok(cls) => {
                let err = PyErr::from_type(cls, e.message);
                // Only fails for a class that refuses attributes, which ours do not.
                let _ = err.value(py).setattr("code", e.code.name());
                err
            }
            // Only when the package is broken (errors.py missing): still an exception.
            Err(lookup) => PyRuntimeError::new_err(format!("{} ({lookup})", e.message)),
        })
    }
}

impl From<HostError> for Error {
    fn from(e: HostError) -> Error {
        Error(e)
    }
}

/// Every core error reaches Python through the core's one mapping to a code.
macro_rules! through_host_error {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error(HostError::from(e))
            }
        }
    )*};
}

through_host_error!(
    SocketError,
    HandleError,
    AnswerError,
    PublishError,
    HostedError
);

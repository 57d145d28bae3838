//! The endpoint configuration as the Python package passes it: one dict whose entries are
//! converted to the core's option values and handed to [`Options`] by name, which holds
//! every default and check (the same ones the C ABI and Node use). `None` leaves an option
//! at its default.

use crate::errors::{Error, Result};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use switchboard::host::{HostConfig, Naming, OptionValue, Options};

/// A Python value as an option value; `None` for `None` (left unset).
fn option_value(value: &Bound<'_, PyAny>) -> Option<OptionValue> {
    if value.is_none() {
        return None;
    }
    let unsupported = || {
        let ty = value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        OptionValue::Unsupported(ty)
    };
    Some(if let Ok(b) = value.cast::<PyBool>() {
        OptionValue::Bool(b.is_true())
    } else if value.is_instance_of::<PyInt>() {
        value
            .extract::<i128>()
            .map_or_else(|_| unsupported(), OptionValue::Int)
    } else if let Ok(f) = value.cast::<PyFloat>() {
        OptionValue::Float(f.value())
    } else if value.is_instance_of::<PyString>() {
        value
            .extract::<String>()
            .map_or_else(|_| unsupported(), OptionValue::Text)
    } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        match value.try_iter() {
            Ok(items) => OptionValue::List(
                items
                    .map(|item| {
                        item.ok()
                            .and_then(|i| option_value(&i))
                            .unwrap_or_else(|| OptionValue::Unsupported("NoneType".into()))
                    })
                    .collect(),
            ),
            Err(_) => unsupported(),
        }
    } else if let Ok(d) = value.cast::<PyDict>() {
        OptionValue::Map(entries(d))
    } else {
        unsupported()
    })
}

/// A dict's entries with string keys and values other than `None`.
fn entries(dict: &Bound<'_, PyDict>) -> Vec<(String, OptionValue)> {
    dict.iter()
        .filter_map(|(k, v)| Some((k.extract::<String>().ok()?, option_value(&v)?)))
        .collect()
}

/// Checks a channel pattern as the core does (`room:*` or an exact topic), so that
/// `Endpoint.channel` refuses a bad one at once. Raises `InvalidArgumentError`.
#[pyfunction]
pub(crate) fn check_pattern(pattern: &str) -> Result<()> {
    Ok(switchboard::host::check_pattern(pattern)?)
}

/// Checks a connect refusal status as the core does (400-599), so that `Refused(status)`
/// refuses a bad one where it is made. Raises `InvalidArgumentError`.
#[pyfunction]
pub(crate) fn check_refusal_status(status: i64) -> Result<()> {
    switchboard::host::connect_refused(status)?;
    Ok(())
}

/// Checks the user's options (the same dict as for `NativeEndpoint`, without routes) so that
/// `Endpoint(...)` refuses a bad one at once. Raises `InvalidArgumentError`.
#[pyfunction]
pub(crate) fn check_options(options: &Bound<'_, PyDict>) -> Result<()> {
    let mut checked = Options::new(Naming::Snake);
    Ok(checked.set_all(entries(options))?)
}

/// Reads the dict built by `switchboard.Endpoint`: the user's options plus `channels`
/// (`(pattern, intercepts)` pairs), `http_routes` and `host_connect`, which the package sets
/// from the routes and callbacks it registered. Errors: `InvalidArgumentError` with the core's
/// message (unknown option, wrong type, out of range, bad pattern or path).
pub(crate) fn host_config(dict: &Bound<'_, PyDict>) -> Result<HostConfig> {
    let mut options = Options::new(Naming::Snake);
    for (name, value) in entries(dict) {
        match name.as_str() {
            "channels" => {
                let routes: Vec<(String, Vec<String>)> = dict
                    .get_item("channels")
                    .ok()
                    .flatten()
                    .and_then(|v| v.extract().ok())
                    .ok_or_else(|| {
                        Error::invalid("`channels` must be (pattern, intercepts) pairs")
                    })?;
                for (pattern, intercepts) in routes {
                    options.add_channel(&pattern, intercepts)?;
                }
            }
            "http_routes" => {
                let OptionValue::List(prefixes) = value else {
                    return Err(Error::invalid("`http_routes` must be a list"));
                };
                for prefix in prefixes {
                    let OptionValue::Text(prefix) = prefix else {
                        return Err(Error::invalid("an HTTP route prefix must be a string"));
                    };
                    options.add_http_route(&prefix)?;
                }
            }
            "host_connect" => options.set_host_connect(value == OptionValue::Bool(true)),
            _ => options.set(&name, value)?,
        }
    }
    Ok(options.build()?)
}

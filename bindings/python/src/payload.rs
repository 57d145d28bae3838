//! Payloads across the boundary: Python gives `bytes`, `bytearray` or `str` (copied once
//! into a shared buffer); Python gets `bytes` plus a flag for binary. JSON text is checked
//! here, so a malformed payload is an `InvalidJsonError`, never a broken frame.

use crate::errors::{Error, Result};
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use switchboard::wire::Payload;

/// The bytes of `obj`: `bytes`, `bytearray` or `str` (UTF-8).
pub(crate) fn bytes_of(obj: &Bound<'_, PyAny>) -> Result<Bytes> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(Bytes::copy_from_slice(b.as_bytes()))
    } else if let Ok(s) = obj.cast::<PyString>() {
        let text = s
            .to_cow()
            .map_err(|e| Error::invalid(format!("payload text: {e}")))?;
        Ok(Bytes::copy_from_slice(text.as_bytes()))
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        Ok(Bytes::from(b.to_vec()))
    } else {
        Err(Error::invalid(format!(
            "a payload must be bytes, bytearray or str, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        )))
    }
}

/// A core payload from Python: raw bytes when `binary`, else JSON text (any JSON value;
/// the core checks object-ness where Phoenix requires an object).
pub(crate) fn payload_in(obj: &Bound<'_, PyAny>, binary: bool) -> Result<Payload> {
    let data = bytes_of(obj)?;
    if binary {
        return Ok(Payload::Binary(data));
    }
    Ok(switchboard::host::json_payload(data, "payload")?)
}

/// A core payload for Python: its bytes and whether it is binary.
pub(crate) fn payload_out<'py>(py: Python<'py>, payload: &Payload) -> (Bound<'py, PyBytes>, bool) {
    match payload {
        Payload::Json(raw) => (PyBytes::new(py, raw), false),
        Payload::Binary(raw) => (PyBytes::new(py, raw), true),
    }
}

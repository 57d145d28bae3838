//! How a host's raw inputs become core values, one check per input with its error: JSON
//! objects (assigns, presence metas), JSON values and payloads, refs, names that must not be
//! empty, tickets, stop reasons, connect refusal statuses and HTTP responses. C, Python and Node call these instead of checking
//! themselves, so the same mistake gets the same code and words in every language.

use super::answer::Answer;
use super::error_code::{ErrorCode, HostError};
use super::tickets::Ticket;
use crate::handler::{Assigns, StopReason};
use crate::wire::{Payload, Ref};
use bytes::Bytes;

fn not_json(what: &str, e: serde_json::Error) -> HostError {
    HostError::new(
        ErrorCode::InvalidJson,
        format!("{what} is not valid JSON: {e}"),
    )
}

/// A JSON object (assigns, a presence meta) from its text. `what` names the input in the
/// message, e.g. `"assigns"`. Errors: [`ErrorCode::InvalidJson`] (not JSON),
/// [`ErrorCode::InvalidArgument`] (JSON, but not an object).
pub fn json_object(text: &str, what: &str) -> Result<Assigns, HostError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(HostError::invalid(format!(
            "{what} must be a JSON object (got {})",
            json_type(&other)
        ))),
        Err(e) => Err(not_json(what, e)),
    }
}

/// Any JSON value (a `send_info` message) from its text. Errors: [`ErrorCode::InvalidJson`].
pub fn json_value(text: &str, what: &str) -> Result<serde_json::Value, HostError> {
    serde_json::from_str(text).map_err(|e| not_json(what, e))
}

/// A JSON payload from its text, kept as the bytes given (never re-encoded). Errors:
/// [`ErrorCode::InvalidJson`].
pub fn json_payload(text: impl Into<Bytes>, what: &str) -> Result<Payload, HostError> {
    let bytes = text.into();
    serde_json::from_slice::<&serde_json::value::RawValue>(&bytes)
        .map_err(|e| not_json(what, e))?;
    Ok(Payload::Json(bytes))
}

/// A message `ref` from its JSON text, as a request gave it (e.g. `"6"` with its quotes).
/// Errors: [`ErrorCode::InvalidJson`], [`ErrorCode::InvalidArgument`] for `null` (there is
/// nothing to reply to).
pub fn json_ref(text: &str) -> Result<Ref, HostError> {
    let raw = serde_json::from_str::<&serde_json::value::RawValue>(text)
        .map_err(|e| not_json("ref", e))?;
    if raw.get() == "null" {
        return Err(HostError::invalid(
            "ref must not be null: there is nothing to reply to",
        ));
    }
    Ok(Ref::from_json_unchecked(Bytes::copy_from_slice(
        raw.get().as_bytes(),
    )))
}

/// A name that must not be empty: an event, a reply status, a topic, a socket id. `what`
/// names the input, e.g. `"event"`. Errors: [`ErrorCode::InvalidArgument`] when empty (a
/// client cannot route an empty event, and an empty topic is no one's).
pub fn non_empty<'a>(text: &'a str, what: &str) -> Result<&'a str, HostError> {
    if text.is_empty() {
        return Err(HostError::invalid(format!("{what} must not be empty")));
    }
    Ok(text)
}

/// A request's [`Ticket`] from its raw number. Errors: [`ErrorCode::NotFound`] for 0, which
/// is never issued (a `Leave` request has none); any other number is checked when used.
pub fn ticket(raw: u64) -> Result<Ticket, HostError> {
    if raw == 0 {
        return Err(HostError::new(
            ErrorCode::NotFound,
            "ticket 0 is never issued (Leave requests have none)",
        ));
    }
    Ok(Ticket::from_raw(raw))
}

/// The JSON type name of `value`, for messages.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A stop reason from its parts (Phoenix `{:stop, reason, socket}`): `kind` is `normal`,
/// `shutdown` (both close with `phx_close`, no rejoin) or `abnormal` (`phx_error`, the client
/// rejoins); `detail` is the shutdown detail or the abnormal reason (ignored for `normal`).
/// Errors: [`ErrorCode::InvalidArgument`] for another kind.
pub fn stop_reason(kind: &str, detail: &str) -> Result<StopReason, HostError> {
    match kind {
        "normal" => Ok(StopReason::Normal),
        "shutdown" => Ok(StopReason::Shutdown(detail.to_owned())),
        "abnormal" => Ok(StopReason::Abnormal(detail.to_owned())),
        other => Err(HostError::invalid(format!(
            "stop kind must be normal, shutdown or abnormal (got {other:?})"
        ))),
    }
}

/// The answer refusing a connect with HTTP `status` (Phoenix `:error` → 403; an error
/// handler's status, e.g. 429). Errors: [`ErrorCode::InvalidArgument`] outside 400-599 (a
/// refusal is an error status).
pub fn connect_refused(status: i64) -> Result<Answer, HostError> {
    match u16::try_from(status) {
        Ok(status @ 400..=599) => Ok(Answer::ConnectRefused { status }),
        _ => Err(HostError::invalid(format!(
            "a connect refusal status must be from 400 to 599 (got {status})"
        ))),
    }
}

/// The answer to an HTTP request on a host route: `status` 100-999, `content_type` a valid
/// header value (empty for none) and the body bytes. Errors: [`ErrorCode::InvalidArgument`]
/// for a status or content type outside those.
pub fn http_response(
    status: i64,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Result<Answer, HostError> {
    let status = match u16::try_from(status) {
        Ok(status @ 100..=999) => status,
        _ => {
            return Err(HostError::invalid(format!(
                "an HTTP status must be from 100 to 999 (got {status})"
            )));
        }
    };
    if !super::valid_header_value(content_type) {
        return Err(HostError::invalid(format!(
            "content type {content_type:?} is not a valid header value"
        )));
    }
    Ok(Answer::http(status, content_type, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_name_the_input_and_the_failure() {
        assert_eq!(json_object(r#"{"a":1}"#, "assigns").unwrap()["a"], 1);
        let e = json_object("[1]", "assigns").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert_eq!(e.message, "assigns must be a JSON object (got an array)");
        let e = json_object("{", "a presence meta").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        assert!(
            e.message.starts_with("a presence meta is not valid JSON: "),
            "{e}"
        );
    }

    #[test]
    fn payloads_keep_their_bytes_and_refs_refuse_null() {
        assert_eq!(
            json_payload(" [1, 2] ", "payload").unwrap(),
            Payload::Json(Bytes::from_static(b" [1, 2] "))
        );
        assert_eq!(
            json_payload("nope", "payload").unwrap_err().code,
            ErrorCode::InvalidJson
        );
        assert_eq!(json_ref("\"6\"").unwrap().as_json(), b"\"6\"");
        assert_eq!(
            json_ref("null").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            json_value("{x", "message").unwrap_err().code,
            ErrorCode::InvalidJson
        );
    }

    #[test]
    fn names_must_not_be_empty_and_ticket_zero_is_never_issued() {
        assert_eq!(non_empty("e", "event").unwrap(), "e");
        let e = non_empty("", "status").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert_eq!(e.message, "status must not be empty");
        assert_eq!(ticket(7).unwrap(), Ticket::from_raw(7));
        let e = ticket(0).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
        assert_eq!(
            e.message,
            "ticket 0 is never issued (Leave requests have none)"
        );
    }

    #[test]
    fn stop_reasons_and_statuses_have_one_range() {
        assert_eq!(
            stop_reason("shutdown", "x").unwrap(),
            StopReason::Shutdown("x".into())
        );
        assert_eq!(
            stop_reason("normal", "ignored").unwrap(),
            StopReason::Normal
        );
        assert_eq!(
            stop_reason("weird", "").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            connect_refused(429).unwrap(),
            Answer::ConnectRefused { status: 429 }
        );
        for bad in [200, 399, 600, -1, 70_000] {
            let e = connect_refused(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument);
            assert_eq!(
                e.message,
                format!("a connect refusal status must be from 400 to 599 (got {bad})")
            );
        }
        assert!(http_response(204, "", "").is_ok());
        for bad in [99, 1000] {
            assert_eq!(
                http_response(bad, "", "").unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }
        assert!(http_response(200, "text/plain\n", "").is_err());
    }
}

//! A host's read of a topic's history (docs/HISTORY.md "Host API"): the one JSON shape the
//! C, Python and Node front-ends return or parse.

use super::{HostError, non_empty};
use crate::channel::Backplane;
use crate::pubsub::history::{HistoryEntry, Unrecovered};
use crate::wire::Payload;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::value::RawValue;

/// A host's `limit` as a count: 0 (every kept message) or more. Errors:
/// [`InvalidArgument`](super::ErrorCode::InvalidArgument) for a negative one.
pub fn history_limit(limit: i64) -> Result<usize, HostError> {
    usize::try_from(limit).map_err(|_| {
        HostError::invalid(format!(
            "`limit` must be 0 (every kept message) or more (got {limit})"
        ))
    })
}

/// The messages of `topic` after `since` (the first `limit` of them), or its latest `limit`
/// messages without `since`; `limit` 0 means every kept message. As JSON object text:
///
/// `{"messages": [{"position", "event", "payload"}...], "position": <latest or null>,
///   "recovered": <bool>, "reason"?: <why not>}`
///
/// oldest first. A binary payload is given as `"binary": "<standard base64>"` instead of
/// `"payload"`. `recovered` is false when the messages do not follow `since` without a gap
/// (`reason` as in `sb_recovery`: `unknown_epoch`, `unknown_position`, `trimmed`); the
/// latest kept messages are then returned. Without `since` it is true.
///
/// Errors: [`InvalidArgument`](super::ErrorCode::InvalidArgument) for an empty topic, a topic no history rule
/// matches, or a `since` that is not a position.
pub fn history_page(
    backplane: &Backplane,
    topic: &str,
    since: Option<&str>,
    limit: usize,
) -> Result<String, HostError> {
    non_empty(topic, "topic")?;
    let limit = if limit == 0 { usize::MAX } else { limit };
    let (messages, position, outcome) = backplane.pubsub().history(topic, since, limit);
    let why = match outcome {
        Err(Unrecovered::NoHistory) => {
            return Err(HostError::invalid(format!(
                "no history rule matches topic {topic:?}"
            )));
        }
        Err(Unrecovered::Invalid) => {
            return Err(HostError::invalid(format!(
                "since {:?} is not a stream position",
                since.unwrap_or_default()
            )));
        }
        Err(why) => Some(why),
        Ok(()) => None,
    };
    let page = Page {
        messages: messages.iter().map(|entry| Message::of(entry)).collect(),
        position,
        recovered: why.is_none(),
        reason: why.map(Unrecovered::as_str),
    };
    serde_json::to_string(&page).map_err(|e| HostError::invalid(e.to_string()))
}

/// The JSON shape of [`history_page`].
#[derive(serde::Serialize)]
struct Page<'a> {
    messages: Vec<Message<'a>>,
    position: Option<String>,
    recovered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[derive(serde::Serialize)]
struct Message<'a> {
    position: &'a str,
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    binary: Option<String>,
}

impl<'a> Message<'a> {
    fn of(entry: &'a HistoryEntry) -> Message<'a> {
        let (payload, binary) = match &entry.broadcast.payload {
            // A recorded JSON payload was checked to be one object when it was broadcast.
            Payload::Json(raw) => {
                let raw = std::str::from_utf8(raw)
                    .ok()
                    .and_then(|t| serde_json::from_str::<&RawValue>(t).ok());
                (Some(raw.unwrap_or(RawValue::NULL)), None)
            }
            Payload::Binary(bytes) => (None, Some(STANDARD.encode(bytes))),
        };
        Message {
            position: entry.position(),
            event: &entry.broadcast.event,
            payload,
            binary,
        }
    }
}

//! Resuming a channel from a stream position (docs/HISTORY.md): the `_since` join param, and
//! the `sb_recovery` push plus the replayed messages a resumed join writes after its reply.

use super::inbox::Cmd;
use super::instance::{Instance, Life};
use crate::pubsub::history::{Recovery, Unrecovered};
use crate::wire::Payload;
use bytes::Bytes;
use std::sync::Arc;

/// The join param that asks for a resume.
const SINCE: &str = "_since";

/// The event pushed after a resumed join's reply.
pub(crate) const RECOVERY_EVENT: &str = "sb_recovery";

/// The `_since` of a join payload: `None` when absent (a plain join), `Ok(None)` for `null`
/// (a client without a position yet, that wants the latest one), `Err` when it is neither a
/// string nor null (a number, an object...). Only payloads that mention `_since` are parsed.
pub(crate) fn requested_since(payload: &Payload) -> Option<Result<Option<String>, Unrecovered>> {
    let Payload::Json(raw) = payload else {
        return None;
    };
    if !raw.windows(SINCE.len()).any(|w| w == SINCE.as_bytes()) {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        // Not `Option`'s own deserializer, which reads `null` as absent.
        #[serde(rename = "_since", borrow, default, deserialize_with = "present")]
        since: Option<&'a serde_json::value::RawValue>,
    }
    fn present<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<&'de serde_json::value::RawValue>, D::Error> {
        serde::Deserialize::deserialize(d).map(Some)
    }
    let params: Params<'_> = serde_json::from_slice(raw).ok()?;
    let since = params.since?;
    Some(serde_json::from_str::<Option<String>>(since.get()).map_err(|_| Unrecovered::Invalid))
}

/// How many messages a resume may replay at once: half of what the connection's queue and
/// the channel's inbox hold, so a replay never makes a slow consumer of its own client.
pub(crate) fn max_replay(inst: &Instance) -> usize {
    (inst.outbox.max_frames() / 2).min(inst.inbox.capacity() / 2)
}

/// Writes the `sb_recovery` push, then the replayed messages: straight to the outbox, or
/// through `handle_out` for events the channel intercepts. Runs under the life lock of a
/// joined instance, right after its reply.
pub(crate) fn emit(inst: &Instance, life: &Life, intercepts: &[String], recovery: Recovery) {
    let payload = Payload::Json(Bytes::from(recovery.payload().to_string()));
    match inst.encode_push(RECOVERY_EVENT, &payload) {
        Ok(frame) => {
            inst.emit_locked(life, frame);
        }
        Err(e) => {
            crate::warn_limited!(error = %e, "sb_recovery cannot be encoded");
            return;
        }
    }
    for entry in recovery.outcome.into_iter().flatten() {
        if intercepts.iter().any(|e| *e == entry.broadcast.event) {
            // The task is joined and serves its inbox next; `max_replay` leaves room.
            let _ = inst.inbox.try_send(Cmd::Out(Arc::clone(&entry.broadcast)));
            continue;
        }
        match entry.frame(inst.serializer) {
            Ok(frame) => {
                inst.emit_locked(life, frame);
            }
            // As live: a subscriber whose serializer cannot carry the payload gets nothing.
            Err(e) => {
                crate::warn_limited!(error = %e, "a replayed message cannot be encoded")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn since(json: &str) -> Option<Result<Option<String>, Unrecovered>> {
        requested_since(&Payload::Json(Bytes::from(json.to_owned())))
    }

    #[test]
    fn since_absent_null_text_and_other_values() {
        assert_eq!(since(r#"{"room":"a"}"#), None);
        assert_eq!(since(r#"{"note":"_since"}"#), None);
        assert_eq!(since(r#"{"_since":null}"#), Some(Ok(None)));
        assert_eq!(since(r#"{"_since":"e:1"}"#), Some(Ok(Some("e:1".into()))));
        assert_eq!(since(r#"{"_since":5}"#), Some(Err(Unrecovered::Invalid)));
        assert_eq!(
            since(r#"{"_since":{"a":1}}"#),
            Some(Err(Unrecovered::Invalid))
        );
        assert_eq!(
            requested_since(&Payload::Binary(Bytes::from_static(b"_since"))),
            None
        );
    }
}

//! The frames a channel writes on its own, not from a handler: `phx_close`, the reply to a
//! crashed join, and the answers for a topic without a channel.

use crate::wire::{Frame, Message, Payload, Ref, Serializer};
use bytes::Bytes;

/// `{"reason":"join crashed"}` (F4).
pub(crate) const JOIN_CRASHED: &[u8] = br#"{"reason":"join crashed"}"#;
pub(crate) const UNMATCHED_TOPIC: &[u8] = br#"{"reason":"unmatched topic"}"#;

/// `[J, J, T, "phx_close", {}]`.
pub(crate) fn close_frame(s: Serializer, join_ref: Option<&Ref>, topic: &str) -> Option<Frame> {
    s.encode_message(
        join_ref,
        join_ref,
        topic,
        "phx_close",
        &Payload::empty_object(),
    )
    .ok()
}

/// How a topic without a channel answers a non-join message: `phx_leave` → F8 `ok` echoing
/// the request's join_ref, no `phx_close`; anything else → F7 "unmatched topic" with
/// join_ref null. `None` for a join (handled by the session).
pub(crate) fn unjoined_reply(s: Serializer, msg: &Message) -> Option<Frame> {
    let frame = match msg.event.as_str() {
        "phx_join" => return None,
        "phx_leave" => s.encode_reply(
            msg.join_ref.as_ref(),
            msg.r#ref.as_ref(),
            &msg.topic,
            "ok",
            &Payload::empty_object(),
        ),
        _ => s.encode_reply(
            None,
            msg.r#ref.as_ref(),
            &msg.topic,
            "error",
            &Payload::Json(Bytes::from_static(UNMATCHED_TOPIC)),
        ),
    };
    frame.ok()
}

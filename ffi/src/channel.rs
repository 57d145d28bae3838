//! Actions on one joined channel by its id (from `sb_request_channel_id`): push, broadcast
//! from it, send it a message, subscribe it to topics, presence. Ids, not handles, because
//! the core may end a channel at any moment (docs/ABI.md "Handles vs ids"): a gone channel gives
//! `SB_E_NOT_FOUND`, never a dangling pointer.

use crate::boundary::{into_handle, try_out, try_str, write_opt};
use crate::codec::sb_buffer;
use crate::endpoint::{EndpointInner, sb_endpoint, with_endpoint};
use crate::message::{payload_from_c, ref_from_c};
use crate::status::{Error, Result, core_error, sb_status};
use switchboard_core::host::{self, ChannelHandle, ChannelId, HandleError};
use switchboard_core::presence::Meta;
use switchboard_core::wire::{Frame, Payload};

fn channel(inner: &EndpointInner, id: u64) -> Result<ChannelHandle> {
    inner
        .queue
        .channel(ChannelId::from_raw(id))
        .map_err(core_error)
}

/// A name argument (`event`, `status`): UTF-8 and not empty.
fn name<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a str> {
    Ok(host::non_empty(try_str(ptr, len, what)?, what)?)
}

fn json_object(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let text = try_str(ptr, len, what)?;
    Ok(host::json_object(text, what)?)
}

/// Pushes `event` with `payload` to the client of channel `channel_id` only (Phoenix
/// `push/3`). Made while the join is being answered, it is sent right after the `ok` join
/// reply (dropped if the join is refused).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
/// event, unknown `payload_kind`), `SB_E_INVALID_JSON`, `SB_E_NOT_FOUND` (the channel ended),
/// `SB_E_ENCODE` (non-object JSON payload, binary to a V1 client), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_push(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    event: *const u8,
    event_len: usize,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let ch = channel(inner, channel_id)?;
        let event = name(event, event_len, "event")?;
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        ch.push(event, payload).map_err(core_error)
    })
}

/// Replies later to a message the host answered with NOREPLY (Phoenix
/// `reply(socket_ref, {status, payload})`): `[join_ref, ref, topic, "phx_reply",
/// {"status": status, "response": payload}]` to the channel's client. `ref` is the message's
/// ref as `sb_request_ref` returned it (raw JSON); `status` UTF-8 text such as `"ok"`.
///
/// Statuses: as `sb_push`, plus `SB_E_INVALID_ARGUMENT` for a NULL/empty or JSON-null `ref`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_channel_reply(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    r#ref: *const u8,
    ref_len: usize,
    status: *const u8,
    status_len: usize,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let ch = channel(inner, channel_id)?;
        let Some(r#ref) = ref_from_c(r#ref, ref_len, "ref")? else {
            return Err(Error::invalid("`ref` is required"));
        };
        let status = name(status, status_len, "status")?;
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        ch.reply(&r#ref, status, payload).map_err(core_error)
    })
}

/// Broadcasts on the channel's topic from the channel (Phoenix `broadcast/3` inside a
/// channel); with `skip_self` true the sending channel's client does not get it (Phoenix
/// `broadcast_from/3`).
///
/// Statuses: as `sb_push` (plus `SB_E_BROKER`).
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_channel_broadcast(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    skip_self: bool,
    event: *const u8,
    event_len: usize,
    payload: *const u8,
    payload_len: usize,
    payload_kind: u32,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let ch = channel(inner, channel_id)?;
        let event = name(event, event_len, "event")?;
        let payload = payload_from_c(payload, payload_len, payload_kind)?;
        if skip_self {
            ch.broadcast_from(event, payload)
        } else {
            ch.broadcast(event, payload)
        }
        .map_err(core_error)
    })
}

/// Sends the channel a message (Phoenix `send(self(), msg)`): it comes back as a
/// `HandleInfo` event, in order with the channel's other requests, with `message` (any JSON
/// value) as its payload.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_JSON`,
/// `SB_E_NOT_FOUND`, `SB_E_ENCODE` (the channel's inbox is full), `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_channel_send_info(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    message: *const u8,
    message_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let ch = channel(inner, channel_id)?;
        let text = try_str(message, message_len, "message")?;
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::new(
                sb_status::SB_E_INVALID_JSON,
                format!("`message` is not valid JSON: {e}"),
            )
        })?;
        ch.send_info(value).map_err(core_error)
    })
}

/// Subscribes the channel to another `topic` (Phoenix `Endpoint.subscribe/1` inside a
/// channel): broadcasts there arrive as `HandleInfo` requests. Unsubscribed when the channel
/// ends.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
/// topic), `SB_E_NOT_FOUND`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_channel_subscribe(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    topic: *const u8,
    topic_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let ch = channel(inner, channel_id)?;
        let topic = name(topic, topic_len, "topic")?;
        ch.subscribe(topic).map_err(core_error)
    })
}

/// Undoes `sb_channel_subscribe`; `*out_was_subscribed` (optional) tells whether it was.
///
/// Statuses: as `sb_channel_subscribe`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_channel_unsubscribe(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    topic: *const u8,
    topic_len: usize,
    out_was_subscribed: *mut bool,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let ch = channel(inner, channel_id)?;
        let topic = try_str(topic, topic_len, "topic")?;
        let was = ch.unsubscribe(topic).map_err(core_error)?;
        write_opt(out_was_subscribed, was);
        Ok(())
    })
}

/// Tracks presence `key` (UTF-8, e.g. a user id) with `meta` (a JSON object) on the
/// channel's topic, owned by the channel (Phoenix `Presence.track(socket, key, meta)`):
/// untracked automatically when the channel ends; clients get a `presence_diff`.
/// `*out_phx_ref` (optional) gets a new `sb_buffer` with the minted `phx_ref` text (free it).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (meta
/// not an object), `SB_E_INVALID_JSON`, `SB_E_NOT_FOUND`, `SB_E_ENCODE`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_presence_track(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    key: *const u8,
    key_len: usize,
    meta: *const u8,
    meta_len: usize,
    out_phx_ref: *mut *mut sb_buffer,
) -> sb_status {
    presence_meta(
        endpoint,
        channel_id,
        key,
        key_len,
        meta,
        meta_len,
        out_phx_ref,
        ChannelHandle::track,
    )
}

/// Replaces the meta of the channel's presence `key` (Phoenix `Presence.update/3`); a new
/// `phx_ref` is minted (`*out_phx_ref`, optional, as in `sb_presence_track`).
///
/// Statuses: as `sb_presence_track`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_presence_update(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    key: *const u8,
    key_len: usize,
    meta: *const u8,
    meta_len: usize,
    out_phx_ref: *mut *mut sb_buffer,
) -> sb_status {
    presence_meta(
        endpoint,
        channel_id,
        key,
        key_len,
        meta,
        meta_len,
        out_phx_ref,
        ChannelHandle::update,
    )
}

/// The body of `sb_presence_track` / `sb_presence_update`: `set` tracks or updates `key` with
/// the meta and returns the minted `phx_ref`.
fn presence_meta(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    key: *const u8,
    key_len: usize,
    meta: *const u8,
    meta_len: usize,
    out_phx_ref: *mut *mut sb_buffer,
    set: fn(&ChannelHandle, &str, Meta) -> std::result::Result<String, HandleError>,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let ch = channel(inner, channel_id)?;
        let key = try_str(key, key_len, "key")?;
        let meta = json_object(meta, meta_len, "meta")?;
        let phx_ref = set(&ch, key, meta).map_err(core_error)?;
        if !out_phx_ref.is_null() {
            write_opt(out_phx_ref, sb_buffer::text_handle(phx_ref));
        }
        Ok(())
    })
}

/// Stops tracking the channel's presence `key` (Phoenix `Presence.untrack/2`).
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_NOT_FOUND`,
/// `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_presence_untrack(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    key: *const u8,
    key_len: usize,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let ch = channel(inner, channel_id)?;
        let key = try_str(key, key_len, "key")?;
        ch.untrack(key).map_err(core_error)
    })
}

/// The presences of the channel's topic as JSON text in Phoenix's `presence_state` shape
/// (`{"key": {"metas": [{..., "phx_ref": "..."}]}}`, `Presence.list/1`), in a new
/// `sb_buffer` owned by the caller.
///
/// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_NOT_FOUND`, `SB_E_POISONED`.
#[must_use]
#[unsafe(no_mangle)]
pub extern "C" fn sb_presence_list(
    endpoint: *const sb_endpoint,
    channel_id: u64,
    out: *mut *mut sb_buffer,
) -> sb_status {
    with_endpoint(endpoint, |inner| {
        let out = try_out(out, "out")?;
        let ch = channel(inner, channel_id)?;
        let frame = match ch.presence_list().map_err(core_error)? {
            Payload::Json(b) => Frame::Text(b),
            Payload::Binary(b) => Frame::Binary(b),
        };
        out.write(into_handle(sb_buffer::new(frame)));
        Ok(())
    })
}

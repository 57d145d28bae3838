//! `sb_request`: one host request taken from an endpoint's queue (docs/ABI.md "Receiving
//! host requests" and "Answering host requests"), what it asks (`sb_request_kind`) and its
//! lifetime. Taking requests off the queue is in `queue`, reading them in `getters`, answering
//! them by ticket in `answer`.

mod answer;
mod getters;
mod queue;

pub use answer::*;
pub use getters::*;
pub use queue::*;

pub(crate) use answer::ticket;
pub(crate) use getters::borrow;

use crate::boundary::from_handle;
use std::sync::OnceLock;
use switchboard_core::host::{HostRequest, RequestBody, RequestKind};

/// What an `sb_request` asks (`sb_request_get_kind` returns one of these values). Values are
/// part of the ABI.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum sb_request_kind {
    /// Phoenix `connect/3` (only with `sb_config_set_host_connect`): answer with
    /// `sb_connect_ok` / `sb_connect_refuse` (or `sb_reply` OK / ERROR). Payload: the
    /// connect params as a JSON object.
    Connect = 1,
    /// Phoenix `join/3`: answer with `sb_join_ok` / `sb_join_error` (or `sb_reply` OK /
    /// ERROR). Payload: the join params.
    Join = 2,
    /// Phoenix `handle_in/3`, a client push: answer with `sb_reply` (OK, ERROR, NOREPLY,
    /// STOP), `sb_reply_status` or `sb_stop`.
    HandleIn = 3,
    /// Phoenix `handle_info/2`: a broadcast on a topic the channel subscribed to
    /// (`sb_channel_subscribe`; event and payload are the broadcast's) or a message from
    /// `sb_channel_send_info` (no event; payload is the JSON message). Answer NOREPLY or
    /// STOP.
    HandleInfo = 4,
    /// Phoenix `handle_out/3`: an intercepted broadcast (`sb_config_add_intercept`). It
    /// reaches the client only if the host pushes it (`sb_push`) before answering NOREPLY.
    HandleOut = 5,
    /// Phoenix `terminate/2`: the channel ended (`sb_request_reason` says why). No ticket, no
    /// answer: drop the state kept for that channel id, then free the request. When the
    /// channel ended with `phx_close` (reason `left`, `stop:normal`, `stop:shutdown:*`), the
    /// core waits until the request is freed (at most the request timeout) before it forgets
    /// the channel, and until then `sb_push`, `sb_channel_reply` and `sb_channel_broadcast`
    /// still work on its id: what they send arrives after `phx_close`, as pushes from a
    /// Phoenix `terminate` do. Other actions, and all actions after a crash or a
    /// connection end, give `SB_E_NOT_FOUND`. So free `LEAVE` requests promptly.
    Leave = 6,
    /// An HTTP request on a route added with `sb_config_add_http_route`: read it with
    /// `sb_request_http_method` / `_path` / `_query` / `_content_type` and `sb_request_payload`
    /// (the body, `SB_PAYLOAD_KIND_BINARY`), answer with `sb_http_respond`. Unanswered within
    /// the request timeout: 504; freed unanswered: 500.
    Http = 7,
}

/// The C value of `kind`: the core's number for it.
impl sb_request_kind {
    const ALL: [sb_request_kind; 7] = [
        sb_request_kind::Connect,
        sb_request_kind::Join,
        sb_request_kind::HandleIn,
        sb_request_kind::HandleInfo,
        sb_request_kind::HandleOut,
        sb_request_kind::Leave,
        sb_request_kind::Http,
    ];
}

pub(crate) fn kind_value(kind: RequestKind) -> sb_request_kind {
    sb_request_kind::ALL
        .into_iter()
        .find(|k| *k as u32 == kind.number())
        .unwrap_or(sb_request_kind::Http)
}

/// One host request (opaque) from `sb_endpoint_poll`, owned by the caller. It may move to another
/// thread but must not be used from two threads at once. Free it with `sb_request_free`, after
/// answering its ticket (a request freed unanswered counts as a crash of that handler: the
/// join gets `{"reason":"join crashed"}`, the channel `phx_error`, a connect HTTP 500).
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct sb_request {
    pub(crate) req: HostRequest,
    assigns_json: OnceLock<String>,
    reason: Option<String>,
}

impl sb_request {
    pub(crate) fn new(req: HostRequest) -> sb_request {
        let reason = match req.body() {
            RequestBody::Leave { reason, .. } => Some(reason.to_string()),
            _ => None,
        };
        sb_request {
            req,
            assigns_json: OnceLock::new(),
            reason,
        }
    }
}

/// Frees a request. NULL is a no-op. Freeing a request whose ticket was not answered answers
/// it as a crash of that handler (see `sb_request`); pointers from its getters become invalid.
/// Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn sb_request_free(request: *mut sb_request) {
    crate::boundary::value_call((), || drop(from_handle(request)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C enum exists for cbindgen; the numbers are the core's `RequestKind::number`. This
    /// ties the two: every core kind has its C value, and no C value is left over.
    #[test]
    fn every_request_kind_is_the_cores_number() {
        for kind in RequestKind::ALL {
            assert_eq!(kind_value(kind) as u32, kind.number(), "{kind:?}");
        }
        assert_eq!(sb_request_kind::ALL.len(), RequestKind::ALL.len());
    }
}

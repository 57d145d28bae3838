//! What a host answers (the Phoenix callback return values) and why an answer is refused.

use super::kind::RequestKind;
use crate::handler::{Assigns, StopReason};
use crate::wire::Payload;

/// The host's answer to a request (the Phoenix callback return values). Optional `assigns`
/// replace the channel's assigns (Phoenix `assign/3` on the returned socket), so hosts can
/// keep per-channel state there; `None` leaves them unchanged.
#[derive(Clone, PartialEq, Debug)]
#[non_exhaustive]
pub enum Answer {
    /// `{:ok, socket}` from `connect/3`: `assigns` are copied into every channel of the
    /// connection; `id` is the socket id (`"disconnect"` broadcasts there close it).
    ConnectOk {
        assigns: Assigns,
        id: Option<String>,
    },
    /// `:error` from `connect/3`: the upgrade is refused with this HTTP status (non-error
    /// statuses become 403).
    ConnectRefused { status: u16 },
    /// `{:ok, reply, socket}` from `join/3`; `reply` is the join reply (usually `{}`).
    JoinOk {
        reply: Payload,
        assigns: Option<Assigns>,
    },
    /// `{:error, reply}` from `join/3`, e.g. `{"reason":"unauthorized"}`.
    JoinError { reply: Payload },
    /// `{:reply, {status, payload}, socket}`: `[J, R, T, "phx_reply", {"status":
    /// status, "response": payload}]`. `payload` may be any JSON value or binary.
    Reply {
        status: String,
        payload: Payload,
        assigns: Option<Assigns>,
    },
    /// `{:noreply, socket}`.
    NoReply { assigns: Option<Assigns> },
    /// `{:stop, reason, socket}` / `{:stop, reason, reply, socket}` (reply first). Normal
    /// and shutdown reasons close (`phx_close`); others error (`phx_error`).
    Stop {
        reason: StopReason,
        reply: Option<(String, Payload)>,
        assigns: Option<Assigns>,
    },
    /// The response to an HTTP request: `status` (100-999; others become 500),
    /// `content_type` (an invalid header value is dropped) and the body bytes.
    Http {
        status: u16,
        content_type: String,
        body: bytes::Bytes,
    },
}

impl Answer {
    /// `{:reply, {:ok, payload}, socket}`.
    pub fn ok(payload: Payload) -> Answer {
        Answer::reply("ok", payload)
    }

    /// `{:reply, {:error, payload}, socket}`.
    pub fn error(payload: Payload) -> Answer {
        Answer::reply("error", payload)
    }

    /// `{:reply, {status, payload}, socket}`.
    pub fn reply(status: &str, payload: Payload) -> Answer {
        Answer::Reply {
            status: status.to_owned(),
            payload,
            assigns: None,
        }
    }

    /// `{:noreply, socket}`.
    pub fn noreply() -> Answer {
        Answer::NoReply { assigns: None }
    }

    /// `{:ok, reply, socket}` from `join/3`.
    pub fn join_ok(reply: Payload) -> Answer {
        Answer::JoinOk {
            reply,
            assigns: None,
        }
    }

    /// `{:error, reply}` from `join/3`.
    pub fn join_error(reply: Payload) -> Answer {
        Answer::JoinError { reply }
    }

    /// `{:stop, reason, socket}`.
    pub fn stop(reason: StopReason) -> Answer {
        Answer::Stop {
            reason,
            reply: None,
            assigns: None,
        }
    }

    /// The response to an HTTP request.
    pub fn http(
        status: u16,
        content_type: impl Into<String>,
        body: impl Into<bytes::Bytes>,
    ) -> Answer {
        Answer::Http {
            status,
            content_type: content_type.into(),
            body: body.into(),
        }
    }

    /// Sets the assigns of an answer that carries them (`JoinOk`, `Reply`, `NoReply`,
    /// `Stop`, `ConnectOk`); other answers are returned unchanged.
    pub fn with_assigns(mut self, new: Assigns) -> Answer {
        match &mut self {
            Answer::JoinOk { assigns, .. }
            | Answer::Reply { assigns, .. }
            | Answer::NoReply { assigns }
            | Answer::Stop { assigns, .. } => *assigns = Some(new),
            Answer::ConnectOk { assigns, .. } => *assigns = new,
            Answer::ConnectRefused { .. } | Answer::JoinError { .. } | Answer::Http { .. } => {}
        }
        self
    }

    /// Short name for errors and logs, e.g. `"JoinOk"`.
    pub fn name(&self) -> &'static str {
        match self {
            Answer::ConnectOk { .. } => "ConnectOk",
            Answer::ConnectRefused { .. } => "ConnectRefused",
            Answer::JoinOk { .. } => "JoinOk",
            Answer::JoinError { .. } => "JoinError",
            Answer::Reply { .. } => "Reply",
            Answer::NoReply { .. } => "NoReply",
            Answer::Stop { .. } => "Stop",
            Answer::Http { .. } => "Http",
        }
    }

    /// Whether this answer is valid for a request of `kind`.
    pub fn fits(&self, kind: RequestKind) -> bool {
        use RequestKind as K;
        match self {
            Answer::ConnectOk { .. } | Answer::ConnectRefused { .. } => kind == K::Connect,
            Answer::JoinOk { .. } | Answer::JoinError { .. } => kind == K::Join,
            Answer::Reply { .. } | Answer::NoReply { .. } | Answer::Stop { .. } => {
                matches!(kind, K::HandleIn | K::HandleInfo | K::HandleOut)
            }
            Answer::Http { .. } => kind == K::Http,
        }
    }
}

/// Why an answer was refused. Nothing changed in the core when one of these is returned.
/// The C ABI maps them to statuses (`SB_E_NOT_FOUND`, `SB_E_ALREADY_ANSWERED`,
/// `SB_E_STALE_TICKET`, `SB_E_INVALID_ARGUMENT`).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// No such ticket: never issued (0, garbage).
    #[error("unknown ticket")]
    NotFound,
    /// The request was already answered, or dropped unanswered (which answered it as a
    /// crash). Reliable while the ticket's slot was not reused, and for the last
    /// 4096 answered tickets whose slot was; older ones report `Stale`.
    #[error("request already answered")]
    AlreadyAnswered,
    /// The core no longer waits for this ticket: the request timed out (the channel
    /// already got `phx_error`, the join `"join crashed"`, the connect 503) or its
    /// connection ended. Every issued ticket that ended without an answer reports this,
    /// however many requests came after it.
    #[error("stale ticket: the request timed out or its connection ended")]
    Stale,
    /// The answer does not fit the request, e.g. `JoinOk` for a `HandleIn`, or any answer
    /// to a `Leave`. The request stays pending.
    #[error("{answer} is not an answer to a {request:?} request")]
    WrongKind {
        request: RequestKind,
        answer: &'static str,
    },
}

//! Answers from JavaScript (the Phoenix callback return values) into core [`Answer`]s.

use crate::error::{Result, core_error, invalid};
use crate::payload::{JsPayload, payload_in};
use napi::Either;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use switchboard::host::{self, Answer};
use switchboard::wire::Payload;

/// An answer to one request. `kind` picks the variant; the other fields are read as it needs.
#[napi(object)]
#[allow(missing_debug_implementations)] // napi's `Buffer` has no `Debug`
pub struct NativeAnswer {
    /// `connectOk`, `connectRefused`, `joinOk`, `joinError`, `reply`, `noreply`, `stop`.
    pub kind: String,
    /// Reply status for `reply` and for the reply sent before a `stop` (default `ok`).
    pub status: Option<String>,
    /// Join reply, error reply, or reply payload: JSON text, or bytes when `binary`.
    pub payload: Option<Either<String, Buffer>>,
    /// The payload is binary (V2 binary frames).
    pub binary: Option<bool>,
    /// New assigns, JSON object text (`connectOk`, `joinOk`, `reply`, `noreply`, `stop`).
    pub assigns: Option<String>,
    /// Socket id for `connectOk` (a `"disconnect"` broadcast there closes the connection).
    pub socket_id: Option<String>,
    /// HTTP status of `connectRefused` (default 403).
    pub http_status: Option<u32>,
    /// `stop` reason: `normal`, `shutdown` (both close with `phx_close`), anything else is
    /// abnormal (`phx_error`).
    pub reason: Option<String>,
    /// Detail of a `shutdown` stop.
    pub detail: Option<String>,
    /// For `stop`: send a reply (`status`, `payload`) before stopping.
    pub reply: Option<bool>,
}

fn payload_or_empty(payload: Option<JsPayload>, binary: bool) -> Result<Payload> {
    match payload {
        Some(p) => payload_in(p, binary),
        None => Ok(Payload::empty_object()),
    }
}

impl NativeAnswer {
    /// The core answer; invalid JSON, unknown kinds and bad statuses are errors and nothing
    /// is answered.
    pub fn into_answer(self) -> Result<Answer> {
        let binary = self.binary.unwrap_or(false);
        let assigns = match &self.assigns {
            Some(text) => Some(host::json_object(text, "assigns").map_err(core_error)?),
            None => None,
        };
        let answer = match self.kind.as_str() {
            "connectOk" => Answer::ConnectOk {
                assigns: assigns.clone().unwrap_or_default(),
                id: self.socket_id,
            },
            "connectRefused" => host::connect_refused(i64::from(self.http_status.unwrap_or(403)))
                .map_err(core_error)?,
            "joinOk" => Answer::JoinOk {
                reply: payload_or_empty(self.payload, binary)?,
                assigns: assigns.clone(),
            },
            "joinError" => Answer::JoinError {
                reply: payload_or_empty(self.payload, binary)?,
            },
            "reply" => Answer::Reply {
                status: self.status.unwrap_or_else(|| "ok".into()),
                payload: payload_or_empty(self.payload, binary)?,
                assigns: assigns.clone(),
            },
            "noreply" => Answer::NoReply {
                assigns: assigns.clone(),
            },
            "stop" => {
                // Node names an abnormal stop by its reason text (`{stop: "boom"}`).
                let reason = match self.reason.as_deref().unwrap_or("normal") {
                    kind @ ("normal" | "shutdown") => {
                        host::stop_reason(kind, self.detail.as_deref().unwrap_or_default())
                    }
                    other => host::stop_reason("abnormal", other),
                }
                .map_err(core_error)?;
                let reply = if self.reply.unwrap_or(false) {
                    Some((
                        self.status.unwrap_or_else(|| "ok".into()),
                        payload_or_empty(self.payload, binary)?,
                    ))
                } else {
                    None
                };
                Answer::Stop {
                    reason,
                    reply,
                    assigns: assigns.clone(),
                }
            }
            other => return Err(invalid(format!("unknown answer kind {other:?}"))),
        };
        Ok(answer)
    }
}

//! The `room:*` channel of the long-poll tests.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use switchboard::host::{Channel, HandlerError, JoinOutcome, Outcome, Socket, TerminateReason};
use switchboard::wire::Payload;

/// Join ok; `echo` replies ok with the payload, `transport` with `{"transport": ...}`,
/// `shout` broadcasts the payload then replies ok; counts `terminate` calls.
#[derive(Default)]
pub struct Room {
    pub terminated: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Channel for Room {
    async fn join(
        &self,
        _topic: &str,
        _payload: Payload,
        _socket: &mut Socket,
    ) -> Result<JoinOutcome, HandlerError> {
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        match event {
            "echo" => Ok(Outcome::ok(payload)),
            "transport" => {
                let body = json!({"transport": socket.transport()}).to_string();
                Ok(Outcome::ok(Payload::Json(body.into())))
            }
            "shout" => {
                socket.broadcast("shout", payload)?;
                Ok(Outcome::ok(Payload::empty_object()))
            }
            other => Err(HandlerError::new(format!("unexpected {other}"))),
        }
    }

    async fn terminate(&self, _reason: &TerminateReason, _socket: &mut Socket) {
        self.terminated.fetch_add(1, Ordering::SeqCst);
    }
}

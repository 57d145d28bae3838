//! The channel behaviour (Phoenix `Phoenix.Channel`): the callbacks a channel actor calls. It
//! lives here, beside the [`Socket`] its callbacks receive; the outcomes it returns are the
//! handler contract in [`crate::handler`].

use super::Socket;
use crate::handler::{HandlerError, Info, JoinOutcome, Outcome, TerminateReason};
use crate::wire::Payload;

/// A channel handler, registered for a topic pattern (Phoenix `channel "room:*", RoomChannel`).
/// One handler value serves every channel instance of its pattern; per-instance state lives
/// in [`Socket::assigns`]. Calls for one channel instance never overlap and arrive in order;
/// each runs under the mount's request timeout. A returned `Err`, a panic or a timeout
/// crashes only that channel.
#[async_trait::async_trait]
pub trait Channel: Send + Sync + 'static {
    /// Phoenix `join/3`: decide whether the client may join `topic` with `payload` (the join
    /// params). The reply is written before anything else for this join_ref: pushes,
    /// broadcasts and `send_info` made here are deferred until right after an `ok` reply
    /// (Phoenix raises instead; see [`Socket`]) and dropped when the join is refused.
    /// Messages the client sends meanwhile wait for the join (PROTOCOL.md 9.2 #24).
    async fn join(
        &self,
        topic: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<JoinOutcome, HandlerError>;

    /// Phoenix `handle_in/3`: a client push `event` with `payload` on a joined channel.
    /// `payload` may be any JSON value or binary. To answer later, take
    /// [`Socket::socket_ref`] and return [`Outcome::NoReply`]. `phx_leave` never reaches
    /// this: the core answers it and calls `terminate` with [`TerminateReason::Left`].
    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError>;

    /// Phoenix `handle_info/2`: a message sent to the channel (see [`Info`]).
    async fn handle_info(
        &self,
        _info: Info,
        _socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        Ok(Outcome::NoReply)
    }

    /// Events whose broadcasts go through [`handle_out`](Self::handle_out) for each
    /// subscriber instead of the shared fastlane frame (Phoenix `intercept/1`).
    fn intercepts(&self) -> Vec<String> {
        Vec::new()
    }

    /// Phoenix `handle_out/3` for an intercepted broadcast; usually calls
    /// [`Socket::push`] (possibly with a changed payload) or drops the message.
    async fn handle_out(
        &self,
        event: &str,
        payload: Payload,
        socket: &mut Socket,
    ) -> Result<Outcome, HandlerError> {
        socket.push(event, payload)?;
        Ok(Outcome::NoReply)
    }

    /// Phoenix `terminate/2`: the channel ended. Pushes made here are sent after
    /// `phx_close` (PROTOCOL.md 3.3 rule 4) when the channel ended gracefully (leave,
    /// `Stop` normal/shutdown); after a crash or abnormal stop they are dropped (nothing
    /// follows `phx_error`), and after the connection ended there is nobody to send to.
    /// Runs under the request timeout. Not called after a duplicate join (4.5) nor for a
    /// join that did not succeed.
    async fn terminate(&self, _reason: &TerminateReason, _socket: &mut Socket) {}
}

//! The kinds of host request, with the one number and name every language uses for each.

/// What a [`HostRequest`](super::HostRequest) asks. Stable numbers and names in every language
/// ([`number`](Self::number), [`name`](Self::name)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum RequestKind {
    /// Phoenix `connect/3`; answer [`Answer::ConnectOk`](crate::host::Answer::ConnectOk) or [`Answer::ConnectRefused`](crate::host::Answer::ConnectRefused).
    Connect,
    /// Phoenix `join/3`; answer [`Answer::JoinOk`](crate::host::Answer::JoinOk) or [`Answer::JoinError`](crate::host::Answer::JoinError).
    Join,
    /// Phoenix `handle_in/3`; answer [`Answer::Reply`](crate::host::Answer::Reply), [`Answer::NoReply`](crate::host::Answer::NoReply) or [`Answer::Stop`](crate::host::Answer::Stop).
    HandleIn,
    /// Phoenix `handle_info/2`; answer [`Answer::NoReply`](crate::host::Answer::NoReply) or [`Answer::Stop`](crate::host::Answer::Stop) (a `Reply`
    /// is accepted and ignored: there is no ref to reply to).
    HandleInfo,
    /// Phoenix `handle_out/3` for an intercepted event; answer like `HandleInfo`. The
    /// broadcast is not pushed unless the host pushes it (through
    /// [`HostQueue::channel`](crate::host::HostQueue::channel)`(id).push(..)`) before answering.
    HandleOut,
    /// Phoenix `terminate/2`: the channel ended. No ticket, no answer. When the channel
    /// ended with `phx_close` (the client left, or a `Stop` with a normal or shutdown
    /// reason), the core waits until the host drops the request (or the mount's
    /// `request_timeout` passes) before it forgets the channel, and meanwhile
    /// [`HostQueue::channel`](crate::host::HostQueue::channel) still gives a handle whose `push`, `reply`, `broadcast` and
    /// `broadcast_from` work: what they send goes out after `phx_close`, as pushes from a
    /// Phoenix `terminate` do (PROTOCOL.md 3.3 rule 4). So drop the request when done with
    /// it. After a crash or a connection end nothing reaches the client and the core does
    /// not wait. Posted exactly once for every channel whose join was answered `JoinOk`, also when the core
    /// ends it without `terminate` (duplicate join: reason `Stop(Shutdown("duplicate_join"))`;
    /// a `JoinOk` that arrived as the join timed out: `Crash`; a channel aborted at the
    /// connection's close deadline: the close reason). Not posted for a refused or crashed
    /// join.
    Leave,
    /// An HTTP request on one of the host's HTTP routes (`HostConfig::http_routes`, or
    /// [`HostQueue::http_router`](crate::host::HostQueue::http_router)); answer [`Answer::Http`](crate::host::Answer::Http). Unanswered within the
    /// route's timeout: 504; dropped unanswered: 500.
    Http,
}

impl RequestKind {
    /// Every kind, in number order.
    pub const ALL: [RequestKind; 7] = [
        RequestKind::Connect,
        RequestKind::Join,
        RequestKind::HandleIn,
        RequestKind::HandleInfo,
        RequestKind::HandleOut,
        RequestKind::Leave,
        RequestKind::Http,
    ];

    /// The stable number every language uses (the C `sb_request_kind` value).
    pub fn number(self) -> u32 {
        match self {
            RequestKind::Connect => 1,
            RequestKind::Join => 2,
            RequestKind::HandleIn => 3,
            RequestKind::HandleInfo => 4,
            RequestKind::HandleOut => 5,
            RequestKind::Leave => 6,
            RequestKind::Http => 7,
        }
    }

    /// The name logs and errors use, the Phoenix callback's: `connect`, `join`, `handle_in`,
    /// `handle_info`, `handle_out`, `terminate` (for `Leave`) or `http`.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Connect => "connect",
            RequestKind::Join => "join",
            RequestKind::HandleIn => "handle_in",
            RequestKind::HandleInfo => "handle_info",
            RequestKind::HandleOut => "handle_out",
            RequestKind::Leave => "terminate",
            RequestKind::Http => "http",
        }
    }
}

impl std::fmt::Display for RequestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

//! The host layer (DESIGN layer 9): what an application writes, and the one kernel of rules
//! (error codes, options, input checks, request kinds) that the C, Python and Node front-ends
//! only translate. It re-exports the handler contract ([`crate::handler`]) and the channel
//! types, so `switchboard::host` is all a host needs.
//!
//! A host registers a [`Channel`] handler per topic pattern and a [`Connect`] callback per
//! socket mount. The core calls them as requests that are each answered exactly once — the
//! shape the C, Python and Node front-ends wrap as request/answer events (docs/ABI.md
//! "Answering host requests", docs/BINDINGS.md "One host layer"):
//! one answer per request, a request timeout that fails the channel (`phx_error`), and
//! in-order handling per channel (the next request is released only after the previous one
//! was answered or timed out).
//!
//! Hosts that are not async Rust (C, Python, Node, or a plain thread) use a [`HostQueue`]
//! instead of implementing the traits: its [`QueueConnect`] and [`QueueChannel`] adapters
//! post every callback as a [`HostRequest`] with a [`Ticket`], any thread drains the queue
//! (`poll`, `wait`, an event fd or a wakeup callback) and answers with an [`Answer`], and
//! acts later on a channel by its [`ChannelId`] through a [`ChannelHandle`].

pub use crate::channel::{Channel, ChannelHandle, HandleError, Socket, SocketError, SocketRef};
pub use crate::handler::{
    AcceptAll, Assigns, Connect, ConnectInfo, Connected, HandlerError, Info, JoinOutcome, Outcome,
    Refused, StopReason, TerminateReason,
};

mod adapters;
mod answer;
mod channels;
mod error_code;
mod history_page;
mod hosted;
mod http;
mod inputs;
mod kind;
mod notify;
mod options;
mod queue;
mod request;
mod slab;
mod tickets;

pub use adapters::{QueueChannel, QueueConnect};
pub use answer::{Answer, AnswerError};
pub use channels::ChannelId;
pub use error_code::{ErrorCode, HostError};
pub use history_page::{history_limit, history_page};
pub use hosted::{ChannelRoute, HostConfig, HostMount, HostedEndpoint, HostedError, StaticFile};
pub use http::{HttpRouteError, MAX_HTTP_BODY, valid_http_prefix};
pub use inputs::{
    connect_refused, http_response, json_object, json_payload, json_ref, json_value, non_empty,
    stop_reason, ticket,
};
pub use kind::RequestKind;
pub use notify::Wakeup;
pub use options::{
    Naming, OptionValue, Options, check_http_prefix, check_pattern, check_static_file,
    closest_name, valid_header_value,
};
pub use queue::{HostQueue, QueueConfig};
pub use request::{ChannelContext, HostRequest, HttpRequest, RequestBody};
pub use tickets::Ticket;

#[cfg(test)]
mod tests;

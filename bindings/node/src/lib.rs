//! Switchboard for Node.js (docs/BINDINGS.md "Node: packaging"): a napi-rs addon over the
//! same host layer as the C ABI. Rust runs the endpoint, the fan-out and presence; a
//! binding-owned pump thread hands host requests to JavaScript in batches (one
//! ThreadsafeFunction call per batch), and the JavaScript facade (`index.js`) awaits the async
//! handlers and answers by ticket.
//!
//! Everything here is internal: `native.js` / `native.d.ts` are generated from these items
//! (`napi build`), and the public API is the hand-written `index.js` / `index.d.ts`.

mod actions;
mod answer;
mod config;
mod endpoint;
mod error;
mod logs;
mod payload;
mod pending;
mod pump;
mod request;

pub use answer::NativeAnswer;
pub use config::{
    NativeChannelRoute, NativeConfig, check_http_prefix, check_options, check_pattern,
    check_refusal_status, closest_name,
};
pub use endpoint::{CloseTask, FlushTask, NativeEndpoint, StartTask, Started};
pub use logs::{NativeLogEvent, set_log_handler};
pub use request::{NativeConnectInfo, NativeHttpRequest, NativeRequest};

// The C ABI needs `#[unsafe(no_mangle)]` exports and raw-pointer conversions; the pointer
// work is confined to `boundary`, every `unsafe` block carries a SAFETY comment.
#![allow(unsafe_code)]
// Export signatures mirror the C API (one `(ptr, len)` pair per input).
#![allow(clippy::too_many_arguments)]
// Exports take raw pointers by design; validity is the C caller's documented contract and every
// dereference goes through `boundary`.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
//! The C ABI of Switchboard (`libswitchboard.so`, `libswitchboard.a`,
//! `include/switchboard.h`). The conventions are in docs/ABI.md and, briefly, in the header's
//! preamble; each export documents its arguments, ownership and statuses.

mod boundary;
mod channel;
mod codec;
mod config;
mod endpoint;
mod http;
mod log;
mod message;
mod owned;
mod request;
mod status;
mod subscription;
mod version;

pub use channel::*;
pub use codec::*;
pub use config::*;
pub use endpoint::*;
pub use http::*;
pub use log::*;
pub use message::*;
pub use owned::*;
pub use request::*;
pub use status::sb_status;
pub use subscription::*;
pub use version::*;

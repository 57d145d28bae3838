/*
 * switchboard.h: the C API of Switchboard, a Phoenix Channels compatible real-time engine.
 * Link libswitchboard (pkg-config: switchboard; CMake: find_package(switchboard)).
 *
 * CONVENTIONS
 *
 * Names. Every function starts with sb_, every macro and enum value with SB_. Constructors
 * end in _new and destructors in _free; a method's first argument is its object, then come
 * inputs, then out-params (named out*).
 *
 * Statuses. Every call that can fail returns sb_status: SB_OK (0) or an SB_E_* value from 1000
 * up (values never change). Out-params are written only when SB_OK is returned. Each
 * function lists the statuses it returns; in addition any of them may return SB_E_PANIC (an
 * internal bug was caught; the process keeps running) and endpoint functions SB_E_POISONED
 * (an earlier panic left that endpoint unusable; free it). sb_status_name() names a status.
 * Getters that cannot fail return their value directly and return 0 / NULL / false for a NULL
 * handle.
 *
 * Last error. After a failure, sb_last_error_message(buf, cap) gives a human-readable reason.
 * It belongs to the calling thread and is overwritten by that thread's next failing call;
 * successful calls do not clear it.
 *
 * Inputs. Strings and byte buffers are (const uint8_t *ptr, size_t len) pairs, borrowed for
 * the duration of the call only (the library copies what it keeps). Strings are UTF-8 and need
 * no NUL terminator (SB_E_INVALID_UTF8 otherwise). ptr may be NULL only when len is 0. Enum
 * arguments are passed as uint32_t; an unknown value returns SB_E_INVALID_ARGUMENT. JSON
 * payloads are raw JSON text; binary payloads are raw bytes (sb_payload_kind says which).
 * Refs (join_ref, ref) are the raw JSON text of the value, e.g. ""6"" with its quotes,
 * exactly as the client sent it.
 *
 * Ownership. Handles (sb_config, sb_endpoint, sb_request, sb_subscription, sb_message,
 * sb_buffer) are opaque pointers owned by the caller from the call that returned them until
 * their _free, which accepts NULL. Pointers returned by getters (sb_message_topic,
 * sb_buffer_data, ...) borrow from their handle and stay valid until that handle is freed; they
 * are not NUL-terminated. Static strings (sb_version, sb_status_name) are never freed. The one
 * input that is not copied: sb_broadcast_owned takes the caller's buffer and hands it back
 * exactly once through the caller's release callback when the last subscriber is done with it.
 *
 * Threads. sb_endpoint functions take const sb_endpoint * and may be called from any thread at
 * once; only sb_endpoint_free needs exclusive access (no other call on that endpoint may be
 * running or follow). sb_subscription is thread-safe as well. sb_config, sb_request, sb_message
 * and sb_buffer may move between threads but must not be used from two threads at once.
 * Blocking calls (sb_endpoint_start, sb_endpoint_drain, sb_endpoint_shutdown, sb_endpoint_free,
 * sb_endpoint_wait, sb_subscription_wait) must not be made from a callback of this library. The
 * endpoint runs its own worker threads (a tokio runtime); sb_endpoint_free joins them, after
 * which no callback of that endpoint runs again. Callbacks (wakeup, log, release) run on
 * whichever thread triggers them, possibly several at once, and must not call back into the
 * library. The log callback (sb_set_log_callback) is process-wide, not per endpoint.
 *
 * Host requests. Topic patterns added with sb_config_add_channel (and, with
 * sb_config_set_host_connect, every WebSocket upgrade) become requests in the endpoint's queue:
 * connect, join, handle_in, handle_info, handle_out (Phoenix's callbacks) and leave
 * (terminate), as sb_request handles. Take them with sb_endpoint_poll, woken by one of: the
 * event fd (sb_endpoint_event_fd, for epoll / libuv / asyncio), a blocking sb_endpoint_wait on
 * a host thread, or the wakeup callback (sb_endpoint_set_wakeup). Each request except leave
 * carries a ticket; answer it exactly once, from any thread and at any time before the request
 * timeout, with sb_reply, sb_reply_status, sb_noreply, sb_stop, sb_join_ok / sb_join_error or
 * sb_connect_ok / sb_connect_refuse. A second answer gives SB_E_ALREADY_ANSWERED, a late one
 * SB_E_STALE_TICKET (the channel already failed with phx_error), and a request freed unanswered
 * counts as a crash of that handler. Tickets are generation << 32 | slot and slots are reused,
 * but an issued ticket never becomes SB_E_NOT_FOUND: after reuse it reports SB_E_STALE_TICKET,
 * or SB_E_ALREADY_ANSWERED for the last 4096 answered ones. The core releases a channel's next
 * request only after the previous one was answered, so answering out of order across channels
 * is safe. Channels are named by uint64_t ids (sb_request_channel_id), never pointers: actions
 * on a channel that ended return SB_E_NOT_FOUND. The one exception is Phoenix's terminate:
 * while the host holds the leave request of a channel that closed with phx_close, sb_push and
 * the other sends on its id still work and arrive after phx_close; freeing the request (or the
 * request timeout) ends that window, so free leave requests promptly.
 *
 * Versions. SB_VERSION_* describe this header; pass SB_ABI_VERSION to sb_endpoint_new, which
 * refuses a library with another ABI (SB_E_ABI_MISMATCH). While the version is 0.x every
 * minor release may change the ABI, so the SONAME is libswitchboard.so.0.<minor>; from 1.0 it
 * is libswitchboard.so.1 and only additions are allowed: symbols are never removed, only
 * marked SB_DEPRECATED.
 *
 * Static linking. Linking two Rust static libraries into one program can clash on Rust's
 * standard library symbols (rust-lang/rust#44322); programs that already contain Rust code
 * should use the shared library.
 *
 * Design choices, and why: the drain grace is set once with sb_config_set_drain instead of
 * per sb_endpoint_drain / sb_endpoint_shutdown call, because the core fixes it when the
 * endpoint starts; the Rust crate has no rlib output (it would collide with the core crate's
 * libswitchboard.rlib), so the Rust tests of the exports are unit tests inside ffi/.
 *
 * More: docs/ABI.md in the Switchboard sources explains these conventions in full.
 */


#ifndef SWITCHBOARD_H
#define SWITCHBOARD_H

/* Generated by cbindgen 0.29.4 from ffi/ (tests/c/gen-header.sh). Do not edit by hand. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* Windows DLL import/export; define SB_STATIC when linking libswitchboard.a. */
#if defined(_WIN32) && !defined(SB_STATIC)
#  define SB_API __declspec(dllimport)
#else
#  define SB_API
#endif

/* Warn when a returned status is ignored. */
#if defined(__GNUC__) || defined(__clang__)
#  define SB_MUST_USE __attribute__((warn_unused_result))
#else
#  define SB_MUST_USE
#endif

/* Marks symbols kept for compatibility (symbols are never removed, only deprecated). */
#if defined(__GNUC__) || defined(__clang__)
#  define SB_DEPRECATED(note) __attribute__((deprecated(note)))
#else
#  define SB_DEPRECATED(note)
#endif


// Major version of this library (semantic versioning).
#define SB_VERSION_MAJOR 0

// Minor version; while the major is 0, each minor may break the ABI.
#define SB_VERSION_MINOR 1

// Patch version.
#define SB_VERSION_PATCH 0

// `MAJOR * 1000000 + MINOR * 1000 + PATCH`, for `#if SB_VERSION_NUMBER >= ...` checks.
#define SB_VERSION_NUMBER 1000

// The ABI this header describes: `(major << 16) | minor` of the release that ships it, which
// is also its SONAME (`0x0002` ships as `libswitchboard.so.0.2`). A change that breaks the
// ABI bumps it at once, so between releases it may run one minor ahead of the package
// version (docs/ABI.md "Versioning"). Pass it to `sb_endpoint_new`, which refuses any other
// value.
#define SB_ABI_VERSION 2

// Result of every fallible `sb_*` call: `SB_OK` (0) or an error from 1000 up.
//
// Values are part of the ABI: they are never renumbered and retired values stay reserved.
// Functions that take a status from C (`sb_status_name`) take a plain `uint32_t` and treat
// unknown values as such, never as this enum.
//
enum sb_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // Success; out-params were written.
  SB_OK = 0,
  // An argument is out of its documented range (a zero limit, an unknown enum value, a
  // malformed address or mount path, an empty topic, ...).
  SB_E_INVALID_ARGUMENT = 1000,
  // A required pointer (handle, out-param, or a data pointer with a non-zero length) is
  // NULL.
  SB_E_NULL_POINTER = 1001,
  // A string argument is not valid UTF-8.
  SB_E_INVALID_UTF8 = 1002,
  // The id names nothing (never existed, or its channel is gone); a ticket that was
  // never issued.
  SB_E_NOT_FOUND = 1003,
  // The ticket was already answered (or its request freed unanswered).
  SB_E_ALREADY_ANSWERED = 1004,
  // The ticket's request is no longer awaited: it timed out before the answer (the
  // channel already failed) or its connection ended. Also every older ended ticket whose
  // slot was reused, except the last 4096 answered ones (`SB_E_ALREADY_ANSWERED`).
  SB_E_STALE_TICKET = 1005,
  // A wait ended without the awaited condition.
  SB_E_TIMEOUT = 1006,
  // A Rust panic was caught at the boundary; the last error holds its message.
  SB_E_PANIC = 1007,
  // An earlier panic left this endpoint in an unknown state; only `sb_endpoint_free` is allowed.
  SB_E_POISONED = 1008,
  // The caller was compiled against an incompatible `SB_ABI_VERSION`.
  SB_E_ABI_MISMATCH = 1009,
  // An operating-system error (cannot bind the address, cannot start threads, ...).
  SB_E_IO = 1010,
  // A message cannot be encoded (a non-object push payload under vsn 2, binary under vsn 1,
  // a binary field over 255 bytes, ...).
  SB_E_ENCODE = 1011,
  // A frame cannot be decoded (malformed JSON, wrong shape, truncated binary frame, ...).
  SB_E_DECODE = 1012,
  // The call does not fit the object's state (starting an endpoint twice, asking the port of
  // an endpoint that is not listening, ...).
  SB_E_INVALID_STATE = 1013,
  // A JSON input (payload or ref) is not valid JSON.
  SB_E_INVALID_JSON = 1014,
  // Local delivery happened but forwarding to other nodes failed.
  SB_E_BROKER = 1015,
  // A bounded queue is full: the channel's inbox (the channel crashes) or the host request
  // queue (`max_pending`).
  SB_E_QUEUE_FULL = 1016,
  // A presence call was refused: the key is already tracked by this channel (track), or
  // not tracked (update).
  SB_E_PRESENCE = 1017,
  // The answer does not fit the request (e.g. a reply to a join, any answer to a leave);
  // the request stays pending.
  SB_E_WRONG_ANSWER = 1018,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum sb_status sb_status;
#else
typedef uint32_t sb_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// How a payload travels: JSON text or raw binary (Phoenix `{:binary, data}`).
enum sb_payload_kind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // Raw JSON text (UTF-8). Pushes and broadcasts need a JSON object.
  SB_PAYLOAD_KIND_JSON = 1,
  // Raw bytes, carried by V2 binary frames only.
  SB_PAYLOAD_KIND_BINARY = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum sb_payload_kind sb_payload_kind;
#else
typedef uint32_t sb_payload_kind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// The serializer a connection negotiated from its `vsn` query parameter (PROTOCOL.md 1.2).
enum sb_vsn
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // `vsn=1.0.0` (or none): V1 JSON objects, no binary frames.
  SB_VSN_V1 = 1,
  // `vsn=2.0.0`: V2 JSON arrays plus binary frames (what phoenix.js 1.8 uses).
  SB_VSN_V2 = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum sb_vsn sb_vsn;
#else
typedef uint32_t sb_vsn;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// What an `sb_request` asks (`sb_request_get_kind` returns one of these values). Values are
// part of the ABI.
enum sb_request_kind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // Phoenix `connect/3` (only with `sb_config_set_host_connect`): answer with
  // `sb_connect_ok` / `sb_connect_refuse` (or `sb_reply` OK / ERROR). Payload: the
  // connect params as a JSON object.
  SB_REQUEST_KIND_CONNECT = 1,
  // Phoenix `join/3`: answer with `sb_join_ok` / `sb_join_error` (or `sb_reply` OK /
  // ERROR). Payload: the join params.
  SB_REQUEST_KIND_JOIN = 2,
  // Phoenix `handle_in/3`, a client push: answer with `sb_reply` (OK, ERROR, NOREPLY,
  // STOP), `sb_reply_status` or `sb_stop`.
  SB_REQUEST_KIND_HANDLE_IN = 3,
  // Phoenix `handle_info/2`: a broadcast on a topic the channel subscribed to
  // (`sb_channel_subscribe`; event and payload are the broadcast's) or a message from
  // `sb_channel_send_info` (no event; payload is the JSON message). Answer NOREPLY or
  // STOP.
  SB_REQUEST_KIND_HANDLE_INFO = 4,
  // Phoenix `handle_out/3`: an intercepted broadcast (`sb_config_add_intercept`). It
  // reaches the client only if the host pushes it (`sb_push`) before answering NOREPLY.
  SB_REQUEST_KIND_HANDLE_OUT = 5,
  // Phoenix `terminate/2`: the channel ended (`sb_request_reason` says why). No ticket, no
  // answer: drop the state kept for that channel id, then free the request. When the
  // channel ended with `phx_close` (reason `left`, `stop:normal`, `stop:shutdown:*`), the
  // core waits until the request is freed (at most the request timeout) before it forgets
  // the channel, and until then `sb_push`, `sb_channel_reply` and `sb_channel_broadcast`
  // still work on its id: what they send arrives after `phx_close`, as pushes from a
  // Phoenix `terminate` do. Other actions, and all actions after a crash or a
  // connection end, give `SB_E_NOT_FOUND`. So free `LEAVE` requests promptly.
  SB_REQUEST_KIND_LEAVE = 6,
  // An HTTP request on a route added with `sb_config_add_http_route`: read it with
  // `sb_request_http_method` / `_path` / `_query` / `_content_type` and `sb_request_payload`
  // (the body, `SB_PAYLOAD_KIND_BINARY`), answer with `sb_http_respond`. Unanswered within
  // the request timeout: 504; freed unanswered: 500.
  SB_REQUEST_KIND_HTTP = 7,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum sb_request_kind sb_request_kind;
#else
typedef uint32_t sb_request_kind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// How to answer a request with `sb_reply` (Phoenix callback return values).
enum sb_reply_kind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // `{:reply, {:ok, payload}, socket}`; for a join `{:ok, payload, socket}`; for a
  // connect `{:ok, socket}` (payload ignored).
  SB_REPLY_KIND_OK = 1,
  // `{:reply, {:error, payload}, socket}`; for a join `{:error, payload}`; for a connect
  // `:error` (HTTP 403, payload ignored).
  SB_REPLY_KIND_ERROR = 2,
  // `{:noreply, socket}` (payload ignored).
  SB_REPLY_KIND_NOREPLY = 3,
  // `{:stop, :normal, socket}`: the client gets `phx_close` (payload ignored).
  SB_REPLY_KIND_STOP = 4,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum sb_reply_kind sb_reply_kind;
#else
typedef uint32_t sb_reply_kind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// The reason of `sb_stop` (Phoenix `{:stop, reason, socket}`).
enum sb_stop_kind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // `:normal`: `phx_close`, the client does not rejoin.
  SB_STOP_KIND_NORMAL = 1,
  // `{:shutdown, reason}`: `phx_close`, no rejoin.
  SB_STOP_KIND_SHUTDOWN = 2,
  // Any other reason: `phx_error`, the client rejoins.
  SB_STOP_KIND_ABNORMAL = 3,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum sb_stop_kind sb_stop_kind;
#else
typedef uint32_t sb_stop_kind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// Severity of a log line, most severe first (tracing's levels).
enum sb_log_level
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // Something failed (a file could not be read, a connection task died).
  SB_LOG_LEVEL_ERROR = 1,
  // Something unexpected that the library handled (a static file not found, a bad frame).
  SB_LOG_LEVEL_WARN = 2,
  // Lifecycle: listening, draining, shut down.
  SB_LOG_LEVEL_INFO = 3,
  // Per-connection detail.
  SB_LOG_LEVEL_DEBUG = 4,
  // Per-frame detail; costly.
  SB_LOG_LEVEL_TRACE = 5,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum sb_log_level sb_log_level;
#else
typedef uint32_t sb_log_level;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// An encoded frame body (opaque), owned by the caller; free with `sb_buffer_free`. Send it
// as a WebSocket text frame unless `sb_buffer_is_binary` says binary.
typedef struct sb_buffer sb_buffer;

// Endpoint configuration under construction (opaque). Created by `sb_config_new`, freed by
// `sb_config_free`. Not thread-safe: use one config from one thread at a time.
typedef struct sb_config sb_config;

// A Switchboard endpoint hosted from C (opaque): the core's queue-hosted endpoint (its config,
// the hub with PubSub and presence, the host queue) and the runtime that serves WebSocket
// connections. All functions taking a `const sb_endpoint *` are safe to call from any thread
// concurrently; only `sb_endpoint_free` needs exclusive access.
typedef struct sb_endpoint sb_endpoint;

// One Phoenix message (opaque): topic, event, payload and the optional join_ref and ref.
// Returned by `sb_decode_text`, `sb_decode_binary` and `sb_subscription_poll`; owned by the
// caller and freed with `sb_message_free`. It may move to another thread but must not be
// used from two threads at once.
typedef struct sb_message sb_message;

// One host request (opaque) from `sb_endpoint_poll`, owned by the caller. It may move to another
// thread but must not be used from two threads at once. Free it with `sb_request_free`, after
// answering its ticket (a request freed unanswered counts as a crash of that handler: the
// join gets `{"reason":"join crashed"}`, the channel `phx_error`, a connect HTTP 500).
typedef struct sb_request sb_request;

// A host-side subscription (opaque) from `sb_subscribe`; free with `sb_subscription_free`,
// which unsubscribes. Safe to use from any thread; it may outlive its endpoint (it then receives
// nothing more).
typedef struct sb_subscription sb_subscription;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Pushes `event` with `payload` to the client of channel `channel_id` only (Phoenix
// `push/3`). Made while the join is being answered, it is sent right after the `ok` join
// reply (dropped if the join is refused).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
// event, unknown `payload_kind`), `SB_E_INVALID_JSON`, `SB_E_NOT_FOUND` (the channel ended),
// `SB_E_ENCODE` (non-object JSON payload, binary to a V1 client), `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_push(const sb_endpoint *endpoint, uint64_t channel_id, const uint8_t *event, size_t event_len, const uint8_t *payload, size_t payload_len, uint32_t payload_kind);

// Replies later to a message the host answered with NOREPLY (Phoenix
// `reply(socket_ref, {status, payload})`): `[join_ref, ref, topic, "phx_reply",
// {"status": status, "response": payload}]` to the channel's client. `ref` is the message's
// ref as `sb_request_ref` returned it (raw JSON); `status` UTF-8 text such as `"ok"`.
//
// Statuses: as `sb_push`, plus `SB_E_INVALID_ARGUMENT` for a NULL/empty or JSON-null `ref`.
SB_API SB_MUST_USE sb_status sb_channel_reply(const sb_endpoint *endpoint, uint64_t channel_id, const uint8_t *ref, size_t ref_len, const uint8_t *status, size_t status_len, const uint8_t *payload, size_t payload_len, uint32_t payload_kind);

// Broadcasts on the channel's topic from the channel (Phoenix `broadcast/3` inside a
// channel); with `skip_self` true the sending channel's client does not get it (Phoenix
// `broadcast_from/3`).
//
// Statuses: as `sb_push` (plus `SB_E_BROKER`).
SB_API SB_MUST_USE sb_status sb_channel_broadcast(const sb_endpoint *endpoint, uint64_t channel_id, bool skip_self, const uint8_t *event, size_t event_len, const uint8_t *payload, size_t payload_len, uint32_t payload_kind);

// Sends the channel a message (Phoenix `send(self(), msg)`): it comes back as a
// `HandleInfo` event, in order with the channel's other requests, with `message` (any JSON
// value) as its payload.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_JSON`,
// `SB_E_NOT_FOUND`, `SB_E_ENCODE` (the channel's inbox is full), `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_channel_send_info(const sb_endpoint *endpoint, uint64_t channel_id, const uint8_t *message, size_t message_len);

// Subscribes the channel to another `topic` (Phoenix `Endpoint.subscribe/1` inside a
// channel): broadcasts there arrive as `HandleInfo` requests. Unsubscribed when the channel
// ends.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
// topic), `SB_E_NOT_FOUND`, `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_channel_subscribe(const sb_endpoint *endpoint, uint64_t channel_id, const uint8_t *topic, size_t topic_len);

// Undoes `sb_channel_subscribe`; `*out_was_subscribed` (optional) tells whether it was.
//
// Statuses: as `sb_channel_subscribe`.
SB_API SB_MUST_USE sb_status sb_channel_unsubscribe(const sb_endpoint *endpoint, uint64_t channel_id, const uint8_t *topic, size_t topic_len, bool *out_was_subscribed);

// Tracks presence `key` (UTF-8, e.g. a user id) with `meta` (a JSON object) on the
// channel's topic, owned by the channel (Phoenix `Presence.track(socket, key, meta)`):
// untracked automatically when the channel ends; clients get a `presence_diff`.
// `*out_phx_ref` (optional) gets a new `sb_buffer` with the minted `phx_ref` text (free it).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (meta
// not an object), `SB_E_INVALID_JSON`, `SB_E_NOT_FOUND`, `SB_E_ENCODE`, `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_presence_track(const sb_endpoint *endpoint, uint64_t channel_id, const uint8_t *key, size_t key_len, const uint8_t *meta, size_t meta_len, sb_buffer **out_phx_ref);

// Replaces the meta of the channel's presence `key` (Phoenix `Presence.update/3`); a new
// `phx_ref` is minted (`*out_phx_ref`, optional, as in `sb_presence_track`).
//
// Statuses: as `sb_presence_track`.
SB_API SB_MUST_USE sb_status sb_presence_update(const sb_endpoint *endpoint, uint64_t channel_id, const uint8_t *key, size_t key_len, const uint8_t *meta, size_t meta_len, sb_buffer **out_phx_ref);

// Stops tracking the channel's presence `key` (Phoenix `Presence.untrack/2`).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_NOT_FOUND`,
// `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_presence_untrack(const sb_endpoint *endpoint, uint64_t channel_id, const uint8_t *key, size_t key_len);

// The presences of the channel's topic as JSON text in Phoenix's `presence_state` shape
// (`{"key": {"metas": [{..., "phx_ref": "..."}]}}`, `Presence.list/1`), in a new
// `sb_buffer` owned by the caller.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_NOT_FOUND`, `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_presence_list(const sb_endpoint *endpoint, uint64_t channel_id, sb_buffer **out);

// Frees a buffer. NULL is a no-op; `sb_buffer_data` pointers become invalid.
SB_API void sb_buffer_free(sb_buffer *buffer);

// The frame bytes, borrowed until `sb_buffer_free`; NULL when `buffer` is NULL.
SB_API const uint8_t *sb_buffer_data(const sb_buffer *buffer);

// The frame length in bytes; 0 when `buffer` is NULL.
SB_API size_t sb_buffer_len(const sb_buffer *buffer);

// True when the frame must go out as a WebSocket binary frame, false for a text frame (always
// valid UTF-8) or a NULL `buffer`.
SB_API bool sb_buffer_is_binary(const sb_buffer *buffer);

// Decodes a client text frame under `vsn` (an `sb_vsn` value): V2 `[join_ref, ref, topic,
// event, payload]` or a V1 object. Payload and refs keep their exact JSON text.
//
// Ownership: `data` is borrowed for the call; `*out` is a new `sb_message` owned by the caller.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (unknown `vsn`),
// `SB_E_DECODE` (malformed JSON or UTF-8, wrong shape; Phoenix closes the socket on these).
SB_API SB_MUST_USE sb_status sb_decode_text(uint32_t vsn, const uint8_t *data, size_t len, sb_message **out);

// Decodes a client binary frame (V2 kind 0 push, PROTOCOL.md 2.3). Its refs come back as
// JSON strings and its payload with kind `SB_PAYLOAD_KIND_BINARY`.
//
// Ownership as `sb_decode_text`. Statuses: `SB_OK`, `SB_E_NULL_POINTER`,
// `SB_E_INVALID_ARGUMENT` (unknown `vsn`), `SB_E_DECODE` (V1 has no binary frames, unknown
// kind, truncated frame, non-UTF-8 field).
SB_API SB_MUST_USE sb_status sb_decode_binary(uint32_t vsn, const uint8_t *data, size_t len, sb_message **out);

// Encodes a server push on a joined channel (Phoenix `push/3`): `[join_ref, null, topic,
// event, payload]` in V2, `{"event","payload","ref":null,"topic"}` in V1, or a V2 binary
// kind-0 frame for a binary payload. `join_ref` is raw JSON as `sb_message_join_ref` returns
// it, or NULL/0 for none (V1 never carries it).
//
// Ownership: inputs borrowed for the call; `*out` is a new `sb_buffer` owned by the caller.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (unknown
// `vsn` or `payload_kind`, empty topic or event, JSON null ref), `SB_E_INVALID_JSON`,
// `SB_E_ENCODE` (non-object JSON under V2, binary under V1, binary field over 255 bytes).
SB_API SB_MUST_USE sb_status sb_encode_push(uint32_t vsn, const uint8_t *join_ref, size_t join_ref_len, const uint8_t *topic, size_t topic_len, const uint8_t *event, size_t event_len, const uint8_t *payload, size_t payload_len, uint32_t payload_kind, sb_buffer **out);

// Encodes a broadcast frame as every subscriber of `topic` receives it (Phoenix fastlane):
// `[null, null, topic, event, payload]` in V2, or a V2 binary kind-2 frame. Same statuses and
// ownership as `sb_encode_push`.
SB_API SB_MUST_USE sb_status sb_encode_broadcast(uint32_t vsn, const uint8_t *topic, size_t topic_len, const uint8_t *event, size_t event_len, const uint8_t *payload, size_t payload_len, uint32_t payload_kind, sb_buffer **out);

// Encodes a `phx_reply` to the push `ref` on the channel `join_ref` (Phoenix
// `{:reply, {status, response}, socket}`): `[join_ref, ref, topic, "phx_reply",
// {"status": status, "response": response}]` in V2 (`join_ref` dropped in V1), or a V2
// binary kind-1 frame for a binary response. `status` is UTF-8 text such as `"ok"` or
// `"error"`; the response may be any JSON value. Refs as in `sb_encode_push` (NULL/0 = none).
// Same statuses and ownership as `sb_encode_push`, except that a non-object JSON response is
// accepted.
SB_API SB_MUST_USE sb_status sb_encode_reply(uint32_t vsn, const uint8_t *join_ref, size_t join_ref_len, const uint8_t *ref, size_t ref_len, const uint8_t *topic, size_t topic_len, const uint8_t *status, size_t status_len, const uint8_t *response, size_t response_len, uint32_t response_kind, sb_buffer **out);

// Creates a configuration with every default: bind `127.0.0.1:0`, node
// `"switchboard@localhost"`, one socket mount at `/socket` (unless `sb_config_add_socket`
// adds others), shards and worker threads 0 (= one per core), max channels 100, request
// timeout 10 000 ms, idle timeout 60 000 ms, max frame 64 KiB, outbox 1 024 frames / 8 MiB,
// no origin check, auth token decoding on, drain batches of 10 000 every 2 000 ms within
// 30 000 ms (Phoenix's defaults where Phoenix has one).
//
// Ownership: `*out` is owned by the caller; free it with `sb_config_free`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`out`).
SB_API SB_MUST_USE sb_status sb_config_new(sb_config **out);

// Frees a configuration. NULL is a no-op. An endpoint created from it keeps its own copy.
SB_API void sb_config_free(sb_config *config);

// Sets the listen address, `host:port` text such as `"127.0.0.1:4000"`, `"[::1]:0"` or
// `"localhost:4000"` (UTF-8, `len` bytes, no NUL needed). A host name is resolved by
// `sb_endpoint_new` (its first address). Port 0 picks a free port; read it back with
// `sb_endpoint_local_port`.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
// (not `host:port`). `sb_endpoint_new` gives `SB_E_INVALID_ARGUMENT` for a name that does not
// resolve.
SB_API SB_MUST_USE sb_status sb_config_set_bind_address(sb_config *config, const uint8_t *addr, size_t len);

// Sets this node's name for presence (`phx_ref`s are unique per node). Non-empty UTF-8.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty).
SB_API SB_MUST_USE sb_status sb_config_set_node_name(sb_config *config, const uint8_t *name, size_t len);

// Adds a socket mount at `path` (e.g. `"/socket"`); its WebSocket transport is served at
// `<path>/websocket`, like Phoenix `socket "/socket", UserSocket`. The mount uses the
// limits of this config (see `sb_config_add_socket_with_limits` for limits of its own).
// Without any call, one mount at `/socket` is used.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (must
// start with `/`, must not end with `/`, none of `{}?#*`, not added twice).
SB_API SB_MUST_USE sb_status sb_config_add_socket(sb_config *config, const uint8_t *path, size_t len);

// Adds a socket mount at `path` like `sb_config_add_socket`, but with the per-connection
// limits of `limits` instead of `config`'s: max channels, idle timeout, max frame size,
// outbox limits, check_origin and auth_token, as set on `limits` with the same setters
// (Phoenix: each `socket` declaration has its own options). They are copied now: `limits`
// may be changed or freed afterwards; its other settings are ignored.
//
// Statuses: as `sb_config_add_socket`; `SB_E_NULL_POINTER` also for `limits`.
SB_API SB_MUST_USE sb_status sb_config_add_socket_with_limits(sb_config *config, const uint8_t *path, size_t len, const sb_config *limits);

// Channels one connection may have joined at once (Phoenix `max_channels_per_transport`,
// default 100). A join beyond it is answered `{"reason":"too many channels joined"}`.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0, or over `SIZE_MAX`).
SB_API SB_MUST_USE sb_status sb_config_set_max_channels(sb_config *config, uint64_t max);

// How long one host request (join, handle_in, ...) may stay unanswered before its channel
// fails with `phx_error`, in milliseconds (default 10 000).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0).
SB_API SB_MUST_USE sb_status sb_config_set_request_timeout_ms(sb_config *config, uint64_t ms);

// Closes a connection that sent no frame (data, ping or pong) for `ms` milliseconds (default
// 60 000, Phoenix `timeout`), with close code 1001.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0).
SB_API SB_MUST_USE sb_status sb_config_set_idle_timeout_ms(sb_config *config, uint64_t ms);

// Largest accepted WebSocket frame or message in bytes (default 65 536); a bigger one
// closes the connection with 1009, as Cowboy does.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0, or over `SIZE_MAX`).
SB_API SB_MUST_USE sb_status sb_config_set_max_frame_bytes(sb_config *config, uint64_t bytes);

// Outbound queue limits per connection: `max_frames` frames (default 1 024) and `max_bytes`
// bytes of frame bodies (default 8 MiB). Exceeding either drops the queue and closes the
// connection with 1013 (the slow-consumer policy; the client reconnects).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (a 0, or over `SIZE_MAX`).
SB_API SB_MUST_USE sb_status sb_config_set_outbox_limits(sb_config *config, uint64_t max_frames, uint64_t max_bytes);

// Adds an allowed `Origin` (Phoenix `check_origin`): `scheme://host[:port]`,
// `//host[:port]` (any scheme), with `host` optionally starting with `*.` for every
// subdomain. Once one origin is added, upgrades whose `Origin` matches none get HTTP 403;
// requests without an `Origin` header are always accepted. Default (no origin added): the
// request's own host (`sb_config_set_bool(config, "check_origin", true)`); `false` there
// turns the check off (docs/OPTIONS.md).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty).
SB_API SB_MUST_USE sb_status sb_config_add_check_origin(sb_config *config, const uint8_t *origin, size_t len);

// Whether the `base64url.bearer.phx.<token>` WebSocket subprotocol is decoded into the
// connection's auth token (default true), as Phoenix's `auth_token` socket option.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_config_set_auth_token(sb_config *config, bool enabled);

// PubSub and presence shards (default 0 = one per available core).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (over 65 536).
SB_API SB_MUST_USE sb_status sb_config_set_shard_count(sb_config *config, uint32_t shards);

// Worker threads of the endpoint's runtime (default 0 = one per available core).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (over 1 024).
SB_API SB_MUST_USE sb_status sb_config_set_worker_threads(sb_config *config, uint32_t threads);

// How `sb_endpoint_drain` / `sb_endpoint_shutdown` close connections (Phoenix `drainer`):
// batches of `batch_size` connections (default 10 000) every `batch_interval_ms` (default
// 2 000), within `timeout_ms` in total (default 30 000). The drain's grace is set here rather
// than per call because the core fixes it when the endpoint starts.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (`batch_size` 0 or over
// `SIZE_MAX`).
SB_API SB_MUST_USE sb_status sb_config_set_drain(sb_config *config, uint64_t batch_size, uint64_t batch_interval_ms, uint64_t timeout_ms);

// Routes topics matching `pattern` (`"room:*"`: every topic starting with `room:`; otherwise
// the exact topic) on every socket mount to this endpoint's host queue (Phoenix `channel
// "room:*", RoomChannel`): joins, client pushes and channel messages become `sb_request`s.
// The first matching pattern wins; a topic without one is refused with
// `{"reason":"unmatched topic"}`.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty,
// or added twice).
SB_API SB_MUST_USE sb_status sb_config_add_channel(sb_config *config, const uint8_t *pattern, size_t len);

// Keeps the last `size` broadcasts of the topics matching `pattern` (as channel patterns,
// e.g. `"room:*"`), each for at most `ttl_ms` milliseconds, so that a client rejoining with
// `"_since"` in its params gets what it missed (docs/HISTORY.md). Presence and `phx_*`
// events are never kept. The first matching pattern wins.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (an
// invalid pattern, one added twice, `size` outside 1 to 1,000,000, `ttl_ms` 0 or above
// 2^53). `sb_endpoint_new` gives `SB_E_INVALID_ARGUMENT` with a cluster broker (history is
// kept on a single node for now).
SB_API SB_MUST_USE sb_status sb_config_add_history(sb_config *config, const uint8_t *pattern, size_t pattern_len, uint64_t size, uint64_t ttl_ms);

// Serves the file at `path` for HTTP `GET route` (and `HEAD`) on the endpoint's port, with the
// `Content-Type` `content_type`, for hosts without an HTTP server of their own (e.g.
// `"/"`, `"examples/chat/index.html"`, `"text/html; charset=utf-8"`). The file is read on
// every request (edits show without a restart): 404 when it is missing, 500 when it cannot
// be read. A relative `path` is relative to the process's working directory at request
// time, so prefer absolute paths.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
// (`route` not a literal absolute path such as `/app.js`, i.e. not starting with `/` or
// containing `{`, `}`, `*`, `?` or `#`; a route added twice; an empty `path`; a
// `content_type` that is empty or not a valid header value). `sb_endpoint_start` gives
// `SB_E_INVALID_ARGUMENT` when a route is also a socket route (`<mount>/websocket`).
SB_API SB_MUST_USE sb_status sb_config_add_static_file(sb_config *config, const uint8_t *route, size_t route_len, const uint8_t *path, size_t path_len, const uint8_t *content_type, size_t content_type_len);

// Intercepts `event` on the channels of `pattern` (added before with
// `sb_config_add_channel`; Phoenix `intercept ["event"]`): its broadcasts on the channel
// topic become `HandleOut` requests instead of going straight to each client.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
// event), `SB_E_NOT_FOUND` (no such pattern was added).
SB_API SB_MUST_USE sb_status sb_config_add_intercept(sb_config *config, const uint8_t *pattern, size_t pattern_len, const uint8_t *event, size_t event_len);

// Whether WebSocket upgrades become `Connect` requests for the host to accept or refuse
// (Phoenix `connect/3`; default false: every connection is accepted with empty assigns and
// no socket id). Unanswered within the request timeout, an upgrade is refused with 503.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_config_set_host_connect(sb_config *config, bool enabled);

// Requests with a ticket that may be pending at once, polled or not (default 65 536). A
// request beyond it fails at once: a join gets `{"reason":"join crashed"}`, a message
// crashes its channel, a connect gets 503.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (0, or over `SIZE_MAX`).
SB_API SB_MUST_USE sb_status sb_config_set_max_pending(sb_config *config, uint64_t max);

// Sets the option `name` (UTF-8, `name_len` bytes; docs/OPTIONS.md lists every option, its
// unit and default) to an integer, e.g. `"header_read_timeout_ms"`, `"max_header_bytes"`,
// `"max_pending_connections"`, `"close_timeout_ms"`. The typed setters above are shorthands
// for these. Mount options set here are the default of every mount.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
// (unknown name, with the closest known one in the last error; not an integer option; out of
// range).
SB_API SB_MUST_USE sb_status sb_config_set_int(sb_config *config, const uint8_t *name, size_t name_len, int64_t value);

// Sets the boolean option `name` (see `sb_config_set_int`), e.g. `"auth_token"`.
//
// Statuses: as `sb_config_set_int`.
SB_API SB_MUST_USE sb_status sb_config_set_bool(sb_config *config, const uint8_t *name, size_t name_len, bool value);

// Sets the text option `name` (see `sb_config_set_int`) to `value` (UTF-8, `value_len`
// bytes), e.g. `"host"`, `"node"`, `"bind"`.
//
// Statuses: as `sb_config_set_int`.
SB_API SB_MUST_USE sb_status sb_config_set_text(sb_config *config, const uint8_t *name, size_t name_len, const uint8_t *value, size_t value_len);

// Creates an endpoint from a copy of `config` (the caller may free `config` right away) and starts
// its runtime threads; it does not listen yet (`sb_endpoint_start`).
//
// `abi_version`: pass `SB_ABI_VERSION` from the header you compiled against; a library with
// another ABI refuses with `SB_E_ABI_MISMATCH` (zlib's version check).
//
// Ownership: `*out` is owned by the caller; free it with `sb_endpoint_free`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`config`, `out`), `SB_E_ABI_MISMATCH`, `SB_E_IO`
// (threads could not be started), `SB_E_INVALID_ARGUMENT` (the bind host name does not
// resolve).
SB_API SB_MUST_USE sb_status sb_endpoint_new(const sb_config *config, uint32_t abi_version, sb_endpoint **out);

// Frees an endpoint. NULL is a no-op. An endpoint that was not shut down has its connections
// dropped without a close frame. Joins every thread of the endpoint before returning;
// afterwards no callback of this endpoint runs again. Subscriptions of this endpoint stay
// valid to free but receive nothing more. Must not be called from a callback of this library.
SB_API void sb_endpoint_free(sb_endpoint *endpoint);

// Binds the configured address and starts serving the socket mounts; returns once listening.
// Blocks the calling thread for the bind, and in a cluster (option `broker`) first until the
// broker answers (at most `broker_connect_timeout_ms`; unreachable, it starts alone and keeps
// retrying) and then 1.5 `broker_heartbeat_ms` while it listens for a namesake. Must not be
// called from a callback of this library.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_STATE` (already started or shut
// down), `SB_E_IO` (cannot bind: address in use, no permission), `SB_E_INVALID_ARGUMENT`
// (a static file route that is also a socket route), `SB_E_BROKER` (another live process
// has this node name, docs/CLUSTER.md "Node identity"), `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_start(const sb_endpoint *endpoint);

// Writes the TCP port the endpoint listens on to `*out_port` (the real one when bound to port 0).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_STATE` (not started, or shut down),
// `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_local_port(const sb_endpoint *endpoint, uint16_t *out_port);

// Stops accepting WebSocket connections (new upgrades get HTTP 503) and closes every live
// one with 1012 in batches, as Phoenix's drainer, per `sb_config_set_drain`; their channels
// terminate. Blocks until every connection finished or the drain timeout passed, then
// writes the connections still open to `*out_remaining` (optional: may be NULL).
// Idempotent; the endpoint keeps serving nothing new afterwards but actions still work.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`endpoint`), `SB_E_INVALID_STATE` (not started, or shut
// down), `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_drain(const sb_endpoint *endpoint, size_t *out_remaining);

// Drains (see `sb_endpoint_drain`), then stops the HTTP listener and waits for it. Blocks the
// calling thread. Idempotent: later calls, and a call on an endpoint that was never started,
// return `SB_OK` at once.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_IO` (the server failed while stopping),
// `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_shutdown(const sb_endpoint *endpoint);

// Broadcasts `event` with `payload` to every subscriber of `topic` on every node (Phoenix
// `Endpoint.broadcast/3`): joined clients get the frame, host subscriptions get the message.
//
// `topic`, `event`: UTF-8, borrowed for the call. `payload`: `payload_len` bytes, a JSON
// object when `payload_kind` is `SB_PAYLOAD_KIND_JSON` or raw bytes for
// `SB_PAYLOAD_KIND_BINARY` (sent as a V2 binary broadcast frame; V1 clients cannot receive it);
// copied once and shared by every subscriber. `*out_delivered` (optional, may be NULL) gets
// the number of local subscribers reached.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_STATE` (before
// `sb_endpoint_start`, like Phoenix's broadcast without a running endpoint; after
// `sb_endpoint_shutdown` broadcasts still work, so that a terminate may broadcast), `SB_E_INVALID_ARGUMENT` (unknown `payload_kind`, empty topic or event),
// `SB_E_INVALID_JSON`, `SB_E_ENCODE` (JSON that is not an object; binary with topic or event
// over 255 bytes), `SB_E_BROKER`, `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_broadcast(const sb_endpoint *endpoint, const uint8_t *topic, size_t topic_len, const uint8_t *event, size_t event_len, const uint8_t *payload, size_t payload_len, uint32_t payload_kind, size_t *out_delivered);

// Like `sb_broadcast`, but only this node's subscribers (Phoenix
// `Endpoint.local_broadcast/3`). Same arguments and statuses.
SB_API SB_MUST_USE sb_status sb_local_broadcast(const sb_endpoint *endpoint, const uint8_t *topic, size_t topic_len, const uint8_t *event, size_t event_len, const uint8_t *payload, size_t payload_len, uint32_t payload_kind, size_t *out_delivered);

// Closes every connection whose socket id is `socket_id` (UTF-8) with close code 1001, on
// every node: a `"disconnect"` broadcast on that id, as Phoenix's
// `Endpoint.broadcast(socket_id, "disconnect", %{})`. `*out_delivered` (optional) gets the
// local subscribers reached.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_STATE` (as
// `sb_broadcast`), `SB_E_INVALID_ARGUMENT` (empty id), `SB_E_BROKER`, `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_disconnect(const sb_endpoint *endpoint, const uint8_t *socket_id, size_t socket_id_len, size_t *out_delivered);

// Writes to `*out_count` how many channels are joined to `topic` (UTF-8, exact topic) on
// this node, over all connections: what a control route or a health check reports.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_channel_count(const sb_endpoint *endpoint, const uint8_t *topic, size_t topic_len, size_t *out_count);

// Reads `topic`'s history (docs/HISTORY.md "Host API") into a new `sb_buffer` owned by the
// caller, as JSON object text `{"messages": [{"position", "event", "payload"}...],
// "position": <latest or null>, "recovered": <bool>, "reason"?: <text>}`, oldest first: the
// first `limit` messages after the position `since` (UTF-8; NULL with length 0 for none),
// or without `since` the latest `limit`; `limit` 0 reads every kept message. A binary
// payload comes as `"binary": "<base64>"`. `recovered` is false (with `reason`
// `unknown_epoch`, `unknown_position` or `trimmed`) when the messages do not follow `since`
// without a gap; the latest kept ones are given then. Readable in every endpoint phase.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
// topic, a topic no history rule matches, `since` not a position), `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_history(const sb_endpoint *endpoint, const uint8_t *topic, size_t topic_len, const uint8_t *since, size_t since_len, size_t limit, sb_buffer **out);

// Writes the endpoint's metrics (docs/OPERATIONS.md "Metrics") into a new `sb_buffer`
// owned by the caller, as text in the Prometheus text format 0.0.4 — what option
// `metrics_path` serves over HTTP — for an application that exports its own metrics.
// Readable in every endpoint phase (connections count 0 before start and after close).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_metrics(const sb_endpoint *endpoint, sb_buffer **out);

// Writes what the endpoint holds now (docs/OPERATIONS.md "Introspection") into a new
// `sb_buffer` owned by the caller, as JSON object text: `{"node", "connections":
// {"websocket", "longpoll"}, "channels", "topics": [{"topic", "subscribers", "channels"}],
// "presence": [{"topic", "entries"}], "cluster": null | {"broker", "up", "nodes": [{"node",
// "incarnation", "last_heartbeat_ms"}]}}`. Readable in every endpoint phase.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_census(const sb_endpoint *endpoint, sb_buffer **out);

// Routes HTTP requests under `prefix` (e.g. `"/api"`: `/api` and every path below it, any
// method; `"/"`: every path no socket mount or static file takes) to the host as
// `SB_REQUEST_KIND_HTTP` requests. Bodies over 1 MiB get 413 without reaching the host; an
// answer later than the request timeout gives 504, a request freed unanswered 500.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (not
// an absolute literal path: must start with `/`, must not end with `/` unless it is `/`,
// none of `{}*?#`; added twice). `sb_endpoint_start` gives `SB_E_INVALID_ARGUMENT` when a prefix
// is also another route.
SB_API SB_MUST_USE sb_status sb_config_add_http_route(sb_config *config, const uint8_t *prefix, size_t len);

// The method of an `HTTP` request (`GET`, `POST`, ...; UTF-8); absent for other kinds.
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_http_method(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The path of an `HTTP` request, percent-encoded as sent (e.g. `/_test/log`); absent for
// other kinds. Borrowed and statuses as `sb_request_http_method`.
SB_API SB_MUST_USE sb_status sb_request_http_path(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The route prefix of an `HTTP` request, as registered with `sb_config_add_http_route`: the
// core picked the most specific one that is the path or a parent of it. Absent for other
// kinds. Borrowed and statuses as `sb_request_http_method`.
SB_API SB_MUST_USE sb_status sb_request_http_prefix(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The query string of an `HTTP` request without the `?`, percent-encoded as sent (empty when
// there is none); absent for other kinds. Borrowed and statuses as `sb_request_http_method`.
SB_API SB_MUST_USE sb_status sb_request_http_query(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The `Content-Type` of an `HTTP` request's body; absent when not sent (or for other kinds).
// Borrowed and statuses as `sb_request_http_method`.
SB_API SB_MUST_USE sb_status sb_request_http_content_type(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// Answers an `HTTP` request: `status` (100-999), `content_type` (UTF-8; NULL/0 for none) and
// `body_len` bytes of `body` (copied; NULL/0 for an empty body). Any thread, once, before
// the request timeout.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT`
// (`status` outside 100-999, a `content_type` that is not a valid header value),
// `SB_E_WRONG_ANSWER` (a ticket that is not an HTTP request: it stays pending),
// `SB_E_NOT_FOUND`, `SB_E_ALREADY_ANSWERED`,
// `SB_E_STALE_TICKET` (as `sb_reply`), `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_http_respond(const sb_endpoint *endpoint, uint64_t ticket, uint16_t status, const uint8_t *content_type, size_t content_type_len, const uint8_t *body, size_t body_len);

// Routes the library's log events to `cb` (process-wide: every endpoint): `cb(user_data, level,
// target, target_len, message, message_len)` for each event at `max_level` (an
// `sb_log_level`) or more severe. `level` is an `sb_log_level`; `target` is the emitting
// module (e.g. `switchboard::endpoint::static_files`) and `message` the text with its fields
// (`static file not found path=/srv/app.js`), both UTF-8, not NUL-terminated and borrowed for
// the call only. A NULL `cb` removes the callback (the library then logs nothing, the
// default); `max_level` is ignored then, and a `user_data_free` given with it runs at once.
//
// Threads: `cb` is called on the thread that logged — an endpoint worker thread or the caller of
// an `sb_*` function — possibly from several threads at once. It must be quick, must not
// block on the endpoint and must not call any `sb_*` function (the library may hold internal
// state while it logs); events logged while it runs on the same thread are dropped.
// `user_data_free(user_data)` (optional) runs exactly once, on any thread, after the callback
// was replaced or removed and its last running call returned. Safe to call at any time,
// from any thread.
//
// Statuses: `SB_OK`, `SB_E_INVALID_ARGUMENT` (unknown `max_level`; nothing changes),
// `SB_E_INVALID_STATE` (the library's log subscriber could not be installed).
SB_API SB_MUST_USE sb_status sb_set_log_callback(void (*cb)(void*, uint32_t, const uint8_t*, size_t, const uint8_t*, size_t), uint32_t max_level, void *user_data, void (*user_data_free)(void*));

// Frees a message. NULL is a no-op. Every pointer its getters returned becomes invalid.
SB_API void sb_message_free(sb_message *message);

// The message's topic, UTF-8, not NUL-terminated: `*out_ptr`/`*out_len` borrow from
// `message` until it is freed.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_message_topic(const sb_message *message, const uint8_t **out_ptr, size_t *out_len);

// The message's event (e.g. `"phx_join"`, `"new_msg"`), UTF-8, borrowed like
// `sb_message_topic`.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_message_event(const sb_message *message, const uint8_t **out_ptr, size_t *out_len);

// The payload bytes exactly as they travelled: raw JSON text, or the binary bytes (see
// `sb_message_payload_kind`). Borrowed like `sb_message_topic`; never parsed by the library.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_message_payload(const sb_message *message, const uint8_t **out_ptr, size_t *out_len);

// The payload's kind as a `sb_payload_kind` value; 0 when `message` is NULL.
SB_API uint32_t sb_message_payload_kind(const sb_message *message);

// The join_ref as the raw JSON text the client sent (normally a string with its quotes, e.g.
// `"1"`), borrowed like `sb_message_topic`. Absent (JSON null, or a broadcast) gives
// `*out_ptr = NULL` and `*out_len = 0` with `SB_OK`; a present ref is never empty.
// From a binary frame the ref comes back as a JSON string.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_message_join_ref(const sb_message *message, const uint8_t **out_ptr, size_t *out_len);

// The ref (the push's reference the reply must echo), same shape and rules as
// `sb_message_join_ref`.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_message_ref(const sb_message *message, const uint8_t **out_ptr, size_t *out_len);

// Like `sb_broadcast` (same `topic`, `event`, `payload_kind`, `out_delivered`, statuses), but
// the payload is not copied: the `len` bytes at `data` are handed to the library, shared by
// every subscriber, and given back with `release(release_ctx, data)` once the last of them
// is done with it.
//
// Ownership: unless `release` is NULL, the buffer belongs to the library from the call on,
// whatever the status: the caller must not write or free it until `release` runs. `release`
// runs exactly once: before this call returns when it fails (or the payload was encoded and
// nothing kept it), else later. Host subscriptions (`sb_subscribe`) keep it until their
// `sb_message` is freed; otherwise it runs at the latest before `sb_endpoint_free` returns.
// `data` may be NULL only when `len` is 0 (`release` still runs, with NULL).
//
// Threads: `release` may run on any thread — the caller's, an endpoint worker thread, or the
// thread freeing the last `sb_message` — and must not call any `sb_*` function or block.
//
// Statuses: those of `sb_broadcast`; `SB_E_NULL_POINTER` also for a NULL `release` (then
// the caller keeps the buffer and nothing is called).
SB_API SB_MUST_USE sb_status sb_broadcast_owned(const sb_endpoint *endpoint, const uint8_t *topic, size_t topic_len, const uint8_t *event, size_t event_len, uint8_t *data, size_t len, uint32_t payload_kind, void (*release)(void*, uint8_t*), void *release_ctx, size_t *out_delivered);

// Frees a request. NULL is a no-op. Freeing a request whose ticket was not answered answers
// it as a crash of that handler (see `sb_request`); pointers from its getters become invalid.
// Any thread.
SB_API void sb_request_free(sb_request *request);

// Answers the request `ticket` from any thread, at any time before its request timeout:
// `reply_kind` is an `sb_reply_kind` (OK, ERROR, NOREPLY, STOP; see there for what each
// means per request kind). `payload` (`payload_kind`: JSON any value, or binary) is the
// reply's response for OK / ERROR and the join reply for a join; copied. NULL/0 means `{}`
// (and is what NOREPLY and STOP usually pass).
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_ARGUMENT` (unknown `reply_kind` or
// `payload_kind`), `SB_E_WRONG_ANSWER` (an answer that does not fit, e.g. NOREPLY to a join;
// the request stays pending), `SB_E_INVALID_UTF8`, `SB_E_INVALID_JSON`, `SB_E_NOT_FOUND` (ticket 0 or never
// issued), `SB_E_ALREADY_ANSWERED` (answered before, or its request was freed unanswered),
// `SB_E_STALE_TICKET` (the request timed out or its connection ended; the channel already
// failed), `SB_E_POISONED`. An issued ticket never turns `SB_E_NOT_FOUND`: once its slot
// is reused by a newer request it reports `SB_E_ALREADY_ANSWERED` if it is among the
// last 4096 such answered tickets, else `SB_E_STALE_TICKET`.
SB_API SB_MUST_USE sb_status sb_reply(const sb_endpoint *endpoint, uint64_t ticket, uint32_t reply_kind, const uint8_t *payload, size_t payload_len, uint32_t payload_kind);

// Answers a handle_in / handle_info / handle_out with `{:reply, {status, payload},
// socket}` for any `status` text (UTF-8, non-empty), and optionally new channel assigns
// (`assigns`: a JSON object replacing them, or NULL/0 to keep them; Phoenix `assign/3`).
//
// Statuses: as `sb_reply`.
SB_API SB_MUST_USE sb_status sb_reply_status(const sb_endpoint *endpoint, uint64_t ticket, const uint8_t *status, size_t status_len, const uint8_t *payload, size_t payload_len, uint32_t payload_kind, const uint8_t *assigns, size_t assigns_len);

// Answers a handle_in / handle_info / handle_out with `{:noreply, socket}` and new channel
// assigns (`assigns`: JSON object, or NULL/0 to keep them).
//
// Statuses: as `sb_reply`.
SB_API SB_MUST_USE sb_status sb_noreply(const sb_endpoint *endpoint, uint64_t ticket, const uint8_t *assigns, size_t assigns_len);

// Answers a handle_in / handle_info / handle_out with `{:stop, reason, socket}`:
// `stop_kind` is an `sb_stop_kind` (NORMAL / SHUTDOWN close with `phx_close`, ABNORMAL
// errors with `phx_error`); `reason` is UTF-8 detail text (may be empty).
//
// Statuses: as `sb_reply` (unknown `stop_kind` is `SB_E_INVALID_ARGUMENT`).
SB_API SB_MUST_USE sb_status sb_stop(const sb_endpoint *endpoint, uint64_t ticket, uint32_t stop_kind, const uint8_t *reason, size_t reason_len);

// Accepts a join (Phoenix `{:ok, reply, socket}`): `reply` is the join reply (JSON, usually
// `{}`; NULL/0 means `{}`), `assigns` the channel's assigns (JSON object, or NULL/0 to keep
// the connect assigns).
//
// Statuses: as `sb_reply`.
SB_API SB_MUST_USE sb_status sb_join_ok(const sb_endpoint *endpoint, uint64_t ticket, const uint8_t *reply, size_t reply_len, const uint8_t *assigns, size_t assigns_len);

// Refuses a join (Phoenix `{:error, reply}`): `reply` (JSON, e.g.
// `{"reason":"unauthorized"}`; NULL/0 means `{}`) is sent as the error reply.
//
// Statuses: as `sb_reply`.
SB_API SB_MUST_USE sb_status sb_join_error(const sb_endpoint *endpoint, uint64_t ticket, const uint8_t *reply, size_t reply_len);

// Accepts a connection (Phoenix `{:ok, socket}` from `connect/3`): `assigns` (JSON object or
// NULL/0 for none) are copied into every channel of the connection; `socket_id` (UTF-8, or
// NULL/0 for none) is Phoenix `id/1`: `sb_disconnect` with it closes the connection.
//
// Statuses: as `sb_reply`.
SB_API SB_MUST_USE sb_status sb_connect_ok(const sb_endpoint *endpoint, uint64_t ticket, const uint8_t *assigns, size_t assigns_len, const uint8_t *socket_id, size_t socket_id_len);

// Refuses a connection (Phoenix `:error` from `connect/3`): the upgrade is answered with
// `http_status` (400-599; e.g. 403, or 429 for rate limiting) and an empty body.
//
// Statuses: as `sb_reply` (`http_status` outside 400-599 is `SB_E_INVALID_ARGUMENT`).
SB_API SB_MUST_USE sb_status sb_connect_refuse(const sb_endpoint *endpoint, uint64_t ticket, uint16_t http_status);

// The request's kind, an `sb_request_kind` value; 0 when `request` is NULL. (Not named
// `sb_request_kind`: that is the enum's type name, and C has one namespace for both.)
SB_API uint32_t sb_request_get_kind(const sb_request *request);

// The ticket to answer with (non-zero), or 0 for a `Leave` request or a NULL `request`.
SB_API uint64_t sb_request_ticket(const sb_request *request);

// The channel id (non-zero, stable for the channel's life, never reused for another
// channel) for acting on the channel later (`sb_push`, presence, ...); 0 for a `Connect`
// request or a NULL `request`. Key host state by it.
SB_API uint64_t sb_request_channel_id(const sb_request *request);

// The payload's kind (`sb_payload_kind`); 0 when the request has no payload (`Leave`) or
// `request` is NULL.
SB_API uint32_t sb_request_payload_kind(const sb_request *request);

// The channel topic (UTF-8), e.g. `room:lobby`; absent for `Connect`.
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_topic(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The channel pattern (UTF-8) whose handler serves this request's channel, as registered with
// `sb_config_add_channel` (e.g. `room:*`): the core matched the topic against the patterns,
// first registered first, as Phoenix does. Absent for `Connect` and `Http`. Borrowed and
// statuses as `sb_request_topic`.
SB_API SB_MUST_USE sb_status sb_request_pattern(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The event name (UTF-8): the client's event (`HandleIn`), the intercepted event
// (`HandleOut`), or the subscribed broadcast's event (`HandleInfo`); absent otherwise.
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_event(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The payload exactly as received (raw JSON text or binary, see
// `sb_request_payload_kind`): join params (`Join`), the message (`HandleIn`,
// `HandleInfo`, `HandleOut`), the connect params as a JSON object (`Connect`); absent
// for `Leave`. Never parsed by the library.
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_payload(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The channel's join_ref as raw JSON text (e.g. `"1"` with quotes); absent for
// `Connect` and when the client sent null.
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_join_ref(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The push's ref as raw JSON text (`HandleIn` only); absent when the client sent null
// (then a reply is not sent).
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_ref(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The socket id the connect answer gave (Phoenix `socket.id`), UTF-8; absent when none.
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_socket_id(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The channel's assigns as JSON object text (Phoenix `socket.assigns`): the connect
// assigns at join, then whatever answers stored; absent for `Connect`.
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_assigns(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// Why the channel ended (`Leave` only), UTF-8: `left`, `closed`, `disconnected`,
// `drain`, `stop:normal`, `stop:shutdown:<detail>`, `stop:<reason>` or `crash:<message>`
// (Phoenix terminate reasons).
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_reason(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The token of the `Sec-WebSocket-Protocol: base64url.bearer.phx.<token>` subprotocol,
// decoded (`Connect` only, Phoenix `auth_token`); absent when none was sent.
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_auth_token(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// The socket mount path of a `Connect`, e.g. `/socket`.
//
// Borrowed: `*out_ptr` / `*out_len` stay valid until `sb_request_free`; not NUL-terminated.
// Absent gives `*out_ptr = NULL`, `*out_len = 0` and `SB_OK`.
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_request_mount(const sb_request *request, const uint8_t **out_ptr, size_t *out_len);

// Takes up to `cap` pending requests without blocking and writes their handles to
// `out[0..*out_n]`; an empty queue gives `*out_n = 0`. `Leave` requests come first. Resets
// the event fd, and signals it (or the wakeup callback) again when requests remain after
// `cap`, so a host may stop early to share its loop. Any thread; concurrent pollers get
// distinct requests.
//
// Ownership: each `out[i]` is owned by the caller (`sb_request_free`).
// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`endpoint`, `out_n`, or `out` with `cap > 0`),
// `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_poll(const sb_endpoint *endpoint, sb_request **out, size_t cap, size_t *out_n);

// Blocks the calling thread until requests may be pending or `timeout_ms` milliseconds
// passed: `SB_OK` means "poll now" (possibly spuriously), `SB_E_TIMEOUT` that nothing
// arrived. For a dedicated host thread (and the Windows path). Must not be called from a
// callback of this library.
//
// Statuses: `SB_OK`, `SB_E_TIMEOUT`, `SB_E_NULL_POINTER`, `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_wait(const sb_endpoint *endpoint, uint32_t timeout_ms);

// Writes a file descriptor that is readable while requests may be pending (a Linux
// `eventfd`, non-blocking, close-on-exec) to `*out_fd`. Register it level-triggered (epoll,
// libuv `uv_poll_start(UV_READABLE)`, asyncio `add_reader`) and call `sb_endpoint_poll` when
// it is readable until it returns fewer than `cap` requests; poll resets it, so never
// `read()` it. Borrowed: valid until `sb_endpoint_free`, never close it.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_IO` (not available: not Linux, or the kernel
// refused an eventfd), `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_event_fd(const sb_endpoint *endpoint, int32_t *out_fd);

// Installs a wakeup callback meaning "there is work: poll" (librdkafka's callback mode); a
// NULL `cb` removes it. `cb(user_data)` runs on an internal thread (or inside `sb_endpoint_poll`
// when work remains), at most once per batch; it must be quick, must not block and must not
// call any `sb_*` function (libuv: exactly `uv_async_send`). Runs once right away if work is
// already pending. `user_data_free(user_data)` (optional, may be NULL) runs exactly once,
// on any thread, when the callback is replaced or removed or the endpoint is freed, at the latest
// before `sb_endpoint_free` returns.
//
// Statuses: `SB_OK`, `SB_E_NULL_POINTER` (`endpoint`), `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_endpoint_set_wakeup(const sb_endpoint *endpoint, void (*cb)(void*), void *user_data, void (*user_data_free)(void*));

// Subscribes the host to `topic` (UTF-8, exact topic name). Every broadcast on it — from
// `sb_broadcast`, from channels, from other nodes — is queued for
// `sb_subscription_poll` / `sb_subscription_wait`. `capacity` (at least 1) bounds the
// queue in messages; when it is full, newer broadcasts are dropped and counted by
// `sb_subscription_dropped`, so a host that stops reading cannot grow memory.
//
// Ownership: `*out` is owned by the caller (`sb_subscription_free`).
// Statuses: `SB_OK`, `SB_E_NULL_POINTER`, `SB_E_INVALID_UTF8`, `SB_E_INVALID_ARGUMENT` (empty
// topic, capacity 0), `SB_E_POISONED`.
SB_API SB_MUST_USE sb_status sb_subscribe(const sb_endpoint *endpoint, const uint8_t *topic, size_t topic_len, size_t capacity, sb_subscription **out);

// Unsubscribes and frees. NULL is a no-op. Queued messages are discarded.
SB_API void sb_subscription_free(sb_subscription *subscription);

// Takes the oldest queued broadcast without blocking: `*out` gets a new `sb_message` (owned
// by the caller, `sb_message_free`; no join_ref or ref) or NULL when none is waiting.
//
// Statuses: `SB_OK` (also when nothing was waiting), `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_subscription_poll(const sb_subscription *subscription, sb_message **out);

// Like `sb_subscription_poll`, but waits up to `timeout_ms` milliseconds for a broadcast.
// Blocks the calling thread; must not be called from a callback of this library.
//
// Statuses: `SB_OK` (`*out` is a message), `SB_E_TIMEOUT` (nothing arrived; `*out` is left
// untouched), `SB_E_NULL_POINTER`.
SB_API SB_MUST_USE sb_status sb_subscription_wait(const sb_subscription *subscription, uint32_t timeout_ms, sb_message **out);

// Broadcasts dropped because the queue was full; 0 when `subscription` is NULL.
SB_API uint64_t sb_subscription_dropped(const sb_subscription *subscription);

// Like `sb_broadcast` but skips `from` (a subscription of this host), as Phoenix
// `broadcast_from/4` skips the sending process. Same arguments, statuses and
// `*out_delivered` (optional) as `sb_broadcast`, plus `SB_E_NULL_POINTER` for `from`.
SB_API SB_MUST_USE sb_status sb_broadcast_from(const sb_endpoint *endpoint, const sb_subscription *from, const uint8_t *topic, size_t topic_len, const uint8_t *event, size_t event_len, const uint8_t *payload, size_t payload_len, uint32_t payload_kind, size_t *out_delivered);

// The library version as static NUL-terminated text, e.g. `"switchboard-ffi 0.1.0
// (switchboard core 0.1.0)"`. Never NULL; never freed. Thread-safe.
SB_API const char *sb_version(void);

// The ABI version of the loaded library (compare with the header's `SB_ABI_VERSION`).
// Thread-safe.
SB_API uint32_t sb_abi_version(void);

// The name of a status as static NUL-terminated text (`"SB_OK"`, `"SB_E_NOT_FOUND"`, ...),
// or `"SB_E_UNKNOWN"` for a value this library does not define. Never NULL, never allocates,
// thread-safe.
SB_API const char *sb_status_name(uint32_t status);

// Copies the calling thread's last error message into `buf` with snprintf semantics: at most
// `cap - 1` bytes plus a terminating NUL are written (nothing when `cap` is 0, then `buf` may
// be NULL), and the full message length (without the NUL) is returned, so a return value
// `>= cap` means the text was cut. The message is UTF-8 (a cut may split a character).
//
// The message belongs to the calling thread: it is set by that thread's last failing `sb_*`
// call and overwritten by its next failing call; successful calls leave it unchanged. Empty
// (returns 0) before any failure. Returns 0 when `buf` is NULL with a non-zero `cap`.
SB_API size_t sb_last_error_message(char *buf, size_t cap);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SWITCHBOARD_H */

/* What the C example servers share (examples/c/chat.c, examples/c/bench.c,
 * tests/fixtures/c/conformance_fixture.c): statuses logged with the library's reason, PORT
 * from the environment, the `LISTENING 127.0.0.1:<port>` line test runners wait for, one
 * host thread that drains the endpoint's request queue until SIGTERM / SIGINT or the end of stdin,
 * and the after_join presence pattern.
 *
 * Single-threaded by design: hl_serve runs the handler on the calling thread for every
 * request, so handlers need no locking. */
#ifndef SB_EXAMPLES_HOST_LOOP_H
#define SB_EXAMPLES_HOST_LOOP_H

#include "switchboard.h"

#include <stddef.h>
#include <stdint.h>

#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)
#define U8(s) ((const uint8_t *)(s))

/* Names the program in log lines ("<who>: ...") and installs the SIGTERM / SIGINT handlers
 * (and ignores SIGPIPE). Call first. */
void hl_init(const char *who);

/* Logs a failed sb_* call with the library's reason; returns whether `st` is SB_OK. */
int hl_check(sb_status st, const char *what);

/* PORT from the environment (0-65535; 0 = any free port), `fallback` when unset. Returns 0
 * (after logging why) when PORT is set but not a port number. */
int hl_port(unsigned fallback, unsigned *out);

/* Sets the config's bind address to 127.0.0.1:<port>. */
int hl_bind(sb_config *cfg, unsigned port);

/* Creates an endpoint from `cfg` (when `configured`: the caller's setters all succeeded),
 * frees `cfg`, starts the endpoint and prints the LISTENING line (hl_start). Returns the
 * endpoint, or NULL (after logging why) when any step failed. */
sb_endpoint *hl_new_started(sb_config *cfg, int configured, uint16_t *out_port);

/* Starts the endpoint, prints `LISTENING 127.0.0.1:<port>` on stdout (flushed) and writes the
 * port to `*out_port` (optional: may be NULL). */
int hl_start(const sb_endpoint *ep, uint16_t *out_port);

/* Handles one request and frees it (the handler owns `req`). */
typedef void (*hl_handler)(const sb_endpoint *ep, sb_request *req, void *ctx);

/* Serves until SIGTERM / SIGINT, hl_request_stop, or the end of stdin when stdin is a pipe, socket or
 * terminal (stdin redirected from /dev/null or a file is not watched): sleeps in poll(2) on
 * the endpoint's event fd and stdin and hands every queued request to `handle`. Returns 0 when
 * the endpoint failed, 1 otherwise. */
int hl_serve(const sb_endpoint *ep, hl_handler handle, void *ctx);

/* Makes hl_serve return after the request it is handling (e.g. a control route that asks
 * the server to drain and exit). Async-signal-safe. */
void hl_request_stop(void);

/* Phoenix's after_join presence pattern: accepts the join (reply {}, the channel's assigns
 * `assigns`, NULL/0 to keep the connect assigns) after queueing the message
 * {"after_join": key} to the channel itself; hl_handle_info, called for every HANDLE_INFO
 * request, then tracks the client under `key` (UTF-8) with meta {"online_at": <ms since the
 * Unix epoch>} and pushes the topic's `presence_state` to it. By the time handle_info runs the
 * channel is subscribed to its topic, so the joiner gets its own presence_diff too (tracking
 * right after sb_join_ok races with that). Returns 0 (after logging why) when a step failed. */
int hl_join_and_track(const sb_endpoint *ep, const sb_request *join, const char *key,
                      size_t key_len, const uint8_t *assigns, size_t assigns_len);

/* Phoenix handle_info/2 for servers whose only messages are hl_join_and_track's: does the
 * tracking for those, and answers every HANDLE_INFO request NOREPLY. */
void hl_handle_info(const sb_endpoint *ep, const sb_request *info);

/* Shuts the endpoint down (drain, then stop listening) and frees the requests queued while
 * stopping. Returns the process exit status: 0, or 1 when the shutdown failed. */
int hl_shutdown(const sb_endpoint *ep);

/* hl_shutdown, then frees the endpoint. */
int hl_finish(sb_endpoint *ep);

#endif

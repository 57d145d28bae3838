/* The benchmark server hosted from C through the C ABI (contract: bench/README.md "The
 * servers"; the Rust twin is examples/rust/bench.rs). Built only from include/switchboard.h and
 * libswitchboard:
 *
 *   cc -std=c11 -O2 examples/c/bench.c examples/c/host_loop.c examples/c/chat_json.c \
 *     $(pkg-config --cflags --libs switchboard) -o bench-c
 *
 * Env: PORT (default 0 = any free port); BENCH_OUTBOX_FRAMES / BENCH_OUTBOX_BYTES (default
 * 65,536 frames / 64 MiB per connection, as the Rust server, so a burst of broadcasts does not
 * trip the slow-consumer policy). Listens on 127.0.0.1 only, prints `LISTENING
 * 127.0.0.1:<port>`, exits on SIGTERM / SIGINT or the end of stdin. Socket at /socket; one
 * host thread (examples/c/host_loop.c) answers the two channels of bench/PROTOCOLS.md:
 * `bench:*`:
 *   JOIN       ok {} (no presence);
 *   HANDLE_IN  `pub` with any payload (JSON or binary) → broadcast_from `msg` with the same
 *              payload to every other subscriber of the topic, no reply;
 *              `ping` with any payload → reply ok with the same payload (the request/answer
 *              round trip the `roundtrip` scenario measures);
 *              any other event crashes the channel, as the Rust handler's error does;
 *   LEAVE      nothing to clean up;
 * `presence:*`:
 *   JOIN       ok {}, then (in handle_info, Phoenix's after_join) presence track under the join
 *              param `key` with meta {"online_at": <ms since the epoch>} and push the topic's
 *              `presence_state` to the joiner; a `key` that is not a JSON string counts as ""
 *              (the Rust server stringifies other JSON values; the loadgen sends strings);
 *   HANDLE_IN  any event crashes the channel. */
#define _POSIX_C_SOURCE 200809L
#include "switchboard.h"

#include "chat_json.h"
#include "host_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int is_event(const uint8_t *name, size_t len, const char *want) {
  return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int on_topic(const sb_request *req, const char *prefix) {
  const uint8_t *topic = NULL;
  size_t len = 0, n = strlen(prefix);
  return sb_request_topic(req, &topic, &len) == SB_OK && len >= n && memcmp(topic, prefix, n) == 0;
}

/* presence:* join: ok, then (after_join, in handle_info) track the `key` join param and push
 * presence_state. */
static void on_presence_join(const sb_endpoint *ep, const sb_request *req) {
  const uint8_t *params = NULL;
  size_t params_len = 0;
  char *key = NULL;
  size_t key_len = 0;
  if (!hl_check(sb_request_payload(req, &params, &params_len), "join params") ||
      cj_object_get_string(params, params_len, "key", &key, &key_len) != CJ_OK) {
    key = NULL;
    key_len = 0;
  }
  hl_join_and_track(ep, req, key ? key : "", key_len, NULL, 0);
  free(key);
}

static void on_handle_in(const sb_endpoint *ep, const sb_request *req, uint64_t ticket) {
  if (!on_topic(req, "bench:")) {
    hl_check(sb_stop(ep, ticket, SB_STOP_KIND_ABNORMAL, S("unknown event")), "stop");
    return;
  }
  const uint8_t *event = NULL, *payload = NULL;
  size_t event_len = 0, payload_len = 0;
  if (!hl_check(sb_request_event(req, &event, &event_len), "event name") ||
      !hl_check(sb_request_payload(req, &payload, &payload_len), "payload")) {
    hl_check(sb_stop(ep, ticket, SB_STOP_KIND_ABNORMAL, S("unreadable request")), "stop");
    return;
  }
  uint32_t kind = sb_request_payload_kind(req);
  if (is_event(event, event_len, "pub")) {
    /* Fails only when the channel already ended; the answer below then reports stale. */
    hl_check(sb_channel_broadcast(ep, sb_request_channel_id(req), true, S("msg"), payload,
                                  payload_len, kind),
             "broadcast_from msg");
    hl_check(sb_noreply(ep, ticket, NULL, 0), "noreply");
  } else if (is_event(event, event_len, "ping")) {
    hl_check(sb_reply(ep, ticket, SB_REPLY_KIND_OK, payload, payload_len, kind), "reply ping");
  } else {
    hl_check(sb_stop(ep, ticket, SB_STOP_KIND_ABNORMAL, S("unknown event")), "stop");
  }
}

static void handle(const sb_endpoint *ep, sb_request *req, void *ctx) {
  (void)ctx;
  uint64_t ticket = sb_request_ticket(req);
  switch (sb_request_get_kind(req)) {
  case SB_REQUEST_KIND_JOIN:
    if (on_topic(req, "presence:")) {
      on_presence_join(ep, req);
    } else {
      hl_check(sb_join_ok(ep, ticket, S("{}"), NULL, 0), "join ok");
    }
    break;
  case SB_REQUEST_KIND_HANDLE_IN: on_handle_in(ep, req, ticket); break;
  case SB_REQUEST_KIND_HANDLE_INFO: hl_handle_info(ep, req); break;
  case SB_REQUEST_KIND_HANDLE_OUT: hl_check(sb_noreply(ep, ticket, NULL, 0), "noreply"); break;
  default: break; /* LEAVE: no ticket */
  }
  sb_request_free(req);
}

/* A positive number from env `name`, `fallback` when unset; 0 when set but not one. */
static uint64_t env_number(const char *name, uint64_t fallback) {
  const char *v = getenv(name);
  if (v == NULL) return fallback;
  char *end = NULL;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || v[0] == '-') {
    fprintf(stderr, "bench: %s must be a number, got \"%s\"\n", name, v);
    return 0;
  }
  return (uint64_t)n;
}

/* Each subscriber is one descriptor: raise the soft open-file limit to the hard limit. */
static void raise_nofile(void) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) perror("bench: cannot raise the open-file limit");
  }
}

int main(void) {
  hl_init("bench");
  raise_nofile();
  unsigned port;
  if (!hl_port(0, &port)) return 2;
  uint64_t frames = env_number("BENCH_OUTBOX_FRAMES", 65536);
  uint64_t bytes = env_number("BENCH_OUTBOX_BYTES", 64u * 1024u * 1024u);
  if (frames == 0 || bytes == 0) return 2;

  sb_config *cfg = NULL;
  if (!hl_check(sb_config_new(&cfg), "config")) return 1;
  int configured = hl_bind(cfg, port) &&
                   hl_check(sb_config_set_node_name(cfg, S("bench@127.0.0.1")), "node name") &&
                   hl_check(sb_config_add_socket(cfg, S("/socket")), "socket /socket") &&
                   hl_check(sb_config_add_channel(cfg, S("bench:*")), "channel bench:*") &&
                   hl_check(sb_config_add_channel(cfg, S("presence:*")), "channel presence:*") &&
                   hl_check(sb_config_set_outbox_limits(cfg, frames, bytes), "outbox limits");
  sb_endpoint *ep = hl_new_started(cfg, configured, NULL);
  if (ep == NULL) return 1;
  hl_serve(ep, handle, NULL);
  return hl_finish(ep);
}

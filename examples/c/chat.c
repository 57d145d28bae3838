/* The chat demo hosted from C through the C ABI (contract: examples/chat/CONTRACT.md; the Rust
 * twin is examples/rust/chat.rs). Built only from include/switchboard.h and libswitchboard:
 *
 *   cc -std=c11 examples/c/chat.c examples/c/chat_json.c examples/c/host_loop.c \
 *     $(pkg-config --cflags --libs switchboard) -o chat
 *   npm ci && SB_REPO_ROOT=$PWD ./chat     # then open http://127.0.0.1:4000/
 *
 * Env: PORT (default 4000; 0 picks a free port), SB_REPO_ROOT (where examples/chat/ and
 * node_modules/phoenix are; default the working directory); for a cluster (docs/CLUSTER.md,
 * examples/chat/CONTRACT.md "Cluster") SB_CLUSTER (a broker URL, redis://host:port or
 * nats://host:port; unset or empty: a single node), SB_NODE (the node name; default
 * chat@127.0.0.1, or chat-<pid>@127.0.0.1 in a cluster), SB_HEARTBEAT_MS (the option
 * broker_heartbeat_ms), SB_NODE_DOWN_MS (presence_down_period_ms) and SB_PRESENCE_BROADCAST_MS
 * (presence_broadcast_period_ms); alone or on Redis, `room:*` keeps its last SB_HISTORY_SIZE (100)
 * messages for SB_HISTORY_TTL_MS (600 000) ms (docs/HISTORY.md, CONTRACT.md "History"); /socket
 * also serves long-poll at /socket/longpoll (docs/LONGPOLL.md, CONTRACT.md "Long-poll") with
 * SB_LONGPOLL_WINDOW_MS (the option longpoll_window_ms) and SB_SECRET_KEY_BASE (secret_key_base,
 * needed in a cluster). Listens on 127.0.0.1 only, prints
 * `LISTENING 127.0.0.1:<port>`, and exits cleanly on SIGTERM / SIGINT, or when its stdin is
 * a pipe, socket or terminal that reaches end of file (so a test runner's child cannot outlive
 * it; stdin redirected from /dev/null or a file is not watched).
 *
 * One host thread serves everything (examples/c/host_loop.c): it sleeps in poll(2) on the
 * endpoint's event fd (readable while requests wait) and on stdin, drains the queue with
 * sb_endpoint_poll and answers:
 *   CONNECT   a non-empty `user` param (trimmed) → sb_connect_ok with assigns {"user": NAME},
 *             else 403;
 *   JOIN      (only `room:*` reaches the host) → sb_join_ok {}, then (in handle_info, once
 *             the channel is in place) presence track NAME with {"online_at": ms} and push
 *             `presence_state` to the joiner;
 *   HANDLE_IN `new_msg` {"body": TEXT} → broadcast `new_msg` {"user", "body"} on the room and
 *             reply ok {}; a missing or non-string body → error {"reason":"body must be a
 *             string"}; any other event crashes the channel, as the Rust handler's error does;
 *   LEAVE     nothing to clean up (presence is untracked by the core), just freed. */
#define _POSIX_C_SOURCE 200809L
#include "switchboard.h"

#include "chat_json.h"
#include "host_loop.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Largest `new_msg` payload, in bytes of JSON text (examples/chat/CONTRACT.md). */
#define MAX_MESSAGE_BYTES 8192

static const char PHOENIX_MJS[] = "node_modules/phoenix/priv/static/phoenix.mjs";

/* The `user` string of a JSON object (connect params or assigns), trimmed; NULL when absent,
 * not a string, or empty after trimming. Returned in a malloc'd buffer with its length. */
static char *user_from(const uint8_t *json, size_t len, size_t *out_len) {
  char *raw = NULL;
  size_t raw_len = 0;
  if (json == NULL || cj_object_get_string(json, len, "user", &raw, &raw_len) != CJ_OK) return NULL;
  size_t n = 0;
  const char *t = cj_trim(raw, raw_len, &n);
  if (n == 0) {
    free(raw);
    return NULL;
  }
  memmove(raw, t, n);
  raw[n] = '\0';
  *out_len = n;
  return raw;
}

/* Phoenix connect/3: refuse without a user name, else keep it in the socket assigns. */
static void on_connect(const sb_endpoint *ep, const sb_request *req, uint64_t ticket) {
  const uint8_t *params = NULL;
  size_t params_len = 0;
  size_t user_len = 0;
  char *user = NULL;
  if (hl_check(sb_request_payload(req, &params, &params_len), "connect params")) {
    user = user_from(params, params_len, &user_len);
  }
  if (user == NULL) {
    hl_check(sb_connect_refuse(ep, ticket, 403), "refuse connect");
    return;
  }
  struct cj_buf assigns = {0};
  cj_buf_raw(&assigns, "{\"user\":", 8);
  cj_buf_string(&assigns, user, user_len);
  cj_buf_raw(&assigns, "}", 1);
  if (assigns.failed) {
    hl_check(sb_connect_refuse(ep, ticket, 500), "refuse connect (out of memory)");
  } else {
    hl_check(sb_connect_ok(ep, ticket, U8(assigns.data), assigns.len, NULL, 0), "accept connect");
  }
  free(assigns.data);
  free(user);
}

/* Phoenix join/3 plus the after_join work (track presence, push presence_state), which
 * runs in handle_info once the channel is in place (hl_join_and_track). */
static void on_join(const sb_endpoint *ep, const sb_request *req, uint64_t ticket) {
  const uint8_t *assigns = NULL;
  size_t assigns_len = 0;
  size_t user_len = 0;
  char *user = NULL;
  if (hl_check(sb_request_assigns(req, &assigns, &assigns_len), "join assigns")) {
    user = user_from(assigns, assigns_len, &user_len);
  }
  if (user == NULL) {
    fprintf(stderr, "chat: join without a user in the assigns\n");
    hl_check(sb_join_ok(ep, ticket, S("{}"), NULL, 0), "join ok");
    return;
  }
  hl_join_and_track(ep, req, user, user_len, NULL, 0);
  free(user);
}

/* Phoenix handle_in/3 for `new_msg`. */
static void on_handle_in(const sb_endpoint *ep, const sb_request *req, uint64_t ticket) {
  const uint8_t *event = NULL;
  size_t event_len = 0;
  if (!hl_check(sb_request_event(req, &event, &event_len), "event name")) return;
  if (event_len != strlen("new_msg") || memcmp(event, "new_msg", event_len) != 0) {
    hl_check(sb_stop(ep, ticket, SB_STOP_KIND_ABNORMAL, S("unknown event")), "stop");
    return;
  }

  char *body = NULL;
  size_t body_len = 0;
  const uint8_t *payload = NULL;
  size_t payload_len = 0;
  /* Checked before parsing: parsing is the costly part of a message (CONTRACT.md). */
  if (sb_request_payload_kind(req) == SB_PAYLOAD_KIND_JSON &&
      hl_check(sb_request_payload(req, &payload, &payload_len), "payload") &&
      payload_len > MAX_MESSAGE_BYTES) {
    hl_check(sb_reply(ep, ticket, SB_REPLY_KIND_ERROR, S("{\"reason\":\"message too long\"}"),
                      SB_PAYLOAD_KIND_JSON),
             "reply error");
    return;
  }
  if (sb_request_payload_kind(req) == SB_PAYLOAD_KIND_JSON &&
      hl_check(sb_request_payload(req, &payload, &payload_len), "payload") &&
      cj_object_get_string(payload, payload_len, "body", &body, &body_len) != CJ_OK) {
    body = NULL;
  }
  if (body == NULL) {
    hl_check(sb_reply(ep, ticket, SB_REPLY_KIND_ERROR,
                      S("{\"reason\":\"body must be a string\"}"), SB_PAYLOAD_KIND_JSON),
             "reply error");
    return;
  }

  /* The name comes from the connect assigns, never from the payload. */
  const uint8_t *assigns = NULL;
  size_t assigns_len = 0;
  char *user = NULL;
  size_t user_len = 0;
  if (hl_check(sb_request_assigns(req, &assigns, &assigns_len), "assigns")) {
    user = user_from(assigns, assigns_len, &user_len);
  }
  struct cj_buf msg = {0};
  cj_buf_raw(&msg, "{\"user\":", 8);
  cj_buf_string(&msg, user ? user : "", user ? user_len : 0);
  cj_buf_raw(&msg, ",\"body\":", 8);
  cj_buf_string(&msg, body, body_len);
  cj_buf_raw(&msg, "}", 1);
  sb_status sent = SB_OK;
  if (!msg.failed) {
    sent = sb_channel_broadcast(ep, sb_request_channel_id(req), false, S("new_msg"), U8(msg.data),
                                msg.len, SB_PAYLOAD_KIND_JSON);
  }
  if (msg.failed) {
    hl_check(sb_stop(ep, ticket, SB_STOP_KIND_ABNORMAL, S("out of memory")), "stop");
  } else if (sent == SB_OK || sent == SB_E_BROKER) {
    /* SB_E_BROKER: in a cluster whose broker is unreachable, the room's clients on this node
     * have the message, the other nodes do not (CONTRACT.md "Cluster"); logged, not retried. */
    if (sent == SB_E_BROKER) hl_check(sent, "broadcast new_msg (it reached this node only)");
    hl_check(sb_reply(ep, ticket, SB_REPLY_KIND_OK, S("{}"), SB_PAYLOAD_KIND_JSON), "reply ok");
  } else {
    hl_check(sent, "broadcast new_msg");
    /* The Rust handler's `?` on a failed broadcast crashes the channel the same way. */
    hl_check(sb_stop(ep, ticket, SB_STOP_KIND_ABNORMAL, S("broadcast failed")), "stop");
  }
  free(msg.data);
  free(user);
  free(body);
}

static void handle(const sb_endpoint *ep, sb_request *req, void *ctx) {
  (void)ctx;
  uint64_t ticket = sb_request_ticket(req);
  switch (sb_request_get_kind(req)) {
  case SB_REQUEST_KIND_CONNECT: on_connect(ep, req, ticket); break;
  case SB_REQUEST_KIND_JOIN: on_join(ep, req, ticket); break;
  case SB_REQUEST_KIND_HANDLE_IN: on_handle_in(ep, req, ticket); break;
  case SB_REQUEST_KIND_HANDLE_INFO: hl_handle_info(ep, req); break;
  case SB_REQUEST_KIND_HANDLE_OUT: hl_check(sb_noreply(ep, ticket, NULL, 0), "noreply"); break;
  default: break; /* LEAVE: no ticket; the core already untracked the presence */
  }
  /* Answered above, so freeing does not count as a crash (an early return did log why). */
  sb_request_free(req);
}

/* `root/rel` in a malloc'd string. */
static char *join_path(const char *root, const char *rel) {
  size_t n = strlen(root) + 1 + strlen(rel) + 1;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", root, rel);
  return p;
}

static int add_file(sb_config *cfg, const char *root, const char *route, const char *rel,
                    const char *content_type) {
  char *path = join_path(root, rel);
  if (path == NULL) return 0;
  int ok = hl_check(sb_config_add_static_file(cfg, U8(route), strlen(route), U8(path),
                                              strlen(path), U8(content_type), strlen(content_type)),
                    route);
  free(path);
  return ok;
}

/* getenv, with an empty value read as unset. */
static const char *env_text(const char *name) {
  const char *v = getenv(name);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Sets the option `name` from env text: an integer when the whole text reads as one, else the
 * text itself, which the core refuses with its own message (`... must be an integer ... (got
 * the string "abc")`), as in the Rust, Python and Node demos. */
static int set_from_env(sb_config *cfg, const char *name, const char *text) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno == 0 && end != text && *end == '\0') {
    return hl_check(sb_config_set_int(cfg, U8(name), strlen(name), (int64_t)v), name);
  }
  return hl_check(sb_config_set_text(cfg, U8(name), strlen(name), U8(text), strlen(text)), name);
}

/* How many `room:*` messages a single node keeps, and for how long (CONTRACT.md "History"). */
#define HISTORY_SIZE 100
#define HISTORY_TTL_MS 600000

/* An unsigned integer from env `name` (default `fallback`); 0 for a negative one, which the
 * core then refuses with its range message. */
static int env_count(const char *name, uint64_t fallback, uint64_t *out) {
  const char *text = env_text(name);
  *out = fallback;
  if (text == NULL) return 1;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') {
    fprintf(stderr, "chat: %s must be an integer (got \"%s\")\n", name, text);
    return 0;
  }
  *out = v < 0 ? 0 : (uint64_t)v;
  return 1;
}

/* Alone or on Redis, `room:*` keeps history; NATS keeps no messages (the core refuses it). */
static int add_history(sb_config *cfg) {
  const char *broker = env_text("SB_CLUSTER");
  if (broker != NULL && strncmp(broker, "nats://", 7) == 0) return 1;
  uint64_t size, ttl_ms;
  return env_count("SB_HISTORY_SIZE", HISTORY_SIZE, &size) &&
         env_count("SB_HISTORY_TTL_MS", HISTORY_TTL_MS, &ttl_ms) &&
         hl_check(sb_config_add_history(cfg, S("room:*"), size, ttl_ms), "history room:*");
}

/* The node name and the cluster options from SB_NODE, SB_CLUSTER, SB_HEARTBEAT_MS,
 * SB_NODE_DOWN_MS and SB_PRESENCE_BROADCAST_MS, all
 * checked by the core (docs/OPTIONS.md). `*node` receives the name (for the log line). */
static int set_node_and_cluster(sb_config *cfg, const char **node) {
  static char generated[64];
  const char *broker = env_text("SB_CLUSTER");
  *node = env_text("SB_NODE");
  if (*node == NULL && broker != NULL) {
    /* Two demos of one machine in one cluster must not share a name (the core refuses a
     * second live node with the same name). */
    snprintf(generated, sizeof generated, "chat-%ld@127.0.0.1", (long)getpid());
    *node = generated;
  } else if (*node == NULL) {
    *node = "chat@127.0.0.1";
  }
  static const char *const timing[][2] = {
      {"SB_HEARTBEAT_MS", "broker_heartbeat_ms"},
      {"SB_NODE_DOWN_MS", "presence_down_period_ms"},
      {"SB_PRESENCE_BROADCAST_MS", "presence_broadcast_period_ms"},
  };
  if (!hl_check(sb_config_set_text(cfg, S("node"), U8(*node), strlen(*node)), "node") ||
      (broker != NULL &&
       !hl_check(sb_config_set_text(cfg, S("broker"), U8(broker), strlen(broker)), "broker")))
    return 0;
  for (size_t i = 0; i < sizeof timing / sizeof timing[0]; i++) {
    const char *value = env_text(timing[i][0]);
    if (value != NULL && !set_from_env(cfg, timing[i][1], value)) return 0;
  }
  return 1;
}

/* Long-poll on /socket, for browsers whose WebSocket cannot get through (the page falls back
 * to it by itself; CONTRACT.md "Long-poll"): mount options set on the endpoint are every
 * mount's default, and /socket is the only mount. SB_LONGPOLL_WINDOW_MS goes to
 * longpoll_window_ms, SB_SECRET_KEY_BASE to secret_key_base, always as text (a secret of
 * digits is no number); in a cluster the core refuses long-poll without it. */
static int set_longpoll(sb_config *cfg) {
  const char *window = env_text("SB_LONGPOLL_WINDOW_MS");
  const char *secret = env_text("SB_SECRET_KEY_BASE");
  return hl_check(sb_config_set_bool(cfg, S("longpoll"), true), "longpoll") &&
         (window == NULL || set_from_env(cfg, "longpoll_window_ms", window)) &&
         (secret == NULL ||
          hl_check(sb_config_set_text(cfg, S("secret_key_base"), U8(secret), strlen(secret)),
                   "secret_key_base"));
}

/* The library's warnings and errors on stderr (docs/OPERATIONS.md "Logs"): a broker link lost
 * and back, clients closed as slow consumers, ... Called on the library's threads. */
static void log_line(void *user_data, uint32_t level, const uint8_t *target, size_t target_len,
                     const uint8_t *line, size_t line_len) {
  (void)user_data;
  fprintf(stderr, "chat: %s %.*s: %.*s\n", level == SB_LOG_LEVEL_ERROR ? "ERROR" : "WARN",
          (int)target_len, (const char *)target, (int)line_len, (const char *)line);
}

int main(void) {
  hl_init("chat");
  if (!hl_check(sb_set_log_callback(log_line, SB_LOG_LEVEL_WARN, NULL, NULL), "log callback")) {
    return 1;
  }
  unsigned port;
  if (!hl_port(4000, &port)) return 2;

  /* Absolute file paths: the endpoint reads them per request, relative to the cwd of that time. */
  char cwd[PATH_MAX];
  const char *root = getenv("SB_REPO_ROOT");
  if (root == NULL || root[0] == '\0') {
    if (getcwd(cwd, sizeof cwd) == NULL) {
      perror("chat: getcwd");
      return 1;
    }
    root = cwd;
  }
  char *phoenix = join_path(root, PHOENIX_MJS);
  if (phoenix && access(phoenix, R_OK) != 0) {
    fprintf(stderr,
            "chat: %s is missing: run `npm ci` at the repository root first (the page loads the "
            "stock phoenix client from there; SB_REPO_ROOT names the root, default the working "
            "directory)\n",
            phoenix);
  }
  free(phoenix);

  sb_config *cfg = NULL;
  const char *node = NULL;
  if (!hl_check(sb_config_new(&cfg), "config")) return 1;
  int configured =
      hl_bind(cfg, port) &&
      set_node_and_cluster(cfg, &node) &&
      hl_check(sb_config_add_socket(cfg, S("/socket")), "socket /socket") &&
      set_longpoll(cfg) &&
      /* Prometheus metrics for operators (CONTRACT.md "Metrics"). */
      hl_check(sb_config_set_text(cfg, S("metrics_path"), S("/metrics")), "metrics_path") &&
      hl_check(sb_config_set_host_connect(cfg, true), "host connect") &&
      hl_check(sb_config_add_channel(cfg, S("room:*")), "channel room:*") &&
      add_history(cfg) &&
      /* Close the last connections quickly on exit instead of Phoenix's 2 s batches. */
      hl_check(sb_config_set_drain(cfg, 10000, 0, 5000), "drain") &&
      add_file(cfg, root, "/", "examples/chat/index.html", "text/html; charset=utf-8") &&
      add_file(cfg, root, "/app.js", "examples/chat/app.js", "text/javascript") &&
      add_file(cfg, root, "/phoenix.mjs", PHOENIX_MJS, "text/javascript");
  uint16_t bound = 0;
  sb_endpoint *ep = hl_new_started(cfg, configured, &bound);
  if (ep == NULL) return 1;
  const char *broker = env_text("SB_CLUSTER");
  if (broker != NULL) fprintf(stderr, "chat: node %s joined the cluster at %s\n", node, broker);
  printf("Chat demo on http://127.0.0.1:%u/\n", (unsigned)bound);
  fflush(stdout);

  hl_serve(ep, handle, NULL);
  return hl_finish(ep);
}

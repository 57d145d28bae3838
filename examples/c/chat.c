/* The chat demo hosted from C through the C ABI (contract: examples/chat/CONTRACT.md; the Rust
 * twin is examples/rust/chat.rs). Built only from include/switchboard.h and libswitchboard:
 *
 *   cc -std=c11 examples/c/chat.c examples/c/chat_json.c $(pkg-config --cflags --libs switchboard) -o chat
 *   npm ci && SB_REPO_ROOT=$PWD ./chat     # then open http://127.0.0.1:4000/
 *
 * Env: PORT (default 4000; 0 picks a free port), SB_REPO_ROOT (where examples/chat/ and
 * node_modules/phoenix are; default the working directory). Listens on 127.0.0.1 only, prints
 * `LISTENING 127.0.0.1:<port>`, and exits cleanly on SIGTERM / SIGINT, or when its stdin is
 * a pipe, socket or terminal that reaches end of file (so a test runner's child cannot outlive
 * it; stdin redirected from /dev/null or a file is not watched).
 *
 * One host thread serves everything: it sleeps in poll(2) on the hub's event fd (readable
 * while requests wait) and on stdin, drains the queue with sb_hub_poll and answers:
 *   CONNECT   a non-empty `user` param (trimmed) → sb_connect_ok with assigns {"user": NAME},
 *             else 403;
 *   JOIN      (only `room:*` reaches the host) → sb_join_ok {}, then presence track NAME with
 *             {"online_at": ms} and push `presence_state` to the joiner;
 *   HANDLE_IN `new_msg` {"body": TEXT} → broadcast `new_msg` {"user", "body"} on the room and
 *             reply ok {}; a missing or non-string body → error {"reason":"body must be a
 *             string"}; any other event crashes the channel, as the Rust handler's error does;
 *   LEAVE     nothing to clean up (presence is untracked by the core), just freed. */
#define _POSIX_C_SOURCE 200809L
#include "switchboard.h"

#include "chat_json.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)
#define U8(s) ((const uint8_t *)(s))

static const char PHOENIX_MJS[] = "node_modules/phoenix/priv/static/phoenix.mjs";

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

/* Logs a failed sb_* call with the library's reason; returns whether `st` is SB_OK. */
static int check(sb_status st, const char *what) {
  if (st == SB_OK) return 1;
  char why[512];
  sb_last_error_message(why, sizeof why);
  fprintf(stderr, "chat: %s: %s: %s\n", what, sb_status_name(st), why);
  return 0;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

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
static void on_connect(const sb_hub *hub, const sb_event *ev, uint64_t ticket) {
  const uint8_t *params = NULL;
  size_t params_len = 0;
  size_t user_len = 0;
  char *user = NULL;
  if (check(sb_event_payload(ev, &params, &params_len), "connect params")) {
    user = user_from(params, params_len, &user_len);
  }
  if (user == NULL) {
    check(sb_connect_refuse(hub, ticket, 403), "refuse connect");
    return;
  }
  struct cj_buf assigns = {0};
  cj_buf_raw(&assigns, "{\"user\":", 8);
  cj_buf_string(&assigns, user, user_len);
  cj_buf_raw(&assigns, "}", 1);
  if (assigns.failed) {
    check(sb_connect_refuse(hub, ticket, 500), "refuse connect (out of memory)");
  } else {
    check(sb_connect_ok(hub, ticket, U8(assigns.data), assigns.len, NULL, 0), "accept connect");
  }
  free(assigns.data);
  free(user);
}

/* Phoenix join/3 plus the after_join work: track presence, push presence_state. The core
 * would hold actions made before the join reply until after it; doing them after sb_join_ok
 * keeps the order obvious. */
static void on_join(const sb_hub *hub, const sb_event *ev, uint64_t ticket) {
  uint64_t channel = sb_event_channel_id(ev);
  if (!check(sb_join_ok(hub, ticket, S("{}"), NULL, 0), "join ok")) return;

  const uint8_t *assigns = NULL;
  size_t assigns_len = 0;
  size_t user_len = 0;
  char *user = NULL;
  if (check(sb_event_assigns(ev, &assigns, &assigns_len), "join assigns")) {
    user = user_from(assigns, assigns_len, &user_len);
  }
  if (user == NULL) {
    fprintf(stderr, "chat: join without a user in the assigns\n");
    return;
  }
  char meta[64];
  int meta_len = snprintf(meta, sizeof meta, "{\"online_at\":%llu}", (unsigned long long)now_ms());
  /* SB_E_NOT_FOUND here only means the client already left again: nothing to do. */
  if (meta_len > 0 &&
      check(sb_presence_track(hub, channel, U8(user), user_len, U8(meta), (size_t)meta_len, NULL),
            "presence track")) {
    sb_buffer *list = NULL;
    if (check(sb_presence_list(hub, channel, &list), "presence list")) {
      check(sb_push(hub, channel, S("presence_state"), sb_buffer_data(list), sb_buffer_len(list),
                    SB_PAYLOAD_KIND_JSON),
            "push presence_state");
    }
    sb_buffer_free(list);
  }
  free(user);
}

/* Phoenix handle_in/3 for `new_msg`. */
static void on_handle_in(const sb_hub *hub, const sb_event *ev, uint64_t ticket) {
  const uint8_t *event = NULL;
  size_t event_len = 0;
  if (!check(sb_event_event(ev, &event, &event_len), "event name")) return;
  if (event_len != strlen("new_msg") || memcmp(event, "new_msg", event_len) != 0) {
    check(sb_stop(hub, ticket, SB_STOP_KIND_ABNORMAL, S("unknown event")), "stop");
    return;
  }

  char *body = NULL;
  size_t body_len = 0;
  const uint8_t *payload = NULL;
  size_t payload_len = 0;
  if (sb_event_payload_kind(ev) == SB_PAYLOAD_KIND_JSON &&
      check(sb_event_payload(ev, &payload, &payload_len), "payload") &&
      cj_object_get_string(payload, payload_len, "body", &body, &body_len) != CJ_OK) {
    body = NULL;
  }
  if (body == NULL) {
    check(sb_reply(hub, ticket, SB_REPLY_KIND_ERROR, S("{\"reason\":\"body must be a string\"}"),
                   SB_PAYLOAD_KIND_JSON),
          "reply error");
    return;
  }

  /* The name comes from the connect assigns, never from the payload. */
  const uint8_t *assigns = NULL;
  size_t assigns_len = 0;
  char *user = NULL;
  size_t user_len = 0;
  if (check(sb_event_assigns(ev, &assigns, &assigns_len), "assigns")) {
    user = user_from(assigns, assigns_len, &user_len);
  }
  struct cj_buf msg = {0};
  cj_buf_raw(&msg, "{\"user\":", 8);
  cj_buf_string(&msg, user ? user : "", user ? user_len : 0);
  cj_buf_raw(&msg, ",\"body\":", 8);
  cj_buf_string(&msg, body, body_len);
  cj_buf_raw(&msg, "}", 1);
  if (msg.failed) {
    check(sb_stop(hub, ticket, SB_STOP_KIND_ABNORMAL, S("out of memory")), "stop");
  } else if (check(sb_channel_broadcast(hub, sb_event_channel_id(ev), false, S("new_msg"),
                                        U8(msg.data), msg.len, SB_PAYLOAD_KIND_JSON),
                   "broadcast new_msg")) {
    check(sb_reply(hub, ticket, SB_REPLY_KIND_OK, S("{}"), SB_PAYLOAD_KIND_JSON), "reply ok");
  } else {
    /* The Rust handler's `?` on a failed broadcast crashes the channel the same way. */
    check(sb_stop(hub, ticket, SB_STOP_KIND_ABNORMAL, S("broadcast failed")), "stop");
  }
  free(msg.data);
  free(user);
  free(body);
}

static void handle(const sb_hub *hub, sb_event *ev) {
  uint64_t ticket = sb_event_ticket(ev);
  switch (sb_event_kind(ev)) {
  case SB_REQUEST_KIND_CONNECT: on_connect(hub, ev, ticket); break;
  case SB_REQUEST_KIND_JOIN: on_join(hub, ev, ticket); break;
  case SB_REQUEST_KIND_HANDLE_IN: on_handle_in(hub, ev, ticket); break;
  case SB_REQUEST_KIND_HANDLE_INFO:
  case SB_REQUEST_KIND_HANDLE_OUT: check(sb_noreply(hub, ticket, NULL, 0), "noreply"); break;
  default: break; /* LEAVE: no ticket; the core already untracked the presence */
  }
  /* Answered above, so freeing does not count as a crash (an early return did log why). */
  sb_event_free(ev);
}

/* Takes every waiting request; returns 0 when the hub failed. */
static int drain_queue(const sb_hub *hub) {
  enum { BATCH = 64 };
  for (;;) {
    sb_event *events[BATCH];
    size_t n = 0;
    if (!check(sb_hub_poll(hub, events, BATCH, &n), "poll")) return 0;
    for (size_t i = 0; i < n; i++) handle(hub, events[i]);
    if (n < BATCH) return 1;
  }
}

/* Whether stdin is a pipe, socket or terminal: its end of file then means "stop". */
static int stdin_watchable(void) {
  struct stat st;
  if (fstat(STDIN_FILENO, &st) != 0) return 0;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(STDIN_FILENO);
}

/* Reads what stdin has; returns 1 at end of file (or on a read error). */
static int stdin_ended(void) {
  char buf[512];
  ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
  if (n > 0) return 0;
  return !(n < 0 && (errno == EINTR || errno == EAGAIN));
}

static void serve(const sb_hub *hub) {
  int watch_stdin = stdin_watchable();
  int32_t event_fd = -1;
  if (!check(sb_hub_event_fd(hub, &event_fd), "event fd")) event_fd = -1;
  while (!stop_signal) {
    if (event_fd < 0) {
      /* No event fd (not Linux): a blocking wait with a timeout, stdin checked in between. */
      sb_status st = sb_hub_wait(hub, 200);
      if (st == SB_OK && !drain_queue(hub)) return;
      if (st != SB_OK && st != SB_E_TIMEOUT && !check(st, "wait")) return;
      struct pollfd in = {STDIN_FILENO, POLLIN, 0};
      if (watch_stdin && poll(&in, 1, 0) > 0 && stdin_ended()) return;
      continue;
    }
    struct pollfd fds[2] = {{event_fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    /* The timeout bounds the window between the stop_signal check and poll. */
    int ready = poll(fds, watch_stdin ? 2 : 1, 500);
    if (ready < 0) {
      if (errno == EINTR) continue;
      perror("chat: poll");
      return;
    }
    if (fds[0].revents && !drain_queue(hub)) return;
    if (watch_stdin && fds[1].revents && stdin_ended()) {
      fprintf(stderr, "chat: stdin closed, stopping\n");
      return;
    }
  }
  fprintf(stderr, "chat: signal %d, stopping\n", (int)stop_signal);
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
  int ok = check(sb_config_add_static_file(cfg, U8(route), strlen(route), U8(path), strlen(path),
                                           U8(content_type), strlen(content_type)),
                 route);
  free(path);
  return ok;
}

/* PORT: 0-65535, default 4000. */
static int parse_port(unsigned *out) {
  const char *env = getenv("PORT");
  if (env == NULL) {
    *out = 4000;
    return 1;
  }
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(env, &end, 10);
  while (end && (*end == ' ' || *end == '\t' || *end == '\n')) end++;
  if (errno != 0 || end == env || *end != '\0' || v > 65535 || env[0] == '-') return 0;
  *out = (unsigned)v;
  return 1;
}

int main(void) {
  unsigned port;
  if (!parse_port(&port)) {
    fprintf(stderr, "chat: PORT must be a port number, got \"%s\"\n", getenv("PORT"));
    return 2;
  }

  /* Absolute file paths: the hub reads them per request, relative to the cwd of that time. */
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

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  char bind[32];
  snprintf(bind, sizeof bind, "127.0.0.1:%u", port);
  sb_config *cfg = NULL;
  if (!check(sb_config_new(&cfg), "config")) return 1;
  int configured =
      check(sb_config_set_bind_address(cfg, U8(bind), strlen(bind)), "bind address") &&
      check(sb_config_set_node_name(cfg, S("chat@127.0.0.1")), "node name") &&
      check(sb_config_add_socket(cfg, S("/socket")), "socket /socket") &&
      check(sb_config_set_host_connect(cfg, true), "host connect") &&
      check(sb_config_add_channel(cfg, S("room:*")), "channel room:*") &&
      /* Close the last connections quickly on exit instead of Phoenix's 2 s batches. */
      check(sb_config_set_drain(cfg, 10000, 0, 5000), "drain") &&
      add_file(cfg, root, "/", "examples/chat/index.html", "text/html; charset=utf-8") &&
      add_file(cfg, root, "/app.js", "examples/chat/app.js", "text/javascript") &&
      add_file(cfg, root, "/phoenix.mjs", PHOENIX_MJS, "text/javascript");
  sb_hub *hub = NULL;
  int created = configured && check(sb_hub_new(cfg, SB_ABI_VERSION, &hub), "hub");
  sb_config_free(cfg);
  if (!created) return 1;

  uint16_t bound = 0;
  if (!check(sb_hub_start(hub), "start") || !check(sb_hub_local_port(hub, &bound), "port")) {
    sb_hub_free(hub);
    return 1;
  }
  printf("LISTENING 127.0.0.1:%u\n", (unsigned)bound);
  printf("Chat demo on http://127.0.0.1:%u/\n", (unsigned)bound);
  fflush(stdout);

  serve(hub);

  int rc = check(sb_hub_shutdown(hub), "shutdown") ? 0 : 1;
  /* Requests queued while stopping (leaves of the closed channels) are freed unanswered. */
  size_t n = 0;
  sb_event *events[64];
  while (sb_hub_poll(hub, events, 64, &n) == SB_OK && n > 0) {
    for (size_t i = 0; i < n; i++) sb_event_free(events[i]);
  }
  sb_hub_free(hub);
  return rc;
}

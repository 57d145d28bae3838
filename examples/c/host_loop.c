/* See host_loop.h. */
#define _POSIX_C_SOURCE 200809L
#include "host_loop.h"

#include "chat_json.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *who = "server";
static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

/* The "signal" hl_request_stop raises. */
enum { STOP_REQUESTED = -1 };

void hl_request_stop(void) { stop_signal = STOP_REQUESTED; }

void hl_init(const char *name) {
  who = name;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

int hl_check(sb_status st, const char *what) {
  if (st == SB_OK) return 1;
  char why[512];
  sb_last_error_message(why, sizeof why);
  fprintf(stderr, "%s: %s: %s: %s\n", who, what, sb_status_name(st), why);
  return 0;
}

int hl_port(unsigned fallback, unsigned *out) {
  const char *env = getenv("PORT");
  if (env == NULL) {
    *out = fallback;
    return 1;
  }
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(env, &end, 10);
  while (end && (*end == ' ' || *end == '\t' || *end == '\n')) end++;
  if (errno != 0 || end == env || *end != '\0' || v > 65535 || env[0] == '-') {
    fprintf(stderr, "%s: PORT must be a port number, got \"%s\"\n", who, env);
    return 0;
  }
  *out = (unsigned)v;
  return 1;
}

int hl_bind(sb_config *cfg, unsigned port) {
  char bind[32];
  int n = snprintf(bind, sizeof bind, "127.0.0.1:%u", port);
  return n > 0 && hl_check(sb_config_set_bind_address(cfg, U8(bind), (size_t)n), "bind address");
}

int hl_start(const sb_endpoint *ep, uint16_t *out_port) {
  uint16_t bound = 0;
  if (!hl_check(sb_endpoint_start(ep), "start") ||
      !hl_check(sb_endpoint_local_port(ep, &bound), "port")) {
    return 0;
  }
  printf("LISTENING 127.0.0.1:%u\n", (unsigned)bound);
  fflush(stdout);
  if (out_port) *out_port = bound;
  return 1;
}

sb_endpoint *hl_new_started(sb_config *cfg, int configured, uint16_t *out_port) {
  sb_endpoint *ep = NULL;
  int created = configured && hl_check(sb_endpoint_new(cfg, SB_ABI_VERSION, &ep), "endpoint");
  sb_config_free(cfg);
  if (!created) return NULL;
  if (!hl_start(ep, out_port)) {
    sb_endpoint_free(ep);
    return NULL;
  }
  return ep;
}

/* Takes every waiting request; returns 0 when the endpoint failed. */
static int drain_queue(const sb_endpoint *ep, hl_handler handle, void *ctx) {
  enum { BATCH = 64 };
  for (;;) {
    sb_request *reqs[BATCH];
    size_t n = 0;
    if (!hl_check(sb_endpoint_poll(ep, reqs, BATCH, &n), "poll")) return 0;
    for (size_t i = 0; i < n; i++) handle(ep, reqs[i], ctx);
    if (n < BATCH || stop_signal) return 1;
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

int hl_serve(const sb_endpoint *ep, hl_handler handle, void *ctx) {
  int watch_stdin = stdin_watchable();
  int32_t event_fd = -1;
  if (!hl_check(sb_endpoint_event_fd(ep, &event_fd), "event fd")) event_fd = -1;
  while (!stop_signal) {
    if (event_fd < 0) {
      /* No event fd (not Linux): a blocking wait with a timeout, stdin checked in between. */
      sb_status st = sb_endpoint_wait(ep, 200);
      if (st == SB_OK && !drain_queue(ep, handle, ctx)) return 0;
      if (st != SB_OK && st != SB_E_TIMEOUT && !hl_check(st, "wait")) return 0;
      struct pollfd in = {STDIN_FILENO, POLLIN, 0};
      if (watch_stdin && poll(&in, 1, 0) > 0 && stdin_ended()) return 1;
      continue;
    }
    struct pollfd fds[2] = {{event_fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    /* The timeout bounds the window between the stop_signal check and poll. */
    int ready = poll(fds, watch_stdin ? 2 : 1, 500);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "%s: poll: %s\n", who, strerror(errno));
      return 0;
    }
    if (fds[0].revents && !drain_queue(ep, handle, ctx)) return 0;
    if (watch_stdin && fds[1].revents && stdin_ended()) {
      fprintf(stderr, "%s: stdin closed, stopping\n", who);
      return 1;
    }
  }
  if (stop_signal != STOP_REQUESTED) {
    fprintf(stderr, "%s: signal %d, stopping\n", who, (int)stop_signal);
  }
  return 1;
}

int hl_join_and_track(const sb_endpoint *ep, const sb_request *join, const char *key,
                      size_t key_len, const uint8_t *assigns, size_t assigns_len) {
  struct cj_buf msg = {0};
  cj_buf_raw(&msg, "{\"after_join\":", 14);
  cj_buf_string(&msg, key, key_len);
  cj_buf_raw(&msg, "}", 1);
  uint64_t channel = sb_request_channel_id(join);
  int ok = !msg.failed &&
           hl_check(sb_channel_send_info(ep, channel, U8(msg.data), msg.len), "after_join") &&
           hl_check(sb_join_ok(ep, sb_request_ticket(join), S("{}"), assigns, assigns_len),
                    "join ok");
  free(msg.data);
  return ok;
}

/* Whether `info` is hl_join_and_track's message; then also tracks and pushes the state. */
static int after_join(const sb_endpoint *ep, const sb_request *info) {
  const uint8_t *message = NULL;
  size_t len = 0;
  char *key = NULL;
  size_t key_len = 0;
  if (sb_request_payload(info, &message, &len) != SB_OK || message == NULL ||
      sb_request_payload_kind(info) != SB_PAYLOAD_KIND_JSON ||
      cj_object_get_string(message, len, "after_join", &key, &key_len) != CJ_OK) {
    return 0;
  }
  uint64_t channel = sb_request_channel_id(info);
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) ts.tv_sec = ts.tv_nsec = 0;
  unsigned long long ms =
      (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
  char meta[64];
  int meta_len = snprintf(meta, sizeof meta, "{\"online_at\":%llu}", ms);
  /* SB_E_NOT_FOUND here only means the client already left again. */
  if (meta_len > 0 &&
      hl_check(sb_presence_track(ep, channel, U8(key), key_len, U8(meta), (size_t)meta_len, NULL),
               "presence track")) {
    sb_buffer *list = NULL;
    if (hl_check(sb_presence_list(ep, channel, &list), "presence list")) {
      hl_check(sb_push(ep, channel, S("presence_state"), sb_buffer_data(list),
                       sb_buffer_len(list), SB_PAYLOAD_KIND_JSON),
               "push presence_state");
    }
    sb_buffer_free(list);
  }
  free(key);
  return 1;
}

void hl_handle_info(const sb_endpoint *ep, const sb_request *info) {
  after_join(ep, info);
  hl_check(sb_noreply(ep, sb_request_ticket(info), NULL, 0), "noreply");
}

int hl_shutdown(const sb_endpoint *ep) {
  int rc = hl_check(sb_endpoint_shutdown(ep), "shutdown") ? 0 : 1;
  /* Requests queued while stopping (leaves of the closed channels) are freed unanswered. */
  size_t n = 0;
  sb_request *reqs[64];
  while (sb_endpoint_poll(ep, reqs, 64, &n) == SB_OK && n > 0) {
    for (size_t i = 0; i < n; i++) sb_request_free(reqs[i]);
  }
  return rc;
}

int hl_finish(sb_endpoint *ep) {
  int rc = hl_shutdown(ep);
  sb_endpoint_free(ep);
  return rc;
}

/* C test of HTTP on the endpoint's own port. Static files (sb_config_add_static_file): 200 with
 * the content type, read per request, 404 when missing, the argument checks, and a route
 * that clashes with the socket route refused by sb_endpoint_start. Host HTTP routes
 * (sb_config_add_http_route): SB_REQUEST_KIND_HTTP requests with method, path, query, content
 * type and body, answered by sb_http_respond; 500 when freed unanswered, 504 after the
 * request timeout. HTTP/1.1 over a plain POSIX socket.
 * Also sb_set_log_callback: the static file route logs a missing file (warn) and an unreadable
 * one (error) from an endpoint worker thread, which the callback receives with level, target and
 * message; the level filter, replacing and removing the callback (user_data_free once). */
#define _POSIX_C_SOURCE 200809L
#include "switchboard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* `method path` with `body` (NULL: none) to 127.0.0.1:port with Connection: close; the
 * whole response, NUL-terminated, into buf. Returns the status code, or -1. */
static int http_request(uint16_t port, const char *method, const char *path, const char *body,
                        char *buf, size_t cap) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  char req[512];
  size_t body_len = body ? strlen(body) : 0;
  int n = snprintf(req, sizeof req,
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   method, path, body_len, body ? body : "");
  if (n < 0 || write(fd, req, (size_t)n) != n) {
    close(fd);
    return -1;
  }
  size_t len = 0;
  ssize_t got;
  while (len + 1 < cap && (got = read(fd, buf + len, cap - 1 - len)) > 0) len += (size_t)got;
  buf[len] = '\0';
  close(fd);
  int status = -1;
  if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) return -1;
  return status;
}

static int http_get(uint16_t port, const char *path, char *buf, size_t cap) {
  return http_request(port, "GET", path, NULL, buf, cap);
}

/* One request on its own thread, so the main thread can play the host. */
struct call {
  uint16_t port;
  const char *method, *path, *body;
  int status;
  char resp[4096];
};

static void *call_thread(void *arg) {
  struct call *c = arg;
  c->status = http_request(c->port, c->method, c->path, c->body, c->resp, sizeof c->resp);
  return NULL;
}

/* The next request of the endpoint, waiting up to 10 s; NULL when none came. */
static sb_request *next_request(const sb_endpoint *ep) {
  for (int i = 0; i < 100; i++) {
    sb_request *req = NULL;
    size_t n = 0;
    if (sb_endpoint_poll(ep, &req, 1, &n) == SB_OK && n == 1) return req;
    /* SB_E_TIMEOUT just means "poll again"; gcc ignores a (void) cast on warn_unused_result. */
    if (sb_endpoint_wait(ep, 100) != SB_OK) continue;
  }
  return NULL;
}

static int bytes_are(const sb_request *req,
                     sb_status (*get)(const sb_request *, const uint8_t **, size_t *),
                     const char *want) {
  const uint8_t *p = NULL;
  size_t len = 0;
  if (get(req, &p, &len) != SB_OK) return 0;
  return len == strlen(want) && (len == 0 || memcmp(p, want, len) == 0);
}

static void test_http_routes(void) {
  sb_config *cfg = NULL;
  EXPECT_OK(sb_config_new(&cfg));
  EXPECT_OK(sb_config_set_worker_threads(cfg, 1));
  EXPECT_OK(sb_config_set_request_timeout_ms(cfg, 500));
  EXPECT_OK(sb_config_add_http_route(cfg, S("/api")));
  EXPECT_STATUS(sb_config_add_http_route(cfg, S("/api")), SB_E_INVALID_ARGUMENT); /* twice */
  EXPECT_STATUS(sb_config_add_http_route(cfg, S("api")), SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_add_http_route(cfg, S("/api/")), SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_add_http_route(cfg, S("/a/*")), SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_add_http_route(NULL, S("/b")), SB_E_NULL_POINTER);
  const uint8_t bad_utf8[] = {'/', 0xff};
  EXPECT_STATUS(sb_config_add_http_route(cfg, bad_utf8, 2), SB_E_INVALID_UTF8);
  sb_endpoint *ep = NULL;
  EXPECT_OK(sb_endpoint_new(cfg, SB_ABI_VERSION, &ep));
  sb_config_free(cfg);
  EXPECT_OK(sb_endpoint_start(ep));
  uint16_t port = 0;
  EXPECT_OK(sb_endpoint_local_port(ep, &port));

  /* Answered: the host sees the request and its answer is the response. */
  struct call c = {port, "POST", "/api/items/7?verbose=1", "{\"a\":1}", 0, {0}};
  pthread_t t;
  EXPECT(pthread_create(&t, NULL, call_thread, &c) == 0);
  sb_request *req = next_request(ep);
  EXPECT(req != NULL);
  if (req != NULL) {
    EXPECT(sb_request_get_kind(req) == SB_REQUEST_KIND_HTTP);
    EXPECT(sb_request_payload_kind(req) == SB_PAYLOAD_KIND_BINARY);
    EXPECT(bytes_are(req, sb_request_http_method, "POST"));
    EXPECT(bytes_are(req, sb_request_http_path, "/api/items/7"));
    EXPECT(bytes_are(req, sb_request_http_prefix, "/api"));
    EXPECT(bytes_are(req, sb_request_pattern, "")); /* no channel */
    EXPECT(bytes_are(req, sb_request_http_query, "verbose=1"));
    EXPECT(bytes_are(req, sb_request_http_content_type, "application/json"));
    EXPECT(bytes_are(req, sb_request_payload, "{\"a\":1}"));
    EXPECT(bytes_are(req, sb_request_topic, "")); /* no channel */
    uint64_t ticket = sb_request_ticket(req);
    /* Answers that do not fit leave it pending. */
    EXPECT_STATUS(sb_reply(ep, ticket, SB_REPLY_KIND_NOREPLY, NULL, 0, SB_PAYLOAD_KIND_JSON),
                  SB_E_WRONG_ANSWER);
    EXPECT_STATUS(sb_http_respond(ep, ticket, 99, NULL, 0, NULL, 0), SB_E_INVALID_ARGUMENT);
    EXPECT_STATUS(sb_http_respond(ep, ticket, 200, S("text/plain\r\nx: y"), NULL, 0),
                  SB_E_INVALID_ARGUMENT);
    EXPECT_STATUS(sb_http_respond(NULL, ticket, 200, NULL, 0, NULL, 0), SB_E_NULL_POINTER);
    EXPECT_OK(sb_http_respond(ep, ticket, 201, S("text/plain"), S("made")));
    EXPECT_STATUS(sb_http_respond(ep, ticket, 200, NULL, 0, NULL, 0), SB_E_ALREADY_ANSWERED);
    sb_request_free(req);
  }
  EXPECT(pthread_join(t, NULL) == 0);
  EXPECT(c.status == 201);
  EXPECT(strstr(c.resp, "content-type: text/plain") != NULL);
  EXPECT(strstr(c.resp, "\r\n\r\nmade") != NULL);

  /* Freed unanswered: 500. */
  struct call dropped = {port, "GET", "/api", NULL, 0, {0}};
  EXPECT(pthread_create(&t, NULL, call_thread, &dropped) == 0);
  sb_request_free(next_request(ep));
  EXPECT(pthread_join(t, NULL) == 0);
  EXPECT(dropped.status == 500);

  /* Not answered within the request timeout: 504, and the late answer is stale. */
  struct call slow = {port, "GET", "/api/slow", NULL, 0, {0}};
  EXPECT(pthread_create(&t, NULL, call_thread, &slow) == 0);
  req = next_request(ep);
  EXPECT(pthread_join(t, NULL) == 0);
  EXPECT(slow.status == 504);
  if (req != NULL) {
    EXPECT_STATUS(sb_http_respond(ep, sb_request_ticket(req), 200, NULL, 0, NULL, 0),
                  SB_E_STALE_TICKET);
    sb_request_free(req);
  }

  /* Outside the prefix: not routed. */
  static char resp[4096];
  EXPECT(http_get(port, "/apix", resp, sizeof resp) == 404);
  EXPECT_OK(sb_endpoint_shutdown(ep));
  sb_endpoint_free(ep);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  EXPECT(f != NULL);
  if (f == NULL) return;
  fputs(text, f);
  fclose(f);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* What the log callback saw (it runs on endpoint worker threads: guarded by a mutex). */
struct log_seen {
  pthread_mutex_t lock;
  int calls;
  int warn_not_found; /* WARN from the static file module about /gone.js's path */
  int error_unreadable;
  int frees;
  pthread_t last_thread;
};

static int contains(const uint8_t *p, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++) {
    if (memcmp(p + i, needle, k) == 0) return 1;
  }
  return 0;
}

static void on_log(void *user_data, uint32_t level, const uint8_t *target, size_t target_len,
                   const uint8_t *message, size_t message_len) {
  struct log_seen *seen = user_data;
  pthread_mutex_lock(&seen->lock);
  seen->calls++;
  seen->last_thread = pthread_self();
  int from_static = contains(target, target_len, "switchboard::endpoint::static_files");
  if (level == SB_LOG_LEVEL_WARN && from_static &&
      contains(message, message_len, "static file not found") &&
      contains(message, message_len, "missing.js")) {
    seen->warn_not_found++;
  }
  if (level == SB_LOG_LEVEL_ERROR && from_static &&
      contains(message, message_len, "cannot read static file")) {
    seen->error_unreadable++;
  }
  pthread_mutex_unlock(&seen->lock);
}

static void free_seen(void *user_data) {
  struct log_seen *seen = user_data;
  pthread_mutex_lock(&seen->lock);
  seen->frees++;
  pthread_mutex_unlock(&seen->lock);
}

static int seen_get(struct log_seen *seen, const int *field) {
  pthread_mutex_lock(&seen->lock);
  int v = *field;
  pthread_mutex_unlock(&seen->lock);
  return v;
}

/* The worker logs before it answers, so the count is normally there once the response is;
 * waiting up to 2 s keeps the test from depending on that. */
static int await_count(struct log_seen *seen, const int *field, int want) {
  for (int i = 0; i < 200 && seen_get(seen, field) < want; i++) sleep_ms(10);
  return seen_get(seen, field);
}

static void test_log_callback(uint16_t port) {
  static char resp[8192];
  EXPECT_STATUS(sb_set_log_callback(on_log, 0, NULL, NULL), SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_set_log_callback(on_log, 6, NULL, NULL), SB_E_INVALID_ARGUMENT);

  struct log_seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
  EXPECT_OK(sb_set_log_callback(on_log, SB_LOG_LEVEL_WARN, &seen, free_seen));
  EXPECT(http_get(port, "/gone.js", resp, sizeof resp) == 404);
  EXPECT(await_count(&seen, &seen.warn_not_found, 1) == 1);
  EXPECT(!pthread_equal(seen.last_thread, pthread_self())); /* an endpoint worker logged it */
  EXPECT(http_get(port, "/dir", resp, sizeof resp) == 500);
  EXPECT(await_count(&seen, &seen.error_unreadable, 1) == 1);

  /* Errors only: the missing file's warning is filtered out, the unreadable one passes. */
  EXPECT_OK(sb_set_log_callback(on_log, SB_LOG_LEVEL_ERROR, &seen, NULL));
  EXPECT(seen_get(&seen, &seen.frees) == 1); /* replaced: the first registration's free ran */
  EXPECT(http_get(port, "/gone.js", resp, sizeof resp) == 404);
  EXPECT(http_get(port, "/dir", resp, sizeof resp) == 500);
  EXPECT(await_count(&seen, &seen.error_unreadable, 2) == 2);
  EXPECT(seen_get(&seen, &seen.warn_not_found) == 1);

  /* Removed: nothing more arrives; the free given with the removal runs at once. */
  EXPECT_OK(sb_set_log_callback(NULL, 0, &seen, free_seen));
  EXPECT(seen_get(&seen, &seen.frees) == 2);
  int calls = seen_get(&seen, &seen.calls);
  EXPECT(http_get(port, "/gone.js", resp, sizeof resp) == 404);
  EXPECT(http_get(port, "/dir", resp, sizeof resp) == 500);
  sleep_ms(100);
  EXPECT(seen_get(&seen, &seen.calls) == calls);
}

int main(void) {
  char dir[] = "/tmp/sb-static-XXXXXX";
  EXPECT(mkdtemp(dir) != NULL);
  char page[64], missing[64];
  snprintf(page, sizeof page, "%s/index.html", dir);
  snprintf(missing, sizeof missing, "%s/missing.js", dir);
  write_file(page, "<h1>one</h1>");

  sb_config *cfg = NULL;
  EXPECT_OK(sb_config_new(&cfg));
  EXPECT_OK(sb_config_set_worker_threads(cfg, 1));
  EXPECT_OK(sb_config_add_static_file(cfg, S("/"), (const uint8_t *)page, strlen(page),
                                      S("text/html; charset=utf-8")));
  EXPECT_OK(sb_config_add_static_file(cfg, S("/gone.js"), (const uint8_t *)missing,
                                      strlen(missing), S("text/javascript")));
  EXPECT_OK(sb_config_add_static_file(cfg, S("/dir"), (const uint8_t *)dir, strlen(dir),
                                      S("text/plain")));
  /* Argument checks. */
  const uint8_t bad_utf8[] = {0xff};
  EXPECT_STATUS(sb_config_add_static_file(cfg, S("/"), S("x"), S("text/plain")),
                SB_E_INVALID_ARGUMENT); /* twice */
  EXPECT_STATUS(sb_config_add_static_file(cfg, S("app.js"), S("x"), S("text/plain")),
                SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_add_static_file(cfg, S("/{x}"), S("x"), S("text/plain")),
                SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_add_static_file(cfg, S("/a"), S(""), S("text/plain")),
                SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_add_static_file(cfg, S("/a"), S("x"), S("text/plain\r\nx: y")),
                SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_add_static_file(cfg, S("/a"), S("x"), S("")), SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_add_static_file(cfg, bad_utf8, 1, S("x"), S("text/plain")),
                SB_E_INVALID_UTF8);
  EXPECT_STATUS(sb_config_add_static_file(NULL, S("/a"), S("x"), S("text/plain")),
                SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_config_add_static_file(cfg, NULL, 3, S("x"), S("text/plain")),
                SB_E_NULL_POINTER);

  sb_endpoint *ep = NULL;
  EXPECT_OK(sb_endpoint_new(cfg, SB_ABI_VERSION, &ep));
  EXPECT_OK(sb_endpoint_start(ep));
  uint16_t port = 0;
  EXPECT_OK(sb_endpoint_local_port(ep, &port));
  static char resp[8192];
  EXPECT(http_get(port, "/", resp, sizeof resp) == 200);
  EXPECT(strstr(resp, "content-type: text/html; charset=utf-8") != NULL);
  EXPECT(strstr(resp, "\r\n\r\n<h1>one</h1>") != NULL);
  /* Read per request: an edit shows without a restart. */
  write_file(page, "<h1>two</h1>");
  EXPECT(http_get(port, "/", resp, sizeof resp) == 200);
  EXPECT(strstr(resp, "\r\n\r\n<h1>two</h1>") != NULL);
  EXPECT(http_get(port, "/gone.js", resp, sizeof resp) == 404);
  EXPECT(http_get(port, "/nothing", resp, sizeof resp) == 404);
  test_log_callback(port);
  EXPECT_OK(sb_endpoint_shutdown(ep));
  sb_endpoint_free(ep);

  /* A static route on the socket route itself is refused at start. */
  EXPECT_OK(sb_config_add_static_file(cfg, S("/socket/websocket"), S("x"), S("text/plain")));
  EXPECT_OK(sb_endpoint_new(cfg, SB_ABI_VERSION, &ep));
  EXPECT_STATUS(sb_endpoint_start(ep), SB_E_INVALID_ARGUMENT);
  sb_endpoint_free(ep);
  sb_config_free(cfg);

  remove(page);
  rmdir(dir);

  test_http_routes();
  return check_summary();
}

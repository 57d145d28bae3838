/* C test of clustering (docs/CLUSTER.md): two endpoints in this process, nodes "a" and "b",
 * share a real broker (a redis-server, then a nats-server, each started here on a free
 * 127.0.0.1 port and killed by PID). A broadcast on a reaches a host subscription on b
 * (topic, event and payload bytes intact, JSON and binary); sb_local_broadcast stays on a; a
 * third endpoint named "a" is refused at sb_endpoint_start with SB_E_BROKER.
 * Binaries: env SB_REDIS_SERVER / SB_NATS_SERVER, else PATH, else /usr/bin/redis-server,
 * /usr/sbin/nats-server. Built with -std=c11 -Wall -Wextra -Werror, run under ASan/LSan/UBSan
 * and valgrind by tests/c/run.sh. */
#define _POSIX_C_SOURCE 200809L
#include "switchboard.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

extern char **environ;

#define HEARTBEAT_MS 100 /* sb_endpoint_start listens 1.5 heartbeats for a namesake */
#define WAIT_MS 5000     /* for a broadcast to cross */

static int bytes_eq(const uint8_t *p, size_t n, const char *want) {
  return n == strlen(want) && (n == 0 || memcmp(p, want, n) == 0);
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- broker servers ----------------------------------------------------------------------- */

/* env `var`, else `name` in PATH, else `fallback`; NULL when none is executable. */
static const char *find_binary(const char *var, const char *name, const char *fallback) {
  static char buf[4096];
  const char *env = getenv(var);
  if (env != NULL && env[0] != '\0') return access(env, X_OK) == 0 ? env : NULL;
  const char *path = getenv("PATH");
  while (path != NULL && *path != '\0') {
    size_t len = strcspn(path, ":");
    if (len > 0 && (size_t)snprintf(buf, sizeof buf, "%.*s/%s", (int)len, path, name) < sizeof buf &&
        access(buf, X_OK) == 0) {
      return buf;
    }
    path += len;
    if (*path == ':') path++;
  }
  return access(fallback, X_OK) == 0 ? fallback : NULL;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
      getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

static int send_all(int fd, const char *text) {
  return send(fd, text, strlen(text), MSG_NOSIGNAL) == (ssize_t)strlen(text);
}

/* Connects to 127.0.0.1:port, writes `request` (if any) and reads one line: true when it starts
 * with `want` (redis: PING -> +PONG; nats: the server's INFO line). */
static int answers(int port, const char *request, const char *want) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  char buf[64] = {0};
  size_t got = 0;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
      (request == NULL || send_all(fd, request))) {
    while (got < strlen(want)) {
      ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
      if (n <= 0) break;
      got += (size_t)n;
    }
  }
  close(fd);
  return got >= strlen(want) && strncmp(buf, want, strlen(want)) == 0;
}

struct broker {
  const char *kind; /* "redis" or "nats" */
  pid_t pid;
  int port;
  char url[64];
};

/* Spawns the server on a free port (3 tries, in case the port is taken in between) and waits
 * until it answers, 10 s at most. Returns 0 on success. */
static int broker_start(struct broker *b, const char *kind) {
  int redis = strcmp(kind, "redis") == 0;
  const char *exe = redis ? find_binary("SB_REDIS_SERVER", "redis-server", "/usr/bin/redis-server")
                          : find_binary("SB_NATS_SERVER", "nats-server", "/usr/sbin/nats-server");
  if (exe == NULL) {
    fprintf(stderr, "%s server not found: install it or set SB_%s_SERVER\n", kind,
            redis ? "REDIS" : "NATS");
    return -1;
  }
  b->kind = kind;
  for (int attempt = 0; attempt < 3; attempt++) {
    b->port = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", b->port);
    snprintf(b->url, sizeof b->url, "%s://127.0.0.1:%d", kind, b->port);
    char *redis_argv[] = {(char *)exe, "--port", port, "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", NULL};
    char *nats_argv[] = {(char *)exe, "-a", "127.0.0.1", "-p", port, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    int rc = posix_spawn(&b->pid, exe, &fa, NULL, redis ? redis_argv : nats_argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      fprintf(stderr, "posix_spawn %s: %s\n", exe, strerror(rc));
      return -1;
    }
    long deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
      if (redis ? answers(b->port, "PING\r\n", "+PONG") : answers(b->port, NULL, "INFO ")) {
        return 0;
      }
      int status;
      if (waitpid(b->pid, &status, WNOHANG) == b->pid) break; /* exited: port taken? */
      sleep_ms(25);
    }
    kill(b->pid, SIGKILL);
    waitpid(b->pid, NULL, 0);
  }
  fprintf(stderr, "%s server did not answer\n", kind);
  return -1;
}

static void broker_stop(struct broker *b) {
  if (kill(b->pid, SIGKILL) == 0) waitpid(b->pid, NULL, 0);
}

/* ---- the nodes ---------------------------------------------------------------------------- */

/* A new endpoint on 127.0.0.1:0 named `node` on `url`'s broker (not started). */
static sb_endpoint *cluster_node(const char *url, const char *node) {
  sb_config *cfg = NULL;
  sb_endpoint *ep = NULL;
  EXPECT_OK(sb_config_new(&cfg));
  EXPECT_OK(sb_config_set_worker_threads(cfg, 1));
  EXPECT_OK(sb_config_set_text(cfg, S("broker"), (const uint8_t *)url, strlen(url)));
  EXPECT_OK(sb_config_set_text(cfg, S("node"), (const uint8_t *)node, strlen(node)));
  EXPECT_OK(sb_config_set_int(cfg, S("broker_heartbeat_ms"), HEARTBEAT_MS));
  EXPECT_OK(sb_endpoint_new(cfg, SB_ABI_VERSION, &ep));
  sb_config_free(cfg);
  return ep;
}

/* Waits for the next message on `sub` and checks it is (topic, event, payload, kind). */
static void expect_message(sb_subscription *sub, const char *topic, const char *event,
                           const uint8_t *payload, size_t payload_len, uint32_t kind) {
  sb_message *msg = NULL;
  EXPECT_OK(sb_subscription_wait(sub, WAIT_MS, &msg));
  if (msg == NULL) {
    fprintf(stderr, "  no \"%s\" message on %s\n", event, topic);
    return;
  }
  const uint8_t *p = NULL;
  size_t n = 0;
  EXPECT_OK(sb_message_topic(msg, &p, &n));
  EXPECT(bytes_eq(p, n, topic));
  EXPECT_OK(sb_message_event(msg, &p, &n));
  if (!bytes_eq(p, n, event)) {
    fprintf(stderr, "  got event \"%.*s\", expected \"%s\"\n", (int)n, (const char *)p, event);
  }
  EXPECT(bytes_eq(p, n, event));
  EXPECT_OK(sb_message_payload(msg, &p, &n));
  EXPECT(n == payload_len && memcmp(p, payload, n) == 0);
  EXPECT(sb_message_payload_kind(msg) == kind);
  sb_message_free(msg);
}

#define EXPECT_JSON_MESSAGE(sub, topic, event, json) \
  expect_message(sub, topic, event, (const uint8_t *)(json), strlen(json), SB_PAYLOAD_KIND_JSON)

static void expect_nothing(sb_subscription *sub, uint32_t ms) {
  sb_message *msg = NULL;
  EXPECT_STATUS(sb_subscription_wait(sub, ms, &msg), SB_E_TIMEOUT);
  if (msg != NULL) {
    const uint8_t *p = NULL;
    size_t n = 0;
    if (sb_message_event(msg, &p, &n) == SB_OK) {
      fprintf(stderr, "  unexpected message \"%.*s\"\n", (int)n, (const char *)p);
    }
    sb_message_free(msg);
  }
}

static void test_cluster(const char *kind) {
  printf("%s:\n", kind);
  struct broker broker;
  if (broker_start(&broker, kind) != 0) {
    EXPECT(!"broker started");
    return;
  }
  sb_endpoint *a = cluster_node(broker.url, "a");
  sb_endpoint *b = cluster_node(broker.url, "b");
  EXPECT_OK(sb_endpoint_start(a));
  EXPECT_OK(sb_endpoint_start(b));

  sb_subscription *on_a = NULL, *on_b = NULL, *other_on_b = NULL;
  EXPECT_OK(sb_subscribe(a, S("room:x"), 16, &on_a));
  EXPECT_OK(sb_subscribe(b, S("room:x"), 16, &on_b));
  EXPECT_OK(sb_subscribe(b, S("room:y"), 16, &other_on_b));

  /* 1. An endpoint broadcast on a reaches b's host subscription, bytes intact. */
  const char *json = "{\"text\":\"h\xc3\xa9llo\",\"n\":1,\"list\":[1,null,true]}";
  size_t delivered = 99;
  EXPECT_OK(sb_broadcast(a, S("room:x"), S("news"), (const uint8_t *)json, strlen(json),
                         SB_PAYLOAD_KIND_JSON, &delivered));
  EXPECT(delivered == 1); /* local subscribers: on_a */
  EXPECT_JSON_MESSAGE(on_b, "room:x", "news", json);
  EXPECT_JSON_MESSAGE(on_a, "room:x", "news", json);
  const uint8_t bin[] = {0, 1, 2, 255, '{'};
  EXPECT_OK(sb_broadcast(a, S("room:x"), S("bin"), bin, sizeof bin, SB_PAYLOAD_KIND_BINARY, NULL));
  expect_message(on_b, "room:x", "bin", bin, sizeof bin, SB_PAYLOAD_KIND_BINARY);
  expect_message(on_a, "room:x", "bin", bin, sizeof bin, SB_PAYLOAD_KIND_BINARY);

  /* sb_local_broadcast stays on a: a later broadcast is the marker (per-publisher order: had
   * the local one crossed, b would have had it first). */
  EXPECT_OK(sb_local_broadcast(a, S("room:x"), S("local"), S("{\"n\":2}"), SB_PAYLOAD_KIND_JSON,
                               &delivered));
  EXPECT(delivered == 1);
  EXPECT_OK(sb_broadcast(a, S("room:x"), S("marker"), S("{\"n\":3}"), SB_PAYLOAD_KIND_JSON, NULL));
  EXPECT_JSON_MESSAGE(on_b, "room:x", "marker", "{\"n\":3}");
  EXPECT_JSON_MESSAGE(on_a, "room:x", "local", "{\"n\":2}");
  EXPECT_JSON_MESSAGE(on_a, "room:x", "marker", "{\"n\":3}");
  expect_nothing(on_b, 100);
  expect_nothing(on_a, 0); /* each once: the broker's echo is not delivered again */
  expect_nothing(other_on_b, 0);

  /* 2. A third endpoint named "a" is refused; a keeps serving. */
  sb_endpoint *namesake = cluster_node(broker.url, "a");
  EXPECT_STATUS(sb_endpoint_start(namesake), SB_E_BROKER);
  EXPECT(strstr(last_error(), "node name \"a\" is already used by a live process") != NULL);
  sb_endpoint_free(namesake);
  EXPECT_OK(sb_broadcast(a, S("room:x"), S("still"), S("{}"), SB_PAYLOAD_KIND_JSON, NULL));
  EXPECT_JSON_MESSAGE(on_b, "room:x", "still", "{}");

  sb_subscription_free(on_a);
  sb_subscription_free(on_b);
  sb_subscription_free(other_on_b);
  EXPECT_OK(sb_endpoint_shutdown(a));
  EXPECT_OK(sb_endpoint_shutdown(b));
  sb_endpoint_free(a);
  sb_endpoint_free(b);
  broker_stop(&broker);
}

int main(void) {
  test_cluster("redis");
  test_cluster("nats");
  return check_summary();
}

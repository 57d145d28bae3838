/* C test of the host request queue: a C host serves the channels of an endpoint through
 * sb_endpoint_poll and answers by ticket, while the stock phoenix client
 * (tests/c/ws_host_client.mjs, path in SB_WS_HOST_CLIENT) runs a scenario against it. Covers every request kind, every
 * answer function, channel actions by id, the event fd, sb_endpoint_wait, the wakeup callback,
 * answers from another thread, double answers, stale tickets, requests freed unanswered and
 * unknown ids. Built with -std=c11 -Wall -Wextra -Werror, run under ASan/LSan/UBSan and
 * valgrind by tests/c/run.sh. */
#define _POSIX_C_SOURCE 200809L
#include "switchboard.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Copies a borrowed request field into a NUL-terminated buffer for easy comparison. */
typedef sb_status (*getter)(const sb_request *, const uint8_t **, size_t *);
static const char *field(const sb_request *req, getter get) {
  static char buf[1024];
  const uint8_t *p = NULL;
  size_t n = 0;
  if (get(req, &p, &n) != SB_OK || p == NULL) return "";
  if (n >= sizeof buf) n = sizeof buf - 1;
  memcpy(buf, p, n);
  buf[n] = '\0';
  return buf;
}

/* ---- wakeup callback ------------------------------------------------------------------ */

static atomic_int wakeups;
static atomic_int user_data_freed;
static atomic_int wrong_user_data;

/* Runs on a Switchboard thread: only atomics here. */
static void on_wakeup(void *user_data) {
  if (user_data != (void *)&wakeups) atomic_fetch_add(&wrong_user_data, 1);
  atomic_fetch_add(&wakeups, 1);
}

static void free_user_data(void *user_data) {
  if (user_data != (void *)&wakeups) atomic_fetch_add(&wrong_user_data, 1);
  atomic_fetch_add(&user_data_freed, 1);
}

/* ---- the client process, read on its own thread ---------------------------------------- */

#define MAX_LINES 64
static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;
static char lines[MAX_LINES][256];
static int line_count = 0;
static int client_done = 0;

static void *read_client(void *arg) {
  FILE *pipe = arg;
  char line[256];
  while (fgets(line, sizeof line, pipe) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    pthread_mutex_lock(&lines_lock);
    if (line_count < MAX_LINES) {
      snprintf(lines[line_count++], sizeof lines[0], "%s", line);
    }
    pthread_mutex_unlock(&lines_lock);
  }
  pthread_mutex_lock(&lines_lock);
  client_done = 1;
  pthread_mutex_unlock(&lines_lock);
  return NULL;
}

static int saw_line(const char *want) {
  int found = 0;
  pthread_mutex_lock(&lines_lock);
  for (int i = 0; i < line_count; i++) {
    if (strcmp(lines[i], want) == 0) found = 1;
  }
  pthread_mutex_unlock(&lines_lock);
  return found;
}

static int is_client_done(void) {
  pthread_mutex_lock(&lines_lock);
  int done = client_done;
  pthread_mutex_unlock(&lines_lock);
  return done;
}

/* ---- answers from other threads ------------------------------------------------------- */

/* The request travels with its answer: freeing it unanswered would count as a crash. */
struct deferred {
  const sb_endpoint *ep;
  sb_request *req;
  uint64_t ticket;
  long delay_ms;
  sb_status status;
  int is_ping;
};

static void *answer_later(void *arg) {
  struct deferred *d = arg;
  sleep_ms(d->delay_ms);
  if (d->is_ping) {
    d->status = sb_reply(d->ep, d->ticket, SB_REPLY_KIND_OK, S("{\"pong\":1}"),
                         SB_PAYLOAD_KIND_JSON);
  } else {
    d->status = sb_reply(d->ep, d->ticket, SB_REPLY_KIND_NOREPLY, NULL, 0, SB_PAYLOAD_KIND_JSON);
  }
  sb_request_free(d->req);
  return NULL;
}

/* ---- the host ---------------------------------------------------------------------------- */

struct host {
  sb_endpoint *ep;
  uint64_t room1;       /* channel id of room:1 */
  int room1_actions;    /* push/tick/presence done */
  uint64_t info_ticket; /* ticket of the last {"reuse":1} handle_info */
  int leaves;
  int leave_crash, leave_stop, leave_gone;
  int connects, refused;
  pthread_t threads[4];
  struct deferred deferred[4];
  int n_threads;
};

/* Channel actions by id made while the join is being answered: pushes and send_info are
 * deferred until right after the ok join reply (as inside a Phoenix join/3). */
static sb_status room1_actions(struct host *h) {
  sb_status s = sb_push(h->ep, h->room1, S("hello"), S("{\"n\":1}"), SB_PAYLOAD_KIND_JSON);
  if (s != SB_OK) return s;
  EXPECT_OK(sb_channel_send_info(h->ep, h->room1, S("{\"tick\":1}")));
  sb_buffer *phx_ref = NULL;
  EXPECT_OK(sb_presence_track(h->ep, h->room1, S("u1"), S("{\"online\":true}"), &phx_ref));
  EXPECT(phx_ref != NULL && sb_buffer_len(phx_ref) > 0);
  sb_buffer_free(phx_ref);
  EXPECT_OK(sb_presence_update(h->ep, h->room1, S("u1"), S("{\"online\":\"yes\"}"), NULL));
  EXPECT_OK(sb_presence_track(h->ep, h->room1, S("tmp"), S("{}"), NULL));
  EXPECT_OK(sb_presence_untrack(h->ep, h->room1, S("tmp")));
  sb_buffer *list = NULL;
  EXPECT_OK(sb_presence_list(h->ep, h->room1, &list));
  EXPECT(list != NULL && sb_buffer_len(list) > 0);
  if (list != NULL) {
    char text[512] = {0};
    size_t n = sb_buffer_len(list) < sizeof text - 1 ? sb_buffer_len(list) : sizeof text - 1;
    memcpy(text, sb_buffer_data(list), n);
    EXPECT(strstr(text, "\"u1\"") != NULL);
    EXPECT(strstr(text, "\"yes\"") != NULL);
    EXPECT(strstr(text, "\"tmp\"") == NULL);
    /* Phoenix channels push the state themselves after join; so does this host. */
    EXPECT_OK(sb_push(h->ep, h->room1, S("presence_state"), sb_buffer_data(list),
                      sb_buffer_len(list), SB_PAYLOAD_KIND_JSON));
  }
  sb_buffer_free(list);
  /* Error statuses of the actions. */
  EXPECT_STATUS(sb_presence_track(h->ep, h->room1, S("u1"), S("[1]"), NULL),
                SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_presence_track(h->ep, h->room1, S("u1"), S("{"), NULL), SB_E_INVALID_JSON);
  EXPECT_STATUS(sb_push(h->ep, h->room1, S(""), S("{}"), SB_PAYLOAD_KIND_JSON),
                SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_push(h->ep, h->room1, S("e"), S("[]"), SB_PAYLOAD_KIND_JSON), SB_E_ENCODE);
  EXPECT_STATUS(sb_channel_send_info(h->ep, h->room1, S("{x")), SB_E_INVALID_JSON);
  EXPECT_OK(sb_channel_subscribe(h->ep, h->room1, S("side:1")));
  bool was = false;
  EXPECT_OK(sb_channel_unsubscribe(h->ep, h->room1, S("side:1"), &was));
  EXPECT(was);
  EXPECT_OK(sb_channel_unsubscribe(h->ep, h->room1, S("side:2"), &was));
  EXPECT(!was);
  EXPECT_STATUS(sb_channel_subscribe(h->ep, h->room1, S("")), SB_E_INVALID_ARGUMENT);
  return SB_OK;
}

static void handle(struct host *h, sb_request *req) {
  int kept = 0;
  uint32_t kind = sb_request_get_kind(req);
  uint64_t ticket = sb_request_ticket(req);
  char topic[256];
  snprintf(topic, sizeof topic, "%s", field(req, sb_request_topic));
  char event[256];
  snprintf(event, sizeof event, "%s", field(req, sb_request_event));

  switch (kind) {
    case SB_REQUEST_KIND_CONNECT: {
      h->connects++;
      EXPECT(ticket != 0);
      EXPECT(sb_request_channel_id(req) == 0);
      EXPECT(strcmp(field(req, sb_request_mount), "/socket") == 0);
      EXPECT(sb_request_payload_kind(req) == SB_PAYLOAD_KIND_JSON);
      const char *params = field(req, sb_request_payload);
      if (strstr(params, "\"token\":\"bad\"") != NULL) {
        h->refused++;
        EXPECT_STATUS(sb_connect_refuse(h->ep, ticket, 200), SB_E_INVALID_ARGUMENT);
        EXPECT_OK(sb_connect_refuse(h->ep, ticket, 403));
      } else {
        EXPECT(strstr(params, "\"token\":\"t0k\"") != NULL);
        EXPECT_STATUS(sb_connect_ok(h->ep, ticket, S("[]"), S("user:1")),
                      SB_E_INVALID_ARGUMENT);
        EXPECT_OK(sb_connect_ok(h->ep, ticket, S("{\"user\":\"u1\"}"), S("user:1")));
      }
      break;
    }
    case SB_REQUEST_KIND_JOIN: {
      EXPECT(ticket != 0);
      EXPECT(sb_request_channel_id(req) != 0);
      EXPECT(strcmp(field(req, sb_request_join_ref), "") != 0);
      EXPECT(strcmp(field(req, sb_request_socket_id), "user:1") == 0);
      /* The core matched the topic; the request names the pattern registered. */
      EXPECT(strncmp(topic, "room:", 5) != 0 ||
             strcmp(field(req, sb_request_pattern), "room:*") == 0);
      EXPECT(strstr(field(req, sb_request_assigns), "\"user\":\"u1\"") != NULL);
      if (strcmp(topic, "room:1") == 0) {
        EXPECT(strcmp(field(req, sb_request_payload), "{\"name\":\"c\"}") == 0);
        /* A NOREPLY does not fit a join: refused, the request stays pending. */
        EXPECT_STATUS(sb_reply(h->ep, ticket, SB_REPLY_KIND_NOREPLY, NULL, 0,
                               SB_PAYLOAD_KIND_JSON),
                      SB_E_WRONG_ANSWER);
        EXPECT_STATUS(sb_reply(h->ep, ticket, 9, NULL, 0, SB_PAYLOAD_KIND_JSON),
                      SB_E_INVALID_ARGUMENT);
        h->room1 = sb_request_channel_id(req);
        EXPECT_OK(room1_actions(h));
        h->room1_actions = 1;
        EXPECT_OK(sb_join_ok(h->ep, ticket, S("{\"welcome\":true}"),
                             S("{\"user\":\"u1\",\"room\":1}")));
        EXPECT_STATUS(sb_join_ok(h->ep, ticket, NULL, 0, NULL, 0), SB_E_ALREADY_ANSWERED);
      } else if (strcmp(topic, "room:refuse") == 0) {
        EXPECT_OK(sb_join_error(h->ep, ticket, S("{\"reason\":\"nope\"}")));
      } else if (strcmp(topic, "room:drop") == 0) {
        /* Freed below without an answer: the client gets "join crashed". */
      } else {
        /* room:slow, room:stop: accepted through the generic sb_reply. */
        EXPECT_OK(sb_reply(h->ep, ticket, SB_REPLY_KIND_OK, NULL, 0, SB_PAYLOAD_KIND_JSON));
      }
      break;
    }
    case SB_REQUEST_KIND_HANDLE_IN: {
      EXPECT(ticket != 0);
      if (strcmp(topic, "room:1") == 0) {
        /* Counted from the ok join reply on, on every connection of this node. */
        size_t count = 0;
        EXPECT_OK(sb_endpoint_channel_count(h->ep, S("room:1"), &count));
        EXPECT(count == 1);
      }
      EXPECT(strstr(field(req, sb_request_assigns), "\"room\":1") != NULL ||
             strcmp(topic, "room:1") != 0);
      if (strcmp(event, "ping") == 0) {
        EXPECT(strcmp(field(req, sb_request_ref), "") != 0);
        /* Answered from another thread. */
        struct deferred *d = &h->deferred[h->n_threads];
        *d = (struct deferred){h->ep, req, ticket, 20, SB_E_PANIC, 1};
        kept = 1;
        EXPECT(pthread_create(&h->threads[h->n_threads++], NULL, answer_later, d) == 0);
      } else if (strcmp(event, "custom") == 0) {
        EXPECT_OK(sb_reply_status(h->ep, ticket, S("maybe"), S("{\"x\":1}"),
                                  SB_PAYLOAD_KIND_JSON, S("{\"user\":\"u1\",\"room\":1,\"c\":1}")));
      } else if (strcmp(event, "quiet") == 0) {
        EXPECT_OK(sb_noreply(h->ep, ticket, NULL, 0));
        EXPECT_STATUS(sb_noreply(h->ep, ticket, NULL, 0), SB_E_ALREADY_ANSWERED);
      } else if (strcmp(event, "later") == 0) {
        /* NOREPLY now, then a reply by channel id and ref (Phoenix reply(socket_ref, ..)). */
        char ref[64];
        snprintf(ref, sizeof ref, "%s", field(req, sb_request_ref));
        uint64_t id = sb_request_channel_id(req);
        EXPECT_OK(sb_reply(h->ep, ticket, SB_REPLY_KIND_NOREPLY, NULL, 0, SB_PAYLOAD_KIND_JSON));
        EXPECT_STATUS(sb_channel_reply(h->ep, id, NULL, 0, S("ok"), S("{}"),
                                       SB_PAYLOAD_KIND_JSON),
                      SB_E_INVALID_ARGUMENT);
        EXPECT_STATUS(sb_channel_reply(h->ep, 12345, (const uint8_t *)ref, strlen(ref), S("ok"),
                                       S("{}"), SB_PAYLOAD_KIND_JSON),
                      SB_E_NOT_FOUND);
        EXPECT_OK(sb_channel_reply(h->ep, id, (const uint8_t *)ref, strlen(ref), S("ok"),
                                   S("{\"later\":true}"), SB_PAYLOAD_KIND_JSON));
      } else if (strcmp(event, "shout") == 0) {
        /* Broadcast to the topic; "shout" is intercepted, so it comes back as HANDLE_OUT. */
        const char *shout = field(req, sb_request_payload);
        EXPECT_OK(sb_channel_broadcast(h->ep, sb_request_channel_id(req), false, S("shout"),
                                       (const uint8_t *)shout, strlen(shout),
                                       SB_PAYLOAD_KIND_JSON));
        EXPECT_OK(sb_reply(h->ep, ticket, SB_REPLY_KIND_OK, S("{}"), SB_PAYLOAD_KIND_JSON));
      } else if (strcmp(event, "slow") == 0) {
        /* Answered 300 ms after the 400 ms request timeout: stale; the channel got phx_error.
         * (check_ticket_reuse answers it again once its slot was reused: still stale.) */
        struct deferred *d = &h->deferred[h->n_threads];
        *d = (struct deferred){h->ep, req, ticket, 700, SB_E_PANIC, 0};
        kept = 1;
        EXPECT(pthread_create(&h->threads[h->n_threads++], NULL, answer_later, d) == 0);
      } else if (strcmp(event, "stop") == 0) {
        EXPECT_STATUS(sb_stop(h->ep, ticket, 7, NULL, 0), SB_E_INVALID_ARGUMENT);
        EXPECT_OK(sb_stop(h->ep, ticket, SB_STOP_KIND_NORMAL, NULL, 0));
      } else {
        EXPECT(!"unexpected handle_in event");
        EXPECT_OK(sb_reply(h->ep, ticket, SB_REPLY_KIND_NOREPLY, NULL, 0, SB_PAYLOAD_KIND_JSON));
      }
      break;
    }
    case SB_REQUEST_KIND_HANDLE_INFO: {
      EXPECT(ticket != 0);
      if (strcmp(field(req, sb_request_payload), "{\"reuse\":1}") == 0) {
        h->info_ticket = ticket;
        EXPECT_OK(sb_noreply(h->ep, ticket, NULL, 0));
        break;
      }
      EXPECT(strcmp(field(req, sb_request_payload), "{\"tick\":1}") == 0);
      EXPECT_OK(sb_push(h->ep, sb_request_channel_id(req), S("tick"), S("{\"n\":2}"),
                        SB_PAYLOAD_KIND_JSON));
      EXPECT_OK(sb_reply(h->ep, ticket, SB_REPLY_KIND_NOREPLY, NULL, 0, SB_PAYLOAD_KIND_JSON));
      break;
    }
    case SB_REQUEST_KIND_HANDLE_OUT: {
      EXPECT(ticket != 0);
      EXPECT(strcmp(event, "shout") == 0);
      const char *payload = field(req, sb_request_payload);
      EXPECT_OK(sb_push(h->ep, sb_request_channel_id(req), S("shout"), (const uint8_t *)payload,
                        strlen(payload), SB_PAYLOAD_KIND_JSON));
      EXPECT_OK(sb_noreply(h->ep, ticket, NULL, 0));
      break;
    }
    case SB_REQUEST_KIND_LEAVE: {
      h->leaves++;
      EXPECT(ticket == 0);
      EXPECT_STATUS(sb_reply(h->ep, ticket, SB_REPLY_KIND_OK, NULL, 0, SB_PAYLOAD_KIND_JSON),
                    SB_E_NOT_FOUND);
      const char *reason = field(req, sb_request_reason);
      if (strncmp(reason, "crash:", 6) == 0) h->leave_crash++;
      if (strcmp(reason, "stop:normal") == 0) h->leave_stop++;
      if (strcmp(reason, "disconnected") == 0 || strcmp(reason, "closed") == 0) h->leave_gone++;
      EXPECT(sb_request_channel_id(req) != 0);
      if (strcmp(reason, "stop:normal") == 0) {
        /* Closed with phx_close: until this request is freed the channel still pushes, and
         * the push goes out after phx_close (Phoenix's terminate). */
        EXPECT_OK(sb_push(h->ep, sb_request_channel_id(req), S("you_left"), S("{\"bye\":1}"),
                          SB_PAYLOAD_KIND_JSON));
        EXPECT_STATUS(sb_presence_track(h->ep, sb_request_channel_id(req), S("k"), S("{}"), NULL),
                      SB_E_NOT_FOUND);
      } else {
        /* Crashed or disconnected: nothing reaches the client, actions are refused. */
        EXPECT_STATUS(sb_push(h->ep, sb_request_channel_id(req), S("e"), S("{}"),
                              SB_PAYLOAD_KIND_JSON),
                      SB_E_NOT_FOUND);
      }
      break;
    }
    default:
      EXPECT(!"unknown event kind");
  }
  if (!kept) sb_request_free(req);
}

static void drain_events(struct host *h) {
  sb_request *batch[8];
  size_t n = 0;
  do {
    EXPECT_OK(sb_endpoint_poll(h->ep, batch, 8, &n));
    for (size_t i = 0; i < n; i++) handle(h, batch[i]);
  } while (n == 8);
}

/* Stale tickets stay stale, and answered ones answered, after their slot was reused (a ticket
 * is generation << 32 | slot): send_info requests on room:1, one at a time, until newer
 * tickets reused the slots of the late "slow" ticket and of the first info ticket. */
static void check_ticket_reuse(struct host *h) {
  uint64_t late = h->deferred[1].ticket, first = 0;
  int late_reused = 0, first_reused = 0;
  for (int i = 0; i < 500 && !(late_reused && first_reused); i++) {
    h->info_ticket = 0;
    EXPECT_OK(sb_channel_send_info(h->ep, h->room1, S("{\"reuse\":1}")));
    for (int spins = 0; spins < 500 && h->info_ticket == 0; spins++) {
      if (sb_endpoint_wait(h->ep, 10) == SB_OK) drain_events(h);
    }
    uint64_t t = h->info_ticket;
    if (t == 0) break;
    if (first == 0) {
      first = t;
      continue;
    }
    if ((t & 0xffffffffu) == (late & 0xffffffffu)) late_reused = 1;
    if ((t & 0xffffffffu) == (first & 0xffffffffu)) first_reused = 1;
  }
  EXPECT(late_reused && first_reused);
  EXPECT_STATUS(sb_noreply(h->ep, late, NULL, 0), SB_E_STALE_TICKET);
  EXPECT_STATUS(sb_noreply(h->ep, first, NULL, 0), SB_E_ALREADY_ANSWERED);
  EXPECT_STATUS(sb_noreply(h->ep, late + ((uint64_t)1000000 << 32), NULL, 0), SB_E_NOT_FOUND);
}

static void test_errors_without_requests(sb_endpoint *ep) {
  size_t n = 99;
  sb_request *req[2];
  EXPECT_OK(sb_endpoint_poll(ep, req, 2, &n));
  EXPECT(n == 0);
  EXPECT_OK(sb_endpoint_poll(ep, NULL, 0, &n));
  EXPECT_STATUS(sb_endpoint_poll(ep, NULL, 2, &n), SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_endpoint_poll(ep, req, 2, NULL), SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_endpoint_poll(NULL, req, 2, &n), SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_endpoint_wait(ep, 10), SB_E_TIMEOUT);
  EXPECT_STATUS(sb_endpoint_wait(NULL, 10), SB_E_NULL_POINTER);
  int fd = -1;
  EXPECT_STATUS(sb_endpoint_event_fd(NULL, &fd), SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_endpoint_event_fd(ep, NULL), SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_endpoint_set_wakeup(NULL, on_wakeup, NULL, NULL), SB_E_NULL_POINTER);

  /* Unknown tickets and channel ids. */
  EXPECT_STATUS(sb_reply(ep, 0, SB_REPLY_KIND_OK, NULL, 0, SB_PAYLOAD_KIND_JSON),
                SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_reply(ep, 0xdeadbeef, SB_REPLY_KIND_OK, NULL, 0, SB_PAYLOAD_KIND_JSON),
                SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_reply(ep, 1, SB_REPLY_KIND_OK, S("{"), SB_PAYLOAD_KIND_JSON),
                SB_E_INVALID_JSON);
  EXPECT_STATUS(sb_reply(ep, 1, SB_REPLY_KIND_OK, S("{}"), 5), SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_reply(NULL, 1, SB_REPLY_KIND_OK, NULL, 0, SB_PAYLOAD_KIND_JSON),
                SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_reply_status(ep, 77, S(""), S("{}"), SB_PAYLOAD_KIND_JSON, NULL, 0),
                SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_reply_status(ep, 77, S("ok"), S("{}"), SB_PAYLOAD_KIND_JSON, S("[]")),
                SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_reply_status(ep, 77, S("ok"), S("{}"), SB_PAYLOAD_KIND_JSON, NULL, 0),
                SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_noreply(ep, 77, S("{")), SB_E_INVALID_JSON);
  EXPECT_STATUS(sb_noreply(ep, 77, NULL, 0), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_stop(ep, 77, SB_STOP_KIND_ABNORMAL, S("boom")), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_join_ok(ep, 77, S("{}"), NULL, 0), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_join_error(ep, 77, NULL, 0), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_connect_ok(ep, 77, NULL, 0, NULL, 0), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_connect_refuse(ep, 77, 403), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_push(ep, 0, S("e"), S("{}"), SB_PAYLOAD_KIND_JSON), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_push(ep, 12345, S("e"), S("{}"), SB_PAYLOAD_KIND_JSON), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_channel_broadcast(ep, 12345, true, S("e"), S("{}"), SB_PAYLOAD_KIND_JSON),
                SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_channel_send_info(ep, 12345, S("{}")), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_channel_subscribe(ep, 12345, S("t")), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_channel_unsubscribe(ep, 12345, S("t"), NULL), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_presence_track(ep, 12345, S("k"), S("{}"), NULL), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_presence_update(ep, 12345, S("k"), S("{}"), NULL), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_presence_untrack(ep, 12345, S("k")), SB_E_NOT_FOUND);
  sb_buffer *buf = NULL;
  EXPECT_STATUS(sb_presence_list(ep, 12345, &buf), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_presence_list(ep, 12345, NULL), SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_push(NULL, 1, S("e"), S("{}"), SB_PAYLOAD_KIND_JSON), SB_E_NULL_POINTER);

  /* Request getters on NULL. */
  const uint8_t *p = NULL;
  size_t len = 0;
  EXPECT(sb_request_get_kind(NULL) == 0);
  EXPECT(sb_request_ticket(NULL) == 0);
  EXPECT(sb_request_channel_id(NULL) == 0);
  EXPECT(sb_request_payload_kind(NULL) == 0);
  getter getters[] = {sb_request_topic,     sb_request_event,   sb_request_payload,
                      sb_request_join_ref,  sb_request_ref,     sb_request_socket_id,
                      sb_request_assigns,   sb_request_reason,  sb_request_auth_token,
                      sb_request_mount};
  for (size_t i = 0; i < sizeof getters / sizeof getters[0]; i++) {
    EXPECT_STATUS(getters[i](NULL, &p, &len), SB_E_NULL_POINTER);
  }
  sb_request_free(NULL);
}

int main(void) {
  const char *client = getenv("SB_WS_HOST_CLIENT");
  if (client == NULL) {
    fprintf(stderr, "SB_WS_HOST_CLIENT is not set\n");
    return 1;
  }
  sb_config *cfg = NULL;
  EXPECT_OK(sb_config_new(&cfg));
  EXPECT_OK(sb_config_set_worker_threads(cfg, 2));
  EXPECT_OK(sb_config_set_request_timeout_ms(cfg, 400));
  EXPECT_OK(sb_config_set_host_connect(cfg, true));
  EXPECT_OK(sb_config_add_channel(cfg, S("room:*")));
  EXPECT_STATUS(sb_config_add_channel(cfg, S("room:*")), SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_add_channel(cfg, S("")), SB_E_INVALID_ARGUMENT);
  EXPECT_OK(sb_config_add_intercept(cfg, S("room:*"), S("shout")));
  EXPECT_STATUS(sb_config_add_intercept(cfg, S("nope:*"), S("shout")), SB_E_NOT_FOUND);
  EXPECT_STATUS(sb_config_add_intercept(cfg, S("room:*"), S("")), SB_E_INVALID_ARGUMENT);
  EXPECT_OK(sb_config_set_max_pending(cfg, 1024));
  EXPECT_STATUS(sb_config_set_max_pending(cfg, 0), SB_E_INVALID_ARGUMENT);
  EXPECT_STATUS(sb_config_set_max_pending(NULL, 1), SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_config_set_host_connect(NULL, true), SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_config_add_channel(NULL, S("x")), SB_E_NULL_POINTER);
  EXPECT_STATUS(sb_config_add_intercept(NULL, S("x"), S("y")), SB_E_NULL_POINTER);
  EXPECT_OK(sb_config_set_drain(cfg, 100, 0, 3000));

  struct host h;
  memset(&h, 0, sizeof h);
  EXPECT_OK(sb_endpoint_new(cfg, SB_ABI_VERSION, &h.ep));
  sb_config_free(cfg);
  EXPECT_OK(sb_endpoint_start(h.ep));
  uint16_t port = 0;
  EXPECT_OK(sb_endpoint_local_port(h.ep, &port));

  test_errors_without_requests(h.ep);

  /* Event fd and wakeup: both quiet before any request. */
  int fd = -1;
  EXPECT_OK(sb_endpoint_event_fd(h.ep, &fd));
  EXPECT(fd >= 0);
  struct pollfd pfd = {fd, POLLIN, 0};
  EXPECT(poll(&pfd, 1, 0) == 0);
  EXPECT_OK(sb_endpoint_set_wakeup(h.ep, on_wakeup, &wakeups, free_user_data));
  /* Replacing the callback releases the previous user data exactly once. */
  EXPECT_OK(sb_endpoint_set_wakeup(h.ep, on_wakeup, &wakeups, free_user_data));
  EXPECT(atomic_load(&user_data_freed) == 1);
  EXPECT(atomic_load(&wakeups) == 0);

  char cmd[1024];
  snprintf(cmd, sizeof cmd, "node '%s' %u", client, (unsigned)port);
  FILE *pipe = popen(cmd, "r");
  EXPECT(pipe != NULL);
  if (pipe == NULL) return 1;
  pthread_t reader;
  EXPECT(pthread_create(&reader, NULL, read_client, pipe) == 0);

  /* The first request (the refused connect) makes the fd readable and runs the callback. */
  EXPECT(poll(&pfd, 1, 10000) == 1);
  EXPECT((pfd.revents & POLLIN) != 0);
  /* The callback runs right after the fd is signalled, on the posting thread. */
  for (int spins = 0; spins < 1000 && atomic_load(&wakeups) == 0; spins++) sleep_ms(1);
  EXPECT(atomic_load(&wakeups) >= 1);
  drain_events(&h);
  EXPECT(h.refused == 1);

  /* Then a host thread's loop on sb_endpoint_wait until the client is done. */
  int disconnected = 0, threads_joined = 0;
  for (int spins = 0; spins < 3000 && !is_client_done(); spins++) {
    sb_status s = sb_endpoint_wait(h.ep, 10);
    EXPECT(s == SB_OK || s == SB_E_TIMEOUT);
    drain_events(&h);
    if (!disconnected && saw_line("READY_FOR_DISCONNECT")) {
      /* The deferred answers are done by now (the slow one 700 ms after its request). */
      for (int i = 0; i < h.n_threads; i++) pthread_join(h.threads[i], NULL);
      threads_joined = 1;
      check_ticket_reuse(&h);
      size_t n = 0;
      EXPECT_OK(sb_disconnect(h.ep, S("user:1"), &n));
      EXPECT(n == 1);
      disconnected = 1;
    }
  }
  pthread_join(reader, NULL);
  EXPECT(pclose(pipe) == 0);
  if (!threads_joined) {
    for (int i = 0; i < h.n_threads; i++) pthread_join(h.threads[i], NULL);
  }
  /* Leaves of the last channels may still be on their way. */
  for (int spins = 0; spins < 200 && h.leaves < 3; spins++) {
    if (sb_endpoint_wait(h.ep, 10) != SB_OK) continue;
    drain_events(&h);
  }

  const char *want[] = {
      "REFUSED 403",
      "JOIN room:1 ok {\"welcome\":true}",
      "PUSH hello {\"n\":1}",
      "PUSH tick {\"n\":2}",
      "PRESENCE u1",
      "REPLY ping ok {\"pong\":1}",
      "REPLY custom maybe {\"x\":1}",
      "REPLY quiet timeout",
      "REPLY later ok {\"later\":true}",
      "REPLY shout ok",
      "PUSH shout {\"text\":\"hey\"}",
      "JOIN room:refuse error {\"reason\":\"nope\"}",
      "JOIN room:drop error {\"reason\":\"join crashed\"}",
      "JOIN other:1 error {\"reason\":\"unmatched topic\"}",
      "ERROR room:slow",
      "CLOSED room:stop",
      "PUSH you_left {\"bye\":1} after phx_close,you_left",
      "SOCKET CLOSED 1001",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    if (!saw_line(want[i])) {
      failures++;
      fprintf(stderr, "client never printed: %s\n", want[i]);
    }
    checks++;
  }
  EXPECT(h.room1_actions == 1);
  EXPECT(h.n_threads == 2);
  EXPECT_OK(h.deferred[0].status);                       /* ping, from another thread */
  EXPECT_STATUS(h.deferred[1].status, SB_E_STALE_TICKET); /* slow, after the timeout */
  EXPECT(h.connects == 2);
  EXPECT(h.leave_crash == 1);
  EXPECT(h.leave_stop == 1);
  EXPECT(h.leave_gone == 1);

  /* Removing the callback releases its user data; sb_endpoint_free would have done the same. */
  EXPECT_OK(sb_endpoint_set_wakeup(h.ep, NULL, NULL, NULL));
  EXPECT(atomic_load(&user_data_freed) == 2);
  EXPECT_OK(sb_endpoint_set_wakeup(h.ep, on_wakeup, &wakeups, free_user_data));
  EXPECT_OK(sb_endpoint_shutdown(h.ep));
  sb_endpoint_free(h.ep);
  EXPECT(atomic_load(&user_data_freed) == 3);
  EXPECT(atomic_load(&wrong_user_data) == 0);

  if (failures > 0) {
    pthread_mutex_lock(&lines_lock);
    for (int i = 0; i < line_count; i++) fprintf(stderr, "client: %s\n", lines[i]);
    pthread_mutex_unlock(&lines_lock);
  }
  return check_summary();
}

/* C test of sb_broadcast_owned: the payload stays in the caller's malloc'd buffer, reaches
 * every subscriber, and `release` runs exactly once — after the last subscriber's message is
 * freed (here on another thread), or before the call returns when it fails or nobody keeps
 * the payload. Under ASan/valgrind a second release is a double free and a missing one a leak;
 * the counters below check it directly as well. */
#define _POSIX_C_SOURCE 200809L
#include "switchboard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int bytes_eq(const uint8_t *p, size_t n, const void *want, size_t want_len) {
  return n == want_len && (n == 0 || memcmp(p, want, n) == 0);
}

/* One buffer handed over: how often it was released, by which thread, with which pointer. */
struct tracked {
  atomic_int releases;
  uint8_t *data;
  uint8_t *released_data;
  pthread_t released_by;
};

static void release(void *ctx, uint8_t *data) {
  struct tracked *t = ctx;
  t->released_data = data;
  t->released_by = pthread_self();
  atomic_fetch_add(&t->releases, 1);
  free(data);
}

static uint8_t *copy_of(const char *text, size_t len) {
  uint8_t *p = malloc(len);
  if (p) memcpy(p, text, len);
  return p;
}

static const char JSON[] = "{\"body\":\"a payload that is not copied\"}";

/* Broadcasts a malloc'd copy of JSON on `topic` with `t` tracking its release. */
static sb_status broadcast_copy(sb_endpoint *ep, const char *topic, struct tracked *t,
                                size_t *out_delivered) {
  *t = (struct tracked){0};
  t->data = copy_of(JSON, sizeof JSON - 1);
  return sb_broadcast_owned(ep, (const uint8_t *)topic, strlen(topic), S("new_msg"), t->data,
                            sizeof JSON - 1, SB_PAYLOAD_KIND_JSON, release, t, out_delivered);
}

static sb_endpoint *new_ep(void) {
  sb_config *cfg = NULL;
  sb_endpoint *ep = NULL;
  EXPECT_OK(sb_config_new(&cfg));
  EXPECT_OK(sb_config_set_worker_threads(cfg, 1));
  EXPECT_OK(sb_endpoint_new(cfg, SB_ABI_VERSION, &ep));
  sb_config_free(cfg);
  EXPECT_OK(sb_endpoint_start(ep));
  return ep;
}

static void *free_message(void *msg) {
  sb_message_free(msg);
  return NULL;
}

static void test_delivery_and_one_release(sb_endpoint *ep) {
  sb_subscription *a = NULL, *b = NULL;
  EXPECT_OK(sb_subscribe(ep, S("room:owned"), 4, &a));
  EXPECT_OK(sb_subscribe(ep, S("room:owned"), 4, &b));

  struct tracked t;
  size_t delivered = 0;
  EXPECT_OK(broadcast_copy(ep, "room:owned", &t, &delivered));
  EXPECT(delivered == 2);

  sb_message *ma = NULL, *mb = NULL;
  EXPECT_OK(sb_subscription_wait(a, 1000, &ma));
  EXPECT_OK(sb_subscription_wait(b, 1000, &mb));
  const uint8_t *p = NULL;
  size_t n = 0;
  EXPECT_OK(sb_message_payload(ma, &p, &n));
  EXPECT(bytes_eq(p, n, JSON, sizeof JSON - 1));
  EXPECT(p == t.data); /* zero copy: the subscriber reads the caller's buffer */
  EXPECT_OK(sb_message_payload(mb, &p, &n));
  EXPECT(p == t.data);
  EXPECT(sb_message_payload_kind(mb) == SB_PAYLOAD_KIND_JSON);
  EXPECT(atomic_load(&t.releases) == 0); /* both messages still hold it */

  sb_message_free(ma);
  EXPECT(atomic_load(&t.releases) == 0);
  /* The last holder is freed on another thread: release runs there, once. */
  pthread_t th;
  EXPECT(pthread_create(&th, NULL, free_message, mb) == 0);
  EXPECT(pthread_join(th, NULL) == 0);
  EXPECT(atomic_load(&t.releases) == 1);
  EXPECT(t.released_data == t.data);
  EXPECT(pthread_equal(t.released_by, th));
  EXPECT(!pthread_equal(t.released_by, pthread_self()));

  /* Binary payloads likewise. */
  const uint8_t bin[] = {0, 1, 2, 255};
  struct tracked tb = {0};
  tb.data = malloc(sizeof bin);
  memcpy(tb.data, bin, sizeof bin);
  EXPECT_OK(sb_broadcast_owned(ep, S("room:owned"), S("bin"), tb.data, sizeof bin,
                               SB_PAYLOAD_KIND_BINARY, release, &tb, NULL));
  EXPECT_OK(sb_subscription_poll(a, &ma));
  EXPECT(ma != NULL && sb_message_payload_kind(ma) == SB_PAYLOAD_KIND_BINARY);
  EXPECT_OK(sb_message_payload(ma, &p, &n));
  EXPECT(bytes_eq(p, n, bin, sizeof bin));
  sb_message_free(ma);
  EXPECT(atomic_load(&tb.releases) == 0); /* b still holds it */
  /* Freeing the subscription drops its undelivered message: the release runs then. */
  sb_subscription_free(b);
  EXPECT(atomic_load(&tb.releases) == 1);
  sb_subscription_free(a);
}

static void test_released_when_nobody_keeps_it(sb_endpoint *ep) {
  struct tracked t;
  size_t delivered = 7;
  EXPECT_OK(broadcast_copy(ep, "room:empty", &t, &delivered));
  EXPECT(delivered == 0);
  EXPECT(atomic_load(&t.releases) == 1);

  /* An empty payload with a NULL buffer is refused as JSON, and still released. */
  struct tracked empty = {0};
  EXPECT_STATUS(sb_broadcast_owned(ep, S("room:empty"), S("e"), NULL, 0, SB_PAYLOAD_KIND_JSON,
                                   release, &empty, NULL),
                SB_E_INVALID_JSON);
  EXPECT(atomic_load(&empty.releases) == 1 && empty.released_data == NULL);
}

/* Every failure hands the buffer back before returning, exactly once; out-params untouched. */
static void test_failures_release_once(sb_endpoint *ep) {
  struct {
    const char *payload;
    uint32_t kind;
    int null_ep;
    sb_status want;
  } cases[] = {
      {"{not json", SB_PAYLOAD_KIND_JSON, 0, SB_E_INVALID_JSON},
      {"[1,2]", SB_PAYLOAD_KIND_JSON, 0, SB_E_ENCODE},
      {"{}", 99, 0, SB_E_INVALID_ARGUMENT},
      {"{}", SB_PAYLOAD_KIND_JSON, 1, SB_E_NULL_POINTER},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct tracked t = {0};
    size_t len = strlen(cases[i].payload);
    t.data = copy_of(cases[i].payload, len);
    size_t delivered = 42;
    EXPECT_STATUS(sb_broadcast_owned(cases[i].null_ep ? NULL : ep, S("room:x"), S("e"), t.data,
                                     len, cases[i].kind, release, &t, &delivered),
                  cases[i].want);
    EXPECT(atomic_load(&t.releases) == 1);
    EXPECT(delivered == 42);
  }
  const uint8_t bad_utf8[] = {'r', 0xc3};
  struct tracked t = {0};
  t.data = copy_of("{}", 2);
  EXPECT_STATUS(sb_broadcast_owned(ep, bad_utf8, sizeof bad_utf8, S("e"), t.data, 2,
                                   SB_PAYLOAD_KIND_JSON, release, &t, NULL),
                SB_E_INVALID_UTF8);
  EXPECT(atomic_load(&t.releases) == 1);
  t = (struct tracked){0};
  t.data = copy_of("{}", 2);
  EXPECT_STATUS(sb_broadcast_owned(ep, S(""), S("e"), t.data, 2, SB_PAYLOAD_KIND_JSON, release,
                                   &t, NULL),
                SB_E_INVALID_ARGUMENT);
  EXPECT(atomic_load(&t.releases) == 1);
  /* NULL data with a length: refused, released with NULL (nothing to free). */
  t = (struct tracked){0};
  EXPECT_STATUS(sb_broadcast_owned(ep, S("room:x"), S("e"), NULL, 3, SB_PAYLOAD_KIND_BINARY,
                                   release, &t, NULL),
                SB_E_NULL_POINTER);
  EXPECT(atomic_load(&t.releases) == 1);
  /* No release callback: refused, and the caller keeps its buffer. */
  uint8_t keep[] = "{}";
  EXPECT_STATUS(sb_broadcast_owned(ep, S("room:x"), S("e"), keep, 2, SB_PAYLOAD_KIND_JSON, NULL,
                                   NULL, NULL),
                SB_E_NULL_POINTER);
}

/* A subscription's message outlives the endpoint: the release waits for sb_message_free. */
static void test_message_outlives_endpoint(void) {
  sb_endpoint *ep = new_ep();
  sb_subscription *sub = NULL;
  EXPECT_OK(sb_subscribe(ep, S("room:late"), 4, &sub));
  struct tracked t;
  EXPECT_OK(broadcast_copy(ep, "room:late", &t, NULL));
  sb_message *msg = NULL;
  EXPECT_OK(sb_subscription_poll(sub, &msg));
  sb_endpoint_free(ep);
  EXPECT(atomic_load(&t.releases) == 0);
  const uint8_t *p = NULL;
  size_t n = 0;
  EXPECT_OK(sb_message_payload(msg, &p, &n));
  EXPECT(bytes_eq(p, n, JSON, sizeof JSON - 1));
  sb_message_free(msg);
  EXPECT(atomic_load(&t.releases) == 1);
  sb_subscription_free(sub);
}

int main(void) {
  sb_endpoint *ep = new_ep();
  test_delivery_and_one_release(ep);
  test_released_when_nobody_keeps_it(ep);
  test_failures_release_once(ep);
  sb_endpoint_free(ep);
  test_message_outlives_endpoint();
  return check_summary();
}

/* A tiny C host built only from the installed header and library (pkg-config and CMake
 * consumer tests): starts an endpoint on 127.0.0.1 port 0, receives its own broadcast through
 * a host-side subscription, shuts down. Exit status 0 on success. */
#include <switchboard.h>

#include <stdio.h>
#include <string.h>

#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

static int fail(const char *what, sb_status s) {
  char msg[256];
  sb_last_error_message(msg, sizeof msg);
  fprintf(stderr, "%s: %s (%s)\n", what, sb_status_name(s), msg);
  return 1;
}

int main(void) {
  sb_config *cfg = NULL;
  sb_endpoint *ep = NULL;
  sb_subscription *sub = NULL;
  sb_message *msg = NULL;
  sb_status s;
  if ((s = sb_config_new(&cfg)) != SB_OK) return fail("sb_config_new", s);
  if ((s = sb_config_set_worker_threads(cfg, 1)) != SB_OK) return fail("threads", s);
  if ((s = sb_endpoint_new(cfg, SB_ABI_VERSION, &ep)) != SB_OK) return fail("sb_endpoint_new", s);
  sb_config_free(cfg);
  if ((s = sb_endpoint_start(ep)) != SB_OK) return fail("sb_endpoint_start", s);
  uint16_t port = 0;
  if ((s = sb_endpoint_local_port(ep, &port)) != SB_OK) return fail("sb_endpoint_local_port", s);
  if ((s = sb_subscribe(ep, S("room:lobby"), 4, &sub)) != SB_OK) return fail("subscribe", s);
  if ((s = sb_broadcast(ep, S("room:lobby"), S("hello"), S("{\"from\":\"c\"}"),
                        SB_PAYLOAD_KIND_JSON, NULL)) != SB_OK)
    return fail("sb_broadcast", s);
  if ((s = sb_subscription_wait(sub, 5000, &msg)) != SB_OK) return fail("wait", s);
  const uint8_t *p = NULL;
  size_t n = 0;
  if ((s = sb_message_payload(msg, &p, &n)) != SB_OK) return fail("payload", s);
  int ok = n == strlen("{\"from\":\"c\"}") && memcmp(p, "{\"from\":\"c\"}", n) == 0;
  sb_message_free(msg);
  sb_subscription_free(sub);
  if ((s = sb_endpoint_shutdown(ep)) != SB_OK) return fail("sb_endpoint_shutdown", s);
  sb_endpoint_free(ep);
  if (!ok) {
    fprintf(stderr, "unexpected payload\n");
    return 1;
  }
  printf("%s: listened on port %u, broadcast received\n", sb_version(), (unsigned)port);
  return 0;
}

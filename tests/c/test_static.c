/* C test of sb_config_add_static_file: files served on the hub's own port (200 with the
 * content type, read per request, 404 when missing), the argument checks, and a route that
 * clashes with the socket route refused by sb_hub_start. HTTP/1.1 over a plain POSIX socket. */
#define _POSIX_C_SOURCE 200809L
#include "switchboard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"

/* GET path from 127.0.0.1:port with Connection: close; the whole response, NUL-terminated,
 * into buf. Returns the status code, or -1. */
static int http_get(uint16_t port, const char *path, char *buf, size_t cap) {
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
  char req[256];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                   path);
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

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  EXPECT(f != NULL);
  if (f == NULL) return;
  fputs(text, f);
  fclose(f);
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

  sb_hub *hub = NULL;
  EXPECT_OK(sb_hub_new(cfg, SB_ABI_VERSION, &hub));
  EXPECT_OK(sb_hub_start(hub));
  uint16_t port = 0;
  EXPECT_OK(sb_hub_local_port(hub, &port));
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
  EXPECT_OK(sb_hub_shutdown(hub));
  sb_hub_free(hub);

  /* A static route on the socket route itself is refused at start. */
  EXPECT_OK(sb_config_add_static_file(cfg, S("/socket/websocket"), S("x"), S("text/plain")));
  EXPECT_OK(sb_hub_new(cfg, SB_ABI_VERSION, &hub));
  EXPECT_STATUS(sb_hub_start(hub), SB_E_INVALID_ARGUMENT);
  sb_hub_free(hub);
  sb_config_free(cfg);

  remove(page);
  rmdir(dir);
  return check_summary();
}

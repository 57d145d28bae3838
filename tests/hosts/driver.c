/* The C driver of the cross-language behaviour table (tests/hosts/cases.json): runs every case
 * it can express against the real C ABI (libswitchboard, include/switchboard.h) and prints one
 * JSON line per case on stdout: {"id", "code" (the sb_status name), "message" (the last error,
 * when not SB_OK), ...observations}. A terminate reason is C's one string, `reason_text`.
 *
 * The protocol with tests/hosts/behaviour.test.mjs is the one driver.mjs describes: the `local`
 * cases, then {"ready": port} once the scenario endpoint listens (channels room:lobby, room:*,
 * * in that order; HTTP routes /api, /api/v2, /bad; host connect), a line per `client` /
 * `channel` case as the runner drives clients, {"sync": k} for each stdin {"cmd":"sync","n":k},
 * and on {"cmd":"close"} the `closed` cases (after sb_endpoint_shutdown), then {"end":true}.
 * One thread answers every request (poll(2) on the endpoint's event fd and stdin); the
 * shutdown runs on a second thread meanwhile, so the channels' LEAVE requests are still
 * answered while it drains.
 *
 * Built by behaviour.test.mjs (gcc, AddressSanitizer + UBSan) against the release library.
 * Usage: driver_c cases.json */
#define _POSIX_C_SOURCE 200809L
#include "switchboard.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define U8(s) ((const uint8_t *)(s))
#define STR(s) U8(s), strlen(s)
/* Fallible calls whose status a step does not need (the library warns on an unused one). */
#define IGNORE(call)        \
  do {                      \
    sb_status ignored_ = (call); \
    (void)ignored_;         \
  } while (0)

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("driver.c: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die("out of memory");
  return p;
}

/* ---- a small JSON reader (cases.json, request payloads, stdin commands) ------------------- */

typedef struct jv jv;
struct jv {
  char t; /* 'n' null, 'b' bool, 'd' number, 's' string, 'a' array, 'o' object */
  int b;
  double d;
  long long i;
  char *s; /* decoded string, NUL-terminated */
  size_t n; /* items of an array or object */
  jv **v;
  char **k;
  const char *src; /* the value's own JSON text (payloads are passed on as written) */
  size_t srclen;
};

typedef struct {
  const char *p, *end;
} jr;

static void jws(jr *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) r->p++;
}

static void jput(char **buf, size_t *len, size_t *cap, char c) {
  if (*len + 2 > *cap) {
    *cap = *cap * 2 + 16;
    char *grown = realloc(*buf, *cap);
    if (!grown) die("out of memory");
    *buf = grown;
  }
  (*buf)[(*len)++] = c;
}

static unsigned jhex4(jr *r) {
  if (r->end - r->p < 4) die("bad \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = *r->p++;
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else die("bad \\u escape");
  }
  return v;
}

static char *jstring(jr *r) {
  char *out = NULL;
  size_t len = 0, cap = 0;
  r->p++; /* the opening quote */
  for (;;) {
    if (r->p >= r->end) die("unterminated string");
    char c = *r->p++;
    if (c == '"') break;
    if (c != '\\') {
      jput(&out, &len, &cap, c);
      continue;
    }
    if (r->p >= r->end) die("bad escape");
    char e = *r->p++;
    switch (e) {
    case '"': case '\\': case '/': jput(&out, &len, &cap, e); break;
    case 'b': jput(&out, &len, &cap, '\b'); break;
    case 'f': jput(&out, &len, &cap, '\f'); break;
    case 'n': jput(&out, &len, &cap, '\n'); break;
    case 'r': jput(&out, &len, &cap, '\r'); break;
    case 't': jput(&out, &len, &cap, '\t'); break;
    case 'u': {
      unsigned cp = jhex4(r);
      if (cp >= 0xD800 && cp <= 0xDBFF && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u') {
        r->p += 2;
        unsigned lo = jhex4(r);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      if (cp < 0x80) {
        jput(&out, &len, &cap, (char)cp);
      } else if (cp < 0x800) {
        jput(&out, &len, &cap, (char)(0xC0 | (cp >> 6)));
        jput(&out, &len, &cap, (char)(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        jput(&out, &len, &cap, (char)(0xE0 | (cp >> 12)));
        jput(&out, &len, &cap, (char)(0x80 | ((cp >> 6) & 0x3F)));
        jput(&out, &len, &cap, (char)(0x80 | (cp & 0x3F)));
      } else {
        jput(&out, &len, &cap, (char)(0xF0 | (cp >> 18)));
        jput(&out, &len, &cap, (char)(0x80 | ((cp >> 12) & 0x3F)));
        jput(&out, &len, &cap, (char)(0x80 | ((cp >> 6) & 0x3F)));
        jput(&out, &len, &cap, (char)(0x80 | (cp & 0x3F)));
      }
      break;
    }
    default: die("bad escape \\%c", e);
    }
  }
  jput(&out, &len, &cap, '\0');
  return out;
}

static jv *jvalue(jr *r, int depth) {
  jws(r);
  if (r->p >= r->end || depth > 64) die("bad JSON");
  const char *start = r->p;
  jv *x = calloc(1, sizeof *x);
  if (!x) die("out of memory");
  char c = *r->p;
  if (c == '{' || c == '[') {
    x->t = c == '{' ? 'o' : 'a';
    char close = c == '{' ? '}' : ']';
    r->p++;
    jws(r);
    if (r->p < r->end && *r->p == close) {
      r->p++;
    } else {
      for (;;) {
        char *key = NULL;
        if (x->t == 'o') {
          jws(r);
          if (r->p >= r->end || *r->p != '"') die("bad object key");
          key = jstring(r);
          jws(r);
          if (r->p >= r->end || *r->p != ':') die("missing ':'");
          r->p++;
        }
        jv *item = jvalue(r, depth + 1);
        x->v = realloc(x->v, (x->n + 1) * sizeof *x->v);
        x->k = realloc(x->k, (x->n + 1) * sizeof *x->k);
        if (!x->v || !x->k) die("out of memory");
        x->v[x->n] = item;
        x->k[x->n] = key;
        x->n++;
        jws(r);
        if (r->p < r->end && *r->p == ',') {
          r->p++;
          continue;
        }
        if (r->p < r->end && *r->p == close) {
          r->p++;
          break;
        }
        die("bad JSON container");
      }
    }
  } else if (c == '"') {
    x->t = 's';
    x->s = jstring(r);
  } else if (r->end - r->p >= 4 && !memcmp(r->p, "true", 4)) {
    x->t = 'b', x->b = 1, r->p += 4;
  } else if (r->end - r->p >= 5 && !memcmp(r->p, "false", 5)) {
    x->t = 'b', x->b = 0, r->p += 5;
  } else if (r->end - r->p >= 4 && !memcmp(r->p, "null", 4)) {
    x->t = 'n', r->p += 4;
  } else {
    char num[64];
    size_t n = 0;
    while (r->p < r->end && n < sizeof num - 1 && strchr("+-0123456789.eE", *r->p)) num[n++] = *r->p++;
    if (n == 0) die("bad JSON value");
    num[n] = '\0';
    x->t = 'd';
    x->d = strtod(num, NULL);
    x->i = strtoll(num, NULL, 10);
  }
  x->src = start;
  x->srclen = (size_t)(r->p - start);
  return x;
}

static jv *jparse(const char *text, size_t len) {
  jr r = {text, text + len};
  jv *x = jvalue(&r, 0);
  jws(&r);
  if (r.p != r.end) die("trailing text after JSON");
  return x;
}

static void jfree(jv *x) {
  if (!x) return;
  for (size_t i = 0; i < x->n; i++) {
    jfree(x->v[i]);
    free(x->k[i]);
  }
  free(x->v);
  free(x->k);
  free(x->s);
  free(x);
}

static jv *jget(const jv *o, const char *key) {
  if (!o || o->t != 'o') return NULL;
  for (size_t i = 0; i < o->n; i++)
    if (!strcmp(o->k[i], key)) return o->v[i];
  return NULL;
}

/* The string member `key` of `o`, or NULL. */
static const char *jstr(const jv *o, const char *key) {
  const jv *x = jget(o, key);
  return x && x->t == 's' ? x->s : NULL;
}

static int jtrue(const jv *o, const char *key) {
  const jv *x = jget(o, key);
  return x && x->t == 'b' && x->b;
}

/* ---- output ------------------------------------------------------------------------------ */

/* A growable text buffer for one output line. */
typedef struct {
  char *p;
  size_t len, cap;
} buf;

static void braw(buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) jput(&b->p, &b->len, &b->cap, s[i]);
  b->p[b->len] = '\0';
}

static void bstr(buf *b, const char *s) { braw(b, s, strlen(s)); }

/* `s[0..n)` as a JSON string literal. */
static void bjson(buf *b, const char *s, size_t n) {
  braw(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      braw(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      braw(b, esc, 6);
    } else {
      braw(b, (const char *)&c, 1);
    }
  }
  braw(b, "\"", 1);
}

/* Starts a result line: {"id":..,"code":..[,"message":..]; finish it with line_end. */
static buf line_start(const char *id, sb_status st) {
  buf b = {0};
  bstr(&b, "{\"id\":");
  bjson(&b, id, strlen(id));
  bstr(&b, ",\"code\":");
  bjson(&b, sb_status_name(st), strlen(sb_status_name(st)));
  if (st != SB_OK) {
    char msg[1024];
    size_t n = sb_last_error_message(msg, sizeof msg);
    bstr(&b, ",\"message\":");
    bjson(&b, msg, n < sizeof msg ? n : sizeof msg - 1);
  }
  return b;
}

/* Adds ,"key":"value" (a string observation). */
static void line_str(buf *b, const char *key, const char *value) {
  bstr(b, ",");
  bjson(b, key, strlen(key));
  bstr(b, ":");
  bjson(b, value, strlen(value));
}

static void line_end(buf *b) {
  bstr(b, "}\n");
  fputs(b->p, stdout);
  fflush(stdout);
  free(b->p);
}

static void result(const char *id, sb_status st) {
  buf b = line_start(id, st);
  line_end(&b);
}

/* ---- cases ------------------------------------------------------------------------------- */

static jv *cases_root;
static jv *cases; /* the array */

static int skipped(const jv *c) { return jstr(jget(c, "skip"), "c") != NULL; }

static const jv *case_by_id(const char *id) {
  if (!id) return NULL;
  for (size_t i = 0; i < cases->n; i++) {
    const jv *c = cases->v[i];
    if (!skipped(c) && !strcmp(jstr(c, "id"), id)) return c;
  }
  return NULL;
}

static const char *op_of(const jv *c) { return jstr(jget(c, "do"), "op"); }

/* A case's payload: `binary` text as bytes, `raw` JSON text as given, else the `payload` value
 * as written; `payload_kind` says which kind it travels as. */
static uint32_t payload_kind(const jv *d) { return jstr(d, "binary") ? SB_PAYLOAD_KIND_BINARY : SB_PAYLOAD_KIND_JSON; }

static const char *payload_text(const jv *d, size_t *len) {
  const char *raw = jstr(d, "binary") ? jstr(d, "binary") : jstr(d, "raw");
  if (raw) {
    *len = strlen(raw);
    return raw;
  }
  const jv *p = jget(d, "payload");
  *len = p->srclen;
  return p->src;
}

static sb_config *new_config(void) {
  sb_config *cfg;
  if (sb_config_new(&cfg) != SB_OK) die("sb_config_new");
  return cfg;
}

/* A configured, started endpoint or the failing status; `when` says at which step. */
static sb_status start_config(sb_config *cfg, const char **when) {
  sb_endpoint *ep = NULL;
  *when = "start";
  sb_status st = sb_config_set_bind_address(cfg, STR("127.0.0.1:0"));
  if (st == SB_OK) st = sb_endpoint_new(cfg, SB_ABI_VERSION, &ep);
  if (st == SB_OK) st = sb_endpoint_start(ep);
  if (ep) {
    IGNORE(sb_endpoint_shutdown(ep));
    sb_endpoint_free(ep);
  }
  return st;
}

/* The offset of a position `"<epoch>:<offset>"` (the text after its last ':'). */
static const char *offset_of(const char *position) {
  const char *colon = strrchr(position, ':');
  return colon ? colon + 1 : position;
}

/* The history case's summary of a page: `n=<payload n...> at=<offsets> latest=<offset>
 * recovered=<bool>[ reason=<text>]`, the same text in every driver. */
static void history_summary(const char *text, size_t len, char *out, size_t cap) {
  jv *page = jparse(text, len);
  const jv *msgs = jget(page, "messages");
  char ns[256] = "", at[256] = "";
  for (size_t i = 0; msgs && i < msgs->n; i++) {
    const jv *m = msgs->v[i];
    size_t a = strlen(ns), b = strlen(at);
    snprintf(ns + a, sizeof ns - a, "%s%lld", i ? "," : "", jget(jget(m, "payload"), "n")->i);
    snprintf(at + b, sizeof at - b, "%s%s", i ? "," : "", offset_of(jstr(m, "position")));
  }
  const char *reason = jstr(page, "reason");
  snprintf(out, cap, "n=%s at=%s latest=%s recovered=%s%s%s", ns, at, offset_of(jstr(page, "position")),
           jtrue(page, "recovered") ? "true" : "false", reason ? " reason=" : "", reason ? reason : "");
  jfree(page);
}

/* The history case: a fresh endpoint keeping `size` messages of `hist:*`, `broadcasts`
 * broadcasts `e {"n": i}` on `hist:a`, then a read of `topic` after `since` (an offset in
 * the topic's epoch, or text as given) with `limit`. */
static void history_case(const char *id, const jv *d) {
  sb_config *cfg = new_config();
  sb_endpoint *hep = NULL;
  sb_status st = sb_config_add_history(cfg, STR("hist:*"), (uint64_t)jget(d, "size")->i, 60000);
  if (st == SB_OK) st = sb_config_set_bind_address(cfg, STR("127.0.0.1:0"));
  if (st == SB_OK) st = sb_endpoint_new(cfg, SB_ABI_VERSION, &hep);
  sb_config_free(cfg);
  if (st == SB_OK) st = sb_endpoint_start(hep);
  if (st != SB_OK) {
    result(id, st);
    sb_endpoint_free(hep);
    return;
  }
  for (long long i = 1; i <= jget(d, "broadcasts")->i; i++) {
    char p[32];
    snprintf(p, sizeof p, "{\"n\":%lld}", i);
    if (sb_broadcast(hep, STR("hist:a"), STR("e"), U8(p), strlen(p), SB_PAYLOAD_KIND_JSON, NULL) != SB_OK) die("%s: broadcast", id);
  }
  char since[128];
  const char *sp = NULL;
  const jv *so = jget(d, "since");
  if (so && so->t == 'd') {
    sb_buffer *latest = NULL;
    if (sb_endpoint_history(hep, STR("hist:a"), NULL, 0, 1, &latest) != SB_OK) die("%s: latest", id);
    jv *page = jparse((const char *)sb_buffer_data(latest), sb_buffer_len(latest));
    const char *pos = jstr(page, "position");
    snprintf(since, sizeof since, "%.*s:%lld", (int)(offset_of(pos) - 1 - pos), pos, so->i);
    jfree(page);
    sb_buffer_free(latest);
    sp = since;
  } else if (so && so->t == 's') {
    sp = so->s;
  }
  sb_buffer *out = NULL;
  st = sb_endpoint_history(hep, STR(jstr(d, "topic")), U8(sp), sp ? strlen(sp) : 0, (size_t)jget(d, "limit")->i, &out);
  buf b = line_start(id, st);
  if (st == SB_OK) {
    char summary[1024];
    history_summary((const char *)sb_buffer_data(out), sb_buffer_len(out), summary, sizeof summary);
    line_str(&b, "page", summary);
  }
  line_end(&b);
  sb_buffer_free(out);
  IGNORE(sb_endpoint_shutdown(hep));
  sb_endpoint_free(hep);
}

static void run_local(const jv *c, const sb_endpoint *started) {
  const char *id = jstr(c, "id");
  const jv *d = jget(c, "do");
  const char *op = jstr(d, "op");
  sb_status st = SB_OK;
  size_t plen;
  if (!strcmp(op, "option")) {
    sb_config *cfg = new_config();
    const char *name = jstr(d, "name");
    const jv *value = jget(d, "value");
    if (!strcmp(name, "bind") && value->t == 's') {
      st = sb_config_set_bind_address(cfg, STR(value->s));
    } else if (!strcmp(name, "check_origin") && value->t == 'a') {
      for (size_t i = 0; i < value->n && st == SB_OK; i++) st = sb_config_add_check_origin(cfg, STR(value->v[i]->s));
    } else if (value->t == 'd') {
      st = sb_config_set_int(cfg, STR(name), value->i);
    } else if (value->t == 'b') {
      st = sb_config_set_bool(cfg, STR(name), value->b != 0);
    } else if (value->t == 's') {
      st = sb_config_set_text(cfg, STR(name), STR(value->s));
    } else {
      die("%s: no C setter for this value", id);
    }
    sb_config_free(cfg);
    result(id, st);
  } else if (!strcmp(op, "mount")) {
    sb_config *cfg = new_config();
    st = sb_config_add_socket(cfg, STR(jstr(d, "path")));
    sb_config_free(cfg);
    result(id, st);
  } else if (!strcmp(op, "static_file")) {
    sb_config *cfg = new_config();
    st = sb_config_add_static_file(cfg, STR(jstr(d, "route")), STR(jstr(d, "path")), STR(jstr(d, "content_type")));
    sb_config_free(cfg);
    result(id, st);
  } else if (!strcmp(op, "channels") || !strcmp(op, "http_routes")) {
    sb_config *cfg = new_config();
    const char *when = "register";
    const jv *list = jget(d, !strcmp(op, "channels") ? "patterns" : "prefixes");
    for (size_t i = 0; i < list->n && st == SB_OK; i++) {
      st = !strcmp(op, "channels") ? sb_config_add_channel(cfg, STR(list->v[i]->s))
                                   : sb_config_add_http_route(cfg, STR(list->v[i]->s));
    }
    if (st == SB_OK) st = start_config(cfg, &when);
    sb_config_free(cfg);
    buf b = line_start(id, st);
    line_str(&b, "when", when);
    line_end(&b);
  } else if (!strcmp(op, "broadcast")) {
    const char *p = payload_text(d, &plen);
    result(id, sb_broadcast(started, STR(jstr(d, "topic")), STR(jstr(d, "event")), U8(p), plen, payload_kind(d), NULL));
  } else if (!strcmp(op, "broadcast_before_start")) {
    sb_config *cfg = new_config();
    sb_endpoint *ep;
    if (sb_endpoint_new(cfg, SB_ABI_VERSION, &ep) != SB_OK) die("sb_endpoint_new");
    sb_config_free(cfg);
    const char *p = payload_text(d, &plen);
    result(id, sb_broadcast(ep, STR(jstr(d, "topic")), STR(jstr(d, "event")), U8(p), plen, SB_PAYLOAD_KIND_JSON, NULL));
    sb_endpoint_free(ep);
  } else if (!strcmp(op, "disconnect")) {
    result(id, sb_disconnect(started, STR(jstr(d, "socket_id")), NULL));
  } else if (!strcmp(op, "subscribe")) {
    sb_subscription *sub = NULL;
    st = sb_subscribe(started, STR(jstr(d, "topic")), 16, &sub);
    sb_subscription_free(sub);
    result(id, st);
  } else if (!strcmp(op, "channel_id")) {
    uint64_t cid = (uint64_t)jget(d, "channel_id")->i;
    if (!strcmp(jstr(d, "action"), "push")) {
      const char *p = payload_text(d, &plen);
      st = sb_push(started, cid, STR(jstr(d, "event")), U8(p), plen, SB_PAYLOAD_KIND_JSON);
    } else {
      const jv *meta = jget(d, "meta");
      st = sb_presence_track(started, cid, STR(jstr(d, "key")), U8(meta->src), meta->srclen, NULL);
    }
    result(id, st);
  } else if (!strcmp(op, "ticket")) {
    result(id, sb_noreply(started, (uint64_t)jget(d, "ticket")->i, NULL, 0));
  } else if (!strcmp(op, "history")) {
    history_case(id, d);
  } else {
    die("%s: unknown local op %s", id, op);
  }
}

/* ---- the scenario endpoint --------------------------------------------------------------- */

static sb_endpoint *ep;

/* Channel id → the case (or "channel_actions") it was joined for. */
#define MAX_CHANNELS 256
static struct {
  uint64_t channel;
  const char *case_id;
} joined[MAX_CHANNELS];
static size_t n_joined;
/* Case ids whose terminate line was printed (a rejoined topic terminates twice). */
static const char *terminated[MAX_CHANNELS];
static size_t n_terminated;
/* The channel kept past the endpoint's close (closed_channel_push). */
static uint64_t kept_channel;
/* A JOIN left unanswered on purpose (join_timeout); freed at the next sync. */
static sb_request *hung;

static void remember(uint64_t channel, const char *case_id) {
  if (n_joined == MAX_CHANNELS) die("too many channels");
  joined[n_joined].channel = channel;
  joined[n_joined].case_id = case_id;
  n_joined++;
}

static const char *case_of(uint64_t channel) {
  for (size_t i = 0; i < n_joined; i++)
    if (joined[i].channel == channel) return joined[i].case_id;
  return NULL;
}

/* A getter's (ptr, len) as a malloc'd NUL-terminated string ("" when absent). */
typedef sb_status (*getter)(const sb_request *, const uint8_t **, size_t *);
static char *get(const sb_request *req, getter g) {
  const uint8_t *p = NULL;
  size_t n = 0;
  if (g(req, &p, &n) != SB_OK) n = 0;
  char *s = xmalloc(n + 1);
  if (n) memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* The request's JSON payload parsed (an empty object when absent). */
static jv *payload_of(const sb_request *req) {
  char *text = get(req, sb_request_payload);
  jv *x = text[0] ? jparse(text, strlen(text)) : jparse("{}", 2);
  /* src/srclen point into `text`: only members' decoded strings are used afterwards. */
  x->src = NULL;
  x->srclen = 0;
  free(text);
  return x;
}

static void on_connect(sb_request *req, uint64_t t) {
  jv *params = payload_of(req);
  const jv *c = case_by_id(jstr(params, "case"));
  if (!c) {
    const char *sid = jstr(params, "id");
    IGNORE(sb_connect_ok(ep, t, NULL, 0, sid ? U8(sid) : NULL, sid ? strlen(sid) : 0));
  } else {
    const jv *d = jget(c, "do");
    const char *id = jstr(c, "id");
    sb_status st;
    if (!strcmp(jstr(d, "answer"), "refuse")) {
      st = sb_connect_refuse(ep, t, (uint16_t)jget(d, "status")->i);
      result(id, st);
    } else if (!strcmp(jstr(d, "answer"), "refuse_default")) {
      st = sb_reply(ep, t, SB_REPLY_KIND_ERROR, NULL, 0, SB_PAYLOAD_KIND_JSON);
      result(id, st);
    } else {
      const jv *a = jget(d, "assigns");
      st = sb_connect_ok(ep, t, U8(a->src), a->srclen, NULL, 0);
      if (st != SB_OK) result(id, st);
    }
    /* A failed answer leaves the request pending: freeing it is the handler's crash (500). */
  }
  jfree(params);
}

/* Returns whether the request is kept (not freed now). */
static int on_join(sb_request *req, uint64_t t) {
  int keep = 0;
  char *pattern = get(req, sb_request_pattern);
  uint64_t channel = sb_request_channel_id(req);
  jv *payload = payload_of(req);
  const jv *c = case_by_id(jstr(payload, "case"));
  /* The C host finds its handler by the pattern the core matched. */
  if (strcmp(pattern, "*") != 0) {
    if (c) {
      buf b = line_start(jstr(c, "id"), SB_OK);
      line_str(&b, "handler", pattern);
      line_end(&b);
    }
    IGNORE(sb_join_ok(ep, t, STR("{}"), NULL, 0));
  } else if (jtrue(payload, "channel_actions")) {
    remember(channel, "channel_actions");
    IGNORE(sb_join_ok(ep, t, STR("{}"), NULL, 0));
  } else if (!c) {
    IGNORE(sb_join_ok(ep, t, STR("{}"), NULL, 0));
  } else if (!strcmp(op_of(c), "probe_handler")) {
    buf b = line_start(jstr(c, "id"), SB_OK);
    line_str(&b, "handler", "*");
    line_end(&b);
    IGNORE(sb_join_ok(ep, t, STR("{}"), NULL, 0));
  } else if (!strcmp(op_of(c), "join_wrong_answer")) {
    result(jstr(c, "id"), sb_noreply(ep, t, NULL, 0));
    /* left unanswered: freed by the caller, the join crashes */
  } else if (!strcmp(op_of(c), "join_reply")) {
    const jv *reply = jget(jget(c, "do"), "payload");
    sb_status st = sb_join_ok(ep, t, U8(reply->src), reply->srclen, NULL, 0);
    if (st != SB_OK) result(jstr(c, "id"), st);
  } else if (!strcmp(op_of(c), "join_late_reply")) {
    result(jstr(c, "id"), sb_channel_reply(ep, channel, NULL, 0, STR("ok"), STR("{}"), SB_PAYLOAD_KIND_JSON));
    IGNORE(sb_join_ok(ep, t, STR("{}"), NULL, 0));
  } else if (!strcmp(op_of(c), "join_hang")) {
    hung = req;
    keep = 1;
  } else {
    remember(channel, jstr(c, "id"));
    if (jtrue(jget(c, "do"), "keep_socket")) kept_channel = channel;
    IGNORE(sb_join_ok(ep, t, STR("{}"), NULL, 0));
  }
  jfree(payload);
  free(pattern);
  return keep;
}

/* Every `channel` case, on this joined channel, one line each. */
static void channel_actions(sb_request *req, uint64_t channel) {
  for (size_t i = 0; i < cases->n; i++) {
    const jv *c = cases->v[i];
    if (skipped(c) || strcmp(jstr(c, "where"), "channel") != 0) continue;
    const jv *d = jget(c, "do");
    const char *op = jstr(d, "op");
    const char *event = jstr(d, "event");
    size_t plen = 2;
    const char *p = jget(d, "payload") || jstr(d, "raw") || jstr(d, "binary") ? payload_text(d, &plen) : "{}";
    uint32_t kind = payload_kind(d);
    const jv *meta = jget(d, "meta");
    sb_status st;
    if (!strcmp(op, "push")) {
      st = sb_push(ep, channel, STR(event), U8(p), plen, kind);
    } else if (!strcmp(op, "broadcast") || !strcmp(op, "broadcast_from")) {
      st = sb_channel_broadcast(ep, channel, !strcmp(op, "broadcast_from"), STR(event), U8(p), plen, kind);
    } else if (!strcmp(op, "track_twice") || !strcmp(op, "track")) {
      st = sb_presence_track(ep, channel, STR(jstr(d, "key")), U8(meta->src), meta->srclen, NULL);
      if (st == SB_OK && !strcmp(op, "track_twice"))
        st = sb_presence_track(ep, channel, STR(jstr(d, "key")), U8(meta->src), meta->srclen, NULL);
    } else if (!strcmp(op, "update")) {
      st = sb_presence_update(ep, channel, STR(jstr(d, "key")), U8(meta->src), meta->srclen, NULL);
    } else if (!strcmp(op, "late_reply")) {
      char *ref = get(req, sb_request_ref);
      st = sb_channel_reply(ep, channel, STR(ref), STR(jstr(d, "status")), U8(p), plen, kind);
      free(ref);
    } else if (!strcmp(op, "subscribe")) {
      st = sb_channel_subscribe(ep, channel, STR(jstr(d, "topic")));
    } else {
      die("%s: unknown channel op %s", jstr(c, "id"), op);
    }
    result(jstr(c, "id"), st);
  }
}

/* Returns whether the request was answered (else freeing it is the handler's crash). */
static int on_handle_in(sb_request *req, uint64_t t) {
  uint64_t channel = sb_request_channel_id(req);
  const char *id = case_of(channel);
  if (id && !strcmp(id, "channel_actions")) {
    channel_actions(req, channel);
    return sb_reply(ep, t, SB_REPLY_KIND_OK, STR("{}"), SB_PAYLOAD_KIND_JSON) == SB_OK;
  }
  const jv *d = id ? jget(case_by_id(id), "do") : NULL;
  if (!d) return sb_noreply(ep, t, NULL, 0) == SB_OK;
  if (!strcmp(jstr(d, "op"), "reply_status")) {
    sb_status st = sb_reply_status(ep, t, STR(jstr(d, "status")), STR("{}"), SB_PAYLOAD_KIND_JSON, NULL, 0);
    if (st != SB_OK) result(id, st);
    return st == SB_OK;
  }
  if (jtrue(d, "crash")) return 0;
  if (!strcmp(jstr(d, "op"), "push_binary")) {
    size_t plen;
    const char *p = payload_text(d, &plen);
    result(id, sb_push(ep, channel, STR(jstr(d, "event")), U8(p), plen, payload_kind(d)));
    return sb_reply(ep, t, SB_REPLY_KIND_OK, STR("{}"), SB_PAYLOAD_KIND_JSON) == SB_OK;
  }
  if (jtrue(d, "disconnect")) {
    char *sid = get(req, sb_request_socket_id);
    IGNORE(sb_disconnect(ep, STR(sid), NULL));
    free(sid);
    return sb_noreply(ep, t, NULL, 0) == SB_OK;
  }
  const jv *s = jget(d, "stop");
  if (s) {
    const char *kind = jstr(s, "kind");
    const char *detail = jstr(s, "detail") ? jstr(s, "detail") : "";
    uint32_t k = !strcmp(kind, "normal") ? SB_STOP_KIND_NORMAL : !strcmp(kind, "shutdown") ? SB_STOP_KIND_SHUTDOWN : SB_STOP_KIND_ABNORMAL;
    return sb_stop(ep, t, k, STR(detail)) == SB_OK;
  }
  return sb_reply(ep, t, SB_REPLY_KIND_OK, STR("{}"), SB_PAYLOAD_KIND_JSON) == SB_OK;
}

static void on_leave(sb_request *req) {
  uint64_t channel = sb_request_channel_id(req);
  const char *id = case_of(channel);
  const jv *c = case_by_id(id);
  if (!c || strcmp(op_of(c), "lifecycle") != 0) return;
  for (size_t i = 0; i < n_terminated; i++)
    if (!strcmp(terminated[i], id)) return;
  terminated[n_terminated++] = id;
  char *reason = get(req, sb_request_reason);
  /* Pushed before the request is freed: inside Phoenix's terminate window. */
  sb_status pushed = SB_OK;
  if (jtrue(jget(c, "do"), "push_in_terminate")) pushed = sb_push(ep, channel, STR("bye"), STR("{}"), SB_PAYLOAD_KIND_JSON);
  char pushed_msg[512] = "";
  if (pushed != SB_OK) sb_last_error_message(pushed_msg, sizeof pushed_msg);
  buf b = line_start(id, SB_OK);
  line_str(&b, "reason_text", reason);
  if (jtrue(jget(c, "do"), "push_in_terminate")) {
    line_str(&b, "push_in_terminate", sb_status_name(pushed));
    if (pushed != SB_OK) line_str(&b, "push_in_terminate_message", pushed_msg);
  }
  line_end(&b);
  free(reason);
}

static int on_http(sb_request *req, uint64_t t) {
  char *prefix = get(req, sb_request_http_prefix);
  int answered;
  if (!strcmp(prefix, "/bad")) {
    char *query = get(req, sb_request_http_query); /* "case=<id>" */
    const jv *c = !strncmp(query, "case=", 5) ? case_by_id(query + 5) : NULL;
    free(query);
    const jv *d = jget(c, "do");
    uint16_t status = c ? (uint16_t)jget(d, "status")->i : 404;
    const char *type = d && jstr(d, "content_type") ? jstr(d, "content_type") : "text/plain";
    sb_status st = sb_http_respond(ep, t, status, STR(type), NULL, 0);
    if (c) result(jstr(c, "id"), st);
    answered = st == SB_OK;
  } else {
    /* The C host finds its route by the prefix the core matched. */
    answered = sb_http_respond(ep, t, 200, STR("text/plain"), STR(prefix)) == SB_OK;
  }
  free(prefix);
  return answered;
}

static void handle(sb_request *req) {
  uint64_t t = sb_request_ticket(req);
  switch (sb_request_get_kind(req)) {
  case SB_REQUEST_KIND_CONNECT: on_connect(req, t); break;
  case SB_REQUEST_KIND_JOIN:
    if (on_join(req, t)) return;
    break;
  case SB_REQUEST_KIND_HANDLE_IN: (void)on_handle_in(req, t); break;
  case SB_REQUEST_KIND_LEAVE: on_leave(req); break;
  case SB_REQUEST_KIND_HTTP: (void)on_http(req, t); break;
  default: IGNORE(sb_noreply(ep, t, NULL, 0)); break;
  }
  sb_request_free(req); /* unanswered: that handler crashed */
}

/* ---- main -------------------------------------------------------------------------------- */

static int shutdown_pipe[2];

static void *shutdown_thread(void *arg) {
  (void)arg;
  sb_status st = sb_endpoint_shutdown(ep);
  if (write(shutdown_pipe[1], &st, sizeof st) != (ssize_t)sizeof st) die("write");
  return NULL;
}

static void closed_cases(void) {
  for (size_t i = 0; i < cases->n; i++) {
    const jv *c = cases->v[i];
    if (skipped(c) || strcmp(jstr(c, "where"), "closed") != 0) continue;
    const jv *d = jget(c, "do");
    const char *op = jstr(d, "op");
    const char *id = jstr(c, "id");
    size_t plen;
    if (!strcmp(op, "broadcast")) {
      const char *p = payload_text(d, &plen);
      result(id, sb_broadcast(ep, STR(jstr(d, "topic")), STR(jstr(d, "event")), U8(p), plen, SB_PAYLOAD_KIND_JSON, NULL));
    } else if (!strcmp(op, "start")) {
      result(id, sb_endpoint_start(ep));
    } else if (!strcmp(op, "push_kept")) {
      const char *p = payload_text(d, &plen);
      result(id, sb_push(ep, kept_channel, STR(jstr(d, "event")), U8(p), plen, SB_PAYLOAD_KIND_JSON));
    } else {
      die("%s: unknown closed op %s", id, op);
    }
  }
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open %s", path);
  char *text = NULL;
  size_t n = 0, cap = 0;
  int ch;
  while ((ch = fgetc(f)) != EOF) jput(&text, &n, &cap, (char)ch);
  fclose(f);
  *len = n;
  return text;
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: driver_c cases.json");
  size_t len;
  char *text = read_file(argv[1], &len);
  cases_root = jparse(text, len);
  cases = jget(cases_root, "cases");
  if (!cases || cases->t != 'a') die("cases.json has no cases array");

  sb_config *cfg = new_config();
  const char *channels[] = {"room:lobby", "room:*", "*"};
  const char *routes[] = {"/api", "/api/v2", "/bad"};
  sb_status st = sb_config_set_bind_address(cfg, STR("127.0.0.1:0"));
  for (size_t i = 0; i < 3 && st == SB_OK; i++) st = sb_config_add_channel(cfg, STR(channels[i]));
  for (size_t i = 0; i < 3 && st == SB_OK; i++) st = sb_config_add_http_route(cfg, STR(routes[i]));
  if (st == SB_OK) st = sb_config_set_host_connect(cfg, true);
  if (st == SB_OK) st = sb_config_set_request_timeout_ms(cfg, 1000);
  if (st == SB_OK) st = sb_endpoint_new(cfg, SB_ABI_VERSION, &ep);
  sb_config_free(cfg);
  if (st == SB_OK) st = sb_endpoint_start(ep);
  uint16_t port = 0;
  if (st == SB_OK) st = sb_endpoint_local_port(ep, &port);
  int efd = -1;
  if (st == SB_OK) st = sb_endpoint_event_fd(ep, &efd);
  if (st != SB_OK) die("scenario endpoint: %s", sb_status_name(st));

  for (size_t i = 0; i < cases->n; i++) {
    const jv *c = cases->v[i];
    if (!skipped(c) && !strcmp(jstr(c, "where"), "local")) run_local(c, ep);
  }
  printf("{\"ready\":%u}\n", (unsigned)port);
  fflush(stdout);

  if (pipe(shutdown_pipe) != 0) die("pipe");
  pthread_t closer;
  int closing = 0;
  char line[4096];
  size_t have = 0;
  int stdin_open = 1;
  while (stdin_open || closing == 1) {
    struct pollfd fds[3] = {
      {.fd = efd, .events = POLLIN},
      {.fd = stdin_open ? 0 : -1, .events = POLLIN},
      {.fd = shutdown_pipe[0], .events = POLLIN},
    };
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[0].revents & POLLIN) {
      sb_request *reqs[64];
      size_t n;
      do {
        if (sb_endpoint_poll(ep, reqs, 64, &n) != SB_OK) die("sb_endpoint_poll");
        for (size_t i = 0; i < n; i++) handle(reqs[i]);
      } while (n == 64);
    }
    if (fds[2].revents & POLLIN) {
      sb_status shut;
      if (read(shutdown_pipe[0], &shut, sizeof shut) != (ssize_t)sizeof shut) die("read");
      pthread_join(closer, NULL);
      if (shut != SB_OK) die("sb_endpoint_shutdown: %s", sb_status_name(shut));
      closing = 2;
      closed_cases();
      puts("{\"end\":true}");
      fflush(stdout);
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      ssize_t got = read(0, line + have, sizeof line - 1 - have);
      if (got <= 0) {
        stdin_open = 0;
        continue;
      }
      have += (size_t)got;
      char *nl;
      while ((nl = memchr(line, '\n', have)) != NULL) {
        size_t n = (size_t)(nl - line);
        if (n > 0) {
          jv *cmd = jparse(line, n);
          const char *what = jstr(cmd, "cmd");
          if (what && !strcmp(what, "sync")) {
            sb_request_free(hung); /* past its timeout by now: the core answered it */
            hung = NULL;
            printf("{\"sync\":%lld}\n", jget(cmd, "n")->i);
            fflush(stdout);
          } else if (what && !strcmp(what, "close") && closing == 0) {
            closing = 1;
            if (pthread_create(&closer, NULL, shutdown_thread, NULL) != 0) die("pthread_create");
          }
          jfree(cmd);
        }
        have -= n + 1;
        memmove(line, nl + 1, have);
      }
      if (have == sizeof line - 1) die("command line too long");
    }
  }
  sb_request_free(hung);
  if (closing == 0) IGNORE(sb_endpoint_shutdown(ep));
  sb_endpoint_free(ep);
  close(shutdown_pipe[0]);
  close(shutdown_pipe[1]);
  jfree(cases_root);
  free(text);
  return 0;
}

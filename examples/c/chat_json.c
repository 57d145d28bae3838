/* The JSON helpers of the C chat demo; see chat_json.h. A recursive-descent reader that
 * validates the whole object (RFC 8259 grammar) while looking for one member. */
#include "chat_json.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 64 };

struct reader {
  const uint8_t *p;
  const uint8_t *end;
};

static void skip_ws(struct reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static bool take(struct reader *r, uint8_t c) {
  if (r->p < r->end && *r->p == c) {
    r->p++;
    return true;
  }
  return false;
}

static int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Four hex digits after "\u". */
static bool read_hex4(struct reader *r, uint32_t *out) {
  if (r->end - r->p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int d = hex_digit(r->p[i]);
    if (d < 0) return false;
    v = v << 4 | (uint32_t)d;
  }
  r->p += 4;
  *out = v;
  return true;
}

static void put_utf8(struct cj_buf *b, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | cp >> 6);
    u[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | cp >> 12);
    u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | cp >> 18);
    u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  cj_buf_raw(b, u, n);
}

/* A string literal starting at the opening quote; decoded into `out` when it is not NULL.
 * Raw bytes >= 0x80 are copied unchecked: the endpoint only hands out valid UTF-8 text. */
static bool read_string(struct reader *r, struct cj_buf *out) {
  if (!take(r, '"')) return false;
  for (;;) {
    if (r->p >= r->end) return false;
    uint8_t c = *r->p++;
    if (c == '"') return true;
    if (c < 0x20) return false;
    if (c != '\\') {
      if (out) cj_buf_raw(out, (const char *)&c, 1);
      continue;
    }
    if (r->p >= r->end) return false;
    uint8_t e = *r->p++;
    char simple = 0;
    switch (e) {
    case '"': simple = '"'; break;
    case '\\': simple = '\\'; break;
    case '/': simple = '/'; break;
    case 'b': simple = '\b'; break;
    case 'f': simple = '\f'; break;
    case 'n': simple = '\n'; break;
    case 'r': simple = '\r'; break;
    case 't': simple = '\t'; break;
    case 'u': {
      uint32_t cp;
      if (!read_hex4(r, &cp)) return false;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return false; /* lone trailing surrogate */
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo;
        if (!take(r, '\\') || !take(r, 'u') || !read_hex4(r, &lo)) return false;
        if (lo < 0xDC00 || lo > 0xDFFF) return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      if (out) put_utf8(out, cp);
      continue;
    }
    default: return false;
    }
    if (out) cj_buf_raw(out, &simple, 1);
  }
}

static bool is_digit(const struct reader *r) { return r->p < r->end && *r->p >= '0' && *r->p <= '9'; }

static bool read_number(struct reader *r) {
  take(r, '-');
  if (take(r, '0')) {
    /* no leading zeros */
  } else if (is_digit(r)) {
    while (is_digit(r)) r->p++;
  } else {
    return false;
  }
  if (take(r, '.')) {
    if (!is_digit(r)) return false;
    while (is_digit(r)) r->p++;
  }
  if (take(r, 'e') || take(r, 'E')) {
    if (!take(r, '+')) take(r, '-');
    if (!is_digit(r)) return false;
    while (is_digit(r)) r->p++;
  }
  return true;
}

static bool read_literal(struct reader *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return false;
  r->p += n;
  return true;
}

static bool skip_value(struct reader *r, int depth);

/* An object; when `key` is not NULL, the last member named `key` is reported through
 * `found` (0 absent, 1 string decoded into `value`, 2 not a string) and its raw value text
 * through `raw` (when not NULL). */
static bool read_object(struct reader *r, int depth, const char *key, size_t key_len,
                        int *found, struct cj_buf *value, struct cj_span *raw) {
  if (depth > MAX_DEPTH || !take(r, '{')) return false;
  skip_ws(r);
  if (take(r, '}')) return true;
  struct cj_buf name = {0};
  bool ok = false;
  for (;;) {
    name.len = 0;
    skip_ws(r);
    if (!read_string(r, key ? &name : NULL) || name.failed) break;
    skip_ws(r);
    if (!take(r, ':')) break;
    skip_ws(r);
    bool match = key && name.len == key_len && memcmp(name.data, key, key_len) == 0;
    const uint8_t *start = r->p;
    if (match && r->p < r->end && *r->p == '"') {
      value->len = 0;
      if (!read_string(r, value)) break;
      *found = 1;
    } else {
      if (!skip_value(r, depth + 1)) break;
      if (match) *found = 2;
    }
    if (match && raw) *raw = (struct cj_span){start, (size_t)(r->p - start)};
    skip_ws(r);
    if (take(r, ',')) continue;
    ok = take(r, '}');
    break;
  }
  free(name.data);
  return ok;
}

static bool skip_value(struct reader *r, int depth) {
  if (depth > MAX_DEPTH || r->p >= r->end) return false;
  switch (*r->p) {
  case '{': return read_object(r, depth, NULL, 0, NULL, NULL, NULL);
  case '[':
    r->p++;
    skip_ws(r);
    if (take(r, ']')) return true;
    for (;;) {
      skip_ws(r);
      if (!skip_value(r, depth + 1)) return false;
      skip_ws(r);
      if (take(r, ',')) continue;
      return take(r, ']');
    }
  case '"': return read_string(r, NULL);
  case 't': return read_literal(r, "true");
  case 'f': return read_literal(r, "false");
  case 'n': return read_literal(r, "null");
  default: return read_number(r);
  }
}

enum cj_result cj_object_get_string(const uint8_t *json, size_t len, const char *key, char **out,
                                    size_t *out_len) {
  if (json == NULL || key == NULL || out == NULL || out_len == NULL) return CJ_INVALID;
  struct reader r = {json, json + len};
  struct cj_buf value = {0};
  int found = 0;
  skip_ws(&r);
  bool ok = read_object(&r, 0, key, strlen(key), &found, &value, NULL);
  skip_ws(&r);
  enum cj_result result;
  if (!ok || r.p != r.end) {
    result = CJ_INVALID;
  } else if (value.failed) {
    result = CJ_NO_MEMORY;
  } else if (found == 0) {
    result = CJ_ABSENT;
  } else if (found == 2) {
    result = CJ_NOT_STRING;
  } else {
    cj_buf_raw(&value, "", 1); /* NUL terminator, not counted */
    if (value.failed) {
      result = CJ_NO_MEMORY;
    } else {
      *out = value.data;
      *out_len = value.len - 1;
      return CJ_OK;
    }
  }
  free(value.data);
  return result;
}

/* Unicode White_Space (what Rust's char::is_whitespace tests). */
enum cj_result cj_object_get_raw(const uint8_t *json, size_t len, const char *key,
                                 struct cj_span *out) {
  if (json == NULL || key == NULL || out == NULL) return CJ_INVALID;
  struct reader r = {json, json + len};
  int found = 0;
  struct cj_span raw = {NULL, 0};
  skip_ws(&r);
  /* Strings are not decoded here: only their span is wanted. */
  struct cj_buf unused = {0};
  bool ok = read_object(&r, 0, key, strlen(key), &found, &unused, &raw);
  free(unused.data);
  skip_ws(&r);
  if (!ok || r.p != r.end) return CJ_INVALID;
  if (unused.failed) return CJ_NO_MEMORY;
  if (found == 0) return CJ_ABSENT;
  *out = raw;
  return CJ_OK;
}

enum cj_result cj_string(const uint8_t *json, size_t len, char **out, size_t *out_len) {
  if (json == NULL || out == NULL || out_len == NULL) return CJ_INVALID;
  struct reader r = {json, json + len};
  struct cj_buf value = {0};
  skip_ws(&r);
  bool is_string = r.p < r.end && *r.p == '"';
  bool ok = is_string && read_string(&r, &value);
  skip_ws(&r);
  if (ok && r.p == r.end && !value.failed) {
    cj_buf_raw(&value, "", 1);
    if (!value.failed) {
      *out = value.data;
      *out_len = value.len - 1;
      return CJ_OK;
    }
  }
  free(value.data);
  if (value.failed) return CJ_NO_MEMORY;
  return ok || !is_string ? CJ_NOT_STRING : CJ_INVALID;
}

static bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

/* Decodes the UTF-8 sequence at s[i] (assumed valid); returns its length. */
static size_t decode_at(const uint8_t *s, size_t len, size_t i, uint32_t *cp) {
  uint8_t c = s[i];
  size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (i + n > len) n = len - i;
  uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
  for (size_t k = 1; k < n; k++) v = v << 6 | (s[i + k] & 0x3Fu);
  *cp = v;
  return n;
}

const char *cj_trim(const char *s, size_t len, size_t *out_len) {
  const uint8_t *u = (const uint8_t *)s;
  size_t start = 0, end = len;
  uint32_t cp;
  while (start < end) {
    size_t n = decode_at(u, end, start, &cp);
    if (!is_space(cp)) break;
    start += n;
  }
  while (end > start) {
    size_t i = end - 1;
    while (i > start && (u[i] & 0xC0) == 0x80) i--; /* back to the lead byte */
    decode_at(u, end, i, &cp);
    if (!is_space(cp)) break;
    end = i;
  }
  *out_len = end - start;
  return s + start;
}

void cj_buf_raw(struct cj_buf *buf, const char *s, size_t len) {
  if (buf->failed || len == 0) return;
  if (buf->cap - buf->len < len) {
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap - buf->len < len) {
      if (cap > SIZE_MAX / 2) {
        buf->failed = true;
        return;
      }
      cap *= 2;
    }
    char *data = realloc(buf->data, cap);
    if (data == NULL) {
      buf->failed = true;
      return;
    }
    buf->data = data;
    buf->cap = cap;
  }
  memcpy(buf->data + buf->len, s, len);
  buf->len += len;
}

void cj_buf_string(struct cj_buf *buf, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  cj_buf_raw(buf, "\"", 1);
  size_t run = 0; /* start of the bytes not copied yet */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    cj_buf_raw(buf, s + run, i - run);
    run = i + 1;
    switch (c) {
    case '"': cj_buf_raw(buf, "\\\"", 2); break;
    case '\\': cj_buf_raw(buf, "\\\\", 2); break;
    case '\n': cj_buf_raw(buf, "\\n", 2); break;
    case '\r': cj_buf_raw(buf, "\\r", 2); break;
    case '\t': cj_buf_raw(buf, "\\t", 2); break;
    case '\b': cj_buf_raw(buf, "\\b", 2); break;
    case '\f': cj_buf_raw(buf, "\\f", 2); break;
    default: {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
      cj_buf_raw(buf, u, sizeof u);
    }
    }
  }
  cj_buf_raw(buf, s + run, len - run);
  cj_buf_raw(buf, "\"", 1);
}

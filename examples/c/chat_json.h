/* chat_json.h: the little JSON the C example servers need (examples/c/chat.c, bench.c and
 * tests/fixtures/c/conformance_fixture.c), nothing more.
 *
 * The endpoint hands the host raw JSON text (connect params, channel assigns, client payloads) and
 * takes raw JSON text back, so a host needs to read one string member of an object and to
 * write string literals. These helpers do exactly that, in plain C11, with lengths
 * everywhere (decoded strings may contain NUL bytes). Tested by tests/c/test_chat_json.c. */
#ifndef SB_CHAT_JSON_H
#define SB_CHAT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Result of cj_object_get_string. */
enum cj_result {
  CJ_OK = 0,          /* the member is a string; *out holds it */
  CJ_ABSENT = 1,      /* the object has no such member */
  CJ_NOT_STRING = 2,  /* the member's value is not a string (number, null, object, ...) */
  CJ_INVALID = 3,     /* the text is not one valid JSON object (or nests deeper than 64) */
  CJ_NO_MEMORY = 4,
};

/* Reads the top-level member `key` (NUL-terminated UTF-8) of the JSON object text
 * `json[0..len)`. On CJ_OK, `*out` is a malloc'd copy of the decoded string (escapes
 * resolved, UTF-8, NUL-terminated for convenience; it may also contain NUL bytes, so use
 * `*out_len`), owned by the caller (free it). When the key occurs more than once the last one
 * counts, as in serde_json and JavaScript's JSON.parse. Escapes with lone UTF-16 surrogates
 * make the text CJ_INVALID (serde_json rejects them too). Nothing is written unless CJ_OK. */
enum cj_result cj_object_get_string(const uint8_t *json, size_t len, const char *key, char **out,
                                    size_t *out_len);

/* A span of the input text. */
struct cj_span {
  const uint8_t *ptr;
  size_t len;
};

/* Finds the top-level member `key` of the JSON object text `json[0..len)` (the last one when
 * repeated) and writes the span of its raw value text (any JSON value, e.g. `{"a":1}`,
 * `"x"`, `12`) into `*out`, pointing into `json`: no allocation. CJ_ABSENT, CJ_INVALID (not
 * one valid JSON object) or CJ_NO_MEMORY otherwise; nothing is written then. */
enum cj_result cj_object_get_raw(const uint8_t *json, size_t len, const char *key,
                                 struct cj_span *out);

/* Decodes the JSON text `json[0..len)` when it is one string literal (surrounding whitespace
 * allowed): `*out` as cj_object_get_string. CJ_NOT_STRING for any other valid-looking value,
 * CJ_INVALID for a broken string. */
enum cj_result cj_string(const uint8_t *json, size_t len, char **out, size_t *out_len);

/* `s[0..len)` (UTF-8) without the Unicode White_Space characters at both ends, as Rust's
 * str::trim: returns the start inside `s` and writes the trimmed length. */
const char *cj_trim(const char *s, size_t len, size_t *out_len);

/* A growable byte buffer; zero-initialise it, free `data` when done. A failed allocation sets
 * `failed` and turns later appends into no-ops, so callers check once at the end. */
struct cj_buf {
  char *data;
  size_t len;
  size_t cap;
  bool failed;
};

/* Appends `s[0..len)` verbatim. */
void cj_buf_raw(struct cj_buf *buf, const char *s, size_t len);

/* Appends `s[0..len)` (UTF-8) as a JSON string literal, quotes included: `"` and `\` are
 * escaped, control characters below U+0020 become \n, \t, ... or \u00XX; everything else is
 * copied as is. */
void cj_buf_string(struct cj_buf *buf, const char *s, size_t len);

#endif /* SB_CHAT_JSON_H */

/* Tests of the JSON helpers of the C chat demo (examples/c/chat_json.c): reading one string
 * member of an object (escapes, surrogate pairs, duplicates, invalid text), Rust-compatible
 * trimming, and string literals whose output a JSON reader decodes back to the input.
 * Built with -std=c11 -Wall -Wextra -Werror by tests/c/run.sh, under ASan/UBSan. */
#include "chat_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* cj_object_get_string on a C string; on CJ_OK compares with want[0..want_len). */
static void expect_get(int line, const char *json, const char *key, enum cj_result want_result,
                       const char *want, size_t want_len) {
  char *out = NULL;
  size_t out_len = 0;
  enum cj_result got = cj_object_get_string((const uint8_t *)json, strlen(json), key, &out, &out_len);
  checks++;
  if (got != want_result) {
    failures++;
    fprintf(stderr, "line %d: %s [%s]: result %d, expected %d\n", line, json, key, got, want_result);
  } else if (got == CJ_OK && (out_len != want_len || memcmp(out, want, want_len) != 0 || out[out_len] != '\0')) {
    failures++;
    fprintf(stderr, "line %d: %s [%s]: got %.*s\n", line, json, key, (int)out_len, out);
  } else if (got != CJ_OK && out != NULL) {
    failures++;
    fprintf(stderr, "line %d: out written on failure\n", line);
  }
  free(out);
}

#define GET_OK(json, key, want) expect_get(__LINE__, json, key, CJ_OK, want, sizeof(want) - 1)
#define GET_FAILS(json, key, result) expect_get(__LINE__, json, key, result, NULL, 0)

static void test_get(void) {
  GET_OK("{\"user\":\"ada\"}", "user", "ada");
  GET_OK(" { \"vsn\" : \"2.0.0\" , \"user\" : \"ada\" } ", "user", "ada");
  GET_OK("{\"user\":\"\"}", "user", "");
  /* every escape, and non-ASCII bytes copied */
  GET_OK("{\"b\":\"q\\\" s\\\\ /\\/ \\b\\f\\n\\r\\t é\"}", "b", "q\" s\\ // \b\f\n\r\t é");
  GET_OK("{\"b\":\"\\u00e9\\u20AC\\ud83d\\ude00\"}", "b", "é€😀");
  GET_OK("{\"b\":\"a\\u0000b\"}", "b", "a\0b");
  /* the key itself is decoded before comparing */
  GET_OK("{\"\\u0062ody\":\"x\"}", "body", "x");
  /* nested members with the same name do not count; values of every type are skipped */
  GET_OK("{\"o\":{\"body\":1},\"a\":[1,-2.5e+3,true,false,null,\"}\",{\"body\":[]}],\"body\":\"top\"}",
         "body", "top");
  /* the last duplicate wins, as in serde_json / JSON.parse */
  GET_OK("{\"body\":\"first\",\"body\":\"last\"}", "body", "last");
  GET_FAILS("{\"body\":\"first\",\"body\":2}", "body", CJ_NOT_STRING);
  GET_OK("{\"body\":2,\"body\":\"s\"}", "body", "s");

  GET_FAILS("{}", "user", CJ_ABSENT);
  GET_FAILS("{\"username\":\"ada\"}", "user", CJ_ABSENT);
  GET_FAILS("{\"user\":null}", "user", CJ_NOT_STRING);
  GET_FAILS("{\"body\":42}", "body", CJ_NOT_STRING);
  GET_FAILS("{\"body\":{\"x\":\"y\"}}", "body", CJ_NOT_STRING);
  GET_FAILS("{\"body\":[\"y\"]}", "body", CJ_NOT_STRING);

  const char *invalid[] = {
      "", "   ", "[]", "\"user\"", "null", "{", "{\"user\":\"ada\"", "{\"user\" \"ada\"}",
      "{\"user\":\"ada\",}", "{\"user\":\"ada\"} x", "{\"user\":\"ada\"}{}", "{user:\"ada\"}",
      "{\"user\":'ada'}", "{\"user\":\"a\nb\"}", "{\"user\":\"\\x\"}", "{\"user\":\"\\u12\"}",
      "{\"user\":\"\\ud83d\"}", "{\"user\":\"\\ude00\"}", "{\"user\":\"\\ud83d\\u0041\"}",
      "{\"n\":01}", "{\"n\":1.}", "{\"n\":-}", "{\"n\":1e}", "{\"n\":tru}", "{\"a\":[1,]}",
      "{\"a\":[1 2]}", "{\"user\":\"unterminated}",
  };
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) GET_FAILS(invalid[i], "user", CJ_INVALID);

  /* nesting: 64 levels are fine, deeper is refused rather than recursing without bound */
  char deep[300];
  size_t n = 0;
  n += (size_t)sprintf(deep + n, "{\"a\":");
  for (int i = 0; i < 62; i++) deep[n++] = '[';
  for (int i = 0; i < 62; i++) deep[n++] = ']';
  n += (size_t)sprintf(deep + n, ",\"user\":\"ok\"}");
  deep[n] = '\0';
  GET_OK(deep, "user", "ok");
  n = 0;
  n += (size_t)sprintf(deep + n, "{\"a\":");
  for (int i = 0; i < 100; i++) deep[n++] = '[';
  for (int i = 0; i < 100; i++) deep[n++] = ']';
  n += (size_t)sprintf(deep + n, "}");
  deep[n] = '\0';
  GET_FAILS(deep, "user", CJ_INVALID);

  /* lengths are honoured: no NUL terminator needed, bytes after len ignored */
  const char *text = "{\"user\":\"ada\"}garbage";
  char *out = NULL;
  size_t out_len = 0;
  EXPECT(cj_object_get_string((const uint8_t *)text, 14, "user", &out, &out_len) == CJ_OK);
  EXPECT(out_len == 3 && out && memcmp(out, "ada", 3) == 0);
  free(out);
}

static void expect_trim(int line, const char *in, const char *want) {
  size_t len = 0;
  const char *t = cj_trim(in, strlen(in), &len);
  checks++;
  if (len != strlen(want) || memcmp(t, want, len) != 0) {
    failures++;
    fprintf(stderr, "line %d: trim(%s) = [%.*s], expected [%s]\n", line, in, (int)len, t, want);
  }
}

static void test_trim(void) {
  expect_trim(__LINE__, "ada", "ada");
  expect_trim(__LINE__, "  ada \t\n", "ada");
  expect_trim(__LINE__, "   ", "");
  expect_trim(__LINE__, "", "");
  expect_trim(__LINE__, " a b ", "a b");
  /* Unicode White_Space at both ends: NBSP, ideographic space, line separator, NEL */
  expect_trim(__LINE__, "\xC2\xA0\xE3\x80\x80" "ada\xE2\x80\xA8\xC2\x85", "ada");
  expect_trim(__LINE__, "\xE3\x80\x80", "");
  /* non-space multi-byte characters at the ends are kept whole */
  expect_trim(__LINE__, " é ", "é");
  expect_trim(__LINE__, "😀", "😀");
  /* zero-width space (U+200B) is not White_Space in Rust either */
  expect_trim(__LINE__, "\xE2\x80\x8B", "\xE2\x80\x8B");
}

static void test_string_literal(void) {
  /* every byte 0x01..0xFF-ish of interest round-trips through the reader */
  const char input[] = "say \"hi\" \\ to\n\r\t\b\f\x01\x1f é 😀 </script>";
  struct cj_buf b = {0};
  cj_buf_raw(&b, "{\"body\":", 8);
  cj_buf_string(&b, input, sizeof input - 1);
  cj_buf_raw(&b, "}", 1);
  EXPECT(!b.failed);
  char *out = NULL;
  size_t out_len = 0;
  EXPECT(cj_object_get_string((const uint8_t *)b.data, b.len, "body", &out, &out_len) == CJ_OK);
  EXPECT(out_len == sizeof input - 1 && out && memcmp(out, input, out_len) == 0);
  free(out);
  const char want[] =
      "{\"body\":\"say \\\"hi\\\" \\\\ to\\n\\r\\t\\b\\f\\u0001\\u001f é 😀 </script>\"}";
  EXPECT(b.len == sizeof want - 1 && memcmp(b.data, want, b.len) == 0);
  free(b.data);

  /* NUL bytes inside and a long string (the buffer grows) */
  struct cj_buf big = {0};
  char chunk[1000];
  memset(chunk, 'x', sizeof chunk);
  chunk[500] = '\0';
  cj_buf_string(&big, chunk, sizeof chunk);
  EXPECT(!big.failed && big.len == 2 + 999 + 6);
  EXPECT(big.data[0] == '"' && big.data[big.len - 1] == '"');
  EXPECT(memcmp(big.data + 501, "\\u0000", 6) == 0);
  free(big.data);
}

static int span_is(struct cj_span sp, const char *want) {
  return sp.len == strlen(want) && memcmp(sp.ptr, want, sp.len) == 0;
}

/* cj_object_get_raw: the raw value text of any member, no decoding. */
static void test_get_raw(void) {
  const char *j = " {\"a\": {\"x\": [1, \"}\"]} , \"n\":12,\"s\":\"q\\\"\",\"b\":true,\"a2\":null,\"n\": 13 } ";
  const uint8_t *u = (const uint8_t *)j;
  struct cj_span sp = {NULL, 0};
  EXPECT(cj_object_get_raw(u, strlen(j), "a", &sp) == CJ_OK && span_is(sp, "{\"x\": [1, \"}\"]}"));
  EXPECT(cj_object_get_raw(u, strlen(j), "n", &sp) == CJ_OK && span_is(sp, "13")); /* last wins */
  EXPECT(cj_object_get_raw(u, strlen(j), "s", &sp) == CJ_OK && span_is(sp, "\"q\\\"\""));
  EXPECT(cj_object_get_raw(u, strlen(j), "b", &sp) == CJ_OK && span_is(sp, "true"));
  EXPECT(cj_object_get_raw(u, strlen(j), "a2", &sp) == CJ_OK && span_is(sp, "null"));
  sp.ptr = NULL;
  EXPECT(cj_object_get_raw(u, strlen(j), "zz", &sp) == CJ_ABSENT && sp.ptr == NULL);
  EXPECT(cj_object_get_raw((const uint8_t *)"[1]", 3, "a", &sp) == CJ_INVALID);
  EXPECT(cj_object_get_raw((const uint8_t *)"{\"a\":1", 6, "a", &sp) == CJ_INVALID);
  EXPECT(cj_object_get_raw((const uint8_t *)"{\"a\":1} x", 10, "a", &sp) == CJ_INVALID);
}

/* cj_string: one JSON string literal decoded. */
static void test_string_value(void) {
  char *out = NULL;
  size_t n = 0;
  EXPECT(cj_string((const uint8_t *)" \"a\\u00e9\\n\" ", 12, &out, &n) == CJ_OK);
  EXPECT(n == 4 && memcmp(out, "a\xc3\xa9\n", 4) == 0);
  free(out);
  out = NULL;
  EXPECT(cj_string((const uint8_t *)"12", 2, &out, &n) == CJ_NOT_STRING && out == NULL);
  EXPECT(cj_string((const uint8_t *)"\"ab", 3, &out, &n) == CJ_INVALID && out == NULL);
  EXPECT(cj_string((const uint8_t *)"\"a\" 1", 5, &out, &n) == CJ_NOT_STRING && out == NULL);
}

int main(void) {
  test_get();
  test_get_raw();
  test_string_value();
  test_trim();
  test_string_literal();
  if (failures) {
    fprintf(stderr, "test_chat_json: %d of %d checks FAILED\n", failures, checks);
    return 1;
  }
  printf("test_chat_json: %d checks passed\n", checks);
  return 0;
}

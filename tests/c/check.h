/* The check macros the C tests share: each EXPECT* counts one check and reports a failure
 * with file and line without stopping the test; main ends with `return check_summary();`.
 * Include after switchboard.h for EXPECT_STATUS / EXPECT_OK (they print the status names
 * and the thread's last error message). Header-only: one test program per .c file. */
#ifndef SB_TESTS_CHECK_H
#define SB_TESTS_CHECK_H

#include <stdio.h>

static int failures = 0;
static int checks = 0;

#define EXPECT(cond)                                                      \
  do {                                                                    \
    checks++;                                                             \
    if (!(cond)) {                                                        \
      failures++;                                                         \
      fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                     \
  } while (0)

/* Exit status for main: 1 after printing the failure count, else 0. */
static inline int check_summary(void) {
  if (failures > 0) {
    fprintf(stderr, "%d of %d checks FAILED\n", failures, checks);
    return 1;
  }
  printf("all %d checks passed\n", checks);
  return 0;
}

#ifdef SWITCHBOARD_H

/* A string literal as the (pointer, length) pair the byte-string arguments take. */
#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

/* The calling thread's last error message (sb_last_error_message is per thread). */
static inline const char *last_error(void) {
  static _Thread_local char buf[512];
  sb_last_error_message(buf, sizeof buf);
  return buf;
}

#define EXPECT_STATUS(expr, want)                                              \
  do {                                                                         \
    sb_status got_ = (expr);                                                   \
    checks++;                                                                  \
    if (got_ != (want)) {                                                      \
      failures++;                                                              \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n", \
              __FILE__, __LINE__, #expr, sb_status_name(got_),                 \
              sb_status_name(want), last_error());                             \
    }                                                                          \
  } while (0)

#define EXPECT_OK(expr) EXPECT_STATUS(expr, SB_OK)

#endif /* SWITCHBOARD_H */

#endif /* SB_TESTS_CHECK_H */

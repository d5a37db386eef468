/*
 * tap.c -- see tap.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int n_tests, n_failed;
static const char *current = "";

int tap_ok(int cond, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  n_tests++;
  if (!cond) n_failed++;
  printf("%sok %d - %s: ", cond ? "" : "not ", n_tests, current);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  if (!cond) printf("#   at %s:%d\n", file, line);
  fflush(stdout);
  return cond;
}

void tap_diag(const char *fmt, ...) {
  va_list ap;
  printf("# ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
}

int tap_match(const char *name) {
  const char *filter = getenv("SOULGW_TEST_FILTER");
  return !filter || !*filter || strstr(name, filter) != NULL;
}

int tap_want(const tap_test *t, unsigned long n) {
  for (unsigned long i = 0; i < n; i++)
    if (tap_match(t[i].name)) return 1;
  return 0;
}

void tap_run(const tap_test *t, unsigned long n) {
  for (unsigned long i = 0; i < n; i++)
    if (tap_case(t[i].name)) t[i].fn();
}

int tap_case(const char *name) {
  if (!tap_match(name)) return 0;
  current = name;
  printf("# %s\n", name);
  fflush(stdout);
  return 1;
}

int tap_done(void) {
  if (n_tests == 0) printf("1..0 # SKIP no case matches the filter\n");
  else printf("1..%d\n", n_tests);
  fflush(stdout);
  return n_failed ? 1 : 0;
}

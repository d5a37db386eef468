/*
 * tap.h -- a tiny TAP producer for soulgw's tests, run under prove.
 *
 * A test program is a list of named cases.  SOULGW_TEST_FILTER (set by `make check T=...`)
 * keeps only the cases whose name contains it, so `make check T=contract_` runs the contract
 * cases alone, like the runbook's `cargo test ... contract_`.  The plan is printed at the end.
 *
 *   static void contract_health_ok(void) { ok(1 == 1, "one is one"); }
 *   int main(void) { RUN(contract_health_ok); return tap_done(); }
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>

/* Records one assertion; returns cond so that a test can stop early on failure. */
int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints a diagnostic line ("# ..."). */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 when the case should run (its name matches the filter); announces it. */
int tap_case(const char *name);
/* 1 when the filter lets name run. */
int tap_match(const char *name);
/* Prints the plan; returns the exit status for main (0 when everything passed). */
int tap_done(void);

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)                                                          \
  do {                                                                                  \
    long long g_ = (long long)(got), w_ = (long long)(want);                            \
    if (!tap_ok(g_ == w_, __FILE__, __LINE__, __VA_ARGS__))                             \
      tap_diag("  got %lld, want %lld", g_, w_);                                       \
  } while (0)
#define is_str(got, want, ...)                                                          \
  do {                                                                                  \
    const char *g_ = (got), *w_ = (want);                                               \
    int eq_ = g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_;                                \
    if (!tap_ok(eq_, __FILE__, __LINE__, __VA_ARGS__))                                  \
      tap_diag("  got \"%s\", want \"%s\"", g_ ? g_ : "(null)", w_ ? w_ : "(null)");  \
  } while (0)
#define has_str(hay, needle, ...)                                                       \
  do {                                                                                  \
    const char *h_ = (hay), *n_ = (needle);                                             \
    if (!tap_ok(h_ && strstr(h_, n_) != NULL, __FILE__, __LINE__, __VA_ARGS__))         \
      tap_diag("  \"%.300s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);        \
  } while (0)

#define RUN(fn)                                                                         \
  do {                                                                                  \
    if (tap_case(#fn)) fn();                                                            \
  } while (0)

/* A table of cases, so that a program can tell before starting a gateway whether any of its
 * cases passes the filter:
 *   static const tap_test tests[] = {TEST(contract_a), TEST(contract_b)};
 *   if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
 *   ... start ...; tap_run(tests, TAP_COUNT(tests)); ... stop ... */
typedef struct tap_test {
  const char *name;
  void (*fn)(void);
} tap_test;
#define TEST(fn) {#fn, fn}
#define TAP_COUNT(a) (sizeof(a) / sizeof((a)[0]))
int tap_want(const tap_test *t, unsigned long n);
void tap_run(const tap_test *t, unsigned long n);

#endif

/*
 * metrics_recent.c -- unit tests of lib/base/metrics_recent.c: the 0.99 quantile from histogram
 * buckets as Prometheus' histogram_quantile computes it, series over a window in steps (and a
 * slot of an older step never counted), the errors ring bounded to its last 200 answers,
 * newest first, messages cut at 200 bytes on a UTF-8 boundary; counts made on more threads than
 * there are shards add up.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/metrics_recent.h"
#include "tap.h"

#define NEAR(got, want, ...) ok(fabs((got) - (want)) < 1e-9, __VA_ARGS__)

static const double ub[] = {0.001, 0.01, 0.1, 1};

static void unit_recent_quantile(void) {
  uint64_t none[5] = {0};
  ok(sg_recent_quantile(0.99, ub, none, 4) < 0, "no observation: no quantile");
  uint64_t one_bucket[5] = {0, 100, 0, 0, 0};
  /* rank 99 of 100 in (0.001, 0.01]: 0.001 + 0.009 * 99/100 */
  NEAR(sg_recent_quantile(0.99, ub, one_bucket, 4), 0.001 + 0.009 * 0.99,
       "interpolated linearly within the bucket");
  uint64_t spread[5] = {90, 9, 1, 0, 0};
  /* rank 99: cumulative 90, 99 -> the second bucket's upper bound */
  NEAR(sg_recent_quantile(0.99, ub, spread, 4), 0.01, "at a bucket's upper bound");
  uint64_t tail[5] = {50, 0, 0, 0, 50};
  NEAR(sg_recent_quantile(0.99, ub, tail, 4), 1, "in +Inf: the highest finite bound");
  uint64_t first[5] = {10, 0, 0, 0, 0};
  NEAR(sg_recent_quantile(0.5, ub, first, 4), 0.0005, "the first bucket starts at 0");
}

static void unit_recent_series(void) {
  sg_recent *r = sg_recent_new(4);
  int64_t t0 = 1700000000000LL; /* a multiple of 10 s */
  for (int i = 0; i < 10; i++) sg_recent_request(r, 1, 200, 2000000, t0); /* 2 ms */
  sg_recent_request(r, 1, 503, 2000000, t0 + 6000);
  sg_recent_request(r, 2, 404, 50000, t0 + 6000);
  sg_recent_point p[200];
  size_t n = sg_recent_series(r, 1, t0 + 9000, 60, 10, p, 200);
  is_int(n, 6, "60 s in 10 s steps: 6 points");
  is_int(p[5].t, t0 / 1000, "the last point is the current step");
  is_int(p[5].count, 11, "holding both 5 s slots of the step");
  is_int(p[5].errors, 1, "and its error");
  ok(p[5].p99 > 0.001 && p[5].p99 <= 0.0025, "p99 within the 2 ms bucket (%g)", p[5].p99);
  is_int(p[4].count, 0, "the step before: nothing");
  ok(p[4].p99 < 0, "and no p99");
  n = sg_recent_series(r, -1, t0 + 9000, 900, 900, p, 200);
  is_int(n, 1, "one step over the whole window");
  is_int(p[0].count, 12, "every route together");
  is_int(p[0].errors, 2, "with every error");
  /* 15 minutes later the slots of t0 are out of the window and then recycled */
  n = sg_recent_series(r, 1, t0 + 905000, 900, 900, p, 200);
  is_int(p[0].count, 0, "15 minutes later the old steps are not counted");
  sg_recent_request(r, 1, 200, 1000, t0 + 905000);
  n = sg_recent_series(r, 1, t0 + 905000, 900, 900, p, 200);
  is_int(p[0].count, 1, "a recycled slot holds only its new step");
  is_int(sg_recent_series(r, 1, t0, 900, 7, p, 200), 0, "a step not a multiple of 5: nothing");
  is_int(sg_recent_series(r, 1, t0, 905, 5, p, 200), 0, "a window over 900 s: nothing");
  sg_recent_request(r, 99, 200, 1, t0); /* out of range: ignored */
  sg_recent_free(r);
}

static void unit_recent_errors_ring(void) {
  sg_recent *r = sg_recent_new(2);
  char id[32], msg[400];
  for (int i = 0; i < 250; i++) {
    snprintf(id, sizeof id, "req-%d", i);
    sg_recent_error(r, 1000 + i, 1, 400 + i % 100, "REQUEST.BAD", "bad", 3, id, "p", "t");
  }
  static sg_recent_err out[SG_RECENT_ERRORS + 10];
  size_t n = sg_recent_errors(r, out, SG_RECENT_ERRORS + 10);
  is_int(n, SG_RECENT_ERRORS, "250 errors: the ring keeps 200");
  is_str(out[0].request_id, "req-249", "newest first");
  is_str(out[199].request_id, "req-50", "the oldest kept is the 51st");
  is_int(sg_recent_errors(r, out, 5), 5, "a smaller buffer: that many");
  /* 199 ASCII bytes then a 2-byte character: cut before the character, not in it */
  memset(msg, 'a', 199);
  memcpy(msg + 199, "\xc3\xa9", 2);
  memset(msg + 201, 'b', 100);
  msg[301] = '\0';
  sg_recent_error(r, 5000, 0, 500, NULL, msg, strlen(msg), NULL, NULL, NULL);
  sg_recent_errors(r, out, 1);
  is_int(strlen(out[0].message), 199, "a message is cut to at most 200 bytes, on a character");
  is_str(out[0].code, "", "a missing code is empty");
  is_str(out[0].principal, "", "and a missing principal");
  memset(msg, 'c', 300);
  sg_recent_error(r, 5001, 0, 500, NULL, msg, 300, NULL, NULL, NULL);
  sg_recent_errors(r, out, 1);
  is_int(strlen(out[0].message), SG_RECENT_MSG_MAX, "ASCII is cut at exactly 200 bytes");
  sg_recent_free(r);
  ok(sg_recent_errors(NULL, out, 1) == 0, "no ring: nothing");
}


#define RECORDERS 20
#define RECORDS 3000
static sg_recent *shared;
static const int64_t t_shared = 1700000000000LL;

static void *record_main(void *p) {
  (void)p;
  for (int i = 0; i < RECORDS; i++)
    sg_recent_request(shared, 2, i % 3 ? 200 : 500, 2000000, t_shared + (i % 2) * 5000);
  return NULL;
}

static void unit_recent_threads_add_up(void) {
  shared = sg_recent_new(4);
  pthread_t t[RECORDERS];
  for (int i = 0; i < RECORDERS; i++) pthread_create(&t[i], NULL, record_main, NULL);
  for (int i = 0; i < RECORDERS; i++) pthread_join(t[i], NULL);
  sg_recent_point p[200];
  size_t n = sg_recent_series(shared, 2, t_shared + 9000, 10, 5, p, 200);
  is_int(n, 2, "two 5 s steps");
  is_int(p[0].count + p[1].count, RECORDERS * RECORDS, "every thread's requests, in both steps");
  is_int(p[0].count, RECORDERS * RECORDS / 2, "half in the first");
  is_int(p[0].errors + p[1].errors, RECORDERS * RECORDS / 3, "and every thread's errors");
  n = sg_recent_series(shared, -1, t_shared + 9000, 900, 900, p, 200);
  is_int(p[0].count, RECORDERS * RECORDS, "the same over every route");
  sg_recent_free(shared);
}

static const tap_test tests[] = {
    TEST(unit_recent_quantile),
    TEST(unit_recent_series),
    TEST(unit_recent_errors_ring),
    TEST(unit_recent_threads_add_up),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

/*
 * ratelimit.c -- unit tests of lib/pipeline/ratelimit.c (SPEC 5, item 5): token buckets refilled
 * from the clock the caller passes in (explicit now_ns values here, never real time), the wait in
 * whole seconds, burst clamping and carrying a level over a reload.
 */
#include <stdint.h>
#include <string.h>

#include "pipeline/auth.h"
#include "base/sg.h"
#include "tap.h"

#define MS 1000000ULL
#define S 1000000000ULL
#define T0 (1000 * S) /* an arbitrary monotonic start */

static void unit_ratelimit_burst_then_wait(void) {
  sg_bucket *b = sg_bucket_new(2, 3, T0);
  if (!ok(b != NULL, "rate 2/s burst 3")) return;
  is_int(sg_bucket_take(b, T0), 0, "take 1 of the burst");
  is_int(sg_bucket_take(b, T0), 0, "take 2 of the burst");
  is_int(sg_bucket_take(b, T0), 0, "take 3 of the burst");
  is_int(sg_bucket_take(b, T0), 1, "the fourth at once waits 1 s (ceil of 0.5 s)");
  is_int(sg_bucket_take(b, T0), 1, "and so does a fifth: a refusal takes nothing");
  sg_bucket_free(b);
}

static void unit_ratelimit_refill(void) {
  sg_bucket *b = sg_bucket_new(2, 3, T0);
  if (!ok(b != NULL, "rate 2/s burst 3")) return;
  for (int i = 0; i < 3; i++) sg_bucket_take(b, T0);
  is_int(sg_bucket_take(b, T0), 1, "empty");
  is_int(sg_bucket_take(b, T0 + 250 * MS), 1, "after 250 ms half a token: still wait 1");
  is_int(sg_bucket_take(b, T0 + 500 * MS), 0, "after 500 ms one more token");
  is_int(sg_bucket_take(b, T0 + 500 * MS), 1, "and only one");
  is_int(sg_bucket_take(b, T0 + 1000 * MS), 0, "another 500 ms, another token");
  is_int(sg_bucket_take(b, T0 + 2000 * MS), 0, "one second later: two tokens (1 of 2)");
  is_int(sg_bucket_take(b, T0 + 2000 * MS), 0, "(2 of 2)");
  is_int(sg_bucket_take(b, T0 + 2000 * MS), 1, "then empty");
  /* a clock that goes backwards neither refills nor breaks the bucket */
  is_int(sg_bucket_take(b, T0), 1, "an earlier now_ns adds nothing");
  is_int(sg_bucket_take(b, T0 + 2500 * MS), 0, "refill resumes from the latest instant");
  is_int(sg_bucket_take(b, T0 + 2500 * MS), 1, "one token only");
  sg_bucket_free(b);
}

static void unit_ratelimit_idle_capped(void) {
  sg_bucket *b = sg_bucket_new(2, 3, T0);
  if (!ok(b != NULL, "rate 2/s burst 3")) return;
  for (int i = 0; i < 3; i++) sg_bucket_take(b, T0);
  uint64_t later = T0 + 3600 * S;
  int taken = 0;
  for (int i = 0; i < 10; i++) taken += sg_bucket_take(b, later) == 0;
  is_int(taken, 3, "after an hour idle, never more than burst (3) at once");
  is_int(sg_bucket_take(b, later), 1, "then a wait of 1");
  /* a fresh bucket starts full, no more */
  sg_bucket *f = sg_bucket_new(5, 4, T0);
  taken = 0;
  for (int i = 0; i < 10; i++) taken += sg_bucket_take(f, T0 + 100 * S) == 0;
  is_int(taken, 4, "a fresh bucket idle for 100 s holds burst (4)");
  sg_bucket_free(f);
  sg_bucket_free(b);
}

static void unit_ratelimit_slow_rate_wait(void) {
  sg_bucket *b = sg_bucket_new(0.5, 1, T0);
  if (!ok(b != NULL, "rate 0.5/s burst 1")) return;
  is_int(sg_bucket_take(b, T0), 0, "the one token");
  is_int(sg_bucket_take(b, T0), 2, "rate 0.5: wait 2 s");
  is_int(sg_bucket_take(b, T0 + 1 * S), 1, "one second later half a token: wait 1");
  is_int(sg_bucket_take(b, T0 + 1500 * MS), 1, "at 1.5 s a quarter missing: wait ceil(0.5)=1");
  is_int(sg_bucket_take(b, T0 + 2 * S), 0, "at 2 s a token");
  sg_bucket_free(b);
  b = sg_bucket_new(0.1, 1, T0);
  sg_bucket_take(b, T0);
  is_int(sg_bucket_take(b, T0), 10, "rate 0.1: wait 10 s");
  is_int(sg_bucket_take(b, T0 + 3 * S), 7, "3 s later: wait 7 s");
  is_int(sg_bucket_take(b, T0 + 9500 * MS), 1, "9.5 s later: wait 1 (ceil of 0.5)");
  sg_bucket_free(b);
  b = sg_bucket_new(100, 1, T0);
  sg_bucket_take(b, T0);
  is_int(sg_bucket_take(b, T0), 1, "a fast rate still waits at least 1 s");
  is_int(sg_bucket_take(b, T0 + 10 * MS), 0, "but refills after 10 ms at 100/s");
  sg_bucket_free(b);
}

static void unit_ratelimit_burst_below_one(void) {
  static const double bursts[] = {0, 0.5, -3};
  for (size_t i = 0; i < SG_ARRAY_LEN(bursts); i++) {
    sg_bucket *b = sg_bucket_new(1, bursts[i], T0);
    if (!ok(b != NULL, "burst %g", bursts[i])) continue;
    is_int(sg_bucket_take(b, T0), 0, "burst %g is treated as 1: one take", bursts[i]);
    is_int(sg_bucket_take(b, T0), 1, "burst %g: then wait 1", bursts[i]);
    is_int(sg_bucket_take(b, T0 + 100 * S), 0, "burst %g: a long idle gives one", bursts[i]);
    is_int(sg_bucket_take(b, T0 + 100 * S), 1, "burst %g: and only one", bursts[i]);
    sg_bucket_free(b);
  }
}

static void unit_ratelimit_copy_level(void) {
  sg_bucket *src = sg_bucket_new(2, 3, T0);
  sg_bucket *dst = sg_bucket_new(2, 3, T0);
  if (!ok(src && dst, "two buckets")) return;
  for (int i = 0; i < 3; i++) sg_bucket_take(src, T0);
  sg_bucket_copy_level(dst, src);
  is_int(sg_bucket_take(dst, T0), 1, "an empty bucket copied into a fresh one stays empty");
  is_int(sg_bucket_take(dst, T0 + 500 * MS), 0, "and refills at its rate from there");
  is_int(sg_bucket_take(dst, T0 + 500 * MS), 1, "one token after 500 ms");
  is_int(sg_bucket_take(src, T0), 1, "the source is unchanged (still empty)");
  sg_bucket_free(dst);
  /* the copy carries the source's instant: a new bucket made later refills from src's time */
  dst = sg_bucket_new(2, 3, T0 + 1 * S);
  sg_bucket_copy_level(dst, src);
  int taken = 0;
  for (int i = 0; i < 5; i++) taken += sg_bucket_take(dst, T0 + 1 * S) == 0;
  is_int(taken, 2, "level 0 at T0 copied, taken at T0+1s: two tokens (not a full burst)");
  sg_bucket_free(dst);
  /* partial level */
  sg_bucket *p = sg_bucket_new(2, 3, T0);
  sg_bucket_take(p, T0);
  dst = sg_bucket_new(2, 3, T0);
  sg_bucket_copy_level(dst, p);
  taken = 0;
  for (int i = 0; i < 5; i++) taken += sg_bucket_take(dst, T0) == 0;
  is_int(taken, 2, "a level of 2 is carried over");
  sg_bucket_free(dst);
  sg_bucket_free(p);
  sg_bucket_free(src);
}

static void unit_ratelimit_copy_clamped(void) {
  sg_bucket *src = sg_bucket_new(10, 10, T0);
  sg_bucket *dst = sg_bucket_new(1, 2, T0);
  if (!ok(src && dst, "a burst 10 source and a burst 2 destination")) return;
  sg_bucket_copy_level(dst, src);
  int taken = 0;
  for (int i = 0; i < 10; i++) taken += sg_bucket_take(dst, T0) == 0;
  is_int(taken, 2, "a full source of 10 is clamped to the destination's burst of 2");
  is_int(sg_bucket_take(dst, T0), 1, "then the destination's rate applies: wait 1");
  sg_bucket_free(dst);
  dst = sg_bucket_new(1, 0, T0); /* burst 0 -> 1 */
  sg_bucket_copy_level(dst, src);
  taken = 0;
  for (int i = 0; i < 10; i++) taken += sg_bucket_take(dst, T0) == 0;
  is_int(taken, 1, "clamped to a burst raised to 1");
  sg_bucket_free(dst);
  sg_bucket_free(src);
  sg_bucket_free(NULL);
  ok(1, "sg_bucket_free(NULL) returns");
}

static const tap_test tests[] = {
    TEST(unit_ratelimit_burst_then_wait),
    TEST(unit_ratelimit_refill),
    TEST(unit_ratelimit_idle_capped),
    TEST(unit_ratelimit_slow_rate_wait),
    TEST(unit_ratelimit_burst_below_one),
    TEST(unit_ratelimit_copy_level),
    TEST(unit_ratelimit_copy_clamped),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

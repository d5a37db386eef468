/*
 * replay.c -- unit tests of lib/pipeline/replay.c (SPEC 5, item 2): the SB-HMAC replay cache.  New
 * signatures are accepted, repeats within their window are replays, and a cache full of live
 * entries refuses new ones rather than forgetting entries early; expired entries are swept.
 */
#include <stdint.h>
#include <string.h>

#include "pipeline/auth.h"
#include "base/sg.h"
#include "tap.h"

/* A signature whose bytes are all derived from n (distinct n give distinct first 4 bytes). */
static void sig_of(unsigned char s[32], uint32_t n) {
  for (int i = 0; i < 32; i++) s[i] = (unsigned char)((n * 2654435761u) >> ((i % 4) * 8)) ^ (unsigned char)i;
}

/* Signatures that share their first 4 bytes (so one hash bucket) and differ after. */
static void sig_same_bucket(unsigned char s[32], unsigned char tail) {
  memset(s, 0, 32);
  s[0] = 0x11;
  s[1] = 0x22;
  s[2] = 0x33;
  s[3] = 0x44;
  s[31] = tail;
}

static void unit_replay_new_and_repeat(void) {
  sg_replay *r = sg_replay_new(16);
  if (!ok(r != NULL, "a cache of 16")) return;
  unsigned char a[32], b[32];
  sig_of(a, 1);
  sig_of(b, 2);
  is_int(sg_replay_size(r), 0, "empty at first");
  is_int(sg_replay_check_add(r, a, 100, 110), 0, "a new signature is accepted");
  is_int(sg_replay_size(r), 1, "and held");
  is_int(sg_replay_check_add(r, a, 100, 110), 1, "the same again is a replay");
  is_int(sg_replay_check_add(r, a, 105, 110), 1, "still a replay later in its window");
  is_int(sg_replay_size(r), 1, "a replay is not added");
  is_int(sg_replay_check_add(r, b, 100, 110), 0, "a different signature is accepted");
  is_int(sg_replay_size(r), 2, "two held");
  is_int(sg_replay_check_add(r, b, 101, 110), 1, "and is then a replay too");
  /* one differing byte anywhere makes a different signature */
  unsigned char c[32];
  memcpy(c, a, 32);
  c[31] ^= 1;
  is_int(sg_replay_check_add(r, c, 100, 110), 0, "a signature differing in its last byte is new");
  memcpy(c, a, 32);
  c[16] ^= 0x80;
  is_int(sg_replay_check_add(r, c, 100, 110), 0, "one differing in a middle byte is new");
  is_int(sg_replay_size(r), 4, "four held");
  sg_replay_free(r);
}

static void unit_replay_expiry(void) {
  sg_replay *r = sg_replay_new(16);
  if (!ok(r != NULL, "a cache of 16")) return;
  unsigned char a[32];
  sig_of(a, 7);
  is_int(sg_replay_check_add(r, a, 100, 110), 0, "accepted at 100 until 110");
  is_int(sg_replay_check_add(r, a, 110, 110), 1, "at its expiry second it is still a replay");
  is_int(sg_replay_check_add(r, a, 111, 121), 0, "once now > expires it is accepted again");
  is_int(sg_replay_check_add(r, a, 112, 121), 1, "and is a replay again in its new window");
  is_int(sg_replay_check_add(r, a, 121, 121), 1, "up to its new expiry");
  is_int(sg_replay_check_add(r, a, 122, 130), 0, "and new after that");
  sg_replay_free(r);
}

static void unit_replay_full_refuses(void) {
  sg_replay *r = sg_replay_new(2);
  if (!ok(r != NULL, "a cache of 2")) return;
  unsigned char a[32], b[32], c[32];
  sig_of(a, 1);
  sig_of(b, 2);
  sig_of(c, 3);
  is_int(sg_replay_check_add(r, a, 100, 200), 0, "a accepted");
  is_int(sg_replay_check_add(r, b, 100, 200), 0, "b accepted");
  is_int(sg_replay_size(r), 2, "full");
  is_int(sg_replay_check_add(r, c, 100, 200), -1, "a full cache of live entries refuses c");
  is_int(sg_replay_size(r), 2, "nothing was evicted");
  is_int(sg_replay_check_add(r, a, 100, 200), 1, "a is still reported as a replay");
  is_int(sg_replay_check_add(r, b, 150, 200), 1, "so is b");
  is_int(sg_replay_check_add(r, c, 150, 200), -1, "c is still refused at 150");
  is_int(sg_replay_check_add(r, c, 200, 300), -1, "and at 200 (the entries expire at 200)");
  is_int(sg_replay_check_add(r, a, 200, 300), 1, "a is a replay at its last second");
  /* after the window the sweep frees both entries */
  is_int(sg_replay_check_add(r, c, 201, 300), 0, "at 201 the full cache sweeps and accepts c");
  is_int(sg_replay_size(r), 1, "the expired entries were swept");
  is_int(sg_replay_check_add(r, a, 201, 300), 0, "a expired, so it is new again");
  is_int(sg_replay_size(r), 2, "full again");
  is_int(sg_replay_check_add(r, b, 201, 300), -1, "and b is refused now");
  is_int(sg_replay_check_add(r, c, 250, 300), 1, "c is a replay");
  sg_replay_free(r);
}

static void unit_replay_partial_sweep(void) {
  sg_replay *r = sg_replay_new(2);
  if (!ok(r != NULL, "a cache of 2")) return;
  unsigned char a[32], b[32], c[32], d[32];
  sig_of(a, 11);
  sig_of(b, 12);
  sig_of(c, 13);
  sig_of(d, 14);
  is_int(sg_replay_check_add(r, a, 100, 150), 0, "a until 150");
  is_int(sg_replay_check_add(r, b, 100, 300), 0, "b until 300");
  is_int(sg_replay_check_add(r, c, 151, 400), 0, "at 151 a has expired: c takes its place");
  is_int(sg_replay_check_add(r, d, 151, 400), -1, "d is refused: b and c are live");
  is_int(sg_replay_check_add(r, b, 151, 400), 1, "b is kept");
  is_int(sg_replay_check_add(r, c, 151, 400), 1, "c is kept");
  is_int(sg_replay_check_add(r, a, 151, 400), -1, "a is no replay now but the cache is full");
  is_int(sg_replay_size(r), 2, "two held");
  sg_replay_free(r);
}

static void unit_replay_capacity_one(void) {
  sg_replay *r = sg_replay_new(1);
  if (!ok(r != NULL, "a cache of 1")) return;
  unsigned char a[32], b[32];
  sig_of(a, 21);
  sig_of(b, 22);
  is_int(sg_replay_check_add(r, a, 100, 105), 0, "a accepted");
  is_int(sg_replay_check_add(r, a, 101, 105), 1, "a replayed");
  is_int(sg_replay_check_add(r, b, 101, 105), -1, "b refused: full");
  is_int(sg_replay_check_add(r, b, 105, 110), -1, "b refused at a's last second");
  is_int(sg_replay_check_add(r, b, 106, 110), 0, "b accepted once a expired");
  is_int(sg_replay_size(r), 1, "one held");
  is_int(sg_replay_check_add(r, a, 106, 110), -1, "a refused now");
  is_int(sg_replay_check_add(r, b, 110, 120), 1, "b replayed");
  is_int(sg_replay_check_add(r, a, 111, 120), 0, "a accepted after b expired");
  sg_replay_free(r);
}

static void unit_replay_bucket_collisions(void) {
  sg_replay *r = sg_replay_new(8);
  if (!ok(r != NULL, "a cache of 8")) return;
  unsigned char x[32], y[32], z[32], w[32];
  sig_same_bucket(x, 1);
  sig_same_bucket(y, 2);
  sig_same_bucket(z, 3);
  sig_same_bucket(w, 4);
  is_int(sg_replay_check_add(r, x, 100, 110), 0, "x accepted");
  is_int(sg_replay_check_add(r, y, 100, 300), 0, "y (same first 4 bytes) accepted");
  is_int(sg_replay_check_add(r, z, 100, 110), 0, "z (same first 4 bytes) accepted");
  is_int(sg_replay_check_add(r, x, 101, 110), 1, "x replayed");
  is_int(sg_replay_check_add(r, y, 101, 300), 1, "y replayed");
  is_int(sg_replay_check_add(r, z, 101, 110), 1, "z replayed");
  is_int(sg_replay_check_add(r, w, 101, 300), 0, "w (same bucket, unseen) is new");
  is_int(sg_replay_size(r), 4, "four held");
  is_int(sg_replay_check_add(r, x, 200, 300), 0, "x expired: new again");
  is_int(sg_replay_check_add(r, y, 200, 300), 1, "y still live in the same chain");
  is_int(sg_replay_check_add(r, w, 200, 300), 1, "w still live in the same chain");
  sg_replay_free(r);
}

/* Sweeping unlinks expired entries from the middle and both ends of one bucket's chain. */
static void unit_replay_sweep_chain(void) {
  sg_replay *r = sg_replay_new(4);
  if (!ok(r != NULL, "a cache of 4")) return;
  unsigned char s[5][32];
  for (int i = 0; i < 5; i++) sig_same_bucket(s[i], (unsigned char)(10 + i));
  is_int(sg_replay_check_add(r, s[0], 100, 110), 0, "s0 until 110");
  is_int(sg_replay_check_add(r, s[1], 100, 500), 0, "s1 until 500");
  is_int(sg_replay_check_add(r, s[2], 100, 110), 0, "s2 until 110");
  is_int(sg_replay_check_add(r, s[3], 100, 110), 0, "s3 until 110");
  is_int(sg_replay_check_add(r, s[4], 100, 500), -1, "full");
  is_int(sg_replay_check_add(r, s[4], 200, 500), 0, "at 200 three expire: s4 accepted");
  is_int(sg_replay_size(r), 2, "s1 and s4 held");
  is_int(sg_replay_check_add(r, s[1], 200, 500), 1, "s1 survived the sweep");
  is_int(sg_replay_check_add(r, s[4], 200, 500), 1, "s4 replayed");
  is_int(sg_replay_check_add(r, s[0], 200, 500), 0, "s0 new");
  is_int(sg_replay_check_add(r, s[2], 200, 500), 0, "s2 new");
  is_int(sg_replay_check_add(r, s[3], 200, 500), -1, "s3 refused: full again");
  is_int(sg_replay_size(r), 4, "four held");
  sg_replay_free(r);
}

/* Many distinct signatures up to the capacity, then all refused, then all replays. */
static void unit_replay_fill_many(void) {
  enum { CAP = 1000 };
  sg_replay *r = sg_replay_new(CAP);
  if (!ok(r != NULL, "a cache of %d", CAP)) return;
  unsigned char s[32];
  int accepted = 0, refused = 0, replays = 0;
  for (uint32_t i = 0; i < CAP; i++) {
    sig_of(s, i + 1000);
    accepted += sg_replay_check_add(r, s, 100, 200) == 0;
  }
  is_int(accepted, CAP, "every distinct signature up to the capacity is accepted");
  is_int(sg_replay_size(r), CAP, "size is the capacity");
  for (uint32_t i = 0; i < 50; i++) {
    sig_of(s, i + 5000);
    refused += sg_replay_check_add(r, s, 150, 200) == -1;
  }
  is_int(refused, 50, "new signatures are refused once full");
  for (uint32_t i = 0; i < CAP; i++) {
    sig_of(s, i + 1000);
    replays += sg_replay_check_add(r, s, 199, 200) == 1;
  }
  is_int(replays, CAP, "every held signature is still a replay");
  sig_of(s, 9999);
  is_int(sg_replay_check_add(r, s, 201, 300), 0, "after the window a new one is accepted");
  is_int(sg_replay_size(r), 1, "everything expired was swept");
  sg_replay_free(r);
}

static void unit_replay_bad_capacity(void) {
  ok(sg_replay_new(0) == NULL, "capacity 0 gives NULL");
  ok(sg_replay_new((size_t)-1) == NULL, "capacity SIZE_MAX gives NULL");
  sg_replay_free(NULL);
  ok(1, "sg_replay_free(NULL) returns");
}

static const tap_test tests[] = {
    TEST(unit_replay_new_and_repeat),
    TEST(unit_replay_expiry),
    TEST(unit_replay_full_refuses),
    TEST(unit_replay_partial_sweep),
    TEST(unit_replay_capacity_one),
    TEST(unit_replay_bucket_collisions),
    TEST(unit_replay_sweep_chain),
    TEST(unit_replay_fill_many),
    TEST(unit_replay_bad_capacity),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

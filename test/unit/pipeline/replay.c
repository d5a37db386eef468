/*
 * replay.c -- unit tests of lib/pipeline/replay.c (SPEC 5, item 2): the SB-HMAC replay cache.  New
 * signatures are accepted, repeats within their window are replays, and a cache full of live
 * entries refuses new ones rather than forgetting entries early; expired entries are swept.
 * Each HMAC key has its own share, so one key filling its share refuses only that key (issue
 * 7, finding 13); the window never narrows and the horizon covers what the cache cannot know
 * (findings 11 and 12).
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

/* Most cases use the cache as one key sees it: one share as large as the cache, a window of
 * W seconds, and a signature "until expires" being one dated expires - W. */
#define W 10

static sg_replay *cache_of(size_t capacity, int *share) {
  sg_replay *r = sg_replay_new(capacity);
  if (!r) return NULL;
  sg_replay_set_window(r, W, 0);
  *share = sg_replay_share(r, "key", capacity);
  return r;
}

/* 0 new, 1 replay, -1 refused (full). */
static int add(sg_replay *r, int share, const unsigned char sig[32], int64_t now,
               int64_t expires) {
  int rc = sg_replay_check_add(r, share, sig, expires - W, now, NULL);
  return rc < 0 ? -1 : rc;
}

static void unit_replay_new_and_repeat(void) {
  int k = -1;
  sg_replay *r = cache_of(16, &k);
  if (!ok(r != NULL, "a cache of 16")) return;
  unsigned char a[32], b[32];
  sig_of(a, 1);
  sig_of(b, 2);
  is_int(sg_replay_size(r), 0, "empty at first");
  is_int(add(r, k, a, 100, 110), 0, "a new signature is accepted");
  is_int(sg_replay_size(r), 1, "and held");
  is_int(add(r, k, a, 100, 110), 1, "the same again is a replay");
  is_int(add(r, k, a, 105, 110), 1, "still a replay later in its window");
  is_int(sg_replay_size(r), 1, "a replay is not added");
  is_int(add(r, k, b, 100, 110), 0, "a different signature is accepted");
  is_int(sg_replay_size(r), 2, "two held");
  is_int(add(r, k, b, 101, 110), 1, "and is then a replay too");
  /* one differing byte anywhere makes a different signature */
  unsigned char c[32];
  memcpy(c, a, 32);
  c[31] ^= 1;
  is_int(add(r, k, c, 100, 110), 0, "a signature differing in its last byte is new");
  memcpy(c, a, 32);
  c[16] ^= 0x80;
  is_int(add(r, k, c, 100, 110), 0, "one differing in a middle byte is new");
  is_int(sg_replay_size(r), 4, "four held");
  sg_replay_free(r);
}

static void unit_replay_expiry(void) {
  int k = -1;
  sg_replay *r = cache_of(16, &k);
  if (!ok(r != NULL, "a cache of 16")) return;
  unsigned char a[32];
  sig_of(a, 7);
  is_int(add(r, k, a, 100, 110), 0, "accepted at 100 until 110");
  is_int(add(r, k, a, 110, 110), 1, "at its expiry second it is still a replay");
  is_int(add(r, k, a, 111, 121), 0, "once now > expires it is accepted again");
  is_int(add(r, k, a, 112, 121), 1, "and is a replay again in its new window");
  is_int(add(r, k, a, 121, 121), 1, "up to its new expiry");
  is_int(add(r, k, a, 122, 130), 0, "and new after that");
  sg_replay_free(r);
}

static void unit_replay_full_refuses(void) {
  int k = -1;
  sg_replay *r = cache_of(2, &k);
  if (!ok(r != NULL, "a cache of 2")) return;
  unsigned char a[32], b[32], c[32];
  sig_of(a, 1);
  sig_of(b, 2);
  sig_of(c, 3);
  is_int(add(r, k, a, 100, 200), 0, "a accepted");
  is_int(add(r, k, b, 100, 200), 0, "b accepted");
  is_int(sg_replay_size(r), 2, "full");
  is_int(add(r, k, c, 100, 200), -1, "a full cache of live entries refuses c");
  is_int(sg_replay_size(r), 2, "nothing was evicted");
  is_int(add(r, k, a, 100, 200), 1, "a is still reported as a replay");
  is_int(add(r, k, b, 150, 200), 1, "so is b");
  is_int(add(r, k, c, 150, 200), -1, "c is still refused at 150");
  is_int(add(r, k, c, 200, 300), -1, "and at 200 (the entries expire at 200)");
  is_int(add(r, k, a, 200, 300), 1, "a is a replay at its last second");
  /* after the window the sweep frees both entries */
  is_int(add(r, k, c, 201, 300), 0, "at 201 the full cache sweeps and accepts c");
  is_int(sg_replay_size(r), 1, "the expired entries were swept");
  is_int(add(r, k, a, 201, 300), 0, "a expired, so it is new again");
  is_int(sg_replay_size(r), 2, "full again");
  is_int(add(r, k, b, 201, 300), -1, "and b is refused now");
  is_int(add(r, k, c, 250, 300), 1, "c is a replay");
  sg_replay_free(r);
}

static void unit_replay_partial_sweep(void) {
  int k = -1;
  sg_replay *r = cache_of(2, &k);
  if (!ok(r != NULL, "a cache of 2")) return;
  unsigned char a[32], b[32], c[32], d[32];
  sig_of(a, 11);
  sig_of(b, 12);
  sig_of(c, 13);
  sig_of(d, 14);
  is_int(add(r, k, a, 100, 150), 0, "a until 150");
  is_int(add(r, k, b, 100, 300), 0, "b until 300");
  is_int(add(r, k, c, 151, 400), 0, "at 151 a has expired: c takes its place");
  is_int(add(r, k, d, 151, 400), -1, "d is refused: b and c are live");
  is_int(add(r, k, b, 151, 400), 1, "b is kept");
  is_int(add(r, k, c, 151, 400), 1, "c is kept");
  is_int(add(r, k, a, 151, 400), -1, "a is no replay now but the cache is full");
  is_int(sg_replay_size(r), 2, "two held");
  sg_replay_free(r);
}

static void unit_replay_capacity_one(void) {
  int k = -1;
  sg_replay *r = cache_of(1, &k);
  if (!ok(r != NULL, "a cache of 1")) return;
  unsigned char a[32], b[32];
  sig_of(a, 21);
  sig_of(b, 22);
  is_int(add(r, k, a, 100, 105), 0, "a accepted");
  is_int(add(r, k, a, 101, 105), 1, "a replayed");
  is_int(add(r, k, b, 101, 105), -1, "b refused: full");
  is_int(add(r, k, b, 105, 110), -1, "b refused at a's last second");
  is_int(add(r, k, b, 106, 110), 0, "b accepted once a expired");
  is_int(sg_replay_size(r), 1, "one held");
  is_int(add(r, k, a, 106, 110), -1, "a refused now");
  is_int(add(r, k, b, 110, 120), 1, "b replayed");
  is_int(add(r, k, a, 111, 120), 0, "a accepted after b expired");
  sg_replay_free(r);
}

static void unit_replay_bucket_collisions(void) {
  int k = -1;
  sg_replay *r = cache_of(8, &k);
  if (!ok(r != NULL, "a cache of 8")) return;
  unsigned char x[32], y[32], z[32], w[32];
  sig_same_bucket(x, 1);
  sig_same_bucket(y, 2);
  sig_same_bucket(z, 3);
  sig_same_bucket(w, 4);
  is_int(add(r, k, x, 100, 110), 0, "x accepted");
  is_int(add(r, k, y, 100, 300), 0, "y (same first 4 bytes) accepted");
  is_int(add(r, k, z, 100, 110), 0, "z (same first 4 bytes) accepted");
  is_int(add(r, k, x, 101, 110), 1, "x replayed");
  is_int(add(r, k, y, 101, 300), 1, "y replayed");
  is_int(add(r, k, z, 101, 110), 1, "z replayed");
  is_int(add(r, k, w, 101, 300), 0, "w (same bucket, unseen) is new");
  is_int(sg_replay_size(r), 4, "four held");
  is_int(add(r, k, x, 200, 300), 0, "x expired: new again");
  is_int(add(r, k, y, 200, 300), 1, "y still live in the same chain");
  is_int(add(r, k, w, 200, 300), 1, "w still live in the same chain");
  sg_replay_free(r);
}

/* Sweeping unlinks expired entries from the middle and both ends of one bucket's chain. */
static void unit_replay_sweep_chain(void) {
  int k = -1;
  sg_replay *r = cache_of(4, &k);
  if (!ok(r != NULL, "a cache of 4")) return;
  unsigned char s[5][32];
  for (int i = 0; i < 5; i++) sig_same_bucket(s[i], (unsigned char)(10 + i));
  is_int(add(r, k, s[0], 100, 110), 0, "s0 until 110");
  is_int(add(r, k, s[1], 100, 500), 0, "s1 until 500");
  is_int(add(r, k, s[2], 100, 110), 0, "s2 until 110");
  is_int(add(r, k, s[3], 100, 110), 0, "s3 until 110");
  is_int(add(r, k, s[4], 100, 500), -1, "full");
  is_int(add(r, k, s[4], 200, 500), 0, "at 200 three expire: s4 accepted");
  is_int(sg_replay_size(r), 2, "s1 and s4 held");
  is_int(add(r, k, s[1], 200, 500), 1, "s1 survived the sweep");
  is_int(add(r, k, s[4], 200, 500), 1, "s4 replayed");
  is_int(add(r, k, s[0], 200, 500), 0, "s0 new");
  is_int(add(r, k, s[2], 200, 500), 0, "s2 new");
  is_int(add(r, k, s[3], 200, 500), -1, "s3 refused: full again");
  is_int(sg_replay_size(r), 4, "four held");
  sg_replay_free(r);
}

/* Many distinct signatures up to the capacity, then all refused, then all replays. */
static void unit_replay_fill_many(void) {
  enum { CAP = 1000 };
  int k = -1;
  sg_replay *r = cache_of(CAP, &k);
  if (!ok(r != NULL, "a cache of %d", CAP)) return;
  unsigned char s[32];
  int accepted = 0, refused = 0, replays = 0;
  for (uint32_t i = 0; i < CAP; i++) {
    sig_of(s, i + 1000);
    accepted += add(r, k, s, 100, 200) == 0;
  }
  is_int(accepted, CAP, "every distinct signature up to the capacity is accepted");
  is_int(sg_replay_size(r), CAP, "size is the capacity");
  for (uint32_t i = 0; i < 50; i++) {
    sig_of(s, i + 5000);
    refused += add(r, k, s, 150, 200) == -1;
  }
  is_int(refused, 50, "new signatures are refused once full");
  for (uint32_t i = 0; i < CAP; i++) {
    sig_of(s, i + 1000);
    replays += add(r, k, s, 199, 200) == 1;
  }
  is_int(replays, CAP, "every held signature is still a replay");
  sig_of(s, 9999);
  is_int(add(r, k, s, 201, 300), 0, "after the window a new one is accepted");
  is_int(sg_replay_size(r), 1, "everything expired was swept");
  sg_replay_free(r);
}

static void unit_replay_bad_capacity(void) {
  ok(sg_replay_new(0) == NULL, "capacity 0 gives NULL");
  ok(sg_replay_new((size_t)-1) == NULL, "capacity SIZE_MAX gives NULL");
  sg_replay_free(NULL);
  ok(1, "sg_replay_free(NULL) returns");
}

/* ------------------------------------------------------------------------------------------ */
/* Shares, window and horizon (issue 7, findings 11 to 13) */

static void security_replay_share_per_key(void) {
  sg_replay *r = sg_replay_new(16);
  if (!ok(r != NULL, "a cache of 16")) return;
  sg_replay_set_window(r, 10, 100);
  int a = sg_replay_share(r, "alpha", 4), b = sg_replay_share(r, "beta", 4);
  ok(a >= 0 && b >= 0 && a != b, "two keys, two shares");
  unsigned char s[32];
  int64_t retry = 0;
  for (uint32_t i = 0; i < 4; i++) {
    sig_of(s, 100 + i);
    is_int(sg_replay_check_add(r, a, s, 100 + i, 104, NULL), SG_REPLAY_NEW, "alpha #%u", i);
  }
  is_int(sg_replay_share_size(r, a), 4, "alpha's share is full");
  sig_of(s, 200);
  is_int(sg_replay_check_add(r, a, s, 104, 104, &retry), SG_REPLAY_SHARE_FULL,
         "alpha's next signature is refused: its share is full");
  is_int(retry, 100 + 10 - 104 + 1, "retry when alpha's oldest entry (dated 100) expires");
  is_int(sg_replay_size(r), 4, "nothing was evicted for it");
  for (uint32_t i = 0; i < 4; i++) {
    sig_of(s, 300 + i);
    is_int(sg_replay_check_add(r, b, s, 104, 104, NULL), SG_REPLAY_NEW,
           "beta #%u is accepted all the same", i);
  }
  sig_of(s, 304);
  is_int(sg_replay_check_add(r, b, s, 104, 104, NULL), SG_REPLAY_SHARE_FULL,
         "beta has its own limit");
  sig_of(s, 100);
  is_int(sg_replay_check_add(r, b, s, 100, 104, NULL), SG_REPLAY_SEEN,
         "a signature held in another share is still a replay");
  /* alpha's first entry (dated 100) expires after 110: the sweep gives its room back */
  sig_of(s, 201);
  is_int(sg_replay_check_add(r, a, s, 111, 111, NULL), SG_REPLAY_NEW,
         "after its oldest entry expired alpha has room again");
  is_int(sg_replay_share_size(r, a), 4, "alpha: 3 left + 1 new");
  is_int(sg_replay_share_size(r, b), 4, "beta untouched by alpha's sweep");
  is_int(sg_replay_size(r), 8, "eight held");
  sg_replay_free(r);
}

static void security_replay_shares_overcommitted(void) {
  sg_replay *r = sg_replay_new(4);
  if (!ok(r != NULL, "a cache of 4")) return;
  sg_replay_set_window(r, 10, 100);
  int a = sg_replay_share(r, "alpha", 100), b = sg_replay_share(r, "beta", 4);
  unsigned char s[32];
  int64_t retry = 0;
  for (uint32_t i = 0; i < 4; i++) {
    sig_of(s, 10 + i);
    is_int(sg_replay_check_add(r, a, s, 102, 102, NULL), SG_REPLAY_NEW,
           "alpha #%u (its cap is clamped to the capacity)", i);
  }
  sig_of(s, 20);
  is_int(sg_replay_check_add(r, b, s, 102, 102, &retry), SG_REPLAY_FULL,
         "shares that add up past the capacity: the whole cache can fill");
  is_int(retry, 102 + 10 - 102 + 1, "retry when the oldest entry expires");
  is_int(sg_replay_check_add(r, 99, s, 102, 102, NULL), SG_REPLAY_FULL,
         "an unknown share takes nothing");
  sg_replay_free(r);
}

static void security_replay_share_reused_by_id(void) {
  sg_replay *r = sg_replay_new(16);
  if (!ok(r != NULL, "a cache of 16")) return;
  sg_replay_set_window(r, 10, 100);
  int a = sg_replay_share(r, "alpha", 2);
  unsigned char s[32];
  sig_of(s, 1);
  is_int(sg_replay_check_add(r, a, s, 100, 100, NULL), SG_REPLAY_NEW, "alpha #0");
  sig_of(s, 2);
  is_int(sg_replay_check_add(r, a, s, 100, 100, NULL), SG_REPLAY_NEW, "alpha #1");
  /* a reload: the same key id gets its share back, entries included, with the new cap */
  is_int(sg_replay_share(r, "beta", 2), a + 1, "a new key id, a new share");
  is_int(sg_replay_share(r, "alpha", 3), a, "the same key id, the same share");
  is_int(sg_replay_share_size(r, a), 2, "with its entries");
  sig_of(s, 3);
  is_int(sg_replay_check_add(r, a, s, 100, 100, NULL), SG_REPLAY_NEW, "and the new cap of 3");
  sig_of(s, 4);
  is_int(sg_replay_check_add(r, a, s, 100, 100, NULL), SG_REPLAY_SHARE_FULL, "full at 3");
  is_int(sg_replay_share(r, "alpha", 0), a, "a cap of 0 is taken as 1");
  sg_replay_free(r);
}

static void security_replay_seen_adds_nothing(void) {
  sg_replay *r = sg_replay_new(4);
  if (!ok(r != NULL, "a cache of 4")) return;
  sg_replay_set_window(r, 10, 100);
  int a = sg_replay_share(r, "alpha", 4);
  unsigned char s[32];
  sig_of(s, 5);
  is_int(sg_replay_seen(r, s, 100), 0, "unknown: not seen");
  is_int(sg_replay_seen(r, s, 100), 0, "asking twice adds nothing");
  is_int(sg_replay_size(r), 0, "empty");
  is_int(sg_replay_check_add(r, a, s, 100, 100, NULL), SG_REPLAY_NEW, "recorded");
  is_int(sg_replay_seen(r, s, 110), 1, "seen until its date plus the window");
  is_int(sg_replay_seen(r, s, 111), 0, "not after");
  sg_replay_free(r);
}

static void security_replay_expired_is_not_held(void) {
  sg_replay *r = sg_replay_new(4);
  if (!ok(r != NULL, "a cache of 4")) return;
  sg_replay_set_window(r, 10, 100);
  int a = sg_replay_share(r, "alpha", 4);
  unsigned char s[32];
  sig_of(s, 6);
  is_int(sg_replay_check_add(r, a, s, 100, 111, NULL), SG_REPLAY_EXPIRED,
         "a signature whose date + window is past is refused, not recorded");
  is_int(sg_replay_size(r), 0, "nothing held");
  is_int(sg_replay_check_add(r, a, s, 100, 110, NULL), SG_REPLAY_NEW,
         "at its last second it is recorded");
  sg_replay_free(r);
}

static void security_replay_horizon_is_the_start(void) {
  sg_replay *r = sg_replay_new(4);
  if (!ok(r != NULL, "a cache of 4")) return;
  sg_replay_set_window(r, 300, 1000);
  is_int(sg_replay_horizon(r), 1000, "the first window sets the horizon to the start");
  sg_replay_set_window(r, 300, 2000);
  is_int(sg_replay_horizon(r), 1000, "a reload with the same skew leaves it");
  sg_replay_set_window(r, 60, 3000);
  is_int(sg_replay_horizon(r), 1000, "so does one that narrows it");
  sg_replay_free(r);
}

static void security_replay_window_never_narrows(void) {
  sg_replay *r = sg_replay_new(8);
  if (!ok(r != NULL, "a cache of 8")) return;
  sg_replay_set_window(r, 10, 100);
  int a = sg_replay_share(r, "alpha", 8);
  unsigned char s[32], t[32];
  sig_of(s, 7);
  sig_of(t, 8);
  is_int(sg_replay_check_add(r, a, s, 105, 106, NULL), SG_REPLAY_NEW, "dated 105, window 10");
  sg_replay_set_window(r, 5, 107);
  is_int(sg_replay_seen(r, s, 115), 1, "a narrower skew keeps the wider window: held at 115");
  /* widening: live entries live longer; the horizon covers what may have been dropped */
  is_int(sg_replay_check_add(r, a, t, 100, 108, NULL), SG_REPLAY_NEW, "dated 100");
  sg_replay_set_window(r, 60, 120);
  is_int(sg_replay_horizon(r), 120 - 10 + 1,
         "widening moves the horizon past the dates the old window may have dropped");
  is_int(sg_replay_seen(r, s, 160), 1, "an entry still held lives on in the wider window");
  is_int(sg_replay_seen(r, t, 160), 1, "so does the other");
  is_int(sg_replay_seen(r, s, 166), 0, "until its date plus the new window");
  sg_replay_free(r);
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
    TEST(security_replay_share_per_key),
    TEST(security_replay_shares_overcommitted),
    TEST(security_replay_share_reused_by_id),
    TEST(security_replay_seen_adds_nothing),
    TEST(security_replay_expired_is_not_held),
    TEST(security_replay_horizon_is_the_start),
    TEST(security_replay_window_never_narrows),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

/*
 * cluster_backends.c -- unit tests of the rate-limit and replay-cache backends of
 * lib/pipeline/ratelimit.c and replay.c on a real Redis (redisserver.h) and a real PostgreSQL
 * (pgserver.h): the Redis bucket answers as the memory one does, no token is taken twice by
 * threads of two "gateways" at once, its key expires, the limiter falls back to memory while
 * Redis is away (logged once) and shares again when it is back; a signature claimed through one
 * replay cache is refused by another on the same Redis or the same database, an old one is
 * refused as expired, and a backend that cannot answer says so (the caller fails closed).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/sg.h"
#include "clients/redis.h"
#include "pgserver.h"
#include "pipeline/auth.h"
#include "redisserver.h"
#include "store/store.h"
#include "tap.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logged[1 << 16];

static void capture(void *ud, int level, const char *line) {
  (void)ud;
  (void)level;
  pthread_mutex_lock(&log_lock);
  size_t n = strlen(logged);
  snprintf(logged + n, sizeof logged - n, "%s\n", line);
  pthread_mutex_unlock(&log_lock);
}

static int log_count(const char *text) {
  int n = 0;
  pthread_mutex_lock(&log_lock);
  for (const char *p = logged; (p = strstr(p, text)); p += strlen(text)) n++;
  pthread_mutex_unlock(&log_lock);
  return n;
}

static sg_log *lg;
static int have_redis, have_pg;

static sg_redis *client(int db) {
  char url[256], err[256];
  sg_redis *r = NULL;
  redisserver_url(url, sizeof url, db);
  sg_redis_opts o = {.url = url, .pool = 4, .timeout_ms = 500, .log = lg};
  if (sg_redis_new(&o, &r, err, sizeof err) || !sg_redis_wait_up(r, 10000)) {
    ok(0, "a Redis client for db %d (%s)", db, err);
    sg_redis_free(r);
    return NULL;
  }
  return r;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Rate limits */

static void unit_rate_redis_like_memory(void) {
  if (!have_redis) return;
  sg_redis *r = client(5);
  if (!r) return;
  sg_limiter *l = sg_limiter_new(&sg_rate_redis, r, lg);
  uint64_t now = sg_now_ns();
  /* rate 0.01/s: nothing refills while the test runs */
  sg_bucket *mem = sg_bucket_new(0.01, 3, now), *b = sg_bucket_new(0.01, 3, now);
  for (int i = 0; i < 5; i++) {
    long want = sg_bucket_take(mem, now);
    is_int(sg_limiter_take(l, "bearer:like", b, now), want, "take %d: as the memory bucket", i + 1);
  }
  /* rate 2, burst 3 (the memory test's): empty, then the wait is ceil((1 - tokens) / rate) */
  sg_bucket *fast = sg_bucket_new(2, 3, now);
  for (int i = 0; i < 3; i++) sg_limiter_take(l, "bearer:fast", fast, now);
  is_int(sg_limiter_take(l, "bearer:fast", fast, now), 1, "rate 2/s empty: Retry-After 1");
  long long pttl = redisserver_cmd(5, "PTTL soulgw:rl:bearer:fast");
  ok(pttl > 0 && pttl <= 2500, "the key expires once the bucket would be full (%lld ms)", pttl);
  sleep_ms(600);
  is_int(sg_limiter_take(l, "bearer:fast", fast, now), 0, "after 600 ms one token is back");
  ok(!sg_limiter_degraded(l), "the limiter never fell back");
  is_int(sg_bucket_take(b, now), 0, "the local bucket was never charged");
  sg_bucket_free(mem);
  sg_bucket_free(b);
  sg_bucket_free(fast);
  sg_limiter_free(l);
  sg_redis_free(r);
}

typedef struct taker {
  sg_limiter *l;
  sg_bucket *b;
  int taken;
} taker;

static void *take_many(void *ud) {
  taker *t = ud;
  for (int i = 0; i < 40; i++) t->taken += sg_limiter_take(t->l, "hmac:shared", t->b, sg_now_ns()) == 0;
  return NULL;
}

static void unit_rate_redis_no_drift(void) {
  if (!have_redis) return;
  sg_redis *r1 = client(6), *r2 = client(6); /* two gateways */
  if (!r1 || !r2) goto out;
  redisserver_cmd(6, "FLUSHDB");
  sg_limiter *l1 = sg_limiter_new(&sg_rate_redis, r1, lg), *l2 = sg_limiter_new(&sg_rate_redis, r2, lg);
  taker t[8];
  pthread_t th[8];
  for (int i = 0; i < 8; i++) {
    t[i] = (taker){i % 2 ? l2 : l1, sg_bucket_new(0.01, 50, sg_now_ns()), 0};
    pthread_create(&th[i], NULL, take_many, &t[i]);
  }
  int taken = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    taken += t[i].taken;
    sg_bucket_free(t[i].b);
  }
  is_int(taken, 50, "320 takes on 8 threads of two clients: exactly the burst of 50");
  sg_limiter_free(l1);
  sg_limiter_free(l2);
out:
  sg_redis_free(r1);
  sg_redis_free(r2);
}

static void unit_rate_redis_fallback(void) {
  if (!have_redis) return;
  sg_redis *r = client(7);
  if (!r) return;
  sg_limiter *l = sg_limiter_new(&sg_rate_redis, r, lg);
  sg_bucket *b = sg_bucket_new(0.01, 2, sg_now_ns());
  int falls = log_count("rate limits fall back"), again = log_count("rate limits shared again");
  if (!ok(redisserver_pause() == 0, "Redis stops")) goto out;
  is_int(sg_limiter_take(l, "bearer:fb", b, sg_now_ns()), 0, "Redis away: the local bucket (1 of 2)");
  is_int(sg_limiter_take(l, "bearer:fb", b, sg_now_ns()), 0, "(2 of 2)");
  is_int(sg_limiter_take(l, "bearer:fb", b, sg_now_ns()), 100,
         "then the local bucket refuses: 100 s at 0.01/s");
  ok(sg_limiter_degraded(l), "the limiter has fallen back");
  is_int(log_count("rate limits fall back") - falls, 1, "logged once");
  if (!ok(redisserver_resume() == 0, "Redis starts again")) goto out;
  ok(sg_redis_wait_up(r, 10000), "the client is up again");
  is_int(sg_limiter_take(l, "bearer:fb", b, sg_now_ns()), 0, "the shared bucket (fresh) serves");
  ok(!sg_limiter_degraded(l), "the limiter shares again");
  is_int(log_count("rate limits shared again") - again, 1, "logged once");
out:
  sg_bucket_free(b);
  sg_limiter_free(l);
  sg_redis_free(r);
}

/* ------------------------------------------------------------------------------------------ */
/* The replay cache */

static void sig_of(unsigned char sig[32], int n) {
  memset(sig, 0, 32);
  snprintf((char *)sig, 32, "sig-%d-%lld", n, (long long)sg_wall_ms());
}

/* Two caches (two gateways) on one backend: a claim by one is refused by the other. */
static void shared(const sg_replay_backend *be, void *ud1, void *ud2, const char *what) {
  sg_replay *a = sg_replay_new(16), *b = sg_replay_new(16);
  int64_t now = sg_wall_ms() / 1000;
  sg_replay_set_window(a, 300, now - 10);
  sg_replay_set_window(b, 300, now - 10);
  sg_replay_set_backend(a, be, ud1);
  sg_replay_set_backend(b, be, ud2);
  is_str(sg_replay_backend_name(a), be->name, "%s: the backend's name", what);
  unsigned char s1[32], s2[32];
  sig_of(s1, 1);
  sig_of(s2, 2);
  is_int(sg_replay_check_add(a, 0, s1, now, now, NULL), SG_REPLAY_NEW, "%s: A accepts", what);
  is_int(sg_replay_check_add(b, 0, s1, now, now, NULL), SG_REPLAY_SEEN, "%s: B refuses it", what);
  is_int(sg_replay_check_add(a, 0, s1, now, now, NULL), SG_REPLAY_SEEN, "%s: and so does A", what);
  is_int(sg_replay_check_add(b, 0, s2, now, now, NULL), SG_REPLAY_NEW, "%s: B accepts another", what);
  is_int(sg_replay_check_add(a, 0, s2, now - 400, now, NULL), SG_REPLAY_EXPIRED,
         "%s: a date past the window is expired", what);
  is_int(sg_replay_seen(a, s1, now), 0, "%s: seen() leaves it to the claim", what);
  sg_replay_free(a);
  sg_replay_free(b);
}

static void unit_replay_redis_shared(void) {
  if (!have_redis) return;
  sg_redis *r1 = client(8), *r2 = client(8);
  if (r1 && r2) {
    shared(&sg_replay_redis, r1, r2, "redis");
    ok(redisserver_cmd(8, "KEYS soulgw:nonce:*") >= 2, "the keys are soulgw:nonce:<hex>");
  }
  sg_redis_free(r1);
  sg_redis_free(r2);
}

static void unit_replay_redis_unavailable(void) {
  if (!have_redis) return;
  sg_redis *r = client(9);
  if (!r) return;
  sg_replay *a = sg_replay_new(16);
  int64_t now = sg_wall_ms() / 1000;
  sg_replay_set_window(a, 300, now - 10);
  sg_replay_set_backend(a, &sg_replay_redis, r);
  unsigned char s[32];
  sig_of(s, 3);
  if (ok(redisserver_pause() == 0, "Redis stops")) {
    is_int(sg_replay_check_add(a, 0, s, now, now, NULL), SG_REPLAY_UNAVAILABLE,
           "Redis away: unavailable (the caller fails closed)");
    ok(redisserver_resume() == 0 && sg_redis_wait_up(r, 10000), "Redis back");
    is_int(sg_replay_check_add(a, 0, s, now, now, NULL), SG_REPLAY_NEW, "then the claim works");
  }
  sg_replay_free(a);
  sg_redis_free(r);
}

static sg_store *pg_store(const char *url) {
  sg_store *st = NULL;
  char err[512];
  sg_store_opts o = {.path = ":memory:", .backend = "postgres", .url = url, .pool = 3,
                     .statement_timeout_ms = 4000, .log = lg};
  if (sg_store_open(&o, &st, err, sizeof err)) tap_diag("%s", err);
  return st;
}

static void unit_replay_pg_shared(void) {
  if (!have_pg) return;
  char url[256];
  if (!ok(pgserver_createdb("nonces") == 0, "a database")) return;
  pgserver_url(url, sizeof url, "nonces");
  sg_store *s1 = pg_store(url), *s2 = pg_store(url);
  if (ok(s1 && s2, "two stores on one database") &&
      ok(sg_store_has_nonces(s1), "PostgreSQL keeps nonces")) {
    shared(&sg_replay_pg, s1, s2, "postgres");
    ok(pgserver_query_int(url, "SELECT count(*) FROM replay_nonces") >= 2,
       "the claims are rows of replay_nonces");
    int64_t now = sg_wall_ms();
    is_int(sg_store_nonce_claim(s1, "k-expiring", now + 50, now), SG_ST_OK, "a short claim");
    is_int(sg_store_nonce_claim(s2, "k-expiring", now + 50, now), SG_ST_CONFLICT, "held");
    is_int(sg_store_nonce_claim(s2, "k-expiring", now + 60000, now + 100), SG_ST_OK,
           "an expired row is claimed again");
  }
  sg_store_close(s1);
  sg_store_close(s2);
  sg_store *sq = NULL;
  char err[256];
  sg_store_opts o = {.path = ":memory:"};
  if (sg_store_open(&o, &sq, err, sizeof err) == 0) {
    ok(!sg_store_has_nonces(sq), "SQLite keeps none (its gateway's memory does)");
    is_int(sg_store_nonce_claim(sq, "k", 1, 0), SG_ST_UNAVAILABLE, "and refuses a claim");
  }
  sg_store_close(sq);
}

static const tap_test tests[] = {
    TEST(unit_rate_redis_like_memory), TEST(unit_rate_redis_no_drift),
    TEST(unit_rate_redis_fallback),    TEST(unit_replay_redis_shared),
    TEST(unit_replay_redis_unavailable), TEST(unit_replay_pg_shared),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  int rc = redisserver_start();
  if (rc > 0) ok(1, "redis # SKIP redis-server is not installed");
  else have_redis = ok(rc == 0, "redis-server starts");
  rc = pgserver_start();
  if (rc > 0) ok(1, "postgres # SKIP its server is not installed");
  else have_pg = ok(rc == 0, "PostgreSQL starts");
  lg = sg_log_new();
  sg_log_configure(lg, SOULGW_LOG_INFO, 1);
  sg_log_set_fn(lg, capture, NULL);
  tap_run(tests, TAP_COUNT(tests));
  sg_log_free(lg);
  return tap_done();
}

/*
 * redis.c -- unit tests of lib/clients/redis.c against a real redis-server (redisserver.h):
 * the URI's forms and mistakes (never quoted), SET NX PX, a script by EVALSHA and again after
 * Redis forgot it, many threads sharing a client without losing a command, a wrong password, and
 * a Redis that goes away (down at once, counted, logged once) and comes back (up again by
 * itself).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/metrics.h"
#include "clients/redis.h"
#include "redisserver.h"
#include "tap.h"

/* What the client logged, for assertions. */
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

/* Waits up to 5 s for text to have been logged n times: the count then. */
static int wait_log(const char *text, int n) {
  for (int i = 0; i < 500 && log_count(text) < n; i++) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return log_count(text);
}

static sg_log *lg;
static sg_metrics *metrics;
static sg_family *errors;

static sg_redis *client(const char *url, char *err, size_t errlen) {
  sg_redis *r = NULL;
  sg_redis_opts o = {.url = url, .pool = 3, .timeout_ms = 500, .log = lg, .errors = errors};
  return sg_redis_new(&o, &r, err, errlen) == 0 ? r : NULL;
}

static sg_redis *good_client(int db) {
  char url[256], err[256];
  redisserver_url(url, sizeof url, db);
  sg_redis *r = client(url, err, sizeof err);
  if (!ok(r != NULL, "a client for db %d", db)) tap_diag("%s", err);
  if (r && !ok(sg_redis_wait_up(r, 10000), "it comes up")) {
    sg_redis_free(r);
    return NULL;
  }
  return r;
}

static void unit_redis_url_mistakes(void) {
  static const char *const bad[] = {
      "http://:" REDISSERVER_PASSWORD "@127.0.0.1:6379/0", "redis://:" REDISSERVER_PASSWORD "@",
      "redis://:" REDISSERVER_PASSWORD "@host:99999/0",
      "redis://:" REDISSERVER_PASSWORD "@host:6379/x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[256] = "";
    sg_redis *r = client(bad[i], err, sizeof err);
    ok(r == NULL, "refused: URL %zu", i);
    ok(err[0] && !strstr(err, REDISSERVER_PASSWORD), "the message (%s) holds no password", err);
    sg_redis_free(r);
  }
  char err[256];
  sg_redis *r = client("redis://[::1]:7/3", err, sizeof err);
  ok(r != NULL, "an IPv6 address in brackets is accepted");
  if (r) is_str(sg_redis_address(r), "::1:7", "its address for logs");
  sg_redis_free(r);
  r = client("redis://u%3Ax:p%40ss@example.invalid/1", err, sizeof err);
  ok(r != NULL, "a user, a percent-encoded password, the default port");
  if (r) is_str(sg_redis_address(r), "example.invalid:6379", "port 6379 by default");
  sg_redis_free(r);
}

static void unit_redis_set_nx_px(void) {
  sg_redis *r = good_client(1);
  if (!r) return;
  is_int(sg_redis_set_nx_px(r, "t:nx", 300), 1, "a new key is set");
  is_int(sg_redis_set_nx_px(r, "t:nx", 300), 0, "the same key again is refused");
  long long pttl = redisserver_cmd(1, "PTTL t:nx");
  ok(pttl > 0 && pttl <= 300, "it expires within its PX (%lld ms)", pttl);
  for (int i = 0; i < 100 && redisserver_cmd(1, "EXISTS t:nx") == 1; i++) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  is_int(sg_redis_set_nx_px(r, "t:nx", 300), 1, "once expired it can be set again");
  sg_redis_free(r);
}

static const char counter[] = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

static void unit_redis_script_reloaded(void) {
  sg_redis *r = good_client(2);
  if (!r) return;
  int id = sg_redis_script(r, counter);
  is_int(sg_redis_script(r, counter), id, "the same source has one id");
  long long v = 0;
  const char *keys[1] = {"t:count"}, *args[1] = {"5"};
  redisserver_cmd(2, "DEL t:count");
  int rc = sg_redis_eval_int(r, id, 1, keys, 1, args, &v);
  ok(rc == 0 && v == 5, "the script runs (%lld)", v);
  is_int(redisserver_cmd(2, "SCRIPT FLUSH"), 0, "Redis forgets its scripts");
  rc = sg_redis_eval_int(r, id, 1, keys, 1, args, &v);
  ok(rc == 0 && v == 10, "the script is loaded again and runs (%lld)", v);
  const char *bad[1] = {"x"};
  ok(sg_redis_eval_int(r, id, 1, keys, 1, bad, &v) == -1, "a script error is -1");
  ok(sg_redis_up(r), "and does not mark the client down");
  sg_redis_free(r);
}

typedef struct worker {
  sg_redis *r;
  int id, done;
} worker;

static void *work(void *ud) {
  worker *w = ud;
  const char *keys[1] = {"t:threads"}, *args[1] = {"1"};
  long long v;
  for (int i = 0; i < 200; i++) w->done += sg_redis_eval_int(w->r, w->id, 1, keys, 1, args, &v) == 0;
  return NULL;
}

static void unit_redis_threads(void) {
  sg_redis *r = good_client(3);
  if (!r) return;
  redisserver_cmd(3, "DEL t:threads");
  worker w[8];
  pthread_t t[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (worker){r, sg_redis_script(r, counter), 0};
    pthread_create(&t[i], NULL, work, &w[i]);
  }
  int done = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    done += w[i].done;
  }
  is_int(done, 1600, "8 threads on 3 connections: every command answered");
  is_int(redisserver_cmd(3, "GET t:threads"), 0, "(GET answers)");
  long long v = 0;
  const char *keys[1] = {"t:threads"}, *args[1] = {"0"};
  sg_redis_eval_int(r, sg_redis_script(r, counter), 1, keys, 1, args, &v);
  is_int(v, 1600, "and none lost or doubled");
  sg_redis_free(r);
}

static void unit_redis_wrong_password(void) {
  char url[256], err[256];
  snprintf(url, sizeof url, "redis://:not-the-password@127.0.0.1:%d/0", redisserver_port());
  int before = log_count("authentication refused");
  sg_redis *r = client(url, err, sizeof err);
  if (!ok(r != NULL, "a client with a wrong password starts")) return;
  for (int i = 0; i < 200 && log_count("authentication refused") == before; i++) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  ok(!sg_redis_up(r), "it stays down");
  ok(log_count("authentication refused") > before, "its log line says why");
  is_int(sg_redis_set_nx_px(r, "t:x", 100), -1, "its commands fail");
  ok(!log_count("not-the-password"), "the password is never logged");
  sg_redis_free(r);
}

static void unit_redis_down_and_back(void) {
  sg_redis *r = good_client(4);
  if (!r) return;
  int downs = log_count("redis down"), ups = log_count("redis up");
  uint64_t errs = sg_family_get(errors, NULL);
  if (!ok(redisserver_pause() == 0, "Redis stops")) return;
  int rc = sg_redis_set_nx_px(r, "t:down", 1000);
  for (int i = 0; i < 300 && sg_redis_up(r); i++) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  is_int(rc, -1, "a command meets the outage: -1");
  ok(!sg_redis_up(r), "the client is down");
  is_int(sg_redis_set_nx_px(r, "t:down", 1000), -1, "and fails at once while down");
  ok(sg_family_get(errors, NULL) > errs, "soulgw_redis_errors_total counts the failures");
  is_int(wait_log("redis down", downs + 1) - downs, 1, "one log line for the change");
  ok(!log_count(REDISSERVER_PASSWORD), "the password is never logged");
  if (!ok(redisserver_resume() == 0, "Redis starts again")) return;
  ok(sg_redis_wait_up(r, 10000), "the client is up again by itself");
  is_int(wait_log("redis up", ups + 1) - ups, 1, "one log line for that change");
  is_int(sg_redis_set_nx_px(r, "t:down", 1000), 1, "and its commands work");
  sg_redis_free(r);
}

static const tap_test tests[] = {
    TEST(unit_redis_url_mistakes), TEST(unit_redis_set_nx_px), TEST(unit_redis_script_reloaded),
    TEST(unit_redis_threads),      TEST(unit_redis_wrong_password),
    TEST(unit_redis_down_and_back),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  int rc = redisserver_start();
  if (rc > 0) {
    ok(1, "redis # SKIP redis-server is not installed");
    return tap_done();
  }
  if (!ok(rc == 0, "redis-server starts")) return tap_done();
  lg = sg_log_new();
  metrics = sg_metrics_new();
  errors = sg_metrics_family(metrics, "soulgw_redis_errors_total", "x", "", 1, NULL);
  sg_log_configure(lg, SOULGW_LOG_INFO, 1);
  sg_log_set_fn(lg, capture, NULL);
  tap_run(tests, TAP_COUNT(tests));
  sg_metrics_free(metrics);
  sg_log_free(lg);
  return tap_done();
}

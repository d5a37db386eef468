/*
 * ratelimit.c -- per-principal token buckets (see auth.h).  A bucket is refilled from the
 * monotonic clock at each take, under its own mutex, so the limit is exact on one node.
 *
 * Backends: memory (the buckets themselves) and Redis, where one Lua script per request does
 * what sg_bucket_take does, atomically, on a hash per principal ({t: tokens, ts: microseconds
 * of Redis' own clock}), so that every gateway of a cluster draws from one bucket and no
 * interleaving of theirs can take a token twice.  The key expires once the bucket would be full
 * again (burst / rate seconds), when it holds nothing a fresh bucket would not.  While Redis
 * cannot answer, each gateway falls back to its own buckets (the limit is then rate per
 * instance), and goes back to Redis by itself when the client is up again.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "clients/redis.h"
#include "pipeline/auth.h"

struct sg_bucket {
  pthread_mutex_t lock;
  double rate, burst, tokens;
  uint64_t last_ns;
};

sg_bucket *sg_bucket_new(double rate, double burst, uint64_t now_ns) {
  sg_bucket *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  pthread_mutex_init(&b->lock, NULL);
  b->rate = rate;
  b->burst = burst < 1 ? 1 : burst;
  b->tokens = b->burst;
  b->last_ns = now_ns;
  return b;
}

void sg_bucket_free(sg_bucket *b) {
  if (!b) return;
  pthread_mutex_destroy(&b->lock);
  free(b);
}

long sg_bucket_take(sg_bucket *b, uint64_t now_ns) {
  long wait = 0;
  pthread_mutex_lock(&b->lock);
  if (now_ns > b->last_ns) {
    b->tokens += (double)(now_ns - b->last_ns) / 1e9 * b->rate;
    if (b->tokens > b->burst) b->tokens = b->burst;
    b->last_ns = now_ns;
  }
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
  } else {
    wait = (long)ceil((1.0 - b->tokens) / b->rate);
    if (wait < 1) wait = 1;
  }
  pthread_mutex_unlock(&b->lock);
  return wait;
}

void sg_bucket_copy_level(sg_bucket *dst, sg_bucket *src) {
  pthread_mutex_lock(&src->lock);
  double tokens = src->tokens;
  uint64_t last = src->last_ns;
  pthread_mutex_unlock(&src->lock);
  pthread_mutex_lock(&dst->lock);
  dst->tokens = tokens < dst->burst ? tokens : dst->burst;
  dst->last_ns = last;
  pthread_mutex_unlock(&dst->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Backends */

static long memory_take(void *ud, const char *key, sg_bucket *b, uint64_t now_ns) {
  (void)ud;
  (void)key;
  return sg_bucket_take(b, now_ns);
}

const sg_rate_backend sg_rate_memory = {"memory", memory_take};

/* KEYS[1] the bucket, ARGV rate (tokens/s) and burst; answers sg_bucket_take's wait. */
static const char rate_script[] =
    /* Redis 3.2 to 4 need this before a write that follows TIME; later ones ignore it */
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local v = redis.call('HMGET', KEYS[1], 't', 'ts')\n"
    "local tokens, last = tonumber(v[1]), tonumber(v[2])\n"
    "if tokens == nil or last == nil then tokens, last = burst, now end\n"
    "if now > last then\n"
    "  tokens = math.min(burst, tokens + (now - last) / 1e6 * rate)\n"
    "  last = now\n"
    "end\n"
    "local wait = 0\n"
    "if tokens >= 1 then tokens = tokens - 1 else\n"
    "  wait = math.ceil((1 - tokens) / rate)\n"
    "  if wait < 1 then wait = 1 end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts',\n"
    "           string.format('%.0f', last))\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)\n"
    "return wait\n";

static long redis_take(void *ud, const char *key, sg_bucket *b, uint64_t now_ns) {
  (void)now_ns;
  sg_redis *r = ud;
  char full[600], rate[32], burst[32];
  long long wait;
  if (!sg_redis_up(r)) return -1;
  snprintf(full, sizeof full, "soulgw:rl:%s", key);
  snprintf(rate, sizeof rate, "%.17g", b->rate);
  snprintf(burst, sizeof burst, "%.17g", b->burst);
  const char *keys[1] = {full}, *args[2] = {rate, burst};
  int id = sg_redis_script(r, rate_script);
  if (id < 0 || sg_redis_eval_int(r, id, 1, keys, 2, args, &wait)) return -1;
  return (long)wait;
}

const sg_rate_backend sg_rate_redis = {"redis", redis_take};

/* ------------------------------------------------------------------------------------------ */
/* The limiter */

struct sg_limiter {
  const sg_rate_backend *be;
  void *ud;
  sg_log *log;
  atomic_int degraded;
};

sg_limiter *sg_limiter_new(const sg_rate_backend *be, void *ud, sg_log *log) {
  sg_limiter *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->be = be ? be : &sg_rate_memory;
  l->ud = ud;
  l->log = log;
  return l;
}

void sg_limiter_free(sg_limiter *l) { free(l); }

int sg_limiter_degraded(sg_limiter *l) { return l && atomic_load(&l->degraded); }

long sg_limiter_take(sg_limiter *l, const char *key, sg_bucket *b, uint64_t now_ns) {
  long wait = l->be->take(l->ud, key, b, now_ns);
  if (wait >= 0) {
    if (atomic_exchange(&l->degraded, 0) && l->log)
      sg_log(l->log, SOULGW_LOG_INFO, "rate limits shared again", SG_S("backend", l->be->name));
    return wait;
  }
  if (!atomic_exchange(&l->degraded, 1) && l->log)
    sg_log(l->log, SOULGW_LOG_WARN,
           "rate limits fall back to per-instance buckets (the effective limit is rate x "
           "instances) until the backend is back",
           SG_S("backend", l->be->name));
  return sg_bucket_take(b, now_ns);
}

/*
 * ratelimit.c -- per-principal token buckets (see auth.h).  A bucket is refilled from the
 * monotonic clock at each take, under its own mutex, so the limit is exact on one node.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

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

/*
 * shard.c -- see shard.h.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/shard.h"

_Thread_local int sg_shard_plus1_;

int sg_shard_first_(void) {
  static atomic_uint next;
  int s = (int)(atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % SG_SHARDS);
  sg_shard_plus1_ = s + 1;
  return s;
}

void *sg_shard_calloc(size_t n) {
  n = (n + SG_CACHE_LINE - 1) / SG_CACHE_LINE * SG_CACHE_LINE;
  void *p = aligned_alloc(SG_CACHE_LINE, n);
  if (p) memset(p, 0, n);
  return p;
}

/*
 * shard.h -- per-thread shards of counters that every request writes.
 *
 * Two event loops that add to the same counter pass its cache line between their cores on
 * every request; under load that transfer, not the addition, is the cost (a lock-prefixed add
 * on a line the other core holds).  So what every request counts (route metrics, the in-flight
 * gauge, the recent window, labelled families, request ids, snapshot references) is kept in
 * SG_SHARDS copies: a thread writes only to the copy of its shard, and a reader adds the copies
 * up.  A thread's shard is given out in turn on its first use, so the loops (started one after
 * another) get different shards; more threads than shards share some, which is correct (every
 * copy is still updated atomically) and merely slower.
 */
#ifndef SG_SHARD_H
#define SG_SHARD_H

#include <stddef.h>

#define SG_SHARDS 16 /* a power of two */
#define SG_CACHE_LINE 64

extern _Thread_local int sg_shard_plus1_; /* this thread's shard + 1; 0 before its first use */
int sg_shard_first_(void);

/* The calling thread's shard, 0 .. SG_SHARDS - 1. */
static inline int sg_shard(void) {
  int s = sg_shard_plus1_;
  return s ? s - 1 : sg_shard_first_();
}

/* A zeroed block of n bytes whose start and end are cache-line aligned (free() releases it), or
 * NULL; for a shard's copy, so that no two copies share a line. */
void *sg_shard_calloc(size_t n);

#endif

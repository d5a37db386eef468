/*
 * inflight.c -- snapshots, request ids and deferred requests (see inflight.h).
 *
 * The current snapshot is lent through shards.  A shard that lends it holds one reference of
 * its own (taken under snap_lock, so that a swap and this take never see a snapshot being freed)
 * and counts its borrowers under its own mutex, which only threads of that shard take.  A swap
 * installs the new snapshot and then makes each shard drop the old one if it lends it to nobody;
 * a shard whose borrowers still run drops it when the last of them gives it back.  Meanwhile
 * that shard lends nothing: its new borrowers take references of their own to the new one.  The
 * release that drops the last reference frees a snapshot through its own destroy (the gateway
 * builds snapshots and knows their parts; this file only counts references).  Request ids are a
 * random per-process prefix, the shard and the shard's counter.
 */
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/shard.h"
#include "pipeline/inflight.h"
#include "pipeline/req.h"

struct sg_inflight_shard {
  _Alignas(SG_CACHE_LINE) pthread_mutex_t snap_lock; /* guards lent and borrowers */
  sg_snap *lent;         /* the snapshot this shard lends, holding one reference to it */
  long borrowers;        /* requests that have lent and not given it back */
  atomic_uint_fast64_t rid; /* request ids given out */
  pthread_mutex_t defer_lock;
  soulgw_req *deferred; /* this shard's requests a handler still has to answer */
};

int sg_inflight_init(sg_inflight *f, soulgw *gw, sg_log *log, sg_metrics *metrics) {
  memset(f, 0, sizeof *f);
  if (!(f->shards = sg_shard_calloc(SG_SHARDS * sizeof *f->shards))) return SOULGW_ENOMEM;
  f->gw = gw;
  f->log = log;
  f->metrics = metrics;
  pthread_mutex_init(&f->snap_lock, NULL);
  for (int i = 0; i < SG_SHARDS; i++) {
    pthread_mutex_init(&f->shards[i].snap_lock, NULL);
    pthread_mutex_init(&f->shards[i].defer_lock, NULL);
  }
  uint64_t p = sg_random_u64();
  for (int i = 15; i >= 0; i--, p >>= 4) f->rid_prefix[i] = "0123456789abcdef"[p & 15];
  return 0;
}

void sg_inflight_destroy(sg_inflight *f) {
  if (!f->shards) return;
  for (int i = 0; i < SG_SHARDS; i++) {
    sg_snap_release(f->shards[i].lent);
    pthread_mutex_destroy(&f->shards[i].snap_lock);
    pthread_mutex_destroy(&f->shards[i].defer_lock);
  }
  free(f->shards);
  f->shards = NULL;
  sg_snap_release(f->snap);
  f->snap = NULL;
  pthread_mutex_destroy(&f->snap_lock);
}

/* The current snapshot with a reference of the caller's own. */
static sg_snap *acquire_shared(sg_inflight *f) {
  pthread_mutex_lock(&f->snap_lock);
  sg_snap *s = f->snap;
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  pthread_mutex_unlock(&f->snap_lock);
  return s;
}

sg_snap *sg_inflight_acquire(sg_inflight *f, int *shard) {
  int k = sg_shard();
  sg_inflight_shard *sh = &f->shards[k];
  sg_snap *s, *old = NULL;
  pthread_mutex_lock(&sh->snap_lock);
  /* Only compared: the snapshot sh lends is alive (sh holds it), the current one may not be. */
  if (sh->lent != atomic_load_explicit(&f->snap, memory_order_acquire)) {
    if (sh->borrowers) { /* still lent out: the new one is borrowed elsewhere, see above */
      pthread_mutex_unlock(&sh->snap_lock);
      *shard = -1;
      return acquire_shared(f);
    }
    old = sh->lent;
    sh->lent = acquire_shared(f);
  }
  s = sh->lent;
  sh->borrowers++;
  pthread_mutex_unlock(&sh->snap_lock);
  sg_snap_release(old);
  *shard = k;
  return s;
}

/* Makes shard sh drop the snapshot it lends when that is no longer the current one and nobody
 * borrows it (its lock held); returns the reference to drop. */
static sg_snap *stale(sg_inflight *f, sg_inflight_shard *sh) {
  if (sh->borrowers || !sh->lent || sh->lent == atomic_load(&f->snap)) return NULL;
  sg_snap *s = sh->lent;
  sh->lent = NULL;
  return s;
}

void sg_inflight_put(sg_inflight *f, sg_snap *s, int shard) {
  if (shard < 0) {
    sg_snap_release(s);
    return;
  }
  sg_inflight_shard *sh = &f->shards[shard];
  pthread_mutex_lock(&sh->snap_lock);
  sh->borrowers--;
  sg_snap *drop = stale(f, sh);
  pthread_mutex_unlock(&sh->snap_lock);
  sg_snap_release(drop);
}

void sg_snap_release(sg_snap *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  s->destroy(s);
}

sg_snap *sg_inflight_swap(sg_inflight *f, sg_snap *s) {
  pthread_mutex_lock(&f->snap_lock);
  sg_snap *old = f->snap;
  atomic_store_explicit(&f->snap, s, memory_order_release);
  pthread_mutex_unlock(&f->snap_lock);
  for (int i = 0; i < SG_SHARDS; i++) {
    sg_inflight_shard *sh = &f->shards[i];
    pthread_mutex_lock(&sh->snap_lock);
    sg_snap *drop = stale(f, sh);
    pthread_mutex_unlock(&sh->snap_lock);
    sg_snap_release(drop);
  }
  return old;
}

void sg_inflight_request_id(sg_inflight *f, int shard, char out[33]) {
  static const char hex[] = "0123456789abcdef";
  uint64_t n = atomic_fetch_add_explicit(&f->shards[shard].rid, 1, memory_order_relaxed);
  memcpy(out, f->rid_prefix, 16);
  out[16] = hex[shard & 15];
  for (int i = 31; i >= 17; i--, n >>= 4) out[i] = hex[n & 15];
  out[32] = '\0';
}

void sg_inflight_deferred_add(sg_inflight *f, soulgw_req *req) {
  sg_inflight_shard *sh = &f->shards[req->shard];
  pthread_mutex_lock(&sh->defer_lock);
  if (!req->on_deferred_list) {
    req->prev_deferred = NULL;
    req->next_deferred = sh->deferred;
    if (sh->deferred) sh->deferred->prev_deferred = req;
    sh->deferred = req;
    req->on_deferred_list = 1;
  }
  pthread_mutex_unlock(&sh->defer_lock);
}

void sg_inflight_deferred_remove(sg_inflight *f, soulgw_req *req) {
  sg_inflight_shard *sh = &f->shards[req->shard];
  pthread_mutex_lock(&sh->defer_lock);
  if (req->on_deferred_list) {
    if (req->prev_deferred) req->prev_deferred->next_deferred = req->next_deferred;
    else sh->deferred = req->next_deferred;
    if (req->next_deferred) req->next_deferred->prev_deferred = req->prev_deferred;
    req->on_deferred_list = 0;
  }
  pthread_mutex_unlock(&sh->defer_lock);
}

int sg_inflight_force_all(sg_inflight *f, void (*answer)(soulgw_req *req)) {
  int forced = 0;
  for (int i = 0; i < SG_SHARDS; i++) {
    sg_inflight_shard *sh = &f->shards[i];
    pthread_mutex_lock(&sh->defer_lock);
    for (soulgw_req *r = sh->deferred, *next; r; r = next) {
      next = r->next_deferred;
      r->on_deferred_list = 0;
      answer(r);
      forced++;
    }
    sh->deferred = NULL;
    pthread_mutex_unlock(&sh->defer_lock);
  }
  return forced;
}

void sg_inflight_close(sg_inflight *f, void (*answer)(soulgw_req *req)) {
  atomic_store(&f->closing, 1);
  sg_inflight_force_all(f, answer);
}

int sg_inflight_drain(sg_inflight *f) { return atomic_exchange(&f->draining, 1); }

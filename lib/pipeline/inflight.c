/*
 * inflight.c -- snapshots, request ids and deferred requests (see inflight.h).
 *
 * A snapshot is acquired under a mutex held for one pointer read and one increment, so that a
 * reload's swap and a request's acquire never see a snapshot being freed; the release that drops
 * the last reference frees it through the snapshot's own destroy (the gateway builds snapshots
 * and knows their parts; this file only counts references).  Request ids are a random
 * per-process prefix and a counter.
 */
#include <string.h>

#include "base/crypto.h"
#include "pipeline/inflight.h"
#include "pipeline/req.h"

void sg_inflight_init(sg_inflight *f, soulgw *gw, sg_log *log, sg_metrics *metrics) {
  f->gw = gw;
  f->log = log;
  f->metrics = metrics;
  pthread_mutex_init(&f->snap_lock, NULL);
  pthread_mutex_init(&f->defer_lock, NULL);
  f->snap = NULL;
  f->deferred = NULL;
  atomic_init(&f->draining, 0);
  uint64_t p = sg_random_u64();
  for (int i = 15; i >= 0; i--, p >>= 4) f->rid_prefix[i] = "0123456789abcdef"[p & 15];
  atomic_init(&f->rid_counter, 0);
}

void sg_inflight_destroy(sg_inflight *f) {
  sg_snap_release(f->snap);
  f->snap = NULL;
  pthread_mutex_destroy(&f->snap_lock);
  pthread_mutex_destroy(&f->defer_lock);
}

sg_snap *sg_inflight_acquire(sg_inflight *f) {
  pthread_mutex_lock(&f->snap_lock);
  sg_snap *s = f->snap;
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  pthread_mutex_unlock(&f->snap_lock);
  return s;
}

void sg_snap_release(sg_snap *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
  s->destroy(s);
}

sg_snap *sg_inflight_swap(sg_inflight *f, sg_snap *s) {
  pthread_mutex_lock(&f->snap_lock);
  sg_snap *old = f->snap;
  f->snap = s;
  pthread_mutex_unlock(&f->snap_lock);
  return old;
}

void sg_inflight_request_id(sg_inflight *f, char out[33]) {
  static const char hex[] = "0123456789abcdef";
  uint64_t n = atomic_fetch_add_explicit(&f->rid_counter, 1, memory_order_relaxed);
  memcpy(out, f->rid_prefix, 16);
  for (int i = 31; i >= 16; i--, n >>= 4) out[i] = hex[n & 15];
  out[32] = '\0';
}

void sg_inflight_deferred_add(sg_inflight *f, soulgw_req *req) {
  pthread_mutex_lock(&f->defer_lock);
  if (!req->on_deferred_list) {
    req->prev_deferred = NULL;
    req->next_deferred = f->deferred;
    if (f->deferred) f->deferred->prev_deferred = req;
    f->deferred = req;
    req->on_deferred_list = 1;
  }
  pthread_mutex_unlock(&f->defer_lock);
}

void sg_inflight_deferred_remove(sg_inflight *f, soulgw_req *req) {
  pthread_mutex_lock(&f->defer_lock);
  if (req->on_deferred_list) {
    if (req->prev_deferred) req->prev_deferred->next_deferred = req->next_deferred;
    else f->deferred = req->next_deferred;
    if (req->next_deferred) req->next_deferred->prev_deferred = req->prev_deferred;
    req->on_deferred_list = 0;
  }
  pthread_mutex_unlock(&f->defer_lock);
}

int sg_inflight_force_all(sg_inflight *f, void (*answer)(soulgw_req *req)) {
  int forced = 0;
  pthread_mutex_lock(&f->defer_lock);
  for (soulgw_req *r = f->deferred, *next; r; r = next) {
    next = r->next_deferred;
    r->on_deferred_list = 0;
    answer(r);
    forced++;
  }
  f->deferred = NULL;
  pthread_mutex_unlock(&f->defer_lock);
  return forced;
}

void sg_inflight_close(sg_inflight *f, void (*answer)(soulgw_req *req)) {
  atomic_store(&f->closing, 1);
  sg_inflight_force_all(f, answer);
}

int sg_inflight_drain(sg_inflight *f) { return atomic_exchange(&f->draining, 1); }

/*
 * inflight.h -- what the requests in flight share: the snapshot they run on, request ids, the
 * list of requests a handler still has to answer, the draining flag, and the log and metrics
 * of the pipeline.
 *
 * A snapshot (configuration, router, auth state) is what one request runs on.  Requests take a
 * reference to the current snapshot when they start; a reload builds a complete new snapshot
 * aside and swaps the pointer, so that requests in flight finish on the old one, which is freed
 * when the last of them ends.
 *
 * Nothing here is written by every request on a line another loop writes too (shard.h): each
 * thread's shard holds one reference to the current snapshot and counts the requests that
 * borrow it under its own mutex, and keeps its own request-id counter and deferred list.  Only
 * a reload, or a thread whose shard still lends out an older snapshot, touches the snapshot's
 * shared count.
 *
 * The gateway owns one sg_inflight: it installs snapshots, drains and, at stop, answers what is
 * still deferred.  The HTTP glue creates requests from it (sg_req_new) and reads the draining
 * flag; the pipeline logs and counts through it.
 */
#ifndef SG_INFLIGHT_H
#define SG_INFLIGHT_H

#include <pthread.h>

#include "base/log.h"
#include "base/metrics.h"
#include "conf/config.h"
#include "pipeline/auth.h"
#include "pipeline/router.h"

/* Everything a request runs on, swapped as one on reload.  Whoever builds a snapshot sets
 * destroy, which frees its parts and the snapshot when the last reference goes. */
typedef struct sg_snap sg_snap;
struct sg_snap {
  atomic_int refs;
  void (*destroy)(sg_snap *s);
  sg_conf *conf;
  sg_router *router;
  sg_auth *auth;
};

typedef struct sg_inflight_shard sg_inflight_shard; /* inflight.c */

typedef struct sg_inflight {
  soulgw *gw;          /* opaque here: what soulgw_req_gateway() returns */
  sg_log *log;         /* the pipeline's log (handlers that did not answer, the access log) */
  sg_metrics *metrics; /* requests in flight, per-route request metrics */

  pthread_mutex_t snap_lock; /* held to swap snap, and to take a shared reference to it */
  sg_snap *_Atomic snap;     /* the current snapshot; NULL before the first sg_inflight_swap() */
  sg_inflight_shard *shards; /* SG_SHARDS of them */

  atomic_int draining;
  atomic_int closing; /* the HTTP side is stopping: see sg_inflight_close() */
  atomic_llong unauth_body_bytes; /* bodies read without a principal, held now (req.c) */

  char rid_prefix[16]; /* the random first half of generated request ids, in hex */
} sg_inflight;

/* Sets f up for the gateway gw; log and metrics are borrowed and must outlive f.  Returns
 * SOULGW_ENOMEM when out of memory. */
int sg_inflight_init(sg_inflight *f, soulgw *gw, sg_log *log, sg_metrics *metrics);
/* Releases the current snapshot and the locks.  No request may be left. */
void sg_inflight_destroy(sg_inflight *f);

/* The current snapshot, lent through the calling thread's shard (*shard says which, or -1 for a
 * reference of its own), and its return, from any thread, with the same shard. */
sg_snap *sg_inflight_acquire(sg_inflight *f, int *shard);
void sg_inflight_put(sg_inflight *f, sg_snap *s, int shard);
/* Drops a reference of its own (as sg_inflight_swap() hands back; s may be NULL). */
void sg_snap_release(sg_snap *s);
/* Installs s as the current snapshot (taking over the caller's reference) and returns the one
 * it replaces (NULL the first time), whose reference the caller now holds. */
sg_snap *sg_inflight_swap(sg_inflight *f, sg_snap *s);

/* Writes a fresh request id (32 hex digits) into out: the random prefix, the shard's digit and
 * the shard's count. */
void sg_inflight_request_id(sg_inflight *f, int shard, char out[33]);

/* Deferred-request bookkeeping: a request enters the list (its shard's, req->shard) when a
 * handler takes its reference (defer, stream) and leaves it with its final answer. */
void sg_inflight_deferred_add(sg_inflight *f, soulgw_req *req);
void sg_inflight_deferred_remove(sg_inflight *f, soulgw_req *req);
/* At stop: empties the list, calling answer (sg_req_force_answer) on each request; returns how
 * many there were. */
int sg_inflight_force_all(sg_inflight *f, void (*answer)(soulgw_req *req));

/* At the HTTP side's stop: from here on the glue parks no connection (it answers, or ends a
 * stream, instead), then every deferred request is answered with answer.  A request deferred
 * after this pass sees the flag, since it joined the list before the glue looks. */
void sg_inflight_close(sg_inflight *f, void (*answer)(soulgw_req *req));
static inline int sg_inflight_closing(sg_inflight *f) { return atomic_load(&f->closing); }

/* Sets the draining flag; returns its previous value. */
int sg_inflight_drain(sg_inflight *f);
/* 1 once the gateway drains: answers close their connection, /health says "draining". */
static inline int sg_inflight_draining(sg_inflight *f) {
  return atomic_load_explicit(&f->draining, memory_order_relaxed);
}

#endif

/*
 * metrics_recent.c -- see metrics_recent.h.  Each route has a ring of slots, one per 5-second
 * step; a slot names the step it holds, so a stale slot is recognised and recycled by the first
 * request of a new step (under the ring's mutex, once) and skipped by readers.  A route has one
 * ring per shard (shard.h), so that two loops never count into the same cache line; readers add
 * the rings up.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics_recent.h"
#include "base/shard.h"

typedef atomic_uint_fast64_t counter;

/* the same upper bounds (seconds) as soulgw_http_request_duration_seconds */
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                0.05,   0.1,     0.25,   0.5,   1,      2.5,    5,     10};
#define NBOUNDS SG_ARRAY_LEN(bounds)
/* one more than the window, so the step being written never holds one a reader wants */
#define NSLOTS (SG_RECENT_WINDOW_S / SG_RECENT_STEP_S + 1)

typedef struct slot {
  _Atomic int64_t step; /* the step held (epoch seconds / SG_RECENT_STEP_S); 0: none */
  counter count, errors;
  counter buckets[NBOUNDS + 1];
} slot;

typedef struct ring {
  pthread_mutex_t lock; /* held to recycle a slot */
  slot slots[NSLOTS];
} ring;

struct sg_recent {
  int nroutes;
  ring *_Atomic *rings; /* nroutes * SG_SHARDS: route r's ring of shard k at r * SG_SHARDS + k */
  pthread_mutex_t lock; /* guards the errors ring and ring creation */
  sg_recent_err errs[SG_RECENT_ERRORS];
  size_t nerrs, next; /* kept, and the slot the next one takes */
};

sg_recent *sg_recent_new(int nroutes) {
  sg_recent *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->nroutes = nroutes;
  r->rings = calloc((size_t)nroutes * SG_SHARDS, sizeof *r->rings);
  if (!r->rings) {
    free(r);
    return NULL;
  }
  pthread_mutex_init(&r->lock, NULL);
  return r;
}

void sg_recent_free(sg_recent *r) {
  if (!r) return;
  for (int i = 0; i < r->nroutes * SG_SHARDS; i++) {
    ring *g = atomic_load(&r->rings[i]);
    if (!g) continue;
    pthread_mutex_destroy(&g->lock);
    free(g);
  }
  free(r->rings);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

static ring *ring_of(sg_recent *r, int route, int shard, int create) {
  if (route < 0 || route >= r->nroutes) return NULL;
  ring *_Atomic *at = &r->rings[route * SG_SHARDS + shard];
  ring *g = atomic_load_explicit(at, memory_order_acquire);
  if (g || !create) return g;
  pthread_mutex_lock(&r->lock);
  g = atomic_load(at);
  if (!g && (g = sg_shard_calloc(sizeof *g))) {
    pthread_mutex_init(&g->lock, NULL);
    atomic_store_explicit(at, g, memory_order_release);
  }
  pthread_mutex_unlock(&r->lock);
  return g;
}

/* The slot of step, recycled first when it still holds an older one. */
static slot *slot_for(ring *g, int64_t step) {
  slot *s = &g->slots[step % NSLOTS];
  if (atomic_load_explicit(&s->step, memory_order_acquire) == step) return s;
  pthread_mutex_lock(&g->lock);
  if (atomic_load(&s->step) != step) {
    atomic_store(&s->count, 0);
    atomic_store(&s->errors, 0);
    for (size_t b = 0; b <= NBOUNDS; b++) atomic_store(&s->buckets[b], 0);
    atomic_store_explicit(&s->step, step, memory_order_release);
  }
  pthread_mutex_unlock(&g->lock);
  return s;
}

void sg_recent_request(sg_recent *r, int route, int status, uint64_t ns, int64_t now_ms) {
  ring *g = r ? ring_of(r, route, sg_shard(), 1) : NULL;
  if (!g || now_ms < 0) return;
  slot *s = slot_for(g, now_ms / 1000 / SG_RECENT_STEP_S);
  double secs = (double)ns / 1e9;
  size_t b = 0;
  while (b < NBOUNDS && secs > bounds[b]) b++;
  atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
  if (status >= 400) atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
}

static void copy_field(char *dst, size_t cap, const char *src, size_t len) {
  if (!src) len = 0;
  if (len > cap - 1) len = cap - 1;
  /* never cut a UTF-8 sequence in two */
  if (len == cap - 1)
    while (len && ((unsigned char)src[len] & 0xC0) == 0x80) len--;
  if (len) memcpy(dst, src, len);
  dst[len] = '\0';
}

void sg_recent_error(sg_recent *r, int64_t at_ms, int route, int status, const char *code,
                     const char *message, size_t message_len, const char *request_id,
                     const char *principal, const char *tenant) {
  if (!r) return;
  pthread_mutex_lock(&r->lock);
  sg_recent_err *e = &r->errs[r->next];
  r->next = (r->next + 1) % SG_RECENT_ERRORS;
  if (r->nerrs < SG_RECENT_ERRORS) r->nerrs++;
  e->at_ms = at_ms;
  e->route = route;
  e->status = status;
  copy_field(e->code, sizeof e->code, code, code ? strlen(code) : 0);
  copy_field(e->message, sizeof e->message, message, message_len);
  copy_field(e->request_id, sizeof e->request_id, request_id, request_id ? strlen(request_id) : 0);
  copy_field(e->principal, sizeof e->principal, principal, principal ? strlen(principal) : 0);
  copy_field(e->tenant, sizeof e->tenant, tenant, tenant ? strlen(tenant) : 0);
  pthread_mutex_unlock(&r->lock);
}

size_t sg_recent_errors(sg_recent *r, sg_recent_err *out, size_t max) {
  if (!r) return 0;
  pthread_mutex_lock(&r->lock);
  size_t n = r->nerrs < max ? r->nerrs : max;
  for (size_t i = 0; i < n; i++)
    out[i] = r->errs[(r->next + SG_RECENT_ERRORS - 1 - i) % SG_RECENT_ERRORS];
  pthread_mutex_unlock(&r->lock);
  return n;
}

double sg_recent_quantile(double q, const double *ub, const uint64_t *counts, size_t nbounds) {
  uint64_t total = 0;
  for (size_t b = 0; b <= nbounds; b++) total += counts[b];
  if (!total) return -1;
  double rank = q * (double)total, cum = 0;
  for (size_t b = 0; b <= nbounds; b++) {
    double prev = cum;
    cum += (double)counts[b];
    if (cum < rank || !counts[b]) continue;
    if (b == nbounds) return nbounds ? ub[nbounds - 1] : -1;
    double lo = b ? ub[b - 1] : 0, hi = ub[b];
    return lo + (hi - lo) * (rank - prev) / (double)counts[b];
  }
  return nbounds ? ub[nbounds - 1] : -1;
}

/* Adds the slot of step of ring g (when it holds that step) into count, errors and hist. */
static void add_step(ring *g, int64_t step, uint64_t *count, uint64_t *errors, uint64_t *hist) {
  slot *s = &g->slots[step % NSLOTS];
  if (atomic_load_explicit(&s->step, memory_order_acquire) != step) return;
  *count += atomic_load_explicit(&s->count, memory_order_relaxed);
  *errors += atomic_load_explicit(&s->errors, memory_order_relaxed);
  for (size_t b = 0; b <= NBOUNDS; b++)
    hist[b] += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
}

size_t sg_recent_series(sg_recent *r, int route, int64_t now_ms, int window_s, int step_s,
                        sg_recent_point *out, size_t max) {
  if (!r || step_s < SG_RECENT_STEP_S || step_s % SG_RECENT_STEP_S || window_s < step_s ||
      window_s % step_s || window_s > SG_RECENT_WINDOW_S)
    return 0;
  size_t n = (size_t)(window_s / step_s);
  if (n > max) n = max;
  int per = step_s / SG_RECENT_STEP_S;
  int64_t last = now_ms / 1000 / SG_RECENT_STEP_S; /* the current step */
  int64_t first = last - (int64_t)n * per + 1;
  int lo = route >= 0 ? route : 0, hi = route >= 0 ? route + 1 : r->nroutes; /* routes summed */
  for (size_t i = 0; i < n; i++) {
    uint64_t hist[NBOUNDS + 1] = {0}, count = 0, errors = 0;
    int64_t from = first + (int64_t)i * per;
    for (int k = 0; k < per; k++) {
      for (int q = lo; q < hi; q++)
        for (int sh = 0; sh < SG_SHARDS; sh++) {
          ring *g = ring_of(r, q, sh, 0);
          if (g) add_step(g, from + k, &count, &errors, hist);
        }
    }
    out[i].t = from * SG_RECENT_STEP_S;
    out[i].count = count;
    out[i].errors = errors;
    out[i].p99 = sg_recent_quantile(0.99, bounds, hist, NBOUNDS);
  }
  return n;
}

/*
 * replay.c -- the SB-HMAC replay cache: signatures accepted while their date can still be
 * accepted, each charged to its HMAC key's share.
 *
 * An entry lives until its date plus the window, the widest hmac_skew_s the cache has served
 * (the window never narrows), so a signature is remembered for as long as any configuration
 * could accept its date.  The cache never forgets an entry early: when a key's share, or the
 * whole cache, is full of live entries, new signatures are refused (the caller answers 429)
 * rather than letting an old one be replayed.  Each key has its own share, so that one key
 * filling its share refuses only that key's new requests.
 *
 * What the cache cannot know -- a signature accepted before it existed (by an earlier process)
 * or dropped under a narrower window -- is covered by its horizon: the caller refuses dates at
 * or before it.
 *
 * Only signatures that verified are added, so their bytes are uniformly distributed and serve
 * directly as hash keys.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "clients/redis.h"
#include "pipeline/auth.h"
#include "store/store.h"

/* Links are entry index + 1, so that 0 (what calloc gives) means "none": the tables are never
 * written before use, and memory nobody has touched stays out of the resident set (65,536
 * entries are 3 MB of address space, and a few pages of memory while traffic is light). */
typedef struct entry {
  unsigned char sig[32];
  int64_t date;   /* x-sb-date, epoch seconds: live while now <= date + window */
  uint32_t next;  /* chain, or free list */
  uint32_t share; /* index into shares */
} entry;

/* One HMAC key's share, by key id.  Shares are never removed, so an index stays valid for the
 * life of the cache whatever the reloads do. */
typedef struct share {
  char *id;
  uint32_t used, cap;
  int64_t oldest; /* smallest date among its entries (INT64_MAX: none), for Retry-After */
} share;

struct sg_replay {
  pthread_mutex_t lock;
  entry *entries;
  uint32_t *heads; /* bucket -> first entry */
  uint32_t capacity, nbuckets, used, free_head, unused; /* entries[unused..] never used yet */
  int64_t last_sweep, oldest;
  int64_t window, horizon;
  int windowed; /* the window was set once */
  share *shares;
  uint32_t nshares, shares_cap;
  const sg_replay_backend *be; /* NULL: this memory */
  void *be_ud;
};

static int claim(sg_replay *r, const unsigned char sig[32], int64_t date, int64_t now);

#define NONE 0u
#define AT(r, link) (&(r)->entries[(link) - 1])

sg_replay *sg_replay_new(size_t capacity) {
  sg_replay *r = calloc(1, sizeof *r);
  if (!r || capacity == 0 || capacity > (1u << 24)) {
    free(r);
    return NULL;
  }
  r->capacity = (uint32_t)capacity;
  r->nbuckets = 1;
  while (r->nbuckets < r->capacity) r->nbuckets <<= 1;
  r->oldest = INT64_MAX;
  r->entries = calloc(capacity, sizeof *r->entries);
  r->heads = calloc(r->nbuckets, sizeof *r->heads);
  if (!r->entries || !r->heads) {
    sg_replay_free(r);
    return NULL;
  }
  pthread_mutex_init(&r->lock, NULL);
  return r;
}

void sg_replay_free(sg_replay *r) {
  if (!r) return;
  if (r->entries && r->heads) pthread_mutex_destroy(&r->lock);
  for (uint32_t i = 0; i < r->nshares; i++) free(r->shares[i].id);
  free(r->shares);
  free(r->entries);
  free(r->heads);
  free(r);
}

size_t sg_replay_capacity(const sg_replay *r) { return r->capacity; }

void sg_replay_set_window(sg_replay *r, int64_t window_s, int64_t now) {
  pthread_mutex_lock(&r->lock);
  if (!r->windowed) {
    r->windowed = 1;
    r->window = window_s;
    r->horizon = now;
  } else if (window_s > r->window) {
    /* entries dated before now - window may already be gone; a sweep on another thread may
     * have read a clock one second ahead of ours */
    int64_t h = now - r->window + 1;
    if (h > r->horizon) r->horizon = h;
    r->window = window_s;
  }
  pthread_mutex_unlock(&r->lock);
}

int64_t sg_replay_horizon(sg_replay *r) {
  pthread_mutex_lock(&r->lock);
  int64_t h = r->horizon;
  pthread_mutex_unlock(&r->lock);
  return h;
}

int sg_replay_share(sg_replay *r, const char *key_id, size_t cap) {
  int idx = -1;
  if (cap < 1) cap = 1;
  if (cap > r->capacity) cap = r->capacity;
  pthread_mutex_lock(&r->lock);
  for (uint32_t i = 0; i < r->nshares; i++)
    if (strcmp(r->shares[i].id, key_id) == 0) idx = (int)i;
  if (idx < 0) {
    if (r->nshares == r->shares_cap) {
      uint32_t n = r->shares_cap ? r->shares_cap * 2 : 8;
      share *s = n < (1u << 24) ? realloc(r->shares, n * sizeof *s) : NULL;
      if (!s) goto out;
      r->shares = s;
      r->shares_cap = n;
    }
    share *s = &r->shares[r->nshares];
    memset(s, 0, sizeof *s);
    if (!(s->id = strdup(key_id))) goto out;
    s->oldest = INT64_MAX;
    idx = (int)r->nshares++;
  }
  r->shares[idx].cap = (uint32_t)cap;
out:
  pthread_mutex_unlock(&r->lock);
  return idx;
}

static uint32_t bucket_of(const sg_replay *r, const unsigned char sig[32]) {
  uint32_t h;
  memcpy(&h, sig, sizeof h);
  return h & (r->nbuckets - 1);
}

static int live(const sg_replay *r, const entry *e, int64_t now) {
  return e->date + r->window >= now;
}

static int held(const sg_replay *r, const unsigned char sig[32], int64_t now) {
  for (uint32_t i = r->heads[bucket_of(r, sig)]; i != NONE; i = AT(r, i)->next) {
    const entry *e = AT(r, i);
    if (memcmp(e->sig, sig, 32) == 0 && live(r, e, now)) return 1;
  }
  return 0;
}

/* Removes every expired entry, and recomputes the oldest dates. */
static void sweep(sg_replay *r, int64_t now) {
  for (uint32_t s = 0; s < r->nshares; s++) r->shares[s].oldest = INT64_MAX;
  r->oldest = INT64_MAX;
  for (uint32_t b = 0; b < r->nbuckets; b++) {
    uint32_t *link = &r->heads[b];
    while (*link != NONE) {
      entry *e = AT(r, *link);
      if (!live(r, e, now)) {
        uint32_t idx = *link;
        *link = e->next;
        e->next = r->free_head;
        r->free_head = idx;
        r->used--;
        r->shares[e->share].used--;
      } else {
        share *s = &r->shares[e->share];
        if (e->date < s->oldest) s->oldest = e->date;
        if (e->date < r->oldest) r->oldest = e->date;
        link = &e->next;
      }
    }
  }
  r->last_sweep = now;
}

/* Seconds until the oldest of the entries that begin at oldest expires (at least 1). */
static int64_t retry_after(const sg_replay *r, int64_t oldest, int64_t now) {
  int64_t s = oldest == INT64_MAX ? 1 : oldest + r->window - now + 1;
  return s < 1 ? 1 : s;
}

int sg_replay_seen(sg_replay *r, const unsigned char sig[32], int64_t now) {
  if (r->be) return 0;
  pthread_mutex_lock(&r->lock);
  int rc = held(r, sig, now);
  pthread_mutex_unlock(&r->lock);
  return rc;
}

int sg_replay_check_add(sg_replay *r, int share_idx, const unsigned char sig[32], int64_t date,
                        int64_t now, int64_t *retry_s) {
  if (r->be) return claim(r, sig, date, now);
  int rc = SG_REPLAY_NEW;
  pthread_mutex_lock(&r->lock);
  share *s = share_idx >= 0 && (uint32_t)share_idx < r->nshares ? &r->shares[share_idx] : NULL;
  if (!s) {
    rc = SG_REPLAY_FULL;
    goto out;
  }
  if (date + r->window < now) { /* it would be forgotten at once */
    rc = SG_REPLAY_EXPIRED;
    goto out;
  }
  if (held(r, sig, now)) {
    rc = SG_REPLAY_SEEN;
    goto out;
  }
  /* Entries expire by whole seconds, so one sweep a second misses nothing: sweep when the
   * share or the cache is full, or the cache more than half full, at most once a second (a
   * sweep walks the whole table). */
  if ((r->used == r->capacity || s->used >= s->cap || r->used > r->capacity / 2) &&
      now > r->last_sweep)
    sweep(r, now);
  if (s->used >= s->cap) {
    rc = SG_REPLAY_SHARE_FULL;
    if (retry_s) *retry_s = retry_after(r, s->oldest, now);
    goto out;
  }
  uint32_t idx;
  if (r->free_head != NONE) {
    idx = r->free_head;
    r->free_head = AT(r, idx)->next;
  } else if (r->unused < r->capacity) {
    idx = ++r->unused;
  } else {
    rc = SG_REPLAY_FULL;
    if (retry_s) *retry_s = retry_after(r, r->oldest, now);
    goto out;
  }
  uint32_t b = bucket_of(r, sig);
  entry *e = AT(r, idx);
  memcpy(e->sig, sig, 32);
  e->date = date;
  e->share = (uint32_t)share_idx;
  e->next = r->heads[b];
  r->heads[b] = idx;
  r->used++;
  s->used++;
  if (date < s->oldest) s->oldest = date;
  if (date < r->oldest) r->oldest = date;
out:
  pthread_mutex_unlock(&r->lock);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Backends: the signature's claim, shared by every gateway (SPEC-cluster 2) */

void sg_replay_set_backend(sg_replay *r, const sg_replay_backend *be, void *ud) {
  pthread_mutex_lock(&r->lock);
  r->be = be;
  r->be_ud = ud;
  pthread_mutex_unlock(&r->lock);
}

const char *sg_replay_backend_name(const sg_replay *r) { return r->be ? r->be->name : "memory"; }

/* Claims sig in the backend until its date plus the window (in whole seconds, as the memory
 * cache keeps it). */
static int claim(sg_replay *r, const unsigned char sig[32], int64_t date, int64_t now) {
  pthread_mutex_lock(&r->lock);
  int64_t window = r->window;
  pthread_mutex_unlock(&r->lock);
  if (date + window < now) return SG_REPLAY_EXPIRED;
  char hex[65];
  sg_hex_encode(hex, sig, 32);
  int64_t ttl_ms = (date + window - now + 1) * 1000;
  return r->be->claim(r->be_ud, hex, (date + window + 1) * 1000, ttl_ms);
}

static int redis_claim(void *ud, const char *hex, int64_t expires_ms, int64_t ttl_ms) {
  (void)expires_ms;
  char key[96];
  snprintf(key, sizeof key, "soulgw:nonce:%s", hex);
  int rc = sg_redis_set_nx_px(ud, key, ttl_ms);
  return rc == 1 ? SG_REPLAY_NEW : rc == 0 ? SG_REPLAY_SEEN : SG_REPLAY_UNAVAILABLE;
}

const sg_replay_backend sg_replay_redis = {"redis", redis_claim};

static int pg_claim(void *ud, const char *hex, int64_t expires_ms, int64_t ttl_ms) {
  (void)ttl_ms;
  sg_st st = sg_store_nonce_claim(ud, hex, expires_ms, sg_wall_ms());
  return st == SG_ST_OK ? SG_REPLAY_NEW : st == SG_ST_CONFLICT ? SG_REPLAY_SEEN
                                                               : SG_REPLAY_UNAVAILABLE;
}

const sg_replay_backend sg_replay_pg = {"postgres", pg_claim};

size_t sg_replay_size(sg_replay *r) {
  pthread_mutex_lock(&r->lock);
  size_t n = r->used;
  pthread_mutex_unlock(&r->lock);
  return n;
}

size_t sg_replay_share_size(sg_replay *r, int share_idx) {
  pthread_mutex_lock(&r->lock);
  size_t n = share_idx >= 0 && (uint32_t)share_idx < r->nshares ? r->shares[share_idx].used : 0;
  pthread_mutex_unlock(&r->lock);
  return n;
}

/*
 * replay.c -- the SB-HMAC replay cache: signatures accepted within their validity window.
 *
 * Entries live until the end of the window of the request that brought them (its date plus
 * the allowed skew).  The cache has a fixed capacity and never forgets an entry early: when it
 * is full of entries still in their window, new signatures are refused (the caller answers 401)
 * rather than letting an old one be replayed.  Only signatures that verified are added, so
 * their bytes are uniformly distributed and serve directly as hash keys.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/auth.h"

/* Links are entry index + 1, so that 0 (what calloc gives) means "none": the tables are never
 * written before use, and memory nobody has touched stays out of the resident set (65,536
 * entries are 3 MB of address space, and a few pages of memory while traffic is light). */
typedef struct entry {
  unsigned char sig[32];
  int64_t expires;
  uint32_t next; /* chain, or free list */
} entry;

struct sg_replay {
  pthread_mutex_t lock;
  entry *entries;
  uint32_t *heads; /* bucket -> first entry */
  uint32_t capacity, nbuckets, used, free_head, unused; /* entries[unused..] never used yet */
  int64_t last_sweep;
};

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
  free(r->entries);
  free(r->heads);
  free(r);
}

static uint32_t bucket_of(const sg_replay *r, const unsigned char sig[32]) {
  uint32_t h;
  memcpy(&h, sig, sizeof h);
  return h & (r->nbuckets - 1);
}

/* Removes every expired entry. */
static void sweep(sg_replay *r, int64_t now) {
  for (uint32_t b = 0; b < r->nbuckets; b++) {
    uint32_t *link = &r->heads[b];
    while (*link != NONE) {
      entry *e = AT(r, *link);
      if (e->expires < now) {
        uint32_t idx = *link;
        *link = e->next;
        e->next = r->free_head;
        r->free_head = idx;
        r->used--;
      } else {
        link = &e->next;
      }
    }
  }
  r->last_sweep = now;
}

int sg_replay_check_add(sg_replay *r, const unsigned char sig[32], int64_t now, int64_t expires) {
  int rc = 0;
  pthread_mutex_lock(&r->lock);
  uint32_t b = bucket_of(r, sig);
  for (uint32_t i = r->heads[b]; i != NONE; i = AT(r, i)->next) {
    entry *e = AT(r, i);
    if (memcmp(e->sig, sig, 32) == 0 && e->expires >= now) {
      rc = 1;
      goto out;
    }
  }
  /* Sweep when full, and at most once a second when more than half full. */
  if (r->used == r->capacity || (r->used > r->capacity / 2 && now > r->last_sweep)) sweep(r, now);
  uint32_t idx;
  if (r->free_head != NONE) {
    idx = r->free_head;
    r->free_head = AT(r, idx)->next;
  } else if (r->unused < r->capacity) {
    idx = ++r->unused;
  } else {
    rc = -1;
    goto out;
  }
  entry *e = AT(r, idx);
  memcpy(e->sig, sig, 32);
  e->expires = expires;
  e->next = r->heads[b];
  r->heads[b] = idx;
  r->used++;
out:
  pthread_mutex_unlock(&r->lock);
  return rc;
}

size_t sg_replay_size(sg_replay *r) {
  pthread_mutex_lock(&r->lock);
  size_t n = r->used;
  pthread_mutex_unlock(&r->lock);
  return n;
}

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

#include "auth.h"

typedef struct entry {
  unsigned char sig[32];
  int64_t expires;
  uint32_t next; /* chain, or free list; UINT32_MAX ends */
} entry;

struct sg_replay {
  pthread_mutex_t lock;
  entry *entries;
  uint32_t *heads; /* bucket -> first entry */
  uint32_t capacity, nbuckets, used, free_head;
  int64_t last_sweep;
};

#define NONE UINT32_MAX

sg_replay *sg_replay_new(size_t capacity) {
  sg_replay *r = calloc(1, sizeof *r);
  if (!r || capacity == 0 || capacity > (1u << 24)) {
    free(r);
    return NULL;
  }
  r->capacity = (uint32_t)capacity;
  r->nbuckets = 1;
  while (r->nbuckets < r->capacity) r->nbuckets <<= 1;
  r->entries = malloc(capacity * sizeof *r->entries);
  r->heads = malloc(r->nbuckets * sizeof *r->heads);
  if (!r->entries || !r->heads) {
    sg_replay_free(r);
    return NULL;
  }
  for (uint32_t i = 0; i < r->nbuckets; i++) r->heads[i] = NONE;
  for (uint32_t i = 0; i < r->capacity; i++) r->entries[i].next = i + 1 < r->capacity ? i + 1 : NONE;
  r->free_head = 0;
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
      entry *e = &r->entries[*link];
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
  for (uint32_t i = r->heads[b]; i != NONE; i = r->entries[i].next) {
    entry *e = &r->entries[i];
    if (memcmp(e->sig, sig, 32) == 0 && e->expires >= now) {
      rc = 1;
      goto out;
    }
  }
  /* Sweep when full, and at most once a second when more than half full. */
  if (r->used == r->capacity || (r->used > r->capacity / 2 && now > r->last_sweep)) sweep(r, now);
  if (r->free_head == NONE) {
    rc = -1;
    goto out;
  }
  uint32_t idx = r->free_head;
  entry *e = &r->entries[idx];
  r->free_head = e->next;
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

/*
 * recycle.c -- see recycle.h.  A block starts with a header holding its capacity; sizes are
 * rounded up to a multiple of GRAIN so that requests of nearby sizes share blocks.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>

#include "base/recycle.h"

#if defined(__SANITIZE_ADDRESS__)
#define SG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SG_ASAN 1
#endif
#endif
#ifdef SG_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define GRAIN 512u

typedef struct head {
  alignas(max_align_t) size_t cap; /* bytes after the header */
} head;

typedef struct kept {
  head *blk[SG_RECYCLE_KEEP];
  int n;
  int registered; /* the exit destructor knows this thread's blocks */
} kept;

static _Thread_local kept mine;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void on_exit_thread(void *arg) {
  kept *k = arg;
  for (int i = 0; i < k->n; i++) free(k->blk[i]);
  k->n = 0;
}

static void make_key(void) {
  if (pthread_key_create(&exit_key, on_exit_thread) != 0) exit_key = (pthread_key_t)-1;
}

void *sg_recycle_alloc(size_t n) {
  kept *k = &mine;
  for (int i = k->n - 1; i >= 0; i--) {
    head *h = k->blk[i];
    UNPOISON(h, sizeof *h);
    if (h->cap >= n) {
      k->blk[i] = k->blk[--k->n];
      UNPOISON(h + 1, h->cap);
      return h + 1;
    }
    POISON(h, sizeof *h);
  }
  size_t cap = n <= SG_RECYCLE_MAX_BYTES ? (n + GRAIN - 1) / GRAIN * GRAIN : n;
  if (cap < n) return NULL; /* overflow */
  head *h = malloc(sizeof *h + cap);
  if (!h) return NULL;
  h->cap = cap;
  return h + 1;
}

void sg_recycle_free(void *p) {
  if (!p) return;
  head *h = (head *)p - 1;
  kept *k = &mine;
  if (h->cap > SG_RECYCLE_MAX_BYTES || k->n == SG_RECYCLE_KEEP) {
    free(h);
    return;
  }
  if (!k->registered) {
    pthread_once(&exit_once, make_key);
    if (exit_key == (pthread_key_t)-1 || pthread_setspecific(exit_key, k) != 0) {
      free(h);
      return;
    }
    k->registered = 1;
  }
  POISON(h, sizeof *h + h->cap);
  k->blk[k->n++] = h;
}

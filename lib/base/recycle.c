/*
 * recycle.c -- see recycle.h.  A block starts with a header holding its capacity: the request's
 * size rounded up to a multiple of GRAIN, its class.  A request takes the most recently kept
 * block of its class (a kept block is never cut down for a smaller class, which would leave its
 * own class to malloc next time).
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
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
  size_t cap[SG_RECYCLE_KEEP]; /* each one's capacity, read without touching the block */
  int n;
  size_t bytes;   /* their capacities together */
  int registered; /* the exit destructor knows this thread's blocks */
} kept;

static _Thread_local kept mine;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static int exit_keyed;

static void on_exit_thread(void *arg) {
  kept *k = arg;
  for (int i = 0; i < k->n; i++) {
    UNPOISON(k->blk[i], sizeof(head) + k->cap[i]);
    free(k->blk[i]);
  }
  k->n = 0;
  k->bytes = 0;
  k->registered = 0; /* a block freed by a later destructor registers again, and is freed too */
}

static void make_key(void) { exit_keyed = pthread_key_create(&exit_key, on_exit_thread) == 0; }

static size_t class_of(size_t n) { return n ? (n + GRAIN - 1) / GRAIN * GRAIN : GRAIN; }

void *sg_recycle_alloc(size_t n) {
  kept *k = &mine;
  size_t cap = n <= SG_RECYCLE_MAX_BYTES ? class_of(n) : n;
  for (int i = k->n - 1; i >= 0; i--) {
    if (k->cap[i] != cap) continue;
    head *h = k->blk[i];
    k->n--;
    k->blk[i] = k->blk[k->n];
    k->cap[i] = k->cap[k->n];
    k->bytes -= cap;
    UNPOISON(h, sizeof *h + cap);
    return h + 1;
  }
  if (cap > SIZE_MAX - sizeof(head)) return NULL; /* no such block */
  head *h = malloc(sizeof *h + cap);
  if (!h) return NULL;
  h->cap = cap;
  return h + 1;
}

void sg_recycle_free(void *p) {
  if (!p) return;
  head *h = (head *)p - 1;
  kept *k = &mine;
  size_t cap = h->cap;
  if (cap > SG_RECYCLE_MAX_BYTES || k->n == SG_RECYCLE_KEEP ||
      k->bytes + cap > SG_RECYCLE_KEPT_BYTES) {
    free(h);
    return;
  }
  if (!k->registered) {
    pthread_once(&exit_once, make_key);
    if (!exit_keyed || pthread_setspecific(exit_key, k) != 0) {
      free(h);
      return;
    }
    k->registered = 1;
  }
  POISON(h, sizeof *h + cap);
  k->blk[k->n] = h;
  k->cap[k->n] = cap;
  k->n++;
  k->bytes += cap;
}

/*
 * recycle.c -- unit tests of lib/base/recycle.c: a freed block comes back for a request of its
 * size class, and not for one of another class, bigger or smaller; a thread keeps at most
 * SG_RECYCLE_KEEP blocks and SG_RECYCLE_KEPT_BYTES, and nothing over SG_RECYCLE_MAX_BYTES;
 * blocks freed on another thread, and those a thread keeps when it exits, are not leaked
 * (LeakSanitizer checks at exit); a kept block is poisoned.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "base/recycle.h"
#include "tap.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define HAVE_ASAN 1
#endif

static void unit_recycle_reuse(void) {
  char *a = sg_recycle_alloc(1800);
  ok(a != NULL, "a block");
  ok(((uintptr_t)a & 15) == 0, "aligned for any type");
  memset(a, 'x', 1800);
  sg_recycle_free(a);
#ifdef HAVE_ASAN
  ok(__asan_address_is_poisoned(a), "a kept block is poisoned");
#endif
  char *b = sg_recycle_alloc(1700);
  ok(b == a, "a smaller request gets the kept block back");
  memset(b, 'y', 1700);
  sg_recycle_free(b);
  char *small = sg_recycle_alloc(100);
  ok(small != a, "a request of a smaller class does not take it");
  sg_recycle_free(small);
  char *c = sg_recycle_alloc(5000);
  ok(c != a, "nor one of a bigger class");
  memset(c, 'z', 5000);
  char *d = sg_recycle_alloc(1800);
  ok(d == a, "and the kept block still waits for its size");
  sg_recycle_free(c);
  sg_recycle_free(d);
  sg_recycle_free(NULL); /* nothing */

  char *big = sg_recycle_alloc(SG_RECYCLE_MAX_BYTES + 1);
  ok(big != NULL, "a block over the kept size");
  memset(big, 1, SG_RECYCLE_MAX_BYTES + 1);
  sg_recycle_free(big);
  char *again = sg_recycle_alloc(SG_RECYCLE_MAX_BYTES + 1);
  memset(again, 2, SG_RECYCLE_MAX_BYTES + 1);
  sg_recycle_free(again);
  ok(1, "is given back to malloc (LeakSanitizer would see a kept one only at exit)");

}

/* On a thread of its own, so that nothing is kept before: the count bound. */
static void *count_main(void *unused) {
  (void)unused;
  void *many[3 * SG_RECYCLE_KEEP];
  for (int i = 0; i < 3 * SG_RECYCLE_KEEP; i++) many[i] = sg_recycle_alloc(100 + (size_t)i);
  for (int i = 0; i < 3 * SG_RECYCLE_KEEP; i++) sg_recycle_free(many[i]);
  /* the kept ones come back (each once), then malloc's */
  void *kept[3 * SG_RECYCLE_KEEP];
  int reused = 0;
  for (int i = 0; i < 3 * SG_RECYCLE_KEEP; i++) {
    kept[i] = sg_recycle_alloc(100);
    for (int k = 0; k < 3 * SG_RECYCLE_KEEP; k++) reused += kept[i] == many[k];
  }
  is_int(reused, SG_RECYCLE_KEEP, "%d blocks freed at once: %d kept, the rest freed",
         3 * SG_RECYCLE_KEEP, SG_RECYCLE_KEEP);
  for (int i = 0; i < 3 * SG_RECYCLE_KEEP; i++) sg_recycle_free(kept[i]);
  return NULL;
}

static void unit_recycle_count_bound(void) {
  pthread_t t;
  pthread_create(&t, NULL, count_main, NULL);
  pthread_join(t, NULL);
}

static void *take_main(void *p) {
  void **blocks = p;
  for (int i = 0; i < 2 * SG_RECYCLE_KEEP; i++) {
    blocks[i] = sg_recycle_alloc(1473);
    memset(blocks[i], 7, 1473);
  }
  return NULL;
}

static void *give_main(void *p) {
  void **blocks = p;
  for (int i = 0; i < 2 * SG_RECYCLE_KEEP; i++) sg_recycle_free(blocks[i]);
  char *mine = sg_recycle_alloc(1400);
  ok(mine == blocks[SG_RECYCLE_KEEP - 1], "a thread takes back what it kept, whoever took it");
  sg_recycle_free(mine);
  return NULL; /* exits with blocks kept: its destructor frees them */
}

static void unit_recycle_threads(void) {
  void *blocks[2 * SG_RECYCLE_KEEP];
  pthread_t t;
  pthread_create(&t, NULL, take_main, blocks);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, give_main, blocks);
  pthread_join(t, NULL);
  ok(1, "taken on one thread, freed on another which then exits (LeakSanitizer checks)");
}

static void *bytes_main(void *unused) {
  (void)unused;
  /* 8 KB blocks: the byte bound, not the count, limits what is kept */
  enum { N = SG_RECYCLE_KEPT_BYTES / 8192 + 8 };
  void *b[N], *again[N];
  for (int i = 0; i < N; i++) b[i] = sg_recycle_alloc(8192);
  for (int i = 0; i < N; i++) sg_recycle_free(b[i]);
  int reused = 0;
  for (int i = 0; i < N; i++) {
    again[i] = sg_recycle_alloc(8192);
    for (int k = 0; k < N; k++) reused += again[i] == b[k];
  }
  is_int(reused, (int)(SG_RECYCLE_KEPT_BYTES / 8192), "%d blocks of 8 KB kept: %u bytes, no more",
         reused, SG_RECYCLE_KEPT_BYTES);
  for (int i = 0; i < N; i++) sg_recycle_free(again[i]);
  return NULL;
}

static void unit_recycle_bytes_bound(void) {
  pthread_t t;
  pthread_create(&t, NULL, bytes_main, NULL);
  pthread_join(t, NULL);
}

static const tap_test tests[] = {
    TEST(unit_recycle_reuse),
    TEST(unit_recycle_count_bound),
    TEST(unit_recycle_threads),
    TEST(unit_recycle_bytes_bound),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

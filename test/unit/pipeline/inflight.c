/*
 * inflight.c -- unit tests of lib/pipeline/inflight.c: snapshots lent through shards while
 * reloads swap them (none freed while a request holds it, each freed once, none kept by an idle
 * shard), request ids unique across threads, and deferred lists emptied at stop whatever shard
 * a request was made on.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "base/shard.h"
#include "pipeline/inflight.h"
#include "pipeline/req.h"
#include "tap.h"

typedef struct test_snap {
  sg_snap base;
  atomic_int destroyed;
} test_snap;

static atomic_int destroys;

static void destroy(sg_snap *s) {
  test_snap *t = (test_snap *)s;
  atomic_fetch_add(&t->destroyed, 1);
  atomic_fetch_add(&destroys, 1);
  /* kept (not freed) so that a late use is seen as destroyed, not as freed memory */
}

#define SNAPS 200
static test_snap snaps[SNAPS + 1]; /* + the one the single-thread part installs */
static atomic_int made;

static sg_snap *fresh(void) {
  test_snap *t = &snaps[atomic_fetch_add(&made, 1)];
  atomic_init(&t->base.refs, 1);
  t->base.destroy = destroy;
  return &t->base;
}

typedef struct run {
  sg_inflight f;
  atomic_int stop, bad, took;
} run;

#define BORROWERS 20 /* more threads than shards */

static void *borrow_main(void *p) {
  run *r = p;
  while (!atomic_load(&r->stop)) {
    int lent[3];
    sg_snap *s[3];
    for (int i = 0; i < 3; i++) s[i] = sg_inflight_acquire(&r->f, &lent[i]);
    for (int i = 0; i < 3; i++)
      if (atomic_load(&((test_snap *)s[i])->destroyed)) atomic_fetch_add(&r->bad, 1);
    for (int i = 2; i >= 0; i--) sg_inflight_put(&r->f, s[i], lent[i]);
    atomic_fetch_add(&r->took, 3);
    sched_yield(); /* let the reloading thread in: there are more borrowers than cores */
  }
  return NULL;
}

static void unit_inflight_snapshots_lent_through_reloads(void) {
  static run r;
  is_int(sg_inflight_init(&r.f, NULL, NULL, NULL), 0, "init");
  sg_snap_release(sg_inflight_swap(&r.f, fresh()));
  pthread_t t[BORROWERS];
  for (int i = 0; i < BORROWERS; i++) pthread_create(&t[i], NULL, borrow_main, &r);
  for (int k = 1; k < SNAPS; k++) {
    sg_snap_release(sg_inflight_swap(&r.f, fresh()));
    for (int w = 0; w < 20000 && atomic_load(&r.took) < k * 30; w++) sched_yield();
  }
  atomic_store(&r.stop, 1);
  for (int i = 0; i < BORROWERS; i++) pthread_join(t[i], NULL);
  is_int(atomic_load(&r.bad), 0, "no request ever held a destroyed snapshot (%d taken)",
         atomic_load(&r.took));
  is_int(atomic_load(&destroys), SNAPS - 1,
         "once nobody borrows them, every replaced snapshot is destroyed, idle shards or not");
  int twice = 0;
  for (int k = 0; k <= SNAPS; k++) twice += atomic_load(&snaps[k].destroyed) > 1;
  is_int(twice, 0, "none is destroyed twice");
  is_int(atomic_load(&snaps[SNAPS - 1].destroyed), 0, "the current one is alive");

  /* A shard that still lends the old one when a reload comes drops it with its last borrower. */
  int lent;
  sg_snap *held = sg_inflight_acquire(&r.f, &lent);
  ok(lent >= 0, "the current snapshot is lent through the shard");
  sg_snap *next = fresh();
  sg_snap_release(sg_inflight_swap(&r.f, next));
  ok(!atomic_load(&((test_snap *)held)->destroyed), "a swap keeps a borrowed snapshot");
  int lent2;
  sg_snap *now = sg_inflight_acquire(&r.f, &lent2);
  ok(now == next && lent2 == -1,
     "meanwhile the same shard hands out the new one with a reference of its own");
  sg_inflight_put(&r.f, now, lent2);
  sg_inflight_put(&r.f, held, lent);
  is_int(atomic_load(&((test_snap *)held)->destroyed), 1,
         "the old one goes with its last borrower");
  now = sg_inflight_acquire(&r.f, &lent2);
  ok(now == next && lent2 >= 0, "and the shard lends the new one from then on");
  sg_inflight_put(&r.f, now, lent2);
  sg_inflight_destroy(&r.f);
  is_int(atomic_load(&((test_snap *)next)->destroyed), 1, "destroy drops the current one");
  is_int(atomic_load(&destroys), atomic_load(&made), "every snapshot made was destroyed once");
}

#define IDS 2000
static char ids[BORROWERS][IDS][33];
static sg_inflight idf;

static void *id_main(void *p) {
  char (*mine)[33] = p;
  for (int i = 0; i < IDS; i++) sg_inflight_request_id(&idf, sg_shard(), mine[i]);
  return NULL;
}

static int cmp_id(const void *a, const void *b) { return memcmp(a, b, 33); }

static void unit_inflight_request_ids_unique(void) {
  is_int(sg_inflight_init(&idf, NULL, NULL, NULL), 0, "init");
  pthread_t t[BORROWERS];
  for (int i = 0; i < BORROWERS; i++) pthread_create(&t[i], NULL, id_main, ids[i]);
  for (int i = 0; i < BORROWERS; i++) pthread_join(t[i], NULL);
  qsort(ids, BORROWERS * IDS, 33, cmp_id);
  int dup = 0, shape = 0;
  char(*all)[33] = (char(*)[33])ids;
  for (int i = 0; i < BORROWERS * IDS; i++) {
    dup += i && memcmp(all[i - 1], all[i], 33) == 0;
    shape += strlen(all[i]) != 32 || strspn(all[i], "0123456789abcdef") != 32;
  }
  is_int(dup, 0, "%d ids made on %d threads are all different", BORROWERS * IDS, BORROWERS);
  is_int(shape, 0, "each is 32 hex digits");
  ok(memcmp(all[0], all[BORROWERS * IDS - 1], 16) == 0, "with the process's prefix");
  sg_inflight_destroy(&idf);
}

static atomic_int answered;
static void answer(soulgw_req *req) {
  (void)req;
  atomic_fetch_add(&answered, 1);
}

static void unit_inflight_deferred_every_shard(void) {
  sg_inflight f;
  is_int(sg_inflight_init(&f, NULL, NULL, NULL), 0, "init");
  static soulgw_req reqs[SG_SHARDS * 2];
  for (int i = 0; i < SG_SHARDS * 2; i++) {
    reqs[i].shard = (unsigned char)(i % SG_SHARDS);
    sg_inflight_deferred_add(&f, &reqs[i]);
  }
  sg_inflight_deferred_remove(&f, &reqs[3]);
  sg_inflight_deferred_remove(&f, &reqs[3]); /* twice: the second does nothing */
  is_int(sg_inflight_force_all(&f, answer), SG_SHARDS * 2 - 1, "every shard's list is emptied");
  is_int(atomic_load(&answered), SG_SHARDS * 2 - 1, "and each request answered once");
  is_int(sg_inflight_force_all(&f, answer), 0, "then nothing is left");
  sg_inflight_destroy(&f);
}

static const tap_test tests[] = {
    TEST(unit_inflight_snapshots_lent_through_reloads),
    TEST(unit_inflight_request_ids_unique),
    TEST(unit_inflight_deferred_every_shard),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

/*
 * append_run.c -- the SQLite writer's appends of a batch run together (record_append_many):
 * under one savepoint, with the tenants' "record" sequences counted in memory and written once.
 * Appends queued while the writer is held run as one batch; each is still answered alone: a
 * generated id skips one already taken, an id that exists (stored before, or earlier in the
 * batch) is answered 409 alone, edges are stored once, two tenants keep their own numbers, a
 * write that is not an append between them is its own, and an append that fails (a trigger
 * refuses its edge) is answered 503 alone while its neighbours commit with the numbers they
 * would have had one by one.  After a close and reopen the sequences go on where they were.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "result.h"
#include "base/json.h"
#include "store/store.h"
#include "tap.h"

static const store_backend *backend = &store_backends[0]; /* sqlite */
static char dir[64], path[128]; /* path: each case's own database */

static sg_store *open_store(void) {
  char err[256] = "";
  sg_store *st = NULL;
  sg_store_opts o = {.path = path, .sync_full = 1, .backend = backend->name, .url = path};
  if (sg_store_open(&o, &st, err, sizeof err)) tap_diag("open %s: %s", path, err);
  return st;
}

/* Holds the writer thread inside a completion until released, so that what is queued
 * meanwhile runs as one batch. */
typedef struct gate {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int entered, open;
} gate;

static void hold_writer(void *ud, sg_st st, soulgw_json *v, const char *msg) {
  gate *g = ud;
  (void)st;
  (void)msg;
  soulgw_json_free(v);
  pthread_mutex_lock(&g->lock);
  g->entered = 1;
  pthread_cond_broadcast(&g->cond);
  while (!g->open) pthread_cond_wait(&g->cond, &g->lock);
  pthread_mutex_unlock(&g->lock);
}

static void hold(sg_store *st, gate *g, const soulgw_json *data) {
  pthread_mutex_init(&g->lock, NULL);
  pthread_cond_init(&g->cond, NULL);
  g->entered = g->open = 0;
  sg_store_repo_append(st, "holder", "hold", NULL, data, NULL, 0, 1, hold_writer, g);
  pthread_mutex_lock(&g->lock);
  while (!g->entered) pthread_cond_wait(&g->cond, &g->lock);
  pthread_mutex_unlock(&g->lock);
}

static void release(gate *g) {
  pthread_mutex_lock(&g->lock);
  g->open = 1;
  pthread_cond_broadcast(&g->cond);
  pthread_mutex_unlock(&g->lock);
  /* the gate lives on the caller's stack: destroyed by the caller once the batch answered */
}

static const char *id_of(const result *r) {
  const soulgw_json *v = r->v ? soulgw_json_get(r->v, "record_id") : NULL;
  return v ? soulgw_json_string(v) : "";
}

static long long edges_of(const result *r) {
  return r->v ? (long long)soulgw_json_number(soulgw_json_get(r->v, "edges"), -1) : -1;
}

/* One append, waited for: its outcome, with its id copied into id (idlen bytes). */
static sg_st append1(sg_store *st, const char *tenant, const char *repo, const char *rid,
                     char *id, size_t idlen) {
  soulgw_json *data = J("{\"k\":1}");
  result r;
  init_result(&r);
  sg_store_repo_append(st, tenant, repo, rid, data, NULL, 0, 1000, on_done, &r);
  wait_result(&r);
  if (id) snprintf(id, idlen, "%s", id_of(&r));
  sg_st s = r.st;
  free_result(&r);
  soulgw_json_free(data);
  return s;
}

static long long q(const char *sql) { return backend->query_int(path, sql); }

enum { N = 10 };

/* Queues the batch below behind a held writer and waits for its answers.  poison: the third
 * generated append of t-mix has an edge that a trigger refuses. */
static void run_batch(sg_store *st, result *r, const char *m, int poison) {
  soulgw_json *data = J("{\"k\":1}"), *ev = J("{\"e\":1}");
  sg_edge_in hub = {NULL, "hub", NULL, NULL}, bad = {NULL, "poison", NULL, NULL};
  sg_edge_in three[3] = {{NULL, "hub", NULL, NULL}, {NULL, "hub", NULL, NULL},
                         {"n1", "n2", "cites", NULL}};
  char xid[32];
  snprintf(xid, sizeof xid, "%s-x", m);
  gate g;
  hold(st, &g, data);
  for (int i = 0; i < N; i++) init_result(&r[i]);
  sg_store_repo_append(st, "t-mix", m, NULL, data, &hub, 1, 10, on_done, &r[0]);
  sg_store_repo_append(st, "t-mix", m, xid, data, &hub, 1, 11, on_done, &r[1]);
  sg_store_repo_append(st, "t-mix", m, "pre", data, &hub, 1, 12, on_done, &r[2]);
  sg_store_repo_append(st, "t-mix", m, NULL, data, poison ? &bad : &hub, 1, 13, on_done, &r[3]);
  sg_store_repo_append(st, "t-mix", m, NULL, data, three, 3, 14, on_done, &r[4]);
  sg_store_repo_append(st, "t-mix", m, xid, data, &hub, 1, 15, on_done, &r[5]);
  sg_store_repo_append(st, "t-other", "o", NULL, data, &hub, 1, 16, on_done, &r[6]);
  sg_store_repo_append(st, "t-mix", m, NULL, data, NULL, 0, 17, on_done, &r[7]);
  sg_store_observe_emit(st, "t-mix", "topic", NULL, ev, NULL, 18, on_done, &r[8]);
  sg_store_repo_append(st, "t-mix", m, NULL, data, &hub, 1, 19, on_done, &r[9]);
  release(&g);
  for (int i = 0; i < N; i++) wait_result(&r[i]);
  pthread_mutex_destroy(&g.lock);
  pthread_cond_destroy(&g.cond);
  soulgw_json_free(data);
  soulgw_json_free(ev);
}

/* A batch where nothing fails: one run, no savepoint each. */
static void unit_store_append_run_together(void) {
  backend->address(path, sizeof path, dir, "together");
  sg_store *st = open_store();
  if (!st) return;
  char id[64];
  is_int(append1(st, "t-mix", "m", "pre", NULL, 0), SG_ST_OK, "pre stored by name");
  is_int(append1(st, "t-mix", "m", "m::2", NULL, 0), SG_ST_OK, "m::2 stored by name");
  result r[N];
  run_batch(st, r, "m", 0);
  is_str(id_of(&r[0]), "m::1", "a generated id takes the first number");
  is_int(edges_of(&r[0]), 1, "with its edge");
  is_str(id_of(&r[1]), "m-x", "an id by name is stored");
  is_int(r[2].st, SG_ST_CONFLICT, "an id stored before is a 409");
  has_str(r[2].msg, "record_id pre already exists", "saying which");
  is_str(id_of(&r[3]), "m::3", "the next generated id skips m::2, which is taken");
  is_str(id_of(&r[4]), "m::4", "and the next one follows");
  is_int(edges_of(&r[4]), 2, "a duplicate edge of a request counts once");
  is_int(r[5].st, SG_ST_CONFLICT, "an id stored earlier in the same batch is a 409");
  is_str(id_of(&r[6]), "o::1", "another tenant's sequence is its own");
  is_str(id_of(&r[7]), "m::5", "an append without edges");
  is_int(r[8].st, SG_ST_OK, "a write that is not an append, between them");
  is_str(id_of(&r[9]), "m::6", "and the append after it goes on counting");
  ok(sg_store_writable(st), "the store stays writable");
  is_int(q("SELECT value FROM sequences WHERE tenant = 't-mix' AND name = 'record'"), 6,
         "t-mix's sequence is stored at 6");
  is_int(q("SELECT value FROM sequences WHERE tenant = 't-other' AND name = 'record'"), 1,
         "t-other's at 1");
  is_int(q("SELECT count(*) FROM records WHERE tenant = 't-mix'"), 8, "eight records of t-mix");
  is_int(q("SELECT count(*) FROM edges WHERE tenant = 't-mix' AND dst = 'hub'"), 5,
         "edges to hub: m::1, m-x, m::3, m::4, m::6, none of the refused ones");
  is_int(q("SELECT count(*) FROM edges WHERE tenant = 't-mix' AND src = 'n1' AND dst = 'n2'"), 1,
         "an edge with a from of its own");
  is_int(q("SELECT count(*) FROM edges WHERE tenant = 't-mix' AND src = 'pre'"), 0,
         "the conflicting append stored no edge");
  /* records in the order of storage: the batch's in the order queued */
  soulgw_json *v = NULL;
  is_int(sg_store_repo_list(st, "t-mix", "m", NULL, 100, &v), SG_ST_OK, "list");
  char *s = soulgw_json_print(v);
  const char *order[] = {"\"pre\"", "\"m::2\"", "\"m::1\"", "\"m-x\"", "\"m::3\"", "\"m::4\"",
                         "\"m::5\"", "\"m::6\""};
  const char *at = s;
  int in_order = s != NULL;
  for (size_t k = 0; in_order && k < sizeof order / sizeof order[0]; k++)
    in_order = (at = strstr(at, order[k])) != NULL;
  ok(in_order, "records listed in the order they were queued");
  free(s);
  soulgw_json_free(v);
  for (int i = 0; i < N; i++) free_result(&r[i]);
  sg_store_close(st);
  st = open_store();
  if (!st) return;
  is_int(append1(st, "t-mix", "m", NULL, id, sizeof id), SG_ST_OK, "after a reopen");
  is_str(id, "m::7", "the sequence goes on from where the batch left it");
  is_int(append1(st, "t-other", "o", NULL, id, sizeof id), SG_ST_OK, "another tenant");
  is_str(id, "o::2", "goes on too");
  sg_store_close(st);
}

/* A batch where one append fails: the run is undone and goes again one savepoint each. */
static void unit_store_append_run_one_fails(void) {
  backend->address(path, sizeof path, dir, "one-fails");
  sg_store *st = open_store();
  if (!st) return;
  char id[64];
  is_int(append1(st, "t-mix", "f", "pre", NULL, 0), SG_ST_OK, "pre stored by name");
  is_int(append1(st, "t-mix", "f", "f::2", NULL, 0), SG_ST_OK, "f::2 stored by name");
  ok(backend->exec(path, backend->poison_edges) == 0, "a trigger refuses edges to poison");
  result r[N];
  run_batch(st, r, "f", 1);
  is_str(id_of(&r[0]), "f::1", "the append before the failing one is stored");
  is_str(id_of(&r[1]), "f-x", "an id by name is stored");
  is_int(r[2].st, SG_ST_CONFLICT, "an id stored before is a 409");
  is_int(r[3].st, SG_ST_UNAVAILABLE, "the append whose edge is refused is a 503");
  ok(r[3].msg[0] != '\0', "with a message (%s)", r[3].msg);
  is_str(id_of(&r[4]), "f::3", "its number is given back: the next append takes it");
  is_int(r[5].st, SG_ST_CONFLICT, "an id stored earlier in the batch is a 409");
  is_str(id_of(&r[6]), "o::1", "another tenant's append commits");
  is_str(id_of(&r[7]), "f::4", "the appends after the failing one commit");
  is_int(r[8].st, SG_ST_OK, "a write that is not an append commits");
  is_str(id_of(&r[9]), "f::5", "and the append after it");
  ok(sg_store_writable(st), "the store stays writable");
  is_int(q("SELECT count(*) FROM records WHERE tenant = 't-mix'"), 7,
         "nothing of the failed append is stored (pre, f::2, f::1, f-x, f::3, f::4, f::5)");
  is_int(q("SELECT count(*) FROM edges WHERE tenant = 't-mix' AND dst = 'poison'"), 0,
         "nor its edge");
  is_int(q("SELECT value FROM sequences WHERE tenant = 't-mix' AND name = 'record'"), 5,
         "the sequence is stored at 5");
  backend->exec(path, backend->unpoison_edges);
  for (int i = 0; i < N; i++) free_result(&r[i]);
  sg_store_close(st);
  st = open_store();
  if (!st) return;
  is_int(append1(st, "t-mix", "f", NULL, id, sizeof id), SG_ST_OK, "after a reopen");
  is_str(id, "f::6", "the sequence goes on");
  sg_store_close(st);
}

static const tap_test tests[] = {
    TEST(unit_store_append_run_together),
    TEST(unit_store_append_run_one_fails),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests)) || !store_backend_ready(backend)) return tap_done();
  snprintf(dir, sizeof dir, "/tmp/soulgw-run-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  tap_run(tests, TAP_COUNT(tests));
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) tap_diag("cannot remove %s", dir);
  return tap_done();
}

/*
 * pg_append_run.c -- the PostgreSQL writer's appends in one round trip (record_append_many):
 * appends queued together commit together, and still answer one by one.  An append that fails
 * (a trigger refuses its repo) is answered 503 alone while the others of its batch commit; an
 * id that is taken is answered 409 alone (of two appends of one id in a batch, the first is
 * stored, with its edges alone); generated ids skip an id already taken and keep no
 * gap when a neighbour failed (the numbers of the undone attempt are given back); and a
 * registry change committed on one store reaches the watch of another store on the same
 * database, and the watch reconnects (telling every tenant may have changed) after its
 * connection was killed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends.h"
#include "result.h"
#include "base/json.h"
#include "store/store.h"
#include "tap.h"

static char addr[256];

static sg_store *open_pg(void) {
  char err[256] = "";
  sg_store *st = NULL;
  sg_store_opts o = {.path = addr, .backend = "postgres", .url = addr, .pool = 3,
                     .statement_timeout_ms = 5000};
  if (sg_store_open(&o, &st, err, sizeof err)) tap_diag("open: %s", err);
  return st;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#define N 24

/* Queues n appends of tenant at once (repo[i], id[i] NULL: generated) and waits for them all. */
static void append_all(sg_store *st, const char *tenant, const char *const *repo,
                       const char *const *id, result *r, int n) {
  soulgw_json *data = J("{\"k\":1}");
  sg_edge_in e = {NULL, "hub", NULL, NULL};
  for (int i = 0; i < n; i++) {
    init_result(&r[i]);
    sg_store_repo_append(st, tenant, repo[i], id[i], data, &e, 1, 1000, on_done, &r[i]);
  }
  for (int i = 0; i < n; i++) wait_result(&r[i]);
  soulgw_json_free(data);
}

static const char *id_of(const result *r) {
  const soulgw_json *v = r->v ? soulgw_json_get(r->v, "record_id") : NULL;
  return v ? soulgw_json_string(v) : "";
}

static void unit_store_pg_append_run_answers_each(void) {
  sg_store *st = open_pg();
  if (!st) return;
  ok(pgserver_exec(addr, "CREATE OR REPLACE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS"
                         " $$BEGIN RAISE EXCEPTION 'refused'; END$$;"
                         "CREATE TRIGGER boom BEFORE INSERT ON records FOR EACH ROW"
                         " WHEN (NEW.repo = 'boom') EXECUTE FUNCTION boom();") == 0,
     "a trigger refuses appends to repo boom");
  result r[N];
  const char *repo[N], *id[N];
  char ids[N][16];
  for (int i = 0; i < N; i++) {
    repo[i] = i % 6 == 3 ? "boom" : "ok";
    id[i] = NULL;
    if (i % 6 == 3 || i % 6 == 5) {
      snprintf(ids[i], sizeof ids[i], i % 6 == 5 ? "dup" : "b-%d", i);
      id[i] = ids[i];
    }
  }
  append_all(st, "t-run", repo, id, r, N);
  int ok_n = 0, seen[N + 1] = {0}, wrong = 0, dup_ok = 0;
  for (int i = 0; i < N; i++) {
    if (i % 6 == 3) {
      if (r[i].st != SG_ST_UNAVAILABLE) wrong++;
    } else if (i % 6 == 5) {
      dup_ok += r[i].st == SG_ST_OK;
      if (r[i].st != SG_ST_OK && r[i].st != SG_ST_CONFLICT) wrong++;
    } else {
      int n = 0;
      if (r[i].st != SG_ST_OK || sscanf(id_of(&r[i]), "ok::%d", &n) != 1 || n < 1 || n > N ||
          seen[n]++)
        wrong++;
      ok_n++;
    }
  }
  is_int(wrong, 0, "refused appends 503, the others stored, each generated id once");
  is_int(dup_ok, 1, "of the appends of one id, exactly one is stored (the others 409)");
  int gap = 0;
  for (int n = 1; n <= ok_n; n++) gap += !seen[n];
  is_int(gap, 0, "generated ids ok::1..ok::%d, no number lost to the refused neighbours", ok_n);
  ok(sg_store_writable(st), "the store stays writable");
  soulgw_json *v = NULL;
  is_int(sg_store_repo_get(st, "t-run", "b-3", &v), SG_ST_NOTFOUND, "nothing of a refused one");
  is_int(sg_store_repo_get(st, "t-run", "ok::1", &v), SG_ST_OK, "a stored one reads back");
  soulgw_json_free(v);
  is_int((long long)pgserver_query_int(addr, "SELECT count(*) FROM edges WHERE dst = 'hub'"
                                             " AND tenant = 't-run'"),
         ok_n + dup_ok, "each stored one with its edge");
  for (int i = 0; i < N; i++) free_result(&r[i]);
  pgserver_exec(addr, "DROP TRIGGER boom ON records");
  sg_store_close(st);
}

static void unit_store_pg_append_run_skips_taken_ids(void) {
  sg_store *st = open_pg();
  if (!st) return;
  result r[4];
  append_all(st, "t-gen", (const char *[]){"g"}, (const char *[]){"g::2"}, r, 1);
  is_int(r[0].st, SG_ST_OK, "g::2 stored by name");
  free_result(&r[0]);
  append_all(st, "t-gen", (const char *[]){"g", "g", "g"}, (const char *[]){NULL, NULL, NULL}, r, 3);
  /* in one batch the numbers are taken at once: the append that met g::2 takes the next free
   * one after them (g::1 g::4 g::3); one by one, g::1 g::3 g::4 */
  int n[3] = {0, 0, 0}, seen = 0;
  for (int i = 0; i < 3; i++)
    if (sscanf(id_of(&r[i]), "g::%d", &n[i]) == 1 && n[i] >= 1 && n[i] <= 4) seen |= 1 << n[i];
  is_int(seen, (1 << 1) | (1 << 3) | (1 << 4),
         "generated ids g::1, g::3 and g::4: g::2, which is taken, skipped, none lost");
  for (int i = 0; i < 3; i++) free_result(&r[i]);
  sg_store_close(st);
}

static void unit_store_pg_append_run_same_id(void) {
  sg_store *st = open_pg();
  if (!st) return;
  soulgw_json *data = J("{\"k\":1}");
  const char *ids[4] = {"d-1", "d-1", NULL, "d-2"}, *to[4] = {"hub-a", "hub-b", "hub-c", "hub-d"};
  result r[4];
  for (int i = 0; i < 4; i++) { /* queued at once: one batch, as far as the writer can tell */
    sg_edge_in e = {NULL, to[i], NULL, NULL};
    init_result(&r[i]);
    sg_store_repo_append(st, "t-same", "d", ids[i], data, &e, 1, 1000, on_done, &r[i]);
  }
  for (int i = 0; i < 4; i++) wait_result(&r[i]);
  is_int(r[0].st, SG_ST_OK, "the first append of d-1 is stored");
  is_int(r[1].st, SG_ST_CONFLICT, "the second is a conflict");
  is_str(id_of(&r[2]), "d::1", "a generated id beside them");
  is_int(r[3].st, SG_ST_OK, "and d-2");
  is_int((long long)pgserver_query_int(addr, "SELECT count(*) FROM edges WHERE tenant = 't-same'"
                                             " AND src = 'd-1' AND dst = 'hub-a'"),
         1, "the stored one's edge");
  is_int((long long)pgserver_query_int(addr, "SELECT count(*) FROM edges WHERE tenant = 't-same'"
                                             " AND dst = 'hub-b'"),
         0, "and none of the refused one's");
  is_int((long long)pgserver_query_int(addr, "SELECT count(*) FROM edges WHERE tenant = 't-same'"
                                             " AND src = 'd::1' AND dst = 'hub-c'"),
         1, "the generated one's edge leaves it");
  for (int i = 0; i < 4; i++) free_result(&r[i]);
  soulgw_json_free(data);
  sg_store_close(st);
}

/* A watch's calls, counted. */
typedef struct seen {
  atomic_int tenant, all;
} seen;

static void on_change(void *ud, const char *tenant) {
  seen *s = ud;
  if (!tenant) atomic_fetch_add(&s->all, 1);
  else if (!strcmp(tenant, "t-watch")) atomic_fetch_add(&s->tenant, 1);
}

/* Waits up to ms for *v to reach n: 1 when it does. */
static int wait_count(atomic_int *v, int n, int ms) {
  for (int i = 0; i < ms / 20 && atomic_load(v) < n; i++) sleep_ms(20);
  return atomic_load(v) >= n;
}

static void unit_store_pg_watch(void) {
  sg_store *a = open_pg(), *b = open_pg();
  seen s = {0, 0};
  if (!a || !b || !ok(sg_store_watch_registry(b, on_change, &s) == 0, "B watches")) goto out;
  soulgw_json *m = J("[]");
  is_int(sg_store_registry_bootstrap(a, "t-watch", m, 1), SG_ST_OK, "A makes a registry active");
  ok(wait_count(&s.tenant, 1, 20000), "B is told the tenant");
  is_int(atomic_load(&s.all), 0, "and not to reload everything");
  ok(pgserver_exec(addr, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE query = 'LISTEN soulgw_registry'") == 0,
     "B's listening connection is killed");
  ok(wait_count(&s.all, 1, 30000), "B listens again and says everything may have changed");
  result r;
  init_result(&r);
  sg_store_registry_activate(a, "t-watch", "bootstrap", NULL, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_OK, "A activates again");
  free_result(&r);
  ok(wait_count(&s.tenant, 2, 20000), "B is told again");
  soulgw_json_free(m);
out:
  sg_store_close(b);
  sg_store_close(a);
}

static const tap_test tests[] = {
    TEST(unit_store_pg_append_run_answers_each),
    TEST(unit_store_pg_append_run_skips_taken_ids),
    TEST(unit_store_pg_append_run_same_id),
    TEST(unit_store_pg_watch),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests)) || !store_backend_ready(&store_backends[1]))
    return tap_done();
  char dir[] = "/tmp/soulgw-pg-append-XXXXXX"; /* only its name: the database's */
  store_backends[1].address(addr, sizeof addr, dir, "appendrun");
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

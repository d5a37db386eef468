/*
 * pg_faults.c -- the PostgreSQL driver when the server misbehaves: a statement past
 * statement_timeout_ms fails its write alone (503) while the store stays writable; connections
 * the server drops are opened again on their next use, so that a failed read or write is
 * followed by successful ones without reopening the store, and nothing acknowledged before is
 * lost; a write whose transaction is lost is never acknowledged.  And two stores (two
 * gateways) on one database: publishes at once both land, the second merging the first, and a
 * collaboration advanced by both at once takes both entries.
 */
#include <pthread.h>
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

static sg_store *open_pg(int timeout_ms) {
  char err[256] = "";
  sg_store *st = NULL;
  sg_store_opts o = {.path = addr, .backend = "postgres", .url = addr, .pool = 3,
                     .statement_timeout_ms = timeout_ms};
  if (sg_store_open(&o, &st, err, sizeof err)) tap_diag("open: %s", err);
  return st;
}

static sg_st append(sg_store *st, const char *repo, const char *id) {
  soulgw_json *data = J("{\"k\":1}");
  result r;
  init_result(&r);
  sg_store_repo_append(st, "t1", repo, id, data, NULL, 0, 1000, on_done, &r);
  wait_result(&r);
  sg_st s = r.st;
  free_result(&r);
  soulgw_json_free(data);
  return s;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void unit_store_pg_statement_timeout(void) {
  sg_store *st = open_pg(300);
  if (!st) return;
  ok(pgserver_exec(addr, "CREATE OR REPLACE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS"
                         " $$BEGIN PERFORM pg_sleep(5); RETURN NEW; END$$;"
                         "CREATE TRIGGER slow BEFORE INSERT ON records FOR EACH ROW"
                         " WHEN (NEW.repo = 'slow') EXECUTE FUNCTION slow();") == 0,
     "a trigger makes appends to repo slow take 5 s");
  is_int(append(st, "slow", "s-1"), SG_ST_UNAVAILABLE, "past statement_timeout_ms: 503");
  ok(sg_store_writable(st), "the store stays writable");
  is_int(append(st, "fast", "f-1"), SG_ST_OK, "the next write commits");
  soulgw_json *v = NULL;
  is_int(sg_store_repo_get(st, "t1", "s-1", &v), SG_ST_NOTFOUND, "nothing of the slow one");
  pgserver_exec(addr, "DROP TRIGGER slow ON records");
  sg_store_close(st);
}

/* Ends every connection of the store's (application_name soulgw) from the server's side. */
static int kill_connections(void) {
  return pgserver_exec(addr, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                             " WHERE application_name = 'soulgw' AND pid <> pg_backend_pid()");
}

static void unit_store_pg_reconnects(void) {
  sg_store *st = open_pg(5000);
  if (!st) return;
  is_int(append(st, "r", "before"), SG_ST_OK, "an acknowledged write");
  soulgw_json *v = NULL;
  is_int(sg_store_repo_get(st, "t1", "before", &v), SG_ST_OK, "read back");
  soulgw_json_free(v);
  v = NULL;
  ok(kill_connections() == 0, "the server ends the store's connections");
  sg_st during = append(st, "r", "during");
  ok(during == SG_ST_OK || during == SG_ST_UNAVAILABLE, "the next write commits or is refused (%d)",
     during);
  sg_st r = SG_ST_UNAVAILABLE;
  for (int i = 0; i < 100 && r != SG_ST_OK; i++) {
    r = sg_store_repo_get(st, "t1", "before", &v);
    soulgw_json_free(v);
    v = NULL;
    if (r != SG_ST_OK) sleep_ms(100);
  }
  is_int(r, SG_ST_OK, "reads succeed again, and the acknowledged write is there");
  sg_st w = SG_ST_UNAVAILABLE;
  for (int i = 0; i < 100 && w != SG_ST_OK; i++)
    if ((w = append(st, "r", "after")) != SG_ST_OK) sleep_ms(100);
  is_int(w, SG_ST_OK, "writes succeed again without reopening the store");
  ok(sg_store_writable(st), "and the store is writable");
  is_int(sg_store_repo_get(st, "t1", "during", &v), during == SG_ST_OK ? SG_ST_OK : SG_ST_NOTFOUND,
         "the write met by the drop is there exactly when it was acknowledged");
  soulgw_json_free(v);
  sg_store_close(st);
}

/* Makes every insert into table take 300 ms, so that two stores' writes overlap. */
static void slow_inserts(const char *table, int on) {
  char sql[512];
  if (on)
    snprintf(sql, sizeof sql,
             "CREATE OR REPLACE FUNCTION slowly() RETURNS trigger LANGUAGE plpgsql AS"
             " $$BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END$$;"
             "CREATE TRIGGER slowly BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION slowly();",
             table);
  else
    snprintf(sql, sizeof sql, "DROP TRIGGER slowly ON %s", table);
  pgserver_exec(addr, sql);
}

static void unit_store_pg_two_stores(void) {
  sg_store *a = open_pg(5000), *b = open_pg(5000);
  if (!a || !b) goto out;
  soulgw_json *boot = J("[{\"tenant\":\"t1\",\"id\":\"boot\",\"version\":\"1\",\"handler\":\"h\"}]");
  soulgw_json *ma = J("[{\"tenant\":\"t1\",\"id\":\"from-a\",\"version\":\"1\",\"handler\":\"h\"}]");
  soulgw_json *mb = J("[{\"tenant\":\"t1\",\"id\":\"from-b\",\"version\":\"1\",\"handler\":\"h\"}]");
  is_int(sg_store_registry_bootstrap(a, "t1", boot, 1), SG_ST_OK, "bootstrap on one store");
  is_int(sg_store_registry_bootstrap(b, "t1", boot, 2), SG_ST_OK, "and again on the other");
  slow_inserts("registry_versions", 1);
  result ra, rb;
  init_result(&ra);
  init_result(&rb);
  sg_store_registry_publish(a, "t1", "va", ma, 3, NULL, on_done, &ra);
  sg_store_registry_publish(b, "t1", "vb", mb, 3, NULL, on_done, &rb);
  wait_result(&ra);
  wait_result(&rb);
  slow_inserts("registry_versions", 0);
  ok(ra.st == SG_ST_OK && rb.st == SG_ST_OK, "two stores publish at once (%d, %d)", ra.st, rb.st);
  soulgw_json *v = NULL;
  is_int(sg_store_registry_active(a, "t1", &v), SG_ST_OK, "the active version");
  char *text = soulgw_json_print(v);
  ok(text && strstr(text, "from-a") && strstr(text, "from-b") && strstr(text, "boot"),
     "holds both publishes' manifests: the second merged the first");
  free(text);
  soulgw_json_free(v);
  free_result(&ra);
  free_result(&rb);
  /* a collaboration advanced by both at once */
  result ca, cb;
  init_result(&ca);
  sg_store_collab_execute(a, "t1", "c", NULL, NULL, "first", NULL, 1, on_done, &ca);
  wait_result(&ca);
  free_result(&ca);
  slow_inserts("collab_timeline", 1);
  init_result(&ca);
  init_result(&cb);
  sg_store_collab_execute(a, "t1", "c", NULL, NULL, "by a", NULL, 2, on_done, &ca);
  sg_store_collab_execute(b, "t1", "c", NULL, NULL, "by b", NULL, 2, on_done, &cb);
  wait_result(&ca);
  wait_result(&cb);
  slow_inserts("collab_timeline", 0);
  ok(ca.st == SG_ST_OK && cb.st == SG_ST_OK, "two stores advance a collaboration at once (%d, %d)",
     ca.st, cb.st);
  is_int(sg_store_collab_get(b, "t1", "c", &v), SG_ST_OK, "read it");
  is_int((long long)soulgw_json_number(soulgw_json_get(v, "timeline_total"), -1), 3,
         "three entries, one after the other");
  soulgw_json_free(v);
  free_result(&ca);
  free_result(&cb);
  soulgw_json_free(boot);
  soulgw_json_free(ma);
  soulgw_json_free(mb);
out:
  sg_store_close(a);
  sg_store_close(b);
}

static const tap_test tests[] = {
    TEST(unit_store_pg_statement_timeout),
    TEST(unit_store_pg_reconnects),
    TEST(unit_store_pg_two_stores),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests)) || !store_backend_ready(&store_backends[1]))
    return tap_done();
  char dir[] = "/tmp/soulgw-pg-faults-XXXXXX"; /* only its name: the database's */
  store_backends[1].address(addr, sizeof addr, dir, "faults");
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

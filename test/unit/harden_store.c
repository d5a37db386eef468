/*
 * harden_store.c -- the store under hostile data (issue 7, finding 1): one write that fails
 * inside a group-commit batch is undone and answered alone, while its neighbours in the same
 * batch commit and the store stays writable.
 *
 * The writer thread runs completions; a completion that waits holds the writer, so that the
 * writes submitted meanwhile are queued and run as one batch.  A write is made to fail after it
 * has written something with a trigger the test adds to the database (test code may call SQLite
 * directly; the library may not).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "store.h"
#include "tap.h"

static char dir[64];

/* A write, waited for. */
typedef struct result {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  sg_st st;
  soulgw_json *v;
  char msg[256];
} result;

static void init_result(result *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
}

static void on_done(void *ud, sg_st st, soulgw_json *v, const char *msg) {
  result *r = ud;
  pthread_mutex_lock(&r->lock);
  r->st = st;
  r->v = v;
  snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
  r->done = 1;
  pthread_cond_signal(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

static void wait_result(result *r) {
  pthread_mutex_lock(&r->lock);
  while (!r->done) pthread_cond_wait(&r->cond, &r->lock);
  pthread_mutex_unlock(&r->lock);
}

static void free_result(result *r) {
  soulgw_json_free(r->v);
  r->v = NULL;
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->cond);
}

/* Holds the writer thread inside a completion until released. */
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

/* Submits a write that holds the writer, and returns once the writer is held. */
static void hold(sg_store *st, gate *g, soulgw_json *data) {
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
}

static soulgw_json *J(const char *text) {
  soulgw_json *v = NULL;
  soulgw_json_parse(text, strlen(text), &v, NULL, 0);
  return v;
}

static sg_store *open_store(const char *path) {
  char err[256] = "";
  sg_store *st = NULL;
  sg_store_opts o = {path, 0, NULL, NULL};
  if (sg_store_open(&o, &st, err, sizeof err)) tap_diag("open %s: %s", path, err);
  return st;
}

/* Runs sql on the database file with a connection of the test's own. */
static int exec_sql(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  char *msg = NULL;
  int rc = sqlite3_open(path, &db);
  if (rc == SQLITE_OK) sqlite3_busy_timeout(db, 5000);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) tap_diag("sql: %s", msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  sqlite3_close(db);
  return rc;
}

static const char *str(const soulgw_json *o, const char *k) {
  return soulgw_json_string(soulgw_json_get(o, k));
}

static void security_store_failing_write_spares_its_batch(void) {
  char path[128];
  snprintf(path, sizeof path, "%s/batch.db", dir);
  sg_store *st = open_store(path);
  if (!st) return;
  /* an append with an edge to "poison" fails after it has taken a sequence number and
   * written its record */
  ok(exec_sql(path, "CREATE TRIGGER poison BEFORE INSERT ON edges WHEN NEW.dst = 'poison'"
                    " BEGIN SELECT RAISE(ABORT, 'poisoned'); END;") == SQLITE_OK,
     "a trigger makes one kind of write fail");
  sg_edge_in edge = {NULL, "poison", NULL, NULL};
  soulgw_json *data = J("{\"n\":1}"), *ev = J("{\"k\":1}");
  gate g;
  hold(st, &g, data);
  result before, bad, dup, after, emit;
  init_result(&before);
  init_result(&bad);
  init_result(&dup);
  init_result(&after);
  init_result(&emit);
  sg_store_repo_append(st, "t1", "ok", "rec-1", data, NULL, 0, 2, on_done, &before);
  sg_store_repo_append(st, "t2", "r2", NULL, data, &edge, 1, 3, on_done, &bad);
  sg_store_repo_append(st, "t1", "ok", "rec-1", data, NULL, 0, 4, on_done, &dup);
  sg_store_repo_append(st, "t1", "ok", "rec-2", data, NULL, 0, 5, on_done, &after);
  sg_store_observe_emit(st, "t3", "topic", NULL, ev, NULL, 6, on_done, &emit);
  release(&g); /* the five run as one batch */
  wait_result(&before);
  wait_result(&bad);
  wait_result(&dup);
  wait_result(&after);
  wait_result(&emit);
  is_int(bad.st, SG_ST_UNAVAILABLE, "the failing write is answered 503");
  ok(bad.msg[0] != '\0', "with a message (%s)", bad.msg);
  is_int(before.st, SG_ST_OK, "the write before it in the batch commits");
  is_int(dup.st, SG_ST_CONFLICT, "a conflict in the same batch is its own");
  is_int(after.st, SG_ST_OK, "the write after it commits");
  is_int(emit.st, SG_ST_OK, "another tenant's event commits");
  ok(sg_store_writable(st), "the store stays writable (/health stays 200)");
  soulgw_json *v = NULL;
  is_int(sg_store_repo_get(st, "t1", "rec-2", &v), SG_ST_OK, "the neighbour's record is there");
  soulgw_json_free(v);
  /* the failed write was undone whole: its sequence number was not spent */
  exec_sql(path, "DROP TRIGGER poison");
  result again;
  init_result(&again);
  is_int(sg_store_repo_list(st, "t2", "r2", NULL, 10, &v), SG_ST_OK, "list the failed one's repo");
  is_int(soulgw_json_size(soulgw_json_get(v, "records")), 0, "its record was undone");
  soulgw_json_free(v);
  sg_store_repo_append(st, "t2", "r2", NULL, data, &edge, 1, 7, on_done, &again);
  wait_result(&again);
  is_str(str(again.v, "record_id"), "r2::1", "and its sequence number was not spent");
  free_result(&before);
  free_result(&bad);
  free_result(&dup);
  free_result(&after);
  free_result(&emit);
  free_result(&again);
  soulgw_json_free(data);
  soulgw_json_free(ev);
  sg_store_close(st);
}

static const tap_test tests[] = {
    TEST(security_store_failing_write_spares_its_batch),
};

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/soulgw-harden-store-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  tap_run(tests, TAP_COUNT(tests));
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) tap_diag("cannot remove %s", dir);
  return tap_done();
}

/*
 * harden_store.c -- the store under hostile data (issue 7, findings 1 and 3): one write that
 * fails inside a group-commit batch is undone and answered alone, while its neighbours in the
 * same batch commit and the store stays writable; a collaboration row that cannot be read is an
 * error for the write that meets it, never a null; JSON nested deeper than the store can read
 * back is refused; and a database written before timelines had rows of their own (schema 1,
 * poisoned rows included) is migrated with every timeline.
 *
 * The writer thread runs completions; a completion that waits holds the writer, so that the
 * writes submitted meanwhile are queued and run as one batch.  A write is made to fail after it
 * has written something with a trigger the test adds to the database (test code may call the
 * engine directly; the library may not).  The cases run once per driver (backends.h).
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

static const store_backend *backend; /* the driver the cases run on */
static char dir[64];

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

static sg_store *open_store(const char *path) {
  char err[256] = "";
  sg_store *st = NULL;
  sg_store_opts o = {.path = path, .backend = backend->name, .url = path};
  if (sg_store_open(&o, &st, err, sizeof err)) tap_diag("open %s: %s", path, err);
  return st;
}

static const char *str(const soulgw_json *o, const char *k) {
  return soulgw_json_string(soulgw_json_get(o, k));
}

static void security_store_failing_write_spares_its_batch(void) {
  char path[128];
  if (!backend->poison_edges) return;
  backend->address(path, sizeof path, dir, "batch");
  sg_store *st = open_store(path);
  if (!st) return;
  /* an append with an edge to "poison" fails after it has taken a sequence number and
   * written its record */
  ok(backend->exec(path, backend->poison_edges) == 0, "a trigger makes one kind of write fail");
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
  backend->exec(path, backend->unpoison_edges);
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

/* {"a":{"a":...1...}} depth levels deep. */
static soulgw_json *deep(int depth) {
  char *t = malloc((size_t)depth * 6 + 8), *p = t;
  for (int i = 0; i < depth; i++) p += sprintf(p, "{\"a\":");
  *p++ = '1';
  for (int i = 0; i < depth; i++) *p++ = '}';
  *p = '\0';
  soulgw_json *v = J(t);
  free(t);
  return v;
}

static sg_st execute(sg_store *st, const char *tenant, const char *id, const soulgw_json *ctx,
                     const char *note, const sg_collab_limits *lim, soulgw_json **out) {
  result r;
  init_result(&r);
  sg_store_collab_execute(st, tenant, id, NULL, ctx, note, lim, 1000, on_done, &r);
  wait_result(&r);
  if (out) *out = r.v;
  else soulgw_json_free(r.v);
  r.v = NULL;
  sg_st s = r.st;
  free_result(&r);
  return s;
}

static int64_t total_of(sg_store *st, const char *tenant, const char *id) {
  soulgw_json *v = NULL;
  if (sg_store_collab_get(st, tenant, id, &v) != SG_ST_OK) return -1;
  int64_t n = (int64_t)soulgw_json_number(soulgw_json_get(v, "timeline_total"), -1);
  soulgw_json_free(v);
  return n;
}

static void security_store_collab_failing_write_spares_its_batch(void) {
  char path[128];
  if (!backend->poison_collab) return;
  backend->address(path, sizeof path, dir, "collab");
  sg_store *st = open_store(path);
  if (!st) return;
  soulgw_json *ctx = J("{\"k\":1}"), *data = J("{\"n\":1}");
  is_int(execute(st, "t1", "poison", ctx, "one", NULL, NULL), SG_ST_OK, "a collaboration");
  /* its next write fails after it has appended its timeline entry */
  backend->exec(path, backend->poison_collab);
  gate g;
  hold(st, &g, data);
  result bad, other, emit;
  init_result(&bad);
  init_result(&other);
  init_result(&emit);
  sg_store_collab_execute(st, "t1", "poison", NULL, ctx, "two", NULL, 2000, on_done, &bad);
  sg_store_collab_execute(st, "t2", "fine", NULL, ctx, "one", NULL, 2000, on_done, &other);
  sg_store_observe_emit(st, "t3", "topic", NULL, ctx, NULL, 2000, on_done, &emit);
  release(&g);
  wait_result(&bad);
  wait_result(&other);
  wait_result(&emit);
  is_int(bad.st, SG_ST_UNAVAILABLE, "the failing collaboration write is answered 503");
  is_int(other.st, SG_ST_OK, "another tenant's collaboration in the batch commits");
  is_int(emit.st, SG_ST_OK, "another tenant's event in the batch commits");
  ok(sg_store_writable(st), "the store stays writable");
  is_int(total_of(st, "t1", "poison"), 1, "the failed write's timeline entry was undone");
  backend->exec(path, backend->unpoison_collab);
  is_int(execute(st, "t1", "poison", ctx, "two", NULL, NULL), SG_ST_OK, "it goes on afterwards");
  is_int(total_of(st, "t1", "poison"), 2, "with two entries");
  free_result(&bad);
  free_result(&other);
  free_result(&emit);
  soulgw_json_free(ctx);
  soulgw_json_free(data);
  sg_store_close(st);
}

static void security_store_collab_depth(void) {
  char path[128];
  backend->address(path, sizeof path, dir, "depth");
  sg_store *st = open_store(path);
  if (!st) return;
  soulgw_json *ok128 = deep(SG_STORE_JSON_DEPTH_MAX), *bad = deep(SG_STORE_JSON_DEPTH_MAX + 1);
  soulgw_json *v = NULL;
  is_int(execute(st, "t1", "d", ok128, NULL, NULL, &v), SG_ST_OK, "a context at the limit");
  char *text = soulgw_json_print(v);
  soulgw_json *parsed = NULL;
  ok(text && soulgw_json_parse(text, strlen(text), &parsed, NULL, 0) == 0,
     "its snapshot parses back");
  free(text);
  soulgw_json_free(parsed);
  soulgw_json_free(v);
  is_int(execute(st, "t1", "d", ok128, NULL, NULL, NULL), SG_ST_OK, "and merges again");
  result r;
  init_result(&r);
  sg_store_collab_execute(st, "t1", "d", NULL, bad, NULL, NULL, 1, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_INVALID, "a context one level deeper is refused");
  has_str(r.msg, "context nests deeper than 128 levels", "naming it (%s)", r.msg);
  free_result(&r);
  init_result(&r);
  sg_store_collab_resolve(st, "t1", "d", bad, NULL, NULL, 1, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_INVALID, "so is an outcome");
  free_result(&r);
  is_int(total_of(st, "t1", "d"), 2, "nothing refused was written");
  soulgw_json_free(ok128);
  soulgw_json_free(bad);
  sg_store_close(st);
}

/* A schema-1 snapshot whose timeline payloads are payload (JSON text), n entries. */
static char *old_snapshot(const char *id, const char *status, const char *payload, int n) {
  size_t len = 512 + (size_t)(n + 1) * (strlen(payload) + 96);
  char *s = malloc(len), *p = s;
  p += sprintf(p, "{\"collab_id\":\"%s\",\"tenant\":\"t1\",\"status\":\"%s\","
                  "\"participants\":[\"a\",\"b\"],\"context\":%s,\"timeline\":[",
               id, status, payload);
  for (int i = 0; i < n; i++)
    p += sprintf(p, "%s{\"stage\":\"%s\",\"note\":\"n-%d\",\"payload\":%s,\"timestamp_ms\":%d}",
                 i ? "," : "", i ? "executed" : "created", i, payload, 1000 + i);
  sprintf(p, "],\"resolution\":null,\"created_at\":1000,\"updated_at\":%d}", 1000 + n);
  return s;
}

static void security_store_collab_migrates_schema_1(void) {
  char path[128];
  if (!backend->schema1) return;
  backend->address(path, sizeof path, dir, "v1");
  if (backend->exec(path, backend->schema1) != 0) return;
  /* a plain one, one that the old code had poisoned (a payload 511 levels deep in a timeline:
   * 514 levels, past the parser's 512), and one that is not JSON at all */
  char *plain = old_snapshot("plain", "in_progress", "{\"k\":\"v\"}", 3);
  size_t dl = 511 * 6 + 8;
  char *d = malloc(dl), *p = d;
  for (int i = 0; i < 511; i++) p += sprintf(p, "{\"a\":");
  *p++ = '1';
  for (int i = 0; i < 511; i++) *p++ = '}';
  *p = '\0';
  char *poisoned = old_snapshot("poisoned", "in_progress", d, 2);
  size_t sl = strlen(plain) + strlen(poisoned) + 512;
  char *sql = malloc(sl);
  snprintf(sql, sl,
           "INSERT INTO collabs VALUES('t1', 'plain', 'in_progress', '%s', 1003);"
           "INSERT INTO collabs VALUES('t1', 'poisoned', 'in_progress', '%s', 1002);"
           "INSERT INTO collabs VALUES('t1', 'broken', 'in_progress', '{\"collab_id\":', 1);",
           plain, poisoned);
  ok(backend->exec(path, sql) == 0, "a schema-1 database with three collaborations");
  free(sql);
  free(plain);
  free(poisoned);
  free(d);
  sg_store *st = open_store(path);
  if (!ok(st != NULL, "opens and migrates")) return;
  is_int(sg_store_schema_version(st), backend->schema, "to the latest schema");
  soulgw_json *v = NULL;
  is_int(sg_store_collab_get(st, "t1", "plain", &v), SG_ST_OK, "the plain one reads");
  is_int(soulgw_json_number(soulgw_json_get(v, "timeline_total"), -1), 3, "with its 3 entries");
  char *text = soulgw_json_print(v);
  has_str(text, "\"participants\":[\"a\",\"b\"],\"context\":{\"k\":\"v\"}",
          "its participants and context");
  has_str(text, "{\"seq\":2,\"stage\":\"executed\",\"note\":\"n-2\"", "its last entry");
  has_str(text, "\"created_at\":1000,\"updated_at\":1003", "its times");
  free(text);
  soulgw_json_free(v);
  /* the poisoned one is readable again: its payloads are rows of their own now */
  soulgw_json *ctx = J("{\"k\":2}");
  is_int(execute(st, "t1", "poisoned", ctx, "after", NULL, &v), SG_ST_OK,
         "the collaboration the old code had poisoned answers");
  is_int(soulgw_json_number(soulgw_json_get(v, "timeline_total"), -1), 3, "with every entry");
  soulgw_json_free(v);
  /* the broken one is an error for those who touch it, and for them only */
  gate g;
  soulgw_json *data = J("{\"n\":1}");
  hold(st, &g, data);
  result broken, other;
  init_result(&broken);
  init_result(&other);
  sg_store_collab_execute(st, "t1", "broken", NULL, ctx, NULL, NULL, 5000, on_done, &broken);
  sg_store_collab_execute(st, "t2", "x", NULL, ctx, NULL, NULL, 5000, on_done, &other);
  release(&g);
  wait_result(&broken);
  wait_result(&other);
  is_int(broken.st, SG_ST_UNREADABLE, "a row that cannot be read is an error (500), not a null");
  has_str(broken.msg, "collaboration broken is stored in a form that cannot be read",
          "saying so (%s)", broken.msg);
  is_int(other.st, SG_ST_OK, "its batch neighbour commits");
  ok(sg_store_writable(st), "the store stays writable");
  is_int(sg_store_collab_get(st, "t1", "broken", &v), SG_ST_UNREADABLE, "reading it too");
  ok(v == NULL, "with no answer");
  free_result(&broken);
  free_result(&other);
  soulgw_json_free(ctx);
  soulgw_json_free(data);
  sg_store_close(st);
  is_int(backend->query_int(path, backend->count_unreadable), 1,
         "its original text is kept for the operator");
}

static void security_store_collab_timeline_pages(void) {
  char path[128];
  backend->address(path, sizeof path, dir, "pages");
  sg_store *st = open_store(path);
  if (!st) return;
  sg_collab_limits lim = {10, 1 << 20, 3};
  for (int i = 0; i < 10; i++) {
    char note[16];
    snprintf(note, sizeof note, "n-%d", i);
    execute(st, "t1", "p", NULL, note, &lim, NULL);
  }
  soulgw_json *v = NULL;
  is_int(execute(st, "t1", "p", NULL, "n-10", &lim, &v), SG_ST_CONFLICT,
         "the eleventh entry is refused");
  is_int(sg_store_collab_timeline(st, "t1", "p", 6, 2, &v), SG_ST_OK, "a page");
  char *text = soulgw_json_print(v);
  has_str(text, "\"timeline\":[{\"seq\":7,\"stage\":\"executed\",\"note\":\"n-7\"",
          "starts after `after`");
  has_str(text, "\"timeline_total\":10,\"next\":8", "and says where the next one starts");
  free(text);
  soulgw_json_free(v);
  is_int(sg_store_collab_timeline(st, "t1", "p", 8, 5, &v), SG_ST_OK, "the last page");
  is_int(soulgw_json_size(soulgw_json_get(v, "timeline")), 1, "holds the last entry");
  ok(soulgw_json_typeof(soulgw_json_get(v, "next")) == SOULGW_JSON_NULL, "and no next");
  soulgw_json_free(v);
  is_int(sg_store_collab_timeline(st, "t2", "p", -1, 5, &v), SG_ST_NOTFOUND,
         "another tenant's is not found");
  sg_store_close(st);
}

static const tap_test tests[] = {
    TEST(security_store_failing_write_spares_its_batch),
    TEST(security_store_collab_failing_write_spares_its_batch),
    TEST(security_store_collab_depth),
    TEST(security_store_collab_migrates_schema_1),
    TEST(security_store_collab_timeline_pages),
};

int main(void) {
  for (size_t b = 0; b < STORE_BACKENDS; b++) {
    backend = &store_backends[b];
    if (!tap_want(tests, TAP_COUNT(tests)) || !store_backend_ready(backend)) continue;
    snprintf(dir, sizeof dir, "/tmp/soulgw-harden-store-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    tap_diag("backend %s", backend->name);
    tap_run(tests, TAP_COUNT(tests));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) tap_diag("cannot remove %s", dir);
  }
  return tap_done();
}

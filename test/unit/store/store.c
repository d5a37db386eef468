/*
 * store.c -- the storage interface, once per driver (backends.h): every operation, conflicts,
 * tenant isolation, group commit under concurrency, and data surviving a close and reopen.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends.h"
#include "result.h"
#include "base/json.h"
#include "store/store.h"
#include "tap.h"

static const store_backend *backend; /* the driver the cases run on */
static char dbpath[128];

static char *P(const soulgw_json *v) { return soulgw_json_print(v); }

static sg_store *open_store(void) {
  char err[256] = "";
  sg_store *st = NULL;
  sg_store_opts o = {.path = dbpath, .sync_full = 1, .backend = backend->name, .url = dbpath};
  int rc = sg_store_open(&o, &st, err, sizeof err);
  if (rc) tap_diag("open: %s", err);
  return st;
}

static const char *str(const soulgw_json *o, const char *k) {
  return soulgw_json_string(soulgw_json_get(o, k));
}

static void unit_store_open_and_migrate(void) {
  sg_store *st = open_store();
  ok(st != NULL, "opens and creates the file (and its directory)");
  if (!st) return;
  is_int(sg_store_schema_version(st), backend->schema, "schema at version %d", backend->schema);
  ok(sg_store_writable(st), "writable");
  sg_store_close(st);
  st = open_store();
  ok(st != NULL, "reopens an existing database");
  sg_store_close(st);
  char err[256] = "";
  sg_store *bad = NULL;
  sg_store_opts o = {.path = backend->unreachable, .sync_full = 1, .backend = backend->name,
                    .url = backend->unreachable};
  is_int(sg_store_open(&o, &bad, err, sizeof err), SOULGW_ESTORE, "an impossible path fails");
  ok(err[0] != '\0', "with a message (%s)", err);
}

static void unit_store_backend_by_name(void) {
  char err[256] = "";
  sg_store *st = NULL;
  sg_store_opts o = {.path = dbpath, .backend = "nope"};
  is_int(sg_store_open(&o, &st, err, sizeof err), SOULGW_ESTORE, "an unknown backend fails");
  is_str(err, "unknown storage backend \"nope\"", "naming it");
  ok(st == NULL, "with no store");
  if (backend != &store_backends[0]) return; /* the first entry is the default */
  o.backend = NULL;
  if (!ok(sg_store_open(&o, &st, err, sizeof err) == 0, "no backend is the default one")) return;
  sg_store_close(st);
}

static void unit_store_registry(void) {
  sg_store *st = open_store();
  if (!st) return;
  soulgw_json *boot = J("[{\"tenant\":\"t1\",\"id\":\"demo.echo\",\"version\":\"1\",\"handler\":\"builtin:echo\"}]");
  is_int(sg_store_registry_bootstrap(st, "t1", boot, 1000), SG_ST_OK, "bootstrap");
  is_int(sg_store_registry_bootstrap(st, "t1", boot, 2000), SG_ST_OK, "bootstrap again is a no-op");
  soulgw_json *v = NULL;
  is_int(sg_store_registry_active(st, "t1", &v), SG_ST_OK, "an active version");
  is_str(str(v, "version"), "bootstrap", "bootstrap is active");
  soulgw_json_free(v);
  result r;
  init_result(&r);
  soulgw_json *add = J("[{\"tenant\":\"t1\",\"id\":\"demo.echo\",\"version\":\"2\",\"handler\":\"builtin:echo\"},"
                       "{\"tenant\":\"t1\",\"id\":\"x\",\"version\":\"1\",\"handler\":\"h\"}]");
  sg_store_registry_publish(st, "t1", "v2", add, 3000, NULL, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_OK, "publish");
  soulgw_json *ms = soulgw_json_get(r.v, "manifests");
  is_int(soulgw_json_size(ms), 2, "merged: demo.echo replaced, x added");
  is_str(str(soulgw_json_first(ms), "version"), "2", "the replacement is in place");
  ok(soulgw_json_bool(soulgw_json_get(r.v, "active"), 0), "the new version is active");
  free_result(&r);
  init_result(&r);
  sg_store_registry_publish(st, "t1", "v2", add, 4000, NULL, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_CONFLICT, "publishing an existing version conflicts");
  is_str(r.msg, "tool registry version already exists", "with the runbook's message");
  free_result(&r);
  init_result(&r);
  sg_store_registry_activate(st, "t1", "bootstrap", NULL, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_OK, "activate bootstrap again (rollback)");
  free_result(&r);
  init_result(&r);
  sg_store_registry_activate(st, "t1", "nope", NULL, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_NOTFOUND, "activating an unknown version");
  free_result(&r);
  is_int(sg_store_registry_versions(st, "t1", &v), SG_ST_OK, "versions");
  char *s = P(v);
  has_str(s, "\"version\":\"bootstrap\"", "lists bootstrap");
  ok(s && strstr(s, "bootstrap") < strstr(s, "v2"), "oldest first");
  is_int(soulgw_json_bool(soulgw_json_get(soulgw_json_first(soulgw_json_get(v, "versions")), "active"), 0), 1,
         "bootstrap is active after the rollback");
  free(s);
  soulgw_json_free(v);
  is_int(sg_store_registry_versions(st, "t2", &v), SG_ST_OK, "another tenant");
  is_int(soulgw_json_size(soulgw_json_get(v, "versions")), 0, "sees none of t1's versions");
  soulgw_json_free(v);
  is_int(sg_store_registry_tenants(st, &v), SG_ST_OK, "tenants");
  is_int(soulgw_json_size(v), 1, "one tenant has a registry");
  soulgw_json_free(v);
  soulgw_json_free(boot);
  soulgw_json_free(add);
  sg_store_close(st);
}

static void unit_store_repo_and_graph(void) {
  sg_store *st = open_store();
  if (!st) return;
  soulgw_json *data = J("{\"text\":\"hello\"}");
  sg_edge_in e[3] = {{NULL, "b", NULL, NULL}, {NULL, "b", NULL, NULL}, {NULL, "c", "cites", NULL}};
  result r;
  init_result(&r);
  sg_store_repo_append(st, "t1", "docs", "a", data, e, 3, 1000, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_OK, "append a with edges");
  is_int((long long)soulgw_json_number(soulgw_json_get(r.v, "edges"), -1), 2, "a duplicate edge counts once");
  free_result(&r);
  init_result(&r);
  sg_store_repo_append(st, "t1", "docs", "a", data, NULL, 0, 1000, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_CONFLICT, "a duplicate record id conflicts");
  free_result(&r);
  /* default ids */
  init_result(&r);
  sg_store_repo_append(st, "t1", "docs", NULL, data, NULL, 0, 2000, on_done, &r);
  wait_result(&r);
  is_str(str(r.v, "record_id"), "docs::1", "a default id docs::1");
  free_result(&r);
  init_result(&r);
  sg_store_repo_append(st, "t1", "docs", "docs::2", data, NULL, 0, 2000, on_done, &r);
  wait_result(&r);
  free_result(&r);
  init_result(&r);
  sg_store_repo_append(st, "t1", "docs", NULL, data, NULL, 0, 3000, on_done, &r);
  wait_result(&r);
  is_str(str(r.v, "record_id"), "docs::3", "a taken id is skipped");
  free_result(&r);
  soulgw_json *v = NULL;
  is_int(sg_store_repo_get(st, "t1", "a", &v), SG_ST_OK, "get a");
  is_str(str(soulgw_json_get(v, "data"), "text"), "hello", "its data");
  soulgw_json_free(v);
  is_int(sg_store_repo_get(st, "t2", "a", &v), SG_ST_NOTFOUND, "another tenant cannot get it");
  is_int(sg_store_repo_list(st, "t1", "docs", NULL, 2, &v), SG_ST_OK, "list, page 1");
  is_int(soulgw_json_size(soulgw_json_get(v, "records")), 2, "two records");
  const char *next = str(v, "next");
  is_str(next, "docs::1", "next is the last of the page");
  soulgw_json *v2 = NULL;
  is_int(sg_store_repo_list(st, "t1", "docs", next, 2, &v2), SG_ST_OK, "list, page 2");
  is_int(soulgw_json_size(soulgw_json_get(v2, "records")), 2, "the other two");
  ok(soulgw_json_typeof(soulgw_json_get(v2, "next")) == SOULGW_JSON_NULL, "and no next");
  soulgw_json_free(v);
  soulgw_json_free(v2);
  is_int(sg_store_repo_list(st, "t1", "docs", "nope", 2, &v), SG_ST_NOTFOUND, "an unknown cursor");
  /* chain b -> c -> d */
  sg_edge_in bc = {"b", "c", NULL, NULL}, cd = {"c", "d", NULL, NULL};
  init_result(&r);
  sg_store_repo_append(st, "t1", "docs", "rb", data, &bc, 1, 4000, on_done, &r);
  wait_result(&r);
  free_result(&r);
  init_result(&r);
  sg_store_repo_append(st, "t1", "docs", "rc", data, &cd, 1, 5000, on_done, &r);
  wait_result(&r);
  free_result(&r);
  is_int(sg_store_graph_recall(st, "t1", "a", NULL, SG_DIR_OUT, 1, 100, &v), SG_ST_OK, "recall a, depth 1");
  is_int(soulgw_json_size(soulgw_json_get(v, "edges")), 2, "a->b and a->c");
  soulgw_json_free(v);
  is_int(sg_store_graph_recall(st, "t1", "a", NULL, SG_DIR_OUT, 3, 100, &v), SG_ST_OK, "depth 3");
  char *s = P(v);
  has_str(s, "\"from\":\"c\",\"to\":\"d\",\"label\":\"related\",\"props\":null,"
             "\"timestamp_ms\":5000,\"depth\":2", "reaches c->d at depth 2 (c is one hop from a)");
  ok(!strstr(s, "\"depth\":3"), "and nothing lies at depth 3");
  free(s);
  soulgw_json_free(v);
  is_int(sg_store_graph_recall(st, "t1", "a", "cites", SG_DIR_OUT, 1, 100, &v), SG_ST_OK, "label filter");
  is_int(soulgw_json_size(soulgw_json_get(v, "edges")), 1, "only the cites edge");
  soulgw_json_free(v);
  is_int(sg_store_graph_recall(st, "t1", "d", NULL, SG_DIR_IN, 8, 100, &v), SG_ST_OK, "inwards from d");
  is_int(soulgw_json_size(soulgw_json_get(v, "edges")), 4, "c->d, b->c, a->c, a->b");
  soulgw_json_free(v);
  is_int(sg_store_graph_recall(st, "t1", "c", NULL, SG_DIR_BOTH, 1, 100, &v), SG_ST_OK, "both ways from c");
  is_int(soulgw_json_size(soulgw_json_get(v, "edges")), 3, "b->c, a->c, c->d");
  s = P(v);
  ok(s && strstr(s, "\"to\":\"d\"") < strstr(s, "\"from\":\"a\""), "newest first within the depth");
  free(s);
  soulgw_json_free(v);
  is_int(sg_store_graph_recall(st, "t1", "a", NULL, SG_DIR_OUT, 8, 2, &v), SG_ST_OK, "limit");
  is_int(soulgw_json_size(soulgw_json_get(v, "edges")), 2, "limit 2 gives 2");
  soulgw_json_free(v);
  is_int(sg_store_graph_recall(st, "t2", "a", NULL, SG_DIR_BOTH, 8, 100, &v), SG_ST_OK, "another tenant");
  is_int(soulgw_json_size(soulgw_json_get(v, "edges")), 0, "sees no edges");
  soulgw_json_free(v);
  soulgw_json_free(data);
  sg_store_close(st);
}

static void unit_store_collab_observe_idem(void) {
  sg_store *st = open_store();
  if (!st) return;
  soulgw_json *parts = J("[\"alice\",\"bob\"]"), *ctx = J("{\"a\":{\"x\":1},\"b\":1}");
  soulgw_json *parts2 = J("[\"bob\",\"carol\"]"), *ctx2 = J("{\"a\":{\"y\":2},\"c\":3}");
  result r;
  init_result(&r);
  sg_store_collab_execute(st, "t1", "c1", parts, ctx, "first", NULL, 1000, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_OK, "collab created");
  is_str(str(r.v, "status"), "in_progress", "in progress");
  free_result(&r);
  init_result(&r);
  sg_store_collab_execute(st, "t1", "c1", parts2, ctx2, "second", NULL, 2000, on_done, &r);
  wait_result(&r);
  char *s = P(r.v);
  has_str(s, "\"participants\":[\"alice\",\"bob\",\"carol\"]", "participants merged without duplicates");
  has_str(s, "\"context\":{\"a\":{\"x\":1,\"y\":2},\"b\":1,\"c\":3}", "contexts deep-merged");
  is_int(soulgw_json_size(soulgw_json_get(r.v, "timeline")), 2, "two timeline entries");
  free(s);
  free_result(&r);
  init_result(&r);
  sg_store_collab_resolve(st, "t1", "c1", NULL, "done", NULL, 3000, on_done, &r);
  wait_result(&r);
  is_str(str(r.v, "status"), "resolved", "resolved");
  free_result(&r);
  init_result(&r);
  sg_store_collab_resolve(st, "t1", "c1", NULL, "again", NULL, 3000, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_CONFLICT, "resolving twice conflicts");
  free_result(&r);
  init_result(&r);
  sg_store_collab_execute(st, "t1", "c1", NULL, NULL, NULL, NULL, 4000, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_CONFLICT, "executing a resolved collaboration conflicts");
  free_result(&r);
  init_result(&r);
  sg_store_collab_resolve(st, "t1", "nope", NULL, NULL, NULL, 3000, on_done, &r);
  wait_result(&r);
  is_int(r.st, SG_ST_NOTFOUND, "resolving an unknown one");
  free_result(&r);
  soulgw_json *v = NULL;
  is_int(sg_store_collab_get(st, "t2", "c1", &v), SG_ST_NOTFOUND, "another tenant cannot see it");

  soulgw_json *ev = J("{\"k\":1}");
  for (int i = 1; i <= 3; i++) {
    init_result(&r);
    sg_store_observe_emit(st, "t1", i == 3 ? "other" : "topic", i == 2 ? "warn" : NULL, ev, NULL,
                          1000 * i, on_done, &r);
    wait_result(&r);
    char want[16];
    snprintf(want, sizeof want, "obs-%d", i);
    is_str(str(r.v, "event_id"), want, "event id %s", want);
    free_result(&r);
  }
  is_int(sg_store_observe_query(st, "t1", "topic", -1, NULL, 100, &v), SG_ST_OK, "query by topic");
  is_int(soulgw_json_size(soulgw_json_get(v, "events")), 2, "two");
  soulgw_json_free(v);
  is_int(sg_store_observe_query(st, "t1", NULL, 2000, "warn", 100, &v), SG_ST_OK, "since and severity");
  is_int(soulgw_json_size(soulgw_json_get(v, "events")), 1, "one");
  soulgw_json_free(v);
  is_int(sg_store_observe_query(st, "t2", NULL, -1, NULL, 100, &v), SG_ST_OK, "another tenant");
  is_int(soulgw_json_size(soulgw_json_get(v, "events")), 0, "sees none");
  soulgw_json_free(v);

  soulgw_json *in = J("{\"a\":1,\"b\":2}");
  init_result(&r);
  sg_store_idem_put(st, "t1", "k1", "demo.echo", in, 200, "{\"x\":1}", 1000, on_done, &r);
  wait_result(&r);
  ok(!soulgw_json_bool(soulgw_json_get(r.v, "existing"), 1), "first put stores");
  free_result(&r);
  init_result(&r);
  sg_store_idem_put(st, "t1", "k1", "demo.echo", in, 200, "{\"x\":2}", 1000, on_done, &r);
  wait_result(&r);
  ok(soulgw_json_bool(soulgw_json_get(r.v, "existing"), 0), "a second put reports the existing record");
  is_str(str(r.v, "response"), "{\"x\":1}", "with the first answer");
  free_result(&r);
  is_int(sg_store_idem_get(st, "t1", "k1", &v), SG_ST_OK, "get");
  ok(sg_json_equal(soulgw_json_get(v, "input"), in), "the stored input");
  soulgw_json_free(v);
  is_int(sg_store_idem_get(st, "t2", "k1", &v), SG_ST_NOTFOUND, "per tenant");
  soulgw_json_free(in);
  soulgw_json_free(ev);
  soulgw_json_free(parts);
  soulgw_json_free(ctx);
  soulgw_json_free(parts2);
  soulgw_json_free(ctx2);
  sg_store_close(st);
}

typedef struct worker_arg {
  sg_store *st;
  int id, n, ok;
} worker_arg;

static void *appender(void *p) {
  worker_arg *a = p;
  soulgw_json *data = J("{\"n\":1}");
  for (int i = 0; i < a->n; i++) {
    result r;
    init_result(&r);
    sg_edge_in e = {NULL, "hub", NULL, NULL};
    sg_store_repo_append(a->st, "t9", "load", NULL, data, &e, 1, i, on_done, &r);
    wait_result(&r);
    a->ok += r.st == SG_ST_OK;
    free_result(&r);
  }
  soulgw_json_free(data);
  return NULL;
}

static void unit_store_group_commit(void) {
  sg_store *st = open_store();
  if (!st) return;
  enum { T = 8, N = 50 };
  pthread_t th[T];
  worker_arg a[T];
  for (int i = 0; i < T; i++) {
    a[i] = (worker_arg){st, i, N, 0};
    pthread_create(&th[i], NULL, appender, &a[i]);
  }
  int okc = 0;
  for (int i = 0; i < T; i++) {
    pthread_join(th[i], NULL);
    okc += a[i].ok;
  }
  is_int(okc, T * N, "400 concurrent appends all committed");
  soulgw_json *v = NULL;
  sg_store_repo_list(st, "t9", "load", NULL, 1000, &v);
  is_int(soulgw_json_size(soulgw_json_get(v, "records")), T * N, "and all are there");
  soulgw_json_free(v);
  sg_store_graph_recall(st, "t9", "hub", NULL, SG_DIR_IN, 1, 1000, &v);
  is_int(soulgw_json_size(soulgw_json_get(v, "edges")), T * N, "with their edges");
  soulgw_json_free(v);
  sg_store_close(st);
  st = open_store();
  if (!st) return;
  sg_store_repo_list(st, "t9", "load", NULL, 1000, &v);
  is_int(soulgw_json_size(soulgw_json_get(v, "records")), T * N, "after closing and reopening too");
  soulgw_json_free(v);
  sg_store_close(st);
}

static const tap_test tests[] = {
    TEST(unit_store_open_and_migrate), TEST(unit_store_backend_by_name),
    TEST(unit_store_registry),         TEST(unit_store_repo_and_graph),
    TEST(unit_store_collab_observe_idem), TEST(unit_store_group_commit),
};

int main(void) {
  for (size_t b = 0; b < STORE_BACKENDS; b++) {
    backend = &store_backends[b];
    if (!tap_want(tests, TAP_COUNT(tests)) || !store_backend_ready(backend)) continue;
    char dir[] = "/tmp/soulgw-store-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    backend->address(dbpath, sizeof dbpath, dir, "sub/dir/test");
    tap_diag("backend %s", backend->name);
    tap_run(tests, TAP_COUNT(tests));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) tap_diag("cannot remove %s", dir);
  }
  return tap_done();
}

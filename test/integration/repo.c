/*
 * repo.c -- integration tests of repo records and the graph (SPEC 4.2 repo_append, repo_get,
 * repo_list, graph_recall) against the real soulgw binary: records with their edges, default
 * ids, paging, the breadth-first walk (depth, direction, label, limit, order), duplicate ids
 * writing nothing, tenant isolation across every family, bad input for every route, and 503
 * (never a false success) while another process holds the database's write lock.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "badinput.h"
#include "harness.h"
#include "tap.h"

static gwproc gw;
#define TOKEN "test-token"
#define TOKEN_B "tenant-b-token"

static long post_as(const char *token, const char *path, const char *body, cJSON **out) {
  return post_json(&gw, token, path, body, out);
}

static long post(const char *path, const char *body, cJSON **out) {
  return post_as(TOKEN, path, body, out);
}

static void expect_error(const char *path, const char *body, long status, const char *code,
                         const char *fragment, const char *what) {
  expect_error_as(&gw, TOKEN, path, body, status, code, fragment, what);
}

static void sleep_ms(int ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

/* Appends a record (asserting 200); returns the answer. */
static cJSON *append(const char *body) {
  cJSON *j = NULL;
  long st = post("/api/repo/append", body, &j);
  if (!ok(st == 200, "append %.120s: 200", body)) tap_diag("  got %ld", st);
  return j;
}

/* Recalls and returns the edges array as "from>to" pairs joined by spaces, in answer order. */
static char *recall(const char *body, cJSON **whole) {
  cJSON *j = NULL;
  long st = post("/api/graph/recall", body, &j);
  if (!ok(st == 200, "recall %.120s: 200", body)) tap_diag("  got %ld", st);
  static char out[4096];
  out[0] = '\0';
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "edges")) {
    size_t n = strlen(out);
    snprintf(out + n, sizeof out - n, "%s%s>%s", n ? " " : "", json_str(e, "from"),
             json_str(e, "to"));
  }
  if (whole) *whole = j;
  else cJSON_Delete(j);
  return out;
}

static void repo_append_records_and_edges(void) {
  cJSON *j = append(
      "{\"repo\":\"notes\",\"record_id\":\"note-1\",\"data\":{\"text\":\"hello\",\"n\":[1,2]},"
      "\"edges\":[{\"to\":\"topic-greetings\"},"
      "{\"to\":\"note-0\",\"label\":\"follows\",\"props\":{\"weight\":0.5}},"
      "{\"from\":\"author-ann\",\"to\":\"note-1\",\"label\":\"wrote\"}]}");
  is_str(json_str(j, "tenant"), "tenant-demo", "tenant");
  is_str(json_str(j, "repo"), "notes", "repo");
  is_str(json_str(j, "record_id"), "note-1", "record_id as given");
  ok(json_num(j, "stored_at", 0) > 1.6e12, "stored_at in epoch ms");
  is_int(json_num(j, "edges", -1), 3, "edges: 3 stored");
  cJSON_Delete(j);

  post("/api/repo/get", "{\"record_id\":\"note-1\"}", &j);
  is_str(json_str(j, "record_id"), "note-1", "get: record_id");
  is_str(json_str(j, "repo"), "notes", "get: repo");
  is_str(json_str(j, "tenant"), "tenant-demo", "get: tenant");
  is_str(json_str(j, "data.text"), "hello", "get: data as appended");
  is_int(json_num(j, "data.n.1", -1), 2, "get: nested data");
  ok(json_num(j, "stored_at", 0) > 1.6e12, "get: stored_at");
  cJSON_Delete(j);

  cJSON *w = NULL;
  char *got = recall("{\"node_id\":\"note-1\"}", &w);
  ok(strstr(got, "note-1>topic-greetings") && strstr(got, "note-1>note-0") &&
         !strstr(got, "author-ann"),
     "out edges of note-1, from defaulting to the record id (%s)", got);
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(w, "edges")) {
    if (strcmp(json_str(e, "to"), "topic-greetings") == 0) {
      is_str(json_str(e, "label"), "related", "label defaults to related");
      ok(cJSON_IsNull(cJSON_GetObjectItem(e, "props")), "props default to null");
      is_int(json_num(e, "depth", -1), 1, "depth 1");
      ok(json_num(e, "timestamp_ms", 0) > 1.6e12, "timestamp_ms");
    } else if (strcmp(json_str(e, "to"), "note-0") == 0) {
      is_str(json_str(e, "label"), "follows", "label as given");
      ok(json_num(e, "props.weight", 0) == 0.5, "props as given");
    }
  }
  is_str(json_str(w, "node_id"), "note-1", "recall: node_id");
  is_str(json_str(w, "tenant"), "tenant-demo", "recall: tenant");
  cJSON_Delete(w);
  got = recall("{\"node_id\":\"author-ann\"}", NULL);
  is_str(got, "author-ann>note-1", "an edge with its own from");

  /* an edge given twice, or equal to a stored one, is stored once */
  j = append("{\"repo\":\"notes\",\"record_id\":\"note-2\",\"data\":1,"
             "\"edges\":[{\"to\":\"t-x\"},{\"to\":\"t-x\"},{\"from\":\"note-1\",\"to\":\"note-0\","
             "\"label\":\"follows\"}]}");
  cJSON_Delete(j);
  got = recall("{\"node_id\":\"note-2\"}", NULL);
  is_str(got, "note-2>t-x", "a repeated edge is stored once");
  got = recall("{\"node_id\":\"note-1\",\"label\":\"follows\"}", NULL);
  is_str(got, "note-1>note-0", "an edge already stored is not stored again");

  /* data may be any non-null JSON */
  j = append("{\"repo\":\"notes\",\"data\":\"just text\"}");
  cJSON_Delete(j);
  j = append("{\"repo\":\"notes\",\"data\":false}");
  cJSON_Delete(j);
  j = append("{\"repo\":\"notes\",\"data\":[]}");
  cJSON_Delete(j);
}

static void integration_repo_append_creates_graph_edge(void) {
  cJSON *j = append("{\"repo\":\"kb\",\"record_id\":\"doc-42\",\"data\":{\"title\":\"t\"},"
                    "\"edges\":[{\"to\":\"concept-x\",\"label\":\"mentions\"}]}");
  is_int(json_num(j, "edges", -1), 1, "one edge stored");
  cJSON_Delete(j);
  cJSON *w = NULL;
  recall("{\"node_id\":\"doc-42\"}", &w);
  const cJSON *edges = cJSON_GetObjectItem(w, "edges");
  is_int(cJSON_GetArraySize(edges), 1, "recall finds the edge");
  is_str(json_str(w, "edges.0.from"), "doc-42", "from the record");
  is_str(json_str(w, "edges.0.to"), "concept-x", "to its target");
  is_str(json_str(w, "edges.0.label"), "mentions", "with its label");
  cJSON_Delete(w);
  is_str(recall("{\"node_id\":\"concept-x\",\"direction\":\"in\"}", NULL), "doc-42>concept-x",
         "and from the other end, inbound");
  is_str(recall("{\"node_id\":\"concept-x\"}", NULL), "", "but not outbound");
  is_str(recall("{\"node_id\":\"never-seen\"}", NULL), "", "an unknown node: an empty list");
}

static void integration_graph_recall_walk(void) {
  /* a -> b -> c -> d, then a -> x labelled "alt" (newer than a -> b) */
  cJSON_Delete(append("{\"repo\":\"ch\",\"record_id\":\"ch-a\",\"data\":1,\"edges\":[{\"to\":\"ch-b\"}]}"));
  sleep_ms(5);
  cJSON_Delete(append("{\"repo\":\"ch\",\"record_id\":\"ch-b\",\"data\":1,\"edges\":[{\"to\":\"ch-c\"}]}"));
  sleep_ms(5);
  cJSON_Delete(append("{\"repo\":\"ch\",\"record_id\":\"ch-c\",\"data\":1,\"edges\":[{\"to\":\"ch-d\"}]}"));
  sleep_ms(5);
  cJSON_Delete(append("{\"repo\":\"ch\",\"record_id\":\"ch-x\",\"data\":1,"
                      "\"edges\":[{\"from\":\"ch-a\",\"to\":\"ch-x\",\"label\":\"alt\"}]}"));

  is_str(recall("{\"node_id\":\"ch-a\"}", NULL), "ch-a>ch-x ch-a>ch-b",
         "depth 1 (default), out (default), newest first");
  is_str(recall("{\"node_id\":\"ch-a\",\"depth\":2}", NULL), "ch-a>ch-x ch-a>ch-b ch-b>ch-c",
         "depth 2 adds b>c");
  cJSON *w = NULL;
  is_str(recall("{\"node_id\":\"ch-a\",\"depth\":3}", &w),
         "ch-a>ch-x ch-a>ch-b ch-b>ch-c ch-c>ch-d", "depth 3 reaches d");
  is_int(json_num(w, "edges.3.depth", -1), 3, "c>d at depth 3");
  is_int(json_num(w, "edges.2.depth", -1), 2, "b>c at depth 2");
  cJSON_Delete(w);
  is_str(recall("{\"node_id\":\"ch-a\",\"depth\":8}", NULL),
         "ch-a>ch-x ch-a>ch-b ch-b>ch-c ch-c>ch-d", "depth 8: the walk ends with the graph");
  is_str(recall("{\"node_id\":\"ch-d\",\"direction\":\"in\"}", NULL), "ch-c>ch-d", "in, depth 1");
  is_str(recall("{\"node_id\":\"ch-d\",\"direction\":\"in\",\"depth\":3}", NULL),
         "ch-c>ch-d ch-b>ch-c ch-a>ch-b", "in, depth 3");
  is_str(recall("{\"node_id\":\"ch-d\",\"direction\":\"out\"}", NULL), "", "nothing goes out of d");
  char *both = recall("{\"node_id\":\"ch-b\",\"direction\":\"both\"}", NULL);
  ok(strcmp(both, "ch-b>ch-c ch-a>ch-b") == 0, "both, depth 1: b>c (newer) then a>b (%s)", both);
  both = recall("{\"node_id\":\"ch-b\",\"direction\":\"both\",\"depth\":2}", NULL);
  ok(strstr(both, "ch-a>ch-x") && strstr(both, "ch-c>ch-d") && strstr(both, "ch-a>ch-b") &&
         strstr(both, "ch-b>ch-c"),
     "both, depth 2 reaches x and d (%s)", both);
  is_str(recall("{\"node_id\":\"ch-a\",\"label\":\"alt\",\"depth\":3}", NULL), "ch-a>ch-x",
         "label filter");
  is_str(recall("{\"node_id\":\"ch-a\",\"label\":\"related\",\"depth\":3}", NULL),
         "ch-a>ch-b ch-b>ch-c ch-c>ch-d", "label related only");
  is_str(recall("{\"node_id\":\"ch-a\",\"depth\":3,\"limit\":1}", NULL), "ch-a>ch-x",
         "limit 1: the newest edge of the first level");
  is_str(recall("{\"node_id\":\"ch-a\",\"depth\":3,\"limit\":3}", NULL),
         "ch-a>ch-x ch-a>ch-b ch-b>ch-c", "limit 3");
  is_str(recall("{\"node_id\":\"ch-a\",\"direction\":null,\"depth\":null,\"limit\":null}", NULL),
         "ch-a>ch-x ch-a>ch-b", "null means the default");
  /* a cycle does not loop */
  cJSON_Delete(append("{\"repo\":\"ch\",\"record_id\":\"cy-1\",\"data\":1,\"edges\":[{\"to\":\"cy-2\"}]}"));
  cJSON_Delete(append("{\"repo\":\"ch\",\"record_id\":\"cy-2\",\"data\":1,\"edges\":[{\"to\":\"cy-1\"}]}"));
  is_str(recall("{\"node_id\":\"cy-1\",\"depth\":8}", NULL), "cy-1>cy-2 cy-2>cy-1",
         "a cycle: each edge once");
}

static void integration_repo_duplicate_record(void) {
  cJSON_Delete(append("{\"repo\":\"dup\",\"record_id\":\"dup-1\",\"data\":{\"v\":1},"
                      "\"edges\":[{\"to\":\"dup-t1\"}]}"));
  expect_error("/api/repo/append",
               "{\"repo\":\"dup\",\"record_id\":\"dup-1\",\"data\":{\"v\":2},"
               "\"edges\":[{\"to\":\"dup-t2\"}]}",
               409, "STORAGE.CONFLICT", "exists", "a duplicate record_id");
  expect_error("/api/repo/append",
               "{\"repo\":\"other-repo\",\"record_id\":\"dup-1\",\"data\":3}", 409,
               "STORAGE.CONFLICT", NULL, "the same record_id in another repo");
  cJSON *j = NULL;
  post("/api/repo/get", "{\"record_id\":\"dup-1\"}", &j);
  is_int(json_num(j, "data.v", -1), 1, "the first record stays");
  is_str(json_str(j, "repo"), "dup", "in its repo");
  cJSON_Delete(j);
  is_str(recall("{\"node_id\":\"dup-1\"}", NULL), "dup-1>dup-t1", "the refused edge is not stored");
  is_str(recall("{\"node_id\":\"dup-t2\",\"direction\":\"in\"}", NULL), "",
         "nothing points at the refused target");
  post("/api/repo/list", "{\"repo\":\"dup\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 1, "one record listed");
  cJSON_Delete(j);
  post("/api/repo/list", "{\"repo\":\"other-repo\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 0, "none in the other repo");
  cJSON_Delete(j);
}

/* n of "<repo>::<n>", or -1. */
static long seq_of(const char *id, const char *repo) {
  size_t n = strlen(repo);
  if (!id || strncmp(id, repo, n) != 0 || strncmp(id + n, "::", 2) != 0) return -1;
  char *end;
  long v = strtol(id + n + 2, &end, 10);
  return *end ? -1 : v;
}

static void integration_repo_default_ids(void) {
  cJSON *a = append("{\"repo\":\"seq\",\"data\":{\"i\":1}}");
  cJSON *b = append("{\"repo\":\"seq\",\"data\":{\"i\":2},\"record_id\":null}");
  cJSON *c = append("{\"repo\":\"seq2\",\"data\":{\"i\":3}}");
  long na = seq_of(json_str(a, "record_id"), "seq"), nb = seq_of(json_str(b, "record_id"), "seq");
  long nc = seq_of(json_str(c, "record_id"), "seq2");
  ok(na >= 1, "a default id is seq::<n> (%s)", json_str(a, "record_id"));
  ok(nb > na, "and increases (%s)", json_str(b, "record_id"));
  ok(nc > nb, "one sequence per tenant, across repos (%s)", json_str(c, "record_id"));
  cJSON *j = NULL;
  char body[128];
  snprintf(body, sizeof body, "{\"record_id\":\"%s\"}", json_str(b, "record_id"));
  is_int(post("/api/repo/get", body, &j), 200, "get by the default id");
  is_int(json_num(j, "data.i", -1), 2, "the right record");
  cJSON_Delete(j);
  /* an id the sequence would give next, taken by hand, is skipped */
  snprintf(body, sizeof body, "{\"repo\":\"seq\",\"record_id\":\"seq::%ld\",\"data\":0}", nc + 1);
  cJSON_Delete(append(body));
  cJSON *d = append("{\"repo\":\"seq\",\"data\":{\"i\":4}}");
  long nd = seq_of(json_str(d, "record_id"), "seq");
  ok(nd > nc + 1, "a taken id is skipped (%s)", json_str(d, "record_id"));
  cJSON_Delete(a);
  cJSON_Delete(b);
  cJSON_Delete(c);
  cJSON_Delete(d);
}

static void integration_repo_get_list_paging(void) {
  char body[256];
  for (int i = 1; i <= 5; i++) {
    snprintf(body, sizeof body, "{\"repo\":\"page\",\"record_id\":\"pg-%d\",\"data\":{\"i\":%d}}",
             i, i);
    cJSON_Delete(append(body));
  }
  cJSON_Delete(append("{\"repo\":\"page-other\",\"record_id\":\"pgo-1\",\"data\":0}"));
  cJSON *j = NULL;
  is_int(post("/api/repo/list", "{\"repo\":\"page\"}", &j), 200, "list answers 200");
  const cJSON *recs = cJSON_GetObjectItem(j, "records");
  is_int(cJSON_GetArraySize(recs), 5, "five records, the default limit being 100");
  is_str(json_str(j, "records.0.record_id"), "pg-1", "in order of storage: first");
  is_str(json_str(j, "records.4.record_id"), "pg-5", "in order of storage: last");
  is_int(json_num(j, "records.2.data.i", -1), 3, "records carry their data");
  is_str(json_str(j, "records.0.repo"), "page", "and their repo");
  ok(cJSON_IsNull(cJSON_GetObjectItem(j, "next")), "next null: nothing more");
  cJSON_Delete(j);

  post("/api/repo/list", "{\"repo\":\"page\",\"limit\":2}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 2, "limit 2: two records");
  is_str(json_str(j, "next"), "pg-2", "next names the last one");
  cJSON_Delete(j);
  post("/api/repo/list", "{\"repo\":\"page\",\"limit\":2,\"after\":\"pg-2\"}", &j);
  is_str(json_str(j, "records.0.record_id"), "pg-3", "after pg-2: pg-3");
  is_str(json_str(j, "next"), "pg-4", "next pg-4");
  cJSON_Delete(j);
  post("/api/repo/list", "{\"repo\":\"page\",\"limit\":2,\"after\":\"pg-4\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 1, "the last page: one record");
  is_str(json_str(j, "records.0.record_id"), "pg-5", "pg-5");
  ok(cJSON_IsNull(cJSON_GetObjectItem(j, "next")), "next null at the end");
  cJSON_Delete(j);
  post("/api/repo/list", "{\"repo\":\"page\",\"after\":\"pg-5\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 0, "after the last: empty");
  cJSON_Delete(j);
  post("/api/repo/list", "{\"repo\":\"page\",\"limit\":1000}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 5, "limit 1000 is allowed");
  cJSON_Delete(j);
  post("/api/repo/list", "{\"repo\":\"no-such-repo\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 0, "an unknown repo: empty");
  cJSON_Delete(j);
  expect_error("/api/repo/list", "{\"repo\":\"page\",\"after\":\"pgo-1\"}", 404,
               "STORAGE.NOT_FOUND", "pgo-1", "after a record of another repo");
  expect_error("/api/repo/list", "{\"repo\":\"page\",\"after\":\"nope\"}", 404,
               "STORAGE.NOT_FOUND", "nope", "after an unknown record");
  expect_error("/api/repo/get", "{\"record_id\":\"nope\"}", 404, "STORAGE.NOT_FOUND", "nope",
               "get an unknown record");
}

static void integration_repo_tenant_isolation(void) {
  /* tenant-demo writes one of everything */
  cJSON_Delete(append("{\"repo\":\"secret\",\"record_id\":\"iso-1\",\"data\":{\"s\":\"A\"},"
                      "\"edges\":[{\"to\":\"iso-t\"}]}"));
  post("/api/collab/execute", "{\"collab_id\":\"iso-c\",\"context\":{\"owner\":\"A\"}}", NULL);
  post("/api/observe/emit", "{\"topic\":\"iso-topic\",\"event\":{\"s\":\"A\"}}", NULL);

  cJSON *j = NULL;
  is_int(post_as(TOKEN_B, "/api/repo/get", "{\"record_id\":\"iso-1\"}", &j), 404,
         "tenant B cannot get A's record");
  cJSON_Delete(j);
  post_as(TOKEN_B, "/api/repo/list", "{\"repo\":\"secret\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 0, "nor list A's repo");
  is_str(json_str(j, "records.0.record_id"), NULL, "(no records)");
  cJSON_Delete(j);
  post_as(TOKEN_B, "/api/graph/recall", "{\"node_id\":\"iso-1\",\"direction\":\"both\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "edges")), 0, "nor see A's graph");
  is_str(json_str(j, "tenant"), "tenant-b", "B's recall is B's");
  cJSON_Delete(j);
  post_as(TOKEN_B, "/api/observe/query", "{\"topic\":\"iso-topic\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 0, "nor A's events");
  cJSON_Delete(j);
  post_as(TOKEN_B, "/api/observe/query", "{}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 0, "nor any of A's events");
  cJSON_Delete(j);
  is_int(post_as(TOKEN_B, "/api/collab/resolve", "{\"collab_id\":\"iso-c\"}", NULL), 404,
         "nor resolve A's collaboration");
  is_int(post_as(TOKEN_B, "/api/collab/execute", "{\"collab_id\":\"iso-c\"}", &j), 200,
         "B's own collaboration of the same id");
  ok(cJSON_GetObjectItem(j, "context") && !json_str(j, "context.owner"),
     "does not see A's context");
  is_str(json_str(j, "tenant"), "tenant-b", "and belongs to B");
  cJSON_Delete(j);
  is_int(post_as(TOKEN_B, "/api/repo/append",
                 "{\"repo\":\"secret\",\"record_id\":\"iso-1\",\"data\":{\"s\":\"B\"}}", NULL),
         200, "B may use the same record id");
  post("/api/repo/get", "{\"record_id\":\"iso-1\"}", &j);
  is_str(json_str(j, "data.s"), "A", "A still reads its own record");
  cJSON_Delete(j);
  post("/api/collab/resolve", "{\"collab_id\":\"iso-c\"}", &j);
  is_str(json_str(j, "context.owner"), "A", "A's collaboration is untouched by B's");
  cJSON_Delete(j);
  /* naming the other tenant is refused */
  is_int(post_as(TOKEN_B, "/api/repo/get",
                 "{\"record_id\":\"iso-1\",\"tenant\":\"tenant-demo\"}", &j),
         403, "B naming tenant-demo in the body: 403");
  is_str(json_str(j, "code"), "AUTH.FORBIDDEN", "AUTH.FORBIDDEN");
  cJSON_Delete(j);
  http_resp r;
  const char *h[] = {"Content-Type: application/json", "Authorization: Bearer " TOKEN_B,
                     "X-Soul-Tenant: tenant-demo", NULL};
  http(&gw, "POST", "/api/observe/query", h, "{}", &r);
  is_int(r.status, 403, "B naming tenant-demo in X-Soul-Tenant: 403");
  resp_free(&r);
}

/* A record that a refused append named must not exist. */
static void not_written(const char *record_id, const char *what) {
  char body[128];
  snprintf(body, sizeof body, "{\"record_id\":\"%s\"}", record_id);
  is_int(post("/api/repo/get", body, NULL), 404, "%s: nothing was written", what);
}

static void integration_repo_bad_input(void) {
  static const char *const A = "/api/repo/append";
  const char *V = "SCHEMA.VALIDATION_FAILED";
  expect_error(A, "{\"data\":1}", 422, V, "repo is required", "missing repo");
  expect_error(A, "{\"repo\":3,\"data\":1}", 422, V, "repo must be a string", "numeric repo");
  expect_error(A, "{\"repo\":\" \",\"data\":1}", 422, V, "repo must not be blank", "blank repo");
  expect_error(A, "{\"repo\":null,\"data\":1}", 422, V, "repo must not be null", "null repo");
  expect_error(A, "{\"repo\":\"r\",\"record_id\":\"bad-a1\"}", 422, V, "data is required",
               "missing data");
  expect_error(A, "{\"repo\":\"r\",\"record_id\":\"bad-a2\",\"data\":null}", 422, V,
               "data must not be null", "null data");
  expect_error(A, "{\"repo\":\"r\",\"record_id\":\"\",\"data\":1}", 422, V,
               "record_id must not be blank", "empty record_id");
  expect_error(A, "{\"repo\":\"r\",\"record_id\":12,\"data\":1}", 422, V,
               "record_id must be a string", "numeric record_id");
  expect_error(A, "{\"repo\":\"r\",\"record_id\":\"bad-a3\",\"data\":1,\"edges\":{}}", 422, V,
               "edges must be an array", "edges an object");
  expect_error(A,
               "{\"repo\":\"r\",\"record_id\":\"bad-a4\",\"data\":1,\"edges\":[{\"to\":\"a\"},"
               "{\"to\":\"b\"},{\"to\":\"c\"},{\"from\":\"x\"}]}",
               422, V, "edges[3].to is required", "edges[3] without to");
  expect_error(A,
               "{\"repo\":\"r\",\"record_id\":\"bad-a5\",\"data\":1,\"edges\":[{\"to\":\"a\"},"
               "{\"to\":\"b\",\"label\":7}]}",
               422, V, "edges[1].label must be a string", "edges[1].label a number");
  expect_error(A,
               "{\"repo\":\"r\",\"record_id\":\"bad-a6\",\"data\":1,\"edges\":[{\"to\":\"a\","
               "\"props\":\"p\"}]}",
               422, V, "edges[0].props must be an object", "props a string");
  expect_error(A,
               "{\"repo\":\"r\",\"record_id\":\"bad-a7\",\"data\":1,\"edges\":[{\"to\":\"a\"},"
               "\"b\"]}",
               422, V, "edges[1] must be an object", "an edge that is a string");
  expect_error(A,
               "{\"repo\":\"r\",\"record_id\":\"bad-a8\",\"data\":1,\"edges\":[{\"to\":\"a\","
               "\"from\":\"\"}]}",
               422, V, "edges[0].from must not be blank", "a blank from");
  expect_error(A,
               "{\"repo\":\"r\",\"record_id\":\"bad-a9\",\"data\":1,\"edges\":[{\"to\":null}]}",
               422, V, "edges[0].to must not be null", "a null to");
  /* sizes: 10,000 edges, 1 MB ids (the body limit is raised for this program) */
  size_t n = 10000;
  char *big = malloc(n * 16 + 128), *p = big;
  p += sprintf(p, "{\"repo\":\"r\",\"record_id\":\"bad-many\",\"data\":1,\"edges\":[");
  for (size_t i = 0; i < n; i++) p += sprintf(p, "%s{\"to\":\"n%zu\"}", i ? "," : "", i);
  strcpy(p, "]}");
  expect_error(A, big, 422, V, "edges has 10000 elements; at most 1000", "10,000 edges");
  free(big);
  char *mb = repeat_char('r', 1 << 20);
  big = malloc((1 << 20) + 128);
  sprintf(big, "{\"repo\":\"%s\",\"data\":1}", mb);
  expect_error(A, big, 422, V, "repo is 1048576 bytes long", "a 1 MB repo");
  sprintf(big, "{\"repo\":\"r\",\"record_id\":\"%s\",\"data\":1}", mb);
  expect_error(A, big, 422, V, "record_id is 1048576 bytes long", "a 1 MB record_id");
  sprintf(big, "{\"repo\":\"r\",\"record_id\":\"bad-a10\",\"data\":1,\"edges\":[{\"to\":\"%s\"}]}",
          mb);
  expect_error(A, big, 422, V, "edges[0].to is 1048576 bytes long", "a 1 MB edge target");
  sprintf(big, "{\"record_id\":\"%s\"}", mb);
  expect_error("/api/repo/get", big, 422, V, "record_id is 1048576 bytes long",
               "get: a 1 MB record_id");
  sprintf(big, "{\"node_id\":\"%s\"}", mb);
  expect_error("/api/graph/recall", big, 422, V, "node_id is 1048576 bytes long",
               "recall: a 1 MB node_id");
  /* 1 MB of data is data: accepted, and read back whole */
  sprintf(big, "{\"repo\":\"r\",\"record_id\":\"big-data\",\"data\":\"%s\"}", mb);
  is_int(post(A, big, NULL), 200, "1 MB of data is accepted");
  cJSON *j = NULL;
  post("/api/repo/get", "{\"record_id\":\"big-data\"}", &j);
  ok(json_str(j, "data") && strlen(json_str(j, "data")) == (1u << 20), "and read back whole");
  cJSON_Delete(j);
  free(big);
  free(mb);
  /* 10,000 elements of data are data too */
  big = malloc(n * 2 + 64);
  p = big + sprintf(big, "{\"repo\":\"r\",\"record_id\":\"big-arr\",\"data\":[");
  for (size_t i = 0; i < n; i++) p += sprintf(p, "%s1", i ? "," : "");
  strcpy(p, "]}");
  is_int(post(A, big, NULL), 200, "a 10,000-element data array is accepted");
  free(big);
  post("/api/repo/get", "{\"record_id\":\"big-arr\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 10000, "and read back whole");
  cJSON_Delete(j);

  static const char *const refused[] = {"bad-a1", "bad-a2", "bad-a3", "bad-a4", "bad-a5",
                                        "bad-a6", "bad-a7", "bad-a8", "bad-a9", "bad-a10",
                                        "bad-many"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) not_written(refused[i], refused[i]);
  is_str(recall("{\"node_id\":\"bad-a4\"}", NULL), "", "no edge of a refused append");
  is_str(recall("{\"node_id\":\"a\",\"direction\":\"in\"}", NULL), "", "no edge into a refused target");

  expect_error("/api/repo/get", "{}", 422, V, "record_id is required", "get without record_id");
  expect_error("/api/repo/get", "{\"record_id\":true}", 422, V, "record_id must be a string",
               "get: record_id a boolean");
  expect_error("/api/repo/list", "{}", 422, V, "repo is required", "list without repo");
  expect_error("/api/repo/list", "{\"repo\":\"page\",\"limit\":0}", 422, V,
               "limit must be between 1 and 1000", "limit 0");
  expect_error("/api/repo/list", "{\"repo\":\"page\",\"limit\":1001}", 422, V,
               "limit must be between 1 and 1000", "limit 1001");
  expect_error("/api/repo/list", "{\"repo\":\"page\",\"limit\":-5}", 422, V, "limit",
               "a negative limit");
  expect_error("/api/repo/list", "{\"repo\":\"page\",\"limit\":2.5}", 422, V,
               "limit must be an integer", "a fractional limit");
  expect_error("/api/repo/list", "{\"repo\":\"page\",\"limit\":\"10\"}", 422, V,
               "limit must be an integer", "a string limit");
  expect_error("/api/repo/list", "{\"repo\":\"page\",\"limit\":1e300}", 422, V,
               "limit must be an integer", "limit 1e300");
  expect_error("/api/repo/list", "{\"repo\":\"page\",\"after\":5}", 422, V,
               "after must be a string", "a numeric after");
  static const char *const G = "/api/graph/recall";
  expect_error(G, "{}", 422, V, "node_id is required", "recall without node_id");
  expect_error(G, "{\"node_id\":\"a\",\"depth\":0}", 422, V, "depth must be between 1 and 8",
               "depth 0");
  expect_error(G, "{\"node_id\":\"a\",\"depth\":9}", 422, V, "depth must be between 1 and 8",
               "depth 9");
  expect_error(G, "{\"node_id\":\"a\",\"depth\":\"2\"}", 422, V, "depth must be an integer",
               "a string depth");
  expect_error(G, "{\"node_id\":\"a\",\"direction\":\"up\"}", 422, V,
               "direction must be one of out, in, both", "direction up");
  expect_error(G, "{\"node_id\":\"a\",\"direction\":1}", 422, V, "direction must be one of",
               "a numeric direction");
  expect_error(G, "{\"node_id\":\"a\",\"limit\":0}", 422, V, "limit must be between 1 and 1000",
               "recall limit 0");
  expect_error(G, "{\"node_id\":\"a\",\"limit\":5000}", 422, V,
               "limit must be between 1 and 1000", "recall limit 5000");
  expect_error(G, "{\"node_id\":\"a\",\"label\":[]}", 422, V, "label must be a string",
               "label an array");
  check_malformed_bodies(&gw, A, TOKEN);
  check_malformed_bodies(&gw, "/api/repo/get", TOKEN);
  check_malformed_bodies(&gw, "/api/repo/list", TOKEN);
  check_malformed_bodies(&gw, G, TOKEN);
  is_int(post("/api/repo/append", "", NULL), 422, "append with no body: 422");
}

/* Appends of one thread: n records to repo "conc" with default ids, kept in ids. */
typedef struct appender {
  int n, failures;
  char ids[20][64];
} appender;

static void *append_many(void *arg) {
  appender *a = arg;
  for (int i = 0; i < a->n; i++) {
    http_resp r;
    http_post(&gw, "/api/repo/append", TOKEN,
              "{\"repo\":\"conc\",\"data\":{\"k\":1},\"edges\":[{\"to\":\"conc-hub\"}]}", &r);
    cJSON *j = json_of(&r);
    if (r.status != 200 || !json_str(j, "record_id")) a->failures++;
    else snprintf(a->ids[i], sizeof a->ids[i], "%s", json_str(j, "record_id"));
    cJSON_Delete(j);
    resp_free(&r);
  }
  return NULL;
}

static void integration_repo_concurrent_appends(void) {
  enum { THREADS = 8, EACH = 20 };
  static appender a[THREADS];
  pthread_t t[THREADS];
  http_resp r;
  http_get(&gw, "/health", &r); /* the harness initialises libcurl before threads use it */
  resp_free(&r);
  for (int i = 0; i < THREADS; i++) {
    a[i].n = EACH;
    pthread_create(&t[i], NULL, append_many, &a[i]);
  }
  int failures = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    failures += a[i].failures;
  }
  is_int(failures, 0, "%d concurrent appends all answer 200", THREADS * EACH);
  int dups = 0;
  for (int i = 0; i < THREADS * EACH; i++)
    for (int k = i + 1; k < THREADS * EACH; k++)
      dups += strcmp(a[i / EACH].ids[i % EACH], a[k / EACH].ids[k % EACH]) == 0;
  is_int(dups, 0, "every default id is distinct");
  /* all of them are listed, page by page */
  int listed = 0;
  char after[96] = "", body[256];
  for (int page = 0; page < 20; page++) {
    cJSON *j = NULL;
    if (*after) snprintf(body, sizeof body, "{\"repo\":\"conc\",\"limit\":64,\"after\":\"%s\"}", after);
    else snprintf(body, sizeof body, "{\"repo\":\"conc\",\"limit\":64}");
    post("/api/repo/list", body, &j);
    listed += cJSON_GetArraySize(cJSON_GetObjectItem(j, "records"));
    const char *next = json_str(j, "next");
    snprintf(after, sizeof after, "%s", next ? next : "");
    cJSON_Delete(j);
    if (!*after) break;
  }
  is_int(listed, THREADS * EACH, "every record is listed once across pages");
  cJSON *j = NULL;
  post("/api/graph/recall", "{\"node_id\":\"conc-hub\",\"direction\":\"in\",\"limit\":1000}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "edges")), THREADS * EACH,
         "and every edge is stored");
  cJSON_Delete(j);
}

/* One write sent from its own thread while the database is locked. */
typedef struct locked_write {
  const char *path, *body;
  long status;
  char code[64];
} locked_write;

static void *send_locked_write(void *arg) {
  locked_write *w = arg;
  http_resp r;
  http_post(&gw, w->path, TOKEN, w->body, &r);
  w->status = r.status;
  cJSON *j = json_of(&r);
  snprintf(w->code, sizeof w->code, "%s", json_str(j, "code") ? json_str(j, "code") : "");
  cJSON_Delete(j);
  resp_free(&r);
  return NULL;
}

/* Starts the sqlite3 shell in a process group of its own, holding the write lock of db until
 * it is killed; waits until it holds it.  Returns its pid, or -1. */
static pid_t hold_write_lock(const char *db, const char *marker) {
  char script[1024];
  snprintf(script, sizeof script,
           "(printf '.timeout 5000\\nBEGIN IMMEDIATE;\\nSELECT 1;\\n'; sleep 60) | "
           "sqlite3 '%s' > '%s' 2>&1",
           db, marker);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", script, (char *)NULL);
    _exit(127);
  }
  if (pid < 0) return -1;
  setpgid(pid, pid);
  for (int i = 0; i < 200; i++) {
    FILE *f = fopen(marker, "r");
    char line[64] = "";
    if (f) {
      if (!fgets(line, sizeof line, f)) line[0] = '\0';
      fclose(f);
    }
    if (line[0] == '1') return pid;
    sleep_ms(25);
  }
  kill(-pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static void integration_storage_unavailable_503(void) {
  const char *sq[] = {"sqlite3", "-version", NULL};
  if (run_cmd(sq, NULL, NULL) != 0) {
    tap_diag("skipped: the sqlite3 shell is not installed (apt-get install sqlite3)");
    return;
  }
  char db[400], marker[400];
  snprintf(db, sizeof db, "%s/test.db", gw.dir);
  snprintf(marker, sizeof marker, "%s/lock-holder.out", gw.dir);
  http_resp r;
  is_int(post("/api/collab/execute", "{\"collab_id\":\"u-open\"}", NULL), 200,
         "a collaboration to resolve later");
  http_get(&gw, "/health", &r); /* the harness initialises libcurl before threads use it */
  resp_free(&r);
  pid_t holder = hold_write_lock(db, marker);
  if (!ok(holder > 0, "another process holds the database's write lock")) return;
  locked_write w[] = {
      {"/api/repo/append",
       "{\"repo\":\"u\",\"record_id\":\"u-1\",\"data\":1,\"edges\":[{\"to\":\"u-t\"}]}", 0, ""},
      {"/api/observe/emit", "{\"topic\":\"u.topic\",\"event\":1}", 0, ""},
      {"/api/collab/execute", "{\"collab_id\":\"u-c\"}", 0, ""},
      {"/api/collab/resolve", "{\"collab_id\":\"u-open\"}", 0, ""},
  };
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, send_locked_write, &w[i]);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 4; i++) {
    is_int(w[i].status, 503, "%s while the database is locked: 503", w[i].path);
    is_str(w[i].code, "STORAGE.UNAVAILABLE", "%s: STORAGE.UNAVAILABLE", w[i].path);
  }
  http_get(&gw, "/health", &r);
  is_int(r.status, 503, "/health: 503 while the database cannot be written");
  has_str(r.body, "degraded", "degraded");
  resp_free(&r);
  kill(-holder, SIGKILL);
  waitpid(holder, NULL, 0);

  /* nothing of the failed writes is there */
  is_int(post("/api/repo/get", "{\"record_id\":\"u-1\"}", NULL), 404, "the record was not written");
  is_str(recall("{\"node_id\":\"u-t\",\"direction\":\"in\"}", NULL), "", "nor its edge");
  cJSON *j = NULL;
  post("/api/observe/query", "{\"topic\":\"u.topic\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 0, "nor the event");
  cJSON_Delete(j);
  is_int(post("/api/collab/resolve", "{\"collab_id\":\"u-c\"}", NULL), 404,
         "nor the collaboration");
  post("/api/collab/execute", "{\"collab_id\":\"u-open\"}", &j);
  is_str(json_str(j, "status"), "in_progress", "nor the resolution");
  cJSON_Delete(j);
  /* and writing works again */
  cJSON_Delete(append("{\"repo\":\"u\",\"record_id\":\"u-1\",\"data\":1}"));
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "/health: 200 again once a write succeeds");
  resp_free(&r);
}

static const tap_test tests[] = {
    TEST(repo_append_records_and_edges),
    TEST(integration_repo_append_creates_graph_edge),
    TEST(integration_graph_recall_walk),
    TEST(integration_repo_duplicate_record),
    TEST(integration_repo_default_ids),
    TEST(integration_repo_get_list_paging),
    TEST(integration_repo_tenant_isolation),
    TEST(integration_repo_bad_input),
    TEST(integration_repo_concurrent_appends),
    TEST(integration_storage_unavailable_503),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  /* the default configuration, a second tenant's token, and room for 1 MB strings */
  size_t len = strlen(HARNESS_DEFAULT_TOML) + 512;
  char *toml = malloc(len);
  snprintf(toml, len,
           "%s\n[auth.tokens.other]\ntenant = \"tenant-b\"\ntoken = \"" TOKEN_B "\"\n"
           "scopes = [\"collab:execute\", \"repo:write\", \"repo:read\", \"graph:read\",\n"
           "          \"observe:emit\", \"observe:read\"]\n",
           HARNESS_DEFAULT_TOML);
  const char *env[] = {"GATEWAY__SERVER__MAX_BODY_BYTES=4194304", NULL};
  int rc = gw_start(&gw, harness_soulgw_bin(), toml, env, NULL);
  free(toml);
  if (rc != 0) {
    ok(0, "the gateway starts");
    return tap_done();
  }
  tap_run(tests, TAP_COUNT(tests));
  is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
  return tap_done();
}

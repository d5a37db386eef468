/*
 * harden_collab.c -- a hostile tenant against collaborations (issue 7, findings 1 and 3), on the
 * real binary:
 *
 *   - a context or outcome nested 510 levels deep passes the request's depth limit; stored, it
 *     used to come back unreadable, fail the whole group-commit batch (other tenants' writes
 *     answered 503) and turn /health to 503.  It is refused with a 422 naming the field, and
 *     other tenants' writes and /health stay untouched while it is tried;
 *   - a collaboration used to grow without bound, answering every call with its whole
 *     timeline.  Its entries and bytes are capped (409, 413), answers carry the most recent
 *     entries only, the rest is paged through /api/collab/timeline, and the timeline survives a
 *     restart.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tap.h"

#define TOKEN "test-token"
#define OTHER "other-tenant-token"

/* The default configuration with a second tenant, whose writes must not suffer. */
static char *toml_with_other(void) {
  static const char other[] =
      "\n[auth.tokens.other]\n"
      "tenant = \"tenant-other\"\n"
      "token_env = \"GATEWAY_TOKEN_OTHER\"\n"
      "scopes = [\"repo:write\", \"observe:emit\", \"collab:execute\"]\n";
  size_t n = strlen(HARNESS_DEFAULT_TOML) + sizeof other;
  char *t = malloc(n);
  snprintf(t, n, "%s%s", HARNESS_DEFAULT_TOML, other);
  return t;
}

static int start(gwproc *g, const char *const *extra_env) {
  const char *env[8] = {"GATEWAY_TOKEN_OTHER=" OTHER};
  for (int i = 0; extra_env && extra_env[i] && i < 6; i++) env[i + 1] = extra_env[i];
  char *toml = toml_with_other();
  int rc = gw_start(g, harness_soulgw_bin(), toml, env, NULL);
  free(toml);
  return ok(rc == 0, "the gateway starts") ? 0 : -1;
}

static void stop(gwproc *g) { is_int(gw_stop(g), 0, "SIGTERM: exit status 0"); }

/* {"collab_id":"<id>","<field>":{"a":{"a":...1...}}} with depth levels of objects. */
static char *deep_body(const char *id, const char *field, int depth) {
  size_t n = strlen(id) + strlen(field) + (size_t)depth * 6 + 64;
  char *b = malloc(n), *p = b;
  p += sprintf(p, "{\"collab_id\":\"%s\",\"%s\":", id, field);
  for (int i = 0; i < depth; i++) p += sprintf(p, "{\"a\":");
  *p++ = '1';
  for (int i = 0; i < depth; i++) *p++ = '}';
  strcpy(p, "}");
  return b;
}

static long health(gwproc *g) {
  http_resp r;
  http_get(g, "/health", &r);
  long st = r.status;
  resp_free(&r);
  return st;
}

/* The other tenant writes a record and an event; 1 when both are answered 200. */
static int other_tenant_writes(gwproc *g, int i) {
  char body[160];
  snprintf(body, sizeof body, "{\"repo\":\"neighbour\",\"data\":{\"i\":%d}}", i);
  long a = post_json(g, OTHER, "/api/repo/append", body, NULL);
  snprintf(body, sizeof body, "{\"topic\":\"neighbour\",\"event\":{\"i\":%d}}", i);
  long b = post_json(g, OTHER, "/api/observe/emit", body, NULL);
  if (a != 200 || b != 200) tap_diag("  neighbour write %d: append %ld, emit %ld", i, a, b);
  return a == 200 && b == 200;
}

static void security_collab_deep_context_refused(void) {
  gwproc g;
  if (start(&g, NULL)) return;
  const char *X = "/api/collab/execute", *V = "SCHEMA.VALIDATION_FAILED";
  for (int depth = 510; depth <= 511; depth++) {
    char *b = deep_body("deep-1", "context", depth);
    char what[64];
    snprintf(what, sizeof what, "a context %d levels deep", depth);
    expect_error_as(&g, TOKEN, X, b, 422, V, "context nests", what);
    free(b);
  }
  /* the store keeps what it can read back: the limit is well below the parser's 512 */
  char *b = deep_body("deep-ok", "context", 128);
  is_int(post_json(&g, TOKEN, X, b, NULL), 200, "a context 128 levels deep is accepted");
  is_int(post_json(&g, TOKEN, X, b, NULL), 200, "and read back by the next call");
  free(b);
  b = deep_body("deep-ok", "context", 129);
  expect_error_as(&g, TOKEN, X, b, 422, V, "context nests deeper than 128 levels", "129 levels");
  free(b);
  /* an outcome, and the legacy route's plan.scope.context */
  is_int(post_json(&g, TOKEN, X, "{\"collab_id\":\"deep-2\"}", NULL), 200, "open deep-2");
  b = deep_body("deep-2", "outcome", 510);
  expect_error_as(&g, TOKEN, "/api/collab/resolve", b, 422, V, "outcome nests",
                  "an outcome 510 levels deep");
  free(b);
  size_t n = 509 * 6 + 128;
  char *legacy = malloc(n), *p = legacy;
  p += sprintf(p, "{\"plan\":{\"scope\":{\"collab_id\":\"deep-3\",\"context\":");
  for (int i = 0; i < 509; i++) p += sprintf(p, "{\"a\":");
  *p++ = '1';
  for (int i = 0; i < 509 + 3; i++) *p++ = '}';
  *p = '\0';
  http_resp r;
  http_post(&g, "/tenants/tenant-demo/collab.execute", TOKEN, legacy, &r);
  is_int(r.status, 422, "legacy: a plan.scope.context 509 levels deep is refused");
  has_str(r.body, "plan.scope.context nests", "naming the field");
  has_str(r.body, "\"success\":false", "in the legacy envelope");
  resp_free(&r);
  free(legacy);
  /* nothing poisoned: the same collaborations answer, the gateway is healthy, the neighbours
   * write */
  cJSON *j = NULL;
  is_int(post_json(&g, TOKEN, X, "{\"collab_id\":\"deep-1\",\"note\":\"after\"}", &j), 200,
         "deep-1 answers after the attempt");
  is_str(json_str(j, "status"), "in_progress", "in progress");
  cJSON_Delete(j);
  is_int(post_json(&g, TOKEN, X, "{\"collab_id\":\"deep-2\"}", NULL), 200,
         "deep-2 answers after the refused resolve");
  is_int(post_json(&g, TOKEN, "/api/collab/resolve", "{\"collab_id\":\"deep-2\",\"outcome\":1}",
                   NULL),
         200, "and resolves");
  is_int(health(&g), 200, "/health stays 200");
  ok(other_tenant_writes(&g, 0), "another tenant's append and emit succeed");
  stop(&g);
}

typedef struct neighbour {
  gwproc *g;
  int n, ok;
} neighbour;

static void *neighbour_main(void *arg) {
  neighbour *nb = arg;
  for (int i = 0; i < nb->n; i++) nb->ok += other_tenant_writes(nb->g, i);
  return NULL;
}

/* Attacks while another tenant writes: not one of its writes may fail. */
static void security_collab_attack_spares_neighbours(void) {
  gwproc g;
  if (start(&g, NULL)) return;
  is_int(health(&g), 200, "healthy before");
  enum { THREADS = 2, WRITES = 40, ATTACKS = 20 };
  neighbour nb[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    nb[i] = (neighbour){&g, WRITES, 0};
    pthread_create(&th[i], NULL, neighbour_main, &nb[i]);
  }
  int refused = 0, answered = 0;
  for (int i = 0; i < ATTACKS; i++) {
    char id[32];
    snprintf(id, sizeof id, "poison-%d", i % 4);
    char *b = deep_body(id, i % 2 ? "context" : "outcome", 510);
    refused += post_json(&g, TOKEN, i % 2 ? "/api/collab/execute" : "/api/collab/resolve", b,
                         NULL) == 422;
    free(b);
    char plain[64];
    snprintf(plain, sizeof plain, "{\"collab_id\":\"%s\"}", id);
    answered += post_json(&g, TOKEN, "/api/collab/execute", plain, NULL) == 200;
  }
  int okc = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    okc += nb[i].ok;
  }
  is_int(refused, ATTACKS, "every deep payload is refused with 422");
  is_int(answered, ATTACKS, "every plain call on the attacked collaborations answers 200");
  is_int(okc, THREADS * WRITES, "every write of the other tenant succeeded");
  is_int(health(&g), 200, "/health stays 200");
  stop(&g);
}

/* Executes n times on id with a context of about ctx_bytes; returns the last answer's size
 * and the answer in *out. */
static size_t grow(gwproc *g, const char *id, int n, size_t ctx_bytes, cJSON **out) {
  char *pad = malloc(ctx_bytes + 1);
  memset(pad, 'x', ctx_bytes);
  pad[ctx_bytes] = '\0';
  size_t len = ctx_bytes + 256, size = 0;
  char *body = malloc(len);
  int fails = 0;
  if (out) *out = NULL;
  for (int i = 0; i < n; i++) {
    snprintf(body, len, "{\"collab_id\":\"%s\",\"note\":\"n-%d\",\"context\":{\"pad\":\"%s\"}}",
             id, i, pad);
    http_resp r;
    http_post(g, "/api/collab/execute", TOKEN, body, &r);
    if (r.status != 200 && fails++ < 3) tap_diag("  call %d: %ld %.200s", i, r.status, r.body);
    size = r.len;
    if (out && i == n - 1) *out = json_of(&r);
    resp_free(&r);
  }
  ok(fails == 0, "%d calls on %s answered 200", n, id);
  free(body);
  free(pad);
  return size;
}

static void security_collab_answer_bounded(void) {
  gwproc g;
  if (start(&g, NULL)) return;
  cJSON *j = NULL;
  size_t first = grow(&g, "long", 1, 2000, NULL);
  size_t last = grow(&g, "long", 299, 2000, &j);
  /* 300 entries of 2 KB each: the whole timeline would be 600 KB */
  ok(last < 50 * 2200 + 4096, "the answer stays bounded: %zu bytes after 300 calls (first %zu)",
     last, first);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "timeline")), 50,
         "it carries the 50 most recent timeline entries");
  is_int(json_num(j, "timeline_total", -1), 300, "timeline_total counts them all");
  const cJSON *tl = cJSON_GetObjectItem(j, "timeline");
  is_str(json_str(cJSON_GetArrayItem(tl, 49), "note"), "n-298", "the newest last");
  is_int(json_num(cJSON_GetArrayItem(tl, 49), "seq", -1), 299, "with its position");
  is_str(json_str(cJSON_GetArrayItem(tl, 0), "note"), "n-249", "the oldest shown first");
  ok(json_str(j, "context.pad") != NULL, "the snapshot keeps its context");
  static const char *const fields[] = {"collab_id", "tenant", "status", "participants",
                                       "context", "timeline", "resolution", "created_at",
                                       "updated_at"};
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
    ok(cJSON_HasObjectItem(j, fields[i]), "the snapshot has %s", fields[i]);
  cJSON_Delete(j);
  /* a 22-byte call on it is answered with the same bounded snapshot */
  http_resp r;
  http_post(&g, "/api/collab/execute", TOKEN, "{\"collab_id\":\"long\"}", &r);
  is_int(r.status, 200, "a 22-byte call answers 200");
  ok(r.len < 50 * 2200 + 4096, "with %zu bytes, not the whole history", r.len);
  resp_free(&r);
  ok(other_tenant_writes(&g, 1), "another tenant's writes succeed meanwhile");
  stop(&g);
}

static void security_collab_caps(void) {
  static const char *const env[] = {"GATEWAY__COLLAB__MAX_TIMELINE_ENTRIES=5",
                                    "GATEWAY__COLLAB__MAX_SNAPSHOT_BYTES=8192", NULL};
  gwproc g;
  if (start(&g, env)) return;
  const char *X = "/api/collab/execute";
  for (int i = 0; i < 5; i++)
    is_int(post_json(&g, TOKEN, X, "{\"collab_id\":\"capped\",\"note\":\"x\"}", NULL), 200,
           "entry %d of 5", i + 1);
  expect_error_as(&g, TOKEN, X, "{\"collab_id\":\"capped\",\"note\":\"x\"}", 409,
                  "STORAGE.CONFLICT", "has 5 timeline entries; at most 5 ([collab] max_timeline_entries)",
                  "the sixth entry");
  cJSON *j = NULL;
  is_int(post_json(&g, TOKEN, "/api/collab/resolve", "{\"collab_id\":\"capped\",\"outcome\":1}", &j),
         200, "a full collaboration can still be resolved");
  is_int(json_num(j, "timeline_total", -1), 6, "with its final entry");
  cJSON_Delete(j);

  /* bytes: one call over the cap, then calls that add up to it */
  char *pad = malloc(9001);
  memset(pad, 'y', 9000);
  pad[9000] = '\0';
  char *body = malloc(9200);
  snprintf(body, 9200, "{\"collab_id\":\"big\",\"context\":{\"pad\":\"%s\"}}", pad);
  expect_error_as(&g, TOKEN, X, body, 413, "REQUEST.TOO_LARGE",
                  "at most 8192 ([collab] max_snapshot_bytes)", "a collaboration over 8 KB");
  is_int(post_json(&g, TOKEN, "/api/collab/resolve", "{\"collab_id\":\"big\"}", NULL), 404,
         "and nothing was written");
  pad[1500] = '\0';
  snprintf(body, 9200, "{\"collab_id\":\"grows\",\"note\":\"x\",\"context\":\"%s\"}", pad);
  int okc = 0;
  long st = 0;
  for (int i = 0; i < 5 && (st = post_json(&g, TOKEN, X, body, NULL)) == 200; i++) okc++;
  is_int(st, 413, "a collaboration growing past 8 KB is refused (after %d calls)", okc);
  ok(okc >= 1 && okc < 5, "after some calls were accepted (%d)", okc);
  is_int(post_json(&g, TOKEN, X, "{\"collab_id\":\"grows\"}", &j), 200,
         "a small call still fits");
  is_int(json_num(j, "timeline_total", -1), okc + 1, "the refused calls wrote nothing");
  cJSON_Delete(j);
  free(body);
  free(pad);
  is_int(health(&g), 200, "/health stays 200");
  stop(&g);
}

/* Pages through the timeline of id; checks that entry k has note n-k (k < count). */
static void check_pages(gwproc *g, const char *id, int count, int page) {
  int seen = 0, after = -1, ordered = 1, pages = 0;
  for (;;) {
    char body[160];
    if (after < 0) snprintf(body, sizeof body, "{\"collab_id\":\"%s\",\"limit\":%d}", id, page);
    else snprintf(body, sizeof body, "{\"collab_id\":\"%s\",\"after\":%d,\"limit\":%d}", id, after, page);
    cJSON *j = NULL;
    long st = post_json(g, TOKEN, "/api/collab/timeline", body, &j);
    if (!ok(st == 200, "timeline page %d answers 200", pages)) {
      cJSON_Delete(j);
      return;
    }
    pages++;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "timeline")) {
      char want[32];
      snprintf(want, sizeof want, "n-%d", seen);
      const char *note = json_str(e, "note");
      if ((int)json_num(e, "seq", -1) != seen || !note || strcmp(note, want) != 0) ordered = 0;
      seen++;
    }
    is_int(json_num(j, "timeline_total", -1), count, "timeline_total on page %d", pages);
    const cJSON *next = cJSON_GetObjectItem(j, "next");
    int more = cJSON_IsNumber(next);
    if (more) after = next->valueint;
    cJSON_Delete(j);
    if (!more || pages > count) break;
  }
  is_int(seen, count, "paging returns every entry of %s", id);
  ok(ordered, "oldest first, each once, with its seq");
  is_int(pages, (count + page - 1) / page, "in %d pages of %d", (count + page - 1) / page, page);
}

static void security_collab_timeline_paging_and_restart(void) {
  gwproc g;
  g.keep_db = 1;
  if (start(&g, NULL)) return;
  grow(&g, "paged", 120, 10, NULL);
  check_pages(&g, "paged", 120, 50);
  expect_error_as(&g, TOKEN, "/api/collab/timeline", "{\"collab_id\":\"nope\"}", 404,
                  "STORAGE.NOT_FOUND", "nope", "an unknown collaboration");
  expect_error_as(&g, TOKEN, "/api/collab/timeline", "{\"collab_id\":\"paged\",\"limit\":0}",
                  422, "SCHEMA.VALIDATION_FAILED", "limit", "limit 0");
  expect_error_as(&g, OTHER, "/api/collab/timeline", "{\"collab_id\":\"paged\"}", 404,
                  "STORAGE.NOT_FOUND", NULL, "another tenant does not see it");
  is_int(gw_stop(&g), 0, "a clean stop");
  g.keep_db = 0;
  static const char *const env[] = {"GATEWAY_TOKEN_OTHER=" OTHER, NULL};
  if (!ok(gw_restart(&g, env) == 0, "restarts on the same database")) return;
  check_pages(&g, "paged", 120, 50);
  cJSON *j = NULL;
  is_int(post_json(&g, TOKEN, "/api/collab/execute", "{\"collab_id\":\"paged\",\"note\":\"n-120\"}",
                   &j),
         200, "the collaboration goes on after the restart");
  is_int(json_num(j, "timeline_total", -1), 121, "its timeline survived");
  is_str(json_str(j, "context.pad"), "xxxxxxxxxx", "and its context");
  cJSON_Delete(j);
  stop(&g);
}

static const tap_test tests[] = {
    TEST(security_collab_deep_context_refused),
    TEST(security_collab_attack_spares_neighbours),
    TEST(security_collab_answer_bounded),
    TEST(security_collab_caps),
    TEST(security_collab_timeline_paging_and_restart),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

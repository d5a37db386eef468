/*
 * restart.c -- nothing acknowledged is lost: write through every stateful route (registry
 * versions, idempotency, collaborations, repo records and edges, observe events), then stop the
 * gateway -- cleanly, and once by SIGKILL right after the acknowledgements -- start it again on
 * the same database, and read everything back.  And appends acknowledged by concurrent clients
 * (group-committed in batches, their ids generated) right before a SIGKILL are all there after
 * the restart, and the record sequence goes on after the last of them.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

#define TOKEN "test-token"

static long post(gwproc *g, const char *path, const char *body, char *out, size_t outlen) {
  http_resp r;
  http_post(g, path, TOKEN, body, &r);
  if (out) snprintf(out, outlen, "%s", r.body ? r.body : "");
  long st = r.status;
  resp_free(&r);
  return st;
}

/* Writes one of everything; tag keeps the two runs apart.  Every write must be acknowledged. */
/* Kills the gateway without a chance to flush anything and starts it again on the same
 * database: 0, or -1 after a failed check. */
static int kill_and_restart(gwproc *g, const char *const *env) {
  kill(g->pid, SIGKILL);
  waitpid(g->pid, NULL, 0);
  g->pid = 0;
  if (gw_restart(g, env) != 0) {
    ok(0, "restarts after SIGKILL");
    return -1;
  }
  return 0;
}

static void write_everything(gwproc *g, const char *tag) {
  char body[1024], out[4096];
  snprintf(body, sizeof body,
           "{\"version\":\"%s-v1\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"%s.tool\","
           "\"version\":\"1\",\"handler\":\"builtin:echo\"}]}",
           tag, tag);
  is_int(post(g, "/api/config/tools", body, out, sizeof out), 200, "%s: publish a registry version", tag);
  snprintf(body, sizeof body,
           "{\"tool_id\":\"demo.echo\",\"input\":{\"n\":1},\"idempotency_key\":\"%s-key\"}", tag);
  is_int(post(g, "/api/tools/execute", body, out, sizeof out), 200, "%s: execute with a key", tag);
  snprintf(body, sizeof body,
           "{\"collab_id\":\"%s-c\",\"participants\":[\"a\",\"b\"],\"context\":{\"k\":\"%s\"}}", tag, tag);
  is_int(post(g, "/api/collab/execute", body, out, sizeof out), 200, "%s: open a collaboration", tag);
  snprintf(body, sizeof body,
           "{\"repo\":\"%s-repo\",\"record_id\":\"%s-r1\",\"data\":{\"text\":\"hello\"},"
           "\"edges\":[{\"to\":\"%s-node\",\"label\":\"mentions\"}]}",
           tag, tag, tag);
  is_int(post(g, "/api/repo/append", body, out, sizeof out), 200, "%s: append a record with an edge", tag);
  snprintf(body, sizeof body, "{\"repo\":\"%s-repo\",\"data\":{\"n\":2}}", tag);
  is_int(post(g, "/api/repo/append", body, out, sizeof out), 200, "%s: append with a default id", tag);
  snprintf(body, sizeof body, "{\"topic\":\"%s-topic\",\"event\":{\"k\":1},\"severity\":\"warn\"}", tag);
  is_int(post(g, "/api/observe/emit", body, out, sizeof out), 200, "%s: emit an event", tag);
}

static void read_everything(gwproc *g, const char *tag) {
  char body[1024], out[8192];
  http_resp r;
  const char *h[] = {"Authorization: Bearer " TOKEN, NULL};
  http(g, "GET", "/api/config/tools", h, NULL, &r);
  char want[128];
  snprintf(want, sizeof want, "\"version\":\"%s-v1\"", tag);
  has_str(r.body, want, "%s: the registry version survived", tag);
  resp_free(&r);
  snprintf(body, sizeof body,
           "{\"tool_id\":\"demo.echo\",\"input\":{\"n\":1},\"idempotency_key\":\"%s-key\"}", tag);
  http_post(g, "/api/tools/execute", TOKEN, body, &r);
  is_str(resp_header(&r, "Idempotent-Replayed"), "true", "%s: the idempotency record survived", tag);
  resp_free(&r);
  snprintf(body, sizeof body, "{\"collab_id\":\"%s-c\",\"participants\":[\"c\"]}", tag);
  post(g, "/api/collab/execute", body, out, sizeof out);
  has_str(out, "\"participants\":[\"a\",\"b\",\"c\"]", "%s: the collaboration survived", tag);
  snprintf(want, sizeof want, "\"context\":{\"k\":\"%s\"}", tag);
  has_str(out, want, "%s: with its context", tag);
  snprintf(body, sizeof body, "{\"record_id\":\"%s-r1\"}", tag);
  is_int(post(g, "/api/repo/get", body, out, sizeof out), 200, "%s: the record survived", tag);
  has_str(out, "\"data\":{\"text\":\"hello\"}", "%s: with its data", tag);
  snprintf(body, sizeof body, "{\"repo\":\"%s-repo\"}", tag);
  post(g, "/api/repo/list", body, out, sizeof out);
  snprintf(want, sizeof want, "\"record_id\":\"%s-repo::", tag);
  has_str(out, want, "%s: the default-id record survived", tag);
  snprintf(body, sizeof body, "{\"node_id\":\"%s-r1\"}", tag);
  post(g, "/api/graph/recall", body, out, sizeof out);
  snprintf(want, sizeof want, "\"to\":\"%s-node\",\"label\":\"mentions\"", tag);
  has_str(out, want, "%s: the edge survived", tag);
  snprintf(body, sizeof body, "{\"topic\":\"%s-topic\"}", tag);
  post(g, "/api/observe/query", body, out, sizeof out);
  has_str(out, "\"severity\":\"warn\"", "%s: the event survived", tag);
}

static void integration_restart_reads_everything_back(void) {
  gwproc g;
  g.keep_db = 1;
  static const char *const full[] = {"GATEWAY__STORAGE__SYNCHRONOUS=full", NULL};
  if (gw_start(&g, harness_soulgw_bin(), NULL, full, NULL) != 0) return;
  write_everything(&g, "clean");
  is_int(gw_stop(&g), 0, "a clean stop");
  if (gw_restart(&g, full) != 0) {
    ok(0, "restarts on the same database");
    return;
  }
  read_everything(&g, "clean");
  /* acknowledged, then killed without a chance to flush anything */
  write_everything(&g, "killed");
  if (kill_and_restart(&g, full) != 0) return;
  read_everything(&g, "killed");
  read_everything(&g, "clean");
  g.keep_db = 0;
  is_int(gw_stop(&g), 0, "exit status 0");
}

enum { BURST_THREADS = 8, BURST_EACH = 20, BURST = BURST_THREADS * BURST_EACH };

typedef struct burst {
  gwproc *g;
  int first;          /* this client's first slot in ids */
  char (*ids)[64];    /* the record_id each acknowledged append answered, "" otherwise */
} burst;

/* One client's appends with generated ids, one at a time, keeping each answer's record_id. */
static void *burst_client(void *p) {
  burst *b = p;
  for (int i = 0; i < BURST_EACH; i++) {
    char out[1024];
    const char *body = "{\"repo\":\"burst\",\"data\":{\"n\":1},\"edges\":[{\"to\":\"hub\"}]}";
    if (post(b->g, "/api/repo/append", body, out, sizeof out) != 200) continue;
    cJSON *v = cJSON_Parse(out);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "record_id");
    if (cJSON_IsString(id)) snprintf(b->ids[b->first + i], sizeof b->ids[0], "%s", id->valuestring);
    cJSON_Delete(v);
  }
  return NULL;
}

static void integration_restart_keeps_a_burst_of_appends(void) {
  gwproc g;
  g.keep_db = 1;
  static const char *const full[] = {"GATEWAY__STORAGE__SYNCHRONOUS=full", NULL};
  if (gw_start(&g, harness_soulgw_bin(), NULL, full, NULL) != 0) return;
  static char ids[BURST][64];
  pthread_t th[BURST_THREADS];
  burst b[BURST_THREADS];
  for (int t = 0; t < BURST_THREADS; t++) {
    b[t] = (burst){&g, t * BURST_EACH, ids};
    pthread_create(&th[t], NULL, burst_client, &b[t]);
  }
  for (int t = 0; t < BURST_THREADS; t++) pthread_join(th[t], NULL);
  int seen[BURST + 1] = {0}, bad = 0;
  for (int i = 0; i < BURST; i++) {
    int n = 0;
    if (sscanf(ids[i], "burst::%d", &n) != 1 || n < 1 || n > BURST || seen[n]++) bad++;
  }
  is_int(bad, 0, "%d concurrent appends acknowledged, ids burst::1..%d each once", BURST, BURST);
  if (kill_and_restart(&g, full) != 0) return;
  int missing = 0;
  for (int i = 0; i < BURST; i++) {
    char body[128], out[1024];
    snprintf(body, sizeof body, "{\"record_id\":\"%s\"}", ids[i]);
    if (post(&g, "/api/repo/get", body, out, sizeof out) != 200) missing++;
  }
  is_int(missing, 0, "every acknowledged append is there after the SIGKILL");
  char out[1024];
  /* another repo: the tenant's sequence is shared, and no taken id of its own to skip */
  is_int(post(&g, "/api/repo/append", "{\"repo\":\"later\",\"data\":{}}", out, sizeof out), 200,
         "an append after the restart");
  char want[64];
  snprintf(want, sizeof want, "\"record_id\":\"later::%d\"", BURST + 1);
  has_str(out, want, "takes the number after the last acknowledged one");
  g.keep_db = 0;
  is_int(gw_stop(&g), 0, "exit status 0");
}

static const tap_test tests[] = {TEST(integration_restart_reads_everything_back),
                                 TEST(integration_restart_keeps_a_burst_of_appends)};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

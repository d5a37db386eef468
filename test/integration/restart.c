/*
 * restart.c -- nothing acknowledged is lost: write through every stateful route (registry
 * versions, idempotency, collaborations, repo records and edges, observe events), then stop the
 * gateway -- cleanly, and once by SIGKILL right after the acknowledgements -- start it again on
 * the same database, and read everything back.
 */
#include <cjson/cJSON.h>
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
  kill(g.pid, SIGKILL);
  waitpid(g.pid, NULL, 0);
  g.pid = 0;
  if (gw_restart(&g, full) != 0) {
    ok(0, "restarts after SIGKILL");
    return;
  }
  read_everything(&g, "killed");
  read_everything(&g, "clean");
  g.keep_db = 0;
  is_int(gw_stop(&g), 0, "exit status 0");
}

static const tap_test tests[] = {TEST(integration_restart_reads_everything_back)};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

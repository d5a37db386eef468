/*
 * observe.c -- integration tests of observe events (SPEC 4.2 observe_emit, observe_query) and
 * of the flows that cross families: a collaboration and its events, the topic metric with its
 * 100-topic cap, bad input, and everything written through collab, repo and observe surviving
 * a restart on the same database.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "badinput.h"
#include "harness.h"
#include "tap.h"

static gwproc gw;
#define TOKEN "test-token"

static long post_to(gwproc *g, const char *path, const char *body, cJSON **out) {
  return post_json(g, TOKEN, path, body, out);
}

static long post(const char *path, const char *body, cJSON **out) {
  return post_to(&gw, path, body, out);
}

static void expect_error(const char *path, const char *body, long status, const char *code,
                         const char *fragment, const char *what) {
  expect_error_as(&gw, TOKEN, path, body, status, code, fragment, what);
}

/* n of "obs-<n>", or -1. */
static long obs_n(const char *id) {
  if (!id || strncmp(id, "obs-", 4) != 0) return -1;
  char *end;
  long v = strtol(id + 4, &end, 10);
  return *end || v < 0 ? -1 : v;
}

/* Emits (asserting 200); returns the answer. */
static cJSON *emit(const char *body) {
  cJSON *j = NULL;
  long st = post("/api/observe/emit", body, &j);
  if (!ok(st == 200, "emit %.100s: 200", body)) tap_diag("  got %ld", st);
  return j;
}

/* Queries; returns the events array's size, and the answer in *out when not NULL. */
static int query(const char *body, cJSON **out) {
  cJSON *j = NULL;
  long st = post("/api/observe/query", body, &j);
  if (!ok(st == 200, "query %.100s: 200", body)) tap_diag("  got %ld", st);
  int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "events"));
  if (out) *out = j;
  else cJSON_Delete(j);
  return n;
}

static void integration_collab_and_observe_flow(void) {
  cJSON *j = NULL;
  is_int(post("/api/collab/execute",
              "{\"collab_id\":\"flow-1\",\"participants\":[\"planner\"],"
              "\"context\":{\"task\":\"summarise\"}}",
              &j),
         200, "collab/execute answers 200");
  is_str(json_str(j, "status"), "in_progress", "the collaboration is in progress");
  cJSON_Delete(j);
  j = emit("{\"topic\":\"collab.flow\",\"event\":{\"collab_id\":\"flow-1\",\"step\":\"started\"},"
           "\"severity\":\"info\"}");
  is_str(json_str(j, "tenant"), "tenant-demo", "emit: tenant");
  is_str(json_str(j, "topic"), "collab.flow", "emit: topic");
  ok(obs_n(json_str(j, "event_id")) >= 0, "emit: event_id obs-<n> (%s)", json_str(j, "event_id"));
  ok(json_num(j, "ingested_at", 0) > 1.6e12, "emit: ingested_at in epoch ms");
  char id[64];
  snprintf(id, sizeof id, "%s", json_str(j, "event_id") ? json_str(j, "event_id") : "");
  cJSON_Delete(j);

  /* both are visible afterwards */
  is_int(query("{\"topic\":\"collab.flow\"}", &j), 1, "the event is visible");
  is_str(json_str(j, "events.0.event_id"), id, "with its id");
  is_str(json_str(j, "events.0.event.collab_id"), "flow-1", "and its body");
  is_str(json_str(j, "events.0.severity"), "info", "and its severity");
  is_str(json_str(j, "events.0.topic"), "collab.flow", "and its topic");
  ok(json_num(j, "events.0.ingested_at", 0) > 1.6e12, "and its time");
  cJSON_Delete(j);
  is_int(post("/api/collab/execute", "{\"collab_id\":\"flow-1\",\"participants\":[\"critic\"]}",
              &j),
         200, "the collaboration is still there");
  is_str(json_str(j, "context.task"), "summarise", "with its context");
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "participants")), 2, "and both participants");
  cJSON_Delete(j);
  j = emit("{\"topic\":\"collab.flow\",\"event\":{\"collab_id\":\"flow-1\",\"step\":\"resolved\"}}");
  cJSON_Delete(j);
  is_int(post("/api/collab/resolve", "{\"collab_id\":\"flow-1\",\"outcome\":\"ok\"}", &j), 200,
         "resolve");
  is_str(json_str(j, "status"), "resolved", "resolved");
  cJSON_Delete(j);
  is_int(query("{\"topic\":\"collab.flow\"}", &j), 2, "both events, in order of ingestion");
  is_str(json_str(j, "events.0.event.step"), "started", "first the first");
  is_str(json_str(j, "events.1.event.step"), "resolved", "then the second");
  cJSON_Delete(j);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void integration_observe_ids_and_filters(void) {
  cJSON *a = emit("{\"topic\":\"q.a\",\"event\":1,\"severity\":\"debug\"}");
  cJSON *b = emit("{\"topic\":\"q.b\",\"event\":\"two\",\"severity\":\"warn\"}");
  sleep_ms(20);
  cJSON *c = emit("{\"topic\":\"q.a\",\"event\":[3],\"severity\":\"error\"}");
  cJSON *d = emit("{\"topic\":\"q.a\",\"event\":{\"n\":4}}");
  long na = obs_n(json_str(a, "event_id")), nb = obs_n(json_str(b, "event_id"));
  long nc = obs_n(json_str(c, "event_id")), nd = obs_n(json_str(d, "event_id"));
  ok(na >= 0 && nb > na && nc > nb && nd > nc, "event ids obs-<n> increase (%ld %ld %ld %ld)", na,
     nb, nc, nd);
  double tc = json_num(c, "ingested_at", 0);

  cJSON *j = NULL;
  is_int(query("{\"topic\":\"q.a\"}", &j), 3, "topic filter");
  is_str(json_str(j, "events.0.event_id"), json_str(a, "event_id"), "oldest first");
  is_str(json_str(j, "events.2.event_id"), json_str(d, "event_id"), "newest last");
  is_str(json_str(j, "events.2.severity"), "info", "severity defaults to info");
  cJSON_Delete(j);
  is_int(query("{\"topic\":\"q.a\",\"severity\":\"error\"}", &j), 1, "severity filter");
  is_str(json_str(j, "events.0.event_id"), json_str(c, "event_id"), "the error event");
  cJSON_Delete(j);
  char body[128];
  snprintf(body, sizeof body, "{\"topic\":\"q.a\",\"since\":%.0f}", tc);
  is_int(query(body, NULL), 2, "since is inclusive: the events at and after it");
  snprintf(body, sizeof body, "{\"since\":%.0f,\"severity\":\"warn\"}", tc);
  is_int(query(body, NULL), 0, "since and severity together");
  is_int(query("{\"topic\":\"q.a\",\"limit\":2}", &j), 2, "limit");
  is_str(json_str(j, "events.0.event_id"), json_str(a, "event_id"), "limit keeps the oldest");
  cJSON_Delete(j);
  is_int(query("{\"topic\":\"q.none\"}", NULL), 0, "an unknown topic: no events");
  ok(query("{}", NULL) >= 4, "no filter: every event");
  ok(query("", NULL) >= 4, "no body at all: every event");
  is_int(query("{\"topic\":null,\"since\":null,\"severity\":null,\"limit\":null}", NULL),
         query("{}", NULL), "null filters are no filters");
  cJSON_Delete(a);
  cJSON_Delete(b);
  cJSON_Delete(c);
  cJSON_Delete(d);

  /* the trace id: given, from traceparent, or none */
  cJSON_Delete(emit("{\"topic\":\"q.trace\",\"event\":1,\"trace_id\":\"my-trace\"}"));
  http_resp r;
  const char *h[] = {"Content-Type: application/json", "Authorization: Bearer " TOKEN,
                     "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                     NULL};
  http(&gw, "POST", "/api/observe/emit", h, "{\"topic\":\"q.trace\",\"event\":2}", &r);
  is_int(r.status, 200, "emit with a traceparent");
  resp_free(&r);
  cJSON_Delete(emit("{\"topic\":\"q.trace\",\"event\":3}"));
  is_int(query("{\"topic\":\"q.trace\"}", &j), 3, "three traced events");
  is_str(json_str(j, "events.0.trace_id"), "my-trace", "trace_id as given");
  is_str(json_str(j, "events.1.trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736",
         "trace_id from traceparent");
  ok(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "events"), 2),
                                      "trace_id")),
     "no trace id: null");
  cJSON_Delete(j);
}

/* The value of the series topic="name" of soulgw_observe_events_total, or -1. */
static long topic_count(const char *metrics, const char *topic) {
  char want[256];
  snprintf(want, sizeof want, "soulgw_observe_events_total{topic=\"%s\"} ", topic);
  const char *p = strstr(metrics, want);
  return p ? atol(p + strlen(want)) : -1;
}

static int topic_series(const char *metrics) {
  int n = 0;
  for (const char *p = metrics; (p = strstr(p, "\nsoulgw_observe_events_total{")); p++) n++;
  return n;
}

static void integration_observe_topic_metric(void) {
  /* a gateway of its own, so that the first 100 topics are the ones emitted here */
  gwproc g;
  memset(&g, 0, sizeof g);
  char toml[4096]; /* topics are label values only when the operator opts in */
  snprintf(toml, sizeof toml, "%s\n[metrics]\ntenant_labels = true\n", HARNESS_DEFAULT_TOML);
  if (!ok(gw_start(&g, harness_soulgw_bin(), toml, NULL, NULL) == 0, "a fresh gateway starts"))
    return;
  char body[128];
  int fails = 0;
  for (int i = 0; i < 103; i++) {
    snprintf(body, sizeof body, "{\"topic\":\"m.topic-%03d\",\"event\":%d}", i, i);
    fails += post_to(&g, "/api/observe/emit", body, NULL) != 200;
  }
  for (int i = 0; i < 3; i++) fails += post_to(&g, "/api/observe/emit",
                                               "{\"topic\":\"m.topic-000\",\"event\":0}", NULL) != 200;
  fails += post_to(&g, "/api/observe/emit", "{\"topic\":\"m.topic-101\",\"event\":0}", NULL) != 200;
  is_int(fails, 0, "107 events emitted");
  /* a refused emit counts nothing */
  post_to(&g, "/api/observe/emit", "{\"topic\":\"m.refused\"}", NULL);
  http_resp r;
  http_get(&g, "/metrics", &r);
  is_int(topic_count(r.body, "m.topic-000"), 4, "the first topic: 4 events");
  is_int(topic_count(r.body, "m.topic-099"), 1, "the 100th topic has its own series");
  is_int(topic_count(r.body, "m.topic-100"), -1, "the 101st topic has none");
  is_int(topic_count(r.body, "other"), 4, "topics 101 to 103 count as other (4 events)");
  is_int(topic_count(r.body, "m.refused"), -1, "a refused event is not counted");
  is_int(topic_series(r.body), 101, "100 topic series and other");
  resp_free(&r);
  is_int(gw_stop(&g), 0, "the fresh gateway stops cleanly");
}

static void integration_observe_bad_input(void) {
  static const char *const E = "/api/observe/emit", *const Q = "/api/observe/query";
  const char *V = "SCHEMA.VALIDATION_FAILED";
  expect_error(E, "{\"event\":1}", 422, V, "topic is required", "missing topic");
  expect_error(E, "{\"topic\":\"\",\"event\":1}", 422, V, "topic must not be blank", "empty topic");
  expect_error(E, "{\"topic\":9,\"event\":1}", 422, V, "topic must be a string", "numeric topic");
  expect_error(E, "{\"topic\":\"bad.t\"}", 422, V, "event is required", "missing event");
  expect_error(E, "{\"topic\":\"bad.t\",\"event\":null}", 422, V, "event must not be null",
               "null event");
  expect_error(E, "{\"topic\":\"bad.t\",\"event\":1,\"severity\":\"fatal\"}", 422, V,
               "severity must be one of debug, info, warn, error", "severity fatal");
  expect_error(E, "{\"topic\":\"bad.t\",\"event\":1,\"severity\":3}", 422, V,
               "severity must be one of", "a numeric severity");
  expect_error(E, "{\"topic\":\"bad.t\",\"event\":1,\"severity\":\"INFO\"}", 422, V,
               "severity must be one of", "severity in capitals");
  expect_error(E, "{\"topic\":\"bad.t\",\"event\":1,\"trace_id\":{}}", 422, V,
               "trace_id must be a string", "trace_id an object");
  expect_error(E, "{\"topic\":\"bad\\u0001t\",\"event\":1}", 422, V, "control characters",
               "a control character in a topic");
  char *mb = repeat_char('t', 1 << 20);
  char *big = malloc((1 << 20) + 64);
  sprintf(big, "{\"topic\":\"%s\",\"event\":1}", mb);
  expect_error(E, big, 422, V, "topic is 1048576 bytes long", "a 1 MB topic");
  sprintf(big, "{\"topic\":\"bad.t\",\"event\":1,\"trace_id\":\"%s\"}", mb);
  expect_error(E, big, 422, V, "trace_id is 1048576 bytes long", "a 1 MB trace_id");
  sprintf(big, "{\"topic\":\"%s\"}", mb);
  expect_error(Q, big, 422, V, "topic is 1048576 bytes long", "query: a 1 MB topic");
  sprintf(big, "{\"topic\":\"big.event\",\"event\":\"%s\"}", mb);
  is_int(post(E, big, NULL), 200, "a 1 MB event is accepted");
  cJSON *j = NULL;
  is_int(query("{\"topic\":\"big.event\"}", &j), 1, "and stored");
  ok(json_str(j, "events.0.event") && strlen(json_str(j, "events.0.event")) == (1u << 20),
     "whole");
  cJSON_Delete(j);
  free(big);
  free(mb);
  is_int(query("{\"topic\":\"bad.t\"}", NULL), 0, "no refused event was stored");

  expect_error(Q, "{\"since\":-1}", 422, V, "since must be between 0", "a negative since");
  expect_error(Q, "{\"since\":\"yesterday\"}", 422, V, "since must be an integer", "since text");
  expect_error(Q, "{\"since\":1.5}", 422, V, "since must be an integer", "a fractional since");
  expect_error(Q, "{\"limit\":0}", 422, V, "limit must be between 1 and 1000", "limit 0");
  expect_error(Q, "{\"limit\":1001}", 422, V, "limit must be between 1 and 1000", "limit 1001");
  expect_error(Q, "{\"severity\":\"loud\"}", 422, V, "severity must be one of", "severity loud");
  expect_error(Q, "{\"topic\":[\"a\"]}", 422, V, "topic must be a string", "topic an array");
  check_malformed_bodies(&gw, E, TOKEN);
  check_malformed_bodies(&gw, Q, TOKEN);
}

static void integration_restart_keeps_everything(void) {
  gwproc g;
  memset(&g, 0, sizeof g);
  g.keep_db = 1;
  if (!ok(gw_start(&g, harness_soulgw_bin(), NULL, NULL, NULL) == 0, "a gateway starts")) return;
  cJSON *j = NULL;
  int fails = 0;
  fails += post_to(&g, "/api/collab/execute",
                   "{\"collab_id\":\"rs-c\",\"participants\":[\"p1\"],\"context\":{\"k\":\"v\"}}",
                   NULL) != 200;
  fails += post_to(&g, "/api/collab/execute", "{\"collab_id\":\"rs-done\"}", NULL) != 200;
  fails += post_to(&g, "/api/collab/resolve", "{\"collab_id\":\"rs-done\",\"outcome\":1}", NULL) !=
           200;
  fails += post_to(&g, "/api/repo/append",
                   "{\"repo\":\"rs\",\"record_id\":\"rs-1\",\"data\":{\"x\":1},"
                   "\"edges\":[{\"to\":\"rs-2\",\"label\":\"next\",\"props\":{\"w\":2}}]}",
                   NULL) != 200;
  fails += post_to(&g, "/api/repo/append", "{\"repo\":\"rs\",\"data\":{\"x\":2}}", &j) != 200;
  char auto_id[128];
  snprintf(auto_id, sizeof auto_id, "%s", json_str(j, "record_id") ? json_str(j, "record_id") : "");
  cJSON_Delete(j);
  fails += post_to(&g, "/api/observe/emit", "{\"topic\":\"rs.t\",\"event\":{\"e\":1}}", &j) != 200;
  long n1 = obs_n(json_str(j, "event_id"));
  cJSON_Delete(j);
  is_int(fails, 0, "writes through collab, repo and observe");

  is_int(gw_stop(&g), 0, "the gateway stops cleanly");
  if (!ok(gw_restart(&g, NULL) == 0, "and starts again on the same database")) {
    g.keep_db = 0;
    gw_stop(&g);
    return;
  }
  is_int(post_to(&g, "/api/repo/get", "{\"record_id\":\"rs-1\"}", &j), 200, "the record is back");
  is_int(json_num(j, "data.x", -1), 1, "with its data");
  cJSON_Delete(j);
  post_to(&g, "/api/repo/list", "{\"repo\":\"rs\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 2, "both records are listed");
  is_str(json_str(j, "records.1.record_id"), auto_id, "the default id too");
  cJSON_Delete(j);
  post_to(&g, "/api/graph/recall", "{\"node_id\":\"rs-1\"}", &j);
  is_str(json_str(j, "edges.0.to"), "rs-2", "the edge is back");
  is_str(json_str(j, "edges.0.label"), "next", "with its label");
  is_int(json_num(j, "edges.0.props.w", -1), 2, "and its props");
  cJSON_Delete(j);
  post_to(&g, "/api/observe/query", "{\"topic\":\"rs.t\"}", &j);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 1, "the event is back");
  is_int(json_num(j, "events.0.event.e", -1), 1, "with its body");
  cJSON_Delete(j);
  is_int(post_to(&g, "/api/collab/execute", "{\"collab_id\":\"rs-c\",\"participants\":[\"p2\"]}",
                 &j),
         200, "the collaboration is back");
  is_str(json_str(j, "context.k"), "v", "with its context");
  is_str(json_str(j, "participants.0"), "p1", "and its participants");
  ok(cJSON_GetArraySize(cJSON_GetObjectItem(j, "timeline")) >= 2, "and its timeline");
  cJSON_Delete(j);
  is_int(post_to(&g, "/api/collab/execute", "{\"collab_id\":\"rs-done\"}", NULL), 409,
         "a resolved collaboration stays resolved");
  /* the sequences go on where they were */
  post_to(&g, "/api/observe/emit", "{\"topic\":\"rs.t\",\"event\":2}", &j);
  long n2 = obs_n(json_str(j, "event_id"));
  ok(n2 > n1, "event ids go on increasing (%ld then %ld)", n1, n2);
  cJSON_Delete(j);
  post_to(&g, "/api/repo/append", "{\"repo\":\"rs\",\"data\":3}", &j);
  ok(json_str(j, "record_id") && strcmp(json_str(j, "record_id"), auto_id) != 0,
     "a new default id differs from the old one (%s)", json_str(j, "record_id"));
  cJSON_Delete(j);
  is_int(post_to(&g, "/api/repo/append", "{\"repo\":\"rs\",\"record_id\":\"rs-1\",\"data\":0}",
                 NULL),
         409, "an id taken before the restart is still taken");
  g.keep_db = 0;
  is_int(gw_stop(&g), 0, "stops cleanly again");
}

static const tap_test tests[] = {
    TEST(integration_collab_and_observe_flow),
    TEST(integration_observe_ids_and_filters),
    TEST(integration_observe_topic_metric),
    TEST(integration_observe_bad_input),
    TEST(integration_restart_keeps_everything),
};

int main(void) {
  static const char *const env[] = {"GATEWAY__SERVER__MAX_BODY_BYTES=4194304", NULL};
  return tap_with_gateway(&gw, harness_soulgw_bin(), NULL, env, tests, TAP_COUNT(tests));
}

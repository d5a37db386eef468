/*
 * metrics.c -- unit tests of lib/base/metrics.c: stable route ids, per-route request counters and
 * duration histograms in the Prometheus text format and in JSON, labelled families with a
 * bounded number of series, label escaping and build information; counts made on many threads
 * (more than there are shards) add up exactly.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/metrics.h"
#include "pipeline/router.h"
#include "base/sg.h"
#include "tap.h"

static char *render_text(sg_metrics *m) {
  sg_buf b;
  sg_buf_init(&b, 0);
  int rc = sg_metrics_render_text(m, &b);
  is_int(rc, 0, "render_text succeeds");
  return sg_buf_detach(&b, NULL);
}

static char *render_json(sg_metrics *m) {
  sg_buf b;
  sg_buf_init(&b, 0);
  int rc = sg_metrics_render_json(m, &b);
  is_int(rc, 0, "render_json succeeds");
  return sg_buf_detach(&b, NULL);
}

/* 1 when text holds line as a whole line. */
static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; p && (p = strstr(p, line)); p++)
    if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
  return 0;
}

#define has_line_ok(text, line, ...)                                                    \
  do {                                                                                  \
    if (!tap_ok(has_line(text, line), __FILE__, __LINE__, __VA_ARGS__))                 \
      tap_diag("  no line \"%s\"", line);                                               \
  } while (0)

/* Number of lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix) {
  int n = 0;
  size_t k = strlen(prefix);
  for (const char *p = text; p && *p;) {
    if (strncmp(p, prefix, k) == 0) n++;
    p = strchr(p, '\n');
    if (p) p++;
  }
  return n;
}

static void unit_metrics_route_ids_stable(void) {
  sg_metrics *m = sg_metrics_new();
  ok(m != NULL, "sg_metrics_new");
  is_int(sg_metrics_route(m, "unmatched"), SG_METRICS_UNMATCHED, "\"unmatched\" is id 0");
  int a = sg_metrics_route(m, "a"), b = sg_metrics_route(m, "b");
  is_int(a, 1, "the first route is 1");
  is_int(b, 2, "the second is 2");
  is_int(sg_metrics_route(m, "a"), a, "asking again gives the same id");
  is_int(sg_metrics_route(m, "b"), b, "for every route");
  is_int(sg_metrics_route(m, "c"), 3, "a new name gets the next id");
  int last = 0;
  for (int i = 4; i < SG_METRICS_MAX_ROUTES; i++) {
    char name[32];
    snprintf(name, sizeof name, "r%d", i);
    last = sg_metrics_route(m, name);
  }
  is_int(last, SG_METRICS_MAX_ROUTES - 1, "the table fills up to SG_METRICS_MAX_ROUTES");
  is_int(sg_metrics_route(m, "one-too-many"), SG_METRICS_UNMATCHED,
         "a full table gives SG_METRICS_UNMATCHED");
  is_int(sg_metrics_route(m, "b"), b, "known names keep their id when the table is full");
  sg_metrics_free(m);
  sg_metrics_free(NULL);
}

#define RT "soulgw_http_requests_total{route=\"tools_execute\","

static void unit_metrics_request_counters_text(void) {
  sg_metrics *m = sg_metrics_new();
  int a = sg_metrics_route(m, "tools_execute");
  sg_metrics_route(m, "idle"); /* never used: no series */
  sg_metrics_request(m, a, SG_M_POST, 200, 150000);     /* 0.15 ms */
  sg_metrics_request(m, a, SG_M_POST, 200, 100000);     /* exactly 0.1 ms */
  sg_metrics_request(m, a, SG_M_GET, 404, 3000000);     /* 3 ms */
  sg_metrics_request(m, a, 0, 418, 20000000000ULL);     /* 20 s, unknown method */
  sg_metrics_request(m, a, SG_M_DELETE, 503, 1000000);  /* 1 ms */
  sg_metrics_request(m, 9999, SG_M_GET, 404, 50000);    /* unknown id: unmatched */
  sg_metrics_request(m, -1, SG_M_GET, 404, 50000);      /* negative id: unmatched */
  char *t = render_text(m);
  has_line_ok(t, "# HELP soulgw_http_requests_total HTTP requests by route, method and status.",
              "HELP line");
  has_line_ok(t, "# TYPE soulgw_http_requests_total counter", "TYPE line");
  has_line_ok(t, RT "method=\"POST\",code=\"200\"} 2",
              "counter by route, method and code");
  has_line_ok(t, RT "method=\"GET\",code=\"404\"} 1",
              "a 404");
  has_line_ok(t, RT "method=\"OTHER\",code=\"4xx\"} 1",
              "an unknown method and an uncommon status are counted by class");
  has_line_ok(t, RT "method=\"DELETE\",code=\"503\"} 1",
              "a 503");
  has_line_ok(t, "soulgw_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"} 2",
              "out-of-range route ids count as unmatched");
  is_int(count_lines(t, "soulgw_http_requests_total{"), 5, "no series for zero counts");
  ok(!strstr(t, "route=\"idle\""), "an idle route has no series at all");

  has_line_ok(t, "# TYPE soulgw_http_request_duration_seconds histogram", "histogram TYPE");
  static const struct {
    const char *le;
    int cum;
  } want[] = {{"0.0001", 1}, {"0.00025", 2}, {"0.0005", 2}, {"0.001", 3}, {"0.0025", 3},
              {"0.005", 4},  {"0.01", 4},    {"0.025", 4},  {"0.05", 4},  {"0.1", 4},
              {"0.25", 4},   {"0.5", 4},     {"1", 4},      {"2.5", 4},   {"5", 4},
              {"10", 4},     {"+Inf", 5}};
  char line[256];
  for (size_t i = 0; i < SG_ARRAY_LEN(want); i++) {
    snprintf(line, sizeof line,
             "soulgw_http_request_duration_seconds_bucket{route=\"tools_execute\",le=\"%s\"} %d",
             want[i].le, want[i].cum);
    has_line_ok(t, line, "bucket le=%s is cumulative (%d)", want[i].le, want[i].cum);
  }
  is_int(count_lines(t, "soulgw_http_request_duration_seconds_bucket{route=\"tools_execute\""),
         17, "16 buckets and +Inf");
  has_line_ok(t, "soulgw_http_request_duration_seconds_sum{route=\"tools_execute\"} 20.004250000",
              "_sum in seconds");
  has_line_ok(t, "soulgw_http_request_duration_seconds_count{route=\"tools_execute\"} 5",
              "_count");
  has_line_ok(t, "soulgw_http_request_duration_seconds_count{route=\"unmatched\"} 2",
              "unmatched has its histogram too");
  ok(!strstr(t, "soulgw_http_request_duration_seconds_count{route=\"idle\"}"),
     "no histogram for an idle route");
  has_line_ok(t, "soulgw_http_requests_in_flight 0", "in-flight gauge");
  has_line_ok(t, "# TYPE process_open_fds gauge", "process metrics are there");
  has_line_ok(t, "# TYPE process_start_time_seconds gauge", "process start time");
  free(t);

  sg_metrics_inflight(m, 3);
  sg_metrics_inflight(m, -1);
  t = render_text(m);
  has_line_ok(t, "soulgw_http_requests_in_flight 2", "in-flight counts up and down");
  free(t);
  sg_metrics_free(m);
}

static void unit_metrics_status_classes(void) {
  sg_metrics *m = sg_metrics_new();
  int r = sg_metrics_route(m, "r");
  sg_metrics_request(m, r, SG_M_GET, 101, 1);
  sg_metrics_request(m, r, SG_M_GET, 299, 1);
  sg_metrics_request(m, r, SG_M_GET, 308, 1);
  sg_metrics_request(m, r, SG_M_GET, 599, 1);
  sg_metrics_request(m, r, SG_M_GET, 429, 1);
  sg_metrics_request(m, r, SG_M_HEAD, 200, 1);
  char *t = render_text(m);
  has_line_ok(t, "soulgw_http_requests_total{route=\"r\",method=\"GET\",code=\"1xx\"} 1", "1xx");
  has_line_ok(t, "soulgw_http_requests_total{route=\"r\",method=\"GET\",code=\"2xx\"} 1", "2xx");
  has_line_ok(t, "soulgw_http_requests_total{route=\"r\",method=\"GET\",code=\"3xx\"} 1", "3xx");
  has_line_ok(t, "soulgw_http_requests_total{route=\"r\",method=\"GET\",code=\"5xx\"} 1", "5xx");
  has_line_ok(t, "soulgw_http_requests_total{route=\"r\",method=\"GET\",code=\"429\"} 1",
              "429 is a known code");
  has_line_ok(t, "soulgw_http_requests_total{route=\"r\",method=\"HEAD\",code=\"200\"} 1",
              "HEAD is its own method");
  free(t);
  sg_metrics_free(m);
}

static void unit_metrics_json(void) {
  sg_metrics *m = sg_metrics_new();
  char *j = render_json(m);
  is_str(j, "{\"total_requests\":0,\"total_errors\":0,\"in_flight\":0,\"routes\":[]}",
         "JSON of a fresh registry");
  free(j);
  int a = sg_metrics_route(m, "repo_append");
  int b = sg_metrics_route(m, "we\"ird\\name");
  sg_metrics_route(m, "idle");
  sg_metrics_request(m, a, SG_M_POST, 201, 1000000);
  sg_metrics_request(m, a, SG_M_POST, 409, 2000000);
  sg_metrics_request(m, a, SG_M_POST, 500, 6000000);
  sg_metrics_request(m, b, SG_M_GET, 200, 500000);
  sg_metrics_request(m, SG_METRICS_UNMATCHED, SG_M_GET, 404, 100000);
  sg_metrics_inflight(m, 1);
  j = render_json(m);
  is_str(j,
         "{\"total_requests\":5,\"total_errors\":3,\"in_flight\":1,\"routes\":["
         "{\"route\":\"unmatched\",\"requests\":1,\"errors\":1,\"avg_latency_ms\":0.100},"
         "{\"route\":\"repo_append\",\"requests\":3,\"errors\":2,\"avg_latency_ms\":3.000},"
         "{\"route\":\"we\\\"ird\\\\name\",\"requests\":1,\"errors\":0,\"avg_latency_ms\":0.500}]}",
         "JSON with totals and per-route fields, idle routes left out");
  soulgw_json *v = NULL;
  char err[128] = "";
  is_int(soulgw_json_parse(j, strlen(j), &v, err, sizeof err), 0, "the JSON parses strictly");
  soulgw_json *routes = soulgw_json_get(v, "routes");
  is_int(soulgw_json_size(routes), 3, "three routes");
  soulgw_json *r2 = soulgw_json_next(soulgw_json_next(soulgw_json_first(routes)));
  is_str(soulgw_json_string(soulgw_json_get(r2, "route")), "we\"ird\\name",
         "a route name with quotes and backslashes survives");
  soulgw_json_free(v);
  free(j);

  char *t = render_text(m);
  has_line_ok(t,
              "soulgw_http_requests_total{route=\"we\\\"ird\\\\name\","
              "method=\"GET\",code=\"200\"} 1",
              "Prometheus escapes the route name");
  free(t);
  sg_metrics_free(m);
}

static void unit_metrics_family_counter_limits(void) {
  sg_metrics *m = sg_metrics_new();
  sg_family *f = sg_metrics_family(m, "soulgw_tool_calls_total", "Tool calls by tool and status.",
                                   "tool,status", 2, NULL);
  ok(f != NULL, "a counter family");
  const char *v1[] = {"search", "ok"}, *v2[] = {"fetch", "ok"}, *v3[] = {"t3", "error"},
             *v4[] = {"t4", "ok"}, *other[] = {"other", "other"};
  sg_family_add(f, v1, 1);
  sg_family_add(f, v1, 2);
  sg_family_add(f, v2, 5);
  sg_family_add(f, v3, 7);  /* beyond max_series 2 */
  sg_family_add(f, v4, 11); /* beyond too */
  is_int(sg_family_get(f, v1), 3, "a series adds up");
  is_int(sg_family_get(f, v2), 5, "the second series");
  is_int(sg_family_get(f, v3), 0, "a series beyond the limit has no value of its own");
  is_int(sg_family_get(f, other), 18, "everything beyond the limit is counted as other");
  sg_family_add(f, v1, 1);
  is_int(sg_family_get(f, v1), 4, "existing series still count after the limit is hit");
  const char *absent[] = {"nope", "ok"};
  is_int(sg_family_get(f, absent), 0, "an absent series reads 0");
  ok(sg_family_get(NULL, v1) == 0, "get on a NULL family reads 0");
  sg_family_add(NULL, v1, 1); /* must not crash */
  char *t = render_text(m);
  has_line_ok(t, "# HELP soulgw_tool_calls_total Tool calls by tool and status.", "HELP");
  has_line_ok(t, "# TYPE soulgw_tool_calls_total counter", "TYPE counter");
  has_line_ok(t, "soulgw_tool_calls_total{tool=\"search\",status=\"ok\"} 4", "first series");
  has_line_ok(t, "soulgw_tool_calls_total{tool=\"fetch\",status=\"ok\"} 5", "second series");
  has_line_ok(t, "soulgw_tool_calls_total{tool=\"other\",status=\"other\"} 18", "the other series");
  is_int(count_lines(t, "soulgw_tool_calls_total{"), 3, "never more than max_series + 1 series");
  free(t);

  sg_family *plain = sg_metrics_family(m, "soulgw_reloads_total", "Reloads.", "", 1, NULL);
  sg_family_add(plain, NULL, 3);
  is_int(sg_family_get(plain, NULL), 3, "a family without labels");
  t = render_text(m);
  has_line_ok(t, "soulgw_reloads_total 3", "rendered without braces");
  free(t);
  sg_metrics_free(m);
}

static void unit_metrics_label_escaping(void) {
  sg_metrics *m = sg_metrics_new();
  sg_family *f = sg_metrics_family(m, "soulgw_x_total", "X.", "v", 10, NULL);
  const char *v[] = {"a\"b\\c\nd"};
  sg_family_add(f, v, 1);
  is_int(sg_family_get(f, v), 1, "the series is found by its raw value");
  sg_metrics_set_build(m, "0.1.0", "abc\"de\\f\ng");
  char *t = render_text(m);
  has_line_ok(t, "soulgw_x_total{v=\"a\\\"b\\\\c\\nd\"} 1",
              "quotes, backslashes and newlines are escaped in label values");
  has_line_ok(t, "# TYPE soulgw_build_info gauge", "build info TYPE");
  has_line_ok(t, "soulgw_build_info{version=\"0.1.0\",commit=\"abc\\\"de\\\\f\\ng\"} 1",
              "build info with an escaped commit");
  free(t);
  sg_metrics_set_build(m, "0.2.0", "deadbeef");
  t = render_text(m);
  has_line_ok(t, "soulgw_build_info{version=\"0.2.0\",commit=\"deadbeef\"} 1",
              "set_build replaces the earlier values");
  free(t);
  sg_metrics_free(m);

  m = sg_metrics_new();
  t = render_text(m);
  has_line_ok(t, "soulgw_build_info{version=\"\",commit=\"\"} 1", "build info before set_build");
  free(t);
  sg_metrics_free(m);
}

static void unit_metrics_family_histogram(void) {
  sg_metrics *m = sg_metrics_new();
  static const double buckets[] = {0.01, 0.1, 1, 0};
  sg_family *h = sg_metrics_family(m, "soulgw_llm_seconds", "LLM call duration.", "provider", 1,
                                   buckets);
  ok(h != NULL, "a histogram family");
  const char *p[] = {"openai"}, *q[] = {"vllm"};
  sg_family_observe(h, p, 5000000);    /* 5 ms */
  sg_family_observe(h, p, 50000000);   /* 50 ms */
  sg_family_observe(h, p, 100000000);  /* exactly 0.1 s: le is inclusive */
  sg_family_observe(h, p, 2000000000); /* 2 s */
  sg_family_observe(h, q, 1000);       /* beyond max_series 1: other */
  is_int(sg_family_get(h, p), 4, "sg_family_get of a histogram is its count");
  char *t = render_text(m);
  has_line_ok(t, "# TYPE soulgw_llm_seconds histogram", "TYPE histogram");
  has_line_ok(t, "soulgw_llm_seconds_bucket{provider=\"openai\",le=\"0.01\"} 1", "le=0.01");
  has_line_ok(t, "soulgw_llm_seconds_bucket{provider=\"openai\",le=\"0.1\"} 3",
              "le=0.1 is cumulative and inclusive");
  has_line_ok(t, "soulgw_llm_seconds_bucket{provider=\"openai\",le=\"1\"} 3", "le=1");
  has_line_ok(t, "soulgw_llm_seconds_bucket{provider=\"openai\",le=\"+Inf\"} 4", "+Inf");
  has_line_ok(t, "soulgw_llm_seconds_sum{provider=\"openai\"} 2.155000000", "_sum");
  has_line_ok(t, "soulgw_llm_seconds_count{provider=\"openai\"} 4", "_count");
  has_line_ok(t, "soulgw_llm_seconds_bucket{provider=\"other\",le=\"0.01\"} 1",
              "the overflow series is a histogram too");
  has_line_ok(t, "soulgw_llm_seconds_count{provider=\"other\"} 1", "with its count");
  free(t);

  /* observe on a counter family does nothing. */
  sg_family *c = sg_metrics_family(m, "soulgw_c_total", "C.", "k", 4, NULL);
  const char *k[] = {"x"};
  sg_family_observe(c, k, 1000);
  is_int(sg_family_get(c, k), 0, "observe on a counter family is ignored");
  sg_family_observe(NULL, k, 1000); /* must not crash */
  sg_metrics_free(m);
}

/* Issue 7, finding 17: names a tenant chose are label values only when the operator opts in. */
static void unit_metrics_tenant_labels(void) {
  sg_metrics *m = sg_metrics_new();
  is_str(sg_metrics_label(m, "acme.tool", "all"), "all", "by default a tenant's name is aggregated");
  sg_metrics_set_tenant_labels(m, 1);
  is_str(sg_metrics_label(m, "acme.tool", "all"), "acme.tool", "opted in: the name itself");
  sg_metrics_set_tenant_labels(m, 0);
  is_str(sg_metrics_label(m, "acme.tool", "all"), "all", "and off again (a reload)");
  sg_metrics_free(m);
}


/* Counts made at once on more threads than there are shards (shard.h) add up exactly, whichever
 * shard a thread counted into; a request counted in on one thread and out on another leaves the
 * in-flight gauge at 0. */
#define COUNTERS 20
#define COUNTS 5000
typedef struct counter_arg {
  sg_metrics *m;
  sg_family *fam, *hist;
  int route;
  pthread_barrier_t *go;
  sg_family *gauge; /* moved up by the counters, down by the others */
} counter_arg;

static void *count_main(void *p) {
  counter_arg *a = p;
  const char *v[] = {"echo"};
  pthread_barrier_wait(a->go);
  for (int i = 0; i < COUNTS; i++) {
    sg_metrics_inflight(a->m, 1);
    sg_metrics_request(a->m, a->route, SG_M_POST, i % 10 ? 200 : 503, 150000);
    sg_family_add(a->fam, v, 2);
    sg_family_observe(a->hist, v, 5000000);
    sg_family_move(a->gauge, v, 1);
  }
  return NULL;
}

static void *uncount_main(void *p) {
  counter_arg *a = p;
  pthread_barrier_wait(a->go);
  const char *v[] = {"echo"};
  for (int i = 0; i < COUNTS; i++) {
    sg_metrics_inflight(a->m, -1);
    sg_family_move(a->gauge, v, i % 2 ? -2 : 0);
  }
  return NULL;
}

static void unit_metrics_threads_add_up(void) {
  sg_metrics *m = sg_metrics_new();
  static const double buckets[] = {0.01, 0.1, 0};
  counter_arg a = {m, sg_metrics_family(m, "soulgw_t_total", "T.", "tool", 4, NULL),
                   sg_metrics_family(m, "soulgw_t_seconds", "T.", "tool", 4, buckets),
                   sg_metrics_route(m, "tools_execute"), NULL,
                   sg_metrics_gauge(m, "soulgw_t_open", "T.", "tool", 4)};
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, 2 * COUNTERS);
  a.go = &go;
  pthread_t t[2 * COUNTERS];
  for (int i = 0; i < 2 * COUNTERS; i++)
    pthread_create(&t[i], NULL, i % 2 ? uncount_main : count_main, &a);
  for (int i = 0; i < 2 * COUNTERS; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&go);
  const char *v[] = {"echo"};
  is_int(sg_family_get(a.fam, v), 2 * COUNTERS * COUNTS, "a counter added to on %d threads",
         COUNTERS);
  is_int(sg_family_get(a.hist, v), COUNTERS * COUNTS, "a histogram observed on %d threads",
         COUNTERS);
  is_int(sg_metrics_inflight_value(m), 0, "counted in on some threads, out on others: 0");
  is_int(sg_family_get(a.gauge, v), 0, "a gauge moved up on some threads, down on others: 0");
  char *t_ = render_text(m);
  char line[160];
  snprintf(line, sizeof line, RT "method=\"POST\",code=\"200\"} %d", COUNTERS * COUNTS * 9 / 10);
  has_line_ok(t_, line, "the 200s of every thread");
  snprintf(line, sizeof line, RT "method=\"POST\",code=\"503\"} %d", COUNTERS * COUNTS / 10);
  has_line_ok(t_, line, "the 503s of every thread");
  snprintf(line, sizeof line,
           "soulgw_http_request_duration_seconds_count{route=\"tools_execute\"} %d",
           COUNTERS * COUNTS);
  has_line_ok(t_, line, "the duration count of every thread");
  snprintf(line, sizeof line, "soulgw_t_seconds_bucket{tool=\"echo\",le=\"0.01\"} %d",
           COUNTERS * COUNTS);
  has_line_ok(t_, line, "a family's buckets of every thread");
  has_line_ok(t_, "soulgw_http_requests_in_flight 0", "the in-flight gauge");
  has_line_ok(t_, "soulgw_t_open{tool=\"echo\"} 0", "a moved gauge");
  free(t_);
  char *j = render_json(m);
  snprintf(line, sizeof line, "\"total_requests\":%d,\"total_errors\":%d,\"in_flight\":0",
           COUNTERS * COUNTS, COUNTERS * COUNTS / 10);
  has_str(j, line, "JSON totals of every thread");
  free(j);
  sg_metrics_free(m);
}

static const tap_test tests[] = {
    TEST(unit_metrics_route_ids_stable),
    TEST(unit_metrics_request_counters_text),
    TEST(unit_metrics_status_classes),
    TEST(unit_metrics_json),
    TEST(unit_metrics_family_counter_limits),
    TEST(unit_metrics_label_escaping),
    TEST(unit_metrics_family_histogram),
    TEST(unit_metrics_tenant_labels),
    TEST(unit_metrics_threads_add_up),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

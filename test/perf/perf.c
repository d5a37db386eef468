/*
 * perf.c -- the runbook's perf_* load scenarios (`make perf`, filter with T=perf_tools).
 *
 * Each scenario starts its own gateway (the release build), sends a number of requests from a
 * number of concurrent keep-alive clients, and prints one line:
 *
 *   [perf] route=/api/tools/execute total=200 success=200 avg_ms=0.41 p95_ms=0.80 p99_ms=1.20 throughput_rps=9512.3
 *
 * Defaults follow the runbook (tools 200/16, collab 150/12, llm 150/8) and are overridden by
 * GATEWAY_PERF_ITERATIONS_<name> and GATEWAY_PERF_CONCURRENCY_<name>.  These are measurements,
 * not assertions: they never fail on a slow machine.  A scenario fails only when requests fail.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

typedef struct scenario {
  const char *name;   /* env suffix: tools, collab, llm, ... */
  const char *route;
  const char *body;   /* %d is replaced by the request number; NULL for a GET */
  int iterations, concurrency;
} scenario;

typedef struct load {
  const scenario *sc;
  gwproc *gw;
  int next;           /* next request number, shared */
  pthread_mutex_t lock;
  double *lat_ms;     /* per request */
  int success;
} load;

static size_t discard(char *p, size_t s, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return s * n;
}

static void *client(void *arg) {
  load *l = arg;
  CURL *c = curl_easy_init();
  char url[256], body[1024];
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  h = curl_slist_append(h, "Authorization: Bearer test-token");
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", l->gw->port, l->sc->route);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  for (;;) {
    pthread_mutex_lock(&l->lock);
    int i = l->next++;
    pthread_mutex_unlock(&l->lock);
    if (i >= l->sc->iterations) break;
    if (l->sc->body) { /* NULL: a GET */
      snprintf(body, sizeof body, l->sc->body, i);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    long long t0 = now_ms();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CURLcode rc = curl_easy_perform(c);
    clock_gettime(CLOCK_MONOTONIC, &b);
    (void)t0;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    l->lat_ms[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    if (rc == CURLE_OK && status >= 200 && status < 300) {
      pthread_mutex_lock(&l->lock);
      l->success++;
      pthread_mutex_unlock(&l->lock);
    }
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int env_int(const char *prefix, const char *name, int def) {
  char var[128];
  snprintf(var, sizeof var, "%s%s", prefix, name);
  const char *v = getenv(var);
  return v && atoi(v) > 0 ? atoi(v) : def;
}

static void run(gwproc *gw, scenario sc) {
  sc.iterations = env_int("GATEWAY_PERF_ITERATIONS_", sc.name, sc.iterations);
  sc.concurrency = env_int("GATEWAY_PERF_CONCURRENCY_", sc.name, sc.concurrency);
  load l = {&sc, gw, 0, PTHREAD_MUTEX_INITIALIZER, calloc((size_t)sc.iterations, sizeof(double)), 0};
  pthread_t *t = calloc((size_t)sc.concurrency, sizeof *t);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < sc.concurrency; i++) pthread_create(&t[i], NULL, client, &l);
  for (int i = 0; i < sc.concurrency; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  double sum = 0;
  for (int i = 0; i < sc.iterations; i++) sum += l.lat_ms[i];
  qsort(l.lat_ms, (size_t)sc.iterations, sizeof(double), cmp_double);
  int p95 = (int)(0.95 * (sc.iterations - 1)), p99 = (int)(0.99 * (sc.iterations - 1));
  printf("# [perf] route=%s total=%d success=%d avg_ms=%.2f p95_ms=%.2f p99_ms=%.2f "
         "throughput_rps=%.1f\n",
         sc.route, sc.iterations, l.success, sum / sc.iterations, l.lat_ms[p95], l.lat_ms[p99],
         sc.iterations / secs);
  fprintf(stderr, "[perf] route=%s total=%d success=%d avg_ms=%.2f p95_ms=%.2f p99_ms=%.2f "
                  "throughput_rps=%.1f\n",
          sc.route, sc.iterations, l.success, sum / sc.iterations, l.lat_ms[p95], l.lat_ms[p99],
          sc.iterations / secs);
  is_int(l.success, sc.iterations, "%s: every request succeeded", sc.route);
  free(l.lat_ms);
  free(t);
}

static gwproc gw;

static void perf_tools_execute_smoke(void) {
  run(&gw, (scenario){"tools", "/api/tools/execute",
                      "{\"tool_id\":\"demo.echo\",\"input\":{\"text\":\"hello %d\"}}", 200, 16});
}

static void perf_collab_execute_smoke(void) {
  run(&gw, (scenario){"collab", "/api/collab/execute",
                      "{\"collab_id\":\"perf-%d\",\"participants\":[\"planner\",\"critic\"],"
                      "\"context\":{\"goal\":\"load\"},\"note\":\"perf\"}",
                      150, 12});
}

static void perf_llm_complete_smoke(void) {
  run(&gw, (scenario){"llm", "/api/llm/complete", "{\"prompt\":\"hello number %d\"}", 150, 8});
}

static void perf_repo_append_smoke(void) {
  run(&gw, (scenario){"repo", "/api/repo/append",
                      "{\"repo\":\"docs\",\"data\":{\"n\":%d},\"edges\":[{\"to\":\"doc:target\"}]}",
                      400, 32});
}

static void perf_health_smoke(void) {
  run(&gw, (scenario){"health", "/health", NULL, 2000, 16});
}

/* Start-up to the first answered /health, and resident memory when idle. */
static void perf_startup_and_idle_memory(void) {
  gwproc g;
  long long t0 = now_ms();
  if (gw_start(&g, harness_soulgw_bin(), NULL, NULL, NULL) != 0) return;
  long long took = now_ms() - t0; /* includes the harness's port-file polling (50 ms steps) */
  char path[64], line[256];
  long rss_kb = 0;
  snprintf(path, sizeof path, "/proc/%d/status", (int)g.pid);
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &rss_kb) == 1) break;
  if (f) fclose(f);
  /* the gateway's own measure, from its log line "listening": process start excluded */
  double own = -1;
  FILE *log = fopen(g.errlog, "r");
  char buf[4096];
  while (log && fgets(buf, sizeof buf, log)) {
    const char *p = strstr(buf, "\"startup_ms\":");
    if (p) own = atof(p + 13);
  }
  if (log) fclose(log);
  printf("# [perf] startup_ms=%.1f (to the first answer, seen from outside: <= %lld) "
         "idle_rss_kb=%ld\n", own, took, rss_kb);
  fprintf(stderr, "[perf] startup_ms=%.1f (seen from outside: <= %lld, polled every 50 ms) "
                  "idle_rss_kb=%ld\n", own, took, rss_kb);
  ok(rss_kb > 0, "idle resident memory measured");
  gw_stop(&g);
}

static const tap_test tests[] = {
    TEST(perf_tools_execute_smoke), TEST(perf_collab_execute_smoke),
    TEST(perf_llm_complete_smoke),  TEST(perf_repo_append_smoke),
    TEST(perf_health_smoke),
};

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (tap_want(tests, TAP_COUNT(tests))) {
    static const char *const quiet[] = {"GATEWAY__LOG__ACCESS=false", "GATEWAY__LOG__LEVEL=warn",
                                        "GATEWAY__STORAGE__SYNCHRONOUS=full", NULL};
    if (gw_start(&gw, harness_soulgw_bin(), NULL, quiet, NULL) != 0) {
      ok(0, "the gateway starts");
      return tap_done();
    }
    tap_run(tests, TAP_COUNT(tests));
    gw_stop(&gw);
  }
  RUN(perf_startup_and_idle_memory);
  curl_global_cleanup();
  return tap_done();
}

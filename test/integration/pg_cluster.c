/*
 * pg_cluster.c -- two soulgw instances on one PostgreSQL (SPEC-cluster.md): what one writes the
 * other reads (records, idempotency records); a registry published or activated on one is used
 * by the other without a restart (LISTEN/NOTIFY), also after the listening connections were
 * killed (the watch reconnects and reloads everything); PostgreSQL stopped and started again
 * under load gives 503s, a degraded /health naming storage and one log line each way, and
 * service back without restarting soulgw; and an instance SIGKILLed during concurrent appends
 * loses nothing it acknowledged while the other keeps serving.  Nothing is timed: every wait
 * polls for the behaviour with a generous bound.  And soulgw --check says whether the server
 * answers, without the URI.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "pgserver.h"
#include "tap.h"

#define TOKEN "test-token"

static gwproc ga, gb;
static char url[256], toml[8192];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* HARNESS_DEFAULT_TOML with its [storage] on PostgreSQL, the URI from GATEWAY_PG_URL. */
static void make_toml(void) {
  const char *d = HARNESS_DEFAULT_TOML, *s = strstr(d, "[storage]\n");
  snprintf(toml, sizeof toml,
           "%.*s[storage]\nbackend = \"postgres\"\nurl_env = \"GATEWAY_PG_URL\"\npool = 3\n"
           "statement_timeout_ms = 4000\n%s",
           (int)(s - d), d, s + strlen("[storage]\n"));
}

static const char *const *env(void) {
  static char var[300];
  static const char *e[2];
  snprintf(var, sizeof var, "GATEWAY_PG_URL=%s", url);
  e[0] = var;
  return e;
}

/* GET path: the status, and the body in *body (to free) when body is not NULL. */
static long get(gwproc *g, const char *path, char **body) {
  http_resp r = {0};
  long st = http(g, "GET", path, (const char *[]){"Authorization: Bearer " TOKEN, NULL}, NULL,
                 &r) == 0 ? r.status : -1;
  if (body) *body = r.body;
  else free(r.body);
  free(r.headers);
  return st;
}

/* POSTs body to path on g until it answers want, for up to ms: the last status. */
static long post_until(gwproc *g, const char *path, const char *body, long want, int ms) {
  long st = -1;
  for (long long end = now_ms() + ms; st != want && now_ms() < end;) {
    st = post_json(g, TOKEN, path, body, NULL);
    if (st != want) sleep_ms(50);
  }
  return st;
}

/* The value of the metric series name (with its labels) on g, or -1. */
static long long metric(gwproc *g, const char *name) {
  char *text = NULL, want[128];
  long long v = -1;
  snprintf(want, sizeof want, "\n%s ", name);
  if (get(g, "/metrics", &text) == 200 && text && strstr(text, want))
    v = atoll(strstr(text, want) + strlen(want));
  free(text);
  return v;
}

static void integration_pg_cluster_shared_state(void) {
  is_int(post_json(&ga, TOKEN, "/api/repo/append",
                   "{\"repo\":\"c\",\"record_id\":\"c-1\",\"data\":{\"x\":1}}", NULL),
         200, "append on A");
  cJSON *j = NULL;
  is_int(post_json(&gb, TOKEN, "/api/repo/get", "{\"record_id\":\"c-1\"}", &j), 200,
         "read on B");
  is_int((long long)json_num(j, "data.x", -1), 1, "with A's data");
  cJSON_Delete(j);
  const char *exec = "{\"tool_id\":\"demo.echo\",\"input\":{\"n\":7},\"idempotency_key\":\"cl-k\"}";
  http_resp r;
  is_int(http_post(&ga, "/api/tools/execute", TOKEN, exec, &r), 0, "execute with a key on A");
  is_int(r.status, 200, "200");
  resp_free(&r);
  is_int(http_post(&gb, "/api/tools/execute", TOKEN, exec, &r), 0, "the same key on B");
  is_int(r.status, 200, "200");
  is_str(resp_header(&r, "Idempotent-Replayed"), "true", "replayed from A's record");
  resp_free(&r);
}

static void integration_pg_cluster_registry_propagates(void) {
  const char *v1 = "{\"version\":\"cl-v1\",\"manifests\":[{\"tenant\":\"tenant-demo\","
                   "\"id\":\"cl.one\",\"version\":\"1\",\"handler\":\"builtin:echo\"}]}";
  const char *one = "{\"tool_id\":\"cl.one\",\"input\":{\"a\":1}}";
  long long before = metric(&gb, "soulgw_registry_notifications_total");
  ok(before >= 0, "B counts registry notifications");
  is_int(post_json(&gb, TOKEN, "/api/tools/execute", one, NULL), 403, "B does not know cl.one");
  long long t0 = now_ms();
  is_int(post_json(&ga, TOKEN, "/api/config/tools", v1, NULL), 200, "publish cl-v1 on A");
  is_int(post_until(&gb, "/api/tools/execute", one, 200, 20000), 200,
         "B runs cl.one without a restart");
  tap_diag("B saw the publish after %lld ms", now_ms() - t0);
  ok(metric(&gb, "soulgw_registry_notifications_total") > before, "B counted the notification");
  is_int(post_json(&ga, TOKEN, "/api/config/tools/activate", "{\"version\":\"bootstrap\"}", NULL),
         200, "activate bootstrap on A");
  is_int(post_until(&gb, "/api/tools/execute", one, 403, 20000), 403,
         "B follows the activation: cl.one is gone");
}

static void integration_pg_cluster_watch_reconnects(void) {
  int reloads = gw_log_count(&gb, "reloading every tool registry");
  ok(pgserver_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE query = 'LISTEN soulgw_registry'") == 0,
     "the listening connections are killed");
  ok(gw_wait_log(&gb, "reloading every tool registry", reloads + 1, 30000),
     "B listens again and reloads every registry");
  const char *v2 = "{\"version\":\"cl-v2\",\"manifests\":[{\"tenant\":\"tenant-demo\","
                   "\"id\":\"cl.two\",\"version\":\"1\",\"handler\":\"builtin:echo\"}]}";
  is_int(post_json(&ga, TOKEN, "/api/config/tools", v2, NULL), 200, "publish cl-v2 on A");
  is_int(post_until(&gb, "/api/tools/execute", "{\"tool_id\":\"cl.two\",\"input\":{}}", 200,
                    20000),
         200, "B catches up after the reconnect");
}

/* ------------------------------------------------------------------------------------------ */
/* Appenders: threads that append records with known ids and keep those acknowledged */

#define MAX_ACKED 4096

typedef struct appender {
  gwproc *g;
  char prefix[16];
  atomic_int *stop;
  int acked, unavailable, n;
  char (*ids)[32];
  int pause_ms;
} appender;

static void *append_main(void *p) {
  appender *a = p;
  char body[160];
  while (!atomic_load(a->stop) && a->acked < MAX_ACKED) {
    char id[32];
    snprintf(id, sizeof id, "%s-%d", a->prefix, a->n++);
    snprintf(body, sizeof body, "{\"repo\":\"load\",\"record_id\":\"%s\",\"data\":{\"n\":%d}}", id,
             a->n);
    http_resp r;
    long st = http_post(a->g, "/api/repo/append", TOKEN, body, &r) == 0 ? r.status : -1;
    resp_free(&r); /* 503s are expected here: not printed */
    if (st >= 200 && st < 300) memcpy(a->ids[a->acked++], id, sizeof id);
    else if (st == 503) a->unavailable++;
    if (a->pause_ms || st < 0) sleep_ms(a->pause_ms ? a->pause_ms : 20);
  }
  return NULL;
}

static void appenders_start(appender *a, pthread_t *t, int n, gwproc **gs, const char *tag,
                            atomic_int *stop, int pause_ms) {
  for (int i = 0; i < n; i++) {
    a[i] = (appender){.g = gs[i % 2], .stop = stop, .pause_ms = pause_ms};
    snprintf(a[i].prefix, sizeof a[i].prefix, "%s%d", tag, i);
    a[i].ids = calloc(MAX_ACKED, sizeof *a[i].ids);
    pthread_create(&t[i], NULL, append_main, &a[i]);
  }
}

static int acked(const appender *a, int n) {
  int total = 0;
  for (int i = 0; i < n; i++) total += a[i].acked;
  return total;
}

/* Stops the threads; how many acknowledged records g cannot read. */
static int appenders_check(appender *a, pthread_t *t, int n, atomic_int *stop, gwproc *g) {
  atomic_store(stop, 1);
  int missing = 0;
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < a[i].acked; k++) {
      char body[96];
      snprintf(body, sizeof body, "{\"record_id\":\"%s\"}", a[i].ids[k]);
      if (post_until(g, "/api/repo/get", body, 200, 5000) != 200) {
        if (!missing) tap_diag("acknowledged and missing: %s", a[i].ids[k]);
        missing++;
      }
    }
    free(a[i].ids);
  }
  return missing;
}

/* Waits up to ms until /health on g answers want: 1 when it does; its body in *body. */
static int health_is(gwproc *g, long want, int ms, char **body) {
  long st = -1;
  *body = NULL;
  for (long long end = now_ms() + ms; now_ms() < end;) {
    free(*body);
    if ((st = get(g, "/health", body)) == want) return 1;
    sleep_ms(100);
  }
  return 0;
}

static void integration_pg_cluster_outage_under_load(void) {
  appender a[4];
  pthread_t t[4];
  atomic_int stop = 0;
  gwproc *gs[2] = {&ga, &gb};
  appenders_start(a, t, 4, gs, "o", &stop, 10);
  for (long long end = now_ms() + 20000; acked(a, 4) < 20 && now_ms() < end;) sleep_ms(20);
  ok(acked(a, 4) >= 20, "appends are acknowledged");
  if (!ok(pgserver_pause() == 0, "PostgreSQL stops under load")) {
    appenders_check(a, t, 4, &stop, &ga);
    return;
  }
  char *body = NULL;
  ok(health_is(&ga, 503, 20000, &body), "/health on A is 503");
  has_str(body, "\"status\":\"degraded\"", "degraded");
  has_str(body, "\"storage\"", "naming storage");
  free(body);
  for (long long end = now_ms() + 20000; a[0].unavailable + a[1].unavailable == 0 &&
                                         now_ms() < end;)
    sleep_ms(50);
  ok(a[0].unavailable + a[1].unavailable > 0, "appends while it is down are 503");
  ok(gw_wait_log(&ga, "storage unavailable", 1, 20000), "A logs that storage is unavailable");
  sleep_ms(1500); /* many more failed requests, still one line */
  ok(pgserver_resume() == 0, "PostgreSQL starts again");
  ok(health_is(&ga, 200, 30000, &body), "/health on A is 200 again, without a restart");
  free(body);
  ok(health_is(&gb, 200, 30000, &body), "and on B");
  free(body);
  ok(gw_wait_log(&ga, "storage restored", 1, 20000), "A logs that storage is restored");
  int before = acked(a, 4);
  for (long long end = now_ms() + 20000; acked(a, 4) < before + 20 && now_ms() < end;)
    sleep_ms(20);
  ok(acked(a, 4) >= before + 20, "appends are acknowledged again");
  is_int(appenders_check(a, t, 4, &stop, &ga), 0, "every acknowledged append is there");
  ok(metric(&ga, "soulgw_storage_errors_total{kind=\"connect\"}") > 0,
     "the failures are counted as kind connect");
  ok(metric(&ga, "soulgw_storage_pool_connections{state=\"idle\"}") >= 1,
     "the pool's idle connections are shown");
  is_int(gw_log_count(&ga, "storage unavailable"), 1, "one line when storage went away");
  is_int(gw_log_count(&ga, "storage restored"), 1, "one line when it came back");
  ok(!gw_log_has(&ga, PGSERVER_PASSWORD), "never the URI's password");
}

static void integration_pg_cluster_sigkill_loses_nothing(void) {
  appender a[6];
  pthread_t t[6];
  atomic_int stop = 0;
  gwproc *gs[2] = {&ga, &gb};
  appenders_start(a, t, 6, gs, "k", &stop, 0);
  for (long long end = now_ms() + 20000; acked(a, 6) < 60 && now_ms() < end;) sleep_ms(10);
  gw_signal(&ga, SIGKILL);
  int at_kill = acked(a, 6);
  ok(at_kill >= 60, "appends on both instances are acknowledged (%d)", at_kill);
  for (long long end = now_ms() + 20000; acked(a, 6) < at_kill + 30 && now_ms() < end;)
    sleep_ms(10);
  ok(acked(a, 6) >= at_kill + 30, "B keeps acknowledging appends after A is killed");
  is_int(appenders_check(a, t, 6, &stop, &gb), 0,
         "every append either instance acknowledged is readable on B");
  is_int(gw_stop(&ga), 128 + SIGKILL, "A died of SIGKILL");
  is_int(post_json(&gb, TOKEN, "/api/repo/append", "{\"repo\":\"after\",\"data\":{}}", NULL), 200,
         "B still serves");
}

/* soulgw --check with the cluster's configuration and pg_url: its status and output. */
static int check_with(const char *pg_url, char **out) {
  char path[300], var[300];
  snprintf(path, sizeof path, "%s/check.toml", gb.dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(toml, f);
    fclose(f);
  }
  snprintf(var, sizeof var, "GATEWAY_PG_URL=%s", pg_url);
  return run_cmd((const char *[]){harness_soulgw_bin(), "--config", path, "--check", NULL},
                 (const char *[]){var, "GATEWAY_TOKEN_LOCAL=test-token",
                                  "GATEWAY_HMAC_LOCAL=test-hmac-secret-0123456789", NULL},
                 out);
}

static void integration_pg_cluster_check(void) {
  char *out = NULL, bad[256];
  is_int(check_with(url, &out), 0, "--check: the server answers, exit 0");
  has_str(out, "storage: postgres (reachable)", "storage: postgres (reachable)");
  ok(out && !strstr(out, PGSERVER_PASSWORD), "never the URI");
  free(out);
  out = NULL;
  snprintf(bad, sizeof bad, "postgresql://soulgw:%s@127.0.0.1:%d/gw_cluster", "wrong-Secret-9",
           pgserver_port());
  is_int(check_with(bad, &out), 69, "--check with a wrong password: exit 69");
  has_str(out, "storage: postgres (unreachable: ", "storage: postgres (unreachable: reason)");
  has_str(out, "password authentication failed", "the server's reason");
  ok(out && !strstr(out, "wrong-Secret-9") && !strstr(out, "postgresql://"),
     "neither the password nor the URI");
  free(out);
}

static const tap_test tests[] = {
    TEST(integration_pg_cluster_check),
    TEST(integration_pg_cluster_shared_state),
    TEST(integration_pg_cluster_registry_propagates),
    TEST(integration_pg_cluster_watch_reconnects),
    TEST(integration_pg_cluster_outage_under_load),
    TEST(integration_pg_cluster_sigkill_loses_nothing),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  int rc = pgserver_start();
  if (rc > 0) {
    ok(1, "postgres # SKIP its server is not installed");
    return tap_done();
  }
  if (!ok(rc == 0, "PostgreSQL starts") || !ok(pgserver_createdb("gw_cluster") == 0, "a database"))
    return tap_done();
  pgserver_url(url, sizeof url, "gw_cluster");
  make_toml();
  if (!ok(gw_start(&ga, harness_soulgw_bin(), toml, env(), NULL) == 0, "instance A starts") ||
      !ok(gw_start(&gb, harness_soulgw_bin(), toml, env(), NULL) == 0, "instance B starts"))
    return tap_done();
  http_resp warm;
  http_get(&ga, "/health", &warm); /* libcurl's global init, before any thread */
  resp_free(&warm);
  tap_run(tests, TAP_COUNT(tests));
  if (ga.pid > 0) is_int(gw_stop(&ga), 0, "A: SIGTERM, exit status 0");
  is_int(gw_stop(&gb), 0, "B: SIGTERM, exit status 0");
  return tap_done();
}

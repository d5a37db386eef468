/*
 * cluster_redis.c -- two soulgw binaries on one PostgreSQL (pgserver.h) and one Redis
 * (redisserver.h), as SPEC-cluster.md runs them: one rate-limit bucket per principal for the
 * cluster (the two instances together answer the burst, not twice it); an SB-HMAC signature
 * accepted by one instance refused by the other, through Redis, and without Redis through the
 * table replay_nonces; Redis stopped: signed requests refused closed (401
 * replay_cache_unavailable, counted), rate limits on per-instance buckets (logged), /health
 * degraded naming redis; Redis back: everything shared again without restarting soulgw.  No
 * secret of either URL in any log.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "pgserver.h"
#include "redisserver.h"
#include "tap.h"

#define LIMITED "limited-token-0123456789"
#define RECALL "/api/graph/recall"
#define BODY "{\"node_id\":\"cluster-n\"}"

static gwproc ga, gb, ge; /* ge: started while Redis is down */
static char pg_url[256], redis_url[256];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* HARNESS_DEFAULT_TOML on PostgreSQL, with a rate-limited token, and (redis) [cluster]. */
static void make_toml(char *out, size_t len, const char *instance, int redis) {
  const char *d = HARNESS_DEFAULT_TOML, *s = strstr(d, "[storage]\n");
  char cluster[256] = "";
  if (redis)
    snprintf(cluster, sizeof cluster,
             "[cluster]\nredis_url_env = \"GATEWAY_REDIS_URL\"\ninstance = \"%s\"\n", instance);
  snprintf(out, len,
           "%.*s[storage]\nbackend = \"postgres\"\nurl_env = \"GATEWAY_PG_URL\"\npool = 3\n"
           "%s\n[auth.tokens.limited]\ntenant = \"tenant-demo\"\ntoken = \"" LIMITED "\"\n"
           "scopes = [\"graph:read\"]\nrate = 1\nburst = 10\n%s",
           (int)(s - d), d, s + strlen("[storage]\n"), cluster);
}

static const char *const *env(void) {
  static char v1[300], v2[300];
  static const char *e[3];
  snprintf(v1, sizeof v1, "GATEWAY_PG_URL=%s", pg_url);
  snprintf(v2, sizeof v2, "GATEWAY_REDIS_URL=%s", redis_url);
  e[0] = v1;
  e[1] = v2;
  e[2] = NULL;
  return e;
}

static int start(gwproc *g, const char *instance, int redis) {
  char toml[8192];
  make_toml(toml, sizeof toml, instance, redis);
  g->keep_db = getenv("KEEP") != NULL;
  return gw_start(g, harness_soulgw_bin(), toml, env(), NULL);
}

static long recall(gwproc *g, const char *const *headers, char *body, size_t len) {
  http_resp r = {0};
  long st = -1;
  if (http(g, "POST", RECALL, headers, BODY, &r) == 0) st = r.status;
  if (body) snprintf(body, len, "%s", r.body ? r.body : "");
  resp_free(&r);
  return st;
}

static long bearer(gwproc *g, const char *token) {
  char authz[128];
  snprintf(authz, sizeof authz, "Authorization: Bearer %s", token);
  return recall(g, (const char *[]){authz, "Content-Type: application/json", NULL}, NULL, 0);
}

/* A request signed with the HMAC key "local" (secret test-hmac), dated 2 s ahead so that it
 * follows both instances' start (their replay horizon). */
typedef struct signed_req {
  char authz[200], date[64], nonce[64];
} signed_req;

static void sign(signed_req *q, const char *nonce) {
  time_t t = time(NULL) + 2;
  struct tm tm;
  char d[32], canon[512], hex[65];
  unsigned char mac[32];
  gmtime_r(&t, &tm);
  strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%SZ", &tm);
  int n = snprintf(canon, sizeof canon, "POST\n%s\n%s\n%s", RECALL, d, nonce);
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, (const unsigned char *)"test-hmac", 9);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)canon, (unsigned long long)n);
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  snprintf(q->authz, sizeof q->authz, "Authorization: SB-HMAC local:%s", hex);
  snprintf(q->date, sizeof q->date, "x-sb-date: %s", d);
  snprintf(q->nonce, sizeof q->nonce, "x-sb-nonce: %s", nonce);
}

static long send_signed(gwproc *g, const signed_req *q, char *body, size_t len) {
  return recall(g, (const char *[]){q->authz, q->date, q->nonce, "Content-Type: application/json",
                                    NULL},
                body, len);
}

static char *get_body(gwproc *g, const char *path, long *status) {
  http_resp r = {0};
  *status = http_get(g, path, &r) == 0 ? r.status : -1;
  char *b = r.body;
  r.body = NULL;
  resp_free(&r);
  return b ? b : calloc(1, 1);
}

/* Waits up to timeout_ms for /health to answer a body holding text. */
static int wait_health(gwproc *g, const char *text, int timeout_ms, long *status) {
  long long until = now_ms() + timeout_ms;
  do {
    char *b = get_body(g, "/health", status);
    int found = strstr(b, text) != NULL;
    free(b);
    if (found) return 1;
    sleep_ms(100);
  } while (now_ms() < until);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */

static void integration_cluster_shared_rate_limit(void) {
  long long t0 = now_ms();
  int ok200 = 0, refused_a = 0, refused_b = 0;
  for (int i = 0; i < 20; i++) {
    long st = bearer(i % 2 ? &gb : &ga, LIMITED);
    ok200 += st == 200;
    if (st == 429) *(i % 2 ? &refused_b : &refused_a) += 1;
  }
  long long secs = (now_ms() - t0) / 1000 + 1;
  /* rate 1/s, burst 10: the burst, plus at most one token per second the loop took */
  ok(ok200 >= 10 && ok200 <= 10 + secs,
     "20 requests on two instances: %d answered, the burst of 10 (+%lld s of refill)", ok200,
     secs);
  ok(ok200 < 20, "not one bucket per instance (that would answer 20)");
  ok(refused_a > 0 && refused_b > 0, "both instances refuse (%d and %d)", refused_a, refused_b);
  ok(gw_log_has(&ga, "\"rate_limits\":\"redis\""), "the start-up line says rate limits are shared");
}

static void integration_cluster_nonce_redis(void) {
  signed_req q;
  char body[1024];
  sign(&q, "cluster-nonce-0001");
  is_int(send_signed(&ga, &q, body, sizeof body), 200, "instance A accepts a signed request");
  is_int(send_signed(&gb, &q, body, sizeof body), 401, "instance B refuses the same signature");
  has_str(body, "already used", "as a replay");
  is_int(send_signed(&ga, &q, body, sizeof body), 401, "and so does A");
  ok(redisserver_cmd(0, "KEYS soulgw:nonce:*") >= 1, "the nonce is a soulgw:nonce: key in Redis");
  ok(gw_log_has(&gb, "\"replay_cache\":\"redis\""), "the start-up line names the replay cache");
}

static void integration_cluster_nonce_postgres(void) {
  gwproc gc, gd;
  memset(&gc, 0, sizeof gc);
  memset(&gd, 0, sizeof gd);
  if (!ok(start(&gc, "gw-c", 0) == 0 && start(&gd, "gw-d", 0) == 0,
          "two instances without Redis on the same database"))
    goto out;
  ok(gw_log_has(&gc, "\"replay_cache\":\"postgres\""), "their replay cache is the table");
  ok(gw_log_has(&gc, "effective limit is rate x instances"),
     "the start-up line says rate limits are per instance");
  signed_req q;
  char body[1024];
  sign(&q, "cluster-nonce-0002");
  is_int(send_signed(&gc, &q, body, sizeof body), 200, "instance C accepts a signed request");
  is_int(send_signed(&gd, &q, body, sizeof body), 401, "instance D refuses the same signature");
  has_str(body, "already used", "as a replay");
  ok(pgserver_query_int(pg_url, "SELECT count(*) FROM replay_nonces") >= 1,
     "the nonce is a row of replay_nonces");
out:
  if (gc.pid > 0) is_int(gw_stop(&gc), 0, "C stops cleanly");
  if (gd.pid > 0) is_int(gw_stop(&gd), 0, "D stops cleanly");
}

static void integration_cluster_redis_down(void) {
  long st;
  if (!ok(redisserver_pause() == 0, "Redis stops")) return;
  ok(wait_health(&ga, "\"redis\":\"unreachable\"", 15000, &st), "A's /health names redis");
  is_int(st, 200, "degraded, still 200: the instance serves");
  ok(wait_health(&gb, "\"instance\":\"gw-b\"", 15000, &st),
     "B's /health is degraded too, naming the instance");
  char *b;
  signed_req q;
  char body[1024];
  sign(&q, "cluster-nonce-0003");
  is_int(send_signed(&ga, &q, body, sizeof body), 401, "a signed request is refused (fail closed)");
  has_str(body, "replay cache (redis) cannot be reached", "saying why");
  long n = 0;
  for (int i = 0; i < 3; i++) n += bearer(&ga, LIMITED) == 200;
  ok(n >= 1, "bearer requests are still served, on A's own bucket (%ld of 3)", n);
  ok(gw_wait_log(&ga, "rate limits fall back to per-instance buckets", 1, 5000),
     "A logs the fall-back");
  b = get_body(&ga, "/metrics", &st);
  has_str(b, "soulgw_auth_failures_total{reason=\"replay_cache_unavailable\"} 1",
          "the refusal is counted by reason");
  ok(strstr(b, "soulgw_redis_errors_total ") && !strstr(b, "soulgw_redis_errors_total 0"),
     "soulgw_redis_errors_total counts the failures");
  free(b);
  ok(gw_log_has(&ga, "redis down"), "A logs Redis down");
  if (ok(start(&ge, "gw-e", 1) == 0, "an instance starts while Redis is down")) {
    ok(gw_log_has(&ge, "redis down"), "it says so");
    ok(wait_health(&ge, "\"redis\":\"unreachable\"", 5000, &st), "its /health names redis");
  }
}

static void integration_cluster_redis_back(void) {
  long st;
  if (!ok(redisserver_resume() == 0, "Redis starts again")) return;
  ok(gw_wait_log(&ga, "redis up", 2, 15000) && gw_wait_log(&gb, "redis up", 2, 15000),
     "both instances log Redis up again, without a restart");
  ok(wait_health(&ga, "{\"status\":\"ok\"}", 5000, &st), "A's /health is ok again");
  if (ge.pid > 0) {
    ok(gw_wait_log(&ge, "redis up", 1, 15000), "the instance started without Redis connects");
    is_int(gw_stop(&ge), 0, "and stops cleanly");
  }
  signed_req q;
  char body[1024];
  sign(&q, "cluster-nonce-0004");
  is_int(send_signed(&gb, &q, body, sizeof body), 200, "B accepts a new signed request");
  is_int(send_signed(&ga, &q, body, sizeof body), 401, "which A refuses: shared again");
  bearer(&ga, LIMITED);
  ok(gw_wait_log(&ga, "rate limits shared again", 1, 5000), "A's rate limits are shared again");
}

static void integration_cluster_no_secrets(void) {
  ok(!gw_log_has(&ga, REDISSERVER_PASSWORD) && !gw_log_has(&gb, REDISSERVER_PASSWORD),
     "the Redis password is in no log");
  ok(!gw_log_has(&ga, PGSERVER_PASSWORD) && !gw_log_has(&gb, PGSERVER_PASSWORD),
     "the PostgreSQL password is in no log");
  long st;
  char *b = get_body(&ga, "/version", &st);
  ok(!strstr(b, REDISSERVER_PASSWORD) && !strstr(b, "redis://"), "nor in /version");
  free(b);
}

static const tap_test tests[] = {
    TEST(integration_cluster_shared_rate_limit), TEST(integration_cluster_nonce_redis),
    TEST(integration_cluster_nonce_postgres),    TEST(integration_cluster_redis_down),
    TEST(integration_cluster_redis_back),        TEST(integration_cluster_no_secrets),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  int rr = redisserver_start(), rp = pgserver_start();
  if (rr > 0 || rp > 0) {
    ok(1, "cluster # SKIP %s is not installed", rr > 0 ? "redis-server" : "PostgreSQL");
    return tap_done();
  }
  if (!ok(rr == 0, "redis-server starts") || !ok(rp == 0, "PostgreSQL starts") ||
      !ok(pgserver_createdb("gw_cluster") == 0, "a database"))
    return tap_done();
  pgserver_url(pg_url, sizeof pg_url, "gw_cluster");
  redisserver_url(redis_url, sizeof redis_url, 0);
  if (!ok(start(&ga, "gw-a", 1) == 0, "instance A starts") ||
      !ok(start(&gb, "gw-b", 1) == 0, "instance B starts"))
    return tap_done();
  gw_wait_log(&ga, "redis up", 1, 10000);
  gw_wait_log(&gb, "redis up", 1, 10000);
  tap_run(tests, TAP_COUNT(tests));
  is_int(gw_stop(&ga), 0, "A: SIGTERM, exit status 0");
  is_int(gw_stop(&gb), 0, "B: SIGTERM, exit status 0");
  return tap_done();
}

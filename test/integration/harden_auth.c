/*
 * harden_auth.c -- issue 7, findings 11 to 16, reproduced against the real soulgw binary:
 *
 *   11  a signature accepted before a restart is refused after it (and a reload keeps both
 *       the replay cache and the start horizon);
 *   12  hmac_skew_s must be 1..3600, and `soulgw sign --date --no-nonce` reproduces the test
 *       vector of SPEC 5;
 *   13  the replay cache records only authorized requests, in a bounded share per HMAC key, so
 *       one key (even with requests refused 403) cannot lock out the others;
 *   14  scope "*" does not hold tenant:*;
 *   15  the same secret on two principals is a configuration error; short tokens and literal
 *       secrets in a file others can read are warned about;
 *   16  core dumps are off unless --allow-core-dumps.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

#define ALPHA_SECRET "alpha-secret-0123456789"
#define BETA_SECRET "beta-secret-0123456789"

/* Two HMAC keys of one tenant: alpha may read the repo but not write it, beta may do both;
 * "star" holds "*", "crosser" holds "*" and tenant:*. */
#define BASE_TOML                                                                            \
  "[server]\nport = 0\nconnection_timeout_s = 30\n[storage]\nsynchronous = \"normal\"\n"    \
  "[auth.tokens.star]\ntenant = \"tenant-demo\"\ntoken = \"star-token-0123456789\"\n"        \
  "scopes = [\"*\"]\n"                                                                       \
  "[auth.tokens.crosser]\ntenant = \"tenant-demo\"\ntoken = \"crosser-token-0123456789\"\n"  \
  "scopes = [\"*\", \"tenant:*\"]\n"                                                         \
  "[auth.tokens.tenantonly]\ntenant = \"tenant-demo\"\ntoken = \"tenantonly-token-0123\"\n"  \
  "scopes = [\"repo:read\", \"tenant:*\"]\n"                                                 \
  "[auth.hmac_keys.alpha]\ntenant = \"tenant-demo\"\nsecret = \"" ALPHA_SECRET "\"\n"        \
  "scopes = [\"repo:read\"]\n"                                                               \
  "[auth.hmac_keys.beta]\ntenant = \"tenant-demo\"\nsecret = \"" BETA_SECRET "\"\n"          \
  "scopes = [\"repo:read\", \"repo:write\"]\n"

static gwproc gw; /* BASE_TOML, shared by the cases that need no gateway of their own */

/* ------------------------------------------------------------------------------------------ */
/* Signing like a client, with libsodium, so that date and nonce can be chosen */

static void date_at(char *out, size_t len, time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "Authorization: SB-HMAC key:hex" over METHOD\nPATH\nDATE[\nNONCE]. */
static void sign_header(char *out, size_t outlen, const char *key_id, const char *secret,
                        const char *method, const char *path, const char *date,
                        const char *nonce) {
  char canon[1024];
  int n = snprintf(canon, sizeof canon, "%s\n%s\n%s", method, path, date);
  if (nonce) n += snprintf(canon + n, sizeof canon - (size_t)n, "\n%s", nonce);
  unsigned char mac[32];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)canon, (unsigned long long)n);
  crypto_auth_hmacsha256_final(&st, mac);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  snprintf(out, outlen, "Authorization: SB-HMAC %s:%s", key_id, hex);
}

/* A signed JSON POST: the status, the body in out (when not NULL, up to outlen). */
static long signed_post(gwproc *g, const char *key_id, const char *secret, const char *path,
                        const char *body, const char *date, const char *nonce, char *out,
                        size_t outlen) {
  char authz[256], d[96], nn[200];
  sign_header(authz, sizeof authz, key_id, secret, "POST", path, date, nonce);
  snprintf(d, sizeof d, "x-sb-date: %s", date);
  snprintf(nn, sizeof nn, "x-sb-nonce: %s", nonce ? nonce : "");
  const char *h[] = {"Content-Type: application/json", authz, d, nonce ? nn : NULL, NULL};
  http_resp r;
  http(g, "POST", path, h, body, &r);
  if (out) snprintf(out, outlen, "%s", r.body ? r.body : "");
  long st = r.status;
  resp_free(&r);
  return st;
}

/* Waits until the wall clock is past the second it reads now: a gateway started before this
 * call refuses signatures dated at or before its start second. */
static void next_second(void) {
  time_t t = time(NULL);
  while (time(NULL) <= t) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

/* One signed POST on a kept-alive raw connection (*fd; a new one when the gateway closed it, as
 * it does after refusing a request whose body it did not read): the status, or 0. */
static int raw_signed_post(gwproc *g, int *fd, const char *key_id, const char *secret,
                           const char *path, const char *body, const char *date,
                           const char *nonce) {
  char authz[256], req[2048];
  sign_header(authz, sizeof authz, key_id, secret, "POST", path, date, nonce);
  snprintf(req, sizeof req,
           "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s\r\n"
           "x-sb-date: %s\r\nx-sb-nonce: %s\r\nContent-Length: %zu\r\n\r\n%s",
           path, authz, date, nonce, strlen(body), body);
  char *got = *fd >= 0 ? raw_request(*fd, req, 30000) : NULL;
  if (!got) { /* closed after the previous answer: once more on a new connection */
    if (*fd >= 0) close(*fd);
    *fd = raw_connect(g);
    got = *fd >= 0 ? raw_request(*fd, req, 30000) : NULL;
  }
  int st = got && strncmp(got, "HTTP/1.1 ", 9) == 0 ? atoi(got + 9) : 0;
  int closing = got && strcasestr(got, "\r\nConnection: close") != NULL;
  free(got);
  if (closing && *fd >= 0) {
    close(*fd);
    *fd = raw_connect(g);
  }
  return st;
}

static char *metrics(gwproc *g) {
  http_resp r;
  http_get(g, "/metrics", &r);
  char *s = r.body ? strdup(r.body) : NULL;
  resp_free(&r);
  return s;
}

/* ------------------------------------------------------------------------------------------ */
/* 11: replay across a restart */

static void security_auth_replay_after_restart(void) {
  gwproc g;
  char date[64], body[2048];
  const char *rec = "{\"repo\":\"replayed\",\"data\":{\"n\":1}}";
  g.keep_db = 1;
  if (!ok(gw_start(&g, harness_soulgw_bin(), BASE_TOML, NULL, NULL) == 0, "the gateway starts"))
    return;
  next_second();
  date_at(date, sizeof date, time(NULL));
  is_int(signed_post(&g, "beta", BETA_SECRET, "/api/repo/append", rec, date, "restart-nonce-1",
                     body, sizeof body),
         200, "a signed append is accepted");
  is_int(signed_post(&g, "beta", BETA_SECRET, "/api/repo/append", rec, date, "restart-nonce-1",
                     body, sizeof body),
         401, "replayed at once, it is refused");
  has_str(body, "replay", "as a replay");

  is_int(gw_stop(&g), 0, "a clean stop");
  if (!ok(gw_restart(&g, NULL) == 0, "the gateway starts again")) {
    g.keep_db = 0;
    return;
  }
  is_int(signed_post(&g, "beta", BETA_SECRET, "/api/repo/append", rec, date, "restart-nonce-1",
                     body, sizeof body),
         401, "replayed after the restart, the signature is refused");
  has_str(body, "AUTH.UNAUTHENTICATED", "as AUTH.UNAUTHENTICATED");
  has_str(body, "before the gateway started", "naming why: signed before the start");
  has_str(body, "replay", "a possible replay");
  cJSON *j = NULL;
  http_resp r;
  const char *ht[] = {"Content-Type: application/json",
                      "Authorization: Bearer star-token-0123456789", NULL};
  http(&g, "POST", "/api/repo/list", ht, "{\"repo\":\"replayed\"}", &r);
  j = json_of(&r);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "records")), 1,
         "the record was appended once, not twice");
  cJSON_Delete(j);
  resp_free(&r);

  /* requests signed after the start are served */
  next_second();
  char fresh[64];
  date_at(fresh, sizeof fresh, time(NULL));
  is_int(signed_post(&g, "beta", BETA_SECRET, "/api/repo/list", "{\"repo\":\"x\"}", fresh,
                     "restart-nonce-2", body, sizeof body),
         200, "a request signed after the start is accepted");
  /* a reload keeps the replay cache, and does not move the start */
  gw_signal(&g, SIGHUP);
  ok(gw_wait_log(&g, "configuration reloaded", 1, 20000), "SIGHUP reloads");
  is_int(signed_post(&g, "beta", BETA_SECRET, "/api/repo/list", "{\"repo\":\"x\"}", fresh,
                     "restart-nonce-2", body, sizeof body),
         401, "after a reload the signature is still a replay");
  has_str(body, "already used", "refused as a replay");
  is_int(signed_post(&g, "beta", BETA_SECRET, "/api/repo/list", "{\"repo\":\"x\"}", fresh,
                     "restart-nonce-3", body, sizeof body),
         200, "a signature dated before the reload (after the start) is accepted");
  char *m = metrics(&g);
  has_str(m, "soulgw_auth_failures_total{reason=\"before_start\"} 1",
          "refusals for a date before the start are counted");
  free(m);
  g.keep_db = 0;
  is_int(gw_stop(&g), 0, "exit status 0");
}

/* ------------------------------------------------------------------------------------------ */
/* 12: the skew's range, and the SPEC's test vector through `soulgw sign` */

static int check_config(const char *dir, const char *toml, const char *const *env, char **out) {
  char path[400];
  snprintf(path, sizeof path, "%s/check.toml", dir);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(toml, f);
  fclose(f);
  chmod(path, 0600);
  const char *argv[] = {harness_soulgw_bin(), "--config", path, "--check", NULL};
  return run_cmd(argv, env, out);
}

static void security_auth_skew_range(void) {
  char dir[] = "/tmp/soulgw-skew-XXXXXX";
  if (!ok(mkdtemp(dir) != NULL, "a temporary directory")) return;
  static const char *const bad[] = {"0", "3601", "-1", "86400"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char toml[200], *out = NULL;
    snprintf(toml, sizeof toml, "[auth]\nhmac_skew_s = %s\n", bad[i]);
    is_int(check_config(dir, toml, NULL, &out), 78, "hmac_skew_s = %s: exit status 78", bad[i]);
    has_str(out, "auth.hmac_skew_s must be between 1 and 3600", "hmac_skew_s = %s: the message",
            bad[i]);
    free(out);
  }
  static const char *const good[] = {"1", "3600"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    char toml[200], *out = NULL;
    snprintf(toml, sizeof toml, "[auth]\nhmac_skew_s = %s\n", good[i]);
    is_int(check_config(dir, toml, NULL, &out), 0, "hmac_skew_s = %s: accepted", good[i]);
    free(out);
  }
  char *out = NULL;
  const char *env[] = {"GATEWAY__AUTH__HMAC_SKEW_S=0", NULL};
  is_int(check_config(dir, "[server]\nport = 0\n", env, &out), 78,
         "GATEWAY__AUTH__HMAC_SKEW_S=0: exit status 78");
  has_str(out, "must be between 1 and 3600", "with the same message");
  free(out);
  const char *rm[] = {"rm", "-rf", dir, NULL};
  run_cmd(rm, NULL, NULL);
}

static void security_auth_sign_test_vector(void) {
  char *out = NULL;
  const char *env[] = {"SOULGW_VECTOR_SECRET=dev-hmac", NULL};
  const char *argv[] = {harness_soulgw_bin(), "sign", "--key-id", "local", "--secret-env",
                        "SOULGW_VECTOR_SECRET", "--date", "2025-01-01T00:00:00Z", "--no-nonce",
                        "POST", "/api/repo/append", NULL};
  is_int(run_cmd(argv, env, &out), 0, "soulgw sign --date --no-nonce exits 0");
  is_str(out,
         "x-sb-date: 2025-01-01T00:00:00Z\n"
         "Authorization: SB-HMAC local:9e6239d7af1830d3a4fc2b0eb2e602760ef028a4a8abfc6fc03ee23b24d650d7\n",
         "prints the date and SPEC 5's test vector, and no nonce");
  free(out);

  const char *bad[] = {harness_soulgw_bin(), "sign", "--key-id", "local", "--secret-env",
                       "SOULGW_VECTOR_SECRET", "--date", "yesterday", "POST", "/x", NULL};
  is_int(run_cmd(bad, env, &out), 64, "a date the gateway would not accept: exit 64");
  has_str(out, "--date", "naming the option");
  free(out);

  /* what it prints for a given date is what the gateway accepts */
  char date[64];
  next_second();
  date_at(date, sizeof date, time(NULL));
  const char *env2[] = {"SOULGW_BETA_SECRET=" BETA_SECRET, NULL};
  const char *now[] = {harness_soulgw_bin(), "sign", "--key-id", "beta", "--secret-env",
                       "SOULGW_BETA_SECRET", "--date", date, "--no-nonce", "POST",
                       "/api/repo/list", NULL};
  if (!ok(run_cmd(now, env2, &out) == 0, "soulgw sign --date NOW --no-nonce")) {
    free(out);
    return;
  }
  ok(!strstr(out, "x-sb-nonce"), "no nonce line");
  const char *h[6];
  int k = 0;
  char *save = NULL;
  h[k++] = "Content-Type: application/json";
  for (char *line = strtok_r(out, "\n", &save); line && k < 5; line = strtok_r(NULL, "\n", &save))
    h[k++] = line;
  h[k] = NULL;
  http_resp r;
  http(&gw, "POST", "/api/repo/list", h, "{\"repo\":\"v\"}", &r);
  is_int(r.status, 200, "the gateway accepts the headers it printed");
  resp_free(&r);
  free(out);
}

/* ------------------------------------------------------------------------------------------ */
/* 13: only authorized requests are recorded, each key in its own share */

#define SHARE 8

static void security_auth_replay_share_per_key(void) {
  gwproc g;
  char toml[4096], date[64], nonce[64], body[2048];
  snprintf(toml, sizeof toml, "%s[auth]\nreplay_cache_per_key = %d\n", BASE_TOML, SHARE);
  g.keep_db = 0;
  if (!ok(gw_start(&g, harness_soulgw_bin(), toml, NULL, NULL) == 0, "the gateway starts"))
    return;
  next_second();
  date_at(date, sizeof date, time(NULL));
  int fd = raw_connect(&g);
  if (!ok(fd >= 0, "a kept-alive connection")) {
    gw_stop(&g);
    return;
  }
  /* alpha lacks repo:write: its refused requests must not take room */
  int refused = 0;
  for (int i = 0; i < 5 * SHARE; i++) {
    snprintf(nonce, sizeof nonce, "alpha-forbidden-%04d", i);
    refused += raw_signed_post(&g, &fd, "alpha", ALPHA_SECRET, "/api/repo/append",
                               "{\"repo\":\"r\",\"data\":1}", date, nonce) == 403;
  }
  is_int(refused, 5 * SHARE, "alpha's requests without the scope are refused 403");
  int served = 0;
  for (int i = 0; i < SHARE; i++) {
    snprintf(nonce, sizeof nonce, "alpha-allowed-%04d", i);
    served += raw_signed_post(&g, &fd, "alpha", ALPHA_SECRET, "/api/repo/list",
                              "{\"repo\":\"r\"}", date, nonce) == 200;
  }
  if (fd >= 0) close(fd);
  is_int(served, SHARE, "and alpha still has its whole share of %d for authorized ones", SHARE);
  /* alpha's share is full now: only alpha is refused */
  http_resp r;
  char authz[256], d[96];
  sign_header(authz, sizeof authz, "alpha", ALPHA_SECRET, "POST", "/api/repo/list", date,
              "alpha-allowed-9999");
  snprintf(d, sizeof d, "x-sb-date: %s", date);
  const char *h[] = {"Content-Type: application/json", authz, d,
                     "x-sb-nonce: alpha-allowed-9999", NULL};
  http(&g, "POST", "/api/repo/list", h, "{\"repo\":\"r\"}", &r);
  is_int(r.status, 429, "alpha's next signed request is refused: its share is full");
  has_str(r.body, "QUOTA.RATE_LIMITED", "as QUOTA.RATE_LIMITED");
  has_str(r.body, "replay cache", "naming the replay cache");
  has_str(r.body, "alpha", "and the key");
  const char *ra = resp_header(&r, "Retry-After");
  ok(ra && atoi(ra) >= 1 && atoi(ra) <= 602, "with a Retry-After (%s)", ra ? ra : "none");
  resp_free(&r);
  served = 0;
  for (int i = 0; i < SHARE; i++) {
    snprintf(nonce, sizeof nonce, "beta-allowed-%04d", i);
    served += signed_post(&g, "beta", BETA_SECRET, "/api/repo/list", "{\"repo\":\"r\"}", date,
                          nonce, body, sizeof body) == 200;
  }
  is_int(served, SHARE, "beta, another key, is served in full");
  is_int(signed_post(&g, "alpha", ALPHA_SECRET, "/api/repo/list", "{\"repo\":\"r\"}", date,
                     "alpha-allowed-0003", body, sizeof body),
         401, "a replay of one of alpha's recorded signatures is still a replay");
  has_str(body, "already used", "refused as a replay");
  const char *hs[] = {"Content-Type: application/json",
                      "Authorization: Bearer star-token-0123456789", NULL};
  http(&g, "POST", "/api/repo/list", hs, "{\"repo\":\"r\"}", &r);
  is_int(r.status, 200, "bearer tokens are unaffected");
  resp_free(&r);
  char *m = metrics(&g);
  has_str(m, "soulgw_auth_failures_total{reason=\"replay_cache_full\"} 1",
          "the refusal is counted");
  free(m);
  is_int(gw_stop(&g), 0, "exit status 0");
}

/* The attack as reported, at full scale and with the default configuration: one key whose
 * requests are all refused 403 sends more signatures than the whole cache holds; then another
 * key must still be served. */
typedef struct flood {
  gwproc *g;
  const char *date;
  int first, count, forbidden;
} flood;

static void *flood_run(void *arg) {
  flood *f = arg;
  char nonce[64];
  int fd = raw_connect(f->g);
  for (int i = f->first; fd >= 0 && i < f->first + f->count; i++) {
    snprintf(nonce, sizeof nonce, "flood-%08d", i);
    /* no body: refused from the headers, the connection stays open */
    int st = raw_signed_post(f->g, &fd, "alpha", ALPHA_SECRET, "/api/repo/append", "", f->date,
                             nonce);
    f->forbidden += st == 403;
  }
  if (fd >= 0) close(fd);
  return NULL;
}

static void security_auth_replay_flood_403_full_scale(void) {
  enum { N = 65536 + 64, THREADS = 2 };
  char date[64], body[2048];
  next_second();
  date_at(date, sizeof date, time(NULL));
  flood f[THREADS];
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    f[i] = (flood){&gw, date, i * (N / THREADS), N / THREADS, 0};
    pthread_create(&t[i], NULL, flood_run, &f[i]);
  }
  int forbidden = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    forbidden += f[i].forbidden;
  }
  is_int(forbidden, N, "%d signed requests of a key without the scope: all 403", N);
  is_int(signed_post(&gw, "beta", BETA_SECRET, "/api/repo/list", "{\"repo\":\"r\"}", date,
                     "beta-after-flood", body, sizeof body),
         200, "another key is still served");
  is_int(signed_post(&gw, "alpha", ALPHA_SECRET, "/api/repo/list", "{\"repo\":\"r\"}", date,
                     "alpha-after-flood", body, sizeof body),
         200, "and so is the flooding key, where it is authorized");
}

/* ------------------------------------------------------------------------------------------ */
/* 14: "*" is not tenant:* */

static long as_token(const char *token, const char *path, const char *body, const char *extra,
                     char *out, size_t outlen) {
  char authz[128];
  snprintf(authz, sizeof authz, "Authorization: Bearer %s", token);
  const char *h[] = {"Content-Type: application/json", authz, extra, NULL};
  http_resp r;
  http(&gw, "POST", path, h, body, &r);
  if (out) snprintf(out, outlen, "%s", r.body ? r.body : "");
  long st = r.status;
  resp_free(&r);
  return st;
}

static void security_auth_star_is_not_tenant_star(void) {
  char body[2048];
  const char *star = "star-token-0123456789";
  is_int(as_token(star, "/api/repo/list", "{\"repo\":\"r\"}", NULL, body, sizeof body), 200,
         "a [\"*\"] token works in its own tenant");
  is_int(as_token(star, "/api/repo/list", "{\"repo\":\"r\",\"tenant\":\"tenant-other\"}", NULL,
                  body, sizeof body),
         403, "a [\"*\"] token may not read another tenant's records");
  has_str(body, "AUTH.FORBIDDEN", "AUTH.FORBIDDEN");
  has_str(body, "may not act for tenant tenant-other", "naming the tenant");
  is_int(as_token(star, "/api/repo/list", "{\"repo\":\"r\"}", "X-Soul-Tenant: tenant-other",
                  body, sizeof body),
         403, "nor through X-Soul-Tenant");
  has_str(body, "AUTH.FORBIDDEN", "  AUTH.FORBIDDEN");
  is_int(as_token(star, "/api/tools/execute",
                  "{\"tool_id\":\"demo.echo\",\"tenant\":\"tenant-other\",\"input\":{}}", NULL,
                  body, sizeof body),
         403, "nor execute a tool in another tenant");
  has_str(body, "AUTH.FORBIDDEN", "  AUTH.FORBIDDEN, before the tool is looked up");
  is_int(as_token(star, "/api/collab/resolve",
                  "{\"collab_id\":\"c1\",\"tenant\":\"tenant-other\",\"outcome\":{}}", NULL, body,
                  sizeof body),
         403, "nor resolve another tenant's collaboration");
  has_str(body, "AUTH.FORBIDDEN", "  AUTH.FORBIDDEN");
  is_int(as_token(star, "/tenants/tenant-other/tools.execute", "{}", NULL, body, sizeof body),
         403, "nor use another tenant's legacy route");
  has_str(body, "AUTH.FORBIDDEN", "  AUTH.FORBIDDEN");
  is_int(as_token("crosser-token-0123456789", "/api/repo/list",
                  "{\"repo\":\"r\",\"tenant\":\"tenant-other\"}", NULL, body, sizeof body),
         200, "\"*\" with tenant:* by name may act for another tenant");
  is_int(as_token("tenantonly-token-0123", "/api/repo/list",
                  "{\"repo\":\"r\",\"tenant\":\"tenant-other\"}", NULL, body, sizeof body),
         200, "tenant:* alone lets a principal act for another tenant");
  is_int(as_token("tenantonly-token-0123", "/api/repo/append",
                  "{\"repo\":\"r\",\"data\":1,\"tenant\":\"tenant-other\"}", NULL, body,
                  sizeof body),
         403, "but grants no route scope");
}

/* ------------------------------------------------------------------------------------------ */
/* 15: duplicate and weak credentials */

static void security_auth_duplicate_credentials(void) {
  char dir[] = "/tmp/soulgw-dup-XXXXXX";
  if (!ok(mkdtemp(dir) != NULL, "a temporary directory")) return;
  char *out = NULL;
  const char *dup =
      "[auth.tokens.first]\ntenant = \"t1\"\ntoken = \"same-secret-0123456789\"\n"
      "[auth.tokens.second]\ntenant = \"t2\"\ntoken = \"same-secret-0123456789\"\nscopes = [\"*\"]\n";
  is_int(check_config(dir, dup, NULL, &out), 78, "two tokens with one value: exit status 78");
  has_str(out, "[auth.tokens.second]", "the message names the second principal");
  has_str(out, "auth.tokens.first", "and the first");
  ok(out && !strstr(out, "same-secret-0123456789"), "but never the value");
  free(out);

  const char *dup_env =
      "[auth.tokens.first]\ntenant = \"t1\"\ntoken_env = \"SOULGW_DUP_A\"\n"
      "[auth.tokens.second]\ntenant = \"t1\"\ntoken_env = \"SOULGW_DUP_B\"\n";
  const char *env[] = {"SOULGW_DUP_A=env-secret-0123456789", "SOULGW_DUP_B=env-secret-0123456789",
                       NULL};
  is_int(check_config(dir, dup_env, env, &out), 78,
         "two variables holding one value: exit status 78");
  ok(out && !strstr(out, "env-secret-0123456789"), "never the value");
  free(out);

  const char *api =
      "[auth.tokens.first]\ntenant = \"t1\"\ntoken = \"api-and-token-0123456\"\n"
      "[auth.api_key]\ntenant = \"t1\"\nkey = \"api-and-token-0123456\"\n";
  is_int(check_config(dir, api, NULL, &out), 78, "the API key equal to a token: exit status 78");
  has_str(out, "[auth.api_key]", "naming the API key");
  has_str(out, "auth.tokens.first", "and the token");
  free(out);

  const char *hmac =
      "[auth.hmac_keys.k1]\ntenant = \"t1\"\nsecret = \"hmac-shared-0123456789\"\n"
      "[auth.hmac_keys.k2]\ntenant = \"t1\"\nsecret = \"hmac-shared-0123456789\"\n";
  is_int(check_config(dir, hmac, NULL, &out), 0, "two HMAC keys with one secret: accepted");
  has_str(out, "auth.hmac_keys.k2", "with a warning naming both keys");
  ok(out && !strstr(out, "hmac-shared-0123456789"), "never the value");
  free(out);

  /* the real start refuses it too */
  char cfg[400], db[400];
  snprintf(cfg, sizeof cfg, "%s/start.toml", dir);
  snprintf(db, sizeof db, "%s/start.db", dir);
  FILE *f = fopen(cfg, "w");
  if (f) {
    fprintf(f, "[server]\nport = 0\n%s", dup);
    fclose(f);
  }
  /* (under timeout: a gateway that started anyway would otherwise serve forever) */
  const char *argv[] = {"timeout", "-s", "KILL", "60", harness_soulgw_bin(), "--config", cfg,
                        "--db", db, NULL};
  is_int(run_cmd(argv, NULL, &out), 78, "soulgw does not start on duplicate tokens (78)");
  free(out);
  const char *rm[] = {"rm", "-rf", dir, NULL};
  run_cmd(rm, NULL, NULL);
}

static void security_auth_duplicate_on_reload(void) {
  gwproc g;
  const char *one =
      "[server]\nport = 0\n[auth.tokens.first]\ntenant = \"tenant-demo\"\n"
      "token = \"first-token-0123456789\"\nscopes = [\"repo:read\"]\n";
  const char *two =
      "[server]\nport = 0\n[auth.tokens.first]\ntenant = \"tenant-demo\"\n"
      "token = \"first-token-0123456789\"\nscopes = [\"repo:read\"]\n"
      "[auth.tokens.intruder]\ntenant = \"tenant-other\"\n"
      "token = \"first-token-0123456789\"\nscopes = [\"*\", \"tenant:*\"]\n";
  g.keep_db = 0;
  if (!ok(gw_start(&g, harness_soulgw_bin(), one, NULL, NULL) == 0, "the gateway starts")) return;
  gw_write_config(&g, two);
  gw_signal(&g, SIGHUP);
  ok(gw_wait_log(&g, "reload failed", 1, 20000), "a reload with a duplicate token fails");
  ok(gw_log_has(&g, "[auth.tokens.intruder]") && gw_log_has(&g, "auth.tokens.first"),
     "the log names both principals");
  http_resp r;
  const char *h[] = {"Content-Type: application/json",
                     "Authorization: Bearer first-token-0123456789", NULL};
  http(&g, "POST", "/api/repo/list", h, "{\"repo\":\"r\"}", &r);
  is_int(r.status, 200, "the old configuration stays in force");
  resp_free(&r);
  http(&g, "POST", "/api/repo/list", h, "{\"repo\":\"r\",\"tenant\":\"tenant-other\"}", &r);
  is_int(r.status, 403, "the token is still the first principal's (the second's tenant:* is "
                        "not in force)");
  resp_free(&r);
  ok(!gw_log_has(&g, "first-token-0123456789"), "the value is never logged");
  is_int(gw_stop(&g), 0, "exit status 0");
}

static void security_auth_weak_secret_warnings(void) {
  gwproc g;
  const char *toml =
      "[server]\nport = 0\n[auth.tokens.shorty]\ntenant = \"tenant-demo\"\n"
      "token = \"short-tok\"\nscopes = [\"repo:read\"]\n"
      "[auth.hmac_keys.tiny]\ntenant = \"tenant-demo\"\nsecret_env = \"SOULGW_TINY\"\n"
      "[auth.tokens.good]\ntenant = \"tenant-demo\"\ntoken_env = \"SOULGW_GOOD\"\n";
  const char *env[] = {"SOULGW_TINY=tiny-hmac", "SOULGW_GOOD=a-long-enough-token-0123", NULL};
  g.keep_db = 0;
  if (!ok(gw_start(&g, harness_soulgw_bin(), toml, env, NULL) == 0, "the gateway starts")) return;
  ok(gw_wait_log(&g, "listening", 1, 20000), "it is serving");
  ok(gw_log_has(&g, "auth.tokens.shorty") && gw_log_has(&g, "shorter than 16 characters"),
     "a token under 16 characters is warned about, by name");
  ok(gw_log_has(&g, "auth.hmac_keys.tiny"), "so is a short HMAC secret");
  ok(!gw_log_has(&g, "auth.tokens.good"), "a long token is not");
  ok(gw_log_has(&g, "[auth.tokens.shorty] holds a literal secret") &&
         gw_log_has(&g, g.config) && gw_log_has(&g, "readable by group or others"),
     "a literal secret in a file others can read is warned about, naming the file");
  ok(!gw_log_has(&g, "short-tok") && !gw_log_has(&g, "tiny-hmac"), "values are never logged");
  /* the same file, private: no warning about the literal */
  chmod(g.config, 0600);
  gw_signal(&g, SIGHUP);
  ok(gw_wait_log(&g, "configuration reloaded", 1, 20000), "reloaded");
  is_int(gw_log_count(&g, "holds a literal secret"), 1,
         "after chmod 600 the reload does not warn about the literal again");
  is_int(gw_stop(&g), 0, "exit status 0");
}

/* ------------------------------------------------------------------------------------------ */
/* 16: core dumps */

/* The "Max core file size" soft and hard limits of a process, as /proc shows them. */
static int core_limits(pid_t pid, char *soft, char *hard, size_t len) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int found = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "Max core file size", 18) != 0) continue;
    char s[64], h[64];
    if (sscanf(line + 18, "%63s %63s", s, h) == 2) {
      snprintf(soft, len, "%s", s);
      snprintf(hard, len, "%s", h);
      found = 0;
    }
  }
  fclose(f);
  return found;
}

/* The owner of /proc/PID/status: the process's own user while it is dumpable, root once it
 * is not.  -1 when it cannot be read. */
static long status_owner(pid_t pid) {
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  return stat(path, &st) == 0 ? (long)st.st_uid : -1;
}

#define NOBODY 65534

/* 1 when others may reach and run path: every directory above it searchable, the file
 * executable (a clone made under `mktemp -d`, mode 0700, is not). */
static int runnable_by_others(const char *path) {
  char real[PATH_MAX];
  struct stat st;
  if (!realpath(path, real) || stat(real, &st) != 0 || !(st.st_mode & S_IXOTH)) return 0;
  for (char *slash = strrchr(real, '/'); slash && slash > real; slash = strrchr(real, '/')) {
    *slash = '\0';
    if (stat(real, &st) != 0 || !(st.st_mode & S_IXOTH)) return 0;
  }
  return 1;
}

/* As root the owner says nothing (root either way), so the gateway is then run as nobody: this
 * program execs itself with SOULGW_TEST_AS_NOBODY naming the real binary (see main).  Where
 * nobody cannot reach the binary, it runs as root, saying so. */
static void start_observable(gwproc *g, const char *const *args, long *user, int *started) {
  static char self[1024], env_as[1200];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  *started = 0;
  *user = (long)getuid();
  const char *bin = harness_soulgw_bin();
  /* LeakSanitizer attaches to the process with ptrace, which an unprivileged user may not do
   * here; leaks are checked on every other run of the same binary */
  const char *env[] = {env_as, "ASAN_OPTIONS=detect_leaks=0", NULL};
  int as_nobody = getuid() == 0 && runnable_by_others(bin);
  if (getuid() == 0 && !as_nobody)
    tap_diag("%s is out of reach of user %d (a directory above it is not searchable): the "
             "gateway runs as root",
             bin, NOBODY);
  if (as_nobody) {
    if (n <= 0) return;
    self[n] = '\0';
    snprintf(env_as, sizeof env_as, "SOULGW_TEST_AS_NOBODY=%s", bin);
    bin = self;
    *user = NOBODY;
  } else {
    snprintf(env_as, sizeof env_as, "SOULGW_TEST_AS_NOBODY");
  }
  g->keep_db = 0;
  *started = gw_start(g, bin, BASE_TOML, env, args) == 0;
}

/* The wrapper: opens the test's directory to nobody, becomes nobody, runs the gateway. */
static int exec_as_nobody(const char *bin, char **argv) {
  for (int i = 1; argv[i]; i++)
    if (strcmp(argv[i - 1], "--port-file") == 0) {
      char dir[512];
      snprintf(dir, sizeof dir, "%s", argv[i]);
      char *slash = strrchr(dir, '/');
      if (slash) *slash = '\0';
      if (chmod(dir, 0777) != 0) return 126;
    }
  if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0) return 126;
  argv[0] = (char *)(uintptr_t)bin;
  execv(bin, argv);
  return 127;
}

static void security_auth_core_dumps_off(void) {
  gwproc g;
  char soft[64], hard[64];
  long user;
  int started;
  start_observable(&g, NULL, &user, &started);
  if (!ok(started, "the gateway starts (as user %ld)", user)) return;
  if (ok(core_limits(g.pid, soft, hard, sizeof soft) == 0, "/proc/PID/limits is readable")) {
    is_str(soft, "0", "core file size: soft limit 0");
    is_str(hard, "0", "core file size: hard limit 0");
  }
  is_int(status_owner(g.pid), 0,
         "the process is not dumpable (/proc/PID belongs to root, not to user %ld)", user);
  http_resp r;
  http_get(&g, "/metrics", &r);
  ok(r.body && strstr(r.body, "process_open_fds "), "its own /proc/self reads still work");
  ok(r.body && !strstr(r.body, "process_open_fds 0\n"), "and count its descriptors");
  resp_free(&r);
  is_int(gw_stop(&g), 0, "exit status 0");

  struct rlimit mine;
  getrlimit(RLIMIT_CORE, &mine);
  char want[64];
  if (mine.rlim_max == RLIM_INFINITY) snprintf(want, sizeof want, "unlimited");
  else snprintf(want, sizeof want, "%llu", (unsigned long long)mine.rlim_max);
  const char *allow[] = {"--allow-core-dumps", NULL};
  start_observable(&g, allow, &user, &started);
  if (!ok(started, "the gateway starts with --allow-core-dumps")) return;
  if (ok(core_limits(g.pid, soft, hard, sizeof soft) == 0, "/proc/PID/limits"))
    is_str(hard, want, "with --allow-core-dumps the hard limit is the inherited one");
  is_int(status_owner(g.pid), user, "and the process is dumpable (/proc/PID is user %ld's)",
         user);
  is_int(gw_stop(&g), 0, "exit status 0");
}

/* ------------------------------------------------------------------------------------------ */

static const tap_test shared[] = {
    TEST(security_auth_sign_test_vector),
    TEST(security_auth_star_is_not_tenant_star),
    TEST(security_auth_replay_flood_403_full_scale),
};

int main(int argc, char **argv) {
  const char *as = getenv("SOULGW_TEST_AS_NOBODY");
  if (as && *as) return exec_as_nobody(as, argv); /* see start_observable */
  (void)argc;
  if (sodium_init() < 0) return 1;
  RUN(security_auth_replay_after_restart);
  RUN(security_auth_skew_range);
  RUN(security_auth_replay_share_per_key);
  RUN(security_auth_duplicate_credentials);
  RUN(security_auth_duplicate_on_reload);
  RUN(security_auth_weak_secret_warnings);
  RUN(security_auth_core_dumps_off);
  if (tap_want(shared, TAP_COUNT(shared))) {
    if (!ok(gw_start(&gw, harness_soulgw_bin(), BASE_TOML, NULL, NULL) == 0,
            "the shared gateway starts"))
      return tap_done();
    tap_run(shared, TAP_COUNT(shared));
    is_int(gw_stop(&gw), 0, "the shared gateway: exit status 0");
  }
  return tap_done();
}

/*
 * auth.c -- authentication and authorization end to end (SPEC 5): bearer tokens, SB-HMAC
 * signatures, the API key, scopes, tenant binding, rate limits, every 401 naming its reason,
 * `soulgw sign`, and the runbook's secret rotation drill with SIGHUP.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

static gwproc gw;

static const char *const host_toml =
    "[server]\nport = 0\n[log]\nlevel = \"info\"\n"
    "[auth]\nhmac_skew_s = 300\n"
    "[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken_env = \"GATEWAY_TOKEN_LOCAL\"\n"
    "scopes = [\"test:read\"]\n"
    "[auth.tokens.noscope]\ntenant = \"tenant-demo\"\ntoken = \"noscope-token\"\nscopes = []\n"
    "[auth.tokens.admin]\ntenant = \"tenant-admin\"\ntoken = \"admin-token\"\n"
    "scopes = [\"*\", \"tenant:*\"]\n"
    "[auth.tokens.limited]\ntenant = \"tenant-demo\"\ntoken = \"limited-token\"\n"
    "scopes = [\"test:read\"]\nrate = 1\nburst = 2\n"
    "[auth.hmac_keys.local]\ntenant = \"tenant-demo\"\nsecret_env = \"GATEWAY_HMAC_LOCAL\"\n"
    "scopes = [\"test:read\"]\n"
    "[auth.api_key]\ntenant = \"tenant-demo\"\nkey = \"the-api-key\"\nscopes = [\"test:read\"]\n";

static const char *code_of(const http_resp *r, char *buf, size_t len) {
  cJSON *j = json_of(r);
  const char *c = json_str(j, "code");
  snprintf(buf, len, "%s", c ? c : "");
  cJSON_Delete(j);
  return buf;
}

static int get_with(const char *path, const char *header, http_resp *r) {
  const char *h[] = {header, NULL};
  return http(&gw, "GET", path, header ? h : NULL, NULL, r);
}

/* Expects a 401 with the given message fragment. */
static void expect_401(const char *header, const char *fragment, const char *what) {
  http_resp r;
  char code[64];
  get_with("/test/secure", header, &r);
  is_int(r.status, 401, "%s: 401", what);
  is_str(code_of(&r, code, sizeof code), "AUTH.UNAUTHENTICATED", "%s: code", what);
  has_str(r.body, fragment, "%s: the message names the reason", what);
  resp_free(&r);
}

static void integration_auth_bearer(void) {
  http_resp r;
  get_with("/test/secure", "Authorization: Bearer test-token", &r);
  is_int(r.status, 200, "a known bearer token is accepted");
  cJSON *j = json_of(&r);
  is_str(json_str(j, "principal"), "local", "the principal is the token's name");
  cJSON_Delete(j);
  resp_free(&r);
  get_with("/test/secure", "authorization: bearer test-token", &r);
  is_int(r.status, 200, "header name and scheme are case-insensitive");
  resp_free(&r);
  expect_401(NULL, "missing credential", "no credential");
  expect_401("Authorization: Bearer test-tokeN", "unknown bearer token", "a wrong token");
  expect_401("Authorization: Bearer test-token-and-more", "unknown bearer token",
             "a token with the right prefix");
  expect_401("Authorization: Bearer test", "unknown bearer token", "a prefix of the token");
}

static void integration_auth_malformed(void) {
  char big[10300];
  snprintf(big, sizeof big, "Authorization: Bearer ");
  memset(big + 22, 'x', 10240);
  big[22 + 10240] = '\0';
  expect_401("Authorization: Bearer", "no credential", "Bearer without a token");
  expect_401("Authorization: Bearer  test-token", "malformed Authorization header",
             "Bearer with two spaces");
  expect_401("Authorization: Basic dXNlcjpwYXNz", "unsupported Authorization scheme", "Basic");
  expect_401("Authorization: SB-HMAC local", "malformed Authorization header", "SB-HMAC without ':'");
  expect_401("Authorization: SB-HMAC local:abc", "expected 64 hex digits, got 3", "a short signature");
  char odd[128], nonhex[128];
  snprintf(odd, sizeof odd, "Authorization: SB-HMAC local:%063d", 0);
  expect_401(odd, "expected 64 hex digits, got 63", "odd-length hex");
  snprintf(nonhex, sizeof nonhex, "Authorization: SB-HMAC local:%s",
           "zz00000000000000000000000000000000000000000000000000000000000000");
  expect_401(nonhex, "not hexadecimal", "non-hex signature");
  expect_401("Authorization: SB-HMAC :00", "malformed Authorization header", "an empty key id");
  expect_401(big, "malformed", "a 10 KB token");
  expect_401("x-api-key;", "malformed x-api-key", "an empty API key"); /* curl: "Name;" sends it empty */
  /* a NUL byte in a header value: libmicrohttpd refuses the request, the gateway goes on */
  const char nul[] = "GET /test/secure HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\0b\r\n\r\n";
  char *got = raw_exchange(&gw, nul, sizeof nul - 1, 3000);
  ok(got && (strncmp(got, "HTTP/1.1 400", 12) == 0 || strncmp(got, "HTTP/1.1 401", 12) == 0),
     "a NUL in the Authorization header is refused (%.12s)", got ? got : "nothing");
  free(got);
  http_resp r;
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "and the gateway keeps serving");
  resp_free(&r);
}

/* Signs like a client would, with libsodium, so that every field can be chosen. */
static void sign(char *out, size_t outlen, const char *key_id, const char *secret,
                 const char *method, const char *path, const char *date, const char *body_hash,
                 const char *nonce) {
  char canon[2048];
  int n = snprintf(canon, sizeof canon, "%s\n%s\n%s", method, path, date);
  if (body_hash) n += snprintf(canon + n, sizeof canon - (size_t)n, "\n%s", body_hash);
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

static void now_date(char *out, size_t len, long offset) {
  time_t t = time(NULL) + offset;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static long hmac_get(const char *path, const char *authz, const char *date, const char *nonce,
                     const char *extra, char *body, size_t bodylen) {
  char d[128], n[200];
  snprintf(d, sizeof d, "x-sb-date: %s", date ? date : "");
  snprintf(n, sizeof n, "x-sb-nonce: %s", nonce ? nonce : "");
  const char *h[6];
  int k = 0;
  h[k++] = authz;
  if (date) h[k++] = d;
  if (nonce) h[k++] = n;
  if (extra) h[k++] = extra;
  h[k] = NULL;
  http_resp r;
  http(&gw, "GET", path, h, NULL, &r);
  if (body) snprintf(body, bodylen, "%s", r.body ? r.body : "");
  long st = r.status;
  resp_free(&r);
  return st;
}

static void integration_auth_hmac(void) {
  char date[64], authz[256], body[1024];
  now_date(date, sizeof date, 0);
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure", date, NULL, "nonce-0001");
  is_int(hmac_get("/test/secure", authz, date, "nonce-0001", NULL, body, sizeof body), 200,
         "a correctly signed request is accepted");
  has_str(body, "\"principal\":\"local\"", "the principal is the key id");
  is_int(hmac_get("/test/secure", authz, date, "nonce-0001", NULL, body, sizeof body), 401,
         "the same signature again is refused");
  has_str(body, "replay", "as a replay");
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure?x=1", date, NULL,
       "nonce-0002");
  is_int(hmac_get("/test/secure?x=1", authz, date, "nonce-0002", NULL, body, sizeof body), 401,
         "the query string is not part of the signed path");
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure", date, NULL, "nonce-0003");
  is_int(hmac_get("/test/secure?x=1", authz, date, "nonce-0003", NULL, body, sizeof body), 200,
         "a request with a query verifies against the path alone");
  sign(authz, sizeof authz, "local", "wrong-secret", "GET", "/test/secure", date, NULL,
       "nonce-0004");
  is_int(hmac_get("/test/secure", authz, date, "nonce-0004", NULL, body, sizeof body), 401,
         "a wrong secret is refused");
  has_str(body, "signature does not match", "as a bad signature");
  sign(authz, sizeof authz, "nokey", "test-hmac", "GET", "/test/secure", date, NULL, "nonce-0005");
  is_int(hmac_get("/test/secure", authz, date, "nonce-0005", NULL, body, sizeof body), 401,
         "an unknown key id is refused");
  has_str(body, "unknown HMAC key id", "naming the reason");
  is_int(hmac_get("/test/secure", authz, NULL, NULL, NULL, body, sizeof body), 401,
         "no x-sb-date");
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure", date, NULL, NULL);
  is_int(hmac_get("/test/secure", authz, NULL, NULL, NULL, body, sizeof body), 401,
         "a signed request without its date");
  has_str(body, "missing x-sb-date", "naming the missing header");
  is_int(hmac_get("/test/secure", authz, "yesterday", NULL, NULL, body, sizeof body), 401,
         "a malformed date");
  has_str(body, "malformed x-sb-date", "naming the problem");
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure", "9999-12-31T23:59:59Z",
       NULL, NULL);
  is_int(hmac_get("/test/secure", authz, "9999-12-31T23:59:59Z", NULL, NULL, body, sizeof body),
         401, "a date in the year 9999");
  has_str(body, "outside the allowed skew of 300 seconds", "is outside the skew");
  char old[64];
  now_date(old, sizeof old, -400);
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure", old, NULL, "nonce-0006");
  is_int(hmac_get("/test/secure", authz, old, "nonce-0006", NULL, body, sizeof body), 401,
         "a date 400 s old");
  /* HTTP-date format and upper-case hex */
  char hdate[64];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(hdate, sizeof hdate, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure", hdate, NULL, "nonce-0007");
  for (char *p = strrchr(authz, ':') + 1; *p; p++)
    if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
  is_int(hmac_get("/test/secure", authz, hdate, "nonce-0007", NULL, body, sizeof body), 200,
         "an HTTP date and an upper-case signature are accepted");
  /* nonce rules */
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure", date, NULL, "short");
  is_int(hmac_get("/test/secure", authz, date, "short", NULL, body, sizeof body), 401,
         "a nonce under 8 characters");
  has_str(body, "malformed x-sb-nonce", "naming the nonce");
  /* body hash on a GET without body: the hash of the empty body */
  const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  char bh[100];
  snprintf(bh, sizeof bh, "x-sb-content-sha256: %s", empty);
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure", date, empty, "nonce-0008");
  is_int(hmac_get("/test/secure", authz, date, "nonce-0008", bh, body, sizeof body), 200,
         "a body hash of the empty body on a GET");
  const char *wrong = "0000000000000000000000000000000000000000000000000000000000000000";
  snprintf(bh, sizeof bh, "x-sb-content-sha256: %s", wrong);
  sign(authz, sizeof authz, "local", "test-hmac", "GET", "/test/secure", date, wrong, "nonce-0009");
  is_int(hmac_get("/test/secure", authz, date, "nonce-0009", bh, body, sizeof body), 401,
         "a body hash that does not match the body");
  has_str(body, "does not match the body", "naming the mismatch");
}

static void integration_auth_failures_counted(void) {
  http_resp r;
  http_get(&gw, "/metrics", &r);
  has_str(r.body, "soulgw_auth_failures_total{reason=\"replay\"} 1", "replays counted by reason");
  has_str(r.body, "soulgw_auth_failures_total{reason=\"bad_signature\"}", "bad signatures counted");
  has_str(r.body, "soulgw_auth_failures_total{reason=\"date_skew\"} 2", "skew failures counted");
  has_str(r.body, "soulgw_auth_failures_total{reason=\"unknown_token\"}", "unknown tokens counted");
  has_str(r.body, "soulgw_auth_failures_total{reason=\"missing\"}", "missing credentials counted");
  resp_free(&r);
}

static void integration_auth_scopes_and_tenant(void) {
  http_resp r;
  char code[64];
  get_with("/test/secure", "Authorization: Bearer noscope-token", &r);
  is_int(r.status, 403, "a valid token without the route's scope gets 403");
  is_str(code_of(&r, code, sizeof code), "AUTH.FORBIDDEN", "code AUTH.FORBIDDEN");
  has_str(r.body, "insufficient scope: needs test:read", "naming the missing scope");
  resp_free(&r);
  get_with("/test/secure", "Authorization: Bearer admin-token", &r);
  is_int(r.status, 200, "scope * matches every scope");
  resp_free(&r);
  const char *h[] = {"Content-Type: application/json", "Authorization: Bearer test-token", NULL};
  http(&gw, "POST", "/test/tenant", h, "{\"tenant\":\"tenant-other\"}", &r);
  is_int(r.status, 403, "a principal acting for another tenant gets 403");
  has_str(r.body, "may not act for tenant tenant-other", "naming the tenant");
  resp_free(&r);
  http(&gw, "POST", "/test/tenant", h, "{}", &r);
  cJSON *j = json_of(&r);
  is_str(json_str(j, "tenant"), "tenant-demo", "without a tenant, the principal's");
  cJSON_Delete(j);
  resp_free(&r);
  const char *ha[] = {"Content-Type: application/json", "Authorization: Bearer admin-token", NULL};
  http(&gw, "POST", "/test/tenant", ha, "{\"tenant\":\"tenant-other\"}", &r);
  is_int(r.status, 200, "a principal holding tenant:* may act for any tenant");
  resp_free(&r);
  const char *hh[] = {"Content-Type: application/json", "Authorization: Bearer test-token",
                      "X-Soul-Tenant: tenant-other", NULL};
  http(&gw, "POST", "/test/tenant", hh, "{}", &r);
  is_int(r.status, 403, "the X-Soul-Tenant header is bound to the principal too");
  resp_free(&r);
}

static void integration_auth_api_key(void) {
  http_resp r;
  get_with("/test/secure", "x-api-key: the-api-key", &r);
  is_int(r.status, 200, "the API key is accepted");
  has_str(r.body, "\"principal\":\"api_key\"", "as principal api_key");
  resp_free(&r);
  expect_401("x-api-key: not-the-key", "unknown API key", "a wrong API key");
}

static void integration_auth_rate_limit(void) {
  http_resp r;
  char code[64];
  int ok200 = 0;
  for (int i = 0; i < 2; i++) {
    get_with("/test/secure", "Authorization: Bearer limited-token", &r);
    ok200 += r.status == 200;
    resp_free(&r);
  }
  is_int(ok200, 2, "a burst of 2 is allowed");
  get_with("/test/secure", "Authorization: Bearer limited-token", &r);
  is_int(r.status, 429, "the third request at once gets 429");
  is_str(code_of(&r, code, sizeof code), "QUOTA.RATE_LIMITED", "code QUOTA.RATE_LIMITED");
  is_str(resp_header(&r, "Retry-After"), "1", "Retry-After: 1");
  resp_free(&r);
  get_with("/test/secure", "Authorization: Bearer test-token", &r);
  is_int(r.status, 200, "other principals are not limited");
  resp_free(&r);
  usleep(1100 * 1000);
  get_with("/test/secure", "Authorization: Bearer limited-token", &r);
  is_int(r.status, 200, "after a second a token is back");
  resp_free(&r);
}

static void integration_auth_sign_cli(void) {
  char *out = NULL;
  const char *argv[] = {harness_soulgw_bin(), "sign", "--key-id", "local", "--secret-env",
                        "GATEWAY_HMAC_LOCAL", "GET", "/test/secure", NULL};
  is_int(run_cmd(argv, NULL, &out), 0, "soulgw sign exits 0");
  has_str(out, "x-sb-date: ", "prints the date");
  has_str(out, "x-sb-nonce: ", "a nonce");
  has_str(out, "Authorization: SB-HMAC local:", "and the Authorization header");
  const char *h[6];
  int k = 0;
  char *save = NULL;
  for (char *line = strtok_r(out, "\n", &save); line && k < 5; line = strtok_r(NULL, "\n", &save))
    h[k++] = line;
  h[k] = NULL;
  http_resp r;
  http(&gw, "GET", "/test/secure", h, NULL, &r);
  is_int(r.status, 200, "the gateway accepts the headers soulgw sign printed");
  resp_free(&r);
  free(out);
  /* with a body */
  char path[300];
  snprintf(path, sizeof path, "%s/body.json", gw.dir);
  FILE *f = fopen(path, "w");
  fputs("{\"hello\":\"world\"}", f);
  fclose(f);
  const char *argv2[] = {harness_soulgw_bin(), "sign", "--key-id", "local", "--secret-env",
                         "GATEWAY_HMAC_LOCAL", "--body", path, "POST", "/test/secure", NULL};
  is_int(run_cmd(argv2, NULL, &out), 0, "soulgw sign --body exits 0");
  has_str(out, "x-sb-content-sha256: ", "and prints the body hash");
  k = 0;
  h[k++] = "Content-Type: application/json";
  for (char *line = strtok_r(out, "\n", &save); line && k < 5; line = strtok_r(NULL, "\n", &save))
    h[k++] = line;
  h[k] = NULL;
  http(&gw, "POST", "/test/secure", h, "{\"hello\":\"world\"}", &r);
  is_int(r.status, 200, "a signed body is accepted");
  resp_free(&r);
  http(&gw, "POST", "/test/secure", h, "{\"hello\":\"there\"}", &r);
  is_int(r.status, 401, "the same headers with another body are refused");
  resp_free(&r);
  free(out);
  const char *argv3[] = {harness_soulgw_bin(), "sign", "--key-id", "local", "--secret-env",
                         "SOULGW_NO_SUCH_VAR", "GET", "/x", NULL};
  is_int(run_cmd(argv3, NULL, &out), 78, "a missing secret variable: exit 78");
  free(out);
  const char *argv4[] = {harness_soulgw_bin(), "sign", "GET", NULL};
  is_int(run_cmd(argv4, NULL, &out), 64, "missing arguments: exit 64");
  free(out);
}

static void integration_auth_no_secrets_in_log(void) {
  ok(!gw_log_has(&gw, "test-token") && !gw_log_has(&gw, "test-hmac") &&
         !gw_log_has(&gw, "noscope-token") && !gw_log_has(&gw, "the-api-key") &&
         !gw_log_has(&gw, "wrong-secret"),
     "no secret or presented credential appears in the log");
}

static const tap_test tests[] = {
    TEST(integration_auth_bearer),       TEST(integration_auth_malformed),
    TEST(integration_auth_hmac),         TEST(integration_auth_failures_counted),
    TEST(integration_auth_scopes_and_tenant), TEST(integration_auth_api_key),
    TEST(integration_auth_rate_limit),   TEST(integration_auth_sign_cli),
    TEST(integration_auth_no_secrets_in_log),
};

/* ------------------------------------------------------------------------------------------ */
/* The rotation drill on the real binary */

typedef struct slow_call {
  gwproc *g;
  const char *header;
  long status;
} slow_call;

static void *slow_get(void *arg) {
  slow_call *c = arg;
  http_resp r;
  const char *h[] = {c->header, NULL};
  http(c->g, "GET", "/test/slow_secure?ms=1500", h, NULL, &r);
  c->status = r.status;
  resp_free(&r);
  return NULL;
}

static void write_secret(const char *path, const char *value, mode_t mode) {
  FILE *f = fopen(path, "w");
  fprintf(f, "%s\n", value);
  fclose(f);
  chmod(path, mode);
}

static void integration_auth_rotation_drill(void) {
  gwproc g;
  char toml[2048], secret_path[300], hmac_path[300];
  g.keep_db = 0;
  if (gw_start(&g, harness_testhost_bin(), "[server]\nport = 0\n", NULL, NULL) != 0) return;
  snprintf(secret_path, sizeof secret_path, "%s/token", g.dir);
  snprintf(hmac_path, sizeof hmac_path, "%s/hmac", g.dir);
  write_secret(secret_path, "old-token", 0600);
  write_secret(hmac_path, "hmac-secret", 0644);
  snprintf(toml, sizeof toml,
           "[server]\nport = 0\n[auth.tokens.local]\ntenant = \"tenant-demo\"\n"
           "token_file = \"%s\"\nscopes = [\"test:read\"]\n"
           "[auth.hmac_keys.ci]\ntenant = \"tenant-demo\"\nsecret_file = \"%s\"\nscopes = []\n",
           secret_path, hmac_path);
  gw_write_config(&g, toml);
  gw_signal(&g, SIGHUP);
  gw_wait_log(&g, "configuration reloaded", 1, 10000);
  /* the auth stage's line follows the reload's: wait for it rather than race it */
  ok(gw_wait_log(&g, "auth stage loaded 1 tokens, 1 hmac keys", 1, 10000),
     "the reload logs the auth stage");
  ok(gw_log_has(&g, "is readable by group or others"), "a world-readable secret file is warned about");
  http_resp r;
  const char *old[] = {"Authorization: Bearer old-token", NULL};
  const char *neu[] = {"Authorization: Bearer new-token", NULL};
  http(&g, "GET", "/test/secure", old, NULL, &r);
  is_int(r.status, 200, "the old token works before the rotation");
  resp_free(&r);
  /* a request in flight on the old credential */
  slow_call c = {&g, "Authorization: Bearer old-token", 0};
  pthread_t t;
  pthread_create(&t, NULL, slow_get, &c);
  ok(gw_wait_inflight(&g, 2, 10000), "the slow request is in flight");
  write_secret(secret_path, "new-token", 0600);
  gw_signal(&g, SIGHUP);
  gw_wait_log(&g, "configuration reloaded", 2, 10000);
  http(&g, "GET", "/test/secure", old, NULL, &r);
  is_int(r.status, 401, "after SIGHUP the old token is refused");
  resp_free(&r);
  http(&g, "GET", "/test/secure", neu, NULL, &r);
  is_int(r.status, 200, "and the new one is accepted");
  resp_free(&r);
  pthread_join(t, NULL);
  is_int(c.status, 200, "the request in flight on the old credential finished undisturbed");
  /* an invalid new configuration keeps the old state */
  snprintf(toml, sizeof toml,
           "[server]\nport = 0\n[auth.tokens.local]\ntenant = \"tenant-demo\"\n"
           "token_env = \"SOULGW_ROTATION_MISSING\"\nscopes = [\"test:read\"]\n");
  gw_write_config(&g, toml);
  gw_signal(&g, SIGHUP);
  gw_wait_log(&g, "reload failed", 1, 10000);
  ok(gw_log_has(&g, "environment variable SOULGW_ROTATION_MISSING for auth.tokens.local.token not set"),
     "a reload with a missing variable logs why");
  http(&g, "GET", "/test/secure", neu, NULL, &r);
  is_int(r.status, 200, "and keeps the running credentials");
  resp_free(&r);
  ok(!gw_log_has(&g, "old-token") && !gw_log_has(&g, "new-token") && !gw_log_has(&g, "hmac-secret"),
     "no secret in the log");
  is_int(gw_stop(&g), 0, "exit status 0");
}

int main(void) {
  if (tap_want(tests, TAP_COUNT(tests))) {
    if (gw_start(&gw, harness_testhost_bin(), host_toml, NULL, NULL) != 0) {
      ok(0, "the test host starts");
      return tap_done();
    }
    /* signatures dated at or before the start second are refused (a possible replay) */
    for (time_t t0 = time(NULL); time(NULL) <= t0;) usleep(50 * 1000);
    tap_run(tests, TAP_COUNT(tests));
    gw_stop(&gw);
  }
  RUN(integration_auth_rotation_drill);
  return tap_done();
}

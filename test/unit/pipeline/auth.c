/*
 * auth.c -- unit tests of lib/pipeline/auth.c: the authentication stage as a function from a
 * credentials view (a struct literal over a list of headers) to a principal or a verdict
 * {code, reason, message, retry_after}.  No request, socket or gateway is involved: the stage
 * never answers, the pipeline renders what it returns (issue 8, item 4).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/crypto.h"
#include "base/metrics.h"
#include "conf/config.h"
#include "pipeline/auth.h"
#include "tap.h"

#define TOKEN "unit-token-0123456789"
#define SLOW "slow-token-0123456789"
#define SECRET "unit-hmac-secret-0123456789"

static const char *const TOML =
    "[auth]\nhmac_skew_s = 300\n"
    "[auth.tokens.unit]\ntenant = \"t1\"\ntoken = \"" TOKEN "\"\nscopes = [\"tools:execute\"]\n"
    "[auth.tokens.slow]\ntenant = \"t1\"\ntoken = \"" SLOW "\"\nscopes = [\"tools:execute\"]\n"
    "rate = 1\nburst = 1\n"
    "[auth.hmac_keys.k1]\ntenant = \"t1\"\nsecret = \"" SECRET "\"\nscopes = [\"repo:write\"]\n";

/* The headers of a request: name, value, ..., NULL. */
static const char *lookup(void *ctx, const char *name) {
  for (const char *const *h = ctx; *h; h += 2)
    if (strcasecmp(h[0], name) == 0) return h[1];
  return NULL;
}

typedef struct fixture {
  soulgw_config *cfg;
  sg_metrics *metrics;
  sg_replay *replay;
  sg_auth *auth;
} fixture;

static int setup(fixture *f) {
  memset(f, 0, sizeof *f);
  if (sg_crypto_init() != 0) return -1;
  f->cfg = soulgw_config_new();
  if (!f->cfg || soulgw_config_load_string(f->cfg, TOML, "t.toml") != 0) return -1;
  f->metrics = sg_metrics_new();
  f->replay = sg_replay_new(64);
  sg_family *failures = f->metrics ? sg_metrics_family(f->metrics, "soulgw_auth_failures_total",
                                                       "by reason", "reason", 32, NULL)
                                   : NULL;
  if (!failures || !f->replay) return -1;
  f->auth = sg_auth_new(sg_config_snapshot(f->cfg), f->replay, failures, NULL);
  return f->auth ? 0 : -1;
}

static void teardown(fixture *f) {
  sg_auth_free(f->auth);
  sg_replay_free(f->replay);
  sg_metrics_free(f->metrics);
  soulgw_config_free(f->cfg);
}

/* Authenticates in full: 0 with *p, or -1 with *v. */
static int authn(fixture *f, const char *const *headers, const sg_principal **p,
                 sg_hmac_pending *pend, sg_verdict *v) {
  sg_creds c = {"POST", "/api/repo/append", lookup, (void *)(uintptr_t)headers, NULL, 0};
  return sg_auth_authenticate(f->auth, &c, p, pend, v);
}

static void unit_auth_bearer(void) {
  fixture f;
  if (!ok(setup(&f) == 0, "an auth state")) {
    teardown(&f);
    return;
  }
  const sg_principal *p = NULL;
  sg_hmac_pending pend;
  sg_verdict v;
  const char *known[] = {"Authorization", "Bearer " TOKEN, NULL};
  is_int(authn(&f, known, &p, &pend, &v), 0, "a known bearer token");
  is_str(p ? p->id : NULL, "unit", "  is its principal");
  is_str(p ? p->tenant : NULL, "t1", "  of its tenant");
  const char *unknown[] = {"Authorization", "Bearer nope-token-0123456789", NULL};
  is_int(authn(&f, unknown, &p, &pend, &v), -1, "an unknown bearer token");
  ok(p == NULL, "  no principal");
  is_int(v.code, SOULGW_API_AUTH_UNAUTHENTICATED, "  401 AUTH.UNAUTHENTICATED");
  is_str(v.reason, "unknown_token", "  reason unknown_token");
  is_str(v.message, "unknown bearer token", "  the message");
  is_int(v.retry_after, 0, "  no Retry-After");
  ok(v.www_authenticate == NULL, "  no WWW-Authenticate");
  const char *scheme[] = {"Authorization", "Basic dXNlcjpwdw==", NULL};
  is_int(authn(&f, scheme, &p, &pend, &v), -1, "another scheme");
  is_str(v.reason, "unsupported_scheme", "  reason unsupported_scheme");
  const char *none[] = {NULL};
  is_int(authn(&f, none, &p, &pend, &v), 0, "no credential at all");
  ok(p == NULL, "  is no principal (the pipeline decides)");
  teardown(&f);
}

/* The digest of the last valid token is remembered (per thread): a token that differs from it
 * anywhere, or in length, is still refused; a token a reload removed is refused by the new
 * state at once; a token too long to be remembered still works. */
static void unit_auth_remembered_token(void) {
  fixture f;
  if (!ok(setup(&f) == 0, "an auth state")) {
    teardown(&f);
    return;
  }
  const sg_principal *p = NULL;
  sg_verdict v;
  const char *known[] = {"Authorization", "Bearer " TOKEN, NULL};
  const char *near[][3] = {{"Authorization", "Bearer unit-token-0123456788", NULL},
                           {"Authorization", "Bearer unit-token-012345678", NULL},
                           {"Authorization", "Bearer " TOKEN "9", NULL},
                           {"Authorization", "Bearer Unit-token-0123456789", NULL}};
  is_int(authn(&f, known, &p, NULL, &v), 0, "a known token");
  is_int(authn(&f, known, &p, NULL, &v), 0, "the same token again");
  is_str(p ? p->id : NULL, "unit", "  is its principal");
  for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
    p = NULL;
    is_int(authn(&f, near[i], &p, NULL, &v), -1, "a token next to the last one: %s", near[i][1]);
    ok(p == NULL && v.reason && strcmp(v.reason, "unknown_token") == 0, "  unknown_token");
  }
  is_int(authn(&f, known, &p, NULL, &v), 0, "the known token after the misses");

  /* a reload without the token: a new state from a configuration that no longer lists it */
  char long_token[151]; /* longer than the 120 bytes remembered */
  memset(long_token, 'L', 150);
  long_token[150] = '\0';
  char toml[1024];
  snprintf(toml, sizeof toml,
           "[auth.tokens.slow]\ntenant = \"t1\"\ntoken = \"" SLOW "\"\nscopes = []\n"
           "[auth.tokens.long]\ntenant = \"t1\"\ntoken = \"%s\"\nscopes = []\n",
           long_token);
  soulgw_config *cfg = soulgw_config_new();
  sg_auth *old = f.auth;
  if (!ok(cfg && soulgw_config_load_string(cfg, toml, "t2.toml") == 0, "a second configuration")) {
    if (cfg) tap_diag("%s", soulgw_config_errmsg(cfg));
    soulgw_config_free(cfg);
    teardown(&f);
    return;
  }
  f.auth = sg_auth_new(sg_config_snapshot(cfg), f.replay,
                       sg_metrics_family(f.metrics, "soulgw_auth_failures_total", "by reason",
                                         "reason", 32, NULL),
                       old);
  if (ok(f.auth != NULL, "the reloaded state")) {
    p = NULL;
    is_int(authn(&f, known, &p, NULL, &v), -1, "the removed token, just remembered, is refused");
    ok(p == NULL && v.reason && strcmp(v.reason, "unknown_token") == 0, "  unknown_token");
    char hdr[256];
    snprintf(hdr, sizeof hdr, "Bearer %s", long_token);
    const char *lng[] = {"Authorization", hdr, NULL};
    is_int(authn(&f, lng, &p, NULL, &v), 0, "a 150-byte token");
    is_str(p ? p->id : NULL, "long", "  is its principal");
    is_int(authn(&f, lng, &p, NULL, &v), 0, "  and again");
    hdr[20] = 'M';
    is_int(authn(&f, lng, &p, NULL, &v), -1, "  one byte changed is refused");
  }
  sg_auth_free(f.auth);
  f.auth = old;
  soulgw_config_free(cfg);
  teardown(&f);
}

/* The headers soulgw_sign() prints, as name/value pairs in h (at most 4), NULL-terminated. */
static int parse_signed(char *text, const char **h) {
  int n = 0;
  for (char *line = strtok(text, "\n"); line && n < 8; line = strtok(NULL, "\n")) {
    char *colon = strstr(line, ": ");
    if (!colon) return -1;
    *colon = '\0';
    h[n++] = line;
    h[n++] = colon + 2;
  }
  h[n] = NULL;
  return 0;
}

static void unit_auth_hmac(void) {
  fixture f;
  if (!ok(setup(&f) == 0, "an auth state")) {
    teardown(&f);
    return;
  }
  /* dated after the cache's horizon (its start), within the skew */
  char *text = soulgw_sign("k1", SECRET, strlen(SECRET), "POST", "/api/repo/append", NULL, 0,
                           (long long)time(NULL) + 2);
  const char *h[9];
  if (!ok(text && parse_signed(text, h) == 0, "soulgw_sign signs")) {
    free(text);
    teardown(&f);
    return;
  }
  const sg_principal *p = NULL;
  sg_hmac_pending pend;
  sg_verdict v;
  sg_creds head = {"POST", "/api/repo/append", lookup, (void *)(uintptr_t)h, NULL, 0};
  is_int(sg_auth_identify(f.auth, &head, &p, &v), 0, "identified from the headers");
  is_str(p ? p->id : NULL, "k1", "  as key k1");
  is_int(authn(&f, h, &p, &pend, &v), 0, "authenticated in full");
  is_str(p ? p->kind : NULL, "hmac", "  an HMAC principal");
  is_int(sg_auth_record(f.auth, &pend, "k1", &v), 0, "its signature is recorded");
  is_int(sg_auth_record(f.auth, &pend, "k1", &v), -1, "and refused the second time");
  is_int(v.code, SOULGW_API_AUTH_UNAUTHENTICATED, "  401");
  is_str(v.reason, "replay", "  reason replay");
  is_int(authn(&f, h, &p, &pend, &v), -1, "a replayed request fails authentication");
  is_str(v.reason, "replay", "  reason replay");

  /* the last hex digit of the signature changed */
  for (int i = 0; h[i]; i += 2) {
    if (strcasecmp(h[i], "Authorization") != 0) continue;
    char *sig = (char *)(uintptr_t)h[i + 1];
    size_t n = strlen(sig);
    sig[n - 1] = sig[n - 1] == '0' ? '1' : '0';
  }
  is_int(authn(&f, h, &p, &pend, &v), -1, "a signature that does not match");
  is_int(v.code, SOULGW_API_AUTH_UNAUTHENTICATED, "  401");
  is_str(v.reason, "bad_signature", "  reason bad_signature");
  is_str(v.message, "SB-HMAC signature does not match", "  the message");
  is_int(sg_auth_identify(f.auth, &head, &p, &v), -1, "  refused from the headers alone too");
  is_str(v.reason, "bad_signature", "  reason bad_signature");
  const char *nodate[] = {"Authorization", "SB-HMAC k1:" /* 64 hex digits */
                          "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                          NULL};
  is_int(authn(&f, nodate, &p, &pend, &v), -1, "no x-sb-date");
  is_str(v.reason, "missing_date", "  reason missing_date");
  free(text);
  teardown(&f);
}

static void unit_auth_rate_limited(void) {
  fixture f;
  if (!ok(setup(&f) == 0, "an auth state")) {
    teardown(&f);
    return;
  }
  const sg_principal *p = NULL;
  sg_hmac_pending pend;
  sg_verdict v;
  const char *slow[] = {"Authorization", "Bearer " SLOW, NULL};
  if (!ok(authn(&f, slow, &p, &pend, &v) == 0 && p, "a token of rate 1/s, burst 1")) {
    teardown(&f);
    return;
  }
  is_int(sg_auth_rate(f.auth, p, &v), 0, "its first request passes");
  /* a second one within the same second, or a few more on a very slow machine */
  int rc = 0;
  for (int i = 0; i < 100 && rc == 0; i++) rc = sg_auth_rate(f.auth, p, &v);
  is_int(rc, -1, "then it is rate limited");
  is_int(v.code, SOULGW_API_QUOTA_RATE_LIMITED, "  429 QUOTA.RATE_LIMITED");
  ok(v.retry_after >= 1, "  Retry-After of at least 1 s");
  ok(v.reason == NULL, "  not an authentication failure (no reason counted)");
  has_str(v.message, "rate limit exceeded for slow", "  the message names the principal");
  const char *unit[] = {"Authorization", "Bearer " TOKEN, NULL};
  if (authn(&f, unit, &p, &pend, &v) == 0 && p)
    is_int(sg_auth_rate(f.auth, p, &v), 0, "a token without a rate is never limited");
  teardown(&f);
}

static const tap_test tests[] = {
    TEST(unit_auth_bearer),
    TEST(unit_auth_remembered_token),
    TEST(unit_auth_hmac),
    TEST(unit_auth_rate_limited),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

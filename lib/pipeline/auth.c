/*
 * auth.c -- the authentication stage (see auth.h): bearer tokens, SB-HMAC signatures and the
 * API key, each failure a 401 verdict naming its reason (the pipeline counts it by reason).
 *
 * Secrets are never compared as strings.  Bearer tokens and the API key are reduced to a keyed
 * BLAKE2b digest (the key is random per process) and looked up by digest, so neither the time
 * taken nor the table walked depends on how much of a guess was right, or on its length; the
 * digest of the last valid one is remembered per thread (digest_of() says how that stays
 * constant-time and safe across reloads).  HMAC signatures are compared in constant time after
 * hex decoding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipeline/auth.h"
#include "base/crypto.h"
#include "pipeline/hmac.h"

typedef struct cred {
  sg_principal p;
  unsigned char digest[32]; /* bearer tokens and the API key */
  const char *secret;       /* HMAC keys: the raw secret (owned by the configuration) */
  size_t secret_len;
  int share;                /* HMAC keys: the key's share of the replay cache */
  long long rate, burst;
} cred;

struct sg_auth {
  cred *creds; /* tokens, then HMAC keys, then the API key */
  size_t ntokens, nhmac, ncreds;
  int32_t *by_digest; /* bearer tokens by digest, open addressing, -1 empty */
  size_t table_size;
  cred *api_key;
  sg_replay *replay;
  sg_limiter *limiter; /* NULL: each principal's bucket */
  sg_family *failures;
  int64_t skew;
  int require_body_hash, require_nonce;
};

static size_t slot_of(const unsigned char digest[32], size_t size) {
  uint64_t h;
  memcpy(&h, digest, sizeof h);
  return (size_t)h & (size - 1);
}

static int init_cred(cred *c, const sg_cred_conf *cc, const char *kind, uint64_t now) {
  c->p.id = cc->name;
  c->p.kind = kind;
  c->p.tenant = cc->tenant;
  c->p.scopes = &cc->scopes;
  c->rate = cc->rate;
  c->burst = cc->burst;
  c->secret = cc->secret.value;
  c->secret_len = cc->secret.len;
  if (strcmp(kind, "hmac") != 0) sg_secret_digest(c->digest, cc->secret.value, cc->secret.len);
  if (cc->rate > 0 && !(c->p.bucket = sg_bucket_new((double)cc->rate, (double)cc->burst, now)))
    return -1;
  return 0;
}

static cred *find_prev(sg_auth *prev, const cred *c) {
  for (size_t i = 0; prev && i < prev->ncreds; i++) {
    cred *o = &prev->creds[i];
    if (strcmp(o->p.kind, c->p.kind) == 0 && strcmp(o->p.id, c->p.id) == 0) return o;
  }
  return NULL;
}

sg_auth *sg_auth_new(const sg_conf *conf, sg_replay *replay, sg_family *failures,
                     sg_auth *prev) {
  sg_auth *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  uint64_t now = sg_now_ns();
  a->replay = replay;
  a->failures = failures;
  a->skew = conf->auth.hmac_skew_s;
  a->require_body_hash = conf->auth.require_body_hash;
  a->require_nonce = conf->auth.require_nonce;
  a->ntokens = conf->auth.ntokens;
  a->nhmac = conf->auth.nhmac;
  a->ncreds = a->ntokens + a->nhmac + (conf->auth.api_key ? 1 : 0);
  a->creds = calloc(a->ncreds + 1, sizeof *a->creds);
  a->table_size = 8;
  while (a->table_size < a->ntokens * 2) a->table_size <<= 1;
  a->by_digest = malloc(a->table_size * sizeof *a->by_digest);
  if (!a->creds || !a->by_digest) goto fail;
  for (size_t i = 0; i < a->table_size; i++) a->by_digest[i] = -1;
  size_t k = 0;
  for (const sg_cred_conf *cc = conf->auth.tokens; cc; cc = cc->next, k++) {
    if (init_cred(&a->creds[k], cc, "bearer", now)) goto fail;
    size_t s = slot_of(a->creds[k].digest, a->table_size);
    while (a->by_digest[s] >= 0) s = (s + 1) & (a->table_size - 1);
    a->by_digest[s] = (int32_t)k;
  }
  /* The window follows the skew before any request can use it; each key gets its share. */
  sg_replay_set_window(replay, a->skew, sg_wall_ms() / 1000);
  size_t cap = conf->auth.replay_cache_per_key > 0
                   ? (size_t)conf->auth.replay_cache_per_key
                   : sg_replay_capacity(replay) / (a->nhmac ? a->nhmac : 1);
  for (const sg_cred_conf *cc = conf->auth.hmac_keys; cc; cc = cc->next, k++) {
    if (init_cred(&a->creds[k], cc, "hmac", now)) goto fail;
    if ((a->creds[k].share = sg_replay_share(replay, cc->name, cap)) < 0) goto fail;
  }
  if (conf->auth.api_key) {
    if (init_cred(&a->creds[k], conf->auth.api_key, "api_key", now)) goto fail;
    a->api_key = &a->creds[k];
  }
  for (size_t i = 0; i < a->ncreds; i++) {
    cred *c = &a->creds[i], *o = find_prev(prev, c);
    if (c->p.bucket && o && o->p.bucket && o->rate == c->rate && o->burst == c->burst)
      sg_bucket_copy_level(c->p.bucket, o->p.bucket);
  }
  return a;
fail:
  sg_auth_free(a);
  return NULL;
}

void sg_auth_free(sg_auth *a) {
  if (!a) return;
  for (size_t i = 0; a->creds && i < a->ncreds; i++) sg_bucket_free(a->creds[i].p.bucket);
  free(a->creds);
  free(a->by_digest);
  free(a);
}

void sg_auth_set_limiter(sg_auth *a, sg_limiter *l) { a->limiter = l; }

void sg_auth_count(sg_auth *a, const char *reason) {
  const char *v[1] = {reason};
  sg_family_add(a->failures, v, 1);
}

/* A 401 verdict with its reason. */
static int fail(sg_verdict *v, const char *reason, const char *fmt, ...) SG_PRINTF(3, 4);
static int fail(sg_verdict *v, const char *reason, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sg_verdict_vset(v, SOULGW_API_AUTH_UNAUTHENTICATED, reason, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *header(const sg_creds *c, const char *name) {
  return c->header(c->ctx, name);
}

/* A credential as sent: visible ASCII without blanks, 1 to 4096 characters. */
static int credential_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (s[n] <= ' ' || s[n] > '~') return 0;
  return n >= 1 && n <= 4096;
}

/* The digest of the last bearer token or API key that named a credential, one per thread: a
 * client sends the same token with every request, and comparing it with the last one costs
 * ~100 instructions where its BLAKE2b digest costs ~1,900.  The comparison is constant-time:
 * the token and its length are packed into a fixed-size zero-padded block and every word is
 * compared, so the time does not depend on how much of a guess matches; a hit or a miss tells
 * only whether a guess is exactly the last valid token, which its answer tells anyway.  Only
 * the digest is kept, never the principal: the lookup by digest runs against the current
 * snapshot's table every time, so a token a reload removed is refused at once.  Longer tokens
 * are digested every time. */
#define MEMO_WORDS 16
#define MEMO_MAX ((MEMO_WORDS - 1) * sizeof(uint64_t))
typedef struct digest_memo {
  uint64_t w[MEMO_WORDS]; /* w[0] the length, then the token, zero-padded */
  unsigned char digest[32];
  int set;
} digest_memo;
static _Thread_local digest_memo memo;

static void memo_pack(uint64_t w[MEMO_WORDS], const char *s, size_t n) {
  memset(w, 0, MEMO_WORDS * sizeof *w);
  w[0] = n;
  memcpy(w + 1, s, n);
}

static int memo_equal(const uint64_t *a, const uint64_t *b) {
  volatile uint64_t d = 0;
  for (size_t i = 0; i < MEMO_WORDS; i++) d |= a[i] ^ b[i];
  return d == 0;
}

/* The digest of a credential as sent into d; packed receives the block it is remembered by,
 * and *memoable whether it is short enough to be. */
static void digest_of(const char *s, unsigned char d[32], uint64_t packed[MEMO_WORDS],
                      int *memoable) {
  size_t n = strlen(s);
  *memoable = n <= MEMO_MAX;
  if (*memoable) {
    memo_pack(packed, s, n);
    if (memo.set && memo_equal(memo.w, packed)) {
      memcpy(d, memo.digest, 32);
      return;
    }
  }
  sg_secret_digest(d, s, n);
}

/* Remembers the digest of a credential that named a principal. */
static void remember(const unsigned char d[32], const uint64_t packed[MEMO_WORDS], int memoable) {
  if (!memoable) return;
  memcpy(memo.w, packed, sizeof memo.w);
  memcpy(memo.digest, d, sizeof memo.digest);
  memo.set = 1;
}

static int bearer(sg_auth *a, const char *token, const sg_principal **out, sg_verdict *v) {
  if (!credential_ok(token))
    return fail(v, "malformed", "malformed Authorization header: expected \"Bearer <token>\"");
  unsigned char d[32];
  uint64_t packed[MEMO_WORDS];
  int memoable;
  digest_of(token, d, packed, &memoable);
  for (size_t s = slot_of(d, a->table_size); a->by_digest[s] >= 0;
       s = (s + 1) & (a->table_size - 1)) {
    cred *c = &a->creds[a->by_digest[s]];
    if (sg_equal_ct(c->digest, d, sizeof d)) {
      remember(d, packed, memoable);
      *out = &c->p;
      return 0;
    }
  }
  return fail(v, "unknown_token", "unknown bearer token");
}

static int api_key(sg_auth *a, const char *key, const sg_principal **out, sg_verdict *v) {
  if (!credential_ok(key)) return fail(v, "malformed", "malformed x-api-key header");
  unsigned char d[32];
  uint64_t packed[MEMO_WORDS];
  int memoable;
  digest_of(key, d, packed, &memoable);
  if (!a->api_key || !sg_equal_ct(a->api_key->digest, d, sizeof d))
    return fail(v, "unknown_api_key", "unknown API key");
  remember(d, packed, memoable);
  *out = &a->api_key->p;
  return 0;
}

static int replayed(sg_verdict *v) {
  return fail(v, "replay",
              "SB-HMAC signature already used (replay); sign each request with a fresh "
              "x-sb-nonce");
}

static int is_hex64(const char *s) {
  if (strlen(s) != 64) return 0;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
      return 0;
  return 1;
}

/* pend NULL (head only): the body is not in yet; everything but the body hash (a signature
 * already in the replay cache is refused, but nothing is recorded).  Else the whole of it, and
 * *pend receives the signature. */
static int hmac(sg_auth *a, const sg_creds *c, const char *value, const sg_principal **out,
                sg_hmac_pending *pend, sg_verdict *v) {
  int head_only = pend == NULL;
  const char *colon = strchr(value, ':');
  if (!credential_ok(value) || !colon || colon == value)
    return fail(v, "malformed",
                "malformed Authorization header: expected \"SB-HMAC <key id>:<hex signature>\"");
  const char *hex = colon + 1;
  if (strlen(hex) != 64)
    return fail(v, "malformed", "malformed SB-HMAC signature: expected 64 hex digits, got %zu",
                strlen(hex));
  unsigned char given[SG_SHA256_LEN];
  if (sg_hex_decode(given, sizeof given, hex, 64) != 0)
    return fail(v, "malformed", "malformed SB-HMAC signature: not hexadecimal");
  size_t idlen = (size_t)(colon - value);
  cred *key = NULL;
  for (size_t i = a->ntokens; i < a->ntokens + a->nhmac; i++) {
    cred *k = &a->creds[i];
    if (strlen(k->p.id) == idlen && memcmp(k->p.id, value, idlen) == 0) key = k;
  }
  if (!key) return fail(v, "unknown_key", "unknown HMAC key id");

  const char *date = header(c, "x-sb-date");
  int64_t ts, now = sg_wall_ms() / 1000;
  if (!date || !*date) return fail(v, "missing_date", "missing x-sb-date header");
  if (sg_hmac_parse_date(date, &ts) != 0)
    return fail(v, "malformed_date",
                "malformed x-sb-date: expected RFC 3339 UTC (2025-01-01T00:00:00Z) or an HTTP date");
  if (ts > now + a->skew || ts < now - a->skew)
    return fail(v, "date_skew", "x-sb-date is outside the allowed skew of %lld seconds",
                (long long)a->skew);

  const char *body_hash = header(c, "x-sb-content-sha256");
  if (body_hash) {
    unsigned char want[SG_SHA256_LEN], got[SG_SHA256_LEN];
    const char *body = c->body;
    if (!is_hex64(body_hash) || sg_hex_decode(want, sizeof want, body_hash, 64) != 0)
      return fail(v, "malformed", "malformed x-sb-content-sha256: expected 64 hex digits");
    if (!head_only) {
      sg_sha256(got, body ? body : "", body ? c->body_len : 0);
      if (!sg_equal_ct(want, got, sizeof got))
        return fail(v, "body_hash_mismatch", "x-sb-content-sha256 does not match the body");
    }
  } else if (a->require_body_hash) {
    return fail(v, "missing_body_hash", "missing x-sb-content-sha256 header (required)");
  }
  const char *nonce = header(c, "x-sb-nonce");
  if (nonce && !sg_hmac_nonce_ok(nonce))
    return fail(v, "malformed", "malformed x-sb-nonce: expected 8 to 128 visible characters");
  if (!nonce && a->require_nonce)
    return fail(v, "missing_nonce", "missing x-sb-nonce header (required)");

  sg_buf canon;
  char sig[65];
  unsigned char expect[SG_SHA256_LEN];
  sg_buf_init(&canon, 1 << 16);
  if (sg_hmac_canonical(&canon, c->method, c->path, date, body_hash, nonce) != 0) {
    sg_buf_free(&canon);
    return fail(v, "malformed", "signed headers too long");
  }
  sg_hmac_sign_hex(sig, key->secret, key->secret_len, canon.ptr, canon.len);
  sg_buf_free(&canon);
  sg_hex_decode(expect, sizeof expect, sig, 64);
  if (!sg_equal_ct(expect, given, sizeof given))
    return fail(v, "bad_signature", "SB-HMAC signature does not match");
  /* Nothing accepted before the cache's horizon (the start) can be known to it.  Both checks
   * run from the headers too, so that a replay is refused before its body is read. */
  if (ts <= sg_replay_horizon(a->replay))
    return fail(v, "before_start",
                "SB-HMAC signature dated before the gateway started (a possible replay); sign "
                "the request again");
  if (sg_replay_seen(a->replay, given, now)) return replayed(v);
  if (head_only) {
    *out = &key->p;
    return 0;
  }
  memcpy(pend->sig, given, sizeof pend->sig);
  pend->date = ts;
  pend->share = key->share;
  *out = &key->p;
  return 0;
}

int sg_auth_record(sg_auth *a, const sg_hmac_pending *pend, const char *key_id, sg_verdict *v) {
  int64_t retry = 1;
  int rc = sg_replay_check_add(a->replay, pend->share, pend->sig, pend->date,
                               sg_wall_ms() / 1000, &retry);
  if (rc == SG_REPLAY_NEW) return 0;
  if (rc == SG_REPLAY_SEEN) return replayed(v);
  if (rc == SG_REPLAY_UNAVAILABLE) /* fail closed: a replay cannot be told from a first use */
    return fail(v, "replay_cache_unavailable",
                "the replay cache (%s) cannot be reached, so an SB-HMAC signature cannot be "
                "checked against replay; retry later",
                sg_replay_backend_name(a->replay));
  if (rc == SG_REPLAY_EXPIRED)
    return fail(v, "date_skew", "x-sb-date is outside the allowed skew of %lld seconds",
                (long long)a->skew);
  if (rc == SG_REPLAY_SHARE_FULL)
    sg_verdict_set(v, SOULGW_API_QUOTA_RATE_LIMITED, "replay_cache_full",
                   "too many signed requests for HMAC key %s: its share of the replay cache "
                   "is full; retry in %lld s",
                   key_id ? key_id : "?", (long long)retry);
  else
    sg_verdict_set(v, SOULGW_API_QUOTA_RATE_LIMITED, "replay_cache_full",
                   "the replay cache is full; retry in %lld s", (long long)retry);
  v->retry_after = retry;
  return -1;
}

/* pend NULL: from the headers alone (sg_auth_identify). */
static int authenticate(sg_auth *a, const sg_creds *c, const sg_principal **out,
                        sg_hmac_pending *pend, sg_verdict *v) {
  *out = NULL;
  const char *authz = header(c, "Authorization");
  if (authz) {
    if (strncasecmp(authz, "Bearer ", 7) == 0) return bearer(a, authz + 7, out, v);
    if (strncasecmp(authz, "SB-HMAC ", 8) == 0) return hmac(a, c, authz + 8, out, pend, v);
    if (strcasecmp(authz, "Bearer") == 0 || strcasecmp(authz, "SB-HMAC") == 0 || !*authz)
      return fail(v, "malformed", "malformed Authorization header: no credential");
    return fail(v, "unsupported_scheme",
                "unsupported Authorization scheme: use Bearer or SB-HMAC");
  }
  const char *key = header(c, "x-api-key");
  if (key) return api_key(a, key, out, v);
  return 0;
}

int sg_auth_authenticate(sg_auth *a, const sg_creds *c, const sg_principal **out,
                         sg_hmac_pending *pend, sg_verdict *v) {
  return authenticate(a, c, out, pend, v);
}

int sg_auth_identify(sg_auth *a, const sg_creds *c, const sg_principal **out, sg_verdict *v) {
  return authenticate(a, c, out, NULL, v);
}

int sg_auth_rate(sg_auth *a, const sg_principal *p, sg_verdict *v) {
  if (!p->bucket) return 0;
  long wait;
  if (a->limiter) {
    char key[512];
    snprintf(key, sizeof key, "%s:%s", p->kind, p->id);
    wait = sg_limiter_take(a->limiter, key, p->bucket, sg_now_ns());
  } else {
    wait = sg_bucket_take(p->bucket, sg_now_ns());
  }
  if (!wait) return 0;
  sg_verdict_set(v, SOULGW_API_QUOTA_RATE_LIMITED, NULL,
                 "rate limit exceeded for %s; retry in %ld s", p->id, wait);
  v->retry_after = wait;
  return -1;
}

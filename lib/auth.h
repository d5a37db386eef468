/*
 * auth.h -- the authentication stage: principals from bearer tokens, SB-HMAC signatures and
 * API keys; per-principal rate limits.  An sg_auth is built from one configuration snapshot and
 * is immutable apart from its rate buckets; reloads build a new one.
 */
#ifndef SG_AUTH_H
#define SG_AUTH_H

#include "config.h"
#include "metrics.h"
#include "sg.h"

typedef struct sg_principal sg_principal;
typedef struct sg_bucket sg_bucket;
struct sg_principal {
  const char *id;     /* subject id: token name, HMAC key id, or "api_key" */
  const char *kind;   /* "bearer", "hmac", "api_key" */
  const char *tenant;
  const sg_strv *scopes;
  sg_bucket *bucket; /* NULL: not rate limited */
};

typedef struct sg_auth sg_auth;
typedef struct sg_replay sg_replay;

/* The replay cache (replay.c) outlives auth states, so that a reload does not reopen the
 * window.  check_add records a verified signature until expires (epoch seconds): 0 when it is
 * new, 1 when it was already accepted and has not expired (a replay), -1 when the cache is full
 * of live entries (refuse the request). */
sg_replay *sg_replay_new(size_t capacity);
void sg_replay_free(sg_replay *r);
int sg_replay_check_add(sg_replay *r, const unsigned char sig[32], int64_t now, int64_t expires);
size_t sg_replay_size(sg_replay *r);

/* A token bucket (ratelimit.c): rate tokens per second up to burst.  take returns 0 when a
 * token was taken, else the whole seconds to wait for one (at least 1). */
typedef struct sg_bucket sg_bucket;
sg_bucket *sg_bucket_new(double rate, double burst, uint64_t now_ns);
void sg_bucket_free(sg_bucket *b);
long sg_bucket_take(sg_bucket *b, uint64_t now_ns);
/* Carries the level of an older bucket over (after a reload with the same limits). */
void sg_bucket_copy_level(sg_bucket *dst, sg_bucket *src);

/* Builds the auth state of a snapshot (secrets are already resolved in conf).  NULL when out of
 * memory.  failures counts soulgw_auth_failures_total{reason}.  prev (may be NULL) is the state
 * being replaced: rate buckets of principals whose limits did not change keep their level. */
sg_auth *sg_auth_new(const sg_conf *conf, sg_replay *replay, sg_family *failures,
                     sg_auth *prev);
/* Counts an authorization failure (a reason of the 403 kind) in the same family. */
void sg_auth_count(sg_auth *a, const char *reason);
void sg_auth_free(sg_auth *a);

/* Identifies the caller.  Returns 0 with *out the principal, or NULL when the request carries
 * no credential at all; or -1 after answering 401 with the reason. */
int sg_auth_authenticate(sg_auth *a, soulgw_req *req, const sg_principal **out);
/* The same from the headers alone, before the body is read: an SB-HMAC signature is checked,
 * but not its body hash, and it is not recorded in the replay cache (sg_auth_authenticate does
 * both once the body is in). */
int sg_auth_identify(sg_auth *a, soulgw_req *req, const sg_principal **out);
/* Takes a token from the principal's bucket: 0, or -1 after answering 429 with Retry-After. */
int sg_auth_rate(sg_auth *a, soulgw_req *req, const sg_principal *p);
/* 1 when the principal holds scope or "*". */
int sg_principal_has(const sg_principal *p, const char *scope);

#endif

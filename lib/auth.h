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
struct sg_principal {
  const char *id;     /* subject id: token name, HMAC key id, or "api_key" */
  const char *kind;   /* "bearer", "hmac", "api_key" */
  const char *tenant;
  const sg_strv *scopes;
  struct sg_bucket *bucket; /* NULL: not rate limited */
};

typedef struct sg_auth sg_auth;
typedef struct sg_replay sg_replay;

/* The replay cache outlives auth states, so that a reload does not reopen the window. */
sg_replay *sg_replay_new(size_t capacity);
void sg_replay_free(sg_replay *r);

/* Builds the auth state of a snapshot (secrets are already resolved in conf).  NULL when out of
 * memory.  failures counts soulgw_auth_failures_total{reason}. */
sg_auth *sg_auth_new(const sg_conf *conf, sg_replay *replay, sg_family *failures);
void sg_auth_free(sg_auth *a);

/* Identifies the caller.  Returns 0 with *out the principal, or NULL when the request carries
 * no credential at all; or -1 after answering 401 with the reason. */
int sg_auth_authenticate(sg_auth *a, soulgw_req *req, const sg_principal **out);
/* Takes a token from the principal's bucket: 0, or -1 after answering 429 with Retry-After. */
int sg_auth_rate(sg_auth *a, soulgw_req *req, const sg_principal *p);
/* 1 when the principal holds scope or "*". */
int sg_principal_has(const sg_principal *p, const char *scope);

#endif

/*
 * auth.h -- the authentication stage: principals from bearer tokens, SB-HMAC signatures and
 * API keys; the replay cache; per-principal rate limits.  An sg_auth is built from one
 * configuration snapshot and is immutable apart from its rate buckets; reloads build a new one.
 *
 * The stage reads a request through a credentials view (sg_creds) and never answers it: each
 * check returns 0, or -1 with a verdict (verdict.h) that the pipeline renders.
 */
#ifndef SG_AUTH_H
#define SG_AUTH_H

#include "conf/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/sg.h"
#include "pipeline/verdict.h"

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

/* What authentication reads of a request.  header(ctx, name) answers a header's value, or NULL
 * when it is absent (the request's own lookup, so that only the headers a credential needs are
 * looked up). */
typedef struct sg_creds {
  const char *method, *path;
  const char *(*header)(void *ctx, const char *name);
  void *ctx;
  const char *body; /* NULL: the request has no body */
  size_t body_len;
} sg_creds;

/* An SB-HMAC signature that verified, waiting in its request for sg_auth_record. */
typedef struct sg_hmac_pending sg_hmac_pending;
struct sg_hmac_pending {
  unsigned char sig[32];
  int64_t date; /* x-sb-date, epoch seconds */
  int share;    /* the key's share of the replay cache */
};

/* The replay cache (replay.c) outlives auth states, so that a reload does not reopen the
 * window.  It holds SB-HMAC signatures that were accepted (authorized), each until its date
 * plus the window, in a bounded share per HMAC key.  Times are epoch seconds. */
sg_replay *sg_replay_new(size_t capacity);
void sg_replay_free(sg_replay *r);
size_t sg_replay_capacity(const sg_replay *r);
/* Sets the window, how long past its date a signature is kept: the widest hmac_skew_s served
 * so far (it never narrows, so that no signature is dropped while a configuration in use could
 * still accept its date).  The first call sets the horizon to now, the start; a call that
 * widens the window moves it past the dates the narrower window may already have dropped. */
void sg_replay_set_window(sg_replay *r, int64_t window_s, int64_t now);
/* Signatures dated at or before this second must be refused: the cache cannot tell whether
 * they were accepted before it existed (by an earlier process) or dropped since. */
int64_t sg_replay_horizon(sg_replay *r);
/* The share of the HMAC key key_id, holding at most cap live signatures (clamped to 1 ..
 * capacity).  A key id seen before keeps its share and entries, with the new cap.  Returns the
 * share's index, valid for the life of the cache, or -1 when out of memory. */
int sg_replay_share(sg_replay *r, const char *key_id, size_t cap);
/* 1 when sig is held and live at now (a replay), else 0.  Adds nothing. */
int sg_replay_seen(sg_replay *r, const unsigned char sig[32], int64_t now);
/* Records sig, dated date, in share.  Returns SG_REPLAY_NEW when recorded; SG_REPLAY_SEEN when
 * it is already held (a replay); SG_REPLAY_EXPIRED when date + window < now (too old to hold);
 * SG_REPLAY_SHARE_FULL when the share holds cap live signatures, SG_REPLAY_FULL when the whole
 * cache is full of live ones, both with *retry_s (when not NULL) the seconds until the oldest
 * of them expires.  Nothing is forgotten early to make room. */
enum { SG_REPLAY_NEW = 0, SG_REPLAY_SEEN = 1, SG_REPLAY_EXPIRED = -1, SG_REPLAY_SHARE_FULL = -2,
       SG_REPLAY_FULL = -3, SG_REPLAY_UNAVAILABLE = -4 };
int sg_replay_check_add(sg_replay *r, int share, const unsigned char sig[32], int64_t date,
                        int64_t now, int64_t *retry_s);
size_t sg_replay_size(sg_replay *r);
size_t sg_replay_share_size(sg_replay *r, int share);

/* Where the cache keeps signatures so that every gateway of a cluster refuses a signature one
 * of them accepted (SPEC-cluster 2), as a const method table: Redis (SET NX PX, keys
 * "soulgw:nonce:<signature hex>") or PostgreSQL (the table replay_nonces).  Without one, the
 * cache is this process's memory.  With one, sg_replay_check_add claims the signature there,
 * until its date plus the window, and answers SG_REPLAY_NEW, SG_REPLAY_SEEN, SG_REPLAY_EXPIRED,
 * or SG_REPLAY_UNAVAILABLE when the backend cannot answer (the caller fails closed); the
 * memory shares are not used, and sg_replay_seen answers 0 (the claim decides, once the
 * request is verified). */
typedef struct sg_replay_backend {
  const char *name; /* "redis", "postgres" */
  /* Claims hex (64 hex digits) until expires_ms (epoch ms), ttl_ms from now:
   * SG_REPLAY_NEW, SG_REPLAY_SEEN or SG_REPLAY_UNAVAILABLE. */
  int (*claim)(void *ud, const char *hex, int64_t expires_ms, int64_t ttl_ms);
} sg_replay_backend;
extern const sg_replay_backend sg_replay_redis; /* ud: an sg_redis */
extern const sg_replay_backend sg_replay_pg;    /* ud: an sg_store with nonces */
/* Sets the backend (NULL: memory).  Only while no request runs. */
void sg_replay_set_backend(sg_replay *r, const sg_replay_backend *be, void *ud);
/* "memory", or the backend's name. */
const char *sg_replay_backend_name(const sg_replay *r);

/* A token bucket (ratelimit.c): rate tokens per second up to burst.  take returns 0 when a
 * token was taken, else the whole seconds to wait for one (at least 1). */
typedef struct sg_bucket sg_bucket;
sg_bucket *sg_bucket_new(double rate, double burst, uint64_t now_ns);
void sg_bucket_free(sg_bucket *b);
long sg_bucket_take(sg_bucket *b, uint64_t now_ns);
/* Carries the level of an older bucket over (after a reload with the same limits). */
void sg_bucket_copy_level(sg_bucket *dst, sg_bucket *src);

/* Where rate limits are counted, as a const method table (DESIGN 2): memory (each principal's
 * bucket in this process) or Redis (one bucket per principal for the whole cluster, under
 * "soulgw:rl:<key>", taken by one atomic script with the same rate and burst semantics).
 * take answers as sg_bucket_take, or -1 when the backend cannot answer. */
typedef struct sg_rate_backend {
  const char *name; /* "memory", "redis" */
  long (*take)(void *ud, const char *key, sg_bucket *b, uint64_t now_ns);
} sg_rate_backend;
extern const sg_rate_backend sg_rate_memory;
extern const sg_rate_backend sg_rate_redis; /* ud: an sg_redis */
/* The limiter outlives auth states (like the replay cache): a backend, and the fallback to
 * each principal's own bucket while the backend cannot answer (logged when it starts and when
 * it ends).  be NULL: memory.  NULL when out of memory. */
typedef struct sg_limiter sg_limiter;
sg_limiter *sg_limiter_new(const sg_rate_backend *be, void *ud, sg_log *log);
void sg_limiter_free(sg_limiter *l);
/* Takes a token for key (the principal's) from the backend, or from b while it cannot
 * answer: 0, or the whole seconds to wait (at least 1). */
long sg_limiter_take(sg_limiter *l, const char *key, sg_bucket *b, uint64_t now_ns);
/* 1 while the limiter has fallen back to per-process buckets. */
int sg_limiter_degraded(sg_limiter *l);

/* Builds the auth state of a snapshot (secrets are already resolved in conf).  NULL when out of
 * memory.  failures counts soulgw_auth_failures_total{reason}.  prev (may be NULL) is the state
 * being replaced: rate buckets of principals whose limits did not change keep their level. */
sg_auth *sg_auth_new(const sg_conf *conf, sg_replay *replay, sg_family *failures,
                     sg_auth *prev);
/* Counts rate limits through l (NULL: each principal's bucket), which outlives a. */
void sg_auth_set_limiter(sg_auth *a, sg_limiter *l);
/* Counts a refusal by its reason (a verdict's) in soulgw_auth_failures_total. */
void sg_auth_count(sg_auth *a, const char *reason);
void sg_auth_free(sg_auth *a);

/* Identifies the caller.  Returns 0 with *out the principal, or NULL when the request carries
 * no credential at all; or -1 with a 401 verdict whose reason names the failure.  When *out is
 * an HMAC key's, *pend (not NULL) holds its signature, not yet recorded against replay: the
 * caller keeps it until sg_auth_record, so that refused requests take no room in the replay
 * cache. */
int sg_auth_authenticate(sg_auth *a, const sg_creds *c, const sg_principal **out,
                         sg_hmac_pending *pend, sg_verdict *v);
/* The same from the headers alone, before the body is read: an SB-HMAC signature is checked,
 * and refused when already in the replay cache, but its body hash is not checked and nothing is
 * recorded (sg_auth_authenticate and sg_auth_record do that once the body is in). */
int sg_auth_identify(sg_auth *a, const sg_creds *c, const sg_principal **out, sg_verdict *v);
/* Called once the request is authorized (tenant and scopes checked), before the rate limit and
 * the handler: records the SB-HMAC signature pend of the key key_id in the key's share of the
 * replay cache.  0, or -1 with a verdict: 401 when the signature was recorded meanwhile (a
 * concurrent replay) or is too old, 429 with retry_after when the key's share (or the cache)
 * is full. */
int sg_auth_record(sg_auth *a, const sg_hmac_pending *pend, const char *key_id, sg_verdict *v);
/* Takes a token from the principal's bucket: 0, or -1 with a 429 verdict and retry_after. */
int sg_auth_rate(sg_auth *a, const sg_principal *p, sg_verdict *v);
/* 1 when the principal holds scope, or "*" (which is not tenant:*; see sg_strv_has).  Inline,
 * for req.c's soulgw_req_has_scope() and the pipeline's scope stage. */
static inline int sg_principal_has(const sg_principal *p, const char *scope) {
  return p && sg_strv_has(p->scopes, scope);
}

#endif

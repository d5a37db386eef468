/*
 * redis.h -- a small Redis client for the cluster-wide state of several gateways (rate limits,
 * HMAC nonces; SPEC-cluster.md).  The only home of hiredis (clients/redis.c).
 *
 * A client holds a few connections, each used by one thread at a time, so that requests on
 * several threads share it.  Its state is up or down: a command that fails at the connection
 * (refused, reset, timed out) marks it down, and while it is down every command fails at once
 * (-1) without touching the network; a monitor thread reconnects with backoff (doubling from
 * 100 ms to 2 s) and marks it up again.  Each change of state is logged once ("redis up",
 * "redis down") and each failed command is counted in soulgw_redis_errors_total.
 *
 * The URI, redis://[[user]:password@]host[:port][/db], is a secret: it is never logged nor put
 * in a message; what is logged is host:port.
 */
#ifndef SG_CLIENTS_REDIS_H
#define SG_CLIENTS_REDIS_H

#include <stddef.h>

#include "base/log.h"
#include "base/metrics.h"

typedef struct sg_redis sg_redis;

typedef struct sg_redis_opts {
  const char *url;    /* the secret URI (copied, wiped when freed) */
  int pool;           /* connections for requests (<= 0: 4) */
  int timeout_ms;     /* connect and command timeout (<= 0: 1000) */
  sg_log *log;        /* may be NULL */
  sg_family *errors;  /* soulgw_redis_errors_total, no labels; may be NULL */
} sg_redis_opts;

/* Parses the URI and starts the monitor, which connects in the background: a Redis that is
 * down at start is not an error (the client starts down).  0 and *out, or -1 with err filled
 * (never quoting the URI). */
int sg_redis_new(const sg_redis_opts *o, sg_redis **out, char *err, size_t errlen);
/* Stops the monitor and closes every connection.  NULL is ignored.  No command may run. */
void sg_redis_free(sg_redis *r);
/* 1 when the client is up (its last command or check reached Redis), else 0.  NULL: 0. */
int sg_redis_up(const sg_redis *r);
/* "host:port" for logs (never the password). */
const char *sg_redis_address(const sg_redis *r);
/* Waits up to timeout_ms for the client to be up: 1 when it is. */
int sg_redis_wait_up(sg_redis *r, int timeout_ms);

/* A Lua script, run by EVALSHA (loaded by SCRIPT LOAD when Redis does not know it, as after a
 * restart).  source must live as long as the client; registering the same pointer again
 * answers the same id (cheap: a lock and a walk of at most 8).  An id >= 0, or -1 when the
 * table (8) is full.  Thread-safe. */
int sg_redis_script(sg_redis *r, const char *source);
/* Runs script id with nkeys keys then nargs arguments (strings); the script answers an
 * integer: 0 and *out, or -1 (down, failed, or not an integer; counted). */
int sg_redis_eval_int(sg_redis *r, int id, int nkeys, const char *const *keys, int nargs,
                      const char *const *args, long long *out);
/* SET key 1 NX PX px: 1 when set, 0 when the key exists, -1 when it cannot be known. */
int sg_redis_set_nx_px(sg_redis *r, const char *key, long long px);

#endif

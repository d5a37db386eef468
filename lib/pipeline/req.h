/*
 * req.h -- one request's state, from its headers to the end of its answer.
 *
 * A request is created by the HTTP glue (or by a test) with an I/O vtable through which headers
 * and query arguments are read and a suspended connection is woken.  It is reference counted:
 * the glue holds one reference until the connection is done with it, and a handler that defers
 * (or streams) holds another until its final answer.  The answer itself is guarded by a mutex,
 * since it may come from any thread.
 */
#ifndef SG_REQ_H
#define SG_REQ_H

#include <pthread.h>

#include "pipeline/router.h"
#include "base/sg.h"

typedef struct sg_snap sg_snap;
typedef struct sg_principal sg_principal;
typedef struct sg_inflight sg_inflight;
typedef struct sg_hmac_pending sg_hmac_pending;

typedef struct sg_req_io {
  const char *(*header)(void *ctx, const char *name);
  const char *(*query)(void *ctx, const char *name);
  /* The answer (or stream data) became ready while the glue had the connection suspended.
   * Called with the request's lock held. */
  void (*resume)(void *ctx);
  /* The answer became ready while the glue held the connection without suspending it (held
   * below): its server should look at it again before it sleeps.  Called with the request's
   * lock held, never after the connection closed. */
  void (*poke)(void *ctx);
} sg_req_io;

typedef struct sg_kv {
  const char *name, *value;
} sg_kv;

#define SG_REQ_MAX_HEADERS 8

typedef struct sg_stream {
  sg_buf data;   /* queued, not yet taken by the glue */
  size_t taken;  /* bytes of data already handed to the glue */
  int closed;    /* no more data will come */
} sg_stream;

struct soulgw_req {
  sg_arena arena;
  soulgw *gw;             /* opaque: soulgw_req_gateway() only */
  sg_inflight *inflight;  /* what requests in flight share (inflight.h) */
  sg_snap *snap; /* the configuration, routes and credentials this request runs on */
  const sg_req_io *io;
  void *io_ctx;

  /* request */
  const char *method, *path;
  unsigned method_bit;
  int metric_route; /* beside method_bit: no padding (see the size noted below) */
  const sg_route *route;
  sg_param params[SG_MAX_PARAMS];
  size_t nparams;
  char id[72];
  sg_buf body; /* capped at server.max_body_bytes */
  int has_body;
  /* set by the pipeline's begin (chars, to keep the struct within the size noted below): */
  unsigned char auth_pending; /* the principal is known from the headers; the body still has
                               * to pass (SB-HMAC body hash, replay cache) */
  unsigned char unauth_body;  /* the body is read without a principal: it counts against
                               * server.max_unauthenticated_body_bytes */
  unsigned char dialect;      /* sg_dialect: the shape of every error answer (dialect.h), set
                               * by begin before any check; SOULGW until then */
  unsigned char stage;        /* sg_stage: the stage that refused the request (verdict.h), or
                               * the handler's once it runs; EDGE until begin refuses */
  soulgw_json *json; /* the body's tree; while json_pending, not built yet (sg_req_json()) */
  const sg_principal *principal;
  const sg_hmac_pending *hmac_pending; /* auth.c: a signature to record once authorized */
  const char *tenant;
  uint64_t t0;
  long long body_reserved; /* bytes of the unauthenticated budget this request holds */
  /* the glue's own per-request state */
  unsigned char glue_ran;     /* the pipeline has run */
  unsigned char glue_discard; /* body over the limit: the rest is read and dropped, then 413 */
  unsigned char glue_busy;    /* body over the unauthenticated budget: dropped, then 503 */
  unsigned char glue_close;   /* close the connection after the answer */
  /* set by the pipeline's body stage (here, where padding leaves room for it): the body was
   * checked by a scan that the parser is known to accept, and its tree waits for a reader */
  unsigned char json_pending;
  unsigned char on_deferred_list; /* (its shard's deferred list's, under that list's lock) */
  unsigned char shard;      /* the shard (shard.h) of the thread that made it: its deferred list */
  signed char snap_shard;   /* the shard that lent snap, or -1: a reference of its own */
  long long glue_received;    /* body bytes received */

  /* answer; everything below is guarded by lock once the handler has run */
  pthread_mutex_t lock;
  atomic_int refs;
  unsigned char answered;  /* status/body (or stream) are set */
  unsigned char deferred;  /* a handler holds a reference and will answer */
  unsigned char suspended; /* the glue parked the connection waiting for the answer or stream data */
  unsigned char held;      /* the glue left the connection among its server's ready ones instead */
  unsigned char closed;    /* the connection is gone; late answers are dropped */
  int status;
  const char *resp; /* the body ... */
  char *resp_owned; /* ... when it is malloc'd (else it is static) */
  soulgw_json *resp_tree; /* or an answer still to print: the glue prints it on its own
                           * thread, so that a completion on the store's writer thread does
                           * not spend its time serialising */
  size_t resp_len;
  const char *resp_type;
  sg_kv resp_headers[SG_REQ_MAX_HEADERS];
  size_t nresp_headers;
  sg_stream *stream;
  const char *err_code; /* for the access log: the error code answered, if any */
  soulgw_req *next_deferred, *prev_deferred; /* inflight's list of deferred requests */
  /* while the handler of a route with body_keys runs on a scanned body (json_pending): where
   * the body's text holds each of those members (on the pipeline's stack; NULL otherwise) */
  const struct sg_json_span *body_spans;

  /* The arena's first block: most requests allocate nothing more.  Sized so that the whole
   * struct stays within glibc's per-thread cache (1032 bytes), which keeps malloc off the
   * request path's profile. */
  max_align_t first_block[10];
};

/* Creates a request bound to the current snapshot of f.  NULL when out of memory. */
soulgw_req *sg_req_new(sg_inflight *f, const sg_req_io *io, void *io_ctx, const char *method,
                       const char *path);
/* Drops one reference; the last one frees the request and releases its snapshot. */
void sg_req_release(soulgw_req *req);
/* Marks the connection gone (called by the glue when the request is completed or aborted). */
void sg_req_close(soulgw_req *req);

/* The trace id (32 lower-case hex digits, not all zero) of a W3C traceparent header value
 * "00-<trace id>-<parent id>-<flags>", copied into out: 1, or 0 when tp is not one. */
int sg_traceparent_trace_id(const char *tp, char out[33]);

/* The body's tree in *out (NULL without a body), built on the first call when the pipeline
 * only scanned the body (json_pending): a route that reads the body from its text never pays
 * for a tree.  Returns 0, or SOULGW_ENOMEM (*out NULL).  Not for two threads at once: the
 * handler's thread, before it defers. */
int sg_req_json(soulgw_req *req, const soulgw_json **out);

/* Error answers are soulgw_reply_error() (soulgw.h), for the pipeline and handlers alike,
 * rendered in the request's dialect. */
/* Answers 404 with the path in the body. */
int sg_req_not_found(soulgw_req *req);
/* Answers with a body held in static storage (not copied). */
int sg_req_static(soulgw_req *req, int status, const char *body, size_t len);
/* The same with a Content-Type of its own (static). */
int sg_req_static_typed(soulgw_req *req, int status, const char *body, size_t len,
                        const char *type);
/* Answers with a malloc'd body (taken in every case) of the given Content-Type (static). */
int sg_req_answer_typed(soulgw_req *req, int status, char *body, size_t len, const char *type);
/* Answers an error whose JSON body the handler rendered itself (taken in every case), for a
 * protocol whose errors no dialect can render alone (a JSON-RPC error with its request's id);
 * code (static, "SCHEMA.VALIDATION_FAILED" ...) is named in the access log. */
int sg_req_answer_error(soulgw_req *req, int status, char *body, size_t len, const char *code);

/* Used by the gateway at shutdown: answers a deferred request with 503 in its dialect (or ends
 * its stream) without releasing the handler's reference. */
void sg_req_force_answer(soulgw_req *req);

/* Counts n more bytes of a body read without a principal against the gateway-wide
 * server.max_unauthenticated_body_bytes: 0, or -1 when they do not fit (nothing is counted).
 * What a request holds is given back when it is freed. */
int sg_req_body_reserve(soulgw_req *req, long long n);

/* Takes up to max bytes of stream data into out; returns the count, 0 when none is ready
 * (the caller should suspend), or -1 at the end of the stream.  Lock held by caller. */
long sg_req_stream_take(soulgw_req *req, char *out, size_t max);

#endif

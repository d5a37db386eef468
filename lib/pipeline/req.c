/*
 * req.c -- the request object: accessors, answers, deferral and streaming (see req.h).
 *
 * Every error answer is rendered in the request's dialect (dialect.h), whoever gives it.
 *
 * An answer is set exactly once, under the request's lock.  If the glue has parked the
 * connection (it does so when a handler returns without having answered, and when a stream has
 * no data ready), setting the answer or adding stream data wakes it through io->resume; if it
 * only holds the connection for a turn of its server (the first time a handler has not
 * answered), through io->poke.  The
 * handler's reference, taken by soulgw_req_defer() or soulgw_stream_open(), is dropped by the
 * final answer (a reply, or closing the stream).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/recycle.h"
#include "base/shard.h"
#include "pipeline/auth.h"
#include "pipeline/dialect.h"
#include "pipeline/inflight.h"
#include "pipeline/req.h"

static int sane_request_id(const char *s) {
  size_t n = 0;
  for (; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.' || c == ':'))
      return 0;
  }
  return n >= 1 && n <= 64;
}

int sg_traceparent_trace_id(const char *tp, char out[33]) {
  if (strlen(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return 0;
  int nonzero = 0;
  for (int i = 0; i < 32; i++) {
    char c = tp[3 + i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    nonzero |= c != '0';
    out[i] = c;
  }
  out[32] = '\0';
  return nonzero;
}

/* The request comes from the thread's recycled blocks (recycle.h), and from malloc when they
 * run out: kept within glibc's per-thread cache (1032 bytes), that allocation stays cheap too. */
_Static_assert(sizeof(soulgw_req) <= 1024, "soulgw_req outgrew malloc's thread cache: "
                                           "shrink first_block");

soulgw_req *sg_req_new(sg_inflight *f, const sg_req_io *io, void *io_ctx, const char *method,
                       const char *path) {
  soulgw_req *req = sg_recycle_alloc(sizeof *req); /* more in flight than malloc's cache keeps */
  if (!req) return NULL;
  memset(req, 0, offsetof(soulgw_req, first_block));
  sg_arena_init(&req->arena, req->first_block, sizeof req->first_block, 0);
  pthread_mutex_init(&req->lock, NULL);
  atomic_init(&req->refs, 1);
  req->gw = f->gw;
  req->inflight = f;
  int lent;
  req->snap = sg_inflight_acquire(f, &lent);
  req->snap_shard = (signed char)lent;
  req->shard = (unsigned char)sg_shard();
  req->io = io;
  req->io_ctx = io_ctx;
  req->method = method;
  req->path = path;
  req->method_bit = sg_method_bit(method);
  req->t0 = sg_now_ns();
  sg_buf_init(&req->body, (size_t)req->snap->conf->server.max_body_bytes);
  const char *rid = io->header(io_ctx, "X-Request-Id");
  const char *tp;
  char tid[33];
  if (rid && sane_request_id(rid)) {
    sg_strlcpy(req->id, rid, sizeof req->id);
  } else if ((tp = io->header(io_ctx, "traceparent")) && sg_traceparent_trace_id(tp, tid)) {
    memcpy(req->id, tid, sizeof tid);
  } else {
    sg_inflight_request_id(f, req->shard, req->id);
  }
  sg_metrics_inflight(f->metrics, 1);
  return req;
}

void sg_req_release(soulgw_req *req) {
  if (!req || atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) != 1) return;
  if (req->body_reserved)
    atomic_fetch_sub_explicit(&req->inflight->unauth_body_bytes, req->body_reserved,
                              memory_order_relaxed);
  soulgw_json_free(req->json);
  sg_buf_free(&req->body);
  free(req->resp_owned);
  soulgw_json_free(req->resp_tree);
  if (req->stream) {
    sg_buf_free(&req->stream->data);
    free(req->stream);
  }
  pthread_mutex_destroy(&req->lock);
  sg_inflight_put(req->inflight, req->snap, req->snap_shard);
  sg_arena_release(&req->arena);
  sg_recycle_free(req);
}

int sg_req_body_reserve(soulgw_req *req, long long n) {
  long long limit = req->snap->conf->server.max_unauthenticated_body_bytes;
  atomic_llong *held = &req->inflight->unauth_body_bytes;
  if (atomic_fetch_add_explicit(held, n, memory_order_relaxed) + n > limit) {
    atomic_fetch_sub_explicit(held, n, memory_order_relaxed);
    return -1;
  }
  req->body_reserved += n;
  return 0;
}

/* The answer (or stream data) is ready: the glue, if it is waiting for it, looks again.  Lock
 * held. */
static void wake_glue(soulgw_req *req) {
  if (req->suspended) {
    req->suspended = 0;
    req->io->resume(req->io_ctx);
  } else if (req->held) {
    req->io->poke(req->io_ctx); /* the glue ends the hold on its own thread */
  }
}

void sg_req_close(soulgw_req *req) {
  pthread_mutex_lock(&req->lock);
  req->closed = 1;
  req->held = 0; /* the connection is going: nothing may poke it any more */
  pthread_mutex_unlock(&req->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Accessors */

const char *soulgw_req_method(const soulgw_req *req) { return req->method; }
const char *soulgw_req_path(const soulgw_req *req) { return req->path; }
const char *soulgw_req_id(const soulgw_req *req) { return req->id; }
const char *soulgw_req_tenant(const soulgw_req *req) { return req->tenant; }
int sg_req_json(soulgw_req *req, const soulgw_json **out) {
  if (req->json_pending) {
    /* the body stage's scan guarantees that the parse succeeds: only memory can fail it */
    if (soulgw_json_parse(req->body.ptr, req->body.len, &req->json, NULL, 0) != 0) {
      *out = NULL;
      return SOULGW_ENOMEM;
    }
    req->json_pending = 0;
  }
  *out = req->json;
  return 0;
}

/* The public accessor may build the tree, which is the request's own state, not the caller's:
 * hence the cast. */
const soulgw_json *soulgw_req_json(const soulgw_req *req) {
  const soulgw_json *j;
  sg_req_json((soulgw_req *)(uintptr_t)req, &j);
  return j;
}
soulgw *soulgw_req_gateway(const soulgw_req *req) { return req->gw; }

const char *soulgw_req_principal(const soulgw_req *req) {
  return req->principal ? req->principal->id : NULL;
}

int soulgw_req_has_scope(const soulgw_req *req, const char *scope) {
  return req->principal && sg_principal_has(req->principal, scope);
}

const char *soulgw_req_param(const soulgw_req *req, const char *name) {
  for (size_t i = 0; i < req->nparams; i++)
    if (strcmp(req->params[i].name, name) == 0) return req->params[i].value;
  return NULL;
}

const char *soulgw_req_header(const soulgw_req *req, const char *name) {
  return req->io->header(req->io_ctx, name);
}

const char *soulgw_req_query(const soulgw_req *req, const char *name) {
  return req->io->query(req->io_ctx, name);
}

const char *soulgw_req_body(const soulgw_req *req, size_t *len) {
  if (len) *len = req->body.len;
  return req->has_body ? (req->body.ptr ? req->body.ptr : "") : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Answers */

static int header_ok(const char *s, int is_name) {
  if (!*s && is_name) return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f) {
      if (!(c == '\t' && !is_name)) return 0;
    }
    if (is_name && (c == ':' || c == ' ')) return 0;
  }
  return 1;
}

int soulgw_reply_header(soulgw_req *req, const char *name, const char *value) {
  if (!header_ok(name, 1) || !header_ok(value, 0)) return SOULGW_EINVAL;
  int rc = 0;
  pthread_mutex_lock(&req->lock);
  if (req->answered) {
    rc = SOULGW_ESTATE;
  } else if (req->nresp_headers == SG_REQ_MAX_HEADERS) {
    rc = SOULGW_ENOMEM;
  } else {
    sg_kv *kv = &req->resp_headers[req->nresp_headers];
    kv->name = sg_arena_strdup(&req->arena, name);
    kv->value = sg_arena_strdup(&req->arena, value);
    if (kv->name && kv->value) req->nresp_headers++;
    else rc = SOULGW_ENOMEM;
  }
  pthread_mutex_unlock(&req->lock);
  return rc;
}

/* Sets the answer.  Takes body in every case (unless is_static). */
static int answer_as(soulgw_req *req, int status, const char *body, char *owned, size_t len,
                     const char *type, soulgw_json *tree) {
  int release_owner = 0, rc = 0;
  pthread_mutex_lock(&req->lock);
  if (req->answered) {
    free(owned);
    soulgw_json_free(tree);
    /* A deferred request answered by the gateway at shutdown: drop the handler's reference. */
    rc = req->deferred ? SOULGW_ECLOSED : SOULGW_ESTATE;
    release_owner = req->deferred;
    req->deferred = 0;
    pthread_mutex_unlock(&req->lock);
    if (release_owner) sg_req_release(req);
    return rc;
  }
  req->status = status;
  req->resp = body;
  req->resp_owned = owned;
  req->resp_len = len;
  req->resp_type = type;
  req->resp_tree = tree;
  req->answered = 1;
  release_owner = req->deferred;
  req->deferred = 0;
  wake_glue(req);
  pthread_mutex_unlock(&req->lock);
  if (release_owner) {
    sg_inflight_deferred_remove(req->inflight, req);
    sg_req_release(req);
  }
  return rc;
}

/* Answers with a malloc'd JSON body, taken in every case. */
static int answer(soulgw_req *req, int status, char *body, size_t len) {
  return answer_as(req, status, body, body, len, "application/json", NULL);
}

int sg_req_answer_typed(soulgw_req *req, int status, char *body, size_t len, const char *type) {
  return answer_as(req, status, body, body, len, type, NULL);
}

int sg_req_answer_error(soulgw_req *req, int status, char *body, size_t len, const char *code) {
  pthread_mutex_lock(&req->lock);
  if (!req->answered) req->err_code = code;
  pthread_mutex_unlock(&req->lock);
  return answer(req, status, body, len);
}

int soulgw_reply(soulgw_req *req, int status, const char *json, size_t len) {
  if (len == (size_t)-1) len = strlen(json);
  char *copy = sg_strndup(json, len);
  if (!copy) {
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return SOULGW_ENOMEM;
  }
  return answer(req, status, copy, len);
}

int sg_req_static(soulgw_req *req, int status, const char *body, size_t len) {
  return answer_as(req, status, body, NULL, len, "application/json", NULL);
}

int sg_req_static_typed(soulgw_req *req, int status, const char *body, size_t len,
                        const char *type) {
  return answer_as(req, status, body, NULL, len, type, NULL);
}

int soulgw_reply_json(soulgw_req *req, int status, soulgw_json *body) {
  if (!body) {
    soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "out of memory building the answer");
    return SOULGW_ENOMEM;
  }
  return answer_as(req, status, NULL, NULL, 0, "application/json", body);
}

/* The error body in the request's dialect; NULL when out of memory. */
static char *error_body(soulgw_req *req, const char *code, const char *msg, const char *path,
                        int status, size_t *len) {
  sg_error_view e = {code, msg, req->id, path, status};
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_dialect_render((sg_dialect)req->dialect, &b, &e);
  return sg_buf_detach(&b, len);
}

static int error_answer(soulgw_req *req, soulgw_api_error code, const char *msg,
                        const char *path) {
  const char *cs = soulgw_api_error_code(code);
  if (!cs) {
    code = SOULGW_API_UNKNOWN_INTERNAL;
    cs = soulgw_api_error_code(code);
  }
  size_t len;
  char *body = error_body(req, cs, msg, path, soulgw_api_error_status(code), &len);
  if (!body) {
    const char *oom = sg_dialect_oom((sg_dialect)req->dialect, &len);
    return sg_req_static(req, 500, oom, len);
  }
  pthread_mutex_lock(&req->lock);
  if (!req->answered) req->err_code = cs;
  pthread_mutex_unlock(&req->lock);
  return answer(req, soulgw_api_error_status(code), body, len);
}

int soulgw_reply_verror(soulgw_req *req, soulgw_api_error code, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  return error_answer(req, code, msg, NULL);
}

int soulgw_reply_error(soulgw_req *req, soulgw_api_error code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = soulgw_reply_verror(req, code, fmt, ap);
  va_end(ap);
  return rc;
}

int sg_req_not_found(soulgw_req *req) {
  return error_answer(req, SOULGW_API_ROUTE_NOT_FOUND, "no route for this path", req->path);
}

/* ------------------------------------------------------------------------------------------ */
/* Deferral and streaming */

/* Takes the handler's reference (lock held); returns 1 when newly taken. */
static int take_owner(soulgw_req *req) {
  if (req->deferred) return 0;
  req->deferred = 1;
  atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed);
  return 1;
}

int soulgw_req_defer(soulgw_req *req) {
  int added = 0, rc = 0;
  pthread_mutex_lock(&req->lock);
  if (req->answered) rc = SOULGW_ESTATE;
  else added = take_owner(req);
  pthread_mutex_unlock(&req->lock);
  if (added) sg_inflight_deferred_add(req->inflight, req);
  return rc;
}

int soulgw_stream_open(soulgw_req *req, int status, const char *content_type) {
  int added = 0, rc = 0;
  sg_stream *s = calloc(1, sizeof *s);
  if (!s) return SOULGW_ENOMEM;
  sg_buf_init(&s->data, 64u << 20);
  pthread_mutex_lock(&req->lock);
  const char *type = sg_arena_strdup(&req->arena, content_type ? content_type : "text/event-stream");
  if (req->answered) {
    rc = SOULGW_ESTATE;
  } else if (!type) {
    rc = SOULGW_ENOMEM;
  } else {
    req->stream = s;
    s = NULL;
    req->status = status;
    req->resp_type = type;
    req->answered = 1;
    added = take_owner(req);
    wake_glue(req);
  }
  pthread_mutex_unlock(&req->lock);
  free(s);
  if (added) sg_inflight_deferred_add(req->inflight, req);
  return rc;
}

int soulgw_stream_write(soulgw_req *req, const void *data, size_t len) {
  int rc = 0;
  pthread_mutex_lock(&req->lock);
  sg_stream *s = req->stream;
  if (!s || s->closed) {
    rc = req->closed || (s && req->deferred) ? SOULGW_ECLOSED : SOULGW_ESTATE;
  } else if (req->closed) {
    rc = SOULGW_ECLOSED;
  } else if (sg_buf_append(&s->data, data, len)) {
    rc = SOULGW_ENOMEM;
  } else {
    wake_glue(req);
  }
  pthread_mutex_unlock(&req->lock);
  return rc;
}

int soulgw_stream_close(soulgw_req *req) {
  int owner = 0, rc = 0;
  pthread_mutex_lock(&req->lock);
  sg_stream *s = req->stream;
  if (!s) {
    rc = SOULGW_ESTATE;
  } else {
    s->closed = 1;
    wake_glue(req);
    owner = req->deferred;
    req->deferred = 0;
  }
  pthread_mutex_unlock(&req->lock);
  if (owner) {
    sg_inflight_deferred_remove(req->inflight, req);
    sg_req_release(req);
  }
  return rc;
}

long sg_req_stream_take(soulgw_req *req, char *out, size_t max) {
  sg_stream *s = req->stream;
  size_t avail = s->data.len - s->taken;
  if (avail) {
    size_t n = avail < max ? avail : max;
    memcpy(out, s->data.ptr + s->taken, n);
    s->taken += n;
    if (s->taken == s->data.len) {
      sg_buf_reset(&s->data);
      s->taken = 0;
    }
    return (long)n;
  }
  return s->closed ? -1 : 0;
}

void sg_req_force_answer(soulgw_req *req) {
  /* Called by soulgw_stop() after its timeout.  The handler keeps its reference: its late answer
   * (or stream close) gets SOULGW_ECLOSED and releases it. */
  size_t len = 0;
  char *body =
      error_body(req, "STORAGE.UNAVAILABLE", "the gateway is shutting down", NULL, 503, &len);
  pthread_mutex_lock(&req->lock);
  if (!req->answered) {
    req->status = 503;
    req->resp = body ? body : sg_dialect_oom((sg_dialect)req->dialect, &len);
    req->resp_owned = body;
    req->resp_len = len;
    req->resp_type = "application/json";
    req->err_code = "STORAGE.UNAVAILABLE";
    req->answered = 1;
    body = NULL;
  } else if (req->stream) {
    req->stream->closed = 1;
  }
  wake_glue(req);
  pthread_mutex_unlock(&req->lock);
  free(body);
}

/*
 * upstream.h -- outbound HTTP (libcurl glue; upstream.c is the only file that calls libcurl).
 *
 * Calls run on one thread of their own that drives a libcurl multi handle, so that waiting on an
 * upstream never holds a gateway thread: the caller defers its request, starts a call here, and
 * is called back on the upstream thread when the answer is in.  A plain call (plain http:// to
 * an address) made on a server loop's thread runs instead on that loop's lane and is called
 * back on that thread, so that a proxied request never crosses threads (sg_up_lane_new).
 * Connections are kept alive and reused between calls to the same host (HTTP/1.1), which is
 * what keeps a proxied call cheap.
 *
 * Typical use from a handler:
 *
 *   soulgw_req_defer(req);
 *   sg_up_req r = {.url = url, .headers = hdrs, .body = json, .body_len = len,
 *                  .timeout_ms = 5000, .label = "tool demo.fetch", .done = on_done, .ud = req};
 *   if (sg_upstream_call(gw->upstream, &r) != 0) answer 503 at once;
 *   ...
 *   static void on_done(void *ud, const sg_up_result *res) { ... soulgw_reply(ud, ...); }
 */
#ifndef SG_UPSTREAM_H
#define SG_UPSTREAM_H

#include "base/log.h"
#include "base/netpolicy.h"
#include "base/sg.h"

#include <stdint.h>

typedef struct sg_upstream sg_upstream;

/* What happened to a call, besides its HTTP status. */
typedef enum sg_up_err {
  SG_UP_OK = 0,    /* an HTTP answer arrived; its status may still be anything */
  SG_UP_CONNECT,   /* no answer: the host could not be resolved or connected to, or the
                      connection broke before an answer came (worth a retry) */
  SG_UP_TIMEOUT,   /* timeout_ms passed before the answer was complete */
  SG_UP_TOO_LARGE, /* the body grew over max_response */
  SG_UP_ABORTED,   /* the chunk callback asked to stop */
  SG_UP_CANCELLED, /* the module is shutting down (sg_upstream_cancel_all / _free) */
  SG_UP_OTHER,     /* anything else: TLS, protocol error, out of memory */
  SG_UP_REFUSED    /* the call's policy refused every address the host resolved to (or the
                      address of a kept-alive connection); errmsg says which and why */
} sg_up_err;

/* The outcome handed to the completion callback.  Pointers are valid during the callback only. */
typedef struct sg_up_result {
  sg_up_err err;
  long status;              /* HTTP status; 0 when no answer arrived */
  const char *body;         /* the buffered body, NUL-terminated; "" when none, and for a 2xx
                               answer delivered through the chunk callback */
  size_t body_len;
  sg_buf *buf;              /* the buffer body lives in: the done callback may take it over
                               with sg_buf_detach() (body is then no longer valid) */
  const char *content_type; /* of the answer, or NULL */
  const char *errmsg;       /* short English description when err != SG_UP_OK, else "";
                               never holds a header value */
  uint64_t duration_ns;     /* from the start of the transfer (after delay_ms) to its end */
  long retry_after;         /* the answer's Retry-After in seconds (at most a day), 0: none */
} sg_up_result;

/* Called exactly once per call accepted by sg_upstream_call(), on the upstream thread, or on
 * the thread of the lane the call ran on (never from within sg_upstream_call itself).  It must not block; it may start further calls (a
 * retry) and answer gateway requests. */
typedef void (*sg_up_done_fn)(void *ud, const sg_up_result *res);

/* Streaming: called on the call's thread (as done) with each piece of a 2xx answer's body as it
 * arrives (status is that answer's).  Return 0 to go on, non-zero to abort the transfer, which
 * then completes with SG_UP_ABORTED.  Bodies of other statuses are buffered for done. */
typedef int (*sg_up_chunk_fn)(void *ud, long status, const char *data, size_t len);

/* One call.  Everything is copied by sg_upstream_call(), so the struct and its strings may be
 * released as soon as it returns. */
typedef struct sg_up_req {
  const char *method;          /* "GET", "POST", ...; NULL means POST */
  const char *url;             /* http:// or https:// only */
  const char *const *headers;  /* "Name: value" strings, NULL-terminated; may be NULL.  Values
                                  are never logged (they may hold keys). */
  const void *body;            /* may be NULL */
  size_t body_len;
  long timeout_ms;             /* for the whole transfer, connection included; <= 0: none */
  long idle_timeout_ms;        /* for streams: the wait for the first byte of the answer, and
                                  then any stretch without a byte, may last this long (ends
                                  with SG_UP_TIMEOUT); <= 0: none */
  long delay_ms;               /* start no sooner than this from now (retry backoff) */
  size_t max_response;         /* cap on the buffered body, enforced as it arrives (an answer
                                  announcing a larger Content-Length is refused before its
                                  body is read); 0 means 64 MB */
  sg_netpolicy *policy;        /* not NULL: connect only to addresses the policy allows, checked
                                  on every address the host resolves to and on a kept-alive
                                  connection before it is reused; no proxy is used.  The call
                                  keeps a reference of its own.  NULL: no check (the operator's
                                  own upstreams, such as [llm.providers.*]) */
  const char *label;           /* names the caller in log lines ("provider openai") */
  sg_up_done_fn done;          /* required */
  sg_up_chunk_fn chunk;        /* NULL: buffer the whole body */
  void *ud;
} sg_up_req;

/* Starts the upstream thread (curl_global_init is done once per process, thread-safely).
 * log receives a warning for every call that fails without an answer (label, the URL's host
 * and the error; never a header).  NULL when out of memory or the thread cannot start. */
sg_upstream *sg_upstream_new(sg_log *log);

/* Queues a call.  Returns 0 (done will be called exactly once), SOULGW_EINVAL (no url or done,
 * or a URL that is not http(s)), SOULGW_ESTATE (the module is shutting down), SOULGW_ENOMEM.
 * Safe from any thread, including from a done or chunk callback. */
int sg_upstream_call(sg_upstream *u, const sg_up_req *r);

/* Shorthand for the common case: POST a JSON body (Content-Type and Accept application/json,
 * plus extra headers, may be NULL) and buffer the answer. */
int sg_upstream_post_json(sg_upstream *u, const char *url, const char *const *extra_headers,
                          const char *json, size_t len, long timeout_ms, const char *label,
                          sg_up_done_fn done, void *ud);

/* Calls to plain http:// at a literal address (no policy, no proxy variable) go through a small
 * keep-alive HTTP/1.1 client of the module's own (h1.c) instead of libcurl, unless on is 0:
 * then every call goes through libcurl.  Set before the first call (the tests use it to cover
 * both ways). */
void sg_upstream_set_plain(sg_upstream *u, int on);

/* A lane for an event loop that holds both sides of the requests it reads (http/loop.c):
 * the plain calls (see sg_upstream_set_plain) made on the calling thread from now on run on
 * it, with their connections in the loop's epoll set ep, and complete on this thread, with no
 * lock and no wake-up; other calls still go to the upstream thread.  wake(arg) may be called
 * from any thread when the lane needs a turn soon (sg_upstream_cancel_all).  NULL when out of
 * memory: the calls then go to the upstream thread.  All but wake run on the loop's thread. */
typedef struct sg_up_lane sg_up_lane;
sg_up_lane *sg_up_lane_new(sg_upstream *u, int ep, void (*wake)(void *), void *arg);

/* An event of the loop's epoll set: 1 when fd was the lane's (and is handled), else 0. */
int sg_up_lane_event(sg_up_lane *l, int fd, uint32_t events);

/* Starts the calls made since the last turn and those whose delay is over, ends those past a
 * timeout, carries out a cancel_all; returns the milliseconds until it needs a turn again (0:
 * calls made during this turn wait; at most a second). */
int sg_up_lane_turn(sg_up_lane *l);

/* Completes what the lane still holds with SG_UP_CANCELLED, closes its connections and frees
 * it; calls made on this thread go to the upstream thread again.  NULL does nothing. */
void sg_up_lane_free(sg_up_lane *l);

/* Completes every pending call with SG_UP_CANCELLED and refuses new ones (SOULGW_ESTATE).
 * Returns once the callbacks have run (at once when called on the upstream thread, which then
 * cancels after the current callback).  Used by soulgw_stop() before it answers the requests
 * still deferred, so that their owners can answer properly first. */
void sg_upstream_cancel_all(sg_upstream *u);

/* Cancels what is pending (as sg_upstream_cancel_all), stops the thread and releases
 * everything.  NULL does nothing.  Must not be called from a callback. */
void sg_upstream_free(sg_upstream *u);

#endif

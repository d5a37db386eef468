/*
 * http.h -- the HTTP server glue.  http/mhd.c is the only file that calls libmicrohttpd: it
 * owns the listening socket and the connections, feeds requests into the pipeline, parks
 * connections whose answer comes later (suspend/resume) and streams chunked bodies.  Unless the
 * host runs it from its own loop, it serves from one event loop per thread (http/loop.c), each
 * with a daemon of its own and a companion on the same epoll set (the upstream module's lane).
 */
#ifndef SG_HTTP_H
#define SG_HTTP_H

#include <sys/select.h>

#include "base/log.h"
#include "base/metrics.h"
#include "pipeline/inflight.h"

typedef struct sg_http sg_http;

/* Work each of the server's threads carries besides its connections, on the same epoll set:
 * the upstream module's lane, so that the calls a request makes go out and come back on the
 * thread that read it.  Every function runs on the thread of the loop it was attached to. */
typedef struct sg_http_companion {
  /* Binds to the calling thread; its descriptors go in ep, and wake(loop) makes the loop take
   * a turn from another thread.  Returns its state, or NULL (the loop goes on without). */
  void *(*attach)(void *arg, int ep, void (*wake)(void *loop), void *loop);
  int (*event)(void *st, int fd, unsigned events); /* 1: fd was the companion's */
  int (*turn)(void *st);     /* does what is due; ms until it must take a turn again */
  void (*detach)(void *st);  /* the loop ends: what is pending ends now, and st is freed */
  void *arg;
} sg_http_companion;

typedef struct sg_http_opts {
  const char *address;
  int port;
  int threads; /* 0: one per CPU */
  int max_connections;
  int timeout_s; /* idle connection timeout; 0 none */
  int external;  /* run from the host's loop instead of our own threads */
  int header_timeout_s;      /* a request head must be in within this; 0 none */
  long long min_body_rate;   /* bytes/s a body must keep up after header_timeout_s; 0 none */
  int max_connections_per_ip; /* 0 none */
  const sg_http_companion *companion; /* NULL: none; not with external */
  sg_family *connections; /* a gauge labelled "loop": open connections by loop; NULL none */
} sg_http_opts;

/* Binds and starts serving requests created from f (which must outlive the server); the
 * server library's own messages go to log.  Returns 0, SOULGW_EBIND or SOULGW_EHTTP with err
 * filled. */
int sg_http_start(sg_inflight *f, sg_log *log, const sg_http_opts *o, sg_http **out, char *err,
                  size_t errlen);
int sg_http_port(const sg_http *h);
/* Closes the listening socket; connections already open are served on. */
void sg_http_quiesce(sg_http *h);
/* Stops serving and closes every connection; h is freed. */
void sg_http_stop(sg_http *h);
const char *sg_http_version(void);
int sg_http_is_external(const sg_http *h);

int sg_http_fdset(sg_http *h, fd_set *rs, fd_set *ws, fd_set *es, int *max_fd);
int sg_http_timeout(sg_http *h, long long *ms);
int sg_http_run(sg_http *h);
int sg_http_run_wait(sg_http *h, int timeout_ms);

#endif

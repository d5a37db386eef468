/*
 * mhd.c -- libmicrohttpd glue: the only file that calls libmicrohttpd (see http.h).
 *
 * The access handler is called once when a request's headers are in (the pipeline may answer
 * at once), once per piece of body, and once more when the body is complete (the pipeline runs
 * the handler).  When the handler has not answered by then it has deferred: the connection is
 * suspended and the request's resume hook wakes it when the answer comes, from any thread; MHD
 * then calls the access handler again and the answer is queued.  Streamed answers use a content
 * reader that suspends the connection when it has no data yet, as microhttpd.h prescribes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"
#include "pipeline/pipeline.h"

struct sg_http {
  struct MHD_Daemon *d;
  sg_inflight *inflight;
  sg_log *log;
  int port;
  int external;
  int quiesced;
};

/* Bytes of body accepted past max_body_bytes (read and dropped so that the 413 can be sent on a
 * healthy connection) before the connection is cut instead. */
#define DROP_LIMIT (8LL << 20)

/* Per-connection memory pool of libmicrohttpd: the request line and headers must fit in it
 * (about 15 KB together; more gets libmicrohttpd's own 414 or 431).  MHD clears the whole pool
 * for every request, so its size is paid on every request: 32 KB (MHD's default) cost 8% of
 * /health throughput against 16 KB. */
#define CONN_MEMORY (16u * 1024u)

static const char *io_header(void *ctx, const char *name) {
  return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static const char *io_query(void *ctx, const char *name) {
  return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static void io_resume(void *ctx) { MHD_resume_connection(ctx); }

static const sg_req_io mhd_io = {io_header, io_query, io_resume};

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  soulgw_req *req = cls;
  (void)pos;
  pthread_mutex_lock(&req->lock);
  long n = sg_req_stream_take(req, buf, max);
  if (n == 0) {
    req->suspended = 1;
    MHD_suspend_connection(req->io_ctx);
  }
  pthread_mutex_unlock(&req->lock);
  return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void stream_free(void *cls) { sg_req_release(cls); }

/* Queues the request's answer (lock not held). */
static enum MHD_Result queue(soulgw_req *req, struct MHD_Connection *c) {
  struct MHD_Response *r;
  pthread_mutex_lock(&req->lock);
  if (req->resp_tree) {
    static const char oom[] = "{\"code\":\"UNKNOWN.INTERNAL\",\"message\":\"out of memory\"}";
    char *text = soulgw_json_print(req->resp_tree);
    soulgw_json_free(req->resp_tree);
    req->resp_tree = NULL;
    req->resp_owned = text;
    req->resp = text ? text : oom;
    req->resp_len = text ? strlen(text) : sizeof oom - 1;
    if (!text) req->status = 500;
  }
  if (req->stream) {
    atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed); /* the response's */
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, req,
                                          stream_free);
    if (!r) sg_req_release(req);
  } else if (req->resp_owned) {
    r = MHD_create_response_from_buffer_with_free_callback(req->resp_len, req->resp_owned, free);
    if (r) req->resp_owned = NULL; /* now the response's */
  } else {
    r = MHD_create_response_from_buffer(req->resp_len, (void *)(uintptr_t)req->resp,
                                        MHD_RESPMEM_PERSISTENT);
  }
  pthread_mutex_unlock(&req->lock);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, req->resp_type);
  MHD_add_response_header(r, "X-Request-Id", req->id);
  for (size_t i = 0; i < req->nresp_headers; i++)
    MHD_add_response_header(r, req->resp_headers[i].name, req->resp_headers[i].value);
  if (req->stream) {
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
  }
  if (sg_inflight_draining(req->inflight))
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)req->status, r);
  MHD_destroy_response(r);
  return ret;
}

static int has_chunked_body(struct MHD_Connection *c) {
  const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  return te && strcasestr(te, "chunked") != NULL;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls) {
  sg_http *h = cls;
  soulgw_req *req = *con_cls;
  (void)version;
  if (!req) {
    req = sg_req_new(h->inflight, &mhd_io, c, method, url);
    if (!req) return MHD_NO;
    *con_cls = req;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long clen = cl ? strtoll(cl, NULL, 10) : -1;
    int has_body = clen > 0 || (clen < 0 && has_chunked_body(c));
    const char *ct = has_body ? MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                            MHD_HTTP_HEADER_CONTENT_TYPE)
                              : NULL;
    if (sg_pipeline_begin(req, has_body, clen, ct)) {
      req->glue_ran = 1;
      /* With a body still unread, answer now (MHD then closes the connection); without one,
       * wait for the final call so that the connection stays open. */
      if (has_body) return queue(req, c);
    }
    return MHD_YES;
  }
  if (*upload_size) {
    if (!req->glue_discard && sg_buf_append(&req->body, upload, *upload_size) != 0) {
      req->glue_discard = 1;
      sg_buf_free(&req->body);
    }
    if (req->glue_discard) {
      req->glue_dropped += (long long)*upload_size;
      if (req->glue_dropped > DROP_LIMIT) return MHD_NO; /* cut an endless body */
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (!req->glue_ran) {
    req->glue_ran = 1;
    if (req->glue_discard)
      sg_req_error(req, SOULGW_API_REQUEST_TOO_LARGE, "request body is over the limit of %lld bytes",
                   req->snap->conf->server.max_body_bytes);
    else
      sg_pipeline_run(req);
  }
  pthread_mutex_lock(&req->lock);
  if (req->answered) {
    pthread_mutex_unlock(&req->lock);
    return queue(req, c);
  }
  req->suspended = 1;
  MHD_suspend_connection(c);
  pthread_mutex_unlock(&req->lock);
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  soulgw_req *req = *con_cls;
  (void)cls;
  (void)c;
  if (!req) return;
  *con_cls = NULL;
  sg_req_close(req);
  sg_pipeline_done(req, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
  sg_req_release(req);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  sg_http *h = cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  /* A client's malformed request is the client's problem: info, so that scanners cannot flood
   * the warnings.  Anything else from the server library is worth a warning. */
  int client = strncmp(msg, "Error processing request", 24) == 0;
  sg_log(h->log, client ? SOULGW_LOG_INFO : SOULGW_LOG_WARN, "libmicrohttpd",
         SG_S("detail", msg));
}

/* Binds and listens; returns the socket or -1 with err filled. */
static int listen_on(const char *address, int port, int *bound, char *err, size_t errlen) {
  struct addrinfo hints, *ai = NULL;
  char service[16];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if (strcmp(address, "localhost") != 0) hints.ai_flags |= AI_NUMERICHOST;
  snprintf(service, sizeof service, "%d", port);
  int rc = getaddrinfo(address, service, &hints, &ai);
  if (rc) {
    snprintf(err, errlen, "cannot listen on %s:%d: %s", address, port, gai_strerror(rc));
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0) {
    snprintf(err, errlen, "cannot listen on %s:%d: %s", address, port, strerror(errno));
    freeaddrinfo(ai);
    return -1;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
    snprintf(err, errlen, "cannot listen on %s:%d: %s", address, port, strerror(errno));
    close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  *bound = port;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET) *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  return fd;
}

int sg_http_start(sg_inflight *f, sg_log *log, const sg_http_opts *o, sg_http **out, char *err,
                  size_t errlen) {
  sg_http *h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return SOULGW_ENOMEM;
  }
  h->inflight = f;
  h->log = log;
  h->external = o->external;
  int fd = listen_on(o->address, o->port, &h->port, err, errlen);
  if (fd < 0) {
    free(h);
    return SOULGW_EBIND;
  }
  unsigned threads = o->threads > 0 ? (unsigned)o->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
  if (threads < 1) threads = 1;
  unsigned flags = MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
  if (!o->external) flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  h->d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
      MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->external || threads == 1 ? 0 : threads),
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)o->timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
  if (!h->d) {
    snprintf(err, errlen, "libmicrohttpd could not start on %s:%d", o->address, h->port);
    close(fd);
    free(h);
    return SOULGW_EHTTP;
  }
  *out = h;
  return 0;
}

int sg_http_port(const sg_http *h) { return h->port; }
int sg_http_is_external(const sg_http *h) { return h->external; }

void sg_http_quiesce(sg_http *h) {
  if (h->quiesced) return;
  h->quiesced = 1;
  MHD_socket fd = MHD_quiesce_daemon(h->d);
  if (fd != MHD_INVALID_SOCKET) close(fd);
}

void sg_http_stop(sg_http *h) {
  if (!h) return;
  MHD_stop_daemon(h->d);
  free(h);
}

const char *sg_http_version(void) { return MHD_get_version(); }

int sg_http_fdset(sg_http *h, fd_set *rs, fd_set *ws, fd_set *es, int *max_fd) {
  MHD_socket m = *max_fd;
  if (MHD_get_fdset(h->d, rs, ws, es, &m) != MHD_YES) return SOULGW_EHTTP;
  if ((int)m > *max_fd) *max_fd = (int)m;
  return 0;
}

int sg_http_timeout(sg_http *h, long long *ms) {
  MHD_UNSIGNED_LONG_LONG t;
  if (MHD_get_timeout(h->d, &t) == MHD_YES) *ms = (long long)t;
  else *ms = -1;
  return 0;
}

int sg_http_run(sg_http *h) { return MHD_run(h->d) == MHD_YES ? 0 : SOULGW_EHTTP; }

int sg_http_run_wait(sg_http *h, int timeout_ms) {
  return MHD_run_wait(h->d, timeout_ms) == MHD_YES ? 0 : SOULGW_EHTTP;
}

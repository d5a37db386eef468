/*
 * mhd.c -- libmicrohttpd glue: the only file that calls libmicrohttpd (see http.h).
 *
 * The access handler is called once when a request's headers are in (the pipeline may answer
 * at once), once per piece of body, and once more when the body is complete (the pipeline runs
 * the handler).  When the handler has not answered by then it has deferred.  On a loop the
 * connection is first held among MHD's ready ones, which call the access handler again on each
 * run, for up to 20 ms (see hold()); an answer in that time pokes the loop and is queued on the
 * next call.  Past that, and in the host's external mode at once, the connection is suspended
 * and the request's resume hook wakes it when the answer comes, from any thread; MHD then calls
 * the access handler again and the answer is queued.  Streamed answers use a content
 * reader that suspends the connection when it has no data yet, as microhttpd.h prescribes.
 *
 * Daemons run in external mode: the host's one from its own loop, or one per server thread
 * from that thread's event loop (loop.c), which accepts the connections and hands them over
 * (MHD_add_connection).  A loop's connection resumed on the loop's own thread only marks the
 * loop to run its daemon again; resumed from another thread, it wakes the loop.
 *
 * The edge is hostile, so before the pipeline sees a request the glue refuses, and closes, what
 * two HTTP parsers could read differently (RFC 9112 section 6): two Content-Lengths, a
 * Content-Length with a Transfer-Encoding, any Transfer-Encoding but "chunked" (the one
 * libmicrohttpd reads), a field name that is not a token, a NUL in the request target.  Any
 * answer given before a body is read closes the connection, since the body is left unread.
 *
 * libmicrohttpd's timeout is an idle timeout, which a client sending a byte now and then never
 * meets.  A watchdog thread keeps the deadlines it lacks: the request head must be in within
 * header_timeout_s, and a body must keep up min_body_rate on average once that grace is over.
 * Each connection has an entry (its socket context) whose deadline the connection's own thread
 * sets with relaxed atomic stores; the watchdog scans the entries a few times a second and shuts
 * the socket of a late one down, which libmicrohttpd then reads as the client going away.
 * Entries leave the list, under its lock, before libmicrohttpd closes the socket (it notifies
 * the close first), and the watchdog holds the same lock while it shuts sockets down, so a
 * descriptor it touches is never one that was closed and reused.
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
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"
#include "http/loop.h"
#include "pipeline/dialect.h"
#include "pipeline/pipeline.h"

/* A connection as the watchdog sees it. */
typedef struct sg_conn {
  struct sg_conn *prev, *next; /* the list, under sg_http.conns_lock */
  int fd;
  atomic_llong due; /* (deadline, monotonic ms) << 1 | 1 for a body, 0 for a head; 0: none */
  sg_loop *loop;          /* the loop serving it (NULL: the host's loop) */
  sg_loop_ticket *ticket; /* what it holds of the loops' limits */
} sg_conn;

struct sg_http {
  struct MHD_Daemon *d; /* external mode: the one daemon */
  sg_loops *loops;      /* otherwise: one daemon per loop */
  sg_http_opts opts;
  unsigned limit;       /* connections over all loops */
  sg_inflight *inflight;
  sg_log *log;
  int port;
  int listen_fd; /* the listening socket libmicrohttpd was given */
  int external;
  int quiesced;
  /* the watchdog; durations in ms, 0: none */
  long long head_ms, next_head_ms, grace_ms, body_rate;
  int watching, stopping;
  pthread_t watchdog;
  pthread_mutex_t conns_lock;
  pthread_cond_t wake;
  sg_conn *conns;
};

/* How often the watchdog looks for late connections, and how many it cuts per look. */
#define WATCH_PERIOD_MS 250
#define WATCH_MAX_CUTS 64

/* The con_cls libmicrohttpd hands to a request whose target holds a NUL (see on_uri). */
static char nul_target;

/* Bytes of body accepted past max_body_bytes (read and dropped so that the 413 can be sent on a
 * healthy connection) before the connection is cut instead; a body dropped for the
 * unauthenticated budget gets as much. */
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

/* A loop's connection resumed from its own thread makes the loop run its daemon before it
 * sleeps; from another thread, it wakes the loop (see loop.c). */
static void io_resume(void *ctx) {
  MHD_resume_connection(ctx);
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(ctx, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  sg_conn *k = ci ? ci->socket_context : NULL;
  if (k && k->loop) sg_loop_resumed(k->loop);
}

/* A held connection's answer is ready: its loop runs the daemon again before it sleeps, and
 * the daemon, which still has the connection among its ready ones, calls the access handler. */
static void io_poke(void *ctx) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(ctx, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  sg_conn *k = ci ? ci->socket_context : NULL;
  if (k && k->loop) sg_loop_resumed(k->loop);
}

static const sg_req_io mhd_io = {io_header, io_query, io_resume, io_poke};

/* libmicrohttpd's fatal errors ("MHD_stop_daemon() called while we have suspended
 * connections", ...): said on stderr in one line with where, then abort() as its own handler
 * does (it must not return), so that a crash report names its cause. */
static void on_panic(void *cls, const char *file, unsigned int line, const char *reason) {
  (void)cls;
  fprintf(stderr, "soulgw: libmicrohttpd fatal error at %s:%u: %s\n", file ? file : "?", line,
          reason ? reason : "");
  fflush(stderr);
  abort();
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  soulgw_req *req = cls;
  (void)pos;
  pthread_mutex_lock(&req->lock);
  long n = sg_req_stream_take(req, buf, max);
  if (n == 0 && sg_inflight_closing(req->inflight)) {
    pthread_mutex_unlock(&req->lock);
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
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
  int close_after =
      req->glue_close || sg_inflight_draining(req->inflight);
  pthread_mutex_lock(&req->lock);
  if (req->resp_tree) {
    char *text = soulgw_json_print(req->resp_tree);
    soulgw_json_free(req->resp_tree);
    req->resp_tree = NULL;
    req->resp_owned = text;
    if (text) {
      req->resp = text;
      req->resp_len = strlen(text);
    } else {
      req->resp = sg_dialect_oom((sg_dialect)req->dialect, &req->resp_len);
      req->status = 500;
    }
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
  if (close_after) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)req->status, r);
  MHD_destroy_response(r);
  return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Framing: what two HTTP parsers must not read differently */

/* RFC 9110 token characters, of which a field name is made (a table: every header of every
 * request is checked). */
static const unsigned char tchar[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
    ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['!'] = 1, ['#'] = 1,
    ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,
    ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1};

static int is_tchar(unsigned char c) { return tchar[c]; }

#define MAX_TE_FIELDS 4

/* What the header fields say about the body's length. */
typedef struct framing {
  const char *cl; /* the first Content-Length */
  size_t cl_len;
  int cl_conflict; /* another Content-Length with another value */
  const char *te[MAX_TE_FIELDS];
  size_t nte;            /* Transfer-Encoding fields (all of them, even past MAX_TE_FIELDS) */
  const char *bad_name; /* a field name that is not a token */
} framing;

static enum MHD_Result scan_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size) {
  framing *f = cls;
  (void)kind;
  int token = key_size > 0;
  for (size_t i = 0; i < key_size; i++) token &= is_tchar((unsigned char)key[i]);
  if (!token) {
    f->bad_name = key;
    return MHD_NO;
  }
  if (key_size == 14 && strncasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH, 14) == 0) {
    if (!f->cl) {
      f->cl = value;
      f->cl_len = value_size;
    } else if (value_size != f->cl_len || memcmp(value, f->cl, value_size) != 0) {
      f->cl_conflict = 1;
    }
  } else if (key_size == 17 && strncasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING, 17) == 0) {
    if (f->nte < MAX_TE_FIELDS) f->te[f->nte] = value;
    f->nte++;
  }
  return MHD_YES;
}

/* Answers a request refused at the edge; the connection is closed after it.  Returns 1. */
static int refuse(soulgw_req *req, soulgw_api_error code, const char *fmt, ...) SG_PRINTF(3, 4);
static int refuse(soulgw_req *req, soulgw_api_error code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  soulgw_reply_verror(req, code, fmt, ap);
  va_end(ap);
  req->glue_close = 1;
  return 1;
}

/* Transfer-Encoding (RFC 9112 section 6.1, 6.3): libmicrohttpd reads a body as chunked only
 * when there is one field and it is exactly "chunked" (it does not trim trailing blanks), so
 * anything else is refused: 400 when the body's length cannot be known (no codings, chunked
 * not last or more than once, a malformed list), 501 for a coding the gateway does not
 * decode.  Returns 1 after answering. */
static int check_transfer_encoding(soulgw_req *req, const framing *f) {
  if (f->nte == 1 && strcasecmp(f->te[0], "chunked") == 0) return 0;
  if (f->nte > MAX_TE_FIELDS)
    return refuse(req, SOULGW_API_REQUEST_BAD, "too many Transfer-Encoding fields");
  int codings = 0, chunked = 0, last_chunked = 0;
  const char *other = NULL;
  int other_len = 0;
  for (size_t i = 0; i < f->nte; i++) {
    for (const char *p = f->te[i];;) {
      while (*p == ' ' || *p == '\t') p++;
      const char *s = p;
      while (*p && *p != ',') p++;
      const char *e = p;
      while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
      const char *n = s; /* the coding's name ends at its parameters, if any */
      while (n < e && is_tchar((unsigned char)*n)) n++;
      if (n > s) {
        codings++;
        last_chunked = n - s == 7 && strncasecmp(s, "chunked", 7) == 0;
        chunked += last_chunked;
        if (!last_chunked && !other) {
          other = s;
          other_len = (int)(n - s);
        }
      }
      if (!*p) break;
      p++;
    }
  }
  if (!codings || !last_chunked)
    return refuse(req, SOULGW_API_REQUEST_BAD,
                  "Transfer-Encoding does not end with chunked, so the body's length is unknown");
  if (chunked > 1)
    return refuse(req, SOULGW_API_REQUEST_BAD, "Transfer-Encoding applies chunked more than once");
  if (other)
    return refuse(req, SOULGW_API_REQUEST_NOT_IMPLEMENTED,
                  "transfer coding \"%.*s\" is not supported: send the body chunked, or with "
                  "Content-Length",
                  other_len > 32 ? 32 : other_len, other);
  /* only chunked, but not as libmicrohttpd reads it: blanks, parameters, empty elements */
  return refuse(req, SOULGW_API_REQUEST_BAD,
                "malformed Transfer-Encoding: send exactly \"Transfer-Encoding: chunked\"");
}

/* Refuses a head whose body's length two parsers could read differently, and reads that
 * length: *clen from Content-Length (-1: none), *chunked.  Returns 1 after answering. */
static int check_framing(soulgw_req *req, struct MHD_Connection *c, const char *version,
                         long long *clen, int *chunked) {
  framing f;
  memset(&f, 0, sizeof f);
  MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_field, &f);
  if (f.bad_name)
    return refuse(req, SOULGW_API_REQUEST_BAD,
                  "header name \"%.40s\" is not a token (a blank before the colon?)", f.bad_name);
  if (f.cl_conflict)
    return refuse(req, SOULGW_API_REQUEST_BAD, "two Content-Length headers with different values");
  if (f.cl && f.nte)
    return refuse(req, SOULGW_API_REQUEST_BAD,
                  "Content-Length together with Transfer-Encoding: send one of them");
  if (f.nte && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
    return refuse(req, SOULGW_API_REQUEST_BAD, "Transfer-Encoding in an HTTP/1.0 request");
  if (f.nte && check_transfer_encoding(req, &f)) return 1;
  *clen = f.cl ? strtoll(f.cl, NULL, 10) : -1;
  *chunked = f.nte > 0;
  return 0;
}

/* The URI log callback: sees the request target as sent, before libmicrohttpd splits off the
 * query and decodes %XX in place, which would turn %00 into the end of the path (/a%00/b would
 * route as /a).  A NUL sent as such is found too: libmicrohttpd ends the target with a NUL where
 * the blank before "HTTP/" was, so an earlier one came from the client.  Returns the con_cls of
 * the request: NULL, or &nul_target to have it refused. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)cls;
  (void)c;
  size_t n = strlen(uri);
  if (strncmp(uri + n + 1, "HTTP/", 5) != 0) return &nul_target;
  for (const char *p = uri; (p = memchr(p, '%', n - (size_t)(p - uri))) != NULL; p++)
    if (p[1] == '0' && p[2] == '0') return &nul_target;
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Deadlines (the watchdog is below) */

static long long mono_ms(void) { return (long long)(sg_coarse_ns() / 1000000u); }

/* The connection's watchdog entry, or NULL. */
static sg_conn *conn_of(sg_http *h, struct MHD_Connection *c) {
  if (!h->watching) return NULL;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

/* Sets a connection's deadline: in ms from now (0: none), for a head or a body. */
static void watch(sg_conn *k, long long in_ms, int body) {
  if (k)
    atomic_store_explicit(&k->due, in_ms > 0 ? (mono_ms() + in_ms) << 1 | body : 0,
                          memory_order_relaxed);
}

/* The body's deadline after what it has sent so far: it must keep body_rate on average once
 * the grace is over.  It began when the head was in, which is when the request was made. */
static void watch_body(sg_http *h, struct MHD_Connection *c, soulgw_req *req) {
  sg_conn *k = h->body_rate > 0 ? conn_of(h, c) : NULL;
  if (!k) return;
  long long due = (long long)(req->t0 / 1000000u) + h->grace_ms +
                  req->glue_received * 1000 / h->body_rate;
  atomic_store_explicit(&k->due, due << 1 | 1, memory_order_relaxed);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  sg_http *h = cls;
  sg_conn *k = *socket_context;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    /* out of memory: no deadlines for it, and it does not count (loop.c gives its ticket back) */
    if (!ci || !(k = calloc(1, sizeof *k))) return;
    k->fd = ci->connect_fd;
    k->loop = sg_loop_current();
    k->ticket = sg_loop_claim();
    if (h->watching) {
      watch(k, h->head_ms, 0);
      pthread_mutex_lock(&h->conns_lock);
      k->next = h->conns;
      if (h->conns) h->conns->prev = k;
      h->conns = k;
      pthread_mutex_unlock(&h->conns_lock);
    }
    *socket_context = k;
  } else if (k) {
    if (h->watching) {
      pthread_mutex_lock(&h->conns_lock);
      if (k->prev) k->prev->next = k->next;
      else h->conns = k->next;
      if (k->next) k->next->prev = k->prev;
      pthread_mutex_unlock(&h->conns_lock);
    }
    sg_loop_release(k->loop, k->ticket);
    free(k);
    *socket_context = NULL;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Requests */

/* After begin: the route is known, and so is the dialect of these answers.  Both refuse the
 * body, at the limits stage. */
static void answer_busy(soulgw_req *req) {
  req->stage = SG_STAGE_LIMITS;
  soulgw_reply_header(req, "Retry-After", "1");
  refuse(req, SOULGW_API_REQUEST_BUSY,
         "too many request bodies without a credential are being received; retry later, or "
         "authenticate");
}

static void answer_too_large(soulgw_req *req) {
  req->stage = SG_STAGE_LIMITS;
  soulgw_reply_error(req, SOULGW_API_REQUEST_TOO_LARGE,
                     "request body is over the limit of %lld bytes",
                     req->snap->conf->server.max_body_bytes);
}

/* The first call, the head complete: the edge's checks, then the pipeline's begin. */
static enum MHD_Result on_head(sg_http *h, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, void **con_cls) {
  int nul = *con_cls == &nul_target;
  soulgw_req *req = sg_req_new(h->inflight, &mhd_io, c, method, url);
  if (!req) return MHD_NO;
  *con_cls = req;
  /* the head is in: no deadline until the body, and none for the handler and the answer */
  watch(conn_of(h, c), 0, 0);
  long long clen = -1;
  int chunked = 0;
  if (nul ? refuse(req, SOULGW_API_REQUEST_BAD, "the request target holds a NUL byte (%%00)")
          : check_framing(req, c, version, &clen, &chunked)) {
    req->glue_ran = 1;
    return queue(req, c);
  }
  int has_body = clen > 0 || (clen < 0 && chunked);
  const char *ct = has_body ? MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_TYPE)
                            : NULL;
  if (sg_pipeline_begin(req, has_body, clen, ct)) {
    req->glue_ran = 1;
    /* With a body still unread, answer now (MHD then closes the connection); without one,
     * wait for the final call so that the connection stays open. */
    if (!has_body) return MHD_YES;
    req->glue_close = 1;
    return queue(req, c);
  }
  /* A body read without a principal holds its whole announced length of the budget at once. */
  if (req->unauth_body && clen > 0 && sg_req_body_reserve(req, clen) != 0) {
    req->glue_ran = 1;
    answer_busy(req);
    return queue(req, c);
  }
  if (has_body) watch_body(h, c, req);
  return MHD_YES;
}

/* A piece of body.  Returns MHD_NO to cut the connection. */
static enum MHD_Result on_body(sg_http *h, struct MHD_Connection *c, soulgw_req *req,
                               const char *data, size_t len) {
  req->glue_received += (long long)len;
  watch_body(h, c, req);
  if (!req->glue_discard && !req->glue_busy) {
    /* a chunked body without a principal is counted as it comes */
    if (req->unauth_body && req->glue_received > req->body_reserved &&
        sg_req_body_reserve(req, req->glue_received - req->body_reserved) != 0) {
      req->glue_busy = 1;
      sg_buf_free(&req->body);
    } else if (sg_buf_append(&req->body, data, len) != 0) {
      req->glue_discard = 1;
      sg_buf_free(&req->body);
    }
  }
  /* cut an endless body */
  if ((req->glue_discard || req->glue_busy) &&
      req->glue_received > req->snap->conf->server.max_body_bytes + DROP_LIMIT)
    return MHD_NO;
  return MHD_YES;
}

/* Whether a request still without its answer is held (lock held): its connection left among
 * libmicrohttpd's ready ones, which calls the access handler again on each run of the loop's
 * daemon, instead of suspended.  Suspending costs three system calls per request: the
 * connection out of the epoll set, back in, and a read that finds nothing once it is resumed.
 * An answer that comes back soon (a model on loopback or a fast network) pokes the loop and is
 * sent on the daemon's next run, as a proxy with the client's socket in its epoll set would.
 * Once the request is HOLD_MAX_NS old it is suspended as before: a slow answer costs the loop
 * no more than a few short waits (loop.c), and the connection never nears libmicrohttpd's idle
 * timeout, which a suspended connection does not have. */
#define HOLD_MAX_NS (20u * 1000u * 1000u)
static int hold(soulgw_req *req) {
  /* the coarse clock may trail t0 (signed): held up to a tick longer */
  int keep = (int64_t)(sg_coarse_ns() - req->t0) < (int64_t)HOLD_MAX_NS;
  if (keep != req->held) sg_loop_hold(keep ? 1 : -1);
  req->held = (unsigned char)keep;
  return keep;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls) {
  sg_http *h = cls;
  soulgw_req *req = *con_cls;
  if (!req || *con_cls == &nul_target) return on_head(h, c, url, method, version, con_cls);
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    return on_body(h, c, req, upload, n);
  }
  if (!req->glue_ran) {
    req->glue_ran = 1;
    if (req->has_body) watch(conn_of(h, c), 0, 0);
    if (req->glue_busy)
      answer_busy(req);
    else if (req->glue_discard)
      answer_too_large(req);
    else
      sg_pipeline_run(req);
  }
  pthread_mutex_lock(&req->lock);
  if (!req->answered && sg_inflight_closing(h->inflight)) {
    /* stopping: a connection suspended now would never be resumed (see sg_http_stop) */
    pthread_mutex_unlock(&req->lock);
    sg_req_force_answer(req);
    pthread_mutex_lock(&req->lock);
  }
  if (req->answered) {
    if (req->held) sg_loop_hold(-1);
    req->held = 0;
    pthread_mutex_unlock(&req->lock);
    return queue(req, c);
  }
  if (!h->external && hold(req)) {
    pthread_mutex_unlock(&req->lock);
    return MHD_YES;
  }
  req->suspended = 1;
  MHD_suspend_connection(c);
  pthread_mutex_unlock(&req->lock);
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  sg_http *h = cls;
  soulgw_req *req = *con_cls;
  if (!req || *con_cls == &nul_target) return;
  *con_cls = NULL;
  /* a kept-alive connection now waits for its next head */
  watch(conn_of(h, c), h->next_head_ms, 0);
  if (req->held) sg_loop_hold(-1); /* held only by this thread, which sg_req_close() ends */
  sg_req_close(req);
  sg_pipeline_done(req, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
  sg_req_release(req);
}

/* ------------------------------------------------------------------------------------------ */
/* The watchdog */

typedef struct cut {
  int body;
  char peer[INET6_ADDRSTRLEN];
} cut;

static void peer_of(int fd, char *out, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  snprintf(out, len, "?");
  if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) return;
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len);
}

/* Shuts down the sockets of late connections (lock held); returns how many, described in
 * cuts. */
static int cut_late(sg_http *h, cut *cuts) {
  long long now = mono_ms();
  int n = 0;
  for (sg_conn *k = h->conns; k && n < WATCH_MAX_CUTS; k = k->next) {
    long long due = atomic_load_explicit(&k->due, memory_order_relaxed);
    if (!due || (due >> 1) > now) continue;
    atomic_store_explicit(&k->due, 0, memory_order_relaxed);
    cuts[n].body = (int)(due & 1);
    peer_of(k->fd, cuts[n].peer, sizeof cuts[n].peer);
    shutdown(k->fd, SHUT_RDWR);
    n++;
  }
  return n;
}

static void *watch_main(void *arg) {
  sg_http *h = arg;
  cut cuts[WATCH_MAX_CUTS];
  pthread_mutex_lock(&h->conns_lock);
  while (!h->stopping) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&h->wake, &h->conns_lock, &ts);
    if (h->stopping) break;
    int n = cut_late(h, cuts);
    if (!n) continue;
    pthread_mutex_unlock(&h->conns_lock);
    for (int i = 0; i < n; i++)
      sg_log(h->log, SOULGW_LOG_INFO, "connection cut",
             SG_S("reason", cuts[i].body ? "request body slower than server.min_body_rate_bytes_s"
                                         : "request head not complete within "
                                           "server.header_timeout_s"),
             SG_S("peer", cuts[i].peer));
    pthread_mutex_lock(&h->conns_lock);
  }
  pthread_mutex_unlock(&h->conns_lock);
  return NULL;
}

/* Starts the watchdog when a deadline is configured: 0, or -1. */
static int watch_start(sg_http *h, const sg_http_opts *o) {
  h->head_ms = o->header_timeout_s > 0 ? o->header_timeout_s * 1000LL : 0;
  /* between requests a kept-alive connection may also wait its idle timeout */
  h->next_head_ms = h->head_ms && o->timeout_s * 1000LL > h->head_ms ? o->timeout_s * 1000LL
                                                                       : h->head_ms;
  h->grace_ms = h->head_ms ? h->head_ms : 10000;
  h->body_rate = o->min_body_rate > 0 ? o->min_body_rate : 0;
  if (!h->head_ms && !h->body_rate) return 0;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&h->wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&h->conns_lock, NULL);
  if (pthread_create(&h->watchdog, NULL, watch_main, h) != 0) {
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->conns_lock);
    return -1;
  }
  h->watching = 1;
  return 0;
}

static void watch_stop(sg_http *h) {
  if (!h->watching) return;
  pthread_mutex_lock(&h->conns_lock);
  h->stopping = 1;
  pthread_cond_signal(&h->wake);
  pthread_mutex_unlock(&h->conns_lock);
  pthread_join(h->watchdog, NULL);
  pthread_cond_destroy(&h->wake);
  pthread_mutex_destroy(&h->conns_lock);
  h->watching = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The daemon */

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  sg_http *h = cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  /* A client's malformed request, or a client gone (or cut by the watchdog) mid-request, is the
   * client's problem: info, so that scanners cannot flood the warnings.  Anything else from the
   * server library is worth a warning. */
  int client = strncmp(msg, "Error processing request", 24) == 0 ||
               strncmp(msg, "Connection was closed by remote side", 36) == 0 ||
               strncmp(msg, "Socket has been disconnected", 28) == 0 ||
               strncmp(msg, "Connection socket is closed when reading", 40) == 0;
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

/* Open files the process needs besides its clients' connections: the store, upstream and Redis
 * sockets, the log, libmicrohttpd's epoll and inter-thread channels. */
#define FD_RESERVE 256

/* How many connections the daemon may hold: wanted, once the soft open-file limit is raised to
 * fit it (up to the hard limit).  When it cannot fit, fewer, with a warning: past the limit
 * libmicrohttpd would accept connections it cannot serve and leave them hanging (and stopping
 * it in that state can abort the process). */
static unsigned connection_limit(sg_http *h, int wanted) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return (unsigned)wanted;
  rlim_t need = (rlim_t)wanted + FD_RESERVE;
  if (rl.rlim_cur < need) {
    struct rlimit up = {rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max,
                        rl.rlim_max};
    if (up.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &up) == 0) rl.rlim_cur = up.rlim_cur;
  }
  if (rl.rlim_cur >= need) return (unsigned)wanted;
  long long fit = (long long)rl.rlim_cur - FD_RESERVE;
  if (fit < (long long)rl.rlim_cur / 2) fit = (long long)rl.rlim_cur / 2;
  sg_log(h->log, SOULGW_LOG_WARN,
         "server.max_connections does not fit the open-file limit: connections past it wait",
         SG_I("max_connections", wanted), SG_I("open_file_limit", (long long)rl.rlim_cur),
         SG_I("serving_at_most", fit));
  return (unsigned)fit;
}

/* A daemon: the host's (external, on the listening socket) or a loop's (fed the connections
 * the loop accepts).  Both are run from outside, with epoll for a loop's. */
static struct MHD_Daemon *daemon_start(sg_http *h, int loop, unsigned limit) {
  const sg_http_opts *o = &h->opts;
  unsigned flags = MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
  if (loop) flags |= MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET;
  struct MHD_OptionItem opts[] = {
      {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, h},
      {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)limit, NULL},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)CONN_MEMORY, NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)o->timeout_s, NULL},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, h},
      {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)(h->watching || loop ? on_connection : NULL), h},
      /* a loop's daemon has no listening socket: the loop accepts, and keeps the limits */
      {loop ? MHD_OPTION_END : MHD_OPTION_LISTEN_SOCKET, (intptr_t)h->listen_fd, NULL},
      {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)o->max_connections_per_ip, NULL},
      {MHD_OPTION_END, 0, NULL}};
  return MHD_start_daemon(flags, 0, NULL, NULL, on_access, h, MHD_OPTION_ARRAY, opts,
                          MHD_OPTION_END);
}

/* A loop's daemon, as loop.c runs it. */
static void *srv_open(void *arg, sg_loop *l, unsigned limit) {
  (void)l;
  return daemon_start(arg, 1, limit);
}
static int srv_fd(void *d) {
  const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
  return i ? i->epoll_fd : -1;
}
static int srv_add(void *d, int fd, const struct sockaddr *a, socklen_t len) {
  return MHD_add_connection(d, fd, a, len) == MHD_YES ? 0 : -1;
}
static void srv_run(void *d) { MHD_run(d); }
static long long srv_timeout(void *d) {
  MHD_UNSIGNED_LONG_LONG t;
  return MHD_get_timeout(d, &t) == MHD_YES ? (long long)t : -1;
}
static void srv_close(void *d) { MHD_stop_daemon(d); }

int sg_http_start(sg_inflight *f, sg_log *log, const sg_http_opts *o, sg_http **out, char *err,
                  size_t errlen) {
  sg_http *h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return SOULGW_ENOMEM;
  }
  h->inflight = f;
  h->log = log;
  h->opts = *o;
  h->external = o->external;
  int fd = listen_on(o->address, o->port, &h->port, err, errlen);
  h->listen_fd = fd;
  if (fd < 0) {
    free(h);
    return SOULGW_EBIND;
  }
  unsigned threads = o->threads > 0 ? (unsigned)o->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
  if (threads < 1) threads = 1;
  if (watch_start(h, o) != 0) {
    snprintf(err, errlen, "cannot start the connection watchdog: %s", strerror(errno));
    close(fd);
    free(h);
    return SOULGW_EHTTP;
  }
  MHD_set_panic_func(on_panic, NULL);
  h->limit = connection_limit(h, o->max_connections);
  if (o->external) {
    if (!(h->d = daemon_start(h, 0, h->limit)))
      snprintf(err, errlen, "libmicrohttpd could not start on %s:%d", o->address, h->port);
  } else {
    int one = 1; /* the loops accept without blocking */
    ioctl(fd, FIONBIO, &one);
    sg_loop_limits lim = {h->limit,
                          (unsigned)(o->max_connections_per_ip > 0 ? o->max_connections_per_ip : 0),
                          o->connections};
    sg_loop_server srv = {srv_open, srv_fd, srv_add, srv_run, srv_timeout, srv_close, h};
    h->loops = sg_loops_start(fd, threads, &lim, &srv, o->companion, log, err, errlen);
  }
  h->opts.companion = NULL; /* the loops have their copy; the caller's may go */
  if (!h->d && !h->loops) {
    watch_stop(h);
    close(fd);
    free(h);
    return SOULGW_EHTTP;
  }
  *out = h;
  return 0;
}

int sg_http_port(const sg_http *h) { return h->port; }
int sg_http_is_external(const sg_http *h) { return h->external; }

/* Stops accepting: the listening socket is closed, so new connections are refused.
 *
 * The descriptor the loops (or the host's daemon) accept on is made to refer to an eventfd
 * that never becomes ready (dup3 over it): the socket's last reference goes, the kernel closes
 * it (connections are refused) and takes it out of every epoll set, at once and without a race
 * with a loop about to accept; the eventfd is closed at stop as the listening socket, and the
 * loops stop listening at their next turn.  (Not MHD_quiesce_daemon(): with libmicrohttpd's
 * thread pool it raced with the workers over their epoll sets and aborted the process, the rare
 * exit 134 at SIGTERM.)  Should no eventfd be available, the socket is shut down instead, or
 * the host's daemon quiesced. */
void sg_http_quiesce(sg_http *h) {
  if (h->quiesced) return;
  h->quiesced = 1;
  if (h->loops) sg_loops_quiesce(h->loops);
  int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e >= 0 && dup3(e, h->listen_fd, O_CLOEXEC) >= 0) {
    close(e);
    return;
  }
  if (e >= 0) close(e);
  if (h->loops) {
    shutdown(h->listen_fd, SHUT_RDWR); /* new connections are refused */
    return;
  }
  MHD_socket fd = MHD_quiesce_daemon(h->d);
  if (fd != MHD_INVALID_SOCKET) close(fd);
}

/* libmicrohttpd aborts the process when it is stopped with a connection still suspended, so
 * first no connection is parked any more and every deferred one is answered (and so resumed). */
void sg_http_stop(sg_http *h) {
  if (!h) return;
  sg_inflight_close(h->inflight, sg_req_force_answer);
  if (h->loops) {
    sg_loops_stop(h->loops); /* first: closing its connections takes the watchdog's lock */
    close(h->listen_fd);     /* the loops' daemons never had it */
  } else {
    MHD_stop_daemon(h->d);
  }
  watch_stop(h);
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

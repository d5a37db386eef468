/*
 * h1.c -- a small keep-alive HTTP/1.1 client for plain http:// upstreams (see h1.h).
 *
 * A connection is in the epoll set from its socket's creation to its close, level-triggered,
 * for input always and for output only while a connect or a send is unfinished, so that a call
 * on a kept-alive connection costs no epoll_ctl: one sendmsg() of the head and body, and reads
 * as the answer comes.  An idle connection is kept per address (at most IDLE_MAX); any event
 * on it (the upstream closed it, or sent what nobody asked for) closes it.  A connection that
 * has carried KEEP_REQUESTS answers is closed after the last, as nginx's keepalive_requests
 * does: a pool made in one burst stays however the upstream's threads (or the balancer in
 * front of its servers) happened to take it, and renewing it spreads it again.  Against the
 * bench's two-thread mock the first burst left 22 of 33 connections on one thread, whose core
 * then bounded the proxy.
 *
 * The answer is read as RFC 9112 says: interim 1xx answers are skipped; HEAD, 204 and 304 have
 * no body; otherwise a chunked Transfer-Encoding, else Content-Length, else everything up to the
 * close.  The connection is kept only when the answer was complete and framed, the upstream did
 * not say close (HTTP/1.0: did say keep-alive), and nothing followed the answer.  A request sent
 * on a kept-alive connection that the upstream had closed meanwhile (nothing at all came back)
 * is sent once more on a new connection, as libcurl does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clients/h1.h"

#define RBUF_MIN (16u * 1024u)   /* read buffer; grows for a long head */
#define SPARE_MAX 16             /* read buffers kept for the next answers (256 KB at most) */
#define HEAD_MAX (64u * 1024u)   /* the answer's status line and fields, at most */
#define IDLE_MAX 1024            /* kept-alive idle connections per address (libcurl's cache) */
#define IDLE_AGE_NS (118ull * 1000000000ull) /* older idle connections are not reused (libcurl's) */
#define KEEP_REQUESTS 1000       /* answers per connection (nginx's keepalive_requests) */

typedef enum {
  C_CONNECTING,
  C_SENDING,
  C_READING,
  C_IDLE
} conn_state;

typedef enum {
  P_STATUS,
  P_FIELDS,
  P_BODY_LEN,   /* remaining bytes of a Content-Length body */
  P_BODY_EOF,   /* everything up to the close */
  P_CHUNK_SIZE,
  P_CHUNK_DATA,
  P_CHUNK_END,  /* the CRLF after a chunk's data */
  P_TRAILERS
} parse_state;

typedef struct origin origin;

struct sg_h1_conn {
  int fd;
  conn_state state;
  origin *org;
  sg_h1_call *call;
  sg_h1_conn *next_idle;
  uint64_t idle_since;
  int reused;      /* it served an answer before this call */
  unsigned answers; /* answers it carried */
  int want_out;    /* in the set for output too */
  size_t sent;     /* bytes of head + body sent */
  /* the answer */
  parse_state ps;
  int http10, keep, chunked, got_any, interim;
  long long remaining;
  char *rbuf;
  size_t rcap, rlen, rpos;
};

struct origin {
  origin *next;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  sg_h1_conn *idle;
  int nidle;
};

struct sg_h1 {
  int ep;
  origin *origins;
  sg_h1_conn **byfd; /* the connection of each descriptor, or NULL */
  size_t nbyfd;
  /* Read buffers of connections gone idle, for the next answers to be read: an idle connection
   * holds none, and without these every answer would cost a 16 KB malloc and free (beyond
   * malloc's per-thread cache, about a thousand instructions a call). */
  char *spare[SPARE_MAX];
  size_t nspare;
};

/* A connection's read buffer goes back to the spares (or to malloc). */
static void rbuf_drop(sg_h1 *h, sg_h1_conn *c) {
  if (c->rbuf && c->rcap == RBUF_MIN && h->nspare < SPARE_MAX) h->spare[h->nspare++] = c->rbuf;
  else free(c->rbuf);
  c->rbuf = NULL;
  c->rcap = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* URLs and heads */

int sg_h1_parse_url(const char *url, sg_h1_target *t) {
  if (strncmp(url, "http://", 7) != 0) return -1;
  const char *a = url + 7;
  size_t n = strcspn(a, "/?#");
  if (!n || memchr(a, '@', n)) return -1;
  memset(t, 0, sizeof *t);
  t->authority = a;
  t->authority_len = n;
  char host[64];
  const char *port = NULL;
  size_t hl;
  if (a[0] == '[') {
    const char *e = memchr(a, ']', n);
    if (!e) return -1;
    hl = (size_t)(e - a - 1);
    if (hl >= sizeof host) return -1;
    memcpy(host, a + 1, hl);
    if (e + 1 < a + n) {
      if (e[1] != ':') return -1;
      port = e + 2;
    }
  } else {
    const char *c = memchr(a, ':', n);
    hl = c ? (size_t)(c - a) : n;
    if (hl >= sizeof host) return -1;
    memcpy(host, a, hl);
    if (c) port = c + 1;
  }
  host[hl] = '\0';
  long p = 80;
  if (port) {
    size_t pl = (size_t)(a + n - port);
    if (pl == 0 || pl > 5) return -1;
    p = 0;
    for (size_t i = 0; i < pl; i++) {
      if (port[i] < '0' || port[i] > '9') return -1;
      p = p * 10 + (port[i] - '0');
    }
    if (p < 1 || p > 65535) return -1;
  }
  struct sockaddr_in *in = (struct sockaddr_in *)&t->addr;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->addr;
  if (a[0] != '[' && inet_pton(AF_INET, host, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)p);
    t->addr_len = sizeof *in;
  } else if (a[0] == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)p);
    t->addr_len = sizeof *in6;
  } else {
    return -1; /* a name: libcurl resolves it */
  }
  const char *path = a + n;
  size_t pl = strcspn(path, "#");
  if (pl && path[0] == '/') {
    t->path = path;
    t->path_len = pl;
  } else if (pl) {
    return -1; /* "http://host?q": rare enough for libcurl */
  }
  return 0;
}

/* Whether header h ("Name: value") names field name ("name:", lower case, len bytes). */
static int names(const char *h, const char *name, size_t len) {
  return (h[0] | 0x20) == name[0] && strncasecmp(h, name, len) == 0;
}

/* Appends p (n bytes) at *at when it fits; the total grows either way. */
static void put(char *out, size_t len, size_t *at, const char *p, size_t n) {
  if (out && *at + n <= len) memcpy(out + *at, p, n);
  *at += n;
}

size_t sg_h1_head(char *out, size_t len, const char *method, const sg_h1_target *t,
                  const char *const *headers, size_t body_len) {
  size_t at = 0;
  int has_host = 0, has_agent = 0, has_accept = 0;
  for (size_t i = 0; headers && headers[i]; i++) {
    has_host |= names(headers[i], "host:", 5);
    has_agent |= names(headers[i], "user-agent:", 11);
    has_accept |= names(headers[i], "accept:", 7);
  }
  put(out, len, &at, method, strlen(method));
  put(out, len, &at, " ", 1);
  if (t->path) put(out, len, &at, t->path, t->path_len);
  else put(out, len, &at, "/", 1);
  put(out, len, &at, " HTTP/1.1\r\n", 11);
  if (!has_host) {
    put(out, len, &at, "Host: ", 6);
    put(out, len, &at, t->authority, t->authority_len);
    put(out, len, &at, "\r\n", 2);
  }
  if (!has_agent) put(out, len, &at, "User-Agent: soulgw/" SOULGW_VERSION "\r\n",
                      sizeof "User-Agent: soulgw/" SOULGW_VERSION "\r\n" - 1);
  if (!has_accept) put(out, len, &at, "Accept: */*\r\n", 13);
  for (size_t i = 0; headers && headers[i]; i++) {
    const char *h = headers[i];
    size_t n = strlen(h);
    if (memchr(h, '\r', n) || memchr(h, '\n', n)) return 0;
    const char *v = memchr(h, ':', n);
    v = v ? v + 1 : h + n;
    while (*v == ' ' || *v == '\t') v++;
    /* an empty value removes the field; the length is always the body's own */
    if (!*v || names(h, "content-length:", 15)) continue;
    put(out, len, &at, h, n);
    put(out, len, &at, "\r\n", 2);
  }
  if (body_len || strcmp(method, "GET") != 0) {
    char num[48] = "Content-Length: ";
    char digits[24];
    int k = 0;
    do digits[k++] = (char)('0' + body_len % 10);
    while ((body_len /= 10) != 0);
    size_t w = 16;
    while (k) num[w++] = digits[--k];
    num[w++] = '\r';
    num[w++] = '\n';
    put(out, len, &at, num, w);
  }
  put(out, len, &at, "\r\n", 2);
  return at;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections */

static int track(sg_h1 *h, sg_h1_conn *c) {
  if ((size_t)c->fd >= h->nbyfd) {
    size_t n = h->nbyfd ? h->nbyfd : 256;
    while (n <= (size_t)c->fd) n *= 2;
    sg_h1_conn **p = realloc(h->byfd, n * sizeof *p);
    if (!p) return -1;
    memset(p + h->nbyfd, 0, (n - h->nbyfd) * sizeof *p);
    h->byfd = p;
    h->nbyfd = n;
  }
  h->byfd[c->fd] = c;
  return 0;
}

static int watch(sg_h1 *h, sg_h1_conn *c, int out, int op) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0u);
  ev.data.fd = c->fd;
  c->want_out = out;
  return epoll_ctl(h->ep, op, c->fd, &ev);
}

static void conn_close(sg_h1 *h, sg_h1_conn *c) {
  if (c->fd >= 0) {
    epoll_ctl(h->ep, EPOLL_CTL_DEL, c->fd, NULL);
    if ((size_t)c->fd < h->nbyfd) h->byfd[c->fd] = NULL;
    close(c->fd);
  }
  rbuf_drop(h, c);
  free(c);
}

static origin *origin_of(sg_h1 *h, const sg_h1_target *t) {
  for (origin *o = h->origins; o; o = o->next)
    if (o->addr_len == t->addr_len && memcmp(&o->addr, &t->addr, t->addr_len) == 0) return o;
  origin *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  memcpy(&o->addr, &t->addr, t->addr_len);
  o->addr_len = t->addr_len;
  o->next = h->origins;
  h->origins = o;
  return o;
}

/* A kept-alive connection to o young enough to reuse, or NULL. */
static sg_h1_conn *take_idle(sg_h1 *h, origin *o) {
  uint64_t now = sg_coarse_ns();
  while (o->idle) {
    sg_h1_conn *c = o->idle;
    o->idle = c->next_idle;
    o->nidle--;
    c->next_idle = NULL;
    if (now - c->idle_since < IDLE_AGE_NS) return c;
    conn_close(h, c);
  }
  return NULL;
}

/* A new connection to o, connecting; NULL with errno set when it cannot be. */
static sg_h1_conn *conn_open(sg_h1 *h, origin *o) {
  sg_h1_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->org = o;
  c->fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    free(c);
    return NULL;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  int rc = connect(c->fd, (struct sockaddr *)&o->addr, o->addr_len);
  if (rc != 0 && errno != EINPROGRESS) {
    int e = errno;
    close(c->fd);
    free(c);
    errno = e;
    return NULL;
  }
  c->state = rc == 0 ? C_SENDING : C_CONNECTING;
  if (track(h, c) != 0 || watch(h, c, 1, EPOLL_CTL_ADD) != 0) {
    if ((size_t)c->fd < h->nbyfd) h->byfd[c->fd] = NULL;
    close(c->fd);
    free(c);
    errno = ENOMEM;
    return NULL;
  }
  return c;
}

/* ------------------------------------------------------------------------------------------ */
/* Ending a call */

/* Ends c's call: its connection is kept for the next call to the same address when keep is
 * set, else closed; then on_done. */
static void finish(sg_h1 *h, sg_h1_conn *c, int keep, sg_up_err err, const char *msg) {
  sg_h1_call *call = c->call;
  c->call = NULL;
  if (call) call->conn = NULL;
  if (keep && ++c->answers < KEEP_REQUESTS && c->org->nidle < IDLE_MAX) {
    if (c->want_out) watch(h, c, 0, EPOLL_CTL_MOD);
    c->state = C_IDLE;
    c->reused = 1;
    c->idle_since = sg_coarse_ns(); /* read by take_idle with the same clock */
    c->rlen = c->rpos = 0;
    /* an idle connection holds no buffer: a thousand of them would otherwise hold 16 MB */
    rbuf_drop(h, c);
    c->next_idle = c->org->idle;
    c->org->idle = c;
    c->org->nidle++;
  } else {
    conn_close(h, c);
  }
  if (call) call->on_done(call, err, msg);
}

static int send_some(sg_h1 *h, sg_h1_conn *c);

/* Starts call on c (taken from the pool, or new). */
static void begin(sg_h1 *h, sg_h1_conn *c, sg_h1_call *call) {
  c->call = call;
  call->conn = c;
  call->status = 0;
  call->content_length = -1;
  call->retry_after = 0;
  call->content_type[0] = '\0';
  c->sent = 0;
  c->ps = P_STATUS;
  c->http10 = c->chunked = c->got_any = c->interim = 0;
  c->keep = 1;
  c->rlen = c->rpos = 0;
  if (c->state == C_IDLE) c->state = C_SENDING;
  if (c->state == C_SENDING) send_some(h, c);
}

/* The connection broke before the answer was complete: a reused connection that gave nothing
 * back is tried once more on a new one. */
static void broken(sg_h1 *h, sg_h1_conn *c, const char *msg) {
  sg_h1_call *call = c->call;
  if (call && c->reused && !c->got_any && !call->retried) {
    call->retried = 1;
    c->call = NULL;
    call->conn = NULL;
    conn_close(h, c);
    origin *o = origin_of(h, &call->target);
    sg_h1_conn *n = o ? conn_open(h, o) : NULL;
    if (!n) {
      call->on_done(call, SG_UP_CONNECT, "cannot connect to the upstream");
      return;
    }
    begin(h, n, call);
    return;
  }
  int started = call && call->status > 0;
  finish(h, c, 0, started ? SG_UP_OTHER : SG_UP_CONNECT, msg);
}

/* ------------------------------------------------------------------------------------------ */
/* Sending */

/* Sends what is left of the request.  Returns -1 when the call ended. */
static int send_some(sg_h1 *h, sg_h1_conn *c) {
  sg_h1_call *call = c->call;
  size_t total = call->head_len + call->body_len;
  while (c->sent < total) {
    struct iovec iov[2];
    int n = 0;
    if (c->sent < call->head_len) {
      iov[n].iov_base = (void *)(uintptr_t)(call->head + c->sent);
      iov[n++].iov_len = call->head_len - c->sent;
    }
    if (call->body_len) {
      size_t off = c->sent > call->head_len ? c->sent - call->head_len : 0;
      iov[n].iov_base = (void *)(uintptr_t)(call->body + off);
      iov[n++].iov_len = call->body_len - off;
    }
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n;
    ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->want_out) watch(h, c, 1, EPOLL_CTL_MOD);
      return 0;
    }
    if (k < 0) {
      broken(h, c, "the connection to the upstream broke while sending the request");
      return -1;
    }
    c->sent += (size_t)k;
  }
  c->state = C_READING;
  if (c->want_out) watch(h, c, 0, EPOLL_CTL_MOD);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading the answer */

/* The next line of the buffer (without its CRLF or LF) or NULL when it is not complete. */
static char *next_line(sg_h1_conn *c, size_t *len) {
  char *s = c->rbuf + c->rpos;
  char *nl = memchr(s, '\n', c->rlen - c->rpos);
  if (!nl) return NULL;
  c->rpos = (size_t)(nl + 1 - c->rbuf);
  if (nl > s && nl[-1] == '\r') nl--;
  *nl = '\0';
  *len = (size_t)(nl - s);
  return s;
}

static long parse_retry_after(const char *v) {
  char *end;
  if (*v >= '0' && *v <= '9') {
    long long s = strtoll(v, &end, 10);
    return s > 86400 ? 86400 : (long)s;
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (!strptime(v, "%a, %d %b %Y %H:%M:%S", &tm)) return 0;
  long long d = (long long)timegm(&tm) - (long long)time(NULL);
  return d <= 0 ? 0 : d > 86400 ? 86400 : (long)d;
}

/* One field of the answer's head.  Returns -1 when it makes the answer unreadable. */
static int field(sg_h1_conn *c, char *line, size_t len) {
  sg_h1_call *call = c->call;
  char *colon = memchr(line, ':', len);
  if (!colon || colon == line || line[0] == ' ' || line[0] == '\t') return -1;
  size_t nl = (size_t)(colon - line);
  char *v = colon + 1, *e = line + len;
  while (v < e && (*v == ' ' || *v == '\t')) v++;
  while (e > v && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
  if (nl == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
    if (v == e) return -1;
    long long n = 0;
    for (char *p = v; p < e; p++) {
      if (*p < '0' || *p > '9' || n > (1LL << 50)) return -1;
      n = n * 10 + (*p - '0');
    }
    if (call->content_length >= 0 && call->content_length != n) return -1;
    call->content_length = n;
  } else if (nl == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
    /* chunked when it is the last coding; any other last coding: up to the close */
    char *last = strrchr(v, ',');
    last = last ? last + 1 : v;
    while (*last == ' ' || *last == '\t') last++;
    c->chunked = strcasecmp(last, "chunked") == 0 ? 1 : -1;
  } else if (nl == 10 && strncasecmp(line, "Connection", 10) == 0) {
    for (char *t = v; *t;) {
      size_t k = strcspn(t, ",");
      char *s = t, *te = t + k;
      while (s < te && (*s == ' ' || *s == '\t')) s++;
      while (te > s && (te[-1] == ' ' || te[-1] == '\t')) te--;
      if (te - s == 5 && strncasecmp(s, "close", 5) == 0) c->keep = 0;
      if (te - s == 10 && strncasecmp(s, "keep-alive", 10) == 0 && c->http10) c->keep = 2;
      t += k;
      if (*t) t++;
    }
  } else if (nl == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
    sg_strlcpy(call->content_type, v, sizeof call->content_type);
  } else if (nl == 11 && strncasecmp(line, "Retry-After", 11) == 0) {
    call->retry_after = parse_retry_after(v);
  }
  return 0;
}

/* The status line.  Returns -1 when it is not one. */
static int status_line(sg_h1_conn *c, const char *s, size_t len) {
  if (len < 12 || strncmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
    return -1;
  if (s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
      (len > 12 && s[12] != ' '))
    return -1;
  c->http10 = s[7] == '0';
  c->call->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
  c->call->content_length = -1;
  c->call->content_type[0] = '\0';
  c->call->retry_after = 0;
  c->chunked = 0;
  c->keep = 1;
  c->interim = c->call->status < 200;
  return 0;
}

/* The head is complete: how the body is framed.  Returns 0, 1 when the answer is complete, or
 * -1 after ending the call. */
static int head_done(sg_h1 *h, sg_h1_conn *c) {
  sg_h1_call *call = c->call;
  if (c->interim) {
    if (call->status == 101) {
      finish(h, c, 0, SG_UP_OTHER, "the upstream switched protocols");
      return -1;
    }
    c->ps = P_STATUS; /* 100 Continue, 103 Early Hints: the real answer follows */
    return 0;
  }
  if (c->http10) c->keep = c->keep == 2;
  if (c->chunked < 0 || (c->chunked > 0 && call->content_length >= 0)) c->keep = 0;
  const char *msg = "the answer was refused";
  int err = call->on_head(call, &msg);
  if (err) {
    finish(h, c, 0, (sg_up_err)err, msg);
    return -1;
  }
  if (call->no_body || call->status == 204 || call->status == 304) return 1;
  if (c->chunked > 0) {
    c->ps = P_CHUNK_SIZE;
  } else if (c->chunked == 0 && call->content_length >= 0) {
    if (call->content_length == 0) return 1;
    c->ps = P_BODY_LEN;
    c->remaining = call->content_length;
  } else {
    c->ps = P_BODY_EOF;
    c->keep = 0;
  }
  return 0;
}

/* Hands n bytes of body to the call.  Returns -1 after ending the call. */
static int body(sg_h1 *h, sg_h1_conn *c, const char *p, size_t n) {
  if (!n) return 0;
  const char *msg = "the answer was refused";
  int err = c->call->on_body(c->call, p, n, &msg);
  if (err) {
    finish(h, c, 0, (sg_up_err)err, msg);
    return -1;
  }
  return 0;
}

/* Parses what the buffer holds.  Returns 0 (more is needed), 1 (the answer is complete) or -1
 * (the call ended). */
static int parse(sg_h1 *h, sg_h1_conn *c) {
  for (;;) {
    size_t avail = c->rlen - c->rpos, len;
    char *line;
    switch (c->ps) {
    case P_STATUS:
      if (!(line = next_line(c, &len))) return 0;
      if (status_line(c, line, len) != 0) {
        finish(h, c, 0, SG_UP_OTHER, "the upstream's answer is not HTTP/1.x");
        return -1;
      }
      c->ps = P_FIELDS;
      break;
    case P_FIELDS:
      if (!(line = next_line(c, &len))) return 0;
      if (len == 0) {
        int r = head_done(h, c);
        if (r != 0) return r;
      } else if (field(c, line, len) != 0) {
        finish(h, c, 0, SG_UP_OTHER, "the upstream's answer has a malformed header field");
        return -1;
      }
      break;
    case P_BODY_LEN:
    case P_CHUNK_DATA: {
      size_t k = (long long)avail < c->remaining ? avail : (size_t)c->remaining;
      if (!k) return 0;
      if (body(h, c, c->rbuf + c->rpos, k) != 0) return -1;
      c->rpos += k;
      c->remaining -= (long long)k;
      if (c->remaining) return 0;
      if (c->ps == P_BODY_LEN) return 1;
      c->ps = P_CHUNK_END;
      break;
    }
    case P_BODY_EOF:
      if (!avail) return 0;
      if (body(h, c, c->rbuf + c->rpos, avail) != 0) return -1;
      c->rpos += avail;
      return 0;
    case P_CHUNK_SIZE: {
      if (!(line = next_line(c, &len))) return 0;
      long long n = 0;
      char *p = line;
      int digits = 0;
      for (; *p; p++, digits++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (d < 0 || n > (1LL << 50)) break;
        n = n * 16 + d;
      }
      if (!digits || (*p && *p != ';' && *p != ' ' && *p != '\t')) {
        finish(h, c, 0, SG_UP_OTHER, "the upstream's chunked answer is malformed");
        return -1;
      }
      c->remaining = n;
      c->ps = n ? P_CHUNK_DATA : P_TRAILERS;
      break;
    }
    case P_CHUNK_END:
      if (!(line = next_line(c, &len))) return 0;
      if (len) {
        finish(h, c, 0, SG_UP_OTHER, "the upstream's chunked answer is malformed");
        return -1;
      }
      c->ps = P_CHUNK_SIZE;
      break;
    case P_TRAILERS:
      if (!(line = next_line(c, &len))) return 0;
      if (len == 0) return 1;
      break;
    }
  }
}

/* Makes room in the read buffer: parsed bytes are dropped; a head that fills it grows it (up
 * to HEAD_MAX).  Returns -1 when no room can be made. */
static int room(sg_h1_conn *c) {
  if (c->rpos) {
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
  }
  if (c->rlen < c->rcap) return 0;
  int head = c->ps == P_STATUS || c->ps == P_FIELDS || c->ps == P_TRAILERS ||
             c->ps == P_CHUNK_SIZE || c->ps == P_CHUNK_END;
  if (!head || c->rcap >= HEAD_MAX) return -1;
  char *p = realloc(c->rbuf, c->rcap * 2);
  if (!p) return -1;
  c->rbuf = p;
  c->rcap *= 2;
  return 0;
}

static void readable(sg_h1 *h, sg_h1_conn *c) {
  if (!c->rbuf) {
    c->rbuf = h->nspare ? h->spare[--h->nspare] : malloc(RBUF_MIN);
    if (!c->rbuf) {
      finish(h, c, 0, SG_UP_OTHER, "out of memory");
      return;
    }
    c->rcap = RBUF_MIN;
  }
  for (;;) {
    if (room(c) != 0) {
      finish(h, c, 0, SG_UP_OTHER, "the upstream's answer head is over 64 KB");
      return;
    }
    size_t want = c->rcap - c->rlen;
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, want, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
      broken(h, c, "the connection to the upstream broke while reading the answer");
      return;
    }
    if (n == 0) {
      if (c->ps == P_BODY_EOF) {
        finish(h, c, 0, SG_UP_OK, "");
        return;
      }
      broken(h, c, c->call->status ? "the upstream closed the connection before the answer was "
                                     "complete"
                                   : "the upstream closed the connection without an answer");
      return;
    }
    c->got_any = 1;
    c->rlen += (size_t)n;
    int r = parse(h, c);
    if (r < 0) return;
    if (r > 0) {
      /* bytes past the answer: nobody asked for them, so the connection is not reused; nor
       * is one whose request was answered before it was all sent */
      finish(h, c, c->keep && c->rpos == c->rlen && c->state == C_READING, SG_UP_OK, "");
      return;
    }
    /* a short read took all there was: wait for the next event rather than read EAGAIN */
    if ((size_t)n < want) return;
  }
}

static void connected(sg_h1 *h, sg_h1_conn *c) {
  int err = 0;
  socklen_t l = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0) err = errno;
  if (err) {
    char msg[160];
    snprintf(msg, sizeof msg, "cannot connect to the upstream: %s", strerror(err));
    finish(h, c, 0, SG_UP_CONNECT, msg);
    return;
  }
  c->state = C_SENDING;
  send_some(h, c);
}

int sg_h1_event(sg_h1 *h, int fd, uint32_t events) {
  if (fd < 0 || (size_t)fd >= h->nbyfd || !h->byfd[fd]) return 0;
  sg_h1_conn *c = h->byfd[fd];
  switch (c->state) {
  case C_IDLE: { /* closed by the upstream, or something unasked for: not reusable */
    sg_h1_conn **pp = &c->org->idle;
    while (*pp && *pp != c) pp = &(*pp)->next_idle;
    if (*pp) {
      *pp = c->next_idle;
      c->org->nidle--;
    }
    conn_close(h, c);
    return 1;
  }
  case C_CONNECTING:
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) connected(h, c);
    return 1;
  case C_SENDING:
    /* an upstream may answer before it has read the whole body (a 413): read that first */
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      readable(h, c);
      return 1;
    }
    if (events & EPOLLOUT) send_some(h, c);
    return 1;
  case C_READING:
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable(h, c);
    return 1;
  }
  return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* The client */

sg_h1 *sg_h1_new(int ep) {
  sg_h1 *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->ep = ep;
  return h;
}

int sg_h1_start(sg_h1 *h, sg_h1_call *call) {
  origin *o = origin_of(h, &call->target);
  if (!o) return SOULGW_ENOMEM;
  call->retried = 0;
  sg_h1_conn *c = take_idle(h, o);
  if (!c) {
    c = conn_open(h, o);
    if (!c) {
      char msg[160];
      snprintf(msg, sizeof msg, "cannot connect to the upstream: %s", strerror(errno));
      call->conn = NULL;
      call->on_done(call, SG_UP_CONNECT, msg);
      return 0;
    }
  }
  begin(h, c, call);
  return 0;
}

void sg_h1_abort(sg_h1 *h, sg_h1_call *call, sg_up_err err, const char *msg) {
  if (call->conn) finish(h, call->conn, 0, err, msg);
}

void sg_h1_free(sg_h1 *h) {
  if (!h) return;
  while (h->origins) {
    origin *o = h->origins;
    h->origins = o->next;
    while (o->idle) {
      sg_h1_conn *c = o->idle;
      o->idle = c->next_idle;
      conn_close(h, c);
    }
    free(o);
  }
  while (h->nspare) free(h->spare[--h->nspare]);
  free(h->byfd);
  free(h);
}

/*
 * h1.h -- a small keep-alive HTTP/1.1 client for plain http:// upstreams at a literal address
 * (see h1.c), driven by one thread (upstream.c): the upstream thread, or a server loop's for
 * its lane, which owns it and the epoll set it is given.
 *
 * The upstream module sends a call this way when nothing in it needs libcurl: the URL is
 * http:// with an IPv4 or IPv6 literal as its host, no user info, no proxy variable is set and
 * no network policy applies.  A model provider on the same host or in the same cluster is the
 * case this is for: a proxied model call then costs one writev() and one read() on a kept-alive
 * connection, instead of libcurl's per-transfer work (about 65 thousand instructions, two
 * poll()s and some twenty allocations here).  Everything else (https, names to resolve,
 * proxies, policy-checked calls) stays on libcurl.
 *
 * Everything here runs on one thread; nothing locks.
 *
 *   sg_h1 *h = sg_h1_new(epoll_fd);
 *   if (sg_h1_parse_url(url, &call.target) == 0) ... this call can go the plain way
 *   sg_h1_start(h, &call);               // on_head, on_body, then on_done exactly once
 *   ... epoll_wait(); for each event: if (!sg_h1_event(h, fd, events)) not ours
 *   sg_h1_abort(h, &call, SG_UP_TIMEOUT, "..."); // ends a call early (on_done is called)
 */
#ifndef SG_H1_H
#define SG_H1_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "clients/upstream.h"

typedef struct sg_h1 sg_h1;
typedef struct sg_h1_conn sg_h1_conn;

/* Where a URL points: its address, and what of it goes into the request. */
typedef struct sg_h1_target {
  struct sockaddr_storage addr;
  socklen_t addr_len;
  const char *authority; /* host[:port] as the URL spells it (the Host field); in the URL */
  size_t authority_len;
  const char *path; /* path and query (NULL: "/"); in the URL */
  size_t path_len;
} sg_h1_target;

typedef struct sg_h1_call sg_h1_call;

/* One request and its answer.  The caller fills the fields up to "the answer" and keeps the
 * struct (and what it points at) alive until on_done. */
struct sg_h1_call {
  sg_h1_target target; /* from sg_h1_parse_url() */
  const char *head;    /* the request head, complete with its empty line (sg_h1_head()) */
  size_t head_len;
  const char *body;
  size_t body_len;
  int no_body; /* a HEAD request: the answer has no body whatever it says */
  /* The head of the answer is in (status, content_length, content_type, retry_after are set):
   * 0 to go on, or an sg_up_err to end the call with (msg then says why). */
  int (*on_head)(sg_h1_call *c, const char **msg);
  /* A piece of the answer's body: 0 to go on, or an sg_up_err to end the call with. */
  int (*on_body)(sg_h1_call *c, const char *data, size_t len, const char **msg);
  /* The call is over: SG_UP_OK when the whole answer was read. */
  void (*on_done)(sg_h1_call *c, sg_up_err err, const char *msg);

  /* the answer */
  long status;
  long long content_length; /* -1: not said */
  long retry_after;         /* seconds, at most a day; 0: none */
  char content_type[128];   /* "" when none */

  /* the client's own */
  sg_h1_conn *conn;
  int retried;
};

/* Reads url: 0 when it can go the plain way (http://, a literal IPv4 or [IPv6] host, no user
 * info), filling t; -1 otherwise. */
int sg_h1_parse_url(const char *url, sg_h1_target *t);

/* Writes the request head for method and t into out (len bytes): the request line, Host (unless
 * headers hold one), User-Agent (likewise), Accept (likewise), headers ("Name: value" strings,
 * NULL-terminated; one with an empty value removes that field, as libcurl reads it) and
 * Content-Length (when the method carries a body or body_len > 0).  Returns the head's length,
 * written only when it fits in len (out may be NULL to size it), or 0 when a header holds CR or
 * LF. */
size_t sg_h1_head(char *out, size_t len, const char *method, const sg_h1_target *t,
                  const char *const *headers, size_t body_len);

sg_h1 *sg_h1_new(int ep);

/* Sends c on a kept-alive connection to its address, or on a new one.  Returns 0 (on_done will
 * be called exactly once, maybe from within this call when no connection can be opened) or
 * SOULGW_ENOMEM. */
int sg_h1_start(sg_h1 *h, sg_h1_call *c);

/* An epoll event on fd: 1 when fd is one of this client's (and the event was handled), else 0. */
int sg_h1_event(sg_h1 *h, int fd, uint32_t events);

/* Ends c now with err and msg (on_done is called from here); its connection is closed. */
void sg_h1_abort(sg_h1 *h, sg_h1_call *c, sg_up_err err, const char *msg);

/* Closes every connection; calls in flight must have been aborted first. */
void sg_h1_free(sg_h1 *h);

#endif

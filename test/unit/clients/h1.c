/*
 * h1.c -- unit tests of lib/clients/h1.c, the plain-HTTP/1.1 keep-alive client, driven directly
 * (its own epoll set, on the test's thread) against a raw socket server in this process that
 * answers each request with the bytes a test scripts: framing (Content-Length, chunked with
 * extensions and trailers, up to the close), interim 1xx answers, HTTP/1.0, connection reuse
 * and when not to reuse, a connection renewed after 1000 answers, a kept-alive connection the upstream closed unseen (sent again on a
 * new one), malformed and truncated answers, refusals from on_head, the request head and URL
 * reading.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/sg.h"
#include "clients/h1.h"
#include "rawserver.h"
#include "tap.h"

/* ------------------------------------------------------------------------------------------ */
/* The server: one thread per connection; answers every request with srv.answer (a copy taken
 * when the request is in), then closes the connection when srv.close_after says so */

static struct {
  pthread_mutex_t lock;
  int port, close_after;
  atomic_int accepted;
  const char *answer;
  size_t answer_len;
  char last[4096]; /* the last request, head and body */
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void serve_conn(int fd) {
  char buf[4096];
  while (raw_read_request(fd, buf, sizeof buf)) {
    pthread_mutex_lock(&srv.lock);
    memcpy(srv.last, buf, sizeof buf);
    size_t len = srv.answer_len ? srv.answer_len : strlen(srv.answer);
    char *a = malloc(len);
    memcpy(a, srv.answer, len);
    int close_after = srv.close_after;
    pthread_mutex_unlock(&srv.lock);
    ssize_t sent = send(fd, a, len, MSG_NOSIGNAL);
    free(a);
    if (sent < 0 || close_after) break;
  }
  close(fd);
}

static int start_server(void) {
  srv.port = raw_server_start(serve_conn, &srv.accepted);
  return srv.port > 0 ? 0 : -1;
}

static void script(const char *answer, int close_after) {
  pthread_mutex_lock(&srv.lock);
  srv.answer = answer;
  srv.answer_len = 0;
  srv.close_after = close_after;
  pthread_mutex_unlock(&srv.lock);
}

static int accepted(void) { return atomic_load(&srv.accepted); }

/* ------------------------------------------------------------------------------------------ */
/* The client, driven here */

static int ep;
static sg_h1 *h;

typedef struct outcome {
  sg_h1_call call;
  char url[128], head[1024];
  int done;
  sg_up_err err;
  char msg[160];
  sg_buf body;
  int refuse_head; /* on_head answers with this */
  long long stop_after; /* on_body ends the call once this much came (0: never) */
} outcome;

static int on_head(sg_h1_call *c, const char **msg) {
  outcome *o = (outcome *)(void *)c;
  *msg = "refused by the test";
  return o->refuse_head;
}

static int on_body(sg_h1_call *c, const char *data, size_t len, const char **msg) {
  outcome *o = (outcome *)(void *)c;
  sg_buf_append(&o->body, data, len);
  *msg = "stopped by the test";
  return o->stop_after && (long long)o->body.len >= o->stop_after ? SG_UP_ABORTED : 0;
}

static void on_done(sg_h1_call *c, sg_up_err err, const char *msg) {
  outcome *o = (outcome *)(void *)c;
  o->done++;
  o->err = err;
  sg_strlcpy(o->msg, msg, sizeof o->msg);
}

/* Sets up a call of method to path on the server (headers may be NULL). */
static void prepare(outcome *o, const char *method, const char *path, const char *const *headers,
                    const char *body) {
  memset(o, 0, sizeof *o);
  sg_buf_init(&o->body, 0);
  snprintf(o->url, sizeof o->url, "http://127.0.0.1:%d%s", srv.port, path);
  sg_h1_parse_url(o->url, &o->call.target);
  size_t bl = body ? strlen(body) : 0;
  o->call.head_len = sg_h1_head(o->head, sizeof o->head, method, &o->call.target, headers, bl);
  o->call.head = o->head;
  o->call.body = body;
  o->call.body_len = bl;
  o->call.no_body = strcmp(method, "HEAD") == 0;
  o->call.on_head = on_head;
  o->call.on_body = on_body;
  o->call.on_done = on_done;
}

/* Drives the client until o is done (at most 5 s); 1 when it is. */
static int drive(outcome *o) {
  uint64_t t0 = sg_now_ns();
  while (!o->done && sg_now_ns() - t0 < 5000000000ull) {
    struct epoll_event evs[16];
    int n = epoll_wait(ep, evs, 16, 100);
    for (int i = 0; i < n; i++) sg_h1_event(h, evs[i].data.fd, evs[i].events);
  }
  return o->done;
}

/* Runs one call to completion. */
static void call(outcome *o, const char *method, const char *path, const char *body) {
  prepare(o, method, path, NULL, body);
  if (sg_h1_start(h, &o->call) == 0) drive(o);
}

/* Lets the client see what happened to its idle connections (closes by the upstream). */
static void settle(void) {
  struct epoll_event evs[16];
  for (int k = 0; k < 5; k++) {
    int n = epoll_wait(ep, evs, 16, 20);
    for (int i = 0; i < n; i++) sg_h1_event(h, evs[i].data.fd, evs[i].events);
  }
}

/* A new client: the connections kept by the last test are closed, so that counts start clean. */
static void reset_client(void) {
  sg_h1_free(h);
  h = sg_h1_new(ep);
}

#define OK_200 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"

/* ------------------------------------------------------------------------------------------ */

static void unit_h1_parse_url(void) {
  sg_h1_target t;
  is_int(sg_h1_parse_url("http://127.0.0.1:8080/v1/chat?x=1#frag", &t), 0, "IPv4 and a port");
  ok(t.authority_len == 14 && memcmp(t.authority, "127.0.0.1:8080", 14) == 0, "the authority");
  ok(t.path_len == 12 && memcmp(t.path, "/v1/chat?x=1", 12) == 0, "path and query, no fragment");
  is_int(ntohs(((struct sockaddr_in *)&t.addr)->sin_port), 8080, "the port");
  is_int(sg_h1_parse_url("http://[::1]:9/x", &t), 0, "an IPv6 literal");
  is_int(t.addr.ss_family, AF_INET6, "of family AF_INET6");
  is_int(sg_h1_parse_url("http://10.0.0.1", &t), 0, "no path, no port");
  ok(t.path == NULL && ntohs(((struct sockaddr_in *)&t.addr)->sin_port) == 80, "/ on port 80");
  is_int(sg_h1_parse_url("http://localhost:11434/v1", &t), -1, "a name is libcurl's to resolve");
  is_int(sg_h1_parse_url("https://127.0.0.1/v1", &t), -1, "https is libcurl's");
  is_int(sg_h1_parse_url("http://u:p@127.0.0.1/v1", &t), -1, "user info is libcurl's");
  is_int(sg_h1_parse_url("http://127.0.0.1:99999/", &t), -1, "a port out of range");
  is_int(sg_h1_parse_url("http://127.0.0.1:/", &t), -1, "an empty port");
  is_int(sg_h1_parse_url("http://[::1/", &t), -1, "an unclosed bracket");
}

static void unit_h1_head(void) {
  sg_h1_target t;
  sg_h1_parse_url("http://127.0.0.1:81/v1/x", &t);
  const char *hdrs[] = {"Content-Type: application/json", "Expect:", "Authorization: Bearer k",
                        NULL};
  char out[512];
  size_t n = sg_h1_head(out, sizeof out, "POST", &t, hdrs, 7);
  ok(n > 0 && n < sizeof out, "a head is written");
  out[n] = '\0';
  is_str(out,
         "POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:81\r\nUser-Agent: soulgw/" SOULGW_VERSION
         "\r\nAccept: */*\r\nContent-Type: application/json\r\nAuthorization: Bearer "
         "k\r\nContent-Length: 7\r\n\r\n",
         "request line, Host, User-Agent, Accept, the headers (an empty one removed), length");
  is_int(sg_h1_head(NULL, 0, "POST", &t, hdrs, 7), n, "the size alone, without a buffer");
  is_int(sg_h1_head(out, 10, "POST", &t, hdrs, 7), n, "the size, unwritten, when it does not fit");
  const char *big_len[] = {"content-length: 99", NULL};
  n = sg_h1_head(out, sizeof out, "PUT", &t, big_len, 1234567);
  out[n] = '\0';
  ok(strstr(out, "Content-Length: 1234567\r\n") && !strstr(out, ": 99"),
     "the caller's Content-Length is replaced by the body's (%s)", out);
  const char *own[] = {"User-Agent: mine", "Host: example", "Accept: text/event-stream", NULL};
  n = sg_h1_head(out, sizeof out, "GET", &t, own, 0);
  out[n] = '\0';
  is_str(out, "GET /v1/x HTTP/1.1\r\nUser-Agent: mine\r\nHost: example\r\nAccept: "
              "text/event-stream\r\n\r\n",
         "the caller's Host, User-Agent and Accept win; a GET without body has no length");
  const char *bad[] = {"X-A: 1\r\nX-Injected: 2", NULL};
  is_int(sg_h1_head(out, sizeof out, "GET", &t, bad, 0), 0, "a header with CR LF is refused");
}

static void unit_h1_content_length_and_reuse(void) {
  reset_client();
  script(OK_200, 0);
  int before = accepted();
  outcome o;
  call(&o, "POST", "/a", "{\"q\":1}");
  is_int(o.done, 1, "done once");
  is_int(o.err, SG_UP_OK, "SG_UP_OK");
  is_int(o.call.status, 200, "status 200");
  is_int(o.call.content_length, 11, "its length");
  is_str(o.call.content_type, "application/json", "its type");
  ok(o.body.len == 11 && memcmp(o.body.ptr, "{\"ok\":true}", 11) == 0, "the body");
  ok(strstr(srv.last, "POST /a HTTP/1.1\r\n") && strstr(srv.last, "\r\n\r\n{\"q\":1}"),
     "the upstream got the request and its body");
  sg_buf_free(&o.body);
  for (int i = 0; i < 5; i++) {
    call(&o, "POST", "/a", "{}");
    sg_buf_free(&o.body);
  }
  is_int(o.err, SG_UP_OK, "five more calls");
  is_int(accepted() - before, 1, "all on one kept-alive connection");
}

static void unit_h1_renewed_after_1000(void) {
  reset_client();
  script(OK_200, 0);
  int before = accepted(), fine = 0;
  outcome o;
  for (int i = 0; i < 1000; i++) {
    call(&o, "GET", "/r", NULL);
    fine += o.done == 1 && o.err == SG_UP_OK && o.call.status == 200;
    sg_buf_free(&o.body);
  }
  is_int(fine, 1000, "1000 calls answered");
  is_int(accepted() - before, 1, "on one kept-alive connection");
  call(&o, "GET", "/r", NULL);
  sg_buf_free(&o.body);
  ok(o.done == 1 && o.err == SG_UP_OK, "the 1001st is answered too");
  is_int(accepted() - before, 2, "on a new connection: the first closed after its 1000th answer");
}

static void unit_h1_chunked(void) {
  reset_client();
  script("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
         0);
  int before = accepted();
  outcome o;
  call(&o, "GET", "/c", NULL);
  is_int(o.err, SG_UP_OK, "a chunked answer with an extension and a trailer");
  ok(o.body.len == 16 && memcmp(o.body.ptr, "hello 0123456789", 16) == 0, "its chunks joined");
  sg_buf_free(&o.body);
  call(&o, "GET", "/c", NULL);
  is_int(o.err, SG_UP_OK, "again");
  is_int(accepted() - before, 1, "on the same connection");
  sg_buf_free(&o.body);
  script("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0);
  call(&o, "GET", "/c", NULL);
  is_int(o.err, SG_UP_OTHER, "a chunk size that is not hex: SG_UP_OTHER");
  sg_buf_free(&o.body);
}

static void unit_h1_interim_and_http10(void) {
  reset_client();
  script("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" OK_200, 0);
  outcome o;
  call(&o, "POST", "/i", "{}");
  is_int(o.err, SG_UP_OK, "interim 100 and 103 answers are skipped");
  is_int(o.call.status, 200, "the final status");
  sg_buf_free(&o.body);
  script("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close", 1);
  int before = accepted();
  call(&o, "GET", "/e", NULL);
  is_int(o.err, SG_UP_OK, "HTTP/1.0 without a length: read up to the close");
  ok(o.body.len == 15 && memcmp(o.body.ptr, "until the close", 15) == 0, "the whole body");
  sg_buf_free(&o.body);
  before = accepted();
  script(OK_200, 0);
  call(&o, "GET", "/e", NULL);
  is_int(accepted() - before, 1, "and that connection is not reused");
  sg_buf_free(&o.body);
}

static void unit_h1_not_reused(void) {
  reset_client();
  script("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 0);
  int before = accepted();
  outcome o;
  call(&o, "GET", "/x", NULL);
  is_int(o.err, SG_UP_OK, "an answer saying Connection: close");
  sg_buf_free(&o.body);
  script(OK_200 "HTTP/1.1 200 OK\r\n", 0);
  call(&o, "GET", "/x", NULL);
  is_int(o.err, SG_UP_OK, "an answer followed by bytes nobody asked for");
  sg_buf_free(&o.body);
  script(OK_200, 0);
  call(&o, "GET", "/x", NULL);
  is_int(accepted() - before, 3, "neither connection is reused");
  sg_buf_free(&o.body);
}

static void unit_h1_broken_answers(void) {
  outcome o;
  script("SSH-2.0-OpenSSH\r\n", 1);
  call(&o, "GET", "/b", NULL);
  is_int(o.err, SG_UP_OTHER, "not HTTP: SG_UP_OTHER");
  sg_buf_free(&o.body);
  script("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", 1);
  call(&o, "GET", "/b", NULL);
  is_int(o.err, SG_UP_OTHER, "a body cut short: SG_UP_OTHER");
  is_int(o.call.status, 200, "after the status came");
  sg_buf_free(&o.body);
  script("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", 1);
  call(&o, "GET", "/b", NULL);
  is_int(o.err, SG_UP_OTHER, "two different Content-Lengths: SG_UP_OTHER");
  sg_buf_free(&o.body);
  script("", 1);
  call(&o, "GET", "/b", NULL);
  is_int(o.err, SG_UP_CONNECT, "closed without an answer on a new connection: SG_UP_CONNECT");
  sg_buf_free(&o.body);
  static char mid[24 * 1024];
  memset(mid, 'm', sizeof mid);
  int k = snprintf(mid, sizeof mid, "HTTP/1.1 200 OK\r\nX-Long: ");
  mid[k + 20000] = '\0';
  strcat(mid, "\r\nContent-Length: 2\r\n\r\nok");
  script(mid, 0);
  call(&o, "GET", "/b", NULL);
  is_int(o.err, SG_UP_OK, "a 20 KB head (past the first read buffer) is read");
  ok(o.body.len == 2 && memcmp(o.body.ptr, "ok", 2) == 0, "with its body");
  sg_buf_free(&o.body);
  static char big[80 * 1024];
  memset(big, 'a', sizeof big - 1);
  memcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
  script(big, 1);
  call(&o, "GET", "/b", NULL);
  is_int(o.err, SG_UP_OTHER, "a head over 64 KB: SG_UP_OTHER");
  ok(strstr(o.msg, "64 KB") != NULL, "saying so (%s)", o.msg);
  sg_buf_free(&o.body);
}

static void unit_h1_stale_connection(void) {
  reset_client();
  script(OK_200, 1); /* each connection is closed after its answer, saying nothing */
  int before = accepted();
  outcome o;
  call(&o, "GET", "/s", NULL);
  is_int(o.err, SG_UP_OK, "a first call");
  sg_buf_free(&o.body);
  usleep(50 * 1000); /* the upstream has closed it; the client has not looked */
  call(&o, "GET", "/s", NULL);
  is_int(o.err, SG_UP_OK, "a call on the kept connection the upstream closed is sent again");
  is_int(accepted() - before, 2, "on a new connection");
  sg_buf_free(&o.body);
  script(OK_200, 0);
  settle();
}

static void unit_h1_refusals(void) {
  reset_client();
  script("HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n", 0);
  int before = accepted();
  outcome o;
  prepare(&o, "GET", "/r", NULL, NULL);
  o.refuse_head = SG_UP_TOO_LARGE;
  sg_h1_start(h, &o.call);
  drive(&o);
  is_int(o.err, SG_UP_TOO_LARGE, "on_head's refusal ends the call with its error");
  is_str(o.msg, "refused by the test", "and its message");
  sg_buf_free(&o.body);
  static char body[200001];
  static char answer[220000];
  memset(body, 'b', sizeof body - 1);
  snprintf(answer, sizeof answer, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
           sizeof body - 1, body);
  script(answer, 0);
  prepare(&o, "GET", "/r", NULL, NULL);
  o.stop_after = 1000;
  sg_h1_start(h, &o.call);
  drive(&o);
  is_int(o.err, SG_UP_ABORTED, "on_body's refusal ends the call mid-body");
  sg_buf_free(&o.body);
  script(OK_200, 0);
  call(&o, "GET", "/r", NULL);
  is_int(o.err, SG_UP_OK, "the next call works");
  is_int(accepted() - before, 3, "each on a new connection: a refused one is closed");
  sg_buf_free(&o.body);
  script(answer, 0);
  call(&o, "GET", "/r", NULL);
  is_int((long long)o.body.len, (long long)sizeof body - 1, "a 200 KB body arrives whole");
  sg_buf_free(&o.body);
  /* the same body chunked, in chunks of 7000 bytes that straddle every read */
  static char chunked[260000];
  size_t at = (size_t)snprintf(chunked, sizeof chunked,
                               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (size_t off = 0; off < sizeof body - 1; off += 7000) {
    size_t n = sizeof body - 1 - off < 7000 ? sizeof body - 1 - off : 7000;
    at += (size_t)snprintf(chunked + at, sizeof chunked - at, "%zx\r\n", n);
    memcpy(chunked + at, body + off, n);
    at += n;
    memcpy(chunked + at, "\r\n", 2);
    at += 2;
  }
  memcpy(chunked + at, "0\r\n\r\n", 6);
  at += 6;
  pthread_mutex_lock(&srv.lock);
  srv.answer = chunked;
  srv.answer_len = at;
  srv.close_after = 0;
  pthread_mutex_unlock(&srv.lock);
  call(&o, "GET", "/r", NULL);
  is_int(o.err, SG_UP_OK, "a 200 KB chunked body");
  ok(o.body.len == sizeof body - 1 && memcmp(o.body.ptr, body, sizeof body - 1) == 0,
     "arrives whole and in order");
  sg_buf_free(&o.body);
}

static void unit_h1_retry_after_and_abort(void) {
  script("HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n", 0);
  outcome o;
  call(&o, "GET", "/t", NULL);
  is_int(o.call.status, 429, "a 429");
  is_int(o.call.retry_after, 7, "Retry-After in seconds");
  sg_buf_free(&o.body);
  script("HTTP/1.1 503 No\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\nContent-Length: 0"
         "\r\n\r\n",
         0);
  call(&o, "GET", "/t", NULL);
  is_int(o.call.retry_after, 0, "a date in the past is no wait");
  sg_buf_free(&o.body);
  script("HTTP/1.1 204 No Content\r\n\r\n", 0);
  call(&o, "DELETE", "/t", NULL);
  is_int(o.call.status, 204, "a 204 ends without a body");
  is_int(o.err, SG_UP_OK, "completely");
  sg_buf_free(&o.body);
  /* an answer that never ends, ended from outside */
  script("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", 0);
  prepare(&o, "GET", "/t", NULL, NULL);
  sg_h1_start(h, &o.call);
  struct epoll_event evs[16];
  for (int k = 0; k < 10 && !o.done; k++) {
    int n = epoll_wait(ep, evs, 16, 20);
    for (int i = 0; i < n; i++) sg_h1_event(h, evs[i].data.fd, evs[i].events);
  }
  is_int(o.done, 0, "a call waiting for the rest of its body");
  sg_h1_abort(h, &o.call, SG_UP_TIMEOUT, "timed out by the test");
  is_int(o.done, 1, "sg_h1_abort ends it");
  is_int(o.err, SG_UP_TIMEOUT, "with the error given");
  sg_buf_free(&o.body);
}

static void unit_h1_connect_refused(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd); /* a port nobody listens on */
  outcome o;
  prepare(&o, "GET", "/", NULL, NULL);
  snprintf(o.url, sizeof o.url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
  sg_h1_parse_url(o.url, &o.call.target);
  sg_h1_start(h, &o.call);
  drive(&o);
  is_int(o.done, 1, "a refused connection ends the call");
  is_int(o.err, SG_UP_CONNECT, "with SG_UP_CONNECT");
  ok(strstr(o.msg, "connect") != NULL, "saying so (%s)", o.msg);
}

static const tap_test tests[] = {
    TEST(unit_h1_parse_url),         TEST(unit_h1_head),
    TEST(unit_h1_content_length_and_reuse), TEST(unit_h1_renewed_after_1000),
    TEST(unit_h1_chunked),
    TEST(unit_h1_interim_and_http10), TEST(unit_h1_not_reused),
    TEST(unit_h1_broken_answers),    TEST(unit_h1_stale_connection),
    TEST(unit_h1_refusals),          TEST(unit_h1_retry_after_and_abort),
    TEST(unit_h1_connect_refused),
};

int main(void) {
  ep = epoll_create1(EPOLL_CLOEXEC);
  h = sg_h1_new(ep);
  if (!tap_ok(start_server() == 0 && ep >= 0 && h, __FILE__, __LINE__,
              "the server and the client start"))
    return tap_done();
  tap_run(tests, TAP_COUNT(tests));
  sg_h1_free(h);
  close(ep);
  return tap_done();
}

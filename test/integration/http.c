/*
 * http.c -- integration tests of the HTTP core and the request pipeline, against the test host
 * (libsoulgw plus test routes): body limits, content types, strict JSON, tenant resolution,
 * path parameters, deferred answers from other threads, streaming, handler failures, slow
 * clients, the external-select mode, and draining; header fields read in any case, the first
 * of two, request after request on one connection; connections spread evenly over the server's
 * event loops, one after another or in a burst, as soulgw_http_connections{loop} shows.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

static gwproc gw;

static const char *const small_body_toml =
    "[server]\nport = 0\nmax_body_bytes = 16384\nconnection_timeout_s = 1\nthreads = 1\n"
    "drain_timeout_s = 5\n[log]\nlevel = \"info\"\n";

static int post_typed(const char *path, const char *type, const char *body, http_resp *r) {
  char ct[256];
  snprintf(ct, sizeof ct, "Content-Type: %s", type);
  const char *h[] = {ct, NULL};
  return http(&gw, "POST", path, type ? h : NULL, body, r);
}

static const char *code_of(const http_resp *r, char *buf, size_t len) {
  cJSON *j = json_of(r);
  const char *c = json_str(j, "code");
  snprintf(buf, len, "%s", c ? c : "");
  cJSON_Delete(j);
  return buf;
}

static void integration_http_body_limits(void) {
  char code[64];
  char *big = malloc(20001);
  memset(big, ' ', 20000);
  big[0] = '{';
  big[19999] = '}';
  big[20000] = '\0';
  http_resp r;
  post_typed("/test/echo", "application/json", big, &r);
  is_int(r.status, 413, "a 20000-byte body over a 16384-byte limit gets 413");
  is_str(code_of(&r, code, sizeof code), "REQUEST.TOO_LARGE", "code REQUEST.TOO_LARGE");
  resp_free(&r);
  char *fits = malloc(16385);
  memset(fits, ' ', 16384);
  fits[0] = '{';
  fits[16383] = '}';
  fits[16384] = '\0';
  post_typed("/test/echo", "application/json", fits, &r);
  is_int(r.status, 200, "a body of exactly the limit is accepted");
  resp_free(&r);
  /* chunked: no Content-Length, so the limit is counted on the bytes received */
  char req[32768];
  int n = snprintf(req, sizeof req,
                   "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
                   (unsigned)strlen(big), big);
  char *got = raw_exchange(&gw, req, (size_t)n, 3000);
  ok(got && strncmp(got, "HTTP/1.1 413", 12) == 0, "a chunked body over the limit gets 413");
  has_str(got, "REQUEST.TOO_LARGE", "in the common error shape");
  free(got);
  n = snprintf(req, sizeof req,
               "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n");
  got = raw_exchange(&gw, req, (size_t)n, 2000);
  ok(got && strncmp(got, "HTTP/1.1 200", 12) == 0, "a small chunked body is accepted");
  has_str(got, "\"body\":{\"a\":1}", "and reassembled");
  free(got);
  /* 10 MB announced: refused from the headers alone */
  n = snprintf(req, sizeof req,
               "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: 10485760\r\n\r\n{");
  got = raw_exchange(&gw, req, (size_t)n, 3000);
  ok(got && strncmp(got, "HTTP/1.1 413", 12) == 0, "a 10 MB Content-Length gets 413 at once");
  free(got);
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "the gateway keeps serving");
  resp_free(&r);
  free(big);
  free(fits);
}

static void integration_http_content_type(void) {
  char code[64];
  http_resp r;
  post_typed("/test/echo", "text/plain", "{}", &r);
  is_int(r.status, 415, "text/plain gets 415");
  is_str(code_of(&r, code, sizeof code), "REQUEST.UNSUPPORTED_MEDIA_TYPE", "code");
  resp_free(&r);
  post_typed("/test/echo", "application/x-www-form-urlencoded", "a=1", &r);
  is_int(r.status, 415, "a form body gets 415");
  resp_free(&r);
  post_typed("/test/echo", "application/json; charset=latin1", "{}", &r);
  is_int(r.status, 415, "a non-UTF-8 charset gets 415");
  resp_free(&r);
  post_typed("/test/echo", "application/json; charset=UTF-8", "{\"a\":1}", &r);
  is_int(r.status, 200, "application/json; charset=UTF-8 is accepted");
  resp_free(&r);
  post_typed("/test/echo", "application/vnd.soul+json", "{\"a\":1}", &r);
  is_int(r.status, 200, "a +json media type is accepted");
  resp_free(&r);
  const char *none[] = {"Content-Type:", NULL}; /* libcurl: send no Content-Type at all */
  http(&gw, "POST", "/test/echo", none, "{\"a\":1}", &r);
  is_int(r.status, 200, "a body without Content-Type is read as JSON");
  resp_free(&r);
}

static void integration_http_strict_json(void) {
  char code[64];
  http_resp r;
  post_typed("/test/echo", "application/json", "{\"a\":", &r);
  is_int(r.status, 422, "truncated JSON gets 422");
  is_str(code_of(&r, code, sizeof code), "SCHEMA.VALIDATION_FAILED", "code");
  has_str(r.body, "not valid JSON", "message says why");
  resp_free(&r);
  post_typed("/test/echo", "application/json", "{\"a\":1,\"a\":2}", &r);
  is_int(r.status, 422, "duplicate keys get 422");
  has_str(r.body, "duplicate key", "message names the problem");
  resp_free(&r);
  post_typed("/test/echo", "application/json", "{\"a\":\"\xff\xfe\"}", &r);
  is_int(r.status, 422, "invalid UTF-8 gets 422");
  has_str(r.body, "UTF-8", "message names the problem");
  resp_free(&r);
  size_t depth = 5000;
  char *deep = malloc(depth * 2 + 1);
  memset(deep, '[', depth);
  memset(deep + depth, ']', depth);
  deep[depth * 2] = '\0';
  post_typed("/test/echo", "application/json", deep, &r);
  is_int(r.status, 422, "nesting 5,000 deep gets 422");
  has_str(r.body, "nesting", "message names the problem");
  resp_free(&r);
  free(deep);
  post_typed("/test/echo", "application/json", "{} x", &r);
  is_int(r.status, 422, "trailing garbage gets 422");
  resp_free(&r);
  post_typed("/test/echo", "application/json", "{\"t\":\"a\\u0000b\"}", &r);
  is_int(r.status, 422, "\\u0000 gets 422");
  resp_free(&r);
}

static void integration_http_tenant(void) {
  char code[64];
  http_resp r;
  post_typed("/test/tenant", "application/json", "{}", &r);
  is_int(r.status, 422, "no tenant anywhere gets 422");
  is_str(code_of(&r, code, sizeof code), "SCHEMA.VALIDATION_FAILED", "code");
  has_str(r.body, "tenant", "message names the tenant");
  resp_free(&r);
  post_typed("/test/tenant", "application/json", "{\"tenant\":\"t-body\"}", &r);
  cJSON *j = json_of(&r);
  is_str(json_str(j, "tenant"), "t-body", "the body's tenant");
  cJSON_Delete(j);
  resp_free(&r);
  const char *h[] = {"Content-Type: application/json", "X-Soul-Tenant: t-header", NULL};
  http(&gw, "POST", "/test/tenant", h, "{}", &r);
  j = json_of(&r);
  is_str(json_str(j, "tenant"), "t-header", "the X-Soul-Tenant header");
  cJSON_Delete(j);
  resp_free(&r);
  http(&gw, "POST", "/test/tenant", h, "{\"tenant\":\"t-body\"}", &r);
  j = json_of(&r);
  is_str(json_str(j, "tenant"), "t-body", "the body beats the header");
  cJSON_Delete(j);
  resp_free(&r);
  post_typed("/test/tenant", "application/json", "{\"tenant\":42}", &r);
  is_int(r.status, 422, "a non-string tenant gets 422");
  resp_free(&r);
}

static void integration_http_params_query_headers(void) {
  http_resp r;
  http_get(&gw, "/test/things/abc", &r);
  cJSON *j = json_of(&r);
  is_int(r.status, 200, "a {param} route answers");
  is_str(json_str(j, "id"), "abc", "the parameter");
  cJSON_Delete(j);
  resp_free(&r);
  http_get(&gw, "/test/things/a%20b/c", &r);
  j = json_of(&r);
  is_str(json_str(j, "id"), "a b", "parameters are decoded");
  is_str(json_str(j, "sub"), "c", "second parameter");
  cJSON_Delete(j);
  resp_free(&r);
  http_get(&gw, "/test/things/", &r);
  is_int(r.status, 404, "an empty segment does not match a parameter");
  resp_free(&r);
  const char *h[] = {"X-Test: hello", NULL};
  http(&gw, "GET", "/test/echo?x=1%2B1", h, NULL, &r);
  j = json_of(&r);
  is_str(json_str(j, "x"), "1+1", "query argument, decoded");
  is_str(json_str(j, "x_test"), "hello", "request header");
  is_str(resp_header(&r, "X-Echo"), "1", "handler's response header");
  cJSON_Delete(j);
  resp_free(&r);
}

static void integration_http_auth_required(void) {
  char code[64];
  http_resp r;
  http_get(&gw, "/test/secure", &r);
  is_int(r.status, 401, "a route needing a scope refuses a request without credentials");
  is_str(code_of(&r, code, sizeof code), "AUTH.UNAUTHENTICATED", "code");
  resp_free(&r);
}

static void integration_http_handler_failure(void) {
  char code[64];
  http_resp r;
  http_get(&gw, "/test/fail", &r);
  is_int(r.status, 500, "a handler that fails without answering gives 500");
  is_str(code_of(&r, code, sizeof code), "UNKNOWN.INTERNAL", "code");
  has_str(r.body, "\"correlation_id\"", "with a correlation id");
  resp_free(&r);
  ok(gw_log_has(&gw, "handler returned without answering"), "and is logged");
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "the gateway keeps serving");
  resp_free(&r);
}

typedef struct call {
  const char *path;
  long status;
  char body[256];
} call;

static void *do_get(void *arg) {
  call *c = arg;
  http_resp r;
  http_get(&gw, c->path, &r);
  c->status = r.status;
  snprintf(c->body, sizeof c->body, "%s", r.body ? r.body : "");
  resp_free(&r);
  return NULL;
}

static void integration_http_deferred(void) {
  http_resp r;
  http_get(&gw, "/test/slow?ms=100", &r);
  is_int(r.status, 200, "a deferred request is answered from another thread");
  is_str(r.body, "{\"slept_ms\":100}", "with the worker's body");
  resp_free(&r);
  /* One gateway thread, twenty requests that each wait 500 ms: parked connections do not hold
   * the thread, so they overlap instead of taking ten seconds one after another. */
  enum { N = 20 };
  call calls[N];
  pthread_t t[N];
  long long t0 = now_ms();
  for (int i = 0; i < N; i++) {
    calls[i].path = "/test/slow?ms=500";
    pthread_create(&t[i], NULL, do_get, &calls[i]);
  }
  int good = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    good += calls[i].status == 200;
  }
  long long took = now_ms() - t0;
  is_int(good, N, "all twenty deferred requests answered");
  ok(took < 5000, "they overlapped on one thread (%lld ms for 20 x 500 ms)", took);
}

/* A handler's answer from another thread at once races the glue, which holds the connection
 * for a turn of its loop before it suspends it: answered while held, while suspending, or once
 * suspended, every request gets its answer, and a client gone meanwhile costs nothing. */
typedef struct burst {
  int good;
} burst;

static void *do_burst(void *arg) {
  burst *b = arg;
  for (int i = 0; i < 50; i++) {
    http_resp r;
    http_get(&gw, "/test/slow?ms=0", &r);
    b->good += r.status == 200 && r.body && !strcmp(r.body, "{\"slept_ms\":0}");
    resp_free(&r);
  }
  return NULL;
}

static void integration_http_deferred_at_once(void) {
  enum { T = 4 };
  burst b[T] = {{0}};
  pthread_t t[T];
  for (int i = 0; i < T; i++) pthread_create(&t[i], NULL, do_burst, &b[i]);
  int good = 0;
  for (int i = 0; i < T; i++) {
    pthread_join(t[i], NULL);
    good += b[i].good;
  }
  is_int(good, 4 * 50, "200 requests answered at once from other threads: every one 200");
  /* clients that send and go at once, the answer landing as the connection closes */
  static const char req[] = "GET /test/slow?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 50; i++) {
    int fd = raw_connect(&gw);
    if (fd < 0) break;
    if (write(fd, req, sizeof req - 1) < 0) {
      close(fd);
      break;
    }
    close(fd);
  }
  usleep(200 * 1000);
  http_resp r;
  http_get(&gw, "/test/slow?ms=0", &r);
  is_int(r.status, 200, "the gateway serves on after 50 clients left before their answer");
  resp_free(&r);
}

static void integration_http_stream(void) {
  http_resp r;
  http(&gw, "GET", "/test/stream?n=5&ms=20", NULL, NULL, &r);
  is_int(r.status, 200, "a stream answers 200");
  has_str(resp_header(&r, "Content-Type"), "text/event-stream", "as text/event-stream");
  has_str(resp_header(&r, "Transfer-Encoding"), "chunked", "chunked");
  int deltas = 0;
  for (const char *p = r.body; (p = strstr(p, "event: delta")); p++) deltas++;
  is_int(deltas, 5, "five delta events");
  has_str(r.body, "data: {\"i\":4}", "in order, the last one");
  has_str(r.body, "event: done", "and one terminal event");
  resp_free(&r);
  /* a client that goes away mid-stream: the producer learns and the gateway goes on */
  char *got = raw_exchange(&gw, "GET /test/stream?n=50&ms=20 HTTP/1.1\r\nHost: x\r\n\r\n", 48, 100);
  free(got);
  usleep(300 * 1000);
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "the gateway serves on after a client left a stream");
  resp_free(&r);
}

static void integration_http_slow_client(void) {
  /* A client that never finishes its headers is cut after connection_timeout_s (1 s here),
   * while everyone else is served. */
  int fd = raw_connect(&gw);
  ok(fd >= 0, "slow client connects");
  const char partial[] = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  ok(write(fd, partial, sizeof partial - 1) > 0, "sends half its headers");
  http_resp r;
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "others are served meanwhile");
  resp_free(&r);
  long long t0 = now_ms();
  char buf[64];
  ssize_t n = 1;
  while (n > 0 && now_ms() - t0 < 8000) n = read(fd, buf, sizeof buf);
  long long took = now_ms() - t0;
  ok(n <= 0 && took < 8000, "the gateway closes the slow connection (after %lld ms)", took);
  close(fd);
}

static void integration_http_draining(void) {
  /* a kept-alive connection from before the signal, a slow request in flight */
  int fd = raw_connect(&gw);
  char *got = raw_request(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 3000);
  ok(got && strstr(got, "200 OK"), "health is ok before the signal");
  free(got);
  call slow = {"/test/slow?ms=1500", 0, ""};
  pthread_t t;
  pthread_create(&t, NULL, do_get, &slow);
  ok(gw_wait_inflight(&gw, 2, 10000), "the slow request is in flight");
  gw_signal(&gw, SIGTERM);
  gw_wait_log(&gw, "\"msg\":\"draining\"", 1, 10000);
  got = raw_request(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 3000);
  ok(got && strstr(got, "HTTP/1.1 503"), "during the drain health answers 503");
  has_str(got, "{\"status\":\"draining\"}", "with status draining");
  has_str(got, "Connection: close", "and closes the connection");
  free(got);
  close(fd);
  ok(raw_connect(&gw) < 0, "new connections are refused");
  pthread_join(t, NULL);
  is_int(slow.status, 200, "the request in flight finished");
  ok(gw_log_has(&gw, "\"msg\":\"draining\""), "the drain is logged");
  is_int(gw_stop(&gw), 0, "exit status 0 after the drain");
}

static void integration_http_drain_timeout(void) {
  static const char *const toml = "[server]\nport = 0\ndrain_timeout_s = 1\n";
  if (gw_start(&gw, harness_testhost_bin(), toml, NULL, NULL) != 0) return;
  call slow = {"/test/slow?ms=6000", 0, ""};
  pthread_t t;
  pthread_create(&t, NULL, do_get, &slow);
  ok(gw_wait_inflight(&gw, 2, 10000), "the slow request is in flight");
  long long t0 = now_ms();
  int st = gw_stop(&gw);
  pthread_join(t, NULL);
  is_int(st, 0, "exit status 0 after the drain timeout");
  ok(now_ms() - t0 < 4000, "stopped after drain_timeout_s, not after the slow handler");
  is_int(slow.status, 503, "the request still deferred got 503");
  has_str(slow.body, "shutting down", "saying why");
}

static void integration_http_external_mode(void) {
  const char *args[] = {"--external", NULL};
  if (gw_start(&gw, harness_testhost_bin(), "[server]\nport = 0\n", NULL, args) != 0) {
    ok(0, "the test host starts in external-select mode");
    return;
  }
  http_resp r;
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "external mode: /health");
  resp_free(&r);
  http_get(&gw, "/test/slow?ms=50", &r);
  is_int(r.status, 200, "external mode: a deferred answer wakes the host's loop");
  resp_free(&r);
  http(&gw, "GET", "/test/stream?n=3&ms=10", NULL, NULL, &r);
  has_str(r.body, "event: done", "external mode: a stream completes");
  resp_free(&r);
  is_int(gw_stop(&gw), 0, "external mode: SIGTERM drains and exits 0");
}


/* The body of a raw answer, parsed (NULL when none). */
static cJSON *raw_json(const char *got) {
  const char *b = got ? strstr(got, "\r\n\r\n") : NULL;
  return b ? cJSON_Parse(b + 4) : NULL;
}

/* The value of a header in a raw answer, into out ("" when absent). */
static const char *raw_header(const char *got, const char *name, char *out, size_t len) {
  char key[64];
  snprintf(key, sizeof key, "\r\n%s: ", name);
  const char *p = got ? strstr(got, key) : NULL;
  out[0] = '\0';
  if (p) {
    p += strlen(key);
    size_t n = strcspn(p, "\r\n");
    snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p);
  }
  return out;
}

static void integration_http_known_fields(void) {
  int fd = raw_connect(&gw);
  char id[80];
  char *got = raw_request(fd,
                          "GET /test/echo?h=x-soul-tenant HTTP/1.1\r\nHost: x\r\n"
                          "X-SOUL-TENANT: one\r\nx-soul-tenant: two\r\nx-REQUEST-id: first-id\r\n"
                          "X-Request-Id: second-id\r\nX-Test: t1\r\n\r\n",
                          3000);
  cJSON *j = raw_json(got);
  is_str(json_str(j, "h"), "one", "a known field in any case: the first of two, as MHD's lookup");
  is_str(json_str(j, "tenant"), "one", "and the tenant stage reads the same");
  is_str(json_str(j, "x_test"), "t1", "a field outside the table is still found");
  is_str(raw_header(got, "X-Request-Id", id, sizeof id), "first-id",
         "the first X-Request-Id is the request's id");
  cJSON_Delete(j);
  free(got);
  got = raw_request(fd, "GET /test/echo?h=x-soul-tenant HTTP/1.1\r\nHost: x\r\n\r\n", 3000);
  j = raw_json(got);
  ok(j && cJSON_IsNull(cJSON_GetObjectItem(j, "h")),
     "the next request on the connection, without the field: none (nothing kept from before)");
  ok(cJSON_IsNull(cJSON_GetObjectItem(j, "tenant")), "and no tenant");
  raw_header(got, "X-Request-Id", id, sizeof id);
  ok(strlen(id) == 32 && strcmp(id, "first-id") != 0, "and an id of its own (%s)", id);
  cJSON_Delete(j);
  free(got);
  got = raw_request(fd,
                    "POST /test/echo?h=Content-Type HTTP/1.1\r\nHost: x\r\n"
                    "content-type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                    3000);
  j = raw_json(got);
  is_str(json_str(j, "h"), "application/json", "the body's type, as the handler reads it");
  ok(got && strstr(got, "200 OK"), "and the body stage read it too");
  cJSON_Delete(j);
  free(got);
  close(fd);
}

#define LOOPS 3

/* soulgw_http_connections{loop} of every loop into counts (the /metrics connection among
 * them); their sum, or -1 when a loop is missing. */
static int loop_counts(int counts[LOOPS]) {
  http_resp r;
  http_get(&gw, "/metrics", &r);
  int sum = 0;
  for (int k = 0; k < LOOPS; k++) {
    char key[64];
    snprintf(key, sizeof key, "\nsoulgw_http_connections{loop=\"%d\"} ", k);
    const char *p = r.body ? strstr(r.body, key) : NULL;
    counts[k] = p ? atoi(p + strlen(key)) : -1;
    if (!p) sum = -1;
    else if (sum >= 0) sum += counts[k];
  }
  resp_free(&r);
  return sum;
}

/* 1 when every loop serves between lo and hi connections. */
static int counts_within(const int counts[LOOPS], int lo, int hi) {
  for (int k = 0; k < LOOPS; k++)
    if (counts[k] < lo || counts[k] > hi) return 0;
  return 1;
}

/* 1 when GET /health on the connection fd (may be -1) answers 200, kept alive. */
static int health_on(int fd) {
  char *got = fd >= 0 ? raw_request(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 5000) : NULL;
  int good = got && strstr(got, "200 OK");
  free(got);
  return good;
}

static void integration_http_loops_balanced(void) {
  static const char *const toml = "[server]\nport = 0\nthreads = 3\n";
  if (gw_start(&gw, harness_testhost_bin(), toml, NULL, NULL) != 0) {
    ok(0, "the test host starts with three loops");
    return;
  }
  int counts[LOOPS];
  is_int(loop_counts(counts), 1, "each loop has its series from the start (only /metrics open)");
  /* one after another: each goes to the loop serving fewest, so they are even at every step */
  enum { SEQ = 30, BURST = 60 };
  int fds[BURST], served = 0;
  for (int i = 0; i < SEQ; i++) {
    fds[i] = raw_connect(&gw);
    served += health_on(fds[i]);
  }
  is_int(served, SEQ, "%d kept-alive connections made one after another are served", SEQ);
  is_int(loop_counts(counts), SEQ + 1, "the gauge counts them all");
  ok(counts_within(counts, SEQ / LOOPS, SEQ / LOOPS + 1),
     "each loop serves a third of them: %d %d %d", counts[0], counts[1], counts[2]);
  for (int i = 0; i < SEQ; i++) close(fds[i]);
  int sum = 0;
  for (long long t0 = now_ms(); now_ms() - t0 < 5000; usleep(20000))
    if ((sum = loop_counts(counts)) == 1) break;
  is_int(sum, 1, "closed connections leave the gauge");
  /* a burst: all connected before any request, then a request on each */
  for (int i = 0; i < BURST; i++) fds[i] = raw_connect(&gw);
  served = 0;
  for (int i = 0; i < BURST; i++) served += health_on(fds[i]);
  is_int(served, BURST, "%d connections made at once are served", BURST);
  is_int(loop_counts(counts), BURST + 1, "the gauge counts them all");
  /* handed connections a busy loop has not taken yet stay with the one that accepted them, so
   * a burst may come out a little uneven, never all on one loop */
  ok(counts_within(counts, BURST / LOOPS / 2, BURST),
     "each loop serves its share of the burst: %d %d %d", counts[0], counts[1], counts[2]);
  for (int i = 0; i < BURST; i++) close(fds[i]);
  is_int(gw_stop(&gw), 0, "stops");
}

static const tap_test tests[] = {
    TEST(integration_http_body_limits),     TEST(integration_http_content_type),
    TEST(integration_http_strict_json),     TEST(integration_http_tenant),
    TEST(integration_http_params_query_headers), TEST(integration_http_auth_required),
    TEST(integration_http_known_fields),
    TEST(integration_http_handler_failure), TEST(integration_http_deferred),
    TEST(integration_http_deferred_at_once),
    TEST(integration_http_stream),          TEST(integration_http_slow_client),
};

int main(void) {
  if (tap_want(tests, TAP_COUNT(tests)) || tap_match("integration_http_draining")) {
    if (gw_start(&gw, harness_testhost_bin(), small_body_toml, NULL, NULL) != 0) {
      ok(0, "the test host starts");
      return tap_done();
    }
    tap_run(tests, TAP_COUNT(tests));
    if (tap_case("integration_http_draining")) integration_http_draining();
    else gw_stop(&gw);
  }
  RUN(integration_http_drain_timeout);
  RUN(integration_http_external_mode);
  RUN(integration_http_loops_balanced);
  return tap_done();
}

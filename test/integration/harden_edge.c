/*
 * harden_edge.c -- the HTTP edge under attack, over raw sockets against the test host: request
 * smuggling (two Content-Lengths, Content-Length with Transfer-Encoding, transfer codings the
 * gateway cannot read, whitespace before a header's colon), a NUL in the request target,
 * credentials decided before a body is read (401/403 before the first body byte), the budget of
 * unauthenticated bodies, and slow clients: a trickling request head, a trickling body and one
 * address opening too many connections.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

static gwproc gw;

/* Short deadlines so that the slow-client cases take seconds: the head within 2 s, the body at
 * 1000 B/s after the same 2 s of grace, 100000 bytes of unauthenticated bodies at once. */
static const char *const edge_toml =
    "[server]\nport = 0\nthreads = 2\nmax_body_bytes = 1048576\nconnection_timeout_s = 30\n"
    "header_timeout_s = 2\nmin_body_rate_bytes_s = 1000\nmax_connections_per_ip = 0\n"
    "max_unauthenticated_body_bytes = 100000\ndrain_timeout_s = 5\n"
    "[log]\nlevel = \"info\"\n"
    "[auth]\nhmac_skew_s = 300\n"
    "[auth.tokens.local]\ntenant = \"tenant-demo\"\ntoken_env = \"GATEWAY_TOKEN_LOCAL\"\n"
    "scopes = [\"repo:read\"]\n"
    "[auth.tokens.reader]\ntenant = \"tenant-demo\"\ntoken = \"reader-token-0123456789\"\n"
    "scopes = [\"test:read\"]\n"
    "[auth.hmac_keys.local]\ntenant = \"tenant-demo\"\nsecret_env = \"GATEWAY_HMAC_LOCAL\"\n"
    "scopes = [\"test:read\"]\n";

/* One address may hold 4 connections; heads get 30 s so that idle ones are not cut. */
static const char *const per_ip_toml =
    "[server]\nport = 0\nthreads = 2\nheader_timeout_s = 30\nmax_connections_per_ip = 4\n"
    "[log]\nlevel = \"info\"\n";

/* ------------------------------------------------------------------------------------------ */
/* Raw-socket helpers */

static int send_all(int fd, const char *data, size_t len) {
  while (len) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0) return -1;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Sends data on a new connection and reads until the gateway closes it or timeout_ms passes
 * without a byte.  *closed says which.  Returns what was read (malloc'd, NUL-terminated). */
static char *exchange(const char *data, size_t len, int timeout_ms, int *closed) {
  int fd = raw_connect(&gw);
  *closed = 0;
  if (fd < 0) return NULL;
  send_all(fd, data, len);
  size_t cap = 8192, n = 0;
  char *buf = malloc(cap);
  struct pollfd p = {fd, POLLIN, 0};
  while (buf && poll(&p, 1, timeout_ms) > 0) {
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r <= 0) {
      *closed = 1;
      break;
    }
    n += (size_t)r;
    if (cap - n < 1024) buf = realloc(buf, cap *= 2);
  }
  close(fd);
  if (buf) buf[n] = '\0';
  return buf;
}

/* How many HTTP answers a byte stream holds. */
static int answers_in(const char *s) {
  int n = 0;
  for (const char *p = s; p && (p = strstr(p, "HTTP/1.1 ")) != NULL; p += 9)
    if (p == s || p[-1] == '\n' || p[-1] == '}' || p[-1] == '>') n++;
  return n;
}

/* The status of the first answer in a byte stream, or 0. */
static int status_of(const char *s) {
  return s && strncmp(s, "HTTP/1.", 7) == 0 && strlen(s) > 12 ? atoi(s + 9) : 0;
}

/* The JSON error code of the first answer in a byte stream (what follows it is ignored), or
 * "". */
static const char *code_in(const char *s, char *buf, size_t len) {
  buf[0] = '\0';
  const char *body = s ? strstr(s, "\r\n\r\n") : NULL;
  cJSON *j = body ? cJSON_Parse(body + 4) : NULL;
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "code");
  if (cJSON_IsString(c)) snprintf(buf, len, "%s", c->valuestring);
  cJSON_Delete(j);
  return buf;
}

/* Sends a request that must be refused with status and code, on a connection that the gateway
 * then closes without reading (or answering) anything that followed. */
static void expect_refused(const char *req, int status, const char *code, const char *fragment,
                           const char *what) {
  int closed = 0;
  char c[64];
  char *got = exchange(req, strlen(req), 5000, &closed);
  is_int(status_of(got), status, "%s: %d (got %.40s)", what, status, got ? got : "nothing");
  is_str(code_in(got, c, sizeof c), code, "%s: code %s", what, code);
  if (fragment) has_str(got, fragment, "%s: the message says why", what);
  has_str(got, "Connection: close", "%s: the answer says the connection closes", what);
  ok(closed, "%s: and the gateway closes it", what);
  is_int(answers_in(got), 1, "%s: nothing after the request is answered", what);
  free(got);
}

/* 1 when the gateway has closed fd (EOF or reset) within timeout_ms; anything it sends is
 * dropped. */
static int closed_within(int fd, int timeout_ms) {
  long long end = now_ms() + timeout_ms;
  char buf[4096];
  struct pollfd p = {fd, POLLIN, 0};
  for (long long left; (left = end - now_ms()) > 0;) {
    if (poll(&p, 1, (int)left) <= 0) continue;
    ssize_t r = read(fd, buf, sizeof buf);
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) return 1;
  }
  return 0;
}

/* 1 when fd is still open (nothing to read, no EOF). */
static int still_open(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 0) == 0) return 1;
  char c;
  return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

static long health(void) {
  http_resp r;
  http_get(&gw, "/health", &r);
  long st = r.status;
  resp_free(&r);
  return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Finding 8: smuggling */

static void security_edge_smuggling_content_length(void) {
  /* The gateway's HTTP library reads the first Content-Length; a proxy in front may read the
   * last.  The bytes after "{}" would then be a second request to one and body to the other. */
  expect_refused("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 2\r\nContent-Length: 42\r\n\r\n{}"
                 "GET /smuggled-cl HTTP/1.1\r\nHost: x\r\n\r\n",
                 400, "REQUEST.BAD", "Content-Length", "two Content-Lengths");
  ok(!gw_log_has(&gw, "/smuggled-cl"), "the request hidden behind them never ran");
  int closed;
  static const char same[] = "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                             "\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}";
  char *got = exchange(same, sizeof same - 1, 3000, &closed);
  ok(got && strncmp(got, "HTTP/1.1 200", 12) == 0, "the same Content-Length twice is one length");
  free(got);
}

static void security_edge_smuggling_length_and_chunked(void) {
  expect_refused("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                 "GET /smuggled-te HTTP/1.1\r\nHost: x\r\n\r\n",
                 400, "REQUEST.BAD", "Transfer-Encoding", "Content-Length and chunked");
  ok(!gw_log_has(&gw, "/smuggled-te"), "the request hidden in the body never ran");
  /* whitespace before the colon: not Content-Length to the gateway, but to some proxies */
  expect_refused("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length : 2\r\n\r\n{}GET /smuggled-ws HTTP/1.1\r\nHost: x\r\n\r\n",
                 400, "REQUEST.BAD", "header name", "a blank before the colon");
  ok(!gw_log_has(&gw, "/smuggled-ws"), "nothing after it ran");
}

static void security_edge_transfer_encoding(void) {
#define TE_POST "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
  expect_refused(TE_POST "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
                 "REQUEST.NOT_IMPLEMENTED", "gzip", "gzip, chunked");
  expect_refused(TE_POST "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 501, "REQUEST.NOT_IMPLEMENTED", "gzip", "gzip and chunked as two fields");
  expect_refused(TE_POST "Transfer-Encoding: identity\r\n\r\n{}", 400, "REQUEST.BAD",
                 "chunked", "identity (no chunked last: the length is unknown)");
  expect_refused(TE_POST "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400,
                 "REQUEST.BAD", "chunked", "chunked twice");
  expect_refused(TE_POST "Transfer-Encoding: chunked \r\n\r\n0\r\n\r\n", 400,
                 "REQUEST.BAD", "Transfer-Encoding", "chunked with a trailing blank");
  expect_refused("POST /test/echo HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                 400, "REQUEST.BAD", "HTTP/1.0", "chunked in HTTP/1.0");
  int closed;
  static const char fine[] = TE_POST "Transfer-Encoding: Chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
  char *got = exchange(fine, sizeof fine - 1, 3000, &closed);
  ok(got && strncmp(got, "HTTP/1.1 200", 12) == 0, "plain chunked is still read (%.12s)",
     got ? got : "nothing");
  free(got);
#undef TE_POST
}

static void security_edge_nul_in_target(void) {
  /* %00 used to end the routed path: /test/echo%00/x ran /test/echo */
  expect_refused("GET /test/echo%00/x HTTP/1.1\r\nHost: x\r\n\r\n", 400, "REQUEST.BAD",
                 "NUL", "%00 in the path");
  expect_refused("GET /test/echo?a=b%00c HTTP/1.1\r\nHost: x\r\n\r\n", 400,
                 "REQUEST.BAD", "NUL", "%00 in the query");
  static const char raw[] = "GET /test/echo\0/x HTTP/1.1\r\nHost: x\r\n\r\n";
  int closed;
  char c[64];
  char *got = exchange(raw, sizeof raw - 1, 3000, &closed);
  ok(got && strncmp(got, "HTTP/1.1 400", 12) == 0, "a raw NUL in the path: 400 (got %.12s)",
     got ? got : "nothing");
  is_str(code_in(got, c, sizeof c), "REQUEST.BAD", "a raw NUL in the path: REQUEST.BAD");
  free(got);
  static const char escaped[] = "GET /test/echo%2500 HTTP/1.1\r\nHost: x\r\n\r\n";
  got = exchange(escaped, sizeof escaped - 1, 3000, &closed);
  ok(got && strncmp(got, "HTTP/1.1 404", 12) == 0, "%%2500 is a literal %%00, not a NUL: 404");
  free(got);
}

/* ------------------------------------------------------------------------------------------ */
/* Finding 9: credentials before the body */

/* Sends only the head of a 1 MiB POST and expects the answer before any body byte. */
static void expect_before_body(const char *extra, const char *status, const char *fragment,
                               const char *what) {
  char req[2048];
  snprintf(req, sizeof req,
           "POST /test/secure HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: 1048576\r\n%s\r\n",
           extra);
  int fd = raw_connect(&gw);
  char *got = raw_request(fd, req, 5000);
  ok(got && strncmp(got, status, strlen(status)) == 0, "%s: %.12s before the body (got %.40s)",
     what, status, got ? got : "nothing");
  if (fragment) has_str(got, fragment, "%s: naming the reason", what);
  ok(closed_within(fd, 5000), "%s: the connection is closed (its body is never read)", what);
  free(got);
  close(fd);
}

static void sign(char *out, size_t outlen, const char *secret, const char *method,
                 const char *path, const char *date, const char *body_hash, const char *nonce) {
  char canon[1024];
  int n = snprintf(canon, sizeof canon, "%s\n%s\n%s\n%s\n%s", method, path, date, body_hash, nonce);
  unsigned char mac[32];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)canon, (unsigned long long)n);
  crypto_auth_hmacsha256_final(&st, mac);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  snprintf(out, outlen, "Authorization: SB-HMAC local:%s", hex);
}

static void now_date(char *out, size_t len) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void sha256_hex(char out[65], const char *s) {
  unsigned char h[32];
  crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
  sodium_bin2hex(out, 65, h, sizeof h);
}

static void security_edge_401_before_body(void) {
  expect_before_body("", "HTTP/1.1 401", "missing credential", "no credential");
  expect_before_body("Authorization: Bearer not-a-known-token\r\n", "HTTP/1.1 401",
                     "unknown bearer token", "an unknown token");
  expect_before_body("Expect: 100-continue\r\n", "HTTP/1.1 401", "missing credential",
                     "no credential, asking for 100-continue");
  expect_before_body("Authorization: Bearer test-token\r\n", "HTTP/1.1 403",
                     "insufficient scope", "a token without the route's scope");
  char date[64], hash[65], authz[200], extra[600];
  now_date(date, sizeof date);
  memset(hash, 'a', 64);
  hash[64] = '\0';
  sign(authz, sizeof authz, "wrong-secret", "POST", "/test/secure", date, hash, "edge-nonce-0000");
  snprintf(extra, sizeof extra, "%s\r\nx-sb-date: %s\r\nx-sb-content-sha256: %s\r\n"
           "x-sb-nonce: edge-nonce-0000\r\n", authz, date, hash);
  expect_before_body(extra, "HTTP/1.1 401", "signature does not match",
                     "an SB-HMAC signature over the headers that does not match");
  ok(health() == 200, "the gateway serves on");
}

static void security_edge_hmac_body_checked_after_body(void) {
  /* The signature is checked from the headers; the body hash and the replay cache wait for the
   * body, and a request refused for its body is not remembered as used. */
  static const char body[] = "{\"a\":1}", other[] = "{\"a\":2}";
  char date[64], hash[65], authz[200], req[1024];
  now_date(date, sizeof date);
  sha256_hex(hash, body);
  sign(authz, sizeof authz, "test-hmac", "POST", "/test/secure", date, hash, "edge-nonce-0001");
  const char *bodies[] = {other, body, body};
  const char *want[] = {"HTTP/1.1 401", "HTTP/1.1 200", "HTTP/1.1 401"};
  const char *why[] = {"does not match the body", "\"body\"", "replay"};
  const char *what[] = {"a body other than the signed one", "then the signed body",
                        "then the same signature again"};
  for (int i = 0; i < 3; i++) {
    snprintf(req, sizeof req,
             "POST /test/secure HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "%s\r\nx-sb-date: %s\r\nx-sb-content-sha256: %s\r\nx-sb-nonce: edge-nonce-0001\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             authz, date, hash, strlen(bodies[i]), bodies[i]);
    int closed;
    char *got = exchange(req, strlen(req), 3000, &closed);
    ok(got && strncmp(got, want[i], 12) == 0, "%s: %.12s (got %.12s)", what[i], want[i],
       got ? got : "nothing");
    has_str(got, why[i], "%s: %s", what[i], why[i]);
    free(got);
  }
  /* a signature already used is refused from the headers: its body is never read */
  char extra[600];
  snprintf(extra, sizeof extra, "%s\r\nx-sb-date: %s\r\nx-sb-content-sha256: %s\r\n"
           "x-sb-nonce: edge-nonce-0001\r\n", authz, date, hash);
  expect_before_body(extra, "HTTP/1.1 401", "replay",
                     "the same signature with a 1 MiB body announced");
}

static void security_edge_unauthenticated_body_budget(void) {
  /* 100000 bytes for every unauthenticated body at once: one anonymous request holding 90000
   * leaves no room for another of 20000, while authenticated bodies do not count. */
  int held = raw_connect(&gw);
  static const char head[] = "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                             "\r\nContent-Length: 90000\r\n\r\n{\"a\":\"";
  send_all(held, head, sizeof head - 1);
  ok(gw_wait_inflight(&gw, 2, 10000), "an anonymous 90000-byte body is being received");
  static const char second[] = "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: "
                               "application/json\r\nContent-Length: 20000\r\n\r\n";
  int fd = raw_connect(&gw);
  char *got = raw_request(fd, second, 5000);
  char c[64];
  ok(got && strncmp(got, "HTTP/1.1 503", 12) == 0, "another of 20000 is refused at once: 503 "
     "(got %.12s)", got ? got : "nothing");
  is_str(code_in(got, c, sizeof c), "REQUEST.BUSY", "code REQUEST.BUSY");
  has_str(got, "Retry-After:", "with Retry-After");
  ok(closed_within(fd, 5000), "and its connection is closed unread");
  free(got);
  close(fd);
  char *big = malloc(20001);
  memset(big, 'b', 20000);
  memcpy(big, "{\"b\":\"", 6);
  memcpy(big + 19998, "\"}", 2);
  big[20000] = '\0';
  const char *h[] = {"Content-Type: application/json",
                     "Authorization: Bearer reader-token-0123456789", NULL};
  http_resp r;
  http(&gw, "POST", "/test/secure", h, big, &r);
  is_int(r.status, 200, "an authenticated body of 20000 is not counted");
  resp_free(&r);
  /* the held request completes, and its share comes back */
  char *rest = malloc(90000);
  memset(rest, 'a', 90000);
  size_t left = 90000 - (sizeof "{\"a\":\"" - 1);
  memcpy(rest + left - 2, "\"}", 2);
  send_all(held, rest, left);
  got = raw_request(held, "", 5000);
  ok(got && strncmp(got, "HTTP/1.1 200", 12) == 0, "the held body completes: 200");
  free(got);
  close(held);
  long st = 0;
  for (long long end = now_ms() + 10000; now_ms() < end && st != 200; usleep(100 * 1000)) {
    http_post(&gw, "/test/echo", NULL, big, &r);
    st = r.status;
    resp_free(&r);
  }
  is_int(st, 200, "once it is done, an anonymous body of 20000 is read again");
  /* a chunked anonymous body has no length to reserve: it is counted as it comes */
  size_t n = 150000;
  char *chunked = malloc(n + 256);
  int k = snprintf(chunked, 256, "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "application/json\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n", n - 10);
  memset(chunked + k, ' ', n - 10);
  chunked[k] = '{';
  chunked[k + (int)n - 11] = '}';
  memcpy(chunked + k + n - 10, "\r\n0\r\n\r\n", 7);
  int closed;
  got = exchange(chunked, (size_t)k + n - 10 + 7, 5000, &closed);
  ok(got && strncmp(got, "HTTP/1.1 503", 12) == 0, "a chunked anonymous body over the budget: "
     "503 (got %.12s)", got ? got : "nothing");
  free(got);
  free(chunked);
  free(rest);
  free(big);
  ok(health() == 200, "the gateway serves on");
}

/* ------------------------------------------------------------------------------------------ */
/* Finding 10: slow clients */

#define TRICKLERS 25

static void security_edge_slowloris_head(void) {
  /* Each trickler sends one byte of its head a second, which an idle timeout never cuts. */
  static const char head[] = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  int fd[TRICKLERS], open_n = 0, served = 0, asked = 0;
  int before = gw_log_count(&gw, "\"msg\":\"connection cut\"");
  for (int i = 0; i < TRICKLERS; i++) open_n += (fd[i] = raw_connect(&gw)) >= 0;
  is_int(open_n, TRICKLERS, "%d trickling connections open", TRICKLERS);
  long long t0 = now_ms();
  for (size_t k = 0; open_n > 0 && k < sizeof head - 1 && now_ms() - t0 < 20000; k++) {
    for (int i = 0; i < TRICKLERS; i++) {
      if (fd[i] < 0) continue;
      if (send(fd[i], head + k, 1, MSG_NOSIGNAL) != 1 || !still_open(fd[i])) {
        close(fd[i]);
        fd[i] = -1;
        open_n--;
      }
    }
    asked++;
    served += health() == 200;
    sleep(1);
  }
  long long took = now_ms() - t0;
  is_int(open_n, 0, "every trickling head is cut (after %lld ms; header_timeout_s = 2)", took);
  is_int(served, asked, "a good client is served /health all along");
  for (int i = 0; i < TRICKLERS; i++)
    if (fd[i] >= 0) close(fd[i]);
  ok(gw_wait_log(&gw, "\"msg\":\"connection cut\"", before + TRICKLERS, 5000),
     "each cut is logged");
  ok(gw_log_has(&gw, "request head not complete"), "naming the head");
}

static void security_edge_keepalive_idle_not_cut(void) {
  /* The head deadline is not an idle timeout: a kept-alive client may wait longer than
   * header_timeout_s between requests (connection_timeout_s bounds that). */
  int fd = raw_connect(&gw);
  char *got = raw_request(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 5000);
  ok(got && strstr(got, "200 OK"), "a first request on a kept-alive connection");
  free(got);
  sleep(3);
  got = raw_request(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 5000);
  ok(got && strstr(got, "200 OK"), "a second one 3 s later, on the same connection");
  free(got);
  close(fd);
}

static void security_edge_slow_body(void) {
  int before = gw_log_count(&gw, "\"msg\":\"connection cut\"");
  int fd = raw_connect(&gw);
  static const char head[] = "POST /test/secure HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             "application/json\r\nAuthorization: Bearer reader-token-0123456789\r\n"
                             "Content-Length: 100000\r\n\r\n{";
  send_all(fd, head, sizeof head - 1);
  long long t0 = now_ms();
  int open_n = 1;
  while (open_n && now_ms() - t0 < 20000) {
    usleep(500 * 1000);
    open_n = send(fd, " ", 1, MSG_NOSIGNAL) == 1 && still_open(fd);
  }
  ok(!open_n, "a body trickling at 2 B/s is cut (after %lld ms; 1000 B/s after 2 s)",
     now_ms() - t0);
  close(fd);
  ok(gw_wait_log(&gw, "request body slower than", 1, 5000), "the cut is logged");
  ok(gw_log_count(&gw, "\"msg\":\"connection cut\"") > before, "as a connection cut");
  /* a body that keeps up is read: each 5000 bytes buy 5 s more, and come every second */
  char *part = malloc(5001);
  memset(part, ' ', 5000);
  part[5000] = '\0';
  fd = raw_connect(&gw);
  static const char head2[] = "POST /test/secure HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              "application/json\r\nAuthorization: Bearer reader-token-0123456789\r\n"
                              "Content-Length: 15002\r\n\r\n{";
  send_all(fd, head2, sizeof head2 - 1);
  for (int i = 0; i < 3; i++) {
    send_all(fd, part, 5000);
    if (i < 2) sleep(1);
  }
  char *got = raw_request(fd, "}", 5000);
  ok(got && strncmp(got, "HTTP/1.1 200", 12) == 0, "a body sent at 5000 B/s is read: 200");
  free(got);
  free(part);
  close(fd);
}

static void security_edge_per_ip_limit(void) {
  if (gw_start(&gw, harness_testhost_bin(), per_ip_toml, NULL, NULL) != 0) {
    ok(0, "the gateway starts with max_connections_per_ip = 4");
    return;
  }
  /* The start-up probe's own connection may still be closing: retry until each is served. */
  int fd[4];
  int served = 0;
  for (int i = 0; i < 4; i++) {
    char *got = NULL;
    for (long long end = now_ms() + 10000; !got && now_ms() < end;) {
      fd[i] = raw_connect(&gw);
      got = raw_request(fd[i], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 5000);
      if (!got) {
        close(fd[i]);
        usleep(100 * 1000);
      }
    }
    served += got && strstr(got, "200 OK") != NULL;
    free(got);
  }
  is_int(served, 4, "one address holds 4 kept-alive connections");
  int closed;
  static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  char *got = exchange(req, sizeof req - 1, 5000, &closed);
  ok(closed && got && !*got, "a fifth is closed without an answer (got %.12s)", got ? got : "");
  free(got);
  close(fd[0]);
  long st = 0;
  for (long long end = now_ms() + 10000; now_ms() < end && st != 200; usleep(100 * 1000))
    st = health();
  is_int(st, 200, "once one of them closes, a new connection is served");
  for (int i = 1; i < 4; i++) close(fd[i]);
  is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
}

static const tap_test tests[] = {
    TEST(security_edge_smuggling_content_length),
    TEST(security_edge_smuggling_length_and_chunked),
    TEST(security_edge_transfer_encoding),
    TEST(security_edge_nul_in_target),
    TEST(security_edge_401_before_body),
    TEST(security_edge_hmac_body_checked_after_body),
    TEST(security_edge_unauthenticated_body_budget),
    TEST(security_edge_slowloris_head),
    TEST(security_edge_keepalive_idle_not_cut),
    TEST(security_edge_slow_body),
};

int main(void) {
  if (sodium_init() < 0) return 1;
  if (tap_want(tests, TAP_COUNT(tests))) {
    if (gw_start(&gw, harness_testhost_bin(), edge_toml, NULL, NULL) != 0) {
      ok(0, "the test host starts");
      return tap_done();
    }
    tap_run(tests, TAP_COUNT(tests));
    is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
  }
  RUN(security_edge_per_ip_limit);
  return tap_done();
}

/*
 * harden_outbound.c -- the gateway's outbound calls under attack from a tenant admin (issue 7,
 * findings 5 to 7), against the real soulgw binary and an upstream this program runs itself on
 * loopback:
 *
 *   SSRF       a tenant holding config:manage publishes HTTP tools aimed at loopback, private,
 *              link-local and metadata addresses, in every spelling, or with credentials in the
 *              URL (422); a name that passes the publish check but resolves to loopback is
 *              refused at connect time; only what [tools] allowed_hosts lists is served; no
 *              redirect is followed; every upstream failure gives the client one message
 *   size       a 2 MiB tool answer is refused with a clear error while it arrives, a manifest
 *              cannot raise [tools] max_bytes_out, and the gateway's peak memory stays bounded
 *              (VmHWM) while it relays answers near the limit
 *   secrets    a model provider's error text that quotes the API key never reaches the client,
 *              and reaches the log only with the key taken out
 *
 * The upstream: one thread per connection, one request per connection.
 *   /json       200, the request body             /fail     500 with an "internal" body
 *   /text       200 text/plain                    /redirect 302 to /secret (never to be hit)
 *   /big1m      200, a JSON array of 1,000,000 bytes (under the 1 MiB default)
 *   /big2m      200, a JSON array of 2 MiB, with Content-Length
 *   /chunk2m    the same without Content-Length (the end is the connection's close)
 *   /v1/chat/completions   a model provider: the request's model chooses an error that quotes
 *              the key (e400, e401, e403 quoting a part of it, e500, and streamerr, an error
 *              event in a stream)
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

#define TOKEN "test-token"
#define KEY "sk-harden-0123456789abcdefSECRETkey"

enum { P_JSON, P_FAIL, P_TEXT, P_REDIRECT, P_SECRET, P_BIG1M, P_BIG2M, P_CHUNK2M, P_LLM, P_OTHER,
       P_COUNT };

static struct {
  int port;
  int closed_port; /* a loopback port nothing listens on */
  atomic_int hits[P_COUNT];
  char *big1m, *big2m;
  size_t big1m_len, big2m_len;
} up;

/* ------------------------------------------------------------------------------------------ */
/* The upstream */

static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return; /* the gateway cut the transfer */
    p += k;
    n -= (size_t)k;
  }
}

static void answer(int fd, int status, const char *type, const char *body, size_t len,
                   const char *extra) {
  char head[512];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
                   "close\r\n\r\n",
                   status, type, len, extra ? extra : "");
  send_all(fd, head, (size_t)n);
  send_all(fd, body, len);
}

static int path_of(const char *path) {
  static const char *const paths[] = {"/json", "/fail", "/text", "/redirect", "/secret",
                                      "/big1m", "/big2m", "/chunk2m", "/v1/chat/completions"};
  for (int i = 0; i < (int)(sizeof paths / sizeof paths[0]); i++)
    if (!strcmp(path, paths[i])) return i;
  return P_OTHER;
}

/* A model provider's errors, each quoting the key. */
static void answer_llm(int fd, const char *body) {
  char msg[512];
  if (strstr(body, "\"streamerr\"")) {
    snprintf(msg, sizeof msg, "data: {\"error\":{\"message\":\"stream refused for key %s\"}}\n\n",
             KEY);
    answer(fd, 200, "text/event-stream", msg, strlen(msg), NULL);
    return;
  }
  int status = strstr(body, "\"e400\"") ? 400 : strstr(body, "\"e403\"") ? 403
               : strstr(body, "\"e500\"") ? 500 : 401;
  if (status == 403) /* a part of the key only, the way some providers mask it */
    snprintf(msg, sizeof msg, "{\"error\":{\"message\":\"key %.20s... may not use this model\"}}",
             KEY);
  else if (status == 400)
    snprintf(msg, sizeof msg, "{\"error\":{\"message\":\"model e400 does not exist (key %s)\"}}",
             KEY);
  else
    snprintf(msg, sizeof msg, "{\"error\":{\"message\":\"Incorrect API key provided: %s\"}}", KEY);
  answer(fd, status, "application/json", msg, strlen(msg), NULL);
}

static void *serve_one(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[65536];
  size_t len = 0;
  char *end = NULL;
  while (len < sizeof buf - 1 && !end) {
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  if (!end) {
    close(fd);
    return NULL;
  }
  const char *cl = strcasestr(buf, "\nContent-Length:");
  size_t want = (size_t)(end + 4 - buf) + (cl ? (size_t)atol(cl + 16) : 0);
  while (len < want && len < sizeof buf - 1) {
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  const char *body = end + 4;
  char path[64] = "";
  sscanf(buf, "%*s %63s", path);
  int p = path_of(path);
  atomic_fetch_add(&up.hits[p], 1);
  static const char internal[] = "{\"error\":\"internal detail: db at 10.9.8.7:5432\"}";
  char loc[128];
  switch (p) {
    case P_JSON: answer(fd, 200, "application/json", body, strlen(body), NULL); break;
    case P_FAIL: answer(fd, 500, "application/json", internal, strlen(internal), NULL); break;
    case P_TEXT: answer(fd, 200, "text/plain", "hello", 5, NULL); break;
    case P_REDIRECT:
      snprintf(loc, sizeof loc, "Location: http://127.0.0.1:%d/secret\r\n", up.port);
      answer(fd, 302, "application/json", "{}", 2, loc);
      break;
    case P_SECRET: answer(fd, 200, "application/json", "{\"secret\":1}", 12, NULL); break;
    case P_BIG1M: answer(fd, 200, "application/json", up.big1m, up.big1m_len, NULL); break;
    case P_BIG2M: answer(fd, 200, "application/json", up.big2m, up.big2m_len, NULL); break;
    case P_CHUNK2M: {
      static const char head[] =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
      send_all(fd, head, sizeof head - 1);
      send_all(fd, up.big2m, up.big2m_len);
      break;
    }
    case P_LLM: answer_llm(fd, body); break;
    default: answer(fd, 404, "application/json", "{}", 2, NULL); break;
  }
  close(fd);
  return NULL;
}

static void *upstream_loop(void *arg) {
  int lfd = (int)(intptr_t)arg;
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) continue;
    pthread_t t;
    if (pthread_create(&t, NULL, serve_one, (void *)(intptr_t)fd) == 0) pthread_detach(t);
    else close(fd);
  }
  return NULL;
}

/* A JSON array of ones, "[1,1,...,1]", of exactly len bytes (len odd): the answer that costs a
 * tree the most per byte. */
static char *ones(size_t len, size_t *out_len) {
  char *s = malloc(len + 1);
  s[0] = '[';
  for (size_t i = 1; i < len - 1; i += 2) {
    s[i] = '1';
    s[i + 1] = ',';
  }
  s[len - 2] = '1';
  s[len - 1] = ']';
  s[len] = '\0';
  *out_len = len;
  return s;
}

static int listen_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0) return -1;
  getsockname(fd, (struct sockaddr *)&a, &alen);
  *port = ntohs(a.sin_port);
  return fd;
}

static int upstream_start(void) {
  up.big1m = ones(1000001, &up.big1m_len);
  up.big2m = ones(2 * 1048576 + 1, &up.big2m_len);
  int lfd = listen_loopback(&up.port);
  int cfd = listen_loopback(&up.closed_port);
  if (lfd < 0 || cfd < 0) return -1;
  close(cfd); /* the port is now closed */
  pthread_t t;
  return pthread_create(&t, NULL, upstream_loop, (void *)(intptr_t)lfd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Gateways and helpers */

static gwproc gw;

/* HARNESS_DEFAULT_TOML with extra keys in [tools] (it ends with that section) and extra
 * sections after it. */
static void make_toml(char *out, size_t len, const char *tools_keys, const char *sections) {
  snprintf(out, len, "%s%s\n%s", HARNESS_DEFAULT_TOML, tools_keys, sections);
}

static int start(const char *tools_keys, const char *sections) {
  static char toml[8192];
  make_toml(toml, sizeof toml, tools_keys, sections);
  const char *env[] = {"HARDEN_LLM_KEY=" KEY, NULL};
  return gw_start(&gw, harness_soulgw_bin(), toml, env, NULL);
}

static void stop(void) { is_int(gw_stop(&gw), 0, "the gateway stops cleanly"); }

/* Publishes one manifest {tenant-demo, id, handler, limits} as a fresh version: the status, and
 * the answer in *out when out is not NULL. */
static long publish_one(const char *id, const char *handler, const char *limits, cJSON **out) {
  static int version;
  char body[2048];
  snprintf(body, sizeof body,
           "{\"version\":\"hv-%d\",\"manifests\":[{\"tenant\":\"tenant-demo\",\"id\":\"%s\","
           "\"version\":\"1\",\"handler\":\"%s\"%s%s}]}",
           ++version, id, handler, limits ? ",\"limits\":" : "", limits ? limits : "");
  return post_json(&gw, TOKEN, "/api/config/tools", body, out);
}

static long execute(const char *id, const char *input, cJSON **out) {
  char body[1024];
  snprintf(body, sizeof body, "{\"tool_id\":\"%s\",\"input\":%s}", id, input);
  cJSON *j = NULL;
  http_resp r;
  http_post(&gw, "/api/tools/execute", TOKEN, body, &r);
  long st = r.status;
  j = json_of(&r);
  resp_free(&r);
  if (out) *out = j;
  else cJSON_Delete(j);
  return st;
}

/* Executes id and expects 503 with exactly the one message of a failed upstream. */
static void expect_upstream_failed(const char *id, const char *what) {
  cJSON *j = NULL;
  char want[256];
  snprintf(want, sizeof want, "tool %s: the tool's upstream failed", id);
  is_int(execute(id, "{}", &j), 503, "%s: 503", what);
  is_str(json_str(j, "code"), "PROVIDER.UNAVAILABLE", "%s: PROVIDER.UNAVAILABLE", what);
  is_str(json_str(j, "message"), want, "%s: the one generic message", what);
  cJSON_Delete(j);
}

static int version_count(void) {
  http_resp r;
  http(&gw, "GET", "/api/config/tools", (const char *[]){"Authorization: Bearer " TOKEN, NULL},
       NULL, &r);
  cJSON *j = json_of(&r);
  int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "versions"));
  cJSON_Delete(j);
  resp_free(&r);
  return n;
}

/* The gateway's peak resident memory so far, in KiB (VmHWM), or -1. */
static long peak_kib(void) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)gw.pid);
  FILE *f = fopen(path, "r");
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kib = atol(line + 6);
  if (f) fclose(f);
  return kib;
}

/* ------------------------------------------------------------------------------------------ */
/* Finding 5: SSRF */

static void security_outbound_publish_refuses_private(void) {
  if (!ok(start("", "") == 0, "a gateway with the default [tools] policy starts")) return;
  char lo[128], lo6[128], lohost[128], unspec[128], mapped[128];
  snprintf(lo, sizeof lo, "http://127.0.0.1:%d/json", up.port);
  snprintf(lo6, sizeof lo6, "http://[::1]:%d/json", up.port);
  snprintf(lohost, sizeof lohost, "http://localhost:%d/json", up.port);
  snprintf(unspec, sizeof unspec, "http://0.0.0.0:%d/json", up.port);
  snprintf(mapped, sizeof mapped, "http://[::ffff:127.0.0.1]:%d/json", up.port);
  const struct {
    const char *url, *names;
  } bad[] = {
      {lo, "host 127.0.0.1 is a loopback address"},
      {"http://10.1.2.3/x", "host 10.1.2.3 is a private address (RFC 1918)"},
      {"http://172.16.5.4/x", "host 172.16.5.4 is a private address"},
      {"http://192.168.0.1/x", "host 192.168.0.1 is a private address"},
      {"http://169.254.169.254/latest/meta-data/", "host 169.254.169.254 is a link-local address"},
      {"http://100.64.0.1/x", "host 100.64.0.1 is a shared address"},
      {"http://224.0.0.1/x", "host 224.0.0.1 is a multicast address"},
      {lo6, "host ::1 is a loopback address"},
      {"http://[fd00::1]/x", "host fd00::1 is a unique local address"},
      {"http://[fe80::1]/x", "host fe80::1 is a link-local address"},
      {mapped, "host ::ffff:127.0.0.1 is a loopback address"},
      {unspec, "host 0.0.0.0 is an unspecified address"},
      {lohost, "host localhost is a loopback name"},
      {"http://2130706433/x", "host 127.0.0.1 is a loopback address"},
      {"http://0x7f.1/x", "host 127.0.0.1 is a loopback address"},
      {"http://user:secret@tools.example.com/x", "user information"},
      {"http://user@127.0.0.1/x", "user information"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *j = NULL;
    long st = publish_one("ssrf.x", bad[i].url, NULL, &j);
    if (!ok(st == 422, "publish %s: 422", bad[i].url)) {
      tap_diag("  got %ld: %s", st, json_str(j, "message") ? json_str(j, "message") : "");
      cJSON_Delete(j);
      continue;
    }
    is_str(json_str(j, "code"), "SCHEMA.VALIDATION_FAILED", "  SCHEMA.VALIDATION_FAILED");
    has_str(json_str(j, "message"), "manifests[0] (tool ssrf.x)",
            "  the message names the manifest");
    has_str(json_str(j, "message"), bad[i].names, "  and the host");
    ok(!strstr(json_str(j, "message") ? json_str(j, "message") : "", "secret"),
       "  and repeats no credential");
    cJSON_Delete(j);
  }
  is_int(version_count(), 1, "nothing was published (bootstrap is the only version)");
  is_int(publish_one("ok.public", "https://tools.example.com/run", NULL, NULL), 200,
         "a tool on a public name publishes");
  is_int(publish_one("ok.public6", "http://93.184.216.34:8080/run", NULL, NULL), 200,
         "and one on a public address");
  stop();
}

/* A name other than localhost that resolves to loopback only (the machine's own name usually
 * does), or NULL. */
static const char *loopback_name(void) {
  static char host[256];
  const char *cands[] = {host, "localhost.localdomain", "ip6-localhost", "ip6-loopback"};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
    const char *n = cands[i];
    size_t nl = strlen(n);
    if (!nl || !strcmp(n, "localhost") || (nl > 10 && !strcmp(n + nl - 10, ".localhost")))
      continue;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(n, NULL, &hints, &res) != 0) continue;
    int all_lo = res != NULL;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
      if (a->ai_family == AF_INET)
        all_lo &= (ntohl(((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr.s_addr) >> 24) == 127;
      else if (a->ai_family == AF_INET6)
        all_lo &= IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr);
    }
    freeaddrinfo(res);
    if (all_lo) return n;
  }
  return NULL;
}

static void security_outbound_name_refused_at_connect(void) {
  const char *name = loopback_name();
  if (!name) {
    ok(1, "# SKIP no name other than localhost resolves to loopback on this machine");
    return;
  }
  if (!ok(start("", "") == 0, "a gateway with the default [tools] policy starts")) return;
  char url[512];
  snprintf(url, sizeof url, "http://%s:%d/json", name, up.port);
  is_int(publish_one("dns.name", url, NULL, NULL), 200,
         "a handler naming %s passes the publish check (a name is judged when it resolves)", name);
  int before = atomic_load(&up.hits[P_JSON]);
  expect_upstream_failed("dns.name", "the name resolving to 127.0.0.1");
  is_int(atomic_load(&up.hits[P_JSON]), before, "the upstream on loopback was never reached");
  ok(gw_wait_log(&gw, "connection refused by the outbound policy", 1, 5000),
     "the log says the connection was refused by the policy");
  ok(gw_log_has(&gw, "is a loopback address"), "and why");
  stop();
}

static void security_outbound_allowlisted_served(void) {
  char keys[256], url[128];
  snprintf(keys, sizeof keys, "allowed_hosts = [\"127.0.0.1:%d\", \"127.0.0.1:%d\"]\n", up.port,
           up.closed_port);
  if (!ok(start(keys, "") == 0, "a gateway allowing its test upstream's loopback port starts"))
    return;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/json", up.port);
  is_int(publish_one("lo.json", url, NULL, NULL), 200, "the allow-listed host:port publishes");
  cJSON *j = NULL;
  is_int(execute("lo.json", "{\"a\":[1,\"b\",{\"c\":null}]}", &j), 200, "and is served");
  cJSON *want = cJSON_Parse("{\"a\":[1,\"b\",{\"c\":null}]}");
  ok(cJSON_Compare(cJSON_GetObjectItem(j, "result"), want, 1), "with the upstream's answer");
  cJSON_Delete(want);
  cJSON_Delete(j);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/json", up.port == 65535 ? 1 : up.port + 1);
  is_int(publish_one("lo.other", url, NULL, NULL), 422, "another port of the same host: 422");
  snprintf(url, sizeof url, "http://[::1]:%d/json", up.port);
  is_int(publish_one("lo.six", url, NULL, NULL), 422, "::1, which the list does not name: 422");

  /* redirects are not followed, even to an allowed place */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/redirect", up.port);
  is_int(publish_one("lo.redirect", url, NULL, NULL), 200, "a tool that redirects publishes");
  expect_upstream_failed("lo.redirect", "a 302");
  is_int(atomic_load(&up.hits[P_SECRET]), 0, "the redirect was not followed");

  /* one message for every upstream failure: no status, body or reachability to read */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/fail", up.port);
  is_int(publish_one("err.fail", url, NULL, NULL), 200, "a tool answering 500 publishes");
  snprintf(url, sizeof url, "http://127.0.0.1:%d/json", up.closed_port);
  is_int(publish_one("err.closed", url, NULL, NULL), 200, "a tool on a closed port publishes");
  expect_upstream_failed("err.fail", "an upstream answering 500");
  expect_upstream_failed("err.closed", "an upstream that refuses connections");
  ok(gw_log_has(&gw, "\"tool\":\"err.fail\"") && gw_log_has(&gw, "\"status\":500"),
     "the log has the tool and the status");
  ok(!gw_log_has(&gw, "db at 10.9.8.7"), "the upstream's body is not even logged");
  stop();
}

static void security_outbound_connect_time_check(void) {
  /* The operator's bootstrap file is not judged at publish (it is the operator's); its tools
   * meet the connect-time check like every other. */
  char dir[] = "/tmp/soulgw-harden-XXXXXX", file[128], manifests[512], keys[512];
  if (!ok(mkdtemp(dir) != NULL, "a directory for the manifests file")) return;
  snprintf(file, sizeof file, "%s/manifests.json", dir);
  snprintf(manifests, sizeof manifests,
           "[{\"tenant\":\"tenant-demo\",\"id\":\"boot.name\",\"version\":\"1\",\"handler\":"
           "\"http://localhost:%d/json\"},{\"tenant\":\"tenant-demo\",\"id\":\"boot.ip\","
           "\"version\":\"1\",\"handler\":\"http://127.0.0.1:%d/json\"}]",
           up.port, up.port);
  FILE *f = fopen(file, "w");
  fputs(manifests, f);
  fclose(f);
  snprintf(keys, sizeof keys, "manifests_file = \"%s\"\n", file);
  static char toml[8192];
  /* the default TOML names conf/manifests.json last in [tools]: this line overrides it */
  snprintf(toml, sizeof toml, "%s", HARNESS_DEFAULT_TOML);
  char *mf = strstr(toml, "manifests_file");
  if (mf) snprintf(mf, sizeof toml - (size_t)(mf - toml), "%s", keys);
  const char *env[] = {NULL};
  if (!ok(gw_start(&gw, harness_soulgw_bin(), toml, env, NULL) == 0,
          "a gateway with loopback tools in its bootstrap file starts"))
    return;
  int before = atomic_load(&up.hits[P_JSON]);
  expect_upstream_failed("boot.name", "localhost, resolved to loopback at connect time");
  expect_upstream_failed("boot.ip", "127.0.0.1 at connect time");
  is_int(atomic_load(&up.hits[P_JSON]), before, "no connection reached the upstream");
  ok(gw_log_has(&gw, "connection refused by the outbound policy: 127.0.0.1 is a loopback address"),
     "the log names the refused address");

  /* a name pattern trusts the name, and what it resolves to; not the address by itself */
  char toml2[8400];
  snprintf(toml2, sizeof toml2, "%sallowed_hosts = [\"localhost:%d\"]\n", toml, up.port);
  gw_write_config(&gw, toml2);
  gw_signal(&gw, SIGHUP);
  ok(gw_wait_log(&gw, "configuration reloaded", 1, 10000), "reloaded with a name pattern");
  is_int(execute("boot.name", "{\"n\":1}", NULL), 200, "the allowed name is served");
  expect_upstream_failed("boot.ip", "the same address by IP, which no address pattern allows");

  /* an address pattern allows the address, whatever name led there */
  snprintf(toml2, sizeof toml2, "%sallowed_hosts = [\"127.0.0.0/8\"]\n", toml);
  gw_write_config(&gw, toml2);
  gw_signal(&gw, SIGHUP);
  ok(gw_wait_log(&gw, "configuration reloaded", 2, 10000), "reloaded with a network pattern");
  is_int(execute("boot.ip", "{\"n\":2}", NULL), 200, "the address is served");
  is_int(execute("boot.name", "{\"n\":3}", NULL), 200, "and the name resolving to it");

  /* and taken away again: a kept-alive connection is not reused past the policy */
  gw_write_config(&gw, toml);
  gw_signal(&gw, SIGHUP);
  ok(gw_wait_log(&gw, "configuration reloaded", 3, 10000), "reloaded without allowed_hosts");
  expect_upstream_failed("boot.ip", "the address once more refused");
  stop();
  unlink(file);
  rmdir(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* Finding 6: answer size and memory */

static void security_outbound_answer_size(void) {
  char keys[256], url[128];
  snprintf(keys, sizeof keys, "allowed_hosts = [\"127.0.0.1:%d\"]\n", up.port);
  if (!ok(start(keys, "") == 0, "a gateway allowing its test upstream starts")) return;
  static const char *const paths[] = {"json", "big1m", "big2m", "chunk2m"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    char id[32];
    snprintf(id, sizeof id, "size.%s", paths[i]);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/%s", up.port, paths[i]);
    is_int(publish_one(id, url, NULL, NULL), 200, "publish %s", id);
  }
  snprintf(url, sizeof url, "http://127.0.0.1:%d/big2m", up.port);
  is_int(publish_one("size.raised", url, "{\"max_bytes_out\":16777216}", NULL), 200,
         "publish a tool whose manifest asks for 16 MiB");
  is_int(execute("size.json", "{\"warm\":\"up\"}", NULL), 200, "a first small call (warm-up)");
  long base = peak_kib();
  ok(base > 0, "the gateway's peak memory can be read (%ld KiB)", base);

  /* an answer just under the default limit is relayed, at a cost near its own size */
  http_resp r;
  http_post(&gw, "/api/tools/execute", TOKEN, "{\"tool_id\":\"size.big1m\",\"input\":{}}", &r);
  is_int(r.status, 200, "a 1,000,000-byte answer (under 1 MiB): 200");
  cJSON *j = json_of(&r);
  is_int(cJSON_GetArraySize(cJSON_GetObjectItem(j, "result")), 500000,
         "relayed whole (500,000 elements)");
  cJSON_Delete(j);
  resp_free(&r);
  long after1 = peak_kib();
  tap_diag("peak RSS: %ld KiB before, %ld KiB after relaying 1,000,000 bytes (+%ld KiB)", base,
           after1, after1 - base);
  ok(after1 - base < 24 * 1024,
     "relaying 1,000,000 bytes raised the peak by under 24 MiB (a tree cost some 40 MiB)");

  /* over the limit: cut while it arrives, with or without a Content-Length */
  static const char *const over[] = {"size.big2m", "size.chunk2m", "size.raised"};
  for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
    char body[128], want[160];
    snprintf(body, sizeof body, "{\"tool_id\":\"%s\",\"input\":{}}", over[i]);
    snprintf(want, sizeof want, "tool %s: tool answer over max_bytes_out (1048576 bytes)", over[i]);
    cJSON *e = NULL;
    is_int(post_json(&gw, TOKEN, "/api/tools/execute", body, &e), 503, "%s (2 MiB): 503", over[i]);
    is_str(json_str(e, "code"), "PROVIDER.UNAVAILABLE", "  PROVIDER.UNAVAILABLE");
    is_str(json_str(e, "message"), want, "  the message names the limit");
    cJSON_Delete(e);
  }
  long after2 = peak_kib();
  tap_diag("peak RSS: %ld KiB after refusing three 2 MiB answers (+%ld KiB from the start)",
           after2, after2 - base);
  ok(after2 - base < 32 * 1024, "refusing them kept the peak within 32 MiB of the start");
  is_int(execute("size.json", "{\"still\":\"here\"}", NULL), 200, "the gateway keeps serving");
  stop();
}

/* ------------------------------------------------------------------------------------------ */
/* Finding 7: a provider's error text */

static void expect_llm(const char *path, const char *model, const char *fragment) {
  char body[256];
  snprintf(body, sizeof body, "{\"prompt\":\"p\",\"model\":\"mock:%s\"}", model);
  cJSON *j = NULL;
  http_resp r;
  http_post(&gw, path, TOKEN, body, &r);
  const char *text = r.body ? r.body : "";
  if (!strcmp(path, "/api/llm/complete")) {
    is_int(r.status, 503, "%s %s: 503", path, model);
    j = json_of(&r);
    if (fragment) has_str(json_str(j, "message"), fragment, "  the message says \"%s\"", fragment);
  } else {
    has_str(text, "event: error", "%s %s: ends in event: error", path, model);
    if (fragment) has_str(text, fragment, "  which says \"%s\"", fragment);
  }
  ok(!strstr(text, "sk-harden"), "  the key is not in the answer");
  ok(!strstr(text, "Incorrect API key") && !strstr(text, "does not exist") &&
         !strstr(text, "may not use") && !strstr(text, "stream refused"),
     "  nor the upstream's own words");
  cJSON_Delete(j);
  resp_free(&r);
}

static void security_outbound_provider_error_not_relayed(void) {
  char sections[512];
  snprintf(sections, sizeof sections,
           "[llm.providers.mock]\nbase_url = \"http://127.0.0.1:%d/v1\"\n"
           "api_key_env = \"HARDEN_LLM_KEY\"\nretries = 0\ntimeout_ms = 5000\n",
           up.port);
  if (!ok(start("", sections) == 0,
          "a gateway with a provider on loopback starts (providers are operator config: no "
          "allowed_hosts needed)"))
    return;
  expect_llm("/api/llm/complete", "e401", "upstream status 401 (authentication failed)");
  expect_llm("/api/llm/complete", "e400", "upstream status 400 (bad request)");
  expect_llm("/api/llm/complete", "e403", "upstream status 403 (permission denied)");
  expect_llm("/api/llm/complete", "e500", "upstream status 500");
  expect_llm("/api/llm/stream", "e401", "upstream status 401 (authentication failed)");
  expect_llm("/api/llm/stream", "streamerr", "the upstream sent an error event");
  ok(gw_wait_log(&gw, "stream refused for key [REDACTED]", 1, 5000),
     "the log has the error event's text, the key redacted");
  ok(gw_log_has(&gw, "Incorrect API key provided: [REDACTED]"), "and the 401's");
  ok(gw_log_has(&gw, "\"upstream_message\":\"key [REDACTED]"),
     "and the 403's, whose partial key is redacted too");
  ok(!gw_log_has(&gw, "sk-harden-0"), "no part of the key is in the log");
  stop();
}

static const tap_test tests[] = {
    TEST(security_outbound_publish_refuses_private),
    TEST(security_outbound_name_refused_at_connect),
    TEST(security_outbound_allowlisted_served),
    TEST(security_outbound_connect_time_check),
    TEST(security_outbound_answer_size),
    TEST(security_outbound_provider_error_not_relayed),
};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  if (upstream_start() != 0) {
    ok(0, "the test upstream starts");
    return tap_done();
  }
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

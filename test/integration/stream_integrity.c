/*
 * stream_integrity.c -- POST /api/llm/stream never ends silently, and never in "done" unless
 * the upstream finished (SPEC 4.2 llm_stream).  Each case drives the real binary against a mock
 * OpenAI-compatible upstream that misbehaves on purpose, and asserts exactly one terminal event
 * and the value of soulgw_llm_stream_truncated_total{provider} on /metrics.
 *
 * The mock is a plain socket server (one thread per connection), so that it can end a stream
 * exactly as a broken upstream does: a close-delimited body that simply stops, a chunked body
 * cut off without its last chunk, a line cut in two, silence.  The model a request names picks
 * the script:
 *
 *   whole        deltas, a finish reason, usage, [DONE]                       -> done
 *   finishonly   deltas and finish_reason "length", then a clean close        -> done
 *   doneonly     deltas and [DONE], no finish reason                          -> done
 *   finishcut    deltas, finish reason, [DONE], then the chunked body is cut  -> done
 *   json         one chat completion object, not a stream                     -> done
 *   closed       deltas, then a clean close: no [DONE], no finish reason      -> error, counted
 *   midline      a delta, then half an event line, then a clean close         -> error, counted
 *   empty        200 and no body at all                                       -> error, counted
 *   cut          deltas, then the chunked body is cut off                     -> error, counted
 *   idle         a delta, then silence past the provider's timeout_ms         -> error, counted
 *   errevent     a delta, then an error event quoting a key                   -> error
 *   hang         a delta, then silence (the gateway stops meanwhile)          -> error
 *   drip         a delta every 50 ms for 15 s (the client goes away)
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

#define TOKEN "test-token"

static gwproc gw;

/* ------------------------------------------------------------------------------------------ */
/* The mock upstream */

static struct {
  int fd, port;
  pthread_mutex_t lock;
  int drip_dropped; /* a drip stream found its connection closed by the gateway */
  volatile int quit;
} mock = {-1, 0, PTHREAD_MUTEX_INITIALIZER, 0, 0};

#define EV(json) "data: " json "\n\n"
#define DELTA(t) EV("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" t "\"}}]}")
#define FINISH(r) EV("{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"" r "\"}]}")
#define USAGE EV("{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}")
#define DONE EV("[DONE]")

static const char SSE_CLOSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                "Connection: close\r\n\r\n";
static const char SSE_CHUNKED[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";

static int put(int fd, const char *s) {
  size_t n = strlen(s);
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One chunk of a chunked body. */
static int put_chunk(int fd, const char *s) {
  char head[32];
  snprintf(head, sizeof head, "%zx\r\n", strlen(s));
  return put(fd, head) || put(fd, s) || put(fd, "\r\n");
}

/* Waits up to ms for the peer to close (or quit); 1 when it closed. */
static int peer_closed(int fd, int ms) {
  for (int waited = 0; waited < ms && !mock.quit; waited += 100) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      char b[256];
      ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN)) return 1;
    }
  }
  return 0;
}

/* Reads one request (headers, then Content-Length bytes); the model it names, or "". */
static void read_model(int fd, char *model, size_t len) {
  char buf[65536];
  size_t got = 0;
  const char *body = NULL;
  long want = -1;
  model[0] = '\0';
  while (got < sizeof buf - 1) {
    ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (n <= 0) return;
    got += (size_t)n;
    buf[got] = '\0';
    if (!body && (body = strstr(buf, "\r\n\r\n"))) {
      body += 4;
      const char *cl = strcasestr(buf, "Content-Length:");
      want = cl ? atol(cl + 15) : 0;
    }
    if (body && (long)(got - (size_t)(body - buf)) >= want) break;
  }
  cJSON *j = body ? cJSON_Parse(body) : NULL;
  const cJSON *m = cJSON_GetObjectItem(j, "model");
  if (cJSON_IsString(m)) snprintf(model, len, "%s", m->valuestring);
  cJSON_Delete(j);
}

static void drip(int fd) {
  int dropped = put(fd, SSE_CHUNKED) != 0;
  for (int i = 0; i < 300 && !dropped && !mock.quit; i++) {
    dropped = put_chunk(fd, DELTA("drop ")) != 0;
    if (!dropped) dropped = peer_closed(fd, 50);
  }
  pthread_mutex_lock(&mock.lock);
  mock.drip_dropped += dropped;
  pthread_mutex_unlock(&mock.lock);
}

/* The scripts: the answer's head, then its pieces (chunks of a chunked body, else bytes). */
typedef struct script {
  const char *model, *head;
  const char *pieces[4];
  int hang; /* then wait for the gateway to close */
} script;

static const char JSON_HEAD[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";

static const script scripts[] = {
    {"whole", SSE_CLOSE, {DELTA("one ") DELTA("two") FINISH("stop") USAGE DONE}, 0},
    {"finishonly", SSE_CLOSE, {DELTA("one ") DELTA("two") FINISH("length")}, 0},
    {"doneonly", SSE_CLOSE, {DELTA("one ") DELTA("two") DONE}, 0},
    {"finishcut", SSE_CHUNKED, {DELTA("one ") DELTA("two") FINISH("stop") DONE}, 0},
    {"json", JSON_HEAD,
     {"{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"one two\"},"
      "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}"},
     0},
    {"closed", SSE_CLOSE, {DELTA("one ") DELTA("two")}, 0},
    {"midline", SSE_CLOSE, {DELTA("one ") "data: {\"choices\":[{\"index\":0,\"del"}, 0},
    {"empty", SSE_CLOSE, {NULL}, 0},
    {"cut", SSE_CHUNKED, {DELTA("one "), DELTA("two")}, 0},
    {"idle", SSE_CHUNKED, {DELTA("one ")}, 1},
    {"hang", SSE_CHUNKED, {DELTA("one ")}, 1},
    {"errevent", SSE_CLOSE,
     {DELTA("one ") EV("{\"error\":{\"message\":\"overloaded; key sk-mock-9999\"}}")}, 0},
};

/* Plays the script the model names; the caller closes the connection. */
static void play(int fd, const char *model) {
  if (!strcmp(model, "drip")) {
    drip(fd);
    return;
  }
  for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
    const script *sc = &scripts[i];
    if (strcmp(model, sc->model)) continue;
    int chunked = sc->head == SSE_CHUNKED;
    if (put(fd, sc->head)) return;
    for (size_t k = 0; k < 4 && sc->pieces[k]; k++)
      if (chunked ? put_chunk(fd, sc->pieces[k]) : put(fd, sc->pieces[k])) return;
    if (sc->hang) peer_closed(fd, 15000);
    return;
  }
  put(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  char model[128];
  read_model(fd, model, sizeof model);
  play(fd, model);
  close(fd);
  return NULL;
}

static void *accept_loop(void *arg) {
  (void)arg;
  while (!mock.quit) {
    int fd = accept(mock.fd, NULL, NULL);
    if (fd < 0) continue;
    pthread_t t;
    if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) != 0) close(fd);
    else pthread_detach(t);
  }
  return NULL;
}

static int mock_start(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  mock.fd = socket(AF_INET, SOCK_STREAM, 0);
  if (mock.fd < 0 || bind(mock.fd, (struct sockaddr *)&a, sizeof a) ||
      listen(mock.fd, 64) || getsockname(mock.fd, (struct sockaddr *)&a, &len))
    return -1;
  mock.port = ntohs(a.sin_port);
  pthread_t t;
  if (pthread_create(&t, NULL, accept_loop, NULL)) return -1;
  pthread_detach(t);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

/* Two providers on the mock: mock (with a key the mock quotes in its error event) answers
 * within 1 s between pieces, patient within 20 s. */
static void make_toml(char *out, size_t len, const char *extra) {
  snprintf(out, len,
           "%s\n[llm.providers.mock]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:%d/v1\"\n"
           "api_key = \"sk-mock-9999\"\ntimeout_ms = 1000\nretries = 0\n\n"
           "[llm.providers.patient]\nbase_url = \"http://127.0.0.1:%d/v1\"\n"
           "timeout_ms = 20000\nretries = 0\n%s",
           HARNESS_DEFAULT_TOML, mock.port, mock.port, extra);
}

/* The value of a series on /metrics, or -1 when it is not listed. */
static double metric(gwproc *g, const char *series) {
  http_resp r;
  double v = -1;
  if (http_get(g, "/metrics", &r) == 0 && r.body) {
    char want[256];
    snprintf(want, sizeof want, "\n%s ", series);
    const char *p = strstr(r.body, want);
    if (p) v = strtod(p + strlen(want), NULL);
  }
  resp_free(&r);
  return v;
}

#define TRUNCATED(p) "soulgw_llm_stream_truncated_total{provider=\"" p "\"}"

/* POSTs a stream request for model with request id rid; the event stream in *out. */
static void stream(gwproc *g, const char *model, const char *rid, http_resp *out) {
  char body[256], rid_h[128];
  snprintf(body, sizeof body, "{\"prompt\":\"say two words\",\"model\":\"%s\"}", model);
  snprintf(rid_h, sizeof rid_h, "X-Request-Id: %s", rid);
  const char *h[] = {"Authorization: Bearer " TOKEN, "Content-Type: application/json", rid_h, NULL};
  if (http(g, "POST", "/api/llm/stream", h, body, out) != 0) memset(out, 0, sizeof *out);
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* The data of the last event of a stream, parsed, and its name in name. */
static cJSON *last_event(const char *body, char *name, size_t len) {
  const char *p = NULL;
  name[0] = '\0';
  for (const char *q = body; q && (q = strstr(q, "event: ")); q++) p = q;
  if (!p) return NULL;
  const char *nl = strchr(p, '\n');
  if (!nl || strncmp(nl, "\ndata: ", 7)) return NULL;
  snprintf(name, len, "%.*s", (int)(nl - p - 7), p + 7);
  return cJSON_Parse(nl + 7);
}

/* The concatenated deltas of an event stream (static buffer). */
static const char *deltas(const char *body) {
  static char out[4096];
  out[0] = '\0';
  for (const char *p = body; p && (p = strstr(p, "event: delta\ndata: ")); p++) {
    cJSON *j = cJSON_Parse(p + 19);
    const cJSON *d = cJSON_GetObjectItem(j, "delta");
    if (cJSON_IsString(d)) strncat(out, d->valuestring, sizeof out - strlen(out) - 1);
    cJSON_Delete(j);
  }
  return out;
}

/* 1 when a line of the gateway's log holds both a and b. */
static int log_line_has(gwproc *g, const char *a, const char *b) {
  FILE *f = fopen(g->errlog, "r");
  char line[8192];
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, a) && strstr(line, b);
  if (f) fclose(f);
  return found;
}

typedef struct want {
  const char *model, *rid;
  const char *deltas;   /* what the client must have got before the end */
  const char *terminal; /* "done" or "error" */
  const char *code;     /* of the error event */
  const char *fragment; /* of its message, or the done's finish */
  int counted;          /* the truncation counter grows by this */
} want;

/* Streams w.model and checks the whole answer: 200, the deltas, exactly one terminal event of
 * the right kind and nothing after it, the error object, the counter and the log line. */
static void expect_stream(const want *w) {
  double before = metric(&gw, TRUNCATED("mock"));
  char model[96], name[32];
  snprintf(model, sizeof model, "mock:%s", w->model);
  http_resp r;
  stream(&gw, model, w->rid, &r);
  const char *body = r.body ? r.body : "";
  is_int(r.status, 200, "%s: the stream opens", w->model);
  is_str(deltas(body), w->deltas, "%s: the deltas the upstream sent are relayed", w->model);
  int dones = count(body, "event: done\n"), errors = count(body, "event: error\n");
  is_int(dones + errors, 1, "%s: exactly one terminal event", w->model);
  cJSON *d = last_event(body, name, sizeof name);
  is_str(name, w->terminal, "%s: the last event is the terminal one", w->model);
  if (!strcmp(w->terminal, "error")) {
    is_str(json_str(d, "code"), w->code, "%s: code %s", w->model, w->code);
    has_str(json_str(d, "message"), w->fragment, "%s: the message says why", w->model);
    is_str(json_str(d, "correlation_id"), w->rid, "%s: with the request id", w->model);
  } else {
    is_str(json_str(d, "finish"), w->fragment, "%s: finish \"%s\"", w->model, w->fragment);
  }
  ok(!strstr(body, "sk-mock"), "%s: no upstream secret reaches the client", w->model);
  is_int(metric(&gw, TRUNCATED("mock")) - before, w->counted,
         "%s: soulgw_llm_stream_truncated_total{provider=\"mock\"} grows by %d", w->model,
         w->counted);
  is_int(log_line_has(&gw, "model stream truncated", w->rid), w->counted,
         "%s: %s", w->model, w->counted ? "a warning names the request" : "no truncation warning");
  cJSON_Delete(d);
  resp_free(&r);
}

/* ------------------------------------------------------------------------------------------ */
/* Cases */

static void integration_stream_counter_listed(void) {
  is_int(metric(&gw, TRUNCATED("mock")), 0, "each configured provider's series is listed at 0");
  is_int(metric(&gw, TRUNCATED("patient")), 0, "the second provider's too");
  http_resp r;
  http_get(&gw, "/metrics", &r);
  has_str(r.body, "# TYPE soulgw_llm_stream_truncated_total counter", "typed as a counter");
  resp_free(&r);
}

static void integration_stream_finished(void) {
  static const want w[] = {
      {"whole", "rid-si-whole", "one two", "done", NULL, "stop", 0},
      {"finishonly", "rid-si-finishonly", "one two", "done", NULL, "length", 0},
      {"doneonly", "rid-si-doneonly", "one two", "done", NULL, "stop", 0},
      {"finishcut", "rid-si-finishcut", "one two", "done", NULL, "stop", 0},
      {"json", "rid-si-json", "one two", "done", NULL, "stop", 0},
  };
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) expect_stream(&w[i]);
}

static void integration_stream_closed_early(void) {
  static const want w[] = {
      {"closed", "rid-si-closed", "one two", "error", "PROVIDER.UNAVAILABLE",
       "provider mock closed the stream before it finished", 1},
      {"midline", "rid-si-midline", "one ", "error", "PROVIDER.UNAVAILABLE",
       "provider mock closed the stream before it finished", 1},
      {"empty", "rid-si-empty", "", "error", "PROVIDER.UNAVAILABLE",
       "provider mock closed the stream before it finished", 1},
  };
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) expect_stream(&w[i]);
}

static void integration_stream_cut(void) {
  static const want w = {"cut", "rid-si-cut", "one two", "error", "PROVIDER.UNAVAILABLE",
                         "provider mock cut the stream off before it finished", 1};
  expect_stream(&w);
}

static void integration_stream_idle_timeout(void) {
  static const want w = {"idle", "rid-si-idle", "one ", "error", "LLM.TIMEOUT",
                         "provider mock sent nothing for 1000 ms before the stream finished", 1};
  expect_stream(&w);
}

static void integration_stream_error_event(void) {
  static const want w = {"errevent", "rid-si-errevent", "one ", "error", "PROVIDER.UNAVAILABLE",
                         "provider mock failed mid-stream: the upstream sent an error event", 0};
  expect_stream(&w);
  ok(log_line_has(&gw, "provider call failed", "rid-si-errevent"),
     "errevent: logged as a failed provider call");
  ok(!gw_log_has(&gw, "sk-mock-9999"), "errevent: the key the upstream quoted is not logged");
}

/* The client goes away mid-stream: the gateway drops the upstream call; no truncation. */
static void integration_stream_client_gone(void) {
  double before = metric(&gw, TRUNCATED("patient"));
  static const char body[] = "{\"prompt\":\"p\",\"model\":\"patient:drip\"}";
  char req[512];
  int n = snprintf(req, sizeof req,
                   "POST /api/llm/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
                   "\r\nX-Request-Id: rid-si-gone\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   sizeof body - 1, body);
  int fd = raw_connect(&gw);
  char got[4096] = "";
  size_t have = 0;
  if (fd >= 0 && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
    for (int i = 0; i < 100 && !strstr(got, "event: delta"); i++) {
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      ssize_t r = recv(fd, got + have, sizeof got - 1 - have, 0);
      if (r <= 0) break;
      have += (size_t)r;
      got[have] = '\0';
    }
  }
  has_str(got, "event: delta", "the stream was flowing");
  if (fd >= 0) close(fd);
  int dropped = 0;
  for (int i = 0; i < 150 && !dropped; i++) {
    usleep(100 * 1000);
    pthread_mutex_lock(&mock.lock);
    dropped = mock.drip_dropped;
    pthread_mutex_unlock(&mock.lock);
  }
  ok(dropped, "the gateway closed the upstream call when the client went away");
  is_int(metric(&gw, TRUNCATED("patient")) - before, 0, "not counted as a truncation");
  ok(!log_line_has(&gw, "model stream truncated", "rid-si-gone"), "no truncation warning");
  http_resp r;
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "the gateway is well");
  resp_free(&r);
}

/* A provider added by a reload has its series at 0 at once. */
static void integration_stream_counter_reload(void) {
  char t[8192], extra[256];
  snprintf(extra, sizeof extra, "\n[llm.providers.late]\nbase_url = \"http://127.0.0.1:%d/v1\"\n",
           mock.port);
  make_toml(t, sizeof t, extra);
  ok(metric(&gw, TRUNCATED("late")) < 0, "an unknown provider has no series");
  gw_write_config(&gw, t);
  gw_signal(&gw, SIGHUP);
  ok(gw_wait_log(&gw, "configuration reloaded", 1, 20000), "the reload happened");
  is_int(metric(&gw, TRUNCATED("late")), 0, "the reloaded provider is listed at 0");
}

/* The gateway stops while a stream waits on its upstream: the stream ends with one error. */
typedef struct bg {
  gwproc *g;
  http_resp r;
} bg;

static void *bg_stream(void *arg) {
  bg *b = arg;
  stream(b->g, "patient:hang", "rid-si-stop", &b->r);
  return NULL;
}

static void integration_stream_stop(void) {
  gwproc g2;
  char t[8192];
  make_toml(t, sizeof t, "");
  const char *env[] = {"GATEWAY__SERVER__DRAIN_TIMEOUT_S=1", NULL};
  if (gw_start(&g2, harness_soulgw_bin(), t, env, NULL) != 0) {
    ok(0, "a second gateway starts");
    return;
  }
  bg b = {&g2, {0}};
  pthread_t th;
  pthread_create(&th, NULL, bg_stream, &b);
  ok(gw_wait_inflight(&g2, 2, 20000), "the stream is in flight");
  gw_signal(&g2, SIGTERM);
  pthread_join(th, NULL);
  const char *body = b.r.body ? b.r.body : "";
  char name[32];
  cJSON *d = last_event(body, name, sizeof name);
  is_int(b.r.status, 200, "the stream was open");
  is_str(deltas(body), "one ", "its first delta went out");
  is_int(count(body, "event: error\n") + count(body, "event: done\n"), 1,
         "exactly one terminal event");
  is_str(name, "error", "an error event, last");
  is_str(json_str(d, "code"), "PROVIDER.UNAVAILABLE", "PROVIDER.UNAVAILABLE");
  has_str(json_str(d, "message"), "shutting down", "saying the gateway is shutting down");
  is_int(gw_stop(&g2), 0, "exit status 0");
  cJSON_Delete(d);
  resp_free(&b.r);
}

static const tap_test tests[] = {
    TEST(integration_stream_counter_listed), TEST(integration_stream_finished),
    TEST(integration_stream_closed_early),   TEST(integration_stream_cut),
    TEST(integration_stream_idle_timeout),   TEST(integration_stream_error_event),
    TEST(integration_stream_client_gone),    TEST(integration_stream_counter_reload),
};

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  if (mock_start() != 0) {
    ok(0, "the mock upstream starts");
    return tap_done();
  }
  if (tap_want(tests, TAP_COUNT(tests))) {
    char t[8192];
    make_toml(t, sizeof t, "");
    if (gw_start(&gw, harness_soulgw_bin(), t, NULL, NULL) != 0) {
      ok(0, "the gateway starts");
      return tap_done();
    }
    tap_run(tests, TAP_COUNT(tests));
    is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
  }
  RUN(integration_stream_stop);
  mock.quit = 1;
  return tap_done();
}

/*
 * upstream.c -- unit tests of lib/clients/upstream.c against a libmicrohttpd server in this
 * process: buffered and streamed answers, what the upstream receives, connection reuse, delays,
 * the body cap, timeouts (whole and idle), connection failures, aborting from the chunk callback,
 * argument checks, and cancellation at shutdown.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/sg.h"
#include "tap.h"
#include "clients/upstream.h"

/* ------------------------------------------------------------------------------------------ */
/* The server: paths choose the answer */

static struct {
  pthread_mutex_t lock;
  int port, connections;
  char method[16], auth[128], body[1024], ctype[128];
  volatile int quit;
} srv = {PTHREAD_MUTEX_INITIALIZER, 0, 0, "", "", "", "", 0};

typedef struct slow_body {
  int n;
} slow_body;

static ssize_t drip(void *cls, uint64_t pos, char *buf, size_t max) {
  slow_body *s = cls;
  (void)pos;
  (void)max;
  if (s->n == 3) return MHD_CONTENT_READER_END_OF_STREAM;
  if (s->n++ && !srv.quit) usleep(150 * 1000);
  buf[0] = (char)('a' + s->n - 1);
  return 1;
}

static ssize_t stall(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)cls;
  (void)max;
  if (pos == 0) {
    buf[0] = 'x';
    return 1;
  }
  for (int i = 0; i < 30 && !srv.quit; i++) usleep(100 * 1000);
  return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state) {
  (void)cls;
  (void)version;
  if (!*state) {
    *state = calloc(1, 1024);
    return MHD_YES;
  }
  char *body = *state;
  if (*size) {
    size_t have = strlen(body);
    size_t n = *size < 1023 - have ? *size : 1023 - have;
    memcpy(body + have, data, n);
    *size = 0;
    return MHD_YES;
  }
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  pthread_mutex_lock(&srv.lock);
  snprintf(srv.method, sizeof srv.method, "%s", method);
  snprintf(srv.auth, sizeof srv.auth, "%s", auth ? auth : "");
  snprintf(srv.ctype, sizeof srv.ctype, "%s", ct ? ct : "");
  snprintf(srv.body, sizeof srv.body, "%s", body);
  pthread_mutex_unlock(&srv.lock);
  if (!strcmp(url, "/ok")) return answer(c, 200, "{\"ok\":true}");
  if (!strcmp(url, "/e500")) return answer(c, 500, "{\"error\":\"boom\"}");
  if (!strcmp(url, "/big")) {
    static char big[200001];
    memset(big, 'x', sizeof big - 1);
    return answer(c, 200, big);
  }
  if (!strcmp(url, "/slow")) {
    for (int i = 0; i < 10 && !srv.quit; i++) usleep(100 * 1000);
    return answer(c, 200, "{\"slow\":true}");
  }
  if (!strcmp(url, "/drip") || !strcmp(url, "/stall")) {
    int d = !strcmp(url, "/drip");
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 64, d ? drip : stall, d ? calloc(1, sizeof(slow_body)) : NULL,
        d ? free : NULL);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
  }
  return answer(c, 404, "{}");
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  free(*state);
  *state = NULL;
}

static void on_conn(void *cls, struct MHD_Connection *c, void **sc,
                    enum MHD_ConnectionNotificationCode code) {
  (void)cls;
  (void)c;
  (void)sc;
  if (code != MHD_CONNECTION_NOTIFY_STARTED) return;
  pthread_mutex_lock(&srv.lock);
  srv.connections++;
  pthread_mutex_unlock(&srv.lock);
}

static struct MHD_Daemon *start_server(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle,
      NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_conn,
      NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_END);
  if (d) srv.port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
  return d;
}

/* ------------------------------------------------------------------------------------------ */
/* A completion that can be waited for */

typedef struct outcome {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  sg_up_err err;
  long status;
  char body[256];
  size_t body_len;
  char ctype[64];
  char chunks[256];
  int nchunks;
  int stop_after; /* chunk callback: abort after this many (0: never) */
  uint64_t ns;
  pthread_t thread;
} outcome;

static void outcome_init(outcome *o) {
  memset(o, 0, sizeof *o);
  pthread_mutex_init(&o->lock, NULL);
  pthread_cond_init(&o->cond, NULL);
}

static void on_done(void *ud, const sg_up_result *r) {
  outcome *o = ud;
  pthread_mutex_lock(&o->lock);
  o->done++;
  o->err = r->err;
  o->status = r->status;
  snprintf(o->body, sizeof o->body, "%s", r->body);
  o->body_len = r->body_len;
  snprintf(o->ctype, sizeof o->ctype, "%s", r->content_type ? r->content_type : "");
  o->ns = r->duration_ns;
  o->thread = pthread_self();
  pthread_cond_broadcast(&o->cond);
  pthread_mutex_unlock(&o->lock);
}

static int on_chunk(void *ud, long status, const char *data, size_t len) {
  outcome *o = ud;
  (void)status;
  pthread_mutex_lock(&o->lock);
  strncat(o->chunks, data, len < sizeof o->chunks - strlen(o->chunks) - 1 ? len : 0);
  int stop = o->stop_after && ++o->nchunks >= o->stop_after;
  pthread_mutex_unlock(&o->lock);
  return stop;
}

/* Waits up to 5 s; returns how many times done was called. */
static int wait_done(outcome *o) {
  long long t0 = 0;
  pthread_mutex_lock(&o->lock);
  while (!o->done && t0++ < 500) {
    pthread_mutex_unlock(&o->lock);
    usleep(10 * 1000);
    pthread_mutex_lock(&o->lock);
  }
  int n = o->done;
  pthread_mutex_unlock(&o->lock);
  return n;
}

static char url_buf[128];
static const char *url(const char *path) {
  snprintf(url_buf, sizeof url_buf, "http://127.0.0.1:%d%s", srv.port, path);
  return url_buf;
}

static sg_upstream *up;
static sg_log *lg;
static int plain = 1; /* the battery runs twice: the plain way (h1.c), then through libcurl */

static sg_upstream *new_up(void) {
  sg_upstream *u = sg_upstream_new(lg);
  if (u) sg_upstream_set_plain(u, plain);
  return u;
}

/* ------------------------------------------------------------------------------------------ */

static void unit_upstream_post_json(void) {
  outcome o;
  outcome_init(&o);
  const char *extra[] = {"Authorization: Bearer sk-unit", NULL};
  is_int(sg_upstream_post_json(up, url("/ok"), extra, "{\"q\":1}", 7, 2000, "unit", on_done, &o),
         0, "a call is queued");
  is_int(wait_done(&o), 1, "done is called once");
  is_int(o.err, SG_UP_OK, "SG_UP_OK");
  is_int(o.status, 200, "status 200");
  is_str(o.body, "{\"ok\":true}", "the body");
  is_int(o.body_len, 11, "its length");
  is_str(o.ctype, "application/json", "the content type");
  ok(!pthread_equal(o.thread, pthread_self()), "on the upstream thread");
  ok(o.ns > 0, "timed");
  pthread_mutex_lock(&srv.lock);
  is_str(srv.method, "POST", "the upstream got a POST");
  is_str(srv.body, "{\"q\":1}", "with the body");
  is_str(srv.auth, "Bearer sk-unit", "and the extra header");
  is_str(srv.ctype, "application/json", "and Content-Type");
  pthread_mutex_unlock(&srv.lock);
}

static void unit_upstream_methods_and_status(void) {
  outcome o;
  outcome_init(&o);
  sg_up_req r = {.method = "GET", .url = url("/e500"), .done = on_done, .ud = &o};
  is_int(sg_upstream_call(up, &r), 0, "GET queued");
  wait_done(&o);
  is_int(o.err, SG_UP_OK, "a 500 is an answer: SG_UP_OK");
  is_int(o.status, 500, "with its status");
  is_str(o.body, "{\"error\":\"boom\"}", "and its body");
  pthread_mutex_lock(&srv.lock);
  is_str(srv.method, "GET", "the method");
  pthread_mutex_unlock(&srv.lock);
  outcome_init(&o);
  r.method = "PUT";
  r.url = url("/ok");
  r.body = "x";
  r.body_len = 1;
  sg_upstream_call(up, &r);
  wait_done(&o);
  pthread_mutex_lock(&srv.lock);
  is_str(srv.method, "PUT", "another method, with a body");
  is_str(srv.body, "x", "its body");
  pthread_mutex_unlock(&srv.lock);
}

static void unit_upstream_keepalive(void) {
  pthread_mutex_lock(&srv.lock);
  srv.connections = 0;
  pthread_mutex_unlock(&srv.lock);
  for (int i = 0; i < 10; i++) {
    outcome o;
    outcome_init(&o);
    sg_upstream_post_json(up, url("/ok"), NULL, "{}", 2, 2000, "unit", on_done, &o);
    wait_done(&o);
  }
  pthread_mutex_lock(&srv.lock);
  ok(srv.connections <= 1, "ten calls in a row reuse one connection (%d opened)", srv.connections);
  pthread_mutex_unlock(&srv.lock);
}

static void unit_upstream_delay(void) {
  outcome o;
  outcome_init(&o);
  sg_up_req r = {.url = url("/ok"), .delay_ms = 300, .done = on_done, .ud = &o};
  long long t0 = (long long)(sg_now_ns() / 1000000);
  sg_upstream_call(up, &r);
  usleep(150 * 1000);
  pthread_mutex_lock(&o.lock);
  is_int(o.done, 0, "a delayed call has not run after 150 ms");
  pthread_mutex_unlock(&o.lock);
  wait_done(&o);
  long long ms = (long long)(sg_now_ns() / 1000000) - t0;
  ok(ms >= 300, "it ran after its delay (%lld ms)", ms);
  is_int(o.status, 200, "and succeeded");
}

static void unit_upstream_limits(void) {
  outcome o;
  outcome_init(&o);
  sg_up_req r = {.url = url("/big"), .max_response = 1000, .done = on_done, .ud = &o};
  sg_upstream_call(up, &r);
  wait_done(&o);
  is_int(o.err, SG_UP_TOO_LARGE, "a body over max_response: SG_UP_TOO_LARGE");
  outcome_init(&o);
  r.max_response = 0;
  sg_upstream_call(up, &r);
  wait_done(&o);
  is_int(o.err, SG_UP_OK, "the default cap lets 200 KB through");
  is_int(o.body_len, 200000, "all of it");
}

static void unit_upstream_timeouts(void) {
  outcome o;
  outcome_init(&o);
  sg_up_req r = {.url = url("/slow"), .timeout_ms = 300, .done = on_done, .ud = &o};
  long long t0 = (long long)(sg_now_ns() / 1000000);
  sg_upstream_call(up, &r);
  wait_done(&o);
  long long ms = (long long)(sg_now_ns() / 1000000) - t0;
  is_int(o.err, SG_UP_TIMEOUT, "an answer slower than timeout_ms: SG_UP_TIMEOUT");
  ok(ms >= 280 && ms < 900, "after timeout_ms (%lld ms)", ms);
  /* a short timeout behind a long one, both in flight: the thread wakes for the short one */
  outcome longer;
  outcome_init(&longer);
  outcome_init(&o);
  sg_up_req l = {.url = url("/slow"), .timeout_ms = 5000, .done = on_done, .ud = &longer};
  sg_upstream_call(up, &l);
  usleep(50 * 1000);
  r.url = url("/slow");
  t0 = (long long)(sg_now_ns() / 1000000);
  sg_upstream_call(up, &r);
  wait_done(&o);
  ms = (long long)(sg_now_ns() / 1000000) - t0;
  is_int(o.err, SG_UP_TIMEOUT, "a short timeout behind a long one: SG_UP_TIMEOUT");
  ok(ms >= 280 && ms < 900, "after its own timeout_ms (%lld ms)", ms);
  wait_done(&longer);
  is_int(longer.err, SG_UP_OK, "the long one completes");
  /* idle timeout: a body that keeps coming is fine, a silence is not */
  outcome_init(&o);
  sg_up_req d = {.url = url("/drip"), .idle_timeout_ms = 400, .chunk = on_chunk, .done = on_done, .ud = &o};
  sg_upstream_call(up, &d);
  wait_done(&o);
  is_int(o.err, SG_UP_OK, "a stream that never pauses 400 ms completes");
  is_str(o.chunks, "abc", "its pieces arrived through the chunk callback");
  is_str(o.body, "", "and are not buffered");
  outcome_init(&o);
  d.url = url("/stall");
  t0 = (long long)(sg_now_ns() / 1000000);
  sg_upstream_call(up, &d);
  wait_done(&o);
  ms = (long long)(sg_now_ns() / 1000000) - t0;
  is_int(o.err, SG_UP_TIMEOUT, "a stream silent for idle_timeout_ms: SG_UP_TIMEOUT");
  ok(ms >= 380 && ms < 1200, "after the idle timeout (%lld ms)", ms);
  is_str(o.chunks, "x", "what came before the silence was delivered");
}

static void unit_upstream_abort(void) {
  outcome o;
  outcome_init(&o);
  o.stop_after = 1;
  sg_up_req r = {.url = url("/drip"), .chunk = on_chunk, .done = on_done, .ud = &o};
  sg_upstream_call(up, &r);
  wait_done(&o);
  is_int(o.err, SG_UP_ABORTED, "the chunk callback stops the transfer: SG_UP_ABORTED");
  is_str(o.chunks, "a", "after the first piece");
}

static void unit_upstream_connect_failure(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  char u[64];
  snprintf(u, sizeof u, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
  outcome o;
  outcome_init(&o);
  sg_up_req r = {.url = u, .label = "unit refused", .done = on_done, .ud = &o};
  sg_upstream_call(up, &r);
  wait_done(&o);
  is_int(o.err, SG_UP_CONNECT, "connection refused: SG_UP_CONNECT");
  is_int(o.status, 0, "no status");
  outcome_init(&o);
  r.url = "http://no-such-host.invalid/x";
  sg_upstream_call(up, &r);
  wait_done(&o);
  is_int(o.err, SG_UP_CONNECT, "a name that does not resolve: SG_UP_CONNECT");
}

static void unit_upstream_arguments(void) {
  outcome o;
  outcome_init(&o);
  sg_up_req r = {.url = "ftp://127.0.0.1/x", .done = on_done, .ud = &o};
  is_int(sg_upstream_call(up, &r), SOULGW_EINVAL, "an ftp URL is refused");
  r.url = "file:///etc/passwd";
  is_int(sg_upstream_call(up, &r), SOULGW_EINVAL, "a file URL is refused");
  r.url = NULL;
  is_int(sg_upstream_call(up, &r), SOULGW_EINVAL, "no URL is refused");
  r.url = url("/ok");
  r.done = NULL;
  is_int(sg_upstream_call(up, &r), SOULGW_EINVAL, "no done callback is refused");
  is_int(o.done, 0, "refused calls never complete");
}

/* A done callback that starts another call (as a retry does). */
typedef struct chain {
  outcome first, second;
  int rc;
} chain;

static void chain_done(void *ud, const sg_up_result *r) {
  chain *c = ud;
  on_done(&c->first, r);
  sg_up_req next = {.url = url_buf, .done = on_done, .ud = &c->second};
  c->rc = sg_upstream_call(up, &next);
}

static void unit_upstream_call_from_callback(void) {
  chain c;
  outcome_init(&c.first);
  outcome_init(&c.second);
  url("/ok");
  sg_up_req r = {.url = url_buf, .done = chain_done, .ud = &c};
  sg_upstream_call(up, &r);
  wait_done(&c.first);
  wait_done(&c.second);
  is_int(c.rc, 0, "a done callback may start a call");
  is_int(c.second.status, 200, "which completes");
}

static void unit_upstream_cancel(void) {
  outcome slow, delayed;
  outcome_init(&slow);
  outcome_init(&delayed);
  sg_up_req a = {.url = url("/slow"), .done = on_done, .ud = &slow};
  sg_upstream_call(up, &a);
  sg_up_req b = {.url = url("/ok"), .delay_ms = 10000, .done = on_done, .ud = &delayed};
  sg_upstream_call(up, &b);
  usleep(100 * 1000);
  long long t0 = (long long)(sg_now_ns() / 1000000);
  sg_upstream_cancel_all(up);
  long long ms = (long long)(sg_now_ns() / 1000000) - t0;
  is_int(slow.done, 1, "cancel_all returns once the call in flight has completed");
  is_int(slow.err, SG_UP_CANCELLED, "with SG_UP_CANCELLED");
  is_int(delayed.done, 1, "a delayed call too");
  is_int(delayed.err, SG_UP_CANCELLED, "with SG_UP_CANCELLED");
  ok(ms < 500, "at once (%lld ms)", ms);
  outcome o;
  outcome_init(&o);
  sg_up_req c = {.url = url("/ok"), .done = on_done, .ud = &o};
  is_int(sg_upstream_call(up, &c), SOULGW_ESTATE, "new calls are refused after cancel_all");
  sg_upstream_free(up);
  up = NULL;
  /* free with calls pending completes them */
  up = new_up();
  outcome_init(&slow);
  a.url = url("/slow"); /* url() reuses one buffer */
  a.ud = &slow;
  sg_upstream_call(up, &a);
  usleep(100 * 1000);
  sg_upstream_free(up);
  up = NULL;
  is_int(slow.done, 1, "sg_upstream_free completes what is pending");
  is_int(slow.err, SG_UP_CANCELLED, "with SG_UP_CANCELLED");
  sg_upstream_free(NULL);
  ok(1, "sg_upstream_free(NULL) does nothing");
}

static const tap_test tests[] = {
    TEST(unit_upstream_post_json),        TEST(unit_upstream_methods_and_status),
    TEST(unit_upstream_keepalive),        TEST(unit_upstream_delay),
    TEST(unit_upstream_limits),           TEST(unit_upstream_timeouts),
    TEST(unit_upstream_abort),            TEST(unit_upstream_connect_failure),
    TEST(unit_upstream_arguments),        TEST(unit_upstream_call_from_callback),
    TEST(unit_upstream_cancel),
};

int main(void) {
  struct MHD_Daemon *d = start_server();
  lg = sg_log_new();
  sg_log_configure(lg, SOULGW_LOG_ERROR, 1);
  for (plain = 1; plain >= 0; plain--) {
    tap_diag("%s", plain ? "the plain way (h1.c)" : "through libcurl");
    up = new_up();
    if (!tap_ok(d && up, __FILE__, __LINE__, "the server and the upstream thread start"))
      return tap_done();
    tap_run(tests, TAP_COUNT(tests));
    sg_upstream_free(up);
    up = NULL;
  }
  srv.quit = 1;
  MHD_stop_daemon(d);
  sg_log_free(lg);
  return tap_done();
}

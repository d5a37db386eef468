/*
 * upstream_parked.c -- unit tests of the upstream thread's cheap paths (lib/clients/upstream.c):
 * a kept-alive connection stays in the epoll set between transfers ("parked"), so these check
 * what could go wrong with that: the upstream closing a parked connection, connections closed
 * after every answer (their descriptor numbers reused at once), and a thread that is woken only
 * when it sleeps, driven from several threads at once (a lost wake-up costs a call up to a
 * second, the thread's poll period, so 100 calls in a row would take over a minute).  The upstream is a raw
 * socket server in this process, so that when it closes is up to the test.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/sg.h"
#include "clients/upstream.h"
#include "rawserver.h"
#include "tap.h"

/* ------------------------------------------------------------------------------------------ */
/* The server: one thread per connection; answers every request with {"ok":true}, keeps the
 * connection open for keep_ms after each answer (0: closes it at once, saying so) */

static struct {
  int port;
  atomic_int keep_ms, accepted;
} srv;

static const char ANSWER_KEEP[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 11\r\n\r\n{\"ok\":true}";
static const char ANSWER_CLOSE[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Connection: close\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";

static void serve_conn(int fd) {
  char buf[4096];
  while (raw_read_request(fd, buf, sizeof buf)) {
    int keep = atomic_load(&srv.keep_ms);
    const char *a = keep ? ANSWER_KEEP : ANSWER_CLOSE;
    if (send(fd, a, strlen(a), MSG_NOSIGNAL) < 0 || !keep) break;
    /* the next request must come within keep_ms, else the connection is closed under the
     * client's feet, parked */
    struct timeval tv = {keep / 1000, (keep % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  close(fd);
}

static int start_server(void) {
  srv.port = raw_server_start(serve_conn, &srv.accepted);
  return srv.port > 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Calls */

static sg_upstream *up;
static char the_url[64];

typedef struct waiter {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  sg_up_err err;
  long status;
} waiter;

static void on_done(void *ud, const sg_up_result *r) {
  waiter *w = ud;
  pthread_mutex_lock(&w->lock);
  w->err = r->err;
  w->status = r->status;
  w->done = 1;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
}

/* One call to the server, waited for up to 10 s; 1 when it answered 200. */
static int call_ok(void) {
  waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
  if (sg_upstream_post_json(up, the_url, NULL, "{}", 2, 10000, "unit", on_done, &w) != 0) return 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 10;
  pthread_mutex_lock(&w.lock);
  while (!w.done && pthread_cond_timedwait(&w.cond, &w.lock, &ts) == 0) {
  }
  int ok = w.done && w.err == SG_UP_OK && w.status == 200;
  int done = w.done;
  pthread_mutex_unlock(&w.lock);
  if (!done) sleep(11); /* let the call end before w goes out of scope */
  return ok;
}

/* ------------------------------------------------------------------------------------------ */

static void unit_upstream_parked_closed_by_upstream(void) {
  atomic_store(&srv.keep_ms, 100);
  atomic_store(&srv.accepted, 0);
  ok(call_ok(), "a call on a fresh connection");
  ok(call_ok(), "the next one reuses it");
  is_int(atomic_load(&srv.accepted), 1, "one connection so far");
  usleep(400 * 1000); /* the server closes the parked connection */
  ok(call_ok(), "a call after the upstream closed the kept-alive connection succeeds");
  ok(call_ok(), "and the one after it");
  is_int(atomic_load(&srv.accepted), 2, "on a second connection");
}

static void unit_upstream_parked_closed_every_time(void) {
  atomic_store(&srv.keep_ms, 0);
  usleep(300 * 1000); /* a connection kept from before is closed by now */
  atomic_store(&srv.accepted, 0);
  int good = 0;
  for (int i = 0; i < 50; i++) good += call_ok();
  is_int(good, 50, "50 calls, each on a new connection (the descriptor numbers come back)");
  is_int(atomic_load(&srv.accepted), 50, "50 connections");
  atomic_store(&srv.keep_ms, 2000);
  good = 0;
  for (int i = 0; i < 20; i++) good += call_ok();
  is_int(good, 20, "then 20 calls on a kept-alive connection");
}

static void *caller(void *arg) {
  int *good = arg;
  for (int i = 0; i < 100; i++) *good += call_ok();
  return NULL;
}

static void unit_upstream_wakes_from_threads(void) {
  atomic_store(&srv.keep_ms, 5000);
  pthread_t t[4];
  int good[4] = {0, 0, 0, 0};
  uint64_t t0 = sg_now_ns();
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, caller, &good[i]);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  double s = (double)(sg_now_ns() - t0) / 1e9;
  is_int(good[0] + good[1] + good[2] + good[3], 400, "400 calls from 4 threads at once succeed");
  /* each lost wake-up costs up to the thread's 1 s poll period: 400 calls would take minutes */
  ok(s < 40, "without waiting for the thread's poll period (%.1f s)", s);
}

static void unit_upstream_wakes_one_by_one(void) {
  atomic_store(&srv.keep_ms, 5000);
  int good = 0;
  uint64_t t0 = sg_now_ns();
  for (int i = 0; i < 30; i++) good += call_ok();
  double s = (double)(sg_now_ns() - t0) / 1e9;
  is_int(good, 30, "30 calls one after the other succeed");
  /* the thread sleeps between them: each needs its wake-up */
  ok(s < 15, "each without waiting for the thread's poll period (%.1f s)", s);
}

static const tap_test tests[] = {
    TEST(unit_upstream_parked_closed_by_upstream),
    TEST(unit_upstream_parked_closed_every_time),
    TEST(unit_upstream_wakes_from_threads),
    TEST(unit_upstream_wakes_one_by_one),
};

int main(void) {
  sg_log *lg = sg_log_new();
  sg_log_configure(lg, SOULGW_LOG_ERROR, 1);
  if (!tap_ok(start_server() == 0, __FILE__, __LINE__, "the server starts")) return tap_done();
  snprintf(the_url, sizeof the_url, "http://127.0.0.1:%d/v1/x", srv.port);
  /* both ways: the plain client (h1.c) keeps its connections in the set the same way */
  for (int plain = 1; plain >= 0; plain--) {
    tap_diag("%s", plain ? "the plain way (h1.c)" : "through libcurl");
    up = sg_upstream_new(lg);
    if (!tap_ok(up != NULL, __FILE__, __LINE__, "the upstream starts")) return tap_done();
    sg_upstream_set_plain(up, plain);
    tap_run(tests, TAP_COUNT(tests));
    sg_upstream_free(up);
  }
  sg_log_free(lg);
  return tap_done();
}

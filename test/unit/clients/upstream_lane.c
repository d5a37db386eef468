/*
 * upstream_lane.c -- unit tests of the upstream module's lanes (lib/clients/upstream.c): an
 * event loop of the test's own, as a server loop of http/loop.c would run it, binds a lane, and
 * the plain calls made on its thread must be sent, answered and completed on that thread, on
 * kept-alive connections, with their delays, timeouts and retries; libcurl's calls still go to
 * the upstream thread; a cancel_all from another thread, and the lane's end, complete what the
 * lane holds.  The upstream is a raw socket server in this process: it answers {"ok":true} and
 * keeps the connection, except for a path holding "/hang", which it never answers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/sg.h"
#include "clients/upstream.h"
#include "rawserver.h"
#include "tap.h"

static int port;
static atomic_int accepted;

static const char ANSWER[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 11\r\n\r\n{\"ok\":true}";

static void serve_conn(int fd) {
  char buf[4096];
  while (raw_read_request(fd, buf, sizeof buf)) {
    if (strstr(buf, "/hang")) {
      while (recv(fd, buf, sizeof buf, 0) > 0) {
      }
      break;
    }
    if (send(fd, ANSWER, sizeof ANSWER - 1, MSG_NOSIGNAL) < 0) break;
  }
  close(fd);
}

/* ------------------------------------------------------------------------------------------ */
/* The loop: runs tasks the test posts, and the lane */

static sg_upstream *up;

typedef struct task {
  void (*fn)(void *arg);
  void *arg;
} task;

static struct {
  pthread_t thread;
  int ep, efd;
  sg_up_lane *lane;
  pthread_mutex_t lock;
  task tasks[8];
  int ntasks, stop, woken;
} L = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void loop_wake(void *arg) {
  (void)arg;
  uint64_t one = 1;
  pthread_mutex_lock(&L.lock);
  L.woken++;
  pthread_mutex_unlock(&L.lock);
  while (write(L.efd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

static void *loop_main(void *arg) {
  (void)arg;
  struct epoll_event evs[16];
  L.lane = sg_up_lane_new(up, L.ep, loop_wake, NULL);
  for (;;) {
    pthread_mutex_lock(&L.lock);
    task t[8];
    int n = L.ntasks, stop = L.stop;
    memcpy(t, L.tasks, sizeof t);
    L.ntasks = 0;
    pthread_mutex_unlock(&L.lock);
    for (int i = 0; i < n; i++) t[i].fn(t[i].arg);
    if (stop) break;
    int ms = sg_up_lane_turn(L.lane);
    int k = epoll_wait(L.ep, evs, 16, ms);
    for (int i = 0; i < k; i++) {
      if (evs[i].data.fd == L.efd) {
        uint64_t v;
        while (read(L.efd, &v, sizeof v) < 0 && errno == EINTR) {
        }
      } else if (!sg_up_lane_event(L.lane, evs[i].data.fd, evs[i].events)) {
        tap_diag("an event on a descriptor the lane does not know: %d", evs[i].data.fd);
      }
    }
  }
  sg_up_lane_free(L.lane);
  L.lane = NULL;
  return NULL;
}

/* Runs fn(arg) on the loop's thread (soon). */
static void post(void (*fn)(void *), void *arg) {
  pthread_mutex_lock(&L.lock);
  L.tasks[L.ntasks++] = (task){fn, arg};
  pthread_mutex_unlock(&L.lock);
  uint64_t one = 1;
  while (write(L.efd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

static int loop_start(void) {
  L.stop = L.ntasks = 0;
  L.ep = epoll_create1(EPOLL_CLOEXEC);
  L.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = L.efd};
  if (L.ep < 0 || L.efd < 0 || epoll_ctl(L.ep, EPOLL_CTL_ADD, L.efd, &ev) != 0) return -1;
  return pthread_create(&L.thread, NULL, loop_main, NULL);
}

static void loop_stop_fn(void *arg) {
  (void)arg;
  L.stop = 1;
}

static void loop_stop(void) {
  post(loop_stop_fn, NULL);
  pthread_join(L.thread, NULL);
  close(L.ep);
  close(L.efd);
}

/* ------------------------------------------------------------------------------------------ */
/* Calls, made on the loop's thread */

typedef struct call {
  const char *path;
  long timeout_ms, delay_ms;
  int retries; /* calls made again from the done callback */
  int host_name; /* "localhost": libcurl's way */
  /* the outcome */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done, calls, start_rc;
  sg_up_err err;
  long status;
  int on_loop;  /* every callback ran on the loop's thread */
  uint64_t t0, t1;
} call;

static void start_call(void *arg);

static void on_done(void *ud, const sg_up_result *r) {
  call *c = ud;
  int on_loop = pthread_equal(pthread_self(), L.thread);
  if (c->retries > 0 && r->err == SG_UP_OK) {
    c->retries--;
    c->on_loop &= on_loop;
    start_call(c); /* a retry, from the callback */
    return;
  }
  pthread_mutex_lock(&c->lock);
  c->err = r->err;
  c->status = r->status;
  c->on_loop &= on_loop;
  c->t1 = sg_now_ns();
  c->done = 1;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->lock);
}

static void start_call(void *arg) {
  call *c = arg;
  char url[128];
  snprintf(url, sizeof url, "http://%s:%d%s", c->host_name ? "localhost" : "127.0.0.1", port,
           c->path);
  sg_up_req r = {.url = url, .body = "{}", .body_len = 2, .timeout_ms = c->timeout_ms,
                 .delay_ms = c->delay_ms, .label = "unit", .done = on_done, .ud = c};
  c->calls++;
  int rc = sg_upstream_call(up, &r);
  if (rc != 0) {
    pthread_mutex_lock(&c->lock);
    c->start_rc = rc;
    c->done = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
  }
}

static void call_init(call *c, const char *path) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->cond, NULL);
  c->path = path;
  c->timeout_ms = 10000;
  c->on_loop = 1;
}

/* Waits up to s seconds for c; 1 when it is done. */
static int call_wait(call *c, int s) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += s;
  pthread_mutex_lock(&c->lock);
  while (!c->done && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0) {
  }
  int done = c->done;
  pthread_mutex_unlock(&c->lock);
  return done;
}

/* Makes c on the loop and waits for it. */
static int run_call(call *c) {
  c->t0 = sg_now_ns();
  post(start_call, c);
  return call_wait(c, 15);
}

/* ------------------------------------------------------------------------------------------ */

static void unit_lane_calls_complete_on_the_loop(void) {
  atomic_store(&accepted, 0);
  int good = 0, on_loop = 1;
  for (int i = 0; i < 20; i++) {
    call c;
    call_init(&c, "/v1/x");
    good += run_call(&c) && c.err == SG_UP_OK && c.status == 200;
    on_loop &= c.on_loop;
  }
  is_int(good, 20, "20 calls made on the loop's thread succeed");
  ok(on_loop, "each completes on the loop's thread");
  is_int(atomic_load(&accepted), 1, "all on one kept-alive connection");
}

static void unit_lane_retry_from_the_callback(void) {
  call c;
  call_init(&c, "/v1/x");
  c.retries = 3;
  ok(run_call(&c) && c.err == SG_UP_OK && c.status == 200,
     "a call made again three times from its done callback succeeds");
  is_int(c.calls, 4, "four calls in all");
  ok(c.on_loop, "each completed on the loop's thread");
}

static void unit_lane_delay_and_timeout(void) {
  call c;
  call_init(&c, "/v1/x");
  c.delay_ms = 300;
  ok(run_call(&c) && c.err == SG_UP_OK, "a call with a delay (a retry's backoff) succeeds");
  double ms = (double)(c.t1 - c.t0) / 1e6;
  ok(ms >= 290, "after its delay (%.0f ms)", ms);
  call h;
  call_init(&h, "/hang");
  h.timeout_ms = 300;
  ok(run_call(&h) && h.err == SG_UP_TIMEOUT, "a call the upstream never answers times out");
  ms = (double)(h.t1 - h.t0) / 1e6;
  ok(ms >= 290 && ms < 5000, "after its timeout, kept by the lane's turns (%.0f ms)", ms);
  ok(h.on_loop, "and completes on the loop's thread");
}

static void unit_lane_libcurl_calls_go_to_the_thread(void) {
  call c;
  call_init(&c, "/v1/x");
  c.host_name = 1;
  ok(run_call(&c) && c.err == SG_UP_OK && c.status == 200,
     "a call to a host name (libcurl's way) made on the loop's thread succeeds");
  ok(!c.on_loop, "and completes on the upstream thread, not the loop's");
}

/* Makes h a call the upstream never answers, under way on the lane when this returns. */
static void start_hanging(call *h) {
  call_init(h, "/hang");
  h->timeout_ms = 60000;
  post(start_call, h);
  usleep(200 * 1000);
}

static void unit_lane_cancel_all_from_another_thread(void) {
  call h;
  start_hanging(&h);
  pthread_mutex_lock(&L.lock);
  int woken = L.woken;
  pthread_mutex_unlock(&L.lock);
  uint64_t t0 = sg_now_ns();
  sg_upstream_cancel_all(up);
  int done = h.done; /* read after cancel_all: it returns once the callbacks ran */
  ok(done, "cancel_all from another thread returns once the lane's call completed");
  ok(call_wait(&h, 5) && h.err == SG_UP_CANCELLED, "with SG_UP_CANCELLED");
  ok(h.on_loop, "on the loop's thread");
  pthread_mutex_lock(&L.lock);
  ok(L.woken > woken, "the lane woke its loop for it");
  pthread_mutex_unlock(&L.lock);
  ok(sg_now_ns() - t0 < 5000000000ull, "at once, not at the call's timeout");
  call c;
  call_init(&c, "/v1/x");
  ok(run_call(&c) && c.start_rc == SOULGW_ESTATE, "a call made on the lane afterwards is refused");
}

static const tap_test tests[] = {
    TEST(unit_lane_calls_complete_on_the_loop),
    TEST(unit_lane_retry_from_the_callback),
    TEST(unit_lane_delay_and_timeout),
    TEST(unit_lane_libcurl_calls_go_to_the_thread),
    TEST(unit_lane_cancel_all_from_another_thread),
};

/* The lane's end completes a call it still holds (a second upstream: the first refuses). */
static void unit_lane_free_cancels(void) {
  call h;
  start_hanging(&h);
  loop_stop();
  ok(h.done && h.err == SG_UP_CANCELLED, "the lane's end completes its call with SG_UP_CANCELLED");
  ok(h.on_loop, "on the loop's thread");
}

int main(void) {
  sg_log *lg = sg_log_new();
  sg_log_configure(lg, SOULGW_LOG_ERROR, 1);
  port = raw_server_start(serve_conn, &accepted);
  if (!tap_ok(port > 0, __FILE__, __LINE__, "the server starts")) return tap_done();
  up = sg_upstream_new(lg);
  if (!tap_ok(up && loop_start() == 0, __FILE__, __LINE__, "the upstream and the loop start"))
    return tap_done();
  tap_run(tests, TAP_COUNT(tests));
  loop_stop();
  sg_upstream_free(up);
  up = sg_upstream_new(lg);
  if (!tap_ok(up && loop_start() == 0, __FILE__, __LINE__, "a second upstream and loop start"))
    return tap_done();
  static const tap_test last[] = {TEST(unit_lane_free_cancels)};
  tap_run(last, TAP_COUNT(last));
  sg_upstream_free(up);
  sg_log_free(lg);
  return tap_done();
}

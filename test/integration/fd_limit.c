/*
 * fd_limit.c -- more connections than the open-file limit allows.  The gateway runs under a
 * hard limit of 600 open files with max_connections = 10000: it says at start how many it
 * serves (600 less what it keeps for itself), and a crowd of 800 clients gets served that many
 * at a time, the rest waiting to be accepted, never running the gateway out of files (where
 * libmicrohttpd stalls, and may abort at stop); it keeps serving and stops cleanly afterwards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

#define LIMIT 600
#define CROWD 800

static gwproc gw;

static const char *const toml =
    "[server]\nport = 0\nthreads = 2\nmax_connections = 10000\nmax_connections_per_ip = 0\n"
    "connection_timeout_s = 60\nheader_timeout_s = 60\ndrain_timeout_s = 5\n"
    "[log]\nlevel = \"info\"\naccess = false\n";

/* How a crowd of connections fared. */
typedef struct outcome {
  int first;    /* answered while all of them stayed open */
  int answered; /* in all */
  int closed;   /* closed by the gateway without an answer */
  int hung;     /* neither, in the end */
} outcome;

/* Reads what came on the connections not done yet, until a quiet of quiet_ms or until
 * deadline; counts answers and closes into o, marks them done (answered ones in ans). */
static void collect(int *fds, char *done, char *ans, int n, outcome *o, int quiet_ms,
                    long long deadline, int leave) {
  struct pollfd *p = calloc((size_t)n, sizeof *p);
  int *which = calloc((size_t)n, sizeof *which);
  long long last = now_ms();
  while (now_ms() < deadline && now_ms() - last < quiet_ms) {
    int k = 0;
    for (int i = 0; i < n; i++)
      if (!done[i]) {
        which[k] = i;
        p[k++] = (struct pollfd){fds[i], POLLIN, 0};
      }
    if (!k) break;
    if (poll(p, (nfds_t)k, 100) <= 0) continue;
    last = now_ms();
    for (int j = 0; j < k; j++) {
      if (!p[j].revents) continue;
      int i = which[j];
      char buf[512];
      ssize_t r = recv(fds[i], buf, sizeof buf - 1, 0);
      if (r > 0 && strncmp(buf, "HTTP/1.1 ", 9) == 0) {
        o->answered++;
        ans[i] = 1;
        if (leave) close(fds[i]); /* and makes room for the next */
      } else {
        o->closed++;
      }
      done[i] = 1;
    }
  }
  free(which);
  free(p);
}

/* The crowd, in a process of its own (the test's is held to the gateway's limit): n clients
 * ask for /health at once and stay; then each answered one leaves, and the rest must be
 * served or closed. */
static outcome crowd(int port, int n) {
  static const char req[] = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
  outcome o = {0, 0, 0, 0};
  int *fds = calloc((size_t)n, sizeof *fds);
  char *done = calloc((size_t)n, 1), *ans = calloc((size_t)n, 1);
  for (int i = 0; i < n; i++) {
    fds[i] = raw_connect_port(port);
    if (fds[i] < 0 || send(fds[i], req, sizeof req - 1, MSG_NOSIGNAL) < 0) {
      o.closed++;
      done[i] = 1;
    }
  }
  collect(fds, done, ans, n, &o, 3000, now_ms() + 30000, 0);
  o.first = o.answered;
  for (int i = 0; i < n; i++)
    if (ans[i]) close(fds[i]);
  collect(fds, done, ans, n, &o, 30000, now_ms() + 30000, 1);
  for (int i = 0; i < n; i++) {
    if (!done[i]) o.hung++;
    if (fds[i] >= 0 && !ans[i]) close(fds[i]);
  }
  free(fds);
  free(done);
  free(ans);
  return o;
}

static int to_crowd[2], from_crowd[2];

/* Forked before the limit is lowered: waits for the port, runs the crowd, writes the outcome. */
static void crowd_process(void) {
  int port;
  if (read(to_crowd[0], &port, sizeof port) != sizeof port) _exit(1);
  outcome o = crowd(port, CROWD);
  _exit(write(from_crowd[1], &o, sizeof o) == sizeof o ? 0 : 1);
}

static void fd_limit_crowd(void) {
  ok(gw_log_has(&gw, "server.max_connections does not fit the open-file limit"),
     "the start says that max_connections does not fit the open-file limit");
  ok(gw_log_has(&gw, "\"serving_at_most\":344"), "and how many connections it serves (600 - 256)");
  outcome o = {0, 0, 0, 0};
  ok(write(to_crowd[1], &gw.port, sizeof gw.port) == sizeof gw.port &&
         read(from_crowd[0], &o, sizeof o) == sizeof o,
     "a crowd of 800 clients, more than the gateway's 600 open files");
  tap_diag("%d answered at first, %d in all, %d closed, %d hung", o.first, o.answered, o.closed,
           o.hung);
  ok(o.first >= 300 && o.first <= 344, "at most 344 served at once");
  is_int(o.hung, 0, "once those leave, every other one is served or closed: none hangs");
  is_int(o.answered + o.closed, CROWD, "all 800 accounted for");
  ok(!gw_log_has(&gw, "resource limit"), "the gateway never ran out of open files");
  http_resp r = {0};
  http_get(&gw, "/health", &r);
  is_int(r.status, 200, "the crowd gone, the gateway serves");
  resp_free(&r);
}

static const tap_test tests[] = {{"fd_limit_crowd", fd_limit_crowd}};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  if (pipe(to_crowd) || pipe(from_crowd)) return tap_done();
  pid_t crowd_pid = fork();
  if (crowd_pid == 0) crowd_process();
  /* the gateway inherits these, and cannot raise them past the hard one */
  struct rlimit rl = {LIMIT, LIMIT};
  if (!ok(setrlimit(RLIMIT_NOFILE, &rl) == 0, "an open-file limit of 600")) return tap_done();
  if (!ok(gw_start(&gw, harness_soulgw_bin(), toml, NULL, NULL) == 0, "the gateway starts"))
    return tap_done();
  tap_run(tests, TAP_COUNT(tests));
  is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
  kill(crowd_pid, SIGKILL);
  waitpid(crowd_pid, NULL, 0);
  return tap_done();
}

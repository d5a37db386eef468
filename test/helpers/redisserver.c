/*
 * redisserver.c -- a real Redis for the tests (redisserver.h): redis-server in the foreground
 * as a child, with --save "" and --appendonly no in a fresh temporary directory; stopped with
 * SIGTERM.  Test code may call hiredis directly; the library calls it from lib/clients/redis.c
 * only.
 */
#include <arpa/inet.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "redisserver.h"
#include "tap.h"

static struct {
  int state; /* 0 not tried, 1 running, 2 absent, 3 failed */
  char bin[256];
  char dir[64];
  int port;
  pid_t pid, owner;
} srv;

static int find_bin(void) {
  const char *cands[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"};
  for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
    if (access(cands[i], X_OK) == 0) {
      snprintf(srv.bin, sizeof srv.bin, "%s", cands[i]);
      return 1;
    }
  return 0;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

static redisContext *connect_db(int db) {
  struct timeval tv = {2, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  redisReply *r = redisCommand(c, "AUTH %s", REDISSERVER_PASSWORD);
  int ok = r && r->type != REDIS_REPLY_ERROR;
  freeReplyObject(r);
  if (ok && db) {
    r = redisCommand(c, "SELECT %d", db);
    ok = r && r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
  }
  if (!ok) {
    redisFree(c);
    return NULL;
  }
  return c;
}

/* Spawns redis-server on srv.port and waits until it answers: 0 or -1. */
static int spawn(void) {
  char port[16], log[128];
  snprintf(port, sizeof port, "%d", srv.port);
  snprintf(log, sizeof log, "%s/redis.log", srv.dir);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execl(srv.bin, srv.bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
          "--appendonly", "no", "--dir", srv.dir, "--requirepass", REDISSERVER_PASSWORD,
          "--daemonize", "no", "--logfile", log, "--protected-mode", "no", (char *)NULL);
    _exit(127);
  }
  srv.pid = pid;
  for (int i = 0; i < 500; i++) { /* 10 s */
    redisContext *c = connect_db(0);
    if (c) {
      redisFree(c);
      return 0;
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      srv.pid = 0;
      return -1;
    }
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  srv.pid = 0;
  return -1;
}

static void kill_server(void) {
  if (srv.pid <= 0) return;
  kill(srv.pid, SIGTERM);
  waitpid(srv.pid, NULL, 0);
  srv.pid = 0;
}

static void stop_at_exit(void) { redisserver_stop(); }

static int start(void) {
  if (!find_bin()) return 1;
  snprintf(srv.dir, sizeof srv.dir, "/tmp/soulgw-redis-XXXXXX");
  if (!mkdtemp(srv.dir)) return -1;
  for (int tries = 0; tries < 5; tries++) {
    srv.port = free_port();
    if (spawn() == 0) return 0;
  }
  tap_diag("redisserver: redis-server did not start, see %s/redis.log", srv.dir);
  return -1;
}

int redisserver_start(void) {
  if (srv.state == 0) {
    int rc = start();
    srv.state = rc == 0 ? 1 : rc > 0 ? 2 : 3;
    if (srv.state == 1) {
      srv.owner = getpid();
      atexit(stop_at_exit);
    }
  }
  return srv.state == 1 ? 0 : srv.state == 2 ? 1 : -1;
}

void redisserver_stop(void) {
  if (srv.state != 1 || srv.owner != getpid()) return;
  kill_server();
  run_cmd((const char *[]){"rm", "-rf", srv.dir, NULL}, NULL, NULL);
  srv.state = 0;
  srv.port = 0;
}

int redisserver_pause(void) {
  if (srv.state != 1 || srv.pid <= 0) return -1;
  kill_server();
  return 0;
}

int redisserver_resume(void) {
  if (srv.state != 1 || srv.pid > 0) return -1;
  return spawn();
}

int redisserver_port(void) { return srv.state == 1 ? srv.port : 0; }

void redisserver_url(char *out, size_t len, int db) {
  snprintf(out, len, "redis://:%s@127.0.0.1:%d/%d", REDISSERVER_PASSWORD, srv.port, db);
}

long long redisserver_cmd(int db, const char *command) {
  char buf[512], *save = NULL;
  const char *argv[16];
  int argc = 0;
  snprintf(buf, sizeof buf, "%s", command);
  for (char *t = strtok_r(buf, " ", &save); t && argc < 16; t = strtok_r(NULL, " ", &save))
    argv[argc++] = t;
  redisContext *c = connect_db(db);
  if (!c) return -1;
  redisReply *r = redisCommandArgv(c, argc, argv, NULL);
  long long v = -1;
  if (r && r->type == REDIS_REPLY_INTEGER) v = r->integer;
  else if (r && r->type == REDIS_REPLY_ARRAY) v = (long long)r->elements;
  else if (r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING)) v = 0;
  else if (r && r->type == REDIS_REPLY_NIL) v = -2;
  freeReplyObject(r);
  redisFree(c);
  return v;
}

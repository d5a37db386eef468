/*
 * rawserver.c -- a raw HTTP/1.1 server on loopback for the outbound client tests (see
 * rawserver.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rawserver.h"

int raw_read_request(int fd, char *buf, size_t cap) {
  size_t have = 0;
  for (;;) {
    ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
    if (n <= 0) return 0;
    have += (size_t)n;
    buf[have] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) continue;
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t body = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
    if (have >= (size_t)(end + 4 - buf) + body) return 1;
  }
}

typedef struct server {
  int fd;
  void (*conn)(int fd);
  atomic_int *accepted;
} server;

typedef struct conn_arg {
  void (*conn)(int fd);
  int fd;
} conn_arg;

static void *run_conn(void *arg) {
  conn_arg a = *(conn_arg *)arg;
  free(arg);
  a.conn(a.fd);
  return NULL;
}

static void *accept_loop(void *arg) {
  server *s = arg;
  for (;;) {
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) return NULL;
    atomic_fetch_add(s->accepted, 1);
    conn_arg *a = malloc(sizeof *a);
    pthread_t t;
    if (a) *a = (conn_arg){s->conn, c};
    if (a && pthread_create(&t, NULL, run_conn, a) == 0) {
      pthread_detach(t);
    } else {
      free(a);
      close(c);
    }
  }
}

int raw_server_start(void (*conn)(int fd), atomic_int *accepted) {
  static server s; /* one per test program */
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  s.fd = socket(AF_INET, SOCK_STREAM, 0);
  s.conn = conn;
  s.accepted = accepted;
  if (s.fd < 0 || bind(s.fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s.fd, 64) != 0 ||
      getsockname(s.fd, (struct sockaddr *)&a, &len) != 0)
    return -1;
  pthread_t t;
  if (pthread_create(&t, NULL, accept_loop, &s) != 0) return -1;
  pthread_detach(t);
  return ntohs(a.sin_port);
}

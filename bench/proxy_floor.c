/*
 * proxy_floor.c -- the cheapest proxy that can be built the way soulgw was built before its
 * server loops (http/loop.c): libmicrohttpd's thread pool (epoll) takes the request, suspends
 * the connection and hands it to one relay thread, which forwards the body with soulgw's own HTTP/1.1 client
 * (lib/clients/h1.c, kept-alive connections) and resumes the connection with the upstream's
 * answer.  No authentication, routing, JSON, metrics or log: what is left is libmicrohttpd's
 * deferral protocol (suspend, an inter-thread channel, resume) and the two sockets.
 *
 *   proxy_floor PORT UPSTREAM_URL [THREADS [loop]]
 *
 * With "loop", soulgw's design now: one event loop per thread holding both sides of a request, as
 * nginx's workers do.  Each thread runs its own libmicrohttpd daemon in external mode (epoll)
 * on the shared listening socket and its own HTTP/1.1 client on one epoll set with it; a
 * request is forwarded and resumed by the thread that read it, so no request crosses threads.
 *
 * bench/run sets it beside nginx (the proxy ceiling) and soulgw, so that the gap between
 * nginx and soulgw splits into what the architecture costs (nginx against this floor) and what
 * soulgw's own work costs (this floor against soulgw).
 */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/sg.h"
#include "clients/h1.h"

typedef struct relay relay;

typedef struct xfer {
  sg_h1_call call; /* first: h1 hands it back */
  struct xfer *next;
  struct MHD_Connection *conn;
  sg_buf in, out;
  char head[512];
  long status;
  int done, failed;
} xfer;

struct relay {
  pthread_mutex_t lock;
  xfer *queue;
  atomic_int sleeping;
  int ep, efd;
  sg_h1 *h1;
  const char *url;
  sg_h1_target target;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* "loop": each thread's own client; a resume from the thread itself is run at once */
static __thread sg_h1 *own_h1;
static __thread int own_resumed;

static int on_head(sg_h1_call *c, const char **msg) {
  (void)c;
  (void)msg;
  return 0;
}

static int on_body(sg_h1_call *c, const char *data, size_t len, const char **msg) {
  (void)msg;
  return sg_buf_append(&((xfer *)(void *)c)->out, data, len) ? SG_UP_OTHER : 0;
}

static void on_done(sg_h1_call *c, sg_up_err err, const char *msg) {
  xfer *x = (xfer *)(void *)c;
  (void)msg;
  x->status = c->status;
  x->failed = err != SG_UP_OK;
  x->done = 1;
  MHD_resume_connection(x->conn);
  own_resumed = 1;
}

static void *relay_main(void *arg) {
  (void)arg;
  struct epoll_event evs[64];
  for (;;) {
    pthread_mutex_lock(&R.lock);
    xfer *q = R.queue;
    R.queue = NULL;
    pthread_mutex_unlock(&R.lock);
    while (q) {
      xfer *n = q->next;
      if (sg_h1_start(R.h1, &q->call) != 0) on_done(&q->call, SG_UP_OTHER, "");
      q = n;
    }
    atomic_store(&R.sleeping, 1);
    pthread_mutex_lock(&R.lock);
    int pending = R.queue != NULL;
    pthread_mutex_unlock(&R.lock);
    int n = epoll_wait(R.ep, evs, 64, pending ? 0 : 1000);
    atomic_store(&R.sleeping, 0);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.fd == R.efd) {
        uint64_t v;
        while (read(R.efd, &v, sizeof v) < 0 && errno == EINTR) {
        }
        continue;
      }
      sg_h1_event(R.h1, evs[i].data.fd, evs[i].events);
    }
  }
  return NULL;
}

static void submit(xfer *x) {
  pthread_mutex_lock(&R.lock);
  int was_empty = R.queue == NULL;
  x->next = R.queue;
  R.queue = x;
  pthread_mutex_unlock(&R.lock);
  uint64_t one = 1;
  if (was_empty && atomic_load(&R.sleeping)) (void)!write(R.efd, &one, sizeof one);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state) {
  (void)cls;
  (void)url;
  (void)method;
  (void)version;
  xfer *x = *state;
  if (!x) {
    x = calloc(1, sizeof *x);
    sg_buf_init(&x->in, 0);
    sg_buf_init(&x->out, 0);
    x->conn = c;
    *state = x;
    return MHD_YES;
  }
  if (*upload_size) {
    sg_buf_append(&x->in, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (!x->done) {
    static const char *const hdrs[] = {"Content-Type: application/json",
                                       "Authorization: Bearer sk-mock", NULL};
    x->call.target = R.target;
    x->call.head_len = sg_h1_head(x->head, sizeof x->head, "POST", &R.target, hdrs, x->in.len);
    x->call.head = x->head;
    x->call.body = x->in.ptr;
    x->call.body_len = x->in.len;
    x->call.on_head = on_head;
    x->call.on_body = on_body;
    x->call.on_done = on_done;
    MHD_suspend_connection(c);
    if (own_h1) sg_h1_start(own_h1, &x->call);
    else submit(x);
    return MHD_YES;
  }
  size_t len;
  char *body = sg_buf_detach(&x->out, &len);
  struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(
      len, body ? body : strdup(""), free);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, x->failed ? 502 : (unsigned)x->status, r);
  MHD_destroy_response(r);
  return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  xfer *x = *state;
  if (!x) return;
  sg_buf_free(&x->in);
  sg_buf_free(&x->out);
  free(x);
  *state = NULL;
}

/* One thread of the "loop" design: its daemon on the shared socket, its client, one epoll set. */
static void *loop_main(void *arg) {
  int lfd = (int)(intptr_t)arg;
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, handle, NULL,
      MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd, MHD_OPTION_CONNECTION_LIMIT, 5000u,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16u * 1024u), MHD_OPTION_NOTIFY_COMPLETED,
      completed, NULL, MHD_OPTION_END);
  if (!d) {
    perror("MHD_start_daemon");
    exit(1);
  }
  int mep = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = mep};
  epoll_ctl(ep, EPOLL_CTL_ADD, mep, &ev);
  own_h1 = sg_h1_new(ep);
  struct epoll_event evs[64];
  for (;;) {
    MHD_UNSIGNED_LONG_LONG to;
    int ms = MHD_get_timeout(d, &to) == MHD_YES ? (to > 1000 ? 1000 : (int)to) : 1000;
    int n = epoll_wait(ep, evs, 64, ms);
    int run = n == 0;
    own_resumed = 0;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.fd == mep) run = 1;
      else sg_h1_event(own_h1, evs[i].data.fd, evs[i].events);
    }
    if (run || own_resumed) MHD_run(d);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: proxy_floor PORT UPSTREAM_URL [THREADS]\n");
    return 64;
  }
  int port = atoi(argv[1]);
  unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 2u;
  R.url = argv[2];
  if (sg_h1_parse_url(R.url, &R.target) != 0) {
    fprintf(stderr, "proxy_floor: the upstream must be http:// at an IP address\n");
    return 64;
  }
  if (argc > 4 && strcmp(argv[4], "loop") == 0) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 1024) != 0) {
      perror("listen");
      return 1;
    }
    pthread_t lt;
    for (unsigned i = 1; i < threads; i++)
      pthread_create(&lt, NULL, loop_main, (void *)(intptr_t)lfd);
    loop_main((void *)(intptr_t)lfd);
    return 0;
  }
  R.ep = epoll_create1(EPOLL_CLOEXEC);
  R.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = R.efd};
  epoll_ctl(R.ep, EPOLL_CTL_ADD, R.efd, &ev);
  R.h1 = sg_h1_new(R.ep);
  pthread_t t;
  pthread_create(&t, NULL, relay_main, NULL);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, (uint16_t)port,
      NULL, NULL, handle, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
      MHD_OPTION_CONNECTION_LIMIT, 10000u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)(16u * 1024u), MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
  if (!d) {
    perror("MHD_start_daemon");
    return 1;
  }
  pause();
  return 0;
}

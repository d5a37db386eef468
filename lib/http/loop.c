/*
 * loop.c -- one event loop per thread (see loop.h).
 *
 * Each loop waits in epoll_wait() on one set holding the listening socket (every idle loop
 * wakes for a new connection and they race to accept it, up to ACCEPTS_MAX per wake-up: with
 * EPOLLEXCLUSIVE the first loop in the socket's wait queue took every connection made while it
 * was idle), its server's descriptor (libmicrohttpd's own epoll set, readable when a connection
 * has something), its wake-up eventfd and its companion's descriptors (the upstream
 * connections of the calls its requests made).  A turn runs the server when it has work
 * (which reads requests and runs their handlers), then the companion (which sends the calls
 * those handlers made); an answer from upstream completes its call on the same thread, which
 * resumes the connection, and the server runs again before the loop sleeps.
 *
 * Another thread that resumes a connection of a loop (a handler answering from elsewhere)
 * marks the loop and writes its eventfd only when the loop sleeps or is about to: a loop looks
 * at the mark after it says it sleeps, and again when it wakes.
 *
 * The server may hold connections waiting for an answer without suspending them (mhd.c): they
 * keep its timeout at 0, so after a turn that found nothing new the loop waits HOLD_WAIT_MS for
 * their answers (an event, or a poke) instead of spinning.
 *
 * Balance: the loop that accepts a connection serves it only when no other loop serves fewer;
 * otherwise it hands it to the one that serves fewest (its inbox, then a wake-up), which adds it
 * to its server at its next turn.  Racing alone did not spread a burst: when the clients'
 * threads held the other cores, the first loop to wake accepted one connection after another
 * before the others ran, and all 64 connections of a wrk run ended up on one loop in two runs
 * out of six, halving throughput.  A loop with INBOX_MAX connections not yet taken is busy in a
 * handler and is passed over.
 *
 * Limits: a connection is counted from its accept() to its close.  accept() reserves a ticket
 * (the count of its address, when there is a per-address limit); the server's start notice,
 * called within add on the same thread, claims it; a connection the server never started gives
 * it back at once.  Past max_connections a loop takes the listening socket out of its set until
 * the count falls (connections wait in the backlog, as libmicrohttpd does at its limit).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/sg.h"
#include "http/loop.h"

#define EVENTS_MAX 64
/* Connections accepted per wake-up.  Each goes to the loop serving fewest (pick), so a burst
 * taken at once is spread as one taken connection by connection.  One per wake-up (nginx's
 * multi_accept off) left a burst's last connections in the backlog for as many turns: with 1024
 * connections made at once to /api/llm/complete, a turn took tens of milliseconds, the backlog
 * held 50 to 400 for up to a second, and those requests waited up to 2 s. */
#define ACCEPTS_MAX SG_LOOP_ACCEPTS_MAX
#define SLEEP_MAX_MS 1000
#define PAUSED_MS 50      /* how often a loop at the connection limit looks again */
#define HOLD_WAIT_MS 1    /* the wait of a turn after one that found nothing, connections held */
#define IP_BUCKETS 1024
#define INBOX_MAX ACCEPTS_MAX /* connections handed to a loop and not yet taken by it */

/* A ticket: the connections of one address (per-address limit), or the one ticket every
 * connection shares when there is no such limit. */
struct sg_loop_ticket {
  sg_loops *ls;
  struct sg_loop_ticket *next; /* in its bucket */
  unsigned count;
  unsigned char key[17]; /* family, then the address (IPv4 in the first 4 bytes) */
};

/* A connection accepted by one loop for another. */
typedef struct sg_handed {
  int fd;
  socklen_t len;
  struct sockaddr_storage addr;
  sg_loop_ticket *t;
} sg_handed;

struct sg_loop {
  sg_loops *ls;
  char label[12]; /* its index, the label of its connections gauge */
  void *srv;
  void *comp;
  int ep, srv_fd, wake;
  int listening; /* the listening socket is in ep */
  uint64_t relisten_at; /* accept() failed: not before this (monotonic ns) */
  int run;       /* run the server before sleeping (this thread's own marks) */
  int held;      /* connections its server holds (sg_loop_hold) */
  atomic_int pending; /* run it: marked by another thread */
  atomic_int sleeping;
  pthread_t thread;
  int started;
  atomic_uint conns; /* the connections it serves or was handed */
  pthread_mutex_t inbox_lock;
  atomic_uint inbox_n;
  sg_handed inbox[INBOX_MAX];
};

struct sg_loops {
  int listen_fd;
  unsigned n;
  sg_loop *loops;
  sg_loop_server srv;
  sg_http_companion comp;
  int has_comp;
  sg_log *log;
  sg_family *gauge; /* soulgw_http_connections{loop}, or NULL */
  atomic_int stop;
  atomic_int quiesced; /* accept no more */
  atomic_uint conns;
  unsigned max_conns, per_ip;
  sg_loop_ticket shared; /* without a per-address limit */
  pthread_mutex_t ip_lock;
  sg_loop_ticket *ips[IP_BUCKETS];
};

static __thread sg_loop *tl_loop;
static __thread sg_loop_ticket *tl_reserved; /* accepted, not yet claimed by the server */

sg_loop *sg_loop_current(void) { return tl_loop; }

void sg_loop_hold(int delta) {
  if (tl_loop) tl_loop->held += delta;
}

/* ------------------------------------------------------------------------------------------ */
/* Tickets */

static unsigned key_bucket(const unsigned char key[17]) {
  unsigned h = 2166136261u; /* FNV-1a */
  for (int i = 0; i < 17; i++) h = (h ^ key[i]) * 16777619u;
  return h % IP_BUCKETS;
}

/* The key of ss's address, and its bucket. */
static unsigned ip_key(const struct sockaddr_storage *ss, unsigned char key[17]) {
  memset(key, 0, 17);
  key[0] = (unsigned char)ss->ss_family;
  if (ss->ss_family == AF_INET)
    memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
  else if (ss->ss_family == AF_INET6)
    memcpy(key + 1, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
  return key_bucket(key);
}

/* A ticket for a connection from ss, or NULL when its address is at the per-address limit or
 * memory is short. */
static sg_loop_ticket *ticket_take(sg_loops *ls, const struct sockaddr_storage *ss) {
  if (!ls->per_ip) return &ls->shared;
  unsigned char key[17];
  unsigned b = ip_key(ss, key);
  pthread_mutex_lock(&ls->ip_lock);
  sg_loop_ticket *t = ls->ips[b];
  while (t && memcmp(t->key, key, sizeof key) != 0) t = t->next;
  if (!t && (t = calloc(1, sizeof *t)) != NULL) {
    t->ls = ls;
    memcpy(t->key, key, sizeof key);
    t->next = ls->ips[b];
    ls->ips[b] = t;
  }
  if (t && t->count >= ls->per_ip) t = NULL;
  if (t) t->count++;
  pthread_mutex_unlock(&ls->ip_lock);
  return t;
}

/* The connections l serves move by delta. */
static void loop_count(sg_loop *l, int delta) {
  atomic_fetch_add_explicit(&l->conns, (unsigned)delta, memory_order_relaxed);
  sg_family_move(l->ls->gauge, (const char *[]){l->label}, delta);
}

void sg_loop_release(sg_loop *l, sg_loop_ticket *t) {
  if (!t) return;
  sg_loops *ls = t->ls;
  if (l) loop_count(l, -1);
  atomic_fetch_sub(&ls->conns, 1);
  if (t == &ls->shared) return;
  pthread_mutex_lock(&ls->ip_lock);
  if (--t->count == 0) {
    sg_loop_ticket **pp = &ls->ips[key_bucket(t->key)];
    while (*pp != t) pp = &(*pp)->next;
    *pp = t->next;
    free(t);
  }
  pthread_mutex_unlock(&ls->ip_lock);
}

sg_loop_ticket *sg_loop_claim(void) {
  sg_loop_ticket *t = tl_reserved;
  tl_reserved = NULL;
  return t;
}

/* ------------------------------------------------------------------------------------------ */
/* The loop */

static void wake(sg_loop *l) {
  uint64_t one = 1;
  while (write(l->wake, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void sg_loop_resumed(sg_loop *l) {
  if (l == tl_loop) {
    l->run = 1;
    return;
  }
  atomic_store(&l->pending, 1);
  if (atomic_load(&l->sleeping)) wake(l);
}

static void comp_wake(void *loop) { sg_loop_resumed(loop); }

static void listen_set(sg_loop *l, int on) {
  if (l->listening == on) return;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->ls->listen_fd};
  if (on ? epoll_ctl(l->ep, EPOLL_CTL_ADD, ev.data.fd, &ev) == 0
         : (epoll_ctl(l->ep, EPOLL_CTL_DEL, ev.data.fd, NULL), 1))
    l->listening = on;
}

/* Adds a connection counted on l to l's server, on l's thread. */
static void serve(sg_loop *l, int fd, const struct sockaddr_storage *ss, socklen_t sl,
                  sg_loop_ticket *t) {
  tl_reserved = t;
  l->ls->srv.add(l->srv, fd, (const struct sockaddr *)ss, sl);
  if (tl_reserved) { /* the server did not start it */
    tl_reserved = NULL;
    sg_loop_release(l, t);
  }
  l->run = 1;
}

/* The loop that is to serve a connection accepted by self: the one serving fewest, self
 * on a tie, passing over loops that have not taken what they were handed.  *fair is 0 when
 * one passed over serves fewer than the one picked. */
static sg_loop *pick(sg_loop *self, int *fair) {
  sg_loops *ls = self->ls;
  sg_loop *best = self;
  unsigned least = atomic_load_explicit(&self->conns, memory_order_relaxed), floor = least;
  for (unsigned i = 0; i < ls->n; i++) {
    sg_loop *o = &ls->loops[i];
    unsigned c = atomic_load_explicit(&o->conns, memory_order_relaxed);
    if (c < floor) floor = c;
    if (c < least && atomic_load_explicit(&o->inbox_n, memory_order_relaxed) < INBOX_MAX) {
      best = o;
      least = c;
    }
  }
  *fair = least == floor;
  return best;
}

/* Hands a connection counted on to to it: 0, or -1 when its inbox is full. */
static int hand(sg_loop *to, int fd, const struct sockaddr_storage *ss, socklen_t sl,
                sg_loop_ticket *t) {
  pthread_mutex_lock(&to->inbox_lock);
  unsigned n = atomic_load_explicit(&to->inbox_n, memory_order_relaxed);
  if (n < INBOX_MAX) {
    to->inbox[n] = (sg_handed){fd, sl, *ss, t};
    atomic_store_explicit(&to->inbox_n, n + 1, memory_order_release);
  }
  pthread_mutex_unlock(&to->inbox_lock);
  if (n == INBOX_MAX) return -1;
  sg_loop_resumed(to);
  return 0;
}

/* Serves what other loops handed to l. */
static void take_handed(sg_loop *l) {
  if (!atomic_load_explicit(&l->inbox_n, memory_order_acquire)) return;
  sg_handed in[INBOX_MAX];
  pthread_mutex_lock(&l->inbox_lock);
  unsigned n = atomic_load_explicit(&l->inbox_n, memory_order_relaxed);
  memcpy(in, l->inbox, n * sizeof *in);
  atomic_store_explicit(&l->inbox_n, 0, memory_order_relaxed);
  pthread_mutex_unlock(&l->inbox_lock);
  for (unsigned i = 0; i < n; i++) serve(l, in[i].fd, &in[i].addr, in[i].len, in[i].t);
}

static void accept_some(sg_loop *l) {
  sg_loops *ls = l->ls;
  for (int i = 0; i < ACCEPTS_MAX; i++) {
    /* a place under the limit is taken before the accept, so that loops accepting at the same
     * time never pass the limit together (checked, then counted, they passed it by one) */
    if (atomic_fetch_add(&ls->conns, 1) >= ls->max_conns) {
      atomic_fetch_sub(&ls->conns, 1);
      listen_set(l, 0); /* at the limit: they wait in the backlog (see the turn) */
      return;
    }
    /* Past the first, a connection is taken only while it can go to a loop serving fewest:
     * when that loop is busy (its inbox full), the rest wait for it to accept them itself.
     * Taking them all here left 48 of a wrk run's 64 connections on one loop in one run of
     * four.  The first is always taken, so a loop stuck in a handler delays no accept. */
    int fair;
    sg_loop *to = pick(l, &fair);
    if (i > 0 && !fair) {
      atomic_fetch_sub(&ls->conns, 1);
      return;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(ls->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    sg_loop_ticket *t = fd < 0 ? NULL : ticket_take(ls, &ss);
    if (!t) atomic_fetch_sub(&ls->conns, 1);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      /* out of descriptors or memory, or not a listening socket any more (drained): look
       * again in a moment rather than at once, which would spin */
      listen_set(l, 0);
      l->relisten_at = sg_now_ns() + (uint64_t)PAUSED_MS * 1000000u;
      return;
    }
    if (!t) { /* over the per-address limit: closed without an answer */
      close(fd);
      continue;
    }
    loop_count(to, 1);
    if (to != l && hand(to, fd, &ss, sl, t) == 0) continue;
    if (to != l) { /* its inbox filled meanwhile */
      loop_count(to, -1);
      loop_count(l, 1);
    }
    serve(l, fd, &ss, sl, t);
  }
}

static void *loop_main(void *arg) {
  sg_loop *l = arg;
  sg_loops *ls = l->ls;
  struct epoll_event evs[EVENTS_MAX];
  tl_loop = l;
  if (ls->has_comp) l->comp = ls->comp.attach(ls->comp.arg, l->ep, comp_wake, l);
  int comp_ms = SLEEP_MAX_MS;
  int idle = 0; /* the last wait returned no event */
  while (!atomic_load(&ls->stop)) {
    long long ms = ls->srv.timeout(l->srv);
    if (ms < 0 || ms > SLEEP_MAX_MS) ms = SLEEP_MAX_MS;
    /* held connections keep the server's timeout at 0: after a turn that found nothing, their
     * answers (or anything else) are waited for, not spun for */
    if (ms == 0 && l->held > 0 && idle) ms = HOLD_WAIT_MS;
    if (comp_ms < ms) ms = comp_ms;
    if (atomic_load(&ls->quiesced)) {
      listen_set(l, 0);
    } else if (!l->listening) {
      if (atomic_load(&ls->conns) < ls->max_conns &&
          (!l->relisten_at || sg_now_ns() >= l->relisten_at))
        listen_set(l, 1);
      if (!l->listening && ms > PAUSED_MS) ms = PAUSED_MS;
    }
    atomic_store(&l->sleeping, 1);
    if (atomic_exchange(&l->pending, 0)) l->run = 1;
    int was_run = l->run;
    int n = epoll_wait(l->ep, evs, EVENTS_MAX, l->run ? 0 : (int)ms);
    atomic_store(&l->sleeping, 0);
    int pend = atomic_exchange(&l->pending, 0);
    take_handed(l);
    /* nothing new: no event, and no connection resumed or poked (whose answer the next run
     * writes, which must not wait) */
    idle = n == 0 && !was_run && !pend;
    if (pend || n == 0) l->run = 1;
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == l->srv_fd) {
        l->run = 1;
      } else if (fd == l->wake) {
        uint64_t v;
        while (read(l->wake, &v, sizeof v) < 0 && errno == EINTR) {
        }
        l->run = 1;
      } else if (fd == ls->listen_fd && l->listening) {
        accept_some(l);
      } else if (l->comp) {
        ls->comp.event(l->comp, fd, evs[i].events);
      }
    }
    /* the server reads requests and runs handlers, the companion sends the calls they made
     * (and may complete some at once, resuming connections: the server runs once more) */
    for (int k = 0; k < 2 && (l->run || k == 0); k++) {
      if (l->run) {
        l->run = 0;
        idle &= k == 0; /* a run for what the companion completed: its answers are written next */
        ls->srv.run(l->srv);
      }
      if (l->comp) comp_ms = ls->comp.turn(l->comp);
    }
  }
  if (l->comp) ls->comp.detach(l->comp);
  l->comp = NULL;
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Start and stop */

static void loop_close(sg_loop *l) {
  if (l->srv) l->ls->srv.close(l->srv);
  if (l->ep >= 0) close(l->ep);
  if (l->wake >= 0) close(l->wake);
}

sg_loops *sg_loops_start(int listen_fd, unsigned n, const sg_loop_limits *lim,
                         const sg_loop_server *srv, const sg_http_companion *comp, sg_log *log,
                         char *err, size_t errlen) {
  sg_loops *ls = calloc(1, sizeof *ls);
  if (!ls || !(ls->loops = calloc(n, sizeof *ls->loops))) {
    free(ls);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  ls->listen_fd = listen_fd;
  ls->n = n;
  ls->srv = *srv;
  if (comp) {
    ls->comp = *comp;
    ls->has_comp = 1;
  }
  ls->log = log;
  ls->gauge = lim->gauge;
  ls->max_conns = lim->max_connections;
  ls->per_ip = lim->max_connections_per_ip;
  ls->shared.ls = ls;
  pthread_mutex_init(&ls->ip_lock, NULL);
  for (unsigned i = 0; i < n; i++) {
    sg_loop *l = &ls->loops[i];
    l->ep = l->wake = -1;
    pthread_mutex_init(&l->inbox_lock, NULL);
    snprintf(l->label, sizeof l->label, "%u", i);
    sg_family_set(ls->gauge, (const char *[]){l->label}, 0); /* shown before it has any */
  }
  unsigned per_loop = ls->max_conns; /* each server may hold them all: the count is kept here */
  for (unsigned i = 0; i < n; i++) {
    sg_loop *l = &ls->loops[i];
    l->ls = ls;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->ep < 0 || l->wake < 0) {
      snprintf(err, errlen, "cannot make an event loop: %s", strerror(errno));
      goto fail;
    }
    if (!(l->srv = srv->open(srv->arg, l, per_loop))) {
      snprintf(err, errlen, "libmicrohttpd could not start");
      goto fail;
    }
    l->srv_fd = srv->fd(l->srv);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->srv_fd};
    struct epoll_event ew = {.events = EPOLLIN, .data.fd = l->wake};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->srv_fd, &ev) != 0 ||
        epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &ew) != 0) {
      snprintf(err, errlen, "cannot make an event loop: %s", strerror(errno));
      goto fail;
    }
    listen_set(l, 1);
  }
  for (unsigned i = 0; i < n; i++) {
    if (pthread_create(&ls->loops[i].thread, NULL, loop_main, &ls->loops[i]) != 0) {
      snprintf(err, errlen, "cannot start a server thread: %s", strerror(errno));
      goto fail;
    }
    ls->loops[i].started = 1;
  }
  return ls;
fail:
  sg_loops_stop(ls);
  return NULL;
}

void sg_loops_quiesce(sg_loops *ls) {
  atomic_store(&ls->quiesced, 1);
  for (unsigned i = 0; i < ls->n; i++)
    if (ls->loops[i].started) sg_loop_resumed(&ls->loops[i]);
}

void sg_loops_stop(sg_loops *ls) {
  if (!ls) return;
  atomic_store(&ls->stop, 1);
  for (unsigned i = 0; i < ls->n; i++)
    if (ls->loops[i].started) wake(&ls->loops[i]);
  for (unsigned i = 0; i < ls->n; i++)
    if (ls->loops[i].started) pthread_join(ls->loops[i].thread, NULL);
  for (unsigned i = 0; i < ls->n; i++) {
    sg_loop *l = &ls->loops[i];
    for (unsigned k = 0; k < l->inbox_n; k++) { /* handed to it after its last turn */
      close(l->inbox[k].fd);
      sg_loop_release(l, l->inbox[k].t);
    }
    loop_close(l);
    pthread_mutex_destroy(&l->inbox_lock);
  }
  for (unsigned b = 0; b < IP_BUCKETS; b++)
    while (ls->ips[b]) { /* tickets of connections the servers closed without a notice */
      sg_loop_ticket *t = ls->ips[b];
      ls->ips[b] = t->next;
      free(t);
    }
  pthread_mutex_destroy(&ls->ip_lock);
  free(ls->loops);
  free(ls);
}

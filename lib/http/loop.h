/*
 * loop.h -- one event loop per thread (loop.c), each holding both sides of the requests it
 * reads, as nginx's workers do: its own server (a libmicrohttpd daemon in external mode, run by
 * mhd.c) and a companion (the upstream module's lane), on one epoll set.  A request read by a
 * loop is handled, sent upstream, answered and written by that loop's thread; nothing crosses
 * threads unless a handler hands work to another thread, which then wakes the loop.
 *
 * The loops share the listening socket (the idle ones race to accept a new connection) and
 * accept themselves; the one that accepts hands the connection to the loop serving fewest, so
 * a burst of connections is spread evenly.  The limits over all of them are kept here: the connection limit (past
 * it, connections wait to be accepted) and the per-address limit (past it, a connection is
 * closed at once, as libmicrohttpd does).
 */
#ifndef SG_HTTP_LOOP_H
#define SG_HTTP_LOOP_H

#include <sys/socket.h>

#include "base/log.h"
#include "base/metrics.h"
#include "http/http.h"

typedef struct sg_loops sg_loops;
typedef struct sg_loop sg_loop;

/* The server a loop runs (mhd.c's daemon). */
typedef struct sg_loop_server {
  /* Makes the loop's server (on the starting thread); NULL when it cannot. */
  void *(*open)(void *arg, sg_loop *l, unsigned max_connections);
  int (*fd)(void *srv); /* readable when the server has work */
  /* A new connection; the server owns fd from here (it closes it on failure): 0, or -1. */
  int (*add)(void *srv, int fd, const struct sockaddr *a, socklen_t len);
  void (*run)(void *srv);          /* does what is ready, without blocking */
  long long (*timeout)(void *srv); /* ms until run is due anyway; -1: no need */
  void (*close)(void *srv);        /* after the loop ended, on the stopping thread */
  void *arg;
} sg_loop_server;

typedef struct sg_loop_limits {
  unsigned max_connections;        /* over all loops */
  unsigned max_connections_per_ip; /* 0: none */
  sg_family *gauge; /* a gauge labelled "loop": the connections each serves; NULL: none */
} sg_loop_limits;

/* Connections a loop accepts at most per wake-up of the listening socket; each goes to the
 * loop serving fewest.  The rest of a burst waits in the backlog for the next turn. */
#define SG_LOOP_ACCEPTS_MAX 16

/* Starts n loops accepting on listen_fd (not closed by the loops).  NULL with err filled. */
sg_loops *sg_loops_start(int listen_fd, unsigned n, const sg_loop_limits *lim,
                         const sg_loop_server *srv, const sg_http_companion *comp, sg_log *log,
                         char *err, size_t errlen);

/* The loop running on this thread, or NULL. */
sg_loop *sg_loop_current(void);

/* The connections the server on this thread holds without suspending them, waiting for an
 * answer that may come back soon: +1 when it begins holding one, -1 when it stops.  The server
 * keeps them among its ready ones, so its timeout is 0 while it holds any; a turn that finds
 * nothing new then waits a little (HOLD_WAIT_MS) for an event instead of spinning.  Does
 * nothing off a loop's thread. */
void sg_loop_hold(int delta);

/* A connection of l was resumed, from any thread: l runs its server before it sleeps again. */
void sg_loop_resumed(sg_loop *l);

/* What a connection holds of the limits; the server's connection-start notice claims it
 * (on the loop's thread, within add) and gives it back when the connection closes. */
typedef struct sg_loop_ticket sg_loop_ticket;
sg_loop_ticket *sg_loop_claim(void); /* NULL: the connection was not counted (none pending) */
/* The connection served by l closed (t NULL does nothing); any thread. */
void sg_loop_release(sg_loop *l, sg_loop_ticket *t);

/* The loops stop accepting (each takes the listening socket out of its set at its next turn);
 * the connections they hold are served on. */
void sg_loops_quiesce(sg_loops *ls);

/* Stops the loops (each ends its companion on its own thread), then closes their servers. */
void sg_loops_stop(sg_loops *ls);

#endif

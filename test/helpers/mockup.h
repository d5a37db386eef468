/*
 * mockup.h -- the plumbing of the mock model upstreams the integration tests run in-process on
 * libmicrohttpd: each test keeps its own behaviour (which model fails how) and shares the
 * collection of the request body, the JSON reply and the daemon on a free loopback port.
 */
#ifndef MOCKUP_H
#define MOCKUP_H

#include <microhttpd.h>
#include <stddef.h>

/* A request body, NUL-terminated (p is NULL when the request had none). */
typedef struct mock_body {
  char *p;
  size_t len;
} mock_body;

/* Called first by an access handler with its state, data and size: NULL while the body is still
 * coming (the handler returns MHD_YES), then the complete body, freed when the request ends. */
mock_body *mock_collect(void **state, const char *data, size_t *size);

/* Queues a JSON answer (body copied). */
enum MHD_Result mock_reply(struct MHD_Connection *c, unsigned status, const char *body);

/* Starts a thread-per-connection daemon on 127.0.0.1 with handler h (and, when not NULL, the
 * connection notifier on); NULL on failure, else the daemon with its port in *port. */
struct MHD_Daemon *mock_daemon(MHD_AccessHandlerCallback h, MHD_NotifyConnectionCallback on,
                               int *port);

#endif

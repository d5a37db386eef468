/*
 * mockup.c -- the mock upstreams' plumbing (see mockup.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mockup.h"

mock_body *mock_collect(void **state, const char *data, size_t *size) {
  mock_body *b = *state;
  if (!b) {
    *state = calloc(1, sizeof *b);
    return NULL;
  }
  if (*size) {
    char *p = realloc(b->p, b->len + *size + 1);
    if (p) {
      memcpy(p + b->len, data, *size);
      b->p = p;
      b->len += *size;
      b->p[b->len] = '\0';
    }
    *size = 0;
    return NULL;
  }
  return b;
}

enum MHD_Result mock_reply(struct MHD_Connection *c, unsigned status, const char *body) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                           MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  mock_body *b = *state;
  if (b) free(b->p);
  free(b);
  *state = NULL;
}

struct MHD_Daemon *mock_daemon(MHD_AccessHandlerCallback h, MHD_NotifyConnectionCallback on,
                               int *port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, h, NULL,
      MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, on, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_END);
  if (d) *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
  return d;
}

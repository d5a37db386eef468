/*
 * embed.c -- a host program that embeds libsoulgw.
 *
 * It loads a configuration, adds one route of its own, GET /hello/{name}, next to the standard
 * ones (it gets the same authentication, scopes, metrics and access log), and serves until
 * SIGTERM or SIGINT, reloading on SIGHUP.  Build it with pkg-config:
 *
 *   cc -o embed embed.c $(pkg-config --cflags --libs soulgw)
 *   ./embed gateway.toml
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <soulgw.h>
#include <stdio.h>
#include <stdlib.h>

static int hello(soulgw_req *req, void *userdata) {
  const char *greeting = userdata;
  soulgw_json *body = soulgw_json_object();
  soulgw_json_set(body, "greeting", soulgw_json_new_string(greeting));
  soulgw_json_set(body, "name", soulgw_json_new_string(soulgw_req_param(req, "name")));
  return soulgw_reply_json(req, 200, body); /* takes body, even when a builder failed */
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NULL;
  soulgw_config *cfg = soulgw_config_new();
  soulgw *gw = NULL;
  int rc, status = 1;

  if (argc > 2) soulgw_config_set(cfg, "server.port", argv[2]);
  if ((rc = soulgw_config_load(cfg, path)) != 0) {
    fprintf(stderr, "embed: %s\n", soulgw_config_errmsg(cfg));
    goto out;
  }

  gw = soulgw_new(cfg);
  soulgw_route_opts opts = {.name = "hello", .kind = "example",
                            .description = "Greets {name}",
                            .flags = SOULGW_ROUTE_ANONYMOUS};
  if (!gw || (rc = soulgw_route_add(gw, "GET", "/hello/{name}", hello, "hello", &opts)) != 0) {
    fprintf(stderr, "embed: cannot add route: %s\n", soulgw_strerror(rc));
    goto out;
  }

  /* Block the signals before the gateway starts its threads, then wait for them here. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  if ((rc = soulgw_start(gw, SOULGW_START_THREADS)) != 0) {
    fprintf(stderr, "embed: %s: %s\n", soulgw_strerror(rc), soulgw_errmsg(gw));
    goto out;
  }
  printf("listening on port %d\n", soulgw_port(gw));
  fflush(stdout);

  for (int sig = 0; sigwait(&set, &sig) == 0;) {
    if (sig != SIGHUP) break;
    if (soulgw_reload(gw) != 0) fprintf(stderr, "embed: reload: %s\n", soulgw_errmsg(gw));
  }
  soulgw_stop(gw, 5000);
  status = 0;
out:
  soulgw_free(gw);
  soulgw_config_free(cfg);
  return status;
}

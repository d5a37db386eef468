/*
 * testhost.c -- a host program for the black-box tests: libsoulgw with the standard routes plus
 * routes that exercise what the soulgw binary alone cannot show: deferred answers from another
 * thread, streaming, path parameters, handler failures, and the external-select mode.
 *
 *   testhost --config FILE --port-file FILE [--db PATH] [--port N] [--external]
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "soulgw.h"

static volatile sig_atomic_t got_signal;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int echo(soulgw_req *req, void *ud) {
  (void)ud;
  soulgw_json *o = soulgw_json_object();
  const soulgw_json *body = soulgw_req_json(req);
  const char *x = soulgw_req_query(req, "x"), *h = soulgw_req_header(req, "X-Test");
  soulgw_json_set(o, "method", soulgw_json_new_string(soulgw_req_method(req)));
  soulgw_json_set(o, "path", soulgw_json_new_string(soulgw_req_path(req)));
  soulgw_json_set(o, "tenant", soulgw_req_tenant(req) ? soulgw_json_new_string(soulgw_req_tenant(req)) : soulgw_json_null());
  soulgw_json_set(o, "principal", soulgw_req_principal(req) ? soulgw_json_new_string(soulgw_req_principal(req)) : soulgw_json_null());
  soulgw_json_set(o, "body", body ? soulgw_json_dup(body) : soulgw_json_null());
  soulgw_json_set(o, "x", x ? soulgw_json_new_string(x) : soulgw_json_null());
  soulgw_json_set(o, "x_test", h ? soulgw_json_new_string(h) : soulgw_json_null());
  /* ?h=NAME: that header's value, as a handler reads it */
  const char *hn = soulgw_req_query(req, "h"), *hv = hn ? soulgw_req_header(req, hn) : NULL;
  soulgw_json_set(o, "h", hv ? soulgw_json_new_string(hv) : soulgw_json_null());
  soulgw_reply_header(req, "X-Echo", "1");
  return soulgw_reply_json(req, 200, o);
}

static int thing(soulgw_req *req, void *ud) {
  (void)ud;
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "id", soulgw_json_new_string(soulgw_req_param(req, "id")));
  soulgw_json_set(o, "sub", soulgw_json_new_string(soulgw_req_param(req, "sub") ? soulgw_req_param(req, "sub") : ""));
  return soulgw_reply_json(req, 200, o);
}

static int fail(soulgw_req *req, void *ud) {
  (void)req;
  (void)ud;
  return SOULGW_EIO; /* no answer: the gateway must answer 500 */
}

typedef struct job {
  soulgw_req *req;
  long ms, n;
} job;

static void *slow_worker(void *arg) {
  job *j = arg;
  sleep_ms(j->ms);
  char body[64];
  snprintf(body, sizeof body, "{\"slept_ms\":%ld}", j->ms);
  soulgw_reply(j->req, 200, body, (size_t)-1);
  free(j);
  return NULL;
}

static int slow(soulgw_req *req, void *ud) {
  (void)ud;
  const char *q = soulgw_req_query(req, "ms");
  job *j = calloc(1, sizeof *j);
  if (!j) return SOULGW_ENOMEM;
  j->req = req;
  j->ms = q ? atol(q) : 100;
  soulgw_req_defer(req);
  pthread_t t;
  if (pthread_create(&t, NULL, slow_worker, j) != 0) {
    free(j);
    return soulgw_reply_error(req, SOULGW_API_UNKNOWN_INTERNAL, "no thread");
  }
  pthread_detach(t);
  return 0;
}

static void *stream_worker(void *arg) {
  job *j = arg;
  char line[128];
  for (long i = 0; i < j->n; i++) {
    int len = snprintf(line, sizeof line, "event: delta\ndata: {\"i\":%ld}\n\n", i);
    if (soulgw_stream_write(j->req, line, (size_t)len) == SOULGW_ECLOSED) break;
    sleep_ms(j->ms);
  }
  soulgw_stream_write(j->req, "event: done\ndata: {}\n\n", 22);
  soulgw_stream_close(j->req);
  free(j);
  return NULL;
}

static int stream(soulgw_req *req, void *ud) {
  (void)ud;
  const char *n = soulgw_req_query(req, "n"), *ms = soulgw_req_query(req, "ms");
  job *j = calloc(1, sizeof *j);
  if (!j) return SOULGW_ENOMEM;
  j->req = req;
  j->n = n ? atol(n) : 3;
  j->ms = ms ? atol(ms) : 10;
  soulgw_stream_open(req, 200, "text/event-stream");
  pthread_t t;
  if (pthread_create(&t, NULL, stream_worker, j) != 0) {
    free(j);
    soulgw_stream_close(req);
    return 0;
  }
  pthread_detach(t);
  return 0;
}

/* A model provider "hostp" (models "hostp:<anything>").  complete answers "host <model>: " and
 * the request it was given as JSON, so that tests can see the shape a provider receives;
 * model "fail" fails and "timeout" times out.  embed gives each text [its length, 1]. */
static int hostp_complete(void *ud, const char *model, const soulgw_json *request,
                          soulgw_json **out, char *err, size_t errlen) {
  (void)ud;
  if (strcmp(model, "fail") == 0) {
    snprintf(err, errlen, "the host model failed");
    return SOULGW_EIO;
  }
  if (strcmp(model, "timeout") == 0) {
    snprintf(err, errlen, "the host model took too long");
    return SOULGW_ETIMEDOUT;
  }
  char *seen = soulgw_json_print(request);
  size_t n = strlen(model) + (seen ? strlen(seen) : 0) + 16;
  char *text = malloc(n);
  if (!seen || !text) {
    free(seen);
    free(text);
    return SOULGW_ENOMEM;
  }
  snprintf(text, n, "host %s: %s", model, seen);
  free(seen);
  soulgw_json *o = soulgw_json_object(), *usage = soulgw_json_object();
  soulgw_json_set(o, "response", soulgw_json_new_string(text));
  soulgw_json_set(usage, "input_tokens", soulgw_json_new_number(7));
  soulgw_json_set(usage, "output_tokens", soulgw_json_new_number(5));
  soulgw_json_set(o, "usage", usage);
  soulgw_json_set(o, "finish", soulgw_json_new_string("length"));
  free(text);
  *out = o;
  return 0;
}

static int hostp_embed(void *ud, const char *model, const soulgw_json *texts, int normalize,
                       soulgw_json **out, char *err, size_t errlen) {
  (void)ud;
  (void)normalize;
  if (strcmp(model, "fail") == 0) {
    snprintf(err, errlen, "the host embedder failed");
    return SOULGW_EIO;
  }
  soulgw_json *o = soulgw_json_object(), *vecs = soulgw_json_array();
  for (const soulgw_json *t = soulgw_json_first(texts); t; t = soulgw_json_next(t)) {
    soulgw_json *v = soulgw_json_array();
    soulgw_json_push(v, soulgw_json_new_number((double)strlen(soulgw_json_string(t))));
    soulgw_json_push(v, soulgw_json_new_number(1));
    soulgw_json_push(vecs, v);
  }
  soulgw_json_set(o, "vectors", vecs);
  soulgw_json_set(o, "dim", soulgw_json_new_number(2));
  *out = o;
  return 0;
}

/* C tools for the tool tests: "test.upper" answers its input with the string member "text"
 * upper-cased (registered before start), "test.fail" always fails (registered after start). */
static int tool_upper(void *ud, const soulgw_json *input, soulgw_json **output, char *err,
                      size_t errlen) {
  (void)ud;
  const char *text = soulgw_json_string(soulgw_json_get(input, "text"));
  if (!text) {
    snprintf(err, errlen, "input.text must be a string");
    return SOULGW_EINVAL;
  }
  char *up = strdup(text);
  if (!up) return SOULGW_ENOMEM;
  for (char *p = up; *p; p++)
    if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
  soulgw_json *o = soulgw_json_object();
  int rc = soulgw_json_set(o, "text", soulgw_json_new_string(up));
  free(up);
  if (rc) {
    soulgw_json_free(o);
    return rc;
  }
  *output = o;
  return 0;
}

static int tool_fail(void *ud, const soulgw_json *input, soulgw_json **output, char *err,
                     size_t errlen) {
  (void)ud;
  (void)input;
  (void)output;
  snprintf(err, errlen, "the test tool failed");
  return SOULGW_EIO;
}

static void on_signal(int sig) { got_signal = sig; }

int main(int argc, char **argv) {
  const char *config = NULL, *port_file = NULL;
  int external = 0;
  soulgw_config *cfg = soulgw_config_new();
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
    else if (!strcmp(argv[i], "--port-file") && i + 1 < argc) port_file = argv[++i];
    else if (!strcmp(argv[i], "--db") && i + 1 < argc) soulgw_config_set(cfg, "storage.path", argv[++i]);
    else if (!strcmp(argv[i], "--port") && i + 1 < argc) soulgw_config_set(cfg, "server.port", argv[++i]);
    else if (!strcmp(argv[i], "--external")) external = 1;
    else {
      fprintf(stderr, "testhost: unknown argument %s\n", argv[i]);
      return 64;
    }
  }
  if (soulgw_config_load(cfg, config) != 0) {
    fprintf(stderr, "testhost: %s\n", soulgw_config_errmsg(cfg));
    return 78;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (!external) pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  soulgw *gw = soulgw_new(cfg);
  static const char *const read_scope[] = {"test:read", NULL};
  soulgw_route_opts anon = {"test_echo", "test", "echo the request", NULL, SOULGW_ROUTE_ANONYMOUS};
  soulgw_route_opts anon_tenant = {"test_tenant", "test", "needs a tenant", NULL,
                                   SOULGW_ROUTE_ANONYMOUS | SOULGW_ROUTE_TENANT};
  soulgw_route_opts secure = {"test_secure", "test", "needs test:read", read_scope, 0};
  soulgw_route_opts other = {NULL, "test", NULL, NULL, SOULGW_ROUTE_ANONYMOUS};
  int rc = soulgw_route_add(gw, "GET,POST", "/test/echo", echo, NULL, &anon);
  rc |= soulgw_route_add(gw, "POST", "/test/tenant", echo, NULL, &anon_tenant);
  rc |= soulgw_route_add(gw, "GET,POST", "/test/secure", echo, NULL, &secure);
  rc |= soulgw_route_add(gw, "GET", "/test/things/{id}", thing, NULL, &other);
  rc |= soulgw_route_add(gw, "GET", "/test/things/{id}/{sub}", thing, NULL, &other);
  rc |= soulgw_route_add(gw, "GET", "/test/slow", slow, NULL, &other);
  soulgw_route_opts slow_secure = {"test_slow_secure", "test", NULL, read_scope, 0};
  rc |= soulgw_route_add(gw, "GET", "/test/slow_secure", slow, NULL, &slow_secure);
  rc |= soulgw_route_add(gw, "GET,POST", "/test/stream", stream, NULL, &other);
  rc |= soulgw_route_add(gw, "GET", "/test/fail", fail, NULL, &other);
  if (rc || soulgw_route_add(gw, "GET", "/test/echo", echo, NULL, NULL) != SOULGW_EEXIST) {
    fprintf(stderr, "testhost: route registration misbehaved\n");
    return 1;
  }
  static const soulgw_provider hostp = {hostp_complete, hostp_embed};
  if (soulgw_provider_register(gw, "hostp", &hostp, NULL) != 0 ||
      soulgw_provider_register(gw, "hostp", &hostp, NULL) != SOULGW_EEXIST ||
      soulgw_provider_register(gw, "local", &hostp, NULL) != SOULGW_EINVAL) {
    fprintf(stderr, "testhost: provider registration misbehaved\n");
    return 1;
  }
  if (soulgw_tool_register(gw, "test.upper", tool_upper, NULL) != 0 ||
      soulgw_tool_register(gw, "test.upper", tool_upper, NULL) != SOULGW_EEXIST ||
      soulgw_tool_register(gw, "builtin:upper", tool_upper, NULL) != SOULGW_EINVAL ||
      soulgw_tool_register(gw, "https://x", tool_upper, NULL) != SOULGW_EINVAL ||
      soulgw_tool_register(gw, "", tool_upper, NULL) != SOULGW_EINVAL) {
    fprintf(stderr, "testhost: tool registration misbehaved\n");
    return 1;
  }
  if ((rc = soulgw_start(gw, external ? SOULGW_START_EXTERNAL : SOULGW_START_THREADS)) != 0) {
    fprintf(stderr, "testhost: %s: %s\n", soulgw_strerror(rc), soulgw_errmsg(gw));
    return rc == SOULGW_EBIND ? 69 : 1;
  }
  if (soulgw_route_add(gw, "GET", "/late", echo, NULL, NULL) != SOULGW_ESTATE) {
    fprintf(stderr, "testhost: a route was accepted after start\n");
    return 1;
  }
  if (soulgw_tool_register(gw, "test.fail", tool_fail, NULL) != 0) {
    fprintf(stderr, "testhost: a tool could not be registered after start\n");
    return 1;
  }
  if (port_file) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f) {
      fprintf(f, "%d\n", soulgw_port(gw));
      fclose(f);
      rename(tmp, port_file);
    }
  }
  if (external) {
    /* The host's own select() loop. */
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGHUP, on_signal);
    while (got_signal != SIGTERM && got_signal != SIGINT) {
      if (got_signal == SIGHUP) {
        got_signal = 0;
        soulgw_reload(gw);
      }
      fd_set rs, ws, es;
      int max = -1;
      long long t = -1;
      FD_ZERO(&rs);
      FD_ZERO(&ws);
      FD_ZERO(&es);
      soulgw_fdset(gw, &rs, &ws, &es, &max);
      soulgw_timeout(gw, &t);
      struct timeval tv = {0, 200000};
      if (t >= 0 && t < 200) tv.tv_usec = (suseconds_t)t * 1000;
      select(max + 1, &rs, &ws, &es, &tv);
      soulgw_run(gw);
    }
  } else {
    for (;;) {
      int sig = 0;
      sigwait(&set, &sig);
      if (sig == SIGHUP) {
        soulgw_reload(gw);
        continue;
      }
      break;
    }
  }
  soulgw_stop(gw, -1);
  soulgw_free(gw);
  soulgw_config_free(cfg);
  return 0;
}

/*
 * harness.h -- black-box testing against the real binaries.
 *
 * gw_start() writes a configuration into a fresh temporary directory, starts the gateway
 * (build/.../soulgw, or the test host) on a free port with --port 0 --port-file, and waits until
 * it answers.  http() drives it with libcurl.  gw_stop() sends SIGTERM, waits, and fails the test
 * when the gateway's stderr holds a sanitizer report or it did not exit cleanly.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "tap.h"

typedef struct gwproc {
  pid_t pid;
  int port;
  char dir[256];      /* the temporary directory: gateway.toml, stderr.log, test.db */
  char config[300];
  char errlog[300];
  const char *bin;    /* absolute path of the binary */
  char **env;         /* extra environment ("NAME=value"), NULL-terminated */
  int keep_db;        /* gw_stop() leaves the directory (for restart tests) */
} gwproc;

/* The default configuration body used by most tests: the shipped conf/gateway.toml settings
 * with a local token and HMAC key. */
extern const char *const HARNESS_DEFAULT_TOML;

/* Binaries: $SOULGW_BIN or build/asan/soulgw, and the test host. */
const char *harness_soulgw_bin(void);
const char *harness_testhost_bin(void);

/* Starts bin with toml as its configuration (written to dir/gateway.toml).  env: extra
 * variables ("NAME=value" sets, a bare "NAME" unsets; GATEWAY__SERVER__WATCH_FILES=false is
 * set unless unset here, so that only SIGHUP reloads); extra_args: NULL-terminated extra command-line arguments.  Returns 0 when the
 * gateway answers /health, -1 otherwise (with a diagnostic). */
int gw_start(gwproc *g, const char *bin, const char *toml, const char *const *env,
             const char *const *extra_args);
/* Starts again in the same directory (same database), for restart tests. */
int gw_restart(gwproc *g, const char *const *env);
/* SIGTERM, wait up to 20 s; returns the exit status (or -1), and records a test failure when
 * the gateway's stderr holds a sanitizer report. */
int gw_stop(gwproc *g);
/* Sends a signal. */
void gw_signal(gwproc *g, int sig);
/* Rewrites dir/gateway.toml. */
void gw_write_config(gwproc *g, const char *toml);
/* 1 when the gateway's stderr contains text. */
int gw_log_has(gwproc *g, const char *text);
/* How many times text occurs in the gateway's stderr. */
int gw_log_count(gwproc *g, const char *text);
/* Shows the end of the gateway's log (stderr) as TAP comments: for a check that failed. */
void gw_diag_log(gwproc *g);
/* Waits up to timeout_ms for text to occur at least n times in the gateway's stderr (a signal
 * has been handled, a line has been logged): 1 when it does, 0 on timeout.  Tests wait for
 * what they need rather than sleeping a guess, which fails on a loaded machine. */
int gw_wait_log(gwproc *g, const char *text, int n, int timeout_ms);
/* Waits up to timeout_ms until at least n requests are in flight (as /metrics?format=json
 * counts them, the asking request included): 1 when they are, 0 on timeout. */
int gw_wait_inflight(gwproc *g, int n, int timeout_ms);

/* Runs a command to completion: exit status, stdout+stderr (malloc'd, in *out when not NULL). */
int run_cmd(const char *const *argv, const char *const *env, char **out);

typedef struct http_resp {
  long status;
  char *body;
  size_t len;
  char *headers; /* raw header block */
} http_resp;

/* One request.  headers: NULL-terminated "Name: value" strings.  body may be NULL.  Returns 0
 * when an HTTP answer arrived. */
int http(gwproc *g, const char *method, const char *path, const char *const *headers,
         const char *body, http_resp *out);
/* Shorthand: a JSON POST with "Authorization: Bearer <token>" (token NULL: none). */
int http_post(gwproc *g, const char *path, const char *token, const char *body, http_resp *out);
int http_get(gwproc *g, const char *path, http_resp *out);
/* The value of a response header (case-insensitive), copied into a static buffer, or NULL. */
const char *resp_header(const http_resp *r, const char *name);
void resp_free(http_resp *r);

/* A raw exchange on a new TCP connection: sends data, reads until the peer closes or timeout_ms
 * passes.  Returns the bytes read (malloc'd, NUL-terminated) or NULL. */
char *raw_exchange(gwproc *g, const char *data, size_t len, int timeout_ms);

/* A kept-alive raw connection: connect, then exchange one request at a time.  raw_request()
 * sends req and reads one answer (headers and Content-Length body); NULL when the peer closed
 * or nothing came within timeout_ms. */
int raw_connect(gwproc *g);
int raw_connect_port(int port); /* the same to 127.0.0.1:port */
char *raw_request(int fd, const char *req, int timeout_ms);

/* Milliseconds on a monotonic clock. */
long long now_ms(void);

/* The main() of most black-box programs: when any case passes the filter, starts bin (toml and
 * env as for gw_start), runs the cases, and stops it expecting exit status 0.  Returns the
 * program's exit status. */
int tap_with_gateway(gwproc *g, const char *bin, const char *toml, const char *const *env,
                     const tap_test *t, unsigned long n);

/* JSON helpers over cJSON for assertions. */
struct cJSON;
struct cJSON *json_of(const http_resp *r);
const char *json_str(const struct cJSON *obj, const char *path); /* "a.b.c" */
double json_num(const struct cJSON *obj, const char *path, double def);

/* A JSON POST with a bearer token (NULL: none): the status, and the answer parsed into *out
 * (when out is not NULL; free with cJSON_Delete).  A 5xx is shown as a diagnostic. */
long post_json(gwproc *g, const char *token, const char *path, const char *body,
               struct cJSON **out);
/* Asserts that body POSTed to path answers status with the error code, and (fragment not
 * NULL) a message containing fragment; what names the case. */
void expect_error_as(gwproc *g, const char *token, const char *path, const char *body,
                     long status, const char *code, const char *fragment, const char *what);
 
/* Writes s (NULL: empty) to f as a C string literal, for tables a test records from a gateway
 * (a byte outside printable ASCII as \xNN, its literal closed so the next byte is not read as
 * more hex). */
void print_c_literal(FILE *f, const char *s);

#endif

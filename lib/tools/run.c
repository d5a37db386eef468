/*
 * run.c -- running a tool for a manifest and an input (see run.h).
 *
 *   builtin:echo   the input is the result (no copy: the result points at the input, or at its
 *                  text when the caller has it as canonical text)
 *   host C tools   looked up by the handler name among those the host registered, and called
 *                  on the calling thread
 *   http(s) URLs   the input is POSTed as JSON through the upstream module within
 *                  limits.timeout_ms (60 s when 0); a 2xx JSON answer is the result
 *
 * An HTTP tool connects only where [tools] allowed_hosts lets it (the upstream module checks
 * every address at connect time), and its answer may hold at most [tools] max_bytes_out bytes,
 * or the manifest's smaller limits.max_bytes_out; a transfer is cut as soon as it passes that.
 * The answer is checked and compacted in place and relayed as text, never parsed into a tree
 * (which cost some 40 times its size) unless the manifest has an output_schema to check.
 * Whatever goes wrong upstream, the client is told one thing ("the tool's upstream failed");
 * the host, status and transport error go to the log, so that a tool's errors cannot be used
 * to map what the gateway can reach.
 *
 * Host tools live in a list that only grows: registration takes a mutex and publishes the new
 * head with a release store, so lookups walk it without a lock.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tools/schema.h"
#include "tools/run.h"
#include "base/json_compact.h"
#include "base/json_write.h"
#include "base/netpolicy.h"

#define HTTP_DEFAULT_TIMEOUT_MS 60000L

typedef struct host_tool {
  struct host_tool *next;
  soulgw_tool_fn fn;
  void *ud;
  char name[];
} host_tool;

struct sg_tools {
  pthread_mutex_t lock; /* serializes registrations */
  _Atomic(host_tool *) head;
};

sg_tools *sg_tools_new(void) {
  sg_tools *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  pthread_mutex_init(&t->lock, NULL);
  atomic_init(&t->head, NULL);
  return t;
}

void sg_tools_free(sg_tools *t) {
  if (!t) return;
  for (host_tool *h = atomic_load(&t->head), *next; h; h = next) {
    next = h->next;
    free(h);
  }
  pthread_mutex_destroy(&t->lock);
  free(t);
}

static const host_tool *host_find(sg_tools *t, const char *name) {
  for (const host_tool *h = atomic_load_explicit(&t->head, memory_order_acquire); h; h = h->next)
    if (!strcmp(h->name, name)) return h;
  return NULL;
}

int sg_tools_register(sg_tools *t, const char *name, soulgw_tool_fn fn, void *ud) {
  if (!t || !name || !*name || !fn || !strncmp(name, "builtin:", 8) || !strncmp(name, "http", 4))
    return SOULGW_EINVAL;
  for (const char *p = name; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) return SOULGW_EINVAL;
  size_t n = strlen(name);
  host_tool *h = malloc(sizeof *h + n + 1);
  if (!h) return SOULGW_ENOMEM;
  h->fn = fn;
  h->ud = ud;
  memcpy(h->name, name, n + 1);
  pthread_mutex_lock(&t->lock);
  int rc = 0;
  if (host_find(t, name)) {
    rc = SOULGW_EEXIST;
  } else {
    h->next = atomic_load_explicit(&t->head, memory_order_relaxed);
    atomic_store_explicit(&t->head, h, memory_order_release);
    h = NULL;
  }
  pthread_mutex_unlock(&t->lock);
  free(h);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Sizes */

static size_t string_size(const char *s) {
  size_t n = 2;
  for (; *s; s++) {
    char esc[6];
    unsigned char c = (unsigned char)*s;
    n += sg_json_needs_escape(c) ? sg_json_escape_byte(c, esc) : 1;
  }
  return n;
}

/* Adds v's size to *n, stopping once *n passes stop. */
static void add_size(const soulgw_json *v, size_t *n, size_t stop) {
  switch (soulgw_json_typeof(v)) {
    case SOULGW_JSON_NULL: *n += 4; return;
    case SOULGW_JSON_BOOL: *n += soulgw_json_bool(v, 0) ? 4 : 5; return;
    case SOULGW_JSON_NUMBER: {
      char num[SG_JSON_NUMBER_MAX];
      *n += sg_json_number_text(soulgw_json_number(v, 0), num);
      return;
    }
    case SOULGW_JSON_STRING: *n += string_size(soulgw_json_string(v)); return;
    case SOULGW_JSON_ARRAY:
    case SOULGW_JSON_OBJECT: {
      int obj = soulgw_json_typeof(v) == SOULGW_JSON_OBJECT;
      *n += 2;
      for (const soulgw_json *c = soulgw_json_first(v); c && *n <= stop; c = soulgw_json_next(c)) {
        if (c != soulgw_json_first(v)) *n += 1;
        if (obj) *n += string_size(soulgw_json_key(c)) + 1;
        add_size(c, n, stop);
      }
      return;
    }
    default: return;
  }
}

size_t sg_json_text_size(const soulgw_json *v, size_t stop_after) {
  size_t n = 0;
  add_size(v, &n, stop_after);
  return n > stop_after ? stop_after + 1 : n;
}

/* ------------------------------------------------------------------------------------------ */
/* Runs */

static void failv(sg_tool_run *run, soulgw_api_error code, const char *fmt, va_list ap) {
  run->failed = 1;
  run->code = code;
  vsnprintf(run->msg, sizeof run->msg, fmt, ap);
}

static void fail(sg_tool_run *run, soulgw_api_error code, const char *fmt, ...) SG_PRINTF(3, 4);
static void fail(sg_tool_run *run, soulgw_api_error code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  failv(run, code, fmt, ap);
  va_end(ap);
}

void sg_tool_run_clear(sg_tool_run *run) {
  soulgw_json_free(run->owned);
  run->owned = NULL;
  run->result = NULL;
  free(run->text);
  run->text = NULL;
  run->text_len = 0;
  run->result_text = NULL;
  run->result_text_len = 0;
}

/* Checks the output against the manifest's limits and output_schema, then counts the run. */
static void finish(sg_tool_run *run) {
  const sg_manifest *m = run->m;
  /* a relayed text was held to its limits as it arrived, and checked against output_schema */
  if (!run->failed && !run->text && m->max_bytes_out > 0) {
    /* a canonical text is as long as its compact JSON */
    size_t size = run->result_text                               ? run->result_text_len
                  : run->result == run->input && run->input_bytes ? run->input_bytes
                  : sg_json_text_size(run->result, (size_t)m->max_bytes_out);
    if (size > (size_t)m->max_bytes_out)
      fail(run, SOULGW_API_PROVIDER_UNAVAILABLE,
           "tool %.128s answered more than its limits.max_bytes_out of %lld bytes", m->id,
           m->max_bytes_out);
  }
  /* (an echoed text comes only for a trivial output_schema: see run.h) */
  if (!run->failed && !run->text && !run->result_text && !m->output_trivial) {
    char why[256];
    if (sg_schema_validate(m->output_schema, run->result, "output", why, sizeof why))
      fail(run, SOULGW_API_PROVIDER_UNAVAILABLE,
           "tool %.128s answered with output that fails its output_schema: %s", m->id, why);
  }
  if (run->failed) sg_tool_run_clear(run);
  if (m->max_concurrency > 0) atomic_fetch_sub_explicit(m->running, 1, memory_order_relaxed);
  const char *labels[2] = {sg_metrics_label(run->env->metrics, m->id, "all"),
                           run->failed ? "error" : "ok"};
  sg_family_add(run->env->invocations, labels, 1);
}

static void run_host(sg_tool_run *run) {
  const sg_manifest *m = run->m;
  const host_tool *h = host_find(run->env->tools, m->handler);
  if (!h) {
    fail(run, SOULGW_API_PROVIDER_UNAVAILABLE,
         "tool %.128s: no C tool is registered under the handler name \"%.128s\"", m->id,
         m->handler);
    return;
  }
  char err[256] = "";
  soulgw_json *out = NULL;
  uint64_t t0 = sg_now_ns();
  int rc = h->fn(h->ud, run->input, &out, err, sizeof err);
  run->ns = sg_now_ns() - t0;
  if (rc < 0) {
    soulgw_json_free(out);
    err[sizeof err - 1] = '\0';
    fail(run, SOULGW_API_PROVIDER_UNAVAILABLE, "tool %.128s failed: %s", m->id,
         err[0] ? err : soulgw_strerror(rc));
    return;
  }
  if (!out && !(out = soulgw_json_null())) {
    fail(run, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  run->owned = out;
  run->result = out;
}

/* The most bytes an HTTP tool's answer may hold: [tools] max_bytes_out, or the manifest's
 * limits.max_bytes_out when it is smaller (a tenant's manifest cannot raise the operator's
 * cap). */
static size_t http_limit(const sg_tool_run *run) {
  long long cap = run->conf ? run->conf->tools.max_bytes_out : 1048576;
  long long own = run->m->max_bytes_out;
  return (size_t)(own > 0 && own < cap ? own : cap);
}

/* The "host:port" of a URL for log lines (never user information). */
static void url_host(const char *url, char *out, size_t len) {
  sg_url_target t;
  if (sg_url_target_parse(url, &t, NULL, 0) != 0) snprintf(out, len, "(malformed URL)");
  else if (t.family == AF_INET6) snprintf(out, len, "[%s]:%d", t.host, t.port);
  else snprintf(out, len, "%s:%d", t.host, t.port);
}

/* Logs why an HTTP tool's call failed: the details the client is not told. */
static void log_failure(const sg_tool_run *run, const char *what, long status, const char *error) {
  char host[300];
  url_host(run->m->handler, host, sizeof host);
  sg_log(run->env->log, SOULGW_LOG_WARN, what, SG_S("tool", run->m->id),
         SG_S("tenant", run->tenant), SG_S("request_id", run->request_id), SG_S("host", host),
         SG_I("status", status), SG_S("error", error));
}

/* The one message for every failure of a tool's upstream (no answer, a refused address, a
 * status other than 2xx): what differs goes to the log. */
static void fail_upstream(sg_tool_run *run) {
  fail(run, SOULGW_API_PROVIDER_UNAVAILABLE, "tool %.128s: the tool's upstream failed",
       run->m->id);
}

/* Takes over a 2xx answer's body, checks and compacts it in place, and checks it against the
 * manifest's output_schema when it has one. */
static void relay(sg_tool_run *run, const sg_up_result *res) {
  const sg_manifest *m = run->m;
  char why[256];
  size_t len = 0;
  char *text = res->buf ? sg_buf_detach(res->buf, &len) : NULL;
  int rc = text ? sg_json_compact(text, len, &len, why, sizeof why) : SOULGW_ENOMEM;
  if (rc) {
    free(text);
    if (rc == SOULGW_ENOMEM) {
      fail(run, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
      return;
    }
    log_failure(run, "HTTP tool answered with a body that is not JSON", res->status, why);
    fail(run, SOULGW_API_PROVIDER_UNAVAILABLE,
         "tool %.128s: the tool's upstream answered with a body that is not JSON", m->id);
    return;
  }
  if (!m->output_trivial) {
    soulgw_json *tree = NULL;
    rc = soulgw_json_parse(text, len, &tree, why, sizeof why);
    if (!rc && sg_schema_validate(m->output_schema, tree, "output", why, sizeof why))
      fail(run, SOULGW_API_PROVIDER_UNAVAILABLE,
           "tool %.128s answered with output that fails its output_schema: %s", m->id, why);
    else if (rc)
      fail(run, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    soulgw_json_free(tree);
    if (run->failed) {
      free(text);
      return;
    }
  }
  run->text = text;
  run->text_len = len;
}

/* The upstream's answer to an HTTP tool, on the upstream thread. */
static void http_done(void *ud, const sg_up_result *res) {
  sg_tool_run *run = ud;
  const sg_manifest *m = run->m;
  run->ns = res->duration_ns;
  if (res->err == SG_UP_TIMEOUT) {
    fail(run, SOULGW_API_LLM_TIMEOUT, "tool %.128s did not answer within %ld ms", m->id,
         m->timeout_ms > 0 ? (long)m->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS);
  } else if (res->err == SG_UP_TOO_LARGE) {
    log_failure(run, "HTTP tool answer over max_bytes_out", res->status, res->errmsg);
    fail(run, SOULGW_API_PROVIDER_UNAVAILABLE,
         "tool %.128s: tool answer over max_bytes_out (%zu bytes)", m->id, http_limit(run));
  } else if (res->err != SG_UP_OK || res->status < 200 || res->status > 299) {
    /* libcurl's words and the status name internal hosts and ports: the log has them */
    log_failure(run, "HTTP tool failed", res->status,
                res->err == SG_UP_OK ? "the upstream answered a status other than 2xx"
                                     : res->errmsg);
    fail_upstream(run);
  } else if (res->body_len == 0) {
    if (!(run->owned = soulgw_json_null())) fail(run, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    run->result = run->owned;
  } else {
    relay(run, res);
  }
  finish(run);
  run->done(run);
}

/* Starts an HTTP tool.  Returns SG_TOOL_PENDING, or 0 after failing at once. */
static int run_http(sg_tool_run *run) {
  const sg_manifest *m = run->m;
  sg_netpolicy *policy = run->conf ? run->conf->tools.netpolicy : NULL;
  char why[256];
  if (!run->env->upstream || !policy) {
    fail(run, SOULGW_API_PROVIDER_UNAVAILABLE, "tool %.128s: outbound HTTP is not running", m->id);
    return 0;
  }
  /* A manifest stored before user information was refused at publish, or the operator's
   * bootstrap file, may still hold some: it is never sent. */
  sg_url_target target;
  if (sg_url_target_parse(m->handler, &target, why, sizeof why) != 0) {
    log_failure(run, "HTTP tool refused", 0, why);
    fail_upstream(run);
    return 0;
  }
  char *body = soulgw_json_print(run->input);
  if (!body) {
    fail(run, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return 0;
  }
  char rid[96], tenant[160], call[320], tool[300], label[300];
  snprintf(rid, sizeof rid, "X-Request-Id: %s", run->request_id);
  snprintf(tenant, sizeof tenant, "X-Soul-Tenant: %s", run->tenant);
  snprintf(call, sizeof call, "X-Soul-Call-Id: %s", run->call_id);
  snprintf(tool, sizeof tool, "X-Soul-Tool: %s", m->id);
  snprintf(label, sizeof label, "tool %s", m->id);
  const char *hdrs[] = {"Content-Type: application/json", "Accept: application/json", rid,
                        tenant, call, tool, NULL};
  sg_up_req r = {.method = "POST",
                 .url = m->handler,
                 .headers = hdrs,
                 .body = body,
                 .body_len = strlen(body),
                 .timeout_ms = m->timeout_ms > 0 ? (long)m->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS,
                 .max_response = http_limit(run),
                 .policy = policy,
                 .label = label,
                 .done = http_done,
                 .ud = run};
  int rc = sg_upstream_call(run->env->upstream, &r);
  free(body);
  if (rc) {
    fail(run, SOULGW_API_PROVIDER_UNAVAILABLE, "tool %.128s: cannot call %s", m->id,
         rc == SOULGW_ESTATE ? "upstreams while the gateway stops" : "its URL");
    return 0;
  }
  return SG_TOOL_PENDING;
}

int sg_tools_run(sg_tool_run *run) {
  const sg_manifest *m = run->m;
  run->failed = 0;
  run->msg[0] = '\0';
  run->result = NULL;
  run->owned = NULL;
  run->text = NULL;
  run->text_len = 0;
  run->result_text = NULL;
  run->result_text_len = 0;
  run->ns = 0;
  if (m->max_concurrency > 0 &&
      atomic_fetch_add_explicit(m->running, 1, memory_order_relaxed) >= m->max_concurrency) {
    atomic_fetch_sub_explicit(m->running, 1, memory_order_relaxed);
    fail(run, SOULGW_API_QUOTA_RATE_LIMITED,
         "tool %.128s is at its limits.max_concurrency of %lld runs; retry later", m->id,
         m->max_concurrency);
    return 0; /* not a run: not counted */
  }
  switch (m->kind) {
    case SG_TOOL_ECHO:
      run->result = run->input;
      if (!run->input) {
        run->result_text = run->input_text;
        run->result_text_len = run->input_text_len;
      }
      break;
    case SG_TOOL_HOST:
      run_host(run);
      break;
    case SG_TOOL_HTTP:
      if (run_http(run) == SG_TOOL_PENDING) return SG_TOOL_PENDING;
      break;
  }
  finish(run);
  return 0;
}

/*
 * run.h -- running tools: the built-in ones (builtin:echo), HTTP tools (a manifest handler
 * that is an http:// or https:// URL) and C tools registered by the host.
 *
 * A run is described by an sg_tool_run that the caller owns (typically in its request's arena)
 * and keeps alive until the run has finished.  sg_tools_run() either finishes at once (the
 * built-in and host tools, which run on the calling thread) or starts an HTTP call and returns
 * SG_TOOL_PENDING; the run's done callback is then called once, from the upstream thread, so
 * that the caller can defer its request and answer from there.  Every finished run is counted
 * in soulgw_tool_invocations_total{tool,status}.
 */
#ifndef SG_TOOLS_H
#define SG_TOOLS_H

#include "base/log.h"
#include "base/metrics.h"
#include "clients/upstream.h"
#include "conf/config.h"
#include "tools/registry.h"
#include "base/sg.h"

typedef struct sg_tools sg_tools;

/* What running a tool needs from the gateway; the gateway owns it and keeps it for every run. */
typedef struct sg_tool_env {
  sg_log *log;
  sg_metrics *metrics;    /* whether tool ids may be label values */
  sg_upstream *upstream;  /* outbound HTTP for HTTP tools; NULL while the gateway is stopped */
  sg_tools *tools;        /* C tools registered by the host */
  sg_family *invocations; /* soulgw_tool_invocations_total{tool,status} */
} sg_tool_env;

sg_tools *sg_tools_new(void);
void sg_tools_free(sg_tools *t);
/* Backs soulgw_tool_register(): thread-safe, before or after start.  Returns 0,
 * SOULGW_EINVAL (NULL or empty name or fn, a name starting with "builtin:" or "http", or one
 * with control characters), SOULGW_EEXIST, SOULGW_ENOMEM. */
int sg_tools_register(sg_tools *t, const char *name, soulgw_tool_fn fn, void *ud);

#define SG_TOOL_PENDING 1

typedef struct sg_tool_run sg_tool_run;

struct sg_tool_run {
  /* in: set by the caller, unchanged until the run finishes */
  const sg_tool_env *env;
  const sg_manifest *m;
  const soulgw_json *input;
  /* or, with input NULL, the input as canonical JSON text (json_canon.h), part of the request
   * body: for builtin:echo with a trivial output_schema only, which answers it as it is */
  const char *input_text;
  size_t input_text_len;
  const char *request_id, *tenant, *call_id; /* passed to HTTP tools as headers */
  size_t input_bytes;        /* the input's size as compact JSON, when known (else 0) */
  const sg_conf *conf;       /* the request's configuration ([tools] allowed_hosts and
                                max_bytes_out, for HTTP tools), alive until the run finished */
  void (*done)(sg_tool_run *run); /* for a pending run: called once it finished */
  void *ud;                  /* the caller's */

  /* out: valid once finished */
  int failed;                /* 0: result holds the output */
  soulgw_api_error code;     /* when failed */
  char msg[384];             /* when failed */
  const soulgw_json *result; /* the output: owned, or the input itself for builtin:echo; NULL
                                when text holds it */
  soulgw_json *owned;        /* what sg_tool_run_clear() frees */
  char *text;                /* an HTTP tool's output as compact JSON text, relayed as it is
                                (owned, freed by sg_tool_run_clear()), or NULL */
  size_t text_len;
  const char *result_text;   /* or builtin:echo's output as the input's text (not owned) */
  size_t result_text_len;
  uint64_t ns;               /* how long the tool ran */
};

/* Runs run->m's tool on run->input.  Returns 0 when the run has finished (result or failure
 * set; done is not called), or SG_TOOL_PENDING when done will be called later from another
 * thread.  A tool at its limits.max_concurrency fails at once with 429 QUOTA.RATE_LIMITED. */
int sg_tools_run(sg_tool_run *run);

/* Releases what a finished run owns.  Safe to call more than once. */
void sg_tool_run_clear(sg_tool_run *run);

/* The size of v printed as compact JSON (as soulgw_json_print() writes it), counting no
 * further than stop_after bytes (the result is then stop_after + 1). */
size_t sg_json_text_size(const soulgw_json *v, size_t stop_after);

#endif

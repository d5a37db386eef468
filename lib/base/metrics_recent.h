/*
 * metrics_recent.h -- the recent past the console shows (SPEC-console 2): per route, the last
 * 15 minutes in 5-second steps (count, errors, latency histogram buckets), and the last 200
 * error answers.  Bounded memory, nothing stored.
 *
 * Kept by the metrics module (sg_metrics_recent() hands out its instance).  Recording takes no
 * lock except once per route, shard (shard.h) and step (when a step's slot is recycled) and,
 * for an error answer, the errors ring's mutex.  A reader may see a step that is being
 * recycled as empty.
 */
#ifndef SG_METRICS_RECENT_H
#define SG_METRICS_RECENT_H

#include "base/sg.h"

typedef struct sg_recent sg_recent;

#define SG_RECENT_STEP_S 5      /* the ring's resolution */
#define SG_RECENT_WINDOW_S 900  /* how far back it reaches */
#define SG_RECENT_ERRORS 200    /* error answers kept */
#define SG_RECENT_MSG_MAX 200   /* bytes of an error message kept */

/* nroutes bounds the route ids recorded (0 .. nroutes-1); a route's ring is allocated on its
 * first request. */
sg_recent *sg_recent_new(int nroutes);
void sg_recent_free(sg_recent *r);

/* Counts a finished request of route at wall time now_ms: status (>= 400 is an error) and
 * duration. */
void sg_recent_request(sg_recent *r, int route, int status, uint64_t ns, int64_t now_ms);

/* One error answer.  As given, the strings are read only during sg_recent_error() (copied,
 * truncated to their fields' sizes; NULL is kept as ""). */
typedef struct sg_recent_err {
  int64_t at_ms;
  int route, status;
  char code[48];
  char message[SG_RECENT_MSG_MAX + 1];
  char request_id[72];
  char principal[129];
  char tenant[129];
} sg_recent_err;

void sg_recent_error(sg_recent *r, int64_t at_ms, int route, int status, const char *code,
                     const char *message, size_t message_len, const char *request_id,
                     const char *principal, const char *tenant);
/* Copies up to max kept error answers into out, newest first; returns the count. */
size_t sg_recent_errors(sg_recent *r, sg_recent_err *out, size_t max);

/* One step of a series: its start (epoch seconds), requests, error answers, and the 0.99
 * quantile of the durations in seconds from the histogram buckets (as Prometheus'
 * histogram_quantile does), or a negative number when the step saw no request. */
typedef struct sg_recent_point {
  int64_t t;
  uint64_t count, errors;
  double p99;
} sg_recent_point;

/* The series of route (or every route, for route < 0) over the window_s seconds that end with
 * the current step, in steps of step_s: window_s / step_s points into out (at most max).
 * step_s must be a multiple of SG_RECENT_STEP_S, window_s a multiple of step_s no longer than
 * SG_RECENT_WINDOW_S (the caller checks).  Returns the number of points. */
size_t sg_recent_series(sg_recent *r, int route, int64_t now_ms, int window_s, int step_s,
                        sg_recent_point *out, size_t max);

/* The quantile q of a histogram: counts[0..nbounds] over ascending upper bounds (the last
 * count is +Inf), linearly interpolated within its bucket; the highest finite bound when it
 * falls in +Inf; negative when the counts are all zero. */
double sg_recent_quantile(double q, const double *bounds, const uint64_t *counts, size_t nbounds);

#endif

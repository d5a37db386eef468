/*
 * metrics.h -- counters, gauges and histograms, rendered as Prometheus text or JSON.
 *
 * Everything is updated with relaxed atomics and no lock on the request path, each thread in its
 * own shard's copy (shard.h), which readers add up; a gauge is one value.  Label values are
 * fixed in advance or bounded: a family refuses new series beyond its limit and counts them under
 * the label value "other", so no client can grow the exposition.
 */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include "base/sg.h"

typedef struct sg_metrics sg_metrics;
typedef struct sg_family sg_family;

#define SG_METRICS_MAX_ROUTES 256
#define SG_METRICS_UNMATCHED 0 /* route id of requests no route matched */

sg_metrics *sg_metrics_new(void);
void sg_metrics_free(sg_metrics *m);

/* The stable id of a route name, assigned on first use and kept across reloads.  Falls back to
 * SG_METRICS_UNMATCHED when the table is full. */
int sg_metrics_route(sg_metrics *m, const char *name);
/* Counts a finished request: route id, method bit (SG_M_*), status, duration. */
void sg_metrics_request(sg_metrics *m, int route, unsigned method, int status, uint64_t ns);
void sg_metrics_inflight(sg_metrics *m, int delta);
int sg_metrics_inflight_value(sg_metrics *m);

/* A labelled family.  labels is a comma-separated list ("tool,status"); max_series bounds the
 * distinct label combinations (the rest are counted with every label "other"); at most 16
 * labels.  buckets is
 * NULL for a counter, else an ascending list of upper bounds (seconds) ending with 0. */
sg_family *sg_metrics_family(sg_metrics *m, const char *name, const char *help,
                             const char *labels, size_t max_series, const double *buckets);
/* Adds v to the series named by values (one per label). */
void sg_family_add(sg_family *f, const char *const *values, uint64_t v);
/* A labelled gauge: a family whose series are set (sg_family_set), not added to. */
sg_family *sg_metrics_gauge(sg_metrics *m, const char *name, const char *help,
                            const char *labels, size_t max_series);
/* Sets the series named by values of a gauge to v. */
void sg_family_set(sg_family *f, const char *const *values, int64_t v);
/* Moves the series named by values of a gauge by delta (+1 when a thing opens, -1 when it
 * closes), from any thread. */
void sg_family_move(sg_family *f, const char *const *values, int64_t delta);
/* Observes a duration in a histogram family. */
void sg_family_observe(sg_family *f, const char *const *values, uint64_t ns);
/* The current value of a counter series (0 when absent); for tests and JSON. */
uint64_t sg_family_get(sg_family *f, const char *const *values);

/* Label values made of names a tenant chose (tool ids, observe topics, model names) tell anyone
 * who can read /metrics what other tenants do, so they are shown only when the operator opts in
 * ([metrics] tenant_labels).  Off (the default): sg_metrics_label() returns aggregate instead
 * of value (and so it does without m).  Safe while other threads count. */
void sg_metrics_set_tenant_labels(sg_metrics *m, int on);
const char *sg_metrics_label(const sg_metrics *m, const char *value, const char *aggregate);

/* Build information shown as soulgw_build_info and process start time. */
void sg_metrics_set_build(sg_metrics *m, const char *version, const char *commit);

/* The console's recent window (metrics_recent.h), kept for the life of m. */
struct sg_recent *sg_metrics_recent(sg_metrics *m);
/* When m was created (epoch seconds): the process start. */
double sg_metrics_start_time(const sg_metrics *m);
/* The number of route ids assigned, and the name of one (NULL when out of range). */
int sg_metrics_route_count(sg_metrics *m);
const char *sg_metrics_route_name(sg_metrics *m, int route);

/* Prometheus text exposition format 0.0.4. */
int sg_metrics_render_text(sg_metrics *m, sg_buf *out);
/* {"total_requests","total_errors","routes":[{"route","requests","errors","avg_latency_ms"}]} */
int sg_metrics_render_json(sg_metrics *m, sg_buf *out);

#endif

/*
 * metrics.c -- see metrics.h.  Per-route request metrics are a fixed array indexed by a stable
 * route id; other families keep an append-only series table whose entries are published with
 * a release store and never move, so readers need no lock.  What a request adds to (a route's
 * counts, a series' counts, the in-flight gauge) is kept per shard (shard.h): each copy is
 * allocated on its thread's first count, and readers add the copies up.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/metrics.h"
#include "base/metrics_recent.h"
#include "base/route_syntax.h"
#include "base/shard.h"

typedef atomic_uint_fast64_t counter;

/* The status codes counted separately; the rest by class ("2xx" ...). */
static const int known_codes[] = {200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403,
                                  404, 405, 408, 409, 411, 413, 414, 415, 422, 429, 431,
                                  500, 501, 502, 503, 504};
#define NCODES (SG_ARRAY_LEN(known_codes) + 5) /* + 1xx..5xx classes */

static const double duration_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                          1,      2.5,     5,      10};
#define NBUCKETS SG_ARRAY_LEN(duration_buckets)

/* One shard's counts of a route. */
typedef struct route_counts {
  counter by[SG_METHOD_COUNT + 1][NCODES]; /* + unknown method */
  counter buckets[NBUCKETS + 1];           /* + +Inf */
  counter sum_ns, count, errors;
} route_counts;

/* A route's counts added up over the shards. */
typedef struct route_total {
  uint64_t by[SG_METHOD_COUNT + 1][NCODES];
  uint64_t buckets[NBUCKETS + 1];
  uint64_t sum_ns, count, errors;
} route_total;

typedef struct route_stats {
  char *name;
  void *_Atomic shard[SG_SHARDS]; /* route_counts, each thread's in its shard */
} route_stats;

/* One shard's counts of a series: a counter's value, or a histogram's count, sum and buckets. */
typedef struct series_counts {
  counter value, sum_ns;
  counter buckets[]; /* nbounds + 1 for a histogram */
} series_counts;

typedef struct series {
  uint64_t hash;
  char **values;
  atomic_int_fast64_t gauge; /* a gauge's value */
  void *_Atomic shard[SG_SHARDS]; /* series_counts, each thread's in its shard */
} series;

struct sg_family {
  char *name, *help;
  char **labels;
  size_t nlabels, max_series;
  double *bounds; /* histogram upper bounds, NULL for a counter */
  size_t nbounds;
  int gauge;      /* a gauge (sg_metrics_gauge): set, not added to */
  series *slots; /* capacity max_series + 1: the last is "other" */
  atomic_size_t nslots;
  pthread_mutex_t lock; /* held to append */
  struct sg_family *next;
};

struct sg_metrics {
  route_stats *_Atomic routes[SG_METRICS_MAX_ROUTES];
  atomic_int nroutes;
  pthread_mutex_t lock;
  struct {
    _Alignas(SG_CACHE_LINE) atomic_int n;
  } inflight[SG_SHARDS];
  atomic_int tenant_labels;
  sg_family *families;
  char *version, *commit;
  double start_time;
  sg_recent *recent; /* the console's recent window (metrics_recent.h) */
};

sg_metrics *sg_metrics_new(void) {
  sg_metrics *m = sg_shard_calloc(sizeof *m); /* its in-flight shards are line-aligned */
  if (!m) return NULL;
  pthread_mutex_init(&m->lock, NULL);
  m->start_time = (double)sg_wall_ms() / 1000.0;
  if (!(m->recent = sg_recent_new(SG_METRICS_MAX_ROUTES)) ||
      sg_metrics_route(m, "unmatched") != SG_METRICS_UNMATCHED) {
    sg_metrics_free(m);
    return NULL;
  }
  return m;
}

static void family_free(sg_family *f) {
  size_t n = atomic_load(&f->nslots);
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < f->nlabels; k++) free(f->slots[i].values[k]);
    free(f->slots[i].values);
    for (int k = 0; k < SG_SHARDS; k++) free(f->slots[i].shard[k]);
  }
  for (size_t k = 0; k < f->nlabels; k++) free(f->labels[k]);
  free(f->labels);
  free(f->slots);
  free(f->bounds);
  free(f->name);
  free(f->help);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

void sg_metrics_free(sg_metrics *m) {
  if (!m) return;
  for (int i = 0; i < atomic_load(&m->nroutes); i++) {
    for (int k = 0; k < SG_SHARDS; k++) free(m->routes[i]->shard[k]);
    free(m->routes[i]->name);
    free(m->routes[i]);
  }
  for (sg_family *f = m->families, *next; f; f = next) {
    next = f->next;
    family_free(f);
  }
  free(m->version);
  free(m->commit);
  sg_recent_free(m->recent);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

int sg_metrics_route(sg_metrics *m, const char *name) {
  int id = SG_METRICS_UNMATCHED;
  pthread_mutex_lock(&m->lock);
  int n = atomic_load(&m->nroutes);
  for (int i = 0; i < n; i++) {
    if (strcmp(m->routes[i]->name, name) == 0) {
      id = i;
      goto out;
    }
  }
  if (n < SG_METRICS_MAX_ROUTES) {
    route_stats *rs = calloc(1, sizeof *rs);
    if (rs && (rs->name = sg_strdup(name))) {
      atomic_store_explicit(&m->routes[n], rs, memory_order_release);
      atomic_store_explicit(&m->nroutes, n + 1, memory_order_release);
      id = n;
    } else {
      free(rs);
    }
  }
out:
  pthread_mutex_unlock(&m->lock);
  return id;
}

sg_recent *sg_metrics_recent(sg_metrics *m) { return m ? m->recent : NULL; }

double sg_metrics_start_time(const sg_metrics *m) { return m->start_time; }

int sg_metrics_route_count(sg_metrics *m) {
  return atomic_load_explicit(&m->nroutes, memory_order_acquire);
}

const char *sg_metrics_route_name(sg_metrics *m, int route) {
  if (route < 0 || route >= sg_metrics_route_count(m)) return NULL;
  return atomic_load_explicit(&m->routes[route], memory_order_acquire)->name;
}

static size_t code_index(int status) {
  for (size_t i = 0; i < SG_ARRAY_LEN(known_codes); i++)
    if (known_codes[i] == status) return i;
  int cls = status / 100;
  if (cls < 1 || cls > 5) cls = 5;
  return SG_ARRAY_LEN(known_codes) + (size_t)(cls - 1);
}

static void code_label(size_t idx, char out[8]) {
  if (idx < SG_ARRAY_LEN(known_codes)) snprintf(out, 8, "%d", known_codes[idx]);
  else snprintf(out, 8, "%dxx", (int)(idx - SG_ARRAY_LEN(known_codes)) + 1);
}

/* The calling thread's copy in shards, allocated (n bytes) on its first use; NULL when out of
 * memory.  Two threads of one shard may race to allocate it: one copy wins, the other is freed. */
static void *shard_of(void *_Atomic *shards, size_t n) {
  void *_Atomic *slot = &shards[sg_shard()];
  void *p = atomic_load_explicit(slot, memory_order_acquire), *fresh;
  if (p || !(fresh = sg_shard_calloc(n))) return p;
  if (atomic_compare_exchange_strong_explicit(slot, &p, fresh, memory_order_acq_rel,
                                              memory_order_acquire))
    return fresh;
  free(fresh);
  return p;
}

static void route_sum(route_stats *rs, route_total *t) {
  memset(t, 0, sizeof *t);
  for (int k = 0; k < SG_SHARDS; k++) {
    route_counts *c = atomic_load_explicit(&rs->shard[k], memory_order_acquire);
    if (!c) continue;
    for (unsigned mi = 0; mi <= SG_METHOD_COUNT; mi++)
      for (size_t i = 0; i < NCODES; i++)
        t->by[mi][i] += atomic_load_explicit(&c->by[mi][i], memory_order_relaxed);
    for (size_t b = 0; b <= NBUCKETS; b++)
      t->buckets[b] += atomic_load_explicit(&c->buckets[b], memory_order_relaxed);
    t->sum_ns += atomic_load_explicit(&c->sum_ns, memory_order_relaxed);
    t->count += atomic_load_explicit(&c->count, memory_order_relaxed);
    t->errors += atomic_load_explicit(&c->errors, memory_order_relaxed);
  }
}

void sg_metrics_request(sg_metrics *m, int route, unsigned method, int status, uint64_t ns) {
  if (route < 0 || route >= atomic_load_explicit(&m->nroutes, memory_order_acquire))
    route = SG_METRICS_UNMATCHED;
  route_stats *rs0 = atomic_load_explicit(&m->routes[route], memory_order_acquire);
  route_counts *rs = shard_of(rs0->shard, sizeof *rs);
  if (!rs) return;
  atomic_fetch_add_explicit(&rs->by[sg_method_index(method)][code_index(status)], 1,
                            memory_order_relaxed);
  double secs = (double)ns / 1e9;
  size_t b = 0;
  while (b < NBUCKETS && secs > duration_buckets[b]) b++;
  atomic_fetch_add_explicit(&rs->buckets[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&rs->sum_ns, ns, memory_order_relaxed);
  atomic_fetch_add_explicit(&rs->count, 1, memory_order_relaxed);
  if (status >= 400) atomic_fetch_add_explicit(&rs->errors, 1, memory_order_relaxed);
}

void sg_metrics_inflight(sg_metrics *m, int delta) {
  atomic_fetch_add_explicit(&m->inflight[sg_shard()].n, delta, memory_order_relaxed);
}

/* A request counted in on one shard may be counted out on another: only the sum means
 * anything. */
int sg_metrics_inflight_value(sg_metrics *m) {
  int n = 0;
  for (int k = 0; k < SG_SHARDS; k++) n += atomic_load(&m->inflight[k].n);
  return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Families */

static series *find_series(sg_family *f, const char *const *values, int create);

sg_family *sg_metrics_family(sg_metrics *m, const char *name, const char *help,
                             const char *labels, size_t max_series, const double *buckets) {
  sg_family *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  pthread_mutex_init(&f->lock, NULL);
  f->name = sg_strdup(name);
  f->help = sg_strdup(help);
  f->max_series = max_series ? max_series : 1;
  f->slots = calloc(f->max_series + 1, sizeof *f->slots);
  size_t n = 0;
  for (const char *p = labels; p && *p; p++) n += *p == ',';
  if (labels && *labels) n++;
  if (n > 16) goto fail; /* find_series() handles at most 16 labels */
  f->labels = calloc(n + 1, sizeof *f->labels);
  if (!f->name || !f->help || !f->slots || !f->labels) goto fail;
  for (const char *p = labels; n && p;) {
    const char *c = strchr(p, ',');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    if (!(f->labels[f->nlabels++] = sg_strndup(p, len))) goto fail;
    p = c ? c + 1 : NULL;
  }
  if (buckets) {
    while (buckets[f->nbounds] > 0) f->nbounds++;
    f->bounds = malloc((f->nbounds + 1) * sizeof *f->bounds);
    if (!f->bounds) goto fail;
    memcpy(f->bounds, buckets, f->nbounds * sizeof *f->bounds);
  }
  /* A family without labels has exactly one series: shown as 0 from the start, as Prometheus
   * expects of a counter, rather than appearing on its first increment. */
  if (f->nlabels == 0 && !find_series(f, NULL, 1)) goto fail;
  pthread_mutex_lock(&m->lock);
  sg_family **tail = &m->families;
  while (*tail) tail = &(*tail)->next;
  *tail = f;
  pthread_mutex_unlock(&m->lock);
  return f;
fail:
  family_free(f);
  return NULL;
}

static uint64_t values_hash(const sg_family *f, const char *const *values) {
  uint64_t h = 1469598103934665603ull;
  for (size_t k = 0; k < f->nlabels; k++) {
    for (const char *s = values[k] ? values[k] : ""; *s; s++)
      h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  return h;
}

static int values_eq(const sg_family *f, const series *s, const char *const *values) {
  for (size_t k = 0; k < f->nlabels; k++)
    if (strcmp(s->values[k], values[k] ? values[k] : "") != 0) return 0;
  return 1;
}

static series *find_series(sg_family *f, const char *const *values, int create) {
  uint64_t h = values_hash(f, values);
  size_t n = atomic_load_explicit(&f->nslots, memory_order_acquire);
  for (size_t i = 0; i < n; i++)
    if (f->slots[i].hash == h && values_eq(f, &f->slots[i], values)) return &f->slots[i];
  if (!create) return NULL;
  series *s = NULL;
  pthread_mutex_lock(&f->lock);
  n = atomic_load(&f->nslots);
  for (size_t i = 0; i < n; i++)
    if (f->slots[i].hash == h && values_eq(f, &f->slots[i], values)) {
      s = &f->slots[i];
      goto out;
    }
  /* Over the limit: one shared series whose labels all read "other". */
  const char *other[16];
  int overflow = n >= f->max_series;
  if (overflow) {
    for (size_t k = 0; k < f->nlabels && k < 16; k++) other[k] = "other";
    values = other;
    h = values_hash(f, values);
    for (size_t i = 0; i < n; i++)
      if (f->slots[i].hash == h && values_eq(f, &f->slots[i], values)) {
        s = &f->slots[i];
        goto out;
      }
  }
  series *ns = &f->slots[n];
  ns->hash = h;
  ns->values = calloc(f->nlabels + 1, sizeof *ns->values);
  if (!ns->values) goto out;
  for (size_t k = 0; k < f->nlabels; k++)
    if (!(ns->values[k] = sg_strdup(values[k] ? values[k] : ""))) goto undo;
  atomic_store_explicit(&f->nslots, n + 1, memory_order_release);
  s = ns;
  goto out;
undo:
  for (size_t k = 0; k < f->nlabels; k++) free(ns->values[k]);
  free(ns->values);
  ns->values = NULL;
out:
  pthread_mutex_unlock(&f->lock);
  return s;
}

/* The calling thread's copy of a series' counts, or NULL. */
static series_counts *counts_of(const sg_family *f, series *s) {
  size_t n = sizeof(series_counts) + (f->bounds ? (f->nbounds + 1) * sizeof(counter) : 0);
  return s ? shard_of(s->shard, n) : NULL;
}

/* A series' counts added up over the shards: value, sum and (when buckets) buckets. */
static uint64_t series_sum(const sg_family *f, series *s, uint64_t *sum_ns, uint64_t *buckets) {
  uint64_t v = 0;
  if (sum_ns) *sum_ns = 0;
  if (buckets) memset(buckets, 0, (f->nbounds + 1) * sizeof *buckets);
  for (int k = 0; k < SG_SHARDS; k++) {
    series_counts *c = atomic_load_explicit(&s->shard[k], memory_order_acquire);
    if (!c) continue;
    v += atomic_load_explicit(&c->value, memory_order_relaxed);
    if (sum_ns) *sum_ns += atomic_load_explicit(&c->sum_ns, memory_order_relaxed);
    for (size_t b = 0; buckets && b <= f->nbounds; b++)
      buckets[b] += atomic_load_explicit(&c->buckets[b], memory_order_relaxed);
  }
  return v;
}

void sg_family_add(sg_family *f, const char *const *values, uint64_t v) {
  series_counts *c = f ? counts_of(f, find_series(f, values, 1)) : NULL;
  if (c) atomic_fetch_add_explicit(&c->value, v, memory_order_relaxed);
}

sg_family *sg_metrics_gauge(sg_metrics *m, const char *name, const char *help,
                            const char *labels, size_t max_series) {
  sg_family *f = sg_metrics_family(m, name, help, labels, max_series, NULL);
  if (f) f->gauge = 1;
  return f;
}

void sg_family_set(sg_family *f, const char *const *values, int64_t v) {
  series *s = f ? find_series(f, values, 1) : NULL;
  if (s) atomic_store_explicit(&s->gauge, v, memory_order_relaxed);
}

void sg_family_move(sg_family *f, const char *const *values, int64_t delta) {
  series *s = f ? find_series(f, values, 1) : NULL;
  if (s) atomic_fetch_add_explicit(&s->gauge, delta, memory_order_relaxed);
}

void sg_family_observe(sg_family *f, const char *const *values, uint64_t ns) {
  series_counts *c = f && f->bounds ? counts_of(f, find_series(f, values, 1)) : NULL;
  if (!c) return;
  double secs = (double)ns / 1e9;
  size_t b = 0;
  while (b < f->nbounds && secs > f->bounds[b]) b++;
  atomic_fetch_add_explicit(&c->buckets[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->sum_ns, ns, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
}

uint64_t sg_family_get(sg_family *f, const char *const *values) {
  series *s = f ? find_series(f, values, 0) : NULL;
  if (!s) return 0;
  return f->gauge ? (uint64_t)atomic_load(&s->gauge) : series_sum(f, s, NULL, NULL);
}

void sg_metrics_set_tenant_labels(sg_metrics *m, int on) {
  atomic_store_explicit(&m->tenant_labels, on != 0, memory_order_relaxed);
}

const char *sg_metrics_label(const sg_metrics *m, const char *value, const char *aggregate) {
  return m && atomic_load_explicit(&m->tenant_labels, memory_order_relaxed) ? value : aggregate;
}

void sg_metrics_set_build(sg_metrics *m, const char *version, const char *commit) {
  free(m->version);
  free(m->commit);
  m->version = sg_strdup(version);
  m->commit = sg_strdup(commit);
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering */

static void label_value(sg_buf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '\\') sg_buf_puts(b, "\\\\");
    else if (*s == '"') sg_buf_puts(b, "\\\"");
    else if (*s == '\n') sg_buf_puts(b, "\\n");
    else sg_buf_putc(b, *s);
  }
}

static void header(sg_buf *b, const char *name, const char *type, const char *help) {
  sg_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void series_labels(sg_buf *b, const sg_family *f, const series *s, const char *extra_k,
                          const char *extra_v) {
  if (!f->nlabels && !extra_k) return;
  sg_buf_putc(b, '{');
  for (size_t k = 0; k < f->nlabels; k++) {
    sg_buf_printf(b, "%s%s=\"", k ? "," : "", f->labels[k]);
    label_value(b, s->values[k]);
    sg_buf_putc(b, '"');
  }
  if (extra_k) sg_buf_printf(b, "%s%s=\"%s\"", f->nlabels ? "," : "", extra_k, extra_v);
  sg_buf_putc(b, '}');
}

static void render_family(sg_buf *b, sg_family *f) {
  size_t n = atomic_load_explicit(&f->nslots, memory_order_acquire);
  header(b, f->name, f->bounds ? "histogram" : f->gauge ? "gauge" : "counter", f->help);
  for (size_t i = 0; i < n; i++) {
    series *s = &f->slots[i];
    if (!f->bounds) {
      sg_buf_puts(b, f->name);
      series_labels(b, f, s, NULL, NULL);
      if (f->gauge) sg_buf_printf(b, " %lld\n", (long long)atomic_load(&s->gauge));
      else sg_buf_printf(b, " %llu\n", (unsigned long long)series_sum(f, s, NULL, NULL));
      continue;
    }
    uint64_t cum = 0, sum_ns, buckets[f->nbounds + 1];
    uint64_t count = series_sum(f, s, &sum_ns, buckets);
    char le[32];
    for (size_t k = 0; k <= f->nbounds; k++) {
      cum += buckets[k];
      if (k < f->nbounds) snprintf(le, sizeof le, "%g", f->bounds[k]);
      else snprintf(le, sizeof le, "+Inf");
      sg_buf_printf(b, "%s_bucket", f->name);
      series_labels(b, f, s, "le", le);
      sg_buf_printf(b, " %llu\n", (unsigned long long)cum);
    }
    sg_buf_printf(b, "%s_sum", f->name);
    series_labels(b, f, s, NULL, NULL);
    sg_buf_printf(b, " %.9f\n", (double)sum_ns / 1e9);
    sg_buf_printf(b, "%s_count", f->name);
    series_labels(b, f, s, NULL, NULL);
    sg_buf_printf(b, " %llu\n", (unsigned long long)count);
  }
}

static long resident_bytes(void) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "re");
  if (!f) return 0;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
  fclose(f);
  return rss * sysconf(_SC_PAGESIZE);
}

static long open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  long n = 0;
  if (!d) return 0;
  while (readdir(d)) n++;
  closedir(d);
  return n > 3 ? n - 3 : 0; /* ".", ".." and the directory's own descriptor */
}

int sg_metrics_render_text(sg_metrics *m, sg_buf *b) {
  int nr = atomic_load_explicit(&m->nroutes, memory_order_acquire);
  route_total *totals = malloc((size_t)nr * sizeof *totals);
  if (!totals) return SOULGW_ENOMEM;
  for (int r = 0; r < nr; r++)
    route_sum(atomic_load_explicit(&m->routes[r], memory_order_acquire), &totals[r]);
  header(b, "soulgw_http_requests_total", "counter", "HTTP requests by route, method and status.");
  for (int r = 0; r < nr; r++) {
    route_stats *rs = atomic_load_explicit(&m->routes[r], memory_order_acquire);
    for (unsigned mi = 0; mi <= SG_METHOD_COUNT; mi++)
      for (size_t c = 0; c < NCODES; c++) {
        uint64_t v = totals[r].by[mi][c];
        if (!v) continue;
        char code[8];
        code_label(c, code);
        sg_buf_puts(b, "soulgw_http_requests_total{route=\"");
        label_value(b, rs->name);
        const char *method = mi < SG_METHOD_COUNT ? sg_method_name(mi) : "OTHER";
        sg_buf_printf(b, "\",method=\"%s\",code=\"%s\"} %llu\n", method, code,
                      (unsigned long long)v);
      }
  }
  header(b, "soulgw_http_request_duration_seconds", "histogram",
         "Time from the request's headers to the end of its answer, by route.");
  for (int r = 0; r < nr; r++) {
    route_stats *rs = atomic_load_explicit(&m->routes[r], memory_order_acquire);
    uint64_t count = totals[r].count;
    if (!count) continue;
    uint64_t cum = 0;
    for (size_t k = 0; k <= NBUCKETS; k++) {
      cum += totals[r].buckets[k];
      sg_buf_puts(b, "soulgw_http_request_duration_seconds_bucket{route=\"");
      label_value(b, rs->name);
      if (k < NBUCKETS) sg_buf_printf(b, "\",le=\"%g\"} %llu\n", duration_buckets[k], (unsigned long long)cum);
      else sg_buf_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    sg_buf_puts(b, "soulgw_http_request_duration_seconds_sum{route=\"");
    label_value(b, rs->name);
    sg_buf_printf(b, "\"} %.9f\n", (double)totals[r].sum_ns / 1e9);
    sg_buf_puts(b, "soulgw_http_request_duration_seconds_count{route=\"");
    label_value(b, rs->name);
    sg_buf_printf(b, "\"} %llu\n", (unsigned long long)count);
  }
  free(totals);
  header(b, "soulgw_http_requests_in_flight", "gauge", "Requests received and not yet answered.");
  sg_buf_printf(b, "soulgw_http_requests_in_flight %d\n", sg_metrics_inflight_value(m));
  pthread_mutex_lock(&m->lock);
  sg_family *fams = m->families;
  pthread_mutex_unlock(&m->lock);
  for (sg_family *f = fams; f; f = f->next) render_family(b, f);
  header(b, "soulgw_build_info", "gauge", "Build information; always 1.");
  sg_buf_puts(b, "soulgw_build_info{version=\"");
  label_value(b, m->version ? m->version : "");
  sg_buf_puts(b, "\",commit=\"");
  label_value(b, m->commit ? m->commit : "");
  sg_buf_puts(b, "\"} 1\n");
  struct rusage ru;
  double cpu = 0;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
          ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
  header(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
  sg_buf_printf(b, "process_cpu_seconds_total %.3f\n", cpu);
  header(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  sg_buf_printf(b, "process_resident_memory_bytes %ld\n", resident_bytes());
  header(b, "process_open_fds", "gauge", "Number of open file descriptors.");
  sg_buf_printf(b, "process_open_fds %ld\n", open_fds());
  header(b, "process_start_time_seconds", "gauge", "Start time of the process since the epoch.");
  sg_buf_printf(b, "process_start_time_seconds %.3f\n", m->start_time);
  return sg_buf_failed(b) ? SOULGW_ENOMEM : 0;
}

int sg_metrics_render_json(sg_metrics *m, sg_buf *b) {
  int nr = atomic_load_explicit(&m->nroutes, memory_order_acquire);
  route_total *totals = malloc((size_t)nr * sizeof *totals);
  if (!totals) return SOULGW_ENOMEM;
  uint64_t total = 0, errors = 0;
  for (int r = 0; r < nr; r++) {
    route_sum(atomic_load_explicit(&m->routes[r], memory_order_acquire), &totals[r]);
    total += totals[r].count;
    errors += totals[r].errors;
  }
  sg_buf_printf(b, "{\"total_requests\":%llu,\"total_errors\":%llu,\"in_flight\":%d,\"routes\":[",
                (unsigned long long)total, (unsigned long long)errors,
                sg_metrics_inflight_value(m));
  int first = 1;
  for (int r = 0; r < nr; r++) {
    route_stats *rs = atomic_load_explicit(&m->routes[r], memory_order_acquire);
    uint64_t count = totals[r].count;
    if (!count) continue;
    sg_buf_puts(b, first ? "{\"route\":\"" : ",{\"route\":\"");
    first = 0;
    sg_buf_json_escape(b, rs->name, (size_t)-1);
    sg_buf_printf(b, "\",\"requests\":%llu,\"errors\":%llu,\"avg_latency_ms\":%.3f}",
                  (unsigned long long)count, (unsigned long long)totals[r].errors,
                  (double)totals[r].sum_ns / 1e6 / (double)count);
  }
  free(totals);
  sg_buf_puts(b, "]}");
  return sg_buf_failed(b) ? SOULGW_ENOMEM : 0;
}

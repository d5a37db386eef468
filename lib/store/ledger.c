/*
 * ledger.c -- the usage ledger and budgets (see ledger.h).
 *
 * One hash table under one mutex holds two sorts of entries: rows (tenant, day, kind, name)
 * with the counts not yet written, and per tenant and day the totals budgets read: the durable
 * ones (loaded from the store on the first check of the day, refreshed after each pass) and
 * those counted since.  The ledger's thread, every SG_LEDGER_FLUSH_MS, takes the counts out of
 * the rows under the mutex, hands them to the store's writer as one write (additive upserts),
 * and after the commit reloads the durable totals of the tenants whose budgets were checked.
 * A failed write puts the counts back.  Rows of past days with nothing to write are freed.
 *
 * flush_mu orders a pass against the readers that combine durable and in-memory counts (a
 * report, a first budget check): they never see a row both written and still counted.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "store/front.h"
#include "store/ledger.h"

#define BUCKETS 4096
enum { TDAY = 2 }; /* the kind of a tenant-and-day totals entry */
enum { U_TOKENS, U_REQUESTS, U_TOOLS, U_N }; /* what budgets count */

typedef struct entry {
  struct entry *next;
  uint64_t hash;
  int64_t day;
  int kind; /* sg_usage_kind, or TDAY */
  char *tenant, *name;
  int64_t pend[SG_USAGE_NV]; /* rows: counted, not yet handed to the store */
  int64_t us_left;           /* rows: microseconds of duration short of a whole ms */
  int loaded;                /* TDAY: base is known */
  int64_t base[U_N];         /* TDAY: durable totals */
  int64_t since[U_N];        /* TDAY: counted since (not in base) */
} entry;

struct sg_ledger {
  pthread_mutex_t mu;
  pthread_mutex_t flush_mu;
  pthread_cond_t wake;
  entry *b[BUCKETS];
  sg_log *log;
  sg_store *store; /* NULL while stopped */
  pthread_t thread;
  int running, stopping;
};

const char *sg_usage_kind_name(sg_usage_kind k) { return k == SG_USAGE_TOOL ? "tool" : "llm"; }

/* ------------------------------------------------------------------------------------------ */
/* Days */

int64_t sg_ledger_now_s(void) {
  int64_t now = (int64_t)time(NULL);
#ifdef SOULGW_TEST_HOOKS
  const char *path = getenv("SOULGW_TEST_CLOCK_FILE");
  FILE *f = path ? fopen(path, "r") : NULL;
  if (f) {
    long long off = 0;
    if (fscanf(f, "%lld", &off) == 1) now += off;
    fclose(f);
  }
#endif
  return now;
}

static int64_t day_of(int64_t s) { return s >= 0 ? s / 86400 : (s - 86399) / 86400; }

void sg_ledger_day_text(int64_t d, char out[11]) {
  time_t t = (time_t)(d * 86400);
  struct tm tm;
  gmtime_r(&t, &tm);
  char txt[32];
  snprintf(txt, sizeof txt, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  memcpy(out, txt, 10);
  out[10] = '\0';
}

int64_t sg_ledger_parse_day(const char *s) {
  int y, m, d;
  char tail;
  if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return -1;
  if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return -1;
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31) return -1;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
  time_t t = timegm(&tm);
  if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != m - 1) return -1; /* 2026-02-30 */
  return (int64_t)t / 86400;
}

/* ------------------------------------------------------------------------------------------ */
/* The table */

static uint64_t hash_of(const char *tenant, int64_t day, int kind, const char *name) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)day ^ ((uint64_t)kind << 40);
  for (const char *p = tenant; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  h = (h ^ 0xff) * 1099511628211ULL;
  for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  return h;
}

/* Under mu: the entry, made (zero) when missing; NULL when out of memory. */
static entry *find(sg_ledger *l, const char *tenant, int64_t day, int kind, const char *name) {
  uint64_t h = hash_of(tenant, day, kind, name);
  entry **slot = &l->b[h % BUCKETS];
  for (entry *e = *slot; e; e = e->next)
    if (e->hash == h && e->day == day && e->kind == kind && strcmp(e->tenant, tenant) == 0 &&
        strcmp(e->name, name) == 0)
      return e;
  entry *e = calloc(1, sizeof *e);
  if (!e || !(e->tenant = strdup(tenant)) || !(e->name = strdup(name))) {
    if (e) free(e->tenant);
    free(e);
    return NULL;
  }
  e->hash = h;
  e->day = day;
  e->kind = kind;
  e->next = *slot;
  *slot = e;
  return e;
}

static void entry_free(entry *e) {
  free(e->tenant);
  free(e->name);
  free(e);
}

sg_ledger *sg_ledger_new(sg_log *log) {
  sg_ledger *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  pthread_mutex_init(&l->mu, NULL);
  pthread_mutex_init(&l->flush_mu, NULL);
  pthread_cond_init(&l->wake, NULL);
  l->log = log;
  return l;
}

void sg_ledger_free(sg_ledger *l) {
  if (!l) return;
  sg_ledger_stop(l);
  for (size_t i = 0; i < BUCKETS; i++)
    for (entry *e = l->b[i], *n; e; e = n) {
      n = e->next;
      entry_free(e);
    }
  pthread_cond_destroy(&l->wake);
  pthread_mutex_destroy(&l->flush_mu);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

void sg_ledger_add(sg_ledger *l, const char *tenant, sg_usage_kind kind, const char *name,
                   int failed, long long input_tokens, long long output_tokens, uint64_t ns) {
  if (!l || !tenant || !name) return;
  int64_t day = day_of(sg_ledger_now_s());
  if (input_tokens < 0) input_tokens = 0;
  if (output_tokens < 0) output_tokens = 0;
  pthread_mutex_lock(&l->mu);
  entry *e = find(l, tenant, day, (int)kind, name), *t = find(l, tenant, day, TDAY, "");
  if (e) {
    e->pend[0]++;
    e->pend[1] += input_tokens;
    e->pend[2] += output_tokens;
    e->pend[3] += failed != 0;
    e->us_left += (int64_t)(ns / 1000); /* calls shorter than a ms add up */
    e->pend[4] += e->us_left / 1000;
    e->us_left %= 1000;
  }
  if (t && kind == SG_USAGE_LLM) {
    t->since[U_TOKENS] += input_tokens + output_tokens;
    t->since[U_REQUESTS]++;
  } else if (t) {
    t->since[U_TOOLS]++;
  }
  pthread_mutex_unlock(&l->mu);
  if (!e && l->log) sg_log(l->log, SOULGW_LOG_ERROR, "usage ledger: out of memory; a call is not counted");
}

/* ------------------------------------------------------------------------------------------ */
/* Reading the store */

typedef struct sums {
  int64_t v[U_N];
} sums;

static int sum_row(void *ud, const sg_row *r) {
  sums *s = ud;
  const char *kind = sg_row_text(r, 2);
  if (kind && strcmp(kind, "tool") == 0) {
    s->v[U_TOOLS] += sg_row_int(r, 4);
  } else {
    s->v[U_REQUESTS] += sg_row_int(r, 4);
    s->v[U_TOKENS] += sg_row_int(r, 5) + sg_row_int(r, 6);
  }
  return 0;
}

/* The durable totals of tenant on day d: 0, or -1 when the store cannot say. */
static int durable_totals(sg_store *st, const char *tenant, int64_t d, sums *out) {
  char day[11];
  sg_ledger_day_text(d, day);
  memset(out, 0, sizeof *out);
  sg_conn *c = st ? sg_store_reader(st) : NULL;
  if (!c) return -1;
  int rc = c->drv->usage_range(c, tenant, day, day, sum_row, out);
  if (rc) sg_store_count_error(st, "usage read", rc, c);
  sg_store_reader_put(st, c);
  return rc ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Passes */

typedef struct item {
  entry *e;
  int64_t v[SG_USAGE_NV];
} item;

typedef struct batch {
  item *items;
  size_t n;
} batch;

static sg_st op_usage(sg_store *st, sg_conn *c, wop *w) {
  const batch *b = w->data;
  for (size_t i = 0; i < b->n; i++) {
    const entry *e = b->items[i].e;
    char day[11];
    sg_ledger_day_text(e->day, day);
    int rc = c->drv->usage_add(c, e->tenant, day, sg_usage_kind_name((sg_usage_kind)e->kind),
                               e->name, b->items[i].v);
    if (rc) return sg_store_write_failed(st, w, "usage ledger", rc, c);
  }
  return SG_ST_OK;
}

/* Under mu: takes the counts out of the rows into b (0, or -1 when out of memory: nothing
 * taken). */
static int take(sg_ledger *l, batch *b) {
  size_t n = 0;
  for (size_t i = 0; i < BUCKETS; i++)
    for (entry *e = l->b[i]; e; e = e->next)
      if (e->kind != TDAY && e->pend[0]) n++;
  b->n = 0;
  b->items = NULL;
  if (!n) return 0;
  if (!(b->items = malloc(n * sizeof *b->items))) return -1;
  for (size_t i = 0; i < BUCKETS; i++)
    for (entry *e = l->b[i]; e; e = e->next) {
      if (e->kind == TDAY || !e->pend[0]) continue;
      b->items[b->n].e = e;
      memcpy(b->items[b->n].v, e->pend, sizeof e->pend);
      memset(e->pend, 0, sizeof e->pend);
      b->n++;
    }
  return 0;
}

/* Under mu: puts the counts of a write that failed back. */
static void put_back(batch *b) {
  for (size_t i = 0; i < b->n; i++)
    for (int k = 0; k < SG_USAGE_NV; k++) b->items[i].e->pend[k] += b->items[i].v[k];
}

/* Under mu: frees the rows of days before today with nothing to write, and the totals of
 * days before yesterday. */
static void prune(sg_ledger *l, int64_t today) {
  for (size_t i = 0; i < BUCKETS; i++)
    for (entry **p = &l->b[i], *e; (e = *p);) {
      int old = e->kind == TDAY ? e->day < today - 1 : e->day < today && !e->pend[0];
      if (!old) {
        p = &e->next;
        continue;
      }
      *p = e->next;
      entry_free(e);
    }
}

/* The totals entries whose budgets were checked (loaded), copied: tenant and day. */
typedef struct tday_ref {
  char *tenant;
  int64_t day;
} tday_ref;

/* After a pass: the durable totals of every loaded tenant and day, read again; what the pass
 * wrote (b) leaves the counted-since. */
static void refresh(sg_ledger *l, sg_store *st, const batch *b) {
  size_t n = 0, cap = 0;
  tday_ref *refs = NULL;
  pthread_mutex_lock(&l->mu);
  for (size_t i = 0; i < BUCKETS; i++)
    for (entry *e = l->b[i]; e; e = e->next) {
      if (e->kind != TDAY || !e->loaded) continue;
      if (n == cap) {
        tday_ref *r = realloc(refs, (cap = cap ? 2 * cap : 16) * sizeof *r);
        if (!r) break;
        refs = r;
      }
      if ((refs[n].tenant = strdup(e->tenant))) refs[n++].day = e->day;
    }
  pthread_mutex_unlock(&l->mu);
  sums *got = n ? calloc(n, sizeof *got) : NULL;
  int *ok = n ? calloc(n, sizeof *ok) : NULL;
  for (size_t i = 0; got && ok && i < n; i++)
    ok[i] = durable_totals(st, refs[i].tenant, refs[i].day, &got[i]) == 0;
  pthread_mutex_lock(&l->mu);
  /* what was written moves from the counted-since of its tenant and day to the durable */
  for (size_t i = 0; i < b->n; i++) {
    const entry *e = b->items[i].e;
    entry *t = find(l, e->tenant, e->day, TDAY, "");
    if (!t) continue;
    int64_t moved[U_N] = {0};
    if (e->kind == SG_USAGE_LLM) {
      moved[U_TOKENS] = b->items[i].v[1] + b->items[i].v[2];
      moved[U_REQUESTS] = b->items[i].v[0];
    } else {
      moved[U_TOOLS] = b->items[i].v[0];
    }
    for (int k = 0; k < U_N; k++) {
      t->since[k] -= moved[k];
      t->base[k] += moved[k];
    }
  }
  /* and the durable totals read again replace those where they could be read */
  for (size_t i = 0; i < n; i++) {
    entry *t = got && ok && ok[i] ? find(l, refs[i].tenant, refs[i].day, TDAY, "") : NULL;
    if (t) memcpy(t->base, got[i].v, sizeof t->base);
    free(refs[i].tenant);
  }
  pthread_mutex_unlock(&l->mu);
  free(refs);
  free(got);
  free(ok);
}

/* One pass: the counts to the store, then the durable totals back.  Under flush_mu. */
static void pass(sg_ledger *l) {
  sg_store *st = l->store;
  batch b;
  pthread_mutex_lock(&l->mu);
  int rc = take(l, &b);
  pthread_mutex_unlock(&l->mu);
  if (rc) {
    if (l->log) sg_log(l->log, SOULGW_LOG_ERROR, "usage ledger: out of memory; retrying");
    return;
  }
  if (b.n) {
    wop *w = sg_wop_new(NULL, NULL, op_usage, "");
    if (w) w->data = &b;
    sg_st s = sg_store_submit_wait(st, w, 0);
    if (s != SG_ST_OK) {
      pthread_mutex_lock(&l->mu);
      put_back(&b);
      pthread_mutex_unlock(&l->mu);
      free(b.items);
      return; /* counted by the store; the next pass tries again */
    }
  }
  /* a database of one gateway (SQLite) changes only by this one's writes */
  if (b.n || strcmp(st->drv->name, "sqlite") != 0) refresh(l, st, &b);
  free(b.items);
  pthread_mutex_lock(&l->mu);
  prune(l, day_of(sg_ledger_now_s()));
  pthread_mutex_unlock(&l->mu);
}

static void *flusher(void *arg) {
  sg_ledger *l = arg;
  pthread_mutex_lock(&l->flush_mu);
  while (!l->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)SG_LEDGER_FLUSH_MS % 1000 * 1000000L;
    until.tv_sec += SG_LEDGER_FLUSH_MS / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&l->wake, &l->flush_mu, &until);
    pass(l);
  }
  pthread_mutex_unlock(&l->flush_mu);
  return NULL;
}

int sg_ledger_start(sg_ledger *l, sg_store *st) {
  if (!l || l->running) return 0;
  pthread_mutex_lock(&l->flush_mu);
  l->store = st;
  l->stopping = 0;
  /* durable totals from before this start are read again */
  pthread_mutex_lock(&l->mu);
  for (size_t i = 0; i < BUCKETS; i++)
    for (entry *e = l->b[i]; e; e = e->next) e->loaded = 0;
  pthread_mutex_unlock(&l->mu);
  pthread_mutex_unlock(&l->flush_mu);
  if (pthread_create(&l->thread, NULL, flusher, l) != 0) {
    l->store = NULL;
    return SOULGW_ENOMEM;
  }
  l->running = 1;
  return 0;
}

void sg_ledger_stop(sg_ledger *l) {
  if (!l || !l->running) return;
  pthread_mutex_lock(&l->flush_mu);
  l->stopping = 1;
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->flush_mu);
  pthread_join(l->thread, NULL);
  l->running = 0;
  pthread_mutex_lock(&l->flush_mu);
  pass(l); /* the last counts */
  l->store = NULL;
  pthread_mutex_unlock(&l->flush_mu);
}

/* ------------------------------------------------------------------------------------------ */
/* Budgets */

const sg_tenant_conf *sg_ledger_caps(const sg_conf *conf, const char *tenant) {
  for (const sg_tenant_conf *t = conf ? conf->tenants : NULL; t && tenant; t = t->next)
    if (strcmp(t->name, tenant) == 0) return t;
  return NULL;
}

/* Under mu (taken and given back when the durable totals must be read first): tenant's use of
 * day d, or -1 when it cannot be known (the store cannot say; the call goes on). */
static int used(sg_ledger *l, sg_store *st, const char *tenant, int64_t d, int64_t out[U_N]) {
  entry *t = find(l, tenant, d, TDAY, "");
  if (!t) return -1;
  if (!t->loaded) {
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_lock(&l->flush_mu);
    sums s;
    int rc = st ? durable_totals(st, tenant, d, &s) : -1;
    pthread_mutex_lock(&l->mu);
    t = find(l, tenant, d, TDAY, "");
    if (t && !rc && !t->loaded) {
      memcpy(t->base, s.v, sizeof t->base);
      t->loaded = 1;
    }
    pthread_mutex_unlock(&l->flush_mu);
    if (!t || !t->loaded) return -1;
  }
  for (int k = 0; k < U_N; k++) out[k] = t->base[k] + t->since[k];
  return 0;
}

int sg_ledger_over(sg_ledger *l, const char *tenant, const sg_tenant_conf *caps,
                   sg_usage_kind kind, char *msg, size_t msglen, long *retry_after_s) {
  if (!caps || !l || !tenant) return 0;
  long long tok = caps->llm_tokens_per_day, req = caps->llm_requests_per_day,
            tools = caps->tool_calls_per_day;
  if (kind == SG_USAGE_LLM ? tok < 0 && req < 0 : tools < 0) return 0;
  int64_t now = sg_ledger_now_s(), d = day_of(now), u[U_N];
  pthread_mutex_lock(&l->mu);
  int rc = used(l, l->store, tenant, d, u);
  pthread_mutex_unlock(&l->mu);
  if (rc) return 0; /* the store cannot say: counting goes on, the next check knows more */
  const char *cap = NULL;
  long long limit = 0, have = 0;
  if (kind == SG_USAGE_LLM && tok >= 0 && u[U_TOKENS] >= tok)
    cap = "llm_tokens_per_day", limit = tok, have = u[U_TOKENS];
  else if (kind == SG_USAGE_LLM && req >= 0 && u[U_REQUESTS] >= req)
    cap = "llm_requests_per_day", limit = req, have = u[U_REQUESTS];
  else if (kind == SG_USAGE_TOOL && tools >= 0 && u[U_TOOLS] >= tools)
    cap = "tool_calls_per_day", limit = tools, have = u[U_TOOLS];
  if (!cap) return 0;
  char day[11];
  sg_ledger_day_text(d, day);
  snprintf(msg, msglen,
           "tenant %.128s has reached its budget %s = %lld for %s (UTC): %lld used; it resets "
           "at midnight UTC",
           tenant, cap, limit, day, have);
  *retry_after_s = (long)((d + 1) * 86400 - now);
  if (*retry_after_s < 1) *retry_after_s = 1;
  return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Reports */

/* One row of a report being built. */
typedef struct rrow {
  char *tenant, *name;
  int64_t day;
  int kind; /* -1: grouped away */
  int64_t v[SG_USAGE_NV];
} rrow;

typedef struct report {
  rrow *rows;
  size_t n, cap;
  sg_usage_group group;
  int all; /* every tenant: rows keep theirs */
  int failed;
} report;

/* Adds counts to the report's row for (tenant, day, kind, name) as its grouping keeps them. */
static void report_add(report *r, const char *tenant, int64_t day, int kind, const char *name,
                       const int64_t v[SG_USAGE_NV]) {
  if (!r->all) tenant = "";
  if (r->group == SG_GROUP_DAY) kind = -1, name = "";
  if (r->group == SG_GROUP_KIND) day = -1, name = "";
  if (r->group == SG_GROUP_NAME) day = -1;
  for (size_t i = 0; i < r->n; i++) {
    rrow *x = &r->rows[i];
    if (x->day == day && x->kind == kind && !strcmp(x->name, name) && !strcmp(x->tenant, tenant)) {
      for (int k = 0; k < SG_USAGE_NV; k++) x->v[k] += v[k];
      return;
    }
  }
  if (r->n == r->cap) {
    rrow *g = realloc(r->rows, (r->cap = r->cap ? 2 * r->cap : 32) * sizeof *g);
    if (!g) {
      r->failed = 1;
      return;
    }
    r->rows = g;
  }
  rrow *x = &r->rows[r->n];
  if (!(x->tenant = strdup(tenant)) || !(x->name = strdup(name))) {
    free(x->tenant);
    r->failed = 1;
    return;
  }
  x->day = day;
  x->kind = kind;
  memcpy(x->v, v, sizeof x->v);
  r->n++;
}

static int report_row(void *ud, const sg_row *row) {
  int64_t v[SG_USAGE_NV];
  for (int k = 0; k < SG_USAGE_NV; k++) v[k] = sg_row_int(row, 4 + k);
  const char *kind = sg_row_text(row, 2);
  int64_t day = sg_ledger_parse_day(sg_row_text(row, 1));
  report_add(ud, sg_row_text(row, 0) ? sg_row_text(row, 0) : "", day,
             kind && !strcmp(kind, "tool") ? SG_USAGE_TOOL : SG_USAGE_LLM,
             sg_row_text(row, 3) ? sg_row_text(row, 3) : "", v);
  return 0;
}

static int cmp_rows(const void *a, const void *b) {
  const rrow *x = a, *y = b;
  int c = strcmp(x->tenant, y->tenant);
  if (c) return c;
  if (x->day != y->day) return x->day < y->day ? -1 : 1;
  if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
  return strcmp(x->name, y->name);
}

static soulgw_json *counters(const int64_t v[SG_USAGE_NV]) {
  static const char *const keys[SG_USAGE_NV] = {"requests", "input_tokens", "output_tokens",
                                                "errors", "duration_ms"};
  soulgw_json *o = soulgw_json_object();
  for (int k = 0; o && k < SG_USAGE_NV; k++)
    if (soulgw_json_set(o, keys[k], sg_json_new_int(v[k]))) {
      soulgw_json_free(o);
      return NULL;
    }
  return o;
}

static soulgw_json *day_json(int64_t d) {
  char t[11];
  if (d < 0) return soulgw_json_null();
  sg_ledger_day_text(d, t);
  return soulgw_json_new_string(t);
}

static soulgw_json *cap_json(long long v) { return v < 0 ? soulgw_json_null() : sg_json_new_int(v); }

/* The "budget" member: the caps and today's use. */
static soulgw_json *budget_json(sg_ledger *l, sg_store *st, const char *tenant,
                                const sg_tenant_conf *caps) {
  int64_t now = sg_ledger_now_s(), d = day_of(now), u[U_N] = {0};
  pthread_mutex_lock(&l->mu);
  int rc = used(l, st, tenant, d, u);
  pthread_mutex_unlock(&l->mu);
  soulgw_json *b = soulgw_json_object(), *use = soulgw_json_object();
  int bad = !b || !use;
  bad |= soulgw_json_set(b, "llm_tokens_per_day", cap_json(caps ? caps->llm_tokens_per_day : -1));
  bad |= soulgw_json_set(b, "llm_requests_per_day",
                         cap_json(caps ? caps->llm_requests_per_day : -1));
  bad |= soulgw_json_set(b, "tool_calls_per_day", cap_json(caps ? caps->tool_calls_per_day : -1));
  bad |= soulgw_json_set(b, "day", day_json(d));
  bad |= soulgw_json_set(use, "llm_tokens", rc ? soulgw_json_null() : sg_json_new_int(u[U_TOKENS]));
  bad |= soulgw_json_set(use, "llm_requests",
                         rc ? soulgw_json_null() : sg_json_new_int(u[U_REQUESTS]));
  bad |= soulgw_json_set(use, "tool_calls", rc ? soulgw_json_null() : sg_json_new_int(u[U_TOOLS]));
  bad |= soulgw_json_set(b, "used_today", use);
  bad |= soulgw_json_set(b, "resets_in_s", sg_json_new_int((d + 1) * 86400 - now));
  if (bad) {
    soulgw_json_free(b);
    return NULL;
  }
  return b;
}

/* The answer of a report built in r. */
static soulgw_json *report_json(sg_ledger *l, sg_store *st, report *r, const char *tenant,
                                int64_t from, int64_t to, const sg_tenant_conf *caps) {
  int64_t tot[SG_USAGE_NV] = {0};
  if (r->n) qsort(r->rows, r->n, sizeof *r->rows, cmp_rows);
  soulgw_json *o = soulgw_json_object(), *rows = soulgw_json_array();
  int bad = !o || !rows;
  for (size_t i = 0; !bad && i < r->n; i++) {
    rrow *x = &r->rows[i];
    soulgw_json *j = soulgw_json_object(), *v = counters(x->v);
    for (int k = 0; k < SG_USAGE_NV; k++) tot[k] += x->v[k];
    bad |= !j || !v;
    if (r->all) bad |= soulgw_json_set(j, "tenant", soulgw_json_new_string(x->tenant));
    bad |= soulgw_json_set(j, "day", day_json(x->day));
    bad |= soulgw_json_set(j, "kind", x->kind < 0 ? soulgw_json_null()
                                                  : soulgw_json_new_string(
                                                        sg_usage_kind_name((sg_usage_kind)x->kind)));
    bad |= soulgw_json_set(j, "name", r->group == SG_GROUP_DAY || r->group == SG_GROUP_KIND
                                          ? soulgw_json_null()
                                          : soulgw_json_new_string(x->name));
    for (soulgw_json *f = soulgw_json_first(v); !bad && f; f = soulgw_json_next(f))
      bad |= soulgw_json_set(j, soulgw_json_key(f), soulgw_json_dup(f));
    soulgw_json_free(v);
    bad |= soulgw_json_push(rows, j);
  }
  bad |= soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant ? tenant : "*"));
  bad |= soulgw_json_set(o, "from", day_json(from));
  bad |= soulgw_json_set(o, "to", day_json(to));
  bad |= soulgw_json_set(o, "rows", rows);
  rows = NULL;
  bad |= soulgw_json_set(o, "totals", counters(tot));
  bad |= soulgw_json_set(o, "budget", tenant ? budget_json(l, st, tenant, caps) : soulgw_json_null());
  if (bad) {
    soulgw_json_free(rows);
    soulgw_json_free(o);
    return NULL;
  }
  return o;
}

static void report_free(report *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->rows[i].tenant);
    free(r->rows[i].name);
  }
  free(r->rows);
}

/* Fills r with the durable rows of tenant (NULL: all) from..to: 0, or a driver error. */
static int read_durable(sg_store *st, report *r, const char *tenant, int64_t from, int64_t to) {
  char f[11], t[11];
  sg_ledger_day_text(from, f);
  sg_ledger_day_text(to, t);
  sg_conn *c = sg_store_reader(st);
  if (!c) return SG_DRV_CANTOPEN;
  int rc = c->drv->usage_range(c, tenant, f, t, report_row, r);
  if (rc) sg_store_count_error(st, "usage report", rc, c);
  sg_store_reader_put(st, c);
  return rc;
}

sg_st sg_ledger_report(sg_ledger *l, sg_store *st, const char *tenant, int64_t from, int64_t to,
                       sg_usage_group group, const sg_tenant_conf *caps, soulgw_json **out) {
  report r = {.group = group, .all = tenant == NULL};
  *out = NULL;
  pthread_mutex_lock(&l->flush_mu);
  int rc = read_durable(st, &r, tenant, from, to);
  if (!rc) {
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < BUCKETS; i++)
      for (entry *e = l->b[i]; e; e = e->next)
        if (e->kind != TDAY && e->pend[0] && e->day >= from && e->day <= to &&
            (!tenant || !strcmp(tenant, e->tenant)))
          report_add(&r, e->tenant, e->day, e->kind, e->name, e->pend);
    pthread_mutex_unlock(&l->mu);
  }
  pthread_mutex_unlock(&l->flush_mu);
  if (!rc && !r.failed) *out = report_json(l, st, &r, tenant, from, to, caps);
  report_free(&r);
  return *out ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

/*
 * store.c -- the store's front (store.h, front.h): everything that does not depend on the
 * engine.  The backend chosen by name, open and close, the pool of reader connections, the
 * writer thread and group commit; the operations (reads on the caller's thread, writes queued);
 * the JSON answers built from a driver's rows, the merges and the graph walk (shape.h).
 *
 * One writer connection, owned by the writer thread, and a pool of reader connections used by
 * whatever thread reads.  Writes are queued; the writer takes everything queued at once, runs
 * it in one transaction, commits, and only then calls each write's completion (group commit:
 * one fsync for the whole batch, so synchronous=FULL stays fast under concurrency).
 *
 * Each write of a batch runs in its own savepoint.  A write that refuses or fails (a conflict,
 * an unreadable row, a statement that fails) is rolled back to its savepoint and answered
 * alone; its neighbours commit.  Only a failure of the database itself (I/O, a full disk, a
 * transaction the engine gave up, a failed commit; the driver's fatal() tells) fails the whole
 * batch, which is rolled back and answered 503 and marks the store unwritable, so nothing
 * unacknowledged is half-written and nothing acknowledged is lost.  A SAVEPOINT/RELEASE pair
 * costs about 2 us per write on SQLite (measured against 10-12 us for the write itself without
 * fsync).  Work that needs no database (serialising JSON) is done by the caller before
 * queueing, off the single writer thread.
 *
 * The engine is behind a driver (driver.h); nothing here knows SQL.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "base/json_write.h"
#include "store/front.h"
#include "store/shape.h"

/* The drivers built in; the first is the default. */
static const sg_store_driver *const drivers[] = {&sg_store_sqlite};

#define PROBE_IDLE_S 5

/* ------------------------------------------------------------------------------------------ */
/* Errors */

void sg_store_count_error(sg_store *st, const char *what, int err, sg_conn *c) {
  sg_family_add(st->errors, NULL, 1);
  if (!st->log) return;
  const char *msg = "";
  int code = 0;
  st->drv->describe(c, err, &msg, &code);
  sg_log(st->log, SOULGW_LOG_ERROR, "storage error", SG_S("operation", what),
         SG_S(st->drv->name, msg), SG_I("code", code));
}

sg_st sg_store_read_failed(sg_store *st, const char *what, int err, sg_conn *c) {
  sg_store_count_error(st, what, err, c);
  return SG_ST_UNAVAILABLE;
}

sg_st sg_store_write_failed(sg_store *st, wop *w, const char *what, int err, sg_conn *c) {
  sg_store_count_error(st, what, err, c);
  w->rc = err ? err : SG_DRV_FAILED;
  snprintf(w->msg, sizeof w->msg, "the write could not be stored, and nothing of it was");
  return SG_ST_UNAVAILABLE;
}

sg_st sg_store_unreadable(sg_store *st, const char *tenant, const char *id, char *msg,
                          size_t len) {
  sg_family_add(st->errors, NULL, 1);
  if (st->log)
    sg_log(st->log, SOULGW_LOG_ERROR, "storage error: a collaboration cannot be read",
           SG_S("tenant", tenant), SG_S("collab_id", id));
  snprintf(msg, len, "collaboration %.100s is stored in a form that cannot be read", id);
  return SG_ST_UNREADABLE;
}

/* ------------------------------------------------------------------------------------------ */
/* Reader connections */

sg_conn *sg_store_reader(sg_store *st) {
  sg_conn *c = NULL;
  pthread_mutex_lock(&st->rlock);
  if ((c = st->free_readers)) st->free_readers = c->next_free;
  pthread_mutex_unlock(&st->rlock);
  if (c) return c;
  char err[256];
  if (st->drv->connect(st->db, 1, &c, err, sizeof err) != 0) {
    sg_store_count_error(st, "open reader", SG_DRV_CANTOPEN, NULL);
    return NULL;
  }
  pthread_mutex_lock(&st->rlock);
  c->next_all = st->all_readers;
  st->all_readers = c;
  pthread_mutex_unlock(&st->rlock);
  return c;
}

void sg_store_reader_put(sg_store *st, sg_conn *c) {
  if (!c) return;
  pthread_mutex_lock(&st->rlock);
  c->next_free = st->free_readers;
  st->free_readers = c;
  pthread_mutex_unlock(&st->rlock);
}

/* ------------------------------------------------------------------------------------------ */
/* The writer */

static void wop_free(wop *w) {
  soulgw_json_free(w->j1);
  soulgw_json_free(w->j2);
  sg_arena_release(&w->arena);
  free(w);
}

static void finish_batch(wop *batch) {
  for (wop *w = batch, *next; w; w = next) {
    next = w->next;
    w->done(w->ud, w->st, w->result, w->st == SG_ST_OK ? NULL : w->msg);
    w->result = NULL; /* handed over */
    wop_free(w);
  }
}

static void fail_all(wop *batch, const char *msg) {
  for (wop *w = batch; w; w = w->next) {
    soulgw_json_free(w->result);
    w->result = NULL;
    w->st = SG_ST_UNAVAILABLE;
    snprintf(w->msg, sizeof w->msg, "%s", msg);
  }
}

/* The whole batch fails: rolled back, answered 503, the store marked unwritable. */
static void batch_failed(sg_store *st, wop *batch, const char *what, int rc) {
  sg_conn *c = st->writer;
  if (what) sg_store_count_error(st, what, rc, c);
  st->drv->rollback(c);
  atomic_store(&st->writable, 0);
  fail_all(batch, "the database cannot be written");
  finish_batch(batch);
}

static void run_batch(sg_store *st, wop *batch) {
  const sg_store_driver *d = st->drv;
  sg_conn *c = st->writer;
  const char *failed = NULL; /* the step that failed the whole batch */
  int rc = d->begin(c);
  if (rc) failed = "begin";
  for (wop *w = batch; w && !failed; w = w->next) {
    if ((rc = d->savepoint(c))) {
      failed = "savepoint";
      break;
    }
    w->st = w->run(st, c, w);
    if (w->st == SG_ST_OK) {
      if ((rc = d->release(c))) failed = "release";
      continue;
    }
    soulgw_json_free(w->result);
    w->result = NULL;
    if (w->st == SG_ST_UNAVAILABLE && d->fatal(c, w->rc)) {
      failed = ""; /* counted where it happened */
      break;
    }
    /* this write alone: undone, and answered with its own error */
    if ((rc = d->rollback_to(c)) || (rc = d->release(c))) failed = "rollback to savepoint";
  }
  if (!failed && (rc = d->commit(c))) failed = "commit";
  if (failed) {
    batch_failed(st, batch, *failed ? failed : NULL, rc);
    return;
  }
  atomic_store(&st->writable, 1);
  finish_batch(batch);
}

/* When idle: a small write that tells /health whether the database can still be written. */
static void probe(sg_store *st) {
  int rc = st->drv->probe(st->writer);
  if (rc == SG_DRV_SKIP) return;
  if (rc && atomic_load(&st->writable)) sg_store_count_error(st, "probe", rc, st->writer);
  atomic_store(&st->writable, rc == 0);
}

static void *writer_main(void *self) {
  sg_store *st = self;
  for (;;) {
    pthread_mutex_lock(&st->qlock);
    if (!st->qhead && !st->stopping) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += PROBE_IDLE_S;
      pthread_cond_timedwait(&st->qcond, &st->qlock, &until);
    }
    wop *batch = st->qhead;
    st->qhead = st->qtail = NULL;
    int stopping = st->stopping;
    pthread_mutex_unlock(&st->qlock);
    if (batch) run_batch(st, batch);
    else if (stopping) break;
    else probe(st);
  }
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Queueing */

wop *sg_wop_new(sg_store_done done, void *ud, wop_fn run, const char *tenant) {
  wop *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  sg_arena_init(&w->arena, NULL, 0, 0);
  w->done = done;
  w->ud = ud;
  w->run = run;
  w->tenant = sg_arena_strdup(&w->arena, tenant);
  if (!w->tenant) {
    wop_free(w);
    return NULL;
  }
  return w;
}

const char *sg_wop_strdup(wop *w, const char *s, int *oom) {
  if (!s) return NULL;
  const char *d = sg_arena_strdup(&w->arena, s);
  if (!d) *oom = 1;
  return d;
}

const char *sg_wop_text(wop *w, const soulgw_json *v, int *oom) {
  if (!v) return NULL;
  sg_buf b;
  sg_buf_init(&b, 0);
  if (sg_json_print_buf(v, &b) != 0 || sg_buf_failed(&b)) {
    sg_buf_free(&b);
    *oom = 1;
    return NULL;
  }
  const char *t = sg_arena_strndup(&w->arena, b.ptr, b.len);
  sg_buf_free(&b);
  if (!t) *oom = 1;
  return t;
}

soulgw_json *sg_wop_json(const soulgw_json *v, int *oom) {
  if (!v) return NULL;
  soulgw_json *d = soulgw_json_dup(v);
  if (!d) *oom = 1;
  return d;
}

void sg_store_submit(sg_store *st, wop *w, int oom, sg_store_done done, void *ud) {
  if (!w || oom) {
    if (w) wop_free(w);
    done(ud, SG_ST_UNAVAILABLE, NULL, "out of memory");
    return;
  }
  pthread_mutex_lock(&st->qlock);
  if (st->stopping) {
    pthread_mutex_unlock(&st->qlock);
    wop_free(w);
    done(ud, SG_ST_UNAVAILABLE, NULL, "the store is closing");
    return;
  }
  if (st->qtail) st->qtail->next = w;
  else st->qhead = w;
  st->qtail = w;
  pthread_cond_signal(&st->qcond);
  pthread_mutex_unlock(&st->qlock);
}

/* A synchronous write, for start-up: waits for the completion. */
typedef struct waiter {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  sg_st st;
} waiter;

static void wake(void *ud, sg_st stt, soulgw_json *result, const char *msg) {
  waiter *wt = ud;
  (void)msg;
  soulgw_json_free(result);
  pthread_mutex_lock(&wt->lock);
  wt->st = stt;
  wt->done = 1;
  pthread_cond_signal(&wt->cond);
  pthread_mutex_unlock(&wt->lock);
}

sg_st sg_store_submit_wait(sg_store *st, wop *w, int oom) {
  waiter wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, SG_ST_OK};
  if (w) {
    w->done = wake;
    w->ud = &wt;
  }
  sg_store_submit(st, w, oom, wake, &wt);
  pthread_mutex_lock(&wt.lock);
  while (!wt.done) pthread_cond_wait(&wt.cond, &wt.lock);
  pthread_mutex_unlock(&wt.lock);
  pthread_mutex_destroy(&wt.lock);
  pthread_cond_destroy(&wt.cond);
  return wt.st;
}

/* ------------------------------------------------------------------------------------------ */
/* Open and close */

/* The driver named name (NULL: the default), or NULL. */
static const sg_store_driver *driver_named(const char *name) {
  if (!name) return drivers[0];
  for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
    if (strcmp(drivers[i]->name, name) == 0) return drivers[i];
  return NULL;
}

int sg_store_open(const sg_store_opts *o, sg_store **out, char *err, size_t errlen) {
  sg_store *st = calloc(1, sizeof *st);
  *out = NULL;
  if (!st) {
    snprintf(err, errlen, "out of memory");
    return SOULGW_ENOMEM;
  }
  pthread_mutex_init(&st->qlock, NULL);
  pthread_cond_init(&st->qcond, NULL);
  pthread_mutex_init(&st->rlock, NULL);
  st->errors = o->errors;
  st->rows_read = o->rows_read;
  st->log = o->log;
  atomic_init(&st->writable, 1);
  if (!(st->drv = driver_named(o->backend))) {
    snprintf(err, errlen, "unknown storage backend \"%.64s\"", o->backend);
    goto fail;
  }
  if (st->drv->open(o, &st->db, err, errlen) != 0 ||
      st->drv->connect(st->db, 0, &st->writer, err, errlen) != 0 ||
      st->drv->migrate(st->db, st->writer, &st->schema_version, err, errlen) != 0)
    goto fail;
  if (pthread_create(&st->thread, NULL, writer_main, st) != 0) {
    snprintf(err, errlen, "cannot start the storage writer thread");
    goto fail;
  }
  st->thread_started = 1;
  *out = st;
  return 0;
fail:
  sg_store_close(st);
  return SOULGW_ESTORE;
}

void sg_store_close(sg_store *st) {
  if (!st) return;
  if (st->thread_started) {
    pthread_mutex_lock(&st->qlock);
    st->stopping = 1;
    pthread_cond_signal(&st->qcond);
    pthread_mutex_unlock(&st->qlock);
    pthread_join(st->thread, NULL);
  }
  if (st->drv) {
    for (sg_conn *c = st->all_readers, *next; c; c = next) {
      next = c->next_all;
      st->drv->disconnect(c);
    }
    st->drv->disconnect(st->writer);
    st->drv->close(st->db);
  }
  pthread_mutex_destroy(&st->qlock);
  pthread_cond_destroy(&st->qcond);
  pthread_mutex_destroy(&st->rlock);
  free(st);
}

int sg_store_writable(sg_store *st) {
  return atomic_load_explicit(&st->writable, memory_order_relaxed);
}
const char *sg_store_engine_version(void) { return drivers[0]->version(); }
int sg_store_schema_version(sg_store *st) { return st->schema_version; }

/* ========================================================================================== */
/* Shapes: answers from rows, merges, the graph walk (shape.h) */

/* ------------------------------------------------------------------------------------------ */
/* Columns */

/* Column i of a row as text, "" for SQL NULL. */
static const char *col_text(const sg_row *r, int i) {
  const char *t = sg_row_text(r, i);
  return t ? t : "";
}

/* Column i of a row, JSON text the store wrote, parsed; SQL NULL or unparseable -> JSON
 * null. */
static soulgw_json *col_json(const sg_row *r, int i) {
  size_t len = 0;
  const char *t = sg_row_textn(r, i, &len);
  soulgw_json *v = NULL;
  if (!t || soulgw_json_parse(t, len, &v, NULL, 0) != 0) return soulgw_json_null();
  return v;
}

/* One row read into a JSON value by a row function; found 1 once a row came. */
typedef struct one {
  soulgw_json *v;
  int found;
} one;

/* The value of a one-row read: 0 and *out (NULL when no row came), or the error. */
static int one_result(int rc, one *o, soulgw_json **out) {
  if (!rc && o->found && !o->v) rc = SG_DRV_NOMEM;
  if (rc) {
    soulgw_json_free(o->v);
    o->v = NULL;
  }
  *out = o->v;
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Registry versions */

/* A version object from a row (version, manifests, created_at_ms). */
static soulgw_json *version_object(const sg_row *row, int active) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "version", soulgw_json_new_string(col_text(row, 0)));
  soulgw_json_set(o, "manifests", col_json(row, 1));
  soulgw_json_set(o, "created_at_ms", sg_json_new_int(sg_row_int(row, 2)));
  soulgw_json_set(o, "active", soulgw_json_new_bool(active));
  return o;
}

soulgw_json *sg_shape_version_new(const char *version, soulgw_json *manifests, int64_t now) {
  soulgw_json *o = soulgw_json_object();
  int failed = 0; /* every set takes its value, even after a failure */
  failed |= soulgw_json_set(o, "version", soulgw_json_new_string(version));
  failed |= soulgw_json_set(o, "manifests", manifests);
  failed |= soulgw_json_set(o, "created_at_ms", sg_json_new_int(now));
  failed |= soulgw_json_set(o, "active", soulgw_json_new_bool(1));
  if (failed) soulgw_json_free(o);
  return failed ? NULL : o;
}

static int row_version(void *ud, const sg_row *row) {
  one *o = ud;
  o->found = 1;
  o->v = version_object(row, 1);
  return SG_DRV_STOP;
}

int sg_shape_version(sg_conn *c, const char *tenant, const char *version, soulgw_json **out) {
  one o = {NULL, 0};
  int rc = version ? c->drv->reg_get(c, tenant, version, row_version, &o)
                   : c->drv->reg_active(c, tenant, row_version, &o);
  return one_result(rc, &o, out);
}

static int row_manifests(void *ud, const sg_row *row) {
  *(soulgw_json **)ud = col_json(row, 1);
  return SG_DRV_STOP;
}

int sg_shape_active_manifests(sg_conn *c, const char *tenant, soulgw_json **out) {
  *out = NULL;
  int rc = c->drv->reg_active(c, tenant, row_manifests, out);
  if (rc) {
    soulgw_json_free(*out);
    *out = NULL;
  }
  return rc;
}

/* Appends a row (version, manifests, created_at_ms, active) to the array ud. */
static int row_push_version(void *ud, const sg_row *row) {
  soulgw_json_push(ud, version_object(row, (int)sg_row_int(row, 3)));
  return 0;
}

int sg_shape_versions(sg_conn *c, const char *tenant, soulgw_json **out) {
  *out = NULL;
  soulgw_json *list = soulgw_json_array();
  int rc = c->drv->reg_versions(c, tenant, row_push_version, list);
  if (rc) {
    soulgw_json_free(list);
    return rc;
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "versions", list);
  *out = o;
  return 0;
}

/* Appends a row's first column, a string, to the array ud. */
static int row_push_string(void *ud, const sg_row *row) {
  soulgw_json_push(ud, soulgw_json_new_string(col_text(row, 0)));
  return 0;
}

int sg_shape_tenants(sg_conn *c, soulgw_json **out) {
  *out = NULL;
  soulgw_json *arr = soulgw_json_array();
  int rc = c->drv->reg_tenants(c, row_push_string, arr);
  if (rc) soulgw_json_free(arr);
  else *out = arr;
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Idempotency records */

/* An idempotency record from a row (tool_id, input, status, response). */
static int row_idem(void *ud, const sg_row *row) {
  one *o = ud;
  o->found = 1;
  o->v = soulgw_json_object();
  soulgw_json_set(o->v, "tool_id", soulgw_json_new_string(col_text(row, 0)));
  soulgw_json_set(o->v, "input", col_json(row, 1));
  soulgw_json_set(o->v, "status", sg_json_new_int(sg_row_int(row, 2)));
  soulgw_json_set(o->v, "response", soulgw_json_new_string(col_text(row, 3)));
  return SG_DRV_STOP;
}

int sg_shape_idem(sg_conn *c, const char *tenant, const char *key, soulgw_json **out) {
  one o = {NULL, 0};
  return one_result(c->drv->idem_get(c, tenant, key, row_idem, &o), &o, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Repo records */

static soulgw_json *record_object(const char *tenant, const char *repo, const char *record_id,
                                  soulgw_json *data, int64_t stored_at) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  soulgw_json_set(o, "repo", soulgw_json_new_string(repo));
  soulgw_json_set(o, "record_id", soulgw_json_new_string(record_id));
  soulgw_json_set(o, "data", data);
  soulgw_json_set(o, "stored_at", sg_json_new_int(stored_at));
  return o;
}

/* A record being read: its tenant and id, and the answer. */
typedef struct rec_read {
  const char *tenant, *record_id;
  one o;
} rec_read;

/* A record from a row (repo, data, stored_at). */
static int row_record(void *ud, const sg_row *row) {
  rec_read *r = ud;
  r->o.found = 1;
  r->o.v = record_object(r->tenant, col_text(row, 0), r->record_id, col_json(row, 1), sg_row_int(row, 2));
  return SG_DRV_STOP;
}

int sg_shape_record(sg_conn *c, const char *tenant, const char *record_id, soulgw_json **out) {
  rec_read r = {tenant, record_id, {NULL, 0}};
  return one_result(c->drv->record_get(c, tenant, record_id, row_record, &r), &r.o, out);
}

/* A page of records being read. */
typedef struct rec_page {
  const char *tenant, *repo;
  soulgw_json *records;
  char *last, *next; /* the id of the last record answered; of the last of a full page */
  int limit, n;
} rec_page;

/* Appends a row (record_id, data, stored_at) to the page, or notes that more follow. */
static int row_page(void *ud, const sg_row *row) {
  rec_page *p = ud;
  if (p->n++ == p->limit) {
    p->next = p->last;
    p->last = NULL;
    return SG_DRV_STOP;
  }
  free(p->last);
  p->last = sg_strdup(col_text(row, 0));
  soulgw_json_push(p->records, record_object(p->tenant, p->repo, col_text(row, 0),
                                             col_json(row, 1), sg_row_int(row, 2)));
  return 0;
}

int sg_shape_records(sg_conn *c, const char *tenant, const char *repo, int64_t after, int limit,
                     soulgw_json **out) {
  *out = NULL;
  rec_page p = {tenant, repo, soulgw_json_array(), NULL, NULL, limit, 0};
  int rc = c->drv->record_list(c, tenant, repo, after, limit + 1, row_page, &p);
  free(p.last);
  if (rc) {
    free(p.next);
    soulgw_json_free(p.records);
    return rc;
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "records", p.records);
  soulgw_json_set(o, "next", p.next ? soulgw_json_new_string(p.next) : soulgw_json_null());
  free(p.next);
  *out = o;
  return 0;
}

soulgw_json *sg_shape_appended(const char *tenant, const char *repo, const char *record_id,
                               int64_t stored_at, int64_t edges) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  soulgw_json_set(o, "repo", soulgw_json_new_string(repo));
  soulgw_json_set(o, "record_id", soulgw_json_new_string(record_id));
  soulgw_json_set(o, "stored_at", sg_json_new_int(stored_at));
  soulgw_json_set(o, "edges", sg_json_new_int(edges));
  return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Observe events */

/* Appends an event row (seq, topic, severity, event, trace_id, ingested_at) to the array ud. */
static int row_event(void *ud, const sg_row *row) {
  const char *t;
  char id[32];
  snprintf(id, sizeof id, "obs-%lld", (long long)sg_row_int(row, 0));
  soulgw_json *e = soulgw_json_object();
  soulgw_json_set(e, "event_id", soulgw_json_new_string(id));
  soulgw_json_set(e, "topic", soulgw_json_new_string(col_text(row, 1)));
  soulgw_json_set(e, "severity", soulgw_json_new_string(col_text(row, 2)));
  soulgw_json_set(e, "event", col_json(row, 3));
  soulgw_json_set(e, "trace_id",
                  (t = sg_row_text(row, 4)) ? soulgw_json_new_string(t) : soulgw_json_null());
  soulgw_json_set(e, "ingested_at", sg_json_new_int(sg_row_int(row, 5)));
  soulgw_json_push(ud, e);
  return 0;
}

int sg_shape_events(sg_conn *c, const char *tenant, const char *topic, int64_t since,
                    const char *severity, int limit, soulgw_json **out) {
  *out = NULL;
  soulgw_json *events = soulgw_json_array();
  int rc = c->drv->event_query(c, tenant, topic, since, severity, limit, row_event, events);
  if (rc) {
    soulgw_json_free(events);
    return rc;
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "events", events);
  *out = o;
  return 0;
}

soulgw_json *sg_shape_emitted(const char *tenant, const char *topic, int64_t seq,
                              int64_t ingested_at) {
  char id[32];
  snprintf(id, sizeof id, "obs-%lld", (long long)seq);
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  soulgw_json_set(o, "topic", soulgw_json_new_string(topic));
  soulgw_json_set(o, "event_id", soulgw_json_new_string(id));
  soulgw_json_set(o, "ingested_at", sg_json_new_int(ingested_at));
  return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Collaborations */

void sg_collab_head_clear(sg_collab_head *h) {
  free(h->status);
  free(h->participants);
  free(h->context);
  free(h->resolution);
  memset(h, 0, sizeof *h);
}

/* Copies a head row (status, participants, context, resolution, created_at, updated_at,
 * entries, timeline_bytes) into the sg_collab_head ud. */
static int row_head(void *ud, const sg_row *row) {
  sg_collab_head *h = ud;
  h->found = 1;
  h->status = sg_strdup(col_text(row, 0));
  h->participants = sg_strdup(col_text(row, 1));
  h->context = sg_strdup(col_text(row, 2));
  h->resolution = sg_strdup(col_text(row, 3));
  h->created_at = sg_row_int(row, 4);
  h->updated_at = sg_row_int(row, 5);
  h->entries = sg_row_int(row, 6);
  h->tl_bytes = sg_row_int(row, 7);
  return h->status && h->participants && h->context && h->resolution ? SG_DRV_STOP
                                                                     : SG_DRV_NOMEM;
}

int sg_collab_head_read(sg_conn *c, const char *tenant, const char *id, sg_collab_head *h) {
  memset(h, 0, sizeof *h);
  int rc = c->drv->collab_get(c, tenant, id, row_head, h);
  if (rc) sg_collab_head_clear(h);
  return rc;
}

/* A page of timeline entries being read. */
typedef struct tl_page {
  soulgw_json *arr;
  int64_t *last;
  int *more;
  int limit, n;
  sg_buf b;
} tl_page;

/* Appends a timeline row (seq, entry) to the page, with its "seq" first. */
static int row_entry(void *ud, const sg_row *row) {
  tl_page *p = ud;
  if (p->n++ == p->limit) { /* the one row more than asked */
    *p->more = 1;
    return SG_DRV_STOP;
  }
  int64_t seq = sg_row_int(row, 0);
  const char *e = col_text(row, 1);
  if (e[0] != '{') return SG_DRV_UNREADABLE;
  /* {"seq":<seq>, then the entry after its "{" (no printf: the entry may be long) */
  char num[32];
  int n = snprintf(num, sizeof num, "{\"seq\":%lld%s", (long long)seq, e[1] == '}' ? "" : ",");
  size_t len = strlen(e + 1);
  sg_buf_reset(&p->b);
  sg_buf_reserve(&p->b, (size_t)n + len);
  sg_buf_append(&p->b, num, (size_t)n);
  sg_buf_append(&p->b, e + 1, len);
  if (sg_buf_failed(&p->b) || soulgw_json_push(p->arr, sg_json_new_raw(p->b.ptr)))
    return SG_DRV_NOMEM;
  *p->last = seq;
  return 0;
}

/* Appends to arr the timeline entries of (tenant, id) with seq > after, at most limit, each
 * with its "seq" first; *last gets the seq of the last one, and *more (when not NULL) 1 when
 * more entries follow.  0, the error, or SG_DRV_UNREADABLE for an entry that is not an
 * object. */
static int timeline_rows(sg_conn *c, const char *tenant, const char *id, int64_t after,
                         int limit, soulgw_json *arr, int64_t *last, int *more) {
  tl_page p = {arr, last, more, limit, 0, {0}};
  sg_buf_init(&p.b, 0);
  int rc = c->drv->timeline_range(c, tenant, id, after, more ? limit + 1 : limit, row_entry, &p);
  sg_buf_free(&p.b);
  return rc;
}

soulgw_json *sg_shape_snapshot(sg_conn *c, const char *tenant, const char *id,
                               const sg_collab_head *h, int window, int *err) {
  soulgw_json *o = soulgw_json_object(), *tl = soulgw_json_array();
  int64_t last = -1;
  *err = window > 0
             ? timeline_rows(c, tenant, id, h->entries - window - 1, window, tl, &last, NULL)
             : 0;
  int bad = !o || !tl || *err;
  bad |= soulgw_json_set(o, "collab_id", soulgw_json_new_string(id)) != 0;
  bad |= soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant)) != 0;
  bad |= soulgw_json_set(o, "status", soulgw_json_new_string(h->status)) != 0;
  bad |= soulgw_json_set(o, "participants", sg_json_new_raw(h->participants)) != 0;
  bad |= soulgw_json_set(o, "context", sg_json_new_raw(h->context)) != 0;
  bad |= soulgw_json_set(o, "timeline", tl) != 0;
  tl = NULL; /* taken */
  bad |= soulgw_json_set(o, "timeline_total", sg_json_new_int(h->entries)) != 0;
  bad |= soulgw_json_set(o, "resolution", sg_json_new_raw(h->resolution)) != 0;
  bad |= soulgw_json_set(o, "created_at", sg_json_new_int(h->created_at)) != 0;
  bad |= soulgw_json_set(o, "updated_at", sg_json_new_int(h->updated_at)) != 0;
  if (!bad) return o;
  if (!*err) *err = SG_DRV_NOMEM;
  soulgw_json_free(o);
  soulgw_json_free(tl);
  return NULL;
}

int sg_shape_timeline(sg_conn *c, const char *tenant, const char *id, const sg_collab_head *h,
                      int64_t after, int limit, soulgw_json **out) {
  soulgw_json *tl = soulgw_json_array(), *o = NULL;
  int64_t last = -1;
  int more = 0;
  *out = NULL;
  int rc = timeline_rows(c, tenant, id, after < 0 ? -1 : after, limit, tl, &last, &more);
  if (!rc) {
    o = soulgw_json_object();
    int bad = !o || !tl;
    bad |= soulgw_json_set(o, "collab_id", soulgw_json_new_string(id)) != 0;
    bad |= soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant)) != 0;
    bad |= soulgw_json_set(o, "timeline", tl) != 0;
    tl = NULL; /* taken */
    bad |= soulgw_json_set(o, "timeline_total", sg_json_new_int(h->entries)) != 0;
    bad |= soulgw_json_set(o, "next", more ? sg_json_new_int(last) : soulgw_json_null()) != 0;
    if (bad) {
      soulgw_json_free(o);
      o = NULL;
      rc = SG_DRV_NOMEM;
    }
  }
  soulgw_json_free(tl);
  *out = o;
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *sg_merge_participants(const char *stored, const soulgw_json *add, int *oom) {
  soulgw_json *parts = NULL;
  const char **names = NULL, **added = NULL;
  char *text = NULL;
  *oom = 0;
  if (soulgw_json_parse(stored, strlen(stored), &parts, NULL, 0) != 0 ||
      soulgw_json_typeof(parts) != SOULGW_JSON_ARRAY)
    goto out;
  size_t n = soulgw_json_size(parts), nadd = 0, i = 0;
  names = malloc((n + 1) * sizeof *names);
  added = malloc((soulgw_json_size(add) + 1) * sizeof *added);
  if (!names || !added) goto oom;
  for (const soulgw_json *p = soulgw_json_first(parts); p; p = soulgw_json_next(p))
    if (soulgw_json_string(p)) names[i++] = soulgw_json_string(p);
  n = i;
  qsort(names, n, sizeof *names, cmp_str);
  for (const soulgw_json *p = soulgw_json_first(add); p; p = soulgw_json_next(p)) {
    const char *name = soulgw_json_string(p);
    int seen = !name || bsearch(&name, names, n, sizeof *names, cmp_str) != NULL;
    for (size_t k = 0; k < nadd && !seen; k++) seen = strcmp(added[k], name) == 0;
    if (seen) continue;
    added[nadd++] = name;
  }
  for (size_t k = 0; k < nadd; k++)
    if (soulgw_json_push(parts, soulgw_json_new_string(added[k]))) goto oom;
  if ((text = soulgw_json_print(parts))) goto out;
oom:
  *oom = 1;
out:
  free(names);
  free(added);
  soulgw_json_free(parts);
  return text;
}

char *sg_merge_context(const char *stored, const soulgw_json *add, const char *add_text,
                       int *oom) {
  *oom = 0;
  if (soulgw_json_typeof(add) != SOULGW_JSON_OBJECT || stored[0] != '{') {
    char *t = sg_strdup(add_text);
    *oom = !t;
    return t;
  }
  soulgw_json *ctx = NULL;
  if (soulgw_json_parse(stored, strlen(stored), &ctx, NULL, 0) != 0) return NULL;
  char *t = sg_json_merge(ctx, add) == 0 ? soulgw_json_print(ctx) : NULL;
  soulgw_json_free(ctx);
  *oom = !t;
  return t;
}

char *sg_shape_entry(const char *stage, const char *tail) {
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_printf(&b, "{\"stage\":\"%s\",%s", stage, tail);
  return sg_buf_detach(&b, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* The graph walk */

/* A set of strings, for the nodes a walk has reached and the edges it has met. */
typedef struct strset {
  char **v;
  size_t cap, n;
} strset;

/* Adds a copy of k: 1 added, 0 present, -1 out of memory.  *stored (when not NULL) gets the
 * copy, which stays where it is until strset_free(). */
static int strset_add(strset *s, const char *k, const char **stored) {
  if (s->n * 2 >= s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **v = calloc(cap, sizeof *v);
    if (!v) return -1;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->v[i]) continue;
      uint64_t h = 1469598103934665603ull;
      for (const char *p = s->v[i]; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
      size_t j = (size_t)h & (cap - 1);
      while (v[j]) j = (j + 1) & (cap - 1);
      v[j] = s->v[i];
    }
    free(s->v);
    s->v = v;
    s->cap = cap;
  }
  uint64_t h = 1469598103934665603ull;
  for (const char *p = k; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  size_t j = (size_t)h & (s->cap - 1);
  for (; s->v[j]; j = (j + 1) & (s->cap - 1))
    if (strcmp(s->v[j], k) == 0) return 0;
  if (!(s->v[j] = sg_strdup(k))) return -1;
  s->n++;
  if (stored) *stored = s->v[j];
  return 1;
}

static void strset_free(strset *s) {
  for (size_t i = 0; i < s->cap; i++) free(s->v[i]);
  free(s->v);
}

/* One edge a step met: its id and time, its answer object, and whether it was met from its
 * destination (then its source is the node it leads to). */
typedef struct hit {
  int64_t id, ts;
  soulgw_json *edge;
  int in;
} hit;

static int hit_cmp(const void *a, const void *b) { /* newest first */
  const hit *x = a, *y = b;
  if (x->ts != y->ts) return x->ts > y->ts ? -1 : 1;
  return x->id > y->id ? -1 : x->id < y->id;
}

static int hit_id_cmp(const void *a, const void *b) { /* last stored first */
  const hit *x = a, *y = b;
  return x->id > y->id ? -1 : x->id < y->id;
}

/* A breadth-first walk in progress.  Its cost is bounded by the answer, not by the graph:
 * each depth reads, per direction, at most the edges the limit still allows plus those it
 * can meet again (each edge is met at most once from each end), so a walk reads at most
 * 4 x limit edge rows, and limit when it goes one way.  The frontier is the new ends of the
 * edges answered at a depth, so it holds at most limit nodes. */
typedef struct walk {
  sg_conn *c;
  const char *tenant, *label;
  strset seen;                  /* nodes reached */
  strset met;                   /* edges answered, and the candidates of the current depth */
  const char **frontier, **next; /* node ids (the copies in seen), limit of each */
  size_t nfrontier, nnext;
  hit *hits; /* the current depth's candidates */
  size_t nhits, caphits;
  int64_t rows; /* rows read, for soulgw_store_rows_read_total */
} walk;

/* Frees the current depth's candidates. */
static void hits_drop(walk *w) {
  for (size_t i = 0; i < w->nhits; i++) soulgw_json_free(w->hits[i].edge);
  w->nhits = 0;
}

/* A step's reading: the walk, the direction and depth, and how many new edges it wants. */
typedef struct step {
  walk *w;
  int in, depth, want, got;
} step;

/* Takes an edge row (id, from, to, label, props, ts) as a candidate, unless met before. */
static int row_edge(void *ud, const sg_row *row) {
  step *sp = ud;
  walk *w = sp->w;
  w->rows++;
  int64_t id = sg_row_int(row, 0);
  char idkey[24];
  snprintf(idkey, sizeof idkey, "%lld", (long long)id);
  int added = strset_add(&w->met, idkey, NULL);
  if (added == 0) return 0; /* met from its other end */
  if (added < 0 || w->nhits == w->caphits) return SG_DRV_NOMEM;
  soulgw_json *e = soulgw_json_object();
  if (!e) return SG_DRV_NOMEM;
  int64_t ts = sg_row_int(row, 5);
  soulgw_json_set(e, "from", soulgw_json_new_string(col_text(row, 1)));
  soulgw_json_set(e, "to", soulgw_json_new_string(col_text(row, 2)));
  soulgw_json_set(e, "label", soulgw_json_new_string(col_text(row, 3)));
  soulgw_json_set(e, "props", col_json(row, 4));
  soulgw_json_set(e, "timestamp_ms", sg_json_new_int(ts));
  soulgw_json_set(e, "depth", sg_json_new_int(sp->depth));
  w->hits[w->nhits++] = (hit){id, ts, e, sp->in};
  return ++sp->got < sp->want ? 0 : SG_DRV_STOP;
}

/* Adds to w->hits the newest edges touching the frontier in one direction (in: arriving at
 * it) that were not met before: at most want of them, from at most want + again rows, again
 * being how many edges met before the frontier can touch.  0 or the error. */
static int walk_step(walk *w, int in, int depth, int want, int again) {
  step sp = {w, in, depth, want, 0};
  return w->c->drv->edges_touching(w->c, w->tenant, w->frontier, w->nfrontier, w->label, in,
                                   want + again, row_edge, &sp);
}

/* One depth: answers (appends to edges) the newest `need` edges touching the frontier that
 * were not answered before, `prev` being how many the previous depth answered, and makes
 * their new ends the next frontier.  Returns the number answered, or -1 with *err set. */
static int walk_depth(walk *w, sg_direction dir, int depth, int need, int prev,
                      soulgw_json *edges, int *err) {
  w->nhits = 0;
  *err = SG_DRV_NOMEM;
  if ((size_t)need * 2 > w->caphits) { /* at most need per direction */
    hit *v = realloc(w->hits, (size_t)need * 2 * sizeof *v);
    if (!v) return -1;
    w->hits = v;
    w->caphits = (size_t)need * 2;
  }
  /* Going one way, no edge is met twice (a node is in one frontier only).  Both ways, an edge
   * the previous depth answered is met again from its other end, and so is one joining two
   * nodes of this frontier. */
  int again = dir == SG_DIR_BOTH ? prev : 0;
  if (dir != SG_DIR_IN && (*err = walk_step(w, 0, depth, need, again))) goto fail;
  if (dir != SG_DIR_OUT && (*err = walk_step(w, 1, depth, need, again + (int)w->nhits)))
    goto fail;
  *err = SG_DRV_NOMEM;
  if (w->nhits > (size_t)need) { /* both ways: the newest of the two */
    qsort(w->hits, w->nhits, sizeof *w->hits, hit_id_cmp);
    for (size_t i = (size_t)need; i < w->nhits; i++) soulgw_json_free(w->hits[i].edge);
    w->nhits = (size_t)need;
  }
  qsort(w->hits, w->nhits, sizeof *w->hits, hit_cmp);
  size_t n = w->nhits;
  for (size_t i = 0; i < n; i++) soulgw_json_push(edges, w->hits[i].edge);
  w->nhits = 0; /* edges owns them now */
  w->nnext = 0;
  for (size_t i = 0; i < n; i++) {
    const soulgw_json *e = w->hits[i].edge;
    const char *other = soulgw_json_string(soulgw_json_get(e, w->hits[i].in ? "from" : "to"));
    const char *node = NULL;
    int added = other ? strset_add(&w->seen, other, &node) : 0;
    if (added < 0) return -1;
    if (added) w->next[w->nnext++] = node;
  }
  const char **t = w->frontier;
  w->frontier = w->next;
  w->next = t;
  w->nfrontier = w->nnext;
  *err = 0;
  return (int)n;
fail:
  hits_drop(w);
  return -1;
}

/* The walk's answer {"tenant","node_id","label","edges"}, taking edges; NULL when out of
 * memory. */
static soulgw_json *walk_answer(const char *tenant, const char *node_id, const char *label,
                                soulgw_json *edges) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  soulgw_json_set(o, "node_id", soulgw_json_new_string(node_id));
  soulgw_json_set(o, "label", label ? soulgw_json_new_string(label) : soulgw_json_null());
  soulgw_json_set(o, "edges", edges);
  return o;
}

int sg_graph_walk(sg_conn *c, const char *tenant, const char *node_id, const char *label,
                  sg_direction dir, int depth, int limit, soulgw_json **out, int64_t *rows) {
  walk w = {.c = c, .tenant = tenant, .label = label};
  size_t cap = limit > 0 ? (size_t)limit : 1; /* a frontier holds at most limit nodes */
  const char **nodes = calloc(cap * 2, sizeof *nodes);
  soulgw_json *edges = soulgw_json_array();
  const char *start = NULL;
  int err = !nodes || !edges || strset_add(&w.seen, node_id, &start) < 0 ? SG_DRV_NOMEM : 0;
  *out = NULL;
  if (!err) {
    w.frontier = nodes;
    w.next = nodes + cap;
    w.frontier[w.nfrontier++] = start;
  }
  int total = 0, prev = 0;
  /* Read consistency across the queries of one walk. */
  int in_txn = c->drv->read_begin(c) == 0;
  for (int d = 1; d <= depth && !err && total < limit && w.nfrontier; d++) {
    prev = walk_depth(&w, dir, d, limit - total, prev, edges, &err);
    if (prev >= 0) total += prev;
  }
  if (in_txn) c->drv->read_end(c);
  *rows = w.rows;
  free(w.hits);
  free(nodes);
  strset_free(&w.seen);
  strset_free(&w.met);
  if (err) {
    soulgw_json_free(edges);
    return err;
  }
  *out = walk_answer(tenant, node_id, label, edges);
  return 0;
}

/* ========================================================================================== */
/* Writes */

/* Compact JSON text of v, to free(). */
static char *json_text(const soulgw_json *v) { return v ? soulgw_json_print(v) : NULL; }

/* ------------------------------------------------------------------------------------------ */
/* Registry */

static sg_st reg_insert(sg_store *st, sg_conn *c, wop *w, const char *version, const char *text,
                        int64_t now) {
  int rc = c->drv->reg_insert(c, w->tenant, version, text, now);
  if (rc == SG_DRV_CONFLICT) FAIL(w, SG_ST_CONFLICT, "tool registry version already exists");
  if (rc) return sg_store_write_failed(st, w, "registry insert", rc, c);
  return SG_ST_OK;
}

static sg_st reg_set_active(sg_store *st, sg_conn *c, wop *w, const char *version) {
  int rc = c->drv->reg_set_active(c, w->tenant, version);
  return rc == 0 ? SG_ST_OK : sg_store_write_failed(st, w, "registry activate", rc, c);
}

/* Notes in the int ud that a row came. */
static int row_found(void *ud, const sg_row *row) {
  (void)row;
  *(int *)ud = 1;
  return SG_DRV_STOP;
}

static sg_st op_bootstrap(sg_store *st, sg_conn *c, wop *w) {
  int exists = 0;
  int rc = c->drv->reg_exists(c, w->tenant, "bootstrap", &exists);
  if (rc) return sg_store_write_failed(st, w, "registry", rc, c);
  if (exists) return SG_ST_OK;
  char *text = json_text(w->j1);
  if (!text) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  sg_st r = reg_insert(st, c, w, "bootstrap", text, w->now);
  free(text);
  if (r != SG_ST_OK) return r;
  /* the first registry of a tenant becomes active; a later bootstrap never displaces one */
  int has_active = 0;
  if ((rc = c->drv->reg_active(c, w->tenant, row_found, &has_active)))
    return sg_store_write_failed(st, w, "registry", rc, c);
  return has_active ? SG_ST_OK : reg_set_active(st, c, w, "bootstrap");
}

sg_st sg_store_registry_bootstrap(sg_store *st, const char *tenant, const soulgw_json *manifests,
                                  int64_t now_ms) {
  int oom = 0;
  wop *w = sg_wop_new(NULL, NULL, op_bootstrap, tenant);
  if (w) {
    w->j1 = sg_wop_json(manifests, &oom);
    w->now = now_ms;
  }
  return sg_store_submit_wait(st, w, oom);
}

/* Runs w's check on version: 1 when it refused (w->msg says why). */
static int refused(wop *w, const soulgw_json *version) {
  if (!w->check || w->check(w->ud, version, w->msg, sizeof w->msg) == 0) return 0;
  if (!w->msg[0]) snprintf(w->msg, sizeof w->msg, "the tool registry version is invalid");
  return 1;
}

static sg_st op_publish(sg_store *st, sg_conn *c, wop *w) {
  int exists = 0;
  int rc = c->drv->reg_exists(c, w->tenant, w->s1, &exists);
  if (rc) return sg_store_write_failed(st, w, "registry", rc, c);
  if (exists) FAIL(w, SG_ST_CONFLICT, "tool registry version already exists");
  soulgw_json *base = NULL;
  if ((rc = sg_shape_active_manifests(c, w->tenant, &base)))
    return sg_store_write_failed(st, w, "registry", rc, c);
  soulgw_json *merged = sg_manifests_merge(base, w->j1);
  soulgw_json_free(base);
  /* checked (and built by the caller) before anything is written: a merge the gateway could
   * not load never becomes active */
  soulgw_json *o = sg_shape_version_new(w->s1, merged, w->now);
  if (!o) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  if (refused(w, o)) {
    soulgw_json_free(o);
    return SG_ST_INVALID;
  }
  char *text = json_text(soulgw_json_get(o, "manifests"));
  if (!text) {
    soulgw_json_free(o);
    FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  }
  sg_st r = reg_insert(st, c, w, w->s1, text, w->now);
  free(text);
  if (r == SG_ST_OK) r = reg_set_active(st, c, w, w->s1);
  if (r != SG_ST_OK) {
    soulgw_json_free(o);
    return r;
  }
  w->result = o;
  return SG_ST_OK;
}

void sg_store_registry_publish(sg_store *st, const char *tenant, const char *version,
                               const soulgw_json *manifests, int64_t now_ms, sg_store_check check,
                               sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_publish, tenant);
  if (w) {
    w->s1 = sg_wop_strdup(w, version, &oom);
    w->j1 = sg_wop_json(manifests, &oom);
    w->now = now_ms;
    w->check = check;
  }
  sg_store_submit(st, w, oom, done, ud);
}

static sg_st op_activate(sg_store *st, sg_conn *c, wop *w) {
  soulgw_json *o = NULL;
  int rc = sg_shape_version(c, w->tenant, w->s1, &o);
  if (rc == SG_DRV_NOMEM) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  if (rc) return sg_store_write_failed(st, w, "registry", rc, c);
  if (!o) FAIL(w, SG_ST_NOTFOUND, "tool registry version %.100s does not exist", w->s1);
  if (refused(w, o)) {
    soulgw_json_free(o);
    return SG_ST_INVALID;
  }
  w->result = o;
  return reg_set_active(st, c, w, w->s1);
}

void sg_store_registry_activate(sg_store *st, const char *tenant, const char *version,
                                sg_store_check check, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_activate, tenant);
  if (w) {
    w->s1 = sg_wop_strdup(w, version, &oom);
    w->check = check;
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Idempotency */

static sg_st op_idem_put(sg_store *st, sg_conn *c, wop *w) {
  char *input = json_text(w->j1);
  if (!input) return sg_store_write_failed(st, w, "idempotency", SG_DRV_NOMEM, c);
  int inserted = 0;
  int rc = c->drv->idem_insert(c, w->tenant, w->s1, w->s2, input, (int)w->n, w->s3, w->now,
                               &inserted);
  free(input);
  if (rc) return sg_store_write_failed(st, w, "idempotency insert", rc, c);
  rc = sg_shape_idem(c, w->tenant, w->s1, &w->result);
  if (rc && rc != SG_DRV_NOMEM) return sg_store_write_failed(st, w, "idempotency", rc, c);
  if (!w->result) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  soulgw_json_set(w->result, "existing", soulgw_json_new_bool(!inserted));
  return SG_ST_OK;
}

void sg_store_idem_put(sg_store *st, const char *tenant, const char *key, const char *tool_id,
                       const soulgw_json *input, int status, const char *response,
                       int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_idem_put, tenant);
  if (w) {
    w->s1 = sg_wop_strdup(w, key, &oom);
    w->s2 = sg_wop_strdup(w, tool_id, &oom);
    w->s3 = sg_wop_strdup(w, response, &oom);
    w->j1 = input ? sg_wop_json(input, &oom) : soulgw_json_null();
    w->n = status;
    w->now = now_ms;
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Collaborations (shape.h says how one is stored) */

/* Writes the head h of (w->tenant, w->s1) and, when entry is not NULL, appends it as entry
 * number h->entries - 1 (h already counts it). */
static sg_st head_write(sg_store *st, sg_conn *c, wop *w, const sg_collab_head *h,
                        const char *entry) {
  int rc;
  if (entry && (rc = c->drv->timeline_append(c, w->tenant, w->s1, h->entries - 1, entry)))
    return sg_store_write_failed(st, w, "collab timeline insert", rc, c);
  sg_collab_row row = {h->status,     h->participants, h->context, h->resolution,
                       h->created_at, h->updated_at,   h->entries, h->tl_bytes};
  rc = c->drv->collab_put(c, w->tenant, w->s1, &row);
  return rc == 0 ? SG_ST_OK : sg_store_write_failed(st, w, "collab write", rc, c);
}

/* Writes h (and entry) and answers with its snapshot. */
static sg_st head_commit(sg_store *st, sg_conn *c, wop *w, const sg_collab_head *h,
                         const char *entry) {
  sg_st r = head_write(st, c, w, h, entry);
  if (r != SG_ST_OK) return r;
  int rc;
  w->result = sg_shape_snapshot(c, w->tenant, w->s1, h, w->lim.window, &rc);
  if (w->result) return SG_ST_OK;
  if (rc == SG_DRV_UNREADABLE) return sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  return sg_store_write_failed(st, w, "collab timeline read", rc, c);
}

/* Replaces *field by v (taken); 0, or -1 when v is NULL. */
static int take(char **field, char *v) {
  if (!v) return -1;
  free(*field);
  *field = v;
  return 0;
}

/* The refusals of an execute that come before anything is computed. */
static sg_st execute_refused(sg_store *st, wop *w, const sg_collab_head *h) {
  if (!h->found) return SG_ST_OK;
  if (strcmp(h->status, "unreadable") == 0)
    return sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  if (strcmp(h->status, "resolved") == 0)
    FAIL(w, SG_ST_CONFLICT, "collaboration %.100s is resolved", w->s1);
  if (h->entries >= w->lim.max_entries)
    FAIL(w, SG_ST_CONFLICT,
         "collaboration %.100s has %lld timeline entries; at most %lld ([collab] "
         "max_timeline_entries)",
         w->s1, (long long)h->entries, (long long)w->lim.max_entries);
  return SG_ST_OK;
}

/* w: s1 collab_id, s2 the entry's tail, s3 the context's text, j1 participants, j2 context. */
static sg_st op_collab_execute(sg_store *st, sg_conn *c, wop *w) {
  sg_collab_head h;
  int rc = sg_collab_head_read(c, w->tenant, w->s1, &h), oom = 0;
  if (rc) return sg_store_write_failed(st, w, "collab read", rc, c);
  sg_st r = execute_refused(st, w, &h);
  char *entry = NULL;
  if (r != SG_ST_OK) goto out;
  if (!h.found) {
    h.created_at = w->now;
    if (take(&h.status, sg_strdup("in_progress")) || take(&h.participants, sg_strdup("[]")) ||
        take(&h.context, sg_strdup("{}")) || take(&h.resolution, sg_strdup("null")))
      oom = 1;
  }
  if (!oom && soulgw_json_size(w->j1) &&
      take(&h.participants, sg_merge_participants(h.participants, w->j1, &oom)) && !oom)
    r = sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  if (r == SG_ST_OK && !oom && w->j2 &&
      take(&h.context, sg_merge_context(h.context, w->j2, w->s3, &oom)) && !oom)
    r = sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  if (r == SG_ST_OK && !oom && !(entry = sg_shape_entry(h.found ? "executed" : "created", w->s2)))
    oom = 1;
  if (r != SG_ST_OK || oom) goto out;
  int64_t entry_bytes = (int64_t)strlen(entry);
  int64_t total = (int64_t)(strlen(h.participants) + strlen(h.context) + strlen(h.resolution)) +
                  h.tl_bytes + entry_bytes;
  if (total > w->lim.max_bytes) {
    snprintf(w->msg, sizeof w->msg,
             "collaboration %.100s would hold %lld bytes; at most %lld ([collab] "
             "max_snapshot_bytes)",
             w->s1, (long long)total, (long long)w->lim.max_bytes);
    r = SG_ST_TOO_LARGE;
    goto out;
  }
  h.entries++;
  h.tl_bytes += entry_bytes;
  h.updated_at = w->now;
  r = head_commit(st, c, w, &h, entry);
out:
  if (oom && r == SG_ST_OK) {
    snprintf(w->msg, sizeof w->msg, "out of memory");
    r = SG_ST_UNAVAILABLE;
  }
  free(entry);
  sg_collab_head_clear(&h);
  return r;
}

static void collab_limits(wop *w, const sg_collab_limits *lim) {
  static const sg_collab_limits def = {SG_COLLAB_MAX_ENTRIES, SG_COLLAB_MAX_BYTES,
                                       SG_COLLAB_WINDOW};
  w->lim = lim ? *lim : def;
}

/* The tail of a timeline entry after its stage:
 * "note":<note>,"payload":<payload>,"timestamp_ms":<now>}, built by the caller. */
static const char *entry_tail(wop *w, const char *note, const char *payload, int *oom) {
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_puts(&b, "\"note\":");
  if (note) sg_json_write_string(&b, note);
  else sg_buf_puts(&b, "null");
  sg_buf_printf(&b, ",\"payload\":%s,\"timestamp_ms\":%lld}", payload ? payload : "null",
                (long long)w->now);
  const char *t = sg_buf_failed(&b) ? NULL : sg_arena_strndup(&w->arena, b.ptr, b.len);
  sg_buf_free(&b);
  if (!t) *oom = 1;
  return t;
}

/* Answers at once, on the caller's thread, for a value the store would not read back. */
static int too_deep(const soulgw_json *v, const char *name, sg_store_done done, void *ud) {
  if (!v || !sg_json_deeper_than(v, SG_STORE_JSON_DEPTH_MAX)) return 0;
  char msg[128];
  snprintf(msg, sizeof msg, "%s nests deeper than %d levels of arrays and objects", name,
           SG_STORE_JSON_DEPTH_MAX);
  done(ud, SG_ST_INVALID, NULL, msg);
  return 1;
}

void sg_store_collab_execute(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *participants, const soulgw_json *context,
                             const char *note, const sg_collab_limits *lim, int64_t now_ms,
                             sg_store_done done, void *ud) {
  if (too_deep(context, "context", done, ud)) return;
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_collab_execute, tenant);
  if (w) {
    collab_limits(w, lim);
    w->now = now_ms;
    w->s1 = sg_wop_strdup(w, collab_id, &oom);
    w->s3 = sg_wop_text(w, context, &oom);
    w->s2 = entry_tail(w, note, w->s3, &oom);
    w->j1 = sg_wop_json(participants, &oom);
    w->j2 = sg_wop_json(context, &oom);
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* w: s1 collab_id, s2 the entry's tail, s3 the resolution's text. */
static sg_st op_collab_resolve(sg_store *st, sg_conn *c, wop *w) {
  sg_collab_head h;
  int rc = sg_collab_head_read(c, w->tenant, w->s1, &h);
  if (rc) return sg_store_write_failed(st, w, "collab read", rc, c);
  sg_st r = SG_ST_OK;
  char *entry = NULL;
  if (!h.found) {
    snprintf(w->msg, sizeof w->msg, "collaboration %.100s does not exist", w->s1);
    r = SG_ST_NOTFOUND;
  } else if (strcmp(h.status, "unreadable") == 0) {
    r = sg_store_unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  } else if (strcmp(h.status, "resolved") == 0) {
    snprintf(w->msg, sizeof w->msg, "collaboration %.100s is already resolved", w->s1);
    r = SG_ST_CONFLICT;
  } else if (!(entry = sg_shape_entry("resolved", w->s2)) || take(&h.status, sg_strdup("resolved")) ||
             take(&h.resolution, sg_strdup(w->s3))) {
    snprintf(w->msg, sizeof w->msg, "out of memory");
    r = SG_ST_UNAVAILABLE;
  } else {
    h.entries++;
    h.tl_bytes += (int64_t)strlen(entry);
    h.updated_at = w->now;
    r = head_commit(st, c, w, &h, entry);
  }
  free(entry);
  sg_collab_head_clear(&h);
  return r;
}

void sg_store_collab_resolve(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *outcome, const char *note,
                             const sg_collab_limits *lim, int64_t now_ms, sg_store_done done,
                             void *ud) {
  if (too_deep(outcome, "outcome", done, ud)) return;
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_collab_resolve, tenant);
  if (w) {
    collab_limits(w, lim);
    w->now = now_ms;
    w->s1 = sg_wop_strdup(w, collab_id, &oom);
    const char *out = sg_wop_text(w, outcome, &oom);
    w->s2 = entry_tail(w, note, out, &oom);
    sg_buf b;
    sg_buf_init(&b, 0);
    sg_buf_printf(&b, "{\"outcome\":%s,\"note\":", out ? out : "null");
    if (note) sg_json_write_string(&b, note);
    else sg_buf_puts(&b, "null");
    sg_buf_printf(&b, ",\"resolved_at\":%lld}", (long long)now_ms);
    w->s3 = sg_buf_failed(&b) ? NULL : sg_arena_strndup(&w->arena, b.ptr, b.len);
    if (!w->s3) oom = 1;
    sg_buf_free(&b);
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Repo and graph */

/* Counts the distinct (from, to, label) of a request's edges. */
static size_t distinct_edges(const sg_edge_in *e, size_t n, const char *record_id) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  size_t *slots = calloc(cap, sizeof *slots); /* index + 1, 0 empty */
  if (!slots) return n;
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    const char *f = e[i].from ? e[i].from : record_id, *t = e[i].to;
    const char *l = e[i].label ? e[i].label : "related";
    uint64_t h = 1469598103934665603ull;
    for (const char *p = f; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = t; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xfe) * 1099511628211ull;
    for (const char *p = l; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    size_t j = (size_t)h & (cap - 1);
    int dup = 0;
    for (; slots[j]; j = (j + 1) & (cap - 1)) {
      const sg_edge_in *o = &e[slots[j] - 1];
      const char *of = o->from ? o->from : record_id, *ol = o->label ? o->label : "related";
      if (!strcmp(of, f) && !strcmp(o->to, t) && !strcmp(ol, l)) {
        dup = 1;
        break;
      }
    }
    if (!dup) {
      slots[j] = i + 1;
      count++;
    }
  }
  free(slots);
  return count;
}

static sg_st op_repo_append(sg_store *st, sg_conn *c, wop *w) {
  const char *data = w->s3; /* serialised by the caller */
  const char *record_id = w->s2;
  char genid[512];
  int rc = SG_DRV_FAILED;
  for (int tries = 0; tries < 1000; tries++) {
    if (!w->s2) {
      int64_t n;
      if ((rc = c->drv->seq_next(c, w->tenant, "record", &n))) break;
      snprintf(genid, sizeof genid, "%s::%lld", w->s1, (long long)n);
      record_id = genid;
    }
    rc = c->drv->record_insert(c, w->tenant, record_id, w->s1, data, w->now);
    if (!(rc == SG_DRV_CONFLICT && !w->s2)) break; /* a generated id already taken: next one */
  }
  if (rc == SG_DRV_CONFLICT) FAIL(w, SG_ST_CONFLICT, "record_id %.100s already exists", record_id);
  if (rc) return sg_store_write_failed(st, w, "record insert", rc, c);
  for (size_t i = 0; i < w->nedges; i++) {
    const sg_edge_in *e = &w->edges[i];
    rc = c->drv->edge_insert(c, w->tenant, e->from ? e->from : record_id, e->to,
                             e->label ? e->label : "related", w->props[i], w->now);
    if (rc) return sg_store_write_failed(st, w, "edge insert", rc, c);
  }
  /* distinct edges: counted by the caller, except that "from" defaulting to a generated id is
   * only known here, and such edges are distinct from each other by their other fields */
  w->result = sg_shape_appended(w->tenant, w->s1, record_id, w->now, w->n);
  return w->result ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

void sg_store_repo_append(sg_store *st, const char *tenant, const char *repo,
                          const char *record_id, const soulgw_json *data, const sg_edge_in *edges,
                          size_t nedges, int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_repo_append, tenant);
  if (w) {
    w->s1 = sg_wop_strdup(w, repo, &oom);
    w->s2 = sg_wop_strdup(w, record_id, &oom);
    w->s3 = sg_wop_text(w, data, &oom);
    w->now = now_ms;
    w->nedges = nedges;
    w->n = (int64_t)distinct_edges(edges, nedges, record_id ? record_id : "\x01generated");
    if (nedges) {
      w->edges = sg_arena_alloc(&w->arena, nedges * sizeof *w->edges);
      w->props = sg_arena_calloc(&w->arena, nedges * sizeof *w->props);
      if (!w->edges || !w->props) oom = 1;
      for (size_t i = 0; !oom && i < nedges; i++) {
        sg_edge_in *e = &w->edges[i];
        e->from = sg_wop_strdup(w, edges[i].from, &oom);
        e->to = sg_wop_strdup(w, edges[i].to, &oom);
        e->label = sg_wop_strdup(w, edges[i].label, &oom);
        e->props = NULL;
        if (edges[i].props && soulgw_json_typeof(edges[i].props) != SOULGW_JSON_NULL)
          w->props[i] = sg_wop_text(w, edges[i].props, &oom);
      }
    }
  }
  sg_store_submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Observe */

static sg_st op_observe_emit(sg_store *st, sg_conn *c, wop *w) {
  int64_t n;
  int rc = c->drv->seq_next(c, w->tenant, "observe", &n);
  if (rc) return sg_store_write_failed(st, w, "observe sequence", rc, c);
  rc = c->drv->event_insert(c, w->tenant, n, w->s1, w->s2, w->s4, w->s3, w->now);
  if (rc) return sg_store_write_failed(st, w, "observe insert", rc, c);
  w->result = sg_shape_emitted(w->tenant, w->s1, n, w->now);
  return w->result ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

void sg_store_observe_emit(sg_store *st, const char *tenant, const char *topic,
                           const char *severity, const soulgw_json *event, const char *trace_id,
                           int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = sg_wop_new(done, ud, op_observe_emit, tenant);
  if (w) {
    w->s1 = sg_wop_strdup(w, topic, &oom);
    w->s2 = sg_wop_strdup(w, severity ? severity : "info", &oom);
    w->s3 = sg_wop_strdup(w, trace_id, &oom);
    w->s4 = sg_wop_text(w, event, &oom);
    w->now = now_ms;
  }
  sg_store_submit(st, w, oom, done, ud);
}


/* ========================================================================================== */
/* Reads */

/* The outcome of a read that built *out (NULL when out of memory) or failed with rc, counted
 * as what. */
static sg_st outcome(sg_store *st, const char *what, int rc, sg_conn *c, soulgw_json *out) {
  if (rc) return sg_store_read_failed(st, what, rc, c);
  return out ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

/* As outcome(), for a read of one thing that may not exist (*out NULL, no error). */
static sg_st found(sg_store *st, const char *what, int rc, sg_conn *c, soulgw_json *out) {
  if (!rc && !out) return SG_ST_NOTFOUND;
  return outcome(st, what, rc, c, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Registry */

sg_st sg_store_registry_tenants(sg_store *st, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "registry tenants", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_tenants(c, out);
  sg_st r = outcome(st, "registry tenants", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_registry_versions(sg_store *st, const char *tenant, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "registry versions", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_versions(c, tenant, out);
  sg_st r = outcome(st, "registry versions", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_registry_active(sg_store *st, const char *tenant, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "registry active", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_version(c, tenant, NULL, out);
  sg_st r = found(st, "registry active", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Idempotency */

sg_st sg_store_idem_get(sg_store *st, const char *tenant, const char *key, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "idempotency", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_idem(c, tenant, key, out);
  sg_st r = found(st, "idempotency", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Collaborations */

/* A read of one collaboration on a reader connection: its head, or an outcome. */
static sg_st read_head(sg_store *st, sg_conn *c, const char *tenant, const char *id,
                       sg_collab_head *h) {
  int rc = sg_collab_head_read(c, tenant, id, h);
  if (rc) return sg_store_read_failed(st, "collab read", rc, c);
  if (!h->found) return SG_ST_NOTFOUND;
  if (strcmp(h->status, "unreadable") == 0) {
    char msg[160];
    sg_collab_head_clear(h);
    return sg_store_unreadable(st, tenant, id, msg, sizeof msg);
  }
  return SG_ST_OK;
}

/* The outcome of a timeline read that failed with rc. */
static sg_st timeline_failed(sg_store *st, int rc, sg_conn *c, const char *tenant,
                             const char *id) {
  char msg[160];
  if (rc == SG_DRV_UNREADABLE) return sg_store_unreadable(st, tenant, id, msg, sizeof msg);
  return sg_store_read_failed(st, "collab timeline read", rc, c);
}

sg_st sg_store_collab_get(sg_store *st, const char *tenant, const char *collab_id,
                          soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "collab", SG_DRV_CANTOPEN, NULL);
  sg_collab_head h;
  sg_st r = read_head(st, c, tenant, collab_id, &h);
  int rc = 0;
  if (r == SG_ST_OK &&
      !(*out = sg_shape_snapshot(c, tenant, collab_id, &h, SG_COLLAB_WINDOW, &rc)))
    r = timeline_failed(st, rc, c, tenant, collab_id);
  sg_collab_head_clear(&h);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_collab_timeline(sg_store *st, const char *tenant, const char *collab_id,
                               int64_t after, int limit, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "collab", SG_DRV_CANTOPEN, NULL);
  sg_collab_head h;
  sg_st r = read_head(st, c, tenant, collab_id, &h);
  int rc = 0;
  if (r == SG_ST_OK && (rc = sg_shape_timeline(c, tenant, collab_id, &h, after, limit, out)))
    r = timeline_failed(st, rc, c, tenant, collab_id);
  sg_collab_head_clear(&h);
  sg_store_reader_put(st, c);
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Repo and graph */

sg_st sg_store_repo_get(sg_store *st, const char *tenant, const char *record_id,
                        soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "record", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_record(c, tenant, record_id, out);
  sg_st r = found(st, "record", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_repo_list(sg_store *st, const char *tenant, const char *repo, const char *after,
                         int limit, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "record list", SG_DRV_CANTOPEN, NULL);
  int64_t pos = -1;
  int rc = after ? c->drv->record_pos(c, tenant, repo, after, &pos) : 0;
  sg_st r;
  if (!rc && after && pos < 0) r = SG_ST_NOTFOUND;
  else if (!rc && !(rc = sg_shape_records(c, tenant, repo, pos, limit, out)))
    r = *out ? SG_ST_OK : SG_ST_UNAVAILABLE;
  else r = sg_store_read_failed(st, "record list", rc, c);
  sg_store_reader_put(st, c);
  return r;
}

sg_st sg_store_graph_recall(sg_store *st, const char *tenant, const char *node_id,
                            const char *label, sg_direction dir, int depth, int limit,
                            soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "graph", SG_DRV_CANTOPEN, NULL);
  int64_t rows = 0;
  int rc = sg_graph_walk(c, tenant, node_id, label, dir, depth, limit, out, &rows);
  sg_store_reader_put(st, c);
  sg_family_add(st->rows_read, (const char *[]){"graph_recall"}, (uint64_t)rows);
  return outcome(st, "graph recall", rc, NULL, *out);
}

/* ------------------------------------------------------------------------------------------ */
/* Observe */

sg_st sg_store_observe_query(sg_store *st, const char *tenant, const char *topic, int64_t since,
                             const char *severity, int limit, soulgw_json **out) {
  *out = NULL;
  sg_conn *c = sg_store_reader(st);
  if (!c) return sg_store_read_failed(st, "observe query", SG_DRV_CANTOPEN, NULL);
  int rc = sg_shape_events(c, tenant, topic, since, severity, limit, out);
  sg_st r = outcome(st, "observe query", rc, c, *out);
  sg_store_reader_put(st, c);
  return r;
}

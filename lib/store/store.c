/*
 * store.c -- the store's front (store.h, front.h): the backend chosen by name, open and close,
 * the pool of reader connections, the writer thread and group commit.
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
 * fsync).  Appends that follow each other in a batch go to the driver together
 * (record_append_many): it undoes a failed one alone as a savepoint would, without paying for
 * one per append.  Work that needs no database (serialising JSON, an append's answer) is done
 * by the caller before queueing, off the single writer thread.
 *
 * The engine is behind a driver (driver.h); nothing here knows SQL.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "store/front.h"

/* The drivers built in; the first is the default. */
static const sg_store_driver *const drivers[] = {&sg_store_sqlite, &sg_store_pg};

#define PROBE_IDLE_S 5

/* ------------------------------------------------------------------------------------------ */
/* Errors */

static const char *error_kind(const sg_store *st, int err) {
  if (st->drv->kind) return st->drv->kind(err);
  return err == SG_DRV_CANTOPEN ? "connect" : "other";
}

void sg_store_count_error(sg_store *st, const char *what, int err, sg_conn *c) {
  const char *kind = error_kind(st, err);
  sg_family_add(st->errors, NULL, 1);
  sg_family_add(st->errors_by_kind, (const char *[]){kind}, 1);
  int lost = strcmp(kind, "connect") == 0;
  /* an outage is one line when it begins and one when it ends, not one per failed request */
  if ((lost && atomic_exchange(&st->down, 1)) || !st->log) return;
  const char *msg = "";
  int code = 0;
  st->drv->describe(c, err, &msg, &code);
  sg_log(st->log, SOULGW_LOG_ERROR, lost ? "storage unavailable" : "storage error",
         SG_S("backend", st->drv->name), SG_S("operation", what), SG_S(st->drv->name, msg),
         SG_I("code", code));
}

/* A statement succeeded: an outage, if any, is over. */
static void store_up(sg_store *st) {
  if (atomic_exchange(&st->down, 0) && st->log)
    sg_log(st->log, SOULGW_LOG_INFO, "storage restored", SG_S("backend", st->drv->name));
}

/* The pool gauge: reader connections free, and the others and the writer busy. */
static void pool_count(sg_store *st) {
  if (!st->pool) return;
  pthread_mutex_lock(&st->rlock);
  int64_t idle = st->nfree + (st->writer_busy ? 0 : 1);
  int64_t busy = st->nreaders - st->nfree + (st->writer_busy ? 1 : 0);
  sg_family_set(st->pool, (const char *[]){"idle"}, idle);
  sg_family_set(st->pool, (const char *[]){"busy"}, busy);
  pthread_mutex_unlock(&st->rlock);
}

/* The writer begins (1) or ends (0) a batch. */
static void writer_state(sg_store *st, int busy) {
  pthread_mutex_lock(&st->rlock);
  st->writer_busy = busy;
  pthread_mutex_unlock(&st->rlock);
  pool_count(st);
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
  while (!st->free_readers && st->max_readers && st->nreaders >= st->max_readers)
    pthread_cond_wait(&st->rcond, &st->rlock);
  if ((c = st->free_readers)) {
    st->free_readers = c->next_free;
    st->nfree--;
  } else {
    st->nreaders++; /* this thread opens one */
  }
  pthread_mutex_unlock(&st->rlock);
  pool_count(st);
  if (c) return c;
  char err[256];
  if (st->drv->connect(st->db, 1, &c, err, sizeof err) != 0) {
    sg_store_count_error(st, "open reader", SG_DRV_CANTOPEN, NULL);
    pthread_mutex_lock(&st->rlock);
    st->nreaders--;
    pthread_cond_signal(&st->rcond);
    pthread_mutex_unlock(&st->rlock);
    pool_count(st);
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
  st->nfree++;
  pthread_cond_signal(&st->rcond);
  pthread_mutex_unlock(&st->rlock);
  pool_count(st);
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
    if (d->record_append_many && w->run_many) { /* appends, in one go */
      if ((rc = w->run_many(st, c, w, &w))) failed = "";
      continue;
    }
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
  store_up(st);
  finish_batch(batch);
}

/* When idle: a small write that tells /health whether the database can still be written. */
static void probe(sg_store *st) {
  int rc = st->drv->probe(st->writer);
  if (rc == SG_DRV_SKIP) return;
  if (rc && atomic_load(&st->writable)) sg_store_count_error(st, "probe", rc, st->writer);
  atomic_store(&st->writable, rc == 0);
  if (!rc) store_up(st);
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
    if (batch) {
      writer_state(st, 1);
      run_batch(st, batch);
      writer_state(st, 0);
    } else if (stopping) break;
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
  pthread_cond_init(&st->rcond, NULL);
  st->max_readers = o->pool > 1 ? o->pool - 1 : o->pool == 1 ? 1 : 0;
  st->errors = o->errors;
  st->errors_by_kind = o->errors_by_kind;
  st->pool = o->pool_gauge;
  st->rows_read = o->rows_read;
  st->log = o->log;
  atomic_init(&st->writable, 1);
  atomic_init(&st->down, 0);
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

int sg_store_watch_registry(sg_store *st, sg_store_change_fn fn, void *ud) {
  if (!st->drv->watch) return 0;
  return st->drv->watch(st->db, fn, ud) ? SOULGW_ESTORE : 0;
}

void sg_store_close(sg_store *st) {
  if (!st) return;
  if (st->drv && st->drv->unwatch) st->drv->unwatch(st->db); /* no callback from here on */
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
  pthread_cond_destroy(&st->rcond);
  free(st->appends);
  free(st);
}

int sg_store_writable(sg_store *st) {
  return atomic_load_explicit(&st->writable, memory_order_relaxed) &&
         !atomic_load_explicit(&st->down, memory_order_relaxed);
}

int sg_store_reachable(const sg_store_opts *o, char *why, size_t len) {
  const sg_store_driver *d = driver_named(o->backend);
  if (!d) {
    snprintf(why, len, "unknown storage backend \"%.64s\"", o->backend);
    return SOULGW_ESTORE;
  }
  return d->reach && d->reach(o, why, len) ? SOULGW_ESTORE : 0;
}
const char *sg_store_engine_version(void) { return drivers[0]->version(); }
int sg_store_schema_version(sg_store *st) { return st->schema_version; }

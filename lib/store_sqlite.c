/*
 * store_sqlite.c -- the SQLite implementation of store.h, and the only file that calls SQLite.
 *
 * One writer connection, owned by the writer thread, and a pool of reader connections used by
 * whatever thread reads.  Writes are queued; the writer takes everything queued at once, runs
 * it in one transaction, commits, and only then calls each write's completion (group commit:
 * one fsync for the whole batch, so synchronous=FULL stays fast under concurrency).  WAL mode
 * lets readers proceed while the writer commits.
 *
 * Each write of a batch runs in its own savepoint.  A write that refuses or fails (a conflict,
 * an unreadable row, a statement that fails) is rolled back to its savepoint and answered
 * alone; its neighbours commit.  Only a failure of the database itself (I/O, a full disk, a
 * transaction SQLite gave up, a failed commit) fails the whole batch, which is rolled back and
 * answered 503 and marks the store unwritable, so nothing unacknowledged is half-written and
 * nothing acknowledged is lost.  A SAVEPOINT/RELEASE pair costs about 2 us per write (measured
 * against 10-12 us for the write itself without fsync).  Work that needs no database
 * (serialising JSON) is done by the caller before queueing, off the single writer thread.
 *
 * Every statement is prepared once per connection and bound; no SQL is built from strings.
 * The schema is versioned with PRAGMA user_version and migrated forward at open.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "json.h"
#include "store.h"

/* ------------------------------------------------------------------------------------------ */
/* Schema */

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "CREATE TABLE sequences(tenant TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,"
    " PRIMARY KEY(tenant, name)) WITHOUT ROWID;"
    "CREATE TABLE registry_versions(tenant TEXT NOT NULL, version TEXT NOT NULL,"
    " seq INTEGER NOT NULL, manifests TEXT NOT NULL, created_at_ms INTEGER NOT NULL,"
    " PRIMARY KEY(tenant, version));"
    "CREATE UNIQUE INDEX registry_versions_order ON registry_versions(tenant, seq);"
    "CREATE TABLE registry_active(tenant TEXT PRIMARY KEY, version TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE idempotency(tenant TEXT NOT NULL, key TEXT NOT NULL, tool_id TEXT NOT NULL,"
    " input TEXT NOT NULL, status INTEGER NOT NULL, response TEXT NOT NULL,"
    " created_at_ms INTEGER NOT NULL, PRIMARY KEY(tenant, key));"
    "CREATE TABLE collabs(tenant TEXT NOT NULL, collab_id TEXT NOT NULL, status TEXT NOT NULL,"
    " snapshot TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(tenant, collab_id));"
    "CREATE TABLE records(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, record_id TEXT NOT NULL,"
    " repo TEXT NOT NULL, data TEXT NOT NULL, stored_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX records_key ON records(tenant, record_id);"
    "CREATE INDEX records_repo ON records(tenant, repo, id);"
    "CREATE TABLE edges(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, src TEXT NOT NULL,"
    " dst TEXT NOT NULL, label TEXT NOT NULL, props TEXT, ts INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX edges_out ON edges(tenant, src, label, dst);"
    "CREATE INDEX edges_in ON edges(tenant, dst, id);"
    "CREATE TABLE observe(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, seq INTEGER NOT NULL,"
    " topic TEXT NOT NULL, severity TEXT NOT NULL, event TEXT NOT NULL, trace_id TEXT,"
    " ingested_at INTEGER NOT NULL);"
    "CREATE INDEX observe_tenant ON observe(tenant, id);"
    "CREATE INDEX observe_topic ON observe(tenant, topic, id);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* Prepared statements, by id.  Each connection prepares the ones it uses on first use. */
enum {
  Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO, Q_PROBE, Q_SEQ_NEXT,
  Q_REG_INSERT, Q_REG_EXISTS, Q_REG_SET_ACTIVE, Q_REG_ACTIVE, Q_REG_GET, Q_REG_LIST,
  Q_REG_TENANTS, Q_REG_NEXT_SEQ,
  Q_IDEM_GET, Q_IDEM_INSERT,
  Q_COLLAB_GET, Q_COLLAB_PUT,
  Q_REC_INSERT, Q_REC_GET, Q_REC_POS, Q_REC_LIST, Q_REC_LIST_ALL, Q_EDGE_INSERT,
  Q_EDGES_OUT, Q_EDGES_OUT_LABEL, Q_EDGES_IN, Q_EDGES_IN_LABEL,
  Q_OBS_INSERT, Q_OBS_QUERY,
  Q_COUNT
};

static const char *const sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT w",
    [Q_RELEASE] = "RELEASE w",
    [Q_ROLLBACK_TO] = "ROLLBACK TO w",
    [Q_PROBE] = "INSERT OR REPLACE INTO meta(key, value) VALUES('probe', ?1)",
    [Q_SEQ_NEXT] = "INSERT INTO sequences(tenant, name, value) VALUES(?1, ?2, 1)"
                   " ON CONFLICT(tenant, name) DO UPDATE SET value = value + 1 RETURNING value",
    [Q_REG_INSERT] = "INSERT INTO registry_versions(tenant, version, seq, manifests, created_at_ms)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_REG_EXISTS] = "SELECT 1 FROM registry_versions WHERE tenant = ?1 AND version = ?2",
    [Q_REG_SET_ACTIVE] = "INSERT INTO registry_active(tenant, version) VALUES(?1, ?2)"
                         " ON CONFLICT(tenant) DO UPDATE SET version = excluded.version",
    [Q_REG_ACTIVE] = "SELECT v.version, v.manifests, v.created_at_ms FROM registry_active a"
                     " JOIN registry_versions v ON v.tenant = a.tenant AND v.version = a.version"
                     " WHERE a.tenant = ?1",
    [Q_REG_GET] = "SELECT version, manifests, created_at_ms FROM registry_versions"
                  " WHERE tenant = ?1 AND version = ?2",
    [Q_REG_LIST] = "SELECT v.version, v.manifests, v.created_at_ms, v.version = a.version"
                   " FROM registry_versions v LEFT JOIN registry_active a ON a.tenant = v.tenant"
                   " WHERE v.tenant = ?1 ORDER BY v.seq",
    [Q_REG_TENANTS] = "SELECT tenant FROM registry_active ORDER BY tenant",
    [Q_REG_NEXT_SEQ] = "SELECT coalesce(max(seq), 0) + 1 FROM registry_versions WHERE tenant = ?1",
    [Q_IDEM_GET] = "SELECT tool_id, input, status, response FROM idempotency"
                   " WHERE tenant = ?1 AND key = ?2",
    [Q_IDEM_INSERT] = "INSERT OR IGNORE INTO idempotency(tenant, key, tool_id, input, status,"
                      " response, created_at_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_COLLAB_GET] = "SELECT snapshot FROM collabs WHERE tenant = ?1 AND collab_id = ?2",
    [Q_COLLAB_PUT] = "INSERT INTO collabs(tenant, collab_id, status, snapshot, updated_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(tenant, collab_id) DO UPDATE SET"
                     " status = excluded.status, snapshot = excluded.snapshot,"
                     " updated_at = excluded.updated_at",
    [Q_REC_INSERT] = "INSERT INTO records(tenant, record_id, repo, data, stored_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_REC_GET] = "SELECT repo, data, stored_at FROM records WHERE tenant = ?1 AND record_id = ?2",
    [Q_REC_POS] = "SELECT id FROM records WHERE tenant = ?1 AND record_id = ?2 AND repo = ?3",
    [Q_REC_LIST] = "SELECT record_id, data, stored_at FROM records"
                   " WHERE tenant = ?1 AND repo = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
    [Q_REC_LIST_ALL] = "SELECT record_id, data, stored_at FROM records"
                       " WHERE tenant = ?1 AND repo = ?2 ORDER BY id LIMIT ?3",
    [Q_EDGE_INSERT] = "INSERT OR IGNORE INTO edges(tenant, src, dst, label, props, ts)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_EDGES_OUT] = "SELECT id, src, dst, label, props, ts FROM edges"
                    " WHERE tenant = ?1 AND src = ?2 ORDER BY id DESC LIMIT ?3",
    [Q_EDGES_OUT_LABEL] = "SELECT id, src, dst, label, props, ts FROM edges"
                          " WHERE tenant = ?1 AND src = ?2 AND label = ?3 ORDER BY id DESC LIMIT ?4",
    [Q_EDGES_IN] = "SELECT id, src, dst, label, props, ts FROM edges"
                   " WHERE tenant = ?1 AND dst = ?2 ORDER BY id DESC LIMIT ?3",
    [Q_EDGES_IN_LABEL] = "SELECT id, src, dst, label, props, ts FROM edges INDEXED BY edges_in"
                         " WHERE tenant = ?1 AND dst = ?2 AND label = ?3 ORDER BY id DESC LIMIT ?4",
    [Q_OBS_INSERT] = "INSERT INTO observe(tenant, seq, topic, severity, event, trace_id, ingested_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_OBS_QUERY] = "SELECT seq, topic, severity, event, trace_id, ingested_at FROM observe"
                    " WHERE tenant = ?1 AND (?2 IS NULL OR topic = ?2)"
                    " AND (?3 < 0 OR ingested_at >= ?3) AND (?4 IS NULL OR severity = ?4)"
                    " ORDER BY id LIMIT ?5",
};

/* ------------------------------------------------------------------------------------------ */
/* Connections */

typedef struct conn {
  sqlite3 *db;
  sqlite3_stmt *stmt[Q_COUNT];
  struct conn *next_free, *next_all;
} conn;

/* A queued write. */
typedef struct wop wop;
typedef sg_st (*wop_fn)(sg_store *st, conn *c, wop *w);

struct wop {
  wop_fn run;
  sg_store_done done;
  void *ud;
  sg_arena arena; /* the copied arguments */
  const char *tenant, *s1, *s2, *s3, *s4;
  soulgw_json *j1, *j2;
  int64_t now, n;
  sg_edge_in *edges;
  const char **props; /* edges' props as JSON text, NULL for none */
  size_t nedges;
  sg_st st;
  int rc; /* the SQLite error of a failed write, 0 for none */
  soulgw_json *result;
  char msg[160];
  wop *next;
};

struct sg_store {
  char *path;
  int sync_full, memory;
  sg_family *errors;
  sg_log *log;
  conn *writer;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t qlock;
  pthread_cond_t qcond;
  wop *qhead, *qtail;
  int stopping;
  pthread_mutex_t rlock;
  conn *free_readers, *all_readers;
  atomic_int writable;
  int schema_version;
};

#define PROBE_IDLE_S 5

static void count_error(sg_store *st, const char *what, int rc, sqlite3 *db) {
  sg_family_add(st->errors, NULL, 1);
  if (st->log)
    sg_log(st->log, SOULGW_LOG_ERROR, "storage error", SG_S("operation", what),
           SG_S("sqlite", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)), SG_I("code", rc));
}

static sqlite3_stmt *stmt(conn *c, int id) {
  sqlite3_stmt *s = c->stmt[id];
  if (s) {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
  }
  if (sqlite3_prepare_v3(c->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
    return NULL;
  c->stmt[id] = s;
  return s;
}

static void conn_close(conn *c) {
  if (!c) return;
  for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(c->stmt[i]);
  sqlite3_close_v2(c->db);
  free(c);
}

static int conn_open(sg_store *st, int reader, conn **out, char *err, size_t errlen) {
  conn *c = calloc(1, sizeof *c);
  if (!c) return SQLITE_NOMEM;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(st->path, &c->db, flags, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_extended_result_codes(c->db, 1);
  if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(c->db, 5000);
  /* In-memory databases (tests) share one cache, whose table locks ignore busy_timeout:
   * readers there read without them. */
  const char *pragmas = reader ? st->memory ? "PRAGMA query_only = 1; PRAGMA read_uncommitted = 1;"
                                            : "PRAGMA query_only = 1; PRAGMA foreign_keys = ON;"
                      : st->sync_full
                          ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                          : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";
  if (rc == SQLITE_OK) rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", st->path,
             c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    conn_close(c);
    return rc;
  }
  *out = c;
  return SQLITE_OK;
}

static conn *reader_get(sg_store *st) {
  conn *c = NULL;
  pthread_mutex_lock(&st->rlock);
  if ((c = st->free_readers)) st->free_readers = c->next_free;
  pthread_mutex_unlock(&st->rlock);
  if (c) return c;
  char err[256];
  if (conn_open(st, 1, &c, err, sizeof err) != SQLITE_OK) {
    count_error(st, "open reader", SQLITE_CANTOPEN, NULL);
    return NULL;
  }
  pthread_mutex_lock(&st->rlock);
  c->next_all = st->all_readers;
  st->all_readers = c;
  pthread_mutex_unlock(&st->rlock);
  return c;
}

static void reader_put(sg_store *st, conn *c) {
  if (!c) return;
  pthread_mutex_lock(&st->rlock);
  c->next_free = st->free_readers;
  st->free_readers = c;
  pthread_mutex_unlock(&st->rlock);
}

/* Runs a statement without results; SQLITE_DONE or the error. */
static int run0(conn *c, int id) {
  sqlite3_stmt *s = stmt(c, id);
  if (!s) return sqlite3_errcode(c->db);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v) {
  if (v) sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
  else sqlite3_bind_null(s, i);
}

static const char *col_text(sqlite3_stmt *s, int i) {
  const unsigned char *t = sqlite3_column_text(s, i);
  return t ? (const char *)t : "";
}

/* Parses a JSON column (written by this file, so valid); NULL column -> JSON null. */
static soulgw_json *col_json(sqlite3_stmt *s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return soulgw_json_null();
  const char *t = (const char *)sqlite3_column_text(s, i);
  soulgw_json *v = NULL;
  if (!t || soulgw_json_parse(t, (size_t)sqlite3_column_bytes(s, i), &v, NULL, 0) != 0)
    return soulgw_json_null();
  return v;
}

/* Compact JSON text of v, to free(). */
static char *json_text(const soulgw_json *v) { return v ? soulgw_json_print(v) : NULL; }

/* ------------------------------------------------------------------------------------------ */
/* Migrations */

static int migrate(sg_store *st, char *err, size_t errlen) {
  sqlite3 *db = st->writer->db;
  sqlite3_stmt *s = NULL;
  int version = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW)
    version = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  if (version > SCHEMA_VERSION) {
    snprintf(err, errlen, "%s has schema version %d, newer than this soulgw knows (%d)",
             st->path, version, SCHEMA_VERSION);
    return -1;
  }
  for (int v = version; v < SCHEMA_VERSION; v++) {
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
    char *msg = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, migrations[v], NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, bump, NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
      snprintf(err, errlen, "cannot migrate %s to schema version %d: %s", st->path, v + 1,
               msg ? msg : sqlite3_errmsg(db));
      sqlite3_free(msg);
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      return -1;
    }
  }
  st->schema_version = SCHEMA_VERSION;
  return 0;
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

/* 1 when a write's failure is the database's (the batch cannot commit, and the store is not
 * writable) rather than that write's alone. */
static int database_failed(conn *c, int rc) {
  if (sqlite3_get_autocommit(c->db)) return 1; /* SQLite has rolled the transaction back */
  switch (rc & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return 1;
    default: return 0;
  }
}

/* The whole batch fails: rolled back, answered 503, the store marked unwritable. */
static void batch_failed(sg_store *st, wop *batch, const char *what, int rc) {
  conn *c = st->writer;
  if (what) count_error(st, what, rc, c->db);
  if (!sqlite3_get_autocommit(c->db)) run0(c, Q_ROLLBACK);
  atomic_store(&st->writable, 0);
  fail_all(batch, "the database cannot be written");
  finish_batch(batch);
}

static void run_batch(sg_store *st, wop *batch) {
  conn *c = st->writer;
  const char *failed = NULL; /* the step that failed the whole batch */
  int rc = run0(c, Q_BEGIN);
  if (rc != SQLITE_DONE) failed = "begin";
  for (wop *w = batch; w && !failed; w = w->next) {
    if ((rc = run0(c, Q_SAVEPOINT)) != SQLITE_DONE) {
      failed = "savepoint";
      break;
    }
    w->st = w->run(st, c, w);
    if (w->st == SG_ST_OK) {
      if ((rc = run0(c, Q_RELEASE)) != SQLITE_DONE) failed = "release";
      continue;
    }
    soulgw_json_free(w->result);
    w->result = NULL;
    if (w->st == SG_ST_UNAVAILABLE && database_failed(c, w->rc)) {
      failed = ""; /* counted where it happened */
      break;
    }
    /* this write alone: undone, and answered with its own error */
    if ((rc = run0(c, Q_ROLLBACK_TO)) != SQLITE_DONE || (rc = run0(c, Q_RELEASE)) != SQLITE_DONE)
      failed = "rollback to savepoint";
  }
  if (!failed && (rc = run0(c, Q_COMMIT)) != SQLITE_DONE) failed = "commit";
  if (failed) {
    batch_failed(st, batch, *failed ? failed : NULL, rc);
    return;
  }
  atomic_store(&st->writable, 1);
  finish_batch(batch);
}

/* When idle: a small write that tells /health whether the database can still be written. */
static void probe(sg_store *st) {
  conn *c = st->writer;
  int ok = run0(c, Q_BEGIN) == SQLITE_DONE;
  if (ok) {
    sqlite3_stmt *s = stmt(c, Q_PROBE);
    ok = s && sqlite3_bind_int64(s, 1, time(NULL)) == SQLITE_OK && sqlite3_step(s) == SQLITE_DONE;
    if (s) sqlite3_reset(s);
    ok = ok && run0(c, Q_COMMIT) == SQLITE_DONE;
    if (!ok) run0(c, Q_ROLLBACK);
  }
  if (!ok && atomic_load(&st->writable)) count_error(st, "probe", SQLITE_IOERR, c->db);
  atomic_store(&st->writable, ok);
}

static void *writer_main(void *arg) {
  sg_store *st = arg;
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
    else if (!st->memory) probe(st);
  }
  return NULL;
}

static wop *wop_new(sg_store_done done, void *ud, wop_fn run, const char *tenant) {
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

static const char *wdup(wop *w, const char *s, int *oom) {
  if (!s) return NULL;
  const char *d = sg_arena_strdup(&w->arena, s);
  if (!d) *oom = 1;
  return d;
}

/* v as JSON text in w's arena: serialised on the caller's thread, not the writer's. */
static const char *wtext(wop *w, const soulgw_json *v, int *oom) {
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

static soulgw_json *jdup(const soulgw_json *v, int *oom) {
  if (!v) return NULL;
  soulgw_json *d = soulgw_json_dup(v);
  if (!d) *oom = 1;
  return d;
}

/* Queues w (or answers at once when it could not be built or the store is closing). */
static void submit(sg_store *st, wop *w, int oom, sg_store_done done, void *ud) {
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

static sg_st submit_wait(sg_store *st, wop *w, int oom, waiter *wt) {
  submit(st, w, oom, wake, wt);
  pthread_mutex_lock(&wt->lock);
  while (!wt->done) pthread_cond_wait(&wt->cond, &wt->lock);
  pthread_mutex_unlock(&wt->lock);
  return wt->st;
}

/* ------------------------------------------------------------------------------------------ */
/* Open and close */

static int make_parent_dir(const char *path, char *err, size_t errlen) {
  char *dir = sg_strdup(path);
  if (!dir) return -1;
  char *slash = strrchr(dir, '/');
  int rc = 0;
  if (slash && slash != dir) {
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
      if (*p != '/') continue;
      *p = '\0';
      mkdir(dir, 0750);
      *p = '/';
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
      rc = -1;
    }
  }
  free(dir);
  return rc;
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
  st->sync_full = o->sync_full;
  st->errors = o->errors;
  st->log = o->log;
  atomic_init(&st->writable, 1);
  st->memory = strcmp(o->path, ":memory:") == 0;
  if (st->memory) {
    /* a private in-memory database shared by this store's connections */
    char uri[96];
    snprintf(uri, sizeof uri, "file:soulgw-%p?mode=memory&cache=shared", (void *)st);
    st->path = sg_strdup(uri);
  } else {
    st->path = sg_strdup(o->path);
    if (st->path && make_parent_dir(st->path, err, errlen) != 0) goto fail;
  }
  if (!st->path) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (conn_open(st, 0, &st->writer, err, errlen) != SQLITE_OK || migrate(st, err, errlen) != 0)
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
  for (conn *c = st->all_readers, *next; c; c = next) {
    next = c->next_all;
    conn_close(c);
  }
  conn_close(st->writer);
  pthread_mutex_destroy(&st->qlock);
  pthread_cond_destroy(&st->qcond);
  pthread_mutex_destroy(&st->rlock);
  free(st->path);
  free(st);
}

int sg_store_writable(sg_store *st) { return atomic_load_explicit(&st->writable, memory_order_relaxed); }
const char *sg_store_engine_version(void) { return sqlite3_libversion(); }
int sg_store_schema_version(sg_store *st) { return st->schema_version; }

/* ------------------------------------------------------------------------------------------ */
/* Helpers for operations */

#define FAIL(w, code, ...)                                                                 \
  do {                                                                                     \
    snprintf((w)->msg, sizeof (w)->msg, __VA_ARGS__);                                       \
    return (code);                                                                          \
  } while (0)

/* The next value of a tenant's durable sequence, or -1. */
static int64_t seq_next(conn *c, const char *tenant, const char *name) {
  sqlite3_stmt *s = stmt(c, Q_SEQ_NEXT);
  if (!s) return -1;
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_reset(s);
  return v;
}

static int is_constraint(int rc) { return (rc & 0xff) == SQLITE_CONSTRAINT; }

/* Maps a failed step to SG_ST_UNAVAILABLE, counting it.  run_batch() decides from rc whether
 * the database failed (the batch fails) or this write alone (it is undone and answered). */
static sg_st unavailable(sg_store *st, wop *w, const char *what, int rc, conn *c) {
  count_error(st, what, rc, c->db);
  w->rc = rc ? rc : SQLITE_ERROR;
  snprintf(w->msg, sizeof w->msg, "the write could not be stored, and nothing of it was");
  return SG_ST_UNAVAILABLE;
}

static sg_st read_failed(sg_store *st, const char *what, int rc, conn *c) {
  count_error(st, what, rc, c ? c->db : NULL);
  return SG_ST_UNAVAILABLE;
}

/* A version object from a row (version, manifests, created_at_ms). */
static soulgw_json *version_object(sqlite3_stmt *s, int active) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "version", soulgw_json_new_string(col_text(s, 0)));
  soulgw_json_set(o, "manifests", col_json(s, 1));
  soulgw_json_set(o, "created_at_ms", sg_json_new_int(sqlite3_column_int64(s, 2)));
  soulgw_json_set(o, "active", soulgw_json_new_bool(active));
  return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Registry */

static sg_st reg_insert(sg_store *st, conn *c, wop *w, const char *version, const char *text,
                        int64_t now) {
  sqlite3_stmt *s = stmt(c, Q_REG_NEXT_SEQ);
  if (!s) return unavailable(st, w, "registry", sqlite3_errcode(c->db), c);
  bind_text(s, 1, w->tenant);
  int64_t seq = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 1;
  sqlite3_reset(s);
  if (!(s = stmt(c, Q_REG_INSERT))) return unavailable(st, w, "registry", sqlite3_errcode(c->db), c);
  bind_text(s, 1, w->tenant);
  bind_text(s, 2, version);
  sqlite3_bind_int64(s, 3, seq);
  bind_text(s, 4, text);
  sqlite3_bind_int64(s, 5, now);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (is_constraint(rc)) FAIL(w, SG_ST_CONFLICT, "tool registry version already exists");
  if (rc != SQLITE_DONE) return unavailable(st, w, "registry insert", rc, c);
  return SG_ST_OK;
}

static sg_st reg_set_active(sg_store *st, conn *c, wop *w, const char *version) {
  sqlite3_stmt *s = stmt(c, Q_REG_SET_ACTIVE);
  if (!s) return unavailable(st, w, "registry", sqlite3_errcode(c->db), c);
  bind_text(s, 1, w->tenant);
  bind_text(s, 2, version);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? SG_ST_OK : unavailable(st, w, "registry activate", rc, c);
}

static sg_st op_bootstrap(sg_store *st, conn *c, wop *w) {
  sqlite3_stmt *s = stmt(c, Q_REG_EXISTS);
  if (!s) return unavailable(st, w, "registry", sqlite3_errcode(c->db), c);
  bind_text(s, 1, w->tenant);
  bind_text(s, 2, "bootstrap");
  int exists = sqlite3_step(s) == SQLITE_ROW;
  sqlite3_reset(s);
  if (exists) return SG_ST_OK;
  char *text = json_text(w->j1);
  if (!text) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  sg_st r = reg_insert(st, c, w, "bootstrap", text, w->now);
  free(text);
  if (r != SG_ST_OK) return r;
  /* the first registry of a tenant becomes active; a later bootstrap never displaces one */
  s = stmt(c, Q_REG_ACTIVE);
  if (!s) return unavailable(st, w, "registry", sqlite3_errcode(c->db), c);
  bind_text(s, 1, w->tenant);
  int has_active = sqlite3_step(s) == SQLITE_ROW;
  sqlite3_reset(s);
  return has_active ? SG_ST_OK : reg_set_active(st, c, w, "bootstrap");
}

sg_st sg_store_registry_bootstrap(sg_store *st, const char *tenant, const soulgw_json *manifests,
                                  int64_t now_ms) {
  waiter wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, SG_ST_OK};
  int oom = 0;
  wop *w = wop_new(wake, &wt, op_bootstrap, tenant);
  if (w) {
    w->j1 = jdup(manifests, &oom);
    w->now = now_ms;
  }
  sg_st r = submit_wait(st, w, oom, &wt);
  pthread_mutex_destroy(&wt.lock);
  pthread_cond_destroy(&wt.cond);
  return r;
}

sg_st sg_store_registry_tenants(sg_store *st, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  sqlite3_stmt *s = c ? stmt(c, Q_REG_TENANTS) : NULL;
  if (!s) {
    reader_put(st, c);
    return read_failed(st, "registry tenants", SQLITE_ERROR, c);
  }
  soulgw_json *arr = soulgw_json_array();
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) soulgw_json_push(arr, soulgw_json_new_string(col_text(s, 0)));
  sqlite3_reset(s);
  reader_put(st, c);
  if (rc != SQLITE_DONE) {
    soulgw_json_free(arr);
    return read_failed(st, "registry tenants", rc, NULL);
  }
  *out = arr;
  return arr ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

sg_st sg_store_registry_versions(sg_store *st, const char *tenant, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  sqlite3_stmt *s = c ? stmt(c, Q_REG_LIST) : NULL;
  if (!s) {
    reader_put(st, c);
    return read_failed(st, "registry versions", SQLITE_ERROR, c);
  }
  bind_text(s, 1, tenant);
  soulgw_json *list = soulgw_json_array();
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW)
    soulgw_json_push(list, version_object(s, sqlite3_column_int(s, 3)));
  sqlite3_reset(s);
  reader_put(st, c);
  if (rc != SQLITE_DONE) {
    soulgw_json_free(list);
    return read_failed(st, "registry versions", rc, NULL);
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "versions", list);
  *out = o;
  return o ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

sg_st sg_store_registry_active(sg_store *st, const char *tenant, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  sqlite3_stmt *s = c ? stmt(c, Q_REG_ACTIVE) : NULL;
  if (!s) {
    reader_put(st, c);
    return read_failed(st, "registry active", SQLITE_ERROR, c);
  }
  bind_text(s, 1, tenant);
  int rc = sqlite3_step(s);
  sg_st r = SG_ST_NOTFOUND;
  if (rc == SQLITE_ROW) {
    *out = version_object(s, 1);
    r = *out ? SG_ST_OK : SG_ST_UNAVAILABLE;
  } else if (rc != SQLITE_DONE) {
    r = read_failed(st, "registry active", rc, c);
  }
  sqlite3_reset(s);
  reader_put(st, c);
  return r;
}

/* Merges add into base (arrays of manifests): same "id" replaced in place, others appended. */
static soulgw_json *merge_manifests(const soulgw_json *base, const soulgw_json *add) {
  soulgw_json *out = base ? soulgw_json_dup(base) : soulgw_json_array();
  if (!out) return NULL;
  for (const soulgw_json *m = soulgw_json_first(add); m; m = soulgw_json_next(m)) {
    const char *id = soulgw_json_string(soulgw_json_get(m, "id"));
    soulgw_json *same = NULL;
    for (soulgw_json *o = soulgw_json_first(out); o && id; o = soulgw_json_next(o)) {
      const char *oid = soulgw_json_string(soulgw_json_get(o, "id"));
      if (oid && strcmp(oid, id) == 0) same = o;
    }
    soulgw_json *copy = soulgw_json_dup(m);
    if (same ? sg_json_replace(out, same, copy) : soulgw_json_push(out, copy)) {
      soulgw_json_free(out);
      return NULL;
    }
  }
  return out;
}

static sg_st op_publish(sg_store *st, conn *c, wop *w) {
  sqlite3_stmt *s = stmt(c, Q_REG_EXISTS);
  if (!s) return unavailable(st, w, "registry", sqlite3_errcode(c->db), c);
  bind_text(s, 1, w->tenant);
  bind_text(s, 2, w->s1);
  int exists = sqlite3_step(s) == SQLITE_ROW;
  sqlite3_reset(s);
  if (exists) FAIL(w, SG_ST_CONFLICT, "tool registry version already exists");
  soulgw_json *base = NULL;
  if (!(s = stmt(c, Q_REG_ACTIVE))) return unavailable(st, w, "registry", sqlite3_errcode(c->db), c);
  bind_text(s, 1, w->tenant);
  if (sqlite3_step(s) == SQLITE_ROW) base = col_json(s, 1);
  sqlite3_reset(s);
  soulgw_json *merged = merge_manifests(base, w->j1);
  soulgw_json_free(base);
  char *text = json_text(merged);
  if (!text) {
    soulgw_json_free(merged);
    FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  }
  sg_st r = reg_insert(st, c, w, w->s1, text, w->now);
  free(text);
  if (r == SG_ST_OK) r = reg_set_active(st, c, w, w->s1);
  if (r != SG_ST_OK) {
    soulgw_json_free(merged);
    return r;
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "version", soulgw_json_new_string(w->s1));
  soulgw_json_set(o, "manifests", merged);
  soulgw_json_set(o, "created_at_ms", sg_json_new_int(w->now));
  soulgw_json_set(o, "active", soulgw_json_new_bool(1));
  w->result = o;
  return o ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

void sg_store_registry_publish(sg_store *st, const char *tenant, const char *version,
                               const soulgw_json *manifests, int64_t now_ms, sg_store_done done,
                               void *ud) {
  int oom = 0;
  wop *w = wop_new(done, ud, op_publish, tenant);
  if (w) {
    w->s1 = wdup(w, version, &oom);
    w->j1 = jdup(manifests, &oom);
    w->now = now_ms;
  }
  submit(st, w, oom, done, ud);
}

static sg_st op_activate(sg_store *st, conn *c, wop *w) {
  sqlite3_stmt *s = stmt(c, Q_REG_GET);
  if (!s) return unavailable(st, w, "registry", sqlite3_errcode(c->db), c);
  bind_text(s, 1, w->tenant);
  bind_text(s, 2, w->s1);
  if (sqlite3_step(s) != SQLITE_ROW) {
    sqlite3_reset(s);
    FAIL(w, SG_ST_NOTFOUND, "tool registry version %.100s does not exist", w->s1);
  }
  w->result = version_object(s, 1);
  sqlite3_reset(s);
  return reg_set_active(st, c, w, w->s1);
}

void sg_store_registry_activate(sg_store *st, const char *tenant, const char *version,
                                sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = wop_new(done, ud, op_activate, tenant);
  if (w) w->s1 = wdup(w, version, &oom);
  submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Idempotency */

static soulgw_json *idem_object(sqlite3_stmt *s) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tool_id", soulgw_json_new_string(col_text(s, 0)));
  soulgw_json_set(o, "input", col_json(s, 1));
  soulgw_json_set(o, "status", sg_json_new_int(sqlite3_column_int(s, 2)));
  soulgw_json_set(o, "response", soulgw_json_new_string(col_text(s, 3)));
  return o;
}

sg_st sg_store_idem_get(sg_store *st, const char *tenant, const char *key, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  sqlite3_stmt *s = c ? stmt(c, Q_IDEM_GET) : NULL;
  if (!s) {
    reader_put(st, c);
    return read_failed(st, "idempotency", SQLITE_ERROR, c);
  }
  bind_text(s, 1, tenant);
  bind_text(s, 2, key);
  int rc = sqlite3_step(s);
  sg_st r = SG_ST_NOTFOUND;
  if (rc == SQLITE_ROW) {
    *out = idem_object(s);
    r = *out ? SG_ST_OK : SG_ST_UNAVAILABLE;
  } else if (rc != SQLITE_DONE) {
    r = read_failed(st, "idempotency", rc, c);
  }
  sqlite3_reset(s);
  reader_put(st, c);
  return r;
}

static sg_st op_idem_put(sg_store *st, conn *c, wop *w) {
  char *input = json_text(w->j1);
  sqlite3_stmt *s = stmt(c, Q_IDEM_INSERT);
  if (!input || !s) {
    free(input);
    return unavailable(st, w, "idempotency", SQLITE_NOMEM, c);
  }
  bind_text(s, 1, w->tenant);
  bind_text(s, 2, w->s1);
  bind_text(s, 3, w->s2);
  bind_text(s, 4, input);
  sqlite3_bind_int64(s, 5, w->n);
  bind_text(s, 6, w->s3);
  sqlite3_bind_int64(s, 7, w->now);
  int rc = sqlite3_step(s);
  int inserted = sqlite3_changes(c->db) > 0;
  sqlite3_reset(s);
  free(input);
  if (rc != SQLITE_DONE) return unavailable(st, w, "idempotency insert", rc, c);
  if (!(s = stmt(c, Q_IDEM_GET))) return unavailable(st, w, "idempotency", SQLITE_ERROR, c);
  bind_text(s, 1, w->tenant);
  bind_text(s, 2, w->s1);
  if (sqlite3_step(s) == SQLITE_ROW) w->result = idem_object(s);
  sqlite3_reset(s);
  if (!w->result) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  soulgw_json_set(w->result, "existing", soulgw_json_new_bool(!inserted));
  return SG_ST_OK;
}

void sg_store_idem_put(sg_store *st, const char *tenant, const char *key, const char *tool_id,
                       const soulgw_json *input, int status, const char *response,
                       int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = wop_new(done, ud, op_idem_put, tenant);
  if (w) {
    w->s1 = wdup(w, key, &oom);
    w->s2 = wdup(w, tool_id, &oom);
    w->s3 = wdup(w, response, &oom);
    w->j1 = input ? jdup(input, &oom) : soulgw_json_null();
    w->n = status;
    w->now = now_ms;
  }
  submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Collaborations */

static soulgw_json *collab_read(conn *c, const char *tenant, const char *id, int *err) {
  sqlite3_stmt *s = stmt(c, Q_COLLAB_GET);
  *err = 0;
  if (!s) {
    *err = 1;
    return NULL;
  }
  bind_text(s, 1, tenant);
  bind_text(s, 2, id);
  int rc = sqlite3_step(s);
  soulgw_json *snap = rc == SQLITE_ROW ? col_json(s, 0) : NULL;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) *err = 1;
  sqlite3_reset(s);
  return snap;
}

static sg_st collab_write(sg_store *st, conn *c, wop *w, soulgw_json *snap) {
  char *text = json_text(snap);
  sqlite3_stmt *s = stmt(c, Q_COLLAB_PUT);
  if (!text || !s) {
    free(text);
    return unavailable(st, w, "collab", SQLITE_NOMEM, c);
  }
  bind_text(s, 1, w->tenant);
  bind_text(s, 2, w->s1);
  bind_text(s, 3, soulgw_json_string(soulgw_json_get(snap, "status")));
  bind_text(s, 4, text);
  sqlite3_bind_int64(s, 5, w->now);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  free(text);
  return rc == SQLITE_DONE ? SG_ST_OK : unavailable(st, w, "collab write", rc, c);
}

static soulgw_json *timeline_entry(const char *stage, const char *note, const soulgw_json *payload,
                                   int64_t now) {
  soulgw_json *e = soulgw_json_object();
  soulgw_json_set(e, "stage", soulgw_json_new_string(stage));
  soulgw_json_set(e, "note", note ? soulgw_json_new_string(note) : soulgw_json_null());
  soulgw_json_set(e, "payload", payload ? soulgw_json_dup(payload) : soulgw_json_null());
  soulgw_json_set(e, "timestamp_ms", sg_json_new_int(now));
  return e;
}

static sg_st op_collab_execute(sg_store *st, conn *c, wop *w) {
  int err;
  soulgw_json *snap = collab_read(c, w->tenant, w->s1, &err);
  if (err) return unavailable(st, w, "collab read", SQLITE_ERROR, c);
  if (!snap) {
    snap = soulgw_json_object();
    soulgw_json_set(snap, "collab_id", soulgw_json_new_string(w->s1));
    soulgw_json_set(snap, "tenant", soulgw_json_new_string(w->tenant));
    soulgw_json_set(snap, "status", soulgw_json_new_string("in_progress"));
    soulgw_json_set(snap, "participants", soulgw_json_array());
    soulgw_json_set(snap, "context", soulgw_json_object());
    soulgw_json_set(snap, "timeline", soulgw_json_array());
    soulgw_json_set(snap, "resolution", soulgw_json_null());
    soulgw_json_set(snap, "created_at", sg_json_new_int(w->now));
    soulgw_json_push(soulgw_json_get(snap, "timeline"),
                     timeline_entry("created", w->s2, w->j2, w->now));
  } else {
    const char *status = soulgw_json_string(soulgw_json_get(snap, "status"));
    if (status && strcmp(status, "resolved") == 0) {
      soulgw_json_free(snap);
      FAIL(w, SG_ST_CONFLICT, "collaboration %.100s is resolved", w->s1);
    }
    soulgw_json_push(soulgw_json_get(snap, "timeline"),
                     timeline_entry("executed", w->s2, w->j2, w->now));
  }
  soulgw_json *parts = soulgw_json_get(snap, "participants");
  for (const soulgw_json *p = soulgw_json_first(w->j1); p; p = soulgw_json_next(p)) {
    const char *name = soulgw_json_string(p);
    int seen = 0;
    for (const soulgw_json *q = soulgw_json_first(parts); q && name; q = soulgw_json_next(q))
      seen |= soulgw_json_string(q) && strcmp(soulgw_json_string(q), name) == 0;
    if (name && !seen) soulgw_json_push(parts, soulgw_json_new_string(name));
  }
  if (w->j2) {
    soulgw_json *ctx = soulgw_json_get(snap, "context");
    if (soulgw_json_typeof(ctx) == SOULGW_JSON_OBJECT &&
        soulgw_json_typeof(w->j2) == SOULGW_JSON_OBJECT)
      sg_json_merge(ctx, w->j2);
    else
      soulgw_json_set(snap, "context", soulgw_json_dup(w->j2));
  }
  soulgw_json_set(snap, "updated_at", sg_json_new_int(w->now));
  sg_st r = collab_write(st, c, w, snap);
  if (r == SG_ST_OK) w->result = snap;
  else soulgw_json_free(snap);
  return r;
}

void sg_store_collab_execute(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *participants, const soulgw_json *context,
                             const char *note, int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = wop_new(done, ud, op_collab_execute, tenant);
  if (w) {
    w->s1 = wdup(w, collab_id, &oom);
    w->s2 = wdup(w, note, &oom);
    w->j1 = jdup(participants, &oom);
    w->j2 = jdup(context, &oom);
    w->now = now_ms;
  }
  submit(st, w, oom, done, ud);
}

static sg_st op_collab_resolve(sg_store *st, conn *c, wop *w) {
  int err;
  soulgw_json *snap = collab_read(c, w->tenant, w->s1, &err);
  if (err) return unavailable(st, w, "collab read", SQLITE_ERROR, c);
  if (!snap) FAIL(w, SG_ST_NOTFOUND, "collaboration %.100s does not exist", w->s1);
  const char *status = soulgw_json_string(soulgw_json_get(snap, "status"));
  if (status && strcmp(status, "resolved") == 0) {
    soulgw_json_free(snap);
    FAIL(w, SG_ST_CONFLICT, "collaboration %.100s is already resolved", w->s1);
  }
  soulgw_json *res = soulgw_json_object();
  soulgw_json_set(res, "outcome", w->j1 ? soulgw_json_dup(w->j1) : soulgw_json_null());
  soulgw_json_set(res, "note", w->s2 ? soulgw_json_new_string(w->s2) : soulgw_json_null());
  soulgw_json_set(res, "resolved_at", sg_json_new_int(w->now));
  soulgw_json_set(snap, "status", soulgw_json_new_string("resolved"));
  soulgw_json_set(snap, "resolution", res);
  soulgw_json_push(soulgw_json_get(snap, "timeline"), timeline_entry("resolved", w->s2, w->j1, w->now));
  soulgw_json_set(snap, "updated_at", sg_json_new_int(w->now));
  sg_st r = collab_write(st, c, w, snap);
  if (r == SG_ST_OK) w->result = snap;
  else soulgw_json_free(snap);
  return r;
}

void sg_store_collab_resolve(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *outcome, const char *note, int64_t now_ms,
                             sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = wop_new(done, ud, op_collab_resolve, tenant);
  if (w) {
    w->s1 = wdup(w, collab_id, &oom);
    w->s2 = wdup(w, note, &oom);
    w->j1 = jdup(outcome, &oom);
    w->now = now_ms;
  }
  submit(st, w, oom, done, ud);
}

sg_st sg_store_collab_get(sg_store *st, const char *tenant, const char *collab_id,
                          soulgw_json **out) {
  int err;
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "collab", SQLITE_CANTOPEN, NULL);
  *out = collab_read(c, tenant, collab_id, &err);
  reader_put(st, c);
  if (err) return read_failed(st, "collab read", SQLITE_ERROR, NULL);
  return *out ? SG_ST_OK : SG_ST_NOTFOUND;
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

static sg_st op_repo_append(sg_store *st, conn *c, wop *w) {
  const char *data = w->s3; /* serialised by the caller */
  const char *record_id = w->s2;
  char genid[512];
  sqlite3_stmt *s = stmt(c, Q_REC_INSERT);
  int rc = SQLITE_ERROR;
  for (int tries = 0; s && tries < 1000; tries++) {
    if (!w->s2) {
      int64_t n = seq_next(c, w->tenant, "record");
      if (n < 0) break;
      snprintf(genid, sizeof genid, "%s::%lld", w->s1, (long long)n);
      record_id = genid;
    }
    sqlite3_reset(s);
    bind_text(s, 1, w->tenant);
    bind_text(s, 2, record_id);
    bind_text(s, 3, w->s1);
    bind_text(s, 4, data);
    sqlite3_bind_int64(s, 5, w->now);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (!(is_constraint(rc) && !w->s2)) break; /* a generated id already taken: next one */
  }
  if (is_constraint(rc)) FAIL(w, SG_ST_CONFLICT, "record_id %.100s already exists", record_id);
  if (rc != SQLITE_DONE) return unavailable(st, w, "record insert", rc, c);
  if (!(s = stmt(c, Q_EDGE_INSERT))) return unavailable(st, w, "edge", SQLITE_ERROR, c);
  for (size_t i = 0; i < w->nedges; i++) {
    const sg_edge_in *e = &w->edges[i];
    const char *props = w->props[i];
    sqlite3_reset(s);
    bind_text(s, 1, w->tenant);
    bind_text(s, 2, e->from ? e->from : record_id);
    bind_text(s, 3, e->to);
    bind_text(s, 4, e->label ? e->label : "related");
    bind_text(s, 5, props);
    sqlite3_bind_int64(s, 6, w->now);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return unavailable(st, w, "edge insert", rc, c);
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(w->tenant));
  soulgw_json_set(o, "repo", soulgw_json_new_string(w->s1));
  soulgw_json_set(o, "record_id", soulgw_json_new_string(record_id));
  soulgw_json_set(o, "stored_at", sg_json_new_int(w->now));
  /* distinct edges: counted by the caller, except that "from" defaulting to a generated id is
   * only known here, and such edges are distinct from each other by their other fields */
  soulgw_json_set(o, "edges", sg_json_new_int(w->n));
  w->result = o;
  return o ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

void sg_store_repo_append(sg_store *st, const char *tenant, const char *repo,
                          const char *record_id, const soulgw_json *data, const sg_edge_in *edges,
                          size_t nedges, int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = wop_new(done, ud, op_repo_append, tenant);
  if (w) {
    w->s1 = wdup(w, repo, &oom);
    w->s2 = wdup(w, record_id, &oom);
    w->s3 = wtext(w, data, &oom);
    w->now = now_ms;
    w->nedges = nedges;
    w->n = (int64_t)distinct_edges(edges, nedges, record_id ? record_id : "\x01generated");
    if (nedges) {
      w->edges = sg_arena_alloc(&w->arena, nedges * sizeof *w->edges);
      w->props = sg_arena_calloc(&w->arena, nedges * sizeof *w->props);
      if (!w->edges || !w->props) oom = 1;
      for (size_t i = 0; !oom && i < nedges; i++) {
        sg_edge_in *e = &w->edges[i];
        e->from = wdup(w, edges[i].from, &oom);
        e->to = wdup(w, edges[i].to, &oom);
        e->label = wdup(w, edges[i].label, &oom);
        e->props = NULL;
        if (edges[i].props && soulgw_json_typeof(edges[i].props) != SOULGW_JSON_NULL)
          w->props[i] = wtext(w, edges[i].props, &oom);
      }
    }
  }
  submit(st, w, oom, done, ud);
}

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

sg_st sg_store_repo_get(sg_store *st, const char *tenant, const char *record_id,
                        soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  sqlite3_stmt *s = c ? stmt(c, Q_REC_GET) : NULL;
  if (!s) {
    reader_put(st, c);
    return read_failed(st, "record", SQLITE_ERROR, c);
  }
  bind_text(s, 1, tenant);
  bind_text(s, 2, record_id);
  int rc = sqlite3_step(s);
  sg_st r = SG_ST_NOTFOUND;
  if (rc == SQLITE_ROW) {
    *out = record_object(tenant, col_text(s, 0), record_id, col_json(s, 1), sqlite3_column_int64(s, 2));
    r = *out ? SG_ST_OK : SG_ST_UNAVAILABLE;
  } else if (rc != SQLITE_DONE) {
    r = read_failed(st, "record", rc, c);
  }
  sqlite3_reset(s);
  reader_put(st, c);
  return r;
}

sg_st sg_store_repo_list(sg_store *st, const char *tenant, const char *repo, const char *after,
                         int limit, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "record list", SQLITE_CANTOPEN, NULL);
  sqlite3_stmt *s;
  int64_t pos = 0;
  sg_st r = SG_ST_OK;
  if (after) {
    if (!(s = stmt(c, Q_REC_POS))) goto fail;
    bind_text(s, 1, tenant);
    bind_text(s, 2, after);
    bind_text(s, 3, repo);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) pos = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) {
      reader_put(st, c);
      return SG_ST_NOTFOUND;
    }
    if (rc != SQLITE_ROW) goto fail;
  }
  if (!(s = stmt(c, after ? Q_REC_LIST : Q_REC_LIST_ALL))) goto fail;
  bind_text(s, 1, tenant);
  bind_text(s, 2, repo);
  if (after) {
    sqlite3_bind_int64(s, 3, pos);
    sqlite3_bind_int(s, 4, limit + 1);
  } else {
    sqlite3_bind_int(s, 3, limit + 1);
  }
  soulgw_json *records = soulgw_json_array();
  int n = 0, rc;
  char *last = NULL, *next = NULL;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (n++ == limit) {
      next = last;
      last = NULL;
      break;
    }
    free(last);
    last = sg_strdup(col_text(s, 0));
    soulgw_json_push(records, record_object(tenant, repo, col_text(s, 0), col_json(s, 1),
                                            sqlite3_column_int64(s, 2)));
  }
  sqlite3_reset(s);
  free(last);
  reader_put(st, c);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    free(next);
    soulgw_json_free(records);
    return read_failed(st, "record list", rc, NULL);
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "records", records);
  soulgw_json_set(o, "next", next ? soulgw_json_new_string(next) : soulgw_json_null());
  free(next);
  *out = o;
  return o ? r : SG_ST_UNAVAILABLE;
fail:
  reader_put(st, c);
  return read_failed(st, "record list", SQLITE_ERROR, NULL);
}

/* A set of strings, for the nodes a walk has reached. */
typedef struct strset {
  char **v;
  size_t cap, n;
} strset;

static int strset_add(strset *s, const char *k) { /* 1 added, 0 present, -1 oom */
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
  return 1;
}

static void strset_free(strset *s) {
  for (size_t i = 0; i < s->cap; i++) free(s->v[i]);
  free(s->v);
}

/* One edge found at some depth, before sorting. */
typedef struct hit {
  int64_t id, ts;
  soulgw_json *edge;
} hit;

static int hit_cmp(const void *a, const void *b) {
  const hit *x = a, *y = b;
  if (x->ts != y->ts) return x->ts > y->ts ? -1 : 1;
  return x->id > y->id ? -1 : x->id < y->id;
}

/* Adds the edges of one node in one direction to hits; new neighbours go to next. */
static int walk_node(conn *c, const char *tenant, const char *node, const char *label, int in,
                     int depth, int limit, strset *edge_ids, strset *seen, soulgw_json *next,
                     hit **hits, size_t *nhits, size_t *caphits) {
  int q = in ? (label ? Q_EDGES_IN_LABEL : Q_EDGES_IN) : (label ? Q_EDGES_OUT_LABEL : Q_EDGES_OUT);
  sqlite3_stmt *s = stmt(c, q);
  if (!s) return -1;
  bind_text(s, 1, tenant);
  bind_text(s, 2, node);
  if (label) bind_text(s, 3, label);
  sqlite3_bind_int(s, label ? 4 : 3, limit);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    char idkey[32];
    snprintf(idkey, sizeof idkey, "%lld", (long long)sqlite3_column_int64(s, 0));
    int added = strset_add(edge_ids, idkey);
    if (added < 0) break;
    if (!added) continue; /* reached from both ends */
    if (*nhits == *caphits) {
      size_t cap = *caphits ? *caphits * 2 : 64;
      hit *v = realloc(*hits, cap * sizeof *v);
      if (!v) break;
      *hits = v;
      *caphits = cap;
    }
    soulgw_json *e = soulgw_json_object();
    soulgw_json_set(e, "from", soulgw_json_new_string(col_text(s, 1)));
    soulgw_json_set(e, "to", soulgw_json_new_string(col_text(s, 2)));
    soulgw_json_set(e, "label", soulgw_json_new_string(col_text(s, 3)));
    soulgw_json_set(e, "props", col_json(s, 4));
    soulgw_json_set(e, "timestamp_ms", sg_json_new_int(sqlite3_column_int64(s, 5)));
    soulgw_json_set(e, "depth", sg_json_new_int(depth));
    (*hits)[(*nhits)++] = (hit){sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 5), e};
    const char *other = col_text(s, in ? 1 : 2);
    if (strset_add(seen, other) == 1) soulgw_json_push(next, soulgw_json_new_string(other));
  }
  sqlite3_reset(s);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

sg_st sg_store_graph_recall(sg_store *st, const char *tenant, const char *node_id,
                            const char *label, sg_direction dir, int depth, int limit,
                            soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "graph", SQLITE_CANTOPEN, NULL);
  strset seen = {0}, edge_ids = {0};
  soulgw_json *edges = soulgw_json_array(), *frontier = soulgw_json_array();
  hit *hits = NULL;
  size_t caphits = 0;
  int failed = strset_add(&seen, node_id) < 0;
  soulgw_json_push(frontier, soulgw_json_new_string(node_id));
  int total = 0;
  /* Read consistency across the queries of one walk. */
  int in_txn = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
  for (int d = 1; d <= depth && !failed && total < limit && soulgw_json_size(frontier); d++) {
    soulgw_json *next = soulgw_json_array();
    size_t nhits = 0;
    for (const soulgw_json *n = soulgw_json_first(frontier); n && !failed; n = soulgw_json_next(n)) {
      const char *node = soulgw_json_string(n);
      if (dir != SG_DIR_IN &&
          walk_node(c, tenant, node, label, 0, d, limit, &edge_ids, &seen, next, &hits, &nhits, &caphits))
        failed = 1;
      if (dir != SG_DIR_OUT && !failed &&
          walk_node(c, tenant, node, label, 1, d, limit, &edge_ids, &seen, next, &hits, &nhits, &caphits))
        failed = 1;
    }
    if (nhits) qsort(hits, nhits, sizeof *hits, hit_cmp);
    for (size_t i = 0; i < nhits; i++) {
      if (total < limit && !failed) {
        soulgw_json_push(edges, hits[i].edge);
        total++;
      } else {
        soulgw_json_free(hits[i].edge);
      }
    }
    soulgw_json_free(frontier);
    frontier = next;
  }
  if (in_txn) sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
  reader_put(st, c);
  free(hits);
  strset_free(&seen);
  strset_free(&edge_ids);
  soulgw_json_free(frontier);
  if (failed) {
    soulgw_json_free(edges);
    return read_failed(st, "graph recall", SQLITE_ERROR, NULL);
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant));
  soulgw_json_set(o, "node_id", soulgw_json_new_string(node_id));
  soulgw_json_set(o, "label", label ? soulgw_json_new_string(label) : soulgw_json_null());
  soulgw_json_set(o, "edges", edges);
  *out = o;
  return o ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

/* ------------------------------------------------------------------------------------------ */
/* Observe */

static sg_st op_observe_emit(sg_store *st, conn *c, wop *w) {
  int64_t n = seq_next(c, w->tenant, "observe");
  if (n < 0) return unavailable(st, w, "observe sequence", sqlite3_errcode(c->db), c);
  const char *event = w->s4;
  sqlite3_stmt *s = stmt(c, Q_OBS_INSERT);
  if (!s) return unavailable(st, w, "observe", SQLITE_ERROR, c);
  bind_text(s, 1, w->tenant);
  sqlite3_bind_int64(s, 2, n);
  bind_text(s, 3, w->s1);
  bind_text(s, 4, w->s2);
  bind_text(s, 5, event);
  bind_text(s, 6, w->s3);
  sqlite3_bind_int64(s, 7, w->now);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return unavailable(st, w, "observe insert", rc, c);
  char id[32];
  snprintf(id, sizeof id, "obs-%lld", (long long)n);
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "tenant", soulgw_json_new_string(w->tenant));
  soulgw_json_set(o, "topic", soulgw_json_new_string(w->s1));
  soulgw_json_set(o, "event_id", soulgw_json_new_string(id));
  soulgw_json_set(o, "ingested_at", sg_json_new_int(w->now));
  w->result = o;
  return o ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

void sg_store_observe_emit(sg_store *st, const char *tenant, const char *topic,
                           const char *severity, const soulgw_json *event, const char *trace_id,
                           int64_t now_ms, sg_store_done done, void *ud) {
  int oom = 0;
  wop *w = wop_new(done, ud, op_observe_emit, tenant);
  if (w) {
    w->s1 = wdup(w, topic, &oom);
    w->s2 = wdup(w, severity ? severity : "info", &oom);
    w->s3 = wdup(w, trace_id, &oom);
    w->s4 = wtext(w, event, &oom);
    w->now = now_ms;
  }
  submit(st, w, oom, done, ud);
}

sg_st sg_store_observe_query(sg_store *st, const char *tenant, const char *topic, int64_t since,
                             const char *severity, int limit, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  sqlite3_stmt *s = c ? stmt(c, Q_OBS_QUERY) : NULL;
  if (!s) {
    reader_put(st, c);
    return read_failed(st, "observe query", SQLITE_ERROR, c);
  }
  bind_text(s, 1, tenant);
  bind_text(s, 2, topic);
  sqlite3_bind_int64(s, 3, since);
  bind_text(s, 4, severity);
  sqlite3_bind_int(s, 5, limit);
  soulgw_json *events = soulgw_json_array();
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    char id[32];
    snprintf(id, sizeof id, "obs-%lld", (long long)sqlite3_column_int64(s, 0));
    soulgw_json *e = soulgw_json_object();
    soulgw_json_set(e, "event_id", soulgw_json_new_string(id));
    soulgw_json_set(e, "topic", soulgw_json_new_string(col_text(s, 1)));
    soulgw_json_set(e, "severity", soulgw_json_new_string(col_text(s, 2)));
    soulgw_json_set(e, "event", col_json(s, 3));
    soulgw_json_set(e, "trace_id", sqlite3_column_type(s, 4) == SQLITE_NULL
                                       ? soulgw_json_null()
                                       : soulgw_json_new_string(col_text(s, 4)));
    soulgw_json_set(e, "ingested_at", sg_json_new_int(sqlite3_column_int64(s, 5)));
    soulgw_json_push(events, e);
  }
  sqlite3_reset(s);
  reader_put(st, c);
  if (rc != SQLITE_DONE) {
    soulgw_json_free(events);
    return read_failed(st, "observe query", rc, NULL);
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "events", events);
  *out = o;
  return o ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

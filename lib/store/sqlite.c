/*
 * sqlite.c -- the SQLite implementation of store.h, and the only file that calls SQLite.
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
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "base/json_write.h"
#include "store/shape.h"
#include "store/store.h"

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
    /* 2: a collaboration's timeline entries become rows of their own, so that a write appends
     * one entry instead of rewriting a snapshot that grows with every call.  A snapshot that is
     * not valid JSON (none should be) is kept, as its context, under status "unreadable". */
    "CREATE TABLE collab_timeline(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL,"
    " collab_id TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL);"
    "CREATE UNIQUE INDEX collab_timeline_key ON collab_timeline(tenant, collab_id, seq);"
    "INSERT INTO collab_timeline(tenant, collab_id, seq, entry)"
    " SELECT c.tenant, c.collab_id,"
    "  row_number() OVER (PARTITION BY c.tenant, c.collab_id ORDER BY j.key) - 1, j.value"
    " FROM collabs c, json_each(CASE WHEN json_valid(c.snapshot)"
    "  AND json_type(c.snapshot, '$.timeline') = 'array'"
    "  THEN json_extract(c.snapshot, '$.timeline') ELSE '[]' END) j"
    " WHERE j.type = 'object';"
    "CREATE TABLE collabs2(tenant TEXT NOT NULL, collab_id TEXT NOT NULL, status TEXT NOT NULL,"
    " participants TEXT NOT NULL, context TEXT NOT NULL, resolution TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, entries INTEGER NOT NULL,"
    " timeline_bytes INTEGER NOT NULL, PRIMARY KEY(tenant, collab_id));"
    "INSERT INTO collabs2 SELECT c.tenant, c.collab_id,"
    " CASE WHEN json_valid(c.snapshot) THEN c.status ELSE 'unreadable' END,"
    " CASE WHEN json_valid(c.snapshot) THEN coalesce(c.snapshot -> '$.participants', '[]')"
    "  ELSE '[]' END,"
    " CASE WHEN json_valid(c.snapshot) THEN coalesce(c.snapshot -> '$.context', '{}')"
    "  ELSE c.snapshot END,"
    " CASE WHEN json_valid(c.snapshot) THEN coalesce(c.snapshot -> '$.resolution', 'null')"
    "  ELSE 'null' END,"
    " coalesce(CASE WHEN json_valid(c.snapshot) THEN c.snapshot ->> '$.created_at' END,"
    "  c.updated_at), c.updated_at,"
    " (SELECT count(*) FROM collab_timeline t WHERE t.tenant = c.tenant"
    "  AND t.collab_id = c.collab_id),"
    " (SELECT coalesce(sum(length(CAST(t.entry AS BLOB))), 0) FROM collab_timeline t"
    "  WHERE t.tenant = c.tenant AND t.collab_id = c.collab_id)"
    " FROM collabs c;"
    "DROP TABLE collabs;"
    "ALTER TABLE collabs2 RENAME TO collabs;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* Prepared statements, by id.  Each connection prepares the ones it uses on first use. */
enum {
  Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO, Q_PROBE, Q_SEQ_NEXT,
  Q_REG_INSERT, Q_REG_EXISTS, Q_REG_SET_ACTIVE, Q_REG_ACTIVE, Q_REG_GET, Q_REG_LIST,
  Q_REG_TENANTS, Q_REG_NEXT_SEQ,
  Q_IDEM_GET, Q_IDEM_INSERT,
  Q_COLLAB_GET, Q_COLLAB_PUT, Q_TL_INSERT, Q_TL_RANGE,
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
    [Q_COLLAB_GET] = "SELECT status, participants, context, resolution, created_at, updated_at,"
                     " entries, timeline_bytes FROM collabs WHERE tenant = ?1 AND collab_id = ?2",
    [Q_COLLAB_PUT] = "INSERT INTO collabs(tenant, collab_id, status, participants, context,"
                     " resolution, created_at, updated_at, entries, timeline_bytes)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                     " ON CONFLICT(tenant, collab_id) DO UPDATE SET status = excluded.status,"
                     " participants = excluded.participants, context = excluded.context,"
                     " resolution = excluded.resolution, updated_at = excluded.updated_at,"
                     " entries = excluded.entries, timeline_bytes = excluded.timeline_bytes",
    [Q_TL_INSERT] = "INSERT INTO collab_timeline(tenant, collab_id, seq, entry)"
                    " VALUES(?1, ?2, ?3, ?4)",
    [Q_TL_RANGE] = "SELECT seq, entry FROM collab_timeline"
                   " WHERE tenant = ?1 AND collab_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
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
    /* A walk's step: the newest edges touching any node of the frontier (?2, a JSON array
     * of ids), at most LIMIT of them.  The ids are chosen from an index alone (edges_in is
     * ordered by id within a node, so SQLite stops a node's scan once it cannot beat the
     * LIMIT ids it holds; edges_out is scanned over the frontier's nodes), and only the rows
     * chosen are read from the table. */
    [Q_EDGES_OUT] = "SELECT id, src, dst, label, props, ts FROM edges WHERE id IN"
                    " (SELECT id FROM edges INDEXED BY edges_out WHERE tenant = ?1"
                    " AND src IN (SELECT value FROM json_each(?2)) ORDER BY id DESC LIMIT ?3)"
                    " ORDER BY id DESC",
    [Q_EDGES_OUT_LABEL] = "SELECT id, src, dst, label, props, ts FROM edges WHERE id IN"
                          " (SELECT id FROM edges INDEXED BY edges_out WHERE tenant = ?1"
                          " AND src IN (SELECT value FROM json_each(?2)) AND label = ?3"
                          " ORDER BY id DESC LIMIT ?4) ORDER BY id DESC",
    [Q_EDGES_IN] = "SELECT id, src, dst, label, props, ts FROM edges WHERE id IN"
                   " (SELECT id FROM edges INDEXED BY edges_in WHERE tenant = ?1"
                   " AND dst IN (SELECT value FROM json_each(?2)) ORDER BY id DESC LIMIT ?3)"
                   " ORDER BY id DESC",
    [Q_EDGES_IN_LABEL] = "SELECT id, src, dst, label, props, ts FROM edges WHERE id IN"
                         " (SELECT id FROM edges INDEXED BY edges_in WHERE tenant = ?1"
                         " AND dst IN (SELECT value FROM json_each(?2)) AND label = ?3"
                         " ORDER BY id DESC LIMIT ?4) ORDER BY id DESC",
    [Q_OBS_INSERT] = "INSERT INTO observe(tenant, seq, topic, severity, event, trace_id, ingested_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_OBS_QUERY] = "SELECT seq, topic, severity, event, trace_id, ingested_at FROM observe"
                    " WHERE tenant = ?1 AND (?2 IS NULL OR topic = ?2)"
                    " AND (?3 < 0 OR ingested_at >= ?3) AND (?4 IS NULL OR severity = ?4)"
                    " ORDER BY id LIMIT ?5",
};

/* The columns of each query's rows, in order: 't' text, 'i' integer. */
static const char *const cols[Q_COUNT] = {
    [Q_SEQ_NEXT] = "i",        [Q_REG_EXISTS] = "i",     [Q_REG_ACTIVE] = "tti",
    [Q_REG_GET] = "tti",       [Q_REG_LIST] = "ttii",    [Q_REG_TENANTS] = "t",
    [Q_REG_NEXT_SEQ] = "i",    [Q_IDEM_GET] = "ttit",    [Q_COLLAB_GET] = "ttttiiii",
    [Q_TL_RANGE] = "it",       [Q_REC_GET] = "tti",      [Q_REC_POS] = "i",
    [Q_REC_LIST] = "tti",      [Q_REC_LIST_ALL] = "tti", [Q_EDGES_OUT] = "itttti",
    [Q_EDGES_OUT_LABEL] = "itttti", [Q_EDGES_IN] = "itttti", [Q_EDGES_IN_LABEL] = "itttti",
    [Q_OBS_QUERY] = "itttti",
};
#define MAX_COLS 8

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
  sg_store_check check; /* registry publish and activate: the caller's last word (or NULL) */
  sg_arena arena; /* the copied arguments */
  const char *tenant, *s1, *s2, *s3, *s4;
  soulgw_json *j1, *j2;
  int64_t now, n;
  sg_edge_in *edges;
  const char **props; /* edges' props as JSON text, NULL for none */
  size_t nedges;
  sg_collab_limits lim;
  sg_st st;
  int rc; /* the SQLite error of a failed write, 0 for none */
  soulgw_json *result;
  char msg[256];
  wop *next;
};

struct sg_store {
  char *path;
  int sync_full, memory;
  sg_family *errors;
  sg_family *rows_read; /* {op} */
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

/* A value to bind: text (s NULL binds SQL NULL; len < 0: up to its NUL) or an integer. */
typedef struct arg {
  char type; /* 't' or 'i' */
  const char *s;
  int len;
  int64_t i;
} arg;
#define A_TXT(v) ((arg){'t', (v), -1, 0})
#define A_TXTN(v, n) ((arg){'t', (v), (int)(n), 0})
#define A_INT(v) ((arg){'i', NULL, 0, (int64_t)(v)})
/* The arguments of a statement, as an array and its length. */
#define ARGS(...) (const arg[]){__VA_ARGS__}, (int)(sizeof (const arg[]){__VA_ARGS__} / sizeof(arg))

/* One column of a row, valid until the row function returns: text (s NULL for SQL NULL) or an
 * integer, as cols[] says. */
typedef struct sg_col {
  const char *s;
  size_t len;
  int64_t i;
} sg_col;

/* Receives one row; returns 0 to go on, ROW_STOP to stop reading (not an error), or an error
 * code that ends the read and is returned by it. */
typedef int (*row_fn)(void *ud, const sg_col *row);
#define ROW_STOP (-1)

/* The error of a statement that could not be prepared. */
static int prepare_error(conn *c) {
  int rc = sqlite3_errcode(c->db);
  return rc != SQLITE_OK ? rc : SQLITE_ERROR;
}

/* Statement q of c, reset and bound to a (n values, ?1 to ?n); NULL when it cannot be
 * prepared. */
static sqlite3_stmt *bound(conn *c, int q, const arg *a, int n) {
  sqlite3_stmt *s = stmt(c, q);
  for (int k = 0; s && k < n; k++) {
    if (a[k].type == 'i') sqlite3_bind_int64(s, k + 1, a[k].i);
    else if (a[k].s) sqlite3_bind_text(s, k + 1, a[k].s, a[k].len, SQLITE_STATIC);
    else sqlite3_bind_null(s, k + 1);
  }
  return s;
}

/* Runs statement q bound to a, which returns no rows: 0, or the error. */
static int exec_q(conn *c, int q, const arg *a, int n) {
  sqlite3_stmt *s = bound(c, q, a, n);
  if (!s) return prepare_error(c);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? 0 : rc;
}

/* The read skeleton, once for every query: runs q bound to a and hands each row to fn, its
 * columns typed by cols[q].  Returns 0 when the rows ran out or fn stopped, else the error
 * (SQLite's, or the one fn returned). */
static int read_rows(conn *c, int q, const arg *a, int n, row_fn fn, void *ud) {
  sqlite3_stmt *s = bound(c, q, a, n);
  if (!s) return prepare_error(c);
  const char *spec = cols[q];
  sg_col row[MAX_COLS];
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    for (int k = 0; spec[k]; k++) {
      if (spec[k] == 'i') {
        row[k] = (sg_col){NULL, 0, sqlite3_column_int64(s, k)};
      } else {
        row[k].s = (const char *)sqlite3_column_text(s, k);
        row[k].len = (size_t)sqlite3_column_bytes(s, k);
        row[k].i = 0;
      }
    }
    if ((rc = fn(ud, row)) != 0) break;
  }
  sqlite3_reset(s);
  return rc == SQLITE_DONE || rc == ROW_STOP ? 0 : rc;
}

/* Row functions shared by several reads. */

/* The first column of the first row, as an integer, into *(int64_t *)ud. */
static int row_int(void *ud, const sg_col *row) {
  *(int64_t *)ud = row[0].i;
  return ROW_STOP;
}

/* A text column, "" for SQL NULL. */
static const char *col_text(const sg_col *c) { return c->s ? c->s : ""; }

/* A JSON column (written by this file, so valid); SQL NULL or unparseable -> JSON null. */
static soulgw_json *col_json(const sg_col *c) {
  soulgw_json *v = NULL;
  if (!c->s || soulgw_json_parse(c->s, c->len, &v, NULL, 0) != 0) return soulgw_json_null();
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
    ok = exec_q(c, Q_PROBE, ARGS(A_INT(time(NULL)))) == 0;
    ok = ok && run0(c, Q_COMMIT) == SQLITE_DONE;
    if (!ok) run0(c, Q_ROLLBACK);
  }
  if (!ok && atomic_load(&st->writable)) count_error(st, "probe", SQLITE_IOERR, c->db);
  atomic_store(&st->writable, ok);
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

/* Creates the directories above path that do not exist, private to the owner (0700). */
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
      mkdir(dir, 0700);
      *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
      rc = -1;
    }
  }
  free(dir);
  return rc;
}

/* Creates the database file, empty and private to the owner (0600), when it does not exist:
 * SQLite gives the -wal and -shm files the database's mode, so they are private too, whatever
 * the umask.  An existing file keeps its mode, with a warning when others may read it. */
static int create_private(sg_store *st, char *err, size_t errlen) {
  if (strncmp(st->path, "file:", 5) == 0) return 0; /* a URI: SQLite opens it as it says */
  int fd = open(st->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) return close(fd);
  struct stat sb;
  if (errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s: %s", st->path, strerror(errno));
    return -1;
  }
  if (st->log && stat(st->path, &sb) == 0 && (sb.st_mode & 077)) {
    char mode[8];
    snprintf(mode, sizeof mode, "%03o", (unsigned)(sb.st_mode & 0777));
    sg_log(st->log, SOULGW_LOG_WARN, "the database file is open to group or others",
           SG_S("path", st->path), SG_S("mode", mode));
  }
  return 0;
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
  st->rows_read = o->rows_read;
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
    if (st->path && (make_parent_dir(st->path, err, errlen) != 0 ||
                     create_private(st, err, errlen) != 0))
      goto fail;
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
  int64_t v = -1;
  read_rows(c, Q_SEQ_NEXT, ARGS(A_TXT(tenant), A_TXT(name)), row_int, &v);
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
static soulgw_json *version_object(const sg_col *row, int active) {
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "version", soulgw_json_new_string(col_text(&row[0])));
  soulgw_json_set(o, "manifests", col_json(&row[1]));
  soulgw_json_set(o, "created_at_ms", sg_json_new_int(row[2].i));
  soulgw_json_set(o, "active", soulgw_json_new_bool(active));
  return o;
}

/* One row read into a JSON value: built by the row function, and found 1 once a row came. */
typedef struct one {
  soulgw_json *v;
  int found;
} one;

/* The active version, or the one asked for, as a version object (active true). */
static int row_version(void *ud, const sg_col *row) {
  one *o = ud;
  o->found = 1;
  o->v = version_object(row, 1);
  return ROW_STOP;
}

/* 1 when the query gave a row. */
static int row_found(void *ud, const sg_col *row) {
  (void)row;
  *(int *)ud = 1;
  return ROW_STOP;
}

/* The manifests of the active version, parsed. */
static int row_manifests(void *ud, const sg_col *row) {
  *(soulgw_json **)ud = col_json(&row[1]);
  return ROW_STOP;
}

/* ------------------------------------------------------------------------------------------ */
/* Registry */

static sg_st reg_insert(sg_store *st, conn *c, wop *w, const char *version, const char *text,
                        int64_t now) {
  int64_t seq = 1;
  int rc = read_rows(c, Q_REG_NEXT_SEQ, ARGS(A_TXT(w->tenant)), row_int, &seq);
  if (rc) return unavailable(st, w, "registry", rc, c);
  rc = exec_q(c, Q_REG_INSERT,
                  ARGS(A_TXT(w->tenant), A_TXT(version), A_INT(seq), A_TXT(text), A_INT(now)));
  if (is_constraint(rc)) FAIL(w, SG_ST_CONFLICT, "tool registry version already exists");
  if (rc) return unavailable(st, w, "registry insert", rc, c);
  return SG_ST_OK;
}

static sg_st reg_set_active(sg_store *st, conn *c, wop *w, const char *version) {
  int rc = exec_q(c, Q_REG_SET_ACTIVE, ARGS(A_TXT(w->tenant), A_TXT(version)));
  return rc == 0 ? SG_ST_OK : unavailable(st, w, "registry activate", rc, c);
}

static sg_st op_bootstrap(sg_store *st, conn *c, wop *w) {
  int exists = 0;
  int rc = read_rows(c, Q_REG_EXISTS, ARGS(A_TXT(w->tenant), A_TXT("bootstrap")), row_found,
                     &exists);
  if (rc) return unavailable(st, w, "registry", rc, c);
  if (exists) return SG_ST_OK;
  char *text = json_text(w->j1);
  if (!text) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
  sg_st r = reg_insert(st, c, w, "bootstrap", text, w->now);
  free(text);
  if (r != SG_ST_OK) return r;
  /* the first registry of a tenant becomes active; a later bootstrap never displaces one */
  int has_active = 0;
  if ((rc = read_rows(c, Q_REG_ACTIVE, ARGS(A_TXT(w->tenant)), row_found, &has_active)))
    return unavailable(st, w, "registry", rc, c);
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

/* Appends each row's first column, a string, to the array ud. */
static int row_push_string(void *ud, const sg_col *row) {
  soulgw_json_push(ud, soulgw_json_new_string(col_text(&row[0])));
  return 0;
}

sg_st sg_store_registry_tenants(sg_store *st, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "registry tenants", SQLITE_CANTOPEN, NULL);
  soulgw_json *arr = soulgw_json_array();
  int rc = read_rows(c, Q_REG_TENANTS, NULL, 0, row_push_string, arr);
  if (rc) {
    soulgw_json_free(arr);
    read_failed(st, "registry tenants", rc, c);
  }
  reader_put(st, c);
  if (rc) return SG_ST_UNAVAILABLE;
  *out = arr;
  return arr ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

/* Appends each row (version, manifests, created_at_ms, active) to the array ud. */
static int row_push_version(void *ud, const sg_col *row) {
  soulgw_json_push(ud, version_object(row, (int)row[3].i));
  return 0;
}

sg_st sg_store_registry_versions(sg_store *st, const char *tenant, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "registry versions", SQLITE_CANTOPEN, NULL);
  soulgw_json *list = soulgw_json_array();
  int rc = read_rows(c, Q_REG_LIST, ARGS(A_TXT(tenant)), row_push_version, list);
  if (rc) {
    soulgw_json_free(list);
    read_failed(st, "registry versions", rc, c);
  }
  reader_put(st, c);
  if (rc) return SG_ST_UNAVAILABLE;
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "versions", list);
  *out = o;
  return o ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

sg_st sg_store_registry_active(sg_store *st, const char *tenant, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "registry active", SQLITE_CANTOPEN, NULL);
  one o = {NULL, 0};
  int rc = read_rows(c, Q_REG_ACTIVE, ARGS(A_TXT(tenant)), row_version, &o);
  sg_st r = SG_ST_NOTFOUND;
  if (rc) r = read_failed(st, "registry active", rc, c);
  else if (o.found) r = (*out = o.v) ? SG_ST_OK : SG_ST_UNAVAILABLE;
  reader_put(st, c);
  return r;
}

/* A version object {"version","manifests","created_at_ms","active":true}, taking manifests. */
static soulgw_json *version_new(const char *version, soulgw_json *manifests, int64_t now) {
  soulgw_json *o = soulgw_json_object();
  int failed = 0; /* every set takes its value, even after a failure */
  failed |= soulgw_json_set(o, "version", soulgw_json_new_string(version));
  failed |= soulgw_json_set(o, "manifests", manifests);
  failed |= soulgw_json_set(o, "created_at_ms", sg_json_new_int(now));
  failed |= soulgw_json_set(o, "active", soulgw_json_new_bool(1));
  if (failed) soulgw_json_free(o);
  return failed ? NULL : o;
}

/* Runs w's check on version: 1 when it refused (w->msg says why). */
static int refused(wop *w, const soulgw_json *version) {
  if (!w->check || w->check(w->ud, version, w->msg, sizeof w->msg) == 0) return 0;
  if (!w->msg[0]) snprintf(w->msg, sizeof w->msg, "the tool registry version is invalid");
  return 1;
}

static sg_st op_publish(sg_store *st, conn *c, wop *w) {
  int exists = 0;
  int rc = read_rows(c, Q_REG_EXISTS, ARGS(A_TXT(w->tenant), A_TXT(w->s1)), row_found, &exists);
  if (rc) return unavailable(st, w, "registry", rc, c);
  if (exists) FAIL(w, SG_ST_CONFLICT, "tool registry version already exists");
  soulgw_json *base = NULL;
  if ((rc = read_rows(c, Q_REG_ACTIVE, ARGS(A_TXT(w->tenant)), row_manifests, &base))) {
    soulgw_json_free(base);
    return unavailable(st, w, "registry", rc, c);
  }
  soulgw_json *merged = sg_manifests_merge(base, w->j1);
  soulgw_json_free(base);
  /* checked (and built by the caller) before anything is written: a merge the gateway could
   * not load never becomes active */
  soulgw_json *o = version_new(w->s1, merged, w->now);
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
  wop *w = wop_new(done, ud, op_publish, tenant);
  if (w) {
    w->s1 = wdup(w, version, &oom);
    w->j1 = jdup(manifests, &oom);
    w->now = now_ms;
    w->check = check;
  }
  submit(st, w, oom, done, ud);
}

static sg_st op_activate(sg_store *st, conn *c, wop *w) {
  one row = {NULL, 0};
  int rc = read_rows(c, Q_REG_GET, ARGS(A_TXT(w->tenant), A_TXT(w->s1)), row_version, &row);
  if (rc) {
    soulgw_json_free(row.v);
    return unavailable(st, w, "registry", rc, c);
  }
  if (!row.found)
    FAIL(w, SG_ST_NOTFOUND, "tool registry version %.100s does not exist", w->s1);
  soulgw_json *o = row.v;
  if (!o) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
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
  wop *w = wop_new(done, ud, op_activate, tenant);
  if (w) {
    w->s1 = wdup(w, version, &oom);
    w->check = check;
  }
  submit(st, w, oom, done, ud);
}

/* ------------------------------------------------------------------------------------------ */
/* Idempotency */

/* An idempotency record from a row (tool_id, input, status, response). */
static int row_idem(void *ud, const sg_col *row) {
  one *o = ud;
  o->found = 1;
  o->v = soulgw_json_object();
  soulgw_json_set(o->v, "tool_id", soulgw_json_new_string(col_text(&row[0])));
  soulgw_json_set(o->v, "input", col_json(&row[1]));
  soulgw_json_set(o->v, "status", sg_json_new_int(row[2].i));
  soulgw_json_set(o->v, "response", soulgw_json_new_string(col_text(&row[3])));
  return ROW_STOP;
}

sg_st sg_store_idem_get(sg_store *st, const char *tenant, const char *key, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "idempotency", SQLITE_CANTOPEN, NULL);
  one o = {NULL, 0};
  int rc = read_rows(c, Q_IDEM_GET, ARGS(A_TXT(tenant), A_TXT(key)), row_idem, &o);
  sg_st r = SG_ST_NOTFOUND;
  if (rc) {
    soulgw_json_free(o.v);
    r = read_failed(st, "idempotency", rc, c);
  } else if (o.found) {
    r = (*out = o.v) ? SG_ST_OK : SG_ST_UNAVAILABLE;
  }
  reader_put(st, c);
  return r;
}

static sg_st op_idem_put(sg_store *st, conn *c, wop *w) {
  char *input = json_text(w->j1);
  if (!input) return unavailable(st, w, "idempotency", SQLITE_NOMEM, c);
  int rc = exec_q(c, Q_IDEM_INSERT,
                  ARGS(A_TXT(w->tenant), A_TXT(w->s1), A_TXT(w->s2), A_TXT(input), A_INT(w->n),
                       A_TXT(w->s3), A_INT(w->now)));
  int inserted = sqlite3_changes(c->db) > 0;
  free(input);
  if (rc) return unavailable(st, w, "idempotency insert", rc, c);
  one o = {NULL, 0};
  rc = read_rows(c, Q_IDEM_GET, ARGS(A_TXT(w->tenant), A_TXT(w->s1)), row_idem, &o);
  if (rc) {
    soulgw_json_free(o.v);
    return unavailable(st, w, "idempotency", rc, c);
  }
  if (!(w->result = o.v)) FAIL(w, SG_ST_UNAVAILABLE, "out of memory");
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
/* Collaborations
 *
 * A collaboration is a head row in collabs (status; participants, context and resolution as
 * JSON text; its count of timeline entries and their bytes) and one row per timeline entry in
 * collab_timeline, numbered by seq from 0.  A write reads and rewrites the head and appends one
 * entry: it never reads or rewrites the timeline, and its answer carries the most recent
 * entries only.  Stored texts go into answers as they are (sg_json_new_raw), so an answer costs
 * the writer a copy, not a parse.  What a write must merge (participants, an object context)
 * is parsed, and a stored text that does not parse is an error for that write
 * (SG_ST_UNREADABLE), counted and logged, never a null. */

/* A collaboration's head row, its texts copied. */
typedef struct collab_head {
  int found;
  char *status, *participants, *context, *resolution;
  int64_t created_at, updated_at, entries, tl_bytes;
} collab_head;

static void head_clear(collab_head *h) {
  free(h->status);
  free(h->participants);
  free(h->context);
  free(h->resolution);
  memset(h, 0, sizeof *h);
}

/* Copies a head row (status, participants, context, resolution, created_at, updated_at,
 * entries, timeline_bytes) into the collab_head ud. */
static int row_head(void *ud, const sg_col *row) {
  collab_head *h = ud;
  h->found = 1;
  h->status = sg_strdup(col_text(&row[0]));
  h->participants = sg_strdup(col_text(&row[1]));
  h->context = sg_strdup(col_text(&row[2]));
  h->resolution = sg_strdup(col_text(&row[3]));
  h->created_at = row[4].i;
  h->updated_at = row[5].i;
  h->entries = row[6].i;
  h->tl_bytes = row[7].i;
  return h->status && h->participants && h->context && h->resolution ? ROW_STOP : SQLITE_NOMEM;
}

/* Reads the head of (tenant, id) into h (h->found 0 when there is none).  0 or the error. */
static int head_read(conn *c, const char *tenant, const char *id, collab_head *h) {
  memset(h, 0, sizeof *h);
  int rc = read_rows(c, Q_COLLAB_GET, ARGS(A_TXT(tenant), A_TXT(id)), row_head, h);
  if (rc) head_clear(h);
  return rc;
}

/* A stored text that cannot be read: counted and logged (never the data); *msg says so. */
static sg_st unreadable(sg_store *st, const char *tenant, const char *id, char *msg, size_t len) {
  sg_family_add(st->errors, NULL, 1);
  if (st->log)
    sg_log(st->log, SOULGW_LOG_ERROR, "storage error: a collaboration cannot be read",
           SG_S("tenant", tenant), SG_S("collab_id", id));
  snprintf(msg, len, "collaboration %.100s is stored in a form that cannot be read", id);
  return SG_ST_UNREADABLE;
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
static int row_entry(void *ud, const sg_col *row) {
  tl_page *p = ud;
  if (p->n++ == p->limit) { /* the one row more than asked */
    *p->more = 1;
    return ROW_STOP;
  }
  int64_t seq = row[0].i;
  const char *e = col_text(&row[1]);
  if (e[0] != '{') return SQLITE_MISMATCH;
  sg_buf_reset(&p->b);
  sg_buf_printf(&p->b, "{\"seq\":%lld%s%s", (long long)seq, e[1] == '}' ? "" : ",", e + 1);
  if (sg_buf_failed(&p->b) || soulgw_json_push(p->arr, sg_json_new_raw(p->b.ptr)))
    return SQLITE_NOMEM;
  *p->last = seq;
  return 0;
}

/* Appends to arr the timeline entries of (tenant, id) with seq > after, at most limit, each
 * with its "seq" first; *last gets the seq of the last one, and *more (when not NULL) 1 when
 * more entries follow.  0, the error, or SQLITE_MISMATCH for an entry that is not an object. */
static int timeline_rows(conn *c, const char *tenant, const char *id, int64_t after, int limit,
                         soulgw_json *arr, int64_t *last, int *more) {
  tl_page p = {arr, last, more, limit, 0, {0}};
  sg_buf_init(&p.b, 0);
  int rc = read_rows(c, Q_TL_RANGE,
                     ARGS(A_TXT(tenant), A_TXT(id), A_INT(after), A_INT(more ? limit + 1 : limit)),
                     row_entry, &p);
  sg_buf_free(&p.b);
  return rc;
}

/* The snapshot of a head: the window most recent entries.  NULL with *rc set on failure. */
static soulgw_json *snapshot(conn *c, const char *tenant, const char *id, const collab_head *h,
                             int window, int *rc) {
  soulgw_json *o = soulgw_json_object(), *tl = soulgw_json_array();
  int64_t last = -1;
  *rc = window > 0
            ? timeline_rows(c, tenant, id, h->entries - window - 1, window, tl, &last, NULL)
            : 0;
  int bad = !o || !tl || *rc;
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
  if (!*rc) *rc = SQLITE_NOMEM;
  soulgw_json_free(o);
  soulgw_json_free(tl);
  return NULL;
}

/* Writes the head h of (w->tenant, w->s1) and, when entry is not NULL, appends it as entry
 * number h->entries - 1 (h already counts it). */
static sg_st head_write(sg_store *st, conn *c, wop *w, const collab_head *h, const char *entry) {
  int rc;
  if (entry &&
      (rc = exec_q(c, Q_TL_INSERT,
                   ARGS(A_TXT(w->tenant), A_TXT(w->s1), A_INT(h->entries - 1), A_TXT(entry)))))
    return unavailable(st, w, "collab timeline insert", rc, c);
  rc = exec_q(c, Q_COLLAB_PUT,
              ARGS(A_TXT(w->tenant), A_TXT(w->s1), A_TXT(h->status), A_TXT(h->participants),
                   A_TXT(h->context), A_TXT(h->resolution), A_INT(h->created_at),
                   A_INT(h->updated_at), A_INT(h->entries), A_INT(h->tl_bytes)));
  return rc == 0 ? SG_ST_OK : unavailable(st, w, "collab write", rc, c);
}

/* Writes h (and entry) and answers with its snapshot. */
static sg_st head_commit(sg_store *st, conn *c, wop *w, const collab_head *h, const char *entry) {
  sg_st r = head_write(st, c, w, h, entry);
  if (r != SG_ST_OK) return r;
  int rc;
  w->result = snapshot(c, w->tenant, w->s1, h, w->lim.window, &rc);
  if (w->result) return SG_ST_OK;
  if (rc == SQLITE_MISMATCH) return unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  return unavailable(st, w, "collab timeline read", rc, c);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The participants text of stored with the new names of add appended, in order and each once;
 * NULL when stored cannot be read (*oom 0) or out of memory (*oom 1). */
static char *merge_participants(const char *stored, const soulgw_json *add, int *oom) {
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

/* The context text of stored after add (an object, ctx_text its text) deep-merges into it, or
 * replaces it when either is not an object; NULL as for merge_participants(). */
static char *merge_context(const char *stored, const soulgw_json *add, const char *add_text,
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

/* A timeline entry: {"stage":"<stage>", then the tail the caller built. */
static char *entry_text(const char *stage, const char *tail) {
  sg_buf b;
  sg_buf_init(&b, 0);
  sg_buf_printf(&b, "{\"stage\":\"%s\",%s", stage, tail);
  return sg_buf_detach(&b, NULL);
}

/* Replaces *field by v (taken); 0, or -1 when v is NULL. */
static int take(char **field, char *v) {
  if (!v) return -1;
  free(*field);
  *field = v;
  return 0;
}

/* The refusals of an execute that come before anything is computed. */
static sg_st execute_refused(sg_store *st, wop *w, const collab_head *h) {
  if (!h->found) return SG_ST_OK;
  if (strcmp(h->status, "unreadable") == 0)
    return unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
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
static sg_st op_collab_execute(sg_store *st, conn *c, wop *w) {
  collab_head h;
  int rc = head_read(c, w->tenant, w->s1, &h), oom = 0;
  if (rc) return unavailable(st, w, "collab read", rc, c);
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
      take(&h.participants, merge_participants(h.participants, w->j1, &oom)) && !oom)
    r = unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  if (r == SG_ST_OK && !oom && w->j2 &&
      take(&h.context, merge_context(h.context, w->j2, w->s3, &oom)) && !oom)
    r = unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  if (r == SG_ST_OK && !oom && !(entry = entry_text(h.found ? "executed" : "created", w->s2)))
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
  head_clear(&h);
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
  wop *w = wop_new(done, ud, op_collab_execute, tenant);
  if (w) {
    collab_limits(w, lim);
    w->now = now_ms;
    w->s1 = wdup(w, collab_id, &oom);
    w->s3 = wtext(w, context, &oom);
    w->s2 = entry_tail(w, note, w->s3, &oom);
    w->j1 = jdup(participants, &oom);
    w->j2 = jdup(context, &oom);
  }
  submit(st, w, oom, done, ud);
}

/* w: s1 collab_id, s2 the entry's tail, s3 the resolution's text. */
static sg_st op_collab_resolve(sg_store *st, conn *c, wop *w) {
  collab_head h;
  int rc = head_read(c, w->tenant, w->s1, &h);
  if (rc) return unavailable(st, w, "collab read", rc, c);
  sg_st r = SG_ST_OK;
  char *entry = NULL;
  if (!h.found) {
    snprintf(w->msg, sizeof w->msg, "collaboration %.100s does not exist", w->s1);
    r = SG_ST_NOTFOUND;
  } else if (strcmp(h.status, "unreadable") == 0) {
    r = unreadable(st, w->tenant, w->s1, w->msg, sizeof w->msg);
  } else if (strcmp(h.status, "resolved") == 0) {
    snprintf(w->msg, sizeof w->msg, "collaboration %.100s is already resolved", w->s1);
    r = SG_ST_CONFLICT;
  } else if (!(entry = entry_text("resolved", w->s2)) || take(&h.status, sg_strdup("resolved")) ||
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
  head_clear(&h);
  return r;
}

void sg_store_collab_resolve(sg_store *st, const char *tenant, const char *collab_id,
                             const soulgw_json *outcome, const char *note,
                             const sg_collab_limits *lim, int64_t now_ms, sg_store_done done,
                             void *ud) {
  if (too_deep(outcome, "outcome", done, ud)) return;
  int oom = 0;
  wop *w = wop_new(done, ud, op_collab_resolve, tenant);
  if (w) {
    collab_limits(w, lim);
    w->now = now_ms;
    w->s1 = wdup(w, collab_id, &oom);
    const char *out = wtext(w, outcome, &oom);
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
  submit(st, w, oom, done, ud);
}

/* A read of one collaboration on a reader connection: its head, or an outcome. */
static sg_st read_head(sg_store *st, conn *c, const char *tenant, const char *id,
                       collab_head *h) {
  int rc = head_read(c, tenant, id, h);
  if (rc) return read_failed(st, "collab read", rc, c);
  if (!h->found) return SG_ST_NOTFOUND;
  if (strcmp(h->status, "unreadable") == 0) {
    char msg[160];
    head_clear(h);
    return unreadable(st, tenant, id, msg, sizeof msg);
  }
  return SG_ST_OK;
}

sg_st sg_store_collab_get(sg_store *st, const char *tenant, const char *collab_id,
                          soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "collab", SQLITE_CANTOPEN, NULL);
  collab_head h;
  sg_st r = read_head(st, c, tenant, collab_id, &h);
  int rc = 0;
  char msg[160];
  if (r == SG_ST_OK && !(*out = snapshot(c, tenant, collab_id, &h, SG_COLLAB_WINDOW, &rc)))
    r = rc == SQLITE_MISMATCH ? unreadable(st, tenant, collab_id, msg, sizeof msg)
                              : read_failed(st, "collab timeline read", rc, c);
  head_clear(&h);
  reader_put(st, c);
  return r;
}

sg_st sg_store_collab_timeline(sg_store *st, const char *tenant, const char *collab_id,
                               int64_t after, int limit, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "collab", SQLITE_CANTOPEN, NULL);
  collab_head h;
  sg_st r = read_head(st, c, tenant, collab_id, &h);
  soulgw_json *tl = soulgw_json_array(), *o = NULL;
  int64_t last = -1;
  int more = 0, rc = 0;
  char msg[160];
  if (r == SG_ST_OK)
    rc = timeline_rows(c, tenant, collab_id, after < 0 ? -1 : after, limit, tl, &last, &more);
  if (r == SG_ST_OK && rc == SQLITE_MISMATCH) {
    r = unreadable(st, tenant, collab_id, msg, sizeof msg);
  } else if (r == SG_ST_OK && rc) {
    r = read_failed(st, "collab timeline read", rc, c);
  } else if (r == SG_ST_OK) {
    o = soulgw_json_object();
    int bad = !o || !tl;
    bad |= soulgw_json_set(o, "collab_id", soulgw_json_new_string(collab_id)) != 0;
    bad |= soulgw_json_set(o, "tenant", soulgw_json_new_string(tenant)) != 0;
    bad |= soulgw_json_set(o, "timeline", tl) != 0;
    tl = NULL; /* taken */
    bad |= soulgw_json_set(o, "timeline_total", sg_json_new_int(h.entries)) != 0;
    bad |= soulgw_json_set(o, "next", more ? sg_json_new_int(last) : soulgw_json_null()) != 0;
    if (bad) {
      soulgw_json_free(o);
      o = NULL;
      r = SG_ST_UNAVAILABLE;
    }
  }
  soulgw_json_free(tl);
  head_clear(&h);
  reader_put(st, c);
  *out = o;
  return r;
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
  int rc = SQLITE_ERROR;
  for (int tries = 0; tries < 1000; tries++) {
    if (!w->s2) {
      int64_t n = seq_next(c, w->tenant, "record");
      if (n < 0) break;
      snprintf(genid, sizeof genid, "%s::%lld", w->s1, (long long)n);
      record_id = genid;
    }
    rc = exec_q(c, Q_REC_INSERT,
                ARGS(A_TXT(w->tenant), A_TXT(record_id), A_TXT(w->s1), A_TXT(data), A_INT(w->now)));
    if (!(is_constraint(rc) && !w->s2)) break; /* a generated id already taken: next one */
  }
  if (is_constraint(rc)) FAIL(w, SG_ST_CONFLICT, "record_id %.100s already exists", record_id);
  if (rc) return unavailable(st, w, "record insert", rc, c);
  for (size_t i = 0; i < w->nedges; i++) {
    const sg_edge_in *e = &w->edges[i];
    rc = exec_q(c, Q_EDGE_INSERT,
                ARGS(A_TXT(w->tenant), A_TXT(e->from ? e->from : record_id), A_TXT(e->to),
                     A_TXT(e->label ? e->label : "related"), A_TXT(w->props[i]), A_INT(w->now)));
    if (rc) return unavailable(st, w, "edge insert", rc, c);
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

/* A record being read: its tenant and id, and the answer. */
typedef struct rec_read {
  const char *tenant, *record_id;
  soulgw_json *v;
  int found;
} rec_read;

/* A record from a row (repo, data, stored_at). */
static int row_record(void *ud, const sg_col *row) {
  rec_read *r = ud;
  r->found = 1;
  r->v = record_object(r->tenant, col_text(&row[0]), r->record_id, col_json(&row[1]), row[2].i);
  return ROW_STOP;
}

sg_st sg_store_repo_get(sg_store *st, const char *tenant, const char *record_id,
                        soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "record", SQLITE_CANTOPEN, NULL);
  rec_read rr = {tenant, record_id, NULL, 0};
  int rc = read_rows(c, Q_REC_GET, ARGS(A_TXT(tenant), A_TXT(record_id)), row_record, &rr);
  sg_st r = SG_ST_NOTFOUND;
  if (rc) {
    soulgw_json_free(rr.v);
    r = read_failed(st, "record", rc, c);
  } else if (rr.found) {
    r = (*out = rr.v) ? SG_ST_OK : SG_ST_UNAVAILABLE;
  }
  reader_put(st, c);
  return r;
}

/* A page of records being read. */
typedef struct rec_page {
  const char *tenant, *repo;
  soulgw_json *records;
  char *last, *next; /* the id of the last record answered; of the last of a full page */
  int limit, n;
} rec_page;

/* Appends a row (record_id, data, stored_at) to the page, or notes that more follow. */
static int row_page(void *ud, const sg_col *row) {
  rec_page *p = ud;
  if (p->n++ == p->limit) {
    p->next = p->last;
    p->last = NULL;
    return ROW_STOP;
  }
  free(p->last);
  p->last = sg_strdup(col_text(&row[0]));
  soulgw_json_push(p->records, record_object(p->tenant, p->repo, col_text(&row[0]),
                                             col_json(&row[1]), row[2].i));
  return 0;
}

sg_st sg_store_repo_list(sg_store *st, const char *tenant, const char *repo, const char *after,
                         int limit, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "record list", SQLITE_CANTOPEN, NULL);
  int64_t pos = -1;
  int rc = 0;
  if (after &&
      (rc = read_rows(c, Q_REC_POS, ARGS(A_TXT(tenant), A_TXT(after), A_TXT(repo)), row_int, &pos))) {
    read_failed(st, "record list", rc, c);
    reader_put(st, c);
    return SG_ST_UNAVAILABLE;
  }
  if (after && pos < 0) {
    reader_put(st, c);
    return SG_ST_NOTFOUND;
  }
  rec_page p = {tenant, repo, soulgw_json_array(), NULL, NULL, limit, 0};
  rc = after ? read_rows(c, Q_REC_LIST, ARGS(A_TXT(tenant), A_TXT(repo), A_INT(pos), A_INT(limit + 1)),
                         row_page, &p)
             : read_rows(c, Q_REC_LIST_ALL, ARGS(A_TXT(tenant), A_TXT(repo), A_INT(limit + 1)),
                         row_page, &p);
  free(p.last);
  if (rc) read_failed(st, "record list", rc, c);
  reader_put(st, c);
  if (rc) {
    free(p.next);
    soulgw_json_free(p.records);
    return SG_ST_UNAVAILABLE;
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "records", p.records);
  soulgw_json_set(o, "next", p.next ? soulgw_json_new_string(p.next) : soulgw_json_null());
  free(p.next);
  *out = o;
  return o ? SG_ST_OK : SG_ST_UNAVAILABLE;
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
  conn *c;
  const char *tenant, *label;
  strset seen;           /* nodes reached */
  strset met;            /* edges answered, and the candidates of the current depth */
  sg_buf frontier, next; /* JSON arrays of node ids, for json_each() */
  size_t nfrontier, nnext;
  hit *hits; /* the current depth's candidates */
  size_t nhits, caphits;
  int64_t rows; /* rows read, for soulgw_store_rows_read_total */
} walk;

/* Appends a node id to a JSON array of ids.  Only '"', '\\' and control characters are
 * escaped: every other byte goes as it is, so that the id reaches SQLite's json_each()
 * unchanged (SQLite passes bytes that are not UTF-8 through, where sg_buf_json_escape() would
 * replace them). */
static void ids_add(sg_buf *b, size_t *n, const char *id) {
  sg_buf_putc(b, *n ? ',' : '[');
  sg_buf_putc(b, '"');
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
    if (*p == '"' || *p == '\\') sg_buf_putc(b, '\\');
    if (*p < 0x20) sg_buf_printf(b, "\\u%04x", *p);
    else sg_buf_putc(b, (char)*p);
  }
  sg_buf_putc(b, '"');
  (*n)++;
}

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

/* Takes an edge row (id, src, dst, label, props, ts) as a candidate, unless met before. */
static int row_edge(void *ud, const sg_col *row) {
  step *sp = ud;
  walk *w = sp->w;
  w->rows++;
  char idkey[24];
  snprintf(idkey, sizeof idkey, "%lld", (long long)row[0].i);
  int added = strset_add(&w->met, idkey);
  if (added == 0) return 0; /* met from its other end */
  if (added < 0 || w->nhits == w->caphits) return SQLITE_NOMEM;
  soulgw_json *e = soulgw_json_object();
  if (!e) return SQLITE_NOMEM;
  soulgw_json_set(e, "from", soulgw_json_new_string(col_text(&row[1])));
  soulgw_json_set(e, "to", soulgw_json_new_string(col_text(&row[2])));
  soulgw_json_set(e, "label", soulgw_json_new_string(col_text(&row[3])));
  soulgw_json_set(e, "props", col_json(&row[4]));
  soulgw_json_set(e, "timestamp_ms", sg_json_new_int(row[5].i));
  soulgw_json_set(e, "depth", sg_json_new_int(sp->depth));
  w->hits[w->nhits++] = (hit){row[0].i, row[5].i, e, sp->in};
  return ++sp->got < sp->want ? 0 : ROW_STOP;
}

/* Adds to w->hits the newest edges touching the frontier in one direction (in: arriving at
 * it) that were not met before: at most want of them, from at most want + again rows, again
 * being how many edges met before the frontier can touch.  Returns 0, or -1 when the
 * database fails or memory runs out. */
static int walk_step(walk *w, int in, int depth, int want, int again) {
  int q = in ? (w->label ? Q_EDGES_IN_LABEL : Q_EDGES_IN)
             : (w->label ? Q_EDGES_OUT_LABEL : Q_EDGES_OUT);
  step sp = {w, in, depth, want, 0};
  arg frontier = A_TXTN(w->frontier.ptr, w->frontier.len);
  int rc = w->label ? read_rows(w->c, q,
                                ARGS(A_TXT(w->tenant), frontier, A_TXT(w->label),
                                     A_INT(want + again)),
                                row_edge, &sp)
                    : read_rows(w->c, q, ARGS(A_TXT(w->tenant), frontier, A_INT(want + again)),
                                row_edge, &sp);
  return rc ? -1 : 0;
}

/* One depth: answers (appends to edges) the newest `need` edges touching the frontier that
 * were not answered before, `prev` being how many the previous depth answered, and makes
 * their new ends the next frontier.  Returns the number answered, or -1. */
static int walk_depth(walk *w, sg_direction dir, int depth, int need, int prev,
                      soulgw_json *edges) {
  w->nhits = 0;
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
  if (dir != SG_DIR_IN && walk_step(w, 0, depth, need, again)) goto fail;
  if (dir != SG_DIR_OUT && walk_step(w, 1, depth, need, again + (int)w->nhits)) goto fail;
  if (w->nhits > (size_t)need) { /* both ways: the newest of the two */
    qsort(w->hits, w->nhits, sizeof *w->hits, hit_id_cmp);
    for (size_t i = (size_t)need; i < w->nhits; i++) soulgw_json_free(w->hits[i].edge);
    w->nhits = (size_t)need;
  }
  qsort(w->hits, w->nhits, sizeof *w->hits, hit_cmp);
  size_t n = w->nhits;
  for (size_t i = 0; i < n; i++) soulgw_json_push(edges, w->hits[i].edge);
  w->nhits = 0; /* edges owns them now */
  sg_buf_reset(&w->next);
  w->nnext = 0;
  for (size_t i = 0; i < n; i++) {
    const soulgw_json *e = w->hits[i].edge;
    const char *other = soulgw_json_string(soulgw_json_get(e, w->hits[i].in ? "from" : "to"));
    int added = other ? strset_add(&w->seen, other) : 0;
    if (added < 0) return -1;
    if (added) ids_add(&w->next, &w->nnext, other);
  }
  if (!w->nnext) sg_buf_putc(&w->next, '[');
  sg_buf_putc(&w->next, ']');
  if (sg_buf_failed(&w->next)) return -1;
  sg_buf t = w->frontier;
  w->frontier = w->next;
  w->next = t;
  w->nfrontier = w->nnext;
  return (int)n;
fail:
  hits_drop(w);
  return -1;
}

sg_st sg_store_graph_recall(sg_store *st, const char *tenant, const char *node_id,
                            const char *label, sg_direction dir, int depth, int limit,
                            soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "graph", SQLITE_CANTOPEN, NULL);
  walk w = {.c = c, .tenant = tenant, .label = label};
  sg_buf_init(&w.frontier, 0);
  sg_buf_init(&w.next, 0);
  soulgw_json *edges = soulgw_json_array();
  ids_add(&w.frontier, &w.nfrontier, node_id);
  sg_buf_putc(&w.frontier, ']');
  int failed = !edges || strset_add(&w.seen, node_id) < 0 || sg_buf_failed(&w.frontier);
  int total = 0, prev = 0;
  /* Read consistency across the queries of one walk. */
  int in_txn = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
  for (int d = 1; d <= depth && !failed && total < limit && w.nfrontier; d++) {
    prev = walk_depth(&w, dir, d, limit - total, prev, edges);
    if (prev < 0) failed = 1;
    else total += prev;
  }
  if (in_txn) sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
  reader_put(st, c);
  sg_family_add(st->rows_read, (const char *[]){"graph_recall"}, (uint64_t)w.rows);
  free(w.hits);
  strset_free(&w.seen);
  strset_free(&w.met);
  sg_buf_free(&w.frontier);
  sg_buf_free(&w.next);
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
  int rc = exec_q(c, Q_OBS_INSERT,
                  ARGS(A_TXT(w->tenant), A_INT(n), A_TXT(w->s1), A_TXT(w->s2), A_TXT(w->s4),
                       A_TXT(w->s3), A_INT(w->now)));
  if (rc) return unavailable(st, w, "observe insert", rc, c);
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

/* Appends an event row (seq, topic, severity, event, trace_id, ingested_at) to the array ud. */
static int row_event(void *ud, const sg_col *row) {
  char id[32];
  snprintf(id, sizeof id, "obs-%lld", (long long)row[0].i);
  soulgw_json *e = soulgw_json_object();
  soulgw_json_set(e, "event_id", soulgw_json_new_string(id));
  soulgw_json_set(e, "topic", soulgw_json_new_string(col_text(&row[1])));
  soulgw_json_set(e, "severity", soulgw_json_new_string(col_text(&row[2])));
  soulgw_json_set(e, "event", col_json(&row[3]));
  soulgw_json_set(e, "trace_id",
                  row[4].s ? soulgw_json_new_string(row[4].s) : soulgw_json_null());
  soulgw_json_set(e, "ingested_at", sg_json_new_int(row[5].i));
  soulgw_json_push(ud, e);
  return 0;
}

sg_st sg_store_observe_query(sg_store *st, const char *tenant, const char *topic, int64_t since,
                             const char *severity, int limit, soulgw_json **out) {
  *out = NULL;
  conn *c = reader_get(st);
  if (!c) return read_failed(st, "observe query", SQLITE_CANTOPEN, NULL);
  soulgw_json *events = soulgw_json_array();
  int rc = read_rows(c, Q_OBS_QUERY,
                     ARGS(A_TXT(tenant), A_TXT(topic), A_INT(since), A_TXT(severity), A_INT(limit)),
                     row_event, events);
  if (rc) read_failed(st, "observe query", rc, c);
  reader_put(st, c);
  if (rc) {
    soulgw_json_free(events);
    return SG_ST_UNAVAILABLE;
  }
  soulgw_json *o = soulgw_json_object();
  soulgw_json_set(o, "events", events);
  *out = o;
  return o ? SG_ST_OK : SG_ST_UNAVAILABLE;
}

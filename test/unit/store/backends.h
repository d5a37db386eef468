/*
 * backends.h -- the store's drivers as its unit suites see them.  The suites are written
 * against the interface (store.h) and run their cases once per entry of store_backends[]: a
 * second driver is one more entry.  An entry says how to name a fresh database of that driver
 * and, for the cases that damage a database on purpose (a trigger that makes one kind of write
 * fail, a database left by an older schema), how to reach it with a connection of the test's
 * own and in which SQL; test code may call the engine directly, the library may not.  A case
 * whose SQL an entry leaves NULL is skipped for that driver.
 */
#ifndef TEST_STORE_BACKENDS_H
#define TEST_STORE_BACKENDS_H

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "pgserver.h"
#include "tap.h"

typedef struct store_backend {
  const char *name; /* sg_store_opts.backend */
  /* Starts what the driver needs (NULL: nothing): 0, 1 when it is not installed (its cases
   * are skipped), -1 when it failed. */
  int (*start)(void);
  int schema;       /* the schema version after the migrations */
  /* The address (sg_store_opts.path, and .url) of a fresh database named name, under the
   * directory dir. */
  void (*address)(char *out, size_t len, const char *dir, const char *name);
  const char *unreachable; /* an address that cannot be opened */
  /* Runs sql on the database at addr: 0, or -1 with a diagnostic. */
  int (*exec)(const char *addr, const char *sql);
  /* The integer sql answers on the database at addr, or -1. */
  long long (*query_int)(const char *addr, const char *sql);
  /* Makes an edge to "poison" fail to be stored, after its record was; and undoes that. */
  const char *poison_edges, *unpoison_edges;
  /* Makes a write of the head of collaboration "poison" fail, after its timeline entry was
   * appended; and undoes that. */
  const char *poison_collab, *unpoison_collab;
  /* A database of schema version 1, whose collabs(tenant, collab_id, status, snapshot,
   * updated_at) holds a collaboration as one snapshot; NULL when the driver never had it. */
  const char *schema1;
  /* The count of collaborations kept with status "unreadable" and their text as context. */
  const char *count_unreadable;
} store_backend;

static void sqlite_address(char *out, size_t len, const char *dir, const char *name) {
  snprintf(out, len, "%s/%s.db", dir, name);
}

static int sqlite_exec(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  char *msg = NULL;
  int rc = sqlite3_open(path, &db);
  if (rc == SQLITE_OK) sqlite3_busy_timeout(db, 5000);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) tap_diag("sql: %s", msg ? msg : sqlite3_errmsg(db));
  sqlite3_free(msg);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : -1;
}

static long long sqlite_query_int(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  sqlite3_stmt *s = NULL;
  long long v = -1;
  if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

/* Schema 1, as soulgw wrote it before timelines had rows (migrations never change). */
static const char sqlite_schema1[] =
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
    "CREATE INDEX observe_topic ON observe(tenant, topic, id);"
    "PRAGMA user_version = 1;";

/* PostgreSQL: a database of the test's server (pgserver.h) per address, named after the
 * directory's unique suffix and name. */
static void pg_address(char *out, size_t len, const char *dir, const char *name) {
  char db[64];
  const char *dash = strrchr(dir, '-');
  size_t n = (size_t)snprintf(db, sizeof db, "t_%s_", dash ? dash + 1 : "x");
  for (const char *p = name; *p && n < sizeof db - 1; p++)
    db[n++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_');
  db[n] = '\0';
  for (char *p = db; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
  if (pgserver_createdb(db) != 0) tap_diag("cannot create database %s", db);
  pgserver_url(out, len, db);
}

#define PG_POISON_FN                                                                       \
  "CREATE OR REPLACE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS"                \
  " $$BEGIN RAISE EXCEPTION 'poisoned'; END$$;"

static const store_backend store_backends[] = {
    {
        .name = "sqlite",
        .schema = 3,
        .address = sqlite_address,
        .unreachable = "/proc/nope/x.db",
        .exec = sqlite_exec,
        .query_int = sqlite_query_int,
        .poison_edges = "CREATE TRIGGER poison BEFORE INSERT ON edges WHEN NEW.dst = 'poison'"
                        " BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        .unpoison_edges = "DROP TRIGGER poison",
        .poison_collab = "CREATE TRIGGER poison BEFORE UPDATE ON collabs"
                         " WHEN NEW.collab_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        .unpoison_collab = "DROP TRIGGER poison",
        .schema1 = sqlite_schema1,
        .count_unreadable = "SELECT count(*) FROM collabs WHERE collab_id = 'broken'"
                            " AND status = 'unreadable' AND context = '{\"collab_id\":'",
    },
    {
        .name = "postgres",
        .start = pgserver_start,
        .schema = 3,
        .address = pg_address,
        .unreachable = "postgresql://soulgw:" PGSERVER_PASSWORD "@127.0.0.1:1/none",
        .exec = pgserver_exec,
        .query_int = pgserver_query_int,
        .poison_edges = PG_POISON_FN "CREATE TRIGGER poison BEFORE INSERT ON edges FOR EACH ROW"
                                     " WHEN (NEW.dst = 'poison') EXECUTE FUNCTION poison();",
        .unpoison_edges = "DROP TRIGGER poison ON edges",
        .poison_collab = PG_POISON_FN "CREATE TRIGGER poison BEFORE UPDATE ON collabs FOR EACH ROW"
                                      " WHEN (NEW.collab_id = 'poison') EXECUTE FUNCTION poison();",
        .unpoison_collab = "DROP TRIGGER poison ON collabs",
        /* never had schema 1's single-snapshot collaborations */
    },
};

/* Starts b's server when it needs one: 1 when its cases can run; otherwise a TAP line says
 * why (a skip when its server is not installed, a failure when it did not start). */
static inline int store_backend_ready(const store_backend *b) {
  int rc = b->start ? b->start() : 0;
  if (rc > 0) ok(1, "%s # SKIP its server is not installed", b->name);
  if (rc < 0) ok(0, "the %s server starts", b->name);
  return rc == 0;
}
#define STORE_BACKENDS (sizeof store_backends / sizeof store_backends[0])

#endif

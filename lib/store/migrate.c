/*
 * migrate.c -- soulgw_storage_migrate(): moves a SQLite database into PostgreSQL, for a gateway
 * that leaves one machine (docs/scaling.md, `soulgw migrate`).
 *
 * Driver to driver, below the store's front: the source driver's dump() reads each table
 * (driver.h's SG_TBL_ list) in one read transaction, so the copy is one consistent state, and
 * every row goes through the target driver's own write methods (record_insert(),
 * reg_insert(), ...), the ones a gateway's writes use, in one transaction that commits only
 * when every row is in and the target's row count equals the source's.  Order is kept where it
 * means something: records, edges and events are written in their order of storage, so the
 * positions cursors and recall read (ids growing with storage) keep their order; registry
 * versions oldest first; sequences are set to their values, so the next generated id follows
 * the last copied one.  A failure writes nothing, so the command can simply run again, and a
 * target that already holds rows is refused before anything is written.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "store/driver.h"

static const char *const table_names[SG_TBL_COUNT] = {
    [SG_TBL_SEQUENCES] = "sequences",           [SG_TBL_REGISTRY] = "registry versions",
    [SG_TBL_ACTIVE] = "active versions",        [SG_TBL_IDEMPOTENCY] = "idempotency records",
    [SG_TBL_COLLABS] = "collaborations",        [SG_TBL_TIMELINE] = "timeline entries",
    [SG_TBL_RECORDS] = "records",               [SG_TBL_EDGES] = "edges",
    [SG_TBL_EVENTS] = "observe events",         [SG_TBL_USAGE] = "usage ledger rows",
};

/* One table's copy: the target, and the rows written. */
typedef struct copier {
  const sg_store_driver *to;
  sg_conn *tc;
  int table;
  int64_t n;
  int failed; /* the target's error, when a write failed */
} copier;

#define T(i) sg_row_text(r, (i))
#define I(i) sg_row_int(r, (i))

/* Writes one source row into the target (the row function of the source's dump()). */
static int copy_row(void *ud, const sg_row *r) {
  copier *k = ud;
  const sg_store_driver *t = k->to;
  sg_conn *c = k->tc;
  int rc = SG_DRV_FAILED, inserted = 0;
  switch (k->table) {
    case SG_TBL_SEQUENCES: rc = t->seq_set(c, T(0), T(1), I(2)); break;
    case SG_TBL_REGISTRY: rc = t->reg_insert(c, T(0), T(1), T(2), I(3)); break;
    case SG_TBL_ACTIVE: rc = t->reg_set_active(c, T(0), T(1)); break;
    case SG_TBL_IDEMPOTENCY:
      rc = t->idem_insert(c, T(0), T(1), T(2), T(3), (int)I(4), T(5), I(6), &inserted);
      if (!rc && !inserted) rc = SG_DRV_CONFLICT;
      break;
    case SG_TBL_COLLABS: {
      sg_collab_row h = {T(2), T(3), T(4), T(5), I(6), I(7), I(8), I(9)};
      rc = t->collab_put(c, T(0), T(1), &h);
      break;
    }
    case SG_TBL_TIMELINE: rc = t->timeline_append(c, T(0), T(1), I(2), T(3)); break;
    case SG_TBL_RECORDS: rc = t->record_insert(c, T(0), T(1), T(2), T(3), I(4)); break;
    case SG_TBL_EDGES: rc = t->edge_insert(c, T(0), T(1), T(2), T(3), T(4), I(5)); break;
    case SG_TBL_EVENTS: rc = t->event_insert(c, T(0), I(1), T(2), T(3), T(4), T(5), I(6)); break;
    case SG_TBL_USAGE: {
      const int64_t v[SG_USAGE_NV] = {I(4), I(5), I(6), I(7), I(8)};
      rc = t->usage_add(c, T(0), T(1), T(2), T(3), v);
      break;
    }
  }
  if (rc == 0) k->n++;
  else k->failed = rc;
  return rc;
}

#undef T
#undef I

/* The two databases, open. */
typedef struct ends {
  const sg_store_driver *from, *to;
  sg_drv *fd, *td;
  sg_conn *fc, *tc;
} ends;

static void ends_close(ends *e) {
  if (e->fc) e->from->disconnect(e->fc);
  if (e->tc) e->to->disconnect(e->tc);
  if (e->fd) e->from->close(e->fd);
  if (e->td) e->to->close(e->td);
}

/* Opens a database and its writer connection and brings its schema up to date. */
static int open_end(const sg_store_driver *drv, const sg_store_opts *o, sg_drv **d, sg_conn **c,
                    const char *what, char *err, size_t errlen) {
  char why[512] = "";
  int version = 0;
  if (drv->open(o, d, why, sizeof why) != 0 || drv->connect(*d, 0, c, why, sizeof why) != 0 ||
      drv->migrate(*d, *c, &version, why, sizeof why) != 0) {
    snprintf(err, errlen, "%s: %s", what, why);
    return SOULGW_ESTORE;
  }
  return 0;
}

/* err gets what happened to the copy of table, met on the connection c of drv. */
static void describe(const sg_store_driver *drv, sg_conn *c, int rc, const char *doing,
                     const char *table, char *err, size_t errlen) {
  const char *msg = "";
  int code = 0;
  if (rc == SG_DRV_CONFLICT) msg = "a row of the source is already in the target";
  else drv->describe(c, rc, &msg, &code);
  snprintf(err, errlen, "%s %s: %s", doing, table, msg && *msg ? msg : "failed");
}

/* Copies every table from e->fc to e->tc inside the target's transaction; counts[i] gets table
 * i's rows.  0, or an SOULGW_ error with err filled (the caller rolls back). */
static int copy_tables(ends *e, int64_t counts[SG_TBL_COUNT], char *err, size_t errlen) {
  for (int t = 0; t < SG_TBL_COUNT; t++) {
    copier k = {e->to, e->tc, t, 0, 0};
    int rc = e->from->dump(e->fc, t, copy_row, &k);
    counts[t] = k.n;
    if (rc == 0) continue;
    if (k.failed) describe(e->to, e->tc, k.failed, "writing", table_names[t], err, errlen);
    else describe(e->from, e->fc, rc, "reading", table_names[t], err, errlen);
    return SOULGW_ESTORE;
  }
  return 0;
}

/* 1 when path is a SQLite database file (its 16-byte header), so that a wrong path is not
 * turned into a new, empty database. */
static int is_sqlite_file(const char *path) {
  char head[16];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, head, sizeof head);
  close(fd);
  return n == (ssize_t)sizeof head && memcmp(head, "SQLite format 3", 16) == 0;
}

int soulgw_storage_migrate(const soulgw_config *cfg, const char *sqlite_path,
                           soulgw_migrate_counts *out, char *err, size_t errlen) {
  const sg_conf *c = cfg ? sg_config_snapshot(cfg) : NULL;
  int64_t counts[SG_TBL_COUNT] = {0}, src_rows = 0, dst_rows = 0;
  ends e = {&sg_store_sqlite, &sg_store_pg, NULL, NULL, NULL, NULL};
  int rc = 0;
  if (!err || !errlen) return SOULGW_EINVAL;
  err[0] = '\0';
  if (out) memset(out, 0, sizeof *out);
  if (!c || !sqlite_path || !*sqlite_path) {
    snprintf(err, errlen, "no configuration loaded, or no source database named");
    return SOULGW_EINVAL;
  }
  if (strcmp(c->storage.backend, "postgres") != 0) {
    snprintf(err, errlen, "the configuration's storage.backend is \"%s\": the target is the "
                          "[storage] of a configuration with backend = \"postgres\" and its url",
             c->storage.backend);
    return SOULGW_EINVAL;
  }
  if (access(sqlite_path, F_OK) != 0) {
    snprintf(err, errlen, "no SQLite database at %s", sqlite_path);
    return SOULGW_ENOTFOUND;
  }
  if (!is_sqlite_file(sqlite_path)) {
    snprintf(err, errlen, "%s is not a SQLite database", sqlite_path);
    return SOULGW_EINVAL;
  }
  sg_store_opts from = {.path = sqlite_path, .sync_full = 1, .backend = "sqlite"};
  sg_store_opts to = {.path = c->storage.path, .backend = "postgres", .url = c->storage.url.value,
                      .statement_timeout_ms = (int)c->storage.statement_timeout_ms};
  if ((rc = open_end(e.from, &from, &e.fd, &e.fc, sqlite_path, err, errlen)) ||
      (rc = open_end(e.to, &to, &e.td, &e.tc, "the PostgreSQL database", err, errlen)))
    goto out;
  if ((rc = e.to->rows(e.tc, &dst_rows)) != 0) {
    describe(e.to, e.tc, rc, "counting the rows of", "the PostgreSQL database", err, errlen);
    rc = SOULGW_ESTORE;
    goto out;
  }
  if (dst_rows > 0) {
    snprintf(err, errlen, "the PostgreSQL database already holds %lld rows of soulgw's data; "
                          "migrate into an empty database", (long long)dst_rows);
    rc = SOULGW_EEXIST;
    goto out;
  }
  /* one consistent state of the source, copied in one transaction of the target */
  e.from->read_begin(e.fc);
  if ((rc = e.from->rows(e.fc, &src_rows)) != 0) {
    describe(e.from, e.fc, rc, "counting the rows of", sqlite_path, err, errlen);
    rc = SOULGW_ESTORE;
  } else if ((rc = e.to->begin(e.tc)) != 0) {
    describe(e.to, e.tc, rc, "starting the copy into", "the PostgreSQL database", err, errlen);
    rc = SOULGW_ESTORE;
  } else if ((rc = copy_tables(&e, counts, err, errlen)) == 0) {
    if ((rc = e.to->rows(e.tc, &dst_rows)) != 0 || dst_rows != src_rows) {
      snprintf(err, errlen, "the copy holds %lld rows where the source holds %lld; nothing was "
                            "written", (long long)dst_rows, (long long)src_rows);
      rc = SOULGW_ESTORE;
    } else if ((rc = e.to->commit(e.tc)) != 0) {
      describe(e.to, e.tc, rc, "committing the copy into", "the PostgreSQL database", err,
               errlen);
      rc = SOULGW_ESTORE;
    }
  }
  if (rc) e.to->rollback(e.tc);
  e.from->read_end(e.fc);
  if (rc == 0 && out) {
    out->sequences = counts[SG_TBL_SEQUENCES];
    out->registry_versions = counts[SG_TBL_REGISTRY];
    out->active_versions = counts[SG_TBL_ACTIVE];
    out->idempotency = counts[SG_TBL_IDEMPOTENCY];
    out->collabs = counts[SG_TBL_COLLABS];
    out->timeline_entries = counts[SG_TBL_TIMELINE];
    out->records = counts[SG_TBL_RECORDS];
    out->edges = counts[SG_TBL_EDGES];
    out->events = counts[SG_TBL_EVENTS];
    out->usage = counts[SG_TBL_USAGE];
  }
out:
  ends_close(&e);
  return rc;
}

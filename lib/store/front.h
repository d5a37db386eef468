/*
 * front.h -- the store's front, shared by its files and by nothing outside store/: the store
 * handle, the queued write, and what store.c offers the operations of reads.c and writes.c
 * (reader connections, submitting a write, counting a failure).
 */
#ifndef SG_STORE_FRONT_H
#define SG_STORE_FRONT_H

#include <pthread.h>

#include "base/json.h"
#include "base/sg.h"
#include "store/driver.h"
#include "store/store.h"

/* A queued write: its arguments, copied into its arena by the caller's thread, the function
 * the writer runs for it, and its outcome. */
typedef struct wop wop;
/* Runs a write on the writer connection, inside its savepoint: the outcome, and w->result when
 * SG_ST_OK (w->msg otherwise). */
typedef sg_st (*wop_fn)(sg_store *st, sg_conn *c, wop *w);

/* Runs the writes queued from first on that share its run_many (as many as follow each other,
 * up to a bound) in one go, each answered alone as its run would; *last gets the last of them.
 * 0, or an error that fails the batch (counted). */
typedef int (*wop_many_fn)(sg_store *st, sg_conn *c, wop *first, wop **last);

struct wop {
  wop_fn run;
  wop_many_fn run_many; /* or NULL: the writer uses it when the driver can (appends) */
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
  void *data; /* a write's own arguments that are not copied (the ledger's rows) */
  sg_st st;
  int rc; /* the driver's error of a failed write, 0 for none */
  soulgw_json *result;
  char msg[256];
  wop *next;
};

struct sg_store {
  const sg_store_driver *drv;
  sg_drv *db;
  sg_family *errors;
  sg_family *errors_by_kind; /* {kind} */
  sg_family *pool;           /* {state}: connections idle and busy, a gauge */
  sg_family *rows_read; /* {op} */
  sg_log *log;
  sg_conn *writer;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t qlock;
  pthread_cond_t qcond;
  wop *qhead, *qtail;
  int stopping;
  pthread_mutex_t rlock;
  pthread_cond_t rcond; /* a reader was given back */
  sg_conn *free_readers, *all_readers;
  int nreaders, max_readers; /* reader connections open, and their bound (0: none) */
  atomic_int writable;
  atomic_int down; /* a connection failed: unavailable until a statement succeeds (logged once) */
  int nfree;       /* readers in free_readers */
  int writer_busy; /* a batch runs (under rlock, with nfree) */
  int schema_version;
  sg_append *appends; /* the writer's array for a run of appends (writes.c), nappends long */
  size_t nappends;
};

/* Fills w->msg and returns code from a write's function. */
#define FAIL(w, code, ...)                                                                 \
  do {                                                                                     \
    snprintf((w)->msg, sizeof (w)->msg, __VA_ARGS__);                                       \
    return (code);                                                                          \
  } while (0)

/* A reader connection from the pool (opened when none is free and the bound allows; else
 * waits for one to be given back), or NULL (counted). */
sg_conn *sg_store_reader(sg_store *st);
/* Gives a reader connection back.  NULL is ignored. */
void sg_store_reader_put(sg_store *st, sg_conn *c);

/* Counts a storage error and logs it (the operation, the engine's message; never the data).
 * c: the connection it was met on, or NULL. */
void sg_store_count_error(sg_store *st, const char *what, int err, sg_conn *c);
/* A read that failed: counted, SG_ST_UNAVAILABLE. */
sg_st sg_store_read_failed(sg_store *st, const char *what, int err, sg_conn *c);
/* A statement of a write that failed: counted, w->rc and w->msg set, SG_ST_UNAVAILABLE.  The
 * writer then decides from w->rc whether the database failed (the batch fails) or this write
 * alone (it is undone and answered). */
sg_st sg_store_write_failed(sg_store *st, wop *w, const char *what, int err, sg_conn *c);
/* A stored collaboration that cannot be read: counted and logged (never the data); msg says
 * so.  SG_ST_UNREADABLE. */
sg_st sg_store_unreadable(sg_store *st, const char *tenant, const char *id, char *msg,
                          size_t len);

/* A write to queue for tenant (copied), or NULL when out of memory. */
wop *sg_wop_new(sg_store_done done, void *ud, wop_fn run, const char *tenant);
/* s copied into w's arena (NULL stays NULL); *oom set when out of memory. */
const char *sg_wop_strdup(wop *w, const char *s, int *oom);
/* v as JSON text in w's arena (NULL stays NULL): serialised on the caller's thread, not the
 * writer's. */
const char *sg_wop_text(wop *w, const soulgw_json *v, int *oom);
/* A copy of v (NULL stays NULL); *oom set when out of memory. */
soulgw_json *sg_wop_json(const soulgw_json *v, int *oom);
/* Queues w, or answers at once (done with SG_ST_UNAVAILABLE) when w could not be built
 * (NULL, or oom) or the store is closing. */
void sg_store_submit(sg_store *st, wop *w, int oom, sg_store_done done, void *ud);
/* Queues w (made with no completion) and waits for it to commit: its outcome.  For start-up. */
sg_st sg_store_submit_wait(sg_store *st, wop *w, int oom);

#endif

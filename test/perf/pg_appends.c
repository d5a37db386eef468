/*
 * pg_appends.c -- durable appends on PostgreSQL (issue 10, Performance): the store's
 * group-committed appends against the naive floor, one INSERT of a record and one of its edge
 * per transaction, over the same number of connections, on a real server with fsync on
 * (pgserver_durable()).  Prints appends/s and p99 latency of each, for one store and for two
 * stores (two gateways) on the same database.  The floor runs one client per connection
 * (CONNS, the store's pool); the store serves THREADS clients at once through the same pool,
 * as a gateway does.  Not part of make check: `make pg-perf` (CONNS=4 THREADS=64 SECONDS=5).
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../unit/store/result.h"
#include "pgserver.h"
#include "store/store.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct worker {
  int id;
  const char *url;
  sg_store *st;
  double until;
  long n;
  double *lat; /* seconds per append */
  long cap;
} worker;

static void record(worker *w, double t0) {
  if (w->n < w->cap) w->lat[w->n] = now_s() - t0;
  w->n++;
}

/* The floor: its own connection, one transaction per record and edge. */
static void *floor_main(void *p) {
  worker *w = p;
  PGconn *c = PQconnectdb(w->url);
  PQclear(PQprepare(c, "r", "INSERT INTO floor_r(tenant, id, repo, data, ts) VALUES($1,$2,$3,$4,$5)",
                    0, NULL));
  PQclear(PQprepare(c, "e", "INSERT INTO floor_e(tenant, src, dst, label, ts) VALUES($1,$2,$3,$4,$5)",
                    0, NULL));
  char id[64];
  while (now_s() < w->until) {
    double t0 = now_s();
    snprintf(id, sizeof id, "w%d-%ld", w->id, w->n);
    const char *rv[] = {"t1", id, "bench", "{\"n\":1}", "1"};
    const char *ev[] = {"t1", id, "hub", "related", "1"};
    PQclear(PQexec(c, "BEGIN"));
    PQclear(PQexecPrepared(c, "r", 5, rv, NULL, NULL, 0));
    PQclear(PQexecPrepared(c, "e", 5, ev, NULL, NULL, 0));
    PGresult *r = PQexec(c, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fprintf(stderr, "floor: %s", PQerrorMessage(c));
    PQclear(r);
    record(w, t0);
  }
  PQfinish(c);
  return NULL;
}

/* The store: appends with one edge, waited for (acknowledged after COMMIT). */
static void *store_main(void *p) {
  worker *w = p;
  soulgw_json *data = J("{\"n\":1}");
  while (now_s() < w->until) {
    double t0 = now_s();
    result r;
    init_result(&r);
    sg_edge_in e = {NULL, "hub", NULL, NULL};
    sg_store_repo_append(w->st, "t1", "bench", NULL, data, &e, 1, 1, on_done, &r);
    wait_result(&r);
    if (r.st != SG_ST_OK) fprintf(stderr, "store: %d %s\n", r.st, r.msg);
    free_result(&r);
    record(w, t0);
  }
  soulgw_json_free(data);
  return NULL;
}

/* Runs threads workers of fn for seconds over stores (nstores of them, NULL for the floor):
 * appends/s. */
static double run(const char *what, void *(*fn)(void *), const char *url, sg_store **stores,
                int nstores, int threads, double seconds) {
  worker *w = calloc((size_t)threads, sizeof *w);
  pthread_t *th = calloc((size_t)threads, sizeof *th);
  double until = now_s() + seconds;
  for (int i = 0; i < threads; i++) {
    w[i] = (worker){i, url, stores ? stores[i % nstores] : NULL, until, 0, NULL, 1 << 20};
    w[i].lat = malloc((size_t)w[i].cap * sizeof *w[i].lat);
    pthread_create(&th[i], NULL, fn, &w[i]);
  }
  long total = 0, kept = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    total += w[i].n;
  }
  double *all = malloc((size_t)total * sizeof *all);
  for (int i = 0; i < threads; i++) {
    long n = w[i].n < w[i].cap ? w[i].n : w[i].cap;
    memcpy(all + kept, w[i].lat, (size_t)n * sizeof *all);
    kept += n;
    free(w[i].lat);
  }
  qsort(all, (size_t)kept, sizeof *all, cmp_d);
  printf("%-34s %3d threads: %8.0f appends/s  p50 %6.2f ms  p99 %6.2f ms\n", what, threads,
         (double)total / seconds, kept ? all[kept / 2] * 1e3 : 0,
         kept ? all[(long)((double)kept * 0.99)] * 1e3 : 0);
  free(all);
  free(w);
  free(th);
  return (double)total / seconds;
}

int main(void) {
  /* the floor over the store's connections (pool), the store serving many clients at once */
  int conns = getenv("CONNS") ? atoi(getenv("CONNS")) : 4;
  int threads = getenv("THREADS") ? atoi(getenv("THREADS")) : 64;
  double seconds = getenv("SECONDS") ? atof(getenv("SECONDS")) : 5;
  pgserver_durable();
  if (pgserver_start() != 0 || pgserver_createdb("bench") != 0) {
    fprintf(stderr, "no PostgreSQL server\n");
    return 1;
  }
  char url[256], err[256];
  pgserver_url(url, sizeof url, "bench");
  pgserver_exec(url, "CREATE TABLE floor_r(tenant text, id text, repo text, data text,"
                     " ts bigint, PRIMARY KEY(tenant, id));"
                     "CREATE TABLE floor_e(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                     " tenant text, src text, dst text, label text, ts bigint);"
                     "CREATE INDEX floor_e_src ON floor_e(tenant, src, label);");
  double floor = run("floor: INSERT per transaction", floor_main, url, NULL, 0, conns, seconds);
  sg_store *st[2] = {NULL, NULL};
  for (int i = 0; i < 2; i++) {
    sg_store_opts o = {.path = url, .backend = "postgres", .url = url, .pool = conns};
    if (sg_store_open(&o, &st[i], err, sizeof err)) {
      fprintf(stderr, "open: %s\n", err);
      return 1;
    }
  }
  double one = run("store: group commit, one instance", store_main, url, st, 1, threads, seconds);
  double two = run("store: group commit, two instances", store_main, url, st, 2, threads, seconds);
  printf("store / floor: one instance %.1fx, two instances %.1fx (pool %d)\n", one / floor,
         two / floor, conns);
  sg_store_close(st[0]);
  sg_store_close(st[1]);
  return 0;
}

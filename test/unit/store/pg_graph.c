/*
 * pg_graph.c -- PostgreSQL's graph recall, one recursive query (store/pg.c), answers exactly
 * as the front's breadth-first walk over SQLite (store/shape.c): the same random graphs
 * (self-loops, parallel labels, equal timestamps, edges given twice) stored in both, and every
 * recall from several nodes, in every direction, at several depths and limits, with and
 * without a label, compared byte for byte.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"
#include "result.h"
#include "base/json.h"
#include "store/store.h"
#include "tap.h"

static char dir[64];

static sg_store *open_backend(const store_backend *b, const char *name) {
  char addr[256], err[256] = "";
  b->address(addr, sizeof addr, dir, name);
  sg_store *st = NULL;
  sg_store_opts o = {.path = addr, .backend = b->name, .url = addr};
  if (sg_store_open(&o, &st, err, sizeof err)) tap_diag("open %s: %s", b->name, err);
  return st;
}

static uint32_t rnd_state;
static uint32_t rnd(uint32_t n) {
  rnd_state = rnd_state * 1103515245u + 12345u;
  return (rnd_state >> 16) % n;
}

/* Stores the same random graph in every store of st (n of them). */
static void fill(sg_store **st, size_t n, uint32_t seed, int nodes, int appends) {
  static const char *const labels[] = {"a", "b", NULL};
  soulgw_json *data = J("{}");
  char names[64][16];
  for (int i = 0; i < nodes && i < 64; i++) snprintf(names[i], sizeof names[i], "n%d", i);
  rnd_state = seed;
  for (int k = 0; k < appends; k++) {
    sg_edge_in e[4];
    size_t ne = 1 + rnd(4);
    for (size_t i = 0; i < ne; i++) {
      e[i].from = names[rnd((uint32_t)nodes)];
      e[i].to = names[rnd((uint32_t)nodes)];
      e[i].label = labels[rnd(3)];
      e[i].props = NULL;
    }
    char id[32];
    snprintf(id, sizeof id, "r%u-%d", seed, k);
    /* times out of the order of storage, and equal ones (clocks of several gateways) */
    int64_t ts = 1000 + (k * 7919) % 13;
    for (size_t s = 0; s < n; s++) {
      result r;
      init_result(&r);
      sg_store_repo_append(st[s], "t1", "g", id, data, e, ne, ts, on_done, &r);
      wait_result(&r);
      if (r.st != SG_ST_OK) tap_diag("append %s: %d %s", id, r.st, r.msg);
      free_result(&r);
    }
  }
  soulgw_json_free(data);
}

/* Recalls on both stores over a grid of arguments: how many answers differ (the first shown). */
static int compare(sg_store *a, sg_store *b, int nodes, int *total) {
  static const int depths[] = {1, 2, 3, 6}, limits[] = {1, 2, 3, 5, 8, 1000};
  static const char *const labels[] = {NULL, "a"};
  int diffs = 0;
  for (int node = 0; node < nodes; node += 3)
    for (int d = 0; d < 3; d++)
      for (size_t di = 0; di < sizeof depths / sizeof *depths; di++)
        for (size_t li = 0; li < sizeof limits / sizeof *limits; li++)
          for (size_t la = 0; la < 2; la++) {
            char start[16];
            snprintf(start, sizeof start, "n%d", node);
            soulgw_json *x = NULL, *y = NULL;
            sg_st sx = sg_store_graph_recall(a, "t1", start, labels[la], (sg_direction)d,
                                             depths[di], limits[li], &x);
            sg_st sy = sg_store_graph_recall(b, "t1", start, labels[la], (sg_direction)d,
                                             depths[di], limits[li], &y);
            char *px = x ? soulgw_json_print(x) : NULL, *py = y ? soulgw_json_print(y) : NULL;
            (*total)++;
            if (sx != sy || !px || !py || strcmp(px, py) != 0) {
              if (!diffs++)
                tap_diag("recall %s dir %d depth %d limit %d label %s:\n#  sqlite   %.1500s\n"
                         "#  postgres %.1500s",
                         start, d, depths[di], limits[li], labels[la] ? labels[la] : "-",
                         px ? px : "(none)", py ? py : "(none)");
            }
            free(px);
            free(py);
            soulgw_json_free(x);
            soulgw_json_free(y);
          }
  return diffs;
}

static void unit_store_pg_graph_matches_the_walk(void) {
  static const struct {
    uint32_t seed;
    int nodes, appends;
  } graphs[] = {{1, 6, 12}, {7, 12, 40}, {42, 20, 80}, {99, 30, 60}};
  for (size_t g = 0; g < sizeof graphs / sizeof *graphs; g++) {
    char name[32];
    snprintf(name, sizeof name, "graph%zu", g);
    sg_store *st[2] = {open_backend(&store_backends[0], name),
                       open_backend(&store_backends[1], name)};
    if (!ok(st[0] && st[1], "graph %zu: both stores open", g)) {
      sg_store_close(st[0]);
      sg_store_close(st[1]);
      continue;
    }
    fill(st, 2, graphs[g].seed, graphs[g].nodes, graphs[g].appends);
    int total = 0, diffs = compare(st[0], st[1], graphs[g].nodes, &total);
    is_int(diffs, 0, "graph %zu (%d nodes, %d appends): %d recalls answer the same on both", g,
           graphs[g].nodes, graphs[g].appends, total);
    sg_store_close(st[0]);
    sg_store_close(st[1]);
  }
}

static const tap_test tests[] = {TEST(unit_store_pg_graph_matches_the_walk)};

int main(void) {
  if (!tap_want(tests, TAP_COUNT(tests)) || !store_backend_ready(&store_backends[1]))
    return tap_done();
  snprintf(dir, sizeof dir, "/tmp/soulgw-pg-graph-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  tap_run(tests, TAP_COUNT(tests));
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) tap_diag("cannot remove %s", dir);
  return tap_done();
}

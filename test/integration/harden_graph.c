/*
 * harden_graph.c -- black-box tests of issue 7's graph and database-file findings against the
 * real soulgw binary.  A recall over a wide graph (a node whose neighbours each have many
 * edges) must read a bounded number of rows, as soulgw_store_rows_read_total{op="graph_recall"}
 * counts them, and still answer what SPEC 4.2 promises: the count, the depths, newest first
 * within a depth, each edge once, direction and label.  A model of the walk is checked on a
 * small random graph, node ids that need quoting travel through the walk intact, and the
 * database, its -wal and -shm files and the directories the gateway creates for them are
 * private to their owner whatever the umask.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

static gwproc gw;
#define TOKEN "test-token"
/* soulgw(1): a recall reads at most 4 x limit rows (limit for one direction). */
#define ROWS_PER_LIMIT 4

/* The counter soulgw_store_rows_read_total{op="graph_recall"}, or -1 when /metrics lacks it. */
static long long rows_read(void) {
  static const char key[] = "soulgw_store_rows_read_total{op=\"graph_recall\"} ";
  http_resp r = {0};
  long long v = -1;
  if (http_get(&gw, "/metrics", &r) == 0 && r.status == 200 && r.body) {
    const char *p = strstr(r.body, key);
    if (p) v = strtoll(p + sizeof key - 1, NULL, 10);
  }
  resp_free(&r);
  return v;
}

static void add_edge(cJSON *edges, const char *from, const char *to, const char *label) {
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "from", from);
  cJSON_AddStringToObject(e, "to", to);
  if (label) cJSON_AddStringToObject(e, "label", label);
  cJSON_AddItemToArray(edges, e);
}

/* Appends the record record_id carrying edges (taken); 1 when the gateway answered 200. */
static int append_edges(const char *record_id, cJSON *edges) {
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "repo", "harden-graph");
  cJSON_AddStringToObject(b, "record_id", record_id);
  cJSON_AddNumberToObject(b, "data", 1);
  cJSON_AddItemToObject(b, "edges", edges);
  char *body = cJSON_PrintUnformatted(b);
  long st = post_json(&gw, TOKEN, "/api/repo/append", body, NULL);
  if (st != 200) tap_diag("append %s: %ld", record_id, st);
  free(body);
  cJSON_Delete(b);
  return st == 200;
}

/* A growable string. */
typedef struct str {
  char *p;
  size_t len, cap;
} str;

static void str_add(str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void str_add(str *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (s->len + (size_t)n + 2 > s->cap) {
    s->cap = (s->len + (size_t)n + 2) * 2;
    s->p = realloc(s->p, s->cap);
  }
  if (s->len) s->p[s->len++] = ' ';
  va_start(ap, fmt);
  vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
  va_end(ap);
  s->len += (size_t)n;
}

static const char *str_get(const str *s) { return s->p ? s->p : ""; }

/* The answer's edges as "from>to/label@depth", space-separated, in answer order. */
static void edges_of(const cJSON *answer, str *out) {
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItem(answer, "edges")) {
    str_add(out, "%s>%s/%s@%d", json_str(e, "from"), json_str(e, "to"), json_str(e, "label"),
            (int)json_num(e, "depth", -1));
  }
}

/* Recalls body: the edges as edges_of() writes them into out, the rows it read into *rows.
 * Returns the HTTP status. */
static long recall(const char *body, str *out, long long *rows) {
  long long before = rows_read();
  cJSON *j = NULL;
  long st = post_json(&gw, TOKEN, "/api/graph/recall", body, &j);
  if (st == 200) edges_of(j, out);
  cJSON_Delete(j);
  long long after = rows_read();
  *rows = before < 0 || after < 0 ? -1 : after - before;
  return st;
}

/* Checks a recall's answer and its rows read against the bound for limit. */
static void expect_recall(const char *body, const char *want, int limit, const char *what) {
  str got = {0};
  long long rows = 0;
  is_int(recall(body, &got, &rows), 200, "%s: 200", what);
  is_str(str_get(&got), want, "%s: the edges, depths and order SPEC 4.2 gives", what);
  ok(rows >= 0, "%s: soulgw_store_rows_read_total{op=\"graph_recall\"} is in /metrics", what);
  if (!ok(rows >= 0 && rows <= (long long)ROWS_PER_LIMIT * limit,
          "%s: at most %d x limit rows read", what, ROWS_PER_LIMIT))
    tap_diag("  read %lld rows for limit %d", rows, limit);
  free(got.p);
}

/* ------------------------------------------------------------------------------------------ */
/* Wide graphs */

#define WIDE 60    /* neighbours of the start node */
#define FANOUT 120 /* edges of each neighbour */

/* ho:r -> ho:c<i> (label a), then ho:c<i> -> ho:g<i>.<j> (label a for even j, b for odd),
 * one record per ho:c<i>, in order; hi:p<i> -> hi:s, then hi:q<i>.<j> -> hi:p<i>. */
static int wide_graphs(void) {
  static int built, good;
  if (built) return good;
  built = 1;
  char a[64], b[64], rec[64];
  int fails = 0;
  cJSON *out = cJSON_CreateArray(), *in = cJSON_CreateArray();
  for (int i = 0; i < WIDE; i++) {
    snprintf(a, sizeof a, "ho:c%d", i);
    add_edge(out, "ho:r", a, "a");
    snprintf(a, sizeof a, "hi:p%d", i);
    add_edge(in, a, "hi:s", NULL);
  }
  fails += !append_edges("ho-root", out);
  fails += !append_edges("hi-root", in);
  for (int i = 0; i < WIDE; i++) {
    out = cJSON_CreateArray();
    in = cJSON_CreateArray();
    for (int j = 0; j < FANOUT; j++) {
      snprintf(a, sizeof a, "ho:c%d", i);
      snprintf(b, sizeof b, "ho:g%d.%d", i, j);
      add_edge(out, a, b, j % 2 ? "b" : "a");
      snprintf(a, sizeof a, "hi:q%d.%d", i, j);
      snprintf(b, sizeof b, "hi:p%d", i);
      add_edge(in, a, b, NULL);
    }
    snprintf(rec, sizeof rec, "ho-c%d", i);
    fails += !append_edges(rec, out);
    snprintf(rec, sizeof rec, "hi-p%d", i);
    fails += !append_edges(rec, in);
  }
  good = ok(fails == 0, "the wide graphs are stored (%d appends of up to %d edges)",
            2 * WIDE + 2, FANOUT);
  return good;
}

/* ho:c<i> -> ho:g<i>.<j> for j from hi down to lo (step), at depth d. */
static void want_fan(str *w, int i, int hi, int lo, int step, const char *label, int d) {
  for (int j = hi; j >= lo; j -= step)
    str_add(w, "ho:c%d>ho:g%d.%d/%s@%d", i, i, j, label ? label : j % 2 ? "b" : "a", d);
}

static void want_roots(str *w, int hi, int lo, int skip, int d) {
  for (int i = hi; i >= lo; i--)
    if (i != skip) str_add(w, "ho:r>ho:c%d/a@%d", i, d);
}

/* Issue 7 finding 4: 60 neighbours x 120 edges, depth 2, limit 100 read 6,060 rows. */
static void security_graph_recall_wide_out_reads_bounded_rows(void) {
  if (!wide_graphs()) return;
  str w = {0};
  want_roots(&w, WIDE - 1, 0, -1, 1);
  want_fan(&w, WIDE - 1, FANOUT - 1, FANOUT - 40, 1, NULL, 2);
  expect_recall("{\"node_id\":\"ho:r\",\"depth\":2,\"limit\":100}", str_get(&w), 100,
                "out, depth 2, limit 100");
  expect_recall("{\"node_id\":\"ho:r\",\"depth\":3,\"limit\":100}", str_get(&w), 100,
                "out, depth 3, limit 100 (the leaves end the walk)");
  free(w.p);

  /* the budget spans the neighbours: the newest 940 of 7,200 at depth 2 */
  w = (str){0};
  want_roots(&w, WIDE - 1, 0, -1, 1);
  for (int i = WIDE - 1; i >= WIDE - 7; i--) want_fan(&w, i, FANOUT - 1, 0, 1, NULL, 2);
  want_fan(&w, WIDE - 8, FANOUT - 1, FANOUT - 100, 1, NULL, 2);
  expect_recall("{\"node_id\":\"ho:r\",\"depth\":2,\"limit\":1000}", str_get(&w), 1000,
                "out, depth 2, limit 1000");
  free(w.p);

  /* the label filter: the newest 40 edges labelled a, every other one */
  w = (str){0};
  want_roots(&w, WIDE - 1, 0, -1, 1);
  want_fan(&w, WIDE - 1, FANOUT - 2, FANOUT - 80, 2, "a", 2);
  expect_recall("{\"node_id\":\"ho:r\",\"label\":\"a\",\"depth\":2,\"limit\":100}", str_get(&w),
                100, "out, label a, depth 2, limit 100");
  free(w.p);
}

static void security_graph_recall_wide_in_reads_bounded_rows(void) {
  if (!wide_graphs()) return;
  str w = {0};
  for (int i = WIDE - 1; i >= 0; i--) str_add(&w, "hi:p%d>hi:s/related@1", i);
  for (int j = FANOUT - 1; j >= FANOUT - 40; j--)
    str_add(&w, "hi:q%d.%d>hi:p%d/related@2", WIDE - 1, j, WIDE - 1);
  expect_recall("{\"node_id\":\"hi:s\",\"direction\":\"in\",\"depth\":2,\"limit\":100}",
                str_get(&w), 100, "in, depth 2, limit 100");
  expect_recall("{\"node_id\":\"hi:s\",\"direction\":\"in\",\"depth\":8,\"limit\":100}",
                str_get(&w), 100, "in, depth 8, limit 100");
  free(w.p);
}

/* Both ways, an edge is met from both of its ends: answered once, and the budget holds. */
static void security_graph_recall_wide_both_reads_bounded_rows(void) {
  if (!wide_graphs()) return;
  str w = {0};
  str_add(&w, "ho:c30>ho:g30.5/b@1");
  want_fan(&w, 30, FANOUT - 1, FANOUT - 99, 1, NULL, 2);
  expect_recall("{\"node_id\":\"ho:g30.5\",\"direction\":\"both\",\"depth\":3,\"limit\":100}",
                str_get(&w), 100, "both, from a leaf, depth 3, limit 100");
  free(w.p);

  /* depth 1: c30's 120 edges and the root's edge to it; depth 2: the root's 59 others (the
   * leaves' only edges are answered already); depth 3: the newest 820 of 59 x 120 */
  w = (str){0};
  want_fan(&w, 30, FANOUT - 1, 0, 1, NULL, 1);
  str_add(&w, "ho:r>ho:c30/a@1");
  want_roots(&w, WIDE - 1, 0, 30, 2);
  for (int i = WIDE - 1; i >= WIDE - 6; i--) want_fan(&w, i, FANOUT - 1, 0, 1, NULL, 3);
  want_fan(&w, WIDE - 7, FANOUT - 1, FANOUT - 100, 1, NULL, 3);
  expect_recall("{\"node_id\":\"ho:c30\",\"direction\":\"both\",\"depth\":3,\"limit\":1000}",
                str_get(&w), 1000, "both, depth 3, limit 1000");
  free(w.p);
}

/* Node ids that need escaping travel through the walk's frontier unchanged. */
static void security_graph_recall_odd_node_ids(void) {
  static const char *const ids[] = {"q\"uote\\back/slash", "\xc3\xbcn\xc3\xaf \xe2\x98\x83",
                                    "42", "null", "[\"x\", 1]", "a,b'c"};
  const size_t n = sizeof ids / sizeof ids[0];
  cJSON *edges = cJSON_CreateArray();
  for (size_t i = 0; i + 1 < n; i++) add_edge(edges, ids[i], ids[i + 1], "odd");
  if (!ok(append_edges("odd-ids", edges), "edges between odd ids are stored")) return;
  str w = {0}, back = {0};
  for (size_t i = 0; i + 1 < n; i++) {
    str_add(&w, "%s>%s/odd@%zu", ids[i], ids[i + 1], i + 1);
    str_add(&back, "%s>%s/odd@%zu", ids[n - 2 - i], ids[n - 1 - i], i + 1);
  }
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "node_id", ids[0]);
  cJSON_AddNumberToObject(b, "depth", 8);
  char *body = cJSON_PrintUnformatted(b);
  expect_recall(body, str_get(&w), 100, "out from an id with quotes, depth 8");
  free(body);
  cJSON_ReplaceItemInObject(b, "node_id", cJSON_CreateString(ids[n - 1]));
  cJSON_AddStringToObject(b, "direction", "in");
  body = cJSON_PrintUnformatted(b);
  expect_recall(body, str_get(&back), 100, "in from an id with brackets, depth 8");
  free(body);
  cJSON_Delete(b);
  free(w.p);
  free(back.p);
}

/* ------------------------------------------------------------------------------------------ */
/* A model of SPEC 4.2's walk over a small random graph */

#define MN 24  /* nodes */
#define ME 170 /* edges */

typedef struct medge {
  int from, to;
  char label;
} medge;

static medge model[ME];
static int nmodel;

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n) {
  rnd_state = rnd_state * 1103515245u + 12345u;
  return (rnd_state >> 16) % n;
}

/* Stores the random graph, one record per 1 to 8 edges, in the order of model[]. */
static int model_graph(void) {
  int fails = 0, rec = 0;
  while (nmodel < ME) {
    cJSON *edges = cJSON_CreateArray();
    int k = 1 + (int)rnd(8);
    for (int t = 0; t < k && nmodel < ME; t++) {
      medge e = {(int)rnd(MN), (int)rnd(MN), rnd(3) ? 'a' : 'b'};
      int dup = 0;
      for (int i = 0; i < nmodel; i++)
        dup |= model[i].from == e.from && model[i].to == e.to && model[i].label == e.label;
      if (dup) continue;
      model[nmodel++] = e;
      char f[16], to[16], l[2] = {e.label, 0};
      snprintf(f, sizeof f, "m:%d", e.from);
      snprintf(to, sizeof to, "m:%d", e.to);
      add_edge(edges, f, to, l);
    }
    char id[32];
    snprintf(id, sizeof id, "model-%d", rec++);
    if (cJSON_GetArraySize(edges)) fails += !append_edges(id, edges);
    else cJSON_Delete(edges);
  }
  return ok(fails == 0, "the random graph is stored (%d edges)", nmodel);
}

/* The walk by its definition: at each depth the edges touching the frontier (in the
 * direction asked, with the label asked) not answered before, newest (last stored) first, up
 * to what the limit leaves; their new endpoints are the next frontier. */
static void model_walk(int start, int dir, int depth, int limit, char label, str *out) {
  int seen[MN] = {0}, front[MN] = {0}, answered[ME] = {0}, total = 0;
  seen[start] = front[start] = 1;
  for (int d = 1; d <= depth && total < limit; d++) {
    int next[MN] = {0}, any = 0;
    for (int i = nmodel - 1; i >= 0 && total < limit; i--) {
      const medge *e = &model[i];
      if (answered[i] || (label && e->label != label)) continue;
      if (!((dir != 1 && front[e->from]) || (dir != 0 && front[e->to]))) continue;
      answered[i] = 1;
      total++;
      str_add(out, "m:%d>m:%d/%c@%d", e->from, e->to, e->label, d);
      int ends[2] = {e->from, e->to};
      for (int k = 0; k < 2; k++)
        if (!seen[ends[k]]) seen[ends[k]] = next[ends[k]] = any = 1;
    }
    memcpy(front, next, sizeof front);
    if (!any) break;
  }
}

static void security_graph_recall_matches_model(void) {
  if (!model_graph()) return;
  static const char *const dirs[] = {"out", "in", "both"};
  static const int starts[] = {0, 5, 17}, depths[] = {1, 2, 3, 8}, limits[] = {1, 5, 30, 1000};
  static const char labels[] = {0, 'a'};
  int runs = 0, wrong = 0, over = 0;
  for (size_t s = 0; s < 3; s++)
    for (int dir = 0; dir < 3; dir++)
      for (size_t d = 0; d < 4; d++)
        for (size_t l = 0; l < 4; l++)
          for (size_t lb = 0; lb < 2; lb++) {
            char body[160], lab[24] = "";
            if (labels[lb]) snprintf(lab, sizeof lab, ",\"label\":\"%c\"", labels[lb]);
            snprintf(body, sizeof body,
                     "{\"node_id\":\"m:%d\",\"direction\":\"%s\",\"depth\":%d,\"limit\":%d%s}",
                     starts[s], dirs[dir], depths[d], limits[l], lab);
            str want = {0}, got = {0};
            model_walk(starts[s], dir, depths[d], limits[l], labels[lb], &want);
            long long rows = 0;
            long st = recall(body, &got, &rows);
            runs++;
            if (st != 200 || strcmp(str_get(&want), str_get(&got)) != 0) {
              if (wrong++ < 3)
                tap_diag("%s: %ld\n#   got  %.600s\n#   want %.600s", body, st, str_get(&got),
                         str_get(&want));
            }
            if (rows < 0 || rows > (long long)ROWS_PER_LIMIT * limits[l]) {
              if (over++ < 3) tap_diag("%s: read %lld rows", body, rows);
            }
            free(want.p);
            free(got.p);
          }
  is_int(wrong, 0, "all %d recalls answer what the model of the walk gives", runs);
  is_int(over, 0, "all %d recalls read at most %d x limit rows", runs, ROWS_PER_LIMIT);
}

/* ------------------------------------------------------------------------------------------ */
/* Database files (issue 7 finding 16) */

static void expect_private(const char *path, int dir) {
  struct stat sb;
  if (!ok(stat(path, &sb) == 0, "%s exists", path)) return;
  ok(dir ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode), "%s is a %s", path,
     dir ? "directory" : "file");
  if (!ok((sb.st_mode & 077) == 0, "%s: no access for group or others", path))
    tap_diag("  mode %03o", (unsigned)(sb.st_mode & 0777));
}

/* Under umask 022 (main sets it), a fresh database path: the directories the gateway creates
 * are 0700, the database and its -wal and -shm 0600. */
static void security_db_files_private(void) {
  char dir[] = "/tmp/soulgw-mode-XXXXXX";
  if (!ok(mkdtemp(dir) != NULL, "a temporary directory")) return;
  char a[64], ab[80], db[100], wal[110], shm[110];
  snprintf(a, sizeof a, "%s/a", dir);
  snprintf(ab, sizeof ab, "%s/b", a);
  snprintf(db, sizeof db, "%s/soulgw.db", ab);
  snprintf(wal, sizeof wal, "%s-wal", db);
  snprintf(shm, sizeof shm, "%s-shm", db);
  gwproc g = {0};
  const char *const args[] = {"--db", db, NULL};
  if (ok(gw_start(&g, harness_soulgw_bin(), NULL, NULL, args) == 0,
         "a gateway starts on a database in directories that do not exist yet")) {
    is_int(post_json(&g, TOKEN, "/api/repo/append", "{\"repo\":\"mode\",\"data\":1}", NULL), 200,
           "a write");
    expect_private(a, 1);
    expect_private(ab, 1);
    expect_private(db, 0);
    expect_private(wal, 0);
    expect_private(shm, 0);
    is_int(gw_stop(&g), 0, "the gateway stops");
  }
  /* an existing database keeps its mode, and a start says when others may read it */
  chmod(db, 0644);
  if (ok(gw_start(&g, harness_soulgw_bin(), NULL, NULL, args) == 0,
         "a gateway starts on a database others may read")) {
    ok(gw_log_has(&g, "the database file is open to group or others"), "with a warning");
    is_int(gw_stop(&g), 0, "the gateway stops");
  }
  unlink(wal);
  unlink(shm);
  unlink(db);
  rmdir(ab);
  rmdir(a);
  rmdir(dir);
}

static const tap_test tests[] = {
    TEST(security_graph_recall_wide_out_reads_bounded_rows),
    TEST(security_graph_recall_wide_in_reads_bounded_rows),
    TEST(security_graph_recall_wide_both_reads_bounded_rows),
    TEST(security_graph_recall_odd_node_ids),
    TEST(security_graph_recall_matches_model),
    TEST(security_db_files_private),
};

int main(void) {
  /* the usual umask, so that the modes checked are the gateway's choice, not the runner's */
  umask(022);
  static const char *const env[] = {"GATEWAY__SERVER__MAX_BODY_BYTES=4194304", NULL};
  return tap_with_gateway(&gw, harness_soulgw_bin(), NULL, env, tests, TAP_COUNT(tests));
}

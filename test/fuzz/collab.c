/*
 * collab.c -- libFuzzer target: collaboration requests, untrusted, through the store on a fresh
 * in-memory database, as the routes hand them over.  The input is a series of JSON bodies
 * separated by NUL bytes, run in order: a body with "outcome" resolves, any other executes
 * ({collab_id, participants, context, note}); each is followed by a page of the timeline
 * ({after, limit} of the same body).  Contexts deep-merge from body to body, and small bounds
 * (16 entries, 16 KiB, a window of 4) make the caps part of the run.
 *
 * Checked after every request (a violation traps): an answer prints and parses back with the
 * request parser (the store writes only what it can read), a snapshot carries at most the
 * window, timeline_total grows by one for each accepted write and not at all for a refused one,
 * and the store stays writable.
 *
 * Opening a store (a thread, the migrations) costs more than a run, so one store serves 256
 * inputs, each under a tenant of its own: runs share nothing but the database.  That database
 * grows from run to run by design, which libFuzzer would take for a leak in every run (and
 * scan the heap for it each time): the target turns the per-run check off unless asked for
 * it; LeakSanitizer still reports leaks when the process exits.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static char *args[256];
  static char no_leaks[] = "-detect_leaks=0";
  if (*argc < 1 || *argc > 254) return 0;
  for (int i = 1; i < *argc; i++)
    if (strncmp((*argv)[i], "-detect_leaks=", 14) == 0) return 0;
  args[0] = (*argv)[0];
  args[1] = no_leaks; /* flags before the corpus directories */
  for (int i = 1; i < *argc; i++) args[i + 1] = (*argv)[i];
  args[++*argc] = NULL;
  *argv = args;
  return 0;
}

typedef struct wait_for {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  sg_st st;
  soulgw_json *v;
} wait_for;

static void on_done(void *ud, sg_st st, soulgw_json *v, const char *msg) {
  wait_for *w = ud;
  (void)msg;
  pthread_mutex_lock(&w->lock);
  w->st = st;
  w->v = v;
  w->done = 1;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
}

static void check(int cond) {
  if (!cond) __builtin_trap();
}

/* v printed and parsed back. */
static void reads_back(const soulgw_json *v) {
  char *text = soulgw_json_print(v);
  soulgw_json *back = NULL;
  check(text && soulgw_json_parse(text, strlen(text), &back, NULL, 0) == 0);
  soulgw_json_free(back);
  free(text);
}

static char tenant[32]; /* this input's */

/* timeline_total of a collaboration, -1 when it does not exist. */
static long long total_of(sg_store *st, const char *id) {
  soulgw_json *v = NULL;
  sg_st r = sg_store_collab_timeline(st, tenant, id, -1, 1, &v);
  check(r == SG_ST_OK || r == SG_ST_NOTFOUND);
  long long n = r == SG_ST_OK ? (long long)soulgw_json_number(soulgw_json_get(v, "timeline_total"), -2) : -1;
  if (r == SG_ST_OK) reads_back(v);
  soulgw_json_free(v);
  return n;
}

static void run_one(sg_store *st, const soulgw_json *body) {
  static const sg_collab_limits lim = {16, 16 << 10, 4};
  const char *id = soulgw_json_string(soulgw_json_get(body, "collab_id"));
  if (!id || !*id || strlen(id) > 64) id = "c";
  const soulgw_json *parts = soulgw_json_get(body, "participants");
  if (soulgw_json_typeof(parts) != SOULGW_JSON_ARRAY) parts = NULL;
  const soulgw_json *context = soulgw_json_get(body, "context");
  if (soulgw_json_typeof(context) == SOULGW_JSON_NULL) context = NULL;
  const char *note = soulgw_json_string(soulgw_json_get(body, "note"));
  const soulgw_json *outcome = soulgw_json_get(body, "outcome");
  long long before = total_of(st, id);

  wait_for w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, SG_ST_OK, NULL};
  if (outcome)
    sg_store_collab_resolve(st, tenant, id, outcome, note, &lim, 1000, on_done, &w);
  else
    sg_store_collab_execute(st, tenant, id, parts, context, note, &lim, 1000, on_done, &w);
  pthread_mutex_lock(&w.lock);
  while (!w.done) pthread_cond_wait(&w.cond, &w.lock);
  pthread_mutex_unlock(&w.lock);

  long long after = total_of(st, id);
  if (w.st == SG_ST_OK) {
    check(w.v != NULL);
    reads_back(w.v);
    long long total = (long long)soulgw_json_number(soulgw_json_get(w.v, "timeline_total"), -2);
    check(total == (before < 0 ? 1 : before + 1) && after == total);
    size_t shown = soulgw_json_size(soulgw_json_get(w.v, "timeline"));
    check(shown <= (size_t)lim.window && (long long)shown <= total);
  } else {
    check(w.v == NULL && w.st != SG_ST_UNAVAILABLE && w.st != SG_ST_UNREADABLE);
    check(after == before);
  }
  soulgw_json_free(w.v);
  check(sg_store_writable(st));

  /* a page of the timeline, as /api/collab/timeline asks for it */
  double a = soulgw_json_number(soulgw_json_get(body, "after"), -1);
  double l = soulgw_json_number(soulgw_json_get(body, "limit"), 3);
  long long fa = a >= -1 && a < 1e6 ? (long long)a : -1;
  int fl = l >= 1 && l <= 1000 ? (int)l : 3;
  soulgw_json *page = NULL;
  sg_st r = sg_store_collab_timeline(st, tenant, id, fa, fl, &page);
  check(r == SG_ST_OK || r == SG_ST_NOTFOUND);
  if (r == SG_ST_OK) {
    reads_back(page);
    check(soulgw_json_size(soulgw_json_get(page, "timeline")) <= (size_t)fl);
  }
  soulgw_json_free(page);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sg_store *st;
  static unsigned runs;
  if (st && runs % 256 == 0) {
    sg_store_close(st);
    st = NULL;
  }
  if (!st) {
    char err[256];
    sg_store_opts o = {.path = ":memory:"};
    if (sg_store_open(&o, &st, err, sizeof err) != 0) return 0;
  }
  snprintf(tenant, sizeof tenant, "t%u", runs++);
  size_t pos = 0;
  for (int n = 0; pos < size && n < 32; n++) {
    const uint8_t *nul = memchr(data + pos, 0, size - pos);
    size_t len = nul ? (size_t)(nul - (data + pos)) : size - pos;
    soulgw_json *body = NULL;
    if (soulgw_json_parse((const char *)data + pos, len, &body, NULL, 0) == 0 &&
        soulgw_json_typeof(body) == SOULGW_JSON_OBJECT)
      run_one(st, body);
    soulgw_json_free(body);
    pos += len + 1;
  }
  return 0;
}

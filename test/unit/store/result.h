/*
 * result.h -- what the store's unit suites share: a write's completion waited for, and JSON
 * from text.
 */
#ifndef TEST_STORE_RESULT_H
#define TEST_STORE_RESULT_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "store/store.h"

/* A write, waited for. */
typedef struct result {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  sg_st st;
  soulgw_json *v;
  char msg[256];
} result;

static inline void init_result(result *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
}

/* The sg_store_done of a result (ud). */
static inline void on_done(void *ud, sg_st st, soulgw_json *v, const char *msg) {
  result *r = ud;
  pthread_mutex_lock(&r->lock);
  r->st = st;
  r->v = v;
  snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
  r->done = 1;
  pthread_cond_signal(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

static inline void wait_result(result *r) {
  pthread_mutex_lock(&r->lock);
  while (!r->done) pthread_cond_wait(&r->cond, &r->lock);
  pthread_mutex_unlock(&r->lock);
}

static inline void free_result(result *r) {
  soulgw_json_free(r->v);
  r->v = NULL;
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->cond);
}

/* text parsed (NULL when it is not JSON). */
static inline soulgw_json *J(const char *text) {
  soulgw_json *v = NULL;
  soulgw_json_parse(text, strlen(text), &v, NULL, 0);
  return v;
}

#endif

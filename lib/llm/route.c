/*
 * route.c -- model aliases, [llm.models.NAME] (SPEC-llm-routing §1): a client names an alias
 * where it names "provider:model", and the call goes to the alias's targets by its strategy.
 *
 * fallback tries the targets in order; loadbalance first picks one by smooth weighted round
 * robin (each pick adds every weight to its target's current value, takes the largest and
 * takes the sum of weights from it, so shares are exact over any window of sum(weights)
 * picks), then the remaining targets in order.  A failure whose class the alias's fallback_on
 * lists moves to the next target while nothing has been streamed to the client; any other
 * failure is answered at once.
 *
 * Cooldown: each target (by its "provider:model" name, shared by every alias and kept across
 * reloads, so unchanged targets keep their state) counts its consecutive fallback-class
 * failures; at cooldown_after it is skipped for cooldown_s.  When every target is cooling
 * down, the first is tried anyway.  The state lives in sg_llm_routes, owned by the gateway and
 * guarded by one mutex held only for a few comparisons.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "llm/provider.h"

typedef struct target_state {
  char *name;
  long long fails;   /* consecutive failures of a fallback_on class */
  uint64_t until_ns; /* cooling down until then (0: not) */
  struct target_state *next;
} target_state;

typedef struct alias_state {
  char *name;
  size_t n;
  long long weights[SG_MODEL_TARGETS_MAX], current[SG_MODEL_TARGETS_MAX];
  struct alias_state *next;
} alias_state;

struct sg_llm_routes {
  pthread_mutex_t mu;
  target_state *targets;
  alias_state *aliases;
};

sg_llm_routes *sg_llm_routes_new(void) {
  sg_llm_routes *r = calloc(1, sizeof *r);
  if (r) pthread_mutex_init(&r->mu, NULL);
  return r;
}

void sg_llm_routes_free(sg_llm_routes *r) {
  if (!r) return;
  for (target_state *t = r->targets, *n; t; t = n) {
    n = t->next;
    free(t->name);
    free(t);
  }
  for (alias_state *a = r->aliases, *n; a; a = n) {
    n = a->next;
    free(a->name);
    free(a);
  }
  pthread_mutex_destroy(&r->mu);
  free(r);
}

/* Under the lock: the state of target name, made on first use (NULL when out of memory). */
static target_state *target_of(sg_llm_routes *r, const char *name) {
  for (target_state *t = r->targets; t; t = t->next)
    if (strcmp(t->name, name) == 0) return t;
  target_state *t = calloc(1, sizeof *t);
  if (!t || !(t->name = strdup(name))) {
    free(t);
    return NULL;
  }
  t->next = r->targets;
  r->targets = t;
  return t;
}

/* The index of the next loadbalance pick for alias m. */
static size_t pick(sg_llm_routes *r, const sg_model_conf *m) {
  size_t n = m->targets.n, best = 0;
  long long w[SG_MODEL_TARGETS_MAX], total = 0;
  for (size_t i = 0; i < n; i++) total += w[i] = m->nweights ? m->weights[i] : 1;
  pthread_mutex_lock(&r->mu);
  alias_state *a = r->aliases;
  while (a && strcmp(a->name, m->name) != 0) a = a->next;
  if (!a && (a = calloc(1, sizeof *a)) && !(a->name = strdup(m->name))) {
    free(a);
    a = NULL;
  } else if (a && !a->n) {
    a->next = r->aliases;
    r->aliases = a;
  }
  if (a && (a->n != n || memcmp(a->weights, w, n * sizeof *w) != 0)) {
    /* new, or its weights changed with a reload: start over */
    a->n = n;
    memcpy(a->weights, w, n * sizeof *w);
    memset(a->current, 0, sizeof a->current);
  }
  if (a) {
    for (size_t i = 0; i < n; i++) {
      a->current[i] += w[i];
      if (a->current[i] > a->current[best]) best = i;
    }
    a->current[best] -= total;
  }
  pthread_mutex_unlock(&r->mu);
  return best;
}

static int cooling(sg_llm_routes *r, const char *target, uint64_t now) {
  pthread_mutex_lock(&r->mu);
  target_state *t = target_of(r, target);
  int c = t && t->until_ns > now;
  pthread_mutex_unlock(&r->mu);
  return c;
}

/* Records a call's outcome for target; returns 1 when a cooldown began. */
static int note(sg_llm_routes *r, const sg_model_conf *m, const char *target, int failed) {
  int began = 0;
  pthread_mutex_lock(&r->mu);
  target_state *t = target_of(r, target);
  if (t && !failed) t->fails = 0;
  if (t && failed && ++t->fails >= m->cooldown_after) {
    t->fails = 0;
    t->until_ns = sg_now_ns() + (uint64_t)m->cooldown_s * 1000000000ULL;
    began = 1;
  }
  pthread_mutex_unlock(&r->mu);
  return began;
}

static int listed(const sg_model_conf *m, sg_llm_fclass c) {
  static const char *const names[] = {"", "connect", "timeout", "429", "5xx"};
  if (c == SG_LLM_F_OTHER) return 0;
  for (size_t i = 0; i < m->fallback_on.n; i++)
    if (strcmp(m->fallback_on.v[i], names[c]) == 0) return 1;
  return 0;
}

const sg_model_conf *sg_llm_alias(const sg_llm_call *call, const char *model) {
  for (const sg_model_conf *m = call->models; m && model; m = m->next)
    if (strcmp(m->name, model) == 0) return m;
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* One call through an alias */

typedef struct route_run {
  sg_llm_call call;
  sg_llm_params p;
  const sg_llm_ops *ops;
  void *ud;
  sg_llm_ops wrap;
  const sg_model_conf *m;
  size_t order[SG_MODEL_TARGETS_MAX], norder, at;
  int sent; /* a delta went to the client: no more fallback */
  sg_llm_relay_req rreq; /* relays: the request, its body copied, and where the answer goes */
  char *rbody;
  const sg_llm_relay_ops *rops;
  sg_llm_relay_ops rwrap;
  soulgw_json *texts; /* embeddings: a copy of the texts, and where the answer goes */
  int normalize;
  sg_llm_embed_fn edone;
} route_run;

static void run_free(route_run *x) {
  soulgw_json_free(x->texts);
  free(x->rbody);
  free(x);
}

static void count(const sg_llm_env *env, const char *model, const char *target,
                  const char *outcome) {
  const char *v[3] = {model, target, outcome};
  sg_family_add(env->routed, v, 1);
}

static void run_embed_done(void *ud, sg_llm_embedding *r);

static void try_target(route_run *x) {
  x->p.model = x->m->targets.v[x->order[x->at]];
  if (x->rops) {
    x->rreq.model = x->p.model;
    if (sg_llm_relay(&x->call, &x->rreq, &x->rwrap, x) != 0) {
      /* checked before: cannot happen */
      sg_llm_relay_result f = {.failed = 1, .error = SOULGW_API_PROVIDER_UNAVAILABLE,
                               .message = "the target does not relay"};
      x->rwrap.done(x, &f);
    }
  } else if (x->edone)
    sg_llm_embed(&x->call, x->p.model, x->texts, x->normalize, run_embed_done, x);
  else
    sg_llm_complete(&x->call, &x->p, &x->wrap, x);
}

static int run_delta(void *ud, const char *text, size_t len) {
  route_run *x = ud;
  if (!x->sent && x->ops->serving) x->ops->serving(x->ud, x->p.model);
  x->sent = 1;
  return x->ops->delta(x->ud, text, len);
}

/* After target's answer: 1 when the call moved on to the next target (the answer is
 * dropped), else 0 (the answer goes to the client).  Counts and notes either way. */
static int moved_on(route_run *x, int failed, sg_llm_fclass fclass) {
  const sg_llm_env *env = x->call.env;
  const char *target = x->p.model;
  int eligible = failed && listed(x->m, fclass);
  if (note(env->routes, x->m, target, eligible)) {
    const char *v[1] = {target};
    sg_family_add(env->cooldowns, v, 1);
  }
  if (eligible && !x->sent && x->at + 1 < x->norder) {
    const char *next = x->m->targets.v[x->order[x->at + 1]];
    const char *v[3] = {x->m->name, target, next};
    count(env, x->m->name, target, "fallback");
    sg_family_add(env->fallbacks, v, 1);
    sg_log(env->log, SOULGW_LOG_INFO, "model fallback", SG_S("model", x->m->name),
           SG_S("from", target), SG_S("to", next), SG_S("request_id", x->call.request_id));
    x->at++;
    try_target(x);
    return 1;
  }
  count(env, x->m->name, target, failed ? "error" : "ok");
  return 0;
}

static void run_embed_done(void *ud, sg_llm_embedding *r) {
  route_run *x = ud;
  if (moved_on(x, r->failed, r->fclass)) {
    soulgw_json_free(r->vectors); /* a failure's, NULL */
    return;
  }
  r->served = x->p.model;
  sg_llm_embed_fn done = x->edone;
  void *cud = x->ud;
  run_free(x);
  done(cud, r);
}

static void run_done(void *ud, const sg_llm_result *r) {
  route_run *x = ud;
  const char *target = x->p.model;
  if (moved_on(x, r->failed, r->fclass)) return;
  sg_llm_result out = *r;
  out.served = target;
  const sg_llm_ops *ops = x->ops;
  void *cud = x->ud;
  run_free(x);
  ops->done(cud, &out);
}

/* The targets to try, in order: the strategy's, without those cooling down (all cooling: the
 * first alone). */
static void plan(route_run *x) {
  const sg_model_conf *m = x->m;
  size_t all[SG_MODEL_TARGETS_MAX], n = 0, first = 0;
  if (strcmp(m->strategy, "loadbalance") == 0) first = pick(x->call.env->routes, m);
  all[n++] = first;
  for (size_t i = 0; i < m->targets.n && i < SG_MODEL_TARGETS_MAX; i++)
    if (i != first) all[n++] = i;
  uint64_t now = sg_now_ns();
  x->norder = 0;
  for (size_t i = 0; i < n; i++)
    if (!cooling(x->call.env->routes, m->targets.v[all[i]], now)) x->order[x->norder++] = all[i];
  if (x->norder == 0) x->order[x->norder++] = all[0];
}

void sg_llm_route_complete(const sg_llm_call *call, const sg_llm_params *p,
                           const sg_llm_ops *ops, void *ud) {
  const sg_model_conf *m = strchr(p->model, ':') ? NULL : sg_llm_alias(call, p->model);
  if (!m) {
    sg_llm_complete(call, p, ops, ud);
    return;
  }
  route_run *x = calloc(1, sizeof *x);
  if (!x) {
    sg_llm_fail(ops, ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  x->call = *call;
  x->p = *p;
  x->ops = ops;
  x->ud = ud;
  x->wrap.done = run_done;
  x->wrap.delta = ops->delta ? run_delta : NULL;
  x->m = m;
  plan(x);
  try_target(x);
}

void sg_llm_route_embed(const sg_llm_call *call, const char *model, const soulgw_json *texts,
                        int normalize, sg_llm_embed_fn done, void *ud) {
  const sg_model_conf *m = strchr(model, ':') ? NULL : sg_llm_alias(call, model);
  if (!m) {
    sg_llm_embed(call, model, texts, normalize, done, ud);
    return;
  }
  route_run *x = calloc(1, sizeof *x);
  if (!x || !(x->texts = soulgw_json_dup(texts))) {
    free(x);
    sg_llm_embed_fail(done, ud, SOULGW_API_UNKNOWN_INTERNAL, "out of memory");
    return;
  }
  x->call = *call;
  x->ud = ud;
  x->edone = done;
  x->normalize = normalize;
  x->m = m;
  plan(x);
  try_target(x);
}

static void run_relay_done(void *ud, sg_llm_relay_result *r) {
  route_run *x = ud;
  if (moved_on(x, r->failed, r->fclass)) {
    free(r->body); /* a failure's, NULL */
    return;
  }
  r->served = x->p.model;
  const sg_llm_relay_ops *ops = x->rops;
  void *cud = x->ud;
  run_free(x);
  ops->done(cud, r);
}

static int run_relay_event(void *ud, const char *data, size_t len) {
  route_run *x = ud;
  if (!x->sent && x->rops->serving) x->rops->serving(x->ud, x->p.model);
  x->sent = 1;
  return x->rops->event(x->ud, data, len);
}

int sg_llm_route_relay(const sg_llm_call *call, const sg_llm_relay_req *r,
                       const sg_llm_relay_ops *ops, void *ud) {
  const sg_model_conf *m = strchr(r->model, ':') ? NULL : sg_llm_alias(call, r->model);
  if (!m) return sg_llm_relay(call, r, ops, ud);
  for (size_t i = 0; i < m->targets.n; i++)
    if (!sg_llm_relays(call, m->targets.v[i])) return SOULGW_ENOTFOUND;
  route_run *x = calloc(1, sizeof *x);
  if (!x || !(x->rbody = malloc(r->len + 1))) {
    free(x);
    return SOULGW_ENOTFOUND; /* the other way, which answers out of memory if it must */
  }
  memcpy(x->rbody, r->body, r->len);
  x->rbody[r->len] = '\0';
  x->rreq = *r;
  x->rreq.body = x->rbody;
  x->rreq.answer_model = r->model;
  x->call = *call;
  x->ud = ud;
  x->rops = ops;
  x->rwrap.done = run_relay_done;
  x->rwrap.event = run_relay_event;
  x->m = m;
  plan(x);
  try_target(x);
  return 0;
}

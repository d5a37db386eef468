/*
 * redis.c -- the Redis client of redis.h, and the only file that calls hiredis.
 *
 * Connections.  pool slots, each a hiredis context used by one thread at a time (taken from the
 * free list under the client's lock), opened on first use and closed when a command on it fails
 * at the connection.  A slot whose context was opened before the last "up" is closed and opened
 * again, so that no request meets a connection Redis dropped while it was away.
 *
 * State.  up is an atomic; mark() flips it and logs the change once.  While down, commands fail
 * at once; the monitor thread, with a context of its own, PINGs every second while up (so that
 * /health sees Redis go away with no traffic) and reconnects with backoff while down.
 */
#include <dlfcn.h>
#include <errno.h>
#include <hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/crypto.h"
#include "base/sg.h"
#include "clients/redis.h"

#define MAX_SCRIPTS 8
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define PING_EVERY_MS 1000

/* hiredis is loaded when the first connection is opened rather than linked, so that a gateway
 * without [cluster] Redis, and an embedder of libsoulgw, need not have it.  The table holds
 * every hiredis function this file calls, each member named and typed as the function;
 * SOULGW_LIBHIREDIS names another file to load (tests use it to make hiredis unloadable). */
#define HI_FUNCS(X)                                                                           \
  X(freeReplyObject) X(redisCommandArgv) X(redisConnectWithTimeout) X(redisEnableKeepAlive)   \
  X(redisFree) X(redisSetTimeout)

static struct {
  void *so;
#define X(f) __typeof__(f) *f;
  HI_FUNCS(X)
#undef X
} hi;

static pthread_once_t hi_once = PTHREAD_ONCE_INIT;
static char hi_error[256]; /* why hiredis could not be loaded; "" once it is */

static void hi_load_once(void) {
  const char *name = getenv("SOULGW_LIBHIREDIS");
  hi.so = dlopen(name && *name ? name : "libhiredis.so.0.14", RTLD_NOW | RTLD_LOCAL);
  const char *why = hi.so ? NULL : dlerror();
  /* POSIX: a function pointer read through a void * (dlsym's type) via memcpy */
#define X(f)                                                                                  \
  if (!why) {                                                                                 \
    void *p_ = dlsym(hi.so, #f);                                                              \
    if (p_) memcpy(&hi.f, &p_, sizeof p_);                                                    \
    else why = dlerror();                                                                     \
  }
  HI_FUNCS(X)
#undef X
  if (why)
    snprintf(hi_error, sizeof hi_error, "Redis needs hiredis (Debian: libhiredis0.14): %s", why);
}

/* freeReplyObject, which may meet a NULL reply before hiredis was loaded (Redis down). */
static void free_reply(redisReply *rep) {
  if (rep) hi.freeReplyObject(rep);
}

/* Loads hiredis once: NULL, or why it cannot be loaded. */
static const char *hi_load(void) {
  pthread_once(&hi_once, hi_load_once);
  return hi_error[0] ? hi_error : NULL;
}

typedef struct slot {
  redisContext *ctx;
  unsigned gen; /* the client's generation when ctx was opened */
  struct slot *next_free;
} slot;

typedef struct script {
  const char *source;
  char sha[41]; /* "" until loaded once */
} script;

struct sg_redis {
  /* from the URI */
  char *host, *user, *password;
  int port, db;
  char address[300];
  int timeout_ms;
  sg_log *log;
  sg_family *errors;

  pthread_mutex_t lock; /* the free list, scripts, gen */
  pthread_cond_t freed;
  slot *slots, *free_slots;
  int nslots;
  script scripts[MAX_SCRIPTS];
  int nscripts;
  unsigned gen;
  atomic_int up;
  atomic_int ever; /* a state was logged once: the first "down" at start is logged too */

  pthread_t monitor;
  pthread_mutex_t mlock;
  pthread_cond_t mcond; /* wakes the monitor: stop, or a command found Redis down */
  int stopping, started;
};

/* ------------------------------------------------------------------------------------------ */
/* The URI */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A copy of s[0..n) with %XX decoded (a stray % is kept), or NULL when out of memory. */
static char *decode(const char *s, size_t n) {
  char *out = malloc(n + 1), *o = out;
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else {
      *o++ = s[i];
    }
  }
  *o = '\0';
  return out;
}

/* redis://[[user]:password@]host[:port][/db].  0, or -1 with err (never quoting the URI). */
static int parse_url(sg_redis *r, const char *url, char *err, size_t errlen) {
  if (strncmp(url, "redis://", 8) != 0) {
    snprintf(err, errlen, "the Redis URL must start with redis://");
    return -1;
  }
  const char *p = url + 8, *at = strrchr(p, '@'), *slash;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon) colon = at; /* redis://password@host: the password alone */
    if (colon == at) {
      r->password = decode(p, (size_t)(at - p));
    } else {
      if (colon > p) r->user = decode(p, (size_t)(colon - p));
      r->password = decode(colon + 1, (size_t)(at - colon - 1));
    }
    if (!r->password) goto bad;
    p = at + 1;
  }
  slash = strchr(p, '/');
  size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
  const char *portsep = NULL;
  if (*p == '[') { /* [IPv6]:port */
    const char *close = memchr(p, ']', hostport);
    if (!close) goto bad;
    r->host = decode(p + 1, (size_t)(close - p - 1));
    if (close + 1 < p + hostport && close[1] == ':') portsep = close + 1;
  } else {
    portsep = memchr(p, ':', hostport);
    r->host = decode(p, portsep ? (size_t)(portsep - p) : hostport);
  }
  if (!r->host || !*r->host) goto bad;
  r->port = 6379;
  if (portsep) {
    char *end;
    long port = strtol(portsep + 1, &end, 10);
    if (end != p + hostport || port < 1 || port > 65535) goto bad;
    r->port = (int)port;
  }
  if (slash && slash[1]) {
    char *end;
    long db = strtol(slash + 1, &end, 10);
    if (*end || db < 0 || db > 100000) goto bad;
    r->db = (int)db;
  }
  snprintf(r->address, sizeof r->address, "%s:%d", r->host, r->port);
  return 0;
bad:
  snprintf(err, errlen, "the Redis URL is not of the form redis://[:password@]host[:port][/db]");
  return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* State */

static int64_t mono_ms(void) { return (int64_t)(sg_now_ns() / 1000000); }

static void count_error(sg_redis *r) {
  if (r->errors) sg_family_add(r->errors, NULL, 1);
}

/* Sets the state; logs a change (and the first state, when it is down). */
static void mark(sg_redis *r, int up, const char *why) {
  int was = atomic_exchange(&r->up, up);
  int first = !atomic_exchange(&r->ever, 1);
  if (was == up && !(first && !up)) return;
  if (up) {
    pthread_mutex_lock(&r->lock);
    r->gen++; /* connections opened before are suspect */
    pthread_mutex_unlock(&r->lock);
    if (r->log) sg_log(r->log, SOULGW_LOG_INFO, "redis up", SG_S("redis", r->address));
  } else {
    if (r->log)
      sg_log(r->log, SOULGW_LOG_WARN, "redis down", SG_S("redis", r->address),
             SG_S("error", why ? why : "unreachable"));
    pthread_mutex_lock(&r->mlock);
    pthread_cond_signal(&r->mcond);
    pthread_mutex_unlock(&r->mlock);
  }
}

int sg_redis_up(const sg_redis *r) { return r ? atomic_load(&r->up) : 0; }

const char *sg_redis_address(const sg_redis *r) { return r ? r->address : ""; }

/* ------------------------------------------------------------------------------------------ */
/* Connections */

static struct timeval tv_of(int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  return tv;
}

/* A reply to argv, or NULL when the connection failed (*why set, in a buffer of the thread's
 * that outlives the context; the context is unusable). */
static redisReply *command(redisContext *c, int argc, const char **argv, const char **why) {
  static __thread char buf[128];
  redisReply *rep = hi.redisCommandArgv(c, argc, argv, NULL);
  if (!rep) {
    snprintf(buf, sizeof buf, "%s",
             c->err == REDIS_ERR_IO && errno == EAGAIN ? "timed out" : c->errstr);
    *why = buf;
  }
  return rep;
}

/* A reply that is the error "PREFIX ...". */
static int is_error(const redisReply *rep, const char *prefix) {
  return rep->type == REDIS_REPLY_ERROR && rep->str &&
         strncmp(rep->str, prefix, strlen(prefix)) == 0;
}

/* AUTH and SELECT on a fresh connection: 0, or -1 with *why. */
static int handshake(sg_redis *r, redisContext *c, const char **why) {
  char db[16];
  const char *auth[3] = {"AUTH", r->user ? r->user : r->password, r->password};
  const char *sel[2] = {"SELECT", db};
  snprintf(db, sizeof db, "%d", r->db);
  if (r->password) {
    redisReply *rep = command(c, r->user ? 3 : 2, auth, why);
    int bad = !rep || rep->type == REDIS_REPLY_ERROR;
    if (rep && bad) *why = "authentication refused";
    free_reply(rep);
    if (bad) return -1;
  }
  if (r->db) {
    redisReply *rep = command(c, 2, sel, why);
    int bad = !rep || rep->type == REDIS_REPLY_ERROR;
    if (rep && bad) *why = "SELECT refused";
    free_reply(rep);
    if (bad) return -1;
  }
  return 0;
}

/* A connected context, or NULL with *why. */
static redisContext *open_ctx(sg_redis *r, const char **why) {
  if ((*why = hi_load())) return NULL;
  redisContext *c = hi.redisConnectWithTimeout(r->host, r->port, tv_of(r->timeout_ms));
  if (!c) {
    *why = "out of memory";
    return NULL;
  }
  if (c->err) {
    static __thread char buf1[128];
    snprintf(buf1, sizeof buf1, "%s", c->errstr);
    *why = buf1;
    hi.redisFree(c);
    return NULL;
  }
  hi.redisSetTimeout(c, tv_of(r->timeout_ms));
  hi.redisEnableKeepAlive(c);
  if (handshake(r, c, why)) { /* *why is static or the thread's: it outlives c */
    hi.redisFree(c);
    return NULL;
  }
  return c;
}

/* A slot with a live-looking context, or NULL (down, or it could not connect: marked down). */
static slot *take(sg_redis *r) {
  if (!atomic_load(&r->up)) return NULL;
  pthread_mutex_lock(&r->lock);
  while (!r->free_slots) pthread_cond_wait(&r->freed, &r->lock);
  slot *s = r->free_slots;
  r->free_slots = s->next_free;
  unsigned gen = r->gen;
  pthread_mutex_unlock(&r->lock);
  if (s->ctx && s->gen != gen) {
    hi.redisFree(s->ctx);
    s->ctx = NULL;
  }
  if (!s->ctx) {
    const char *why = NULL;
    if (!(s->ctx = open_ctx(r, &why))) {
      count_error(r);
      mark(r, 0, why);
    }
    s->gen = gen;
  }
  return s;
}

/* Gives s back; broken: its context failed and is closed. */
static void give(sg_redis *r, slot *s, int broken) {
  if (broken && s->ctx) {
    hi.redisFree(s->ctx);
    s->ctx = NULL;
  }
  pthread_mutex_lock(&r->lock);
  s->next_free = r->free_slots;
  r->free_slots = s;
  pthread_cond_signal(&r->freed);
  pthread_mutex_unlock(&r->lock);
}

/* Runs argv on a pooled connection: the reply (to free), or NULL (down or failed: counted, and
 * marked down when the connection failed). */
static redisReply *run(sg_redis *r, int argc, const char **argv) {
  slot *s = take(r);
  if (!s) return NULL;
  if (!s->ctx) {
    give(r, s, 0);
    return NULL;
  }
  const char *why = NULL;
  redisReply *rep = command(s->ctx, argc, argv, &why);
  if (!rep) {
    count_error(r);
    mark(r, 0, why);
  }
  give(r, s, rep == NULL);
  return rep;
}

/* ------------------------------------------------------------------------------------------ */
/* Commands */

int sg_redis_script(sg_redis *r, const char *source) {
  pthread_mutex_lock(&r->lock);
  int id = -1;
  for (int i = 0; i < r->nscripts && id < 0; i++)
    if (r->scripts[i].source == source) id = i;
  if (id < 0 && r->nscripts < MAX_SCRIPTS) r->scripts[id = r->nscripts++] = (script){.source = source};
  pthread_mutex_unlock(&r->lock);
  return id;
}

/* SCRIPT LOAD of script id: 0 with its sha in sha, or -1. */
static int load_script(sg_redis *r, int id, char sha[41]) {
  const char *argv[3] = {"SCRIPT", "LOAD", r->scripts[id].source};
  redisReply *rep = run(r, 3, argv);
  int ok = rep && rep->type == REDIS_REPLY_STRING && rep->len == 40;
  if (ok) {
    memcpy(sha, rep->str, 40);
    sha[40] = '\0';
    pthread_mutex_lock(&r->lock);
    memcpy(r->scripts[id].sha, sha, 41);
    pthread_mutex_unlock(&r->lock);
  } else if (rep) {
    count_error(r);
    if (r->log) sg_log(r->log, SOULGW_LOG_ERROR, "redis refused a script", SG_S("redis", r->address),
                       SG_S("error", rep->str ? rep->str : "not a SHA1"));
  }
  free_reply(rep);
  return ok ? 0 : -1;
}

int sg_redis_eval_int(sg_redis *r, int id, int nkeys, const char *const *keys, int nargs,
                      const char *const *args, long long *out) {
  if (!r || id < 0 || id >= MAX_SCRIPTS || nkeys < 0 || nargs < 0 || nkeys + nargs > 16)
    return -1;
  char sha[41], n[16];
  pthread_mutex_lock(&r->lock);
  memcpy(sha, r->scripts[id].sha, sizeof sha);
  pthread_mutex_unlock(&r->lock);
  if (!sha[0] && load_script(r, id, sha)) return -1;
  const char *argv[19] = {"EVALSHA", sha, n};
  snprintf(n, sizeof n, "%d", nkeys);
  for (int i = 0; i < nkeys; i++) argv[3 + i] = keys[i];
  for (int i = 0; i < nargs; i++) argv[3 + nkeys + i] = args[i];
  redisReply *rep = run(r, 3 + nkeys + nargs, argv);
  if (rep && is_error(rep, "NOSCRIPT")) { /* Redis restarted and forgot it */
    free_reply(rep);
    rep = load_script(r, id, sha) ? NULL : run(r, 3 + nkeys + nargs, argv);
  }
  int ok = rep && rep->type == REDIS_REPLY_INTEGER;
  if (ok) {
    *out = rep->integer;
  } else if (rep) {
    count_error(r);
    if (r->log) sg_log(r->log, SOULGW_LOG_ERROR, "redis script failed", SG_S("redis", r->address),
                       SG_S("error", rep->type == REDIS_REPLY_ERROR && rep->str ? rep->str
                                                                              : "not an integer"));
  }
  free_reply(rep);
  return ok ? 0 : -1;
}

int sg_redis_set_nx_px(sg_redis *r, const char *key, long long px) {
  if (!r) return -1;
  char ms[24];
  snprintf(ms, sizeof ms, "%lld", px > 0 ? px : 1);
  const char *argv[6] = {"SET", key, "1", "NX", "PX", ms};
  redisReply *rep = run(r, 6, argv);
  int rc = -1;
  if (rep && rep->type == REDIS_REPLY_STATUS) rc = 1; /* OK */
  else if (rep && rep->type == REDIS_REPLY_NIL) rc = 0;
  else if (rep) count_error(r);
  free_reply(rep);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The monitor */

/* Waits on the monitor's condition for ms, or until stopping: 1 when stopping. */
static int nap(sg_redis *r, int ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&r->mlock);
  if (!r->stopping) pthread_cond_timedwait(&r->mcond, &r->mlock, &until);
  int stop = r->stopping;
  pthread_mutex_unlock(&r->mlock);
  return stop;
}

/* PING on c (opened when NULL): 0 when Redis answered, else -1 with *why and *c closed. */
static int check(sg_redis *r, redisContext **c, const char **why) {
  if (!*c && !(*c = open_ctx(r, why))) return -1;
  const char *argv[1] = {"PING"};
  redisReply *rep = command(*c, 1, argv, why);
  int ok = rep && rep->type == REDIS_REPLY_STATUS;
  if (rep && !ok) *why = rep->str ? "PING refused" : "PING answered oddly";
  free_reply(rep);
  if (!ok) {
    hi.redisFree(*c);
    *c = NULL;
  }
  return ok ? 0 : -1;
}

static void *monitor(void *ud) {
  sg_redis *r = ud;
  redisContext *c = NULL;
  int backoff = 0;
  do {
    const char *why = NULL;
    int was_up = atomic_load(&r->up);
    if (check(r, &c, &why) == 0) {
      backoff = 0;
      if (!was_up) mark(r, 1, NULL);
    } else {
      if (was_up || !atomic_load(&r->ever)) count_error(r);
      mark(r, 0, why);
      backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
      if (backoff > BACKOFF_MAX_MS) backoff = BACKOFF_MAX_MS;
    }
  } while (!nap(r, atomic_load(&r->up) ? PING_EVERY_MS : backoff));
  if (c) hi.redisFree(c);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Life */

int sg_redis_new(const sg_redis_opts *o, sg_redis **out, char *err, size_t errlen) {
  *out = NULL;
  sg_redis *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->freed, NULL);
  pthread_mutex_init(&r->mlock, NULL);
  pthread_cond_init(&r->mcond, NULL);
  r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 1000;
  r->log = o->log;
  r->errors = o->errors;
  r->nslots = o->pool > 0 ? o->pool : 4;
  if (!o->url || parse_url(r, o->url, err, errlen)) {
    if (!o->url) snprintf(err, errlen, "no Redis URL");
    sg_redis_free(r);
    return -1;
  }
  if (!(r->slots = calloc((size_t)r->nslots, sizeof *r->slots))) {
    snprintf(err, errlen, "out of memory");
    sg_redis_free(r);
    return -1;
  }
  for (int i = 0; i < r->nslots; i++) {
    r->slots[i].next_free = r->free_slots;
    r->free_slots = &r->slots[i];
  }
  if (pthread_create(&r->monitor, NULL, monitor, r) != 0) {
    snprintf(err, errlen, "cannot start the Redis monitor thread");
    sg_redis_free(r);
    return -1;
  }
  r->started = 1;
  *out = r;
  return 0;
}

int sg_redis_wait_up(sg_redis *r, int timeout_ms) {
  int64_t until = mono_ms() + timeout_ms;
  while (!sg_redis_up(r) && mono_ms() < until) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return sg_redis_up(r);
}

static void wipe_free(char *s) {
  if (s) sg_wipe(s, strlen(s));
  free(s);
}

void sg_redis_free(sg_redis *r) {
  if (!r) return;
  if (r->started) {
    pthread_mutex_lock(&r->mlock);
    r->stopping = 1;
    pthread_cond_signal(&r->mcond);
    pthread_mutex_unlock(&r->mlock);
    pthread_join(r->monitor, NULL);
  }
  for (int i = 0; r->slots && i < r->nslots; i++)
    if (r->slots[i].ctx) hi.redisFree(r->slots[i].ctx);
  free(r->slots);
  free(r->host);
  wipe_free(r->user);
  wipe_free(r->password);
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->freed);
  pthread_mutex_destroy(&r->mlock);
  pthread_cond_destroy(&r->mcond);
  free(r);
}

/*
 * session.c -- the MCP session table (see session.h): a hash of sessions by id, chained, that
 * doubles as it fills, and a list of the same sessions from the most to the least recently
 * used, from whose tail the idle ones are swept.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/sg.h"
#include "routes/mcp/session.h"

typedef struct session {
  char id[SG_MCP_SESSION_ID_LEN + 1];
  const char *principal, *tenant; /* in the same allocation, after the struct; "" for none */
  const char *revision;
  uint64_t last; /* sg_now_ns() of its last use */
  struct session *hnext;       /* its hash chain */
  struct session *newer, *older; /* the recency list */
} session;

struct sg_mcp_sessions {
  pthread_mutex_t lock;
  session **buckets;
  size_t nbuckets; /* a power of two */
  size_t count;
  session *newest, *oldest;
};

#define BUCKETS_MIN 64

sg_mcp_sessions *sg_mcp_sessions_new(void) {
  sg_mcp_sessions *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  if (!(t->buckets = calloc(BUCKETS_MIN, sizeof *t->buckets))) {
    free(t);
    return NULL;
  }
  t->nbuckets = BUCKETS_MIN;
  pthread_mutex_init(&t->lock, NULL);
  return t;
}

void sg_mcp_sessions_free(sg_mcp_sessions *t) {
  if (!t) return;
  for (session *s = t->newest, *next; s; s = next) {
    next = s->older;
    free(s);
  }
  free(t->buckets);
  pthread_mutex_destroy(&t->lock);
  free(t);
}

/* A well-formed id: exactly SG_MCP_SESSION_ID_LEN lower-case hex digits. */
static int id_ok(const char *id) {
  size_t n = 0;
  for (; id[n]; n++)
    if (n >= SG_MCP_SESSION_ID_LEN || !((id[n] >= '0' && id[n] <= '9') ||
                                        (id[n] >= 'a' && id[n] <= 'f')))
      return 0;
  return n == SG_MCP_SESSION_ID_LEN;
}

/* FNV-1a of a well-formed id. */
static size_t hash(const char *id) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < SG_MCP_SESSION_ID_LEN; i++)
    h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
  return (size_t)h;
}

static session **slot(sg_mcp_sessions *t, const char *id) {
  session **p = &t->buckets[hash(id) & (t->nbuckets - 1)];
  while (*p && !sg_equal_ct((*p)->id, id, SG_MCP_SESSION_ID_LEN)) p = &(*p)->hnext;
  return p;
}

static void unlink_recency(sg_mcp_sessions *t, session *s) {
  if (s->newer) s->newer->older = s->older;
  else t->newest = s->older;
  if (s->older) s->older->newer = s->newer;
  else t->oldest = s->newer;
  s->newer = s->older = NULL;
}

static void push_newest(sg_mcp_sessions *t, session *s) {
  s->older = t->newest;
  s->newer = NULL;
  if (t->newest) t->newest->newer = s;
  else t->oldest = s;
  t->newest = s;
}

static void drop(sg_mcp_sessions *t, session *s) {
  session **p = slot(t, s->id);
  *p = s->hnext;
  unlink_recency(t, s);
  t->count--;
  free(s);
}

/* now may be a little older than last: another thread may have used the session since. */
static int expired(const session *s, uint64_t now, uint64_t idle_ns) {
  return now > s->last && now - s->last > idle_ns;
}

/* Forgets the sessions idle past the limit, oldest first. */
static void sweep(sg_mcp_sessions *t, uint64_t now, uint64_t idle_ns) {
  while (t->oldest && expired(t->oldest, now, idle_ns)) drop(t, t->oldest);
}

/* Doubles the hash when it holds more sessions than buckets (kept as it is when memory runs
 * out: chains only grow longer). */
static void grow(sg_mcp_sessions *t) {
  if (t->count < t->nbuckets) return;
  size_t n = t->nbuckets * 2;
  session **b = calloc(n, sizeof *b);
  if (!b) return;
  for (size_t i = 0; i < t->nbuckets; i++)
    for (session *s = t->buckets[i], *next; s; s = next) {
      next = s->hnext;
      size_t k = hash(s->id) & (n - 1);
      s->hnext = b[k];
      b[k] = s;
    }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = n;
}

int sg_mcp_session_open(sg_mcp_sessions *t, const char *principal, const char *tenant,
                        const char *revision, long long max, uint64_t idle_ns,
                        char id[SG_MCP_SESSION_ID_LEN + 1]) {
  if (!principal) principal = "";
  if (!tenant) tenant = "";
  size_t np = strlen(principal) + 1, nt = strlen(tenant) + 1;
  session *s = malloc(sizeof *s + np + nt);
  if (!s) return SG_MCP_NOMEM;
  unsigned char bits[SG_MCP_SESSION_ID_LEN / 2];
  sg_random_bytes(bits, sizeof bits);
  sg_hex_encode(s->id, bits, sizeof bits);
  char *p = (char *)(s + 1);
  memcpy(p, principal, np);
  memcpy(p + np, tenant, nt);
  s->principal = p;
  s->tenant = p + np;
  s->revision = revision;
  s->newer = s->older = NULL;
  uint64_t now = sg_now_ns();
  s->last = now;
  pthread_mutex_lock(&t->lock);
  sweep(t, now, idle_ns);
  if (max > 0 && t->count >= (size_t)max) {
    pthread_mutex_unlock(&t->lock);
    free(s);
    return SG_MCP_FULL;
  }
  grow(t);
  session **at = slot(t, s->id); /* 128 random bits: a collision is not expected, but checked */
  if (*at) {
    pthread_mutex_unlock(&t->lock);
    free(s);
    return SG_MCP_NOMEM;
  }
  s->hnext = NULL;
  *at = s;
  push_newest(t, s);
  t->count++;
  pthread_mutex_unlock(&t->lock);
  memcpy(id, s->id, SG_MCP_SESSION_ID_LEN + 1);
  return SG_MCP_OK;
}

/* The live session id, checked against the request (lock held); its outcome in *rc. */
static session *find(sg_mcp_sessions *t, const char *id, const char *principal,
                     const char *tenant, uint64_t now, uint64_t idle_ns, int *rc) {
  *rc = SG_MCP_UNKNOWN;
  if (!id_ok(id)) return NULL;
  session *s = *slot(t, id);
  if (!s) return NULL;
  if (expired(s, now, idle_ns)) {
    drop(t, s);
    return NULL;
  }
  if (strcmp(s->principal, principal ? principal : "") != 0) *rc = SG_MCP_OTHER_PRINCIPAL;
  else if (strcmp(s->tenant, tenant ? tenant : "") != 0) *rc = SG_MCP_OTHER_TENANT;
  else *rc = SG_MCP_OK;
  return s;
}

int sg_mcp_session_use(sg_mcp_sessions *t, const char *id, const char *principal,
                       const char *tenant, uint64_t idle_ns, const char **revision) {
  int rc;
  uint64_t now = sg_now_ns();
  pthread_mutex_lock(&t->lock);
  session *s = find(t, id, principal, tenant, now, idle_ns, &rc);
  if (rc == SG_MCP_OK) {
    s->last = now;
    unlink_recency(t, s);
    push_newest(t, s);
    if (revision) *revision = s->revision;
  }
  pthread_mutex_unlock(&t->lock);
  return rc;
}

int sg_mcp_session_close(sg_mcp_sessions *t, const char *id, const char *principal,
                         const char *tenant, uint64_t idle_ns) {
  int rc;
  pthread_mutex_lock(&t->lock);
  session *s = find(t, id, principal, tenant, sg_now_ns(), idle_ns, &rc);
  if (rc == SG_MCP_OK) drop(t, s);
  pthread_mutex_unlock(&t->lock);
  return rc;
}

size_t sg_mcp_sessions_count(sg_mcp_sessions *t) {
  pthread_mutex_lock(&t->lock);
  size_t n = t->count;
  pthread_mutex_unlock(&t->lock);
  return n;
}

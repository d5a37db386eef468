/*
 * watch.c -- the watcher of watch.h: one thread, inotify on the directories of the watched
 * files (Linux), a periodic comparison of the files' states where inotify cannot be used, and
 * the list of files a configuration snapshot was built from.
 *
 * The thread sleeps in poll() on a wake-up pipe (a new set of files, or stop) and the inotify
 * descriptor.  An event naming a watched file, or a name starting with ".." (Kubernetes' ..data
 * swap), or one that says a watched directory went away, arms a deadline SG_WATCH_DEBOUNCE_MS
 * later, pushed back by each further event; at the deadline the files' states are compared with
 * the last ones and the callback runs once if any differs.  Events for other names in the same
 * directories neither arm nor push the deadline.  Even with inotify, the states are compared
 * every SAFETY_MS, for a file reached through a symlink into a directory not watched.
 *
 * The watches are built again after each reload (a symlink may lead elsewhere now), and the
 * events queued on the old ones are lost with them, so the files are compared once more right
 * after.  A file new to the set has no last state the reload's reading can be checked against:
 * when it changed after the reload began (sg_watch_sync), it counts as changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#endif

#include "conf/watch.h"

#define SAFETY_MS 30000

/* What a file looked like: missing, or its identity, size and times (symlinks followed). */
typedef struct fstate {
  int present;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime;
} fstate;

typedef struct wfile {
  char *path, *dir, *base;
  char *rdir, *rbase; /* where symlinks lead (realpath), when elsewhere, or NULL */
  fstate last;
} wfile;

struct sg_watch {
  sg_watch_fn fn;
  void *ud;
  sg_log *log;
  int force_poll;
  pthread_t thread;
  int wake[2]; /* the pipe that interrupts the thread's poll() */

  pthread_mutex_t lock; /* the set of files, gen, stop */
  wfile *files;
  size_t nfiles;
  unsigned gen; /* bumped by each sg_watch_set() */
  int stop;
  struct timespec synced; /* wall time of the last sg_watch_sync(), or zero */

  /* the thread's own */
  int ifd;      /* inotify, or -1: periodic checks only */
  int *wds;     /* a watch per directory ... */
  char **wdirs; /* ... and its directory */
  size_t nwd;
  int said_poll; /* the "checking periodically" line was logged for this set */
};

/* ------------------------------------------------------------------------------------------ */
/* Files and their states */

static void file_state(const char *path, fstate *s) {
  struct stat st;
  memset(s, 0, sizeof *s);
  if (stat(path, &st) != 0) return;
  s->present = 1;
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  s->size = st.st_size;
  s->mtime = st.st_mtim;
  s->ctime = st.st_ctim;
}

static int same_state(const fstate *a, const fstate *b) {
  if (a->present != b->present) return 0;
  return !a->present ||
         (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
          a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
          a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec);
}

static void files_free(wfile *f, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(f[i].path);
    free(f[i].dir);
    free(f[i].rdir);
    free(f[i].rbase);
  }
  free(f);
}

/* Fills f from path: its copy, its directory ("." for a bare name) and its last name. */
static int file_init(wfile *f, const char *path) {
  memset(f, 0, sizeof *f);
  const char *slash = strrchr(path, '/');
  f->path = sg_strdup(path);
  if (!slash) f->dir = sg_strdup(".");
  else if (slash == path) f->dir = sg_strdup("/");
  else f->dir = sg_strndup(path, (size_t)(slash - path));
  if (!f->path || !f->dir) return SOULGW_ENOMEM;
  f->base = f->path + (slash ? (size_t)(slash - path) + 1 : 0);
  return 0;
}

/* Compares every file with its last state, records the new ones, and copies the first changed
 * file's path into changed (empty when none). */
static void compare(sg_watch *w, char *changed, size_t len) {
  changed[0] = '\0';
  pthread_mutex_lock(&w->lock);
  for (size_t i = 0; i < w->nfiles; i++) {
    fstate now;
    file_state(w->files[i].path, &now);
    if (same_state(&now, &w->files[i].last)) continue;
    if (!changed[0]) snprintf(changed, len, "%s", w->files[i].path);
    w->files[i].last = now;
  }
  pthread_mutex_unlock(&w->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* inotify */

static void watches_clear(sg_watch *w) {
  if (w->ifd >= 0) close(w->ifd);
  w->ifd = -1;
  for (size_t i = 0; i < w->nwd; i++) free(w->wdirs[i]);
  free(w->wds);
  free(w->wdirs);
  w->wds = NULL;
  w->wdirs = NULL;
  w->nwd = 0;
}

/* Watches the directory dir unless it is watched already: 0, or -1 with why set. */
static int watch_dir(sg_watch *w, const char *dir, const char **why) {
#ifdef __linux__
  for (size_t i = 0; i < w->nwd; i++)
    if (strcmp(w->wdirs[i], dir) == 0) return 0;
  int *wds = realloc(w->wds, (w->nwd + 1) * sizeof *wds);
  if (wds) w->wds = wds;
  char **dirs = wds ? realloc(w->wdirs, (w->nwd + 1) * sizeof *dirs) : NULL;
  if (dirs) w->wdirs = dirs;
  char *copy = dirs ? sg_strdup(dir) : NULL;
  if (!copy) {
    *why = "out of memory";
    return -1;
  }
  int wd = inotify_add_watch(w->ifd, dir,
                             IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                 IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
                                 IN_MOVE_SELF | IN_ONLYDIR);
  if (wd < 0) {
    free(copy);
    *why = strerror(errno);
    return -1;
  }
  w->wds[w->nwd] = wd;
  w->wdirs[w->nwd++] = copy;
  return 0;
#else
  (void)w;
  (void)dir;
  *why = "inotify is not available on this system";
  return -1;
#endif
}

/* Finds where f leads through symlinks: 0 with rdir and rbase set when that is another
 * directory or name, else -1. */
static int resolve(wfile *f) {
  free(f->rdir);
  free(f->rbase);
  f->rdir = f->rbase = NULL;
  char *real = realpath(f->path, NULL);
  if (!real) return -1;
  char *slash = strrchr(real, '/');
  *slash = '\0';
  const char *dir = slash == real ? "/" : real;
  if (strcmp(dir, f->dir) != 0 || strcmp(slash + 1, f->base) != 0) {
    f->rdir = sg_strdup(dir);
    f->rbase = sg_strdup(slash + 1);
  }
  free(real);
  if (f->rdir && f->rbase) return 0;
  free(f->rdir);
  free(f->rbase);
  f->rdir = f->rbase = NULL;
  return -1;
}

/* Watches the directories of the current set; on any failure, falls back to periodic checks
 * (ifd -1) with a log line once per set. */
static void watches_build(sg_watch *w) {
  const char *why = "inotify is not available on this system";
  watches_clear(w);
  pthread_mutex_lock(&w->lock);
  size_t n = w->nfiles;
  int ok = !w->force_poll;
  if (w->force_poll) why = "watch_method is \"poll\"";
#ifdef __linux__
  if (ok && n && (w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
    why = strerror(errno);
    ok = 0;
  }
#else
  ok = 0;
#endif
  for (size_t i = 0; ok && i < n; i++)
    if (watch_dir(w, w->files[i].dir, &why) != 0) ok = 0;
  for (size_t i = 0; ok && i < n; i++) /* best effort: the periodic check covers a miss */
    if (resolve(&w->files[i]) == 0 && watch_dir(w, w->files[i].rdir, &why) != 0) {
      free(w->files[i].rdir);
      free(w->files[i].rbase);
      w->files[i].rdir = w->files[i].rbase = NULL;
    }
  pthread_mutex_unlock(&w->lock);
  if (ok) return;
  watches_clear(w);
  if (n && !w->said_poll && w->log)
    sg_log(w->log, SOULGW_LOG_WARN, "watching files by a periodic check",
           SG_S("reason", why), SG_I("interval_ms", SG_WATCH_POLL_MS));
  w->said_poll = 1;
}

/* 1 when an event of directory dir named name concerns a watched file. */
static int concerns(sg_watch *w, const char *dir, const char *name) {
  if (strncmp(name, "..", 2) == 0) return 1; /* Kubernetes' ..data and its siblings */
  int hit = 0;
  pthread_mutex_lock(&w->lock);
  for (size_t i = 0; i < w->nfiles && !hit; i++) {
    const wfile *f = &w->files[i];
    hit = (strcmp(f->dir, dir) == 0 && strcmp(f->base, name) == 0) ||
          (f->rdir && strcmp(f->rdir, dir) == 0 && strcmp(f->rbase, name) == 0);
  }
  pthread_mutex_unlock(&w->lock);
  return hit;
}

/* Reads the pending events: 1 when one concerns the watched files, 2 when a watched directory
 * went away (the watches must be built again), else 0. */
static int read_events(sg_watch *w) {
  int hit = 0;
#ifdef __linux__
  char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    ssize_t len = read(w->ifd, buf, sizeof buf);
    if (len <= 0) break;
    for (char *p = buf; p < buf + len;) {
      const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
      p += sizeof *ev + ev->len;
      if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW)) {
        hit = 2;
        continue;
      }
      /* one directory under two names ("." and its path) has one watch descriptor */
      for (size_t i = 0; i < w->nwd && ev->len && !hit; i++)
        if (w->wds[i] == ev->wd && concerns(w, w->wdirs[i], ev->name)) hit = 1;
    }
  }
#else
  (void)w;
#endif
  return hit;
}

/* ------------------------------------------------------------------------------------------ */
/* The thread */

static int ms_until(uint64_t deadline_ns) {
  uint64_t now = sg_now_ns();
  return deadline_ns <= now ? 0 : (int)((deadline_ns - now) / 1000000u) + 1;
}

static void *run(void *arg) {
  sg_watch *w = arg;
  unsigned built = 0;
  int first = 1;
  uint64_t due = 0;      /* a debounced check, or 0 */
  uint64_t periodic = 0; /* the next periodic check */
  char changed[PATH_MAX + 1];
  for (;;) {
    pthread_mutex_lock(&w->lock);
    int stop = w->stop;
    unsigned gen = w->gen;
    pthread_mutex_unlock(&w->lock);
    if (stop) break;
    if (first || gen != built) {
      if (gen != built) w->said_poll = 0;
      watches_build(w);
      /* the events queued on the watches just replaced are gone: look at the files soon */
      due = sg_now_ns() + (uint64_t)SG_WATCH_DEBOUNCE_MS * 1000000u;
      built = gen;
      first = 0;
      periodic = sg_now_ns() + (uint64_t)(w->ifd < 0 ? SG_WATCH_POLL_MS : SAFETY_MS) * 1000000u;
    }
    uint64_t next = due && due < periodic ? due : periodic;
    struct pollfd p[2] = {{w->wake[0], POLLIN, 0}, {w->ifd, POLLIN, 0}};
    int r = poll(p, w->ifd >= 0 ? 2 : 1, ms_until(next));
    if (r < 0 && errno != EINTR) break;
    if (r > 0 && (p[0].revents & POLLIN)) {
      char drain[64];
      while (read(w->wake[0], drain, sizeof drain) > 0) {
      }
      continue;
    }
    if (r > 0 && w->ifd >= 0 && p[1].revents) {
      int hit = read_events(w);
      if (hit) due = sg_now_ns() + (uint64_t)SG_WATCH_DEBOUNCE_MS * 1000000u;
      if (hit == 2) first = 1; /* a directory went: watch it (or its successor) again */
      continue;
    }
    uint64_t now = sg_now_ns();
    if (!(due && now >= due) && now < periodic) continue;
    due = 0;
    periodic = now + (uint64_t)(w->ifd < 0 ? SG_WATCH_POLL_MS : SAFETY_MS) * 1000000u;
    compare(w, changed, sizeof changed);
    if (!changed[0]) continue;
    w->fn(w->ud, changed);
    first = 1; /* a symlink may lead elsewhere now: watch where */
  }
  watches_clear(w);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The handle */

static void wake(sg_watch *w) {
  char one = 1;
  ssize_t n = write(w->wake[1], &one, 1); /* a full pipe is awake already */
  (void)n;
}

sg_watch *sg_watch_start(sg_watch_fn fn, void *ud, int poll_only, sg_log *log) {
  sg_watch *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->fn = fn;
  w->ud = ud;
  w->log = log;
  w->force_poll = poll_only;
  w->ifd = -1;
  if (pipe2(w->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    free(w);
    return NULL;
  }
  pthread_mutex_init(&w->lock, NULL);
  if (pthread_create(&w->thread, NULL, run, w) != 0) {
    close(w->wake[0]);
    close(w->wake[1]);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
  }
  return w;
}

/* 1 when the file (present) changed at or after t, less a margin for the coarse clock the
 * kernel stamps files with. */
static int changed_since(const fstate *s, const struct timespec *t) {
  if (!s->present || (!t->tv_sec && !t->tv_nsec)) return 0;
  long long at = (long long)s->ctime.tv_sec * 1000000000LL + s->ctime.tv_nsec;
  long long since = (long long)t->tv_sec * 1000000000LL + t->tv_nsec - 50000000LL;
  return at >= since;
}

int sg_watch_set(sg_watch *w, const char *const *paths, size_t n) {
  wfile *f = calloc(n ? n : 1, sizeof *f);
  if (!f) return SOULGW_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (file_init(&f[i], paths[i])) {
      files_free(f, n);
      return SOULGW_ENOMEM;
    }
    file_state(f[i].path, &f[i].last);
  }
  pthread_mutex_lock(&w->lock);
  int same = n == w->nfiles;
  for (size_t i = 0; i < n; i++) {
    int kept = 0;
    for (size_t j = 0; j < w->nfiles && !kept; j++) {
      if (strcmp(f[i].path, w->files[j].path) != 0) continue;
      f[i].last = w->files[j].last; /* a change not yet seen stays a change */
      kept = 1;
    }
    if (!kept && changed_since(&f[i].last, &w->synced)) {
      /* changed after the reload that named it began reading: it may have read the file
       * before the change, and no event of it was looked at, so it counts as changed */
      memset(&f[i].last, 0, sizeof f[i].last);
    }
    same = same && kept;
  }
  if (same) { /* the thread's watches stand as they are */
    pthread_mutex_unlock(&w->lock);
    files_free(f, n);
    return 0;
  }
  wfile *old = w->files;
  size_t nold = w->nfiles;
  w->files = f;
  w->nfiles = n;
  w->gen++;
  pthread_mutex_unlock(&w->lock);
  files_free(old, nold);
  wake(w);
  return 0;
}

void sg_watch_sync(sg_watch *w) {
  if (!w) return;
  pthread_mutex_lock(&w->lock);
  clock_gettime(CLOCK_REALTIME, &w->synced);
  for (size_t i = 0; i < w->nfiles; i++) file_state(w->files[i].path, &w->files[i].last);
  pthread_mutex_unlock(&w->lock);
}

void sg_watch_stop(sg_watch *w) {
  if (!w) return;
  pthread_mutex_lock(&w->lock);
  w->stop = 1;
  pthread_mutex_unlock(&w->lock);
  wake(w);
  pthread_join(w->thread, NULL);
  close(w->wake[0]);
  close(w->wake[1]);
  files_free(w->files, w->nfiles);
  pthread_mutex_destroy(&w->lock);
  free(w);
}

/* ------------------------------------------------------------------------------------------ */
/* What a snapshot was built from */

static void add_path(const char **paths, size_t max, size_t *n, const char *p) {
  if (!p || !*p) return;
  for (size_t i = 0; i < *n && i < max; i++)
    if (strcmp(paths[i], p) == 0) return;
  if (*n < max) paths[*n] = p;
  (*n)++;
}

size_t sg_conf_watched_files(const sg_conf *c, const char **paths, size_t max) {
  size_t n = 0;
  add_path(paths, max, &n, c->file);
  add_path(paths, max, &n, c->storage.url.file);
  for (const sg_cred_conf *e = c->auth.tokens; e; e = e->next)
    add_path(paths, max, &n, e->secret.file);
  for (const sg_cred_conf *e = c->auth.hmac_keys; e; e = e->next)
    add_path(paths, max, &n, e->secret.file);
  if (c->auth.api_key) add_path(paths, max, &n, c->auth.api_key->secret.file);
  for (const sg_provider_conf *p = c->llm.providers; p; p = p->next)
    add_path(paths, max, &n, p->api_key.file);
  return n;
}

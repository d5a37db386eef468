/*
 * watch.h -- rotation without a signal: a thread that watches the files a configuration was
 * built from (the configuration file and every *_file secret) and calls back when one of them
 * changed, so that the gateway reloads as it does on SIGHUP.
 *
 * Kubernetes rotates a mounted secret by swapping a symlink (..data) in its directory, and
 * editors replace a file by renaming a new one over it, so the watcher watches the DIRECTORIES
 * holding the files (inotify) and matches names; a change is then confirmed by comparing each
 * file's identity and times (device, inode, size, mtime, ctime, following symlinks) with what
 * they were, so that a burst of events (debounced: SG_WATCH_DEBOUNCE_MS after the last) or a
 * file touched without change gives at most one callback.  Where inotify is unavailable or
 * fails (another operating system, a network filesystem, a watch limit reached), or when asked
 * (poll), the same comparison runs every SG_WATCH_POLL_MS instead.
 *
 * The watcher installs no signal handler and touches nothing but the files it is given.
 */
#ifndef SG_CONF_WATCH_H
#define SG_CONF_WATCH_H

#include <stddef.h>

#include "base/log.h"
#include "conf/config.h"

#define SG_WATCH_DEBOUNCE_MS 200
#define SG_WATCH_POLL_MS 2000

typedef struct sg_watch sg_watch;

/* Called on the watcher's thread when a watched file changed; path is the first file found
 * changed.  It may call sg_watch_set() (on the same watcher) but not sg_watch_stop(). */
typedef void (*sg_watch_fn)(void *ud, const char *path);

/* Starts the watcher's thread with no files; poll: the periodic check only, without inotify.
 * Returns NULL when out of memory or when no thread can be started. */
sg_watch *sg_watch_start(sg_watch_fn fn, void *ud, int poll, sg_log *log);

/* Replaces the set of watched files (copied) by paths[0..n-1]; a file of both sets keeps its
 * last known state, so a change made while the set is replaced is not lost.  0 or
 * SOULGW_ENOMEM (the old set is kept).  Safe from any thread, the callback's included. */
int sg_watch_set(sg_watch *w, const char *const *paths, size_t n);

/* Takes the files' present states as the last ones seen, so that the changes made so far
 * call nothing back: a reload that is about to read the files (SIGHUP's) calls it first, so
 * that the watch does not reload them a second time.  Safe from any thread.  NULL is ignored. */
void sg_watch_sync(sg_watch *w);

/* Stops the thread (waiting for a callback that runs) and frees the watcher.  NULL is
 * ignored.  Not from the callback. */
void sg_watch_stop(sg_watch *w);

/* The files a snapshot was built from: its configuration file and the file of each secret
 * (storage.url_file, every token_file, secret_file, key_file and api_key_file), in that
 * order, each once.  Fills paths (pointers into c, valid as long as c) with at most max of
 * them and returns how many there are; with max 0 (paths may be NULL), a bound on that
 * number. */
size_t sg_conf_watched_files(const sg_conf *c, const char **paths, size_t max);

#endif

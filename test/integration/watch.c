/*
 * watch.c -- rotation without a signal ([server] watch_files, conf/watch.c) against the real
 * binary: a token file rewritten in place, replaced by a rename, or swapped the way Kubernetes
 * updates a mounted secret (a new ..data symlink) makes the gateway reload by itself, the new
 * token then works and the old one gets 401; a broken configuration file keeps the running
 * configuration and logs why; after a reload the watched files are those of the new
 * configuration; watch_files = false watches nothing; watch_method = "poll" (the periodic check
 * used where inotify is unavailable) reloads too.  No signal is sent in any of these.
 *
 * Waits are for what must happen (a status, a log line), with generous timeouts; the one
 * negative case (no reload when off) gives the watcher several debounce periods.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tap.h"

#define T_OLD "watch-token-0000-old-aaaaaaaa"
#define T_NEW "watch-token-1111-new-bbbbbbbb"
#define T_REN "watch-token-2222-ren-cccccccc"
#define T_K8S1 "watch-token-3333-k8s-dddddddd"
#define T_K8S2 "watch-token-4444-k8s-eeeeeeee"
#define T_MOVED "watch-token-5555-mov-ffffffff"
#define T_MOVED2 "watch-token-6666-mov-gggggggg"

#define WAIT_MS 20000

/* the harness turns the watch off for every other test; the files decide here */
static const char *const watch_env[] = {"GATEWAY__SERVER__WATCH_FILES", NULL};

static gwproc gw;
static char sec[256]; /* the secrets' directory */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Writes text to path in place: the same inode, truncated and written. */
static void write_in_place(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
    tap_diag("cannot write %s: %s", path, strerror(errno));
  if (fd >= 0) close(fd);
}

static void path_in(char *out, size_t len, const char *name) {
  snprintf(out, len, "%s/%s", sec, name);
}

/* Status of an authenticated read with token. */
static long status_with(gwproc *g, const char *token) {
  char h[128];
  snprintf(h, sizeof h, "Authorization: Bearer %s", token);
  http_resp r = {0};
  long st = -1;
  if (http(g, "POST", "/api/repo/list", (const char *[]){h, "Content-Type: application/json", NULL},
           "{\"repo\":\"w\"}", &r) == 0)
    st = r.status;
  resp_free(&r);
  return st;
}

/* Waits until token gets want: 1, or 0 after WAIT_MS. */
static int wait_status(gwproc *g, const char *token, long want) {
  for (long long end = now_ms() + WAIT_MS; now_ms() < end; sleep_ms(50))
    if (status_with(g, token) == want) return 1;
  gw_diag_log(g);
  return 0;
}

/* A configuration with the tokens "w" (token_file = file) and "k" (the Kubernetes-style
 * mount), plus extra lines for [server]. */
static void make_toml(char *out, size_t len, const char *file, const char *server_extra) {
  snprintf(out, len,
           "[server]\naddress = \"127.0.0.1\"\nport = 0\ndrain_timeout_s = 5\n%s\n"
           "[storage]\nsynchronous = \"normal\"\n\n"
           "[auth.tokens.w]\ntenant = \"tenant-demo\"\nscopes = [\"repo:read\"]\n"
           "token_file = \"%s/%s\"\n\n"
           "[auth.tokens.k]\ntenant = \"tenant-demo\"\nscopes = [\"repo:read\"]\n"
           "token_file = \"%s/k8s/token\"\n",
           server_extra, sec, file, sec);
}

/* The layout of a Kubernetes secret volume: k8s/token -> ..data/token, ..data -> ..v1. */
static int make_k8s(void) {
  char p[400], q[400];
  snprintf(p, sizeof p, "%s/k8s", sec);
  if (mkdir(p, 0700)) return -1;
  snprintf(p, sizeof p, "%s/k8s/..v1", sec);
  if (mkdir(p, 0700)) return -1;
  snprintf(p, sizeof p, "%s/k8s/..v1/token", sec);
  write_in_place(p, T_K8S1);
  snprintf(p, sizeof p, "%s/k8s/..data", sec);
  if (symlink("..v1", p)) return -1;
  snprintf(p, sizeof p, "%s/k8s/token", sec);
  snprintf(q, sizeof q, "..data/token");
  return symlink(q, p);
}

static void integration_watch_in_place(void) {
  char p[400];
  ok(gw_log_has(&gw, "watching the configuration's files for changes"), "the watch is on");
  is_int(status_with(&gw, T_OLD), 200, "the first token works");
  path_in(p, sizeof p, "tok");
  write_in_place(p, T_NEW "\n");
  ok(wait_status(&gw, T_NEW, 200), "rewritten in place: the new token works, no signal sent");
  is_int(status_with(&gw, T_OLD), 401, "and the old one gets 401");
  ok(gw_log_has(&gw, "a watched file changed; reloading"), "the reload says why");
  ok(gw_log_has(&gw, "configuration reloaded"), "with SIGHUP's log line");
}

static void integration_watch_rename(void) {
  char p[400], tmp[400];
  path_in(p, sizeof p, "tok");
  path_in(tmp, sizeof tmp, ".tok.swp");
  write_in_place(tmp, T_REN);
  if (rename(tmp, p)) tap_diag("rename: %s", strerror(errno));
  ok(wait_status(&gw, T_REN, 200), "replaced by a rename: the new token works");
  is_int(status_with(&gw, T_NEW), 401, "and the one before gets 401");
}

static void integration_watch_k8s_symlink_swap(void) {
  char p[400], q[400];
  is_int(status_with(&gw, T_K8S1), 200, "the mounted secret's token works");
  snprintf(p, sizeof p, "%s/k8s/..v2", sec);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/k8s/..v2/token", sec);
  write_in_place(p, T_K8S2);
  snprintf(p, sizeof p, "%s/k8s/..data_tmp", sec);
  if (symlink("..v2", p)) tap_diag("symlink: %s", strerror(errno));
  snprintf(q, sizeof q, "%s/k8s/..data", sec);
  if (rename(p, q)) tap_diag("rename: %s", strerror(errno));
  snprintf(p, sizeof p, "%s/k8s/..v1/token", sec);
  unlink(p);
  snprintf(p, sizeof p, "%s/k8s/..v1", sec);
  rmdir(p);
  ok(wait_status(&gw, T_K8S2, 200), "..data swapped to a new version: its token works");
  is_int(status_with(&gw, T_K8S1), 401, "and the old version's gets 401");
}

/* token_file is a symlink into another directory, whose target is rewritten in place. */
static void integration_watch_symlink_elsewhere(void) {
  char p[400], target[400], toml[4096];
  snprintf(p, sizeof p, "%s/elsewhere", sec);
  mkdir(p, 0700);
  snprintf(target, sizeof target, "%s/elsewhere/real", sec);
  write_in_place(target, T_OLD);
  path_in(p, sizeof p, "link");
  if (symlink(target, p)) tap_diag("symlink: %s", strerror(errno));
  make_toml(toml, sizeof toml, "link", "");
  gw_write_config(&gw, toml);
  ok(wait_status(&gw, T_OLD, 200), "token_file now a symlink into another directory");
  write_in_place(target, T_NEW);
  ok(wait_status(&gw, T_NEW, 200), "its target rewritten in place: the new token works");
  is_int(status_with(&gw, T_OLD), 401, "and the old one gets 401");
}

static void integration_watch_bad_config_keeps_old(void) {
  int failed = gw_log_count(&gw, "reload failed; keeping the running configuration");
  gw_write_config(&gw, "[server]\nport = \"not a number\n");
  ok(gw_wait_log(&gw, "reload failed; keeping the running configuration", failed + 1, WAIT_MS),
     "a broken configuration file: the reload fails and says so");
  is_int(status_with(&gw, T_NEW), 200, "the running configuration stays: its token works");
  is_int(status_with(&gw, T_K8S2), 200, "  both of them");
}

static void integration_watch_follows_new_config(void) {
  char p[400], toml[4096];
  path_in(p, sizeof p, "moved");
  write_in_place(p, T_MOVED);
  make_toml(toml, sizeof toml, "moved", "");
  gw_write_config(&gw, toml);
  ok(wait_status(&gw, T_MOVED, 200), "a fixed configuration naming another token file loads");
  is_int(status_with(&gw, T_NEW), 401, "the old file's token is gone");
  write_in_place(p, T_MOVED2);
  ok(wait_status(&gw, T_MOVED2, 200), "the newly named file is watched: its rotation reloads");
  is_int(status_with(&gw, T_MOVED), 401, "and its old token gets 401");
}

/* Starts a second gateway on file tok2 with extra [server] lines. */
static int start_other(gwproc *g, const char *file, const char *token, const char *extra) {
  char p[400], toml[4096];
  path_in(p, sizeof p, file);
  write_in_place(p, token);
  make_toml(toml, sizeof toml, file, extra);
  memset(g, 0, sizeof *g);
  return gw_start(g, harness_soulgw_bin(), toml, watch_env, NULL);
}

static void integration_watch_off(void) {
  gwproc g;
  char p[400];
  if (!ok(start_other(&g, "off", T_OLD, "watch_files = false") == 0, "a gateway without watch"))
    return;
  ok(!gw_log_has(&g, "watching the configuration's files"), "it watches nothing");
  path_in(p, sizeof p, "off");
  write_in_place(p, T_NEW);
  sleep_ms(10 * 200); /* ten debounce periods */
  is_int(status_with(&g, T_OLD), 200, "a rewritten token file changes nothing by itself");
  is_int(gw_log_count(&g, "configuration reloaded"), 0, "no reload");
  gw_signal(&g, SIGHUP);
  ok(wait_status(&g, T_NEW, 200), "SIGHUP still reloads it");
  is_int(gw_stop(&g), 0, "it stops cleanly");
}

static void integration_watch_poll(void) {
  gwproc g;
  char p[400];
  if (!ok(start_other(&g, "poll", T_OLD, "watch_method = \"poll\"") == 0,
          "a gateway with watch_method = \"poll\""))
    return;
  ok(gw_wait_log(&g, "watching files by a periodic check", 1, WAIT_MS),
     "it says it checks periodically");
  path_in(p, sizeof p, "poll");
  write_in_place(p, T_NEW);
  ok(wait_status(&g, T_NEW, 200), "the periodic check reloads a rewritten token file");
  is_int(status_with(&g, T_OLD), 401, "and the old token gets 401");
  is_int(gw_stop(&g), 0, "it stops cleanly");
}

static const tap_test tests[] = {
    TEST(integration_watch_in_place),
    TEST(integration_watch_rename),
    TEST(integration_watch_k8s_symlink_swap),
    TEST(integration_watch_symlink_elsewhere),
    TEST(integration_watch_bad_config_keeps_old),
    TEST(integration_watch_follows_new_config),
    TEST(integration_watch_off),
    TEST(integration_watch_poll),
};

int main(void) {
  char p[400], toml[4096];
  if (!tap_want(tests, TAP_COUNT(tests))) return tap_done();
  snprintf(sec, sizeof sec, "/tmp/soulgw-watch-XXXXXX");
  if (!ok(mkdtemp(sec) != NULL, "a directory for the secrets")) return tap_done();
  path_in(p, sizeof p, "tok");
  write_in_place(p, T_OLD);
  if (!ok(make_k8s() == 0, "a Kubernetes-style secret volume")) return tap_done();
  make_toml(toml, sizeof toml, "tok", "");
  if (!ok(gw_start(&gw, harness_soulgw_bin(), toml, watch_env, NULL) == 0, "the gateway starts"))
    return tap_done();
  tap_run(tests, TAP_COUNT(tests));
  is_int(gw_stop(&gw), 0, "SIGTERM: exit status 0");
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", sec);
  if (system(cmd) != 0) tap_diag("cannot remove %s", sec);
  return tap_done();
}

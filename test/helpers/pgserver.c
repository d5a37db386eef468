/*
 * pgserver.c -- a real PostgreSQL for the tests (pgserver.h): initdb in a fresh temporary
 * directory, pg_ctl start on 127.0.0.1 and a free port, pg_ctl stop and removal at exit.  Test
 * code may call libpq directly; the library calls it from lib/store/pg.c only.
 */
#include <arpa/inet.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "pgserver.h"
#include "tap.h"

static struct {
  int state; /* 0 not tried, 1 running, 2 absent, 3 failed */
  char bindir[256];
  char dir[64];
  int port;
  pid_t owner; /* the process that started it (forked children do not stop it) */
  int durable;  /* fsync on (benchmarks) */
} srv;

void pgserver_durable(void) { srv.durable = 1; }

/* The directory of Debian's server binaries (/usr/lib/postgresql/N/bin), newest first. */
static int find_bindir(void) {
  glob_t g;
  int found = 0;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc) {
    snprintf(srv.bindir, sizeof srv.bindir, "%s", g.gl_pathv[g.gl_pathc - 1]);
    *strrchr(srv.bindir, '/') = '\0';
    char pgctl[300];
    snprintf(pgctl, sizeof pgctl, "%s/pg_ctl", srv.bindir);
    found = access(pgctl, X_OK) == 0;
  }
  globfree(&g);
  return found;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

/* Runs a server binary with args (at most 12), as postgres when we are root: its status. */
static int run_pg(const char *bin, const char *const *args, char **out) {
  const char *argv[20];
  char path[300];
  int n = 0;
  snprintf(path, sizeof path, "%s/%s", srv.bindir, bin);
  if (geteuid() == 0) {
    argv[n++] = "runuser";
    argv[n++] = "-u";
    argv[n++] = "postgres";
    argv[n++] = "--";
  }
  argv[n++] = path;
  for (int i = 0; args[i] && n < 19; i++) argv[n++] = args[i];
  argv[n] = NULL;
  return run_cmd(argv, NULL, out);
}

static void stop_at_exit(void) { pgserver_stop(); }

/* pg_ctl start on srv.port: its status. */
static int ctl_start(void) {
  char data[128], log[128], opts[256];
  snprintf(data, sizeof data, "%s/data", srv.dir);
  snprintf(log, sizeof log, "%s/log", srv.dir);
  snprintf(opts, sizeof opts,
           "-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200%s", srv.port,
           srv.dir, srv.durable ? "" : " -c fsync=off -c full_page_writes=off");
  return run_pg("pg_ctl", (const char *[]){"-D", data, "-l", log, "-o", opts, "-w", "-t", "120",
                                          "start", NULL},
                NULL);
}

/* pg_ctl stop, keeping the data: its status. */
static int ctl_stop(void) {
  char data[128];
  snprintf(data, sizeof data, "%s/data", srv.dir);
  return run_pg("pg_ctl", (const char *[]){"-D", data, "-m", "fast", "-w", "stop", NULL}, NULL);
}

static int start(void) {
  if (!find_bindir()) return 1;
  snprintf(srv.dir, sizeof srv.dir, "/tmp/soulgw-pg-XXXXXX");
  if (!mkdtemp(srv.dir)) return -1;
  if (geteuid() == 0) {
    struct passwd *pw = getpwnam("postgres");
    if (!pw || chown(srv.dir, pw->pw_uid, pw->pw_gid) != 0) {
      tap_diag("pgserver: no postgres user to run the server as");
      return -1;
    }
  }
  char data[128], pwfile[128], log[128];
  snprintf(data, sizeof data, "%s/data", srv.dir);
  snprintf(pwfile, sizeof pwfile, "%s/pw", srv.dir);
  snprintf(log, sizeof log, "%s/log", srv.dir);
  FILE *f = fopen(pwfile, "w");
  if (!f) return -1;
  fputs(PGSERVER_PASSWORD "\n", f);
  fclose(f);
  chmod(pwfile, 0644);
  char *out = NULL;
  int rc = run_pg("initdb",
                  (const char *[]){"-D", data, "-U", "soulgw", "--pwfile", pwfile, "-E", "UTF8",
                                   "--locale=C", "--auth-local=trust",
                                   "--auth-host=scram-sha-256", "--no-sync", NULL},
                  &out);
  if (rc != 0) {
    tap_diag("pgserver: initdb failed (%d): %.2000s", rc, out ? out : "");
    free(out);
    return -1;
  }
  free(out);
  unlink(pwfile);
  for (int tries = 0; tries < 5; tries++) {
    srv.port = free_port();
    if ((rc = ctl_start()) == 0) return 0;
  }
  tap_diag("pgserver: pg_ctl start failed (%d), see %s", rc, log);
  return -1;
}

int pgserver_start(void) {
  if (srv.state == 0) {
    int rc = start();
    srv.state = rc == 0 ? 1 : rc > 0 ? 2 : 3;
    if (srv.state == 1) {
      srv.owner = getpid();
      atexit(stop_at_exit);
    }
  }
  return srv.state == 1 ? 0 : srv.state == 2 ? 1 : -1;
}

void pgserver_stop(void) {
  if (srv.state != 1 || srv.owner != getpid()) return;
  ctl_stop();
  run_cmd((const char *[]){"rm", "-rf", srv.dir, NULL}, NULL, NULL);
  srv.state = 0;
  srv.port = 0;
}

int pgserver_port(void) { return srv.state == 1 ? srv.port : 0; }

void pgserver_url(char *out, size_t len, const char *db) {
  snprintf(out, len, "postgresql://soulgw:%s@127.0.0.1:%d/%s", PGSERVER_PASSWORD, srv.port, db);
}

int pgserver_createdb(const char *db) {
  char url[256], sql[160];
  pgserver_url(url, sizeof url, "postgres");
  snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_database WHERE datname = '%s'", db);
  if (pgserver_query_int(url, sql) > 0) return 0;
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
  return pgserver_exec(url, sql);
}

int pgserver_exec(const char *url, const char *sql) {
  PGconn *c = PQconnectdb(url);
  int rc = -1;
  if (PQstatus(c) != CONNECTION_OK) {
    tap_diag("pgserver: cannot connect: %s", PQerrorMessage(c));
  } else {
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) rc = 0;
    else tap_diag("pgserver: sql: %s", PQresultErrorMessage(r));
    PQclear(r);
  }
  PQfinish(c);
  return rc;
}

long long pgserver_query_int(const char *url, const char *sql) {
  PGconn *c = PQconnectdb(url);
  long long v = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
      v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
  }
  PQfinish(c);
  return v;
}

int pgserver_pause(void) { return srv.state == 1 && ctl_stop() == 0 ? 0 : -1; }

int pgserver_resume(void) { return srv.state == 1 && ctl_start() == 0 ? 0 : -1; }

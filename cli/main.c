/*
 * main.c -- the soulgw command: argument parsing and signals around the public libsoulgw API.
 *
 * Exit status: 0 clean shutdown, 64 usage error, 69 cannot bind, 78 configuration error,
 * 1 anything else.  SIGTERM and SIGINT drain and exit; SIGHUP reloads.  Core dumps are off
 * unless --allow-core-dumps: they would hold every secret the process has read.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "soulgw.h"

#define EX_OK 0
#define EX_FAIL 1
#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_CONFIG 78

int soulgw_cli_sign(int argc, char **argv);    /* sign.c */
int soulgw_cli_migrate(int argc, char **argv); /* migrate.c */
int soulgw_cli_usage(int argc, char **argv);   /* usage.c */

static void usage(FILE *f) {
  fprintf(f,
          "usage: soulgw [--config FILE] [--address ADDR] [--port N] [--port-file FILE]\n"
          "              [--db PATH] [--allow-core-dumps] [--check] [--version] [--help]\n"
          "       soulgw sign --key-id ID --secret-env VAR [--body FILE] [--date DATE]\n"
          "                   [--no-nonce] METHOD PATH\n"
          "       soulgw migrate --from sqlite:PATH --to postgres [--config FILE]\n"
          "       soulgw usage --config FILE [--tenant T] [--from DAY] [--to DAY]\n"
          "\n"
          "  --config FILE     configuration (default $GATEWAY_CONFIG_FILE, else ./gateway.toml)\n"
          "  --address ADDR    listen address (server.address)\n"
          "  --port N          listen port, 0 for any free port (server.port)\n"
          "  --port-file FILE  write the bound port to FILE once listening\n"
          "  --db PATH         SQLite database (storage.path)\n"
          "  --allow-core-dumps  keep core dumps on (they hold the secrets; off by default)\n"
          "  --check           validate the configuration and secrets, print a summary, exit\n"
          "  --version         print the version and exit\n"
          "\n"
          "Environment: GATEWAY__SECTION__KEY overrides any key; flags override both.\n"
          "See soulgw(1) and soulgw.toml(5).\n");
}

/* Process-wide, so the program's decision (the library leaves it to its host).  RLIMIT_CORE 0
 * stops a core file; PR_SET_DUMPABLE 0 also stops a core_pattern pipe (systemd-coredump,
 * apport), which ignores RLIMIT_CORE, and closes /proc/PID/mem, environ, maps and ptrace to
 * other processes of the same user that lack CAP_SYS_PTRACE. */
static void core_dumps_off(void) {
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    fprintf(stderr, "soulgw: cannot turn core dumps off: %s\n", strerror(errno));
}

static int write_port_file(const char *path, int port) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -1;
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "%d\n", port);
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'}, {"address", required_argument, NULL, 'a'},
      {"port", required_argument, NULL, 'p'},   {"port-file", required_argument, NULL, 'P'},
      {"db", required_argument, NULL, 'd'},     {"check", no_argument, NULL, 'k'},
      {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
      {"allow-core-dumps", no_argument, NULL, 'D'}, {NULL, 0, NULL, 0}};
  const char *config = NULL, *port_file = NULL;
  int check = 0, allow_core = 0, c, rc = EX_FAIL;
  soulgw_config *cfg = NULL;
  soulgw *gw = NULL;

  if (argc > 1 && strcmp(argv[1], "sign") == 0) {
    core_dumps_off(); /* it reads a secret too */
    return soulgw_cli_sign(argc - 1, argv + 1);
  }
  if (argc > 1 && strcmp(argv[1], "migrate") == 0) {
    core_dumps_off(); /* it reads the database's URI, a secret */
    return soulgw_cli_migrate(argc - 1, argv + 1);
  }
  if (argc > 1 && strcmp(argv[1], "usage") == 0) {
    core_dumps_off(); /* it reads the database's URI, a secret */
    return soulgw_cli_usage(argc - 1, argv + 1);
  }

  /* Process-wide memory policy belongs to the program, not the library.  glibc returns freed
   * heap to the kernel as soon as 128 KB sit free at its top; with requests allocated on the
   * HTTP threads and released on the storage writer's, that meant an madvise() and a TLB
   * shootdown across CPUs for nearly every write batch (a third of durable-append throughput).
   * Keeping up to 16 MB costs nothing when idle. */
  mallopt(M_TRIM_THRESHOLD, 16 << 20);

  cfg = soulgw_config_new();
  if (!cfg) {
    fprintf(stderr, "soulgw: out of memory\n");
    return EX_FAIL;
  }
  while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    int set = 0;
    switch (c) {
      case 'c': config = optarg; break;
      case 'a': set = soulgw_config_set(cfg, "server.address", optarg); break;
      case 'p': {
        char *end = NULL;
        long port = strtol(optarg, &end, 10);
        if (!*optarg || *end || port < 0 || port > 65535) {
          fprintf(stderr, "soulgw: --port needs a number from 0 to 65535, not '%s'\n", optarg);
          soulgw_config_free(cfg);
          return EX_USAGE;
        }
        set = soulgw_config_set(cfg, "server.port", optarg);
        break;
      }
      case 'P': port_file = optarg; break;
      case 'd': set = soulgw_config_set(cfg, "storage.path", optarg); break;
      case 'k': check = 1; break;
      case 'D': allow_core = 1; break;
      case 'V':
        printf("soulgw %s (commit %s)\n", soulgw_version(), soulgw_commit());
        soulgw_config_free(cfg);
        return EX_OK;
      case 'h':
        usage(stdout);
        soulgw_config_free(cfg);
        return EX_OK;
      default:
        usage(stderr);
        soulgw_config_free(cfg);
        return EX_USAGE;
    }
    if (set) {
      fprintf(stderr, "soulgw: %s\n", soulgw_strerror(set));
      soulgw_config_free(cfg);
      return EX_FAIL;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "soulgw: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    soulgw_config_free(cfg);
    return EX_USAGE;
  }

  if (!allow_core) core_dumps_off(); /* before any secret is read */
  int lrc = soulgw_config_load(cfg, config);
  if (lrc) {
    fprintf(stderr, "soulgw: %s\n", soulgw_config_errmsg(cfg));
    soulgw_config_free(cfg);
    return lrc == SOULGW_ENOMEM ? EX_FAIL : EX_CONFIG;
  }
  if (check) {
    char why[1024];
    char *summary = soulgw_config_describe(cfg);
    if (summary) fputs(summary, stdout);
    int vrc = summary ? soulgw_config_verify(cfg, why, sizeof why) : SOULGW_ENOMEM;
    if (vrc == 0) printf("%s%sconfiguration ok\n", why, *why ? "\n" : "");
    else if (summary) fprintf(stderr, "soulgw: %s\n", vrc == SOULGW_ENOMEM ? "out of memory" : why);
    free(summary);
    soulgw_config_free(cfg);
    return vrc == 0                  ? EX_OK
           : vrc == SOULGW_ECONFIG ? EX_CONFIG
           : vrc == SOULGW_ESTORE  ? EX_UNAVAILABLE
                                   : EX_FAIL;
  }

  /* Signals are taken synchronously by this thread; the gateway's threads inherit the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  gw = soulgw_new(cfg);
  if (!gw) {
    fprintf(stderr, "soulgw: out of memory\n");
    goto out;
  }
  int src = soulgw_start(gw, SOULGW_START_THREADS);
  if (src) {
    fprintf(stderr, "soulgw: %s\n", soulgw_errmsg(gw));
    /* a database server that cannot be reached is a service unavailable, as a port is */
    const char *backend = "sqlite";
    soulgw_config_get_str(cfg, "storage.backend", &backend);
    rc = src == SOULGW_EBIND || (src == SOULGW_ESTORE && strcmp(backend, "postgres") == 0)
             ? EX_UNAVAILABLE
         : src == SOULGW_ECONFIG ? EX_CONFIG
                                 : EX_FAIL;
    goto out;
  }
  if (port_file && write_port_file(port_file, soulgw_port(gw)) != 0) {
    fprintf(stderr, "soulgw: cannot write %s: %s\n", port_file, strerror(errno));
    soulgw_stop(gw, 0);
    goto out;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      soulgw_reload(gw);
      continue;
    }
    soulgw_stop(gw, -1); /* the configured drain_timeout_s, as last reloaded */
    rc = EX_OK;
    break;
  }
out:
  soulgw_free(gw);
  soulgw_config_free(cfg);
  return rc;
}

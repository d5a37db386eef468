/*
 * migrate.c -- `soulgw migrate --from sqlite:PATH --to postgres [--config FILE]`: copies a
 * SQLite database into the PostgreSQL database of the configuration's [storage]
 * (soulgw_storage_migrate()) and prints what it copied, table by table.
 *
 * Exit status: 0 copied; 64 usage; 78 configuration error (its backend is not "postgres"
 * included); 69 a database cannot be opened, read or written; 65 the source is missing or not
 * a SQLite database; 73 the target already holds rows (nothing written); 1 anything else.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "soulgw.h"

int soulgw_cli_migrate(int argc, char **argv);

static void usage(void) {
  fprintf(stderr, "usage: soulgw migrate --from sqlite:PATH --to postgres [--config FILE]\n");
}

static void print_counts(const char *from, const soulgw_migrate_counts *n) {
  const struct {
    const char *name;
    long long v;
  } rows[] = {{"registry versions", n->registry_versions}, {"active versions", n->active_versions},
              {"records", n->records},                     {"edges", n->edges},
              {"idempotency records", n->idempotency},     {"collaborations", n->collabs},
              {"timeline entries", n->timeline_entries},   {"observe events", n->events},
              {"usage ledger rows", n->usage},             {"sequences", n->sequences}};
  long long total = 0;
  printf("copied sqlite:%s to postgres\n", from);
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    printf("  %-20s %lld\n", rows[i].name, rows[i].v);
    total += rows[i].v;
  }
  printf("  %-20s %lld\n", "total rows", total);
}

int soulgw_cli_migrate(int argc, char **argv) {
  static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                       {"to", required_argument, NULL, 't'},
                                       {"config", required_argument, NULL, 'c'},
                                       {NULL, 0, NULL, 0}};
  const char *from = NULL, *to = NULL, *config = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'f': from = optarg; break;
      case 't': to = optarg; break;
      case 'c': config = optarg; break;
      default: usage(); return 64;
    }
  }
  if (optind < argc || !from || !to) {
    usage();
    return 64;
  }
  if (strncmp(from, "sqlite:", 7) != 0 || !from[7]) {
    fprintf(stderr, "soulgw migrate: --from needs sqlite:PATH, not '%s'\n", from);
    return 64;
  }
  if (strcmp(to, "postgres") != 0) {
    fprintf(stderr, "soulgw migrate: --to needs postgres (the [storage] of --config), not '%s'\n",
            to);
    return 64;
  }
  soulgw_config *cfg = soulgw_config_new();
  if (!cfg) {
    fprintf(stderr, "soulgw migrate: out of memory\n");
    return 1;
  }
  int rc = soulgw_config_load(cfg, config);
  if (rc) {
    fprintf(stderr, "soulgw migrate: %s\n", soulgw_config_errmsg(cfg));
    soulgw_config_free(cfg);
    return rc == SOULGW_ENOMEM ? 1 : 78;
  }
  const char *backend = "sqlite";
  soulgw_config_get_str(cfg, "storage.backend", &backend);
  if (strcmp(backend, "postgres") != 0) {
    fprintf(stderr, "soulgw migrate: the target is the [storage] of the configuration, whose "
                    "backend is \"%s\": set backend = \"postgres\" and its url_env, url_file "
                    "or url\n", backend);
    soulgw_config_free(cfg);
    return 78;
  }
  char err[1024];
  soulgw_migrate_counts n;
  rc = soulgw_storage_migrate(cfg, from + 7, &n, err, sizeof err);
  soulgw_config_free(cfg);
  if (rc == 0) {
    print_counts(from + 7, &n);
    return 0;
  }
  fprintf(stderr, "soulgw migrate: %s\n", rc == SOULGW_ENOMEM ? "out of memory" : err);
  return rc == SOULGW_EINVAL || rc == SOULGW_ENOTFOUND ? 65
         : rc == SOULGW_EEXIST                          ? 73
         : rc == SOULGW_ESTORE                          ? 69
                                                        : 1;
}

/*
 * usage.c -- `soulgw usage --config FILE [--tenant T] [--from D] [--to D]`: prints the usage
 * ledger of the configuration's store as a table (soulgw_usage_table()), for operators; every
 * tenant unless --tenant names one.  It reads the store directly and works while the gateway
 * runs.
 *
 * Exit status: 0 printed; 64 usage (a bad date or range too); 78 configuration error; 69 the
 * store cannot be opened or read; 1 anything else.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "soulgw.h"

int soulgw_cli_usage(int argc, char **argv);

static void usage(void) {
  fprintf(stderr, "usage: soulgw usage --config FILE [--tenant T] [--from YYYY-MM-DD] "
                  "[--to YYYY-MM-DD]\n");
}

int soulgw_cli_usage(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"tenant", required_argument, NULL, 't'},
                                       {"from", required_argument, NULL, 'f'},
                                       {"to", required_argument, NULL, 'u'},
                                       {NULL, 0, NULL, 0}};
  const char *config = NULL, *tenant = NULL, *from = NULL, *to = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'c': config = optarg; break;
      case 't': tenant = optarg; break;
      case 'f': from = optarg; break;
      case 'u': to = optarg; break;
      default: usage(); return 64;
    }
  }
  if (optind < argc) {
    usage();
    return 64;
  }
  soulgw_config *cfg = soulgw_config_new();
  if (!cfg) {
    fprintf(stderr, "soulgw usage: out of memory\n");
    return 1;
  }
  int rc = soulgw_config_load(cfg, config);
  if (rc) {
    fprintf(stderr, "soulgw usage: %s\n", soulgw_config_errmsg(cfg));
    soulgw_config_free(cfg);
    return rc == SOULGW_ENOMEM ? 1 : 78;
  }
  char err[1024], *text = NULL;
  rc = soulgw_usage_table(cfg, tenant, from, to, &text, err, sizeof err);
  soulgw_config_free(cfg);
  if (rc == 0) {
    fputs(text, stdout);
    free(text);
    return 0;
  }
  fprintf(stderr, "soulgw usage: %s\n", rc == SOULGW_ENOMEM ? "out of memory" : err);
  return rc == SOULGW_EINVAL ? 64 : rc == SOULGW_ESTORE ? 69 : 1;
}

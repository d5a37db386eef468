/*
 * sign.c -- `soulgw sign --key-id ID --secret-env VAR [--body FILE] [--date DATE] [--no-nonce]
 * METHOD PATH`: prints the headers of an SB-HMAC signed request, one "Name: value" per line,
 * for curl smoke checks.  --date and --no-nonce make the output reproducible (SPEC 5's test
 * vector).
 *
 * Exit status: 0, 64 usage (a date the gateway would not accept included), 78 the secret
 * variable is unset or empty, 1 the body file cannot be read.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "soulgw.h"

int soulgw_cli_sign(int argc, char **argv);

static void usage(void) {
  fprintf(stderr, "usage: soulgw sign --key-id ID --secret-env VAR [--body FILE] [--date DATE]\n"
                  "                   [--no-nonce] METHOD PATH\n");
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 8192, n = 0, got;
  char *buf = malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *p = cap < (64u << 20) ? realloc(buf, cap *= 2) : NULL;
      if (!p) {
        free(buf);
        buf = NULL;
      }
      buf = p;
    }
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

int soulgw_cli_sign(int argc, char **argv) {
  static const struct option opts[] = {{"key-id", required_argument, NULL, 'k'},
                                       {"secret-env", required_argument, NULL, 's'},
                                       {"body", required_argument, NULL, 'b'},
                                       {"date", required_argument, NULL, 'd'},
                                       {"no-nonce", no_argument, NULL, 'n'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *key_id = NULL, *var = NULL, *body_file = NULL, *date = NULL;
  unsigned flags = 0;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case 'k': key_id = optarg; break;
      case 's': var = optarg; break;
      case 'b': body_file = optarg; break;
      case 'd': date = optarg; break;
      case 'n': flags |= SOULGW_SIGN_NO_NONCE; break;
      case 'h': usage(); return 0;
      default: usage(); return 64;
    }
  }
  if (!key_id || !var || argc - optind != 2) {
    usage();
    return 64;
  }
  const char *method = argv[optind], *path = argv[optind + 1];
  if (!*key_id || strchr(key_id, ':') || path[0] != '/') {
    fprintf(stderr, "soulgw sign: the key id must be non-empty without ':' and PATH must start "
                    "with '/'\n");
    return 64;
  }
  char now[32];
  if (!date) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    date = now;
  }
  /* the check the gateway makes, on a dummy key: a date it would refuse is a usage error */
  char *probe = soulgw_sign_at("k", "s", 1, "GET", "/", NULL, 0, date, SOULGW_SIGN_NO_NONCE);
  if (!probe) {
    fprintf(stderr, "soulgw sign: --date must be RFC 3339 (2025-01-01T00:00:00Z) or an HTTP "
                    "date, not '%s'\n", date);
    return 64;
  }
  free(probe);
  const char *secret = getenv(var);
  if (!secret || !*secret) {
    fprintf(stderr, "soulgw sign: environment variable %s %s\n", var,
            secret ? "is empty" : "not set");
    return 78;
  }
  char *body = NULL;
  size_t body_len = 0;
  if (body_file && !(body = read_file(body_file, &body_len))) {
    fprintf(stderr, "soulgw sign: cannot read %s: %s\n", body_file, strerror(errno));
    return 1;
  }
  char *headers = soulgw_sign_at(key_id, secret, strlen(secret), method, path,
                                 body_file ? (body ? body : "") : NULL, body_len, date, flags);
  free(body);
  if (!headers) {
    fprintf(stderr, "soulgw sign: out of memory\n");
    return 1;
  }
  fputs(headers, stdout);
  free(headers);
  return 0;
}

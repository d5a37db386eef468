/*
 * sign.c -- `soulgw sign`: prints the headers of an SB-HMAC signed request.
 */
#include <stdio.h>

int soulgw_cli_sign(int argc, char **argv);

int soulgw_cli_sign(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "soulgw sign: not available in this build\n");
  return 64;
}

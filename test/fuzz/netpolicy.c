/*
 * netpolicy.c -- libFuzzer target: the handler-URL splitter and the publish-time check, which
 * read what a tenant publishes, and the allowed_hosts pattern parser.  A URL that the check
 * allows or refuses must have parsed; one it finds malformed must not have.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/netpolicy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sg_netpolicy *p;
  if (!p) {
    const char *pats[] = {"127.0.0.1:8080", "10.0.0.0/8", "tools.corp", "*.svc.local:443",
                          "[fd00::/8]", "localhost:9000"};
    if (sg_netpolicy_new(pats, sizeof pats / sizeof pats[0], &p, NULL, 0)) abort();
  }
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  char why[300];
  sg_url_target t;
  int parsed = sg_url_target_parse(s, &t, why, sizeof why) == 0;
  int rc = sg_netpolicy_check_url(p, s, why, sizeof why);
  if ((rc == SOULGW_EINVAL) == parsed) abort();
  if (parsed && strlen(t.host) >= sizeof t.host) abort();
  sg_netpolicy_trusts_url(p, s);
  const char *one[] = {s};
  sg_netpolicy *q = NULL;
  if (sg_netpolicy_new(one, 1, &q, why, sizeof why) == 0) sg_netpolicy_check_url(q, s, why, sizeof why);
  sg_netpolicy_release(q);
  free(s);
  return 0;
}

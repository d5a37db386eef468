/*
 * auth.c -- the authentication stage (see auth.h).  This first version knows no credential
 * types yet: a request without credentials is anonymous, one with credentials is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "gateway.h"

struct sg_auth {
  sg_family *failures;
};
struct sg_replay {
  size_t capacity;
};

sg_replay *sg_replay_new(size_t capacity) {
  sg_replay *r = calloc(1, sizeof *r);
  if (r) r->capacity = capacity;
  return r;
}
void sg_replay_free(sg_replay *r) { free(r); }

sg_auth *sg_auth_new(const sg_conf *conf, sg_replay *replay, sg_family *failures) {
  (void)conf;
  (void)replay;
  sg_auth *a = calloc(1, sizeof *a);
  if (a) a->failures = failures;
  return a;
}

void sg_auth_free(sg_auth *a) { free(a); }

int sg_auth_authenticate(sg_auth *a, soulgw_req *req, const sg_principal **out) {
  *out = NULL;
  if (!soulgw_req_header(req, "Authorization") && !soulgw_req_header(req, "x-api-key")) return 0;
  sg_family_add(a->failures, (const char *[]){"unknown_credential"}, 1);
  sg_req_error(req, SOULGW_API_AUTH_UNAUTHENTICATED, "unknown credential");
  return -1;
}

int sg_auth_rate(sg_auth *a, soulgw_req *req, const sg_principal *p) {
  (void)a;
  (void)req;
  (void)p;
  return 0;
}

int sg_principal_has(const sg_principal *p, const char *scope) {
  return p && sg_strv_has(p->scopes, scope);
}

/*
 * scopes.c -- unit tests of sg_strv_has (lib/conf/config.c), the scope check of SPEC 5: a held
 * scope matches exactly, and only the literal "*" matches every scope -- but tenant:*, which
 * must be held by name (issue 7, finding 14).
 */
#include <string.h>

#include "conf/config.h"
#include "base/sg.h"
#include "tap.h"

#define STRV(...)                                                                           \
  ((sg_strv){(const char *[]){__VA_ARGS__},                                                 \
             sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)})

static void unit_scopes_exact(void) {
  sg_strv v = STRV("repo:read", "repo:write", "llm");
  is_int(sg_strv_has(&v, "repo:read"), 1, "the first held scope");
  is_int(sg_strv_has(&v, "repo:write"), 1, "a middle held scope");
  is_int(sg_strv_has(&v, "llm"), 1, "the last held scope");
  is_int(sg_strv_has(&v, "tools"), 0, "a scope not held");
  is_int(sg_strv_has(&v, "Repo:Read"), 0, "scopes are case-sensitive");
  is_int(sg_strv_has(&v, ""), 0, "the empty scope is not held");
  is_int(sg_strv_has(&v, "*"), 0, "asking for \"*\" is not granted by ordinary scopes");
  sg_strv one = STRV("repo");
  is_int(sg_strv_has(&one, "repo"), 1, "a single held scope");
}

static void unit_scopes_star(void) {
  sg_strv v = STRV("*");
  is_int(sg_strv_has(&v, "repo:write"), 1, "\"*\" matches repo:write");
  is_int(sg_strv_has(&v, "anything"), 1, "\"*\" matches anything");
  is_int(sg_strv_has(&v, ""), 1, "\"*\" matches even the empty scope");
  is_int(sg_strv_has(&v, "*"), 1, "\"*\" matches \"*\"");
  sg_strv last = STRV("repo:read", "llm", "*");
  is_int(sg_strv_has(&last, "admin"), 1, "\"*\" anywhere in the list");
  sg_strv first = STRV("*", "repo:read");
  is_int(sg_strv_has(&first, "admin"), 1, "\"*\" first in the list");
}

static void unit_scopes_no_partial(void) {
  sg_strv v = STRV("repo");
  is_int(sg_strv_has(&v, "repo:write"), 0, "\"repo\" does not match repo:write");
  is_int(sg_strv_has(&v, "rep"), 0, "\"repo\" does not match a prefix of itself");
  is_int(sg_strv_has(&v, "repository"), 0, "\"repo\" does not match repository");
  sg_strv w = STRV("repo:write");
  is_int(sg_strv_has(&w, "repo"), 0, "\"repo:write\" does not match repo");
  sg_strv g = STRV("repo:*");
  is_int(sg_strv_has(&g, "repo:write"), 0, "\"repo:*\" is not a wildcard");
  is_int(sg_strv_has(&g, "repo:"), 0, "\"repo:*\" does not match repo:");
  is_int(sg_strv_has(&g, "repo:*"), 1, "\"repo:*\" matches itself literally");
  sg_strv s2 = STRV("**", " *", "* ", "*:*");
  is_int(sg_strv_has(&s2, "repo"), 0, "\"**\", \" *\", \"* \" and \"*:*\" are not \"*\"");
}

static void unit_scopes_empty(void) {
  sg_strv v = {NULL, 0};
  is_int(sg_strv_has(&v, "repo"), 0, "an empty list holds nothing");
  is_int(sg_strv_has(&v, "*"), 0, "not even \"*\"");
  is_int(sg_strv_has(&v, ""), 0, "nor the empty scope");
  /* n counts: entries beyond n are ignored */
  const char *items[] = {"repo", "*"};
  sg_strv part = {items, 1};
  is_int(sg_strv_has(&part, "repo"), 1, "the first of n=1 is held");
  is_int(sg_strv_has(&part, "llm"), 0, "an entry past n (\"*\") is ignored");
}

static void security_scopes_star_is_not_tenant_star(void) {
  sg_strv star = STRV("*");
  is_int(sg_strv_has(&star, "tenant:*"), 0, "\"*\" does not hold tenant:*");
  is_int(sg_strv_has(&star, "tenant:other"), 1, "it holds a scope that merely looks alike");
  is_int(sg_strv_has(&star, "tenant:"), 1, "and tenant:");
  sg_strv both = STRV("*", "tenant:*");
  is_int(sg_strv_has(&both, "tenant:*"), 1, "tenant:* by name is held");
  sg_strv named = STRV("repo:read", "tenant:*");
  is_int(sg_strv_has(&named, "tenant:*"), 1, "tenant:* alone is held");
  is_int(sg_strv_has(&named, "repo:write"), 0, "and holds no other scope");
}

static const tap_test tests[] = {
    TEST(unit_scopes_exact),
    TEST(unit_scopes_star),
    TEST(unit_scopes_no_partial),
    TEST(unit_scopes_empty),
    TEST(security_scopes_star_is_not_tenant_star),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

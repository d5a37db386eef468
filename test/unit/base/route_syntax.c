/*
 * route_syntax.c -- unit tests of lib/base/route_syntax.c: path patterns, method lists and
 * method bits and names.
 */
#include <string.h>

#include "base/route_syntax.h"
#include "base/sg.h"
#include "tap.h"

static void unit_route_syntax_pattern_check(void) {
  static const char *const good[] = {"/", "/a", "/a/b", "/{x}", "/a/{x}/b", "/a.b-c_d~e",
                                     "/tenants/{tenant}/tools.execute", "/{A_1}", "/a:b",
                                     "/%20"};
  static const char *const bad[] = {"",        "a",       "a/b",    "//",     "/a/",   "/a//b",
                                    "/{}",     "/{x",     "/x}",    "/{x}y",  "/y{x}", "/{x-y}",
                                    "/{x.y}",  "/a b",    "/a?b",   "/a#b",   "/\x7f", "/a\tb",
                                    "/{x}/",   "/{ x }"};
  for (size_t i = 0; i < SG_ARRAY_LEN(good); i++)
    is_int(sg_pattern_check(good[i]), 0, "valid pattern \"%s\"", good[i]);
  for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++)
    is_int(sg_pattern_check(bad[i]), -1, "invalid pattern \"%s\"", bad[i]);
}

static void unit_route_syntax_methods_parse_format(void) {
  is_int(sg_methods_parse("GET"), SG_M_GET, "GET alone (the router lets GET answer HEAD)");
  is_int(sg_methods_parse("POST"), SG_M_POST, "POST alone");
  is_int(sg_methods_parse("GET,POST"), SG_M_GET | SG_M_POST, "a list");
  is_int(sg_methods_parse("PUT, DELETE ,PATCH"), SG_M_PUT | SG_M_DELETE | SG_M_PATCH,
         "spaces around commas");
  is_int(sg_methods_parse("OPTIONS,HEAD"), SG_M_OPTIONS | SG_M_HEAD, "OPTIONS and HEAD");
  is_int(sg_methods_parse("POST,POST"), SG_M_POST, "repeats are harmless");
  is_int(sg_methods_parse(""), 0, "empty list is 0");
  is_int(sg_methods_parse(" , "), 0, "only separators is 0");
  is_int(sg_methods_parse("get"), 0, "methods are case-sensitive");
  is_int(sg_methods_parse("GET,BREW"), 0, "one unknown method makes the list invalid");
  is_int(sg_methods_parse("GETTTTTTTTTTTTTTTTTTTT"), 0, "an over-long word is invalid");
  is_int(sg_method_bit("PATCH"), SG_M_PATCH, "method bit of PATCH");
  is_int(sg_method_bit("PUTS"), 0, "unknown method bit is 0");
  is_int(sg_method_bit(""), 0, "empty method bit is 0");

  char out[64];
  sg_methods_format(0, out, sizeof out);
  is_str(out, "", "no methods");
  sg_methods_format(SG_M_POST, out, sizeof out);
  is_str(out, "POST", "one method");
  sg_methods_format(SG_M_POST | SG_M_GET | SG_M_HEAD, out, sizeof out);
  is_str(out, "GET, HEAD, POST", "methods in canonical order");
  sg_methods_format(0x7f, out, sizeof out);
  is_str(out, "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS", "all seven fit in 64 bytes");
  char small[12];
  memset(small, 'X', sizeof small);
  sg_methods_format(0x7f, small, sizeof small);
  is_str(small, "GET, HEAD", "a short buffer holds whole names only");
}

static void unit_route_syntax_method_index_name(void) {
  int round_trip = 1;
  for (unsigned i = 0; i < SG_METHOD_COUNT; i++) {
    const char *name = sg_method_name(i);
    if (!name || sg_method_index(sg_method_bit(name)) != i) round_trip = 0;
  }
  ok(round_trip, "every method's name gives its bit, and the bit its index");
  is_str(sg_method_name(sg_method_index(SG_M_OPTIONS)), "OPTIONS", "OPTIONS by its bit");
  is_int(sg_method_index(0), SG_METHOD_COUNT, "no bit: SG_METHOD_COUNT");
  is_int(sg_method_index(SG_M_GET | SG_M_POST), SG_METHOD_COUNT, "two bits: SG_METHOD_COUNT");
  is_int(sg_method_index(1u << SG_METHOD_COUNT), SG_METHOD_COUNT, "an unknown bit: SG_METHOD_COUNT");
  ok(sg_method_name(SG_METHOD_COUNT) == NULL, "no name past the last method");
}

static const tap_test tests[] = {
    TEST(unit_route_syntax_pattern_check),
    TEST(unit_route_syntax_methods_parse_format),
    TEST(unit_route_syntax_method_index_name),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

/*
 * route_syntax.h -- how a route is written: HTTP method names and their bits, method lists
 * ("GET,POST") and path patterns ("/tenants/{tenant}/tools.execute").  Pure functions, shared
 * by the configuration (which checks [service.NAME] routes), the metrics (a counter per
 * method) and the router.
 */
#ifndef SG_ROUTE_SYNTAX_H
#define SG_ROUTE_SYNTAX_H

#include <stddef.h>

enum {
  SG_M_GET = 1u << 0,
  SG_M_HEAD = 1u << 1,
  SG_M_POST = 1u << 2,
  SG_M_PUT = 1u << 3,
  SG_M_DELETE = 1u << 4,
  SG_M_PATCH = 1u << 5,
  SG_M_OPTIONS = 1u << 6,
};
#define SG_METHOD_COUNT 7

/* Parameters ({name} segments) in one pattern. */
#define SG_MAX_PARAMS 8

/* One SG_M_* bit for a method name, 0 when unknown. */
unsigned sg_method_bit(const char *method);
/* The index of one SG_M_* bit (the bit is 1u << index), below SG_METHOD_COUNT; SG_METHOD_COUNT
 * for anything else. */
unsigned sg_method_index(unsigned bit);
/* The name of the method of an index ("GET" for 0), NULL for SG_METHOD_COUNT and beyond. */
const char *sg_method_name(unsigned index);
/* "GET, HEAD, POST" for a set of methods; out needs 64 bytes. */
void sg_methods_format(unsigned methods, char *out, size_t len);
/* Parses "GET,POST" into bits; 0 when empty or a name is unknown.  (HEAD is not added: the
 * router answers HEAD with the GET route unless a route claims HEAD itself.) */
unsigned sg_methods_parse(const char *list);
/* 0 when pattern is a valid absolute path pattern (at most SG_MAX_PARAMS parameters), else -1. */
int sg_pattern_check(const char *pattern);

#endif

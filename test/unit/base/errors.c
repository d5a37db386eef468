/*
 * errors.c -- unit tests of lib/base/errors.c: soulgw_strerror() for every SOULGW_E* code, and the
 * API error table of SPEC section 4 (code string and HTTP status of each row).
 */
#include <limits.h>
#include <string.h>

#include "soulgw.h"
#include "tap.h"

static void unit_errors_strerror(void) {
  is_str(soulgw_strerror(SOULGW_OK), "success", "0");
  is_str(soulgw_strerror(SOULGW_ENOMEM), "out of memory", "SOULGW_ENOMEM");
  is_str(soulgw_strerror(SOULGW_EINVAL), "invalid argument", "SOULGW_EINVAL");
  is_str(soulgw_strerror(SOULGW_ECONFIG), "invalid configuration", "SOULGW_ECONFIG");
  is_str(soulgw_strerror(SOULGW_EIO), "input/output error", "SOULGW_EIO");
  is_str(soulgw_strerror(SOULGW_EBIND), "cannot listen on the configured address", "SOULGW_EBIND");
  is_str(soulgw_strerror(SOULGW_ESTATE), "operation not valid in the current state",
         "SOULGW_ESTATE");
  is_str(soulgw_strerror(SOULGW_EEXIST), "already exists", "SOULGW_EEXIST");
  is_str(soulgw_strerror(SOULGW_ENOTFOUND), "not found", "SOULGW_ENOTFOUND");
  is_str(soulgw_strerror(SOULGW_ESTORE), "storage failure", "SOULGW_ESTORE");
  is_str(soulgw_strerror(SOULGW_EHTTP), "HTTP server failure", "SOULGW_EHTTP");
  is_str(soulgw_strerror(SOULGW_ECLOSED), "the client connection is gone", "SOULGW_ECLOSED");
  is_str(soulgw_strerror(SOULGW_ETIMEDOUT), "timed out", "SOULGW_ETIMEDOUT");
  static const int unknown[] = {-13, -100, 1, 2, INT_MIN, INT_MAX};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
    is_str(soulgw_strerror(unknown[i]), "unknown error", "%d is unknown", unknown[i]);
}

static void unit_errors_codes_are_stable(void) {
  /* Codes are only appended, never renumbered: a host may have compiled these in. */
  is_int(SOULGW_ENOMEM, -1, "SOULGW_ENOMEM is -1");
  is_int(SOULGW_EINVAL, -2, "SOULGW_EINVAL is -2");
  is_int(SOULGW_ECONFIG, -3, "SOULGW_ECONFIG is -3");
  is_int(SOULGW_EIO, -4, "SOULGW_EIO is -4");
  is_int(SOULGW_EBIND, -5, "SOULGW_EBIND is -5");
  is_int(SOULGW_ESTATE, -6, "SOULGW_ESTATE is -6");
  is_int(SOULGW_EEXIST, -7, "SOULGW_EEXIST is -7");
  is_int(SOULGW_ENOTFOUND, -8, "SOULGW_ENOTFOUND is -8");
  is_int(SOULGW_ESTORE, -9, "SOULGW_ESTORE is -9");
  is_int(SOULGW_EHTTP, -10, "SOULGW_EHTTP is -10");
  is_int(SOULGW_ECLOSED, -11, "SOULGW_ECLOSED is -11");
  is_int(SOULGW_ETIMEDOUT, -12, "SOULGW_ETIMEDOUT is -12");
}

/* SPEC section 4, row by row. */
static const struct {
  soulgw_api_error e;
  const char *code;
  int status;
} spec_rows[] = {
    {SOULGW_API_AUTH_UNAUTHENTICATED, "AUTH.UNAUTHENTICATED", 401},
    {SOULGW_API_AUTH_FORBIDDEN, "AUTH.FORBIDDEN", 403},
    {SOULGW_API_POLICY_DENY_TOOL, "POLICY.DENY_TOOL", 403},
    {SOULGW_API_SCHEMA_VALIDATION_FAILED, "SCHEMA.VALIDATION_FAILED", 422},
    {SOULGW_API_ROUTE_NOT_FOUND, "ROUTE.NOT_FOUND", 404},
    {SOULGW_API_ROUTE_METHOD_NOT_ALLOWED, "ROUTE.METHOD_NOT_ALLOWED", 405},
    {SOULGW_API_REQUEST_TOO_LARGE, "REQUEST.TOO_LARGE", 413},
    {SOULGW_API_REQUEST_UNSUPPORTED_MEDIA_TYPE, "REQUEST.UNSUPPORTED_MEDIA_TYPE", 415},
    {SOULGW_API_QUOTA_RATE_LIMITED, "QUOTA.RATE_LIMITED", 429},
    {SOULGW_API_STORAGE_NOT_FOUND, "STORAGE.NOT_FOUND", 404},
    {SOULGW_API_STORAGE_CONFLICT, "STORAGE.CONFLICT", 409},
    {SOULGW_API_STORAGE_UNAVAILABLE, "STORAGE.UNAVAILABLE", 503},
    {SOULGW_API_PROVIDER_UNAVAILABLE, "PROVIDER.UNAVAILABLE", 503},
    {SOULGW_API_LLM_TIMEOUT, "LLM.TIMEOUT", 504},
    {SOULGW_API_UNKNOWN_INTERNAL, "UNKNOWN.INTERNAL", 500},
};

static void unit_errors_api_table(void) {
  for (size_t i = 0; i < sizeof spec_rows / sizeof spec_rows[0]; i++) {
    is_str(soulgw_api_error_code(spec_rows[i].e), spec_rows[i].code, "code of %s",
           spec_rows[i].code);
    is_int(soulgw_api_error_status(spec_rows[i].e), spec_rows[i].status, "status of %s",
           spec_rows[i].code);
  }
  /* Appended after the SPEC table: a malformed request. */
  is_str(soulgw_api_error_code(SOULGW_API_REQUEST_BAD), "REQUEST.BAD", "code of REQUEST.BAD");
  is_int(soulgw_api_error_status(SOULGW_API_REQUEST_BAD), 400, "status of REQUEST.BAD");
  /* Appended for the HTTP edge: a transfer coding not read (501), too many bodies without a
   * credential at once (503). */
  is_str(soulgw_api_error_code(SOULGW_API_REQUEST_NOT_IMPLEMENTED), "REQUEST.NOT_IMPLEMENTED",
         "code of REQUEST.NOT_IMPLEMENTED");
  is_int(soulgw_api_error_status(SOULGW_API_REQUEST_NOT_IMPLEMENTED), 501,
         "status of REQUEST.NOT_IMPLEMENTED");
  is_str(soulgw_api_error_code(SOULGW_API_REQUEST_BUSY), "REQUEST.BUSY", "code of REQUEST.BUSY");
  is_int(soulgw_api_error_status(SOULGW_API_REQUEST_BUSY), 503, "status of REQUEST.BUSY");
  /* Appended for budgets (SPEC-llm-routing 2): a tenant at a cap of its day. */
  is_str(soulgw_api_error_code(SOULGW_API_BUDGET_EXCEEDED), "BUDGET.EXCEEDED",
         "code of BUDGET.EXCEEDED");
  is_int(soulgw_api_error_status(SOULGW_API_BUDGET_EXCEEDED), 429, "status of BUDGET.EXCEEDED");
  is_int(SOULGW_API_ERROR_COUNT_, 19, "19 API errors");
  /* Every enum value has a distinct code string of the form AREA.NAME. */
  int distinct = 1, shaped = 1;
  for (int a = 0; a < SOULGW_API_ERROR_COUNT_; a++) {
    const char *ca = soulgw_api_error_code((soulgw_api_error)a);
    if (!ca || !strchr(ca, '.')) shaped = 0;
    for (int b = a + 1; ca && b < SOULGW_API_ERROR_COUNT_; b++) {
      const char *cb = soulgw_api_error_code((soulgw_api_error)b);
      if (cb && strcmp(ca, cb) == 0) distinct = 0;
    }
  }
  ok(shaped, "every code has the AREA.NAME shape");
  ok(distinct, "no two errors share a code string");
}

static void unit_errors_api_out_of_range(void) {
  ok(soulgw_api_error_code(SOULGW_API_ERROR_COUNT_) == NULL, "code of COUNT_ is NULL");
  is_int(soulgw_api_error_status(SOULGW_API_ERROR_COUNT_), 500, "status of COUNT_ is 500");
  ok(soulgw_api_error_code((soulgw_api_error)-1) == NULL, "code of -1 is NULL");
  is_int(soulgw_api_error_status((soulgw_api_error)-1), 500, "status of -1 is 500");
  ok(soulgw_api_error_code((soulgw_api_error)1000) == NULL, "code of 1000 is NULL");
  is_int(soulgw_api_error_status((soulgw_api_error)1000), 500, "status of 1000 is 500");
  ok(soulgw_api_error_code((soulgw_api_error)INT_MIN) == NULL, "code of INT_MIN is NULL");
  is_int(soulgw_api_error_status((soulgw_api_error)INT_MIN), 500, "status of INT_MIN is 500");
}

static const tap_test tests[] = {
    TEST(unit_errors_strerror),
    TEST(unit_errors_codes_are_stable),
    TEST(unit_errors_api_table),
    TEST(unit_errors_api_out_of_range),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}

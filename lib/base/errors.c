/*
 * errors.c -- names of the library's error codes and of the API error table.
 */
#include "soulgw.h"

const char *soulgw_strerror(int code) {
  switch (code) {
    case SOULGW_OK: return "success";
#define SOULGW_ERRNO_CASE_(name, val, msg) \
  case SOULGW_E##name: return msg;
    SOULGW_ERRNO_MAP(SOULGW_ERRNO_CASE_)
#undef SOULGW_ERRNO_CASE_
    default: return "unknown error";
  }
}

static const struct {
  const char *code;
  int status;
} api_errors[] = {
#define SOULGW_API_ROW_(name, code, status) {code, status},
    SOULGW_API_ERROR_MAP(SOULGW_API_ROW_)
#undef SOULGW_API_ROW_
};

const char *soulgw_api_error_code(soulgw_api_error e) {
  return (unsigned)e < SOULGW_API_ERROR_COUNT_ ? api_errors[e].code : NULL;
}

int soulgw_api_error_status(soulgw_api_error e) {
  return (unsigned)e < SOULGW_API_ERROR_COUNT_ ? api_errors[e].status : 500;
}

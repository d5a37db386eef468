/*
 * mcp_session.c -- unit tests of lib/routes/mcp/session.c, the MCP session table: ids, the
 * owner checks, max_sessions, idle expiry (on lookup and by the sweep that makes room), the
 * hash growing, and concurrent use from several threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "routes/mcp/session.h"
#include "tap.h"

#define HOUR_NS 3600000000000ULL

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int hex32(const char *s) {
  size_t n = strspn(s, "0123456789abcdef");
  return n == 32 && s[n] == 0;
}

static void unit_mcp_session_owner(void) {
  sg_mcp_sessions *t = sg_mcp_sessions_new();
  char a[33], b[33];
  const char *rev = NULL;
  is_int(sg_mcp_session_open(t, "bearer:local", "demo", "2025-06-18", 10, HOUR_NS, a), SG_MCP_OK,
         "a session opens");
  is_int(sg_mcp_session_open(t, "bearer:local", "demo", "2025-11-25", 10, HOUR_NS, b), SG_MCP_OK,
         "a second one opens");
  ok(hex32(a) && hex32(b), "ids are 32 lower-case hex digits");
  ok(strcmp(a, b) != 0, "ids differ");
  is_int(sg_mcp_session_use(t, a, "bearer:local", "demo", HOUR_NS, &rev), SG_MCP_OK,
         "its owner uses it");
  is_str(rev, "2025-06-18", "with its revision");
  is_int(sg_mcp_session_use(t, a, "bearer:other", "demo", HOUR_NS, NULL), SG_MCP_OTHER_PRINCIPAL,
         "another principal may not");
  is_int(sg_mcp_session_use(t, a, "bearer:local", "elsewhere", HOUR_NS, NULL),
         SG_MCP_OTHER_TENANT, "nor another tenant");
  is_int(sg_mcp_session_use(t, a, NULL, "demo", HOUR_NS, NULL), SG_MCP_OTHER_PRINCIPAL,
         "nor an anonymous request");
  is_int(sg_mcp_session_use(t, "0123456789abcdef0123456789abcdef", "bearer:local", "demo",
                            HOUR_NS, NULL),
         SG_MCP_UNKNOWN, "an unknown id");
  is_int(sg_mcp_session_use(t, "ABC", "bearer:local", "demo", HOUR_NS, NULL), SG_MCP_UNKNOWN,
         "a malformed id");
  is_int(sg_mcp_session_close(t, a, "bearer:other", "demo", HOUR_NS), SG_MCP_OTHER_PRINCIPAL,
         "another principal may not close it");
  is_int(sg_mcp_session_close(t, a, "bearer:local", "demo", HOUR_NS), SG_MCP_OK, "closed");
  is_int(sg_mcp_session_use(t, a, "bearer:local", "demo", HOUR_NS, NULL), SG_MCP_UNKNOWN,
         "gone once closed");
  is_int(sg_mcp_session_use(t, b, "bearer:local", "demo", HOUR_NS, NULL), SG_MCP_OK,
         "the other one stays");
  char anon[33];
  is_int(sg_mcp_session_open(t, NULL, NULL, "2025-06-18", 10, HOUR_NS, anon), SG_MCP_OK,
         "an anonymous session");
  is_int(sg_mcp_session_use(t, anon, NULL, NULL, HOUR_NS, NULL), SG_MCP_OK,
         "is used anonymously");
  sg_mcp_sessions_free(t);
  sg_mcp_sessions_free(NULL);
}

static void unit_mcp_session_max(void) {
  sg_mcp_sessions *t = sg_mcp_sessions_new();
  char id[3][33], more[33];
  for (int i = 0; i < 3; i++)
    is_int(sg_mcp_session_open(t, "p", "t", "r", 3, HOUR_NS, id[i]), SG_MCP_OK, "session %d", i);
  is_int(sg_mcp_session_open(t, "p", "t", "r", 3, HOUR_NS, more), SG_MCP_FULL,
         "a fourth is refused at max 3");
  is_int((long long)sg_mcp_sessions_count(t), 3, "three held");
  is_int(sg_mcp_session_close(t, id[1], "p", "t", HOUR_NS), SG_MCP_OK, "one closed");
  is_int(sg_mcp_session_open(t, "p", "t", "r", 3, HOUR_NS, more), SG_MCP_OK, "makes room");
  is_int(sg_mcp_session_open(t, "p", "t", "r", 5, HOUR_NS, more), SG_MCP_OK,
         "a higher max (a reload) applies at once");
  sg_mcp_sessions_free(t);
}

static void unit_mcp_session_expiry(void) {
  sg_mcp_sessions *t = sg_mcp_sessions_new();
  const unsigned long long idle = 20000000ULL; /* 20 ms */
  char a[33], b[33], c[33];
  sg_mcp_session_open(t, "p", "t", "r", 2, idle, a);
  sg_mcp_session_open(t, "p", "t", "r", 2, idle, b);
  sleep_ms(60);
  is_int(sg_mcp_session_use(t, a, "p", "t", idle, NULL), SG_MCP_UNKNOWN,
         "a session idle past the limit is unknown");
  is_int((long long)sg_mcp_sessions_count(t), 1, "and forgotten");
  is_int(sg_mcp_session_use(t, b, "p", "t", HOUR_NS, NULL), SG_MCP_OK,
         "the limit is the caller's: a longer one (a reload) keeps the other");
  sleep_ms(60);
  is_int(sg_mcp_session_open(t, "p", "t", "r", 1, idle, c), SG_MCP_OK,
         "opening sweeps the idle ones, so max 1 has room");
  is_int((long long)sg_mcp_sessions_count(t), 1, "only the new one is held");
  is_int(sg_mcp_session_use(t, b, "p", "t", HOUR_NS, NULL), SG_MCP_UNKNOWN,
         "the swept one is gone");
  sg_mcp_sessions_free(t);
}

static void unit_mcp_session_many(void) {
  sg_mcp_sessions *t = sg_mcp_sessions_new();
  static char ids[5000][33];
  int opened = 0, found = 0;
  for (int i = 0; i < 5000; i++)
    opened += sg_mcp_session_open(t, "p", "t", "r", 0, HOUR_NS, ids[i]) == 0;
  for (int i = 0; i < 5000; i++)
    found += sg_mcp_session_use(t, ids[i], "p", "t", HOUR_NS, NULL) == 0;
  is_int(opened, 5000, "5000 sessions open (max 0: no limit)");
  is_int(found, 5000, "each is found again as the hash grows");
  sg_mcp_sessions_free(t);
}

static sg_mcp_sessions *shared;

static void *worker(void *arg) {
  long *failures = arg;
  char id[33];
  for (int i = 0; i < 2000; i++) {
    if (sg_mcp_session_open(shared, "p", "t", "r", 0, HOUR_NS, id) ||
        sg_mcp_session_use(shared, id, "p", "t", HOUR_NS, NULL) ||
        sg_mcp_session_close(shared, id, "p", "t", HOUR_NS))
      (*failures)++;
  }
  return NULL;
}

static void unit_mcp_session_threads(void) {
  shared = sg_mcp_sessions_new();
  pthread_t th[4];
  long failures[4] = {0};
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, worker, &failures[i]);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  is_int(failures[0] + failures[1] + failures[2] + failures[3], 0,
         "4 threads open, use and close 2000 sessions each");
  is_int((long long)sg_mcp_sessions_count(shared), 0, "none left");
  sg_mcp_sessions_free(shared);
}

int main(void) {
  RUN(unit_mcp_session_owner);
  RUN(unit_mcp_session_max);
  RUN(unit_mcp_session_expiry);
  RUN(unit_mcp_session_many);
  RUN(unit_mcp_session_threads);
  return tap_done();
}

/*
 * session.h -- the MCP sessions (SPEC-protocols 2): what an initialize opened, found again by
 * its Mcp-Session-Id on every later request.
 *
 * A session remembers the principal and tenant that opened it and the protocol revision it
 * agreed on.  The table lives as long as the gateway (it survives reloads); its limits come
 * from the caller on each call ([mcp] session_idle_s and max_sessions of the request's
 * configuration), so a reload changes them at once.  A session idle for longer than the limit
 * is gone: it is forgotten when next looked up, and the oldest idle ones are swept whenever a
 * session opens, so memory stays within max_sessions sessions.  Thread-safe: one mutex, held
 * for a hash lookup or a short sweep, never across I/O.
 */
#ifndef SG_MCP_SESSION_H
#define SG_MCP_SESSION_H

#include <stddef.h>
#include <stdint.h>

typedef struct sg_mcp_sessions sg_mcp_sessions;

/* Hex digits in a session id (128 random bits). */
#define SG_MCP_SESSION_ID_LEN 32

/* Outcomes of sg_mcp_session_open() and sg_mcp_session_use(). */
enum {
  SG_MCP_OK = 0,
  SG_MCP_FULL = -1,           /* max_sessions are open and none is idle past the limit */
  SG_MCP_UNKNOWN = -2,        /* no such session, or it expired */
  SG_MCP_OTHER_PRINCIPAL = -3,/* the session belongs to another principal */
  SG_MCP_OTHER_TENANT = -4,   /* the session acts for another tenant */
  SG_MCP_NOMEM = -5
};

/* NULL when out of memory.  _free(NULL) does nothing. */
sg_mcp_sessions *sg_mcp_sessions_new(void);
void sg_mcp_sessions_free(sg_mcp_sessions *t);

/* Opens a session for principal (NULL: anonymous) and tenant (may be NULL), which agreed on
 * revision (a static string), and writes its id into id.  Sessions idle longer than idle_ns are
 * swept first; with max still open the answer is SG_MCP_FULL.  Returns SG_MCP_OK, SG_MCP_FULL,
 * SG_MCP_NOMEM. */
int sg_mcp_session_open(sg_mcp_sessions *t, const char *principal, const char *tenant,
                        const char *revision, long long max, uint64_t idle_ns,
                        char id[SG_MCP_SESSION_ID_LEN + 1]);

/* Finds the session id for a request of principal acting for tenant, and marks it used.  A
 * session idle longer than idle_ns is removed and unknown.  *revision (may be NULL) gets the
 * session's revision.  Returns SG_MCP_OK, SG_MCP_UNKNOWN, SG_MCP_OTHER_PRINCIPAL,
 * SG_MCP_OTHER_TENANT (the session is then left as it was). */
int sg_mcp_session_use(sg_mcp_sessions *t, const char *id, const char *principal,
                       const char *tenant, uint64_t idle_ns, const char **revision);

/* Ends the session id, as sg_mcp_session_use() checks it first.  Returns as that. */
int sg_mcp_session_close(sg_mcp_sessions *t, const char *id, const char *principal,
                         const char *tenant, uint64_t idle_ns);

/* Sessions held (expired ones not yet swept included). */
size_t sg_mcp_sessions_count(sg_mcp_sessions *t);

#endif

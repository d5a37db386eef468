/*
 * redisserver.h -- a real Redis for the tests, from Debian's package (redis-server), started
 * once per test program on 127.0.0.1 and a free port, with no persistence, in a fresh temporary
 * directory, and stopped at exit.
 *
 * It requires a password (REDISSERVER_PASSWORD), so that the URLs the tests give soulgw hold a
 * secret that must never be printed.
 */
#ifndef REDISSERVER_H
#define REDISSERVER_H

#include <stddef.h>

#define REDISSERVER_PASSWORD "rd-test-Secret-4c2e90"

/* Starts the server (once; later calls return the first outcome): 0 when it runs, 1 when
 * redis-server is not installed (the caller skips), -1 when it could not start (with a
 * diagnostic).  It is stopped at exit. */
int redisserver_start(void);
/* Stops it and removes its directory.  Nothing when it does not run. */
void redisserver_stop(void);
/* Stops the server, as an outage would (its data is lost: no persistence): 0 or -1. */
int redisserver_pause(void);
/* Starts it again on the same port: 0 or -1. */
int redisserver_resume(void);
/* Its TCP port, 0 when it does not run. */
int redisserver_port(void);
/* redis://:PASSWORD@127.0.0.1:PORT/db */
void redisserver_url(char *out, size_t len, int db);
/* Runs one command (words split on spaces) on db: the integer it answers (an array: its
 * length; a status or string: 0; nil: -2), or -1 on an error. */
long long redisserver_cmd(int db, const char *command);

#endif

/*
 * pgserver.h -- a real PostgreSQL for the tests, from Debian's package (postgresql), started
 * once per test program in a fresh temporary directory and stopped at the end.
 *
 * The server refuses to run as root: as root it runs as the package's "postgres" user (through
 * runuser), otherwise as the caller.  It listens on 127.0.0.1 only, on a free port, with its
 * unix socket in the temporary directory; connections over TCP need the password of the
 * superuser "soulgw" (SCRAM), so that the tests' URLs hold a secret that must never be printed.
 * fsync is off unless pgserver_durable() was called: the tests restart soulgw, never the
 * machine.
 */
#ifndef PGSERVER_H
#define PGSERVER_H

#include <stddef.h>

/* The superuser's password, in every URL the helper makes. */
#define PGSERVER_PASSWORD "pg-test-Secret-7f3a91"

/* Starts the server (once; later calls return the first outcome): 0 when it runs, 1 when the
 * server's binaries are not installed (the caller skips), -1 when it could not start (with a
 * diagnostic).  It is stopped at exit. */
int pgserver_start(void);
/* Before pgserver_start(): keep fsync on, as a benchmark of durable writes needs. */
void pgserver_durable(void);
/* Stops it and removes its directory.  Nothing when it does not run. */
void pgserver_stop(void);
/* Stops the server, keeping its data, as an outage would: 0 or -1. */
int pgserver_pause(void);
/* Starts it again on the same port: 0 or -1. */
int pgserver_resume(void);
/* Its TCP port, 0 when it does not run. */
int pgserver_port(void);
/* Creates database db (letters, digits and _) unless it exists: 0 or -1. */
int pgserver_createdb(const char *db);
/* The connection URI of database db: postgresql://soulgw:PASSWORD@127.0.0.1:PORT/db. */
void pgserver_url(char *out, size_t len, const char *db);
/* Runs sql on the database at url: 0, or -1 with a diagnostic. */
int pgserver_exec(const char *url, const char *sql);
/* The integer in the first column of the first row sql answers on url, or -1. */
long long pgserver_query_int(const char *url, const char *sql);

#endif

/*
 * store.h -- the storage interface.  Routes and the gateway talk to storage only through this
 * header; store_sqlite.c is its SQLite implementation (and the only file that calls SQLite).
 */
#ifndef SG_STORE_H
#define SG_STORE_H

/* The storage engine's version, for /version. */
const char *sg_store_engine_version(void);

#endif

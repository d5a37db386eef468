/*
 * store_sqlite.c -- the SQLite implementation of store.h.
 */
#include <sqlite3.h>

#include "store.h"

const char *sg_store_engine_version(void) { return sqlite3_libversion(); }

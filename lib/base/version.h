/* version.h -- build facts not in the public header. */
#ifndef SG_VERSION_H
#define SG_VERSION_H
/* RFC 3339 time of the build, or "unknown". */
const char *sg_built_at(void);
#endif

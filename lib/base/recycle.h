/*
 * recycle.h -- blocks a thread frees and soon needs again, kept for it instead of given back to
 * malloc.
 *
 * glibc's per-thread cache holds blocks of up to 1032 bytes; a bigger block goes through the
 * arena's bins on both malloc and free (and now and then consolidates them), which showed as
 * about 5% of a proxied request's CPU for the two per-request blocks over that size (the model
 * call's state and the upstream job).  A thread keeps up to SG_RECYCLE_KEEP such blocks of at
 * most SG_RECYCLE_MAX_BYTES and hands one back when a request of no more than its size comes.
 * A block may be freed on another thread than the one that took it.  What a thread keeps is
 * freed when it exits.  Under AddressSanitizer a kept block is poisoned, so a use after
 * sg_recycle_free() is still reported.
 */
#ifndef SG_RECYCLE_H
#define SG_RECYCLE_H

#include <stddef.h>

#define SG_RECYCLE_KEEP 8
#define SG_RECYCLE_MAX_BYTES (16u * 1024u)

/* n bytes (not zeroed), aligned for any type, or NULL; release with sg_recycle_free() only. */
void *sg_recycle_alloc(size_t n);
void sg_recycle_free(void *p);

#endif

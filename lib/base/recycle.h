/*
 * recycle.h -- blocks a thread frees and soon needs again, kept for it instead of given back to
 * malloc.
 *
 * glibc's per-thread cache holds seven blocks of a size, none over 1032 bytes.  A loop with
 * sixteen model calls in flight frees more than seven of a kind at a time, and the bigger
 * blocks of a request (its state, 1 KB; its arena's second block, 4 KB; the model call's state;
 * the upstream job) always went through the arena's bins: _int_malloc, _int_free and, for a
 * block of 1 KB or more while small freed chunks waited, malloc_consolidate, together about 5%
 * of a proxied request's CPU.  A thread keeps up to SG_RECYCLE_KEEP blocks here (at most
 * SG_RECYCLE_KEPT_BYTES together, none over SG_RECYCLE_MAX_BYTES), in size classes, and hands
 * one back for a request of its class.  A block may be freed on another thread than the one
 * that took it.  What a thread keeps is freed when it exits.  Under AddressSanitizer a kept
 * block is poisoned, so a use after sg_recycle_free() is still reported.
 */
#ifndef SG_RECYCLE_H
#define SG_RECYCLE_H

#include <stddef.h>

#define SG_RECYCLE_KEEP 64
#define SG_RECYCLE_KEPT_BYTES (256u * 1024u)
#define SG_RECYCLE_MAX_BYTES (16u * 1024u)

/* n bytes (not zeroed), aligned for any type, or NULL; release with sg_recycle_free() only. */
void *sg_recycle_alloc(size_t n);
void sg_recycle_free(void *p);

#endif

/*
 * spool.h -- the durable spool of reports waiting for delivery.
 *
 * Every report (an event, a periodic status, a sightings batch) is written
 * to disk before delivery is tried, and removed only when the receiver has
 * acknowledged it: delivery is at least once, and each report carries its
 * UUID so the receiver can drop duplicates.  Each reporter has its own
 * queue, a directory in which a report is one file named by a sequence
 * number; a report for several reporters is written once and hard-linked
 * into each queue.  Files are written to a temporary name, synced and
 * renamed, so a crash never leaves half a report.
 *
 * A byte limit per queue drops the oldest periodic status first, then the
 * oldest sightings, and events only as a last resort; every drop is
 * counted, and the count is part of the next status report.
 */
#ifndef RG_SPOOL_H
#define RG_SPOOL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum rg_report_kind {
	RG_REPORT_EVENT,
	RG_REPORT_STATUS,
	RG_REPORT_SIGHTING,
	RG_REPORT_KIND_COUNT
};
extern const char *const rg_report_kind_str[];

struct rg_spool;

/**
 * Open the spool in DIR (made when missing) for the N reporters named in
 * NAMES, each queue limited to LIMIT bytes (0 = no limit).  Reports left by
 * an earlier run are kept; temporary files of an interrupted write are
 * removed.  Returns NULL with errno set.
 */
struct rg_spool *rg_spool_open(const char *dir, const char *const *names,
    size_t n, uint64_t limit);
void rg_spool_close(struct rg_spool *s);

/**
 * Add REPORT (an object; "id" is added when missing) of KIND to every
 * queue.  Returns 0 or a negative errno code (nothing is left half-done:
 * a queue either has the report whole or not at all).
 */
int rg_spool_put(struct rg_spool *s, enum rg_report_kind kind,
    const json_t *report);

/** A batch taken from a queue for delivery. */
struct rg_spool_batch {
	json_t *reports;	/**< array of report objects, oldest first */
	uint64_t *seqs;		/**< their sequence numbers */
	size_t n;
};

/**
 * The oldest MAX reports of reporter R (0-based index in NAMES), at most
 * MAX_BYTES of them (at least one).  A report that cannot be read back is
 * moved aside (NAME.bad) and counted.  Returns 0 (B->n may be 0).
 */
int rg_spool_peek(struct rg_spool *s, size_t r, size_t max,
    size_t max_bytes, struct rg_spool_batch *b);
/** Remove the reports of B from reporter R's queue: they were delivered. */
int rg_spool_ack(struct rg_spool *s, size_t r, const struct rg_spool_batch *b);
/** Free B's memory (the reports stay queued unless acknowledged). */
void rg_spool_batch_clear(struct rg_spool_batch *b);

/** Queue figures of reporter R. */
struct rg_spool_stats {
	uint64_t queued;	/**< reports waiting */
	uint64_t bytes;
	uint64_t delivered;	/**< acknowledged since start */
	uint64_t dropped[RG_REPORT_KIND_COUNT];	/**< by the limit, ever */
	uint64_t unreadable;	/**< moved aside */
};
void rg_spool_stats(const struct rg_spool *s, size_t r,
    struct rg_spool_stats *st);

#endif

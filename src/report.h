/*
 * report.h -- reporting upstream: events, periodic status and sightings,
 * spooled durably and delivered by reporter plugins.
 *
 * Every report is first written to the spool (STATE_DIR/spool, one queue
 * per reporter) and removed only when the reporter's receiver acknowledged
 * it.  Each reporter delivers its queue in batches from libuv's thread
 * pool, one batch in flight at a time; a failed delivery is retried after
 * an exponential back-off with jitter (1 s doubling up to 5 min), and the
 * first failure and the recovery are events.  Events are reported as they
 * are recorded, the status document every reporter's interval, sightings
 * as the agent hands them over.
 */
#ifndef RG_REPORT_H
#define RG_REPORT_H

#include <jansson.h>
#include <uv.h>

#include "conf.h"

struct rg_report;
struct rg_journal;

/** Gives the status document to report (a new reference), or NULL. */
typedef json_t *rg_report_status_cb(void *arg);

/**
 * Reporting on LOOP, spooling in STATE_DIR/spool, recording its own
 * trouble in J (whose events it also subscribes to), asking STATUS_CB for
 * the status document.
 */
struct rg_report *rg_report_new(uv_loop_t *loop, struct rg_journal *j,
    rg_report_status_cb *status_cb, void *status_arg);

/**
 * Take the reporters of CONF (at start and after every reload): open the
 * spool and a plugin instance for each.  Returns 0, or a negative errno
 * code with ERR (the previous reporters then stay as they were).
 */
int rg_report_configure(struct rg_report *r, const struct rg_conf *conf,
    char *err, size_t err_len);

/**
 * Spool a sightings report: SIGHTINGS (stolen) is an object
 * { "interval": { "start", "end" }, "hits": [ { "rule", "feed",
 * "indicator", "tlp", "count", "clients"? } ], "stix": [ sighting
 * objects ] } built by the agent.
 */
void rg_report_sightings(struct rg_report *r, json_t *sightings);

/** The "reporters" array of the status document. */
json_t *rg_report_json(const struct rg_report *r);

/**
 * 1 when a reporter's backlog is growing (its last delivery failed and
 * reports are queued), with its name and last error in SUMMARY.
 */
int rg_report_warning(const struct rg_report *r, char *summary, size_t len);

/**
 * Stop: wait for deliveries in flight, close plugins and the spool.  The
 * loop must run on until that is done (the timers close and the deliveries
 * in flight, bounded by their timeout, end); R is freed then.
 */
void rg_report_free(struct rg_report *r);

#endif

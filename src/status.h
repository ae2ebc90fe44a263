/*
 * status.h -- the status document that "resguardctl status --json" prints,
 * and the monitoring verdict that goes with it.
 *
 * The verdict follows the monitoring-plugin convention: 0 all well;
 * 1 warning (failover active or pinned, an upstream not up, a feed failing
 * or unavailable, a reporter's backlog growing, the journal not writable); 2 critical (the active pool has no upstream up: nothing can
 * serve); 3 is left to the client (daemon unreachable).
 */
#ifndef RG_STATUS_H
#define RG_STATUS_H

#include <jansson.h>
#include <stdint.h>

#include "failover.h"

struct rg_feeds;
struct rg_blocklist;
struct rg_backend;
struct rg_report;

/** The other parts the status covers besides failover (any may be NULL). */
struct rg_status_parts {
	const struct rg_feeds *feeds;
	const struct rg_backend *backend;
	const struct rg_blocklist *blocklist;
	uint64_t blocklist_hits;
	const struct rg_report *report;
};

/** The whole status document (DESIGN.md), with "health": {code, summary}. */
json_t *rg_status_json(const struct rg_failover *f,
    const struct rg_status_parts *parts, uint64_t now_ms);

/** One upstream as in the status document. */
json_t *rg_upstream_json(const struct rg_upstream *u);

/** The verdict: 0, 1 or 2, with a one-line summary in SUMMARY. */
int rg_status_verdict(const struct rg_failover *f,
    const struct rg_status_parts *parts, char *summary, size_t len);

#endif

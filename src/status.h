/*
 * status.h -- the status document that "resguardctl status --json" prints,
 * and the monitoring verdict that goes with it.
 *
 * The verdict follows the monitoring-plugin convention: 0 all well;
 * 1 warning (failover active or pinned, an upstream not up, the journal not
 * writable); 2 critical (the active pool has no upstream up: nothing can
 * serve); 3 is left to the client (daemon unreachable).
 */
#ifndef RG_STATUS_H
#define RG_STATUS_H

#include <jansson.h>
#include <stdint.h>

#include "failover.h"

/** The whole status document (DESIGN.md), with "health": {code, summary}. */
json_t *rg_status_json(const struct rg_failover *f, uint64_t now_ms);

/** One upstream as in the status document. */
json_t *rg_upstream_json(const struct rg_upstream *u);

/** The verdict: 0, 1 or 2, with a one-line summary in SUMMARY. */
int rg_status_verdict(const struct rg_failover *f, char *summary,
    size_t len);

#endif

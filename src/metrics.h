/*
 * metrics.h -- the status document in the Prometheus text format.
 *
 * The metrics are rendered from the same JSON document that
 * "resguardctl status --json" prints, so the two can never disagree.
 * Names follow the Prometheus conventions: the resguard_ prefix, base
 * units (seconds), _total for counters, _info for labels-only series.
 */
#ifndef RG_METRICS_H
#define RG_METRICS_H

#include <jansson.h>

/**
 * Render STATUS (the status document; its optional "guard" member holds
 * the query counters) as Prometheus text exposition format 0.0.4.
 * Returns a malloc'd string, or NULL on allocation failure.
 */
char *rg_metrics_render(const json_t *status);

#endif

/*
 * status.c -- the status document and the monitoring verdict.
 *
 * One function builds what "resguardctl status --json" prints; the verdict
 * (0 OK, 1 WARNING, 2 CRITICAL) is computed here, beside the document, so
 * that the exit code of "resguardctl status" and the "health" member of the
 * document can never disagree.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "backend.h"
#include "blocklist.h"
#include "feeds.h"
#include "journal.h"
#include "report.h"
#include "status.h"

/* Counts are cumulative: counts[i] probes took at most le_ms[i]. */
static json_t *
latency_json(const struct rg_lat_hist *h)
{
	json_t *le = json_array(), *counts = json_array();
	size_t i;

	for (i = 0; i < RG_LAT_BUCKETS; i++) {
		json_array_append_new(le, json_real(rg_lat_le_us[i] / 1000.0));
		json_array_append_new(counts, json_integer((json_int_t)h->le[i]));
	}
	return json_pack("{s:o, s:o, s:f, s:I}",
	    "le_ms", le,
	    "counts", counts,
	    "sum_ms", h->sum_us / 1000.0,
	    "count", (json_int_t)h->count);
}

json_t *
rg_upstream_json(const struct rg_upstream *u)
{
	const struct rg_conf_upstream *c = u->conf;
	double med = rg_hist_median_ms(&u->rtt);
	char since[40], errtime[40];
	json_t *o;

	rg_time_format(u->state_since_wall_ms, since, sizeof(since));
	rg_time_format(u->last_error_wall_ms, errtime, sizeof(errtime));
	o = json_pack("{s:s, s:s, s:i, s:s, s:s?, s:s, s:o, s:s?, s:s?, "
	    "s:s, s:I, s:I}",
	    "name", c->name,
	    "address", c->address,
	    "port", (int)c->port,
	    "transport", rg_transport_str[c->transport],
	    "tls_name", c->tls_name,
	    "state", rg_state_str[u->state],
	    "rtt_ms", med < 0 ? json_null() :
	    json_real((double)(long)(med * 100 + 0.5) / 100),
	    "last_error", u->last_err == RG_PROBE_OK ? NULL : u->last_error,
	    "last_error_time", u->last_err == RG_PROBE_OK ? NULL : errtime,
	    "state_since", since,
	    "probes", (json_int_t)u->rounds,
	    "failed", (json_int_t)u->failed_rounds);
	if (o != NULL)
		json_object_set_new(o, "latency_histogram",
		    latency_json(&u->latency));
	return o;
}

static json_t *
pool_json(const struct rg_pool *p)
{
	json_t *ups = json_array();
	size_t i;

	for (i = 0; i < p->n_upstreams; i++)
		json_array_append_new(ups, rg_upstream_json(p->upstreams[i]));
	return json_pack("{s:s, s:s, s:s, s:b, s:o}",
	    "name", p->conf->name,
	    "role", rg_role_str[p->conf->role],
	    "type", p->conf->recursive ? "recursive" : "forward",
	    "healthy", rg_pool_count(p, RG_STATE_UP) > 0,
	    "upstreams", ups);
}

int
rg_status_verdict(const struct rg_failover *f,
    const struct rg_status_parts *parts, char *summary, size_t len)
{
	struct rg_health *h = f->health;
	struct rg_pool *pri = rg_health_primary(h);
	struct rg_pool *act = rg_health_pool(h, f->active);
	size_t i, j, total = 0, up = 0;
	const struct rg_upstream *bad = NULL;

	for (i = 0; i < h->n_pools; i++)
		for (j = 0; j < h->pools[i].n_upstreams; j++) {
			const struct rg_upstream *u = h->pools[i].upstreams[j];

			total++;
			if (u->state == RG_STATE_UP)
				up++;
			else if (bad == NULL ||
			    (bad->state == RG_STATE_UNKNOWN &&
			    u->state != RG_STATE_UNKNOWN))
				bad = u;
		}

	if (act != NULL && rg_pool_count(act, RG_STATE_UP) == 0) {
		if (f->starting) {
			snprintf(summary, len, "starting: primary pool \"%s\" "
			    "not probed enough yet", pri->conf->name);
			return 1;
		}
		snprintf(summary, len, "no pool can serve: active pool "
		    "\"%s\" has no upstream up%s%s", f->active,
		    f->pinned[0] ? " (pinned)" : "",
		    f->pinned[0] ? "" : ", and no other pool is up");
		return 2;
	}
	if (f->pinned[0] != '\0') {
		snprintf(summary, len, "pinned to pool \"%s\" (mode %s) by %s",
		    f->pinned, rg_mode_str[f->mode], f->pinned_by);
		return 1;
	}
	if (f->mode != RG_MODE_NORMAL) {
		snprintf(summary, len, "%s active: pool \"%s\" serves; primary "
		    "pool \"%s\" has %zu of %zu upstreams up",
		    rg_mode_str[f->mode], f->active, pri->conf->name,
		    rg_pool_count(pri, RG_STATE_UP), pri->n_upstreams);
		return 1;
	}
	if (parts != NULL && parts->backend != NULL &&
	    rg_backend_warning(parts->backend, summary, len))
		return 1;
	if (bad != NULL) {
		snprintf(summary, len, "upstream \"%s\" of pool \"%s\" is %s%s%s "
		    "(%zu of %zu upstreams up)", bad->conf->name,
		    bad->pool->conf->name, rg_state_str[bad->state],
		    bad->last_err != RG_PROBE_OK ? ": " : "",
		    bad->last_err != RG_PROBE_OK ? bad->last_error : "",
		    up, total);
		return 1;
	}
	if (parts != NULL && parts->feeds != NULL &&
	    rg_feeds_warning(parts->feeds, summary, len))
		return 1;
	if (parts != NULL && parts->report != NULL &&
	    rg_report_warning(parts->report, summary, len))
		return 1;
	if (rg_journal_write_errors(f->journal) > 0) {
		snprintf(summary, len, "the event journal cannot be written "
		    "(%zu failed writes)", rg_journal_write_errors(f->journal));
		return 1;
	}
	snprintf(summary, len, "mode normal, pool \"%s\" serves, %zu of %zu "
	    "upstreams up", f->active, up, total);
	return 0;
}

json_t *
rg_status_json(const struct rg_failover *f,
    const struct rg_status_parts *parts, uint64_t now_ms)
{
	struct rg_health *h = f->health;
	const struct rg_conf *c = h->conf;
	json_t *pools = json_array(), *doc, *fb;
	char since[40], summary[512];
	size_t i;
	int code;

	for (i = 0; i < h->n_pools; i++)
		json_array_append_new(pools, pool_json(&h->pools[i]));
	rg_time_format(f->mode_since_wall_ms, since, sizeof(since));
	fb = json_pack("{s:s, s:i, s:o, s:b}",
	    "policy", c->failback == RG_FAILBACK_AUTO ? "auto" : "manual",
	    "hold_s", (int)c->failback_hold_s,
	    "primary_healthy_s", f->primary_ok_since_ms == 0 ? json_null() :
	    json_integer((json_int_t)(rg_failover_primary_ok_ms(f, now_ms) /
	    1000)),
	    "ready", f->mode != RG_MODE_NORMAL && f->primary_ok_since_ms != 0);
	code = rg_status_verdict(f, parts, summary, sizeof(summary));
	doc = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:I, s:o, s:o, "
	    "s:o, s:{s:I, s:I, s:I, s:I}, s:o, s:{s:i, s:s}}",
	    "version", PACKAGE_VERSION,
	    "agent_id", c->agent_id,
	    "mode", rg_mode_str[f->mode],
	    "active_pool", f->active,
	    "pinned", f->pinned[0] ? f->pinned : NULL,
	    "pinned_by", f->pinned[0] ? f->pinned_by : NULL,
	    "mode_since", since,
	    "mode_changes", (json_int_t)f->changes,
	    "failback", fb,
	    "pools", pools,
	    "feeds", parts && parts->feeds ? rg_feeds_json(parts->feeds) :
	    json_array(),
	    "blocklist",
	    "entries", (json_int_t)(parts && parts->blocklist ?
	    rg_bl_entries(parts->blocklist) : 0),
	    "bytes", (json_int_t)(parts && parts->blocklist ?
	    rg_bl_bytes(parts->blocklist) : 0),
	    "ip_entries", (json_int_t)(parts && parts->blocklist ?
	    rg_bl_ip_entries(parts->blocklist) : 0),
	    "hits", (json_int_t)(parts ? parts->blocklist_hits : 0),
	    "reporters", parts && parts->report ?
	    rg_report_json(parts->report) : json_array(),
	    "health", "code", code, "summary", summary);
	if (doc != NULL && parts != NULL && parts->backend != NULL)
		json_object_set_new(doc, "backend",
		    rg_backend_json(parts->backend));
	return doc;
}

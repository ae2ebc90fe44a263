/*
 * metrics.c -- Prometheus text exposition of the status document.
 *
 * Each family is written with its HELP and TYPE lines, then one sample per
 * series; label values are escaped as the format requires.  Families whose
 * source is absent from the document (no feeds, no guard) are left out.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void out_printf(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *nb;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		if ((nb = realloc(o->buf, o->cap * 2 + (size_t)n)) == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = nb;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

/* A label value, escaped: backslash, double quote and newline. */
static void
out_label(struct out *o, const char *v)
{
	for (; v != NULL && *v != '\0'; v++) {
		if (*v == '\\')
			out_printf(o, "\\\\");
		else if (*v == '"')
			out_printf(o, "\\\"");
		else if (*v == '\n')
			out_printf(o, "\\n");
		else
			out_printf(o, "%c", *v);
	}
}

static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static double
jnum(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* Upstream series: NAME{pool="...",upstream="..."} VALUE */
static void
upstream_sample(struct out *o, const char *name, const json_t *pool,
    const json_t *u, const char *extra_label, const char *extra_value,
    double v)
{
	out_printf(o, "%s{pool=\"", name);
	out_label(o, jstr(pool, "name"));
	out_printf(o, "\",upstream=\"");
	out_label(o, jstr(u, "name"));
	if (extra_label != NULL) {
		out_printf(o, "\",%s=\"", extra_label);
		out_label(o, extra_value);
	}
	out_printf(o, "\"} %.17g\n", v);
}

/* The upstream's "latency_histogram" when it is well formed, else NULL. */
static const json_t *
latency_hist(const json_t *u)
{
	const json_t *h = json_object_get(u, "latency_histogram");
	const json_t *le = json_object_get(h, "le_ms");
	const json_t *counts = json_object_get(h, "counts");

	if (!json_is_array(le) || !json_is_array(counts) ||
	    json_array_size(le) != json_array_size(counts) ||
	    !json_is_number(json_object_get(h, "sum_ms")) ||
	    !json_is_integer(json_object_get(h, "count")))
		return NULL;
	return h;
}

/*
 * Probe latency as a Prometheus histogram: the document's counts are
 * cumulative already; "le" in seconds, then +Inf, which is the count.
 */
static void
render_latency(struct out *o, const json_t *pools)
{
	const char *name = "resguard_upstream_probe_latency_seconds";
	const json_t *p, *u, *h;
	char le[32], series[96];
	size_t i, j, k;
	int any = 0;

	json_array_foreach(pools, i, p)
		json_array_foreach(json_object_get(p, "upstreams"), j, u)
			if (latency_hist(u) != NULL)
				any = 1;
	if (!any)
		return;
	family(o, name, "histogram",
	    "Round-trip time of the successful basic probes since start.");
	json_array_foreach(pools, i, p)
		json_array_foreach(json_object_get(p, "upstreams"), j, u) {
			if ((h = latency_hist(u)) == NULL)
				continue;
			snprintf(series, sizeof(series), "%s_bucket", name);
			for (k = 0; k < json_array_size(json_object_get(h,
			    "le_ms")); k++) {
				snprintf(le, sizeof(le), "%g",
				    json_number_value(json_array_get(
				    json_object_get(h, "le_ms"), k)) / 1000.0);
				upstream_sample(o, series, p, u, "le", le,
				    json_number_value(json_array_get(
				    json_object_get(h, "counts"), k)));
			}
			upstream_sample(o, series, p, u, "le", "+Inf",
			    jnum(h, "count"));
			snprintf(series, sizeof(series), "%s_sum", name);
			upstream_sample(o, series, p, u, NULL, NULL,
			    jnum(h, "sum_ms") / 1000.0);
			snprintf(series, sizeof(series), "%s_count", name);
			upstream_sample(o, series, p, u, NULL, NULL,
			    jnum(h, "count"));
		}
}

static void
render_upstreams(struct out *o, const json_t *pools)
{
	static const char *const states[] = { "unknown", "down", "degraded",
	    "up" };
	const json_t *p, *u;
	size_t i, j, k;

	family(o, "resguard_upstream_state", "gauge",
	    "Upstream health state: 1 for the current state.");
	json_array_foreach(pools, i, p)
		json_array_foreach(json_object_get(p, "upstreams"), j, u)
			for (k = 0; k < 4; k++)
				upstream_sample(o, "resguard_upstream_state",
				    p, u, "state", states[k],
				    strcmp(jstr(u, "state") ? jstr(u, "state") :
				    "", states[k]) == 0);
	family(o, "resguard_upstream_rtt_seconds", "gauge",
	    "Median probe round-trip time (decaying histogram).");
	json_array_foreach(pools, i, p)
		json_array_foreach(json_object_get(p, "upstreams"), j, u)
			if (json_is_number(json_object_get(u, "rtt_ms")))
				upstream_sample(o,
				    "resguard_upstream_rtt_seconds", p, u,
				    NULL, NULL, jnum(u, "rtt_ms") / 1000.0);
	family(o, "resguard_upstream_probe_rounds_total", "counter",
	    "Probe rounds sent to the upstream.");
	json_array_foreach(pools, i, p)
		json_array_foreach(json_object_get(p, "upstreams"), j, u)
			upstream_sample(o,
			    "resguard_upstream_probe_rounds_total", p, u,
			    NULL, NULL, jnum(u, "probes"));
	family(o, "resguard_upstream_probe_failures_total", "counter",
	    "Probe rounds that failed or failed a quality check.");
	json_array_foreach(pools, i, p)
		json_array_foreach(json_object_get(p, "upstreams"), j, u)
			upstream_sample(o,
			    "resguard_upstream_probe_failures_total", p, u,
			    NULL, NULL, jnum(u, "failed"));
	render_latency(o, pools);
	family(o, "resguard_pool_healthy", "gauge",
	    "1 when the pool has an upstream up.");
	json_array_foreach(pools, i, p) {
		out_printf(o, "resguard_pool_healthy{pool=\"");
		out_label(o, jstr(p, "name"));
		out_printf(o, "\",role=\"");
		out_label(o, jstr(p, "role"));
		out_printf(o, "\"} %d\n",
		    json_is_true(json_object_get(p, "healthy")));
	}
}

/* "2026-11-30T10:00:00.123Z" (as the status document writes times) to
 * seconds, or -1. */
static int64_t
rfc3339_s(const char *s)
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL ||
	    (t = timegm(&tm)) == (time_t)-1)
		return -1;
	return (int64_t)t;
}

static void
render_feeds(struct out *o, const json_t *feeds)
{
	const json_t *f;
	int64_t now = (int64_t)time(NULL);
	size_t i;

	if (json_array_size(feeds) == 0)
		return;
	family(o, "resguard_feed_rules", "gauge",
	    "Rules the feed contributes to the blocklist.");
	json_array_foreach(feeds, i, f) {
		out_printf(o, "resguard_feed_rules{feed=\"");
		out_label(o, jstr(f, "name"));
		out_printf(o, "\"} %.17g\n", jnum(f, "entries"));
	}
	family(o, "resguard_feed_age_seconds", "gauge",
	    "Time since the feed's data last changed.");
	json_array_foreach(feeds, i, f) {
		int64_t t = rfc3339_s(jstr(f, "updated"));

		if (t < 0)
			continue;
		out_printf(o, "resguard_feed_age_seconds{feed=\"");
		out_label(o, jstr(f, "name"));
		out_printf(o, "\"} %lld\n", (long long)(now > t ? now - t :
		    0));
	}
	family(o, "resguard_feed_ok", "gauge",
	    "1 when the feed's last fetch and parse succeeded.");
	json_array_foreach(feeds, i, f) {
		const char *st = jstr(f, "state");

		out_printf(o, "resguard_feed_ok{feed=\"");
		out_label(o, jstr(f, "name"));
		out_printf(o, "\"} %d\n", st != NULL && strcmp(st, "ok") == 0);
	}
}

/* Each reporter's queue: what waits, what went, what the limit dropped. */
static void
render_reporters(struct out *o, const json_t *reps)
{
	static const char *const kinds[] = { "event", "status", "sighting" };
	const json_t *r, *d;
	size_t i, k;

	if (json_array_size(reps) == 0)
		return;
	family(o, "resguard_report_queued", "gauge",
	    "Reports in the reporter's spool, waiting for delivery.");
	json_array_foreach(reps, i, r) {
		out_printf(o, "resguard_report_queued{reporter=\"");
		out_label(o, jstr(r, "name"));
		out_printf(o, "\"} %.17g\n", jnum(r, "queued"));
	}
	family(o, "resguard_report_delivered_total", "counter",
	    "Reports the receiver acknowledged since start.");
	json_array_foreach(reps, i, r) {
		out_printf(o, "resguard_report_delivered_total{reporter=\"");
		out_label(o, jstr(r, "name"));
		out_printf(o, "\"} %.17g\n", jnum(r, "delivered"));
	}
	family(o, "resguard_report_dropped_total", "counter",
	    "Reports dropped by the spool limit, by kind.");
	json_array_foreach(reps, i, r) {
		d = json_object_get(r, "dropped");
		for (k = 0; k < 3; k++) {
			out_printf(o, "resguard_report_dropped_total{"
			    "reporter=\"");
			out_label(o, jstr(r, "name"));
			out_printf(o, "\",kind=\"%s\"} %.17g\n", kinds[k],
			    jnum(d, kinds[k]));
		}
	}
	family(o, "resguard_report_failing", "gauge",
	    "1 when the reporter's last delivery attempt failed.");
	json_array_foreach(reps, i, r) {
		out_printf(o, "resguard_report_failing{reporter=\"");
		out_label(o, jstr(r, "name"));
		out_printf(o, "\"} %d\n",
		    json_is_string(json_object_get(r, "last_error")));
	}
}

/* "guard" holds counters: plain integers, or objects of integers keyed
 * by a label value (e.g. blocked per action). */
static void
render_guard(struct out *o, const json_t *guard)
{
	const char *key, *sub;
	const json_t *v, *w;
	char name[160];

	json_object_foreach((json_t *)guard, key, v) {
		size_t n;

		if (strcmp(key, "stall_max_ms") == 0 && json_is_object(v)) {
			family(o, "resguard_guard_stall_max_seconds", "gauge",
			    "The longest a guard worker went without reading "
			    "its sockets since the start (wall clock), and "
			    "what of it the worker spent on a CPU.");
			json_object_foreach((json_t *)v, sub, w)
				if (json_is_number(w)) {
					out_printf(o, "resguard_guard_stall_max_"
					    "seconds{clock=\"");
					out_label(o, sub);
					out_printf(o, "\"} %.6f\n",
					    json_number_value(w) / 1000);
				}
			continue;
		}
		snprintf(name, sizeof(name), "resguard_guard_%s_total", key);
		for (n = 0; name[n] != '\0'; n++)
			if (!isalnum((unsigned char)name[n]))
				name[n] = '_';
		if (json_is_integer(v)) {
			family(o, name, "counter", "Guard-mode queries, by "
			    "outcome (summed over the workers).");
			out_printf(o, "%s %" JSON_INTEGER_FORMAT "\n", name,
			    json_integer_value(v));
		} else if (json_is_object(v)) {
			family(o, name, "counter", strcmp(key, "stalls") == 0 ?
			    "Turns of a guard worker's loop that kept it from "
			    "its sockets for at least N ms (over_Nms: wall "
			    "clock; cpu_over_Nms: on a CPU)." :
			    "Guard-mode queries, by outcome (summed over the "
			    "workers).");
			json_object_foreach((json_t *)v, sub, w)
				if (json_is_integer(w)) {
					out_printf(o, "%s{%s=\"", name,
					    strcmp(key, "blocked_by_feed") == 0 ?
					    "feed" : "kind");
					out_label(o, sub);
					out_printf(o, "\"} %" JSON_INTEGER_FORMAT
					    "\n", json_integer_value(w));
				}
		}
	}
}

char *
rg_metrics_render(const json_t *status)
{
	static const char *const modes[] = { "normal", "failover",
	    "last-resort" };
	struct out o = { NULL, 0, 4096, 0 };
	const json_t *health = json_object_get(status, "health");
	const json_t *bl = json_object_get(status, "blocklist");
	const json_t *guard = json_object_get(status, "guard");
	size_t k;

	if ((o.buf = malloc(o.cap)) == NULL)
		return NULL;
	family(&o, "resguard_info", "gauge", "Version and agent identity.");
	out_printf(&o, "resguard_info{version=\"");
	out_label(&o, jstr(status, "version"));
	out_printf(&o, "\",agent_id=\"");
	out_label(&o, jstr(status, "agent_id"));
	out_printf(&o, "\"} 1\n");
	family(&o, "resguard_mode", "gauge",
	    "Failover mode: 1 for the current mode.");
	for (k = 0; k < 3; k++)
		out_printf(&o, "resguard_mode{mode=\"%s\"} %d\n", modes[k],
		    strcmp(jstr(status, "mode") ? jstr(status, "mode") : "",
		    modes[k]) == 0);
	family(&o, "resguard_active_pool_info", "gauge",
	    "The pool that serves now.");
	out_printf(&o, "resguard_active_pool_info{pool=\"");
	out_label(&o, jstr(status, "active_pool"));
	out_printf(&o, "\"} 1\n");
	family(&o, "resguard_pinned", "gauge",
	    "1 when a pool is pinned (by an administrator or a hub "
	    "directive).");
	out_printf(&o, "resguard_pinned %d\n",
	    json_is_string(json_object_get(status, "pinned")));
	family(&o, "resguard_mode_changes_total", "counter",
	    "Mode changes since start (failovers and fail-backs).");
	out_printf(&o, "resguard_mode_changes_total %.17g\n",
	    jnum(status, "mode_changes"));
	family(&o, "resguard_status_code", "gauge",
	    "Monitoring verdict: 0 OK, 1 warning, 2 critical.");
	out_printf(&o, "resguard_status_code %.17g\n", jnum(health, "code"));
	render_upstreams(&o, json_object_get(status, "pools"));
	family(&o, "resguard_blocklist_rules", "gauge",
	    "Rules in the live blocklist.");
	out_printf(&o, "resguard_blocklist_rules %.17g\n", jnum(bl, "entries"));
	family(&o, "resguard_blocklist_bytes", "gauge",
	    "Memory of the live blocklist.");
	out_printf(&o, "resguard_blocklist_bytes %.17g\n", jnum(bl, "bytes"));
	family(&o, "resguard_blocklist_hits_total", "counter",
	    "Client queries that matched a blocklist rule.");
	out_printf(&o, "resguard_blocklist_hits_total %.17g\n",
	    jnum(bl, "hits"));
	render_feeds(&o, json_object_get(status, "feeds"));
	render_reporters(&o, json_object_get(status, "reporters"));
	if (json_is_object(guard))
		render_guard(&o, guard);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}

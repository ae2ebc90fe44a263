/*
 * main.c -- resguardd: the process, its event loop and the control
 * commands.
 *
 * One libuv loop drives everything: a single timer runs the health part
 * and the failover decision at the earliest deadline either asks for, and
 * every completed probe round wakes the decision again.  SIGHUP and
 * "resguardctl reload" re-read the configuration: a file with errors
 * changes nothing, and its errors go to the log and back to the caller.
 * In guard mode (server.listen not empty) worker threads answer clients;
 * after every decision this loop publishes the route they forward along,
 * and their failed attempts come back here to bring probes forward.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <pwd.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <ldns/ldns.h>
#include <uv.h>

#include "config.h"
#include "blocklist.h"
#include "clock.h"
#include "conf.h"
#include "control.h"
#include "export.h"
#include "failover.h"
#include "feeds.h"
#include "frontend.h"
#include "backend.h"
#include "http.h"
#include "health.h"
#include "directive.h"
#include "journal.h"
#include "report.h"
#include "log.h"
#include "sandbox.h"
#include "status.h"
#include "transport.h"

#ifndef RG_SYSCONFDIR
#define RG_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF	RG_SYSCONFDIR "/resguard/resguard.conf"
#define EVENTS_DEFAULT	20

struct agent {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_signal_t sig_hup, sig_term, sig_int;
	uint32_t export_serial;		/* of the last "feeds export" */
	struct rg_net *net;
	struct rg_health *health;
	struct rg_failover fo;
	struct rg_journal *journal;
	struct rg_control *control;
	struct rg_bl_domain *bl_domain;
	struct rg_feeds *feeds;
	struct rg_frontend *fe;		/* guard mode, or NULL */
	struct rg_backend *backend;	/* sidecar, or the built-in one */
	struct rg_http *http;		/* http.listen, or NULL */
	uv_timer_t http_timer;
	struct rg_report *report;	/* reporters, spool */
	uv_timer_t sight_timer;		/* sightings, every report interval */
	json_t *feed_hits;		/* rule hits by feed since start */
	int sight_report;		/* a reporter wants sightings */
	struct {			/* the hub directive in force */
		struct rg_directive d;
		char feed[64];
		int active;
	} directive;
	uv_timer_t directive_timer;	/* its end */
	uint64_t sight_start_wall_ms;
	const char *conf_path;
	int in_tick;
	int stopping;
};

static void agent_tick(struct agent *a);
static void sight_timer_set(struct agent *a);
static void directive_overridden_set(struct agent *a, const char *id);

static void
timer_cb(uv_timer_t *t)
{
	agent_tick(t->data);
}

/* Run the health part and the decision, then sleep until the earliest
 * deadline either of them asks for. */
static void
agent_tick(struct agent *a)
{
	uint64_t now, next, nf;

	/* A round that fails at once finishes inside rg_health_run() and
	 * wakes us again: the decision below covers it. */
	if (a->in_tick || a->stopping)
		return;
	a->in_tick = 1;
	now = rg_clock_ms();
	next = rg_health_run(a->health, now);
	nf = rg_failover_evaluate(&a->fo, now);
	if (nf < next)
		next = nf;
	rg_frontend_update(a->fe, a->health->conf, &a->fo);
	/* Only a changed target reaches the backend's worker. */
	rg_backend_apply(a->backend, &a->fo);
	/* Workers pass quiescent points all the time; snapshots retired by
	 * the feeds go once all of them have. */
	rg_bl_reclaim(a->bl_domain);
	a->in_tick = 0;
	if (next == UINT64_MAX)
		next = now + 60000;
	uv_timer_start(&a->timer, timer_cb, next > now ? next - now : 0, 0);
}

static void
health_wake_cb(void *arg)
{
	agent_tick(arg);
}

/* A guard worker's question for a recursive pool, on its way. */
struct guard_rec {
	struct agent *a;
	unsigned worker;
	uint16_t token;
};

static void
guard_rec_cb(void *arg, enum rg_probe_err err, const uint8_t *pkt,
    size_t len, uint64_t rtt_us, const char *detail)
{
	struct guard_rec *r = arg;
	uint8_t *copy = NULL;

	if (r->a->fe != NULL && err == RG_PROBE_OK && pkt != NULL &&
	    len >= 12 && (copy = malloc(len)) != NULL) {
		memcpy(copy, pkt, len);
		copy[0] = r->token >> 8;
		copy[1] = r->token & 0xff;
	}
	if (r->a->fe != NULL)
		rg_frontend_recursion_reply(r->a->fe, r->worker, r->token,
		    copy, len);
	free(copy);
	free(r);
}

/* The last resort in guard mode: this loop's libunbound resolves for the
 * workers, as it does for the probes. */
static void
guard_recurse_cb(void *arg, unsigned worker, uint16_t token,
    const char *pool, const uint8_t *question, size_t qlen,
    uint32_t timeout_ms)
{
	struct agent *a = arg;
	const struct rg_conf_pool *p;
	struct rg_probe_query q;
	struct guard_rec *r = NULL;
	ldns_rdf *d = NULL;
	char *name = NULL;
	uint16_t type;

	if (a->stopping || a->net == NULL ||
	    (p = rg_conf_pool_find(a->health->conf, pool)) == NULL ||
	    !p->recursive || p->n_upstreams == 0 || qlen < 5)
		goto fail;
	type = (uint16_t)(question[qlen - 4] << 8 | question[qlen - 3]);
	if ((d = ldns_dname_new_frm_data((uint16_t)(qlen - 4),
	    question)) == NULL || (name = ldns_rdf2str(d)) == NULL ||
	    rg_probe_build(&q, RG_PROBE_BASIC, name, type, NULL) < 0)
		goto fail;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rg_probe_clear(&q);
		goto fail;
	}
	r->a = a;
	r->worker = worker;
	r->token = token;
	if (rg_net_exchange(a->net, p, &p->upstreams[0], &q, timeout_ms,
	    guard_rec_cb, r) < 0) {
		rg_probe_clear(&q);
		free(r);
		goto fail;
	}
	rg_probe_clear(&q);
	free(name);
	ldns_rdf_deep_free(d);
	return;
fail:
	free(name);
	ldns_rdf_deep_free(d);
	rg_frontend_recursion_reply(a->fe, worker, token, NULL, 0);
}

/* A client query failed on an upstream: probe it now rather than at its
 * turn, so that an outage is noticed between probes. */
static void
guard_outcome_cb(void *arg, const char *name,
    const struct sockaddr_storage *addr, enum rg_transport t,
    enum rg_fwd_outcome o)
{
	struct agent *a = arg;
	struct rg_upstream *u;

	if (a->stopping || (u = rg_health_upstream(a->health, name)) == NULL ||
	    u->conf->transport != t ||
	    memcmp(&u->conf->addr, addr, u->conf->addrlen) != 0)
		return;
	if (rg_upstream_suspect(a->health, u, rg_clock_ms())) {
		rg_log_debug("guard: %s: %s on a client query; probing now",
		    name, rg_fwd_outcome_str[o]);
		agent_tick(a);
	}
}

static void
conf_error_log_cb(void *arg, const char *line)
{
	rg_log_warnx("%s", line);
}

static void
conf_error_stderr_cb(void *arg, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

static void
conf_error_collect_cb(void *arg, const char *line)
{
	json_array_append_new(arg, json_string(line));
	rg_log_warnx("%s", line);
}

static int
state_dir_make(const char *dir)
{
	char *p, *s;
	int rc = 0;

	if ((p = strdup(dir)) == NULL)
		return -ENOMEM;
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, 0750) < 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		if ((*s = c) == '\0')
			break;
	}
	free(p);
	return rc;
}

static int
str_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

static int
strv_differ(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 1;
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 1;
	return 0;
}

/* Settings a running daemon cannot change: each one that changed is a
 * warning, logged and returned to the caller. */
static json_t *
restart_settings(const struct rg_conf *old, const struct rg_conf *new_)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "server.control-socket", offsetof(struct rg_conf,
		    control_socket) },
		{ "server.control-group", offsetof(struct rg_conf,
		    control_group) },
		{ "server.state-dir", offsetof(struct rg_conf, state_dir) },
		{ "server.user", offsetof(struct rg_conf, user) },
	};
	json_t *w = json_array();
	const char *guard = NULL;
	char msg[256];
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *a = *(char *const *)((const char *)old +
		    keys[i].off);
		const char *b = *(char *const *)((const char *)new_ +
		    keys[i].off);

		if (!str_differ(a, b))
			continue;
		snprintf(msg, sizeof(msg), "%s changed; the running value "
		    "stays until resguardd is restarted", keys[i].key);
		rg_log_warnx("%s", msg);
		json_array_append_new(w, json_string(msg));
	}
	if (old->seccomp != new_->seccomp) {
		snprintf(msg, sizeof(msg), "server.seccomp changed; the "
		    "running filter %s until resguardd is restarted",
		    old->seccomp ? "stays" : "stays off");
		rg_log_warnx("%s", msg);
		json_array_append_new(w, json_string(msg));
	}
	/* The listeners were bound before privileges were dropped, and the
	 * workers sized for them. */
	if (strv_differ(old->listen, old->n_listen, new_->listen,
	    new_->n_listen))
		guard = "server.listen";
	else if (old->n_listen > 0 && old->threads != new_->threads)
		guard = "server.threads";
	else if (old->n_listen > 0 &&
	    old->socket_affinity != new_->socket_affinity)
		guard = "server.socket-affinity";
	if (guard != NULL) {
		snprintf(msg, sizeof(msg), "%s changed; the running listeners "
		    "and workers stay until resguardd is restarted", guard);
		rg_log_warnx("%s", msg);
		json_array_append_new(w, json_string(msg));
	}
	if (strv_differ(old->http_listen, old->n_http_listen,
	    new_->http_listen, new_->n_http_listen)) {
		snprintf(msg, sizeof(msg), "http.listen changed; the running "
		    "listeners stay until resguardd is restarted");
		rg_log_warnx("%s", msg);
		json_array_append_new(w, json_string(msg));
	}
	return w;
}

/*
 * Reload.  The new health is built beside the old one and takes over only
 * when the whole file is good; rounds of the old one still in flight are
 * dropped when they come back.
 */
static json_t *
agent_reload(struct agent *a, const char *who)
{
	struct rg_conf *conf = NULL;
	struct rg_health *h;
	json_t *errors = json_array();
	json_t *reply, *warnings;
	int rc;
	char reason[512];

	rc = rg_conf_load(a->conf_path, &conf, conf_error_collect_cb, errors);
	if (rc < 0) {
		snprintf(reason, sizeof(reason), "%s: %d error%s; the running "
		    "configuration stays", a->conf_path, -rc,
		    rc == -1 ? "" : "s");
		rg_journal_add(a->journal, RG_EVENT_RELOAD_FAILED, 1, NULL, NULL,
		    NULL, reason, json_pack("{s:s, s:O}", "requested_by", who,
		    "errors", errors));
		reply = rg_control_error("%s", reason);
		json_object_set_new(reply, "errors", errors);
		return reply;
	}
	json_decref(errors);
	warnings = restart_settings(a->health->conf, conf);
	if ((h = rg_health_new(conf, a->health, a->net, a->journal)) == NULL) {
		rg_conf_free(conf);
		json_decref(warnings);
		return rg_control_error("out of memory; the running "
		    "configuration stays");
	}
	h->wake_cb = health_wake_cb;
	h->wake_arg = a;
	rg_health_free(a->health);
	a->health = h;
	rg_failover_rebind(&a->fo, h, rg_clock_ms());
	rg_feeds_configure(a->feeds, h->conf);
	if (rg_backend_configure(a->backend, h->conf, reason,
	    sizeof(reason)) < 0)
		json_array_append_new(warnings, json_string(reason));
	if (rg_report_configure(a->report, h->conf, reason,
	    sizeof(reason)) < 0)
		json_array_append_new(warnings, json_string(reason));
	sight_timer_set(a);
	snprintf(reason, sizeof(reason), "configuration reloaded from %s",
	    a->conf_path);
	rg_journal_add(a->journal, RG_EVENT_RELOAD, 0, NULL, NULL, NULL,
	    reason, json_pack("{s:s, s:i, s:O}", "requested_by", who, "pools",
	    (int)h->n_pools, "restart_needed", warnings));
	agent_tick(a);
	reply = rg_control_ok(json_pack("{s:s}", "message", reason));
	if (json_array_size(warnings) > 0)
		json_object_set(reply, "warnings", warnings);
	json_decref(warnings);
	return reply;
}

static json_t *
cmd_events(struct agent *a, json_t *req)
{
	json_t *lim = json_object_get(req, "limit");
	json_int_t n = EVENTS_DEFAULT;

	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 0)
			return rg_control_error("\"limit\" must be an integer "
			    ">= 0");
		n = json_integer_value(lim);
	}
	return rg_control_ok(json_pack("{s:o}", "events",
	    rg_journal_list(a->journal, (size_t)n)));
}

static json_t *
cmd_upstreams(struct agent *a)
{
	struct rg_health *h = a->health;
	json_t *arr = json_array(), *o;
	size_t i, j;

	for (i = 0; i < h->n_pools; i++)
		for (j = 0; j < h->pools[i].n_upstreams; j++) {
			o = rg_upstream_json(h->pools[i].upstreams[j]);
			json_object_set_new(o, "pool",
			    json_string(h->pools[i].conf->name));
			json_array_append_new(arr, o);
		}
	return rg_control_ok(json_pack("{s:o}", "upstreams", arr));
}

static json_t *
cmd_failover(struct agent *a, json_t *req)
{
	const char *pool = json_string_value(json_object_get(req, "pool"));
	char warning[256], msg[256];
	json_t *reply;
	int rc;

	if (pool == NULL)
		return rg_control_error("\"pool\" missing: a pool name or "
		    "\"auto\"");
	rc = rg_failover_pin(&a->fo, pool, "the administrator", rg_clock_ms(),
	    warning, sizeof(warning));
	if (rc == -ENOENT)
		return rg_control_error("no pool named \"%.64s\"", pool);
	/* The administrator overrides a hub directive. */
	if (a->directive.active) {
		rg_journal_add(a->journal, RG_EVENT_DIRECTIVE, 0,
		    a->directive.d.pool, a->directive.d.id, "overridden",
		    "the administrator chose the pool", json_pack("{s:s, s:s}",
		    "feed", a->directive.feed, "pool", pool));
		directive_overridden_set(a, a->directive.d.id);
		a->directive.active = 0;
		uv_timer_stop(&a->directive_timer);
	}
	agent_tick(a);
	if (strcmp(pool, "auto") == 0)
		snprintf(msg, sizeof(msg), "automatic failover; mode %s, pool "
		    "\"%s\" serves", rg_mode_str[a->fo.mode], a->fo.active);
	else
		snprintf(msg, sizeof(msg), "pinned to pool \"%s\"; mode %s",
		    pool, rg_mode_str[a->fo.mode]);
	reply = rg_control_ok(json_pack("{s:s}", "message", msg));
	if (warning[0] != '\0')
		json_object_set_new(reply, "warnings",
		    json_pack("[s]", warning));
	return reply;
}

static json_t *
cmd_failback(struct agent *a)
{
	struct rg_pool *pri = rg_health_primary(a->health);
	int rc = rg_failover_failback(&a->fo, rg_clock_ms());

	switch (rc) {
	case -EBUSY:
		return rg_control_error("pool \"%s\" is pinned; use "
		    "\"failover auto\" or \"failover %s\"", a->fo.pinned,
		    pri->conf->name);
	case -EALREADY:
		return rg_control_error("already in normal mode");
	case -EAGAIN:
		return rg_control_error("primary pool \"%s\" has no upstream "
		    "up; staying on \"%s\"", pri->conf->name, a->fo.active);
	}
	agent_tick(a);
	return rg_control_ok(json_pack("{s:s}", "message",
	    "failed back: mode normal"));
}

/* 1 when NAME (canonical presentation form) is SUFFIX or below it. */
static int
name_under(const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	if (strcmp(suffix, ".") == 0)
		return 1;
	if (m > n || strcasecmp(name + n - m, suffix) != 0)
		return 0;
	return m == n || name[n - m - 1] == '.';
}

static json_t *
cmd_check(struct agent *a, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const struct rg_conf *c = a->health->conf;
	const struct rg_blocklist *bl = rg_bl_current(a->bl_domain);
	struct rg_bl_match m;
	ldns_rdf *d;
	char *fq;
	json_t *res;
	size_t i;
	int hit;

	if (name == NULL)
		return rg_control_error("\"name\" missing");
	/* An address: would an answer holding it be blocked? */
	if (strchr(name, ':') != NULL || (strspn(name, "0123456789.") ==
	    strlen(name) && strchr(name, '.') != NULL)) {
		uint8_t addr[16];
		int fam = strchr(name, ':') != NULL ? AF_INET6 : AF_INET;

		if (inet_pton(fam, name, addr) != 1)
			return rg_control_error("\"%.300s\" is not a valid "
			    "address", name);
		hit = bl != NULL ? rg_bl_lookup_ip(bl, fam, addr, &m) : 0;
		if (hit == 1)
			res = json_pack("{s:s, s:b, s:s, s:s, s:s, s:s?, "
			    "s:s?, s:s?}", "address", name, "blocked",
			    m.action != RG_ACTION_LOG_ONLY &&
			    m.action != RG_ACTION_PASSTHRU,
			    "action", rg_action_str[m.action], "rule", m.rule,
			    "feed", m.feed, "indicator", m.indicator,
			    "tlp", m.tlp, "local", m.local);
		else
			res = json_pack("{s:s, s:b, s:s}", "address", name,
			    "blocked", 0, "message", "no response-IP rule "
			    "matches");
		return rg_control_ok(res);
	}
	if (ldns_str2rdf_dname(&d, name) != LDNS_STATUS_OK)
		return rg_control_error("\"%.300s\" is not a valid domain name",
		    name);
	ldns_dname2canonical(d);
	fq = ldns_rdf2str(d);
	ldns_rdf_deep_free(d);
	if (fq == NULL)
		return rg_control_error("out of memory");
	for (i = 0; i < c->n_allowlist; i++)
		if (name_under(fq, c->allowlist[i])) {
			res = json_pack("{s:s, s:b, s:b, s:s, s:s}", "name", fq,
			    "blocked", 0, "allowed", 1, "rule",
			    c->allowlist[i], "message", "on the allowlist "
			    "(policy.allowlist): never blocked");
			free(fq);
			return rg_control_ok(res);
		}
	hit = bl != NULL ? rg_bl_lookup_str(bl, fq, &m) : 0;
	if (hit == 1)
		res = json_pack("{s:s, s:b, s:s, s:s, s:b, s:s, s:s?, s:s?, "
		    "s:s?}", "name", fq, "blocked",
		    m.action != RG_ACTION_LOG_ONLY &&
		    m.action != RG_ACTION_PASSTHRU,
		    "action", rg_action_str[m.action], "rule", m.rule,
		    "wildcard", m.wildcard, "feed", m.feed,
		    "indicator", m.indicator, "tlp", m.tlp, "local", m.local);
	else
		res = json_pack("{s:s, s:b, s:s}", "name", fq, "blocked", 0,
		    "message", c->n_feeds == 0 ? "no feeds configured" :
		    "no rule matches");
	free(fq);
	return rg_control_ok(res);
}

/*
 * "feeds export": a million rules take a second or two and make a reply
 * of 40 MB, so the zone is built and serialized in the thread pool while
 * the loop goes on probing; the snapshot it reads is held, and it gets a
 * copy of the few settings it reads, as a reload may free the others.
 */
struct export_job {
	uv_work_t req;
	struct agent *agent;
	struct rg_control_pending *pending;
	const struct rg_blocklist *bl;
	struct rg_conf *conf;		/* feed names, allowlist, sinkholes */
	char *zone;
	uint32_t serial;
	char *reply;			/* serialized, or NULL */
	size_t len;
	char err[256];
};

static void
export_job_free(struct export_job *x)
{
	rg_export_conf_free(x->conf);
	free(x->zone);
	free(x->reply);
	free(x);
}

static void
export_work_cb(uv_work_t *req)
{
	struct export_job *x = req->data;
	struct rg_export_stats st;
	json_t *text, *reply;
	char *zone;
	size_t len;

	if (rg_export_rpz_zone(x->bl, x->conf, x->zone, x->serial, &zone,
	    &len, &st, x->err, sizeof(x->err)) < 0)
		return;
	text = json_stringn(zone, len);
	free(zone);
	reply = text == NULL ? NULL : rg_control_ok(json_pack("{s:o, s:I}",
	    "rpz", text, "rules", (json_int_t)st.rules));
	if (reply != NULL)
		x->reply = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (x->reply == NULL)
		snprintf(x->err, sizeof(x->err), "out of memory");
	else
		x->len = strlen(x->reply);
}

static void
export_after_cb(uv_work_t *req, int status)
{
	struct export_job *x = req->data;

	rg_bl_release(x->agent->bl_domain);
	if (x->reply != NULL) {
		rg_control_answer(x->pending, NULL, x->reply, x->len);
		x->reply = NULL;
	} else
		rg_control_answer(x->pending, rg_control_error("%s",
		    status < 0 ? "export cancelled" : x->err), NULL, 0);
	export_job_free(x);
}

static json_t *
cmd_export(struct agent *a, json_t *req)
{
	const char *fmt = json_string_value(json_object_get(req, "export"));
	json_t *zv = json_object_get(req, "zone");
	struct export_job *x;

	if (fmt == NULL || strcmp(fmt, "rpz") != 0)
		return rg_control_error("unknown export format \"%.64s\": "
		    "\"rpz\" is the one there is", fmt != NULL ? fmt : "");
	if (zv != NULL && !json_is_string(zv))
		return rg_control_error("\"zone\" must be a string");
	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->zone = strdup(zv != NULL ? json_string_value(zv) :
	    RG_EXPORT_ZONE)) == NULL ||
	    (x->conf = rg_export_conf_dup(a->health->conf)) == NULL) {
		if (x != NULL)
			export_job_free(x);
		return rg_control_error("out of memory");
	}
	x->agent = a;
	x->bl = rg_bl_current(a->bl_domain);
	x->serial = a->export_serial = rg_export_serial(a->export_serial);
	x->req.data = x;
	if ((x->pending = rg_control_later(a->control)) == NULL) {
		export_job_free(x);
		return rg_control_error("out of memory");
	}
	rg_bl_hold(a->bl_domain);
	if (uv_queue_work(a->loop, &x->req, export_work_cb,
	    export_after_cb) < 0) {
		rg_bl_release(a->bl_domain);
		rg_control_answer(x->pending, rg_control_error("cannot start "
		    "the export"), NULL, 0);
		export_job_free(x);
	}
	return RG_CONTROL_LATER;
}

static json_t *
cmd_feeds(struct agent *a, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const struct rg_conf *c = a->health->conf;
	char msg[256];

	if (json_object_get(req, "export") != NULL)
		return cmd_export(a, req);
	if (json_is_true(json_object_get(req, "accept"))) {
		int rc = name != NULL ? rg_feeds_accept(a->feeds, name) :
		    -ENOENT;

		if (rc == -ENOENT)
			return rg_control_error("no feed named \"%.64s\"",
			    name ? name : "");
		if (rc == -EALREADY)
			return rg_control_error("feed \"%.64s\" holds no "
			    "version back", name);
		snprintf(msg, sizeof(msg), "applying the held version of feed "
		    "\"%.64s\"; see \"resguardctl feeds\" and the events",
		    name);
		return rg_control_ok(json_pack("{s:s}", "message", msg));
	}
	if (json_is_true(json_object_get(req, "refresh"))) {
		if (rg_feeds_refresh(a->feeds, name) < 0)
			return rg_control_error("no feed named \"%.64s\"",
			    name);
		snprintf(msg, sizeof(msg), "refreshing %s%s%s; see "
		    "\"resguardctl feeds\" and the events", name ? "feed \"" :
		    "all feeds", name ? name : "", name ? "\"" : "");
		return rg_control_ok(json_pack("{s:s}", "message", msg));
	}
	return rg_control_ok(json_pack("{s:o, s:s}", "feeds",
	    rg_feeds_json(a->feeds), "message", c->n_feeds == 0 ?
	    "no feeds configured" : "feeds"));
}

static void
status_parts(struct agent *a, struct rg_status_parts *p)
{
	memset(p, 0, sizeof(*p));
	p->feeds = a->feeds;
	p->blocklist = rg_bl_current(a->bl_domain);
	p->blocklist_hits = rg_frontend_hits(a->fe);
	p->backend = a->backend;
	p->report = a->report;
}

/* The status document, as "status" and the HTTP listener serve it. */
static json_t *
status_doc(struct agent *a)
{
	struct rg_status_parts parts;
	json_t *doc;

	status_parts(a, &parts);
	doc = rg_status_json(&a->fo, &parts, rg_clock_ms());
	json_object_set_new(doc, "guard", a->fe != NULL ?
	    rg_frontend_json(a->fe) : json_null());
	if (a->fe != NULL && json_is_object(json_object_get(doc, "guard")))
		json_object_set(json_object_get(doc, "guard"),
		    "blocked_by_feed", a->feed_hits);
	if (a->directive.active) {
		char until[40];

		rg_time_format((uint64_t)a->directive.d.until * 1000, until,
		    sizeof(until));
		json_object_set_new(doc, "directive", json_pack("{s:s, s:s, "
		    "s:s, s:s, s:s}", "id", a->directive.d.id, "feed",
		    a->directive.feed, "pool", a->directive.d.pool, "until",
		    until, "reason", a->directive.d.reason));
	} else
		json_object_set_new(doc, "directive", json_null());
	return doc;
}

/* Hand the HTTP thread a fresh snapshot every second. */
static void
http_timer_cb(uv_timer_t *t)
{
	struct agent *a = t->data;
	json_t *doc = status_doc(a);
	json_t *events = rg_journal_list(a->journal, 20);

	rg_http_update(a->http, doc, events);
	json_decref(doc);
	json_decref(events);
}

static void
feeds_published_cb(void *arg, const struct rg_blocklist *bl)
{
	struct agent *a = arg;

	(void)bl;
	rg_backend_blocklist(a->backend, a->bl_domain);
}

static json_t *
control_cb(void *arg, const char *cmd, json_t *req)
{
	struct agent *a = arg;

	if (strcmp(cmd, "status") == 0)
		return rg_control_ok(status_doc(a));
	if (strcmp(cmd, "upstreams") == 0)
		return cmd_upstreams(a);
	if (strcmp(cmd, "events") == 0)
		return cmd_events(a, req);
	if (strcmp(cmd, "failover") == 0)
		return cmd_failover(a, req);
	if (strcmp(cmd, "failback") == 0)
		return cmd_failback(a);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(a, req);
	if (strcmp(cmd, "feeds") == 0)
		return cmd_feeds(a, req);
	if (strcmp(cmd, "reload") == 0)
		return agent_reload(a, "control socket");
	return rg_control_error("unknown command \"%s\"", cmd);
}

/* A hub pushed a feed (on an HTTP thread): the feeds part checks it and
 * hands it to the loop. */
static unsigned
http_push_cb(void *arg, const char *feed, const char *body, size_t len,
    const char *sig, size_t sig_len, char *msg, size_t msg_len)
{
	struct agent *a = arg;

	return rg_feeds_push(a->feeds, feed, body, len, sig, sig_len, msg,
	    msg_len);
}

/*
 * Sightings of the interval just ended: the guard's hits of each rule,
 * and for rules from STIX indicators a STIX 2.1 sighting of each.
 */
static void
sight_timer_cb(uv_timer_t *t)
{
	struct agent *a = t->data;
	const struct rg_conf *c = a->health->conf;
	uint64_t now = rg_clock_wall_ms();
	char start[40], end[40], id[37];
	json_t *s, *hits, *stix, *h;
	const char *ind;
	size_t i;
	int clients = 0;

	for (i = 0; i < c->n_reports; i++)
		clients |= c->reports[i].sightings &&
		    c->reports[i].client_addresses;
	if (a->fe == NULL || (s = rg_frontend_sightings(a->fe, clients)) ==
	    NULL)
		return;
	/* Hits by feed, since start, for the status and /metrics. */
	json_array_foreach(json_object_get(s, "hits"), i, h) {
		const char *feed = json_string_value(json_object_get(h,
		    "feed"));
		json_int_t n = json_integer_value(json_object_get(h, "count"));

		if (feed == NULL)
			continue;
		json_object_set_new(a->feed_hits, feed, json_integer(n +
		    json_integer_value(json_object_get(a->feed_hits, feed))));
	}
	if (!a->sight_report) {
		a->sight_start_wall_ms = now;
		json_decref(s);
		return;
	}
	/* After the clock stepped back, the interval starts no later than
	 * it ends, as STIX asks of first_seen and last_seen. */
	if (a->sight_start_wall_ms > now)
		a->sight_start_wall_ms = now;
	rg_time_format(a->sight_start_wall_ms, start, sizeof(start));
	rg_time_format(now, end, sizeof(end));
	a->sight_start_wall_ms = now;
	hits = json_object_get(s, "hits");
	if (json_array_size(hits) == 0) {
		json_decref(s);
		return;
	}
	stix = json_array();
	json_array_foreach(hits, i, h) {
		ind = json_string_value(json_object_get(h, "indicator"));
		if (ind == NULL || strncmp(ind, "indicator--", 11) != 0)
			continue;
		rg_uuid_v4(id);
		json_array_append_new(stix, json_pack("{s:s, s:s, s:s+, s:s, "
		    "s:s, s:s, s:O, s:s, s:s}", "type", "sighting",
		    "spec_version", "2.1", "id", "sighting--", id,
		    "created", end, "modified", end, "sighting_of_ref", ind,
		    "count", json_object_get(h, "count"),
		    "first_seen", start, "last_seen", end));
	}
	json_object_set_new(s, "interval", json_pack("{s:s, s:s}", "start",
	    start, "end", end));
	json_object_set_new(s, "stix", stix);
	rg_report_sightings(a->report, s);
}

/* Sightings every shortest interval of the reporters that want them. */
static void
sight_timer_set(struct agent *a)
{
	const struct rg_conf *c = a->health->conf;
	uint64_t every = 0;
	size_t i;

	for (i = 0; i < c->n_reports; i++)
		if (c->reports[i].sightings && (every == 0 ||
		    c->reports[i].interval_s * 1000ULL < every))
			every = c->reports[i].interval_s * 1000ULL;
	/* Also without reporters: the hits by feed are counted from them. */
	a->sight_report = every > 0;
	if (every == 0 || every > 10000)
		every = 10000;
	uv_timer_stop(&a->sight_timer);
	if (a->fe != NULL)
		uv_timer_start(&a->sight_timer, sight_timer_cb, every, every);
}

static void directive_timer_cb(uv_timer_t *t);

/* A directive's pin ends when the wall clock passes "until", however it
 * gets there: a step of the clock moves the end, so look again at least
 * every second. */
static void
directive_timer_arm(struct agent *a)
{
	int64_t left = a->directive.d.until * 1000 -
	    (int64_t)rg_clock_wall_ms();

	uv_timer_start(&a->directive_timer, directive_timer_cb,
	    left <= 0 ? 0 : left < 1000 ? (uint64_t)left : 1000, 0);
}

/* Who a directive's pin is made by: "[WHAT]hub directive "ID" from feed
 * "FEED"". */
static void
directive_by(char *buf, size_t len, const char *what, const char *id,
    const char *feed)
{
	snprintf(buf, len, "%shub directive \"%s\" from feed \"%s\"", what,
	    id, feed);
}

/* 1 when the pin in force is the one the directive in force made (not an
 * administrator's, not one since changed). */
static int
directive_pinned(const struct agent *a)
{
	char by[RG_PIN_BY_MAX];

	if (!a->directive.active || a->fo.pinned[0] == '\0')
		return 0;
	directive_by(by, sizeof(by), "", a->directive.d.id,
	    a->directive.feed);
	return strcmp(a->fo.pinned_by, by) == 0;
}

/* The end of a hub directive's pin: unpinned, unless an administrator
 * pinned something else meanwhile. */
static void
directive_timer_cb(uv_timer_t *t)
{
	struct agent *a = t->data;
	char warning[256], by[RG_PIN_BY_MAX];
	int held;

	if (!a->directive.active)
		return;
	if ((int64_t)rg_clock_wall_ms() < a->directive.d.until * 1000) {
		directive_timer_arm(a);
		return;
	}
	held = directive_pinned(a);
	a->directive.active = 0;
	rg_journal_add(a->journal, RG_EVENT_DIRECTIVE, 0, a->directive.d.pool,
	    a->directive.d.id, NULL, "the directive's pin ended", json_pack(
	    "{s:s, s:s}", "feed", a->directive.feed, "id", a->directive.d.id));
	if (held) {
		directive_by(by, sizeof(by), "the end of ", a->directive.d.id,
		    a->directive.feed);
		rg_failover_pin(&a->fo, "auto", by, rg_clock_ms(), warning,
		    sizeof(warning));
		agent_tick(a);
	}
}

/* STATE_DIR/directive.overridden: the id of the directive an
 * administrator overrode, so that a restart or a re-push of it does not
 * pin again. */
static void
directive_overridden_set(struct agent *a, const char *id)
{
	char path[4096], tmp[4200];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/directive.overridden",
	    a->health->conf->state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fp = fopen(tmp, "we")) == NULL)
		return;
	fprintf(fp, "%s\n", id);
	if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		fclose(fp);
		unlink(tmp);
		return;
	}
	fclose(fp);
	if (rename(tmp, path) < 0)
		unlink(tmp);
}

static int
directive_overridden(struct agent *a, const char *id)
{
	char path[4096], line[256];
	FILE *fp;
	int hit = 0;

	snprintf(path, sizeof(path), "%s/directive.overridden",
	    a->health->conf->state_dir);
	if ((fp = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		hit = strcmp(line, id) == 0;
	}
	fclose(fp);
	return hit;
}

/* A hub directive from feed FEED, its signature verified. */
static void
directive_cb(void *arg, const char *feed, const char *data, size_t len)
{
	struct agent *a = arg;
	struct rg_directive d;
	char err[512], warning[256] = "", until[40], by[RG_PIN_BY_MAX];
	int64_t now = (int64_t)time(NULL);
	json_t *ev;

	if (rg_directive_parse(data, len, now, &d, err, sizeof(err)) < 0) {
		/* A kept directive that ended while the agent was down. */
		rg_log_info("feeds: %s: %s: not applied", feed, err);
		return;
	}
	if (d.action == RG_DIRECTIVE_PIN && directive_overridden(a, d.id)) {
		rg_log_info("feeds: %s: directive %s was overridden by the "
		    "administrator: not applied again", feed, d.id);
		return;
	}
	rg_time_format((uint64_t)d.until * 1000, until, sizeof(until));
	directive_by(by, sizeof(by), "", d.id, feed);
	ev = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s}", "feed", feed, "id",
	    d.id, "action", d.action == RG_DIRECTIVE_PIN ? "pin" : "release",
	    "pool", d.action == RG_DIRECTIVE_PIN ? d.pool : NULL,
	    "until", d.action == RG_DIRECTIVE_PIN ? until : NULL,
	    "reason", d.reason);
	if (d.action == RG_DIRECTIVE_RELEASE) {
		rg_journal_add(a->journal, RG_EVENT_DIRECTIVE, 0,
		    a->directive.active ? a->directive.d.pool : NULL, d.id,
		    "released", d.reason[0] ? d.reason : "the hub released "
		    "its pin", ev);
		if (directive_pinned(a)) {
			rg_failover_pin(&a->fo, "auto", by, rg_clock_ms(),
			    warning, sizeof(warning));
			agent_tick(a);
		}
		a->directive.active = 0;
		uv_timer_stop(&a->directive_timer);
		return;
	}
	/* The administrator's pin stands: a hub does not take it over. */
	if (a->fo.pinned[0] != '\0' && !directive_pinned(a)) {
		snprintf(err, sizeof(err), "not applied: pool \"%.64s\" is "
		    "pinned by %.200s, whose choice a directive does not "
		    "override", a->fo.pinned, a->fo.pinned_by);
		rg_journal_add(a->journal, RG_EVENT_DIRECTIVE, 1, d.pool, d.id,
		    "refused", err, ev);
		return;
	}
	if (rg_failover_pin(&a->fo, d.pool, by, rg_clock_ms(), warning,
	    sizeof(warning)) < 0) {
		snprintf(err, sizeof(err), "directive %.100s asks for pool "
		    "\"%.64s\", which this configuration does not have", d.id,
		    d.pool);
		rg_journal_add(a->journal, RG_EVENT_DIRECTIVE, 1, d.pool, d.id,
		    "refused", err, ev);
		return;
	}
	snprintf(err, sizeof(err), "hub directive from feed \"%.64s\": pin "
	    "pool \"%.64s\" until %s%s%.120s", feed, d.pool, until,
	    d.reason[0] ? ": " : "", d.reason);
	rg_journal_add(a->journal, RG_EVENT_DIRECTIVE, warning[0] != '\0',
	    d.pool, d.id, "pinned", err, ev);
	a->directive.d = d;
	snprintf(a->directive.feed, sizeof(a->directive.feed), "%s", feed);
	a->directive.active = 1;
	directive_timer_arm(a);
	agent_tick(a);
}

/* The status document the reporters send. */
static json_t *
report_status_cb(void *arg)
{
	return status_doc(arg);
}

static void
close_walk_cb(uv_handle_t *hd, void *arg)
{
	if (!uv_is_closing(hd))
		uv_close(hd, NULL);
}

static void
agent_stop(struct agent *a, const char *why)
{
	if (a->stopping)
		return;
	rg_journal_add(a->journal, RG_EVENT_STOP, 0, NULL, NULL, NULL, why,
	    json_pack("{s:s, s:s}", "mode", rg_mode_str[a->fo.mode],
	    "active_pool", a->fo.active));
	a->stopping = 1;
	rg_control_close(a->control);
	a->control = NULL;
	/* Workers first: they read the blocklist the feeds publish; and
	 * the HTTP threads, which hand pushes to the feeds. */
	uv_timer_stop(&a->sight_timer);
	uv_timer_stop(&a->directive_timer);
	rg_frontend_stop(a->fe);
	rg_http_stop(a->http);
	a->http = NULL;
	rg_feeds_free(a->feeds);
	a->feeds = NULL;
	/* The backend closes its own timer: before the walk below. */
	rg_backend_free(a->backend);
	a->backend = NULL;
	/* After the stop event: it is spooled and goes out next time. */
	rg_report_free(a->report);
	a->report = NULL;
	uv_timer_stop(&a->timer);
	uv_signal_stop(&a->sig_hup);
	uv_signal_stop(&a->sig_term);
	uv_signal_stop(&a->sig_int);
	/* Cancels the rounds in flight; their results are dropped. */
	rg_net_free(a->net);
	a->net = NULL;
	uv_walk(a->loop, close_walk_cb, NULL);
}

static void
signal_cb(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;
	json_t *r;

	if (signum == SIGHUP) {
		r = agent_reload(a, "SIGHUP");
		json_decref(r);
		return;
	}
	agent_stop(a, signum == SIGTERM ? "stopped by SIGTERM" :
	    "stopped by SIGINT");
}

static int
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (user == NULL || geteuid() != 0)
		return 0;
	if ((pw = getpwnam(user)) == NULL) {
		rg_log_warnx("unknown user \"%s\"", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 ||
	    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		rg_log_warn("cannot drop privileges to \"%s\"", user);
		return -1;
	}
	return 0;
}

#define GUARD_UNHEARD "backend \"builtin\" (guard mode) without " \
	"server.listen: resguardd answers no client, and its failover " \
	"decision and blocklist take effect nowhere"

/* Guard mode that nobody can ask: the default backend, no listener. */
static int
guard_unheard(const struct rg_conf *c)
{
	return c->n_listen == 0 && (c->backend_type == NULL ||
	    strcmp(c->backend_type, "builtin") == 0);
}

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: resguardd [-c FILE] [-f] [-t] [-v]...\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground, log to stderr\n"
	    "  -t       check the configuration and exit (0 good, 1 bad)\n"
	    "  -v       verbose: log every probe and control request\n"
	    "  -V       print the version and exit\n", DEFAULT_CONF);
}

int
main(int argc, char *argv[])
{
	struct agent a;
	struct rg_conf *conf = NULL;
	struct passwd *pw;
	int *notify_fds = NULL;
	const char *path = DEFAULT_CONF;
	char *abspath = NULL;
	char err[512];
	unsigned workers;
	int ch, foreground = 0, check = 0, verbose = 0, rc;

#ifdef M_MMAP_THRESHOLD
	/* Each blocklist build allocates tens of megabytes for a moment,
	 * from the arena of the thread that builds it; below glibc's
	 * adaptive threshold those pages stay with the arena after they are
	 * freed, and the resident size climbs build after build.  Blocks of
	 * a megabyte or more are mapped and unmapped instead. */
	(void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
	while ((ch = getopt(argc, argv, "c:fhtvV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			check = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("resguardd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}

	/* Reloads happen after daemon(3) moved to "/": keep the path
	 * absolute. */
	if ((abspath = realpath(path, NULL)) != NULL)
		path = abspath;
	rc = rg_conf_load(path, &conf, check || foreground ?
	    conf_error_stderr_cb : conf_error_log_cb, NULL);
	if (check) {
		if (rc < 0) {
			fprintf(stderr, "%s: %d error%s\n", path, -rc,
			    rc == -1 ? "" : "s");
			free(abspath);
			return 1;
		}
		/* A sidecar backend is loaded and opened too: a missing
		 * plugin is a configuration error. */
		if (rg_backend_test(conf, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: backend: %s\n", path, err);
			rg_conf_free(conf);
			free(abspath);
			return 1;
		}
		if (guard_unheard(conf))
			fprintf(stderr, "%s: warning: %s\n", path,
			    GUARD_UNHEARD);
		printf("configuration OK\n");
		rg_conf_free(conf);
		free(abspath);
		return 0;
	}
	rg_log_init("resguardd", foreground, verbose > 0 ? RG_LOG_DEBUG :
	    RG_LOG_INFO);
	if (rc < 0) {
		rg_log_warnx("%s: %d error%s; not started", path, -rc,
		    rc == -1 ? "" : "s");
		return 1;
	}
	if (!foreground && daemon(0, 0) < 0) {
		rg_log_warn("daemon");
		return 1;
	}

	memset(&a, 0, sizeof(a));
	a.conf_path = path;
	a.loop = uv_default_loop();
	if ((rc = state_dir_make(conf->state_dir)) < 0) {
		rg_log_warnx("state-dir %s: %s", conf->state_dir,
		    strerror(-rc));
		return 1;
	}
	a.control = rg_control_open(a.loop, conf->control_socket,
	    conf->control_group, control_cb, &a, err, sizeof(err));
	if (a.control == NULL) {
		rg_log_warnx("control socket: %s", err);
		return 1;
	}
	/* Guard listeners are bound now, while a port below 1024 still can
	 * be; each worker reads the blocklist as its own reader. */
	workers = rg_frontend_workers(conf);
	if ((a.bl_domain = rg_bl_domain_new(workers, NULL)) == NULL) {
		rg_log_warnx("out of memory");
		return 1;
	}
	if (workers > 0 && (a.fe = rg_frontend_new(conf, workers, a.bl_domain,
	    err, sizeof(err))) == NULL) {
		rg_log_warnx("server.listen %s; not started", err);
		rg_control_close(a.control);
		return 1;
	}
	/* So are the NOTIFY listeners of feeds by zone transfer. */
	if (conf->n_notify_listen > 0 && ((notify_fds = calloc(2 *
	    conf->n_notify_listen, sizeof(int))) == NULL ||
	    rg_feeds_notify_open(conf->notify_listen, conf->n_notify_listen,
	    notify_fds, err, sizeof(err)) < 0)) {
		rg_log_warnx("feeds: %s; not started", notify_fds != NULL ?
		    err : "out of memory");
		return 1;
	}
	if (conf->user != NULL && geteuid() == 0 &&
	    (pw = getpwnam(conf->user)) != NULL) {
		if (chown(conf->state_dir, pw->pw_uid, pw->pw_gid) < 0 ||
		    chown(conf->control_socket, pw->pw_uid, (gid_t)-1) < 0)
			rg_log_warn("cannot hand %s to \"%s\"",
			    conf->state_dir, conf->user);
	}
	if (drop_privileges(conf->user) < 0)
		return 1;
	if ((a.journal = rg_journal_open(conf->state_dir,
	    conf->journal_ring)) == NULL) {
		rg_log_warn("journal in %s", conf->state_dir);
		return 1;
	}
	if ((a.net = rg_net_new(a.loop)) == NULL ||
	    (a.health = rg_health_new(conf, NULL, a.net, a.journal)) == NULL) {
		rg_log_warnx("out of memory");
		return 1;
	}
	a.health->wake_cb = health_wake_cb;
	a.health->wake_arg = &a;
	rg_failover_init(&a.fo, a.health, a.journal, rg_clock_ms());
	/* Feeds are read off the loop; until the first snapshot is
	 * published the blocklist is empty. */
	if ((a.feeds = rg_feeds_new(a.loop, a.journal, a.bl_domain)) == NULL) {
		rg_log_warnx("out of memory");
		return 1;
	}
	if (conf->n_notify_listen > 0 && rg_feeds_listen_notify(a.feeds,
	    conf->notify_listen, conf->n_notify_listen, notify_fds, err,
	    sizeof(err)) < 0) {
		rg_log_warnx("feeds: %s", err);
		return 1;
	}
	free(notify_fds);
	rg_feeds_on_directive(a.feeds, directive_cb, &a);
	rg_feeds_configure(a.feeds, a.health->conf);
	rg_feeds_on_publish(a.feeds, feeds_published_cb, &a);
	if ((a.report = rg_report_new(a.loop, a.journal, report_status_cb,
	    &a)) == NULL) {
		rg_log_warnx("out of memory");
		return 1;
	}
	if (rg_report_configure(a.report, a.health->conf, err,
	    sizeof(err)) < 0) {
		rg_log_warnx("report: %s; not started", err);
		return 1;
	}
	a.feed_hits = json_object();
	uv_timer_init(a.loop, &a.sight_timer);
	a.sight_timer.data = &a;
	uv_timer_init(a.loop, &a.directive_timer);
	a.directive_timer.data = &a;
	a.sight_start_wall_ms = rg_clock_wall_ms();
	if ((a.backend = rg_backend_new(a.loop, a.journal, a.health->conf,
	    err, sizeof(err))) == NULL) {
		rg_log_warnx("backend: %s; not started", err);
		return 1;
	}
	if (conf->n_http_listen > 0) {
		struct rg_http_opts ho;

		memset(&ho, 0, sizeof(ho));
		ho.listen = conf->http_listen;
		ho.n_listen = conf->n_http_listen;
		ho.tls_cert_file = conf->http_tls_cert_file;
		ho.tls_key_file = conf->http_tls_key_file;
		ho.push_token_file = conf->push_token_file;
		ho.push_client_ca_file = conf->push_client_ca_file;
		ho.push_cb = http_push_cb;
		ho.push_arg = &a;
		if ((a.http = rg_http_start_opts(&ho, err,
		    sizeof(err))) == NULL) {
			rg_log_warnx("http: %s; not started", err);
			return 1;
		}
		uv_timer_init(a.loop, &a.http_timer);
		a.http_timer.data = &a;
		uv_timer_start(&a.http_timer, http_timer_cb, 0, 1000);
	}
	if (a.fe != NULL) {
		/* Workers start with a route and the access control. */
		rg_frontend_update(a.fe, a.health->conf, &a.fo);
		if ((rc = rg_frontend_start(a.fe, a.loop, guard_outcome_cb,
		    guard_recurse_cb, &a)) < 0) {
			rg_log_warnx("guard: cannot start the workers: %s",
			    strerror(-rc));
			return 1;
		}
		rg_log_info("guard: answering on %zu address%s with %u "
		    "worker%s", a.health->conf->n_listen,
		    a.health->conf->n_listen == 1 ? "" : "es", workers,
		    workers == 1 ? "" : "s");
	} else if (guard_unheard(a.health->conf))
		rg_log_warnx("guard: %s", GUARD_UNHEARD);
	sight_timer_set(&a);

	uv_timer_init(a.loop, &a.timer);
	a.timer.data = &a;
	uv_signal_init(a.loop, &a.sig_hup);
	uv_signal_init(a.loop, &a.sig_term);
	uv_signal_init(a.loop, &a.sig_int);
	a.sig_hup.data = a.sig_term.data = a.sig_int.data = &a;
	uv_signal_start(&a.sig_hup, signal_cb, SIGHUP);
	uv_signal_start(&a.sig_term, signal_cb, SIGTERM);
	uv_signal_start(&a.sig_int, signal_cb, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	/* Last: nothing from here on needs more than the running agent. */
	if (conf->seccomp && (rc = rg_sandbox_enter(err, sizeof(err))) < 0) {
		rg_log_warnx("seccomp: %s; not started", err);
		return 1;
	}

	snprintf(err, sizeof(err), "resguardd %s started with %s",
	    PACKAGE_VERSION, path);
	rg_journal_add(a.journal, RG_EVENT_START, 0, NULL, NULL, NULL, err,
	    json_pack("{s:s, s:i, s:s}", "agent_id", conf->agent_id, "pid",
	    (int)getpid(), "control_socket", conf->control_socket));
	agent_tick(&a);
	uv_run(a.loop, UV_RUN_DEFAULT);

	rg_frontend_free(a.fe);
	rg_health_free(a.health);
	rg_bl_domain_free(a.bl_domain);
	rg_journal_close(a.journal);
	json_decref(a.feed_hits);
	uv_loop_close(a.loop);
	free(abspath);
	return 0;
}

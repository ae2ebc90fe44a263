/*
 * main.c -- resguardd: the process, its event loop and the control
 * commands.
 *
 * One libuv loop drives everything: a single timer runs the health part
 * and the failover decision at the earliest deadline either asks for, and
 * every completed probe round wakes the decision again.  SIGHUP and
 * "resguardctl reload" re-read the configuration: a file with errors
 * changes nothing, and its errors go to the log and back to the caller.
 */
#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <pwd.h>
#include <stdio.h>
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
#include "failover.h"
#include "feeds.h"
#include "health.h"
#include "journal.h"
#include "log.h"
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
	struct rg_net *net;
	struct rg_health *health;
	struct rg_failover fo;
	struct rg_journal *journal;
	struct rg_control *control;
	struct rg_bl_domain *bl_domain;
	struct rg_feeds *feeds;
	const char *conf_path;
	int in_tick;
	int stopping;
};

static void agent_tick(struct agent *a);

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
	rc = rg_failover_pin(&a->fo, pool, rg_clock_ms(), warning,
	    sizeof(warning));
	if (rc == -ENOENT)
		return rg_control_error("no pool named \"%.64s\"", pool);
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
		res = json_pack("{s:s, s:b, s:s, s:s, s:b, s:s, s:s?}",
		    "name", fq, "blocked", m.action != RG_ACTION_LOG_ONLY,
		    "action", rg_action_str[m.action], "rule", m.rule,
		    "wildcard", m.wildcard, "feed", m.feed,
		    "indicator", m.indicator);
	else
		res = json_pack("{s:s, s:b, s:s}", "name", fq, "blocked", 0,
		    "message", c->n_feeds == 0 ? "no feeds configured" :
		    "no rule matches");
	free(fq);
	return rg_control_ok(res);
}

static json_t *
cmd_feeds(struct agent *a, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const struct rg_conf *c = a->health->conf;
	char msg[256];

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
}

static json_t *
control_cb(void *arg, const char *cmd, json_t *req)
{
	struct agent *a = arg;

	if (strcmp(cmd, "status") == 0) {
		struct rg_status_parts parts;

		status_parts(a, &parts);
		return rg_control_ok(rg_status_json(&a->fo, &parts,
		    rg_clock_ms()));
	}
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
	rg_feeds_free(a->feeds);
	a->feeds = NULL;
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
	const char *path = DEFAULT_CONF;
	char *abspath = NULL;
	char err[512];
	int ch, foreground = 0, check = 0, verbose = 0, rc;

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
			return 1;
		}
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
	if ((a.bl_domain = rg_bl_domain_new(0, NULL)) == NULL ||
	    (a.feeds = rg_feeds_new(a.loop, a.journal, a.bl_domain)) == NULL) {
		rg_log_warnx("out of memory");
		return 1;
	}
	rg_feeds_configure(a.feeds, a.health->conf);

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

	snprintf(err, sizeof(err), "resguardd %s started with %s",
	    PACKAGE_VERSION, path);
	rg_journal_add(a.journal, RG_EVENT_START, 0, NULL, NULL, NULL, err,
	    json_pack("{s:s, s:i, s:s}", "agent_id", conf->agent_id, "pid",
	    (int)getpid(), "control_socket", conf->control_socket));
	agent_tick(&a);
	uv_run(a.loop, UV_RUN_DEFAULT);

	rg_health_free(a.health);
	rg_bl_domain_free(a.bl_domain);
	rg_journal_close(a.journal);
	uv_loop_close(a.loop);
	free(abspath);
	return 0;
}

/*
 * backend.c -- the agent's side of the sidecar backends.
 *
 * What the resolver should have is kept as two immutable, reference-counted
 * objects: the target (mode, active pool, the upstreams to forward to) and
 * the generation of the blocklist snapshots published.  The agent replaces
 * them on the loop; a job takes a reference to the target and a copy of
 * the settings an export reads, runs in libuv's thread pool -- check the
 * resolver, apply the target, build the blocklist's response policy zone
 * (export.c's, from the snapshot current when the job started, held only
 * until the zone is built) -- and back on the loop records what it came
 * to; a zone that is not the one installed already then goes to the
 * plugin in a second part of the same job.  A million rules take a second
 * to write: never on the loop.  So a reload or a newer decision never
 * pulls data from under a running job, and the plugin never sees the agent's
 * live structures.  At most one job runs at a time; a failure arms a retry
 * with exponential back-off, and news from the agent (a new target or new
 * rules) is tried at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "util.h"
#include "blocklist.h"
#include "export.h"
#include "clock.h"
#include "conf.h"
#include "failover.h"
#include "health.h"
#include "journal.h"
#include "log.h"
#include "plugin.h"

#define BACKOFF_MIN_MS		1000
#define BACKOFF_MAX_MS		30000
#define CHECK_MIN_MS		2000
#define CHECK_MAX_MS		60000
#define MSG_LEN			512

/* The settings of one backend, owned. */
struct settings {
	char *type, *control, *key_file, *cert_file, *server_cert_file;
	char **zones;
	size_t n_zones;
	char *rpz_file, *rpz_zone, *path, *forward_file;
	int use_cert, force;
	struct rg_backend_settings pub;	/* points into the above */
};

/* What the resolver should forward to. */
struct target {
	unsigned refs;
	struct rg_backend_target pub;
	struct rg_backend_server *servers;
	char *mode, *pool;
	char *key;			/* canonical text, for comparisons */
};

struct job {
	uv_work_t req;
	struct rg_backend *b;
	const struct rg_backend_ops *ops;
	void *inst;
	struct target *applied;		/* what the resolver should have */
	struct target *apply;		/* to apply, or NULL */
	uint64_t gen;			/* blocklist to install, 0 none */
	struct rg_conf *conf;		/* allowlist, sinkholes, feed order */
	struct rg_bl_domain *dom;	/* held until the zone is built */
	const struct rg_blocklist *bl;
	char *zone_name;
	uint32_t serial;
	uint64_t done_digest;		/* of the zone installed, 0 none */
	char *zone;			/* built in the pool */
	size_t zone_len;
	struct rg_export_stats st;
	int unchanged;
	int installing;			/* the second part: the plugin */
	int failed;			/* something failed: back off */
	int checked, check_rc;
	int applied_again;		/* the check found drift: re-applied */
	int apply_rc, rules_rc;
	char check_msg[MSG_LEN], apply_msg[MSG_LEN], rules_msg[MSG_LEN];
};

struct rg_backend {
	uv_loop_t *loop;
	struct rg_journal *journal;
	struct settings *set;
	struct rg_plugin_handle *plugin;	/* NULL: builtin */
	void *inst;
	/* A new backend waiting for the job in flight to end. */
	struct settings *next_set;
	struct rg_plugin_handle *next_plugin;
	void *next_inst;
	int next_pending;

	struct rg_conf *xconf;		/* what the export reads */
	struct rg_bl_domain *dom;	/* where the snapshots are */
	uint32_t check_ms;

	struct target *want, *applied;
	uint64_t applied_wall_ms;
	uint64_t rules_gen;		/* snapshots published, 0 none */
	uint64_t rules_done_gen;	/* gen of the rules installed, 0 none */
	size_t rules_done_n;
	uint64_t rules_done_digest;	/* of that zone, 0 none */
	uint64_t rules_done_wall_ms;
	uint32_t serial;		/* the last zone's SOA serial */

	struct job *job;
	uv_timer_t timer;
	int timer_closed;
	int freeing;
	int dirty;			/* news since the last job started */
	uint64_t next_check_ms;
	uint64_t retry_at_ms;

	int resolver;			/* -1 unknown, 0 down, 1 up */
	char resolver_msg[MSG_LEN];
	uint64_t resolver_since_wall_ms;
	int failing;
	unsigned failures;
	uint32_t backoff_ms;
	char last_error[MSG_LEN];
	uint64_t last_error_wall_ms;
	uint64_t jobs;
};

static void backend_kick(struct rg_backend *b);
static void backend_destroy(struct rg_backend *b);

/* Settings. */

static void
settings_free(struct settings *s)
{
	size_t i;

	if (s == NULL)
		return;
	free(s->type);
	free(s->control);
	free(s->key_file);
	free(s->cert_file);
	free(s->server_cert_file);
	for (i = 0; i < s->n_zones; i++)
		free(s->zones[i]);
	free(s->zones);
	free(s->rpz_file);
	free(s->rpz_zone);
	free(s->path);
	free(s->forward_file);
	free(s);
}

static struct settings *
settings_new(const struct rg_conf *conf)
{
	struct settings *s;
	size_t i;
	int fail = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->type = rg_strdup_opt(conf->backend_type != NULL ?
	    conf->backend_type : "builtin", &fail);
	s->control = rg_strdup_opt(conf->backend_control, &fail);
	s->key_file = rg_strdup_opt(conf->backend_control_key_file, &fail);
	s->cert_file = rg_strdup_opt(conf->backend_control_cert_file, &fail);
	s->server_cert_file = rg_strdup_opt(conf->backend_server_cert_file,
	    &fail);
	s->rpz_file = rg_strdup_opt(conf->backend_rpz_file, &fail);
	s->rpz_zone = rg_strdup_opt(conf->backend_rpz_zone, &fail);
	s->path = rg_strdup_opt(conf->backend_path, &fail);
	s->forward_file = rg_strdup_opt(conf->backend_forward_file, &fail);
	s->use_cert = conf->backend_control_use_cert;
	s->force = conf->backend_force;
	if (conf->n_backend_zones > 0) {
		if ((s->zones = calloc(conf->n_backend_zones,
		    sizeof(*s->zones))) == NULL)
			fail = 1;
		else
			s->n_zones = conf->n_backend_zones;
		for (i = 0; i < s->n_zones; i++)
			s->zones[i] = rg_strdup_opt(conf->backend_zones[i],
			    &fail);
	}
	if (fail) {
		settings_free(s);
		return NULL;
	}
	s->pub.type = s->type;
	s->pub.control = s->control;
	s->pub.control_use_cert = s->use_cert;
	s->pub.control_key_file = s->key_file;
	s->pub.control_cert_file = s->cert_file;
	s->pub.server_cert_file = s->server_cert_file;
	s->pub.zones = (const char *const *)s->zones;
	s->pub.n_zones = s->n_zones;
	s->pub.rpz_file = s->rpz_file;
	s->pub.rpz_zone = s->rpz_zone;
	s->pub.path = s->path;
	s->pub.force = s->force;
	s->pub.forward_file = s->forward_file;
	return s;
}

static int
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
settings_equal(const struct settings *a, const struct settings *b)
{
	size_t i;

	if (!str_same(a->type, b->type) || !str_same(a->control, b->control) ||
	    !str_same(a->key_file, b->key_file) ||
	    !str_same(a->cert_file, b->cert_file) ||
	    !str_same(a->server_cert_file, b->server_cert_file) ||
	    !str_same(a->rpz_file, b->rpz_file) ||
	    !str_same(a->rpz_zone, b->rpz_zone) ||
	    !str_same(a->path, b->path) ||
	    !str_same(a->forward_file, b->forward_file) ||
	    a->use_cert != b->use_cert ||
	    a->force != b->force || a->n_zones != b->n_zones)
		return 0;
	for (i = 0; i < a->n_zones; i++)
		if (!str_same(a->zones[i], b->zones[i]))
			return 0;
	return 1;
}

/* Load the plugin of S and open an instance; builtin needs neither. */
static int
backend_load(const struct settings *s, struct rg_plugin_handle **hp,
    void **instp, char *err, size_t len)
{
	struct rg_plugin_handle *h;
	char msg[MSG_LEN] = "";
	int rc;

	*hp = NULL;
	*instp = NULL;
	if (strcmp(s->type, "builtin") == 0)
		return 0;
	if ((h = rg_plugin_open(RG_PLUGIN_BACKEND, s->type, err, len)) ==
	    NULL)
		return -ENOENT;
	if ((rc = h->plugin->backend->open(&s->pub, instp, msg,
	    sizeof(msg))) < 0) {
		snprintf(err, len, "%s: %s", h->path, msg[0] != '\0' ? msg :
		    strerror(-rc));
		rg_plugin_close(h);
		*instp = NULL;
		return rc;
	}
	*hp = h;
	return 0;
}

static void
backend_unload(struct rg_plugin_handle *h, void *inst)
{
	if (h == NULL)
		return;
	h->plugin->backend->close(inst);
	rg_plugin_close(h);
}

/* Targets. */

static void
target_unref(struct target *t)
{
	size_t i;

	if (t == NULL || --t->refs > 0)
		return;
	for (i = 0; i < t->pub.n_servers; i++) {
		free((char *)t->servers[i].name);
		free((char *)t->servers[i].address);
		free((char *)t->servers[i].tls_name);
	}
	free(t->servers);
	free(t->mode);
	free(t->pool);
	free(t->key);
	free(t);
}

static struct target *
target_ref(struct target *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

/* "addr@port", with "#tls-name" for DNS over TLS. */
static void
server_text(const struct rg_backend_server *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s@%u%s%s", s->address, s->port,
	    s->tls && s->tls_name != NULL ? "#" : "",
	    s->tls && s->tls_name != NULL ? s->tls_name : "");
}

/*
 * The target of decision F: the active pool's upstreams that are up, or
 * all of them when none is (a pinned pool, or nothing left anywhere);
 * none for a recursive pool.
 */
static struct target *
target_build(const struct rg_failover *f)
{
	struct rg_pool *p = rg_health_pool(f->health, f->active);
	struct rg_backend_server *sv;
	struct target *t;
	size_t i, n = 0, up = 0, keylen = 0;
	char *key = NULL, one[400];
	FILE *fp;
	int fail = 0;

	if (p == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->refs = 1;
	t->mode = rg_strdup_opt(rg_mode_str[f->mode], &fail);
	t->pool = rg_strdup_opt(p->conf->name, &fail);
	t->pub.recursive = p->conf->recursive;
	for (i = 0; i < p->n_upstreams; i++)
		if (p->upstreams[i]->state == RG_STATE_UP)
			up++;
	if (!t->pub.recursive && p->n_upstreams > 0 &&
	    (t->servers = calloc(p->n_upstreams, sizeof(*sv))) == NULL)
		fail = 1;
	for (i = 0; t->servers != NULL && i < p->n_upstreams; i++) {
		const struct rg_conf_upstream *c = p->upstreams[i]->conf;

		if (up > 0 && p->upstreams[i]->state != RG_STATE_UP)
			continue;
		sv = &t->servers[n++];
		sv->name = rg_strdup_opt(c->name, &fail);
		sv->address = rg_strdup_opt(c->address, &fail);
		sv->port = c->port;
		sv->tls = c->transport == RG_TRANSPORT_TLS;
		sv->tcp = c->transport == RG_TRANSPORT_TCP;
		sv->tls_name = rg_strdup_opt(c->tls_name, &fail);
	}
	t->pub.n_servers = n;
	t->pub.servers = t->servers;
	t->pub.mode = t->mode;
	t->pub.pool = t->pool;
	if ((fp = open_memstream(&key, &keylen)) == NULL)
		fail = 1;
	else {
		fprintf(fp, "%s|%s|%d", t->mode ? t->mode : "",
		    t->pool ? t->pool : "", t->pub.recursive);
		for (i = 0; i < n; i++) {
			if (t->servers[i].address == NULL)
				continue;
			server_text(&t->servers[i], one, sizeof(one));
			fprintf(fp, "|%s/%d", one, t->servers[i].tcp);
		}
		if (fclose(fp) != 0)
			fail = 1;
		t->key = key;
	}
	if (fail || t->key == NULL) {
		target_unref(t);
		return NULL;
	}
	return t;
}

static int
target_same(const struct target *a, const struct target *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a->key, b->key) == 0;
}

static json_t *
target_servers_json(const struct target *t)
{
	json_t *a = json_array();
	char one[400];
	size_t i;

	for (i = 0; i < t->pub.n_servers; i++) {
		server_text(&t->servers[i], one, sizeof(one));
		json_array_append_new(a, json_string(one));
	}
	return a;
}

/* The backend. */

static const struct rg_backend_ops *
backend_ops(const struct rg_backend *b)
{
	return b->plugin != NULL ? b->plugin->plugin->backend : NULL;
}

/* The backend that the agent's news are for: the one waiting to take
 * over, when there is one. */
static const struct rg_backend_ops *
backend_next_ops(const struct rg_backend *b, const struct settings **sp)
{
	const struct rg_plugin_handle *h;

	h = b->next_pending ? b->next_plugin : b->plugin;
	*sp = b->next_pending ? b->next_set : b->set;
	return h != NULL ? h->plugin->backend : NULL;
}

static void
timer_close_cb(uv_handle_t *h)
{
	struct rg_backend *b = h->data;

	b->timer_closed = 1;
	if (b->job == NULL)
		backend_destroy(b);
}

static void
timer_cb(uv_timer_t *t)
{
	backend_kick(t->data);
}

static void
backend_arm(struct rg_backend *b, uint64_t at, uint64_t now)
{
	uv_timer_start(&b->timer, timer_cb, at > now ? at - now : 0, 0);
}

/* Record a failure of WHAT and arm the retry. */
static void
backend_failed(struct rg_backend *b, const char *what, const char *msg,
    json_t *evidence)
{
	char reason[MSG_LEN + 64];
	int news;

	news = !b->failing || strcmp(b->last_error, msg) != 0;
	snprintf(b->last_error, sizeof(b->last_error), "%s", msg);
	b->last_error_wall_ms = rg_clock_wall_ms();
	b->failing = 1;
	if (!news) {
		rg_log_debug("backend: %s still failing: %s", what, msg);
		json_decref(evidence);
		return;
	}
	snprintf(reason, sizeof(reason), "%s: %s", what, msg);
	json_object_set_new(evidence, "what", json_string(what));
	rg_journal_add(b->journal, RG_EVENT_BACKEND_FAILED, 1, b->set->type,
	    NULL, NULL, reason, evidence);
}

static void
job_free(struct job *job)
{
	target_unref(job->applied);
	target_unref(job->apply);
	rg_export_conf_free(job->conf);
	free(job->zone_name);
	free(job->zone);
	free(job);
}

/* In the thread pool: the zone of the held snapshot, and whether it is
 * the one the resolver has. */
static void
job_export(struct job *job)
{
	job->rules_rc = rg_export_rpz_zone(job->bl, job->conf,
	    job->zone_name, job->serial, &job->zone, &job->zone_len, &job->st,
	    job->rules_msg, sizeof(job->rules_msg));
	if (job->rules_rc < 0)
		return;
	job->unchanged = job->done_digest != 0 &&
	    job->st.digest == job->done_digest;
}

/* In the thread pool, once the snapshot is released: the zone to the
 * plugin, which may take long (Unbound loads it). */
static void
job_install_cb(uv_work_t *req)
{
	struct job *job = req->data;
	struct rg_backend_rules pub;

	pub.zone = job->zone;
	pub.len = job->zone_len;
	pub.n_rules = job->st.rules;
	pub.serial = job->serial;
	job->rules_rc = job->ops->blocklist(job->inst, &pub, job->rules_msg,
	    sizeof(job->rules_msg));
}

/* In the thread pool: check, apply, export; the install follows in a
 * second part (job_install_cb), after the snapshot is released. */
static void
job_work_cb(uv_work_t *req)
{
	struct job *job = req->data;
	const struct rg_backend_ops *ops = job->ops;

	if (ops->check != NULL) {
		job->checked = 1;
		job->check_rc = ops->check(job->inst, job->applied != NULL ?
		    &job->applied->pub : NULL, job->check_msg,
		    sizeof(job->check_msg));
		if (job->check_rc < 0)
			return;
		/* The resolver lost what it had (it restarted, or someone
		 * changed it): apply it again. */
		if (job->check_rc == RG_BACKEND_DRIFT && job->apply == NULL &&
		    job->applied != NULL) {
			job->apply = job->applied;
			job->applied = NULL;
			job->applied_again = 1;
		}
	}
	if (job->apply != NULL)
		job->apply_rc = ops->apply(job->inst, &job->apply->pub,
		    job->apply_msg, sizeof(job->apply_msg));
	if (job->gen != 0)
		job_export(job);
}

/* Swap in the backend that waited for the job to end. */
static void
backend_swap(struct rg_backend *b)
{
	if (!b->next_pending)
		return;
	backend_unload(b->plugin, b->inst);
	settings_free(b->set);
	b->set = b->next_set;
	b->plugin = b->next_plugin;
	b->inst = b->next_inst;
	b->next_set = NULL;
	b->next_plugin = NULL;
	b->next_inst = NULL;
	b->next_pending = 0;
	/* The new backend has nothing of ours yet. */
	target_unref(b->applied);
	b->applied = NULL;
	b->rules_done_gen = 0;
	b->rules_done_digest = 0;
	b->resolver = -1;
	b->resolver_msg[0] = '\0';
	b->failing = 0;
	b->failures = 0;
	b->backoff_ms = 0;
	b->retry_at_ms = 0;
	b->next_check_ms = 0;
	b->last_error[0] = '\0';
	b->dirty = 1;
}

static void
job_after_cb(uv_work_t *req, int status)
{
	struct job *job = req->data;
	struct rg_backend *b = job->b;
	uint64_t now = rg_clock_ms();
	char reason[MSG_LEN + 128];
	const char *old;

	b->job = NULL;
	/* The zone is built: the snapshots retired meanwhile can go. */
	if (job->dom != NULL) {
		rg_bl_release(job->dom);
		job->dom = NULL;
	}
	if (b->freeing) {
		job_free(job);
		if (b->timer_closed)
			backend_destroy(b);
		return;
	}
	if (status < 0) {
		job_free(job);
		backend_kick(b);
		return;
	}
	if (job->installing)
		goto rules;
	if (job->checked && job->check_rc < 0) {
		job->failed = 1;
		if (b->resolver != 0)
			b->resolver_since_wall_ms = rg_clock_wall_ms();
		b->resolver = 0;
		snprintf(b->resolver_msg, sizeof(b->resolver_msg), "%s",
		    job->check_msg);
		backend_failed(b, "resolver", job->check_msg, json_pack(
		    "{s:s, s:i, s:s?}", "error", strerror(-job->check_rc),
		    "attempt", (int)b->failures + 1, "control",
		    b->set->control));
	} else if (job->checked) {
		if (b->resolver == 0) {
			snprintf(reason, sizeof(reason), "the host's resolver "
			    "answers again: %s", job->check_msg);
			rg_journal_add(b->journal, RG_EVENT_BACKEND_RECOVERED,
			    0, b->set->type, "down", "up", reason,
			    json_pack("{s:i}", "attempts",
			    (int)b->failures + 1));
		}
		if (b->resolver != 1)
			b->resolver_since_wall_ms = rg_clock_wall_ms();
		b->resolver = 1;
		snprintf(b->resolver_msg, sizeof(b->resolver_msg), "%s",
		    job->check_msg);
	}

	if (job->apply != NULL && !(job->checked && job->check_rc < 0)) {
		if (job->apply_rc == 0) {
			old = b->applied != NULL ? b->applied->pool : NULL;
			snprintf(reason, sizeof(reason), "%s%s",
			    job->applied_again ? "the resolver had lost the "
			    "forwarders (restarted?); applied again: " : "",
			    job->apply_msg);
			rg_journal_add(b->journal, RG_EVENT_BACKEND_APPLIED, 0,
			    b->set->type, old, job->apply->pool, reason,
			    json_pack("{s:s, s:s, s:s, s:b, s:o, s:i}",
			    "what", "forwarders", "mode", job->apply->mode,
			    "pool", job->apply->pool, "recursive",
			    job->apply->pub.recursive, "servers",
			    target_servers_json(job->apply), "attempts",
			    (int)b->failures + 1));
			target_unref(b->applied);
			b->applied = target_ref(job->apply);
			b->applied_wall_ms = rg_clock_wall_ms();
		} else {
			job->failed = 1;
			backend_failed(b, "forwarders", job->apply_msg,
			    json_pack("{s:s, s:s, s:o, s:i}", "mode",
			    job->apply->mode, "pool", job->apply->pool,
			    "servers", target_servers_json(job->apply),
			    "attempt", (int)b->failures + 1));
		}
	}

	/* A new zone: to the plugin, in a second part of the same job. */
	if (job->gen != 0 && !(job->checked && job->check_rc < 0) &&
	    job->rules_rc == 0 && !job->unchanged) {
		job->installing = 1;
		if (uv_queue_work(b->loop, &job->req, job_install_cb,
		    job_after_cb) == 0) {
			b->job = job;
			return;
		}
		job->rules_rc = -ENOMEM;
		snprintf(job->rules_msg, sizeof(job->rules_msg),
		    "cannot start the install");
	}
rules:
	if (job->gen != 0 && !(job->checked && job->check_rc < 0)) {
		if (job->rules_rc == 0 && job->unchanged) {
			/* The same zone: the resolver has it already. */
			b->rules_done_gen = job->gen;
		} else if (job->rules_rc == 0) {
			rg_journal_add(b->journal, RG_EVENT_BACKEND_APPLIED, 0,
			    b->set->type, NULL, NULL, job->rules_msg,
			    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
			    "s:{s:I, s:I, s:I, s:I}, s:I, s:s?, s:i}",
			    "what", "blocklist",
			    "rules", (json_int_t)job->st.rules,
			    "names", (json_int_t)job->st.names,
			    "wildcards", (json_int_t)job->st.wildcards,
			    "response_ip", (json_int_t)job->st.ips,
			    "passthru", (json_int_t)job->st.allowlist,
			    "refused_as_nxdomain", (json_int_t)job->st.refused,
			    "left_out",
			    "log_only", (json_int_t)job->st.log_only,
			    "allowlisted", (json_int_t)job->st.allowlisted,
			    "shadowed", (json_int_t)job->st.shadowed,
			    "unusable", (json_int_t)job->st.unusable,
			    "serial", (json_int_t)job->serial,
			    "file", b->set->rpz_file,
			    "attempts", (int)b->failures + 1));
			b->rules_done_gen = job->gen;
			b->rules_done_n = job->st.rules;
			b->rules_done_digest = job->st.digest;
			b->rules_done_wall_ms = rg_clock_wall_ms();
		} else {
			/* The plugin may have written the file before it
			 * failed (a reload refused): the zone there is not
			 * known any more, so the next one is written even if
			 * it is the one installed before. */
			b->rules_done_digest = 0;
			job->failed = 1;
			backend_failed(b, "blocklist", job->rules_msg,
			    json_pack("{s:I, s:s?, s:i}", "rules",
			    (json_int_t)(job->zone != NULL ? job->st.rules : 0),
			    "file", b->set->rpz_file, "attempt",
			    (int)b->failures + 1));
		}
	}

	if (job->failed) {
		b->failures++;
		b->backoff_ms = b->backoff_ms == 0 ? BACKOFF_MIN_MS :
		    b->backoff_ms * 2;
		if (b->backoff_ms > BACKOFF_MAX_MS)
			b->backoff_ms = BACKOFF_MAX_MS;
		b->retry_at_ms = now + b->backoff_ms;
		b->next_check_ms = b->retry_at_ms;
		rg_log_info("backend: %s: attempt %u failed; next in %u ms",
		    b->set->type, b->failures, b->backoff_ms);
	} else {
		b->failing = 0;
		b->failures = 0;
		b->backoff_ms = 0;
		b->retry_at_ms = 0;
		b->next_check_ms = job->ops->check != NULL ? now + b->check_ms :
		    UINT64_MAX;
	}
	job_free(job);
	backend_swap(b);
	backend_kick(b);
}

/* Start a job when there is work, or arm the timer for the next one. */
static void
backend_kick(struct rg_backend *b)
{
	const struct rg_backend_ops *ops = backend_ops(b);
	uint64_t now = rg_clock_ms();
	struct job *job;
	int apply, install;

	if (b->freeing || b->job != NULL || ops == NULL)
		return;
	apply = b->want != NULL && !target_same(b->want, b->applied);
	install = ops->blocklist != NULL && b->set->rpz_file != NULL &&
	    b->rules_gen != b->rules_done_gen;
	if (b->failing && now < b->retry_at_ms && !b->dirty) {
		backend_arm(b, b->retry_at_ms, now);
		return;
	}
	if (!apply && !install && now < b->next_check_ms) {
		if (b->next_check_ms != UINT64_MAX)
			backend_arm(b, b->next_check_ms, now);
		return;
	}
	if (!apply && !install && ops->check == NULL)
		return;
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		rg_log_warnx("backend: out of memory; retrying");
		backend_arm(b, now + BACKOFF_MIN_MS, now);
		return;
	}
	job->req.data = job;
	job->b = b;
	job->ops = ops;
	job->inst = b->inst;
	job->applied = target_ref(b->applied);
	if (apply)
		job->apply = target_ref(b->want);
	if (install) {
		if ((job->zone_name = strdup(b->set->rpz_zone != NULL ?
		    b->set->rpz_zone : RG_EXPORT_ZONE)) == NULL ||
		    (job->conf = rg_export_conf_dup(b->xconf)) == NULL) {
			job_free(job);
			backend_arm(b, now + BACKOFF_MIN_MS, now);
			return;
		}
		job->gen = b->rules_gen;
		job->serial = rg_export_serial(b->serial);
		job->done_digest = b->rules_done_digest;
		job->dom = b->dom;
		rg_bl_hold(job->dom);
		job->bl = rg_bl_current(job->dom);
	}
	if (uv_queue_work(b->loop, &job->req, job_work_cb, job_after_cb) < 0) {
		if (job->dom != NULL)
			rg_bl_release(job->dom);
		job_free(job);
		backend_arm(b, now + BACKOFF_MIN_MS, now);
		return;
	}
	if (install)
		b->serial = job->serial;
	uv_timer_stop(&b->timer);
	b->job = job;
	b->dirty = 0;
	b->jobs++;
}

/* The allowlist and sinkhole addresses of CONF, and the check period. */
static int
backend_policy(struct rg_backend *b, const struct rg_conf *conf)
{
	struct rg_conf *x;
	uint64_t ms;

	if ((x = rg_export_conf_dup(conf)) == NULL)
		return -ENOMEM;
	rg_export_conf_free(b->xconf);
	b->xconf = x;
	ms = (uint64_t)conf->interval_ms * 4;
	b->check_ms = (uint32_t)(ms < CHECK_MIN_MS ? CHECK_MIN_MS :
	    ms > CHECK_MAX_MS ? CHECK_MAX_MS : ms);
	return 0;
}

struct rg_backend *
rg_backend_new(uv_loop_t *loop, struct rg_journal *j,
    const struct rg_conf *conf, char *err, size_t len)
{
	struct rg_backend *b;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	b->loop = loop;
	b->journal = j;
	b->resolver = -1;
	if ((b->set = settings_new(conf)) == NULL ||
	    backend_policy(b, conf) < 0) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	if (backend_load(b->set, &b->plugin, &b->inst, err, len) < 0)
		goto fail;
	uv_timer_init(loop, &b->timer);
	b->timer.data = b;
	if (b->plugin != NULL)
		rg_log_info("backend: %s from %s", b->set->type,
		    b->plugin->path);
	backend_kick(b);
	return b;
fail:
	backend_destroy(b);
	return NULL;
}

int
rg_backend_configure(struct rg_backend *b, const struct rg_conf *conf,
    char *err, size_t len)
{
	struct settings *s;
	struct rg_plugin_handle *h;
	void *inst;
	int rc;

	if (backend_policy(b, conf) < 0 ||
	    (s = settings_new(conf)) == NULL) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	if (settings_equal(s, b->next_pending ? b->next_set : b->set)) {
		settings_free(s);
		backend_kick(b);
		return 0;
	}
	if ((rc = backend_load(s, &h, &inst, err, len)) < 0) {
		rg_journal_add(b->journal, RG_EVENT_BACKEND_FAILED, 1, s->type,
		    b->set->type, s->type, err, json_pack("{s:s, s:s}",
		    "what", "load", "running", b->set->type));
		settings_free(s);
		return rc;
	}
	if (b->next_pending) {
		backend_unload(b->next_plugin, b->next_inst);
		settings_free(b->next_set);
	}
	b->next_set = s;
	b->next_plugin = h;
	b->next_inst = inst;
	b->next_pending = 1;
	rg_log_info("backend: now %s%s%s", s->type, h != NULL ? " from " : "",
	    h != NULL ? h->path : "");
	if (b->job == NULL)
		backend_swap(b);
	backend_kick(b);
	return 0;
}

void
rg_backend_apply(struct rg_backend *b, const struct rg_failover *f)
{
	const struct settings *s;
	struct target *t;

	if (b == NULL || backend_next_ops(b, &s) == NULL || f->starting)
		return;
	if ((t = target_build(f)) == NULL)
		return;
	if (target_same(t, b->want)) {
		target_unref(t);
		return;
	}
	target_unref(b->want);
	b->want = t;
	b->dirty = 1;
	backend_kick(b);
}

void
rg_backend_blocklist(struct rg_backend *b, struct rg_bl_domain *dom)
{
	const struct rg_backend_ops *ops;
	const struct settings *s;

	if (b == NULL || (ops = backend_next_ops(b, &s)) == NULL ||
	    ops->blocklist == NULL || s->rpz_file == NULL)
		return;
	b->dom = dom;
	b->rules_gen++;
	b->dirty = 1;
	backend_kick(b);
}

json_t *
rg_backend_json(const struct rg_backend *b)
{
	const struct rg_backend_ops *ops;
	json_t *o, *applied = json_null(), *bl = json_null();
	char t1[40], t2[40], t3[40];
	const char *state, *resolver;

	if (b == NULL)
		return json_null();
	ops = backend_ops(b);
	if (ops == NULL)
		return json_pack("{s:s, s:s}", "type", b->set->type, "state",
		    "builtin");
	if (b->failing)
		state = "failing";
	else if (b->want != NULL && !target_same(b->want, b->applied))
		state = "pending";
	else
		state = "ok";
	resolver = ops->check == NULL ? NULL : b->resolver < 0 ? "unknown" :
	    b->resolver ? "up" : "down";
	if (b->applied != NULL) {
		rg_time_format(b->applied_wall_ms, t1, sizeof(t1));
		applied = json_pack("{s:s, s:s, s:b, s:o, s:s}",
		    "mode", b->applied->mode, "pool", b->applied->pool,
		    "recursive", b->applied->pub.recursive,
		    "servers", target_servers_json(b->applied), "time", t1);
	}
	if (ops->blocklist != NULL && b->set->rpz_file != NULL) {
		rg_time_format(b->rules_done_wall_ms, t2, sizeof(t2));
		bl = json_pack("{s:I, s:s?, s:b}",
		    "rules", (json_int_t)b->rules_done_n,
		    "time", b->rules_done_gen != 0 ? t2 : NULL,
		    "pending", b->rules_gen != b->rules_done_gen);
	}
	rg_time_format(b->last_error_wall_ms, t3, sizeof(t3));
	o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:o, s:o, s:i, s:s?, "
	    "s:s?}",
	    "type", b->set->type,
	    "plugin", b->plugin->path,
	    "state", state,
	    "resolver", resolver,
	    "resolver_detail", b->resolver_msg[0] != '\0' ? b->resolver_msg :
	    NULL,
	    "applied", applied,
	    "blocklist", bl,
	    "failures", (int)b->failures,
	    "last_error", b->failing ? b->last_error : NULL,
	    "last_error_time", b->failing ? t3 : NULL);
	if (b->failing)
		json_object_set_new(o, "next_retry_ms", json_integer(
		    (json_int_t)(b->retry_at_ms > rg_clock_ms() ?
		    b->retry_at_ms - rg_clock_ms() : 0)));
	return o;
}

int
rg_backend_warning(const struct rg_backend *b, char *summary, size_t len)
{
	if (b == NULL || backend_ops(b) == NULL)
		return 0;
	if (b->resolver == 0) {
		snprintf(summary, len, "backend \"%s\": the host's resolver "
		    "does not answer: %s", b->set->type, b->resolver_msg);
		return 1;
	}
	if (b->failing) {
		snprintf(summary, len, "backend \"%s\" failing (%u attempts): "
		    "%s", b->set->type, b->failures, b->last_error);
		return 1;
	}
	return 0;
}

int
rg_backend_test(const struct rg_conf *conf, char *err, size_t len)
{
	struct rg_plugin_handle *h;
	struct settings *s;
	void *inst;
	int rc;

	if ((s = settings_new(conf)) == NULL) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	if ((rc = backend_load(s, &h, &inst, err, len)) == 0)
		backend_unload(h, inst);
	settings_free(s);
	return rc;
}

static void
backend_destroy(struct rg_backend *b)
{
	backend_unload(b->plugin, b->inst);
	backend_unload(b->next_plugin, b->next_inst);
	settings_free(b->set);
	settings_free(b->next_set);
	target_unref(b->want);
	target_unref(b->applied);
	rg_export_conf_free(b->xconf);
	free(b);
}

void
rg_backend_free(struct rg_backend *b)
{
	if (b == NULL)
		return;
	b->freeing = 1;
	/* The job in flight and the timer's close callback both hold on to
	 * B: whichever ends last frees it. */
	uv_close((uv_handle_t *)&b->timer, timer_close_cb);
}

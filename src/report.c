/*
 * report.c -- reporting upstream: the journal's events, the periodic status
 * and the sightings, through the durable spool, to the reporter plugins.
 *
 * Each reporter has a queue of its own, STATE_DIR/spool/NAME, opened as a
 * spool of one queue: so each has its own byte limit and takes only the
 * reports meant for it (of the kinds its plugin sends, its own status,
 * sightings only when it asked for them, client addresses only when
 * allowed); the layout on disk is the one spool.h describes.  Every spool
 * call is made on the loop thread, so the spool is never shared with a
 * worker: a delivery takes the oldest batch on the loop, the plugin's
 * deliver() runs in libuv's thread pool with the batch serialised, and back
 * on the loop the prefix the receiver acknowledged is removed.  A plugin
 * instance is reference-counted, so a reload can replace it while a
 * delivery still runs with the old one; a reporter removed by a reload, or
 * all of them when the engine is freed, is destroyed only once its timers
 * are closed and its delivery in flight has ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "journal.h"
#include "log.h"
#include "plugin.h"
#include "probe.h"
#include "report.h"
#include "util.h"
#include "spool.h"

#define BATCH_MAX		100
#define BATCH_MAX_BYTES		(1024 * 1024)
#define BACKOFF_MIN_MS		1000
#define BACKOFF_MAX_MS		300000
#define DROP_CHECK_MS		60000	/* no status: drops checked */
#define TOKEN_MAX		4096
#define MSG_LEN			512

/* A plugin instance and the settings it was opened with. */
struct inst {
	unsigned refs;
	struct rg_plugin_handle *plugin;
	const struct rg_report_ops *ops;
	void *state;
	char *name, *type, *url, *ca_file, *cert_file, *key_file, *token;
	char *room, *socket, *agent_id, *hostname, *proxy;
	struct rg_report_settings set;	/* points into the above */
};

/* One delivery: a batch in the thread pool. */
struct job {
	uv_work_t req;
	struct reporter *rep;
	struct inst *inst;
	struct rg_spool_batch batch;
	char **docs;
	size_t *lens;
	long rc;
	char msg[MSG_LEN];
};

struct reporter {
	struct rg_report *r;
	struct reporter *next;
	char *name;
	struct inst *inst;
	struct rg_spool *spool;
	char *spool_dir;
	uint64_t limit;
	uint32_t interval_s;
	int sightings, client_addresses;

	uv_timer_t retry_timer, status_timer;
	int handles;			/* timers not yet closed */
	struct job *job;		/* in flight, or NULL */
	int removed;			/* by a reload: no work, no acks */
	int gone;			/* removed or the engine freed */

	int failing;
	unsigned failures;		/* attempts failed in a row */
	uint64_t step_ms;		/* back-off step, 0 after a success */
	uint64_t retry_at_ms;
	uint64_t failing_since_ms;	/* rg_clock_ms(): a step of the
					 * wall clock is no outage */
	char last_error[MSG_LEN];
	uint64_t last_success_wall_ms;	/* 0: none yet */
	uint64_t delivered;
	/* Drops already announced. */
	uint64_t drops_seen[RG_REPORT_KIND_COUNT];
};

struct rg_report {
	uv_loop_t *loop;
	struct rg_journal *journal;
	rg_report_status_cb *status_cb;
	void *status_arg;
	char hostname[256];
	char *agent_id;
	struct reporter *reps;		/* in configuration order */
	size_t live;			/* reporters not destroyed yet */
	int freeing;
};

static void reporter_kick(struct reporter *rep);

/* Plugin instances. */

static void
inst_unref(struct inst *in)
{
	if (in == NULL || --in->refs > 0)
		return;
	if (in->plugin != NULL) {
		if (in->state != NULL)
			in->ops->close(in->state);
		rg_plugin_close(in->plugin);
	}
	if (in->token != NULL) {
		explicit_bzero(in->token, strlen(in->token));
		free(in->token);
	}
	free(in->name);
	free(in->type);
	free(in->url);
	free(in->ca_file);
	free(in->cert_file);
	free(in->key_file);
	free(in->room);
	free(in->socket);
	free(in->agent_id);
	free(in->hostname);
	free(in->proxy);
	free(in);
}

static struct inst *
inst_ref(struct inst *in)
{
	in->refs++;
	return in;
}

/* Load the plugin of reporter C and open an instance. */
static int
inst_open(const struct rg_report *r, const struct rg_conf *conf,
    const struct rg_conf_report *c, struct inst **out, char *err, size_t len)
{
	struct inst *in;
	char msg[MSG_LEN] = "", why[MSG_LEN];
	int rc, fail = 0;

	*out = NULL;
	if ((in = calloc(1, sizeof(*in))) == NULL) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	in->refs = 1;
	in->name = rg_strdup_opt(c->name, &fail);
	in->type = rg_strdup_opt(c->type, &fail);
	in->url = rg_strdup_opt(c->url, &fail);
	in->ca_file = rg_strdup_opt(c->ca_file, &fail);
	in->cert_file = rg_strdup_opt(c->client_cert_file, &fail);
	in->key_file = rg_strdup_opt(c->client_key_file, &fail);
	in->room = rg_strdup_opt(c->room, &fail);
	in->socket = rg_strdup_opt(c->socket, &fail);
	in->agent_id = rg_strdup_opt(conf->agent_id != NULL ? conf->agent_id :
	    r->hostname, &fail);
	in->hostname = rg_strdup_opt(r->hostname, &fail);
	/* A loopback receiver is reached directly, not through the
	 * environment's proxy. */
	in->proxy = rg_strdup_opt(rg_proxy_for(c->url, c->proxy), &fail);
	if (fail) {
		snprintf(err, len, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	if (c->token_file != NULL) {
		char token[TOKEN_MAX + 1];

		if ((rc = rg_read_secret(c->token_file, token, sizeof(token),
		    why, sizeof(why))) == 0 &&
		    (in->token = strdup(token)) == NULL) {
			rc = -ENOMEM;
			snprintf(why, sizeof(why), "out of memory");
		}
		explicit_bzero(token, sizeof(token));
		if (rc < 0) {
			snprintf(err, len, "report \"%s\": token-file %s",
			    c->name, why);
			goto fail;
		}
	}
	in->set.name = in->name;
	in->set.type = in->type;
	in->set.url = in->url;
	in->set.ca_file = in->ca_file;
	in->set.client_cert_file = in->cert_file;
	in->set.client_key_file = in->key_file;
	in->set.token = in->token;
	in->set.room = in->room;
	in->set.socket = in->socket;
	in->set.agent_id = in->agent_id;
	in->set.hostname = in->hostname;
	in->set.proxy = in->proxy;
	in->set.timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 10000;

	if ((in->plugin = rg_plugin_open(RG_PLUGIN_REPORT, c->type, why,
	    sizeof(why))) == NULL) {
		snprintf(err, len, "report \"%s\": %s", c->name, why);
		rc = -ENOENT;
		goto fail;
	}
	in->ops = in->plugin->plugin->report;
	if (in->ops == NULL || in->ops->open == NULL ||
	    in->ops->close == NULL || in->ops->deliver == NULL) {
		snprintf(err, len, "report \"%s\": %s: no reporter hooks",
		    c->name, in->plugin->path);
		rc = -EINVAL;
		goto fail;
	}
	if ((in->ops->kinds & RG_REPORT_TAKES_ALL) == 0 ||
	    (in->ops->kinds & ~(unsigned)RG_REPORT_TAKES_ALL) != 0) {
		snprintf(err, len, "report \"%s\": %s: kinds 0x%x: not a set "
		    "of report kinds", c->name, in->plugin->path,
		    in->ops->kinds);
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = in->ops->open(&in->set, &in->state, msg,
	    sizeof(msg))) < 0) {
		in->state = NULL;
		snprintf(err, len, "report \"%s\": %s: %s", c->name,
		    in->plugin->path, msg[0] != '\0' ? msg : strerror(-rc));
		goto fail;
	}
	*out = in;
	return 0;
fail:
	inst_unref(in);
	return rc;
}

/* Reports. */

static const unsigned kind_bit[RG_REPORT_KIND_COUNT] = {
	[RG_REPORT_EVENT] = RG_REPORT_TAKES_EVENT,
	[RG_REPORT_STATUS] = RG_REPORT_TAKES_STATUS,
	[RG_REPORT_SIGHTING] = RG_REPORT_TAKES_SIGHTING,
};

/* Does REP's plugin send reports of KIND?  The others are not spooled:
 * a report acknowledged but never sent would be counted as delivered. */
static int
takes(const struct reporter *rep, enum rg_report_kind kind)
{
	return (rep->inst->ops->kinds & kind_bit[kind]) != 0;
}

/* { "id", "kind", "time", "agent": { "id", "host" }, KEY: PAYLOAD }, with
 * a new id when ID is NULL and the time now when TIME is NULL; PAYLOAD is
 * stolen. */
static json_t *
report_build(const struct rg_report *r, const char *id, const char *kind,
    const char *time, const char *key, json_t *payload)
{
	char uuid[37], now[40];

	if (id == NULL) {
		rg_uuid_v4(uuid);
		id = uuid;
	}
	if (time == NULL) {
		rg_time_format(rg_clock_wall_ms(), now, sizeof(now));
		time = now;
	}
	return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:o}", "id", id,
	    "kind", kind, "time", time, "agent", "id", r->agent_id != NULL ?
	    r->agent_id : r->hostname, "host", r->hostname, key,
	    payload != NULL ? payload : json_null());
}

static void
report_put(struct reporter *rep, enum rg_report_kind kind,
    const json_t *report)
{
	int rc;

	if (!takes(rep, kind))
		return;
	if (report == NULL) {
		rg_log_warnx("report: %s: out of memory building a report",
		    rep->name);
		return;
	}
	if ((rc = rg_spool_put(rep->spool, kind, report)) < 0)
		rg_log_warnx("report: %s: cannot spool a report (%s): %s",
		    rep->name, rg_report_kind_str[kind], strerror(-rc));
	reporter_kick(rep);
}

/* Every event of the journal, to every reporter. */
static void
report_event_cb(void *arg, const json_t *event)
{
	struct rg_report *r = arg;
	struct reporter *rep;
	json_t *report;

	if (r->reps == NULL || r->freeing)
		return;
	report = report_build(r, json_string_value(json_object_get(event,
	    "id")), "event", json_string_value(json_object_get(event,
	    "time")), "event", json_deep_copy(event));
	for (rep = r->reps; rep != NULL; rep = rep->next)
		report_put(rep, RG_REPORT_EVENT, report);
	json_decref(report);
}

/* Announce the reports the queue limit dropped since the last time. */
static void
reporter_drops(struct reporter *rep)
{
	struct rg_spool_stats st;
	uint64_t d[RG_REPORT_KIND_COUNT];
	char reason[256];
	int k, any = 0;

	rg_spool_stats(rep->spool, 0, &st);
	for (k = 0; k < RG_REPORT_KIND_COUNT; k++) {
		d[k] = st.dropped[k] > rep->drops_seen[k] ?
		    st.dropped[k] - rep->drops_seen[k] : 0;
		if (d[k] > 0)
			any = 1;
		rep->drops_seen[k] = st.dropped[k];
	}
	if (!any)
		return;
	snprintf(reason, sizeof(reason), "queue over its limit of %" PRIu64
	    " bytes: %" PRIu64 " event, %" PRIu64 " status and %" PRIu64
	    " sighting reports dropped", rep->limit, d[RG_REPORT_EVENT],
	    d[RG_REPORT_STATUS], d[RG_REPORT_SIGHTING]);
	rg_journal_add(rep->r->journal, RG_EVENT_REPORTS_DROPPED, 1,
	    rep->name, NULL, NULL, reason, json_pack("{s:{s:I, s:I, s:I}, "
	    "s:{s:I, s:I, s:I}, s:I, s:I, s:I}",
	    "dropped", "event", (json_int_t)d[RG_REPORT_EVENT],
	    "status", (json_int_t)d[RG_REPORT_STATUS],
	    "sighting", (json_int_t)d[RG_REPORT_SIGHTING],
	    "total", "event", (json_int_t)st.dropped[RG_REPORT_EVENT],
	    "status", (json_int_t)st.dropped[RG_REPORT_STATUS],
	    "sighting", (json_int_t)st.dropped[RG_REPORT_SIGHTING],
	    "queued", (json_int_t)st.queued, "bytes", (json_int_t)st.bytes,
	    "limit", (json_int_t)rep->limit));
}

static void
status_timer_cb(uv_timer_t *t)
{
	struct reporter *rep = t->data;
	struct rg_report *r = rep->r;
	json_t *status, *report;

	if (rep->gone)
		return;
	if (rep->interval_s > 0 && takes(rep, RG_REPORT_STATUS)) {
		status = r->status_cb != NULL ? r->status_cb(r->status_arg) :
		    NULL;
		report = report_build(r, NULL, "status", NULL, "status",
		    status != NULL ? status : json_object());
		report_put(rep, RG_REPORT_STATUS, report);
		json_decref(report);
	}
	reporter_drops(rep);
}

static void
status_timer_arm(struct reporter *rep)
{
	uint64_t ms = rep->interval_s > 0 ? (uint64_t)rep->interval_s * 1000 :
	    DROP_CHECK_MS;

	uv_timer_start(&rep->status_timer, status_timer_cb, ms, ms);
}

/* Delivery. */

static void
job_free(struct job *job)
{
	size_t i;

	for (i = 0; job->docs != NULL && i < job->batch.n; i++)
		free(job->docs[i]);
	free(job->docs);
	free(job->lens);
	rg_spool_batch_clear(&job->batch);
	inst_unref(job->inst);
	free(job);
}

/* In the thread pool: only the plugin and the job's own copies. */
static void
job_work_cb(uv_work_t *req)
{
	struct job *job = req->data;

	job->rc = job->inst->ops->deliver(job->inst->state,
	    (const char *const *)job->docs, job->lens, job->batch.n, job->msg,
	    sizeof(job->msg));
}

/* Full jitter: a random delay between half the step and the step. */
static uint64_t
backoff_delay(uint64_t step)
{
	uint32_t x;

	rg_random_bytes(&x, sizeof(x));
	return step / 2 + x % (step - step / 2 + 1);
}

static void reporter_release(struct reporter *rep);

static void
job_after_cb(uv_work_t *req, int status)
{
	struct job *job = req->data;
	struct reporter *rep = job->rep;
	struct rg_spool_batch part;
	struct rg_spool_stats st;
	uint64_t now = rg_clock_ms(), delay, wall;
	char reason[MSG_LEN + 64], prev[MSG_LEN];
	size_t n = job->batch.n, acked;
	unsigned attempts;
	long rc = status < 0 ? -ECANCELED : job->rc;
	int failed;

	rep->job = NULL;
	if (rc > (long)n)
		rc = (long)n;
	acked = rc > 0 ? (size_t)rc : 0;
	/* A reporter removed by a reload no longer owns its queue: a later
	 * reporter of the same name may; what it delivered is sent again
	 * rather than removed from under that one. */
	if (acked > 0 && !rep->removed) {
		part = job->batch;
		part.n = acked;
		rg_spool_ack(rep->spool, 0, &part);
		rep->delivered += acked;
	}
	if (rep->gone) {
		job_free(job);
		reporter_release(rep);
		return;
	}
	failed = rc <= 0 || (acked < n && job->msg[0] != '\0');
	if (failed) {
		if (job->msg[0] != '\0')
			snprintf(rep->last_error, sizeof(rep->last_error),
			    "%s", job->msg);
		else if (rc == 0)
			snprintf(rep->last_error, sizeof(rep->last_error),
			    "the receiver took none of %zu reports", n);
		else
			snprintf(rep->last_error, sizeof(rep->last_error),
			    "%s", strerror((int)-rc));
		rep->failures++;
		/* Some taken, then refused (rate limited): the receiver is
		 * there, so the back-off starts over rather than grow. */
		if (acked > 0)
			rep->step_ms = BACKOFF_MIN_MS;
		else
			rep->step_ms = rep->step_ms == 0 ? BACKOFF_MIN_MS :
			    rep->step_ms * 2;
		if (rep->step_ms > BACKOFF_MAX_MS)
			rep->step_ms = BACKOFF_MAX_MS;
		delay = backoff_delay(rep->step_ms);
		rep->retry_at_ms = now + delay;
		rg_log_info("report: %s: delivery failed (attempt %u, %zu of "
		    "%zu taken): %s; next in %" PRIu64 " ms", rep->name,
		    rep->failures, acked, n, rep->last_error, delay);
		job_free(job);
		/* One event when the trouble starts, none per retry: the
		 * event is itself reported, and must not feed a loop. */
		if (!rep->failing) {
			rep->failing = 1;
			rep->failing_since_ms = now;
			rg_spool_stats(rep->spool, 0, &st);
			snprintf(reason, sizeof(reason), "delivery failed: %s",
			    rep->last_error);
			rg_journal_add(rep->r->journal,
			    RG_EVENT_REPORTER_FAILED, 1, rep->name, "ok",
			    "failing", reason, json_pack(
			    "{s:s, s:s, s:I, s:I, s:I, s:I}",
			    "type", rep->inst->type, "error", rep->last_error,
			    "queued", (json_int_t)st.queued,
			    "batch", (json_int_t)n,
			    "acknowledged", (json_int_t)acked,
			    "next_attempt_in_ms", (json_int_t)delay));
		}
		reporter_kick(rep);
		return;
	}

	job_free(job);
	wall = rg_clock_wall_ms();
	rep->last_success_wall_ms = wall;
	if (rep->failing) {
		attempts = rep->failures;
		snprintf(prev, sizeof(prev), "%s", rep->last_error);
		rep->failing = 0;
		rep->failures = 0;
		rep->step_ms = 0;
		rep->retry_at_ms = 0;
		rep->last_error[0] = '\0';
		rg_spool_stats(rep->spool, 0, &st);
		snprintf(reason, sizeof(reason), "delivering again after %u "
		    "failed attempt%s", attempts, attempts == 1 ? "" : "s");
		rg_journal_add(rep->r->journal, RG_EVENT_REPORTER_RECOVERED, 0,
		    rep->name, "failing", "ok", reason, json_pack(
		    "{s:s, s:i, s:I, s:s, s:I}",
		    "type", rep->inst->type, "attempts", (int)attempts,
		    "failing_for_ms", (json_int_t)(now -
		    rep->failing_since_ms),
		    "last_error", prev, "queued", (json_int_t)st.queued));
	} else {
		rep->failures = 0;
		rep->step_ms = 0;
		rep->last_error[0] = '\0';
	}
	reporter_kick(rep);
}

static void
retry_timer_cb(uv_timer_t *t)
{
	reporter_kick(t->data);
}

/* Start a delivery when there is something to deliver and it is time. */
static void
reporter_kick(struct reporter *rep)
{
	struct rg_spool_stats st;
	struct job *job;
	uint64_t now;
	size_t i;
	json_t *one;

	if (rep->gone || rep->job != NULL || rep->inst == NULL)
		return;
	now = rg_clock_ms();
	if (rep->failing && now < rep->retry_at_ms) {
		uv_timer_start(&rep->retry_timer, retry_timer_cb,
		    rep->retry_at_ms - now, 0);
		return;
	}
	rg_spool_stats(rep->spool, 0, &st);
	if (st.queued == 0)
		return;
	if ((job = calloc(1, sizeof(*job))) == NULL)
		goto retry;
	job->req.data = job;
	job->rep = rep;
	job->inst = inst_ref(rep->inst);
	if (rg_spool_peek(rep->spool, 0, BATCH_MAX, BATCH_MAX_BYTES,
	    &job->batch) < 0)
		goto fail;
	if (job->batch.n == 0) {
		/* Only unreadable reports, now moved aside. */
		job_free(job);
		return;
	}
	if ((job->docs = calloc(job->batch.n, sizeof(*job->docs))) == NULL ||
	    (job->lens = calloc(job->batch.n, sizeof(*job->lens))) == NULL)
		goto fail;
	for (i = 0; i < job->batch.n; i++) {
		one = json_array_get(job->batch.reports, i);
		if ((job->docs[i] = json_dumps(one, JSON_COMPACT)) == NULL)
			goto fail;
		job->lens[i] = strlen(job->docs[i]);
	}
	if (uv_queue_work(rep->r->loop, &job->req, job_work_cb,
	    job_after_cb) < 0)
		goto fail;
	uv_timer_stop(&rep->retry_timer);
	rep->job = job;
	return;
fail:
	job_free(job);
retry:
	rg_log_warnx("report: %s: cannot start a delivery; retrying",
	    rep->name);
	uv_timer_start(&rep->retry_timer, retry_timer_cb, BACKOFF_MIN_MS, 0);
}

/* Reporters. */

static void
report_destroy(struct rg_report *r)
{
	free(r->agent_id);
	free(r);
}

static void
reporter_destroy(struct reporter *rep)
{
	struct rg_report *r = rep->r;

	inst_unref(rep->inst);
	rg_spool_close(rep->spool);
	free(rep->spool_dir);
	free(rep->name);
	free(rep);
	if (--r->live == 0 && r->freeing)
		report_destroy(r);
}

/* The timers' close callbacks and the job in flight hold on to REP:
 * whichever ends last destroys it. */
static void
reporter_release(struct reporter *rep)
{
	if (rep->gone && rep->handles == 0 && rep->job == NULL)
		reporter_destroy(rep);
}

static void
timer_close_cb(uv_handle_t *h)
{
	struct reporter *rep = h->data;

	rep->handles--;
	reporter_release(rep);
}

static void
reporter_close(struct reporter *rep)
{
	rep->gone = 1;
	uv_timer_stop(&rep->retry_timer);
	uv_timer_stop(&rep->status_timer);
	uv_close((uv_handle_t *)&rep->retry_timer, timer_close_cb);
	uv_close((uv_handle_t *)&rep->status_timer, timer_close_cb);
}

static struct reporter *
reporter_new(struct rg_report *r, const char *name)
{
	struct reporter *rep;

	if ((rep = calloc(1, sizeof(*rep))) == NULL)
		return NULL;
	if ((rep->name = strdup(name)) == NULL) {
		free(rep);
		return NULL;
	}
	rep->r = r;
	uv_timer_init(r->loop, &rep->retry_timer);
	uv_timer_init(r->loop, &rep->status_timer);
	rep->retry_timer.data = rep;
	rep->status_timer.data = rep;
	rep->handles = 2;
	r->live++;
	return rep;
}

static struct reporter *
reporter_find(const struct rg_report *r, const char *name)
{
	struct reporter *rep;

	for (rep = r->reps; rep != NULL; rep = rep->next)
		if (strcmp(rep->name, name) == 0)
			return rep;
	return NULL;
}

/* The engine. */

struct rg_report *
rg_report_new(uv_loop_t *loop, struct rg_journal *j,
    rg_report_status_cb *status_cb, void *status_arg)
{
	struct rg_report *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->loop = loop;
	r->journal = j;
	r->status_cb = status_cb;
	r->status_arg = status_arg;
	if (gethostname(r->hostname, sizeof(r->hostname) - 1) < 0 ||
	    r->hostname[0] == '\0')
		snprintf(r->hostname, sizeof(r->hostname), "localhost");
	if (j != NULL)
		rg_journal_subscribe(j, report_event_cb, r);
	return r;
}

/* What a reload makes of one reporter before anything is changed. */
struct plan {
	const struct rg_conf_report *c;
	struct reporter *old;
	struct inst *inst;
	struct rg_spool *spool;		/* new, or NULL: the old one */
	char *spool_dir;
};

int
rg_report_configure(struct rg_report *r, const struct rg_conf *conf,
    char *err, size_t err_len)
{
	struct plan *plan = NULL;
	struct reporter *rep, *next, *head = NULL, **tail = &head;
	struct rg_spool_stats st;
	const char *name;
	char *dir = NULL, *agent_id = NULL;
	size_t i, k, n = conf->n_reports;
	int rc = 0;

	if (r->freeing) {
		snprintf(err, err_len, "reporting is stopping");
		return -ECANCELED;
	}
	if (n > 0 && conf->state_dir == NULL) {
		snprintf(err, err_len, "reporters need a state directory for "
		    "their spool");
		return -EINVAL;
	}
	if ((n > 0 && (plan = calloc(n, sizeof(*plan))) == NULL) ||
	    (conf->state_dir != NULL &&
	    asprintf(&dir, "%s/spool", conf->state_dir) < 0) ||
	    (agent_id = strdup(conf->agent_id != NULL ? conf->agent_id :
	    r->hostname)) == NULL) {
		dir = NULL;
		snprintf(err, err_len, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct rg_conf_report *c = &conf->reports[i];

		plan[i].c = c;
		if (c->name == NULL || c->type == NULL) {
			snprintf(err, err_len, "a reporter without a name or "
			    "a type");
			rc = -EINVAL;
			goto out;
		}
		for (k = 0; k < i; k++)
			if (strcmp(conf->reports[k].name, c->name) == 0) {
				snprintf(err, err_len, "report \"%s\": named "
				    "twice", c->name);
				rc = -EINVAL;
				goto out;
			}
		plan[i].old = reporter_find(r, c->name);
		if ((rc = inst_open(r, conf, c, &plan[i].inst, err,
		    err_len)) < 0)
			goto out;
		if (plan[i].old != NULL &&
		    strcmp(plan[i].old->spool_dir, dir) == 0 &&
		    plan[i].old->limit == c->queue_limit_bytes)
			continue;
		/* A spool of one queue: this reporter's own limit. */
		name = c->name;
		errno = 0;
		if ((plan[i].spool_dir = strdup(dir)) == NULL ||
		    (plan[i].spool = rg_spool_open(dir, &name, 1,
		    c->queue_limit_bytes)) == NULL) {
			rc = errno != 0 ? -errno : -ENOMEM;
			snprintf(err, err_len, "report \"%s\": cannot open its "
			    "spool in %s/%s: %s", c->name, dir, c->name,
			    strerror(-rc));
			goto out;
		}
	}

	/* Nothing can fail from here on.  The reporters gone from the
	 * configuration first, while the old list is still linked. */
	for (rep = r->reps; rep != NULL; rep = next) {
		next = rep->next;
		for (i = 0; i < n; i++)
			if (plan[i].old == rep)
				break;
		if (i < n)
			continue;
		rg_log_info("report: %s: removed; its queue stays in %s/%s",
		    rep->name, rep->spool_dir, rep->name);
		rep->removed = 1;
		rep->next = NULL;
		reporter_close(rep);
		reporter_release(rep);
	}
	free(r->agent_id);
	r->agent_id = agent_id;
	agent_id = NULL;
	for (i = 0; i < n; i++) {
		const struct rg_conf_report *c = plan[i].c;

		if ((rep = plan[i].old) == NULL) {
			if ((rep = reporter_new(r, c->name)) == NULL) {
				/* Cannot happen after the checks above but
				 * for memory: this reporter waits for the next
				 * reload. */
				rg_log_warnx("report: %s: out of memory",
				    c->name);
				continue;
			}
		}
		inst_unref(rep->inst);
		rep->inst = plan[i].inst;
		plan[i].inst = NULL;
		if (plan[i].spool != NULL) {
			rg_spool_close(rep->spool);
			rep->spool = plan[i].spool;
			free(rep->spool_dir);
			rep->spool_dir = plan[i].spool_dir;
			plan[i].spool = NULL;
			plan[i].spool_dir = NULL;
			if (plan[i].old == NULL) {
				/* Drops of an earlier run were announced
				 * then. */
				rg_spool_stats(rep->spool, 0, &st);
				memcpy(rep->drops_seen, st.dropped,
				    sizeof(rep->drops_seen));
			}
		}
		/* New settings may be the fix: try them at once, the
		 * back-off goes on from where it was if they are not. */
		if (plan[i].old != NULL && rep->failing) {
			rep->retry_at_ms = 0;
			uv_timer_stop(&rep->retry_timer);
		}
		rep->limit = c->queue_limit_bytes;
		rep->sightings = c->sightings;
		rep->client_addresses = c->client_addresses;
		if (plan[i].old == NULL || rep->interval_s != c->interval_s) {
			rep->interval_s = c->interval_s;
			status_timer_arm(rep);
		}
		rep->next = NULL;
		*tail = rep;
		tail = &rep->next;
		rg_log_info("report: %s: %s from %s%s", rep->name,
		    rep->inst->type, rep->inst->plugin->path,
		    plan[i].old != NULL ? " (queue kept)" : "");
	}
	r->reps = head;
	for (rep = r->reps; rep != NULL; rep = rep->next)
		reporter_kick(rep);
out:
	for (i = 0; plan != NULL && i < n; i++) {
		inst_unref(plan[i].inst);
		rg_spool_close(plan[i].spool);
		free(plan[i].spool_dir);
	}
	free(plan);
	free(dir);
	free(agent_id);
	return rc;
}

/* SIGHTINGS without the client addresses of its hits (a new object). */
static json_t *
sightings_strip(const json_t *sightings)
{
	json_t *copy, *hits, *hit;
	size_t i;

	if ((copy = json_deep_copy(sightings)) == NULL)
		return NULL;
	hits = json_object_get(copy, "hits");
	json_array_foreach(hits, i, hit)
		json_object_del(hit, "clients");
	return copy;
}

void
rg_report_sightings(struct rg_report *r, json_t *sightings)
{
	struct reporter *rep;
	json_t *stripped = NULL, *payload, *report;
	char id[37], now[40];

	if (r->freeing || !json_is_object(sightings)) {
		json_decref(sightings);
		return;
	}
	/* One report, one id, whichever receivers it goes to. */
	rg_uuid_v4(id);
	rg_time_format(rg_clock_wall_ms(), now, sizeof(now));
	for (rep = r->reps; rep != NULL; rep = rep->next) {
		if (!rep->sightings || !takes(rep, RG_REPORT_SIGHTING))
			continue;
		if (rep->client_addresses)
			payload = sightings;
		else {
			if (stripped == NULL &&
			    (stripped = sightings_strip(sightings)) == NULL)
				continue;
			payload = stripped;
		}
		report = report_build(r, id, "sighting", now, "sightings",
		    json_incref(payload));
		report_put(rep, RG_REPORT_SIGHTING, report);
		json_decref(report);
	}
	json_decref(stripped);
	json_decref(sightings);
}

json_t *
rg_report_json(const struct rg_report *r)
{
	const struct reporter *rep;
	struct rg_spool_stats st;
	json_t *a, *next, *kinds;
	uint64_t now = rg_clock_ms();
	char t[40];
	int k;

	if ((a = json_array()) == NULL || r == NULL)
		return a;
	for (rep = r->reps; rep != NULL; rep = rep->next) {
		kinds = json_array();
		for (k = 0; k < RG_REPORT_KIND_COUNT; k++)
			if (takes(rep, (enum rg_report_kind)k))
				json_array_append_new(kinds,
				    json_string(rg_report_kind_str[k]));
		rg_spool_stats(rep->spool, 0, &st);
		if (rep->job != NULL || (st.queued > 0 && !rep->failing))
			next = json_integer(0);
		else if (rep->failing)
			next = json_integer((json_int_t)(rep->retry_at_ms >
			    now ? rep->retry_at_ms - now : 0));
		else
			next = json_null();
		if (rep->last_success_wall_ms != 0)
			rg_time_format(rep->last_success_wall_ms, t, sizeof(t));
		json_array_append_new(a, json_pack("{s:s, s:s, s:o*, s:I, s:I, "
		    "s:I, s:{s:I, s:I, s:I}, s:I, s:s?, s:s?, s:o, s:i, s:b}",
		    "name", rep->name,
		    "type", rep->inst->type,
		    "kinds", kinds,
		    "queued", (json_int_t)st.queued,
		    "bytes", (json_int_t)st.bytes,
		    "delivered", (json_int_t)rep->delivered,
		    "dropped",
		    "event", (json_int_t)st.dropped[RG_REPORT_EVENT],
		    "status", (json_int_t)st.dropped[RG_REPORT_STATUS],
		    "sighting", (json_int_t)st.dropped[RG_REPORT_SIGHTING],
		    "unreadable", (json_int_t)st.unreadable,
		    "last_error", rep->failing ? rep->last_error : NULL,
		    "last_success", rep->last_success_wall_ms != 0 ? t : NULL,
		    "next_attempt_in_ms", next,
		    "failures", (int)rep->failures,
		    "in_flight", rep->job != NULL));
	}
	return a;
}

int
rg_report_warning(const struct rg_report *r, char *summary, size_t len)
{
	const struct reporter *rep;
	struct rg_spool_stats st;
	size_t used = 0;
	int n, found = 0;

	if (len > 0)
		summary[0] = '\0';
	if (r == NULL)
		return 0;
	for (rep = r->reps; rep != NULL; rep = rep->next) {
		if (!rep->failing)
			continue;
		rg_spool_stats(rep->spool, 0, &st);
		if (st.queued == 0)
			continue;
		n = snprintf(summary + used, len > used ? len - used : 0,
		    "%sreporter \"%s\": %" PRIu64 " queued, last error: %s",
		    found ? "; " : "", rep->name, st.queued, rep->last_error);
		found = 1;
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	return found;
}

void
rg_report_free(struct rg_report *r)
{
	struct reporter *rep, *next;

	if (r == NULL)
		return;
	r->freeing = 1;
	if (r->journal != NULL)
		rg_journal_subscribe(r->journal, NULL, NULL);
	/* Deliveries in flight end on their own (the plugins bound them by
	 * their timeout) and acknowledge what was taken; what was not stays
	 * spooled for the next start. */
	for (rep = r->reps; rep != NULL; rep = next) {
		next = rep->next;
		rep->next = NULL;
		reporter_close(rep);
	}
	r->reps = NULL;
	if (r->live == 0)
		report_destroy(r);
}

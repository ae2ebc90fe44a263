/*
 * report-harness.c -- the reporting engine on a loop of its own, for the
 * reporters' system test: a journal in a state directory, the engine
 * subscribed to it, events generated at a given pace, a small status
 * document, sightings now and then.
 *
 *   report-harness -s STATE_DIR -r REPORTERS.json [-n EVENTS] [-p PACE_MS]
 *       [-o STATUS.json] [-S SIGHTINGS_MS] [-a AGENT_ID] [-v]
 *
 * REPORTERS.json is an array of reporters with the keys of the "report"
 * entries of resguard.conf (name, type, url, interval_s, ca_file,
 * client_cert_file, client_key_file, token_file, room, socket, timeout_ms,
 * queue_limit_bytes, sightings, client_addresses, proxy).  Every PACE_MS (default
 * 100) one event is recorded, EVENTS of them (default 0); every
 * SIGHTINGS_MS a sightings object is handed over.  Once a second a line
 * goes to stdout: {"t", "generated", "reporters": the engine's JSON,
 * "warning"}; STATUS.json gets the same, replaced every 100 ms.  SIGHUP
 * reads REPORTERS.json again; SIGTERM and SIGINT stop the engine, wait for
 * it and exit 0.  Plugins come from RG_PLUGIN_DIR.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "clock.h"
#include "conf.h"
#include "journal.h"
#include "log.h"
#include "report.h"

struct harness {
	uv_loop_t *loop;
	uv_timer_t gen, out, sight;
	uv_signal_t hup, term, intr;
	struct rg_journal *journal;
	struct rg_report *report;
	const char *state_dir, *reporters_path, *out_path, *agent_id;
	unsigned long events, generated, pace_ms, sightings_ms, ticks;
	uint64_t start_ms;
};

static char *
opt_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? strdup(s) : NULL;
}

static uint64_t
opt_int(const json_t *o, const char *key, uint64_t def)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	if (json_is_boolean(v))
		return json_is_true(v);
	return def;
}

static void
conf_clear(struct rg_conf *c)
{
	size_t i;

	for (i = 0; i < c->n_reports; i++) {
		struct rg_conf_report *r = &c->reports[i];

		free(r->name);
		free(r->type);
		free(r->url);
		free(r->ca_file);
		free(r->proxy);
		free(r->client_cert_file);
		free(r->client_key_file);
		free(r->token_file);
		free(r->room);
		free(r->socket);
	}
	free(c->reports);
	memset(c, 0, sizeof(*c));
}

/* The configuration the daemon would have, by hand: the reporters of
 * PATH, the state directory and the agent's id. */
static int
conf_build(struct harness *h, struct rg_conf *c)
{
	json_error_t e;
	json_t *a, *o;
	size_t i;

	memset(c, 0, sizeof(*c));
	if ((a = json_load_file(h->reporters_path, 0, &e)) == NULL ||
	    !json_is_array(a)) {
		fprintf(stderr, "report-harness: %s: %s\n", h->reporters_path,
		    a == NULL ? e.text : "not an array");
		json_decref(a);
		return -1;
	}
	c->state_dir = (char *)h->state_dir;
	c->agent_id = (char *)h->agent_id;
	c->n_reports = json_array_size(a);
	if (c->n_reports > 0 &&
	    (c->reports = calloc(c->n_reports, sizeof(*c->reports))) == NULL) {
		json_decref(a);
		return -1;
	}
	json_array_foreach(a, i, o) {
		struct rg_conf_report *r = &c->reports[i];

		r->name = opt_str(o, "name");
		r->type = opt_str(o, "type");
		r->url = opt_str(o, "url");
		r->ca_file = opt_str(o, "ca_file");
		r->proxy = opt_str(o, "proxy");
		r->client_cert_file = opt_str(o, "client_cert_file");
		r->client_key_file = opt_str(o, "client_key_file");
		r->token_file = opt_str(o, "token_file");
		r->room = opt_str(o, "room");
		r->socket = opt_str(o, "socket");
		r->interval_s = (uint32_t)opt_int(o, "interval_s", 60);
		r->timeout_ms = (uint32_t)opt_int(o, "timeout_ms", 10000);
		r->queue_limit_bytes = opt_int(o, "queue_limit_bytes",
		    64 * 1024 * 1024);
		r->sightings = (int)opt_int(o, "sightings", 1);
		r->client_addresses = (int)opt_int(o, "client_addresses", 0);
	}
	json_decref(a);
	return 0;
}

static int
harness_configure(struct harness *h)
{
	struct rg_conf c;
	char err[1024];
	int rc;

	if (conf_build(h, &c) < 0)
		return -1;
	rc = rg_report_configure(h->report, &c, err, sizeof(err));
	c.state_dir = NULL;
	c.agent_id = NULL;
	conf_clear(&c);
	if (rc < 0) {
		fprintf(stderr, "report-harness: %s\n", err);
		return -1;
	}
	return 0;
}

static json_t *
status_cb(void *arg)
{
	struct harness *h = arg;

	return json_pack("{s:s, s:I, s:i}", "mode", "normal", "generated",
	    (json_int_t)h->generated, "pid", (int)getpid());
}

static void
gen_cb(uv_timer_t *t)
{
	struct harness *h = t->data;
	unsigned long i = h->generated;
	char reason[64];

	if (i >= h->events) {
		uv_timer_stop(t);
		return;
	}
	snprintf(reason, sizeof(reason), "generated event %lu", i);
	switch (i % 4) {
	case 0:
		rg_journal_add(h->journal, RG_EVENT_UPSTREAM, 1, "primary-a",
		    "up", "down", reason, json_pack("{s:I}", "seq",
		    (json_int_t)i));
		break;
	case 1:
		rg_journal_add(h->journal, RG_EVENT_MODE, 1, NULL, "normal",
		    "failover", reason, json_pack("{s:I, s:s}", "seq",
		    (json_int_t)i, "note", "quote \" backslash \\ bracket ]"));
		break;
	case 2:
		rg_journal_add(h->journal, RG_EVENT_UPSTREAM, 0, "primary-a",
		    "down", "up", reason, json_pack("{s:I}", "seq",
		    (json_int_t)i));
		break;
	default:
		rg_journal_add(h->journal, RG_EVENT_MODE, 0, NULL, "failover",
		    "normal", reason, json_pack("{s:I}", "seq",
		    (json_int_t)i));
		break;
	}
	h->generated++;
}

static void
sight_cb(uv_timer_t *t)
{
	struct harness *h = t->data;
	char now[40];

	rg_time_format(rg_clock_wall_ms(), now, sizeof(now));
	rg_report_sightings(h->report, json_pack("{s:{s:s, s:s}, s:[{s:s, "
	    "s:s, s:s, s:s, s:i, s:[s]}], s:[]}", "interval", "start", now,
	    "end", now, "hits", "rule", "bad.example", "feed", "test-feed",
	    "indicator", "indicator--0001", "tlp", "green", "count", 3,
	    "clients", "192.0.2.0/24", "stix"));
}

static void
out_cb(uv_timer_t *t)
{
	struct harness *h = t->data;
	char tmp[4096], summary[1024];
	json_t *o;
	int warn;

	warn = rg_report_warning(h->report, summary, sizeof(summary));
	o = json_pack("{s:I, s:I, s:o, s:s?}",
	    "t", (json_int_t)((rg_clock_ms() - h->start_ms) / 1000),
	    "generated", (json_int_t)h->generated,
	    "reporters", rg_report_json(h->report),
	    "warning", warn ? summary : NULL);
	if (o == NULL)
		return;
	if (h->out_path != NULL) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", h->out_path);
		if (json_dump_file(o, tmp, JSON_COMPACT) == 0)
			(void)rename(tmp, h->out_path);
	}
	if (h->ticks++ % 10 == 0) {
		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		fflush(stdout);
	}
	json_decref(o);
}

static void
signal_cb(uv_signal_t *s, int signum)
{
	struct harness *h = s->data;

	if (signum == SIGHUP) {
		fprintf(stderr, "report-harness: reloading %s\n",
		    h->reporters_path);
		(void)harness_configure(h);
		return;
	}
	/* The journal's last word, reported next time at the latest. */
	rg_journal_add(h->journal, RG_EVENT_STOP, 0, NULL, NULL, NULL,
	    "report-harness stopped", NULL);
	rg_report_free(h->report);
	h->report = NULL;
	uv_close((uv_handle_t *)&h->gen, NULL);
	uv_close((uv_handle_t *)&h->out, NULL);
	uv_close((uv_handle_t *)&h->sight, NULL);
	uv_close((uv_handle_t *)&h->hup, NULL);
	uv_close((uv_handle_t *)&h->term, NULL);
	uv_close((uv_handle_t *)&h->intr, NULL);
}

static void
usage(void)
{
	fprintf(stderr, "usage: report-harness -s STATE_DIR -r REPORTERS.json "
	    "[-n EVENTS] [-p PACE_MS] [-o STATUS.json] [-S SIGHTINGS_MS] "
	    "[-a AGENT_ID] [-v]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct harness h;
	int c, verbose = 0;

	memset(&h, 0, sizeof(h));
	h.pace_ms = 100;
	while ((c = getopt(argc, argv, "s:r:n:p:o:S:a:v")) != -1) {
		switch (c) {
		case 's':
			h.state_dir = optarg;
			break;
		case 'r':
			h.reporters_path = optarg;
			break;
		case 'n':
			h.events = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			h.pace_ms = strtoul(optarg, NULL, 10);
			break;
		case 'o':
			h.out_path = optarg;
			break;
		case 'S':
			h.sightings_ms = strtoul(optarg, NULL, 10);
			break;
		case 'a':
			h.agent_id = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (h.state_dir == NULL || h.reporters_path == NULL || h.pace_ms == 0)
		usage();
	rg_log_init("report-harness", 1, verbose > 1 ? RG_LOG_DEBUG :
	    verbose ? RG_LOG_INFO : RG_LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	h.loop = uv_default_loop();
	h.start_ms = rg_clock_ms();
	if ((h.journal = rg_journal_open(h.state_dir, 4096)) == NULL) {
		fprintf(stderr, "report-harness: journal in %s: %s\n",
		    h.state_dir, strerror(errno));
		return 1;
	}
	if ((h.report = rg_report_new(h.loop, h.journal, status_cb, &h)) ==
	    NULL) {
		rg_journal_close(h.journal);
		return 1;
	}
	if (harness_configure(&h) < 0) {
		rg_report_free(h.report);
		uv_run(h.loop, UV_RUN_DEFAULT);
		rg_journal_close(h.journal);
		uv_loop_close(h.loop);
		return 1;
	}
	rg_journal_add(h.journal, RG_EVENT_START, 0, NULL, NULL, NULL,
	    "report-harness started", json_pack("{s:i}", "pid",
	    (int)getpid()));

	uv_timer_init(h.loop, &h.gen);
	uv_timer_init(h.loop, &h.out);
	uv_timer_init(h.loop, &h.sight);
	h.gen.data = h.out.data = h.sight.data = &h;
	uv_timer_start(&h.gen, gen_cb, h.pace_ms, h.pace_ms);
	uv_timer_start(&h.out, out_cb, 0, 100);
	if (h.sightings_ms > 0)
		uv_timer_start(&h.sight, sight_cb, h.sightings_ms,
		    h.sightings_ms);
	uv_signal_init(h.loop, &h.hup);
	uv_signal_init(h.loop, &h.term);
	uv_signal_init(h.loop, &h.intr);
	h.hup.data = h.term.data = h.intr.data = &h;
	uv_signal_start(&h.hup, signal_cb, SIGHUP);
	uv_signal_start(&h.term, signal_cb, SIGTERM);
	uv_signal_start(&h.intr, signal_cb, SIGINT);

	uv_run(h.loop, UV_RUN_DEFAULT);
	rg_journal_close(h.journal);
	uv_loop_close(h.loop);
	return 0;
}

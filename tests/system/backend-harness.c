/*
 * backend-harness.c -- the agent's loop in miniature, for the backend's
 * system test: the real configuration, probes, health, failover, feeds and
 * backend on a libuv loop with the real clock, wired the way resguardd
 * wires them (the backend is told after every decision and after every
 * blocklist publication), and the state written as JSON to a file instead
 * of a control socket.
 *
 *   backend-harness -c CONF -o STATUS.json [-v]
 *
 * STATUS.json is replaced every 100 ms: {"status": the status document
 * with its "backend" member, "events": the whole journal}.  SIGHUP reloads
 * CONF; SIGUSR1 pins the pool named in STATUS.json.pin ("auto" unpins), as
 * "resguardctl failover POOL" does; SIGTERM and SIGINT stop.  The plugins
 * are looked for as resguardd looks for them (RG_PLUGIN_DIR).
 */
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "backend.h"
#include "blocklist.h"
#include "clock.h"
#include "conf.h"
#include "failover.h"
#include "feeds.h"
#include "health.h"
#include "journal.h"
#include "log.h"
#include "status.h"
#include "transport.h"

struct harness {
	uv_loop_t *loop;
	uv_timer_t tick, out;
	uv_signal_t hup, term, intr, usr1;
	struct rg_net *net;
	struct rg_health *health;
	struct rg_failover fo;
	struct rg_journal *journal;
	struct rg_bl_domain *domain;
	struct rg_feeds *feeds;
	struct rg_backend *backend;
	const struct rg_blocklist *seen;	/* last snapshot exported */
	size_t seen_entries;
	const char *conf_path, *out_path;
	int in_tick;
};

static void harness_tick(struct harness *h);

static void
tick_cb(uv_timer_t *t)
{
	harness_tick(t->data);
}

static void
wake_cb(void *arg)
{
	harness_tick(arg);
}

static void
harness_tick(struct harness *h)
{
	uint64_t now, next, nf;

	if (h->in_tick)
		return;
	h->in_tick = 1;
	now = rg_clock_ms();
	next = rg_health_run(h->health, now);
	nf = rg_failover_evaluate(&h->fo, now);
	if (nf < next)
		next = nf;
	rg_backend_apply(h->backend, &h->fo);
	h->in_tick = 0;
	if (next == UINT64_MAX)
		next = now + 60000;
	uv_timer_start(&h->tick, tick_cb, next > now ? next - now : 0, 0);
}

/*
 * The feeds part has no publication callback: a new snapshot is noticed
 * here, every 100 ms, by its address and size.
 */
static void
out_cb(uv_timer_t *t)
{
	struct harness *h = t->data;
	const struct rg_blocklist *bl = rg_bl_current(h->domain);
	struct rg_status_parts parts;
	json_t *doc, *st;
	char tmp[4096];

	if (bl != h->seen || rg_bl_entries(bl) != h->seen_entries) {
		h->seen = bl;
		h->seen_entries = rg_bl_entries(bl);
		rg_backend_blocklist(h->backend, h->domain);
	}
	memset(&parts, 0, sizeof(parts));
	parts.feeds = h->feeds;
	parts.blocklist = bl;
	st = rg_status_json(&h->fo, &parts, rg_clock_ms());
	json_object_set_new(st, "backend", rg_backend_json(h->backend));
	/* As resguardd's verdict does: a failing backend is a warning. */
	if (json_integer_value(json_object_get(json_object_get(st, "health"),
	    "code")) == 0 && rg_backend_warning(h->backend, tmp, sizeof(tmp)))
		json_object_set_new(st, "health", json_pack("{s:i, s:s}",
		    "code", 1, "summary", tmp));
	doc = json_pack("{s:o, s:o}", "status", st, "events",
	    rg_journal_list(h->journal, 0));
	snprintf(tmp, sizeof(tmp), "%s.tmp", h->out_path);
	if (json_dump_file(doc, tmp, JSON_INDENT(1)) == 0)
		rename(tmp, h->out_path);
	json_decref(doc);
}

static void
conf_error_cb(void *arg, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

static void
harness_reload(struct harness *h)
{
	struct rg_conf *conf = NULL;
	struct rg_health *nh;
	char err[512];

	if (rg_conf_load(h->conf_path, &conf, conf_error_cb, NULL) < 0) {
		rg_log_warnx("reload: errors; the running configuration stays");
		return;
	}
	if ((nh = rg_health_new(conf, h->health, h->net, h->journal)) ==
	    NULL) {
		rg_conf_free(conf);
		return;
	}
	nh->wake_cb = wake_cb;
	nh->wake_arg = h;
	rg_health_free(h->health);
	h->health = nh;
	rg_failover_rebind(&h->fo, nh, rg_clock_ms());
	rg_feeds_configure(h->feeds, nh->conf);
	if (rg_backend_configure(h->backend, nh->conf, err, sizeof(err)) < 0)
		rg_log_warnx("reload: backend: %s", err);
	rg_journal_add(h->journal, RG_EVENT_RELOAD, 0, NULL, NULL, NULL,
	    "configuration reloaded", NULL);
	harness_tick(h);
}

static void
harness_pin(struct harness *h)
{
	char path[4096], pool[128] = "", warning[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s.pin", h->out_path);
	if ((fp = fopen(path, "r")) == NULL ||
	    fgets(pool, sizeof(pool), fp) == NULL) {
		rg_log_warn("pin: %s", path);
		if (fp != NULL)
			fclose(fp);
		return;
	}
	fclose(fp);
	pool[strcspn(pool, "\r\n")] = '\0';
	if (rg_failover_pin(&h->fo, pool, "the administrator", rg_clock_ms(),
	    warning, sizeof(warning)) < 0)
		rg_log_warnx("pin: no pool \"%s\"", pool);
	harness_tick(h);
}

static void
close_cb(uv_handle_t *hd, void *arg)
{
	if (!uv_is_closing(hd))
		uv_close(hd, NULL);
}

static void
signal_cb(uv_signal_t *s, int signum)
{
	struct harness *h = s->data;

	if (signum == SIGHUP) {
		harness_reload(h);
		return;
	}
	if (signum == SIGUSR1) {
		harness_pin(h);
		return;
	}
	out_cb(&h->out);
	rg_backend_free(h->backend);
	h->backend = NULL;
	rg_feeds_free(h->feeds);
	h->feeds = NULL;
	rg_net_free(h->net);
	h->net = NULL;
	uv_walk(h->loop, close_cb, NULL);
}

int
main(int argc, char *argv[])
{
	struct harness h;
	struct rg_conf *conf = NULL;
	char err[512];
	int ch, verbose = 0;

	memset(&h, 0, sizeof(h));
	while ((ch = getopt(argc, argv, "c:o:v")) != -1) {
		switch (ch) {
		case 'c':
			h.conf_path = optarg;
			break;
		case 'o':
			h.out_path = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			goto usage;
		}
	}
	if (h.conf_path == NULL || h.out_path == NULL || optind != argc)
		goto usage;
	rg_log_init("backend-harness", 1, verbose ? RG_LOG_DEBUG :
	    RG_LOG_INFO);
	if (rg_conf_load(h.conf_path, &conf, conf_error_cb, NULL) < 0)
		return 1;
	h.loop = uv_default_loop();
	if (mkdir(conf->state_dir, 0750) < 0 && errno != EEXIST) {
		rg_log_warn("state-dir %s", conf->state_dir);
		return 1;
	}
	if ((h.journal = rg_journal_open(conf->state_dir,
	    conf->journal_ring)) == NULL) {
		rg_log_warn("journal in %s", conf->state_dir);
		return 1;
	}
	if ((h.backend = rg_backend_new(h.loop, h.journal, conf, err,
	    sizeof(err))) == NULL) {
		rg_log_warnx("backend: %s", err);
		return 1;
	}
	if ((h.net = rg_net_new(h.loop)) == NULL ||
	    (h.health = rg_health_new(conf, NULL, h.net, h.journal)) == NULL)
		return 1;
	h.health->wake_cb = wake_cb;
	h.health->wake_arg = &h;
	rg_failover_init(&h.fo, h.health, h.journal, rg_clock_ms());
	if ((h.domain = rg_bl_domain_new(0, NULL)) == NULL ||
	    (h.feeds = rg_feeds_new(h.loop, h.journal, h.domain)) == NULL)
		return 1;
	rg_feeds_configure(h.feeds, h.health->conf);

	uv_timer_init(h.loop, &h.tick);
	uv_timer_init(h.loop, &h.out);
	h.tick.data = h.out.data = &h;
	uv_timer_start(&h.out, out_cb, 0, 100);
	uv_signal_init(h.loop, &h.hup);
	uv_signal_init(h.loop, &h.term);
	uv_signal_init(h.loop, &h.intr);
	uv_signal_init(h.loop, &h.usr1);
	h.hup.data = h.term.data = h.intr.data = h.usr1.data = &h;
	uv_signal_start(&h.usr1, signal_cb, SIGUSR1);
	uv_signal_start(&h.hup, signal_cb, SIGHUP);
	uv_signal_start(&h.term, signal_cb, SIGTERM);
	uv_signal_start(&h.intr, signal_cb, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	rg_journal_add(h.journal, RG_EVENT_START, 0, NULL, NULL, NULL,
	    "backend-harness started", NULL);
	harness_tick(&h);
	uv_run(h.loop, UV_RUN_DEFAULT);

	rg_health_free(h.health);
	rg_bl_domain_free(h.domain);
	rg_journal_close(h.journal);
	uv_loop_close(h.loop);
	return 0;
usage:
	fprintf(stderr, "usage: backend-harness -c CONF -o STATUS.json [-v]\n");
	return 2;
}

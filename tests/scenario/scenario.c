/*
 * scenario.c -- the real configuration, health, failover, journal and
 * status code, driven in simulated time through the fake clock and
 * network: a primary that dies, flaps, comes back; fallbacks that die too;
 * the last resort; fail-back after the hold or on command; pins.  Minutes
 * of agent time run in milliseconds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "conf.h"
#include "failover.h"
#include "fake.h"
#include "health.h"
#include "journal.h"
#include "status.h"
#include "transport.h"

#define ADMIN	"the administrator"

/* The lab's timing: a probe every second, 800 ms time-out, fall 3, rise 2,
 * fail-back hold 10 s, back-off capped at 8 s. */
static const char *conf_head =
    "server: { control-socket = \"/tmp/rg-scenario.sock\";"
    "  state-dir = \"/tmp\"; agent-id = \"scenario\"; };\n"
    "health: { interval-ms = 1000; timeout-ms = 800; fall = 3; rise = 2;"
    "  backoff-max-ms = 8000; };\n";

static const char *pools_std =
    "pools = (\n"
    " { name = \"primary\"; role = \"primary\";\n"
    "   upstreams = ( { name = \"p1\"; address = \"127.0.0.1\"; port = 5301; },\n"
    "                 { name = \"p2\"; address = \"127.0.0.2\"; port = 5301; } );\n"
    "   checks = { nxdomain-zone = \"invalid.\";\n"
    "              expect = { name = \"www.lab.test.\"; answer = \"192.0.2.10\"; }; }; },\n"
    " { name = \"eu\"; role = \"fallback\";\n"
    "   upstreams = ( { name = \"e1\"; address = \"127.0.0.3\"; port = 5302; } ); },\n"
    " { name = \"odvr\"; role = \"fallback\";\n"
    "   upstreams = ( { name = \"o1\"; address = \"127.0.0.4\"; port = 5302; } ); },\n"
    " { name = \"recursion\"; role = \"last-resort\"; type = \"recursive\";\n"
    "   root-addresses = [ \"127.0.0.1@5304\" ]; }\n"
    ");\n";

struct world {
	struct rg_health *h;
	struct rg_failover fo;
	struct rg_journal *j;
	struct rg_net *net;
	uint64_t next;
	int in_tick;
};

static void
world_tick(void *arg)
{
	struct world *w = arg;
	uint64_t now = fake_now(), nf;

	if (w->in_tick)
		return;
	w->in_tick = 1;
	w->next = rg_health_run(w->h, now);
	nf = rg_failover_evaluate(&w->fo, now);
	if (nf < w->next)
		w->next = nf;
	w->in_tick = 0;
}

static void
wake_cb(void *arg)
{
	world_tick(arg);
}

static void
print_error_cb(void *arg, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

static struct rg_conf *
conf_from(const char *failover, const char *pools)
{
	char path[] = "/tmp/rg-scenario-XXXXXX";
	struct rg_conf *c = NULL;
	FILE *fp;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fprintf(fp, "%s%s%s", conf_head, failover, pools);
	fclose(fp);
	assert_int_equal(rg_conf_load(path, &c, print_error_cb, NULL), 0);
	unlink(path);
	return c;
}

static void
world_start(struct world *w, const char *failover, const char *pools)
{
	memset(w, 0, sizeof(*w));
	fake_reset();
	w->j = rg_journal_open(NULL, 1000);
	w->net = rg_net_new(NULL);
	w->h = rg_health_new(conf_from(failover, pools), NULL, w->net, w->j);
	assert_non_null(w->h);
	w->h->wake_cb = wake_cb;
	w->h->wake_arg = w;
	rg_failover_init(&w->fo, w->h, w->j, fake_now());
	world_tick(w);
}

static void
world_stop(struct world *w)
{
	rg_net_free(w->net);	/* cancels what is in flight */
	rg_health_free(w->h);
	rg_journal_close(w->j);
}

static void
run_to(struct world *w, uint64_t ms)
{
	fake_run(ms, &w->next, world_tick, w);
}

/* Run until the mode is MODE or UNTIL passes; return the time it changed. */
static uint64_t
run_until_mode(struct world *w, enum rg_mode mode, uint64_t until)
{
	while (w->fo.mode != mode && fake_now() < until)
		run_to(w, fake_now() + 10);
	return fake_now();
}

static void
all_ok(void)
{
	fake_upstream("p1", FAKE_OK, 3);
	fake_upstream("p2", FAKE_OK, 4);
	fake_upstream("e1", FAKE_OK, 12);
	fake_upstream("o1", FAKE_OK, 15);
	fake_upstream("recursion", FAKE_OK, 40);
}

/* Events of TYPE in the journal (and the last one in *LAST). */
static size_t
count_events(struct world *w, const char *type, json_t **last)
{
	json_t *list = rg_journal_list(w->j, 0), *ev;
	size_t i, n = 0;

	json_array_foreach(list, i, ev)
		if (strcmp(json_string_value(json_object_get(ev, "type")),
		    type) == 0) {
			n++;
			if (last != NULL) {
				json_decref(*last);
				*last = json_incref(ev);
			}
		}
	json_decref(list);
	return n;
}

static void
assert_state(struct world *w, const char *up, enum rg_state st)
{
	struct rg_upstream *u = rg_health_upstream(w->h, up);

	assert_non_null(u);
	if (u->state != st)
		fail_msg("%s is %s, expected %s", up, rg_state_str[u->state],
		    rg_state_str[st]);
}

static void
test_starts_normal(void **state)
{
	struct world w;
	char summary[256];

	all_ok();
	world_start(&w, "", pools_std);
	all_ok();
	run_to(&w, 1500);
	assert_int_equal(rg_status_verdict(&w.fo, NULL, summary, sizeof(summary)),
	    1);		/* starting: nothing probed enough yet */
	run_to(&w, 5000);
	assert_state(&w, "p1", RG_STATE_UP);
	assert_state(&w, "e1", RG_STATE_UP);
	assert_state(&w, "recursion", RG_STATE_UP);
	assert_int_equal(w.fo.mode, RG_MODE_NORMAL);
	assert_string_equal(w.fo.active, "primary");
	assert_int_equal(rg_status_verdict(&w.fo, NULL, summary, sizeof(summary)),
	    0);
	assert_int_equal(count_events(&w, "mode", NULL), 0);
	world_stop(&w);
}

static void
test_primary_dies(void **state)
{
	struct world w;
	json_t *ev = NULL;
	uint64_t t0, t1;
	char summary[256];

	world_start(&w, "failover: { failback-hold-s = 10; };\n", pools_std);
	all_ok();
	run_to(&w, 10000);
	assert_int_equal(w.fo.mode, RG_MODE_NORMAL);

	t0 = fake_now();
	fake_upstream("p1", FAKE_TIMEOUT, 0);
	fake_upstream("p2", FAKE_REFUSED_CONN, 0);
	t1 = run_until_mode(&w, RG_MODE_FAILOVER, t0 + 60000);
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);
	assert_string_equal(w.fo.active, "eu");
	/* fall = 3 rounds, one per second: up to one interval before the
	 * first failed round starts, two more intervals, and the 800 ms
	 * time-out of the third. */
	printf("# primary outage to failover decision: %llu ms\n",
	    (unsigned long long)(t1 - t0));
	assert_true(t1 - t0 >= 2 * 1000 + 800);
	assert_true(t1 - t0 <= 3 * 1000 + 800 + 50);
	assert_state(&w, "p1", RG_STATE_DOWN);
	assert_state(&w, "p2", RG_STATE_DOWN);

	assert_int_equal(count_events(&w, "mode", &ev), 1);
	assert_string_equal(json_string_value(json_object_get(ev, "old")),
	    "normal");
	assert_string_equal(json_string_value(json_object_get(ev, "new")),
	    "failover");
	assert_non_null(strstr(json_string_value(json_object_get(ev,
	    "reason")), "primary pool \"primary\" has no upstream up"));
	/* The evidence names the failed upstreams and why. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_object_get(json_object_get(ev, "evidence"),
	    "from"), "upstreams"), 0), "last_error")), "timeout");
	json_decref(ev);
	assert_int_equal(count_events(&w, "upstream", NULL), 2 + 5);
	assert_int_equal(rg_status_verdict(&w.fo, NULL, summary, sizeof(summary)),
	    1);
	assert_non_null(strstr(summary, "failover active"));
	world_stop(&w);
}

static void
test_primary_flaps(void **state)
{
	struct world w;
	uint64_t t;
	int i;

	world_start(&w, "failover: { failback-hold-s = 10; };\n", pools_std);
	all_ok();
	run_to(&w, 6000);
	fake_upstream("p1", FAKE_TIMEOUT, 0);
	fake_upstream("p2", FAKE_TIMEOUT, 0);
	run_until_mode(&w, RG_MODE_FAILOVER, 30000);
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);

	/* Up for 4 s (long enough to count as up), down for 4 s, again
	 * and again: up never lasts the 10 s hold. */
	t = fake_now();
	for (i = 0; i < 10; i++) {
		fake_upstream("p1", FAKE_OK, 3);
		run_to(&w, t += 4000);
		fake_upstream("p1", FAKE_TIMEOUT, 0);
		run_to(&w, t += 4000);
		if (w.fo.mode != RG_MODE_FAILOVER) {
			json_t *ev = NULL;

			count_events(&w, "mode", &ev);
			fail_msg("flap %d: failed back: %s", i,
			    json_dumps(ev, 0));
		}
	}
	assert_int_equal(count_events(&w, "mode", NULL), 1);
	/* It did come up in between: the flapping is in the journal. */
	assert_true(count_events(&w, "upstream", NULL) >= 2 + 5 + 10);

	/* Stable at last: back after the hold. */
	fake_upstream("p1", FAKE_OK, 3);
	run_to(&w, t + 16000);
	assert_int_equal(w.fo.mode, RG_MODE_NORMAL);
	assert_int_equal(count_events(&w, "mode", NULL), 2);
	world_stop(&w);
}

static void
test_fallback_dies_too(void **state)
{
	struct world w;
	json_t *ev = NULL;

	world_start(&w, "", pools_std);
	all_ok();
	run_to(&w, 6000);
	fake_upstream("p1", FAKE_TIMEOUT, 0);
	fake_upstream("p2", FAKE_TIMEOUT, 0);
	run_until_mode(&w, RG_MODE_FAILOVER, 30000);
	assert_string_equal(w.fo.active, "eu");

	fake_upstream("e1", FAKE_SERVFAIL, 10);
	run_to(&w, fake_now() + 6000);
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);
	assert_string_equal(w.fo.active, "odvr");
	count_events(&w, "mode", &ev);
	assert_non_null(strstr(json_string_value(json_object_get(ev,
	    "reason")), "active pool \"eu\" has no upstream up"));
	json_decref(ev);

	fake_upstream("o1", FAKE_TIMEOUT, 0);
	run_to(&w, fake_now() + 6000);
	assert_int_equal(w.fo.mode, RG_MODE_LAST_RESORT);
	assert_string_equal(w.fo.active, "recursion");

	/* DNS4EU back: recursion gives way to it. */
	fake_upstream("e1", FAKE_OK, 10);
	run_to(&w, fake_now() + 10000);
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);
	assert_string_equal(w.fo.active, "eu");
	world_stop(&w);
}

static void
test_nothing_serves(void **state)
{
	struct world w;
	char summary[256];

	world_start(&w, "", pools_std);
	all_ok();
	run_to(&w, 6000);
	fake_upstream("p1", FAKE_TIMEOUT, 0);
	fake_upstream("p2", FAKE_TIMEOUT, 0);
	fake_upstream("e1", FAKE_TIMEOUT, 0);
	fake_upstream("o1", FAKE_TIMEOUT, 0);
	fake_upstream("recursion", FAKE_TIMEOUT, 0);
	run_to(&w, 30000);
	assert_int_equal(rg_status_verdict(&w.fo, NULL, summary, sizeof(summary)),
	    2);
	assert_non_null(strstr(summary, "no pool can serve"));
	/* Down upstreams are probed with back-off: over the next minute far
	 * fewer than one round per second. */
	{
		unsigned before = fake_sent("p1");

		run_to(&w, 90000);
		assert_true(fake_sent("p1") - before < 20);
		assert_true(fake_sent("p1") - before >= 60 / 10);
	}
	/* The primary returns: it is taken at once, no hold, since nothing
	 * else serves. */
	fake_upstream("p1", FAKE_OK, 3);
	run_to(&w, 90000 + 8000 * 12 / 10 * 2 + 2000);
	assert_int_equal(w.fo.mode, RG_MODE_NORMAL);
	assert_int_equal(rg_status_verdict(&w.fo, NULL, summary, sizeof(summary)),
	    1);		/* the others are still down */
	world_stop(&w);
}

static void
test_last_resort_first(void **state)
{
	struct world w;

	world_start(&w, "", pools_std);
	fake_upstream("p1", FAKE_TIMEOUT, 0);
	fake_upstream("p2", FAKE_TIMEOUT, 0);
	fake_upstream("e1", FAKE_REFUSED_CONN, 0);
	fake_upstream("o1", FAKE_REFUSED_CONN, 0);
	fake_upstream("recursion", FAKE_OK, 30);
	run_to(&w, 10000);
	assert_int_equal(w.fo.mode, RG_MODE_LAST_RESORT);
	assert_string_equal(w.fo.active, "recursion");
	world_stop(&w);
}

static void
test_failback_after_hold(void **state)
{
	struct world w;
	uint64_t t_up, t_back;
	json_t *ev = NULL;

	world_start(&w, "failover: { failback-hold-s = 10; };\n", pools_std);
	all_ok();
	run_to(&w, 6000);
	fake_upstream("p1", FAKE_TIMEOUT, 0);
	fake_upstream("p2", FAKE_TIMEOUT, 0);
	run_until_mode(&w, RG_MODE_FAILOVER, 30000);

	fake_upstream("p1", FAKE_OK, 3);
	/* Back-off may delay the first good round by up to 1.2 x 8 s. */
	while (rg_health_upstream(w.h, "p1")->state != RG_STATE_UP &&
	    fake_now() < 100000)
		run_to(&w, fake_now() + 10);
	t_up = fake_now();
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);
	t_back = run_until_mode(&w, RG_MODE_NORMAL, t_up + 60000);
	assert_int_equal(w.fo.mode, RG_MODE_NORMAL);
	assert_true(t_back - t_up >= 10000);
	assert_true(t_back - t_up <= 10000 + 20);
	count_events(&w, "mode", &ev);
	assert_non_null(strstr(json_string_value(json_object_get(ev,
	    "reason")), "healthy for 10 s (hold 10 s)"));
	json_decref(ev);
	world_stop(&w);
}

static void
test_manual_failback(void **state)
{
	struct world w;

	world_start(&w, "failover: { failback = \"manual\"; "
	    "failback-hold-s = 10; };\n", pools_std);
	all_ok();
	run_to(&w, 6000);
	assert_int_equal(rg_failover_failback(&w.fo, fake_now()), -EALREADY);
	fake_upstream("p1", FAKE_TIMEOUT, 0);
	fake_upstream("p2", FAKE_TIMEOUT, 0);
	run_until_mode(&w, RG_MODE_FAILOVER, 30000);
	assert_int_equal(rg_failover_failback(&w.fo, fake_now()), -EAGAIN);

	fake_upstream("p1", FAKE_OK, 3);
	fake_upstream("p2", FAKE_OK, 3);
	run_to(&w, fake_now() + 120000);
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);	/* waits for us */
	assert_state(&w, "p1", RG_STATE_UP);
	assert_int_equal(rg_failover_failback(&w.fo, fake_now()), 0);
	assert_int_equal(w.fo.mode, RG_MODE_NORMAL);
	assert_int_equal(count_events(&w, "failback", NULL), 1);
	run_to(&w, fake_now() + 10000);
	assert_int_equal(w.fo.mode, RG_MODE_NORMAL);
	world_stop(&w);
}

static void
test_pin_unpin(void **state)
{
	struct world w;
	char warning[256];
	char summary[256];

	world_start(&w, "failover: { failback-hold-s = 10; };\n", pools_std);
	all_ok();
	run_to(&w, 20000);
	assert_int_equal(rg_failover_pin(&w.fo, "nosuch", ADMIN,
	    fake_now(), warning, sizeof(warning)), -ENOENT);
	assert_int_equal(rg_failover_pin(&w.fo, "eu", ADMIN, fake_now(),
	    warning, sizeof(warning)), 0);
	assert_string_equal(warning, "");
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);
	assert_string_equal(w.fo.pinned, "eu");
	run_to(&w, 60000);
	assert_string_equal(w.fo.active, "eu");	/* the pin holds */
	assert_int_equal(rg_status_verdict(&w.fo, NULL, summary, sizeof(summary)),
	    1);
	assert_int_equal(rg_failover_failback(&w.fo, fake_now()), -EBUSY);

	/* Pinning a pool that is down works, with a warning. */
	fake_upstream("o1", FAKE_TIMEOUT, 0);
	run_to(&w, 70000);
	assert_int_equal(rg_failover_pin(&w.fo, "odvr", ADMIN, fake_now(),
	    warning, sizeof(warning)), 0);
	assert_non_null(strstr(warning, "no upstream up"));
	assert_int_equal(rg_status_verdict(&w.fo, NULL, summary, sizeof(summary)),
	    2);

	/* Unpinned: the primary has been healthy all along, so straight
	 * back. */
	assert_int_equal(rg_failover_pin(&w.fo, "auto", ADMIN, fake_now(),
	    warning, sizeof(warning)), 0);
	assert_int_equal(w.fo.mode, RG_MODE_NORMAL);
	assert_string_equal(w.fo.pinned, "");
	assert_int_equal(count_events(&w, "pin", NULL), 2);
	assert_int_equal(count_events(&w, "unpin", NULL), 1);
	world_stop(&w);
}

static void
test_rewrite_degrades(void **state)
{
	struct world w;
	struct rg_upstream *u;

	world_start(&w, "", pools_std);
	all_ok();
	run_to(&w, 6000);
	fake_upstream("p1", FAKE_REWRITE, 3);
	fake_upstream("p2", FAKE_WRONG, 3);
	run_to(&w, 12000);
	assert_state(&w, "p1", RG_STATE_DEGRADED);
	assert_state(&w, "p2", RG_STATE_DEGRADED);
	u = rg_health_upstream(w.h, "p1");
	assert_int_equal(u->last_err, RG_PROBE_NXDOMAIN_REWRITE);
	assert_int_equal(rg_health_upstream(w.h, "p2")->last_err,
	    RG_PROBE_WRONG_ANSWER);
	/* Degraded does not serve. */
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);
	world_stop(&w);
}

static void
test_reload_keeps_state(void **state)
{
	struct world w;
	struct rg_health *h2;

	world_start(&w, "", pools_std);
	all_ok();
	run_to(&w, 6000);
	fake_upstream("p1", FAKE_TIMEOUT, 0);
	fake_upstream("p2", FAKE_TIMEOUT, 0);
	run_until_mode(&w, RG_MODE_FAILOVER, 30000);
	/* Rounds are in flight now; reload under them. */
	fake_upstream("p1", FAKE_OK, 3);
	run_to(&w, fake_now() + 500);
	h2 = rg_health_new(conf_from("", pools_std), w.h, w.net, w.j);
	assert_non_null(h2);
	h2->wake_cb = wake_cb;
	h2->wake_arg = &w;
	rg_health_free(w.h);
	w.h = h2;
	rg_failover_rebind(&w.fo, h2, fake_now());
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);
	assert_state(&w, "p2", RG_STATE_DOWN);
	assert_state(&w, "e1", RG_STATE_UP);
	world_tick(&w);
	run_to(&w, fake_now() + 5000);
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);
	assert_int_equal(count_events(&w, "mode", NULL), 1);
	world_stop(&w);
}

static void
test_mixed_failures_count(void **state)
{
	struct world w;
	uint64_t t;
	int i;

	/* From the start, p1 refuses and p2 alternates time-outs and
	 * rewritten answers: neither may stay "unknown" or "up", and the
	 * wait for the primary's verdict at start is bounded. */
	world_start(&w, "", pools_std);
	all_ok();
	fake_upstream("p1", FAKE_REFUSED_CONN, 0);
	t = fake_now();
	for (i = 0; i < 12; i++) {
		fake_upstream("p2", i % 2 ? FAKE_REWRITE : FAKE_TIMEOUT, 3);
		run_to(&w, t += 1000);
	}
	assert_state(&w, "p1", RG_STATE_DOWN);
	if (rg_health_upstream(w.h, "p2")->state >= RG_STATE_UP ||
	    rg_health_upstream(w.h, "p2")->state == RG_STATE_UNKNOWN)
		fail_msg("p2 is %s", rg_state_str[rg_health_upstream(w.h,
		    "p2")->state]);
	assert_int_equal(w.fo.mode, RG_MODE_FAILOVER);
	assert_int_equal(w.fo.starting, 0);
	world_stop(&w);
}

static void
test_reload_keeps_pin(void **state)
{
	static const char *pools_eu_last =
	    "pools = (\n"
	    " { name = \"primary\"; role = \"primary\";\n"
	    "   upstreams = ( { name = \"p1\"; address = \"127.0.0.1\"; } ); },\n"
	    " { name = \"eu\"; role = \"last-resort\";\n"
	    "   upstreams = ( { name = \"e1\"; address = \"127.0.0.3\"; } ); }\n"
	    ");\n";
	struct world w;
	struct rg_health *h2;
	char warning[256];

	world_start(&w, "", pools_std);
	all_ok();
	run_to(&w, 6000);
	assert_int_equal(rg_failover_pin(&w.fo, "eu", ADMIN, fake_now(),
	    warning, sizeof(warning)), 0);
	h2 = rg_health_new(conf_from("", pools_eu_last), w.h, w.net, w.j);
	h2->wake_cb = wake_cb;
	h2->wake_arg = &w;
	rg_health_free(w.h);
	w.h = h2;
	rg_failover_rebind(&w.fo, h2, fake_now());
	world_tick(&w);
	/* Still pinned to eu, now in its new role. */
	assert_string_equal(w.fo.pinned, "eu");
	assert_string_equal(w.fo.active, "eu");
	assert_int_equal(w.fo.mode, RG_MODE_LAST_RESORT);
	run_to(&w, fake_now() + 5000);
	assert_string_equal(w.fo.active, "eu");
	world_stop(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starts_normal),
		cmocka_unit_test(test_primary_dies),
		cmocka_unit_test(test_primary_flaps),
		cmocka_unit_test(test_fallback_dies_too),
		cmocka_unit_test(test_nothing_serves),
		cmocka_unit_test(test_last_resort_first),
		cmocka_unit_test(test_failback_after_hold),
		cmocka_unit_test(test_manual_failback),
		cmocka_unit_test(test_pin_unpin),
		cmocka_unit_test(test_rewrite_degrades),
		cmocka_unit_test(test_reload_keeps_state),
		cmocka_unit_test(test_mixed_failures_count),
		cmocka_unit_test(test_reload_keeps_pin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

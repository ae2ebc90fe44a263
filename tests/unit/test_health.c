/*
 * test_health.c -- the upstream state machine (rise and fall), back-off and
 * the latency histogram, fed outcomes directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "fake.h"
#include "health.h"
#include "journal.h"
#include "transport.h"

struct fixture {
	struct rg_journal *j;
	struct rg_health *h;
	struct rg_upstream *u;
};

static void
print_error_cb(void *arg, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

static int
setup(void **state)
{
	static const char text[] =
	    "server: { state-dir = \"/tmp\"; agent-id = \"unit\"; };\n"
	    "health: { interval-ms = 1000; timeout-ms = 500; fall = 3;"
	    " rise = 2; backoff-max-ms = 16000; };\n"
	    "pools = ( { name = \"primary\"; role = \"primary\";"
	    " upstreams = ( { name = \"u\"; address = \"127.0.0.1\"; } ); } );\n";
	char path[] = "/tmp/rg-health-XXXXXX";
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct rg_conf *c = NULL;
	FILE *fp;

	fp = fdopen(mkstemp(path), "w");
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(rg_conf_load(path, &c, print_error_cb, NULL), 0);
	unlink(path);
	fake_reset();
	fx->j = rg_journal_open(NULL, 100);
	fx->h = rg_health_new(c, NULL, NULL, fx->j);
	fx->u = rg_health_upstream(fx->h, "u");
	assert_non_null(fx->u);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	rg_health_free(fx->h);
	rg_journal_close(fx->j);
	free(fx);
	return 0;
}

static void
observe(struct fixture *fx, enum rg_state outcome)
{
	rg_upstream_observe(fx->h, fx->u, outcome,
	    outcome == RG_STATE_UP ? RG_PROBE_OK : outcome == RG_STATE_DOWN ?
	    RG_PROBE_TIMEOUT : RG_PROBE_NXDOMAIN_REWRITE, NULL, fake_now());
}

static void
assert_state(struct fixture *fx, enum rg_state want)
{
	if (fx->u->state != want)
		fail_msg("state %s, expected %s", rg_state_str[fx->u->state],
		    rg_state_str[want]);
}

static void
test_rise_from_unknown(void **state)
{
	struct fixture *fx = *state;

	assert_state(fx, RG_STATE_UNKNOWN);
	observe(fx, RG_STATE_UP);
	assert_state(fx, RG_STATE_UNKNOWN);
	observe(fx, RG_STATE_UP);
	assert_state(fx, RG_STATE_UP);
	assert_int_equal(rg_journal_count(fx->j), 1);
}

static void
test_fall_needs_consecutive(void **state)
{
	struct fixture *fx = *state;

	observe(fx, RG_STATE_UP);
	observe(fx, RG_STATE_UP);
	/* Two failures, a success, two failures: never three in a row. */
	observe(fx, RG_STATE_DOWN);
	observe(fx, RG_STATE_DOWN);
	observe(fx, RG_STATE_UP);
	observe(fx, RG_STATE_DOWN);
	observe(fx, RG_STATE_DOWN);
	assert_state(fx, RG_STATE_UP);
	observe(fx, RG_STATE_DOWN);
	assert_state(fx, RG_STATE_DOWN);
	assert_string_equal(fx->u->last_error, "timeout");
	assert_int_equal(fx->u->streak, 0);	/* a new count starts */
}

static void
test_unknown_to_down_uses_fall(void **state)
{
	struct fixture *fx = *state;

	observe(fx, RG_STATE_DOWN);
	observe(fx, RG_STATE_DOWN);
	assert_state(fx, RG_STATE_UNKNOWN);
	observe(fx, RG_STATE_DOWN);
	assert_state(fx, RG_STATE_DOWN);
}

static void
test_degraded(void **state)
{
	struct fixture *fx = *state;

	observe(fx, RG_STATE_UP);
	observe(fx, RG_STATE_UP);
	observe(fx, RG_STATE_DEGRADED);
	observe(fx, RG_STATE_DEGRADED);
	assert_state(fx, RG_STATE_UP);
	observe(fx, RG_STATE_DEGRADED);
	assert_state(fx, RG_STATE_DEGRADED);
	assert_string_equal(fx->u->last_error, "NXDOMAIN rewritten");
	/* From degraded, up is better news: rise rounds. */
	observe(fx, RG_STATE_UP);
	assert_state(fx, RG_STATE_DEGRADED);
	observe(fx, RG_STATE_UP);
	assert_state(fx, RG_STATE_UP);
	/* Mixed bad rounds add up: a time-out, a slow answer, a slow
	 * answer make three worse rounds; the state is the latest's. */
	observe(fx, RG_STATE_DOWN);
	observe(fx, RG_STATE_DEGRADED);
	assert_state(fx, RG_STATE_UP);
	observe(fx, RG_STATE_DEGRADED);
	assert_state(fx, RG_STATE_DEGRADED);
	/* From degraded, three time-outs in a row make it down. */
	observe(fx, RG_STATE_DOWN);
	observe(fx, RG_STATE_DOWN);
	assert_state(fx, RG_STATE_DEGRADED);
	observe(fx, RG_STATE_DOWN);
	assert_state(fx, RG_STATE_DOWN);
	/* Rising takes the worst of the rising rounds: degraded then up
	 * from down is degraded. */
	observe(fx, RG_STATE_DEGRADED);
	observe(fx, RG_STATE_UP);
	assert_state(fx, RG_STATE_DEGRADED);
}

static void
test_backoff(void **state)
{
	struct fixture *fx = *state;
	uint64_t delay, prev = 0;
	int i;

	fake_set_now(100000);
	for (i = 0; i < 3; i++)
		observe(fx, RG_STATE_DOWN);
	assert_state(fx, RG_STATE_DOWN);
	/* Each failed round while down doubles the delay, with jitter of
	 * +-20 %, up to the 16 s cap. */
	for (i = 0; i < 8; i++) {
		observe(fx, RG_STATE_DOWN);
		delay = fx->u->next_probe_ms - fake_now();
		if (delay < fx->u->backoff_ms * 8 / 10 ||
		    delay > fx->u->backoff_ms * 12 / 10)
			fail_msg("delay %llu ms outside 80..120 %% of %u ms",
			    (unsigned long long)delay, fx->u->backoff_ms);
		assert_true(fx->u->backoff_ms <= 16000);
		assert_true(fx->u->backoff_ms >= prev);
		prev = fx->u->backoff_ms;
	}
	assert_int_equal(fx->u->backoff_ms, 16000);
	/* A good round ends the back-off. */
	observe(fx, RG_STATE_UP);
	assert_int_equal(fx->u->backoff_ms, 0);
	assert_true(fx->u->next_probe_ms <= fake_now() + 1000);
}

static void
test_histogram_median(void **state)
{
	struct rg_hist h;
	double m;
	int i;

	memset(&h, 0, sizeof(h));
	assert_true(rg_hist_median_ms(&h) < 0);
	for (i = 0; i < 50; i++)
		rg_hist_add(&h, 400);		/* 0.4 ms */
	m = rg_hist_median_ms(&h);
	if (m < 0.4 / 1.2 || m > 0.4 * 1.2)
		fail_msg("median %.3f ms, expected about 0.4", m);
	/* The median, not the mean: a few slow outliers do not move it. */
	for (i = 0; i < 5; i++)
		rg_hist_add(&h, 2000000);
	m = rg_hist_median_ms(&h);
	if (m < 0.4 / 1.2 || m > 0.4 * 1.2)
		fail_msg("median %.3f ms after outliers, expected about 0.4",
		    m);
	/* Decay: after a lasting change the median follows. */
	for (i = 0; i < 200; i++)
		rg_hist_add(&h, 30000);		/* 30 ms */
	m = rg_hist_median_ms(&h);
	if (m < 30 / 1.2 || m > 30 * 1.2)
		fail_msg("median %.3f ms, expected about 30", m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rise_from_unknown, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fall_needs_consecutive,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_to_down_uses_fall,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_degraded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
		cmocka_unit_test(test_histogram_median),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_health.c -- the upstream state machine (rise and fall), back-off and
 * the latency histograms, fed outcomes directly or probe rounds through
 * the fake network.
 */
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
#include "fake.h"
#include "health.h"
#include "journal.h"
#include "metrics.h"
#include "status.h"
#include "transport.h"

struct fixture {
	struct rg_journal *j;
	struct rg_health *h;
	struct rg_upstream *u;
};

/* Where the health wants to run next, for fake_run(). */
static uint64_t fx_next;

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

static void
test_latency_buckets(void **state)
{
	struct rg_lat_hist h;
	int i;

	memset(&h, 0, sizeof(h));
	rg_lat_hist_add(&h, 1000);	/* on the 1 ms bound: counts in it */
	rg_lat_hist_add(&h, 1001);	/* just above: from 2.5 ms on */
	rg_lat_hist_add(&h, 3000000);	/* above 2.5 s: only in the total */
	assert_int_equal(h.le[0], 1);
	for (i = 1; i < RG_LAT_BUCKETS; i++) {
		if (h.le[i] != 2)
			fail_msg("bucket %d (le %u us): %llu, expected 2", i,
			    rg_lat_le_us[i], (unsigned long long)h.le[i]);
		assert_true(rg_lat_le_us[i] > rg_lat_le_us[i - 1]);
	}
	assert_int_equal(h.le[1], 2);
	assert_int_equal(rg_lat_le_us[1], 2500);
	assert_int_equal(rg_lat_le_us[RG_LAT_BUCKETS - 1], 2500000);
	assert_int_equal(h.count, 3);
	assert_int_equal(h.sum_us, 3002001);
}

static void
tick(void *arg)
{
	struct fixture *fx = arg;

	fx_next = rg_health_run(fx->h, fake_now());
}

/* Bucket index of BOUND_US. */
static int
lat_index(uint32_t bound_us)
{
	int i;

	for (i = 0; i < RG_LAT_BUCKETS; i++)
		if (rg_lat_le_us[i] == bound_us)
			return i;
	fail_msg("no bucket with bound %u us", bound_us);
	return -1;
}

static void
test_latency_counts(void **state)
{
	struct fixture *fx = *state;
	struct rg_lat_hist *l = &fx->u->latency;
	int i25 = lat_index(25000), i10 = lat_index(10000);
	int i100 = lat_index(100000), i50 = lat_index(50000), k;
	uint64_t n, rounds;

	/* Real probe rounds through the fake network: each good basic
	 * probe of 20 ms counts once, in the 25 ms bucket and above. */
	fake_upstream("u", FAKE_OK, 20);
	fx_next = 0;
	tick(fx);
	fake_run(fake_now() + 10500, &fx_next, tick, fx);
	/* Between rounds, so none is answered by the next behaviour. */
	assert_null(fx->u->round);
	n = l->count;
	if (n < 5)
		fail_msg("%llu probes counted in 10 s at a 1 s interval",
		    (unsigned long long)n);
	assert_int_equal(n, fx->u->rounds);
	assert_int_equal(l->le[i10], 0);
	assert_int_equal(l->le[i25], n);
	assert_int_equal(l->le[RG_LAT_BUCKETS - 1], n);
	assert_int_equal(l->sum_us, n * 20000);

	/* Failed probes do not count; nothing decays meanwhile. */
	fake_upstream("u", FAKE_TIMEOUT, 20);
	rounds = fx->u->rounds;
	fake_run(fake_now() + 10000, &fx_next, tick, fx);
	assert_true(fx->u->rounds > rounds);
	assert_int_equal(l->count, n);
	assert_int_equal(l->le[i25], n);

	/* Slower answers go up from their own bucket; the old counts stay. */
	fake_upstream("u", FAKE_OK, 80);
	fake_run(fake_now() + 60000, &fx_next, tick, fx);
	if (l->count <= n)
		fail_msg("count %llu, not above %llu after good probes",
		    (unsigned long long)l->count, (unsigned long long)n);
	assert_int_equal(l->le[i25], n);
	assert_int_equal(l->le[i50], n);
	assert_int_equal(l->le[i100], l->count);
	assert_int_equal(l->sum_us, n * 20000 + (l->count - n) * 80000);
	/* A round still in flight holds the health object past the
	 * teardown (the fake network delivers nothing after the test):
	 * end on a turn between rounds.  The interval has jitter. */
	for (k = 0; k < 100 && fx->u->round != NULL; k++)
		fake_run(fake_now() + 50, &fx_next, tick, fx);
	assert_null(fx->u->round);
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

/* The counts as the status document and the /metrics scrape show them. */
static void
test_latency_status_metrics(void **state)
{
	static const char *const keys[] = { "name", "address", "port",
	    "transport", "state", "rtt_ms", "state_since", "probes",
	    "failed" };
	struct fixture *fx = *state;
	struct rg_lat_hist *l = &fx->u->latency;
	const json_t *h;
	json_t *uj, *d;
	char *m, line[256];
	size_t i;

	fake_upstream("u", FAKE_OK, 20);
	fx_next = 0;
	tick(fx);
	fake_run(fake_now() + 5500, &fx_next, tick, fx);
	rg_lat_hist_add(l, 400);		/* 0.4 ms */
	rg_lat_hist_add(l, 4000000);		/* 4 s: only in +Inf */
	assert_true(l->count >= 4);

	uj = rg_upstream_json(fx->u);
	assert_non_null(uj);
	/* The document only gained a member. */
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_get(uj, keys[i]) == NULL)
			fail_msg("upstream member \"%s\" missing", keys[i]);
	h = json_object_get(uj, "latency_histogram");
	assert_int_equal(json_array_size(json_object_get(h, "le_ms")),
	    RG_LAT_BUCKETS);
	assert_int_equal(json_array_size(json_object_get(h, "counts")),
	    RG_LAT_BUCKETS);
	for (i = 0; i < RG_LAT_BUCKETS; i++) {
		assert_true(json_number_value(json_array_get(
		    json_object_get(h, "le_ms"), i)) ==
		    rg_lat_le_us[i] / 1000.0);
		assert_int_equal(json_integer_value(json_array_get(
		    json_object_get(h, "counts"), i)), l->le[i]);
	}
	assert_true(json_number_value(json_array_get(json_object_get(h,
	    "le_ms"), 1)) == 2.5);
	assert_int_equal(json_integer_value(json_object_get(h, "count")),
	    l->count);
	assert_true(json_real_value(json_object_get(h, "sum_ms")) ==
	    l->sum_us / 1000.0);

	d = json_pack("{s:s, s:s, s:[{s:s, s:s, s:b, s:[o]}]}",
	    "version", "0.1.0", "mode", "normal", "pools", "name", "primary",
	    "role", "primary", "healthy", 1, "upstreams", uj);
	assert_non_null(d);
	m = rg_metrics_render(d);
	assert_non_null(m);
	assert_contains(m, "# TYPE resguard_upstream_probe_latency_seconds "
	    "histogram\n");
	snprintf(line, sizeof(line), "resguard_upstream_probe_latency_seconds"
	    "_bucket{pool=\"primary\",upstream=\"u\",le=\"0.001\"} 1\n");
	assert_contains(m, line);
	snprintf(line, sizeof(line), "resguard_upstream_probe_latency_seconds"
	    "_bucket{pool=\"primary\",upstream=\"u\",le=\"0.01\"} 1\n");
	assert_contains(m, line);
	snprintf(line, sizeof(line), "resguard_upstream_probe_latency_seconds"
	    "_bucket{pool=\"primary\",upstream=\"u\",le=\"0.025\"} %llu\n",
	    (unsigned long long)l->count - 1);
	assert_contains(m, line);
	snprintf(line, sizeof(line), "resguard_upstream_probe_latency_seconds"
	    "_bucket{pool=\"primary\",upstream=\"u\",le=\"2.5\"} %llu\n",
	    (unsigned long long)l->count - 1);
	assert_contains(m, line);
	snprintf(line, sizeof(line), "resguard_upstream_probe_latency_seconds"
	    "_bucket{pool=\"primary\",upstream=\"u\",le=\"+Inf\"} %llu\n",
	    (unsigned long long)l->count);
	assert_contains(m, line);
	snprintf(line, sizeof(line), "resguard_upstream_probe_latency_seconds"
	    "_count{pool=\"primary\",upstream=\"u\"} %llu\n",
	    (unsigned long long)l->count);
	assert_contains(m, line);
	snprintf(line, sizeof(line), "resguard_upstream_probe_latency_seconds"
	    "_sum{pool=\"primary\",upstream=\"u\"} %.17g\n",
	    l->sum_us / 1000.0 / 1000.0);
	assert_contains(m, line);
	free(m);
	json_decref(d);
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
		cmocka_unit_test(test_latency_buckets),
		cmocka_unit_test_setup_teardown(test_latency_counts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_latency_status_metrics,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

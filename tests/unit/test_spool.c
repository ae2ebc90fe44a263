/*
 * test_spool.c -- the durable spool: order, per-reporter queues, survival
 * across a reopen (as after kill -9), the byte limit's drop order, drop
 * counters, unreadable reports, an interrupted write.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "spool.h"

static const char *names[] = { "hub", "syslog" };

static char *
tmpdir(void)
{
	char tmpl[] = "/tmp/rg-spool-XXXXXX", *d;

	assert_non_null(d = mkdtemp(tmpl));
	return strdup(d);
}

static void
rmtree(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
put(struct rg_spool *s, enum rg_report_kind k, int n)
{
	json_t *r = json_pack("{s:i, s:s}", "n", n, "pad",
	    "....................................................");

	assert_int_equal(rg_spool_put(s, k, r), 0);
	json_decref(r);
}

static int
batch_n(const struct rg_spool_batch *b, size_t i)
{
	return (int)json_integer_value(json_object_get(json_array_get(
	    b->reports, i), "n"));
}

static void
test_order_and_queues(void **state)
{
	char *d = tmpdir();
	struct rg_spool *s = rg_spool_open(d, names, 2, 0);
	struct rg_spool_batch b;
	struct rg_spool_stats st;
	int i;

	assert_non_null(s);
	for (i = 1; i <= 5; i++)
		put(s, RG_REPORT_EVENT, i);
	assert_int_equal(rg_spool_peek(s, 0, 3, 1 << 20, &b), 0);
	assert_int_equal(b.n, 3);
	assert_int_equal(batch_n(&b, 0), 1);
	assert_int_equal(batch_n(&b, 2), 3);
	assert_true(json_is_string(json_object_get(json_array_get(b.reports,
	    0), "id")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    b.reports, 0), "kind")), "event");
	assert_int_equal(rg_spool_ack(s, 0, &b), 0);
	rg_spool_batch_clear(&b);
	rg_spool_stats(s, 0, &st);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.delivered, 3);
	rg_spool_stats(s, 1, &st);
	assert_int_equal(st.queued, 5);	/* the other queue is untouched */

	/* Reopen, as after kill -9: what was not acknowledged is there, in
	 * order, and new reports come after it. */
	rg_spool_close(s);
	assert_non_null(s = rg_spool_open(d, names, 2, 0));
	put(s, RG_REPORT_EVENT, 6);
	assert_int_equal(rg_spool_peek(s, 0, 10, 1 << 20, &b), 0);
	assert_int_equal(b.n, 3);
	assert_int_equal(batch_n(&b, 0), 4);
	assert_int_equal(batch_n(&b, 2), 6);
	rg_spool_batch_clear(&b);
	rg_spool_close(s);
	rmtree(d);
	free(d);
}

static void
test_id_kept(void **state)
{
	char *d = tmpdir();
	struct rg_spool *s = rg_spool_open(d, names, 1, 0);
	struct rg_spool_batch b;
	json_t *r = json_pack("{s:s}", "id", "0c1a41b2-0000-4000-8000-000000000001");

	assert_int_equal(rg_spool_put(s, RG_REPORT_STATUS, r), 0);
	assert_int_equal(rg_spool_peek(s, 0, 1, 1, &b), 0);
	assert_int_equal(b.n, 1);	/* at least one, whatever the size */
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    b.reports, 0), "id")), "0c1a41b2-0000-4000-8000-000000000001");
	rg_spool_batch_clear(&b);
	json_decref(r);
	r = json_integer(3);
	assert_int_equal(rg_spool_put(s, RG_REPORT_STATUS, r), -EINVAL);
	json_decref(r);
	rg_spool_close(s);
	rmtree(d);
	free(d);
}

static void
test_limit_drop_order(void **state)
{
	char *d = tmpdir();
	struct rg_spool *s;
	struct rg_spool_batch b;
	struct rg_spool_stats st;
	size_t i;
	int n;

	/* Each report is about 100 bytes: room for about 10. */
	assert_non_null(s = rg_spool_open(d, names, 1, 1000));
	for (n = 0; n < 6; n++)
		put(s, RG_REPORT_STATUS, 100 + n);
	for (n = 0; n < 4; n++)
		put(s, RG_REPORT_SIGHTING, 200 + n);
	for (n = 0; n < 8; n++)
		put(s, RG_REPORT_EVENT, n);
	rg_spool_stats(s, 0, &st);
	assert_true(st.bytes <= 1000);
	/* The status reports went first, then sightings; events only when
	 * nothing else was left. */
	assert_int_equal(st.dropped[RG_REPORT_STATUS], 6);
	assert_true(st.dropped[RG_REPORT_SIGHTING] >= 1);
	assert_int_equal(rg_spool_peek(s, 0, 100, 1 << 20, &b), 0);
	for (i = 0; i < b.n; i++)
		assert_true(batch_n(&b, i) < 100 || batch_n(&b, i) >= 200);
	rg_spool_batch_clear(&b);
	for (n = 8; n < 20; n++)
		put(s, RG_REPORT_EVENT, n);
	rg_spool_stats(s, 0, &st);
	assert_int_equal(st.dropped[RG_REPORT_SIGHTING], 4);
	assert_true(st.dropped[RG_REPORT_EVENT] > 0);
	/* The counters survive a restart. */
	rg_spool_close(s);
	assert_non_null(s = rg_spool_open(d, names, 1, 1000));
	rg_spool_stats(s, 0, &st);
	assert_int_equal(st.dropped[RG_REPORT_STATUS], 6);
	assert_true(st.dropped[RG_REPORT_EVENT] > 0);
	rg_spool_close(s);
	rmtree(d);
	free(d);
}

static void
test_unreadable_and_interrupted(void **state)
{
	char *d = tmpdir(), path[512];
	struct rg_spool *s;
	struct rg_spool_batch b;
	struct rg_spool_stats st;
	FILE *fp;

	assert_non_null(s = rg_spool_open(d, names, 1, 0));
	put(s, RG_REPORT_EVENT, 1);
	put(s, RG_REPORT_EVENT, 2);
	rg_spool_close(s);
	/* Corrupt the first report, and leave a half-written one behind. */
	snprintf(path, sizeof(path), "%s/hub/%016x.e.json", d, 1);
	assert_non_null(fp = fopen(path, "w"));
	fputs("{\"n\": 1, \"trunc", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/.incoming/%016x.tmp", d, 9);
	assert_non_null(fp = fopen(path, "w"));
	fputs("{\"n\":", fp);
	fclose(fp);

	assert_non_null(s = rg_spool_open(d, names, 1, 0));
	assert_int_equal(access(path, F_OK), -1);	/* cleaned up */
	assert_int_equal(rg_spool_peek(s, 0, 10, 1 << 20, &b), 0);
	assert_int_equal(b.n, 1);
	assert_int_equal(batch_n(&b, 0), 2);
	rg_spool_batch_clear(&b);
	rg_spool_stats(s, 0, &st);
	assert_int_equal(st.unreadable, 1);
	snprintf(path, sizeof(path), "%s/hub/%016x.e.json.bad", d, 1);
	assert_int_equal(access(path, F_OK), 0);	/* kept aside */
	rg_spool_close(s);
	rmtree(d);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_queues),
		cmocka_unit_test(test_id_kept),
		cmocka_unit_test(test_limit_drop_order),
		cmocka_unit_test(test_unreadable_and_interrupted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

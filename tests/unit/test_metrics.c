/*
 * test_metrics.c -- the Prometheus rendering and the status page, from a
 * status document as the daemon builds it.  When promtool is installed,
 * the rendering must pass "promtool check metrics" without a complaint.
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

#include "http.h"
#include "metrics.h"

static const char *doc_text =
    "{\"version\":\"0.1.0\",\"agent_id\":\"res\\\"olver-1\","
    "\"mode\":\"failover\",\"active_pool\":\"eu\",\"pinned\":null,"
    "\"mode_since\":\"2026-11-30T10:00:00.000Z\",\"mode_changes\":3,"
    "\"pools\":[{\"name\":\"primary\",\"role\":\"primary\",\"healthy\":false,"
    "\"upstreams\":[{\"name\":\"isp-a\",\"address\":\"192.0.2.53\","
    "\"port\":53,\"transport\":\"udp\",\"state\":\"down\",\"rtt_ms\":0.4,"
    "\"last_error\":\"wrong answer: got <script>alert(1)</script>\","
    "\"probes\":120,\"failed\":7,\"latency_histogram\":{\"le_ms\":[1.0,"
    "2.5,5.0,10.0,25.0,50.0,100.0,250.0,500.0,1000.0,2500.0],"
    "\"counts\":[0,2,10,50,100,110,112,113,113,113,113],"
    "\"sum_ms\":1250.0,\"count\":115}}]},"
    "{\"name\":\"eu\",\"role\":\"fallback\",\"healthy\":true,"
    "\"upstreams\":[{\"name\":\"dns4eu\",\"address\":\"192.0.2.1\","
    "\"port\":853,\"transport\":\"tls\",\"state\":\"up\",\"rtt_ms\":null,"
    "\"last_error\":null,\"probes\":100,\"failed\":0}]}],"
    "\"feeds\":[{\"name\":\"hub\",\"format\":\"domains\",\"state\":\"ok\","
    "\"entries\":1200,\"updated\":\"2026-11-30T10:00:00Z\"}],"
    "\"blocklist\":{\"entries\":1200,\"bytes\":40000,\"hits\":3},"
    "\"guard\":{\"queries\":10,\"blocked\":{\"nxdomain\":2},"
    "\"blocked_by_feed\":{\"hub\":3},"
    "\"stalls\":{\"over_5ms\":2,\"cpu_over_5ms\":0},"
    "\"stall_max_ms\":{\"wall\":7.25,\"cpu\":0.5}},"
    "\"reporters\":[{\"name\":\"hub\",\"type\":\"http\",\"queued\":4,"
    "\"delivered\":17,\"dropped\":{\"event\":0,\"status\":2,"
    "\"sighting\":1},\"last_error\":\"HTTP 500 from https://hub\"}],"
    "\"health\":{\"code\":1,\"summary\":\"failover active\"}}";

static json_t *
doc(void)
{
	json_error_t err;
	json_t *d = json_loads(doc_text, 0, &err);

	if (d == NULL)
		fail_msg("bad test document: %s", err.text);
	return d;
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

static void
test_metrics_lines(void **state)
{
	json_t *d = doc();
	char *m = rg_metrics_render(d);

	assert_non_null(m);
	assert_contains(m, "resguard_mode{mode=\"failover\"} 1\n");
	assert_contains(m, "resguard_mode{mode=\"normal\"} 0\n");
	assert_contains(m, "resguard_info{version=\"0.1.0\",agent_id="
	    "\"res\\\"olver-1\"} 1\n");
	assert_contains(m, "resguard_upstream_state{pool=\"primary\","
	    "upstream=\"isp-a\",state=\"down\"} 1\n");
	assert_contains(m, "resguard_upstream_state{pool=\"primary\","
	    "upstream=\"isp-a\",state=\"up\"} 0\n");
	assert_contains(m, "resguard_upstream_rtt_seconds{pool=\"primary\","
	    "upstream=\"isp-a\"} 0.0004");
	assert_contains(m, "# TYPE resguard_mode_changes_total counter\n");
	assert_contains(m, "resguard_mode_changes_total 3\n");
	assert_contains(m, "resguard_blocklist_hits_total 3\n");
	assert_contains(m, "resguard_feed_rules{feed=\"hub\"} 1200\n");
	assert_contains(m, "# TYPE resguard_feed_age_seconds gauge\n");
	assert_contains(m, "resguard_feed_age_seconds{feed=\"hub\"} ");
	assert_contains(m, "resguard_status_code 1\n");
	assert_contains(m, "resguard_guard_blocked_total{kind=\"nxdomain\"} "
	    "2\n");
	assert_contains(m, "resguard_guard_blocked_by_feed_total{feed=\"hub\"} "
	    "3\n");
	assert_contains(m, "resguard_guard_stalls_total{kind=\"over_5ms\"} 2\n");
	assert_contains(m, "resguard_guard_stalls_total{kind=\"cpu_over_5ms\"} "
	    "0\n");
	assert_contains(m, "# TYPE resguard_guard_stall_max_seconds gauge\n");
	assert_contains(m, "resguard_guard_stall_max_seconds{clock=\"wall\"} "
	    "0.007250\n");
	assert_contains(m, "resguard_guard_stall_max_seconds{clock=\"cpu\"} "
	    "0.000500\n");
	assert_contains(m, "resguard_report_queued{reporter=\"hub\"} 4\n");
	assert_contains(m, "resguard_report_delivered_total{reporter=\"hub\"} "
	    "17\n");
	assert_contains(m, "resguard_report_dropped_total{reporter=\"hub\","
	    "kind=\"status\"} 2\n");
	assert_contains(m, "resguard_report_failing{reporter=\"hub\"} 1\n");
	/* No sample for an upstream without a latency yet. */
	assert_null(strstr(m, "upstream=\"dns4eu\"} nan"));
	free(m);
	json_decref(d);
}

#define LAT "resguard_upstream_probe_latency_seconds"

/*
 * The bucket series of UPSTREAM in M: "le" increases and ends with +Inf,
 * the counts never decrease, +Inf equals _count.  Returns the number of
 * buckets and the +Inf count in INF.
 */
static int
check_cumulative(const char *m, const char *upstream, double *inf)
{
	char prefix[160], le[32];
	const char *line;
	double prev_le = -1, prev = -1, v, cnt = -1;
	int n = 0, seen_inf = 0;

	snprintf(prefix, sizeof(prefix), LAT "_bucket{pool=\"primary\","
	    "upstream=\"%s\",le=\"", upstream);
	for (line = m; line != NULL && *line != '\0';
	    line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			if (sscanf(line + strlen(prefix), "%31[^\"]\"} %lf", le,
			    &v) != 2)
				fail_msg("bad bucket line: %.120s", line);
			if (seen_inf)
				fail_msg("bucket after +Inf: %.120s", line);
			if (strcmp(le, "+Inf") == 0)
				seen_inf = 1;
			else if (strtod(le, NULL) <= prev_le)
				fail_msg("le %s not above %g", le, prev_le);
			else
				prev_le = strtod(le, NULL);
			if (v < prev)
				fail_msg("bucket le=%s: %g below %g, not "
				    "cumulative", le, v, prev);
			prev = v;
			n++;
		}
	}
	snprintf(prefix, sizeof(prefix), LAT "_count{pool=\"primary\","
	    "upstream=\"%s\"} ", upstream);
	if ((line = strstr(m, prefix)) != NULL)
		cnt = strtod(line + strlen(prefix), NULL);
	if (!seen_inf)
		fail_msg("no +Inf bucket for %s", upstream);
	if (cnt != prev)
		fail_msg("+Inf bucket %g, _count %g", prev, cnt);
	*inf = prev;
	return n;
}

static void
test_metrics_latency(void **state)
{
	json_t *d = doc();
	char *m = rg_metrics_render(d);
	double inf;

	assert_non_null(m);
	assert_contains(m, "# TYPE " LAT " histogram\n");
	assert_contains(m, LAT "_bucket{pool=\"primary\",upstream=\"isp-a\","
	    "le=\"0.001\"} 0\n");
	assert_contains(m, LAT "_bucket{pool=\"primary\",upstream=\"isp-a\","
	    "le=\"0.0025\"} 2\n");
	assert_contains(m, LAT "_bucket{pool=\"primary\",upstream=\"isp-a\","
	    "le=\"0.025\"} 100\n");
	assert_contains(m, LAT "_bucket{pool=\"primary\",upstream=\"isp-a\","
	    "le=\"2.5\"} 113\n");
	assert_contains(m, LAT "_bucket{pool=\"primary\",upstream=\"isp-a\","
	    "le=\"+Inf\"} 115\n");
	assert_contains(m, LAT "_sum{pool=\"primary\",upstream=\"isp-a\"} "
	    "1.25\n");
	assert_contains(m, LAT "_count{pool=\"primary\",upstream=\"isp-a\"} "
	    "115\n");
	assert_int_equal(check_cumulative(m, "isp-a", &inf), 12);
	/* An upstream without the member gets no series. */
	assert_null(strstr(m, LAT "_count{pool=\"eu\""));
	free(m);
	json_decref(d);
}

static void
test_metrics_promtool(void **state)
{
	char path[] = "/tmp/rg-metrics-XXXXXX", cmd[256];
	json_t *d = doc();
	char *m = rg_metrics_render(d);
	FILE *fp;
	int fd, rc;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		printf("# promtool not installed: lint skipped\n");
		goto out;
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(m, fp);
	fclose(fp);
	/* promtool prints nothing and exits 0 when there is nothing to fix. */
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	rc = system(cmd);
	unlink(path);
	assert_int_equal(rc, 0);
out:
	free(m);
	json_decref(d);
}

static void
test_page_escapes(void **state)
{
	json_t *d = doc();
	json_t *events = json_loads("[{\"time\":\"2026-11-30T10:00:00Z\","
	    "\"type\":\"mode\",\"subject\":\"eu\",\"old\":\"normal\","
	    "\"new\":\"failover\",\"reason\":\"primary <b>down</b>\"}]", 0,
	    NULL);
	json_t *hist = json_loads("{\"isp-a\":[[1796000000,0.4],"
	    "[1796000010,null],[1796000020,0.5]]}", 0, NULL);
	char *p = rg_http_page(d, events, hist);

	assert_non_null(p);
	assert_null(strstr(p, "<script>"));
	assert_contains(p, "&lt;script&gt;alert(1)&lt;/script&gt;");
	assert_contains(p, "primary &lt;b&gt;down&lt;/b&gt;");
	assert_contains(p, "res&quot;olver-1");
	assert_contains(p, "<b id=\"mode\">failover</b>");
	assert_contains(p, "WARNING: failover active");
	assert_contains(p, "<svg class=\"plot\"");
	free(p);
	json_decref(d);
	json_decref(events);
	json_decref(hist);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_lines),
		cmocka_unit_test(test_metrics_latency),
		cmocka_unit_test(test_metrics_promtool),
		cmocka_unit_test(test_page_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

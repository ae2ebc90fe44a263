/*
 * test_feed_rpz.c -- unit tests of the "rpz" feed format plugin, compiled
 * in: triggers (names, wildcards, rpz-ip prefixes in both families),
 * actions, local data gathered by owner, what is ignored, skipped or
 * unsupported and the line it is reported at, $ORIGIN, $TTL and the
 * refused $INCLUDE, the zone's name from the settings or the SOA, names
 * in Unicode, malformed documents, and a callback that stops the parse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "plugin.h"

#ifndef RG_TEST_DATA
#define RG_TEST_DATA "tests/unit/data"
#endif

extern const struct rg_plugin rg_plugin;

#define assert_contains(hay, needle) do {				\
	if (strstr((hay), (needle)) == NULL)				\
		fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
} while (0)

/* A rule as the callback saw it, copied. */
struct got {
	enum rg_feed_trigger trigger;
	char *key;			/* the name or the prefix */
	enum rg_feed_action action;
	char *local;
	char *indicator;
	int tlp;			/* a TLP was given */
};

struct run {
	struct got *rules;
	size_t n, cap;
	size_t calls;
	size_t fail_at;			/* refuse that call (1-based) */
	int fail_rc;
	int count_only;			/* keep no copies */
	struct rg_feed_stats st;
	char msg[256];
	long rc;
};

static char *
dup_or_null(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	assert_non_null(d = strdup(s));
	return d;
}

static int
collect_cb(void *arg, const struct rg_feed_rule *r)
{
	struct run *run = arg;
	struct got *g;

	run->calls++;
	if (run->fail_at != 0 && run->calls == run->fail_at)
		return run->fail_rc;
	assert_non_null(r);
	assert_non_null(r->indicator);
	if (r->trigger == RG_FEED_QNAME) {
		assert_non_null(r->name);
		assert_null(r->prefix);
	} else {
		assert_int_equal(r->trigger, RG_FEED_IP);
		assert_non_null(r->prefix);
		assert_null(r->name);
	}
	if (r->action == RG_FEED_LOCAL)
		assert_non_null(r->local);
	else
		assert_null(r->local);
	if (run->count_only) {
		run->n++;
		return 0;
	}
	if (run->n == run->cap) {
		run->cap = run->cap ? run->cap * 2 : 16;
		assert_non_null(run->rules = realloc(run->rules,
		    run->cap * sizeof(*run->rules)));
	}
	g = &run->rules[run->n++];
	g->trigger = r->trigger;
	g->key = dup_or_null(r->trigger == RG_FEED_QNAME ? r->name :
	    r->prefix);
	g->action = r->action;
	g->local = dup_or_null(r->local);
	g->indicator = dup_or_null(r->indicator);
	g->tlp = r->tlp != NULL;
	return 0;
}

static void
run_free(struct run *run)
{
	size_t i;

	if (!run->count_only)
		for (i = 0; i < run->n; i++) {
			free(run->rules[i].key);
			free(run->rules[i].local);
			free(run->rules[i].indicator);
		}
	free(run->rules);
	memset(run, 0, sizeof(*run));
}

/* Parse ZONE (its LEN bytes) with zone name ORIGIN (or NULL) into RUN. */
static long
parse_len(struct run *run, const char *zone, size_t len, const char *origin)
{
	struct rg_feed_settings s;

	memset(&s, 0, sizeof(s));
	s.name = "test-rpz";
	s.format = "rpz";
	s.origin = origin;
	memset(&run->st, 0, sizeof(run->st));
	memset(run->msg, 'x', sizeof(run->msg));
	run->msg[sizeof(run->msg) - 1] = '\0';
	run->rc = rg_plugin.feed->parse(&s, zone, len, collect_cb, run,
	    &run->st, run->msg, sizeof(run->msg));
	assert_non_null(memchr(run->st.first_skip, '\0',
	    sizeof(run->st.first_skip)));
	if (run->rc >= 0) {
		assert_int_equal(run->rc, run->st.rules);
		if (!run->count_only)
			assert_int_equal(run->n, run->st.rules);
	} else
		assert_true(run->msg[0] != '\0' && run->msg[0] != 'x');
	return run->rc;
}

static long
parse(struct run *run, const char *zone, const char *origin)
{
	return parse_len(run, zone, strlen(zone), origin);
}

/* The rule for KEY (a name or a prefix); fails when there is none. */
static const struct got *
find(const struct run *run, const char *key)
{
	size_t i;

	for (i = 0; i < run->n; i++)
		if (strcmp(run->rules[i].key, key) == 0)
			return &run->rules[i];
	fail_msg("no rule for \"%s\" among %zu", key, run->n);
	return NULL;
}

static int
has(const struct run *run, const char *key)
{
	size_t i;

	for (i = 0; i < run->n; i++)
		if (strcmp(run->rules[i].key, key) == 0)
			return 1;
	return 0;
}

static void
expect_rule(const struct run *run, const char *key,
    enum rg_feed_trigger trigger, enum rg_feed_action action,
    const char *local, const char *indicator)
{
	const struct got *g = find(run, key);

	assert_int_equal(g->trigger, trigger);
	assert_int_equal(g->action, action);
	if (local == NULL)
		assert_null(g->local);
	else {
		assert_non_null(g->local);
		assert_string_equal(g->local, local);
	}
	assert_string_equal(g->indicator, indicator);
	assert_false(g->tlp);
}

static char *
read_data(const char *name, size_t *len)
{
	char path[512], *buf;
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/%s", RG_TEST_DATA, name);
	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((n = ftell(fp)) >= 0);
	rewind(fp);
	assert_non_null(buf = malloc((size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

#define SOA "@ SOA ns.rpz.example. admin.rpz.example. 1 3600 600 86400 300\n"

static void
test_descriptor(void **state)
{
	assert_int_equal(rg_plugin.abi, RG_PLUGIN_ABI);
	assert_string_equal(rg_plugin.name, "rpz");
	assert_int_equal(rg_plugin.kind, RG_PLUGIN_FEED);
	assert_non_null(rg_plugin.feed);
	assert_non_null(rg_plugin.feed->parse);
	assert_null(rg_plugin.backend);
	assert_null(rg_plugin.report);
}

static void
test_qname_triggers(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "$ORIGIN rpz.example.\n" SOA
	    " NS ns.rpz.example.\n"
	    "bad.example CNAME .\n"
	    "*.bad.example CNAME .\n"
	    "Mixed.Case.EXAMPLE.rpz.example. CNAME .\n"
	    "single CNAME .\n", NULL), 4);
	expect_rule(&run, "bad.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN,
	    NULL, "bad.example");
	expect_rule(&run, "*.bad.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN,
	    NULL, "*.bad.example");
	expect_rule(&run, "mixed.case.example", RG_FEED_QNAME,
	    RG_FEED_NXDOMAIN, NULL, "mixed.case.example");
	expect_rule(&run, "single", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "single");
	/* The apex SOA and NS are no rules and no skips. */
	assert_int_equal(run.st.skipped, 0);
	assert_int_equal(run.st.unsupported, 0);
	assert_string_equal(run.st.first_skip, "");
	assert_string_equal(run.msg, "");
	run_free(&run);
}

static void
test_actions(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "nx.example CNAME .\n"
	    "nodata.example CNAME *.\n"
	    "pass.example CNAME rpz-passthru.\n"
	    "drop.example CNAME rpz-drop.\n"
	    "walled.example CNAME Walled.Garden.example.\n"
	    "old.example CNAME old.example.\n"
	    "tcp.example CNAME rpz-tcp-only.\n"
	    "unknown.example CNAME rpz-unknown.\n"
	    "rewrite.example CNAME *.walled.example.\n"
	    "rel.example CNAME target\n", "rpz.example"), 7);
	expect_rule(&run, "nx.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "nx.example");
	expect_rule(&run, "nodata.example", RG_FEED_QNAME, RG_FEED_NODATA,
	    NULL, "nodata.example");
	expect_rule(&run, "pass.example", RG_FEED_QNAME, RG_FEED_PASSTHRU,
	    NULL, "pass.example");
	expect_rule(&run, "drop.example", RG_FEED_QNAME, RG_FEED_DROP, NULL,
	    "drop.example");
	expect_rule(&run, "walled.example", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "CNAME walled.garden.example.", "walled.example");
	/* The older PASSTHRU: a CNAME to the trigger's own name. */
	expect_rule(&run, "old.example", RG_FEED_QNAME, RG_FEED_PASSTHRU, NULL,
	    "old.example");
	/* A relative target is relative to the zone, as in any zone. */
	expect_rule(&run, "rel.example", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "CNAME target.rpz.example.", "rel.example");
	assert_false(has(&run, "tcp.example"));
	assert_false(has(&run, "unknown.example"));
	assert_false(has(&run, "rewrite.example"));
	/* tcp-only and the wildcard rewrite are unsupported; an unknown
	 * rpz- action is an error in the zone. */
	assert_int_equal(run.st.unsupported, 2);
	assert_int_equal(run.st.skipped, 1);
	assert_string_equal(run.st.first_skip, "line 7: tcp.example: the "
	    "rpz-tcp-only action is not supported");
	run_free(&run);
}

static void
test_ip_triggers(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "32.1.2.0.192.rpz-ip CNAME .\n"
	    "24.0.2.0.192.rpz-ip CNAME rpz-drop.\n"
	    "128.1.zz.db8.2001.rpz-ip CNAME .\n"
	    "48.zz.1.db8.2001.rpz-ip CNAME rpz-passthru.\n"
	    "128.8.7.6.5.4.3.2.2001.rpz-ip CNAME .\n"
	    "8.0.0.0.10.rpz-ip CNAME *.\n"
	    "64.zz.CAFE.db8.2001.rpz-ip CNAME .\n"
	    "128.zz.rpz-ip CNAME .\n"
	    "32.7.2.0.192.rpz-ip A 192.0.2.99\n",
	    "rpz.example."), 9);
	expect_rule(&run, "192.0.2.1/32", RG_FEED_IP, RG_FEED_NXDOMAIN, NULL,
	    "32.1.2.0.192.rpz-ip");
	expect_rule(&run, "192.0.2.0/24", RG_FEED_IP, RG_FEED_DROP, NULL,
	    "24.0.2.0.192.rpz-ip");
	expect_rule(&run, "2001:db8::1/128", RG_FEED_IP, RG_FEED_NXDOMAIN,
	    NULL, "128.1.zz.db8.2001.rpz-ip");
	expect_rule(&run, "2001:db8:1::/48", RG_FEED_IP, RG_FEED_PASSTHRU,
	    NULL, "48.zz.1.db8.2001.rpz-ip");
	expect_rule(&run, "2001:2:3:4:5:6:7:8/128", RG_FEED_IP,
	    RG_FEED_NXDOMAIN, NULL, "128.8.7.6.5.4.3.2.2001.rpz-ip");
	expect_rule(&run, "10.0.0.0/8", RG_FEED_IP, RG_FEED_NODATA, NULL,
	    "8.0.0.0.10.rpz-ip");
	expect_rule(&run, "2001:db8:cafe::/64", RG_FEED_IP, RG_FEED_NXDOMAIN,
	    NULL, "64.zz.cafe.db8.2001.rpz-ip");
	expect_rule(&run, "::/128", RG_FEED_IP, RG_FEED_NXDOMAIN, NULL,
	    "128.zz.rpz-ip");
	/* Local data for an address trigger. */
	expect_rule(&run, "192.0.2.7/32", RG_FEED_IP, RG_FEED_LOCAL,
	    "A 192.0.2.99", "32.7.2.0.192.rpz-ip");
	assert_int_equal(run.st.skipped, 0);
	run_free(&run);
}

static void
test_ip_triggers_bad(void **state)
{
	static const struct {
		const char *owner;
		const char *why;
	} bad[] = {
		{ "33.1.2.0.192", "prefix length that is not 1 to 32" },
		{ "0.0.2.0.192", "prefix length that is not 1 to 32" },
		{ "24.1.2.0.192", "host bits set" },
		{ "32.1.2.0.256", "fewer than 8 groups" },
		{ "32.1.2.0.01", "fewer than 8 groups" },
		{ "32.2.0.192", "fewer than 8 groups" },
		{ "129.1.zz.db8.2001", "prefix length that is not 1 to 128" },
		{ "0.zz.2001", "prefix length that is not 1 to 128" },
		{ "64.1.zz.db8.2001", "host bits set" },
		{ "128.zz.1.zz.2001", "two \"zz\"" },
		{ "128.1.2.3.4.5.6.7.8.9", "more than 8 groups" },
		{ "128.12345.zz.2001", "not IPv4 or IPv6" },
		{ "128.g.zz.2001", "not IPv4 or IPv6" },
		{ "32", "without an address" },
		{ "x.1.2.0.192", "prefix length that is not 1 to 32" },
		{ "032.1.2.0.192", "prefix length that is not 1 to 32" },
	};
	struct run run = { 0 };
	char zone[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(zone, sizeof(zone), "ok CNAME .\n%s.rpz-ip CNAME .\n",
		    bad[i].owner);
		assert_int_equal(parse(&run, zone, "rpz.example"), 1);
		if (run.st.skipped != 1)
			fail_msg("%s: skipped %llu", bad[i].owner,
			    (unsigned long long)run.st.skipped);
		assert_contains(run.st.first_skip, "line 2: ");
		assert_contains(run.st.first_skip, bad[i].owner);
		assert_contains(run.st.first_skip, bad[i].why);
		run_free(&run);
	}
}

static void
test_local_data(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "$ORIGIN rpz.example.\n" SOA
	    "portal.example A 192.0.2.1\n"
	    "first.example CNAME .\n"
	    "portal.example AAAA 2001:db8::1\n"
	    "other.example CNAME rpz-drop.\n"
	    "portal.example TXT \"local data of a kind not supported\"\n"
	    "portal.example A 192.0.2.2\n"
	    "*.portal.example AAAA 2001:DB8::2\n"
	    "text.example TXT \"only text\"\n"
	    "text.example MX 10 mail.example.\n", NULL), 4);
	expect_rule(&run, "portal.example", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "A 192.0.2.1\nAAAA 2001:db8::1\nA 192.0.2.2", "portal.example");
	expect_rule(&run, "*.portal.example", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "AAAA 2001:db8::2", "*.portal.example");
	/* Local data comes after the rest, in the order first found. */
	assert_string_equal(run.rules[0].key, "first.example");
	assert_string_equal(run.rules[1].key, "other.example");
	assert_string_equal(run.rules[2].key, "portal.example");
	assert_string_equal(run.rules[3].key, "*.portal.example");
	assert_false(has(&run, "text.example"));
	/* One TXT beside addresses, one TXT and one MX alone. */
	assert_int_equal(run.st.unsupported, 3);
	assert_int_equal(run.st.skipped, 0);
	assert_string_equal(run.st.first_skip, "line 7: portal.example: TXT "
	    "records as local data are not supported");
	run_free(&run);
}

/* Many owners with local data, each one's records in two places. */
static void
test_local_data_many(void **state)
{
	struct run run = { 0 };
	size_t n = 300, i, off = 0, cap = n * 120 + 64;
	char *zone, name[64], local[128];

	assert_non_null(zone = malloc(cap));
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(zone + off, cap - off,
		    "h%zu.example A 192.0.2.%zu\nc%zu.example CNAME .\n", i,
		    i % 256, i);
	for (i = n; i-- > 0;)
		off += (size_t)snprintf(zone + off, cap - off,
		    "h%zu.example AAAA 2001:db8::%zx\n", i, i + 1);
	/* A CNAME after the addresses of its owner spoils them. */
	off += (size_t)snprintf(zone + off, cap - off,
	    "h7.example CNAME .\n");
	assert_int_equal(parse_len(&run, zone, off, "rpz.example"),
	    (long)(2 * n - 1));
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "h%zu.example", i);
		if (i == 7) {
			assert_false(has(&run, name));
			continue;
		}
		snprintf(local, sizeof(local), "A 192.0.2.%zu\nAAAA 2001:db8::%zx",
		    i % 256, i + 1);
		expect_rule(&run, name, RG_FEED_QNAME, RG_FEED_LOCAL, local,
		    name);
		/* In the order first found, after every CNAME rule. */
		assert_string_equal(run.rules[n + i - (i > 7)].key, name);
	}
	assert_int_equal(run.st.skipped, 1);
	run_free(&run);
	free(zone);
}

static void
test_cname_and_other_data(void **state)
{
	struct run run = { 0 };

	/* At one owner together, and apart with the addresses first. */
	assert_int_equal(parse(&run,
	    "both.example CNAME .\n"
	    "both.example A 192.0.2.1\n"
	    "apart.example A 192.0.2.2\n"
	    "ok.example CNAME .\n"
	    "apart.example CNAME rpz-passthru.\n"
	    "two.example CNAME .\n"
	    "two.example CNAME rpz-drop.\n"
	    "txt.example CNAME .\n"
	    "txt.example TXT \"x\"\n", "rpz.example"), 1);
	expect_rule(&run, "ok.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "ok.example");
	assert_int_equal(run.st.skipped, 4);
	assert_int_equal(run.st.unsupported, 0);
	assert_string_equal(run.st.first_skip, "line 1: both.example: a "
	    "CNAME and other data");
	run_free(&run);
}

static void
test_dnssec_and_class(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "$ORIGIN rpz.example.\n" SOA
	    "@ DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxp"
	    "VXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n"
	    "@ NSEC bad.example.rpz.example. SOA NS RRSIG NSEC DNSKEY\n"
	    "bad.example CNAME .\n"
	    "bad.example RRSIG CNAME 13 4 300 20250101000000 20240101000000 "
	    "12345 rpz.example. dGVzdA==\n"
	    "bad.example NSEC chaos.example.rpz.example. CNAME RRSIG NSEC\n"
	    "chaos.example CH A 192.0.2.1\n"
	    "sub.example NS ns.elsewhere.\n", NULL), 1);
	expect_rule(&run, "bad.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "bad.example");
	assert_int_equal(run.st.skipped, 1);
	assert_int_equal(run.st.unsupported, 1);
	assert_string_equal(run.st.first_skip, "line 8: chaos.example: a "
	    "record not of class IN");
	run_free(&run);
}

static void
test_unsupported_triggers(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "ns.evil.example.rpz-nsdname CNAME .\n"
	    "*.evil.example.rpz-nsdname CNAME .\n"
	    "32.1.2.0.192.rpz-nsip CNAME .\n"
	    "32.7.0.0.10.rpz-client-ip CNAME rpz-drop.\n"
	    "32.7.0.0.10.rpz-client-ip TXT \"same owner, counted once\"\n"
	    "fine.example CNAME .\n", "rpz.example"), 1);
	assert_int_equal(run.st.unsupported, 4);
	assert_int_equal(run.st.skipped, 0);
	assert_contains(run.st.first_skip, "line 1: ns.evil.example."
	    "rpz-nsdname: ");
	assert_contains(run.st.first_skip, "not supported");
	expect_rule(&run, "fine.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN,
	    NULL, "fine.example");
	run_free(&run);
}

static void
test_bad_names(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "a.*.example CNAME .\n"
	    "outside.example. CNAME .\n"
	    "x\\.y.example CNAME .\n"
	    "sp\\032ace.example CNAME .\n"
	    "rpz.example.evil. CNAME .\n"
	    "good.example CNAME .\n", "rpz.example"), 1);
	assert_int_equal(run.st.skipped, 5);
	assert_string_equal(run.st.first_skip, "line 1: a.*.example: \"*\" "
	    "not as the first label of a name below the zone's");
	expect_rule(&run, "good.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN,
	    NULL, "good.example");
	assert_false(has(&run, "outside.example"));
	run_free(&run);

	assert_int_equal(parse(&run, "outside.example. CNAME .\n",
	    "rpz.example"), 0);
	assert_string_equal(run.st.first_skip, "line 1: outside.example.: "
	    "not in the zone");
	run_free(&run);

	/* "*" alone would be every name there is. */
	assert_int_equal(parse(&run, "* CNAME .\n*.x CNAME .\n", "rpz.example"),
	    1);
	assert_true(has(&run, "*.x"));
	assert_string_equal(run.st.first_skip, "line 1: *: a wildcard of "
	    "every name is refused");
	run_free(&run);

	/* A zone at the root: every name is below it. */
	assert_int_equal(parse(&run, "bad.example. CNAME .\n"
	    "32.1.2.0.192.rpz-ip. CNAME .\n", "."), 2);
	assert_true(has(&run, "bad.example"));
	assert_true(has(&run, "192.0.2.1/32"));
	run_free(&run);

	/* Any byte may be in a name; the description stays printable. */
	assert_int_equal(parse(&run, "a\\010b\\200.example CNAME .\n",
	    "rpz.example"), 0);
	assert_int_equal(run.st.skipped, 1);
	assert_string_equal(run.st.first_skip, "line 1: a?b?.example: a "
	    "character not taken in a name");
	run_free(&run);
}

/* Names in Unicode, raw or escaped: their punycode, after "*." only. */
static void
test_idn(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "$ORIGIN rpz.example.\n" SOA
	    "b\xc3\xbc" "cher.example CNAME .\n"
	    "*.m\xc3\xbc" "nchen.example CNAME rpz-drop.\n"
	    "B\xc3\x9c" "CHER.net CNAME rpz-passthru.\n"
	    "fa\\195\\159.example CNAME .\n"
	    "portal.\xe4\xbe\x8b\xe3\x81\x88.example A 192.0.2.1\n"
	    "walled.example CNAME B\xc3\x9c" "cher.example.\n"
	    "m\xc3\xbc" "nchen.example CNAME xn--mnchen-3ya.example.\n"
	    "xn--mnchen-3ya.net CNAME m\xc3\xbc" "nchen.net.\n"
	    "b\xef\xbf\xbd" "cher.example CNAME .\n"
	    "target.example CNAME b\xef\xbf\xbd" "cher.example.\n"
	    "\\255.example CNAME .\n"
	    "ok.example CNAME .\n", NULL), 9);
	expect_rule(&run, "xn--bcher-kva.example", RG_FEED_QNAME,
	    RG_FEED_NXDOMAIN, NULL, "xn--bcher-kva.example");
	expect_rule(&run, "*.xn--mnchen-3ya.example", RG_FEED_QNAME,
	    RG_FEED_DROP, NULL, "*.xn--mnchen-3ya.example");
	expect_rule(&run, "xn--bcher-kva.net", RG_FEED_QNAME,
	    RG_FEED_PASSTHRU, NULL, "xn--bcher-kva.net");
	expect_rule(&run, "xn--fa-hia.example", RG_FEED_QNAME,
	    RG_FEED_NXDOMAIN, NULL, "xn--fa-hia.example");
	expect_rule(&run, "portal.xn--r8jz45g.example", RG_FEED_QNAME,
	    RG_FEED_LOCAL, "A 192.0.2.1", "portal.xn--r8jz45g.example");
	/* A target in Unicode is local data in punycode. */
	expect_rule(&run, "walled.example", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "CNAME xn--bcher-kva.example.", "walled.example");
	/* The older PASSTHRU, the two names in different forms. */
	expect_rule(&run, "xn--mnchen-3ya.example", RG_FEED_QNAME,
	    RG_FEED_PASSTHRU, NULL, "xn--mnchen-3ya.example");
	expect_rule(&run, "xn--mnchen-3ya.net", RG_FEED_QNAME,
	    RG_FEED_PASSTHRU, NULL, "xn--mnchen-3ya.net");
	expect_rule(&run, "ok.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "ok.example");
	/* A disallowed code point, as the trigger and as the target; a
	 * byte that is no UTF-8. */
	assert_int_equal(run.st.skipped, 3);
	assert_int_equal(run.st.unsupported, 0);
	assert_string_equal(run.st.first_skip, "line 11: b???cher.example: "
	    "an invalid internationalized name (string contains a disallowed "
	    "character)");
	run_free(&run);

	assert_int_equal(parse(&run,
	    "target.example CNAME b\xef\xbf\xbd" "cher.example.\n"
	    "\\255.example CNAME .\n", "rpz.example"), 0);
	assert_int_equal(run.st.skipped, 2);
	assert_string_equal(run.st.first_skip, "line 1: target.example: a "
	    "CNAME target not taken as local data: an invalid "
	    "internationalized name (string contains a disallowed "
	    "character)");
	run_free(&run);
	assert_int_equal(parse(&run, "\\255.example CNAME .\n",
	    "rpz.example"), 0);
	assert_string_equal(run.st.first_skip, "line 1: ?.example: an "
	    "invalid internationalized name (string encoding error)");
	run_free(&run);
}

/* Records that cannot be read: counted and reported at their line. */
static void
test_bad_records(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "$TTL 300\n"					/* 1 */
	    "@ SOA ns.rpz.example. admin.rpz.example. (\n"	/* 2 */
	    "\t1 ; serial\n"					/* 3 */
	    "\t3600 600 86400 300 )\n"				/* 4 */
	    "\n"						/* 5 */
	    "; a comment\n"					/* 6 */
	    "\n"						/* 7 */
	    "one.example CNAME .\n"				/* 8 */
	    "broken.example A 192.0.2\n"			/* 9 */
	    "\n"						/* 10 */
	    "two.example CNAME .\n"				/* 11 */
	    "  ; indented comment\n"				/* 12 */
	    "three.example BOGUSTYPE x\n"			/* 13 */
	    "four.example CNAME .\n"				/* 14 */
	    "five.example A 192.0.2.1 extra\n",			/* 15 */
	    "rpz.example"), 3);
	assert_int_equal(run.st.skipped, 3);
	assert_contains(run.st.first_skip, "line 9: ");
	expect_rule(&run, "one.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "one.example");
	expect_rule(&run, "four.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN,
	    NULL, "four.example");
	run_free(&run);

	/* The first bad record after a multi-line record and blank lines. */
	assert_int_equal(parse(&run,
	    "\n\n"
	    "@ SOA ns.rpz.example. admin.rpz.example. (\n"
	    "  1 2 3 4 5 )\n"
	    "\n"
	    "ok.example CNAME .\n"
	    "\n\n"
	    "bad.example BOGUSTYPE x\n", "rpz.example"), 1);
	assert_int_equal(run.st.skipped, 1);
	assert_contains(run.st.first_skip, "line 9: ");
	run_free(&run);

	/* CRLF line ends count like LF ones. */
	assert_int_equal(parse(&run,
	    "ok.example CNAME .\r\n\r\nbad.example A x\r\n", "rpz.example"),
	    1);
	assert_contains(run.st.first_skip, "line 3: ");
	run_free(&run);
}

static void
test_origin_directives(void **state)
{
	struct run run = { 0 };

	assert_int_equal(parse(&run,
	    "$ORIGIN rpz.example.\n"
	    SOA
	    "a.example CNAME .\n"
	    "$ORIGIN sub.rpz.example.\n"
	    "b CNAME .\n"
	    "$ORIGIN deeper\n"
	    "c CNAME .\n"
	    "@ CNAME rpz-drop.\n"
	    "$ORIGIN rpz.example.\n"
	    "d.example. CNAME .\n"
	    "$TTL 60\n"
	    "e CNAME .\n"
	    "\tCNAME rpz-passthru.\n"
	    "$ORIGIN bad..name.\n"
	    "f CNAME .\n", NULL), 5);
	expect_rule(&run, "a.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "a.example");
	expect_rule(&run, "b.sub", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "b.sub");
	/* A relative $ORIGIN is relative to the one before it. */
	expect_rule(&run, "c.deeper.sub", RG_FEED_QNAME, RG_FEED_NXDOMAIN,
	    NULL, "c.deeper.sub");
	expect_rule(&run, "deeper.sub", RG_FEED_QNAME, RG_FEED_DROP, NULL,
	    "deeper.sub");
	/* d.example. is absolute: outside the zone. */
	assert_false(has(&run, "d.example"));
	/* A bad $ORIGIN is skipped and the one before it stays. */
	expect_rule(&run, "f", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL, "f");
	/* e has two CNAMEs (the blank owner repeats it): no rule. */
	assert_false(has(&run, "e"));
	assert_int_equal(run.st.skipped, 3);
	assert_string_equal(run.st.first_skip, "line 10: d.example.: not in "
	    "the zone");
	run_free(&run);
}

static void
test_include_refused(void **state)
{
	struct run run = { 0 };
	char zone[1024], *inc;
	size_t len;

	/* The file exists and holds a rule: it must not be read. */
	inc = read_data("rpz/included.rpz", &len);
	assert_non_null(strstr(inc, "included.example"));
	free(inc);
	snprintf(zone, sizeof(zone),
	    "$ORIGIN rpz.example.\n" SOA
	    "before.example CNAME .\n"
	    "$INCLUDE %s/rpz/included.rpz\n"
	    "$INCLUDE %s/rpz/included.rpz rpz.example.\n"
	    "after.example CNAME .\n", RG_TEST_DATA, RG_TEST_DATA);
	assert_int_equal(parse(&run, zone, NULL), 2);
	assert_true(has(&run, "before.example"));
	assert_true(has(&run, "after.example"));
	assert_false(has(&run, "included.example"));
	assert_int_equal(run.st.skipped, 2);
	assert_string_equal(run.st.first_skip, "line 4: $INCLUDE refused: a "
	    "feed does not read files");
	run_free(&run);
}

static void
test_zone_name(void **state)
{
	struct run run = { 0 };

	/* From the SOA, which must come first. */
	assert_int_equal(parse(&run,
	    "; the zone\n"
	    "rpz.example. 300 IN SOA ns. admin. 1 2 3 4 5\n"
	    "x.example.rpz.example. CNAME .\n"
	    "y.example CNAME .\n", NULL), 2);
	assert_true(has(&run, "x.example"));
	/* Relative names are relative to the SOA's owner. */
	assert_true(has(&run, "y.example"));
	run_free(&run);

	assert_int_equal(parse(&run, "x.example.rpz.example. CNAME .\n"
	    "rpz.example. SOA ns. admin. 1 2 3 4 5\n", NULL), -EINVAL);
	assert_string_equal(run.msg, "line 1: no SOA and no zone name");
	assert_int_equal(run.n, 0);
	run_free(&run);

	/* An SOA of another zone than the one configured. */
	assert_int_equal(parse(&run, "other.example. SOA ns. admin. 1 2 3 4 5\n"
	    "x CNAME .\n", "rpz.example"), -EINVAL);
	assert_contains(run.msg, "line 1: ");
	assert_contains(run.msg, "rpz.example");
	run_free(&run);

	/* The configured name, in another case, with an SOA that agrees. */
	assert_int_equal(parse(&run, "RPZ.Example. SOA ns. admin. 1 2 3 4 5\n"
	    "x.example.rpz.example. CNAME .\n", "rpz.EXAMPLE."), 1);
	assert_true(has(&run, "x.example"));
	run_free(&run);

	/* A zone name that is none. */
	assert_int_equal(parse(&run, "x CNAME .\n", "bad..name"), -EINVAL);
	assert_contains(run.msg, "bad..name");
	run_free(&run);

	/* No records at all: nothing to do, whatever the settings. */
	assert_int_equal(parse(&run, "", NULL), 0);
	assert_int_equal(parse(&run, "; comments only\n\n$TTL 300\n", NULL),
	    0);
	assert_int_equal(run.st.skipped, 0);
	run_free(&run);
}

static void
test_malformed(void **state)
{
	static const char *const docs[] = {
		"hello world\nthis is not a zone\n",
		"<html>\n<body>502 Bad Gateway</body>\n</html>\n",
		"{\"type\": \"bundle\", \"objects\": []}\n",
		"||ads.example^\n@@||ok.example^\n",
		"0.0.0.0 ads.example\n",
		"x CNAME\n",
		"$INCLUDE /etc/passwd\n",
	};
	static const char binary[] = "\0\x01\x02 A \xff\xfe\n\0\0\nCNAME";
	struct run run = { 0 };
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		if (parse(&run, docs[i], "rpz.example") != -EINVAL)
			fail_msg("document %zu: %ld, not -EINVAL", i, run.rc);
		assert_contains(run.msg, "nothing could be read");
		assert_int_equal(run.n, 0);
		run_free(&run);
	}
	assert_int_equal(parse_len(&run, binary, sizeof(binary) - 1,
	    "rpz.example"), -EINVAL);
	run_free(&run);
	/* No callback, no document. */
	assert_int_equal(rg_plugin.feed->parse(NULL, NULL, 3, collect_cb,
	    &run, &run.st, run.msg, sizeof(run.msg)), -EINVAL);
	assert_int_equal(rg_plugin.feed->parse(NULL, "x", 1, NULL, &run,
	    &run.st, run.msg, sizeof(run.msg)), -EINVAL);
}

static void
test_emit_error(void **state)
{
	struct run run = { 0 };
	const char *zone = "a.example CNAME .\n"
	    "b.example CNAME .\n"
	    "c.example CNAME .\n"
	    "l.example A 192.0.2.1\n"
	    "d.example CNAME .\n";

	run.fail_at = 2;
	run.fail_rc = -ENOSPC;
	assert_int_equal(parse(&run, zone, "rpz.example"), -ENOSPC);
	assert_int_equal(run.calls, 2);
	assert_int_equal(run.n, 1);
	assert_int_equal(run.st.rules, 1);
	assert_contains(run.msg, "line 2: ");
	assert_contains(run.msg, "b.example");
	run_free(&run);

	/* Refused in the local data, emitted last. */
	run.fail_at = 5;
	run.fail_rc = -ECANCELED;
	assert_int_equal(parse(&run, zone, "rpz.example"), -ECANCELED);
	assert_int_equal(run.calls, 5);
	assert_int_equal(run.st.rules, 4);
	assert_contains(run.msg, "l.example");
	run_free(&run);
}

static void
test_sample_file(void **state)
{
	struct run run = { 0 };
	char *zone;
	size_t len;

	zone = read_data("rpz/sample.rpz", &len);
	assert_int_equal(parse_len(&run, zone, len, NULL), 10);
	expect_rule(&run, "phish.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN,
	    NULL, "phish.example");
	expect_rule(&run, "*.phish.example", RG_FEED_QNAME, RG_FEED_NXDOMAIN,
	    NULL, "*.phish.example");
	expect_rule(&run, "c2.example", RG_FEED_QNAME, RG_FEED_NODATA, NULL,
	    "c2.example");
	expect_rule(&run, "allowed.example", RG_FEED_QNAME, RG_FEED_PASSTHRU,
	    NULL, "allowed.example");
	expect_rule(&run, "sink.example", RG_FEED_QNAME, RG_FEED_DROP, NULL,
	    "sink.example");
	expect_rule(&run, "walled.example", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "CNAME garden.hub.example.", "walled.example");
	expect_rule(&run, "portal.example", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "A 192.0.2.80\nAAAA 2001:db8::80", "portal.example");
	expect_rule(&run, "192.0.2.66/32", RG_FEED_IP, RG_FEED_NXDOMAIN, NULL,
	    "32.66.2.0.192.rpz-ip");
	expect_rule(&run, "198.51.100.0/24", RG_FEED_IP, RG_FEED_DROP, NULL,
	    "24.0.100.51.198.rpz-ip");
	expect_rule(&run, "2001:db8:1::/64", RG_FEED_IP, RG_FEED_NXDOMAIN,
	    NULL, "64.zz.1.db8.2001.rpz-ip");
	assert_int_equal(run.st.unsupported, 2);
	assert_int_equal(run.st.skipped, 0);
	assert_contains(run.st.first_skip, "line 32: ns.bad.example.rpz-nsdname");
	run_free(&run);

	/* The same text with the zone's name given (a zone transfer). */
	assert_int_equal(parse_len(&run, zone, len, "rpz.hub.example"), 10);
	run_free(&run);
	free(zone);
}

/* Many records, as a national feed has: every one becomes a rule. */
static void
test_many_records(void **state)
{
	struct run run = { 0 };
	size_t n = 20000, i, off = 0, cap = n * 48 + 128;
	char *zone;

	assert_non_null(zone = malloc(cap));
	off += (size_t)snprintf(zone + off, cap - off,
	    "$ORIGIN rpz.example.\n" SOA);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(zone + off, cap - off,
		    "name%zu.example.rpz.example. 300 CNAME .\n", i);
	run.count_only = 1;
	assert_int_equal(parse_len(&run, zone, off, NULL), (long)n);
	assert_int_equal(run.n, n);
	assert_int_equal(run.st.skipped, 0);
	run_free(&run);
	free(zone);
}

/*
 * Lines of the common shape are read without ldns, the others by it; the
 * two take turns without a seam: the owner of a line that starts blank is
 * the last one read by either, a new $ORIGIN applies to the lines after
 * it, carriage returns are spaces, ldns skips the line separators after a
 * record and not an empty line or a comment before one, and errors name
 * their line whichever read the lines before.
 */
static void
test_mixed_lines(void **state)
{
	static const char zone[] =
	    "$ORIGIN rpz.example.\n"					/* 1 */
	    "@ 3600 IN SOA ns.example. h.example. ( 1 3600\n"
	    "  600 86400 60 )\n"
	    "@ NS ns.example.\n"
	    "one CNAME .\n"						/* 5 */
	    "two.rpz.example. 60 IN CNAME *.\n"
	    "THREE\tcname\trpz-drop. ; a comment\n"
	    "four ( CNAME\n"
	    "  rpz-passthru. )\n"
	    " A 192.0.2.4\n"						/* 10 */
	    "five A 192.0.2.5\n"
	    "\tAAAA 2001:db8::5\n"
	    "$ORIGIN sub\n"
	    "six CNAME .\r\n"
	    "seven 1h CNAME garden.example.\n"				/* 15 */
	    "; a comment\n"
	    "\n"
	    "eight\tin\tCNAME\t@\n"
	    "nine CNAME . extra\n"
	    "ten CNAME .\n";						/* 20 */
	struct run run;

	(void)state;
	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run, zone, NULL), 8);
	expect_rule(&run, "one", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL, "one");
	expect_rule(&run, "two", RG_FEED_QNAME, RG_FEED_NODATA, NULL, "two");
	expect_rule(&run, "three", RG_FEED_QNAME, RG_FEED_DROP, NULL,
	    "three");
	/* four has a CNAME (read by ldns) and, on a line that starts
	 * blank, an A record: no rule. */
	assert_false(has(&run, "four"));
	expect_rule(&run, "five", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "A 192.0.2.5\nAAAA 2001:db8::5", "five");
	expect_rule(&run, "six.sub", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "six.sub");
	expect_rule(&run, "seven.sub", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "CNAME garden.example.", "seven.sub");
	/* A CNAME to the zone's name is local data pointing at it. */
	expect_rule(&run, "eight.sub", RG_FEED_QNAME, RG_FEED_LOCAL,
	    "CNAME sub.rpz.example.", "eight.sub");
	assert_false(has(&run, "nine.sub"));
	expect_rule(&run, "ten.sub", RG_FEED_QNAME, RG_FEED_NXDOMAIN, NULL,
	    "ten.sub");
	assert_int_equal(run.st.skipped, 2);
	assert_contains(run.st.first_skip, "line 8: four: a CNAME and other "
	    "data");
	run_free(&run);

	/* The error of a line ldns refuses after lines read without it. */
	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run, "one CNAME .\ntwo CNAME .\n\n"
	    "three CNAME . extra\n", "rpz.example"), 2);
	assert_int_equal(run.st.skipped, 1);
	assert_contains(run.st.first_skip, "line 4: ");
	run_free(&run);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test(test_qname_triggers),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_ip_triggers),
		cmocka_unit_test(test_ip_triggers_bad),
		cmocka_unit_test(test_local_data),
		cmocka_unit_test(test_local_data_many),
		cmocka_unit_test(test_cname_and_other_data),
		cmocka_unit_test(test_dnssec_and_class),
		cmocka_unit_test(test_unsupported_triggers),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_origin_directives),
		cmocka_unit_test(test_include_refused),
		cmocka_unit_test(test_zone_name),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_emit_error),
		cmocka_unit_test(test_sample_file),
		cmocka_unit_test(test_many_records),
		cmocka_unit_test(test_mixed_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

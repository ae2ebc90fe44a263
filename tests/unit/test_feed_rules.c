/*
 * test_feed_rules.c -- unit tests of the rules of one feed document, as a
 * rebuild keeps them from the parse that checks a new document to the
 * build (rg_feed_rules_parse(), rg_feed_rules_build()): every rule a
 * format hands over comes out of the snapshot as it went in (name or
 * prefix, action, indicator, TLP, local data); the feed's policy, the
 * refusal of rules that block too much and of names the builder refuses
 * are counted as before; past the feed's max-rules the rules are counted,
 * not kept; many rules and large ones go through.  The formats are a fake
 * one here and the built-in domains list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "blocklist.h"
#include "feeds.h"

#define assert_contains(hay, needle) do {				\
	if (strstr((hay), (needle)) == NULL)				\
		fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
} while (0)

/* The rules the fake format hands over for document "kinds". */
static const struct rg_feed_rule kinds[] = {
	{ RG_FEED_QNAME, "self.example", NULL, RG_FEED_NXDOMAIN, NULL,
	    "self.example", NULL },
	{ RG_FEED_QNAME, "line.example", NULL, RG_FEED_POLICY, NULL,
	    "line 12", NULL },
	{ RG_FEED_QNAME, "zero.example", NULL, RG_FEED_POLICY, NULL,
	    "line 007", NULL },
	{ RG_FEED_QNAME, "huge.example", NULL, RG_FEED_POLICY, NULL,
	    "line 18446744073709551615", NULL },
	/* A line number kept in ten bytes, and the rule after it. */
	{ RG_FEED_QNAME, "huger.example", NULL, RG_FEED_POLICY, NULL,
	    "line 9999999999999999999", NULL },
	{ RG_FEED_QNAME, "after.example", NULL, RG_FEED_NODATA, NULL,
	    "line 5", NULL },
	/* The private section of the Public Suffix List may be blocked. */
	{ RG_FEED_QNAME, "github.io", NULL, RG_FEED_POLICY, NULL, "private",
	    NULL },
	{ RG_FEED_QNAME, "word.example", NULL, RG_FEED_POLICY, NULL,
	    "line x", NULL },
	{ RG_FEED_QNAME, "none.example", NULL, RG_FEED_DROP, NULL, NULL,
	    NULL },
	{ RG_FEED_QNAME, "empty.example", NULL, RG_FEED_NODATA, NULL, "",
	    "" },
	{ RG_FEED_QNAME, "*.marked.example", NULL, RG_FEED_POLICY, NULL,
	    "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "amber+strict" },
	{ RG_FEED_QNAME, "local.example", NULL, RG_FEED_LOCAL,
	    "A 192.0.2.1\nAAAA 2001:db8::1", "local.example", "red" },
	{ RG_FEED_QNAME, "com", NULL, RG_FEED_PASSTHRU, NULL, "com", NULL },
	{ RG_FEED_IP, NULL, "192.0.2.0/24", RG_FEED_POLICY, NULL,
	    "32.0.2.0.192.rpz-ip", "green" },
	{ RG_FEED_IP, NULL, "2001:db8::/32", RG_FEED_LOCAL, "A 192.0.2.9",
	    NULL, NULL },
	/* Refused when parsed: an unknown action, too wide. */
	{ RG_FEED_QNAME, "bad-action.example", NULL, RG_FEED_ACTION_COUNT,
	    NULL, NULL, NULL },
	{ RG_FEED_QNAME, "co.uk", NULL, RG_FEED_POLICY, NULL, "wide", NULL },
	{ RG_FEED_QNAME, "zz", NULL, RG_FEED_POLICY, NULL, "wide", NULL },
	{ RG_FEED_IP, NULL, "10.0.0.0/7", RG_FEED_POLICY, NULL, "wide",
	    NULL },
	/* Refused when built: no name, not a name, local data missing. */
	{ RG_FEED_QNAME, NULL, NULL, RG_FEED_POLICY, NULL, "no name", NULL },
	{ RG_FEED_QNAME, "a..b.example", NULL, RG_FEED_POLICY, NULL, NULL,
	    NULL },
	{ RG_FEED_QNAME, "nolocal.example", NULL, RG_FEED_LOCAL, NULL, NULL,
	    NULL },
	{ RG_FEED_IP, NULL, NULL, RG_FEED_POLICY, NULL, NULL, NULL },
};
#define N_KINDS		(sizeof(kinds) / sizeof(kinds[0]))
#define N_PARSE_REFUSED	4
#define N_BUILD_REFUSED	4

#define MANY		100000

/*
 * The fake format: document "kinds" is the rules above; "many" is MANY
 * rules with indicators of 120 bytes (several chunks of rules); "big" is
 * one rule whose local data is larger than a chunk; "fail" is a document
 * that does not read.
 */
static long
fake_parse(const struct rg_feed_settings *s, const char *data, size_t len,
    rg_feed_emit_cb *emit, void *arg, struct rg_feed_stats *st, char *msg,
    size_t msglen)
{
	struct rg_feed_rule r;
	char name[64], ind[128], *big;
	size_t i;
	long n = 0;
	int rc;

	(void)s;
	if (len == 4 && memcmp(data, "fail", 4) == 0) {
		snprintf(msg, msglen, "line 3: not a document");
		return -EINVAL;
	}
	if (len == 5 && memcmp(data, "kinds", 5) == 0) {
		for (i = 0; i < N_KINDS; i++, n++) {
			if ((rc = emit(arg, &kinds[i])) < 0)
				return rc;
			st->rules++;
		}
		return n;
	}
	memset(&r, 0, sizeof(r));
	r.trigger = RG_FEED_QNAME;
	r.action = RG_FEED_POLICY;
	if (len == 3 && memcmp(data, "big", 3) == 0) {
		assert_non_null(big = malloc(2 * 1024 * 1024));
		memset(big, 'x', 2 * 1024 * 1024 - 1);
		big[2 * 1024 * 1024 - 1] = '\0';
		r.name = "big.example";
		r.indicator = big;
		rc = emit(arg, &r);
		free(big);
		return rc < 0 ? rc : 1;
	}
	for (i = 0; i < MANY; i++, n++) {
		snprintf(name, sizeof(name), "n%zu.many.example", i);
		snprintf(ind, sizeof(ind), "%0120zu", i);
		r.name = name;
		r.indicator = ind;
		if ((rc = emit(arg, &r)) < 0)
			return rc;
		st->rules++;
	}
	return n;
}

static const struct rg_feed_ops fake = { .parse = fake_parse };

/* DOC of format OPS (NULL: domains) through the rules into a snapshot of
 * feed 1 (feed 0 as a rebuild has it), with MAX rules kept; the count the
 * parse returned in *COUNTED, what was said in ST. */
static struct rg_blocklist *
apply(const struct rg_feed_ops *ops, const char *doc, uint64_t max,
    long *counted, struct rg_feed_stats *st)
{
	struct rg_feed_settings s;
	struct rg_feed_rules *rules;
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	char err[256];

	memset(&s, 0, sizeof(s));
	s.name = "hub";
	s.format = ops != NULL ? "fake" : "domains";
	*counted = rg_feed_rules_parse(ops, &s, RG_ACTION_SINKHOLE, max, doc,
	    strlen(doc), &rules, st, err, sizeof(err));
	if (*counted < 0)
		fail_msg("parse: %s", err);
	assert_non_null(rules);
	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(rg_bl_builder_feed(b, "protected"), 0);
	assert_int_equal(rg_bl_builder_feed(b, "hub"), 1);
	assert_int_equal(rg_feed_rules_build(rules, b, 1, st), 0);
	assert_non_null(bl = rg_bl_build(b));
	return bl;
}

/* NAME matches with ACTION, INDICATOR, TLP and LOCAL (NULL: none). */
static void
expect(const struct rg_blocklist *bl, const char *name, enum rg_action action,
    const char *indicator, const char *tlp, const char *local)
{
	struct rg_bl_match m;

	memset(&m, 0, sizeof(m));
	if (rg_bl_lookup_str(bl, name, &m) != 1)
		fail_msg("%s: no match", name);
	assert_string_equal(m.feed, "hub");
	assert_int_equal(m.action, action);
#define SAME(got, want) do {						\
	if ((want) == NULL)						\
		assert_null(got);					\
	else if ((got) == NULL)						\
		fail_msg("%s: %s is NULL, not \"%s\"", name, #got, (want)); \
	else								\
		assert_string_equal((got), (want));			\
} while (0)
	SAME(m.indicator, indicator);
	SAME(m.tlp, tlp);
	SAME(m.local, local);
}

static void
test_kinds(void **state)
{
	struct rg_feed_stats st;
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	uint8_t a4[4], a6[16];
	long counted;

	(void)state;
	bl = apply(&fake, "kinds", 1000, &counted, &st);
	/* Counted as the check counts: all but those refused at once. */
	assert_int_equal(counted, N_KINDS - N_PARSE_REFUSED);
	assert_int_equal(st.rules, N_KINDS);
	assert_int_equal(st.skipped, N_PARSE_REFUSED + N_BUILD_REFUSED);
	assert_contains(st.first_skip, "would block too much");
	assert_int_equal(rg_bl_entries(bl), N_KINDS - N_PARSE_REFUSED -
	    N_BUILD_REFUSED);
	assert_int_equal(rg_bl_feed_entries(bl, 1), rg_bl_entries(bl));

	expect(bl, "self.example", RG_ACTION_NXDOMAIN, "self.example", NULL,
	    NULL);
	expect(bl, "line.example", RG_ACTION_SINKHOLE, "line 12", NULL, NULL);
	expect(bl, "zero.example", RG_ACTION_SINKHOLE, "line 007", NULL,
	    NULL);
	expect(bl, "huge.example", RG_ACTION_SINKHOLE,
	    "line 18446744073709551615", NULL, NULL);
	expect(bl, "huger.example", RG_ACTION_SINKHOLE,
	    "line 9999999999999999999", NULL, NULL);
	expect(bl, "after.example", RG_ACTION_NODATA, "line 5", NULL, NULL);
	expect(bl, "github.io", RG_ACTION_SINKHOLE, "private", NULL, NULL);
	assert_int_equal(rg_bl_lookup_str(bl, "zz", NULL), 0);
	expect(bl, "word.example", RG_ACTION_SINKHOLE, "line x", NULL, NULL);
	expect(bl, "none.example", RG_ACTION_DROP, NULL, NULL, NULL);
	expect(bl, "empty.example", RG_ACTION_NODATA, "", NULL, NULL);
	expect(bl, "x.marked.example", RG_ACTION_SINKHOLE,
	    "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
	    "amber+strict", NULL);
	expect(bl, "local.example", RG_ACTION_LOCAL, "local.example", "red",
	    "A 192.0.2.1\nAAAA 2001:db8::1");
	expect(bl, "com", RG_ACTION_PASSTHRU, "com", NULL, NULL);
	assert_int_equal(rg_bl_lookup_str(bl, "co.uk", NULL), 0);
	assert_int_equal(rg_bl_lookup_str(bl, "bad-action.example", NULL), 0);
	assert_int_equal(rg_bl_lookup_str(bl, "nolocal.example", NULL), 0);

	inet_pton(AF_INET, "192.0.2.77", a4);
	memset(&m, 0, sizeof(m));
	assert_int_equal(rg_bl_lookup_ip(bl, AF_INET, a4, &m), 1);
	assert_string_equal(m.rule, "192.0.2.0/24");
	assert_int_equal(m.action, RG_ACTION_SINKHOLE);
	assert_string_equal(m.indicator, "32.0.2.0.192.rpz-ip");
	assert_string_equal(m.tlp, "green");
	inet_pton(AF_INET6, "2001:db8:1::1", a6);
	assert_int_equal(rg_bl_lookup_ip(bl, AF_INET6, a6, &m), 1);
	assert_int_equal(m.action, RG_ACTION_LOCAL);
	assert_null(m.indicator);
	assert_string_equal(m.local, "A 192.0.2.9");
	inet_pton(AF_INET, "10.1.1.1", a4);
	assert_int_equal(rg_bl_lookup_ip(bl, AF_INET, a4, NULL), 0);
	rg_bl_free(bl);
}

/* Past MAX, rules are counted and not kept: the check refuses the
 * document on the count; what was kept still builds. */
static void
test_max(void **state)
{
	struct rg_feed_stats st;
	struct rg_blocklist *bl;
	long counted;

	(void)state;
	bl = apply(&fake, "many", 10, &counted, &st);
	assert_int_equal(counted, MANY);
	assert_int_equal(rg_bl_entries(bl), 10);
	assert_int_equal(rg_bl_lookup_str(bl, "n9.many.example", NULL), 1);
	assert_int_equal(rg_bl_lookup_str(bl, "n10.many.example", NULL), 0);
	rg_bl_free(bl);
}

/* Many rules fill many chunks; one rule larger than a chunk has one of
 * its own (and the builder refuses an indicator that large). */
static void
test_many_and_big(void **state)
{
	struct rg_feed_stats st;
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	char ind[128];
	long counted;
	size_t i;

	(void)state;
	bl = apply(&fake, "many", UINT64_MAX, &counted, &st);
	assert_int_equal(counted, MANY);
	assert_int_equal(rg_bl_entries(bl), MANY);
	assert_int_equal(st.skipped, 0);
	for (i = 0; i < MANY; i += 9973) {
		char name[64];

		snprintf(name, sizeof(name), "n%zu.many.example", i);
		snprintf(ind, sizeof(ind), "%0120zu", i);
		memset(&m, 0, sizeof(m));
		assert_int_equal(rg_bl_lookup_str(bl, name, &m), 1);
		assert_string_equal(m.indicator, ind);
	}
	rg_bl_free(bl);

	bl = apply(&fake, "big", UINT64_MAX, &counted, &st);
	assert_int_equal(counted, 1);
	assert_int_equal(rg_bl_entries(bl), 0);
	assert_int_equal(st.skipped, 1);
	assert_string_equal(st.first_skip, "a rule with a name or prefix the "
	    "blocklist refuses");
	rg_bl_free(bl);
}

/* The domains list: policy rules with "line N", a TLD refused as with
 * every format, names in Unicode as punycode. */
static void
test_domains(void **state)
{
	struct rg_feed_stats st;
	struct rg_blocklist *bl;
	long counted;

	(void)state;
	bl = apply(NULL, "# list\nads.example\ncom\n*.b\xc3\xbc" "cher.example\n"
	    "bad..example\n", UINT64_MAX, &counted, &st);
	assert_int_equal(counted, 2);
	assert_int_equal(st.skipped, 2);
	assert_string_equal(st.first_skip, "line 5: invalid name "
	    "\"bad..example\"");
	expect(bl, "ads.example", RG_ACTION_SINKHOLE, "line 2", NULL, NULL);
	assert_int_equal(rg_bl_lookup_str(bl, "com", NULL), 0);
	assert_int_equal(rg_bl_lookup_str(bl, "www.example.com", NULL), 0);
	expect(bl, "www.xn--bcher-kva.example", RG_ACTION_SINKHOLE, "line 4",
	    NULL, NULL);
	rg_bl_free(bl);
}

/* A document that does not read: the error, no rules. */
static void
test_fail(void **state)
{
	struct rg_feed_settings s;
	struct rg_feed_stats st;
	struct rg_feed_rules *rules = (struct rg_feed_rules *)&s;
	char err[256];

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(rg_feed_rules_parse(&fake, &s, RG_ACTION_NXDOMAIN,
	    100, "fail", 4, &rules, &st, err, sizeof(err)), -EINVAL);
	assert_null(rules);
	assert_string_equal(err, "line 3: not a document");
	rg_feed_rules_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_many_and_big),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

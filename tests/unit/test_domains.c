/*
 * test_domains.c -- unit tests of the built-in "domains" feed format:
 * names in Unicode become their punycode as the feed plugins make them
 * (IDNA2008 with the UTS #46 mapping), in plain and hosts-file lines and
 * after "*."; a name that does not convert is a bad line that says why;
 * the lines the list parser refuses are exactly the names the builder
 * refuses; and rg_feed_domains_emit() hands the names over as a feed
 * format does, with the policy and "line N".
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

#include "blocklist.h"
#include "feeds.h"

#define assert_contains(hay, needle) do {				\
	if (strstr((hay), (needle)) == NULL)				\
		fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
} while (0)

/* The snapshot of list TEXT parsed as feed "f"; *ADDED, *SKIPPED, ERR. */
static struct rg_blocklist *
list_build(const char *text, long *added, size_t *skipped, char *err,
    size_t err_len)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(rg_bl_builder_feed(b, "f"), 0);
	*added = rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN, text,
	    strlen(text), skipped, err, err_len);
	assert_non_null(bl = rg_bl_build(b));
	return bl;
}

/* NAME looks up to RULE (presentation form) with INDICATOR, or to nothing
 * when RULE is NULL. */
static void
expect(const struct rg_blocklist *bl, const char *name, const char *rule,
    const char *indicator)
{
	struct rg_bl_match m;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = rg_bl_lookup_str(bl, name, &m);
	if (rule == NULL) {
		if (rc != 0)
			fail_msg("%s: expected no match, got rule \"%s\"", name,
			    m.rule);
		return;
	}
	if (rc != 1)
		fail_msg("%s: expected rule \"%s\", got %d", name, rule, rc);
	assert_string_equal(m.rule, rule);
	if (indicator != NULL)
		assert_string_equal(m.indicator, indicator);
}

static void
test_idn_plain(void **state)
{
	struct rg_blocklist *bl;
	char err[256];
	size_t skipped;
	long added;

	(void)state;
	bl = list_build("# names in Unicode\n"
	    "b\xc3\xbc" "cher.example\n"			/* bücher */
	    "*.m\xc3\xbcnchen.example\n"			/* *.münchen */
	    "B\xc3\x9c" "CHER.ORG.\n"				/* BÜCHER.ORG. */
	    "\xe4\xbe\x8b\xe3\x81\x88.test # a comment\n"	/* 例え.test */
	    "ascii.example\n", &added, &skipped, err, sizeof(err));
	assert_int_equal(added, 5);
	assert_int_equal(skipped, 0);
	assert_string_equal(err, "");
	expect(bl, "xn--bcher-kva.example", "xn--bcher-kva.example",
	    "line 2");
	expect(bl, "www.xn--mnchen-3ya.example", "*.xn--mnchen-3ya.example",
	    "line 3");
	expect(bl, "xn--mnchen-3ya.example", NULL, NULL);
	/* The mapping lowercases before the conversion. */
	expect(bl, "xn--bcher-kva.org", "xn--bcher-kva.org", "line 4");
	expect(bl, "xn--r8jz45g.test", "xn--r8jz45g.test", "line 5");
	expect(bl, "ascii.example", "ascii.example", "line 6");
	/* The Unicode form is not a name the blocklist is asked for. */
	assert_int_equal(rg_bl_lookup_str(bl, "b\xc3\xbc" "cher.example",
	    NULL), 0);
	rg_bl_free(bl);
}

static void
test_idn_hosts(void **state)
{
	struct rg_blocklist *bl;
	char err[256];
	size_t skipped;
	long added;

	(void)state;
	bl = list_build("0.0.0.0 caf\xc3\xa9.example ads.example\n"	/* café */
	    "127.0.0.1 localhost\n"
	    ":: stra\xc3\x9f" "e.example\n",			/* straße */
	    &added, &skipped, err, sizeof(err));
	assert_int_equal(added, 3);
	assert_int_equal(skipped, 0);
	expect(bl, "xn--caf-dma.example", "xn--caf-dma.example", "line 1");
	expect(bl, "ads.example", "ads.example", "line 1");
	/* Non-transitional: ß stays a letter of its own. */
	expect(bl, "xn--strae-oqa.example", "xn--strae-oqa.example",
	    "line 3");
	expect(bl, "strasse.example", NULL, NULL);
	rg_bl_free(bl);
}

static void
test_idn_bad(void **state)
{
	struct rg_blocklist *bl;
	char err[256];
	size_t skipped;
	long added;

	(void)state;
	/* A byte that is not UTF-8, then a name with a disallowed code
	 * point, then two good names. */
	bl = list_build("good-one.example\n"
	    "bad\xff.example\n"
	    "\xe2\x98\x83-\xe2\x80\x8d.example\n"	/* snowman, ZWJ */
	    "0.0.0.0 fine.example \xc3\xa9\xc3\xa9\xc3\xa9..example\n"
	    "x.b\xc3\xbc" "cher.example\n", &added, &skipped, err,
	    sizeof(err));
	assert_int_equal(added, 3);
	assert_int_equal(skipped, 3);
	assert_contains(err, "line 2: invalid internationalized name (");
	/* Bytes above ASCII are not shown, the reason is. */
	assert_contains(err, "\"bad?.example\"");
	expect(bl, "good-one.example", "good-one.example", NULL);
	expect(bl, "fine.example", "fine.example", "line 4");
	expect(bl, "x.xn--bcher-kva.example", "x.xn--bcher-kva.example",
	    "line 5");
	rg_bl_free(bl);

	/* Converted, but not a name the blocklist takes: "*" inside. */
	bl = list_build("\xc3\xbc.*.example\n", &added, &skipped, err,
	    sizeof(err));
	assert_int_equal(added, 0);
	assert_int_equal(skipped, 1);
	assert_string_equal(err, "line 1: invalid name \"??.*.example\"");
	rg_bl_free(bl);

	/* Too long once converted: libidn2 says so. */
	{
		char text[600];
		size_t i, o = 0;

		for (i = 0; i < 4; i++) {
			memcpy(text + o, "\xc3\xbc", 2);	/* ü */
			o += 2;
			memset(text + o, 'a', 55);
			o += 55;
			text[o++] = '.';
		}
		memcpy(text + o, "example\n", 9);
		bl = list_build(text, &added, &skipped, err, sizeof(err));
		assert_int_equal(added, 0);
		assert_int_equal(skipped, 1);
		assert_contains(err, "line 1: invalid internationalized name "
		    "(domain name longer than 255 characters) \"??aaa");
		rg_bl_free(bl);
	}
}

/* A name of LEN characters: labels of 50 "x", "*." in front if WILD,
 * and a final dot if DOT (counted in LEN). */
static void
long_name(char *out, size_t len, int wild, int dot)
{
	size_t n = 0, i;

	if (wild)
		n += (size_t)snprintf(out, 3, "*.");
	while (n < len - (size_t)dot) {
		for (i = 0; i < 50 && n < len - (size_t)dot; i++)
			out[n++] = 'x';
		if (n < len - (size_t)dot)
			out[n++] = '.';
	}
	if (out[n - 1] == '.')
		out[n - 1] = 'y';
	if (dot)
		out[n++] = '.';
	out[n] = '\0';
}

/* Whether the list takes a line of NAME alone, checked against what it
 * says. */
static int
list_takes(const char *name)
{
	struct rg_bl_builder *b;
	char line[600], err[256];
	size_t skipped, n = strlen(name);
	long added;

	assert_true(n < sizeof(line) - 1);
	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(rg_bl_builder_feed(b, "f"), 0);
	memcpy(line, name, n);
	memcpy(line + n, "\n", 2);
	added = rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN, line,
	    strlen(line), &skipped, err, sizeof(err));
	rg_bl_builder_free(b);
	assert_true(added == 0 || added == 1);
	assert_int_equal(skipped, (size_t)!added);
	return added == 1;
}

/*
 * The names the list refuses are those the builder refuses: names at
 * every limit (label and name lengths, wildcards, dots, the root) are
 * taken from a line exactly when rg_bl_builder_add() takes them.
 */
static void
test_same_names_as_builder(void **state)
{
	static const char *const fixed[] = {
		".", "*", "*.", "..", "a..b", ".a", "a.", "*.a", "a.*", "a.*.b",
		"*.*.a", "**.a", "a*b.example", "*a.example", "-a-.example",
		"_dmarc.example", "a", "123", "1.2.3.4.example", "*..a",
		"a.b.", "a.b..", "*.a.", "A.EXAMPLE",
	};
	struct rg_bl_builder *b;
	char names[64][300];
	size_t i, n = 0, len;
	int want, wild, dot;

	(void)state;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		snprintf(names[n++], sizeof(names[0]), "%s", fixed[i]);
	/* Labels of 62, 63 and 64 bytes, alone, in a name, with a dot. */
	for (len = 62; len <= 64; len++)
		for (i = 0; i < 3; i++) {
			memset(names[n], 'l', len);
			snprintf(names[n] + len, sizeof(names[0]) - len, "%s",
			    i == 0 ? "" : i == 1 ? ".example" : ".");
			n++;
		}
	/* Names of 252 to 256 characters, with and without a final dot
	 * and a "*." in front. */
	for (len = 252; len <= 256; len++)
		for (wild = 0; wild <= 1; wild++)
			for (dot = 0; dot <= 1; dot++)
				if (n < 64)
					long_name(names[n++], len, wild, dot);
	for (i = 0; i < n; i++) {
		assert_non_null(b = rg_bl_builder_new());
		assert_int_equal(rg_bl_builder_feed(b, "f"), 0);
		want = rg_bl_builder_add(b, names[i], RG_ACTION_NXDOMAIN, 0,
		    NULL) == 0;
		rg_bl_builder_free(b);
		if (list_takes(names[i]) != want)
			fail_msg("\"%s\" (%zu bytes): the builder %s it, the "
			    "list does not", names[i], strlen(names[i]),
			    want ? "takes" : "refuses");
	}
}

/* What rg_feed_domains_emit() hands over. */
struct got {
	size_t n;
	char name[8][300];
	char ind[8][32];
	enum rg_feed_action action[8];
	int fail_at;			/* the call that fails, from 1 */
};

static int
collect_cb(void *arg, const struct rg_feed_rule *r)
{
	struct got *g = arg;

	if (g->fail_at > 0 && (size_t)g->fail_at == g->n + 1)
		return -ENOMEM;
	assert_true(g->n < 8);
	assert_int_equal(r->trigger, RG_FEED_QNAME);
	assert_null(r->prefix);
	assert_null(r->tlp);
	assert_null(r->local);
	snprintf(g->name[g->n], sizeof(g->name[g->n]), "%s", r->name);
	snprintf(g->ind[g->n], sizeof(g->ind[g->n]), "%s", r->indicator);
	g->action[g->n] = r->action;
	g->n++;
	return 0;
}

static void
test_emit(void **state)
{
	static const char list[] = "# a hub's list\n"
	    "ads.example\n"
	    "*.tracker.example\n"
	    "not a name\n"
	    "0.0.0.0 caf\xc3\xa9.example localhost\n";
	struct rg_feed_stats st;
	struct got g;
	char msg[128];
	long rc;

	(void)state;
	memset(&st, 0, sizeof(st));
	memset(&g, 0, sizeof(g));
	rc = rg_feed_domains_emit(NULL, list, strlen(list), collect_cb, &g,
	    &st, msg, sizeof(msg));
	assert_int_equal(rc, 3);
	assert_int_equal(g.n, 3);
	assert_int_equal(st.rules, 3);
	assert_int_equal(st.skipped, 1);
	assert_string_equal(st.first_skip, "line 4: invalid name "
	    "\"not a name\"");
	assert_string_equal(msg, "");
	assert_string_equal(g.name[0], "ads.example");
	assert_string_equal(g.ind[0], "line 2");
	assert_string_equal(g.name[1], "*.tracker.example");
	assert_string_equal(g.ind[1], "line 3");
	assert_string_equal(g.name[2], "xn--caf-dma.example");
	assert_string_equal(g.ind[2], "line 5");
	assert_int_equal(g.action[0], RG_FEED_POLICY);
	assert_int_equal(g.action[2], RG_FEED_POLICY);

	/* A callback's error stops the parse and is returned. */
	memset(&st, 0, sizeof(st));
	memset(&g, 0, sizeof(g));
	g.fail_at = 2;
	rc = rg_feed_domains_emit(NULL, list, strlen(list), collect_cb, &g,
	    &st, msg, sizeof(msg));
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(g.n, 1);
	assert_string_equal(msg, "out of memory");

	/* No callback, no document. */
	memset(&st, 0, sizeof(st));
	assert_int_equal(rg_feed_domains_emit(NULL, list, strlen(list), NULL,
	    NULL, &st, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(rg_feed_domains_emit(NULL, NULL, 5, collect_cb, &g,
	    &st, msg, sizeof(msg)), -EINVAL);
	memset(&st, 0, sizeof(st));
	assert_int_equal(rg_feed_domains_emit(NULL, NULL, 0, collect_cb, &g,
	    &st, msg, sizeof(msg)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idn_plain),
		cmocka_unit_test(test_idn_hosts),
		cmocka_unit_test(test_idn_bad),
		cmocka_unit_test(test_same_names_as_builder),
		cmocka_unit_test(test_emit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

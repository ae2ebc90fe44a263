/*
 * test_feed_adblock.c -- unit tests of the "adblock" feed format plugin,
 * compiled in: "||name^" blocks and "@@" exceptions (exceptions handed
 * over before all blocks), modifiers, hosts-file lines, plain names,
 * comments and headers, what is unsupported (cosmetic rules, regular
 * expressions, paths, wildcards) or invalid and the line it is reported
 * at, names in Unicode, malformed documents, and a callback that stops
 * the parse.
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

#define RULES_MAX	64

struct got {
	char name[300];
	enum rg_feed_action action;
	char indicator[32];
};

struct run {
	struct got rules[RULES_MAX];
	size_t n;
	size_t calls;
	size_t fail_at;			/* refuse that call (1-based) */
	int fail_rc;
	struct rg_feed_stats st;
	char msg[256];
	long rc;
};

static int
collect_cb(void *arg, const struct rg_feed_rule *r)
{
	struct run *run = arg;
	struct got *g;

	run->calls++;
	if (run->fail_at != 0 && run->calls == run->fail_at)
		return run->fail_rc;
	assert_int_equal(r->trigger, RG_FEED_QNAME);
	assert_non_null(r->name);
	assert_null(r->prefix);
	assert_null(r->local);
	assert_null(r->tlp);
	assert_non_null(r->indicator);
	assert_true(r->action == RG_FEED_POLICY ||
	    r->action == RG_FEED_PASSTHRU);
	assert_true(run->n < RULES_MAX);
	g = &run->rules[run->n++];
	assert_true(strlen(r->name) < sizeof(g->name));
	strcpy(g->name, r->name);
	g->action = r->action;
	assert_true(strlen(r->indicator) < sizeof(g->indicator));
	strcpy(g->indicator, r->indicator);
	return 0;
}

static long
parse_len(struct run *run, const char *list, size_t len)
{
	struct rg_feed_settings s;

	memset(&s, 0, sizeof(s));
	s.name = "test-adblock";
	s.format = "adblock";
	run->n = run->calls = 0;
	memset(&run->st, 0, sizeof(run->st));
	memset(run->msg, 'x', sizeof(run->msg));
	run->msg[sizeof(run->msg) - 1] = '\0';
	run->rc = rg_plugin.feed->parse(&s, list, len, collect_cb, run,
	    &run->st, run->msg, sizeof(run->msg));
	assert_non_null(memchr(run->st.first_skip, '\0',
	    sizeof(run->st.first_skip)));
	if (run->rc >= 0) {
		assert_int_equal(run->rc, run->st.rules);
		assert_int_equal(run->n, run->st.rules);
		assert_string_equal(run->msg, "");
	} else
		assert_true(run->msg[0] != '\0' && run->msg[0] != 'x');
	return run->rc;
}

static long
parse(struct run *run, const char *list)
{
	return parse_len(run, list, strlen(list));
}

/* The index of the rule for NAME; -1 when there is none. */
static int
index_of(const struct run *run, const char *name)
{
	size_t i;

	for (i = 0; i < run->n; i++)
		if (strcmp(run->rules[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void
expect_rule(const struct run *run, const char *name,
    enum rg_feed_action action, const char *indicator)
{
	int i = index_of(run, name);

	if (i < 0)
		fail_msg("no rule for \"%s\" among %zu", name, run->n);
	assert_int_equal(run->rules[i].action, action);
	assert_string_equal(run->rules[i].indicator, indicator);
}

/* LINE, after a comment that makes the document a list, makes no rule,
 * and counts one entry unsupported (or skipped). */
static void
expect_one(const char *line, int unsupported, const char *why)
{
	struct run run;
	char list[600];

	memset(&run, 0, sizeof(run));
	snprintf(list, sizeof(list), "! a list\n%s\n", line);
	if (parse(&run, list) < 0)
		fail_msg("\"%s\": %ld (%s)", list, run.rc, run.msg);
	if (run.n != 0)
		fail_msg("\"%s\": %zu rules, the first \"%s\"", list, run.n,
		    run.rules[0].name);
	if (run.st.unsupported != (unsupported ? 1u : 0u) ||
	    run.st.skipped != (unsupported ? 0u : 1u))
		fail_msg("\"%s\": %llu unsupported, %llu skipped", list,
		    (unsigned long long)run.st.unsupported,
		    (unsigned long long)run.st.skipped);
	assert_contains(run.st.first_skip, "line 2: ");
	assert_contains(run.st.first_skip, why);
}

static void
test_descriptor(void **state)
{
	assert_int_equal(rg_plugin.abi, RG_PLUGIN_ABI);
	assert_string_equal(rg_plugin.name, "adblock");
	assert_int_equal(rg_plugin.kind, RG_PLUGIN_FEED);
	assert_non_null(rg_plugin.feed);
	assert_non_null(rg_plugin.feed->parse);
	assert_null(rg_plugin.backend);
	assert_null(rg_plugin.report);
}

static void
test_blocks(void **state)
{
	struct run run;

	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run,
	    "||ads.example^\n"
	    "||Tracker.EXAMPLE.net^\n"
	    "||ends.example^|\n"
	    "||dot.example.^\n"
	    "||*.below.example^\n"
	    "   ||spaces.example^   \t\n"), 11);
	expect_rule(&run, "ads.example", RG_FEED_POLICY, "line 1");
	expect_rule(&run, "*.ads.example", RG_FEED_POLICY, "line 1");
	expect_rule(&run, "tracker.example.net", RG_FEED_POLICY, "line 2");
	expect_rule(&run, "*.tracker.example.net", RG_FEED_POLICY, "line 2");
	expect_rule(&run, "ends.example", RG_FEED_POLICY, "line 3");
	expect_rule(&run, "*.ends.example", RG_FEED_POLICY, "line 3");
	expect_rule(&run, "dot.example", RG_FEED_POLICY, "line 4");
	expect_rule(&run, "*.dot.example", RG_FEED_POLICY, "line 4");
	/* "||*.name^": the names below only. */
	expect_rule(&run, "*.below.example", RG_FEED_POLICY, "line 5");
	assert_int_equal(index_of(&run, "below.example"), -1);
	expect_rule(&run, "spaces.example", RG_FEED_POLICY, "line 6");
	assert_int_equal(run.st.skipped, 0);
	assert_int_equal(run.st.unsupported, 0);
	assert_string_equal(run.st.first_skip, "");
}

/* An exception beats a block of the same name, whichever comes first:
 * all exceptions are handed over before any block. */
static void
test_exceptions_first(void **state)
{
	struct run run;
	size_t i, first_block = SIZE_MAX, last_exception = 0;

	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run,
	    "||ads.example^\n"
	    "||other.example^\n"
	    "@@||ads.example^\n"
	    "||late.example^\n"
	    "@@||late.example^$important\n"
	    "@@||only.example^|\n"
	    "@@plain.example\n"
	    "plain.example\n"), 14);
	for (i = 0; i < run.n; i++) {
		if (run.rules[i].action == RG_FEED_PASSTHRU)
			last_exception = i;
		else if (first_block == SIZE_MAX)
			first_block = i;
	}
	assert_true(last_exception < first_block);
	/* The first rule for each name, the one a blocklist keeps, is the
	 * exception. */
	expect_rule(&run, "ads.example", RG_FEED_PASSTHRU, "line 3");
	expect_rule(&run, "*.ads.example", RG_FEED_PASSTHRU, "line 3");
	expect_rule(&run, "late.example", RG_FEED_PASSTHRU, "line 5");
	expect_rule(&run, "*.late.example", RG_FEED_PASSTHRU, "line 5");
	expect_rule(&run, "only.example", RG_FEED_PASSTHRU, "line 6");
	expect_rule(&run, "plain.example", RG_FEED_PASSTHRU, "line 7");
	assert_int_equal(index_of(&run, "*.plain.example"), -1);
	expect_rule(&run, "other.example", RG_FEED_POLICY, "line 2");
	/* The blocks are still handed over, after. */
	assert_int_equal(run.rules[first_block].action, RG_FEED_POLICY);
	assert_string_equal(run.rules[first_block].name, "ads.example");
	assert_string_equal(run.rules[first_block].indicator, "line 1");
	assert_int_equal(run.st.skipped, 0);
	assert_int_equal(run.st.unsupported, 0);
}

static void
test_modifiers(void **state)
{
	static const char *const unsupported[] = {
		"||ads.example^$badfilter",
		"||ads.example^$dnstype=AAAA",
		"||ads.example^$dnstype=~A|AAAA",
		"||ads.example^$client=127.0.0.1",
		"||ads.example^$client='Frank\\'s laptop'",
		"||ads.example^$denyallow=x.example|y.example",
		"||ads.example^$ctag=device_pc",
		"||ads.example^$dnsrewrite=192.0.2.1",
		"||ads.example^$important,dnstype=A",
		"||ads.example^$third-party",
		"||ads.example^$",
		"||ads.example^$important,",
		"@@||ads.example^$badfilter",
		"ads.example$ctag=~tv",
	};
	struct run run;
	size_t i;

	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		expect_one(unsupported[i], 1, "modifier");
	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run, "||ads.example^$important\n"
	    "@@||ok.example^$important\n"
	    "plain.example$important\n"
	    "||two.example^$important,important\n"), 7);
	expect_rule(&run, "ads.example", RG_FEED_POLICY, "line 1");
	expect_rule(&run, "ok.example", RG_FEED_PASSTHRU, "line 2");
	expect_rule(&run, "plain.example", RG_FEED_POLICY, "line 3");
	expect_rule(&run, "*.two.example", RG_FEED_POLICY, "line 4");
}

static void
test_comments_and_headers(void **state)
{
	struct run run;

	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run,
	    "[Adblock Plus 2.0]\n"
	    "[AdGuard]\n"
	    "! Title: a list\n"
	    "!#include other.txt\n"
	    "!\n"
	    "# a hosts-file comment\n"
	    "#comment without a space\n"
	    "## section\n"
	    "####\n"
	    "\n"
	    "   \t\n"
	    "\r\n"), 0);
	assert_int_equal(run.st.skipped, 0);
	assert_int_equal(run.st.unsupported, 0);
	assert_string_equal(run.st.first_skip, "");
	/* Empty. */
	assert_int_equal(parse_len(&run, "", 0), 0);
	assert_int_equal(parse_len(&run, NULL, 0), 0);
}

static void
test_hosts_lines(void **state)
{
	struct run run;

	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run,
	    "0.0.0.0 zero.example\n"
	    "127.0.0.1 loop.example\n"
	    "127.0.0.2\tloop2.example\n"
	    ":: any6.example\n"
	    "::1 lo6.example\n"
	    "0.0.0.0 a.example B.example c.example. # three names\n"
	    "127.0.0.1 localhost\n"
	    "::1 localhost ip6-localhost ip6-loopback\n"
	    "0.0.0.0 0.0.0.0\n"), 8);
	expect_rule(&run, "zero.example", RG_FEED_POLICY, "line 1");
	expect_rule(&run, "loop.example", RG_FEED_POLICY, "line 2");
	expect_rule(&run, "loop2.example", RG_FEED_POLICY, "line 3");
	expect_rule(&run, "any6.example", RG_FEED_POLICY, "line 4");
	expect_rule(&run, "lo6.example", RG_FEED_POLICY, "line 5");
	expect_rule(&run, "a.example", RG_FEED_POLICY, "line 6");
	expect_rule(&run, "b.example", RG_FEED_POLICY, "line 6");
	expect_rule(&run, "c.example", RG_FEED_POLICY, "line 6");
	/* A hosts name is the name alone. */
	assert_int_equal(index_of(&run, "*.zero.example"), -1);
	assert_int_equal(index_of(&run, "localhost"), -1);
	assert_int_equal(run.st.skipped, 0);
	assert_int_equal(run.st.unsupported, 0);

	/* Another address answers with itself: not from a feed. */
	expect_one("192.0.2.1 redirect.example", 1, "an address of its own");
	expect_one("2001:db8::1 redirect.example", 1, "an address of its own");
	expect_one("0.0.0.0", 0, "no name after the address");
	expect_one("0.0.0.0 *.wild.example", 0, "*.wild.example");
	/* The good names of a line with a bad one are used. */
	assert_int_equal(parse(&run, "0.0.0.0 ok.example bad!name.example "
	    "ok2.example\n"), 2);
	expect_rule(&run, "ok.example", RG_FEED_POLICY, "line 1");
	expect_rule(&run, "ok2.example", RG_FEED_POLICY, "line 1");
	assert_int_equal(run.st.skipped, 1);
	assert_string_equal(run.st.first_skip, "line 1: an invalid name: "
	    "\"bad!name.example\"");
}

static void
test_plain_names(void **state)
{
	struct run run;

	/* AdGuard: "example.org" blocks example.org, not its subdomains. */
	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run, "plain.example\n"
	    "UPPER.Example\n"
	    "*.wild.example\n"
	    "under_score.example\n"), 4);
	expect_rule(&run, "plain.example", RG_FEED_POLICY, "line 1");
	assert_int_equal(index_of(&run, "*.plain.example"), -1);
	expect_rule(&run, "upper.example", RG_FEED_POLICY, "line 2");
	expect_rule(&run, "*.wild.example", RG_FEED_POLICY, "line 3");
	assert_int_equal(index_of(&run, "wild.example"), -1);
	expect_rule(&run, "under_score.example", RG_FEED_POLICY, "line 4");
}

static void
test_unsupported(void **state)
{
	expect_one("example.org##.banner", 1, "a cosmetic rule");
	expect_one("##.ad-banner", 1, "a cosmetic rule");
	expect_one("#@#.ad-banner", 1, "a cosmetic rule");
	expect_one("example.org#$#body { color: red }", 1, "a cosmetic rule");
	expect_one("example.org#@#.ad", 1, "a cosmetic rule");
	expect_one("example.org#?#div:has(> a)", 1, "a cosmetic rule");
	expect_one("example.org#%#//scriptlet('abort')", 1, "a cosmetic rule");
	expect_one("example.org$$script[data-ad]", 1, "a cosmetic rule");
	expect_one("/ad[0-9]+\\.example/", 1, "a regular expression");
	expect_one("@@/^good/", 1, "a regular expression");
	expect_one("||example.org/ads", 1, "a rule with a path");
	expect_one("||example.org^/x", 1, "a rule with a path");
	expect_one("||ads*.example^", 1, "a wildcard");
	expect_one("||ads.*.example^", 1, "a wildcard");
	expect_one("||*ads.example^", 1, "a wildcard");
	expect_one("ads*.example", 1, "a wildcard");
	expect_one("||ads.example", 1, "not ended by \"^\"");
	expect_one("||ads.example|", 1, "not ended by \"^\"");
	expect_one("||ads.example^x", 1, "not ended by \"^\"");
	expect_one("|ads.example^", 1, "anchored at an address");
	expect_one("ads.example^", 1, "a pattern that is not a name");
	expect_one("://ads.", 1, "a pattern that is not a name");
	expect_one(".ads.example", 1, "a pattern that is not a name");
	expect_one("||192.0.2.1^", 1, "an address, not a name");
	expect_one("https://ads.example/x", 1, "a pattern that is not a name");
}

static void
test_invalid(void **state)
{
	char longname[400];

	/* U+FFFD is no character of a name: libidn2 says so. */
	expect_one("||b\xef\xbf\xbd" "cher.example^", 0, "an invalid "
	    "internationalized name (string contains a disallowed "
	    "character)");
	expect_one("b\xef\xbf\xbd" "cher.example", 0, "disallowed");
	expect_one("*.b\xef\xbf\xbd" "cher.example", 0, "disallowed");
	/* Not UTF-8 at all; a hyphen where IDNA forbids it. */
	expect_one("b\xfc" "cher.example", 0, "internationalized name");
	expect_one("-\xc3\xbc.example", 0, "hyphen");
	expect_one("||bad name.example^", 0, "more than one word");
	expect_one("two words", 0, "more than one word");
	expect_one("bad!name.example", 0, "an invalid name");
	expect_one("<html>", 0, "an invalid name");
	expect_one("||a..b.example^", 0, "an invalid name");
	expect_one("||^", 0, "an invalid name");
	expect_one("@@", 0, "an invalid name");
	memset(longname, 'a', 64);
	strcpy(longname + 64, ".example");
	expect_one(longname, 0, "an invalid name");
	/* Long, and quoted shortened. */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	expect_one(longname, 0, "...\"");
}

/* Counts, and the first entry described in the order of the list. */
/* Names in Unicode give the rules of their punycode; in "*.name" only
 * the name after "*." is converted. */
static void
test_idn(void **state)
{
	struct run run;
	char list[600];

	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run,
	    "||b\xc3\xbc" "cher.example^\n"
	    "B\xc3\x9c" "CHER.Example.net\n"
	    "||*.m\xc3\xbc" "nchen.example^\n"
	    "0.0.0.0 fa\xc3\x9f.example \xe4\xbe\x8b\xe3\x81\x88.example\n"
	    "||ab\xe2\x80\x8c" "c.example^\n"), 8);
	expect_rule(&run, "xn--bcher-kva.example", RG_FEED_POLICY, "line 1");
	expect_rule(&run, "*.xn--bcher-kva.example", RG_FEED_POLICY,
	    "line 1");
	/* Uppercase Unicode: the same name. */
	expect_rule(&run, "xn--bcher-kva.example.net", RG_FEED_POLICY,
	    "line 2");
	assert_int_equal(index_of(&run, "*.xn--bcher-kva.example.net"), -1);
	expect_rule(&run, "*.xn--mnchen-3ya.example", RG_FEED_POLICY,
	    "line 3");
	assert_int_equal(index_of(&run, "xn--mnchen-3ya.example"), -1);
	/* Non-transitional: the sharp s stays. */
	expect_rule(&run, "xn--fa-hia.example", RG_FEED_POLICY, "line 4");
	expect_rule(&run, "xn--r8jz45g.example", RG_FEED_POLICY, "line 4");
	/* A joiner that IDNA2008 refuses there: transitional drops it. */
	expect_rule(&run, "abc.example", RG_FEED_POLICY, "line 5");
	expect_rule(&run, "*.abc.example", RG_FEED_POLICY, "line 5");
	assert_int_equal(run.st.skipped, 0);
	assert_int_equal(run.st.unsupported, 0);

	/* Unicode and punycode of one name meet: the exception wins. */
	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run,
	    "||m\xc3\xbc" "nchen.example^\n"
	    "@@||xn--mnchen-3ya.example^\n"), 4);
	assert_int_equal(run.rules[0].action, RG_FEED_PASSTHRU);
	assert_string_equal(run.rules[0].name, "xn--mnchen-3ya.example");
	assert_int_equal(run.rules[2].action, RG_FEED_POLICY);
	assert_string_equal(run.rules[2].name, "xn--mnchen-3ya.example");

	/* A bad name among good ones on a hosts line: libidn2's reason,
	 * the line quoted in ASCII. */
	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run, "0.0.0.0 ok.example "
	    "b\xef\xbf\xbd" "cher.example\n"), 1);
	expect_rule(&run, "ok.example", RG_FEED_POLICY, "line 1");
	assert_int_equal(run.st.skipped, 1);
	assert_string_equal(run.st.first_skip, "line 1: an invalid "
	    "internationalized name (string contains a disallowed character): "
	    "\"b???cher.example\"");

	/* Full-width digits and dots map to an address. */
	snprintf(list, sizeof(list), "! a list\n%s\n",
	    "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97\xef\xbc\x8e"
	    "\xef\xbc\x90\xef\xbc\x8e\xef\xbc\x90\xef\xbc\x8e"
	    "\xef\xbc\x91");
	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run, list), 0);
	assert_int_equal(run.st.unsupported, 1);
	assert_contains(run.st.first_skip, "an address, not a name");
}

static void
test_counts_and_first_skip(void **state)
{
	struct run run;

	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run,
	    "! header\n"
	    "||ok.example^\n"
	    "||bad name^\n"
	    "@@||b\xef\xbf\xbd" "cher.example^\n"
	    "example.org##.ad\n"
	    "@@||good.example^\n"
	    "||x.example^$dnstype=A\n"), 4);
	assert_int_equal(run.st.skipped, 2);
	assert_int_equal(run.st.unsupported, 2);
	assert_string_equal(run.st.first_skip, "line 3: more than one word: "
	    "\"||bad name^\"");
}

static void
test_line_ends(void **state)
{
	struct run run;

	memset(&run, 0, sizeof(run));
	assert_int_equal(parse(&run, "\xef\xbb\xbf||bom.example^\r\n"
	    "! c\r\n"
	    "0.0.0.0 crlf.example\r\n"
	    "||last.example^"), 5);
	expect_rule(&run, "bom.example", RG_FEED_POLICY, "line 1");
	expect_rule(&run, "crlf.example", RG_FEED_POLICY, "line 3");
	expect_rule(&run, "last.example", RG_FEED_POLICY, "line 4");
}

static void
test_malformed(void **state)
{
	static const char binary[] = "\0\x01\x02\n\xff\xfe\0";
	struct run run;

	memset(&run, 0, sizeof(run));
	/* Nothing of the format at all: not an adblock list. */
	assert_int_equal(parse(&run, "<html>\n<body>Bad Gateway</body>\n"
	    "</html>\n"), -EINVAL);
	assert_contains(run.msg, "nothing could be read");
	assert_int_equal(run.n, 0);
	assert_int_equal(parse(&run, "{\"objects\": [1, 2]}\n"), -EINVAL);
	assert_int_equal(parse_len(&run, binary, sizeof(binary) - 1), -EINVAL);
	/* One usable line is enough. */
	assert_int_equal(parse(&run, "<html>\n||ok.example^\n"), 2);
	assert_int_equal(run.st.skipped, 1);
	/* A list of rules we do not support is still a list. */
	assert_int_equal(parse(&run, "example.org##.ad\n<b>\n"), 0);
	assert_int_equal(run.st.unsupported, 1);
	assert_int_equal(run.st.skipped, 1);
	assert_int_equal(rg_plugin.feed->parse(NULL, NULL, 3, collect_cb,
	    &run, &run.st, run.msg, sizeof(run.msg)), -EINVAL);
	assert_int_equal(rg_plugin.feed->parse(NULL, "x", 1, NULL, &run,
	    &run.st, run.msg, sizeof(run.msg)), -EINVAL);
}

static void
test_emit_error(void **state)
{
	struct run run;
	const char *list = "||a.example^\n@@||b.example^\n0.0.0.0 c.example\n";

	memset(&run, 0, sizeof(run));
	/* The exception goes first, then a.example, *.a.example. */
	run.fail_at = 3;
	run.fail_rc = -ENOSPC;
	assert_int_equal(parse(&run, list), -ENOSPC);
	assert_int_equal(run.calls, 3);
	assert_int_equal(run.st.rules, 2);
	assert_contains(run.msg, "line 1: ");
	assert_contains(run.msg, "a.example");

	run.fail_at = 1;
	run.fail_rc = -ECANCELED;
	assert_int_equal(parse(&run, list), -ECANCELED);
	assert_int_equal(run.calls, 1);
	assert_int_equal(run.st.rules, 0);
	assert_contains(run.msg, "line 2: ");
}

static void
test_sample_file(void **state)
{
	struct run run;
	char path[512], *buf;
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/adblock/sample.txt", RG_TEST_DATA);
	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((n = ftell(fp)) > 0);
	rewind(fp);
	assert_non_null(buf = malloc((size_t)n));
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	memset(&run, 0, sizeof(run));
	assert_int_equal(parse_len(&run, buf, (size_t)n), 14);
	free(buf);
	expect_rule(&run, "cdn.ads.example", RG_FEED_PASSTHRU, "line 13");
	expect_rule(&run, "*.cdn.ads.example", RG_FEED_PASSTHRU, "line 13");
	expect_rule(&run, "partner.tracker.example.net", RG_FEED_PASSTHRU,
	    "line 14");
	expect_rule(&run, "ads.example", RG_FEED_POLICY, "line 7");
	expect_rule(&run, "*.ads.example", RG_FEED_POLICY, "line 7");
	expect_rule(&run, "tracker.example.net", RG_FEED_POLICY, "line 8");
	expect_rule(&run, "*.metrics.example", RG_FEED_POLICY, "line 9");
	expect_rule(&run, "*.cdn-ads.example", RG_FEED_POLICY, "line 10");
	assert_int_equal(index_of(&run, "cdn-ads.example"), -1);
	expect_rule(&run, "malware.example", RG_FEED_POLICY, "line 17");
	expect_rule(&run, "phishing.example", RG_FEED_POLICY, "line 18");
	expect_rule(&run, "phishing2.example", RG_FEED_POLICY, "line 18");
	/* *.cdn.ads.example: the exception came first. */
	assert_true(index_of(&run, "*.cdn.ads.example") <
	    index_of(&run, "*.ads.example"));
	assert_int_equal(run.st.unsupported, 4);
	assert_int_equal(run.st.skipped, 0);
	assert_string_equal(run.st.first_skip, "line 22: a cosmetic rule: "
	    "\"example.org##.advert\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_exceptions_first),
		cmocka_unit_test(test_modifiers),
		cmocka_unit_test(test_comments_and_headers),
		cmocka_unit_test(test_hosts_lines),
		cmocka_unit_test(test_plain_names),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_counts_and_first_skip),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_emit_error),
		cmocka_unit_test(test_sample_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_blocklist.c -- unit tests of the blocklist: rule semantics and
 * precedence, name validation in presentation and wire form, the match
 * reported, the "domains" list parser on the sample lists under
 * data/domains, and publication to reader threads that look names up while
 * the writer replaces the snapshot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "blocklist.h"

#ifndef RG_TEST_DATA
#define RG_TEST_DATA "tests/unit/data"
#endif

#define assert_contains(hay, needle) do {				\
	if (strstr((hay), (needle)) == NULL)				\
		fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
} while (0)

/* Wire form of dotted NAME as is (no validation, case kept); its length. */
static size_t
wire(const char *name, uint8_t *out)
{
	size_t o = 0, ll;
	const char *dot;

	while (*name != '\0' && strcmp(name, ".") != 0) {
		dot = strchr(name, '.');
		ll = dot != NULL ? (size_t)(dot - name) : strlen(name);
		out[o++] = (uint8_t)ll;
		memcpy(out + o, name, ll);
		o += ll;
		name += ll;
		if (*name == '.')
			name++;
	}
	out[o++] = 0;
	return o;
}

/* Look NAME up in wire form; the result, M filled. */
static int
lookup(const struct rg_blocklist *bl, const char *name, struct rg_bl_match *m)
{
	uint8_t w[512];
	size_t len = wire(name, w);

	return rg_bl_lookup(bl, w, len, m);
}

/* Assert that NAME matches RULE (presentation form) or, RULE NULL, nothing. */
static void
expect(const struct rg_blocklist *bl, const char *name, const char *rule)
{
	struct rg_bl_match m;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = lookup(bl, name, &m);
	if (rule == NULL) {
		if (rc != 0)
			fail_msg("%s: expected no match, got %d (rule \"%s\")",
			    name, rc, m.rule);
		return;
	}
	if (rc != 1)
		fail_msg("%s: expected rule \"%s\", got %d", name, rule, rc);
	assert_string_equal(m.rule, rule);
	/* The presentation form finds the same rule. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(rg_bl_lookup_str(bl, name, &m), 1);
	assert_string_equal(m.rule, rule);
}

/* A snapshot of NAMES (NULL-terminated) in one feed "test". */
static struct rg_blocklist *
build(const char *const *names)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	int feed;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(feed = rg_bl_builder_feed(b, "test"), 0);
	for (; *names != NULL; names++)
		assert_int_equal(rg_bl_builder_add(b, *names,
		    RG_ACTION_NXDOMAIN, feed, NULL), 0);
	assert_non_null(bl = rg_bl_build(b));
	return bl;
}

static void
test_action_names(void **state)
{
	int i;

	for (i = 0; i < RG_ACTION_COUNT; i++)
		assert_int_equal(rg_action_parse(rg_action_str[i]), i);
	assert_string_equal(rg_action_str[RG_ACTION_LOG_ONLY], "log-only");
	assert_int_equal(rg_action_parse("block"), -1);
	assert_int_equal(rg_action_parse(NULL), -1);
}

static void
test_exact_and_wildcard(void **state)
{
	static const char *const names[] = {
		"*.example", "ads.test", NULL
	};
	struct rg_blocklist *bl = build(names);
	struct rg_bl_match m;

	expect(bl, "a.example", "*.example");
	expect(bl, "a.b.example", "*.example");
	expect(bl, "x.y.z.example", "*.example");
	expect(bl, "example", NULL);
	expect(bl, "notexample", NULL);
	expect(bl, "example.org", NULL);
	expect(bl, "ads.test", "ads.test");
	expect(bl, "x.ads.test", NULL);
	expect(bl, "test", NULL);
	expect(bl, ".", NULL);
	/* A literal "*" label is below example like any other. */
	expect(bl, "*.example", "*.example");

	assert_int_equal(lookup(bl, "a.example", &m), 1);
	assert_int_equal(m.wildcard, 1);
	assert_int_equal(lookup(bl, "ads.test", &m), 1);
	assert_int_equal(m.wildcard, 0);
	/* M may be NULL. */
	assert_int_equal(lookup(bl, "ads.test", NULL), 1);
	rg_bl_free(bl);
}

static void
test_precedence(void **state)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	int f0, f1;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(f0 = rg_bl_builder_feed(b, "first"), 0);
	assert_int_equal(f1 = rg_bl_builder_feed(b, "second"), 1);
	assert_int_equal(rg_bl_builder_add(b, "*.example", RG_ACTION_NXDOMAIN,
	    f0, "wide"), 0);
	assert_int_equal(rg_bl_builder_add(b, "*.b.example", RG_ACTION_DROP,
	    f0, "narrow"), 0);
	assert_int_equal(rg_bl_builder_add(b, "www.example", RG_ACTION_REFUSED,
	    f1, "exact"), 0);
	assert_int_equal(rg_bl_builder_add(b, "dup.example", RG_ACTION_NODATA,
	    f0, "from first"), 0);
	assert_int_equal(rg_bl_builder_add(b, "DUP.example.",
	    RG_ACTION_SINKHOLE, f1, "from second"), 0);
	assert_int_equal(rg_bl_builder_add(b, "*.c.b.example",
	    RG_ACTION_LOG_ONLY, f1, "narrowest"), 0);
	assert_non_null(bl = rg_bl_build(b));

	/* Exact before any wildcard, even one from an earlier feed. */
	expect(bl, "www.example", "www.example");
	assert_int_equal(lookup(bl, "www.example", &m), 1);
	assert_int_equal(m.action, RG_ACTION_REFUSED);
	assert_string_equal(m.feed, "second");
	/* Below the exact name, the wildcard applies. */
	expect(bl, "x.www.example", "*.example");
	/* The longest wildcard wins, whatever the order or feed. */
	expect(bl, "a.b.example", "*.b.example");
	expect(bl, "a.a.b.example", "*.b.example");
	expect(bl, "b.example", "*.example");
	expect(bl, "x.c.b.example", "*.c.b.example");
	expect(bl, "c.b.example", "*.b.example");
	/* Same name in two feeds: the one added first. */
	assert_int_equal(lookup(bl, "dup.example", &m), 1);
	assert_int_equal(m.action, RG_ACTION_NODATA);
	assert_string_equal(m.feed, "first");
	assert_string_equal(m.indicator, "from first");
	assert_int_equal(rg_bl_entries(bl), 5);
	assert_int_equal(rg_bl_feed_entries(bl, f0), 3);
	assert_int_equal(rg_bl_feed_entries(bl, f1), 2);
	rg_bl_free(bl);
}

static void
test_case_insensitive(void **state)
{
	static const char *const names[] = {
		"MiXeD.Example.COM", "*.WILD.Example", NULL
	};
	struct rg_blocklist *bl = build(names);
	struct rg_bl_match m;

	expect(bl, "mixed.example.com", "mixed.example.com");
	expect(bl, "MIXED.EXAMPLE.COM", "mixed.example.com");
	expect(bl, "mIxEd.eXaMpLe.CoM.", "mixed.example.com");
	expect(bl, "Host.Wild.EXAMPLE", "*.wild.example");
	/* Only ASCII letters fold. */
	assert_int_equal(lookup(bl, "mixed.example.co\xcd", &m), 0);
	rg_bl_free(bl);
}

static void
test_malformed_wire(void **state)
{
	static const char *const names[] = { "ok.example", NULL };
	struct rg_blocklist *bl = build(names);
	uint8_t w[300];
	size_t i, len;

	len = wire("ok.example", w);
	assert_int_equal(rg_bl_lookup(bl, w, len, NULL), 1);
	/* Trailing bytes after the root label are not part of the name. */
	w[len] = 0xff;
	assert_int_equal(rg_bl_lookup(bl, w, len + 1, NULL), 1);
	/* No root label within LEN. */
	assert_int_equal(rg_bl_lookup(bl, w, len - 1, NULL), -EINVAL);
	assert_int_equal(rg_bl_lookup(bl, w, 0, NULL), -EINVAL);
	assert_int_equal(rg_bl_lookup(bl, NULL, 5, NULL), -EINVAL);
	/* A label running past LEN. */
	assert_int_equal(rg_bl_lookup(bl, (const uint8_t *)"\x05" "ab", 3,
	    NULL), -EINVAL);
	assert_int_equal(rg_bl_lookup(bl, (const uint8_t *)"\x02" "ok", 3,
	    NULL), -EINVAL);
	/* Compression pointer, extended label type. */
	assert_int_equal(rg_bl_lookup(bl, (const uint8_t *)"\x02ok\xc0\x0c",
	    5, NULL), -EINVAL);
	assert_int_equal(rg_bl_lookup(bl, (const uint8_t *)"\x41", 2, NULL),
	    -EINVAL);
	/* 255 bytes is the longest name: 3 labels of 63, one of 61. */
	for (len = i = 0; i < 4; i++) {
		w[len++] = i < 3 ? 63 : 61;
		memset(w + len, 'a', w[len - 1]);
		len += w[len - 1];
	}
	w[len++] = 0;
	assert_int_equal(len, 255);
	assert_int_equal(rg_bl_lookup(bl, w, len, NULL), 0);
	/* One more byte is too long. */
	w[3 * 64] = 62;
	memset(w + 3 * 64 + 1, 'a', 62);
	w[256] = 0;
	assert_int_equal(rg_bl_lookup(bl, w, 257, NULL), -EINVAL);
	/* The same with a NULL snapshot: still validated. */
	assert_int_equal(rg_bl_lookup(NULL, w, 257, NULL), -EINVAL);
	assert_int_equal(rg_bl_lookup(NULL, (const uint8_t *)"", 1, NULL), 0);
	rg_bl_free(bl);
}

static void
test_invalid_names(void **state)
{
	static const char *const bad[] = {
		"", ".", "*", "*.", "..", "a..b", ".a", "a.*.b", "a.b.*",
		"*.*.a", "a b.example", "tab\t.example", "esc\\046.example",
		"ctl\x01.example", "del\x7f.example",
		/* a label of 64 */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
		NULL
	};
	struct rg_bl_builder *b;
	char longname[300];
	size_t i;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(rg_bl_builder_feed(b, "f"), 0);
	for (i = 0; bad[i] != NULL; i++) {
		if (rg_bl_builder_add(b, bad[i], RG_ACTION_NXDOMAIN, 0,
		    NULL) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
	}
	/* 254 characters make a 256-byte wire name; 253 is the limit. */
	for (i = 0; i < 253; i++)
		longname[i] = (i % 2) ? '.' : 'a';
	longname[253] = '\0';
	assert_int_equal(rg_bl_builder_add(b, longname, RG_ACTION_NXDOMAIN, 0,
	    NULL), 0);
	longname[253] = '.';
	longname[254] = 'a';
	longname[255] = '\0';
	assert_int_equal(rg_bl_builder_add(b, longname, RG_ACTION_NXDOMAIN, 0,
	    NULL), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(rg_bl_builder_add(b, longname, RG_ACTION_NXDOMAIN, 0,
	    NULL), -EINVAL);
	/* Unknown feed or action, NULL name. */
	assert_int_equal(rg_bl_builder_add(b, "ok.example", RG_ACTION_NXDOMAIN,
	    1, NULL), -EINVAL);
	assert_int_equal(rg_bl_builder_add(b, "ok.example", RG_ACTION_NXDOMAIN,
	    -1, NULL), -EINVAL);
	assert_int_equal(rg_bl_builder_add(b, "ok.example", RG_ACTION_COUNT,
	    0, NULL), -EINVAL);
	assert_int_equal(rg_bl_builder_add(b, NULL, RG_ACTION_NXDOMAIN, 0,
	    NULL), -EINVAL);
	/* Bytes other than '.', '\\', space and controls are label bytes. */
	assert_int_equal(rg_bl_builder_add(b, "_dmarc.xn--bcher-kva.example",
	    RG_ACTION_NXDOMAIN, 0, NULL), 0);
	assert_int_equal(rg_bl_builder_add(b, "*a.example", RG_ACTION_NXDOMAIN,
	    0, NULL), 0);
	assert_int_equal(rg_bl_builder_count(b), 3);
	rg_bl_builder_free(b);

	assert_int_equal(rg_bl_lookup_str(NULL, "a..b", NULL), -EINVAL);
	assert_int_equal(rg_bl_lookup_str(NULL, "", NULL), -EINVAL);
	assert_int_equal(rg_bl_lookup_str(NULL, "a.example", NULL), 0);
}

static void
test_duplicates(void **state)
{
	static const char *const names[] = {
		"dup.example", "DUP.example", "dup.example.", "*.dup.example",
		"*.DUP.EXAMPLE.", "other.example", NULL
	};
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	size_t i;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(rg_bl_builder_feed(b, "f"), 0);
	for (i = 0; names[i] != NULL; i++)
		assert_int_equal(rg_bl_builder_add(b, names[i],
		    RG_ACTION_NXDOMAIN, 0, NULL), 0);
	assert_int_equal(rg_bl_builder_count(b), 6);
	assert_non_null(bl = rg_bl_build(b));
	/* The exact name and the wildcard are two rules. */
	assert_int_equal(rg_bl_entries(bl), 3);
	assert_int_equal(rg_bl_feed_entries(bl, 0), 3);
	expect(bl, "dup.example", "dup.example");
	expect(bl, "a.dup.example", "*.dup.example");
	expect(bl, "other.example", "other.example");
	rg_bl_free(bl);
}

static void
test_match_fields(void **state)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	int f0, f1;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(f0 = rg_bl_builder_feed(b, "hub"), 0);
	assert_int_equal(f1 = rg_bl_builder_feed(b, "local list"), 1);
	assert_int_equal(rg_bl_builder_add(b, "c2.example", RG_ACTION_SINKHOLE,
	    f0, "indicator--1234"), 0);
	assert_int_equal(rg_bl_builder_add(b, "*.phish.example",
	    RG_ACTION_LOG_ONLY, f1, "indicator--1234"), 0);
	assert_int_equal(rg_bl_builder_add(b, "plain.example", RG_ACTION_DROP,
	    f1, NULL), 0);
	assert_non_null(bl = rg_bl_build(b));

	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(rg_bl_lookup_str(bl, "C2.example.", &m), 1);
	assert_int_equal(m.action, RG_ACTION_SINKHOLE);
	assert_int_equal(m.wildcard, 0);
	assert_string_equal(m.feed, "hub");
	assert_string_equal(m.indicator, "indicator--1234");
	assert_string_equal(m.rule, "c2.example");

	assert_int_equal(lookup(bl, "login.bank.phish.example", &m), 1);
	assert_int_equal(m.action, RG_ACTION_LOG_ONLY);
	assert_int_equal(m.wildcard, 1);
	assert_string_equal(m.feed, "local list");
	assert_string_equal(m.indicator, "indicator--1234");
	assert_string_equal(m.rule, "*.phish.example");

	assert_int_equal(lookup(bl, "plain.example", &m), 1);
	assert_int_equal(m.action, RG_ACTION_DROP);
	assert_null(m.indicator);
	assert_string_equal(m.rule, "plain.example");
	assert_true(rg_bl_bytes(bl) > 0);
	rg_bl_free(bl);
}

/* Markings, local data and response-IP rules. */
static int
count_ip_cb(void *arg, const struct rg_bl_rule *r)
{
	if (r->prefix != NULL) {
		assert_null(r->name);
		(*(int *)arg)++;
	}
	return 0;
}

static void
test_meta_ip(void **state)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	struct rg_bl_meta meta = { "indicator--1", "amber", NULL };
	struct rg_bl_meta local = { "walled", NULL, "A 192.0.2.7\nA 192.0.2.8" };
	uint8_t a4[4] = { 192, 0, 2, 77 }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	int f0, f1, found;

	(void)state;
	assert_non_null(b = rg_bl_builder_new());
	f0 = rg_bl_builder_feed(b, "hub");
	f1 = rg_bl_builder_feed(b, "list");
	assert_int_equal(rg_bl_builder_add_meta(b, "bad.example",
	    RG_ACTION_NXDOMAIN, f0, &meta), 0);
	/* The same indicator without a marking is another record. */
	assert_int_equal(rg_bl_builder_add(b, "plain.example",
	    RG_ACTION_NXDOMAIN, f0, "indicator--1"), 0);
	assert_int_equal(rg_bl_builder_add_meta(b, "garden.example",
	    RG_ACTION_LOCAL, f0, &local), 0);
	/* Local data is required for the local action. */
	assert_int_equal(rg_bl_builder_add_meta(b, "x.example",
	    RG_ACTION_LOCAL, f0, &meta), -EINVAL);
	assert_int_equal(rg_bl_builder_add(b, "ok.bad.example",
	    RG_ACTION_PASSTHRU, f0, NULL), 0);
	assert_int_equal(rg_bl_builder_add_ip(b, "192.0.2.0/24",
	    RG_ACTION_NXDOMAIN, f1, &meta), 0);
	assert_int_equal(rg_bl_builder_add_ip(b, "192.0.2.77",
	    RG_ACTION_DROP, f1, NULL), 0);
	assert_int_equal(rg_bl_builder_add_ip(b, "192.0.0.0/16",
	    RG_ACTION_NODATA, f0, NULL), 0);
	assert_int_equal(rg_bl_builder_add_ip(b, "2001:db8::/32",
	    RG_ACTION_REFUSED, f1, NULL), 0);
	assert_int_equal(rg_bl_builder_add_ip(b, "2001:db8::/129",
	    RG_ACTION_REFUSED, f1, NULL), -EINVAL);
	assert_int_equal(rg_bl_builder_add_ip(b, "192.0.2.300",
	    RG_ACTION_REFUSED, f1, NULL), -EINVAL);
	assert_non_null(bl = rg_bl_build(b));
	assert_int_equal(rg_bl_ip_entries(bl), 4);
	assert_int_equal(rg_bl_entries(bl), 8);

	assert_int_equal(rg_bl_lookup_str(bl, "bad.example", &m), 1);
	assert_string_equal(m.indicator, "indicator--1");
	assert_string_equal(m.tlp, "amber");
	assert_null(m.local);
	assert_int_equal(rg_bl_lookup_str(bl, "plain.example", &m), 1);
	assert_string_equal(m.indicator, "indicator--1");
	assert_null(m.tlp);
	assert_int_equal(rg_bl_lookup_str(bl, "garden.example", &m), 1);
	assert_int_equal(m.action, RG_ACTION_LOCAL);
	assert_string_equal(m.local, "A 192.0.2.7\nA 192.0.2.8");
	assert_int_equal(rg_bl_lookup_str(bl, "ok.bad.example", &m), 1);
	assert_int_equal(m.action, RG_ACTION_PASSTHRU);

	/* The earliest feed wins over a longer prefix. */
	assert_int_equal(rg_bl_lookup_ip(bl, AF_INET, a4, &m), 1);
	assert_int_equal(m.action, RG_ACTION_NODATA);
	assert_string_equal(m.rule, "192.0.0.0/16");
	assert_string_equal(m.feed, "hub");
	a4[2] = 3;
	assert_int_equal(rg_bl_lookup_ip(bl, AF_INET, a4, &m), 1);
	assert_string_equal(m.rule, "192.0.0.0/16");
	a4[1] = 1;
	assert_int_equal(rg_bl_lookup_ip(bl, AF_INET, a4, &m), 0);
	assert_int_equal(rg_bl_lookup_ip(bl, AF_INET6, a6, &m), 1);
	assert_string_equal(m.rule, "2001:db8::/32");
	assert_int_equal(m.action, RG_ACTION_REFUSED);
	a6[3] = 0xb9;
	assert_int_equal(rg_bl_lookup_ip(bl, AF_INET6, a6, &m), 0);
	found = 0;
	assert_int_equal(rg_bl_foreach(bl, count_ip_cb, &found), 0);
	assert_int_equal(found, 4);
	rg_bl_free(bl);

	/* Within one feed the longest prefix wins. */
	assert_non_null(b = rg_bl_builder_new());
	f0 = rg_bl_builder_feed(b, "hub");
	assert_int_equal(rg_bl_builder_add_ip(b, "10.0.0.0/8",
	    RG_ACTION_NODATA, f0, NULL), 0);
	assert_int_equal(rg_bl_builder_add_ip(b, "10.1.0.0/16",
	    RG_ACTION_DROP, f0, &meta), 0);
	assert_non_null(bl = rg_bl_build(b));
	a4[0] = 10; a4[1] = 1;
	assert_int_equal(rg_bl_lookup_ip(bl, AF_INET, a4, &m), 1);
	assert_int_equal(m.action, RG_ACTION_DROP);
	assert_string_equal(m.tlp, "amber");
	rg_bl_free(bl);
}

static void
test_counts(void **state)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	char name[64];
	int f[300], i;

	assert_non_null(b = rg_bl_builder_new());
	/* Enough feeds to need two bytes for the index. */
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "feed%d", i);
		assert_int_equal(f[i] = rg_bl_builder_feed(b, name), i);
	}
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "n%d.example", i);
		assert_int_equal(rg_bl_builder_add(b, name,
		    (enum rg_action)(i % RG_ACTION_LOCAL), f[i % 300],
		    i % 2 ? name : NULL), 0);
	}
	assert_int_equal(rg_bl_builder_count(b), 3000);
	assert_non_null(bl = rg_bl_build(b));
	assert_int_equal(rg_bl_entries(bl), 3000);
	for (i = 0; i < 300; i++)
		assert_int_equal(rg_bl_feed_entries(bl, f[i]), 10);
	assert_int_equal(rg_bl_feed_entries(bl, 300), 0);
	assert_int_equal(rg_bl_feed_entries(bl, -1), 0);
	for (i = 0; i < 3000; i++) {
		struct rg_bl_match m;

		snprintf(name, sizeof(name), "n%d.example", i);
		assert_int_equal(rg_bl_lookup_str(bl, name, &m), 1);
		assert_string_equal(m.rule, name);
		assert_int_equal(m.action, i % RG_ACTION_LOCAL);
		snprintf(name, sizeof(name), "feed%d", i % 300);
		assert_string_equal(m.feed, name);
		if (i % 2)
			assert_string_equal(m.indicator, m.rule);
		else
			assert_null(m.indicator);
	}
	assert_int_equal(rg_bl_lookup_str(bl, "n3000.example", NULL), 0);
	rg_bl_free(bl);
}

/* "*." and a label of 40 + I digits I, in a parent too long for a bucket. */
static void
long_wild(char *name, int i)
{
	memcpy(name, "*.", 2);
	memset(name + 2, '0' + i, (size_t)(40 + i));
	strcpy(name + 42 + i, ".long-names-live-outside.example");
}

static void
test_long_names(void **state)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	char name[300], q[310];
	int i, j;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(rg_bl_builder_feed(b, "f"), 0);
	/* Names of 64 wire bytes, one to a bucket: the table has to grow. */
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "%c%054d.example", 'a' + i % 26,
		    i);
		assert_int_equal(rg_bl_builder_add(b, name, RG_ACTION_NXDOMAIN,
		    0, "indicator"), 0);
	}
	/* Longer names, kept out of the buckets; the longest possible. */
	for (i = 0; i < 10; i++) {
		long_wild(name, i);
		assert_int_equal(rg_bl_builder_add(b, name, RG_ACTION_DROP, 0,
		    NULL), 0);
	}
	for (j = 0; j < 253; j++)
		name[j] = (j % 2) ? '.' : 'z';
	name[253] = '\0';
	assert_int_equal(rg_bl_builder_add(b, name, RG_ACTION_REFUSED, 0,
	    NULL), 0);
	assert_non_null(bl = rg_bl_build(b));
	assert_int_equal(rg_bl_entries(bl), 51);

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "%c%054d.example", 'a' + i % 26,
		    i);
		expect(bl, name, name);
		snprintf(q, sizeof(q), "x.%s", name);
		expect(bl, q, NULL);
	}
	for (i = 0; i < 10; i++) {
		long_wild(name, i);
		snprintf(q, sizeof(q), "a.b%s", name + 1);
		expect(bl, q, name);
		expect(bl, name + 2, NULL);
	}
	for (j = 0; j < 253; j++)
		name[j] = (j % 2) ? '.' : 'Z';
	name[253] = '\0';
	for (j = 0; j < 253; j++)
		q[j] = (j % 2) ? '.' : 'z';
	q[253] = '\0';
	expect(bl, name, q);
	rg_bl_free(bl);
}

/* Name I of test_many: lengths from 3 to 90 bytes, so that entries of
 * every size, long names among them, crowd the buckets. */
static void
many_name(char *name, size_t len, int i)
{
	int w = 1 + (i * 7) % 60, x = (i * 11) % 40;

	snprintf(name, len, "%s%0*d.%.*sm%d.example", i % 10 == 0 ? "*." : "",
	    w, i, x, "abcdefghijklmnopqrstuvwxyzabcdefghijklm.", i % 13);
}

static int
many_count(void *arg, const struct rg_bl_rule *r)
{
	size_t *n = arg;

	(*n)++;
	/* Line numbers come back as text. */
	if (r->indicator != NULL && strncmp(r->indicator, "line ", 5) != 0 &&
	    strncmp(r->indicator, "ind-", 4) != 0)
		return -1;
	return 0;
}

/* Enough rules that the table moves entries between their two buckets and
 * lets some overflow: every rule is still found once, with its data. */
static void
test_many(void **state)
{
	enum { N = 120000 };
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	char name[160], ind[32];
	size_t seen = 0;
	int feed, i;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(feed = rg_bl_builder_feed(b, "many"), 0);
	for (i = 0; i < N; i++) {
		many_name(name, sizeof(name), i);
		if (i % 3 == 0)
			snprintf(ind, sizeof(ind), "line %d", i + 1);
		else
			snprintf(ind, sizeof(ind), "ind-%d", i % 1000);
		assert_int_equal(rg_bl_builder_add(b, name,
		    (enum rg_action)(i % RG_ACTION_LOCAL), feed,
		    i % 3 == 2 ? NULL : ind), 0);
	}
	/* Indicators that only look like line numbers stay strings. */
	assert_int_equal(rg_bl_builder_add(b, "l0.example",
	    RG_ACTION_NXDOMAIN, feed, "line 0"), 0);
	assert_int_equal(rg_bl_builder_add(b, "l1.example",
	    RG_ACTION_NXDOMAIN, feed, "line 01"), 0);
	assert_int_equal(rg_bl_builder_add(b, "l2.example",
	    RG_ACTION_NXDOMAIN, feed, "line 2147483648"), 0);
	assert_int_equal(rg_bl_builder_add(b, "l3.example",
	    RG_ACTION_NXDOMAIN, feed, "line 2147483647"), 0);
	assert_int_equal(rg_bl_builder_add(b, "l4.example",
	    RG_ACTION_NXDOMAIN, feed, "line 7 "), 0);
	assert_non_null(bl = rg_bl_build(b));
	assert_int_equal(rg_bl_entries(bl), N + 5);
	for (i = 0; i < N; i++) {
		many_name(name, sizeof(name), i);
		memset(&m, 0, sizeof(m));
		if (i % 10 == 0) {
			/* A wildcard: a name below it. */
			name[0] = 'x';
			assert_int_equal(rg_bl_lookup_str(bl, name, &m), 1);
			assert_true(m.wildcard);
			name[0] = '*';
			/* Not the parent itself. */
			assert_int_equal(rg_bl_lookup_str(bl, name + 2, NULL),
			    0);
		} else
			assert_int_equal(rg_bl_lookup_str(bl, name, &m), 1);
		assert_string_equal(m.rule, name);
		assert_int_equal(m.action, i % RG_ACTION_LOCAL);
		if (i % 3 == 0) {
			snprintf(ind, sizeof(ind), "line %d", i + 1);
			assert_string_equal(m.indicator, ind);
		} else if (i % 3 == 1) {
			snprintf(ind, sizeof(ind), "ind-%d", i % 1000);
			assert_string_equal(m.indicator, ind);
		} else
			assert_null(m.indicator);
		/* A neighbour that is not there. */
		snprintf(name, sizeof(name), "%dz.m%d.example", i, i % 13);
		assert_int_equal(rg_bl_lookup_str(bl, name, NULL), 0);
	}
	assert_int_equal(rg_bl_lookup_str(bl, "l0.example", &m), 1);
	assert_string_equal(m.indicator, "line 0");
	assert_int_equal(rg_bl_lookup_str(bl, "l1.example", &m), 1);
	assert_string_equal(m.indicator, "line 01");
	assert_int_equal(rg_bl_lookup_str(bl, "l2.example", &m), 1);
	assert_string_equal(m.indicator, "line 2147483648");
	assert_int_equal(rg_bl_lookup_str(bl, "l3.example", &m), 1);
	assert_string_equal(m.indicator, "line 2147483647");
	assert_int_equal(rg_bl_lookup_str(bl, "l4.example", &m), 1);
	assert_string_equal(m.indicator, "line 7 ");
	assert_int_equal(rg_bl_foreach(bl, many_count, &seen), 0);
	assert_int_equal(seen, N + 5);
	rg_bl_free(bl);
}

/* An indicator that is the rule itself (an RPZ owner) reads back as it
 * was given, whatever way the snapshot keeps it. */
static void
test_indicator_self(void **state)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	int feed;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(feed = rg_bl_builder_feed(b, "rpz"), 0);
	assert_int_equal(rg_bl_builder_add(b, "ads.example",
	    RG_ACTION_NXDOMAIN, feed, "ads.example"), 0);
	assert_int_equal(rg_bl_builder_add(b, "*.w.example",
	    RG_ACTION_NXDOMAIN, feed, "*.w.example"), 0);
	assert_int_equal(rg_bl_builder_add(b, "Up.example",
	    RG_ACTION_NXDOMAIN, feed, "Up.example"), 0);
	assert_int_equal(rg_bl_builder_add(b, "dot.example.",
	    RG_ACTION_NXDOMAIN, feed, "dot.example."), 0);
	assert_int_equal(rg_bl_builder_add(b, "other.example",
	    RG_ACTION_NXDOMAIN, feed, "ads.example"), 0);
	assert_non_null(bl = rg_bl_build(b));
	assert_int_equal(rg_bl_lookup_str(bl, "ads.example", &m), 1);
	assert_string_equal(m.indicator, "ads.example");
	assert_int_equal(rg_bl_lookup_str(bl, "x.w.example", &m), 1);
	assert_string_equal(m.indicator, "*.w.example");
	assert_int_equal(rg_bl_lookup_str(bl, "up.example", &m), 1);
	assert_string_equal(m.indicator, "Up.example");
	assert_int_equal(rg_bl_lookup_str(bl, "dot.example", &m), 1);
	assert_string_equal(m.indicator, "dot.example.");
	assert_int_equal(rg_bl_lookup_str(bl, "other.example", &m), 1);
	assert_string_equal(m.indicator, "ads.example");
	rg_bl_free(bl);
}

static void
test_empty(void **state)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(rg_bl_builder_count(b), 0);
	assert_non_null(bl = rg_bl_build(b));
	assert_int_equal(rg_bl_entries(bl), 0);
	assert_int_equal(rg_bl_feed_entries(bl, 0), 0);
	expect(bl, "a.example", NULL);
	expect(bl, ".", NULL);
	rg_bl_free(bl);
	assert_int_equal(rg_bl_entries(NULL), 0);
	assert_int_equal(rg_bl_bytes(NULL), 0);
	expect(NULL, "a.example", NULL);
	rg_bl_free(NULL);
	rg_bl_builder_free(NULL);
	assert_null(rg_bl_build(NULL));
}

/* Parse the sample list FILE into B as feed 0; returns the rules added. */
static long
parse_file(struct rg_bl_builder *b, const char *file, size_t *skipped,
    char *err, size_t err_len)
{
	char path[512], *data;
	FILE *fp;
	long n, rc;

	snprintf(path, sizeof(path), "%s/domains/%s", RG_TEST_DATA, file);
	if ((fp = fopen(path, "rb")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((n = ftell(fp)) > 0);
	rewind(fp);
	assert_non_null(data = malloc((size_t)n));
	assert_int_equal(fread(data, 1, (size_t)n, fp), n);
	fclose(fp);
	rc = rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN, data, (size_t)n,
	    skipped, err, err_len);
	free(data);
	return rc;
}

static struct rg_blocklist *
parse_build(const char *file, long expect_added, size_t expect_skipped,
    char *err, size_t err_len)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	size_t skipped = 12345;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(rg_bl_builder_feed(b, file), 0);
	assert_int_equal(parse_file(b, file, &skipped, err, err_len),
	    expect_added);
	assert_int_equal(skipped, expect_skipped);
	assert_non_null(bl = rg_bl_build(b));
	return bl;
}

static void
test_domains_plain(void **state)
{
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	char err[128];

	bl = parse_build("plain.txt", 6, 0, err, sizeof(err));
	assert_string_equal(err, "");
	expect(bl, "ads.example", "ads.example");
	expect(bl, "tracker.example.net", "tracker.example.net");
	expect(bl, "x.malware.example", "*.malware.example");
	expect(bl, "malware.example", NULL);
	expect(bl, "phish.example.org", "phish.example.org");
	expect(bl, "indented.example", "indented.example");
	expect(bl, "a.deep.sub.example", "*.deep.sub.example");
	assert_int_equal(lookup(bl, "x.malware.example", &m), 1);
	assert_string_equal(m.indicator, "line 5");
	assert_string_equal(m.feed, "plain.txt");
	assert_int_equal(m.action, RG_ACTION_NXDOMAIN);
	assert_int_equal(lookup(bl, "ads.example", &m), 1);
	assert_string_equal(m.indicator, "line 3");
	rg_bl_free(bl);
}

static void
test_domains_hosts(void **state)
{
	static const char *const skipped_names[] = {
		"localhost", "localhost.localdomain", "broadcasthost",
		"ip6-localhost", "ip6-loopback", "0.0.0.0", NULL
	};
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	char err[128];
	size_t i;

	bl = parse_build("hosts.txt", 7, 0, err, sizeof(err));
	assert_string_equal(err, "");
	assert_int_equal(rg_bl_entries(bl), 7);
	expect(bl, "ads.hosts.example", "ads.hosts.example");
	expect(bl, "a.hosts.example", "a.hosts.example");
	expect(bl, "b.hosts.example", "b.hosts.example");
	expect(bl, "c.hosts.example", "c.hosts.example");
	expect(bl, "loop.hosts.example", "loop.hosts.example");
	expect(bl, "v6.hosts.example", "v6.hosts.example");
	expect(bl, "any6.hosts.example", "any6.hosts.example");
	for (i = 0; skipped_names[i] != NULL; i++)
		assert_int_equal(rg_bl_lookup_str(bl, skipped_names[i], NULL),
		    0);
	assert_int_equal(lookup(bl, "c.hosts.example", &m), 1);
	assert_string_equal(m.indicator, "line 10");
	rg_bl_free(bl);
}

static void
test_domains_crlf(void **state)
{
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	char err[128];

	bl = parse_build("crlf.txt", 5, 0, err, sizeof(err));
	expect(bl, "crlf-one.example", "crlf-one.example");
	expect(bl, "x.crlf-two.example", "*.crlf-two.example");
	expect(bl, "crlf-three.example", "crlf-three.example");
	expect(bl, "crlf-four.example", "crlf-four.example");
	/* The last line has no line ending. */
	expect(bl, "last.example", "last.example");
	assert_int_equal(lookup(bl, "last.example", &m), 1);
	assert_string_equal(m.indicator, "line 7");
	rg_bl_free(bl);
}

static void
test_domains_bad(void **state)
{
	struct rg_blocklist *bl;
	char err[128];

	bl = parse_build("bad.txt", 4, 9, err, sizeof(err));
	assert_string_equal(err, "line 3: invalid name \"bad..example\"");
	expect(bl, "good-one.example", "good-one.example");
	expect(bl, "good-two.example", "good-two.example");
	expect(bl, "fine.example", "fine.example");
	expect(bl, "x.good-three.example", "*.good-three.example");
	expect(bl, "url.example", NULL);
	expect(bl, "adblock.example", NULL);
	expect(bl, "names.example", NULL);
	rg_bl_free(bl);
}

static void
test_domains_edges(void **state)
{
	struct rg_bl_builder *b;
	char err[128], *big;
	size_t skipped, n = 1 << 20;
	long rc;

	assert_non_null(b = rg_bl_builder_new());
	assert_int_equal(rg_bl_builder_feed(b, "f"), 0);

	/* One line of a megabyte, then a name. */
	assert_non_null(big = malloc(n + 32));
	memset(big, 'a', n);
	memcpy(big + n, "\nok.example\n", 12);
	rc = rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN, big, n + 12,
	    &skipped, err, sizeof(err));
	assert_int_equal(rc, 1);
	assert_int_equal(skipped, 1);
	assert_contains(err, "line 1: invalid name \"aaaa");
	assert_contains(err, "...\"");
	/* The same, broken into words: each a name too long. */
	memset(big, 'b', n);
	for (size_t i = 300; i < n; i += 301)
		big[i] = ' ';
	rc = rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN, big, n,
	    &skipped, NULL, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(skipped, 1);
	free(big);

	/* Error text with quotes and control bytes, truncated to ERR. */
	rc = rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN,
	    "\n\nbad\x01name\"here.example\n", 24, &skipped, err, 21);
	assert_int_equal(rc, 0);
	assert_int_equal(skipped, 1);
	assert_string_equal(err, "line 3: invalid name");
	rc = rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN,
	    "bad\x01name.example", 16, &skipped, err, sizeof(err));
	assert_string_equal(err, "line 1: invalid name \"bad?name.example\"");

	/* A NUL inside the data is not the end of it. */
	rc = rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN,
	    "a\0b.example\nnul.example", 23, &skipped, err, sizeof(err));
	assert_int_equal(rc, 1);
	assert_int_equal(skipped, 1);

	/* Empty input, NULL counters, a hosts line without names. */
	assert_int_equal(rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN,
	    "", 0, NULL, NULL, 0), 0);
	assert_int_equal(rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN,
	    NULL, 0, &skipped, err, sizeof(err)), 0);
	assert_int_equal(rg_feed_domains_parse(b, 0, RG_ACTION_NXDOMAIN,
	    "0.0.0.0   # nothing\n", 20, &skipped, err, sizeof(err)), 0);
	assert_int_equal(skipped, 1);
	assert_string_equal(err, "line 1: no name after address \"0.0.0.0\"");
	assert_int_equal(rg_feed_domains_parse(NULL, 0, RG_ACTION_NXDOMAIN,
	    "a.example", 9, NULL, NULL, 0), -EINVAL);
	assert_int_equal(rg_bl_builder_count(b), 2);
	rg_bl_builder_free(b);
}

/* Publication. */

static struct rg_blocklist *
build_gen(unsigned gen, size_t extra)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl;
	char feed[32], ind[32], name[64];
	size_t i;

	assert_non_null(b = rg_bl_builder_new());
	snprintf(feed, sizeof(feed), "feed-%u", gen);
	snprintf(ind, sizeof(ind), "gen %u", gen);
	assert_int_equal(rg_bl_builder_feed(b, feed), 0);
	assert_int_equal(rg_bl_builder_add(b, "marker.test", RG_ACTION_NXDOMAIN,
	    0, ind), 0);
	assert_int_equal(rg_bl_builder_add(b, "*.wild.test", RG_ACTION_NXDOMAIN,
	    0, ind), 0);
	for (i = 0; i < extra; i++) {
		snprintf(name, sizeof(name), "g%u-n%zu.example", gen, i);
		assert_int_equal(rg_bl_builder_add(b, name, RG_ACTION_DROP, 0,
		    NULL), 0);
	}
	assert_non_null(bl = rg_bl_build(b));
	return bl;
}

static void
test_publish_sequential(void **state)
{
	struct rg_bl_domain *d;
	const struct rg_blocklist *held, *cur;
	struct rg_bl_match m;

	assert_non_null(d = rg_bl_domain_new(2, build_gen(0, 10)));
	rg_bl_quiescent(d, 0);
	rg_bl_quiescent(d, 1);
	held = rg_bl_current(d);

	/* Reader 0 holds generation 0 across two publications. */
	rg_bl_publish(d, build_gen(1, 10));
	rg_bl_quiescent(d, 1);
	rg_bl_reclaim(d);
	rg_bl_publish(d, build_gen(2, 10));
	rg_bl_reclaim(d);
	assert_int_equal(rg_bl_lookup_str(held, "marker.test", &m), 1);
	assert_string_equal(m.feed, "feed-0");

	rg_bl_quiescent(d, 0);
	cur = rg_bl_current(d);
	assert_int_equal(rg_bl_lookup_str(cur, "marker.test", &m), 1);
	assert_string_equal(m.feed, "feed-2");
	rg_bl_quiescent(d, 1);
	rg_bl_reclaim(d);

	/* No blocklist, then one again; readers out of range are ignored. */
	rg_bl_publish(d, NULL);
	assert_null(rg_bl_current(d));
	rg_bl_quiescent(d, 7);
	rg_bl_publish(d, build_gen(3, 0));
	rg_bl_reclaim(d);
	rg_bl_domain_free(d);

	/* No reader: everything retired is freed at once. */
	assert_non_null(d = rg_bl_domain_new(0, NULL));
	rg_bl_publish(d, build_gen(4, 0));
	rg_bl_publish(d, build_gen(5, 0));
	rg_bl_reclaim(d);
	rg_bl_domain_free(d);
	rg_bl_domain_free(NULL);
}

#define READERS		3
#define PUBLICATIONS	400

struct reader_arg {
	struct rg_bl_domain *d;
	unsigned id;
	atomic_int *stop;
	atomic_int *ready;
	unsigned long lookups;
	unsigned long errors;
	unsigned long seen;		/* distinct generations seen */
};

static void *
reader_main(void *p)
{
	struct reader_arg *a = p;
	const struct rg_blocklist *bl;
	struct rg_bl_match m;
	unsigned long last = (unsigned long)-1, gen;
	int i, announced = 0;

	while (!atomic_load(a->stop)) {
		bl = rg_bl_current(a->d);
		for (i = 0; i < 16; i++) {
			if (rg_bl_lookup_str(bl, i % 2 ? "marker.test" :
			    "a.b.wild.test", &m) != 1 ||
			    strncmp(m.feed, "feed-", 5) != 0 ||
			    m.indicator == NULL ||
			    strcmp(m.indicator + 4, m.feed + 5) != 0) {
				a->errors++;
				continue;
			}
			gen = strtoul(m.feed + 5, NULL, 10);
			if (gen != last) {
				a->seen++;
				last = gen;
			}
			a->lookups++;
		}
		rg_bl_quiescent(a->d, a->id);
		if (!announced) {
			atomic_fetch_add(a->ready, 1);
			announced = 1;
		}
	}
	rg_bl_quiescent(a->d, a->id);
	return NULL;
}

static void
test_publish_concurrent(void **state)
{
	struct reader_arg arg[READERS];
	pthread_t th[READERS];
	struct rg_bl_domain *d;
	atomic_int stop, ready;
	unsigned i;

	atomic_init(&stop, 0);
	atomic_init(&ready, 0);
	assert_non_null(d = rg_bl_domain_new(READERS, build_gen(0, 50)));
	for (i = 0; i < READERS; i++) {
		memset(&arg[i], 0, sizeof(arg[i]));
		arg[i].d = d;
		arg[i].id = i;
		arg[i].stop = &stop;
		arg[i].ready = &ready;
		assert_int_equal(pthread_create(&th[i], NULL, reader_main,
		    &arg[i]), 0);
	}
	/* Every reader looks up before the first publication. */
	while (atomic_load(&ready) < READERS)
		sched_yield();
	for (i = 1; i <= PUBLICATIONS; i++) {
		rg_bl_publish(d, build_gen(i, 50));
		rg_bl_reclaim(d);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < READERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(arg[i].errors, 0);
		assert_true(arg[i].lookups > 0);
		assert_true(arg[i].seen > 0);
	}
	rg_bl_reclaim(d);
	rg_bl_domain_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_action_names),
		cmocka_unit_test(test_exact_and_wildcard),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_malformed_wire),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_match_fields),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_meta_ip),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_indicator_self),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_domains_plain),
		cmocka_unit_test(test_domains_hosts),
		cmocka_unit_test(test_domains_crlf),
		cmocka_unit_test(test_domains_bad),
		cmocka_unit_test(test_domains_edges),
		cmocka_unit_test(test_publish_sequential),
		cmocka_unit_test(test_publish_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_feed_misp.c -- unit tests of the "misp" feed format plugin: the
 * document shapes (an event, a feed's array of events, a REST search
 * result, a bare event), attributes of events and of objects, to_ids and
 * deleted in all their spellings, the attribute types used and those
 * passed over, values (names and URL hosts in Unicode among them), TLP
 * tags, indicator ids, malformed documents, and a callback that stops the
 * parse.  The documents are under data/misp or
 * built here.
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

#include <jansson.h>

#include "feedtest.h"

static struct rg_feed_settings
settings(void)
{
	struct rg_feed_settings s;

	memset(&s, 0, sizeof(s));
	s.name = "hub";
	s.format = "misp";
	s.now = 1700000000;
	return s;
}

/* Parse DOC (taken). */
static long
run_json(const struct rg_feed_settings *s, json_t *doc, struct got *g)
{
	char *text;
	long rc;

	assert_non_null(doc);
	assert_non_null(text = json_dumps(doc, 0));
	rc = rg_test_run_str(s, text, g);
	free(text);
	json_decref(doc);
	return rc;
}

/* {"Event": {"uuid": "ev", "Attribute": ATTRS}} (ATTRS taken). */
static long
run_attrs(const struct rg_feed_settings *s, json_t *attrs, struct got *g)
{
	return run_json(s, json_pack("{s:{s:s, s:o}}", "Event", "uuid", "ev",
	    "Attribute", attrs), g);
}

/* An attribute for detection. */
static json_t *
attr(const char *uuid, const char *type, const char *value)
{
	json_t *a;

	a = json_pack("{s:s, s:s, s:s, s:b, s:b}", "uuid", uuid, "type", type,
	    "value", value, "to_ids", 1, "deleted", 0);
	assert_non_null(a);
	return a;
}

/* A real-shaped event: attributes, an object, tags, strings for numbers. */
static void
test_event(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_file(&s, "event.json", &g), 5);
	rg_test_expect_rules(&g, "N grid-login.example", "N files.bad.example",
	    "I 203.0.113.66", "N relay.bad.example", "I 2001:db8:66::7", NULL);
	assert_string_equal(g.ind[0], "a1f0c3d2-0001-4a5b-8c7d-000000000001");
	assert_string_equal(g.ind[3], "a1f0c3d2-0001-4a5b-8c7d-000000000010");
	/* The event's TLP, but the attribute's own tag first. */
	assert_string_equal(g.tlp[0], "amber");
	assert_string_equal(g.tlp[1], "red");
	assert_string_equal(g.tlp[2], "amber");
	assert_string_equal(g.tlp[3], "amber");
	/* Not to_ids, and deleted; sha256 and text pass without a word. */
	assert_int_equal(g.st.revoked, 2);
	assert_int_equal(g.st.skipped, 0);
	assert_string_equal(g.st.first_skip, "");

	s.subdomains = 1;
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_file(&s, "event.json", &g), 7);
	rg_test_expect_rules(&g, "N grid-login.example",
	    "N *.grid-login.example", "N files.bad.example", "I 203.0.113.66",
	    "N relay.bad.example", "N *.relay.bad.example", "I 2001:db8:66::7",
	    NULL);
}

/* A MISP feed, as fetched: an array of events. */
static void
test_feed(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_file(&s, "feed.json", &g), 4);
	rg_test_expect_rules(&g, "N mixed.example", "I 192.0.2.44",
	    "I 198.51.100.9", "I 192.0.2.0/25", NULL);
	assert_string_equal(g.ind[0], "c0000000-1111-4000-8000-000000000001");
	assert_string_equal(g.ind[1], "c0000000-1111-4000-8000-000000000001");
	assert_string_equal(g.tlp[0], "green");
	assert_string_equal(g.tlp[2], "green");
	assert_string_equal(g.tlp[3], "clear");
	assert_int_equal(g.st.revoked + g.st.skipped, 0);

	/* Entries that are not events are skipped, the rest used. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("[i, {s:i}, {s:s}, {s:[o]}]",
	    1, "foo", 1, "Event", "x", "Attribute", attr("u", "domain",
	    "bare.example")), &g), 1);
	rg_test_expect_rules(&g, "N bare.example", NULL);
	assert_int_equal(g.st.skipped, 3);
	assert_string_equal(g.st.first_skip, "entries[0]: not a MISP event");

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "[]", &g), 0);
}

/* A REST search result, and the event alone. */
static void
test_search(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_file(&s, "search.json", &g), 2);
	rg_test_expect_rules(&g, "N search-hit.example", "I 2001:db8::bad",
	    NULL);
	/* No uuid: the event's uuid and the attribute's id. */
	assert_string_equal(g.ind[0],
	    "7e57a11c-2222-4d3e-8f90-000000000088/9001");
	assert_string_equal(g.ind[1],
	    "7e57a11c-2222-4d3e-8f90-000000000088/9002");
	assert_string_equal(g.tlp[0], "-");

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "{\"response\": []}", &g), 0);

	/* An attribute search: "response" holds the attributes. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("{s:{s:[o]}}", "response",
	    "Attribute", attr("u1", "ip-dst", "192.0.2.8")), &g), 1);
	rg_test_expect_rules(&g, "I 192.0.2.8", NULL);

	/* The event without its wrapper, with attributes or objects. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("{s:s, s:[o]}", "uuid", "ev",
	    "Attribute", attr("u1", "hostname", "h.example")), &g), 1);
	rg_test_expect_rules(&g, "N h.example", NULL);
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("{s:s, s:[{s:[o]}]}", "uuid",
	    "ev", "Object", "Attribute", attr("u1", "domain", "o.example")),
	    &g), 1);
	rg_test_expect_rules(&g, "N o.example", NULL);
}

static void
test_not_misp(void **state)
{
	static const char *const docs[] = {
		"{\"foo\": 1}",
		"{\"Event\": 3}",
		"{\"Event\": [1]}",
		"{\"response\": 5}",
		"{\"response\": {\"foo\": 1}}",
		"{\"type\": \"bundle\", \"objects\": []}",
		"\"a string\"",
		"42",
		"",
		NULL
	};
	struct rg_feed_settings s = settings();
	struct got g;
	int i;

	for (i = 0; docs[i] != NULL; i++) {
		memset(&g, 0, sizeof(g));
		if (rg_test_run_str(&s, docs[i], &g) != -EINVAL)
			fail_msg("\"%s\": not refused", docs[i]);
		assert_int_equal(g.calls, 0);
	}
}

static void
test_malformed(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_file(&s, "bad.json", &g), -EINVAL);
	assert_contains(g.msg, "line 5");
	assert_int_equal(g.calls, 0);

	/* Cut short. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "{\"Event\": {\"Attribute\": [",
	    &g), -EINVAL);
	assert_contains(g.msg, "line 1");

	/* Only LEN bytes are read. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run(&s, "[]]]]", 2, &g), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run(&s, "\xef\xbb\xbf[]", 5, &g), 0);
}

/* to_ids and deleted, as booleans, numbers and strings. */
static void
test_flags(void **state)
{
	static const char *const yes[] = { "true", "1", "\"1\"", "\"true\"",
	    "\"True\"", "\"TRUE\"" };
	static const char *const no[] = { "false", "0", "\"0\"", "\"false\"",
	    "\"False\"", "null" };
	static const char *const bad[] = { "2", "\"yes\"", "\"\"", "[]",
	    "1.0" };
	struct rg_feed_settings s = settings();
	struct got g;
	char doc[512];
	size_t i;

#define FLAGS_DOC "{\"Event\": {\"uuid\": \"ev\", \"Attribute\": [{\"uuid\":" \
	" \"u\", \"type\": \"domain\", \"value\": \"f.example\", " \
	"\"to_ids\": %s, \"deleted\": %s}]}}"
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(doc, sizeof(doc), FLAGS_DOC, yes[i], no[i]);
		memset(&g, 0, sizeof(g));
		if (rg_test_run_str(&s, doc, &g) != 1)
			fail_msg("to_ids %s, deleted %s: not used", yes[i],
			    no[i]);
		/* The other way round: deleted, not for detection. */
		snprintf(doc, sizeof(doc), FLAGS_DOC, no[i], no[i]);
		memset(&g, 0, sizeof(g));
		assert_int_equal(rg_test_run_str(&s, doc, &g), 0);
		assert_int_equal(g.st.revoked, 1);
		snprintf(doc, sizeof(doc), FLAGS_DOC, yes[i], yes[i]);
		memset(&g, 0, sizeof(g));
		assert_int_equal(rg_test_run_str(&s, doc, &g), 0);
		assert_int_equal(g.st.revoked, 1);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), FLAGS_DOC, bad[i], "false");
		memset(&g, 0, sizeof(g));
		assert_int_equal(rg_test_run_str(&s, doc, &g), 0);
		if (g.st.skipped != 1)
			fail_msg("to_ids %s: not skipped", bad[i]);
		assert_contains(g.st.first_skip, "to_ids");
		snprintf(doc, sizeof(doc), FLAGS_DOC, "true", bad[i]);
		memset(&g, 0, sizeof(g));
		assert_int_equal(rg_test_run_str(&s, doc, &g), 0);
		assert_int_equal(g.st.skipped, 1);
		assert_contains(g.st.first_skip, "deleted");
	}
#undef FLAGS_DOC

	/* Without to_ids: not for detection; without deleted: not deleted. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_attrs(&s, json_pack("[{s:s, s:s, s:s}]", "uuid",
	    "u", "type", "domain", "value", "f.example"), &g), 0);
	assert_int_equal(g.st.revoked, 1);
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_attrs(&s, json_pack("[{s:s, s:s, s:s, s:b}]",
	    "uuid", "u", "type", "domain", "value", "f.example", "to_ids", 1),
	    &g), 1);
}

/* Numbers that come as strings, as MISP sends them. */
static void
test_strings_for_numbers(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g, g2;

	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("{s:{s:s, s:s, s:s, s:s, "
	    "s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s}]}}", "Event",
	    "id", "12", "timestamp", "1694505600", "distribution", "3",
	    "threat_level_id", "1", "Attribute", "id", "34", "type", "domain",
	    "value", "n.example", "to_ids", "1", "deleted", "0",
	    "timestamp", "1694505600", "distribution", "5"), &g), 1);
	memset(&g2, 0, sizeof(g2));
	assert_int_equal(run_json(&s, json_pack("{s:{s:i, s:i, s:i, s:i, "
	    "s:[{s:i, s:s, s:s, s:i, s:i, s:i, s:i}]}}", "Event",
	    "id", 12, "timestamp", 1694505600, "distribution", 3,
	    "threat_level_id", 1, "Attribute", "id", 34, "type", "domain",
	    "value", "n.example", "to_ids", 1, "deleted", 0,
	    "timestamp", 1694505600, "distribution", 5), &g2), 1);
	rg_test_expect_rules(&g, "N n.example", NULL);
	rg_test_expect_rules(&g2, "N n.example", NULL);
	/* Without uuids: event id and attribute id, either way. */
	assert_string_equal(g.ind[0], "12/34");
	assert_string_equal(g2.ind[0], "12/34");
}

static void
test_types(void **state)
{
	static const struct {
		const char *type, *value, *r1, *r2;
	} good[] = {
		{ "domain", "Bad.Example.", "N bad.example", NULL },
		{ "hostname", "www.bad.example", "N www.bad.example", NULL },
		{ "domain|ip", "bad.example|192.0.2.1", "N bad.example",
		    "I 192.0.2.1" },
		{ "domain|ip", "bad.example|2001:db8::1", "N bad.example",
		    "I 2001:db8::1" },
		{ "url", "https://u:p@www.bad.example:8443/x?y#z",
		    "N www.bad.example", NULL },
		{ "url", "http://192.0.2.9/x", "I 192.0.2.9", NULL },
		{ "url", "http://[2001:db8::9]:80/", "I 2001:db8::9", NULL },
		{ "url", "bad.example/no-scheme", "N bad.example", NULL },
		{ "ip-dst", "192.0.2.1", "I 192.0.2.1", NULL },
		{ "ip-src", "192.0.2.77/24", "I 192.0.2.0/24", NULL },
		{ "ip-dst", "2001:DB8::/32", "I 2001:db8::/32", NULL },
		{ "ip-dst|port", "192.0.2.1|443", "I 192.0.2.1", NULL },
		{ "ip-src|port", "2001:db8::1|8080", "I 2001:db8::1", NULL },
		{ "ip-dst", " 192.0.2.5\n", "I 192.0.2.5", NULL },
	};
	static const char *const ignored[] = {
		"md5", "sha256", "email-src", "AS", "text", "domain-ip",
		"Domain", "ip-dst|port|x", "link", "comment",
	};
	struct rg_feed_settings s = settings();
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&g, 0, sizeof(g));
		if (run_attrs(&s, json_pack("[o]", attr("u", good[i].type,
		    good[i].value)), &g) != (good[i].r2 != NULL ? 2 : 1))
			fail_msg("%s %s: %s", good[i].type, good[i].value,
			    g.st.first_skip);
		rg_test_expect_rules(&g, good[i].r1, good[i].r2, NULL);
		assert_string_equal(g.ind[0], "u");
	}
	/* Types not for a resolver pass without a word. */
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		memset(&g, 0, sizeof(g));
		assert_int_equal(run_attrs(&s, json_pack("[o]", attr("u",
		    ignored[i], "bad.example")), &g), 0);
		assert_int_equal(g.st.skipped + g.st.revoked, 0);
	}
}

static void
test_subdomains(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	s.subdomains = 1;
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_attrs(&s, json_pack("[o, o, o, o, o]",
	    attr("u1", "domain", "a.example"),
	    attr("u2", "hostname", "h.example"),
	    attr("u3", "domain|ip", "d.example|192.0.2.3"),
	    attr("u4", "url", "http://u.example/x"),
	    attr("u5", "ip-dst", "192.0.2.4")), &g), 9);
	rg_test_expect_rules(&g, "N a.example", "N *.a.example", "N h.example",
	    "N *.h.example", "N d.example", "N *.d.example", "I 192.0.2.3",
	    "N u.example", "I 192.0.2.4", NULL);
}

/* Names and URL hosts in Unicode give the rules of their punycode. */
static void
test_idn(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(run_attrs(&s, json_pack("[o, o, o, o, o, o]",
	    attr("u1", "domain", "b\xc3\xbc" "cher.example"),
	    attr("u2", "hostname", "WWW.B\xc3\x9c" "CHER.EXAMPLE."),
	    attr("u3", "domain|ip", "m\xc3\xbc" "nchen.example|192.0.2.1"),
	    attr("u4", "url", "https://u@\xe4\xbe\x8b\xe3\x81\x88.example"
	    ":8443/p\xc3\xa4th?q"),
	    attr("u5", "url", "fa\xc3\x9f.example/x"),
	    attr("u6", "domain", "xn--bcher-kva.example")), &g), 7);
	rg_test_expect_rules(&g, "N xn--bcher-kva.example",
	    "N www.xn--bcher-kva.example", "N xn--mnchen-3ya.example",
	    "I 192.0.2.1", "N xn--r8jz45g.example", "N xn--fa-hia.example",
	    "N xn--bcher-kva.example", NULL);

	/* Below a name in Unicode: "*." and its punycode. */
	s.subdomains = 1;
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_attrs(&s, json_pack("[o]", attr("u1", "domain",
	    "b\xc3\xbc" "cher.example")), &g), 2);
	rg_test_expect_rules(&g, "N xn--bcher-kva.example",
	    "N *.xn--bcher-kva.example", NULL);
}

static void
test_bad_values(void **state)
{
	static const struct {
		const char *type, *value, *said;
	} bad[] = {
		{ "domain", "b\xef\xbf\xbd" "cher.example",
		    "an invalid internationalized name (string contains a "
		    "disallowed character)" },
		{ "url", "http://b\xef\xbf\xbd" "cher.example/",
		    "disallowed character" },
		{ "domain|ip", "-\xc3\xbc.example|192.0.2.1", "hyphen" },
		{ "domain", "bad..example", "empty label" },
		{ "domain", "", "empty name" },
		{ "domain", "192.0.2.1", "an address" },
		{ "hostname", "a b.example", "not allowed" },
		{ "domain|ip", "bad.example", "no \"|\"" },
		{ "domain|ip", "bad.example|", "not an address" },
		{ "domain|ip", "bad..example|192.0.2.1", "empty label" },
		{ "domain|ip", "bad.example|192.0.2.300", "not an address" },
		{ "ip-dst", "192.0.2.1/33", "prefix length" },
		{ "ip-dst", "bad.example", "not an address" },
		{ "ip-src|port", "192.0.2.1", "no \"|\"" },
		{ "ip-src|port", "x|443", "not an address" },
		{ "url", "mailto:x@bad.example", "no host" },
		{ "url", "http:///x", "no host" },
		{ "url", "http://bad.example:x/", "bad port" },
	};
	struct rg_feed_settings s = settings();
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&g, 0, sizeof(g));
		assert_int_equal(run_attrs(&s, json_pack("[o]", attr("uu",
		    bad[i].type, bad[i].value)), &g), 0);
		if (g.st.skipped != 1)
			fail_msg("%s \"%s\": not skipped", bad[i].type,
			    bad[i].value);
		assert_contains(g.st.first_skip, "uu: ");
		assert_contains(g.st.first_skip, bad[i].said);
		/* Descriptions stay ASCII. */
		assert_null(strchr(g.st.first_skip, '\xc3'));
	}

	/* Not a string value, no type, not an object. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_attrs(&s, json_pack("[{s:s, s:s, s:i, s:b}, "
	    "{s:s, s:s, s:b}, i, o]", "uuid", "v1", "type", "domain", "value",
	    5, "to_ids", 1, "uuid", "v2", "value", "x.example", "to_ids", 1,
	    7, attr("v3", "domain", "ok.example")), &g), 1);
	rg_test_expect_rules(&g, "N ok.example", NULL);
	assert_int_equal(g.st.skipped, 3);
	assert_contains(g.st.first_skip, "v1: domain without a value");

	/* Attribute and Object that are not arrays. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "{\"Event\": {\"uuid\": \"ev\", "
	    "\"Attribute\": {}}}", &g), 0);
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "Attribute is not an array");
}

static void
test_tags(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;
	json_t *a1, *a2, *a3, *a4;

	a1 = attr("a1", "domain", "a1.example");
	a2 = attr("a2", "domain", "a2.example");
	json_object_set_new(a2, "Tag", json_pack("[{s:s}, {s:s}]", "name",
	    "TLP:White", "name", "osint:source-type=\"blog-post\""));
	a3 = attr("a3", "domain", "a3.example");
	json_object_set_new(a3, "Tag", json_pack("[{s:s}, {s:s}, {s:s}]",
	    "name", "tlp:green", "name", "tlp:amber+strict", "name",
	    "tlp:amber"));
	a4 = attr("a4", "domain", "a4.example");
	json_object_set_new(a4, "Tag", json_pack("[{s:s}, {s:s}]", "name",
	    "tlp:ex:chr", "name", "tlpx:red"));
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("{s:{s:s, s:[{s:s}, {s:i}, "
	    "{s:s}], s:[o, o, o, o]}}", "Event", "uuid", "ev", "Tag", "name",
	    "tlp:green", "name", 5, "name", "Tlp:Amber", "Attribute", a1, a2,
	    a3, a4), &g), 4);
	/* The event's highest tag; the attribute's own tags first; tags
	 * that are no TLP level change nothing. */
	assert_string_equal(g.tlp[0], "amber");
	assert_string_equal(g.tlp[1], "clear");
	assert_string_equal(g.tlp[2], "amber+strict");
	assert_string_equal(g.tlp[3], "amber");

	/* No tags at all. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_attrs(&s, json_pack("[o]", attr("a", "domain",
	    "a.example")), &g), 1);
	assert_string_equal(g.tlp[0], "-");

	/* tlp:red on the event. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("{s:{s:s, s:[{s:s}], s:[o]}}",
	    "Event", "uuid", "ev", "Tag", "name", "TLP:RED", "Attribute",
	    attr("a", "domain", "a.example")), &g), 1);
	assert_string_equal(g.tlp[0], "red");
}

static void
test_indicator_ids(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("{s:{s:s, s:[{s:s, s:s, s:b},"
	    " {s:i, s:s, s:s, s:b}, {s:s, s:s, s:s, s:s, s:b}]}}", "Event",
	    "uuid", "ev-uuid", "Attribute",
	    "type", "domain", "value", "a.example", "to_ids", 1,
	    "id", 41, "type", "domain", "value", "b.example", "to_ids", 1,
	    "uuid", "", "id", "42", "type", "domain", "value", "c.example",
	    "to_ids", 1), &g), 3);
	/* Neither uuid nor id: the attribute's place in the event. */
	assert_string_equal(g.ind[0], "ev-uuid/#0");
	assert_string_equal(g.ind[1], "ev-uuid/41");
	assert_string_equal(g.ind[2], "ev-uuid/42");

	/* No event uuid: its id. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("{s:{s:i, s:[{s:i, s:s, s:s, "
	    "s:b}]}}", "Event", "id", 7, "Attribute", "id", 8, "type",
	    "domain", "value", "a.example", "to_ids", 1), &g), 1);
	assert_string_equal(g.ind[0], "7/8");
}

static void
test_objects(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(run_json(&s, json_pack("{s:{s:s, s:[o], "
	    "s:[{s:s, s:[o, o]}, {s:s, s:s, s:[o]}, {s:s, s:b, s:[o]}, i]}}",
	    "Event", "uuid", "ev",
	    "Attribute", attr("e1", "domain", "event.example"),
	    "Object", "name", "domain-ip", "Attribute",
	    attr("o1", "domain", "obj.example"),
	    attr("o2", "ip-dst", "192.0.2.10"),
	    "name", "url", "deleted", "1", "Attribute",
	    attr("o3", "url", "http://gone.example/"),
	    "name", "url", "deleted", 1, "Attribute",
	    attr("o4", "url", "http://gone2.example/"), 5), &g), 3);
	rg_test_expect_rules(&g, "N event.example", "N obj.example",
	    "I 192.0.2.10", NULL);
	assert_string_equal(g.ind[1], "o1");
	/* The attributes of deleted objects. */
	assert_int_equal(g.st.revoked, 2);
	/* The object that is not one. */
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "object 3 is not an object");
}

static void
test_emit_error(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	g.fail_at = 2;
	g.fail_rc = -ENOSPC;
	assert_int_equal(rg_test_run_file(&s, "feed.json", &g), -ENOSPC);
	assert_int_equal(g.calls, 2);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.st.rules, 1);
	assert_contains(g.msg, "c0000000-1111-4000-8000-000000000001");

	/* In an object, in the second event of a search. */
	memset(&g, 0, sizeof(g));
	g.fail_at = 1;
	g.fail_rc = -EIO;
	assert_int_equal(run_json(&s, json_pack("{s:[{s:{s:s}}, {s:{s:s, "
	    "s:[{s:[o, o]}]}}]}", "response", "Event", "uuid", "e0", "Event",
	    "uuid", "e1", "Object", "Attribute",
	    attr("o1", "domain", "a.example"),
	    attr("o2", "domain", "b.example")), &g), -EIO);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(rg_test_descriptor, "misp"),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_feed),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_not_misp),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(rg_test_nesting),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_strings_for_numbers),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_subdomains),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_indicator_ids),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_emit_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

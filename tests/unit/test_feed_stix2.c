/*
 * test_feed_stix2.c -- unit tests of the "stix2" feed format plugin: the
 * document shapes (bundle, TAXII envelope, array), the patterning subset
 * (OR, IN, AND, and all that makes an indicator unsupported), the values
 * (names and URL hosts, in punycode or in Unicode, IPv4 and IPv6
 * prefixes), revocation, validity and confidence, versions, TLP markings,
 * malformed documents, and a callback that stops the parse.  The
 * documents are under data/stix2 or built here.
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

/* 2023-11-14T22:13:20Z */
#define NOW	1700000000
#define T0	"2023-01-01T00:00:00Z"

static struct rg_feed_settings
settings(void)
{
	struct rg_feed_settings s;

	memset(&s, 0, sizeof(s));
	s.name = "hub";
	s.format = "stix2";
	s.now = NOW;
	return s;
}

/* An indicator valid since T0 with PATTERN. */
static json_t *
indicator(const char *id, const char *pattern)
{
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "type", "indicator", "spec_version", "2.1", "id", id,
	    "created", T0, "modified", T0, "valid_from", T0,
	    "pattern", pattern, "pattern_type", "stix");
	assert_non_null(o);
	return o;
}

/* Parse a bundle of the objects OBJS (taken). */
static long
run_objects(const struct rg_feed_settings *s, json_t *objs, struct got *g)
{
	json_t *b;
	char *text;
	long rc;

	b = json_pack("{s:s, s:s, s:o}", "type", "bundle", "id",
	    "bundle--1", "objects", objs);
	assert_non_null(b);
	assert_non_null(text = json_dumps(b, 0));
	rc = rg_test_run_str(s, text, g);
	free(text);
	json_decref(b);
	return rc;
}

/* Parse a bundle of indicator O (taken). */
static long
run_one(const struct rg_feed_settings *s, json_t *o, struct got *g)
{
	return run_objects(s, json_pack("[o]", o), g);
}

static long
run_pattern(const struct rg_feed_settings *s, const char *pattern,
    struct got *g)
{
	return run_one(s, indicator("indicator--p", pattern), g);
}

/* A real-shaped bundle: identity, TLP marking, five kinds of indicator,
 * a relationship. */
static void
test_bundle(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_file(&s, "bundle.json", &g), 4);
	rg_test_expect_rules(&g, "N login-secure.example", "N cdn.bad.example",
	    "I 198.51.100.23", "I 2001:db8:bad::/48", NULL);
	assert_string_equal(g.ind[0],
	    "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f");
	assert_string_equal(g.tlp[0], "amber");
	assert_string_equal(g.ind[1],
	    "indicator--c1a5a3f4-8d5e-4e6a-9a34-0d2f1ce0b7a1");
	assert_string_equal(g.tlp[1], "green");
	assert_string_equal(g.ind[2], g.ind[3]);
	assert_string_equal(g.tlp[2], "-");
	/* The file hash and the Sigma rule. */
	assert_int_equal(g.st.unsupported, 2);
	assert_int_equal(g.st.revoked, 1);
	assert_int_equal(g.st.skipped, 0);
	assert_int_equal(g.st.expired, 0);
	assert_contains(g.st.first_skip,
	    "indicator--7b1c0d6e-2f3a-4b5c-9d8e-1a2b3c4d5e6f");
	assert_contains(g.st.first_skip, "file:hashes");

	/* With subdomains, a domain-name covers the names below it; a
	 * URL's host does not. */
	memset(&g, 0, sizeof(g));
	s.subdomains = 1;
	assert_int_equal(rg_test_run_file(&s, "bundle.json", &g), 5);
	rg_test_expect_rules(&g, "N login-secure.example",
	    "N *.login-secure.example", "N cdn.bad.example", "I 198.51.100.23",
	    "I 2001:db8:bad::/48", NULL);
}

/* A TAXII 2.1 envelope, with two versions of one indicator. */
static void
test_envelope(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_file(&s, "envelope.json", &g), 1);
	rg_test_expect_rules(&g, "N three.example", NULL);
	assert_int_equal(g.st.skipped + g.st.unsupported + g.st.revoked +
	    g.st.expired, 0);
}

static void
test_shapes(void **state)
{
	struct rg_feed_settings s = settings();
	json_t *arr;
	char *text;
	struct got g;

	/* A bare array of objects. */
	arr = json_pack("[o, {s:s, s:s}]",
	    indicator("indicator--a", "[domain-name:value = 'a.example']"),
	    "type", "identity", "id", "identity--x");
	assert_non_null(text = json_dumps(arr, 0));
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, text, &g), 1);
	rg_test_expect_rules(&g, "N a.example", NULL);
	free(text);
	json_decref(arr);

	/* Empty documents are fine: nothing to block. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "{\"type\": \"bundle\", \"id\": "
	    "\"bundle--e\"}", &g), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "{\"more\": false}", &g), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "{}", &g), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "[]", &g), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "{\"objects\": []}", &g), 0);

	/* A UTF-8 byte order mark is tolerated. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "\xef\xbb\xbf[]", &g), 0);

	/* Entries that are not objects are skipped, the rest used. */
	arr = json_pack("[i, s, {s:s}, o]", 3, "x", "id", "indicator--n",
	    indicator("indicator--b", "[domain-name:value = 'b.example']"));
	assert_non_null(text = json_dumps(arr, 0));
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, text, &g), 1);
	rg_test_expect_rules(&g, "N b.example", NULL);
	assert_int_equal(g.st.skipped, 3);
	assert_string_equal(g.st.first_skip, "objects[0]: not an object");
	free(text);
	json_decref(arr);
}

static void
test_not_stix(void **state)
{
	static const char *const docs[] = {
		"{\"foo\": 1}",
		"{\"type\": \"indicator\", \"id\": \"indicator--1\"}",
		"{\"objects\": 3}",
		"{\"objects\": {}}",
		"\"a string\"",
		"42",
		"",
		"null",
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

/* Malformed JSON: an error whose message says where. */
static void
test_malformed(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_file(&s, "bad.json", &g), -EINVAL);
	assert_contains(g.msg, "line 5");
	assert_contains(g.msg, "column");
	assert_int_equal(g.calls, 0);

	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "{\"objects\": [\n{\n\"type\": "
	    "\"indicator\",\n\"id\": \"x\"\n]}", &g), -EINVAL);
	assert_contains(g.msg, "line 5");

	/* Truncated, as a cut transfer leaves it. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "{\"objects\": [{\"type\": \"indi",
	    &g), -EINVAL);
	assert_contains(g.msg, "line 1");

	/* Not NUL-terminated: only LEN bytes are read. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run(&s, "[]xxxx", 2, &g), 0);
}

static void
test_or_in(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a.example' "
	    "OR domain-name:value = 'b.example']", &g), 2);
	rg_test_expect_rules(&g, "N a.example", "N b.example", NULL);
	assert_string_equal(g.ind[0], "indicator--p");
	assert_string_equal(g.ind[1], "indicator--p");

	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value IN ('a.example', "
	    "'b.example', 'c.example')]", &g), 3);
	rg_test_expect_rules(&g, "N a.example", "N b.example", "N c.example",
	    NULL);

	/* OR between observations, parentheses, several object types; a
	 * value given twice is one rule. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "([domain-name:value = 'a.example'] "
	    "OR [ipv4-addr:value = '192.0.2.1']) OR [(domain-name:value = "
	    "'A.example.' OR url:value = 'http://a.example/x') OR "
	    "ipv6-addr:value IN ('2001:db8::1', '2001:DB8:0::1')]", &g), 3);
	rg_test_expect_rules(&g, "N a.example", "I 192.0.2.1", "I 2001:db8::1",
	    NULL);

	/* Whitespace and comments between tokens, "==" and "<>". */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, " [ domain-name:value\t==\n"
	    "'a.example' /* the hub */ ] // end", &g), 1);
	rg_test_expect_rules(&g, "N a.example", NULL);
}

static void
test_and(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	/* One value satisfies every comparison: it is used. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a.example' "
	    "AND domain-name:value = 'a.example']", &g), 1);
	rg_test_expect_rules(&g, "N a.example", NULL);

	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value IN ('a.example',"
	    " 'b.example') AND (domain-name:value = 'b.example' OR "
	    "domain-name:value = 'c.example')]", &g), 1);
	rg_test_expect_rules(&g, "N b.example", NULL);

	/* No one value can satisfy both. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a.example' "
	    "AND domain-name:value = 'b.example']", &g), 0);
	assert_int_equal(g.st.unsupported, 1);
	assert_contains(g.st.first_skip, "AND");

	/* Whole URLs are compared, not their hosts. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[url:value = 'http://a.example/x' "
	    "AND url:value = 'http://a.example/y']", &g), 0);
	assert_int_equal(g.st.unsupported, 1);

	/* Different object types. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a.example' "
	    "AND ipv4-addr:value = '192.0.2.1']", &g), 0);
	assert_int_equal(g.st.unsupported, 1);
	assert_contains(g.st.first_skip, "different object types");

	/* Even when the texts are equal. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a.example' "
	    "AND url:value = 'a.example']", &g), 0);
	assert_int_equal(g.st.unsupported, 1);
	assert_contains(g.st.first_skip, "different object types");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[(domain-name:value = 'a.example' "
	    "OR url:value = 'b.example') AND url:value = 'a.example']", &g), 0);
	assert_int_equal(g.st.unsupported, 1);

	/* A constraint that cannot be checked. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a.example' "
	    "AND domain-name:resolves_to_refs[*].value = '192.0.2.1']", &g),
	    0);
	assert_int_equal(g.st.unsupported, 1);
	assert_contains(g.st.first_skip, "resolves_to_refs");

	/* Between observations: it needs correlation. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a.example'] "
	    "AND [domain-name:value = 'a.example']", &g), 0);
	assert_int_equal(g.st.unsupported, 1);
	assert_contains(g.st.first_skip, "AND between observations");
}

/* Whatever is not supported makes the whole indicator unsupported. */
static void
test_unsupported(void **state)
{
	static const struct {
		const char *pattern, *said;
	} cases[] = {
		{ "[domain-name:value NOT = 'a.example']", "NOT" },
		{ "[domain-name:value != 'a.example']", "!=" },
		{ "[domain-name:value <> 'a.example']", "!=" },
		{ "[domain-name:value < 'b']", "<" },
		{ "[domain-name:value <= 'b']", "<=" },
		{ "[domain-name:value > 'b']", ">" },
		{ "[domain-name:value >= 'b']", ">=" },
		{ "[domain-name:value MATCHES '^evil']", "MATCHES" },
		{ "[domain-name:value LIKE '%.example']", "LIKE" },
		{ "[ipv4-addr:value ISSUBSET '192.0.2.0/24']", "ISSUBSET" },
		{ "[ipv4-addr:value ISSUPERSET '192.0.2.1']", "ISSUPERSET" },
		{ "[domain-name:value NOT IN ('a.example')]", "NOT" },
		{ "[EXISTS domain-name:value]", "EXISTS" },
		{ "[domain-name:value = 'a.example'] FOLLOWEDBY "
		    "[domain-name:value = 'b.example']", "FOLLOWEDBY" },
		{ "[domain-name:value = 'a.example'] WITHIN 300 SECONDS",
		    "WITHIN" },
		{ "[domain-name:value = 'a.example'] WITHIN 2.5 SECONDS",
		    "WITHIN" },
		{ "[domain-name:value = 'a.example'] REPEATS 5 TIMES",
		    "REPEATS" },
		{ "[domain-name:value = 'a.example'] START "
		    "t'2023-01-01T00:00:00Z' STOP t'2024-01-01T00:00:00Z'",
		    "START" },
		{ "([domain-name:value = 'a.example'] OR "
		    "[domain-name:value = 'b.example']) REPEATS 2 TIMES",
		    "REPEATS" },
		{ "[file:hashes.'SHA-256' = 'aec070645fe53ee3']",
		    "file:hashes.'SHA-256'" },
		{ "[email-addr:value = 'x@a.example']", "email-addr:value" },
		{ "[domain-name:name = 'a.example']", "domain-name:name" },
		{ "[x-hub-thing:value = 'a.example']", "x-hub-thing:value" },
		{ "[network-traffic:dst_ref.value = '192.0.2.1']",
		    "network-traffic:dst_ref.value" },
		{ "[domain-name:value = 5]", "non-string" },
		{ "[ipv4-addr:value IN ('192.0.2.1', 7)]", "non-string" },
		{ "[domain-name:value = b'YWJj']", "non-string" },
		/* One unsupported part is enough: no partial rules. */
		{ "[domain-name:value = 'a.example' OR "
		    "domain-name:value MATCHES 'x']", "MATCHES" },
		{ "[domain-name:value = 'a.example'] OR "
		    "[file:size > 10]", "file:size" },
	};
	struct rg_feed_settings s = settings();
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&g, 0, sizeof(g));
		if (run_pattern(&s, cases[i].pattern, &g) != 0 || g.calls != 0)
			fail_msg("%s: rules from an unsupported pattern",
			    cases[i].pattern);
		if (g.st.unsupported != 1 || g.st.skipped != 0)
			fail_msg("%s: unsupported %llu, skipped %llu (%s)",
			    cases[i].pattern,
			    (unsigned long long)g.st.unsupported,
			    (unsigned long long)g.st.skipped, g.st.first_skip);
		assert_contains(g.st.first_skip, "indicator--p: ");
		assert_contains(g.st.first_skip, cases[i].said);
	}

	/* Other pattern languages. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, json_pack("{s:s, s:s, s:s, s:s, s:s}",
	    "type", "indicator", "id", "indicator--y", "valid_from", T0,
	    "pattern", "rule x { condition: true }", "pattern_type", "yara"),
	    &g), 0);
	assert_int_equal(g.st.unsupported, 1);
	assert_contains(g.st.first_skip, "pattern_type \"yara\"");

	/* STIX 2.0 had no pattern_type: the pattern is STIX. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, json_pack("{s:s, s:s, s:s, s:s}",
	    "type", "indicator", "id", "indicator--20", "valid_from", T0,
	    "pattern", "[domain-name:value = 'old.example']"), &g), 1);
	rg_test_expect_rules(&g, "N old.example", NULL);
}

/* A pattern that is not STIX patterning is skipped and described. */
static void
test_syntax(void **state)
{
	static const char *const bad[] = {
		"",
		"domain-name:value = 'a.example'",
		"[domain-name:value = 'a.example'",
		"[domain-name:value = 'a.example]",
		"[domain-name:value = 'a\\n.example']",
		"[domain-name:value 'a.example']",
		"[domain-name:value = ]",
		"[domain-name = 'a.example']",
		"[:value = 'a.example']",
		"[domain-name:value = 'a.example'] x",
		"[domain-name:value = 'a.example'] OR",
		"[domain-name:value = 'a.example' and domain-name:value = "
		    "'a.example']",
		"[domain-name:value = 'a.example' OR]",
		"[domain-name:value IN ('a.example',)]",
		"[domain-name:value IN 'a.example']",
		"[domain-name:value = 'a.example'] WITHIN -5 SECONDS",
		"[domain-name:value = 'a.example'] REPEATS 2",
		"[domain-name:value = 'a.example'] START t'2023-13-01T00:00:00Z'"
		    " STOP t'2024-01-01T00:00:00Z'",
		"[domain-name:value = h'abc']",
		"[domain-name:value = 'a.example'] # x",
		"[a:b[x] = 'y']",
		"[]",
		"()",
		"[domain-name:value = 'a.example']]",
		"[domain-name:value = 1.]",
	};
	struct rg_feed_settings s = settings();
	struct got g;
	char deep[1024];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&g, 0, sizeof(g));
		if (run_pattern(&s, bad[i], &g) != 0 || g.st.skipped != 1 ||
		    g.st.unsupported != 0)
			fail_msg("\"%s\": skipped %llu, unsupported %llu (%s)",
			    bad[i], (unsigned long long)g.st.skipped,
			    (unsigned long long)g.st.unsupported,
			    g.st.first_skip);
		assert_contains(g.st.first_skip, "pattern syntax");
	}

	/* Nesting is bounded, and a reasonable depth is fine. */
	memset(deep, 0, sizeof(deep));
	for (i = 0; i < 300; i++)
		deep[i] = '(';
	strcat(deep, "[domain-name:value = 'a.example']");
	for (i = 0; i < 300; i++)
		strcat(deep, ")");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, deep, &g), 0);
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "nested too deep");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "(((([domain-name:value = "
	    "'a.example'] OR [(((domain-name:value = 'b.example')))]))))",
	    &g), 2);

	/* A pattern that is not a string. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, json_pack("{s:s, s:s, s:s, s:i}", "type",
	    "indicator", "id", "indicator--n", "valid_from", T0, "pattern",
	    3), &g), 0);
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "no pattern");
}

/* String literals: \' and \\ only. */
static void
test_escapes(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[url:value = 'http://a.example/it"
	    "\\'s/x\\\\y']", &g), 1);
	rg_test_expect_rules(&g, "N a.example", NULL);

	/* The decoded value is what is checked. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a\\\\b."
	    "example']", &g), 0);
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "'a\\b.example'");
}

static void
test_url_hosts(void **state)
{
	static const struct {
		const char *url, *rule;
	} good[] = {
		{ "https://www.bad.example/login.php", "N www.bad.example" },
		{ "HTTP://WWW.Bad.Example./", "N www.bad.example" },
		{ "https://user:pw@bad.example:8443/a?b=c#d", "N bad.example" },
		{ "http://bad.example?q=1", "N bad.example" },
		{ "http://bad.example#top", "N bad.example" },
		{ "http://bad.example", "N bad.example" },
		{ "bad.example/path/x", "N bad.example" },
		{ "bad.example:8080", "N bad.example" },
		{ "//bad.example/x", "N bad.example" },
		{ "ftp://files.bad.example/x", "N files.bad.example" },
		{ "hxxp+s://bad.example/", "N bad.example" },
		{ "http://192.0.2.55:8080/x", "I 192.0.2.55" },
		{ "http://[2001:db8::55]/x", "I 2001:db8::55" },
		{ "http://[2001:DB8:0:0::55]:443", "I 2001:db8::55" },
		{ "http://a@b@bad.example/", "N bad.example" },
		/* Hosts in Unicode, lowercase or not. */
		{ "http://b\xc3\xbc" "cher.example/",
		    "N xn--bcher-kva.example" },
		{ "HTTPS://u@B\xc3\x9c" "CHER.Example:8443/p\xc3\xa4th?q=x",
		    "N xn--bcher-kva.example" },
		{ "\xe4\xbe\x8b\xe3\x81\x88.example/x",
		    "N xn--r8jz45g.example" },
	};
	static const char *const bad[] = {
		"http:///x",
		"http://user@/x",
		"http://bad.example:80x/",
		"http://[2001:db8::1/",
		"http://[bad.example]/",
		"http://[2001:db8::1]x/",
		"http://b\xef\xbf\xbd" "cher.example/",
		"http://3232235777/",
		"http://bad..example/",
		"mailto:x@bad.example",
		"",
	};
	struct rg_feed_settings s = settings();
	struct got g;
	char pattern[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(pattern, sizeof(pattern), "[url:value = '%s']",
		    good[i].url);
		memset(&g, 0, sizeof(g));
		if (run_pattern(&s, pattern, &g) != 1)
			fail_msg("%s: %s", good[i].url, g.st.first_skip);
		rg_test_expect_rules(&g, good[i].rule, NULL);
	}
	/* A URL's host is blocked alone, even with subdomains. */
	s.subdomains = 1;
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[url:value = 'http://a.example/']",
	    &g), 1);
	rg_test_expect_rules(&g, "N a.example", NULL);
	s.subdomains = 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(pattern, sizeof(pattern), "[url:value = '%s']", bad[i]);
		memset(&g, 0, sizeof(g));
		if (run_pattern(&s, pattern, &g) != 0 || g.st.skipped != 1)
			fail_msg("%s: not skipped", bad[i]);
		assert_contains(g.st.first_skip, "url:value");
	}
}

static void
test_addresses(void **state)
{
	static const struct {
		const char *pattern, *rule;
	} good[] = {
		{ "[ipv4-addr:value = '192.0.2.1']", "I 192.0.2.1" },
		{ "[ipv4-addr:value = '192.0.2.0/24']", "I 192.0.2.0/24" },
		/* Host bits cleared. */
		{ "[ipv4-addr:value = '192.0.2.77/24']", "I 192.0.2.0/24" },
		{ "[ipv4-addr:value = '10.1.2.3/9']", "I 10.0.0.0/9" },
		{ "[ipv4-addr:value = '192.0.2.1/32']", "I 192.0.2.1" },
		{ "[ipv6-addr:value = '2001:DB8:0:0:0:0:0:1']", "I 2001:db8::1" },
		{ "[ipv6-addr:value = '2001:db8::/32']", "I 2001:db8::/32" },
		{ "[ipv6-addr:value = '2001:db8:ffff::1/33']",
		    "I 2001:db8:8000::/33" },
		{ "[ipv6-addr:value = '::ffff:192.0.2.1']",
		    "I ::ffff:192.0.2.1" },
		{ "[ipv6-addr:value = '2001:db8::1/128']", "I 2001:db8::1" },
	};
	static const char *const bad[] = {
		"[ipv4-addr:value = '2001:db8::1']",
		"[ipv6-addr:value = '192.0.2.1']",
		"[ipv4-addr:value = '192.0.2.256']",
		"[ipv4-addr:value = '192.0.2']",
		"[ipv4-addr:value = '192.0.2.1/33']",
		"[ipv4-addr:value = '192.0.2.1/']",
		"[ipv4-addr:value = '192.0.2.1/2x']",
		"[ipv4-addr:value = '192.0.2.1/0024']",
		"[ipv6-addr:value = '2001:db8::/129']",
		"[ipv6-addr:value = '2001:db8:::1']",
		"[ipv4-addr:value = 'bad.example']",
		"[ipv4-addr:value = '']",
	};
	struct rg_feed_settings s = settings();
	struct got g;
	size_t i;

	s.subdomains = 1;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&g, 0, sizeof(g));
		if (run_pattern(&s, good[i].pattern, &g) != 1)
			fail_msg("%s: %s", good[i].pattern, g.st.first_skip);
		rg_test_expect_rules(&g, good[i].rule, NULL);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&g, 0, sizeof(g));
		if (run_pattern(&s, bad[i], &g) != 0 || g.st.skipped != 1)
			fail_msg("%s: not skipped", bad[i]);
		assert_contains(g.st.first_skip, "addr:value");
	}
}

static void
test_names(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;
	char pattern[600], name[300];

	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value IN "
	    "('Evil.EXAMPLE.', 'xn--bcher-kva.example', '_dmarc.x-y.example',"
	    " 'localhost')]", &g), 4);
	rg_test_expect_rules(&g, "N evil.example", "N xn--bcher-kva.example",
	    "N _dmarc.x-y.example", "N localhost", NULL);

	/* Names in Unicode: their punycode, one rule for both forms. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value IN ("
	    "'b\xc3\xbc" "cher.example', 'B\xc3\x9c" "CHER.EXAMPLE.', "
	    "'xn--bcher-kva.example', 'fa\xc3\x9f.example')]", &g), 2);
	rg_test_expect_rules(&g, "N xn--bcher-kva.example",
	    "N xn--fa-hia.example", NULL);
	s.subdomains = 1;
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = "
	    "'m\xc3\xbc" "nchen.example']", &g), 2);
	rg_test_expect_rules(&g, "N xn--mnchen-3ya.example",
	    "N *.xn--mnchen-3ya.example", NULL);
	s.subdomains = 0;
	/* AND: one name in two forms satisfies both comparisons. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = "
	    "'b\xc3\xbc" "cher.example' AND domain-name:value = "
	    "'xn--bcher-kva.example']", &g), 1);
	rg_test_expect_rules(&g, "N xn--bcher-kva.example", NULL);

	/* A code point no name may hold: libidn2's reason. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = "
	    "'b\xef\xbf\xbd" "cher.example']", &g), 0);
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "an invalid internationalized name "
	    "(string contains a disallowed character)");
	/* The description stays ASCII. */
	assert_null(strchr(g.st.first_skip, '\xef'));
	/* Valid IDNA, but no name once converted. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = "
	    "'a\xc2\xa0" "b.b\xc3\xbc" "cher']", &g), 0);
	assert_contains(g.st.first_skip, "an invalid internationalized name "
	    "(a character not allowed in a name)");

	/* One bad value spoils the indicator. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value IN ('a.example',"
	    " 'bad..example')]", &g), 0);
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "empty label");

	/* Labels of 63, names of 253 at most. */
	memset(name, 'a', 63);
	strcpy(name + 63, ".example");
	snprintf(pattern, sizeof(pattern), "[domain-name:value = '%s']", name);
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, pattern, &g), 1);
	memset(name, 'a', 64);
	strcpy(name + 64, ".example");
	snprintf(pattern, sizeof(pattern), "[domain-name:value = '%s']", name);
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, pattern, &g), 0);
	assert_contains(g.st.first_skip, "longer than 63");
	/* 4 x 63 + 3 dots = 255: too long; 61 in the last label = 253. */
	memset(name, 'a', 255);
	name[63] = name[127] = name[191] = '.';
	name[255] = '\0';
	snprintf(pattern, sizeof(pattern), "[domain-name:value = '%s']", name);
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, pattern, &g), 0);
	assert_contains(g.st.first_skip, "longer than 253");
	name[253] = '\0';
	snprintf(pattern, sizeof(pattern), "[domain-name:value = '%s.']",
	    name);
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, pattern, &g), 1);
	assert_int_equal(strlen(g.rule[0]), 2 + 253);

	/* Not names. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value IN ('.')]", &g),
	    0);
	assert_contains(g.st.first_skip, "empty name");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = '192.0.2.1']",
	    &g), 0);
	assert_contains(g.st.first_skip, "an address");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = "
	    "'*.wild.example']", &g), 0);
	assert_contains(g.st.first_skip, "not allowed");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a b.example']",
	    &g), 0);
	assert_int_equal(g.st.skipped, 1);

	/* IN () has no value. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value IN ()]", &g), 0);
	assert_int_equal(g.st.skipped, 1);

	/* Subdomains: NAME and *.NAME. */
	s.subdomains = 1;
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_pattern(&s, "[domain-name:value = 'a.example' OR"
	    " domain-name:value = 'A.Example']", &g), 2);
	rg_test_expect_rules(&g, "N a.example", "N *.a.example", NULL);
}

static void
test_revoked(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;
	json_t *o;

	o = indicator("indicator--r", "[domain-name:value = 'r.example']");
	json_object_set_new(o, "revoked", json_true());
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 0);
	assert_int_equal(g.st.revoked, 1);
	assert_int_equal(g.st.skipped + g.st.unsupported, 0);

	o = indicator("indicator--r", "[domain-name:value = 'r.example']");
	json_object_set_new(o, "revoked", json_false());
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 1);
	assert_int_equal(g.st.revoked, 0);

	/* Revoked even when the pattern could not be used. */
	o = indicator("indicator--r", "[file:name = 'x']");
	json_object_set_new(o, "revoked", json_true());
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 0);
	assert_int_equal(g.st.revoked, 1);
	assert_int_equal(g.st.unsupported, 0);
}

/* Parse indicator "v.example" with the properties of PROPS (a JSON
 * object, taken) and lifetime LIFE into G; the rules it gave. */
static long
parse_v(json_t *props, uint64_t life, struct got *g)
{
	struct rg_feed_settings s = settings();
	json_t *o;

	s.default_lifetime_s = life;
	o = indicator("indicator--v", "[domain-name:value = 'v.example']");
	json_object_del(o, "valid_from");
	json_object_update(o, props);
	json_decref(props);
	memset(g, 0, sizeof(*g));
	return run_one(&s, o, g);
}

/* Whether indicator "v.example" with PROPS and LIFE gave its rule. */
static int
valid(json_t *props, uint64_t life)
{
	struct got g;
	long rc;

	rc = parse_v(props, life, &g);
	assert_true(rc == 0 || rc == 1);
	assert_int_equal(g.st.expired, rc == 0 ? 1 : 0);
	assert_int_equal(g.st.skipped + g.st.unsupported, 0);
	return rc == 1;
}

/* The next_change of indicator "v.example" with PROPS (taken) and
 * lifetime LIFE. */
static int64_t
change_of(json_t *props, uint64_t life)
{
	struct got g;

	(void)parse_v(props, life, &g);
	return g.st.next_change;
}

/* When the rules of a document change with the time alone. */
static void
test_next_change(void **state)
{
	(void)state;
	/* Not valid yet: from the first whole second it is. */
	assert_int_equal(change_of(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:13:21Z"), 0), NOW + 1);
	assert_int_equal(change_of(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:13:20.001Z"), 0), NOW + 1);
	/* Valid now, until a time to come. */
	assert_int_equal(change_of(json_pack("{s:s, s:s}", "valid_from", T0,
	    "valid_until", "2023-11-14T22:13:20.5Z"), 0), NOW + 1);
	assert_int_equal(change_of(json_pack("{s:s, s:s}", "valid_from", T0,
	    "valid_until", "2023-11-14T22:14:00Z"), 0), NOW + 40);
	assert_int_equal(change_of(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:00:00Z"), 801), NOW + 1);
	/* Valid for ever, or expired for good: nothing to wait for. */
	assert_int_equal(change_of(json_pack("{s:s}", "valid_from", T0), 0),
	    0);
	assert_int_equal(change_of(json_pack("{s:s, s:s}", "valid_from", T0,
	    "valid_until", "2023-06-01T00:00:00Z"), 0), 0);
}

static void
test_validity(void **state)
{
	static const char *const badts[] = {
		"2023-01-01", "2023-01-01T00:00:00", "2023-02-29T00:00:00Z",
		"2023-01-01T24:00:00Z", "2023-01-01T00:00:00.Z",
		"2023-01-01T00:00:00Zx", "2023-1-01T00:00:00Z",
		"2023-01-01T00:00:00+0100", "2023-04-31T00:00:00Z",
		"2023-01-01T00:60:00Z", "yesterday", "",
	};
	struct rg_feed_settings s = settings();
	struct got g;
	json_t *o;
	size_t i;

	/* NOW is 2023-11-14T22:13:20Z. */
	assert_true(valid(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:13:20Z"), 0));
	assert_false(valid(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:13:21Z"), 0));
	/* Fractions of a second count. */
	assert_false(valid(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:13:20.001Z"), 0));
	assert_true(valid(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:13:19.999999999Z"), 0));
	/* Offsets are honoured: 23:13:20+01:00 is NOW. */
	assert_true(valid(json_pack("{s:s}", "valid_from",
	    "2023-11-14T23:13:20+01:00"), 0));
	assert_false(valid(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:13:21-00:00"), 0));

	/* valid_until: no longer valid from that instant on. */
	assert_true(valid(json_pack("{s:s, s:s}", "valid_from", T0,
	    "valid_until", "2023-11-14T22:13:20.5Z"), 0));
	assert_false(valid(json_pack("{s:s, s:s}", "valid_from", T0,
	    "valid_until", "2023-11-14T22:13:20Z"), 0));
	assert_false(valid(json_pack("{s:s, s:s}", "valid_from", T0,
	    "valid_until", "2023-06-01T00:00:00Z"), 0));
	assert_true(valid(json_pack("{s:s, s:n}", "valid_from", T0,
	    "valid_until"), 0));

	/* Without valid_from, created; neither: skipped. */
	assert_true(valid(json_pack("{s:s}", "created", T0), 0));
	assert_false(valid(json_pack("{s:s}", "created",
	    "2024-01-01T00:00:00Z"), 0));
	o = indicator("indicator--v", "[domain-name:value = 'v.example']");
	json_object_del(o, "valid_from");
	json_object_del(o, "created");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 0);
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "valid_from");

	/* The default lifetime: valid_from + lifetime. */
	assert_true(valid(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:00:00Z"), 801));
	assert_false(valid(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:00:00Z"), 800));
	assert_true(valid(json_pack("{s:s}", "valid_from",
	    "2023-11-14T22:00:00.000001Z"), 800));
	assert_true(valid(json_pack("{s:s}", "valid_from", T0), 0));
	assert_false(valid(json_pack("{s:s}", "valid_from", T0), 86400));
	/* An explicit valid_until wins over the default. */
	assert_true(valid(json_pack("{s:s, s:s}", "valid_from", T0,
	    "valid_until", "2030-01-01T00:00:00Z"), 86400));
	/* Huge lifetimes do not wrap around. */
	assert_true(valid(json_pack("{s:s}", "valid_from", T0), UINT64_MAX));

	/* Timestamps that are not RFC 3339 are skipped. */
	for (i = 0; i < sizeof(badts) / sizeof(badts[0]); i++) {
		o = indicator("indicator--v", "[domain-name:value = "
		    "'v.example']");
		json_object_set_new(o, "valid_from", json_string(badts[i]));
		memset(&g, 0, sizeof(g));
		assert_int_equal(run_one(&s, o, &g), 0);
		if (g.st.skipped != 1)
			fail_msg("valid_from \"%s\" not skipped", badts[i]);
		assert_contains(g.st.first_skip, "bad valid_from");
	}
	o = indicator("indicator--v", "[domain-name:value = 'v.example']");
	json_object_set_new(o, "valid_until", json_integer(5));
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 0);
	assert_contains(g.st.first_skip, "bad valid_until");
	/* Leap years. */
	assert_true(valid(json_pack("{s:s}", "valid_from",
	    "2020-02-29T00:00:00Z"), 0));
}

static void
test_confidence(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;
	json_t *o;

	s.min_confidence = 50;
	o = indicator("indicator--c", "[domain-name:value = 'c.example']");
	json_object_set_new(o, "confidence", json_integer(49));
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 0);
	assert_int_equal(g.st.low_confidence, 1);

	o = indicator("indicator--c", "[domain-name:value = 'c.example']");
	json_object_set_new(o, "confidence", json_integer(50));
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 1);
	assert_int_equal(g.st.low_confidence, 0);

	/* Without a confidence, not filtered. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, indicator("indicator--c",
	    "[domain-name:value = 'c.example']"), &g), 1);

	/* Not 0..100: skipped. */
	o = indicator("indicator--c", "[domain-name:value = 'c.example']");
	json_object_set_new(o, "confidence", json_integer(101));
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 0);
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "confidence");
	o = indicator("indicator--c", "[domain-name:value = 'c.example']");
	json_object_set_new(o, "confidence", json_string("80"));
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 0);
	assert_int_equal(g.st.skipped, 1);

	/* With no minimum, 0 is fine. */
	s.min_confidence = 0;
	o = indicator("indicator--c", "[domain-name:value = 'c.example']");
	json_object_set_new(o, "confidence", json_integer(0));
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 1);
}

/* An indicator version: ID, modified MOD, the name it blocks. */
static json_t *
version(const char *id, const char *mod, const char *name)
{
	char pattern[128];
	json_t *o;

	snprintf(pattern, sizeof(pattern), "[domain-name:value = '%s']", name);
	o = indicator(id, pattern);
	json_object_set_new(o, "modified", json_string(mod));
	return o;
}

static void
test_versions(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;
	json_t *o;

	/* The latest wins wherever it is in the document. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_objects(&s, json_pack("[o, o, o, o]",
	    version("indicator--a", "2023-03-01T00:00:00Z", "v2.example"),
	    version("indicator--a", "2023-05-01T00:00:00Z", "v3.example"),
	    version("indicator--b", "2023-01-01T00:00:00Z", "b.example"),
	    version("indicator--a", "2023-02-01T00:00:00Z", "v1.example")),
	    &g), 2);
	rg_test_expect_rules(&g, "N v3.example", "N b.example", NULL);
	assert_int_equal(g.st.skipped + g.st.unsupported + g.st.revoked, 0);

	/* Fractions: .1 is later than none, .5 than .123 (which a string
	 * comparison gets wrong for the first). */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_objects(&s, json_pack("[o, o]",
	    version("indicator--a", "2023-03-01T00:00:00.1Z", "late.example"),
	    version("indicator--a", "2023-03-01T00:00:00Z", "early.example")),
	    &g), 1);
	rg_test_expect_rules(&g, "N late.example", NULL);
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_objects(&s, json_pack("[o, o]",
	    version("indicator--a", "2023-03-01T00:00:00.123Z", "e.example"),
	    version("indicator--a", "2023-03-01T00:00:00.5Z", "l.example")),
	    &g), 1);
	rg_test_expect_rules(&g, "N l.example", NULL);
	/* Offsets: 01:00+02:00 is 23:00 the day before. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_objects(&s, json_pack("[o, o]",
	    version("indicator--a", "2023-03-01T00:00:00Z", "l.example"),
	    version("indicator--a", "2023-03-01T01:00:00+02:00", "e.example")),
	    &g), 1);
	rg_test_expect_rules(&g, "N l.example", NULL);

	/* A revoked latest version takes the indicator away. */
	o = version("indicator--a", "2023-04-01T00:00:00Z", "v2.example");
	json_object_set_new(o, "revoked", json_true());
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_objects(&s, json_pack("[o, o]",
	    version("indicator--a", "2023-03-01T00:00:00Z", "v1.example"), o),
	    &g), 0);
	assert_int_equal(g.st.revoked, 1);
	assert_int_equal(g.st.skipped + g.st.unsupported + g.st.expired, 0);

	/* Equal modified: the first in the document. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_objects(&s, json_pack("[o, o]",
	    version("indicator--a", "2023-03-01T00:00:00Z", "first.example"),
	    version("indicator--a", "2023-03-01T00:00:00.000Z",
	    "second.example")), &g), 1);
	rg_test_expect_rules(&g, "N first.example", NULL);

	/* An unreadable modified loses to any readable one; without
	 * modified, created is the version's time. */
	o = version("indicator--a", "garbage", "early.example");
	json_object_del(o, "created");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_objects(&s, json_pack("[o, o]", o,
	    version("indicator--a", "1999-03-01T00:00:00Z", "late.example")),
	    &g), 1);
	rg_test_expect_rules(&g, "N late.example", NULL);
	o = version("indicator--a", "2023-03-01T00:00:00Z", "b.example");
	json_object_del(o, "modified");
	json_object_set_new(o, "created", json_string("2023-06-01T00:00:00Z"));
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_objects(&s, json_pack("[o, o]",
	    version("indicator--a", "2023-05-01T00:00:00Z", "a.example"), o),
	    &g), 1);
	rg_test_expect_rules(&g, "N b.example", NULL);

	/* An indicator without an id is skipped. */
	o = indicator("x", "[domain-name:value = 'x.example']");
	json_object_del(o, "id");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, o, &g), 0);
	assert_int_equal(g.st.skipped, 1);
	assert_contains(g.st.first_skip, "without an id");
}

/* Indicator ID with the marking refs REFS (a JSON array, taken). */
static json_t *
marked(const char *id, json_t *refs)
{
	json_t *o;

	o = indicator(id, "[domain-name:value = 'm.example']");
	json_object_set_new(o, "object_marking_refs", refs);
	return o;
}

static void
test_tlp(void **state)
{
	static const struct {
		const char *ref, *tlp;
	} known[] = {
		{ "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
		    "clear" },
		{ "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
		    "green" },
		{ "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
		    "amber" },
		{ "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
		    "amber+strict" },
		{ "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
		    "red" },
		{ "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
		    "clear" },
		{ "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
		    "green" },
		{ "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
		    "amber" },
		{ "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
		    "red" },
	};
	struct rg_feed_settings s = settings();
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		memset(&g, 0, sizeof(g));
		assert_int_equal(run_one(&s, marked("indicator--t",
		    json_pack("[s]", known[i].ref)), &g), 1);
		assert_string_equal(g.tlp[0], known[i].tlp);
	}

	/* The most restrictive of several wins; unknown ones are passed
	 * over. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, marked("indicator--t", json_pack(
	    "[s, s, s]", known[1].ref, known[8].ref, known[0].ref)), &g), 1);
	assert_string_equal(g.tlp[0], "red");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, marked("indicator--t", json_pack(
	    "[s, i, s]", "marking-definition--unknown", 5, known[3].ref)), &g),
	    1);
	assert_string_equal(g.tlp[0], "amber+strict");
	/* An empty reference does not hide the ones after it. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, marked("indicator--t", json_pack(
	    "[s, s]", "", known[4].ref)), &g), 1);
	assert_string_equal(g.tlp[0], "red");
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_one(&s, marked("indicator--t", json_pack("[s]",
	    "marking-definition--unknown")), &g), 1);
	assert_string_equal(g.tlp[0], "-");

	/* Marking-definitions of the document, TLP 1.0 and 2.0 forms, found
	 * also when they come after the indicators. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_file(&s, "markings.json", &g), 3);
	rg_test_expect_rules(&g, "N local-tlp1.example", "N local-tlp2.example",
	    "N unmarked.example", NULL);
	assert_string_equal(g.tlp[0], "clear");
	assert_string_equal(g.tlp[1], "amber+strict");
	assert_string_equal(g.tlp[2], "-");

	/* A document's marking cannot relabel a well-known id. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_objects(&s, json_pack("[{s:s, s:s, s:s, s:{s:s}},"
	    " o]", "type", "marking-definition", "id", known[4].ref,
	    "definition_type", "tlp", "definition", "tlp", "white",
	    marked("indicator--t", json_pack("[s]", known[4].ref))), &g), 1);
	assert_string_equal(g.tlp[0], "red");
}

/* The callback's error stops the parse and is returned. */
static void
test_emit_error(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;

	s.subdomains = 1;
	memset(&g, 0, sizeof(g));
	g.fail_at = 3;
	g.fail_rc = -ENOSPC;
	assert_int_equal(run_objects(&s, json_pack("[o, o, o]",
	    indicator("indicator--1", "[domain-name:value = 'a.example']"),
	    indicator("indicator--2", "[domain-name:value = 'b.example']"),
	    indicator("indicator--3", "[domain-name:value = 'c.example']")),
	    &g), -ENOSPC);
	assert_int_equal(g.calls, 3);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.st.rules, 2);
	assert_contains(g.msg, "indicator--2");

	memset(&g, 0, sizeof(g));
	g.fail_at = 1;
	g.fail_rc = -ENOMEM;
	assert_int_equal(rg_test_run_file(&s, "bundle.json", &g), -ENOMEM);
	assert_int_equal(g.calls, 1);
}

/*
 * A document is read one object at a time; whatever that way cannot take
 * is read whole, as before, so that the outcome is the same: an object
 * that does not parse late in the document, or anything after the bundle,
 * refuses the whole document where it is wrong with no rule handed over;
 * members before or after "objects" count as they did; "objects" twice or
 * spelled with an escape is what the JSON library makes of it.
 */
static void
test_object_by_object(void **state)
{
	struct rg_feed_settings s = settings();
	struct got g;
	char doc[1024];
	const char *ind = "{\"type\": \"indicator\", \"id\": \"indicator--%d\", "
	    "\"valid_from\": \"" T0 "\", \"pattern\": \"[domain-name:value = "
	    "'%s.example']\"}";
	char a[256], b[256];

	snprintf(a, sizeof(a), ind, 1, "one");
	snprintf(b, sizeof(b), ind, 2, "two");

	/* The third object is cut short, on line 4. */
	memset(&g, 0, sizeof(g));
	snprintf(doc, sizeof(doc), "{\"type\": \"bundle\", \"objects\": [\n"
	    "%s,\n%s,\n{\"type\": \"indicator\", \"id\": }\n]}", a, b);
	assert_int_equal(rg_test_run_str(&s, doc, &g), -EINVAL);
	assert_contains(g.msg, "not JSON: line 4, column ");
	assert_int_equal(g.calls, 0);
	assert_int_equal(g.st.rules + g.st.skipped, 0);

	/* Something after the bundle. */
	memset(&g, 0, sizeof(g));
	snprintf(doc, sizeof(doc), "{\"objects\": [%s]}\n{}", a);
	assert_int_equal(rg_test_run_str(&s, doc, &g), -EINVAL);
	assert_contains(g.msg, "line 2");
	assert_int_equal(g.calls, 0);

	/* A bad member after "objects". */
	memset(&g, 0, sizeof(g));
	snprintf(doc, sizeof(doc), "{\"objects\": [%s], \"more\": tru}", a);
	assert_int_equal(rg_test_run_str(&s, doc, &g), -EINVAL);
	assert_int_equal(g.calls, 0);

	/* Members around "objects", one of them nested. */
	memset(&g, 0, sizeof(g));
	snprintf(doc, sizeof(doc), "{\"type\": \"bundle\", \"x\": {\"objects\":"
	    " []}, \"objects\": [%s, %s], \"more\": false, \"y\": [1, \"]\"]}",
	    a, b);
	assert_int_equal(rg_test_run_str(&s, doc, &g), 2);
	rg_test_expect_rules(&g, "N one.example", "N two.example", NULL);

	/* "objects" twice: the JSON library keeps the last. */
	memset(&g, 0, sizeof(g));
	snprintf(doc, sizeof(doc), "{\"objects\": [%s], \"objects\": [%s]}", a,
	    b);
	assert_int_equal(rg_test_run_str(&s, doc, &g), 1);
	rg_test_expect_rules(&g, "N two.example", NULL);

	/* "objects" with an escape is "objects". */
	memset(&g, 0, sizeof(g));
	snprintf(doc, sizeof(doc), "{\"obj\\u0065cts\": [%s]}", a);
	assert_int_equal(rg_test_run_str(&s, doc, &g), 1);
	rg_test_expect_rules(&g, "N one.example", NULL);

	/* A bare array, objects that are not objects among them. */
	memset(&g, 0, sizeof(g));
	snprintf(doc, sizeof(doc), " [ 1 , %s , \"s\" , [] ]\n", a);
	assert_int_equal(rg_test_run_str(&s, doc, &g), 1);
	rg_test_expect_rules(&g, "N one.example", NULL);
	assert_int_equal(g.st.skipped, 3);
	assert_string_equal(g.st.first_skip, "objects[0]: not an object");
}

/* Without a callback (a dry run), rules are only counted. */
static void
test_count_only(void **state)
{
	struct rg_feed_settings s = settings();
	struct rg_feed_stats st;
	const char *doc = "[{\"type\": \"indicator\", \"id\": \"indicator--1\","
	    " \"valid_from\": \"" T0 "\", \"pattern\": \"[ipv4-addr:value = "
	    "'192.0.2.1']\"}]";

	memset(&st, 0, sizeof(st));
	assert_int_equal(rg_plugin.feed->parse(&s, doc, strlen(doc), NULL,
	    NULL, &st, NULL, 0), 1);
	assert_int_equal(st.rules, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(rg_test_descriptor, "stix2"),
		cmocka_unit_test(test_bundle),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_not_stix),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(rg_test_nesting),
		cmocka_unit_test(test_or_in),
		cmocka_unit_test(test_and),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_url_hosts),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_next_change),
		cmocka_unit_test(test_confidence),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_tlp),
		cmocka_unit_test(test_emit_error),
		cmocka_unit_test(test_count_only),
		cmocka_unit_test(test_object_by_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

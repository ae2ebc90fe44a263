/*
 * feedtest.c -- what the unit tests of the JSON feed formats share; see
 * feedtest.h.
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

#include "feedtest.h"

int
rg_test_collect_cb(void *arg, const struct rg_feed_rule *r)
{
	struct got *g = arg;

	g->calls++;
	if (g->fail_at != 0 && g->calls == g->fail_at)
		return g->fail_rc;
	assert_true(g->n < RG_TEST_MAXR);
	assert_int_equal(r->action, RG_FEED_POLICY);
	assert_null(r->local);
	assert_non_null(r->indicator);
	if (r->trigger == RG_FEED_QNAME) {
		assert_non_null(r->name);
		assert_null(r->prefix);
		snprintf(g->rule[g->n], sizeof(g->rule[0]), "N %s", r->name);
	} else {
		assert_int_equal(r->trigger, RG_FEED_IP);
		assert_non_null(r->prefix);
		assert_null(r->name);
		snprintf(g->rule[g->n], sizeof(g->rule[0]), "I %s", r->prefix);
	}
	snprintf(g->ind[g->n], sizeof(g->ind[0]), "%s", r->indicator);
	snprintf(g->tlp[g->n], sizeof(g->tlp[0]), "%s",
	    r->tlp != NULL ? r->tlp : "-");
	g->n++;
	return 0;
}

long
rg_test_run(const struct rg_feed_settings *s, const char *doc, size_t len,
    struct got *g)
{
	long rc;

	rc = rg_plugin.feed->parse(s, doc, len, rg_test_collect_cb, g, &g->st,
	    g->msg, sizeof(g->msg));
	assert_non_null(memchr(g->st.first_skip, '\0',
	    sizeof(g->st.first_skip)));
	if (strcmp(rg_plugin.name, "stix2") != 0)
		assert_int_equal(g->st.expired + g->st.low_confidence +
		    g->st.unsupported, 0);
	if (rc >= 0) {
		assert_int_equal(rc, g->n);
		assert_int_equal(g->st.rules, g->n);
		/* A skip or an unsupported entry is always described. */
		assert_int_equal(g->st.skipped + g->st.unsupported > 0,
		    g->st.first_skip[0] != '\0');
	} else
		assert_true(g->msg[0] != '\0');
	return rc;
}

long
rg_test_run_str(const struct rg_feed_settings *s, const char *doc,
    struct got *g)
{
	return rg_test_run(s, doc, strlen(doc), g);
}

long
rg_test_run_file(const struct rg_feed_settings *s, const char *name,
    struct got *g)
{
	char path[512], *buf;
	FILE *f;
	size_t n;
	long rc;

	snprintf(path, sizeof(path), "%s/%s/%s", RG_TEST_DATA, rg_plugin.name,
	    name);
	assert_non_null(f = fopen(path, "rb"));
	assert_non_null(buf = malloc(1 << 20));
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	rc = rg_test_run(s, buf, n, g);
	free(buf);
	return rc;
}

void
rg_test_expect_rules(const struct got *g, ...)
{
	const char *want;
	va_list ap;
	size_t i = 0;

	va_start(ap, g);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (i >= g->n)
			fail_msg("rule %zu: expected \"%s\", got none", i,
			    want);
		if (strcmp(g->rule[i], want) != 0)
			fail_msg("rule %zu: expected \"%s\", got \"%s\"", i,
			    want, g->rule[i]);
		i++;
	}
	va_end(ap);
	if (i != g->n)
		fail_msg("%zu rules, expected %zu (the next: \"%s\")", g->n, i,
		    g->rule[i]);
}

void
rg_test_descriptor(void **state)
{
	assert_int_equal(rg_plugin.abi, RG_PLUGIN_ABI);
	assert_int_equal(rg_plugin.kind, RG_PLUGIN_FEED);
	assert_string_equal(rg_plugin.name, (const char *)*state);
	assert_non_null(rg_plugin.feed);
	assert_non_null(rg_plugin.feed->parse);
	assert_null(rg_plugin.backend);
	assert_null(rg_plugin.report);
}

void
rg_test_nesting(void **state)
{
	struct rg_feed_settings s;
	struct got g;
	char deep[256];

	memset(&s, 0, sizeof(s));
	s.name = "hub";
	s.format = rg_plugin.name;
	s.now = 1700000000;
	memset(deep, '[', 101);
	memset(deep + 101, ']', 101);
	deep[202] = '\0';
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, deep, &g), -EINVAL);
	assert_contains(g.msg, "nested");
	/* 100 deep: read, and its one entry skipped. */
	deep[201] = '\0';
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, deep + 1, &g), 0);
	assert_int_equal(g.st.skipped, 1);
	/* Brackets in a string do not count. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(rg_test_run_str(&s, "[\"[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"]", &g), 0);
}

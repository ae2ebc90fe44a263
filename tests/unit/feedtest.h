/*
 * feedtest.h -- what the unit tests of the JSON feed formats (stix2, misp)
 * share: a callback that keeps the rules a parse hands over, the parse
 * with the checks every format must pass, documents from the data
 * directory, the assertion on the rules, and the tests that hold for
 * every such format.  The plugin's feed.c is compiled into the test, so
 * rg_plugin is the format under test.
 */
#ifndef RG_FEEDTEST_H
#define RG_FEEDTEST_H

#include <stddef.h>

#include "plugin.h"

#ifndef RG_TEST_DATA
#define RG_TEST_DATA "tests/unit/data"
#endif

/** Rules kept by one parse. */
#define RG_TEST_MAXR	64

#define assert_contains(hay, needle) do {				\
	if (strstr((hay), (needle)) == NULL)				\
		fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
} while (0)

extern const struct rg_plugin rg_plugin;

/** What a parse handed over and said. */
struct got {
	size_t n;
	char rule[RG_TEST_MAXR][300];	/**< "N name" or "I prefix" */
	char ind[RG_TEST_MAXR][128];
	char tlp[RG_TEST_MAXR][16];	/**< "-" for none */
	size_t calls;
	size_t fail_at;			/**< the call that fails, from 1 */
	int fail_rc;
	struct rg_feed_stats st;
	char msg[256];
};

/** The emit callback: keeps a policy rule in ARG, a struct got. */
int rg_test_collect_cb(void *arg, const struct rg_feed_rule *r);

/**
 * Parse DOC (LEN bytes) with settings S into G, and check what holds for
 * every parse: the count returned, the rules and the stats agree, a skip
 * is described, an error says why, and a format other than stix2 moves
 * none of the counters that only STIX has.
 */
long rg_test_run(const struct rg_feed_settings *s, const char *doc,
    size_t len, struct got *g);

/** rg_test_run() of the string DOC. */
long rg_test_run_str(const struct rg_feed_settings *s, const char *doc,
    struct got *g);

/** rg_test_run() of file NAME under RG_TEST_DATA/<the format's name>. */
long rg_test_run_file(const struct rg_feed_settings *s, const char *name,
    struct got *g);

/** Assert the rules of G, in order: NULL-terminated "N name"/"I prefix". */
void rg_test_expect_rules(const struct got *g, ...);

/** Test: the plugin describes the feed format named *STATE. */
void rg_test_descriptor(void **state);

/** Test: nesting is bounded before parsing, not counting strings. */
void rg_test_nesting(void **state);

#endif

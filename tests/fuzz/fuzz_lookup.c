/*
 * fuzz_lookup.c -- libFuzzer target: a query name, as a client may send it,
 * looked up with rg_bl_lookup() in a fixed snapshot.
 *
 * The input is the name in wire form, arbitrary bytes (compression
 * pointers, label lengths past the end, names over 255 bytes, upper case
 * and binary labels); it is also looked up as a presentation-form string
 * with rg_bl_lookup_str().  The snapshot, built once, has exact and
 * wildcard rules at many depths, names kept inline and names too long for
 * a bucket, feeds whose index takes two bytes, indicators, and a few
 * thousand generated names so that some buckets overflow.  Checked: the
 * result is 1, 0 or -EINVAL, and a match is filled with a known feed and a
 * rule that is a string within its buffer.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocklist.h"

/* An invariant broken: a finding, reported like a crash. */
#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

#define FUZZ_FEEDS	300
#define FUZZ_GENERATED	3000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_rules[] = {
	"example.com", "*.example.com", "*.ads.example", "tracker.example",
	"*.test", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", "*.deep.a.b.c.d.e.f.g",
	"UPPER.Example.NET.", "x-y_z.example", "*.xn--bcher-kva.example",
	"*.0123456789012345678901234567890123456789012345678901234567890."
	    "long.example",
	"012345678901234567890123456789012345678901234567890123456789012."
	    "012345678901234567890123456789012345678901234567890123456789012."
	    "012345678901234567890123456789012345678901234567890123456789012."
	    "012345678901234567890123456789012345678901234567890123456789",
	NULL
};

static struct rg_blocklist *fuzz_bl;

static void
add(struct rg_bl_builder *b, const char *name, int i)
{
	char ind[32];

	snprintf(ind, sizeof(ind), "indicator %d", i % 7);
	if (rg_bl_builder_add(b, name, (enum rg_action)(i % RG_ACTION_LOCAL),
	    (i * 37) % FUZZ_FEEDS, i % 3 ? ind : NULL) != 0)
		abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rg_bl_builder *b;
	char name[256];
	int i, j, len;

	if ((b = rg_bl_builder_new()) == NULL)
		abort();
	for (i = 0; i < FUZZ_FEEDS; i++) {
		snprintf(name, sizeof(name), "feed-%d", i);
		if (rg_bl_builder_feed(b, name) != i)
			abort();
	}
	for (i = 0; fuzz_rules[i] != NULL; i++)
		add(b, fuzz_rules[i], i);
	/* A wildcard with 127 labels, the most a name can have. */
	len = snprintf(name, sizeof(name), "*");
	for (j = 0; j < 126; j++)
		len += snprintf(name + len, sizeof(name) - (size_t)len, ".a");
	add(b, name, i++);
	for (j = 0; j < FUZZ_GENERATED; j++) {
		snprintf(name, sizeof(name), "%sn%d.%s", j % 5 ? "" : "*.", j,
		    j % 2 ? "example" : "block.test");
		add(b, name, i++);
	}
	if ((fuzz_bl = rg_bl_build(b)) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_bl_match m;
	char *s;
	int r;

	r = rg_bl_lookup(fuzz_bl, data, size, &m);
	CHECK(r == 1 || r == 0 || r == -EINVAL);
	if (r == 1) {
		CHECK(m.feed != NULL && strncmp(m.feed, "feed-", 5) == 0);
		CHECK(memchr(m.rule, '\0', sizeof(m.rule)) != NULL);
		CHECK((unsigned)m.action < RG_ACTION_COUNT);
	}
	CHECK(rg_bl_lookup(fuzz_bl, data, size, NULL) == r);

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	r = rg_bl_lookup_str(fuzz_bl, s, &m);
	CHECK(r == 1 || r == 0 || r == -EINVAL);
	if (r == 1)
		CHECK(memchr(m.rule, '\0', sizeof(m.rule)) != NULL);
	free(s);
	return 0;
}

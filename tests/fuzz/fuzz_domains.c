/*
 * fuzz_domains.c -- libFuzzer target: a "domains" feed, as a feed server
 * may send it, through rg_feed_domains_parse(), rg_bl_build() and the
 * lookups of the snapshot built from it.
 *
 * The input is the body of the list.  It is parsed twice into one builder,
 * first for feed 0, then for feed 299 (a feed index that takes two bytes),
 * built, and every whitespace-separated word of the input is looked up both
 * in presentation form and, turned into wire form here, in wire form.
 * Checked: both parses agree; the two lookups agree; a match names feed 0,
 * which was added first.  Then each word is added on its own to a second
 * builder with rg_bl_builder_add(): every word accepted must be found in
 * the snapshot built from it (a "*.name" word through a name below it).
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
#define FUZZ_WORDS	256
#define FUZZ_WORD_MAX	300

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f' || c == '#' || c == '\0';
}

/* Presentation name S to wire form in OUT (255 bytes), without escapes;
 * its length, or 0 when it is not a name. */
static size_t
name_to_wire(const char *s, uint8_t *out)
{
	size_t n = strlen(s), i = 0, w = 0, start;

	if (n == 1 && s[0] == '.') {
		out[0] = 0;
		return 1;
	}
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
	for (;;) {
		start = i;
		while (i < n && s[i] != '.')
			i++;
		if (i == start || i - start > 63 || w + 1 + (i - start) + 1 >
		    255)
			return 0;
		out[w++] = (uint8_t)(i - start);
		memcpy(out + w, s + start, i - start);
		w += i - start;
		if (i == n)
			break;
		i++;
	}
	out[w++] = 0;
	return w;
}

/* Look WORD up both ways in BL; the result of the string lookup. */
static int
lookup_both(const struct rg_blocklist *bl, const char *word,
    struct rg_bl_match *m)
{
	struct rg_bl_match mw;
	uint8_t wire[255], *copy;
	size_t wl;
	int rs, rw;

	rs = rg_bl_lookup_str(bl, word, m);
	CHECK(rs == 0 || rs == 1 || rs == -EINVAL);
	if (rs == 1)
		CHECK(m->feed != NULL && memchr(m->rule, '\0',
		    sizeof(m->rule)) != NULL);
	if ((wl = name_to_wire(word, wire)) == 0)
		return rs;
	/* An exact-size copy, so that a read past the name is caught. */
	if ((copy = malloc(wl)) == NULL)
		return rs;
	memcpy(copy, wire, wl);
	rw = rg_bl_lookup(bl, copy, wl, &mw);
	CHECK(rw == 0 || rw == 1 || rw == -EINVAL);
	CHECK(rg_bl_lookup(bl, copy, wl, NULL) == rw);
	free(copy);
	if (rs >= 0 && rw >= 0) {
		CHECK(rs == rw);
		if (rs == 1) {
			CHECK(mw.action == m->action &&
			    mw.wildcard == m->wildcard);
			CHECK(strcmp(mw.rule, m->rule) == 0);
			CHECK(strcmp(mw.feed, m->feed) == 0);
		}
	}
	return rs;
}

static int
words_split(char *text, char **words)
{
	char *p = text;
	int n = 0;

	while (*p != '\0' && n < FUZZ_WORDS) {
		while (*p != '\0' && is_sep(*p))
			p++;
		if (*p == '\0')
			break;
		words[n++] = p;
		while (*p != '\0' && !is_sep(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_bl_builder *b = NULL, *b2 = NULL;
	struct rg_blocklist *bl = NULL, *bl2 = NULL;
	char *text = NULL, *words[FUZZ_WORDS], err[128], feed[16];
	char below[FUZZ_WORD_MAX + 4];
	enum rg_action action = (enum rg_action)(size % RG_ACTION_LOCAL);
	struct rg_bl_match m;
	size_t skipped, skipped2;
	long added, added2;
	int i, n, ok[FUZZ_WORDS], r;

	if ((b = rg_bl_builder_new()) == NULL)
		goto out;
	for (i = 0; i < FUZZ_FEEDS; i++) {
		snprintf(feed, sizeof(feed), "feed-%d", i);
		CHECK(rg_bl_builder_feed(b, feed) == i);
	}
	added = rg_feed_domains_parse(b, 0, action, (const char *)data, size,
	    &skipped, err, sizeof(err));
	if (added == -ENOMEM)
		goto out;
	CHECK(added >= 0 && memchr(err, '\0', sizeof(err)) != NULL);
	CHECK(skipped == 0 || err[0] != '\0');
	added2 = rg_feed_domains_parse(b, FUZZ_FEEDS - 1,
	    (enum rg_action)((action + 1) % RG_ACTION_LOCAL),
	    (const char *)data, size, &skipped2, NULL, 0);
	if (added2 == -ENOMEM)
		goto out;
	CHECK(added2 == added && skipped2 == skipped);
	CHECK(rg_bl_builder_count(b) == (size_t)added * 2);
	bl = rg_bl_build(b);
	b = NULL;
	if (bl == NULL)
		goto out;
	CHECK(rg_bl_entries(bl) <= (size_t)added);
	CHECK(rg_bl_feed_entries(bl, 0) == rg_bl_entries(bl));
	CHECK(rg_bl_feed_entries(bl, FUZZ_FEEDS - 1) == 0);

	if ((text = malloc(size + 1)) == NULL)
		goto out;
	memcpy(text, data, size);
	text[size] = '\0';
	n = words_split(text, words);
	for (i = 0; i < n; i++)
		if (lookup_both(bl, words[i], &m) == 1) {
			CHECK(strcmp(m.feed, "feed-0") == 0);
			CHECK(m.action == action);
		}

	if ((b2 = rg_bl_builder_new()) == NULL)
		goto out;
	CHECK(rg_bl_builder_feed(b2, "direct") == 0);
	for (i = 0; i < n; i++) {
		r = rg_bl_builder_add(b2, words[i], RG_ACTION_REFUSED, 0,
		    i % 2 ? words[i] : NULL);
		if (r == -ENOMEM)
			goto out;
		CHECK(r == 0 || r == -EINVAL);
		ok[i] = r == 0;
	}
	bl2 = rg_bl_build(b2);
	b2 = NULL;
	if (bl2 == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		if (words[i][0] == '*' && words[i][1] == '.') {
			if (strlen(words[i]) > FUZZ_WORD_MAX)
				continue;
			/* "x" plus the name makes at most 2 more wire bytes. */
			snprintf(below, sizeof(below), "x%s", words[i] + 1);
			r = lookup_both(bl2, below, &m);
			CHECK(r == 1 || r == -EINVAL);
		} else
			CHECK(lookup_both(bl2, words[i], &m) == 1);
	}
out:
	rg_bl_builder_free(b);
	rg_bl_builder_free(b2);
	rg_bl_free(bl);
	rg_bl_free(bl2);
	free(text);
	return 0;
}

/*
 * fuzz_adblock.c -- libFuzzer target: an "adblock" feed, as a list server
 * may send it, through the adblock plugin's parse().
 *
 * The input is the list.  It is parsed twice, and both runs must agree
 * (the plugin keeps no state).  Checked for every rule: a lowercase name
 * ("*." only in front), the feed's policy or an exception, an indicator
 * "line N" within the list; every exception comes before every block;
 * counts agree with the rules handed over; a skip is described.  A third
 * parse with a callback that refuses a rule must stop there and return
 * the callback's error.  The first line is also read as a name alone,
 * in punycode or in Unicode, by what all the formats share.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feedfuzz.h"

struct fz {
	unsigned long calls;
	unsigned long refuse_at;	/* 0: never */
	unsigned long lines;		/* in the input */
	int blocks;			/* a block was seen */
	uint64_t sum;
};

static int
check_cb(void *arg, const struct rg_feed_rule *r)
{
	struct fz *f = arg;
	const char *k;
	char *end;
	unsigned long line;

	f->calls++;
	if (f->refuse_at != 0 && f->calls == f->refuse_at)
		return -ECANCELED;
	CHECK(r != NULL && r->trigger == RG_FEED_QNAME && r->name != NULL);
	CHECK(r->prefix == NULL && r->local == NULL && r->tlp == NULL);
	rg_fuzz_check_name(r->name);
	CHECK(r->action == RG_FEED_POLICY || r->action == RG_FEED_PASSTHRU);
	if (r->action == RG_FEED_POLICY)
		f->blocks = 1;
	else
		CHECK(!f->blocks);
	CHECK(r->indicator != NULL && strncmp(r->indicator, "line ", 5) == 0);
	line = strtoul(r->indicator + 5, &end, 10);
	CHECK(*end == '\0' && line >= 1 && line <= f->lines);
	for (k = r->name; *k != '\0'; k++)
		f->sum = f->sum * 31 + (uint8_t)*k;
	f->sum = f->sum * 31 + (uint64_t)r->action * 7 + line;
	return 0;
}

static long
run(const char *doc, size_t size, struct fz *f, struct rg_feed_stats *st,
    char *msg, size_t msglen)
{
	struct rg_feed_settings s;
	long rc;
	size_t i;

	memset(&s, 0, sizeof(s));
	s.name = "fuzz";
	s.format = "adblock";
	f->lines = 1;
	for (i = 0; i < size; i++)
		if (doc[i] == '\n')
			f->lines++;
	memset(st, 0, sizeof(*st));
	rc = rg_plugin.feed->parse(&s, doc, size, check_cb, f, st, msg,
	    msglen);
	rg_fuzz_check_lines(rc, st, msg, msglen);
	CHECK(rc < 0 || f->refuse_at != 0 || (unsigned long)rc == f->calls);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_feed_stats st, st2;
	struct fz f, f2;
	char msg[256], msg2[256];
	char *doc, *eol;
	long rc, rc2;

	/* An exact-size copy, so that a read past the end is caught. */
	if ((doc = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(doc, data, size);
	eol = memchr(doc, '\n', size);
	rg_fuzz_check_name_norm(doc, eol != NULL ? (size_t)(eol - doc) :
	    size);
	memset(&f, 0, sizeof(f));
	memset(&f2, 0, sizeof(f2));
	rc = run(doc, size, &f, &st, msg, sizeof(msg));
	rc2 = run(doc, size, &f2, &st2, msg2, sizeof(msg2));
	CHECK(rc == rc2 && f.sum == f2.sum && f.calls == f2.calls);
	CHECK(st.skipped == st2.skipped && st.unsupported == st2.unsupported);
	CHECK(strcmp(st.first_skip, st2.first_skip) == 0);
	CHECK(strcmp(msg, msg2) == 0);
	/* Not a list: nothing was handed over. */
	CHECK(rc != -EINVAL || f.calls == 0);
	if (rc > 0) {
		memset(&f2, 0, sizeof(f2));
		f2.refuse_at = 1 + (unsigned long)(size % (unsigned long)rc);
		rc2 = run(doc, size, &f2, &st2, msg2, sizeof(msg2));
		CHECK(rc2 == -ECANCELED);
		CHECK(f2.calls == f2.refuse_at);
		CHECK(st2.rules == f2.refuse_at - 1);
	}
	free(doc);
	return 0;
}

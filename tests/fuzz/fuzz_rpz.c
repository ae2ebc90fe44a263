/*
 * fuzz_rpz.c -- libFuzzer target: an "rpz" feed, as a feed server or a
 * zone transfer may deliver it, through the rpz plugin's parse().
 *
 * The input is the zone's text.  It is parsed without a zone name (taken
 * from the SOA) and with one ("rpz.example" or, for one input in four,
 * the root), each twice: the plugin keeps no state, so both runs must
 * agree.  Checked for every rule: a name trigger is a
 * lowercase name ("*." only in front), an address trigger a prefix that
 * inet_pton() reads with a length in range, local data lines of A, AAAA
 * or CNAME; counts agree with the rules handed over; a skip is described.
 * A third parse with a callback that refuses a rule must stop there and
 * return the callback's error.
 */
#include <arpa/inet.h>
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
	uint64_t sum;			/* of what the rules say */
};

static void
check_prefix(const char *p)
{
	char a[64];
	const char *slash = strchr(p, '/');
	uint8_t buf[16];
	long len;
	int v6;

	CHECK(slash != NULL && (size_t)(slash - p) < sizeof(a));
	memcpy(a, p, (size_t)(slash - p));
	a[slash - p] = '\0';
	v6 = strchr(a, ':') != NULL;
	CHECK(inet_pton(v6 ? AF_INET6 : AF_INET, a, buf) == 1);
	len = strtol(slash + 1, NULL, 10);
	CHECK(len >= 1 && len <= (v6 ? 128 : 32));
}

static void
check_local(const char *l)
{
	const char *e;
	char line[300];
	uint8_t buf[16];
	size_t n;

	for (;;) {
		e = strchr(l, '\n');
		n = e != NULL ? (size_t)(e - l) : strlen(l);
		CHECK(n > 0 && n < sizeof(line));
		memcpy(line, l, n);
		line[n] = '\0';
		if (strncmp(line, "A ", 2) == 0)
			CHECK(inet_pton(AF_INET, line + 2, buf) == 1);
		else if (strncmp(line, "AAAA ", 5) == 0)
			CHECK(inet_pton(AF_INET6, line + 5, buf) == 1);
		else
			CHECK(strncmp(line, "CNAME ", 6) == 0 &&
			    line[n - 1] == '.' && e == NULL);
		if (e == NULL)
			break;
		l = e + 1;
	}
}

static int
check_cb(void *arg, const struct rg_feed_rule *r)
{
	struct fz *f = arg;
	const char *k;

	f->calls++;
	if (f->refuse_at != 0 && f->calls == f->refuse_at)
		return -ECANCELED;
	CHECK(r != NULL && r->indicator != NULL && r->tlp == NULL);
	CHECK((unsigned)r->action < RG_FEED_ACTION_COUNT &&
	    r->action != RG_FEED_POLICY);
	if (r->trigger == RG_FEED_QNAME) {
		CHECK(r->name != NULL && r->prefix == NULL);
		rg_fuzz_check_name(r->name);
		k = r->name;
	} else {
		CHECK(r->trigger == RG_FEED_IP);
		CHECK(r->prefix != NULL && r->name == NULL);
		check_prefix(r->prefix);
		k = r->prefix;
	}
	CHECK((r->local != NULL) == (r->action == RG_FEED_LOCAL));
	if (r->local != NULL)
		check_local(r->local);
	for (; *k != '\0'; k++)
		f->sum = f->sum * 31 + (uint8_t)*k;
	f->sum = f->sum * 31 + (uint64_t)r->action;
	return 0;
}

static long
run(const char *doc, size_t size, const char *origin, struct fz *f,
    struct rg_feed_stats *st, char *msg, size_t msglen)
{
	struct rg_feed_settings s;
	long rc;

	memset(&s, 0, sizeof(s));
	s.name = "fuzz";
	s.format = "rpz";
	s.origin = origin;
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
	const char *origins[2] = { NULL, size % 4 == 3 ? "." : "rpz.example" };
	struct rg_feed_stats st, st2;
	struct fz f, f2;
	char msg[256], msg2[256];
	char *doc;
	long rc, rc2;
	size_t i;

	/* An exact-size copy, so that a read past the end is caught. */
	if ((doc = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(doc, data, size);
	for (i = 0; i < sizeof(origins) / sizeof(origins[0]); i++) {
		memset(&f, 0, sizeof(f));
		memset(&f2, 0, sizeof(f2));
		rc = run(doc, size, origins[i], &f, &st, msg, sizeof(msg));
		if (rc == -ENOMEM)
			continue;
		rc2 = run(doc, size, origins[i], &f2, &st2, msg2,
		    sizeof(msg2));
		CHECK(rc == rc2 && f.sum == f2.sum && f.calls == f2.calls);
		CHECK(st.skipped == st2.skipped &&
		    st.unsupported == st2.unsupported);
		CHECK(strcmp(st.first_skip, st2.first_skip) == 0);
		CHECK(strcmp(msg, msg2) == 0);
		if (rc > 0) {
			/* Refuse one rule: the parse stops there. */
			memset(&f2, 0, sizeof(f2));
			f2.refuse_at = 1 + (unsigned long)(size %
			    (unsigned long)rc);
			rc2 = run(doc, size, origins[i], &f2, &st2, msg2,
			    sizeof(msg2));
			CHECK(rc2 == -ECANCELED);
			CHECK(f2.calls == f2.refuse_at);
			CHECK(st2.rules == f2.refuse_at - 1);
		}
	}
	free(doc);
	return 0;
}

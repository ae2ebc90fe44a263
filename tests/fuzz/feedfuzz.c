/*
 * feedfuzz.c -- what the libFuzzer targets of the feed formats share; see
 * feedfuzz.h.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feedfuzz.h"
#include "lib/feedutil.h"

struct run {
	size_t calls;
	size_t fail_at;			/* 0: never */
	uint64_t sum;			/* of the rules, to compare runs */
};

void
rg_fuzz_check_text(const char *s, size_t len)
{
	const char *end = memchr(s, '\0', len);

	CHECK(end != NULL);
	for (; s < end; s++)
		CHECK(*s >= ' ' && *s < 0x7f);
}

void
rg_fuzz_check_name(const char *name)
{
	size_t n = strlen(name), i, ll = 0;

	CHECK(n > 0 && n <= 255 && name[n - 1] != '.');
	if (name[0] == '*') {
		CHECK(name[1] == '.' && name[2] != '\0');
		name += 2;
		n -= 2;
	}
	CHECK(n <= 253);
	for (i = 0; i < n; i++) {
		if (name[i] == '.') {
			CHECK(ll > 0);
			ll = 0;
			continue;
		}
		CHECK((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-' ||
		    name[i] == '_');
		CHECK(++ll <= 63);
	}
	CHECK(ll > 0);
}

/* A reason from rg_name_norm(). */
static void
check_why(int rc, const char *why)
{
	CHECK(rc == -EINVAL && why != NULL && why[0] != '\0');
	rg_fuzz_check_text(why, strlen(why) + 1);
}

void
rg_fuzz_check_name_norm(const char *s, size_t n)
{
	char out[RG_NAME_MAX + 1], num[RG_NAME_MAX + 1], again[RG_NAME_MAX + 1];
	const char *why = NULL, *nwhy = NULL, *awhy = NULL;
	int rc, nrc;

	rc = rg_name_norm(s, n, 0, out, &why);
	if (rc < 0)
		check_why(rc, why);
	nrc = rg_name_norm(s, n, RG_NAME_NUMERIC, num, &nwhy);
	if (nrc < 0) {
		check_why(nrc, nwhy);
		CHECK(rc < 0);
		return;
	}
	if (rc == 0)
		CHECK(strcmp(out, num) == 0);
	rg_fuzz_check_name(num);
	CHECK(rg_name_norm(num, strlen(num), RG_NAME_NUMERIC, again,
	    &awhy) == 0);
	CHECK(strcmp(again, num) == 0);
}

void
rg_fuzz_check_lines(long rc, const struct rg_feed_stats *st,
    const char *msg, size_t msglen)
{
	CHECK(memchr(st->first_skip, '\0', sizeof(st->first_skip)) != NULL);
	CHECK(memchr(msg, '\0', msglen) != NULL);
	CHECK((st->skipped == 0 && st->unsupported == 0) ||
	    strncmp(st->first_skip, "line ", 5) == 0);
	if (rc >= 0)
		CHECK((uint64_t)rc == st->rules);
	else
		CHECK(msg[0] != '\0');
}

/* An address, or a prefix whose length is not the address's own. */
static void
check_prefix(const char *p)
{
	char a[64];
	unsigned char buf[16];
	const char *slash = strchr(p, '/');
	size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
	int v4;

	CHECK(n > 0 && n < sizeof(a));
	memcpy(a, p, n);
	a[n] = '\0';
	v4 = inet_pton(AF_INET, a, buf) == 1;
	CHECK(v4 || inet_pton(AF_INET6, a, buf) == 1);
	if (slash != NULL)
		CHECK(atoi(slash + 1) >= 0 && atoi(slash + 1) < (v4 ? 32 :
		    128));
}

static int
rule_cb(void *arg, const struct rg_feed_rule *r)
{
	static const char *const tlps[] = { "clear", "green", "amber",
	    "amber+strict", "red" };
	struct run *run = arg;
	const char *s;
	size_t i;
	int ok;

	run->calls++;
	if (run->fail_at != 0 && run->calls == run->fail_at)
		return -ECANCELED;
	CHECK(run->fail_at == 0 || run->calls < run->fail_at);
	CHECK(r->action == RG_FEED_POLICY && r->local == NULL);
	CHECK(r->indicator != NULL && r->indicator[0] != '\0');
	if (r->tlp != NULL) {
		for (ok = 0, i = 0; i < sizeof(tlps) / sizeof(tlps[0]); i++)
			ok |= strcmp(r->tlp, tlps[i]) == 0;
		CHECK(ok);
	}
	if (r->trigger == RG_FEED_QNAME) {
		CHECK(r->name != NULL && r->prefix == NULL);
		rg_fuzz_check_name(r->name);
		s = r->name;
	} else {
		CHECK(r->trigger == RG_FEED_IP);
		CHECK(r->prefix != NULL && r->name == NULL);
		check_prefix(r->prefix);
		s = r->prefix;
	}
	for (; *s != '\0'; s++)
		run->sum = run->sum * 31 + (unsigned char)*s;
	run->sum += r->trigger;
	return 0;
}

void
rg_fuzz_policy_parse(const struct rg_feed_settings *s, const char *doc,
    size_t len)
{
	struct rg_feed_stats st, st2;
	struct run run, run2;
	char msg[200], msg2[200];
	long rc, rc2;

	memset(&st, 0, sizeof(st));
	memset(&run, 0, sizeof(run));
	rc = rg_plugin.feed->parse(s, doc, len, rule_cb, &run, &st, msg,
	    sizeof(msg));
	if (rc == -ENOMEM)
		return;
	rg_fuzz_check_text(st.first_skip, sizeof(st.first_skip));
	CHECK((st.skipped + st.unsupported > 0) == (st.first_skip[0] != '\0'));
	if (strcmp(rg_plugin.name, "stix2") != 0)
		CHECK(st.unsupported == 0 && st.expired == 0 &&
		    st.low_confidence == 0);
	if (rc < 0) {
		CHECK(rc == -EINVAL || rc == -EFBIG);
		CHECK(run.calls == 0);
		rg_fuzz_check_text(msg, sizeof(msg));
		CHECK(msg[0] != '\0');
	} else {
		CHECK((size_t)rc == run.calls && st.rules == run.calls);
	}

	/* The same again. */
	memset(&st2, 0, sizeof(st2));
	memset(&run2, 0, sizeof(run2));
	rc2 = rg_plugin.feed->parse(s, doc, len, rule_cb, &run2, &st2, msg2,
	    sizeof(msg2));
	if (rc2 == -ENOMEM)
		return;
	CHECK(rc2 == rc && run2.sum == run.sum);
	CHECK(memcmp(&st, &st2, sizeof(st)) == 0);
	if (rc <= 0)
		return;

	/* A callback that fails halfway. */
	memset(&st2, 0, sizeof(st2));
	memset(&run2, 0, sizeof(run2));
	run2.fail_at = (size_t)rc / 2 + 1;
	rc2 = rg_plugin.feed->parse(s, doc, len, rule_cb, &run2, &st2, msg2,
	    sizeof(msg2));
	if (rc2 == -ENOMEM)
		return;
	CHECK(rc2 == -ECANCELED);
	CHECK(run2.calls == run2.fail_at);
	CHECK(st2.rules == run2.fail_at - 1);
	rg_fuzz_check_text(msg2, sizeof(msg2));
	CHECK(msg2[0] != '\0');
}

/*
 * fuzz_misp.c -- libFuzzer target: the "misp" feed format plugin.
 *
 * The input is used twice: as a whole document, as a feed server may send
 * it, and, when it is UTF-8, as the value of one attribute of each type
 * used, in an event made here (so that the value parsers are reached
 * without the JSON around them).  The settings come from the input's
 * length.  Checked for every parse: each rule is well formed (a lowercase
 * name of at most 255 characters, or an address or prefix that inet_pton
 * takes, a known TLP word, the policy action); the count returned, the
 * rules handed over and the stats agree, and no STIX-only counter moves;
 * what is skipped is described, in printable ASCII; the same input gives
 * the same result again; and a callback that fails halfway stops the
 * parse with its own error after exactly that call.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "plugin.h"

/* An invariant broken: a finding, reported like a crash. */
#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

extern const struct rg_plugin rg_plugin;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	size_t calls;
	size_t fail_at;			/* 0: never */
	uint64_t sum;			/* of the rules, to compare runs */
};

static void
check_text(const char *s, size_t len)
{
	const char *end = memchr(s, '\0', len);

	CHECK(end != NULL);
	for (; s < end; s++)
		CHECK(*s >= ' ' && *s < 0x7f);
}

static void
check_name(const char *name)
{
	size_t n = strlen(name), i, ll = 0;

	CHECK(n > 0 && n <= 255);
	if (name[0] == '*') {
		CHECK(name[1] == '.');
		name += 2;
		n -= 2;
	}
	CHECK(n > 0 && n <= 253 && name[n - 1] != '.');
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
}

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
		check_name(r->name);
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

static void
parse(const struct rg_feed_settings *s, const char *doc, size_t len)
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
	check_text(st.first_skip, sizeof(st.first_skip));
	CHECK((st.skipped > 0) == (st.first_skip[0] != '\0'));
	/* Counters that are not MISP's. */
	CHECK(st.unsupported == 0 && st.expired == 0 && st.low_confidence == 0);
	if (rc < 0) {
		CHECK(rc == -EINVAL || rc == -EFBIG);
		CHECK(run.calls == 0);
		check_text(msg, sizeof(msg));
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
	check_text(msg2, sizeof(msg2));
	CHECK(msg2[0] != '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "domain", "hostname",
	    "domain|ip", "url", "ip-dst", "ip-src", "ip-dst|port",
	    "ip-src|port" };
	struct rg_feed_settings s;
	json_t *ev, *attrs, *v;
	char *doc;
	size_t i;

	memset(&s, 0, sizeof(s));
	s.name = "fuzz";
	s.format = "misp";
	s.subdomains = size & 1;
	s.now = 1700000000;

	parse(&s, (const char *)data, size);

	/* The input as the value of every type. */
	if ((v = json_stringn((const char *)data, size)) == NULL)
		return 0;
	attrs = json_array();
	for (i = 0; attrs != NULL && i < sizeof(types) / sizeof(types[0]);
	    i++)
		json_array_append_new(attrs, json_pack("{s:s, s:O, s:s, s:i}",
		    "type", types[i], "value", v, "to_ids", "1", "id",
		    (int)i));
	json_decref(v);
	ev = json_pack("{s:{s:s, s:[{s:s}], s:o}}", "Event", "uuid", "ev",
	    "Tag", "name", "tlp:amber", "Attribute", attrs);
	if (ev == NULL)
		return 0;
	if ((doc = json_dumps(ev, 0)) != NULL)
		parse(&s, doc, strlen(doc));
	free(doc);
	json_decref(ev);
	return 0;
}

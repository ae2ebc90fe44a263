/*
 * fuzz_reply.c -- libFuzzer target: an upstream's reply, as the forwarder
 * hands it to a guard-mode worker, judged by the real frontend with
 * rg_frontend_fuzz_reply(): relayed to the client (its ID, question and
 * EDNS, truncated to its size), kept for serve-stale, and checked against
 * response-IP rules of every action (local data that parses and that does
 * not, a passthru exception, log-only).
 *
 * Input: byte 0 holds flags (bit 0 the client is on TCP, bit 1 the reply
 * is a kept SERVFAIL of a failed query, bit 2 the client sent EDNS, bit 3
 * with DO, bit 4 ask again afterwards with no upstream answering, so that
 * the kept answer is served stale and judged anew); byte 1 picks the
 * question (a name, the passthru exception, an allowlisted name; A, AAAA,
 * CNAME or TXT); then the reply's 12-byte header (QR and QDCOUNT 1 are
 * forced, as the forwarder takes nothing else) and its sections after the
 * question, which is the client's, as the forwarder checks.  Checked: the
 * client's reply is a response with its ID and its question as it asked
 * it, within its size.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "blocklist.h"
#include "frontend.h"

/* An invariant broken: a finding, reported like a crash. */
#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

#define OUT_CAP		(65535 + 64)
#define PKT_MAX		65535

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rule {
	const char *name;		/* or an IP prefix with ip set */
	int ip;
	enum rg_action action;
	const char *local;
};

static const struct rule rules[] = {
	{ "*.wild.example", 0, RG_ACTION_NXDOMAIN, NULL },
	{ "ok.wild.example", 0, RG_ACTION_PASSTHRU, NULL },
	{ "allowed.example", 0, RG_ACTION_NXDOMAIN, NULL },
	{ "192.0.2.66", 1, RG_ACTION_NXDOMAIN, NULL },
	{ "198.51.100.0/24", 1, RG_ACTION_LOCAL,
	    "A 192.0.2.9\nAAAA 2001:db8::9\nCNAME walled.example." },
	{ "203.0.113.7", 1, RG_ACTION_DROP, NULL },
	{ "192.0.2.99", 1, RG_ACTION_PASSTHRU, NULL },
	{ "192.0.2.100", 1, RG_ACTION_LOG_ONLY, NULL },
	{ "2001:db8:bad::/48", 1, RG_ACTION_SINKHOLE, NULL },
	{ "198.18.0.0/15", 1, RG_ACTION_REFUSED, NULL },
	{ "203.0.113.0/24", 1, RG_ACTION_NODATA, NULL },
	{ "10.0.0.0/8", 1, RG_ACTION_LOCAL, "A 10.0.0.300" },
	{ "2001:db8::/32", 1, RG_ACTION_LOG_ONLY, NULL },
	{ NULL, 0, RG_ACTION_NXDOMAIN, NULL }
};

static const char *const names[] = {
	"www.lab.test", "ok.wild.example", "allowed.example", "x.example",
};
static const uint16_t types[] = { 1, 28, 5, 16 };

static struct rg_bl_domain *fuzz_dom;
static struct rg_frontend *fuzz_fe;
static uint8_t *fuzz_out, *fuzz_pkt;
static unsigned long fuzz_runs;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rg_bl_builder *b;
	struct rg_bl_meta meta;
	int i;

	CHECK((b = rg_bl_builder_new()) != NULL);
	CHECK(rg_bl_builder_feed(b, "hub") == 0);
	CHECK(rg_bl_builder_feed(b, "other") == 1);
	for (i = 0; rules[i].name != NULL; i++) {
		meta.indicator = "indicator--fuzz";
		meta.tlp = i % 3 ? "amber" : NULL;
		meta.local = rules[i].local;
		if (rules[i].ip)
			CHECK(rg_bl_builder_add_ip(b, rules[i].name,
			    rules[i].action, i % 2, &meta) == 0);
		else
			CHECK(rg_bl_builder_add_meta(b, rules[i].name,
			    rules[i].action, i % 2, &meta) == 0);
	}
	CHECK((fuzz_dom = rg_bl_domain_new(1, rg_bl_build(b))) != NULL);
	CHECK((fuzz_fe = rg_frontend_fuzz_new(fuzz_dom)) != NULL);
	CHECK((fuzz_out = malloc(OUT_CAP)) != NULL);
	CHECK((fuzz_pkt = malloc(PKT_MAX)) != NULL);
	return 0;
}

/* NAME in wire form at P; returns its length. */
static size_t
wire_name(uint8_t *p, const char *name)
{
	const char *s = name, *dot;
	size_t n = 0, l;

	while (*s != '\0') {
		dot = strchr(s, '.');
		l = dot != NULL ? (size_t)(dot - s) : strlen(s);
		p[n++] = (uint8_t)l;
		memcpy(p + n, s, l);
		n += l;
		s += l + (dot != NULL);
	}
	p[n++] = 0;
	return n;
}

static void
reply_check(const uint8_t *q, size_t qlen, const uint8_t *out, size_t len,
    int tcp, int edns)
{
	CHECK(len >= qlen);
	CHECK(out[0] == q[0] && out[1] == q[1]);
	CHECK(out[2] & 0x80);
	CHECK(out[4] == 0 && out[5] == 1);
	CHECK(memcmp(out + 12, q + 12, qlen - 12 - (edns ? 11 : 0)) == 0);
	if (!tcp)
		CHECK(len <= (edns ? 1232u : 512u));
	CHECK(len <= 65535);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t q[300];
	size_t qlen, n, plen, nl;
	int tcp, failed, edns, dnssec_ok, again, fwd = 0;
	uint16_t type;
	json_t *s;

	if (size < 2 + 12)
		return 0;
	tcp = data[0] & 1;
	failed = (data[0] >> 1) & 1;
	edns = (data[0] >> 2) & 1;
	dnssec_ok = (data[0] >> 3) & 1;
	again = (data[0] >> 4) & 1;
	type = types[(data[1] >> 2) % 4];

	/* The client's query. */
	memset(q, 0, 12);
	q[0] = 0xbe;
	q[1] = 0xef;
	q[2] = 0x01;			/* RD */
	q[5] = 1;
	nl = wire_name(q + 12, names[data[1] % 4]);
	qlen = 12 + nl;
	q[qlen++] = (uint8_t)(type >> 8);
	q[qlen++] = (uint8_t)type;
	q[qlen++] = 0;
	q[qlen++] = 1;
	if (edns) {
		q[11] = 1;
		memcpy(q + qlen, "\0\0\x29\x10\0\0\0\0\0\0\0", 11);
		if (dnssec_ok)
			q[qlen + 7] = 0x80;
		qlen += 11;
	}

	/* The upstream's reply to it. */
	data += 2;
	size -= 2;
	if (12 + nl + 4 + (size - 12) > PKT_MAX)
		return 0;
	memcpy(fuzz_pkt, data, 12);
	fuzz_pkt[2] |= 0x80;
	fuzz_pkt[4] = 0;
	fuzz_pkt[5] = 1;
	memcpy(fuzz_pkt + 12, q + 12, nl + 4);
	memcpy(fuzz_pkt + 12 + nl + 4, data + 12, size - 12);
	plen = 12 + nl + 4 + size - 12;

	n = rg_frontend_fuzz_query(fuzz_fe, q, qlen, NULL, tcp, fuzz_out,
	    OUT_CAP, &fwd);
	if (n > 0)
		reply_check(q, qlen, fuzz_out, n, tcp, edns);
	if (!fwd)
		return 0;
	n = rg_frontend_fuzz_reply(fuzz_fe, fuzz_pkt, plen, failed, fuzz_out,
	    OUT_CAP);
	if (n > 0)
		reply_check(q, qlen, fuzz_out, n, tcp, edns);
	if (again) {
		n = rg_frontend_fuzz_query(fuzz_fe, q, qlen, NULL, tcp,
		    fuzz_out, OUT_CAP, &fwd);
		CHECK(fwd && n == 0);
		n = rg_frontend_fuzz_reply(fuzz_fe, NULL, 0, 1, fuzz_out,
		    OUT_CAP);
		if (n > 0)
			reply_check(q, qlen, fuzz_out, n, tcp, edns);
	}
	if (++fuzz_runs % 256 == 0) {
		CHECK((s = rg_frontend_sightings(fuzz_fe, 1)) != NULL);
		CHECK(json_is_array(json_object_get(s, "hits")));
		json_decref(s);
	}
	return 0;
}

/*
 * fuzz_guard.c -- libFuzzer target: one client message as a guard-mode
 * worker receives it, handled by the real frontend with
 * rg_frontend_fuzz_query() (no socket, no upstream), against a fixed
 * blocklist with a name rule of every action (local data that parses,
 * that does not, that does not fit a UDP reply, a CNAME; a passthru
 * exception under a blocked wildcard; an allowlisted name) and
 * response-IP rules.
 *
 * The first byte of the input chooses the transport (bit 0: TCP) and the
 * client (bits 1-2: 192.0.2.1, 2001:db8::1, ::ffff:198.51.100.9,
 * 2001:db8:ff00::5); the rest is the message.  A query that goes upstream
 * is then failed (no upstream answered), so that the SERVFAIL path runs
 * too.  Checked: a reply is a response with the query's ID, parses with
 * ldns, fits the client (512 bytes without EDNS, udp-size over UDP); now
 * and then the sightings and the counters are taken and checked for
 * shape.
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
#include <ldns/ldns.h>

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

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rule {
	const char *name;		/* or an IP prefix with ip set */
	int ip;
	enum rg_action action;
	const char *local;
	const char *tlp;
};

static const struct rule rules[] = {
	{ "blocked.example", 0, RG_ACTION_NXDOMAIN, NULL, "amber" },
	{ "*.wild.example", 0, RG_ACTION_NXDOMAIN, NULL, NULL },
	{ "ok.wild.example", 0, RG_ACTION_PASSTHRU, NULL, NULL },
	{ "nodata.example", 0, RG_ACTION_NODATA, NULL, NULL },
	{ "refused.example", 0, RG_ACTION_REFUSED, NULL, NULL },
	{ "drop.example", 0, RG_ACTION_DROP, NULL, NULL },
	{ "sink.example", 0, RG_ACTION_SINKHOLE, NULL, "red" },
	{ "log.example", 0, RG_ACTION_LOG_ONLY, NULL, NULL },
	{ "local-a.example", 0, RG_ACTION_LOCAL,
	    "A 192.0.2.7\nA 192.0.2.8\nAAAA 2001:db8::7\n", "clear" },
	{ "local-cname.example", 0, RG_ACTION_LOCAL,
	    "CNAME walled.example.", NULL },
	{ "local-bad.example", 0, RG_ACTION_LOCAL, "A 300.1.2.3", NULL },
	{ "local-type.example", 0, RG_ACTION_LOCAL, "TXT hello", NULL },
	{ "local-big.example", 0, RG_ACTION_LOCAL, NULL, NULL },
	{ "allowed.example", 0, RG_ACTION_NXDOMAIN, NULL, NULL },
	{ "192.0.2.66", 1, RG_ACTION_NXDOMAIN, NULL, NULL },
	{ "198.51.100.0/24", 1, RG_ACTION_LOCAL, "A 192.0.2.9", NULL },
	{ "203.0.113.7", 1, RG_ACTION_DROP, NULL, NULL },
	{ "192.0.2.99", 1, RG_ACTION_PASSTHRU, NULL, NULL },
	{ "192.0.2.100", 1, RG_ACTION_LOG_ONLY, NULL, NULL },
	{ "2001:db8:bad::/48", 1, RG_ACTION_SINKHOLE, NULL, NULL },
	{ "198.18.0.0/15", 1, RG_ACTION_REFUSED, NULL, NULL },
	{ "203.0.113.0/24", 1, RG_ACTION_NODATA, NULL, NULL },
	{ "10.0.0.0/8", 1, RG_ACTION_LOCAL, "A 10.0.0.300", NULL },
	{ NULL, 0, RG_ACTION_NXDOMAIN, NULL, NULL }
};

static struct rg_bl_domain *fuzz_dom;
static struct rg_frontend *fuzz_fe;
static struct sockaddr_storage fuzz_from[4];
static uint8_t *fuzz_out;
static unsigned long fuzz_runs;

static void
from_set(int i, int family, const char *a)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&fuzz_from[i];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&fuzz_from[i];

	if (family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(40000);
		CHECK(inet_pton(AF_INET, a, &s4->sin_addr) == 1);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(40000);
		CHECK(inet_pton(AF_INET6, a, &s6->sin6_addr) == 1);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rg_bl_builder *b;
	struct rg_bl_meta meta;
	char big[4096];
	size_t len = 0;
	int i;

	/* Local data of 100 addresses: more than a UDP reply holds. */
	for (i = 0; i < 100; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len,
		    "A 192.0.2.%d\n", i);
	CHECK((b = rg_bl_builder_new()) != NULL);
	CHECK(rg_bl_builder_feed(b, "hub") == 0);
	CHECK(rg_bl_builder_feed(b, "other") == 1);
	for (i = 0; rules[i].name != NULL; i++) {
		meta.indicator = "indicator--fuzz";
		meta.tlp = rules[i].tlp;
		meta.local = rules[i].local;
		if (rules[i].action == RG_ACTION_LOCAL && meta.local == NULL)
			meta.local = big;
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
	from_set(0, AF_INET, "192.0.2.1");
	from_set(1, AF_INET6, "2001:db8::1");
	from_set(2, AF_INET6, "::ffff:198.51.100.9");
	from_set(3, AF_INET6, "2001:db8:ff00::5");
	return 0;
}

/* The reply OUT (LEN bytes) to the query Q (QLEN bytes), over TCP or not. */
static void
reply_check(const uint8_t *q, size_t qlen, const uint8_t *out, size_t len,
    int tcp)
{
	ldns_pkt *p = NULL;

	CHECK(len >= 12);
	CHECK(out[0] == q[0] && out[1] == q[1]);
	CHECK(out[2] & 0x80);
	if (tcp)
		CHECK(len <= 65535);
	else {
		CHECK(len <= 1232);
		/* No additional record: no OPT, the classic limit. */
		if (q[10] == 0 && q[11] == 0)
			CHECK(len <= 512);
	}
	CHECK(ldns_wire2pkt(&p, out, len) == LDNS_STATUS_OK);
	ldns_pkt_free(p);
	(void)qlen;
}

/* The sightings and the counters, in the shape the reports expect. */
static void
collect(int with_clients)
{
	json_t *s, *hits, *h, *g;
	size_t i;

	CHECK((s = rg_frontend_sightings(fuzz_fe, with_clients)) != NULL);
	CHECK(json_is_integer(json_object_get(s, "overflow")));
	CHECK(json_is_array(hits = json_object_get(s, "hits")));
	json_array_foreach(hits, i, h) {
		CHECK(json_is_string(json_object_get(h, "rule")));
		CHECK(json_is_string(json_object_get(h, "feed")));
		CHECK(json_integer_value(json_object_get(h, "count")) > 0);
		CHECK(strcmp(json_string_value(json_object_get(h, "action")),
		    "passthru") != 0);
		CHECK(with_clients ==
		    json_is_array(json_object_get(h, "clients")));
		CHECK(json_array_size(json_object_get(h, "clients")) <= 16);
	}
	json_decref(s);
	CHECK((g = rg_frontend_json(fuzz_fe)) != NULL);
	CHECK(json_is_object(json_object_get(g, "blocked")));
	CHECK(json_is_object(json_object_get(g, "ip_blocked")));
	CHECK(json_is_integer(json_object_get(g, "passthru")));
	json_decref(g);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sockaddr *from;
	size_t n;
	int tcp, fwd = 0;

	if (size < 1)
		return 0;
	tcp = data[0] & 1;
	from = (const struct sockaddr *)&fuzz_from[(data[0] >> 1) & 3];
	data++;
	size--;
	n = rg_frontend_fuzz_query(fuzz_fe, data, size, from, tcp, fuzz_out,
	    OUT_CAP, &fwd);
	if (n > 0)
		reply_check(data, size, fuzz_out, n, tcp);
	if (fwd) {
		CHECK(n == 0);
		n = rg_frontend_fuzz_reply(fuzz_fe, NULL, 0, 1, fuzz_out,
		    OUT_CAP);
		CHECK(n > 0);
		reply_check(data, size, fuzz_out, n, tcp);
	}
	if (++fuzz_runs % 512 == 0)
		collect((fuzz_runs / 512) & 1);
	return 0;
}

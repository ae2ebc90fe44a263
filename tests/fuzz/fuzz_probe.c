/*
 * fuzz_probe.c -- libFuzzer target: probe replies, as an upstream may send
 * them, fed to rg_probe_match() and rg_probe_judge().
 *
 * Byte 0 of the input picks the probe kind (low three bits, modulo the
 * kinds) and the layout (bit 7); byte 1 picks the query type (low three
 * bits) and the size of the detail buffer (bits 3-4).  The queries are
 * built once by rg_probe_build().  In the raw layout the rest of the input
 * is the whole reply, only its ID set to the query's.  In the spliced
 * layout the rest is a 12-byte header followed by the sections after the
 * question, and the query's own question is put in between, so that the
 * judge sees replies to the query with any content, the random label of
 * the NXDOMAIN check included.  Checked on every input: the judge fails a
 * reply as malformed exactly when rg_probe_match() rejects it, and its
 * detail text stays a string within its buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "probe.h"

/* An invariant broken: a finding, reported like a crash. */
#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

#define FUZZ_NTYPES	8
#define FUZZ_HEADER	12

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_names[RG_PROBE_KIND_COUNT] = {
	[RG_PROBE_BASIC] = "example.org.",
	[RG_PROBE_EXPECT] = "canary.example.",
	[RG_PROBE_NXDOMAIN] = "example.",
	[RG_PROBE_DNSSEC_SIGNED] = "signed.example.",
	[RG_PROBE_DNSSEC_BOGUS] = "bogus.example.",
};

static const uint16_t fuzz_types[FUZZ_NTYPES] = {
	LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_SOA, LDNS_RR_TYPE_TXT,
	LDNS_RR_TYPE_MX, LDNS_RR_TYPE_NS, LDNS_RR_TYPE_PTR, LDNS_RR_TYPE_CAA,
};

static const size_t fuzz_detail_sizes[4] = { 0, 1, 24, 256 };

static char *fuzz_answers[] = {
	"192.0.2.1", "2001:db8::1", "mail.example.", "10 mail.example.",
	"\"v=spf1 -all\"", "ns1.example. hostmaster.example. 1 2 3 4 5",
};

static const struct rg_conf_checks fuzz_checks = {
	.expect_name = "canary.example.",
	.expect_type = LDNS_RR_TYPE_A,
	.expect_answers = fuzz_answers,
	.n_expect_answers = sizeof(fuzz_answers) / sizeof(fuzz_answers[0]),
};

static struct rg_probe_query fuzz_queries[RG_PROBE_KIND_COUNT][FUZZ_NTYPES];

/* Length of the question section of the query Q. */
static size_t
question_len(const struct rg_probe_query *q)
{
	size_t pos = FUZZ_HEADER;

	while (q->wire[pos] != 0)
		pos += (size_t)q->wire[pos] + 1;
	return pos + 1 + 4 - FUZZ_HEADER;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t k, t;

	for (k = 0; k < RG_PROBE_KIND_COUNT; k++)
		for (t = 0; t < FUZZ_NTYPES; t++)
			if (rg_probe_build(&fuzz_queries[k][t], k, fuzz_names[k],
			    fuzz_types[t], &fuzz_checks) != 0)
				abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct rg_probe_query *q;
	enum rg_probe_err err;
	size_t len, qlen, dlen;
	uint8_t *pkt;
	char *detail = NULL;
	int match;

	if (size < 2)
		return 0;
	q = &fuzz_queries[(data[0] & 7) % RG_PROBE_KIND_COUNT][data[1] & 7];
	dlen = fuzz_detail_sizes[(data[1] >> 3) & 3];
	data += 2;
	size -= 2;
	if (data[-2] & 0x80) {
		if (size < FUZZ_HEADER)
			return 0;
		qlen = question_len(q);
		len = size + qlen;
		if ((pkt = malloc(len)) == NULL)
			return 0;
		memcpy(pkt, data, FUZZ_HEADER);
		memcpy(pkt + FUZZ_HEADER, q->wire + FUZZ_HEADER, qlen);
		memcpy(pkt + FUZZ_HEADER + qlen, data + FUZZ_HEADER,
		    size - FUZZ_HEADER);
	} else {
		len = size;
		if ((pkt = malloc(len > 0 ? len : 1)) == NULL)
			return 0;
		memcpy(pkt, data, len);
	}
	if (len >= 2) {
		pkt[0] = (uint8_t)(q->id >> 8);
		pkt[1] = (uint8_t)q->id;
	}
	if (dlen > 0 && (detail = malloc(dlen)) == NULL)
		goto out;

	match = rg_probe_match(q, pkt, len);
	err = rg_probe_judge(q, pkt, len, detail, dlen);
	CHECK((unsigned)err < RG_PROBE_ERR_COUNT);
	CHECK(match == (err != RG_PROBE_MALFORMED));
	CHECK(err != RG_PROBE_OK || match);
	CHECK(detail == NULL || memchr(detail, '\0', dlen) != NULL);
	(void)rg_probe_err_is_quality(err);
	CHECK(rg_probe_err_str(err) != NULL);
out:
	free(detail);
	free(pkt);
	return 0;
}

/*
 * test_probe.c -- unit tests of the probe queries: building, matching and
 * judging, fed with crafted packets (valid replies made with ldns, and
 * garbage, truncated or foreign ones made by hand).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "probe.h"

#define assert_contains(hay, needle) do {				\
	if (strstr((hay), (needle)) == NULL)				\
		fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
} while (0)

/* A reply to Q as a server would send it, before the test tampers with it. */
static ldns_pkt *
reply_new(const struct rg_probe_query *q, ldns_pkt_rcode rcode)
{
	ldns_pkt *p = NULL;

	assert_int_equal(ldns_wire2pkt(&p, q->wire, q->wire_len),
	    LDNS_STATUS_OK);
	ldns_pkt_set_qr(p, 1);
	ldns_pkt_set_ra(p, 1);
	ldns_pkt_set_rcode(p, rcode);
	return p;
}

static void
reply_add(ldns_pkt *p, ldns_pkt_section sec, const char *rrstr)
{
	ldns_rr *rr = NULL;

	assert_int_equal(ldns_rr_new_frm_str(&rr, rrstr, 300, NULL, NULL),
	    LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(p, sec, rr));
}

/* Wire form of P, freed with P; LEN receives its size. */
static uint8_t *
reply_wire(ldns_pkt *p, size_t *len)
{
	uint8_t *w = NULL;

	assert_int_equal(ldns_pkt2wire(&w, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return w;
}

/* Build, reply with RCODE and optional answers, judge; DETAIL filled. */
static enum rg_probe_err
judge_with(const struct rg_probe_query *q, ldns_pkt *p, char *detail,
    size_t dlen)
{
	enum rg_probe_err err;
	uint8_t *w;
	size_t len;

	w = reply_wire(p, &len);
	assert_int_equal(rg_probe_match(q, w, len), 1);
	err = rg_probe_judge(q, w, len, detail, dlen);
	free(w);
	return err;
}

static void
test_build_basic(void **state)
{
	struct rg_probe_query q;
	ldns_pkt *p = NULL;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, ".",
	    LDNS_RR_TYPE_SOA, NULL), 0);
	assert_string_equal(q.qname, ".");
	assert_int_equal(q.qtype, LDNS_RR_TYPE_SOA);
	assert_int_equal(q.kind, RG_PROBE_BASIC);
	assert_non_null(q.wire);
	assert_int_equal(ldns_wire2pkt(&p, q.wire, q.wire_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), q.id);
	assert_int_equal(ldns_pkt_qr(p), 0);
	assert_int_equal(ldns_pkt_rd(p), 1);
	assert_int_equal(ldns_pkt_cd(p), 0);
	assert_int_equal(ldns_pkt_edns(p), 1);
	assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
	assert_int_equal(ldns_pkt_edns_do(p), 0);
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	ldns_pkt_free(p);
	rg_probe_clear(&q);
	assert_null(q.wire);

	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, "Example.ORG",
	    LDNS_RR_TYPE_A, NULL), 0);
	assert_string_equal(q.qname, "Example.ORG.");
	rg_probe_clear(&q);
}

static void
test_build_dnssec(void **state)
{
	enum rg_probe_kind kinds[] = { RG_PROBE_DNSSEC_SIGNED,
	    RG_PROBE_DNSSEC_BOGUS };
	struct rg_probe_query q;
	ldns_pkt *p;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		p = NULL;
		assert_int_equal(rg_probe_build(&q, kinds[i], "signed.test.",
		    LDNS_RR_TYPE_A, NULL), 0);
		assert_int_equal(ldns_wire2pkt(&p, q.wire, q.wire_len),
		    LDNS_STATUS_OK);
		assert_int_equal(ldns_pkt_edns_do(p), 1);
		assert_int_equal(ldns_pkt_cd(p), 0);
		assert_int_equal(ldns_pkt_rd(p), 1);
		assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
		ldns_pkt_free(p);
		rg_probe_clear(&q);
	}
}

static void
test_build_nxdomain(void **state)
{
	struct rg_probe_query a, b, r;
	size_t i;

	assert_int_equal(rg_probe_build(&a, RG_PROBE_NXDOMAIN, "lab.test",
	    LDNS_RR_TYPE_A, NULL), 0);
	assert_int_equal(rg_probe_build(&b, RG_PROBE_NXDOMAIN, "lab.test.",
	    LDNS_RR_TYPE_A, NULL), 0);
	assert_int_equal(strlen(a.qname), strlen("rg-0123456789.lab.test."));
	assert_memory_equal(a.qname, "rg-", 3);
	for (i = 3; i < 13; i++)
		assert_true(strchr("0123456789abcdef", a.qname[i]) != NULL);
	assert_string_equal(a.qname + 13, ".lab.test.");
	assert_string_not_equal(a.qname, b.qname);

	assert_int_equal(rg_probe_build(&r, RG_PROBE_NXDOMAIN, ".",
	    LDNS_RR_TYPE_A, NULL), 0);
	assert_int_equal(strlen(r.qname), strlen("rg-0123456789."));
	rg_probe_clear(&a);
	rg_probe_clear(&b);
	rg_probe_clear(&r);
}

static void
test_build_bad(void **state)
{
	char longlabel[80], longname[300];
	struct rg_probe_query q;
	size_t i;

	memset(longlabel, 'a', 70);
	strcpy(longlabel + 70, ".test.");
	for (i = 0; i + 10 < sizeof(longname); i += 10)
		memcpy(longname + i, "abcdefghi.", 10);
	longname[i] = '\0';

	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, NULL, 1, NULL),
	    -EINVAL);
	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, "", 1, NULL),
	    -EINVAL);
	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, "a..b", 1, NULL),
	    -EINVAL);
	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, longlabel, 1,
	    NULL), -EINVAL);
	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, longname, 1,
	    NULL), -EINVAL);
	assert_int_equal(rg_probe_build(&q, RG_PROBE_KIND_COUNT, ".", 1,
	    NULL), -EINVAL);
}

static void
test_build_random_id(void **state)
{
	struct rg_probe_query q;
	uint16_t first = 0;
	int i, differ = 0;

	for (i = 0; i < 32; i++) {
		assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, ".",
		    LDNS_RR_TYPE_SOA, NULL), 0);
		if (i == 0)
			first = q.id;
		else if (q.id != first)
			differ++;
		rg_probe_clear(&q);
	}
	assert_true(differ > 0);
}

static void
test_match_good(void **state)
{
	struct rg_probe_query q;
	uint8_t *w;
	size_t len;
	ldns_pkt *p;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, "www.lab.test",
	    LDNS_RR_TYPE_A, NULL), 0);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN A 192.0.2.1");
	w = reply_wire(p, &len);
	assert_int_equal(rg_probe_match(&q, w, len), 1);
	free(w);
	rg_probe_clear(&q);
}

static void
test_match_case(void **state)
{
	struct rg_probe_query q;
	ldns_pkt *p = NULL;
	ldns_rr *qrr;
	ldns_rdf *mixed = NULL;
	uint8_t *w;
	size_t len;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, "www.lab.test",
	    LDNS_RR_TYPE_A, NULL), 0);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	qrr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	assert_int_equal(ldns_str2rdf_dname(&mixed, "wWw.LaB.tEsT."),
	    LDNS_STATUS_OK);
	ldns_rdf_deep_free(ldns_rr_owner(qrr));
	ldns_rr_set_owner(qrr, mixed);
	w = reply_wire(p, &len);
	assert_int_equal(rg_probe_match(&q, w, len), 1);
	free(w);
	rg_probe_clear(&q);
}

static void
test_match_garbage(void **state)
{
	static const uint8_t garbage[] = { 0xde, 0xad, 0xbe, 0xef, 0x01,
	    0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff };
	struct rg_probe_query q;
	uint8_t *w, bad[64];
	size_t len;
	ldns_pkt *p;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, "www.lab.test",
	    LDNS_RR_TYPE_A, NULL), 0);
	assert_int_equal(rg_probe_match(&q, garbage, sizeof(garbage)), 0);
	assert_int_equal(rg_probe_match(&q, NULL, 0), 0);
	assert_int_equal(rg_probe_match(&q, garbage, 0), 0);

	p = reply_new(&q, LDNS_RCODE_NOERROR);
	w = reply_wire(p, &len);
	assert_true(len < sizeof(bad));
	/* Truncated header: 5 bytes. */
	assert_int_equal(rg_probe_match(&q, w, 5), 0);
	/* Header only: qdcount 1 but no question. */
	assert_int_equal(rg_probe_match(&q, w, 12), 0);
	/* Truncated in the middle of the question name and before type. */
	assert_int_equal(rg_probe_match(&q, w, 12 + 5), 0);
	assert_int_equal(rg_probe_match(&q, w, 12 + 14 + 2), 0);
	/* Garbage judged rather than matched: malformed. */
	assert_int_equal(rg_probe_judge(&q, garbage, sizeof(garbage), NULL,
	    0), RG_PROBE_MALFORMED);
	/* A label length pointing past the end. */
	memcpy(bad, w, len);
	bad[12] = 60;
	assert_int_equal(rg_probe_match(&q, bad, len), 0);
	free(w);
	rg_probe_clear(&q);
}

static void
test_match_foreign(void **state)
{
	struct rg_probe_query q;
	ldns_rdf *other = NULL;
	ldns_pkt *p;
	ldns_rr *rr = NULL;
	uint8_t *w;
	size_t len;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, "www.lab.test",
	    LDNS_RR_TYPE_A, NULL), 0);

	/* Wrong ID. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	ldns_pkt_set_id(p, (uint16_t)(q.id + 1));
	w = reply_wire(p, &len);
	assert_int_equal(rg_probe_match(&q, w, len), 0);
	free(w);

	/* QR not set: our own query reflected. */
	assert_int_equal(rg_probe_match(&q, q.wire, q.wire_len), 0);

	/* Wrong name. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_str2rdf_dname(&other, "ww.lab.test."),
	    LDNS_STATUS_OK);
	rr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	ldns_rdf_deep_free(ldns_rr_owner(rr));
	ldns_rr_set_owner(rr, other);
	w = reply_wire(p, &len);
	assert_int_equal(rg_probe_match(&q, w, len), 0);
	free(w);

	/* Wrong type. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	ldns_rr_set_type(ldns_rr_list_rr(ldns_pkt_question(p), 0),
	    LDNS_RR_TYPE_AAAA);
	w = reply_wire(p, &len);
	assert_int_equal(rg_probe_match(&q, w, len), 0);
	free(w);

	/* Wrong class. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	ldns_rr_set_class(ldns_rr_list_rr(ldns_pkt_question(p), 0),
	    LDNS_RR_CLASS_CH);
	w = reply_wire(p, &len);
	assert_int_equal(rg_probe_match(&q, w, len), 0);
	free(w);

	/* Two questions, the first one ours. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, "other.test. IN A",
	    NULL, NULL), LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr));
	w = reply_wire(p, &len);
	assert_int_equal(rg_probe_match(&q, w, len), 0);
	free(w);

	/* No question at all. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	ldns_rr_list_deep_free(ldns_pkt_question(p));
	ldns_pkt_set_question(p, ldns_rr_list_new());
	ldns_pkt_set_qdcount(p, 0);
	w = reply_wire(p, &len);
	assert_int_equal(rg_probe_match(&q, w, len), 0);
	free(w);

	rg_probe_clear(&q);
}

static void
test_judge_rcodes(void **state)
{
	static const struct {
		ldns_pkt_rcode rcode;
		enum rg_probe_err err;
		const char *detail;
	} t[] = {
		{ LDNS_RCODE_NOERROR,	RG_PROBE_OK, "" },
		{ LDNS_RCODE_FORMERR,	RG_PROBE_RCODE, "rcode FORMERR" },
		{ LDNS_RCODE_SERVFAIL,	RG_PROBE_SERVFAIL, "rcode SERVFAIL" },
		{ LDNS_RCODE_NXDOMAIN,	RG_PROBE_OK, "" },
		{ LDNS_RCODE_NOTIMPL,	RG_PROBE_RCODE, "rcode NOTIMPL" },
		{ LDNS_RCODE_REFUSED,	RG_PROBE_REFUSED, "rcode REFUSED" },
		{ LDNS_RCODE_YXDOMAIN,	RG_PROBE_RCODE, "rcode YXDOMAIN" },
		{ LDNS_RCODE_YXRRSET,	RG_PROBE_RCODE, "rcode YXRRSET" },
		{ LDNS_RCODE_NXRRSET,	RG_PROBE_RCODE, "rcode NXRRSET" },
		{ LDNS_RCODE_NOTAUTH,	RG_PROBE_RCODE, "rcode NOTAUTH" },
		{ LDNS_RCODE_NOTZONE,	RG_PROBE_RCODE, "rcode NOTZONE" },
		{ 11,			RG_PROBE_RCODE, "rcode RCODE11" },
		{ 15,			RG_PROBE_RCODE, "rcode RCODE15" },
	};
	struct rg_probe_query q;
	char detail[128];
	size_t i;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, ".",
	    LDNS_RR_TYPE_SOA, NULL), 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(judge_with(&q, reply_new(&q, t[i].rcode),
		    detail, sizeof(detail)), t[i].err);
		assert_string_equal(detail, t[i].detail);
	}
	rg_probe_clear(&q);
}

static void
test_judge_tc(void **state)
{
	struct rg_probe_query q;
	char detail[64];
	ldns_pkt *p;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_BASIC, ".",
	    LDNS_RR_TYPE_SOA, NULL), 0);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	ldns_pkt_set_tc(p, 1);
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_TRUNCATED);
	assert_string_equal(detail, "TC bit set");
	rg_probe_clear(&q);
}

static char *v4_answers[] = { "192.0.2.1", "192.0.2.2" };
static char *v6_answers[] = { "2001:0db8:0:0::1" };
static char *mx_answers[] = { "10 MAIL.lab.test" };

static void
test_judge_expect(void **state)
{
	struct rg_conf_checks c = { .expect_answers = v4_answers,
	    .n_expect_answers = 2 };
	struct rg_probe_query q;
	char detail[256];
	ldns_pkt *p;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_EXPECT, "www.lab.test",
	    LDNS_RR_TYPE_A, &c), 0);

	/* Right. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN A 192.0.2.2");
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_OK);

	/* Right, through a CNAME whose record is not judged. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER,
	    "www.lab.test. IN CNAME web.lab.test.");
	reply_add(p, LDNS_SECTION_ANSWER, "web.lab.test. IN A 192.0.2.1");
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_OK);

	/* Wrong. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN A 192.0.2.9");
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_WRONG_ANSWER);
	assert_string_equal(detail,
	    "got 192.0.2.9, expected 192.0.2.1 or 192.0.2.2");

	/* Mixed: one accepted, one not. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN A 192.0.2.1");
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN A 198.51.100.7");
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_WRONG_ANSWER);
	assert_contains(detail, "got 192.0.2.1 198.51.100.7, expected");

	/* No answer. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_WRONG_ANSWER);
	assert_contains(detail, "got no answer, expected 192.0.2.1");

	/* An rcode instead of an answer. */
	p = reply_new(&q, LDNS_RCODE_NXDOMAIN);
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_WRONG_ANSWER);
	assert_contains(detail, "got rcode NXDOMAIN, expected 192.0.2.1");

	/* A small detail buffer is cut, not overrun. */
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN A 192.0.2.9");
	assert_int_equal(judge_with(&q, p, detail, 8), RG_PROBE_WRONG_ANSWER);
	assert_string_equal(detail, "got 192");
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN A 192.0.2.9");
	assert_int_equal(judge_with(&q, p, NULL, 0), RG_PROBE_WRONG_ANSWER);
	rg_probe_clear(&q);
}

static void
test_judge_expect_forms(void **state)
{
	struct rg_conf_checks c6 = { .expect_answers = v6_answers,
	    .n_expect_answers = 1 };
	struct rg_conf_checks cmx = { .expect_answers = mx_answers,
	    .n_expect_answers = 1 };
	struct rg_probe_query q;
	char detail[256];
	ldns_pkt *p;

	/* AAAA compared as addresses, not as text. */
	assert_int_equal(rg_probe_build(&q, RG_PROBE_EXPECT, "www.lab.test",
	    LDNS_RR_TYPE_AAAA, &c6), 0);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN AAAA 2001:db8::1");
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_OK);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN AAAA 2001:db8::2");
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_WRONG_ANSWER);
	assert_string_equal(detail,
	    "got 2001:db8::2, expected 2001:0db8:0:0::1");
	rg_probe_clear(&q);

	/* Other types as presentation text, case-insensitively. */
	assert_int_equal(rg_probe_build(&q, RG_PROBE_EXPECT, "lab.test",
	    LDNS_RR_TYPE_MX, &cmx), 0);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "lab.test. IN MX 10 mail.LAB.test.");
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_OK);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "lab.test. IN MX 20 mail.lab.test.");
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_WRONG_ANSWER);
	assert_string_equal(detail,
	    "got 20 mail.lab.test., expected 10 MAIL.lab.test");
	rg_probe_clear(&q);
}

static void
test_judge_nxdomain(void **state)
{
	struct rg_probe_query q;
	char detail[256], rr[300];
	ldns_pkt *p;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_NXDOMAIN, "lab.test",
	    LDNS_RR_TYPE_A, NULL), 0);
	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_NXDOMAIN),
	    detail, sizeof(detail)), RG_PROBE_OK);

	p = reply_new(&q, LDNS_RCODE_NOERROR);
	snprintf(rr, sizeof(rr), "%s IN A 198.51.100.80", q.qname);
	reply_add(p, LDNS_SECTION_ANSWER, rr);
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_NXDOMAIN_REWRITE);
	assert_contains(detail, q.qname);
	assert_contains(detail, "answered A 198.51.100.80");

	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_NOERROR),
	    detail, sizeof(detail)), RG_PROBE_NXDOMAIN_REWRITE);
	assert_contains(detail, "NOERROR without answer");
	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_SERVFAIL),
	    detail, sizeof(detail)), RG_PROBE_SERVFAIL);
	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_REFUSED),
	    detail, sizeof(detail)), RG_PROBE_REFUSED);
	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_FORMERR),
	    detail, sizeof(detail)), RG_PROBE_RCODE);
	rg_probe_clear(&q);
}

/*
 * SVCB and HTTPS parameters longer than the first text buffer: ldns wrote
 * them past its end and aborted (found by tests/fuzz/fuzz_probe.c).
 */
#define LONG_HTTPS "1 . alpn=h2,h3,h3-29,h3-28,h3-27,http/1.1 " \
	"ipv4hint=192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4 " \
	"ipv6hint=2001:db8::1,2001:db8::2"
static char *https_answers[] = { LONG_HTTPS };

static void
test_judge_svcb(void **state)
{
	struct rg_conf_checks c = { .expect_answers = https_answers,
	    .n_expect_answers = 1 };
	struct rg_probe_query q;
	char detail[512], rr[600];
	ldns_pkt *p;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_NXDOMAIN, "lab.test",
	    LDNS_RR_TYPE_A, NULL), 0);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	snprintf(rr, sizeof(rr), "%s IN HTTPS %s", q.qname, LONG_HTTPS);
	reply_add(p, LDNS_SECTION_ANSWER, rr);
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_NXDOMAIN_REWRITE);
	assert_contains(detail, "answered HTTPS 1 . alpn=h2,h3,h3-29");
	assert_contains(detail, "ipv6hint=2001:db8::1,2001:db8::2");
	rg_probe_clear(&q);

	assert_int_equal(rg_probe_build(&q, RG_PROBE_EXPECT, "www.lab.test",
	    LDNS_RR_TYPE_HTTPS, &c), 0);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN HTTPS "
	    LONG_HTTPS);
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_OK);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	reply_add(p, LDNS_SECTION_ANSWER, "www.lab.test. IN HTTPS 1 . "
	    "mandatory=alpn,port,ipv4hint,ipv6hint,key65000,key65001,key65002 "
	    "alpn=h2 port=443 ipv4hint=192.0.2.1 ipv6hint=2001:db8::1 "
	    "key65000=\"a b\" key65001=x key65002=y");
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_WRONG_ANSWER);
	assert_contains(detail, "got 1 . mandatory=alpn,port,ipv4hint");
	rg_probe_clear(&q);
}

static void
test_judge_dnssec(void **state)
{
	struct rg_probe_query q;
	char detail[256];
	ldns_pkt *p;

	assert_int_equal(rg_probe_build(&q, RG_PROBE_DNSSEC_SIGNED,
	    "signed.lab.test", LDNS_RR_TYPE_A, NULL), 0);
	p = reply_new(&q, LDNS_RCODE_NOERROR);
	ldns_pkt_set_ad(p, 1);
	assert_int_equal(judge_with(&q, p, detail, sizeof(detail)),
	    RG_PROBE_OK);
	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_NOERROR),
	    detail, sizeof(detail)), RG_PROBE_DNSSEC_NO_AD);
	assert_string_equal(detail, "signed.lab.test.: NOERROR without AD");
	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_SERVFAIL),
	    detail, sizeof(detail)), RG_PROBE_SERVFAIL);
	rg_probe_clear(&q);

	assert_int_equal(rg_probe_build(&q, RG_PROBE_DNSSEC_BOGUS,
	    "bogus.lab.test", LDNS_RR_TYPE_A, NULL), 0);
	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_SERVFAIL),
	    detail, sizeof(detail)), RG_PROBE_OK);
	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_NOERROR),
	    detail, sizeof(detail)), RG_PROBE_DNSSEC_BOGUS_ACCEPTED);
	assert_string_equal(detail,
	    "bogus.lab.test.: NOERROR instead of SERVFAIL");
	assert_int_equal(judge_with(&q, reply_new(&q, LDNS_RCODE_REFUSED),
	    detail, sizeof(detail)), RG_PROBE_REFUSED);
	rg_probe_clear(&q);
}

static void
test_tables(void **state)
{
	int i, j;

	assert_string_equal(rg_probe_err_str(RG_PROBE_OK), "ok");
	assert_string_equal(rg_probe_err_str(RG_PROBE_TIMEOUT), "timeout");
	assert_string_equal(rg_probe_err_str(RG_PROBE_CANCELLED), "cancelled");
	assert_string_equal(rg_probe_err_str(RG_PROBE_ERR_COUNT),
	    "unknown error");
	for (i = 0; i < RG_PROBE_ERR_COUNT; i++)
		for (j = i + 1; j < RG_PROBE_ERR_COUNT; j++)
			assert_string_not_equal(rg_probe_err_str(i),
			    rg_probe_err_str(j));
	assert_string_equal(rg_probe_kind_str[RG_PROBE_BASIC], "basic");
	assert_string_equal(rg_probe_kind_str[RG_PROBE_EXPECT], "expect");
	assert_string_equal(rg_probe_kind_str[RG_PROBE_NXDOMAIN], "nxdomain");
	assert_string_equal(rg_probe_kind_str[RG_PROBE_DNSSEC_SIGNED],
	    "dnssec-signed");
	assert_string_equal(rg_probe_kind_str[RG_PROBE_DNSSEC_BOGUS],
	    "dnssec-bogus");

	for (i = 0; i < RG_PROBE_ERR_COUNT; i++) {
		int want = i == RG_PROBE_WRONG_ANSWER ||
		    i == RG_PROBE_NXDOMAIN_REWRITE ||
		    i == RG_PROBE_DNSSEC_NO_AD ||
		    i == RG_PROBE_DNSSEC_BOGUS_ACCEPTED || i == RG_PROBE_SLOW;

		assert_int_equal(rg_probe_err_is_quality(i), want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_basic),
		cmocka_unit_test(test_build_dnssec),
		cmocka_unit_test(test_build_nxdomain),
		cmocka_unit_test(test_build_bad),
		cmocka_unit_test(test_build_random_id),
		cmocka_unit_test(test_match_good),
		cmocka_unit_test(test_match_case),
		cmocka_unit_test(test_match_garbage),
		cmocka_unit_test(test_match_foreign),
		cmocka_unit_test(test_judge_rcodes),
		cmocka_unit_test(test_judge_tc),
		cmocka_unit_test(test_judge_expect),
		cmocka_unit_test(test_judge_expect_forms),
		cmocka_unit_test(test_judge_nxdomain),
		cmocka_unit_test(test_judge_svcb),
		cmocka_unit_test(test_judge_dnssec),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * probe.c -- health-check queries, built, matched and judged with ldns.
 *
 * A probe is an ordinary recursive query (RD set, EDNS(0) with a 1232-byte
 * UDP size, DO for the DNSSEC checks) with a random ID; the NXDOMAIN check
 * asks for a random label that cannot exist.  Matching a reply is strict
 * (response bit, ID, the one question, class IN) because anything else on
 * the wire is ignored rather than believed.  Judging turns a matched reply
 * into one rg_probe_err and a short text saying what was wrong.  Nothing
 * here does I/O.
 */
#include <sys/types.h>
#include <sys/random.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "log.h"
#include "probe.h"

#define PROBE_EDNS_SIZE	1232

static const char *const probe_err_str[] = {
#define X(n, s) s,
	RG_PROBE_ERRORS(X)
#undef X
};

const char *const rg_probe_kind_str[] = {
	"basic",
	"expect",
	"nxdomain",
	"dnssec-signed",
	"dnssec-bogus",
};

const char *
rg_probe_err_str(enum rg_probe_err err)
{
	if ((unsigned)err >= RG_PROBE_ERR_COUNT)
		return "unknown error";
	return probe_err_str[err];
}

int
rg_probe_err_is_quality(enum rg_probe_err err)
{
	switch (err) {
	case RG_PROBE_WRONG_ANSWER:
	case RG_PROBE_NXDOMAIN_REWRITE:
	case RG_PROBE_DNSSEC_NO_AD:
	case RG_PROBE_DNSSEC_BOGUS_ACCEPTED:
	case RG_PROBE_SLOW:
		return 1;
	case RG_PROBE_OK:
	case RG_PROBE_TIMEOUT:
	case RG_PROBE_NETWORK:
	case RG_PROBE_TLS_HANDSHAKE:
	case RG_PROBE_TLS_VERIFY:
	case RG_PROBE_TLS_PIN:
	case RG_PROBE_MALFORMED:
	case RG_PROBE_TRUNCATED:
	case RG_PROBE_SERVFAIL:
	case RG_PROBE_REFUSED:
	case RG_PROBE_RCODE:
	case RG_PROBE_CANCELLED:
	case RG_PROBE_ERR_COUNT:
		break;
	}
	return 0;
}

void
rg_random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Predictable IDs and labels would invite spoofing. */
			rg_log_warn("probe: getrandom");
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
}

int
rg_probe_build(struct rg_probe_query *q, enum rg_probe_kind kind,
    const char *name, uint16_t type, const struct rg_conf_checks *checks)
{
	char buf[512], *str = NULL;
	uint8_t rnd[5];
	ldns_rdf *dname = NULL;
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;
	size_t wire_len = 0;
	int rc = -EINVAL;

	memset(q, 0, sizeof(*q));
	if (name == NULL || *name == '\0' ||
	    (unsigned)kind >= RG_PROBE_KIND_COUNT)
		goto out;
	if (kind == RG_PROBE_NXDOMAIN) {
		rg_random_bytes(rnd, sizeof(rnd));
		if ((size_t)snprintf(buf, sizeof(buf),
		    "rg-%02x%02x%02x%02x%02x%s%s", rnd[0], rnd[1], rnd[2],
		    rnd[3], rnd[4], strcmp(name, ".") == 0 ? "" : ".",
		    name) >= sizeof(buf))
			goto out;
	} else if ((size_t)snprintf(buf, sizeof(buf), "%s", name) >=
	    sizeof(buf))
		goto out;

	if (ldns_str2rdf_dname(&dname, buf) != LDNS_STATUS_OK)
		goto out;
	if ((str = ldns_rdf2str(dname)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (strlen(str) >= sizeof(q->qname))
		goto out;

	rc = -ENOMEM;
	pkt = ldns_pkt_query_new(dname, (ldns_rr_type)type, LDNS_RR_CLASS_IN,
	    LDNS_RD);
	if (pkt == NULL)
		goto out;
	dname = NULL;		/* owned by the packet now */
	rg_random_bytes(&q->id, sizeof(q->id));
	ldns_pkt_set_id(pkt, q->id);
	ldns_pkt_set_edns_udp_size(pkt, PROBE_EDNS_SIZE);
	if (kind == RG_PROBE_DNSSEC_SIGNED || kind == RG_PROBE_DNSSEC_BOGUS) {
		ldns_pkt_set_edns_do(pkt, 1);
		ldns_pkt_set_cd(pkt, 0);
	}
	if (ldns_pkt2wire(&wire, pkt, &wire_len) != LDNS_STATUS_OK)
		goto out;

	q->kind = kind;
	q->qtype = type;
	memcpy(q->qname, str, strlen(str) + 1);
	q->wire = wire;
	q->wire_len = wire_len;
	q->checks = checks;
	wire = NULL;
	rc = 0;
out:
	free(wire);
	ldns_pkt_free(pkt);
	ldns_rdf_deep_free(dname);
	free(str);
	return rc;
}

void
rg_probe_clear(struct rg_probe_query *q)
{
	free(q->wire);
	q->wire = NULL;
	q->wire_len = 0;
}

/* The reply parsed, or NULL when it is not a reply to Q. */
static ldns_pkt *
probe_parse_match(const struct rg_probe_query *q, const uint8_t *pkt,
    size_t len)
{
	ldns_pkt *p = NULL;
	ldns_rdf *want = NULL;
	ldns_rr *qrr;
	int ok = 0;

	if (pkt == NULL || len < LDNS_HEADER_SIZE)
		goto out;
	if (ldns_wire2pkt(&p, pkt, len) != LDNS_STATUS_OK)
		goto out;
	if (!ldns_pkt_qr(p) || ldns_pkt_id(p) != q->id ||
	    ldns_pkt_qdcount(p) != 1 ||
	    ldns_rr_list_rr_count(ldns_pkt_question(p)) != 1)
		goto out;
	qrr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	if (ldns_rr_get_type(qrr) != q->qtype ||
	    ldns_rr_get_class(qrr) != LDNS_RR_CLASS_IN)
		goto out;
	if (ldns_str2rdf_dname(&want, q->qname) != LDNS_STATUS_OK)
		goto out;
	/* ldns_dname_compare() folds case, so 0x20 mixing still matches. */
	if (ldns_dname_compare(ldns_rr_owner(qrr), want) != 0)
		goto out;
	ok = 1;
out:
	ldns_rdf_deep_free(want);
	if (!ok) {
		ldns_pkt_free(p);
		p = NULL;
	}
	return p;
}

int
rg_probe_match(const struct rg_probe_query *q, const uint8_t *pkt,
    size_t len)
{
	ldns_pkt *p;

	if ((p = probe_parse_match(q, pkt, len)) == NULL)
		return 0;
	ldns_pkt_free(p);
	return 1;
}

/* Append to a detail buffer, truncating quietly. */
static void detail_add(char *d, size_t dlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
detail_add(char *d, size_t dlen, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (d == NULL || dlen == 0)
		return;
	used = strnlen(d, dlen);
	if (used >= dlen - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(d + used, dlen - used, fmt, ap);
	va_end(ap);
}

static const char *
rcode_name(ldns_pkt_rcode rc, char *buf, size_t len)
{
	ldns_lookup_table *lt;

	if ((lt = ldns_lookup_by_id(ldns_rcodes, (int)rc)) != NULL)
		return lt->name;
	snprintf(buf, len, "RCODE%d", (int)rc);
	return buf;
}

/* The rdata of RR in presentation form, fields separated by one space. */
static char *
rr_rdata_str(const ldns_rr *rr)
{
	const ldns_rdf *rd;
	ldns_buffer *b;
	char *s = NULL;
	size_t i;

	if ((b = ldns_buffer_new(64)) == NULL)
		return NULL;
	for (i = 0; i < ldns_rr_rd_count(rr); i++) {
		if (i > 0)
			ldns_buffer_printf(b, " ");
		if ((rd = ldns_rr_rdf(rr, i)) == NULL)
			goto out;
		/* ldns writes some fields (SVCB and HTTPS parameters) a byte
		 * at a time without growing the buffer, and aborts when it
		 * is full: make room for the longest text a field of this
		 * size can become. */
		if (!ldns_buffer_reserve(b, 16 * ldns_rdf_size(rd) + 64))
			goto out;
		if (ldns_rdf2buffer_str(b, rd) != LDNS_STATUS_OK)
			goto out;
	}
	s = ldns_buffer_export2str(b);
out:
	ldns_buffer_free(b);
	return s;
}

/*
 * Presentation forms equal up to case, runs of white space and a final
 * dot, so that "mail.example" in a configuration accepts "mail.example.".
 */
static int
text_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la > 0 && (isspace((unsigned char)a[la - 1]) ||
	    a[la - 1] == '.'))
		la--;
	while (lb > 0 && (isspace((unsigned char)b[lb - 1]) ||
	    b[lb - 1] == '.'))
		lb--;
	while (la > 0 && isspace((unsigned char)*a)) {
		a++;
		la--;
	}
	while (lb > 0 && isspace((unsigned char)*b)) {
		b++;
		lb--;
	}
	while (la > 0 && lb > 0) {
		if (isspace((unsigned char)*a) && isspace((unsigned char)*b)) {
			while (la > 0 && isspace((unsigned char)*a)) {
				a++;
				la--;
			}
			while (lb > 0 && isspace((unsigned char)*b)) {
				b++;
				lb--;
			}
			continue;
		}
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
		a++, la--;
		b++, lb--;
	}
	return la == 0 && lb == 0;
}

/* 1 when RR (of the question type) carries one of the accepted answers. */
static int
rr_accepted(const ldns_rr *rr, const char *text,
    const struct rg_conf_checks *c)
{
	uint8_t addr[16];
	const ldns_rdf *rd;
	size_t i;
	int af = 0, alen = 0;

	if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A) {
		af = AF_INET;
		alen = 4;
	} else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA) {
		af = AF_INET6;
		alen = 16;
	}
	for (i = 0; i < c->n_expect_answers; i++) {
		if (af != 0) {
			rd = ldns_rr_rdf(rr, 0);
			if (rd != NULL && ldns_rdf_size(rd) == (size_t)alen &&
			    inet_pton(af, c->expect_answers[i], addr) == 1 &&
			    memcmp(addr, ldns_rdf_data(rd), alen) == 0)
				return 1;
		} else if (text != NULL &&
		    text_equal(text, c->expect_answers[i]))
			return 1;
	}
	return 0;
}

static enum rg_probe_err
judge_expect(const struct rg_probe_query *q, ldns_pkt *p, char *detail,
    size_t dlen)
{
	const struct rg_conf_checks *c = q->checks;
	ldns_rr_list *an = ldns_pkt_answer(p);
	ldns_pkt_rcode rcode = ldns_pkt_get_rcode(p);
	size_t i, n_ok = 0, n_bad = 0, n_type = 0;
	char rbuf[16], *text;
	ldns_rr *rr;

	if (rcode == LDNS_RCODE_NOERROR) {
		for (i = 0; i < ldns_rr_list_rr_count(an); i++) {
			rr = ldns_rr_list_rr(an, i);
			if (ldns_rr_get_type(rr) != q->qtype)
				continue;
			text = rr_rdata_str(rr);
			if (c != NULL && rr_accepted(rr, text, c))
				n_ok++;
			else
				n_bad++;
			detail_add(detail, dlen, "%s%s",
			    n_type++ ? " " : "got ", text != NULL ? text : "?");
			free(text);
		}
		if (n_ok > 0 && n_bad == 0)
			return RG_PROBE_OK;
		if (n_type == 0)
			detail_add(detail, dlen, "got no answer");
	} else
		detail_add(detail, dlen, "got rcode %s",
		    rcode_name(rcode, rbuf, sizeof(rbuf)));
	for (i = 0; c != NULL && i < c->n_expect_answers; i++)
		detail_add(detail, dlen, "%s%s", i ? " or " : ", expected ",
		    c->expect_answers[i]);
	if (c == NULL || c->n_expect_answers == 0)
		detail_add(detail, dlen, ", expected nothing configured");
	return RG_PROBE_WRONG_ANSWER;
}

/* Rcodes other than the one a check wants, as the basic probe sees them. */
static enum rg_probe_err
judge_rcode(ldns_pkt_rcode rcode, char *detail, size_t dlen)
{
	char rbuf[16];

	detail_add(detail, dlen, "rcode %s",
	    rcode_name(rcode, rbuf, sizeof(rbuf)));
	if (rcode == LDNS_RCODE_SERVFAIL)
		return RG_PROBE_SERVFAIL;
	if (rcode == LDNS_RCODE_REFUSED)
		return RG_PROBE_REFUSED;
	return RG_PROBE_RCODE;
}

enum rg_probe_err
rg_probe_judge(const struct rg_probe_query *q, const uint8_t *pkt, size_t len,
    char *detail, size_t detail_len)
{
	enum rg_probe_err err = RG_PROBE_MALFORMED;
	ldns_pkt_rcode rcode;
	ldns_pkt *p = NULL;
	ldns_rr_list *an;
	ldns_rr *rr;
	char *text, *tname;

	if (detail != NULL && detail_len > 0)
		detail[0] = '\0';
	if ((p = probe_parse_match(q, pkt, len)) == NULL) {
		detail_add(detail, detail_len, "not a reply to the query");
		goto out;
	}
	if (ldns_pkt_tc(p)) {
		detail_add(detail, detail_len, "TC bit set");
		err = RG_PROBE_TRUNCATED;
		goto out;
	}
	rcode = ldns_pkt_get_rcode(p);
	an = ldns_pkt_answer(p);

	switch (q->kind) {
	case RG_PROBE_BASIC:
		if (rcode == LDNS_RCODE_NOERROR || rcode == LDNS_RCODE_NXDOMAIN)
			err = RG_PROBE_OK;
		else
			err = judge_rcode(rcode, detail, detail_len);
		break;
	case RG_PROBE_EXPECT:
		err = judge_expect(q, p, detail, detail_len);
		break;
	case RG_PROBE_NXDOMAIN:
		if (rcode == LDNS_RCODE_NXDOMAIN)
			err = RG_PROBE_OK;
		else if (rcode == LDNS_RCODE_NOERROR) {
			err = RG_PROBE_NXDOMAIN_REWRITE;
			if (ldns_rr_list_rr_count(an) == 0) {
				detail_add(detail, detail_len,
				    "%s: NOERROR without answer", q->qname);
				break;
			}
			rr = ldns_rr_list_rr(an, 0);
			text = rr_rdata_str(rr);
			tname = ldns_rr_type2str(ldns_rr_get_type(rr));
			detail_add(detail, detail_len, "%s answered %s %s",
			    q->qname, tname != NULL ? tname : "?",
			    text != NULL ? text : "?");
			free(tname);
			free(text);
		} else
			err = judge_rcode(rcode, detail, detail_len);
		break;
	case RG_PROBE_DNSSEC_SIGNED:
		if (rcode != LDNS_RCODE_NOERROR)
			err = judge_rcode(rcode, detail, detail_len);
		else if (ldns_pkt_ad(p))
			err = RG_PROBE_OK;
		else {
			detail_add(detail, detail_len, "%s: NOERROR without AD",
			    q->qname);
			err = RG_PROBE_DNSSEC_NO_AD;
		}
		break;
	case RG_PROBE_DNSSEC_BOGUS:
		if (rcode == LDNS_RCODE_SERVFAIL)
			err = RG_PROBE_OK;
		else if (rcode == LDNS_RCODE_NOERROR) {
			detail_add(detail, detail_len,
			    "%s: NOERROR instead of SERVFAIL", q->qname);
			err = RG_PROBE_DNSSEC_BOGUS_ACCEPTED;
		} else
			err = judge_rcode(rcode, detail, detail_len);
		break;
	case RG_PROBE_KIND_COUNT:
		break;
	}
out:
	ldns_pkt_free(p);
	return err;
}

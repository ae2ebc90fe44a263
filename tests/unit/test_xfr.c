/*
 * test_xfr.c -- unit tests of zone transfers and NOTIFY: rg_xfr() against a
 * scripted primary on loopback (a thread that answers each query with the
 * messages a test lists), and rg_notify_check() on messages built here.
 *
 * The scripted primary signs its replies with TSIG the way RFC 8945 5.3.1
 * describes: the first message by ldns with the query's MAC, the later
 * ones with an HMAC computed here over the prior MAC, the unsigned messages
 * since and the timers, so that messages left unsigned in between are
 * checked against a digest computed apart from the code under test.
 *
 * A message of a script is a string of lines: records in presentation form
 * with absolute names, or directives: "!rcode N", "!unsigned" (no TSIG on
 * this message), "!badmac" (a MAC with one bit flipped), "!id" (a wrong
 * ID), "!hang" (send nothing, keep the connection open).
 *
 * Ports: RG_TEST_PORT_BASE (16300) + 4150 and 4151.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <ldns/ldns.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "xfr.h"

#define assert_contains(hay, needle) do {				\
	if (strstr((hay), (needle)) == NULL)				\
		fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
} while (0)

#define KEY_NAME	"xfr-key.test."
#define SOA(n)		"rpz.test. 300 IN SOA ns.rpz.test. host.rpz.test. " \
			#n " 3600 600 86400 300\n"
#define NS		"rpz.test. 300 IN NS ns.example.\n"
#define R(l)		l ".rpz.test. 300 IN CNAME .\n"

/* The scripted primary. */
struct srv {
	int lfd;
	pthread_t th;
	const char *const *soa, *const *ixfr, *const *axfr;
	int sign;
	atomic_int n_soa, n_ixfr, n_axfr;
	atomic_int bad_query;		/* a query whose TSIG did not verify */
	atomic_int stop;
};

static uint8_t key_raw[32];
static char key_b64[64];
static char primary[64], closed_port[64];
static uint16_t port_base;

static void
key_make(void)
{
	size_t i;

	for (i = 0; i < sizeof(key_raw); i++)
		key_raw[i] = (uint8_t)(rand() & 0xff);
	EVP_EncodeBlock((unsigned char *)key_b64, key_raw, sizeof(key_raw));
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
read_all(int fd, uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = recv(fd, p, len, 0)) <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
buf_add(uint8_t **b, size_t *len, const void *p, size_t n)
{
	*b = realloc(*b, *len + n);
	assert_non_null(*b);
	memcpy(*b + *len, p, n);
	*len += n;
}

/*
 * Sign P after the first message: HMAC-SHA256 over PRIOR (the prior MAC
 * with its length, then the unsigned messages since), P without TSIG, and
 * the timers (RFC 8945 5.3.1).
 */
static void
sign_timers(ldns_pkt *p, const uint8_t *prior, size_t prior_len)
{
	uint8_t *wire = NULL, *data = NULL, t[8], mac[EVP_MAX_MD_SIZE + 2];
	size_t len = 0, dlen = 0;
	unsigned int mlen = EVP_MAX_MD_SIZE;
	uint64_t now = (uint64_t)time(NULL);
	uint8_t *tb;
	ldns_rr *rr;

	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	ldns_write_uint16(t, (uint16_t)(now >> 32));
	ldns_write_uint32(t + 2, (uint32_t)now);
	ldns_write_uint16(t + 6, 300);
	buf_add(&data, &dlen, prior, prior_len);
	buf_add(&data, &dlen, wire, len);
	buf_add(&data, &dlen, t, 8);
	assert_non_null(HMAC(EVP_sha256(), key_raw, sizeof(key_raw), data, dlen,
	    mac + 2, &mlen));
	ldns_write_uint16(mac, (uint16_t)mlen);

	rr = ldns_rr_new();
	ldns_rr_set_owner(rr, ldns_dname_new_frm_str(KEY_NAME));
	ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TSIG);
	ldns_rr_set_ttl(rr, 0);
	ldns_rr_push_rdf(rr, ldns_dname_new_frm_str("hmac-sha256."));
	tb = malloc(6);
	memcpy(tb, t, 6);
	ldns_rr_push_rdf(rr, ldns_rdf_new(LDNS_RDF_TYPE_TSIGTIME, 6, tb));
	ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 300));
	ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA,
	    mlen + 2, mac));
	ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16,
	    ldns_pkt_id(p)));
	ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0));
	ldns_rr_push_rdf(rr, ldns_native2rdf_int16_data(0, t));
	ldns_pkt_set_tsig(p, rr);
	free(wire);
	free(data);
}

/* Answer query Q on FD with the messages of SCRIPT. */
static void
srv_answer(struct srv *s, int fd, ldns_pkt *q, const uint8_t *qwire,
    size_t qlen, const char *const *script)
{
	const ldns_rr *qtsig = ldns_pkt_tsig(q);
	uint8_t *prior = NULL, *wire, l2[2];
	size_t prior_len = 0, len;
	const char *line, *end;
	char buf[512];
	ldns_pkt *p;
	ldns_rr *rr;
	int first = 1, nosig, badmac, hang, gone, i;

	if (s->sign) {
		if (qtsig == NULL || !ldns_pkt_tsig_verify(q, qwire, qlen,
		    KEY_NAME, key_b64, NULL))
			s->bad_query++;
		if (qtsig != NULL)
			buf_add(&prior, &prior_len,
			    ldns_rdf_data(ldns_rr_rdf(qtsig, 3)),
			    ldns_rdf_size(ldns_rr_rdf(qtsig, 3)));
	}
	for (i = 0; script != NULL && script[i] != NULL; i++) {
		p = ldns_pkt_new();
		ldns_pkt_set_id(p, ldns_pkt_id(q));
		ldns_pkt_set_qr(p, true);
		ldns_pkt_set_aa(p, true);
		ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, ldns_rr_clone(
		    ldns_rr_list_rr(ldns_pkt_question(q), 0)));
		nosig = badmac = hang = 0;
		for (line = script[i]; *line != '\0'; line = end) {
			end = strchr(line, '\n');
			end = end != NULL ? end + 1 : line + strlen(line);
			snprintf(buf, sizeof(buf), "%.*s", (int)(end - line),
			    line);
			buf[strcspn(buf, "\n")] = '\0';
			if (strncmp(buf, "!rcode ", 7) == 0)
				ldns_pkt_set_rcode(p, (uint8_t)atoi(buf + 7));
			else if (strcmp(buf, "!unsigned") == 0)
				nosig = 1;
			else if (strcmp(buf, "!badmac") == 0)
				badmac = 1;
			else if (strcmp(buf, "!id") == 0)
				ldns_pkt_set_id(p, ldns_pkt_id(q) + 1);
			else if (strcmp(buf, "!hang") == 0)
				hang = 1;
			else {
				rr = NULL;
				if (ldns_rr_new_frm_str(&rr, buf, 0, NULL,
				    NULL) != LDNS_STATUS_OK)
					fail_msg("bad record in script: %s",
					    buf);
				ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
			}
		}
		if (hang) {
			while (!s->stop)
				usleep(10000);
			ldns_pkt_free(p);
			break;
		}
		if (s->sign && !nosig) {
			if (first)
				assert_int_equal(ldns_pkt_tsig_sign(p, KEY_NAME,
				    key_b64, 300, "hmac-sha256.", qtsig != NULL ?
				    ldns_rr_rdf(qtsig, 3) : NULL),
				    LDNS_STATUS_OK);
			else
				sign_timers(p, prior, prior_len);
			if (badmac)
				ldns_rdf_data(ldns_rr_rdf(ldns_pkt_tsig(p),
				    3))[5] ^= 1;
			prior_len = 0;
			buf_add(&prior, &prior_len, ldns_rdf_data(ldns_rr_rdf(
			    ldns_pkt_tsig(p), 3)), ldns_rdf_size(ldns_rr_rdf(
			    ldns_pkt_tsig(p), 3)));
		}
		wire = NULL;
		assert_int_equal(ldns_pkt2wire(&wire, p, &len),
		    LDNS_STATUS_OK);
		if (s->sign && nosig)
			buf_add(&prior, &prior_len, wire, len);
		first = 0;
		ldns_write_uint16(l2, (uint16_t)len);
		gone = write_all(fd, l2, 2) < 0 ||
		    write_all(fd, wire, len) < 0;
		free(wire);
		ldns_pkt_free(p);
		if (gone)
			break;
	}
	free(prior);
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	struct pollfd pfd;
	uint8_t l2[2], q[65535];
	ldns_rr_type t;
	ldns_pkt *pkt;
	size_t len;
	int fd;

	while (!s->stop) {
		pfd.fd = s->lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((fd = accept(s->lfd, NULL, NULL)) < 0)
			continue;
		pkt = NULL;
		if (read_all(fd, l2, 2) == 0 &&
		    read_all(fd, q, len = ldns_read_uint16(l2)) == 0 &&
		    ldns_wire2pkt(&pkt, q, len) == LDNS_STATUS_OK &&
		    ldns_pkt_qdcount(pkt) == 1) {
				t = ldns_rr_get_type(ldns_rr_list_rr(
			    ldns_pkt_question(pkt), 0));
			if (t == LDNS_RR_TYPE_SOA) {
				s->n_soa++;
				srv_answer(s, fd, pkt, q, len, s->soa);
			} else if (t == LDNS_RR_TYPE_IXFR) {
				s->n_ixfr++;
				srv_answer(s, fd, pkt, q, len, s->ixfr);
			} else if (t == LDNS_RR_TYPE_AXFR) {
				s->n_axfr++;
				srv_answer(s, fd, pkt, q, len, s->axfr);
			}
		}
		ldns_pkt_free(pkt);
		close(fd);
	}
	return NULL;
}

static void
srv_start(struct srv *s, const char *const *soa, const char *const *ixfr,
    const char *const *axfr, int sign)
{
	struct sockaddr_in sin;
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->soa = soa;
	s->ixfr = ixfr;
	s->axfr = axfr;
	s->sign = sign;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)(port_base + 4150));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((s->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		fail_msg("bind 127.0.0.1@%u: %s", port_base + 4150,
		    strerror(errno));
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void
srv_stop(struct srv *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->lfd);
}

/* rg_xfr() against the script; OLD is the zone held, or NULL. */
static int
run(struct srv *s, const char *old, int sign, uint64_t max_bytes,
    struct rg_xfr_res *res)
{
	struct rg_xfr_req req;

	memset(&req, 0, sizeof(req));
	memset(res, 0, sizeof(*res));
	req.zone = "rpz.test.";
	req.primary = primary;
	req.timeout_ms = 5000;
	req.max_bytes = max_bytes;
	req.old_zone = old;
	req.old_len = old != NULL ? strlen(old) : 0;
	if (sign) {
		req.tsig_name = KEY_NAME;
		req.tsig_algorithm = "hmac-sha256";
		req.tsig_secret = key_b64;
	}
	(void)s;
	return rg_xfr(&req, res);
}

/* The zone text parses back with ldns: its SOA first, COUNT records. */
static void
check_zone_text(const struct rg_xfr_res *res, uint64_t count)
{
	ldns_zone *z = NULL;
	ldns_rdf *origin = ldns_dname_new_frm_str("rpz.test.");
	FILE *fp;
	int line = 0;

	assert_non_null(res->zone);
	assert_int_equal(strlen(res->zone), res->len);
	assert_int_equal(res->records, count);
	assert_true(strncmp(res->zone, "rpz.test.\t", 10) == 0);
	assert_non_null(strstr(res->zone, "\tSOA\t"));
	fp = fmemopen(res->zone, res->len, "r");
	assert_non_null(fp);
	assert_int_equal(ldns_zone_new_frm_fp_l(&z, fp, origin, 3600,
	    LDNS_RR_CLASS_IN, &line), LDNS_STATUS_OK);
	assert_non_null(ldns_zone_soa(z));
	assert_int_equal(ldns_rr_list_rr_count(ldns_zone_rrs(z)) + 1, count);
	fclose(fp);
	ldns_zone_deep_free(z);
	ldns_rdf_deep_free(origin);
}

/* -- the scripts ---------------------------------------------------------- */

static const char *const soa1[] = { SOA(1), NULL };
static const char *const soa3[] = { SOA(3), NULL };

static const char *const axfr1[] = {
	SOA(1) NS R("a") R("b"),
	R("c") R("*.c") SOA(1),
	NULL
};
/* Version 3 of the zone whole, as AXFR. */
static const char *const axfr3[] = {
	SOA(3) NS R("b") "c.rpz.test. 600 IN CNAME .\n" R("*.c") R("d"),
	R("e") "f.rpz.test. 300 IN A 192.0.2.1\n" SOA(3),
	NULL
};
/*
 * From 1 to 3 in two versions, over three messages; C.RPZ.TEST. deletes
 * c.rpz.test. (apart from the names that follow: ldns compresses names
 * regardless of case).
 */
static const char *const ixfr1to3[] = {
	SOA(3) SOA(1) R("a") SOA(2) R("d"),
	SOA(2) "C.RPZ.TEST. 300 IN CNAME .\n" SOA(3),
	"c.rpz.test. 600 IN CNAME .\n" R("e")
	    "f.rpz.test. 300 IN A 192.0.2.1\n" SOA(3),
	NULL
};

static const char old1[] =
    "; the zone held, version 1\n"
    "$ORIGIN rpz.test.\n"
    "$TTL 300\n"
    "@ SOA ns host 1 3600 600 86400 300\n"
    "@ NS ns.example.\n"
    "a CNAME .\n"
    "b CNAME .\n"
    "c CNAME .\n"
    "*.c CNAME .\n";

/* -- transfers ------------------------------------------------------------ */

static void
test_axfr(void **state)
{
	struct rg_xfr_res res;
	struct srv s;

	(void)state;
	srv_start(&s, soa1, NULL, axfr1, 0);
	assert_int_equal(run(&s, NULL, 0, 0, &res), RG_XFR_NEW);
	srv_stop(&s);
	assert_int_equal(res.serial, 1);
	assert_int_equal(res.incremental, 0);
	check_zone_text(&res, 6);
	assert_int_equal(s.n_soa, 0);
	assert_int_equal(s.n_axfr, 1);
	assert_contains(res.zone, "*.c.rpz.test.\t300\tIN\tCNAME\t.\n");
	rg_xfr_res_clear(&res);
}

static void
test_up_to_date(void **state)
{
	struct rg_xfr_res res;
	struct srv s;

	(void)state;
	srv_start(&s, soa1, ixfr1to3, axfr3, 0);
	assert_int_equal(run(&s, old1, 0, 0, &res), RG_XFR_UP_TO_DATE);
	srv_stop(&s);
	assert_int_equal(res.serial, 1);
	assert_null(res.zone);
	assert_int_equal(s.n_soa, 1);
	assert_int_equal(s.n_ixfr + s.n_axfr, 0);
}

/* IXFR through two versions reads the same as the AXFR of the last. */
static void
test_ixfr(void **state)
{
	struct rg_xfr_res res, whole;
	struct srv s;

	(void)state;
	srv_start(&s, soa3, ixfr1to3, axfr3, 0);
	assert_int_equal(run(&s, old1, 0, 0, &res), RG_XFR_NEW);
	assert_int_equal(run(&s, NULL, 0, 0, &whole), RG_XFR_NEW);
	srv_stop(&s);
	assert_int_equal(s.n_ixfr, 1);
	assert_int_equal(s.n_axfr, 1);
	assert_int_equal(res.incremental, 1);
	assert_int_equal(whole.incremental, 0);
	assert_int_equal(res.serial, 3);
	check_zone_text(&res, 8);
	assert_string_equal(res.zone, whole.zone);
	/* C.RPZ.TEST. deleted c.rpz.test.; its TTL came with the new one. */
	assert_contains(res.zone, "c.rpz.test.\t600\tIN\tCNAME\t.\n");
	assert_null(strstr(res.zone, "\na.rpz.test."));
	rg_xfr_res_clear(&res);
	rg_xfr_res_clear(&whole);
}

static void
test_ixfr_fallbacks(void **state)
{
	static const char *const del_missing[] = {
		SOA(3) SOA(1) R("zzz") SOA(3) R("d") SOA(3), NULL
	};
	static const char *const refused[] = { "!rcode 5\n", NULL };
	static const char *const notimp[] = { "!rcode 4\n", NULL };
	static const char *const single_other[] = { SOA(2), NULL };
	static const char *const wrong_start[] = {
		SOA(3) SOA(2) SOA(3) R("d") SOA(3), NULL
	};
	static const char *const chain_gap[] = {
		SOA(3) SOA(1) SOA(2) SOA(5) SOA(3) SOA(3), NULL
	};
	const char *const *cases[] = {
		del_missing, refused, notimp, single_other, wrong_start,
		chain_gap
	};
	struct rg_xfr_res res, whole;
	struct srv s;
	size_t i;

	(void)state;
	srv_start(&s, soa3, NULL, axfr3, 0);
	assert_int_equal(run(&s, NULL, 0, 0, &whole), RG_XFR_NEW);
	srv_stop(&s);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		srv_start(&s, soa3, cases[i], axfr3, 0);
		assert_int_equal(run(&s, old1, 0, 0, &res), RG_XFR_NEW);
		srv_stop(&s);
		if (s.n_ixfr != 1 || s.n_axfr != 1)
			fail_msg("case %zu: %d IXFR, %d AXFR", i,
			    (int)s.n_ixfr, (int)s.n_axfr);
		assert_int_equal(res.incremental, 0);
		assert_string_equal(res.zone, whole.zone);
		rg_xfr_res_clear(&res);
	}
	rg_xfr_res_clear(&whole);
}

/* A deletion names a record whatever its TTL (RFC 1995). */
static void
test_ixfr_ttl(void **state)
{
	static const char *const del_b[] = {
		SOA(2) SOA(1) "b.rpz.test. 999 IN CNAME .\n" SOA(2) SOA(2),
		NULL
	};
	struct rg_xfr_res res;
	struct srv s;

	(void)state;
	srv_start(&s, soa3, del_b, NULL, 0);
	assert_int_equal(run(&s, old1, 0, 0, &res), RG_XFR_NEW);
	srv_stop(&s);
	assert_int_equal(s.n_axfr, 0);
	assert_int_equal(res.incremental, 1);
	assert_int_equal(res.serial, 2);
	check_zone_text(&res, 5);
	assert_null(strstr(res.zone, "\nb.rpz.test."));
	assert_contains(res.zone, "\nc.rpz.test.\t300\tIN\tCNAME\t.\n");
	rg_xfr_res_clear(&res);
}

/* An IXFR answered with a whole zone is taken as it is. */
static void
test_ixfr_whole(void **state)
{
	struct rg_xfr_res res;
	struct srv s;

	(void)state;
	srv_start(&s, soa3, axfr3, NULL, 0);
	assert_int_equal(run(&s, old1, 0, 0, &res), RG_XFR_NEW);
	srv_stop(&s);
	assert_int_equal(s.n_ixfr, 1);
	assert_int_equal(s.n_axfr, 0);
	assert_int_equal(res.incremental, 0);
	check_zone_text(&res, 8);
	rg_xfr_res_clear(&res);
}

/* The SOA moved on, but the IXFR says the zone held is current. */
static void
test_ixfr_single_soa(void **state)
{
	static const char *const same[] = { SOA(1), NULL };
	struct rg_xfr_res res;
	struct srv s;

	(void)state;
	srv_start(&s, soa3, same, axfr3, 0);
	assert_int_equal(run(&s, old1, 0, 0, &res), RG_XFR_UP_TO_DATE);
	srv_stop(&s);
	assert_int_equal(res.serial, 1);
	assert_int_equal(s.n_axfr, 0);
}

/* A zone held that does not load: AXFR. */
static void
test_old_zone_bad(void **state)
{
	struct rg_xfr_res res;
	struct srv s;

	(void)state;
	srv_start(&s, soa3, ixfr1to3, axfr3, 0);
	assert_int_equal(run(&s, "this is not a zone\n", 0, 0, &res),
	    RG_XFR_NEW);
	srv_stop(&s);
	assert_int_equal(s.n_soa + s.n_ixfr, 0);
	assert_int_equal(s.n_axfr, 1);
	assert_int_equal(res.serial, 3);
	rg_xfr_res_clear(&res);

	/* Its SOA loads, the rest only once the IXFR turns out incremental. */
	srv_start(&s, soa3, ixfr1to3, axfr3, 0);
	assert_int_equal(run(&s, SOA(1) "a.rpz.test. 300 IN NOSUCHTYPE x\n", 0, 0,
	    &res), RG_XFR_NEW);
	srv_stop(&s);
	assert_int_equal(s.n_soa + s.n_ixfr + s.n_axfr, 3);
	assert_int_equal(res.incremental, 0);
	assert_int_equal(res.serial, 3);
	rg_xfr_res_clear(&res);
}

static void
expect_error(const char *const *soa, const char *const *ixfr,
    const char *const *axfr, const char *old, int sign, uint64_t max_bytes,
    int want, const char *msg)
{
	struct rg_xfr_res res;
	struct srv s;
	int rc;

	srv_start(&s, soa, ixfr, axfr, sign);
	rc = run(&s, old, sign, max_bytes, &res);
	srv_stop(&s);
	if (rc != want)
		fail_msg("rc %d, expected %d (%s), error: %s", rc, want, msg,
		    res.error);
	assert_null(res.zone);
	assert_int_equal(res.len, 0);
	assert_contains(res.error, msg);
}

static void
test_malformed(void **state)
{
	static const char *const no_soa[] = { R("a") SOA(1), NULL };
	static const char *const outside[] = {
		SOA(1) "a.example. 300 IN CNAME .\n" SOA(1), NULL
	};
	static const char *const wrong_end[] = { SOA(1) R("a") SOA(2), NULL };
	static const char *const after[] = { SOA(1) R("a") SOA(1) R("b"),
		NULL };
	static const char *const chaos[] = {
		SOA(1) "a.rpz.test. 300 CH TXT \"x\"\n" SOA(1), NULL
	};
	static const char *const soa_below[] = {
		SOA(1) "a.rpz.test. 300 IN SOA a. b. 1 2 3 4 5\n" SOA(1), NULL
	};
	static const char *const bad_id[] = { "!id\n" SOA(1) SOA(1), NULL };
	static const char *const servfail[] = { "!rcode 2\n", NULL };
	static const char *const refused[] = { "!rcode 5\n", NULL };
	static const char *const empty[] = { "!rcode 0\n", NULL };

	(void)state;
	expect_error(soa1, NULL, no_soa, NULL, 0, 0, -EBADMSG,
	    "does not start with the SOA");
	expect_error(soa1, NULL, outside, NULL, 0, 0, -EBADMSG,
	    "a.example. is outside the zone");
	expect_error(soa1, NULL, wrong_end, NULL, 0, 0, -EBADMSG,
	    "ends with serial 2, not 1");
	expect_error(soa1, NULL, after, NULL, 0, 0, -EBADMSG,
	    "records after the final SOA");
	expect_error(soa1, NULL, chaos, NULL, 0, 0, -EBADMSG,
	    "a record of class 3");
	expect_error(soa1, NULL, soa_below, NULL, 0, 0, -EBADMSG,
	    "an SOA record below the apex");
	expect_error(soa1, NULL, bad_id, NULL, 0, 0, -EBADMSG, "has ID");
	expect_error(soa1, NULL, servfail, NULL, 0, 0, -EBADMSG,
	    "AXFR answered with SERVFAIL");
	expect_error(soa1, NULL, refused, NULL, 0, 0, -EACCES,
	    "AXFR refused: REFUSED");
	expect_error(soa1, NULL, empty, NULL, 0, 0, -EBADMSG, "is empty");
	/* The SOA query's answer decides before any transfer. */
	expect_error(refused, ixfr1to3, axfr3, old1, 0, 0, -EACCES,
	    "SOA query refused");
	/* No reply at all: the connection closes. */
	expect_error(soa1, NULL, NULL, NULL, 0, 0, -ECONNRESET, "closed");
}

static void
test_limits(void **state)
{
	static const char *const hang[] = { "!hang\n", NULL };
	struct rg_xfr_req req;
	struct rg_xfr_res res;
	struct srv s;
	int rc;

	(void)state;
	/* axfr1 is 6 records, about 250 bytes of text. */
	expect_error(soa1, NULL, axfr1, NULL, 0, 100, -EFBIG, "larger than");

	srv_start(&s, soa1, NULL, hang, 0);
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	req.zone = "rpz.test.";
	req.primary = primary;
	req.timeout_ms = 300;
	rc = rg_xfr(&req, &res);
	srv_stop(&s);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_contains(res.error, "within 300 ms");

	req.primary = closed_port;
	memset(&res, 0, sizeof(res));
	assert_int_equal(rg_xfr(&req, &res), -ECONNREFUSED);
	req.primary = "not-an-address";
	assert_int_equal(rg_xfr(&req, &res), -EINVAL);
	req.primary = primary;
	req.zone = "bad..name";
	assert_int_equal(rg_xfr(&req, &res), -EINVAL);
	req.zone = "rpz.test.";
	req.tsig_name = KEY_NAME;
	req.tsig_secret = key_b64;
	req.tsig_algorithm = "hmac-sha384";
	assert_int_equal(rg_xfr(&req, &res), -ENOTSUP);
	req.tsig_algorithm = "hmac-sha256";
	req.tsig_secret = "not base64!";
	assert_int_equal(rg_xfr(&req, &res), -EINVAL);
	assert_contains(res.error, "not base64");
}

/* -- TSIG ----------------------------------------------------------------- */

static void
test_tsig(void **state)
{
	static const char *const some_unsigned[] = {
		SOA(3) NS R("b"),
		"!unsigned\n" "c.rpz.test. 600 IN CNAME .\n" R("*.c"),
		"!unsigned\n" R("d"),
		R("e") "f.rpz.test. 300 IN A 192.0.2.1\n" SOA(3),
		NULL
	};
	struct rg_xfr_res res, plain;
	struct srv s;

	(void)state;
	srv_start(&s, soa3, ixfr1to3, axfr3, 1);
	assert_int_equal(run(&s, NULL, 1, 0, &plain), RG_XFR_NEW);
	assert_int_equal(run(&s, old1, 1, 0, &res), RG_XFR_NEW);
	srv_stop(&s);
	assert_int_equal(s.bad_query, 0);
	assert_int_equal(res.incremental, 1);
	assert_string_equal(res.zone, plain.zone);
	rg_xfr_res_clear(&res);

	/* RFC 8945 5.3.1: messages in between may go unsigned. */
	srv_start(&s, soa3, NULL, some_unsigned, 1);
	assert_int_equal(run(&s, NULL, 1, 0, &res), RG_XFR_NEW);
	srv_stop(&s);
	assert_string_equal(res.zone, plain.zone);
	rg_xfr_res_clear(&res);
	rg_xfr_res_clear(&plain);
}

static void
test_tsig_failures(void **state)
{
	static const char *const last_unsigned[] = {
		SOA(1) R("a"), "!unsigned\n" SOA(1), NULL
	};
	static const char *const first_unsigned[] = {
		"!unsigned\n" SOA(1) R("a"), SOA(1), NULL
	};
	static const char *const bad_first[] = {
		"!badmac\n" SOA(1) R("a") SOA(1), NULL
	};
	static const char *const bad_middle[] = {
		SOA(1), "!unsigned\n" R("a"), "!badmac\n" R("b"), SOA(1), NULL
	};
	static const char *too_many[104];
	static const char *const unsigned_soa[] = { "!unsigned\n" SOA(1),
		NULL };
	struct rg_xfr_res res;
	struct srv s;
	size_t i;

	(void)state;
	expect_error(soa1, NULL, last_unsigned, NULL, 1, 0, -EACCES,
	    "last AXFR message is not signed");
	expect_error(soa1, NULL, first_unsigned, NULL, 1, 0, -EACCES,
	    "reply 1 is not signed");
	expect_error(soa1, NULL, bad_first, NULL, 1, 0, -EACCES,
	    "reply 1: TSIG does not verify");
	expect_error(soa1, NULL, bad_middle, NULL, 1, 0, -EACCES,
	    "reply 3: TSIG does not verify");
	expect_error(unsigned_soa, ixfr1to3, axfr3, old1, 1, 0, -EACCES,
	    "reply 1 is not signed");

	/* At most 99 unsigned in a row. */
	too_many[0] = SOA(1);
	for (i = 1; i <= 100; i++)
		too_many[i] = "!unsigned\n" R("a");
	too_many[101] = SOA(1);
	too_many[102] = NULL;
	expect_error(soa1, NULL, (const char *const *)too_many, NULL, 1, 0,
	    -EACCES,
	    "reply 101 is not signed");
	too_many[100] = R("b");
	srv_start(&s, soa1, NULL, (const char *const *)too_many, 1);
	assert_int_equal(run(&s, NULL, 1, 0, &res), RG_XFR_NEW);
	srv_stop(&s);
	check_zone_text(&res, 3);
	rg_xfr_res_clear(&res);

	/* Signed replies to an unsigned query. */
	srv_start(&s, soa1, NULL, axfr1, 1);
	assert_int_equal(run(&s, NULL, 0, 0, &res), -EBADMSG);
	srv_stop(&s);
	assert_contains(res.error, "signed AXFR reply to an unsigned query");
}

/* -- NOTIFY --------------------------------------------------------------- */

static struct rg_notify_zone nzones[3];

static void
nzones_init(void)
{
	memset(nzones, 0, sizeof(nzones));
	nzones[0].feed = "plain";
	nzones[0].zone = "open.test.";
	nzones[0].primary = "127.0.0.1@5300";
	nzones[1].feed = "signed";
	nzones[1].zone = "rpz.test.";
	nzones[1].primary = "192.0.2.53";
	nzones[1].tsig_name = KEY_NAME;
	nzones[1].tsig_algorithm = "hmac-sha256";
	nzones[1].tsig_secret = key_b64;
	nzones[2].feed = "v6";
	nzones[2].zone = "six.test.";
	nzones[2].primary = "2001:db8::53@53";
}

static socklen_t
addr(const char *a, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
		return sizeof(*sin);
	}
	assert_int_equal(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(40000);
	return sizeof(*sin6);
}

/* A NOTIFY for ZONE (type TYPE, opcode OP), signed with SECRET or not. */
static size_t
notify_msg(const char *zone, ldns_rr_type type, ldns_pkt_opcode op,
    const char *secret, const char *keyname, uint8_t *out, ldns_rdf **mac)
{
	ldns_pkt *p;
	uint8_t *wire = NULL;
	size_t len = 0;

	p = ldns_pkt_query_new(ldns_dname_new_frm_str(zone), type,
	    LDNS_RR_CLASS_IN, LDNS_AA);
	ldns_pkt_set_opcode(p, op);
	ldns_pkt_set_id(p, 0x4242);
	if (secret != NULL) {
		assert_int_equal(ldns_pkt_tsig_sign(p, keyname, secret, 300,
		    "hmac-sha256.", NULL), LDNS_STATUS_OK);
		if (mac != NULL)
			*mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(p),
			    3));
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	memcpy(out, wire, len);
	free(wire);
	ldns_pkt_free(p);
	return len;
}

struct nres {
	int idx;
	size_t len;
	ldns_pkt *reply;
	char err[256];
	uint8_t out[1024];
};

static void
judge(const uint8_t *msg, size_t len, const char *from, struct nres *r)
{
	struct sockaddr_storage ss;

	addr(from, &ss);
	memset(r, 0, sizeof(*r));
	r->idx = rg_notify_check(msg, len, (struct sockaddr *)&ss, nzones, 3,
	    r->out, sizeof(r->out), &r->len, r->err, sizeof(r->err));
	if (r->len > 0)
		assert_int_equal(ldns_wire2pkt(&r->reply, r->out, r->len),
		    LDNS_STATUS_OK);
}

static void
expect_reply(struct nres *r, ldns_pkt_rcode rcode, int tsig_error)
{
	const ldns_rr *t;

	assert_non_null(r->reply);
	assert_true(ldns_pkt_qr(r->reply));
	assert_int_equal(ldns_pkt_id(r->reply), 0x4242);
	assert_int_equal(ldns_pkt_get_opcode(r->reply), LDNS_PACKET_NOTIFY);
	if (ldns_pkt_get_rcode(r->reply) != rcode)
		fail_msg("RCODE %d, expected %d (%s)",
		    ldns_pkt_get_rcode(r->reply), rcode, r->err);
	t = ldns_pkt_tsig(r->reply);
	if (tsig_error < 0)
		assert_null(t);
	else {
		assert_non_null(t);
		assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 5)),
		    tsig_error);
	}
	assert_int_equal(r->idx, -1);
	assert_true(r->err[0] != '\0');
	ldns_pkt_free(r->reply);
	r->reply = NULL;
}

static void
test_notify_good(void **state)
{
	uint8_t msg[1024];
	ldns_rdf *mac = NULL;
	struct nres r;
	size_t len;

	(void)state;
	nzones_init();
	/* Unsigned, for a zone without a key, from its primary on any port. */
	len = notify_msg("open.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    NULL, NULL, msg, NULL);
	judge(msg, len, "127.0.0.1", &r);
	assert_int_equal(r.idx, 0);
	assert_int_equal(ldns_pkt_get_rcode(r.reply), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_aa(r.reply) && ldns_pkt_qr(r.reply));
	assert_int_equal(ldns_pkt_get_opcode(r.reply), LDNS_PACKET_NOTIFY);
	assert_int_equal(ldns_pkt_id(r.reply), 0x4242);
	assert_int_equal(ldns_pkt_qdcount(r.reply), 1);
	assert_null(ldns_pkt_tsig(r.reply));
	ldns_pkt_free(r.reply);
	/* The same from the v4-mapped address. */
	judge(msg, len, "::ffff:127.0.0.1", &r);
	assert_int_equal(r.idx, 0);
	ldns_pkt_free(r.reply);
	len = notify_msg("SIX.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    NULL, NULL, msg, NULL);
	judge(msg, len, "2001:db8::53", &r);
	assert_int_equal(r.idx, 2);
	ldns_pkt_free(r.reply);

	/* Signed: the reply is signed after the request's MAC. */
	len = notify_msg("rpz.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    key_b64, KEY_NAME, msg, &mac);
	judge(msg, len, "192.0.2.53", &r);
	assert_int_equal(r.idx, 1);
	assert_int_equal(ldns_pkt_get_rcode(r.reply), LDNS_RCODE_NOERROR);
	assert_non_null(ldns_pkt_tsig(r.reply));
	assert_true(ldns_pkt_tsig_verify(r.reply, r.out, r.len, KEY_NAME,
	    key_b64, mac));
	ldns_pkt_free(r.reply);
	ldns_rdf_deep_free(mac);
}

static void
test_notify_refused(void **state)
{
	static uint8_t other_key[32];
	char other_b64[64];
	uint8_t msg[1024];
	struct nres r;
	size_t len;

	(void)state;
	nzones_init();
	/* A known zone from another address. */
	len = notify_msg("open.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    NULL, NULL, msg, NULL);
	judge(msg, len, "127.0.0.2", &r);
	expect_reply(&r, LDNS_RCODE_REFUSED, -1);
	judge(msg, len, "::1", &r);
	expect_reply(&r, LDNS_RCODE_REFUSED, -1);
	/* An unknown zone: NOTAUTH to a primary, REFUSED to the others. */
	len = notify_msg("other.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    NULL, NULL, msg, NULL);
	judge(msg, len, "127.0.0.1", &r);
	expect_reply(&r, LDNS_RCODE_NOTAUTH, -1);
	judge(msg, len, "198.51.100.1", &r);
	expect_reply(&r, LDNS_RCODE_REFUSED, -1);

	/* TSIG: missing, another key, a wrong secret. */
	len = notify_msg("rpz.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    NULL, NULL, msg, NULL);
	judge(msg, len, "192.0.2.53", &r);
	expect_reply(&r, LDNS_RCODE_NOTAUTH, -1);
	assert_contains(r.err, "not signed");
	len = notify_msg("rpz.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    key_b64, "other-key.", msg, NULL);
	judge(msg, len, "192.0.2.53", &r);
	expect_reply(&r, LDNS_RCODE_NOTAUTH, 17);
	memset(other_key, 7, sizeof(other_key));
	EVP_EncodeBlock((unsigned char *)other_b64, other_key,
	    sizeof(other_key));
	len = notify_msg("rpz.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    other_b64, KEY_NAME, msg, NULL);
	judge(msg, len, "192.0.2.53", &r);
	expect_reply(&r, LDNS_RCODE_NOTAUTH, 16);
	/* Signed for a zone we hold no key for. */
	len = notify_msg("open.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    key_b64, KEY_NAME, msg, NULL);
	judge(msg, len, "127.0.0.1", &r);
	expect_reply(&r, LDNS_RCODE_NOTAUTH, 17);
	/* A signed request altered on the way. */
	len = notify_msg("rpz.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    key_b64, KEY_NAME, msg, NULL);
	msg[3] ^= 0x10;
	judge(msg, len, "192.0.2.53", &r);
	expect_reply(&r, LDNS_RCODE_NOTAUTH, 16);
}

static void
test_notify_other(void **state)
{
	uint8_t msg[1024];
	struct nres r;
	size_t len;

	(void)state;
	nzones_init();
	/* A query: NOTIMP, the header alone. */
	len = notify_msg("open.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_QUERY,
	    NULL, NULL, msg, NULL);
	judge(msg, len, "127.0.0.1", &r);
	assert_int_equal(r.len, 12);
	assert_int_equal(ldns_pkt_get_opcode(r.reply), LDNS_PACKET_QUERY);
	assert_int_equal(ldns_pkt_get_rcode(r.reply), LDNS_RCODE_NOTIMPL);
	assert_true(ldns_pkt_qr(r.reply));
	assert_int_equal(r.idx, -1);
	ldns_pkt_free(r.reply);
	/* NOTIFY for another type. */
	len = notify_msg("open.test.", LDNS_RR_TYPE_A, LDNS_PACKET_NOTIFY,
	    NULL, NULL, msg, NULL);
	judge(msg, len, "127.0.0.1", &r);
	expect_reply(&r, LDNS_RCODE_NOTIMPL, -1);
	/* A response, and less than a header: no reply. */
	len = notify_msg("open.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    NULL, NULL, msg, NULL);
	msg[2] |= 0x80;
	judge(msg, len, "127.0.0.1", &r);
	assert_int_equal(r.len, 0);
	assert_int_equal(r.idx, -1);
	judge(msg, 11, "127.0.0.1", &r);
	assert_int_equal(r.len, 0);
	assert_int_equal(r.idx, -1);
	/* A NOTIFY header with a truncated question: FORMERR. */
	len = notify_msg("open.test.", LDNS_RR_TYPE_SOA, LDNS_PACKET_NOTIFY,
	    NULL, NULL, msg, NULL);
	judge(msg, len - 3, "127.0.0.1", &r);
	assert_int_equal(r.len, 12);
	assert_int_equal(ldns_pkt_get_rcode(r.reply), LDNS_RCODE_FORMERR);
	assert_int_equal(ldns_pkt_get_opcode(r.reply), LDNS_PACKET_NOTIFY);
	ldns_pkt_free(r.reply);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_axfr),
		cmocka_unit_test(test_up_to_date),
		cmocka_unit_test(test_ixfr),
		cmocka_unit_test(test_ixfr_fallbacks),
		cmocka_unit_test(test_ixfr_ttl),
		cmocka_unit_test(test_ixfr_whole),
		cmocka_unit_test(test_ixfr_single_soa),
		cmocka_unit_test(test_old_zone_bad),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_tsig),
		cmocka_unit_test(test_tsig_failures),
		cmocka_unit_test(test_notify_good),
		cmocka_unit_test(test_notify_refused),
		cmocka_unit_test(test_notify_other),
	};
	const char *b = getenv("RG_TEST_PORT_BASE");

	port_base = (uint16_t)(b != NULL ? atoi(b) : 16300);
	snprintf(primary, sizeof(primary), "127.0.0.1@%u", port_base + 4150);
	snprintf(closed_port, sizeof(closed_port), "127.0.0.1@%u", port_base + 4151);
	srand((unsigned)time(NULL));
	key_make();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

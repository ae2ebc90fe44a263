/*
 * xfr.c -- RPZ feeds by zone transfer (SOA, IXFR, AXFR, TSIG), and NOTIFY
 * from their primary.
 *
 * A transfer is a few blocking exchanges over TCP under one deadline: the
 * primary's SOA when we hold a zone, then IXFR from our serial, else AXFR.
 * Each reply message is parsed by ldns and, with a key, its TSIG checked by
 * ldns in sequence (RFC 8945 5.3.1): the first and the last message must
 * carry one, at most 99 in between may not, and the digest of a signed
 * message covers the prior MAC and the unsigned messages since.  The zone is
 * a red-black tree of its records keyed by their canonical wire form with
 * the TTL left out, the way an IXFR deletion names a record; it comes out
 * as a master file in a stable order: the SOA, then the records by key, so
 * that a zone brought up to date by IXFR reads the same as the AXFR of that
 * version.
 */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <openssl/evp.h>

#include "conf.h"
#include "log.h"
#include "fetch.h"
#include "xfr.h"

#define XFR_TIMEOUT_MS		30000		/* when the request says 0 */
#define XFR_MAX_BYTES		(64ULL << 20)	/* when the request says 0 */
#define XFR_FUDGE		300		/* TSIG time window, seconds */
#define XFR_UNSIGNED_MAX	99		/* messages between two TSIGs */
#define XFR_MSG_MAX		65535
#define XFR_BLOCK		(1 << 20)	/* records allocated by the MiB */

/* From xfr_transfer(): the IXFR cannot be used, AXFR instead. */
#define XFR_FALLBACK		100

/* TSIG error codes (RFC 8945 4.3). */
#define TSIG_BADSIG		16
#define TSIG_BADKEY		17
#define TSIG_BADTIME		18

/*
 * The algorithms ldns 1.8 computes, by their configured names; hmac-sha224
 * and hmac-sha384 are missing (ldns misspells the latter).
 */
static const struct {
	const char *name;
	const char *dname;	/* NULL: not in ldns */
} xfr_algs[] = {
	{ "hmac-md5", "hmac-md5.sig-alg.reg.int." },
	{ "hmac-md5.sig-alg.reg.int", "hmac-md5.sig-alg.reg.int." },
	{ "hmac-sha1", "hmac-sha1." },
	{ "hmac-sha224", NULL },
	{ "hmac-sha256", "hmac-sha256." },
	{ "hmac-sha384", NULL },
	{ "hmac-sha512", "hmac-sha512." },
};

/* A TSIG key, the way ldns takes it. */
struct xfr_key {
	char *name;			/* "key.example." */
	const char *alg;		/* "hmac-sha256." */
	const char *secret;		/* base64 */
	ldns_rdf *name_rdf;
	ldns_rdf *alg_rdf;
};

/*
 * A record of the zone in one allocation: its key (canonical wire form,
 * TTL zeroed) and its line of the master file.  The tree's key is KEY_LEN
 * with the bytes that follow it.
 */
struct xfr_rr {
	ldns_rbnode_t node;		/* key: &key_len */
	uint32_t text_len;
	uint32_t key_len;
	uint8_t key[];			/* then the text, NUL-terminated */
};
_Static_assert(offsetof(struct xfr_rr, key) ==
    offsetof(struct xfr_rr, key_len) + sizeof(uint32_t),
    "the key follows its length");

/* Records are carved from blocks freed with the zone. */
struct xfr_block {
	struct xfr_block *next;
	size_t used;
	size_t cap;
	uint8_t data[];
};

struct xfr_zone {
	ldns_rbtree_t tree;
	struct xfr_block *blocks;
	const ldns_rdf *apex;
	ldns_rr *soa;
	uint64_t bytes;			/* text of the records in the tree */
	uint64_t max_bytes;
	ldns_buffer *buf;		/* keys are built here */
};

/* The replies to one query, their IDs and their TSIG chain. */
struct xfr_stream {
	int fd;
	uint16_t id;
	ldns_rr_type qtype;
	ldns_rdf *query_mac;		/* our query's MAC */
	uint8_t *prior;			/* the last MAC with its length, then
					   the unsigned messages since */
	size_t prior_len;
	size_t prior_cap;
	unsigned n_unsigned;
	unsigned n;			/* messages read */
	unsigned n_signed;
	int last_signed;
};

/* Where a reply is, record by record. */
enum xfr_state {
	XFR_FIRST,			/* the SOA of the version sent */
	XFR_SECOND,			/* tells AXFR-style from incremental */
	XFR_AXFR,			/* records until the SOA again */
	XFR_DEL,			/* records to delete until an SOA */
	XFR_ADD,			/* records to add until an SOA */
	XFR_DONE,
};

struct xfr_walk {
	enum xfr_state state;
	int ixfr;			/* IXFR was asked */
	uint32_t have;			/* IXFR: the serial of HELD */
	uint32_t want;			/* the serial of the first SOA */
	uint32_t at;			/* IXFR: where HELD is now */
	struct xfr_zone *held;		/* IXFR: the zone changed in place */
	struct xfr_zone *zone;		/* the zone being built */
	ldns_rr *soa;			/* the first SOA */
	int incremental;
};

struct xfr {
	const struct rg_xfr_req *req;
	struct rg_xfr_res *res;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	ldns_rdf *apex;
	struct xfr_key key;
	int has_key;
	uint64_t deadline;		/* ms, CLOCK_MONOTONIC */
	uint64_t max_bytes;
	uint8_t *msg;			/* XFR_MSG_MAX bytes */
};

static int
xfr_fail(struct rg_xfr_res *res, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
xfr_fail(struct rg_xfr_res *res, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	return rc;
}

static uint64_t
xfr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *
xfr_rcode_str(int rcode)
{
	ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, rcode);

	return lt != NULL ? lt->name : "an unknown RCODE";
}

static const char *
xfr_tsig_error_str(uint16_t e)
{
	switch (e) {
	case 0:
		return "NOERROR";
	case TSIG_BADSIG:
		return "BADSIG";
	case TSIG_BADKEY:
		return "BADKEY";
	case TSIG_BADTIME:
		return "BADTIME";
	case 19:
		return "BADMODE";
	case 20:
		return "BADNAME";
	case 21:
		return "BADALG";
	case 22:
		return "BADTRUNC";
	default:
		return "an unknown TSIG error";
	}
}

static uint32_t
xfr_soa_serial(const ldns_rr *soa)
{
	if (soa == NULL || ldns_rr_rd_count(soa) < 3)
		return 0;
	return ldns_rdf2native_int32(ldns_rr_rdf(soa, 2));
}

/* -- TSIG keys ------------------------------------------------------------ */

static void
xfr_key_clear(struct xfr_key *k)
{
	free(k->name);
	ldns_rdf_deep_free(k->name_rdf);
	ldns_rdf_deep_free(k->alg_rdf);
	memset(k, 0, sizeof(*k));
}

/* K from a configured NAME, ALG (NULL: hmac-sha256) and SECRET. */
static int
xfr_key_init(struct xfr_key *k, const char *name, const char *alg,
    const char *secret, char *err, size_t err_len)
{
	uint8_t *bin = NULL;
	size_t i, n;
	int rc = -EINVAL;

	memset(k, 0, sizeof(*k));
	if (alg == NULL || *alg == '\0')
		alg = "hmac-sha256";
	n = strlen(alg);
	if (n > 0 && alg[n - 1] == '.')
		n--;
	for (i = 0; i < sizeof(xfr_algs) / sizeof(xfr_algs[0]); i++)
		if (strlen(xfr_algs[i].name) == n &&
		    strncasecmp(xfr_algs[i].name, alg, n) == 0)
			break;
	if (i == sizeof(xfr_algs) / sizeof(xfr_algs[0])) {
		snprintf(err, err_len, "TSIG algorithm %s is unknown", alg);
		goto out;
	}
	if (xfr_algs[i].dname == NULL) {
		snprintf(err, err_len, "TSIG algorithm %s is not supported by "
		    "ldns", alg);
		rc = -ENOTSUP;
		goto out;
	}
	k->alg = xfr_algs[i].dname;
	if (name == NULL || secret == NULL || *secret == '\0' ||
	    (k->name_rdf = ldns_dname_new_frm_str(name)) == NULL) {
		snprintf(err, err_len, "TSIG key name %s is not a name",
		    name != NULL ? name : "(none)");
		goto out;
	}
	ldns_dname2canonical(k->name_rdf);
	if ((k->name = ldns_rdf2str(k->name_rdf)) == NULL ||
	    (k->alg_rdf = ldns_dname_new_frm_str(k->alg)) == NULL) {
		rc = -ENOMEM;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	/* ldns would only find out while computing a MAC, and say no more. */
	n = strlen(secret);
	if ((bin = malloc(n / 4 * 3 + 3)) == NULL) {
		rc = -ENOMEM;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	if (n % 4 != 0 || EVP_DecodeBlock(bin, (const unsigned char *)secret,
	    (int)n) <= 0) {
		snprintf(err, err_len, "TSIG secret of %s is not base64",
		    k->name);
		goto out;
	}
	k->secret = secret;
	rc = 0;
out:
	free(bin);
	if (rc < 0)
		xfr_key_clear(k);
	return rc;
}

/*
 * The checks of a TSIG record that ldns leaves out: our key and algorithm,
 * no error, the time within the fudge.  0, or a TSIG error code.
 */
static uint16_t
xfr_tsig_check(const struct xfr_key *k, const ldns_rr *tsig, char *err,
    size_t err_len)
{
	const ldns_rdf *t;
	uint64_t signed_at;
	uint16_t fudge, e;
	time_t now = time(NULL);
	char *name;

	if (ldns_rr_rd_count(tsig) != 7 ||
	    ldns_rdf_get_type(ldns_rr_rdf(tsig, 1)) != LDNS_RDF_TYPE_TSIGTIME ||
	    ldns_rdf_size(ldns_rr_rdf(tsig, 1)) != 6 ||
	    ldns_rdf_size(ldns_rr_rdf(tsig, 2)) != 2 ||
	    ldns_rdf_size(ldns_rr_rdf(tsig, 5)) != 2) {
		snprintf(err, err_len, "malformed TSIG record");
		return TSIG_BADSIG;
	}
	if (ldns_dname_compare(ldns_rr_owner(tsig), k->name_rdf) != 0 ||
	    ldns_dname_compare(ldns_rr_rdf(tsig, 0), k->alg_rdf) != 0) {
		name = ldns_rdf2str(ldns_rr_owner(tsig));
		snprintf(err, err_len, "TSIG key %s is not %s %s",
		    name != NULL ? name : "?", k->alg, k->name);
		free(name);
		return TSIG_BADKEY;
	}
	if ((e = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5))) != 0) {
		snprintf(err, err_len, "TSIG error %s", xfr_tsig_error_str(e));
		return e;
	}
	t = ldns_rr_rdf(tsig, 1);
	signed_at = ldns_read_uint16(ldns_rdf_data(t));
	signed_at = signed_at << 32 | ldns_read_uint32(ldns_rdf_data(t) + 2);
	fudge = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 2));
	if ((uint64_t)now + fudge < signed_at ||
	    signed_at + fudge < (uint64_t)now) {
		snprintf(err, err_len, "TSIG time %llu is %lld s away from ours",
		    (unsigned long long)signed_at,
		    (long long)signed_at - (long long)now);
		return TSIG_BADTIME;
	}
	return 0;
}

/*
 * ldns_pkt_tsig_verify_next() with PRIOR as the prior MAC.  It leaves the
 * TSIG record off the packet when it cannot compute a MAC; put it back.
 */
static int
xfr_tsig_verify(const struct xfr_key *k, ldns_pkt *pkt, const uint8_t *wire,
    size_t len, const ldns_rdf *prior, int timers_only)
{
	ldns_rr *tsig = ldns_pkt_tsig(pkt);
	uint16_t id = ldns_pkt_id(pkt);
	bool ok;

	ok = ldns_pkt_tsig_verify_next(pkt, wire, len, k->name, k->secret,
	    prior, timers_only);
	if (ldns_pkt_tsig(pkt) == NULL)
		ldns_pkt_set_tsig(pkt, tsig);
	ldns_pkt_set_id(pkt, id);
	return ok ? 0 : -1;
}

/* -- the zone ------------------------------------------------------------- */

static int
xfr_rr_cmp(const void *a, const void *b)
{
	uint32_t la, lb;
	int c;

	memcpy(&la, a, sizeof(la));
	memcpy(&lb, b, sizeof(lb));
	if ((c = memcmp((const uint8_t *)a + sizeof(la),
	    (const uint8_t *)b + sizeof(lb), la < lb ? la : lb)) != 0)
		return c;
	return la < lb ? -1 : la > lb;
}

static const char *
xfr_rr_text(const struct xfr_rr *r)
{
	return (const char *)r->key + r->key_len;
}

static struct xfr_zone *
xfr_zone_new(const ldns_rdf *apex, uint64_t max_bytes)
{
	struct xfr_zone *z;

	if ((z = calloc(1, sizeof(*z))) == NULL)
		return NULL;
	if ((z->buf = ldns_buffer_new(512)) == NULL) {
		free(z);
		return NULL;
	}
	ldns_rbtree_init(&z->tree, xfr_rr_cmp);
	z->apex = apex;
	z->max_bytes = max_bytes;
	return z;
}

static void
xfr_zone_free(struct xfr_zone *z)
{
	struct xfr_block *b;

	if (z == NULL)
		return;
	while ((b = z->blocks) != NULL) {
		z->blocks = b->next;
		free(b);
	}
	ldns_rr_free(z->soa);
	ldns_buffer_free(z->buf);
	free(z);
}

/*
 * N bytes for a record of Z.  Few large blocks, not one allocation per
 * record: glibc would otherwise give the top of the heap back and take it
 * again for each record ldns parses, its temporary buffers being large.
 */
static void *
xfr_zone_alloc(struct xfr_zone *z, size_t n)
{
	struct xfr_block *b = z->blocks;
	size_t cap;
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (b == NULL || b->cap - b->used < n) {
		cap = n > XFR_BLOCK ? n : XFR_BLOCK;
		if ((b = malloc(sizeof(*b) + cap)) == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = z->blocks;
		z->blocks = b;
	}
	p = b->data + b->used;
	b->used += n;
	return p;
}

/* RR's key in Z->buf, its length first, as the tree compares keys. */
static int
xfr_rr_key(struct xfr_zone *z, const ldns_rr *rr, uint32_t *key_len)
{
	size_t owner = ldns_rdf_size(ldns_rr_owner(rr)), len;
	uint32_t n;

	ldns_buffer_clear(z->buf);
	ldns_buffer_write_u32(z->buf, 0);
	if (ldns_rr2buffer_wire_canonical(z->buf, rr, LDNS_SECTION_ANSWER) !=
	    LDNS_STATUS_OK || ldns_buffer_position(z->buf) < 4 + owner + 10 ||
	    ldns_buffer_position(z->buf) > UINT32_MAX)
		return -ENOMEM;
	len = ldns_buffer_position(z->buf) - 4;
	/* RFC 1995 deletions match records whatever their TTL. */
	memset(ldns_buffer_at(z->buf, 4 + owner + 4), 0, 4);
	n = (uint32_t)len;
	memcpy(ldns_buffer_begin(z->buf), &n, sizeof(n));
	*key_len = n;
	return 0;
}

/* Add RR, or replace the record it equals (its TTL may differ). */
static int
xfr_zone_add(struct xfr_zone *z, const ldns_rr *rr)
{
	struct xfr_rr *r, *old;
	uint32_t key_len;
	char *text;
	size_t len;

	if (xfr_rr_key(z, rr, &key_len) < 0)
		return -ENOMEM;
	if ((text = ldns_rr2str_fmt(ldns_output_format_nocomments, rr)) ==
	    NULL)
		return -ENOMEM;
	len = strlen(text);
	if (len > UINT32_MAX || (r = xfr_zone_alloc(z, sizeof(*r) + key_len +
	    len + 1)) == NULL) {
		free(text);
		return -ENOMEM;
	}
	r->key_len = key_len;
	memcpy(r->key, ldns_buffer_at(z->buf, 4), key_len);
	memcpy(r->key + key_len, text, len + 1);
	free(text);
	r->text_len = (uint32_t)len;
	r->node.key = &r->key_len;
	if ((old = (struct xfr_rr *)ldns_rbtree_delete(&z->tree,
	    &r->key_len)) != NULL)
		z->bytes -= old->text_len;
	(void)ldns_rbtree_insert(&z->tree, &r->node);
	z->bytes += len;
	if (z->bytes > z->max_bytes)
		return -EFBIG;
	return 0;
}

/* Delete RR; -ENOENT when the zone does not hold it. */
static int
xfr_zone_del(struct xfr_zone *z, const ldns_rr *rr)
{
	struct xfr_rr *r;
	uint32_t key_len;

	if (xfr_rr_key(z, rr, &key_len) < 0)
		return -ENOMEM;
	if ((r = (struct xfr_rr *)ldns_rbtree_delete(&z->tree,
	    ldns_buffer_begin(z->buf))) == NULL)
		return -ENOENT;
	z->bytes -= r->text_len;
	return 0;
}

/* RR belongs in the zone at APEX: data of class IN at or below it. */
static int
xfr_rr_check(const ldns_rdf *apex, const ldns_rr *rr, char *err,
    size_t err_len)
{
	const ldns_rdf *owner = ldns_rr_owner(rr);
	ldns_rr_type t = ldns_rr_get_type(rr);
	char *s;

	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN)
		snprintf(err, err_len, "a record of class %u",
		    (unsigned)ldns_rr_get_class(rr));
	else if (t == LDNS_RR_TYPE_TSIG || t == LDNS_RR_TYPE_OPT ||
	    t == LDNS_RR_TYPE_TKEY || t == LDNS_RR_TYPE_IXFR ||
	    t == LDNS_RR_TYPE_AXFR || t == LDNS_RR_TYPE_MAILA ||
	    t == LDNS_RR_TYPE_MAILB || t == LDNS_RR_TYPE_ANY)
		snprintf(err, err_len, "a record of meta type %u", (unsigned)t);
	else if (ldns_dname_compare(owner, apex) != 0 &&
	    !ldns_dname_is_subdomain(owner, apex)) {
		s = ldns_rdf2str(owner);
		snprintf(err, err_len, "%s is outside the zone",
		    s != NULL ? s : "a name");
		free(s);
	} else if (t == LDNS_RR_TYPE_SOA && (ldns_rr_rd_count(rr) != 7 ||
	    ldns_dname_compare(owner, apex) != 0))
		snprintf(err, err_len, "an SOA record below the apex");
	else
		return 0;
	return -EBADMSG;
}

/*
 * Load master file TEXT into Z: its SOA in Z->soa, the rest in the tree.
 * SOA_ONLY stops at the SOA (our own files start with it).
 */
static int
xfr_zone_load(struct xfr_zone *z, const char *text, size_t len, int soa_only,
    char *err, size_t err_len)
{
	ldns_rdf *origin = NULL, *prev = NULL;
	ldns_status st;
	ldns_rr *rr = NULL;
	uint32_t ttl = 3600;
	FILE *fp = NULL;
	int line = 0, rc = -EBADMSG;

	if ((origin = ldns_rdf_clone(z->apex)) == NULL ||
	    (fp = fmemopen((void *)(uintptr_t)text, len, "r")) == NULL) {
		rc = -ENOMEM;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	while (!feof(fp)) {
		st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line);
		if (st == LDNS_STATUS_SYNTAX_EMPTY ||
		    st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN)
			continue;
		if (st != LDNS_STATUS_OK) {
			snprintf(err, err_len, "line %d: %s", line,
			    ldns_get_errorstr_by_id(st));
			rc = -EBADMSG;
			goto out;
		}
		if (xfr_rr_check(z->apex, rr, err, err_len) < 0) {
			rc = -EBADMSG;
			goto out;
		}
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
			if (z->soa != NULL) {
				snprintf(err, err_len, "line %d: a second SOA",
				    line);
				rc = -EBADMSG;
				goto out;
			}
			z->soa = rr;
			rr = NULL;
			if (soa_only)
				break;
			continue;
		}
		if (!soa_only && (rc = xfr_zone_add(z, rr)) < 0) {
			snprintf(err, err_len, rc == -EFBIG ? "zone too large" :
			    "out of memory");
			goto out;
		}
		ldns_rr_free(rr);
		rr = NULL;
	}
	if (z->soa == NULL) {
		snprintf(err, err_len, "no SOA record");
		rc = -EBADMSG;
		goto out;
	}
	rc = 0;
out:
	ldns_rr_free(rr);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	if (fp != NULL)
		fclose(fp);
	return rc;
}

/* Z as a master file in RES: the SOA, then the records by key. */
static int
xfr_zone_text(struct xfr_zone *z, struct rg_xfr_res *res)
{
	struct xfr_rr *r;
	char *soa, *p;
	size_t len;

	if ((soa = ldns_rr2str_fmt(ldns_output_format_nocomments, z->soa)) ==
	    NULL)
		return xfr_fail(res, -ENOMEM, "out of memory");
	len = strlen(soa);
	if (z->bytes + len > z->max_bytes) {
		free(soa);
		return xfr_fail(res, -EFBIG, "zone larger than %llu bytes",
		    (unsigned long long)z->max_bytes);
	}
	if ((p = malloc(z->bytes + len + 1)) == NULL) {
		free(soa);
		return xfr_fail(res, -ENOMEM, "out of memory");
	}
	res->zone = p;
	memcpy(p, soa, len);
	p += len;
	free(soa);
	LDNS_RBTREE_FOR(r, struct xfr_rr *, &z->tree) {
		memcpy(p, xfr_rr_text(r), r->text_len);
		p += r->text_len;
	}
	*p = '\0';
	res->len = (size_t)(p - res->zone);
	res->records = z->tree.count + 1;
	res->serial = xfr_soa_serial(z->soa);
	return 0;
}

/* -- TCP ------------------------------------------------------------------ */

static int
xfr_poll(struct xfr *x, int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	uint64_t now;
	int n;

	for (;;) {
		now = xfr_now_ms();
		if (now >= x->deadline)
			return xfr_fail(x->res, -ETIMEDOUT, "%s: no complete "
			    "answer within %u ms", x->req->primary,
			    x->req->timeout_ms ? x->req->timeout_ms :
			    XFR_TIMEOUT_MS);
		if (rg_fetch_aborting())
			return xfr_fail(x->res, -ECANCELED, "%s: cancelled: "
			    "the agent is stopping", x->req->primary);
		/* In slices, so that the agent stopping is seen soon. */
		n = poll(&pfd, 1, x->deadline - now > 200 ? 200 :
		    (int)(x->deadline - now));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return xfr_fail(x->res, -errno, "poll: %s",
			    strerror(errno));
	}
}

static int
xfr_connect(struct xfr *x, int *fdp)
{
	socklen_t sl = sizeof(int);
	int fd, e = 0, rc;

	*fdp = -1;
	fd = socket(x->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return xfr_fail(x->res, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&x->addr, x->addr_len) < 0) {
		if (errno != EINPROGRESS) {
			e = errno;
			goto refused;
		}
		if ((rc = xfr_poll(x, fd, POLLOUT)) < 0) {
			close(fd);
			return rc;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
			e = errno;
		if (e != 0)
			goto refused;
	}
	*fdp = fd;
	return 0;
refused:
	close(fd);
	return xfr_fail(x->res, -e, "%s: %s", x->req->primary, strerror(e));
}

static int
xfr_write(struct xfr *x, int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return xfr_fail(x->res, -errno, "%s: send: %s",
				    x->req->primary, strerror(errno));
			if ((rc = xfr_poll(x, fd, POLLOUT)) < 0)
				return rc;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
xfr_read_full(struct xfr *x, int fd, uint8_t *buf, size_t len)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		n = recv(fd, buf, len, 0);
		if (n == 0)
			return xfr_fail(x->res, -ECONNRESET, "%s: connection "
			    "closed in the middle of the reply",
			    x->req->primary);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return xfr_fail(x->res, -errno, "%s: recv: %s",
				    x->req->primary, strerror(errno));
			if ((rc = xfr_poll(x, fd, POLLIN)) < 0)
				return rc;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* -- one query, its replies ----------------------------------------------- */

static const char *
xfr_qtype_str(ldns_rr_type t)
{
	return t == LDNS_RR_TYPE_IXFR ? "IXFR" : t == LDNS_RR_TYPE_AXFR ?
	    "AXFR" : "SOA";
}

static void
xfr_stream_close(struct xfr_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	ldns_rdf_deep_free(s->query_mac);
	free(s->prior);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

static int
xfr_prior_add(struct xfr_stream *s, const uint8_t *p, size_t len)
{
	size_t cap;
	uint8_t *n;

	if (s->prior_len + len > s->prior_cap) {
		cap = s->prior_cap ? s->prior_cap : 256;
		while (cap < s->prior_len + len)
			cap *= 2;
		if ((n = realloc(s->prior, cap)) == NULL)
			return -ENOMEM;
		s->prior = n;
		s->prior_cap = cap;
	}
	memcpy(s->prior + s->prior_len, p, len);
	s->prior_len += len;
	return 0;
}

/* Connect and send the query for QTYPE (with SOA in authority: IXFR). */
static int
xfr_query(struct xfr *x, struct xfr_stream *s, ldns_rr_type qtype,
    const ldns_rr *soa)
{
	ldns_pkt *q = NULL;
	ldns_rdf *qname;
	uint8_t *wire = NULL, len2[2];
	size_t len = 0;
	int rc = -ENOMEM;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->qtype = qtype;
	if (getrandom(&s->id, sizeof(s->id), 0) != sizeof(s->id))
		return xfr_fail(x->res, -EIO, "getrandom: %s", strerror(errno));
	if ((qname = ldns_rdf_clone(x->apex)) == NULL ||
	    (q = ldns_pkt_query_new(qname, qtype, LDNS_RR_CLASS_IN, 0)) ==
	    NULL) {
		ldns_rdf_deep_free(qname);
		goto out;
	}
	ldns_pkt_set_id(q, s->id);
	if (soa != NULL && !ldns_pkt_push_rr(q, LDNS_SECTION_AUTHORITY,
	    ldns_rr_clone(soa)))
		goto out;
	if (x->has_key) {
		if (ldns_pkt_tsig_sign(q, x->key.name, x->key.secret,
		    XFR_FUDGE, x->key.alg, NULL) != LDNS_STATUS_OK)
			goto out;
		if ((s->query_mac = ldns_rdf_clone(ldns_rr_rdf(
		    ldns_pkt_tsig(q), 3))) == NULL)
			goto out;
	}
	if (ldns_pkt2wire(&wire, q, &len) != LDNS_STATUS_OK ||
	    len > XFR_MSG_MAX)
		goto out;
	if ((rc = xfr_connect(x, &s->fd)) < 0)
		goto out;
	ldns_write_uint16(len2, (uint16_t)len);
	if ((rc = xfr_write(x, s->fd, len2, 2)) < 0 ||
	    (rc = xfr_write(x, s->fd, wire, len)) < 0)
		goto out;
	rc = 0;
out:
	if (rc == -ENOMEM)
		xfr_fail(x->res, rc, "out of memory");
	ldns_pkt_free(q);
	free(wire);
	return rc;
}

/*
 * Read the next reply message into *PKTP: the header and the question
 * checked, and with a key its TSIG verified or, within bounds, counted for
 * the next one.  The RCODE is left for the caller.
 */
static int
xfr_read(struct xfr *x, struct xfr_stream *s, ldns_pkt **pktp)
{
	ldns_rdf prior_rdf;
	ldns_pkt *p = NULL;
	ldns_rr *q, *tsig;
	uint8_t len2[2];
	uint16_t e;
	size_t len;
	char why[160];
	const char *what = xfr_qtype_str(s->qtype);
	int rc, first = s->n == 0;

	*pktp = NULL;
	memset(&prior_rdf, 0, sizeof(prior_rdf));
	if ((rc = xfr_read_full(x, s->fd, len2, 2)) < 0)
		return rc;
	if ((len = ldns_read_uint16(len2)) < LDNS_HEADER_SIZE)
		return xfr_fail(x->res, -EBADMSG, "%s: a reply of %zu bytes",
		    x->req->primary, len);
	if ((rc = xfr_read_full(x, s->fd, x->msg, len)) < 0)
		return rc;
	s->n++;
	if (ldns_wire2pkt(&p, x->msg, len) != LDNS_STATUS_OK)
		return xfr_fail(x->res, -EBADMSG, "%s: %s reply %u is "
		    "malformed", x->req->primary, what, s->n);
	rc = -EBADMSG;
	if (ldns_pkt_id(p) != s->id) {
		xfr_fail(x->res, rc, "%s: %s reply %u has ID %u, not %u",
		    x->req->primary, what, s->n, ldns_pkt_id(p), s->id);
		goto out;
	}
	if (!ldns_pkt_qr(p) || ldns_pkt_get_opcode(p) != LDNS_PACKET_QUERY ||
	    ldns_pkt_tc(p)) {
		xfr_fail(x->res, rc, "%s: %s reply %u is not a query response",
		    x->req->primary, what, s->n);
		goto out;
	}
	if (ldns_pkt_qdcount(p) > 1 || (ldns_pkt_qdcount(p) == 1 &&
	    ((q = ldns_rr_list_rr(ldns_pkt_question(p), 0)) == NULL ||
	    ldns_rr_get_type(q) != s->qtype ||
	    ldns_rr_get_class(q) != LDNS_RR_CLASS_IN ||
	    ldns_dname_compare(ldns_rr_owner(q), x->apex) != 0))) {
		xfr_fail(x->res, rc, "%s: %s reply %u is for another question",
		    x->req->primary, what, s->n);
		goto out;
	}
	tsig = ldns_pkt_tsig(p);
	if (!x->has_key) {
		if (tsig != NULL) {
			xfr_fail(x->res, rc, "%s: a signed %s reply to an "
			    "unsigned query", x->req->primary, what);
			goto out;
		}
		*pktp = p;
		return 0;
	}
	rc = -EACCES;
	if (tsig == NULL) {
		/* RFC 8945 5.3.1: the first and the last must be signed. */
		if (first || ++s->n_unsigned > XFR_UNSIGNED_MAX) {
			xfr_fail(x->res, rc, "%s: %s reply %u is not signed "
			    "(RCODE %s)", x->req->primary, what, s->n,
			    xfr_rcode_str(ldns_pkt_get_rcode(p)));
			goto out;
		}
		if (xfr_prior_add(s, x->msg, len) < 0) {
			rc = xfr_fail(x->res, -ENOMEM, "out of memory");
			goto out;
		}
		s->last_signed = 0;
		*pktp = p;
		return 0;
	}
	if ((e = xfr_tsig_check(&x->key, tsig, why, sizeof(why))) != 0) {
		xfr_fail(x->res, rc, "%s: %s reply %u: %s (RCODE %s)",
		    x->req->primary, what, s->n, why,
		    xfr_rcode_str(ldns_pkt_get_rcode(p)));
		goto out;
	}
	/*
	 * After the first, ldns hashes the prior MAC as given, then the
	 * message: the prior MAC followed by the unsigned messages since is
	 * the digest RFC 8945 5.3.1 asks for.
	 */
	if (!first) {
		ldns_rdf_set_type(&prior_rdf, LDNS_RDF_TYPE_INT16_DATA);
		ldns_rdf_set_size(&prior_rdf, s->prior_len);
		ldns_rdf_set_data(&prior_rdf, s->prior);
	}
	if (xfr_tsig_verify(&x->key, p, x->msg, len,
	    first ? s->query_mac : &prior_rdf, !first) < 0) {
		xfr_fail(x->res, rc, "%s: %s reply %u: TSIG does not verify "
		    "with key %s", x->req->primary, what, s->n, x->key.name);
		goto out;
	}
	s->prior_len = 0;
	s->n_unsigned = 0;
	if (xfr_prior_add(s, ldns_rdf_data(ldns_rr_rdf(tsig, 3)),
	    ldns_rdf_size(ldns_rr_rdf(tsig, 3))) < 0) {
		rc = xfr_fail(x->res, -ENOMEM, "out of memory");
		goto out;
	}
	s->last_signed = 1;
	s->n_signed++;
	*pktp = p;
	return 0;
out:
	ldns_pkt_free(p);
	return rc;
}

/* An RCODE other than NOERROR as an error. */
static int
xfr_rcode_fail(struct xfr *x, const ldns_pkt *p, const char *what)
{
	ldns_pkt_rcode r = ldns_pkt_get_rcode(p);

	if (r == LDNS_RCODE_REFUSED || r == LDNS_RCODE_NOTAUTH)
		return xfr_fail(x->res, -EACCES, "%s: %s refused: %s",
		    x->req->primary, what, xfr_rcode_str(r));
	return xfr_fail(x->res, -EBADMSG, "%s: %s answered with %s",
	    x->req->primary, what, xfr_rcode_str(r));
}

/* The primary's serial for the zone. */
static int
xfr_soa(struct xfr *x, uint32_t *serial)
{
	struct xfr_stream s;
	ldns_rr_list *an;
	ldns_pkt *p = NULL;
	ldns_rr *rr;
	size_t i;
	int rc;

	if ((rc = xfr_query(x, &s, LDNS_RR_TYPE_SOA, NULL)) < 0 ||
	    (rc = xfr_read(x, &s, &p)) < 0)
		goto out;
	if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR) {
		rc = xfr_rcode_fail(x, p, "SOA query");
		goto out;
	}
	an = ldns_pkt_answer(p);
	for (i = 0; i < ldns_rr_list_rr_count(an); i++) {
		rr = ldns_rr_list_rr(an, i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA &&
		    ldns_rr_rd_count(rr) == 7 &&
		    ldns_dname_compare(ldns_rr_owner(rr), x->apex) == 0) {
			*serial = xfr_soa_serial(rr);
			rc = 0;
			goto out;
		}
	}
	rc = xfr_fail(x->res, -EBADMSG, "%s: no SOA for %s in the answer",
	    x->req->primary, x->req->zone);
out:
	ldns_pkt_free(p);
	xfr_stream_close(&s);
	return rc;
}

/* -- reading a transfer --------------------------------------------------- */

static void
xfr_walk_clear(struct xfr_walk *w)
{
	if (w->zone != w->held)
		xfr_zone_free(w->zone);
	xfr_zone_free(w->held);
	ldns_rr_free(w->soa);
	memset(w, 0, sizeof(*w));
}

/* The reply is a whole zone: drop the one held, start a new one. */
static int
xfr_walk_axfr(struct xfr *x, struct xfr_walk *w)
{
	xfr_zone_free(w->held);
	w->held = NULL;
	if ((w->zone = xfr_zone_new(x->apex, x->max_bytes)) == NULL)
		return xfr_fail(x->res, -ENOMEM, "out of memory");
	w->state = XFR_AXFR;
	return 0;
}

/*
 * The reply is incremental: now the whole zone held, for the differences
 * to apply to (until then only its SOA was read).
 */
static int
xfr_walk_load(struct xfr *x, struct xfr_walk *w)
{
	struct xfr_zone *z;
	char why[200];

	if ((z = xfr_zone_new(x->apex, x->max_bytes)) == NULL)
		return xfr_fail(x->res, -ENOMEM, "out of memory");
	if (xfr_zone_load(z, x->req->old_zone, x->req->old_len, 0, why,
	    sizeof(why)) < 0 || xfr_soa_serial(z->soa) != w->have) {
		rg_log_info("xfr: %s: the zone held does not load (%s); AXFR "
		    "instead", x->req->zone, why);
		xfr_zone_free(z);
		return XFR_FALLBACK;
	}
	xfr_zone_free(w->held);
	w->held = z;
	return 0;
}

static int
xfr_walk_add(struct xfr *x, struct xfr_walk *w, const ldns_rr *rr)
{
	int rc;

	if ((rc = xfr_zone_add(w->zone, rr)) == -EFBIG)
		return xfr_fail(x->res, rc, "zone larger than %llu bytes",
		    (unsigned long long)x->max_bytes);
	if (rc < 0)
		return xfr_fail(x->res, rc, "out of memory");
	return 0;
}

/*
 * One record of the reply.  An IXFR reply is the new SOA, then either the
 * whole zone and the SOA again, or for each version on the way the old SOA,
 * the records deleted, the new SOA, the records added, and at the end the
 * new SOA again (RFC 1995 4).
 */
static int
xfr_walk_rr(struct xfr *x, struct xfr_walk *w, const ldns_rr *rr)
{
	char why[200], *text;
	uint32_t serial = 0;
	int soa, rc;

	if (xfr_rr_check(x->apex, rr, why, sizeof(why)) < 0)
		return xfr_fail(x->res, -EBADMSG, "%s: %s", x->req->primary,
		    why);
	if ((soa = ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA))
		serial = xfr_soa_serial(rr);
	switch (w->state) {
	case XFR_FIRST:
		if (!soa)
			return xfr_fail(x->res, -EBADMSG, "%s: the transfer "
			    "does not start with the SOA", x->req->primary);
		if ((w->soa = ldns_rr_clone(rr)) == NULL)
			return xfr_fail(x->res, -ENOMEM, "out of memory");
		w->want = serial;
		w->state = XFR_SECOND;
		return 0;
	case XFR_SECOND:
		if (soa && serial == w->want) {
			/* A zone of just its SOA. */
			if ((rc = xfr_walk_axfr(x, w)) < 0)
				return rc;
			w->state = XFR_DONE;
			return 0;
		}
		if (soa && w->ixfr && serial == w->have) {
			if ((rc = xfr_walk_load(x, w)) != 0)
				return rc;
			w->zone = w->held;
			w->at = w->have;
			w->incremental = 1;
			w->state = XFR_DEL;
			return 0;
		}
		if (soa) {
			if (!w->ixfr)
				return xfr_fail(x->res, -EBADMSG, "%s: the "
				    "transfer ends with serial %u, not %u",
				    x->req->primary, serial, w->want);
			rg_log_info("xfr: %s: IXFR from serial %u, we hold "
			    "%u; AXFR instead", x->req->zone, serial, w->have);
			return XFR_FALLBACK;
		}
		if ((rc = xfr_walk_axfr(x, w)) < 0)
			return rc;
		return xfr_walk_add(x, w, rr);
	case XFR_AXFR:
		if (!soa)
			return xfr_walk_add(x, w, rr);
		if (serial != w->want)
			return xfr_fail(x->res, -EBADMSG, "%s: the transfer "
			    "ends with serial %u, not %u", x->req->primary,
			    serial, w->want);
		w->state = XFR_DONE;
		return 0;
	case XFR_DEL:
		if (soa) {
			w->at = serial;
			w->state = XFR_ADD;
			return 0;
		}
		if ((rc = xfr_zone_del(w->zone, rr)) == -ENOENT) {
			text = ldns_rr2str_fmt(ldns_output_format_nocomments,
			    rr);
			rg_log_info("xfr: %s: IXFR deletes a record we do not "
			    "hold (%.*s); AXFR instead", x->req->zone,
			    text != NULL ? (int)strcspn(text, "\n") : 1,
			    text != NULL ? text : "?");
			free(text);
			return XFR_FALLBACK;
		}
		if (rc < 0)
			return xfr_fail(x->res, rc, "out of memory");
		return 0;
	case XFR_ADD:
		if (!soa)
			return xfr_walk_add(x, w, rr);
		if (serial == w->want && w->at == w->want) {
			w->state = XFR_DONE;
			return 0;
		}
		if (serial == w->at) {
			w->state = XFR_DEL;
			return 0;
		}
		rg_log_info("xfr: %s: IXFR goes on from serial %u after "
		    "reaching %u; AXFR instead", x->req->zone, serial, w->at);
		return XFR_FALLBACK;
	case XFR_DONE:
		break;
	}
	return xfr_fail(x->res, -EBADMSG, "%s: records after the final SOA",
	    x->req->primary);
}

/*
 * Transfer the zone by QTYPE; for IXFR, HELD (taken) is the zone we hold.
 * RG_XFR_NEW with the zone in RES, RG_XFR_UP_TO_DATE, XFR_FALLBACK, or an
 * error.
 */
static int
xfr_transfer(struct xfr *x, ldns_rr_type qtype, struct xfr_zone *held)
{
	const char *what = qtype == LDNS_RR_TYPE_IXFR ? "IXFR" : "AXFR";
	struct xfr_stream s;
	struct xfr_walk w;
	ldns_rr_list *an;
	ldns_pkt *p = NULL;
	ldns_pkt_rcode r;
	size_t i, n;
	int rc;

	memset(&w, 0, sizeof(w));
	w.held = held;
	if (held != NULL) {
		w.ixfr = 1;
		w.have = xfr_soa_serial(held->soa);
	}
	if ((rc = xfr_query(x, &s, qtype, held != NULL ? held->soa : NULL)) <
	    0)
		goto out;
	while (w.state != XFR_DONE) {
		if ((rc = xfr_read(x, &s, &p)) < 0)
			goto out;
		r = ldns_pkt_get_rcode(p);
		if (r != LDNS_RCODE_NOERROR) {
			if (s.n == 1 && w.ixfr && (r == LDNS_RCODE_REFUSED ||
			    r == LDNS_RCODE_NOTIMPL ||
			    r == LDNS_RCODE_FORMERR)) {
				rg_log_info("xfr: %s: IXFR answered with %s; "
				    "AXFR instead", x->req->zone,
				    xfr_rcode_str(r));
				rc = XFR_FALLBACK;
				goto out;
			}
			rc = xfr_rcode_fail(x, p, what);
			goto out;
		}
		an = ldns_pkt_answer(p);
		n = ldns_rr_list_rr_count(an);
		if (s.n == 1 && n == 0) {
			rc = xfr_fail(x->res, -EBADMSG, "%s: the %s reply is "
			    "empty", x->req->primary, what);
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (w.state == XFR_DONE) {
				rc = xfr_fail(x->res, -EBADMSG, "%s: records "
				    "after the final SOA", x->req->primary);
				goto out;
			}
			if ((rc = xfr_walk_rr(x, &w, ldns_rr_list_rr(an, i))) !=
			    0)
				goto out;
		}
		/* A first message of just the SOA: no transfer to follow. */
		if (s.n == 1 && w.ixfr && w.state == XFR_SECOND) {
			if (w.want == w.have) {
				x->res->serial = w.want;
				rc = RG_XFR_UP_TO_DATE;
			} else {
				rg_log_info("xfr: %s: IXFR answered with the "
				    "SOA alone (serial %u); AXFR instead",
				    x->req->zone, w.want);
				rc = XFR_FALLBACK;
			}
			goto out;
		}
		ldns_pkt_free(p);
		p = NULL;
	}
	if (x->has_key && !s.last_signed) {
		rc = xfr_fail(x->res, -EACCES, "%s: the last %s message is not "
		    "signed", x->req->primary, what);
		goto out;
	}
	ldns_rr_free(w.zone->soa);
	w.zone->soa = w.soa;
	w.soa = NULL;
	if ((rc = xfr_zone_text(w.zone, x->res)) < 0)
		goto out;
	x->res->incremental = w.incremental;
	rg_log_debug("xfr: %s: %s%s of serial %u: %u messages, %u signed",
	    x->req->zone, what, w.incremental ? "" : " (whole zone)",
	    w.want, s.n, s.n_signed);
	rc = RG_XFR_NEW;
out:
	ldns_pkt_free(p);
	xfr_stream_close(&s);
	xfr_walk_clear(&w);
	return rc;
}

static void
xfr_clear(struct xfr *x)
{
	ldns_rdf_deep_free(x->apex);
	xfr_key_clear(&x->key);
	free(x->msg);
}

int
rg_xfr(const struct rg_xfr_req *req, struct rg_xfr_res *res)
{
	struct xfr_zone *held = NULL;
	struct xfr x;
	uint32_t serial = 0;
	char why[200];
	int rc;

	memset(&x, 0, sizeof(x));
	x.req = req;
	x.res = res;
	res->error[0] = '\0';
	x.deadline = xfr_now_ms() + (req->timeout_ms != 0 ? req->timeout_ms :
	    XFR_TIMEOUT_MS);
	x.max_bytes = req->max_bytes != 0 ? req->max_bytes : XFR_MAX_BYTES;
	if (req->zone == NULL || (x.apex = ldns_dname_new_frm_str(req->zone)) ==
	    NULL) {
		rc = xfr_fail(res, -EINVAL, "%s is not a zone name",
		    req->zone != NULL ? req->zone : "(none)");
		goto out;
	}
	ldns_dname2canonical(x.apex);
	if (rg_conf_parse_addr(req->primary, 53, &x.addr, &x.addr_len) < 0) {
		rc = xfr_fail(res, -EINVAL, "%s is not an address with an "
		    "optional @port", req->primary != NULL ? req->primary :
		    "(none)");
		goto out;
	}
	if (req->tsig_name != NULL) {
		if ((rc = xfr_key_init(&x.key, req->tsig_name,
		    req->tsig_algorithm, req->tsig_secret, why,
		    sizeof(why))) < 0) {
			xfr_fail(res, rc, "%s", why);
			goto out;
		}
		x.has_key = 1;
	}
	if ((x.msg = malloc(XFR_MSG_MAX)) == NULL) {
		rc = xfr_fail(res, -ENOMEM, "out of memory");
		goto out;
	}

	if (req->old_zone != NULL && req->old_len > 0) {
		if ((held = xfr_zone_new(x.apex, x.max_bytes)) == NULL) {
			rc = xfr_fail(res, -ENOMEM, "out of memory");
			goto out;
		}
		if (xfr_zone_load(held, req->old_zone, req->old_len, 1, why,
		    sizeof(why)) < 0) {
			rg_log_info("xfr: %s: the zone held does not load "
			    "(%s); AXFR", req->zone, why);
			xfr_zone_free(held);
			held = NULL;
		}
	}
	if (held != NULL) {
		if ((rc = xfr_soa(&x, &serial)) < 0)
			goto out;
		if (serial == xfr_soa_serial(held->soa)) {
			res->serial = serial;
			rc = RG_XFR_UP_TO_DATE;
			goto out;
		}
		/* Only the SOA is read yet: the rest if the reply is IXFR. */
		rc = xfr_transfer(&x, LDNS_RR_TYPE_IXFR, held);
		held = NULL;
		if (rc != XFR_FALLBACK)
			goto out;
		res->error[0] = '\0';
	}
	rc = xfr_transfer(&x, LDNS_RR_TYPE_AXFR, NULL);
	if (rc == XFR_FALLBACK)
		rc = xfr_fail(res, -EBADMSG, "%s: AXFR reply read as IXFR",
		    req->primary);
out:
	xfr_zone_free(held);
	xfr_clear(&x);
	if (rc < 0) {
		free(res->zone);
		res->zone = NULL;
		res->len = 0;
		res->records = 0;
		res->incremental = 0;
		if (res->error[0] == '\0')
			xfr_fail(res, rc, "%s", strerror(-rc));
	}
	return rc;
}

void
rg_xfr_res_clear(struct rg_xfr_res *res)
{
	if (res == NULL)
		return;
	free(res->zone);
	memset(res, 0, sizeof(*res));
}

/* -- NOTIFY --------------------------------------------------------------- */

/* FROM is the address of PRIMARY ("addr@port"); ports do not count. */
static int
notify_from_primary(const struct sockaddr *from, const char *primary)
{
	static const uint8_t mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	struct sockaddr_storage ss;
	uint8_t a[16], b[16];
	socklen_t sl;
	const struct sockaddr *sa[2];
	uint8_t *out[2] = { a, b };
	int i;

	if (from == NULL || primary == NULL ||
	    rg_conf_parse_addr(primary, 53, &ss, &sl) < 0)
		return 0;
	sa[0] = from;
	sa[1] = (const struct sockaddr *)&ss;
	/* Both as IPv6, IPv4 mapped. */
	for (i = 0; i < 2; i++) {
		if (sa[i]->sa_family == AF_INET) {
			memcpy(out[i], mapped, 12);
			memcpy(out[i] + 12, &((const struct sockaddr_in *)
			    (const void *)sa[i])->sin_addr, 4);
		} else if (sa[i]->sa_family == AF_INET6)
			memcpy(out[i], &((const struct sockaddr_in6 *)
			    (const void *)sa[i])->sin6_addr, 16);
		else
			return 0;
	}
	return memcmp(a, b, 16) == 0;
}

static void
notify_from_str(const struct sockaddr *from, char *buf, size_t len)
{
	const void *a = NULL;

	if (from != NULL && from->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)from)->sin_addr;
	else if (from != NULL && from->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)from)->
		    sin6_addr;
	if (a == NULL || inet_ntop(from->sa_family, a, buf, (socklen_t)len) ==
	    NULL)
		snprintf(buf, len, "an unknown address");
}

/* A reply of MSG's header alone: ID and opcode kept, QR set, RCODE. */
static void
notify_reply_header(const uint8_t *msg, ldns_pkt_rcode rcode, uint8_t *out,
    size_t *out_len)
{
	memset(out, 0, LDNS_HEADER_SIZE);
	out[0] = msg[0];
	out[1] = msg[1];
	out[2] = (uint8_t)(0x80 | (msg[2] & 0x78));
	out[3] = (uint8_t)(rcode & 0x0f);
	*out_len = LDNS_HEADER_SIZE;
}

/*
 * The unsigned TSIG record of an error reply to a request signed with TSIG
 * (RFC 8945 5.2): its key and algorithm, no MAC, and ERROR.
 */
static ldns_rr *
notify_tsig_error(const ldns_rr *qtsig, uint16_t orig_id, uint16_t error)
{
	uint8_t none = 0, now48[6], *t;
	uint64_t now = (uint64_t)time(NULL);
	ldns_rdf *rd[7] = { NULL };
	ldns_rr *rr = NULL;
	int i, n = 0;

	ldns_write_uint16(now48, (uint16_t)(now >> 32));
	ldns_write_uint32(now48 + 2, (uint32_t)now);
	rd[0] = ldns_rdf_clone(ldns_rr_rdf(qtsig, 0));
	if ((t = malloc(6)) != NULL) {
		memcpy(t, now48, 6);
		if ((rd[1] = ldns_rdf_new(LDNS_RDF_TYPE_TSIGTIME, 6, t)) ==
		    NULL)
			free(t);
	}
	rd[2] = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, XFR_FUDGE);
	rd[3] = ldns_native2rdf_int16_data(0, &none);
	rd[4] = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, orig_id);
	rd[5] = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, error);
	/* BADTIME tells the client our time. */
	rd[6] = error == TSIG_BADTIME ? ldns_native2rdf_int16_data(6, now48) :
	    ldns_native2rdf_int16_data(0, &none);
	for (i = 0; i < 7; i++)
		if (rd[i] == NULL)
			goto fail;
	if ((rr = ldns_rr_new()) == NULL)
		goto fail;
	ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(qtsig)));
	ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TSIG);
	ldns_rr_set_ttl(rr, 0);
	if (ldns_rr_owner(rr) == NULL)
		goto fail;
	for (n = 0; n < 7; n++)
		if (!ldns_rr_push_rdf(rr, rd[n]))
			goto fail;
	return rr;
fail:
	/* The records pushed go with RR. */
	for (i = n; i < 7; i++)
		ldns_rdf_deep_free(rd[i]);
	ldns_rr_free(rr);
	return NULL;
}

/* The MAC of request Q, or NULL. */
static const ldns_rdf *
notify_qmac(const ldns_pkt *q)
{
	const ldns_rr *tsig = ldns_pkt_tsig(q);

	if (tsig == NULL || ldns_rr_rd_count(tsig) != 7)
		return NULL;
	return ldns_rr_rdf(tsig, 3);
}

/*
 * The reply to Q: its question, RCODE, AA on NOERROR; signed with KEY
 * (after QMAC) or carrying TSIG_ERR (taken).
 */
static int
notify_reply(const ldns_pkt *q, ldns_pkt_rcode rcode,
    const struct xfr_key *key, const ldns_rdf *qmac, ldns_rr *tsig_err,
    uint8_t *out, size_t out_cap, size_t *out_len)
{
	ldns_pkt *r;
	uint8_t *wire = NULL;
	size_t len = 0;
	ldns_rr *qrr;
	int rc = -ENOMEM;

	if ((r = ldns_pkt_new()) == NULL) {
		ldns_rr_free(tsig_err);
		return -ENOMEM;
	}
	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_aa(r, rcode == LDNS_RCODE_NOERROR);
	ldns_pkt_set_opcode(r, LDNS_PACKET_NOTIFY);
	ldns_pkt_set_rcode(r, (uint8_t)rcode);
	if (ldns_pkt_qdcount(q) == 1) {
		if ((qrr = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q),
		    0))) == NULL || !ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION,
		    qrr)) {
			ldns_rr_free(qrr);
			ldns_rr_free(tsig_err);
			goto out;
		}
	}
	if (tsig_err != NULL)
		ldns_pkt_set_tsig(r, tsig_err);
	else if (key != NULL && ldns_pkt_tsig_sign(r, key->name, key->secret,
	    XFR_FUDGE, key->alg, qmac) != LDNS_STATUS_OK)
		goto out;
	if (ldns_pkt2wire(&wire, r, &len) != LDNS_STATUS_OK)
		goto out;
	if (len > out_cap) {
		rc = -ENOSPC;
		goto out;
	}
	memcpy(out, wire, len);
	*out_len = len;
	rc = 0;
out:
	free(wire);
	ldns_pkt_free(r);
	return rc;
}

int
rg_notify_check(const uint8_t *msg, size_t len, const struct sockaddr *from,
    const struct rg_notify_zone *zones, size_t n_zones, uint8_t *out,
    size_t out_cap, size_t *out_len, char *err, size_t err_len)
{
	const struct rg_notify_zone *z = NULL;
	struct xfr_key key;
	ldns_rdf *zname = NULL;
	ldns_pkt *q = NULL;
	ldns_rr *qrr, *tsig, *terr = NULL;
	ldns_pkt_rcode rcode;
	char src[INET6_ADDRSTRLEN], why[200], *qname = NULL;
	size_t i;
	uint16_t e;
	int idx = -1, named = 0, known_src = 0, has_key = 0, rc;

	*out_len = 0;
	if (err_len > 0)
		err[0] = '\0';
	memset(&key, 0, sizeof(key));
	notify_from_str(from, src, sizeof(src));
	if (msg == NULL || len < LDNS_HEADER_SIZE) {
		snprintf(err, err_len, "from %s: %zu bytes, not a DNS message",
		    src, len);
		return -1;
	}
	/* Never answer an answer. */
	if (msg[2] & 0x80) {
		snprintf(err, err_len, "from %s: a response, ignored", src);
		return -1;
	}
	if (out_cap < LDNS_HEADER_SIZE) {
		snprintf(err, err_len, "from %s: no room for a reply", src);
		return -1;
	}
	if (((msg[2] >> 3) & 0x0f) != LDNS_PACKET_NOTIFY) {
		snprintf(err, err_len, "from %s: opcode %u, not NOTIFY", src,
		    (msg[2] >> 3) & 0x0f);
		notify_reply_header(msg, LDNS_RCODE_NOTIMPL, out, out_len);
		return -1;
	}
	if (ldns_wire2pkt(&q, msg, len) != LDNS_STATUS_OK ||
	    ldns_pkt_qdcount(q) != 1 ||
	    (qrr = ldns_rr_list_rr(ldns_pkt_question(q), 0)) == NULL) {
		snprintf(err, err_len, "from %s: a malformed NOTIFY", src);
		notify_reply_header(msg, LDNS_RCODE_FORMERR, out, out_len);
		goto out;
	}
	qname = ldns_rdf2str(ldns_rr_owner(qrr));
	if (ldns_rr_get_type(qrr) != LDNS_RR_TYPE_SOA ||
	    ldns_rr_get_class(qrr) != LDNS_RR_CLASS_IN) {
		snprintf(err, err_len, "from %s: NOTIFY for %s type %u class "
		    "%u, not SOA IN", src, qname != NULL ? qname : "?",
		    (unsigned)ldns_rr_get_type(qrr),
		    (unsigned)ldns_rr_get_class(qrr));
		rcode = LDNS_RCODE_NOTIMPL;
		goto reply;
	}
	for (i = 0; i < n_zones; i++) {
		if (notify_from_primary(from, zones[i].primary))
			known_src = 1;
		ldns_rdf_deep_free(zname);
		if (zones[i].zone == NULL || (zname =
		    ldns_dname_new_frm_str(zones[i].zone)) == NULL ||
		    ldns_dname_compare(zname, ldns_rr_owner(qrr)) != 0)
			continue;
		named = 1;
		if (z == NULL && notify_from_primary(from, zones[i].primary)) {
			z = &zones[i];
			idx = (int)i;
		}
	}
	/*
	 * A zone we do not transfer: NOTAUTH ("not authoritative for the
	 * zone", as Knot answers) to one of our primaries, which may have a
	 * stale list of secondaries; REFUSED to anyone else, who learns
	 * nothing of the zones we hold.  A zone we hold from another primary:
	 * REFUSED.
	 */
	if (z == NULL) {
		snprintf(err, err_len, "from %s: NOTIFY for %s: %s", src,
		    qname != NULL ? qname : "?", named ? "not from its primary" :
		    "not a zone of ours");
		rcode = !named && known_src ? LDNS_RCODE_NOTAUTH :
		    LDNS_RCODE_REFUSED;
		goto reply;
	}
	tsig = ldns_pkt_tsig(q);
	if (z->tsig_name != NULL) {
		if ((rc = xfr_key_init(&key, z->tsig_name, z->tsig_algorithm,
		    z->tsig_secret, why, sizeof(why))) < 0) {
			snprintf(err, err_len, "from %s: NOTIFY for %s: %s",
			    src, qname != NULL ? qname : "?", why);
			idx = -1;
			rcode = LDNS_RCODE_SERVFAIL;
			goto reply;
		}
		has_key = 1;
	}
	if (tsig == NULL && !has_key) {
		rcode = LDNS_RCODE_NOERROR;
		goto reply;
	}
	idx = -1;
	rcode = LDNS_RCODE_NOTAUTH;
	if (tsig == NULL) {
		snprintf(err, err_len, "from %s: NOTIFY for %s is not signed",
		    src, qname != NULL ? qname : "?");
		goto reply;
	}
	/* RFC 8945 5.2: a key we do not know is BADKEY. */
	if (!has_key) {
		snprintf(err, err_len, "from %s: NOTIFY for %s is signed, "
		    "but we hold no key for it", src, qname != NULL ? qname :
		    "?");
		e = TSIG_BADKEY;
	} else if ((e = xfr_tsig_check(&key, tsig, why, sizeof(why))) ==
	    TSIG_BADKEY)
		snprintf(err, err_len, "from %s: NOTIFY for %s: %s", src,
		    qname != NULL ? qname : "?", why);
	else if (xfr_tsig_verify(&key, q, msg, len, NULL, 0) < 0) {
		snprintf(err, err_len, "from %s: NOTIFY for %s: TSIG does "
		    "not verify with key %s", src, qname != NULL ? qname : "?",
		    key.name);
		e = TSIG_BADSIG;
	} else if (e != 0) {
		snprintf(err, err_len, "from %s: NOTIFY for %s: %s", src,
		    qname != NULL ? qname : "?", why);
		/* An error the client set itself is not ours to echo. */
		if (e != TSIG_BADTIME)
			e = TSIG_BADSIG;
	} else {
		idx = (int)(z - zones);
		rcode = LDNS_RCODE_NOERROR;
		goto reply;
	}
	/* Without a TSIG record to say why, the RCODE alone. */
	if (ldns_rr_rd_count(tsig) == 7 &&
	    ldns_rdf_size(ldns_rr_rdf(tsig, 4)) == 2)
		terr = notify_tsig_error(tsig,
		    ldns_rdf2native_int16(ldns_rr_rdf(tsig, 4)), e);
reply:
	rc = notify_reply(q, rcode, rcode == LDNS_RCODE_NOERROR && has_key ?
	    &key : NULL, notify_qmac(q), terr, out, out_cap, out_len);
	terr = NULL;
	if (rc < 0) {
		*out_len = 0;
		if (err_len > 0 && (err[0] == '\0' || idx >= 0))
			snprintf(err, err_len, "from %s: NOTIFY for %s: no "
			    "reply (%s)", src, qname != NULL ? qname : "?",
			    strerror(-rc));
	}
out:
	ldns_rr_free(terr);
	ldns_rdf_deep_free(zname);
	ldns_pkt_free(q);
	xfr_key_clear(&key);
	free(qname);
	return idx;
}

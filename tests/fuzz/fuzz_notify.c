/*
 * fuzz_notify.c -- libFuzzer target: messages on the NOTIFY listener, as
 * anyone may send them, judged by rg_notify_check().
 *
 * Byte 0 of the input picks the sender (low three bits: one of the zones'
 * primaries, a v4-mapped one, strangers, an address of another family, no
 * address) and whether the message is signed here first (bit 3: when the
 * rest parses, its TSIG is replaced by one with the key of rpz.test.); the
 * rest is the message.  Checked on every input: the index is -1 or a zone's,
 * the error is a string within its buffer, the reply fits and answers the
 * message (its ID, QR set), nothing answers a response or a runt; a zone
 * chosen is the one the question names, from its primary, and its reply
 * (unless too large for the buffer) says NOERROR with AA; a NOTIFY for
 * rpz.test. signed here from its primary is accepted, and its reply
 * verifies with the request's MAC.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "xfr.h"

/* An invariant broken: a finding, reported like a crash. */
#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

/* A secret for this target only. */
#define FUZZ_KEY	"fuzz-key."
#define FUZZ_SECRET	"ZnV6ei1rZXktZm9yLXRoZS1ub3RpZnktdGFyZ2V0LW9ubHk="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct rg_notify_zone zones[] = {
	{ "open", "open.test.", "127.0.0.1@5300", NULL, NULL, NULL },
	{ "rpz", "rpz.test.", "192.0.2.53", FUZZ_KEY, "hmac-sha256",
	    FUZZ_SECRET },
	{ "six", "six.test.", "2001:db8::53@53", FUZZ_KEY, "hmac-sha1",
	    FUZZ_SECRET },
	{ "unsupported", "bad.test.", "127.0.0.1", FUZZ_KEY, "hmac-sha384",
	    FUZZ_SECRET },
};
#define N_ZONES	(sizeof(zones) / sizeof(zones[0]))

static const char *const senders[8] = {
	"127.0.0.1", "::ffff:127.0.0.1", "192.0.2.53", "2001:db8::53",
	"198.51.100.7", "::1", "unix", NULL
};

/* The sender SEL as a socket address in SS, or NULL. */
static const struct sockaddr *
sender(unsigned sel, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	const char *a = senders[sel & 7];

	memset(ss, 0, sizeof(*ss));
	if (a == NULL)
		return NULL;
	if (inet_pton(AF_INET, a, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(5353);
	} else if (inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(5353);
	} else
		ss->ss_family = AF_UNIX;
	return (const struct sockaddr *)ss;
}

/* Does sender SEL send for zone I? */
static int
from_primary(unsigned sel, size_t i)
{
	switch (sel & 7) {
	case 0:
	case 1:
		return i == 0 || i == 3;
	case 2:
		return i == 1;
	case 3:
		return i == 2;
	default:
		return 0;
	}
}

/* MSG re-signed with the key of rpz.test. into *OUT; its MAC in *MAC. */
static size_t
resign(const uint8_t *msg, size_t len, uint8_t **out, ldns_rdf **mac)
{
	ldns_pkt *p = NULL;
	size_t n = 0;

	*out = NULL;
	*mac = NULL;
	if (ldns_wire2pkt(&p, msg, len) != LDNS_STATUS_OK)
		return 0;
	ldns_rr_free(ldns_pkt_tsig(p));
	ldns_pkt_set_tsig(p, NULL);
	if (ldns_pkt_tsig_sign(p, FUZZ_KEY, FUZZ_SECRET, 300, "hmac-sha256.",
	    NULL) != LDNS_STATUS_OK ||
	    ldns_pkt2wire(out, p, &n) != LDNS_STATUS_OK ||
	    (*mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(p), 3))) ==
	    NULL) {
		free(*out);
		*out = NULL;
		n = 0;
	}
	ldns_pkt_free(p);
	return n;
}

/* MSG is a NOTIFY request for SOA IN of ZONE. */
static int
is_notify_for(const uint8_t *msg, size_t len, const char *zone)
{
	ldns_pkt *p = NULL;
	ldns_rdf *z;
	const ldns_rr *q;
	int yes = 0;

	if (ldns_wire2pkt(&p, msg, len) != LDNS_STATUS_OK)
		return 0;
	if ((z = ldns_dname_new_frm_str(zone)) != NULL && !ldns_pkt_qr(p) &&
	    ldns_pkt_get_opcode(p) == LDNS_PACKET_NOTIFY &&
	    ldns_pkt_qdcount(p) == 1 &&
	    (q = ldns_rr_list_rr(ldns_pkt_question(p), 0)) != NULL &&
	    ldns_rr_get_type(q) == LDNS_RR_TYPE_SOA &&
	    ldns_rr_get_class(q) == LDNS_RR_CLASS_IN &&
	    ldns_dname_compare(ldns_rr_owner(q), z) == 0)
		yes = 1;
	ldns_rdf_deep_free(z);
	ldns_pkt_free(p);
	return yes;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	const struct sockaddr *from;
	const uint8_t *msg;
	uint8_t *signed_msg = NULL, *copy = NULL, out[512];
	ldns_rdf *mac = NULL;
	ldns_pkt *reply = NULL;
	char err[200];
	size_t len, out_len = 12345;
	unsigned sel;
	int idx;

	if (size < 1)
		return 0;
	sel = data[0];
	msg = data + 1;
	len = size - 1;
	if ((sel & 8) && (len = resign(msg, len, &signed_msg, &mac)) > 0)
		msg = signed_msg;
	else
		len = size - 1;
	/* An exact-size copy, so that a read past the message is caught. */
	if ((copy = malloc(len ? len : 1)) == NULL)
		goto out;
	memcpy(copy, msg, len);
	from = sender(sel, &ss);
	memset(err, 'x', sizeof(err));
	idx = rg_notify_check(copy, len, from, zones, N_ZONES, out,
	    sizeof(out), &out_len, err, sizeof(err));

	CHECK(idx >= -1 && idx < (int)N_ZONES);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	CHECK(out_len <= sizeof(out));
	if (len < 12 || (copy[2] & 0x80))
		CHECK(out_len == 0 && idx == -1);
	if (out_len > 0) {
		CHECK(out_len >= 12);
		CHECK(out[0] == copy[0] && out[1] == copy[1]);
		CHECK(out[2] & 0x80);
		CHECK(ldns_wire2pkt(&reply, out, out_len) == LDNS_STATUS_OK);
	}
	if (idx >= 0) {
		CHECK(is_notify_for(copy, len, zones[idx].zone));
		CHECK(from_primary(sel, (size_t)idx));
		/* No reply only when it does not fit, and then it says so. */
		CHECK(out_len > 0 || err[0] != '\0');
		if (out_len > 0) {
			CHECK(ldns_pkt_get_rcode(reply) ==
			    LDNS_RCODE_NOERROR);
			CHECK(ldns_pkt_aa(reply));
			CHECK(ldns_pkt_get_opcode(reply) ==
			    LDNS_PACKET_NOTIFY);
			CHECK(err[0] == '\0');
		}
	} else if (out_len > 0)
		CHECK(ldns_pkt_get_rcode(reply) != LDNS_RCODE_NOERROR);
	if (mac != NULL && (sel & 7) == 2 && is_notify_for(copy, len,
	    "rpz.test.")) {
		CHECK(idx == 1);
		CHECK(reply != NULL && ldns_pkt_tsig(reply) != NULL);
		CHECK(ldns_pkt_tsig_verify(reply, out, out_len, FUZZ_KEY,
		    FUZZ_SECRET, mac));
	}
out:
	ldns_pkt_free(reply);
	ldns_rdf_deep_free(mac);
	free(signed_msg);
	free(copy);
	return 0;
}

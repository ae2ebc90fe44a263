/*
 * probe.h -- health-check queries: built and judged with ldns.
 *
 * A probe is a real DNS query.  rg_probe_build() makes the query message
 * (random ID, RD set, EDNS(0) with DO for the DNSSEC checks),
 * rg_probe_match() tells whether a packet is the reply to it (anything else
 * is ignored and the wait goes on), and rg_probe_judge() says whether the
 * reply passes.  Pure functions: no I/O, so unit tests feed them crafted
 * packets.
 */
#ifndef RG_PROBE_H
#define RG_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* Probe failures; the order is the table's, the last member counts them. */
#define RG_PROBE_ERRORS(X)						\
	X(OK,			"ok")					\
	X(TIMEOUT,		"timeout")				\
	X(NETWORK,		"network error")			\
	X(TLS_HANDSHAKE,	"TLS handshake failed")			\
	X(TLS_VERIFY,		"certificate verification failed")	\
	X(TLS_PIN,		"SPKI pin mismatch")			\
	X(MALFORMED,		"malformed reply")			\
	X(TRUNCATED,		"truncated reply")			\
	X(SERVFAIL,		"SERVFAIL")				\
	X(REFUSED,		"REFUSED")				\
	X(RCODE,		"unexpected rcode")			\
	X(WRONG_ANSWER,		"wrong answer")				\
	X(NXDOMAIN_REWRITE,	"NXDOMAIN rewritten")			\
	X(DNSSEC_NO_AD,		"signed name not validated")		\
	X(DNSSEC_BOGUS_ACCEPTED, "bogus name not rejected")		\
	X(SLOW,			"latency over limit")			\
	X(CANCELLED,		"cancelled")

enum rg_probe_err {
#define X(n, s) RG_PROBE_##n,
	RG_PROBE_ERRORS(X)
#undef X
	RG_PROBE_ERR_COUNT
};

/** Fixed text of an error ("timeout", "SERVFAIL", ...). */
const char *rg_probe_err_str(enum rg_probe_err err);

/**
 * 1 when ERR is a failed quality check (the upstream answers, but wrongly or
 * slowly: "degraded"), 0 when it means the upstream failed ("down").
 */
int rg_probe_err_is_quality(enum rg_probe_err err);

/** What a probe checks. */
enum rg_probe_kind {
	RG_PROBE_BASIC,		/**< health.probe: any NOERROR/NXDOMAIN answer */
	RG_PROBE_EXPECT,	/**< checks.expect: answer among the accepted */
	RG_PROBE_NXDOMAIN,	/**< random label under checks.nxdomain-zone */
	RG_PROBE_DNSSEC_SIGNED,	/**< checks.dnssec.signed: NOERROR with AD */
	RG_PROBE_DNSSEC_BOGUS,	/**< checks.dnssec.bogus: SERVFAIL */
	RG_PROBE_KIND_COUNT
};
extern const char *const rg_probe_kind_str[];

/** One query in flight. */
struct rg_probe_query {
	enum rg_probe_kind kind;
	uint16_t id;			/**< random */
	uint16_t qtype;
	char qname[256];		/**< presentation form, fully qualified */
	uint8_t *wire;			/**< the query message */
	size_t wire_len;
	const struct rg_conf_checks *checks;	/**< for RG_PROBE_EXPECT */
};

/**
 * Build a query of KIND for NAME/TYPE (for RG_PROBE_NXDOMAIN, NAME is the
 * zone and a random label is put in front).  CHECKS must outlive Q.
 * Returns 0 or a negative errno code (-EINVAL for a bad name).
 */
int rg_probe_build(struct rg_probe_query *q, enum rg_probe_kind kind,
    const char *name, uint16_t type, const struct rg_conf_checks *checks);

/** Release what rg_probe_build() allocated. */
void rg_probe_clear(struct rg_probe_query *q);

/**
 * 1 when PKT parses as a response (QR set) with Q's ID and Q's question
 * (name compared case-insensitively, type and class); 0 otherwise.
 */
int rg_probe_match(const struct rg_probe_query *q, const uint8_t *pkt,
    size_t len);

/**
 * Judge a reply that rg_probe_match() accepted.  Returns RG_PROBE_OK or the
 * reason it fails; a human-readable detail ("rcode SERVFAIL", "got
 * 192.0.2.9, expected 192.0.2.1") goes into DETAIL when not NULL.
 */
enum rg_probe_err rg_probe_judge(const struct rg_probe_query *q,
    const uint8_t *pkt, size_t len, char *detail, size_t detail_len);

/** Fill BUF with LEN random bytes from the system CSPRNG. */
void rg_random_bytes(void *buf, size_t len);

#endif

/*
 * xfr.h -- RPZ feeds by zone transfer, and NOTIFY from their primary.
 *
 * rg_xfr() brings a zone up to date from its primary, blocking (the feeds
 * part runs it in libuv's thread pool), bounded in time and size: first
 * the primary's SOA serial; when it is the one we hold, nothing to do;
 * otherwise IXFR from our serial when we hold the zone (RFC 1995; a reply
 * that is a full zone, or a refused IXFR, is taken as AXFR), else AXFR
 * (RFC 5936), over TCP.  When the request names a TSIG key every message
 * is signed and every reply must verify (RFC 8945); a reply that does not
 * is an error.  The result is the whole zone as a master file, the
 * document the "rpz" format parses; a transfer that fails half-way leaves
 * nothing.
 *
 * rg_notify_check() judges a NOTIFY message (RFC 1996) received on the
 * notify listener and writes the reply to send back.
 */
#ifndef RG_XFR_H
#define RG_XFR_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

struct rg_xfr_req {
	const char *zone;		/**< "rpz.example." */
	const char *primary;		/**< "addr@port" (port default 53) */
	const char *tsig_name;		/**< key name, or NULL: no TSIG */
	const char *tsig_algorithm;	/**< "hmac-sha256" (default), ...;
					     hmac-sha224 and hmac-sha384 are
					     not in ldns 1.8: -ENOTSUP */
	const char *tsig_secret;	/**< base64 */
	uint32_t timeout_ms;		/**< the whole transfer (0: 30 s) */
	uint64_t max_bytes;		/**< largest zone accepted (text;
					     0: 64 MiB) */
	const char *old_zone;		/**< the zone we hold (master file
					     text from an earlier rg_xfr), or
					     NULL */
	size_t old_len;
};

enum rg_xfr_status {
	RG_XFR_NEW = 0,			/**< ZONE is the new zone */
	RG_XFR_UP_TO_DATE = 1,		/**< same serial as OLD_ZONE */
};

struct rg_xfr_res {
	char *zone;			/**< malloc'ed master file text,
					     NUL-terminated */
	size_t len;
	uint32_t serial;		/**< of the zone now held */
	int incremental;		/**< it came by IXFR */
	uint64_t records;		/**< in ZONE (0 when up to date) */
	char error[512];
};

/**
 * Bring REQ's zone up to date into RES (zeroed by the caller).  Returns
 * RG_XFR_NEW, RG_XFR_UP_TO_DATE, or a negative errno code with RES->error
 * set (-ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EBADMSG for a malformed
 * reply, -EACCES for a TSIG failure, a reply left unsigned or a refused
 * transfer, -EFBIG, -EINVAL or -ENOTSUP for the request itself).
 */
int rg_xfr(const struct rg_xfr_req *req, struct rg_xfr_res *res);

void rg_xfr_res_clear(struct rg_xfr_res *res);

/** A zone a NOTIFY may be for: its feed, name, primary and key. */
struct rg_notify_zone {
	const char *feed;
	const char *zone;		/**< "rpz.example." */
	const char *primary;		/**< "addr@port": NOTIFY must come from
					     this address (any port) */
	const char *tsig_name;		/**< NULL: no TSIG required */
	const char *tsig_algorithm;
	const char *tsig_secret;
};

/**
 * Judge the message MSG (LEN bytes) received from FROM against ZONES.
 * Writes the reply in OUT (OUT_CAP bytes, at least 512) and its length in
 * *OUT_LEN (0: send nothing, MSG was not worth an answer).  Returns the
 * index of the zone to transfer now (a good NOTIFY for it), or -1 (the
 * reply then says why: FORMERR, NOTAUTH, REFUSED, NOTIMP), with one line
 * in ERR for the log.  An unknown zone is NOTAUTH to a primary of ours,
 * REFUSED to any other sender; a known zone from another address is
 * REFUSED; a missing or bad TSIG is NOTAUTH, with the TSIG error (BADKEY,
 * BADSIG, BADTIME) in an unsigned TSIG record when the NOTIFY had one.
 * Knot sends NOTIFY over TCP: MSG may come from either transport.
 */
int rg_notify_check(const uint8_t *msg, size_t len,
    const struct sockaddr *from, const struct rg_notify_zone *zones,
    size_t n_zones, uint8_t *out, size_t out_cap, size_t *out_len,
    char *err, size_t err_len);

#endif

/*
 * feedutil.h -- what the feed formats have in common: handing rules over
 * and counting them, describing what was skipped, domain names (in
 * punycode or in Unicode), address prefixes, the host of a URL and TLP
 * levels.
 *
 * Compiled into each feed plugin that uses it (a plugin calls nothing in
 * the agent); the plugins export rg_plugin alone, so two plugins loaded
 * into one process never see each other's copy.
 */
#ifndef RG_FEEDUTIL_H
#define RG_FEEDUTIL_H

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

#include "../plugin.h"

/** Longest name in presentation form, without its final dot. */
#define RG_NAME_MAX		253
/** Room for a prefix from rg_prefix_norm(), "/128" and NUL included. */
#define RG_PREFIX_MAX		(INET6_ADDRSTRLEN + 4)

/** rg_name_norm(): the last label may be all digits. */
#define RG_NAME_NUMERIC		0x01

/** Where a parse hands its rules over and says what went wrong. */
struct rg_feed_out {
	rg_feed_emit_cb *emit;		/**< NULL: rules are counted only */
	void *arg;			/**< for emit */
	struct rg_feed_stats *st;	/**< the counts */
	char *msg;			/**< the error line, or NULL */
	size_t msglen;
	long emitted;			/**< rules taken so far */
};

/** Set O up for one parse, with MSG emptied. */
void rg_feed_out_init(struct rg_feed_out *o, rg_feed_emit_cb *emit,
    void *arg, struct rg_feed_stats *st, char *msg, size_t msglen);

/**
 * Hand rule R over and count it.  0, or the negative code of the callback
 * (R not counted; the caller says why in the message).
 */
int rg_feed_emit(struct rg_feed_out *o, const struct rg_feed_rule *r);

/**
 * Write the error line to MSG (LEN bytes; none when NULL), control bytes
 * and bytes above ASCII replaced with '?'.
 */
void rg_feed_say(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Count an entry that could not be used in *COUNTER (one of ST's) and,
 * when it is the first, describe it in ST->first_skip, as rg_feed_say()
 * writes.
 */
void rg_feed_skip(struct rg_feed_stats *st, uint64_t *counter,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Whether C may be in a label: a lowercase letter, a digit, '-', '_'. */
int rg_name_char(unsigned char c);

/**
 * Domain name S (N bytes) lowercased into OUT (RG_NAME_MAX + 1 bytes),
 * without its final dot.  Hostname-like names only: letters, digits, '-'
 * and '_', labels of 1 to 63 bytes, and the last label not all digits
 * (that is an address) unless FLAGS has RG_NAME_NUMERIC.  A name in UTF-8
 * is converted to punycode A-labels first (IDNA2008 with the UTS #46
 * mapping, non-transitional, else transitional), then checked the same
 * way; an ASCII name is taken as it is.  0, or -EINVAL with *WHY saying
 * what is wrong (for a name in UTF-8, libidn2's reason, in storage of the
 * calling thread that the next call overwrites).
 */
int rg_name_norm(const char *s, size_t n, int flags, char *out,
    const char **why);

/**
 * Address or CIDR prefix S (N bytes) of family AF (AF_UNSPEC: either) in
 * canonical form into OUT (RG_PREFIX_MAX bytes), host bits cleared and
 * "/32" or "/128" dropped.  0, or -EINVAL with *WHY.
 */
int rg_prefix_norm(const char *s, size_t n, int af, char *out,
    const char **why);

/**
 * The host of URL S (N bytes) into *HOST and *HLEN, without userinfo,
 * port or brackets; *BRACKETED for "[v6]".  A URL without a scheme is
 * taken as "host[:port]/path"; one with a scheme but no "//" ("mailto:")
 * has no host.  0, or -EINVAL with *WHY.
 */
int rg_url_host(const char *s, size_t n, const char **host, size_t *hlen,
    int *bracketed, const char **why);

/**
 * Host H (N bytes) of a URL, BRACKETED or not, as a rule: an IP rule for
 * an address, a QNAME rule for a name (in punycode or in Unicode, as
 * rg_name_norm() takes it), in *TRIGGER, its text into OUT (RG_NAME_MAX +
 * 1 bytes).  0, or -EINVAL with *WHY.
 */
int rg_host_rule(const char *h, size_t n, int bracketed,
    enum rg_feed_trigger *trigger, char *out, const char **why);

/** TLP levels, least restrictive first: the highest of several wins. */
enum rg_tlp {
	RG_TLP_NONE = -1,
	RG_TLP_CLEAR,
	RG_TLP_GREEN,
	RG_TLP_AMBER,
	RG_TLP_AMBER_STRICT,
	RG_TLP_RED,
	RG_TLP_COUNT
};

/** The word of level T for rg_feed_rule.tlp ("amber+strict"), or NULL. */
const char *rg_tlp_str(enum rg_tlp t);

/** A level, TLP 1.0 or 2.0, any case, "TLP:" optional; or RG_TLP_NONE. */
enum rg_tlp rg_tlp_level(const char *s);

/** A tag "tlp:LEVEL", TLP 1.0 or 2.0, any case; or RG_TLP_NONE. */
enum rg_tlp rg_tlp_tag(const char *s);

/**
 * Hand over the rule of an indicator with the feed's policy: TRIGGER and
 * its TEXT, indicator ID, level TLP.  0, or the callback's negative code
 * with the error line in O->msg.
 */
int rg_feed_policy(struct rg_feed_out *o, enum rg_feed_trigger trigger,
    const char *text, const char *id, enum rg_tlp tlp);

#endif

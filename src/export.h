/*
 * export.h -- the merged blocklist as a Response Policy Zone.
 *
 * "resguardctl feeds export --rpz" hands the rules of every feed, with the
 * allowlist applied, to any resolver that enforces RPZ (Unbound's rpz:
 * clause, BIND's response-policy, Knot Resolver, PowerDNS Recursor): a
 * complete master file with owners relative to the zone, built from one
 * snapshot.  What RPZ cannot say is left out and counted in the header.
 */
#ifndef RG_EXPORT_H
#define RG_EXPORT_H

#include <stddef.h>
#include <stdint.h>

struct rg_blocklist;
struct rg_conf;

/** The zone an export is for unless told otherwise. */
#define RG_EXPORT_ZONE	"resguard.rpz."

/** What an export came to. */
struct rg_export_stats {
	size_t rules;		/**< policy rules (triggers) in the zone */
	size_t names;		/**< exact name triggers */
	size_t wildcards;	/**< "*." triggers of the blocklist */
	size_t ips;		/**< rpz-ip triggers */
	size_t allowlist;	/**< rpz-passthru. rules of policy.allowlist */
	size_t refused;		/**< REFUSED rules written as NXDOMAIN */
	size_t log_only;	/**< left out: RPZ has no log-only action */
	size_t allowlisted;	/**< left out: at or below an allowlisted
				     name */
	size_t shadowed;	/**< left out: response-IP rules inside a
				     shorter prefix of an earlier feed */
	size_t unusable;	/**< left out, a comment in the zone says why */
	uint64_t digest;	/**< of the rules (not the header): equal
				     digests, the same policy */
};

/**
 * The rules of BL (NULL: none) as an RPZ master file for ZONE ("a.b." or
 * "a.b"; not the root) with SOA serial SERIAL, applying CONF's allowlist
 * and sinkhole addresses (CONF may be NULL: neither).  On success *OUT is
 * the NUL-terminated text (free(3) it), *LEN its length, and ST (may be
 * NULL) the counts.  Returns 0, -EINVAL for a bad ZONE or -ENOMEM, with a
 * one-line message in ERR.
 */
int rg_export_rpz_zone(const struct rg_blocklist *bl,
    const struct rg_conf *conf, const char *zone, uint32_t serial,
    char **out, size_t *len, struct rg_export_stats *st, char *err,
    size_t err_len);

/**
 * The serial of the next zone after one with serial LAST: the time in
 * seconds, or LAST + 1 when that is not more (two zones in one second, a
 * clock set back), as a secondary takes a zone only when its serial grew.
 */
uint32_t rg_export_serial(uint32_t last);

/**
 * A copy of the settings of C that an export reads (the feeds' names, the
 * allowlist, the sinkhole addresses), for a thread that may outlive a
 * reload; NULL when out of memory.  Free it with rg_export_conf_free().
 */
struct rg_conf *rg_export_conf_dup(const struct rg_conf *c);
void rg_export_conf_free(struct rg_conf *c);

/**
 * rg_export_rpz_zone() with the current time as the serial: the text, its
 * length in *LEN, or NULL with errno set.
 */
char *rg_export_rpz(const struct rg_blocklist *bl, const struct rg_conf *conf,
    const char *zone, size_t *len);

#endif
